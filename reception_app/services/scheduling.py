"""Use cases of the day grid: find free slots, book, cancel, list a day.

Each function takes plain values and a ``Database`` and runs one transaction.
The slot engine (``domain.slots``) decides what to *offer*; on booking it is
run again inside the SERIALIZABLE write transaction, and the exclusion
constraint decides what *commits* (DESIGN.md, "The one rule").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text, update
from sqlalchemy.engine import Connection

from ..domain import slots as engine
from ..domain.errors import InvalidTransition, NotFound, PermissionDenied, SlotTaken, ValidationError
from ..domain.slots import KINDS
from ..domain.status import LABELS, check_transition
from ..domain.validation import SOURCES, clean_name
from ..domain.wallclock import GRID_STEP_MIN, check_local_time_exists, day_bounds_utc, is_on_grid
from ..store import schema as t
from ..store.database import Database
from . import catalog
from .catalog import BranchInfo, ServiceInfo

#: Statuses a new appointment may start in (the lifecycle issue adds holds and approvals on top).
BOOKABLE_STATUSES = ("confirmed", "requested", "held", "payment_pending")


@dataclass(frozen=True)
class SlotOffer:
    """One free start. ``start``/``end``: the appointment's own UTC times (no
    buffers); ``resources``: kind → name of the first free combination;
    ``choices``: kind → [(id, name), …] of every resource free for it."""

    start: datetime
    end: datetime
    resources: dict[str, str]
    resource_ids: dict[str, int]
    choices: dict[str, list[tuple[int, str]]]

    def to_json(self) -> dict[str, Any]:
        return {"start": iso_utc(self.start), "end": iso_utc(self.end), "resources": dict(self.resources)}


@dataclass(frozen=True)
class AppointmentView:
    """An appointment as screens and the CLI show it; times are UTC."""

    id: int
    client_id: str
    branch_id: int
    branch: str
    service_id: int
    service: str
    patient_id: int
    patient: str
    status: str
    start: datetime
    end: datetime
    source: str
    resources: dict[str, str] = field(default_factory=dict)
    resource_ids: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "start": iso_utc(self.start), "end": iso_utc(self.end), "status": self.status,
                "branch": self.branch, "service": self.service, "patient_id": self.patient_id,
                "patient": self.patient, "source": self.source, "resources": dict(self.resources)}


def iso_utc(instant: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix: ``2027-01-04T11:00:00Z``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- slot search -----------------------------------------------------------------
def _resolve_only(conn: Connection, pins: dict[str, str | None]) -> dict[str, list[int]]:
    """Pinned resources by name (one query): ``{kind: name or None}`` → ``{kind: [id]}``."""
    found = catalog.load_resources(conn, {k: n for k, n in pins.items() if n})
    return {kind: [info.id] for kind, info in found.items()}


def _search(conn: Connection, branch: BranchInfo, service: ServiceInfo, dates: list[date], now: datetime,
            only: dict[str, list[int]]) -> tuple[list[engine.SlotOption], dict[int, str]]:
    """Run the slot engine over ``dates``; returns the options and resource names by id."""
    resources = catalog.candidate_resources(conn, branch, service)
    lo, hi = catalog.search_window(branch, service, min(dates), max(dates))
    busy = catalog.busy_seconds(conn, [r.id for r in resources], lo, hi)
    options = engine.find_slots(branch.spec, service.spec, resources, busy, dates, now, only=only or None)
    return options, {r.id: r.name for r in resources}


def _offer(option: engine.SlotOption, names: dict[int, str]) -> SlotOffer:
    first = option.first_combination()
    return SlotOffer(
        start=option.start, end=option.end,
        resources={k: names[v] for k, v in first.items()},
        resource_ids=dict(first),
        choices={k: [(i, names[i]) for i in ids] for k, ids in option.free.items()},
    )


def find_slots(db: Database, *, branch: str, service: str, local_date: date | str, doctor: str | None = None,
               room: str | None = None, equipment: str | None = None, days: int = 1,
               now: datetime | None = None) -> list[SlotOffer]:
    """Free starts of ``service`` at ``branch`` on ``days`` local dates from ``local_date``.

    Sorted by start; each with the first free resource combination and every
    choice per kind. Optional ``doctor``/``room``/``equipment`` names pin that
    kind. Raises ``NotFound``/``ValidationError`` for unknown names or dates.
    """
    from ..domain.validation import parse_date

    first = parse_date(local_date, "date")
    if not 1 <= days <= 366:
        raise ValidationError("days", days, "must be between 1 and 366")
    now = now or datetime.now(UTC)
    dates = [first + timedelta(days=i) for i in range(days)]

    def work(conn: Connection) -> list[SlotOffer]:
        b = catalog.load_branch(conn, branch, dates[0] - timedelta(days=1), dates[-1] + timedelta(days=1))
        s = catalog.load_service(conn, service)
        only = _resolve_only(conn, {"doctor": doctor, "room": room, "equipment": equipment})
        options, names = _search(conn, b, s, dates, now, only)
        return [_offer(o, names) for o in options]

    return db.read(work)


# -- booking ---------------------------------------------------------------------
def _check_start(start: datetime, branch: BranchInfo) -> datetime:
    """The requested start as UTC, or ValidationError("start", …): no offset, a local time the
    branch's clocks skip (written with an offset that is neither UTC nor the branch's), off the grid."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValidationError("start", start.isoformat(), "needs a UTC offset, e.g. 2027-01-04T08:00:00-03:00")
    tz = branch.tz
    given = start.utcoffset()
    if given != timedelta(0) and given != start.astimezone(tz).utcoffset():
        # The wall-clock time written with this offset: does it exist in the branch's zone?
        check_local_time_exists(start.replace(tzinfo=None), tz, "start")
    if not is_on_grid(start, tz):
        raise ValidationError("start", start.isoformat(), "is not on the 15-minute grid")
    return start.astimezone(UTC)


