"""Connection settings: stored in QSettings (never a password), turned into a libpq string, checked field by field."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLineEdit

from reception_app.config import choose_connection
from reception_app.domain.errors import ValidationError
from reception_app.ui.settings_dialog import ConnectionSettings, SettingsDialog, settings_conninfo


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "clinic-ca.crt"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def test_the_defaults_are_the_built_in_database_and_a_five_minute_lock(settings):
    loaded = ConnectionSettings.load(settings)
    assert loaded == ConnectionSettings()
    assert (loaded.use_server, loaded.idle_lock_min, loaded.idle_lock_ms) == (False, 5, 300_000)
    assert loaded.to_conninfo() is None
    assert settings_conninfo(settings) is None
    assert choose_connection(None, settings_conninfo(settings)).embedded


def test_several_hosts_fail_over_to_the_writable_one(settings, ca_file):
    chosen = ConnectionSettings(use_server=True, hosts=("db1.clinic.lan", "db2.clinic.lan"), port=6432,
                                database="clinic", sslmode="verify-full", sslrootcert=str(ca_file), idle_lock_min=0)
    chosen.save(settings)
    assert ConnectionSettings.load(settings) == chosen
    parts = conninfo_to_dict(settings_conninfo(settings) or "")
    assert parts == {"host": "db1.clinic.lan,db2.clinic.lan", "port": "6432", "dbname": "clinic",
                     "sslmode": "verify-full", "sslrootcert": str(ca_file), "target_session_attrs": "read-write"}
    one = ConnectionSettings(use_server=True, hosts=("db1",)).to_conninfo() or ""
    assert "target_session_attrs" not in conninfo_to_dict(one)
    assert "password" not in {k.lower() for k in settings.allKeys()}


def test_the_settings_rank_after_the_option_and_the_environment(settings, monkeypatch):
    ConnectionSettings(use_server=True, hosts=("db9",)).save(settings)
    conninfo = settings_conninfo(settings)
    assert choose_connection(None, conninfo).origin == "settings"
    assert choose_connection("host=cli", conninfo).conninfo == "host=cli"
    monkeypatch.setenv("CLINIC_DATABASE_URL", "host=env")
    assert choose_connection(None, conninfo).conninfo == "host=env"


@pytest.mark.parametrize(("fields", "message"), [
    ({"hosts": ()}, "hosts: name at least one server"),
    ({"hosts": ("db 1;x",)}, "hosts: is not a host name"),
    ({"port": 70000}, "port: must be between 1 and 65535 (got 70000)"),
    ({"port": 0}, "port: must be between 1 and 65535 (got 0)"),
    ({"database": " "}, "database: name the clinic database"),
    ({"sslmode": "on"}, "sslmode: must be one of disable, allow, prefer, require, verify-ca, verify-full"),
    ({"sslrootcert": "/nonexistent/ca.crt"}, "CA file: no such file (got '/nonexistent/ca.crt')"),
    ({"idle_lock_min": -1}, "idle lock minutes: must be 0 (never)"),
])
def test_each_bad_field_is_named_with_its_value(fields, message):
    with pytest.raises(ValidationError) as caught:
        ConnectionSettings(**{"use_server": True, "hosts": ("db1",), **fields}).validate()
    assert str(caught.value).startswith(message)


def test_verify_full_needs_a_ca_file(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.postgresql/root.crt
    with pytest.raises(ValidationError, match="CA file: verify-full needs the CA certificate"):
        ConnectionSettings(use_server=True, hosts=("db1",), sslmode="verify-full").validate()


def test_hand_edited_nonsense_falls_back_to_the_built_in_database(settings):
    settings.setValue("connection/use_server", "true")
    settings.setValue("connection/port", "many")
    assert ConnectionSettings.load(settings).port == 5432
    assert settings_conninfo(settings) is None  # no hosts: not a usable server


def test_the_dialog_saves_a_server_and_refuses_a_bad_port(qtbot, settings, ca_file):
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.builtin_radio.isChecked() and not dialog.server_box.isEnabled()
    dialog.server_radio.setChecked(True)
    assert dialog.server_box.isEnabled()
    dialog.hosts_edit.setText("db1.clinic.lan, db2.clinic.lan")
    dialog.port_edit.setText("99999")
    dialog.sslmode_combo.setCurrentText("verify-ca")
    dialog.ca_edit.setText(str(ca_file))
    dialog.idle_spin.setValue(10)
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert dialog.isVisible()
    assert dialog.error_label.text() == "port: must be between 1 and 65535 (got 99999)"
    assert dialog.port_edit.hasFocus() or not dialog.isActiveWindow()
    assert settings_conninfo(settings) is None  # nothing written

    dialog.port_edit.setText("x")
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert dialog.error_label.text() == "port: must be a number between 1 and 65535 (got 'x')"

    dialog.port_edit.setText("5433")
    with qtbot.waitSignal(dialog.settings_saved) as saved:
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert not dialog.isVisible()
    assert saved.args[0] == ConnectionSettings(use_server=True, hosts=("db1.clinic.lan", "db2.clinic.lan"),
                                               port=5433, sslmode="verify-ca", sslrootcert=str(ca_file),
                                               idle_lock_min=10)
    assert ConnectionSettings.load(settings) == saved.args[0]


def test_the_dialog_shows_what_is_saved_and_names_every_field(qtbot, settings):
    ConnectionSettings(use_server=True, hosts=("a", "b"), database="main", idle_lock_min=0).save(settings)
    dialog = SettingsDialog(settings, overridden_by="environment")
    qtbot.addWidget(dialog)
    assert dialog.server_radio.isChecked()
    assert (dialog.hosts_edit.text(), dialog.database_edit.text()) == ("a, b", "main")
    assert dialog.idle_spin.text() == "Never"
    fields = [dialog.builtin_radio, dialog.server_radio, dialog.hosts_edit, dialog.port_edit, dialog.database_edit,
              dialog.sslmode_combo, dialog.ca_edit, dialog.ca_button, dialog.idle_spin]
    assert all(w.accessibleName() for w in fields)
    named_edits = {w for w in dialog.findChildren(QLineEdit) if w.accessibleName()}
    assert len(named_edits) == 4  # every line edit but the spin box's own
    dialog.builtin_radio.setChecked(True)
    dialog.accept()
    assert settings_conninfo(settings) is None
    assert ConnectionSettings.load(settings).hosts == ("a", "b")  # kept for when the server is chosen again
