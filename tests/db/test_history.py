"""An entity's history in words (services.history), read from the real audit trail.

Changes are made through the real services by a reception login; the history is
read by a manager. The patient assertions marked "0009" need the audit triggers
on ``patient`` added by migration 0009 (``patient_audit_ins`` / ``_upd``); the
consent assertions need only 0004's ``consent_event``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import PermissionDenied, ValidationError
from reception_app.services import patients, payments, scheduling
from reception_app.services.history import FieldChange, HistoryEntry, entity_history

SP = timezone(timedelta(hours=-3))  # Centro (America/Sao_Paulo) in January
NOW = datetime(2027, 1, 1, tzinfo=UTC)
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)
US = "Abdominal ultrasound"


def _fields(entry: HistoryEntry) -> dict[str, tuple[str | None, str | None]]:
    return {c.field: (c.before, c.after) for c in entry.changes}


def _no_raw_rows(entries: list[HistoryEntry]) -> None:
    """Nothing reads like a JSON dump, an ISO timestamp or a bookkeeping column."""
    for e in entries:
        for c in e.changes:
            for value in (c.before, c.after):
                assert value is None or ("{" not in value and "T0" not in value and "+00" not in value), c
            assert c.field not in ("updated_at", "id", "client_id", "local_start", "lead_days", "Updated at"), c


def test_an_appointments_history_tells_booking_move_payment_and_cancellation(clinic_db, login):
    desk_login, desk = login("reception")
    _, boss = login("manager")
    patient = patients.add_patient(desk, name="Joana Prado", birth_date="1990-09-09").id
    appt = scheduling.book(desk, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW,
                           reason="phoned in")
    scheduling.move(desk, appt.id, start=T0 + timedelta(hours=2), reason="patient asked", now=NOW)
    payments.record_payment(desk, appt.id, amount_cents=4000, method="cash", reason="paid at the desk")
    scheduling.cancel(desk, appt.id, reason="patient travelling", now=NOW)

    history = entity_history(boss, "appointment", appt.id)
    assert [e.at for e in history] == sorted(e.at for e in history)
    assert all(e.at.tzinfo is not None and e.at.utcoffset() == timedelta(0) for e in history)
    assert {e.db_user for e in history} == {desk_login}  # who: the database login, for every part
    created = history[0]
    assert (created.table, created.action, created.what, created.reason) == (
        "appointment", "INSERT", "Appointment created", "phoned in")
    fields = _fields(created)
    # Times inside the changes are the branch's local times (Centro), names instead of ids.
    assert fields["Service"] == (None, US) and fields["Patient"] == (None, "Joana Prado")
    assert fields["Branch"] == (None, "Centro") and fields["Start"] == (None, "Mon 04/01/2027 08:00")
    assert fields["Status"] == (None, "Confirmed")
    # The doctor, room and equipment booked in one go: one entry, each resource with its time.
    booked_then = next(e for e in history if e.table == "booking")
    assert (booked_then.action, booked_then.what, booked_then.reason) == ("INSERT", "Resources booked", "phoned in")
    assert _fields(booked_then) == {name: (None, "Mon 04/01/2027 08:00–08:40")  # with the 10 min buffer
                                    for name in ("Ana Souza", "Imaging 1", "Ultrasound A")}
    # Bookkeeping and defaults are not listed for a creation (no "Deposit: EUR 0.00", "Cancelled late: no").
    assert "Deposit" not in fields and "Cancelled late" not in fields and "Booked at" not in fields

    moved = next(e for e in history if e.table == "appointment" and e.reason == "patient asked")
    assert moved.action == "UPDATE" and moved.what == "Appointment changed"
    assert _fields(moved)["Start"] == ("Mon 04/01/2027 08:00", "10:00")  # the same day: said once
    assert "Updated at" not in _fields(moved)
    # The move took the same resources two hours later: one entry, each resource from → to.
    [moved_bookings] = [e for e in history if e.table == "booking" and e.reason == "patient asked"]
    assert moved_bookings.what == "Resources moved"
    assert _fields(moved_bookings) == {name: ("Mon 04/01/2027 08:00–08:40", "10:00–10:40")
                                       for name in ("Ana Souza", "Imaging 1", "Ultrasound A")}

    paid = next(e for e in history if e.table == "payment")
    assert (paid.action, paid.what, paid.reason) == ("INSERT", "Payment recorded", "paid at the desk")
    assert _fields(paid)["Amount"] == (None, "€40.00") and _fields(paid)["Method"] == (None, "cash")

    cancelled = next(e for e in history if e.table == "appointment" and e.what == "Appointment cancelled")
    assert _fields(cancelled)["Status"] == ("Confirmed", "Cancelled")
    assert cancelled.reason == "cancelled: patient travelling"
    released = [e for e in history if e.table == "booking" and e.what == "Resources released"]
    assert [e.reason for e in released] == ["cancelled: patient travelling"]
    assert _fields(released[0]) == {f"{name} · Holds the time": ("yes", "no")
                                    for name in ("Ana Souza", "Imaging 1", "Ultrasound A")}
    _no_raw_rows(history)
    # Another appointment's rows are not in this one's history.
    other = scheduling.book(desk, branch="Centro", service=US, start=T0 + timedelta(hours=3), patient_id=patient,
                            now=NOW)
    assert all(e.row_id != other.id or e.table != "appointment" for e in entity_history(boss, "appointment", appt.id))
    assert len(entity_history(boss, "appointment", appt.id)) == len(history)


def test_times_in_the_changes_follow_the_zone_asked_for(clinic_db, login):
    _, boss = login("manager")
    patient = patients.add_patient(clinic_db, name="Rui Costa", birth_date="1977-07-07").id
    appt = scheduling.book(clinic_db, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW)
    [created] = [e for e in entity_history(boss, "appointment", appt.id, tz=UTC) if e.table == "appointment"]
    assert _fields(created)["Start"] == (None, "Mon 04/01/2027 11:00")  # 08:00 in São Paulo


def test_a_patients_history_tells_edits_and_consent_changes(clinic_db, login):
    desk_login, desk = login("reception")
    _, boss = login("admin")
    joana = patients.add_patient(desk, name="Joana Prado", birth_date="1990-09-09", phone="+5527999990042",
                                 channels=["sms", "whatsapp"])
    patients.update_patient(desk, joana.id, phone="+5527999990043", reason="new number")
    patients.update_patient(desk, joana.id, channels=[], reason="asked for no messages")

    history = entity_history(boss, "patient", joana.id)
    assert [e.at for e in history] == sorted(e.at for e in history)
    assert {e.db_user for e in history} == {desk_login}
    # Consent (0004's consent_event): given at creation, withdrawn on request.
    consent = [e for e in history if e.table == "consent_event"]
    given = [e for e in consent if e.what.endswith("given")]
    withdrawn = [e for e in consent if e.what.endswith("withdrawn")]
    assert {e.what for e in given} == {"Consent to SMS messages given", "Consent to WhatsApp messages given"}
    assert {e.what for e in withdrawn} == {"Consent to SMS messages withdrawn",
                                           "Consent to WhatsApp messages withdrawn"}
    assert all(e.reason == "asked for no messages" for e in withdrawn)
    assert _fields(withdrawn[0]) in ({"SMS consent": ("yes", "no")}, {"WhatsApp consent": ("yes", "no")})

    # 0009: the patient's own rows are audited (created, edited) — these need its patient triggers.
    records = [e for e in history if e.table == "patient"]
    assert [e.action for e in records] == ["INSERT", "UPDATE"]  # the consent-only edit is told above
    created, edited = records
    assert created.what == "Patient record created"
    assert _fields(created)["Name"] == (None, "Joana Prado")
    assert _fields(created)["Birth date"] == (None, "09/09/1990")
    assert "Consent" not in _fields(created)  # told channel by channel instead
    assert (edited.what, edited.reason) == ("Patient record changed", "new number")
    assert _fields(edited) == {"Phone": ("+5527999990042", "+5527999990043")}
    _no_raw_rows(history)


def test_patient_audit_triggers_are_installed(clinic_db):
    """What the patient-record assertions above rely on (migration 0009)."""
    names = clinic_db.read(lambda c: set(c.execute(text(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'patient'::regclass")).scalars()))
    assert {"patient_audit_ins", "patient_audit_upd"} <= names


def test_only_managers_and_admins_may_read_the_history(clinic_db, login):
    _, desk = login("reception")
    _, doctor = login("doctor", doctor="Ana Souza")
    patient = patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-09-09").id
    appt = scheduling.book(clinic_db, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW)
    for db in (desk, doctor):
        with pytest.raises(PermissionDenied):
            entity_history(db, "appointment", appt.id)
        with pytest.raises(PermissionDenied):
            entity_history(db, "patient", patient)
    _, boss = login("manager")
    assert entity_history(boss, "appointment", appt.id)


def test_bad_requests_name_the_field_and_the_value(clinic_db):
    with pytest.raises(ValidationError) as bad_table:
        entity_history(clinic_db, "audit_log", 1)
    assert (bad_table.value.field, bad_table.value.value) == ("table", "audit_log")
    for bad in (0, -3, True):
        with pytest.raises(ValidationError) as bad_id:
            entity_history(clinic_db, "appointment", bad)  # type: ignore[arg-type]
        assert bad_id.value.field == "row_id"
    assert entity_history(clinic_db, "appointment", 999_999) == []
    assert entity_history(clinic_db, "patient", 999_999) == []


def test_field_changes_read_as_sentences() -> None:
    assert FieldChange("Start", "08:00", "09:00").describe() == "Start: 08:00 → 09:00"
    assert FieldChange("Phone", None, "+5527999990042").describe() == "Phone: +5527999990042"
    assert FieldChange("E-mail", "a@b.c", None).describe() == "E-mail: a@b.c (removed)"
