"""Local wall-clock time <-> UTC instants, for one branch's IANA time zone.

Where the rules come from: docs/architecture.md, section "Time". Instants are stored and
compared as aware UTC ``datetime`` objects (``tzinfo=timezone.utc``); shifts,
opening hours, holidays and the booking grid are local wall-clock rules of the
branch, turned into instants per *local date* with :mod:`zoneinfo`.

Vocabulary used throughout:

* ``local_date`` -- a calendar date on the branch's wall clock.
* ``minute`` -- minutes from local midnight of a ``local_date`` (wall clock, so
  ``600`` is "10:00" even on a day when only 9 hours have elapsed since the
  day began). ``1440`` is the next day's 00:00.
* a *gap* -- wall-clock times that do not exist because the clocks jump forward
  (spring forward). A *fold* -- wall-clock times that happen twice because the
  clocks go back (fall back).

DST days are real days here: a local day may last 23 or 25 hours (or begin at
01:00, as in America/Sao_Paulo on 2018-11-04). Never add ``timedelta(days=1)``
to an aware datetime to mean "the same time tomorrow"; build the instant from
the local date with :func:`local_to_utc`.

Nothing here imports Qt or SQL.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from reception_app.domain.errors import ValidationError

__all__ = [
    "UTC",  # re-exported: the zone every stored instant carries (datetime.UTC)
    "MINUTES_PER_DAY",
    "GRID_STEP_MIN",
    "parse_hhmm_range",
    "format_minute",
    "local_to_utc",
    "day_bounds_utc",
    "grid_starts",
    "is_on_grid",
    "local_date_of",
    "parse_instant",
    "check_local_time_exists",
]

#: Minutes in a nominal (wall-clock) day.
MINUTES_PER_DAY = 1440
#: The booking grid step: 15 minutes of local wall-clock time (docs/architecture.md "Time").
GRID_STEP_MIN = 15

_HHMM = re.compile(r"(\d{1,2}):(\d{2})")
_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-"})


# --------------------------------------------------------------------------- #
# Text input
# --------------------------------------------------------------------------- #


def _parse_hhmm(part: str, *, is_end: bool, field: str, text: str) -> int:
    """One ``HH:MM`` of a range -> minutes from midnight (``24:00`` only as end)."""
    which = "end" if is_end else "start"
    match = _HHMM.fullmatch(part.strip())
    if match is None:
        raise ValidationError(field, text, f"{which} time {part.strip()!r} is not HH:MM (e.g. 08:00-12:00)")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59:
        raise ValidationError(field, text, f"{which} time has minutes {minutes:02d}; minutes must be 00-59")
    if hours == 24:
        if not is_end:
            raise ValidationError(field, text, "24:00 is only allowed as an end time")
        if minutes != 0:
            raise ValidationError(field, text, f"end time 24:{minutes:02d} is past midnight; use 00:{minutes:02d}")
        return MINUTES_PER_DAY
    if hours > 23:
        raise ValidationError(
            field, text, f"{which} time has hour {hours}; hours must be 00-23 (24 only as the end 24:00)"
        )
    return hours * 60 + minutes


def parse_hhmm(text: str, field: str, *, is_end: bool = False) -> int:
    """One local wall-clock time ``"HH:MM"`` -> minutes from midnight (``"24:00"`` = 1440 only with
    ``is_end=True``). Raises ``ValidationError(field, text, …)`` naming the field and the value."""
    return _parse_hhmm(text, is_end=is_end, field=field, text=text)


def parse_hhmm_range(text: str, field: str) -> tuple[int, int]:
    """Parse a local wall-clock range ``"HH:MM-HH:MM"`` into minutes from local midnight.

    Returns ``(start_min, end_min)`` with ``0 <= start_min <= 1439`` and
    ``1 <= end_min <= 1440`` -- or ``end_min == 0`` for ``"…-00:00"``.
    ``"08:00-12:00"`` -> ``(480, 720)``; ``"08:00-24:00"`` -> ``(480, 1440)``.
    An end earlier than the start means the range ends on the next day and is
    returned as-is: ``"22:00-06:00"`` -> ``(1320, 360)`` (callers add 1440 when
    they need an absolute end; see ``WeeklyRule`` in ``slots``).

    Accepts surrounding blanks and en/em dashes. Hours are 00-23 (one or two
    digits), minutes 00-59; ``24:00`` is allowed only as the end.

    Raises ``ValidationError(field, text, problem)`` for a malformed text, an out
    of range hour or minute, ``24:00`` as start, or an empty range (end equal to
    start, e.g. ``"08:00-08:00"``).

    Rule source: docs/architecture.md "Time" (shifts and opening hours are local
    wall-clock rules).
    """
    if not isinstance(text, str):
        raise ValidationError(field, text, "expected a time range like 08:00-12:00")
    parts = text.translate(_DASHES).split("-")
    if len(parts) != 2:
        raise ValidationError(field, text, "expected a time range like 08:00-12:00 (start-end)")
    start = _parse_hhmm(parts[0], is_end=False, field=field, text=text)
    end = _parse_hhmm(parts[1], is_end=True, field=field, text=text)
    if end == start:
        raise ValidationError(field, text, "the range is empty: the end equals the start")
    return start, end


def format_minute(minute: int) -> str:
    """``570`` -> ``"09:30"``; ``1440`` -> ``"24:00"`` (minutes from local midnight, 0..1440)."""
    if not 0 <= minute <= MINUTES_PER_DAY:
        raise ValueError(f"minute out of range 0..1440: {minute}")
    return f"{minute // 60:02d}:{minute % 60:02d}"


# --------------------------------------------------------------------------- #
# Local wall clock -> UTC
# --------------------------------------------------------------------------- #


def _wall(local_date: date, minute: int) -> datetime:
    """The naive local datetime of ``minute`` on ``local_date`` (minute may leave the day)."""
    days, rest = divmod(minute, MINUTES_PER_DAY)
    day = local_date + timedelta(days=days) if days else local_date
    return datetime(day.year, day.month, day.day, rest // 60, rest % 60)


@lru_cache(maxsize=1 << 16)
def _local_to_utc(local_date: date, minute: int, tz: tzinfo, latest: bool) -> datetime:
    naive = _wall(local_date, minute)
    earlier = naive.replace(tzinfo=tz).astimezone(UTC)  # fold=0
    if not latest:
        return earlier  # fold=0: the earlier instance, or the gap read with the old offset
    later = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if later == earlier:
        return earlier
    # Either a fold (both readings real) or a gap (neither is): a real reading round-trips.
    if later.astimezone(tz).replace(tzinfo=None) == naive:
        return later
    return earlier  # gap: PEP 495 fold=0 rule for both latest=False and latest=True


def local_to_utc(local_date: date, minute: int, tz: ZoneInfo, *, latest: bool = False) -> datetime:
    """The UTC instant of wall-clock ``minute`` on ``local_date`` in zone ``tz``.

    ``minute`` counts minutes from local midnight of ``local_date``: ``0..1439``
    within the day, ``1440`` = the next local day's 00:00, larger values later
    local days (``1800`` = next day 06:00); negative values count back.
    Returns an aware ``datetime`` with ``tzinfo=timezone.utc``.

    * Repeated wall-clock time (fall back): the earlier instance, or the later
      one with ``latest=True``. Rule users pass ``latest=False`` for the start
      of a shift/opening and ``latest=True`` for its end, so a window covers
      both instances.
    * Non-existent wall-clock time (spring-forward gap): read with the UTC
      offset in force *before* the change (PEP 495 ``fold=0``), for both values
      of ``latest``: in a 02:00->03:00 gap, 02:30 means 03:30 new local time.

    Results are memoized; ``tz`` should be a ``ZoneInfo`` (any PEP 495 tzinfo
    works). Raises nothing for valid dates (``OverflowError`` at the ends of
    the ``datetime`` range).

    Rule source: docs/architecture.md "Time" (build instants from the local date).
    """
    return _local_to_utc(local_date, minute, tz, latest)


@lru_cache(maxsize=1 << 14)
def _first_instant(local_date: date, tz: tzinfo) -> datetime:
    """The first UTC instant whose local date (in ``tz``) is ``local_date``."""
    midnight = datetime(local_date.year, local_date.month, local_date.day)
    guess = _local_to_utc(local_date, 0, tz, False)
    seen = guess.astimezone(tz)
    if seen.replace(tzinfo=None) == midnight:
        return guess  # midnight exists (fold=0: its first instance)
    # Midnight lies in a gap (e.g. Sao Paulo 2018-11-04 began at 01:00): the day
    # begins at the transition. Bisect on whole seconds (transitions are on whole
    # seconds) for the first instant whose local date is >= local_date.
    one_sec = timedelta(seconds=1)
    lo = guess - timedelta(hours=48)  # local date certainly before local_date
    hi = guess if seen.date() >= local_date else guess + timedelta(hours=48)
    span = (hi - lo) // one_sec
    lo_n, hi_n = 0, span
    while hi_n - lo_n > 1:
        mid = (lo_n + hi_n) // 2
        if (lo + mid * one_sec).astimezone(tz).date() >= local_date:
            hi_n = mid
        else:
            lo_n = mid
    return lo + hi_n * one_sec


def day_bounds_utc(local_date: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of the local day ``local_date`` in zone ``tz``.

    ``start`` is the first instant whose local date is ``local_date``; ``end``
    is the first instant of the next local date. Usually local midnight to the
    next local midnight (24 h), 23 or 25 h on DST days. Correct on days whose
    midnight is skipped (America/Sao_Paulo 2018-11-04 began at 01:00 local): the
    day then begins at the transition instant, found by checking the round trip
    and bisecting. A local date skipped entirely (Pacific/Apia 2011-12-30) gives
    ``start == end``.

    Returns aware UTC datetimes; memoized. Raises nothing for valid dates.
    Rule source: docs/architecture.md "Time" (holidays close a whole local day).
    """
    return _first_instant(local_date, tz), _first_instant(local_date + timedelta(days=1), tz)


