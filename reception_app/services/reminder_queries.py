"""The SQL of reminders: the desk's read models and the reminder workers' queue statements.

For the desk (issue 5): an appointment's reminders, the failed ones to phone, and reception's
"mark as handled" — each one transaction through the ``Database`` runners.

For the workers (``reminders/queue.py``, ``reminders/privileges.py``, ``reminders/service.py``
call these on their own transactions and connections): claim due reminders
(:func:`claim_due`, ``FOR UPDATE SKIP LOCKED`` with a lease), mark them sent or failed,
give them back, find the next due time, read the login's standing, and ``LISTEN`` for
wake-ups. The SQL text lives here so that no package above ``services`` holds any.

Instants are aware UTC datetimes; ``local_start`` fields are branch-local for display.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
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


# --------------------------------------------------------------------------- #
# The reminder workers' queue (reminders/queue.py runs these in its transactions)
# --------------------------------------------------------------------------- #
#
# Each function below runs one statement on the caller's transaction (``conn``) and returns the
# rows; the caller chooses the isolation (reminders/queue.py: the claim under READ COMMITTED, see
# CLAIM_SQL). Times are the database server's clock; durations are seconds.

#: The clock a claim judges by: the caller's ``now`` (tests, a catch-up), else the database's.
_CLOCK = "coalesce(CAST(%(now)s AS timestamptz), now())"

#: Claim up to ``batch`` due reminders on ``channels`` for ``worker`` with a lease of ``lease``
#: seconds (parameters ``now``, ``channels``, ``batch``, ``lease``, ``worker``).
#:
#: Correct under READ COMMITTED, which is how the workers run it: ``FOR UPDATE SKIP LOCKED`` takes
#: row locks on exactly the rows this statement then updates, skipping rows another worker holds,
#: and PostgreSQL re-checks the ``picked`` conditions on the newest committed version of each row
#: it locks (a row claimed, sent, or cancelled meanwhile no longer qualifies and is left alone).
#: The ``UPDATE`` then changes only rows this transaction holds locked, so no other claim can take
#: them until it commits, and nothing it writes depends on a read that a concurrent transaction
#: could invalidate without first waiting for those locks (the reminder's own status changes go
#: through its row lock; consent, appointment status and quiet hours are read as of the
#: statement's start, the same instant a SERIALIZABLE claim would read them at). SERIALIZABLE
#: adds nothing to that but predicate locks over the scanned queue, which made concurrent workers
#: abort each other's claims (about 300 retries per 10,000 messages with two workers:
#: tests/bench/reminders_bench.py).
CLAIM_SQL = f"""
WITH picked AS (
    SELECT r.id FROM reminder r
     WHERE r.status IN ('pending', 'sending') AND r.ready_at <= {_CLOCK} AND r.channel = ANY(%(channels)s)
       AND (r.status = 'pending' OR coalesce(r.lease_until <= now(), true))  -- leases run out by the database's clock
     ORDER BY r.ready_at
     LIMIT %(batch)s
       FOR UPDATE SKIP LOCKED),
info AS (
    SELECT r.id, r.purpose, a.starts_at, b.timezone, b.name AS branch, b.phone AS branch_phone, s.name AS service,
           p.display_name, coalesce(r.language, p.language, b.language) AS language,
           CASE r.channel WHEN 'email' THEN p.email WHEN 'file' THEN coalesce(p.phone, p.email, '')
                ELSE p.phone END AS recipient,
           CASE WHEN r.channel IN ('email', 'sms', 'whatsapp') AND NOT r.channel = ANY(p.consent_channels)
                     THEN 'the patient opted out of ' || r.channel
                WHEN a.status IN ('cancelled', 'rescheduled')
                     AND r.purpose IN ('confirmation', 'reminder', 'payment', 'waitlist_offer')
                     THEN 'appointment ' || a.status END AS refusal,
           CASE WHEN r.channel IN ('sms', 'whatsapp')       -- the only channels with quiet hours
                THEN clinic_quiet_adjust({_CLOCK}, r.channel, b.timezone, b.quiet_from_min, b.quiet_until_min)
                ELSE {_CLOCK} END AS quiet_end,
           a.hold_expires_at, a.id AS appointment_id
      FROM picked JOIN reminder r ON r.id = picked.id
      JOIN appointment a ON a.id = r.appointment_id JOIN patient p ON p.id = a.patient_id
      JOIN branch b ON b.id = a.branch_id JOIN service s ON s.id = a.service_id),
