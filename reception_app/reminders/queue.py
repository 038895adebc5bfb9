"""The reminder queue in SQL: claim due reminders with a lease, mark them sent or failed, release.

Claiming takes up to ``batch`` rows that are due (``ready_at <= now()``: pending
and due, a retry whose backoff has passed, or ``sending`` with a lease that ran
out because its worker died) with ``FOR UPDATE SKIP LOCKED``, so several workers
never take the same row; they become ``sending`` with ``lease_until = now() +
lease`` and one more attempt. In the same statement a reminder whose patient has
withdrawn consent for its channel, or whose appointment was cancelled, is
cancelled instead (consent is honoured at the moment of sending too), and an SMS
or WhatsApp message whose branch is inside its quiet hours is put back to wait
for their end (quiet hours are honoured at the moment of sending too, so a retry
after a gateway failure never goes out at night; see :func:`claim_round`).

Each function is one SERIALIZABLE transaction through ``Database.write``
(retried on conflicts; a lost connection raises ``DatabaseUnavailable``). Times
are the database server's clock (``now()``; a claim may be given another ``now``
to judge what is due and quiet by); durations are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from ..domain.errors import ValidationError
from ..services.catalog import fetch
from ..store.database import Database
from .messages import Claimed

#: The clock a claim judges by: the caller's ``now`` (tests, a catch-up), else the database's.
_CLOCK = "coalesce(CAST(%(now)s AS timestamptz), now())"

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
           a.hold_expires_at
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
          action.branch_phone, r.attempts
"""


@dataclass(frozen=True)
class ClaimRound:
    """What one claim did: ``claimed`` (to send now, by reminder id), and how many due rows it
    ``deferred`` (SMS/WhatsApp inside the branch's quiet hours: ``next_attempt_at`` moved to their
    end, no attempt counted) and ``cancelled`` (consent withdrawn, appointment cancelled, or the
    quiet hours outlast what the message is for)."""

    claimed: list[Claimed]
    deferred: int = 0
    cancelled: int = 0

    @property
    def handled(self) -> int:
        """Due rows this claim took care of (claimed, deferred or cancelled); 0: nothing was due."""
        return len(self.claimed) + self.deferred + self.cancelled


def claim_round(db: Database, *, worker: str, channels: list[str], batch: int, lease_s: float,
                now: datetime | None = None) -> ClaimRound:
    """Claim up to ``batch`` reminders on ``channels`` that are due at ``now`` (aware; default the
    database's clock) for ``worker`` (a name for the logs and ``claimed_by``), with a lease of
    ``lease_s`` seconds from the database's clock.

    Quiet hours are applied here, at send time, and not only when planning: an SMS or WhatsApp
    message whose branch is inside its quiet hours at ``now`` (``branch.quiet_from_min`` ..
    ``quiet_until_min``, branch-local, DST-correct: ``clinic_quiet_adjust``) is not claimed; its
    ``next_attempt_at`` moves to the end of the quiet hours and its attempts stay as they were —
    so a retry after a gateway failure waits for the morning. One that would then arrive at or
    after the appointment's start (a confirmation, reminder or payment notice) or after a waitlist
    offer's hold expired is cancelled instead, with the reason in ``last_error``, as the planner
    drops such messages. Consent withdrawn or an appointment cancelled: cancelled too.

    Raises ``ValidationError`` for a naive ``now``, ``DatabaseUnavailable``, ``PermissionDenied``.
    """
    if now is not None and now.utcoffset() is None:
        raise ValidationError("now", now, "must carry a time zone")

    def work(conn: Connection) -> list[tuple]:
        return fetch(conn, CLAIM_SQL, {"channels": channels, "batch": batch, "lease": lease_s, "worker": worker,
                                       "now": now})

    rows = db.write(work)
    claimed = [Claimed(reminder_id=r[0], idempotency_key=r[2], channel=r[3], purpose=r[4], template=r[5],
                       recipient=r[6], language=r[7] or "en", patient=r[8], service=r[9],
                       starts_at=r[10].astimezone(UTC), timezone=r[11], branch=r[12], branch_phone=r[13],
                       attempts=r[14])
               for r in sorted(rows, key=lambda r: r[0]) if r[1] == "sending"]
    return ClaimRound(claimed=claimed, deferred=sum(1 for r in rows if r[1] == "pending"),
                      cancelled=sum(1 for r in rows if r[1] == "cancelled"))


