"""Lock the app after a while without input, hiding patient data but keeping open work.

:class:`IdleLock` watches key, mouse, wheel and touch input application-wide
(an event filter on the ``QApplication``). After ``timeout_ms`` without any,
or on :meth:`IdleLock.lock_now` (the window's "Lock" action), it *hides* —
never closes — every visible top-level window of the app (the main window and
any open dialog, so typed text and open work survive) and shows a
:class:`LockScreen` naming the signed-in user. Unlocking checks the password
by opening (and closing) a new connection as that user on a worker thread
(through the :class:`~reception_app.ui.runner.Runner`), then shows exactly the
windows it hid again. For the built-in database (no sign-in) the lock screen
has a plain "Unlock" button: the data is still hidden from passers-by.

Windows that open while locked (an error box, say) are hidden too and shown on
unlock; a hidden dialog that finishes meanwhile (its background save
succeeded) is not brought back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError
from ..store.connect import AuthenticationFailed
from .messages import APP_TITLE
from .runner import Runner

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_MS = 300_000
WRONG_PASSWORD = "Wrong password; the window stays locked."
_INPUT_EVENTS = frozenset({
    QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick, QEvent.Type.MouseMove,
    QEvent.Type.Wheel, QEvent.Type.TouchBegin, QEvent.Type.TouchUpdate, QEvent.Type.TabletPress,
    QEvent.Type.InputMethod,
})
_TRANSIENT = (Qt.WindowType.Popup, Qt.WindowType.ToolTip, Qt.WindowType.SplashScreen)


class LockScreen(QWidget):
    """The window shown while the app is locked: who is signed in, a password field
    (only when a password can unlock), "Unlock" and "Quit". Displays only; the
    :class:`IdleLock` decides."""

    def __init__(self, *, user_text: str, needs_password: bool) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setObjectName("lockScreen")
        self.setWindowTitle(f"Locked — {APP_TITLE}")
        layout = QVBoxLayout(self)
        title = QLabel("Clinic Reception is locked")
        title.setStyleSheet("font-size: 18px; font-weight: bold;")
        layout.addWidget(title)
        self.user_label = QLabel(user_text)
        self.user_label.setWordWrap(True)
        layout.addWidget(self.user_label)
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("Password")
        self.password_edit.setAccessibleName("Password")
        self.password_edit.setVisible(needs_password)
        layout.addWidget(self.password_edit)
        self.message_label = QLabel("")
        self.message_label.setObjectName("errorLabel")
        self.message_label.setStyleSheet("color: #b00020;")
        self.message_label.setWordWrap(True)
        self.message_label.setAccessibleName("Unlock message")
        layout.addWidget(self.message_label)
        row = QHBoxLayout()
        row.addStretch(1)
        self.unlock_button = QPushButton("&Unlock")
        self.unlock_button.setAccessibleName("Unlock")
        self.unlock_button.setDefault(True)
        self.unlock_button.setAutoDefault(True)
        self.quit_button = QPushButton("&Quit")
        self.quit_button.setAccessibleName("Quit")
        row.addWidget(self.unlock_button)
        row.addWidget(self.quit_button)
        layout.addLayout(row)
        self.password_edit.returnPressed.connect(self.unlock_button.click)
        self.resize(420, self.sizeHint().height())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """The lock screen cannot be closed away: only Unlock or Quit end it."""
        event.ignore()


class IdleLock(QObject):
    """Locks the whole app after ``timeout_ms`` without input (0 = never; default 5 minutes).

    ``runner``: runs ``verify`` off the GUI thread. ``user``: the login shown on the lock
    screen, ``display_name`` the name (e.g. the doctor's). ``verify(password)``: raises
    (``AuthenticationFailed``, ``DatabaseUnavailable``) unless the password signs in as
    ``user`` — e.g. ``functools.partial(store.connect.verify_login, server_conninfo,
    user=login)``; None for the built-in database (unlock without password).
    Installs itself on the ``QApplication`` at once; :meth:`stop` removes it.

    Signals:
        locked(): the windows were hidden and the lock screen shown.
        unlocked(): the windows that were hidden are shown again.
        quit_requested(): "Quit" was pressed on the lock screen.
    """

    locked = Signal()
    unlocked = Signal()
    quit_requested = Signal()

    def __init__(self, runner: Runner, *, user: str = "", display_name: str = "",
                 verify: Callable[[str], object] | None = None, timeout_ms: int = DEFAULT_TIMEOUT_MS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self._verify = verify
        self._locked = False
        self._hidden: list[QWidget] = []
        self._active: QWidget | None = None
        self._focus: QWidget | None = None
        if user and display_name and display_name != user:
            who = f"Signed in as {display_name} ({user})."
        elif user:
            who = f"Signed in as {user}."
        else:
            who = "Built-in database on this computer."
        hint = " Enter your password to unlock." if verify is not None else ""
        self.screen = LockScreen(user_text=who + hint, needs_password=verify is not None)
        self.screen.unlock_button.clicked.connect(self._on_unlock_clicked)
        self.screen.quit_button.clicked.connect(self.quit_requested)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)  # restarted on input: exact, not 5 % early or late
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timeout_ms = 0
        self.set_timeout_ms(timeout_ms)
        app = QApplication.instance()
        assert app is not None, "IdleLock needs a QApplication"
        app.installEventFilter(self)
        self._installed = True

    # -- public API ---------------------------------------------------------------------------
    @property
    def timeout_ms(self) -> int:
        """Milliseconds without input before locking; 0 = never."""
        return self._timeout_ms

    def set_timeout_ms(self, timeout_ms: int) -> None:
        """Change the idle time (restarts the count); 0 turns locking on idle off.
        Raises ``ValueError`` for a negative value."""
        if timeout_ms < 0:
            raise ValueError(f"timeout_ms: must be 0 (never) or more (got {timeout_ms})")
        self._timeout_ms = timeout_ms
        self._restart()

    @property
    def is_locked(self) -> bool:
        return self._locked

    @property
    def remaining_ms(self) -> int:
        """Milliseconds until the idle lock, or -1 (off, or already locked)."""
        return self._timer.remainingTime() if self._timer.isActive() else -1

    @property
    def hidden_windows(self) -> list[QWidget]:
        """The windows hidden by the lock that will be shown again (empty when unlocked)."""
        return [w for w in self._hidden if shiboken6.isValid(w)]

    def lock_now(self) -> None:
        """Hide every visible window of the app and show the lock screen (no-op when locked)."""
        if self._locked:
            return
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        self._locked = True
        self._timer.stop()
        active = app.activeWindow()
        focus = app.focusWidget()
        self._active = active if active is not self.screen else None
        self._focus = focus if focus is not None and focus.window() is not self.screen else None
        self._hidden = []
        for window in app.topLevelWidgets():
            self._hide(window)
        self.screen.message_label.setText("")
        self.screen.password_edit.clear()
        self.screen.unlock_button.setEnabled(True)
        self.screen.password_edit.setEnabled(True)
        self.screen.show()
        self.screen.raise_()
        self.screen.activateWindow()
        (self.screen.password_edit if self._verify is not None else self.screen.unlock_button).setFocus()
        log.info("locked (%d windows hidden)", len(self._hidden))
        self.locked.emit()

    def unlock(self, password: str = "") -> None:
        """Check ``password`` in the background (as the Unlock button does) and unlock if it
        signs in; with no ``verify`` unlock at once."""
        if not self._locked:
            return
        if self._verify is None:
            self._unlock()
            return
        verify = self._verify
        self.screen.unlock_button.setEnabled(False)
        self.screen.password_edit.setEnabled(False)
        self.screen.message_label.setText("Checking…")
        self.runner.run(lambda: verify(password), on_success=lambda _result: self._unlock(),
                        on_failure=self._on_unlock_failed, on_finished=self._on_unlock_finished,
                        key="unlock", label="unlock")

    def create_action(self, parent: QObject) -> QAction:
        """A "Lock" action (Ctrl+L) for a window's menu that calls :meth:`lock_now`."""
        action = QAction("&Lock", parent)
        action.setObjectName("lockAction")
        action.setShortcut(QKeySequence("Ctrl+L"))
        action.setStatusTip("Hide the patient data until you sign in again")
        action.triggered.connect(self.lock_now)
        return action

    def stop(self) -> None:
        """Stop watching (no more idle locks); a shown lock screen stays until unlocked."""
        self._timer.stop()
        app = QApplication.instance()
        if self._installed and app is not None:
            app.removeEventFilter(self)
        self._installed = False

    # -- watching input ---------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        """Restart the idle count on user input; while locked, hide windows that open and
        forget hidden ones that close. Never consumes an event."""
        kind = event.type()
        if kind in _INPUT_EVENTS:
            if not self._locked and event.spontaneous() and self._timeout_ms:
                self._timer.start()
        elif self._locked and watched.isWidgetType():
            if kind == QEvent.Type.Show:
                widget = watched
                assert isinstance(widget, QWidget)
                if widget.isWindow() and widget is not self.screen and widget.window() is not self.screen:
                    QTimer.singleShot(0, self, lambda: self._hide_late(widget))
            elif kind == QEvent.Type.Close and watched in self._hidden:
                self._hidden.remove(watched)  # type: ignore[arg-type]
        return False

    # -- slots ------------------------------------------------------------------------------------
    def _on_timer_timeout(self) -> None:
        if self._timeout_ms and not self._locked:
            log.info("no input for %d s: locking", self._timeout_ms // 1000)
            self.lock_now()

    def _on_unlock_clicked(self) -> None:
        self.unlock(self.screen.password_edit.text())

    def _on_unlock_failed(self, error: ClinicError) -> None:
        self.screen.message_label.setText(WRONG_PASSWORD if isinstance(error, AuthenticationFailed) else str(error))
        self.screen.password_edit.selectAll()

    def _on_unlock_finished(self) -> None:
        if self._locked:
            self.screen.unlock_button.setEnabled(True)
            self.screen.password_edit.setEnabled(True)
            self.screen.password_edit.setFocus()

    def _on_hidden_dialog_finished(self) -> None:
        dialog = self.sender()
        if dialog in self._hidden:
            self._hidden.remove(dialog)  # type: ignore[arg-type]

    # -- helpers -----------------------------------------------------------------------------------
    def _restart(self) -> None:
        if self._timeout_ms and not self._locked:
            self._timer.start(self._timeout_ms)
        else:
            self._timer.stop()

    def _hide(self, window: QWidget) -> None:
        if window is self.screen or not window.isVisible():
            return
        if window.windowType() in _TRANSIENT:
            window.hide()  # menus, tooltips: not worth bringing back
            return
        self._hidden.append(window)
        if isinstance(window, QDialog):
            window.finished.connect(self._on_hidden_dialog_finished)
        window.hide()

    def _hide_late(self, window: QWidget) -> None:
        if self._locked and shiboken6.isValid(window) and window.isVisible() and window not in self._hidden:
            self._hide(window)
            self.screen.raise_()

    def _unlock(self) -> None:
        self._locked = False
        self.screen.hide()
        self.screen.password_edit.clear()
        self.screen.message_label.setText("")
        windows = [w for w in self._hidden if shiboken6.isValid(w)]
        self._hidden = []

        def depth(widget: QWidget) -> int:
            n, parent = 0, widget.parentWidget()
            while parent is not None:
                n, parent = n + 1, parent.parentWidget()
            return n

        for window in sorted(windows, key=depth):  # parents before their dialogs
            if isinstance(window, QDialog):
                try:
                    window.finished.disconnect(self._on_hidden_dialog_finished)
                except (RuntimeError, TypeError):
                    pass
            window.show()
        active = self._active if self._active is not None and shiboken6.isValid(self._active) else None
        if active is not None and active in windows:
            active.raise_()
            active.activateWindow()
        if self._focus is not None and shiboken6.isValid(self._focus) and self._focus.isVisible():
            self._focus.setFocus()
        self._active = self._focus = None
        self._restart()
        log.info("unlocked (%d windows shown)", len(windows))
        self.unlocked.emit()
