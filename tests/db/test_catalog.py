"""The database's rules live in ``db/sql/`` and migration 0010 applies them: proof that nothing changed,
except what a later migration declares it changes.

- :func:`catalog_snapshot` reads, as plain values, everything a rule is made of: the clinic's
  functions (``pg_get_functiondef``, settings, ``SECURITY DEFINER``, volatility and grants), triggers
  (``pg_get_triggerdef``, enabled state), constraints (``pg_get_constraintdef``, deferrability),
  row-level security and its policies, views, the grants on tables, columns, sequences, the schema
  and the database, the owner's default privileges, and the memberships and settings of the clinic
  roles. A later migration that changes a rule can compare snapshots before and after it the same
  way and assert the difference is exactly the change it meant.
- a database at 0009 and the same database at head differ in exactly the objects that the migrations
  after 0010 declare in their ``CHANGED`` tuple (0011: the booking's trigger costs), and in nothing
  else: 0010 re-applied every definition 0009 left and changed none, and since 0010 applies the files
  as they are now, the database at 0010 already has the later changes and the later migrations change
  nothing more on it; downgrading to 0009 gives the 0009 catalog back;
- applying the files again on a database at head changes nothing (each file is re-appliable);
- each function and trigger of the catalog is defined in exactly one file, and every file's
  definitions exist in the catalog (one home, nothing stale).

``pg_get_functiondef`` and friends print differently on other PostgreSQL versions, so snapshots are
only compared within one server (the embedded 18 by default; Debian's 15 under .ci/debian-postgres).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql as psql
from psycopg.conninfo import make_conninfo
from reception_app.migrations import SQL_FILES, apply_sql_files, sql_text
from sqlalchemy import text

from reception_app.store import migrate
from reception_app.store.database import Database

#: The clinic's group roles (cluster-wide; made by migrations 0001, 0003, 0009 and 0014).
CLINIC_ROLES = ("clinic_reception", "clinic_doctor", "clinic_manager", "clinic_admin", "clinic_reminders",
                "clinic_portal")

_NOT_EXTENSION = """NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                  AND d.objid = p.oid AND d.deptype = 'e')"""

#: name -> query of one part of the snapshot; every query is ordered, so equal catalogs give equal lists.
SNAPSHOT_QUERIES: dict[str, str] = {
    "functions": f"""
        SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid), p.proconfig, p.prosecdef, p.provolatile,
               p.proparallel, p.proisstrict, p.proacl::text, pg_get_userbyid(p.proowner)
          FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace AND {_NOT_EXTENSION}
         ORDER BY 1""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled, t.tgdeferrable,
               t.tginitdeferred
          FROM pg_trigger t
         WHERE NOT t.tgisinternal
         ORDER BY 1, 2""",
    "constraints": """
        SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid), c.condeferrable,
               c.condeferred, c.convalidated
          FROM pg_constraint c
         WHERE c.connamespace = 'public'::regnamespace
         ORDER BY 1, 2""",
    "policies": """
        SELECT p.polrelid::regclass::text, p.polname, p.polcmd, p.polpermissive, p.polroles::regrole[]::text,
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
          FROM pg_policy p
         ORDER BY 1, 2""",
    "relations": """
        SELECT c.relname, c.relkind, c.relacl::text, c.relrowsecurity, c.relforcerowsecurity, c.reloptions,
               pg_get_userbyid(c.relowner)
          FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
         ORDER BY 1""",
    "views": """
        SELECT c.relname, pg_get_viewdef(c.oid)
          FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')
         ORDER BY 1""",
    "columns": """
        SELECT c.relname, a.attname, a.attacl::text
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relnamespace = 'public'::regnamespace AND a.attacl IS NOT NULL
         ORDER BY 1, 2""",
    "schema": "SELECT n.nspacl::text FROM pg_namespace n WHERE n.nspname = 'public'",
    "database": "SELECT d.datacl::text FROM pg_database d WHERE d.datname = current_database()",
    "default_privileges": """
        SELECT pg_get_userbyid(a.defaclrole), a.defaclnamespace::regnamespace::text, a.defaclobjtype,
               a.defaclacl::text
          FROM pg_default_acl a
         ORDER BY 1, 2, 3""",
    "memberships": """
        SELECT g.rolname, m.rolname, am.admin_option
          FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
         WHERE (g.rolname = ANY(%(roles)s) OR m.rolname = ANY(%(roles)s))
           -- the ``login`` fixture's short-lived logins (tests/conftest.py) and the attack suite's
           -- (``sec_*``, tests/security/conftest.py) come and go while other workers compare
           -- snapshots: roles are cluster-wide
           AND m.rolname NOT LIKE 't\\_%%' AND m.rolname NOT LIKE 'sec\\_%%'
         ORDER BY 1, 2""",
    "role_settings": """
        SELECT r.rolname, r.rolcanlogin, r.rolinherit, s.setconfig
          FROM pg_roles r LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid AND s.setdatabase = 0
         WHERE r.rolname = ANY(%(roles)s)
         ORDER BY 1""",
}


def catalog_snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Everything the database's rules are made of, as ``{part: [row, ...]}`` (parts and columns:
    :data:`SNAPSHOT_QUERIES`), read on ``conn`` (psycopg, as the owner or a superuser, connected to the
    clinic database). Two snapshots are equal exactly when the catalogs agree on all of it; compare
    them within one server only (the printed definitions differ between PostgreSQL versions)."""
    return {part: [tuple(_frozen(v) for v in row)
                   for row in conn.execute(query, {"roles": list(CLINIC_ROLES)}).fetchall()]
            for part, query in SNAPSHOT_QUERIES.items()}


