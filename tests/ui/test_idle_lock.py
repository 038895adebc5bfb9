"""The idle lock: hides every window (never closes them), shows who is signed in, unlocks
with the password checked by a real connection to a server that asks for passwords
(``password_server``, see test_signin.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QLineEdit, QMainWindow, QVBoxLayout, QWidget

from reception_app.store.connect import verify_login
from reception_app.ui.idle_lock import WRONG_PASSWORD, IdleLock
from reception_app.ui.runner import Runner
from tests.ui.test_signin import ANNA_PASSWORD, PasswordServer, start_password_server


@pytest.fixture
def password_server() -> PasswordServer:
    return start_password_server()


@pytest.fixture
def lock_runner(qtbot) -> Iterator[Runner]:
    r = Runner(log_path="/tmp/clinic-test.log")
    yield r
    r.shutdown()


@pytest.fixture
def make_lock(lock_runner) -> Iterator[Callable[..., IdleLock]]:
    """``make_lock(**kwargs)`` -> an installed ``IdleLock``; removed (and its screen deleted) after the test."""
    made: list[IdleLock] = []

    def make(**kwargs) -> IdleLock:
        kwargs.setdefault("timeout_ms", 0)
        lock = IdleLock(lock_runner, **kwargs)
        made.append(lock)
        return lock

    yield make
    for lock in made:
        lock.stop()
        lock.screen.hide()
        lock.screen.deleteLater()
        lock.deleteLater()


@pytest.fixture
def desk(qtbot):
    """A main window with a booking-style dialog open (window-modal, like the app's) and text typed in it."""
    main = QMainWindow()
    main.setWindowTitle("Clinic Reception")
    main.setCentralWidget(QLineEdit())
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    dialog = QDialog(main)
    dialog.setWindowTitle("New appointment")
    layout = QVBoxLayout(dialog)
    note = QLineEdit()
    note.setObjectName("note")
    layout.addWidget(note)
    dialog.open()
    qtbot.waitExposed(dialog)
    note.setFocus()
    qtbot.keyClicks(note, "Maria Silva, fasting")
    return main, dialog, note


def visible_windows(lock: IdleLock) -> list[QWidget]:
    return [w for w in QApplication.topLevelWidgets() if w.isVisible() and w is not lock.screen]


def anna_verify(server: PasswordServer) -> Callable[[str], None]:
    """What the app gives the lock: open (and close) a connection as anna with the typed password."""
    return lambda password: verify_login(server.conninfo, user="anna", password=password)


def test_locking_hides_an_open_dialog_and_unlocking_restores_it_with_its_text(qtbot, desk, make_lock,
                                                                              password_server):
    main, dialog, note = desk
    lock = make_lock(user="anna", display_name="Anna Reis", verify=anna_verify(password_server))
    finished: list[int] = []
    dialog.finished.connect(finished.append)
    with qtbot.waitSignal(lock.locked):
        lock.lock_now()
    assert lock.is_locked
    assert not main.isVisible() and not dialog.isVisible()
    assert visible_windows(lock) == []
    assert lock.screen.isVisible()
    assert "Anna Reis (anna)" in lock.screen.user_label.text()
    assert lock.screen.password_edit.isVisible()
    assert set(lock.hidden_windows) == {main, dialog}

    lock.screen.password_edit.setText(ANNA_PASSWORD)
    with qtbot.waitSignal(lock.unlocked, timeout=10_000):
        lock.screen.unlock_button.click()
    assert not lock.is_locked and not lock.screen.isVisible()
    assert main.isVisible() and dialog.isVisible()
    assert note.text() == "Maria Silva, fasting"
    assert finished == []  # hidden and shown again, never closed
    assert lock.screen.password_edit.text() == ""


def test_a_wrong_password_keeps_it_locked_with_a_message(qtbot, desk, make_lock, password_server):
    main, dialog, note = desk
    lock = make_lock(user="anna", verify=anna_verify(password_server))
    lock.lock_now()
    lock.screen.password_edit.setText("not it")
    lock.screen.unlock_button.click()
    qtbot.waitUntil(lambda: lock.screen.message_label.text() == WRONG_PASSWORD, timeout=10_000)
    qtbot.waitUntil(lambda: lock.screen.unlock_button.isEnabled())
    assert lock.is_locked and lock.screen.isVisible()
    assert not main.isVisible() and not dialog.isVisible()
    with qtbot.waitSignal(lock.unlocked, timeout=10_000):
        lock.unlock(ANNA_PASSWORD)
    assert note.text() == "Maria Silva, fasting"


def test_an_unreachable_server_keeps_it_locked_and_says_so(qtbot, desk, make_lock):
    lock = make_lock(user="anna", verify=lambda password: verify_login(
        "host=/nonexistent-socket-dir dbname=clinic connect_timeout=2", user="anna", password=password))
    lock.lock_now()
    lock.unlock("whatever")
    qtbot.waitUntil(lambda: lock.screen.message_label.text().startswith("Cannot reach the clinic database"),
                    timeout=10_000)
    assert lock.is_locked


def test_the_built_in_database_unlocks_without_a_password(qtbot, desk, make_lock):
    main, dialog, note = desk
    lock = make_lock()
    lock.lock_now()
    assert not lock.screen.password_edit.isVisible()
    assert not main.isVisible()
    with qtbot.waitSignal(lock.unlocked):
        lock.screen.unlock_button.click()
    assert main.isVisible() and dialog.isVisible() and note.text() == "Maria Silva, fasting"


def test_no_input_for_the_idle_time_locks(qtbot, desk, make_lock):
    lock = make_lock(timeout_ms=200)
    with qtbot.waitSignal(lock.locked, timeout=5_000):
        pass
    assert lock.is_locked and not desk[0].isVisible()
    assert lock.remaining_ms == -1  # no count while locked
    lock.unlock()
    assert 0 < lock.remaining_ms <= 200  # counting again


def test_input_restarts_the_idle_count(qtbot, desk, make_lock):
    main, dialog, note = desk
    lock = make_lock(timeout_ms=10_000)
    qtbot.waitUntil(lambda: lock.remaining_ms < 9_850, timeout=5_000)
    qtbot.keyClick(note, Qt.Key.Key_A)
    assert lock.remaining_ms > 9_850
    qtbot.waitUntil(lambda: lock.remaining_ms < 9_850, timeout=5_000)
    qtbot.mouseClick(note, Qt.MouseButton.LeftButton)
    assert lock.remaining_ms > 9_850
    assert not lock.is_locked


def test_zero_means_never_and_the_time_can_change(qtbot, make_lock):
    lock = make_lock(timeout_ms=0)
    assert lock.remaining_ms == -1
    lock.set_timeout_ms(60_000)
    assert 59_000 < lock.remaining_ms <= 60_000
    lock.set_timeout_ms(0)
    assert lock.remaining_ms == -1
    with pytest.raises(ValueError, match="timeout_ms: must be 0"):
        lock.set_timeout_ms(-5)


def test_windows_opening_while_locked_are_hidden_and_finished_dialogs_stay_closed(qtbot, desk, make_lock):
    main, dialog, note = desk
    lock = make_lock()
    lock.lock_now()
    # A background save finishes while locked: the dialog closes itself.
    dialog.accept()
    # An error box opens while locked: hidden at once, shown on unlock.
    box = QDialog(main)
    box.setWindowTitle("Could not save")
    box.show()
    qtbot.waitUntil(lambda: not box.isVisible())
    assert lock.screen.isVisible()
    lock.unlock()
    assert main.isVisible() and box.isVisible()
    assert not dialog.isVisible()


def test_quit_and_the_lock_action(qtbot, desk, make_lock):
    main = desk[0]
    lock = make_lock()
    action = lock.create_action(main)
    assert action.shortcut().toString() == "Ctrl+L"
    with qtbot.waitSignal(lock.locked):
        action.trigger()
    with qtbot.waitSignal(lock.quit_requested):
        lock.screen.quit_button.click()
    lock.screen.close()  # the lock screen cannot be closed away
    assert lock.screen.isVisible() and lock.is_locked
