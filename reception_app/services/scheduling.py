"""Use cases of the day grid: find free slots, book, hold, walk in, move, reschedule, cancel, change status.

Each public function takes plain values and a ``Database`` and runs one transaction through the
runner (``Database.write``, wrapped by :func:`write_booking`, which names the database's refusals).
The rules themselves are the booking core's (``services.booking``): check the start, resolve the
pins, judge the start, place or rebook, lock and change the status. The slot engine
(``domain.slots``) decides what to *offer*; on booking it is run again inside the SERIALIZABLE
write transaction, and the exclusion constraints decide what *commits*.

Appointments are read through ``services.appointments`` (the read model). The names screens and
the CLI import from here (``AppointmentView``, ``SlotOffer``, ``MOVABLE_STATUSES``,
``get_appointment``, ``appointments_on``, ``list_appointments``, ``patient_conflict``, …) are
re-exported from those two modules.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import text, update
from sqlalchemy.engine import Connection

from ..domain import policy
from ..domain import slots as engine
from ..domain.errors import InvalidTransition, NotFound, PatientBusy, SlotTaken, ValidationError
from ..domain.slots import KINDS
from ..domain.status import LABELS, UNCONFIRMED, check_transition
from ..domain.validation import SCHEDULE_LAST, SOURCES, clean_name, parse_date, parse_schedule_instant
from ..domain.wallclock import GRID_STEP_MIN
from ..store import schema as t
from ..store.database import Database, Queue
from . import booking, catalog, checks, payments
from .appointments import (
    AppointmentView,
    appointments_on,
    get_appointment,
    iso_utc,
    list_appointments,
    patient_appointments,
    patient_live_between,
)
from .booking import MOVABLE_STATUSES, PATIENT_TYPING, SlotOffer, patient_conflict
from .catalog import BranchInfo, ServiceInfo

__all__ = [
    "BOOKABLE_STATUSES", "MOVABLE_STATUSES", "PATIENT_TYPING", "AppointmentView", "MoveResult", "RescheduleResult",
    "ServiceTerms", "SlotOffer", "appointments_on", "approve", "book", "branch_zone", "cancel", "confirm_hold", "find_slots",
    "get_appointment", "hold", "iso_utc", "list_appointments", "move", "name_booking_error", "next_free_starts",
    "patient_appointments", "patient_appointments_between", "patient_conflict", "reschedule", "service_terms",
    "set_status", "walk_in", "walk_in_preview", "write_booking",
]

_T = TypeVar("_T")

#: Statuses a new appointment may start in. Without a forced status, ``book`` picks one by the
#: service's confirmation mode and deposit (``domain.policy.initial_status``).
BOOKABLE_STATUSES = ("confirmed", "requested", "held", "payment_pending")


# -- slot search -----------------------------------------------------------------
def _search(conn: Connection, branch: BranchInfo, service: ServiceInfo, dates: list[date], now: datetime,
            only: dict[str, list[int]]) -> tuple[list[engine.SlotOption], dict[int, str]]:
    """Run the slot engine over ``dates``; returns the options and resource names by id."""
    resources = catalog.candidate_resources(conn, branch, service)
    lo, hi = catalog.search_window(branch, service, min(dates), max(dates))
    busy = catalog.busy_seconds(conn, [r.id for r in resources], lo, hi)
    options = engine.find_slots(branch.spec, service.spec, resources, busy, dates, now, only=only or None)
    return options, {r.id: r.name for r in resources}


def find_slots(db: Database, *, branch: str, service: str, local_date: date | str, doctor: str | None = None,
               room: str | None = None, equipment: str | None = None, days: int = 1,
               now: datetime | None = None, patient_id: int | None = None) -> list[SlotOffer]:
    """Free starts of ``service`` at ``branch`` on ``days`` local dates from ``local_date``.

    Sorted by start; each with the first free resource combination and every
    choice per kind. Optional ``doctor``/``room``/``equipment`` names pin that
    kind. ``patient_id``: leave out the starts whose appointment time [start, end) overlaps a
    live appointment of that patient, at any branch (a patient is in one place at a time: the
    database refuses such a booking, constraint ``appointment_patient_no_overlap``).
    Raises ``NotFound`` for unknown names, ``ValidationError`` for a name holding a control
    character, a date outside 2000-01-01 .. 2099-12-31 (``validation.parse_date``), ``days`` outside
    1..366 or running the search past 2099-12-31, a ``now`` without offset or out of that range.
    """
    checks.names(branch=branch, service=service, doctor=doctor, room=room, equipment=equipment)
    first = parse_date(local_date, "date")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
        raise ValidationError("days", days, "must be a whole number between 1 and 366")
    now = parse_schedule_instant(now, "now") if now is not None else datetime.now(UTC)
    if patient_id is not None:
        patient_id = checks.patient_id(patient_id)
    dates = [first + timedelta(days=i) for i in range(days)]
    _check_search_end(dates[-1], "days", days)

    def work(conn: Connection) -> list[SlotOffer]:
        b = catalog.load_branch(conn, branch, dates[0] - timedelta(days=1), dates[-1] + timedelta(days=1))
        s = catalog.load_service(conn, service)
        only = booking.resolve_names(conn, {"doctor": doctor, "room": room, "equipment": equipment})
        options, names = _search(conn, b, s, dates, now, only)
        if patient_id is not None and options:
            busy = [(a.start, a.end) for a in patient_live_between(conn, patient_id, options[0].start,
                                                                   options[-1].end)]
            options = [o for o in options if not any(lo < o.end and o.start < hi for lo, hi in busy)]
        return [booking.offer(o, names) for o in options]

    return db.read(work)


def _check_search_end(last: date, field: str, value: object) -> None:
    """``ValidationError(field, value, …)`` when a search would run past ``SCHEDULE_LAST`` (2099-12-31)."""
    if last > SCHEDULE_LAST:
        raise ValidationError(field, value, f"would run the search to {last.isoformat()}, past the last date "
                                            f"the clinic schedules ({SCHEDULE_LAST.isoformat()})")


def patient_appointments_between(db: Database, patient_id: int, lo_utc: datetime,
                                 hi_utc: datetime) -> list[AppointmentView]:
    """The patient's live appointments (any branch) whose time [start, end) overlaps [lo_utc, hi_utc),
    by start — what keeps a new booking of that patient from overlapping (the booking dialog says
    which). Aware datetimes. One read. Raises ``ValidationError``/``NotFound`` for a bad patient id."""
    checks.patient_id(patient_id)
    return db.read(lambda conn: patient_live_between(conn, patient_id, lo_utc, hi_utc))


# -- booking ---------------------------------------------------------------------
def book(db: Database, *, branch: str, service: str, start: datetime, patient_id: int,
         doctor: str | None = None, room: str | None = None, equipment: str | None = None,
         source: str = "phone", client_id: uuid.UUID | str | None = None, reason: str | None = None,
         now: datetime | None = None, status: str | None = None, desk_note: str = "") -> AppointmentView:
    """Book ``service`` for a patient at ``start`` (an aware datetime) in one SERIALIZABLE transaction.

    ``desk_note``: a note for the desk kept on the appointment ("bring last year's X-ray"; one line,
    at most :data:`DESK_NOTE_MAX` characters; ``""``: none).

    Picks the first free resource of each needed kind unless pinned by name.
    ``client_id`` (a UUID made by the caller) makes a retry after an unknown
    commit outcome safe: a second call with the same id returns the
    appointment the first one made.

    ``status`` forces the new appointment's status (one of ``BOOKABLE_STATUSES``).
    Without it the service's rules decide, read in the same transaction
    (``domain.policy.initial_status``): ``requested`` when its confirmation mode
    asks for approval (``approval``; ``hybrid`` for a patient without an
    earlier completed appointment), else ``payment_pending`` when it requires a
    deposit, else ``confirmed``.

    Returns the new appointment, or — when ``client_id`` was booked already by an
    earlier call (a retry after an unknown outcome) — that appointment with
    ``already_booked=True``.

    Raises ``ValidationError`` (bad start — no offset, off the grid, a date outside 2000-01-01 ..
    2099-12-31 —, a name or reason holding a control character, a client id that is not a UUID,
    outside hours, too soon or too far, a client id already used for another booking),
    ``NotFound`` (unknown names or patient), ``SlotTaken`` (a resource is booked or off then,
    also when another workstation won the race), ``PatientBusy`` (a ``SlotTaken``: the patient
    has another live appointment overlapping it; the message names it), ``DatabaseUnavailable``.
    Nothing is written on any error.
    """
    if source not in SOURCES:
        raise ValidationError("source", source, f"must be one of {', '.join(SOURCES)}")
    if status is not None and status not in BOOKABLE_STATUSES:
        raise ValidationError("status", status, f"a new booking must be one of {', '.join(BOOKABLE_STATUSES)}")
    checks.names(branch=branch, service=service, doctor=doctor, room=room, equipment=equipment)
    checks.optional_text(reason, "reason")
    note = _desk_note(desk_note)
    patient_id = checks.patient_id(patient_id)
    start = parse_schedule_instant(start, "start")
    now = parse_schedule_instant(now, "now") if now is not None else datetime.now(UTC)
    cid = checks.client_id(client_id)

    def work(conn: Connection) -> AppointmentView | int:
        b = catalog.load_branch(conn, branch)
        start_utc = booking.check_start(start, b)
        s = catalog.load_service(conn, service)
        only = _pins_for(conn, s, doctor, room, equipment)
        # The patient is checked by the foreign key on insert (no extra round trip); see below.
        # Judge this one start, reading only the bookings around it (a small SERIALIZABLE read set).
        option, names = booking.judge_start(conn, b, s, start_utc, now, only)
        if option is None:
            # A retry after a commit whose outcome was unknown finds its own booking in the way:
            # the client id says it is ours (checked only here, off the hot path).
            existing = booking.booked_by_client(conn, cid, patient_id, s.id, start_utc)
            if existing is not None:
                return existing
            raise booking.explain_unavailable(conn, b, s, start_utc, now, only)
        chosen = option.first_combination()
        new_status = status or _initial_status(conn, s.id, patient_id, service=s)
        placed = booking.place(conn, b.id, s, patient_id, option.start, option.end, chosen,
                               status=new_status, source=source, client_id=cid)
        if placed is None:  # this client id booked already (a retried commit)
            existing = booking.booked_by_client(conn, cid, patient_id, s.id, start_utc)
            assert existing is not None  # the insert conflicted on exactly this client id
            return existing
        if note:   # only when there is one: the booking's hot path stays one INSERT per row
            conn.execute(text("UPDATE appointment SET desk_note = :n WHERE id = :i"), {"n": note, "i": placed.id})
        # Built from what this transaction wrote: no second round trip to read it back.
        return AppointmentView(
            id=placed.id, client_id=str(cid), branch_id=b.id, branch=b.name, service_id=s.id, service=s.name,
            patient_id=patient_id, patient=placed.patient, status=new_status, start=option.start, end=option.end,
            source=source, resources={k: names[v] for k, v in chosen.items()}, resource_ids=dict(chosen),
            hold_expires_at=placed.hold_expires_at, desk_note=note)

    queue = booking.queue_for_booking(branch, service, {"doctor": doctor, "room": room, "equipment": equipment})
    result = write_booking(db, work, reason=reason or "booked", start=start, branch=branch, patient_id=patient_id,
                           queue=queue)
    return result if isinstance(result, AppointmentView) else replace(get_appointment(db, result), already_booked=True)


#: The longest desk note (characters; the database's appointment_desk_note_check says the same).
DESK_NOTE_MAX = 500


def _desk_note(value: str | None) -> str:
    """A desk note as kept: stripped, one line; raises ``ValidationError("desk_note", …)`` for one
    that is too long or holds a control character."""
    note = (value or "").strip()
    checks.optional_text(note, "desk_note", max_length=DESK_NOTE_MAX)
    return note


def write_booking(db: Database, work: Callable[[Connection], _T], *, reason: str, start: datetime, branch: str,
                  patient_id: int | None, exclude: Collection[int] = (), queue: Queue | None = None) -> _T:
    """Run a transaction that creates or moves an appointment (``db.write``, waiting in ``queue``
    first: ``booking.queue_for_booking``) and say its expected failures in the desk's words
    (:func:`name_booking_error`). ``start``: the aware start asked for; ``exclude``: the appointment
    being moved or rescheduled (it is not "in the way" of itself)."""
    try:
        return db.write(work, reason=reason, queue=queue)
    except (SlotTaken, ValidationError) as exc:
        raise name_booking_error(db, exc, start=start, branch=branch, patient_id=patient_id,
                                 exclude=exclude) from exc


def name_booking_error(db: Database, exc: SlotTaken | ValidationError, *, start: datetime, branch: str,
                       patient_id: int | None, exclude: Collection[int] = ()) -> SlotTaken | ValidationError:
    """The database's refusal of a booking or a move, in the desk's words (one read; call it after the
    failed transaction): the patient's overlap (``PatientBusy`` from ``appointment_patient_no_overlap``)
    names the patient's appointment in the way (not one of ``exclude``); a ``SlotTaken`` from the
    resource exclusion constraint names the resource and the branch-local ``start``; an unknown
    patient (the foreign key) is ``NotFound("patient", …)``. Anything else is returned as it is.
    ``patient_id`` None (an online hold without a patient) names no patient."""
    if isinstance(exc, PatientBusy) and patient_id is not None:
        return db.read(lambda conn: booking.name_patient_conflict(conn, patient_id, start, exclude))
    if isinstance(exc, SlotTaken):
        if exc.resource or exc.resource_id is None:
            return exc
        return db.read(lambda conn: booking.name_resource_conflict(conn, exc, start, branch))
    if exc.field == "appointment_patient_id_fkey" and patient_id is not None:
        return NotFound("patient", patient_id)
    return exc


def _pins_for(conn: Connection, s: ServiceInfo, doctor: str | None, room: str | None,
              equipment: str | None) -> dict[str, list[int]]:
    """Pinned resources by name for service ``s``: ``{kind: [id]}`` (``booking.resolve_pins``, an
    unknown name reported first)."""
    return booking.resolve_pins(conn, s, {"doctor": doctor, "room": room, "equipment": equipment},
                                names_first=True)


def _service_rules(conn: Connection, service_id: int) -> tuple[str, int]:
    """The service's (confirmation_mode, deposit_cents) (migration 0003)."""
    row = conn.execute(text("SELECT confirmation_mode, deposit_cents FROM service WHERE id = :s"),
                       {"s": service_id}).one()
    return str(row.confirmation_mode), int(row.deposit_cents)


