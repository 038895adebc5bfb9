"""The booking dialog, driven like a receptionist would, against the test database."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt
from sqlalchemy import text

from reception_app.services import clinic_config, scheduling
from reception_app.services.dayview import BranchSummary, GridResource
from reception_app.store.database import Database
from reception_app.ui.booking_dialog import NEXT_FREE_DAYS, BookingDialog
from reception_app.ui.runner import Runner

from .conftest import DAY, NOW, Booked, at


def _dialog(qtbot, db: Database, runner: Runner, branch: BranchSummary, **kwargs) -> BookingDialog:
    dialog = BookingDialog(db, runner, branch=branch, local_date=DAY, clock=lambda: NOW, search_delay_ms=0,
                           **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.service_combo.count() > 0)
    return dialog


def _choose_service(qtbot, dialog: BookingDialog, name: str) -> None:
    index = next(i for i, s in enumerate(dialog.services) if s.name == name)
    if dialog.service_combo.currentIndex() == index:
        return
    with qtbot.waitSignal(dialog.slots_listed):
        dialog.service_combo.setCurrentIndex(index)


def _find_patient(qtbot, dialog: BookingDialog, query: str) -> None:
    with qtbot.waitSignal(dialog.patients_listed):
        qtbot.keyClicks(dialog.search_edit, query)
    dialog.patient_list.setCurrentRow(0)
    # the free starts are listed again for the patient chosen (their own appointments left out)
    qtbot.waitUntil(lambda: dialog.offers_for_patient == dialog.patient.id, timeout=10_000)


def _count(db: Database, sql: str) -> int:
    return db.read(lambda c: c.execute(text(sql)).scalar())


def test_find_patient_pick_service_and_slot_then_book(qtbot, booked: Booked, runner: Runner,
                                                       centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    _find_patient(qtbot, dialog, "joao")  # accents and case do not matter
    assert dialog.patient is not None and dialog.patient.id == booked.joao
    assert "João Pereira" in dialog.patient_label.text()
    _choose_service(qtbot, dialog, "Abdominal ultrasound")
    qtbot.waitUntil(lambda: dialog.slot_tree.topLevelItemCount() > 0)
    assert dialog.local_date == DAY
    # Free starts in local time with their resources: 08:00 and 09:00 are taken (the only ultrasound).
    times = [dialog.slot_tree.topLevelItem(i).text(0)[:5] for i in range(dialog.slot_tree.topLevelItemCount())]
    assert "08:00" not in times and "09:00" not in times and "10:00" in times  # the 10:00 booking was cancelled
    row = times.index("10:00")
    item = dialog.slot_tree.topLevelItem(row)
    assert item.text(0) == "10:00–10:30"
    assert item.text(1).startswith("Ana Souza") and item.text(2).startswith("Imaging 1")
    assert item.text(3) == "Ultrasound A"
    assert not dialog.book_button.isEnabled()
    dialog.slot_tree.setCurrentItem(item)
    assert dialog.book_button.isEnabled()

    with qtbot.waitSignal(dialog.appointment_booked, timeout=10_000) as blocker:
        qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
    booked_view = blocker.args[0]
    assert booked_view.start == at(10)
    assert not dialog.isVisible()  # closed on success
    day = scheduling.list_appointments(booked.db, branch="Centro", local_date=DAY)
    mine = next(a for a in day if a.id == booked_view.id)
    assert (mine.patient_id, mine.service, mine.status) == (booked.joao, "Abdominal ultrasound", "confirmed")
    assert mine.resources == {"doctor": "Ana Souza", "room": "Imaging 1", "equipment": "Ultrasound A"}


def test_new_patient_with_an_invalid_phone_shows_the_field_error_and_writes_nothing(
        qtbot, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    before = _count(booked.db, "SELECT count(*) FROM patient")
    qtbot.mouseClick(dialog.new_patient_button, Qt.MouseButton.LeftButton)
    assert dialog.new_patient_form.isVisible()
    dialog.name_edit.setText("Lúcia Ramos")  # QTest types ASCII only
    qtbot.keyClicks(dialog.birth_edit, "1990-02-03")
    qtbot.keyClicks(dialog.phone_edit, "12-not-a-phone")
    with qtbot.assertNotEmitted(dialog.patient_added):
        qtbot.mouseClick(dialog.add_patient_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.field_errors["phone"].isVisible())
    assert dialog.field_errors["phone"].text().startswith("Phone is not")
    assert not dialog.field_errors["name"].isVisible()
    assert dialog.patient is None
    assert _count(booked.db, "SELECT count(*) FROM patient") == before

    # Fixing the phone adds the patient and chooses them.
    dialog.phone_edit.setText("+5527999990042")
    with qtbot.waitSignal(dialog.patient_added) as blocker:
        qtbot.mouseClick(dialog.add_patient_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].name == "Lúcia Ramos" and blocker.args[0].phone == "+5527999990042"
    assert dialog.patient == blocker.args[0]
    assert not dialog.field_errors["phone"].isVisible() and not dialog.new_patient_form.isVisible()
    assert _count(booked.db, "SELECT count(*) FROM patient") == before + 1


def test_a_slot_taken_meanwhile_shows_the_message_and_refreshes_the_list(
        qtbot, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    _find_patient(qtbot, dialog, "Maria")
    _choose_service(qtbot, dialog, "Abdominal ultrasound")
    qtbot.waitUntil(lambda: dialog.slot_tree.topLevelItemCount() > 0)
    dialog.slot_tree.setCurrentItem(dialog.slot_tree.topLevelItem(0))
    offer = dialog.selected_offer()
    assert offer is not None

    # Another workstation books the same start (the only ultrasound) before we click Book.
    scheduling.book(booked.db, branch="Centro", service="Abdominal ultrasound", start=offer.start,
                    patient_id=booked.ana_clara, now=NOW)

    with (qtbot.assertNotEmitted(dialog.appointment_booked), qtbot.assertNotEmitted(runner.crashed),
          qtbot.waitSignal(dialog.slots_listed, timeout=10_000)):
        qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
    message = dialog.message_label.text()
    assert dialog.message_label.isVisible() and dialog.isVisible()
    assert "Ana Souza has Ana Clara Souza (Abdominal ultrasound) 09:45–10:15." in message and "refreshed" in message and "Traceback" not in message
    assert all(o.start != offer.start for o in dialog.offers)
    assert dialog.selected_offer() is None and not dialog.book_button.isEnabled()
    mine = [a for a in scheduling.list_appointments(booked.db, branch="Centro", local_date=DAY)
            if a.patient_id == booked.maria]
    assert [a.start for a in mine] == [booked.first.start]  # nothing new for Maria


def test_pinned_resource_limits_the_slots_to_it(qtbot, booked: Booked, runner: Runner,
                                                centro: BranchSummary) -> None:
    bruno = GridResource(id=0, name="Bruno Lima", kind="doctor", category="radiology")
    dialog = _dialog(qtbot, booked.db, runner, centro, pin=bruno)
    assert dialog.selected_service().name == "Abdominal ultrasound"  # the first service Bruno can do
    qtbot.waitUntil(lambda: dialog.slot_tree.topLevelItemCount() > 0)
    assert {o.resources["doctor"] for o in dialog.offers} == {"Bruno Lima"}
    assert "Bruno Lima" in dialog.pin_label.text()


def test_a_day_without_free_time_says_so(qtbot, booked: Booked, runner: Runner,
                                         centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    _choose_service(qtbot, dialog, "Abdominal ultrasound")
    qtbot.waitUntil(lambda: dialog.slot_tree.topLevelItemCount() > 0)
    with qtbot.waitSignal(dialog.slots_listed) as blocker:
        dialog.date_edit.setDate(dialog.date_edit.date().addDays(-1))  # Sunday: closed
    assert blocker.args == [0]
    assert dialog.slot_status.text().startswith("No free time")


SATURDAY = DAY - timedelta(days=2)  # 2027-01-02: Centro is closed


def test_a_closed_day_offers_the_next_free_day_and_its_button_shows_it(
        qtbot, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    _choose_service(qtbot, dialog, "Abdominal ultrasound")
    with qtbot.waitSignal(dialog.next_free_listed, timeout=10_000) as blocker:
        dialog.date_edit.setDate(dialog.date_edit.date().addDays(-2))
    assert dialog.local_date == SATURDAY and dialog.offers == []
    # Monday's first free start: 08:00 and 09:00 are booked on the only ultrasound (10 min buffer after).
    assert blocker.args[0].start == at(9, 45)
    assert dialog.slot_status.text() == "No free time on Saturday 2 January. Next free: Monday 4 January 09:45"
    button = dialog.next_free_button
    assert button.isVisible() and button.text() == "Show Monday 4 January"
    assert button.accessibleName() == "Show Monday 4 January"
    assert button.focusPolicy() & Qt.FocusPolicy.TabFocus
    assert dialog.next_free_date == DAY

    with qtbot.waitSignal(dialog.slots_listed, timeout=10_000) as listed:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert dialog.local_date == DAY and listed.args[0] > 0
    assert dialog.offers[0].start == at(9, 45)
    assert dialog.slot_status.text().startswith(f"{listed.args[0]} free starts on Monday 4 January")
    assert not button.isVisible() and dialog.next_free_date is None


def test_the_next_free_button_works_from_the_keyboard(qtbot, booked: Booked, runner: Runner,
                                                      centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    _choose_service(qtbot, dialog, "Abdominal ultrasound")
    with qtbot.waitSignal(dialog.next_free_listed, timeout=10_000):
        dialog.date_edit.setDate(dialog.date_edit.date().addDays(-2))
    # Tab reaches the button from the day picker (it sits in the focus chain after it).
    chain, widget = [], dialog.date_edit.nextInFocusChain()
    while widget is not dialog.date_edit and len(chain) < 100:
        chain.append(widget)
        widget = widget.nextInFocusChain()
    assert dialog.next_free_button in chain
    with qtbot.waitSignal(dialog.slots_listed, timeout=10_000):
        qtbot.keyClick(dialog.next_free_button, Qt.Key.Key_Space)
    assert dialog.local_date == DAY and dialog.offers


def test_nothing_free_in_the_next_days_says_so(qtbot, clinic_db: Database, runner: Runner,
                                               centro: BranchSummary) -> None:
    clinic_config.apply(clinic_db, {
        "doctor": [{"name": "Davi Rocha", "specialty": "dermatology"}],  # no shifts at all
        "service": [{"name": "Skin check", "duration": 15, "needs": {"doctor": "dermatology"}}],
    })
    dialog = _dialog(qtbot, clinic_db, runner, centro)
    with (qtbot.waitSignal(dialog.next_free_listed, timeout=10_000) as blocker,
          qtbot.assertNotEmitted(runner.crashed)):
        _choose_service(qtbot, dialog, "Skin check")
    assert blocker.args == [None]
    assert dialog.slot_status.text() == (f"No free time on Monday 4 January. "
                                         f"No free time in the next {NEXT_FREE_DAYS} days.")
    assert not dialog.next_free_button.isVisible() and not dialog.message_label.isVisible()


def test_a_next_free_answer_for_a_day_no_longer_shown_is_dropped(qtbot, booked: Booked, runner: Runner,
                                                                 centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    _choose_service(qtbot, dialog, "Abdominal ultrasound")
    with qtbot.waitSignal(dialog.slots_listed, timeout=10_000):
        dialog.date_edit.setDate(dialog.date_edit.date().addDays(-2))  # Saturday: the next-free search starts
    with qtbot.assertNotEmitted(dialog.next_free_listed):
        with qtbot.waitSignal(dialog.slots_listed, timeout=10_000) as listed:
            dialog.date_edit.setDate(dialog.date_edit.date().addDays(2))  # back to Monday before it answers
        qtbot.waitUntil(lambda: not runner.busy, timeout=10_000)
    assert listed.args[0] > 0 and dialog.slot_status.text().startswith(f"{listed.args[0]} free starts")
    assert not dialog.next_free_button.isVisible() and dialog.next_free_date is None


def _fill_new_patient(qtbot, dialog: BookingDialog, name: str, born: str, phone: str = "") -> None:
    qtbot.mouseClick(dialog.new_patient_button, Qt.MouseButton.LeftButton)
    assert dialog.new_patient_form.isVisible()
    qtbot.keyClicks(dialog.name_edit, name)
    qtbot.keyClicks(dialog.birth_edit, born)
    if phone:
        qtbot.keyClicks(dialog.phone_edit, phone)


def test_a_likely_duplicate_is_shown_and_use_this_patient_chooses_it_without_writing(
        qtbot, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    before = _count(booked.db, "SELECT count(*) FROM patient")
    _fill_new_patient(qtbot, dialog, "Maria Silva", "1980-05-17")
    with qtbot.assertNotEmitted(dialog.patient_added), qtbot.waitSignal(dialog.duplicates_listed) as blocker:
        qtbot.mouseClick(dialog.add_patient_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [1]
    assert dialog.duplicate_panel.isVisible() and dialog.duplicate_list.count() == 1
    assert dialog.duplicate_list.item(0).text() == ("Maria Silva, born 17/05/1980, +55 27 99999-0001"
                                                    " — already registered")
    assert dialog.patient is None
    for widget in (dialog.duplicate_panel, dialog.duplicate_list, dialog.use_existing_button,
                   dialog.add_anyway_button):
        assert widget.accessibleName()
    # Keyboard: the warning takes the focus to "Use this patient"; Tab reaches "Add anyway".
    qtbot.waitUntil(lambda: dialog.use_existing_button.hasFocus())
    assert dialog.add_anyway_button.focusPolicy() & Qt.FocusPolicy.TabFocus
    qtbot.waitUntil(lambda: not runner.busy)
    assert _count(booked.db, "SELECT count(*) FROM patient") == before

    with qtbot.assertNotEmitted(dialog.patient_added), qtbot.waitSignal(dialog.existing_patient_used) as used:
        qtbot.keyClick(dialog.use_existing_button, Qt.Key.Key_Space)
    assert used.args[0].id == booked.maria
    assert dialog.patient is not None and dialog.patient.id == booked.maria
    assert "Maria Silva" in dialog.patient_label.text()
    assert not dialog.new_patient_form.isVisible() and not dialog.duplicate_panel.isVisible()
    assert dialog.name_edit.text() == ""
    qtbot.waitUntil(lambda: not runner.busy)
    assert _count(booked.db, "SELECT count(*) FROM patient") == before


def test_add_anyway_adds_a_second_patient_with_the_same_details(
        qtbot, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    before = _count(booked.db, "SELECT count(*) FROM patient")
    _fill_new_patient(qtbot, dialog, "maria  silva", "1980-05-17")
    with qtbot.waitSignal(dialog.duplicates_listed) as blocker:
        qtbot.mouseClick(dialog.add_patient_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [1] and dialog.duplicate_panel.isVisible()

    qtbot.waitUntil(lambda: dialog.add_anyway_button.height() > 0)  # laid out, so a click lands on it
    with qtbot.waitSignal(dialog.patient_added) as added:
        qtbot.mouseClick(dialog.add_anyway_button, Qt.MouseButton.LeftButton)
    new = added.args[0]
    assert new.id != booked.maria and new.name == "maria silva"
    assert dialog.patient == new
    assert not dialog.new_patient_form.isVisible() and not dialog.duplicate_panel.isVisible()
    qtbot.waitUntil(lambda: dialog.add_patient_button.isEnabled())
    assert _count(booked.db, "SELECT count(*) FROM patient") == before + 1


def test_a_same_phone_in_another_format_is_a_likely_duplicate_and_editing_hides_the_warning(
        qtbot, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    _fill_new_patient(qtbot, dialog, "Pedro Silva", "2010-03-04", "+55 27 99999-0001")
    with qtbot.waitSignal(dialog.duplicates_listed) as blocker:
        qtbot.mouseClick(dialog.add_patient_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [1]
    assert dialog.duplicate_list.item(0).data(Qt.ItemDataRole.UserRole).id == booked.maria
    qtbot.keyClicks(dialog.phone_edit, "9")  # the details changed: the warning no longer applies
    assert not dialog.duplicate_panel.isVisible()
    qtbot.waitUntil(lambda: dialog.add_patient_button.isEnabled())


def test_a_new_patient_without_a_likely_duplicate_is_added_directly(
        qtbot, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    before = _count(booked.db, "SELECT count(*) FROM patient")
    _fill_new_patient(qtbot, dialog, "Maria Silva", "1980-05-18")  # another birth date
    with qtbot.waitSignal(dialog.duplicates_listed) as listed, qtbot.waitSignal(dialog.patient_added) as added:
        qtbot.mouseClick(dialog.add_patient_button, Qt.MouseButton.LeftButton)
    assert listed.args == [0] and added.args[0].id != booked.maria
    assert not dialog.duplicate_panel.isVisible()
    qtbot.waitUntil(lambda: dialog.add_patient_button.isEnabled())
    assert _count(booked.db, "SELECT count(*) FROM patient") == before + 1


# -- the patient search (the shared patient picker) -------------------------------------------
def test_the_patient_search_by_keyboard_enter_searches_and_down_picks(qtbot, booked: Booked, runner: Runner,
                                                                     centro: BranchSummary) -> None:
    from reception_app.services import patients

    patients.add_patient(booked.db, name="Maria Souza", birth_date="1990-01-02")
    dialog = _dialog(qtbot, booked.db, runner, centro)
    assert dialog.search_edit.hasFocus() and dialog.picker.search_edit is dialog.search_edit
    dialog.search_edit.setText("maria")
    with qtbot.waitSignal(dialog.patients_listed) as listed, qtbot.assertNotEmitted(dialog.appointment_booked):
        qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Return)  # searches now; never the Book button
    assert listed.args == [2]
    assert dialog.patient is None  # of several, nobody is chosen for the receptionist
    assert "No patient chosen" in dialog.patient_label.text()
    assert not dialog.message_label.isVisible()  # Enter did not reach Book ("Choose the patient first")
    qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Down)  # into the results: the first is chosen
    assert dialog.patient_list.hasFocus() and dialog.patient is not None
    first = dialog.patient
    qtbot.keyClick(dialog.patient_list, Qt.Key.Key_Down)
    assert dialog.patient is not None and dialog.patient.id != first.id
    assert {first.name, dialog.patient.name} == {"Maria Silva", "Maria Souza"}
    assert dialog.patient.name in dialog.patient_label.text()


def test_one_patient_found_is_chosen_at_once(qtbot, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    with qtbot.waitSignal(dialog.patients_listed):
        qtbot.keyClicks(dialog.search_edit, "pereira")
    assert dialog.patient is not None and dialog.patient.id == booked.joao
    with qtbot.waitSignal(dialog.patients_listed) as listed:  # a search that does not find them any more
        dialog.search_edit.setText("nobody like this")
        dialog.search_now()
    assert listed.args == [0] and dialog.patient is None
    assert dialog.patient_list.item(0).text().startswith("No patient found")


# -- a patient is in one place at a time (issue 14, section 2) ---------------------------------
def _skin_check(db: Database) -> None:
    """A second doctor at Centro whose service needs no room or equipment: free while Maria's
    ultrasound (08:00–08:30) runs, so only Maria's own appointment stands in the way."""
    clinic_config.apply(db, {
        "doctor": [{"name": "Davi Rocha", "specialty": "dermatology",
                    "shifts": [{"branch": "Centro", "days": ["mon"], "hours": ["08:00-12:00"]}]}],
        "service": [{"name": "Skin check", "duration": 15, "min_notice": 0, "needs": {"doctor": "dermatology"}}],
    })


