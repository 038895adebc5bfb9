"""Sign-in to the clinic's server: each person as their own PostgreSQL login role.

:class:`SignInDialog` asks for the user name (the last one is remembered in
QSettings) and the password; "Remember me" keeps the password in the OS keyring
(``config.remember_password``) — never in a file or QSettings. Connecting runs
in the background through the :class:`~reception_app.ui.runner.Runner`:
:func:`sign_in` opens the database as that login, checks the schema and reads
the session (``services.session.current_session``).

At start (:meth:`SignInDialog.begin`) the dialog first tries without asking:
with the password remembered for the last user, or — when the connection
string itself names the login (``--database``/``CLINIC_DATABASE_URL``) — with
libpq's own password sources. Only when that is not possible or the server
refuses does it show itself (with the reason).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..config import (
    ConnectionChoice,
    KeyringUnavailable,
    choose_connection,
    conninfo_user,
    forget_password,
    remember_password,
    remembered_password,
)
from ..domain.errors import ClinicError
from ..services.session import SessionInfo, current_session
from ..store.connect import AuthenticationFailed, open_database
from ..store.database import Database
from .messages import APP_TITLE
from .runner import Runner
from .settings_dialog import SettingsDialog, app_settings, settings_conninfo

log = logging.getLogger(__name__)

LAST_USER_KEY = "signin/last_user"
REMEMBER_KEY = "signin/remember"
NOT_REMEMBERED = "Signed in, but could not remember the password: the keyring is not available."
KEYRING_UNREADABLE = "Could not read the remembered password (the keyring is not available); please type it."


@dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: the open ``db`` (its conninfo holds the password: never log
    it), the ``session`` it reads, the ``server_conninfo`` without login (for the idle
    lock's check and the keyring), and ``notice``: a sentence to show once (e.g. the
    password could not be remembered), or ""."""

    db: Database
    session: SessionInfo
    server_conninfo: str
    notice: str = ""


