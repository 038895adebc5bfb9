"""The patient portal's login (migration 0014, issue 17), attacked as a hostile ``psql`` user would.

A login in ``clinic_portal`` may call the ``portal_*`` functions of ``db/sql/portal.sql`` and
nothing else: no table (not even to read), no sequence, no other clinic function — the signing
helpers (``clinic_hmac_hex``, ``clinic_portal_resolve``, ``clinic_portal_token``) included. The
staff roles may not call the portal's functions (reception and the reminder service only mint a
patient's link, ``clinic_portal_token`` and ``clinic_portal_link``). And what the portal may call refuses a hostile caller's
arguments: resources of the wrong kind or branch, a doctor not bookable online, a start off the
grid, outside the shifts, in the past or too far ahead — with nothing written.

The portal's window is measured from the server's clock, so the module books on the first Monday
at least two days from today (not the fixed 2027 dates of the other modules).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from reception_app.services import portal, scheduling

from .conftest import CLINIC_ROLES, Attempt, Env, refused

SP = ZoneInfo("America/Sao_Paulo")
PORTAL_FUNCTIONS = ("portal_catalog", "portal_search_inputs", "portal_hold", "portal_held", "portal_release",
                    "portal_send_code", "portal_book", "portal_appointment", "portal_confirm", "portal_cancel",
                    "portal_note", "portal_reschedule", "portal_sms_reply", "portal_offer", "portal_offer_decide")
STAFF = (*CLINIC_ROLES, "reminders")


def _monday() -> date:
    """The first Monday two or more days from today (Sao Paulo), outside Ana's leave (2027-03-01..07)
    and the suite's Centro holiday (2027-01-11); the portal books at most 90 days ahead."""
    day = datetime.now(SP).date() + timedelta(days=2)
    while day.weekday() != 0 or day in (date(2027, 1, 11), date(2027, 3, 1)):
        day += timedelta(days=1)
    return day


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SP)


@pytest.fixture(scope="module")
def online(env: Env) -> dict[str, Any]:
    """The module's clinic online: every service and every doctor but Bruno Lima; one service left
    offline ("Offline consult"); a legitimate hold made through ``services.portal`` as the portal
    login; a desk appointment of patient 0 that day. Ids and the day."""
    with env.su() as conn:
        conn.execute("UPDATE service SET online = true")
        conn.execute("UPDATE resource SET online = true WHERE kind = 'doctor' AND name <> 'Bruno Lima'")
        offline = conn.execute("INSERT INTO service (name, duration_min, doctor_specialty, room_kind) "
                               "VALUES ('Offline consult', 30, 'radiology', 'imaging') RETURNING id").fetchone()[0]
    day = _monday()
    owner = env.database()
    try:   # env.book books with the suite's fixed 2027 `now`; the portal's day is measured from today
        desk = scheduling.book(owner, branch="Centro", service="Radiology consult", start=local(day, 11),
                               now=datetime.now(UTC), patient_id=env.patients[0], doctor="Ana Souza",
                               room="Imaging 2").id
    finally:
        owner.dispose()
    db = env.database("portal")
    try:
        f = portal.free_starts(db, branch_id=env.ids["Centro"], service_id=env.ids["Radiology consult"],
                               doctor_id=None, first=day, now=datetime.now(UTC), days=1).days[day][0]
        hold = portal.hold(db, branch_id=env.ids["Centro"], service_id=env.ids["Radiology consult"],
                           resources=f.resources, start=f.start)
    finally:
        db.dispose()
    appt = env.one("SELECT id FROM appointment WHERE replace(client_id::text, '-', '') = %s",
                   (hold.token.split(".")[1],))
    return {"day": day, "offline": offline, "desk": desk, "hold": hold.token, "held": appt, "held_start": f.start}


def _counts(env: Env) -> tuple[int, int, int, int]:
    return env.rows("SELECT (SELECT count(*) FROM appointment), (SELECT count(*) FROM booking), "
                    "(SELECT count(*) FROM patient), (SELECT count(*) FROM portal_verification)")[0]


def _call(statement: str, params: Any = None):
    def work(cur: psycopg.Cursor) -> Any:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else None
    return work


# -- the portal reads and writes no table ---------------------------------------------------------------
READ_REFUSED = ["patient", "appointment", "booking", "portal_secret", "portal_verification", "audit_log",
                "clinic_setting", "payment", "resource", "service", "branch", "shift", "reminder", "override_log",
                "receipt", "waitlist_entry", "status_transition"]


