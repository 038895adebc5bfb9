"""The manager reports (issue 6): no-show, utilization, cancellations, load, operations.

Each report is a function ``(db, *, date_from, date_to, branch=None) -> ReportData``:
plain values out, read in one consistent snapshot (``Database.read(snapshot=True)``:
SERIALIZABLE READ ONLY DEFERRABLE), so every table of a report agrees with the
others. ``db`` may be the reports connection (``config.reports_connection``), e.g.
a read replica.

Dates: ``date_from``/``date_to`` are inclusive *branch-local* dates. The no-show,
cancellation, load and operations queries read the appointment's report columns
(migration 0005, kept by triggers): ``local_start`` (the start as branch-local wall
clock, no zone), ``lead_days`` (local days from booking to start) and ``doctor_id``
(the doctor resource of its bookings, the lowest id when there are several). So the
period is a range on ``local_start`` (:data:`_PERIOD`), local date, weekday, hour and
week come from that column, and "by doctor" needs no join to ``booking``. Every
report transaction costs parallel workers as cheap (:data:`_PLANNER`) so the big
aggregates run in the workers. Utilization reads the bookings' own local columns
(migration 0007: ``booking.local_day``, ``start_min``, ``end_min``, ``branch_id``) in
the order of their index and the rosters, per resource and local day (see its SQL), for the
resource-days the summary of migration 0008 cannot answer for (stale since its last refresh, or not
covered), and the summary (``utilization_day``) for the rest; :func:`refresh_utilization` keeps it.

What is counted is written once in ``reports/definitions.py`` (a leaf module of
constants) and printed in each report's footnotes.

Drill-down: each row of a table carries a ``drill`` key (a dict of filters, or
None); :func:`drill_down` lists the appointments behind it.

Errors: ``ValidationError`` (field ``from``/``to``/``report``) for bad dates, an
inverted or over-long range, an unknown report; ``NotFound`` (field ``branch``) for
an unknown branch; ``DatabaseUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.errors import ValidationError
from ..reports.definitions import RESOURCE_DAY_TABLE_DAYS, RESOURCE_WEEK_TABLE_DAYS, footnotes
from ..store.database import Database
from . import catalog
from .reports import AGE_BANDS, LEAD_TIME_BANDS, WEEKDAYS, _bound, rate

__all__ = ["Column", "Table", "Chart", "ReportData", "REPORTS", "run_report", "drill_down", "no_show",
           "utilization", "cancellations", "load", "operations", "MAX_DAYS", "refresh_utilization",
           "UTILIZATION_HORIZON_DAYS"]

#: The longest period a report covers (local days), so the per-day bounds stay small.
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class Column:
    """One column of a report table. ``kind``: ``text``, ``int``, ``rate`` (a fraction 0..1, printed as a
    percentage), ``hours`` (a float, hours) or ``date`` (ISO text)."""

    key: str
    label: str
    kind: str = "text"


@dataclass
class Table:
    """A named table: ``columns`` and ``rows`` (tuples of plain values, one per column), with for each
    row a drill-down key (a dict of filters for :func:`drill_down`, or None) in ``drill``."""

    name: str
    title: str
    columns: list[Column]
    rows: list[tuple[Any, ...]]
    drill: Sequence[dict[str, Any] | None] = field(default_factory=list)

    def column(self, key: str) -> list[Any]:
        """The values of column ``key`` (``ValueError`` when there is no such column)."""
        i = [c.key for c in self.columns].index(key)
        return [r[i] for r in self.rows]


@dataclass(frozen=True)
class Chart:
    """What to draw from a table (``reports/charts.py`` draws it): ``kind`` ``bar``, ``line`` or
    ``heatmap``; ``table``: the table's name; ``category``: the column of the x axis (heatmap: rows);
    ``values``: the value columns (heatmap: the cell columns); ``title``; ``value_label``: the y axis."""

    kind: str
    table: str
    category: str
    values: tuple[str, ...]
    title: str
    value_label: str = ""


@dataclass
class ReportData:
    """One report's figures: ``name`` (``no-show`` …), ``title``, the period (local dates, inclusive),
    the branch name or None for all, ``tables``, ``charts``, the definition sentences printed as
    footnotes, and ``summary`` (headline figures: label → value). ``pdf_tables``: the names of the
    tables the PDF prints, in that order (None: all); the others go to the CSV and the screen only."""

    name: str
    title: str
    date_from: date
    date_to: date
    branch: str | None
    tables: list[Table]
    charts: list[Chart]
    definitions: list[str]
    summary: dict[str, Any] = field(default_factory=dict)
    pdf_tables: list[str] | None = None

    def table(self, name: str) -> Table:
        """The table called ``name`` (``KeyError`` if none)."""
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``report``, ``title``, ``from``, ``to``, ``branch``, ``summary``,
        ``definitions`` and ``tables`` (name → ``{"title", "columns": [keys], "rows": [[…]]}``)."""
        return {"report": self.name, "title": self.title, "from": self.date_from.isoformat(),
                "to": self.date_to.isoformat(), "branch": self.branch, "summary": self.summary,
                "definitions": self.definitions,
                "tables": {t.name: {"title": t.title, "columns": [c.key for c in t.columns],
                                    "rows": [list(r) for r in t.rows]} for t in self.tables}}


# -- shared pieces -------------------------------------------------------------------------
def _period(date_from: str | date | None, date_to: str | date | None) -> tuple[date, date]:
    d_from = _bound(date_from, "from")
    d_to = _bound(date_to, "to")
    if d_from is None:
        raise ValidationError("from", date_from, "is required (YYYY-MM-DD)")
    if d_to is None:
        raise ValidationError("to", date_to, "is required (YYYY-MM-DD)")
    if d_to < d_from:
        raise ValidationError("to", d_to.isoformat(), f"is before from ({d_from.isoformat()})")
    if (d_to - d_from).days + 1 > MAX_DAYS:
        raise ValidationError("to", d_to.isoformat(), f"is more than {MAX_DAYS} days after from")
    return d_from, d_to


def _params(conn: Connection, d_from: date, d_to: date, branch: str | None) -> tuple[dict[str, Any], str | None]:
    if branch is None:
        return {"d_from": d_from, "d_to": d_to, "branch": None}, None
    info = catalog.load_branch(conn, branch)
    return {"d_from": d_from, "d_to": d_to, "branch": info.id}, info.name


#: Report transactions aggregate about a million rows into thousands of groups: memory for the hash
#: tables, and parallel workers costed as cheap so the planner splits the scan (its default
#: parallel_tuple_cost assumes every group is a tuple worth shipping).
_PLANNER = ("SET LOCAL work_mem = '64MB'", "SET LOCAL parallel_setup_cost = 100",
            "SET LOCAL parallel_tuple_cost = 0.01")


def _read(db: Database, d_from: date, d_to: date, branch: str | None,
          work: Callable[[Connection, dict[str, Any]], ReportData]) -> ReportData:
    def run(conn: Connection) -> ReportData:
        for setting in _PLANNER:
            conn.execute(text(setting))
        params, name = _params(conn, d_from, d_to, branch)
        data = work(conn, params)
        data.branch = name
        return data

    return db.read(run, snapshot=True)


def _hours(minutes: Any) -> float:
    return round(float(minutes or 0) / 60.0, 1)


def _ratio(part: Any, whole: Any) -> float | None:
    """``part / whole`` as a rate (4 decimals); None when ``whole`` is 0: nothing to measure, printed empty."""
    return rate(int(part or 0), int(whole)) if whole else None


# -- 1. no-show ------------------------------------------------------------------------------
#: Appointments of the period: local dates ``:d_from``..``:d_to`` on ``local_start`` (branch-local
#: wall clock, kept by migration 0005), the branch when one is chosen. A range on the covering index
#: ``appointment_report``; no per-row time-zone conversion and no join to branch.
_PERIOD = """a.local_start >= CAST(:d_from AS timestamp) AND a.local_start < CAST(:d_to AS timestamp) + interval '1 day'
   AND (CAST(:branch AS integer) IS NULL OR a.branch_id = :branch)"""
#: Per-row arithmetic over a million rows uses date_part (float8), not extract (numeric, several times
#: slower to compute and to sum).
#: Local calendar date as a number yyyymmdd, for whole years of age without age(): years =
#: floor((yyyymmdd(day) - yyyymmdd(birth)) / 10000).
_YMD = "(date_part('year', {0}) * 10000 + date_part('month', {0}) * 100 + date_part('day', {0}))"
#: The no-show breakdowns that need no join (doctor, week): one parallel aggregate by (doctor, week),
#: a few tens of thousands of groups, summed in the leader by grouping sets.
_NO_SHOW_DW_SQL = """
SELECT GROUPING(doctor_id, week) AS g, doctor_id, week, coalesce(sum(n), 0)::bigint AS n, coalesce(sum(ns), 0)::bigint AS ns
  FROM (SELECT a.doctor_id, date_trunc('week', a.local_start)::date AS week,
               count(*) AS n, count(*) FILTER (WHERE a.status = 'no_show') AS ns
          FROM appointment a
         WHERE a.status IN ('completed', 'no_show') AND """ + _PERIOD + """
         GROUP BY 1, 2) c
 GROUP BY GROUPING SETS ((doctor_id), (week))
"""
#: The other breakdowns: one parallel aggregate over the combination of their (small) labels, then
#: grouping sets over those few combinations for the total and each breakdown. The combination is
#: grouped as one int[] key: the planner estimates one unknown expression at a few hundred groups
#: (it would multiply eight estimates into "one group per row" and aggregate a million rows in the
#: leader), so it aggregates in the workers. Key: service, weekday (0 = Monday), local hour, lead
#: band, sms (0/1), age band, branch, source (index in _SOURCES).
_NO_SHOW_SQL = """
WITH combos AS (
    SELECT ARRAY[a.service_id, date_part('isodow', a.local_start)::int - 1, date_part('hour', a.local_start)::int,
                 width_bucket(a.lead_days, CAST(:lead_bounds AS int[])), (a.id IN (SELECT appointment_id FROM reminder
                                      WHERE channel = 'sms' AND purpose = 'reminder' AND status = 'sent'))::int,
                 width_bucket(coalesce(a.patient_age_years,
                                       CASE WHEN p.birth_date <= a.local_start
                                            THEN floor((""" + _YMD.format("a.local_start") + " - " + \
    _YMD.format("p.birth_date") + """) / 10000)::int END),
                              CAST(:age_bounds AS int[])),
                 a.branch_id, array_position(CAST(:sources AS text[]), a.source)] AS k,
           count(*) AS n, count(*) FILTER (WHERE a.status = 'no_show') AS ns
      FROM appointment a
      LEFT JOIN patient p ON p.id = a.patient_id
     WHERE a.status IN ('completed', 'no_show') AND """ + _PERIOD + """
     GROUP BY 1
)
SELECT GROUPING(service_id, weekday, hour, lead_band, sms, age_band, branch_id, source) AS g,
       service_id, weekday, hour, lead_band, sms, age_band, branch_id, source,
       coalesce(sum(n), 0)::bigint AS n, coalesce(sum(ns), 0)::bigint AS ns
  FROM (SELECT k[1] AS service_id, k[2] AS weekday, k[3] AS hour, k[4] AS lead_band, k[5] = 1 AS sms,
               k[6] AS age_band, k[7] AS branch_id, (CAST(:sources AS text[]))[k[8]] AS source, n, ns
          FROM combos) c
 GROUP BY GROUPING SETS ((), (service_id), (weekday), (hour), (lead_band), (sms), (age_band),
                         (branch_id), (source))
"""
#: Appointment sources (the CHECK of appointment.source), for the no-show combination key.
_SOURCES = ["phone", "walk_in", "online", "import"]
_LEAD_BOUNDS = [0, 1, 3, 8, 15, 31]
_AGE_BOUNDS = [0, 12, 18, 40, 60]
#: The grouping-set columns of _NO_SHOW_SQL, in GROUPING() bit order (first column = highest bit).
_NS_DIMS = ("service_id", "weekday", "hour", "lead_band", "sms", "age_band", "branch_id", "source")
_NS_TITLES = {"doctor_id": ("by_doctor", "No-shows by doctor", "Doctor"),
              "service_id": ("by_service", "No-shows by service", "Service"),
              "weekday": ("by_weekday", "No-shows by weekday", "Weekday"),
              "hour": ("by_hour", "No-shows by hour of day", "Hour"),
              "lead_band": ("by_lead_time", "No-shows by lead time (days)", "Lead time"),
              "sms": ("by_sms", "No-shows by SMS reminder", "SMS reminder"),
              "age_band": ("by_age", "No-shows by age band", "Age band"),
              "branch_id": ("by_branch", "No-shows by branch", "Branch"),
              "source": ("by_source", "No-shows by booking source", "Source"),
              "week": ("trend", "No-show trend by week", "Week of")}
