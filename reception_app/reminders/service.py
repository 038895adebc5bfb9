"""The reminder service loop: claim → send → mark, woken by LISTEN/NOTIFY, with sweeps.

One :class:`ReminderService` is one worker; any number may run against one
database (each claim skips rows another worker holds). The loop:

1. claims a batch of due reminders (``queue.claim_round``: a lease, one more attempt;
   an SMS or WhatsApp message inside its branch's quiet hours is not claimed but put
   back until they end, so a retry never goes out at night);
2. renders and sends each on its channel, and records the outcome
   (``mark_sent`` / ``mark_failed`` with exponential backoff, ``failed`` after the
   last attempt or a permanent refusal) before the next message is handed over, so
   a worker killed mid-batch re-sends at most the one message that was in flight
   when it died (after its lease ran out). A ``sent`` mark is written by the
   service's recorder thread (its own pooled connection) while the next message is
   rendered and its SMTP transaction opened; the send waits for that mark just
   before ``DATA`` (``before_delivery``; other channels wait before ``send``), and
   a round waits for its last mark before it returns. Nothing is marked sent that
   its channel did not accept;
3. sweeps expired holds (``catalog.release_expired_holds``) and waitlist offers
   (``services.waitlist.process_freed_slots``) every ``sweep_seconds`` and on
   ``NOTIFY clinic_waitlist`` — each only when the service's login may: both are
   reception's work, which a least-privileged ``clinic_reminders`` login may not do
   (see ``privileges``; then ``clinic waitlist process`` runs on a timer as a
   reception login). The utilization summary is not refreshed here (a timer runs
   ``clinic db refresh``: installers/README.md);
4. sleeps until the next reminder is due, at most ``poll_seconds``, woken early by
   ``NOTIFY clinic_reminders`` (sent by migration 0004 when reminders are queued).

A round (claim, sends, marks, sweep) that fails because the database is unreachable
(``DatabaseUnavailable``) or because a serialization conflict or deadlock outlived the
runner's retries (``SlotTaken``) is logged, and the loop backs off (0.5 s doubling to
15 s) and carries on; a bookkeeping write meeting either is retried for up to the lease
time. The write runner reconnects; the listener reconnects by itself. Other errors
(``PermissionDenied``: the login lacks the rights; bugs) propagate. :meth:`ReminderService.stop`
(the CLI calls it on SIGTERM) lets the message in flight finish and be recorded,
gives the rest of the batch back (``queue.release``) and returns from :meth:`run`.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import psycopg

from ..channels import Channel, SendError
from ..channels.settings import ReminderSettings, build_channels
from ..domain.errors import ClinicError, DatabaseUnavailable, SlotTaken
from ..services import catalog, reminder_queries
from ..store.database import Database
from . import privileges, queue
from .messages import Claimed, render

log = logging.getLogger(__name__)
T = TypeVar("T")

NOTIFY_CHANNELS = ("clinic_reminders", "clinic_waitlist")
#: The waitlist module of issue 4; called when it exists (see ``ReminderService.sweep``).
WAITLIST_MODULE = "reception_app.services.waitlist"


class _Unrecorded(Exception):
    """Internal: the write of the previous message's outcome raised ``error`` while a channel
    waited for it before handing the next message over."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class ReminderService:
    """One reminder worker over ``db`` (see the module docstring).

    ``conninfo``: the libpq string for the LISTEN connection (default ``db.conninfo``);
    ``worker``: this worker's name in ``reminder.claimed_by`` (default host:pid:random).
    Counters ``sent``, ``failed`` (attempts that failed) and ``gave_up`` are kept for
    logs and benchmarks.
    """

    def __init__(self, db: Database, settings: ReminderSettings, *, conninfo: str | None = None,
                 worker: str | None = None, channels: dict[str, Channel] | None = None) -> None:
        self.db = db
        self.settings = settings
        self.channels = channels if channels is not None else build_channels(settings)
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._conninfo = conninfo or db.conninfo
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._waitlist_due = threading.Event()
        self._listener: threading.Thread | None = None
        self._last_sweep = 0.0
        self._standing: privileges.Standing | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future | None = None   # the last ``sent`` mark handed to the recorder
        self.sent = 0
        self.failed = 0
        self.gave_up = 0

    # -- one round -------------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> int:
        """Claim one batch and send it; returns how many due reminders the claim handled (sent
        now, put back for quiet hours or cancelled; 0: nothing was due). ``now`` (aware): the
        instant to judge what is due and what is quiet by (default: the database's clock). Every
        outcome is recorded when it returns. Raises ``DatabaseUnavailable`` when the claim cannot
        reach the database, ``SlotTaken`` when its conflicts outlived the runner's retries."""
        try:
            done = queue.claim_round(self.db, worker=self.worker, channels=list(self.channels),
                                     batch=self.settings.batch_size, lease_s=self.settings.lease_seconds, now=now)
            if done.deferred:
                log.info("%d reminder(s) inside the quiet hours: put back until they end", done.deferred)
            batch = done.claimed
            for i, item in enumerate(batch):
                if self._stop.is_set():
                    self._settle()
                    rest = [r.reminder_id for r in batch[i:]]
                    given_back = self._record(partial(queue.release, self.db, rest, worker=self.worker))
                    log.info("stopping: gave back %s claimed reminders", given_back)
                    break
                self._deliver(item)
        finally:
            self._settle()
        return done.handled

    def _deliver(self, item: Claimed) -> None:
        channel = self.channels[item.channel]
        unrecorded: Exception | None = None
        try:
            message = render(item, default_phone=self.settings.default_phone)
            if getattr(channel, "takes_before_delivery", False):
                ref = channel.send(message, before_delivery=self._settle_before_delivery)  # type: ignore[call-arg]
            else:
                self._settle_before_delivery()
                ref = channel.send(message)
        except _Unrecorded as exc:        # the previous outcome's write failed: this one was not handed over
            unrecorded = exc.error
        except SendError as exc:
            self._failed(item, str(exc), permanent=exc.permanent)
            return
        except Exception as exc:  # a bug (template, channel): never retried blindly, shown to reception
            log.exception("reminder %s could not be sent", item.reminder_id)
            self._failed(item, f"internal error: {type(exc).__name__}: {exc}", permanent=True)
            return
        if unrecorded is not None:        # raised as it came from the write (its cause kept)
            raise unrecorded
        self._pending = self._recorder().submit(self._record, partial(
            queue.mark_sent, self.db, item.reminder_id, worker=self.worker, provider_ref=ref))
        self.sent += 1
        log.debug("reminder %s sent (%s, %s)", item.reminder_id, item.channel, item.purpose)

    def _recorder(self) -> ThreadPoolExecutor:
        """The one thread that writes ``sent`` marks (started on first use, ended by :meth:`close`)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clinic-reminders-record")
        return self._executor

    def _settle(self) -> None:
        """Wait until the last ``sent`` mark handed to the recorder is written (or given up: see
        :meth:`_record`); re-raise what the write raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _settle_before_delivery(self) -> None:
        """:meth:`_settle` for a channel's ``before_delivery``: what the write raised comes wrapped
        in ``_Unrecorded``, so that ``_deliver`` does not take it for a failure of the send."""
        try:
            self._settle()
        except Exception as exc:
            raise _Unrecorded(exc) from exc

    def _failed(self, item: Claimed, error: str, *, permanent: bool) -> None:
        s = self.settings
        self.failed += 1
        self._settle()
        status = self._record(lambda: queue.mark_failed(
            self.db, item.reminder_id, worker=self.worker, error=error, permanent=permanent,
            max_attempts=s.max_attempts, backoff_s=s.backoff_seconds, backoff_max_s=s.backoff_max_seconds))
        if status == "failed":
            self.gave_up += 1
            log.warning("reminder %s failed for good after %d attempts: %s", item.reminder_id, item.attempts, error)
        else:
            log.info("reminder %s attempt %d failed, will retry: %s", item.reminder_id, item.attempts, error)

    def _record(self, write: Callable[[], T]) -> T | None:
        """Run a bookkeeping write, retrying while the database is unreachable (a restart) or its
        conflicts outlive the runner's retries (``SlotTaken``), for up to the lease time: a send
        already happened and must not be forgotten. None if it never got through (the reminder is
        sent again once its lease runs out, with the same idempotency key)."""
        deadline = time.monotonic() + self.settings.lease_seconds
        delay = 0.2
        while True:
            try:
                return write()
            except (DatabaseUnavailable, SlotTaken) as exc:
                if time.monotonic() >= deadline:
                    log.error("could not record a reminder's outcome: %s", exc)
                    return None
                log.info("could not record a reminder's outcome (%s); retrying in %.1f s", exc, delay)
                time.sleep(delay)
                delay = min(5.0, delay * 2)

    # -- sweeps ---------------------------------------------------------------------------
    def sweep(self, now: datetime | None = None) -> dict[str, Any]:
        """Release expired holds and process freed waitlist slots, each only when the login may
        (looked up once, ``privileges.standing``; what is skipped is logged once). Returns what was
        done: ``holds_released`` (None: skipped) and ``waitlist_offers`` (None: skipped, or the
        waitlist module has no ``process_freed_slots``). ``now``: aware UTC, the waitlist's clock
        (default: this machine's). Raises ``DatabaseUnavailable``."""
        now = now or datetime.now(UTC)
        self._last_sweep = time.monotonic()
        self._waitlist_due.clear()
        rights = self._rights()
        done: dict[str, Any] = {"holds_released": None, "waitlist_offers": None}
        if rights.may_release_holds:
            done["holds_released"] = self.db.write(lambda conn: catalog.release_expired_holds(conn),
                                                   reason="expired holds released")
        # The waitlist's backfill (issue 4) when reception_app/services/waitlist.py provides
        # process_freed_slots(db, *, now) and the login has reception's rights to make offers.
        try:
            waitlist = importlib.import_module(WAITLIST_MODULE)
        except ImportError:
            waitlist = None
        process = getattr(waitlist, "process_freed_slots", None)
        if process is not None and rights.may_offer_waitlist:
            try:
                done["waitlist_offers"] = len(process(self.db, now=now) or [])
            except DatabaseUnavailable:
                raise
            except ClinicError as exc:  # an expected refusal (a slot taken meanwhile): next sweep tries again
                log.warning("waitlist sweep: %s", exc)
        if done["holds_released"] or done["waitlist_offers"]:
            log.info("sweep: %s", done)
        return done

    def _rights(self) -> privileges.Standing:
        """The login's standing, looked up on the first sweep; logs once what the sweep leaves out."""
        if self._standing is None:
            self._standing = privileges.standing(self.db)
            if not self._standing.may_release_holds:
                log.info("sweep: login %s may not release expired holds (reception's work; an expired hold "
                         "blocks nobody, the next booking of the time releases it)", self._standing.login)
            if not self._standing.may_offer_waitlist:
                log.info("sweep: login %s may not make waitlist offers (reception's work): run `clinic "
                         "waitlist process` as a reception login on a timer (installers/README.md)",
                         self._standing.login)
        return self._standing

    # -- the loop ---------------------------------------------------------------------------
    def start_listening(self) -> None:
        """Start the LISTEN thread (idempotent); ``run`` calls it."""
        if self._listener is None or not self._listener.is_alive():
            self._listener = threading.Thread(target=self._listen, name="clinic-reminders-listen", daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10,
                                     application_name="clinic-reminders listen", keepalives=1,
                                     keepalives_idle=15, keepalives_interval=5, keepalives_count=3) as conn:
                    reminder_queries.listen(conn, NOTIFY_CHANNELS)
                    backoff = 0.5
                    self._wake.set()          # (re)connected: look again, something may have been missed
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            if note.channel == "clinic_waitlist":
                                self._waitlist_due.set()
                            self._wake.set()
            except psycopg.Error as exc:
                if self._stop.is_set():
                    break
                log.info("reminder listener lost its connection (%s); retrying in %.1f s",
                         str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, backoff)
                self._stop.wait(backoff)
                backoff = min(15.0, backoff * 2)

    def stop(self) -> None:
        """Ask the loop to finish the message in flight and return (safe from a signal handler)."""
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, until_idle: bool = False) -> None:
        """Run until :meth:`stop` (or, with ``until_idle``, until nothing is due). A round or
        sweep that fails because the database is unreachable (``DatabaseUnavailable``) or a
        conflict outlived the runner's retries (``SlotTaken``: serialization failures, deadlocks)
        is logged and waited out with backoff (0.5 s doubling to 15 s); never raises for them.
        Other errors propagate: ``PermissionDenied`` (the login lacks the rights: the CLI stops with
        its exit code) and bugs."""
        self.start_listening()
        s = self.settings
        outage = 0.5
        while not self._stop.is_set():
            self._wake.clear()
            try:
                claimed = self.run_once()
                if self._stop.is_set():
                    break
                if self._waitlist_due.is_set() or time.monotonic() - self._last_sweep >= s.sweep_seconds:
                    self.sweep()
                outage = 0.5
                if claimed >= s.batch_size:
                    continue                  # more may be due right now
                if until_idle:
                    return
                nxt = queue.next_ready(self.db, list(self.channels))
            except DatabaseUnavailable as exc:
                log.warning("database unavailable (%s); retrying in %.1f s", exc, outage)
                self._stop.wait(outage)
                outage = min(15.0, outage * 2)
                continue
            except SlotTaken as exc:          # a serialization conflict or lock past the runner's retries
                cause = str(exc.__cause__ or exc).strip().splitlines() or [type(exc).__name__]
                log.warning("reminder round failed: a conflict outlived the retries (%s); retrying in %.1f s",
                            cause[0], outage)
                self._stop.wait(outage)
                outage = min(15.0, outage * 2)
                continue
            timeout = s.poll_seconds
            if nxt is not None:
                timeout = min(timeout, max(0.0, (nxt - datetime.now(UTC)).total_seconds()) + 0.01)
            timeout = min(timeout, max(0.0, s.sweep_seconds - (time.monotonic() - self._last_sweep)))
            self._wake.wait(timeout)

    def close(self) -> None:
        """Stop the listener and close the channels' connections."""
        self.stop()
        if self._listener is not None:
            self._listener.join(5)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for channel in {id(c): c for c in self.channels.values()}.values():
            channel.close()
