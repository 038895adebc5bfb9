"""``domain.validation``: the checks the CLI, the config file and the window share (issue 14)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from reception_app.domain.errors import ValidationError
from reception_app.domain.validation import (
    SCHEDULE_FIRST,
    SCHEDULE_LAST,
    check_text,
    clean_name,
    forbidden_char,
    format_cents,
    parse_amount,
    parse_birth_date,
    parse_date,
    parse_schedule_instant,
    parse_uuid,
)


def refused(fn, *args, field: str, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        fn(*args, **kwargs)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert "\n" not in str(info.value)
    return info.value


# -- text -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["\t", "\n", "\r", "\x00", "\x1b", "\x7f", "\x85", "\x9f", "\u2028", "\u2029",
                                 "\udcc3"])
def test_names_refuse_control_characters_and_separators(bad):
    err = refused(clean_name, f"Maria{bad}Silva", field="name")
    assert err.value == f"Maria{bad}Silva"
    assert f"U+{ord(bad):04X}" in err.problem or "UTF-8" in err.problem
    assert forbidden_char(f"x{bad}") == bad
    refused(check_text, f"reason{bad}", "reason", field="reason")


def test_names_keep_letters_of_every_script_and_fold_spaces():
    assert clean_name("  João   Conceição ") == "João Conceição"
    assert clean_name("Zoë Ørsted-Ñúñez") == "Zoë Ørsted-Ñúñez"
    assert clean_name("王小明") == "王小明"
    assert clean_name("Ana\u00a0Paula") == "Ana Paula"   # a no-break space is a space, not a control
    assert forbidden_char("Ana\u200dPaula") is None    # joiners (category Cf) are part of some names


@pytest.mark.parametrize(("value", "problem"), [("", "empty"), ("   ", "empty"), (None, "empty"), (5, "text"),
                                                ("x" * 201, "longer")])
def test_bad_names(value, problem):
    assert problem in refused(clean_name, value, "branch.name", field="branch.name").problem


def test_check_text_length_and_type():
    assert check_text("ok", "f", max_length=2) == "ok"
    refused(check_text, "toolong", "f", max_length=3, field="f")
    refused(check_text, ["x"], "f", field="f")


# -- dates -------------------------------------------------------------------------------------------
def test_schedule_dates_are_2000_to_2099():
    assert (SCHEDULE_FIRST, SCHEDULE_LAST) == (date(2000, 1, 1), date(2099, 12, 31))
    assert parse_date("2000-01-01", "date") == SCHEDULE_FIRST
    assert parse_date(" 2099-12-31 ", "date") == SCHEDULE_LAST
    assert parse_date(date(2027, 1, 4), "date") == date(2027, 1, 4)


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01", date(1, 1, 1),
                                   date(9999, 12, 31)])
def test_dates_the_clinic_cannot_mean(value):
    err = refused(parse_date, value, "from", field="from")
    assert "2000-01-01 to 2099-12-31" in err.problem


@pytest.mark.parametrize("value", ["2027-02-30", "2027-13-01", "27-01-04", "", None, 20270104,
                                   datetime(2027, 1, 4, 8, 0)])
def test_malformed_dates(value):
    refused(parse_date, value, "date", field="date")


def test_instants_keep_their_offset_and_must_be_in_range():
    at = parse_schedule_instant("2027-01-04T08:00:00-03:00", "start")
    assert at.utcoffset() == timedelta(hours=-3) and at.hour == 8
    assert parse_schedule_instant("2027-01-04T11:00:00Z", "start") == at
    for bad in ("0001-01-01T00:00:00-03:00", "0001-01-01T09:00:00+05:00", "9999-12-31T23:00:00-05:00",
                "9999-12-31T23:59:59+00:00", "1999-12-31T23:59:59+00:00"):
        assert "2000-01-01" in refused(parse_schedule_instant, bad, "start", field="start").problem
    for bad in ("2027-01-04T08:00:00", "09:00", "2027-02-30T08:00:00Z", "", "2027-01-04T08:00\t-03:00"):
        refused(parse_schedule_instant, bad, "start", field="start")
    refused(parse_schedule_instant, datetime(2027, 1, 4, 8), "from", field="from")       # naive
    assert parse_schedule_instant(datetime(2027, 1, 4, 8, tzinfo=UTC), "from").year == 2027
    refused(parse_schedule_instant, datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), "from", field="from")


def test_birth_dates_have_their_own_rule():
    today = date(2027, 1, 4)
    assert parse_birth_date("1880-01-01", today=today) == date(1880, 1, 1)
    assert parse_birth_date("1950-06-30", today=today) == date(1950, 6, 30)  # before the schedule window: fine
    assert "future" in refused(parse_birth_date, "2027-01-05", today=today, field="birth_date").problem
    assert "future" in refused(parse_birth_date, "9999-12-31", field="birth_date").problem
    assert "1880" in refused(parse_birth_date, "0001-01-01", field="birth_date").problem
    refused(parse_birth_date, "1985-13-40", field="birth_date")


# -- ids ----------------------------------------------------------------------------------------------
def test_uuids():
    u = uuid.uuid4()
    assert parse_uuid(str(u)) == u and parse_uuid(u) is u
    assert parse_uuid(None) is None and parse_uuid("  ") is None
    for bad in ("not-a-uuid", "1234", "6ba7b810-9dad-11d1-80b4-00c04fd430c", 42):
        refused(parse_uuid, bad, field="client_id")


# -- money --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "cents"), [("20", 2000), ("20.5", 2050), ("20.05", 2005), (" 0.01 ", 1),
                                             ("007.00", 700), ("5000.00", 500000), (20, 2000)])
def test_plain_amounts(text, cents):
    assert parse_amount(text, "amount", max_cents=500000) == cents


@pytest.mark.parametrize(("text", "problem"), [
    ("1e6", "exponent"), ("1E+2", "exponent"), ("2.5e1", "exponent"), ("NaN", "not a number"),
    ("inf", "not a number"), ("-Infinity", "not a number"), ("sNaN", "not a number"), ("-5", "negative"),
    ("-0.01", "negative"), (-5, "negative"), ("0", "more than 0"), ("0.00", "more than 0"), ("1.001", "decimals"),
    ("1,000.00", "plain decimal"), ("1_000", "plain decimal"), ("+5", "plain decimal"), ("\u0661\u0662", "plain"),
    ("", "plain"), (".", "plain"), ("20.1.1", "plain"), (20.1, "decimal string"), (True, "decimal string"),
    ("99999999999999999999", "far too large"), ("5000.01", "ceiling of EUR 5,000.00"), ("1000000", "ceiling"),
])
def test_amounts_refused(text, problem):
    err = refused(parse_amount, text, "amount", max_cents=500000, currency="EUR", field="amount")
    assert problem in err.problem
    assert err.value == text


def test_zero_where_allowed_and_the_ceiling_is_inclusive():
    assert parse_amount("0", "service.deposit", allow_zero=True) == 0
    assert parse_amount("30.00", "amount", max_cents=3000) == 3000
    assert "30.00" in refused(parse_amount, "30.01", "amount", max_cents=3000, field="amount").problem
    assert format_cents(123456789, "BRL") == "BRL 1,234,567.89" and format_cents(5) == "0.05"
