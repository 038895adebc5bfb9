"""The branch's own formats: dates, times, money and phone numbers as the people at its desk write them.

A branch has a locale (``branch.locale``: ``"pt_BR"``, ``"en_GB"``, ``"pt_PT"``; :data:`DEFAULT_LOCALE`
when unset). The program's words stay English; what the locale decides is the *form*, from the
Unicode CLDR through Babel and from Google's libphonenumber through ``phonenumbers``:

- dates: the locale's short numeric date with a four-digit year (``12/03/1985`` in Brazil and
  Britain, ``03/12/1985`` in the United States), typed the same way (two-digit years, ``.`` or
  ``-`` between the parts, and ISO ``1985-03-12`` are understood too);
- times: the locale's short time (``10:15``; ``10:15 AM`` in the United States);
- money: integer minor units (cents) shown in the locale's form — ``R$ 20,00`` in Brazil,
  ``20,00 €`` in Portugal, ``£20.00`` in London; files meant for machines (CSV) keep plain
  decimals (``reports.csv_export``);
- phones: typed as people say them (``27 99876-5432``), completed with the branch's country (the
  locale's territory), validated, stored in E.164 (``+5527998765432``) and shown in the national
  form (``(27) 99876-5432``) when the number is of the branch's country, international otherwise.

Nothing here reads the process locale or the clock: the same inputs give the same text on every
workstation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from functools import cached_property, lru_cache

import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.dates import format_time, get_date_format
from babel.numbers import format_currency, get_decimal_symbol

from .errors import ValidationError

#: The locale of a branch that names none.
DEFAULT_LOCALE = "en_GB"

#: A two-digit year up to this is 20yy, above it 19yy (no clock is read: see the module docstring).
TWO_DIGIT_PIVOT = 40

#: English weekday abbreviations (the program's language), Monday first.
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_SEPARATORS = re.compile(r"[./\-\s]+")
_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")


def check_locale(value: str, field: str = "locale") -> str:
    """``value`` as a CLDR locale name with an underscore (``"pt-BR"`` → ``"pt_BR"``) that names a
    country (phone numbers are completed with it). Raises ``ValidationError`` naming ``field``."""
    text = str(value).strip().replace("-", "_")
    try:
        loc = Locale.parse(text)
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValidationError(field, value, 'is not a locale; use a language and a country, like "pt_BR"') from exc
    if not loc.territory:
        raise ValidationError(field, value, 'must name a country too, like "pt_BR" or "en_GB"')
    return str(loc)


@dataclass(frozen=True)
class Formats:
    """How one branch writes dates, times, money and phones (see the module docstring).

    ``locale``: a CLDR locale name (``"pt_BR"``); ``currency``: the clinic's ISO 4217 code (money
    is always integer minor units here). Raises ``ValueError`` for an unknown locale.
    """

    locale: str = DEFAULT_LOCALE
    currency: str = "EUR"

    def __post_init__(self) -> None:
        object.__setattr__(self, "locale", check_locale(self.locale))

    @cached_property
    def _babel(self) -> Locale:
        return Locale.parse(self.locale)

    @property
    def country(self) -> str:
        """The branch's country, ISO 3166 alpha-2 (``"BR"``): what a phone without ``+`` belongs to."""
        return str(self._babel.territory)

    @cached_property
    def date_order(self) -> tuple[str, str, str]:
        """The order of day, month and year in the locale's short date: ``("d", "M", "y")``."""
        pattern = get_date_format("short", locale=self._babel).pattern
        order = []
        for ch in pattern:
            if ch in "dMy" and ch not in order:
                order.append(ch)
        return tuple(order) if len(order) == 3 else ("d", "M", "y")  # type: ignore[return-value]

    @cached_property
    def _separator(self) -> str:
        return next((ch for ch in get_date_format("short", locale=self._babel).pattern if ch in "/.-"), "/")

    @cached_property
    def date_pattern(self) -> str:
        """The short date as a Qt/CLDR pattern with a four-digit year: ``"dd/MM/yyyy"``."""
        parts = {"d": "dd", "M": "MM", "y": "yyyy"}
        return self._separator.join(parts[p] for p in self.date_order)

    @property
    def date_hint(self) -> str:
        """What to type, for a placeholder: ``"DD/MM/YYYY"``."""
        return self.date_pattern.upper()

    def date_text(self, d: date) -> str:
        """``date(1985, 3, 12)`` → ``"12/03/1985"`` (the locale's order and separator, four-digit year)."""
        values = {"d": f"{d.day:02d}", "M": f"{d.month:02d}", "y": f"{d.year:04d}"}
        return self._separator.join(values[p] for p in self.date_order)

    def day_text(self, d: date) -> str:
        """A day as a heading says it: ``"Mon 04/01/2027"`` (English weekday, the locale's date)."""
        return f"{WEEKDAYS[d.weekday()]} {self.date_text(d)}"

    def time_text(self, t: time | datetime) -> str:
        """A time of day on the wall clock it is given in: ``"10:15"`` (``"10:15 AM"`` in en_US).
        An aware ``datetime`` is shown as it is (convert it to the branch's zone first)."""
        value = t.time() if isinstance(t, datetime) else t
        return format_time(value.replace(tzinfo=None), "short", locale=self._babel)

    def when(self, instant: datetime, tz: tzinfo, *, on_screen: date | None = None) -> str:
        """An instant as a receptionist says it, on the branch's wall clock ``tz``: ``"10:15"`` when
        it falls on ``on_screen`` (the day being looked at), else ``"Tue 05/01/2027 10:15"``.
        Raises ``ValueError`` for a naive ``instant``."""
        if instant.tzinfo is None:
            raise ValueError("when() needs an aware datetime")
        local = instant.astimezone(tz)
        if on_screen is not None and local.date() == on_screen:
            return self.time_text(local)
        return f"{self.day_text(local.date())} {self.time_text(local)}"

    def span(self, start: datetime, end: datetime, tz: tzinfo) -> str:
        """``"10:45–11:15"`` on the wall clock ``tz`` (aware instants)."""
        return f"{self.time_text(start.astimezone(tz))}–{self.time_text(end.astimezone(tz))}"

    def money(self, cents: int, currency: str | None = None) -> str:
        """Integer minor units as the locale writes them: ``2000`` → ``"R$ 20,00"`` (pt_BR, BRL),
        ``"20,00 €"`` (pt_PT, EUR), ``"£20.00"`` (en_GB, GBP); a minus sign for negative amounts. The
        spaces are no-break spaces (U+00A0, as CLDR has them): an amount never breaks across lines.
        ``currency`` defaults to the clinic's. Currencies with other than two decimals (JPY) are
        still kept in hundredths here, as the rest of the program keeps them."""
        cur = currency or self.currency
        return format_currency(Decimal(int(cents)) / 100, cur, locale=self._babel, currency_digits=False,
                               format=None, decimal_quantization=True)

    @cached_property
    def decimal_symbol(self) -> str:
        """The locale's decimal separator: ``","`` in Brazil and Portugal, ``"."`` in Britain."""
        return str(get_decimal_symbol(self._babel))

    def amount_text(self, cents: int) -> str:
        """Cents as an amount to edit, without symbol or grouping: ``2000`` → ``"20,00"`` (pt_BR),
        ``"20.00"`` (en_GB)."""
        sign = "-" if cents < 0 else ""
        whole, part = divmod(abs(int(cents)), 100)
        return f"{sign}{whole}{self.decimal_symbol}{part:02d}"

    def parse_amount(self, value: str, field: str = "amount") -> int:
        """An amount typed at the desk → cents: the locale's decimal separator (``"20,50"`` in
        Brazil), or a point (``"20.50"``: every keyboard's numeric pad); no grouping, sign or
        symbol; at most two decimals. Raises ``ValidationError`` naming ``field`` and the value
        (see ``domain.validation.parse_amount``, which this completes)."""
        from .validation import parse_amount

        text = str(value).strip()
        sep = self.decimal_symbol
        if sep != "." and text.count(sep) == 1 and "." not in text:
            text = text.replace(sep, ".")
        try:
            return parse_amount(text, field, allow_zero=True)
        except ValidationError as exc:
            if sep == ".":
                raise ValidationError(field, value, exc.problem) from exc
            raise ValidationError(field, value, f"{exc.problem.split(' like ', 1)[0]} (type it like "
                                                f"{self.amount_text(2050)})") from exc

    def parse_date(self, value: str | date | None, field: str = "date") -> date | None:
        """A date typed in the locale's form (``"12/03/1985"``, ``"12.3.85"``, ``"12-03-1985"``) or
        ISO (``"1985-03-12"``); ``None`` for empty input, a ``date`` as it is. A two-digit year is
        20yy up to :data:`TWO_DIGIT_PIVOT` and 19yy above it (``85`` → 1985, ``05`` → 2005). Raises ``ValidationError`` naming ``field`` and the
        value, with an example in the locale's form."""
        if value is None or isinstance(value, date):
            return value
        text = str(value).strip()
        if not text:
            return None
        example = f"must be a date like {self.date_text(date(1985, 3, 12))}"
        if _ISO.match(text):
            y, m, d = (int(p) for p in text.split("-"))
            return _make_date(y, m, d, field, value, example)
        parts = [p for p in _SEPARATORS.split(text) if p]
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValidationError(field, value, example)
        got = dict(zip(self.date_order, (int(p) for p in parts), strict=True))
        year = got["y"]
        if len(parts[self.date_order.index("y")]) <= 2:
            year += 2000 if year <= TWO_DIGIT_PIVOT else 1900
        elif year < 1000:
            raise ValidationError(field, value, example)
        return _make_date(year, got["M"], got["d"], field, value, example)

    def parse_phone(self, value: str | None, field: str = "phone") -> str | None:
        """A phone typed as people say it (``"27 99876-5432"``, ``"(27) 99876 5432"``, or with its
        country code, ``"+55 27 99876-5432"``), completed with the branch's country, as E.164
        (``"+5527998765432"``); ``None`` for empty input. Raises ``ValidationError`` naming ``field``
        and the value, with an example number of the country in its national form."""
        from .validation import parse_phone

        return parse_phone(value, field, region=self.country)

    def phone(self, e164: str | None) -> str:
        """A stored phone for people: national form for the branch's country (``"(27) 99876-5432"``),
        international otherwise (``"+44 20 7946 0958"``); text that doesn't parse comes back as is,
        ``""`` for ``None``."""
        if not e164:
            return ""
        try:
            number = phonenumbers.parse(e164, self.country)
        except phonenumbers.NumberParseException:
            return e164
        same = phonenumbers.region_code_for_number(number) == self.country
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL if same
                                          else phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _make_date(y: int, m: int, d: int, field: str, value: object, example: str) -> date:
    try:
        return date(y, m, d)
    except ValueError as exc:
        raise ValidationError(field, value, f"is not a day of the calendar ({example.removeprefix('must be ')})") \
            from exc


@lru_cache(maxsize=64)
def formats_for(locale: str | None, currency: str | None) -> Formats:
    """The (shared, immutable) :class:`Formats` of a locale and currency; ``None``: the defaults
    (:data:`DEFAULT_LOCALE`, ``EUR``). Raises ``ValidationError`` for an unknown locale."""
    return Formats(locale or DEFAULT_LOCALE, currency or "EUR")


def phone_example(country: str, *, international: bool = False) -> str:
    """An example mobile number of ``country`` (ISO alpha-2), for placeholders and messages:
    ``"BR"`` → ``"(11) 96123-4567"`` (``international``: ``"+55 11 96123-4567"``); ``""`` when
    libphonenumber has none."""
    number = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE) if country else None
    if number is None:
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL if international
                                      else phonenumbers.PhoneNumberFormat.NATIONAL)
