"""Recurrence on the branch's wall clock: RRULE → local dates, exceptions, instants across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from reception_app.domain.errors import ValidationError
from reception_app.domain.recurrence import (
    MAX_OCCURRENCES,
    Exceptions,
    LocalOccurrence,
    expand_dates,
    normalize_rule,
    occurrence_start_utc,
    plan_local,
    weekly_rule,
)

BERLIN = ZoneInfo("Europe/Berlin")


def test_weekly_rule_text_and_its_dates():
    rule = weekly_rule([1], count=8)
    assert rule == "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;COUNT=8"
    dates = expand_dates(rule, date(2027, 3, 1))  # a Monday: the first Tuesday is the 2nd
    assert dates[0] == date(2027, 3, 2) and len(dates) == 8
    assert all(d.weekday() == 1 for d in dates)
    assert dates[-1] == date(2027, 4, 20)


def test_every_second_week_on_two_days_until_an_inclusive_end_date():
    rule = weekly_rule([0, 3], interval=2, until=date(2027, 2, 1))
    assert rule == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20270201"
    assert expand_dates(rule, date(2027, 1, 4)) == [date(2027, 1, 4), date(2027, 1, 7), date(2027, 1, 18),
                                                    date(2027, 1, 21), date(2027, 2, 1)]


def test_normalize_accepts_the_rrule_prefix_and_replaces_the_end():
    assert normalize_rule("RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=3", count=5) == "FREQ=WEEKLY;BYDAY=TU;COUNT=5"
    assert normalize_rule("freq=monthly;bymonthday=1", until=date(2027, 6, 1)) == \
        "FREQ=MONTHLY;BYMONTHDAY=1;UNTIL=20270601"


@pytest.mark.parametrize(("rule", "kw", "field"), [
    ("FREQ=HOURLY;COUNT=3", {}, "rrule"),
    ("FREQ=WEEKLY;BYDAY=TU", {}, "rrule"),                       # never ends
    ("FREQ=WEEKLY;COUNT=2;UNTIL=20270101", {}, "rrule"),
    ("DTSTART=20270101;FREQ=WEEKLY;COUNT=2", {}, "rrule"),
    ("FREQ=WEEKLY;COUNT=0", {}, "count"),
    (f"FREQ=DAILY;COUNT={MAX_OCCURRENCES + 1}", {}, "count"),
    ("FREQ=WEEKLY", {"count": 2, "until": date(2027, 1, 1)}, "until"),
    ("nonsense", {}, "rrule"),
])
def test_bad_rules_name_the_field(rule, kw, field):
    with pytest.raises(ValidationError) as err:
        normalize_rule(rule, **kw)
    assert err.value.field == field


def test_bad_weekday_text_and_too_many_dates_are_refused():
    with pytest.raises(ValidationError) as err:
        expand_dates("FREQ=WEEKLY;BYDAY=XX;COUNT=2", date(2027, 1, 1))
    assert err.value.field == "rrule"
    with pytest.raises(ValidationError, match="more than"):
        expand_dates("FREQ=DAILY;UNTIL=20300101", date(2027, 1, 1))
    with pytest.raises(ValidationError) as err:
        weekly_rule([], count=2)
    assert err.value.field == "weekdays"


def test_exceptions_skip_and_retime_single_occurrences():
    dates = expand_dates(weekly_rule([1], count=4), date(2027, 3, 2))
    plan = plan_local(dates, time(10), Exceptions(skip=frozenset({date(2027, 3, 9)}),
                                                  retime={date(2027, 3, 16): time(11, 30)}))
    assert plan == [LocalOccurrence(date(2027, 3, 2), time(10)), LocalOccurrence(date(2027, 3, 16), time(11, 30)),
                    LocalOccurrence(date(2027, 3, 23), time(10))]


@pytest.mark.parametrize("ex", [
    Exceptions(skip=frozenset({date(2027, 3, 3)})),
    Exceptions(retime={date(2027, 3, 3): time(9)}),
    Exceptions(retime={date(2027, 3, 2): time(9, 10)}),
    Exceptions(skip=frozenset({date(2027, 3, 2)}), retime={date(2027, 3, 2): time(9)}),
])
def test_exceptions_that_do_not_fit_are_refused(ex):
    with pytest.raises(ValidationError):
        plan_local([date(2027, 3, 2), date(2027, 3, 9)], time(10), ex)


def test_the_series_time_must_be_on_the_grid():
    with pytest.raises(ValidationError) as err:
        plan_local([date(2027, 3, 2)], time(10, 5))
    assert err.value.field == "local_start"


def test_ten_oclock_stays_ten_oclock_across_the_spring_change_in_berlin():
    # Sundays 2027-03-21, -28 (clocks go forward that night), 04-04.
    dates = expand_dates(weekly_rule([6], count=3), date(2027, 3, 21))
    starts = [occurrence_start_utc(o, BERLIN) for o in plan_local(dates, time(10))]
    assert [s.astimezone(BERLIN).time() for s in starts] == [time(10)] * 3
    assert starts[0] == datetime(2027, 3, 21, 9, tzinfo=UTC)   # CET, UTC+1
    assert starts[1] == datetime(2027, 3, 28, 8, tzinfo=UTC)   # CEST, UTC+2
    assert starts[1] - starts[0] == timedelta(days=7, hours=-1)  # not a plain 7 × 24 h


def test_a_local_time_the_clocks_skip_is_refused_for_that_occurrence():
    with pytest.raises(ValidationError) as err:
        occurrence_start_utc(LocalOccurrence(date(2027, 3, 28), time(2, 30)), BERLIN)
    assert err.value.field == "start"
    # The fall-back night: 02:30 happens twice; the first (summer time) instance is taken.
    first = occurrence_start_utc(LocalOccurrence(date(2027, 10, 31), time(2, 30)), BERLIN)
    assert first == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