_RATE_COLUMNS = [Column("appointments", "Appointments", "int"), Column("no_shows", "No-shows", "int"),
                 Column("rate", "No-show rate", "rate")]


def _names(conn: Connection, table: str) -> dict[int, str]:
    return {int(i): str(n) for i, n in conn.execute(text(f"SELECT id, name FROM {table}")).all()}  # noqa: S608


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
    d_from, d_to = _period(date_from, date_to)

    def work(conn: Connection, params: dict[str, Any]) -> ReportData:
        rows = conn.execute(text(_NO_SHOW_SQL), params | {"lead_bounds": _LEAD_BOUNDS, "age_bounds": _AGE_BOUNDS,
                                                           "sources": _SOURCES}).all()
        doctors, services, branches = _names(conn, "resource"), _names(conn, "service"), _names(conn, "branch")
        full = (1 << len(_NS_DIMS)) - 1
        counts: dict[str, dict[Any, tuple[int, int]]] = {d: {} for d in (*_NS_DIMS, "doctor_id", "week")}
        for r in conn.execute(text(_NO_SHOW_DW_SQL), params):
            counts["week" if r.g == 0b10 else "doctor_id"][r.week if r.g == 0b10 else r.doctor_id] = (
                int(r.n), int(r.ns))
        total = (0, 0)
        for r in rows:
            pair = (int(r.n), int(r.ns))
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
                  Chart("bar", "by_lead_time", "label", ("rate",), "No-show rate by lead time (days)",
                        "No-show rate"),
                  Chart("bar", "by_hour", "label", ("rate",), "No-show rate by hour of day", "No-show rate"),
                  Chart("bar", "by_age", "label", ("rate",), "No-show rate by age band", "No-show rate")]
        return ReportData("no-show", "No-show report", d_from, d_to, None, tables, charts,
                          footnotes(["dates", "no_show", "lead_time", "sms", "age"]),
                          {"appointments": total[0], "no_shows": total[1],
                           "rate": rate(total[1], total[0]) if total[0] else None})

    return _read(db, d_from, d_to, branch, work)


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
        return LEAD_TIME_BANDS[k], {"lead_band": k, "outcome": True}
    if dim == "sms":
        return ("sms" if k else "no_sms"), {"sms": bool(k), "outcome": True}
    if dim == "age_band":
        return (AGE_BANDS[k - 1] if k else AGE_BANDS[-1]), {"age_band": k, "outcome": True}
    if dim == "branch_id":
        return branches.get(k, "?"), {"branch_id": k, "outcome": True}
    if dim == "source":
        return str(k), {"source": k, "outcome": True}
    return k.isoformat(), {"week": k.isoformat(), "outcome": True}


#: The branches of the report with their period's UTC bounds (each converted once per branch).
_BRANCHES = """
    SELECT id, name, timezone AS tz, CAST(:d_from AS timestamp) AT TIME ZONE timezone AS lo,
           (CAST(:d_to AS timestamp) + interval '1 day') AT TIME ZONE timezone AS hi
      FROM branch WHERE CAST(:branch AS integer) IS NULL OR id = :branch"""
#: The coarse UTC window (local dates widened by two days each side) that lets an index cut the scan.
_WINDOW = """a.starts_at >= CAST(:d_from AS timestamp) - interval '2 days'
   AND a.starts_at < CAST(:d_to AS timestamp) + interval '3 days'
   AND a.starts_at >= b.lo AND a.starts_at < b.hi"""


# -- 2. cancellations --------------------------------------------------------------------------
_CANCEL_SQL = """
SELECT GROUPING(reason, timing, who, outcome, week) AS g, reason, timing, who, outcome, week, count(*) AS n
  FROM (SELECT coalesce(nullif(btrim(a.status_reason), ''), '(no reason given)') AS reason,
               CASE WHEN a.status = 'rescheduled' THEN 'rescheduled'
                    WHEN a.cancelled_late THEN 'late' ELSE 'early' END AS timing,
               coalesce(a.cancelled_by, 'clinic') AS who,
               CASE WHEN a.status = 'rescheduled' OR a.rescheduled_to IS NOT NULL THEN 'rescheduled'
                    ELSE 'lost' END AS outcome,
               date_trunc('week', a.local_start)::date AS week
          FROM appointment a
         WHERE a.status IN ('cancelled', 'rescheduled') AND """ + _PERIOD + """) c
 GROUP BY GROUPING SETS ((), (reason), (timing), (who), (outcome), (week))
"""
_CANCEL_DIMS = ("reason", "timing", "who", "outcome", "week")


def cancellations(db: Database, *, date_from: str | date, date_to: str | date,
                  branch: str | None = None) -> ReportData:
    """Cancelled and rescheduled appointments whose start falls on local dates ``date_from``..``date_to``
    (definitions ``late_cancellation``, ``rescheduled``).

    Tables (``label, count, share``; share = count / all cancelled or rescheduled, 4 decimals):
    ``by_reason`` (the reason given, most frequent first), ``by_timing`` (early, late, rescheduled),
    ``by_who`` (patient, clinic), ``by_outcome`` (rescheduled, lost), ``trend`` (weeks). Summary:
    ``cancelled_or_rescheduled``, ``late``, ``lost``. Raises as the module says.
    """
    d_from, d_to = _period(date_from, date_to)

    def work(conn: Connection, params: dict[str, Any]) -> ReportData:
        rows = conn.execute(text(_CANCEL_SQL), params).all()
        full = (1 << len(_CANCEL_DIMS)) - 1
        counts: dict[str, dict[Any, int]] = {d: {} for d in _CANCEL_DIMS}
        total = 0
        for r in rows:
            if r.g == full:
                total = int(r.n)
                continue
            for i, dim in enumerate(_CANCEL_DIMS):
                if r.g == full & ~(1 << (len(_CANCEL_DIMS) - 1 - i)):
                    counts[dim][getattr(r, dim)] = int(r.n)
        titles = {"reason": ("by_reason", "Cancellations by reason", "Reason"),
                  "timing": ("by_timing", "Early versus late", "Timing"),
                  "who": ("by_who", "Who cancelled", "Cancelled by"),
                  "outcome": ("by_outcome", "Rescheduled versus lost", "Outcome"),
                  "week": ("trend", "Cancellations by week", "Week of")}
        fixed = {"timing": ["early", "late", "rescheduled"], "who": ["patient", "clinic"],
                 "outcome": ["rescheduled", "lost"]}
        tables = []
        for dim in _CANCEL_DIMS:
            name, title, label = titles[dim]
            got = counts[dim]
            if dim in fixed:
                keys: list[Any] = fixed[dim]
            elif dim == "reason":
                keys = sorted(got, key=lambda k: (-got[k], k))
            else:
                keys = sorted(got)
            rows_out = [(k.isoformat() if isinstance(k, date) else k, got.get(k, 0), _ratio(got.get(k, 0), total))
                        for k in keys]
            drill = [{"cancel_" + dim: (k.isoformat() if isinstance(k, date) else k)} for k in keys]
            tables.append(Table(name, title, [Column("label", label), Column("count", "Appointments", "int"),
                                              Column("share", "Share", "rate")], rows_out, drill))
        charts = [Chart("bar", "by_timing", "label", ("count",), "Early, late, rescheduled", "Appointments"),
                  Chart("bar", "by_who", "label", ("count",), "Who cancelled", "Appointments"),
                  Chart("line", "trend", "label", ("count",), "Cancellations by week", "Appointments")]
        summary = {"cancelled_or_rescheduled": total, "late": counts["timing"].get("late", 0),
                   "lost": counts["outcome"].get("lost", 0)}
        return ReportData("cancellations", "Cancellations", d_from, d_to, None, tables, charts,
                          footnotes(["dates", "late_cancellation", "rescheduled"]), summary)

    return _read(db, d_from, d_to, branch, work)


# -- 3. doctor load and branch demand -----------------------------------------------------------
#: Per doctor: bookings, booked minutes (end - start) and local days worked — a parallel aggregate
#: by (doctor, local day), then per doctor.
_LOAD_DOCTOR_SQL = """
SELECT r.id, r.name, sum(d.n)::bigint AS n, sum(d.minutes)::bigint AS minutes, count(*) AS days
  FROM (SELECT a.doctor_id, a.local_start::date AS day, count(*) AS n,
               sum(date_part('epoch', a.ends_at - a.starts_at)) / 60 AS minutes
          FROM appointment a
         WHERE a.status NOT IN ('cancelled', 'rescheduled') AND a.doctor_id IS NOT NULL AND """ + _PERIOD + """
         GROUP BY 1, 2) d
  JOIN resource r ON r.id = d.doctor_id
 GROUP BY r.id, r.name ORDER BY sum(d.n) DESC, r.name
"""
_LOAD_HEAT_SQL = """
SELECT h.branch_id, b.name AS branch, h.weekday, h.hour, h.n
  FROM (SELECT a.branch_id, date_part('isodow', a.local_start)::int - 1 AS weekday,
               date_part('hour', a.local_start)::int AS hour, count(*) AS n
          FROM appointment a
         WHERE a.status NOT IN ('cancelled', 'rescheduled') AND """ + _PERIOD + """
         GROUP BY 1, 2, 3) h
  JOIN branch b ON b.id = h.branch_id
"""
#: Branches drawn as heatmaps of their own (the busiest); the rest are summed into "All branches".
MAX_HEATMAPS = 6


