"""The force-booking dialog and the overrides log window against the test database."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import QDate, QTime

from reception_app.services import overrides, patients
from reception_app.ui.override_dialogs import ForceBookingDialog, OverridesLogWindow
from reception_app.ui.runner import Runner

from .conftest import DAY, NOW, at

THU = DAY + timedelta(days=3)


def _force_dialog(qtbot, db, runner) -> ForceBookingDialog:
    dialog = ForceBookingDialog(db, runner, branch="Centro", timezone="America/Sao_Paulo", clock=lambda: NOW,
                                day=THU)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.lists_loaded, timeout=10_000):
        dialog.show()
    return dialog


def _fill(qtbot, dialog: ForceBookingDialog, reason: str) -> None:
    dialog.patient_query.setText("Joana")
    with qtbot.waitSignal(dialog.patients_found, timeout=10_000):
        dialog.find_button.click()
    dialog.service_combo.setCurrentText("Abdominal ultrasound")
    dialog.doctor_combo.setCurrentText("Ana Souza")
    dialog.date_edit.setDate(QDate(THU.year, THU.month, THU.day))
    dialog.time_edit.setTime(QTime(14, 0))
    assert not dialog.book_button.isEnabled()          # no reason yet
    dialog.reason_edit.setText(reason)


def test_a_manager_forces_a_booking_outside_the_shift_with_a_reason(qtbot, clinic_db, login, runner: Runner):
    _, boss = login("manager")
    patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-09-09")
    dialog = _force_dialog(qtbot, boss, runner)
    _fill(qtbot, dialog, "covering for the afternoon")
    assert dialog.book_button.isEnabled()
    with qtbot.waitSignal(dialog.appointment_booked, timeout=10_000) as booked:
        dialog.book_button.click()
    appt = booked.args[0]
    assert appt.start == at(14, day=THU) and appt.resources["doctor"] == "Ana Souza"
    assert not dialog.isVisible()
    assert [(e.kind, e.reason) for e in overrides.overrides_log(clinic_db)] == [
        ("outside_shift", "covering for the afternoon")]


def test_reception_is_refused_in_plain_words_and_nothing_is_booked(qtbot, clinic_db, login, runner: Runner):
    _, desk = login("reception")
    patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-09-09")
    dialog = _force_dialog(qtbot, desk, runner)
    _fill(qtbot, dialog, "please")
    with qtbot.waitSignal(dialog.error_shown, timeout=10_000) as error:
        dialog.book_button.click()
    assert "manager" in error.args[0] and dialog.isVisible() and dialog.message_label.isVisible()
    assert overrides.overrides_log(clinic_db) == []


def test_the_log_window_lists_who_what_and_why_and_filters_by_date(qtbot, clinic_db, login, runner: Runner):
    _, boss = login("manager")
    joana = patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-09-09").id
    overrides.force_book(boss, branch="Centro", service="Abdominal ultrasound", start=at(14, day=THU),
                         patient_id=joana, doctor="Ana Souza", reason="covering", now=NOW)
    window = OverridesLogWindow(clinic_db, runner, timezone="America/Sao_Paulo", clock=lambda: NOW)
    qtbot.addWidget(window)
    qtbot.waitSignal(window.log_loaded, timeout=10_000).wait()  # the default range: the 30 days before NOW
    with qtbot.waitSignal(window.log_loaded, timeout=10_000) as loaded:
        window.from_edit.setDate(QDate(2020, 1, 1))
    assert loaded.args[0] == 1
    row = [window.table.item(0, c).text() for c in range(6)]
    assert row[1].startswith("t_manager_") and row[2:4] == ["Outside the doctor's shift", "Joana Prado"]
    assert row[5] == "covering"
    with qtbot.waitSignal(window.log_loaded, timeout=10_000) as loaded:
        window.until_edit.setDate(QDate(2020, 1, 2))
    assert loaded.args[0] == 0 and window.table.rowCount() == 0


def test_a_companion_is_booked_in_parallel_only_when_ticked_and_it_is_logged(qtbot, clinic_db, login,
                                                                            runner: Runner):
    """A patient is in one place at a time: the same patient at the same time is refused in plain words,
    unless the manager ticks "parallel" — then it is booked and the override is logged."""
    from reception_app.services import clinic_config

    _, boss = login("manager")
    joana = patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-09-09").id
    clinic_config.apply(clinic_db, {"equipment": [{"name": "Ultrasound B", "branch": "Centro",
                                                    "kind": "ultrasound"}]})
    overrides.force_book(boss, branch="Centro", service="Abdominal ultrasound", start=at(14, day=THU),
                         patient_id=joana, doctor="Bruno Lima", reason="first part", now=NOW)
    dialog = _force_dialog(qtbot, boss, runner)
    _fill(qtbot, dialog, "mother and daughter together")
    with qtbot.waitSignal(dialog.error_shown, timeout=10_000) as error:
        dialog.book_button.click()
    assert "already has Abdominal ultrasound" in error.args[0] and dialog.isVisible()
    dialog.parallel_check.setChecked(True)
    with qtbot.waitSignal(dialog.appointment_booked, timeout=10_000) as booked:
        dialog.book_button.click()
    assert booked.args[0].start == at(14, day=THU)
    assert ("patient_overlap", "mother and daughter together") in [
        (e.kind, e.reason) for e in overrides.overrides_log(clinic_db)]