def describe_server(conninfo: str) -> str:
    """``"db1,db2:5432/clinic"`` for a header line; never a user or password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(conninfo)
    except Exception:  # noqa: BLE001 - a malformed string still gets a label; connecting says why
        return "the clinic's server"
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


def sign_in(choice: ConnectionChoice, user: str | None, password: str | None, *,
            remember: bool | None = None) -> SignedIn:
    """Open the database of ``choice`` as ``user`` with ``password`` and read the session.
    Blocking: runs on a worker thread (touches no widget).

    ``remember``: True stores the password in the keyring, False deletes a
    remembered one, None leaves the keyring alone. A keyring failure never fails
    the sign-in: it becomes the result's ``notice`` (and is logged).
    Raises ``AuthenticationFailed``, ``DatabaseUnavailable``, ``SchemaMismatch`` or
    ``PermissionDenied`` (a login in no clinic group).
    """
    server = choice.conninfo or ""
    db = open_database(choice=choice, user=user, password=password)
    try:
        session = current_session(db)
    except BaseException:
        db.dispose()
        raise
    notice = ""
    if remember is not None and user and not choice.embedded:
        try:
            if remember and password:
                remember_password(user, server, password)
            elif not remember:
                forget_password(user, server)
        except KeyringUnavailable:
            notice = NOT_REMEMBERED if remember else ""
    return SignedIn(db, session, server, notice)


def sign_in_without_prompt(choice: ConnectionChoice, user: str) -> SignedIn | None:
    """Try ``user`` with the password remembered in the keyring, or — when the connection
    string names the login itself — with libpq's own sources (PGPASSWORD, ~/.pgpass).
    Returns None when there is nothing to try (the dialog must ask). Worker thread only.
    Raises like :func:`sign_in`, and ``KeyringUnavailable`` when the keyring cannot be read.
    """
    server = choice.conninfo or ""
    password = remembered_password(user, server)
    if password is None and conninfo_user(server) != user:
        return None
    return sign_in(choice, user, password)


class SignInDialog(QDialog):
    """Asks for the login on a server; signs in in the background.

    ``choice``: a server connection (not the embedded default). ``runner``: runs
    the connection work. ``settings``: QSettings for the last user name and the
    connection settings (default ``settings_dialog.app_settings()``).
    Call :meth:`begin` (not ``show``) at start.

    Signals:
        signed_in(object): a ``SignedIn``; the dialog has closed.
        prompted(): the dialog showed itself (the automatic attempt was not possible).
        failed(str): the login named by the connection string itself could not
            connect for another reason than the password (server unreachable,
            schema mismatch): the message; the dialog stays hidden.
        cancelled(): the user closed the dialog without signing in.
        choice_changed(object): the connection settings changed where to connect
            (a ``ConnectionChoice``; embedded when the built-in database was chosen).
    """

    signed_in = Signal(object)
    prompted = Signal()
    failed = Signal(str)
    cancelled = Signal()
    choice_changed = Signal(object)

    def __init__(self, choice: ConnectionChoice, runner: Runner, *, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choice = choice
        self.runner = runner
        self._settings = settings if settings is not None else app_settings()
        self._busy = False
        self._done = False
        self.settings_dialog: SettingsDialog | None = None
        self.setWindowTitle(f"Sign in — {APP_TITLE}")
        self.setObjectName("signInDialog")

        layout = QVBoxLayout(self)
        self.server_label = QLabel()
        self.server_label.setWordWrap(True)
        layout.addWidget(self.server_label)
        form = QFormLayout()
        fixed_user = conninfo_user(choice.conninfo)
        self.user_edit = QLineEdit(fixed_user or str(self._settings.value(LAST_USER_KEY, "") or ""))
        self.user_edit.setAccessibleName("User name")
        form.addRow("&User name:", self.user_edit)
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setAccessibleName("Password")
        form.addRow("&Password:", self.password_edit)
        self.remember_check = QCheckBox("&Remember me on this computer")
        self.remember_check.setAccessibleName("Remember me")
        self.remember_check.setToolTip("Keeps the password in this computer's keyring, never in a file.")
        self.remember_check.setChecked(str(self._settings.value(REMEMBER_KEY, "false")).lower() in ("true", "1"))
        form.addRow("", self.remember_check)
        layout.addLayout(form)

        self.error_label = QLabel("")
        self.error_label.setObjectName("errorLabel")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setAccessibleName("Sign-in message")
        layout.addWidget(self.error_label)

        row = QHBoxLayout()
        self.settings_button = QPushButton("Connection &settings…")
        self.settings_button.setAccessibleName("Connection settings")
        self.settings_button.clicked.connect(self._on_settings_button_clicked)
        row.addWidget(self.settings_button)
        row.addStretch(1)
        self.buttons = QDialogButtonBox()
        self.sign_in_button = self.buttons.addButton("Sign &in", QDialogButtonBox.ButtonRole.AcceptRole)
        self.sign_in_button.setAccessibleName("Sign in")
        self.sign_in_button.setDefault(True)
        self.quit_button = self.buttons.addButton("&Quit", QDialogButtonBox.ButtonRole.RejectRole)
        self.quit_button.setAccessibleName("Quit")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row.addWidget(self.buttons)
        layout.addLayout(row)
        self._show_server()
        self.resize(440, self.sizeHint().height())

    # -- public API -------------------------------------------------------------------
    @property
    def message(self) -> str:
        """The message line's text ("" when none)."""
        return self.error_label.text()

    def begin(self) -> None:
        """Sign in without asking when possible (remembered password, or a login named by
        the connection string); otherwise, or when that fails, show the dialog."""
        user = self.user_edit.text().strip()
        if not user:
            self._prompt()
            return
        choice = self.choice
        direct = conninfo_user(choice.conninfo) == user
        self._set_busy(True, "")
        self.runner.run(lambda: sign_in_without_prompt(choice, user),
                        on_success=self._on_automatic_result,
                        on_failure=lambda error: self._on_automatic_failed(error, direct),
                        on_finished=lambda: self._set_busy(False), key="sign in", label="sign in (automatic)")

    def dismiss(self) -> None:
        """Close quietly (no ``cancelled``): the app no longer needs a sign-in (e.g. the
        built-in database was chosen in the settings)."""
        self._done = True
        self.runner.discard("sign in")
        self._busy = False
        self.hide()

    def accept(self) -> None:
        """Sign in with what is typed (in the background); the dialog closes on success."""
        if self._busy:
            return
        user = self.user_edit.text().strip()
        if not user:
            self._show_message("User name: please enter the name you sign in with.")
            self.user_edit.setFocus()
            return
        password = self.password_edit.text()
        remember = self.remember_check.isChecked()
        choice = self.choice
        self._set_busy(True, "Signing in…")
        self.runner.run(lambda: sign_in(choice, user, password, remember=remember),
                        on_success=self._on_signed_in, on_failure=self._on_sign_in_failed,
                        on_finished=lambda: self._set_busy(False), key="sign in", label="sign in")

    def reject(self) -> None:
        """Close without signing in (announced with ``cancelled``)."""
        self.runner.discard("sign in")
        self._busy = False
        super().reject()
        if not self._done:
            self._done = True
            self.cancelled.emit()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """The window's close button is "Quit"."""
        event.ignore()
        self.reject()

    # -- outcomes (GUI thread) -------------------------------------------------------------
    def _on_automatic_result(self, result: SignedIn | None) -> None:
        if result is None:
            self._prompt()
        else:
            self._finish(result)

    def _on_automatic_failed(self, error: ClinicError, direct: bool) -> None:
        if isinstance(error, KeyringUnavailable):
            self._prompt(KEYRING_UNREADABLE)
        elif isinstance(error, AuthenticationFailed):
            self._prompt("" if error.password_missing else str(error))
        elif direct:
            self.failed.emit(str(error))
        else:
            self._prompt(str(error))

    def _on_signed_in(self, result: SignedIn) -> None:
        self._settings.setValue(LAST_USER_KEY, self.user_edit.text().strip())
        self._settings.setValue(REMEMBER_KEY, self.remember_check.isChecked())
        self._settings.sync()
        self._finish(result)

    def _on_sign_in_failed(self, error: ClinicError) -> None:
        self._show_message(str(error))
        if isinstance(error, AuthenticationFailed):
            self.password_edit.selectAll()
            self.password_edit.setFocus()

    def _finish(self, result: SignedIn) -> None:
        self._done = True
        self.password_edit.clear()
        self.hide()
        self.setResult(QDialog.DialogCode.Accepted)
        self.signed_in.emit(result)

    # -- helpers ------------------------------------------------------------------------------
    def _prompt(self, message: str = "") -> None:
        self._show_message(message)
        self.show()
        self.raise_()
        self.activateWindow()
        (self.password_edit if self.user_edit.text() else self.user_edit).setFocus()
        self.prompted.emit()

    def _show_message(self, message: str) -> None:
        self.error_label.setText(message)

    def _set_busy(self, busy: bool, message: str | None = None) -> None:
        self._busy = busy
        for widget in (self.user_edit, self.password_edit, self.remember_check, self.sign_in_button,
                       self.settings_button):
            widget.setEnabled(not busy)
        if message is not None:
            self._show_message(message)
        elif not busy and self.error_label.text() == "Signing in…":
            self._show_message("")

    def _show_server(self) -> None:
        self.server_label.setText(f"Sign in to the clinic database on {describe_server(self.choice.conninfo or '')}")

    def _on_settings_button_clicked(self) -> None:
        overridden = self.choice.origin if self.choice.origin in ("option", "environment") else None
        dialog = SettingsDialog(self._settings, overridden_by=overridden, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.settings_saved.connect(self._on_settings_saved)
        self.settings_dialog = dialog
        dialog.open()

    def _on_settings_saved(self, _saved: object) -> None:
        if self.choice.origin in ("option", "environment"):
            return  # they outrank the settings: nothing changes now
        choice = choose_connection(None, settings_conninfo(self._settings))
        if choice == self.choice:
            return
        self.choice = choice
        self._show_server()
        self._show_message("")
        self.choice_changed.emit(choice)
