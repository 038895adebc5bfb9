"""Migration 0003's rules, checked against the database itself (raw SQL where a second client could).

Policy snapshot, lifecycle stamps, expired holds taken over, visits following
their appointments, freed slots for the waitlist, the time-off override and
its log, payments that are never rewritten.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import PermissionDenied, SlotTaken, ValidationError
from reception_app.services import catalog, notifications, patients, scheduling

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)  # Monday, Ana Souza's shift
US = "Abdominal ultrasound"


@pytest.fixture
def patient(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-09-09", phone="+5511987654321",
                                channels=["sms"]).id


def next_monday_8am(weeks: int = 1) -> datetime:
    """08:00 São Paulo time on a Monday ``weeks`` weeks ahead of today (a real future, for rules that use
    the server's clock)."""
    today = datetime.now(SP).date()
    day = today + timedelta(days=(7 - today.weekday()) + 7 * (weeks - 1))
    return datetime(day.year, day.month, day.day, 8, 0, tzinfo=SP)


def book(db, patient_id, start=T0, **kw):
    return scheduling.book(db, **{"branch": "Centro", "service": US, "start": start, "patient_id": patient_id,
                                  "now": NOW, **kw})


def row(db, sql, **params):
    return db.read(lambda c: c.execute(text(sql), params).one())


def test_the_services_policy_is_copied_onto_the_appointment(clinic_db, patient):
    clinic_db.write(lambda c: c.execute(text(
        "UPDATE service SET cancel_free_hours = 48, late_cancel_fee_cents = 2500, deposit_cents = 1000 "
        "WHERE name = :s"), {"s": US}))
    appt = book(clinic_db, patient)                          # payment_pending: the deposit is due
    clinic_db.write(lambda c: c.execute(text("UPDATE service SET cancel_free_hours = 1, late_cancel_fee_cents = 0")))
    r = row(clinic_db, "SELECT policy_free_hours, policy_late_fee_cents, deposit_cents, confirmed_at, status "
                       "FROM appointment WHERE id = :i", i=appt.id)
    assert (r.policy_free_hours, r.policy_late_fee_cents, r.deposit_cents) == (48, 2500, 1000)
    assert (r.status, r.confirmed_at) == ("payment_pending", None)
    # Confirming it before the deposit is paid is refused by the database (migration 0009).
    with pytest.raises(ValidationError) as unpaid:
        clinic_db.write(lambda c: c.execute(text("UPDATE appointment SET status = 'confirmed' WHERE id = :i"),
                                            {"i": appt.id}))
    assert unpaid.value.field == "appointment_deposit_paid"


def test_a_cancellation_is_early_or_late_by_the_copied_policy(clinic_db, patient):
    soon = book(clinic_db, patient, start=next_monday_8am(), now=datetime.now(UTC))
    far = book(clinic_db, patient, start=T0)
    clinic_db.write(lambda c: c.execute(text("UPDATE appointment SET policy_free_hours = 24 * 30 WHERE id = :i"),
                                        {"i": soon.id}))
    scheduling.cancel(clinic_db, soon.id, reason="patient called")
    scheduling.cancel(clinic_db, far.id, reason="patient called")
    late = row(clinic_db, "SELECT cancelled_late, cancelled_by, cancelled_at FROM appointment WHERE id = :i", i=soon.id)
    early = row(clinic_db, "SELECT cancelled_late FROM appointment WHERE id = :i", i=far.id)
    assert late.cancelled_late is True and late.cancelled_by == "clinic" and late.cancelled_at is not None
    assert early.cancelled_late is False


def test_a_hold_gets_an_expiry_and_its_bookings_carry_it(clinic_db, patient):
    held = book(clinic_db, patient, status="held")
    r = row(clinic_db, "SELECT a.hold_expires_at - now() AS left, bool_and(b.hold_until = a.hold_expires_at) AS same "
                       "FROM appointment a JOIN booking b ON b.appointment_id = a.id WHERE a.id = :i "
                       "GROUP BY a.id", i=held.id)
    assert timedelta(minutes=4) < r.left <= timedelta(minutes=5) and r.same
    scheduling.set_status(clinic_db, held.id, "confirmed")
    r = row(clinic_db, "SELECT a.hold_expires_at, bool_or(b.hold_until IS NOT NULL) AS any_hold "
                       "FROM appointment a JOIN booking b ON b.appointment_id = a.id WHERE a.id = :i "
                       "GROUP BY a.id", i=held.id)
    assert r.hold_expires_at is None and not r.any_hold


def test_an_expired_hold_never_blocks_a_booking(clinic_db, patient):
    held = book(clinic_db, patient, status="held", doctor="Ana Souza", room="Imaging 1")
    with pytest.raises(SlotTaken):
        book(clinic_db, patient, doctor="Ana Souza", room="Imaging 1")
    clinic_db.write(lambda c: c.execute(text(
        "UPDATE appointment SET hold_expires_at = now() - interval '1 minute' WHERE id = :i"), {"i": held.id}))
    offers = scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date=T0.date(), doctor="Ana Souza",
                                   now=NOW)
    assert any(o.start == T0.astimezone(UTC) for o in offers)
    taken = book(clinic_db, patient, doctor="Ana Souza", room="Imaging 1")
    assert taken.start == T0.astimezone(UTC)
    old = scheduling.get_appointment(clinic_db, held.id)
    assert old.status == "cancelled"
    assert row(clinic_db, "SELECT status_reason FROM appointment WHERE id = :i", i=held.id).status_reason == \
        "hold expired"


