"""A day field that behaves like one: :class:`DayEdit`.

Qt's ``QDateEdit`` treats its text as three spin boxes (day, month, year): Tab moves between them
instead of leaving the field, and the arrow keys change whichever part the cursor is in — a slip of
the keyboard silently moves a booking's day by a month or a year. A receptionist expects what
calendar products do: Tab leaves the field, Up/Down are the next/previous day, Page Up/Page Down the
next/previous week, Alt+Down (or F4) opens the calendar, and days before the field's first allowed
day (``minimumDate``, e.g. today for a booking) can't be chosen at all.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractSpinBox, QDateEdit, QWidget

from .roster_dialog import qdate

__all__ = ["DayEdit"]


class DayEdit(QDateEdit):
    """A ``QDateEdit`` with a calendar popup whose keys move by days, not by the part under the cursor.

    ``day``: the day shown first. ``earliest``: the first day that may be chosen (``None``: any). The
    display format is the caller's (``setDisplayFormat``); typing a date still works part by part.
    """

    def __init__(self, day: date, *, earliest: date | None = None, parent: QWidget | None = None) -> None:
        super().__init__(qdate(day), parent)
        self.setCalendarPopup(True)
        if earliest is not None:
            self.set_earliest(earliest)

    def set_earliest(self, earliest: date) -> None:
        """Refuse days before ``earliest`` (the shown day moves up to it if it was before)."""
        self.setMinimumDate(qdate(earliest))

    def stepBy(self, steps: int) -> None:  # noqa: N802 (Qt's name)
        """Up/Down (and the wheel) move by ``steps`` days whatever part of the text the cursor is in."""
        self.setDate(self.date().addDays(steps))

    def stepEnabled(self) -> QAbstractSpinBox.StepEnabledFlag:  # noqa: N802 (Qt's name)
        """Up and Down are allowed whenever the day after/before is in range (Qt would ask the part
        under the cursor: no Up on the 31st, or in December)."""
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        if self.date() < self.maximumDate():
            flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        if self.date() > self.minimumDate():
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        """Page Up/Page Down: a week later/earlier; Tab and Shift+Tab leave the field."""
        if event.key() in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown) and not event.modifiers():
            self.stepBy(7 if event.key() == Qt.Key.Key_PageUp else -7)
            event.accept()
            return
        if event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
            forward = event.key() == Qt.Key.Key_Tab and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            self.focusNextPrevChild(forward)
            event.accept()
            return
        super().keyPressEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:  # noqa: A002, N802 (Qt's names)
        """Move the focus to the next/previous widget: never to another part of the date."""
        return QWidget.focusNextPrevChild(self, next)
