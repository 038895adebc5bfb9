"""The menu bar offers every window action; Ctrl+L locks (idle lock), Settings… asks the app."""

from __future__ import annotations

from PySide6.QtCore import Qt

from reception_app.ui.idle_lock import IdleLock


def test_menus_hold_the_window_actions(window):
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["&File", "&View", "&Appointment", "&Patient", "&Clinic", "&Help"]
    file_actions = [a.objectName() for a in window.file_menu.actions() if not a.isSeparator()]
    assert file_actions == ["printDaySheet", "printDayList", "settingsAction", "quitAction"]
    assert window.book_action in window.appointment_bar_menu.actions()
    assert window.help_action in window.help_menu.actions()


def test_settings_action_asks_the_app(qtbot, window):
    with qtbot.waitSignal(window.settings_requested, timeout=2_000):
        window.settings_action.trigger()


def test_ctrl_l_locks_the_window_and_unlock_brings_it_back(qtbot, window, runner):
    lock = IdleLock(runner, user="", timeout_ms=0)  # the built-in database: no password to ask
    window.set_idle_lock(lock)
    assert window.lock_action in window.file_menu.actions()
    window.grid.setFocus()
    with qtbot.waitSignal(lock.locked, timeout=2_000):
        qtbot.keyClick(window.grid, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert not window.isVisible()  # patient data hidden
    with qtbot.waitSignal(lock.unlocked, timeout=5_000):
        lock.unlock("")
    assert window.isVisible()
    lock.stop()