def _explain_unavailable(conn: Connection, branch: BranchInfo, service: ServiceInfo, start: datetime,
                         now: datetime, only: dict[str, list[int]], names: dict[int, str],
                         exclude_appointment: int = 0) -> Exception:
    """Why ``start`` was not offered: bad input (ValidationError) or taken (SlotTaken).
    ``exclude_appointment``: an appointment being moved does not block itself."""
    spec = service.spec
    local = start.astimezone(branch.tz)
    when = local.strftime("%Y-%m-%d %H:%M %Z")
    if start < now + timedelta(minutes=spec.min_notice_min):
        if start < now:
            return ValidationError("start", iso_utc(start), "is in the past")
        return ValidationError("start", iso_utc(start),
                               f"is less than the service's minimum notice of {spec.min_notice_min} minutes away")
    today = now.astimezone(branch.tz).date()
    if (local.date() - today).days > spec.horizon_days:
        return ValidationError("start", iso_utc(start),
                               f"is beyond the service's booking horizon of {spec.horizon_days} days")
    resources = catalog.candidate_resources(conn, branch, service)
    free_if_empty = engine.find_slots(branch.spec, spec, resources, {}, [local.date()], now, only=only or None)
    if not any(o.start == start for o in free_if_empty):
        return ValidationError("start", when, "is outside the branch's opening hours or the doctors' shifts "
                               "(or on a holiday)")
    occupied = (start - timedelta(minutes=spec.buffer_before_min),
                start + timedelta(minutes=spec.duration_min + spec.buffer_after_min))
    ids = [r.id for r in resources if r.kind in spec.needs and (r.kind not in only or r.id in only[r.kind])]
    blocked: dict[int, str] = dict(conn.execute(text(
        "SELECT b.resource_id, r.name FROM booking b JOIN resource r ON r.id = b.resource_id "
        "WHERE b.live AND b.resource_id = ANY(:ids) AND b.period && tstzrange(:s, :e) "
        "AND b.appointment_id <> :x "
        "UNION SELECT o.resource_id, r.name FROM time_off o JOIN resource r ON r.id = o.resource_id "
        "WHERE o.resource_id = ANY(:ids) AND o.period && tstzrange(:s, :e)"),
        {"ids": ids, "s": occupied[0], "e": occupied[1], "x": exclude_appointment}).all())
    # Name the kind for which nothing is left: every suitable resource of it is taken.
    for kind in KINDS:
        of_kind = [r for r in resources if r.kind == kind and r.id in ids]
        if of_kind and all(r.id in blocked for r in of_kind):
            names_taken = ", ".join(blocked[r.id] for r in of_kind)
            return SlotTaken(f"{names_taken} {'is' if len(of_kind) == 1 else 'are'} already booked at {when}.",
                             resource=blocked[of_kind[0].id], when=when)
    return SlotTaken(f"No combination of free resources is left at {when}.", when=when)


