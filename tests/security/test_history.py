"""History cannot be rewritten by any role but the owner (issue 14, section 5).

Times and actors are the database's (``now()``, ``session_user``), the cancellation-policy
snapshot copied at booking is immutable, and money obeys its invariants (refunds never exceed what
was paid; payments are never changed or deleted). Each attack is a row: what it does as raw SQL
(``RETURNING id`` of the row it touched), the column read back in the same transaction, and what
the database must leave there. The verdict is "refused (SQLSTATE class 23, or 42501) OR the stored
value is the database's": ``unchanged`` (as before the attack), ``now`` (the transaction's
``now()``, within a minute), ``user`` (the login), a literal, or ``refused`` (no value may stand).

The module books, as the superuser: ``rc`` (radiology consult, Monday 2027-01-04 10:00, confirmed;
its policy snapshot: free until 100000 hours before, late fee 1500 cents), ``late`` (the same
service at 11:00, cancelled late by the clinic) and ``paid`` (paid consult at 11:00 with a deposit
of 2000 cents, paid in full by one payment, ``payment``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from reception_app.services import scheduling

from .conftest import MON, NOW, PAID, RC, Attempt, Env, at

ROLES = ("reception", "manager", "admin")


@pytest.fixture(scope="module")
def ids(env: Env) -> dict[str, int]:
    """The module's rows (see the module docstring): name → id."""
    out = {"rc": env.book(RC, at(MON, 10), patient=env.patients[1], doctor="Bruno Lima", room="Imaging 2"),
           "late": env.book(RC, at(MON, 11), patient=env.patients[0], doctor="Bruno Lima", room="Imaging 2"),
           "paid": env.book(PAID, at(MON, 11), patient=env.patients[2], doctor="Ana Souza", room="Imaging 1")}
    db = env.database()
    try:
        scheduling.cancel(db, out["late"], reason="sec suite: clinic cancels", now=NOW)
    finally:
        db.dispose()
    out["payment"] = env.one(
        "INSERT INTO payment (client_id, appointment_id, kind, purpose, method, amount_cents, currency) "
        "VALUES (gen_random_uuid(), %s, 'payment', 'deposit', 'cash', 2000, 'EUR') RETURNING id", (out["paid"],))
    assert env.one("SELECT cancelled_late FROM appointment WHERE id = %s", (out["late"],)) is True
    return out


LONG_AGO = datetime.fromisoformat("2020-01-01T00:00:00+00:00")

_INSERT_APPT = ("INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source{cols}) "
                "SELECT %(patient)s, %(rc_service)s, %(centro)s, 'requested', %(start)s, %(end)s, 'phone'{vals} "
                "RETURNING id")
_INSERT_PAYMENT = ("INSERT INTO payment (client_id, appointment_id, kind, purpose, method, amount_cents, currency{cols}) "
                   "VALUES (gen_random_uuid(), %(paid)s, '{kind}', 'deposit', 'cash', {cents}, 'EUR'{vals}) RETURNING id")