def test_the_sweeper_releases_every_expired_hold(clinic_db, patient):
    held = book(clinic_db, patient, status="held")
    fresh = book(clinic_db, patient, status="held", start=T0 + timedelta(hours=1))
    clinic_db.write(lambda c: c.execute(text(
        "UPDATE appointment SET hold_expires_at = now() - interval '1 second' WHERE id = :i"), {"i": held.id}))
    assert clinic_db.write(lambda c: catalog.release_expired_holds(c)) == 1
    assert scheduling.get_appointment(clinic_db, held.id).status == "cancelled"
    assert scheduling.get_appointment(clinic_db, fresh.id).status == "held"


def test_a_hold_cannot_exist_without_an_expiry(clinic_db, patient):
    held = book(clinic_db, patient, status="held")
    with pytest.raises(ValidationError):
        clinic_db.write(lambda c: c.execute(text(
            "UPDATE appointment SET hold_expires_at = NULL WHERE id = :i"), {"i": held.id}))


def test_a_freed_future_slot_is_recorded_once_and_notified(clinic_db, patient):
    appt = book(clinic_db, patient, start=next_monday_8am(2), now=datetime.now(UTC))
    held = book(clinic_db, patient, status="held")
    scheduling.cancel(clinic_db, appt.id, reason="patient called")
    scheduling.cancel(clinic_db, held.id, reason="hold dropped")
    slots = clinic_db.read(lambda c: c.execute(text(
        "SELECT appointment_id, cardinality(resource_ids) AS n, state FROM freed_slot")).all())
    assert [(s.appointment_id, s.n, s.state) for s in slots] == [(appt.id, 3, "open")]


def test_the_last_cancelled_appointment_cancels_its_visit(clinic_db, patient):
    a = book(clinic_db, patient)
    b = book(clinic_db, patient, start=T0 + timedelta(hours=1))

    def make_visit(c):
        vid = c.execute(text("INSERT INTO visit (patient_id, branch_id) SELECT :p, id FROM branch "
                             "WHERE name = 'Centro' RETURNING id"), {"p": patient}).scalar_one()
        c.execute(text("UPDATE appointment SET visit_id = :v WHERE id IN (:a, :b)"), {"v": vid, "a": a.id, "b": b.id})
        return vid

    vid = clinic_db.write(make_visit)
    scheduling.cancel(clinic_db, a.id, reason="not needed")
    assert row(clinic_db, "SELECT status FROM visit WHERE id = :v", v=vid).status == "open"
    scheduling.cancel(clinic_db, b.id, reason="not needed")
    assert row(clinic_db, "SELECT status FROM visit WHERE id = :v", v=vid).status == "cancelled"


def _block_ana(clinic_db):
    clinic_db.write(lambda c: c.execute(text(
        "INSERT INTO time_off (resource_id, period, reason, kind) SELECT id, tstzrange(:lo, :hi), 'conference', "
        "'block' FROM resource WHERE name = 'Ana Souza'"), {"lo": T0, "hi": T0 + timedelta(hours=2)}))


