"""The portal process's own settings: the secret its cookies and forms are signed with, whether
cookies are marked Secure, the rate limits, and how verification codes leave (the message channels
of ``channels.settings``: the ``[reminders]`` section of settings.toml, which the reminder service
beside it uses too).

The secret: ``CLINIC_PORTAL_SECRET`` in the environment (systemd ``EnvironmentFile``, root-only),
else a file ``portal-secret`` in the data directory, created on first start with 32 random bytes
and mode 0600. Never in the database, never logged.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..channels import Channel
from ..channels.settings import ReminderSettings, build_channels, load_settings
from ..config import data_dir
from .security import DEFAULT_LIMITS, Limit

ENV_SECRET = "CLINIC_PORTAL_SECRET"


def load_secret(path: Path | None = None) -> bytes:
    """The portal's signing secret (see the module docstring). Raises ``OSError`` when the file
    cannot be read or made."""
    env = os.environ.get(ENV_SECRET, "").strip()
    if env:
        return env.encode()
    path = path or data_dir() / "portal-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


@dataclass
class PortalSettings:
    """``secret``: signs cookies and CSRF tokens; ``secure_cookies``: mark cookies Secure (HTTPS;
    off only for a trial on http://127.0.0.1); ``limits``: the rate limits per action;
    ``channels``: message channel name (email, sms) → channel, for verification codes."""

    secret: bytes
    secure_cookies: bool = True
    limits: dict[str, Limit] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    channels: dict[str, Channel] = field(default_factory=dict)
    #: The SMS gateway's account and auth token: the inbound webhook's requests are signed with the
    #: token (``X-Twilio-Signature``); None refuses every inbound message.
    sms_account: str | None = None
    sms_token: str | None = None


def default_settings(*, config: Path | None = None, secure_cookies: bool = True) -> PortalSettings:
    """Settings from the environment and settings.toml (``config``: another TOML file with a
    ``[reminders]`` section). Raises ``ValidationError`` for a bad file, ``OSError`` for the secret."""
    messages: ReminderSettings = load_settings(config)
    gateway = messages.gateway
    return PortalSettings(secret=load_secret(), secure_cookies=secure_cookies, channels=build_channels(messages),
                          sms_account=gateway.account_sid if gateway else None,
                          sms_token=gateway.auth_token if gateway and gateway.auth_token else None)
