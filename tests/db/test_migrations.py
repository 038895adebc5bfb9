"""Schema migrations and the schema check every program runs when it opens a shared server."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg import sql as psql
from psycopg.conninfo import make_conninfo
from sqlalchemy import text

from reception_app.config import ConnectionChoice, choose_connection
from reception_app.domain.errors import DatabaseUnavailable, PermissionDenied, SchemaMismatch
from reception_app.store import migrate
from reception_app.store.connect import open_database
from reception_app.store.database import Database

_n = iter(range(1_000_000))
HEAD = "0014"


@pytest.fixture
def empty_url(pg_admin_url: str) -> Iterator[str]:
    """A brand-new database with no schema at all."""
    name = f"clinic_empty_{os.getpid()}_{next(_n)}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(psql.SQL("CREATE DATABASE {}").format(psql.Identifier(name)))
    yield make_conninfo(pg_admin_url, dbname=name)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(psql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psql.Identifier(name)))


@pytest.fixture
def empty_db(empty_url: str) -> Iterator[Database]:
    db = Database(empty_url)
    yield db
    db.dispose()


def tables(db: Database) -> set[str]:
    return set(db.read(lambda c: c.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()))


def schema_fingerprint(db: Database) -> tuple:
    def work(conn):
        return (
            conn.execute(text("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                              "WHERE n.nspname = 'public'")).scalar_one(),
            conn.execute(text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")).scalar_one(),
            conn.execute(text("SELECT count(*) FROM pg_policy")).scalar_one(),
            conn.execute(text("SELECT count(*) FROM status_transition")).scalar_one(),
        )
    return db.read(work)


def test_head_is_the_only_known_revision():
    assert migrate.head_revision() == HEAD
    assert migrate.known_revisions() == {"0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011", "0012", "0013", "0014"}


def test_check_schema_passes_on_a_migrated_database(db):
    assert migrate.check_schema(db) == migrate.head_revision()


def test_check_schema_on_an_empty_database_says_to_upgrade(empty_db):
    with pytest.raises(SchemaMismatch) as info:
        migrate.check_schema(empty_db)
    assert "clinic db upgrade" in str(info.value)
    assert info.value.exit_code == 5
    assert tables(empty_db) == set()   # checking never creates anything


def test_check_schema_on_a_newer_schema_says_to_update_the_program(db):
    db.admin(lambda c: c.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'")))
    with pytest.raises(SchemaMismatch) as info:
        migrate.check_schema(db)
    message = str(info.value)
    assert "0099_from_the_future" in message and "newer" in message
    assert "Update Clinic Reception" in message
    assert "clinic db upgrade" not in message


def test_upgrade_refuses_a_newer_schema_with_the_same_advice(db):
    db.admin(lambda c: c.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'")))
    with pytest.raises(SchemaMismatch, match="Update Clinic Reception"):
        migrate.upgrade(db)
    assert db.read(migrate.current_revision) == "0099_from_the_future"


def test_upgrade_from_empty_then_again_is_a_no_op(empty_db):
    assert migrate.upgrade(empty_db) == (None, HEAD)
    assert {"appointment", "booking", "audit_log", "alembic_version"} <= tables(empty_db)
    assert migrate.check_schema(empty_db) == HEAD
    fingerprint = schema_fingerprint(empty_db)
    assert migrate.upgrade(empty_db) == (HEAD, HEAD)
    assert schema_fingerprint(empty_db) == fingerprint
    # The group roles exist (cluster-wide) and carry the grants.
    groups = set(empty_db.read(lambda c: c.execute(text(
        "SELECT rolname FROM pg_roles WHERE rolname LIKE 'clinic\\_%'")).scalars().all()))
    assert {"clinic_reception", "clinic_doctor", "clinic_manager", "clinic_admin", "clinic_portal"} <= groups
    assert empty_db.read(lambda c: c.execute(text(
        "SELECT has_table_privilege('clinic_reception', 'booking', 'INSERT') "
        "AND has_table_privilege('clinic_manager', 'booking', 'INSERT') "
        "AND NOT has_table_privilege('clinic_reception', 'shift', 'INSERT') "
        "AND has_table_privilege('clinic_manager', 'audit_log', 'SELECT') "
        "AND NOT has_table_privilege('clinic_reception', 'audit_log', 'SELECT')")).scalar_one())


def test_two_workstations_upgrading_at_once(empty_url):
    """The advisory lock serialises concurrent upgrades: one migrates, the other finds it done."""
    barrier = threading.Barrier(2)
    dbs = [Database(empty_url), Database(empty_url)]

    def run(db: Database):
        barrier.wait(timeout=30)
        return migrate.upgrade(db)

    try:
        with ThreadPoolExecutor(2) as pool:
            results = sorted(pool.map(run, dbs), key=str)
        assert results == sorted([(None, HEAD), (HEAD, HEAD)], key=str)
        assert migrate.check_schema(dbs[0]) == HEAD
        assert dbs[0].read(lambda c: c.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()) == 1
    finally:
        for db in dbs:
            db.dispose()


def test_downgrade_removes_the_schema_and_upgrade_restores_it(empty_db):
    from alembic.command import downgrade

    migrate.upgrade(empty_db)
    with empty_db.engine.connect() as conn:
        cfg = migrate._config()
        cfg.attributes["connection"] = conn
        downgrade(cfg, "base")
        conn.commit()
    assert tables(empty_db) <= {"alembic_version"}
    assert migrate.upgrade(empty_db) == (None, HEAD)
    assert migrate.check_schema(empty_db) == HEAD


def test_open_database_with_an_explicit_url_checks_but_does_not_migrate(empty_url, db_url):
    with pytest.raises(SchemaMismatch, match="clinic db upgrade"):
        open_database(empty_url)
    probe = Database(empty_url)
    try:
        assert tables(probe) == set()
        assert probe.read(migrate.current_revision) is None
        # check=False (what `clinic db upgrade` uses) connects without checking.
        unchecked = open_database(empty_url, check=False)
        unchecked.dispose()
        assert tables(probe) == set()
    finally:
        probe.dispose()
    ok = open_database(db_url)
    try:
        assert migrate.check_schema(ok) == HEAD
    finally:
        ok.dispose()


def test_connection_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CLINIC_DATABASE_URL", raising=False)
    monkeypatch.setattr("reception_app.config.config_dir", lambda: tmp_path / "cfg")
    assert choose_connection(None) == ConnectionChoice(None, "embedded")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "settings.toml").write_text('database_url = "host=settings dbname=clinic"\n')
    assert choose_connection(None) == ConnectionChoice("host=settings dbname=clinic", "settings")
    monkeypatch.setenv("CLINIC_DATABASE_URL", "postgresql://env/clinic")
    assert choose_connection(None) == ConnectionChoice("postgresql://env/clinic", "environment")
    assert choose_connection("host=a,b target_session_attrs=read-write") == ConnectionChoice(
        "host=a,b target_session_attrs=read-write", "option")


def test_upgrade_by_a_role_that_may_not_create_tables_is_permission_denied(empty_url, pg_admin_url):
    """Not the owner: a one-line PermissionDenied (not a crash), and the migration lock is released."""
    name = f"t_nobody_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(psql.SQL("CREATE ROLE {} LOGIN").format(psql.Identifier(name)))
    nobody = Database(make_conninfo(empty_url, user=name))
    owner = Database(empty_url)
    try:
        with pytest.raises(PermissionDenied):
            migrate.upgrade(nobody)
        assert tables(owner) == set()
        # The advisory lock was given back: the owner can migrate at once.
        assert migrate.upgrade(owner) == (None, HEAD)
    finally:
        nobody.dispose()
        owner.dispose()
        with psycopg.connect(empty_url, autocommit=True) as conn:
            conn.execute(psql.SQL("DROP OWNED BY {}").format(psql.Identifier(name)))
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(psql.SQL("DROP ROLE {}").format(psql.Identifier(name)))


def test_upgrade_of_an_unreachable_server_is_database_unavailable(tmp_path):
    gone = Database(f"host={tmp_path} port=1 dbname=clinic")
    try:
        with pytest.raises(DatabaseUnavailable):
            migrate.upgrade(gone)
    finally:
        gone.dispose()


def test_check_schema_on_an_older_known_revision_says_to_upgrade(db, monkeypatch):
    db.admin(lambda c: c.execute(text("UPDATE alembic_version SET version_num = '0000_older'")))
    monkeypatch.setattr(migrate, "known_revisions", lambda: {"0000_older", "0001", "0002"})
    with pytest.raises(SchemaMismatch) as info:
        migrate.check_schema(db)
    assert "older" in str(info.value) and "clinic db upgrade" in str(info.value)
