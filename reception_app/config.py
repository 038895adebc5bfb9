"""Where settings come from (docs/architecture.md, "Configuration and connections").

Precedence for the database connection, first match wins:

1. a command-line option (``--database``), passed in as ``cli_url``;
2. the environment variable ``CLINIC_DATABASE_URL``;
3. the settings: the window's connection settings (QSettings, read by the UI
   and passed in as ``settings_conninfo``: this module stays free of Qt, so
   the CLI and the reminder service use it too), then the settings file
   ``settings.toml`` in the user config directory (key ``database_url``);
4. the embedded default: an embedded PostgreSQL whose data directory lives in
   the user data directory (``CLINIC_DATA_DIR`` overrides it, for tests and
   side-by-side installs). Programs sign in to it as the person's own login
   (named after the operating-system user, in ``clinic_admin`` and
   ``clinic_manager``), never as its superuser: ``store.embedded``.

Connection strings are libpq's, URI or key=value, several hosts allowed
(``host=a,b target_session_attrs=read-write`` fails over to a promoted standby).
Passwords are never read from these files: the sign-in prompt's "Remember me"
keeps them in the OS keyring (service ``KEYRING_SERVICE``, one entry per login
and server: see :func:`keyring_username`), and libpq's own sources
(PGPASSWORD, ~/.pgpass) still work.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .domain.errors import ClinicError

log = logging.getLogger(__name__)

APP_NAME = "ClinicReception"
APP_AUTHOR = "ClinicReception"
ENV_URL = "CLINIC_DATABASE_URL"
ENV_DATA_DIR = "CLINIC_DATA_DIR"
KEYRING_SERVICE = "clinic-reception"
EMBEDDED_DATABASE = "clinic"


@dataclass(frozen=True)
class ConnectionChoice:
    """Where to connect. ``conninfo`` is None for the embedded default.

    ``origin`` says which source won: "option", "environment", "settings" or
    "embedded" — shown in the window's status bar and in error messages.
    """

    conninfo: str | None
    origin: str

    @property
    def embedded(self) -> bool:
        return self.conninfo is None


def config_dir() -> Path:
    """The user's config directory for the app (created on demand by writers)."""
    return Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))


def data_dir() -> Path:
    """The user data directory; the embedded server keeps ``pgdata/`` here."""
    override = os.environ.get(ENV_DATA_DIR)
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))


def settings_file() -> Path:
    return config_dir() / "settings.toml"


def read_settings() -> dict:
    """The settings file as a dict ({} when it does not exist)."""
    path = settings_file()
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


def choose_connection(cli_url: str | None = None, settings_conninfo: str | None = None) -> ConnectionChoice:
    """Apply the precedence above and say which source won.

    ``settings_conninfo``: the connection the window's settings name (a libpq
    string built from QSettings by ``ui.settings_dialog``), or None when they
    say "use the built-in database" — then ``settings.toml`` is consulted.
    """
    if cli_url:
        return ConnectionChoice(cli_url, "option")
    env = os.environ.get(ENV_URL, "").strip()
    if env:
        return ConnectionChoice(env, "environment")
    if settings_conninfo and settings_conninfo.strip():
        return ConnectionChoice(settings_conninfo.strip(), "settings")
    url = str(read_settings().get("database_url", "")).strip()
    if url:
        return ConnectionChoice(url, "settings")
    return ConnectionChoice(None, "embedded")


class KeyringUnavailable(ClinicError):
    """The OS keyring could not be used (no backend, locked, D-Bus gone); ``str()`` is a
    sentence safe to show. Never fatal: the user types the password instead."""


# -- the OS keyring (sign-in's "Remember me") --------------------------------------------------
def conninfo_user(conninfo: str | None) -> str | None:
    """The login a libpq string names (``user=``), or None (also for a malformed string)."""
    if not conninfo:
        return None
    from psycopg.conninfo import conninfo_to_dict

    try:
        user = conninfo_to_dict(conninfo).get("user")
    except Exception:  # noqa: BLE001 - psycopg raises ProgrammingError; connecting will say why
        return None
    return str(user) if user else None


def keyring_username(user: str, conninfo: str) -> str:
    """The keyring entry name for ``user`` on the server ``conninfo`` names:
    ``"anna@db1,db2:5432/clinic"`` (hosts, port, database), so one person's
    passwords on two servers do not overwrite each other. Never contains a password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(conninfo)
    except Exception:  # noqa: BLE001
        parts = {}
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    port = str(parts.get("port") or "5432")
    dbname = str(parts.get("dbname") or user)
    return f"{user}@{host}:{port}/{dbname}"


def remembered_password(user: str, conninfo: str) -> str | None:
    """The password remembered for ``user`` on that server, or None.

    Raises ``KeyringUnavailable`` when the keyring cannot be read (no backend,
    locked, D-Bus gone); the cause is logged, never the password.
    """
    import keyring

    try:
        return keyring.get_password(KEYRING_SERVICE, keyring_username(user, conninfo))
    except Exception as exc:  # keyring backends raise KeyringError, D-Bus and OS errors
        log.warning("could not read the keyring: %s: %s", type(exc).__name__, exc)
        raise KeyringUnavailable("Could not read the remembered password from the keyring.") from exc


def remember_password(user: str, conninfo: str, password: str) -> None:
    """Store ``password`` for ``user`` on that server in the OS keyring.

    Raises ``KeyringUnavailable`` (logged) when the keyring refuses.
    """
    import keyring

    try:
        keyring.set_password(KEYRING_SERVICE, keyring_username(user, conninfo), password)
    except Exception as exc:  # noqa: BLE001 - see remembered_password
        log.warning("could not store the password in the keyring: %s: %s", type(exc).__name__, exc)
        raise KeyringUnavailable("Could not remember the password: the keyring is not available.") from exc


def forget_password(user: str, conninfo: str) -> None:
    """Delete the remembered password of ``user`` on that server (nothing remembered is fine).

    Raises ``KeyringUnavailable`` (logged) when the keyring cannot be used.
    """
    import keyring
    from keyring.errors import PasswordDeleteError

    try:
        keyring.delete_password(KEYRING_SERVICE, keyring_username(user, conninfo))
    except PasswordDeleteError:
        pass  # nothing was remembered
    except Exception as exc:  # noqa: BLE001 - see remembered_password
        log.warning("could not delete the password from the keyring: %s: %s", type(exc).__name__, exc)
        raise KeyringUnavailable("Could not forget the password: the keyring is not available.") from exc


ENV_REPORTS_URL = "CLINIC_REPORTS_DATABASE_URL"


def reports_connection(main: ConnectionChoice) -> ConnectionChoice:
    """Where reports read from: ``CLINIC_REPORTS_DATABASE_URL``, then ``reports_database_url`` in
    ``settings.toml`` (e.g. a read replica: reports only read, in one snapshot), else ``main`` —
    the connection everything else uses (issue 6). ``origin`` is "reports-environment",
    "reports-settings" or main's own."""
    env = os.environ.get(ENV_REPORTS_URL, "").strip()
    if env:
        return ConnectionChoice(env, "reports-environment")
    url = str(read_settings().get("reports_database_url", "")).strip()
    if url:
        return ConnectionChoice(url, "reports-settings")
    return main
