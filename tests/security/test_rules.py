"""Rules that decide whether an appointment may exist or change state, enforced by the database for
every clinic role (issue 14, sections 2 and 5), attacked with raw SQL as a hostile ``psql`` user.

Each attack is a row of a table below: the kind of login, what it does, and the answer expected
(a SQLSTATE, or ``None`` for "the database accepts it": the controls that show the same raw path
works when the rule is kept, so a refusal is the rule's and not an accident of the attack).
Roles without the write privilege get 42501. Every attack is rolled back (``Env.attack``).

The module books three appointments legitimately (``scheduling.book`` as the superuser), on Monday
2027-01-04 at Centro (Sao Paulo time):

- ``us``: ultrasound 09:00-09:30 (+10 min buffer) with Ana Souza, Imaging 1, Ultrasound A, patient 0;
- ``rc``: radiology consult 10:00-10:30 with Bruno Lima, Imaging 2, patient 1;
- ``paid``: paid consult (deposit 2000 cents) 11:00-11:30 with Ana Souza, Imaging 1, patient 2:
  ``payment_pending``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from .conftest import FRI, HOLIDAY_MON, MON, PAID, RC, US, Attempt, Env, at, raw_appointment, refused

WRITERS = ("reception", "manager", "admin")
NO_WRITE = ("doctor", "reminders")
US_RES = ("Ana Souza", "Imaging 1", "Ultrasound A")


@pytest.fixture(scope="module")
def appts(env: Env) -> dict[str, int]:
    """The module's legitimate appointments (see the module docstring): name → id."""
    ids = {"us": env.book(US, at(MON, 9), patient=env.patients[0], doctor="Ana Souza", room="Imaging 1"),
           "rc": env.book(RC, at(MON, 10), patient=env.patients[1], doctor="Bruno Lima", room="Imaging 2"),
           "paid": env.book(PAID, at(MON, 11), patient=env.patients[2], doctor="Ana Souza", room="Imaging 1")}
    statuses = dict(env.rows("SELECT id, status FROM appointment WHERE id = ANY(%s)", (list(ids.values()),)))
    assert [statuses[i] for i in ids.values()] == ["confirmed", "confirmed", "payment_pending"], statuses
    return ids


def expect(attempt: Attempt, want: str | tuple[str, ...] | None) -> None:
    """``want`` None: accepted; else refused with one of the SQLSTATEs (or classes)."""
    if want is None:
        assert attempt.error is None, f"expected the database to accept it, got: {attempt.describe()}"
    else:
        refused(attempt, *((want,) if isinstance(want, str) else want))


def _insert(env: Env, **kw: Any):
    return lambda cur: raw_appointment(cur, env, **kw)


# -- a. buffers ------------------------------------------------------------------------------------------
#: (attack, booking buffer before, after (minutes), expected for a writer).
BUFFERS = [
    ("no buffer (period = the appointment)", 0, 0, "23514"),
    ("half the buffer after", 0, 5, "23514"),
    ("buffer before instead of after", 10, 0, "23514"),
    ("control: the service's buffers", 0, 10, None),
]


@pytest.mark.parametrize("role", WRITERS + NO_WRITE)
@pytest.mark.parametrize("what, before, after, want", BUFFERS, ids=[b[0] for b in BUFFERS])
def test_a_booking_carries_exactly_the_services_buffers(env: Env, appts: dict[str, int], role: str, what: str,
                                                        before: int, after: int, want: str | None) -> None:
    attempt = env.attack(role, _insert(env, start=at(MON, 10), before=before, after=after))
    expect(attempt, want if role in WRITERS else "42501")


# -- b. holidays, shifts, opening hours, and the logged override --------------------------------------------
#: (case, start, override_log kind).
HOURS = [
    ("on a branch holiday", at(HOLIDAY_MON, 9), "holiday"),
    ("doctor outside every shift", at(MON, 13), "outside_shift"),
    ("room while the branch is closed", at(FRI, 22), "closed"),
]


def _with_override(env: Env, start, reason: str | None):
    def work(cur: psycopg.Cursor) -> int:
        if reason is not None:
            cur.execute("SELECT set_config('clinic.override', %s, true)", (reason,))
        return raw_appointment(cur, env, start=start)
    return work


