"""The app's wiring: ``main()`` against a server given on the command line, sign-in against a server
that asks for passwords (``password_server``, see test_signin.py), the idle lock, labels, crash hook."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

from reception_app.config import ConnectionChoice
from reception_app.store.database import Database
from reception_app.ui import app as app_module
from reception_app.ui.idle_lock import WRONG_PASSWORD
from reception_app.ui.main_window import MainWindow
from reception_app.ui.messages import install_excepthook
from reception_app.ui.settings_dialog import ConnectionSettings, settings_conninfo
from tests.ui.test_signin import ANNA_PASSWORD, PasswordServer, start_password_server


@pytest.fixture
def password_server() -> PasswordServer:
    return start_password_server()


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def file_keyring(tmp_path: Path) -> Iterator[PlaintextKeyring]:
    """keyrings.alt's file-backed keyring in a temporary file."""
    previous = keyring.get_keyring()
    ring = PlaintextKeyring()
    ring.file_path = str(tmp_path / "keyring.cfg")
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


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


def test_the_app_opens_the_window_on_the_given_database(qtbot, clinic_db: Database, settings) -> None:
    # main() = parse_args + logging + this + the event loop; the loop itself is not run here, because
    # quitting it would leave the test process's QApplication unable to deliver events.
    choice = app_module.choose_connection(app_module.parse_args(["--database", clinic_db.conninfo]).database)
    clinic = app_module.ClinicApp(choice, "/tmp/clinic-test.log", settings=settings)
    try:
        with qtbot.waitSignal(clinic.window_shown, timeout=20_000) as shown:
            clinic.start()  # the connection string names the (trusted) login: no sign-in dialog
        window: MainWindow = shown.args[0]
        assert window.session == clinic.session and clinic.session is not None
        assert clinic.session.role == "admin"  # the test server's superuser
        assert clinic.idle_lock is not None and clinic.idle_lock.timeout_ms == 300_000
        qtbot.waitUntil(lambda: window.model.day is not None, timeout=10_000)
        assert window.branch.name == "Berlin"  # the first by name
        assert window.database_label.text().startswith("Database: server ")
        assert window.database_label.text().endswith("(option)")
    finally:
        clinic.stop()


def test_a_database_that_cannot_be_reached_is_said_plainly(qtbot, settings) -> None:
    # The connection string names the login, so there is nothing to ask: the start fails plainly.
    clinic = app_module.ClinicApp(ConnectionChoice("host=/nonexistent-socket-dir dbname=clinic user=desk "
                                                   "connect_timeout=2", "option"), "/tmp/clinic-test.log",
                                  settings=settings)
    try:
        with qtbot.waitSignal(clinic.start_failed, timeout=20_000) as failed:
            clinic.start()
        assert failed.args[0].startswith("Cannot reach the clinic database")
        assert "Traceback" not in failed.args[0]
        assert clinic.window is None
        assert clinic.sign_in_dialog is not None and not clinic.sign_in_dialog.isVisible()
    finally:
        clinic.stop()


def test_a_server_asks_who_signs_in_and_the_window_gets_the_session_and_the_idle_lock(
        qtbot, password_server, settings, file_keyring) -> None:
    ConnectionSettings(use_server=True, hosts=(password_server.socket_dir,), idle_lock_min=7).save(settings)
    choice = app_module.choose_connection(None, settings_conninfo(settings))
    assert choice.origin == "settings"
    clinic = app_module.ClinicApp(choice, "/tmp/clinic-test.log", settings=settings)
    try:
        with qtbot.waitSignal(clinic.sign_in_shown, timeout=20_000):
            clinic.start()
        dialog = clinic.sign_in_dialog
        assert dialog is not None and dialog.isVisible()
        dialog.user_edit.setText("anna")
        dialog.password_edit.setText(ANNA_PASSWORD)
        dialog.remember_check.setChecked(True)
        with qtbot.waitSignal(clinic.window_shown, timeout=20_000) as shown:
            dialog.sign_in_button.click()
        window: MainWindow = shown.args[0]
        assert window.session == clinic.session
        assert (clinic.session.login, clinic.session.role) == ("anna", "reception")
        assert window.windowTitle() == "Clinic Reception — anna (reception)"
        assert clinic.db is not None and "anna" in clinic.db.conninfo
        lock = clinic.idle_lock
        assert lock is not None and lock.timeout_ms == 7 * 60_000 and not lock.is_locked

        with qtbot.waitSignal(lock.locked):
            lock.lock_now()
        assert not window.isVisible()
        lock.screen.password_edit.setText("wrong")
        lock.screen.unlock_button.click()
        qtbot.waitUntil(lambda: lock.screen.message_label.text() == WRONG_PASSWORD, timeout=10_000)
        with qtbot.waitSignal(lock.unlocked, timeout=10_000):
            lock.unlock(ANNA_PASSWORD)
        assert window.isVisible()

        editor = clinic.open_settings(window)
        editor.idle_spin.setValue(0)
        editor.accept()
        assert lock.timeout_ms == 0 and lock.remaining_ms == -1
    finally:
        clinic.stop()

    # Next start: the remembered password signs in without asking.
    again = app_module.ClinicApp(choice, "/tmp/clinic-test.log", settings=settings)
    try:
        with qtbot.waitSignal(again.window_shown, timeout=20_000):
            again.start()
        assert again.sign_in_dialog is not None and not again.sign_in_dialog.isVisible()
        assert again.session is not None and again.session.login == "anna"
    finally:
        again.stop()


def test_the_window_title_names_the_product_once(qtbot) -> None:
    """Qt appends the application display name to every window title ("Clinic Reception — postgres
    (admin) — Clinic Reception" when it was set): the app sets none, and the title starts with it."""
    from types import SimpleNamespace

    from reception_app.ui.main_window import window_title

    app = QApplication.instance()
    sheet, font, style, name = app.styleSheet(), app.font(), app.style().name(), app.applicationName()
    try:
        app_module.configure_application(app)
        assert app.applicationDisplayName() == app.applicationName() == "ClinicReception"  # none set
    finally:  # the rest of the session keeps its look
        app.setStyleSheet(sheet)
        app.setFont(font)
        app.setStyle(style)
        app.setApplicationName(name)
    assert window_title(SimpleNamespace(login="ana", role="manager")) == "Clinic Reception — ana (manager)"
    assert window_title(SimpleNamespace(login="ana", role=None)) == "Clinic Reception — ana"
    assert window_title(None) == "Clinic Reception"
    assert window_title(SimpleNamespace(login="", role="admin")) == "Clinic Reception"


def test_quitting_the_sign_in_asks_the_app_to_quit(qtbot, password_server, settings) -> None:
    clinic = app_module.ClinicApp(ConnectionChoice(password_server.conninfo, "environment"), "/tmp/clinic-test.log",
                                  settings=settings)
    try:
        with qtbot.waitSignal(clinic.sign_in_shown, timeout=20_000):
            clinic.start()
        with qtbot.waitSignal(clinic.quit_requested):
            clinic.sign_in_dialog.quit_button.click()
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
