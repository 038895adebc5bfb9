"""Moving an appointment: another time and/or resources, one serializable transaction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import InvalidTransition, SlotTaken, ValidationError
from reception_app.services import patients, scheduling
from reception_app.store.database import Database

NOW = datetime(2027, 1, 1, tzinfo=UTC)
SP = timezone(timedelta(hours=-3))
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)  # Monday 08:00 at Centro
US = "Abdominal ultrasound"


@pytest.fixture
def patient(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="Paula Moreira", birth_date="1970-07-07").id


def book(db, patient_id, start=T0, **kw):
    return scheduling.book(db, branch="Centro", service=US, start=start, patient_id=patient_id, now=NOW, **kw)


def bookings(db, appointment_id):
    return db.read(lambda c: c.execute(text(
        "SELECT r.name, lower(b.period), upper(b.period), b.live FROM booking b JOIN resource r ON r.id = b.resource_id "
        "WHERE b.appointment_id = :a ORDER BY r.name"), {"a": appointment_id}).all())


def test_a_move_keeps_the_resources_and_frees_the_old_time(clinic_db, patient):
    appt = book(clinic_db, patient)
    moved = scheduling.move(clinic_db, appt.id, start=T0 + timedelta(hours=2), now=NOW, reason="patient asked")
    assert moved.before.start == T0 and moved.after.start == T0 + timedelta(hours=2)
    assert moved.after.resources == appt.resources and moved.after.id == appt.id
    rows = bookings(clinic_db, appt.id)
    assert {(lo, hi) for _, lo, hi, _ in rows} == {(T0 + timedelta(hours=2), T0 + timedelta(hours=2, minutes=40))}
    assert book(clinic_db, patient, start=T0).start == T0          # the old time is free again
    audit = clinic_db.read(lambda c: c.execute(text(
        "SELECT DISTINCT reason FROM audit_log WHERE table_name = 'appointment' AND row_id = :a AND action = 'UPDATE'"),
        {"a": appt.id}).scalars().all())
    assert audit == ["patient asked"]


def test_a_move_by_a_quarter_hour_overlapping_its_own_old_time(clinic_db, patient):
    appt = book(clinic_db, patient)
    moved = scheduling.move(clinic_db, appt.id, start=T0 + timedelta(minutes=15), now=NOW)
    assert moved.after.start == T0 + timedelta(minutes=15)


def test_a_move_onto_a_taken_time_names_the_blocker_and_changes_nothing(clinic_db, patient):
    appt = book(clinic_db, patient)
    other = book(clinic_db, patient, start=T0 + timedelta(hours=1))
    before = bookings(clinic_db, appt.id)
    with pytest.raises(SlotTaken) as info:
        scheduling.move(clinic_db, appt.id, start=other.start, now=NOW)
    assert "Ultrasound A" in str(info.value)                        # the only ultrasound is the blocker
    assert bookings(clinic_db, appt.id) == before
    assert scheduling.get_appointment(clinic_db, appt.id).start == T0


def test_a_move_to_another_doctor_at_the_same_time(clinic_db, patient):
    appt = book(clinic_db, patient)
    assert appt.resources["doctor"] == "Ana Souza"
    moved = scheduling.move(clinic_db, appt.id, doctor="Bruno Lima", now=NOW)
    assert moved.after.start == T0 and moved.after.resources["doctor"] == "Bruno Lima"
    assert moved.after.resources["equipment"] == "Ultrasound A"


@pytest.mark.parametrize("start, field_words", [
    (T0 + timedelta(minutes=7), "15-minute grid"),
    (datetime(2027, 1, 4, 8, 0), "UTC offset"),
    (datetime(2027, 1, 4, 13, 0, tzinfo=SP), "opening hours"),       # Ana and Bruno work 08-12
])
def test_a_move_to_a_bad_time_is_refused(clinic_db, patient, start, field_words):
    appt = book(clinic_db, patient)
    with pytest.raises(ValidationError) as info:
        scheduling.move(clinic_db, appt.id, start=start, now=NOW)
    assert field_words in str(info.value)
    assert scheduling.get_appointment(clinic_db, appt.id).start == T0


def test_an_arrived_or_cancelled_appointment_does_not_move(clinic_db, patient):
    arrived = book(clinic_db, patient)
    scheduling.set_status(clinic_db, arrived.id, "checked_in")
    with pytest.raises(InvalidTransition, match="checked in cannot be moved"):
        scheduling.move(clinic_db, arrived.id, start=T0 + timedelta(hours=1), now=NOW)
    gone = book(clinic_db, patient, start=T0 + timedelta(hours=2))
    scheduling.cancel(clinic_db, gone.id, reason="ill", now=NOW)
    with pytest.raises(InvalidTransition):
        scheduling.move(clinic_db, gone.id, start=T0 + timedelta(hours=3), now=NOW)


def test_two_moves_into_one_free_slot_exactly_one_wins(clinic_db, db_url, patient):
    a = book(clinic_db, patient)
    b = book(clinic_db, patient, start=T0 + timedelta(hours=1))
    target = T0 + timedelta(hours=2)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def mover(appointment_id: int) -> None:
        db = Database(db_url)
        barrier.wait(10)
        try:
            scheduling.move(db, appointment_id, start=target, now=NOW)
            outcomes.append("moved")
        except SlotTaken:
            outcomes.append("taken")
        finally:
            db.dispose()

    threads = [threading.Thread(target=mover, args=(x.id,)) for x in (a, b)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sorted(outcomes) == ["moved", "taken"]
    overlaps = clinic_db.read(lambda c: c.execute(text(
        "SELECT count(*) FROM booking x JOIN booking y ON x.resource_id = y.resource_id AND x.id < y.id "
        "WHERE x.live AND y.live AND x.period && y.period")).scalar_one())
    assert overlaps == 0
