"""The write queue (``Database.write(queue=…)``) under attack: a hostile login cannot use it to stop
the desk, nor to get around a rule.

The queue is a session advisory lock per resource, taken before BEGIN (``pg_advisory_lock`` is a
function every login may call, as in any PostgreSQL). What a hostile login can do with it, and
what it cannot:

- it may take a resource's turn and keep it: a desk booking of that resource then waits at most
  ``QUEUE_WAIT_MS`` and books anyway (refused case: stopping the desk);
- holding the turn gives it nothing: its own booking over the desk's time is still refused by the
  exclusion constraint (23P01), queue or not.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from reception_app.services import scheduling
from reception_app.store import database
from reception_app.store.database import QUEUE_LOCK_SPACE

from .conftest import MON, NOW, US, Env, raw_appointment, refused


def test_a_hostile_login_holding_a_resources_turn_does_not_stop_the_desk(env: Env,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "QUEUE_WAIT_MS", 400)
    ultrasound = env.ids["Ultrasound A"]
    start = MON.replace(hour=10, minute=30)
    with env.connect("reception") as hostile:
        hostile.autocommit = True
        hostile.execute("SELECT pg_advisory_lock(%s, %s)", (QUEUE_LOCK_SPACE, ultrasound))   # allowed
        desk = env.database("reception")
        try:
            t0 = time.monotonic()
            appt = scheduling.book(desk, branch="Centro", service=US, start=start, now=NOW,
                                   patient_id=env.patients[1])
            waited = time.monotonic() - t0
        finally:
            desk.dispose()
        assert appt.status == "confirmed"          # booked, after waiting at most the queue's limit
        assert 0.4 <= waited < 30
        # Holding the turn does not let the hostile login book over the desk's time.
        attempt = env.attack("reception", lambda cur: raw_appointment(cur, env, start=start))
        refused(attempt, "23P01")
        hostile.execute("SELECT pg_advisory_unlock_all()")
    with psycopg.connect(env.url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
                            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                            (QUEUE_LOCK_SPACE,)).fetchone()[0] == 0
