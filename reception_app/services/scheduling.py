"""Use cases of the day grid: find free slots, book, cancel, list a day.

Each function takes plain values and a ``Database`` and runs one transaction.
The slot engine (``domain.slots``) decides what to *offer*; on booking it is
run again inside the SERIALIZABLE write transaction, and the exclusion
constraint decides what *commits* (DESIGN.md, "The one rule").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import text, update
from sqlalchemy.engine import Connection

from ..domain import policy
from ..domain import slots as engine
from ..domain.errors import (
    InvalidTransition,
    NotFound,
    PatientBusy,
    PermissionDenied,
    SlotTaken,
    ValidationError,
)
from ..domain.slots import KINDS
from ..domain.status import LABELS, UNCONFIRMED, check_transition
from ..domain.validation import SCHEDULE_LAST, SOURCES, clean_name, parse_date, parse_schedule_instant
from ..domain.wallclock import GRID_STEP_MIN, check_local_time_exists, day_bounds_utc, is_on_grid
from ..store import schema as t
from ..store.database import Database
from . import catalog, checks, payments
from .catalog import BranchInfo, ServiceInfo

_T = TypeVar("_T")

#: Statuses a new appointment may start in. Without a forced status, ``book`` picks one by the
#: service's confirmation mode and deposit (``domain.policy.initial_status``).
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
    #: UTC end of a hold (status ``held``), else None.
    hold_expires_at: datetime | None = None
    #: The recurring series it belongs to and its occurrence's original branch-local date, else None.
    series_id: int | None = None
    series_date: date | None = None
    #: The visit (appointments booked together) it belongs to, else None.
    visit_id: int | None = None
    #: True when :func:`book` found this appointment already made by an earlier call with the same
    #: client id (a retried commit) instead of booking it now.
    already_booked: bool = False

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "start": iso_utc(self.start), "end": iso_utc(self.end), "status": self.status,
               "branch": self.branch, "service": self.service, "patient_id": self.patient_id,
               "patient": self.patient, "source": self.source, "resources": dict(self.resources)}
        if self.already_booked:
            out["already_booked"] = True
        return out


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
        only = _resolve_only(conn, {"doctor": doctor, "room": room, "equipment": equipment})
        options, names = _search(conn, b, s, dates, now, only)
        if patient_id is not None and options:
            busy = [(a.start, a.end) for a in _patient_live_between(conn, patient_id, options[0].start,
                                                                    options[-1].end)]
            options = [o for o in options if not any(lo < o.end and o.start < hi for lo, hi in busy)]
        return [_offer(o, names) for o in options]

    return db.read(work)


def _check_search_end(last: date, field: str, value: object) -> None:
    """``ValidationError(field, value, …)`` when a search would run past ``SCHEDULE_LAST`` (2099-12-31)."""
    if last > SCHEDULE_LAST:
        raise ValidationError(field, value, f"would run the search to {last.isoformat()}, past the last date "
                                            f"the clinic schedules ({SCHEDULE_LAST.isoformat()})")


def _patient_live_between(conn: Connection, patient_id: int, lo: datetime, hi: datetime,
                          exclude: Collection[int] = ()) -> list[AppointmentView]:
    """The patient's live appointments whose time overlaps [lo, hi) (UTC), by start — those the
    constraint ``appointment_patient_no_overlap`` counts (a ``parallel`` one, booked through the logged
    override, blocks nobody); ``exclude``: appointment ids left out (one being moved)."""
    q = _APPOINTMENT_SQL + (" WHERE a.patient_id = :p AND clinic_status_is_live(a.status) AND NOT a.parallel "
                            "AND a.starts_at < :hi AND a.ends_at > :lo AND NOT a.id = ANY(:x) "
                            "GROUP BY a.id, br.name, s.name, p.display_name ORDER BY a.starts_at, a.id")
    return [_view(r) for r in conn.execute(text(q), {"p": patient_id, "lo": lo, "hi": hi,
                                                     "x": [int(i) for i in exclude]})]


def patient_conflict(conn: Connection, patient_id: int, start: datetime, end: datetime, *,
                     exclude: Collection[int] = ()) -> PatientBusy | None:
    """Inside the caller's transaction: a ``PatientBusy`` naming the patient's first live appointment
    whose time overlaps [start, end) (aware), or None. ``exclude``: appointment ids that do not count
    (one being moved). For paths that book several appointments at once (visits, series), so the
    refusal names the part before the database's deferred constraint would at commit."""
    around = _patient_live_between(conn, patient_id, start, end, exclude)
    if not around:
        return None
    return _patient_busy(around[0], catalog.load_branch(conn, around[0].branch_id).tz)


