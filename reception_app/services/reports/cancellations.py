"""The cancellations report: cancelled and rescheduled appointments of the period (``cancellations.sql``).

What counts as late, rescheduled or lost is ``domain/report_definitions.py`` (``late_cancellation``,
``rescheduled``); the appointments are those that do not occupy their resources
(``definitions.occupied``) with a start on the period's local dates.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ...domain.report_definitions import footnotes
from ...store.database import Database
from .common import period, ratio, read
from .model import Chart, Column, ReportData, Table
from .sql import statement

__all__ = ["cancellations"]

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
    d_from, d_to = period(date_from, date_to)

    def work(conn: Connection, params: dict[str, Any]) -> ReportData:
        rows = conn.execute(text(statement("cancellations", "report")), params).all()
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
            rows_out = [(k.isoformat() if isinstance(k, date) else k, got.get(k, 0), ratio(got.get(k, 0), total))
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

    return read(db, d_from, d_to, branch, work)
