"""The runner replaces a dead pooled connection by itself (server restart, failover).

The pool does not ping before each transaction (a round trip per booking);
instead a connection found dead before COMMIT is invalidated and the
transaction re-run on a fresh one. Here the server kills the pooled
connection between two transactions, as a restart would.
"""

from __future__ import annotations

import psycopg
from sqlalchemy import text

from reception_app.store.database import Database


def _backend_pid(db: Database) -> int:
    return db.read(lambda c: c.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(db_url: str, pid: int) -> None:
    with psycopg.connect(db_url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]


def test_a_read_after_the_connection_died_reconnects(db_url):
    db = Database(db_url, pool_size=1)
    old = _backend_pid(db)
    _kill(db_url, old)
    assert _backend_pid(db) != old
    db.dispose()


def test_a_write_after_the_connection_died_runs_once_on_a_new_connection(db_url):
    db = Database(db_url, pool_size=1)
    _kill(db_url, _backend_pid(db))
    calls = []

    def work(conn):
        calls.append(1)
        return conn.execute(text("INSERT INTO patient (display_name) VALUES ('After restart') RETURNING id"))\
            .scalar_one()

    pid = db.write(work, reason="test")
    assert db.read(lambda c: c.execute(text("SELECT count(*) FROM patient WHERE id = :i"), {"i": pid})
                   .scalar_one()) == 1
    # The dead connection failed at the transaction's first statement (BEGIN / the audit reason),
    # before `work` ran; the second attempt, on a new connection, ran it once and committed.
    assert len(calls) == 1
    db.dispose()
