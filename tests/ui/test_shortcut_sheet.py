"""F1 opens the keyboard sheet, built from the window's real actions."""

from __future__ import annotations

from PySide6.QtCore import Qt

from reception_app.ui.main_window import MainWindow


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
