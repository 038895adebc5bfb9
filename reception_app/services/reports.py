"""Manager reports: ``clinic report no-show``.

No-show rates of appointments whose outcome is known (status ``completed`` or
``no_show``; everything else — cancelled, rescheduled, still upcoming — is
left out), broken down by weekday, booking lead time, SMS reminder, patient
age and branch. The questions come from the public "Medical Appointment No
Shows" analysis (does a reminder or a long lead time go with more no-shows?).

All dates are branch-local: an appointment counts on the local date of its
start in its branch's zone, and the lead time is measured between the local
date of ``booked_at`` and that date (whole calendar days, not 24-hour
periods). The aggregation is one SQL pass with ``GROUPING SETS`` in one
consistent snapshot (``Database.read(snapshot=True)``), so it stays fast on
millions of appointments; Python only labels and orders the groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.errors import ValidationError
from ..domain.validation import parse_date
from ..store.database import Database
from . import catalog

__all__ = ["no_show_report", "rate", "WEEKDAYS", "LEAD_TIME_BANDS", "SMS_LABELS", "AGE_BANDS",
           "UNKNOWN_AGE"]

#: Weekday labels, Monday first (ISO day 1..7).
WEEKDAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: Lead-time bands: local calendar days from booking to appointment.
LEAD_TIME_BANDS: tuple[str, ...] = ("negative", "0", "1-2", "3-7", "8-14", "15-30", "31+")
#: "sms" when a reminder went out by SMS (channel sms, purpose reminder, status sent).
SMS_LABELS: tuple[str, ...] = ("sms", "no_sms")
#: The label of appointments whose patient age is not known (no source age, no birth date,
#: or a birth date after the appointment).
UNKNOWN_AGE = "unknown"
#: Age bands in whole years on the appointment's local date.
AGE_BANDS: tuple[str, ...] = ("0-11", "12-17", "18-39", "40-59", "60+", UNKNOWN_AGE)

_GROUPS = ("weekday", "lead_time", "sms_reminder", "age", "branch")
_FIXED = {"weekday": WEEKDAYS, "lead_time": LEAD_TIME_BANDS, "sms_reminder": SMS_LABELS, "age": AGE_BANDS}

#: Lower bounds (days) of the lead-time bands after "negative": width_bucket(lead, these) is the
#: index into LEAD_TIME_BANDS (lead < 0 -> 0 "negative", 0 -> 1 "0", 1..2 -> 2 "1-2", …, >= 31 -> 6).
_LEAD_BOUNDS = [0, 1, 3, 8, 15, 31]
#: Lower bounds (years) of the age bands: width_bucket(age, these) - 1 indexes AGE_BANDS; a
#: negative age (bucket 0) or none (NULL) is UNKNOWN_AGE.
_AGE_BOUNDS = [0, 12, 18, 40, 60]

# One pass over the appointments, in three layers:
#  1. ``local``: each appointment's local date and booking date (each AT TIME ZONE evaluated once
#     per row: OFFSET 0 keeps the planner from inlining the subquery and repeating the conversion
#     wherever ``day`` is used), its sent-SMS flag and age inputs. The coarse UTC window on
#     starts_at (local dates widened by two days each side; every zone is within ±14 h of UTC)
#     lets the index cut the scan before the exact local-date filter. Sent SMS reminders are a
#     DISTINCT set joined once, not a per-row subquery.
#  2. ``combos``: one hash aggregate over the combination of all five labels, as small integers
#     (width_bucket evaluates each expression once; no CASE chains): at most 7·7·2·6·branches
#     groups, whatever the number of appointments.
#  3. GROUPING SETS over those few combinations give the total and each breakdown.
_SQL = """
WITH sms AS (
    SELECT DISTINCT appointment_id FROM reminder
     WHERE channel = 'sms' AND purpose = 'reminder' AND status = 'sent'
),
local AS (
    SELECT a.status = 'no_show' AS no_show, a.branch_id, a.patient_age_years, p.birth_date,
           s.appointment_id IS NOT NULL AS sms,
           (a.starts_at AT TIME ZONE b.timezone)::date AS day,
           (a.booked_at AT TIME ZONE b.timezone)::date AS booked_day
      FROM appointment a
      JOIN branch b ON b.id = a.branch_id
      JOIN patient p ON p.id = a.patient_id
      LEFT JOIN sms s ON s.appointment_id = a.id
     WHERE a.status IN ('completed', 'no_show')
       AND (CAST(:lo AS timestamptz) IS NULL OR a.starts_at >= :lo)
       AND (CAST(:hi AS timestamptz) IS NULL OR a.starts_at < :hi)
       AND (CAST(:branch AS integer) IS NULL OR a.branch_id = :branch)
    OFFSET 0
),
combos AS (
    SELECT extract(isodow FROM day)::int AS weekday,
           width_bucket(day - booked_day, CAST(:lead_bounds AS int[])) AS lead_band,
           sms,
           width_bucket(coalesce(patient_age_years,
                                 CASE WHEN birth_date <= day
                                      THEN extract(year FROM age(day, birth_date))::int END),
                        CAST(:age_bounds AS int[])) AS age_band,
           branch_id,
           count(*) AS n, count(*) FILTER (WHERE no_show) AS ns
      FROM local
     WHERE (CAST(:d_from AS date) IS NULL OR day >= :d_from)
       AND (CAST(:d_to AS date) IS NULL OR day <= :d_to)
     GROUP BY 1, 2, 3, 4, 5
)
SELECT GROUPING(weekday, lead_band, sms, age_band, b.name) AS g,
       weekday, lead_band, sms, age_band, b.name AS branch,
       coalesce(sum(n), 0)::bigint AS appointments, coalesce(sum(ns), 0)::bigint AS no_shows
  FROM combos c JOIN branch b ON b.id = c.branch_id
 GROUP BY GROUPING SETS ((), (weekday), (lead_band), (sms), (age_band), (b.name))
