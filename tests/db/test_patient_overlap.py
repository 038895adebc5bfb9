"""A patient is in one place at a time (issue 14, section 2; constraint ``appointment_patient_no_overlap``,
migration 0009): every path that creates or moves an appointment refuses a second live appointment of
the same patient overlapping the first, with a ``PatientBusy`` naming the first, and writes nothing.

The issue's case — an ultrasound with one doctor in one room, then a consultation at the same time with
another doctor in another room — at the test clinic's Centro (UTC-3 in 2027): "Abdominal ultrasound"
(30 min) on Monday 2027-01-04 08:00 with Ana Souza in Imaging 1; the tests add a general practitioner
(Davi Costa, Mon-Tue 08-12 at Centro) and a consultation room (Consult 1), so "Consultation" (15 min)
can be booked there with other resources.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import PatientBusy, SlotTaken, ValidationError
from reception_app.services import clinic_config, overrides, patients, scheduling, series, visits
from reception_app.services.visits import VisitPart

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
US = "Abdominal ultrasound"
CONSULT = "Consultation"


def at(hour: int, minute: int = 0, day: int = 4) -> datetime:
    return datetime(2027, 1, day, hour, minute, tzinfo=SP)


@pytest.fixture
def clinic(clinic_db):
    clinic_config.apply(clinic_db, {
        "doctor": [{"name": "Davi Costa", "specialty": "general practice",
                    "shifts": [{"branch": "Centro", "days": ["mon", "tue"], "hours": ["08:00-12:00"]}]}],
        "room": [{"name": "Consult 1", "branch": "Centro", "kind": "consultation"}]})
    return clinic_db


@pytest.fixture
def patient(clinic) -> int:
    return patients.add_patient(clinic, name="Maria da Silva", birth_date="1980-02-03").id


@pytest.fixture
def ultrasound(clinic, patient) -> scheduling.AppointmentView:
    """The patient's ultrasound, Monday 08:00-08:30 with Ana Souza in Imaging 1."""
    return book(clinic, patient, US, at(8))


def book(db, patient_id: int, service: str, start: datetime, **kw) -> scheduling.AppointmentView:
    return scheduling.book(db, **{"branch": "Centro", "service": service, "start": start, "patient_id": patient_id,
                                  "now": NOW, **kw})


def written(db) -> tuple:
    """What a refused call must leave as it was: every appointment's time and status, and the counts."""
    def work(conn):
        rows = [tuple(r) for r in conn.execute(text(
            "SELECT id, starts_at, ends_at, status FROM appointment ORDER BY id"))]
        counts = conn.execute(text("SELECT (SELECT count(*) FROM booking), (SELECT count(*) FROM visit), "
                                   "(SELECT count(*) FROM series), (SELECT count(*) FROM audit_log), "
                                   "(SELECT count(*) FROM override_log)")).one()
        return rows, tuple(counts)
    return db.read(work)


def assert_names(exc: PatientBusy, first: scheduling.AppointmentView) -> None:
    """The refusal names the appointment in the way: its id, service, local time and resources."""
    message = str(exc)
    assert exc.appointment_id == first.id
    assert f"appointment {first.id}" in message
    assert "Maria da Silva already has Abdominal ultrasound at Mon 04/01/2027 08:00–08:30" in message
    assert "Ana Souza" in message and "Imaging 1" in message
    assert "two places at once" in message


def test_book_refuses_an_overlapping_consultation_with_other_resources_naming_the_ultrasound(
        clinic, patient, ultrasound):
    assert ultrasound.resources["doctor"] == "Ana Souza" and ultrasound.resources["room"] == "Imaging 1"
    before = written(clinic)
    for start in (at(8), at(8, 15)):
        with pytest.raises(PatientBusy) as info:
            book(clinic, patient, CONSULT, start)
        assert_names(info.value, ultrasound)
        assert isinstance(info.value, SlotTaken)  # screens that handle SlotTaken keep working
    assert written(clinic) == before
    # Back to back is fine (end exclusive), and the rule is per patient: someone else may take 08:00.
    later = book(clinic, patient, CONSULT, at(8, 30))
    assert later.resources == {"doctor": "Davi Costa", "room": "Consult 1"}
    other = patients.add_patient(clinic, name="João Pereira", birth_date="1975-11-02").id
    assert book(clinic, other, CONSULT, at(8)).start == at(8)


def test_a_hold_counts_as_the_patient_being_there(clinic, patient):
    held = scheduling.hold(clinic, branch="Centro", service=US, start=at(8), patient_id=patient, now=NOW)
    with pytest.raises(PatientBusy) as info:
        book(clinic, patient, CONSULT, at(8))
    assert info.value.appointment_id == held.id


def test_move_refuses_onto_the_patients_other_appointment_and_moves_nothing(clinic, patient, ultrasound):
    consult = book(clinic, patient, CONSULT, at(9))
    before = written(clinic)
    with pytest.raises(PatientBusy) as info:
        scheduling.move(clinic, consult.id, start=at(8), now=NOW)
    assert_names(info.value, ultrasound)
    assert written(clinic) == before
    assert scheduling.get_appointment(clinic, consult.id).start == at(9)
    # Moving the ultrasound a quarter later overlaps only itself: fine.
    assert scheduling.move(clinic, ultrasound.id, start=at(8, 15), now=NOW).after.start == at(8, 15)


