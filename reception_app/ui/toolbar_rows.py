"""The main window's toolbars, side by side while they fit, else on rows of their own.

:class:`ToolbarRows` adds each toolbar the window's parts make (navigation's "Day" and "Show",
the window's "Actions"), in the order they are added, and re-arranges them for the window's
width (:meth:`ToolbarRows.arrange`, called from the window's ``resizeEvent``), so large text or
a narrow window never hides an action.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QToolBar


class ToolbarRows:
    """The toolbars of ``window``, in the order added, and the row breaks between them."""

    def __init__(self, window: QMainWindow) -> None:
        self._w = window
        self._toolbars: list[QToolBar] = []
        self._breaks: set[int] = set()

    def add(self, title: str, name: str) -> QToolBar:
        """A new toolbar ``title`` (object name ``name``): fixed, text only, added to the window
        after the ones before it."""
        bar = QToolBar(title)
        bar.setObjectName(name)
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self._w.addToolBar(bar)
        self._toolbars.append(bar)
        return bar

    def arrange(self) -> None:
        """Put the toolbars side by side while they fit the window's width; a toolbar that does
        not fit starts a row of its own."""
        used, breaks = 0, set()
        for i, bar in enumerate(self._toolbars):
            need = bar.sizeHint().width()
            if i and used + need > self._w.width():
                breaks.add(i)
                used = 0
            used += need
        if breaks == self._breaks:
            return
        for i in self._breaks - breaks:
            self._w.removeToolBarBreak(self._toolbars[i])
        for i in breaks - self._breaks:
            self._w.insertToolBarBreak(self._toolbars[i])
        self._breaks = breaks

    def rows(self) -> list[list[QToolBar]]:
        """The toolbars as arranged, row by row."""
        rows: list[list[QToolBar]] = []
        for i, bar in enumerate(self._toolbars):
            if not rows or i in self._breaks:
                rows.append([])
            rows[-1].append(bar)
        return rows
