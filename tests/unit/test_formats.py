"""The branch's own formats (issue 16 §2): dates, times, money and phones in pt_BR, en_GB, pt_PT and
en_US, typed and shown as the people at each desk write them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from reception_app.domain.errors import ValidationError
from reception_app.domain.formats import Formats, check_locale

BR = Formats("pt_BR", "BRL")
GB = Formats("en_GB", "GBP")
PT = Formats("pt_PT", "EUR")
US = Formats("en_US", "USD")
SP = ZoneInfo("America/Sao_Paulo")


@pytest.mark.parametrize("fmt, cents, shown", [
    (BR, 2000, "R$ 20,00"), (BR, 150_075, "R$ 1.500,75"), (BR, -500, "-R$ 5,00"),
    (PT, 2000, "20,00 €"), (GB, 2000, "£20.00"), (GB, 123_456, "£1,234.56"), (US, 5, "$0.05"),
])
def test_money_in_the_locales_form(fmt: Formats, cents: int, shown: str) -> None:
    assert fmt.money(cents) == shown


def test_money_in_another_currency_keeps_the_locales_form() -> None:
    assert BR.money(2000, "EUR") == "€\u00a020,00" and GB.money(2000, "EUR") == "€20.00"


@pytest.mark.parametrize("fmt, shown, pattern", [
    (BR, "12/03/1985", "dd/MM/yyyy"), (GB, "12/03/1985", "dd/MM/yyyy"), (PT, "12/03/1985", "dd/MM/yyyy"),
    (US, "03/12/1985", "MM/dd/yyyy"),
])
def test_dates_are_shown_in_the_locales_order_with_four_digit_years(fmt: Formats, shown: str, pattern: str) -> None:
    assert fmt.date_text(date(1985, 3, 12)) == shown
    assert fmt.date_pattern == pattern and fmt.date_hint == pattern.upper()
    assert fmt.day_text(date(2027, 1, 4)) == f"Mon {fmt.date_text(date(2027, 1, 4))}"


@pytest.mark.parametrize("typed", ["12/03/1985", "12/3/1985", "12.03.1985", "12-03-1985", "12 03 85", "1985-03-12"])
def test_a_brazilian_desk_types_dates_as_it_writes_them(typed: str) -> None:
    assert BR.parse_date(typed) == date(1985, 3, 12)
    assert GB.parse_date(typed) == date(1985, 3, 12)


def test_an_american_desk_types_the_month_first() -> None:
    assert US.parse_date("03/12/1985") == date(1985, 3, 12)
    assert US.parse_date("1985-03-12") == date(1985, 3, 12)   # ISO is the same everywhere


def test_two_digit_years() -> None:
    assert BR.parse_date("01/02/05") == date(2005, 2, 1) and BR.parse_date("01/02/85") == date(1985, 2, 1)


@pytest.mark.parametrize("typed, words", [
    ("31/02/1985", "is not a day of the calendar (a date like 12/03/1985)"),
    ("12/1985", "must be a date like 12/03/1985"),
    ("ontem", "must be a date like 12/03/1985"),
    ("12/03/198", "must be a date like 12/03/1985"),
])
def test_a_bad_date_names_the_field_the_value_and_how_to_type_it(typed: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        BR.parse_date(typed, "birth date")
    assert info.value.field == "birth date" and words in str(info.value) and typed in str(info.value)


def test_empty_and_ready_dates() -> None:
    assert BR.parse_date("  ") is None and BR.parse_date(None) is None
    assert BR.parse_date(date(2000, 1, 1)) == date(2000, 1, 1)


def test_times_as_a_receptionist_says_them() -> None:
    assert BR.time_text(time(10, 15)) == "10:15" and GB.time_text(time(9, 5)) == "09:05"
    assert US.time_text(time(10, 15)).replace("\u202f", " ") == "10:15 AM"
    start = datetime(2027, 1, 4, 13, 15, tzinfo=UTC)   # 10:15 in São Paulo
    assert BR.when(start, SP, on_screen=date(2027, 1, 4)) == "10:15"           # the day on screen
    assert BR.when(start, SP, on_screen=date(2027, 1, 3)) == "Mon 04/01/2027 10:15"
    assert BR.span(start, datetime(2027, 1, 4, 13, 45, tzinfo=UTC), SP) == "10:15–10:45"
    with pytest.raises(ValueError):
        BR.when(datetime(2027, 1, 4, 10, 15), SP)


@pytest.mark.parametrize("typed", ["27 99876-5432", "(27) 99876-5432", "27998765432", "+55 27 99876-5432",
                                   "+55 (27) 9 9876 5432"])
def test_phones_typed_as_people_say_them_are_stored_in_international_form(typed: str) -> None:
    assert BR.parse_phone(typed) == "+5527998765432"


def test_phones_are_shown_nationally_at_home_and_internationally_from_abroad() -> None:
    assert BR.phone("+5527998765432") == "(27) 99876-5432"
    assert BR.phone("+442079460958") == "+44 20 7946 0958"
    assert GB.phone("+442079460958") == "020 7946 0958"
    assert GB.parse_phone("020 7946 0958") == "+442079460958"
    assert BR.phone(None) == "" and BR.phone("not a phone") == "not a phone"


@pytest.mark.parametrize("typed", ["123", "27 1234", "abc"])
def test_a_bad_phone_says_how_to_type_one_and_never_says_e164(typed: str) -> None:
    with pytest.raises(ValidationError) as info:
        BR.parse_phone(typed)
    text = str(info.value)
    assert info.value.field == "phone" and typed in text
    assert "type it like (11) 96123-4567 or +55 11 96123-4567" in text
    assert "E.164" not in text and "e164" not in text.lower()


def test_locales() -> None:
    assert check_locale("pt-BR") == "pt_BR" and Formats("en_GB").country == "GB" and BR.country == "BR"
    for bad, words in (("xx_YY", "is not a locale"), ("pt", "must name a country"), ("", "is not a locale")):
        with pytest.raises(ValidationError) as info:
            check_locale(bad, "branch 'Centro'.locale")
        assert words in str(info.value) and info.value.field == "branch 'Centro'.locale"


def test_amounts_typed_at_the_desk() -> None:
    assert BR.parse_amount("20,50") == 2050 and BR.parse_amount("20.50") == 2050 and BR.parse_amount("20") == 2000
    assert GB.parse_amount("20.50") == 2050 and BR.amount_text(2050) == "20,50" and GB.amount_text(2050) == "20.50"
    with pytest.raises(ValidationError) as info:
        BR.parse_amount("12,345")
    assert "more than 2 decimals" in str(info.value) and "20,50" in str(info.value) and info.value.field == "amount"
    with pytest.raises(ValidationError) as info:
        GB.parse_amount("1,500.00")
    assert info.value.field == "amount" and "1,500.00" in str(info.value)
