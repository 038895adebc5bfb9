"""Races: many workstations book at the same moment; the database lets exactly one win.

Each thread (or process) has its own ``Database`` (own connections), all are
released together by a barrier, and every attempt goes through
``services.scheduling.book`` (one SERIALIZABLE transaction with retries).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg import errors as pgerr
from sqlalchemy import text

from reception_app.domain.errors import SlotTaken, ValidationError
from reception_app.services import patients, scheduling
from reception_app.store.database import Database

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)  # Monday 08:00 Sao Paulo
US = "Abdominal ultrasound"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def patient(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="Race Patient", birth_date="1975-07-07").id


def overlapping_live_pairs(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM booking a JOIN booking b ON a.resource_id = b.resource_id AND a.id < b.id "
            "WHERE a.live AND b.live AND a.period && b.period").fetchone()[0]


def live_count(db_url: str) -> tuple[int, int]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM appointment), "
                            "(SELECT count(*) FROM booking WHERE live)").fetchone()


def run_together(db_url: str, jobs: list[dict]) -> list[object]:
    """Run one ``book`` per job in its own thread with its own Database, released by a barrier.
    Returns, per job, the AppointmentView or the exception raised."""
    barrier = threading.Barrier(len(jobs))
    databases = [Database(db_url, pool_size=1) for _ in jobs]

    def attempt(i: int) -> object:
        db = databases[i]
        db.read(lambda conn: None)  # connect before the barrier: start as close together as possible
        barrier.wait(timeout=30)
        try:
            return scheduling.book(db, **jobs[i])
        except Exception as exc:  # collected and asserted on by the test
            return exc

    try:
        with ThreadPoolExecutor(len(jobs)) as pool:
            return list(pool.map(attempt, range(len(jobs))))
    finally:
        for db in databases:
            db.dispose()


# -- threads ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 8])
def test_threads_booking_the_same_slot_one_wins(clinic_db, db_url, patient, n):
    job = dict(branch="Centro", service=US, start=T0, patient_id=patient, now=NOW)
    results = run_together(db_url, [job] * n)
    won = [r for r in results if isinstance(r, scheduling.AppointmentView)]
    lost = [r for r in results if isinstance(r, SlotTaken)]
    assert len(won) == 1, results
    assert len(lost) == n - 1, results
    # Each loser is told which of the winner's resources was in its way (the ultrasound when
    # the slot search saw the winner's booking; the first conflicting row when the constraint did).
    # Under heavy load a loser's conflict may also outlive the retries: then it is the generic
    # "someone else changed this time" SlotTaken, which names no resource (also correct).
    winner = set(won[0].resources.values())
    assert all(e.resource in winner or (e.resource is None and "Someone else changed" in str(e))
               for e in lost), [str(e) for e in lost]
    assert live_count(db_url) == (1, 3)
    assert overlapping_live_pairs(db_url) == 0


def test_threads_with_different_doctors_still_collide_on_the_one_ultrasound(clinic_db, db_url, patient):
    base = dict(branch="Centro", service=US, start=T0, patient_id=patient, now=NOW)
    jobs = [dict(base, doctor="Ana Souza", room="Imaging 1"), dict(base, doctor="Bruno Lima", room="Imaging 2"),
            dict(base, doctor="Ana Souza", room="Imaging 2"), dict(base, doctor="Bruno Lima", room="Imaging 1")]
    results = run_together(db_url, jobs)
    assert sum(isinstance(r, scheduling.AppointmentView) for r in results) == 1, results
    assert sum(isinstance(r, SlotTaken) for r in results) == 3, results
    assert overlapping_live_pairs(db_url) == 0


def test_threads_booking_different_free_slots_all_succeed(clinic_db, db_url, patient):
    # Five non-overlapping starts (40 occupied minutes each) on each of Monday and Tuesday:
    # the same single ultrasound, doctor and room, so the transactions conflict and retry.
    starts = [datetime(2027, 1, d, 8, 0, tzinfo=SP) + timedelta(minutes=45 * k)
              for d in (4, 5) for k in range(5)]
    jobs = [dict(branch="Centro", service=US, start=s, patient_id=patient, now=NOW) for s in starts]
    results = run_together(db_url, jobs)
    assert all(isinstance(r, scheduling.AppointmentView) for r in results), results
    assert sorted(r.start for r in results) == sorted(s.astimezone(UTC) for s in starts)
    assert live_count(db_url) == (10, 30)
    assert overlapping_live_pairs(db_url) == 0


def test_threads_booking_adjacent_quarter_hours_of_one_room(clinic_db, db_url, patient):
    # Berlin: one doctor, one room, 15-minute consultations, no buffers: 8 back-to-back slots.
    first = datetime(2027, 1, 3, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    jobs = [dict(branch="Berlin", service="Consultation", start=first + timedelta(minutes=15 * k),
                 patient_id=patient, now=NOW) for k in range(8)]
    results = run_together(db_url, jobs)
    assert all(isinstance(r, scheduling.AppointmentView) for r in results), results
    assert live_count(db_url) == (8, 16)
    assert overlapping_live_pairs(db_url) == 0


def test_threads_retrying_with_one_client_id_make_one_appointment(clinic_db, db_url, patient):
    job = dict(branch="Centro", service=US, start=T0, patient_id=patient, now=NOW,
               client_id="6f1c1c3e-8e1a-4a57-9d4c-2c1f0b0d9a01")
    results = run_together(db_url, [job] * 4)
    assert all(isinstance(r, scheduling.AppointmentView) for r in results), results
    assert len({r.id for r in results}) == 1
    assert live_count(db_url) == (1, 3)


# -- processes ----------------------------------------------------------------------------
WORKER = r"""
import json, sys
from datetime import datetime, timezone
from reception_app.domain.errors import SlotTaken, ValidationError
from reception_app.services import scheduling
from reception_app.store.database import Database

