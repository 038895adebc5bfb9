"""PUBLIC is not a clinic role, and no session may shadow the schema (issue 14, section 5).

- a login in no clinic group cannot connect to the clinic database, and even inside it (the
  superuser's ``SET ROLE``, which skips the CONNECT check) may run nothing of the clinic's;
- no clinic role and no group-less login may create TEMP objects (the search-path shadowing of
  the status-transition table needs one) nor create anything in schema ``public`` or a new schema.

The attack database is brought to the state ``clinic db upgrade`` leaves (see conftest): the
database-level privileges are not copied from a template.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from .conftest import CLINIC_ROLES, GROUP_ROLES, Env, refused

ALL_LOGINS = (*CLINIC_ROLES, "reminders", "portal", "nobody")


def test_a_login_in_no_clinic_group_cannot_connect(env: Env) -> None:
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(make_conninfo(env.url, user=env.logins["nobody"]), connect_timeout=10).close()
    err = info.value
    assert getattr(err, "sqlstate", None) == "42501" or "permission denied for database" in str(err), str(err)


@pytest.mark.parametrize("role", (*CLINIC_ROLES, "reminders", "portal"))
def test_every_clinic_group_may_connect(env: Env, role: str) -> None:
    with env.connect(role) as conn:
        assert conn.execute("SELECT session_user").fetchone()[0] == env.logins[role]


def test_database_privileges_of_public_and_the_groups(env: Env) -> None:
    """CONNECT only for the clinic groups; TEMP and CREATE for none of them, nor PUBLIC."""
    problems = []
    for who in ("public", *GROUP_ROLES):
        if who != "public" and env.one("SELECT 1 FROM pg_roles WHERE rolname = %s", (who,)) is None:
            problems.append(f"{who} does not exist")
            continue
        for priv, want in (("CONNECT", who != "public"), ("TEMP", False), ("CREATE", False)):
            has = env.one("SELECT has_database_privilege(%s, current_database(), %s)", (who, priv))
            if has != want:
                problems.append(f"{who} {'has' if has else 'lacks'} {priv} on the database")
        if env.one("SELECT has_schema_privilege(%s, 'public', 'CREATE')", (who,)):
            problems.append(f"{who} may CREATE in schema public")
    assert not problems, "\n".join(problems)


#: (attack, statement): what a session would create to shadow a clinic table or plant a function.
CREATE_ATTACKS = [
    ("temp table shadowing status_transition",
     "CREATE TEMP TABLE status_transition (from_status text, to_status text)"),
    ("temp table look-alike of appointment", "CREATE TEMP TABLE appointment (id bigint)"),
    ("temp view", "CREATE TEMP VIEW status_transition AS SELECT 'completed'::text AS from_status, "
                  "'requested'::text AS to_status"),
    ("table in public", "CREATE TABLE public.sec_probe (id int)"),
    ("function in public", "CREATE FUNCTION public.clinic_status_is_live(s text, x int) RETURNS boolean "
                           "LANGUAGE sql AS 'SELECT true'"),
    ("shadow now() in public", "CREATE FUNCTION public.now() RETURNS timestamptz "
                                                "LANGUAGE sql AS $$ SELECT '2000-01-01'::timestamptz $$"),
    ("new schema", "CREATE SCHEMA sec_probe"),
]


@pytest.mark.parametrize("role", ALL_LOGINS[:-1])
@pytest.mark.parametrize("what, statement", CREATE_ATTACKS, ids=[a for a, _ in CREATE_ATTACKS])
def test_no_login_creates_objects_to_shadow_the_schema(env: Env, role: str, what: str, statement: str) -> None:
    refused(env.attack(role, lambda cur: cur.execute(statement)), "42501")


@pytest.mark.parametrize("what, statement", CREATE_ATTACKS, ids=[a for a, _ in CREATE_ATTACKS])
def test_a_login_in_no_group_creates_nothing_even_inside(env: Env, what: str, statement: str) -> None:
    """The superuser takes the group-less login's identity (``SET ROLE``) to get past CONNECT."""
    with env.su() as conn:
        conn.autocommit = False
        conn.execute(f'SET LOCAL ROLE "{env.logins["nobody"]}"')
        with pytest.raises(psycopg.Error) as info:
            conn.execute(statement)
        conn.rollback()
    assert info.value.sqlstate == "42501", str(info.value)


#: (attack, statement) a group-less login runs against the clinic's functions and tables.
NOBODY_CALLS = [
    ("plan reminders", "SELECT clinic_plan_reminders(ARRAY(SELECT id FROM appointment), ARRAY['confirmation'])"),
    ("plan reminders for a literal id", "SELECT clinic_plan_reminders(ARRAY[1::bigint], ARRAY['confirmation'])"),
    ("log an override", "SELECT clinic_log_override('holiday', NULL, 'forged', '{}'::jsonb)"),
    ("release holds", "SELECT clinic_release_expired_holds(ARRAY[1], now(), now() + interval '1 hour')"),
    ("recompute a doctor", "SELECT clinic_report_doctor_of(ARRAY[1::bigint])"),
    ("read a setting", "SELECT clinic_setting_int('hold_minutes', 5)"),
    ("fold text", "SELECT clinic_fold('Ação')"),
    ("read patients", "SELECT * FROM patient"),
    ("read the audit trail", "SELECT * FROM audit_log"),
]


@pytest.mark.parametrize("what, statement", NOBODY_CALLS, ids=[a for a, _ in NOBODY_CALLS])
def test_a_login_in_no_group_runs_nothing_of_the_clinic(env: Env, what: str, statement: str) -> None:
    with env.su() as conn:
        conn.autocommit = False
        conn.execute(f'SET LOCAL ROLE "{env.logins["nobody"]}"')
        with pytest.raises(psycopg.Error) as info:
            conn.execute(statement)
        conn.rollback()
    assert info.value.sqlstate == "42501", f"{what}: {info.value}"
