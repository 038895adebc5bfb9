"""The clinic's booking policies as pure rules: confirmation, deposits, cancellations, refunds.

No SQL and no Qt: the services call these inside their write transaction with
values they have just read, and the database repeats what it can (migration
0003: the policy snapshot on each appointment, ``cancelled_late`` stamped by
the trigger ``appointment_lifecycle``). Money is in whole cents (``int``);
instants are aware datetimes (any zone; compared as instants).

Where the rules come from (issue 4, "Statuses, confirmation, holds, deposits"):

- **Confirmation mode** per service: ``immediate`` (confirmed at once),
  ``approval`` (``requested`` until a receptionist approves), ``hybrid``
  (immediate for a *known* patient — one with an earlier completed appointment —
  approval for a new one). A service with a deposit starts ``payment_pending``
  instead of ``confirmed`` until payments cover the deposit.
- **Cancellation**: free until ``free_hours`` before the start; later is *late*.
  A clinic cancellation or an early one refunds everything paid; a late
  cancellation by the patient keeps the late fee (at most what was paid; the
  rest of the fee is still owed).
- A **rescheduled** appointment's payments count for the appointment it was
  rescheduled to (``appointment.rescheduled_to``), so nothing is refunded on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import ValidationError
from .formats import formats_for
from .validation import parse_amount

CONFIRMATION_MODES: tuple[str, ...] = ("immediate", "approval", "hybrid")
CANCELLED_BY: tuple[str, ...] = ("patient", "clinic")
PAYMENT_METHODS: tuple[str, ...] = ("cash", "card_terminal", "other")
PAYMENT_PURPOSES: tuple[str, ...] = ("deposit", "fee", "late_cancel_fee", "other")

#: Labels of the payment methods for the desk's screens and receipts.
METHOD_LABELS: dict[str, str] = {"cash": "Cash", "card_terminal": "Card terminal", "other": "Other"}


def check_mode(mode: str) -> str:
    """``mode`` if it is one of ``CONFIRMATION_MODES``, else ``ValidationError("confirmation", …)``."""
    if mode not in CONFIRMATION_MODES:
        raise ValidationError("confirmation", mode, f"must be one of {', '.join(CONFIRMATION_MODES)}")
    return mode


def needs_approval(mode: str, known_patient: bool) -> bool:
    """Whether a new booking waits (``requested``) for a receptionist's approval.

    ``known_patient``: the patient has an earlier completed appointment (only
    ``hybrid`` asks). Raises ``ValidationError`` for an unknown mode.
    """
    check_mode(mode)
    return mode == "approval" or (mode == "hybrid" and not known_patient)


def status_after_approval(deposit_cents: int, paid_cents: int) -> str:
    """The status an approved (or approval-free) booking takes: ``payment_pending`` while the
    payments (net, cents) do not cover the deposit (cents), else ``confirmed``."""
    return "payment_pending" if deposit_cents > 0 and paid_cents < deposit_cents else "confirmed"


def initial_status(mode: str, deposit_cents: int, known_patient: bool, paid_cents: int = 0) -> str:
    """The status a booking starts in when the caller does not force one.

    ``requested`` when it needs approval (:func:`needs_approval`), else
    :func:`status_after_approval`. ``paid_cents``: payments already counted for
    it (a rescheduled appointment's carry over).
    """
    if needs_approval(mode, known_patient):
        return "requested"
    return status_after_approval(deposit_cents, paid_cents)


def is_late(cancelled_at: datetime, starts_at: datetime, free_hours: int) -> bool:
    """Whether a cancellation at ``cancelled_at`` is late: after ``starts_at`` − ``free_hours`` hours
    (the same rule as the trigger's ``cancelled_late``; exactly at the limit is still free)."""
    return cancelled_at > starts_at - timedelta(hours=free_hours)


@dataclass(frozen=True)
class Settlement:
    """What happens to the money of one appointment (cents, all ≥ 0).

    ``kept_cents``: what the clinic keeps of what was paid; ``refund_due_cents``:
    what is still to be handed back; ``owed_cents``: fees not yet covered
    (a late fee beyond what was paid); ``deposit_outstanding_cents``: the part of
    the deposit still to pay before the booking can be confirmed.
    """

    kept_cents: int
    refund_due_cents: int
    owed_cents: int
    deposit_outstanding_cents: int


#: Statuses in which a deposit is still being collected (before the visit).
_COLLECTING = frozenset({"requested", "held", "payment_pending", "confirmed"})


def settle(*, status: str, cancelled_by: str | None, cancelled_late: bool | None, late_fee_cents: int,
           deposit_cents: int, paid_cents: int, refunded_cents: int = 0) -> Settlement:
    """Settle an appointment's account under its own policy snapshot.

    ``paid_cents``: payments taken (its own and those of appointments
    rescheduled into it); ``refunded_cents``: refunds already handed back.
    ``late_fee_cents``/``deposit_cents``: the snapshot on the appointment.

    - ``cancelled`` by the patient and late: the late fee is kept (up to what was
      paid); the rest of the fee is owed; the remainder is refunded.
    - ``cancelled`` otherwise (early, or by the clinic): everything paid is refunded.
    - ``rescheduled``: nothing here (the money counts on the new appointment).
    - any other status: what was paid is kept; the deposit may still be outstanding.
    """
    net = max(0, paid_cents - refunded_cents)
    if status == "rescheduled":
        return Settlement(0, 0, 0, 0)
    if status == "cancelled":
        fee = late_fee_cents if cancelled_by == "patient" and cancelled_late else 0
        kept_of_paid = min(fee, paid_cents)
        due = max(0, paid_cents - kept_of_paid - refunded_cents)
        return Settlement(kept_cents=min(kept_of_paid, net), refund_due_cents=due,
                          owed_cents=max(0, fee - paid_cents), deposit_outstanding_cents=0)
    outstanding = max(0, deposit_cents - net) if status in _COLLECTING else 0
    return Settlement(kept_cents=net, refund_due_cents=0, owed_cents=0, deposit_outstanding_cents=outstanding)


def cancellation_words(*, by: str, late: bool, free_hours: int, late_fee_cents: int, paid_cents: int,
                       refunded_cents: int = 0, money: Callable[[int], str]) -> str:
    """What a cancellation means for the money, in the desk's words, for the confirmation and the
    result message (issue 16): whether it is early or late under the appointment's own policy
    snapshot (``free_hours``, ``late_fee_cents``) and what is kept, refunded or still owed, by
    :func:`settle`'s rules. ``by``: ``"patient"`` or ``"clinic"``; ``late``: :func:`is_late` of the
    cancellation's time; amounts in cents; ``money``: how the branch writes an amount
    (``Formats.money``).

    ``"Late cancellation (less than 48 h before the start): the R$ 15,00 fee is kept, R$ 5,00 will
    be refunded."``
    """
    s = settle(status="cancelled", cancelled_by=by, cancelled_late=late, late_fee_cents=late_fee_cents,
               deposit_cents=0, paid_cents=paid_cents, refunded_cents=refunded_cents)
    refund = f"{money(s.refund_due_cents)} will be refunded" if s.refund_due_cents else ""
    if by != "patient":
        head = "Cancelled by the clinic: no fee"
        return f"{head}; {refund}." if refund else f"{head}, and nothing is to be refunded."
    if not late and late_fee_cents:
        head = f"Early cancellation ({free_hours} h or more before the start): no fee"
        return f"{head}; {refund}." if refund else f"{head}, and nothing is to be refunded."
    if not late_fee_cents:
        head = "No cancellation fee for this appointment"
        return f"{head}; {refund}." if refund else f"{head}, and nothing is to be refunded."
    head = f"Late cancellation (less than {free_hours} h before the start)"
    parts = []
    if s.owed_cents and paid_cents:
        parts.append(f"the fee is {money(late_fee_cents)}: the {money(min(paid_cents, late_fee_cents))} paid is kept "
                     f"and {money(s.owed_cents)} is still owed")
    elif s.owed_cents:
        parts.append(f"the {money(late_fee_cents)} fee is owed (nothing was paid)")
    else:
        parts.append(f"the {money(late_fee_cents)} fee is kept")
    if refund:
        parts.append(refund)
    return f"{head}: {', '.join(parts)}."


def parse_money(value: object, field: str) -> int:
    """Money as written in a config file or typed at the desk (``"20.00"``, ``"20"``, ``20``) → cents;
    ``"0"`` is 0 (a service without a deposit).

    The rules of ``validation.parse_amount`` (one rule for the CLI, the config file and the window):
    a plain decimal with at most two fraction digits. Raises ``ValidationError(field, value, …)``
    for anything else: exponent notation (``"1e6"``), NaN, infinity, a sign (``"-1"``, ``"+5"``),
    more than two decimals, thousands separators, floats (``20.1`` is written ``"20.10"``), bools.
    The clinic's ceiling is the caller's to apply (``services.payments``).
    """
    return parse_amount(value, field, allow_zero=True)


def format_money(cents: int, currency: str, locale: str | None = None) -> str:
    """Integer minor units as the branch's ``locale`` writes them (``domain.formats``, Babel):
    ``2050, "BRL", "pt_BR"`` → ``"R$ 20,50"``; ``2050, "EUR", "pt_PT"`` → ``"20,50 €"``; without a
    locale, ``domain.formats.DEFAULT_LOCALE``'s form (``"€20.50"``). A minus sign for negative amounts.
    Files for machines (CSV) keep plain decimals instead (``reports.csv_export``)."""
    return formats_for(locale, currency).money(cents)
