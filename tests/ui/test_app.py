"""The app's wiring: ``main()`` against a server given on the command line, labels, crash hook."""

from __future__ import annotations

import logging
import sys
import threading

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from reception_app.config import ConnectionChoice
from reception_app.store.database import Database
from reception_app.ui import app as app_module
from reception_app.ui.main_window import MainWindow
from reception_app.ui.messages import install_excepthook


@pytest.fixture
def restore_hooks(qapp: QApplication):
    hooks = sys.excepthook, threading.excepthook
    style = qapp.styleSheet()
    yield
    sys.excepthook, threading.excepthook = hooks
    qapp.setStyleSheet(style)


def test_database_labels_never_show_passwords() -> None:
    assert app_module.describe_database(ConnectionChoice(None, "embedded")) == \
        "Database: built-in (embedded PostgreSQL)"
    label = app_module.describe_database(
        ConnectionChoice("postgresql://desk:s3cret@db1.clinic.local:5432/clinic?sslmode=verify-full", "environment"))
    assert label == "Database: server db1.clinic.local/clinic (environment)"
    assert "s3cret" not in app_module.describe_database(ConnectionChoice("host=db2 dbname=c password=s3cret",
                                                                         "settings"))


def test_the_app_opens_the_window_on_the_given_database(qtbot, clinic_db: Database) -> None:
    # main() = parse_args + logging + this + the event loop; the loop itself is not run here, because
    # quitting it would leave the test process's QApplication unable to deliver events.
    choice = app_module.choose_connection(app_module.parse_args(["--database", clinic_db.conninfo]).database)
    clinic = app_module.ClinicApp(choice, "/tmp/clinic-test.log")
    try:
        with qtbot.waitSignal(clinic.window_shown, timeout=20_000) as shown:
            clinic.start()
        window: MainWindow = shown.args[0]
        qtbot.waitUntil(lambda: window.model.day is not None, timeout=10_000)
        assert window.branch.name == "Berlin"  # the first by name
        assert window.database_label.text().startswith("Database: server ")
        assert window.database_label.text().endswith("(option)")
    finally:
        clinic.stop()


def test_a_database_that_cannot_be_reached_is_said_plainly(qtbot) -> None:
    clinic = app_module.ClinicApp(ConnectionChoice("host=/nonexistent-socket-dir dbname=clinic connect_timeout=2",
                                                   "option"), "/tmp/clinic-test.log")
    try:
        with qtbot.waitSignal(clinic.start_failed, timeout=20_000) as failed:
            clinic.start()
        assert failed.args[0].startswith("Cannot reach the clinic database")
        assert "Traceback" not in failed.args[0]
        assert clinic.window is None
    finally:
        clinic.stop()


def test_uncaught_exceptions_are_logged_and_shown_briefly(qtbot, caplog: pytest.LogCaptureFixture,
                                                          restore_hooks: None) -> None:
    install_excepthook("/tmp/clinic.log")
    try:
        raise ValueError("a bug")
    except ValueError:
        with caplog.at_level(logging.CRITICAL):
            sys.excepthook(*sys.exc_info())
    assert any(r.exc_info and r.exc_info[0] is ValueError for r in caplog.records)
    box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
    assert box.text() == "Something went wrong; details are in the log file /tmp/clinic.log."
    box.close()
