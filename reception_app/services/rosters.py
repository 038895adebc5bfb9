"""Rosters, leave and blocks: doctors' weekly shifts, date exceptions, time off and branch holidays.

Every change goes in two steps, so that a booked patient is never stranded
silently (issue 4):

1. :func:`preview_change` (read only) returns the :class:`RosterImpact`: the live,
   not yet finished appointments that fit the roster now and would not fit it
   after the change (outside the doctor's shifts, inside new time off, on a new
   holiday), with the patients' names and phone numbers for rescheduling.
2. :func:`apply_change` writes the change in one SERIALIZABLE transaction. It
   computes the impact again in that transaction and refuses (``ValidationError``
   on ``acknowledged``) unless the caller acknowledged exactly those appointment
   ids (the ones the preview showed); a booking made meanwhile therefore never
   goes unnoticed. For each affected appointment a ``roster_change`` notification
   is queued (``notifications.queue_notification``) in the same transaction. The
   appointments stay booked: reception reschedules them.

Where the rules come from: migration 0003 (``shift_exception`` replaces a
resource's weekly shifts at a branch on one branch-local date, a row without
minutes = off that day; ``time_off.kind``; ``holiday``), docs/architecture.md "Time"
(local wall-clock rules made instants per local date) and the slot engine
(``domain.slots``: what "fits the roster" means). Grants: only managers and
admins may change shifts, exceptions, time off and holidays; anyone else gets
``PermissionDenied`` from the database.

Exceptions are scoped to a branch: the exception rows of (doctor, branch, date)
replace the doctor's weekly shifts *at that branch* on that date (its
``branch_id`` is required by the table), so a doctor covering another branch
for a day needs an exception at each branch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from ..domain import slots as engine
from ..domain.errors import NotFound, ValidationError
from ..domain.slots import ResourceSpec, WeeklyRule, with_exceptions
from ..domain.validation import (
    check_schedule_date,
    check_text,
    clean_name,
    parse_date,
    parse_schedule_instant,
)
from ..domain.wallclock import MINUTES_PER_DAY, day_bounds_utc
from ..store.database import Database
from . import catalog, checks, notifications
from .catalog import BranchInfo, fetch

#: Kinds of time off (migration 0003, ``time_off.kind``).
TIME_OFF_KINDS: tuple[str, ...] = ("leave", "block", "emergency", "training", "other")


# -- read model --------------------------------------------------------------------------
@dataclass(frozen=True)
class ShiftException:
    """One exception row: on branch-local ``local_date`` the doctor works ``start_min``-``end_min``
    (minutes from local midnight; an end at or before the start runs past midnight) instead of the
    weekly pattern, or is off (both ``None``)."""

    id: int
    local_date: date
    start_min: int | None
    end_min: int | None
    note: str


@dataclass(frozen=True)
class TimeOff:
    """A resource's absence: UTC ``[start, end)``, ``kind`` one of :data:`TIME_OFF_KINDS`."""

    id: int
    resource_id: int
    start: datetime
    end: datetime
    kind: str
    reason: str


@dataclass(frozen=True)
class Holiday:
    """A branch-local date on which the branch is closed all day."""

    id: int
    local_date: date
    name: str


@dataclass(frozen=True)
class Roster:
    """One doctor at one branch: the weekly pattern (``shifts``: :class:`WeeklyRule` s with the
    shift ids in ``shift_ids``), the date ``exceptions`` by date, the doctor's ``time_off`` (any
    branch) by start, and the branch's ``holidays`` by date. ``timezone``: the branch's IANA zone."""

    doctor_id: int
    doctor: str
    branch_id: int
    branch: str
    timezone: str
    shifts: tuple[WeeklyRule, ...]
    shift_ids: tuple[int, ...]
    exceptions: tuple[ShiftException, ...]
    time_off: tuple[TimeOff, ...]
    holidays: tuple[Holiday, ...]


def list_doctors(db: Database) -> list[tuple[int, str]]:
    """Every active doctor, ``[(id, name)]`` by name."""
    return db.read(lambda conn: [(int(i), str(n)) for i, n in fetch(
        conn, "SELECT id, name FROM resource WHERE kind = 'doctor' AND active ORDER BY name")])