def test_find_slots_for_the_patient_leaves_out_the_starts_that_overlap(clinic, patient, ultrasound):
    def starts(**kw):
        return [o.start for o in scheduling.find_slots(clinic, branch="Centro", service=CONSULT,
                                                       local_date="2027-01-04", now=NOW, **kw)]
    everyone = starts()
    hers = starts(patient_id=patient)
    assert at(8) in everyone and at(8, 15) in everyone
    assert at(8) not in hers and at(8, 15) not in hers
    assert hers == [s for s in everyone if s not in (at(8), at(8, 15))]
    assert hers[0] == at(8, 30)


def test_a_visit_whose_parts_overlap_is_refused(clinic, patient):
    before = written(clinic)
    with pytest.raises(ValidationError) as info:
        visits.book_visit(clinic, branch="Centro", patient_id=patient, now=NOW,
                          parts=[VisitPart(US, at(8)), VisitPart(CONSULT, at(8, 15))])
    assert info.value.field == "parts[1].start" and "two places at once" in info.value.problem
    assert written(clinic) == before


def test_a_visit_part_overlapping_another_appointment_is_refused_naming_both(clinic, patient, ultrasound):
    before = written(clinic)
    with pytest.raises(PatientBusy) as info:
        visits.book_visit(clinic, branch="Centro", patient_id=patient, now=NOW,
                          parts=[VisitPart(CONSULT, at(9)), VisitPart(CONSULT, at(8, 15))])
    assert str(info.value).startswith("Part 2 (Consultation at Mon 04/01/2027 08:15)")
    assert_names(info.value, ultrasound)
    assert "Nothing was booked" in str(info.value)
    assert written(clinic) == before


def test_a_reschedule_to_an_overlapping_later_start_of_the_same_appointment_works(clinic, patient, ultrasound):
    result = scheduling.reschedule(clinic, ultrasound.id, start=at(8, 15), now=NOW)
    assert result.old.status == "rescheduled"
    assert (result.new.start, result.new.status, result.new.patient_id) == (at(8, 15), "confirmed", patient)


def test_a_reschedule_onto_the_patients_other_appointment_is_refused(clinic, patient, ultrasound):
    consult = book(clinic, patient, CONSULT, at(10))
    before = written(clinic)
    with pytest.raises(PatientBusy) as info:
        scheduling.reschedule(clinic, consult.id, start=at(8, 15), now=NOW)
    assert_names(info.value, ultrasound)
    assert written(clinic) == before


def test_a_walk_in_while_the_patient_is_booked_elsewhere_is_refused(clinic, patient, ultrasound):
    before = written(clinic)
    with pytest.raises(PatientBusy) as info:  # 08:05 is floored to 08:00, inside the ultrasound
        scheduling.walk_in(clinic, branch="Centro", service=CONSULT, patient_id=patient, now=at(8, 5))
    assert_names(info.value, ultrasound)
    assert written(clinic) == before


def test_a_series_occurrence_overlapping_the_patients_appointment_is_not_free(clinic, patient):
    tuesday = book(clinic, patient, US, at(9, day=5))
    plan = series.plan_series(clinic, branch="Centro", service=CONSULT, patient_id=patient,
                              rrule="FREQ=WEEKLY;BYDAY=TU", first_date="2027-01-05", local_start="09:00", count=2,
                              now=NOW)
    first, second = plan.occurrences
    assert not first.free and second.free
    assert f"appointment {tuesday.id}" in first.conflict and "Abdominal ultrasound" in first.conflict
    assert first.alternatives and all(not (a.start < tuesday.end and tuesday.start < a.end)
                                      for a in first.alternatives)
    before = written(clinic)
    with pytest.raises(SlotTaken) as info:
        series.book_series(clinic, plan, mode="all_or_nothing", now=NOW)
    assert f"appointment {tuesday.id}" in str(info.value)
    assert written(clinic) == before
    booked = series.book_series(clinic, plan, mode="free_only", now=NOW)
    assert [a.start for a in booked.live] == [at(9, day=12)]
    assert booked.not_booked == (first.series_date,)


def test_an_override_never_puts_the_patient_in_two_places(clinic, patient, ultrasound, login):
    _name, manager = login("manager")
    consult = book(clinic, patient, CONSULT, at(11))
    before = written(clinic)
    with pytest.raises(PatientBusy) as info:
        overrides.force_book(manager, branch="Centro", service=CONSULT, start=at(8), patient_id=patient,
                             doctor="Davi Costa", reason="squeeze in", now=NOW)
    assert_names(info.value, ultrasound)
    with pytest.raises(PatientBusy) as info:
        overrides.force_move(manager, consult.id, start=at(8, 15), reason="squeeze in", now=NOW)
    assert_names(info.value, ultrasound)
    assert written(clinic) == before
