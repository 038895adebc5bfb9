"""The desk's receipt for an appointment's payments and refunds, as PDF (reportlab; no SQL, no Qt).

One A4 page in the shared frame (``pdf_common``): who and what (patient,
service, branch-local start, status), the lines taken (time, kind, purpose,
method, reference, amount) and the totals — paid, refunded, still due back or
owed, deposit outstanding. Amounts in the clinic's currency; times on the
branch's wall clock. No card data exists to print (``services.payments``).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer

from ..domain.policy import METHOD_LABELS, format_money
from ..domain.status import LABELS
from ..services.payments import Account
from .pdf_common import A4_PORTRAIT, ReportMeta, build_pdf, cell, data_table, printable, styles

_PURPOSES = {"deposit": "Deposit", "fee": "Fee", "late_cancel_fee": "Late cancellation fee", "other": "Other"}


def receipt_lines(account: Account) -> list[tuple[str, str]]:
    """The receipt's summary as (label, value) pairs, in print order (also shown by the payment dialog)."""
    cur, s = account.currency, account.settlement
    out = [("Deposit required", format_money(account.deposit_cents, cur)),
           ("Paid", format_money(account.paid_cents, cur)),
           ("Refunded", format_money(account.refunded_cents, cur))]
    if s.deposit_outstanding_cents:
        out.append(("Deposit still to pay", format_money(s.deposit_outstanding_cents, cur)))
    if account.status == "cancelled":
        who = "by the patient" if account.cancelled_by == "patient" else "by the clinic"
        when = "late" if account.cancelled_late else "in time"
        out.append(("Cancelled", f"{who}, {when}"))
        out.append(("Kept (late cancellation fee)", format_money(s.kept_cents, cur)))
        out.append(("Refund due", format_money(s.refund_due_cents, cur)))
        if s.owed_cents:
            out.append(("Still owed", format_money(s.owed_cents, cur)))
    return out


def receipt_pdf(account: Account, *, clinic: str, printed_by: str, printed_at: datetime) -> bytes:
    """The receipt of ``account`` as PDF bytes. ``printed_at``: aware (shown in the branch's zone).

    Raises ``ValueError`` for a naive ``printed_at``.
    """
    tz = ZoneInfo(account.timezone)
    st = styles()
    start = account.start.astimezone(tz)
    meta = ReportMeta(clinic=clinic, branch=account.branch, title=f"Receipt — appointment {account.appointment_id}",
                      period=f"{start:%A, %d %B %Y %H:%M}", printed_by=printed_by, printed_at=printed_at, tz=tz,
                      pagesize=A4_PORTRAIT)
    story: list[Flowable] = [
        Paragraph(printable(f"Receipt for {account.patient}"), st["heading"]),
        Paragraph(printable(f"{account.service} · {start:%Y-%m-%d %H:%M} · "
                            f"{LABELS.get(account.status, account.status)}"), st["body"]),
        Spacer(1, 5 * mm),
    ]
    rows = []
    for line in account.lines:
        sign = -1 if line.kind == "refund" else 1
        rows.append([cell(f"{line.taken_at.astimezone(tz):%Y-%m-%d %H:%M}", st["cell"]),
                     cell("Refund" if line.kind == "refund" else "Payment", st["cell"]),
                     cell(_PURPOSES.get(line.purpose, line.purpose), st["cell"]),
                     cell(METHOD_LABELS.get(line.method, line.method), st["cell"], small=line.reference or None),
                     cell(format_money(sign * line.amount_cents, line.currency), st["cell_right"])])
    if rows:
        story.append(data_table(["Time", "Kind", "For", "Method", "Amount"], rows,
                                [32 * mm, 22 * mm, 40 * mm, 50 * mm, 30 * mm], header_style=st["head"]))
    else:
        story.append(Paragraph("No payments recorded.", st["note"]))
    story.append(Spacer(1, 6 * mm))
    summary = [[cell(label, st["cell_bold"]), cell(value, st["cell_right"])] for label, value in receipt_lines(account)]
    story.append(data_table(["Summary", ""], summary, [60 * mm, 40 * mm], header_style=st["head"], zebra=False))
    return build_pdf(story, meta)
