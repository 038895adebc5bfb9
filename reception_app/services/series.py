"""Recurring series: "physiotherapy every Tuesday at 10:00 for 8 weeks", checked whole, then booked.

Flow (issue 4): :func:`plan_series` expands the RRULE into branch-local dates
(``domain.recurrence``), applies the per-occurrence exceptions, and judges every
occurrence in one read-only transaction — free, or the reason it is not and the
nearest free starts around it (same day first, then the days around it). The
user then chooses: :func:`book_series` with ``mode="free_only"`` books the free
occurrences, ``mode="all_or_nothing"`` books all or none. Either way every
occurrence is judged again inside the one SERIALIZABLE write transaction (the
plan may be stale); the exclusion constraint still decides what commits.

Each occurrence is an ordinary appointment with ``series_id`` and its local
``series_date`` (unique per series, migration 0003), so ``scheduling.move`` /
``cancel`` work on it alone; :func:`cancel_series` cancels one, this and the
following, or all. Occurrences follow local wall-clock time across DST changes:
each start is built from its own local date and time in the branch's zone.

``series.client_id`` (made by the caller once per series) makes a retry after
an unknown commit outcome safe: the second call returns the series written.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy.engine import Connection

from ..domain import slots as engine
from ..domain.errors import NotFound, PatientBusy, SlotTaken, ValidationError
from ..domain.formats import Formats
from ..domain.recurrence import (
    Exceptions,
    LocalOccurrence,
    expand_dates,
    normalize_rule,
    occurrence_start_utc,
    plan_local,
)
from ..domain.status import check_transition
from ..domain.validation import SOURCES, clean_name, parse_date, parse_schedule_instant
from ..domain.wallclock import local_to_utc
from ..store.database import Database
from . import booking, catalog, checks
from .appointments import AppointmentView, appointments_where, patient_live_between
from .booking import SlotOffer
from .catalog import BranchInfo, ServiceInfo
from .visits import CANCELLABLE, cancel_in, insert_linked, part_client_id

#: Days before and after a conflicting occurrence searched for alternatives (same day first).
ALTERNATIVE_DAYS = 3
#: Alternatives offered per conflict, nearest first.
ALTERNATIVE_COUNT = 3

Mode = Literal["free_only", "all_or_nothing"]
Scope = Literal["one", "following", "all"]


@dataclass(frozen=True)
class SeriesRequest:
    """What a series is asked for, normalized: branch and service names, the patient, the RRULE
    (with its end, ``FREQ=…;COUNT=n`` or ``…;UNTIL=YYYYMMDD``), the branch-local ``first_date``
    and ``local_start``, an optional pinned ``doctor`` name and the per-occurrence ``exceptions``."""

    branch: str
    service: str
    patient_id: int
    rrule: str
    first_date: date
    local_start: time
    doctor: str | None = None
    exceptions: Exceptions = field(default_factory=Exceptions)

    def local_occurrences(self) -> list[LocalOccurrence]:
        """The occurrences on the branch's wall clock, exceptions applied (raises as ``domain.recurrence``)."""
        return plan_local(expand_dates(self.rrule, self.first_date), self.local_start, self.exceptions)


@dataclass(frozen=True)
class Occurrence:
    """One planned occurrence. ``series_date``/``local_start``: branch-local; ``start_utc``/``end_utc``:
    UTC (None when the local time does not exist that day, a DST gap). ``free``: bookable now, on
    ``resources`` (kind → name); otherwise ``conflict`` says why and ``alternatives`` are the
    nearest free starts (same day first, then up to ``ALTERNATIVE_DAYS`` days around it)."""

    series_date: date
    local_start: time
    start_utc: datetime | None
    end_utc: datetime | None
    free: bool
    conflict: str | None = None
    alternatives: tuple[SlotOffer, ...] = ()
    resources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SeriesPlan:
    """The whole series judged (nothing written): the ``request``, the branch's IANA ``timezone``,
    every occurrence in date order and the dates skipped by exception."""

    request: SeriesRequest
    timezone: str
    occurrences: tuple[Occurrence, ...]
    skipped: tuple[date, ...] = ()

    @property
    def free(self) -> tuple[Occurrence, ...]:
        """The occurrences that can be booked."""
        return tuple(o for o in self.occurrences if o.free)

    @property
    def conflicts(self) -> tuple[Occurrence, ...]:
        """The occurrences that cannot."""
        return tuple(o for o in self.occurrences if not o.free)