def _known_patient(conn: Connection, patient_id: int) -> bool:
    """Whether the patient has a completed appointment (``hybrid`` confirms them at once)."""
    return conn.execute(text("SELECT EXISTS (SELECT 1 FROM appointment WHERE patient_id = :p "
                             "AND status = 'completed')"), {"p": patient_id}).scalar() is True


def _initial_status(conn: Connection, service_id: int, patient_id: int, *, deposit_cents: int | None = None,
                    paid_cents: int = 0, service: ServiceInfo | None = None) -> str:
    """A new booking's status by its service's rules (``policy.initial_status``), read in this
    transaction — or taken from ``service`` when it was (``catalog.load_service``, same transaction)."""
    if service is not None and service.confirmation_mode is not None and service.deposit_cents is not None:
        mode, deposit = service.confirmation_mode, service.deposit_cents
    else:
        mode, deposit = _service_rules(conn, service_id)
    if deposit_cents is not None:
        deposit = deposit_cents
    known = mode == "hybrid" and _known_patient(conn, patient_id)
    return policy.initial_status(mode, deposit, known, paid_cents)


# -- changes -----------------------------------------------------------------------
@dataclass(frozen=True)
class MoveResult:
    """A moved appointment: ``before`` and ``after`` (times in UTC), so screens refresh only
    the days and resources that changed."""

    before: AppointmentView
    after: AppointmentView


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
    cancelled), ``ValidationError`` (bad start — as :func:`book` —, names or reason),
    ``SlotTaken`` (naming what is in the way), ``PatientBusy`` (the patient has another
    live appointment then; naming it), ``PermissionDenied``. Nothing is written on any error.
    """
    checks.record_id(appointment_id, "appointment")
    checks.names(doctor=doctor, room=room, equipment=equipment)
    checks.optional_text(reason, "reason")
    if start is not None:
        start = parse_schedule_instant(start, "start")
    now = parse_schedule_instant(now, "now") if now is not None else datetime.now(UTC)
    before = get_appointment(db, appointment_id)

    def work(conn: Connection) -> None:
        booking.check_movable(booking.lock_status(conn, appointment_id))
        booking.check_has_patient(conn, appointment_id)
        row = conn.execute(text("SELECT a.branch_id, a.starts_at, s.name AS service FROM appointment a "
                                "JOIN service s ON s.id = a.service_id WHERE a.id = :i"),
                           {"i": appointment_id}).one()
        b = catalog.load_branch(conn, int(row.branch_id))
        s = catalog.load_service(conn, row.service)
        start_utc = booking.check_start(start, b) if start is not None else row.starts_at.astimezone(UTC)
        pinned = _pins_for(conn, s, doctor, room, equipment)
        current = booking.current_resources(conn, appointment_id)
        option, _names = booking.judge_start(conn, b, s, start_utc, now, pinned, prefer=current,
                                             exclude_appointment=appointment_id)
        if option is None:
            raise booking.explain_unavailable(conn, b, s, start_utc, now, pinned, exclude_appointment=appointment_id)
        booking.rebook(conn, appointment_id, s, option.start, option.end, option.first_combination())

    queue = booking.queue_for_booking(before.branch_id, before.service,
                                      {"doctor": doctor, "room": room, "equipment": equipment}, moving=(appointment_id,))
    write_booking(db, work, reason=reason or "moved", start=start or before.start, branch=before.branch,
                  patient_id=before.patient_id, exclude=(appointment_id,), queue=queue)
    return MoveResult(before=before, after=get_appointment(db, appointment_id))


# -- rescheduling ------------------------------------------------------------------------
#: Local days searched per read while looking for the next free starts (one busy-time query each).
_SEARCH_CHUNK_DAYS = 14


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

    The search never runs past 2099-12-31, the last date the clinic schedules
    (``validation.SCHEDULE_LAST``): a horizon reaching beyond it ends there.

    Raises ``NotFound`` (appointment), ``InvalidTransition`` (not in
    ``MOVABLE_STATUSES``: the patient has arrived, or it is cancelled),
    ``ValidationError`` (``count`` outside 1..100, a bad date or one outside 2000-01-01 ..
    2099-12-31, a ``now`` without offset or outside that range).
    """
    checks.record_id(appointment_id, "appointment")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
        raise ValidationError("count", count, "must be a whole number between 1 and 100")
    now = parse_schedule_instant(now, "now")
    first_wanted = parse_date(from_local_date, "from_local_date") if from_local_date is not None else None

    def work(conn: Connection) -> list[SlotOffer]:
        row = conn.execute(text("SELECT a.status, a.branch_id, a.starts_at, s.name AS service FROM appointment a "
                                "JOIN service s ON s.id = a.service_id WHERE a.id = :i"),
                           {"i": appointment_id}).first()
        if row is None:
            raise NotFound("appointment", appointment_id)
        booking.check_movable(row.status)
        b = catalog.load_branch(conn, int(row.branch_id))
        s = catalog.load_service(conn, row.service)
        own_start = row.starts_at.astimezone(UTC)
        current = booking.current_resources(conn, appointment_id)
        only = {"doctor": [current["doctor"]]} if same_doctor and "doctor" in current else None
        today = now.astimezone(b.tz).date()
        last = min(today + timedelta(days=s.spec.horizon_days), SCHEDULE_LAST)
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
                offers.append(booking.offer(option, names, current))
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
    checks.names(branch=branch, service=service, doctor=doctor)

    def work(conn: Connection) -> SlotOffer:
        b, s, only = _walk_in_inputs(conn, branch, service, doctor, now)
        option, names = _plan_walk_in(conn, b, s, now, only)
        return booking.offer(option, names)

    return db.read(work)


