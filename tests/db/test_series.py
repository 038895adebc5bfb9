"""Recurring series against the test clinic: planned whole, booked free-only or all-or-nothing, cancelled.

Centro (America/Sao_Paulo, UTC-3, no DST): "Abdominal ultrasound" (30 min + 10 after) needs a
radiologist (Ana Souza, Bruno Lima: Mon-Tue 08-12), an imaging room and the one Ultrasound A.
Berlin (Europe/Berlin; clocks go forward on Sunday 2027-03-28): "Consultation" (15 min) with
Clara Weiss (Sat-Sun all day) in the Berlin Room.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from reception_app.domain.errors import InvalidTransition, NotFound, SlotTaken, ValidationError
from reception_app.domain.recurrence import Exceptions
from reception_app.services import patients, scheduling, series

SP = timezone(timedelta(hours=-3))
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 1, 1, tzinfo=UTC)
US = "Abdominal ultrasound"
TUESDAYS = [date(2027, 1, 5) + timedelta(weeks=i) for i in range(8)]


def sp(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SP)


@pytest.fixture
def patient(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="Maria da Silva", birth_date="1980-02-03", phone="+5527999990000").id


@pytest.fixture
def other(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="João Pereira", birth_date="1975-11-02").id


def plan(db, patient_id, **kw):
    args = {"branch": "Centro", "service": US, "patient_id": patient_id, "rrule": "FREQ=WEEKLY;BYDAY=TU",
            "first_date": date(2027, 1, 4), "local_start": "10:00", "count": 8, "doctor": "Ana Souza", "now": NOW}
    return series.plan_series(db, **{**args, **kw})


def counts(db) -> tuple[int, int]:
    return db.read(lambda c: tuple(c.execute(text(
        "SELECT (SELECT count(*) FROM series), (SELECT count(*) FROM appointment)")).one()))


def test_the_plan_judges_every_occurrence_and_offers_the_nearest_alternatives(clinic_db, patient, other):
    scheduling.book(clinic_db, branch="Centro", service=US, start=sp(TUESDAYS[2], 10), patient_id=other, now=NOW)
    p = plan(clinic_db, patient)
    assert [o.series_date for o in p.occurrences] == TUESDAYS
    assert [o.series_date for o in p.conflicts] == [TUESDAYS[2]]
    assert all(o.start_utc == sp(o.series_date, 10) and o.resources["doctor"] == "Ana Souza" for o in p.free)
    conflict = p.conflicts[0]
    assert conflict.conflict == "Ana Souza has João Pereira (Abdominal ultrasound) 10:00–10:30." and conflict.alternatives
    # Same day first, nearest to 10:00: 09:15 ends 09:55 with its buffer; 10:45 is after João's 10:00-10:40.
    assert [a.start for a in conflict.alternatives[:2]] == [sp(TUESDAYS[2], 9, 15), sp(TUESDAYS[2], 10, 45)]
    assert all(a.resources["doctor"] == "Ana Souza" for a in conflict.alternatives)
    assert counts(clinic_db) == (0, 1)  # planning writes nothing


def test_all_or_nothing_books_none_when_one_is_taken_and_free_only_books_the_rest(clinic_db, patient, other):
    scheduling.book(clinic_db, branch="Centro", service=US, start=sp(TUESDAYS[2], 10), patient_id=other, now=NOW)
    p = plan(clinic_db, patient)
    with pytest.raises(SlotTaken) as err:
        series.book_series(clinic_db, p, mode="all_or_nothing", now=NOW)
    assert "1 of 8 occurrences" in str(err.value) and "Tue 19/01/2027 10:00" in str(err.value)
    assert counts(clinic_db) == (0, 1)
    cid = uuid.uuid4()
    booked = series.book_series(clinic_db, p, mode="free_only", client_id=cid, now=NOW)
    assert booked.not_booked == (TUESDAYS[2],) and booked.status == "active"
    assert booked.rrule == "FREQ=WEEKLY;BYDAY=TU;COUNT=8" and booked.doctor == "Ana Souza"
    assert booked.first_date == TUESDAYS[0] and booked.local_start == time(10)
    assert [a.start for a in booked.appointments] == [sp(d, 10) for d in TUESDAYS if d != TUESDAYS[2]]
    assert sorted(booked.series_dates.values()) == [d for d in TUESDAYS if d != TUESDAYS[2]]
    again = series.book_series(clinic_db, p, mode="free_only", client_id=cid, now=NOW)  # a retried commit
    assert again.id == booked.id and counts(clinic_db) == (1, 1 + 7)


def test_a_stale_plan_is_judged_again_when_booking(clinic_db, patient, other):
    p = plan(clinic_db, patient)
    assert not p.conflicts
    scheduling.book(clinic_db, branch="Centro", service=US, start=sp(TUESDAYS[5], 10), patient_id=other, now=NOW)
    with pytest.raises(SlotTaken, match="Tue 09/02/2027 10:00"):
        series.book_series(clinic_db, p, mode="all_or_nothing", now=NOW)
    booked = series.book_series(clinic_db, p, mode="free_only", now=NOW)
    assert booked.not_booked == (TUESDAYS[5],) and len(booked.live) == 7


def test_exceptions_skip_a_date_and_retime_another(clinic_db, patient, other):
    scheduling.book(clinic_db, branch="Centro", service=US, start=sp(TUESDAYS[2], 10), patient_id=other, now=NOW)
    ex = Exceptions(skip=frozenset({TUESDAYS[2]}), retime={TUESDAYS[1]: time(11, 0)})
    p = plan(clinic_db, patient, exceptions=ex)
    assert not p.conflicts and p.skipped == (TUESDAYS[2],) and len(p.occurrences) == 7
    booked = series.book_series(clinic_db, p, mode="all_or_nothing", now=NOW)
    by_date = {booked.series_dates[a.id]: a.start for a in booked.appointments}
    assert by_date[TUESDAYS[1]] == sp(TUESDAYS[1], 11) and by_date[TUESDAYS[0]] == sp(TUESDAYS[0], 10)
    assert TUESDAYS[2] not in by_date


def test_ten_oclock_in_berlin_stays_ten_oclock_across_the_dst_change(clinic_db, patient):
    p = series.plan_series(clinic_db, branch="Berlin", service="Consultation", patient_id=patient,
                           rrule="FREQ=WEEKLY;BYDAY=SU", first_date="2027-03-14", local_start=time(10), count=4,
                           now=NOW)
    booked = series.book_series(clinic_db, p, mode="all_or_nothing", now=NOW)
    starts = [a.start for a in booked.appointments]
    assert [s.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M") for s in starts] == [
        "2027-03-14 10:00", "2027-03-21 10:00", "2027-03-28 10:00", "2027-04-04 10:00"]
    assert [s.astimezone(UTC).hour for s in starts] == [9, 9, 8, 8]  # CET, then CEST


def test_a_local_time_the_clocks_skip_is_a_conflict_of_that_occurrence_only(clinic_db, patient):
    p = series.plan_series(clinic_db, branch="Berlin", service="Consultation", patient_id=patient,
                           rrule="FREQ=WEEKLY;BYDAY=SU", first_date="2027-03-21", local_start="02:30", count=3,
                           now=NOW)
    assert [o.free for o in p.occurrences] == [True, False, True]
    gap = p.occurrences[1]
    assert gap.start_utc is None and "does not exist" in gap.conflict and gap.alternatives
    assert gap.alternatives[0].start.astimezone(BERLIN).date() == date(2027, 3, 28)


def test_cancel_one_then_the_following_then_all(clinic_db, patient):
    booked = series.book_series(clinic_db, plan(clinic_db, patient), mode="all_or_nothing", now=NOW)
    status = lambda view: {view.series_dates[a.id]: a.status for a in view.appointments}  # noqa: E731
    one = series.cancel_series(clinic_db, booked.id, scope="one", from_date=TUESDAYS[1], reason="holiday trip")
    assert status(one)[TUESDAYS[1]] == "cancelled" and len(one.live) == 7 and one.status == "active"
    following = series.cancel_series(clinic_db, booked.id, scope="following", from_date="2027-02-02",
                                     reason="therapy shortened", now=NOW)
    assert [d for d, s in sorted(status(following).items()) if s == "confirmed"] == [TUESDAYS[0], TUESDAYS[2],
                                                                                      TUESDAYS[3]]
    assert following.status == "ended"
    done = series.cancel_series(clinic_db, booked.id, scope="all", reason="patient stopped", now=NOW,
                                cancelled_by="patient")
    assert done.status == "cancelled" and done.live == ()
    # The freed time can be booked again.
    assert scheduling.book(clinic_db, branch="Centro", service=US, start=sp(TUESDAYS[0], 10), patient_id=patient,
                           now=NOW).status == "confirmed"


def test_cancel_refuses_what_it_cannot_do(clinic_db, patient):
    booked = series.book_series(clinic_db, plan(clinic_db, patient, count=2), mode="all_or_nothing", now=NOW)
    with pytest.raises(ValidationError) as err:
        series.cancel_series(clinic_db, booked.id, scope="one", reason="x")
    assert err.value.field == "from_date"
    with pytest.raises(NotFound):
        series.cancel_series(clinic_db, booked.id, scope="one", from_date=TUESDAYS[5], reason="x")
    with pytest.raises(NotFound):
        series.cancel_series(clinic_db, 987654, scope="all", reason="x")
    first = next(a for a in booked.appointments if booked.series_dates[a.id] == TUESDAYS[0])
    scheduling.set_status(clinic_db, first.id, "checked_in")
    scheduling.set_status(clinic_db, first.id, "in_progress")
    with pytest.raises(InvalidTransition):
        series.cancel_series(clinic_db, booked.id, scope="one", from_date=TUESDAYS[0], reason="x")


def test_bad_requests_name_the_field(clinic_db, patient):
    for kw, field in [({"rrule": "FREQ=MINUTELY"}, "rrule"), ({"local_start": "10:10"}, "local_start"),
                      ({"local_start": "25:00"}, "local_start"), ({"count": 500}, "count"),
                      ({"exceptions": Exceptions(skip=frozenset({date(2027, 1, 6)}))}, "skip"),
                      ({"doctor": "Nobody"}, "doctor")]:
        with pytest.raises(ValidationError) as err:
            plan(clinic_db, patient, **kw)
        assert err.value.field == field, kw
    with pytest.raises(ValidationError) as err:
        series.book_series(clinic_db, plan(clinic_db, patient), mode="maybe", now=NOW)
    assert err.value.field == "mode"
    with pytest.raises(NotFound):
        series.book_series(clinic_db, plan(clinic_db, 999_999), mode="free_only", now=NOW)
    assert counts(clinic_db) == (0, 0)


def test_reception_books_and_cancels_a_series_as_its_own_login(clinic_db, patient, login):
    _name, as_reception = login("reception")
    booked = series.book_series(as_reception, plan(as_reception, patient, count=3), mode="free_only", now=NOW)
    assert len(booked.live) == 3
    assert len(series.cancel_series(as_reception, booked.id, scope="all", reason="x", now=NOW).live) == 0
    assert series.doctors_for(as_reception, branch="Centro", service=US) == ["Ana Souza", "Bruno Lima"]
