"""The waitlist under concurrency: several workstations and service instances at once.

A desk thread cancels forty booked ultrasounds (each cancellation records a freed
slot) while four workers — each with its own ``Database``, as separate processes
would have — sweep ``process_freed_slots`` and accept or decline whatever open
offers they see, all on one shared fake clock that moves a minute per step (so
some offers expire). Afterwards the database itself is checked: no freed slot had
two open offers or two accepted ones, no entry was offered one slot twice, every
offer's appointment ended as its offer did, and no two live bookings overlap.
"""

from __future__ import annotations

import itertools
import random
import threading
from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import text

from reception_app.domain.errors import InvalidTransition, SlotTaken
from reception_app.services import patients, scheduling, waitlist
from reception_app.store.database import Database

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
US = "Abdominal ultrasound"
#: Mondays and Tuesdays of four weeks from 2027-01-04, five ultrasound starts each (one machine).
DAYS = [date(2027, 1, 4) + timedelta(weeks=w, days=d) for w in range(4) for d in (0, 1)]
STARTS = [(8, 0), (8, 45), (9, 30), (10, 15), (11, 0)]
WORKERS = 4


def test_many_workers_never_double_offer_or_double_book(clinic_db, db_url):
    cancels = patients.add_patient(clinic_db, name="Carla Dias", birth_date="1970-01-01").id
    booked = [scheduling.book(clinic_db, branch="Centro", service=US, patient_id=cancels, now=NOW,
                              start=datetime(d.year, d.month, d.day, h, m, tzinfo=SP))
              for d in DAYS for h, m in STARTS]
    rng = random.Random(4)
    for i in range(12):
        p = patients.add_patient(clinic_db, name=f"Waiting Patient {i}", birth_date="1985-01-01").id
        waitlist.add_entry(clinic_db, patient_id=p, service=US, branch="Centro", first_date=DAYS[0],
                           last_date=DAYS[-1], earliest="07:00", latest="12:00", priority=rng.randint(0, 3),
                           doctor="Ana Souza" if i % 4 == 0 else None, now=NOW)

    clock = itertools.count()
    clock_lock = threading.Lock()

    def now() -> datetime:
        with clock_lock:
            return NOW + timedelta(minutes=next(clock))

    errors: list[BaseException] = []
    desk_done = threading.Event()
    start = threading.Barrier(WORKERS + 1)

    def desk() -> None:
        db = Database(db_url)
        try:
            start.wait()
            for appt in random.Random(7).sample(booked, len(booked)):
                scheduling.cancel(db, appt.id, reason="patient called")
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            desk_done.set()
            db.dispose()

    def worker(seed: int) -> None:
        db = Database(db_url)
        pick = random.Random(seed)
        try:
            start.wait()
            idle_rounds = 0
            while idle_rounds < 3:
                made = waitlist.process_freed_slots(db, now=now(), limit=5)
                open_offers = waitlist.list_offers(db)
                for offer in pick.sample(open_offers, min(len(open_offers), 2)):
                    try:
                        if pick.random() < 0.4:
                            waitlist.accept_offer(db, offer.id, now=now())
                        elif pick.random() < 0.7:
                            waitlist.decline_offer(db, offer.id, now=now())
                        # else: nobody answers; the offer expires on the shared clock
                    except (InvalidTransition, SlotTaken):
                        pass  # another worker decided it first, or it expired: expected
                busy = made or open_offers or not desk_done.is_set()
                idle_rounds = 0 if busy else idle_rounds + 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=desk)] + [threading.Thread(target=worker, args=(s,)) for s in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

    def q(sql: str) -> list:
        return clinic_db.read(lambda c: [tuple(r) for r in c.execute(text(sql))])

    # Everything settled: every freed slot is filled or unfilled, no offer is open.
    assert q("SELECT count(*) FROM freed_slot") == [(len(booked),)]
    assert q("SELECT state FROM freed_slot WHERE state NOT IN ('filled', 'unfilled')") == []
    assert q("SELECT id FROM waitlist_offer WHERE status = 'open'") == []
    # Some slots went to the waitlist, some offers were declined or expired: the race was real.
    outcomes = dict(q("SELECT status, count(*) FROM waitlist_offer GROUP BY status"))
    assert outcomes.get("accepted", 0) >= 1 and outcomes.get("declined", 0) + outcomes.get("expired", 0) >= 1
    # One accepted offer per filled slot, none for an unfilled one; never two per slot.
    assert q("SELECT fs.id FROM freed_slot fs LEFT JOIN waitlist_offer o ON o.freed_slot_id = fs.id "
             "AND o.status = 'accepted' GROUP BY fs.id, fs.state "
             "HAVING count(o.id) <> CASE WHEN fs.state = 'filled' THEN 1 ELSE 0 END") == []
    # No entry was offered one slot twice, and no entry was booked twice.
    assert q("SELECT freed_slot_id, entry_id FROM waitlist_offer GROUP BY 1, 2 HAVING count(*) > 1") == []
    assert q("SELECT entry_id FROM waitlist_offer WHERE status = 'accepted' GROUP BY 1 HAVING count(*) > 1") == []
    assert q("SELECT e.id FROM waitlist_entry e WHERE (e.status = 'booked') <> EXISTS (SELECT 1 FROM waitlist_offer o "
             "WHERE o.entry_id = e.id AND o.status = 'accepted')") == []
    # Offers of one slot follow each other: each one but the last was decided before the next was made.
    assert q("SELECT o.id FROM waitlist_offer o JOIN waitlist_offer n ON n.freed_slot_id = o.freed_slot_id "
             "AND n.id > o.id WHERE o.status IN ('open', 'accepted')") == []
    # Each offer's appointment ended as the offer did.
    assert q("SELECT o.id FROM waitlist_offer o JOIN appointment a ON a.id = o.appointment_id "
             "WHERE (o.status = 'accepted') <> (a.status = 'confirmed') "
             "OR (o.status IN ('declined', 'expired') AND a.status <> 'cancelled')") == []
    # No two live bookings of one resource overlap.
    assert q("SELECT a.id, b.id FROM booking a JOIN booking b ON a.resource_id = b.resource_id AND a.id < b.id "
             "AND a.period && b.period WHERE a.live AND b.live") == []
