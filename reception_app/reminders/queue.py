"""The reminder queue: claim due reminders with a lease, mark them sent or failed, release.

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

The statements are in ``services/reminder_queries.py``; this module chooses their
transactions. Each function is one transaction through ``Database.write`` (a lost
connection raises ``DatabaseUnavailable``) under READ COMMITTED: every one of them
is a single statement that changes only reminder rows it locks, judged on the
newest committed version of those rows (the claim's ``SKIP LOCKED`` skips rows
another worker holds; a mark's ``claimed_by``/``status`` condition is re-checked
after any concurrent change), so SERIALIZABLE would add only predicate locks over
the queue, and with them serialization failures between workers. The schedule's
own writes (booking, cancelling, planning reminders) stay SERIALIZABLE, and a
cancellation that races a claim still meets it on the reminder's row lock.
Times are the database server's clock (``now()``; a claim may be given another
``now`` to judge what is due and quiet by); durations are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..domain.errors import ValidationError
from ..services import reminder_queries
from ..services.reminder_queries import ASYNC_COMMIT, CLAIM_SQL
from ..store.database import Database
from .messages import Claimed

__all__ = ["ASYNC_COMMIT", "CLAIM_SQL", "ISOLATION", "ClaimRound", "claim", "claim_round", "mark_failed",
           "mark_sent", "next_ready", "release"]

#: The isolation of the queue's transactions (see the module docstring).
ISOLATION = "READ COMMITTED"


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
    rows = db.write(lambda conn: reminder_queries.claim_due(conn, worker=worker, channels=channels, batch=batch,
                                                             lease_s=lease_s, now=now),
                    isolation=ISOLATION)
    claimed = [Claimed(reminder_id=r[0], idempotency_key=r[2], channel=r[3], purpose=r[4], template=r[5],
                       recipient=r[6], language=r[7] or "en", patient=r[8], service=r[9],
                       starts_at=r[10].astimezone(UTC), timezone=r[11], branch=r[12], branch_phone=r[13],
                       attempts=r[14], link=r[15])
               for r in sorted(rows, key=lambda r: r[0]) if r[1] == "sending"]
    return ClaimRound(claimed=claimed, deferred=sum(1 for r in rows if r[1] == "pending"),
                      cancelled=sum(1 for r in rows if r[1] == "cancelled"))


def claim(db: Database, *, worker: str, channels: list[str], batch: int, lease_s: float,
          now: datetime | None = None) -> list[Claimed]:
    """The reminders :func:`claim_round` claimed to send now, oldest due first (by id); those it
    deferred for quiet hours or cancelled are not returned."""
    return claim_round(db, worker=worker, channels=channels, batch=batch, lease_s=lease_s, now=now).claimed


def mark_sent(db: Database, reminder_id: int, *, worker: str, provider_ref: str | None) -> bool:
    """Record a successful send. False when another worker has claimed the row since (our lease ran
    out): it will record its own send."""
    return db.write(lambda conn: reminder_queries.mark_sent_row(conn, reminder_id, worker=worker,
                                                                provider_ref=provider_ref),
                    isolation=ISOLATION)


def mark_failed(db: Database, reminder_id: int, *, worker: str, error: str, permanent: bool,
                max_attempts: int, backoff_s: float, backoff_max_s: float) -> str | None:
    """Record a failed attempt: back to ``pending`` with the next attempt after
    ``backoff_s * 2**(attempts - 1)`` seconds (at most ``backoff_max_s``), or ``failed`` when
    ``permanent`` or after ``max_attempts`` attempts. Returns the new status (None: not ours any more)."""
    return db.write(lambda conn: reminder_queries.mark_failed_row(
        conn, reminder_id, worker=worker, error=error, permanent=permanent, max_attempts=max_attempts,
        backoff_s=backoff_s, backoff_max_s=backoff_max_s), isolation=ISOLATION)


def release(db: Database, reminder_ids: list[int], *, worker: str) -> int:
    """Give back claimed reminders that were not tried (shutting down): pending again at once, the
    attempt not counted. Returns how many."""
    if not reminder_ids:
        return 0
    return db.write(lambda conn: reminder_queries.release_rows(conn, reminder_ids, worker=worker),
                    isolation=ISOLATION)


def next_ready(db: Database, channels: list[str]) -> datetime | None:
    """When the next reminder on ``channels`` becomes due (UTC), or None when none is waiting."""
    found = db.read(lambda conn: reminder_queries.next_ready_at(conn, channels))
    return found.astimezone(UTC) if found else None
