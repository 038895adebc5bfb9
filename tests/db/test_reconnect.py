"""The runner replaces a dead pooled connection by itself (server restart, failover), and a
booking whose connection is killed is never doubled nor silently lost (see the second half).

The pool does not ping before each transaction (a round trip per booking);
instead a connection found dead before COMMIT is invalidated and the
transaction re-run on a fresh one. Here the server kills the pooled
connection between two transactions, as a restart would.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from sqlalchemy import text

from reception_app.domain.errors import CommitOutcomeUnknown
from reception_app.services import patients, scheduling
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


# -- a connection killed while booking: never doubled, never silently lost ---------------------------
#
# Three real ways to lose a booking's connection, each on the real server:
#
# * before COMMIT: a test-only trigger makes the INSERT wait on an advisory lock the admin
#   connection holds; the admin terminates the waiting backend (pg_terminate_backend). Nothing
#   was committed, so the runner re-runs the transaction on a new connection: booked once.
# * during COMMIT, aborted: the same, with a DEFERRED constraint trigger, so the backend waits
#   inside COMMIT and dies there. The client cannot know: CommitOutcomeUnknown; nothing saved.
# * during COMMIT, committed: a TCP proxy between client and server forwards the COMMIT, lets the
#   server answer "COMMIT" and then cuts both sides without passing the answer on. The server
#   committed; the client only saw its connection die: CommitOutcomeUnknown; saved.
#
# In the last two cases a retry with the same client id settles it: it books the appointment
# (aborted) or returns the one already there (committed); either way exactly one exists.




KILL_LOCK = 4242
_SP = timezone(timedelta(hours=-3))
_NOW = datetime(2027, 1, 1, tzinfo=UTC)
_T0 = datetime(2027, 1, 4, 10, 0, tzinfo=_SP)  # Monday 10:00 at Centro: free in the test clinic


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> object:
    """Poll ``predicate`` until it returns something truthy (like qtbot.waitUntil, for tests without Qt)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        threading.Event().wait(0.01)


class KillHook:
    """Makes the next INSERT into ``appointment`` wait — at once, or inside COMMIT (``at_commit``) —
    on an advisory lock held by an admin connection, so :meth:`kill_waiting` can terminate the
    waiting backend with ``pg_terminate_backend``. Test-only objects in the test database."""

    def __init__(self, db_url: str, *, at_commit: bool) -> None:
        self.admin = psycopg.connect(db_url, autocommit=True)
        self.admin.execute(
            "CREATE FUNCTION test_wait_for_kill() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_advisory_xact_lock_shared({KILL_LOCK}); RETURN NULL; END $$")
        if at_commit:
            self.admin.execute("CREATE CONSTRAINT TRIGGER test_wait_for_kill AFTER INSERT ON appointment "
                               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_wait_for_kill()")
        else:
            self.admin.execute("CREATE TRIGGER test_wait_for_kill AFTER INSERT ON appointment "
                               "FOR EACH ROW EXECUTE FUNCTION test_wait_for_kill()")
        self.admin.execute("SELECT pg_advisory_lock(%s)", (KILL_LOCK,))
        self.killed: list[int] = []
        self.killed_query: list[str] = []

    def waiting_backend(self) -> tuple[int, str] | None:
        """The backend waiting on the lock and what it is running, or None."""
        return self.admin.execute(
            "SELECT l.pid, a.query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.objid = %s AND NOT l.granted", (KILL_LOCK,)).fetchone()

    def kill_waiting(self, timeout: float = 10.0) -> None:
        """Wait for a backend to block on the lock, terminate it, then let later attempts through."""
        pid, query = wait_for(self.waiting_backend, timeout, "a backend waiting on the kill lock")  # type: ignore[misc]
        assert self.admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()[0]
        self.killed.append(pid)
        self.killed_query.append(query)
        self.admin.execute("SELECT pg_advisory_unlock(%s)", (KILL_LOCK,))

    def close(self) -> None:
        self.admin.close()


class CuttingProxy:
    """A TCP proxy in front of the test server that can lose one COMMIT's answer, for real.

    Armed with a marker (bytes the client sends in the transaction, e.g. its audit reason), it
    forwards that connection's COMMIT, reads the server's ``CommandComplete "COMMIT"`` — the
    transaction *is* committed — and then closes both sockets without passing the answer on.
    ``conninfo`` connects through the proxy. ``cut`` is set once it has done so.
    """

    #: A simple-protocol Query message starting with COMMIT (alone, or followed by the write queue's
    #: release in the same message: ``COMMIT; SELECT pg_advisory_unlock_all()``).
    _COMMIT_QUERY = re.compile(rb"Q.{4}COMMIT[;\x00]", re.S)
    _COMMIT_DONE = b"C\x00\x00\x00\x0bCOMMIT\x00"

    def __init__(self, target_conninfo: str) -> None:
        with psycopg.connect(target_conninfo) as probe:
            host, port = probe.info.host, probe.info.port
        if host.startswith("/"):
            self._target: tuple[int, object] = (socket.AF_UNIX, f"{host}/.s.PGSQL.{port}")
        else:
            self._target = (socket.AF_INET, (host, port))
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.conninfo = make_conninfo(target_conninfo, host="127.0.0.1", port=str(self.port))
        self._marker: bytes | None = None
        self._lock = threading.Lock()
        self.cut = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="cutting-proxy", daemon=True).start()

    def arm(self, marker: bytes) -> None:
        """Lose the answer to the next COMMIT of the connection that sends ``marker``."""
        with self._lock:
            self._marker = marker

    def close(self) -> None:
        self._server.close()
        for s in list(self._sockets):
            _close(s)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            family, address = self._target
            upstream = socket.socket(family, socket.SOCK_STREAM)
            upstream.connect(address)
            self._sockets += [client, upstream]
            state = {"marked": False, "cut_pending": False}
            threading.Thread(target=self._pump_up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client, state), daemon=True).start()

    def _pump_up(self, client: socket.socket, upstream: socket.socket, state: dict) -> None:
        while data := _recv(client):
            with self._lock:
                if self._marker is not None and self._marker in data:
                    state["marked"] = True
                if state["marked"] and self._marker is not None and self._COMMIT_QUERY.search(data):
                    state["cut_pending"] = True
                    self._marker = None
            try:
                upstream.sendall(data)
            except OSError:
                break
        _close(upstream)

    def _pump_down(self, upstream: socket.socket, client: socket.socket, state: dict) -> None:
        while data := _recv(upstream):
            if state["cut_pending"]:
                if self._COMMIT_DONE in data:  # committed: now the client must not hear it
                    self.cut.set()
                    _close(upstream)
                    _close(client)
                    return
                state["cut_pending"] = False  # the COMMIT failed on its own: pass it on
            try:
                client.sendall(data)
            except OSError:
                break
        _close(client)


