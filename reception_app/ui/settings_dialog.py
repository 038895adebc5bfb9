"""Connection settings: the built-in database, or the clinic's server; and the idle lock.

Stored in QSettings (groups ``connection`` and ``lock``) — never a password:
passwords live in the OS keyring (``config.remember_password``). The settings
rank third in the precedence of ``config.choose_connection`` (after the
``--database`` option and ``CLINIC_DATABASE_URL``): the UI turns them into a
libpq string with :meth:`ConnectionSettings.to_conninfo` and passes it in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from psycopg.conninfo import make_conninfo
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..config import APP_AUTHOR, APP_NAME
from ..domain.errors import ValidationError

#: libpq's sslmode values, weakest first (https://www.postgresql.org/docs/current/libpq-ssl.html).
SSL_MODES: tuple[str, ...] = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
DEFAULT_IDLE_LOCK_MIN = 5
MAX_IDLE_LOCK_MIN = 24 * 60
_HOST = re.compile(r"^(/\S+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$")


def app_settings() -> QSettings:
    """The application's QSettings (user scope, named after the app, whatever the
    QApplication's names are)."""
    return QSettings(APP_AUTHOR, APP_NAME)


def split_hosts(text: str) -> tuple[str, ...]:
    """``"db1, db2 db3"`` -> ``("db1", "db2", "db3")`` (commas and/or blanks separate)."""
    return tuple(h for h in re.split(r"[\s,]+", text.strip()) if h)