def load(db: Database, *, date_from: str | date, date_to: str | date, branch: str | None = None) -> ReportData:
    """Bookings per doctor and per hour of the week (definition ``load``) on local dates
    ``date_from``..``date_to``.

    Tables: ``by_doctor`` (doctor, bookings, booked hours, days worked, bookings per day worked);
    ``heat_all`` and ``heat_<branch id>`` for the busiest :data:`MAX_HEATMAPS` branches: rows are
    local hours (``HH:00``) with bookings, columns Monday..Sunday (counts); the PDF prints them as
    heatmaps only (counts in the cells), the screen and CSV as tables too. Summary: ``bookings``.
    Raises as the module says.
    """
    d_from, d_to = _period(date_from, date_to)

    def work(conn: Connection, params: dict[str, Any]) -> ReportData:
        docs = conn.execute(text(_LOAD_DOCTOR_SQL), params).all()
        heat = conn.execute(text(_LOAD_HEAT_SQL), params).all()
        by_doctor = Table("by_doctor", "Bookings per doctor",
                          [Column("label", "Doctor"), Column("bookings", "Bookings", "int"),
                           Column("hours", "Booked hours", "hours"), Column("days", "Days worked", "int"),
                           Column("per_day", "Bookings per day", "hours")],
                          [(r.name, int(r.n), _hours(r.minutes), int(r.days),
                            round(int(r.n) / int(r.days), 1) if r.days else 0.0) for r in docs],
                          [{"doctor_id": int(r.id), "live": True} for r in docs])
        totals: dict[int, int] = {}
        names: dict[int, str] = {}
        for r in heat:
            totals[r.branch_id] = totals.get(r.branch_id, 0) + int(r.n)
            names[r.branch_id] = r.branch
        busiest = sorted(totals, key=lambda i: (-totals[i], names[i]))[:MAX_HEATMAPS]
        tables = [by_doctor, _heat_table("heat_all", "Bookings per hour of the week — all branches", heat, None)]
        charts = [Chart("bar", "by_doctor", "label", ("bookings",), "Bookings per doctor", "Bookings"),
                  Chart("heatmap", "heat_all", "label", tuple(w.lower()[:3] for w in WEEKDAYS),
                        "Bookings per hour of the week — all branches", "Bookings")]
        if len(totals) > 1:
            for bid in busiest:
                t = _heat_table(f"heat_{bid}", f"Bookings per hour of the week — {names[bid]}", heat, bid)
                tables.append(t)
                charts.append(Chart("heatmap", t.name, "label", tuple(w.lower()[:3] for w in WEEKDAYS), t.title,
                                    "Bookings"))
        return ReportData("load", "Doctor load and branch demand", d_from, d_to, None, tables, charts,
                          footnotes(["dates", "load"]), {"bookings": sum(totals.values())},
                          pdf_tables=["by_doctor"])   # the heatmaps print their counts in the cells

    return _read(db, d_from, d_to, branch, work)


def _heat_table(name: str, title: str, heat: Sequence[Any], branch_id: int | None) -> Table:
    grid: dict[int, list[int]] = {}
    for r in heat:
        if branch_id is None or r.branch_id == branch_id:
            grid.setdefault(int(r.hour), [0] * 7)[int(r.weekday)] += int(r.n)
    hours = sorted(grid)
    cols = [Column("label", "Hour")] + [Column(w.lower()[:3], w[:3], "int") for w in WEEKDAYS]
    extra = {"branch_id": branch_id} if branch_id is not None else {}
    return Table(name, title, cols, [(f"{h:02d}:00", *grid[h]) for h in hours],
                 [{"hour": h, "live": True, **extra} for h in hours])


# -- 4. operations: confirmation, follow-up, waitlist, overrides --------------------------------
#: Time to confirmation as a histogram: per (service, whole minute of booked_at -> confirmed_at) the count and
#: the exact seconds (for the mean) — a parallel aggregate of a few thousand groups instead of sorting every
#: confirmed appointment; median and 90th percentile come from the cumulative counts (:func:`_percentile`),
#: exact to the minute.
_CONFIRM_SQL = """
SELECT c.service_id, c.m, c.n, c.secs
  FROM (SELECT a.service_id, floor(x.secs / 60)::int AS m, count(*) AS n, sum(x.secs) AS secs
          FROM appointment a
         CROSS JOIN LATERAL (SELECT date_part('epoch', greatest(a.confirmed_at - a.booked_at, interval '0')) AS secs) x
         WHERE a.confirmed_at IS NOT NULL AND """ + _PERIOD + """
         GROUP BY 1, 2) c
"""


def _percentile(hist: list[tuple[int, int]], p: float) -> float:
    """``percentile_cont(p)`` (linear interpolation between neighbouring values) of the multiset given by
    ``hist`` — sorted ``(minute, count)`` pairs — in hours."""
    total = sum(n for _, n in hist)
    if not total:
        return 0.0
    pos = p * (total - 1)
    lo_i, frac = int(pos), pos - int(pos)

    def value_at(i: int) -> int:
        seen = 0
        for m, n in hist:
            seen += n
            if i < seen:
                return m
        return hist[-1][0]

    lo = value_at(lo_i)
    hi = value_at(lo_i + 1) if frac else lo
    return (lo + (hi - lo) * frac) / 60.0


def _confirmation_rows(rows: Sequence[Any], services: dict[int, str]) -> list[tuple[str | None, int | None, int,
                                                                                     float, float, float]]:
    """(service name or None for all, service id, confirmed, mean h, median h, p90 h), by name, "all" last."""
    per: dict[int, dict[int, list[float]]] = {}
    for r in rows:
        per.setdefault(int(r.service_id), {})[int(r.m)] = [int(r.n), float(r.secs)]
    out: list[tuple[str | None, int | None, int, float, float, float]] = []
    merged: dict[int, list[float]] = {}
    for per_service in per.values():
        for m, (c, secs) in per_service.items():
            acc = merged.setdefault(m, [0, 0.0])
            acc[0] += c
            acc[1] += secs
    groups: list[tuple[int | None, dict[int, list[float]]]] = [
        *sorted(per.items(), key=lambda kv: services.get(kv[0], "?")), (None, merged)]
    for sid, hist in groups:
        if not hist:
            continue
        pairs = sorted((m, int(v[0])) for m, v in hist.items())
        total = sum(c for _, c in pairs)
        mean = sum(v[1] for v in hist.values()) / total / 3600.0
        out.append((services.get(sid, "?") if sid is not None else None, sid, total, mean,
                    _percentile(pairs, 0.5), _percentile(pairs, 0.9)))
    return out


_FOLLOW_SQL = """
SELECT count(*) AS completed, count(f.appointment_id) AS with_follow_up,
       count(*) FILTER (WHERE f.sent) AS follow_up_sent
  FROM appointment a
  LEFT JOIN (SELECT appointment_id, bool_or(status = 'sent') AS sent FROM reminder
              WHERE purpose = 'follow_up' GROUP BY appointment_id) f ON f.appointment_id = a.id
 WHERE a.status = 'completed' AND """ + _PERIOD + """
"""
_WAITLIST_SQL = """
SELECT f.state, count(*) AS n
  FROM freed_slot f JOIN (""" + _BRANCHES + """) b ON b.id = f.branch_id
 WHERE f.starts_at >= b.lo AND f.starts_at < b.hi
 GROUP BY f.state
"""
_OVERRIDES_SQL = """
SELECT o.id, o.at, b.tz, o.db_user, o.kind, o.appointment_id, o.reason
  FROM override_log o
  LEFT JOIN appointment a ON a.id = o.appointment_id
  JOIN (""" + _BRANCHES + """) b ON b.id = a.branch_id OR (a.id IS NULL AND CAST(:branch AS integer) IS NULL
                                                           AND b.id = (SELECT min(id) FROM branch))
 WHERE o.at >= b.lo AND o.at < b.hi
 ORDER BY o.at, o.id
"""


def operations(db: Database, *, date_from: str | date, date_to: str | date,
               branch: str | None = None) -> ReportData:
    """Time to confirmation, follow-up completion, waitlist fill rate and the overrides log
    (definitions ``confirmation``, ``follow_up``, ``waitlist``, ``overrides``) for local dates
    ``date_from``..``date_to`` (appointments by their start; overrides by when they were made).

    Tables: ``confirmation`` (service, confirmed, mean/median/90th percentile hours; last row "All
    services"), ``follow_up`` (measure, count, share), ``waitlist`` (freed-slot state, count, share),
    ``overrides`` (when — branch-local ``YYYY-MM-DD HH:MM`` —, who, kind, appointment id, reason).
    Summary: ``median_confirmation_h``, ``follow_up_rate``, ``waitlist_fill_rate`` (None when there is
    nothing to measure), ``overrides``.
    Raises as the module says.
    """
    d_from, d_to = _period(date_from, date_to)

    def work(conn: Connection, params: dict[str, Any]) -> ReportData:
        conf = _confirmation_rows(conn.execute(text(_CONFIRM_SQL), params).all(), _names(conn, "service"))
        follow = conn.execute(text(_FOLLOW_SQL), params).one()
        wait = {r.state: int(r.n) for r in conn.execute(text(_WAITLIST_SQL), params)}
        overrides = conn.execute(text(_OVERRIDES_SQL), params).all()

        def h(v: Any) -> float:
            return round(float(v or 0), 1)

        confirmation = Table("confirmation", "Time to confirmation (hours from request to confirmation)",
                             [Column("label", "Service"), Column("confirmed", "Confirmed", "int"),
                              Column("mean_h", "Mean h", "hours"), Column("median_h", "Median h", "hours"),
                              Column("p90_h", "90th pct h", "hours")],
                             [(name or "All services", n, h(mean), h(median), h(p90))
                              for name, _sid, n, mean, median, p90 in conf],
                             [({"service_id": sid, "confirmed": True} if sid else {"confirmed": True})
                              for _name, sid, *_rest in conf])
        done, with_fu, sent = int(follow.completed), int(follow.with_follow_up), int(follow.follow_up_sent)
        follow_up = Table("follow_up", "Follow-up completion",
                          [Column("label", "Measure"), Column("count", "Appointments", "int"),
                           Column("share", "Share of completed", "rate")],
                          [("Completed appointments", done, _ratio(done, done)),
                           ("With a follow-up message", with_fu, _ratio(with_fu, done)),
                           ("Follow-up sent", sent, _ratio(sent, done))],
                          [{"status": "completed"}, {"status": "completed", "follow_up": True},
                           {"status": "completed", "follow_up_sent": True}])
        states = ["filled", "unfilled", "offered", "open"]
        freed = sum(wait.values())
        waitlist = Table("waitlist", "Freed slots and the waitlist",
                         [Column("label", "Freed slot state"), Column("count", "Freed slots", "int"),
                          Column("share", "Share", "rate")],
                         [(s, wait.get(s, 0), _ratio(wait.get(s, 0), freed)) for s in states],
                         [{"freed_state": s} for s in states])
        decided = wait.get("filled", 0) + wait.get("unfilled", 0)
        ov = Table("overrides", "Overrides log",
                   [Column("label", "When (local)"), Column("who", "Who"), Column("kind", "Kind"),
                    Column("appointment", "Appointment", "int"), Column("reason", "Reason")],
                   [(f"{r.at.astimezone(_zone(r.tz)):%Y-%m-%d %H:%M}", r.db_user, r.kind, r.appointment_id, r.reason)
                    for r in overrides],
                   [({"appointment_id": int(r.appointment_id)} if r.appointment_id else None) for r in overrides])
        median_all = next((h(median) for name, _sid, _n, _mean, median, _p90 in conf if name is None), None)
        charts = [Chart("bar", "confirmation", "label", ("median_h", "p90_h"), "Hours to confirmation by service",
                        "Hours"),
                  Chart("bar", "waitlist", "label", ("count",), "Freed slots by state", "Freed slots")]
        return ReportData("operations", "Confirmation, follow-up, waitlist and overrides", d_from, d_to, None,
                          [confirmation, follow_up, waitlist, ov], charts,
                          footnotes(["dates", "confirmation", "follow_up", "waitlist", "overrides"]),
                          {"median_confirmation_h": median_all,
                           "follow_up_rate": _ratio(sent, done),
                           "waitlist_fill_rate": _ratio(wait.get("filled", 0), decided),
                           "overrides": len(overrides)})

    return _read(db, d_from, d_to, branch, work)


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