def load_roster(db: Database, *, doctor: str, branch: str) -> Roster:
    """The roster of ``doctor`` (name) at ``branch`` (name), read in one transaction.

    Raises ``NotFound("doctor" | "branch", …)``, ``ValidationError`` (a name holding a control character).
    """
    checks.names(doctor=doctor, branch=branch)

    def work(conn: Connection) -> Roster:
        b = catalog.load_branch(conn, branch)
        d = catalog.load_resources(conn, {"doctor": doctor})["doctor"]
        shifts = fetch(conn, "SELECT id, weekday, start_min, end_min, valid_from, valid_until FROM shift "
                             "WHERE resource_id = %(r)s AND branch_id = %(b)s ORDER BY weekday, start_min, id",
                       {"r": d.id, "b": b.id})
        exceptions = fetch(conn, "SELECT id, local_date, start_min, end_min, note FROM shift_exception "
                                 "WHERE resource_id = %(r)s AND branch_id = %(b)s "
                                 "ORDER BY local_date, start_min NULLS FIRST, id", {"r": d.id, "b": b.id})
        return Roster(
            doctor_id=d.id, doctor=d.name, branch_id=b.id, branch=b.name, timezone=b.timezone,
            shifts=tuple(WeeklyRule(w, s, e, f, u) for _, w, s, e, f, u in shifts),
            shift_ids=tuple(int(r[0]) for r in shifts),
            exceptions=tuple(ShiftException(*r) for r in exceptions),
            time_off=tuple(_time_off(conn, [d.id])),
            holidays=tuple(Holiday(*r) for r in fetch(
                conn, "SELECT id, local_date, name FROM holiday WHERE branch_id = %(b)s ORDER BY local_date",
                {"b": b.id})))

    return db.read(work)


def _time_off(conn: Connection, resource_ids: list[int], lo: datetime | None = None,
              hi: datetime | None = None) -> list[TimeOff]:
    rows = fetch(conn, "SELECT id, resource_id, lower(period), upper(period), kind, reason FROM time_off "
                       "WHERE resource_id = ANY(%(r)s) AND period && tstzrange(%(lo)s, %(hi)s) "
                       "ORDER BY lower(period), id", {"r": resource_ids, "lo": lo, "hi": hi})
    return [TimeOff(int(i), int(r), a.astimezone(UTC), b.astimezone(UTC), k, why) for i, r, a, b, k, why in rows]


# -- changes -----------------------------------------------------------------------------
@dataclass(frozen=True)
class WeeklyPattern:
    """Replace ``doctor``'s weekly shifts at ``branch`` by ``shifts`` (branch-local rules with
    their ``valid_from``/``valid_until``; an empty tuple removes every weekly shift there)."""

    doctor: str
    branch: str
    shifts: tuple[WeeklyRule, ...]


@dataclass(frozen=True)
class DayException:
    """On branch-local ``local_date`` ``doctor`` works ``intervals`` at ``branch`` instead of the
    weekly pattern: ``(start_min, end_min)`` minutes from local midnight (end <= start runs past
    midnight); an empty tuple = off that day. Replaces that date's earlier exception rows."""

    doctor: str
    branch: str
    local_date: date
    intervals: tuple[tuple[int, int], ...]
    note: str = ""


@dataclass(frozen=True)
class ClearException:
    """Remove ``doctor``'s exception rows at ``branch`` on ``local_date``: the weekly pattern applies again."""

    doctor: str
    branch: str
    local_date: date


@dataclass(frozen=True)
class AddTimeOff:
    """``resource`` (a doctor, room or equipment, by name) is away UTC ``[start, end)`` (aware
    datetimes); ``kind`` one of :data:`TIME_OFF_KINDS`."""

    resource: str
    start: datetime
    end: datetime
    kind: str
    reason: str


@dataclass(frozen=True)
class RemoveTimeOff:
    """Delete the time-off row ``time_off_id`` (frees time; never strands anyone)."""

    time_off_id: int


@dataclass(frozen=True)
class AddHoliday:
    """Close ``branch`` all day on its local date ``local_date``."""

    branch: str
    local_date: date
    name: str


@dataclass(frozen=True)
class RemoveHoliday:
    """Open ``branch`` again on ``local_date`` (deletes the holiday row)."""

    branch: str
    local_date: date


RosterChange = (WeeklyPattern | DayException | ClearException | AddTimeOff | RemoveTimeOff | AddHoliday
                | RemoveHoliday)


