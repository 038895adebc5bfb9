"""Input checks shared by the CLI, the config file and the window.

Each function returns the normalised value or raises ``ValidationError``
naming the field and the value. Phones: E.164 via ``phonenumbers``; e-mail
addresses: syntax via ``email-validator`` (no DNS lookups at the desk).

Dates the clinic can mean (issue 14, "Bad input"): a *schedule* date — a
booking's day or start, a slot search, a day's list, a report's period, a
holiday, a shift's validity, time off — lies in :data:`SCHEDULE_FIRST` ..
:data:`SCHEDULE_LAST` (2000-01-01 .. 2099-12-31, both inclusive; for an
instant, its date as written, in the offset it was written with).
:func:`parse_date` and :func:`parse_schedule_instant` enforce it, so the window,
the config file and the ``clinic`` command refuse the same dates. Dates of
birth have their own rule (:func:`parse_birth_date`: from 1880-01-01, not in
the future).

Text (:func:`check_text`, :func:`clean_name`): no control characters — Unicode
category ``Cc``, tabs and newlines included — and no line or paragraph
separators (U+2028, U+2029). Money (:func:`parse_amount`): a plain decimal
(``"20"``, ``"20.5"``, ``"20.00"``), at most two fraction digits, no exponent,
sign, NaN or infinity, within bounds the caller gives (the clinic's ceiling is
the setting ``max_amount_cents``, ``services.clinic_config``).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import date, datetime

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from .errors import ValidationError

CHANNELS = ("email", "sms", "whatsapp")
SOURCES = ("phone", "walk_in", "online", "import")

#: The first and the last date a schedule date may have (inclusive).
SCHEDULE_FIRST = date(2000, 1, 1)
SCHEDULE_LAST = date(2099, 12, 31)
#: The earliest date of birth accepted.
BIRTH_FIRST = date(1880, 1, 1)
#: Fraction digits of an amount: money is stored in hundredths of the currency unit ("cents").
AMOUNT_DIGITS = 2

_SEPARATORS = frozenset("\u2028\u2029")
_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]*))?")


def forbidden_char(text: str) -> str | None:
    """The first character of ``text`` that no name or free text may hold, or None.

    Forbidden: Unicode category ``Cc`` (C0 and C1 controls: NUL, tab, newline,
    carriage return, DEL, U+0080..U+009F), U+2028 and U+2029, and lone
    surrogates (what Python makes of bytes that are not UTF-8)."""
    for ch in text:
        if ch in _SEPARATORS or unicodedata.category(ch) in ("Cc", "Cs"):
            return ch
    return None


def describe_char(ch: str) -> str:
    """``"the control character U+0009"``, ``"the line separator U+2028"``: for error messages."""
    what = {"\u2028": "the line separator", "\u2029": "the paragraph separator"}.get(ch, "the control character")
    return f"{what} U+{ord(ch):04X}"


def check_text(value: object, field: str, *, max_length: int | None = None) -> str:
    """``value`` itself when it is a string without a forbidden character (:func:`forbidden_char`).

    Raises ``ValidationError(field, value, …)`` for a non-string, a character
    that is not valid UTF-8 (a lone surrogate), a control character or a line
    separator, or a text longer than ``max_length`` characters."""
    if not isinstance(value, str):
        raise ValidationError(field, value, "must be text")
    bad = forbidden_char(value)
    if bad is not None:
        if unicodedata.category(bad) == "Cs":
            raise ValidationError(field, value, "is not valid UTF-8")
        raise ValidationError(field, value, f"holds {describe_char(bad)}")
    if max_length is not None and len(value) > max_length:
        raise ValidationError(field, value, f"is longer than {max_length} characters")
    return value


def clean_name(value: str | None, field: str = "name") -> str:
    """A non-empty name (at most 200 characters) with inner runs of spaces folded to one.

    Raises ``ValidationError`` for an empty or too long name, a non-string, or
    a control character — tabs and newlines included — or U+2028/U+2029."""
    check_text("" if value is None else value, field)
    text = " ".join((value or "").split())
    if not text:
        raise ValidationError(field, value, "must not be empty")
    if len(text) > 200:
        raise ValidationError(field, value, "is longer than 200 characters")
    return text


def parse_phone(value: str | None, field: str = "phone", *, region: str | None = None) -> str | None:
    """A phone number as E.164 (``+5527998765432``), or None for empty input.

    ``region`` (ISO 3166 alpha-2, the branch's country: ``domain.formats.Formats.country``) completes
    a number typed without its country code (``"27 99876-5432"``); without it the number must start
    with ``+``. Raises ``ValidationError`` naming ``field`` and the value, with an example of how to
    type one (never the word E.164).
    """
    if value is None or not value.strip():
        return None
    check_text(value, field)
    example = _phone_example(region)
    try:
        number = phonenumbers.parse(value.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(field, value, f"is not a phone number; type it like {example}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(field, value, f"is not a valid phone number; type it like {example}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone_example(region: str | None) -> str:
    """How to type a phone: a mobile number of ``region`` in national form, and the same with its
    country code (``"(11) 96123-4567 or +55 11 96123-4567"``); ``"+55 27 99999-0000"`` without one."""
    from .formats import phone_example

    national = phone_example(region) if region else ""
    if not national:
        return "+55 27 99999-0000 (with the country code)"
    return f"{national} or {phone_example(region or '', international=True)}"


def parse_email(value: str | None, field: str = "email") -> str | None:
    """A syntactically valid e-mail address, normalised, or None for empty input."""
    if value is None or not value.strip():
        return None
    check_text(value, field)
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationError(field, value, f"is not a valid e-mail address ({exc})") from exc


def _iso_date(value: str | date | None, field: str) -> date:
    """An ISO date ``YYYY-MM-DD`` (a ``date`` is returned as is; a ``datetime`` is refused)."""
    if isinstance(value, datetime):
        raise ValidationError(field, value.isoformat(), "must be a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValidationError(field, value, "is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValidationError(field, value, "is not a date in the form YYYY-MM-DD") from exc


def check_schedule_date(day: date, field: str, value: object = None) -> date:
    """``day`` if it lies in ``SCHEDULE_FIRST`` .. ``SCHEDULE_LAST``; else ``ValidationError(field,
    value or day, …)``."""
    if not SCHEDULE_FIRST <= day <= SCHEDULE_LAST:
        shown = value if value is not None else day.isoformat()
        raise ValidationError(field, shown, f"is outside the dates the clinic schedules "
                                            f"({SCHEDULE_FIRST.isoformat()} to {SCHEDULE_LAST.isoformat()})")
    return day


def parse_date(value: str | date | None, field: str) -> date:
    """A schedule date: ISO ``YYYY-MM-DD`` (or a ``date``) from 2000-01-01 to 2099-12-31.

    Raises ``ValidationError(field, value, …)`` for a malformed date, a
    date-time, or a date outside that range (year 1, year 9999)."""
    return check_schedule_date(_iso_date(value, field), field, value)


def parse_schedule_instant(value: str | datetime, field: str) -> datetime:
    """An ISO-8601 date-time *with* a UTC offset (``2027-01-04T08:00:00-03:00``, ``…Z``) whose date,
    as written, is a schedule date (:func:`parse_date`).

    Returns the aware ``datetime`` with the offset as written (callers that
    need UTC call ``.astimezone(UTC)``; in range, that never overflows).
    Raises ``ValidationError(field, value, …)`` for a malformed text, a
    missing offset, or a date outside 2000-01-01 .. 2099-12-31."""
    if isinstance(value, datetime):
        parsed = value
    else:
        if not isinstance(value, str):
            raise ValidationError(field, value, "expected an ISO-8601 date-time such as 2027-03-28T09:00+02:00")
        check_text(value, field)
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(field, value,
                                  "is not an ISO-8601 date-time such as 2027-03-28T09:00+02:00") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValidationError(field, value if isinstance(value, str) else parsed.isoformat(),
                              "needs a UTC offset (e.g. +02:00 or Z)")
    check_schedule_date(parsed.date(), field, value if isinstance(value, str) else parsed.isoformat())
    return parsed


def parse_birth_date(value: str | date | None, field: str = "birth_date", *, today: date | None = None) -> date:
    """A date of birth: ISO ``YYYY-MM-DD``, from 1880-01-01, not in the future (``today``, default the
    local date). Raises ``ValidationError``."""
    born = _iso_date(value, field)
    if born > (today or date.today()):
        raise ValidationError(field, value, "is in the future")
    if born < BIRTH_FIRST:
        raise ValidationError(field, value, "is before 1880")
    return born


def parse_uuid(value: str | uuid.UUID | None, field: str = "client_id") -> uuid.UUID | None:
    """A UUID (``3f2b…``, any of the forms ``uuid.UUID`` reads) or None for None/empty input.

    Raises ``ValidationError(field, value, "is not a UUID …")``."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise ValidationError(field, value, "is not a UUID such as 123e4567-e89b-12d3-a456-426614174000")
    if not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError as exc:
        raise ValidationError(field, value, "is not a UUID such as 123e4567-e89b-12d3-a456-426614174000") from exc


def parse_amount(value: object, field: str = "amount", *, max_cents: int | None = None,
                 allow_zero: bool = False, currency: str = "") -> int:
    """Money written as a plain decimal (``"20"``, ``"20.5"``, ``"20.00"``; a TOML/JSON integer is
    taken as whole units) → cents (int).

    Refused with ``ValidationError(field, value, …)``: floats (``20.1`` must be
    written ``"20.10"``), exponents (``"1e6"``), signs, NaN and infinity,
    thousands separators, non-ASCII digits, more than two fraction digits,
    zero (unless ``allow_zero``), and more than ``max_cents`` (the message gives
    the ceiling, in ``currency`` when given).
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise ValidationError(field, value, 'must be written as a decimal string like "20.00"')
    if isinstance(value, int):
        if value < 0:
            raise ValidationError(field, value, "must not be negative")
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValidationError(field, value, 'must be an amount like "20.00"')
    match = _AMOUNT.fullmatch(text)
    if match is None:
        lowered = text.lower()
        if lowered.lstrip("+-") in ("nan", "snan", "inf", "infinity"):
            problem = "is not a number"
        elif lowered.startswith("-"):
            problem = "must not be negative"
        elif "e" in lowered and any(c.isdigit() for c in lowered):
            problem = 'must be written without an exponent, like "1000000.00"'
        else:
            problem = 'must be a plain decimal amount like "20.00"'
        raise ValidationError(field, value, problem)
    whole, frac = match.group(1), match.group(2) or ""
    if len(frac) > AMOUNT_DIGITS:
        raise ValidationError(field, value, f"has more than {AMOUNT_DIGITS} decimals")
    if len(whole.lstrip("0")) > 15:
        raise ValidationError(field, value, "is far too large")
    cents = int(whole) * 10 ** AMOUNT_DIGITS + int(frac.ljust(AMOUNT_DIGITS, "0") or "0")
    if cents == 0 and not allow_zero:
        raise ValidationError(field, value, "must be more than 0")
    if max_cents is not None and cents > max_cents:
        raise ValidationError(field, value, f"is more than the clinic's ceiling of "
                                            f"{format_cents(max_cents, currency)} (setting max_amount_cents)")
    return cents


def format_cents(cents: int, currency: str = "") -> str:
    """``500000, "EUR"`` → ``"EUR 5,000.00"`` (no currency: ``"5,000.00"``)."""
    whole, part = divmod(abs(cents), 10 ** AMOUNT_DIGITS)
    text = f"{'-' if cents < 0 else ''}{whole:,}.{part:0{AMOUNT_DIGITS}d}"
    return f"{currency} {text}" if currency else text


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
