"""Fixtures of the attack suite (issue 14, sections 2, 5, 6 and 8).

The attacks connect as a hostile ``psql`` user would: raw psycopg connections as a login role of
each kind (``reception``, ``doctor``, ``manager``, ``admin``, ``reminders``, ``portal`` — the patient
portal's, migration 0014 — and ``nobody``, a login in no clinic group), one transaction per attack, and assert the SQLSTATE the database answers.

- ``sec_template`` (session): the migrated template cloned once, with the test clinic
  (tests/data/test_clinic.toml) and the few extra rows the attacks need (``Setup`` below), plus one
  login role per kind (roles are cluster-wide, so they are made once and dropped at the end; the
  doctor login is linked to the doctor "Ana Souza").
- ``env`` (module): a database cloned from ``sec_template``, brought to the state ``clinic db
  upgrade`` leaves a server in (``migrate.upgrade`` is run on it: the database-level privileges,
  CONNECT and TEMP, live in ``pg_database`` and are not copied by ``CREATE DATABASE … TEMPLATE``,
  so the upgrade must re-apply them). One per test module: a clone costs about a second on a
  loaded machine, and every attack is rolled back (``Env.attack``), so the tests of a module share
  it. The few tests that commit (the audit trail, the reminder service) touch only their own rows.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from reception_app.services import scheduling
from reception_app.store import migrate
from reception_app.store.database import Database

from ..conftest import url_for

#: The kinds of login the suite attacks as, and the group role each is a member of (None: no group).
GROUPS: dict[str, str | None] = {
    "reception": "clinic_reception",
    "doctor": "clinic_doctor",
    "manager": "clinic_manager",
    "admin": "clinic_admin",
    "reminders": "clinic_reminders",
    "portal": "clinic_portal",     # the patient portal's login (migration 0014): only the portal_* functions
    "nobody": None,
}
CLINIC_ROLES = ("reception", "doctor", "manager", "admin")
#: Every group role of the design (section 5: "PUBLIC is not a clinic role").
GROUP_ROLES = tuple(g for g in GROUPS.values() if g)

SP = timezone(timedelta(hours=-3))               # Centro (America/Sao_Paulo, no DST since 2019)
NOW = datetime(2027, 1, 1, tzinfo=UTC)           # the `now` the app-level bookings are made with
MON = datetime(2027, 1, 4, tzinfo=SP)            # a Monday: Ana and Bruno work 08-12, Centro open 07-12, 13-19
HOLIDAY_MON = datetime(2027, 1, 11, tzinfo=SP)   # a Monday made a Centro holiday by the setup below
FRI = datetime(2027, 1, 8, tzinfo=SP)            # a Friday: Ana's night shift 22-06, Centro open 07-19

US = "Abdominal ultrasound"        # 30 min + 10 min buffer after; doctor radiology, room imaging, ultrasound
RC = "Radiology consult"           # 30 min, no buffers; doctor radiology, room imaging (added below)
PAID = "Paid consult"              # like RC with a deposit of 2000 cents (added below)


@dataclass
class Env:
    """One attack database: its URL, the login names by kind, and ids of the test clinic.

    ``ids``: resource, service and branch names → ids, plus ``patients`` (three patient ids).
    """

    url: str
    logins: dict[str, str]
    ids: dict[str, int]
    patients: list[int]
    missing_groups: list[str] = field(default_factory=list)

    # -- connections ---------------------------------------------------------------------------
    def connect(self, role: str) -> psycopg.Connection:
        """A raw psycopg connection as the login of kind ``role`` (not autocommit). A group role the
        database does not have yet (``missing_groups``) fails the test with that reason."""
        group = GROUPS[role]
        if group in self.missing_groups:
            pytest.fail(f"group role {group} does not exist (migration 0009 not applied?)")
        return psycopg.connect(make_conninfo(self.url, user=self.logins[role]), connect_timeout=10)

    def su(self) -> psycopg.Connection:
        """A raw connection as the superuser (the schema owner), autocommit."""
        return psycopg.connect(self.url, autocommit=True)

    def one(self, query: str, params: dict[str, Any] | Sequence[Any] | None = None) -> Any:
        """The first column of the first row of ``query`` run as the superuser (None: no row)."""
        with self.su() as conn:
            row = conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def rows(self, query: str, params: dict[str, Any] | Sequence[Any] | None = None) -> list[tuple]:
        """Every row of ``query`` run as the superuser."""
        with self.su() as conn:
            return conn.execute(query, params).fetchall()

    def database(self, role: str | None = None) -> Database:
        """A ``Database`` (the application's runner) as the superuser or as the login of kind ``role``;
        the caller disposes it."""
        return Database(self.url if role is None else make_conninfo(self.url, user=self.logins[role]), pool=False)

    # -- legitimate set-up -----------------------------------------------------------------------
    def book(self, service: str = US, start: datetime = MON.replace(hour=9), *, patient: int | None = None,
             **pins: Any) -> int:
        """Book through ``scheduling.book`` as the superuser (a legitimate booking); returns its id."""
        db = self.database()
        try:
            return scheduling.book(db, branch="Centro", service=service, start=start, now=NOW,
                                   patient_id=patient or self.patients[0], **pins).id
        finally:
            db.dispose()

    # -- attacks -----------------------------------------------------------------------------------
    def attack(self, role: str, work: Callable[[psycopg.Cursor], Any], *, commit: bool = False,
               after: Callable[[psycopg.Cursor, Any], Any] | None = None) -> Attempt:
        """Run ``work(cursor)`` as the login of kind ``role`` in one transaction, then end it the way a
        COMMIT would be judged: ``SET CONSTRAINTS ALL IMMEDIATE`` fires every deferred check now.

        ``after(cursor, result)`` then reads what the transaction would commit (stored in ``Attempt.after``).
        The transaction is rolled back unless ``commit`` (the shared attack database stays as it was,
        whatever the attack did); with ``commit`` it is committed for real.

        Returns an ``Attempt``: ``error`` (the psycopg error the database raised at any statement, at
        the deferred checks or at COMMIT, else None), ``result`` (what ``work`` returned), ``now``,
        ``user`` and ``txid`` (the transaction's ``now()``, ``session_user`` and ``txid_current()``,
        read first)."""
        attempt = Attempt()
        try:
            conn = self.connect(role)
        except psycopg.OperationalError as exc:
            attempt.error = exc
            return attempt
        with conn:
            try:
                with conn.cursor() as cur:
                    attempt.now, attempt.user, attempt.txid = cur.execute(
                        "SELECT now(), session_user, txid_current()").fetchone()
                    attempt.result = work(cur)
                    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    if after is not None:
                        attempt.after = after(cur, attempt.result)
                if commit:
                    conn.commit()
                else:
                    conn.rollback()
            except psycopg.Error as exc:
                attempt.error = exc
                conn.rollback()
        return attempt


@dataclass
class Attempt:
    """The outcome of one attack transaction (see ``Env.attack``)."""

    error: psycopg.Error | None = None
    result: Any = None
    now: datetime | None = None
    user: str | None = None
    txid: int | None = None
    after: Any = None

    @property
    def sqlstate(self) -> str | None:
        return None if self.error is None else getattr(self.error, "sqlstate", None)

    def describe(self) -> str:
        if self.error is None:
            return "accepted (the database raised nothing)"
        first = (str(self.error).strip().splitlines() or [""])[0]
        return f"refused {self.sqlstate}: {first}"


def refused(attempt: Attempt, *states: str) -> None:
    """Assert the attack was refused with one of ``states`` (a full SQLSTATE, or a two-character class)."""
    state = attempt.sqlstate or ""
    ok = attempt.error is not None and any(state == s or (len(s) == 2 and state[:2] == s) for s in states)
    assert ok, f"expected SQLSTATE {' or '.join(states)}, got: {attempt.describe()}"
    print(attempt.describe())   # shown with -rP: which rule refused it


def raw_appointment(cur: psycopg.Cursor, env: Env, *, start: datetime, minutes: int = 30, service: str = US,
                    patient: int | None = None, status: str = "confirmed", source: str = "phone", branch: str = "Centro",
                    resources: Sequence[str] = ("Ana Souza", "Imaging 1", "Ultrasound A"),
                    before: int = 0, after: int | None = None, **columns: Any) -> int:
    """Insert an appointment and its booking rows with raw SQL, as a hostile client would.

    ``before``/``after``: buffer minutes of the booking period around [start, start + minutes)
    (``after`` defaults to the ultrasound's 10 minutes for ``US``, else 0); ``resources``: names
    booked (empty: no booking rows); ``columns``: more appointment columns. Returns the new id."""
    if after is None:
        after = 10 if service == US else 0
    end = start + timedelta(minutes=minutes)
    cols = {"patient_id": patient or env.patients[0], "service_id": env.ids[service],
            "branch_id": env.ids[branch], "status": status, "starts_at": start, "ends_at": end,
            "source": source, **columns}
    query = sql.SQL("INSERT INTO appointment ({}) VALUES ({}) RETURNING id").format(
        sql.SQL(", ").join(map(sql.Identifier, cols)), sql.SQL(", ").join(map(sql.Placeholder, cols)))
    new_id = cur.execute(query, cols).fetchone()[0]
    if resources:
        cur.execute("INSERT INTO booking (appointment_id, resource_id, period) "
                    "SELECT %(a)s, r, tstzrange(%(lo)s, %(hi)s) FROM unnest(%(r)s::integer[]) AS r",
                    {"a": new_id, "r": [env.ids[n] for n in resources],
                     "lo": start - timedelta(minutes=before), "hi": end + timedelta(minutes=after)})
    return int(new_id)


# -- databases ------------------------------------------------------------------------------------
def _admin(url: str, statement: sql.Composable | str, params: Sequence[Any] | None = None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, params)


def _clone(admin_url: str, source: str, name: str) -> str:
    _admin(admin_url, sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(source)))
    return url_for(admin_url, name)


def _drop(admin_url: str, name: str) -> None:
    _admin(admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


SETUP_SQL = """
INSERT INTO service (name, duration_min, doctor_specialty, room_kind, cancel_free_hours, late_cancel_fee_cents)
VALUES ('Radiology consult', 30, 'radiology', 'imaging', 100000, 1500);
INSERT INTO service (name, duration_min, doctor_specialty, room_kind, deposit_cents)
VALUES ('Paid consult', 30, 'radiology', 'imaging', 2000);
INSERT INTO holiday (branch_id, local_date, name)
SELECT id, DATE '2027-01-11', 'Test holiday' FROM branch WHERE name = 'Centro';
INSERT INTO patient (display_name, birth_date, email, consent_channels)
VALUES ('Joana Prado', '1990-09-09', 'joana@example.org', '{}'),
       ('Pedro Alves', '1960-01-01', 'pedro@example.org', '{}'),
       ('Rita Lobo', '1975-05-05', 'rita@example.org', '{}');
"""


@pytest.fixture(scope="session")
def sec_logins(pg_admin_url: str) -> Iterator[dict[str, str]]:
    """One login role per kind (cluster-wide), members of their group when the group exists."""
    tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    names = {kind: f"sec_{kind}_{tag}" for kind in GROUPS}
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        for name in names.values():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    yield names
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        for name in names.values():
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
            try:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
            except psycopg.Error as exc:  # something of a failed attack still depends on it
                warnings.warn(f"could not drop test role {name}: {exc}", stacklevel=1)


@pytest.fixture(scope="session")
def sec_template(pg_admin_url: str, clinic_template_db: str,
                 sec_logins: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """(name of the attack template database — the test clinic's template plus the attack set-up —,
    group roles missing from the server)."""
    name = f"clinic_sec_template_{os.getpid()}"
    _drop(pg_admin_url, name)
    url = _clone(pg_admin_url, clinic_template_db, name)
    missing: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SETUP_SQL)
        for kind, group in GROUPS.items():
            if group is None:
                continue
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (group,)).fetchone() is None:
                missing.append(group)
                continue
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(sec_logins[kind])))
        conn.execute("UPDATE resource SET login_role = %s WHERE name = 'Ana Souza'", (sec_logins["doctor"],))
    yield name, missing
    _drop(pg_admin_url, name)


def _make_env(pg_admin_url: str, sec_template: tuple[str, list[str]], logins: dict[str, str], name: str) -> Env:
    template, missing = sec_template
    url = _clone(pg_admin_url, template, name)
    db = Database(url, pool=False)
    try:
        migrate.upgrade(db)   # what `clinic db upgrade` does to an existing database
    finally:
        db.dispose()
    with psycopg.connect(url, autocommit=True) as conn:
        ids = {str(n): int(i) for n, i in conn.execute(
            "SELECT name, id FROM resource UNION ALL SELECT name, id FROM service "
            "UNION ALL SELECT name, id FROM branch").fetchall()}
        patients = [int(r[0]) for r in conn.execute("SELECT id FROM patient ORDER BY id").fetchall()]
    return Env(url=url, logins=dict(logins), ids=ids, patients=patients, missing_groups=list(missing))


_counter = iter(range(1, 1_000_000))


@pytest.fixture(scope="module")
def env(pg_admin_url: str, sec_template: tuple[str, list[str]], sec_logins: dict[str, str]) -> Iterator[Env]:
    """The attack database of one test module (see the module docstring). Attacks roll back, so the
    tests of a module share it; what a module sets up legitimately it books once."""
    name = f"clinic_sec_{os.getpid()}_{next(_counter)}"
    yield _make_env(pg_admin_url, sec_template, sec_logins, name)
    _drop(pg_admin_url, name)


def at(day: datetime, hour: int, minute: int = 0) -> datetime:
    """``day`` (an aware local midnight) at ``hour:minute`` local time."""
    return day.replace(hour=hour, minute=minute)


__all__ = ["CLINIC_ROLES", "Env", "Attempt", "GROUPS", "GROUP_ROLES", "HOLIDAY_MON", "FRI", "MON", "NOW", "PAID",
           "RC", "SP", "US", "at", "raw_appointment", "refused"]