@pytest.mark.parametrize("table", READ_REFUSED)
def test_the_portal_reads_no_table(env: Env, online: dict[str, Any], table: str) -> None:
    refused(env.attack("portal", _call(f"SELECT * FROM {table} LIMIT 1")), "42501")


def test_the_portal_reads_no_table_of_the_schema_at_all(env: Env, online: dict[str, Any]) -> None:
    tables = [r[0] for r in env.rows("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                                     "AND relkind IN ('r', 'p', 'v', 'm', 'S') ORDER BY 1")]
    readable = [t for t in tables if env.one(
        "SELECT has_table_privilege(%s, %s, 'SELECT') OR has_any_column_privilege(%s, %s, 'SELECT')",
        (env.logins["portal"], f"public.{t}", env.logins["portal"], f"public.{t}"))
        or env.one("SELECT relkind = 'S' AND has_sequence_privilege(%s, %s, 'USAGE') FROM pg_class "
                   "WHERE oid = %s::regclass", (env.logins["portal"], f"public.{t}", f"public.{t}"))]
    assert len(tables) > 30 and not readable, readable


WRITE_REFUSED = [
    ("book directly", "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source) "
                      "VALUES (%(patient)s, %(service)s, %(branch)s, 'confirmed', %(start)s, "
                      "%(start)s + interval '30 minutes', 'online')"),
    ("confirm the hold directly", "UPDATE appointment SET status = 'confirmed' WHERE id = %(held)s"),
    ("give the hold a patient", "UPDATE appointment SET patient_id = %(patient)s WHERE id = %(held)s"),
    ("cancel the desk's appointment", "UPDATE appointment SET status = 'cancelled' WHERE id = %(desk)s"),
    ("delete an appointment", "DELETE FROM appointment WHERE id = %(desk)s"),
    ("add a booking", "INSERT INTO booking (appointment_id, resource_id, period) "
                      "VALUES (%(held)s, %(room)s, tstzrange(%(start)s, %(start)s + interval '30 minutes'))"),
    ("move a booking", "UPDATE booking SET period = tstzrange(lower(period) + interval '1 hour', "
                       "upper(period) + interval '1 hour') WHERE appointment_id = %(held)s"),
    ("free a resource", "DELETE FROM booking WHERE appointment_id = %(desk)s"),
    ("add a patient", "INSERT INTO patient (display_name, birth_date) VALUES ('Forged', '1990-01-01')"),
    ("reset the code attempts", "UPDATE portal_verification SET attempts = 0"),
    ("plant a known code", "INSERT INTO portal_verification (appointment_id, channel, contact, code_mac, expires_at) "
                           "VALUES (%(held)s, 'sms', '+5511900000000', 'x', now() + interval '1 hour')"),
    ("change the key", "UPDATE portal_secret SET key = decode(repeat('00', 32), 'hex')"),
    ("raise the hold limit", "INSERT INTO clinic_setting (key, value) VALUES ('portal_max_holds', '100000')"),
    ("write the audit trail", "INSERT INTO audit_log (db_user, txid, table_name, row_id, action) "
                              "VALUES ('x', 1, 'appointment', 1, 'DELETE')"),
    ("take an appointment id", "SELECT nextval('appointment_id_seq')"),
]


@pytest.mark.parametrize("what, statement", WRITE_REFUSED, ids=[w for w, _ in WRITE_REFUSED])
def test_the_portal_writes_no_table(env: Env, online: dict[str, Any], what: str, statement: str) -> None:
    params = {"patient": env.patients[1], "service": env.ids["Radiology consult"], "branch": env.ids["Centro"],
              "start": local(online["day"], 10), "held": online["held"], "desk": online["desk"],
              "room": env.ids["Imaging 1"]}
    refused(env.attack("portal", _call(statement, params), commit=True), "42501")
    assert env.one("SELECT status FROM appointment WHERE id = %s", (online["held"],)) == "held"
    assert env.one("SELECT status FROM appointment WHERE id = %s", (online["desk"],)) == "confirmed"


# -- the portal calls only its own functions --------------------------------------------------------------
EXECUTE_REFUSED = [
    ("sign anything", "SELECT clinic_hmac_hex('a.00000000000000000000000000000000.1')"),
    ("mint a link for any appointment", "SELECT clinic_portal_token(%(desk)s, 'appointment')"),
    ("mint a hold token", "SELECT clinic_portal_token(%(held)s, 'hold')"),
    ("an appointment's page address", "SELECT clinic_portal_link(%(desk)s)"),
    ("resolve a token", "SELECT clinic_portal_resolve(%(hold)s, 'hold')"),
    ("lock a link's appointment", "SELECT clinic_portal_live('a.x')"),
    ("raise the portal's refusal", "SELECT clinic_portal_refuse('x', 'y')"),
    ("compute a status", "SELECT clinic_initial_status('immediate', 0, true, 0)"),
    ("release holds", "SELECT clinic_release_expired_holds(ARRAY[1], now(), now() + interval '1 day')"),
    ("log an override", "SELECT clinic_log_override('holiday', NULL, 'forged', '{}'::jsonb)"),
    ("take an override", "SELECT clinic_take_override('holiday', 1, '{}'::jsonb)"),
    ("may I override", "SELECT clinic_may_override()"),
    ("plan reminders", "SELECT clinic_plan_reminders(ARRAY[%(desk)s::bigint], ARRAY['confirmation'])"),
    ("recompute a doctor", "SELECT clinic_report_doctor_of(ARRAY[1::bigint])"),
    ("analyze an import", "SELECT clinic_analyze_import()"),
    ("read a setting", "SELECT clinic_setting_int('portal_max_holds', 1)"),
    ("what was paid", "SELECT clinic_net_paid_cents(%(desk)s)"),
    ("a doctor's availability", "SELECT clinic_availability(1, 1, now(), now() + interval '1 hour')"),
    ("fold text", "SELECT clinic_fold('Joana')"),
]


@pytest.mark.parametrize("what, statement", EXECUTE_REFUSED, ids=[w for w, _ in EXECUTE_REFUSED])
def test_the_portal_executes_no_other_clinic_function(env: Env, online: dict[str, Any], what: str,
                                                      statement: str) -> None:
    refused(env.attack("portal", _call(statement, online)), "42501")


def test_the_portal_may_execute_exactly_the_portal_functions(env: Env, online: dict[str, Any]) -> None:
    """Every ``portal_*`` function of the schema (those of this module's list at least) and nothing else."""
    rows = env.rows("""
        SELECT p.proname, p.oid::regprocedure::text, has_function_privilege(%s, p.oid, 'EXECUTE')
          FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                            AND d.objid = p.oid AND d.deptype = 'e')""", (env.logins["portal"],))
    may = sorted(sig for _, sig, has in rows if has)
    portal_functions = sorted(sig for name, sig, _ in rows if name.startswith("portal_"))
    assert may == portal_functions, f"may execute: {may}"
    assert set(PORTAL_FUNCTIONS) <= {s.split("(")[0] for s in may}
    assert len(rows) > 60


#: Each portal function called by the portal login with arguments that do no harm: allowed (it runs;
#: a refusal of the arguments is CL020, never 42501).
PORTAL_CALLS = [
    ("portal_catalog", "SELECT portal_catalog()"),
    ("portal_search_inputs", "SELECT portal_search_inputs(%(branch)s, %(service)s, NULL, now(), now() + interval '1 day')"),
    ("portal_hold", "SELECT portal_hold(%(branch)s, %(service)s, ARRAY[%(ana)s, %(room)s], %(start)s)"),
    ("portal_held", "SELECT portal_held(%(hold)s)"),
    ("portal_release", "SELECT portal_release('h.x')"),
    ("portal_send_code", "SELECT portal_send_code(%(hold)s, 'sms', '+5511961234567')"),
    ("portal_book", "SELECT portal_book('h.x', '000000', '{}'::jsonb)"),
    ("portal_appointment", "SELECT portal_appointment('a.x')"),
    ("portal_confirm", "SELECT portal_confirm('a.x')"),
    ("portal_cancel", "SELECT portal_cancel('a.x', false)"),
    ("portal_note", "SELECT portal_note('a.x', 'hello')"),
    ("portal_reschedule", "SELECT portal_reschedule('a.x', ARRAY[%(ana)s, %(room)s], %(start)s)"),
    ("portal_sms_reply", "SELECT portal_sms_reply('SM-attack-suite', '+5511961234567', 'hello')"),
    ("portal_offer", "SELECT portal_offer('o.x')"),
    ("portal_offer_decide", "SELECT portal_offer_decide('o.x', true)"),
]


@pytest.mark.parametrize("name, statement", PORTAL_CALLS, ids=[n for n, _ in PORTAL_CALLS])
def test_the_portal_may_call_each_portal_function(env: Env, online: dict[str, Any], name: str,
                                                  statement: str) -> None:
    params = {**online, "branch": env.ids["Centro"], "service": env.ids["Radiology consult"],
              "ana": env.ids["Ana Souza"], "room": env.ids["Imaging 1"], "start": local(online["day"], 9)}
    attempt = env.attack("portal", _call(statement, params))
    assert attempt.sqlstate in (None, "CL020"), f"{name}: {attempt.describe()}"
    if name in ("portal_catalog", "portal_search_inputs", "portal_hold", "portal_held", "portal_send_code"):
        assert attempt.error is None and attempt.result[0][0], f"{name}: {attempt.describe()}"


def test_what_the_portal_reads_names_no_patient(env: Env, online: dict[str, Any]) -> None:
    """The catalog and the search inputs carry periods, not people: no patient's name, contact or id
    (the day has the desk's appointment of Joana Prado)."""
    def work(cur: psycopg.Cursor) -> str:
        out = [cur.execute("SELECT portal_catalog()").fetchone()[0]]
        out.append(cur.execute("SELECT portal_search_inputs(%s, %s, NULL, %s, %s)",
                               (env.ids["Centro"], env.ids["Radiology consult"], local(online["day"], 0),
                                local(online["day"], 23))).fetchone()[0])
        return json.dumps(out)
    attempt = env.attack("portal", work)
    assert attempt.error is None, attempt.describe()
    text = attempt.result
    assert "busy" in text and str(env.ids["Ana Souza"]) in text
    for leak in ("Joana", "Prado", "joana@example.org", "1990-09-09", "patient"):
        assert leak not in text, leak


# -- the staff may not call the portal's functions ---------------------------------------------------------
@pytest.mark.parametrize("role", STAFF)
@pytest.mark.parametrize("name, statement", PORTAL_CALLS, ids=[n for n, _ in PORTAL_CALLS])
def test_staff_may_not_call_the_portal_functions(env: Env, online: dict[str, Any], role: str, name: str,
                                                 statement: str) -> None:
    params = {**online, "branch": env.ids["Centro"], "service": env.ids["Radiology consult"],
              "ana": env.ids["Ana Souza"], "room": env.ids["Imaging 1"], "start": local(online["day"], 9)}
    refused(env.attack(role, _call(statement, params)), "42501")


@pytest.mark.parametrize("name, statement", [*PORTAL_CALLS,
                                             ("clinic_portal_token", "SELECT clinic_portal_token(1, 'appointment')"),
                                             ("clinic_portal_link", "SELECT clinic_portal_link(1)")],
                         ids=[*(n for n, _ in PORTAL_CALLS), "clinic_portal_token", "clinic_portal_link"])
def test_a_login_in_no_group_may_not_call_them_either(env: Env, online: dict[str, Any], name: str,
                                                      statement: str) -> None:
    """The superuser takes the group-less login's identity (``SET ROLE``) to get past CONNECT."""
    params = {**online, "branch": env.ids["Centro"], "service": env.ids["Radiology consult"],
              "ana": env.ids["Ana Souza"], "room": env.ids["Imaging 1"], "start": local(online["day"], 9)}
    with env.su() as conn:
        conn.autocommit = False
        conn.execute(f'SET LOCAL ROLE "{env.logins["nobody"]}"')
        with pytest.raises(psycopg.Error) as info:
            conn.execute(statement, params)
        conn.rollback()
    assert info.value.sqlstate == "42501", f"{name}: {info.value}"


@pytest.mark.parametrize("role, may", [("reception", True), ("manager", True), ("admin", True),
                                       ("reminders", True), ("doctor", False), ("portal", False)])
@pytest.mark.parametrize("function", ["clinic_portal_token", "clinic_portal_link"])
def test_who_mints_a_patients_link(env: Env, online: dict[str, Any], role: str, may: bool, function: str) -> None:
    call = ("SELECT clinic_portal_token(%(desk)s, 'appointment')" if function == "clinic_portal_token"
            else "SELECT clinic_portal_link(%(desk)s)")
    attempt = env.attack(role, _call(call, online))
    if may:
        assert attempt.error is None, attempt.describe()
        value = attempt.result[0][0]
        assert value is None or value.startswith("a.") or "/a/a." in value, value
    else:
        refused(attempt, "42501")


# -- a hostile portal login's arguments ------------------------------------------------------------------------
def _hold(env: Env, online: dict[str, Any], *, service: str = "Radiology consult", branch: str = "Centro",
          resources: tuple[str | int, ...] = ("Ana Souza", "Imaging 1"), start: datetime | None = None,
          override: str | None = None):
    ids = [r if isinstance(r, int) else env.ids[r] for r in resources]
    when = start or local(online["day"], 9)

    def work(cur: psycopg.Cursor) -> Any:
        if override:
            cur.execute("SELECT set_config('clinic.override', %s, true)", (override,))
        return cur.execute("SELECT portal_hold(%s, %s, %s::integer[], %s)",
                           (env.ids[branch], env.ids[service] if service in env.ids else online["offline"], ids,
                            when)).fetchone()[0]
    return work


def _hostile_holds(online: dict[str, Any]) -> list[tuple[str, dict[str, Any], str | tuple[str, ...]]]:
    day = online["day"]
    return [
        ("a room instead of the doctor", {"resources": ("Imaging 2", "Imaging 1")}, "CL020"),
        ("equipment instead of the room", {"resources": ("Ana Souza", "Ultrasound A")}, "23514"),
        ("another branch's room", {"resources": ("Ana Souza", "Berlin Room")}, "23514"),
        ("a doctor of another specialty", {"resources": ("Clara Weiss", "Imaging 1")}, "23514"),
        ("two doctors", {"resources": ("Ana Souza", "Ana Souza", "Imaging 1")}, "CL020"),
        ("no room at all", {"resources": ("Ana Souza",)}, "23514"),
        ("no resources", {"resources": ()}, "CL020"),
        ("a resource that does not exist", {"resources": ("Ana Souza", 999_999)}, "CL020"),
        ("four resources", {"resources": ("Ana Souza", "Imaging 1", "Imaging 2", "Ultrasound A")}, "CL020"),
        ("a doctor not bookable online", {"resources": ("Bruno Lima", "Imaging 1")}, "CL020"),
        ("a service not bookable online", {"service": "Offline consult"}, "CL020"),
        ("off the grid", {"start": local(day, 9, 7)}, "23514"),
        ("outside the doctor's shift", {"start": local(day, 14)}, "23514"),
        ("outside the shift, with an override", {"start": local(day, 14), "override": "portal wants it"}, "23514"),
        ("at another branch", {"branch": "Berlin"}, "23514"),
        ("in the past", {"start": local(day, 9) - timedelta(days=14)}, "CL020"),
        ("inside the minimum notice", {"start": datetime.now(UTC).replace(second=0, microsecond=0)
                                       + timedelta(minutes=10)}, "CL020"),
        ("beyond the portal's horizon", {"start": local(day, 9) + timedelta(days=98)}, "CL020"),
        ("over the desk's appointment", {"resources": ("Ana Souza", "Imaging 1"), "start": local(day, 11)},
         "23P01"),
        ("over the portal's own hold", {"start": online["held_start"],
                                        "resources": ("Ana Souza", "Imaging 1")}, ("23P01", "CL020")),
    ]


HOSTILE_NAMES = [h[0] for h in _hostile_holds({"day": date(2027, 1, 4), "held_start": None})]


@pytest.mark.parametrize("what", HOSTILE_NAMES)
def test_a_hostile_hold_is_refused_and_writes_nothing(env: Env, online: dict[str, Any], what: str) -> None:
    _, kw, want = next(h for h in _hostile_holds(online) if h[0] == what)
    before = _counts(env)
    attempt: Attempt = env.attack("portal", _hold(env, online, **kw), commit=True)
    refused(attempt, *((want,) if isinstance(want, str) else want))
    assert _counts(env) == before
    assert env.one("SELECT count(*) FROM override_log WHERE db_user = %s", (env.logins["portal"],)) == 0


def test_the_control_hold_is_accepted(env: Env, online: dict[str, Any]) -> None:
    """The same raw call with fitting arguments is accepted (rolled back): the refusals above are the
    rules', not the attack's."""
    attempt = env.attack("portal", _hold(env, online, resources=("Ana Souza", "Imaging 2"),
                                         start=local(online["day"], 10)))
    assert attempt.error is None, attempt.describe()
    assert attempt.result["hold"].startswith("h.")


def test_the_number_of_waiting_holds_is_limited(env: Env, online: dict[str, Any]) -> None:
    env.one("INSERT INTO clinic_setting (key, value) VALUES ('portal_max_holds', '1') RETURNING key")
    try:
        attempt = env.attack("portal", _hold(env, online, resources=("Ana Souza", "Imaging 2"),
                                             start=local(online["day"], 10)))
        refused(attempt, "CL020")
        assert attempt.error is not None and attempt.error.diag.message_hint == "busy"
    finally:
        env.one("DELETE FROM clinic_setting WHERE key = 'portal_max_holds' RETURNING key")


def test_the_portal_may_not_bypass_the_rules_with_session_settings(env: Env, online: dict[str, Any]) -> None:
    for statement in ("SET session_replication_role = replica", "SET ROLE clinic_admin",
                      "SET SESSION AUTHORIZATION postgres"):
        refused(env.attack("portal", _call(statement)), "42501")
