"""Message templates per language (``resources/reminder_templates/<language>.toml``).

Each file has ``date_format``/``time_format`` (strftime) and one table per purpose
(confirmation, reminder, payment, follow_up, waitlist_offer, roster_change) with
``subject`` and ``body`` (e-mail, outbox) and ``short`` (SMS, WhatsApp), and ``no_phone``
(said instead of the number when neither the branch nor the settings have one), using
``string.Template`` placeholders ``$patient $service $date $time $branch $phone``, and
``$link_line`` (the file's ``link_line`` with ``$link``, the patient's own page on the portal, on a
line of its own) / ``$link_short`` (the bare address, for SMS) — empty when there is no link.
Messages carry the service name and the branch-local time only — never clinical
detail — and the clinic's phone number for changes. A language without a file, or
a purpose missing from it, falls back to English.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

from ..channels import Message

FALLBACK_LANGUAGE = "en"
SHORT_CHANNELS = ("sms", "whatsapp")


@cache
def load_templates(language: str) -> dict[str, Any] | None:
    """The parsed template file of ``language`` (two lowercase letters), or None when there is none."""
    if not (len(language) == 2 and language.isalpha() and language.islower()):
        return None
    path = resources.files("reception_app.resources") / "reminder_templates" / f"{language}.toml"
    if not path.is_file():
        return None
    return tomllib.loads(path.read_text(encoding="utf-8"))


def languages() -> list[str]:
    """Languages that have a template file."""
    folder = resources.files("reception_app.resources") / "reminder_templates"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


@dataclass(frozen=True)
class Claimed:
    """A claimed reminder with what its message needs. ``starts_at``: aware UTC; ``timezone``: the
    branch's IANA zone; ``branch_phone`` may be None (then ``default_phone`` of the settings);
    ``link``: the patient's own appointment page on the portal (confirm, cancel, note), or None."""

    reminder_id: int
    idempotency_key: str
    channel: str
    purpose: str
    template: str | None
    recipient: str
    language: str
    patient: str
    service: str
    starts_at: datetime
    timezone: str
    branch: str
    branch_phone: str | None
    attempts: int
    link: str | None = None


def render(item: Claimed, *, default_phone: str = "") -> Message:
    """The message for a claimed reminder, in its language (falling back to English).

    Raises ``KeyError`` naming the purpose when even English has no template (a packaging bug).
    """
    files = [f for f in (load_templates(item.language), load_templates(FALLBACK_LANGUAGE)) if f]
    key = item.template or item.purpose
    chosen = next((f for f in files if key in f), None)
    if chosen is None:
        raise KeyError(f"no reminder template for {key!r}")
    section = chosen[key]
    local = item.starts_at.astimezone(ZoneInfo(item.timezone))
    values = {"patient": item.patient, "service": item.service, "branch": item.branch,
              "date": local.strftime(chosen.get("date_format", "%Y-%m-%d")),
              "time": local.strftime(chosen.get("time_format", "%H:%M")),
              "phone": item.branch_phone or default_phone or chosen.get("no_phone", "the clinic"),
              "link": item.link or ""}
    line_key = "offer_link_line" if item.purpose == "waitlist_offer" else "link_line"
    line = chosen.get(line_key) or (files[-1].get(line_key) if files else None) or "$link"
    values["link_line"] = ("\n\n" + Template(line).safe_substitute(values)) if item.link else ""
    values["link_short"] = (" " + item.link) if item.link else ""
    body_key = "short" if item.channel in SHORT_CHANNELS and "short" in section else "body"
    language = item.language if chosen is files[0] and load_templates(item.language) else FALLBACK_LANGUAGE
    return Message(reminder_id=item.reminder_id, idempotency_key=item.idempotency_key, channel=item.channel,
                   purpose=item.purpose, recipient=item.recipient, patient=item.patient,
                   subject=Template(section["subject"]).safe_substitute(values),
                   body=Template(section[body_key]).safe_substitute(values), language=language)
