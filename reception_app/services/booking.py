"""The booking core: the rules every way of creating or changing an appointment is built from.

``scheduling`` (book, hold, walk-in, move, reschedule, cancel, status changes), ``visits``,
``series``, ``waitlist`` (offers) and ``overrides`` all call these functions; a new front door
(a web portal, a payment webhook, an API) should too. Each function takes the caller's SQLAlchemy
``Connection`` and works inside the caller's transaction: it never begins, commits, rolls back
or retries. Transactions and their retries belong to the runner (``Database.write``, and
``scheduling.write_booking`` around it, which also names the database's refusals).

The steps, in the order a booking takes them:

0. :func:`queue_for_booking`, :func:`queue_for_appointments`, :func:`queue_for_offer`,
   :func:`queue_for_freed_slots` — before the transaction: the resources the write may touch, so that
   ``Database.write(queue=…)`` lets writers of the same resources take turns (for speed only; no
   rule depends on it).

1. :func:`check_start` — the requested start: a date-time with an offset, in 2000-01-01 ..
   2099-12-31, a wall-clock time that exists in the branch's zone (not in a DST gap), on the
   15-minute grid. :func:`timing_problem` — the past, the service's minimum notice, its horizon.
2. :func:`resolve_pins` — the resources the caller pinned by name, for the kinds the service needs.
3. :func:`judge_start` — the slot engine's verdict (``domain.slots.find_slot_at``) on that start
   against the doctors' rosters (shifts with their exceptions), the branch's opening hours and
   holidays, time off and the live bookings around it, buffers included.
   (:func:`judge` gives the same verdict on busy times read already, for many starts at once.)
   :func:`explain_unavailable` says why a start is not bookable, in a receptionist's words;
   :func:`patient_conflict` names the patient's other appointment at that time.
4. :func:`booked_by_client` — an earlier attempt with the same client id (a retried commit).
5. :func:`place` — insert the appointment and one booking row per resource (buffers included);
   :func:`rebook` rewrites the time and bookings of an existing one (a move).
6. :func:`lock_status` and :func:`change_status` — lock an appointment, read its status and
   change it through the lifecycle's transitions (``domain.status``).

Units: instants are aware ``datetime`` s (returned in UTC); durations, buffers and notice are
whole minutes; money is in minor currency units (cents). Resources are ``{kind: id}`` with kinds
``doctor``, ``room``, ``equipment`` (``domain.slots.KINDS``).

Errors raised (``domain.errors``), which every front door maps the same way:

* ``ValidationError`` — bad input, a start off the grid or in a DST gap, in the past, sooner than
  the notice, beyond the horizon (the field is ``start``), a pin of a kind the service does not
  need, a client id used for something else; ``NotFound`` (a ``ValidationError``) — an unknown
  name or id; ``OutsideHours`` (a ``ValidationError``) — outside the opening hours or the doctors'
  shifts, or on a holiday: what needs a manager's logged override;
* ``SlotTaken`` — a resource is booked or off at that time (also the resource exclusion constraint
  ``booking_no_overlap`` at insert or commit); ``PatientBusy`` (a ``SlotTaken``) — the patient has
  another live appointment then (constraint ``appointment_patient_no_overlap``);
* ``InvalidTransition`` — a status change the lifecycle does not allow (``domain.status``), or a
  move of an appointment that is no longer movable;
* ``PermissionDenied`` — the database role may not change this appointment (row-level security).

What needs a manager's override (``services.overrides``) is refused here like any other rule:
the override paths skip :func:`judge_start` and log what they skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text, update
from sqlalchemy.engine import Connection

from ..domain import slots as engine
from ..domain.errors import (
    ClinicError,
    InvalidTransition,
    NotFound,
    OutsideHours,
    PatientBusy,
    PermissionDenied,
    SlotTaken,
    TimeRefused,
    ValidationError,
)
from ..domain.formats import Formats
from ..domain.slots import KINDS
from ..domain.status import LABELS, check_transition
from ..domain.validation import parse_schedule_instant
from ..domain.wallclock import check_local_time_exists, is_on_grid
from ..store import schema as t
from ..store.database import Queue
from . import catalog
from .appointments import AppointmentView, iso_utc, patient_live_between
from .catalog import BranchInfo, ServiceInfo

#: Statuses whose time and resources may still change (the patient has not arrived).
MOVABLE_STATUSES = ("requested", "held", "confirmed", "payment_pending")


# -- 0. waiting in line (before the transaction) --------------------------------------------------
#: The resources a booking of a service at a branch may take: those pinned by name (case-insensitive,
#: as the booking resolves them), else every active resource of each needed kind and category
#: (doctors wherever they work; rooms and equipment of the branch).
_BOOKING_QUEUE_SQL = """
SELECT r.id
  FROM service s
  JOIN branch b ON lower(b.name) = lower(:branch) OR b.id::text = :branch
  JOIN resource r ON r.active
   AND ((r.kind = 'doctor' AND r.category = s.doctor_specialty
         AND (CAST(:doctor AS text) IS NULL OR lower(r.name) = lower(:doctor)))
     OR (r.kind = 'room' AND r.category = s.room_kind AND r.branch_id = b.id
         AND (CAST(:room AS text) IS NULL OR lower(r.name) = lower(:room)))
     OR (r.kind = 'equipment' AND r.category = s.equipment_kind AND r.branch_id = b.id
         AND (CAST(:equipment AS text) IS NULL OR lower(r.name) = lower(:equipment))))
 WHERE lower(s.name) = lower(:service)
