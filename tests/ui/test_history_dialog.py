"""The "History" view of an appointment (its context menu) and of a patient record, by role.

Managers and admins are offered it and see who changed what, when (the zone is
named) and why; reception is not offered it, and a refusal that still comes
back from the database is said in plain words.
"""

from __future__ import annotations

from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QMenu

from reception_app.services import patients, scheduling
from reception_app.ui.history_dialog import NOT_ALLOWED_TEXT, HistoryDialog
from reception_app.ui.patient_dialog import PatientRecordDialog

from .conftest import NOW, Booked, make_window, select_block

#: The offscreen platform's notes when a context menu pops up (as in test_appointment_actions).
popup_notes = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise|grabbing the keyboard)")


def _window(qtbot, db, runner, login: str, role: str):
    w = make_window(qtbot, db, runner, session=SimpleNamespace(login=login, role=role, doctor_resource_id=None,
                                                               doctor_name=None))
    with qtbot.waitSignal(w.day_loaded, timeout=10_000):
        w.show()
    return w


def _tree_lines(dialog: HistoryDialog) -> list[str]:
    """Each change row as "when | who | what | reason", each field change indented under it."""
    out = []
    for i in range(dialog.tree.topLevelItemCount()):
        item = dialog.tree.topLevelItem(i)
        out.append(" | ".join(item.text(c) for c in range(4)))
        out += [f"    {item.child(j).text(2)}" for j in range(item.childCount())]
    return out


@popup_notes
def test_a_manager_opens_an_appointments_history_from_its_context_menu(qtbot, booked: Booked, runner, login):
    desk_login, desk = login("reception")
    scheduling.cancel(desk, booked.first.id, reason="patient travelling", now=NOW)
    name, db = login("manager")
    w = _window(qtbot, db, runner, name, "manager")
    w.reload_day()
    qtbot.waitUntil(lambda: not runner.busy, timeout=10_000)
    # The cancelled block leaves the grid: look at João's (checked in) and, by id, at Maria's.
    select_block(w, booked.second)
    assert w.appointment_history_action.isVisible() and w.appointment_history_action.isEnabled()
    with qtbot.waitSignal(w.appointment_menu_opened) as opened:
        w.grid.appointment_menu_requested.emit(booked.second, QPoint(10, 10))
    menu: QMenu = opened.args[0]
    assert w.appointment_history_action in menu.actions()
    menu.close()
    with qtbot.waitSignal(w.dialog_opened) as shown:
        w.appointment_history_action.trigger()
    dialog = shown.args[0]
    assert isinstance(dialog, HistoryDialog)
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() > 0, timeout=10_000)
    assert dialog.windowTitle() == "History — João Pereira, Abdominal ultrasound Mon 04/01/2027 09:00"
    assert "branch-local time (Centro, America/Sao_Paulo)" in dialog.intro_label.text()
    lines = _tree_lines(dialog)
    assert lines[0].split(" | ")[2:] == ["Appointment created", "booked"]  # what, and the reason recorded
    assert any("Appointment checked in" in line for line in lines)
    assert any(line.strip() == "Status: Confirmed → Checked in" for line in lines)
    assert any(line.strip().startswith("Start: Mon 04/01/2027 09:00") for line in lines)  # branch-local
    assert not any("{" in line or "updated_at" in line for line in lines)  # words, not JSON rows
    dialog.close()

    # Maria's cancelled appointment: who cancelled it, when and why.
    maria = HistoryDialog(db, runner, table="appointment", row_id=booked.first.id, about="Maria Silva",
                          tz=ZoneInfo("America/Sao_Paulo"), zone_text="branch-local time (Centro)")
    qtbot.addWidget(maria)
    with qtbot.waitSignal(maria.history_loaded, timeout=10_000) as loaded:
        maria.show()
    cancelled = [e for e in loaded.args[0] if e.what == "Appointment cancelled"]
    assert [(e.db_user, e.reason) for e in cancelled] == [(desk_login, "cancelled: patient travelling")]
    assert any(f"| {desk_login} | Appointment cancelled | cancelled: patient travelling" in line
               for line in _tree_lines(maria))


@popup_notes
def test_reception_is_not_offered_history_and_a_refusal_is_said_in_plain_words(qtbot, booked: Booked, runner,
                                                                               login):
    name, db = login("reception")
    w = _window(qtbot, db, runner, name, "reception")
    select_block(w, booked.second)
    assert not w.appointment_history_action.isVisible()
    assert w.open_appointment_history() is None
    with qtbot.waitSignal(w.appointment_menu_opened) as opened:
        w.grid.appointment_menu_requested.emit(booked.second, QPoint(10, 10))
    assert w.appointment_history_action not in opened.args[0].actions()
    opened.args[0].close()
    record = w.open_patient(booked.joao)
    assert record is not None and not record.history_button.isVisible()
    record.close()
    # Asked anyway (an older client, a stale role): the database refuses, the dialog says so plainly.
    dialog = HistoryDialog(db, runner, table="appointment", row_id=booked.second.id, about="João Pereira",
                           tz=ZoneInfo("America/Sao_Paulo"), zone_text="branch-local time (Centro)")
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.history_failed, timeout=10_000) as failed:
        dialog.show()
    assert failed.args == [NOT_ALLOWED_TEXT] and dialog.status_label.text() == NOT_ALLOWED_TEXT
    assert "42501" not in dialog.status_label.text() and dialog.tree.topLevelItemCount() == 0


def test_a_patient_records_history_button_shows_edits_and_consent_in_workstation_time(qtbot, booked: Booked,
                                                                                      runner, login):
    desk_login, desk = login("reception")
    patients.update_patient(desk, booked.maria, email="maria@example.com", channels=["sms", "email"],
                            reason="asked at the desk")
    _, boss = login("admin")
    record = PatientRecordDialog(boss, runner, patient_id=booked.maria, show_history=True)
    qtbot.addWidget(record)
    with qtbot.waitSignal(record.record_loaded, timeout=10_000):
        record.show()
    assert record.history_button.isVisible()
    with qtbot.waitSignal(record.history_opened) as opened:
        record.history_button.click()
    dialog: HistoryDialog = opened.args[0]
    with qtbot.waitSignal(dialog.history_loaded, timeout=10_000) as loaded:
        pass
    assert dialog.windowTitle() == "History — Maria Silva"
    assert "workstation-local time (" in dialog.intro_label.text()
    entries = loaded.args[0]
    edited = [e for e in entries if e.table == "patient" and e.action == "UPDATE"]  # 0009's patient triggers
    assert [(e.db_user, e.reason) for e in edited] == [(desk_login, "asked at the desk")]
    assert [c.describe() for c in edited[0].changes] == ["E-mail: maria@example.com"]
    consent = [e.what for e in entries if e.table == "consent_event" and e.db_user == desk_login]
    assert consent == ["Consent to e-mail messages given"]
    lines = _tree_lines(dialog)
    assert any(line.strip() == "E-mail consent: no → yes" for line in lines)
    dialog.close()
    record.close()
