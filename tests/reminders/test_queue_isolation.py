"""The reminder queue's transactions run under READ COMMITTED (reminders/queue.py): concurrent
claims take disjoint rows without serialization failures, and a claim neither aborts nor is
aborted by a SERIALIZABLE transaction of the desk that reads the queue."""

from __future__ import annotations

import threading

import psycopg

from reception_app.reminders import queue
from reception_app.store.database import Database

from .conftest import add_due, sql

CHANNELS = ["email", "sms", "whatsapp", "file"]


def test_concurrent_claims_take_disjoint_rows_without_retries(clinic_db, booked, db_url):
    sql(clinic_db, "DELETE FROM reminder")
    add_due(clinic_db, booked, 240)
    expected = {r[0] for r in sql(clinic_db, "SELECT id FROM reminder")}
    dbs = [Database(db_url) for _ in range(4)]
    taken: list[list[int]] = [[] for _ in dbs]
    start = threading.Barrier(len(dbs))

    def worker(k: int) -> None:
        start.wait()
        while True:
            got = queue.claim(dbs[k], worker=f"w{k}", channels=CHANNELS, batch=3, lease_s=60)
            if not got:
                return
            taken[k] += [c.reminder_id for c in got]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(dbs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        every = [i for ids in taken for i in ids]
        assert len(every) == len(set(every)) == len(expected)      # no row twice, none left out
        assert set(every) == expected
        assert sum(db.retries for db in dbs) == 0
        claimed_by = dict(sql(clinic_db, "SELECT id, claimed_by FROM reminder"))
        assert all(claimed_by[i] == f"w{k}" for k, ids in enumerate(taken) for i in ids)
    finally:
        for db in dbs:
            db.dispose()


def test_a_claim_and_a_serializable_desk_transaction_reading_the_queue_both_commit(clinic_db, booked, db_url):
    """A SERIALIZABLE transaction that has read the reminder and changed the patient the claim reads
    (a rw-conflict each way: under SERIALIZABLE one of the two would have to abort) does not make
    the READ COMMITTED claim retry, and commits itself."""
    sql(clinic_db, "DELETE FROM reminder")
    add_due(clinic_db, booked, 1)
    (reminder_id, patient_id), = sql(clinic_db, "SELECT r.id, a.patient_id FROM reminder r "
                                                "JOIN appointment a ON a.id = r.appointment_id")
    retries = clinic_db.retries
    with psycopg.connect(db_url) as desk:
        desk.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        assert desk.execute("SELECT status FROM reminder WHERE id = %s", (reminder_id,)).fetchone() == ("pending",)
        desk.execute("UPDATE patient SET display_name = 'Maria S.' WHERE id = %s", (patient_id,))
        got = queue.claim(clinic_db, worker="w", channels=CHANNELS, batch=10, lease_s=60)
        desk.commit()
    assert [c.reminder_id for c in got] == [reminder_id]
    assert clinic_db.retries == retries
    assert sql(clinic_db, "SELECT status FROM reminder") == [("sending",)]
