"""Login roles: the one place that creates a person's PostgreSQL login and puts it in a group.

Each person is a PostgreSQL login role of their own, member of group roles that carry the grants
(migration 0001, ``db/sql/grants.sql``): ``reception``, ``doctor``, ``manager`` or ``admin`` →
``clinic_<role>`` (:data:`GROUPS`). The audit trail records the login role, so it names the person.

Two callers need exactly these rules, from two layers: ``services.users.add_user`` (``clinic user
add``) and the embedded server's set-up, which creates the desk login before anything else runs
(``store.embedded.ensure_desk_login``). So the rules live here, below both, and each caller runs
:func:`grant_login` in a transaction of its own (``Database.admin``). Only a role with CREATEROLE
(the database owner, or the embedded server's superuser) can run it.

Role DDL takes quoted identifiers, which SQLAlchemy's ``text()`` cannot bind: it goes through
:func:`.database.driver` (psycopg's ``sql.Identifier``), on the runner's own connection and
transaction.
"""

from __future__ import annotations

import json
import re

from psycopg import sql as psql
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.errors import ValidationError
from .database import driver

#: The roles a login may be given, and the group role each one is a member of.
GROUPS: dict[str, str] = {"reception": "clinic_reception", "doctor": "clinic_doctor",
                          "manager": "clinic_manager", "admin": "clinic_admin"}
#: A login's name: 2-63 characters, ``a-z 0-9 _ . -``, starting with a letter or ``_`` (63 is
#: PostgreSQL's identifier limit; lower case only, so the name needs no quoting in ``psql``).
LOGIN_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{1,62}$")


def check_login(name: str, role: str) -> str:
    """The group role for a login ``name`` with ``role`` (a key of :data:`GROUPS`), e.g.
    ``check_login("anna", "reception") == "clinic_reception"``. No database access.

    Raises ``ValidationError`` (field ``name`` or ``role``) for a name that does not match
    :data:`LOGIN_NAME`, a name that is a group's (``ALTER ROLE … LOGIN`` would turn the group into
    a login and ``GRANT`` would nest groups), or an unknown role.
    """
    if not LOGIN_NAME.match(name or ""):
        raise ValidationError("name", name, "must be 2-63 characters: lower-case letters, digits, _ . -, "
                                            "starting with a letter or _")
    if name in GROUPS.values():
        raise ValidationError("name", name, "is the name of a group role; choose a person's login name")
    if role not in GROUPS:
        raise ValidationError("role", role, f"must be one of {', '.join(GROUPS)}")
    return GROUPS[role]


def _login_state(conn: Connection, name: str) -> dict:
    """A login as the audit trail records it: ``{"login", "groups": [...], "doctor": name or None}``."""
    row = conn.execute(text(
        "SELECT r.rolname, coalesce(array_agg(g.rolname ORDER BY g.rolname) FILTER (WHERE g.rolname IS NOT NULL), "
        "'{}') AS groups, (SELECT d.name FROM resource d WHERE d.login_role = r.rolname LIMIT 1) AS doctor "
        "FROM pg_roles r LEFT JOIN pg_auth_members m ON m.member = r.oid "
        "LEFT JOIN pg_roles g ON g.oid = m.roleid AND g.rolname LIKE 'clinic\\_%' "
        "WHERE r.rolname = :n GROUP BY r.rolname"), {"n": name}).one()
    return {"login": row.rolname, "groups": list(row.groups), "doctor": row.doctor}


def grant_login(conn: Connection, name: str, role: str, *, password: str | None = None,
                doctor: str | None = None, full_name: str | None = None) -> str:
    """Create login role ``name`` (or make an existing role a login) in the group for ``role``,
    inside the caller's transaction (it does not commit); return the group's name.

    The rules (:func:`check_login` first, before any statement):

    - ``password``: when given, the role's password is replaced by libpq's SCRAM-SHA-256 verifier
      of it — the cleartext is never sent, so a failed or logged statement cannot put it in the
      server log. Without it the role keeps whatever it had (none: the embedded server trusts its
      Unix socket).
    - The login gets ``default_transaction_isolation = serializable``, so a raw ``psql`` session of
      this person writes as the program does (a group's settings do not pass to its members).
    - ``doctor``: links the login to the doctor resource of that name (``resource.login_role``), so
      that doctor may change the status of their own appointments.
    - ``full_name``: the person's name (``"Luana Ferreira"``), kept as the role's comment: the window
      greets them and prints it as "Printed by" instead of the login name.
    - Logins are not rows of a table, so the change leaves its ``audit_log`` row here (migration
      0009: every change leaves a trail): table ``login``, row id = the role's oid, action
      ``INSERT`` (new role) or ``UPDATE``, old and new groups and doctor, who and when.

    Raises ``ValidationError`` for a bad name, role or unknown doctor (the transaction is then to
    be rolled back: the role may already be created in it), and psycopg's or SQLAlchemy's errors,
    which the caller's runner translates (e.g. ``PermissionDenied`` without CREATEROLE).
    """
    group = check_login(name, role)
    raw = driver(conn)
    ident = psql.Identifier(name)
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).scalar()
    stmt = psql.SQL("ALTER ROLE {} LOGIN" if exists else "CREATE ROLE {} LOGIN").format(ident)
    if password:
        verifier = raw.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
        stmt = psql.SQL("{} PASSWORD {}").format(stmt, psql.Literal(verifier))
    before = _login_state(conn, name) if exists else None
    with raw.cursor() as cur:  # DDL with identifiers: psycopg composes and quotes them
        cur.execute(stmt)
        cur.execute(psql.SQL("GRANT {} TO {}").format(psql.Identifier(group), ident))
        cur.execute(psql.SQL("ALTER ROLE {} SET default_transaction_isolation = 'serializable'").format(ident))
        if full_name is not None:
            cur.execute(psql.SQL("COMMENT ON ROLE {} IS {}").format(ident, psql.Literal(full_name)))
    if doctor:
        updated = conn.execute(text("UPDATE resource SET login_role = :l WHERE name = :d AND kind = 'doctor' "
                                    "RETURNING id"), {"l": name, "d": doctor}).scalar()
        if updated is None:
            raise ValidationError("doctor", doctor, "no doctor of that name")
    after = _login_state(conn, name)
    conn.execute(text(
        "INSERT INTO audit_log (db_user, txid, table_name, row_id, action, old_row, new_row, reason) "
        "SELECT session_user, txid_current(), 'login', r.oid::bigint, :action, CAST(:old AS jsonb), "
        "CAST(:new AS jsonb), nullif(current_setting('clinic.reason', true), '') "
        "FROM pg_roles r WHERE r.rolname = :n"),
        {"n": name, "action": "UPDATE" if exists else "INSERT",
         "old": json.dumps(before) if before else None, "new": json.dumps(after)})
    return group
