"""The LISTEN bridge (store.listen): notifications arrive, and survive a lost connection."""

from __future__ import annotations

import queue
import threading
from datetime import UTC, date, datetime, timedelta, timezone

import psycopg
import pytest

from reception_app.services import patients, scheduling
from reception_app.store.listen import ScheduleListener

NOW = datetime(2027, 1, 1, tzinfo=UTC)
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=timezone(timedelta(hours=-3)))  # Monday 08:00 in Sao Paulo


@pytest.fixture
def listener(clinic_db, db_url):
    changes: queue.Queue = queue.Queue()
    reconnected = threading.Event()
    lis = ScheduleListener(db_url, lambda b, d: changes.put((b, d)), on_reconnect=reconnected.set, poll_s=0.1)
    lis.start()
    assert lis.wait_listening(10)
    yield lis, changes, reconnected
    lis.stop()


def _book(db, start=T0):
    p = patients.add_patient(db, name="Listen Patient", birth_date="1980-01-01")
    return scheduling.book(db, branch="Centro", service="Abdominal ultrasound", start=start, patient_id=p.id, now=NOW)


def test_a_booking_arrives_as_branch_and_local_day(clinic_db, listener):
    _, changes, _ = listener
    appt = _book(clinic_db)
    got = changes.get(timeout=10)
    assert got == (appt.branch_id, date(2027, 1, 4))


def test_the_listener_reconnects_after_losing_its_connection(clinic_db, db_url, listener):
    lis, changes, reconnected = listener
    with psycopg.connect(db_url, autocommit=True) as admin:
        killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE application_name = 'clinic-listen' AND datname = current_database()").fetchall()
    assert killed and all(k[0] for k in killed)
    assert reconnected.wait(15)          # the caller is told to reload (notifications may have been missed)
    assert lis.wait_listening(10)
    appt = _book(clinic_db, T0 + timedelta(hours=1))
    while True:                          # skip anything queued before the reconnection
        got = changes.get(timeout=10)
        if got == (appt.branch_id, date(2027, 1, 4)):
            break


def test_malformed_payloads_are_skipped(clinic_db, db_url, listener):
    _, changes, _ = listener
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT pg_notify('clinic_schedule', 'not json')")
        conn.execute("""SELECT pg_notify('clinic_schedule', '{"branch": 7, "day": "2027-02-03"}')""")
    assert changes.get(timeout=10) == (7, date(2027, 2, 3))
