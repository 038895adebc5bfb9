"""Which database rights the reminder service's login has, and what it should have.

The service runs as a login of its own in the group role ``clinic_reminders``
(migration 0009), which may claim due reminders, record their outcome and read
what a message needs (the patient's name, language, contact and consent; the
branch's name, zone, phone, language and quiet hours; the service's name; the
appointment's time and status) — nothing else. Releasing expired holds
(``clinic_release_expired_holds``) and the waitlist's backfill are reception's
work: the sweep does each only when the login may (:class:`Standing`), and says
once, in the log, what it leaves to others.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..services.reminder_queries import login_standing, service_login_statement
from ..store.database import Database

#: The group role the service's login belongs to.
SERVICE_GROUP = "clinic_reminders"


@dataclass(frozen=True)
class Standing:
    """The service login's standing: its name, whether it is a superuser, whether the
    ``clinic_reminders`` group exists and the login has its rights (a member that inherits them),
    and whether it may release expired holds and make waitlist offers (reception's work)."""

    login: str
    superuser: bool
    group_exists: bool
    in_group: bool
    may_release_holds: bool
    may_offer_waitlist: bool

    def problem(self) -> str | None:
        """One sentence saying what is wrong with the login for the service, or None when it is
        a non-superuser member of ``clinic_reminders``."""
        how = (f'give the service its own login in that group (as the database owner: '
               f'{service_login_statement(SERVICE_GROUP)}); see installers/README.md, "Reminder service"')
        if not self.group_exists:
            return (f"the database has no {SERVICE_GROUP} group role; run `clinic db upgrade` as the database "
                    "owner, then " + how)
        if self.superuser:
            return f'login "{self.login}" is a superuser: run the service as a login in {SERVICE_GROUP}; {how}'
        if not self.in_group:
            return f'login "{self.login}" is not in {SERVICE_GROUP}: {how}'
        return None


def standing(db: Database) -> Standing:
    """Look up the standing of ``db``'s login (one read). Raises ``DatabaseUnavailable``."""

    row = db.read(lambda conn: login_standing(conn, SERVICE_GROUP))
    return Standing(login=str(row[0]), superuser=bool(row[1]), group_exists=bool(row[2]),
                    in_group=bool(row[3]), may_release_holds=bool(row[4]), may_offer_waitlist=bool(row[5]))