"""

# GROUPING(weekday, lead_band, sms, age_band, branch): a set bit = that column is not grouped.
_GROUP_OF_MASK = {0b01111: "weekday", 0b10111: "lead_time", 0b11011: "sms_reminder", 0b11101: "age",
                  0b11110: "branch", 0b11111: "total"}


def rate(no_shows: int, appointments: int) -> float:
    """``no_shows / appointments`` rounded half-up to 4 decimals (exact decimal arithmetic);
    0.0 when there are no appointments."""
    if appointments <= 0:
        return 0.0
    # half-up in integers: the same as Decimal quantize(0.0001, ROUND_HALF_UP), a tenth of the time
    # (reports round tens of thousands of rates)
    tenths_of_thousandths = (20000 * abs(no_shows) + appointments) // (2 * appointments)
    return (tenths_of_thousandths if no_shows >= 0 else -tenths_of_thousandths) / 10000


def _cell(appointments: int, no_shows: int) -> dict[str, Any]:
    return {"appointments": appointments, "no_shows": no_shows, "rate": rate(no_shows, appointments)}


def _bound(value: str | date | None, field: str) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        raise ValidationError(field, value.isoformat(), "must be a date (YYYY-MM-DD), not a date and time")
    return parse_date(value, field)


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
    d_from = _bound(date_from, "from")
    d_to = _bound(date_to, "to")
    if d_from is not None and d_to is not None and d_to < d_from:
        raise ValidationError("to", d_to.isoformat(), f"is before from ({d_from.isoformat()})")
    lo = datetime.combine(d_from, time(0), UTC) - timedelta(days=2) if d_from else None
    hi = datetime.combine(d_to, time(0), UTC) + timedelta(days=3) if d_to else None

    def work(conn: Connection) -> dict[str, Any]:
        branch_id = catalog.load_branch(conn, branch).id if branch is not None else None
        rows = conn.execute(text(_SQL), {"lo": lo, "hi": hi, "d_from": d_from, "d_to": d_to,
                                         "branch": branch_id, "lead_bounds": _LEAD_BOUNDS,
                                         "age_bounds": _AGE_BOUNDS}).all()
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
