"""Connections and the one transaction runner (docs/architecture.md, "Transactions").

Every write in the program goes through :meth:`Database.write`: one
SERIALIZABLE transaction, retried on serialization failures (40001) and
deadlocks (40P01) with jittered exponential backoff a bounded number of times.
Database errors that mean something to a receptionist become domain errors:

==========  ==============================================================
SQLSTATE    raised as
==========  ==============================================================
23P01       ``SlotTaken`` (overlap of live bookings, or time off); ``PatientBusy`` (a
            ``SlotTaken``) when the patient has another live appointment then
40001/40P01 ``SlotTaken`` when the conflict outlives the retries
CL001       ``InvalidTransition`` (status trigger)
23514/23505 ``ValidationError`` naming the constraint
42501       ``PermissionDenied``
08xxx, lost ``DatabaseUnavailable`` (``CommitOutcomeUnknown`` when lost during COMMIT)
==========  ==============================================================

Writes that change the schedule may wait in line first (:class:`Queue`): session advisory locks on
the resources they will touch, taken *before* BEGIN, so that two desks booking the same machine
queue instead of both reading a snapshot and one of them failing SERIALIZABLE's check (a lock taken
inside the transaction comes after its snapshot, too late). The queue is only for speed: every rule
still holds without it (another front door or a ``psql`` login that does not queue is still
refused by the constraints, and SERIALIZABLE with its retries stays the net).

Reads use short READ ONLY transactions (:meth:`Database.read`); reports ask
for a consistent snapshot with ``snapshot=True`` (SERIALIZABLE READ ONLY
DEFERRABLE). A connection is never shared between threads: the engine's pool
hands each thread its own.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from ..domain.errors import (
    CommitOutcomeUnknown,
    DatabaseUnavailable,
    InvalidTransition,
    PatientBusy,
    PermissionDenied,
    PortalRefused,
    SlotTaken,
    ValidationError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE = {"40001", "40P01"}
DEFAULT_ATTEMPTS = 10
_KEY_RE = re.compile(r"Key \(resource_id, period\)=\((\d+), ")


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None)


#: The first key of the queue's advisory locks (``pg_advisory_lock(QUEUE_LOCK_SPACE, resource_id)``):
#: "CQ" (clinic queue) in ASCII, so the two-key space is told apart from the program's one-key locks.
QUEUE_LOCK_SPACE = 0x4351
#: The longest a write waits in the queue (ms). Past it, the write goes ahead without its turn (its
#: rules still hold; it may meet a serialization failure and be retried): a session that holds a
#: resource's turn for long — a hung workstation, a hostile login taking the lock by hand — slows
#: the others down by at most this much per attempt, never stops them.
QUEUE_WAIT_MS = 3000


@dataclass(frozen=True)
class Queue:
    """Where a write waits in line before BEGIN: ``sql`` is a query of one integer column, the ids
    of the resources the write may book or free (duplicates and NULLs allowed); ``params`` its named
    parameters (``:name`` style). :meth:`Database.write` locks each id with a session advisory lock in
    ascending order, in one round trip, before the transaction starts, and unlocks them all after it
    ends. Ids that do not match what the transaction then does cost only speed, never a rule."""

    sql: str
    params: Mapping[str, object] = field(default_factory=dict)

    def lock_statement(self) -> str:
        """The one statement that takes the locks, lowest id first (one order for every writer: no
        deadlock among queued writers); it returns how many it locked. ``lock_timeout`` is set for
        this statement only (its own implicit transaction): a turn is waited for at most
        ``QUEUE_WAIT_MS``."""
        return (f"SELECT count(pg_advisory_lock({QUEUE_LOCK_SPACE}, o.id)) "
                f"FROM (SELECT DISTINCT w.id FROM ({self.sql}) AS w(id) WHERE w.id IS NOT NULL "
                f"AND set_config('lock_timeout', '{QUEUE_WAIT_MS}ms', true) IS NOT NULL ORDER BY w.id) AS o")


class Database:
    """A clinic database: an engine plus the read and write runners.

    ``conninfo`` is any libpq connection string (URI or key=value, several
    hosts allowed); it is handed to psycopg untouched, so libpq's failover,
    TLS and password sources all work.
    """

    def __init__(self, conninfo: str, *, application_name: str = "clinic-reception",
                 pool: bool = True, pool_size: int = 4) -> None:
        self.conninfo = conninfo
        self.application_name = application_name
        #: Serialization failures and deadlocks retried by :meth:`write` so far (benchmarks report
        #: retries per commit). Updated under a lock: one Database may serve several threads.
        self.retries = 0
        self._retries_lock = threading.Lock()

        def connect() -> psycopg.Connection:
            return psycopg.connect(conninfo, application_name=application_name, connect_timeout=10)

        # No pre-ping (a round trip per transaction, a third of a booking's time): a pooled
        # connection found dead is replaced and the transaction re-run instead (see _run).
        kwargs: dict = {"pool_size": pool_size, "max_overflow": 8} if pool else {"poolclass": NullPool}
        self.engine: Engine = create_engine("postgresql+psycopg://", creator=connect, **kwargs)

    # -- runners ---------------------------------------------------------------
    def write(self, work: Callable[[Connection], T], *, reason: str | None = None,
              attempts: int = DEFAULT_ATTEMPTS, isolation: str = "SERIALIZABLE", queue: Queue | None = None) -> T:
        """Run ``work(conn)`` in one SERIALIZABLE transaction and commit it.

        ``isolation="REPEATABLE READ"`` is for maintenance that reads whole tables and must not take
        SERIALIZABLE's predicate locks on them (the utilization summary refresh);
        ``isolation="READ COMMITTED"`` is for the reminder workers' queue statements, each one
        statement that changes only rows it locks (``FOR UPDATE SKIP LOCKED``, re-checked on the
        newest row version: reminders/queue.py); bookings and every other change of the schedule
        never use either. Deadlocks (40P01) are retried under every isolation.

        ``queue``: wait in line for the resources the write will touch before each attempt's
        BEGIN (:class:`Queue`; two extra round trips), so that writers of the same resources take
        turns instead of failing each other's serialization check.

        ``work`` may be called several times (after a serialization failure,
        or when the connection turned out dead before anything was committed),
        so it must do nothing outside the database that cannot be repeated.
        ``reason`` is recorded in the audit trail of every row it changes
        (``SET LOCAL clinic.reason``).

        Raises the domain errors in the module docstring; a connection lost
        during COMMIT raises ``CommitOutcomeUnknown`` (a ``DatabaseUnavailable``:
        callers with a client id may retry safely). Anything else propagates
        unchanged (a bug).
        """
        last: BaseException | None = None
        for attempt in range(attempts):
            try:
                return self._run(work, reason=reason, isolation=isolation, queue=queue)
            except _Retry as retry:
                last = retry.error
                state = _sqlstate(retry.error)
                if state in RETRYABLE:
                    with self._retries_lock:
                        self.retries += 1
                    delay = min(0.5, 0.005 * (2 ** attempt)) * (0.5 + random.random())
                    log.info("serialization conflict (%s), retry %d in %.0f ms", state, attempt + 1, delay * 1e3)
                    time.sleep(delay)
        log.warning("conflict outlived %d attempts: %s", attempts, last)
        if last is not None and _sqlstate(last) not in RETRYABLE:
            raise DatabaseUnavailable(f"Lost the connection to the clinic database: {_first_line(last)}") from last
        raise SlotTaken("Someone else changed this time just now; please pick the slot again.") from last

    def read(self, work: Callable[[Connection], T], *, snapshot: bool = False) -> T:
        """Run ``work(conn)`` in a short read-only transaction (re-run once on a dead connection).

        ``snapshot=True`` gives a consistent snapshot for reports:
        SERIALIZABLE READ ONLY DEFERRABLE (waits, never fails with 40001). Otherwise READ COMMITTED
        is asked for explicitly: clinic logins default to SERIALIZABLE (migration 0009), which a
        short read of a grid does not need.
        """
        for _ in range(2):
            try:
                return self._run(work, read_only=True, isolation="SERIALIZABLE" if snapshot else "READ COMMITTED",
                                 deferrable=snapshot)
            except _Retry as retry:
                last = retry.error
        raise DatabaseUnavailable(f"Lost the connection to the clinic database: {_first_line(last)}") from last

    def ping(self) -> None:
        """One trivial round trip (``SELECT 1`` in a read transaction): is the database reachable?

        A dead pooled connection is replaced on the way (see :meth:`read`), so a
        success means new work will run. Raises ``DatabaseUnavailable``. Blocks up
        to the connect timeout (10 s): call it off the GUI thread.
        """
        self.read(lambda conn: conn.exec_driver_sql("SELECT 1").scalar())

    def admin(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` in one ordinary transaction (role and schema management only)."""
        try:
            return self._run(work)
        except _Retry as retry:
            raise translate(retry.error) from retry.error

    def _run(self, work: Callable[[Connection], T], *, reason: str | None = None, isolation: str | None = None,
             read_only: bool = False, deferrable: bool = False, queue: Queue | None = None) -> T:
        """One transaction (after waiting in ``queue``). Raises ``_Retry`` for a serialization failure
        or deadlock, and for a connection found dead before COMMIT (it is invalidated, so the next
        try reconnects); other database errors are translated; a connection lost during COMMIT is an
        unknown outcome."""
        committing = False
        queued = False      # this session may hold queue locks (released after the transaction)
        released = False
        with self._connect() as conn:
            try:
                options: dict = {}
                if isolation:
                    options["isolation_level"] = isolation
                if read_only:
                    options["postgresql_readonly"] = True
                if deferrable:
                    options["postgresql_deferrable"] = True
                if options:
                    conn = conn.execution_options(**options)
                own = isolation is not None and not read_only   # a write: BEGIN and COMMIT sent by us
                with conn.begin():
                    if own:
                        queued = queue is not None
                        _open(conn, isolation or "", reason, queue)
                    result = work(conn)
                    committing = True
                    if own:
                        _commit(conn, release_queue=queued)
                        released = True
                return result
            except (DBAPIError, psycopg.Error) as exc:  # raw cursors (busy_seconds, COPY, DDL) raise psycopg's
                if _sqlstate(exc) in RETRYABLE:
                    raise _Retry(exc) from exc
                if _is_disconnect(exc):
                    if not conn.invalidated:
                        conn.invalidate()
                    if committing and not read_only:
                        log.warning("connection lost during COMMIT: %s", exc)
                        raise CommitOutcomeUnknown(
                            "The connection to the clinic database was lost while saving, so it is not known "
                            "whether the change was saved. Check before trying again.") from exc
                    log.info("connection found dead, reconnecting: %s", _first_line(exc))
                    raise _Retry(exc) from exc
                raise translate(exc) from exc
            finally:
                if queued and not released and not conn.invalidated:
                    _leave_queue(conn)

    def _connect(self) -> Connection:
        try:
            return self.engine.connect()
        except OperationalError as exc:
            log.warning("cannot connect: %s", exc.orig)
            if "permission denied for database" in str(exc.orig):
                # 42501 at connect: a login in no clinic group (PUBLIC may not connect, migration 0009).
                raise PermissionDenied("This login may not use the clinic database: it is in no clinic group "
                                       "(ask an administrator to add it with `clinic user add`).") from exc
            raise DatabaseUnavailable(f"Cannot reach the clinic database: {_first_line(exc.orig)}") from exc

    def dispose(self) -> None:
        self.engine.dispose()


