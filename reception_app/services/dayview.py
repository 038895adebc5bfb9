"""Read model of the day grid: one branch, one local date, its resources and appointments.

Plain values in, plain values out, one short READ ONLY transaction per call
(docs/architecture.md "Transactions": reads for grids). The window draws exactly what
:func:`load_day` returns; nothing here knows about Qt.

Time: every instant is an aware UTC ``datetime``; the grid's rows are the
15-minute *local* wall-clock lines of the branch's day (``wallclock.grid_starts``),
so a fall-back day has two rows labelled ``01:00`` (see :func:`row_labels`) and a
spring-forward day has none for the skipped hour.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.formats import DEFAULT_LOCALE, Formats, formats_for
from ..domain.slots import KINDS, BranchSpec, ResourceSpec, WeeklyRule, resource_availability
from ..domain.wallclock import GRID_STEP_MIN, UTC, day_bounds_utc, grid_starts, local_to_utc
from ..store.database import Database
from . import catalog
from .appointments import AppointmentView, appointments_with, day_where
from .catalog import BranchInfo

Interval = tuple[datetime, datetime]

#: Appointment markers (:attr:`DayView.markers`), in the order the grid shows them:
#:
#: * ``"first_visit"`` -- the patient has no earlier appointment (any branch, any service) that was
#:   not cancelled or rescheduled: a no-show or a completed visit before it counts as earlier.
#: * ``"payment_pending"`` -- the appointment's status is ``payment_pending``.
#: * ``"reminder_failed"`` -- a row of table ``reminder`` for the appointment has status ``failed`` and
#:   reception has not marked it handled yet (migration 0004, ``handled_at``).
#: * ``"online"`` -- booked (or held) by the patient on the portal (``source = 'online'``; issue 17).
#: * ``"patient_confirmed"`` -- the patient confirmed from their link that they will come
#:   (``patient_confirmed_at``, migration 0014).
#: * ``"patient_note"`` -- the patient left a note for the desk on the portal (``patient_note``).
MARKER_KINDS: tuple[str, ...] = ("first_visit", "payment_pending", "reminder_failed", "online",
                                 "patient_confirmed", "patient_note")

#: Local wall-clock range shown on a day the branch does not open and nobody works (minutes from midnight).
DEFAULT_RANGE_MIN: tuple[int, int] = (7 * 60, 19 * 60)


@dataclass(frozen=True)
class BranchSummary:
    """A branch for selectors: ``id``, ``name``, its IANA ``timezone``, its ``locale`` (``"pt_BR"``,
    migration 0013) and the clinic's ``currency`` (ISO 4217)."""

    id: int
    name: str
    timezone: str
    locale: str = DEFAULT_LOCALE
    currency: str = "EUR"

    @property
    def tz(self) -> ZoneInfo:
        """The branch's ``ZoneInfo``."""
        return ZoneInfo(self.timezone)

    @property
    def formats(self) -> Formats:
        """How the branch writes dates, times, money and phones (``domain.formats``)."""
        return formats_for(self.locale, self.currency)


@dataclass(frozen=True)
class ServiceSummary:
    """An active service for pickers. ``duration_min`` in minutes; ``needs``: kind -> category
    (specialty for doctors, room kind, equipment kind), only the kinds it needs."""

    id: int
    name: str
    duration_min: int
    needs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TimeOffView:
    """A resource's time off overlapping the day: UTC ``[start, end)`` clipped to the day, and why.

    ``kind``: ``leave`` | ``block`` | ``emergency`` | ``training`` | ``other`` (migration 0003,
    ``time_off.kind``; the grid may shade them differently, see :data:`TIME_OFF_KINDS`)."""

    start: datetime
    end: datetime
    reason: str
    kind: str = "leave"


#: Time-off kinds (migration 0003) and how the grid names them.
TIME_OFF_KINDS: dict[str, str] = {"leave": "Leave", "block": "Blocked", "emergency": "Emergency",
                                  "training": "Training", "other": "Away"}


