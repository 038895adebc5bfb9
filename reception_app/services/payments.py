"""Payments at the desk: deposits and fees taken, refunds handed back, an appointment's account.

Rows of ``payment`` are never changed (migration 0003: a refund is a new row
of kind ``refund``); ``payment.client_id`` is unique, so a double click or a
retry after a lost connection records a payment once. No card numbers: the
method is ``cash`` | ``card_terminal`` | ``other`` and a free ``reference``
(the terminal's slip number; the database refuses 12 or more digits in a row).

The money rules (deposit, refunds under the cancellation policy) are
``domain.policy``; here they run inside one SERIALIZABLE transaction with the
amounts read in it. Money is in whole cents; times are UTC.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain import policy
from ..domain.errors import InvalidTransition, NotFound, ValidationError
from ..domain.formats import DEFAULT_LOCALE
from ..domain.status import check_transition
from ..domain.validation import check_text
from ..store.database import Database
from . import checks
from .clinic_config import ClinicProfile, clinic_profile, max_amount_cents

_T = TypeVar("_T")

#: The database's refusals of an amount (migration 0009, trigger ``payment_guard``), by constraint name.
CEILING_CONSTRAINT = "payment_ceiling"
REFUND_LIMIT_CONSTRAINT = "payment_refund_limit"

#: Net paid (payments − refunds) over an appointment and every appointment rescheduled into it
#: (following ``rescheduled_to`` backwards): the deposit moves with the patient's booking.
_PAID_SQL = """
WITH RECURSIVE chain(id) AS (
    SELECT CAST(:a AS bigint)
    UNION
    SELECT a.id FROM appointment a JOIN chain c ON a.rescheduled_to = c.id
)
SELECT coalesce(sum(p.amount_cents) FILTER (WHERE p.kind = 'payment'), 0) AS paid,
       coalesce(sum(p.amount_cents) FILTER (WHERE p.kind = 'refund'), 0) AS refunded
  FROM payment p JOIN chain c ON p.appointment_id = c.id
"""


def paid_and_refunded(conn: Connection, appointment_id: int) -> tuple[int, int]:
    """(payments, refunds) in cents for ``appointment_id``, counting the appointments rescheduled
    into it. Runs inside the caller's transaction."""
    row = conn.execute(text(_PAID_SQL), {"a": appointment_id}).one()
    return int(row.paid), int(row.refunded)


def net_paid_cents(conn: Connection, appointment_id: int) -> int:
    """Payments − refunds, cents (see :func:`paid_and_refunded`)."""
    paid, refunded = paid_and_refunded(conn, appointment_id)
    return paid - refunded


def currency(conn: Connection) -> str:
    """The clinic's ISO 4217 currency (``clinic_setting`` ``currency``, default ``EUR``)."""
    value = conn.execute(text("SELECT value #>> '{}' FROM clinic_setting WHERE key = 'currency'")).scalar()
    return str(value or "EUR")


@dataclass(frozen=True)
class PaymentLine:
    """One row of ``payment``: ``kind`` payment|refund, ``purpose``, ``method``, cents, UTC time."""

    id: int
    client_id: str
    appointment_id: int
    kind: str
    purpose: str
    method: str
    amount_cents: int
    currency: str
    reference: str
    taken_at: datetime
    taken_by: str