def _times(dialog: BookingDialog) -> list[str]:
    return [dialog.slot_tree.topLevelItem(i).text(0)[:5] for i in range(dialog.slot_tree.topLevelItemCount())]


def test_the_patients_own_appointments_leave_out_overlapping_starts_and_say_why(
        qtbot, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    _skin_check(booked.db)
    dialog = _dialog(qtbot, booked.db, runner, centro)
    _choose_service(qtbot, dialog, "Skin check")
    qtbot.waitUntil(lambda: dialog.slot_tree.topLevelItemCount() > 0)
    assert {"08:00", "08:15", "08:30"} <= set(_times(dialog))  # nobody chosen: every free start
    assert not dialog.patient_day_label.isVisible()
    with qtbot.waitSignal(dialog.patient_day_listed) as day, qtbot.waitSignal(dialog.slots_listed):
        _find_patient(qtbot, dialog, "maria")
    assert [a.id for a in day.args[0]] == [booked.first.id]
    times = _times(dialog)
    assert "08:00" not in times and "08:15" not in times and "08:30" in times  # [start, end) overlaps
    assert dialog.patient_day_label.isVisible()
    assert dialog.patient_day_label.text() == ("Maria Silva already has Abdominal ultrasound 08:00–08:30 with "
                                               "Ana Souza; overlapping starts are not offered.")
    # Another patient (João, checked in for 09:00): Maria's starts come back, João's 09:00 goes.
    with qtbot.waitSignal(dialog.patient_day_listed) as day, qtbot.waitSignal(dialog.slots_listed):
        dialog.set_patient(next(p for p in _all_patients(booked) if p.id == booked.joao))
    assert [a.id for a in day.args[0]] == [booked.second.id]
    times = _times(dialog)
    assert "08:00" in times and "08:15" in times and "09:00" not in times and "09:30" in times
    assert dialog.patient_day_label.text().startswith("João Pereira already has Abdominal ultrasound 09:00–09:30")
    # Ana Clara's only appointment was cancelled: nothing in the way, no line.
    with qtbot.waitSignal(dialog.patient_day_listed) as day:
        dialog.set_patient(next(p for p in _all_patients(booked) if p.id == booked.ana_clara))
    assert day.args == [[]] and not dialog.patient_day_label.isVisible()


def _all_patients(booked: Booked):
    from reception_app.services import patients

    return [patients.get_patient(booked.db, i) for i in (booked.maria, booked.joao, booked.ana_clara)]


def test_an_overlap_booked_meanwhile_elsewhere_is_refused_in_plain_words(
        qtbot, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    _skin_check(booked.db)
    dialog = _dialog(qtbot, booked.db, runner, centro)
    _choose_service(qtbot, dialog, "Skin check")
    _find_patient(qtbot, dialog, "maria")
    qtbot.waitUntil(lambda: "10:00" in _times(dialog))
    dialog.slot_tree.setCurrentItem(dialog.slot_tree.topLevelItem(_times(dialog).index("10:00")))
    # Another desk books Maria's ultrasound at 10:00 meanwhile.
    scheduling.book(booked.db, branch="Centro", service="Abdominal ultrasound", start=at(10),
                    patient_id=booked.maria, now=NOW)
    with qtbot.waitSignal(dialog.slot_taken, timeout=10_000) as taken, \
            qtbot.assertNotEmitted(dialog.appointment_booked):
        qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
    assert taken.args[0].startswith("Maria Silva already has Abdominal ultrasound at Mon 04/01/2027 10:00–10:30")
    assert dialog.isVisible() and dialog.message_label.isVisible()
    assert "a patient cannot be in two places at once" in dialog.message_label.text()
    assert "Nothing was booked" in dialog.message_label.text()
    qtbot.waitUntil(lambda: "10:00" not in _times(dialog) and dialog.patient_day_label.isVisible()
                    and "Abdominal ultrasound 10:00–10:30" in dialog.patient_day_label.text(), timeout=10_000)
    day = scheduling.list_appointments(booked.db, branch="Centro", local_date=DAY)
    assert not [a for a in day if a.service == "Skin check"]


# -- issue 16 §5: who "(+1 more)" is, a note for the desk, and an upcoming booking of the same service --
def test_the_receptionist_chooses_who_plus_one_more_stands_for_and_leaves_a_desk_note(
        qtbot, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    dialog = _dialog(qtbot, booked.db, runner, centro)
    _find_patient(qtbot, dialog, "joao")
    _choose_service(qtbot, dialog, "Abdominal ultrasound")
    qtbot.waitUntil(lambda: "10:00" in [dialog.slot_tree.topLevelItem(i).text(0)[:5]
                                        for i in range(dialog.slot_tree.topLevelItemCount())], timeout=10_000)
    times = [dialog.slot_tree.topLevelItem(i).text(0)[:5] for i in range(dialog.slot_tree.topLevelItemCount())]
    item = dialog.slot_tree.topLevelItem(times.index("10:00"))
    assert item.text(1) == "Ana Souza  (+1 more)"
    dialog.slot_tree.setCurrentItem(item)
    doctors = dialog.choice_combos["doctor"]
    assert not doctors.isHidden() and [doctors.itemText(i) for i in range(doctors.count())] == ["Ana Souza",
                                                                                                "Bruno Lima"]
    assert doctors.currentText() == "Ana Souza" and dialog.choice_combos["equipment"].isHidden()  # one machine
    doctors.setCurrentIndex(1)
    qtbot.keyClicks(dialog.note_edit, "Bring last year's report")
    with qtbot.waitSignal(dialog.appointment_booked, timeout=10_000) as booked_signal:
        qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
    view = booked_signal.args[0]
    assert view.resources["doctor"] == "Bruno Lima" and view.desk_note == "Bring last year's report"
    saved = scheduling.get_appointment(booked.db, view.id)
    assert saved.resources["doctor"] == "Bruno Lima" and saved.desk_note == "Bring last year's report"


def test_an_upcoming_appointment_of_the_same_service_is_pointed_out(qtbot, booked: Booked, runner: Runner,
                                                                     centro: BranchSummary) -> None:
    later = scheduling.book(booked.db, branch="Centro", service="Abdominal ultrasound", start=at(9) + timedelta(days=7),
                            patient_id=booked.maria, now=NOW)
    dialog = _dialog(qtbot, booked.db, runner, centro)
    _find_patient(qtbot, dialog, "maria")
    _choose_service(qtbot, dialog, "Abdominal ultrasound")
    qtbot.waitUntil(lambda: "already booked for Abdominal ultrasound" in dialog.patient_day_label.text(),
                    timeout=10_000)
    assert dialog.patient_day_label.isVisible()
    text = dialog.patient_day_label.text()
    assert "Maria Silva already has Abdominal ultrasound 08:00–08:30" in text          # that day
    assert "Maria Silva is already booked for Abdominal ultrasound on Mon 11/01/2027 at 09:00." in text
    assert later.id
