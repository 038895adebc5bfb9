"""The lifecycle from the `clinic` command, as real processes: hold then confirm, a deposit paid
(once, even when the same payment is sent twice), a reschedule that links the old appointment,
a cancellation by the patient, and the waitlist offering the freed time."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import text

from reception_app.store.database import Database

from .test_cli import SAO_PAULO, US, clinic, env, home, next_monday, patient_id, url  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow  # runs the real programs as processes (make test-fast leaves it out)


def _db(conninfo: str) -> Database:
    return Database(conninfo, pool=False)


def test_hold_confirm_pay_reschedule_cancel_and_waitlist(env, url, patient_id):  # noqa: F811
    day = next_monday(7)
    start = datetime(day.year, day.month, day.day, 10, 0, tzinfo=SAO_PAULO)
    held = clinic(env, url, "book", "--branch", "Centro", "--service", US, "--start", start.isoformat(),
                  "--patient", str(patient_id), "--hold")
    assert held.code == 0, held.err
    assert "— held until" in held.out
    appt_id = int(held.out.split()[1].rstrip(":"))
    confirmed = clinic(env, url, "confirm", str(appt_id), "--json")
    assert confirmed.code == 0 and confirmed.json()["status"] == "confirmed"

    # A deposit: the service asks 20.00, so the booking waits for it and the payment confirms it.
    db = _db(url)
    try:
        db.write(lambda c: c.execute(text("UPDATE service SET deposit_cents = 2000 WHERE name = :s"), {"s": US}))
        later = datetime(day.year, day.month, day.day, 11, 0, tzinfo=SAO_PAULO)
        booked = clinic(env, url, "book", "--branch", "Centro", "--service", US, "--start", later.isoformat(),
                        "--patient", str(patient_id), "--json")
        assert booked.code == 0 and booked.json()["status"] == "payment_pending"
        deposit_id = booked.json()["id"]
        key = str(uuid.uuid4())
        paid = [clinic(env, url, "pay", str(deposit_id), "--amount", "20.00", "--method", "cash", "--client-id", key,
                       "--json").json() for _ in range(2)]
        assert [p["recorded_now"] for p in paid] == [True, False]
        assert paid[0]["payment_id"] == paid[1]["payment_id"] and paid[1]["status"] == "confirmed"
        assert db.read(lambda c: c.execute(text("SELECT count(*) FROM payment WHERE appointment_id = :a"),
                                           {"a": deposit_id}).scalar_one()) == 1
        card = clinic(env, url, "pay", str(deposit_id), "--amount", "1.00", "--method", "card_terminal",
                      "--reference", "4111111111111111")
        assert card.code == 2 and "reference" in card.err and "Traceback" not in card.err

        # Reschedule the first one: a new appointment, the old one linked to it.
        moved_to = datetime(day.year, day.month, day.day, 9, 0, tzinfo=SAO_PAULO)
        rescheduled = clinic(env, url, "reschedule", str(appt_id), "--start", moved_to.isoformat(), "--json")
        assert rescheduled.code == 0, rescheduled.err
        new_id = rescheduled.json()["new"]["id"]
        assert rescheduled.json()["old"]["status"] == "rescheduled"
        assert db.read(lambda c: c.execute(text("SELECT rescheduled_to FROM appointment WHERE id = :a"),
                                           {"a": appt_id}).scalar_one()) == new_id

        # The patient cancels; the waitlist gets the freed time.
        other = clinic(env, url, "patient", "add", "--name", "Waiting Person", "--birth-date", "1970-03-03",
                       "--json").json()["id"]
        from reception_app.services import waitlist

        waitlist.add_entry(db, patient_id=other, service=US, branch="Centro", first_date=day, last_date=day)
        cancelled = clinic(env, url, "cancel", str(new_id), "--reason", "flu", "--by", "patient")
        assert cancelled.code == 0, cancelled.err
        row = db.read(lambda c: c.execute(text("SELECT cancelled_by, cancelled_late FROM appointment WHERE id = :a"),
                                          {"a": new_id}).one())
        assert row.cancelled_by == "patient" and row.cancelled_late is False
        offered = clinic(env, url, "waitlist", "process", "--json")
        assert offered.code == 0, offered.err
        assert [o["patient"] for o in offered.json()] == ["Waiting Person"]
    finally:
        db.write(lambda c: c.execute(text("UPDATE service SET deposit_cents = 0 WHERE name = :s"), {"s": US}))
        db.dispose()


def test_status_walks_the_visit_check_in_start_complete_and_no_show(env, url, patient_id):  # noqa: F811
    """`clinic status ID check-in|start|complete|no-show`: the window's lifecycle steps from a script."""
    from .test_cli import assert_one_line_error

    day = next_monday(10)
    at = lambda h: datetime(day.year, day.month, day.day, h, 0, tzinfo=SAO_PAULO).isoformat()  # noqa: E731
    first = clinic(env, url, "book", "--branch", "Centro", "--service", US, "--start", at(8), "--patient",
                   str(patient_id), "--json").json()["id"]
    second = clinic(env, url, "book", "--branch", "Centro", "--service", US, "--start", at(10), "--patient",
                    str(patient_id), "--json").json()["id"]

    checked_in = clinic(env, url, "status", str(first), "check-in", "--reason", "at the desk", "--json")
    assert checked_in.code == 0, checked_in.err
    assert checked_in.json()["status"] == "checked_in" and checked_in.json()["id"] == first
    db = _db(url)
    try:
        row = db.read(lambda c: c.execute(text("SELECT checked_in_at, status_reason FROM appointment WHERE id = :a"),
                                          {"a": first}).one())
        assert row.checked_in_at is not None and row.status_reason == "at the desk"
    finally:
        db.dispose()
    # A retry of a step already taken changes nothing and succeeds; a step the lifecycle forbids is exit 2.
    again = clinic(env, url, "status", str(first), "check-in")
    assert (again.code, again.out.strip()) == (0, f"appointment {first} is already checked in")
    assert_one_line_error(clinic(env, url, "status", str(first), "no-show"), 2, "checked in", "no-show")
    started = clinic(env, url, "status", str(first), "start")
    assert (started.code, started.out.strip()) == (0, f"appointment {first} is now in progress")
    # Next Monday is still to come by the server's clock: the database completes nothing, and marks
    # nobody a no-show, before the start (issue 16) — said in plain words, exit 2, nothing changed.
    assert_one_line_error(clinic(env, url, "status", str(first), "complete", "--json"), 2,
                          "not started yet", "cannot be completed")
    assert_one_line_error(clinic(env, url, "status", str(second), "no-show"), 2,
                          "not started yet", "cannot be a no-show")
    assert_one_line_error(clinic(env, url, "status", "999999", "check-in"), 2, "appointment", "999999")
    assert_one_line_error(clinic(env, url, "status", str(second), "arrive"), 2, "step", "'arrive'")
    listed = clinic(env, url, "appointments", "--branch", "Centro", "--date", day.isoformat(), "--json").json()
    assert {a["id"]: a["status"] for a in listed} == {first: "in_progress", second: "confirmed"}
