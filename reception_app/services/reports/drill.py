"""The drill-down: the appointments behind one figure of a report (``drill_down.sql``).

Each row of a report's table carries a ``drill`` key (a dict of filters, or None); :func:`drill_down`
lists the appointments it stands for, within the report's period and branch. A filter key ``k`` is
the condition ``filter_k`` of ``drill_down.sql`` (:data:`FILTERS`); the outcome and live filters are
``definitions.sql``'s ``outcome_known`` and ``occupied``. A utilization figure's key names the
resource (or kind) and the local dates whose booked minutes it counted (``booked_resource``,
``booked_kind``, ``booked_from``, ``booked_to``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ...domain.errors import ValidationError
from ...domain.status import LABELS as STATUS_LABELS
from ...store.database import Database
from .common import period, read
from .model import Column, ReportData, Table
from .sql import statement, statements

__all__ = ["drill_down", "DRILL_LIMIT", "FILTERS"]

#: The drill-down filters (keys of a row's ``drill`` dict): the ``filter_<key>`` conditions of drill_down.sql.
FILTERS: frozenset[str] = frozenset(n.removeprefix("filter_") for n in statements("drill_down") if n.startswith("filter_"))
#: Drill-down filters of utilization rows: the resource (or kind) and the local dates whose booked
#: minutes the figure counted (``booked_from``/``booked_to``, ISO dates, within the period).
_DRILL_BOOKED = ("booked_resource", "booked_kind", "booked_from", "booked_to")
#: The most appointments a drill-down lists.
DRILL_LIMIT = 1000


def drill_down(db: Database, key: dict[str, Any], *, date_from: str | date, date_to: str | date,
               branch: str | None = None) -> Table:
    """The appointments behind one figure: ``key`` is a row's ``Table.drill`` dict (filters of
    ``drill_down.sql``'s ``filter_<key>``), within the report's period and branch, by start, at most :data:`DRILL_LIMIT`.

    Returns a table ``appointments`` (id, local start ``YYYY-MM-DD HH:MM``, branch, service,
    patient, status in words (``domain.status.LABELS``: "No-show"), doctor, the local date it was
    booked on ``YYYY-MM-DD``, and "yes"/"no" for an SMS reminder sent, definition ``sms``). Raises ``ValidationError`` (field ``drill``) for an unknown filter,
    otherwise as the reports.
    """
    d_from, d_to = period(date_from, date_to)
    unknown = sorted(set(key) - set(FILTERS) - set(_DRILL_BOOKED))
    if unknown:
        raise ValidationError("drill", unknown[0], "is not a drill-down filter")
    conds = [statement("drill_down", f"filter_{k}") for k in key if k in FILTERS]
    window = statement("drill_down", "period_window")
    extra: dict[str, Any] = {}
    if any(k in _DRILL_BOOKED for k in key):
        # a utilization figure: the appointments whose bookings' minutes it counted (by the bookings'
        # local dates, which may differ from the appointment's by a buffer over midnight)
        lo = max(d_from, date.fromisoformat(key["booked_from"])) if key.get("booked_from") else d_from
        hi = min(d_to, date.fromisoformat(key["booked_to"])) if key.get("booked_to") else d_to
        extra = {"booked_lo": lo, "booked_hi": hi, "booked_resource": key.get("booked_resource"),
                 "booked_kind": key.get("booked_kind")}
        window = statement("drill_down", "booked_window")
    sql = (statement("drill_down", "appointments").replace("/*window*/", window)
           .replace("/*filters*/", "".join(f" AND ({c})" for c in conds)))

    def work(conn: Connection, params: dict[str, Any]) -> ReportData:
        values = {k: v for k, v in key.items() if k in FILTERS} | extra | {"limit": DRILL_LIMIT}
        rows = conn.execute(text(sql), params | values).all()
        shown = [(r.id, r.start, r.branch, r.service, r.patient, STATUS_LABELS.get(r.status, r.status), r.doctor,
                  r.booked_on, "yes" if r.sms else "no") for r in rows]
        table = Table("appointments", "Appointments", [
            Column("id", "Id", "int"), Column("start", "Start (local)"), Column("branch", "Branch"),
            Column("service", "Service"), Column("patient", "Patient"), Column("status", "Status"),
            Column("doctor", "Doctor"), Column("booked_on", "Booked on"),
            Column("sms", "SMS reminder sent")], shown, [{"appointment_id": int(r.id)} for r in rows])
        return ReportData("drill", "Appointments", d_from, d_to, None, [table], [], [])

    return read(db, d_from, d_to, branch, work).tables[0]