@dataclass(frozen=True)
class ConnectionSettings:
    """Where the window connects, and when it locks.

    ``use_server``: False = the built-in (embedded) database, which needs no
    sign-in; True = the clinic's server at ``hosts`` (one or more names,
    addresses or Unix-socket directories; several fail over to whichever is
    writable), ``port`` (1-65535), ``database``, ``sslmode`` (one of
    ``SSL_MODES``) and ``sslrootcert`` (the CA file that verify-ca/verify-full
    check the server against; "" = libpq's default ``~/.postgresql/root.crt``).
    ``idle_lock_min``: minutes without input before the window locks; 0 = never.
    """

    use_server: bool = False
    hosts: tuple[str, ...] = ()
    port: int = 5432
    database: str = "clinic"
    sslmode: str = "prefer"
    sslrootcert: str = ""
    idle_lock_min: int = DEFAULT_IDLE_LOCK_MIN

    # -- checks ---------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ``ValidationError`` naming the first bad field and its value.

        The server fields are checked only when ``use_server``; the idle time always.
        """
        if not 0 <= self.idle_lock_min <= MAX_IDLE_LOCK_MIN:
            raise ValidationError("idle lock minutes", self.idle_lock_min,
                                  f"must be 0 (never) to {MAX_IDLE_LOCK_MIN}")
        if not self.use_server:
            return
        if not self.hosts:
            raise ValidationError("hosts", "", "name at least one server (host name, address or socket folder)")
        for host in self.hosts:
            if not _HOST.match(host):
                raise ValidationError("hosts", host, "is not a host name, an IP address or a socket folder")
        if not 1 <= self.port <= 65535:
            raise ValidationError("port", self.port, "must be between 1 and 65535")
        if not self.database.strip():
            raise ValidationError("database", self.database, "name the clinic database")
        if self.sslmode not in SSL_MODES:
            raise ValidationError("sslmode", self.sslmode, f"must be one of {', '.join(SSL_MODES)}")
        if self.sslrootcert and not Path(self.sslrootcert).expanduser().is_file():
            raise ValidationError("CA file", self.sslrootcert, "no such file")
        if self.sslmode in ("verify-ca", "verify-full") and not self.sslrootcert:
            default = Path.home() / ".postgresql" / "root.crt"
            if not default.is_file():
                raise ValidationError("CA file", "", f"{self.sslmode} needs the CA certificate that signed "
                                                     "the server's: choose the file")

    def to_conninfo(self) -> str | None:
        """The libpq key=value string for the server (no user, no password), or None for
        the built-in database. Several hosts add ``target_session_attrs=read-write`` so a
        promoted standby is found. Raises ``ValidationError`` like :meth:`validate`."""
        self.validate()
        if not self.use_server:
            return None
        params: dict[str, str] = {"host": ",".join(self.hosts), "port": str(self.port),
                                  "dbname": self.database.strip(), "sslmode": self.sslmode}
        if self.sslrootcert:
            params["sslrootcert"] = str(Path(self.sslrootcert).expanduser())
        if len(self.hosts) > 1:
            params["target_session_attrs"] = "read-write"
        return make_conninfo("", **params)

    # -- QSettings ----------------------------------------------------------------------
    @classmethod
    def load(cls, settings: QSettings | None = None) -> ConnectionSettings:
        """Read from ``settings`` (default :func:`app_settings`); missing or unreadable
        values fall back to the defaults (a hand-edited file never stops the app)."""
        s = settings if settings is not None else app_settings()
        d = cls()

        def integer(key: str, default: int) -> int:
            try:
                return int(str(s.value(key, default)))
            except ValueError:
                return default

        return cls(
            use_server=str(s.value("connection/use_server", d.use_server)).lower() in ("true", "1"),
            hosts=split_hosts(str(s.value("connection/hosts", ""))),
            port=integer("connection/port", d.port),
            database=str(s.value("connection/database", d.database)),
            sslmode=str(s.value("connection/sslmode", d.sslmode)),
            sslrootcert=str(s.value("connection/sslrootcert", "")),
            idle_lock_min=integer("lock/idle_minutes", d.idle_lock_min),
        )

    def save(self, settings: QSettings | None = None) -> None:
        """Write to ``settings`` (default :func:`app_settings`) after :meth:`validate`
        (which may raise ``ValidationError``; nothing is written then)."""
        self.validate()
        s = settings if settings is not None else app_settings()
        s.setValue("connection/use_server", self.use_server)
        s.setValue("connection/hosts", ",".join(self.hosts))
        s.setValue("connection/port", self.port)
        s.setValue("connection/database", self.database.strip())
        s.setValue("connection/sslmode", self.sslmode)
        s.setValue("connection/sslrootcert", self.sslrootcert)
        s.setValue("lock/idle_minutes", self.idle_lock_min)
        s.sync()

    @property
    def idle_lock_ms(self) -> int:
        """``idle_lock_min`` in milliseconds (0 = never), for ``IdleLock``."""
        return self.idle_lock_min * 60_000


def settings_conninfo(settings: QSettings | None = None) -> str | None:
    """The server the saved settings name, as a libpq string, or None (built-in
    database, or saved values that do not validate — then the built-in one is used
    and the settings dialog says what is wrong)."""
    try:
        return ConnectionSettings.load(settings).to_conninfo()
    except ValidationError:
        return None


class SettingsDialog(QDialog):
    """Edit :class:`ConnectionSettings`. OK validates (one message naming the field and the
    value, shown in the dialog), saves to QSettings and closes; Cancel changes nothing.

    Connection changes take effect at the next sign-in; the idle time at once (the app
    listens to :attr:`settings_saved`). ``overridden_by``: the source that outranks the
    settings (``"option"``, ``"environment"``), shown as a note, or None.

    Signals:
        settings_saved(object): the new ``ConnectionSettings`` were saved.
    """

    settings_saved = Signal(object)

    def __init__(self, settings: QSettings | None = None, *, overridden_by: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings if settings is not None else app_settings()
        self.ca_picker: QFileDialog | None = None  # the open CA file picker, if any
        self.setWindowTitle("Connection settings")
        self.setObjectName("settingsDialog")
        current = ConnectionSettings.load(self._settings)

        layout = QVBoxLayout(self)
        if overridden_by:
            source = {"option": "the --database option", "environment": "CLINIC_DATABASE_URL"}.get(
                overridden_by, overridden_by)
            note = QLabel(f"This workstation currently connects as {source} says; these settings apply "
                          "when it is not given.")
            note.setWordWrap(True)
            layout.addWidget(note)

        self.builtin_radio = QRadioButton("Use the built-in database (this computer only, no sign-in)")
        self.builtin_radio.setAccessibleName("Use the built-in database")
        self.server_radio = QRadioButton("Connect to the clinic's server")
        self.server_radio.setAccessibleName("Connect to the clinic's server")
        group = QButtonGroup(self)
        group.addButton(self.builtin_radio)
        group.addButton(self.server_radio)
        layout.addWidget(self.builtin_radio)
        layout.addWidget(self.server_radio)

        self.server_box = QGroupBox("Server")
        form = QFormLayout(self.server_box)
        self.hosts_edit = QLineEdit(", ".join(current.hosts))
        self.hosts_edit.setPlaceholderText("db1.clinic.lan, db2.clinic.lan")
        self.hosts_edit.setAccessibleName("Server hosts")
        self.hosts_edit.setToolTip("One or more servers, separated by commas; the first writable one is used.")
        form.addRow("&Hosts:", self.hosts_edit)
        self.port_edit = QLineEdit(str(current.port))
        self.port_edit.setAccessibleName("Port")
        form.addRow("&Port:", self.port_edit)
        self.database_edit = QLineEdit(current.database)
        self.database_edit.setAccessibleName("Database name")
        form.addRow("&Database:", self.database_edit)
        self.sslmode_combo = QComboBox()
        self.sslmode_combo.addItems(list(SSL_MODES))
        self.sslmode_combo.setCurrentText(current.sslmode if current.sslmode in SSL_MODES else "prefer")
        self.sslmode_combo.setAccessibleName("TLS mode (sslmode)")
        form.addRow("&TLS (sslmode):", self.sslmode_combo)
        ca_row = QHBoxLayout()
        self.ca_edit = QLineEdit(current.sslrootcert)
        self.ca_edit.setAccessibleName("CA certificate file")
        self.ca_edit.setPlaceholderText("~/.postgresql/root.crt")
        self.ca_button = QPushButton("&Browse…")
        self.ca_button.setAccessibleName("Choose the CA certificate file")
        self.ca_button.clicked.connect(self._on_ca_button_clicked)
        ca_row.addWidget(self.ca_edit, 1)
        ca_row.addWidget(self.ca_button)
        form.addRow("&CA file:", ca_row)
        layout.addWidget(self.server_box)

        lock_form = QFormLayout()
        self.idle_spin = QSpinBox()
        self.idle_spin.setRange(0, MAX_IDLE_LOCK_MIN)
        self.idle_spin.setSuffix(" min")
        self.idle_spin.setSpecialValueText("Never")
        self.idle_spin.setValue(current.idle_lock_min if 0 <= current.idle_lock_min <= MAX_IDLE_LOCK_MIN
                                else DEFAULT_IDLE_LOCK_MIN)
        self.idle_spin.setAccessibleName("Lock after idle minutes")
        lock_form.addRow("&Lock after idle:", self.idle_spin)
        layout.addLayout(lock_form)

        self.error_label = QLabel("")
        self.error_label.setObjectName("errorLabel")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setAccessibleName("Settings error")
        layout.addWidget(self.error_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        (self.server_radio if current.use_server else self.builtin_radio).setChecked(True)
        self.server_radio.toggled.connect(self._on_server_radio_toggled)
        self._on_server_radio_toggled(current.use_server)

    # -- reading the form ----------------------------------------------------------------
    def current_settings(self) -> ConnectionSettings:
        """The settings the form shows (not validated). Raises ``ValidationError`` for a
        port that is not a number."""
        port_text = self.port_edit.text().strip() or "5432"
        try:
            port = int(port_text)
        except ValueError:
            raise ValidationError("port", port_text, "must be a number between 1 and 65535") from None
        return replace(ConnectionSettings(), use_server=self.server_radio.isChecked(),
                       hosts=split_hosts(self.hosts_edit.text()), port=port, database=self.database_edit.text(),
                       sslmode=self.sslmode_combo.currentText(), sslrootcert=self.ca_edit.text().strip(),
                       idle_lock_min=self.idle_spin.value())

    def accept(self) -> None:
        """Validate and save; on a bad field show its message, focus it and stay open."""
        try:
            chosen = self.current_settings()
            chosen.save(self._settings)
        except ValidationError as exc:
            self.error_label.setText(str(exc))
            focus = {"hosts": self.hosts_edit, "port": self.port_edit, "database": self.database_edit,
                     "sslmode": self.sslmode_combo, "CA file": self.ca_edit,
                     "idle lock minutes": self.idle_spin}.get(exc.field)
            if focus is not None:
                focus.setFocus()
            return
        self.error_label.setText("")
        self.settings_saved.emit(chosen)
        super().accept()

    # -- slots ---------------------------------------------------------------------------
    def _on_server_radio_toggled(self, checked: bool) -> None:
        self.server_box.setEnabled(checked)

    def _on_ca_button_clicked(self) -> None:
        start = self.ca_edit.text().strip() or str(Path.home())
        picker = QFileDialog(self, "CA certificate", start, "Certificates (*.crt *.pem *.cer);;All files (*)")
        picker.setFileMode(QFileDialog.FileMode.ExistingFile)
        picker.setObjectName("caFilePicker")
        picker.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        picker.fileSelected.connect(self.ca_edit.setText)
        self.ca_picker = picker
        picker.open()  # window-modal, never exec() (see ui.messages)
