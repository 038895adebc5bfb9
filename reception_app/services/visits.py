"""Visits: several appointments of one patient booked together, all or nothing.

A consultation, a lab test and a follow-up are one ``visit`` row (migration
0003) and one appointment per part, each with ``visit_id``; they are written in
one SERIALIZABLE transaction, so if any part cannot be booked nothing is
written and the error names the part and why. Each part is then an ordinary
appointment: ``scheduling.cancel`` / ``scheduling.move`` work on it alone, and
when the last live one is released the database marks the visit cancelled
(trigger ``appointment_visit_status``).

``visit.client_id`` (a UUID the caller makes once per visit) makes a retry after
an unknown commit outcome safe: the second call returns the visit the first
one wrote, never a second one.

This module also holds the steps that :mod:`.series` shares (insert an appointment linked to
its visit or series, cancel several in one transaction, derive a part's client id), built on the
booking core (``services.booking``) like every other way of booking.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from ..domain import slots as engine
from ..domain.errors import ClinicError, NotFound, PatientBusy, SlotTaken, ValidationError
from ..domain.status import TRANSITIONS
from ..domain.validation import SOURCES, clean_name, parse_schedule_instant
from ..store.database import Database
from . import booking, catalog, checks, scheduling
from .appointments import AppointmentView, appointments_where
from .catalog import BranchInfo, ServiceInfo

#: The most parts one visit may have.
MAX_PARTS = 10

#: Statuses from which an appointment may be cancelled (domain.status.TRANSITIONS).
CANCELLABLE: tuple[str, ...] = tuple(s for s, to in TRANSITIONS.items() if "cancelled" in to)


@dataclass(frozen=True)
class VisitPart:
    """One part of a visit to book: ``service`` (name), ``start`` (aware datetime, on the
    branch's 15-minute grid), optional ``doctor``/``room``/``equipment`` names to pin."""

    service: str
    start: datetime
    doctor: str | None = None
    room: str | None = None
    equipment: str | None = None


@dataclass(frozen=True)
class VisitView:
    """A visit and its appointments (every part, released ones included), by start; times UTC.

    ``status``: ``open`` or ``cancelled`` (the database sets it when the last live part is released).
    """

    id: int
    client_id: str
    patient_id: int
    branch_id: int
    branch: str
    status: str
    note: str
    appointments: tuple[AppointmentView, ...]

    @property
    def live(self) -> tuple[AppointmentView, ...]:
        """The parts still holding their time (not cancelled or rescheduled)."""
        return tuple(a for a in self.appointments if a.status not in ("cancelled", "rescheduled"))


# -- shared booking steps (visits and series) -------------------------------------------------
def insert_linked(conn: Connection, b: BranchInfo, s: ServiceInfo, option: engine.SlotOption, patient_id: int,
                  client_id: uuid.UUID, *, source: str, link: dict[str, Any]) -> int:
    """Book ``option`` on its first free combination (expired holds in the way released first) and
    set the link columns ``link`` (``visit_id``, or ``series_id`` + ``series_date``) on the new
    appointment, in the caller's transaction. Returns the appointment id.

    ``client_id`` must be new (the caller derives it from its visit's or series' own id).
    """
    placed = booking.place(conn, b.id, s, patient_id, option.start, option.end, option.first_combination(),
                           status="confirmed", source=source, client_id=client_id)
    if placed is None:
        raise ValidationError("client_id", str(client_id), "was already used for another appointment")
    appointment_id = placed.id
    allowed = {"visit_id", "series_id", "series_date"}
    assert set(link) <= allowed
    sets = ", ".join(f"{k} = %({k})s" for k in link)
    catalog.fetch(conn, f"UPDATE appointment SET {sets} WHERE id = %(a)s RETURNING id", {**link, "a": appointment_id})
    return appointment_id


def cancel_in(conn: Connection, appointment_ids: list[int], why: str, cancelled_by: str = "clinic") -> list[int]:
    """Cancel each appointment still cancellable (locked first), in the caller's transaction;
    returns the ids cancelled. Already released or finished ones are left alone."""
    done = []
    for appointment_id in appointment_ids:
        current = booking.lock_status(conn, appointment_id)
        if current not in CANCELLABLE:
            continue
        booking.change_status(conn, appointment_id, "cancelled", why, current=current, cancelled_by=cancelled_by)
        done.append(appointment_id)
    return done


def part_client_id(parent: uuid.UUID, key: str) -> uuid.UUID:
    """The client id of one appointment of a visit or series: derived from the parent's id, so a
    retried transaction writes the very same ids (``key``: ``"part-0"``, ``"2027-03-02"``)."""
    return uuid.uuid5(parent, key)


# -- visits -----------------------------------------------------------------------------------
def _label(i: int, part: VisitPart, b: BranchInfo | None = None) -> str:
    when = part.start.astimezone(b.tz) if b is not None and part.start.tzinfo is not None else part.start
    if b is None:
        return f"Part {i + 1} ({part.service} at {when:%Y-%m-%d %H:%M})"
    fmt = b.formats   # as the branch writes a day and a time: "Mon 04/01/2027 09:00"
    return f"Part {i + 1} ({part.service} at {fmt.day_text(when.date())} {fmt.time_text(when)})"


def _check_parts(parts: list[VisitPart]) -> None:
    """Each part's start is an aware date-time in 2000-01-01 .. 2099-12-31 and its names hold no
    control character: ``ValidationError("parts[i].…", …)``."""
    if not isinstance(parts, list | tuple) or not parts:
        raise ValidationError("parts", parts, "a visit needs at least one part")
    if len(parts) > MAX_PARTS:
        raise ValidationError("parts", len(parts), f"a visit has at most {MAX_PARTS} parts")
    for i, part in enumerate(parts):
        if not isinstance(part, VisitPart):
            raise ValidationError(f"parts[{i}]", part, "is not a visit part (service and start)")
        if not isinstance(part.start, datetime) or part.start.tzinfo is None or part.start.utcoffset() is None:
            raise ValidationError(f"parts[{i}].start", part.start, "needs a date, a time and a UTC offset")
        try:
            parse_schedule_instant(part.start, "start")
            checks.names(service=part.service, doctor=part.doctor, room=part.room, equipment=part.equipment)
        except ValidationError as exc:
            raise ValidationError(f"parts[{i}].{exc.field}", exc.value, exc.problem) from exc


def _check_no_overlap(parts: list[VisitPart], services: list[ServiceInfo], b: BranchInfo) -> None:
    """The patient cannot be in two parts at once: ValidationError naming the later part."""
    spans = sorted((p.start.astimezone(UTC), p.start.astimezone(UTC) + timedelta(minutes=s.spec.duration_min), i)
                   for i, (p, s) in enumerate(zip(parts, services, strict=True)))
    for (_s1, e1, i), (s2, _e2, j) in zip(spans, spans[1:], strict=False):
        if s2 < e1:
            raise ValidationError(f"parts[{j}].start", parts[j].start.isoformat(),
                                  f"{_label(j, parts[j], b)} overlaps {_label(i, parts[i], b).lower()}: "
                                  "the patient cannot be in two places at once")


def _for_part(exc: ClinicError, i: int, part: VisitPart, b: BranchInfo | None) -> ClinicError:
    """``exc`` said about part ``i``: the field and message name the part."""
    label = _label(i, part, b)
    if isinstance(exc, ValidationError):
        return ValidationError(f"parts[{i}].{exc.field}", exc.value, f"{label}: {exc.problem}")
    if isinstance(exc, PatientBusy):
        return PatientBusy(f"{label}: {exc} Nothing was booked.", appointment_id=exc.appointment_id, when=exc.when)
    if isinstance(exc, SlotTaken):
        return SlotTaken(f"{label}: {exc} Nothing was booked.", resource=exc.resource, when=exc.when,
                         resource_id=exc.resource_id)
    return exc


def book_visit(db: Database, *, branch: str, patient_id: int, parts: list[VisitPart],
               client_id: uuid.UUID | str | None = None, now: datetime | None = None, note: str = "",
               source: str = "phone", reason: str | None = None) -> VisitView:
    """Book every part of a visit for a patient at ``branch`` in one SERIALIZABLE transaction,
    all or nothing.

    Each part obeys every booking rule ``scheduling.book`` does (grid, hours and
    shifts, notice, horizon, holidays, time off, free resources; the first free
    resource of each kind unless pinned), judged inside the transaction, with
    the parts booked before it counting. Parts may not overlap each other in
    time (one patient). Appointments are ``confirmed`` with ``visit_id`` set;
    their client ids derive from ``client_id``.

    ``client_id``: made by the caller once per visit; a retry with the same id
    returns the visit already written (same patient), whatever the parts.
    ``now``: aware (default: the clock). Returns the :class:`VisitView`.

    Raises ``ValidationError`` (no parts, more than ``MAX_PARTS``, a bad start,
    overlapping parts, unknown names — field ``parts[i].…``, message naming
    the part; a name, note or reason holding a control character; a start outside 2000-01-01 ..
    2099-12-31; a client id that is not a UUID or was used for another patient), ``NotFound``
    (branch, patient), ``SlotTaken`` ("Part 2 (Lab test at 2027-01-04 10:00): … Nothing
    was booked."), ``PatientBusy`` (a part overlaps another live appointment of the patient,
    named), ``DatabaseUnavailable``. Nothing is written on any error.
    """
    _check_parts(parts)
    if source not in SOURCES:
        raise ValidationError("source", source, f"must be one of {', '.join(SOURCES)}")
    checks.names(branch=branch)
    checks.optional_text(note, "note")
    checks.optional_text(reason, "reason")
    patient_id = checks.patient_id(patient_id)
    now = parse_schedule_instant(now, "now") if now is not None else datetime.now(UTC)
    cid = checks.client_id(client_id)
    progress: dict[str, Any] = {"part": None, "branch": None, "services": []}

    def work(conn: Connection) -> int:
        progress["part"] = None
        earlier = catalog.fetch(conn, "SELECT id, patient_id FROM visit WHERE client_id = %(c)s", {"c": cid})
        if earlier:
            if earlier[0][1] != patient_id:
                raise ValidationError("client_id", str(cid), f"was already used for visit {earlier[0][0]}")
            return int(earlier[0][0])  # a retried commit: it is written already
        b = catalog.load_branch(conn, branch)
        progress["branch"] = b
        services: list[ServiceInfo] = []
        for i, part in enumerate(parts):
            try:
                services.append(catalog.load_service(conn, part.service))
            except ValidationError as exc:
                raise _for_part(exc, i, part, b) from exc
        _check_no_overlap(parts, services, b)
        progress["services"] = services
        visit_id = int(catalog.fetch(conn, "INSERT INTO visit (client_id, patient_id, branch_id, note) "
                                           "VALUES (%(c)s, %(p)s, %(b)s, %(n)s) RETURNING id",
                                     {"c": cid, "p": patient_id, "b": b.id, "n": note.strip()})[0][0])
        for i, (part, s) in enumerate(zip(parts, services, strict=True)):
            progress["part"] = i
            try:
                start_utc = booking.check_start(part.start, b)
                only = booking.resolve_pins(conn, s, {"doctor": part.doctor, "room": part.room,
                                                      "equipment": part.equipment})
                option, _names = booking.judge_start(conn, b, s, start_utc, now, only)
                if option is None:
                    raise booking.explain_unavailable(conn, b, s, start_utc, now, only)
                busy = booking.patient_conflict(conn, patient_id, option.start, option.end)
                if busy is not None:  # the patient's other appointment (the deferred constraint would refuse)
                    raise busy
            except ClinicError as exc:
                raise _for_part(exc, i, part, b) from exc
            insert_linked(conn, b, s, option, patient_id, part_client_id(cid, f"part-{i}"), source=source,
                          link={"visit_id": visit_id})
        progress["part"] = None  # all inserted: a refusal now comes from the deferred constraints at commit
        return visit_id

    try:
        visit_id = db.write(work, reason=reason or "visit booked")
    except PatientBusy as exc:  # at commit: another desk booked the patient meanwhile
        raise _name_busy_part(db, exc, branch, patient_id, parts, progress["services"]) from exc
    except SlotTaken as exc:
        i = progress["part"]
        if i is None or exc.resource:
            raise
        named = scheduling.name_booking_error(db, exc, start=parts[i].start, branch=branch, patient_id=patient_id)
        raise _for_part(named, i, parts[i], progress["branch"]) from exc
    except ValidationError as exc:
        if exc.field in ("appointment_patient_id_fkey", "visit_patient_id_fkey"):
            raise NotFound("patient", patient_id) from exc
        raise
    return get_visit(db, visit_id)


def _name_busy_part(db: Database, exc: PatientBusy, branch: str, patient_id: int, parts: list[VisitPart],
                    services: list[ServiceInfo]) -> PatientBusy:
    """The database's patient-overlap refusal of a visit, naming the first part that overlaps another
    live appointment of the patient and that appointment (one read after the failed transaction)."""
    def work(conn: Connection) -> PatientBusy:
        b = catalog.load_branch(conn, branch)
        for i, (part, s) in enumerate(zip(parts, services, strict=False)):
            start = part.start.astimezone(UTC)
            busy = booking.patient_conflict(conn, patient_id, start, start + timedelta(minutes=s.spec.duration_min))
            if busy is not None:
                named = _for_part(busy, i, part, b)
                assert isinstance(named, PatientBusy)
                return named
        return exc

    return db.read(work)


def _visit(conn: Connection, visit_id: int) -> VisitView:
    rows = catalog.fetch(conn, "SELECT v.id, v.client_id, v.patient_id, v.branch_id, br.name, v.status, v.note "
                               "FROM visit v JOIN branch br ON br.id = v.branch_id WHERE v.id = %(v)s",
                         {"v": visit_id})
    if not rows:
        raise NotFound("visit", visit_id)
    vid, cid, patient_id, branch_id, branch, status, note = rows[0]
    return VisitView(int(vid), str(cid), int(patient_id), int(branch_id), str(branch), str(status), str(note),
                     tuple(appointments_where(conn, "a.visit_id = :v", {"v": visit_id})))


def get_visit(db: Database, visit_id: int) -> VisitView:
    """A visit with all its appointments. Raises ``NotFound("visit", …)``, ``ValidationError`` (an id
    that is not a whole number)."""
    checks.record_id(visit_id, "visit")
    return db.read(lambda conn: _visit(conn, visit_id))


def cancel_visit(db: Database, visit_id: int, *, reason: str, cancelled_by: str = "clinic") -> VisitView:
    """Cancel every part of a visit that can still be cancelled, in one SERIALIZABLE transaction
    (parts already released or finished are left as they are); the database then marks the
    visit cancelled. ``cancelled_by``: ``clinic`` or ``patient`` (the late-cancellation policy).

    Raises ``NotFound``, ``ValidationError`` (empty reason, bad ``cancelled_by``), ``PermissionDenied``.
    """
    checks.record_id(visit_id, "visit")
    why = clean_name(reason, "reason")
    if cancelled_by not in ("clinic", "patient"):
        raise ValidationError("cancelled_by", cancelled_by, "must be clinic or patient")

    def work(conn: Connection) -> None:
        if not catalog.fetch(conn, "SELECT 1 FROM visit WHERE id = %(v)s FOR UPDATE", {"v": visit_id}):
            raise NotFound("visit", visit_id)
        ids = [int(r[0]) for r in catalog.fetch(conn, "SELECT id FROM appointment WHERE visit_id = %(v)s "
                                                      "ORDER BY starts_at, id", {"v": visit_id})]
        cancel_in(conn, ids, why, cancelled_by)

    db.write(work, reason=f"visit cancelled: {why}")
    return get_visit(db, visit_id)
