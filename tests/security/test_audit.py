"""Every change leaves a trail, and the trail is append-only (issue 14, section 6).

Each change class is a row: the login that may make it, the statement (``RETURNING`` the row's id,
or the key of ``clinic_setting``), and the audit row expected (table, action). The change is
committed for real, then the superuser reads ``audit_log`` rows of that transaction (``txid``):
one must name the table, the action, the login (``db_user``) and the row, with the row before
(UPDATE, DELETE) and after (INSERT, UPDATE). Rows changed here are the module's own.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from .conftest import MON, US, Env, at

READERS = ("reception", "doctor", "manager", "admin", "reminders")


@pytest.fixture(scope="module")
def ids(env: Env) -> dict[str, int]:
    """Rows the changes below touch: a failed reminder, a visit, a shift and a time off."""
    appt = env.book(US, at(MON, 9), patient=env.patients[0], doctor="Ana Souza", room="Imaging 1")
    out = {
        "appointment": appt,
        "failed_reminder": env.one(
            "INSERT INTO reminder (appointment_id, channel, purpose, due_at, status, failed_at, last_error) "
            "VALUES (%s, 'email', 'reminder', now(), 'failed', now(), 'mailbox full') RETURNING id", (appt,)),
        "visit": env.one("INSERT INTO visit (patient_id, branch_id) VALUES (%s, %s) RETURNING id",
                         (env.patients[1], env.ids["Centro"])),
        "time_off": env.one("SELECT id FROM time_off ORDER BY id LIMIT 1"),
        "shift": env.one("SELECT id FROM shift WHERE resource_id = %s ORDER BY id LIMIT 1", (env.ids["Bruno Lima"],)),
    }
    assert all(v is not None for v in out.values()), out
    return out


# -- append-only -------------------------------------------------------------------------------------
TAMPER = [
    ("update", "UPDATE audit_log SET reason = 'forged'"),
    ("delete", "DELETE FROM audit_log"),
    ("truncate", "TRUNCATE audit_log"),
    ("insert", "INSERT INTO audit_log (db_user, txid, table_name, row_id, action) "
               "VALUES ('someone_else', 1, 'appointment', 1, 'DELETE')"),
    ("insert with an explicit id", "INSERT INTO audit_log (id, db_user, txid, table_name, row_id, action) "
                                   "OVERRIDING SYSTEM VALUE VALUES (-1, 'someone_else', 1, 'appointment', 1, 'DELETE')"),
]


@pytest.mark.parametrize("role", READERS)
@pytest.mark.parametrize("what, statement", TAMPER, ids=[t[0] for t in TAMPER])
def test_the_audit_trail_is_append_only(env: Env, ids: dict[str, int], role: str, what: str, statement: str) -> None:
    attempt = env.attack(role, lambda cur: cur.execute(statement))
    assert attempt.sqlstate == "42501", f"{role} {what}: {attempt.describe()}"


@pytest.mark.parametrize("role, allowed", [("reception", False), ("doctor", False), ("reminders", False),
                                           ("manager", True), ("admin", True)])
def test_only_managers_and_admins_read_the_audit_trail(env: Env, role: str, allowed: bool) -> None:
    attempt = env.attack(role, lambda cur: cur.execute("SELECT count(*) FROM audit_log").fetchone())
    if allowed:
        assert attempt.error is None, attempt.describe()
    else:
        assert attempt.sqlstate == "42501", attempt.describe()


# -- every change class leaves a row --------------------------------------------------------------------
#: (change, login, table, action, statement (params: ids, ``centro``, ``berlin``, ``p0``..``p2``)).
CHANGES = [
    ("patient created", "reception", "patient", "INSERT",
     "INSERT INTO patient (display_name, birth_date) VALUES ('Audit Person', '1980-01-01') RETURNING id"),
    ("patient edited", "reception", "patient", "UPDATE",
     "UPDATE patient SET display_name = 'Joana P. Prado' WHERE id = %(p0)s RETURNING id"),
    ("patient consent granted", "reception", "patient", "UPDATE",
     "UPDATE patient SET consent_channels = '{email}' WHERE id = %(p1)s RETURNING id"),
    ("reminder rule added", "admin", "reminder_rule", "INSERT",
     "INSERT INTO reminder_rule (purpose, name, days) VALUES ('reminder', 'sec_two_days', 2) RETURNING id"),
    ("reminder rule switched off", "admin", "reminder_rule", "UPDATE",
     "UPDATE reminder_rule SET active = false WHERE name = 'morning_of' RETURNING id"),
    ("reminder rule removed", "admin", "reminder_rule", "DELETE",
     "DELETE FROM reminder_rule WHERE name = 'next_day' RETURNING id"),
    ("failed reminder marked handled", "reception", "reminder", "UPDATE",
     "UPDATE reminder SET handled_at = now(), handled_by = session_user WHERE id = %(failed_reminder)s RETURNING id"),
    ("visit created", "reception", "visit", "INSERT",
     "INSERT INTO visit (patient_id, branch_id) VALUES (%(p2)s, %(centro)s) RETURNING id"),
    ("visit edited", "reception", "visit", "UPDATE",
     "UPDATE visit SET note = 'bring the referral' WHERE id = %(visit)s RETURNING id"),
    ("holiday added", "manager", "holiday", "INSERT",
     "INSERT INTO holiday (branch_id, local_date, name) VALUES (%(centro)s, '2027-05-01', 'Labour day') RETURNING id"),
    ("holiday renamed", "manager", "holiday", "UPDATE",
     "UPDATE holiday SET name = 'Natal' WHERE local_date = '2027-12-25' RETURNING id"),
    ("holiday removed", "manager", "holiday", "DELETE",
     "DELETE FROM holiday WHERE local_date = '2027-01-11' RETURNING id"),
    ("opening hours added", "admin", "opening_hours", "INSERT",
     "INSERT INTO opening_hours (branch_id, weekday, start_min, end_min) VALUES (%(berlin)s, 2, 480, 600) RETURNING id"),
    ("opening hours changed", "admin", "opening_hours", "UPDATE",
     "UPDATE opening_hours SET end_min = 1200 WHERE id = (SELECT min(id) FROM opening_hours WHERE branch_id = "
     "%(centro)s AND weekday = 2) RETURNING id"),
    ("opening hours removed", "admin", "opening_hours", "DELETE",
     "DELETE FROM opening_hours WHERE id = (SELECT min(id) FROM opening_hours WHERE branch_id = %(berlin)s "
     "AND weekday = 6) RETURNING id"),
    ("shift added", "manager", "shift", "INSERT",
     "INSERT INTO shift (resource_id, branch_id, weekday, start_min, end_min) "
     "VALUES (%(bruno)s, %(centro)s, 4, 480, 720) RETURNING id"),
    ("shift changed", "manager", "shift", "UPDATE",
     "UPDATE shift SET end_min = 690 WHERE id = %(shift)s RETURNING id"),
    ("shift exception added", "manager", "shift_exception", "INSERT",
     "INSERT INTO shift_exception (resource_id, branch_id, local_date) VALUES (%(bruno)s, %(centro)s, '2027-02-01') "
     "RETURNING id"),
    ("time off added", "manager", "time_off", "INSERT",
     "INSERT INTO time_off (resource_id, period, reason) VALUES (%(bruno)s, "
     "tstzrange('2027-04-01 00:00-03', '2027-04-02 00:00-03'), 'course') RETURNING id"),
    ("time off changed", "manager", "time_off", "UPDATE",
     "UPDATE time_off SET reason = 'annual leave' WHERE id = %(time_off)s RETURNING id"),
    ("service deposit changed", "admin", "service", "UPDATE",
     "UPDATE service SET deposit_cents = 5000 WHERE name = 'Consultation' RETURNING id"),
    ("service fees changed", "admin", "service", "UPDATE",
     "UPDATE service SET late_cancel_fee_cents = 2500, cancel_free_hours = 48 WHERE name = 'Consultation' "
     "RETURNING id"),
    ("service durations changed", "admin", "service", "UPDATE",
     "UPDATE service SET duration_min = 45, buffer_after_min = 15 WHERE name = 'Abdominal ultrasound' RETURNING id"),
    ("clinic setting changed", "admin", "clinic_setting", "UPDATE",
     "UPDATE clinic_setting SET value = '7' WHERE key = 'hold_minutes' RETURNING key"),
    ("clinic setting added", "admin", "clinic_setting", "INSERT",
     "INSERT INTO clinic_setting (key, value) VALUES ('sec_probe', '1') RETURNING key"),
    ("branch added", "admin", "branch", "INSERT",
     "INSERT INTO branch (name, timezone) VALUES ('Sec Branch', 'UTC') RETURNING id"),
    ("branch changed", "admin", "branch", "UPDATE",
     "UPDATE branch SET phone = '+55 27 3333-0000' WHERE id = %(centro)s RETURNING id"),
    ("resource added", "admin", "resource", "INSERT",
     "INSERT INTO resource (kind, name, category, branch_id) VALUES ('room', 'Imaging 9', 'imaging', %(centro)s) "
     "RETURNING id"),
    ("login linked to a doctor", "admin", "resource", "UPDATE",
     "UPDATE resource SET login_role = 'sec_some_login' WHERE id = %(bruno)s RETURNING id"),
]


@pytest.mark.parametrize("what, role, table, action, statement", CHANGES, ids=[c[0] for c in CHANGES])
def test_every_change_leaves_an_audit_row(env: Env, ids: dict[str, int], what: str, role: str, table: str,
                                         action: str, statement: str) -> None:
    params = {**ids, "centro": env.ids["Centro"], "berlin": env.ids["Berlin"], "bruno": env.ids["Bruno Lima"],
              **{f"p{i}": p for i, p in enumerate(env.patients)}}
    attempt = env.attack(role, lambda cur: cur.execute(statement, params).fetchone(), commit=True)
    assert attempt.error is None, f"the change itself was refused: {attempt.describe()}"
    assert attempt.result is not None, "the statement changed no row"
    key = attempt.result[0]
    rows = env.rows("SELECT action, db_user, row_id, old_row, new_row FROM audit_log "
                    "WHERE txid = %s AND table_name = %s ORDER BY id", (attempt.txid, table))
    assert rows, f"no audit_log row for {table} in the transaction of {what!r}"
    mine = [r for r in rows if r[0] == action and r[1] == env.logins[role]
            and (r[2] == key or any(isinstance(j, dict) and str(j.get("key", j.get("id"))) == str(key)
                                    for j in (r[3], r[4])))]
    assert mine, f"no {action} row naming {role}'s login and the row {key!r}: {json.dumps(rows, default=str)[:600]}"
    _, _, _, old, new = mine[0]
    if action in ("UPDATE", "DELETE"):
        assert old is not None, "the row before the change is missing"
    if action in ("INSERT", "UPDATE"):
        assert new is not None, "the row after the change is missing"
    if action == "UPDATE":
        assert old != new, "old_row and new_row are the same"


def test_a_failed_change_leaves_no_audit_row(env: Env, ids: dict[str, int]) -> None:
    """A change that is rolled back leaves nothing (the trail is transactional, not a side channel)."""
    before = env.one("SELECT count(*) FROM audit_log")

    def work(cur: psycopg.Cursor) -> None:
        cur.execute("UPDATE patient SET display_name = 'Rolled Back' WHERE id = %s", (env.patients[2],))
        cur.execute("UPDATE patient SET birth_date = '1700-01-01' WHERE id = %s", (env.patients[2],))  # CHECK fails
    attempt = env.attack("reception", work, commit=True)
    assert attempt.sqlstate == "23514", attempt.describe()
    assert env.one("SELECT count(*) FROM audit_log") == before
