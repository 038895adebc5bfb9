"""The payment dialog against the test database: deposit shown, a payment confirms, a double click
records once, a refund after a cancellation, the receipt as a PDF."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtPrintSupport import QPrintPreviewWidget
from sqlalchemy import text

from reception_app.services import payments, scheduling
from reception_app.ui.payment_dialog import PaymentDialog
from reception_app.ui.runner import Runner
from tests.unit.test_day_sheet import pages

from .conftest import NOW, Booked


def _with_deposit(booked: Booked, cents: int = 2000) -> int:
    """Give Maria's appointment a deposit to pay: payment_pending with ``cents`` due."""
    appointment_id = booked.first.id
    booked.db.write(lambda c: c.execute(text(
        "UPDATE appointment SET deposit_cents = :d, status = 'payment_pending' WHERE id = :i"),
        {"d": cents, "i": appointment_id}))
    return appointment_id


def _shown(qtbot, booked: Booked, runner: Runner, appointment_id: int) -> PaymentDialog:
    dialog = PaymentDialog(booked.db, runner, appointment_id=appointment_id, clinic="Clínica Teste",
                           printed_by="maria", clock=lambda: NOW)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.account_loaded, timeout=10_000):
        dialog.show()
    return dialog


def test_shows_the_deposit_and_a_payment_confirms_the_appointment(qtbot, booked: Booked, runner: Runner):
    appointment_id = _with_deposit(booked)
    dialog = _shown(qtbot, booked, runner, appointment_id)
    assert "Deposit required: <b>€20.00</b>" in dialog.summary_label.text()
    assert "Deposit still to pay: <b>€20.00</b>" in dialog.summary_label.text()
    assert dialog.amount_edit.text() == "20.00"          # the outstanding deposit is proposed
    assert dialog.purpose_combo.currentData() == "deposit"
    assert not dialog.refund_button.isEnabled()
    dialog.method_combo.setCurrentIndex(dialog.method_combo.findData("card_terminal"))
    qtbot.keyClicks(dialog.reference_edit, "slip 77")
    with qtbot.waitSignal(dialog.payment_recorded, timeout=10_000) as recorded:
        qtbot.keyClick(dialog.amount_edit, Qt.Key.Key_Return)   # Enter: the default button
    assert recorded.args[0].account.status == "confirmed"
    assert "now confirmed" in dialog.status_label.text()
    assert scheduling.get_appointment(booked.db, appointment_id).status == "confirmed"
    assert dialog.lines_tree.topLevelItemCount() == 1
    assert dialog.lines_tree.topLevelItem(0).text(4) == "slip 77"


def test_a_double_click_records_one_payment(qtbot, booked: Booked, runner: Runner):
    appointment_id = _with_deposit(booked)
    dialog = _shown(qtbot, booked, runner, appointment_id)
    with qtbot.waitSignal(dialog.payment_recorded, timeout=10_000):
        dialog.pay_button.click()
        dialog.pay_button.click()      # ignored: the first one is on its way
        dialog.take_payment()
    qtbot.waitUntil(lambda: dialog.pay_button.isEnabled(), timeout=10_000)
    assert len(payments.account(booked.db, appointment_id).lines) == 1


def test_a_bad_amount_is_shown_and_nothing_is_recorded(qtbot, booked: Booked, runner: Runner):
    dialog = _shown(qtbot, booked, runner, booked.first.id)
    dialog.amount_edit.setText("12.345")
    dialog.take_payment()
    assert dialog.error_label.isVisible() and "decimals" in dialog.error_label.text()
    dialog.amount_edit.setText("20.00")          # a fine amount: the reference is what is wrong
    qtbot.keyClicks(dialog.reference_edit, "4111 1111 1111 1111")
    with qtbot.waitSignal(dialog.failed, timeout=10_000) as failed:
        dialog.take_payment()
    assert "card number" in failed.args[0]
    assert payments.account(booked.db, booked.first.id).lines == ()