@dataclass(frozen=True)
class AffectedAppointment:
    """A live appointment a roster change leaves outside the roster: ``start``/``end`` UTC;
    ``resource`` the doctor/room/equipment the change hits; ``phone`` E.164 or ``None``."""

    appointment_id: int
    patient_id: int
    patient: str
    phone: str | None
    service: str
    branch: str
    resource: str
    start: datetime
    end: datetime
    status: str


@dataclass(frozen=True)
class RosterImpact:
    """What a change would do: ``affected`` appointments by start (empty: nobody is hit), and
    ``description``, one line saying what the change is."""

    affected: tuple[AffectedAppointment, ...]
    description: str

    @property
    def appointment_ids(self) -> frozenset[int]:
        """The ids to pass to :func:`apply_change` as ``acknowledged``."""
        return frozenset(a.appointment_id for a in self.affected)


@dataclass(frozen=True)
class RosterChangeApplied:
    """A committed change: the ``affected`` appointments (still booked, to reschedule) and the
    ids of the ``roster_change`` notifications queued for them."""

    affected: tuple[AffectedAppointment, ...]
    reminder_ids: tuple[int, ...]
    description: str


# -- the roster as the impact check sees it ----------------------------------------------------
@dataclass
class _State:
    """Raw rules of the resources in scope: weekly rows and exceptions per (resource, branch),
    time off per resource, holidays per branch."""

    weekly: dict[tuple[int, int], list[WeeklyRule]]
    exceptions: dict[tuple[int, int], dict[date, list[tuple[int, int]]]]
    time_off: dict[int, list[tuple[datetime, datetime]]]
    holidays: dict[int, set[date]]

    def copy(self) -> _State:
        return _State({k: list(v) for k, v in self.weekly.items()},
                      {k: {d: list(i) for d, i in v.items()} for k, v in self.exceptions.items()},
                      {k: list(v) for k, v in self.time_off.items()},
                      {k: set(v) for k, v in self.holidays.items()})


@dataclass(frozen=True)
class _Booking:
    appointment: AffectedAppointment
    resource_id: int
    kind: str
    branch_id: int
    lo: datetime
    hi: datetime


@dataclass(frozen=True)
class _Resolved:
    """A change with its names resolved: ``resource_id``/``branch_id`` where it has them."""

    change: Any
    resource_id: int | None
    branch_id: int | None
    branch: BranchInfo | None
    description: str


def _check_minutes(start_min: int, end_min: int, field: str) -> tuple[int, int]:
    """Minutes as the tables store them (end 1..1440; an end of 0 is the next midnight, 1440)."""
    end = MINUTES_PER_DAY if end_min == 0 else end_min
    if not 0 <= start_min < MINUTES_PER_DAY or not 1 <= end <= MINUTES_PER_DAY or end == start_min:
        raise ValidationError(field, (start_min, end_min), "must be a start 00:00-23:59 and a different end "
                              "up to 24:00 (an end before the start runs past midnight)")
    if start_min % 15 or end % 15:
        raise ValidationError(field, (start_min, end_min), "must be on the 15-minute grid")
    return start_min, end


