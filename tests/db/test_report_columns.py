"""The report columns of migration 0005 (``appointment.local_start``, ``lead_days``, ``doctor_id``)
follow every writer: bookings through the services, moves to another doctor, branch and time
zone changes, raw SQL, and bulk loads with ``session_replication_role = replica``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.services import patients, scheduling
from reception_app.store.database import Database

NOW = datetime(2027, 1, 1, tzinfo=UTC)
SP = timezone(timedelta(hours=-3))
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)  # Monday 08:00 at Centro (America/Sao_Paulo, UTC-3)
US = "Abdominal ultrasound"


@pytest.fixture
def patient(clinic_db: Database) -> int:
    return patients.add_patient(clinic_db, name="Paula Moreira", birth_date="1970-07-07").id


def columns(db: Database, appointment_id: int) -> tuple:
    return tuple(db.read(lambda c: c.execute(text(
        "SELECT a.local_start, a.lead_days, r.name FROM appointment a LEFT JOIN resource r ON r.id = a.doctor_id "
        "WHERE a.id = :a"), {"a": appointment_id}).one()))


def doctor_of(db: Database, appointment_id: int) -> str | None:
    return db.read(lambda c: c.execute(text(
        "SELECT min(r.name) FROM booking b JOIN resource r ON r.id = b.resource_id AND r.kind = 'doctor' "
        "WHERE b.appointment_id = :a"), {"a": appointment_id}).scalar_one())


def test_a_booking_fills_the_columns(clinic_db: Database, patient: int) -> None:
    appt = scheduling.book(clinic_db, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW)
    local, lead, doctor = columns(clinic_db, appt.id)
    assert local == datetime(2027, 1, 4, 8, 0)          # branch-local wall clock, no zone
    booked_local = clinic_db.read(lambda c: c.execute(text(
        "SELECT (booked_at AT TIME ZONE 'America/Sao_Paulo')::date FROM appointment WHERE id = :a"),
        {"a": appt.id}).scalar_one())
    assert lead == (local.date() - booked_local).days
    assert doctor is not None and doctor == doctor_of(clinic_db, appt.id)


def test_a_move_to_another_doctor_and_time_follows(clinic_db: Database, patient: int) -> None:
    appt = scheduling.book(clinic_db, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW)
    before = columns(clinic_db, appt.id)[2]
    other = "Bruno Lima" if before != "Bruno Lima" else "Ana Souza"
    scheduling.move(clinic_db, appt.id, start=T0 + timedelta(hours=2), doctor=other, now=NOW)
    local, _lead, doctor = columns(clinic_db, appt.id)
    assert local == datetime(2027, 1, 4, 10, 0)
    assert doctor == other == doctor_of(clinic_db, appt.id)


def test_raw_sql_writers_and_zone_changes(clinic_db: Database, patient: int) -> None:
    appt = scheduling.book(clinic_db, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW)

    def raw(conn) -> None:
        conn.execute(text("UPDATE appointment SET local_start = '2000-01-01', lead_days = 99, doctor_id = NULL "
                          "WHERE id = :a"), {"a": appt.id})

    clinic_db.admin(raw)
    local, lead, doctor = columns(clinic_db, appt.id)
    assert local == datetime(2027, 1, 4, 8, 0) and lead != 99      # recomputed by the row triggers
    assert doctor is not None and doctor == doctor_of(clinic_db, appt.id)
    # a booking row deleted by hand: the doctor goes with it
    doctor_id = clinic_db.read(lambda c: c.execute(text("SELECT doctor_id FROM appointment WHERE id = :a"),
                                                   {"a": appt.id}).scalar_one())
    clinic_db.admin(lambda c: c.execute(text(
        "DELETE FROM booking WHERE appointment_id = :a AND resource_id = :d"), {"a": appt.id, "d": doctor_id}))
    assert columns(clinic_db, appt.id)[2] is None
    # and inserted again by hand (raw SQL, inside a transaction with replica role: ENABLE ALWAYS)
    clinic_db.admin(lambda c: (c.execute(text("SET LOCAL session_replication_role = replica")), c.execute(text(
        "INSERT INTO booking (appointment_id, resource_id, period, live) "
        "SELECT :a, :d, tstzrange(starts_at, ends_at), false FROM appointment WHERE id = :a"),
        {"a": appt.id, "d": doctor_id})))
    assert clinic_db.read(lambda c: c.execute(text("SELECT doctor_id FROM appointment WHERE id = :a"),
                                              {"a": appt.id}).scalar_one()) == doctor_id
    # the branch moves to another zone: local times follow
    clinic_db.admin(lambda c: c.execute(text("UPDATE branch SET timezone = 'Europe/Lisbon' WHERE name = 'Centro'")))
    assert columns(clinic_db, appt.id)[0] == datetime(2027, 1, 4, 11, 0)   # 11:00 UTC = 11:00 in Lisbon (winter)


def test_a_raw_insert_gets_local_columns_and_no_derived_audit(clinic_db: Database, patient: int) -> None:
    def work(conn) -> int:
        branch, service = conn.execute(text(
            "SELECT (SELECT id FROM branch WHERE name = 'Centro'), (SELECT id FROM service LIMIT 1)")).one()
        return int(conn.execute(text(
            "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source, booked_at) "
            "VALUES (:p, :s, :b, 'confirmed', '2027-03-02 01:30+00', '2027-03-02 02:00+00', 'phone', "
            "'2027-02-27 12:00+00') RETURNING id"), {"p": patient, "s": service, "b": branch}).scalar_one())

    aid = clinic_db.admin(work)
    local, lead, doctor = columns(clinic_db, aid)
    assert local == datetime(2027, 3, 1, 22, 30)        # still March 1st in São Paulo
    assert lead == 2 and doctor is None                  # booked Feb 27 local -> Mar 1 local
    audits = clinic_db.read(lambda c: c.execute(text(
        "SELECT action FROM audit_log WHERE table_name = 'appointment' AND row_id = :a"), {"a": aid}).scalars().all())
    assert audits == ["INSERT"]


def test_a_doctor_given_on_insert_is_kept_only_when_a_booking_names_it(clinic_db: Database, patient: int) -> None:
    """The bulk import gives each appointment's doctor with the row (so no per-row rewrite follows);
    a wrong one — not a doctor, or a doctor none of the bookings names — is corrected."""
    def work(conn) -> list[int]:
        branch, service = conn.execute(text(
            "SELECT (SELECT id FROM branch WHERE name = 'Centro'), (SELECT id FROM service LIMIT 1)")).one()
        ana, bruno, room = conn.execute(text(
            "SELECT (SELECT id FROM resource WHERE name = 'Ana Souza'), (SELECT id FROM resource WHERE name = "
            "'Bruno Lima'), (SELECT id FROM resource WHERE name = 'Imaging 1')")).one()
        ids = []
        for k, given in enumerate((ana, bruno, room)):
            start = datetime(2027, 4, 5 + k, 12, tzinfo=UTC)   # Ana Souza is on leave in early March
            aid = int(conn.execute(text(
                "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source, "
                "doctor_id) VALUES (:p, :s, :b, 'completed', :st, :en, 'import', :d) RETURNING id"),
                {"p": patient, "s": service, "b": branch, "st": start, "en": start + timedelta(minutes=30),
                 "d": given}).scalar_one())
            conn.execute(text("INSERT INTO booking (appointment_id, resource_id, period) "   # with its 10 min buffer
                              "SELECT :a, r, tstzrange(:st, :en) FROM unnest(CAST(:rs AS integer[])) r"),
                         {"a": aid, "rs": [ana, room], "st": start, "en": start + timedelta(minutes=40)})
            ids.append(aid)
        return ids

    right, wrong_doctor, not_a_doctor = clinic_db.admin(work)
    assert [columns(clinic_db, a)[2] for a in (right, wrong_doctor, not_a_doctor)] == ["Ana Souza"] * 3


# -- migration 0007: the booking's local columns ------------------------------------------------------
def booking_columns(db: Database, appointment_id: int) -> list[tuple]:
    return [tuple(r) for r in db.read(lambda c: c.execute(text(
        "SELECT b.branch_id, b.local_day, b.start_min, b.end_min, b.period FROM booking b "
        "WHERE b.appointment_id = :a ORDER BY b.resource_id"), {"a": appointment_id}).all())]


def local_minutes(period, zone: str) -> tuple:
    from zoneinfo import ZoneInfo

    lo = period.lower.astimezone(ZoneInfo(zone))
    return (lo.date(), lo.hour * 60 + lo.minute,
            lo.hour * 60 + lo.minute + round((period.upper - period.lower).total_seconds() / 60))


def test_bookings_carry_their_local_day_and_minutes(clinic_db: Database, patient: int) -> None:
    appt = scheduling.book(clinic_db, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW)
    centro = clinic_db.read(lambda c: c.execute(text("SELECT id FROM branch WHERE name = 'Centro'")).scalar_one())
    rows = booking_columns(clinic_db, appt.id)
    assert rows and all(r[0] == centro for r in rows)
    assert all(r[1:4] == local_minutes(r[4], "America/Sao_Paulo") for r in rows)
    # buffers included: the booking of the doctor starts at or before 08:00 (480) local
    assert min(r[2] for r in rows) <= 480 and max(r[3] for r in rows) >= 480 + 15
    scheduling.move(clinic_db, appt.id, start=T0 + timedelta(hours=3), now=NOW)
    rows = booking_columns(clinic_db, appt.id)
    assert all(r[1:4] == local_minutes(r[4], "America/Sao_Paulo") for r in rows)
    assert min(r[2] for r in rows) >= 480 + 3 * 60 - 60


def test_booking_columns_follow_raw_sql_and_zone_changes_without_audit_noise(clinic_db: Database,
                                                                              patient: int) -> None:
    appt = scheduling.book(clinic_db, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW)
    expected = booking_columns(clinic_db, appt.id)
    audits_before = clinic_db.read(lambda c: c.execute(text(
        "SELECT count(*) FROM audit_log WHERE table_name = 'booking'")).scalar_one())
    clinic_db.admin(lambda c: c.execute(text(
        "UPDATE booking SET local_day = '2000-01-01', start_min = 1, end_min = 2, branch_id = NULL "
        "WHERE appointment_id = :a"), {"a": appt.id}))
    assert booking_columns(clinic_db, appt.id) == expected          # recomputed by the row trigger
    clinic_db.admin(lambda c: c.execute(text("UPDATE branch SET timezone = 'Europe/Lisbon' WHERE name = 'Centro'")))
    rows = booking_columns(clinic_db, appt.id)
    assert all(r[1:4] == local_minutes(r[4], "Europe/Lisbon") for r in rows)
    assert min(r[2] for r in rows) <= 11 * 60                       # 08:00 in São Paulo = 11:00 in Lisbon
    audits_after = clinic_db.read(lambda c: c.execute(text(
        "SELECT count(*) FROM audit_log WHERE table_name = 'booking'")).scalar_one())
    assert audits_after == audits_before                            # derived columns only: no audit rows


def test_a_booking_over_midnight_and_a_dst_change(clinic_db: Database, patient: int) -> None:
    """A raw booking at 23:30 for 2 real hours in Berlin, across 2027-03-28 02:00 -> 03:00: it counts on
    the 27th from minute 1410, and its end is the real length after that (1530), not the wall clock."""
    def work(conn) -> int:
        conn.execute(text("UPDATE branch SET timezone = 'Europe/Berlin' WHERE name = 'Centro'"))
        # A night reading outside every shift (the override is logged) of a service without buffers.
        conn.execute(text("SELECT set_config('clinic.override', 'night reading', true)"))
        conn.execute(text("INSERT INTO service (name, duration_min, doctor_specialty) VALUES ('Night read', 120, "
                          "'radiology')"))
        branch, service, doctor = conn.execute(text(
            "SELECT (SELECT id FROM branch WHERE name = 'Centro'), (SELECT id FROM service WHERE name = 'Night read'), "
            "(SELECT id FROM resource WHERE name = 'Bruno Lima')")).one()
        aid = int(conn.execute(text(
            "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source) "
            "VALUES (:p, :s, :b, 'confirmed', '2027-03-27 23:30+01', '2027-03-28 02:30+02', 'phone') RETURNING id"),
            {"p": patient, "s": service, "b": branch}).scalar_one())
        conn.execute(text("INSERT INTO booking (appointment_id, resource_id, period) "
                          "SELECT id, :d, tstzrange(starts_at, ends_at) FROM appointment WHERE id = :a"),
                     {"a": aid, "d": doctor})
        return aid

    aid = clinic_db.admin(work)
    ((_branch, day, start, end, _period),) = booking_columns(clinic_db, aid)
    assert (day, start, end) == (datetime(2027, 3, 27).date(), 1410, 1530)
