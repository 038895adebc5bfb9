"""The slot engine: which appointment starts to *offer* for a service at a branch.

The engine decides what to offer; the database's exclusion constraint decides
what commits (docs/architecture.md "The one rule"). Pure Python: no Qt, no SQL.

Contract
========

Inputs are the frozen dataclasses below: a :class:`BranchSpec` (IANA zone,
weekly opening hours, holidays), a :class:`ServiceSpec` (duration, buffers,
notice, horizon, and the resource category it needs per kind), the candidate
:class:`ResourceSpec` s, and ``busy``: per resource id, UTC half-open intervals
``[start, end)`` during which the resource is unavailable (live bookings *with
their buffers*, time off, blocks), in any order, possibly overlapping. All
durations are in minutes; all instants are aware datetimes (UTC out).

Availability
    Doctors are available during their shifts at this branch
    (``ResourceSpec.rules``); rooms and equipment while the branch is open
    (``BranchSpec.hours``; their own ``rules`` are ignored). Rules are weekly
    local wall-clock intervals in the branch zone; an end at or before the
    start means the interval ends on the next local day; ``24:00`` (1440) is
    allowed. Each occurrence on local date ``d`` becomes the UTC window
    ``[local_to_utc(d, start), local_to_utc(d, end, latest=True))`` (start: the
    earliest instance of a repeated time, end: the latest; a time in a DST gap
    is read with the offset before the change), so a 22:00-06:00 shift lasts
    9 h on a fall-back night and 7 h on a spring-forward night. Occurrences of
    every local date that can touch a requested day are used (at least D-1, D,
    D+1, so overnight rules of the previous day spill in). Adjacent or
    overlapping windows merge. ``valid_from``/``valid_until`` (inclusive local
    dates) limit a rule; they are honoured for opening hours too.

Holidays
    A holiday closes its branch for the whole local day: ``day_bounds_utc`` of
    each holiday is subtracted from every resource's availability (doctors
    too), including the part of an overnight shift that spills into it.

Candidates
    ``grid_starts(D)`` of each requested local date ``D``: every 15-minute local
    wall-clock start, both instances on fall-back days, none inside DST gaps.

Free
    A start ``s`` is free for a resource when the whole occupied interval
    ``[s - buffer_before, s + duration + buffer_after)`` lies inside one merged
    availability window and overlaps no busy interval (half-open: touching is
    fine). A start is offered when every needed kind has at least one free
    resource of that kind whose ``category == service.needs[kind]`` (and, for a
    kind in ``only``, whose id is listed there). Kinds not in ``needs`` are
    ignored.

Never offered
    ``s < now + min_notice`` (so never a past start), and any start whose local
    date is after ``local_date(now) + horizon_days`` (date arithmetic on local
    dates, not ``timedelta`` on aware datetimes).

A service with empty ``needs`` is offered at every grid start that passes
notice and horizon and whose occupied interval lies inside one window of the
branch's opening hours (minus holidays).

Output is a list of :class:`SlotOption` sorted by start; ``free[kind]`` lists
the ids free for the whole occupied interval, in the order of ``resources``.

Performance: everything is integer seconds; availability minus busy is done
by one merge pass per resource, candidate starts that fit each free window are
found with ``bisect`` and recorded as bit ranges, kinds combine by OR and AND
of those bit sets. Work is linear in windows + busy intervals + offered
(slot, resource) pairs, not in resources x candidates x minutes.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reception_app.domain.wallclock import (
    MINUTES_PER_DAY,
    day_bounds_utc,
    grid_starts,
    local_to_utc,
    parse_hhmm_range,
)

__all__ = [
    "KINDS",
    "WeeklyRule",
    "ServiceSpec",
    "ResourceSpec",
    "BranchSpec",
    "SlotOption",
    "find_slots",
    "find_slot_at",
    "resource_availability",
    "free_windows",
    "with_exceptions",
]

#: Resource kinds, in the order used everywhere (combinations, ``free``).
KINDS: tuple[str, ...] = ("doctor", "room", "equipment")

Interval = tuple[datetime, datetime]
_Span = tuple[int, int]  # [start, end) in integer seconds since the Unix epoch, UTC

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


# --------------------------------------------------------------------------- #
# Inputs and output
# --------------------------------------------------------------------------- #

_K = TypeVar("_K")
_V = TypeVar("_V")


class _FrozenMap(Mapping[_K, _V]):
    """A read-only, hashable, picklable mapping (keeps insertion order)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[_K, _V]) -> None:
        self._items = dict(items)

    def __getitem__(self, key: _K) -> _V:
        return self._items[key]

    def __iter__(self) -> Iterator[_K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)

    def __reduce__(self) -> tuple[type[_FrozenMap[_K, _V]], tuple[dict[_K, _V]]]:
        return (type(self), (self._items,))


