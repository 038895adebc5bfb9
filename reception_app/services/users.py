"""Database login roles for the people who use the system (``clinic user add``).

Each person is a PostgreSQL login role of their own, member of one group role
that carries the grants (migration 0001): ``reception``, ``doctor``,
``manager`` or ``admin`` → ``clinic_<role>``. The audit trail records the
login role, so it names the person. Only a role with CREATEROLE (the database
owner, or the embedded server's superuser) can add users.

The rules for a login (its name, its group, the password's verifier, the
isolation setting, the doctor link, the audit row) live in ``store.logins``,
because the embedded server's set-up (``store.embedded``) creates the desk
login with the same rules before any service runs; this module runs them in
a transaction of their own.
"""

from __future__ import annotations

from ..domain.validation import clean_name
from ..store.database import Database
from ..store.logins import GROUPS, LOGIN_NAME, check_login, grant_login

__all__ = ["GROUPS", "add_user"]

#: The login-name rule (``store.logins.LOGIN_NAME``), by the name it had here.
_NAME = LOGIN_NAME


def add_user(db: Database, name: str, role: str, *, password: str | None = None,
             doctor: str | None = None, full_name: str | None = None) -> str:
    """Create login role ``name`` in the group for ``role``; returns the group's name.

    ``doctor`` links the login to a doctor resource by name, so that doctor
    may change the status of their own appointments. An existing login is
    added to the group (and its password replaced when one is given). The login
    gets ``default_transaction_isolation = serializable`` (a raw session writes as
    the program does), and the change leaves an ``audit_log`` row (table
    ``login``, row id = the role's oid, old and new groups and doctor); see
    ``store.logins.grant_login``. One transaction: an unknown doctor creates nothing.
    ``full_name``: the person's name, printed as "Printed by" on what they print (one line of
    text, checked like every name).
    Raises ``ValidationError`` for a bad name, role, full name (before connecting) or unknown doctor.
    """
    check_login(name, role)
    person = clean_name(full_name, "name") if full_name is not None else None
    return db.admin(lambda conn: grant_login(conn, name, role, password=password, doctor=doctor, full_name=person))