def _checked(change: RosterChange) -> RosterChange:
    """``change`` with its plain values checked (no database needed) and normalised: dates (a ``date``
    or ISO text) in 2000-01-01 .. 2099-12-31 (``validation.SCHEDULE_FIRST``/``SCHEDULE_LAST``), time
    off's bounds aware and in that range, names, reasons and notes without control characters.
    Raises ``ValidationError`` naming the field and the value; ``TypeError`` for what is no change."""
    if isinstance(change, WeeklyPattern):
        checks.names(doctor=change.doctor, branch=change.branch)
        if not isinstance(change.shifts, tuple | list):
            raise ValidationError("shifts", change.shifts, "must be a list of weekly shifts")
        for rule in change.shifts:
            if not isinstance(rule, WeeklyRule):
                raise ValidationError("shifts", rule, "is not a weekly shift (weekday, start, end)")
            for field, day in (("valid_from", rule.valid_from), ("valid_until", rule.valid_until)):
                if day is not None:
                    check_schedule_date(day, field)
            if rule.valid_from and rule.valid_until and rule.valid_until < rule.valid_from:
                raise ValidationError("valid_until", rule.valid_until.isoformat(),
                                      f"is before the first date {rule.valid_from.isoformat()}")
        return replace(change, shifts=tuple(change.shifts))
    if isinstance(change, DayException | ClearException):
        checks.names(doctor=change.doctor, branch=change.branch)
        day = parse_date(change.local_date, "local_date")
        if isinstance(change, DayException):
            note = check_text(change.note or "", "note", max_length=checks.TEXT_MAX)
            if not isinstance(change.intervals, tuple | list):
                raise ValidationError("intervals", change.intervals, "must be a list of (start, end) minutes")
            for interval in change.intervals:
                if (not isinstance(interval, tuple | list) or len(interval) != 2
                        or any(isinstance(m, bool) or not isinstance(m, int) for m in interval)):
                    raise ValidationError("intervals", interval, "must be (start, end) minutes from local midnight")
            return replace(change, local_date=day, note=note, intervals=tuple((int(i[0]), int(i[1])) for i in change.intervals))
        return replace(change, local_date=day)
    if isinstance(change, AddTimeOff):
        checks.names(resource=change.resource)
        start = parse_schedule_instant(change.start, "start")
        end = parse_schedule_instant(change.end, "end")
        reason = check_text(change.reason or "", "reason", max_length=checks.TEXT_MAX)
        return replace(change, start=start, end=end, reason=reason)
    if isinstance(change, RemoveTimeOff):
        checks.record_id(change.time_off_id, "time_off", max_value=checks.INTEGER_MAX)
        return change
    if isinstance(change, AddHoliday):
        checks.names(branch=change.branch)
        return replace(change, local_date=parse_date(change.local_date, "local_date"),
                       name=clean_name(change.name, "name"))
    if isinstance(change, RemoveHoliday):
        checks.names(branch=change.branch)
        return replace(change, local_date=parse_date(change.local_date, "local_date"))
    raise TypeError(f"not a roster change: {change!r}")


def _resolve(conn: Connection, change: RosterChange) -> _Resolved:
    """Validate ``change`` and look its names up (``ValidationError``/``NotFound``)."""
    change = _checked(change)
    if isinstance(change, WeeklyPattern | DayException | ClearException):
        b = catalog.load_branch(conn, change.branch)
        d = catalog.load_resources(conn, {"doctor": change.doctor})["doctor"]
        if isinstance(change, WeeklyPattern):
            for rule in change.shifts:
                _check_minutes(rule.start_min, rule.end_min, "shifts")
            what = f"New weekly pattern for {d.name} at {b.name} ({len(change.shifts)} shifts)"
        elif isinstance(change, DayException):
            for start_min, end_min in change.intervals:
                _check_minutes(start_min, end_min, "intervals")
            what = (f"{d.name} off at {b.name} on {change.local_date:%a %d %b %Y}" if not change.intervals else
                    f"{d.name} works other hours at {b.name} on {change.local_date:%a %d %b %Y}")
        else:
            what = f"{d.name} back to the weekly pattern at {b.name} on {change.local_date:%a %d %b %Y}"
        return _Resolved(change, d.id, b.id, b, what)
    if isinstance(change, AddTimeOff):
        r = catalog.load_resources(conn, {"resource": change.resource})["resource"]
        if change.end <= change.start:
            raise ValidationError("end", change.end.isoformat(), "must be after the start")
        if change.kind not in TIME_OFF_KINDS:
            raise ValidationError("kind", change.kind, f"must be one of {', '.join(TIME_OFF_KINDS)}")
        return _Resolved(change, r.id, r.branch_id, None, f"{change.kind.capitalize()} for {r.name}")
    if isinstance(change, RemoveTimeOff):
        rows = fetch(conn, "SELECT t.resource_id, r.name FROM time_off t JOIN resource r ON r.id = t.resource_id "
                           "WHERE t.id = %(i)s", {"i": change.time_off_id})
        if not rows:
            raise NotFound("time_off", change.time_off_id)
        return _Resolved(change, int(rows[0][0]), None, None, f"Time off of {rows[0][1]} removed")
    if isinstance(change, AddHoliday | RemoveHoliday):
        b = catalog.load_branch(conn, change.branch)
        if isinstance(change, AddHoliday):
            clean_name(change.name, "name")
            return _Resolved(change, None, b.id, b, f"{b.name} closed on {change.local_date:%a %d %b %Y}")
        return _Resolved(change, None, b.id, b, f"{b.name} open again on {change.local_date:%a %d %b %Y}")
    raise TypeError(f"not a roster change: {change!r}")