UNION ALL
SELECT resource_id FROM booking WHERE appointment_id = ANY(CAST(:appointments AS bigint[]))
"""

_APPOINTMENTS_QUEUE_SQL = "SELECT resource_id FROM booking WHERE appointment_id = ANY(CAST(:appointments AS bigint[]))"

_OFFER_QUEUE_SQL = ("SELECT b.resource_id FROM waitlist_offer o JOIN booking b ON b.appointment_id = o.appointment_id "
                    "WHERE o.id = :offer")

_FREED_SLOTS_QUEUE_SQL = ("SELECT unnest(resource_ids) FROM freed_slot WHERE state IN ('open', 'offered') "
                          "AND (CAST(:slot AS bigint) IS NULL OR id = :slot)")


def queue_for_booking(branch: str | int, service: str, pins: Mapping[str, str | None] | None = None,
                      moving: Collection[int] = ()) -> Queue:
    """Where a booking of ``service`` at ``branch`` (name or id) waits in line: the resources it may
    take (``pins``: ``{kind: name or None}``), and those of the appointments in ``moving`` (a move
    frees them). Unknown names lock nothing: the transaction then raises ``NotFound`` as usual."""
    p = pins or {}
    return Queue(_BOOKING_QUEUE_SQL, {"branch": str(branch), "service": service, "doctor": p.get("doctor"),
                                      "room": p.get("room"), "equipment": p.get("equipment"),
                                      "appointments": list(moving)})


def queue_for_appointments(appointment_ids: Collection[int]) -> Queue:
    """Where a status change (cancel, confirm, check-in …) of these appointments waits in line: the
    resources they book (a cancel frees them for the next booking of the same resources)."""
    return Queue(_APPOINTMENTS_QUEUE_SQL, {"appointments": list(appointment_ids)})


def queue_for_offer(offer_id: int) -> Queue:
    """Where accepting or declining waitlist offer ``offer_id`` waits in line: its held appointment's
    resources."""
    return Queue(_OFFER_QUEUE_SQL, {"offer": offer_id})


def queue_for_freed_slots(slot_id: int | None = None) -> Queue:
    """Where a waitlist sweep waits in line: the resources of the freed slots it may offer (one slot,
    or every open or offered one)."""
    return Queue(_FREED_SLOTS_QUEUE_SQL, {"slot": slot_id})


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
        """The CLI's JSON shape: ISO-8601 UTC times with ``Z``, resources as kind → name."""
        return {"start": iso_utc(self.start), "end": iso_utc(self.end), "resources": dict(self.resources)}