@dataclass(frozen=True)
class SeriesView:
    """A series as stored, with its appointments by start (released ones included; times UTC).

    ``status``: ``active``, ``ended`` (cancelled from some date on) or ``cancelled``.
    ``not_booked``: only in :func:`book_series`'s answer — the occurrence dates left out
    because they were not free (``free_only``).
    """

    id: int
    client_id: str
    patient_id: int
    branch: str
    service: str
    rrule: str
    first_date: date
    local_start: time
    doctor: str | None
    status: str
    appointments: tuple[AppointmentView, ...]
    series_dates: Mapping[int, date]
    not_booked: tuple[date, ...] = ()

    @property
    def live(self) -> tuple[AppointmentView, ...]:
        """The occurrences still holding their time."""
        return tuple(a for a in self.appointments if a.status not in ("cancelled", "rescheduled"))


# -- input ---------------------------------------------------------------------------------------
_HHMM = re.compile(r"(\d{1,2}):(\d{2})")


def _parse_time(value: time | str, field_name: str) -> time:
    if isinstance(value, time):
        return value
    match = _HHMM.fullmatch(str(value).strip())
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValidationError(field_name, value, "expected a local time HH:MM, e.g. 10:00")
    return time(int(match.group(1)), int(match.group(2)))


def make_request(*, branch: str, service: str, patient_id: int, rrule: str, first_date: date | str,
                 local_start: time | str, count: int | None = None, until: date | str | None = None,
                 doctor: str | None = None, exceptions: Exceptions | None = None) -> SeriesRequest:
    """A checked :class:`SeriesRequest`. ``count``/``until`` (inclusive local date) replace the end in
    ``rrule``. Raises ``ValidationError`` (rule, dates — outside 2000-01-01 .. 2099-12-31 too —,
    times, exceptions, every occurrence skipped, a name holding a control character, a patient id
    that is not a whole number), ``NotFound`` (a patient id no patient can have)."""
    checks.names(branch=branch, service=service, doctor=doctor)
    patient_id = checks.patient_id(patient_id)
    if not isinstance(rrule, str):
        raise ValidationError("rrule", rrule, "must be a recurrence rule such as FREQ=WEEKLY;BYDAY=TU")
    checks.optional_text(rrule, "rrule")
    req = SeriesRequest(branch=branch, service=service, patient_id=patient_id,
                        rrule=normalize_rule(rrule, count=count,
                                             until=parse_date(until, "until") if until is not None else None),
                        first_date=parse_date(first_date, "first_date"),
                        local_start=_parse_time(local_start, "local_start"),
                        doctor=(doctor or "").strip() or None, exceptions=exceptions or Exceptions())
    if not req.local_occurrences():
        raise ValidationError("skip", sorted(req.exceptions.skip), "every occurrence of the series is skipped")
    return req


# -- judging -------------------------------------------------------------------------------------
def _start_of(o: LocalOccurrence, b: BranchInfo) -> tuple[datetime | None, str | None]:
    """The occurrence's UTC start, or None and why (its local time does not exist that day)."""
    try:
        return occurrence_start_utc(o, b.tz), None
    except ValidationError as exc:
        return None, exc.problem


def _overlapping(option: engine.SlotOption, patient_busy: Sequence[AppointmentView]) -> AppointmentView | None:
    """The first of the patient's appointments whose time overlaps the option's [start, end), or None."""
    return next((a for a in patient_busy if a.start < option.end and option.start < a.end), None)


def _alternatives(b: BranchInfo, s: ServiceInfo, resources: list[engine.ResourceSpec],
                  busy: Mapping[int, list[tuple[int, int]]], o: LocalOccurrence, now: datetime,
                  only: dict[str, list[int]], names: dict[int, str],
                  patient_busy: Sequence[AppointmentView] = ()) -> tuple[SlotOffer, ...]:
    """The nearest free starts around occurrence ``o``: its own day first (nearest to its local
    time), then the days around it (nearest day first, earlier before later); none overlapping
    one of ``patient_busy`` (the patient's live appointments)."""
    d = o.series_date
    days = [d + timedelta(days=k) for k in range(-ALTERNATIVE_DAYS, ALTERNATIVE_DAYS + 1)]
    wanted = local_to_utc(d, o.local_start.hour * 60 + o.local_start.minute, b.tz)
    options = [option for option in engine.find_slots(b.spec, s.spec, resources, busy, days, now, only=only or None)
               if _overlapping(option, patient_busy) is None]

    def nearness(option: engine.SlotOption) -> tuple[int, int, float]:
        day = option.start.astimezone(b.tz).date()
        return abs((day - d).days), (day - d).days, abs((option.start - wanted).total_seconds())

    return tuple(booking.offer(option, names) for option in sorted(options, key=nearness)[:ALTERNATIVE_COUNT])