def book(db: Database, *, branch: str, service: str, start: datetime, patient_id: int,
         doctor: str | None = None, room: str | None = None, equipment: str | None = None,
         source: str = "phone", client_id: uuid.UUID | str | None = None, reason: str | None = None,
         now: datetime | None = None, status: str = "confirmed") -> AppointmentView:
    """Book ``service`` for a patient at ``start`` (an aware datetime) in one SERIALIZABLE transaction.

    Picks the first free resource of each needed kind unless pinned by name.
    ``client_id`` (a UUID made by the caller) makes a retry after an unknown
    commit outcome safe: a second call with the same id returns the
    appointment the first one made.

    ``status`` is the new appointment's status, one of ``BOOKABLE_STATUSES``.

    Raises ``ValidationError`` (bad start, unknown names, outside hours, too
    soon or too far, a client id already used for another booking), ``SlotTaken`` (a resource is booked or off then, also
    when another workstation won the race), ``DatabaseUnavailable``.
    """
    if source not in SOURCES:
        raise ValidationError("source", source, f"must be one of {', '.join(SOURCES)}")
    if status not in BOOKABLE_STATUSES:
        raise ValidationError("status", status, f"a new booking must be one of {', '.join(BOOKABLE_STATUSES)}")
    now = now or datetime.now(UTC)
    cid = uuid.UUID(str(client_id)) if client_id else uuid.uuid4()

    def work(conn: Connection) -> AppointmentView | int:
        b = catalog.load_branch(conn, branch)
        start_utc = _check_start(start, b)
        s = catalog.load_service(conn, service)
        only = _resolve_only(conn, {"doctor": doctor, "room": room, "equipment": equipment})
        for kind in only:
            if kind not in s.spec.needs:
                raise ValidationError(kind, {"doctor": doctor, "room": room, "equipment": equipment}[kind],
                                      f"the service {s.name!r} does not need a {kind}")
        # The patient is checked by the foreign key on insert (no extra round trip); see below.
        spec = s.spec
        occupied = (start_utc - timedelta(minutes=spec.buffer_before_min),
                    start_utc + timedelta(minutes=spec.duration_min + spec.buffer_after_min))
        # Judge this one start, reading only the bookings around it (a small SERIALIZABLE read set).
        resources = catalog.candidate_resources(conn, b, s)
        names = {r.id: r.name for r in resources}
        busy = catalog.busy_seconds(conn, list(names), *occupied)
        option = engine.find_slot_at(b.spec, spec, resources, busy, start_utc, now, only=only or None)
        if option is None:
            # A retry after a commit whose outcome was unknown finds its own booking in the way:
            # the client id says it is ours (checked only here, off the hot path).
            existing = _booked_by_client(conn, cid, patient_id, s.id, start_utc)
            if existing is not None:
                return existing
            raise _explain_unavailable(conn, b, s, start_utc, now, only, names)
        chosen = option.first_combination()
        catalog.release_expired_holds(conn, list(chosen.values()), *occupied)
        inserted = _insert_appointment(conn, b.id, s, patient_id, option.start, option.end, chosen,
                                       status=status, source=source, client_id=cid)
        if inserted is None:  # this client id booked already (a retried commit)
            existing = _booked_by_client(conn, cid, patient_id, s.id, start_utc)
            assert existing is not None  # the insert conflicted on exactly this client id
            return existing
        # Built from what this transaction wrote: no second round trip to read it back.
        new_id, patient_name = inserted
        return AppointmentView(
            id=new_id, client_id=str(cid), branch_id=b.id, branch=b.name, service_id=s.id, service=s.name,
            patient_id=patient_id, patient=patient_name, status=status, start=option.start, end=option.end,
            source=source, resources={k: names[v] for k, v in chosen.items()}, resource_ids=dict(chosen))

    try:
        result = db.write(work, reason=reason or "booked")
    except SlotTaken as exc:
        raise _name_conflict(db, exc, start, branch) from exc
    except ValidationError as exc:
        if exc.field == "appointment_patient_id_fkey":
            raise NotFound("patient", patient_id) from exc
        raise
    return result if isinstance(result, AppointmentView) else get_appointment(db, result)


def _booked_by_client(conn: Connection, client_id: uuid.UUID, patient_id: int, service_id: int,
                      start: datetime) -> int | None:
    """The appointment an earlier attempt with this client id made, or None.

    The same id with a different patient, service or start is a caller's
    mistake, never a retry: ``ValidationError("client_id", …)``.
    """
    row = conn.execute(text("SELECT id, patient_id, service_id, starts_at FROM appointment WHERE client_id = :c"),
                       {"c": client_id}).first()
    if row is None:
        return None
    if (row.patient_id, row.service_id, row.starts_at) != (patient_id, service_id, start):
        raise ValidationError("client_id", str(client_id), f"was already used for appointment {row.id}")
    return int(row.id)


def _insert_appointment(conn: Connection, branch_id: int, s: ServiceInfo, patient_id: int, start: datetime,
                        end: datetime, chosen: dict[str, int], *, status: str, source: str,
                        client_id: uuid.UUID) -> tuple[int, str] | None:
    """Insert the appointment and one booking per chosen resource (period with buffers).

    Returns (new id, patient's name), or None when ``client_id`` exists already
    (nothing written). An unknown patient fails the foreign key
    ``appointment_patient_id_fkey`` (ValidationError from the runner).
    """
    spec = s.spec
    row = catalog.fetch(conn,
        "INSERT INTO appointment (client_id, patient_id, service_id, branch_id, status, starts_at, ends_at, source) "
        "VALUES (%(c)s, %(p)s, %(s)s, %(b)s, %(st)s, %(start)s, %(end)s, %(src)s) "
        "ON CONFLICT (client_id) DO NOTHING "
        "RETURNING id, (SELECT display_name FROM patient WHERE id = %(p)s)",
        {"c": client_id, "p": patient_id, "s": s.id, "b": branch_id, "st": status, "start": start, "end": end,
         "src": source})
    if not row:
        return None
    appointment_id, patient_name = row[0]
    lo = start - timedelta(minutes=spec.buffer_before_min)
    hi = end + timedelta(minutes=spec.buffer_after_min)
    catalog.fetch(conn,  # one multi-row INSERT
        "INSERT INTO booking (appointment_id, resource_id, period) "
        "SELECT %(a)s, r, tstzrange(%(lo)s, %(hi)s) FROM unnest(%(r)s::integer[]) AS r RETURNING id",
        {"a": appointment_id, "r": list(chosen.values()), "lo": lo, "hi": hi})
    return int(appointment_id), str(patient_name)


