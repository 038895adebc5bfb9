"""Walk-ins: booked now on the first free resources and checked in, in one transaction.

Centro (America/Sao_Paulo, UTC-3) on Monday 2027-01-04: radiologists Ana Souza
and Bruno Lima work 08-12; imaging rooms Imaging 1 and 2; one Ultrasound A.
"Report review" (added here): 30 minutes, a radiologist and an imaging room.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import NotFound, SlotTaken, ValidationError
from reception_app.services import clinic_config, patients, scheduling

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
REVIEW = "Report review"


def at(hour: int, minute: int = 0, day: int = 4) -> datetime:
    return datetime(2027, 1, day, hour, minute, tzinfo=SP)


@pytest.fixture
def clinic(clinic_db):
    clinic_config.apply(clinic_db, {"service": [
        {"name": REVIEW, "duration": 30, "min_notice": 120, "needs": {"doctor": "radiology", "room": "imaging"}}]})
    return clinic_db


@pytest.fixture
def patient(clinic) -> int:
    return patients.add_patient(clinic, name="Rita Lopes", birth_date="1966-06-06").id


@pytest.fixture
def other(clinic) -> int:
    return patients.add_patient(clinic, name="Otto Prado", birth_date="1950-01-01").id


def walk_in(db, patient_id, now, **kw):
    return scheduling.walk_in(db, branch="Centro", service=kw.pop("service", REVIEW), patient_id=patient_id,
                              now=now, **kw)


def reserve(db, patient_id, start, doctor, service=REVIEW):
    return scheduling.book(db, branch="Centro", service=service, start=start, patient_id=patient_id,
                           doctor=doctor, now=NOW)


def count(db, table="appointment") -> int:
    return db.read(lambda c: c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_walk_in_at_10_07_takes_the_free_10_00_quarter_until_the_quarter_after_its_end(clinic, patient):
    appt = walk_in(clinic, patient, at(10, 7))
    # 10:07 + 30 min = 10:37: booked 10:00-10:45, the minimum notice (120 min) does not apply.
    assert (appt.start, appt.end) == (at(10), at(10, 45))
    assert appt.resources == {"doctor": "Ana Souza", "room": "Imaging 1"}
    assert (appt.status, appt.source) == ("checked_in", "walk_in")
    row = clinic.read(lambda c: c.execute(text("SELECT checked_in_at, status FROM appointment WHERE id = :i"),
                                          {"i": appt.id}).one())
    assert row.checked_in_at == at(10, 7)
    # The audit trail has the booking and the check-in, with the reason.
    reasons = clinic.read(lambda c: c.execute(text(
        "SELECT action, new_row->>'status', reason FROM audit_log WHERE table_name = 'appointment' "
        "AND row_id = :i ORDER BY id"), {"i": appt.id}).all())
    assert [tuple(r) for r in reasons] == [("INSERT", "confirmed", "walk-in: booked and checked in"),
                                           ("UPDATE", "checked_in", "walk-in: booked and checked in")]


def test_a_walk_in_on_the_quarter_hour_gets_the_service_duration(clinic, patient):
    appt = walk_in(clinic, patient, at(10, 0))
    assert (appt.start, appt.end) == (at(10), at(10, 30))


def test_when_the_first_doctor_is_busy_the_next_one_takes_the_walk_in(clinic, patient, other):
    busy = reserve(clinic, other, at(10), "Ana Souza")
    assert busy.resources == {"doctor": "Ana Souza", "room": "Imaging 1"}
    appt = walk_in(clinic, patient, at(10, 7))
    assert (appt.start, appt.end) == (at(10), at(10, 45))
    assert appt.resources == {"doctor": "Bruno Lima", "room": "Imaging 2"}


def test_a_booking_at_10_30_stops_the_widened_10_00_start_for_that_doctor(clinic, patient, other):
    reserve(clinic, other, at(10, 30), "Ana Souza")
    # Ana's 10:00-10:45 would overrun her 10:30 patient: Bruno takes 10:00.
    assert walk_in(clinic, patient, at(10, 7)).resources["doctor"] == "Bruno Lima"
    # With Ana asked for: not 10:00 (overrun), not 10:15-10:45 (overlap), 11:00 after her patient.
    pinned = walk_in(clinic, other, at(10, 7), doctor="Ana Souza")
    assert (pinned.start, pinned.end, pinned.resources["doctor"]) == (at(11), at(11, 30), "Ana Souza")


def test_both_doctors_busy_the_walk_in_waits_for_the_first_free_quarter(clinic, patient, other):
    third = patients.add_patient(clinic, name="Lia Prado", birth_date="1952-02-02").id
    reserve(clinic, other, at(10), "Ana Souza")
    reserve(clinic, third, at(10), "Bruno Lima")     # another patient: one is in one place at a time
    appt = walk_in(clinic, patient, at(10, 7))
    assert (appt.start, appt.end, appt.resources["doctor"]) == (at(10, 30), at(11), "Ana Souza")


def test_a_walk_in_ignores_the_minimum_notice_of_an_ultrasound(clinic, patient):
    appt = walk_in(clinic, patient, at(9, 50), service="Abdominal ultrasound")
    assert (appt.start, appt.end) == (at(9, 45), at(10, 30))  # 9:50 + 30 min → 10:30 (buffer after it)
    assert appt.resources == {"doctor": "Ana Souza", "room": "Imaging 1", "equipment": "Ultrasound A"}


def test_nothing_free_before_closing_is_refused_in_plain_words_and_writes_nothing(clinic, patient):
    before = count(clinic)
    with pytest.raises(SlotTaken) as info:
        walk_in(clinic, patient, at(11, 50))  # 30 minutes do not fit before the shifts end at 12:00
    assert str(info.value) == "No doctor is free for Report review before closing today (Centro)."
    with pytest.raises(SlotTaken, match="^Ana Souza is not free for Report review before closing today"):
        walk_in(clinic, patient, at(11, 50), doctor="Ana Souza")
    with pytest.raises(SlotTaken, match="No doctor is free"):
        walk_in(clinic, patient, at(10, 0, day=3))  # Sunday: closed
    assert count(clinic) == before and count(clinic, "booking") == 0


def test_the_missing_kind_is_named_when_doctors_are_free(clinic, patient, other):
    clinic_config.apply(clinic, {"time_off": [
        {"resource": room, "from": "2027-01-04T00:00:00-03:00", "until": "2027-01-05T00:00:00-03:00",
         "reason": "painting"} for room in ("Imaging 1", "Imaging 2")]})
    with pytest.raises(SlotTaken) as info:
        walk_in(clinic, patient, at(10, 7))
    assert str(info.value) == "No room is free for Report review before closing today (Centro)."


def test_free_doctor_room_and_equipment_that_never_meet_are_explained(clinic, patient, other):
    # The one ultrasound is taken 10:00-10:40 and 11:00-11:40; 10:40-11:00 is too short for 30 min + 10,
    # and the doctors' shifts end at 12:00 (the ultrasound is free again in the afternoon, without them).
    for hour in (10, 11):
        scheduling.book(clinic, branch="Centro", service="Abdominal ultrasound", start=at(hour),
                        patient_id=other, now=NOW)
    with pytest.raises(SlotTaken) as info:
        walk_in(clinic, patient, at(10, 40), service="Abdominal ultrasound")
    assert str(info.value) == ("No start before closing today (Centro) has a doctor, a room and equipment "
                               "free together for Abdominal ultrasound.")


def test_a_retry_with_the_same_client_id_returns_the_same_appointment(clinic, patient, other):
    cid = uuid.uuid4()
    first = walk_in(clinic, patient, at(10, 7), client_id=cid)
    again = walk_in(clinic, patient, at(10, 8), client_id=cid)
    assert again.id == first.id and count(clinic) == 1
    with pytest.raises(ValidationError) as info:
        walk_in(clinic, other, at(10, 8), client_id=cid)
    assert info.value.field == "client_id"


def test_unknown_patient_doctor_or_a_doctor_for_a_service_without_one(clinic, patient):
    with pytest.raises(NotFound) as info:
        walk_in(clinic, 999_999, at(10, 7))
    assert info.value.field == "patient"
    with pytest.raises(NotFound):
        walk_in(clinic, patient, at(10, 7), doctor="Nobody")
    clinic_config.apply(clinic, {"service": [{"name": "Room only", "duration": 15,
                                              "needs": {"room": "imaging"}}]})
    with pytest.raises(ValidationError) as info:
        walk_in(clinic, patient, at(10, 7), service="Room only", doctor="Ana Souza")
    assert info.value.field == "doctor"
    assert count(clinic) == 0


def test_the_preview_is_what_the_walk_in_gets(clinic, patient, other):
    reserve(clinic, other, at(10), "Ana Souza")
    offer = scheduling.walk_in_preview(clinic, branch="Centro", service=REVIEW, now=at(10, 7))
    assert (offer.start, offer.end, offer.resources["doctor"]) == (at(10), at(10, 45), "Bruno Lima")
    assert count(clinic) == 1  # nothing written
    appt = walk_in(clinic, patient, at(10, 7))
    assert (appt.start, appt.end, appt.resources) == (offer.start, offer.end, offer.resources)