@dataclass(frozen=True)
class Account:
    """An appointment's money at the desk (cents; ``start`` UTC).

    ``deposit_cents``/``late_fee_cents``/``free_hours``: the policy snapshot on
    the appointment; ``paid_cents``/``refunded_cents``: over the appointment and
    those rescheduled into it; ``settlement``: ``policy.settle`` of all that;
    ``lines``: this appointment's own payment rows, oldest first; ``locale``: the
    branch's (``branch.locale``), for :meth:`money`.
    """

    appointment_id: int
    patient: str
    service: str
    branch: str
    timezone: str
    start: datetime
    status: str
    currency: str
    deposit_cents: int
    late_fee_cents: int
    free_hours: int
    cancelled_by: str | None
    cancelled_late: bool | None
    paid_cents: int
    refunded_cents: int
    settlement: policy.Settlement
    lines: tuple[PaymentLine, ...]
    locale: str = DEFAULT_LOCALE

    def cancellation_words(self, *, by: str | None = None, at: datetime | None = None) -> str:
        """What cancelling means for this account's money, in the desk's words
        (``policy.cancellation_words``): for a cancelled appointment, as it was cancelled (``by`` and
        ``at`` ignored); otherwise as if cancelled now by ``by`` (``"patient"`` or ``"clinic"``) at
        ``at`` (aware; lateness by the appointment's own policy snapshot)."""
        if self.status == "cancelled":
            who, late = self.cancelled_by or "clinic", bool(self.cancelled_late)
        else:
            if at is None or by is None:
                raise ValueError("by and at are needed for an appointment not cancelled yet")
            who, late = by, policy.is_late(at, self.start, self.free_hours)
        return policy.cancellation_words(by=who, late=late, free_hours=self.free_hours,
                                         late_fee_cents=self.late_fee_cents, paid_cents=self.paid_cents,
                                         refunded_cents=self.refunded_cents, money=self.money)

    @property
    def money_at_stake(self) -> bool:
        """Whether a cancellation moves money: something was paid, or a late fee is owed."""
        return bool(self.paid_cents or self.settlement.owed_cents)

    def money(self, cents: int, currency: str | None = None) -> str:
        """``cents`` in the branch's form (``"R$ 20,00"``; ``domain.formats``), the clinic's
        currency unless another is given."""
        return policy.format_money(cents, currency or self.currency, self.locale)


@dataclass(frozen=True)
class PaymentResult:
    """A recorded payment or refund, the account after it, and whether this call wrote it
    (``False``: the same ``client_id`` was recorded before — a retry or double click)."""

    payment: PaymentLine
    account: Account
    recorded_now: bool


_ACCOUNT_SQL = """
SELECT a.id, a.status, a.starts_at, a.cancelled_by, a.cancelled_late, a.service_id,
       coalesce(a.deposit_cents, 0) AS deposit_cents, coalesce(a.policy_late_fee_cents, 0) AS late_fee_cents,
       coalesce(a.policy_free_hours, 0) AS free_hours,
       p.display_name AS patient, s.name AS service, b.name AS branch, b.timezone, b.locale
  FROM appointment a JOIN patient p ON p.id = a.patient_id JOIN service s ON s.id = a.service_id
  JOIN branch b ON b.id = a.branch_id
 WHERE a.id = :a
"""


def _lines(conn: Connection, appointment_id: int) -> tuple[PaymentLine, ...]:
    rows = conn.execute(text("SELECT * FROM payment WHERE appointment_id = :a ORDER BY taken_at, id"),
                        {"a": appointment_id}).mappings()
    return tuple(_line(r) for r in rows)


def _line(r: Any) -> PaymentLine:
    return PaymentLine(id=int(r["id"]), client_id=str(r["client_id"]), appointment_id=int(r["appointment_id"]),
                       kind=r["kind"], purpose=r["purpose"], method=r["method"], amount_cents=int(r["amount_cents"]),
                       currency=r["currency"], reference=r["reference"], taken_at=r["taken_at"].astimezone(UTC),
                       taken_by=r["taken_by"])


def load_account(conn: Connection, appointment_id: int, *, lock: bool = False) -> Account:
    """The account of one appointment inside the caller's transaction (``lock``: FOR UPDATE of the
    appointment first, so two desks settling it serialize). Raises ``NotFound``."""
    if lock and conn.execute(text("SELECT 1 FROM appointment WHERE id = :a FOR UPDATE"),
                             {"a": appointment_id}).first() is None:
        raise NotFound("appointment", appointment_id)
    row = conn.execute(text(_ACCOUNT_SQL), {"a": appointment_id}).first()
    if row is None:
        raise NotFound("appointment", appointment_id)
    paid, refunded = paid_and_refunded(conn, appointment_id)
    settlement = policy.settle(status=row.status, cancelled_by=row.cancelled_by, cancelled_late=row.cancelled_late,
                               late_fee_cents=row.late_fee_cents, deposit_cents=row.deposit_cents,
                               paid_cents=paid, refunded_cents=refunded)
    return Account(appointment_id=int(row.id), patient=row.patient, service=row.service, branch=row.branch,
                   timezone=row.timezone, start=row.starts_at.astimezone(UTC), status=row.status,
                   currency=currency(conn), deposit_cents=row.deposit_cents, late_fee_cents=row.late_fee_cents,
                   free_hours=row.free_hours, cancelled_by=row.cancelled_by, cancelled_late=row.cancelled_late,
                   paid_cents=paid, refunded_cents=refunded, settlement=settlement,
                   lines=_lines(conn, appointment_id), locale=row.locale or DEFAULT_LOCALE)


