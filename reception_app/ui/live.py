"""Live refresh for the window: the LISTEN bridge as Qt signals.

Wraps ``store.listen.ScheduleListener`` (its own connection, its own thread).
Signals emitted from the listener's thread reach receivers in the GUI thread
through Qt's queued connections, so slots never run on the listener thread.

:class:`LiveFeed` turns those signals into the window's change values: every
notification becomes a :class:`~.changes.Changes` (a schedule day, a roster
change, or everything after a reconnection), and a burst of them (one per
statement of a commit) is published on the change bus as one merged value
``LIVE_DEBOUNCE_MS`` after the first.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ..store.listen import ScheduleListener
from .changes import LIVE, ChangeBus, Changes

#: Milliseconds to wait after a live notification before publishing it (coalesces a commit's burst).
LIVE_DEBOUNCE_MS = 60


class LiveSchedule(QObject):
    """Schedule changes committed by any workstation, as signals.

    ``conninfo``: the libpq string of the clinic database (``Database.conninfo``).
    ``max_backoff_s``: the longest wait between reconnection attempts.

    Signals:
        schedule_changed(int, object): appointments of branch ``id`` on the
            branch-local ``date`` changed.
        rosters_changed(str): a roster table changed (shifts, exceptions,
            time off, blocks, holidays: its name); the database does not say
            which branch.
        disconnected(str): the listener lost its connection (or could not make
            its first one); notifications are missed until ``reconnected``. The
            reason is libpq's first line (for the log or a tooltip, not a box).
        reconnected(): the listener had lost its connection and is back;
            notifications may have been missed, so reload what is shown.
    """

    schedule_changed = Signal(int, object)
    rosters_changed = Signal(str)
    disconnected = Signal(str)
    reconnected = Signal()

    def __init__(self, conninfo: str, parent: QObject | None = None, *, max_backoff_s: float = 15.0) -> None:
        super().__init__(parent)
        self._listener = ScheduleListener(conninfo, self._emit_change, on_reconnect=self._emit_reconnected,
                                          on_roster=self._emit_rosters,
                                          on_disconnect=self._emit_disconnected, max_backoff_s=max_backoff_s)

    def start(self) -> None:
        """Start listening (in the background)."""
        self._listener.start()

    def stop(self) -> None:
        """Stop listening and close the listener's connection."""
        self._listener.stop()

    @property
    def listening(self) -> bool:
        """True while connected and subscribed."""
        return self._listener.listening

    def retry_now(self) -> None:
        """If the listener is waiting to reconnect, try at once (the database is known to be back)."""
        self._listener.retry_now()

    def wait_listening(self, timeout: float = 10.0) -> bool:
        """Block until subscribed (tests; never on the GUI thread in the app)."""
        return self._listener.wait_listening(timeout)

    def _emit_change(self, branch_id: int, day: date) -> None:  # listener thread
        self.schedule_changed.emit(branch_id, day)

    def _emit_rosters(self, table: str) -> None:  # listener thread
        self.rosters_changed.emit(table)

    def _emit_disconnected(self, reason: str) -> None:  # listener thread
        self.disconnected.emit(reason)

    def _emit_reconnected(self) -> None:  # listener thread
        self.reconnected.emit()


class LiveFeed(QObject):
    """Publishes other workstations' commits on ``bus`` as :class:`~.changes.Changes` (origin ``"live"``).

    ``live``: the :class:`LiveSchedule`. A schedule notification becomes
    ``Changes.of_day(branch, day)``, a roster one ``Changes(rosters=True)``, a
    reconnection (notifications may have been missed) ``Changes.all()``. The
    first of a burst starts a ``debounce_ms`` timer (not restarted by the
    next, so a steady stream still lands every ``debounce_ms``); when it fires,
    everything received meanwhile is published as one value.
    """

    def __init__(self, live: LiveSchedule, bus: ChangeBus, *, debounce_ms: int = LIVE_DEBOUNCE_MS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bus = bus
        self._pending: Changes | None = None
        self._stopped = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self.flush)
        # Bound slots of this GUI-thread object: the listener thread's signals arrive queued.
        live.schedule_changed.connect(self._on_schedule_changed)
        live.rosters_changed.connect(self._on_rosters_changed)
        live.reconnected.connect(self._on_reconnected)

    @Slot(int, object)
    def _on_schedule_changed(self, branch_id: int, day: date) -> None:
        self.add(Changes.of_day(branch_id, day, LIVE))

    @Slot(str)
    def _on_rosters_changed(self, _table: str) -> None:
        self.add(Changes(rosters=True, origin=LIVE))

    @Slot()
    def _on_reconnected(self) -> None:
        self.add(Changes.all(LIVE))

    def add(self, changes: Changes) -> None:
        """Join ``changes`` to the burst being collected (starting the timer if idle); ignored
        after :meth:`stop`."""
        if self._stopped:
            return
        self._pending = changes if self._pending is None else self._pending | changes
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Publish what was collected now (the timer's end; also on demand)."""
        self._timer.stop()
        pending, self._pending = self._pending, None
        if pending is not None:
            self._bus.publish(pending)

    def stop(self) -> None:
        """Drop what was collected and publish nothing more (the window is closing)."""
        self._stopped = True
        self._timer.stop()
        self._pending = None