def _plan(conn: Connection, req: SeriesRequest, now: datetime, with_alternatives: bool) -> SeriesPlan:
    occurrences = req.local_occurrences()
    first, last = occurrences[0].series_date, occurrences[-1].series_date
    margin = timedelta(days=ALTERNATIVE_DAYS + 1)
    b = catalog.load_branch(conn, req.branch, first - margin, last + margin)
    s = catalog.load_service(conn, req.service)
    only = booking.resolve_pins(conn, s, {"doctor": req.doctor})
    resources = catalog.candidate_resources(conn, b, s)
    names = {r.id: r.name for r in resources}
    lo, hi = catalog.search_window(b, s, first - margin, last + margin)
    busy: dict[int, list[tuple[int, int]]] = defaultdict(list, catalog.busy_seconds(conn, list(names), lo, hi))
    # The patient's own live appointments: an occurrence overlapping one is not free (one place at a time).
    patient_busy = patient_live_between(conn, req.patient_id, lo, hi)
    planned: list[Occurrence] = []
    for o in occurrences:
        start, missing = _start_of(o, b)
        option = booking.judge(b, s, resources, busy, start, now, only) if start else None
        other = _overlapping(option, patient_busy) if option is not None else None
        if other is not None and option is not None:
            why = str(booking.patient_busy(other, catalog.load_branch(conn, other.branch_id)))
            alternatives = (_alternatives(b, s, resources, busy, o, now, only, names, patient_busy)
                            if with_alternatives else ())
            planned.append(Occurrence(o.series_date, o.local_start, option.start, option.end, False, why,
                                      alternatives))
            continue
        if option is not None:
            chosen = option.first_combination()
            for rid in chosen.values():  # later occurrences of this series must not take the same time
                busy[rid].append((int(option.occupied_start.timestamp()), int(option.occupied_end.timestamp())))
            planned.append(Occurrence(o.series_date, o.local_start, option.start, option.end, True,
                                      resources={k: names[v] for k, v in chosen.items()}))
            continue
        if start is None:
            why = f"{o.local_start:%H:%M} {missing}"
        else:
            why = str(booking.explain_unavailable(conn, b, s, start, now, only))
        alternatives = (_alternatives(b, s, resources, busy, o, now, only, names, patient_busy)
                        if with_alternatives else ())
        end = start + timedelta(minutes=s.spec.duration_min) if start else None
        planned.append(Occurrence(o.series_date, o.local_start, start, end, False, why, alternatives))
    return SeriesPlan(req, b.timezone, tuple(planned), tuple(sorted(req.exceptions.skip)))


def plan_series(db: Database, *, branch: str, service: str, patient_id: int, rrule: str, first_date: date | str,
                local_start: time | str, count: int | None = None, until: date | str | None = None,
                doctor: str | None = None, exceptions: Exceptions | None = None,
                now: datetime | None = None) -> SeriesPlan:
    """Judge a whole series without writing anything (one read-only transaction).

    ``rrule``: e.g. ``"FREQ=WEEKLY;BYDAY=TU"`` (``domain.recurrence.weekly_rule``
    builds it); ``count`` or ``until`` (inclusive branch-local date) ends it
    unless the rule does. ``first_date``: branch-local, the series starts on the
    first date of the rule on or after it. ``local_start``: branch-local
    wall-clock time (``time`` or ``"HH:MM"``, on the 15-minute grid), the same
    every occurrence across DST changes unless ``exceptions.retime`` changes
    one; ``exceptions.skip`` leaves dates out. ``doctor``: pin one doctor by
    name for every occurrence. ``now``: aware (default: the clock).

    Every occurrence obeys every booking rule (as ``scheduling.book``); earlier
    occurrences of the same series count against later ones. Returns a
    :class:`SeriesPlan`; a conflict carries its reason and up to
    ``ALTERNATIVE_COUNT`` nearest free starts.

    An occurrence overlapping another live appointment of the patient is not free either
    (its reason names that appointment).

    Raises ``ValidationError`` (rule, dates, times, exceptions, a doctor the
    service does not need, a ``now`` without offset or outside 2000-01-01 .. 2099-12-31),
    ``NotFound`` (branch, service, doctor).
    """
    req = make_request(branch=branch, service=service, patient_id=patient_id, rrule=rrule, first_date=first_date,
                       local_start=local_start, count=count, until=until, doctor=doctor, exceptions=exceptions)
    when = parse_schedule_instant(now, "now") if now is not None else datetime.now(UTC)
    return db.read(lambda conn: _plan(conn, req, when, with_alternatives=True))


