"""Undo of a move made by dragging a block on the grid: :class:`MoveUndo`.

A drag is the one change a receptionist can make by accident — a slip of the mouse while scrolling
moves a patient — so for :data:`UNDO_SECONDS` after a drag move the window offers to take it back:
Ctrl+Z (``QKeySequence.Undo``, the window's "Undo move" action) and an "Undo" button beside the
status message. Undoing is an ordinary move (``scheduling.move``) back to the start and resources the
appointment had, with every rule of a move: when someone booked the old time meanwhile the database
refuses it and the message says so; nothing is forced.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QPushButton

from ..domain.errors import ClinicError
from ..services import scheduling
from ..store.database import Database
from .changes import Changes
from .runner import Clock

if TYPE_CHECKING:
    from .main_window import MainWindow

#: For how long after a drag move it can be undone (seconds).
UNDO_SECONDS = 20


class MoveUndo(QObject):
    """The undo of the last drag move of ``window``: :meth:`offer` after each one; the undo is written
    to ``db`` through the window's runner (``clock``: the current aware time, for the move's rules).

    ``undo_action`` (Ctrl+Z, window-wide) and ``undo_button`` (in the status bar) are enabled and shown
    while an undo is offered. ``changes``: what a move changed (the window's ``changes_of`` of its
    before and after), published when the undo commits. ``describe``: ``"Maria Silva 08:00"`` of an
    appointment, for the messages.

    Signals:
        undone(object): the move was taken back: the ``scheduling.MoveResult`` of the undo.
        undo_failed(str): the move could not be taken back: the message shown.
    """

    undone = Signal(object)
    undo_failed = Signal(str)

    def __init__(self, window: MainWindow, db: Database, clock: Clock,
                 describe: Callable[[scheduling.AppointmentView], str]) -> None:
        super().__init__(window)
        self._w = window
        self._db = db
        self._clock = clock
        self._describe = describe
        self._last: scheduling.MoveResult | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(UNDO_SECONDS * 1000)
        self._timer.timeout.connect(self.withdraw)
        self.undo_action = QAction("Undo move", window)
        self.undo_action.setObjectName("undoMove")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.undo_action.setStatusTip("Put the appointment just moved back where it was")
        self.undo_action.setEnabled(False)
        self.undo_action.triggered.connect(self.undo)
        window.addAction(self.undo_action)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setObjectName("undoMoveButton")
        self.undo_button.setAccessibleName("Undo the move")
        self.undo_button.setFlat(True)
        self.undo_button.setStyleSheet("QPushButton { color: #0b57d0; text-decoration: underline; padding: 0 6px; }")
        self.undo_button.clicked.connect(self.undo)
        self.undo_button.hide()
        window.statusBar().addPermanentWidget(self.undo_button)

    @property
    def offered(self) -> scheduling.MoveResult | None:
        """The move that Undo would take back now, or ``None``."""
        return self._last

    def offer(self, result: scheduling.MoveResult) -> None:
        """Offer to undo ``result`` (a drag move that just committed) for :data:`UNDO_SECONDS`."""
        self._last = result
        self.undo_action.setEnabled(True)
        self.undo_button.show()
        self._timer.start()

    def withdraw(self) -> None:
        """Offer nothing (the time is up, or the appointment changed in another way)."""
        self._last = None
        self._timer.stop()
        self.undo_action.setEnabled(False)
        self.undo_button.hide()

    def undo(self) -> None:
        """Move the appointment back to its start and resources before the drag, in the background."""
        result = self._last
        if result is None:
            return
        self.withdraw()
        before, after = result.before, result.after
        db, now, about = self._db, self._clock(), self._describe(after)
        pins = {kind: name for kind, name in before.resources.items() if kind in ("doctor", "room", "equipment")}

        def work() -> scheduling.MoveResult:
            return scheduling.move(db, after.id, start=before.start, reason="move undone at the desk", now=now,
                                   **pins)

        self._w.set_busy_text(f"Putting {about} back…")
        self._w.runner.change(work, changes=lambda back: self._w.changes_of(back.before, back.after),
                              on_success=self._on_undone,
                              on_failure=lambda error: self._on_failed(after, about, error), label="undo move")

    def _on_undone(self, back: scheduling.MoveResult) -> None:
        branch = self._w.branch
        tz = branch.tz if branch else UTC
        self._w.statusBar().showMessage(f"Move undone: {back.after.patient} is back at "
                                        f"{back.after.start.astimezone(tz):%H:%M}.", 15_000)
        self.undone.emit(back)

    def _on_failed(self, appointment: scheduling.AppointmentView, about: str, error: ClinicError) -> None:
        text = f"Could not put {about} back: {error}"
        self._w.statusBar().showMessage(text, 30_000)
        self._w.publish_changes(Changes(branches=frozenset({appointment.branch_id}),
                                        appointments=frozenset({appointment.id})))
        self.undo_failed.emit(text)
