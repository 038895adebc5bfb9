"""Start the desktop app: logging, crash handling, the database, then the main window.

``main()`` is the ``clinic-reception`` gui-script and what ``python main.py``
runs. Opening the database (which may start and migrate the embedded server)
runs in the background behind a small "Starting…" window, so the GUI never
freezes; on the embedded database's first run the window loads the demo clinic.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QProgressBar, QVBoxLayout, QWidget

from ..config import APP_AUTHOR, APP_NAME, ConnectionChoice, choose_connection
from ..domain.errors import ClinicError
from ..logsetup import setup_logging
from ..runtime import tune_gc
from ..store.database import Database
from .live import LiveSchedule
from .main_window import MainWindow
from .messages import APP_TITLE, install_excepthook
from .runner import Runner

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
    app.setApplicationDisplayName(APP_TITLE)
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
    """The running program: opens the database in the background, then shows the main window.

    ``choice``: where to connect (``config.choose_connection``). ``log_path``:
    named in crash messages. On the embedded database an empty clinic gets the
    demo clinic on first run. :meth:`start` begins, :meth:`stop` ends (waits
    for background work, disposes the database).

    Signals:
        window_shown(object): the main window is up: the ``MainWindow``.
        start_failed(str): the database could not be opened: the message to show.
    """

    window_shown = Signal(object)
    start_failed = Signal(str)

    def __init__(self, choice: ConnectionChoice, log_path: Path | str | None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.choice = choice
        self.log_path = log_path
        self.runner = Runner(self, log_path=log_path)
        self.db: Database | None = None
        self.window: MainWindow | None = None
        self.live: LiveSchedule | None = None
        self._startup = StartupWindow("Starting the built-in clinic database…" if choice.embedded
                                      else "Connecting to the clinic database…")
        self.runner.crashed.connect(self._on_runner_crashed)

    def start(self) -> None:
        """Show the start-up note and open the database in the background."""
        from ..store.connect import open_database

        choice = self.choice
        self._startup.show()
        self.runner.run(lambda: open_database(choice=choice), on_success=self._on_database_opened,
                        on_failure=self._on_database_failed, label="open database")

    def stop(self) -> None:
        """Close the window, wait for background work, release the database."""
        self._startup.close()
        if self.window is not None:
            self.window.close()
        self.runner.shutdown()
        if self.live is not None:
            self.live.stop()
        if self.db is not None:
            self.db.dispose()

    def _on_database_opened(self, db: Database) -> None:
        self.db = db
        self._startup.close()
        first_run = None
        if self.choice.embedded:
            from ..services.demo import load_demo

            first_run = load_demo
        self.live = LiveSchedule(db.conninfo, self)
        self.live.start()
        self.window = MainWindow(db, runner=self.runner, database_label=describe_database(self.choice),
                                 log_path=self.log_path, first_run=first_run, live=self.live)
        self.window.show()
        tune_gc()  # start-up is over: freeze what exists (see reception_app.runtime)
        self.window_shown.emit(self.window)

    def _on_database_failed(self, error: ClinicError) -> None:
        self._startup.close()
        self.start_failed.emit(str(error))

    def _on_runner_crashed(self, message: str) -> None:
        if self.window is None:  # nothing to go back to: the start failed
            self._startup.close()
            self.start_failed.emit(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app until its window closes; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    log_path = setup_logging()
    log.info("starting %s", APP_NAME)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    configure_application(app)
    install_excepthook(log_path)

    clinic = ClinicApp(choose_connection(args.database), log_path)

    def on_start_failed(message: str) -> None:
        QMessageBox.critical(None, APP_TITLE, message)
        app.quit()

    clinic.start_failed.connect(on_start_failed)
    clinic.start()
    code = app.exec()
    clinic.stop()
    log.info("stopped (exit code %s)", code)
    return int(code)
