"""Writes of the same resources wait in line before BEGIN (``Database.write(queue=…)``).

What is proven on a real database:

- the queue names the resources a write may touch (pinned ones, or every candidate of each needed
  kind; a move's current ones; a cancel's, an offer's);
- a booking waits while another session holds one of its resources' turns, goes ahead when it is
  released, and leaves no lock behind — committed or refused;
- desks booking the one ultrasound at the same moment take turns: all succeed, none is retried;
- a turn held too long (a hung workstation, a hostile login taking the lock by hand) delays a
  booking by at most ``QUEUE_WAIT_MS``, never stops it (the attack case is in
  tests/security/test_queue_attack.py).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import text

from reception_app.domain.errors import OutsideHours
from reception_app.services import booking, patients, scheduling
from reception_app.store import database
from reception_app.store.database import QUEUE_LOCK_SPACE, Database, Queue

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
MON_8 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)     # Ana and Bruno (radiology) work Mon 08-12 at Centro
US = "Abdominal ultrasound"


def queued_ids(db: Database, queue: Queue) -> set[int]:
    """The resource ids ``queue`` names (its query run on its own)."""
    return db.read(lambda conn: {int(r[0]) for r in conn.execute(text(queue.sql), dict(queue.params))
                                 if r[0] is not None})


def resource_ids(db: Database, *names: str) -> set[int]:
    return db.read(lambda conn: {int(r[0]) for r in conn.execute(
        text("SELECT id FROM resource WHERE name = ANY(:n)"), {"n": list(names)})})


def queue_locks(db_url: str) -> int:
    """Advisory locks of the queue's space held by any session now."""
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND granted "
                            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                            (QUEUE_LOCK_SPACE,)).fetchone()[0]


@pytest.fixture
def patient_ids(clinic_db: Database) -> list[int]:
    return [patients.add_patient(clinic_db, name=f"Queue Patient {k}", birth_date=f"1980-01-0{k + 1}").id
            for k in range(6)]


def test_the_queue_names_the_resources_a_booking_may_take(clinic_db: Database) -> None:
    every = resource_ids(clinic_db, "Ana Souza", "Bruno Lima", "Imaging 1", "Imaging 2", "Ultrasound A")
    assert queued_ids(clinic_db, booking.queue_for_booking("Centro", US)) == every
    pinned = booking.queue_for_booking("centro", US.upper(), {"doctor": "ana souza", "room": "Imaging 2"})
    assert queued_ids(clinic_db, pinned) == resource_ids(clinic_db, "Ana Souza", "Imaging 2", "Ultrasound A")
    assert queued_ids(clinic_db, booking.queue_for_booking("Centro", "No such service")) == set()


def test_the_queue_of_a_move_or_a_cancel_includes_the_appointments_resources(clinic_db: Database,
                                                                             patient_ids: list[int]) -> None:
    appt = scheduling.book(clinic_db, branch="Centro", service=US, start=MON_8, patient_id=patient_ids[0], now=NOW,
                           doctor="Bruno Lima", room="Imaging 1")
    held = set(appt.resource_ids.values())
    assert queued_ids(clinic_db, booking.queue_for_appointments([appt.id])) == held
    moving = booking.queue_for_booking(appt.branch_id, US, {"doctor": "Ana Souza", "room": "Imaging 2"},
                                       moving=[appt.id])
    assert queued_ids(clinic_db, moving) == held | resource_ids(clinic_db, "Ana Souza", "Imaging 2")


def test_a_booking_waits_for_its_turn_and_leaves_no_lock(clinic_db: Database, db_url: str,
                                                         patient_ids: list[int]) -> None:
    ultrasound = resource_ids(clinic_db, "Ultrasound A").pop()
    holder = psycopg.connect(db_url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s, %s)", (QUEUE_LOCK_SPACE, ultrasound))
    result: list[object] = []
    desk = threading.Thread(target=lambda: result.append(scheduling.book(
        clinic_db, branch="Centro", service=US, start=MON_8, patient_id=patient_ids[0], now=NOW)))
    desk.start()
    try:
        deadline = time.monotonic() + 10
        with psycopg.connect(db_url, autocommit=True) as watch:
            while not watch.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' "
                                    "AND datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]:
                assert time.monotonic() < deadline, "the booking never waited in the queue"
                time.sleep(0.02)
        assert not result    # still waiting: nothing was booked yet
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", (QUEUE_LOCK_SPACE, ultrasound))
        holder.close()
        desk.join(timeout=20)
    assert len(result) == 1 and result[0].status == "confirmed"
    assert queue_locks(db_url) == 0


def test_a_refused_booking_leaves_no_lock(clinic_db: Database, db_url: str, patient_ids: list[int]) -> None:
    with pytest.raises(OutsideHours):     # Sunday: Centro is closed
        scheduling.book(clinic_db, branch="Centro", service=US, start=MON_8 - timedelta(days=1),
                        patient_id=patient_ids[0], now=NOW)
    assert queue_locks(db_url) == 0
    assert clinic_db.read(lambda conn: conn.execute(text("SELECT count(*) FROM appointment")).scalar()) == 0


def test_desks_booking_the_one_ultrasound_at_once_take_turns(db_url: str, clinic_db: Database,
                                                             patient_ids: list[int]) -> None:
    """Five desks, five different starts (08:00, 08:45 … 11:00) that all need Ultrasound A, released
    together: each waits for the one before it, so every one is booked and none had to be retried."""
    desks = [Database(db_url, pool_size=1) for _ in range(5)]
    barrier = threading.Barrier(len(desks))

    def book(k: int) -> object:
        barrier.wait()
        return scheduling.book(desks[k], branch="Centro", service=US, start=MON_8 + timedelta(minutes=45 * k),
                               patient_id=patient_ids[k], now=NOW)

    try:
        with ThreadPoolExecutor(len(desks)) as pool:
            booked = list(pool.map(book, range(len(desks))))
        assert [b.status for b in booked] == ["confirmed"] * len(desks)
        assert sum(d.retries for d in desks) == 0
    finally:
        for d in desks:
            d.dispose()
    assert queue_locks(db_url) == 0


def test_a_turn_held_too_long_is_skipped(clinic_db: Database, db_url: str, patient_ids: list[int],
                                         monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(database, "QUEUE_WAIT_MS", 300)
    ultrasound = resource_ids(clinic_db, "Ultrasound A").pop()
    with psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (QUEUE_LOCK_SPACE, ultrasound))
        t0 = time.monotonic()
        appt = scheduling.book(clinic_db, branch="Centro", service=US, start=MON_8, patient_id=patient_ids[0],
                               now=NOW)
        waited = time.monotonic() - t0
        assert appt.status == "confirmed"
        assert waited >= 0.3
        assert "going ahead without waiting" in caplog.text
        assert queue_locks(db_url) == 1      # only the holder's own: the desk released what it took
    assert queue_locks(db_url) == 0
