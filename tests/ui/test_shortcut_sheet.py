"""F1 opens the keyboard sheet, built from the window's real actions."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from reception_app.ui.main_window import MainWindow
from reception_app.ui.runner import Runner

from .conftest import DAY, NOW, Booked


@pytest.fixture
def window(qtbot, booked: Booked, runner: Runner) -> MainWindow:
    w = MainWindow(booked.db, runner=runner, clock=lambda: NOW, refresh_ms=0, day=DAY, branch="Centro",
                   database_label="Database: test")
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.day_loaded, timeout=10_000):
        w.show()
    return w


def test_f1_lists_the_shortcuts_that_really_work(qtbot, window: MainWindow) -> None:
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: window._shortcut_sheet is not None and window._shortcut_sheet.isVisible())
    sheet = window._shortcut_sheet
    rows = dict(sheet.rows())
    assert rows["Ctrl+I"] == "Check in"
    assert rows["Del"] == "Cancel"
    assert rows["F1"] == "Keyboard shortcuts"
    assert "Ctrl+N" in rows and rows["Ctrl+N"] == "New appointment"
    assert any("Drag a block" in keys for keys in rows)
    # Every window action with a shortcut is listed exactly once.
    listed = [keys for keys, _ in sheet.rows()]
    assert len(listed) == len(set(listed))
    assert window.show_shortcuts() is sheet   # one at a time
    sheet.reject()