url, patient, start = sys.argv[1], int(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
db = Database(url, pool_size=1)
db.read(lambda conn: None)
print("ready", flush=True)
sys.stdin.readline()                       # the barrier: the parent releases everyone at once
try:
    a = scheduling.book(db, branch="Centro", service="Abdominal ultrasound", start=start, patient_id=patient,
                        now=datetime(2027, 1, 1, tzinfo=timezone.utc))
    print(json.dumps({"won": a.id}))
except SlotTaken as exc:
    print(json.dumps({"taken": exc.resource}))
"""


def test_processes_booking_the_same_slot_one_wins(clinic_db, db_url, patient):
    n = 4
    env = {k: v for k, v in os.environ.items() if k != "CLINIC_DATABASE_URL"}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, db_url, str(patient), T0.isoformat()],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT, env=env) for _ in range(n)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outcomes = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert sum("won" in o for o in outcomes) == 1, outcomes
    assert all(o["taken"] in ("Ana Souza", "Imaging 1", "Ultrasound A") for o in outcomes if "taken" in o)
    assert live_count(db_url) == (1, 3)
    assert overlapping_live_pairs(db_url) == 0


# -- raw SQL writers ---------------------------------------------------------------------
@pytest.fixture
def two_appointments(clinic_db, db_url, patient) -> tuple[int, int, int]:
    """Two appointments at the same time, of two patients (no bookings yet), and the ultrasound's id."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        res = conn.execute("SELECT id FROM resource WHERE name = 'Ultrasound A'").fetchone()[0]
        second = conn.execute("INSERT INTO patient (display_name) VALUES ('Second Patient') RETURNING id").fetchone()[0]
        ids = [conn.execute(
            "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source) "
            "SELECT %s, s.id, b.id, 'confirmed', %s, %s, 'phone' FROM service s, branch b "
            "WHERE s.name = %s AND b.name = 'Centro' RETURNING id",
            (who, T0, T0 + timedelta(minutes=30), US)).fetchone()[0] for who in (patient, second)]
    return ids[0], ids[1], res


def _insert_booking(conn: psycopg.Connection, appointment_id: int, resource_id: int) -> None:
    conn.execute("INSERT INTO booking (appointment_id, resource_id, period) VALUES (%s, %s, tstzrange(%s, %s))",
                 (appointment_id, resource_id, T0, T0 + timedelta(minutes=40)))


ISOLATION = {"serializable": psycopg.IsolationLevel.SERIALIZABLE,
             "read committed": psycopg.IsolationLevel.READ_COMMITTED}


@pytest.mark.parametrize("level", list(ISOLATION))
def test_raw_writers_at_the_same_moment_one_commits(two_appointments, db_url, level):
    a, b, res = two_appointments
    barrier = threading.Barrier(2)

    def writer(appointment_id: int) -> str:
        with psycopg.connect(db_url) as conn:
            conn.isolation_level = ISOLATION[level]
            barrier.wait(timeout=30)
            try:
                with conn.transaction():
                    _insert_booking(conn, appointment_id, res)
                return "committed"
            except (pgerr.ExclusionViolation, pgerr.SerializationFailure, pgerr.DeadlockDetected) as exc:
                return exc.sqlstate  # each is a clean loss: the app's runner retries 40001/40P01

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(writer, (a, b)))
    # A deadlock aborts only its victim, so the survivor still commits: exactly one wins.
    assert outcomes.count("committed") == 1, outcomes
    assert set(outcomes) - {"committed"} <= {"23P01", "40001", "40P01"}
    assert overlapping_live_pairs(db_url) == 0
    assert live_count(db_url)[1] == 1


