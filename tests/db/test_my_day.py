"""A doctor's day: rows by start, waiting since check-in, the next patient, counts; the check-in stamp.

Ana Souza works Centro (America/Sao_Paulo, UTC-3) Monday 2026-06-01 08-12 — a day in the real past, since the database marks no-shows and
completes visits only after their start by its own clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import NotFound
from reception_app.services import clinic_config, patients, scheduling
from reception_app.services.my_day import my_day, waiting_minutes

SP = timezone(timedelta(hours=-3))
NOW = datetime(2026, 5, 29, tzinfo=UTC)
DAY = date(2026, 6, 1)
US = "Abdominal ultrasound"


def at(hour: int, minute: int = 0, day: int = 1, month: int = 6, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SP)


def book(db, patient_id, start, doctor="Ana Souza", now=NOW, service=US):
    return scheduling.book(db, branch="Centro", service=service, start=start, patient_id=patient_id,
                           doctor=doctor, now=now)


def checked_in_at(db, appointment_id):
    return db.read(lambda c: c.execute(text("SELECT checked_in_at FROM appointment WHERE id = :i"),
                                       {"i": appointment_id}).scalar_one())


def stamp(db, appointment_id, when):
    db.write(lambda c: c.execute(text("UPDATE appointment SET checked_in_at = :w WHERE id = :i"),
                                 {"w": when, "i": appointment_id}))


@pytest.fixture
def day(clinic_db):
    """Ana's Monday: Maria 08:00 (confirmed), João 09:00 (checked in at 08:52, came before), Rui 11:00
    (confirmed), Lia 10:00 (cancelled); Bruno has Ivo at 10:00."""
    add = patients.add_patient
    ids = {n: add(clinic_db, name=full, birth_date="1980-01-01").id for n, full in (
        ("maria", "Maria Silva"), ("joao", "João Pereira"), ("rui", "Rui Costa"), ("lia", "Lia Maia"),
        ("ivo", "Ivo Reis"))}
    # João came before: a completed visit the Monday before.
    earlier = book(clinic_db, ids["joao"], at(8, day=25, month=5), now=datetime(2026, 5, 15, tzinfo=UTC))
    scheduling.set_status(clinic_db, earlier.id, "checked_in")
    scheduling.set_status(clinic_db, earlier.id, "completed")
    appts: dict = {
        "maria": book(clinic_db, ids["maria"], at(8)),
        "joao": book(clinic_db, ids["joao"], at(9)),
        "rui": book(clinic_db, ids["rui"], at(11)),
        "lia": book(clinic_db, ids["lia"], at(10)),
    }
    scheduling.set_status(clinic_db, appts["joao"].id, "checked_in")
    stamp(clinic_db, appts["joao"].id, at(8, 52))
    scheduling.cancel(clinic_db, appts["lia"].id, reason="called", now=NOW)
    clinic_config.apply(clinic_db, {"service": [
        {"name": "Report review", "duration": 30, "needs": {"doctor": "radiology", "room": "imaging"}}]})
    appts["ivo"] = book(clinic_db, ids["ivo"], at(10), doctor="Bruno Lima", service="Report review")
    ana = clinic_db.read(lambda c: c.execute(text("SELECT id FROM resource WHERE name = 'Ana Souza'")).scalar_one())
    return clinic_db, ana, appts


def test_rows_waiting_time_first_visit_and_the_next_patient(day):
    db, ana, appts = day
    got = my_day(db, resource_id=ana, local_date=DAY, now=at(9, 10))
    assert got.doctor == "Ana Souza" and got.local_date == DAY
    assert [(r.time_text, r.patient, r.status) for r in got.rows] == [
        ("08:00–08:30", "Maria Silva", "confirmed"),
        ("09:00–09:30", "João Pereira", "checked_in"),
        ("11:00–11:30", "Rui Costa", "confirmed")]      # Lia's cancelled 10:00 and Bruno's patient are not here
    maria, joao, rui = got.rows
    assert (maria.room, maria.service, maria.branch) == ("Imaging 1", US, "Centro")
    assert joao.checked_in_at == at(8, 52) and joao.waiting_min == 18
    assert maria.waiting_min is None and maria.checked_in_at is None
    assert (maria.first_visit, joao.first_visit, rui.first_visit) == (True, False, True)
    assert got.next_patient == joao
    assert (got.arrived, got.waiting, got.done, got.no_show) == (1, 1, 0, 0)
    # The panel recomputes the wait from the row alone.
    assert joao.waiting_at(at(9, 40)) == 48


def test_after_the_waiting_patient_starts_the_next_confirmed_one_not_over_is_next(day):
    db, ana, appts = day
    scheduling.set_status(db, appts["maria"].id, "no_show")
    scheduling.set_status(db, appts["joao"].id, "in_progress")
    got = my_day(db, resource_id=ana, local_date=DAY, now=at(9, 10))
    assert got.next_patient is not None and got.next_patient.patient == "Rui Costa"
    assert got.rows[1].waiting_min is None and got.rows[1].checked_in_at == at(8, 52)  # kept
    assert (got.arrived, got.waiting, got.done, got.no_show) == (1, 0, 0, 1)
    scheduling.set_status(db, appts["joao"].id, "completed")
    after = my_day(db, resource_id=ana, local_date=DAY, now=at(11, 45))
    assert after.next_patient is None                       # Rui's 11:00-11:30 is over and he did not come
    assert (after.arrived, after.done) == (1, 1)


def test_an_empty_day_and_an_unknown_doctor(day):
    db, ana, _ = day
    empty = my_day(db, resource_id=ana, local_date=date(2026, 6, 3), now=NOW)
    assert empty.rows == () and empty.next_patient is None and empty.arrived == 0
    with pytest.raises(NotFound):
        my_day(db, resource_id=999_999, local_date=DAY, now=NOW)


def test_walk_ins_appear_checked_in_with_their_arrival_time(day):
    db, ana, appts = day
    rui = appts["rui"].patient_id
    walk = scheduling.walk_in(db, branch="Centro", service=US, patient_id=rui, now=at(9, 35), doctor="Ana Souza")
    got = my_day(db, resource_id=ana, local_date=DAY, now=at(9, 50))
    row = next(r for r in got.rows if r.appointment_id == walk.id)
    assert (row.status, row.checked_in_at, row.waiting_min) == ("checked_in", at(9, 35), 15)
    assert got.next_patient is not None and got.next_patient.patient == "João Pereira"  # earlier start first


def test_the_database_stamps_the_check_in_and_never_clears_it(day):
    db, _, appts = day
    maria = appts["maria"].id
    assert checked_in_at(db, maria) is None
    scheduling.set_status(db, maria, "checked_in")
    stamped = checked_in_at(db, maria)
    server_now = db.read(lambda c: c.execute(text("SELECT now()")).scalar_one())
    assert stamped is not None and abs(server_now - stamped) < timedelta(minutes=5)
    scheduling.set_status(db, maria, "completed")
    db.write(lambda c: c.execute(text("UPDATE appointment SET checked_in_at = NULL WHERE id = :i"), {"i": maria}))
    assert checked_in_at(db, maria) == stamped


def test_a_doctor_checks_in_their_own_patient_and_the_stamp_is_written(day, login):
    db, ana, appts = day
    _, as_ana = login("doctor", doctor="Ana Souza")
    scheduling.set_status(as_ana, appts["maria"].id, "checked_in")
    assert checked_in_at(db, appts["maria"].id) is not None
    got = my_day(as_ana, resource_id=ana, local_date=DAY, now=at(9, 10))  # doctors read their day
    assert got.waiting == 2


def test_waiting_minutes_rules():
    assert waiting_minutes(at(9), "checked_in", at(9, 30)) == 30
    assert waiting_minutes(at(9), "checked_in", at(8, 59)) == 0      # a clock behind never gives minus
    assert waiting_minutes(at(9), "in_progress", at(9, 30)) is None
    assert waiting_minutes(None, "checked_in", at(9, 30)) is None
