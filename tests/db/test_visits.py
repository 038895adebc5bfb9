"""Visits: several appointments booked together, all or nothing, against the test clinic.

Centro (America/Sao_Paulo, UTC-3): "Abdominal ultrasound" (30 min + 10 after) needs a
radiologist (Ana Souza, Bruno Lima, Mon-Tue 08-12), an imaging room and the one
Ultrasound A; the tests add a "Blood test" (15 min) in a lab room "Lab 1".
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import NotFound, SlotTaken, ValidationError
from reception_app.services import clinic_config, patients, scheduling, visits
from reception_app.services.visits import VisitPart

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
US = "Abdominal ultrasound"
LAB = "Blood test"


def at(hour: int, minute: int = 0, day: int = 4) -> datetime:
    return datetime(2027, 1, day, hour, minute, tzinfo=SP)


@pytest.fixture
def clinic(clinic_db):
    clinic_config.apply(clinic_db, {"room": [{"name": "Lab 1", "branch": "Centro", "kind": "lab"}],
                                    "service": [{"name": LAB, "duration": 15, "needs": {"room": "lab"}}]})
    return clinic_db


@pytest.fixture
def patient(clinic) -> int:
    return patients.add_patient(clinic, name="Maria da Silva", birth_date="1980-02-03", phone="+5527999990000").id


def counts(db) -> tuple[int, int, int]:
    return db.read(lambda c: tuple(c.execute(text(
        "SELECT (SELECT count(*) FROM visit), (SELECT count(*) FROM appointment), "
        "(SELECT count(*) FROM booking)")).one()))


def book(db, patient_id, parts, **kw):
    return visits.book_visit(db, **{"branch": "Centro", "patient_id": patient_id, "parts": parts, "now": NOW, **kw})


def test_a_visit_books_every_part_together_linked_to_it(clinic, patient):
    cid = uuid.uuid4()
    visit = book(clinic, patient, [VisitPart(LAB, at(8)), VisitPart(US, at(8, 30), doctor="Bruno Lima"),
                                   VisitPart(US, at(10))], client_id=cid, note="check-up")
    assert visit.status == "open" and visit.client_id == str(cid) and visit.note == "check-up"
    assert [(a.service, a.start, a.status) for a in visit.appointments] == [
        (LAB, at(8), "confirmed"), (US, at(8, 30), "confirmed"), (US, at(10), "confirmed")]
    assert visit.appointments[1].resources["doctor"] == "Bruno Lima"
    assert visit.appointments[0].resources == {"room": "Lab 1"}
    assert counts(clinic) == (1, 3, 1 + 3 + 3)
    assert visits.get_visit(clinic, visit.id) == visit


def test_a_retry_with_the_same_client_id_books_nothing_twice(clinic, patient):
    cid = uuid.uuid4()
    parts = [VisitPart(LAB, at(8)), VisitPart(US, at(9))]
    first = book(clinic, patient, parts, client_id=cid)
    again = book(clinic, patient, parts, client_id=str(cid))
    assert again.id == first.id and again.appointments == first.appointments
    assert counts(clinic) == (1, 2, 4)
    other = patients.add_patient(clinic, name="João Pereira", birth_date="1975-11-02").id
    with pytest.raises(ValidationError) as err:
        book(clinic, other, parts, client_id=cid)
    assert err.value.field == "client_id"


def test_one_part_taken_books_nothing_and_names_the_part(clinic, patient):
    someone = patients.add_patient(clinic, name="João Pereira", birth_date="1975-11-02").id
    scheduling.book(clinic, branch="Centro", service=US, start=at(9), patient_id=someone, now=NOW)
    before = counts(clinic)
    with pytest.raises(SlotTaken) as err:
        book(clinic, patient, [VisitPart(LAB, at(8)), VisitPart(US, at(9))])
    message = str(err.value)
    assert message.startswith("Part 2 (Abdominal ultrasound at Mon 04/01/2027 09:00)")
    assert "Ultrasound A" in message and "Nothing was booked" in message
    assert counts(clinic) == before  # no visit row, no first part


def test_bad_input_names_the_part_and_the_field(clinic, patient):
    with pytest.raises(ValidationError) as err:
        book(clinic, patient, [VisitPart(LAB, at(8)), VisitPart(US, at(13))])  # outside the doctors' shifts
    assert err.value.field == "parts[1].start" and "Part 2" in err.value.problem
    with pytest.raises(ValidationError) as err:
        book(clinic, patient, [VisitPart("Massage", at(8))])
    assert err.value.field == "parts[0].service"
    with pytest.raises(ValidationError) as err:
        book(clinic, patient, [VisitPart(LAB, at(8), doctor="Ana Souza")])
    assert err.value.field == "parts[0].doctor"
    with pytest.raises(ValidationError) as err:
        book(clinic, patient, [VisitPart(US, at(8)), VisitPart(LAB, at(8, 15))])  # the patient is busy till 8:30
    assert err.value.field == "parts[1].start" and "overlaps" in err.value.problem
    with pytest.raises(ValidationError) as err:
        book(clinic, patient, [])
    assert err.value.field == "parts"
    with pytest.raises(NotFound):
        book(clinic, 999_999, [VisitPart(LAB, at(8))])
    assert counts(clinic) == (0, 0, 0)


def test_parts_of_one_visit_count_against_each_other(clinic, patient):
    # Both ultrasounds need the one Ultrasound A: 08:00 (until 08:40 with its buffer) and 08:30 collide.
    other = patients.add_patient(clinic, name="João Pereira", birth_date="1975-11-02").id
    book(clinic, patient, [VisitPart(US, at(8))])
    with pytest.raises(SlotTaken, match="Part 1"):
        book(clinic, other, [VisitPart(US, at(8, 30))])


def test_parts_cancel_and_move_alone_and_the_last_cancel_closes_the_visit(clinic, patient):
    visit = book(clinic, patient, [VisitPart(LAB, at(8)), VisitPart(US, at(9))])
    lab, us = visit.appointments
    scheduling.move(clinic, us.id, start=at(10), now=NOW)
    scheduling.cancel(clinic, lab.id, reason="not needed")
    visit = visits.get_visit(clinic, visit.id)
    assert visit.status == "open"
    assert [(a.status, a.start) for a in visit.appointments] == [("cancelled", at(8)), ("confirmed", at(10))]
    assert [a.id for a in visit.live] == [us.id]
    scheduling.cancel(clinic, us.id, reason="patient called")
    assert visits.get_visit(clinic, visit.id).status == "cancelled"


def test_cancel_visit_releases_every_part_in_one_go(clinic, patient):
    visit = book(clinic, patient, [VisitPart(LAB, at(8)), VisitPart(US, at(9))])
    done = visits.cancel_visit(clinic, visit.id, reason="patient moved away", cancelled_by="patient")
    assert done.status == "cancelled" and done.live == ()
    rows = clinic.read(lambda c: c.execute(text(
        "SELECT cancelled_by, status_reason FROM appointment WHERE visit_id = :v"), {"v": visit.id}).all())
    assert {tuple(r) for r in rows} == {("patient", "patient moved away")}
    # The time is free again: another patient gets 09:00.
    other = patients.add_patient(clinic, name="João Pereira", birth_date="1975-11-02").id
    assert scheduling.book(clinic, branch="Centro", service=US, start=at(9), patient_id=other, now=NOW).id
    with pytest.raises(NotFound):
        visits.get_visit(clinic, 424242)


def test_reception_can_book_a_visit_as_its_own_login(clinic, patient, login):
    _name, as_reception = login("reception")
    visit = book(as_reception, patient, [VisitPart(LAB, at(8)), VisitPart(US, at(9))])
    assert len(visit.live) == 2
    created_by = clinic.read(lambda c: c.execute(text("SELECT created_by FROM visit")).scalar())
    assert created_by == _name
