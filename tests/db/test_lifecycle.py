"""The booking lifecycle through the services: confirmation modes, holds, approvals, cancellation by
whom and when, rescheduling as a new linked appointment (issue 4)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import InvalidTransition, SlotTaken, ValidationError
from reception_app.services import clinic_config, patients, payments, scheduling

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)  # Monday, Ana Souza's and Bruno Lima's shift
US = "Abdominal ultrasound"


@pytest.fixture
def patient(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-09-09").id


def set_service(db, **cols) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in cols)
    db.write(lambda c: c.execute(text(f"UPDATE service SET {sets} WHERE name = :s"), {**cols, "s": US}))


def book(db, patient_id, start=T0, **kw):
    return scheduling.book(db, **{"branch": "Centro", "service": US, "start": start, "patient_id": patient_id,
                                  "now": NOW, **kw})


def col(db, appointment_id, column):
    return db.read(lambda c: c.execute(text(f"SELECT {column} FROM appointment WHERE id = :i"),
                                       {"i": appointment_id}).scalar())


def test_immediate_without_deposit_is_confirmed_at_once(clinic_db, patient) -> None:
    appt = book(clinic_db, patient)
    assert appt.status == "confirmed" == scheduling.get_appointment(clinic_db, appt.id).status


def test_approval_mode_books_a_request_that_a_receptionist_approves(clinic_db, patient) -> None:
    set_service(clinic_db, confirmation_mode="approval")
    appt = book(clinic_db, patient)
    assert appt.status == "requested"
    with pytest.raises(SlotTaken):  # a request occupies its resources
        book(clinic_db, patient, doctor=appt.resources["doctor"], room=appt.resources["room"])
    approved = scheduling.approve(clinic_db, appt.id)
    assert approved.status == "confirmed" and col(clinic_db, appt.id, "confirmed_at") is not None
    with pytest.raises(InvalidTransition):
        scheduling.approve(clinic_db, appt.id)


def test_hybrid_confirms_known_patients_and_asks_approval_for_new_ones(clinic_db, patient) -> None:
    set_service(clinic_db, confirmation_mode="hybrid")
    # the first visit in the real past (the database completes nothing before its start)
    first = book(clinic_db, patient, start=datetime(2026, 6, 1, 8, 0, tzinfo=SP),
                 now=datetime(2026, 5, 20, tzinfo=UTC))
    assert first.status == "requested"
    scheduling.approve(clinic_db, first.id)
    for status in ("checked_in", "completed"):
        scheduling.set_status(clinic_db, first.id, status)
    second = book(clinic_db, patient, start=T0 + timedelta(days=1))
    assert second.status == "confirmed"


def test_a_deposit_service_starts_payment_pending_and_cannot_be_confirmed_unpaid(clinic_db, patient) -> None:
    set_service(clinic_db, deposit_cents=2000)
    appt = book(clinic_db, patient)
    assert appt.status == "payment_pending"
    with pytest.raises(ValidationError) as info:
        scheduling.set_status(clinic_db, appt.id, "confirmed")
    assert info.value.field == "status" and "deposit" in str(info.value)
    assert scheduling.get_appointment(clinic_db, appt.id).status == "payment_pending"


def test_approving_a_deposit_request_waits_for_the_payment(clinic_db, patient) -> None:
    set_service(clinic_db, confirmation_mode="approval", deposit_cents=2000)
    appt = book(clinic_db, patient)
    assert scheduling.approve(clinic_db, appt.id).status == "payment_pending"


def test_a_forced_status_wins_over_the_service_rules_but_never_an_unpaid_deposit(clinic_db, patient) -> None:
    set_service(clinic_db, confirmation_mode="approval")
    assert book(clinic_db, patient, status="confirmed").status == "confirmed"     # no approval asked
    set_service(clinic_db, deposit_cents=2000)
    with pytest.raises(ValidationError) as unpaid:   # the database: confirmed needs the deposit paid (0009)
        book(clinic_db, patient, status="confirmed", start=T0 + timedelta(days=1))
    assert unpaid.value.field == "appointment_deposit_paid"


def test_a_hold_blocks_for_its_minutes_and_confirms_with_one_action(clinic_db, patient) -> None:
    clinic_db.write(lambda c: c.execute(text("UPDATE clinic_setting SET value = '7' WHERE key = 'hold_minutes'")))
    held = scheduling.hold(clinic_db, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW,
                           doctor="Ana Souza", room="Imaging 1")
    assert held.status == "held" and held.hold_expires_at is not None
    left = clinic_db.read(lambda c: c.execute(text("SELECT hold_expires_at - now() FROM appointment WHERE id = :i"),
                                              {"i": held.id}).scalar())
    assert timedelta(minutes=6) < left <= timedelta(minutes=7)
    assert scheduling.get_appointment(clinic_db, held.id).hold_expires_at == held.hold_expires_at
    with pytest.raises(SlotTaken):
        book(clinic_db, patient, doctor="Ana Souza", room="Imaging 1")
    done = scheduling.confirm_hold(clinic_db, held.id)
    assert done.status == "confirmed" and done.hold_expires_at is None
    with pytest.raises(InvalidTransition):
        scheduling.confirm_hold(clinic_db, held.id)


def test_a_confirmed_hold_follows_the_deposit_and_approval_rules(clinic_db, patient) -> None:
    set_service(clinic_db, deposit_cents=1000)
    held = scheduling.hold(clinic_db, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW)
    assert scheduling.confirm_hold(clinic_db, held.id).status == "payment_pending"
    set_service(clinic_db, confirmation_mode="approval", deposit_cents=0)
    other = scheduling.hold(clinic_db, branch="Centro", service=US, start=T0 + timedelta(hours=1),
                            patient_id=patient, now=NOW)
    assert scheduling.confirm_hold(clinic_db, other.id).status == "requested"


def test_an_expired_and_released_hold_cannot_be_confirmed(clinic_db, patient) -> None:
    held = scheduling.hold(clinic_db, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW,
                           doctor="Ana Souza", room="Imaging 1")
    clinic_db.write(lambda c: c.execute(text(
        "UPDATE appointment SET hold_expires_at = now() - interval '1 minute' WHERE id = :i"), {"i": held.id}))
    book(clinic_db, patient, doctor="Ana Souza", room="Imaging 1")  # takes the time, releasing the hold
    with pytest.raises(InvalidTransition, match="expired"):
        scheduling.confirm_hold(clinic_db, held.id)


def test_cancel_records_who_and_whether_it_was_late(clinic_db, patient) -> None:
    appt = book(clinic_db, patient)
    scheduling.cancel(clinic_db, appt.id, reason="patient called", by="patient")
    assert col(clinic_db, appt.id, "cancelled_by") == "patient"
    assert col(clinic_db, appt.id, "cancelled_late") is False
    with pytest.raises(ValidationError) as info:
        scheduling.cancel(clinic_db, appt.id, reason="x", by="doctor")
    assert (info.value.field, info.value.value) == ("by", "doctor")


def test_late_and_early_cancellations_are_counted_apart(clinic_db, patient) -> None:
    soon = datetime.now(SP).replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=14)
    soon -= timedelta(days=soon.weekday())  # a Monday two weeks or so ahead: a real future for the trigger
    late = book(clinic_db, patient, start=soon, now=datetime.now(UTC))
    early = book(clinic_db, patient)
    by_clinic = book(clinic_db, patient, start=T0 + timedelta(hours=1))
    clinic_db.write(lambda c: c.execute(text("UPDATE appointment SET policy_free_hours = 24 * 60 WHERE id = :i"),
                                        {"i": late.id}))
    scheduling.cancel(clinic_db, late.id, reason="changed mind", by="patient")
    scheduling.cancel(clinic_db, early.id, reason="changed mind", by="patient")
    scheduling.cancel(clinic_db, by_clinic.id, reason="doctor ill")
    assert payments.cancellation_counts(clinic_db) == {"early": 1, "late": 1, "by_clinic": 1}


def test_reschedule_books_a_new_appointment_and_links_the_old(clinic_db, patient) -> None:
    old = book(clinic_db, patient, doctor="Ana Souza", room="Imaging 1")
    result = scheduling.reschedule(clinic_db, old.id, start=T0 + timedelta(minutes=15), now=NOW,
                                   reason="patient asked")
    assert result.old.status == "rescheduled" and result.new.status == "confirmed"
    assert result.new.id != old.id and result.new.start == (T0 + timedelta(minutes=15)).astimezone(UTC)
    assert result.new.resources == old.resources  # kept where free (the old time overlaps: released first)
    assert col(clinic_db, old.id, "rescheduled_to") == result.new.id
    live = clinic_db.read(lambda c: c.execute(text("SELECT bool_or(live) FROM booking WHERE appointment_id = :i"),
                                              {"i": old.id}).scalar())
    assert live is False
    with pytest.raises(InvalidTransition):
        scheduling.reschedule(clinic_db, old.id, start=T0 + timedelta(hours=1), now=NOW)


def test_reschedule_keeps_the_policy_terms_and_a_request_stays_a_request(clinic_db, patient) -> None:
    set_service(clinic_db, confirmation_mode="approval", cancel_free_hours=48, late_cancel_fee_cents=900)
    old = book(clinic_db, patient)
    set_service(clinic_db, cancel_free_hours=1, late_cancel_fee_cents=0)
    new = scheduling.reschedule(clinic_db, old.id, start=T0 + timedelta(days=1), now=NOW).new
    assert new.status == "requested"
    assert (col(clinic_db, new.id, "policy_free_hours"), col(clinic_db, new.id, "policy_late_fee_cents")) == (48, 900)


def test_a_retried_reschedule_returns_the_same_pair_and_a_failed_one_writes_nothing(clinic_db, patient) -> None:
    old = book(clinic_db, patient, doctor="Ana Souza", room="Imaging 1")
    blocker = book(clinic_db, patient, start=T0 + timedelta(hours=2), doctor="Ana Souza", room="Imaging 1",
                   equipment="Ultrasound A")
    with pytest.raises(SlotTaken):  # the only ultrasound is taken then
        scheduling.reschedule(clinic_db, old.id, start=T0 + timedelta(hours=2), now=NOW)
    assert scheduling.get_appointment(clinic_db, old.id).status == "confirmed"  # nothing half-written
    assert blocker.status == "confirmed"
    cid = uuid.uuid4()
    first = scheduling.reschedule(clinic_db, old.id, start=T0 + timedelta(hours=1), now=NOW, client_id=cid)
    again = scheduling.reschedule(clinic_db, old.id, start=T0 + timedelta(hours=1), now=NOW, client_id=cid)
    assert again.new.id == first.new.id


def test_demo_service_settings_are_applied_from_the_config(clinic_db) -> None:
    clinic_config.apply(clinic_db, {
        "clinic": {"hold_minutes": 3, "currency": "BRL"},
        "service": [{"name": US, "duration": 30, "confirmation": "hybrid", "deposit": "12.50",
                     "cancel_free_hours": 12, "late_cancel_fee": "5"}]})
    row = clinic_db.read(lambda c: c.execute(text(
        "SELECT confirmation_mode, deposit_cents, cancel_free_hours, late_cancel_fee_cents FROM service "
        "WHERE name = :s"), {"s": US}).one())
    assert tuple(row) == ("hybrid", 1250, 12, 500)
    assert clinic_db.read(payments.currency) == "BRL"
    with pytest.raises(ValidationError) as info:
        clinic_config.apply(clinic_db, {"service": [{"name": US, "duration": 30, "confirmation": "maybe"}]})
    assert info.value.field == f"service {US!r}.confirmation"