def _name_conflict(db: Database, exc: SlotTaken, start: datetime, branch: str) -> SlotTaken:
    """Give a SlotTaken from the exclusion constraint the resource's name and the branch-local time."""
    if exc.resource or exc.resource_id is None:
        return exc

    def work(conn: Connection) -> tuple[str, ZoneInfo]:
        name = conn.execute(text("SELECT name FROM resource WHERE id = :i"), {"i": exc.resource_id}).scalar()
        return str(name), catalog.load_branch(conn, branch).tz

    name, tz = db.read(work)
    when = start.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    return SlotTaken(f"{name} was booked by someone else at {when} just now.", resource=name, when=when,
                     resource_id=exc.resource_id)


# -- changes -----------------------------------------------------------------------
@dataclass(frozen=True)
class MoveResult:
    """A moved appointment: ``before`` and ``after`` (times in UTC), so screens refresh only
    the days and resources that changed."""

    before: AppointmentView
    after: AppointmentView


#: Statuses whose time and resources may still change (the patient has not arrived).
MOVABLE_STATUSES = ("requested", "held", "confirmed", "payment_pending")


def move(db: Database, appointment_id: int, *, start: datetime | None = None, doctor: str | None = None,
         room: str | None = None, equipment: str | None = None, reason: str | None = None,
         now: datetime | None = None) -> MoveResult:
    """Move an appointment to another start (aware datetime) and/or other resources, in one
    SERIALIZABLE transaction — the grid's drag and drop and the CLI's ``clinic move``.

    ``start`` defaults to the current start; ``doctor``/``room``/``equipment``
    pin those kinds by name. A kind not pinned keeps its current resource when
    that is free at the new time, else takes the first free one. The new time
    obeys every booking rule (grid, hours and shifts, notice, horizon,
    holidays, time off), the appointment's own bookings aside. The bookings are
    rewritten in the same transaction; the exclusion constraint and the
    deferred "bookings cover their appointment" trigger guard the result.

    Raises ``NotFound``, ``InvalidTransition`` (the patient has arrived, or it is
    cancelled), ``ValidationError`` (bad start or names), ``SlotTaken`` (naming
    what is in the way), ``PermissionDenied``.
    """
    now = now or datetime.now(UTC)
    before = get_appointment(db, appointment_id)

    def work(conn: Connection) -> None:
        status = _lock_status(conn, appointment_id)
        if status not in MOVABLE_STATUSES:
            raise InvalidTransition(f"An appointment that is {LABELS.get(status, status).lower()} cannot be moved.")
        row = conn.execute(text("SELECT a.branch_id, a.starts_at, s.name AS service FROM appointment a "
                                "JOIN service s ON s.id = a.service_id WHERE a.id = :i"),
                           {"i": appointment_id}).one()
        b = catalog.load_branch(conn, int(row.branch_id))
        s = catalog.load_service(conn, row.service)
        start_utc = _check_start(start, b) if start is not None else row.starts_at.astimezone(UTC)
        pinned = _resolve_only(conn, {"doctor": doctor, "room": room, "equipment": equipment})
        for kind in pinned:
            if kind not in s.spec.needs:
                raise ValidationError(kind, {"doctor": doctor, "room": room, "equipment": equipment}[kind],
                                      f"the service {s.name!r} does not need a {kind}")
        current = dict(catalog.fetch(conn, "SELECT r.kind, r.id FROM booking b JOIN resource r "
                                           "ON r.id = b.resource_id WHERE b.appointment_id = %(a)s",
                                     {"a": appointment_id}))
        spec = s.spec
        occupied = (start_utc - timedelta(minutes=spec.buffer_before_min),
                    start_utc + timedelta(minutes=spec.duration_min + spec.buffer_after_min))
        resources = catalog.candidate_resources(conn, b, s)
        names = {r.id: r.name for r in resources}
        busy = catalog.busy_seconds(conn, list(names), *occupied, exclude_appointment=appointment_id)
        keep = {k: [current[k]] for k in spec.needs if k in current and k not in pinned}
        option = (engine.find_slot_at(b.spec, spec, resources, busy, start_utc, now, only=pinned | keep)
                  if keep else None)
        option = option or engine.find_slot_at(b.spec, spec, resources, busy, start_utc, now,
                                               only=pinned or None)
        if option is None:
            raise _explain_unavailable(conn, b, s, start_utc, now, pinned, names, exclude_appointment=appointment_id)
        chosen = option.first_combination()
        catalog.release_expired_holds(conn, list(chosen.values()), option.occupied_start, option.occupied_end)
        conn.execute(update(t.appointment).where(t.appointment.c.id == appointment_id)
                     .values(starts_at=option.start, ends_at=option.end, updated_at=datetime.now(UTC)))
        conn.execute(t.booking.delete().where(t.booking.c.appointment_id == appointment_id))
        catalog.fetch(conn,
            "INSERT INTO booking (appointment_id, resource_id, period) "
            "SELECT %(a)s, r, tstzrange(%(lo)s, %(hi)s) FROM unnest(%(r)s::integer[]) AS r RETURNING id",
            {"a": appointment_id, "r": list(chosen.values()), "lo": option.occupied_start,
             "hi": option.occupied_end})

    try:
        db.write(work, reason=reason or "moved")
    except SlotTaken as exc:
        raise _name_conflict(db, exc, start or before.start, before.branch) from exc
    return MoveResult(before=before, after=get_appointment(db, appointment_id))