def offer(option: engine.SlotOption, names: Mapping[int, str], prefer: Mapping[str, int] | None = None) -> SlotOffer:
    """A :class:`SlotOffer` from the slot engine's ``option``: per kind ``prefer[kind]`` where that
    resource is free, else the first free one; ``names``: resource names by id."""
    chosen = {kind: (prefer[kind] if prefer and prefer.get(kind) in ids else ids[0])
              for kind, ids in option.free.items()}
    return SlotOffer(
        start=option.start, end=option.end,
        resources={k: names[v] for k, v in chosen.items()}, resource_ids=chosen,
        choices={k: [(i, names[i]) for i in ids] for k, ids in option.free.items()},
    )


# -- 1. the requested start ------------------------------------------------------------------
def check_start(start: datetime, branch: BranchInfo) -> datetime:
    """The requested start as UTC, or ``ValidationError("start", …)``: not a date-time, no offset, a
    date outside 2000-01-01 .. 2099-12-31 (``validation.parse_schedule_instant``: year 1 or 9999 would
    overflow), a local time the branch's clocks skip (written with an offset that is neither UTC nor
    the branch's), off the 15-minute grid of the branch's wall clock."""
    start = parse_schedule_instant(start, "start")
    tz = branch.tz
    given = start.utcoffset()
    if given != timedelta(0) and given != start.astimezone(tz).utcoffset():
        # The wall-clock time written with this offset: does it exist in the branch's zone?
        check_local_time_exists(start.replace(tzinfo=None), tz, "start")
    if not is_on_grid(start, tz):
        raise ValidationError("start", start.isoformat(), "is not on the 15-minute grid")
    return start.astimezone(UTC)


def timing_problem(start: datetime, branch: BranchInfo, service: ServiceInfo, now: datetime, *,
                   notice: bool = True) -> str | None:
    """What is wrong with ``start`` (aware) at ``now`` by the clock alone, as the problem text of a
    ``ValidationError("start", …)``, or None: in the past; sooner than the service's minimum notice
    (``min_notice_min`` minutes; ``notice=False`` skips it — an override); further than its horizon
    (``horizon_days`` whole days between the branch-local dates of ``now`` and ``start``)."""
    spec = service.spec
    if start < now:
        return "is in the past"
    if notice and start < now + timedelta(minutes=spec.min_notice_min):
        return f"gives less than {spec.min_notice_min} minutes' notice (the service's minimum notice of " \
               f"{spec.min_notice_min} minutes)"
    if (start.astimezone(branch.tz).date() - now.astimezone(branch.tz).date()).days > spec.horizon_days:
        return f"is more than {spec.horizon_days} days ahead (the service's booking horizon of {spec.horizon_days} days)"
    return None


def occupied_span(service: ServiceInfo, start: datetime, end: datetime | None = None) -> tuple[datetime, datetime]:
    """The time an appointment [start, end) keeps its resources: its buffers added on either side
    (``buffer_before_min``, ``buffer_after_min``); ``end`` defaults to start + the service's duration."""
    spec = service.spec
    end = end if end is not None else start + timedelta(minutes=spec.duration_min)
    return start - timedelta(minutes=spec.buffer_before_min), end + timedelta(minutes=spec.buffer_after_min)


# -- 2. resources ----------------------------------------------------------------------------
def resolve_pins(conn: Connection, service: ServiceInfo, pins: Mapping[str, str | None], *, field_prefix: str = "",
                 names_first: bool = False) -> dict[str, list[int]]:
    """The resources pinned by name → ``{kind: [id]}`` for the slot engine's ``only`` (one query);
    ``pins``: ``{kind: name or None}``, None or empty meaning "any".

    Raises ``NotFound(kind, name)`` for an unknown name (or one of another kind) and
    ``ValidationError(field_prefix + kind, name, …)`` for a kind the service does not need.
    ``names_first``: the names are looked up before the kinds are checked (``scheduling.book``,
    ``move``, ``reschedule`` and walk-ins report an unknown name first; visits and series a kind
    the service does not need).
    """
    if names_first:
        only = resolve_names(conn, pins)
        _check_pin_kinds(service, {k: pins[k] for k in only}, field_prefix)
        return only
    _check_pin_kinds(service, pins, field_prefix)
    return resolve_names(conn, pins)


