"""The reminder service's own least-privileged role (issue 14, section 8), and logins nobody may make.

A login in ``clinic_reminders`` claims due reminders and records their outcome through the service's
real queue functions (``reminders.queue``); anything else — booking, changing appointments or
patients, reading the audit trail or the money, planning reminders, making logins — is refused.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from reception_app.reminders import queue

from .conftest import CLINIC_ROLES, MON, US, Env, at


@pytest.fixture(scope="module")
def due(env: Env) -> dict[str, int]:
    """An appointment of patient 0 (who consents to e-mail) with two reminders due a minute ago."""
    appt = env.book(US, at(MON, 9), patient=env.patients[0], doctor="Ana Souza", room="Imaging 1")
    env.one("UPDATE patient SET consent_channels = '{email}' WHERE id = %s RETURNING id", (env.patients[0],))
    made = [env.one("INSERT INTO reminder (appointment_id, channel, purpose, due_at) "
                    "VALUES (%s, 'email', 'reminder', now() - interval '1 minute') RETURNING id", (appt,))
            for _ in range(2)]
    return {"appointment": appt, "sent": made[0], "failed": made[1]}


def test_the_reminder_service_claims_and_records_outcomes(env: Env, due: dict[str, int]) -> None:
    env.connect("reminders").close()      # fails the test clearly while the group is missing
    db = env.database("reminders")
    try:
        claimed = queue.claim(db, worker="sec-worker", channels=["email"], batch=10, lease_s=60)
        assert {due["sent"], due["failed"]} <= {c.reminder_id for c in claimed}, claimed
        assert queue.mark_sent(db, due["sent"], worker="sec-worker", provider_ref="msg-1") is True
        assert queue.mark_failed(db, due["failed"], worker="sec-worker", error="mailbox full", permanent=True,
                                 max_attempts=5, backoff_s=60, backoff_max_s=3600) == "failed"
    finally:
        db.dispose()
    states = dict(env.rows("SELECT id, status FROM reminder WHERE id = ANY(%s)", ([due["sent"], due["failed"]],)))
    assert states == {due["sent"]: "sent", due["failed"]: "failed"}


#: (attack, statement (params: ``appointment``, ``patient``, ``login``)): all refused with 42501.
REFUSED = [
    ("book", "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source) "
             "SELECT patient_id, service_id, branch_id, 'requested', starts_at + interval '1 day', "
             "ends_at + interval '1 day', 'phone' FROM appointment WHERE id = %(appointment)s"),
    ("cancel an appointment", "UPDATE appointment SET status = 'cancelled' WHERE id = %(appointment)s"),
    ("move an appointment", "UPDATE appointment SET starts_at = starts_at + interval '1 hour' "
                            "WHERE id = %(appointment)s"),
    ("delete an appointment", "DELETE FROM appointment WHERE id = %(appointment)s"),
    ("add a booking", "INSERT INTO booking (appointment_id, resource_id, period) "
                      "SELECT id, 1, tstzrange(starts_at, ends_at) FROM appointment WHERE id = %(appointment)s"),
    ("withdraw a patient's consent", "UPDATE patient SET consent_channels = '{}' WHERE id = %(patient)s"),
    ("queue a reminder", "INSERT INTO reminder (appointment_id, channel, purpose, due_at) "
                         "VALUES (%(appointment)s, 'sms', 'reminder', now())"),
    ("delete reminders", "DELETE FROM reminder WHERE appointment_id = %(appointment)s"),
    ("plan reminders", "SELECT clinic_plan_reminders(ARRAY[%(appointment)s::bigint], ARRAY['confirmation'])"),
    ("read the audit trail", "SELECT count(*) FROM audit_log"),
    ("read payments", "SELECT count(*) FROM payment"),
    ("change a reminder rule", "UPDATE reminder_rule SET days = 3"),
    ("change a setting", "UPDATE clinic_setting SET value = '60' WHERE key = 'hold_minutes'"),
    ("make a login", "CREATE ROLE sec_forged_login LOGIN"),
    ("join reception", "GRANT clinic_reception TO %(login)s"),
]


@pytest.mark.parametrize("what, statement", REFUSED, ids=[r[0] for r in REFUSED])
def test_the_reminder_role_may_do_nothing_else(env: Env, due: dict[str, int], what: str, statement: str) -> None:
    params = {"appointment": due["appointment"], "patient": env.patients[0]}

    def work(cur: psycopg.Cursor) -> None:
        if "%(login)s" in statement:
            cur.execute(sql.SQL(statement.replace("%(login)s", "{}")).format(
                sql.Identifier(env.logins["reminders"])))
        else:
            cur.execute(statement, params)
    attempt = env.attack("reminders", work)
    assert attempt.sqlstate == "42501", f"{what}: {attempt.describe()}"


@pytest.mark.parametrize("role", CLINIC_ROLES)
@pytest.mark.parametrize("statement", ["CREATE ROLE sec_forged_login LOGIN", "CREATE ROLE sec_forged_group",
                                       "ALTER ROLE clinic_admin LOGIN PASSWORD 'x'"])
def test_no_clinic_role_makes_or_changes_roles(env: Env, role: str, statement: str) -> None:
    attempt = env.attack(role, lambda cur: cur.execute(statement))
    assert attempt.sqlstate == "42501", attempt.describe()


@pytest.mark.parametrize("role, group", [("reception", "clinic_manager"), ("manager", "clinic_admin"),
                                         ("doctor", "clinic_reception"), ("admin", "clinic_admin")])
def test_no_clinic_role_grants_itself_a_group(env: Env, role: str, group: str) -> None:
    statement = sql.SQL("GRANT {} TO {}").format(sql.Identifier(group),
                                                        sql.Identifier(env.logins[role]))
    attempt = env.attack(role, lambda cur: cur.execute(statement))
    assert attempt.sqlstate == "42501", attempt.describe()