# -- rescheduling ------------------------------------------------------------------------
#: Local days searched per read while looking for the next free starts (one busy-time query each).
_SEARCH_CHUNK_DAYS = 14


def _offer_preferring(option: engine.SlotOption, names: dict[int, str], prefer: dict[str, int]) -> SlotOffer:
    """A ``SlotOffer`` whose resources are ``prefer[kind]`` where that one is free, else the first free one."""
    chosen = {kind: (prefer[kind] if prefer.get(kind) in ids else ids[0]) for kind, ids in option.free.items()}
    return SlotOffer(
        start=option.start, end=option.end,
        resources={k: names[v] for k, v in chosen.items()}, resource_ids=chosen,
        choices={k: [(i, names[i]) for i in ids] for k, ids in option.free.items()},
    )


def next_free_starts(db: Database, appointment_id: int, *, now: datetime, count: int = 8,
                     from_local_date: date | str | None = None, same_doctor: bool = False) -> list[SlotOffer]:
    """The next ``count`` free starts an appointment could be moved to, earliest first.

    Same service, same branch, every booking rule (grid, hours and shifts,
    minimum notice, holidays, time off). The appointment's own bookings do not
    block (so 15 minutes later is offered even though it overlaps itself), and
    its current start is never offered. Each offer keeps the appointment's
    current doctor, room and equipment when they are free at that start, and
    otherwise names the first free fitting one; ``same_doctor=True`` lists only
    starts at which the current doctor is free.

    The search runs forward from the branch-local ``from_local_date`` (default
    and earliest: today at the branch, from ``now``) day by day up to today +
    the service's horizon, in one read-only transaction. ``now``: aware.
    Returns ``SlotOffer`` s (UTC times; ``resources`` = the combination to pass
    to :func:`move`); fewer than ``count`` (maybe none) when the horizon is
    reached.

    Raises ``NotFound`` (appointment), ``InvalidTransition`` (not in
    ``MOVABLE_STATUSES``: the patient has arrived, or it is cancelled),
    ``ValidationError`` (``count`` outside 1..100, a bad date).
    """
    from ..domain.validation import parse_date

    if not 1 <= count <= 100:
        raise ValidationError("count", count, "must be between 1 and 100")
    first_wanted = parse_date(from_local_date, "from_local_date") if from_local_date is not None else None

    def work(conn: Connection) -> list[SlotOffer]:
        row = conn.execute(text("SELECT a.status, a.branch_id, a.starts_at, s.name AS service FROM appointment a "
                                "JOIN service s ON s.id = a.service_id WHERE a.id = :i"),
                           {"i": appointment_id}).first()
        if row is None:
            raise NotFound("appointment", appointment_id)
        if row.status not in MOVABLE_STATUSES:
            raise InvalidTransition(f"An appointment that is {LABELS.get(row.status, row.status).lower()} "
                                    "cannot be moved.")
        b = catalog.load_branch(conn, int(row.branch_id))
        s = catalog.load_service(conn, row.service)
        own_start = row.starts_at.astimezone(UTC)
        current = dict(catalog.fetch(conn, "SELECT r.kind, r.id FROM booking b JOIN resource r "
                                           "ON r.id = b.resource_id WHERE b.appointment_id = %(a)s",
                                     {"a": appointment_id}))
        only = {"doctor": [current["doctor"]]} if same_doctor and "doctor" in current else None
        today = now.astimezone(b.tz).date()
        last = today + timedelta(days=s.spec.horizon_days)
        day = max(first_wanted or today, today)
        resources = catalog.candidate_resources(conn, b, s)
        names = {r.id: r.name for r in resources}
        offers: list[SlotOffer] = []
        while day <= last and len(offers) < count:
            chunk = [day + timedelta(days=i) for i in range(_SEARCH_CHUNK_DAYS)
                     if day + timedelta(days=i) <= last]
            lo, hi = catalog.search_window(b, s, chunk[0], chunk[-1])
            busy = catalog.busy_seconds(conn, list(names), lo, hi, exclude_appointment=appointment_id)
            for option in engine.find_slots(b.spec, s.spec, resources, busy, chunk, now, only=only):
                if option.start == own_start:
                    continue
                offers.append(_offer_preferring(option, names, current))
                if len(offers) == count:
                    break
            day = chunk[-1] + timedelta(days=1)
        return offers

    return db.read(work)