def resolve_names(conn: Connection, pins: Mapping[str, str | None]) -> dict[str, list[int]]:
    """Resources by name, whatever the service (a slot search's pins): ``{kind: name or None}`` →
    ``{kind: [id]}`` for the names given (one query). Raises ``NotFound(kind, name)``."""
    found = catalog.load_resources(conn, {k: n for k, n in pins.items() if n})
    return {kind: [info.id] for kind, info in found.items()}


def _check_pin_kinds(service: ServiceInfo, pins: Mapping[str, str | None], field_prefix: str) -> None:
    for kind, name in pins.items():
        if name and kind not in service.spec.needs:
            raise ValidationError(field_prefix + kind, name, f"the service {service.name!r} does not need a {kind}")


def current_resources(conn: Connection, appointment_id: int) -> dict[str, int]:
    """The appointment's booked resources: kind → resource id (empty once none is booked)."""
    return dict(catalog.fetch(conn, "SELECT r.kind, r.id FROM booking b JOIN resource r "
                                    "ON r.id = b.resource_id WHERE b.appointment_id = %(a)s",
                              {"a": appointment_id}))


# -- 3. judging a start ----------------------------------------------------------------------
def judge_start(conn: Connection, branch: BranchInfo, service: ServiceInfo, start_utc: datetime, now: datetime,
                pinned: Mapping[str, list[int]], *, prefer: Mapping[str, int] | None = None,
                exclude_appointment: int | None = None,
                resources: list[engine.ResourceSpec] | None = None) -> tuple[engine.SlotOption | None, dict[int, str]]:
    """The slot engine's verdict on one start (UTC), read inside the caller's transaction: the
    option (None: not bookable now) and the candidate resources' names by id.

    Every booking rule of ``domain.slots``: the branch's hours and holidays, the doctors' shifts at
    the branch (exceptions applied), time off, live bookings (an expired hold is free) with the
    service's buffers, the minimum notice and the horizon from ``now``, the grid. Reads only the
    bookings and time off around the start of the resources that could be chosen (the pinned one
    of a pinned kind; a small SERIALIZABLE read set); what this transaction wrote already counts.
    ``pinned``: ``{kind: [id]}`` (from :func:`resolve_pins`). ``prefer``: kind → resource id kept
    when free (a kind not pinned: a move keeps its doctor). ``exclude_appointment``: its own
    bookings do not block (a move). ``resources``: the candidates when the caller has them
    (``catalog.candidate_resources``), else read here.
    """
    if resources is None:
        resources = catalog.candidate_resources(conn, branch, service)
    names = {r.id: r.name for r in resources}
    wanted = [r.id for r in resources if r.kind not in pinned or r.id in pinned[r.kind]]
    busy = catalog.busy_seconds(conn, wanted, *occupied_span(service, start_utc),
                                exclude_appointment=exclude_appointment)
    return judge(branch, service, resources, busy, start_utc, now, pinned, prefer=prefer), names


def judge(branch: BranchInfo, service: ServiceInfo, resources: list[engine.ResourceSpec],
          busy: Mapping[int, list[tuple[int, int]]], start_utc: datetime, now: datetime,
          pinned: Mapping[str, list[int]], *, prefer: Mapping[str, int] | None = None) -> engine.SlotOption | None:
    """The verdict of :func:`judge_start` on busy times the caller read already (no query): ``busy``
    is ``{resource_id: [(start_s, end_s), …]}`` in epoch seconds (``catalog.busy_seconds``), for a
    caller judging many starts over one read (a series' plan). None: not bookable. ``prefer`` as
    in :func:`judge_start`: tried first, then any free resource of a kind not pinned."""
    spec = service.spec
    keep = {k: [v] for k, v in (prefer or {}).items() if k in spec.needs and k not in pinned}
    option = (engine.find_slot_at(branch.spec, spec, resources, busy, start_utc, now, only={**pinned, **keep})
              if keep else None)
    return option or engine.find_slot_at(branch.spec, spec, resources, busy, start_utc, now,
                                         only=dict(pinned) or None)