def account(db: Database, appointment_id: int) -> Account:
    """The account of an appointment (read-only transaction). Raises ``NotFound``, ``ValidationError``
    (an id that is not a whole number)."""
    checks.record_id(appointment_id, "appointment")
    return db.read(lambda conn: load_account(conn, appointment_id))


def _check_common(appointment_id: int, amount_cents: int, method: str, reference: str,
                  reason: str | None) -> str:
    """What a payment and a refund both check before the transaction; returns the reference, stripped."""
    checks.record_id(appointment_id, "appointment")
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ValidationError("amount", amount_cents, "must be a whole number of cents above 0")
    if method not in policy.PAYMENT_METHODS:
        raise ValidationError("method", method, f"must be one of {', '.join(policy.PAYMENT_METHODS)}")
    checks.optional_text(reason, "reason")
    ref = check_text(reference or "", "reference", max_length=checks.NAME_MAX).strip()
    if sum(ch.isdigit() for ch in ref) >= 12:
        raise ValidationError("reference", ref, "looks like a card number; write the terminal's slip number "
                                                 "instead (never the card's)")
    return ref


def _insert(conn: Connection, cid: uuid.UUID, appointment_id: int, kind: str, purpose: str, method: str,
            amount_cents: int, cur: str, ref: str) -> PaymentLine | None:
    row = conn.execute(text(
        "INSERT INTO payment (client_id, appointment_id, kind, purpose, method, amount_cents, currency, reference) "
        "VALUES (:c, :a, :k, :p, :m, :amt, :cur, :ref) ON CONFLICT (client_id) DO NOTHING RETURNING *"),
        {"c": cid, "a": appointment_id, "k": kind, "p": purpose, "m": method, "amt": amount_cents, "cur": cur,
         "ref": ref}).mappings().first()
    return _line(row) if row is not None else None


def _earlier(conn: Connection, cid: uuid.UUID, appointment_id: int, kind: str,
             amount_cents: int) -> PaymentLine | None:
    """The row an earlier attempt with this client id wrote; the same id for something else is an error."""
    row = conn.execute(text("SELECT * FROM payment WHERE client_id = :c"), {"c": cid}).mappings().first()
    if row is None:
        return None
    line = _line(row)
    if (line.appointment_id, line.kind, line.amount_cents) != (appointment_id, kind, amount_cents):
        raise ValidationError("client_id", str(cid), f"was already used for payment {line.id}")
    return line


def _start(conn: Connection, cid: uuid.UUID, appointment_id: int, kind: str,
           amount_cents: int) -> tuple[Account, PaymentResult | None]:
    """Lock and load the account; with the result of an earlier attempt of this client id, if any.
    A new amount above the clinic's ceiling is refused here (:func:`_check_ceiling`)."""
    before = load_account(conn, appointment_id, lock=True)
    earlier = _earlier(conn, cid, appointment_id, kind, amount_cents)
    if earlier is None:
        _check_ceiling(conn, amount_cents, before.currency)
    return before, (PaymentResult(earlier, before, False) if earlier is not None else None)


def _ceiling_problem(ceiling_cents: int, cur: str) -> str:
    return (f"is more than the clinic's ceiling of {policy.format_money(ceiling_cents, cur)} for one payment or "
            f"refund (setting max_amount_cents)")


