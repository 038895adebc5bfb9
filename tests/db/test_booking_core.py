"""The booking core (``services.booking``) used directly inside a caller's transaction, as a new
front door would: it checks, judges, explains, places and changes status, and never commits.

Test clinic (tests/data/test_clinic.toml): Centro (America/Sao_Paulo, UTC-3 in January);
"Abdominal ultrasound" (30 min, 10 min buffer after, 60 min notice, 365 days horizon) needs a
radiologist (Ana Souza, Bruno Lima: Mon-Tue 08-12 local), an imaging room and Ultrasound A.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import (
    InvalidTransition,
    NotFound,
    OutsideHours,
    PatientBusy,
    SlotTaken,
    ValidationError,
)
from reception_app.services import appointments, booking, catalog, patients, scheduling

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
MONDAY = date(2027, 1, 4)
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)  # 11:00Z
US = "Abdominal ultrasound"


class _Rollback(Exception):
    """Raised at the end of a unit of work to throw the transaction away."""


@pytest.fixture
def patient(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="Maria da Silva", birth_date="1980-02-03",
                                phone="+5527999990000").id


def _count(db, table: str) -> int:
    return db.read(lambda c: c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _inputs(conn):
    return catalog.load_branch(conn, "Centro"), catalog.load_service(conn, US)


def test_check_start_and_timing_problem(clinic_db):
    b, s = clinic_db.read(_inputs)
    assert booking.check_start(T0, b) == datetime(2027, 1, 4, 11, 0, tzinfo=UTC)
    with pytest.raises(ValidationError, match="15-minute grid"):
        booking.check_start(T0 + timedelta(minutes=5), b)
    with pytest.raises(ValidationError):
        booking.check_start(datetime(2027, 1, 4, 8, 0), b)  # no offset
    assert booking.timing_problem(T0, b, s, NOW) is None
    assert booking.timing_problem(NOW - timedelta(minutes=15), b, s, NOW) == "is in the past"
    assert "minimum notice of 60 minutes" in booking.timing_problem(NOW + timedelta(minutes=30), b, s, NOW)
    assert booking.timing_problem(NOW + timedelta(minutes=30), b, s, NOW, notice=False) is None
    assert "horizon of 365 days" in booking.timing_problem(NOW + timedelta(days=400), b, s, NOW)
    assert booking.occupied_span(s, T0) == (T0, T0 + timedelta(minutes=40))


def test_judge_place_and_change_status_inside_one_transaction_that_the_caller_rolls_back(clinic_db, patient):
    before = _count(clinic_db, "appointment"), _count(clinic_db, "booking")
    seen = {}

    def work(conn):
        b, s = _inputs(conn)
        start = booking.check_start(T0, b)
        pinned = booking.resolve_pins(conn, s, {"doctor": "Bruno Lima", "room": None})
        option, names = booking.judge_start(conn, b, s, start, NOW, pinned)
        assert option is not None and option.start == start
        chosen = option.first_combination()
        assert names[chosen["doctor"]] == "Bruno Lima"
        cid = uuid.uuid4()
        placed = booking.place(conn, b.id, s, patient, option.start, option.end, chosen, status="confirmed",
                               source="phone", client_id=cid)
        assert placed is not None and placed.patient == "Maria da Silva" and placed.hold_expires_at is None
        # The same client id again: nothing written, and the earlier attempt is found by it.
        assert booking.place(conn, b.id, s, patient, option.start, option.end, chosen, status="confirmed",
                             source="phone", client_id=cid) is None
        assert booking.booked_by_client(conn, cid, patient, s.id, start) == placed.id
        with pytest.raises(ValidationError, match="already used"):
            booking.booked_by_client(conn, cid, patient, s.id, start + timedelta(minutes=15))
        # What this transaction wrote counts: the start is taken now, and the core says by whom.
        again, _ = booking.judge_start(conn, b, s, start, NOW, pinned)
        assert again is None
        why = booking.explain_unavailable(conn, b, s, start, NOW, pinned)
        assert isinstance(why, SlotTaken) and str(why) == "Bruno Lima has Maria da Silva (Abdominal ultrasound) 08:00–08:30."
        busy = booking.patient_conflict(conn, patient, start, start + timedelta(minutes=30))
        assert isinstance(busy, PatientBusy) and busy.appointment_id == placed.id
        assert booking.current_resources(conn, placed.id) == chosen
        view = appointments.read_appointment(conn, placed.id)
        assert (view.start, view.status, view.resources["doctor"]) == (start, "confirmed", "Bruno Lima")
        # Status through the lifecycle's rules.
        status = booking.lock_status(conn, placed.id)
        assert status == "confirmed"
        with pytest.raises(InvalidTransition):
            booking.change_status(conn, placed.id, "completed", "skipping steps", current=status)
        booking.change_status(conn, placed.id, "checked_in", "arrived", current=status)
        assert booking.lock_status(conn, placed.id) == "checked_in"
        with pytest.raises(InvalidTransition, match="cannot be moved"):
            booking.check_movable("checked_in")
        seen["id"] = placed.id
        raise _Rollback

    with pytest.raises(_Rollback):
        clinic_db.write(work, reason="core test")
    # The core never committed: the caller's rollback took everything away.
    assert (_count(clinic_db, "appointment"), _count(clinic_db, "booking")) == before
    with pytest.raises(NotFound):
        appointments.get_appointment(clinic_db, seen["id"])


def test_rebook_moves_time_and_bookings(clinic_db, patient):
    appt = scheduling.book(clinic_db, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW)
    later = T0 + timedelta(hours=1)

    def work(conn):
        b, s = _inputs(conn)
        option, _ = booking.judge_start(conn, b, s, later, NOW, {}, prefer=booking.current_resources(conn, appt.id),
                                        exclude_appointment=appt.id)
        assert option is not None
        booking.rebook(conn, appt.id, s, option.start, option.end, option.first_combination())

    clinic_db.write(work, reason="moved by the core test")
    moved = appointments.get_appointment(clinic_db, appt.id)
    assert (moved.start, moved.end) == (later, later + timedelta(minutes=30))
    assert moved.resources == appt.resources
    periods = clinic_db.read(lambda c: c.execute(text(
        "SELECT DISTINCT lower(period), upper(period) FROM booking WHERE appointment_id = :a"),
        {"a": appt.id}).all())
    assert [tuple(p) for p in periods] == [(later, later + timedelta(minutes=40))]


def test_explain_unavailable_in_words(clinic_db):
    def work(conn):
        b, s = _inputs(conn)
        closed = booking.explain_unavailable(conn, b, s, datetime(2027, 1, 4, 20, 0, tzinfo=UTC), NOW, {})
        past = booking.explain_unavailable(conn, b, s, NOW - timedelta(hours=1), NOW, {})
        return closed, past

    closed, past = clinic_db.read(work)
    assert isinstance(closed, OutsideHours) and "outside the branch's opening hours" in closed.problem
    assert isinstance(closed, ValidationError) and closed.field == "start"
    assert isinstance(past, ValidationError) and past.problem == "is in the past"


def test_resolve_pins_reports_names_and_kinds(clinic_db):
    def work(conn):
        _, s = _inputs(conn)
        assert booking.resolve_pins(conn, s, {"doctor": None}) == {}
        with pytest.raises(NotFound):
            booking.resolve_pins(conn, s, {"doctor": "Nobody"})
        consult = catalog.load_service(conn, "Consultation")
        with pytest.raises(ValidationError, match="does not need a equipment"):
            booking.resolve_pins(conn, consult, {"equipment": "Ultrasound A"}, field_prefix="parts[0].")

    clinic_db.read(work)


def test_scheduling_keeps_its_public_names():
    """Screens and the CLI import these from ``scheduling``: they are the core's and the read model's."""
    assert scheduling.AppointmentView is appointments.AppointmentView
    assert scheduling.SlotOffer is booking.SlotOffer
    assert scheduling.MOVABLE_STATUSES is booking.MOVABLE_STATUSES
    assert scheduling.get_appointment is appointments.get_appointment
    assert scheduling.list_appointments is appointments.list_appointments
    assert scheduling.appointments_on is appointments.appointments_on
    assert scheduling.patient_conflict is booking.patient_conflict
