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
from ..store.database import Database
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
    #: True when ``scheduling.book`` found this appointment already made by an earlier call with the
    #: same client id (a retried commit) instead of booking it now.
    already_booked: bool = False

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


#: The shared SELECT: one row per appointment once grouped by :data:`APPOINTMENT_GROUP_BY`, its
#: resources as three parallel arrays ordered by kind (columns ``res_kinds``, ``res_names``,
#: ``res_ids``; plain arrays, so no JSON is decoded per row). Callers add ``WHERE …`` over
#: alias ``a`` (appointment), ``br`` (branch), ``s`` (service), ``p`` (patient), then the GROUP BY.
APPOINTMENT_SELECT = """
SELECT a.id, a.client_id, a.branch_id, br.name AS branch, a.service_id, s.name AS service, a.patient_id,
       p.display_name AS patient, a.status, a.starts_at, a.ends_at, a.source, a.hold_expires_at,
       a.series_id, a.series_date, a.visit_id,
       coalesce(array_agg(r.kind ORDER BY r.kind) FILTER (WHERE r.id IS NOT NULL), '{}') AS res_kinds,
       coalesce(array_agg(r.name ORDER BY r.kind) FILTER (WHERE r.id IS NOT NULL), '{}') AS res_names,
       coalesce(array_agg(r.id ORDER BY r.kind) FILTER (WHERE r.id IS NOT NULL), '{}') AS res_ids
  FROM appointment a
  JOIN branch br ON br.id = a.branch_id
  JOIN service s ON s.id = a.service_id
  JOIN patient p ON p.id = a.patient_id
  LEFT JOIN booking b ON b.appointment_id = a.id
  LEFT JOIN resource r ON r.id = b.resource_id
"""

#: What follows the WHERE clause of :data:`APPOINTMENT_SELECT`.
APPOINTMENT_GROUP_BY = " GROUP BY a.id, br.name, s.name, p.display_name"

#: The order every list of appointments is given in: by start, then id.
BY_START = " ORDER BY a.starts_at, a.id"


def view_of(row: Any) -> AppointmentView:
    """An :class:`AppointmentView` from one row of :data:`APPOINTMENT_SELECT` (times made UTC)."""
    kinds = row.res_kinds
    return AppointmentView(
        id=row.id, client_id=str(row.client_id), branch_id=row.branch_id, branch=row.branch,
        service_id=row.service_id, service=row.service, patient_id=row.patient_id, patient=row.patient,
        status=row.status, start=_utc(row.starts_at), end=_utc(row.ends_at),
        source=row.source, resources=dict(zip(kinds, row.res_names, strict=True)),
        resource_ids=dict(zip(kinds, row.res_ids, strict=True)),
        hold_expires_at=_utc(row.hold_expires_at) if row.hold_expires_at else None,
        series_id=row.series_id, series_date=row.series_date, visit_id=row.visit_id)


def _utc(instant: datetime) -> datetime:
    """``instant`` (aware) in UTC; as it is when the session already gives UTC (the common case)."""
    return instant if instant.tzinfo is UTC else instant.astimezone(UTC)


def appointments_where(conn: Connection, where: str, params: dict[str, Any]) -> list[AppointmentView]:
    """Appointments matching ``where`` (SQL over alias ``a``, ``:name`` placeholders filled from
    ``params``), by start, inside the caller's transaction. ``where`` is the program's own text,
    never user input."""
    q = APPOINTMENT_SELECT + f" WHERE {where}" + APPOINTMENT_GROUP_BY + BY_START
    return [view_of(r) for r in conn.execute(text(q), params)]


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
    lo, hi = day_bounds_utc(local_date, branch.tz)
    if overlapping:  # the lower bound on starts_at keeps the (branch_id, starts_at) index usable
        where = ("a.branch_id = :b AND a.starts_at < :hi AND a.ends_at > :lo "
                 "AND a.starts_at >= CAST(:lo AS timestamptz) - interval '1 day'")
    else:
        where = "a.branch_id = :b AND a.starts_at >= :lo AND a.starts_at < :hi"
    if not include_released:
        where += " AND clinic_status_is_live(a.status)"
    return appointments_where(conn, where, {"b": branch.id, "lo": lo, "hi": hi})


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
