"""The no-show reports: the manager report (:func:`no_show`) and the CLI's summary (:func:`no_show_report`).

Both count the appointments whose outcome is known (status ``completed`` or ``no_show``; everything
else — cancelled, rescheduled, still upcoming — is left out) and their no-shows, as
``definitions.sql`` defines them, grouped by the buckets of ``domain/report_definitions.py``. The
questions come from the public "Medical Appointment No Shows" analysis (does a reminder or a long
lead time go with more no-shows?).

All dates are branch-local: an appointment counts on the local date of its start in its branch's
zone (``appointment.local_start``, kept by migration 0005's triggers), and the lead time is measured
between the local date of ``booked_at`` and that date (whole calendar days, not 24-hour periods).
Each report reads one consistent snapshot; SQL does the aggregation (``no_show.sql``), Python only
labels and orders the groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ...domain.errors import ValidationError
from ...domain.report_definitions import (
    AGE_BANDS,
    LEAD_TIME_BANDS,
    LEAD_TIME_LABELS,
    SMS_LABELS,
    SMS_REMINDER_LABELS,
    SOURCE_LABELS,
    UNKNOWN_AGE,
    WEEKDAYS,
    footnotes,
)
from ...store.database import Database
from .. import catalog
from .common import bound_date, bucket_params, names, period, rate, read
from .model import Chart, Column, ReportData, Table
from .sql import statement

__all__ = ["no_show", "no_show_report"]

_GROUPS = ("weekday", "lead_time", "sms_reminder", "age", "branch")
_FIXED = {"weekday": WEEKDAYS, "lead_time": LEAD_TIME_BANDS, "sms_reminder": SMS_LABELS, "age": AGE_BANDS}

# -- the manager report --------------------------------------------------------------------------
#: The grouping-set columns of part 0 of no_show.sql's report, in GROUPING() bit order (first column = highest bit).
_NS_DIMS = ("service_id", "weekday", "hour", "lead_band", "sms", "age_band", "branch_id", "source")
_NS_TITLES = {"doctor_id": ("by_doctor", "No-shows by doctor", "Doctor"),
              "service_id": ("by_service", "No-shows by service", "Service"),
              "weekday": ("by_weekday", "No-shows by weekday", "Weekday"),
              "hour": ("by_hour", "No-shows by hour of day", "Hour"),
              "lead_band": ("by_lead_time", "No-shows by lead time (days booked ahead)", "Booked ahead"),
              "sms": ("by_sms", "No-shows with and without an SMS reminder", "SMS reminder"),
              "age_band": ("by_age", "No-shows by age band", "Age band"),
              "branch_id": ("by_branch", "No-shows by branch", "Branch"),
              "source": ("by_source", "No-shows by booking source", "Source"),
              "week": ("trend", "No-show trend by week", "Week of")}
_RATE_COLUMNS = [Column("appointments", "Appointments", "int"), Column("no_shows", "No-shows", "int"),
                 Column("rate", "No-show rate", "rate")]


def no_show(db: Database, *, date_from: str | date, date_to: str | date, branch: str | None = None) -> ReportData:
    """No-show rates (definitions ``no_show``, ``lead_time``, ``sms``, ``age``) on local dates
    ``date_from``..``date_to`` by doctor, service, weekday, hour of day, lead time, SMS reminder,
    age band, branch and booking source, and the trend by week (Monday-based local weeks).

    Tables (each ``label, appointments, no_shows, rate``; rate = no_shows / appointments rounded
    half-up to 4 decimals, None when there are none): ``by_doctor``, ``by_service``, ``by_weekday`` (Monday..Sunday, all
    listed), ``by_hour`` (0..23 local, hours with appointments), ``by_lead_time`` (all bands),
    ``by_sms``, ``by_age`` (all bands), ``by_branch``, ``by_source``, ``trend`` (weeks with
    appointments). Summary: ``appointments``, ``no_shows``, ``rate`` (None without appointments).
    Raises as the module says.
    """
    d_from, d_to = period(date_from, date_to)

    def work(conn: Connection, params: dict[str, Any]) -> ReportData:
        rows = conn.execute(text(statement("no_show", "report")), params).all()
        doctors, services, branches = names(conn, "resource"), names(conn, "service"), names(conn, "branch")
        full = (1 << len(_NS_DIMS)) - 1
        counts: dict[str, dict[Any, tuple[int, int]]] = {d: {} for d in (*_NS_DIMS, "doctor_id", "week")}
        total = (0, 0)
        for r in rows:
            pair = (int(r.n), int(r.ns))
            if r.part == 1:     # by doctor (week not grouped: g = 0b01) or by week (g = 0b10)
                counts["week" if r.g == 0b10 else "doctor_id"][r.week if r.g == 0b10 else r.doctor_id] = pair
                continue
            if r.g == full:
                total = pair
                continue
            for i, dim in enumerate(_NS_DIMS):
                if r.g == full & ~(1 << (len(_NS_DIMS) - 1 - i)):
                    counts[dim][getattr(r, dim)] = pair
        tables = []
        for dim in ("doctor_id", *_NS_DIMS, "week"):
            name, title, label = _NS_TITLES[dim]
            got = counts[dim]
            keys: list[Any]
            if dim == "weekday":
                keys = list(range(7))
            elif dim == "lead_band":
                keys = list(range(len(LEAD_TIME_BANDS)))
            elif dim == "age_band":
                keys = list(range(len(AGE_BANDS) + 1))
            elif dim == "sms":
                keys = [True, False]
            else:
                keys = sorted((k for k in got if k is not None), key=lambda k: (str(type(k)), k))
                if None in got:
                    keys.append(None)
            rows_out: list[tuple[Any, ...]] = []
            drill: list[dict[str, Any] | None] = []
            merged: dict[str, tuple[int, int, dict[str, Any] | None]] = {}
            for k in keys:
                n, ns = got.get(k, (0, 0))
                text_label, key = _ns_label(dim, k, doctors, services, branches)
                if text_label in merged:   # age: negative (bucket 0) and unknown (NULL) share a label
                    n0, ns0, key0 = merged[text_label]
                    merged[text_label] = (n0 + n, ns0 + ns, key0)
                else:
                    merged[text_label] = (n, ns, key)
            for text_label, (n, ns, merged_key) in merged.items():
                rows_out.append((text_label, n, ns, rate(ns, n) if n else None))   # no rate without appointments
                drill.append(merged_key)
            tables.append(Table(name, title, [Column("label", label), *_RATE_COLUMNS], rows_out, drill))
        charts = [Chart("line", "trend", "label", ("rate",), "No-show rate by week", "No-show rate"),
                  Chart("bar", "by_weekday", "label", ("rate",), "No-show rate by weekday", "No-show rate"),
                  Chart("bar", "by_lead_time", "label", ("rate",), "No-show rate by days booked ahead",
                        "No-show rate"),
                  Chart("bar", "by_hour", "label", ("rate",), "No-show rate by hour of day", "No-show rate"),
                  Chart("bar", "by_age", "label", ("rate",), "No-show rate by age band", "No-show rate")]
        return ReportData("no-show", "No-show report", d_from, d_to, None, tables, charts,
                          footnotes(["dates", "no_show", "lead_time", "sms", "age"]),
                          {"appointments": total[0], "no_shows": total[1],
                           "rate": rate(total[1], total[0]) if total[0] else None})

    return read(db, d_from, d_to, branch, work)


def _ns_label(dim: str, k: Any, doctors: dict[int, str], services: dict[int, str],
              branches: dict[int, str]) -> tuple[str, dict[str, Any]]:
    if dim == "doctor_id":
        return (doctors.get(k, "?") if k is not None else "(no doctor)"), {"doctor_id": k, "outcome": True}
    if dim == "service_id":
        return services.get(k, "?"), {"service_id": k, "outcome": True}
    if dim == "weekday":
        return WEEKDAYS[k], {"weekday": k, "outcome": True}
    if dim == "hour":
        return f"{k:02d}:00", {"hour": k, "outcome": True}
    if dim == "lead_band":
        return LEAD_TIME_LABELS[k], {"lead_band": k, "outcome": True}
    if dim == "sms":
        return SMS_REMINDER_LABELS[bool(k)], {"sms": bool(k), "outcome": True}
    if dim == "age_band":
        return (AGE_BANDS[k - 1] if k else AGE_BANDS[-1]), {"age_band": k, "outcome": True}
    if dim == "branch_id":
        return branches.get(k, "?"), {"branch_id": k, "outcome": True}
    if dim == "source":
        return SOURCE_LABELS.get(str(k), str(k)), {"source": k, "outcome": True}
    return k.isoformat(), {"week": k.isoformat(), "outcome": True}


# -- the CLI's summary ---------------------------------------------------------------------------
# GROUPING(weekday, lead_band, sms, age_band, branch): a set bit = that column is not grouped.
_GROUP_OF_MASK = {0b01111: "weekday", 0b10111: "lead_time", 0b11011: "sms_reminder", 0b11101: "age",
                  0b11110: "branch", 0b11111: "total"}


def _cell(appointments: int, no_shows: int) -> dict[str, Any]:
    return {"appointments": appointments, "no_shows": no_shows, "rate": rate(no_shows, appointments)}


def no_show_report(db: Database, *, date_from: str | date | None = None, date_to: str | date | None = None,
                   branch: str | None = None) -> dict[str, Any]:
    """No-show figures for appointments with a known outcome on local dates ``date_from``..``date_to``.

    ``date_from``/``date_to``: inclusive local dates (``YYYY-MM-DD`` or ``date``),
    either may be None (open). ``branch``: a branch name (exact, then
    case-insensitive) or None for all. Counted: status ``completed`` or
    ``no_show`` only.

    Returns ``{"total": cell, "by": {"weekday": {...}, "lead_time": {...},
    "sms_reminder": {...}, "age": {...}, "branch": {...}}}`` where each cell is
    ``{"appointments": n, "no_shows": n, "rate": r}`` and ``rate`` =
    no_shows / appointments rounded half-up to 4 decimals. Labels:

    * ``weekday``: ``Monday`` .. ``Sunday`` (local date of the start);
    * ``lead_time``: local calendar days from ``booked_at`` to the start:
      ``negative``, ``0``, ``1-2``, ``3-7``, ``8-14``, ``15-30``, ``31+``;
    * ``sms_reminder``: ``sms`` if a reminder with channel ``sms`` and purpose
      ``reminder`` was sent (status ``sent``), else ``no_sms``;
    * ``age``: whole years on the appointment's local date — the source's age
      for imported rows (``patient_age_years``), otherwise from the patient's
      birth date: ``0-11``, ``12-17``, ``18-39``, ``40-59``, ``60+``, and
      ``unknown`` (no source age and no birth date, or a birth date after the
      appointment);
    * ``branch``: the branch name.

    Label order is canonical (as listed; branches by name). The fixed groups
    (weekday, lead_time, sms_reminder, age) always list every label, with
    ``rate`` 0.0 where there are no appointments; ``branch`` lists only branches
    with at least one counted appointment. Each group's appointments sum to
    the total.

    Raises ``ValidationError`` naming ``from``/``to`` for a malformed date or
    ``to`` before ``from``; ``NotFound`` (field ``branch``) for an unknown
    branch; ``DatabaseUnavailable``. Runs in one consistent read-only snapshot.
    """
    d_from = bound_date(date_from, "from")
    d_to = bound_date(date_to, "to")
    if d_from is not None and d_to is not None and d_to < d_from:
        raise ValidationError("to", d_to.isoformat(), f"is before from ({d_from.isoformat()})")
    lo = datetime.combine(d_from, time(0), UTC) - timedelta(days=2) if d_from else None
    hi = datetime.combine(d_to, time(0), UTC) + timedelta(days=3) if d_to else None

    def work(conn: Connection) -> dict[str, Any]:
        branch_id = catalog.load_branch(conn, branch).id if branch is not None else None
        rows = conn.execute(text(statement("no_show", "summary")),
                            {"lo": lo, "hi": hi, "d_from": d_from, "d_to": d_to, "branch": branch_id}
                            | bucket_params()).all()
        return _shape(rows)

    return db.read(work, snapshot=True)


def _label(group: str, row: Any) -> str:
    if group == "weekday":
        return WEEKDAYS[row.weekday - 1]
    if group == "lead_time":
        return LEAD_TIME_BANDS[row.lead_band]
    if group == "sms_reminder":
        return "sms" if row.sms else "no_sms"
    if group == "age":
        return AGE_BANDS[row.age_band - 1] if row.age_band else UNKNOWN_AGE
    return str(row.branch)


def _shape(rows: Sequence[Any]) -> dict[str, Any]:
    counts: dict[str, dict[str, tuple[int, int]]] = {g: {} for g in _GROUPS}
    total = (0, 0)
    for r in rows:
        group = _GROUP_OF_MASK[r.g]
        pair = (int(r.appointments), int(r.no_shows))
        if group == "total":
            total = pair
        else:
            label = _label(group, r)
            n, ns = counts[group].get(label, (0, 0))
            counts[group][label] = (n + pair[0], ns + pair[1])  # negative and unknown ages share a label
    by: dict[str, dict[str, Any]] = {}
    for group in _GROUPS:
        labels = _FIXED[group] if group in _FIXED else tuple(sorted(counts[group]))
        by[group] = {label: _cell(*counts[group].get(label, (0, 0))) for label in labels}
    return {"total": _cell(*total), "by": by}
