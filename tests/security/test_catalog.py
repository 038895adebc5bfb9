"""What the catalog says every role may do (issue 14, section 5), checked as the superuser.

- every function of the clinic's schema has a pinned ``search_path`` (or a SQL-standard body,
  ``RETURN …``/``BEGIN ATOMIC``: its names are bound when it is created, so no session can shadow
  them, and the planner can still inline it);
- trigger functions are executable by no clinic role and not by PUBLIC, and the few that are
  ``SECURITY DEFINER`` check which table they fire on (``TG_RELID``);
- PUBLIC executes no function of the schema, now or in the future (default privileges);
- the privilege matrix: for every table of schema ``public`` and every kind of login, exactly the
  privileges the design grants (a new table fails ``test_the_matrix_lists_every_table`` until it is
  added here);
- the function matrix: who may call each ``SECURITY DEFINER`` entry point.

Matrix cells are strings of tokens: ``S`` ``I`` ``U`` ``D`` (SELECT, INSERT, UPDATE, DELETE) granted on
the table (``has_table_privilege``); ``S*``/``U*``: on at least some columns, table-level or not
(``has_any_column_privilege``); ``Uc``: on some columns only, never the whole table; ``X?``: the
design leaves it open (not checked; listed in the suite's report). Anything not named must be
absent, table- and column-level; TRUNCATE, REFERENCES and TRIGGER are never granted to anyone.
"""

from __future__ import annotations

import psycopg
import pytest

from .conftest import GROUP_ROLES, GROUPS, Env

#: Functions of the schema that are not extension members:
#: (oid, signature, prosecdef, is_trigger, proconfig, source, has a SQL-standard body).
FUNCTIONS_SQL = """
SELECT p.oid, p.oid::regprocedure::text, p.prosecdef, p.prorettype = 'trigger'::regtype, p.proconfig,
       p.prosrc, p.prosqlbody IS NOT NULL
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
 ORDER BY 2
"""


def _functions(env: Env) -> list[tuple]:
    return env.rows(FUNCTIONS_SQL)


def _pinned(config: list[str] | None) -> str | None:
    """None when ``proconfig`` pins a safe search_path, else why not."""
    entries = [c for c in (config or []) if c.startswith("search_path=")]
    if not entries:
        return "no search_path setting"
    path = [p.strip().strip('"') for p in entries[0].split("=", 1)[1].split(",")]
    if "$user" in path:
        return f"search_path includes $user: {entries[0]}"
    if "pg_temp" in path and path[-1] != "pg_temp":
        return f"pg_temp is not last: {entries[0]}"
    return None


def test_every_clinic_function_pins_its_search_path(env: Env) -> None:
    functions = _functions(env)
    assert functions, "no clinic functions found in schema public"
    bad = [f"{sig}: {why}" for _, sig, _, _, config, _, atomic in functions
           if not atomic and (why := _pinned(config))]
    assert not bad, "functions without a pinned search_path:\n  " + "\n  ".join(bad)


def test_trigger_functions_are_not_executable_by_any_clinic_role_or_public(env: Env) -> None:
    grantees = ("public", *GROUP_ROLES)
    existing = {r[0] for r in env.rows("SELECT rolname FROM pg_roles")} | {"public"}
    bad = []
    for oid, sig, _, is_trigger, *_ in _functions(env):
        if not is_trigger:
            continue
        who = [role for role in grantees if role in existing   # a missing group is reported elsewhere
               and env.one("SELECT has_function_privilege(%s, %s::oid, 'EXECUTE')", (role, oid))]
        if who:
            bad.append(f"{sig}: {', '.join(who)}")
    assert not bad, "trigger functions executable (a login could attach them to a look-alike table):\n  " + \
        "\n  ".join(bad)


def test_security_definer_trigger_functions_are_few_and_check_their_table(env: Env,
                                                                          capsys: pytest.CaptureFixture) -> None:
    """Lists the SECURITY DEFINER trigger functions (``-rP`` shows them) and requires each to look at
    ``TG_RELID`` (the table it fires on), so it refuses to run on a look-alike."""
    definers = [(sig, src) for _, sig, secdef, is_trigger, _, src, _ in _functions(env) if secdef and is_trigger]
    with capsys.disabled():
        print(f"\nSECURITY DEFINER trigger functions ({len(definers)}): " + ", ".join(s for s, _ in definers))
    unchecked = [sig for sig, src in definers if "tg_relid" not in (src or "").lower()]
    assert not unchecked, (f"{len(unchecked)} of {len(definers)} SECURITY DEFINER trigger functions do not check "
                           "TG_RELID:\n  " + "\n  ".join(unchecked))