#: (attack, SQL (params: the module's ids, ``long_ago``, ``patient``, …; several statements: the last
#: one's id counts), column read back (from the table of the statement, by the id it returned),
#: expected). An inserted appointment gets its bookings (Bruno Lima, Imaging 2) in the same transaction.
ATTACKS: list[tuple[str, str | tuple[str, ...], str, Any]] = [
    # Cancellations after the fact.
    ("move cancelled_at earlier", "UPDATE appointment SET cancelled_at = cancelled_at - interval '30 days' "
                                  "WHERE id = %(late)s RETURNING id", "appointment.cancelled_at", "unchanged"),
    ("make a late cancellation free", "UPDATE appointment SET cancelled_late = false WHERE id = %(late)s RETURNING id",
     "appointment.cancelled_late", "unchanged"),
    ("blame the patient afterwards", "UPDATE appointment SET cancelled_by = 'patient' WHERE id = %(late)s RETURNING id",
     "appointment.cancelled_by", "unchanged"),
    ("cancel with a back-dated cancelled_at",
     "UPDATE appointment SET status = 'cancelled', cancelled_at = %(long_ago)s WHERE id = %(rc)s RETURNING id",
     "appointment.cancelled_at", "now"),
    ("cancel late but say it was free",
     "UPDATE appointment SET status = 'cancelled', cancelled_late = false WHERE id = %(rc)s RETURNING id",
     "appointment.cancelled_late", True),
    # The policy snapshot.
    ("rewrite the free-cancellation hours", "UPDATE appointment SET policy_free_hours = 0 WHERE id = %(rc)s RETURNING id",
     "appointment.policy_free_hours", "unchanged"),
    ("waive the late fee", "UPDATE appointment SET policy_late_fee_cents = 0 WHERE id = %(late)s RETURNING id",
     "appointment.policy_late_fee_cents", "unchanged"),
    ("waive the deposit", "UPDATE appointment SET deposit_cents = 0 WHERE id = %(paid)s RETURNING id",
     "appointment.deposit_cents", "unchanged"),
    # When and by whom.
    ("back-date booked_at", "UPDATE appointment SET booked_at = booked_at - interval '30 days' WHERE id = %(rc)s "
                            "RETURNING id", "appointment.booked_at", "unchanged"),
    ("back-date created_at", "UPDATE appointment SET created_at = %(long_ago)s WHERE id = %(rc)s RETURNING id",
     "appointment.created_at", "unchanged"),
    ("rename created_by", "UPDATE appointment SET created_by = 'someone_else' WHERE id = %(rc)s RETURNING id",
     "appointment.created_by", "unchanged"),
    ("back-date confirmed_at", "UPDATE appointment SET confirmed_at = %(long_ago)s WHERE id = %(rc)s RETURNING id",
     "appointment.confirmed_at", "unchanged"),
    ("insert with another created_by", _INSERT_APPT.format(cols=", created_by", vals=", 'someone_else'"),
     "appointment.created_by", "user"),
    ("insert with a back-dated booked_at", _INSERT_APPT.format(cols=", booked_at", vals=", %(long_ago)s"),
     "appointment.booked_at", "now"),
    ("insert with a back-dated created_at", _INSERT_APPT.format(cols=", created_at", vals=", %(long_ago)s"),
     "appointment.created_at", "now"),
    ("rename a patient's created_by", "UPDATE patient SET created_by = 'someone_else' WHERE id = %(patient)s "
                                      "RETURNING id", "patient.created_by", "unchanged"),
    ("back-date a patient's created_at", "UPDATE patient SET created_at = %(long_ago)s WHERE id = %(patient)s "
                                         "RETURNING id", "patient.created_at", "unchanged"),
    # Money.
    ("record a payment in another user's name",
     _INSERT_PAYMENT.format(kind="payment", cents=100, cols=", taken_by", vals=", 'someone_else'"),
     "payment.taken_by", "user"),
    ("record a back-dated payment",
     _INSERT_PAYMENT.format(kind="payment", cents=100, cols=", taken_at", vals=", %(long_ago)s"),
     "payment.taken_at", "now"),
    ("refund more than was paid", _INSERT_PAYMENT.format(kind="refund", cents=2500, cols="", vals=""),
     "payment.amount_cents", "refused"),
    ("refund on an appointment with no payment",
     _INSERT_PAYMENT.format(kind="refund", cents=100, cols="", vals="").replace("%(paid)s", "%(rc)s"),
     "payment.amount_cents", "refused"),
    ("refund twice, together more than was paid",
     (_INSERT_PAYMENT.format(kind="refund", cents=1500, cols="", vals=""),
      _INSERT_PAYMENT.format(kind="refund", cents=600, cols="", vals="")),
     "payment.amount_cents", "refused"),
    ("control: refund what was paid", _INSERT_PAYMENT.format(kind="refund", cents=2000, cols="", vals=""),
     "payment.amount_cents", 2000),
    ("change a payment's amount", "UPDATE payment SET amount_cents = 1 WHERE id = %(payment)s RETURNING id",
     "payment.amount_cents", "unchanged"),
    ("change a payment's taker", "UPDATE payment SET taken_by = 'someone_else' WHERE id = %(payment)s RETURNING id",
     "payment.taken_by", "unchanged"),
    ("delete a payment", "DELETE FROM payment WHERE id = %(payment)s RETURNING id", "payment.id", "unchanged"),
    # Records only triggers write.
    ("forge a consent event", "INSERT INTO consent_event (patient_id, channel, granted) "
                              "VALUES (%(patient)s, 'sms', true) RETURNING id", "consent_event.id", "refused"),
    ("forge an override record", "INSERT INTO override_log (kind, appointment_id, reason, db_user) "
                                 "VALUES ('holiday', %(rc)s, 'forged', 'someone_else') RETURNING id",
     "override_log.id", "refused"),
]