# -- booking -------------------------------------------------------------------------------------
def _occurrence_label(o: LocalOccurrence, fmt: Formats | None = None) -> str:
    """``"Tue 19/01/2027 10:00"``: an occurrence as the branch writes a day and a time (``fmt``; ISO
    ``"Tue 2027-01-19 10:00"`` without it)."""
    if fmt is not None:
        return f"{fmt.day_text(o.series_date)} {fmt.time_text(o.local_start)}"
    return f"{o.series_date:%a %Y-%m-%d} {o.local_start:%H:%M}"


def book_series(db: Database, plan: SeriesPlan | SeriesRequest, *, mode: Mode, client_id: uuid.UUID | str | None = None,
                now: datetime | None = None, source: str = "phone", reason: str | None = None) -> SeriesView:
    """Write the series and its occurrences in one SERIALIZABLE transaction.

    ``plan``: a :class:`SeriesPlan` from :func:`plan_series` (or its request);
    every occurrence is judged again inside the transaction, so a plan gone
    stale cannot double-book. ``mode``: ``"free_only"`` books the occurrences
    free now and leaves the others (``SeriesView.not_booked``);
    ``"all_or_nothing"`` books all or, if any is not free, none. Occurrences
    are ``confirmed`` appointments with ``series_id`` and ``series_date``, client
    ids derived from ``client_id``.

    ``client_id``: made by the caller once per series; a retry with the same id
    returns the series written (same patient and service).

    Raises ``SlotTaken`` (``all_or_nothing`` and an occurrence taken — the message
    lists which and why; ``free_only`` and none free; a race lost on the
    exclusion constraint, naming the occurrence; an occurrence overlapping another live
    appointment of the patient counts as not free, its reason naming that appointment),
    ``PatientBusy`` (the database's refusal at commit, naming the occurrence and the
    appointment), ``ValidationError`` (``mode``, ``source``, a reason holding a control
    character, a client id that is not a UUID or was used for another series), ``NotFound``
    (patient, names). Nothing is written on any error.
    """
    if mode not in ("free_only", "all_or_nothing"):
        raise ValidationError("mode", mode, "must be free_only or all_or_nothing")
    if source not in SOURCES:
        raise ValidationError("source", source, f"must be one of {', '.join(SOURCES)}")
    if not isinstance(plan, SeriesPlan | SeriesRequest):
        raise ValidationError("plan", plan, "must be a series plan or request (series.make_request)")
    checks.optional_text(reason, "reason")
    req = plan.request if isinstance(plan, SeriesPlan) else plan
    when = parse_schedule_instant(now, "now") if now is not None else datetime.now(UTC)
    cid = checks.client_id(client_id)
    progress: dict[str, Any] = {"occurrence": None, "not_booked": ()}

    def work(conn: Connection) -> int:
        progress["occurrence"] = None
        earlier = catalog.fetch(conn, "SELECT s.id, s.patient_id, v.name FROM series s JOIN service v "
                                      "ON v.id = s.service_id WHERE s.client_id = %(c)s", {"c": cid})
        occurrences = req.local_occurrences()
        b = catalog.load_branch(conn, req.branch, occurrences[0].series_date, occurrences[-1].series_date)
        progress["formats"] = b.formats
        s = catalog.load_service(conn, req.service)
        if earlier:
            if (earlier[0][1], earlier[0][2]) != (req.patient_id, s.name):
                raise ValidationError("client_id", str(cid), f"was already used for series {earlier[0][0]}")
            return int(earlier[0][0])  # a retried commit: written already
        only = booking.resolve_pins(conn, s, {"doctor": req.doctor})
        series_id = int(catalog.fetch(conn,
            "INSERT INTO series (client_id, patient_id, service_id, branch_id, rrule, first_date, local_start, "
            "doctor_id) VALUES (%(c)s, %(p)s, %(s)s, %(b)s, %(r)s, %(f)s, %(t)s, %(d)s) RETURNING id",
            {"c": cid, "p": req.patient_id, "s": s.id, "b": b.id, "r": req.rrule,
             "f": occurrences[0].series_date, "t": req.local_start,
             "d": only["doctor"][0] if "doctor" in only else None})[0][0])
        conflicts: list[str] = []
        left: list[date] = []
        for o in occurrences:
            progress["occurrence"] = o
            start, missing = _start_of(o, b)
            option, _names = booking.judge_start(conn, b, s, start, when, only) if start else (None, {})
            patient_busy = (booking.patient_conflict(conn, req.patient_id, option.start, option.end)
                            if option is not None else None)
            if option is None or patient_busy is not None:
                why = (f"{o.local_start:%H:%M} {missing}" if start is None else str(patient_busy) if patient_busy
                       else str(booking.explain_unavailable(conn, b, s, start, when, only)))
                conflicts.append(f"{_occurrence_label(o, b.formats)}: {why}")
                left.append(o.series_date)
                continue
            if conflicts and mode == "all_or_nothing":
                continue  # it all rolls back anyway: just collect the other conflicts
            insert_linked(conn, b, s, option, req.patient_id, part_client_id(cid, o.series_date.isoformat()),
                          source=source, link={"series_id": series_id, "series_date": o.series_date})
        progress["occurrence"] = None
        if conflicts and mode == "all_or_nothing":
            raise SlotTaken(f"{len(conflicts)} of {len(occurrences)} occurrences are not free, so none was "
                            "booked: " + "; ".join(conflicts))
        if len(left) == len(occurrences):
            raise SlotTaken("None of the occurrences is free, so nothing was booked: " + "; ".join(conflicts))
        progress["not_booked"] = tuple(left)
        return series_id

    try:
        series_id = db.write(work, reason=reason or "series booked")
    except PatientBusy as exc:  # at commit: another desk booked the patient meanwhile
        raise _name_busy_occurrence(db, exc, req) from exc
    except SlotTaken as exc:
        o = progress["occurrence"]
        if o is None:
            raise
        raise SlotTaken(f"{_occurrence_label(o, progress.get('formats'))}: {exc} Nothing was booked.",
                        resource=exc.resource,
                        when=exc.when, resource_id=exc.resource_id) from exc
    except ValidationError as exc:
        if exc.field in ("appointment_patient_id_fkey", "series_patient_id_fkey"):
            raise NotFound("patient", req.patient_id) from exc
        raise
    view = get_series(db, series_id)
    return SeriesView(**{**view.__dict__, "not_booked": progress["not_booked"]})


