"""Recurring series on the branch's wall clock: an RRULE expanded into local dates, exceptions applied.

Where the rules come from: docs/architecture.md "Time" (recurrence by python-dateutil's
rrule on local wall-clock times) and issue 4 (recurring series). A series is
"every Tuesday at 10:00 for 8 weeks": the RRULE gives the branch-local *dates*
(``FREQ=WEEKLY;BYDAY=TU;COUNT=8``), every occurrence starts at the same local
wall-clock time unless an exception moves it, and each occurrence's instant is
built from its own local date in the branch's zone (:func:`occurrence_start_utc`),
so 10:00 stays 10:00 across a DST change. Never ``+ timedelta(days=7)`` on an
aware datetime.

The RRULE is expanded on naive local dates (dtstart = ``first_date`` at
midnight, no zone); ``DTSTART`` inside the rule text is refused (the first date
is its own field), sub-daily frequencies too (an occurrence is a date).
Nothing here imports Qt or SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from .errors import ValidationError
from .wallclock import GRID_STEP_MIN, check_local_time_exists

__all__ = [
    "MAX_OCCURRENCES",
    "WEEKDAY_CODES",
    "LocalOccurrence",
    "Exceptions",
    "weekly_rule",
    "normalize_rule",
    "expand_dates",
    "plan_local",
    "occurrence_start_utc",
]

#: The most occurrences one series may have (a year of a twice-weekly therapy, with room to spare).
MAX_OCCURRENCES = 120
#: RRULE weekday codes, Monday first (``date.weekday()`` order).
WEEKDAY_CODES: tuple[str, ...] = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAILY_OR_SLOWER = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")


@dataclass(frozen=True)
class LocalOccurrence:
    """One occurrence on the branch's wall clock: its ``series_date`` (the RRULE's local date,
    the key of the occurrence: unique per series) and its local start time (the series' time,
    or the exception's)."""

    series_date: date
    local_start: time


@dataclass(frozen=True)
class Exceptions:
    """Per-occurrence exceptions: ``skip`` — local dates left out; ``retime`` — local date →
    another local start time for that occurrence only. Dates that are not occurrences of the
    rule are refused by :func:`plan_local` (a typo must not silently do nothing)."""

    skip: frozenset[date] = frozenset()
    retime: Mapping[date, time] = field(default_factory=dict)


def weekly_rule(weekdays: Iterable[int], *, interval: int = 1, count: int | None = None,
                until: date | None = None) -> str:
    """The RRULE text of "every ``interval`` weeks on ``weekdays``" (0 = Monday … 6 = Sunday).

    ``weekly_rule([1], count=8)`` → ``"FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;COUNT=8"``. Give
    ``count`` or ``until`` (an inclusive local date), not both. Raises ``ValidationError``
    (``weekdays`` empty or out of range, ``interval`` outside 1..52, both or neither end).
    """
    days = sorted(set(weekdays))
    if not days or any(not 0 <= d <= 6 for d in days):
        raise ValidationError("weekdays", list(weekdays), "choose at least one weekday (0 = Monday … 6 = Sunday)")
    if not 1 <= interval <= 52:
        raise ValidationError("interval", interval, "must be between 1 and 52 weeks")
    text = f"FREQ=WEEKLY;INTERVAL={interval};BYDAY={','.join(WEEKDAY_CODES[d] for d in days)}"
    return normalize_rule(text, count=count, until=until)


def normalize_rule(rule: str, *, count: int | None = None, until: date | None = None) -> str:
    """The rule text without an ``RRULE:`` prefix, with ``count``/``until`` (if given) as its end.

    The result always ends: ``COUNT=n`` or ``UNTIL=YYYYMMDD`` (a local date). Raises
    ``ValidationError("rrule", …)`` for text that is not an RRULE, a ``DTSTART``, a
    sub-daily frequency, no end at all, or two ends (``count`` and ``until``, or one
    given while the text has the other); ``("count", …)`` outside 1..MAX_OCCURRENCES.
    """
    if not isinstance(rule, str) or not rule.strip():
        raise ValidationError("rrule", rule, "expected an RRULE such as FREQ=WEEKLY;BYDAY=TU;COUNT=8")
    body = rule.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:"):]
    parts = [p.strip() for p in body.split(";") if p.strip()]
    keys: dict[str, str] = {}
    for part in parts:
        name, sep, value = part.partition("=")
        if not sep or not value:
            raise ValidationError("rrule", rule, f"{part!r} is not NAME=VALUE")
        keys[name.upper()] = value.upper()
    if "DTSTART" in keys or "\n" in body:
        raise ValidationError("rrule", rule, "give the first date separately, not as DTSTART in the rule")
    if keys.get("FREQ") not in _DAILY_OR_SLOWER:
        raise ValidationError("rrule", rule, f"FREQ must be one of {', '.join(_DAILY_OR_SLOWER)}")
    if count is not None and until is not None:
        raise ValidationError("until", until, "give a number of occurrences or an end date, not both")
    if count is not None:
        keys.pop("UNTIL", None)
        keys["COUNT"] = str(count)
    if until is not None:
        keys.pop("COUNT", None)
        keys["UNTIL"] = f"{until:%Y%m%d}"
    if "COUNT" in keys and "UNTIL" in keys:
        raise ValidationError("rrule", rule, "has both COUNT and UNTIL")
    if "COUNT" not in keys and "UNTIL" not in keys:
        raise ValidationError("rrule", rule, "needs an end: COUNT=n or UNTIL=YYYYMMDD (or count / until)")
    if "COUNT" in keys:
        try:
            n = int(keys["COUNT"])
        except ValueError:
            raise ValidationError("count", keys["COUNT"], "is not a whole number") from None
        if not 1 <= n <= MAX_OCCURRENCES:
            raise ValidationError("count", n, f"must be between 1 and {MAX_OCCURRENCES}")
    if "UNTIL" in keys:
        keys["UNTIL"] = keys["UNTIL"][:8]  # local dates only: a time or a Z would need a zone
    order = ["FREQ", "INTERVAL", *sorted(k for k in keys if k not in ("FREQ", "INTERVAL", "COUNT", "UNTIL")),
             "COUNT", "UNTIL"]
    return ";".join(f"{k}={keys[k]}" for k in order if k in keys)


def expand_dates(rule: str, first_date: date) -> list[date]:
    """The branch-local dates of ``rule`` (already normalized, see :func:`normalize_rule`) from
    ``first_date`` on, ascending — ``first_date`` itself only if the rule matches it.

    Raises ``ValidationError("rrule", …)`` for text dateutil cannot read, and when the
    rule gives no date or more than ``MAX_OCCURRENCES``.
    """
    start = datetime(first_date.year, first_date.month, first_date.day)
    try:
        parsed = rrulestr(rule, dtstart=start)
    except (ValueError, TypeError) as exc:
        raise ValidationError("rrule", rule, f"is not a valid RRULE ({exc})") from None
    assert isinstance(parsed, rrule)
    dates: list[date] = []
    for instant in parsed:
        if len(dates) == MAX_OCCURRENCES:
            raise ValidationError("rrule", rule, f"gives more than {MAX_OCCURRENCES} occurrences")
        dates.append(instant.date())
    if not dates:
        raise ValidationError("rrule", rule, f"gives no date on or after {first_date.isoformat()}")
    return dates


def plan_local(dates: list[date], local_start: time, exceptions: Exceptions | None = None) -> list[LocalOccurrence]:
    """The occurrences of ``dates`` at ``local_start``, with ``exceptions`` applied: skipped
    dates left out, retimed dates at their own time. Times must be on the 15-minute grid.

    Raises ``ValidationError`` (``local_start`` or a retime off the grid or with seconds,
    an exception date that is not an occurrence, a date both skipped and retimed).
    """
    ex = exceptions or Exceptions()
    _check_grid_time(local_start, "local_start")
    known = set(dates)
    for d in sorted(ex.skip):
        if d not in known:
            raise ValidationError("skip", d.isoformat(), "is not a date of the series")
    for d, t in sorted(ex.retime.items()):
        if d not in known:
            raise ValidationError("retime", d.isoformat(), "is not a date of the series")
        if d in ex.skip:
            raise ValidationError("retime", d.isoformat(), "is also skipped")
        _check_grid_time(t, f"retime[{d.isoformat()}]")
    return [LocalOccurrence(d, ex.retime.get(d, local_start)) for d in dates if d not in ex.skip]


def _check_grid_time(t: time, field_name: str) -> None:
    if t.second or t.microsecond or t.minute % GRID_STEP_MIN or t.tzinfo is not None:
        raise ValidationError(field_name, t.isoformat(), f"must be a local time on the {GRID_STEP_MIN}-minute grid")


def occurrence_start_utc(occurrence: LocalOccurrence, tz: ZoneInfo) -> datetime:
    """The UTC instant of the occurrence's local start on its own local date in ``tz``.

    A repeated local time (fall back) is its first instance. Raises
    ``ValidationError("start", …)`` when the local time does not exist that day
    (inside a spring-forward gap) — the caller reports that occurrence as a conflict.
    """
    d, t = occurrence.series_date, occurrence.local_start
    naive = datetime(d.year, d.month, d.day, t.hour, t.minute)
    check_local_time_exists(naive, tz, "start")
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