# -- walk-ins ------------------------------------------------------------------------------
def _floor_to_grid(instant: datetime, tz: ZoneInfo) -> datetime:
    """The branch-local quarter hour ``instant`` falls in, as UTC (10:07 → 10:00)."""
    local = instant.astimezone(tz)
    return local.replace(minute=local.minute - local.minute % GRID_STEP_MIN, second=0,
                         microsecond=0).astimezone(UTC)


def _plan_walk_in(conn: Connection, b: BranchInfo, s: ServiceInfo, now: datetime,
                  only: dict[str, list[int]]) -> tuple[engine.SlotOption, dict[int, str]]:
    """The walk-in's time and resources (see :func:`walk_in`), or ``SlotTaken`` saying what is missing."""
    tz = b.tz
    today = now.astimezone(tz).date()
    here_now = replace(s.spec, min_notice_min=0)  # the patient is here: no notice to give
    floor = _floor_to_grid(now, tz)
    resources = catalog.candidate_resources(conn, b, s)
    names = {r.id: r.name for r in resources}
    lo, hi = catalog.search_window(b, s, today, today)
    busy = catalog.busy_seconds(conn, list(names), lo - timedelta(minutes=GRID_STEP_MIN),
                                hi + timedelta(minutes=GRID_STEP_MIN))
    if floor < now:
        # The quarter hour already begun, booked until the quarter hour after the service's real end.
        longer = replace(here_now, duration_min=here_now.duration_min + GRID_STEP_MIN)
        option = engine.find_slot_at(b.spec, longer, resources, busy, floor, floor, only=only or None)
        if option is not None:
            return option, names
    options = engine.find_slots(b.spec, here_now, resources, busy, [today], now, only=only or None)
    if options:
        return options[0], names
    raise _walk_in_refusal(b, s, here_now, resources, busy, today, now, only, names)


def _walk_in_refusal(b: BranchInfo, s: ServiceInfo, spec: engine.ServiceSpec,
                     resources: list[engine.ResourceSpec], busy: dict[int, list[tuple[int, int]]],
                     today: date, now: datetime, only: dict[str, list[int]], names: dict[int, str]) -> SlotTaken:
    """Name what is missing: the pinned doctor, the first kind of which nothing is free, or the combination."""
    where = f"before closing today ({b.name})"
    if "doctor" in only:
        who = names.get(only["doctor"][0], "The doctor chosen")
        return SlotTaken(f"{who} is not free for {s.name} {where}.", resource=who)
    for kind in KINDS:
        if kind not in spec.needs:
            continue
        alone = replace(spec, needs={kind: spec.needs[kind]})
        if not engine.find_slots(b.spec, alone, resources, busy, [today], now):
            what = {"doctor": "No doctor", "room": "No room", "equipment": "No equipment"}[kind]
            return SlotTaken(f"{what} is free for {s.name} {where}.")
    wanted = [{"doctor": "a doctor", "room": "a room", "equipment": "equipment"}[k] for k in KINDS if k in spec.needs]
    together = ", ".join(wanted[:-1]) + " and " + wanted[-1] if len(wanted) > 1 else "".join(wanted) or "time"
    return SlotTaken(f"No start {where} has {together} free together for {s.name}.")


def walk_in_preview(db: Database, *, branch: str, service: str, now: datetime,
                    doctor: str | None = None) -> SlotOffer:
    """The start and resources :func:`walk_in` would take if it ran at ``now`` (read only, nothing held).

    Raises as :func:`walk_in` (``SlotTaken`` when nothing is free today).
    """

    def work(conn: Connection) -> SlotOffer:
        b, s, only = _walk_in_inputs(conn, branch, service, doctor, now)
        option, names = _plan_walk_in(conn, b, s, now, only)
        return _offer(option, names)

    return db.read(work)


def _walk_in_inputs(conn: Connection, branch: str, service: str, doctor: str | None,
                    now: datetime) -> tuple[BranchInfo, ServiceInfo, dict[str, list[int]]]:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValidationError("now", now.isoformat(), "needs a UTC offset")
    b = catalog.load_branch(conn, branch)
    s = catalog.load_service(conn, service)
    only = _resolve_only(conn, {"doctor": doctor})
    if only and "doctor" not in s.spec.needs:
        raise ValidationError("doctor", doctor, f"the service {s.name!r} does not need a doctor")
    return b, s, only


