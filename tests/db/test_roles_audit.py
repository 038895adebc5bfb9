"""Who may do what (group roles, grants, row-level security) and the audit trail.

Each person is a login role of their own (``services.users.add_user``); the
embedded server trusts local connections, so a test connects as any role by
naming it. Roles are cluster-wide: names get a random suffix and are dropped
after the test.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import PermissionDenied, SlotTaken, ValidationError
from reception_app.services import booking, clinic_config, patients, scheduling
from reception_app.services.users import add_user
from reception_app.store.database import Database

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)
US = "Abdominal ultrasound"


@pytest.fixture
def patient(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-09-09").id


def book(db, patient_id, start=T0, **kw):
    return scheduling.book(db, **{"branch": "Centro", "service": US, "start": start, "patient_id": patient_id,
                                  "now": NOW, **kw})


def audit(db: Database, table: str, row_id: int) -> list[dict]:
    return db.read(lambda c: [dict(r) for r in c.execute(text(
        "SELECT db_user, txid, table_name, row_id, action, old_row, new_row, reason FROM audit_log "
        "WHERE table_name = :t AND row_id = :r ORDER BY id"), {"t": table, "r": row_id}).mappings()])


# -- add_user -----------------------------------------------------------------------------
def test_add_user_creates_a_login_role_in_its_group(clinic_db, login):
    name, db = login("reception")
    member = clinic_db.read(lambda c: c.execute(text(
        "SELECT r.rolcanlogin, pg_has_role(r.rolname, 'clinic_reception', 'MEMBER'), "
        "pg_has_role(r.rolname, 'clinic_manager', 'MEMBER') FROM pg_roles r WHERE r.rolname = :n"),
        {"n": name}).one())
    assert tuple(member) == (True, True, False)
    # Adding an existing login to a group again is fine (and idempotent).
    assert add_user(clinic_db, name, "reception") == "clinic_reception"
    assert db.read(lambda c: c.execute(text("SELECT session_user")).scalar_one()) == name


def test_add_user_stores_a_scram_verifier_never_the_password(clinic_db, login):
    name, _ = login("reception")
    add_user(clinic_db, name, "reception", password="TopSecret-123")
    stored = clinic_db.read(lambda c: c.execute(text("SELECT rolpassword FROM pg_authid WHERE rolname = :n"),
                                                {"n": name}).scalar_one())
    assert stored.startswith("SCRAM-SHA-256$") and "TopSecret" not in stored


@pytest.mark.parametrize("name, role, field", [
    ("Bad Name", "reception", "name"),
    ("x", "reception", "name"),
    ("robert'); drop table patient; --", "reception", "name"),
    ("fine_name", "janitor", "role"),
    ("clinic_admin", "reception", "name"),       # a group role is not a person
    ("clinic_reception", "reception", "name"),
])
def test_add_user_rejects_bad_input(clinic_db, name, role, field):
    with pytest.raises(ValidationError) as info:
        add_user(clinic_db, name, role)
    assert info.value.field == field
    groups = clinic_db.read(lambda c: c.execute(text(
        "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'clinic\\_%' AND rolcanlogin")).scalar_one())
    assert groups == 0


def test_add_user_with_an_unknown_doctor_creates_nothing(clinic_db):
    name = f"t_doc_{uuid.uuid4().hex[:10]}"
    with pytest.raises(ValidationError) as info:
        add_user(clinic_db, name, "doctor", doctor="Dr. Nobody")
    assert info.value.field == "doctor"
    assert clinic_db.read(lambda c: c.execute(text("SELECT count(*) FROM pg_roles WHERE rolname = :n"),
                                              {"n": name}).scalar_one()) == 0


# -- reception -----------------------------------------------------------------------------
def test_reception_adds_patients_books_and_cancels(login, clinic_db):
    name, desk = login("reception")
    p = patients.add_patient(desk, name="Pedro Alves", birth_date="1960-01-01", phone="+5527999990001")
    assert patients.find_patients(desk, "pedro")[0].id == p.id
    created_by = clinic_db.read(lambda c: c.execute(text("SELECT created_by FROM patient WHERE id = :i"),
                                                    {"i": p.id}).scalar_one())
    assert created_by == name
    assert scheduling.find_slots(desk, branch="Centro", service=US, local_date="2027-01-04", now=NOW)
    appt = book(desk, p.id)
    assert appt.status == "confirmed"
    assert scheduling.cancel(desk, appt.id, reason="changed plans", now=NOW).status == "cancelled"
    # Reception may not read the audit trail nor change the clinic's configuration.
    with pytest.raises(PermissionDenied):
        desk.read(lambda c: c.execute(text("SELECT count(*) FROM audit_log")).scalar_one())
    with pytest.raises(PermissionDenied):
        clinic_config.apply(desk, {"room": [{"name": "Imaging 9", "branch": "Centro", "kind": "imaging"}]})


# -- doctors --------------------------------------------------------------------------------
def test_doctor_cannot_book_or_add_patients(login, patient, clinic_db):
    _, ana = login("doctor", doctor="Ana Souza")
    before = clinic_db.read(lambda c: c.execute(text("SELECT count(*) FROM appointment")).scalar_one())
    with pytest.raises(PermissionDenied):
        book(ana, patient)
    with pytest.raises(PermissionDenied):
        patients.add_patient(ana, name="Someone", birth_date="1990-01-01")
    assert clinic_db.read(lambda c: c.execute(text("SELECT count(*) FROM appointment")).scalar_one()) == before
    # ... but reads the schedule.
    assert scheduling.list_appointments(ana, branch="Centro", local_date="2027-01-04") == []


def test_doctor_changes_only_their_own_appointments(login, patient, clinic_db):
    ana_login, ana = login("doctor", doctor="Ana Souza")
    own = book(clinic_db, patient, doctor="Ana Souza")
    other = book(clinic_db, patient, start=T0 + timedelta(hours=1), doctor="Bruno Lima")
    # Her own appointment: allowed, and the audit trail names her login.
    assert scheduling.set_status(ana, own.id, "checked_in", reason="arrived").status == "checked_in"
    last = audit(clinic_db, "appointment", own.id)[-1]
    assert (last["db_user"], last["action"], last["reason"]) == (ana_login, "UPDATE", "arrived")
    assert (last["old_row"]["status"], last["new_row"]["status"]) == ("confirmed", "checked_in")
    # Another doctor's appointment: visible to her, but not hers to change -- refused, not silently ignored.
    assert scheduling.get_appointment(ana, other.id).status == "confirmed"
    with pytest.raises(PermissionDenied):
        scheduling.set_status(ana, other.id, "checked_in")
    with pytest.raises(PermissionDenied):
        scheduling.cancel(ana, other.id, reason="not mine", now=NOW)
    assert scheduling.get_appointment(clinic_db, other.id).status == "confirmed"
    assert [r["action"] for r in audit(clinic_db, "appointment", other.id)] == ["INSERT"]
    # A doctor login not linked to any doctor changes nothing at all.
    _, stranger = login("doctor")
    with pytest.raises(PermissionDenied):
        scheduling.set_status(stranger, own.id, "in_progress")
    assert scheduling.get_appointment(clinic_db, own.id).status == "checked_in"


def test_an_update_filtered_by_row_level_security_is_never_a_silent_success(login, patient, clinic_db,
                                                                            monkeypatch):
    """Even without the lock check, an UPDATE that RLS turns into 0 rows raises."""
    _, ana = login("doctor", doctor="Ana Souza")
    other = book(clinic_db, patient, doctor="Bruno Lima")
    monkeypatch.setattr(booking, "lock_status", lambda conn, appointment_id: "confirmed")
    with pytest.raises(PermissionDenied):
        scheduling.set_status(ana, other.id, "checked_in")
    assert scheduling.get_appointment(clinic_db, other.id).status == "confirmed"


def test_doctor_may_cancel_own_which_releases_the_bookings(login, patient, clinic_db):
    _, ana = login("doctor", doctor="Ana Souza")
    own = book(clinic_db, patient, doctor="Ana Souza")
    assert scheduling.cancel(ana, own.id, reason="doctor ill", now=NOW).status == "cancelled"
    live = clinic_db.read(lambda c: c.execute(text(
        "SELECT bool_or(live) FROM booking WHERE appointment_id = :a"), {"a": own.id}).scalar_one())
    assert live is False


# -- managers -------------------------------------------------------------------------------
def test_manager_reads_everything_and_has_receptions_rights(login, patient, clinic_db):
    """Since migration 0003 a manager is a member of reception (books, checks in) and reads the audit
    trail, but still never rewrites it nor the clinic's services."""
    _, boss = login("manager")
    appt = book(clinic_db, patient)
    assert scheduling.list_appointments(boss, branch="Centro", local_date="2027-01-04") == [appt]
    n = boss.read(lambda c: c.execute(text("SELECT count(*) FROM audit_log")).scalar_one())
    assert n >= 4    # the appointment and its three bookings
    assert boss.read(lambda c: c.execute(text("SELECT count(*) FROM patient")).scalar_one()) == 1
    second = book(boss, patient, start=T0 + timedelta(hours=1))
    assert scheduling.set_status(boss, appt.id, "checked_in").status == "checked_in"
    with pytest.raises(PermissionDenied):
        boss.write(lambda c: c.execute(text("DELETE FROM audit_log")))
    with pytest.raises(PermissionDenied):
        boss.write(lambda c: c.execute(text("UPDATE service SET duration_min = 60")))
    who = clinic_db.read(lambda c: c.execute(text(
        "SELECT db_user FROM audit_log WHERE table_name = 'appointment' AND row_id = :i AND action = 'INSERT'"),
        {"i": second.id}).scalar_one())
    assert who == boss.read(lambda c: c.execute(text("SELECT session_user")).scalar_one())


