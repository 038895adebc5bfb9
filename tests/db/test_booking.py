"""Booking and slot search through the services, against the test clinic (tests/data/test_clinic.toml).

Centro (America/Sao_Paulo, UTC-3 in January): "Abdominal ultrasound" (30 min,
10 min buffer after, 60 min notice, 365 days horizon) needs a radiologist
(Ana Souza, Bruno Lima: Mon-Tue(-Wed) 08-12 local), an imaging room (Imaging
1, Imaging 2) and the ONE ultrasound (Ultrasound A).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import NotFound, SlotTaken, ValidationError
from reception_app.services import catalog, clinic_config, patients, scheduling

SP = timezone(timedelta(hours=-3))      # Sao Paulo in 2027 (no DST)
NOW = datetime(2027, 1, 1, tzinfo=UTC)
MONDAY = date(2027, 1, 4)
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)  # Monday 08:00 local = 11:00Z
US = "Abdominal ultrasound"


@pytest.fixture
def patient(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="Maria da Silva", birth_date="1980-02-03",
                                phone="+5527999990000").id


def book(db, patient_id, start=T0, **kw):
    args = dict(branch="Centro", service=US, start=start, patient_id=patient_id, now=NOW)
    args.update(kw)
    return scheduling.book(db, **args)


def counts(db) -> dict[str, int]:
    def work(conn):
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("appointment", "booking", "audit_log", "patient")}
    return db.read(work)


def starts(offers) -> list[str]:
    return [o.to_json()["start"] for o in offers]


# -- happy path ------------------------------------------------------------------------
def test_book_happy_path(clinic_db, patient):
    appt = book(clinic_db, patient, source="walk_in", reason="first visit")
    assert appt.start == datetime(2027, 1, 4, 11, 0, tzinfo=UTC)
    assert appt.end == datetime(2027, 1, 4, 11, 30, tzinfo=UTC)
    assert appt.status == "confirmed"
    assert appt.resources == {"doctor": "Ana Souza", "room": "Imaging 1", "equipment": "Ultrasound A"}
    data = appt.to_json()
    assert data == {
        "id": appt.id, "start": "2027-01-04T11:00:00Z", "end": "2027-01-04T11:30:00Z", "status": "confirmed",
        "branch": "Centro", "service": US, "patient_id": patient, "patient": "Maria da Silva",
        "source": "walk_in", "resources": {"doctor": "Ana Souza", "room": "Imaging 1",
                                           "equipment": "Ultrasound A"},
    }
    # One booking per resource, each covering the appointment plus the 10-minute buffer.
    rows = clinic_db.read(lambda c: c.execute(text(
        "SELECT r.name, lower(b.period), upper(b.period), b.live FROM booking b JOIN resource r "
        "ON r.id = b.resource_id WHERE b.appointment_id = :a ORDER BY r.name"), {"a": appt.id}).all())
    assert [tuple(r) for r in rows] == [
        (name, appt.start, appt.end + timedelta(minutes=10), True)
        for name in ("Ana Souza", "Imaging 1", "Ultrasound A")]
    assert scheduling.get_appointment(clinic_db, appt.id) == appt
    assert scheduling.list_appointments(clinic_db, branch="Centro", local_date="2027-01-04") == [appt]


def test_book_accepts_any_offset_for_the_same_instant(clinic_db, patient):
    appt = book(clinic_db, patient, start=datetime(2027, 1, 4, 11, 0, tzinfo=UTC))
    assert appt.start == T0


def test_pinned_doctor_and_room(clinic_db, patient):
    appt = book(clinic_db, patient, doctor="Bruno Lima", room="Imaging 2")
    assert appt.resources == {"doctor": "Bruno Lima", "room": "Imaging 2", "equipment": "Ultrasound A"}
    # Names match case-insensitively when there is no exact match.
    other = book(clinic_db, patient, start=T0 + timedelta(hours=1), doctor="ana souza", room="IMAGING 2")
    assert other.resources["doctor"] == "Ana Souza" and other.resources["room"] == "Imaging 2"


@pytest.mark.parametrize("override, field", [
    ({"branch": "Nowhere"}, "branch"),
    ({"service": "Brain surgery"}, "service"),
    ({"doctor": "Dr. Who"}, "doctor"),
    ({"doctor": "Imaging 1"}, "doctor"),          # a room is not a doctor
    ({"room": "Ultrasound A"}, "room"),           # equipment is not a room
    ({"equipment": "Nope"}, "equipment"),
    ({"patient_id": 999_999}, "patient"),
])
def test_unknown_names_raise_not_found_naming_the_field(clinic_db, patient, override, field):
    before = counts(clinic_db)
    args = {"patient_id": patient, **override}
    with pytest.raises(NotFound) as info:
        book(clinic_db, **args)
    assert isinstance(info.value, ValidationError)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert counts(clinic_db) == before


def test_pinning_a_kind_the_service_does_not_need(clinic_db, patient):
    with pytest.raises(ValidationError) as info:
        book(clinic_db, patient, branch="Berlin", service="Consultation",
             start=datetime(2027, 1, 2, 10, 0, tzinfo=UTC), equipment="Ultrasound A")
    assert info.value.field == "equipment"


def test_unknown_source(clinic_db, patient):
    with pytest.raises(ValidationError) as info:
        book(clinic_db, patient, source="telepathy")
    assert info.value.field == "source"


# -- bad starts ------------------------------------------------------------------------
@pytest.mark.parametrize("start, problem", [
    (T0 + timedelta(minutes=5), "grid"),
    (T0 + timedelta(seconds=30), "grid"),
    (datetime(2027, 1, 4, 8, 0), "offset"),                       # naive
])
def test_start_must_be_aware_and_on_the_grid(clinic_db, patient, start, problem):
    before = counts(clinic_db)
    with pytest.raises(ValidationError) as info:
        book(clinic_db, patient, start=start)
    assert info.value.field == "start"
    assert problem in str(info.value)
    assert counts(clinic_db) == before


def test_start_in_a_dst_gap_is_refused(clinic_db, patient):
    # Europe/Berlin springs forward on 2027-03-28 (Sunday) 02:00 -> 03:00: 02:30 does not exist.
    gap = datetime(2027, 3, 28, 2, 30, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(ValidationError) as info:
        book(clinic_db, patient, branch="Berlin", service="Consultation", start=gap)
    assert info.value.field == "start"
    assert "does not exist" in str(info.value) and "Europe/Berlin" in str(info.value)
    # The same day at a real time books (Clara Weiss works Sundays 00-24).
    ok = book(clinic_db, patient, branch="Berlin", service="Consultation",
              start=datetime(2027, 3, 28, 3, 0, tzinfo=timezone(timedelta(hours=2))))
    assert ok.start == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert ok.resources == {"doctor": "Clara Weiss", "room": "Berlin Room"}


def test_both_instances_of_a_repeated_local_time_are_bookable(clinic_db, patient):
    # Europe/Berlin falls back on 2027-10-31 (Sunday) 03:00 -> 02:00: 02:30 happens twice.
    first = book(clinic_db, patient, branch="Berlin", service="Consultation",
                 start=datetime(2027, 10, 31, 2, 30, tzinfo=timezone(timedelta(hours=2))))
    second = book(clinic_db, patient, branch="Berlin", service="Consultation",
                  start=datetime(2027, 10, 31, 2, 30, tzinfo=timezone(timedelta(hours=1))))
    assert (first.start, second.start) == (datetime(2027, 10, 31, 0, 30, tzinfo=UTC),
                                           datetime(2027, 10, 31, 1, 30, tzinfo=UTC))
    day = scheduling.find_slots(clinic_db, branch="Berlin", service="Consultation", local_date="2027-10-31",
                                now=NOW)
    assert len(day) == 100 - 2      # a 25-hour day has 100 quarter hours; two are booked
    assert first.start not in {o.start for o in day} and second.start not in {o.start for o in day}


def test_start_in_the_past_or_inside_minimum_notice(clinic_db, patient):
    with pytest.raises(ValidationError, match="in the past") as info:
        book(clinic_db, patient, start=T0, now=T0 + timedelta(days=1))
    assert info.value.field == "start"
    # 60 minutes of notice: 30 minutes before is too soon, exactly 60 is fine.
    with pytest.raises(ValidationError, match="minimum notice") as info:
        book(clinic_db, patient, start=T0, now=T0 - timedelta(minutes=30))
    assert info.value.field == "start"
    assert book(clinic_db, patient, start=T0, now=T0 - timedelta(minutes=60)).start == T0


def test_start_beyond_the_horizon(clinic_db, patient):
    far = datetime(2028, 1, 3, 8, 0, tzinfo=SP)  # a Monday 367 days after NOW
    with pytest.raises(ValidationError, match="horizon") as info:
        book(clinic_db, patient, start=far)
    assert info.value.field == "start"
    assert book(clinic_db, patient, start=far, now=far - timedelta(days=30)).start == far


@pytest.mark.parametrize("start", [
    datetime(2027, 1, 4, 12, 30, tzinfo=SP),   # branch closed 12-13 on Mondays
    datetime(2027, 1, 4, 14, 0, tzinfo=SP),    # branch open, no radiologist on shift
    datetime(2027, 1, 4, 11, 30, tzinfo=SP),   # 30 min + 10 min buffer would run past the shift's end
    datetime(2027, 1, 7, 9, 0, tzinfo=SP),     # Thursday: no radiologist at all
    datetime(2027, 1, 9, 9, 0, tzinfo=SP),     # Saturday: branch closed
])
def test_start_outside_hours_is_a_validation_error(clinic_db, patient, start):
    with pytest.raises(ValidationError, match="opening hours") as info:
        book(clinic_db, patient, start=start)
    assert info.value.field == "start"


def test_holidays_close_the_day(clinic_db, patient):
    # 2027-12-25 (the test clinic's Christmas) is on the branch's calendar.
    centro = clinic_db.read(lambda c: catalog.load_branch(c, "Centro", date(2027, 12, 1), date(2027, 12, 31)))
    assert date(2027, 12, 25) in centro.spec.holidays
    assert scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date="2027-12-25", now=NOW) == []
    # A holiday on a working Monday removes every slot of that day, and only that day.
    clinic_config.apply(clinic_db, {"holiday": [{"branch": "Centro", "date": "2027-01-11", "name": "Closed"}]})
    assert scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date="2027-01-11", now=NOW) == []
    assert scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date="2027-01-18", now=NOW)
    with pytest.raises(ValidationError, match="holiday"):
        book(clinic_db, patient, start=datetime(2027, 1, 11, 8, 0, tzinfo=SP))


# -- taken -------------------------------------------------------------------------------
def test_taken_slot_names_the_resource(clinic_db, patient):
    book(clinic_db, patient)
    before = counts(clinic_db)
    # The other doctor and the other room are free, but there is only one ultrasound.
    with pytest.raises(SlotTaken) as info:
        book(clinic_db, patient, doctor="Bruno Lima", room="Imaging 2")
    assert info.value.resource == "Ultrasound A"
    assert "Ultrasound A" in str(info.value)
    with pytest.raises(SlotTaken) as info:
        book(clinic_db, patient, start=T0 + timedelta(minutes=30))   # inside the 10-minute buffer
    assert info.value.resource == "Ultrasound A"
    assert counts(clinic_db) == before


def test_taken_pinned_doctor_is_named(clinic_db, patient):
    other = patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-01-01").id
    book(clinic_db, patient, doctor="Ana Souza")
    clinic_config.apply(clinic_db, {"equipment": [{"name": "Ultrasound B", "branch": "Centro",
                                                    "kind": "ultrasound"}]})
    with pytest.raises(SlotTaken) as info:
        book(clinic_db, other, doctor="Ana Souza")
    assert info.value.resource == "Ana Souza"
    # Unpinned, the second ultrasound and the other doctor make it bookable (for another patient).
    appt = book(clinic_db, other)
    assert appt.resources == {"doctor": "Bruno Lima", "room": "Imaging 2", "equipment": "Ultrasound B"}


def test_time_off_is_taken_not_invalid(clinic_db, patient):
    leave_day = datetime(2027, 3, 1, 8, 0, tzinfo=SP)  # Ana Souza is on leave 2027-03-01..08
    with pytest.raises(SlotTaken) as info:
        book(clinic_db, patient, start=leave_day, doctor="Ana Souza")
    assert info.value.resource == "Ana Souza"
    assert book(clinic_db, patient, start=leave_day).resources["doctor"] == "Bruno Lima"


def test_constraint_decides_even_when_the_engine_is_fooled(clinic_db, patient, monkeypatch):
    """If the slot search misses a booking (a stale or buggy read), the exclusion
    constraint still refuses, the error names the resource, and nothing is half-written."""
    book(clinic_db, patient)
    other = patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-01-01").id
    before = counts(clinic_db)
    monkeypatch.setattr(catalog, "busy_seconds", lambda *a, **k: {})
    with pytest.raises(SlotTaken) as info:     # another patient: the resource, not the patient, is in the way
        book(clinic_db, other, doctor="Bruno Lima", room="Imaging 2")
    assert info.value.resource == "Ultrasound A"
    # The constraint's path (not the engine's explanation), in the branch's local time:
    assert str(info.value) == "Ultrasound A was booked by someone else at 08:00 just now."
    assert counts(clinic_db) == before


# -- idempotency ----------------------------------------------------------------------
def test_client_id_makes_a_retry_safe(clinic_db, patient):
    cid = uuid.uuid4()
    first = book(clinic_db, patient, client_id=cid)
    before = counts(clinic_db)
    again = book(clinic_db, patient, client_id=str(cid))
    assert again == replace(first, already_booked=True)     # the same appointment, and it says so
    assert again.client_id == str(cid) and not first.already_booked
    assert again.to_json()["already_booked"] is True and "already_booked" not in first.to_json()
    assert counts(clinic_db) == before
    # Without a client id, the same request is a second booking attempt (and the slot is taken).
    with pytest.raises(SlotTaken):
        book(clinic_db, patient)


def test_a_client_id_reused_for_another_booking_is_refused(clinic_db, patient):
    cid = uuid.uuid4()
    first = book(clinic_db, patient, client_id=cid)
    before = counts(clinic_db)
    with pytest.raises(ValidationError) as info:
        book(clinic_db, patient, client_id=cid, start=T0 + timedelta(hours=1))
    assert info.value.field == "client_id" and f"appointment {first.id}" in str(info.value)
    assert counts(clinic_db) == before


def test_nothing_is_written_by_failed_bookings(clinic_db, patient):
    before = counts(clinic_db)
    for kw in ({"start": T0 + timedelta(minutes=7)}, {"branch": "X"}, {"start": T0, "now": T0},
               {"start": datetime(2027, 1, 4, 14, 0, tzinfo=SP)}):
        with pytest.raises(ValidationError):
            book(clinic_db, patient, **kw)
    assert counts(clinic_db) == before


# -- slot search -------------------------------------------------------------------------
def test_find_slots_shape_and_order(clinic_db):
    offers = scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date=MONDAY, now=NOW)
    data = [o.to_json() for o in offers]
    # 08:00 .. 11:15 local: the 40 occupied minutes must fit in the 08-12 shift.
    assert [d["start"] for d in data] == [f"2027-01-04T{11 + m // 60:02d}:{m % 60:02d}:00Z"
                                          for m in range(0, 210, 15)]
    assert all(set(d) == {"start", "end", "resources"} for d in data)
    for o, d in zip(offers, data, strict=True):
        assert o.end - o.start == timedelta(minutes=30)
        assert d["end"].endswith("Z")
        assert set(d["resources"]) == {"doctor", "room", "equipment"}
        assert {k: [n for _, n in v] for k, v in o.choices.items()} == {
            "doctor": ["Ana Souza", "Bruno Lima"], "room": ["Imaging 1", "Imaging 2"],
            "equipment": ["Ultrasound A"]}
        assert {k: dict(v)[o.resource_ids[k]] for k, v in o.choices.items()} == o.resources
    assert starts(offers) == sorted(starts(offers))
    # A string date works the same, and several days come sorted across days.
    two = scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date="2027-01-04", days=2, now=NOW)
    assert starts(two)[:len(offers)] == starts(offers)
    assert len(two) == 2 * len(offers)
    assert starts(two) == sorted(starts(two))


def test_find_slots_bad_input(clinic_db):
    with pytest.raises(ValidationError) as info:
        scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date="04/01/2027", now=NOW)
    assert info.value.field == "date"
    with pytest.raises(ValidationError) as info:
        scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date=MONDAY, days=0, now=NOW)
    assert info.value.field == "days"
    with pytest.raises(NotFound) as info:
        scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date=MONDAY, room="Nope", now=NOW)
    assert info.value.field == "room"


def test_a_booked_start_disappears_and_buffers_apply(clinic_db, patient):
    before = starts(scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date=MONDAY, now=NOW))
    assert before[:4] == ["2027-01-04T11:00:00Z", "2027-01-04T11:15:00Z", "2027-01-04T11:30:00Z",
                          "2027-01-04T11:45:00Z"]
    appt = book(clinic_db, patient)
    after = starts(scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date=MONDAY, now=NOW))
    # 08:00 is booked until 08:40 (buffer): 08:15 and 08:30 overlap it, 08:45 is the next free start.
    assert after[0] == "2027-01-04T11:45:00Z"
    assert after == [s for s in before if s >= "2027-01-04T11:45:00Z"]
    with pytest.raises(SlotTaken):
        book(clinic_db, patient, start=T0 + timedelta(minutes=30))
    nxt = book(clinic_db, patient, start=T0 + timedelta(minutes=45))
    assert nxt.start == appt.start + timedelta(minutes=45)
    # Cancelling gives the starts back.
    scheduling.cancel(clinic_db, appt.id, reason="test", now=NOW)
    back = starts(scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date=MONDAY, now=NOW))
    # 08:00 is free again (it ends, buffer included, at 08:40 < 08:45); 08:15 would overlap 08:45.
    assert back[:2] == ["2027-01-04T11:00:00Z", "2027-01-04T12:30:00Z"]


def test_find_slots_respects_now_and_pins(clinic_db):
    late = scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date=MONDAY,
                                 now=datetime(2027, 1, 4, 12, 0, tzinfo=UTC))
    # Minimum notice 60 minutes: the first start is 13:00Z (10:00 local).
    assert starts(late)[0] == "2027-01-04T13:00:00Z"
    bruno = scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date=MONDAY, doctor="Bruno Lima",
                                  now=NOW)
    assert {o.resources["doctor"] for o in bruno} == {"Bruno Lima"}
    assert all([n for _, n in o.choices["doctor"]] == ["Bruno Lima"] for o in bruno)
    # Wednesday: only Bruno Lima works.
    wed = scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date="2027-01-06", now=NOW)
    assert wed and {n for o in wed for _, n in o.choices["doctor"]} == {"Bruno Lima"}
    assert scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date="2027-01-06",
                                 doctor="Ana Souza", now=NOW) == []


def test_time_off_removes_the_doctor(clinic_db):
    leave = scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date="2027-03-01", now=NOW)
    assert leave and all([n for _, n in o.choices["doctor"]] == ["Bruno Lima"] for o in leave)
    assert scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date="2027-03-01",
                                 doctor="Ana Souza", now=NOW) == []
    # The leave ends at local midnight of 2027-03-08: she is back that Monday.
    back = scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date="2027-03-08", now=NOW)
    assert back[0].resources["doctor"] == "Ana Souza"


def test_slots_need_both_branch_hours_and_a_shift(clinic_db):
    # Fridays: the branch is open 07-19 but the only radiologist shift is 22:00-06:00.
    assert scheduling.find_slots(clinic_db, branch="Centro", service=US, local_date="2027-01-08", now=NOW) == []


def test_cancelling_twice_is_a_harmless_retry(clinic_db, patient):
    appt = book(clinic_db, patient)
    first = scheduling.cancel(clinic_db, appt.id, reason="patient called")
    audit_rows = clinic_db.read(lambda c: c.execute(text("SELECT count(*) FROM audit_log")).scalar_one())
    again = scheduling.cancel(clinic_db, appt.id, reason="patient called")
    assert first.status == again.status == "cancelled"
    assert clinic_db.read(lambda c: c.execute(text("SELECT count(*) FROM audit_log")).scalar_one()) == audit_rows


def test_a_new_booking_cannot_start_completed(clinic_db, patient):
    with pytest.raises(ValidationError) as info:
        book(clinic_db, patient, status="completed")
    assert info.value.field == "status"