def _override_kinds(cur: psycopg.Cursor, appointment_id: int) -> list[tuple[str, str]]:
    return cur.execute("SELECT kind, db_user FROM override_log WHERE appointment_id = %s ORDER BY id",
                       (appointment_id,)).fetchall()


@pytest.mark.parametrize("role", WRITERS)
@pytest.mark.parametrize("case, start, kind", HOURS, ids=[h[0] for h in HOURS])
def test_outside_hours_is_refused_without_an_override(env: Env, appts: dict[str, int], role: str, case: str,
                                                      start, kind: str) -> None:
    refused(env.attack(role, _with_override(env, start, None)), "23514")


@pytest.mark.parametrize("role", ("manager", "admin"))
@pytest.mark.parametrize("case, start, kind", HOURS, ids=[h[0] for h in HOURS])
def test_a_manager_overrides_hours_and_the_database_logs_it(env: Env, appts: dict[str, int], role: str, case: str,
                                                            start, kind: str) -> None:
    attempt = env.attack(role, _with_override(env, start, f"sec suite: {case}"), after=_override_kinds)
    expect(attempt, None)
    assert (kind, env.logins[role]) in attempt.after, f"no override_log row of kind {kind!r}: {attempt.after}"


@pytest.mark.parametrize("case, start, kind", HOURS, ids=[h[0] for h in HOURS])
def test_reception_cannot_override_hours(env: Env, appts: dict[str, int], case: str, start, kind: str) -> None:
    refused(env.attack("reception", _with_override(env, start, "I say so")), "23514", "42501")


@pytest.mark.parametrize("case, start, kind", HOURS, ids=[h[0] for h in HOURS])
def test_an_override_reason_without_a_log_row_is_not_possible(env: Env, appts: dict[str, int], case: str,
                                                               start, kind: str) -> None:
    """An override that commits always leaves its override_log row; a manager cannot delete it."""
    def work(cur: psycopg.Cursor) -> int:
        new_id = _with_override(env, start, "then hide it")(cur)
        cur.execute("DELETE FROM override_log WHERE appointment_id = %s", (new_id,))
        return new_id
    refused(env.attack("manager", work), "42501")


# -- c. a live appointment has a booking of each kind its service needs (checked at COMMIT) -----------------
def _delete_bookings(env: Env, appts: dict[str, int], names: tuple[str, ...]):
    def work(cur: psycopg.Cursor) -> None:
        cur.execute("DELETE FROM booking WHERE appointment_id = %s AND resource_id = ANY(%s)",
                    (appts["us"], [env.ids[n] for n in names]))
    return work


def _replace_booking(env: Env, appts: dict[str, int], old: str, new: str):
    def work(cur: psycopg.Cursor) -> None:
        period = cur.execute("DELETE FROM booking WHERE appointment_id = %s AND resource_id = %s RETURNING period",
                             (appts["us"], env.ids[old])).fetchone()[0]
        cur.execute("INSERT INTO booking (appointment_id, resource_id, period) VALUES (%s, %s, %s)",
                    (appts["us"], env.ids[new], period))
    return work


#: (attack, work factory(env, appts), expected for a writer).
BOOKINGS = [
    ("insert a confirmed appointment without bookings",
     lambda env, ap: _insert(env, start=at(MON, 10), resources=()), "23514"),
    ("insert a requested appointment without bookings",
     lambda env, ap: _insert(env, start=at(MON, 10), resources=(), status="requested"), "23514"),
    ("insert without the equipment",
     lambda env, ap: _insert(env, start=at(MON, 10), resources=("Ana Souza", "Imaging 1")), "23514"),
    ("insert with a room in place of the equipment",
     lambda env, ap: _insert(env, start=at(MON, 8), resources=("Ana Souza", "Imaging 1", "Imaging 2")), "23514"),
    ("delete every booking of a live appointment",
     lambda env, ap: _delete_bookings(env, ap, US_RES), "23514"),
    ("delete the equipment booking of a live appointment",
     lambda env, ap: _delete_bookings(env, ap, ("Ultrasound A",)), "23514"),
    ("control: move to another room (delete + insert)",
     lambda env, ap: _replace_booking(env, ap, "Imaging 1", "Imaging 2"), None),
    ("control: change the doctor (delete + insert)",
     lambda env, ap: _replace_booking(env, ap, "Ana Souza", "Bruno Lima"), None),
]