decided AS (
    SELECT info.*,
           CASE WHEN refusal IS NOT NULL THEN refusal
                WHEN quiet_end <= {_CLOCK} THEN NULL
                WHEN purpose IN ('confirmation', 'reminder', 'payment') AND quiet_end >= starts_at
                     THEN 'quiet hours last until the appointment starts'
                WHEN purpose = 'waitlist_offer' AND quiet_end >= least(starts_at, hold_expires_at)
                     THEN 'the offer expires inside the quiet hours' END AS why_cancelled
      FROM info),
action AS (
    SELECT decided.*,
           CASE WHEN why_cancelled IS NOT NULL THEN 'cancel' WHEN quiet_end > {_CLOCK} THEN 'defer'
                ELSE 'send' END AS act
      FROM decided)
UPDATE reminder r
   SET status = CASE act WHEN 'send' THEN 'sending' WHEN 'defer' THEN 'pending' ELSE 'cancelled' END,
       attempts = r.attempts + CASE WHEN act = 'send' THEN 1 ELSE 0 END,
       lease_until = CASE WHEN act = 'send' THEN now() + make_interval(secs => %(lease)s) END,
       next_attempt_at = CASE act WHEN 'send' THEN now() + make_interval(secs => %(lease)s)
                                  WHEN 'defer' THEN action.quiet_end END,
       claimed_by = CASE WHEN act = 'defer' THEN r.claimed_by ELSE %(worker)s END,
       language = action.language, recipient = action.recipient,
       last_error = coalesce(action.why_cancelled, r.last_error)
  FROM action
 WHERE r.id = action.id
RETURNING r.id, r.status, r.idempotency_key, r.channel, r.purpose, r.template, coalesce(r.recipient, ''),
          r.language, action.display_name, action.service, action.starts_at, action.timezone, action.branch,
          action.branch_phone, r.attempts,
          CASE WHEN action.act <> 'send' THEN NULL
               WHEN action.purpose IN ('confirmation', 'reminder', 'payment') THEN clinic_portal_link(action.appointment_id)
               WHEN action.purpose = 'waitlist_offer' THEN clinic_portal_offer_link(action.appointment_id) END
"""

#: Joined into the per-message bookkeeping: this transaction's COMMIT does not wait for the WAL
#: flush (``synchronous_commit = off``, one round trip fewer than a separate SET). A *server*
#: crash may forget the last few hundred milliseconds of marks, and those reminders are sent
#: again — with the same idempotency key; a crashed *worker* loses nothing, since the server
#: has the commit. This halves the cost per message (tests/bench/reminders_bench.py).
ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"

_MARK_SENT_SQL = (
    "UPDATE reminder SET status = 'sent', sent_at = now(), lease_until = NULL, "
    "next_attempt_at = NULL, last_error = NULL, provider_ref = %(ref)s "
    f"FROM {ASYNC_COMMIT} "
    "WHERE id = %(id)s AND claimed_by = %(w)s AND status IN ('sending', 'cancelled') "
    "RETURNING id")

_MARK_FAILED_SQL = (
    "UPDATE reminder SET "
    " status = CASE WHEN %(perm)s OR attempts >= %(max)s THEN 'failed' ELSE 'pending' END, "
    " failed_at = CASE WHEN %(perm)s OR attempts >= %(max)s THEN now() END, "
    " next_attempt_at = CASE WHEN %(perm)s OR attempts >= %(max)s THEN NULL ELSE now() + "
    "   make_interval(secs => least(%(cap)s, %(base)s * power(2, greatest(attempts - 1, 0)))) END, "
    " lease_until = NULL, last_error = left(%(err)s, 500) "
    "WHERE id = %(id)s AND claimed_by = %(w)s AND status = 'sending' RETURNING status")

_RELEASE_SQL = (
    "UPDATE reminder SET status = 'pending', attempts = greatest(attempts - 1, 0), "
    "lease_until = NULL, next_attempt_at = NULL "
    "WHERE id = ANY(%(ids)s) AND claimed_by = %(w)s AND status = 'sending' RETURNING id")

_NEXT_READY_SQL = ("SELECT min(ready_at) FROM reminder WHERE status IN ('pending', 'sending') "
                   "AND channel = ANY(%(c)s)")

_STANDING_SQL = """
SELECT current_user, r.rolsuper, g.oid IS NOT NULL,
       coalesce(pg_has_role(current_user, g.oid, 'USAGE'), false),
       has_function_privilege('clinic_release_expired_holds(integer[], timestamptz, timestamptz)', 'EXECUTE'),
       has_table_privilege('waitlist_offer', 'INSERT') AND has_table_privilege('appointment', 'INSERT')
  FROM pg_roles r LEFT JOIN pg_roles g ON g.rolname = %(group)s
 WHERE r.rolname = current_user