def claim(db: Database, *, worker: str, channels: list[str], batch: int, lease_s: float,
          now: datetime | None = None) -> list[Claimed]:
    """The reminders :func:`claim_round` claimed to send now, oldest due first (by id); those it
    deferred for quiet hours or cancelled are not returned."""
    return claim_round(db, worker=worker, channels=channels, batch=batch, lease_s=lease_s, now=now).claimed


#: Joined into the per-message bookkeeping: this transaction's COMMIT does not wait for the WAL
#: flush (``synchronous_commit = off``, one round trip fewer than a separate SET). A *server*
#: crash may forget the last few hundred milliseconds of marks, and those reminders are sent
#: again — with the same idempotency key; a crashed *worker* loses nothing, since the server
#: has the commit. This halves the cost per message (tests/bench/reminders_bench.py).
ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"


def mark_sent(db: Database, reminder_id: int, *, worker: str, provider_ref: str | None) -> bool:
    """Record a successful send. False when another worker has claimed the row since (our lease ran
    out): it will record its own send."""

    def work(conn: Connection) -> list:
        return fetch(conn, "UPDATE reminder SET status = 'sent', sent_at = now(), lease_until = NULL, "
                           "next_attempt_at = NULL, last_error = NULL, provider_ref = %(ref)s "
                           f"FROM {ASYNC_COMMIT} "
                           "WHERE id = %(id)s AND claimed_by = %(w)s AND status IN ('sending', 'cancelled') "
                           "RETURNING id", {"id": reminder_id, "w": worker, "ref": provider_ref})

    return bool(db.write(work))


def mark_failed(db: Database, reminder_id: int, *, worker: str, error: str, permanent: bool,
                max_attempts: int, backoff_s: float, backoff_max_s: float) -> str | None:
    """Record a failed attempt: back to ``pending`` with the next attempt after
    ``backoff_s * 2**(attempts - 1)`` seconds (at most ``backoff_max_s``), or ``failed`` when
    ``permanent`` or after ``max_attempts`` attempts. Returns the new status (None: not ours any more)."""

    def work(conn: Connection) -> list:
        return fetch(conn,
            "UPDATE reminder SET "
            " status = CASE WHEN %(perm)s OR attempts >= %(max)s THEN 'failed' ELSE 'pending' END, "
            " failed_at = CASE WHEN %(perm)s OR attempts >= %(max)s THEN now() END, "
            " next_attempt_at = CASE WHEN %(perm)s OR attempts >= %(max)s THEN NULL ELSE now() + "
            "   make_interval(secs => least(%(cap)s, %(base)s * power(2, greatest(attempts - 1, 0)))) END, "
            " lease_until = NULL, last_error = left(%(err)s, 500) "
            "WHERE id = %(id)s AND claimed_by = %(w)s AND status = 'sending' RETURNING status",
            {"id": reminder_id, "w": worker, "perm": permanent, "max": max_attempts, "base": backoff_s,
             "cap": backoff_max_s, "err": error})

    rows = db.write(work)
    return str(rows[0][0]) if rows else None


def release(db: Database, reminder_ids: list[int], *, worker: str) -> int:
    """Give back claimed reminders that were not tried (shutting down): pending again at once, the
    attempt not counted. Returns how many."""
    if not reminder_ids:
        return 0

    def work(conn: Connection) -> list:
        return fetch(conn, "UPDATE reminder SET status = 'pending', attempts = greatest(attempts - 1, 0), "
                           "lease_until = NULL, next_attempt_at = NULL "
                           "WHERE id = ANY(%(ids)s) AND claimed_by = %(w)s AND status = 'sending' RETURNING id",
                     {"ids": reminder_ids, "w": worker})

    return len(db.write(work))


def next_ready(db: Database, channels: list[str]) -> datetime | None:
    """When the next reminder on ``channels`` becomes due (UTC), or None when none is waiting."""

    def work(conn: Connection) -> datetime | None:
        rows = fetch(conn, "SELECT min(ready_at) FROM reminder WHERE status IN ('pending', 'sending') "
                           "AND channel = ANY(%(c)s)", {"c": channels})
        return rows[0][0]

    found = db.read(work)
    return found.astimezone(UTC) if found else None
