"""What each kind of signed-in user is offered in the window.

The database's grants and row-level security (migration 0001, "Roles") are the
real guard; this table only decides what the client *offers*, so that nobody
is shown a button the server will refuse. When the two disagree the server
wins and the refusal is shown in plain words (``PermissionDenied``).

Roles are the PostgreSQL group roles without their ``clinic_`` prefix:

- ``reception`` books, moves, reschedules, cancels, takes walk-ins and edits patients;
- ``doctor`` sees their own day first and moves their own patients through the
  day (check in, start, complete, no-show) — the server refuses the same on
  other doctors' appointments;
- ``manager`` has reception's rights (the group role ``clinic_manager`` is a
  member of ``clinic_reception`` since migration 0003), sees the reports,
  manages rosters, leave and blocks, and may override the clinic's rules with a
  reason (a forced booking over a block or outside a shift);
- ``admin`` configures the clinic; in the window it is offered everything
  a manager is (a superuser or the owner of the database — the embedded
  default — counts as admin).
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES: tuple[str, ...] = ("reception", "doctor", "manager", "admin")

#: The status actions (``ui.appointment_actions`` keys) a doctor is offered on their own appointments.
DOCTOR_STATUS_ACTIONS: frozenset[str] = frozenset({"check_in", "start", "complete", "no_show"})


@dataclass(frozen=True)
class Capabilities:
    """What the window offers a role.

    ``book``: new appointments, walk-ins; ``move``: drag, reschedule;
    ``status_actions``: the status action keys offered (``None`` = all);
    ``own_only``: status actions only on appointments booked on the user's own
    doctor resource; ``edit_patients``: change contact details; ``reports``:
    the manager's reports; ``my_day_first``: open on the user's own day list;
    ``rosters``: edit shifts, leave, blocks and holidays; ``overrides``: force a
    booking or move over the clinic's rules, with a reason (logged).
    """

    book: bool
    move: bool
    status_actions: frozenset[str] | None
    own_only: bool
    edit_patients: bool
    reports: bool
    my_day_first: bool
    rosters: bool = False
    overrides: bool = False

    def allows_status(self, key: str) -> bool:
        """Whether the status action ``key`` (e.g. ``"check_in"``) is offered at all."""
        return self.status_actions is None or key in self.status_actions


_CAPABILITIES: dict[str, Capabilities] = {
    "reception": Capabilities(book=True, move=True, status_actions=None, own_only=False,
                              edit_patients=True, reports=False, my_day_first=False),
    "doctor": Capabilities(book=False, move=False, status_actions=DOCTOR_STATUS_ACTIONS, own_only=True,
                           edit_patients=False, reports=False, my_day_first=True),
    "manager": Capabilities(book=True, move=True, status_actions=None, own_only=False,
                            edit_patients=True, reports=True, my_day_first=False, rosters=True, overrides=True),
    "admin": Capabilities(book=True, move=True, status_actions=None, own_only=False,
                          edit_patients=True, reports=True, my_day_first=False, rosters=True, overrides=True),
}


def capabilities(role: str | None) -> Capabilities:
    """The capabilities of ``role`` (one of ``ROLES``); ``None`` (no sign-in: the embedded
    default) is ``"admin"``. Raises ``KeyError`` for an unknown role name."""
    return _CAPABILITIES["admin" if role is None else role]