"""

#: The NOTIFY channels a worker may LISTEN on (plain identifiers, so they need no quoting).
LISTEN_CHANNELS = frozenset({"clinic_reminders", "clinic_waitlist"})


def claim_due(conn: Connection, *, worker: str, channels: list[str], batch: int, lease_s: float,
              now: datetime | None) -> list[tuple]:
    """Run :data:`CLAIM_SQL`: one row per due reminder handled, as ``(id, status, idempotency_key,
    channel, purpose, template, recipient, language, patient's display name, service name,
    starts_at, branch zone, branch name, branch phone, attempts, the patient's portal link or None)``
    (the link: ``clinic_portal_link``, for confirmations, reminders and payment messages, when the
    clinic has a portal address); ``status`` is ``sending``
    (claimed to send now), ``pending`` (put back for quiet hours) or ``cancelled``. ``now``: aware
    instant to judge what is due and quiet by (None: the database's clock)."""
    return fetch(conn, CLAIM_SQL, {"channels": channels, "batch": batch, "lease": lease_s, "worker": worker,
                                   "now": now})


def mark_sent_row(conn: Connection, reminder_id: int, *, worker: str, provider_ref: str | None) -> bool:
    """Mark ``reminder_id`` sent if ``worker`` still holds it (``sending``, or ``cancelled`` after
    it was claimed); the commit is asynchronous (:data:`ASYNC_COMMIT`). False: not ours any more."""
    return bool(fetch(conn, _MARK_SENT_SQL, {"id": reminder_id, "w": worker, "ref": provider_ref}))


def mark_failed_row(conn: Connection, reminder_id: int, *, worker: str, error: str, permanent: bool,
                    max_attempts: int, backoff_s: float, backoff_max_s: float) -> str | None:
    """Record a failed attempt of ``worker``'s claimed ``reminder_id``: ``failed`` when
    ``permanent`` or after ``max_attempts``, else ``pending`` with the next attempt after
    ``backoff_s * 2**(attempts - 1)`` seconds (at most ``backoff_max_s``); ``error`` is kept to 500
    characters. Returns the new status, None when the row is not ``worker``'s ``sending`` one."""
    rows = fetch(conn, _MARK_FAILED_SQL, {"id": reminder_id, "w": worker, "perm": permanent, "max": max_attempts,
                                          "base": backoff_s, "cap": backoff_max_s, "err": error})
    return str(rows[0][0]) if rows else None


def release_rows(conn: Connection, reminder_ids: list[int], *, worker: str) -> int:
    """Give ``worker``'s claimed (``sending``) reminders among ``reminder_ids`` back: pending at
    once, the attempt not counted. Returns how many."""
    return len(fetch(conn, _RELEASE_SQL, {"ids": reminder_ids, "w": worker}))


def next_ready_at(conn: Connection, channels: list[str]) -> datetime | None:
    """When the next pending or leased reminder on ``channels`` becomes due (aware), None if none."""
    return fetch(conn, _NEXT_READY_SQL, {"c": channels})[0][0]


def login_standing(conn: Connection, group: str) -> tuple:
    """The current login's standing for the reminder service: ``(login, superuser, group exists,
    member with the group's rights, may run clinic_release_expired_holds, may insert waitlist
    offers and appointments)``."""
    return tuple(fetch(conn, _STANDING_SQL, {"group": group})[0])


def service_login_statement(group: str) -> str:
    """The statement a database owner runs to give the reminder service its own login in
    ``group`` (shown in the service's messages, never run here): ``CREATE ROLE reminders LOGIN
    PASSWORD '…' IN ROLE <group>``."""
    return f"CREATE ROLE reminders LOGIN PASSWORD '…' IN ROLE {group}"


def listen(raw: psycopg.Connection, channels: Iterable[str]) -> None:
    """``LISTEN`` on each of ``channels`` (names from :data:`LISTEN_CHANNELS`) on an autocommit
    psycopg connection. Raises ``ValueError`` for another name, psycopg errors for the database."""
    for channel in channels:
        if channel not in LISTEN_CHANNELS:
            raise ValueError(f"not a reminder NOTIFY channel: {channel!r}")
        raw.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
