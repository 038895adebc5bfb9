"""Showing errors to people: plain words for expected ones, a short crash note for bugs.

Expected errors (``ClinicError``) carry a user-readable one-line message and
are shown as they are. Unexpected exceptions are logged with their traceback
(only in the log file) and shown as one sentence naming the log file.

Boxes are opened window-modal with ``open()``, never ``exec()``: they do not
start a nested event loop, so background results keep arriving and tests
never hang on a dialog.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from .runner import crash_message

log = logging.getLogger(__name__)

APP_TITLE = "Clinic Reception"


#: Boxes without a parent window, kept alive here until they are closed (Python would collect them).
_orphans: set[QMessageBox] = set()


def _box(parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
    owner = parent or QApplication.activeWindow()
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, owner)
    box.setObjectName("errorBox")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if owner is None:
        _orphans.add(box)
        box.finished.connect(lambda _result: _orphans.discard(box))
    box.open()
    return box


def show_error(parent: QWidget | None, message: str, *, title: str = APP_TITLE) -> QMessageBox:
    """Show an expected error's ``message`` (plain words) in a non-blocking warning box; returns the box."""
    return _box(parent, QMessageBox.Icon.Warning, title, message)


def show_crash(parent: QWidget | None, message: str, *, title: str = APP_TITLE) -> QMessageBox:
    """Show the short crash ``message`` (see ``runner.crash_message``) in a non-blocking box; returns the box."""
    return _box(parent, QMessageBox.Icon.Critical, title, message)


ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], object]


def install_excepthook(log_path: Path | str | None) -> ExceptHook:
    """Route uncaught exceptions (GUI thread and other threads) to the log and a crash box.

    Returns the previous ``sys.excepthook``. ``KeyboardInterrupt`` keeps the
    default behaviour.
    """
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        log.critical("unhandled exception", exc_info=(exc_type, exc, tb))
        if QApplication.instance() is not None and threading.current_thread() is threading.main_thread():
            show_crash(None, crash_message(log_path))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        log.critical("unhandled exception in thread %s", args.thread.name if args.thread else "?",
                     exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback))

    sys.excepthook = hook
    threading.excepthook = thread_hook
    return previous