@dataclass(frozen=True)
class GridResource:
    """One column of the grid.

    ``kind``: one of ``KINDS``; ``category``: specialty / room kind / equipment kind.
    ``availability``: UTC windows within the local day during which the resource
    works (doctors: their shifts at this branch; rooms and equipment: the
    branch's opening hours), holidays removed, time off *not* removed.
    ``time_off``: the resource's absences overlapping the day.
    ``exception``: ``None`` when the weekly pattern applies that day; otherwise the
    roster exception (table ``shift_exception``) that replaces it: ``"off"`` or
    ``"extra"`` (other hours), with the exception's note after a colon when it has one
    (``"off: sick child"``). ``availability`` already follows it.
    """

    id: int
    name: str
    kind: str
    category: str
    availability: tuple[Interval, ...] = ()
    time_off: tuple[TimeOffView, ...] = ()
    exception: str | None = None

    def is_available(self, start: datetime, end: datetime) -> bool:
        """Whether ``[start, end)`` (UTC) lies inside one availability window."""
        return any(a <= start and end <= b for a, b in self.availability)

    def time_off_at(self, start: datetime, end: datetime) -> TimeOffView | None:
        """The time off overlapping ``[start, end)`` (UTC), if any."""
        return next((o for o in self.time_off if o.start < end and start < o.end), None)


@dataclass(frozen=True)
class DayView:
    """Everything the day grid shows for one branch on one local date.

    ``rows``: UTC instants of the 15-minute local grid lines shown, ascending;
    each row covers ``[rows[i], rows[i] + step_min)``. They span the branch's
    opening hours, the resources' shifts and the day's appointments; on a day
    with none of these, :data:`DEFAULT_RANGE_MIN` local time.
    ``opening``: the branch's open windows that day (UTC; empty = closed).
    ``holiday``: the holiday's name, or ``None``.
    ``resources``: doctors (with a shift at the branch), rooms, equipment, in
    ``KINDS`` order then by name, plus any other resource booked that day.
    ``appointments``: the day's live appointments (cancelled/rescheduled left
    out), by start.
    ``markers``: appointment id -> its markers (a subset of :data:`MARKER_KINDS`);
    appointments without any marker are left out.
    ``cancelled``: the day's cancelled appointments (status ``cancelled``, those running into
    the day included), by start, with the resources they had booked: the grid draws them as
    faint outlines (the time was booked once) that never take a cell. Not in ``appointments``
    and never counted with them.
    """

    branch: BranchSummary
    local_date: date
    rows: tuple[datetime, ...]
    opening: tuple[Interval, ...]
    holiday: str | None
    resources: tuple[GridResource, ...]
    appointments: tuple[AppointmentView, ...]
    step_min: int = GRID_STEP_MIN
    markers: dict[int, frozenset[str]] = field(default_factory=dict)
    cancelled: tuple[AppointmentView, ...] = ()

    @property
    def closed(self) -> bool:
        """True when the branch does not open on this local date (no hours, or a holiday)."""
        return not self.opening

    @property
    def tz(self) -> ZoneInfo:
        """The branch's ``ZoneInfo``."""
        return self.branch.tz


# -- lists for selectors ------------------------------------------------------------
def list_branches(db: Database) -> list[BranchSummary]:
    """Every branch, by name (empty on a fresh database)."""
    return db.read(lambda conn: [BranchSummary(r.id, r.name, r.timezone, r.locale or DEFAULT_LOCALE,
                                               r.currency or "EUR") for r in conn.execute(
        text("SELECT id, name, timezone, locale, (SELECT s.value #>> '{}' FROM clinic_setting s "
             "WHERE s.key = 'currency') AS currency FROM branch ORDER BY name"))])


def list_services(db: Database) -> list[ServiceSummary]:
    """Every active service, by name, with the resource categories it needs."""
    def work(conn: Connection) -> list[ServiceSummary]:
        out = []
        for r in conn.execute(text("SELECT id, name, duration_min, doctor_specialty, room_kind, equipment_kind "
                                   "FROM service WHERE active ORDER BY name")):
            needs = {k: v for k, v in (("doctor", r.doctor_specialty), ("room", r.room_kind),
                                       ("equipment", r.equipment_kind)) if v}
            out.append(ServiceSummary(r.id, r.name, r.duration_min, needs))
        return out
    return db.read(work)


# -- the day -------------------------------------------------------------------------
_RESOURCES_SQL = """
SELECT r.id, r.name, r.kind, r.category FROM resource r
 WHERE (r.active AND ((r.kind <> 'doctor' AND r.branch_id = :b)
                      OR (r.kind = 'doctor' AND EXISTS (SELECT 1 FROM shift s
                                                         WHERE s.resource_id = r.id AND s.branch_id = :b)
                                        OR EXISTS (SELECT 1 FROM shift_exception e
                                                    WHERE e.resource_id = r.id AND e.branch_id = :b
                                                      AND e.local_date = :d))))
    OR r.id = ANY(:extra)
"""


