"""The walk-in dialog, driven by keyboard and mouse against the test database.

The clock is Monday 4 January 2027 10:07 at Centro: Maria is booked 08:00, João
(checked in) 09:00 on the only ultrasound; the 10:00 booking was cancelled.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from reception_app.services import scheduling
from reception_app.services.dayview import BranchSummary
from reception_app.ui.runner import Runner
from reception_app.ui.walk_in_dialog import WalkInDialog

from .conftest import DAY, Booked, at

NOW_HERE = at(10, 7)


def _dialog(qtbot, booked: Booked, runner: Runner, centro: BranchSummary, now=NOW_HERE) -> WalkInDialog:
    dialog = WalkInDialog(booked.db, runner, branch=centro, clock=lambda: now, search_delay_ms=0)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.preview_shown, timeout=10_000):
        dialog.show()
    qtbot.waitUntil(lambda: dialog.doctor_combo.count() > 1, timeout=10_000)
    return dialog


def test_find_the_patient_see_the_start_and_book_and_check_in(qtbot, booked: Booked, runner: Runner,
                                                                centro: BranchSummary):
    dialog = _dialog(qtbot, booked, runner, centro)
    assert dialog.selected_service().name == "Abdominal ultrasound"
    # 10:07 + 30 min: booked 10:00-10:45 (the cancelled 10:00 left everything free).
    assert dialog.start_label.text().startswith("<b>10:00–10:45</b> today with Ana Souza, Imaging 1")
    assert not dialog.book_button.isEnabled()  # no patient yet
    with qtbot.waitSignal(dialog.picker.patients_listed, timeout=10_000):
        qtbot.keyClicks(dialog.picker.search_edit, "ana clra")  # a typo
    assert dialog.picker.patient is not None and dialog.picker.patient.id == booked.ana_clara
    assert dialog.book_button.isEnabled()
    with qtbot.waitSignal(dialog.appointment_booked, timeout=10_000) as done:
        qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
    appt = done.args[0]
    assert (appt.start, appt.end, appt.status, appt.source) == (at(10), at(10, 45), "checked_in", "walk_in")
    assert appt.patient_id == booked.ana_clara and not dialog.isVisible()


def test_a_chosen_doctor_changes_the_start_and_enter_books(qtbot, booked: Booked, runner: Runner,
                                                           centro: BranchSummary):
    dialog = _dialog(qtbot, booked, runner, centro)
    names = [dialog.doctor_combo.itemText(i) for i in range(dialog.doctor_combo.count())]
    assert names == ["First free doctor", "Ana Souza", "Bruno Lima"]
    with qtbot.waitSignal(dialog.preview_shown, timeout=10_000) as shown:
        dialog.doctor_combo.setCurrentIndex(2)
    assert shown.args[0].start == at(10) and shown.args[0].resources["doctor"] == "Bruno Lima"
    with qtbot.waitSignal(dialog.picker.patients_listed, timeout=10_000):
        qtbot.keyClicks(dialog.picker.search_edit, "27 99999-0001")
    assert dialog.picker.patient.id == booked.maria
    with qtbot.assertNotEmitted(dialog.appointment_booked), \
            qtbot.waitSignal(dialog.picker.patients_listed, timeout=10_000):
        qtbot.keyClick(dialog.picker.search_edit, Qt.Key.Key_Return)  # Enter in the search only searches
    with qtbot.waitSignal(dialog.appointment_booked, timeout=10_000) as done:
        assert dialog.book_button.isEnabled() and dialog.book_button.isDefault()
        qtbot.keyClick(dialog, Qt.Key.Key_Return)  # Enter elsewhere: "Book and check in"
    assert done.args[0].resources["doctor"] == "Bruno Lima"


def test_nothing_free_today_says_so_and_cannot_book(qtbot, booked: Booked, runner: Runner, centro: BranchSummary):
    dialog = _dialog(qtbot, booked, runner, centro, now=at(11, 40))
    assert dialog.preview is None
    assert dialog.start_label.text() == "No doctor is free for Abdominal ultrasound before closing today (Centro)."
    with qtbot.waitSignal(dialog.picker.patients_listed, timeout=10_000):
        qtbot.keyClicks(dialog.picker.search_edit, "maria")
    assert not dialog.book_button.isEnabled()


def test_a_new_patient_is_added_and_chosen(qtbot, booked: Booked, runner: Runner, centro: BranchSummary):
    dialog = _dialog(qtbot, booked, runner, centro)
    qtbot.keyClicks(dialog.picker.search_edit, "Rui")
    qtbot.mouseClick(dialog.picker.new_button, Qt.MouseButton.LeftButton)
    assert dialog.picker.new_edits["name"].text() == "Rui"
    qtbot.keyClicks(dialog.picker.new_edits["name"], " Costa")
    assert dialog.picker.new_edits["birth_date"].placeholderText() == "DD/MM/YYYY"
    qtbot.keyClicks(dialog.picker.new_edits["birth_date"], "07/07/1977")   # as the branch writes dates
    qtbot.waitUntil(lambda: dialog.picker.add_button.height() > 0)  # laid out, so a click lands on it
    with qtbot.waitSignal(dialog.picker.patient_added, timeout=10_000) as added:
        qtbot.mouseClick(dialog.picker.add_button, Qt.MouseButton.LeftButton)
    assert added.args[0].name == "Rui Costa" and dialog.picker.patient == added.args[0]
    assert dialog.book_button.isEnabled()
    # The same details again: the likely duplicate is offered first (the same panel as in the booking
    # dialog: one patient picker everywhere); "Use this patient" chooses it and writes nothing.
    qtbot.mouseClick(dialog.picker.new_button, Qt.MouseButton.LeftButton)
    for field, value in (("name", "Rui Costa"), ("birth_date", "1977-07-07")):
        dialog.picker.new_edits[field].setText(value)
    dialog.picker.add_button.setFocus()
    with qtbot.waitSignal(dialog.picker.duplicates_listed, timeout=10_000) as listed, \
            qtbot.assertNotEmitted(dialog.picker.patient_added):
        qtbot.keyClick(dialog.picker.add_button, Qt.Key.Key_Space)
    assert listed.args == [1] and dialog.picker.duplicate_panel.isVisible()
    assert dialog.picker.duplicate_list.item(0).text().startswith("Rui Costa, born 07/07/1977")
    qtbot.waitUntil(dialog.picker.use_existing_button.hasFocus)  # Space now takes the registered one
    with qtbot.waitSignal(dialog.picker.existing_patient_used, timeout=10_000) as used:
        qtbot.keyClick(dialog.picker.use_existing_button, Qt.Key.Key_Space)
    assert used.args[0].id == added.args[0].id and dialog.picker.patient.id == added.args[0].id
    assert not dialog.picker.new_form.isVisible() and dialog.book_button.isEnabled()
    assert scheduling.list_appointments(booked.db, branch="Centro", local_date=DAY)  # nothing else changed