def walk_in(db: Database, *, branch: str, service: str, patient_id: int, now: datetime,
            client_id: uuid.UUID | str | None = None, doctor: str | None = None,
            reason: str | None = None) -> AppointmentView:
    """Book a patient who is at the desk now, on the first free resources, and check them in —
    one SERIALIZABLE transaction (``source='walk_in'``, status ``checked_in``, ``checked_in_at = now``).

    The time: the patient is here, so the service's minimum notice does not
    apply. Starts must sit on the branch's 15-minute grid (the database checks
    it), so ``now`` is floored to its quarter hour: a patient arriving at 10:07
    takes 10:00 when the resources are free from 10:00 until the quarter hour
    after the service's real end (10:07 + 30 min → booked 10:00–10:45 for a
    30-minute service, buffers around that), so the grid shows the time really
    used and nothing booked later is overrun. Otherwise the earliest free start
    at or after ``now`` today (10:15, 10:30, …) with the service's own
    duration. An arrival exactly on a quarter hour needs no widening.

    Resources: for each kind the service needs, the first free one (by name),
    or the ``doctor`` named. ``client_id`` makes a retry after an unknown
    commit outcome safe (the same id returns the appointment made, when it is
    for the same patient and service).

    Raises ``SlotTaken`` when nothing is free today ("No doctor is free for
    Consultation before closing today (Centro)."; it names the pinned doctor,
    or the kind that has nothing free), ``NotFound`` (branch, service, doctor,
    patient), ``ValidationError`` (a doctor for a service without one, a client
    id used for something else).
    """
    cid = uuid.UUID(str(client_id)) if client_id else uuid.uuid4()

    def work(conn: Connection) -> int:
        earlier = conn.execute(text("SELECT id, patient_id, service_id FROM appointment WHERE client_id = :c"),
                               {"c": cid}).first()
        b, s, only = _walk_in_inputs(conn, branch, service, doctor, now)
        if earlier is not None:  # a retried commit: it is done already
            if (earlier.patient_id, earlier.service_id) != (patient_id, s.id):
                raise ValidationError("client_id", str(cid), f"was already used for appointment {earlier.id}")
            return int(earlier.id)
        option, _names = _plan_walk_in(conn, b, s, now, only)
        chosen = option.first_combination()
        catalog.release_expired_holds(conn, list(chosen.values()), option.occupied_start, option.occupied_end)
        inserted = _insert_appointment(conn, b.id, s, patient_id, option.start, option.end,
                                       chosen, status="confirmed", source="walk_in", client_id=cid)
        assert inserted is not None  # the client id was checked above, in this transaction
        new_id = inserted[0]
        conn.execute(update(t.appointment).where(t.appointment.c.id == new_id)
                     .values(status="checked_in", checked_in_at=now))
        return new_id

    try:
        new_id = db.write(work, reason=reason or "walk-in: booked and checked in")
    except SlotTaken as exc:
        raise _name_conflict(db, exc, _floor_to_grid(now, branch_zone(db, branch)), branch) from exc
    except ValidationError as exc:
        if exc.field == "appointment_patient_id_fkey":
            raise NotFound("patient", patient_id) from exc
        raise
    return get_appointment(db, new_id)


def _not_yours(appointment_id: int) -> PermissionDenied:
    return PermissionDenied(f"Your database role may not change appointment {appointment_id} "
                            "(a doctor may change only their own appointments).")


def _lock_status(conn: Connection, appointment_id: int) -> str:
    """Lock the appointment for a status change and return its status.

    Row-level security hides rows the role may not update from ``FOR UPDATE``
    (a doctor and another doctor's appointment): a row that is visible but
    cannot be locked is ``PermissionDenied``, not ``NotFound``.
    """
    row = conn.execute(text("SELECT status FROM appointment WHERE id = :i FOR UPDATE"),
                       {"i": appointment_id}).first()
    if row is not None:
        return str(row.status)
    if conn.execute(text("SELECT 1 FROM appointment WHERE id = :i"), {"i": appointment_id}).first() is None:
        raise NotFound("appointment", appointment_id)
    raise _not_yours(appointment_id)


def _change_status(conn: Connection, appointment_id: int, status: str, reason: str | None) -> None:
    """Set the status; an UPDATE that row-level security silently filters is an error, never a no-op."""
    result = conn.execute(update(t.appointment).where(t.appointment.c.id == appointment_id)
                          .values(status=status, status_reason=reason))
    if result.rowcount != 1:
        raise _not_yours(appointment_id)


def cancel(db: Database, appointment_id: int, *, reason: str, now: datetime | None = None) -> AppointmentView:
    """Cancel an appointment (its resources are released at once).

    ``reason`` is required and goes to the appointment and the audit trail.
    Cancelling an appointment that is already cancelled changes nothing and
    succeeds (a retry after a lost connection must not report an error).
    Raises ``NotFound``, ``ValidationError`` (empty reason), ``InvalidTransition``,
    ``PermissionDenied`` (e.g. a doctor and another doctor's appointment).
    """
    why = clean_name(reason, "reason")

    def work(conn: Connection) -> None:
        current = _lock_status(conn, appointment_id)
        if current == "cancelled":
            return
        check_transition(current, "cancelled")
        _change_status(conn, appointment_id, "cancelled", why)

    db.write(work, reason=f"cancelled: {why}")
    return get_appointment(db, appointment_id)