# -- 5. utilization -----------------------------------------------------------------------------
#: Utilization in one pass over ``booking_report`` (migration 0007) and the rosters, per
#: (resource, branch, local day) — a "resource-day":
#:
#: * ``days``: the branch-local dates of the period (and the day before, for overnight shifts) that
#:   are not holidays, with ``dst``/``dst_next`` when that day or the next is not 24 hours long.
#: * ``wk``: the rostered windows of a week, each worked out once (wall-clock minutes of its start
#:   day, end past 1440 when it runs overnight, its wholly available quarter-hours): doctors' weekly
#:   shifts with their validity, a date's shift exceptions (which replace the shifts of that date),
#:   rooms' and equipment's branch opening hours; ``raw`` copies them onto each date; ``win`` cuts a
#:   window that meets time off into what remains (multirange difference in UTC, only for resources
#:   with time off).
#: * ``pieces``: each window on its start day and, past midnight, a piece on the next day from 0.
#:   Available minutes are real minutes: a window on a daylight-saving day is converted.
#: * ``wd`` per resource-day: available minutes and the quarter-hours wholly available as bits
#:   (``clinic_quarters``: two 48-bit words = the day). ``bk``: booked minutes up to midnight and
#:   the quarter-hours they touch, streamed in ``booking_report``'s order; ``ov``: the minutes after
#:   midnight of bookings that run over it, on the next date (a partial index keeps them few).
#: * booked inside available time: when every quarter-hour a booking touches is wholly available,
#:   all of it; otherwise (a booking outside the roster, or windows off the quarter-hour grid) the
#:   resource-day is returned in ``check_branches``/``check_days`` and :data:`_UTIL_EXACT_SQL` works
#:   out the overlap of each of its bookings with each piece (bookings through the index), in the
#:   same snapshot; the difference moves from inside to overbooked.
#: * idle gaps: runs of two or more free available quarter-hours (``free & free >> 1`` marks a
#:   pair; a run of pairs starts where the bit below is clear), counted on the day itself.
#: * totals by (resource, month) and by (kind, day); per resource, per week and per kind are sums
#:   of those (in Python).
#:
#: The summary (migration 0008): ``utilization_day`` holds ``m``'s figures per resource-day (settled
#: exactly), written by :func:`refresh_utilization` for the days of ``utilization_summary.covered``;
#: triggers record in ``utilization_stale`` what each change makes stale. A report takes the summary's
#: totals outside the *live region* (stale entries met by the period, and days outside ``covered``)
#: and works the region out with the query above, filtered to its keys (:data:`_UTIL_IN_REGION`):
#: with only resources' keys, through the index key by key (:data:`_UTIL_KEYED`).
_UTIL_WINDOWS = """
days AS MATERIALIZED (
    SELECT b.id AS branch_id, b.timezone AS tz, d::date AS day, extract(isodow FROM d)::int - 1 AS wd,
           (d + interval '1 day') AT TIME ZONE b.timezone - d AT TIME ZONE b.timezone <> interval '24 hours' AS dst,
           (d + interval '2 days') AT TIME ZONE b.timezone - (d + interval '1 day') AT TIME ZONE b.timezone
               <> interval '24 hours' AS dst_next
      FROM branch b
     CROSS JOIN generate_series(CAST(:d_from AS timestamp) - interval '1 day', CAST(:d_to AS timestamp),
                                interval '1 day') d
     WHERE (CAST(:branch AS integer) IS NULL OR b.id = :branch)
       AND NOT EXISTS (SELECT 1 FROM holiday h WHERE h.branch_id = b.id AND h.local_date = d::date)
),
wk AS NOT MATERIALIZED (
    SELECT x.*, clinic_quarters((x.ws + 14) / 15, x.we / 15, 0) AS q0,
           clinic_quarters((x.ws + 14) / 15, x.we / 15, 1) AS q1
      FROM (SELECT s.resource_id, s.branch_id, s.weekday, s.valid_from, s.valid_until, true AS shift,
                   s.start_min::int AS ws,
                   CASE WHEN s.end_min <= s.start_min THEN s.end_min + 1440 ELSE s.end_min::int END AS we
              FROM shift s WHERE CAST(:rids AS integer[]) IS NULL OR s.resource_id = ANY(CAST(:rids AS integer[]))
            UNION ALL
            SELECT e.resource_id, e.branch_id, extract(isodow FROM e.local_date)::int - 1, e.local_date, e.local_date,
                   false, e.start_min::int,
                   CASE WHEN e.end_min <= e.start_min THEN e.end_min + 1440 ELSE e.end_min::int END
              FROM shift_exception e
             WHERE e.start_min IS NOT NULL AND e.local_date >= CAST(:d_from AS date) - 1
               AND e.local_date <= CAST(:d_to AS date)
               AND (CAST(:rids AS integer[]) IS NULL OR e.resource_id = ANY(CAST(:rids AS integer[])))
            UNION ALL
            SELECT r.id, o.branch_id, o.weekday, NULL, NULL, false, o.start_min::int,
                   CASE WHEN o.end_min <= o.start_min THEN o.end_min + 1440 ELSE o.end_min::int END
              FROM opening_hours o
              JOIN resource r ON r.branch_id = o.branch_id AND r.kind IN ('room', 'equipment') AND r.active
             WHERE CAST(:rids AS integer[]) IS NULL OR r.id = ANY(CAST(:rids AS integer[]))) x
),
raw AS NOT MATERIALIZED (
    SELECT w.resource_id, w.branch_id, x.day, x.tz, x.dst, x.dst_next, w.ws, w.we, w.q0, w.q1
      FROM days x JOIN wk w ON w.branch_id = x.branch_id AND w.weekday = x.wd
       AND (w.valid_from IS NULL OR x.day >= w.valid_from) AND (w.valid_until IS NULL OR x.day <= w.valid_until)
      LEFT JOIN (SELECT DISTINCT resource_id, local_date FROM shift_exception
                  WHERE local_date >= CAST(:d_from AS date) - 1 AND local_date <= CAST(:d_to AS date)) e
        ON w.shift AND e.resource_id = w.resource_id AND e.local_date = x.day
     WHERE e.resource_id IS NULL /*wkeys*/
),
toff AS MATERIALIZED (
    SELECT resource_id, range_agg(period) AS mr FROM time_off
     WHERE period && tstzrange(CAST(:d_from AS timestamp) - interval '3 days', CAST(:d_to AS timestamp) + interval '4 days')
     GROUP BY resource_id
),
win AS NOT MATERIALIZED (
    SELECT w.resource_id, w.branch_id, w.day, w.tz, w.dst, w.dst_next, w.ws, w.we, w.q0, w.q1 FROM raw w
     WHERE NOT EXISTS (SELECT 1 FROM toff t WHERE t.resource_id = w.resource_id)
    UNION ALL
    SELECT c.resource_id, c.branch_id, c.day, c.tz, true, true, c.ws, c.we,
           clinic_quarters((c.ws + 14) / 15, c.we / 15, 0), clinic_quarters((c.ws + 14) / 15, c.we / 15, 1)
      FROM (SELECT w.resource_id, w.branch_id, w.day, w.tz,
                   round(extract(epoch FROM (lower(p) AT TIME ZONE w.tz) - w.day) / 60)::int AS ws,
                   round(extract(epoch FROM (upper(p) AT TIME ZONE w.tz) - w.day) / 60)::int AS we
              FROM raw w JOIN toff t ON t.resource_id = w.resource_id
             CROSS JOIN LATERAL unnest(tstzmultirange(tstzrange((w.day + make_interval(mins => w.ws)) AT TIME ZONE w.tz,
                                                                (w.day + make_interval(mins => w.we)) AT TIME ZONE w.tz))
                                       - t.mr) AS p) c
),
pieces AS NOT MATERIALIZED (
    SELECT resource_id, branch_id, day, ws AS cs, we AS ce,
           CASE WHEN dst OR (dst_next AND we > 1440)
                THEN extract(epoch FROM (day + make_interval(mins => least(we, 1440))) AT TIME ZONE tz
                                        - (day + make_interval(mins => ws)) AT TIME ZONE tz) / 60
                ELSE least(we, 1440) - ws END AS avail, q0 AS r0, q1 AS r1
      FROM win WHERE ws < 1440 AND we > ws
    UNION ALL
    SELECT resource_id, branch_id, day + 1, 0, we - 1440,
           CASE WHEN dst OR dst_next
                THEN extract(epoch FROM (day + make_interval(mins => we)) AT TIME ZONE tz
                                        - (day + interval '1 day') AT TIME ZONE tz) / 60
                ELSE we - 1440 END,
           clinic_quarters(0, (we - 1440) / 15, 0), clinic_quarters(0, (we - 1440) / 15, 1)
      FROM win WHERE we > 1440
),
"""
#: The measures of a group of resource-days (rows with avail, inside, booked, gaps, unbooked), in
#: _UTIL_MEASURES order; ``_UTIL_RESUMS`` adds up groups of them again.
_UTIL_SUMS = """sum(avail)::bigint AS avail_min, sum(inside)::bigint AS in_min, sum(booked - inside)::bigint AS over_min,
       sum(avail - inside)::bigint AS idle_min, sum(gaps)::bigint AS gaps, sum(unbooked)::bigint AS unbooked_min"""
_UTIL_RESUMS = """sum(x.avail_min)::bigint AS avail_min, sum(x.in_min)::bigint AS in_min, sum(x.over_min)::bigint AS over_min,
       sum(x.idle_min)::bigint AS idle_min, sum(x.gaps)::bigint AS gaps, sum(x.unbooked_min)::bigint AS unbooked_min"""
#: Whether the resource-day ``q`` (``rid``, ``bid``, ``day``) lies in the live region, given as key arrays
#: (:func:`_util_keys`): its (resource, day) in ``:rk_*``, its (branch, day) in ``:gk_*``, or its day in
#: ``:ga_day`` (every branch). Hashed lookups of bound arrays (parallel safe).
_UTIL_IN_REGION = """((q.rid, q.day) IN (SELECT * FROM unnest(CAST(:rk_rid AS integer[]), CAST(:rk_day AS date[])))
        OR (q.bid, q.day) IN (SELECT * FROM unnest(CAST(:gk_bid AS integer[]), CAST(:gk_day AS date[])))
        OR q.day = ANY(CAST(:ga_day AS date[])))"""
