"""Cancelling says what happens to the money before and after (issue 16 §3), in the branch's form:
late or early under the appointment's policy, the fee kept, the refund — keys only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import text

from reception_app.services import clinic_config, payments, scheduling
from reception_app.ui.appointment_actions import CancelReasonDialog

from .conftest import Booked, at, make_window, select_block


def _policy(booked: Booked, locale: str, currency: str) -> int:
    """Maria's 08:00 under a 48-hour policy with a R$/£ 15.00 late fee, R$/£ 20.00 paid; the branch
    in ``locale``."""
    clinic_config.apply(booked.db, {"clinic": {"currency": currency},
                                    "branch": [{"name": "Centro", "timezone": "America/Sao_Paulo", "locale": locale}]})
    booked.db.write(lambda c: c.execute(text(
        "UPDATE appointment SET policy_free_hours = 48, policy_late_fee_cents = 1500, deposit_cents = 2000 "
        "WHERE id = :i"), {"i": booked.first.id}))
    payments.record_payment(booked.db, booked.first.id, amount_cents=2000, method="cash")
    return booked.first.id


@pytest.mark.parametrize("locale, currency, late_words, early_words", [
    ("pt_BR", "BRL", "Late cancellation (less than 48 h before the start): the R$ 15,00 fee is kept, "
                     "R$ 5,00 will be refunded.",
     "Early cancellation (48 h or more before the start): no fee; R$ 20,00 will be refunded."),
    ("en_GB", "GBP", "Late cancellation (less than 48 h before the start): the £15.00 fee is kept, "
                     "£5.00 will be refunded.",
     "Early cancellation (48 h or more before the start): no fee; £20.00 will be refunded."),
])
def test_a_late_cancellation_by_the_patient_says_the_fee_and_the_refund_before_and_after(
        qtbot, booked: Booked, runner, locale: str, currency: str, late_words: str, early_words: str) -> None:
    appointment_id = _policy(booked, locale, currency)
    clock = {"now": at(8) - timedelta(hours=20)}   # 20 h before the start: late
    w = make_window(qtbot, booked.db, runner, clock=lambda: clock["now"])
    with qtbot.waitSignal(w.day_loaded, timeout=10_000):
        w.show()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    select_block(w, booked.first)
    w.grid.setFocus()

    # Early first (the question only; Esc keeps the appointment): three days before.
    clock["now"] = at(8) - timedelta(hours=72)
    with qtbot.waitSignal(w.appointment_actions.cancel_terms_shown, timeout=10_000) as early:
        qtbot.keyClick(w.grid, Qt.Key.Key_Delete, Qt.KeyboardModifier.ShiftModifier)   # Cancelled by patient…
    assert early.args[0] == early_words
    dialog = next(d for d in w.findChildren(CancelReasonDialog) if d.isVisible())
    qtbot.keyClick(dialog.reason_edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    w.grid.setFocus()

    clock["now"] = at(8) - timedelta(hours=20)
    with qtbot.waitSignal(w.appointment_actions.cancel_terms_shown, timeout=10_000) as late:
        qtbot.keyClick(w.grid, Qt.Key.Key_Delete, Qt.KeyboardModifier.ShiftModifier)
    assert late.args[0] == late_words
    dialog = next(d for d in w.findChildren(CancelReasonDialog) if d.isVisible())
    assert dialog.terms_label.text() == f"<b>{late_words}</b>"   # a fee: in bold
    qtbot.keyClicks(dialog.reason_edit, "Patient called: travelling")
    with qtbot.waitSignal(w.appointment_changed, timeout=10_000) as changed:
        qtbot.keyClick(dialog.reason_edit, Qt.Key.Key_Return)
    assert changed.args[0].status == "cancelled"
    # The result repeats it — by the database's own clock the cancellation is weeks early (the day
    # is in 2027), so the result says what the database decided, not what the window's clock said.
    account = payments.account(booked.db, appointment_id)
    assert account.cancelled_by == "patient"
    assert w.statusBar().currentMessage() == \
        f"Cancelled (by the patient): Maria Silva 08:00 — {account.cancellation_words()}"
    assert scheduling.get_appointment(booked.db, appointment_id).status == "cancelled"
