"""Payments at the desk for one appointment: take a payment, record a refund, print the receipt.

Shows the deposit, what was paid and refunded, the deposit still to pay and
the refund due under the cancellation policy (``services.payments`` /
``domain.policy``), with the lines taken so far. Every database call goes
through the shared :class:`~.runner.Runner`; the dialog never blocks.

One payment, one client id: the id is made when the form is ready for a new
payment and kept until that payment is recorded, so a double click, a second
Enter or a retry after a lost connection records it once (``payment.client_id``
is unique). A payment that covers a ``payment_pending`` deposit confirms the
appointment in the same transaction (the status line says so).

The receipt is ``reports.receipt.receipt_pdf``, shown in the print preview
(``ui.print_preview``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from html import escape
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain import policy
from ..domain.errors import ClinicError, ValidationError
from ..domain.formats import Formats, formats_for
from ..domain.status import LABELS
from ..reports.receipt import receipt_lines, receipt_number_text, receipt_pdf
from ..services import payments
from ..services.payments import Account, PaymentResult, ReceiptData
from ..store.database import Database
from . import print_preview
from .colors import MessageLabel
from .runner import Clock, Runner

_PURPOSE_LABELS = {"deposit": "Deposit", "fee": "Fee", "late_cancel_fee": "Late cancellation fee", "other": "Other"}


class PaymentDialog(QDialog):
    """Take payments and record refunds for the appointment ``appointment_id``.

    ``clinic``: the clinic's name for the receipt's header when the clinic config names none;
    ``printed_by``: the person's name (``window_base.printed_by``); ``clock``: the current aware time (the receipt's
    "printed at"). Keys: Enter takes the payment (the default button), Esc closes.

    Signals:
        account_loaded(object): the account (``payments.Account``) was (re)loaded.
        payment_recorded(object): a payment or refund committed: its ``PaymentResult``
            (the grid behind should reload: the status may have changed).
        failed(str): a payment or refund was refused: the message shown.
        receipt_issued(object): "Print receipt" numbered one: its ``payments.ReceiptData``.
        receipt_opened(object): the receipt's print preview dialog is open.
    """

    account_loaded = Signal(object)
    payment_recorded = Signal(object)
    failed = Signal(str)
    receipt_issued = Signal(object)
    receipt_opened = Signal(object)

    def __init__(self, db: Database, runner: Runner, *, appointment_id: int, clinic: str = "",
                 printed_by: str = "", clock: Clock | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._runner = runner
        self._appointment_id = appointment_id
        self._clinic = clinic
        self._printed_by = printed_by
        self._clock = clock or (lambda: datetime.now(UTC))
        self._account: Account | None = None
        self._pending = False
        self._client_id = uuid.uuid4()
        self._key = f"payment-{id(self)}"
        self.setObjectName("paymentDialog")
        self.setWindowTitle("Payments")
        self.setAccessibleName("Payments for an appointment")
        self.setModal(True)
        self.resize(620, 480)

        v = QVBoxLayout(self)
        self.about_label = QLabel("Loading…")
        self.about_label.setObjectName("paymentAbout")
        self.about_label.setWordWrap(True)
        v.addWidget(self.about_label)

        self.summary_label = QLabel()
        self.summary_label.setObjectName("paymentSummary")
        self.summary_label.setAccessibleName("Deposit, paid and refund due")
        v.addWidget(self.summary_label)

        self.lines_tree = QTreeWidget()
        self.lines_tree.setObjectName("paymentLines")
        self.lines_tree.setAccessibleName("Payments and refunds taken")
        self.lines_tree.setHeaderLabels(["Time", "Kind", "For", "Method", "Reference", "Amount"])
        self.lines_tree.setRootIsDecorated(False)
        self.lines_tree.headerItem().setTextAlignment(5, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.lines_tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        v.addWidget(self.lines_tree, 1)

        form = QFormLayout()
        self.amount_edit = QLineEdit()
        self.amount_edit.setObjectName("paymentAmount")
        self.amount_edit.setAccessibleName("Amount")
        self.amount_edit.setPlaceholderText("e.g. 20.00")
        self.amount_edit.textEdited.connect(self._on_form_edited)
        self.amount_label = QLabel("&Amount")
        self.amount_label.setBuddy(self.amount_edit)
        form.addRow(self.amount_label, self.amount_edit)
        self.method_combo = QComboBox()
        self.method_combo.setObjectName("paymentMethod")
        self.method_combo.setAccessibleName("Method")
        for method in policy.PAYMENT_METHODS:
            self.method_combo.addItem(policy.METHOD_LABELS[method], method)
        self.method_combo.currentIndexChanged.connect(self._on_form_edited)
        form.addRow("&Method", self.method_combo)
        self.purpose_combo = QComboBox()
        self.purpose_combo.setObjectName("paymentPurpose")
        self.purpose_combo.setAccessibleName("Paid for")
        for purpose in policy.PAYMENT_PURPOSES:
            self.purpose_combo.addItem(_PURPOSE_LABELS[purpose], purpose)
        self.purpose_combo.currentIndexChanged.connect(self._on_form_edited)
        form.addRow("&For", self.purpose_combo)
        self.reference_edit = QLineEdit()
        self.reference_edit.setObjectName("paymentReference")
        self.reference_edit.setAccessibleName("Reference")
        self.reference_edit.setPlaceholderText("terminal slip number (never the card number)")
        self.reference_edit.textEdited.connect(self._on_form_edited)
        form.addRow("&Reference", self.reference_edit)
        v.addLayout(form)

        self.error_label = MessageLabel("paymentError")
        v.addWidget(self.error_label)
        self.status_label = QLabel()
        self.status_label.setObjectName("paymentStatus")
        v.addWidget(self.status_label)

        self.buttons = QDialogButtonBox()
        self.pay_button = QPushButton("Take &payment")
        self.pay_button.setObjectName("takePayment")
        self.pay_button.setDefault(True)
        self.refund_button = QPushButton("Record re&fund")
        self.refund_button.setObjectName("recordRefund")
        self.receipt_button = QPushButton("Print &receipt…")
        self.receipt_button.setObjectName("printReceipt")
        self.buttons.addButton(self.pay_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.refund_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.receipt_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)
        self.pay_button.clicked.connect(self.take_payment)
        self.refund_button.clicked.connect(self.record_refund)
        self.receipt_button.clicked.connect(self.print_receipt)
        v.addWidget(self.buttons)
        self._update_buttons()

    # -- public ---------------------------------------------------------------------------------------
    @property
    def account(self) -> Account | None:
        """The account as last loaded (``None`` before the first load)."""
        return self._account

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._account is None:
            self.reload()

    def reload(self) -> None:
        """Load the account in the background (``account_loaded`` when shown)."""
        db, appointment_id = self._db, self._appointment_id
        self._runner.run(lambda: payments.account(db, appointment_id), on_success=self._on_account_loaded,
                         on_failure=self._show_error, key=self._key, label="load payments")

    def take_payment(self) -> None:
        """Record the amount typed as a payment (its client id is kept until it commits)."""
        self._submit(refund=False)

    def record_refund(self) -> None:
        """Record the amount typed as a refund (at most the refund due; the server checks)."""
        self._submit(refund=True)

    def print_receipt(self) -> None:
        """Number the receipt (``payments.issue_receipt``: the database's next number, or the last
        receipt again as a copy when nothing changed since) in the background, then open its print
        preview (``receipt_opened``). Refusals are shown in the dialog."""
        if self._account is None or self._pending:
            return
        db, appointment_id = self._db, self._appointment_id
        self.receipt_button.setEnabled(False)
        self._runner.run(lambda: payments.issue_receipt(db, appointment_id), on_success=self._on_receipt_issued,
                         on_failure=self._show_error, on_finished=self._update_buttons, key=f"{self._key}-receipt",
                         label="issue receipt")

    def receipt_pdf(self, data: ReceiptData) -> bytes:
        """The receipt ``data`` as PDF bytes, printed by this desk's person at the clock's time."""
        return receipt_pdf(data, clinic=self._clinic, printed_by=self._printed_by, printed_at=self._clock())

    def _on_receipt_issued(self, data: ReceiptData) -> None:
        self.receipt_issued.emit(data)
        number = receipt_number_text(data.receipt.number)
        self.status_label.setText(f"Receipt no. {number} (a copy: nothing changed since it was issued)."
                                  if data.receipt.copy else f"Receipt no. {number} issued.")
        preview = print_preview.preview_pdf(self, self.receipt_pdf(data), f"Receipt — {data.account.patient}")
        if preview is not None:
            self.receipt_opened.emit(preview)

    def _formats(self) -> Formats:
        account = self._account
        return formats_for(account.locale if account else None, account.currency if account else None)

    # -- private --------------------------------------------------------------------------------------
    def _submit(self, *, refund: bool) -> None:
        if self._pending or self._account is None:
            return
        try:
            cents = self._formats().parse_amount(self.amount_edit.text(), "amount")
            if cents == 0:
                raise ValidationError("amount", self.amount_edit.text(), "must be more than 0")
        except ValidationError as exc:
            self._show_error(exc)
            self.amount_edit.setFocus()
            return
        db, appointment_id, cid = self._db, self._appointment_id, self._client_id
        method = str(self.method_combo.currentData())
        reference = self.reference_edit.text()
        purpose = str(self.purpose_combo.currentData())

        def work() -> PaymentResult:
            if refund:
                return payments.record_refund(db, appointment_id, amount_cents=cents, method=method,
                                              reference=reference, client_id=cid)
            return payments.record_payment(db, appointment_id, amount_cents=cents, method=method,
                                           purpose=purpose, reference=reference, client_id=cid)

        self._pending = True
        self.error_label.hide()
        self._update_buttons()
        self.status_label.setText("Recording the refund…" if refund else "Recording the payment…")
        self._runner.run(work, on_success=self._on_recorded, on_failure=self._on_failed,
                         on_finished=self._on_finished, label="record refund" if refund else "record payment")

    def _on_recorded(self, result: PaymentResult) -> None:
        before = self._account.status if self._account is not None else None
        self._client_id = uuid.uuid4()  # the next payment is a new one
        self.amount_edit.clear()
        self.reference_edit.clear()
        kind = "Refund" if result.payment.kind == "refund" else "Payment"
        text = f"{kind} of {result.account.money(result.payment.amount_cents, result.payment.currency)} recorded."
        if before != result.account.status:
            text += f" The appointment is now {LABELS.get(result.account.status, result.account.status).lower()}."
        self._on_account_loaded(result.account)
        self.status_label.setText(text)
        self.payment_recorded.emit(result)

    def _on_failed(self, error: ClinicError) -> None:
        self.status_label.clear()
        self._show_error(error)
        self.failed.emit(str(error))

    def _on_finished(self) -> None:
        self._pending = False
        self._update_buttons()

    def _show_error(self, error: Exception) -> None:
        self.error_label.setText(str(error))
        self.error_label.show()

    def _on_form_edited(self, *_args: object) -> None:
        # A changed amount, method or reference is a different payment: a fresh client id.
        if not self._pending:
            self._client_id = uuid.uuid4()
        self.error_label.hide()

    def _on_account_loaded(self, account: Account) -> None:
        self._account = account
        tz = ZoneInfo(account.timezone)
        start = account.start.astimezone(tz)
        self.setWindowTitle(f"Payments — {account.patient}")
        fmt = formats_for(account.locale, account.currency)
        self.about_label.setText(f"<b>{escape(account.patient)}</b> — {escape(account.service)}, "
                                 f"{fmt.day_text(start.date())} {fmt.time_text(start)} "
                                 f"({escape(LABELS.get(account.status, account.status))})")
        self.summary_label.setText("<br>".join(f"{escape(label)}: <b>{escape(value)}</b>"
                                               for label, value in receipt_lines(account)))
        self.amount_label.setText(f"&Amount ({account.currency})")
        self.lines_tree.clear()
        for line in account.lines:
            sign = -1 if line.kind == "refund" else 1
            taken = line.taken_at.astimezone(tz)
            item = QTreeWidgetItem(self.lines_tree, [
                f"{fmt.date_text(taken.date())} {fmt.time_text(taken)}", "Refund" if line.kind == "refund" else "Payment",
                _PURPOSE_LABELS.get(line.purpose, line.purpose), policy.METHOD_LABELS.get(line.method, line.method),
                line.reference, account.money(sign * line.amount_cents, line.currency)])
            item.setTextAlignment(5, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        s = account.settlement
        suggested = s.refund_due_cents if account.status == "cancelled" else s.deposit_outstanding_cents
        if not self.amount_edit.text() and suggested:
            self.amount_edit.setText(fmt.amount_text(suggested))
        purpose = "deposit" if s.deposit_outstanding_cents else ("late_cancel_fee" if s.owed_cents else "fee")
        self.purpose_combo.setCurrentIndex(policy.PAYMENT_PURPOSES.index(purpose))
        self._client_id = uuid.uuid4()
        self._update_buttons()
        self.account_loaded.emit(account)

    def _update_buttons(self) -> None:
        loaded = self._account is not None
        self.pay_button.setEnabled(loaded and not self._pending and self._account is not None
                                   and self._account.status != "rescheduled")
        self.refund_button.setEnabled(loaded and not self._pending and self._account is not None
                                      and self._account.settlement.refund_due_cents > 0)
        self.receipt_button.setEnabled(loaded)
