"""The LISTEN bridge: schedule changes from every workstation, as they commit.

Triggers send ``pg_notify('clinic_schedule', '{"branch": id, "day": "YYYY-MM-DD"}')``
after each statement that changes appointments or bookings (migration 0001;
``day`` is the branch-local date). :class:`ScheduleListener` receives them on
its own autocommit connection in a daemon thread — never a connection the
rest of the program uses — and calls back with ``(branch_id, local_date)``.
The roster triggers (migration 0003: shifts, exceptions, time off, blocks,
holidays) send ``{"roster": "<table>"}`` on the same channel, with no branch:
those call ``on_roster(table)`` instead (skipped when no ``on_roster`` is given).

Notifications are best effort: while the connection is down they are lost.
So the listener reports the loss once (``on_disconnect``), reconnects by
itself (backoff 0.5 s doubling to 15 s; :meth:`ScheduleListener.retry_now`
skips the wait) and calls ``on_reconnect`` after every reconnection, telling
the caller to reload what it shows; callers also keep a slow periodic reload
(docs/architecture.md, "Live refresh"). TCP keepalives notice a silently dead network
within about half a minute. No Qt here: the UI wraps it in ``ui.live``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import date

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "clinic_schedule"


class ScheduleListener:
    """Listen on ``clinic_schedule`` and call ``on_change(branch_id, local_date)`` per notification.

    ``conninfo``: the libpq string the program connects with (same server and
    login). Callbacks run on the listener's thread: keep them short and
    thread-safe (the UI emits a Qt signal). ``on_reconnect()`` runs after each
    reconnection (not the first connection). ``on_disconnect(reason)`` runs
    once per outage, when the connection is lost or the first connection fails
    (``reason``: libpq's first line). ``on_roster(table)`` runs for a roster
    notification (``table``: the roster table that changed, e.g. ``"time_off"``).
    Malformed payloads are logged and skipped. ``poll_s``: how often the thread
    checks for ``stop()``.
    """

    def __init__(self, conninfo: str, on_change: Callable[[int, date], None], *,
                 on_reconnect: Callable[[], None] | None = None,
                 on_roster: Callable[[str], None] | None = None,
                 on_disconnect: Callable[[str], None] | None = None, application_name: str = "clinic-listen",
                 poll_s: float = 0.5, max_backoff_s: float = 15.0) -> None:
        self._conninfo = conninfo
        self._on_change = on_change
        self._on_reconnect = on_reconnect
        self._on_roster = on_roster
        self._on_disconnect = on_disconnect
        self._application_name = application_name
        self._poll_s = poll_s
        self._max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None

    @property
    def listening(self) -> bool:
        """True while connected and subscribed."""
        return self._listening.is_set()

    def wait_listening(self, timeout: float = 10.0) -> bool:
        """Block until subscribed (or ``timeout`` seconds); returns whether it is."""
        return self._listening.wait(timeout)

    def start(self) -> None:
        """Start the listener thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._wake.clear()
            self._thread = threading.Thread(target=self._run, name="clinic-listen", daemon=True)
            self._thread.start()

    def retry_now(self) -> None:
        """If waiting to reconnect, try at once (e.g. the database is known to be back)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and close the connection; waits up to ``timeout`` seconds for the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        backoff = 0.5
        connected_before = False
        down_reported = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, application_name=self._application_name,
                                     connect_timeout=10, keepalives=1, keepalives_idle=15,
                                     keepalives_interval=5, keepalives_count=3) as conn:
                    self._conn = conn
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    backoff = 0.5
                    down_reported = False
                    if connected_before and self._on_reconnect is not None:
                        self._on_reconnect()
                    connected_before = True
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=self._poll_s):
                            self._deliver(note.payload)
            except psycopg.Error as exc:
                self._listening.clear()
                if self._stop.is_set():
                    break
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                log.info("schedule listener lost its connection (%s); retrying in %.1f s", reason, backoff)
                if not down_reported:
                    down_reported = True
                    self._report_disconnect(reason)
                self._wake.wait(backoff)
                self._wake.clear()
                backoff = min(self._max_backoff_s, backoff * 2)
            except Exception:  # a bug in a callback: log it, keep listening
                log.exception("schedule listener callback failed")
            finally:
                self._listening.clear()
                self._conn = None

    def _report_disconnect(self, reason: str) -> None:
        if self._on_disconnect is None:
            return
        try:
            self._on_disconnect(reason)
        except Exception:  # a bug in the callback: log it, keep reconnecting
            log.exception("schedule listener disconnect callback failed")

    def _deliver(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            if isinstance(data, dict) and "roster" in data and "branch" not in data:
                if self._on_roster is not None:
                    self._on_roster(str(data["roster"]))
                return
            branch_id, day = int(data["branch"]), date.fromisoformat(str(data["day"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed %s notification: %r", CHANNEL, payload[:200])
            return
        self._on_change(branch_id, day)
