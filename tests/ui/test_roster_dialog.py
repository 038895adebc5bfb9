"""The roster dialog against the test database: edit, preview the impact, confirm, see it applied."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import QDate, QDateTime, QTime
from PySide6.QtWidgets import QTableWidgetItem

from reception_app.services import dayview, rosters, scheduling
from reception_app.ui.roster_dialog import RosterDialog, parse_intervals
from reception_app.ui.runner import Runner

from .conftest import DAY, NOW, Booked, at


def _shown(qtbot, db, runner, **kw) -> RosterDialog:
    dialog = RosterDialog(db, runner, clock=lambda: NOW, doctor="Ana Souza", branch="Centro", **kw)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.roster_loaded, timeout=10_000):
        dialog.show()
    return dialog


def _confirm(qtbot, dialog: RosterDialog, click) -> object:
    with qtbot.waitSignal(dialog.impact_previewed, timeout=10_000) as previewed:
        click()
    return previewed.args[0]


def test_shows_the_doctors_roster(qtbot, clinic_db, runner: Runner):
    dialog = _shown(qtbot, clinic_db, runner)
    table = dialog.weekly_table
    rows = [[table.item(r, c).text() for c in range(4)] for r in range(table.rowCount())]
    assert rows == [["Mon", "08:00-12:00", "", ""], ["Tue", "08:00-12:00", "", ""],
                    ["Fri", "22:00-06:00", "2027-01-01", "2027-06-30"]]
    assert dialog.time_off_table.item(0, 0).text() == "Leave"
    assert dialog.time_off_table.item(0, 1).text() == "Mon 01/03/2027 00:00"   # Centro wall clock
    assert dialog.holiday_table.item(0, 1).text() == "Christmas"


def test_a_block_over_a_booking_lists_the_patient_and_applies_on_confirm(qtbot, booked: Booked, runner: Runner):
    dialog = _shown(qtbot, booked.db, runner)
    dialog.tabs.setCurrentIndex(2)
    dialog.time_off_kind.setCurrentIndex(dialog.time_off_kind.findData("block"))
    dialog.time_off_from.setDateTime(QDateTime(QDate(2027, 1, 4), QTime(7, 45)))
    dialog.time_off_until.setDateTime(QDateTime(QDate(2027, 1, 4), QTime(8, 30)))
    dialog.time_off_reason.setText("equipment check")
    impact = _confirm(qtbot, dialog, dialog.add_time_off_button.click)
    confirm = dialog.confirm_dialog
    assert confirm is not None and confirm.isVisible()
    assert [a.appointment_id for a in impact.affected] == [booked.first.id]
    item = confirm.affected_tree.topLevelItem(0)
    assert [item.text(i) for i in range(3)] == ["Mon 04/01/2027 08:00", "Maria Silva", "+55 27 99999-0001"]
    with qtbot.waitSignal(dialog.change_applied, timeout=10_000) as applied:
        confirm.apply_button.click()
    assert [a.patient for a in applied.args[0].affected] == ["Maria Silva"]
    qtbot.waitUntil(lambda: dialog.time_off_table.rowCount() == 2, timeout=10_000)
    ana = next(r for r in dayview.load_day(booked.db, "Centro", DAY).resources if r.name == "Ana Souza")
    assert [(o.kind, o.start) for o in ana.time_off] == [("block", at(7, 45))]


def test_cancelling_the_confirmation_writes_nothing_and_bad_hours_are_named(qtbot, clinic_db, runner: Runner):
    dialog = _shown(qtbot, clinic_db, runner)
    dialog.exception_date.setDate(QDate(2027, 1, 7))
    dialog.exception_hours.setText("08:00-11:00")
    _confirm(qtbot, dialog, dialog.set_exception_button.click)
    dialog.confirm_dialog.reject()
    assert rosters.load_roster(clinic_db, doctor="Ana Souza", branch="Centro").exceptions == ()
    with qtbot.waitSignal(dialog.error_shown, timeout=10_000) as error:
        dialog.exception_hours.setText("8-11")
        dialog.set_exception_button.click()
    assert "hours" in error.args[0] and dialog.message_label.isVisible()
    assert parse_intervals("08:00-12:00, 14:00-16:00") == ((480, 720), (840, 960))


def test_an_edited_weekly_pattern_makes_thursday_bookable(qtbot, clinic_db, runner: Runner):
    dialog = _shown(qtbot, clinic_db, runner)
    dialog.add_shift_button.click()
    row = dialog.weekly_table.rowCount() - 1
    dialog.weekly_table.setItem(row, 0, QTableWidgetItem("Thu"))
    dialog.weekly_table.setItem(row, 1, QTableWidgetItem("13:00-15:00"))
    impact = _confirm(qtbot, dialog, dialog.save_pattern_button.click)
    assert impact.affected == ()
    with qtbot.waitSignal(dialog.change_applied, timeout=10_000):
        dialog.confirm_dialog.apply_button.click()
    thursday = DAY + timedelta(days=3)
    offers = scheduling.find_slots(clinic_db, branch="Centro", service="Abdominal ultrasound", local_date=thursday,
                                   doctor="Ana Souza", now=NOW)
    assert offers[0].start == at(13, day=thursday)
