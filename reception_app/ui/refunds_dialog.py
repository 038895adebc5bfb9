"""Refunds due: every refund the cancellation policy owes and nobody has handed back yet, with one
action to record it (issue 16 §3). For the desk and the manager (Clinic → Refunds due…).

Each row: when it was cancelled, the patient and their phone (to call), the appointment, the
branch, the refund due in the branch's money and how it was paid. "Record refund" hands back the
whole amount due by the way it was paid (``payments.record_refund``: the database refuses more than
is due, and a retry after a lost connection records once); "Payments…" opens the appointment's
payments for anything else (part of it, another method).
"""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError
from ..domain.formats import formats_for
from ..domain.policy import METHOD_LABELS
from ..services import payments
from ..services.payments import PaymentResult, RefundDue
from ..store.database import Database
from .colors import ERROR_TEXT_STYLE, MessageLabel
from .runner import Runner

#: The table's columns, in order.
COLUMNS = ("Cancelled", "Patient", "Phone", "Appointment", "Branch", "Refund due", "Paid by")


class RefundsDueDialog(QDialog):
    """The refunds due (``payments.refunds_due``), of ``branch`` (a name) or of every branch.

    Signals:
        refunds_loaded(int): the list arrived (how many rows).
        refund_recorded(object): "Record refund" committed: its ``PaymentResult``.
        payments_requested(int): "Payments…" for this appointment id (the window opens them).
    """

    refunds_loaded = Signal(int)
    refund_recorded = Signal(object)
    payments_requested = Signal(int)

    def __init__(self, db: Database, runner: Runner, *, branch: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._runner = runner
        self._branch = branch
        self._rows: list[RefundDue] = []
        self._pending: dict[int, uuid.UUID] = {}   # appointment id → the client id of its refund in flight
        self._key = f"refunds-due-{id(self)}"
        self.setObjectName("refundsDueDialog")
        self.setWindowTitle("Refunds due" + (f" — {branch}" if branch else ""))
        self.setAccessibleName("Refunds due")
        self.resize(980, 420)
        layout = QVBoxLayout(self)
        self.summary_label = QLabel("Loading…")
        self.summary_label.setObjectName("refundsSummary")
        layout.addWidget(self.summary_label)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("refundsTable")
        self.table.setAccessibleName("Refunds due")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)
        self.error_label = MessageLabel("refundsError", style=ERROR_TEXT_STYLE)
        layout.addWidget(self.error_label)
        self.status_label = QLabel("")
        self.status_label.setObjectName("refundsStatus")
        layout.addWidget(self.status_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.record_button = QPushButton("&Record refund")
        self.record_button.setObjectName("recordRefund")
        self.record_button.clicked.connect(self.record_selected)
        self.payments_button = QPushButton("&Payments…")
        self.payments_button.setObjectName("openPayments")
        self.payments_button.clicked.connect(self._open_payments)
        self.reload_button = QPushButton("Re&load")
        self.reload_button.clicked.connect(self.reload)
        for button in (self.record_button, self.payments_button, self.reload_button):
            button.setAutoDefault(False)
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAutoDefault(False)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.record_button.setDefault(True)   # Enter records the selected refund
        self._update_buttons()

    # -- public -------------------------------------------------------------------------------------
    @property
    def rows(self) -> list[RefundDue]:
        """The refunds listed, in table order."""
        return list(self._rows)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.reload()

    def reload(self) -> None:
        """Read the refunds due again (in the background)."""
        db, branch = self._db, self._branch
        self._runner.run(lambda: payments.refunds_due(db, branch=branch), on_success=self._on_loaded,
                         on_failure=self._show_error, key=self._key, label="refunds due")

    def record_selected(self) -> None:
        """Hand back the selected row's whole refund due, by the way it was paid."""
        row = self._selected()
        if row is None or row.appointment_id in self._pending:
            return
        cid = self._pending.setdefault(row.appointment_id, uuid.uuid4())
        db = self._db
        self.error_label.hide()
        self._update_buttons()
        self._runner.run(
            lambda: payments.record_refund(db, row.appointment_id, amount_cents=row.refund_due_cents,
                                           method=row.method, client_id=cid),
            on_success=lambda result: self._on_recorded(row, result),
            on_failure=self._show_error,
            on_finished=lambda: self._on_record_finished(row.appointment_id),
            key=f"{self._key}-record-{row.appointment_id}", label="record refund")

    def done(self, result: int) -> None:
        """Drop the answers still on their way (the dialog is closing)."""
        self._runner.discard(self._key)
        super().done(result)

    # -- private ------------------------------------------------------------------------------------
    def _selected(self) -> RefundDue | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        return self._rows[min(rows)] if rows and min(rows) < len(self._rows) else None

    def _on_loaded(self, rows: list[RefundDue]) -> None:
        keep = self._selected()
        self._rows = rows
        self.table.setRowCount(len(rows))
        for r, due in enumerate(rows):
            fmt = formats_for(due.account.locale, due.account.currency)
            zone = ZoneInfo(due.account.timezone)
            start = due.start.astimezone(zone)
            cancelled = due.cancelled_at.astimezone(zone) if due.cancelled_at else None
            cells = (fmt.date_text(cancelled.date()) + " " + fmt.time_text(cancelled) if cancelled else "",
                     due.patient, fmt.phone(due.phone),
                     f"{due.service}, {fmt.day_text(start.date())} {fmt.time_text(start)}", due.branch,
                     due.account.money(due.refund_due_cents), METHOD_LABELS.get(due.method, due.method))
            for c, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if c == 5:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.summary_label.setText(
            "No refunds are due." if not rows else
            f"{len(rows)} refund{'s' if len(rows) != 1 else ''} due: the cancellation policy owes these patients "
            "money back. Record each one as you hand it back.")
        again = next((i for i, r in enumerate(rows) if keep and r.appointment_id == keep.appointment_id), 0)
        if rows:
            self.table.selectRow(again)
        self._update_buttons()
        self.refunds_loaded.emit(len(rows))

    def _on_recorded(self, row: RefundDue, result: PaymentResult) -> None:
        self.status_label.setText(f"Refund of {result.account.money(result.payment.amount_cents)} to {row.patient} "
                                  f"recorded ({METHOD_LABELS.get(row.method, row.method).lower()}).")
        self.refund_recorded.emit(result)
        self.reload()

    def _on_record_finished(self, appointment_id: int) -> None:
        self._pending.pop(appointment_id, None)
        self._update_buttons()

    def _open_payments(self) -> None:
        row = self._selected()
        if row is not None:
            self.payments_requested.emit(row.appointment_id)

    def _show_error(self, error: ClinicError) -> None:
        self.error_label.setText(str(error))
        self.error_label.show()

    def _update_buttons(self) -> None:
        row = self._selected()
        self.record_button.setEnabled(row is not None and row.appointment_id not in self._pending)
        self.payments_button.setEnabled(row is not None)
