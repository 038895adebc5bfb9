"""Live refresh for the window: the LISTEN bridge as Qt signals.

Wraps ``store.listen.ScheduleListener`` (its own connection, its own thread).
Signals emitted from the listener's thread reach receivers in the GUI thread
through Qt's queued connections, so slots never run on the listener thread.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QObject, Signal

from ..store.listen import ScheduleListener


class LiveSchedule(QObject):
    """Schedule changes committed by any workstation, as signals.

    ``conninfo``: the libpq string of the clinic database (``Database.conninfo``).
    ``max_backoff_s``: the longest wait between reconnection attempts.

    Signals:
        schedule_changed(int, object): appointments of branch ``id`` on the
            branch-local ``date`` changed.
        disconnected(str): the listener lost its connection (or could not make
            its first one); notifications are missed until ``reconnected``. The
            reason is libpq's first line (for the log or a tooltip, not a box).
        reconnected(): the listener had lost its connection and is back;
            notifications may have been missed, so reload what is shown.
    """

    schedule_changed = Signal(int, object)
    disconnected = Signal(str)
    reconnected = Signal()

    def __init__(self, conninfo: str, parent: QObject | None = None, *, max_backoff_s: float = 15.0) -> None:
        super().__init__(parent)
        self._listener = ScheduleListener(conninfo, self._emit_change, on_reconnect=self._emit_reconnected,
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

    def _emit_disconnected(self, reason: str) -> None:  # listener thread
        self.disconnected.emit(reason)

    def _emit_reconnected(self) -> None:  # listener thread
        self.reconnected.emit()
