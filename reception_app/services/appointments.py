"""The read model of appointments: one SELECT and one shape (:class:`AppointmentView`) for every screen.

The day grid (``services.dayview``), the patient record (``services.patients``), visits, series,
the ``clinic`` command and the booking core read appointments through this module instead of
writing their own query, so an appointment looks the same wherever it is shown: its branch,
service and patient by name, its status, its UTC times and the resources booked for it.

Two levels:

* functions taking a SQLAlchemy ``Connection`` (:func:`read_appointment`, :func:`appointments_on`,
  :func:`appointments_where`, :func:`patient_appointments`, :func:`patient_live_between`) run
  inside the caller's transaction and never commit;
* functions taking a ``Database`` (:func:`get_appointment`, :func:`list_appointments`) run one
  short read-only transaction of their own.

Times: every instant is an aware ``datetime`` in UTC; local dates are the branch's wall clock.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.errors import NotFound
from ..domain.validation import parse_date
from ..domain.wallclock import day_bounds_utc
from ..store.database import Database, driver_sql
from . import catalog, checks
from .catalog import BranchInfo


@dataclass(frozen=True)
class AppointmentView:
    """An appointment as screens and the CLI show it; times are UTC."""

    id: int
    client_id: str
    branch_id: int
    branch: str
    service_id: int
    service: str
    #: The patient's id; None for an online hold whose visitor is still typing their details
    #: (``source`` ``online``, status ``held``, or ``cancelled`` once released: migration 0014).
    patient_id: int | None
    #: The patient's name, or :data:`ONLINE_HOLD_PATIENT` when there is no patient yet.
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
    #: True when ``scheduling.book`` found this appointment already made by an earlier call with the
    #: same client id (a retried commit) instead of booking it now.
    already_booked: bool = False
    #: A note for the desk, typed when booking ("bring last year's X-ray"; migration 0013), else "".
    desk_note: str = ""
    #: The patient's own note for the desk, left on the portal (migration 0014), else "".
    patient_note: str = ""

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON shape: ISO-8601 UTC times with ``Z``, resources as kind → name."""
        out = {"id": self.id, "start": iso_utc(self.start), "end": iso_utc(self.end), "status": self.status,
               "branch": self.branch, "service": self.service, "patient_id": self.patient_id,
               "patient": self.patient, "source": self.source, "resources": dict(self.resources)}
        if self.already_booked:
            out["already_booked"] = True
        return out


