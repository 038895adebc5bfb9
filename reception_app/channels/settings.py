"""How messages leave the clinic, for the reminder service and the portal (its verification codes):
the reminder service's settings, the ``[reminders]`` section of settings.toml (or of the file
``--config`` names), secrets from the environment or the OS keyring — never the database.

The database connection follows the app's rules (``reception_app.config``: option,
``CLINIC_DATABASE_URL``, settings.toml ``database_url``, the embedded default).

```toml
[reminders]
email = "outbox"          # per channel: outbox | smtp (email) | gateway (sms, whatsapp) | off
sms = "outbox"
whatsapp = "outbox"
outbox_dir = "/var/lib/clinic-reminders/outbox"   # default: <user data dir>/outbox
default_phone = "+55 27 3333-0000"                # when a branch has no phone of its own
batch_size = 20          # reminders per claim
lease_seconds = 120      # a claimed reminder is taken over after this if its worker died
max_attempts = 5         # then it stays failed (reception's "failed reminders" list)
backoff_seconds = 60     # first retry after this, doubling
backoff_max_seconds = 3600
poll_seconds = 30        # fallback check when no notification comes
sweep_seconds = 60       # expired holds and waitlist offers

[reminders.smtp]
host = "smtp.example.com"
port = 587
security = "starttls"    # starttls | ssl | none
username = "reminders@example.com"
sender = "reminders@example.com"
sender_name = "Clinic"

[reminders.gateway]
base_url = "https://api.twilio.com"
account_sid = "AC..."
sms_from = "+15550001111"
whatsapp_from = "+15550002222"
```

Secrets: ``CLINIC_SMTP_PASSWORD`` / ``CLINIC_GATEWAY_TOKEN`` in the service's environment
(systemd ``EnvironmentFile``), else the keyring (service ``clinic-reminders``, entries
``smtp:<username>@<host>`` and ``gateway:<account_sid>``). Unknown keys and bad values
raise ``ValidationError`` naming the key and the value.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import data_dir, settings_file
from ..domain.errors import ValidationError
from . import Channel
from .gateway import DEFAULT_BASE_URL, GatewayChannel, GatewaySettings
from .outbox import OutboxChannel
from .smtp import SECURITY, SmtpChannel, SmtpSettings

log = logging.getLogger(__name__)

KEYRING_SERVICE = "clinic-reminders"
ENV_SMTP_PASSWORD = "CLINIC_SMTP_PASSWORD"
ENV_GATEWAY_TOKEN = "CLINIC_GATEWAY_TOKEN"
CHANNELS = ("email", "sms", "whatsapp")
TRANSPORTS = {"email": ("outbox", "smtp", "off"), "sms": ("outbox", "gateway", "off"),
              "whatsapp": ("outbox", "gateway", "off")}
_NUMBERS = {"batch_size": (int, 1, 1000), "lease_seconds": (float, 1, 86400), "max_attempts": (int, 1, 100),
            "backoff_seconds": (float, 0, 86400), "backoff_max_seconds": (float, 0, 7 * 86400),
            "poll_seconds": (float, 0.05, 3600), "sweep_seconds": (float, 0.05, 86400)}
_SMTP_KEYS = {"host", "port", "security", "username", "sender", "sender_name", "cafile", "timeout_seconds"}
_GATEWAY_KEYS = {"base_url", "account_sid", "sms_from", "whatsapp_from", "timeout_seconds"}


@dataclass
class ReminderSettings:
    """What the service does; see the module docstring for the keys and defaults.
    ``transports``: channel -> outbox | smtp | gateway | off (the ``file`` channel always goes to
    the outbox)."""

    transports: dict[str, str] = field(default_factory=lambda: dict.fromkeys(CHANNELS, "outbox"))
    outbox_dir: Path = field(default_factory=lambda: data_dir() / "outbox")
    default_phone: str = ""
    batch_size: int = 20
    lease_seconds: float = 120.0
    max_attempts: int = 5
    backoff_seconds: float = 60.0
    backoff_max_seconds: float = 3600.0
    poll_seconds: float = 30.0
    sweep_seconds: float = 60.0
    smtp: SmtpSettings | None = None
    gateway: GatewaySettings | None = None

    @property
    def channels(self) -> list[str]:
        """The reminder channels this service sends (``file`` always, the others unless ``off``)."""
        return ["file"] + [c for c in CHANNELS if self.transports.get(c) != "off"]


def _secret(env: str, entry: str) -> str | None:
    value = os.environ.get(env)
    if value:
        return value
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, entry)
    except Exception as exc:  # noqa: BLE001 - no backend, locked, D-Bus gone: the check will say so
        log.warning("could not read the keyring entry %s: %s", entry, type(exc).__name__)
        return None


def _check_keys(section: dict, allowed: set[str], where: str) -> None:
    for key in section:
        if key not in allowed:
            raise ValidationError(f"{where}.{key}", section[key], "unknown setting")


def _text(section: dict, key: str, where: str, *, required: bool = False) -> str | None:
    value = section.get(key)
    if value is None:
        if required:
            raise ValidationError(f"{where}.{key}", None, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{where}.{key}", value, "must be a non-empty string")
    return value.strip()


def parse_settings(data: dict[str, Any]) -> ReminderSettings:
    """Settings from the ``[reminders]`` table ``data`` (already parsed TOML). Raises ``ValidationError``."""
    settings = ReminderSettings()
    allowed = set(CHANNELS) | set(_NUMBERS) | {"outbox_dir", "default_phone", "smtp", "gateway"}
    _check_keys(data, allowed, "reminders")
    for channel in CHANNELS:
        if channel in data:
            value = data[channel]
            if value not in TRANSPORTS[channel]:
                raise ValidationError(f"reminders.{channel}", value, "must be one of " + ", ".join(TRANSPORTS[channel]))
            settings.transports[channel] = value
    for key, (kind, lo, hi) in _NUMBERS.items():
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi \
                    or (kind is int and not isinstance(value, int)):
                raise ValidationError(f"reminders.{key}", value, f"must be a number from {lo} to {hi}")
            setattr(settings, key, kind(value))
    if "outbox_dir" in data:
        settings.outbox_dir = Path(str(_text(data, "outbox_dir", "reminders"))).expanduser()
    if "default_phone" in data:
        settings.default_phone = str(_text(data, "default_phone", "reminders"))
    smtp = data.get("smtp")
    if smtp is not None:
        _check_keys(smtp, _SMTP_KEYS, "reminders.smtp")
        security = smtp.get("security", "starttls")
        if security not in SECURITY:
            raise ValidationError("reminders.smtp.security", security, "must be one of " + ", ".join(SECURITY))
        port = smtp.get("port")
        if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
            raise ValidationError("reminders.smtp.port", port, "must be a TCP port number")
        host = str(_text(smtp, "host", "reminders.smtp", required=True))
        username = _text(smtp, "username", "reminders.smtp")
        password = _secret(ENV_SMTP_PASSWORD, f"smtp:{username}@{host}") if username else None
        settings.smtp = SmtpSettings(host=host, port=port, security=security, username=username,
                                     password=password, sender=str(_text(smtp, "sender", "reminders.smtp",
                                                                         required=True)),
                                     sender_name=smtp.get("sender_name", ""), cafile=_text(smtp, "cafile",
                                                                                          "reminders.smtp"),
                                     timeout_s=float(smtp.get("timeout_seconds", 20)))
    gateway = data.get("gateway")
    if gateway is not None:
        _check_keys(gateway, _GATEWAY_KEYS, "reminders.gateway")
        sid = str(_text(gateway, "account_sid", "reminders.gateway", required=True))
        token = _secret(ENV_GATEWAY_TOKEN, f"gateway:{sid}") or ""
        settings.gateway = GatewaySettings(account_sid=sid, auth_token=token,
                                           sms_from=_text(gateway, "sms_from", "reminders.gateway"),
                                           whatsapp_from=_text(gateway, "whatsapp_from", "reminders.gateway"),
                                           base_url=_text(gateway, "base_url", "reminders.gateway")
                                           or DEFAULT_BASE_URL,
                                           timeout_s=float(gateway.get("timeout_seconds", 20)))
    for channel, transport in settings.transports.items():
        if transport == "smtp" and settings.smtp is None:
            raise ValidationError(f"reminders.{channel}", transport, "needs a [reminders.smtp] section")
        if transport == "gateway" and settings.gateway is None:
            raise ValidationError(f"reminders.{channel}", transport, "needs a [reminders.gateway] section")
    return settings


def read_file(path: Path | None = None) -> dict[str, Any]:
    """The whole TOML file ``path`` (default: the app's settings.toml; {} when it does not exist).
    Raises ``ValidationError`` for a file that is not valid TOML."""
    path = path or settings_file()
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError("config", str(path), f"is not valid TOML: {exc}") from exc


def load_settings(path: Path | None = None) -> ReminderSettings:
    """The ``[reminders]`` settings of ``path`` (default settings.toml). Raises ``ValidationError``."""
    section = read_file(path).get("reminders", {})
    if not isinstance(section, dict):
        raise ValidationError("reminders", section, "must be a table")
    return parse_settings(section)


def build_channels(settings: ReminderSettings) -> dict[str, Channel]:
    """Message channel name (email, sms, whatsapp, file) -> the channel object that sends it.
    ``off`` channels are left out; sms and whatsapp share one gateway object."""
    outbox = OutboxChannel(settings.outbox_dir)
    smtp = SmtpChannel(settings.smtp) if settings.smtp else None
    gateway = GatewayChannel(settings.gateway) if settings.gateway else None
    chosen: dict[str, Channel] = {"file": outbox}
    for channel, transport in settings.transports.items():
        if transport == "outbox":
            chosen[channel] = outbox
        elif transport == "smtp" and smtp is not None:
            chosen[channel] = smtp
        elif transport == "gateway" and gateway is not None:
            chosen[channel] = gateway
    return chosen
