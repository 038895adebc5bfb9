"""Refunds due (issue 16 §3): every refund the policy owes, listed with the patient's phone and the
amount in the branch's money, recorded with one action — and then gone from the list."""

from __future__ import annotations

from PySide6.QtCore import Qt

from reception_app.services import clinic_config, payments, scheduling
from reception_app.ui.refunds_dialog import RefundsDueDialog

from .conftest import NOW, Booked


def test_a_refund_due_is_listed_and_recorded_with_one_action(qtbot, booked: Booked, runner) -> None:
    clinic_config.apply(booked.db, {"clinic": {"currency": "BRL"},
                                    "branch": [{"name": "Centro", "timezone": "America/Sao_Paulo", "locale": "pt_BR"}]})
    payments.record_payment(booked.db, booked.first.id, amount_cents=2500, method="card_terminal", reference="POS 1234")
    payments.record_payment(booked.db, booked.second.id, amount_cents=1000, method="cash")   # not cancelled
    scheduling.cancel(booked.db, booked.first.id, reason="doctor ill", now=NOW)               # by the clinic
    dialog = RefundsDueDialog(booked.db, runner)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.refunds_loaded, timeout=10_000) as loaded:
        dialog.show()
    assert loaded.args[0] == 1
    row = [dialog.table.item(0, c).text() for c in range(dialog.table.columnCount())]
    assert row[1:] == ["Maria Silva", "(27) 99999-0001", "Abdominal ultrasound, Mon 04/01/2027 08:00", "Centro",
                       "R$ 25,00", "Card terminal"]
    assert dialog.summary_label.text().startswith("1 refund due")
    assert dialog.record_button.isEnabled() and dialog.record_button.isDefault()

    dialog.table.setFocus()
    with qtbot.waitSignal(dialog.refund_recorded, timeout=10_000) as recorded, \
            qtbot.waitSignal(dialog.refunds_loaded, timeout=10_000) as again:
        qtbot.keyClick(dialog.table, Qt.Key.Key_Return)   # Enter: the default button, "Record refund"
    assert recorded.args[0].payment.kind == "refund" and recorded.args[0].payment.amount_cents == 2500
    assert recorded.args[0].payment.method == "card_terminal"
    assert again.args[0] == 0 and dialog.summary_label.text() == "No refunds are due."
    assert dialog.status_label.text() == "Refund of R$ 25,00 to Maria Silva recorded (card terminal)."
    assert payments.account(booked.db, booked.first.id).settlement.refund_due_cents == 0
    assert not dialog.record_button.isEnabled()


def test_the_window_offers_refunds_due_to_the_desk(qtbot, window) -> None:
    assert window.refunds_due_action.isVisible() and window.refunds_due_action.shortcut().toString() == "Ctrl+Shift+K"
    dialog = window.open_refunds_due()
    assert isinstance(dialog, RefundsDueDialog)
    qtbot.waitUntil(lambda: dialog.summary_label.text() == "No refunds are due.", timeout=10_000)