_BOOKINGS_SQL = """
SELECT a.id, a.patient_id, p.display_name, p.phone, s.name, br.name, r.name, a.starts_at, a.ends_at, a.status,
       b.resource_id, r.kind, a.branch_id, lower(b.period), upper(b.period)
  FROM booking b
  JOIN appointment a ON a.id = b.appointment_id
  JOIN patient p ON p.id = a.patient_id
  JOIN service s ON s.id = a.service_id
  JOIN branch br ON br.id = a.branch_id
  JOIN resource r ON r.id = b.resource_id
 WHERE b.live AND upper(b.period) > %(now)s AND (b.hold_until IS NULL OR b.hold_until > %(now)s)
   AND (%(r)s::integer IS NULL OR b.resource_id = %(r)s)
   AND (%(b)s::integer IS NULL OR a.branch_id = %(b)s)
   AND b.period && tstzrange(%(lo)s, %(hi)s)
 ORDER BY a.starts_at, a.id
"""


def _bookings_in_scope(conn: Connection, r: _Resolved, now: datetime) -> list[_Booking]:
    """The live bookings (not finished at ``now``) the change could push out of the roster."""
    c = r.change
    lo: datetime | None = None
    hi: datetime | None = None
    resource_id, branch_id = r.resource_id, r.branch_id
    if isinstance(c, RemoveTimeOff | RemoveHoliday):
        return []  # only frees time
    if isinstance(c, AddTimeOff):
        lo, hi, branch_id = c.start, c.end, None
    elif isinstance(c, AddHoliday):
        assert r.branch is not None
        lo, hi = day_bounds_utc(c.local_date, r.branch.tz)
    elif isinstance(c, DayException | ClearException):
        # That day's bookings, and the next day's (an overnight shift of the day spills into it).
        assert r.branch is not None
        lo = day_bounds_utc(c.local_date, r.branch.tz)[0]
        hi = day_bounds_utc(c.local_date + timedelta(days=1), r.branch.tz)[1]
    rows = fetch(conn, _BOOKINGS_SQL, {"now": now, "r": resource_id, "b": branch_id, "lo": lo, "hi": hi})
    return [_Booking(AffectedAppointment(int(a), int(p), name, phone, svc, brn, res, st.astimezone(UTC),
                                         en.astimezone(UTC), status), int(rid), kind, int(bid),
                     blo.astimezone(UTC), bhi.astimezone(UTC))
            for a, p, name, phone, svc, brn, res, st, en, status, rid, kind, bid, blo, bhi in rows]


def _load_state(conn: Connection, bookings: list[_Booking], r: _Resolved) -> _State:
    pairs = {(b.resource_id, b.branch_id) for b in bookings if b.kind == "doctor"}
    if r.resource_id is not None and r.branch_id is not None:
        pairs.add((r.resource_id, r.branch_id))
    weekly: dict[tuple[int, int], list[WeeklyRule]] = defaultdict(list)
    exceptions: dict[tuple[int, int], dict[date, list[tuple[int, int]]]] = defaultdict(dict)
    if pairs:
        rids, bids = [p[0] for p in pairs], [p[1] for p in pairs]
        for rid, bid, src, w, s, e, f, u in fetch(conn,
                "SELECT resource_id, branch_id, 'w', weekday, start_min, end_min, valid_from, valid_until "
                "FROM shift JOIN unnest(%(r)s::integer[], %(b)s::integer[]) AS k(r, b) "
                "  ON resource_id = k.r AND branch_id = k.b "
                "UNION ALL SELECT resource_id, branch_id, 'x', NULL, start_min, end_min, local_date, NULL "
                "FROM shift_exception JOIN unnest(%(r)s::integer[], %(b)s::integer[]) AS k(r, b) "
                "  ON resource_id = k.r AND branch_id = k.b", {"r": rids, "b": bids}):
            if src == "w":
                weekly[(rid, bid)].append(WeeklyRule(w, s, e, f, u))
            else:
                day = exceptions[(rid, bid)].setdefault(f, [])
                if s is not None:
                    day.append((s, e))
    time_off: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    if bookings:
        lo, hi = min(b.lo for b in bookings), max(b.hi for b in bookings)
        for o in _time_off(conn, sorted({b.resource_id for b in bookings}), lo, hi):
            time_off[o.resource_id].append((o.start, o.end))
    return _State(weekly, exceptions, time_off, defaultdict(set))


