"""A doctor's "my day": who is booked with them on one day, who has arrived, who is next.

A read model (plain SQL, one short READ ONLY transaction), readable by every
clinic role, doctors included (they read the whole schedule; row-level
security limits only what they may change).

Check-in time comes from ``appointment.checked_in_at`` (migration 0002): the
database stamps it when the status becomes ``checked_in`` and never clears
it. Waiting minutes are computed from it and ``now``; the panel recomputes
them from :attr:`MyDayRow.checked_in_at` without asking the database again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.errors import NotFound, ValidationError
from ..store.database import Database

#: Statuses counted as "arrived": the patient came (and may be done).
ARRIVED_STATUSES = ("checked_in", "in_progress", "completed")

#: Earlier appointments in these statuses make a visit a return visit.
_ATTENDED = ("checked_in", "in_progress", "completed")


def waiting_minutes(checked_in_at: datetime | None, status: str, now: datetime) -> int | None:
    """Whole minutes since check-in (never negative) for a patient checked in and not started yet;
    None for any other status or without a check-in time."""
    if status != "checked_in" or checked_in_at is None:
        return None
    return max(0, int((now - checked_in_at) // timedelta(minutes=1)))


@dataclass(frozen=True)
class MyDayRow:
    """One appointment of the doctor's day.

    ``start``/``end``: UTC; ``time_text``: ``"08:00–08:30"`` on the branch's wall
    clock (``timezone``). ``room``: the room booked, or None. ``checked_in_at``:
    UTC, or None if the patient has not checked in. ``waiting_min``: whole
    minutes since check-in at the ``now`` of the query, for a patient checked in
    and not started (``waiting_minutes``); None otherwise. ``first_visit``: the
    patient has no earlier appointment (any branch, any doctor) that they
    attended (checked in, in progress or completed).
    """

    appointment_id: int
    start: datetime
    end: datetime
    time_text: str
    timezone: str
    branch: str
    patient_id: int
    patient: str
    service: str
    room: str | None
    status: str
    checked_in_at: datetime | None
    waiting_min: int | None
    first_visit: bool

    def waiting_at(self, now: datetime) -> int | None:
        """Minutes waiting at another instant (the panel's clock), as ``waiting_min``."""
        return waiting_minutes(self.checked_in_at, self.status, now)


@dataclass(frozen=True)
class MyDay:
    """One doctor's appointments on one local day, by start (cancelled and rescheduled ones left out).

    ``next_patient``: the first row (by start) checked in and not started;
    else the first confirmed one that has not ended at ``now``; else None.
    Counts: ``arrived`` (checked in, in progress or completed), ``waiting``
    (checked in, not started), ``done`` (completed), ``no_show``.
    """

    resource_id: int
    doctor: str
    local_date: date
    now: datetime
    rows: tuple[MyDayRow, ...]
    next_patient: MyDayRow | None
    arrived: int
    waiting: int
    done: int
    no_show: int


_SQL = text("""
SELECT a.id, a.patient_id, p.display_name AS patient, s.name AS service, a.status, a.starts_at, a.ends_at,
       a.checked_in_at, br.name AS branch, br.timezone,
       (SELECT r.name FROM booking rb JOIN resource r ON r.id = rb.resource_id
         WHERE rb.appointment_id = a.id AND r.kind = 'room' ORDER BY r.name LIMIT 1) AS room,
       NOT EXISTS (SELECT 1 FROM appointment e
                    WHERE e.patient_id = a.patient_id AND e.id <> a.id AND e.starts_at < a.starts_at
                      AND e.status = ANY(:attended)) AS first_visit
  FROM booking b
  JOIN appointment a ON a.id = b.appointment_id
  JOIN patient p ON p.id = a.patient_id
  JOIN service s ON s.id = a.service_id
  JOIN branch br ON br.id = a.branch_id
 WHERE b.resource_id = :r AND a.starts_at >= :lo AND a.starts_at < :hi
   AND (a.starts_at AT TIME ZONE br.timezone)::date = :d
   AND clinic_status_is_live(a.status)
 ORDER BY a.starts_at, a.id
""")


def my_day(db: Database, *, resource_id: int, local_date: date, now: datetime) -> MyDay:
    """The day of the doctor (any resource works) ``resource_id`` on ``local_date``.

    ``local_date`` is read in each appointment's branch zone (a doctor may work
    at branches in different zones). ``now``: aware; waiting minutes and the
    next patient are as of then. Raises ``NotFound("resource", …)``,
    ``ValidationError`` for a naive ``now``.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValidationError("now", now.isoformat(), "needs a UTC offset")
    lo = datetime(local_date.year, local_date.month, local_date.day, tzinfo=UTC) - timedelta(days=1)
    hi = lo + timedelta(days=3)  # every zone's local day lies within UTC day-1 .. day+2

    def work(conn: Connection) -> MyDay:
        name = conn.execute(text("SELECT name FROM resource WHERE id = :r"), {"r": resource_id}).scalar()
        if name is None:
            raise NotFound("resource", resource_id)
        rows = []
        for r in conn.execute(_SQL, {"r": resource_id, "lo": lo, "hi": hi, "d": local_date,
                                     "attended": list(_ATTENDED)}):
            tz = ZoneInfo(r.timezone)
            start, end = r.starts_at.astimezone(UTC), r.ends_at.astimezone(UTC)
            checked = r.checked_in_at.astimezone(UTC) if r.checked_in_at else None
            rows.append(MyDayRow(
                appointment_id=r.id, start=start, end=end,
                time_text=f"{start.astimezone(tz):%H:%M}–{end.astimezone(tz):%H:%M}", timezone=r.timezone,
                branch=r.branch, patient_id=r.patient_id, patient=r.patient, service=r.service, room=r.room,
                status=r.status, checked_in_at=checked, waiting_min=waiting_minutes(checked, r.status, now),
                first_visit=bool(r.first_visit)))
        return MyDay(resource_id=resource_id, doctor=str(name), local_date=local_date, now=now,
                     rows=tuple(rows), next_patient=next_patient(rows, now),
                     arrived=sum(r.status in ARRIVED_STATUSES for r in rows),
                     waiting=sum(r.status == "checked_in" for r in rows),
                     done=sum(r.status == "completed" for r in rows),
                     no_show=sum(r.status == "no_show" for r in rows))

    return db.read(work)


def next_patient(rows: list[MyDayRow] | tuple[MyDayRow, ...], now: datetime) -> MyDayRow | None:
    """The first row (by start) checked in and not started, else the first confirmed one not ended at
    ``now``, else None."""
    ordered = sorted(rows, key=lambda r: (r.start, r.appointment_id))
    waiting = [r for r in ordered if r.status == "checked_in"]
    if waiting:
        return waiting[0]
    return next((r for r in ordered if r.status == "confirmed" and r.end > now), None)
