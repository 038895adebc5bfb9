"""The series dialog against the test clinic: plan a weekly series, see the conflict and its
alternatives, take the same-day alternative or skip the date, book all or none / the free ones."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from PySide6.QtCore import Qt, QTime
from sqlalchemy import text

from reception_app.services import patients, scheduling, series
from reception_app.ui.runner import Runner
from reception_app.ui.series_dialog import SeriesDialog

from .conftest import DAY, NOW

SP = timezone(timedelta(hours=-3))
US = "Abdominal ultrasound"
TUESDAYS = [date(2027, 1, 5) + timedelta(weeks=i) for i in range(4)]


def sp(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SP)


@pytest.fixture
def people(clinic_db):
    maria = patients.add_patient(clinic_db, name="Maria Silva", birth_date="1980-05-17").id
    joao = patients.add_patient(clinic_db, name="João Pereira", birth_date="1975-11-02").id
    scheduling.book(clinic_db, branch="Centro", service=US, start=sp(TUESDAYS[1], 10), patient_id=joao, now=NOW)
    return maria, joao


def series_rows(db):
    return db.read(lambda c: c.execute(text(
        "SELECT series_date, starts_at FROM appointment WHERE series_id IS NOT NULL ORDER BY series_date")).all())


def _dialog(qtbot, db, runner: Runner, maria: int) -> SeriesDialog:
    dialog = SeriesDialog(db, runner, branch="Centro", timezone="America/Sao_Paulo", patient_id=maria,
                          patient_name="Maria Silva", day=DAY, clock=lambda: NOW)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.services_loaded, timeout=10_000):
        dialog.show()
    qtbot.waitUntil(lambda: not runner.busy, timeout=10_000)  # the doctors of the first service
    dialog.service_combo.setCurrentText(US)
    qtbot.waitUntil(lambda: dialog.doctor_combo.count() == 3, timeout=10_000)
    dialog.doctor_combo.setCurrentText("Ana Souza")
    assert dialog.weekday_boxes[0].isChecked()  # the day it opened on, a Monday
    qtbot.mouseClick(dialog.weekday_boxes[0], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.weekday_boxes[1], Qt.MouseButton.LeftButton)
    dialog.time_edit.setTime(QTime(10, 0))
    dialog.count_spin.setValue(4)
    return dialog


def _check(qtbot, dialog: SeriesDialog):
    with qtbot.waitSignal(dialog.plan_ready, timeout=10_000) as ready:
        qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    return ready.args[0]


def test_a_conflict_is_listed_with_alternatives_and_all_or_none_books_none(qtbot, clinic_db, people, runner):
    maria, _ = people
    dialog = _dialog(qtbot, clinic_db, runner, maria)
    assert not dialog.book_free_button.isEnabled() and not dialog.book_all_button.isEnabled()
    plan = _check(qtbot, dialog)
    assert [o.series_date for o in plan.occurrences] == TUESDAYS
    row = dialog.plan_tree.topLevelItem(1)
    assert [row.text(i) for i in range(3)] == ["Tue 12/01/2027", "10:00", "not free"]
    assert "Ana Souza has João Pereira (Abdominal ultrasound)" in row.text(3) and row.text(4).startswith("09:15, 10:45")
    assert dialog.selected_occurrence().series_date == TUESDAYS[1]  # the first conflict is selected
    assert "3 of 4 occurrences are free" in dialog.status_label.text()
    qtbot.mouseClick(dialog.book_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.message_label.isVisible(), timeout=10_000)
    assert "none was booked" in dialog.message_label.text()
    assert series_rows(clinic_db) == []
    assert dialog.isVisible()


def test_the_same_day_alternative_is_taken_and_the_series_booked_whole(qtbot, clinic_db, people, runner):
    maria, _ = people
    dialog = _dialog(qtbot, clinic_db, runner, maria)
    _check(qtbot, dialog)
    with qtbot.waitSignal(dialog.plan_ready, timeout=10_000) as ready:
        qtbot.mouseClick(dialog.alternative_button, Qt.MouseButton.LeftButton)
    plan = ready.args[0]
    assert not plan.conflicts and dialog.exceptions.retime == {TUESDAYS[1]: time(9, 15)}
    assert dialog.plan_tree.topLevelItem(1).text(1) == "09:15"
    with qtbot.waitSignal(dialog.series_booked, timeout=10_000) as booked:
        qtbot.mouseClick(dialog.book_all_button, Qt.MouseButton.LeftButton)
    view = booked.args[0]
    assert len(view.live) == 4 and not dialog.isVisible()
    assert [tuple(r) for r in series_rows(clinic_db)] == [
        (d, sp(d, 9, 15) if d == TUESDAYS[1] else sp(d, 10)) for d in TUESDAYS]
    assert series.get_series(clinic_db, view.id).doctor == "Ana Souza"


def test_skip_a_date_or_book_only_the_free_occurrences(qtbot, clinic_db, people, runner):
    maria, _ = people
    dialog = _dialog(qtbot, clinic_db, runner, maria)
    _check(qtbot, dialog)
    with qtbot.waitSignal(dialog.plan_ready, timeout=10_000) as ready:
        qtbot.mouseClick(dialog.skip_button, Qt.MouseButton.LeftButton)
    assert ready.args[0].skipped == (TUESDAYS[1],) and dialog.plan_tree.topLevelItemCount() == 3
    assert "1 date(s) skipped" in dialog.status_label.text()
    dialog.count_spin.setValue(5)  # a changed form drops the plan (and its exceptions)
    assert dialog.plan is None and not dialog.book_free_button.isEnabled() and dialog.exceptions.skip == set()
    _check(qtbot, dialog)
    with qtbot.waitSignal(dialog.series_booked, timeout=10_000) as booked:
        qtbot.mouseClick(dialog.book_free_button, Qt.MouseButton.LeftButton)
    assert booked.args[0].not_booked == (TUESDAYS[1],)
    assert [r.series_date for r in series_rows(clinic_db)] == [TUESDAYS[0], *TUESDAYS[2:], TUESDAYS[3] + timedelta(weeks=1)]
