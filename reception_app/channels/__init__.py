"""Channels: how one rendered message leaves the clinic.

Every channel has ``name``, ``send(message) -> provider reference or None``,
``check() -> a line saying what it reaches`` and ``close()``. A failed send raises
:class:`SendError`; ``permanent=True`` means retrying cannot help (a refused
recipient, a malformed number), otherwise the service retries with backoff.
Each send carries the reminder's idempotency key (SMTP ``Message-ID``, the
gateway's ``Idempotency-Key`` header, the outbox file name), so a retried send
after a crash can be dropped as a duplicate by whoever receives it.

A channel whose class sets ``takes_before_delivery = True`` (SMTP) also accepts
``send(message, before_delivery=callable)`` and calls it once it is ready to hand
the message over, before doing so; for any other channel the service calls that
itself before ``send``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """One message to one patient. ``channel``: email | sms | whatsapp | file; ``recipient``:
    an e-mail address or an E.164 phone number ('' for file rows without an address);
    ``subject`` is for e-mail and the outbox; ``body`` is the text (already short for SMS)."""

    reminder_id: int
    idempotency_key: str
    channel: str
    purpose: str
    recipient: str
    patient: str
    subject: str
    body: str
    language: str


class SendError(Exception):
    """A send failed; ``str()`` is the reason shown to reception. ``permanent``: do not retry."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> str | None: ...

    def check(self) -> str: ...

    def close(self) -> None: ...