def test_nobody_rewrites_the_audit_trail(login, patient, clinic_db):
    _, admin = login("admin")
    book(clinic_db, patient)
    for statement in ("DELETE FROM audit_log", "UPDATE audit_log SET reason = 'forged'"):
        with pytest.raises(PermissionDenied):
            admin.write(lambda c, s=statement: c.execute(text(s)))
    # Admins configure the clinic.
    clinic_config.apply(admin, {"room": [{"name": "Imaging 3", "branch": "Centro", "kind": "imaging"}]})


# -- audit ------------------------------------------------------------------------------------
def test_audit_rows_name_the_login_the_rows_and_the_reason(login, patient, clinic_db):
    desk_login, desk = login("reception")
    appt = book(desk, patient, reason="phoned in")
    ins = audit(clinic_db, "appointment", appt.id)
    assert len(ins) == 1
    row = ins[0]
    assert (row["db_user"], row["table_name"], row["row_id"], row["action"], row["reason"]) == (
        desk_login, "appointment", appt.id, "INSERT", "phoned in")
    assert row["old_row"] is None
    assert row["new_row"]["id"] == appt.id and row["new_row"]["status"] == "confirmed"
    assert row["new_row"]["created_by"] == desk_login
    booking_ids = clinic_db.read(lambda c: c.execute(text(
        "SELECT id FROM booking WHERE appointment_id = :a ORDER BY id"), {"a": appt.id}).scalars().all())
    assert len(booking_ids) == 3
    for bid in booking_ids:
        (b,) = audit(clinic_db, "booking", bid)
        assert (b["db_user"], b["action"], b["reason"], b["txid"]) == (desk_login, "INSERT", "phoned in",
                                                                       row["txid"])
        assert b["new_row"]["appointment_id"] == appt.id and b["new_row"]["live"] is True

    scheduling.cancel(desk, appt.id, reason="patient travelling", now=NOW)
    upd = audit(clinic_db, "appointment", appt.id)[-1]
    assert (upd["db_user"], upd["action"], upd["reason"]) == (desk_login, "UPDATE",
                                                              "cancelled: patient travelling")
    assert (upd["old_row"]["status"], upd["new_row"]["status"]) == ("confirmed", "cancelled")
    assert upd["new_row"]["status_reason"] == "patient travelling"
    for bid in booking_ids:
        b = audit(clinic_db, "booking", bid)[-1]
        # The release is done by a trigger, still in the receptionist's transaction and name.
        assert (b["db_user"], b["action"], b["txid"]) == (desk_login, "UPDATE", upd["txid"])
        assert (b["old_row"]["live"], b["new_row"]["live"]) == (True, False)


def test_failed_writes_leave_no_audit_rows(login, patient, clinic_db):
    _, desk = login("reception")
    book(desk, patient)
    n = clinic_db.read(lambda c: c.execute(text("SELECT count(*) FROM audit_log")).scalar_one())
    with pytest.raises(SlotTaken):
        book(desk, patient)
    assert clinic_db.read(lambda c: c.execute(text("SELECT count(*) FROM audit_log")).scalar_one()) == n