@dataclass(frozen=True)
class WeeklyRule:
    """One weekly opening-hours or shift interval on the branch's local wall clock.

    ``weekday``: 0 = Monday … 6 = Sunday, the local date the interval *starts* on.
    ``start_min``: minutes from local midnight, 0..1439.
    ``end_min``: 1..1440 (0 also accepted, meaning the next midnight);
    ``end_min <= start_min`` means the interval ends on the next local day
    (``1320, 360`` = 22:00-06:00; ``480, 480`` = 24 hours from 08:00).
    ``valid_from`` / ``valid_until``: first / last local date (inclusive) on which
    an occurrence may *start*; ``None`` = unbounded.

    Raises ``ValueError`` on out-of-range values (a programming error; user text
    goes through :meth:`from_text`, which raises ``ValidationError``).
    """

    weekday: int
    start_min: int
    end_min: int
    valid_from: date | None = None
    valid_until: date | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday)..6 (Sunday), got {self.weekday}")
        if not 0 <= self.start_min < MINUTES_PER_DAY:
            raise ValueError(f"start_min must be 0..1439, got {self.start_min}")
        if not 0 <= self.end_min <= MINUTES_PER_DAY:
            raise ValueError(f"end_min must be 0..1440, got {self.end_min}")
        if self.valid_from is not None and self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError(f"valid_until {self.valid_until} is before valid_from {self.valid_from}")

    @classmethod
    def from_text(
        cls,
        weekday: int,
        text: str,
        field: str = "hours",
        valid_from: date | None = None,
        valid_until: date | None = None,
    ) -> WeeklyRule:
        """Build a rule from ``"HH:MM-HH:MM"`` (see ``wallclock.parse_hhmm_range``).

        Raises ``ValidationError(field, text, ...)`` for bad text.
        """
        start, end = parse_hhmm_range(text, field)
        return cls(weekday, start, end, valid_from, valid_until)

    @property
    def end_abs_min(self) -> int:
        """End in minutes from local midnight of the start date (> ``start_min``; up to 2879)."""
        return self.end_min if self.end_min > self.start_min else self.end_min + MINUTES_PER_DAY

    def applies_on(self, local_date: date) -> bool:
        """Whether an occurrence starts on ``local_date`` (weekday and validity match)."""
        return (
            local_date.weekday() == self.weekday
            and (self.valid_from is None or local_date >= self.valid_from)
            and (self.valid_until is None or local_date <= self.valid_until)
        )


def with_exceptions(
    weekly: Iterable[WeeklyRule], exceptions: Mapping[date, Sequence[tuple[int, int]]]
) -> tuple[WeeklyRule, ...]:
    """A resource's weekly rules with its date exceptions applied, as plain weekly rules.

    ``exceptions``: local date -> the intervals ``(start_min, end_min)`` worked that
    day instead of the weekly pattern (minutes from local midnight, an end at or
    before the start runs past midnight, as in :class:`WeeklyRule`); an empty
    sequence means off that day. Rule source: migration 0003 (``shift_exception``:
    on ``local_date`` the weekly shifts are replaced by the exception rows).

    What is replaced is every occurrence that *starts* on an exception date: each
    weekly rule's validity is split around those dates (a Friday 22:00-06:00 shift
    suppressed on a Friday also loses its Saturday-morning part; an exception on
    the Saturday does not touch the Friday night that spills into it). Each
    exception interval becomes a one-date rule (``valid_from = valid_until = d``).
    Instants are built per local date by the engine, so DST days keep their real
    length. Returns the rules in a stable order (weekly pieces, then exception days
    by date).
    """
    by_weekday: dict[int, list[date]] = {}
    for day in sorted(exceptions):
        by_weekday.setdefault(day.weekday(), []).append(day)
    out: list[WeeklyRule] = []
    for rule in weekly:
        lo = rule.valid_from
        for day in by_weekday.get(rule.weekday, ()):
            if (lo is not None and day < lo) or (rule.valid_until is not None and day > rule.valid_until):
                continue
            before = day - timedelta(days=1)
            if lo is None or before >= lo:
                out.append(WeeklyRule(rule.weekday, rule.start_min, rule.end_min, lo, before))
            lo = day + timedelta(days=1)
        if lo is None or rule.valid_until is None or lo <= rule.valid_until:
            out.append(WeeklyRule(rule.weekday, rule.start_min, rule.end_min, lo, rule.valid_until))
    for day in sorted(exceptions):
        for start_min, end_min in exceptions[day]:
            out.append(WeeklyRule(day.weekday(), start_min, end_min, day, day))
    return tuple(out)


