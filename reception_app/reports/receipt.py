"""The desk's receipt for an appointment's payments and refunds, as PDF (reportlab; no SQL, no Qt).

One A4 page in the shared frame (``pdf_common``): the clinic's legal name, address and tax number
(``[clinic]`` of the clinic config), the receipt's number (the database's gap-free sequence,
``services.payments.issue_receipt``; "Copy" when it repeats an earlier receipt of the same totals),
who and what (patient, service, the branch-local start, status), the lines taken (time, kind,
purpose, method, reference, amount) and the totals — paid, refunded, still due back or owed,
deposit outstanding. Dates, times and money in the branch's form (``domain.formats``: "R$ 20,00",
"04/01/2027 10:15"); the branch is named once, in the header. No card data exists to print
(``services.payments``).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer

from ..domain.formats import formats_for
from ..domain.policy import METHOD_LABELS
from ..domain.status import LABELS
from ..services.payments import Account, ReceiptData
from .pdf_common import A4_PORTRAIT, ReportMeta, build_pdf, cell, data_table, printable, styles

_PURPOSES = {"deposit": "Deposit", "fee": "Fee", "late_cancel_fee": "Late cancellation fee", "other": "Other"}


def receipt_number_text(number: int) -> str:
    """``42`` → ``"000042"``: how a receipt number is printed (six digits, more when it grows)."""
    return f"{number:06d}"


def receipt_lines(account: Account) -> list[tuple[str, str]]:
    """The receipt's summary as (label, value) pairs, in print order (also shown by the payment dialog)."""
    s, money = account.settlement, account.money
    out = [("Deposit required", money(account.deposit_cents)),
           ("Paid", money(account.paid_cents)),
           ("Refunded", money(account.refunded_cents))]
    if s.deposit_outstanding_cents:
        out.append(("Deposit still to pay", money(s.deposit_outstanding_cents)))
    if account.status == "cancelled":
        who = "by the patient" if account.cancelled_by == "patient" else "by the clinic"
        when = "late" if account.cancelled_late else "in time"
        out.append(("Cancelled", f"{who}, {when}"))
        out.append(("Kept (late cancellation fee)", money(s.kept_cents)))
        out.append(("Refund due", money(s.refund_due_cents)))
        if s.owed_cents:
            out.append(("Still owed", money(s.owed_cents)))
    return out


def receipt_pdf(data: ReceiptData, *, printed_by: str, printed_at: datetime, clinic: str = "") -> bytes:
    """The receipt ``data`` (``services.payments.issue_receipt``) as PDF bytes. ``printed_by``: the
    person's name; ``printed_at``: aware (shown in the branch's zone and form); ``clinic``: the
    clinic's name when its profile names none (the header then shows the branch alone if both are
    empty).

    Raises ``ValueError`` for a naive ``printed_at``.
    """
    account, receipt, profile = data.account, data.receipt, data.profile
    tz = ZoneInfo(account.timezone)
    fmt = formats_for(account.locale, account.currency)
    st = styles()
    start = account.start.astimezone(tz)
    number = receipt_number_text(receipt.number)
    issued = receipt.issued_at.astimezone(tz)
    title = f"Receipt no. {number}" + (" (copy)" if receipt.copy else "")
    meta = ReportMeta(clinic=profile.name or clinic, branch=account.branch, title=title,
                      period=f"Issued {fmt.date_text(issued.date())} {fmt.time_text(issued)}",
                      printed_by=printed_by, printed_at=printed_at, tz=tz, pagesize=A4_PORTRAIT, formats=fmt)
    story: list[Flowable] = []
    issuer = [line for line in (profile.legal_name, *profile.address.splitlines(), profile.tax_id) if line]
    if issuer:
        story.append(Paragraph("<br/>".join(printable(line) for line in issuer), st["body"]))
        story.append(Spacer(1, 4 * mm))
    story += [
        Paragraph(printable(f"Receipt for {account.patient}"), st["heading"]),
        Paragraph(printable(f"{account.service} · {fmt.day_text(start.date())} {fmt.time_text(start)} · "
                            f"{LABELS.get(account.status, account.status)}"), st["body"]),
    ]
    if receipt.copy:
        story.append(Paragraph(printable(f"Copy of receipt no. {number}: nothing was paid or refunded since it "
                                         "was issued."), st["note"]))
    story.append(Spacer(1, 5 * mm))
    rows = []
    for line in account.lines:
        sign = -1 if line.kind == "refund" else 1
        taken = line.taken_at.astimezone(tz)
        rows.append([cell(f"{fmt.date_text(taken.date())} {fmt.time_text(taken)}", st["cell"]),
                     cell("Refund" if line.kind == "refund" else "Payment", st["cell"]),
                     cell(_PURPOSES.get(line.purpose, line.purpose), st["cell"]),
                     cell(METHOD_LABELS.get(line.method, line.method), st["cell"], small=line.reference or None),
                     cell(fmt.money(sign * line.amount_cents, line.currency), st["cell_right"])])
    if rows:
        story.append(data_table(["Time", "Kind", "For", "Method", "Amount"], rows,
                                [32 * mm, 22 * mm, 40 * mm, 50 * mm, 30 * mm], header_style=st["head"]))
    else:
        story.append(Paragraph("No payments recorded.", st["note"]))
    story.append(Spacer(1, 6 * mm))
    summary = [[cell(label, st["cell_bold"]), cell(value, st["cell_right"])] for label, value in receipt_lines(account)]
    story.append(data_table(["Summary", ""], summary, [60 * mm, 40 * mm], header_style=st["head"], zebra=False))
    return build_pdf(story, meta)