def test_a_refund_after_a_clinic_cancellation_and_the_receipt(qtbot, booked: Booked, runner: Runner):
    appointment_id = _with_deposit(booked)
    payments.record_payment(booked.db, appointment_id, amount_cents=2000, method="cash")
    scheduling.cancel(booked.db, appointment_id, reason="doctor ill")
    dialog = _shown(qtbot, booked, runner, appointment_id)
    assert "Refund due: <b>€20.00</b>" in dialog.summary_label.text()
    assert dialog.refund_button.isEnabled() and dialog.amount_edit.text() == "20.00"
    with qtbot.waitSignal(dialog.payment_recorded, timeout=10_000) as recorded:
        dialog.refund_button.click()
    assert recorded.args[0].payment.kind == "refund"
    assert "Refund due: <b>€0.00</b>" in dialog.summary_label.text()
    assert not dialog.refund_button.isEnabled()
    with qtbot.waitSignal(dialog.receipt_opened, timeout=10_000), \
            qtbot.waitSignal(dialog.receipt_issued, timeout=10_000) as issued:
        dialog.print_receipt()
    data = issued.args[0]
    assert not data.receipt.copy and (data.receipt.paid_cents, data.receipt.refunded_cents) == (2000, 2000)
    number = f"{data.receipt.number:06d}"
    assert dialog.status_label.text() == f"Receipt no. {number} issued."
    words = "\n".join(pages(dialog.receipt_pdf(data)))
    assert f"Receipt no. {number}" in words and "Receipt for" in words and "-€20.00" in words
    assert "Refund due" in words
    # Printed again with nothing paid since: the same number, as a copy (no number is used up).
    with qtbot.waitSignal(dialog.receipt_issued, timeout=10_000) as again:
        dialog.print_receipt()
    assert again.args[0].receipt.copy and again.args[0].receipt.number == data.receipt.number
    assert "(copy)" in "\n".join(pages(dialog.receipt_pdf(again.args[0])))


def test_print_receipt_opens_the_preview_of_the_receipt(qtbot, booked: Booked, runner: Runner):
    from reception_app.ui.print_preview import PdfPrintJob

    dialog = _shown(qtbot, booked, runner, booked.first.id)
    with qtbot.waitSignal(dialog.receipt_opened, timeout=10_000) as opened:
        dialog.print_receipt()
    preview = opened.args[0]
    qtbot.waitUntil(preview.isVisible)
    assert preview.windowTitle() == "Print preview — Receipt — Maria Silva"
    job = preview.findChild(PdfPrintJob, "pdfPrintJob")
    assert job is not None and job.page_count == 1
    qtbot.waitUntil(lambda: preview.findChild(QPrintPreviewWidget).pageCount() == 1)
    # Left open: it goes with its parent at teardown (close() here crashed the offscreen process in
    # ui.print_preview; see the report).


# -- the lifecycle actions of the context-menu table (ui.appointment_actions) -------------------------------
def test_lifecycle_actions_are_offered_by_status_and_perform_the_right_service(booked: Booked):
    from datetime import timedelta

    from reception_app.ui.appointment_actions import (
        ACTIONS,
        LIFECYCLE_ACTIONS,
        PAYMENT_ACTION,
        lifecycle_allowed,
        perform,
    )

    by_key = {a.key: a for a in LIFECYCLE_ACTIONS}
    assert lifecycle_allowed(by_key["confirm_hold"], "held") and not lifecycle_allowed(by_key["confirm_hold"],
                                                                                        "confirmed")
    assert lifecycle_allowed(by_key["approve"], "requested") and not lifecycle_allowed(by_key["approve"], None)
    assert lifecycle_allowed(by_key["cancel_by_patient"], "confirmed")
    assert not lifecycle_allowed(by_key["cancel_by_patient"], "completed")
    assert not lifecycle_allowed(PAYMENT_ACTION, "rescheduled") and lifecycle_allowed(PAYMENT_ACTION, "cancelled")
    shortcuts = [a.shortcut for a in (*ACTIONS, *LIFECYCLE_ACTIONS, PAYMENT_ACTION)]
    assert len(shortcuts) == len(set(shortcuts))

    common = {"branch": "Centro", "service": booked.first.service, "patient_id": booked.maria, "now": NOW}
    held = scheduling.hold(booked.db, start=booked.first.start + timedelta(days=1), **common)
    assert perform(booked.db, by_key["confirm_hold"], held.id).status == "confirmed"
    cancelled = perform(booked.db, by_key["cancel_by_patient"], held.id, "patient called")
    assert cancelled.status == "cancelled"
    assert payments.account(booked.db, held.id).cancelled_by == "patient"
    request = scheduling.book(booked.db, start=booked.first.start + timedelta(days=2), status="requested", **common)
    assert perform(booked.db, by_key["approve"], request.id).status == "confirmed"
    clinic_cancel = next(a for a in ACTIONS if a.key == "cancel")
    assert perform(booked.db, clinic_cancel, request.id, "doctor ill").status == "cancelled"
    assert payments.account(booked.db, request.id).cancelled_by == "clinic"


