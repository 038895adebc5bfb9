"""The next free starts an appointment can move to (the reschedule dialog's list), then the move.

Centro (America/Sao_Paulo, UTC-3): on Monday 2027-01-04 and Tuesday radiologists
Ana Souza and Bruno Lima work 08-12; "Abdominal ultrasound" takes 30 min plus
10 min after on the ONE Ultrasound A, so starts are 40 minutes apart at best.
``NOW`` is Friday 2027-01-01 00:00 UTC (Thursday evening at Centro): the branch is
closed until Monday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from reception_app.domain.errors import InvalidTransition, NotFound, ValidationError
from reception_app.services import clinic_config, patients, scheduling

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
US = "Abdominal ultrasound"


def at(hour: int, minute: int = 0, day: int = 4) -> datetime:
    return datetime(2027, 1, day, hour, minute, tzinfo=SP)


@pytest.fixture
def patient(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="Paula Moreira", birth_date="1970-07-07").id


def book(db, patient_id, start, service=US, **kw):
    return scheduling.book(db, branch="Centro", service=service, start=start, patient_id=patient_id, now=NOW, **kw)


def starts(offers) -> list[datetime]:
    return [o.start for o in offers]


def test_its_own_time_does_not_block_and_is_not_offered(clinic_db, patient):
    appt = book(clinic_db, patient, at(8))
    offers = scheduling.next_free_starts(clinic_db, appt.id, now=NOW, count=4)
    # 08:00 is its own start; 08:15 overlaps its own booking (08:00-08:40), which does not count.
    assert starts(offers) == [at(8, 15), at(8, 30), at(8, 45), at(9)]
    assert offers[0].resources == {"doctor": "Ana Souza", "room": "Imaging 1", "equipment": "Ultrasound A"}


def test_other_bookings_block_and_the_search_walks_on_to_the_next_day(clinic_db, patient):
    appt = book(clinic_db, patient, at(8))
    book(clinic_db, patient, at(9))  # Ultrasound A taken 09:00-09:40
    offers = scheduling.next_free_starts(clinic_db, appt.id, now=NOW, count=3)
    assert starts(offers) == [at(8, 15), at(9, 45), at(10)]
    # Monday's last start is 11:15 (11:15-11:45 and 10 minutes after it end by 12:00, the shifts' end);
    # then Tuesday 08:00.
    many = scheduling.next_free_starts(clinic_db, appt.id, now=NOW, count=20)
    monday = [s for s in starts(many) if s.date() == date(2027, 1, 4)]
    assert monday[-1] == at(11, 15)
    assert starts(many)[len(monday)] == at(8, day=5)


def test_from_a_later_day(clinic_db, patient):
    appt = book(clinic_db, patient, at(8))
    offers = scheduling.next_free_starts(clinic_db, appt.id, now=NOW, count=2, from_local_date="2027-01-05")
    assert starts(offers) == [at(8, day=5), at(8, 15, day=5)]
    # A day in the past starts today.
    assert starts(scheduling.next_free_starts(clinic_db, appt.id, now=NOW, count=1,
                                              from_local_date=date(2026, 6, 1))) == [at(8, 15)]


def test_keeps_the_doctor_when_free_else_another_or_only_the_same_doctor(clinic_db, patient):
    clinic_config.apply(clinic_db, {"service": [
        {"name": "Report review", "duration": 30, "needs": {"doctor": "radiology", "room": "imaging"}}]})
    appt = book(clinic_db, patient, at(8))
    assert appt.resources["doctor"] == "Ana Souza"
    book(clinic_db, patient, at(10), service="Report review", doctor="Ana Souza")  # Ana and Imaging 1 at 10:00
    offers = scheduling.next_free_starts(clinic_db, appt.id, now=NOW, count=12)
    by_start = {o.start: o for o in offers}
    assert by_start[at(9)].resources["doctor"] == "Ana Souza"          # Ana is free: she stays
    assert by_start[at(9, 45)].resources["doctor"] == "Bruno Lima"     # 09:45-10:15 meets Ana's 10:00
    assert by_start[at(10)].resources == {"doctor": "Bruno Lima", "room": "Imaging 2", "equipment": "Ultrasound A"}
    assert by_start[at(10, 30)].resources["doctor"] == "Ana Souza"
    same = scheduling.next_free_starts(clinic_db, appt.id, now=NOW, count=12, same_doctor=True)
    assert at(10) not in starts(same) and at(10, 15) not in starts(same) and at(10, 30) in starts(same)
    assert {o.resources["doctor"] for o in same} == {"Ana Souza"}


def test_an_offer_moves_the_appointment(clinic_db, patient):
    appt = book(clinic_db, patient, at(8))
    offer = scheduling.next_free_starts(clinic_db, appt.id, now=NOW, count=3, from_local_date="2027-01-05")[1]
    moved = scheduling.move(clinic_db, appt.id, start=offer.start, now=NOW, **offer.resources)
    assert moved.after.start == at(8, 15, day=5) and moved.after.resources == offer.resources


def test_the_horizon_ends_the_search(clinic_db, patient):
    clinic_config.apply(clinic_db, {"service": [{"name": US, "duration": 30, "buffer_after": 10,
                                                 "min_notice": 60, "horizon": 4,
                                                 "needs": {"doctor": "radiology", "room": "imaging",
                                                           "equipment": "ultrasound"}}]})
    appt = book(clinic_db, patient, at(8))
    # Horizon: local today (Thursday 31 Dec) + 4 days = Monday 4 January, the last day searched.
    offers = scheduling.next_free_starts(clinic_db, appt.id, now=NOW, count=50)
    assert offers and {o.start.astimezone(SP).date() for o in offers} == {date(2027, 1, 4)}
    assert scheduling.next_free_starts(clinic_db, appt.id, now=NOW, from_local_date="2027-01-05") == []


def test_only_appointments_that_may_move(clinic_db, patient):
    arrived = book(clinic_db, patient, at(8))
    scheduling.set_status(clinic_db, arrived.id, "checked_in")
    with pytest.raises(InvalidTransition, match="checked in cannot be moved"):
        scheduling.next_free_starts(clinic_db, arrived.id, now=NOW)
    with pytest.raises(NotFound):
        scheduling.next_free_starts(clinic_db, 999_999, now=NOW)
    with pytest.raises(ValidationError) as info:
        scheduling.next_free_starts(clinic_db, arrived.id, now=NOW, count=0)
    assert info.value.field == "count"