def explain_unavailable(conn: Connection, branch: BranchInfo, service: ServiceInfo, start: datetime,
                        now: datetime, pinned: Mapping[str, list[int]], *,
                        exclude_appointment: int = 0) -> ClinicError:
    """Why :func:`judge_start` refused ``start`` (UTC), in a receptionist's words — returned, not raised:

    * ``ValidationError("start", …)``: in the past, sooner than the minimum notice, beyond the
      horizon (:func:`timing_problem`);
    * ``OutsideHours("start", …)`` (a ``ValidationError``): "outside the branch's opening hours or
      the doctors' shifts (or on a holiday)" — not offered even with every booking ignored; only
      the logged override may book it;
    * ``SlotTaken``: the resources of a kind that are booked or off then, by name ("Ana Souza is
      already booked at 2027-01-04 10:00 CET."), or no free combination left.

    ``exclude_appointment``: an appointment being moved does not block itself.
    """
    spec = service.spec
    local = start.astimezone(branch.tz)
    when = local.strftime("%Y-%m-%d %H:%M %Z")
    problem = timing_problem(start, branch, service, now)
    if problem is not None:
        return TimeRefused("start", iso_utc(start), problem, when=branch.formats.time_text(local))
    resources = catalog.candidate_resources(conn, branch, service)
    only = dict(pinned) or None
    free_if_empty = engine.find_slots(branch.spec, spec, resources, {}, [local.date()], now, only=only)
    if not any(o.start == start for o in free_if_empty):
        return OutsideHours("start", when, when=branch.formats.time_text(local),
                            problem="is outside the branch's opening hours or the doctors' shifts "
                            "(or on a holiday)")
    lo, hi = occupied_span(service, start)
    ids = [r.id for r in resources if r.kind in spec.needs and (r.kind not in pinned or r.id in pinned[r.kind])]
    fmt = branch.formats
    blocked: dict[int, str] = {}
    in_the_way: dict[int, str] = {}
    for row in conn.execute(text(
            "SELECT b.resource_id, r.name, p.display_name AS patient, s.name AS service, a.starts_at, a.ends_at, "
            "false AS away FROM booking b JOIN resource r ON r.id = b.resource_id "
            "JOIN appointment a ON a.id = b.appointment_id JOIN patient p ON p.id = a.patient_id "
            "JOIN service s ON s.id = a.service_id "
            "WHERE b.live AND b.resource_id = ANY(:ids) AND b.period && tstzrange(:s, :e) "
            "AND b.appointment_id <> :x "
            "UNION ALL SELECT o.resource_id, r.name, NULL, NULL, lower(o.period), upper(o.period), true "
            "FROM time_off o JOIN resource r ON r.id = o.resource_id "
            "WHERE o.resource_id = ANY(:ids) AND o.period && tstzrange(:s, :e) ORDER BY 5"),
            {"ids": ids, "s": lo, "e": hi, "x": exclude_appointment}):
        blocked[row.resource_id] = row.name
        if row.resource_id not in in_the_way:   # the first thing in its way names it
            span = _span_text(fmt, row.starts_at, row.ends_at, branch.tz, local.date())
            in_the_way[row.resource_id] = (f"{row.name} is away {span}" if row.away
                                           else f"{row.name} has {row.patient} ({row.service}) {span}")
    # Name the kind for which nothing is left: every suitable resource of it is taken, and by what.
    for kind in KINDS:
        of_kind = [r for r in resources if r.kind == kind and r.id in ids]
        if of_kind and all(r.id in blocked for r in of_kind):
            return SlotTaken("; ".join(in_the_way[r.id] for r in of_kind) + ".",
                             resource=blocked[of_kind[0].id], when=when)
    return SlotTaken(f"No combination of free resources is left at {fmt.time_text(local)}.", when=when)


