"""The manager reports: no-show, utilization, cancellations, load, operations (issue 6).

Each report is a function ``(db, *, date_from, date_to, branch=None) -> ReportData``: plain values
out (:mod:`.model`), read in one consistent snapshot (``Database.read(snapshot=True)``: SERIALIZABLE
READ ONLY DEFERRABLE), so every table of a report agrees with the others. ``db`` may be the reports
connection (``config.reports_connection``), e.g. a read replica. :func:`run_report` runs one by name
(:data:`REPORTS`); :func:`drill_down` lists the appointments behind a row's ``drill`` key;
:func:`no_show_report` is the CLI's older JSON summary (``clinic report no-show``).

Where things are:

- the SQL: one file per report beside this module (``no_show.sql``, ``utilization.sql``,
  ``cancellations.sql``, ``load.sql``, ``operations.sql``, ``drill_down.sql``), read by :mod:`.sql`;
- what "outcome known", "no-show" and "occupied" mean, the period and the per-appointment labels
  (weekday, hour, lead band, age band, SMS reminder): ``definitions.sql``, which every report
  includes (``report_appointment``);
- the sentences printed in the footnotes and the buckets: ``domain/report_definitions.py``.

Dates: ``date_from``/``date_to`` are inclusive *branch-local* dates. The no-show, cancellation, load
and operations queries read the appointment's report columns (migration 0005, kept by triggers):
``local_start`` (the start as branch-local wall clock), ``lead_days`` and ``doctor_id`` (the lowest
doctor resource of its bookings). Utilization reads the bookings' own local columns (migration 0007)
and the summary of migration 0008, which :func:`refresh_utilization` keeps.

Errors: ``ValidationError`` (field ``from``/``to``/``report``/``drill``) for bad dates, an inverted
or over-long range, an unknown report or drill-down filter; ``NotFound`` (field ``branch``) for an
unknown branch; ``DatabaseUnavailable``.
"""

from __future__ import annotations

from ...domain.report_definitions import AGE_BANDS, LEAD_TIME_BANDS, SMS_LABELS, UNKNOWN_AGE, WEEKDAYS
from .cancellations import cancellations
from .common import MAX_DAYS, rate
from .drill import DRILL_LIMIT, drill_down
from .load import MAX_HEATMAPS, load
from .model import Chart, Column, ReportData, Table
from .no_show import no_show, no_show_report
from .operations import operations, percentile
from .registry import REPORTS, run_report
from .utilization import REFRESH_LOCK, UTILIZATION_HORIZON_DAYS, refresh_utilization, utilization

__all__ = ["Column", "Table", "Chart", "ReportData", "REPORTS", "run_report", "drill_down", "no_show",
           "utilization", "cancellations", "load", "operations", "MAX_DAYS", "refresh_utilization",
           "UTILIZATION_HORIZON_DAYS", "REFRESH_LOCK", "DRILL_LIMIT", "MAX_HEATMAPS", "percentile",
           "no_show_report", "rate", "WEEKDAYS", "LEAD_TIME_BANDS", "SMS_LABELS", "AGE_BANDS", "UNKNOWN_AGE"]