#: With only resources' keys (``keyed``), the rosters and bookings read are those of the keys (and the day
#: before each, for what runs past midnight): ``:rx_rid``/``:rx_day``.
_UTIL_KEYED = {
    "/*wkeys*/": "AND (w.resource_id, x.day) IN (SELECT * FROM unnest(CAST(:rx_rid AS integer[]), CAST(:rx_day AS date[])))",
    "/*bkeys*/": "AND (b.resource_id, b.local_day) IN (SELECT * FROM unnest(CAST(:rk_rid AS integer[]), CAST(:rk_day AS date[])))",
    "/*okeys*/": "AND (b.resource_id, b.local_day + 1) IN (SELECT * FROM unnest(CAST(:rk_rid AS integer[]), "
                 "CAST(:rk_day AS date[])))",
}
#: The figures of each resource-day worked out live (``m``: rid, bid, day, avail, booked, partly_outside,
#: inside, unbooked, gaps), for the resource-days in the region when ``/*region*/`` is replaced by
#: ``AND`` :data:`_UTIL_IN_REGION`, for all of them when it is removed (:func:`_util_sql`). ``:rids`` (or
#: NULL) narrows the rosters and bookings read to those resources, :data:`_UTIL_KEYED` to the keys.
_UTIL_LIVE = "WITH " + _UTIL_WINDOWS + """wd AS (
    SELECT day, resource_id, branch_id, sum(avail) AS avail, bit_or(r0) AS r0, bit_or(r1) AS r1
      FROM pieces WHERE day >= CAST(:d_from AS date) AND day <= CAST(:d_to AS date)
     GROUP BY 1, 2, 3   -- in booking_report's order: both sides of the join below arrive sorted
),
bk AS (
    SELECT b.local_day AS day, b.resource_id, b.branch_id, sum(least(b.end_min, 1440) - b.start_min) AS booked,
           coalesce(bit_or(CASE WHEN b.start_min < 720 THEN clinic_quarters(b.start_min / 15, (b.end_min + 14) / 15, 0) END),
                    0) AS b0,
           coalesce(bit_or(CASE WHEN b.end_min > 720 THEN clinic_quarters(b.start_min / 15, (b.end_min + 14) / 15, 1) END),
                    0) AS b1
      FROM booking b
     WHERE b.live AND b.local_day >= CAST(:d_from AS date) AND b.local_day <= CAST(:d_to AS date)
       AND (CAST(:branch AS integer) IS NULL OR b.branch_id = :branch)
       AND (CAST(:rids AS integer[]) IS NULL OR b.resource_id = ANY(CAST(:rids AS integer[]))) /*bkeys*/
     GROUP BY 1, 2, 3
),
ov AS (
    SELECT b.local_day + 1 AS day, b.resource_id, b.branch_id, sum(b.end_min - 1440) AS booked,
           bit_or(clinic_quarters(0, (b.end_min - 1440 + 14) / 15, 0)) AS b0,
           bit_or(clinic_quarters(0, (b.end_min - 1440 + 14) / 15, 1)) AS b1
      FROM booking b
     WHERE b.live AND b.end_min > 1440 AND b.local_day >= CAST(:d_from AS date) - 1
       AND b.local_day < CAST(:d_to AS date) AND (CAST(:branch AS integer) IS NULL OR b.branch_id = :branch)
       AND (CAST(:rids AS integer[]) IS NULL OR b.resource_id = ANY(CAST(:rids AS integer[]))) /*okeys*/
     GROUP BY 1, 2, 3
),
rd AS (
    SELECT coalesce(w.resource_id, k.resource_id, o.resource_id) AS rid,
           coalesce(w.branch_id, k.branch_id, o.branch_id) AS bid, coalesce(w.day, k.day, o.day) AS day,
           coalesce(w.avail, 0) AS avail, coalesce(k.booked, 0) + coalesce(o.booked, 0) AS booked,
           k.day IS NOT NULL OR o.day IS NOT NULL AS has_booking, w.day IS NOT NULL AS has_window,
           w.day IS NOT NULL AND ((coalesce(k.b0, 0) | coalesce(o.b0, 0)) & ~w.r0
                                  | (coalesce(k.b1, 0) | coalesce(o.b1, 0)) & ~w.r1) <> 0 AS partly_outside,
           coalesce(w.r0 & ~(coalesce(k.b0, 0) | coalesce(o.b0, 0)), 0) AS f0,
           coalesce(w.r1 & ~(coalesce(k.b1, 0) | coalesce(o.b1, 0)), 0) AS f1
      FROM wd w FULL JOIN bk k ON k.resource_id = w.resource_id AND k.branch_id = w.branch_id AND k.day = w.day
      FULL JOIN ov o ON o.resource_id = coalesce(w.resource_id, k.resource_id)
                    AND o.branch_id = coalesce(w.branch_id, k.branch_id) AND o.day = coalesce(w.day, k.day)
),
m AS (
    SELECT q.rid, q.bid, q.day, q.avail, q.booked, q.partly_outside,
           CASE WHEN q.has_booking AND q.has_window THEN least(q.booked, q.avail) ELSE 0 END AS inside,
           CASE WHEN q.has_booking THEN 0 ELSE q.avail END AS unbooked,
           bit_count((q.p0 & ~(q.p0 << 1))::bit(64))
             + bit_count((q.p1 & ~((q.p1 << 1) | (q.p0 >> 47)) & 281474976710655)::bit(64)) AS gaps
      FROM (SELECT rd.*, f0 & ((f0 >> 1) | ((f1 & 1) << 47)) AS p0, f1 & (f1 >> 1) AS p1 FROM rd) q
     WHERE true /*region*/
)
"""
#: The part of the period a resource's figures are first totalled by (``{0}``: a local date), by
#: ``:grain``: 0 the day itself, 1 the week's part in the day's month (its first day: the Monday or the
#: 1st, whichever is later: one total serves the per-month and the per-week tables), 2 the month.
#: 2000-01-03 is a Monday.
_UTIL_PART = ("(CASE CAST(:grain AS integer) WHEN 0 THEN {0} "
              "WHEN 1 THEN greatest({0} - ({0} - DATE '2000-01-03') % 7, date_trunc('month', {0}::timestamp)::date) "
              "ELSE date_trunc('month', {0}::timestamp)::date END)")
#: The totals a report needs, from ``x`` (rid, part, the six measures) and ``xk`` (kind, day, the six
#: measures): per resource by month and overall, by week and by day when :func:`_util_tail` puts those
#: grouping sets in (``/*sets*/``, ``/*weekcol*/``, ``/*daycol*/``); per kind and day. Columns: rid, kind,
#: name, month, week, day, then the measures; which of month/week/day is set tells the group (none: the
#: resource; no rid: kind and day). _UTIL_SQL adds the resource-days to settle booking by booking: rid,
#: branch id (as text, in ``kind``), day, and no measures.
_UTIL_MONTH = "date_trunc('month', x.part::timestamp)::date"
_UTIL_WEEK = "x.part - (x.part - DATE '2000-01-03') % 7"
_UTIL_TAIL = """
SELECT x.rid, r.kind, r.name, """ + _UTIL_MONTH + """ AS month, /*weekcol*/ AS week, /*daycol*/ AS day,
       """ + _UTIL_RESUMS + """
  FROM x JOIN resource r ON r.id = x.rid
 GROUP BY GROUPING SETS ((x.rid, r.kind, r.name, """ + _UTIL_MONTH + """), (x.rid, r.kind, r.name) /*sets*/)
UNION ALL
SELECT NULL, kind, NULL, NULL, NULL, day, avail_min, in_min, over_min, idle_min, gaps, unbooked_min FROM xk
"""
_UTIL_SQL = _UTIL_LIVE + """,
mm AS MATERIALIZED (
    SELECT m.*, r.kind, """ + _UTIL_PART.format("m.day") + """ AS part FROM m JOIN resource r ON r.id = m.rid
),
x AS (SELECT rid, part, """ + _UTIL_SUMS + """ FROM mm GROUP BY rid, part),
xk AS (SELECT kind, day, """ + _UTIL_SUMS + """ FROM mm GROUP BY kind, day)""" + _UTIL_TAIL + """
UNION ALL   -- the resource-days to settle booking by booking (_UTIL_EXACT_SQL), as (rid, bid in kind, day)
SELECT rid, bid::text, NULL, NULL, NULL, day, NULL, NULL, NULL, NULL, NULL, NULL FROM mm WHERE partly_outside
"""
#: The same totals from the summary (migration 0008), for the resource-days outside the live region
#: (``/*region*/`` replaced by ``AND NOT`` :data:`_UTIL_IN_REGION`, or removed when there is none): two
#: scans of ``utilization_day``, each aggregated in parallel workers (hashed), then the tail.
_UTIL_SUMMARY_ROWS = """(SELECT u.resource_id AS rid, u.branch_id AS bid, u.local_day AS day, u.avail_min AS avail,
                   u.in_min AS inside, u.in_min + u.over_min AS booked, u.gaps, u.unbooked_min AS unbooked
              FROM utilization_day u
             WHERE u.local_day >= CAST(:d_from AS date) AND u.local_day <= CAST(:d_to AS date)
               AND (CAST(:branch AS integer) IS NULL OR u.branch_id = :branch)) q"""
_UTIL_SUMMARY_SQL = """WITH x AS (
    SELECT q.rid, """ + _UTIL_PART.format("q.day") + """ AS part, """ + _UTIL_SUMS + """
      FROM """ + _UTIL_SUMMARY_ROWS + """
     WHERE true /*region*/
     GROUP BY 1, 2
),
xk AS (
    SELECT r.kind, q.day, """ + _UTIL_SUMS + """
      FROM """ + _UTIL_SUMMARY_ROWS + """
      JOIN resource r ON r.id = q.rid
     WHERE true /*region*/
     GROUP BY r.kind, q.day
)""" + _UTIL_TAIL
#: Each resource-day of the region worked out live, into the refresh's scratch table (rounded minutes;
#: a resource-day two groups of the region share is worked out twice and kept once).
_UTIL_FRESH_SQL = """INSERT INTO utilization_fresh
""" + _UTIL_LIVE + """
SELECT day, rid, bid, round(avail), inside, booked - inside, gaps, round(unbooked), partly_outside FROM m
ON CONFLICT DO NOTHING"""
#: The summary's resource-days in the region, replaced by the refresh.
_UTIL_DROP_SQL = """WITH q AS (
    SELECT local_day AS day, resource_id AS rid, branch_id AS bid FROM utilization_day
     WHERE local_day >= CAST(:d_from AS date) AND local_day <= CAST(:d_to AS date)
)
DELETE FROM utilization_day u USING q
 WHERE u.local_day = q.day AND u.resource_id = q.rid AND u.branch_id = q.bid /*region*/"""