def _after(state: _State, r: _Resolved) -> _State:
    """``state`` as it would be after the change (resolved names in ``r``)."""
    out = state.copy()
    c = r.change
    key = (r.resource_id or 0, r.branch_id or 0)
    if isinstance(c, WeeklyPattern):
        out.weekly[key] = [replace(rule, end_min=_check_minutes(rule.start_min, rule.end_min, "shifts")[1])
                           for rule in c.shifts]
    elif isinstance(c, DayException):
        out.exceptions.setdefault(key, {})[c.local_date] = [_check_minutes(s, e, "intervals")
                                                            for s, e in c.intervals]
    elif isinstance(c, ClearException):
        out.exceptions.setdefault(key, {}).pop(c.local_date, None)
    elif isinstance(c, AddTimeOff):
        out.time_off.setdefault(key[0], []).append((c.start.astimezone(UTC), c.end.astimezone(UTC)))
    elif isinstance(c, AddHoliday):
        out.holidays.setdefault(key[1], set()).add(c.local_date)
    return out


def _fits(b: _Booking, state: _State, branches: dict[int, BranchInfo]) -> bool:
    """Whether booking ``b`` lies inside its resource's roster in ``state`` and clear of its time off."""
    if any(lo < b.hi and b.lo < hi for lo, hi in state.time_off.get(b.resource_id, ())):
        return False
    info = branches[b.branch_id]
    spec = info.spec
    extra = state.holidays.get(b.branch_id)
    if extra:
        spec = replace(spec, holidays=spec.holidays | frozenset(extra))
    key = (b.resource_id, b.branch_id)
    rules = with_exceptions(state.weekly.get(key, ()), state.exceptions.get(key, {}))
    res = ResourceSpec(id=b.resource_id, name="", kind=b.kind, category="-", rules=rules)
    local_day = b.lo.astimezone(info.tz).date()
    windows = engine.resource_availability(spec, res, local_day, clip=False)
    return any(a <= b.lo and b.hi <= z for a, z in windows)


def _impact(conn: Connection, r: _Resolved, now: datetime) -> tuple[AffectedAppointment, ...]:
    bookings = _bookings_in_scope(conn, r, now)
    if not bookings:
        return ()
    branches = {bid: catalog.load_branch(conn, bid) for bid in {b.branch_id for b in bookings}}
    before = _load_state(conn, bookings, r)
    after = _after(before, r)
    hit: dict[int, AffectedAppointment] = {}
    for b in bookings:
        if b.appointment.appointment_id not in hit and _fits(b, before, branches) and not _fits(b, after, branches):
            hit[b.appointment.appointment_id] = b.appointment
    return tuple(sorted(hit.values(), key=lambda a: (a.start, a.appointment_id)))


def _require_aware(now: datetime) -> None:
    """``ValidationError("now", …)`` for a ``now`` without offset or outside 2000-01-01 .. 2099-12-31."""
    parse_schedule_instant(now, "now")


def preview_change(db: Database, change: RosterChange, *, now: datetime) -> RosterImpact:
    """The impact of ``change`` (read only, nothing written): the live appointments not finished at
    ``now`` (aware) that fit the roster now and would not after the change, by start.

    Raises ``ValidationError`` (bad minutes or times, dates outside 2000-01-01 .. 2099-12-31, unknown
    kind, a name, reason or note holding a control character), ``NotFound`` (names).
    """
    _require_aware(now)

    def work(conn: Connection) -> RosterImpact:
        r = _resolve(conn, change)
        return RosterImpact(_impact(conn, r, now), r.description)

    return db.read(work)