def _wait_until_blocked(admin: psycopg.Connection, pid: int, deadline_s: float = 30) -> None:
    """Wait (polling pg_stat_activity) until backend ``pid`` waits for a lock."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if admin.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", (pid,)).fetchone()[0]:
            return
        time.sleep(0.005)
    raise AssertionError(f"backend {pid} never blocked")


@pytest.mark.parametrize("level", list(ISOLATION))
@pytest.mark.parametrize("first_commits", [True, False])
def test_second_writer_waits_for_the_first(two_appointments, db_url, level, first_commits):
    """The second insert waits on the first's uncommitted booking: it fails if the first
    commits and succeeds if the first rolls back -- the constraint never admits both."""
    a, b, res = two_appointments
    with psycopg.connect(db_url, autocommit=True) as admin, \
            psycopg.connect(db_url) as first, psycopg.connect(db_url) as second:
        first.isolation_level = second.isolation_level = ISOLATION[level]
        _insert_booking(first, a, res)
        outcome: dict[str, str] = {}

        def run_second() -> None:
            try:
                _insert_booking(second, b, res)
                second.commit()
                outcome["second"] = "committed"
            except (pgerr.ExclusionViolation, pgerr.SerializationFailure) as exc:
                second.rollback()
                outcome["second"] = exc.sqlstate

        t = threading.Thread(target=run_second)
        t.start()
        _wait_until_blocked(admin, second.info.backend_pid)
        if first_commits:
            first.commit()
        else:
            first.rollback()
        t.join(timeout=30)
        assert not t.is_alive()
    if first_commits:
        expected = {"23P01"} if level == "read committed" else {"23P01", "40001"}
        assert outcome["second"] in expected
    else:
        assert outcome["second"] == "committed"
    assert live_count(db_url)[1] == 1
    assert overlapping_live_pairs(db_url) == 0


# -- the retry runner itself ---------------------------------------------------------------
def _fail_with(state: str):
    return text(f"DO $$ BEGIN RAISE EXCEPTION 'forced' USING ERRCODE = '{state}'; END $$")


@pytest.mark.parametrize("state", ["40001", "40P01"])
def test_write_retries_serialization_failures_then_succeeds(db, state):
    calls = []

    def work(conn):
        calls.append(1)
        if len(calls) < 3:
            conn.execute(_fail_with(state))
        return "done"

    assert db.write(work, attempts=5) == "done"
    assert len(calls) == 3


@pytest.mark.parametrize("state", ["40001", "40P01"])
def test_errors_from_raw_driver_cursors_are_retried_too(db, state):
    """The slot search's hot path and the importer's COPY use psycopg directly; their
    serialization failures must be retried like SQLAlchemy's, not reach the user as a crash."""
    calls = []

    def work(conn):
        calls.append(1)
        if len(calls) < 3:
            conn.connection.driver_connection.execute(str(_fail_with(state)))
        return "done"

    assert db.write(work, attempts=5) == "done"
    assert len(calls) == 3


def test_a_raw_driver_overlap_is_slot_taken(db):
    def work(conn):
        conn.connection.driver_connection.execute(str(_fail_with("23P01")))

    with pytest.raises(SlotTaken):
        db.write(work)


def test_a_conflict_that_outlives_the_retries_is_slot_taken(db):
    calls = []

    def work(conn):
        calls.append(1)
        conn.execute(_fail_with("40001"))

    with pytest.raises(SlotTaken, match="Someone else changed this time"):
        db.write(work, attempts=3)
    assert len(calls) == 3


def test_other_errors_are_not_retried(db):
    calls = []

    def work(conn):
        calls.append(1)
        conn.execute(_fail_with("23514"))

    with pytest.raises(ValidationError):
        db.write(work)
    assert len(calls) == 1