@lru_cache(maxsize=1 << 12)
def _grid_starts(local_date: date, tz: tzinfo, step_min: int) -> tuple[datetime, ...]:
    start, end = _first_instant(local_date, tz), _first_instant(local_date + timedelta(days=1), tz)
    step = timedelta(minutes=step_min)
    out: list[datetime] = []
    instant = start
    while instant < end:
        seen = instant.astimezone(tz)
        off = (seen.hour * 60 + seen.minute) % step_min
        if off == 0 and seen.second == 0 and seen.microsecond == 0:
            out.append(instant)
            instant += step
        else:  # not on the local grid (odd-offset zone/transition): move to the next grid line
            instant += timedelta(minutes=step_min - off, seconds=-seen.second, microseconds=-seen.microsecond)
    return tuple(out)


def grid_starts(local_date: date, tz: ZoneInfo, step_min: int = GRID_STEP_MIN) -> list[datetime]:
    """Every grid start of the local day ``local_date``: aware UTC datetimes, ascending.

    The instants ``t`` with ``day_bounds_utc(local_date, tz)[0] <= t < [1]``
    whose local wall-clock time is a whole multiple of ``step_min`` minutes
    (seconds zero). On a fall-back day both instances of each repeated local
    time are included (100 starts for a 25 h day at 15 min); local times inside
    a spring-forward gap are not (92 for a 23 h day); 96 on ordinary days.

    Walks UTC in ``step_min`` steps from the day start (every modern UTC offset
    is a multiple of 15 min) but checks each instant's local minute and
    re-aligns if an offset is not. Memoized. Raises ``ValueError`` if
    ``step_min`` is not positive.

    Rule source: docs/architecture.md "Time" (the grid is 15 minutes of local wall-clock
    time) and the check constraint on stored times.
    """
    if step_min <= 0:
        raise ValueError(f"step_min must be positive, got {step_min}")
    return list(_grid_starts(local_date, tz, step_min))