def _write(conn: Connection, r: _Resolved) -> None:
    c = r.change
    ids = {"r": r.resource_id, "b": r.branch_id}
    if isinstance(c, WeeklyPattern):
        fetch(conn, "DELETE FROM shift WHERE resource_id = %(r)s AND branch_id = %(b)s RETURNING id", ids)
        for rule in c.shifts:
            start_min, end_min = _check_minutes(rule.start_min, rule.end_min, "shifts")
            fetch(conn, "INSERT INTO shift (resource_id, branch_id, weekday, start_min, end_min, valid_from, "
                        "valid_until) VALUES (%(r)s, %(b)s, %(w)s, %(s)s, %(e)s, %(f)s, %(u)s) RETURNING id",
                  ids | {"w": rule.weekday, "s": start_min, "e": end_min, "f": rule.valid_from,
                         "u": rule.valid_until})
    elif isinstance(c, DayException | ClearException):
        fetch(conn, "DELETE FROM shift_exception WHERE resource_id = %(r)s AND branch_id = %(b)s "
                    "AND local_date = %(d)s RETURNING id", ids | {"d": c.local_date})
        if isinstance(c, DayException):
            rows: Iterable[tuple[int | None, int | None]] = c.intervals or [(None, None)]
            for first, last in rows:
                fetch(conn, "INSERT INTO shift_exception (resource_id, branch_id, local_date, start_min, end_min, "
                            "note) VALUES (%(r)s, %(b)s, %(d)s, %(s)s, %(e)s, %(n)s) RETURNING id",
                      ids | {"d": c.local_date, "s": first,
                             "e": None if last is None else (last or MINUTES_PER_DAY), "n": c.note.strip()})
    elif isinstance(c, AddTimeOff):
        fetch(conn, "INSERT INTO time_off (resource_id, period, reason, kind) "
                    "VALUES (%(r)s, tstzrange(%(s)s, %(e)s), %(why)s, %(k)s) RETURNING id",
              {"r": r.resource_id, "s": c.start, "e": c.end, "why": c.reason.strip(), "k": c.kind})
    elif isinstance(c, RemoveTimeOff):
        fetch(conn, "DELETE FROM time_off WHERE id = %(i)s RETURNING id", {"i": c.time_off_id})
    elif isinstance(c, AddHoliday):
        fetch(conn, "INSERT INTO holiday (branch_id, local_date, name) VALUES (%(b)s, %(d)s, %(n)s) RETURNING id",
              {"b": r.branch_id, "d": c.local_date, "n": clean_name(c.name, "name")})
    elif isinstance(c, RemoveHoliday):
        if not fetch(conn, "DELETE FROM holiday WHERE branch_id = %(b)s AND local_date = %(d)s RETURNING id",
                     {"b": r.branch_id, "d": c.local_date}):
            raise NotFound("holiday", c.local_date.isoformat())


def apply_change(db: Database, change: RosterChange, *, acknowledged: Collection[int], now: datetime,
                 reason: str | None = None) -> RosterChangeApplied:
    """Write ``change`` in one SERIALIZABLE transaction, with a ``roster_change`` notification queued
    for each appointment it leaves outside the roster.

    ``acknowledged``: the appointment ids the caller showed the user (``RosterImpact.appointment_ids``
    of :func:`preview_change`; empty when the preview found none). The impact is computed again in
    the write transaction; when it differs (someone booked or cancelled meanwhile) nothing is
    written and ``ValidationError("acknowledged", …)`` says to preview again. ``now``: aware;
    ``reason`` goes to the audit trail (default: the change's description).

    Raises ``ValidationError`` (as :func:`preview_change`; a reason holding a control character),
    ``NotFound``, ``PermissionDenied`` (only managers and admins change rosters: the database's grants).
    Nothing is written on any error.
    """
    _require_aware(now)
    checks.optional_text(reason, "reason")
    acked = frozenset(int(i) for i in acknowledged)

    def work(conn: Connection) -> RosterChangeApplied:
        r = _resolve(conn, change)
        affected = _impact(conn, r, now)
        ids = frozenset(a.appointment_id for a in affected)
        if ids != acked:
            new = sorted(ids - acked)
            gone = sorted(acked - ids)
            detail = "; ".join(part for part in (
                f"now also affects appointment(s) {', '.join(map(str, new))}" if new else "",
                f"no longer affects {', '.join(map(str, gone))}" if gone else "") if part)
            raise ValidationError("acknowledged", sorted(acked),
                                  f"the appointments this change affects changed since the preview ({detail}); "
                                  "preview the change again")
        _write(conn, r)
        reminders = [rid for a in affected
                     for rid in notifications.queue_notification(conn, a.appointment_id, "roster_change")]
        return RosterChangeApplied(affected, tuple(reminders), r.description)

    desc = reason or type(change).__name__
    return db.write(work, reason=f"roster: {desc}")