#: Booked minutes inside available time, booking by booking, for the resource-days _UTIL_SQL could not
#: settle by quarter-hours (``:rids``/``:bids``/``:days``: parallel arrays of their keys; ``:d_from``/
#: ``:d_to`` their first and last day): per key the booked minutes, the available minutes and the
#: exact overlap of each booking with each piece of available time.
_UTIL_EXACT_SQL = "WITH " + _UTIL_WINDOWS + """keys AS (
    SELECT * FROM unnest(CAST(:rids AS integer[]), CAST(:bids AS integer[]), CAST(:days AS date[])) AS k(rid, bid, day)
),
av AS (
    SELECT k.rid, k.bid, k.day, coalesce(sum(p.avail), 0) AS avail
      FROM keys k LEFT JOIN pieces p ON p.resource_id = k.rid AND p.branch_id = k.bid AND p.day = k.day
     GROUP BY 1, 2, 3
),
parts AS (   -- the bookings' minutes on each key's day: up to midnight, and after midnight from the day before
    SELECT k.rid, k.bid, k.day, b.id, b.start_min AS s, least(b.end_min, 1440) AS e
      FROM keys k JOIN booking b ON b.local_day = k.day AND b.resource_id = k.rid AND b.branch_id = k.bid AND b.live
    UNION ALL
    SELECT k.rid, k.bid, k.day, b.id, 0, b.end_min - 1440
      FROM keys k JOIN booking b ON b.local_day = k.day - 1 AND b.resource_id = k.rid AND b.branch_id = k.bid
       AND b.live AND b.end_min > 1440
),
bb AS (
    SELECT b.rid, b.bid, b.day, b.id, b.e - b.s AS booked,
           coalesce(sum(greatest(0, least(b.e, p.ce) - greatest(b.s, p.cs))), 0) AS inside
      FROM parts b LEFT JOIN pieces p ON p.resource_id = b.rid AND p.branch_id = b.bid AND p.day = b.day
     GROUP BY 1, 2, 3, 4, 5
)
SELECT a.rid, a.bid, a.day, a.avail, sum(bb.booked) AS booked, sum(bb.inside) AS inside
  FROM av a JOIN bb ON bb.rid = a.rid AND bb.bid = a.bid AND bb.day = a.day
 GROUP BY 1, 2, 3, 4
"""
_KINDS = ("doctor", "room", "equipment")
_UTIL_COLUMNS = [Column("available_h", "Available h", "hours"), Column("booked_h", "Booked h", "hours"),
                 Column("utilization", "Utilization", "rate"), Column("overbooked_h", "Overbooked h", "hours"),
                 Column("idle_h", "Idle h", "hours"), Column("idle_gaps", "Idle gaps", "int"),
                 Column("over_rostered_h", "Over-rostered h", "hours")]
#: The minutes and counts _UTIL_SQL returns per group (its 7th to 12th columns, in this order), summed into
#: coarser groups.
_UTIL_MEASURES = ("avail_min", "in_min", "over_min", "idle_min", "gaps", "unbooked_min")


def _util_values(m: Sequence[int]) -> tuple[Any, ...]:
    """A table row's figures from _UTIL_MEASURES minutes: hours to 0.1 (as :func:`_hours`), the
    utilization (as :func:`_ratio`), the gap count. Inlined: a long period has tens of thousands of rows."""
    avail, inside, over, idle, gaps, unbooked = m
    return (round(avail / 60, 1), round(inside / 60, 1), rate(inside, avail) if avail else None, round(over / 60, 1),
            round(idle / 60, 1), gaps, round(unbooked / 60, 1))


def _month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _util_sum(groups: dict[Any, list[int]], key: Any, measures: Sequence[int]) -> None:
    acc = groups.get(key)
    if acc is None:
        groups[key] = list(measures)
    else:
        for i, v in enumerate(measures):
            acc[i] += v


def _util_tail(sql: str, weeks: bool, days: bool) -> str:
    """``sql`` with :data:`_UTIL_TAIL`'s per-resource week and day totals, or without."""
    return (sql.replace("/*weekcol*/", _UTIL_WEEK if weeks else "NULL::date")
               .replace("/*daycol*/", "x.part" if days else "NULL::date")
               .replace("/*sets*/", (f", (x.rid, r.kind, r.name, {_UTIL_WEEK})" if weeks else "")
                        + (", (x.rid, r.kind, r.name, x.part)" if days else "")))


def _util_sql(sql: str, region: str | None, keyed: bool = False) -> str:
    """``sql`` (:data:`_UTIL_SQL`, :data:`_UTIL_SUMMARY_SQL`, :data:`_UTIL_FRESH_SQL`, :data:`_UTIL_DROP_SQL`)
    for the resource-days in the region (``region="AND"``), outside it (``"AND NOT"``) or all of them
    (None); ``keyed``: read only the keys' rosters and bookings (a region of resources' keys only)."""
    sql = sql.replace("/*region*/", f"{region} {_UTIL_IN_REGION}" if region else "")
    for marker, clause in _UTIL_KEYED.items():
        sql = sql.replace(marker, clause if keyed else "")
    return sql


#: An entry of the live region: (resource id or None for every resource, branch id or None for every
#: branch, first local day, day after the last).
Region = tuple[int | None, int | None, date, date]

#: Merged stale entries (migration 0008) that meet ``[:lo, :hi)``, cut to it: per resource (branch NULL) or
#: per branch (resource NULL; both NULL: everything), the ranges of local days.
_UTIL_STALE_SQL = """
SELECT resource_id, branch_id, lower(r) AS lo, upper(r) AS hi
  FROM (SELECT resource_id, branch_id, unnest(range_agg(days * daterange(:lo, :hi))) AS r
          FROM utilization_stale
         WHERE days && daterange(:lo, :hi)
           AND (CAST(:branch AS integer) IS NULL OR branch_id IS NULL OR branch_id = :branch)
         GROUP BY 1, 2) x
 ORDER BY 1, 2, 3
"""


def _util_stale(conn: Connection, lo: date, hi: date, branch: int | None,
                covered: tuple[date, date] | None) -> list[Region]:
    """The resource-days of local days ``[lo, hi)`` the summary cannot answer for: those a stale entry
    covers, and every resource's days outside ``covered`` (``[first, after last)``, None: nothing
    summarised)."""
    region: list[Region] = [(r.resource_id, r.branch_id, r.lo, r.hi) for r in conn.execute(
        text(_UTIL_STALE_SQL), {"lo": lo, "hi": hi, "branch": branch})]
    if covered is None or covered[0] >= hi or covered[1] <= lo:
        return [(None, None, lo, hi)]
    if lo < covered[0]:
        region.append((None, None, lo, covered[0]))
    if covered[1] < hi:
        region.append((None, None, covered[1], hi))
    return region


def _util_covered(conn: Connection, *, lock: bool = False) -> tuple[date, date] | None:
    row = conn.execute(text("SELECT lower(covered) AS lo, upper(covered) AS hi FROM utilization_summary"
                            + (" FOR UPDATE" if lock else ""))).one_or_none()
    return (row.lo, row.hi) if row is not None and row.lo is not None else None


def _util_region(conn: Connection, d_from: date, d_to: date, branch: int | None) -> list[Region] | None:
    """The live region of a utilization report over local days ``d_from``..``d_to`` (inclusive): [] when
    the summary answers for all of it, None when it answers for none of it (everything live)."""
    hi = d_to + timedelta(days=1)
    region = _util_stale(conn, d_from, hi, branch, _util_covered(conn))
    if any(rid is None and (bid is None or bid == branch) and lo <= d_from and h >= hi for rid, bid, lo, h in region):
        return None
    return region


#: The most resource-days a report works out live from their keys; a larger region is worked out whole.
_UTIL_MAX_KEYS = 200_000
#: The most resources' keys read key by key through the index (:data:`_UTIL_KEYED`); more are read by a
#: scan of their days, filtered (a roster reload marks every resource: a key by key read would take minutes).
_UTIL_KEYED_MAX = 20_000


def _util_days(region: Sequence[Region]) -> int:
    """How many (resource or branch, day) entries a region spans, overlaps counted twice."""
    return sum((e[3] - e[2]).days for e in region)


def _util_keys(region: Sequence[Region], *, limit: int | None = None) -> dict[str, Any] | None:
    """The key arrays of :data:`_UTIL_IN_REGION` and :data:`_UTIL_KEYED` for a region of finite entries
    (``keyed``: only resources' entries, at most :data:`_UTIL_KEYED_MAX` keys); None when it has more than
    ``limit`` days."""
    rk: set[tuple[int, date]] = set()
    gk: set[tuple[int, date]] = set()
    ga: set[date] = set()
    if limit is not None and _util_days(region) > limit:
        return None
    for rid, bid, lo, hi in region:
        days = [lo + timedelta(days=i) for i in range((hi - lo).days)]
        if rid is not None:
            rk.update((rid, d) for d in days)
        elif bid is not None:
            gk.update((bid, d) for d in days)
        else:
            ga.update(days)
    rx = rk | {(rid, d - timedelta(days=1)) for rid, d in rk}
    return {"rk_rid": [k[0] for k in rk], "rk_day": [k[1] for k in rk], "gk_bid": [k[0] for k in gk],
            "gk_day": [k[1] for k in gk], "ga_day": sorted(ga), "rx_rid": [k[0] for k in rx],
            "rx_day": [k[1] for k in rx], "keyed": not gk and not ga and len(rk) <= _UTIL_KEYED_MAX}


def _util_region_bounds(region: Sequence[Region]) -> tuple[date, date, list[int] | None]:
    """First and last local day of a (non-empty) region, and its resources (None: some entry is for every
    resource), for the live query's ``:d_from``, ``:d_to`` and ``:rids``."""
    rids = None if any(e[0] is None for e in region) else sorted({int(e[0]) for e in region if e[0] is not None})
    return min(e[2] for e in region), max(e[3] for e in region) - timedelta(days=1), rids


def _util_exact(conn: Connection, keys: Sequence[tuple[int, int, date]]) -> list[tuple[int, int, date, int]]:
    """For resource-days (resource id, branch id, local day) whose bookings are partly outside available
    quarter-hours: (resource id, branch id, day, booked minutes the quarter-hour count put inside that are
    really outside available time), booking by booking (:data:`_UTIL_EXACT_SQL`)."""
    if not keys:
        return []
    exact = conn.execute(text(_UTIL_EXACT_SQL), {
        "d_from": min(k[2] for k in keys), "d_to": max(k[2] for k in keys), "branch": None,
        "rids": [k[0] for k in keys], "bids": [k[1] for k in keys], "days": [k[2] for k in keys]}).all()
    return [(int(e.rid), int(e.bid), e.day,
             min(int(e.booked), int(e.avail)) - min(int(e.inside), int(e.booked), int(e.avail))) for e in exact]