@pytest.mark.parametrize("role", WRITERS + NO_WRITE)
@pytest.mark.parametrize("what, factory, want", BOOKINGS, ids=[b[0] for b in BOOKINGS])
def test_a_live_appointment_keeps_a_booking_of_each_kind(env: Env, appts: dict[str, int], role: str, what: str,
                                                         factory, want: str | None) -> None:
    expect(env.attack(role, factory(env, appts)), want if role in WRITERS else "42501")


# -- d. confirming needs the deposit paid ----------------------------------------------------------------------
def _pay_then_confirm(appts: dict[str, int], movements: tuple[tuple[str, int], ...]):
    def work(cur: psycopg.Cursor) -> None:
        for kind, cents in movements:
            cur.execute("INSERT INTO payment (client_id, appointment_id, kind, purpose, method, amount_cents, currency) "
                        "VALUES (gen_random_uuid(), %s, %s, 'deposit', 'cash', %s, 'EUR')",
                        (appts["paid"], kind, cents))
        cur.execute("UPDATE appointment SET status = 'confirmed' WHERE id = %s", (appts["paid"],))
        if cur.rowcount != 1:
            raise AssertionError("the UPDATE matched no row (row-level security?)")
    return work


#: (attack, role, payments/refunds made first in the same transaction, expected).
DEPOSITS = [
    ("nothing paid", "reception", (), "23514"),
    ("nothing paid", "manager", (), "23514"),
    ("nothing paid", "admin", (), "23514"),
    ("nothing paid, the doctor's own", "doctor", (), "23514"),
    ("half paid", "reception", (("payment", 1000),), "23514"),
    ("paid, then partly refunded", "reception", (("payment", 2000), ("refund", 500)), "23514"),
    ("paid, then partly refunded", "manager", (("payment", 2000), ("refund", 500)), "23514"),
    ("control: paid in two parts", "reception", (("payment", 1500), ("payment", 500)), None),
    ("control: paid", "admin", (("payment", 2000),), None),
]


@pytest.mark.parametrize("what, role, movements, want", DEPOSITS, ids=[f"{d[0]}-{d[1]}" for d in DEPOSITS])
def test_confirming_needs_the_deposit_paid(env: Env, appts: dict[str, int], what: str, role: str,
                                           movements: tuple, want: str | None) -> None:
    expect(env.attack(role, _pay_then_confirm(appts, movements)), want)


# -- e. rescheduled needs its successor ---------------------------------------------------------------------------
def _reschedule(env: Env, appts: dict[str, int], successor: bool):
    def work(cur: psycopg.Cursor) -> None:
        new_id = raw_appointment(cur, env, start=at(MON, 10)) if successor else None
        cur.execute("UPDATE appointment SET status = 'rescheduled', rescheduled_to = coalesce(%s, rescheduled_to) "
                    "WHERE id = %s" if successor else "UPDATE appointment SET status = 'rescheduled' WHERE id = %s",
                    (new_id, appts["us"]) if successor else (appts["us"],))
        if cur.rowcount != 1:
            raise AssertionError("the UPDATE matched no row (row-level security?)")
    return work


@pytest.mark.parametrize("role, successor, want", [
    ("reception", False, "23514"), ("manager", False, "23514"), ("admin", False, "23514"),
    ("doctor", False, "23514"), ("reception", True, None), ("admin", True, None),
], ids=["reception", "manager", "admin", "doctor-own", "control-reception-with-successor",
        "control-admin-with-successor"])
def test_rescheduled_needs_a_successor(env: Env, appts: dict[str, int], role: str, successor: bool,
                                       want: str | None) -> None:
    expect(env.attack(role, _reschedule(env, appts, successor)), want)