def _patient_busy(other: AppointmentView, tz: ZoneInfo) -> PatientBusy:
    """``PatientBusy`` naming ``other`` (the patient's appointment in the way) in its branch's wall clock."""
    when = (f"{other.start.astimezone(tz):%Y-%m-%d %H:%M}–{other.end.astimezone(tz):%H:%M} "
            f"{other.start.astimezone(tz):%Z}")
    who = ", ".join(other.resources.values())
    return PatientBusy(f"{other.patient} already has {other.service} at {when}"
                       f"{' with ' + who if who else ''} ({other.branch}, appointment {other.id}); a patient "
                       f"cannot be in two places at once.", appointment_id=other.id, when=when)


def patient_appointments_between(db: Database, patient_id: int, lo_utc: datetime,
                                 hi_utc: datetime) -> list[AppointmentView]:
    """The patient's live appointments (any branch) whose time [start, end) overlaps [lo_utc, hi_utc),
    by start — what keeps a new booking of that patient from overlapping (the booking dialog says
    which). Aware datetimes. One read. Raises ``ValidationError``/``NotFound`` for a bad patient id."""
    checks.patient_id(patient_id)
    return db.read(lambda conn: _patient_live_between(conn, patient_id, lo_utc, hi_utc))


# -- booking ---------------------------------------------------------------------
def _check_start(start: datetime, branch: BranchInfo) -> datetime:
    """The requested start as UTC, or ValidationError("start", …): not a date-time, no offset, a date
    outside 2000-01-01 .. 2099-12-31 (``validation.parse_schedule_instant``: year 1 or 9999 would
    overflow), a local time the branch's clocks skip (written with an offset that is neither UTC nor
    the branch's), off the grid."""
    start = parse_schedule_instant(start, "start")
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
         now: datetime | None = None, status: str | None = None) -> AppointmentView:
    """Book ``service`` for a patient at ``start`` (an aware datetime) in one SERIALIZABLE transaction.

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
    patient_id = checks.patient_id(patient_id)
    start = parse_schedule_instant(start, "start")
    now = parse_schedule_instant(now, "now") if now is not None else datetime.now(UTC)
    cid = checks.client_id(client_id)

    def work(conn: Connection) -> AppointmentView | int:
        b = catalog.load_branch(conn, branch)
        start_utc = _check_start(start, b)
        s = catalog.load_service(conn, service)
        only = _pins_for(conn, s, doctor, room, equipment)
        # The patient is checked by the foreign key on insert (no extra round trip); see below.
        # Judge this one start, reading only the bookings around it (a small SERIALIZABLE read set).
        option, names = _place(conn, b, s, start_utc, now, only)
        if option is None:
            # A retry after a commit whose outcome was unknown finds its own booking in the way:
            # the client id says it is ours (checked only here, off the hot path).
            existing = _booked_by_client(conn, cid, patient_id, s.id, start_utc)
            if existing is not None:
                return existing
            raise _explain_unavailable(conn, b, s, start_utc, now, only, names)
        chosen = option.first_combination()
        catalog.release_expired_holds(conn, list(chosen.values()), option.occupied_start, option.occupied_end)
        new_status = status or _initial_status(conn, s.id, patient_id)
        inserted = _insert_appointment(conn, b.id, s, patient_id, option.start, option.end, chosen,
                                       status=new_status, source=source, client_id=cid)
        if inserted is None:  # this client id booked already (a retried commit)
            existing = _booked_by_client(conn, cid, patient_id, s.id, start_utc)
            assert existing is not None  # the insert conflicted on exactly this client id
            return existing
        # Built from what this transaction wrote: no second round trip to read it back.
        new_id, patient_name, hold_expires_at = inserted
        return AppointmentView(
            id=new_id, client_id=str(cid), branch_id=b.id, branch=b.name, service_id=s.id, service=s.name,
            patient_id=patient_id, patient=patient_name, status=new_status, start=option.start, end=option.end,
            source=source, resources={k: names[v] for k, v in chosen.items()}, resource_ids=dict(chosen),
            hold_expires_at=hold_expires_at)

    result = write_booking(db, work, reason=reason or "booked", start=start, branch=branch, patient_id=patient_id)
    return result if isinstance(result, AppointmentView) else replace(get_appointment(db, result), already_booked=True)


def write_booking(db: Database, work: Callable[[Connection], _T], *, reason: str, start: datetime, branch: str,
                  patient_id: int, exclude: Collection[int] = ()) -> _T:
    """Run a transaction that creates or moves an appointment (``db.write``) and say its expected
    failures in the desk's words (:func:`name_booking_error`). ``start``: the aware start asked for;
    ``exclude``: the appointment being moved or rescheduled (it is not "in the way" of itself)."""
    try:
        return db.write(work, reason=reason)
    except (SlotTaken, ValidationError) as exc:
        raise name_booking_error(db, exc, start=start, branch=branch, patient_id=patient_id,
                                 exclude=exclude) from exc


def name_booking_error(db: Database, exc: SlotTaken | ValidationError, *, start: datetime, branch: str,
                       patient_id: int, exclude: Collection[int] = ()) -> SlotTaken | ValidationError:
    """The database's refusal of a booking or a move, in the desk's words (one read; call it after the
    failed transaction): the patient's overlap (``PatientBusy`` from ``appointment_patient_no_overlap``)
    names the patient's appointment in the way (not one of ``exclude``); a ``SlotTaken`` from the
    resource exclusion constraint names the resource and the branch-local ``start``; an unknown
    patient (the foreign key) is ``NotFound("patient", …)``. Anything else is returned as it is."""
    if isinstance(exc, PatientBusy):
        return _name_patient_conflict(db, patient_id, start, exclude)
    if isinstance(exc, SlotTaken):
        return _name_conflict(db, exc, start, branch)
    if exc.field == "appointment_patient_id_fkey":
        return NotFound("patient", patient_id)
    return exc


def _name_patient_conflict(db: Database, patient_id: int, start: datetime,
                           exclude: Collection[int] = ()) -> PatientBusy:
    """A ``PatientBusy`` naming the patient's appointment in the way at ``start``: one running at
    ``start``, else the one starting nearest to it (within 12 hours); ``exclude``: ids that do not count."""
    def work(conn: Connection) -> PatientBusy:
        around = _patient_live_between(conn, patient_id, start - timedelta(hours=12), start + timedelta(hours=12),
                                       exclude)
        if not around:
            return PatientBusy("The patient already has an appointment at that time; a patient cannot be in "
                               "two places at once.")
        other = min(around, key=lambda a: (not a.start <= start < a.end, abs((a.start - start).total_seconds())))
        return _patient_busy(other, catalog.load_branch(conn, other.branch_id).tz)

    return db.read(work)


def _pins_for(conn: Connection, s: ServiceInfo, doctor: str | None, room: str | None,
              equipment: str | None) -> dict[str, list[int]]:
    """Pinned resources by name for service ``s``: ``{kind: [id]}``; ``ValidationError`` for a kind
    the service does not need, ``NotFound`` for an unknown name."""
    given = {"doctor": doctor, "room": room, "equipment": equipment}
    only = _resolve_only(conn, given)
    for kind in only:
        if kind not in s.spec.needs:
            raise ValidationError(kind, given[kind], f"the service {s.name!r} does not need a {kind}")
    return only


def _place(conn: Connection, b: BranchInfo, s: ServiceInfo, start_utc: datetime, now: datetime,
           pinned: dict[str, list[int]], *, prefer: dict[str, int] | None = None,
           exclude_appointment: int | None = None) -> tuple[engine.SlotOption | None, dict[int, str]]:
    """The slot engine's verdict on one start (UTC): an option or None, and resource names by id.

    Reads only the bookings around the start. ``prefer``: kind → resource id
    kept when free (a kind not pinned); ``exclude_appointment``: its own
    bookings do not block (a move).
    """
    spec = s.spec
    occupied = (start_utc - timedelta(minutes=spec.buffer_before_min),
                start_utc + timedelta(minutes=spec.duration_min + spec.buffer_after_min))
    resources = catalog.candidate_resources(conn, b, s)
    names = {r.id: r.name for r in resources}
    busy = catalog.busy_seconds(conn, list(names), *occupied, exclude_appointment=exclude_appointment)
    keep = {k: [v] for k, v in (prefer or {}).items() if k in spec.needs and k not in pinned}
    option = (engine.find_slot_at(b.spec, spec, resources, busy, start_utc, now, only=pinned | keep)
              if keep else None)
    option = option or engine.find_slot_at(b.spec, spec, resources, busy, start_utc, now, only=pinned or None)
    return option, names


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
                    paid_cents: int = 0) -> str:
    """A new booking's status by its service's rules (``policy.initial_status``)."""
    mode, deposit = _service_rules(conn, service_id)
    if deposit_cents is not None:
        deposit = deposit_cents
    known = mode == "hybrid" and _known_patient(conn, patient_id)
    return policy.initial_status(mode, deposit, known, paid_cents)


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
                        client_id: uuid.UUID, terms: tuple[int, int, int] | None = None,
                        parallel: bool = False) -> tuple[int, str, datetime | None] | None:
    """Insert the appointment and one booking per chosen resource (period with buffers).

    ``terms``: (policy_free_hours, policy_late_fee_cents, deposit_cents) to keep
    (a rescheduled appointment's); None: the trigger copies the service's.
    ``parallel``: the appointment may overlap another of the patient's (a manager's logged
    override, ``overrides.force_book``; the database refuses it to anyone else).
    Returns (new id, patient's name, UTC hold expiry or None), or None when
    ``client_id`` exists already (nothing written). An unknown patient fails the
    foreign key ``appointment_patient_id_fkey`` (ValidationError from the runner).
    """
    spec = s.spec
    free_hours, late_fee, deposit = terms or (None, None, None)
    # Bookings of one patient take turns: the patient's row is locked first (FOR NO KEY UPDATE: foreign
    # keys still share it). Without that, two transactions inserting overlapping appointments of one
    # patient each wait on the other at the exclusion constraint (appointment_patient_no_overlap) as
    # soon as one of them writes its row again (the doctor column, a status) — a deadlock per pair.
    # And not INSERT … ON CONFLICT: a speculative insertion that meets an exclusion constraint waits on
    # the other inserter's speculative token just the same; the client id is looked up instead.
    found = catalog.fetch(conn, "SELECT EXISTS (SELECT 1 FROM appointment WHERE client_id = %(c)s) FROM patient "
                                "WHERE id = %(p)s FOR NO KEY UPDATE", {"c": client_id, "p": patient_id})
    if found and found[0][0]:
        return None
    row = catalog.fetch(conn,
        "INSERT INTO appointment (client_id, patient_id, service_id, branch_id, status, starts_at, ends_at, source, "
        "policy_free_hours, policy_late_fee_cents, deposit_cents, doctor_id" + (", parallel" if parallel else "") + ") "
        "VALUES (%(c)s, %(p)s, %(s)s, %(b)s, %(st)s, %(start)s, %(end)s, %(src)s, %(fh)s, %(fee)s, %(dep)s, %(doc)s"
        + (", true" if parallel else "") + ") "
        "RETURNING id, (SELECT display_name FROM patient WHERE id = %(p)s), hold_expires_at",
        {"c": client_id, "p": patient_id, "s": s.id, "b": branch_id, "st": status, "start": start, "end": end,
         "src": source, "fh": free_hours, "fee": late_fee, "dep": deposit,
         "doc": chosen.get("doctor")})   # the report column, given now: the row is not written twice
    if not row:
        return None
    appointment_id, patient_name, hold_expires_at = row[0]
    lo = start - timedelta(minutes=spec.buffer_before_min)
    hi = end + timedelta(minutes=spec.buffer_after_min)
    catalog.fetch(conn,  # one multi-row INSERT
        "INSERT INTO booking (appointment_id, resource_id, period) "
        "SELECT %(a)s, r, tstzrange(%(lo)s, %(hi)s) FROM unnest(%(r)s::integer[]) AS r RETURNING id",
        {"a": appointment_id, "r": list(chosen.values()), "lo": lo, "hi": hi})
    return int(appointment_id), str(patient_name), hold_expires_at.astimezone(UTC) if hold_expires_at else None


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
        status = _lock_status(conn, appointment_id)
        if status not in MOVABLE_STATUSES:
            raise InvalidTransition(f"An appointment that is {LABELS.get(status, status).lower()} cannot be moved.")
        row = conn.execute(text("SELECT a.branch_id, a.starts_at, s.name AS service FROM appointment a "
                                "JOIN service s ON s.id = a.service_id WHERE a.id = :i"),
                           {"i": appointment_id}).one()
        b = catalog.load_branch(conn, int(row.branch_id))
        s = catalog.load_service(conn, row.service)
        start_utc = _check_start(start, b) if start is not None else row.starts_at.astimezone(UTC)
        pinned = _pins_for(conn, s, doctor, room, equipment)
        current = _current_resources(conn, appointment_id)
        option, names = _place(conn, b, s, start_utc, now, pinned, prefer=current,
                               exclude_appointment=appointment_id)
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

    write_booking(db, work, reason=reason or "moved", start=start or before.start, branch=before.branch,
                  patient_id=before.patient_id, exclude=(appointment_id,))
    return MoveResult(before=before, after=get_appointment(db, appointment_id))


def _current_resources(conn: Connection, appointment_id: int) -> dict[str, int]:
    """The appointment's booked resources: kind → resource id."""
    return dict(catalog.fetch(conn, "SELECT r.kind, r.id FROM booking b JOIN resource r "
                                    "ON r.id = b.resource_id WHERE b.appointment_id = %(a)s",
                              {"a": appointment_id}))


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
        if row.status not in MOVABLE_STATUSES:
            raise InvalidTransition(f"An appointment that is {LABELS.get(row.status, row.status).lower()} "
                                    "cannot be moved.")
        b = catalog.load_branch(conn, int(row.branch_id))
        s = catalog.load_service(conn, row.service)
        own_start = row.starts_at.astimezone(UTC)
        current = _current_resources(conn, appointment_id)
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
    checks.names(branch=branch, service=service, doctor=doctor)

    def work(conn: Connection) -> SlotOffer:
        b, s, only = _walk_in_inputs(conn, branch, service, doctor, now)
        option, names = _plan_walk_in(conn, b, s, now, only)
        return _offer(option, names)

    return db.read(work)


def _walk_in_inputs(conn: Connection, branch: str, service: str, doctor: str | None,
                    now: datetime) -> tuple[BranchInfo, ServiceInfo, dict[str, list[int]]]:
    parse_schedule_instant(now, "now")
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
    except (SlotTaken, ValidationError) as exc:
        start = _floor_to_grid(now, branch_zone(db, branch)) if isinstance(exc, SlotTaken) else now
        raise name_booking_error(db, exc, start=start, branch=branch, patient_id=patient_id) from exc
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


def _change_status(conn: Connection, appointment_id: int, status: str, reason: str | None,
                   **more: Any) -> None:
    """Set the status (and ``more`` columns); an UPDATE that row-level security silently filters is an
    error, never a no-op."""
    result = conn.execute(update(t.appointment).where(t.appointment.c.id == appointment_id)
                          .values(status=status, status_reason=reason, **more))
    if result.rowcount != 1:
        raise _not_yours(appointment_id)


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
        current = _lock_status(conn, appointment_id)
        if current == "cancelled":
            return
        check_transition(current, "cancelled")
        # "clinic" is the trigger's default: left out, so doctors (granted only the status columns) may cancel.
        more = {"cancelled_by": by} if by != "clinic" else {}
        _change_status(conn, appointment_id, "cancelled", why, **more)

    db.write(work, reason=f"cancelled: {why}")
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
        current = _lock_status(conn, appointment_id)
        check_transition(current, status)
        if status == "confirmed" and current in UNCONFIRMED:
            _check_deposit(conn, appointment_id)
        _change_status(conn, appointment_id, status, reason)

    db.write(work, reason=reason or status)
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
        current = _lock_status(conn, appointment_id)
        if current != "held":
            raise InvalidTransition(f"Only a held appointment can be confirmed this way; this one is "
                                    f"{LABELS.get(current, current).lower()}"
                                    f"{' (the hold expired)' if current == 'cancelled' else ''}.")
        target = _decide(conn, appointment_id, approved=False)
        check_transition(current, target)
        _change_status(conn, appointment_id, target, reason or "hold confirmed")

    db.write(work, reason=reason or "hold confirmed")
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
        current = _lock_status(conn, appointment_id)
        if current != "requested":
            raise InvalidTransition(f"Only a requested appointment can be approved; this one is "
                                    f"{LABELS.get(current, current).lower()}.")
        target = _decide(conn, appointment_id, approved=True)
        _change_status(conn, appointment_id, target, reason or "approved")

    db.write(work, reason=reason or "approved")
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
        current = _lock_status(conn, appointment_id)
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
        start_utc = _check_start(start, b)
        pinned = _pins_for(conn, s, doctor, room, equipment)
        prefer = _current_resources(conn, appointment_id)
        _change_status(conn, appointment_id, "rescheduled", reason or "rescheduled")  # releases its bookings
        option, names = _place(conn, b, s, start_utc, now, pinned, prefer=prefer, exclude_appointment=appointment_id)
        if option is None:
            raise _explain_unavailable(conn, b, s, start_utc, now, pinned, names, exclude_appointment=appointment_id)
        chosen = option.first_combination()
        catalog.release_expired_holds(conn, list(chosen.values()), option.occupied_start, option.occupied_end)
        status = current
        if current == "payment_pending":
            status = policy.status_after_approval(int(row.deposit_cents or 0),
                                                  payments.net_paid_cents(conn, appointment_id))
        terms = (row.policy_free_hours, row.policy_late_fee_cents, row.deposit_cents)
        inserted = _insert_appointment(conn, b.id, s, int(row.patient_id), option.start, option.end, chosen,
                                       status=status, source=row.source, client_id=cid,
                                       terms=terms if None not in terms else None)
        if inserted is None:
            raise ValidationError("client_id", str(cid), "was already used for another appointment")
        new_id = inserted[0]
        conn.execute(update(t.appointment).where(t.appointment.c.id == appointment_id)
                     .values(rescheduled_to=new_id, updated_at=datetime.now(UTC)))
        return new_id

    before = get_appointment(db, appointment_id)
    new_id = write_booking(db, work, reason=reason or "rescheduled", start=start, branch=before.branch,
                           patient_id=before.patient_id, exclude=(appointment_id,))
    return RescheduleResult(old=get_appointment(db, appointment_id), new=get_appointment(db, new_id))


# -- reading -----------------------------------------------------------------------
_APPOINTMENT_SQL = """
SELECT a.id, a.client_id, a.branch_id, br.name AS branch, a.service_id, s.name AS service, a.patient_id,
       p.display_name AS patient, a.status, a.starts_at, a.ends_at, a.source, a.hold_expires_at,
       a.series_id, a.series_date, a.visit_id,
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
        source=row.source, resources={k: n for k, n, _ in row.res}, resource_ids={k: i for k, _, i in row.res},
        hold_expires_at=row.hold_expires_at.astimezone(UTC) if row.hold_expires_at else None,
        series_id=row.series_id, series_date=row.series_date, visit_id=row.visit_id)


def get_appointment(db: Database, appointment_id: int) -> AppointmentView:
    """One appointment by id. Raises ``NotFound``, ``ValidationError`` (an id that is not a whole number)."""
    checks.record_id(appointment_id, "appointment")

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
    """All appointments of a branch on a local date, cancelled ones included, by start.

    Raises ``NotFound`` (branch), ``ValidationError`` (a bad date, one outside 2000-01-01 ..
    2099-12-31, a branch name holding a control character)."""
    checks.names(branch=branch)
    d = parse_date(local_date, "date")
    return db.read(lambda conn: appointments_on(conn, catalog.load_branch(conn, branch), d))


def branch_zone(db: Database, branch: str) -> ZoneInfo:
    """The IANA zone of a branch (by name), for showing times in branch-local wall clock.
    Raises ``NotFound``, ``ValidationError`` (a name holding a control character)."""
    checks.names(branch=branch)
    return db.read(lambda conn: catalog.load_branch(conn, branch).tz)