def set_status(db: Database, appointment_id: int, status: str, *, reason: str | None = None) -> AppointmentView:
    """Move an appointment to ``status`` if the lifecycle allows it (``InvalidTransition`` otherwise).

    Raises ``NotFound`` and ``PermissionDenied`` (the role may not change this
    appointment, e.g. a doctor and another doctor's appointment).
    """

    def work(conn: Connection) -> None:
        check_transition(_lock_status(conn, appointment_id), status)
        _change_status(conn, appointment_id, status, reason)

    db.write(work, reason=reason or status)
    return get_appointment(db, appointment_id)


# -- reading -----------------------------------------------------------------------
_APPOINTMENT_SQL = """
SELECT a.id, a.client_id, a.branch_id, br.name AS branch, a.service_id, s.name AS service, a.patient_id,
       p.display_name AS patient, a.status, a.starts_at, a.ends_at, a.source,
       coalesce(json_agg(json_build_array(r.kind, r.name, r.id) ORDER BY r.kind)
                FILTER (WHERE r.id IS NOT NULL), '[]') AS res
  FROM appointment a
  JOIN branch br ON br.id = a.branch_id
  JOIN service s ON s.id = a.service_id
  JOIN patient p ON p.id = a.patient_id
  LEFT JOIN booking b ON b.appointment_id = a.id
  LEFT JOIN resource r ON r.id = b.resource_id
"""


def _view(row: Any) -> AppointmentView:
    return AppointmentView(
        id=row.id, client_id=str(row.client_id), branch_id=row.branch_id, branch=row.branch,
        service_id=row.service_id, service=row.service, patient_id=row.patient_id, patient=row.patient,
        status=row.status, start=row.starts_at.astimezone(UTC), end=row.ends_at.astimezone(UTC),
        source=row.source, resources={k: n for k, n, _ in row.res}, resource_ids={k: i for k, _, i in row.res})


def get_appointment(db: Database, appointment_id: int) -> AppointmentView:
    """One appointment by id. Raises ``NotFound``."""
    def work(conn: Connection) -> AppointmentView:
        row = conn.execute(text(_APPOINTMENT_SQL + " WHERE a.id = :i GROUP BY a.id, br.name, s.name, "
                                "p.display_name"), {"i": appointment_id}).first()
        if row is None:
            raise NotFound("appointment", appointment_id)
        return _view(row)
    return db.read(work)


def appointments_on(conn: Connection, branch: BranchInfo, local_date: date, *, include_released: bool = True,
                    overlapping: bool = False) -> list[AppointmentView]:
    """Appointments of ``branch`` starting on ``local_date`` (branch-local), by start.

    ``overlapping=True`` also returns those that started the evening before and
    run into the day (the grid shows them; a list of the day's appointments
    does not).
    """
    lo, hi = day_bounds_utc(local_date, branch.tz)
    if overlapping:  # the lower bound on starts_at keeps the (branch_id, starts_at) index usable
        q = _APPOINTMENT_SQL + (" WHERE a.branch_id = :b AND a.starts_at < :hi AND a.ends_at > :lo "
                                "AND a.starts_at >= CAST(:lo AS timestamptz) - interval '1 day'")
    else:
        q = _APPOINTMENT_SQL + " WHERE a.branch_id = :b AND a.starts_at >= :lo AND a.starts_at < :hi"
    if not include_released:
        q += " AND clinic_status_is_live(a.status)"
    q += " GROUP BY a.id, br.name, s.name, p.display_name ORDER BY a.starts_at, a.id"
    return [_view(r) for r in conn.execute(text(q), {"b": branch.id, "lo": lo, "hi": hi})]


def patient_appointments(conn: Connection, patient_id: int) -> list[AppointmentView]:
    """Every appointment of a patient (any branch, cancelled ones included), by start."""
    q = _APPOINTMENT_SQL + (" WHERE a.patient_id = :p GROUP BY a.id, br.name, s.name, p.display_name "
                            "ORDER BY a.starts_at, a.id")
    return [_view(r) for r in conn.execute(text(q), {"p": patient_id})]


def list_appointments(db: Database, *, branch: str, local_date: date | str) -> list[AppointmentView]:
    """All appointments of a branch on a local date, cancelled ones included, by start."""
    from ..domain.validation import parse_date

    d = parse_date(local_date, "date")
    return db.read(lambda conn: appointments_on(conn, catalog.load_branch(conn, branch), d))


def branch_zone(db: Database, branch: str) -> ZoneInfo:
    """The IANA zone of a branch (by name), for showing times in branch-local wall clock."""
    return db.read(lambda conn: catalog.load_branch(conn, branch).tz)