# -- f. a new appointment starts at the beginning of the lifecycle -----------------------------------------------
LATE_STATUSES = ("checked_in", "in_progress", "completed", "no_show", "cancelled", "rescheduled")
DIRECT = [(role, status, "phone", ("23514", "CL001")) for role in WRITERS for status in LATE_STATUSES] + [
    ("reception", "completed", "import", ("23514", "CL001", "42501")),
    ("manager", "no_show", "import", ("23514", "CL001", "42501")),
    ("doctor", "completed", "phone", "42501"),
    ("admin", "completed", "import", None),      # imports of history
    ("admin", "no_show", "import", None),
    ("reception", "requested", "phone", None),   # controls: the statuses a booking starts in
    ("reception", "held", "phone", None),
    ("manager", "confirmed", "walk_in", None),
]


@pytest.mark.parametrize("role, status, source, want", DIRECT, ids=[f"{d[0]}-{d[1]}-{d[2]}" for d in DIRECT])
def test_no_appointment_is_inserted_past_the_start_of_its_lifecycle(env: Env, appts: dict[str, int], role: str,
                                                                    status: str, source: str, want) -> None:
    expect(env.attack(role, _insert(env, start=at(MON, 10), status=status, source=source)), want)


# -- g. nothing overrides an overlap: of a resource, or of a patient ------------------------------------------------
def _overlap(env: Env, override: bool, **kw: Any):
    def work(cur: psycopg.Cursor) -> int:
        if override:
            cur.execute("SELECT set_config('clinic.override', 'sec suite: squeeze in', true)")
        return raw_appointment(cur, env, **kw)
    return work


#: (attack, role, override set, appointment kwargs (patient given as index), expected).
OVERLAPS = [
    ("same resources over a live booking", "reception", False,
     {"start": at(MON, 9, 15), "patient": 1}, "23P01"),
    ("same resources over a live booking", "manager", True, {"start": at(MON, 9, 15), "patient": 1}, "23P01"),
    ("same resources over a live booking", "admin", True, {"start": at(MON, 9, 15), "patient": 1}, "23P01"),
    ("into the other's buffer", "manager", True, {"start": at(MON, 9, 30), "patient": 1}, "23P01"),
    ("patient in two places: other doctor and room, same start", "reception", False,
     {"start": at(MON, 9), "patient": 0, "service": RC, "resources": ("Bruno Lima", "Imaging 2")}, "23P01"),
    ("patient in two places: partial overlap", "reception", False,
     {"start": at(MON, 9, 15), "patient": 0, "service": RC, "resources": ("Bruno Lima", "Imaging 2")}, "23P01"),
    ("patient in two places", "manager", True,
     {"start": at(MON, 9), "patient": 0, "service": RC, "resources": ("Bruno Lima", "Imaging 2")}, "23P01"),
    ("patient in two places", "admin", True,
     {"start": at(MON, 9), "patient": 0, "service": RC, "resources": ("Bruno Lima", "Imaging 2")}, "23P01"),
    ("patient in two branches at once", "manager", True,
     {"start": at(MON, 9), "patient": 0, "service": "Consultation", "branch": "Berlin", "minutes": 15,
      "resources": ("Clara Weiss", "Berlin Room")}, "23P01"),
    ("control: patient's next appointment right after", "reception", False,
     {"start": at(MON, 9, 30), "patient": 0, "service": RC, "resources": ("Bruno Lima", "Imaging 2")}, None),
    ("control: another patient, other resources, same time", "reception", False,
     {"start": at(MON, 9), "patient": 2, "service": RC, "resources": ("Bruno Lima", "Imaging 2")}, None),
]


@pytest.mark.parametrize("what, role, override, kw, want", OVERLAPS,
                         ids=[f"{o[0]}-{o[1]}{'-override' if o[2] else ''}" for o in OVERLAPS])
def test_no_role_overrides_an_overlap(env: Env, appts: dict[str, int], what: str, role: str, override: bool,
                                      kw: dict, want: str | None) -> None:
    kw = {**kw, "patient": env.patients[kw["patient"]]}
    expect(env.attack(role, _overlap(env, override, **kw)), want)