def driver(conn: Connection) -> psycopg.Connection:
    """The psycopg connection under a SQLAlchemy ``Connection`` (same transaction).

    For what SQLAlchemy cannot express or does too slowly: COPY, binary or
    hot-path reads, role DDL with quoted identifiers. Errors it raises are
    psycopg's; the runners map them like SQLAlchemy's.
    """
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def driver_sql(sql: str) -> str:
    """``sql`` written with SQLAlchemy's ``:name`` placeholders, as psycopg takes it (``%(name)s``,
    a literal ``%`` doubled), for statements run on :func:`driver`'s connection. Casts (``::int``)
    are left alone."""
    return _PARAM_RE.sub(r"%(\1)s", sql.replace("%", "%%"))


def _simple(conn: Connection, statements: list[str]) -> None:
    """Send ``statements`` (complete SQL, literals inlined) in one round trip on ``conn``'s psycopg
    connection (the simple query protocol: several statements in one message, run in order, the
    first error ending the message). Raises the psycopg error of the statement that failed."""
    raw = driver(conn)
    result = raw.pgconn.exec_("; ".join(statements).encode("utf-8"))
    if raw.pgconn.status != psycopg.pq.ConnStatus.OK:
        raise psycopg.OperationalError(f"the connection is lost: {raw.pgconn.get_error_message()!r}")
    if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
        raise psycopg.errors.error_from_result(result, encoding=raw.info.encoding)