# -- "Hold slot" in the booking dialog (ui.booking_dialog) ----------------------------------------------
def _booking_dialog(qtbot, booked: Booked, runner: Runner, centro):
    from reception_app.ui.booking_dialog import BookingDialog

    from .conftest import DAY

    dialog = BookingDialog(booked.db, runner, branch=centro, local_date=DAY, clock=lambda: NOW, search_delay_ms=0)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.service_combo.count() > 0)
    index = next(i for i, s in enumerate(dialog.services) if s.name == "Abdominal ultrasound")
    if dialog.service_combo.currentIndex() != index:
        with qtbot.waitSignal(dialog.slots_listed):
            dialog.service_combo.setCurrentIndex(index)
    with qtbot.waitSignal(dialog.patients_listed):
        qtbot.keyClicks(dialog.search_edit, "joao")
    dialog.patient_list.setCurrentRow(0)
    # the free starts are listed again for the patient chosen (their own appointments left out)
    qtbot.waitUntil(lambda: dialog.offers_for_patient == dialog.patient.id, timeout=10_000)
    qtbot.waitUntil(lambda: dialog.slot_tree.topLevelItemCount() > 0)
    dialog.slot_tree.setCurrentItem(dialog.slot_tree.topLevelItem(0))
    return dialog


def test_hold_slot_then_confirm_books_it_by_the_service_rules(qtbot, booked: Booked, runner: Runner, centro):
    booked.db.write(lambda c: c.execute(text(
        "UPDATE service SET deposit_cents = 2500, late_cancel_fee_cents = 1000 WHERE name = 'Abdominal ultrasound'")))
    dialog = _booking_dialog(qtbot, booked, runner, centro)
    qtbot.waitUntil(lambda: "Deposit €25.00" in dialog.terms_label.text())
    assert "then €10.00" in dialog.terms_label.text()
    assert dialog.hold_button.isEnabled() and dialog.hold_button.text() == "Hold slot"
    with qtbot.waitSignal(dialog.appointment_held, timeout=10_000) as held:
        qtbot.mouseClick(dialog.hold_button, Qt.MouseButton.LeftButton)
    hold = held.args[0]
    assert hold.status == "held" and hold.hold_expires_at is not None
    assert scheduling.get_appointment(booked.db, hold.id).status == "held"
    assert dialog.hold_button.text() == "Confirm hold" and not dialog.book_button.isEnabled()
    assert "Held until" in dialog.message_label.text()
    with qtbot.waitSignal(dialog.appointment_booked, timeout=10_000) as done:
        qtbot.mouseClick(dialog.hold_button, Qt.MouseButton.LeftButton)
    assert done.args[0].id == hold.id and done.args[0].status == "payment_pending"  # the deposit is due
    assert not dialog.isVisible()


def test_closing_the_dialog_releases_an_unconfirmed_hold(qtbot, booked: Booked, runner: Runner, centro):
    dialog = _booking_dialog(qtbot, booked, runner, centro)
    with qtbot.waitSignal(dialog.appointment_held, timeout=10_000) as held:
        dialog.hold_button.click()
    hold_id = held.args[0].id
    dialog.reject()
    qtbot.waitUntil(lambda: scheduling.get_appointment(booked.db, hold_id).status == "cancelled", timeout=10_000)


def test_a_hold_has_a_look_of_its_own() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from PySide6.QtCore import Qt as _Qt

    from reception_app.ui import colors

    assert colors.border_pen("held").style() == _Qt.PenStyle.DashLine
    assert colors.border_pen("confirmed").style() == _Qt.PenStyle.SolidLine
    held, pending = colors.status_colors("held"), colors.status_colors("payment_pending")
    assert (held.fill, held.accent) != (pending.fill, pending.accent)
    assert colors.hold_text(datetime(2027, 1, 4, 11, 5, tzinfo=UTC), ZoneInfo("America/Sao_Paulo")) == \
        "On hold until 08:05"
    assert colors.hold_text(None, ZoneInfo("UTC")) == ""