def test_public_executes_no_clinic_function(env: Env) -> None:
    bad = [sig for oid, sig, *_ in _functions(env)
           if env.one("SELECT has_function_privilege('public', %s::oid, 'EXECUTE')", (oid,))]
    assert not bad, "functions PUBLIC may execute:\n  " + "\n  ".join(bad)


def test_future_functions_are_not_executable_by_public(env: Env) -> None:
    """The schema owner's default privileges revoke EXECUTE from PUBLIC (pg_default_acl), shown by
    creating a function as the owner in a transaction that is rolled back."""
    owner = env.one("SELECT relowner::regrole::text FROM pg_class WHERE oid = 'public.appointment'::regclass")
    acl = env.one("SELECT defaclacl::text FROM pg_default_acl WHERE defaclrole = %s::regrole "
                          "AND defaclobjtype = 'f' AND defaclnamespace = 0", (owner,))
    assert acl is not None, f"no default privileges for functions of {owner}: PUBLIC gets EXECUTE on new ones"
    with env.su() as conn:
        conn.autocommit = False
        current = conn.execute("SELECT current_user").fetchone()[0]
        if current != owner:
            conn.execute(f'SET LOCAL ROLE "{owner}"')
        conn.execute("CREATE FUNCTION public.sec_probe() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        allowed = conn.execute("SELECT has_function_privilege('public', 'public.sec_probe()', 'EXECUTE')").fetchone()[0]
        conn.rollback()
    assert not allowed, f"a new function of {owner} is executable by PUBLIC (default ACL {acl})"


# -- the privilege matrix -----------------------------------------------------------------------------
R, D, M, A, REM, P, N = "reception", "doctor", "manager", "admin", "reminders", "portal", "nobody"
_READ = {R: "S", D: "S", M: "S", A: "S"}
_DESK = {R: "S I U", D: "S", M: "S I U", A: "S I U"}           # reception's tables (managers and admins inherit)
_ROSTER = {R: "S", D: "S", M: "S I U D", A: "S I U D"}         # rosters: managers and admins
_CONFIG = {R: "S", D: "S", M: "S", A: "S I U D"}               # the clinic's configuration: admins

MATRIX: dict[str, dict[str, str]] = {
    "alembic_version": {**_READ, REM: "S?"},
    "appointment": {R: "S I U", D: "S Uc", M: "S I U", A: "S I U", REM: "S*"},
    "audit_log": {M: "S", A: "S"},
    "booking": {R: "S I U D", D: "S", M: "S I U D", A: "S I U D"},
    "branch": {**_CONFIG, REM: "S*"},
    "clinic_setting": {R: "S", D: "S", M: "S", A: "S I U D?"},
    "consent_event": dict(_READ),
    "freed_slot": {R: "S I? U", D: "S", M: "S I? U", A: "S I? U"},
    "holiday": dict(_ROSTER),
    "opening_hours": dict(_CONFIG),
    "override_log": dict(_READ),
    "patient": {**_DESK, REM: "S*"},
    # the portal's signing key and verification codes (migration 0014): the owner's only; the portal's
    # definer functions read and write them (and the portal login reads no table at all)
    "portal_secret": {},
    "portal_verification": {},
    # patients' SMS replies (migration 0014): reception reads them and marks them handled
    "inbound_message": {R: "S Uc", M: "S Uc", A: "S Uc"},
    "payment": {R: "S I", D: "S", M: "S I", A: "S I"},
    "reminder": {R: "S I U", D: "S", M: "S I U", A: "S I U", REM: "S* U*"},
    "receipt": {R: "S I", D: "S", M: "S I", A: "S I"},   # append-only: numbered by the database
    "reminder_rule": dict(_CONFIG),
    "resource": dict(_CONFIG),
    "series": dict(_DESK),
    "service": {**_CONFIG, REM: "S*"},
    "shift": dict(_ROSTER),
    "shift_exception": dict(_ROSTER),
    "status_transition": dict(_READ),
    "time_off": dict(_ROSTER),
    "utilization_day": {R: "S", D: "S", M: "S", A: "S I? U? D?"},
    "utilization_stale": {R: "S", D: "S", M: "S", A: "S I? U? D?"},
    "utilization_fresh": {M: "S", A: "S I U D"},   # the refresh's scratch table (TEMP is nobody's)
    "utilization_summary": {R: "S", D: "S", M: "S", A: "S I? U? D?"},
    "visit": dict(_DESK),
    "waitlist_entry": dict(_DESK),
    "waitlist_offer": dict(_DESK),
}
_PRIVS = {"S": "SELECT", "I": "INSERT", "U": "UPDATE", "D": "DELETE"}


def test_the_matrix_lists_every_table(env: Env) -> None:
    tables = {r[0] for r in env.rows(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'v', 'm', 'f')")}
    missing = sorted(tables - set(MATRIX))
    gone = sorted(set(MATRIX) - tables)
    assert not missing, f"tables missing from the privilege matrix (add a row): {missing}"
    assert not gone, f"tables in the matrix that the schema no longer has: {gone}"


def _expected(cell: str) -> dict[str, str]:
    """Token per privilege letter: '' (table-level), '*', 'c' or '?'; absent letters are refused."""
    out = {}
    for token in cell.split():
        out[token[0]] = token[1:]
    return out


@pytest.mark.parametrize("table", sorted(MATRIX))
def test_privilege_matrix(env: Env, table: str) -> None:
    problems = []
    for kind in GROUPS:
        login = env.logins[kind]
        want = _expected(MATRIX[table].get(kind, ""))
        for letter, priv in _PRIVS.items():
            whole = env.one("SELECT has_table_privilege(%s, %s, %s)", (login, f"public.{table}", priv))
            cols = whole if letter == "D" else env.one(
                "SELECT has_any_column_privilege(%s, %s, %s)", (login, f"public.{table}", priv))
            mode = want.get(letter)
            if mode == "?":
                continue
            if mode is None and (whole or cols):
                problems.append(f"{kind} has {priv}{'' if whole else ' (on some columns)'} but should not")
            elif mode == "" and not whole:
                problems.append(f"{kind} lacks {priv} on the table{' (has some columns)' if cols else ''}")
            elif mode == "*" and not cols:
                problems.append(f"{kind} lacks {priv} (not even on a column)")
            elif mode == "c" and (whole or not cols):
                problems.append(f"{kind} should have {priv} on some columns only, has "
                                f"{'the whole table' if whole else 'none'}")
        for priv in ("TRUNCATE", "REFERENCES", "TRIGGER"):
            if env.one("SELECT has_table_privilege(%s, %s, %s)", (login, f"public.{table}", priv)):
                problems.append(f"{kind} has {priv}")
    assert not problems, f"{table}:\n  " + "\n  ".join(problems)


# -- the function matrix ----------------------------------------------------------------------------------
#: Who may EXECUTE each SECURITY DEFINER function that is not a trigger function: kind → True (must),
#: False (must not), None (open). Kinds not named must not. A new entry point fails
#: test_every_security_definer_function_is_in_the_function_matrix until it gets a row.
FUNCTION_MATRIX: dict[str, dict[str, bool | None]] = {
    "clinic_log_override(text,bigint,text,jsonb)": {M: True, A: True},
    "clinic_analyze_import()": {A: True},                  # an administrator's import ends with ANALYZE
    "clinic_release_expired_holds(integer[],timestamp with time zone,timestamp with time zone)":
        {R: True, M: True, A: True, REM: None},   # open: the reminder service's hold sweep
    "clinic_plan_reminders(bigint[],text[])": {},          # only the reminder triggers plan reminders
    "clinic_report_doctor_of(bigint[])": {},                # only the booking triggers
    "clinic_setting_int(text,integer)": {R: None, D: None, M: None, A: None, REM: None},
    "clinic_may_override()": {R: None, D: None, M: None, A: None, REM: None},
    "clinic_take_override(text,bigint,jsonb)": {M: None, A: None},   # booking_check's; logs as the caller
    # the patient portal (migration 0014): its login calls the portal_* functions and nothing else;
    # the desk (reception, and managers and admins through it) and the reminder service mint a
    # patient's link; signing, resolving a token and locking a link's appointment are the
    # definer functions' own.
    "clinic_hmac_hex(text)": {},
    "clinic_portal_token(bigint,text)": {R: True, M: True, A: True, REM: True},
    "clinic_portal_link(bigint)": {R: True, M: True, A: True, REM: True},
    "clinic_portal_offer_link(bigint)": {R: True, M: True, A: True, REM: True},
    "portal_offer(text)": {P: True},
    "portal_offer_decide(text,boolean)": {P: True},
    "portal_held(text)": {P: True},
    "portal_sms_reply(text,text,text)": {P: True},
    "portal_reschedule(text,integer[],timestamp with time zone)": {P: True},
    "clinic_portal_resolve(text,text)": {},
    "clinic_portal_check_start(service,integer[],timestamp with time zone)": {},
    "clinic_portal_live(text)": {},
    "portal_catalog()": {P: True},
    "portal_search_inputs(integer,integer,integer,timestamp with time zone,timestamp with time zone)": {P: True},
    "portal_hold(integer,integer,integer[],timestamp with time zone)": {P: True},
    "portal_release(text)": {P: True},
    "portal_send_code(text,text,text)": {P: True},
    "portal_book(text,text,jsonb)": {P: True},
    "portal_appointment(text)": {P: True},
    "portal_confirm(text)": {P: True},
    "portal_cancel(text,boolean)": {P: True},
    "portal_note(text,text)": {P: True},
}


def _definer_entry_points(env: Env) -> dict[str, int]:
    return {sig.replace(", ", ","): oid for oid, sig, secdef, is_trigger, *_ in _functions(env)
            if secdef and not is_trigger}


def test_every_security_definer_function_is_in_the_function_matrix(env: Env) -> None:
    missing = sorted(set(_definer_entry_points(env)) - set(FUNCTION_MATRIX))
    assert not missing, f"SECURITY DEFINER functions missing from FUNCTION_MATRIX (add a row): {missing}"


@pytest.mark.parametrize("signature", sorted(FUNCTION_MATRIX))
def test_function_matrix(env: Env, signature: str) -> None:
    oid = _definer_entry_points(env).get(signature)
    if oid is None:
        pytest.fail(f"{signature} is not a SECURITY DEFINER function of the schema (renamed? drop its row)")
    problems = []
    for kind in GROUPS:
        want = FUNCTION_MATRIX[signature].get(kind, False)
        has = env.one("SELECT has_function_privilege(%s, %s::oid, 'EXECUTE')", (env.logins[kind], oid))
        if want is not None and has != want:
            problems.append(f"{kind} {'may' if has else 'may not'} execute it (design: {'may' if want else 'may not'})")
    assert not problems, f"{signature}:\n  " + "\n  ".join(problems)


def _look_alike_trigger(cur, fn_oid: int) -> str | None:
    """Attach the function, the way one of its triggers is attached (timing, level, one event,
    transition tables) but without a WHEN clause or column list, to a TEMP look-alike of that
    trigger's table (same name, same columns, no constraints), and fire it with one row. Returns the
    trigger's name when nothing refused it, None when the function has no trigger."""
    row = cur.execute("SELECT t.tgrelid::regclass::text, t.tgname, t.tgtype, t.tgoldtable, t.tgnewtable "
                      "FROM pg_trigger t WHERE t.tgfoid = %s AND NOT t.tgisinternal "
                      "ORDER BY (t.tgtype & 4) DESC, (t.tgtype & 16) DESC, t.oid LIMIT 1", (fn_oid,)).fetchone()
    if row is None:
        return None
    table, name, tgtype, old_table, new_table = row
    bare = table.split(".")[-1]
    event = "INSERT" if tgtype & 4 else "UPDATE" if tgtype & 16 else "DELETE"
    refs = " ".join(x for x in (f"OLD TABLE AS {old_table}" if old_table and event != "INSERT" else "",
                                f"NEW TABLE AS {new_table}" if new_table and event != "DELETE" else "") if x)
    fn = cur.execute("SELECT %s::oid::regproc::text", (fn_oid,)).fetchone()[0]
    cur.execute(f"CREATE TEMP TABLE {bare} AS SELECT * FROM public.{bare} LIMIT 0")
    if event != "INSERT":
        cur.execute(f"INSERT INTO pg_temp.{bare} DEFAULT VALUES")
    cur.execute(f"CREATE TRIGGER sec_look_alike {'BEFORE' if tgtype & 2 else 'AFTER'} {event} ON pg_temp.{bare} "
                f"{'REFERENCING ' + refs if refs else ''} FOR EACH {'ROW' if tgtype & 1 else 'STATEMENT'} "
                f"EXECUTE FUNCTION {fn}()")
    column = _first_column(cur, bare)
    cur.execute({"INSERT": f"INSERT INTO pg_temp.{bare} DEFAULT VALUES",
                 "UPDATE": f"UPDATE pg_temp.{bare} SET {column} = {column}",
                 "DELETE": f"DELETE FROM pg_temp.{bare}"}[event])
    return name


def _first_column(cur, table: str) -> str:
    return cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                       "AND NOT attisdropped ORDER BY attnum LIMIT 1", (f"public.{table}",)).fetchone()[0]


def test_security_definer_trigger_functions_refuse_a_look_alike_table(env: Env) -> None:
    """Defence in depth behind the revoked TEMP and EXECUTE: even the superuser attaching a SECURITY
    DEFINER trigger function to a TEMP table named and shaped like its table gets an error, never
    a run (no forged audit rows, consent events or cancelled reminders)."""
    ran = []
    with env.su() as conn:
        for oid, sig, secdef, is_trigger, *_ in _functions(env):
            if not (secdef and is_trigger):
                continue
            conn.autocommit = False
            try:
                with conn.cursor() as cur:
                    outcome = _look_alike_trigger(cur, oid)
                if outcome is not None:
                    ran.append(f"{sig} (as {outcome})")
            except psycopg.Error:
                pass          # refused: what we want
            finally:
                conn.rollback()
    assert not ran, "SECURITY DEFINER trigger functions that ran on a look-alike TEMP table:\n  " + "\n  ".join(ran)