def load_day(db: Database, branch: str | int, local_date: date) -> DayView:
    """The grid of ``branch`` (name or id) on branch-local ``local_date``, read in one transaction.

    Raises ``NotFound("branch", …)`` for an unknown branch, ``DatabaseUnavailable``.
    """
    return db.read(lambda conn: _load_day(conn, branch, local_date))


def _load_day(conn: Connection, branch_key: str | int, local_date: date, *,
              branch: BranchInfo | None = None,
              shifts: dict[int, tuple[WeeklyRule, ...]] | None = None) -> DayView:
    """One day; ``branch`` (its holidays loaded around ``local_date``) and ``shifts`` may be given
    by a caller that reads several days of one branch (:func:`load_week`)."""
    if branch is None:
        branch = catalog.load_branch(conn, branch_key, local_date - timedelta(days=1),
                                     local_date + timedelta(days=2))
    tz = branch.tz
    day_lo, day_hi = day_bounds_utc(local_date, tz)
    appointments, markers, cancelled = _day_appointments(conn, branch, local_date)
    booked_ids = sorted({rid for a in appointments for rid in a.resource_ids.values()})

    rows = conn.execute(text(_RESOURCES_SQL), {"b": branch.id, "extra": booked_ids, "d": local_date}).all()
    if shifts is None:
        shifts = _shifts(conn, branch.id)
    absences: dict[int, list[TimeOffView]] = defaultdict(list)
    for o in conn.execute(text("SELECT resource_id, lower(period) AS lo, upper(period) AS hi, reason, kind FROM time_off "
                               "WHERE resource_id = ANY(:ids) AND period && tstzrange(:lo, :hi) "
                               "ORDER BY lower(period)"),
                          {"ids": [r.id for r in rows], "lo": day_lo, "hi": day_hi}):
        # An unbounded end of the range reads as the day's edge.
        absences[o.resource_id].append(TimeOffView(max(o.lo or day_lo, day_lo).astimezone(UTC),
                                                   min(o.hi or day_hi, day_hi).astimezone(UTC), o.reason, o.kind))
    exceptions: dict[int, str] = {}
    for e in conn.execute(text("SELECT resource_id, bool_or(start_min IS NOT NULL) AS works, "
                               "string_agg(nullif(note, ''), '; ') AS note FROM shift_exception "
                               "WHERE branch_id = :b AND local_date = :d GROUP BY resource_id"),
                          {"b": branch.id, "d": local_date}):
        exceptions[e.resource_id] = ("extra" if e.works else "off") + (f": {e.note}" if e.note else "")
    holiday = conn.execute(text("SELECT name FROM holiday WHERE branch_id = :b AND local_date = :d LIMIT 1"),
                           {"b": branch.id, "d": local_date}).scalar()

    resources = []
    for r in sorted(rows, key=lambda r: (KINDS.index(r.kind) if r.kind in KINDS else len(KINDS), r.name)):
        spec = ResourceSpec(id=r.id, name=r.name, kind=r.kind, category=r.category,
                            rules=tuple(shifts.get(r.id, ())))
        resources.append(GridResource(r.id, r.name, r.kind, r.category,
                                      tuple(resource_availability(branch.spec, spec, local_date)),
                                      tuple(absences.get(r.id, ())), exceptions.get(r.id)))
    opening = _opening(branch.spec, local_date)

    summary = BranchSummary(branch.id, branch.name, branch.timezone, branch.locale, branch.currency)
    return DayView(branch=summary, local_date=local_date,
                   rows=tuple(_rows(local_date, tz, opening, resources, appointments)),
                   opening=opening, holiday=holiday, resources=tuple(resources),
                   appointments=tuple(appointments), markers=markers, cancelled=tuple(cancelled))


def _shifts(conn: Connection, branch_id: int) -> dict[int, tuple[WeeklyRule, ...]]:
    """Every doctor's effective shift rules at the branch (weekly pattern with the date
    exceptions applied: ``catalog.shift_rules``), by resource id."""
    return catalog.shift_rules(conn, branch_id)


def _opening(spec: BranchSpec, local_date: date) -> tuple[Interval, ...]:
    """The branch's own hours on ``local_date`` (UTC): what a room of the branch would be open for."""
    return tuple(resource_availability(spec, ResourceSpec(id=0, name="", kind="room", category=""), local_date))


