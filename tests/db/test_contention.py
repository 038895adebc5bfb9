"""Proof under contention, at a small size: clients racing over a few slots with bookings, holds,
confirms, cancels and waitlist offers, then the database checked against every acknowledged outcome
(tests/bench/contention.py; ``make bench`` runs it with 8 clients over 50 slots)."""

from __future__ import annotations

from tests.bench import contention


def test_racing_clients_never_double_book_lose_a_booking_or_offer_a_slot_twice(clinic_db, db_url):
    patient_ids = contention.prepare(clinic_db, patients_count=12, entries=8)
    result = contention.run(db_url, clients=4, slots=12, seconds=4.0, seed=3, patient_ids=patient_ids)
    problems = contention.check(clinic_db, result)
    assert problems == {k: [] for k in problems}
    figures = contention.summary(result, problems)
    actions = figures["by_action"]
    # The run really raced: bookings both won and lost, and the waitlist made offers.
    assert actions["book"].get("committed", 0) + actions["hold"].get("committed", 0) > 0
    assert actions["book"].get("refused", 0) + actions["hold"].get("refused", 0) > 0
    assert actions.get("cancel", {}).get("committed", 0) > 0
    offered = clinic_db.read(lambda c: c.exec_driver_sql("SELECT count(*) FROM waitlist_offer").scalar_one())
    assert offered > 0
    assert figures["unknown"] == 0


def test_the_check_catches_a_lost_or_a_phantom_booking(clinic_db):
    import uuid

    booked = contention.scheduling.book(clinic_db, branch=contention.BRANCH, service=contention.SERVICE,
                                        start=contention.slot_starts(1)[0],
                                        patient_id=contention.prepare(clinic_db, patients_count=1, entries=0)[0],
                                        now=contention.NOW)
    lost, phantom = str(uuid.uuid4()), booked.client_id
    run = contention.Run(attempts=[contention.Attempt(0, "book", "committed", 1.0, client_id=lost),
                                   contention.Attempt(0, "book", "refused", 1.0, client_id=phantom)], seconds=1.0)
    problems = contention.check(clinic_db, run)
    assert problems["acknowledged_but_missing"] == [lost]
    assert problems["refused_but_present"] == [phantom]