def _span_text(fmt: Formats, start: datetime, end: datetime, tz: ZoneInfo, day: date) -> str:
    """``"10:45–11:15"`` on the branch's clock; the day too when it is not ``day`` (a time off
    running for days: ``"Mon 04/01/2027 08:00–Fri 08/01/2027 18:00"``)."""
    a, b = start.astimezone(tz), end.astimezone(tz)
    if a.date() == day and b.date() == day:
        return f"{fmt.time_text(a)}–{fmt.time_text(b)}"
    return f"{fmt.day_text(a.date())} {fmt.time_text(a)}–{fmt.day_text(b.date())} {fmt.time_text(b)}"


def patient_busy(other: AppointmentView, branch: BranchInfo) -> PatientBusy:
    """``PatientBusy`` naming ``other`` (the patient's appointment in the way) on its ``branch``'s
    wall clock and in its form: "Maria Silva already has Consultation at Mon 04/01/2027 10:00–10:30
    with Ana Souza (Centro, appointment 12); a patient cannot be in two places at once."."""
    fmt, tz = branch.formats, branch.tz
    a, b = other.start.astimezone(tz), other.end.astimezone(tz)
    when = f"{fmt.day_text(a.date())} {fmt.time_text(a)}–{fmt.time_text(b)}"
    who = ", ".join(other.resources.values())
    return PatientBusy(f"{other.patient} already has {other.service} at {when}"
                       f"{' with ' + who if who else ''} ({other.branch}, appointment {other.id}); a patient "
                       f"cannot be in two places at once.", appointment_id=other.id, when=when)


def patient_conflict(conn: Connection, patient_id: int, start: datetime, end: datetime, *,
                     exclude: Collection[int] = ()) -> PatientBusy | None:
    """A ``PatientBusy`` naming the patient's first live appointment whose time overlaps
    [start, end) (aware), or None. ``exclude``: appointment ids that do not count (one being moved).
    For paths that book several appointments at once (visits, series), so the refusal names the
    part before the database's deferred constraint would at commit."""
    around = patient_live_between(conn, patient_id, start, end, exclude)
    if not around:
        return None
    return patient_busy(around[0], catalog.load_branch(conn, around[0].branch_id))


def name_patient_conflict(conn: Connection, patient_id: int, start: datetime,
                          exclude: Collection[int] = ()) -> PatientBusy:
    """A ``PatientBusy`` naming the patient's appointment in the way at ``start`` (aware): one running
    at ``start``, else the one starting nearest to it (within 12 hours); ``exclude``: ids that do not
    count. For naming the database's refusal (``appointment_patient_no_overlap``) after the fact."""
    around = patient_live_between(conn, patient_id, start - timedelta(hours=12), start + timedelta(hours=12),
                                  exclude)
    if not around:
        return PatientBusy("The patient already has an appointment at that time; a patient cannot be in "
                           "two places at once.")
    other = min(around, key=lambda a: (not a.start <= start < a.end, abs((a.start - start).total_seconds())))
    return patient_busy(other, catalog.load_branch(conn, other.branch_id))


def name_resource_conflict(conn: Connection, exc: SlotTaken, start: datetime, branch: str | int) -> SlotTaken:
    """A ``SlotTaken`` from the resource exclusion constraint (it knows only ``resource_id``) with the
    resource's name and the branch-local ``start``: "Ana Souza was booked by someone else at
    10:00 just now." ``exc`` itself when it names its resource already or knows none."""
    if exc.resource or exc.resource_id is None:
        return exc
    name = str(conn.execute(text("SELECT name FROM resource WHERE id = :i"), {"i": exc.resource_id}).scalar())
    info = catalog.load_branch(conn, branch)
    when = info.formats.time_text(start.astimezone(info.tz))
    return SlotTaken(f"{name} was booked by someone else at {when} just now.", resource=name, when=when,
                     resource_id=exc.resource_id)


