"""Payments at the desk: a deposit confirms in the same transaction, a retry records once, refunds
follow the cancellation policy, the money follows a rescheduled booking (issue 4)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import InvalidTransition, PermissionDenied, ValidationError
from reception_app.services import patients, payments, scheduling

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)
US = "Abdominal ultrasound"


@pytest.fixture
def patient(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-09-09").id


@pytest.fixture
def deposit_service(clinic_db) -> None:
    clinic_db.write(lambda c: c.execute(text(
        "UPDATE service SET deposit_cents = 2000, late_cancel_fee_cents = 1500, cancel_free_hours = 24 "
        "WHERE name = :s"), {"s": US}))


def book(db, patient_id, start=T0, **kw):
    return scheduling.book(db, **{"branch": "Centro", "service": US, "start": start, "patient_id": patient_id,
                                  "now": NOW, **kw})


def test_a_payment_covering_the_deposit_confirms_in_the_same_transaction(clinic_db, patient, deposit_service):
    appt = book(clinic_db, patient)
    part = payments.record_payment(clinic_db, appt.id, amount_cents=500, method="cash")
    assert part.account.status == "payment_pending"
    assert part.account.settlement.deposit_outstanding_cents == 1500
    rest = payments.record_payment(clinic_db, appt.id, amount_cents=1500, method="card_terminal",
                                   reference="slip 0042")
    assert rest.recorded_now and rest.account.status == "confirmed"
    assert scheduling.get_appointment(clinic_db, appt.id).status == "confirmed"
    assert rest.account.paid_cents == 2000 and rest.account.currency == "EUR"
    assert [line.method for line in rest.account.lines] == ["cash", "card_terminal"]


def test_the_same_payment_twice_is_recorded_once(clinic_db, patient, deposit_service):
    appt = book(clinic_db, patient)
    cid = uuid.uuid4()
    first = payments.record_payment(clinic_db, appt.id, amount_cents=2000, method="cash", client_id=cid)
    again = payments.record_payment(clinic_db, appt.id, amount_cents=2000, method="cash", client_id=cid)
    assert first.recorded_now and not again.recorded_now and again.payment.id == first.payment.id
    assert payments.account(clinic_db, appt.id).paid_cents == 2000
    with pytest.raises(ValidationError) as info:  # the same id for another amount is a mistake, not a retry
        payments.record_payment(clinic_db, appt.id, amount_cents=100, method="cash", client_id=cid)
    assert info.value.field == "client_id"


@pytest.mark.parametrize(("kw", "field"), [
    ({"amount_cents": 0, "method": "cash"}, "amount"),
    ({"amount_cents": 100, "method": "cheque"}, "method"),
    ({"amount_cents": 100, "method": "card_terminal", "reference": "4111 1111 1111 1111"}, "reference"),
    ({"amount_cents": 100, "method": "cash", "purpose": "tip"}, "purpose"),
])
def test_bad_payments_are_refused_naming_the_field_and_nothing_is_written(clinic_db, patient, kw, field):
    appt = book(clinic_db, patient)
    with pytest.raises(ValidationError) as info:
        payments.record_payment(clinic_db, appt.id, **kw)
    assert info.value.field == field
    assert payments.account(clinic_db, appt.id).lines == ()


def test_an_early_cancellation_refunds_the_deposit_in_full(clinic_db, patient, deposit_service):
    appt = book(clinic_db, patient)
    payments.record_payment(clinic_db, appt.id, amount_cents=2000, method="cash")
    scheduling.cancel(clinic_db, appt.id, reason="patient called", by="patient")
    acct = payments.account(clinic_db, appt.id)
    assert acct.cancelled_late is False and acct.settlement.refund_due_cents == 2000
    with pytest.raises(ValidationError) as info:
        payments.record_refund(clinic_db, appt.id, amount_cents=2001, method="cash")
    assert info.value.field == "amount"
    done = payments.record_refund(clinic_db, appt.id, amount_cents=2000, method="cash")
    assert done.account.settlement.refund_due_cents == 0 and done.account.refunded_cents == 2000
    assert done.payment.kind == "refund"


def test_a_late_patient_cancellation_keeps_the_late_fee(clinic_db, patient, deposit_service):
    appt = book(clinic_db, patient)
    payments.record_payment(clinic_db, appt.id, amount_cents=2000, method="cash")
    # Late by the copied policy: free until 60 days before (the server's clock decides lateness).
    clinic_db.write(lambda c: c.execute(text("UPDATE appointment SET policy_free_hours = 24 * 3650 WHERE id = :i"),
                                        {"i": appt.id}))
    scheduling.cancel(clinic_db, appt.id, reason="forgot", by="patient")
    acct = payments.account(clinic_db, appt.id)
    assert acct.cancelled_late is True
    assert (acct.settlement.kept_cents, acct.settlement.refund_due_cents) == (1500, 500)


def test_a_clinic_cancellation_refunds_in_full_even_when_late(clinic_db, patient, deposit_service):
    appt = book(clinic_db, patient)
    payments.record_payment(clinic_db, appt.id, amount_cents=2000, method="cash")
    clinic_db.write(lambda c: c.execute(text("UPDATE appointment SET policy_free_hours = 24 * 3650 WHERE id = :i"),
                                        {"i": appt.id}))
    scheduling.cancel(clinic_db, appt.id, reason="doctor ill")
    assert payments.account(clinic_db, appt.id).settlement.refund_due_cents == 2000


def test_no_refund_on_a_live_appointment(clinic_db, patient, deposit_service):
    appt = book(clinic_db, patient)
    payments.record_payment(clinic_db, appt.id, amount_cents=2000, method="cash")
    with pytest.raises(InvalidTransition):
        payments.record_refund(clinic_db, appt.id, amount_cents=100, method="cash")


def test_the_deposit_follows_a_rescheduled_booking(clinic_db, patient, deposit_service):
    appt = book(clinic_db, patient)
    payments.record_payment(clinic_db, appt.id, amount_cents=2000, method="cash")
    new = scheduling.reschedule(clinic_db, appt.id, start=T0 + timedelta(days=1), now=NOW).new
    assert new.status == "confirmed"
    assert payments.account(clinic_db, new.id).paid_cents == 2000
    assert payments.account(clinic_db, appt.id).settlement.refund_due_cents == 0
    with pytest.raises(ValidationError):
        payments.record_payment(clinic_db, appt.id, amount_cents=100, method="cash")
    scheduling.cancel(clinic_db, new.id, reason="moving away", by="patient")
    assert payments.account(clinic_db, new.id).settlement.refund_due_cents == 2000


def test_a_pending_deposit_paid_before_rescheduling_confirms_the_new_one(clinic_db, patient, deposit_service):
    appt = book(clinic_db, patient)
    payments.record_payment(clinic_db, appt.id, amount_cents=1000, method="cash")
    new = scheduling.reschedule(clinic_db, appt.id, start=T0 + timedelta(days=1), now=NOW).new
    assert new.status == "payment_pending"
    assert payments.record_payment(clinic_db, new.id, amount_cents=1000, method="cash").account.status == "confirmed"


def test_reception_records_payments_and_a_doctor_may_not(clinic_db, patient, login, deposit_service):
    appt = book(clinic_db, patient)
    _, desk = login("reception")
    assert payments.record_payment(desk, appt.id, amount_cents=2000, method="cash").account.status == "confirmed"
    who = clinic_db.read(lambda c: c.execute(text("SELECT taken_by FROM payment")).scalar())
    assert who.startswith("t_reception")
    _, doc = login("doctor", doctor="Ana Souza")
    with pytest.raises(PermissionDenied):
        payments.record_payment(doc, appt.id, amount_cents=100, method="cash")
