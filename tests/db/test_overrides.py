"""Overrides with a record (services.overrides): forced bookings and moves, each logged with a reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import PatientBusy, PermissionDenied, SlotTaken, ValidationError
from reception_app.services import overrides, patients, scheduling

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
MON = date(2027, 1, 4)
THU = date(2027, 1, 7)
US = "Abdominal ultrasound"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SP)


@pytest.fixture
def patient(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-09-09", phone="+5511987654321").id


@pytest.fixture
def boss(login):
    return login("manager")[1]


def force(db, patient_id, start, doctor="Ana Souza", reason="urgent: flies out tomorrow", **kw):
    return overrides.force_book(db, branch="Centro", service=US, start=start, patient_id=patient_id,
                                doctor=doctor, reason=reason, now=kw.pop("now", NOW), **kw)


def test_a_forced_booking_outside_the_shift_is_booked_and_logged(clinic_db, patient, boss):
    # Thursday: Ana has no shift; the slot engine offers nothing.
    assert scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date=THU, doctor="Ana Souza",
                                 now=NOW) == []
    appt = force(boss, patient, at(THU, 14))
    assert (appt.start, appt.resources["doctor"], appt.resources["room"]) == (at(THU, 14), "Ana Souza", "Imaging 1")
    log = overrides.overrides_log(clinic_db)
    assert [(e.kind, e.appointment_id, e.patient, e.reason) for e in log] == [
        ("outside_shift", appt.id, "Joana Prado", "urgent: flies out tomorrow")]
    assert log[0].who.startswith("t_manager_") and log[0].what == "Outside the doctor's shift"


def test_a_forced_booking_over_leave_at_short_notice_logs_each_rule(clinic_db, patient, boss):
    leave_day = date(2027, 3, 1)  # Ana's leave (test clinic) covers 2027-03-01..07
    now = at(leave_day, 7, 30).astimezone(UTC)
    appt = force(boss, patient, at(leave_day, 8), now=now)
    kinds = sorted(e.kind for e in overrides.overrides_log(clinic_db) if e.appointment_id == appt.id)
    assert kinds == ["notice", "time_off"]


def test_nothing_forces_two_bookings_of_one_doctor_to_overlap(clinic_db, patient, boss):
    other = patients.add_patient(clinic_db, name="Rui Prado", birth_date="1991-01-01").id
    first = force(boss, patient, at(THU, 14))
    with pytest.raises(SlotTaken) as taken:      # the exclusion constraint refuses it
        force(boss, other, at(THU, 14, 15), room="Imaging 2", equipment="Ultrasound A")
    assert taken.value.resource in ("Ana Souza", "Ultrasound A")
    with pytest.raises(SlotTaken, match="No equipment"):  # nothing free to pick: refused before writing
        force(boss, other, at(THU, 14, 15), room="Imaging 2")
    assert [e.appointment_id for e in overrides.overrides_log(clinic_db)] == [first.id]
    count = clinic_db.read(lambda c: c.execute(text("SELECT count(*) FROM appointment")).scalar_one())
    assert count == 1


def test_only_managers_override_and_a_reason_is_required(clinic_db, patient, boss, login):
    _, desk = login("reception")
    with pytest.raises(PermissionDenied):
        force(desk, patient, at(THU, 14))
    with pytest.raises(ValidationError) as empty:
        force(boss, patient, at(THU, 14), reason="   ")
    assert empty.value.field == "reason"
    with pytest.raises(ValidationError) as wrong:
        overrides.force_book(boss, branch="Centro", service=US, start=at(THU, 14), patient_id=patient,
                             doctor="Clara Weiss", reason="x", now=NOW)
    assert wrong.value.field == "doctor"
    with pytest.raises(ValidationError, match="past"):
        force(boss, patient, at(THU, 14), now=at(THU, 15).astimezone(UTC))
    assert overrides.overrides_log(clinic_db) == []


def test_a_forced_move_and_change_of_doctor_are_logged_with_the_rules_skipped(clinic_db, patient, boss):
    appt = scheduling.book(clinic_db, branch="Centro", service=US, start=at(MON, 8), patient_id=patient,
                           doctor="Ana Souza", now=NOW)
    moved = overrides.force_move(boss, appt.id, start=at(MON, 15), reason="doctor asked", now=NOW)
    assert moved.before.start == at(MON, 8) and moved.after.start == at(MON, 15)
    assert moved.after.resources["room"] == appt.resources["room"]        # kept where free
    changed = overrides.force_move(boss, appt.id, doctor="Bruno Lima", reason="Ana ill", now=NOW)
    assert changed.after.resources["doctor"] == "Bruno Lima"
    log = overrides.overrides_log(clinic_db)
    assert [(e.kind, e.reason) for e in log] == [("change_doctor", "Ana ill"), ("move", "doctor asked")]
    assert log[1].detail["skipped"] == ["outside_shift"] and log[1].detail["to"].startswith("2027-01-04T18:00")
    # A date filter (UTC bounds) keeps only what happened inside it.
    assert overrides.overrides_log(clinic_db, until=datetime(2000, 1, 1, tzinfo=UTC)) == []
    with pytest.raises(ValidationError):
        overrides.force_move(boss, appt.id, reason="nothing", now=NOW)


def test_a_parallel_appointment_of_one_patient_goes_only_through_the_logged_override(clinic_db, patient, boss,
                                                                                     login):
    """A patient is in one place at a time (migration 0009); a companion or a visit's parallel parts are a
    manager's deliberate, logged exception — never the override setting alone, never reception."""
    first = scheduling.book(clinic_db, branch="Centro", service=US, start=at(MON, 8), patient_id=patient,
                            doctor="Ana Souza", now=NOW)
    clinic_config_equipment(clinic_db)      # a second ultrasound: only the patient is in the way
    with pytest.raises(PatientBusy, match="already has Abdominal ultrasound"):   # the override alone: refused
        force(boss, patient, at(MON, 8), doctor="Bruno Lima", room="Imaging 2", equipment="Ultrasound B")
    _, desk = login("reception")
    with pytest.raises(PermissionDenied):
        force(desk, patient, at(MON, 8), doctor="Bruno Lima", room="Imaging 2", equipment="Ultrasound B",
              parallel=True)
    with pytest.raises(PermissionDenied):   # and not with raw SQL either
        desk.write(lambda c: c.execute(text("UPDATE appointment SET parallel = true WHERE id = :i"), {"i": first.id}))
    second = force(boss, patient, at(MON, 8), doctor="Bruno Lima", room="Imaging 2", equipment="Ultrasound B",
                   parallel=True, reason="companion: mother and daughter together")
    assert second.start == first.start and second.resources["doctor"] == "Bruno Lima"
    kinds = [(e.kind, e.appointment_id, e.reason) for e in overrides.overrides_log(clinic_db)]
    assert ("patient_overlap", second.id, "companion: mother and daughter together") in kinds


def clinic_config_equipment(db) -> None:
    from reception_app.services import clinic_config

    clinic_config.apply(db, {"equipment": [{"name": "Ultrasound B", "branch": "Centro", "kind": "ultrasound"}]})