def test_moving_a_patients_appointment_onto_their_other_one_is_refused(env: Env, appts: dict[str, int]) -> None:
    """The patient exclusion holds for an UPDATE of the times too (reception moves ``rc`` of patient 1
    onto a new appointment of the same patient, with free resources)."""
    def work(cur: psycopg.Cursor) -> None:
        raw_appointment(cur, env, start=at(MON, 8), patient=env.patients[1], service=RC,
                        resources=("Ana Souza", "Imaging 1"))
        lo, hi = at(MON, 8), at(MON, 8) + timedelta(minutes=30)
        cur.execute("UPDATE appointment SET starts_at = %s, ends_at = %s WHERE id = %s", (lo, hi, appts["rc"]))
        cur.execute("UPDATE booking SET period = tstzrange(%s, %s) WHERE appointment_id = %s", (lo, hi, appts["rc"]))
    refused(env.attack("reception", work), "23P01")


# -- g. outcomes only after the start (issue 16) --------------------------------------------------------------
def _outcome(appts: dict[str, int], path: tuple[str, ...]):
    def work(cur: psycopg.Cursor) -> None:
        for status in path:
            cur.execute("UPDATE appointment SET status = %s WHERE id = %s", (status, appts["us"]))
            if cur.rowcount != 1:
                raise AssertionError("the UPDATE matched no row (row-level security?)")
    return work


OUTCOMES = [(role, path, "CL001") for role in (*WRITERS, "doctor")
            for path in (("no_show",), ("checked_in", "completed"), ("checked_in", "in_progress", "completed"))] + [
    ("reception", ("checked_in",), None),                 # controls: an early arrival is checked in,
    ("doctor", ("checked_in", "in_progress"), None),      # and a doctor may start early
]


@pytest.mark.parametrize("role, path, want", OUTCOMES, ids=[f"{o[0]}-{'-'.join(o[1])}" for o in OUTCOMES])
def test_no_role_records_an_outcome_before_the_start(env: Env, appts: dict[str, int], role: str,
                                                     path: tuple[str, ...], want: str | None) -> None:
    """The module's appointments are in 2027, after the server's clock: a no-show or a completion
    is refused (CL001, the status trigger) for every role that may change a status."""
    expect(env.attack(role, _outcome(appts, path)), want)


# -- h. receipts: numbered by the database, without gaps, never changed ------------------------------------------
def _issue_receipt(appts: dict[str, int], **sent: Any):
    def work(cur: psycopg.Cursor) -> tuple:
        cols = ", ".join(["appointment_id", *sent])
        marks = ", ".join(["%s"] * (1 + len(sent)))
        cur.execute(f"INSERT INTO receipt ({cols}) VALUES ({marks}) "
                    "RETURNING number, paid_cents, refunded_cents, issued_by, issued_at = now()",
                    (appts["paid"], *sent.values()))
        return cur.fetchone()
    return work


@pytest.mark.parametrize("role, want", [("reception", None), ("manager", None), ("admin", None),
                                        ("doctor", "42501"), ("reminders", "42501")])
def test_a_receipt_is_issued_by_the_desk_with_the_databases_number_and_totals(env: Env, appts: dict[str, int],
                                                                             role: str, want: str | None) -> None:
    top = env.rows("SELECT coalesce(max(number), 0) FROM receipt")[0][0]
    attempt = env.attack(role, _issue_receipt(appts, number=999, paid_cents=10**6, refunded_cents=0,
                                              issued_by="someone_else", issued_at="2000-01-01T00:00:00Z"))
    expect(attempt, want)
    if want is None:
        number, paid, refunded, by, at_now = attempt.result
        assert (number, paid, refunded, at_now) == (top + 1, 0, 0, True)   # nothing paid yet
        assert by == attempt.user


@pytest.mark.parametrize("role", ["reception", "manager", "admin", "doctor"])
@pytest.mark.parametrize("change", ["UPDATE receipt SET paid_cents = 0", "DELETE FROM receipt",
                                    "UPDATE receipt SET number = number + 1"])
def test_no_role_changes_or_removes_a_receipt(env: Env, appts: dict[str, int], role: str, change: str) -> None:
    def work(cur: psycopg.Cursor) -> None:
        cur.execute(change)
    if not env.rows("SELECT 1 FROM receipt"):
        env.attack("reception", _issue_receipt(appts), commit=True)
    expect(env.attack(role, work), "42501")