def _open(conn: Connection, isolation: str, reason: str | None, queue: Queue | None) -> None:
    """Begin the write's transaction in one round trip: wait in ``queue`` (its locks taken in an
    implicit transaction of their own, committed before BEGIN, so the snapshot comes after the
    wait), ``BEGIN ISOLATION LEVEL …``, and ``clinic.reason`` for the audit trail. A wait longer than
    ``QUEUE_WAIT_MS`` is logged and the write goes ahead without its turn."""
    if isolation not in _ISOLATION:
        raise ValueError(f"isolation: not a level a write may ask for (got {isolation!r})")
    begin = [f"BEGIN ISOLATION LEVEL {isolation}"]
    if reason:
        begin.append(f"SELECT set_config('clinic.reason', {_literal(conn, reason)}, true)")
    if queue is None:
        _simple(conn, begin)
        return
    lock = psycopg.ClientCursor(driver(conn)).mogrify(driver_sql(queue.lock_statement()), dict(queue.params))
    try:
        _simple(conn, [lock, "COMMIT", *begin])
    except psycopg.errors.LockNotAvailable:
        log.warning("waited over %d ms in the queue for resources (%s); going ahead without waiting",
                    QUEUE_WAIT_MS, dict(queue.params))
        _simple(conn, begin)


