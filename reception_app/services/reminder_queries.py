"""Read models of reminders for the desk: an appointment's reminders, the failed ones to phone,
and reception's "mark as handled" (issue 5).

Instants are aware UTC datetimes; ``local_start`` fields are branch-local for display.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from ..domain.errors import NotFound, ValidationError
from ..store.database import Database
from .catalog import fetch

#: Shown at the desk for each status.
STATUS_LABELS = {"pending": "Planned", "sending": "Sending", "sent": "Sent", "failed": "Failed",
                 "cancelled": "Cancelled"}


@dataclass(frozen=True)
class ReminderView:
    """One reminder of an appointment. ``due_at``: when it is (or was) to be sent, UTC;
    ``sent_at``/``handled_at`` UTC or None; ``error``: the last failure or why it was cancelled."""

    id: int
    purpose: str
    channel: str
    status: str
    due_at: datetime
    sent_at: datetime | None
    attempts: int
    error: str | None
    handled_at: datetime | None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


@dataclass(frozen=True)
class FailedReminder:
    """A reminder that failed for good and is not yet handled: whom reception should call.
    ``starts_at`` UTC, ``local_start`` branch-local; ``phone``/``email`` the patient's current ones."""

    id: int
    appointment_id: int
    patient_id: int
    patient: str
    phone: str | None
    email: str | None
    branch: str
    service: str
    starts_at: datetime
    local_start: datetime
    channel: str
    purpose: str
    error: str
    attempts: int
    failed_at: datetime | None


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def appointment_reminders(db: Database, appointment_id: int) -> list[ReminderView]:
    """All reminders of ``appointment_id`` (any status), by due time. An unknown id gives []."""

    def work(conn: Connection) -> list[ReminderView]:
        rows = fetch(conn, "SELECT id, purpose, channel, status, due_at, sent_at, attempts, last_error, handled_at "
                           "FROM reminder WHERE appointment_id = %(a)s ORDER BY due_at, id", {"a": appointment_id})
        return [ReminderView(id=r[0], purpose=r[1], channel=r[2], status=r[3], due_at=r[4].astimezone(UTC),
                             sent_at=_utc(r[5]), attempts=r[6], error=r[7], handled_at=_utc(r[8])) for r in rows]

    return db.read(work)


def _since(since: datetime | date | None) -> datetime | None:
    if since is None:
        return None
    if isinstance(since, datetime):
        if since.tzinfo is None:
            raise ValidationError("since", since, "must be an aware datetime (with a UTC offset)")
        return since
    return datetime.combine(since, time(0), tzinfo=UTC)


def failed_reminders(db: Database, branch: str | int | None = None,
                     since: datetime | date | None = None) -> list[FailedReminder]:
    """Reminders that failed for good and are not marked handled, newest failure first.

    ``branch``: a branch name or id (None: all); ``since``: only failures at or after this
    instant (an aware datetime, or a date meaning its UTC midnight). Raises ``NotFound`` for an
    unknown branch and ``ValidationError`` for a naive ``since``.
    """
    lower = _since(since)

    def work(conn: Connection) -> list[FailedReminder]:
        branch_id = None
        if branch is not None:
            found = fetch(conn, "SELECT id FROM branch WHERE id::text = %(b)s OR name = %(b)s", {"b": str(branch)})
            if not found:
                raise NotFound("branch", branch)
            branch_id = found[0][0]
        rows = fetch(conn,
            "SELECT r.id, a.id, p.id, p.display_name, p.phone, p.email, b.name, s.name, a.starts_at, b.timezone, "
            "       r.channel, r.purpose, coalesce(r.last_error, ''), r.attempts, r.failed_at "
            "  FROM reminder r JOIN appointment a ON a.id = r.appointment_id JOIN patient p ON p.id = a.patient_id "
            "  JOIN branch b ON b.id = a.branch_id JOIN service s ON s.id = a.service_id "
            " WHERE r.status = 'failed' AND r.handled_at IS NULL "
            "   AND (%(b)s::integer IS NULL OR a.branch_id = %(b)s) "
            "   AND (%(since)s::timestamptz IS NULL OR r.failed_at >= %(since)s) "
            " ORDER BY r.failed_at DESC NULLS LAST, r.id DESC", {"b": branch_id, "since": lower})
        return [FailedReminder(id=r[0], appointment_id=r[1], patient_id=r[2], patient=r[3], phone=r[4], email=r[5],
                               branch=r[6], service=r[7], starts_at=r[8].astimezone(UTC),
                               local_start=r[8].astimezone(ZoneInfo(r[9])), channel=r[10], purpose=r[11],
                               error=r[12], attempts=r[13], failed_at=_utc(r[14])) for r in rows]

    return db.read(work)


def mark_handled(db: Database, reminder_id: int) -> datetime:
    """Record that reception dealt with a failed reminder (e.g. phoned the patient): it leaves the
    failed list. Returns the UTC time recorded (``handled_by`` is the login). Marking again keeps
    the first time. Raises ``NotFound`` for an unknown id, ``ValidationError`` when it has not failed."""

    def work(conn: Connection) -> datetime:
        rows = fetch(conn, "UPDATE reminder SET handled_at = coalesce(handled_at, now()), "
                           "handled_by = coalesce(handled_by, session_user) "
                           "WHERE id = %(i)s AND status = 'failed' RETURNING handled_at", {"i": reminder_id})
        if rows:
            return rows[0][0].astimezone(UTC)
        status = fetch(conn, "SELECT status FROM reminder WHERE id = %(i)s", {"i": reminder_id})
        if not status:
            raise NotFound("reminder", reminder_id)
        raise ValidationError("reminder", reminder_id, f"is {status[0][0]}, not failed")

    return db.write(work, reason="failed reminder handled")