def _check_ceiling(conn: Connection, amount_cents: int, cur: str) -> None:
    """``ValidationError("amount", amount_cents, …)`` naming the ceiling when ``amount_cents`` is above the
    clinic's setting ``max_amount_cents`` (``clinic_config.max_amount_cents``, default 500000 cents), read
    in the caller's transaction — before the database's trigger refuses it."""
    ceiling = max_amount_cents(conn)
    if amount_cents > ceiling:
        raise ValidationError("amount", amount_cents, _ceiling_problem(ceiling, cur))


def write_money(db: Database, work: Callable[[Connection], _T], *, amount_cents: int, reason: str) -> _T:
    """``db.write(work)`` for a transaction that inserts one payment or refund of ``amount_cents``, with
    the database's refusals of the amount (trigger ``payment_guard``: ``payment_ceiling``,
    ``payment_refund_limit``, which the runner reports as ``ValidationError`` with the constraint as
    the field) said as ``ValidationError("amount", amount_cents, …)`` in plain words. Other errors
    pass unchanged; nothing is written on any error."""
    try:
        return db.write(work, reason=reason)
    except ValidationError as exc:
        if exc.field == CEILING_CONSTRAINT:
            ceiling, cur = db.read(lambda conn: (max_amount_cents(conn), currency(conn)))
            raise ValidationError("amount", amount_cents, _ceiling_problem(ceiling, cur)) from exc
        if exc.field == REFUND_LIMIT_CONSTRAINT:
            raise ValidationError("amount", amount_cents, "is more than what was paid for this appointment "
                                                         "(less the refunds already given)") from exc
        raise


def record_payment(db: Database, appointment_id: int, *, amount_cents: int, method: str,
                   purpose: str = "deposit", reference: str = "", client_id: uuid.UUID | str | None = None,
                   reason: str | None = None) -> PaymentResult:
    """Record money taken at the desk for an appointment, in one SERIALIZABLE transaction.

    ``amount_cents`` > 0; ``method`` in ``policy.PAYMENT_METHODS``; ``purpose``
    in ``policy.PAYMENT_PURPOSES``; ``reference``: the terminal's slip number or
    a note (never a card number). ``client_id`` (a UUID the caller makes once
    per intended payment) makes a double click or a retry record it once: the
    second call returns the first row with ``recorded_now=False``.

    When the appointment is ``payment_pending`` and the payments (with those of
    appointments rescheduled into it) now cover its deposit, it becomes
    ``confirmed`` in the same transaction (issue 4, "Deposits").

    Raises ``NotFound`` (appointment), ``ValidationError`` (amount — not a whole number of cents
    above 0, or above the clinic's ceiling ``max_amount_cents``, naming it —, method, purpose,
    reference or reason holding a control character, a client id that is not a UUID or was used for
    another payment; a payment on a rescheduled appointment — take it on the new one),
    ``PermissionDenied``. Nothing is written on any error.
    """
    ref = _check_common(appointment_id, amount_cents, method, reference, reason)
    if purpose not in policy.PAYMENT_PURPOSES:
        raise ValidationError("purpose", purpose, f"must be one of {', '.join(policy.PAYMENT_PURPOSES)}")
    cid = checks.client_id(client_id)

    def work(conn: Connection) -> PaymentResult:
        before, replay = _start(conn, cid, appointment_id, "payment", amount_cents)
        if replay is not None:
            return replay
        if before.status == "rescheduled":
            raise ValidationError("appointment", appointment_id,
                                  "was rescheduled; take the payment on the new appointment")
        line = _insert(conn, cid, appointment_id, "payment", purpose, method, amount_cents, before.currency, ref)
        assert line is not None  # the client id was checked above, in this transaction
        if before.status == "payment_pending" and \
                policy.status_after_approval(before.deposit_cents, before.paid_cents - before.refunded_cents
                                             + amount_cents) == "confirmed":
            check_transition("payment_pending", "confirmed")
            conn.execute(text("UPDATE appointment SET status = 'confirmed', status_reason = 'deposit paid', "
                              "updated_at = now() WHERE id = :a"), {"a": appointment_id})
        return PaymentResult(line, load_account(conn, appointment_id), True)

    return write_money(db, work, amount_cents=amount_cents, reason=reason or f"payment {method}")


