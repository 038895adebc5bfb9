"""Appointment statuses and the transitions between them.

The rule lives in the database too (table ``status_transition`` and a trigger,
migration 0001); ``tests/db`` checks the two agree. Names follow FHIR's
Appointment.status where they exist (booked → ``confirmed`` here, arrived →
``checked_in``, fulfilled → ``completed``, noshow → ``no_show``).

Which statuses occupy their resources: every status except ``cancelled`` and
``rescheduled`` (SQL function ``clinic_status_is_live``). A no-show keeps its
time: it happened, and utilization counts it as booked time. A ``held``
appointment occupies its resources only until its ``hold_expires_at``
(migration 0003): after that it blocks nobody, and the next booking in its
way (or the sweeper) cancels it with the reason "hold expired".

Before the visit an appointment is confirmed in steps (issue 4; the rules are
``domain.policy``): ``requested`` (waiting for approval), ``held`` (kept for a
few minutes while the patient is on the phone), ``payment_pending`` (the
deposit is not paid yet) — :data:`UNCONFIRMED` — then ``confirmed``.
A ``rescheduled`` appointment names its successor (``appointment.rescheduled_to``).
"""

from __future__ import annotations

from .errors import InvalidTransition

STATUSES: tuple[str, ...] = (
    "requested", "held", "confirmed", "payment_pending", "checked_in",
    "in_progress", "completed", "cancelled", "no_show", "rescheduled",
)

RELEASED: frozenset[str] = frozenset({"cancelled", "rescheduled"})

#: Booked but not confirmed yet: confirming needs approval, the hold's confirmation or the deposit.
UNCONFIRMED: frozenset[str] = frozenset({"requested", "held", "payment_pending"})

#: Outcome is known: the statuses the no-show report counts.
OUTCOMES: frozenset[str] = frozenset({"completed", "no_show"})

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "requested": ("confirmed", "held", "payment_pending", "cancelled", "rescheduled"),
    "held": ("confirmed", "requested", "payment_pending", "cancelled"),
    "payment_pending": ("confirmed", "cancelled", "rescheduled", "held"),
    "confirmed": ("checked_in", "cancelled", "no_show", "rescheduled", "payment_pending"),
    "checked_in": ("in_progress", "completed", "cancelled"),
    "in_progress": ("completed",),
    "no_show": ("checked_in",),
    "completed": (),
    "cancelled": (),
    "rescheduled": (),
}

#: Human labels for the window and reports.
LABELS: dict[str, str] = {
    "requested": "Requested", "held": "On hold", "confirmed": "Confirmed",
    "payment_pending": "Payment pending", "checked_in": "Checked in", "in_progress": "In progress",
    "completed": "Completed", "cancelled": "Cancelled", "no_show": "No-show", "rescheduled": "Rescheduled",
}


def check_transition(old: str, new: str) -> None:
    """Raise ``InvalidTransition`` unless ``old`` → ``new`` is allowed."""
    if new not in TRANSITIONS.get(old, ()):
        raise InvalidTransition(f"An appointment that is {LABELS.get(old, old).lower()} cannot become "
                                f"{LABELS.get(new, new).lower()}.")


#: Minutes after an appointment's start before the desk offers "No-show" (a patient a few minutes late
#: is not a no-show yet).
NO_SHOW_GRACE_MINUTES = 15