# -- 4. an earlier attempt -------------------------------------------------------------------
def booked_by_client(conn: Connection, client_id: uuid.UUID, patient_id: int, service_id: int,
                     start: datetime | None = None) -> int | None:
    """The id of the appointment an earlier attempt with this client id made, or None.

    The same id with a different patient, service or (when given) ``start`` is a caller's mistake,
    never a retry: ``ValidationError("client_id", …, "was already used for appointment N")``.
    """
    row = conn.execute(text("SELECT id, patient_id, service_id, starts_at FROM appointment WHERE client_id = :c"),
                       {"c": client_id}).first()
    if row is None:
        return None
    same = (row.patient_id, row.service_id) == (patient_id, service_id)
    if not same or (start is not None and row.starts_at != start):
        raise ValidationError("client_id", str(client_id), f"was already used for appointment {row.id}")
    return int(row.id)


# -- 5. placing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Placed:
    """A new appointment as :func:`place` wrote it: its ``id``, the ``patient`` 's name, the UTC
    ``hold_expires_at`` the database set (status ``held``), else None."""

    id: int
    patient: str
    hold_expires_at: datetime | None


def place(conn: Connection, branch_id: int, service: ServiceInfo, patient_id: int, start: datetime, end: datetime,
          resources: Mapping[str, int], *, status: str, source: str, client_id: uuid.UUID,
          terms: tuple[int, int, int] | None = None, parallel: bool = False) -> Placed | None:
    """Write the appointment [start, end) (UTC) and one booking per resource of ``resources``
    (``{kind: id}``; each booking's period is :func:`occupied_span`), first cancelling the expired
    holds in the way (``catalog.release_expired_holds``), inside the caller's transaction.

    ``status``: its first status (``confirmed``, ``requested``, ``held``, ``payment_pending``).
    ``source``: ``phone``, ``walk_in``, ``online``, ``import``. ``terms``: (policy_free_hours,
    policy_late_fee_cents, deposit_cents) to keep (a rescheduled appointment's); None: the database
    copies the service's. ``parallel``: it may overlap another of the patient's (a manager's logged
    override; the database refuses it to anyone else).

    Returns the :class:`Placed` appointment, or None when ``client_id`` exists already (nothing
    written: see :func:`booked_by_client`). Nothing is judged here (:func:`judge_start` is the
    caller's): the constraints decide. An unknown patient fails the foreign key
    ``appointment_patient_id_fkey`` (``ValidationError`` from the runner); a resource taken meanwhile
    ``booking_no_overlap`` (``SlotTaken``); the patient's overlap ``PatientBusy`` at commit.
    """
    lo, hi = occupied_span(service, start, end)
    ids = list(resources.values())
    catalog.release_expired_holds(conn, ids, lo, hi)
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
        {"c": client_id, "p": patient_id, "s": service.id, "b": branch_id, "st": status, "start": start, "end": end,
         "src": source, "fh": free_hours, "fee": late_fee, "dep": deposit,
         "doc": resources.get("doctor")})   # the report column, given now: the row is not written twice
    if not row:
        return None
    appointment_id, patient_name, hold_expires_at = row[0]
    _write_bookings(conn, int(appointment_id), ids, lo, hi)
    return Placed(int(appointment_id), str(patient_name),
                  hold_expires_at.astimezone(UTC) if hold_expires_at else None)


def rebook(conn: Connection, appointment_id: int, service: ServiceInfo, start: datetime, end: datetime,
           resources: Mapping[str, int], *, release_holds: bool = True) -> None:
    """Give an existing appointment the time [start, end) (UTC) and the resources ``{kind: id}``, inside
    the caller's transaction (a move): the expired holds in the way are cancelled (unless
    ``release_holds=False``: the caller did it already), the appointment's times updated and its
    bookings replaced (periods with buffers, :func:`occupied_span`).

    Nothing is judged here: the exclusion constraints and the deferred "bookings cover their
    appointment" trigger guard the result (``SlotTaken``, ``PatientBusy``).
    """
    lo, hi = occupied_span(service, start, end)
    ids = list(resources.values())
    if release_holds:
        catalog.release_expired_holds(conn, ids, lo, hi)
    catalog.fetch(conn, "UPDATE appointment SET starts_at = %(s)s, ends_at = %(e)s, updated_at = now() "
                        "WHERE id = %(a)s RETURNING id", {"s": start, "e": end, "a": appointment_id})
    catalog.fetch(conn, "DELETE FROM booking WHERE appointment_id = %(a)s RETURNING id", {"a": appointment_id})
    _write_bookings(conn, appointment_id, ids, lo, hi)


