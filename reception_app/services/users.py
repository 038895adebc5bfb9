"""Database login roles for the people who use the system.

Each person is a PostgreSQL login role of their own, member of one group role
that carries the grants (migration 0001): ``reception``, ``doctor``,
``manager`` or ``admin`` → ``clinic_<role>``. The audit trail records the
login role, so it names the person. Only a role with CREATEROLE (the database
owner, or the embedded server's superuser) can add users.
"""

from __future__ import annotations

import json
import re

from psycopg import sql as psql
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.errors import ValidationError
from ..store.database import Database, driver

GROUPS = {"reception": "clinic_reception", "doctor": "clinic_doctor", "manager": "clinic_manager",
          "admin": "clinic_admin"}
_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{1,62}$")


def _login_state(conn: Connection, name: str) -> dict:
    """A login as the audit trail records it: ``{"login", "groups": [...], "doctor": name or None}``."""
    row = conn.execute(text(
        "SELECT r.rolname, coalesce(array_agg(g.rolname ORDER BY g.rolname) FILTER (WHERE g.rolname IS NOT NULL), "
        "'{}') AS groups, (SELECT d.name FROM resource d WHERE d.login_role = r.rolname LIMIT 1) AS doctor "
        "FROM pg_roles r LEFT JOIN pg_auth_members m ON m.member = r.oid "
        "LEFT JOIN pg_roles g ON g.oid = m.roleid AND g.rolname LIKE 'clinic\\_%' "
        "WHERE r.rolname = :n GROUP BY r.rolname"), {"n": name}).one()
    return {"login": row.rolname, "groups": list(row.groups), "doctor": row.doctor}


def add_user(db: Database, name: str, role: str, *, password: str | None = None,
             doctor: str | None = None) -> str:
    """Create login role ``name`` in the group for ``role``; returns the group's name.

    ``doctor`` links the login to a doctor resource by name, so that doctor
    may change the status of their own appointments. An existing login is
    added to the group (and its password replaced when one is given). The login
    gets ``default_transaction_isolation = serializable`` (a raw session writes as
    the program does), and the change leaves an ``audit_log`` row (table
    ``login``, row id = the role's oid, old and new groups and doctor).
    Raises ``ValidationError`` for a bad name, role or unknown doctor.
    """
    if not _NAME.match(name or ""):
        raise ValidationError("name", name, "must be 2-63 characters: lower-case letters, digits, _ . -, "
                                            "starting with a letter or _")
    if name in GROUPS.values():
        # ALTER ROLE … LOGIN would turn a group into a login and GRANT would nest groups.
        raise ValidationError("name", name, "is the name of a group role; choose a person's login name")
    if role not in GROUPS:
        raise ValidationError("role", role, f"must be one of {', '.join(GROUPS)}")
    group = GROUPS[role]

    def work(conn: Connection) -> str:
        raw = driver(conn)
        ident = psql.Identifier(name)
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).scalar()
        stmt = psql.SQL("ALTER ROLE {} LOGIN" if exists else "CREATE ROLE {} LOGIN").format(ident)
        if password:
            # Send libpq's SCRAM verifier, never the password: a failed or logged
            # statement must not put the cleartext into the server log.
            verifier = raw.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
            stmt = psql.SQL("{} PASSWORD {}").format(stmt, psql.Literal(verifier))
        before = _login_state(conn, name) if exists else None
        with raw.cursor() as cur:  # DDL with identifiers: psycopg composes and quotes them
            cur.execute(stmt)
            cur.execute(psql.SQL("GRANT {} TO {}").format(psql.Identifier(group), ident))
            # A raw psql session of this person gets the same isolation as the program's writes
            # (a group's settings do not pass to its members, so per login).
            cur.execute(psql.SQL("ALTER ROLE {} SET default_transaction_isolation = 'serializable'").format(ident))
        if doctor:
            updated = conn.execute(text("UPDATE resource SET login_role = :l WHERE name = :d AND kind = 'doctor' "
                                        "RETURNING id"), {"l": name, "d": doctor}).scalar()
            if updated is None:
                raise ValidationError("doctor", doctor, "no doctor of that name")
        # Logins are not rows of a table, so the audit trail gets its row here (migration 0009:
        # every change leaves a trail): who, when, the login's groups and doctor before and after.
        after = _login_state(conn, name)
        conn.execute(text(
            "INSERT INTO audit_log (db_user, txid, table_name, row_id, action, old_row, new_row, reason) "
            "SELECT session_user, txid_current(), 'login', r.oid::bigint, :action, CAST(:old AS jsonb), "
            "CAST(:new AS jsonb), nullif(current_setting('clinic.reason', true), '') "
            "FROM pg_roles r WHERE r.rolname = :n"),
            {"n": name, "action": "UPDATE" if exists else "INSERT",
             "old": json.dumps(before) if before else None, "new": json.dumps(after)})
        return group

    return db.admin(work)
