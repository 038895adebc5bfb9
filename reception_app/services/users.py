"""Database login roles for the people who use the system.

Each person is a PostgreSQL login role of their own, member of one group role
that carries the grants (migration 0001): ``reception``, ``doctor``,
``manager`` or ``admin`` → ``clinic_<role>``. The audit trail records the
login role, so it names the person. Only a role with CREATEROLE (the database
owner, or the embedded server's superuser) can add users.
"""

from __future__ import annotations

import re

from psycopg import sql as psql
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.errors import ValidationError
from ..store.database import Database, driver

GROUPS = {"reception": "clinic_reception", "doctor": "clinic_doctor", "manager": "clinic_manager",
          "admin": "clinic_admin"}
_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{1,62}$")


def add_user(db: Database, name: str, role: str, *, password: str | None = None,
             doctor: str | None = None) -> str:
    """Create login role ``name`` in the group for ``role``; returns the group's name.

    ``doctor`` links the login to a doctor resource by name, so that doctor
    may change the status of their own appointments. An existing login is
    added to the group (and its password replaced when one is given).
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
        with raw.cursor() as cur:  # DDL with identifiers: psycopg composes and quotes them
            cur.execute(stmt)
            cur.execute(psql.SQL("GRANT {} TO {}").format(psql.Identifier(group), ident))
        if doctor:
            updated = conn.execute(text("UPDATE resource SET login_role = :l WHERE name = :d AND kind = 'doctor' "
                                        "RETURNING id"), {"l": name, "d": doctor}).scalar()
            if updated is None:
                raise ValidationError("doctor", doctor, "no doctor of that name")
        return group

    return db.admin(work)
