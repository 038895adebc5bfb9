"""Start the desktop app: logging, crash handling, the database, sign-in, then the main window.

``main()`` is the ``clinic-reception`` gui-script and what ``python main.py``
runs. The flow: choose the connection (``--database``, ``CLINIC_DATABASE_URL``,
the connection settings in QSettings, the embedded default) → on a server,
sign in as the person's own login role (automatically with a password
remembered in the OS keyring; ``ui.signin``) → open the database and read who
is signed in (``services.session``) → the main window, told the session →
the idle lock (``ui.idle_lock``) with the configured minutes.

Opening the database (which may start and migrate the embedded server) runs
in the background behind a small "Starting…" window, so the GUI never
freezes; on the embedded database's first run the window loads the demo clinic.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QProgressBar, QVBoxLayout, QWidget

from ..config import APP_AUTHOR, APP_NAME, ConnectionChoice, choose_connection, reports_connection
from ..domain.errors import ClinicError
from ..logsetup import setup_logging
from ..runtime import tune_gc
from ..services.session import SessionInfo
from ..store.database import Database
from .idle_lock import IdleLock
from .live import LiveSchedule
from .main_window import MainWindow
from .messages import APP_TITLE, install_excepthook
from .runner import Runner
from .settings_dialog import ConnectionSettings, SettingsDialog, app_settings, settings_conninfo
from .signin import SignedIn, SignInDialog, sign_in

log = logging.getLogger(__name__)


def describe_database(choice: ConnectionChoice) -> str:
    """Status-bar text for a connection choice: ``"Built-in database (embedded)"`` or
    ``"Server: host/dbname (environment)"`` — never a password."""
    if choice.embedded:
        return "Database: built-in (embedded PostgreSQL)"
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(choice.conninfo or "")
    except Exception:  # noqa: BLE001 - a malformed string still gets a label; connecting will say why
        return f"Database: server ({choice.origin})"
    host = str(parts.get("host") or "local socket")
    return f"Database: server {host}/{parts.get('dbname') or parts.get('user') or ''} ({choice.origin})"


def load_style_sheet() -> str:
    """The application style sheet (``resources/style.qss``), or ``""`` if it is missing."""
    try:
        return (resources.files("reception_app.resources") / "style.qss").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError, OSError):
        return ""


def configure_application(app: QApplication) -> None:
    """Names (for QSettings), a readable font size and the style sheet."""
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_AUTHOR)
    # No application display name: Qt appends it to every window title (" — Clinic Reception"), and
    # the main window's title already starts with the product ("Clinic Reception — ana (manager)").
    app.setStyle("Fusion")
    font = QFont(app.font())
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
        app.setFont(font)
    app.setStyleSheet(load_style_sheet())


class StartupWindow(QWidget):
    """A small window saying the database is being started (embedded) or connected to."""

    def __init__(self, text: str) -> None:
        super().__init__(None, Qt.WindowType.Dialog)
        self.setWindowTitle(APP_TITLE)
        v = QVBoxLayout(self)
        label = QLabel(text)
        label.setStyleSheet("font-size: 14px; padding: 8px;")
        v.addWidget(label)
        bar = QProgressBar()
        bar.setRange(0, 0)
        bar.setTextVisible(False)
        v.addWidget(bar)
        self.resize(420, 110)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """``--database CONNINFO`` (a libpq string; overrides env and settings)."""
    parser = argparse.ArgumentParser(prog="clinic-reception", description="Clinic Reception desk app")
    parser.add_argument("--database", metavar="CONNINFO", help="libpq connection string of the clinic server")
    return parser.parse_args(argv)


class ClinicApp(QObject):
    """The running program: signs in, opens the database in the background, shows the main window.

    ``choice``: where to connect (``config.choose_connection``). ``log_path``:
    named in crash messages. ``settings``: the QSettings holding the connection
    settings, the idle-lock minutes and the last user name (default
    ``settings_dialog.app_settings()``). On a server the sign-in dialog comes
    first (:attr:`sign_in_dialog`); the embedded default needs no sign-in and an
    empty clinic gets the demo clinic on first run. :meth:`start` begins,
    :meth:`stop` ends (waits for background work, disposes the database).

    After the window is up: :attr:`session` (``SessionInfo``), :attr:`idle_lock`
    (``IdleLock``: ``lock_now()``, ``create_action(window)`` for Ctrl+L) and
    :meth:`open_settings`.

    Signals:
        sign_in_shown(object): the sign-in dialog asks for the login (the ``SignInDialog``).
        window_shown(object): the main window is up: the ``MainWindow``.
        start_failed(str): the database could not be opened: the message to show.
        quit_requested(): the user chose Quit (sign-in dialog or lock screen).
    """

    sign_in_shown = Signal(object)
    window_shown = Signal(object)
    start_failed = Signal(str)
    quit_requested = Signal()

    def __init__(self, choice: ConnectionChoice, log_path: Path | str | None,
                 parent: QObject | None = None, *, settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.choice = choice
        self.log_path = log_path
        self.settings = settings if settings is not None else app_settings()
        self.runner = Runner(self, log_path=log_path)
        self.db: Database | None = None
        self.session: SessionInfo | None = None
        self.window: MainWindow | None = None
        self.live: LiveSchedule | None = None
        self.idle_lock: IdleLock | None = None
        self.sign_in_dialog: SignInDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self._startup = StartupWindow("Starting the built-in clinic database…" if choice.embedded
                                      else "Connecting to the clinic database…")
        self.runner.crashed.connect(self._on_runner_crashed)

    def start(self) -> None:
        """Show the start-up note; open the embedded database, or sign in to the server, in the background."""
        if self.choice.embedded:
            self._open_embedded()
            return
        dialog = SignInDialog(self.choice, self.runner, settings=self.settings)
        dialog.signed_in.connect(self._on_signed_in)
        dialog.prompted.connect(self._on_sign_in_prompted)
        dialog.failed.connect(self._on_database_failed)
        dialog.cancelled.connect(self._on_sign_in_cancelled)
        dialog.choice_changed.connect(self._on_sign_in_choice_changed)
        self.sign_in_dialog = dialog
        self._startup.show()
        dialog.begin()

    def stop(self) -> None:
        """Close the window, wait for background work, release the database."""
        self._startup.close()
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.dismiss()
        if self.idle_lock is not None:
            self.idle_lock.stop()
            self.idle_lock.screen.hide()
            self.idle_lock.screen.deleteLater()
        if self.window is not None:
            self.window.close()
        self.runner.shutdown()
        if self.live is not None:
            self.live.stop()
        if self.db is not None:
            self.db.dispose()

    def open_settings(self, parent: QWidget | None = None) -> SettingsDialog:
        """Open the connection settings (window-modal on ``parent``). A new idle time applies
        at once; connection changes at the next start. Returns the dialog."""
        overridden = self.choice.origin if self.choice.origin in ("option", "environment") else None
        dialog = SettingsDialog(self.settings, overridden_by=overridden, parent=parent or self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.settings_saved.connect(self._on_settings_saved)
        self.settings_dialog = dialog
        dialog.open()
        return dialog

    # -- start-up steps ----------------------------------------------------------------------
    def _open_embedded(self) -> None:
        choice = self.choice
        self._startup.show()
        self.runner.run(lambda: sign_in(choice, None, None), on_success=self._on_signed_in,
                        on_failure=self._on_database_failed, label="open database")

    def _on_signed_in(self, result: SignedIn) -> None:
        self.db = result.db
        self.session = result.session
        self._startup.close()
        first_run = None
        if self.choice.embedded:
            from ..services.demo import load_demo

            first_run = load_demo
        self.live = LiveSchedule(result.db.conninfo, self)
        self.live.start()
        self.window = MainWindow(result.db, runner=self.runner, database_label=describe_database(self.choice),
                                 log_path=self.log_path, first_run=first_run, live=self.live,
                                 session=result.session)
        if self.choice.embedded:   # the built-in database is this program's to start again if it stops
            from ..store.embedded import start_embedded

            monitor = getattr(self.window, "connection_monitor", None)
            if monitor is not None:
                monitor.restart = start_embedded
        reports = reports_connection(self.choice)
        if reports.conninfo and reports.conninfo != self.choice.conninfo:  # a read replica for reports (no connection made yet)
            self.window.reports_db = Database(reports.conninfo, application_name="clinic-reports")
        self.idle_lock = self._make_idle_lock(result)
        attach = getattr(self.window, "set_idle_lock", None)
        if callable(attach):
            attach(self.idle_lock)
        requested = getattr(self.window, "settings_requested", None)
        if requested is not None:
            requested.connect(lambda *_: self.open_settings(self.window))
        if getattr(self.window, "geometry_restored", True):
            self.window.show()
        else:
            self.window.showMaximized()  # the first start: the whole screen, not a small window
        if result.notice:
            self.window.statusBar().showMessage(result.notice, 15_000)
        tune_gc()  # start-up is over: freeze what exists (see reception_app.runtime)
        self.window_shown.emit(self.window)

    def _make_idle_lock(self, result: SignedIn) -> IdleLock:
        timeout_ms = ConnectionSettings.load(self.settings).idle_lock_ms
        verify = None
        if not self.choice.embedded:
            from ..store.connect import verify_login

            server, login = result.server_conninfo, result.session.login

            def verify(password: str) -> None:
                verify_login(server, user=login, password=password)

        lock = IdleLock(self.runner, user="" if self.choice.embedded else result.session.login,
                        display_name=result.session.display_name, verify=verify, timeout_ms=timeout_ms,
                        parent=self)
        lock.quit_requested.connect(self.quit_requested)
        return lock

    def _on_database_failed(self, error: ClinicError | str) -> None:
        self._startup.close()
        self.start_failed.emit(str(error))

    def _on_sign_in_prompted(self) -> None:
        self._startup.close()
        self.sign_in_shown.emit(self.sign_in_dialog)

    def _on_sign_in_cancelled(self) -> None:
        self._startup.close()
        self.quit_requested.emit()

    def _on_sign_in_choice_changed(self, choice: ConnectionChoice) -> None:
        self.choice = choice
        if choice.embedded and self.sign_in_dialog is not None:
            self.sign_in_dialog.dismiss()
            self._open_embedded()

    def _on_settings_saved(self, saved: ConnectionSettings) -> None:
        if self.idle_lock is not None:
            self.idle_lock.set_timeout_ms(saved.idle_lock_ms)
        if self.window is not None:
            self.window.statusBar().showMessage("Settings saved; a new connection applies at the next start.",
                                                15_000)

    def _on_runner_crashed(self, message: str) -> None:
        if self.window is None:  # nothing to go back to: the start failed
            self._startup.close()
            if self.sign_in_dialog is not None:
                self.sign_in_dialog.dismiss()
            self.start_failed.emit(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app until its window closes; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    log_path = setup_logging()
    log.info("starting %s", APP_NAME)
    if QApplication.instance() is None:   # the clinic-reception command, as main.py: say what to install
        from .platform_check import exit_if_window_cannot_start

        exit_if_window_cannot_start()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    configure_application(app)
    install_excepthook(log_path)

    settings = app_settings()
    clinic = ClinicApp(choose_connection(args.database, settings_conninfo(settings)), log_path, settings=settings)

    def on_start_failed(message: str) -> None:
        QMessageBox.critical(None, APP_TITLE, message)
        app.quit()

    clinic.start_failed.connect(on_start_failed)
    clinic.quit_requested.connect(app.quit)
    clinic.start()
    code = app.exec()
    clinic.stop()
    log.info("stopped (exit code %s)", code)
    return int(code)