def utilization(db: Database, *, date_from: str | date, date_to: str | date,
                branch: str | None = None) -> ReportData:
    """Booked over available time of each doctor, room and piece of equipment on local dates
    ``date_from``..``date_to`` (definitions ``available``, ``utilization``, ``idle``), from the
    rosters and the bookings' local columns (migration 0007), in one snapshot: the resource-days the
    summary (migration 0008) answers for from it, the stale and uncovered ones worked out live (all of
    them live when more than :data:`_UTIL_MAX_KEYS` are stale). The figures are the same either way.

    Tables (hours rounded to 0.1; utilization = booked minutes inside available time / available
    minutes, 4 decimals; measures: available, booked inside, utilization, overbooked (booked outside
    available time), idle (available minus booked inside), idle gaps (count), over-rostered
    (available hours of resource-days with nothing booked)): ``by_kind`` (doctor, room, equipment),
    ``by_resource`` (resource, kind), ``by_month`` and, for periods of up to ``RESOURCE_WEEK_TABLE_DAYS``
    and ``RESOURCE_DAY_TABLE_DAYS`` days (``reports/definitions.py``), ``by_resource_week`` and
    ``by_resource_day`` (period, resource), ``by_week``
    and ``by_day`` (period, kind: summed over the resources of that kind). The PDF prints ``by_kind``
    and ``by_resource`` only (``pdf_tables``); the per-month/week/day tables go to the CSV and the
    screen. Summary: ``available_h``, ``booked_h``, ``utilization``, ``overbooked_h``, ``idle_h``,
    ``over_rostered_h``. Raises as the module says.
    """
    d_from, d_to = _period(date_from, date_to)
    resource_days = (d_to - d_from).days + 1 <= RESOURCE_DAY_TABLE_DAYS
    resource_weeks = (d_to - d_from).days + 1 <= RESOURCE_WEEK_TABLE_DAYS

    def work(conn: Connection, params: dict[str, Any]) -> ReportData:
        # The summary's figures outside the live region (none: nothing summarised for the period), then the
        # live region's, worked out from the rosters and bookings.
        region = _util_region(conn, d_from, d_to, params["branch"])
        keys = _util_keys(region, limit=_UTIL_MAX_KEYS) if region else {}
        if keys is None:         # too scattered to work out key by key: all of it live
            region = None
        rows: list[Any] = []
        params = params | {"grain": 0 if resource_days else 1 if resource_weeks else 2}
        live = params | {"rids": None}
        if region is not None:
            rows += conn.execute(text(_util_tail(_util_sql(_UTIL_SUMMARY_SQL, "AND NOT" if region else None),
                                                 resource_weeks, resource_days)), params | (keys or {})).all()
            if region:
                lo, hi, rids = _util_region_bounds(region)
                live |= (keys or {}) | {"d_from": lo, "d_to": hi, "rids": rids}
        if region is None or region:
            # Sorted aggregation throughout: the bookings arrive in booking_report's order (a group per
            # resource-day, no hash table of 300,000 groups), the windows are sorted once to match, and
            # the two sides merge.
            conn.execute(text("SET LOCAL enable_hashagg = off"))
            rows += conn.execute(text(_util_tail(_util_sql(_UTIL_SQL, "AND" if region else None,
                                                           bool(keys and keys["keyed"])), resource_weeks, resource_days)),
                                 live).all()
        names: dict[int, tuple[str, str]] = {}
        per_month: dict[tuple[int, date], list[int]] = {}
        per_rweek: dict[tuple[int, date], list[int]] = {}
        per_rday: dict[tuple[int, date], list[int]] = {}
        per_resource: dict[int, list[int]] = {}
        per_day: dict[tuple[date, str], list[int]] = {}
        unsettled: list[tuple[int, int, date]] = []
        for rid, kind, name, month, week, day, *values in rows:    # _UTIL_TAIL's columns
            if values[0] is None:           # a resource-day to settle booking by booking (branch id in kind)
                unsettled.append((rid, int(kind), day))
                continue
            measures = [int(v) for v in values]    # in _UTIL_MEASURES order
            if rid is None:
                _util_sum(per_day, (day, kind), measures)
            elif month is not None:
                _util_sum(per_month, (rid, month), measures)
            elif week is not None:
                _util_sum(per_rweek, (rid, week), measures)
            elif day is not None:
                _util_sum(per_rday, (rid, day), measures)
            else:
                names[rid] = (kind, name)
                _util_sum(per_resource, rid, measures)
        per_week: dict[tuple[date, str], list[int]] = {}
        per_kind: dict[str, list[int]] = {}
        for (day, kind), measures in per_day.items():
            _util_sum(per_week, (day - timedelta(days=day.weekday()), kind), measures)
            _util_sum(per_kind, kind, measures)
        # booked partly outside available time: move what is outside from inside to overbooked
        for rid, _bid, day, outside in _util_exact(conn, unsettled):
            kind = names[rid][0]
            week = day - timedelta(days=day.weekday())
            accs = [per_month[(rid, day.replace(day=1))], per_resource[rid], per_kind[kind], per_day[(day, kind)],
                    per_week[(week, kind)]]
            for acc in accs + ([per_rweek[(rid, week)]] if resource_weeks else []) + (
                    [per_rday[(rid, day)]] if resource_days else []):
                acc[1] -= outside      # in_min
                acc[2] += outside      # over_min
                acc[3] += outside      # idle_min

        order = {rid: (_KINDS.index(kind), name) for rid, (kind, name) in names.items()}
        by_name = order.__getitem__

        res_ids = sorted(per_resource, key=by_name)
        by_resource = Table("by_resource", "Utilization by resource",
                            [Column("label", "Resource"), Column("kind", "Kind"), *_UTIL_COLUMNS],
                            [(names[i][1], names[i][0], *_util_values(per_resource[i])) for i in res_ids],
                            [{"booked_resource": i} for i in res_ids])
        month_keys = sorted(per_month, key=lambda k: (k[1], *by_name(k[0])))
        by_month = Table("by_month", "Utilization by month and resource",
                         [Column("label", "Month"), Column("resource", "Resource"), *_UTIL_COLUMNS],
                         [(f"{m:%Y-%m}", names[i][1], *_util_values(per_month[(i, m)])) for i, m in month_keys],
                         [{"booked_resource": i, "booked_from": m.isoformat(), "booked_to": _month_end(m).isoformat()}
                          for i, m in month_keys])
        rweek_keys = sorted(per_rweek, key=lambda k: (k[1], *by_name(k[0])))
        by_resource_week = Table(
            "by_resource_week", "Utilization by week and resource",
            [Column("label", "Week of"), Column("resource", "Resource"), *_UTIL_COLUMNS],
            [(w.isoformat(), names[i][1], *_util_values(per_rweek[(i, w)])) for i, w in rweek_keys],
            [{"booked_resource": i, "booked_from": max(w, d_from).isoformat(),
              "booked_to": min(w + timedelta(days=6), d_to).isoformat()} for i, w in rweek_keys])
        per_resource_tables = [by_month] + ([by_resource_week] if resource_weeks else [])
        if resource_days:
            rday_keys = sorted(per_rday, key=lambda k: (k[1], *by_name(k[0])))
            per_resource_tables.append(Table(
                "by_resource_day", "Utilization by day and resource",
                [Column("label", "Day"), Column("resource", "Resource"), *_UTIL_COLUMNS],
                [(d.isoformat(), names[i][1], *_util_values(per_rday[(i, d)])) for i, d in rday_keys],
                [{"booked_resource": i, "booked_from": d.isoformat(), "booked_to": d.isoformat()}
                 for i, d in rday_keys]))
        week_keys = sorted(per_week, key=lambda k: (k[0], _KINDS.index(k[1])))
        by_week = Table("by_week", "Utilization by week and kind",
                        [Column("label", "Week of"), Column("kind", "Kind"), *_UTIL_COLUMNS],
                        [(w.isoformat(), k, *_util_values(per_week[(w, k)])) for w, k in week_keys],
                        [{"booked_kind": k, "booked_from": w.isoformat(), "booked_to": (w + timedelta(days=6)).isoformat()}
                         for w, k in week_keys])
        day_keys = sorted(per_day, key=lambda k: (k[0], _KINDS.index(k[1])))
        by_day = Table("by_day", "Utilization by day and kind",
                       [Column("label", "Day"), Column("kind", "Kind"), *_UTIL_COLUMNS],
                       [(d.isoformat(), k, *_util_values(per_day[(d, k)])) for d, k in day_keys],
                       [{"booked_kind": k, "booked_from": d.isoformat(), "booked_to": d.isoformat()} for d, k in day_keys])
        kinds = [k for k in _KINDS if k in per_kind]
        by_kind = Table("by_kind", "Utilization by kind", [Column("label", "Kind"), *_UTIL_COLUMNS],
                        [(k, *_util_values(per_kind[k])) for k in kinds], [{"booked_kind": k} for k in kinds])
        total = [sum(m[i] for m in per_kind.values()) for i in range(len(_UTIL_MEASURES))]
        avail, inside, over, idle, _gaps, unbooked = total
        charts = [Chart("bar", "by_resource", "label", ("utilization",), "Utilization by resource", "Utilization")]
        return ReportData("utilization", "Utilization", d_from, d_to, None,
                          [by_kind, by_resource, *per_resource_tables, by_week, by_day],
                          charts, footnotes(["dates", "available", "utilization", "idle", "resource_tables"]),
                          {"available_h": _hours(avail), "booked_h": _hours(inside),
                           "utilization": _ratio(inside, avail), "overbooked_h": _hours(over),
                           "idle_h": _hours(idle), "over_rostered_h": _hours(unbooked)},
                          pdf_tables=["by_kind", "by_resource"])

    return _read(db, d_from, d_to, branch, work)


#: The advisory lock one utilization refresh holds at a time (others skip: see refresh_utilization).
_UTIL_REFRESH_LOCK = 0x636C5554   # "clUT"
#: How far ahead of (and, before the first booking, behind) today the utilization summary covers, in
#: local days: a year of rosters ahead, and last year's reports without bookings yet.
UTILIZATION_HORIZON_DAYS = 400


def refresh_utilization(db: Database, *, today: date | None = None,
                        horizon_days: int = UTILIZATION_HORIZON_DAYS) -> dict[str, Any]:
    """Bring the utilization summary (migration 0008) up to date: recompute the resource-days the stale
    entries recorded since the last refresh cover, extend ``covered`` (local days) from the first booked day
    or ``today - horizon_days``, whichever is earlier, to ``today + horizon_days``, and delete the stale
    entries it saw.

    The report is right whether or not this has run (it works out stale and uncovered resource-days
    live); this keeps it fast. ``clinic db refresh`` runs it, every few minutes from a timer
    (installers/README.md, "Report summaries") and by hand. One REPEATABLE READ transaction (a snapshot, without SERIALIZABLE's predicate
    locks over every booking, which would make concurrent bookings fail and retry): what commits
    meanwhile leaves its stale entries for the next refresh. One refresh at a time (an advisory
    lock); a second one returns at once with ``skipped=True``.

    Returns ``{"skipped": bool, "covered": (first day, day after the last) | None, "resource_days":
    resource-days recomputed, "stale_entries": stale entries cleared}``. Raises
    ``DatabaseUnavailable``.
    """
    today = today or date.today()

    def work(conn: Connection) -> dict[str, Any]:
        for setting in (*_PLANNER, "SET LOCAL enable_hashagg = off"):
            conn.execute(text(setting))
        if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _UTIL_REFRESH_LOCK}).scalar():
            return {"skipped": True, "covered": None, "resource_days": 0, "stale_entries": 0}
        covered = _util_covered(conn, lock=True)
        first = conn.execute(text("SELECT min(local_day) FROM booking WHERE live")).scalar()
        lo = min(d for d in (covered and covered[0], first, today - timedelta(days=horizon_days)) if d is not None)
        hi = max(d for d in (covered and covered[1], today + timedelta(days=horizon_days + 1)) if d is not None)
        last_stale = conn.execute(text("SELECT max(id) FROM utilization_stale")).scalar()
        region = _util_stale(conn, lo, hi, None, covered) if last_stale is not None or covered != (lo, hi) else []
        count = 0
        if region:
            # utilization_fresh: an unlogged scratch table (migration 0009; TEMP is nobody's), emptied
            # before and after use; the advisory lock above keeps it to one refresh at a time.
            conn.execute(text("DELETE FROM utilization_fresh"))
            # the resources' entries together, key by key (a few resources over a few days); each
            # every-resource entry on its own (a branch's holiday; the days newly covered): no hull of
            # far-apart days
            groups = [[e for e in region if e[0] is not None]] + [[e] for e in region if e[0] is None]
            if _util_days(groups[0]) > _UTIL_MAX_KEYS:    # most resources stale: all of it
                groups = [[(None, None, lo, hi)]]
            for group in filter(None, groups):
                d_from, d_to, rids = _util_region_bounds(group)
                keys = _util_keys(group)
                assert keys is not None
                conn.execute(text(_util_sql(_UTIL_FRESH_SQL, "AND", keys["keyed"])),
                             keys | {"d_from": d_from, "d_to": d_to, "branch": None, "rids": rids})
                conn.execute(text(_util_sql(_UTIL_DROP_SQL, "AND")), keys | {"d_from": d_from, "d_to": d_to})
            keys_fix = [(int(r.resource_id), int(r.branch_id), r.local_day) for r in conn.execute(text(
                "SELECT resource_id, branch_id, local_day FROM utilization_fresh WHERE partly_outside"))]
            exact = [e for e in _util_exact(conn, keys_fix) if e[3]]
            if exact:
                conn.execute(text("""
                    UPDATE utilization_fresh f SET in_min = f.in_min - x.outside, over_min = f.over_min + x.outside
                      FROM unnest(CAST(:rids AS integer[]), CAST(:bids AS integer[]), CAST(:days AS date[]),
                                  CAST(:outside AS integer[])) AS x(rid, bid, day, outside)
                     WHERE f.resource_id = x.rid AND f.branch_id = x.bid AND f.local_day = x.day"""),
                    {"rids": [e[0] for e in exact], "bids": [e[1] for e in exact], "days": [e[2] for e in exact],
                     "outside": [e[3] for e in exact]})
            count = conn.execute(text(
                "INSERT INTO utilization_day (local_day, resource_id, branch_id, avail_min, in_min, over_min, gaps,"
                " unbooked_min) SELECT local_day, resource_id, branch_id, avail_min, in_min, over_min, gaps,"
                " unbooked_min FROM utilization_fresh")).rowcount
            conn.execute(text("DELETE FROM utilization_fresh"))
        cleared = 0
        if last_stale is not None:
            cleared = conn.execute(text("DELETE FROM utilization_stale WHERE id <= :last"), {"last": last_stale}).rowcount
        conn.execute(text("UPDATE utilization_summary SET covered = daterange(:lo, :hi), refreshed_at = now()"),
                     {"lo": lo, "hi": hi})
        return {"skipped": False, "covered": (lo, hi), "resource_days": count, "stale_entries": cleared}

    return db.write(work, isolation="REPEATABLE READ")