def _name_busy_occurrence(db: Database, exc: PatientBusy, req: SeriesRequest) -> PatientBusy:
    """The database's patient-overlap refusal of a series, naming the first occurrence that overlaps
    another live appointment of the patient, and that appointment (one read after the failure)."""
    def work(conn: Connection) -> PatientBusy:
        occurrences = req.local_occurrences()
        b = catalog.load_branch(conn, req.branch)
        s = catalog.load_service(conn, req.service)
        for o in occurrences:
            start, _missing = _start_of(o, b)
            if start is None:
                continue
            busy = booking.patient_conflict(conn, req.patient_id, start,
                                            start + timedelta(minutes=s.spec.duration_min))
            if busy is not None:
                return PatientBusy(f"{_occurrence_label(o, b.formats)}: {busy} Nothing was booked.",
                                   appointment_id=busy.appointment_id, when=busy.when)
        return exc

    return db.read(work)


# -- reading and cancelling ----------------------------------------------------------------------
def _series(conn: Connection, series_id: int) -> SeriesView:
    rows = catalog.fetch(conn,
        "SELECT s.id, s.client_id, s.patient_id, br.name, v.name, s.rrule, s.first_date, s.local_start, "
        "       d.name, s.status FROM series s JOIN branch br ON br.id = s.branch_id "
        "  JOIN service v ON v.id = s.service_id LEFT JOIN resource d ON d.id = s.doctor_id WHERE s.id = %(i)s",
        {"i": series_id})
    if not rows:
        raise NotFound("series", series_id)
    sid, cid, patient_id, branch, service, rule, first, local_start, doctor, status = rows[0]
    dates = dict(catalog.fetch(conn, "SELECT id, series_date FROM appointment WHERE series_id = %(i)s",
                               {"i": series_id}))
    return SeriesView(int(sid), str(cid), int(patient_id), str(branch), str(service), str(rule), first,
                      local_start, doctor, str(status),
                      tuple(appointments_where(conn, "a.series_id = :i", {"i": series_id})), dates)


