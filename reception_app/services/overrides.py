"""Overrides with a record: a manager or admin forces a booking or a move past the clinic's rules.

What may be overridden, each with a required reason and a row in ``override_log``
(who, when, what, why; migration 0003):

- ``time_off``: booking over a doctor's (or room's) leave or block. The
  transaction sets ``clinic.override`` to the reason; the database's
  ``booking_check`` then lets the booking through and writes the log row itself.
- ``outside_shift``: the doctor has no shift then at that branch.
- ``closed``: the branch's opening hours do not cover the time (its rooms and
  equipment are closed then).
- ``holiday``: the branch's holiday.
- ``notice``: sooner than the service's minimum notice.
- ``move`` / ``change_doctor``: a forced move to another start / another doctor
  (``detail`` says from what to what, and which of the rules above were skipped).

``outside_shift``, ``closed`` and ``holiday`` are logged by the database itself (``booking_check``,
migration 0009: it refuses a booking that breaks them unless ``clinic.override`` is set by a manager
or admin, and then logs it once); ``notice``, ``move`` and ``change_doctor`` are logged here,
through ``clinic_log_override`` (SECURITY DEFINER), which
refuses anyone but managers and admins (``PermissionDenied``); everything runs in
one SERIALIZABLE transaction, so a refusal leaves nothing written.

What is never overridden: two live bookings of one resource overlapping
(``booking_no_overlap``, ``SlotTaken``), the 15-minute grid, starts in the past,
the service's booking horizon, a doctor of another specialty than the service needs.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from ..domain import slots as engine
from ..domain.errors import PermissionDenied, SlotTaken, ValidationError
from ..domain.slots import KINDS, ResourceSpec
from ..domain.validation import clean_name
from ..store.database import Database
from . import booking, catalog, checks
from .appointments import AppointmentView, get_appointment
from .catalog import BranchInfo, ServiceInfo, fetch
from .scheduling import MoveResult, name_booking_error

#: Rules whose override the database logs itself when a booking breaks them with ``clinic.override``
#: set (``booking_check``, migration 0009): the service logs only the others.
DATABASE_LOGGED = frozenset({"holiday", "closed", "outside_shift"})

#: Kinds of ``override_log`` rows (migration 0003) and how screens name them.
OVERRIDE_KINDS: dict[str, str] = {
    "time_off": "Booked over time off", "outside_shift": "Outside the doctor's shift",
    "closed": "Branch closed", "holiday": "Branch holiday", "notice": "Shorter notice",
    "move": "Forced move", "change_doctor": "Doctor changed", "patient_overlap": "Parallel appointment of the patient",
}


@dataclass(frozen=True)
class OverrideEntry:
    """One ``override_log`` row: ``at`` (UTC), ``who`` (the database login), ``kind`` (a key of
    :data:`OVERRIDE_KINDS`), the appointment and its patient (``None`` when unknown or deleted),
    ``reason``, and ``detail`` (what was overridden: ids, times as text)."""

    id: int
    at: datetime
    who: str
    kind: str
    appointment_id: int | None
    patient: str | None
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def what(self) -> str:
        """The kind in words."""
        return OVERRIDE_KINDS.get(self.kind, self.kind)


def _require_override_rights(conn: Connection) -> None:
    if not fetch(conn, "SELECT clinic_may_override()")[0][0]:
        raise PermissionDenied("Only a manager or an administrator may override the clinic's rules.")


def _log(conn: Connection, kind: str, appointment_id: int, reason: str, detail: dict[str, Any]) -> None:
    fetch(conn, "SELECT clinic_log_override(%(k)s, %(a)s, %(r)s, %(d)s::jsonb)",
          {"k": kind, "a": appointment_id, "r": reason, "d": json.dumps(detail, default=str)})


def _skipped_rules(conn: Connection, b: BranchInfo, s: ServiceInfo, doctor_id: int | None, start: datetime,
                   now: datetime) -> list[str]:
    """The engine's rules the start breaks, apart from busy time: ``holiday``, ``closed``
    (branch hours, for services that need a room or equipment, or nothing), ``outside_shift``
    (the doctor's shifts at the branch, exceptions applied), ``notice``."""
    spec = s.spec
    lo, hi = booking.occupied_span(s, start)
    local_day = start.astimezone(b.tz).date()
    out: list[str] = []

    def covered(res: ResourceSpec) -> bool:
        windows = engine.resource_availability(b.spec, res, local_day, clip=False)
        return any(a <= lo and hi <= z for a, z in windows)

    touched = {lo.astimezone(b.tz).date(), (hi - timedelta(seconds=1)).astimezone(b.tz).date()}
    if touched & set(b.spec.holidays):
        out.append("holiday")
    elif (set(spec.needs) - {"doctor"} or not spec.needs) and not covered(
            ResourceSpec(id=0, name="", kind="room", category="-")):
        out.append("closed")
    if doctor_id is not None and "holiday" not in out:
        rules = catalog.shift_rules(conn, b.id, [doctor_id]).get(doctor_id, ())
        if not covered(ResourceSpec(id=doctor_id, name="", kind="doctor", category="-", rules=rules)):
            out.append("outside_shift")
    if start < now + timedelta(minutes=spec.min_notice_min):
        out.append("notice")
    return out


def _check_when(start: datetime, b: BranchInfo, s: ServiceInfo, now: datetime) -> None:
    """What an override never skips: the past and the service's booking horizon
    (``booking.timing_problem`` without the notice)."""
    problem = booking.timing_problem(start, b, s, now, notice=False)
    if problem is not None:
        raise ValidationError("start", start.isoformat(), problem)


def _doctor(conn: Connection, name: str, s: ServiceInfo) -> int:
    """The doctor's id; ValidationError when the service needs no doctor or another specialty."""
    d = catalog.load_resources(conn, {"doctor": name})["doctor"]
    wanted = s.spec.needs.get("doctor")
    if wanted is None:
        raise ValidationError("doctor", name, f"the service {s.name!r} does not need a doctor")
    if d.category != wanted:
        raise ValidationError("doctor", name, f"is a {d.category} doctor; {s.name!r} needs {wanted}")
    return d.id


def _pick_resources(conn: Connection, b: BranchInfo, s: ServiceInfo, lo: datetime, hi: datetime,
                    pinned: dict[str, int], *, exclude_appointment: int | None = None,
                    prefer: dict[str, int] | None = None) -> dict[str, int]:
    """One resource per needed kind: the pinned one; else ``prefer[kind]`` when free then; else the
    first of the branch's that has no live booking in ``[lo, hi)`` (time off is overridden, a
    booking never is). ``SlotTaken`` when a kind has none free."""
    chosen = dict(pinned)
    candidates = [r for r in catalog.candidate_resources(conn, b, s) if r.kind != "doctor"]
    # Only live bookings (an expired hold is free) make a room unusable here: time off is overridden.
    booked = {int(r[0]) for r in fetch(conn,
        "SELECT DISTINCT b.resource_id FROM booking b WHERE b.live AND b.resource_id = ANY(%(ids)s) "
        "AND b.period && tstzrange(%(lo)s, %(hi)s) AND b.appointment_id <> %(x)s "
        "AND (b.hold_until IS NULL OR b.hold_until > now())",
        {"ids": [r.id for r in candidates], "lo": lo, "hi": hi, "x": exclude_appointment or 0})}
    for kind in KINDS:
        if kind not in s.spec.needs or kind in chosen:
            continue
        of_kind = [r.id for r in candidates if r.kind == kind]
        if prefer and prefer.get(kind) in of_kind and prefer[kind] not in booked:
            chosen[kind] = prefer[kind]
            continue
        free = [rid for rid in of_kind if rid not in booked]
        if not free:
            raise SlotTaken(f"No {kind} of {b.name} is free then; an override never double-books.")
        chosen[kind] = free[0]
    return chosen


def force_book(db: Database, *, branch: str, service: str, start: datetime, patient_id: int, doctor: str,
               room: str | None = None, equipment: str | None = None, reason: str, now: datetime,
               client_id: uuid.UUID | str | None = None, parallel: bool = False) -> AppointmentView:
    """Book ``service`` at ``start`` (aware; on the branch's 15-minute grid) for a patient with
    ``doctor`` (name), overriding the doctor's shifts, the branch's hours and holidays, time off
    and the minimum notice — one SERIALIZABLE transaction, a manager or admin only.

    ``room``/``equipment`` (names) pin those kinds; otherwise the first one of the branch with no
    live booking then is taken. Each rule skipped is logged in ``override_log`` with ``reason``
    (see the module docstring); a start that needs no override is booked and logs nothing.
    ``client_id`` makes a retry after an unknown commit outcome safe (as ``scheduling.book``).
    ``parallel=True`` books it although the patient has another appointment then — a visit whose
    parts run in parallel by design, a companion booked with the patient — marked ``parallel`` and
    logged (``patient_overlap``) by the database; without it such a booking is ``PatientBusy``.

    Raises ``PermissionDenied`` (not a manager or admin), ``ValidationError`` (empty reason, bad
    start, past, beyond the horizon, a doctor of the wrong specialty, names), ``NotFound``
    (patient, names), ``SlotTaken`` (a resource already booked then: never overridden),
    ``PatientBusy`` (the patient has another live appointment then, named: never overridden here).
    """
    why = clean_name(reason, "reason")
    cid = checks.client_id(client_id) if client_id else uuid.uuid4()

    def work(conn: Connection) -> AppointmentView | int:
        _require_override_rights(conn)
        b = catalog.load_branch(conn, branch)
        start_utc = booking.check_start(start, b)
        s = catalog.load_service(conn, service)
        _check_when(start_utc, b, s, now)
        pinned = {"doctor": _doctor(conn, doctor, s)}
        for kind, name in (("room", room), ("equipment", equipment)):
            if name:
                if kind not in s.spec.needs:
                    raise ValidationError(kind, name, f"the service {s.name!r} does not need a {kind}")
                pinned[kind] = catalog.load_resources(conn, {kind: name})[kind].id
        end = start_utc + timedelta(minutes=s.spec.duration_min)
        lo, hi = booking.occupied_span(s, start_utc, end)
        existing = booking.booked_by_client(conn, cid, patient_id, s.id, start_utc)
        if existing is not None:
            return existing
        chosen = _pick_resources(conn, b, s, lo, hi, pinned)
        skipped = _skipped_rules(conn, b, s, pinned["doctor"], start_utc, now)
        fetch(conn, "SELECT set_config('clinic.override', %(w)s, true)", {"w": why})
        placed = booking.place(conn, b.id, s, patient_id, start_utc, end, chosen, status="confirmed",
                               source="phone", client_id=cid, parallel=parallel)
        assert placed is not None  # the client id was checked above, in this transaction
        new_id = placed.id   # parallel: logged by the database (appointment_guard, clinic.override set above)
        for kind in skipped:
            if kind not in DATABASE_LOGGED:
                _log(conn, kind, new_id, why, {"start": start_utc.isoformat(), "resources": chosen,
                                               "service": s.name})
        return new_id

    try:
        result = db.write(work, reason=f"override: {why}")
    except (SlotTaken, ValidationError) as exc:  # PatientBusy names the patient's appointment in the way
        raise name_booking_error(db, exc, start=start, branch=branch, patient_id=patient_id) from exc
    return result if isinstance(result, AppointmentView) else get_appointment(db, result)


def force_move(db: Database, appointment_id: int, *, start: datetime | None = None, doctor: str | None = None,
               reason: str, now: datetime) -> MoveResult:
    """Move an appointment to ``start`` (aware) and/or to another ``doctor`` (name), overriding
    shifts, hours, holidays, time off and notice — one SERIALIZABLE transaction, managers and admins.

    Logs ``move`` (start changed; ``detail``: from, to) and/or ``change_doctor`` (``detail``: from,
    to doctor ids), each with the rules skipped at the new time in ``detail["skipped"]``; the
    database logs ``time_off`` itself when the new time is over time off. Room and equipment
    are kept when free at the new time, else the branch's first free one.

    Raises ``PermissionDenied``, ``NotFound``, ``InvalidTransition`` (the patient has arrived, or it
    is cancelled), ``ValidationError`` (empty reason, nothing to change, bad start, wrong
    specialty), ``SlotTaken`` (a resource booked then: never overridden), ``PatientBusy`` (the
    patient has another live appointment then, named).
    """
    why = clean_name(reason, "reason")
    if start is None and doctor is None:
        raise ValidationError("start", None, "give a new start or a new doctor")
    before = get_appointment(db, appointment_id)

    def work(conn: Connection) -> None:
        _require_override_rights(conn)
        booking.check_movable(booking.lock_status(conn, appointment_id))
        booking.check_has_patient(conn, appointment_id)
        b = catalog.load_branch(conn, before.branch_id)
        s = catalog.load_service(conn, before.service)
        start_utc = booking.check_start(start, b) if start is not None else before.start
        if start_utc != before.start:
            _check_when(start_utc, b, s, now)
        current = booking.current_resources(conn, appointment_id)
        pinned = {"doctor": _doctor(conn, doctor, s)} if doctor else (
            {"doctor": current["doctor"]} if "doctor" in current else {})
        end = start_utc + timedelta(minutes=s.spec.duration_min)
        lo, hi = booking.occupied_span(s, start_utc, end)
        chosen = _pick_resources(conn, b, s, lo, hi, pinned, exclude_appointment=appointment_id, prefer=current)
        skipped = _skipped_rules(conn, b, s, chosen.get("doctor"), start_utc, now)
        fetch(conn, "SELECT set_config('clinic.override', %(w)s, true)", {"w": why})
        catalog.release_expired_holds(conn, list(chosen.values()), lo, hi)
        # Logged first: the database, checking the new bookings, then sees the rules skipped here
        # and does not log them again (clinic_take_override, migration 0009).
        if start_utc != before.start:
            _log(conn, "move", appointment_id, why, {"from": before.start.isoformat(), "to": start_utc.isoformat(),
                                                     "skipped": skipped})
        if chosen.get("doctor") != current.get("doctor"):
            _log(conn, "change_doctor", appointment_id, why, {"from": current.get("doctor"),
                                                              "to": chosen.get("doctor"), "skipped": skipped})
        booking.rebook(conn, appointment_id, s, start_utc, end, chosen, release_holds=False)  # released above

    try:
        db.write(work, reason=f"override: {why}")
    except SlotTaken as exc:  # PatientBusy names the patient's appointment in the way
        raise name_booking_error(db, exc, start=start or before.start, branch=before.branch,
                                 patient_id=before.patient_id, exclude=(appointment_id,)) from exc
    return MoveResult(before=before, after=get_appointment(db, appointment_id))


def overrides_log(db: Database, *, since: datetime | None = None, until: datetime | None = None) -> list[OverrideEntry]:
    """The override log in ``[since, until)`` (aware instants; ``None`` = unbounded), newest first.

    Raises ``ValidationError`` for a naive bound.
    """
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and (bound.tzinfo is None or bound.utcoffset() is None):
            raise ValidationError(name, bound.isoformat(), "needs a UTC offset")

    def work(conn: Connection) -> list[OverrideEntry]:
        rows = fetch(conn,
            "SELECT o.id, o.at, o.db_user, o.kind, o.appointment_id, p.display_name, o.reason, o.detail "
            "FROM override_log o LEFT JOIN appointment a ON a.id = o.appointment_id "
            "LEFT JOIN patient p ON p.id = a.patient_id "
            "WHERE o.at >= coalesce(%(lo)s::timestamptz, '-infinity') AND o.at < coalesce(%(hi)s::timestamptz, 'infinity') "
            "ORDER BY o.at DESC, o.id DESC", {"lo": since, "hi": until})
        return [OverrideEntry(int(i), at.astimezone(UTC), who, kind, appt, patient, why, dict(detail or {}))
                for i, at, who, kind, appt, patient, why, detail in rows]

    return db.read(work)


def day_range_utc(first: date, last: date, tz: Any) -> tuple[datetime, datetime]:
    """``[start of first, start of the day after last)`` in UTC for local dates in zone ``tz`` (for
    :func:`overrides_log`'s bounds from a date filter)."""
    from ..domain.wallclock import day_bounds_utc

    return day_bounds_utc(first, tz)[0], day_bounds_utc(last, tz)[1]
