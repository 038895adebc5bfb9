"""The manager reports by name, as the CLI (``clinic report``) and the reports window name them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from ...domain.errors import ValidationError
from ...store.database import Database
from .cancellations import cancellations
from .load import load
from .model import ReportData
from .no_show import no_show
from .operations import operations
from .utilization import utilization

__all__ = ["REPORTS", "run_report"]

#: Report name -> the function that computes it.
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