def _params(env: Env, ids: dict[str, int]) -> dict[str, Any]:
    start = at(MON, 8)
    return {**ids, "long_ago": LONG_AGO, "patient": env.patients[1], "rc_service": env.ids[RC],
            "centro": env.ids["Centro"], "start": start, "end": start + timedelta(minutes=30)}


def _same(stored: Any, want: Any) -> bool:
    if isinstance(stored, datetime) and isinstance(want, datetime):
        return abs(stored - want) < timedelta(minutes=1)
    return stored == want


def verdict(attempt: Attempt, stored: Any, *, expected: Any, before: Any) -> None:
    """Refused (class 23 or 42501), or the stored value is the database's (see the module docstring)."""
    if attempt.error is not None:
        state = attempt.sqlstate or ""
        assert state[:2] == "23" or state == "42501", f"refused, but with an unexpected error: {attempt.describe()}"
        print(attempt.describe())   # shown with -rP: which rule refused it
        return
    if expected == "refused":
        pytest.fail(f"accepted (stored {stored!r}); it must be refused")
    want = {"unchanged": before, "now": attempt.now, "user": attempt.user}.get(expected, expected) \
        if isinstance(expected, str) else expected
    assert _same(stored, want), f"accepted and the database kept the attacker's value: stored {stored!r}, " \
                                f"the database's would be {want!r} ({expected})"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("what, statement, column, expected", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_history_cannot_be_rewritten(env: Env, ids: dict[str, int], role: str, what: str,
                                     statement: str | tuple[str, ...], column: str, expected: Any) -> None:
    params = _params(env, ids)
    statements = (statement,) if isinstance(statement, str) else statement
    table, col = column.split(".")
    read = f"SELECT {col} FROM {table} WHERE id = %s"
    before = env.one(read, (params[_target_of(statements[-1])],)) if expected == "unchanged" else None

    def work(cur: psycopg.Cursor) -> int | None:
        row = None
        for one in statements:
            row = cur.execute(one, params).fetchone()
        if row is not None and statements[-1].startswith("INSERT INTO appointment"):
            cur.execute("INSERT INTO booking (appointment_id, resource_id, period) "
                        "SELECT %s, r, tstzrange(%s, %s) FROM unnest(%s::integer[]) AS r",
                        (row[0], params["start"], params["end"], [env.ids["Bruno Lima"], env.ids["Imaging 2"]]))
        return None if row is None else int(row[0])

    def after(cur: psycopg.Cursor, touched: int | None) -> Any:
        if touched is None:
            return None
        row = cur.execute(read, (touched,)).fetchone()
        return None if row is None else row[0]

    attempt = env.attack(role, work, after=after)
    if attempt.error is None and attempt.result is None and expected not in ("refused",):
        pytest.fail(f"the statement touched no row (row-level security?): {what}")
    if expected == "unchanged" and attempt.error is None and table == "payment" and statement.startswith("DELETE"):
        # A DELETE that stands is never "unchanged": the row must still be there after it.
        assert attempt.after is not None, "accepted: the payment row was deleted"
        return
    verdict(attempt, attempt.after, expected=expected, before=before)


def _target_of(statement: str) -> str:
    """The id parameter an UPDATE's WHERE names (``WHERE id = %(name)s``)."""
    return statement.split("WHERE id = %(", 1)[1].split(")s", 1)[0]
