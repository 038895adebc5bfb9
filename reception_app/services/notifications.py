"""Queue a message to a patient about an appointment, for the reminder service to send.

Every notice the lifecycle produces (a waitlist offer, a roster change that
moves or cancels a patient, a payment reminder) is a row of table ``reminder``
written in the same transaction as the change that causes it, so it is never
lost and never sent for a change that rolled back. The reminder service
(``clinic-reminders``) claims and sends the rows.

Channels: only those the patient consented to (``patient.consent_channels``);
a patient with no consented channel gets a ``file`` row, which the service
writes to its outbox folder so that reception can see it must phone them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from .catalog import fetch

#: Purposes the reminder table accepts (migration 0001, ``reminder.purpose``).
PURPOSES: tuple[str, ...] = ("confirmation", "reminder", "payment", "follow_up", "waitlist_offer",
                             "roster_change")


def queue_notification(conn: Connection, appointment_id: int, purpose: str, *,
                       due_at: datetime | None = None) -> list[int]:
    """Queue ``purpose`` for the patient of ``appointment_id`` on each consented channel, due at
    ``due_at`` (UTC; default: the transaction's ``now()``, i.e. at once). Returns the new reminder ids.

    Runs inside the caller's transaction (``conn``). Raises ``ValueError`` for an
    unknown purpose (a programming error, not user input).
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown notification purpose {purpose!r}")
    rows = fetch(conn,
        "INSERT INTO reminder (appointment_id, channel, purpose, due_at) "
        "SELECT a.id, ch, %(p)s, coalesce(%(due)s, now()) FROM appointment a JOIN patient p ON p.id = a.patient_id, "
        "     unnest(CASE WHEN cardinality(p.consent_channels) = 0 THEN ARRAY['file'] "
        "                 ELSE p.consent_channels END) AS ch "
        "WHERE a.id = %(a)s RETURNING id",
        {"a": appointment_id, "p": purpose, "due": due_at})
    return [int(r[0]) for r in rows]
