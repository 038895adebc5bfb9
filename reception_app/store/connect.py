"""Open the clinic database the way every program here does (app, CLI, reminder service).

The embedded default is started on demand, migrated automatically (as its
bootstrap superuser), and every program connects to it as the person's own
login, a member of ``clinic_admin`` and ``clinic_manager`` created on the first
start (``store.embedded``) — never as the superuser, except ``owner=True``
(``clinic db upgrade``). A shared server is only checked: its schema must be
exactly the one this program knows, otherwise ``SchemaMismatch`` says what to
run.

Against a server, each person signs in as their own login role: ``user`` and
``password`` are added to the connection string (the password only in memory,
never logged), and a refused login raises ``AuthenticationFailed`` with one
plain sentence instead of libpq's text.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg.conninfo import make_conninfo

from ..config import ConnectionChoice, choose_connection, conninfo_user
from ..domain.errors import DatabaseUnavailable, PermissionDenied
from . import migrate
from .database import Database
from .embedded import prepare_embedded

log = logging.getLogger(__name__)

WRONG_LOGIN = "Sign-in failed: wrong user name or password."
PASSWORD_NEEDED = "Please enter your password."
_AUTH_STATES = {"28P01", "28000"}
_AUTH_TEXTS = ("password authentication failed", "no password supplied", "scram authentication")


class AuthenticationFailed(DatabaseUnavailable):
    """The server refused the login: wrong user name or password (SQLSTATE 28P01, or a
    role that does not exist), or no password was given where one is needed
    (``password_missing``). ``str()`` is the sentence to show; it never says which
    of name or password was wrong."""

    def __init__(self, message: str = WRONG_LOGIN, *, password_missing: bool = False) -> None:
        super().__init__(message)
        self.password_missing = password_missing

    connection_lost = False  # the server answered: nothing to reconnect to


def with_login(conninfo: str, user: str | None = None, password: str | None = None) -> str:
    """``conninfo`` with ``user`` and ``password`` set (each only when given, non-empty for
    the user); a libpq key=value string. Raises ``psycopg.ProgrammingError`` for a malformed
    ``conninfo``."""
    extra: dict[str, str] = {}
    if user:
        extra["user"] = user
    if password is not None:
        extra["password"] = password
    return make_conninfo(conninfo, **extra) if extra else conninfo


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or ["unknown error"])[0]


def _refusal(exc: psycopg.OperationalError) -> AuthenticationFailed | None:
    """The ``AuthenticationFailed`` that a failed connection attempt means, or None
    (unreachable, pg_hba refusal, database missing …)."""
    text = str(exc).lower()
    if "no password supplied" in text:
        return AuthenticationFailed(PASSWORD_NEEDED, password_missing=True)
    if getattr(exc, "sqlstate", None) == "28P01" or any(t in text for t in _AUTH_TEXTS):
        return AuthenticationFailed()
    if ('role "' in text and "does not exist" in text) and (getattr(exc, "sqlstate", None) in (None, *_AUTH_STATES)):
        return AuthenticationFailed()  # an unknown user is reported like a wrong password
    return None


def _no_connect_privilege(exc: psycopg.OperationalError) -> bool:
    """Whether the server accepted the login but refused it the database (no CONNECT privilege:
    the login is in none of the clinic's groups, which alone may connect; SQLSTATE 42501)."""
    return getattr(exc, "sqlstate", None) == "42501" or "connect privilege" in str(exc).lower()


def verify_login(conninfo: str, *, user: str | None = None, password: str | None = None,
                 connect_timeout: int = 10) -> None:
    """Open (and close) one connection to ``conninfo`` as ``user`` with ``password``.

    Used at sign-in and to unlock the window. Blocks up to ``connect_timeout``
    seconds per host: call it on a worker thread. Raises ``AuthenticationFailed``
    when the server refuses the login, ``PermissionDenied`` when the login is right
    but may not connect to the clinic database (in none of the clinic's groups),
    ``DatabaseUnavailable`` when it cannot be reached (libpq's first line, never
    the password).
    """
    try:
        target = with_login(conninfo, user, password)
    except psycopg.Error as exc:
        raise DatabaseUnavailable(f"The connection settings are not valid: {_first_line(exc)}") from exc
    try:
        with psycopg.connect(target, connect_timeout=connect_timeout, application_name="clinic-reception sign-in"):
            pass
    except psycopg.OperationalError as exc:
        refused = _refusal(exc)
        if refused is not None:
            log.info("sign-in refused for %s", user or "(default user)")
            raise refused from exc
        if _no_connect_privilege(exc):
            who = user or conninfo_user(conninfo) or "(default user)"
            log.info("sign-in of %s refused: no CONNECT privilege", who)
            raise PermissionDenied(
                f"The database login {who!r} may not use the clinic database: it is in none of the clinic's "
                f"groups (reception, doctor, manager, admin); ask the administrator to run: "
                f"clinic user add {who} --role …") from exc
        log.warning("cannot connect: %s", _first_line(exc))
        detail = _first_line(exc).removeprefix("connection is bad: ").removeprefix("connection failed: ")
        raise DatabaseUnavailable(f"Cannot reach the clinic database: {detail}") from exc


def open_database(cli_url: str | None = None, *, check: bool = True, application_name: str = "clinic-reception",
                  choice: ConnectionChoice | None = None, user: str | None = None,
                  password: str | None = None, owner: bool = False) -> Database:
    """Connect per the precedence in ``config``; set up the embedded default; check the schema.

    The embedded default is started, migrated and given the person's login
    (``store.embedded.prepare_embedded``, as its bootstrap superuser); the returned
    ``Database`` is signed in as that login — ``owner=True`` (``clinic db upgrade``
    only) returns it as the superuser instead. Against a server ``owner`` changes
    nothing: the connection string names whoever connects.

    ``user``/``password``: the login to sign in with on a server (added to the
    connection string; ignored for the embedded default, which needs no login).
    With them, the login is tried first, so a refusal raises ``AuthenticationFailed``.

    Raises ``AuthenticationFailed``, ``DatabaseUnavailable`` or ``SchemaMismatch``
    (``PermissionDenied`` when the embedded set-up is refused).
    """
    choice = choice or choose_connection(cli_url)
    if choice.embedded:
        embedded = prepare_embedded()
        return Database(embedded.owner_conninfo if owner else embedded.conninfo, application_name=application_name)
    conninfo = choice.conninfo or ""
    if user or password is not None:
        verify_login(conninfo, user=user, password=password)
        conninfo = with_login(conninfo, user, password)
    db = Database(conninfo, application_name=application_name)
    if check:
        try:
            migrate.check_schema(db)
        except BaseException:
            db.dispose()
            raise
    return db


def open_portal_database(cli_url: str | None = None, *, application_name: str = "clinic-portal") -> Database:
    """The patient portal's connection, per the precedence in ``config``: against a server the
    connection string names the portal's own login (a member of ``clinic_portal``); for the
    embedded default the server is started and migrated and the portal's login made
    (``store.embedded.ensure_portal_login``). The schema is checked.

    Raises ``DatabaseUnavailable``, ``SchemaMismatch``, ``PermissionDenied``.
    """
    choice = choose_connection(cli_url)
    if choice.embedded:
        from .embedded import ensure_portal_login, prepare_embedded, with_user

        embedded = prepare_embedded()
        conninfo = with_user(embedded.owner_conninfo, ensure_portal_login(embedded.owner_conninfo))
    else:
        conninfo = choice.conninfo or ""
    db = Database(conninfo, application_name=application_name)
    try:
        migrate.check_schema(db, _portal_revision)
    except BaseException:
        db.dispose()
        raise
    return db


def _portal_revision(conn) -> str | None:
    """The schema revision as the portal's login may read it (``portal_catalog()``, migration 0014)."""
    from sqlalchemy import text

    return conn.execute(text("SELECT portal_catalog() ->> 'schema'")).scalar()
