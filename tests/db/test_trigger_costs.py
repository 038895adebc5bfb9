"""A booking's triggers do no work that changes nothing (migration 0011), and keep every guarantee.

What a booking fires is counted with PostgreSQL's own per-transaction function counters
(``pg_stat_get_xact_function_calls``, with ``track_functions = all`` for the transaction), inside
the very transaction the booking core writes in (``services/booking.place``, which every way of
booking calls). The owner's login is used because only a superuser may turn the counters on; the
triggers counted here fire the same way for every login.

- no empty UPDATE of ``appointment`` (so none of its statement triggers fire for it): the doctor
  given on insert is right, no hold expired, nothing to correct; ``appointment.doctor_id`` is still
  the booking's doctor;
- a patient reachable on no consented channel gets no reminders and wakes no reminder worker
  (no empty INSERT into ``reminder``); one who consented still gets them, and the wake-up;
- an expired hold in the way is still released (and the release runs no UPDATE when none is);
- the three functions that were planned again on every call keep generic plans.

Test clinic (tests/data/test_clinic.toml): Centro (America/Sao_Paulo), "Abdominal ultrasound".
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import text

from reception_app.services import booking, catalog, patients, scheduling
from reception_app.store.database import Database

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)   # Monday 08:00 local, inside the radiologists' shifts
US = "Abdominal ultrasound"

#: The trigger and helper functions a booking may fire, whose calls the tests count.
COUNTED = ("appointment_plan_reminders_ins()", "appointment_plan_reminders_upd()", "audit_rows()",
           "notify_schedule()", "notify_reminders()", "booking_report_doctor_ins()",
           "clinic_report_doctor_of(bigint[])", "clinic_plan_reminders(bigint[],text[])",
           "clinic_release_expired_holds(integer[],timestamp with time zone,timestamp with time zone)")


def _calls(conn) -> dict[str, int]:
    """This transaction's calls of each function of :data:`COUNTED` (0 when never called)."""
    return {f.split("(")[0]: conn.execute(text(
        "SELECT coalesce(pg_stat_get_xact_function_calls(CAST(:f AS regprocedure)), 0)"),
        {"f": f"public.{f}"}).scalar_one() for f in COUNTED}


def _book_counting(db: Database, patient_id: int, start: datetime = T0) -> tuple[int, dict[str, int]]:
    """Book ``US`` for ``patient_id`` at ``start`` through the booking core in one transaction;
    returns (appointment id, the calls of :data:`COUNTED` made by the booking's statements)."""
    def work(conn):
        conn.execute(text("SET LOCAL track_functions = 'all'"))
        b = catalog.load_branch(conn, "Centro")
        start_utc = booking.check_start(start, b)
        s = catalog.load_service(conn, US)
        option, _names = booking.judge_start(conn, b, s, start_utc, NOW, {})
        assert option is not None
        placed = booking.place(conn, b.id, s, patient_id, option.start, option.end, option.first_combination(),
                               status="confirmed", source="phone", client_id=uuid.uuid4())
        return placed.id, _calls(conn)
    return db.write(work)


def _scalar(db: Database, sql: str, **params):
    return db.read(lambda conn: conn.execute(text(sql), params).scalar_one())


@pytest.fixture
def quiet_patient(clinic_db) -> int:
    """A patient with no contact, so no consented channel reaches them."""
    return patients.add_patient(clinic_db, name="Sem Contato", birth_date="1980-02-03").id


def test_a_booking_fires_no_empty_update_and_keeps_its_doctor(clinic_db, quiet_patient):
    appt, calls = _book_counting(clinic_db, quiet_patient)
    # one audit call per INSERT (appointment, bookings); none for an UPDATE that changed nothing
    assert calls["audit_rows"] == 2
    assert calls["notify_schedule"] == 1
    assert calls["appointment_plan_reminders_upd"] == 0      # no UPDATE of appointment at all
    assert calls["booking_report_doctor_ins"] == 1
    assert calls["clinic_report_doctor_of"] == 0             # nothing to correct: not called
    assert calls["clinic_release_expired_holds"] == 1
    # appointment.doctor_id is still the lowest doctor among its bookings
    assert _scalar(clinic_db, """
        SELECT a.doctor_id = (SELECT min(b.resource_id) FROM booking b JOIN resource r ON r.id = b.resource_id
                               WHERE b.appointment_id = a.id AND r.kind = 'doctor')
          FROM appointment a WHERE a.id = :a""", a=appt)