def _force(db, patient_id, why):
    """A raw booking over the block with ``clinic.override`` set, as the override service does."""
    def work(c):
        c.execute(text("SELECT set_config('clinic.override', :w, true)"), {"w": why})
        a = c.execute(text(
            "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source) "
            "SELECT :p, s.id, b.id, 'confirmed', :s, :e, 'phone' FROM service s, branch b "
            "WHERE s.name = :svc AND b.name = 'Centro' RETURNING id"),
            {"p": patient_id, "s": T0, "e": T0 + timedelta(minutes=30), "svc": US}).scalar_one()
        # the doctor over her block, and the room and equipment the service needs (migration 0009)
        c.execute(text("INSERT INTO booking (appointment_id, resource_id, period) SELECT :a, id, tstzrange(:s, :e) "
                       "FROM resource WHERE name IN ('Ana Souza', 'Imaging 1', 'Ultrasound A')"),
                  {"a": a, "s": T0, "e": T0 + timedelta(minutes=40)})
        return a
    return db.write(work)


def test_only_a_manager_may_book_over_a_block_and_it_is_logged(clinic_db, patient, login):
    _block_ana(clinic_db)
    _, desk = login("reception")
    with pytest.raises(SlotTaken):
        _force(desk, patient, "urgent")          # reception's override is ignored: the block holds
    _, boss = login("manager")
    with pytest.raises(SlotTaken):
        _force(boss, patient, "")                # no reason, no override
    appt = _force(boss, patient, "urgent: patient flies out tomorrow")
    log = clinic_db.read(lambda c: c.execute(text("SELECT kind, appointment_id, reason, db_user, detail "
                                                  "FROM override_log")).all())
    assert [(r.kind, r.appointment_id, r.reason) for r in log] == [
        ("time_off", appt, "urgent: patient flies out tomorrow")]
    assert log[0].detail["time_off_reason"] == "conference"
    # Nothing overrides two live bookings of one resource.
    with pytest.raises(SlotTaken):
        _force(boss, patient, "double it")


def test_the_override_log_is_written_only_through_the_checked_function(clinic_db, patient, login):
    _, desk = login("reception")
    with pytest.raises(PermissionDenied):
        desk.write(lambda c: c.execute(text("SELECT clinic_log_override('move', NULL, 'x', '{}')")))
    with pytest.raises(PermissionDenied):
        desk.write(lambda c: c.execute(text("INSERT INTO override_log (kind, reason) VALUES ('move', 'x')")))
    _, boss = login("manager")
    assert boss.write(lambda c: c.execute(text(
        "SELECT clinic_log_override('outside_shift', NULL, 'covering', '{}')")).scalar_one()) > 0


def test_payments_are_never_rewritten_and_a_retry_records_once(clinic_db, patient):
    appt = book(clinic_db, patient)
    cid = uuid.uuid4()

    def pay(c):
        return c.execute(text(
            "INSERT INTO payment (client_id, appointment_id, kind, method, amount_cents, currency) "
            "VALUES (:c, :a, 'payment', 'cash', 1500, 'EUR') ON CONFLICT (client_id) DO NOTHING"),
            {"c": cid, "a": appt.id}).rowcount

    assert clinic_db.write(pay) == 1
    assert clinic_db.write(pay) == 0
    with pytest.raises(ValidationError):
        clinic_db.write(lambda c: c.execute(text("UPDATE payment SET amount_cents = 1")))
    with pytest.raises(ValidationError):
        clinic_db.write(lambda c: c.execute(text("DELETE FROM payment")))
    with pytest.raises(ValidationError):  # a card number never lands in the reference
        clinic_db.write(lambda c: c.execute(text(
            "INSERT INTO payment (client_id, appointment_id, kind, method, amount_cents, currency, reference) "
            "VALUES (gen_random_uuid(), :a, 'payment', 'card_terminal', 100, 'EUR', '4111111111111111')"),
            {"a": appt.id}))


def test_a_notification_goes_to_each_consented_channel_or_the_outbox(clinic_db, patient):
    appt = book(clinic_db, patient)
    nobody = patients.add_patient(clinic_db, name="Sem Contato", birth_date="1970-01-01").id
    other = book(clinic_db, nobody, start=T0 + timedelta(hours=1))
    clinic_db.write(lambda c: notifications.queue_notification(c, appt.id, "roster_change"))
    clinic_db.write(lambda c: notifications.queue_notification(c, other.id, "roster_change"))
    got = clinic_db.read(lambda c: c.execute(text(
        "SELECT appointment_id, channel FROM reminder WHERE purpose = 'roster_change' ORDER BY id")).all())
    assert [tuple(r) for r in got] == [(appt.id, "sms"), (other.id, "file")]
    with pytest.raises(ValueError):
        clinic_db.write(lambda c: notifications.queue_notification(c, appt.id, "gossip"))