def get_series(db: Database, series_id: int) -> SeriesView:
    """A series with every occurrence booked. Raises ``NotFound("series", …)``, ``ValidationError`` (an
    id that is not a whole number)."""
    checks.record_id(series_id, "series")
    return db.read(lambda conn: _series(conn, series_id))


def cancel_series(db: Database, series_id: int, *, scope: Scope, from_date: date | str | None = None,
                  reason: str, now: datetime | None = None, cancelled_by: str = "clinic") -> SeriesView:
    """Cancel occurrences of a series in one SERIALIZABLE transaction.

    ``scope``: ``"one"`` — the occurrence of ``from_date`` (its branch-local
    ``series_date``; already cancelled: nothing changes; one that cannot be
    cancelled: ``InvalidTransition``); ``"following"`` — that one and every
    later one; ``"all"`` — every occurrence. For ``following`` and ``all``,
    occurrences that started before ``now`` are history and stay as they are,
    as do those already released or finished. The series becomes ``cancelled``
    (``all``, or ``following`` from its first date) or ``ended`` (``following``
    from a later date). ``reason``: required, goes to each appointment and the
    audit trail. ``cancelled_by``: ``clinic`` or ``patient``.

    Raises ``NotFound`` (series; no occurrence on ``from_date``), ``ValidationError``
    (scope, missing ``from_date``, empty reason), ``InvalidTransition``, ``PermissionDenied``.
    """
    checks.record_id(series_id, "series")
    why = clean_name(reason, "reason")
    if scope not in ("one", "following", "all"):
        raise ValidationError("scope", scope, "must be one, following or all")
    if cancelled_by not in ("clinic", "patient"):
        raise ValidationError("cancelled_by", cancelled_by, "must be clinic or patient")
    if scope != "all" and from_date is None:
        raise ValidationError("from_date", None, f"scope {scope!r} needs the occurrence's date")
    day = parse_date(from_date, "from_date") if from_date is not None else None
    when = parse_schedule_instant(now, "now") if now is not None else datetime.now(UTC)

    def work(conn: Connection) -> None:
        found = catalog.fetch(conn, "SELECT first_date FROM series WHERE id = %(i)s FOR UPDATE", {"i": series_id})
        if not found:
            raise NotFound("series", series_id)
        if scope == "one":
            rows = catalog.fetch(conn, "SELECT id, status FROM appointment WHERE series_id = %(i)s "
                                       "AND series_date = %(d)s", {"i": series_id, "d": day})
            if not rows:
                raise NotFound("series_date", day.isoformat() if day else None)
            appointment_id, status = rows[0]
            if status != "cancelled":
                check_transition(status, "cancelled")
                cancel_in(conn, [int(appointment_id)], why, cancelled_by)
            return
        ids = [int(r[0]) for r in catalog.fetch(conn,
            "SELECT id FROM appointment WHERE series_id = %(i)s AND starts_at >= %(now)s "
            "AND status = ANY(%(st)s) AND (%(d)s::date IS NULL OR series_date >= %(d)s) ORDER BY starts_at",
            {"i": series_id, "now": when, "st": list(CANCELLABLE), "d": day})]
        cancel_in(conn, ids, why, cancelled_by)
        status = "cancelled" if scope == "all" or (day is not None and day <= found[0][0]) else "ended"
        catalog.fetch(conn, "UPDATE series SET status = %(s)s WHERE id = %(i)s RETURNING id",
                      {"s": status, "i": series_id})

    db.write(work, reason=f"series cancelled ({scope}): {why}")
    return get_series(db, series_id)


def doctors_for(db: Database, *, branch: str, service: str) -> list[str]:
    """Names of the doctors who could do ``service`` at ``branch`` (those with a shift there), by name;
    empty when the service needs no doctor. Raises ``NotFound``, ``ValidationError`` (a name holding a
    control character)."""
    checks.names(branch=branch, service=service)

    def work(conn: Connection) -> list[str]:
        b = catalog.load_branch(conn, branch)
        s = catalog.load_service(conn, service)
        return [r.name for r in catalog.candidate_resources(conn, b, s) if r.kind == "doctor"]
    return db.read(work)