def _write_bookings(conn: Connection, appointment_id: int, resource_ids: list[int], lo: datetime,
                    hi: datetime) -> None:
    """One booking row per resource over [lo, hi) — one multi-row INSERT."""
    catalog.fetch(conn,
        "INSERT INTO booking (appointment_id, resource_id, period) "
        "SELECT %(a)s, r, tstzrange(%(lo)s, %(hi)s) FROM unnest(%(r)s::integer[]) AS r RETURNING id",
        {"a": appointment_id, "r": resource_ids, "lo": lo, "hi": hi})


# -- 6. status -------------------------------------------------------------------------------
def not_yours(appointment_id: int) -> PermissionDenied:
    """The ``PermissionDenied`` for an appointment the role may see but not change (row-level security)."""
    return PermissionDenied(f"Your database role may not change appointment {appointment_id} "
                            "(a doctor may change only their own appointments).")


def lock_status(conn: Connection, appointment_id: int) -> str:
    """Lock the appointment (``FOR UPDATE``) for a change and return its status.

    Row-level security hides rows the role may not update from ``FOR UPDATE``
    (a doctor and another doctor's appointment): a row that is visible but
    cannot be locked is ``PermissionDenied``, not ``NotFound``. Raises ``NotFound("appointment", …)``.
    """
    row = conn.execute(text("SELECT status FROM appointment WHERE id = :i FOR UPDATE"),
                       {"i": appointment_id}).first()
    if row is not None:
        return str(row.status)
    if conn.execute(text("SELECT 1 FROM appointment WHERE id = :i"), {"i": appointment_id}).first() is None:
        raise NotFound("appointment", appointment_id)
    raise not_yours(appointment_id)


#: Why the desk may not confirm, move or change the status of an online hold without a patient
#: (migration 0014: the portal holds the start while the visitor types their details); it may cancel it.
PATIENT_TYPING = "The patient is still entering their details online."


def check_has_patient(conn: Connection, appointment_id: int) -> None:
    """``InvalidTransition(PATIENT_TYPING)`` when the (locked) appointment has no patient yet: an
    online hold. Checked before any change, so the desk says so instead of the database's
    ``appointment_patient_known`` refusal (or a TypeError on the missing id)."""
    if conn.execute(text("SELECT patient_id IS NULL FROM appointment WHERE id = :i"),
                    {"i": appointment_id}).scalar():
        raise InvalidTransition(PATIENT_TYPING)


def check_movable(status: str) -> None:
    """``InvalidTransition`` unless an appointment in ``status`` may still change its time or
    resources (:data:`MOVABLE_STATUSES`: the patient has not arrived, it is not released)."""
    if status not in MOVABLE_STATUSES:
        raise InvalidTransition(f"An appointment that is {LABELS.get(status, status).lower()} cannot be moved.")


def change_status(conn: Connection, appointment_id: int, status: str, reason: str | None, *,
                  current: str | None = None, **more: Any) -> None:
    """Set the appointment's ``status`` and ``status_reason`` (and the columns ``more``, e.g.
    ``cancelled_by``) inside the caller's transaction. ``current``: the status read by
    :func:`lock_status`; given, the lifecycle's transition rules are checked first
    (``domain.status.check_transition``: ``InvalidTransition``); the database's trigger
    ``appointment_transition`` checks them again. An UPDATE that row-level security silently
    filters is ``PermissionDenied``, never a no-op.
    """
    if current is not None:
        check_transition(current, status)
    result = conn.execute(update(t.appointment).where(t.appointment.c.id == appointment_id)
                          .values(status=status, status_reason=reason, **more))
    if result.rowcount != 1:
        raise not_yours(appointment_id)