@dataclass(frozen=True)
class ServiceSpec:
    """What an appointment of one service needs.

    ``duration_min``: the appointment's own length (> 0), minutes.
    ``buffer_before_min`` / ``buffer_after_min``: preparation / clean-up time the
    resources are also occupied for (>= 0), minutes.
    ``min_notice_min``: earliest offer is ``now + min_notice_min`` (>= 0).
    ``horizon_days``: latest offer is on local date ``today + horizon_days`` (>= 0).
    ``needs``: kind -> category (specialty for doctors, room kind, equipment
    kind); only the needed kinds are present. Stored as a read-only,
    hashable mapping.

    Raises ``ValueError`` for negative or zero values as described and for a kind
    not in ``KINDS``.
    """

    duration_min: int
    buffer_before_min: int
    buffer_after_min: int
    min_notice_min: int
    horizon_days: int
    needs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.duration_min <= 0:
            raise ValueError(f"duration_min must be positive, got {self.duration_min}")
        for name in ("buffer_before_min", "buffer_after_min", "min_notice_min", "horizon_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        _check_kinds(self.needs, "needs")
        object.__setattr__(self, "needs", _FrozenMap(self.needs))

    @property
    def occupied_min(self) -> int:
        """Minutes a booking occupies its resources: buffers + duration."""
        return self.buffer_before_min + self.duration_min + self.buffer_after_min


@dataclass(frozen=True)
class ResourceSpec:
    """A bookable doctor, room or piece of equipment, as the slot engine sees it.

    ``id``: the resource id (key of ``busy``). ``kind``: one of ``KINDS``.
    ``category``: specialty (doctors), room kind, equipment kind.
    ``rules``: doctors: their weekly shifts *at this branch*; rooms and
    equipment: ignored (the branch's opening hours apply).

    Raises ``ValueError`` for a kind not in ``KINDS``.
    """

    id: int
    name: str
    kind: str
    category: str
    rules: tuple[WeeklyRule, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown resource kind {self.kind!r}; expected one of {KINDS}")
        if not isinstance(self.rules, tuple):
            object.__setattr__(self, "rules", tuple(self.rules))


@dataclass(frozen=True)
class BranchSpec:
    """A branch as the slot engine sees it.

    ``timezone``: IANA zone name (e.g. ``"Europe/Berlin"``).
    ``hours``: weekly opening hours (local wall clock); a weekday without a rule
    is closed. ``holidays``: local dates on which the branch is closed all day.

    Raises ``ValueError`` for an unknown zone name.
    """

    timezone: str
    hours: tuple[WeeklyRule, ...] = ()
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        if not isinstance(self.hours, tuple):
            object.__setattr__(self, "hours", tuple(self.hours))
        if not isinstance(self.holidays, frozenset):
            object.__setattr__(self, "holidays", frozenset(self.holidays))

    @property
    def zone(self) -> ZoneInfo:
        """The branch's ``ZoneInfo``."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class SlotOption:
    """One start the engine offers, with the resources free for it.

    ``start``/``end``: UTC, the appointment itself (``end = start + duration``).
    ``occupied_start``/``occupied_end``: UTC, including buffers (what the
    booking rows' periods will be).
    ``free``: kind -> ids of resources free for the whole occupied interval,
    in the order they were given to :func:`find_slots`; kinds in ``KINDS``
    order; only needed kinds present, each with at least one id.
    """

    start: datetime
    end: datetime
    occupied_start: datetime
    occupied_end: datetime
    free: Mapping[str, tuple[int, ...]]

    def combinations(self) -> Iterator[dict[str, int]]:
        """Every choice of one free resource per needed kind: ``{kind: id}``.

        Cartesian product in ``KINDS`` order, each kind in ``free`` order, so the
        first combination is the first free resource of each kind. A slot that
        needs nothing yields one empty dict.
        """
        kinds = [k for k in KINDS if k in self.free]
        for ids in itertools.product(*(self.free[k] for k in kinds)):
            yield dict(zip(kinds, ids, strict=True))

    def first_combination(self) -> dict[str, int]:
        """The first free resource of each needed kind, ``{kind: id}`` in ``KINDS`` order."""
        return {k: self.free[k][0] for k in KINDS if k in self.free}


# --------------------------------------------------------------------------- #
# Interval arithmetic on integer seconds
# --------------------------------------------------------------------------- #


def _check_kinds(mapping: Mapping[str, object], what: str) -> None:
    for kind in mapping:
        if kind not in KINDS:
            raise ValueError(f"unknown resource kind {kind!r} in {what}; expected one of {KINDS}")


def _secs(instant: datetime) -> int:
    """Whole seconds since the epoch (exact for whole-second instants)."""
    return (instant - _EPOCH) // _SECOND


def _floor_secs(instant: datetime, what: str) -> int:
    if instant.tzinfo is None:
        raise ValueError(f"{what} must be aware (UTC), got naive {instant!r}")
    return (instant - _EPOCH) // _SECOND


def _to_dt(secs: int) -> datetime:
    return _EPOCH + timedelta(seconds=secs)


def _merge(spans: Iterable[_Span]) -> list[_Span]:
    """Sort and merge; adjacent spans join, empty ones vanish."""
    out: list[_Span] = []
    for a, b in sorted(spans):
        if a >= b:
            continue
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _subtract(base: list[_Span], cuts: list[_Span]) -> list[_Span]:
    """``base`` minus ``cuts``; both merged and sorted; result merged and sorted."""
    if not cuts:
        return base
    out: list[_Span] = []
    j, n = 0, len(cuts)
    for a, b in base:
        while j < n and cuts[j][1] <= a:
            j += 1
        cur = a
        k = j
        while k < n and cuts[k][0] < b:
            ca, cb = cuts[k]
            if ca > cur:
                out.append((cur, ca))
            if cb > cur:
                cur = cb
            if cur >= b:
                break
            k += 1
        if cur < b:
            out.append((cur, b))
        j = k
    return out


def _clip(spans: list[_Span], lo: int, hi: int) -> list[_Span]:
    return [(max(a, lo), min(b, hi)) for a, b in spans if a < hi and b > lo]


@lru_cache(maxsize=1 << 15)
def _occurrence(local_date: date, rule: WeeklyRule, tz: ZoneInfo) -> _Span:
    start = local_to_utc(local_date, rule.start_min, tz)
    end = local_to_utc(local_date, rule.end_abs_min, tz, latest=True)
    return _secs(start), _secs(end)


@lru_cache(maxsize=1 << 13)
def _day_span(local_date: date, tz: ZoneInfo) -> _Span:
    start, end = day_bounds_utc(local_date, tz)
    return _secs(start), _secs(end)


@lru_cache(maxsize=1 << 12)
def _grid(local_date: date, tz: ZoneInfo) -> tuple[tuple[int, ...], tuple[datetime, ...]]:
    starts = tuple(grid_starts(local_date, tz))
    return tuple(_secs(s) for s in starts), starts


def _rule_windows(rules: Sequence[WeeklyRule], rule_dates: Sequence[date], tz: ZoneInfo) -> list[_Span]:
    """Merged windows of every occurrence of ``rules`` starting on one of ``rule_dates``."""
    by_weekday: dict[int, list[WeeklyRule]] = {}
    for rule in rules:
        by_weekday.setdefault(rule.weekday, []).append(rule)
    spans = [
        _occurrence(d, rule, tz) for d in rule_dates for rule in by_weekday.get(d.weekday(), ()) if rule.applies_on(d)
    ]
    return _merge(spans)


def _holiday_spans(holidays: Collection[date], first: date, last: date, tz: ZoneInfo) -> list[_Span]:
    return _merge(_day_span(h, tz) for h in holidays if first <= h <= last)


def _busy_spans(intervals: Iterable[tuple[datetime, datetime]] | Iterable[tuple[int, int]],
                lo: int, hi: int) -> list[_Span]:
    """Busy intervals as merged integer spans (start floored, end ceiled), limited to [lo, hi).

    Accepts aware datetimes or whole epoch seconds (``int``), the form the
    database layer fetches on the hot path.
    """
    epoch, second = _EPOCH, _SECOND
    spans: list[_Span] = []
    pairs: Iterable[tuple[Any, Any]] = intervals
    try:
        for start, end in pairs:
            if type(start) is int:
                a, b = start, end
            else:
                a = (start - epoch) // second
                b = -((epoch - end) // second)
            if a < hi and b > lo and a < b:
                spans.append((a, b))
    except TypeError:  # naive minus aware
        raise ValueError("busy intervals must hold aware (UTC) datetimes or epoch seconds, got a naive one") \
            from None
    return _merge(spans)


def _rules_for(branch: BranchSpec, resource: ResourceSpec) -> tuple[WeeklyRule, ...]:
    return resource.rules if resource.kind == "doctor" else branch.hours


def _date_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# --------------------------------------------------------------------------- #
# Windows for the UI
# --------------------------------------------------------------------------- #


def _availability_around(branch: BranchSpec, resource: ResourceSpec, local_date: date, tz: ZoneInfo) -> list[_Span]:
    rule_dates = _date_range(local_date - timedelta(days=1), local_date + timedelta(days=1))
    windows = _rule_windows(_rules_for(branch, resource), rule_dates, tz)
    holidays = _holiday_spans(branch.holidays, local_date - timedelta(days=1), local_date + timedelta(days=2), tz)
    return _subtract(windows, holidays)


def resource_availability(
    branch: BranchSpec, resource: ResourceSpec, local_date: date, *, clip: bool = True
) -> list[Interval]:
    """When ``resource`` is available around local day ``local_date``, before bookings.

    Returns merged UTC windows ``[(start, end), …]`` (aware UTC, ascending) built
    from the occurrences on local dates D-1, D and D+1 of the doctor's shifts
    (or, for rooms and equipment, the branch's opening hours), minus holidays,
    keeping the windows that overlap the local day ``[day start, next day
    start)``. With ``clip=True`` (default) they are cut to that day -- what a
    day column shades as open; with ``clip=False`` they are returned whole
    (as far as D-1..D+1 occurrences reach).

    Busy time (bookings, time off) is not subtracted; see :func:`free_windows`.
    Raises nothing beyond ``BranchSpec`` validation. Rule source: the module
    contract above (Availability, Holidays).
    """
    tz = branch.zone
    day_lo, day_hi = _day_span(local_date, tz)
    spans = _availability_around(branch, resource, local_date, tz)
    spans = _clip(spans, day_lo, day_hi) if clip else [(a, b) for a, b in spans if a < day_hi and b > day_lo]
    return [(_to_dt(a), _to_dt(b)) for a, b in spans]


def free_windows(
    branch: BranchSpec,
    resource: ResourceSpec,
    busy: Iterable[tuple[datetime, datetime]],
    local_date: date,
    *,
    clip: bool = True,
) -> list[Interval]:
    """:func:`resource_availability` minus ``busy`` (UTC half-open intervals of this resource).

    Returns merged, ascending aware-UTC windows during which the resource is
    open and not booked/blocked, on (``clip=True``) or overlapping local day
    ``local_date``. Raises ``ValueError`` for a naive busy datetime.
    """
    tz = branch.zone
    day_lo, day_hi = _day_span(local_date, tz)
    spans = _availability_around(branch, resource, local_date, tz)
    if spans:
        spans = _subtract(spans, _busy_spans(busy, spans[0][0], spans[-1][1]))
    spans = _clip(spans, day_lo, day_hi) if clip else [(a, b) for a, b in spans if a < day_hi and b > day_lo]
    return [(_to_dt(a), _to_dt(b)) for a, b in spans]


# --------------------------------------------------------------------------- #
# The search
# --------------------------------------------------------------------------- #


def _fit_ranges(free: list[_Span], cand: list[int], before: int, after: int) -> list[_Span]:
    """Index ranges ``[lo, hi)`` of ``cand`` whose occupied interval fits in a free span.

    A candidate ``s`` fits ``[a, b)`` when ``a <= s - before`` and
    ``s + after <= b`` (``after`` = duration + buffer after, seconds).
    """
    need = before + after
    out: list[_Span] = []
    for a, b in free:
        if b - a < need:
            continue
        lo = bisect_left(cand, a + before)
        hi = bisect_right(cand, b - after, lo)
        if lo < hi:
            out.append((lo, hi))
    return out


def _mask(ranges: list[_Span]) -> int:
    mask = 0
    for lo, hi in ranges:
        mask |= ((1 << (hi - lo)) - 1) << lo
    return mask


def find_slots(
    branch: BranchSpec,
    service: ServiceSpec,
    resources: Sequence[ResourceSpec],
    busy: Mapping[int, Sequence[tuple[datetime, datetime]] | Sequence[tuple[int, int]]],
    local_dates: Iterable[date],
    now: datetime,
    *,
    only: Mapping[str, Collection[int]] | None = None,
    _at: datetime | None = None,
) -> list[SlotOption]:
    """Every start to offer for ``service`` at ``branch`` on the given local dates.

    Shapes and units: ``resources`` in display order (it fixes the order of
    ``SlotOption.free``; a repeated id counts once); ``busy[resource_id]`` UTC
    half-open ``(start, end)`` intervals, aware datetimes or whole epoch
    seconds, any order, may overlap, missing id = never busy; ``local_dates`` branch-local dates (duplicates and
    order do not matter); ``now`` aware; ``only`` optional kind -> allowed ids.
    Returns :class:`SlotOption` s sorted by start (UTC). The full semantics are
    the module contract: availability from shifts (doctors) or opening hours
    (rooms, equipment), holidays close whole local days, 15-minute local grid,
    whole occupied interval (buffers included) inside one window and clear of
    busy time, notice and horizon.

    Raises ``ValueError`` for an unknown kind in ``service.needs`` or ``only``,
    or a naive ``now``/busy datetime; ``TypeError`` if a local date is a
    ``datetime``.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime, got naive {now!r}")
    needs = service.needs
    _check_kinds(needs, "service.needs")
    if only is not None:
        _check_kinds(only, "only")
    tz = branch.zone

    # Candidate starts: grid of each requested date within notice and horizon.
    today = now.astimezone(tz).date()
    last_day = today + timedelta(days=service.horizon_days)
    dates: set[date] = set()
    for d in local_dates:
        if isinstance(d, datetime):
            raise TypeError(f"local_dates must hold dates, got datetime {d!r}")
        if today - timedelta(days=1) <= d <= last_day:  # earlier dates are wholly past
            dates.add(d)
    if not dates:
        return []
    earliest = _floor_secs(now, "now") + service.min_notice_min * 60
    if now.microsecond:
        earliest += 1  # s >= now + notice for whole-second s
    cand: list[int] = []
    cand_dt: list[datetime] = []
    for d in sorted(dates):
        secs, starts = _grid(d, tz)
        i = bisect_left(secs, earliest)
        cand.extend(secs[i:])
        cand_dt.extend(starts[i:])
    if _at is not None:  # find_slot_at: judge this one start only (windows get clipped to it below)
        at = _floor_secs(_at, "start")
        keep = [i for i, c in enumerate(cand) if c == at]
        cand, cand_dt = [cand[i] for i in keep], [cand_dt[i] for i in keep]
    if not cand:
        return []

    # Resources per needed kind, in the given order.
    kinds = [k for k in KINDS if k in needs]
    allowed = {k: frozenset(ids) for k, ids in only.items()} if only else {}
    chosen: dict[str, list[ResourceSpec]] = {k: [] for k in kinds}
    seen: set[int] = set()
    for res in resources:
        kind = res.kind
        if kind not in needs or res.category != needs[kind] or res.id in seen:
            continue
        if kind in allowed and res.id not in allowed[kind]:
            continue
        seen.add(res.id)
        chosen[kind].append(res)
    if any(not chosen[k] for k in kinds):
        return []

    # Windows: rule occurrences of every date that can reach a requested day.
    before = service.buffer_before_min * 60
    after = (service.duration_min + service.buffer_after_min) * 60
    reach = 1 + -(-service.occupied_min // MINUTES_PER_DAY)
    rule_dates = sorted({d + timedelta(days=k) for d in dates for k in range(-reach, reach + 1)})
    holidays = _holiday_spans(branch.holidays, rule_dates[0], rule_dates[-1] + timedelta(days=1), tz)
    span_lo, span_hi = cand[0] - before, cand[-1] + after

    window_cache: dict[tuple[WeeklyRule, ...], list[_Span]] = {}

    def windows(rules: tuple[WeeklyRule, ...]) -> list[_Span]:
        got = window_cache.get(rules)
        if got is None:
            got = _clip(_subtract(_rule_windows(rules, rule_dates, tz), holidays), span_lo, span_hi)
            window_cache[rules] = got
        return got

    if not kinds:  # needs nothing: open hours of the branch decide
        total = _mask(_fit_ranges(windows(branch.hours), cand, before, after))
        ranges_of: dict[int, list[_Span]] = {}
    else:
        total = -1
        ranges_of = {}
        for kind in kinds:
            kind_mask = 0
            for res in chosen[kind]:
                avail = windows(_rules_for(branch, res))
                if not avail:
                    ranges_of[res.id] = []
                    continue
                own_busy = busy.get(res.id)
                free = _subtract(avail, _busy_spans(own_busy, span_lo, span_hi)) if own_busy else avail
                ranges = _fit_ranges(free, cand, before, after)
                ranges_of[res.id] = ranges
                kind_mask |= _mask(ranges)
            total &= kind_mask
            if not total:
                return []

    if total <= 0:
        return []
    bits = bin(total)[:1:-1]  # bit i at index i
    slot_idx = [i for i, c in enumerate(bits) if c == "1"]
    # rank[i] = number of offered slots among candidates 0..i-1
    rank = [0, *itertools.accumulate(c == "1" for c in bits)]
    rank.extend(itertools.repeat(rank[-1], len(cand) + 1 - len(rank)))

    # Free ids per slot and kind, in resource order.
    per_kind: dict[str, list[list[int]]] = {}
    for kind in kinds:
        lists: list[list[int]] = [[] for _ in slot_idx]
        for res in chosen[kind]:
            rid = res.id
            for lo, hi in ranges_of[rid]:
                for t in range(rank[lo], rank[hi]):
                    lists[t].append(rid)
        per_kind[kind] = lists

    duration = timedelta(minutes=service.duration_min)
    buf_before = timedelta(minutes=service.buffer_before_min)
    buf_after = timedelta(minutes=service.buffer_after_min)
    options: list[SlotOption] = []
    for t, i in enumerate(slot_idx):
        start = cand_dt[i]
        end = start + duration
        free_ids = _FrozenMap({k: tuple(per_kind[k][t]) for k in kinds})
        options.append(SlotOption(start, end, start - buf_before, end + buf_after, free_ids))
    return options


def find_slot_at(
    branch: BranchSpec,
    service: ServiceSpec,
    resources: Sequence[ResourceSpec],
    busy: Mapping[int, Sequence[tuple[datetime, datetime]] | Sequence[tuple[int, int]]],
    start: datetime,
    now: datetime,
    *,
    only: Mapping[str, Collection[int]] | None = None,
) -> SlotOption | None:
    """The :class:`SlotOption` for exactly ``start`` (aware), or ``None`` if it is not offered.

    Same rules as :func:`find_slots` over ``start``'s local date, computed for
    that one start only (the booking transaction's check, a fraction of a
    day's search); useful to re-check a start a receptionist picked (e.g. from
    a stale grid) before writing. ``None`` also when ``start`` is off the local 15-minute grid.
    Raises as :func:`find_slots`, and ``ValueError`` for a naive ``start``.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start must be an aware datetime, got naive {start!r}")
    local_date = start.astimezone(branch.zone).date()
    found = find_slots(branch, service, resources, busy, [local_date], now, only=only, _at=start)
    return found[0] if found else None
