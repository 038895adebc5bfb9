"""The doctor load and branch demand report: bookings per doctor and per hour of the week (``load.sql``).

A booking here is an appointment that occupies its resources (``definitions.occupied``: not cancelled
or rescheduled), counted on the local date and hour of its start (definition ``load`` of
``domain/report_definitions.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ...domain.report_definitions import WEEKDAYS, footnotes
from ...store.database import Database
from .common import hours, period, read
from .model import Chart, Column, ReportData, Table
from .sql import statement

__all__ = ["load", "MAX_HEATMAPS"]

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
    d_from, d_to = period(date_from, date_to)

    def work(conn: Connection, params: dict[str, Any]) -> ReportData:
        rows = conn.execute(text(statement("load", "report")), params).all()
        docs = [r for r in rows if r.part == 1]     # bookings first, then name
        heat = [r for r in rows if r.part == 0]
        by_doctor = Table("by_doctor", "Bookings per doctor",
                          [Column("label", "Doctor"), Column("bookings", "Bookings", "int"),
                           Column("hours", "Booked hours", "hours"), Column("days", "Days worked", "int"),
                           Column("per_day", "Bookings per day", "hours")],
                          [(r.name, int(r.n), hours(r.minutes), int(r.days),
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

    return read(db, d_from, d_to, branch, work)


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