def _recv(s: socket.socket) -> bytes:
    try:
        return s.recv(65536)
    except OSError:
        return b""


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


@contextmanager
def kill_hook(db_url: str, *, at_commit: bool) -> Iterator[KillHook]:
    hook = KillHook(db_url, at_commit=at_commit)
    try:
        yield hook
    finally:
        hook.close()


def appointments_with(db: Database, client_id: uuid.UUID) -> list[tuple[int, int]]:
    """(appointment id, its booking rows) for every appointment with ``client_id``."""
    return db.read(lambda c: [tuple(r) for r in c.execute(text(
        "SELECT a.id, count(b.id) FROM appointment a LEFT JOIN booking b ON b.appointment_id = a.id "
        "WHERE a.client_id = :c GROUP BY a.id"), {"c": client_id})])


def total_appointments(db: Database) -> int:
    return db.read(lambda c: c.execute(text("SELECT count(*) FROM appointment")).scalar_one())


@pytest.fixture
def maria(clinic_db: Database) -> int:
    return patients.add_patient(clinic_db, name="Maria da Silva", birth_date="1980-02-03",
                                phone="+5527999990000").id


def _book(db: Database, patient_id: int, client_id: uuid.UUID) -> scheduling.AppointmentView:
    return scheduling.book(db, branch="Centro", service="Abdominal ultrasound", start=_T0, patient_id=patient_id,
                           now=_NOW, client_id=client_id, reason="booked at the front desk")


def _in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, dict[str, object]]:
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except Exception as exc:  # noqa: BLE001 - handed to the test to assert on
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_a_booking_whose_connection_is_killed_before_commit_is_rerun_and_booked_once(db_url, clinic_db, maria):
    cid = uuid.uuid4()
    with kill_hook(db_url, at_commit=False) as hook:
        thread, out = _in_thread(lambda: _book(clinic_db, maria, cid))
        hook.kill_waiting()
        thread.join(30)
    assert "INSERT INTO appointment" in hook.killed_query[0]  # killed mid-transaction, before COMMIT
    view = out["result"]
    assert isinstance(view, scheduling.AppointmentView) and view.client_id == str(cid)
    assert appointments_with(clinic_db, cid) == [(view.id, 3)]  # doctor, room, ultrasound: once
    assert total_appointments(clinic_db) == 1


def test_a_booking_killed_inside_commit_is_an_unknown_outcome_and_the_retry_books_it_once(
        db_url, clinic_db, maria):
    cid = uuid.uuid4()
    with kill_hook(db_url, at_commit=True) as hook:
        thread, out = _in_thread(lambda: _book(clinic_db, maria, cid))
        hook.kill_waiting()
        thread.join(30)
    assert hook.killed_query[0].startswith("COMMIT")   # (with the queue's release: one round trip)
    assert isinstance(out.get("error"), CommitOutcomeUnknown)
    assert "not known whether" in str(out["error"])
    assert appointments_with(clinic_db, cid) == []  # it died before the commit record: nothing saved
    retried = _book(clinic_db, maria, cid)
    again = _book(clinic_db, maria, cid)
    assert again.id == retried.id
    assert appointments_with(clinic_db, cid) == [(retried.id, 3)]
    assert total_appointments(clinic_db) == 1


def test_a_booking_whose_commit_answer_is_lost_is_an_unknown_outcome_and_the_retry_returns_it(
        clinic_db, maria):
    proxy = CuttingProxy(clinic_db.conninfo)
    through_proxy = Database(proxy.conninfo)
    try:
        cid = uuid.uuid4()
        proxy.arm(b"booked at the front desk")
        with pytest.raises(CommitOutcomeUnknown):
            _book(through_proxy, maria, cid)
        assert proxy.cut.is_set()
        saved = appointments_with(clinic_db, cid)
        assert len(saved) == 1 and saved[0][1] == 3  # the server did commit it
        retried = _book(through_proxy, maria, cid)  # same client id, through the same (healed) pool
        assert retried.id == saved[0][0]
        assert appointments_with(clinic_db, cid) == saved  # not doubled
        assert total_appointments(clinic_db) == 1
    finally:
        through_proxy.dispose()
        proxy.close()
