"""Patient search and record dialogs, driven by keyboard and mouse against the test database."""

from __future__ import annotations

from PySide6.QtCore import Qt

from reception_app.services import patients
from reception_app.ui.patient_dialog import PatientRecordDialog, PatientSearchDialog
from reception_app.ui.runner import Runner

from .conftest import NOW, Booked


def _search(qtbot, booked: Booked, runner: Runner, query: str = "") -> PatientSearchDialog:
    dialog = PatientSearchDialog(booked.db, runner, query=query, clock=lambda: NOW, search_delay_ms=0)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_a_prefilled_letter_searches_at_once_and_typing_narrows_with_typos(qtbot, booked: Booked,
                                                                             runner: Runner):
    dialog = PatientSearchDialog(booked.db, runner, query="m", clock=lambda: NOW, search_delay_ms=0)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.patients_listed, timeout=10_000) as listed:
        dialog.show()
    assert listed.args == [1] and dialog.results()[0].name == "Maria Silva"
    assert dialog.search_edit.text() == "m" and dialog.search_edit.hasFocus()
    dialog.search_edit.clear()
    with qtbot.waitSignal(dialog.patients_listed, timeout=10_000):
        qtbot.keyClicks(dialog.search_edit, "joao perera")  # no accent, a letter missing
    assert [p.id for p in dialog.results()] == [booked.joao]
    assert dialog.result_list.item(0).text() == "João Pereira — born 02/11/1975 — joao@example.com"


def test_phone_and_birth_date_searches(qtbot, booked: Booked, runner: Runner):
    dialog = _search(qtbot, booked, runner)
    with qtbot.waitSignal(dialog.patients_listed, timeout=10_000):
        qtbot.keyClicks(dialog.search_edit, "(27) 99999-0001")
    assert [p.id for p in dialog.results()] == [booked.maria]
    dialog.search_edit.clear()
    with qtbot.waitSignal(dialog.patients_listed, timeout=10_000):
        qtbot.keyClicks(dialog.search_edit, "30/01/2001")
    assert [p.id for p in dialog.results()] == [booked.ana_clara]


def test_enter_opens_the_record_and_book_for_this_patient(qtbot, booked: Booked, runner: Runner):
    dialog = _search(qtbot, booked, runner)
    with qtbot.waitSignal(dialog.patients_listed, timeout=10_000):
        qtbot.keyClicks(dialog.search_edit, "maria")
    with qtbot.waitSignal(dialog.record_opened) as opened:
        qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Return)
    record: PatientRecordDialog = opened.args[0]
    qtbot.waitUntil(lambda: record.record is not None, timeout=10_000)
    assert record.edits["name"].text() == "Maria Silva" and record.edits["phone"].text() == "+55 27 99999-0001"  # shown internationally from a British-format branch
    assert record.channel_boxes["sms"].isChecked() and not record.channel_boxes["email"].isChecked()
    upcoming = record.upcoming_item
    assert upcoming.text(0) == "Upcoming (1)" and upcoming.child(0).text(1) == "08:00–08:30"
    assert upcoming.child(0).text(0) == "Mon 04/01/2027" and upcoming.child(0).text(4) == "Confirmed"
    with qtbot.waitSignal(dialog.book_requested) as asked:
        qtbot.mouseClick(record.book_button, Qt.MouseButton.LeftButton)
    assert asked.args[0].id == booked.maria
    assert not record.isVisible() and not dialog.isVisible()


def test_down_then_enter_opens_the_second_result(qtbot, booked: Booked, runner: Runner):
    patients.add_patient(booked.db, name="Mariana Souza", birth_date="1999-09-09")
    dialog = _search(qtbot, booked, runner)
    with qtbot.waitSignal(dialog.patients_listed, timeout=10_000):
        qtbot.keyClicks(dialog.search_edit, "mari")
    assert len(dialog.results()) == 2
    qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Down)
    assert dialog.result_list.hasFocus()
    qtbot.keyClick(dialog.result_list, Qt.Key.Key_Down)
    with qtbot.waitSignal(dialog.record_opened) as opened:
        qtbot.keyClick(dialog.result_list, Qt.Key.Key_Return)
    assert opened.args[0]._patient_id == dialog.results()[1].id


def _record(qtbot, booked: Booked, runner: Runner, patient_id: int) -> PatientRecordDialog:
    dialog = PatientRecordDialog(booked.db, runner, patient_id=patient_id, clock=lambda: NOW)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.record_loaded, timeout=10_000):
        dialog.show()
    return dialog


def test_editing_contact_details_saves_and_a_bad_value_shows_its_field_error(qtbot, booked: Booked,
                                                                              runner: Runner):
    dialog = _record(qtbot, booked, runner, booked.joao)
    assert dialog.past_item.text(0) == "Past (0)"
    assert all(w.accessibleName() for w in (*dialog.edits.values(), *dialog.channel_boxes.values()))
    assert not dialog.save_button.isEnabled()
    dialog.edits["phone"].clear()
    qtbot.keyClicks(dialog.edits["phone"], "12-not-a-phone")
    assert dialog.save_button.isEnabled()
    with qtbot.assertNotEmitted(dialog.patient_updated):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.field_errors["phone"].isVisible(), timeout=10_000)
    assert dialog.field_errors["phone"].text().startswith("Phone: is not")
    assert patients.get_patient(booked.db, booked.joao).phone is None

    dialog.edits["phone"].clear()
    qtbot.keyClicks(dialog.edits["phone"], "+55 27 98888-1234")
    dialog.channel_boxes["whatsapp"].setFocus()
    qtbot.keyClick(dialog.channel_boxes["whatsapp"], Qt.Key.Key_Space)
    with qtbot.waitSignal(dialog.patient_updated, timeout=10_000) as saved:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    p = saved.args[0]
    assert (p.phone, set(p.channels)) == ("+5527988881234", {"email", "whatsapp"})
    assert dialog.edits["phone"].text() == "+55 27 98888-1234" and dialog.save_message.text() == "Saved."
    assert not dialog.field_errors["phone"].isVisible()
    assert patients.get_patient(booked.db, booked.joao) == p


def test_a_consent_without_its_contact_is_refused(qtbot, booked: Booked, runner: Runner):
    dialog = _record(qtbot, booked, runner, booked.ana_clara)
    assert dialog.past_item.text(0) == "Past (0)"  # a cancelled appointment of a day to come is not past
    assert dialog.cancelled_item.text(0) == "Cancelled, still to come (1)"
    assert dialog.cancelled_item.child(0).text(4) == "Cancelled"
    dialog.channel_boxes["sms"].setChecked(True)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.field_errors["channels"].isVisible(), timeout=10_000)
    assert "needs a phone number" in dialog.field_errors["channels"].text()
