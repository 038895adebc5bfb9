"""Local wall clock <-> UTC: ranges, DST gaps and folds, day bounds, the 15-minute grid."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from reception_app.domain.errors import ValidationError
from reception_app.domain.wallclock import (
    check_local_time_exists,
    day_bounds_utc,
    format_minute,
    grid_starts,
    is_on_grid,
    local_date_of,
    local_to_utc,
    parse_hhmm_range,
    parse_instant,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
KOLKATA = ZoneInfo("Asia/Kolkata")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
ADELAIDE = ZoneInfo("Australia/Adelaide")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --------------------------------------------------------------------------- parse_hhmm_range


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08:00-12:00", (480, 720)),
        ("8:00-12:30", (480, 750)),
        (" 08:00 - 24:00 ", (480, 1440)),
        ("00:00-24:00", (0, 1440)),
        ("22:00-06:00", (1320, 360)),  # ends the next day: returned as-is
        ("18:00-00:00", (1080, 0)),
        ("09:15\u201310:45", (555, 645)),  # en dash
    ],
)
def test_parse_hhmm_range_valid(text: str, expected: tuple[int, int]) -> None:
    assert parse_hhmm_range(text, "hours") == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "08:00-12:00"),
        ("08:00", "start-end"),
        ("08:00-12:00-14:00", "start-end"),
        ("8-12", "not HH:MM"),
        ("ab:cd-12:00", "not HH:MM"),
        ("08:60-09:00", "minutes must be 00-59"),
        ("08:00-09:75", "minutes must be 00-59"),
        ("25:00-26:00", "hours must be 00-23"),
        ("24:00-06:00", "only allowed as an end"),
        ("08:00-24:30", "past midnight"),
        ("08:00-08:00", "empty"),
        ("00:00-00:00", "empty"),
    ],
)
def test_parse_hhmm_range_errors_name_field_value_and_problem(text: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_hhmm_range(text, "shift")
    assert info.value.field == "shift"
    assert info.value.value == text
    assert fragment in info.value.problem


def test_parse_hhmm_range_rejects_non_text() -> None:
    with pytest.raises(ValidationError):
        parse_hhmm_range(None, "hours")  # type: ignore[arg-type]


def test_format_minute() -> None:
    assert format_minute(570) == "09:30"
    assert format_minute(1440) == "24:00"
    with pytest.raises(ValueError):
        format_minute(1441)


# --------------------------------------------------------------------------- local_to_utc


def test_local_to_utc_ordinary_and_past_midnight() -> None:
    day = date(2027, 1, 11)
    assert local_to_utc(day, 9 * 60, BERLIN) == utc(2027, 1, 11, 8, 0)
    assert local_to_utc(day, 1440, BERLIN) == utc(2027, 1, 11, 23, 0)  # next day's 00:00
    assert local_to_utc(day, 1800, BERLIN) == utc(2027, 1, 12, 5, 0)  # next day 06:00
    assert local_to_utc(day, 9 * 60, BERLIN).tzinfo is UTC


def test_local_to_utc_half_and_quarter_hour_zones() -> None:
    assert local_to_utc(date(2027, 5, 3), 9 * 60, KOLKATA) == utc(2027, 5, 3, 3, 30)
    assert local_to_utc(date(2027, 5, 3), 9 * 60, KATHMANDU) == utc(2027, 5, 3, 3, 15)
    assert local_to_utc(date(2027, 1, 4), 9 * 60, ADELAIDE) == utc(2027, 1, 3, 22, 30)  # +10:30 in summer
    assert local_to_utc(date(2027, 6, 7), 9 * 60, ADELAIDE) == utc(2027, 6, 6, 23, 30)  # +09:30 in winter


@pytest.mark.parametrize("latest", [False, True])
def test_local_to_utc_gap_reads_with_offset_before_change(latest: bool) -> None:
    # Berlin 2027-03-28: 02:00 CET -> 03:00 CEST; 02:30 means 03:30 CEST = 01:30 UTC.
    got = local_to_utc(date(2027, 3, 28), 150, BERLIN, latest=latest)
    assert got == utc(2027, 3, 28, 1, 30)
    assert got.astimezone(BERLIN).replace(tzinfo=None) == datetime(2027, 3, 28, 3, 30)
    # New York 2027-03-14: 02:00 EST -> 03:00 EDT; 02:30 -> 03:30 EDT = 07:30 UTC.
    assert local_to_utc(date(2027, 3, 14), 150, NEW_YORK, latest=latest) == utc(2027, 3, 14, 7, 30)
    # Sao Paulo 2018-11-04: midnight skipped, 00:00 -> 01:00 -02 = 03:00 UTC.
    assert local_to_utc(date(2018, 11, 4), 0, SAO_PAULO, latest=latest) == utc(2018, 11, 4, 3, 0)


def test_local_to_utc_fold_earliest_or_latest() -> None:
    # Berlin 2027-10-31: 03:00 CEST -> 02:00 CET, 02:30 happens twice.
    assert local_to_utc(date(2027, 10, 31), 150, BERLIN) == utc(2027, 10, 31, 0, 30)
    assert local_to_utc(date(2027, 10, 31), 150, BERLIN, latest=True) == utc(2027, 10, 31, 1, 30)
    # New York 2027-11-07: 01:30 twice.
    assert local_to_utc(date(2027, 11, 7), 90, NEW_YORK) == utc(2027, 11, 7, 5, 30)
    assert local_to_utc(date(2027, 11, 7), 90, NEW_YORK, latest=True) == utc(2027, 11, 7, 6, 30)
    # Sao Paulo 2018-02-17: 23:30 twice (clocks went from 00:00 -02 back to 23:00 -03).
    assert local_to_utc(date(2018, 2, 17), 1410, SAO_PAULO) == utc(2018, 2, 18, 1, 30)
    assert local_to_utc(date(2018, 2, 17), 1410, SAO_PAULO, latest=True) == utc(2018, 2, 18, 2, 30)
    # Not ambiguous: latest changes nothing.
    assert local_to_utc(date(2027, 10, 31), 600, BERLIN, latest=True) == utc(2027, 10, 31, 9, 0)


# --------------------------------------------------------------------------- day_bounds_utc


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        (BERLIN, date(2027, 1, 11), 24),
        (BERLIN, date(2027, 3, 28), 23),
        (BERLIN, date(2027, 10, 31), 25),
        (NEW_YORK, date(2027, 3, 14), 23),
        (NEW_YORK, date(2027, 11, 7), 25),
        (SAO_PAULO, date(2018, 11, 4), 23),
        (SAO_PAULO, date(2018, 2, 17), 25),
        (SAO_PAULO, date(2018, 2, 18), 24),
        (ADELAIDE, date(2027, 4, 4), 25),
        (ADELAIDE, date(2027, 10, 3), 23),
        (KATHMANDU, date(2027, 10, 3), 24),
    ],
)
def test_day_bounds_length_and_round_trip(tz: ZoneInfo, day: date, hours: int) -> None:
    start, end = day_bounds_utc(day, tz)
    assert start.tzinfo is UTC and end.tzinfo is UTC
    assert end - start == timedelta(hours=hours)
    second = timedelta(seconds=1)
    assert start.astimezone(tz).date() == day
    assert (start - second).astimezone(tz).date() < day
    assert (end - second).astimezone(tz).date() == day
    assert end.astimezone(tz).date() == day + timedelta(days=1)


def test_day_bounds_on_a_day_whose_midnight_is_skipped() -> None:
    start, end = day_bounds_utc(date(2018, 11, 4), SAO_PAULO)
    assert start == utc(2018, 11, 4, 3, 0)
    assert start.astimezone(SAO_PAULO).replace(tzinfo=None) == datetime(2018, 11, 4, 1, 0)
    assert end == utc(2018, 11, 5, 2, 0)
    # The day before ends where this one begins.
    assert day_bounds_utc(date(2018, 11, 3), SAO_PAULO)[1] == start


def test_day_bounds_when_midnight_falls_inside_a_longer_gap() -> None:
    # Samoa skipped 2011-12-30 entirely: the day is empty and the next begins where the previous ended.
    apia = ZoneInfo("Pacific/Apia")
    start, end = day_bounds_utc(date(2011, 12, 30), apia)
    assert start == end
    assert day_bounds_utc(date(2011, 12, 29), apia)[1] == start
    assert day_bounds_utc(date(2011, 12, 31), apia)[0] == start
    assert grid_starts(date(2011, 12, 30), apia) == []


# --------------------------------------------------------------------------- grid_starts


@pytest.mark.parametrize(
    ("tz", "day", "count"),
    [
        (BERLIN, date(2027, 1, 11), 96),
        (BERLIN, date(2027, 3, 28), 92),
        (BERLIN, date(2027, 10, 31), 100),
        (NEW_YORK, date(2027, 3, 14), 92),
        (NEW_YORK, date(2027, 11, 7), 100),
        (SAO_PAULO, date(2018, 11, 4), 92),
        (SAO_PAULO, date(2018, 2, 17), 100),
        (SAO_PAULO, date(2018, 2, 18), 96),
        (KOLKATA, date(2027, 3, 28), 96),
        (KATHMANDU, date(2027, 3, 28), 96),
        (ADELAIDE, date(2027, 4, 4), 100),
        (ADELAIDE, date(2027, 10, 3), 92),
        (ZoneInfo("Australia/Lord_Howe"), date(2027, 4, 4), 98),  # 30-minute DST
    ],
)
def test_grid_starts_count_and_shape(tz: ZoneInfo, day: date, count: int) -> None:
    starts = grid_starts(day, tz)
    assert len(starts) == count
    start, end = day_bounds_utc(day, tz)
    assert starts[0] == start and starts[-1] < end
    assert all(s.tzinfo is UTC for s in starts)
    assert all(b - a == timedelta(minutes=15) for a, b in pairwise(starts))
    for s in starts:
        local = s.astimezone(tz)
        assert local.date() == day
        assert local.minute % 15 == 0 and local.second == 0
        assert is_on_grid(s, tz)


def test_grid_starts_fall_back_has_both_instances_spring_forward_none_in_gap() -> None:
    fall = [s.astimezone(BERLIN).strftime("%H:%M") for s in grid_starts(date(2027, 10, 31), BERLIN)]
    assert fall.count("02:30") == 2 and fall.count("01:30") == 1
    spring = [s.astimezone(BERLIN).strftime("%H:%M") for s in grid_starts(date(2027, 3, 28), BERLIN)]
    assert "02:00" not in spring and "02:45" not in spring
    assert spring[spring.index("01:45") + 1] == "03:00"


def test_grid_starts_half_hour_zone_is_on_local_quarter_hours() -> None:
    starts = grid_starts(date(2027, 5, 3), KOLKATA)
    assert starts[0] == utc(2027, 5, 2, 18, 30)
    assert starts[36].astimezone(KOLKATA).strftime("%H:%M") == "09:00"
    assert starts[36] == utc(2027, 5, 3, 3, 30)


def test_grid_starts_returns_a_fresh_list() -> None:
    first = grid_starts(date(2027, 1, 11), BERLIN)
    first.clear()
    assert len(grid_starts(date(2027, 1, 11), BERLIN)) == 96
    with pytest.raises(ValueError):
        grid_starts(date(2027, 1, 11), BERLIN, step_min=0)


# --------------------------------------------------------------------------- small helpers


def test_is_on_grid() -> None:
    assert is_on_grid(utc(2027, 5, 3, 3, 30), KOLKATA)
    assert not is_on_grid(utc(2027, 5, 3, 3, 37), KOLKATA)
    assert not is_on_grid(utc(2027, 5, 3, 3, 30, 5), KOLKATA)
    assert is_on_grid(utc(2027, 5, 3, 3, 20), KOLKATA, step_min=5)
    with pytest.raises(ValueError):
        is_on_grid(datetime(2027, 5, 3, 3, 30), KOLKATA)


def test_local_date_of_uses_branch_zone() -> None:
    assert local_date_of(utc(2027, 3, 22, 23, 30), BERLIN) == date(2027, 3, 23)
    assert local_date_of(utc(2027, 3, 22, 23, 30), NEW_YORK) == date(2027, 3, 22)


def test_parse_instant() -> None:
    assert parse_instant("2027-03-28T09:00:00+02:00", "start") == utc(2027, 3, 28, 7, 0)
    assert parse_instant(" 2027-03-28T07:00Z ", "start") == utc(2027, 3, 28, 7, 0)
    assert parse_instant("2027-03-28T09:00+05:45", "start").tzinfo is UTC
    with pytest.raises(ValidationError) as info:
        parse_instant("2027-03-28T09:00", "start")
    assert "needs a UTC offset" in info.value.problem and info.value.field == "start"
    with pytest.raises(ValidationError, match="needs a UTC offset"):
        parse_instant("2027-03-28", "start")
    with pytest.raises(ValidationError, match="not an ISO-8601"):
        parse_instant("next tuesday", "start")


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_parse_instant_refuses_an_instant_with_no_utc_form(text: str) -> None:
    # Year 1 east of UTC and year 9999 west of it have no UTC instant: OverflowError before issue 14.
    with pytest.raises(ValidationError) as info:
        parse_instant(text, "start")
    assert (info.value.field, info.value.value) == ("start", text)
    assert "range of dates" in info.value.problem
    # The extremes that do have a UTC form still parse.
    assert parse_instant("0001-01-01T00:00:00Z", "start") == datetime(1, 1, 1, tzinfo=UTC)


def test_check_local_time_exists() -> None:
    check_local_time_exists(datetime(2027, 3, 28, 1, 45), BERLIN, "start")
    check_local_time_exists(datetime(2027, 3, 28, 3, 0), BERLIN, "start")
    check_local_time_exists(datetime(2027, 10, 31, 2, 30), BERLIN, "start")  # repeated: exists
    check_local_time_exists(datetime(2027, 10, 31, 2, 30, fold=1), BERLIN, "start")
    with pytest.raises(ValidationError) as info:
        check_local_time_exists(datetime(2027, 3, 28, 2, 30), BERLIN, "start")
    assert info.value.field == "start" and "does not exist" in info.value.problem
    with pytest.raises(ValidationError):
        check_local_time_exists(datetime(2018, 11, 4, 0, 0), SAO_PAULO, "start")
    with pytest.raises(ValueError):
        check_local_time_exists(datetime(2027, 3, 28, 2, 30, tzinfo=UTC), BERLIN, "start")
