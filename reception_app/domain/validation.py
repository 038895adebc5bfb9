"""Input checks shared by the CLI, the config file and the window.

Each function returns the normalised value or raises ``ValidationError``
naming the field and the value. Phones: E.164 via ``phonenumbers``; e-mail
addresses: syntax via ``email-validator`` (no DNS lookups at the desk).
"""

from __future__ import annotations

from datetime import date

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from .errors import ValidationError

CHANNELS = ("email", "sms", "whatsapp")
SOURCES = ("phone", "walk_in", "online", "import")


def clean_name(value: str | None, field: str = "name") -> str:
    """A non-empty name with inner white space folded."""
    text = " ".join((value or "").split())
    if not text:
        raise ValidationError(field, value, "must not be empty")
    if len(text) > 200:
        raise ValidationError(field, value, "is longer than 200 characters")
    return text


def parse_phone(value: str | None, field: str = "phone") -> str | None:
    """An E.164 phone number (``+5527999990000``) or None for empty input."""
    if value is None or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value.strip(), None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(field, value, "is not a phone number in E.164 form, e.g. +5527999990000") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(field, value, "is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_email(value: str | None, field: str = "email") -> str | None:
    """A syntactically valid e-mail address, normalised, or None for empty input."""
    if value is None or not value.strip():
        return None
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationError(field, value, f"is not a valid e-mail address ({exc})") from exc


def parse_date(value: str | date | None, field: str) -> date:
    """An ISO date ``YYYY-MM-DD``."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except (ValueError, TypeError) as exc:
        raise ValidationError(field, value, "is not a date in the form YYYY-MM-DD") from exc


def parse_birth_date(value: str | date | None, field: str = "birth_date", *, today: date | None = None) -> date:
    """A date of birth: not in the future, not before 1880."""
    born = parse_date(value, field)
    if born > (today or date.today()):
        raise ValidationError(field, value, "is in the future")
    if born.year < 1880:
        raise ValidationError(field, value, "is before 1880")
    return born


def parse_channels(values: list[str] | tuple[str, ...] | None, field: str = "channels") -> list[str]:
    """Consent channels, a subset of email, sms, whatsapp (order kept, duplicates dropped)."""
    out: list[str] = []
    for v in values or ():
        v = v.strip().lower()
        if v not in CHANNELS:
            raise ValidationError(field, v, f"must be one of {', '.join(CHANNELS)}")
        if v not in out:
            out.append(v)
    return out
