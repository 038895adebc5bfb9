"""The grid's read model on a real database: markers, the week, the month calendar's counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import NotFound
from reception_app.services import dayview, patients, scheduling
from reception_app.store.database import Database

NOW = datetime(2027, 1, 1, tzinfo=UTC)
SP = timezone(timedelta(hours=-3))
US = "Abdominal ultrasound"
MONDAY = date(2027, 1, 4)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SP)


def book(db: Database, patient_id: int, start: datetime, **kw) -> scheduling.AppointmentView:
    return scheduling.book(db, branch="Centro", service=US, start=start, patient_id=patient_id,
                           **{"now": NOW, **kw})


def fail_reminder(db: Database, appointment_id: int, status: str = "failed") -> None:
    db.write(lambda c: c.execute(text(
        "INSERT INTO reminder (appointment_id, channel, purpose, due_at, status, attempts) "
        "VALUES (:a, 'sms', 'reminder', now(), :s, 3)"), {"a": appointment_id, "s": status}))


@pytest.fixture
def people(clinic_db: Database) -> tuple[int, int]:
    maria = patients.add_patient(clinic_db, name="Maria Silva", birth_date="1980-05-17").id
    joao = patients.add_patient(clinic_db, name="João Pereira", birth_date="1975-11-02").id
    return maria, joao


def test_markers_first_visit_payment_pending_and_failed_reminder(clinic_db: Database, people) -> None:
    maria, joao = people
    tuesday = MONDAY + timedelta(days=1)
    cancelled_earlier = book(clinic_db, joao, at(MONDAY, 8))
    scheduling.cancel(clinic_db, cancelled_earlier.id, reason="patient called", now=NOW)
    maria_monday = book(clinic_db, maria, at(MONDAY, 9))
    joao_monday = book(clinic_db, joao, at(MONDAY, 10), status="payment_pending")
    maria_tuesday = book(clinic_db, maria, at(tuesday, 9))
    fail_reminder(clinic_db, maria_tuesday.id)
    fail_reminder(clinic_db, maria_monday.id, status="sent")  # a sent reminder is no marker

    monday = dayview.load_day(clinic_db, "Centro", MONDAY)
    # João's earlier appointment was cancelled: this is still his first visit.
    assert monday.markers == {maria_monday.id: frozenset({"first_visit"}),
                              joao_monday.id: frozenset({"first_visit", "payment_pending"})}
    tue = dayview.load_day(clinic_db, "Centro", tuesday)
    assert tue.markers == {maria_tuesday.id: frozenset({"reminder_failed"})}  # Maria came on Monday
    assert set().union(*monday.markers.values(), *tue.markers.values()) <= set(dayview.MARKER_KINDS)


def test_a_no_show_counts_as_an_earlier_visit_in_any_branch(clinic_db: Database, people) -> None:
    maria, _ = people
    past_monday = date(2026, 6, 1)  # in the real past: no-shows are marked after the start only
    before = datetime(2026, 5, 20, tzinfo=UTC)
    first = book(clinic_db, maria, at(past_monday, 9), now=before)
    scheduling.set_status(clinic_db, first.id, "no_show")
    later = book(clinic_db, maria, at(past_monday + timedelta(days=1), 9), now=before)
    assert dayview.load_day(clinic_db, "Centro", past_monday).markers == {first.id: frozenset({"first_visit"})}
    assert later.id not in dayview.load_day(clinic_db, "Centro", past_monday + timedelta(days=1)).markers


def test_a_week_is_seven_days_in_one_read(clinic_db: Database, people) -> None:
    maria, joao = people
    a = book(clinic_db, maria, at(MONDAY, 9))
    b = book(clinic_db, joao, at(MONDAY + timedelta(days=1), 10), status="payment_pending")
    week = dayview.load_week(clinic_db, "Centro", MONDAY + timedelta(days=3))  # any day of the week
    assert week.monday == MONDAY and [d.local_date for d in week.days] == [MONDAY + timedelta(days=i)
                                                                          for i in range(7)]
    assert week.branch.name == "Centro"
    assert [x.id for x in week.appointments] == [a.id, b.id]
    assert week.days[1].markers[b.id] == frozenset({"first_visit", "payment_pending"})
    assert week.days[5].closed and week.days[6].closed  # Centro is closed at weekends
    # Every day is what load_day gives.
    for day in week.days:
        alone = dayview.load_day(clinic_db, week.branch.id, day.local_date)
        assert (alone.rows, alone.resources, alone.appointments, alone.markers, alone.holiday) == \
               (day.rows, day.resources, day.appointments, day.markers, day.holiday)


def test_week_across_a_dst_change(clinic_db: Database) -> None:
    week = dayview.load_week(clinic_db, "Berlin", date(2027, 3, 22))
    assert week.days[-1].local_date == date(2027, 3, 28)
    assert len(week.days[-1].rows) == 92  # the 23-hour Sunday, open around the clock
    assert dayview.week_start(date(2027, 3, 28)) == date(2027, 3, 22)


def test_month_counts_and_closed_days(clinic_db: Database, people) -> None:
    maria, joao = people
    book(clinic_db, maria, at(MONDAY, 9))
    book(clinic_db, joao, at(MONDAY, 10))
    gone = book(clinic_db, joao, at(MONDAY, 11))
    scheduling.cancel(clinic_db, gone.id, reason="patient called", now=NOW)
    # Sunday 00:30 in Berlin is Saturday 23:30 UTC: counted on the branch's local date.
    scheduling.book(clinic_db, branch="Berlin", service="Consultation", patient_id=maria, now=NOW,
                    start=datetime(2027, 1, 30, 23, 30, tzinfo=UTC))
    branches = {b.name: b.id for b in dayview.list_branches(clinic_db)}
    assert dayview.month_load(clinic_db, branches["Berlin"], 2027, 1) == {date(2027, 1, 31): 1}
    centro = next(b for b in dayview.list_branches(clinic_db) if b.name == "Centro")
    assert dayview.month_load(clinic_db, centro.id, 2027, 1) == {MONDAY: 2}
    assert dayview.month_load(clinic_db, centro.id, 2027, 2) == {}
    december = dayview.month_overview(clinic_db, centro.id, 2027, 12)
    assert december.closed[date(2027, 12, 25)] == "Holiday: Christmas"
    assert december.closed[date(2027, 12, 26)] == "Closed"  # a Sunday
    assert date(2027, 12, 27) not in december.closed
    assert len(december.closed) == 8  # four Saturdays (Christmas is one) and four Sundays
    with pytest.raises(NotFound):
        dayview.month_load(clinic_db, 9999, 2027, 1)
