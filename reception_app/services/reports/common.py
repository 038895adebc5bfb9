"""What every report shares: the period's checks, the snapshot transaction, rates and hours.

- :func:`bound_date` / :func:`period`: a report's inclusive branch-local dates, checked
  (``ValidationError`` naming ``from``/``to``: malformed, missing, inverted, longer than
  :data:`MAX_DAYS`).
- :func:`read`: runs a report's work in one consistent snapshot (``Database.read(snapshot=True)``:
  SERIALIZABLE READ ONLY DEFERRABLE) with the planner settings of ``common.sql`` and the period's
  bind parameters (:func:`params`), and names the branch on the result.
- :func:`rate` (half-up to 4 decimals), :func:`ratio` (None without a whole), :func:`hours`.
- :func:`names`: id -> name of resources, services or branches, for labelling rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ...domain.errors import ValidationError
from ...domain.report_definitions import AGE_BOUNDS, LEAD_BOUNDS, SOURCES
from ...domain.validation import parse_date
from ...store.database import Database
from .. import catalog
from .model import ReportData
from .sql import statement

__all__ = ["MAX_DAYS", "bound_date", "period", "params", "read", "rate", "ratio", "hours", "names",
           "bucket_params", "run_settings"]

#: The longest period a report covers (local days), so the per-day bounds stay small.
MAX_DAYS = 3 * 366


def rate(no_shows: int, appointments: int) -> float:
    """``no_shows / appointments`` rounded half-up to 4 decimals (exact decimal arithmetic);
    0.0 when there are no appointments."""
    if appointments <= 0:
        return 0.0
    # half-up in integers: the same as Decimal quantize(0.0001, ROUND_HALF_UP), a tenth of the time
    # (reports round tens of thousands of rates)
    tenths_of_thousandths = (20000 * abs(no_shows) + appointments) // (2 * appointments)
    return (tenths_of_thousandths if no_shows >= 0 else -tenths_of_thousandths) / 10000


def ratio(part: Any, whole: Any) -> float | None:
    """``part / whole`` as a rate (4 decimals); None when ``whole`` is 0: nothing to measure, printed empty."""
    return rate(int(part or 0), int(whole)) if whole else None


def hours(minutes: Any) -> float:
    """Minutes (None: 0) as hours rounded to 0.1."""
    return round(float(minutes or 0) / 60.0, 1)


def bound_date(value: str | date | None, field: str) -> date | None:
    """An optional report bound: None for None or blank text, else the date (``YYYY-MM-DD`` text or a
    ``date``). ``ValidationError`` naming ``field`` for malformed text or a ``datetime``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        raise ValidationError(field, value.isoformat(), "must be a date (YYYY-MM-DD), not a date and time")
    return parse_date(value, field)


def period(date_from: str | date | None, date_to: str | date | None) -> tuple[date, date]:
    """A manager report's period: both dates required, ``to`` not before ``from``, at most
    :data:`MAX_DAYS` local days. ``ValidationError`` naming ``from`` or ``to`` otherwise."""
    d_from = bound_date(date_from, "from")
    d_to = bound_date(date_to, "to")
    if d_from is None:
        raise ValidationError("from", date_from, "is required (YYYY-MM-DD)")
    if d_to is None:
        raise ValidationError("to", date_to, "is required (YYYY-MM-DD)")
    if d_to < d_from:
        raise ValidationError("to", d_to.isoformat(), f"is before from ({d_from.isoformat()})")
    if (d_to - d_from).days + 1 > MAX_DAYS:
        raise ValidationError("to", d_to.isoformat(), f"is more than {MAX_DAYS} days after from")
    return d_from, d_to


def bucket_params() -> dict[str, Any]:
    """The buckets' bind parameters of ``definitions.sql`` (``:lead_bounds``, ``:age_bounds``,
    ``:sources``), from ``domain/report_definitions.py``."""
    return {"lead_bounds": list(LEAD_BOUNDS), "age_bounds": list(AGE_BOUNDS), "sources": list(SOURCES)}


def params(conn: Connection, d_from: date, d_to: date, branch: str | None) -> tuple[dict[str, Any], str | None]:
    """The bind parameters of a report's period (``:d_from``, ``:d_to``, ``:branch`` id or None) and the
    buckets', and the branch's name; ``NotFound`` (field ``branch``) for an unknown branch."""
    buckets = bucket_params()
    if branch is None:
        return {"d_from": d_from, "d_to": d_to, "branch": None} | buckets, None
    info = catalog.load_branch(conn, branch)
    return {"d_from": d_from, "d_to": d_to, "branch": info.id} | buckets, info.name


def run_settings(conn: Connection, *names_: str) -> None:
    """Run the ``SET LOCAL`` statements of ``common.sql`` sections ``names_`` (each may hold several,
    separated by ``;``)."""
    for name in names_:
        for setting in statement("common", name).split(";"):
            if setting.strip():
                conn.execute(text(setting))


def read(db: Database, d_from: date, d_to: date, branch: str | None,
         work: Callable[[Connection, dict[str, Any]], ReportData]) -> ReportData:
    """``work(conn, params)`` in one snapshot with the report planner settings (``common.planner``);
    the result's ``branch`` is set to the branch's name (None for all). Raises as :func:`params` and
    ``DatabaseUnavailable``."""
    def run(conn: Connection) -> ReportData:
        run_settings(conn, "planner")
        values, name = params(conn, d_from, d_to, branch)
        data = work(conn, values)
        data.branch = name
        return data

    return db.read(run, snapshot=True)


def names(conn: Connection, table: str) -> dict[int, str]:
    """id -> name of ``table``: ``resource``, ``service`` or ``branch`` (``KeyError`` otherwise)."""
    return {int(i): str(n) for i, n in conn.execute(text(statement("common", f"{table}_names"))).all()}
