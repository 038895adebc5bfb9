"""A lost database connection: noticed, told once in a banner, probed until it is back.

:class:`ConnectionMonitor` is the logic (a plain ``QObject``, no widget). It
learns that the connection is lost from two places:

* the :class:`~.runner.Runner`: any operation failing with
  ``DatabaseUnavailable`` meaning a lost connection (``Runner.connection_lost``);
* the live-refresh listener (``LiveSchedule.disconnected``).

While lost it probes the database in the background through the runner
(``Database.ping``: a ``SELECT 1``; the ``Database`` replaces dead pooled
connections itself) with backoff 1, 2, 4, 8, 15, 15 … seconds; "Try now"
probes at once. When a probe succeeds it tells the runner
(``Runner.mark_connection_restored``: dialogs waiting for the connection
carry on), wakes the listener, and emits ``restored`` so the window reloads
what it shows.

:class:`ConnectionBanner` only displays the monitor: a strip for the top of
the window, "Connection to the clinic database lost — reconnecting…" with the
attempt, the countdown and a "Try now" button; then "Reconnected" for a few
seconds. Nothing is closed or reset: open dialogs keep what was typed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from ..domain.errors import ClinicError, DatabaseUnavailable, is_connection_loss
from ..store.database import Database
from .live import LiveSchedule
from .runner import Runner

log = logging.getLogger(__name__)

#: The banner's words while the connection is lost.
LOST_TEXT = "Connection to the clinic database lost — reconnecting…"
#: The banner's words once it is back.
RECONNECTED_TEXT = "Reconnected"


class ConnectionMonitor(QObject):
    """Whether the clinic database is reachable, and getting back to it.

    ``db``: the database to probe; ``runner``: the window's runner (its
    failures are watched and the probes run on it; the monitor calls
    ``runner.watch_connection()``, so connection failures no longer pop an
    error box each). ``live``: the live-refresh listener, if any (its losses
    count, and it is woken when the database is back). ``first_delay_ms`` /
    ``max_delay_ms``: the wait before the first probe, doubled per failed
    probe up to the maximum (tests pass small ones).

    Signals:
        lost(str): the connection was lost (once per outage): the reason, for
            the log or a tooltip.
        retry_scheduled(int, int): probe number ``attempt`` (from 1) runs in
            ``delay_ms``.
        probing(int): probe number ``attempt`` started.
        restored(): the database answers again: reload what is shown.
        restarted(): it answers because the monitor started it again (the built-in database had
            stopped: :attr:`restart`); ``restored`` follows.

    ``restart``: for the built-in (embedded) database, how to start it again when a probe finds it
    down (``store.embedded.start_embedded``; run on the runner's worker thread, then the probe is
    repeated); ``None`` for a server, which is the clinic's IT's to start.
    """

    lost = Signal(str)
    retry_scheduled = Signal(int, int)
    probing = Signal(int)
    restored = Signal()
    restarted = Signal()

    def __init__(self, db: Database, runner: Runner, live: LiveSchedule | None = None, *,
                 first_delay_ms: int = 1000, max_delay_ms: int = 15_000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._runner = runner
        self._live = live
        self._first_delay_ms = first_delay_ms
        self._max_delay_ms = max_delay_ms
        self._lost = False
        self._reason = ""
        self._attempt = 0
        self._delay_ms = first_delay_ms
        self._probe_running = False
        self._next_try_at: float | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.try_now)
        self.restart: Callable[[], object] | None = None
        runner.watch_connection()
        runner.connection_lost.connect(self.report_lost)
        if live is not None:
            live.disconnected.connect(self.report_lost)
            live.reconnected.connect(self._on_live_reconnected)

    # -- state ---------------------------------------------------------------------------
    @property
    def is_lost(self) -> bool:
        """Whether the connection is lost (from the first failure to the first successful probe)."""
        return self._lost

    @property
    def reason(self) -> str:
        """The last failure's message while lost (``""`` otherwise)."""
        return self._reason

    @property
    def attempt(self) -> int:
        """The number of the next (or running) probe while lost, from 1; 0 when connected."""
        return self._attempt

    @property
    def probe_running(self) -> bool:
        """Whether a probe is on its way."""
        return self._probe_running

    def seconds_to_next_try(self) -> int:
        """Whole seconds (rounded up) until the next scheduled probe; 0 if none is scheduled."""
        if self._next_try_at is None:
            return 0
        return max(0, int(-(-(self._next_try_at - time.monotonic()) // 1)))

    @staticmethod
    def absorbs(error: ClinicError) -> bool:
        """Whether ``error`` is a lost connection, which the banner reports (no box needed)."""
        return is_connection_loss(error)

    # -- actions -------------------------------------------------------------------------
    def report_lost(self, reason: str = "") -> None:
        """The connection is lost (``reason``: for the log). Starts probing unless already lost."""
        if reason:
            self._reason = reason
        if self._lost:
            return
        log.warning("connection to the clinic database lost: %s", reason or "(no detail)")
        self._lost = True
        self._attempt = 1
        self._delay_ms = self._first_delay_ms
        self.lost.emit(self._reason)
        if not self._probe_running:
            self._schedule()

    def try_now(self) -> None:
        """Probe the database at once (the "Try now" button; also the timer). No-op if connected
        or a probe is already running."""
        if not self._lost or self._probe_running or self._runner.closed:
            return
        self._timer.stop()
        self._next_try_at = None
        self._probe_running = True
        self.probing.emit(self._attempt)
        db, restart = self._db, self.restart

        def probe() -> bool:
            """Ping; when the database is down and can be started here, start it and ping again.
            True when it was started again."""
            try:
                db.ping()
                return False
            except DatabaseUnavailable:
                if restart is None:
                    raise
            log.warning("the built-in database is not running: starting it again")
            restart()
            db.ping()
            return True
        self._runner.run(probe, on_success=self._on_probe_succeeded, on_failure=self._on_probe_failed,
                         on_finished=self._on_probe_finished, label="connection probe")

    def stop(self) -> None:
        """Stop probing (the window is closing); a later loss report starts again."""
        self._timer.stop()
        self._next_try_at = None

    # -- internals ----------------------------------------------------------------------
    def _schedule(self) -> None:
        delay = self._delay_ms
        self._next_try_at = time.monotonic() + delay / 1000
        self._timer.start(delay)
        self.retry_scheduled.emit(self._attempt, delay)

    def _on_probe_succeeded(self, result: object) -> None:
        if not self._lost:
            return
        if result is True:
            self.restarted.emit()
        log.info("connection to the clinic database is back (probe %d)", self._attempt)
        self._lost = False
        self._reason = ""
        self._attempt = 0
        self._next_try_at = None
        self._timer.stop()
        self._runner.mark_connection_restored()
        if self._live is not None and not self._live.listening:
            self._live.retry_now()
        self.restored.emit()

    def _on_probe_failed(self, error: ClinicError) -> None:
        if not is_connection_loss(error):
            # It answered, only refused this harmless query (a role without rights?): reachable.
            self._on_probe_succeeded(None)
            return
        self._reason = str(error)
        if self._lost:
            self._attempt += 1
            self._delay_ms = min(self._max_delay_ms, self._delay_ms * 2)

    def _on_probe_finished(self) -> None:
        self._probe_running = False
        if self._lost and not self._timer.isActive():
            self._schedule()

    def _on_live_reconnected(self) -> None:
        if self._lost:
            self.try_now()  # the listener got through: the database is most likely back


class ConnectionBanner(QFrame):
    """The strip at the top of the window that shows a ``ConnectionMonitor``.

    Hidden while connected. While lost: amber, ``LOST_TEXT`` with the attempt
    and the seconds to the next try, and a "Try now" button; then green
    "Reconnected" for ``reconnected_ms`` before hiding again.
    """

    def __init__(self, monitor: ConnectionMonitor, parent: QWidget | None = None, *,
                 reconnected_ms: int = 3000) -> None:
        super().__init__(parent)
        self._monitor = monitor
        self.setObjectName("connectionBanner")
        self.setAccessibleName("Database connection")
        h = QHBoxLayout(self)
        h.setContentsMargins(10, 4, 6, 4)
        self.message_label = QLabel()
        self.message_label.setObjectName("connectionMessage")
        self.message_label.setWordWrap(True)
        h.addWidget(self.message_label, 1)
        self.try_now_button = QPushButton("Try now")
        self.try_now_button.setObjectName("tryNowButton")
        self.try_now_button.setAccessibleDescription("Tries to reach the clinic database at once")
        self.try_now_button.setAutoDefault(False)
        self.try_now_button.clicked.connect(monitor.try_now)
        h.addWidget(self.try_now_button)
        self._tick = QTimer(self)  # the countdown
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._update_text)
        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.setInterval(reconnected_ms)
        self._hide_timer.timeout.connect(self.hide)
        monitor.lost.connect(self._on_monitor_lost)
        monitor.retry_scheduled.connect(self._on_monitor_retry_scheduled)
        monitor.probing.connect(self._on_monitor_probing)
        monitor.restored.connect(self._on_monitor_restored)
        self.hide()

    @property
    def text(self) -> str:
        """The words shown."""
        return self.message_label.text()

    def _style(self, lost: bool) -> None:
        self.setStyleSheet(
            "QFrame#connectionBanner { background: #fff4ce; border: 1px solid #e0b252; border-radius: 4px; }"
            " QLabel { color: #5c3b00; font-weight: 600; }" if lost else
            "QFrame#connectionBanner { background: #e3f4e1; border: 1px solid #8cc084; border-radius: 4px; }"
            " QLabel { color: #1e4620; font-weight: 600; }")

    def _on_monitor_lost(self, reason: str) -> None:
        self._hide_timer.stop()
        self._style(lost=True)
        self.try_now_button.show()
        self.try_now_button.setEnabled(True)
        self._update_text()
        self.show()

    def _on_monitor_retry_scheduled(self, _attempt: int, _delay_ms: int) -> None:
        self.try_now_button.setEnabled(True)
        self._update_text()
        self._tick.start()

    def _on_monitor_probing(self, _attempt: int) -> None:
        self._tick.stop()
        self.try_now_button.setEnabled(False)
        self._update_text()

    def _on_monitor_restored(self) -> None:
        self._tick.stop()
        self._style(lost=False)
        self.try_now_button.hide()
        self.message_label.setText(RECONNECTED_TEXT)
        self.message_label.setToolTip("")
        self.show()
        self._hide_timer.start()

    def _update_text(self) -> None:
        m = self._monitor
        if not m.is_lost:
            return
        if m.probe_running:
            detail = f"attempt {m.attempt}, trying now…"
        else:
            detail = f"attempt {m.attempt}, next try in {m.seconds_to_next_try()} s"
        self.message_label.setText(f"{LOST_TEXT} ({detail})")
        self.message_label.setToolTip(m.reason)
