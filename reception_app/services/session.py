"""Who is signed in: the login role, the clinic role it acts as, and its doctor resource.

Each person signs in as their own PostgreSQL login role, member of group roles
that carry the grants (migration 0001): ``clinic_admin``, ``clinic_manager``,
``clinic_reception``, ``clinic_doctor``. The window offers what the highest of
them allows (``domain.roles``); the server's grants and row-level security stay
the real guard. The embedded default signs in the same way, as the person's
login in ``clinic_admin`` and ``clinic_manager`` (``store.embedded``), so it is
an admin by membership, not by owning the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.errors import PermissionDenied
from ..store.database import Database

#: Group roles from the highest to the lowest: a login in several acts as the first.
ROLE_ORDER: tuple[str, ...] = ("admin", "manager", "reception", "doctor")

_WHO = text("""
SELECT current_user AS login,
       r.rolsuper OR d.datdba = r.oid AS owner,
       shobj_description(r.oid, 'pg_authid') AS full_name,
       ARRAY(SELECT substr(g.rolname, 8) FROM pg_roles g
             WHERE g.rolname IN ('clinic_admin', 'clinic_manager', 'clinic_reception', 'clinic_doctor')
               AND pg_has_role(current_user, g.oid, 'MEMBER')) AS groups
FROM pg_roles r
JOIN pg_database d ON d.datname = current_database()
WHERE r.rolname = current_user
""")
_DOCTOR = text("SELECT id, name FROM resource WHERE login_role = current_user AND kind = 'doctor'")


@dataclass(frozen=True)
class SessionInfo:
    """The signed-in user.

    ``login``: the PostgreSQL login role (``current_user``). ``role``: one of
    ``"admin"``, ``"manager"``, ``"reception"``, ``"doctor"`` — the highest
    group the login is a member of (``ROLE_ORDER``); a superuser or the owner of
    the database (on a server, whoever ran ``clinic db upgrade``) is ``"admin"``.
    ``doctor_resource_id`` / ``doctor_name``: the doctor resource whose
    ``login_role`` is this login, if any (any role may have one).
    ``full_name``: the person's name given with ``clinic user add … --name`` (the role's comment),
    if any. ``display_name``: what the window calls the user and prints as "Printed by": the
    doctor's name, else the full name, else the login.
    """

    login: str
    role: str
    doctor_resource_id: int | None = None
    doctor_name: str | None = None
    display_name: str = ""
    full_name: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLE_ORDER:
            raise ValueError(f"role: must be one of {', '.join(ROLE_ORDER)} (got {self.role!r})")
        if not self.display_name:
            object.__setattr__(self, "display_name", self.doctor_name or self.full_name or self.login)

    @property
    def is_doctor(self) -> bool:
        """Whether the login is linked to a doctor resource (their own day can be shown first)."""
        return self.doctor_resource_id is not None


def highest_role(groups: set[str] | list[str], *, owner: bool = False) -> str | None:
    """The highest of ``groups`` (role names without ``clinic_``) per ``ROLE_ORDER``;
    ``"admin"`` when ``owner``; None when there is none."""
    if owner:
        return "admin"
    return next((role for role in ROLE_ORDER if role in groups), None)


def current_session(db: Database) -> SessionInfo:
    """Read who ``db`` is signed in as (one short read-only transaction, two small queries).

    Raises ``PermissionDenied`` when the login is in none of the clinic's group
    roles (and is neither a superuser nor the database owner): the window would
    offer nothing the server allows. Raises ``DatabaseUnavailable`` like every read.
    """

    def work(conn: Connection) -> SessionInfo:
        who = conn.execute(_WHO).one()
        role = highest_role(list(who.groups or []), owner=bool(who.owner))
        if role is None:  # checked first: such a login may not even read the resource table
            raise PermissionDenied(
                f"The database login {who.login!r} is in none of the clinic's groups (reception, doctor, "
                f"manager, admin); ask the administrator to run: clinic user add {who.login} --role …")
        doctor = conn.execute(_DOCTOR).first()
        return SessionInfo(login=who.login, role=role, doctor_resource_id=doctor.id if doctor else None,
                           doctor_name=doctor.name if doctor else None, full_name=(who.full_name or "").strip() or None)

    return db.read(work)