def record_refund(db: Database, appointment_id: int, *, amount_cents: int, method: str, reference: str = "",
                  client_id: uuid.UUID | str | None = None, reason: str | None = None) -> PaymentResult:
    """Record money handed back, at most the refund due under the appointment's policy
    (``policy.settle``: everything paid on an early or clinic cancellation; paid − late fee on a
    late cancellation by the patient). One SERIALIZABLE transaction; ``client_id`` as in
    :func:`record_payment`.

    Raises ``NotFound``, ``ValidationError`` (amount above the refund due, above what was paid or
    above the clinic's ceiling — ``field="amount"`` —, method, reference or reason holding a
    control character, a client id that is not a UUID or was reused),
    ``InvalidTransition`` (no refund is due: the appointment is not cancelled). Nothing is
    written on any error.
    """
    ref = _check_common(appointment_id, amount_cents, method, reference, reason)
    cid = checks.client_id(client_id)

    def work(conn: Connection) -> PaymentResult:
        before, replay = _start(conn, cid, appointment_id, "refund", amount_cents)
        if replay is not None:
            return replay
        due = before.settlement.refund_due_cents
        if before.status != "cancelled":
            raise InvalidTransition("A refund is due only on a cancelled appointment.")
        if amount_cents > due:
            raise ValidationError("amount", amount_cents,
                                  f"is more than the refund due ({policy.format_money(due, before.currency)})")
        line = _insert(conn, cid, appointment_id, "refund", "deposit" if before.deposit_cents else "other",
                       method, amount_cents, before.currency, ref)
        assert line is not None
        return PaymentResult(line, load_account(conn, appointment_id), True)

    return write_money(db, work, amount_cents=amount_cents, reason=reason or f"refund {method}")


def cancellation_counts(db: Database, *, branch_id: int | None = None, since: datetime | None = None,
                        until: datetime | None = None) -> dict[str, int]:
    """Cancellations counted apart by policy: ``{"early": n, "late": n, "by_clinic": n}`` for
    appointments starting in [since, until) (UTC; open bounds when None). ``early``/``late`` count
    the patient's cancellations only; the clinic's are ``by_clinic`` (expired holds excluded, and
    online holds that never had a patient: released by the visitor or run out, migration 0014)."""
    def work(conn: Connection) -> dict[str, int]:
        row = conn.execute(text(
            "SELECT count(*) FILTER (WHERE cancelled_by = 'patient' AND NOT cancelled_late) AS early, "
            "       count(*) FILTER (WHERE cancelled_by = 'patient' AND cancelled_late) AS late, "
            "       count(*) FILTER (WHERE cancelled_by = 'clinic') AS by_clinic "
            "  FROM appointment WHERE status = 'cancelled' AND coalesce(status_reason, '') <> 'hold expired' "
            "   AND patient_id IS NOT NULL "
            "   AND (CAST(:b AS integer) IS NULL OR branch_id = :b) "
            "   AND (CAST(:lo AS timestamptz) IS NULL OR starts_at >= :lo) "
            "   AND (CAST(:hi AS timestamptz) IS NULL OR starts_at < :hi)"),
            {"b": branch_id, "lo": since, "hi": until}).one()
        return {"early": int(row.early), "late": int(row.late), "by_clinic": int(row.by_clinic)}

    return db.read(work)


# -- receipts ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Receipt:
    """One receipt as the database numbered it (table ``receipt``, migration 0013).

    ``number``: 1, 2, 3 … with no gaps, clinic-wide; ``paid_cents``/``refunded_cents``: the totals it
    states (the database's sums over the appointment's reschedule chain at issue); ``issued_at``:
    UTC; ``issued_by``: the database login that issued it; ``copy``: this print repeats an earlier
    receipt of the same totals (nothing changed since), so it carries that receipt's number.
    """

    number: int
    appointment_id: int
    paid_cents: int
    refunded_cents: int
    issued_at: datetime
    issued_by: str
    copy: bool = False


@dataclass(frozen=True)
class ReceiptData:
    """What a printed receipt says, read in the transaction that numbered it: the ``receipt``, the
    ``account`` it states and the clinic's ``profile`` (legal name, address, tax number)."""

    receipt: Receipt
    account: Account
    profile: ClinicProfile


