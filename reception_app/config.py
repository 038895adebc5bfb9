"""Where settings come from (DESIGN.md, "Configuration and connections").

Precedence for the database connection, first match wins:

1. a command-line option (``--database``), passed in as ``cli_url``;
2. the environment variable ``CLINIC_DATABASE_URL``;
3. the settings file ``settings.toml`` in the user config directory
   (key ``database_url``);
4. the embedded default: an embedded PostgreSQL whose data directory lives in
   the user data directory (``CLINIC_DATA_DIR`` overrides it, for tests and
   side-by-side installs).

Connection strings are libpq's, URI or key=value, several hosts allowed
(``host=a,b target_session_attrs=read-write`` fails over to a promoted standby).
Passwords are never read from these files: libpq's own sources (PGPASSWORD,
~/.pgpass) supply them. ``KEYRING_SERVICE`` names the OS keyring entry the
sign-in prompt will use.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import platformdirs

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


def choose_connection(cli_url: str | None = None) -> ConnectionChoice:
    """Apply the precedence above and say which source won."""
    if cli_url:
        return ConnectionChoice(cli_url, "option")
    env = os.environ.get(ENV_URL, "").strip()
    if env:
        return ConnectionChoice(env, "environment")
    url = str(read_settings().get("database_url", "")).strip()
    if url:
        return ConnectionChoice(url, "settings")
    return ConnectionChoice(None, "embedded")