# The markers, computed in the day's one query (appointments.appointments_with). "Earlier" is an
# earlier start; a no-show or a completed visit counts, a cancelled or rescheduled one does not
# (clinic_status_is_live, as the bookings). An online hold without a patient yet is nobody's first visit.
_MARKER_COLUMNS = """,
  a.patient_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM appointment e
               WHERE e.patient_id = a.patient_id AND e.starts_at < a.starts_at
                 AND clinic_status_is_live(e.status)) AS first_visit,
  EXISTS (SELECT 1 FROM reminder m WHERE m.appointment_id = a.id AND m.status = 'failed'
          AND m.handled_at IS NULL) AS reminder_failed,
  a.patient_confirmed_at IS NOT NULL AS patient_confirmed,
  a.patient_note IS NOT NULL AS patient_note
"""


def _day_appointments(conn: Connection, branch: BranchInfo, local_date: date
                      ) -> tuple[list[AppointmentView], dict[int, frozenset[str]], list[AppointmentView]]:
    """The grid's appointments of the day (live ones, those running into it included), their
    markers (:data:`MARKER_KINDS`) by id, those without any left out, and the day's cancelled
    appointments (no markers) — one statement."""
    where, params = day_where(branch, local_date, include_released=True, overlapping=True)
    where += " AND (clinic_status_is_live(a.status) OR a.status = 'cancelled')"
    appointments: list[AppointmentView] = []
    cancelled: list[AppointmentView] = []
    markers: dict[int, frozenset[str]] = {}
    for view, (first_visit, reminder_failed, confirmed, noted) in appointments_with(conn, where, params,
                                                                                   _MARKER_COLUMNS):
        if view.status == "cancelled":
            cancelled.append(view)
            continue
        appointments.append(view)
        keys = [k for k, on in (("payment_pending", view.status == "payment_pending"),
                                ("first_visit", first_visit), ("reminder_failed", reminder_failed),
                                ("online", view.source == "online"), ("patient_confirmed", confirmed),
                                ("patient_note", noted)) if on]
        if keys:
            markers[view.id] = frozenset(keys)
    return appointments, markers, cancelled


# -- the week ------------------------------------------------------------------------
@dataclass(frozen=True)
class WeekView:
    """Monday to Sunday of one branch: ``days`` are the seven :class:`DayView` (as :func:`load_day`
    would give each, read in one transaction), ``days[0].local_date`` the Monday."""

    branch: BranchSummary
    days: tuple[DayView, ...]

    @property
    def monday(self) -> date:
        """The week's first local date (a Monday)."""
        return self.days[0].local_date

    @property
    def tz(self) -> ZoneInfo:
        """The branch's ``ZoneInfo``."""
        return self.branch.tz

    @property
    def appointments(self) -> tuple[AppointmentView, ...]:
        """The week's appointments, each once (one that runs past midnight is in two days), by start."""
        seen: dict[int, AppointmentView] = {}
        for day in self.days:
            for a in day.appointments:
                seen.setdefault(a.id, a)
        return tuple(sorted(seen.values(), key=lambda a: (a.start, a.id)))


def week_start(local_date: date) -> date:
    """The Monday of ``local_date``'s week (local dates: no DST arithmetic involved)."""
    return local_date - timedelta(days=local_date.weekday())


def load_week(db: Database, branch: str | int, monday: date) -> WeekView:
    """The seven days, Monday to Sunday, of the week containing ``monday`` (normally the Monday
    itself; any date of the week gives the same week) at ``branch`` (name or id), in one
    READ ONLY transaction.

    Raises ``NotFound("branch", …)`` for an unknown branch, ``DatabaseUnavailable``.
    """
    first = week_start(monday)
    dates = [first + timedelta(days=i) for i in range(7)]

    def work(conn: Connection) -> WeekView:
        info = catalog.load_branch(conn, branch, first - timedelta(days=1), first + timedelta(days=8))
        shifts = _shifts(conn, info.id)
        days = tuple(_load_day(conn, info.id, d, branch=info, shifts=shifts) for d in dates)
        return WeekView(days[0].branch, days)

    return db.read(work)


# -- the month (the side calendar) ------------------------------------------------------
@dataclass(frozen=True)
class MonthOverview:
    """What the month calendar marks for one branch and month.

    ``counts``: local date -> live appointments starting that day (dates without any left out).
    ``closed``: local date -> why the branch is closed all day: ``"Holiday: <name>"`` or
    ``"Closed"`` (no opening hours that weekday). Dates are branch-local.
    """

    branch_id: int
    year: int
    month: int
    counts: dict[date, int]
    closed: dict[date, str]