def _walk_in_inputs(conn: Connection, branch: str, service: str, doctor: str | None,
                    now: datetime) -> tuple[BranchInfo, ServiceInfo, dict[str, list[int]]]:
    parse_schedule_instant(now, "now")
    b = catalog.load_branch(conn, branch)
    s = catalog.load_service(conn, service)
    return b, s, booking.resolve_pins(conn, s, {"doctor": doctor}, names_first=True)


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
    id that is not a UUID or was used for something else, a ``now`` without offset or outside
    2000-01-01 .. 2099-12-31, a name or reason holding a control character), ``PatientBusy`` (the
    patient has another live appointment then; naming it). Nothing is written on any error.
    """
    checks.names(branch=branch, service=service, doctor=doctor)
    checks.optional_text(reason, "reason")
    patient_id = checks.patient_id(patient_id)
    now = parse_schedule_instant(now, "now")
    cid = checks.client_id(client_id)

    def work(conn: Connection) -> int:
        b, s, only = _walk_in_inputs(conn, branch, service, doctor, now)
        earlier = booking.booked_by_client(conn, cid, patient_id, s.id)  # any start: the walk-in's is now
        if earlier is not None:  # a retried commit: it is done already
            return earlier
        option, _names = _plan_walk_in(conn, b, s, now, only)
        placed = booking.place(conn, b.id, s, patient_id, option.start, option.end, option.first_combination(),
                               status="confirmed", source="walk_in", client_id=cid)
        assert placed is not None  # the client id was checked above, in this transaction
        new_id = placed.id
        conn.execute(update(t.appointment).where(t.appointment.c.id == new_id)
                     .values(status="checked_in", checked_in_at=now))
        return new_id

    try:
        new_id = db.write(work, reason=reason or "walk-in: booked and checked in",
                          queue=booking.queue_for_booking(branch, service, {"doctor": doctor}))
    except (SlotTaken, ValidationError) as exc:
        start = _floor_to_grid(now, branch_zone(db, branch)) if isinstance(exc, SlotTaken) else now
        raise name_booking_error(db, exc, start=start, branch=branch, patient_id=patient_id) from exc
    return get_appointment(db, new_id)


def cancel(db: Database, appointment_id: int, *, reason: str, by: str = "clinic",
           now: datetime | None = None) -> AppointmentView:
    """Cancel an appointment (its resources are released at once).

    ``reason`` is required and goes to the appointment and the audit trail.
    ``by``: ``"patient"`` or ``"clinic"`` (the default). The trigger
    ``appointment_lifecycle`` stamps ``cancelled_at`` and ``cancelled_late``
    (after start − the policy's free hours copied at booking); money due back
    follows ``domain.policy.settle`` (``services.payments``).
    Cancelling an appointment that is already cancelled changes nothing and
    succeeds (a retry after a lost connection must not report an error).
    Raises ``NotFound``, ``ValidationError`` (empty reason, ``by``), ``InvalidTransition``,
    ``PermissionDenied`` (e.g. a doctor and another doctor's appointment).
    """
    checks.record_id(appointment_id, "appointment")
    why = clean_name(reason, "reason")
    if by not in policy.CANCELLED_BY:
        raise ValidationError("by", by, f"must be one of {', '.join(policy.CANCELLED_BY)}")

    def work(conn: Connection) -> None:
        current = booking.lock_status(conn, appointment_id)
        if current == "cancelled":
            return
        # "clinic" is the trigger's default: left out, so doctors (granted only the status columns) may cancel.
        more = {"cancelled_by": by} if by != "clinic" else {}
        booking.change_status(conn, appointment_id, "cancelled", why, current=current, **more)

    db.write(work, reason=f"cancelled: {why}", queue=booking.queue_for_appointments([appointment_id]))
    return get_appointment(db, appointment_id)


def _check_deposit(conn: Connection, appointment_id: int) -> None:
    """``ValidationError("status", "confirmed", …)`` while payments do not cover the deposit."""
    deposit = conn.execute(text("SELECT coalesce(deposit_cents, 0) FROM appointment WHERE id = :i"),
                           {"i": appointment_id}).scalar_one()
    paid = payments.net_paid_cents(conn, appointment_id)
    if policy.status_after_approval(deposit, paid) != "confirmed":
        cur = payments.currency(conn)
        raise ValidationError("status", "confirmed",
                              f"the deposit of {policy.format_money(deposit, cur)} is not paid yet "
                              f"({policy.format_money(paid, cur)} paid)")


def set_status(db: Database, appointment_id: int, status: str, *, reason: str | None = None) -> AppointmentView:
    """Move an appointment to ``status`` if the lifecycle allows it (``InvalidTransition`` otherwise).

    Confirming (``confirmed``) from ``requested``, ``held`` or
    ``payment_pending`` needs the deposit paid (``ValidationError`` otherwise;
    issue 4, "Deposits"). Raises ``NotFound`` and ``PermissionDenied`` (the role
    may not change this appointment, e.g. a doctor and another doctor's appointment);
    ``ValidationError`` for an id that is not a whole number or a reason holding a control character.
    """
    checks.record_id(appointment_id, "appointment")
    checks.optional_text(reason, "reason")

    def work(conn: Connection) -> None:
        current = booking.lock_status(conn, appointment_id)
        check_transition(current, status)
        if status != "cancelled":
            booking.check_has_patient(conn, appointment_id)
        if status == "confirmed" and current in UNCONFIRMED:
            _check_deposit(conn, appointment_id)
        booking.change_status(conn, appointment_id, status, reason)

    db.write(work, reason=reason or status, queue=booking.queue_for_appointments([appointment_id]))
    return get_appointment(db, appointment_id)


# -- holds, approvals, rescheduling (issue 4) ------------------------------------------------
def hold(db: Database, *, branch: str, service: str, start: datetime, patient_id: int,
         doctor: str | None = None, room: str | None = None, equipment: str | None = None,
         source: str = "phone", client_id: uuid.UUID | str | None = None, reason: str | None = None,
         now: datetime | None = None) -> AppointmentView:
    """"Hold this slot" while the patient is on the phone: :func:`book` with status ``held``.

    The hold occupies its resources until ``hold_expires_at`` (UTC; now +
    ``clinic_setting`` ``hold_minutes``, 5 by default, set by the trigger
    ``appointment_lifecycle``); after that it blocks nobody (``busy_seconds``
    ignores it and the next booking in its way cancels it). Turn it into a
    booking with :func:`confirm_hold`. Raises as :func:`book`.
    """
    return book(db, branch=branch, service=service, start=start, patient_id=patient_id, doctor=doctor, room=room,
                equipment=equipment, source=source, client_id=client_id, reason=reason or "held", now=now,
                status="held")


def _decide(conn: Connection, appointment_id: int, *, approved: bool) -> str:
    """The status a held (``approved=False``) or approved request takes: the service's
    confirmation mode (unless approved), then the deposit snapshot against what was paid."""
    row = conn.execute(text("SELECT service_id, patient_id, coalesce(deposit_cents, 0) AS deposit "
                            "FROM appointment WHERE id = :i"), {"i": appointment_id}).one()
    paid = payments.net_paid_cents(conn, appointment_id)
    if approved:
        return policy.status_after_approval(int(row.deposit), paid)
    return _initial_status(conn, int(row.service_id), int(row.patient_id), deposit_cents=int(row.deposit),
                           paid_cents=paid)


def confirm_hold(db: Database, appointment_id: int, *, reason: str | None = None) -> AppointmentView:
    """Turn a hold into a booking with one action, in one SERIALIZABLE transaction.

    The new status is what the service's rules say for a new booking
    (``domain.policy.initial_status``): ``requested`` (approval needed),
    ``payment_pending`` (a deposit not yet paid) or ``confirmed``. A hold past
    its expiry can still be confirmed while nobody else has taken the time (its
    bookings come back into force; the exclusion constraint decides a race).

    Raises ``NotFound``, ``InvalidTransition`` (not held: e.g. the hold expired
    and was released), ``PermissionDenied``, ``ValidationError`` (a bad id or reason).
    """
    checks.record_id(appointment_id, "appointment")
    checks.optional_text(reason, "reason")

    def work(conn: Connection) -> None:
        current = booking.lock_status(conn, appointment_id)
        if current != "held":
            raise InvalidTransition(f"Only a held appointment can be confirmed this way; this one is "
                                    f"{LABELS.get(current, current).lower()}"
                                    f"{' (the hold expired)' if current == 'cancelled' else ''}.")
        booking.check_has_patient(conn, appointment_id)
        target = _decide(conn, appointment_id, approved=False)
        booking.change_status(conn, appointment_id, target, reason or "hold confirmed", current=current)

    db.write(work, reason=reason or "hold confirmed", queue=booking.queue_for_appointments([appointment_id]))
    return get_appointment(db, appointment_id)


def approve(db: Database, appointment_id: int, *, reason: str | None = None) -> AppointmentView:
    """A receptionist approves a ``requested`` booking: it becomes ``confirmed``, or
    ``payment_pending`` while its deposit is not paid. One SERIALIZABLE transaction.

    Raises ``NotFound``, ``InvalidTransition`` (not requested), ``PermissionDenied``,
    ``ValidationError`` (a bad id or reason).
    """
    checks.record_id(appointment_id, "appointment")
    checks.optional_text(reason, "reason")

    def work(conn: Connection) -> None:
        current = booking.lock_status(conn, appointment_id)
        if current != "requested":
            raise InvalidTransition(f"Only a requested appointment can be approved; this one is "
                                    f"{LABELS.get(current, current).lower()}.")
        target = _decide(conn, appointment_id, approved=True)
        booking.change_status(conn, appointment_id, target, reason or "approved")

    db.write(work, reason=reason or "approved", queue=booking.queue_for_appointments([appointment_id]))
    return get_appointment(db, appointment_id)


@dataclass(frozen=True)
class ServiceTerms:
    """What a service asks before and after booking (migration 0003): ``confirmation_mode``
    (immediate | approval | hybrid), ``deposit_cents``, ``cancel_free_hours`` (hours),
    ``late_cancel_fee_cents``, the clinic's ``currency`` and ``hold_minutes``."""

    service: str
    confirmation_mode: str
    deposit_cents: int
    cancel_free_hours: int
    late_cancel_fee_cents: int
    currency: str
    hold_minutes: int

    def describe(self) -> str:
        """One line for the booking dialog: ``"Needs approval · Deposit EUR 20.00 · Free cancellation until
        24 h before, then EUR 15.00"``."""
        parts = []
        if self.confirmation_mode == "approval":
            parts.append("Needs approval")
        elif self.confirmation_mode == "hybrid":
            parts.append("Needs approval for new patients")
        if self.deposit_cents:
            parts.append(f"Deposit {policy.format_money(self.deposit_cents, self.currency)} before confirmation")
        fee = (f", then {policy.format_money(self.late_cancel_fee_cents, self.currency)}"
               if self.late_cancel_fee_cents else "")
        parts.append(f"Free cancellation until {self.cancel_free_hours} h before{fee}")
        return " · ".join(parts)


def service_terms(db: Database, service: str) -> ServiceTerms:
    """The confirmation, deposit and cancellation terms of ``service`` (by name). Raises ``NotFound``,
    ``ValidationError`` (a name holding a control character)."""
    checks.names(service=service)

    def work(conn: Connection) -> ServiceTerms:
        s = catalog.load_service(conn, service)
        row = conn.execute(text("SELECT confirmation_mode, deposit_cents, cancel_free_hours, late_cancel_fee_cents, "
                                "clinic_setting_int('hold_minutes', 5) AS hold_minutes FROM service WHERE id = :s"),
                           {"s": s.id}).one()
        return ServiceTerms(s.name, row.confirmation_mode, int(row.deposit_cents), int(row.cancel_free_hours),
                            int(row.late_cancel_fee_cents), payments.currency(conn), int(row.hold_minutes))
    return db.read(work)


@dataclass(frozen=True)
class RescheduleResult:
    """``old`` (now ``rescheduled``, its resources released) and ``new`` (the booking that replaces it);
    times UTC."""

    old: AppointmentView
    new: AppointmentView


def reschedule(db: Database, appointment_id: int, *, start: datetime, doctor: str | None = None,
               room: str | None = None, equipment: str | None = None, reason: str | None = None,
               client_id: uuid.UUID | str | None = None, now: datetime | None = None) -> RescheduleResult:
    """Rebook an appointment at ``start`` (aware) as a NEW appointment and mark the old one
    ``rescheduled`` with ``rescheduled_to`` naming the new one — one SERIALIZABLE transaction.

    (:func:`move` changes the time in place: the grid's drag and drop.) Same
    patient, service, branch and source; the new one keeps the old one's
    policy snapshot (free hours, late fee, deposit) and its standing: a
    ``confirmed`` one stays confirmed, a ``requested`` one stays requested,
    a ``payment_pending`` one is confirmed if the payments (which follow the
    link, ``services.payments``) cover the deposit. Resources as in
    :func:`move`: pinned by name, else the current ones when free, else the
    first free ones. The old bookings are released first, so the new time may
    overlap the old. ``client_id``: the new appointment's id for a safe retry
    (a retry returns the pair made the first time).

    Raises ``NotFound``, ``InvalidTransition`` (held, arrived, cancelled, already
    rescheduled), ``ValidationError`` (bad start — as :func:`book` —, names, reason, a client id
    that is not a UUID), ``SlotTaken``, ``PatientBusy`` (the patient has another live
    appointment at the new time — the old one does not count: it is released in the same
    transaction), ``PermissionDenied``. Nothing is written on any error.
    """
    checks.record_id(appointment_id, "appointment")
    checks.names(doctor=doctor, room=room, equipment=equipment)
    checks.optional_text(reason, "reason")
    start = parse_schedule_instant(start, "start")
    now = parse_schedule_instant(now, "now") if now is not None else datetime.now(UTC)
    cid = checks.client_id(client_id)

    def work(conn: Connection) -> int:
        current = booking.lock_status(conn, appointment_id)
        row = conn.execute(text(
            "SELECT a.branch_id, a.patient_id, a.source, a.rescheduled_to, a.policy_free_hours, "
            "a.policy_late_fee_cents, a.deposit_cents, s.name AS service, "
            "(SELECT n.client_id FROM appointment n WHERE n.id = a.rescheduled_to) AS new_client_id "
            "FROM appointment a JOIN service s ON s.id = a.service_id WHERE a.id = :i"),
            {"i": appointment_id}).one()
        if current == "rescheduled" and row.new_client_id == cid:
            return int(row.rescheduled_to)  # a retried commit: done already
        check_transition(current, "rescheduled")
        b = catalog.load_branch(conn, int(row.branch_id))
        s = catalog.load_service(conn, row.service)
        start_utc = booking.check_start(start, b)
        pinned = _pins_for(conn, s, doctor, room, equipment)
        prefer = booking.current_resources(conn, appointment_id)
        booking.change_status(conn, appointment_id, "rescheduled", reason or "rescheduled")  # releases its bookings
        option, _names = booking.judge_start(conn, b, s, start_utc, now, pinned, prefer=prefer,
                                             exclude_appointment=appointment_id)
        if option is None:
            raise booking.explain_unavailable(conn, b, s, start_utc, now, pinned, exclude_appointment=appointment_id)
        status = current
        if current == "payment_pending":
            status = policy.status_after_approval(int(row.deposit_cents or 0),
                                                  payments.net_paid_cents(conn, appointment_id))
        terms = (row.policy_free_hours, row.policy_late_fee_cents, row.deposit_cents)
        placed = booking.place(conn, b.id, s, int(row.patient_id), option.start, option.end,
                               option.first_combination(), status=status, source=row.source, client_id=cid,
                               terms=terms if None not in terms else None)
        if placed is None:
            raise ValidationError("client_id", str(cid), "was already used for another appointment")
        new_id = placed.id
        conn.execute(update(t.appointment).where(t.appointment.c.id == appointment_id)
                     .values(rescheduled_to=new_id, updated_at=datetime.now(UTC)))
        return new_id

    before = get_appointment(db, appointment_id)
    queue = booking.queue_for_booking(before.branch_id, before.service,
                                      {"doctor": doctor, "room": room, "equipment": equipment}, moving=(appointment_id,))
    new_id = write_booking(db, work, reason=reason or "rescheduled", start=start, branch=before.branch,
                           patient_id=before.patient_id, exclude=(appointment_id,), queue=queue)
    return RescheduleResult(old=get_appointment(db, appointment_id), new=get_appointment(db, new_id))


# -- reading -----------------------------------------------------------------------
def branch_zone(db: Database, branch: str) -> ZoneInfo:
    """The IANA zone of a branch (by name), for showing times in branch-local wall clock.
    Raises ``NotFound``, ``ValidationError`` (a name holding a control character)."""
    checks.names(branch=branch)
    return db.read(lambda conn: catalog.load_branch(conn, branch).tz)


