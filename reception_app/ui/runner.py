"""The one background-operation runner: every database call of the window goes through it.

Shape (after Anki's ``QueryOp``/``CollectionOp``): the caller hands over *what
to run* — a plain callable that calls services and touches no widget — and
*what to do* with its result or its expected error. The callable runs on a
worker thread of the runner's own ``QThreadPool``; its outcome travels back
by a Qt signal delivered with a queued connection, so ``on_success`` and
``on_failure`` always run on the GUI thread, in the event loop, after the
call that started the work has returned.

Threads and connections: services open and close a connection per call, and
SQLAlchemy's pool hands each thread its own, so a connection is never shared
between threads (docs/architecture.md "Layers").

Errors:

* a ``ClinicError`` (expected, user-readable) goes to ``on_failure`` if given,
  otherwise it is announced with :attr:`Runner.failed` for the window to show;
* anything else is a bug: it is logged with its traceback on the worker
  thread (``logging.exception``) and announced with :attr:`Runner.crashed`
  carrying a short message that names the log file — never a stack trace.

Connection state: an operation that fails with ``DatabaseUnavailable`` is
also announced with :attr:`Runner.connection_lost` (before its callbacks run).
When a ``ConnectionMonitor`` watches the runner (:meth:`Runner.watch_connection`),
the runner is :attr:`~Runner.offline` from that failure until the monitor's
probe succeeds (:meth:`Runner.mark_connection_restored`, which emits
:attr:`Runner.connection_restored`), and connection failures of operations
without ``on_failure`` are not announced with ``failed``: the banner says it
once instead of a box per failure.

Superseded work: operations started with the same ``key`` (e.g. ``"day"``)
replace each other; only the newest one's callbacks run, so a slow answer for
yesterday never overwrites the grid of today.

Reads and writes: :meth:`Runner.query` runs a read; :meth:`Runner.change` runs a
write and, once it committed, publishes the :class:`~.changes.Changes` it
declares on :attr:`Runner.changes` (the window's one change bus), after
``on_success`` and before ``on_finished``. :meth:`Runner.run` is the older name
of :meth:`Runner.query` and stays for the dialogs that use it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

from ..domain.errors import ClinicError, is_connection_loss
from .changes import ChangeBus, Changes

log = logging.getLogger(__name__)

#: The current aware time, injected into windows and dialogs (tests pass a fixed or stepping one).
Clock = Callable[[], datetime]


def crash_message(log_path: Path | str | None) -> str:
    """The one sentence shown for an unexpected error (details are only in the log)."""
    where = f" {log_path}" if log_path else ""
    return f"Something went wrong; details are in the log file{where}."


class _Relay(QObject):
    """Carries one job's outcome from a worker thread to the GUI thread.

    Created on the GUI thread; its signal is connected (queued) to the runner.

    Signals:
        finished(int, bool, object): job id, whether it succeeded, the result
            or the exception.
    """

    finished = Signal(int, bool, object)


class _Job(QRunnable):
    """Runs ``work()`` on a pool thread and emits its outcome through ``relay``."""

    def __init__(self, job_id: int, work: Callable[[], Any], relay: _Relay, label: str) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the runner keeps the Python object until the outcome arrives
        self.job_id = job_id
        self.work = work
        self.relay = relay
        self.label = label

    def run(self) -> None:
        """Call ``work()`` on the worker thread; emit its result, or its exception (a bug is logged here,
        where its traceback is)."""
        try:
            result = self.work()
        except ClinicError as exc:
            log.info("%s: %s", self.label or "operation", exc)
            self.relay.finished.emit(self.job_id, False, exc)
        except BaseException as exc:
            log.exception("unexpected error in background operation %r", self.label or self.work)
            self.relay.finished.emit(self.job_id, False, exc)
        else:
            self.relay.finished.emit(self.job_id, True, result)


@dataclass
class _Pending:
    job: _Job
    relay: _Relay
    key: str | None
    on_success: Callable[[Any], None] | None
    on_failure: Callable[[ClinicError], None] | None
    on_finished: Callable[[], None] | None


class Runner(QObject):
    """Runs database work off the GUI thread and delivers outcomes on it.

    ``max_threads``: size of the pool (a few: the work is waiting on the
    database, and the engine's pool has ``pool_size + max_overflow``
    connections). ``log_path``: named in the crash message.

    Signals:
        busy_changed(bool): work started while idle (True) or the last pending
            operation finished (False).
        failed(str): an expected error (``ClinicError``) of an operation that
            had no ``on_failure``: its user-readable message.
        crashed(str): an unexpected exception: the short message to show
            (the traceback is in the log file).
        connection_lost(str): an operation failed with ``DatabaseUnavailable``
            (its message); emitted before the operation's callbacks, also for
            superseded operations.
        connection_restored(): the watching monitor found the database
            reachable again after a loss (see :meth:`mark_connection_restored`).

    ``changes``: the :class:`~.changes.ChangeBus` that :meth:`change` publishes on
    (every view of the window subscribes to it).
    """

    busy_changed = Signal(bool)
    failed = Signal(str)
    crashed = Signal(str)
    connection_lost = Signal(str)
    connection_restored = Signal()

    def __init__(self, parent: QObject | None = None, *, log_path: Path | str | None = None,
                 max_threads: int = 4) -> None:
        super().__init__(parent)
        self.log_path = log_path
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._latest: dict[str, int] = {}
        self._closed = False
        self._watched = False
        self._offline = False
        self.changes = ChangeBus(self)

    # -- public API ----------------------------------------------------------------
    def query(self, work: Callable[[], Any], *, on_success: Callable[[Any], None] | None = None,
              on_failure: Callable[[ClinicError], None] | None = None,
              on_finished: Callable[[], None] | None = None, key: str | None = None, label: str = "") -> int:
        """Run a read: ``work()`` on a worker thread, its outcome to the callbacks (see :meth:`run`,
        of which this is the name for reads). Returns the operation's id."""
        return self.run(work, on_success=on_success, on_failure=on_failure, on_finished=on_finished, key=key,
                        label=label)

    def change(self, work: Callable[[], Any], *, changes: Changes | Callable[[Any], Changes] | None = None,
               on_success: Callable[[Any], None] | None = None,
               on_failure: Callable[[ClinicError], None] | None = None,
               on_finished: Callable[[], None] | None = None, key: str | None = None, label: str = "") -> int:
        """Run a write like :meth:`query`; when it succeeds, publish what it changed on :attr:`changes`.

        ``changes``: the :class:`~.changes.Changes` declared up front, or a function of the
        result returning it; omitted, the result itself must be a ``Changes``. It is published
        once, after ``on_success`` and before ``on_finished`` (a failed write publishes nothing:
        ``on_failure`` may publish what it learnt). A result that gives no ``Changes`` is a bug
        (``TypeError``: logged and reported like one, ``on_finished`` still runs).
        """
        def succeeded(result: Any) -> None:
            try:
                if on_success is not None:
                    on_success(result)
            finally:
                declared = changes(result) if callable(changes) else (changes if changes is not None else result)
                self.changes.publish(declared)
        return self.run(work, on_success=succeeded, on_failure=on_failure, on_finished=on_finished, key=key,
                        label=label)

    def run(self, work: Callable[[], Any], *, on_success: Callable[[Any], None] | None = None,
            on_failure: Callable[[ClinicError], None] | None = None,
            on_finished: Callable[[], None] | None = None, key: str | None = None, label: str = "") -> int:
        """Start ``work()`` on a worker thread; return the operation's id.

        ``work`` must not touch widgets or Qt objects of the GUI thread; it
        calls services with plain values. ``on_success(result)`` and
        ``on_failure(clinic_error)`` run later on the GUI thread, then
        ``on_finished()`` whatever the outcome (also after a bug). With ``key``,
        an older pending operation of the same key is superseded: its outcome
        is dropped, callbacks and all (an unexpected error is still logged and
        reported).
        ``label`` names the operation in the log. Raises ``RuntimeError``
        after :meth:`shutdown`.
        """
        if self._closed:
            raise RuntimeError("the runner has been shut down")
        job_id = next(self._ids)
        relay = _Relay()
        relay.finished.connect(self._on_job_finished, Qt.ConnectionType.QueuedConnection)
        job = _Job(job_id, work, relay, label)
        was_busy = self.busy
        self._pending[job_id] = _Pending(job, relay, key, on_success, on_failure, on_finished)
        if key is not None:
            self._latest[key] = job_id
        self._pool.start(job)
        if not was_busy:
            self.busy_changed.emit(True)
        return job_id

    @property
    def busy(self) -> bool:
        """Whether any operation has not delivered its outcome yet."""
        return bool(self._pending)

    def is_current(self, job_id: int, key: str) -> bool:
        """Whether ``job_id`` is the newest operation started with ``key``."""
        return self._latest.get(key) == job_id

    def discard(self, *keys: str) -> None:
        """Drop the outcomes of pending operations started with any of ``keys``
        (e.g. a dialog closing while its search runs). Unexpected errors are still reported."""
        for key in keys:
            if key in self._latest:
                self._latest[key] = 0  # no operation has id 0: every pending one is now superseded

    # -- connection state -------------------------------------------------------------
    def watch_connection(self) -> None:
        """Say that a monitor watches the connection (``ConnectionMonitor`` calls this).

        From now on a ``DatabaseUnavailable`` makes the runner :attr:`offline`
        until :meth:`mark_connection_restored`, and such failures of operations
        without ``on_failure`` are not announced with ``failed``.
        """
        self._watched = True

    @property
    def connection_watched(self) -> bool:
        """Whether a monitor watches the connection (see :meth:`watch_connection`)."""
        return self._watched

    @property
    def offline(self) -> bool:
        """Whether the connection is known lost and not yet found back (only while watched)."""
        return self._offline

    def mark_connection_restored(self) -> None:
        """The database answers again: leave :attr:`offline`, emitting ``connection_restored`` if it was."""
        if self._offline:
            self._offline = False
            self.connection_restored.emit()

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` was called (``run`` refuses new work)."""
        return self._closed

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Refuse new work, wait up to ``timeout_ms`` for running work, drop undelivered outcomes.

        Returns whether every worker finished. Call before the database is disposed.
        """
        self._closed = True
        done = self._pool.waitForDone(timeout_ms)
        self._pending.clear()
        return done

    # -- delivery (GUI thread) -----------------------------------------------------
    @Slot(int, bool, object)
    def _on_job_finished(self, job_id: int, ok: bool, outcome: object) -> None:
        pending = self._pending.pop(job_id, None)
        if pending is None:
            return  # shut down meanwhile
        pending.relay.deleteLater()
        superseded = pending.key is not None and self._latest.get(pending.key) != job_id
        if pending.key is not None and not superseded:
            del self._latest[pending.key]
        try:
            if not ok and is_connection_loss(outcome):
                if self._watched:
                    self._offline = True
                self.connection_lost.emit(str(outcome))
            if not ok and not isinstance(outcome, ClinicError):
                self.crashed.emit(crash_message(self.log_path))  # already logged on the worker
                if not superseded and pending.on_finished is not None:
                    self._call(pending, pending.on_finished)
            elif not superseded:
                self._deliver(pending, ok, outcome)
        finally:
            if not self._pending:
                self.busy_changed.emit(False)

    def _deliver(self, pending: _Pending, ok: bool, outcome: Any) -> None:
        callbacks: list[Callable[[], None]] = []
        if ok:
            if pending.on_success is not None:
                callbacks.append(lambda: pending.on_success(outcome))  # type: ignore[misc]
        elif pending.on_failure is not None:
            callbacks.append(lambda: pending.on_failure(outcome))  # type: ignore[misc]
        elif self._watched and is_connection_loss(outcome):
            pass  # the connection banner tells it (connection_lost was emitted)
        else:
            callbacks.append(lambda: self.failed.emit(str(outcome)))
        if pending.on_finished is not None:
            callbacks.append(pending.on_finished)
        for callback in callbacks:
            self._call(pending, callback)

    def _call(self, pending: _Pending, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:  # a bug in a callback: same treatment as one in the work
            log.exception("unexpected error handling the outcome of %r", pending.job.label or pending.job.work)
            self.crashed.emit(crash_message(self.log_path))