def _commit(conn: Connection, *, release_queue: bool) -> None:
    """COMMIT the write's transaction (and leave the queue) in one round trip. An error at COMMIT
    (a deferred check) leaves the queue to the runner's ``finally`` (:func:`_leave_queue`)."""
    _simple(conn, ["COMMIT", "SELECT pg_advisory_unlock_all()"] if release_queue else ["COMMIT"])


def _leave_queue(conn: Connection) -> None:
    """Release the session's queue locks after a transaction that did not commit (it was rolled
    back). A connection that cannot do it is invalidated: its session ends, and with it the locks.
    (The pool's connections hold no other session advisory locks while a write runs.)"""
    try:
        _simple(conn, ["SELECT pg_advisory_unlock_all()"])
    except psycopg.Error as exc:
        log.info("could not leave the queue, dropping the connection: %s", _first_line(exc))
        conn.invalidate()


def _literal(conn: Connection, value: str) -> str:
    """``value`` as an SQL string literal, quoted for this connection."""
    return psycopg.sql.Literal(value).as_string(driver(conn))


#: The isolation levels a write may ask for, as BEGIN spells them (nothing else is ever sent).
_ISOLATION = frozenset({"SERIALIZABLE", "REPEATABLE READ", "READ COMMITTED"})


_PARAM_RE = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class _Retry(Exception):
    """Internal: the transaction may be run again (``error`` says why)."""

    def __init__(self, error: DBAPIError | psycopg.Error) -> None:
        super().__init__(str(error))
        self.error = error


def _is_disconnect(exc: BaseException) -> bool:
    """The connection is dead (server restart, failover, network): SQLAlchemy said so, or psycopg's
    connection is closed/broken, or the SQLSTATE is a connection exception (08xxx) or admin shutdown (57P0x)."""
    if getattr(exc, "connection_invalidated", False):
        return True
    state = _sqlstate(exc) or ""
    if state.startswith("08") or state in ("57P01", "57P02", "57P03"):
        return True
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, psycopg.OperationalError) and state == ""


#: The status trigger's refusals of an outcome before the start (db/sql/statuses.sql, by HINT), in
#: the desk's words.
_NOT_STARTED = {
    "not_started_no_show": "The appointment has not started yet, so the patient cannot be a no-show.",
    "not_started_complete": "The appointment has not started yet, so it cannot be completed.",
}


def _first_line(exc: object) -> str:
    return (str(exc).strip().splitlines() or ["unknown error"])[0]


def translate(exc: DBAPIError | psycopg.Error) -> Exception:
    """Map a database error to the domain error a user can be shown (or return it unchanged)."""
    state = _sqlstate(exc) or ""
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    if state == "23P01" and diag is not None and diag.constraint_name == "appointment_patient_no_overlap":
        return PatientBusy("The patient already has an appointment at that time.")
    if state == "23P01":
        detail = (diag.message_detail if diag else "") or ""
        match = _KEY_RE.search(detail)
        return SlotTaken("That time is already taken.", resource_id=int(match.group(1)) if match else None)
    if state in RETRYABLE:
        return SlotTaken("Someone else changed this time just now; please pick the slot again.")
    if state == "CL001":
        hint = (diag.message_hint if diag else None) or ""
        return InvalidTransition(_NOT_STARTED.get(hint) or (diag.message_primary if diag else str(orig)))
    if state == "CL020":
        return PortalRefused((diag.message_hint if diag else None) or "refused",
                             (diag.message_primary if diag else None) or _first_line(orig))
    if state == "42501":
        return PermissionDenied(f"Your database role may not do this: {_first_line(orig)}")
    if state.startswith(("22", "23")):  # data exceptions and the remaining integrity violations
        constraint = (diag.constraint_name if diag else None) or (diag.column_name if diag else None) or "value"
        return ValidationError(constraint, _first_line(orig), "the database refused this value")
    if state == "25006":  # read-only transaction: connected to a standby
        return DatabaseUnavailable("The clinic database is read-only right now (a standby); try again shortly.")
    if state.startswith("08") or isinstance(exc, (OperationalError, psycopg.OperationalError)):
        return DatabaseUnavailable(f"Lost the connection to the clinic database: {_first_line(orig)}")
    return exc