def issue_receipt(db: Database, appointment_id: int) -> ReceiptData:
    """Number a receipt for ``appointment_id`` and read what it states, in one SERIALIZABLE write.

    When the appointment's last receipt states the same totals as now (nothing paid or refunded
    since), that receipt is returned again as a ``copy`` and no number is used; otherwise a new row
    takes the next number (the database's, ``receipt_issue()``: the transaction that prints is the
    one that numbers, so an abandoned print leaves no gap; two desks at once are serialized and the
    runner retries). Raises ``NotFound``, ``ValidationError`` (an id that is not a whole number),
    ``PermissionDenied`` for a role that may not issue receipts (doctors, the reminder service).
    """
    checks.record_id(appointment_id, "appointment")

    def work(conn: Connection) -> ReceiptData:
        account = load_account(conn, appointment_id, lock=True)
        last = conn.execute(text(
            "SELECT number, appointment_id, paid_cents, refunded_cents, issued_at, issued_by FROM receipt "
            "WHERE appointment_id = :a ORDER BY number DESC LIMIT 1"), {"a": appointment_id}).first()
        if last is not None and (last.paid_cents, last.refunded_cents) == (account.paid_cents, account.refunded_cents):
            receipt = Receipt(int(last.number), int(last.appointment_id), int(last.paid_cents),
                              int(last.refunded_cents), last.issued_at.astimezone(UTC), last.issued_by, copy=True)
        else:
            row = conn.execute(text(
                "INSERT INTO receipt (appointment_id) VALUES (:a) "
                "RETURNING number, appointment_id, paid_cents, refunded_cents, issued_at, issued_by"),
                {"a": appointment_id}).one()
            receipt = Receipt(int(row.number), int(row.appointment_id), int(row.paid_cents), int(row.refunded_cents),
                              row.issued_at.astimezone(UTC), row.issued_by)
        return ReceiptData(receipt, account, clinic_profile(conn))

    return db.write(work, reason=f"receipt for appointment {appointment_id}")


# -- refunds due -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RefundDue:
    """A refund the policy owes and that has not been handed back yet (cents; ``start`` and
    ``cancelled_at`` UTC): the appointment, its patient and phone (E.164, to call), service and
    branch, ``refund_due_cents`` and ``method``: how it was paid (the last payment's method: the
    usual way to hand it back). ``account``: the appointment's whole account."""

    appointment_id: int
    patient: str
    phone: str | None
    service: str
    branch: str
    start: datetime
    cancelled_at: datetime | None
    refund_due_cents: int
    method: str
    account: Account


_REFUND_CANDIDATES = """
SELECT a.id, a.cancelled_at, p.phone
  FROM appointment a JOIN patient p ON p.id = a.patient_id JOIN branch b ON b.id = a.branch_id
 WHERE a.status = 'cancelled'
   AND (CAST(:branch AS text) IS NULL OR b.name = :branch)
   AND EXISTS (SELECT 1 FROM payment x WHERE x.appointment_id = a.id AND x.kind = 'payment')
 ORDER BY a.cancelled_at NULLS LAST, a.id
"""


def refunds_due(db: Database, *, branch: str | None = None) -> list[RefundDue]:
    """Every cancelled appointment whose policy still owes the patient money (``policy.settle``'s
    refund due > 0), oldest cancellation first; ``branch``: a branch's name, or every branch. One
    read. The payments rescheduled into an appointment count on the appointment they moved to."""
    def work(conn: Connection) -> list[RefundDue]:
        out = []
        for row in conn.execute(text(_REFUND_CANDIDATES), {"branch": branch}).all():
            account = load_account(conn, int(row.id))
            due = account.settlement.refund_due_cents
            if due <= 0:
                continue
            paid = [line for line in account.lines if line.kind == "payment"]
            out.append(RefundDue(account.appointment_id, account.patient, row.phone, account.service,
                                 account.branch, account.start,
                                 row.cancelled_at.astimezone(UTC) if row.cancelled_at else None,
                                 due, paid[-1].method if paid else "cash", account))
        return out
    return db.read(work)