def _frozen(value):
    """Arrays (``proconfig``, ``setconfig``, ``reloptions``) as tuples, so rows can be compared as sets."""
    return tuple(value) if isinstance(value, list) else value


#: How each part of a snapshot names the object of one of its rows (see :func:`changed_objects`).
_OBJECT_NAMES = {
    "functions": lambda row: f"function {row[0]}",
    "triggers": lambda row: f"trigger {row[1]} on {row[0]}",
    "constraints": lambda row: f"constraint {row[1]} on {row[0]}",
    "policies": lambda row: f"policy {row[1]} on {row[0]}",
    "relations": lambda row: f"relation {row[0]}",
    "views": lambda row: f"view {row[0]}",
    "columns": lambda row: f"column {row[0]}.{row[1]}",
    "default_privileges": lambda row: f"default privileges {row[0]} {row[1]} {row[2]}",
    "memberships": lambda row: f"membership {row[1]} in {row[0]}",
    "role_settings": lambda row: f"role {row[0]}",
}


def changed_objects(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> set[str]:
    """The objects that differ between two snapshots, named as a migration's ``CHANGED`` tuple names
    them (``function <regprocedure>``, ``trigger <name> on <table>``, ``constraint <name> on <table>``,
    …; ``schema`` and ``database`` for their grants): each object with a row only in one of them."""
    out = set()
    for part in before.keys() | after.keys():
        name = _OBJECT_NAMES.get(part, lambda row, part=part: part)
        out |= {name(row) for row in set(before.get(part, [])) ^ set(after.get(part, []))}
    return out


def declared_changes(after: str = "0010", what: str = "CHANGED") -> set[str]:
    """The union of the ``CHANGED`` tuples (or, with ``what="CREATED"``, the ``CREATED`` tuples) of
    every migration after revision ``after``: what the migrations that change rules once they live in
    db/sql/ say they change (a function, trigger or grant, which 0010 already applies as the files
    are now), and the tables and what hangs on them (constraints, their triggers) that they create
    (which arrive with that migration only)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate._config())
    return {name for rev in script.iterate_revisions("heads", after)
            for name in getattr(rev.module, what, ())}


def _by_relation(objects: set[str]) -> set[str]:
    """``objects`` with each constraint, trigger and policy ``… on <table>`` and each column grant
    ``column <table>.<column>`` of a table that is itself among them (``relation <table>``) folded into
    it: a migration's ``CREATED`` names the tables it makes, and what PostgreSQL lists on them (its
    version decides whether NOT NULL is a constraint; grants.sql grants some of their columns) comes
    with them."""
    tables = {o.removeprefix("relation ") for o in objects if o.startswith("relation ")}

    def on_new_table(o: str) -> bool:
        if o.startswith(("constraint ", "trigger ", "policy ")):
            return o.rsplit(" on ", 1)[-1] in tables
        return o.startswith("column ") and o.removeprefix("column ").rsplit(".", 1)[0] in tables

    return {o for o in objects if not on_new_table(o)}


def _without_not_null(snapshot: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """``snapshot`` without its NOT NULL constraints (``contype`` ``'n'``, named ``<table>_<column>_not_null``).

    PostgreSQL 18 lists a column's NOT NULL in ``pg_constraint``; 15 to 17 keep it in
    ``pg_attribute`` only, which the snapshot does not read. So on 18 a migration that adds a NOT
    NULL column to an existing table (0014: ``service.online``) or drops a NOT NULL (0014:
    ``appointment.patient_id``) shows a ``constraint …_not_null`` row, and on 15–17 it shows none.
    Comparing without them makes the check the same on every version (a column's nullability is the
    migration's table change, like the column itself, which no ``CREATED`` lists either)."""
    return {part: [row for row in rows if not (part == "constraints" and row[2] == "n")]
            for part, rows in snapshot.items()}


def _not_null_names(objects: set[str]) -> set[str]:
    """``objects`` without NOT NULL constraints by name (``constraint <table>_<column>_not_null on …``):
    the declared side of the comparison :func:`_without_not_null` serves."""
    return {o for o in objects if not (o.startswith("constraint ") and o.split(" ", 2)[1].endswith("_not_null"))}


def differences(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> list[str]:
    """What differs between two snapshots, one line per row only in one of them (empty: equal)."""
    out = []
    for part in before.keys() | after.keys():
        old, new = set(before.get(part, [])), set(after.get(part, []))
        out += [f"{part}: only before: {row}" for row in sorted(old - new, key=repr)]
        out += [f"{part}: only after:  {row}" for row in sorted(new - old, key=repr)]
        if old == new and before.get(part) != after.get(part):
            out.append(f"{part}: same rows, another order")
    return sorted(out)


@pytest.fixture
def empty_url(pg_admin_url: str) -> Iterator[str]:
    """A brand-new database with no schema at all."""
    name = f"clinic_catalog_{os.getpid()}_{os.urandom(4).hex()}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(psql.SQL("CREATE DATABASE {}").format(psql.Identifier(name)))
    yield make_conninfo(pg_admin_url, dbname=name)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(psql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psql.Identifier(name)))


def _alembic(db: Database, command: str, target: str) -> None:
    from alembic import command as alembic_command

    with db.engine.connect() as conn:
        cfg = migrate._config()
        cfg.attributes["connection"] = conn
        getattr(alembic_command, command)(cfg, target)
        conn.commit()
        migrate.secure_database(conn)
        conn.commit()


def _snapshot(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return catalog_snapshot(conn)


def test_head_differs_from_0009_in_exactly_what_later_migrations_declare(empty_url, template_db):
    # Roles are the cluster's: ``template_db`` (migrated to head on this server) makes sure every
    # group role of head exists before 0010 runs here, as on a server that has another clinic
    # database, so 0010 grants to the roles later migrations create (0014's clinic_portal: the
    # schema's USAGE, the database's CONNECT) and the comparison does not depend on test order.
    declared = declared_changes("0010")
    assert "function clinic_availability(integer,integer,timestamp with time zone,timestamp with time zone)" \
        in declared   # 0011's CHANGED is found
    db = Database(empty_url, pool=False)
    try:
        _alembic(db, "upgrade", "0009")
        at_0009 = _snapshot(empty_url)
        assert len(at_0009["functions"]) > 40 and len(at_0009["triggers"]) > 100
        _alembic(db, "upgrade", "0010")
        assert db.read(migrate.current_revision) == "0010"
        at_0010 = _snapshot(empty_url)
        # 0010 applies the files as they are now: 0009's rules, plus what the later migrations changed.
        assert changed_objects(at_0009, at_0010) == declared, differences(at_0009, at_0010)
        _alembic(db, "upgrade", "head")
        assert db.read(migrate.current_revision) == migrate.head_revision()
        at_head = _snapshot(empty_url)
        # … and the later migrations add only the tables they declare (0013: receipt), with theirs,
        # and the constraints they declare on older tables (NOT NULL aside: see _without_not_null);
        # what hangs on a created table may be declared or not (folded into it on both sides).
        assert _by_relation(changed_objects(_without_not_null(at_0010), _without_not_null(at_head))) \
            == _by_relation(_not_null_names(declared_changes("0010", "CREATED"))), differences(at_0010, at_head)
        # down to 0010: the rules 0009 left, as on a server migrated to 0010 before 0011 existed …
        _alembic(db, "downgrade", "0010")
        assert differences(at_0009, _snapshot(empty_url)) == []
        # … which upgrading brings to head's rules; and down to 0009 gives the 0009 catalog back
        _alembic(db, "upgrade", "head")
        assert differences(at_head, _snapshot(empty_url)) == []
        _alembic(db, "downgrade", "0009")
        assert differences(at_0009, _snapshot(empty_url)) == []
    finally:
        db.dispose()


def test_applying_the_files_again_changes_nothing(db, db_url):
    before = _snapshot(db_url)
    with db.engine.connect() as conn:
        apply_sql_files(conn)
        conn.commit()
    assert differences(before, _snapshot(db_url)) == []
    assert migrate.check_schema(db) == migrate.head_revision()


_FUNCTION = re.compile(r"^CREATE OR REPLACE FUNCTION public\.(\w+)\(", re.MULTILINE)
_TRIGGER = re.compile(r"^\s*CREATE (?:CONSTRAINT )?TRIGGER (\w+)\s.*?\bON (?:public\.)?(\w+)", re.MULTILINE | re.DOTALL)


def test_each_function_and_trigger_has_one_home(db_url):
    functions: dict[str, list[str]] = {}
    triggers: dict[tuple[str, str], list[str]] = {}
    for name in SQL_FILES:
        body = sql_text(name)
        for f in _FUNCTION.findall(body):
            functions.setdefault(f, []).append(name)
        for t, table in _TRIGGER.findall(body):
            triggers.setdefault((table, t), []).append(name)
    twice = {k: v for k, v in {**functions, **{f"{t} ON {r}": v for (r, t), v in triggers.items()}}.items()
             if len(v) > 1}
    assert not twice, f"defined in more than one place: {twice}"
    with psycopg.connect(db_url) as conn:
        in_catalog = {r[0] for r in conn.execute(
            f"SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND {_NOT_EXTENSION}")}
        catalog_triggers = {(r[0], r[1]) for r in conn.execute(
            "SELECT t.tgrelid::regclass::text, t.tgname FROM pg_trigger t WHERE NOT t.tgisinternal")}
    assert in_catalog == set(functions), "functions only in the catalog / only in db/sql: " \
        f"{sorted(in_catalog - set(functions))} / {sorted(set(functions) - in_catalog)}"
    assert catalog_triggers == set(triggers), "triggers only in the catalog / only in db/sql: " \
        f"{sorted(catalog_triggers - set(triggers))} / {sorted(set(triggers) - catalog_triggers)}"


def test_secure_database_reads_its_sql_from_db_sql(db):
    assert migrate.SECURE_DATABASE_SQL == sql_text("database.sql")
    assert "database.sql" not in SQL_FILES   # applied after every upgrade and clone, not by a migration
    assert db.read(lambda c: c.execute(text(
        "SELECT NOT has_database_privilege('public', current_database(), 'CONNECT') "
        "AND has_database_privilege('clinic_reception', current_database(), 'CONNECT')")).scalar_one())