def iso_utc(instant: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix: ``2027-01-04T11:00:00Z``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: What the desk shows as the patient of an online hold that has none yet (migration 0014: the
#: portal holds a start while the visitor types their details).
ONLINE_HOLD_PATIENT = "Online booking (details being entered)"

#: The shared SELECT: one row per appointment, its resources as three parallel arrays ordered by kind
#: (columns ``res_kinds``, ``res_names``, ``res_ids``; plain arrays, so no JSON is decoded per row),
#: read by one index lookup per appointment (no GROUP BY, no sort of the whole day by names). Callers
#: add ``WHERE …`` over alias ``a`` (appointment), ``br`` (branch), ``s`` (service), ``p`` (patient:
#: a LEFT JOIN, NULL for an online hold without one — its name reads :data:`ONLINE_HOLD_PATIENT`),
#: then :data:`APPOINTMENT_GROUP_BY` (empty: kept for callers' text) and an ORDER BY. :func:`view_of`
#: reads its columns by position, in this order; :func:`appointments_with` adds columns after them.
_SELECT_WITH = """
SELECT a.id, a.client_id::text, a.branch_id, br.name AS branch, a.service_id, s.name AS service, a.patient_id,
       coalesce(p.display_name, '""" + ONLINE_HOLD_PATIENT + """') AS patient,
       a.status, a.starts_at, a.ends_at, a.source, a.hold_expires_at,
       a.series_id, a.series_date, a.visit_id, res.kinds AS res_kinds, res.names AS res_names, res.ids AS res_ids,
       a.desk_note, a.patient_note
  {extra}
  FROM appointment a
  JOIN branch br ON br.id = a.branch_id
  JOIN service s ON s.id = a.service_id
  LEFT JOIN patient p ON p.id = a.patient_id
  CROSS JOIN LATERAL (
       SELECT coalesce(array_agg(r.kind ORDER BY r.kind), '{}') AS kinds,
              coalesce(array_agg(r.name ORDER BY r.kind), '{}') AS names,
              coalesce(array_agg(r.id ORDER BY r.kind), '{}') AS ids
         FROM booking b JOIN resource r ON r.id = b.resource_id
        WHERE b.appointment_id = a.id) AS res
"""

APPOINTMENT_SELECT = _SELECT_WITH.replace("{extra}", "")

#: The number of columns of :data:`APPOINTMENT_SELECT` (extra columns come after them).
_VIEW_COLUMNS = 21

#: What follows the WHERE clause of :data:`APPOINTMENT_SELECT` (nothing: the resources are gathered
#: per appointment by the LATERAL subquery).
APPOINTMENT_GROUP_BY = ""

#: The order every list of appointments is given in: by start, then id.
BY_START = " ORDER BY a.starts_at, a.id"


def view_of(row: Any) -> AppointmentView:
    """An :class:`AppointmentView` from one row of :data:`APPOINTMENT_SELECT` (by position; times made
    UTC). About 1,500 of them make a busy day's grid, so this is on the path of opening a day."""
    (id_, client_id, branch_id, branch, service_id, service, patient_id, patient, status, starts_at, ends_at,
     source, hold_expires_at, series_id, series_date, visit_id, kinds, names, ids, desk_note,
     patient_note) = row[:_VIEW_COLUMNS]
    return AppointmentView(
        id=id_, client_id=client_id, branch_id=branch_id, branch=branch, service_id=service_id, service=service,
        patient_id=patient_id, patient=patient, status=status, start=_utc(starts_at), end=_utc(ends_at),
        source=source, resources=dict(zip(kinds, names, strict=True)), resource_ids=dict(zip(kinds, ids, strict=True)),
        hold_expires_at=_utc(hold_expires_at) if hold_expires_at else None,
        series_id=series_id, series_date=series_date, visit_id=visit_id, desk_note=desk_note or "", patient_note=patient_note or "")


def _utc(instant: datetime) -> datetime:
    """``instant`` (aware) in UTC, as ``datetime.UTC``."""
    return instant if instant.tzinfo is UTC else instant.astimezone(UTC)


def appointments_where(conn: Connection, where: str, params: dict[str, Any]) -> list[AppointmentView]:
    """Appointments matching ``where`` (SQL over alias ``a``, ``:name`` placeholders filled from
    ``params``), by start, inside the caller's transaction. ``where`` is the program's own text,
    never user input."""
    return [view for view, _ in appointments_with(conn, where, params, "")]


def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """All rows of ``sql`` (``:name`` placeholders) as plain tuples, loaded from PostgreSQL's binary
    format on the transaction's driver connection: a day's 1,500 appointments load in about half the
    client time SQLAlchemy rows from text take (``make bench``, grid)."""
    return catalog.fetch(conn, driver_sql(sql), params, binary=True)


def appointments_with(conn: Connection, where: str, params: dict[str, Any],
                      extra: str) -> list[tuple[AppointmentView, tuple[Any, ...]]]:
    """As :func:`appointments_where`, with ``extra`` columns (SQL select-list text over the same
    aliases, e.g. ``", EXISTS (…) AS flagged"``, starting with a comma) computed in the same
    statement: ``[(view, (extra values…))]``, by start."""
    q = _SELECT_WITH.replace("{extra}", extra) + f" WHERE {where}" + APPOINTMENT_GROUP_BY + BY_START
    return [(view_of(r), tuple(r[_VIEW_COLUMNS:])) for r in _rows(conn, q, params)]


def read_appointment(conn: Connection, appointment_id: int) -> AppointmentView:
    """One appointment by id, inside the caller's transaction. Raises ``NotFound("appointment", …)``."""
    row = conn.execute(text(APPOINTMENT_SELECT + " WHERE a.id = :i" + APPOINTMENT_GROUP_BY),
                       {"i": appointment_id}).first()
    if row is None:
        raise NotFound("appointment", appointment_id)
    return view_of(row)


def get_appointment(db: Database, appointment_id: int) -> AppointmentView:
    """One appointment by id. Raises ``NotFound``, ``ValidationError`` (an id that is not a whole number)."""
    checks.record_id(appointment_id, "appointment")
    return db.read(lambda conn: read_appointment(conn, appointment_id))


def appointments_on(conn: Connection, branch: BranchInfo, local_date: date, *, include_released: bool = True,
                    overlapping: bool = False) -> list[AppointmentView]:
    """Appointments of ``branch`` starting on ``local_date`` (branch-local), by start.

    ``overlapping=True`` also returns those that started the evening before and
    run into the day (the grid shows them; a list of the day's appointments
    does not). ``include_released=False`` leaves out cancelled and rescheduled ones
    (SQL ``clinic_status_is_live``).
    """
    return appointments_where(conn, *day_where(branch, local_date, include_released=include_released,
                                               overlapping=overlapping))


def day_where(branch: BranchInfo, local_date: date, *, include_released: bool = True,
              overlapping: bool = False) -> tuple[str, dict[str, Any]]:
    """The WHERE text and parameters of :func:`appointments_on` (for :func:`appointments_with`)."""
    lo, hi = day_bounds_utc(local_date, branch.tz)
    if overlapping:  # the lower bound on starts_at keeps the (branch_id, starts_at) index usable
        where = ("a.branch_id = :b AND a.starts_at < :hi AND a.ends_at > :lo "
                 "AND a.starts_at >= CAST(:lo AS timestamptz) - interval '1 day'")
    else:
        where = "a.branch_id = :b AND a.starts_at >= :lo AND a.starts_at < :hi"
    if not include_released:
        where += " AND clinic_status_is_live(a.status)"
    return where, {"b": branch.id, "lo": lo, "hi": hi}


def patient_appointments(conn: Connection, patient_id: int) -> list[AppointmentView]:
    """Every appointment of a patient (any branch, cancelled ones included), by start."""
    return appointments_where(conn, "a.patient_id = :p", {"p": patient_id})


def patient_live_between(conn: Connection, patient_id: int, lo: datetime, hi: datetime,
                         exclude: Collection[int] = ()) -> list[AppointmentView]:
    """The patient's live appointments whose time overlaps [lo, hi) (aware), by start — those the
    constraint ``appointment_patient_no_overlap`` counts (a ``parallel`` one, booked through the logged
    override, blocks nobody); ``exclude``: appointment ids left out (one being moved)."""
    return appointments_where(conn, "a.patient_id = :p AND clinic_status_is_live(a.status) AND NOT a.parallel "
                                    "AND a.starts_at < :hi AND a.ends_at > :lo AND NOT a.id = ANY(:x)",
                              {"p": patient_id, "lo": lo, "hi": hi, "x": [int(i) for i in exclude]})


def list_appointments(db: Database, *, branch: str, local_date: date | str) -> list[AppointmentView]:
    """All appointments of a branch on a local date, cancelled ones included, by start.

    Raises ``NotFound`` (branch), ``ValidationError`` (a bad date, one outside 2000-01-01 ..
    2099-12-31, a branch name holding a control character)."""
    checks.names(branch=branch)
    d = parse_date(local_date, "date")
    return db.read(lambda conn: appointments_on(conn, catalog.load_branch(conn, branch), d))
