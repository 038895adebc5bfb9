"""The waitlist (issue 4): entries, freed slots turned into held offers, accept, decline, expiry.

The test clinic (tests/data/test_clinic.toml): Centro, America/Sao_Paulo (UTC-3);
Ana Souza and Bruno Lima do ultrasound Monday mornings 08:00-12:00. ``NOW`` is
2027-01-01; the freed slots are on Monday 2027-01-04 (real future, so migration
0003's trigger records them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from reception_app.domain.errors import InvalidTransition, NotFound, ValidationError
from reception_app.services import patients, scheduling, waitlist

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
DAY = date(2027, 1, 4)
US = "Abdominal ultrasound"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=SP)


@pytest.fixture
def people(clinic_db) -> dict[str, int]:
    names = {"cancels": "Carla Dias", "first": "Paulo Reis", "second": "Rita Nunes", "third": "Tomas Lobo"}
    return {k: patients.add_patient(clinic_db, name=n, birth_date="1980-01-01", phone=f"+55119876543{i:02d}").id
            for i, (k, n) in enumerate(names.items())}


def add(db, patient_id, **kw) -> waitlist.WaitlistEntryView:
    args = {"patient_id": patient_id, "service": US, "branch": "Centro", "first_date": DAY, "last_date": DAY,
            "earliest": "07:00", "latest": "12:00", "now": NOW} | kw
    return waitlist.add_entry(db, **args)


def free_slot(db, patient_id, start=None, **kw) -> scheduling.AppointmentView:
    """Book and cancel: one freed slot (at 08:00 with Ana Souza, Imaging 1, Ultrasound A by default)."""
    appt = scheduling.book(db, branch="Centro", service=US, start=start or at(8), patient_id=patient_id, now=NOW,
                           **({"doctor": "Ana Souza"} | kw))
    scheduling.cancel(db, appt.id, reason="patient called")
    return appt


def one(db, sql, **params):
    return db.read(lambda c: c.execute(text(sql), params).one())


def states(db) -> dict[str, list]:
    return db.read(lambda c: {
        "slots": [tuple(r) for r in c.execute(text("SELECT id, state FROM freed_slot ORDER BY id"))],
        "entries": [tuple(r) for r in c.execute(text("SELECT id, status FROM waitlist_entry ORDER BY id"))],
    })


# -- entries ----------------------------------------------------------------------------------
def test_an_entry_is_stored_with_its_local_window_and_listed_by_priority_then_age(clinic_db, people):
    low = add(clinic_db, people["first"], note="  mornings   only ")
    high = add(clinic_db, people["second"], priority=5, doctor="Bruno Lima", first_date="2027-01-04",
               last_date="2027-01-08", earliest="08:30", latest="24:00")
    assert (high.doctor, high.earliest_min, high.latest_min, high.status) == ("Bruno Lima", 510, 1440, "waiting")
    assert high.window_text == "2027-01-04 – 2027-01-08, 08:30–24:00"
    assert low.note == "mornings only" and low.doctor is None and low.window_text == "2027-01-04, 07:00–12:00"
    assert [e.id for e in waitlist.list_entries(clinic_db, branch="Centro")] == [high.id, low.id]
    assert waitlist.list_entries(clinic_db, branch="Berlin") == []


@pytest.mark.parametrize("kw, field", [
    ({"first_date": "2027-01-05", "last_date": "2027-01-04"}, "last_date"),
    ({"first_date": "2026-12-01", "last_date": "2026-12-02"}, "last_date"),   # before today at the branch
    ({"earliest": "12:00", "latest": "11:00"}, "latest"),
    ({"earliest": "25:00"}, "earliest"),
    ({"latest": "9h"}, "latest"),
    ({"priority": 5000}, "priority"),
    ({"doctor": "Clara Weiss"}, "doctor"),            # a general practitioner for an ultrasound
    ({"service": "Consultation", "branch": "Centro", "doctor": "Ana Souza"}, "doctor"),
    ({"first_date": "4/1/2027"}, "first_date"),
])
def test_bad_input_names_the_field_and_writes_nothing(clinic_db, people, kw, field):
    with pytest.raises(ValidationError) as err:
        add(clinic_db, people["first"], **kw)
    assert err.value.field == field
    assert waitlist.list_entries(clinic_db, status=None) == []


def test_unknown_names_and_patients_are_not_found(clinic_db, people):
    for kw, field in (({"service": "Massage"}, "service"), ({"branch": "Nowhere"}, "branch"),
                      ({"doctor": "Dr. Who"}, "doctor")):
        with pytest.raises(NotFound) as err:
            add(clinic_db, people["first"], **kw)
        assert err.value.field == field
    with pytest.raises(NotFound) as err:
        add(clinic_db, 999_999)
    assert err.value.field == "patient"


def test_a_retried_add_with_the_same_client_id_adds_once(clinic_db, people):
    cid = "4b0c1b3e-6f7a-4d65-9d1e-1234567890ab"
    a = add(clinic_db, people["first"], client_id=cid)
    b = add(clinic_db, people["first"], client_id=cid)
    assert a.id == b.id and len(waitlist.list_entries(clinic_db)) == 1
    with pytest.raises(ValidationError) as err:
        add(clinic_db, people["second"], client_id=cid)
    assert err.value.field == "client_id"


# -- offers -------------------------------------------------------------------------------------
def test_a_freed_slot_goes_to_the_first_fitting_entry_as_a_held_offer_with_a_notification(clinic_db, people):
    older = add(clinic_db, people["first"])
    urgent = add(clinic_db, people["second"], priority=3)
    same_patient = add(clinic_db, people["cancels"], priority=9)   # the one who cancelled: skipped
    freed = free_slot(clinic_db, people["cancels"])
    offers = waitlist.process_freed_slots(clinic_db, now=NOW)
    assert len(offers) == 1
    offer = offers[0]
    assert (offer.entry_id, offer.patient_id, offer.status) == (urgent.id, people["second"], "open")
    assert (offer.start, offer.end) == (freed.start, freed.end)
    assert offer.resources == freed.resources
    assert offer.expires_at == NOW + timedelta(minutes=10) and offer.seconds_left(NOW) == 600
    appt = one(clinic_db, "SELECT status, hold_expires_at, source FROM appointment WHERE id = :i",
               i=offer.appointment_id)
    assert appt.status == "held" and appt.hold_expires_at == NOW + timedelta(minutes=10)
    holds = one(clinic_db, "SELECT bool_and(hold_until = :x) AS same, count(*) AS n FROM booking "
                           "WHERE appointment_id = :i", i=offer.appointment_id, x=NOW + timedelta(minutes=10))
    assert holds.same and holds.n == 3
    note = one(clinic_db, "SELECT channel, purpose FROM reminder WHERE appointment_id = :i", i=offer.appointment_id)
    assert tuple(note) == ("sms", "waitlist_offer")
    st = states(clinic_db)
    assert st["slots"] == [(offer.freed_slot_id, "offered")]
    assert dict(st["entries"]) == {older.id: "waiting", urgent.id: "offered", same_patient.id: "waiting"}
    # Nothing more to do: a second sweep (another workstation) makes no second offer.
    assert waitlist.process_freed_slots(clinic_db, now=NOW) == []
    assert [o.id for o in waitlist.list_offers(clinic_db, branch="Centro")] == [offer.id]


def test_accept_books_the_held_time(clinic_db, people):
    entry = add(clinic_db, people["first"])
    free_slot(clinic_db, people["cancels"])
    offer = waitlist.process_freed_slots(clinic_db, now=NOW)[0]
    done = waitlist.accept_offer(clinic_db, offer.id, now=NOW + timedelta(minutes=9))
    assert done.status == "accepted" and done.decided_at == NOW + timedelta(minutes=9)
    assert scheduling.get_appointment(clinic_db, offer.appointment_id).status == "confirmed"
    assert states(clinic_db) == {"slots": [(offer.freed_slot_id, "filled")], "entries": [(entry.id, "booked")]}
    assert waitlist.accept_offer(clinic_db, offer.id, now=NOW + timedelta(minutes=9)).status == "accepted"  # retry
    with pytest.raises(InvalidTransition):
        waitlist.decline_offer(clinic_db, offer.id, now=NOW)
    assert waitlist.list_entries(clinic_db) == []


def test_decline_passes_the_slot_to_the_next_entry_and_never_back(clinic_db, people):
    first = add(clinic_db, people["first"], priority=2)
    second = add(clinic_db, people["second"], priority=1)
    free_slot(clinic_db, people["cancels"])
    offer = waitlist.process_freed_slots(clinic_db, now=NOW)[0]
    assert offer.entry_id == first.id
    result = waitlist.decline_offer(clinic_db, offer.id, now=NOW + timedelta(minutes=2))
    assert result.declined.status == "declined"
    assert result.next_offer is not None and result.next_offer.entry_id == second.id
    assert result.next_offer.expires_at == NOW + timedelta(minutes=12)
    released = one(clinic_db, "SELECT status, cancelled_by FROM appointment WHERE id = :i", i=offer.appointment_id)
    assert tuple(released) == ("cancelled", "patient")
    assert dict(states(clinic_db)["entries"]) == {first.id: "waiting", second.id: "offered"}
    # The second declines too: the first is never offered this slot again, so it goes unfilled.
    again = waitlist.decline_offer(clinic_db, result.next_offer.id, now=NOW + timedelta(minutes=3))
    assert again.next_offer is None
    assert states(clinic_db)["slots"] == [(offer.freed_slot_id, "unfilled")]
    assert dict(states(clinic_db)["entries"]) == {first.id: "waiting", second.id: "waiting"}


def test_an_expired_offer_is_released_and_the_slot_passes_on(clinic_db, people):
    first = add(clinic_db, people["first"], priority=2)
    second = add(clinic_db, people["second"])
    free_slot(clinic_db, people["cancels"])
    offer = waitlist.process_freed_slots(clinic_db, now=NOW)[0]
    assert waitlist.process_freed_slots(clinic_db, now=NOW + timedelta(minutes=9)) == []  # not yet
    later = NOW + timedelta(minutes=10)
    with pytest.raises(InvalidTransition):
        waitlist.accept_offer(clinic_db, offer.id, now=later)
    nxt = waitlist.process_freed_slots(clinic_db, now=later)
    assert [o.entry_id for o in nxt] == [second.id]
    old = one(clinic_db, "SELECT a.status, a.status_reason, o.status AS offer FROM appointment a "
                         "JOIN waitlist_offer o ON o.appointment_id = a.id WHERE o.id = :i", i=offer.id)
    assert tuple(old) == ("cancelled", "offer expired", "expired")
    assert dict(states(clinic_db)["entries"]) == {first.id: "waiting", second.id: "offered"}


@pytest.mark.parametrize("kw", [
    {"doctor": "Bruno Lima"},                                   # wants another doctor
    {"earliest": "08:15"},                                      # starts too early for them
    {"latest": "08:15"},                                        # the 08:00-08:30 slot ends too late
    {"first_date": "2027-01-05", "last_date": "2027-01-08"},    # another day
    {"service": "Consultation", "branch": "Centro"},            # another service
])
def test_an_entry_that_does_not_fit_gets_nothing_and_the_slot_goes_unfilled(clinic_db, people, kw):
    entry = add(clinic_db, people["first"], **kw)
    free_slot(clinic_db, people["cancels"])
    assert waitlist.process_freed_slots(clinic_db, now=NOW) == []
    st = states(clinic_db)
    assert st["slots"][0][1] == "unfilled" and st["entries"] == [(entry.id, "waiting")]


def test_the_window_edges_and_the_doctor_preference_fit(clinic_db, people):
    entry = add(clinic_db, people["first"], doctor="Ana Souza", earliest="08:00", latest="08:30")
    free_slot(clinic_db, people["cancels"])
    offers = waitlist.process_freed_slots(clinic_db, now=NOW)
    assert [o.entry_id for o in offers] == [entry.id] and offers[0].resources["doctor"] == "Ana Souza"


def test_a_patient_already_booked_at_that_time_is_skipped(clinic_db, people):
    busy = add(clinic_db, people["first"], priority=5)
    other = add(clinic_db, people["second"])
    # An imported appointment of theirs at 08:15 (no resources: the clinic has one ultrasound).
    clinic_db.write(lambda c: c.execute(text(
        "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source) "
        "SELECT :p, s.id, b.id, 'confirmed', :s, :e, 'import' FROM service s, branch b "
        "WHERE s.name = 'Consultation' AND b.name = 'Centro'"),
        {"p": people["first"], "s": at(8, 15), "e": at(8, 30)}))
    free_slot(clinic_db, people["cancels"])
    assert [o.entry_id for o in waitlist.process_freed_slots(clinic_db, now=NOW)] == [other.id]
    assert dict(states(clinic_db)["entries"])[busy.id] == "waiting"


def test_a_slot_rebooked_by_someone_else_or_already_past_is_closed_unfilled(clinic_db, people):
    add(clinic_db, people["first"], first_date=DAY, last_date="2027-01-05")
    free_slot(clinic_db, people["cancels"])                               # 08:00 Monday
    free_slot(clinic_db, people["cancels"], start=at(9))                  # 09:00 Monday
    scheduling.book(clinic_db, branch="Centro", service=US, start=at(8), patient_id=people["third"], now=NOW,
                    doctor="Ana Souza")                                   # the desk re-booked 08:00
    assert waitlist.process_freed_slots(clinic_db, now=at(9)) == []       # 09:00 is now, 08:00 is taken
    assert [s for _, s in states(clinic_db)["slots"]] == ["unfilled", "unfilled"]


def test_cancelling_an_offered_entry_passes_its_offer_on(clinic_db, people):
    first = add(clinic_db, people["first"], priority=1)
    second = add(clinic_db, people["second"])
    free_slot(clinic_db, people["cancels"])
    offer = waitlist.process_freed_slots(clinic_db, now=NOW)[0]
    gone = waitlist.cancel_entry(clinic_db, first.id, now=NOW, reason="found another clinic")
    assert gone.status == "cancelled"
    assert scheduling.get_appointment(clinic_db, offer.appointment_id).status == "cancelled"
    assert [o.entry_id for o in waitlist.list_offers(clinic_db)] == [second.id]
    assert waitlist.cancel_entry(clinic_db, first.id, now=NOW).status == "cancelled"  # again: no change
    with pytest.raises(NotFound):
        waitlist.cancel_entry(clinic_db, 424242, now=NOW)


def test_a_held_offer_cancelled_on_the_grid_passes_on_at_the_next_sweep(clinic_db, people):
    add(clinic_db, people["first"], priority=1)
    second = add(clinic_db, people["second"])
    free_slot(clinic_db, people["cancels"])
    offer = waitlist.process_freed_slots(clinic_db, now=NOW)[0]
    scheduling.cancel(clinic_db, offer.appointment_id, reason="patient phoned: no")
    assert [o.entry_id for o in waitlist.process_freed_slots(clinic_db, now=NOW)] == [second.id]
    assert waitlist.get_offer(clinic_db, offer.id).status == "expired"


def test_reception_may_run_the_whole_waitlist(clinic_db, people, login):
    _, desk = login("reception")
    entry = add(desk, people["first"])
    free_slot(desk, people["cancels"])
    offer = waitlist.process_freed_slots(desk, now=NOW)[0]
    assert waitlist.accept_offer(desk, offer.id, now=NOW).entry_id == entry.id
    who = one(clinic_db, "SELECT created_by FROM appointment WHERE id = :i", i=offer.appointment_id)
    assert who.created_by.startswith("t_reception_")


def test_a_naive_now_is_refused(clinic_db):
    with pytest.raises(ValidationError) as err:
        waitlist.process_freed_slots(clinic_db, now=datetime(2027, 1, 1))
    assert err.value.field == "now"