def _month_dates(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    after = date(year + month // 12, month % 12 + 1, 1)
    return [first + timedelta(days=i) for i in range((after - first).days)]


def _month_counts(conn: Connection, branch: BranchInfo, dates: list[date]) -> dict[date, int]:
    lo, hi = day_bounds_utc(dates[0], branch.tz)[0], day_bounds_utc(dates[-1], branch.tz)[1]
    rows = conn.execute(text("SELECT (starts_at AT TIME ZONE :tz)::date AS d, count(*) AS n FROM appointment "
                             "WHERE branch_id = :b AND starts_at >= :lo AND starts_at < :hi "
                             "AND clinic_status_is_live(status) GROUP BY 1"),
                        {"tz": branch.timezone, "b": branch.id, "lo": lo, "hi": hi})
    return {r.d: r.n for r in rows}


def month_load(db: Database, branch_id: int, year: int, month: int) -> dict[date, int]:
    """Live appointments (cancelled/rescheduled left out) starting on each branch-local date of
    ``year``-``month`` at branch ``branch_id``; dates without any are left out. One READ ONLY
    transaction. Raises ``NotFound("branch", …)``, ``ValueError`` for a bad month."""
    dates = _month_dates(year, month)
    return db.read(lambda conn: _month_counts(conn, catalog.load_branch(conn, branch_id), dates))


def month_overview(db: Database, branch_id: int, year: int, month: int) -> MonthOverview:
    """:func:`month_load`'s counts and the days the branch is closed (holidays, no opening
    hours), in one READ ONLY transaction: what ``ui.month_calendar.MonthCalendar`` shows.
    Raises ``NotFound("branch", …)``, ``ValueError`` for a bad month."""
    dates = _month_dates(year, month)

    def work(conn: Connection) -> MonthOverview:
        branch = catalog.load_branch(conn, branch_id, dates[0] - timedelta(days=1), dates[-1] + timedelta(days=2))
        names: dict[date, str] = dict(conn.execute(text("SELECT local_date, min(name) FROM holiday WHERE branch_id = :b "
                                       "AND local_date BETWEEN :f AND :u GROUP BY local_date"),
                                  {"b": branch.id, "f": dates[0], "u": dates[-1]}).all())
        closed = {}
        for d in dates:
            if d in names:
                closed[d] = f"Holiday: {names[d]}"
            elif not _opening(branch.spec, d):
                closed[d] = "Closed"
        return MonthOverview(branch.id, year, month, _month_counts(conn, branch, dates), closed)

    return db.read(work)


def _rows(local_date: date, tz: ZoneInfo, opening: tuple[Interval, ...], resources: list[GridResource],
          appointments: list[AppointmentView]) -> list[datetime]:
    """The grid lines to show: the span of hours, shifts and appointments, or the default range."""
    spans: list[Interval] = list(opening)
    spans += [w for r in resources for w in r.availability]
    spans += [(a.start, a.end) for a in appointments]
    grid = grid_starts(local_date, tz, GRID_STEP_MIN)
    if spans:
        lo, hi = min(s for s, _ in spans), max(e for _, e in spans)
    else:
        lo = local_to_utc(local_date, DEFAULT_RANGE_MIN[0], tz)
        hi = local_to_utc(local_date, DEFAULT_RANGE_MIN[1], tz, latest=True)
    step = timedelta(minutes=GRID_STEP_MIN)
    shown = [g for g in grid if g + step > lo and g < hi]
    return shown or grid


def row_labels(rows: tuple[datetime, ...] | list[datetime], tz: ZoneInfo) -> list[str]:
    """Local ``HH:MM`` labels of grid rows (UTC instants) in zone ``tz``.

    A local time that occurs a second time on the same day (DST fall-back)
    is labelled ``"01:00 (2nd)"``, so every label is unique and readable.
    """
    seen: set[str] = set()
    out = []
    for instant in rows:
        label = instant.astimezone(tz).strftime("%H:%M")
        out.append(f"{label} (2nd)" if label in seen else label)
        seen.add(label)
    return out


def local_time_text(instant: datetime, tz: ZoneInfo, *, with_offset: bool = False) -> str:
    """``HH:MM`` of ``instant`` (aware) on the branch's wall clock; ``with_offset`` adds e.g. ``UTC-03:00``."""
    local = instant.astimezone(tz)
    if not with_offset:
        return local.strftime("%H:%M")
    return f"{local:%H:%M} {utc_offset_text(local)}"


def utc_offset_text(local: datetime) -> str:
    """``"UTC-03:00"`` for an aware local datetime (``"UTC"`` for offset zero)."""
    offset = local.utcoffset() or timedelta(0)
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