def test_a_wrong_doctor_given_on_insert_is_still_corrected(clinic_db, quiet_patient):
    """The UPDATEs now run only when needed: one that is needed still runs."""
    _appt, _calls_ = _book_counting(clinic_db, quiet_patient)
    room = _scalar(clinic_db, "SELECT min(id) FROM resource WHERE kind = 'room'")
    doctor = _scalar(clinic_db, "SELECT min(id) FROM resource WHERE kind = 'doctor'")

    def work(conn):
        # as a bulk load would: the doctor column names a doctor none of the bookings names
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        appt = conn.execute(text("""
            INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source,
                                     doctor_id)
            SELECT :p, s.id, b.id, 'completed', '2026-06-01 12:00Z', '2026-06-01 12:30Z', 'import', :d
              FROM service s, branch b WHERE s.name = :svc AND b.name = 'Centro' RETURNING id"""),
            {"p": quiet_patient, "svc": US, "d": doctor}).scalar_one()
        other = conn.execute(text("SELECT max(id) FROM resource WHERE kind = 'doctor'")).scalar_one()
        assert other != doctor
        conn.execute(text("""
            INSERT INTO booking (appointment_id, resource_id, period)
            SELECT :a, r, tstzrange('2026-06-01 12:00Z', '2026-06-01 12:40Z') FROM unnest(CAST(:rs AS integer[])) r"""),
            {"a": appt, "rs": [other, room]})
        return appt, other
    appt, other = clinic_db.write(work)
    assert _scalar(clinic_db, "SELECT doctor_id FROM appointment WHERE id = :a", a=appt) == other


def test_no_consented_channel_queues_nothing_and_wakes_no_worker(clinic_db, quiet_patient):
    appt, calls = _book_counting(clinic_db, quiet_patient)
    assert calls["appointment_plan_reminders_ins"] == 1
    assert calls["notify_reminders"] == 0                    # no empty INSERT into reminder
    assert _scalar(clinic_db, "SELECT count(*) FROM reminder WHERE appointment_id = :a", a=appt) == 0


def test_a_consenting_patient_still_gets_reminders_and_the_wake_up(clinic_db, db_url):
    pid = patients.add_patient(clinic_db, name="Com Contato", birth_date="1980-02-03",
                               phone="+5527999990001", channels=["sms"]).id
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN clinic_reminders")
        appt, calls = _book_counting(clinic_db, pid)
        woken = [n.channel for n in listener.notifies(timeout=5, stop_after=1)]
    assert calls["notify_reminders"] == 1
    assert woken == ["clinic_reminders"]
    assert _scalar(clinic_db, """SELECT count(*) FROM reminder
                                  WHERE appointment_id = :a AND purpose = 'confirmation' AND channel = 'sms'""",
                   a=appt) == 1


def test_releasing_no_expired_hold_updates_nothing(clinic_db):
    def work(conn):
        conn.execute(text("SET LOCAL track_functions = 'all'"))
        n = catalog.release_expired_holds(conn)
        return n, _calls(conn)
    n, calls = clinic_db.write(work)
    assert n == 0
    assert calls["audit_rows"] == calls["notify_schedule"] == calls["appointment_plan_reminders_upd"] == 0


def test_an_expired_hold_in_the_way_is_still_released(clinic_db, quiet_patient):
    held = scheduling.book(clinic_db, branch="Centro", service=US, start=T0, patient_id=quiet_patient,
                           now=NOW, status="held")
    assert held.status == "held"
    # the hold expires (the owner may rewrite its expiry; the desk cannot)
    clinic_db.write(lambda conn: conn.execute(text(
        "UPDATE appointment SET hold_expires_at = now() - interval '1 minute' WHERE id = :a"), {"a": held.id}))
    other = patients.add_patient(clinic_db, name="Outra Pessoa", birth_date="1990-01-01").id
    appt, calls = _book_counting(clinic_db, other)
    assert appt != held.id
    assert calls["clinic_release_expired_holds"] == 1
    assert _scalar(clinic_db, "SELECT status FROM appointment WHERE id = :a", a=held.id) == "cancelled"


@pytest.mark.parametrize("function", [
    "clinic_availability(integer,integer,timestamp with time zone,timestamp with time zone)",
    "clinic_plan_reminders(bigint[],text[])",
    "clinic_report_doctor_of(bigint[])",
])
def test_the_replanned_functions_keep_generic_plans(clinic_db, function):
    config = _scalar(clinic_db, "SELECT proconfig FROM pg_proc WHERE oid = CAST(:f AS regprocedure)",
                     f=f"public.{function}")
    assert "plan_cache_mode=force_generic_plan" in config