def _require_aware(instant: datetime, name: str) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a UTC offset), got naive {instant!r}")


def is_on_grid(instant: datetime, tz: ZoneInfo, step_min: int = GRID_STEP_MIN) -> bool:
    """Whether aware ``instant`` is on the local ``step_min``-minute grid of zone ``tz``.

    True when its local wall-clock time in ``tz`` has seconds and microseconds
    zero and minutes-of-day a multiple of ``step_min``. Raises ``ValueError`` for
    a naive ``instant`` (a programming error, not user input).
    Rule source: docs/architecture.md "Time" (15-minute local grid).
    """
    _require_aware(instant, "instant")
    seen = instant.astimezone(tz)
    return seen.second == 0 and seen.microsecond == 0 and (seen.hour * 60 + seen.minute) % step_min == 0


def local_date_of(instant: datetime, tz: ZoneInfo) -> date:
    """The local calendar date of aware ``instant`` in zone ``tz``.

    Raises ``ValueError`` for a naive ``instant``.
    """
    _require_aware(instant, "instant")
    return instant.astimezone(tz).date()


def parse_instant(text: str, field: str) -> datetime:
    """Parse an ISO-8601 date-time that carries a UTC offset (or ``Z``) into aware UTC.

    ``"2027-03-28T09:00:00+02:00"`` and ``"2027-03-28T07:00Z"`` both give
    ``datetime(2027, 3, 28, 7, 0, tzinfo=timezone.utc)``.

    Raises ``ValidationError(field, text, ...)`` if the text is not an ISO-8601
    date-time, or if it has no offset ("needs a UTC offset"): a bare local time
    is ambiguous on DST days, so callers must say which zone they mean; also for an
    instant that has no UTC form (year 1 east of UTC, year 9999 west of it). A
    schedule date's range (2000..2099) is ``validation.parse_schedule_instant``'s.
    """
    if not isinstance(text, str):
        raise ValidationError(field, text, "expected an ISO-8601 date-time such as 2027-03-28T09:00+02:00")
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(field, text, "not an ISO-8601 date-time such as 2027-03-28T09:00+02:00") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValidationError(field, text, "needs a UTC offset (e.g. +02:00 or Z)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00, 9999-12-31T23:00-05:00: no such instant in UTC
        raise ValidationError(field, text, "is outside the range of dates (it cannot be written in UTC)") from None


def check_local_time_exists(local_dt_naive: datetime, tz: ZoneInfo, field: str) -> None:
    """Raise ``ValidationError`` if the naive local wall-clock datetime does not exist in ``tz``.

    A local time inside a spring-forward gap (e.g. 2027-03-28 02:30 in
    Europe/Berlin) has no instant; user input naming one is rejected rather than
    silently moved. Repeated (fall-back) times exist and pass. Detection: the
    ``fold=0`` reading does not round-trip to the same wall-clock time.

    Raises ``ValueError`` if ``local_dt_naive`` is aware (a programming error).
    Rule source: docs/architecture.md "Time" (a local time can be missing).
    """
    if local_dt_naive.tzinfo is not None:
        raise ValueError(f"expected a naive local datetime, got aware {local_dt_naive!r}")
    back = local_dt_naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != local_dt_naive.replace(fold=0):
        zone = getattr(tz, "key", str(tz))
        raise ValidationError(
            field,
            local_dt_naive,
            f"{local_dt_naive:%H:%M} does not exist on {local_dt_naive:%Y-%m-%d} in {zone}: "
            "the clocks skip it (daylight saving change)",
        )
