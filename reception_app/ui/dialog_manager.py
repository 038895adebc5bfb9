"""The main window's dialog manager: each dialog opened once, where it was last.

:class:`DialogManager` opens the window's dialogs and tool windows without
blocking (``open()`` — window-modal — or ``show()`` for the ones that stay
beside the calendar; never ``exec()``), keeps a reference while each lives,
and announces it (:attr:`DialogManager.opened`). A dialog is known by a key
(``"waitlist"``, ``"history/1234"``): asking for one that is open brings the
open one to the front instead of making a second. When a dialog is hidden its
size and place are written to QSettings under ``dialogs/<kind>/geometry``
(``kind``: the key up to its first ``/``), and the next dialog of that kind
opens with them.

A dialog is deleted when closed, except one opened with ``keep=True`` (the
booking dialog: a booking sent just before Cancel still reports its outcome
through it). A kept dialog lives, hidden, until the next dialog of its key
replaces it; only one is ever kept per key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QDialog, QWidget

W = TypeVar("W", bound=QWidget)


def geometry_key(key: str) -> str:
    """``"dialogs/history/geometry"`` for ``"history/1234"``: one remembered place per kind."""
    return f"dialogs/{key.split('/', 1)[0]}/geometry"


class DialogManager(QObject):
    """Opens dialogs for ``parent`` (the main window) once each and remembers where they were.

    ``settings``: where sizes and places are kept (default: the application's QSettings).

    Signals:
        opened(object): a dialog or tool window was opened (a new one, not one brought forward).
    """

    opened = Signal(object)

    def __init__(self, parent: QWidget, settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        #: The dialogs and windows open now, and a kept one closed but not yet replaced
        #: (also ``MainWindow.clinic_windows``).
        self.windows: list[QWidget] = []
        self._by_key: dict[str, QWidget] = {}
        self._key_of: dict[int, str] = {}

    def _store(self) -> QSettings:
        if self._settings is None:
            self._settings = QSettings()
        return self._settings

    def find(self, key: str) -> QWidget | None:
        """The dialog open under ``key`` (shown), or ``None``."""
        widget = self._by_key.get(key)
        return widget if widget is not None and widget.isVisible() else None

    def open(self, key: str, make: Callable[[], W], *, modal: bool = True, keep: bool = False) -> W:
        """Bring the dialog open under ``key`` to the front, or make one with ``make()`` and open it.

        ``modal``: ``open()`` a ``QDialog`` window-modally; otherwise ``show()`` it beside the
        window. A new dialog is deleted when closed (``keep``: hidden instead, and deleted when
        the next one of ``key`` opens), gets the size and place last seen for its kind, and is
        announced with :attr:`opened`. Returns the dialog.
        """
        existing = self.find(key)
        if existing is not None:
            existing.raise_()
            existing.activateWindow()
            return existing  # type: ignore[return-value]
        return self.show(key, make(), modal=modal, keep=keep)

    def show(self, key: str, widget: W, *, modal: bool = True, keep: bool = False) -> W:
        """Open ``widget`` (already made) under ``key``: see :meth:`open`."""
        previous = self._by_key.get(key)
        if previous is not None and previous is not widget and not previous.isVisible():
            self._forget(previous, key)
            previous.deleteLater()  # a kept dialog, closed: the new one replaces it
        saved = self._store().value(geometry_key(key))
        if isinstance(saved, QByteArray) and not saved.isEmpty():
            widget.restoreGeometry(saved)
        self.windows.append(widget)
        self._by_key[key] = widget
        self._key_of[id(widget)] = key
        widget.installEventFilter(self)
        widget.destroyed.connect(lambda *_: self._forget(widget, key))
        widget.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, not keep)
        if isinstance(widget, QDialog) and modal:
            widget.open()
        else:
            widget.show()
        self.opened.emit(widget)
        return widget

    def save_all(self) -> None:
        """Remember the size and place of every dialog open now (the window is closing)."""
        for widget in list(self.windows):
            key = self._key_of.get(id(widget))
            if key is not None and widget.isVisible():
                self._save(widget, key)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Remember a managed dialog's size and place when it is hidden (closed, accepted, rejected)."""
        if event.type() == QEvent.Type.Hide and isinstance(watched, QWidget):
            key = self._key_of.get(id(watched))
            if key is not None:
                self._save(watched, key)
        return False

    def _save(self, widget: QWidget, key: str) -> None:
        self._store().setValue(geometry_key(key), widget.saveGeometry())

    def _forget(self, widget: QWidget, key: str) -> None:
        if widget in self.windows:
            self.windows.remove(widget)
        if self._by_key.get(key) is widget:
            del self._by_key[key]
        self._key_of.pop(id(widget), None)