# -- registry and drill-down -----------------------------------------------------------------------
#: Report name (as the CLI and the window name them) -> the function that computes it.
REPORTS: dict[str, Callable[..., ReportData]] = {
    "no-show": no_show, "utilization": utilization, "cancellations": cancellations, "load": load,
    "operations": operations,
}


def run_report(db: Database, name: str, *, date_from: str | date, date_to: str | date,
               branch: str | None = None) -> ReportData:
    """The report called ``name`` (a key of :data:`REPORTS`); ``ValidationError`` (field ``report``)
    for an unknown name, otherwise as the report function."""
    if name not in REPORTS:
        raise ValidationError("report", name, f"is not a report (one of: {', '.join(REPORTS)})")
    return REPORTS[name](db, date_from=date_from, date_to=date_to, branch=branch)


#: Drill-down filters: key -> SQL condition on ``a`` (appointment), ``lt`` (local start), ``day``.
#: Drill-down filters of utilization rows: the resource (or kind) and the local dates whose booked
#: minutes the figure counted (``booked_from``/``booked_to``, ISO dates, within the period).
_DRILL_BOOKED = ("booked_resource", "booked_kind", "booked_from", "booked_to")
#: The period of a utilization drill-down: appointments with a live booking of the resource (kind)
#: with minutes on local dates ``:booked_lo``..``:booked_hi`` (up to midnight on its start date, and
#: after midnight on the next date), near those dates (the coarse range lets an index cut the scan).
_BOOKED_WINDOW = """a.starts_at >= CAST(:booked_lo AS timestamp) - interval '2 days'
   AND a.starts_at < CAST(:booked_hi AS timestamp) + interval '3 days'
   AND EXISTS (SELECT 1 FROM booking k JOIN resource r ON r.id = k.resource_id
                WHERE k.appointment_id = a.id AND k.live
                  AND (CAST(:booked_resource AS integer) IS NULL OR k.resource_id = :booked_resource)
                  AND (CAST(:booked_kind AS text) IS NULL OR r.kind = :booked_kind)
                  AND k.local_day <= CAST(:booked_hi AS date)
                  AND (k.local_day >= CAST(:booked_lo AS date)
                       OR (k.local_day = CAST(:booked_lo AS date) - 1 AND k.end_min > 1440)))"""
_DRILL = {
    "branch_id": "a.branch_id = :branch_id",
    "service_id": "a.service_id = :service_id",
    "doctor_id": "a.doctor_id = :doctor_id",   # the doctor the reports count (migration 0005)
    "resource_id": "EXISTS (SELECT 1 FROM booking k WHERE k.appointment_id = a.id AND k.resource_id = :resource_id)",
    "kind": "EXISTS (SELECT 1 FROM booking k JOIN resource r ON r.id = k.resource_id "
            "WHERE k.appointment_id = a.id AND r.kind = :kind)",
    "weekday": "extract(isodow FROM lt)::int - 1 = :weekday",
    "hour": "extract(hour FROM lt)::int = :hour",
    "lead_band": "width_bucket(lt::date - (a.booked_at AT TIME ZONE b.tz)::date, CAST(:lead_bounds AS int[])) "
                 "= :lead_band",
    "sms": "EXISTS (SELECT 1 FROM reminder m WHERE m.appointment_id = a.id AND m.channel = 'sms' "
           "AND m.purpose = 'reminder' AND m.status = 'sent') = :sms",
    "age_band": "coalesce(width_bucket(coalesce(a.patient_age_years, CASE WHEN p.birth_date <= lt::date THEN "
                "extract(year FROM age(lt::date, p.birth_date))::int END), CAST(:age_bounds AS int[])), 0) "
                "= coalesce(CAST(:age_band AS int), 0)",
    "source": "a.source = :source",
    "week": "date_trunc('week', lt)::date = CAST(:week AS date)",
    "month": "date_trunc('month', lt)::date = CAST(:month AS date)",
    "day": "lt::date = CAST(:day AS date)",
    "outcome": "a.status IN ('completed', 'no_show')",
    "live": "a.status NOT IN ('cancelled', 'rescheduled')",
    "status": "a.status = :status",
    "confirmed": "a.confirmed_at IS NOT NULL",
    "follow_up": "EXISTS (SELECT 1 FROM reminder m WHERE m.appointment_id = a.id AND m.purpose = 'follow_up')",
    "follow_up_sent": "EXISTS (SELECT 1 FROM reminder m WHERE m.appointment_id = a.id "
                      "AND m.purpose = 'follow_up' AND m.status = 'sent')",
    "freed_state": "EXISTS (SELECT 1 FROM freed_slot f WHERE f.appointment_id = a.id AND f.state = :freed_state)",
    "appointment_id": "a.id = :appointment_id",
    "cancel_reason": "a.status IN ('cancelled', 'rescheduled') AND coalesce(nullif(btrim(a.status_reason), ''), "
                     "'(no reason given)') = :cancel_reason",
    "cancel_timing": "a.status IN ('cancelled', 'rescheduled') AND CASE WHEN a.status = 'rescheduled' THEN "
                     "'rescheduled' WHEN a.cancelled_late THEN 'late' ELSE 'early' END = :cancel_timing",
    "cancel_who": "a.status IN ('cancelled', 'rescheduled') AND coalesce(a.cancelled_by, 'clinic') = :cancel_who",
    "cancel_outcome": "a.status IN ('cancelled', 'rescheduled') AND CASE WHEN a.status = 'rescheduled' OR "
                      "a.rescheduled_to IS NOT NULL THEN 'rescheduled' ELSE 'lost' END = :cancel_outcome",
    "cancel_week": "a.status IN ('cancelled', 'rescheduled') AND date_trunc('week', lt)::date = "
                   "CAST(:cancel_week AS date)",
}
#: The most appointments a drill-down lists.
DRILL_LIMIT = 1000


def drill_down(db: Database, key: dict[str, Any], *, date_from: str | date, date_to: str | date,
               branch: str | None = None) -> Table:
    """The appointments behind one figure: ``key`` is a row's ``Table.drill`` dict (filters of
    :data:`_DRILL`), within the report's period and branch, by start, at most :data:`DRILL_LIMIT`.

    Returns a table ``appointments`` (id, local start ``YYYY-MM-DD HH:MM``, branch, service,
    patient, status, doctor). Raises ``ValidationError`` (field ``drill``) for an unknown filter,
    otherwise as the reports.
    """
    d_from, d_to = _period(date_from, date_to)
    unknown = sorted(set(key) - set(_DRILL) - set(_DRILL_BOOKED))
    if unknown:
        raise ValidationError("drill", unknown[0], "is not a drill-down filter")
    conds = [_DRILL[k] for k in key if k in _DRILL]
    window = _WINDOW
    extra: dict[str, Any] = {}
    if any(k in _DRILL_BOOKED for k in key):
        # a utilization figure: the appointments whose bookings' minutes it counted (by the bookings'
        # local dates, which may differ from the appointment's by a buffer over midnight)
        lo = max(d_from, date.fromisoformat(key["booked_from"])) if key.get("booked_from") else d_from
        hi = min(d_to, date.fromisoformat(key["booked_to"])) if key.get("booked_to") else d_to
        extra = {"booked_lo": lo, "booked_hi": hi, "booked_resource": key.get("booked_resource"),
                 "booked_kind": key.get("booked_kind")}
        window = _BOOKED_WINDOW
    sql = ("SELECT a.id, to_char(lt, 'YYYY-MM-DD HH24:MI') AS start, b.name AS branch, s.name AS service, "
           "p.display_name AS patient, a.status, (SELECT string_agg(r.name, ', ' ORDER BY r.name) FROM booking k "
           "JOIN resource r ON r.id = k.resource_id WHERE k.appointment_id = a.id AND r.kind = 'doctor') AS doctor "
           "FROM appointment a JOIN (" + _BRANCHES + ") b ON b.id = a.branch_id "
           "CROSS JOIN LATERAL (SELECT a.starts_at AT TIME ZONE b.tz AS lt) l "
           "JOIN service s ON s.id = a.service_id JOIN patient p ON p.id = a.patient_id "
           "WHERE " + window + "".join(f" AND ({c})" for c in conds) +
           f" ORDER BY a.starts_at, a.id LIMIT {DRILL_LIMIT}")

    def work(conn: Connection, params: dict[str, Any]) -> ReportData:
        values = {k: v for k, v in key.items() if k in _DRILL} | extra | {"lead_bounds": _LEAD_BOUNDS,
                                                                          "age_bounds": _AGE_BOUNDS}
        rows = conn.execute(text(sql), params | values).all()
        table = Table("appointments", "Appointments", [
            Column("id", "Id", "int"), Column("start", "Start (local)"), Column("branch", "Branch"),
            Column("service", "Service"), Column("patient", "Patient"), Column("status", "Status"),
            Column("doctor", "Doctor")], [tuple(r) for r in rows], [{"appointment_id": int(r.id)} for r in rows])
        return ReportData("drill", "Appointments", d_from, d_to, None, [table], [], [])

    return _read(db, d_from, d_to, branch, work).tables[0]


