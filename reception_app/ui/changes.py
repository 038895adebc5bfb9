"""What changed: one :class:`Changes` value per operation, and the :class:`ChangeBus` that carries it.

The window learns of changes from two places: its own writes (run through
``Runner.change``, or a dialog's signal that something was committed) and other
workstations' commits (``NOTIFY clinic_schedule``, turned into values by
``ui.live.LiveFeed``). Each of them publishes exactly one :class:`Changes` on
the window's bus; every view (the day or week grid, the month calendar, the
doctor's day list…) subscribes to :attr:`ChangeBus.changed` and decides from
the value alone whether what it shows must be reloaded. Nothing else wires a
"reload the day" to an action (the pattern of Anki's ``operation_did_execute``).

Where a change happened is told at two grains:

* ``days``: ``(branch id, branch-local date)`` pairs — the appointments of that
  branch on that calendar day changed (a local day only means something with
  its branch's time zone);
* ``branches``: branch ids changed on days not known (any day of the branch).

A change that names neither (only appointment, resource or patient ids, or
the ``rosters`` / ``config`` flags) is *unlocated*: it may touch any branch and
day, so every view reloads for it. ``everything`` (a reconnection, a periodic
or explicit refresh) touches all. Views that follow one resource (the doctor's
day list) also read ``resources``: empty means "not known", so they reload.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, tzinfo

from PySide6.QtCore import QObject, Signal

#: ``Changes.origin`` of the window's own operations (immediate reload).
LOCAL = "local"
#: ``Changes.origin`` of notifications from the database (already coalesced by ``ui.live.LiveFeed``).
LIVE = "live"


def _ids(values: Iterable[int]) -> frozenset[int]:
    return frozenset(int(v) for v in values)


@dataclass(frozen=True)
class Changes:
    """What one operation changed (immutable; combine two with ``|``).

    ``days``: ``(branch_id, local_date)`` pairs of the appointments changed.
    ``branches``: branch ids changed on any day. ``resources``, ``appointments``,
    ``patients``: the ids touched (resources and appointments of the changed
    bookings, patients whose record changed). ``rosters``: shifts, exceptions,
    leave, blocks or holidays changed (the database's roster notification
    names no branch). ``config``: the clinic configuration changed.
    ``everything``: reload all (a reconnection after missed notifications, a
    refresh). ``origin``: :data:`LOCAL` or :data:`LIVE` — who saw it first; it
    takes no part in what is touched.
    """

    days: frozenset[tuple[int, date]] = frozenset()
    branches: frozenset[int] = frozenset()
    resources: frozenset[int] = frozenset()
    appointments: frozenset[int] = frozenset()
    patients: frozenset[int] = frozenset()
    rosters: bool = False
    config: bool = False
    everything: bool = False
    origin: str = field(default=LOCAL, compare=False)

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def all(cls, origin: str = LOCAL) -> Changes:
        """Everything may have changed (a reconnection, a refresh)."""
        return cls(everything=True, origin=origin)

    @classmethod
    def of_day(cls, branch_id: int, local_date: date, origin: str = LOCAL) -> Changes:
        """The appointments of ``branch_id`` on its ``local_date`` changed (what a NOTIFY says)."""
        return cls(days=frozenset({(int(branch_id), local_date)}), origin=origin)

    @classmethod
    def of_branch(cls, branch_id: int, origin: str = LOCAL) -> Changes:
        """Something of ``branch_id`` changed, on days not known."""
        return cls(branches=frozenset({int(branch_id)}), origin=origin)

    @classmethod
    def of_appointments(cls, appointments: Iterable[object], tz_of: object = None) -> Changes:
        """The appointments given (``AppointmentView``-like: ``id``, ``branch_id``, ``start`` (aware),
        ``resource_ids``) changed. ``tz_of(branch_id) -> tzinfo | None`` finds a branch's zone; an
        appointment whose zone is unknown marks its whole branch (any day)."""
        days: set[tuple[int, date]] = set()
        branches: set[int] = set()
        resources: set[int] = set()
        ids: set[int] = set()
        for a in appointments:
            ids.add(int(a.id))  # type: ignore[attr-defined]
            branch_id = int(a.branch_id)  # type: ignore[attr-defined]
            resources.update((getattr(a, "resource_ids", None) or {}).values())
            tz: tzinfo | None = tz_of(branch_id) if callable(tz_of) else None
            if tz is None:
                branches.add(branch_id)
            else:
                days.add((branch_id, a.start.astimezone(tz).date()))  # type: ignore[attr-defined]
        return cls(days=frozenset(days), branches=frozenset(branches), resources=_ids(resources),
                   appointments=_ids(ids))

    def __or__(self, other: Changes) -> Changes:
        """Both changes as one (the union of every field; live if either is live)."""
        if not isinstance(other, Changes):
            return NotImplemented
        return Changes(days=self.days | other.days, branches=self.branches | other.branches,
                       resources=self.resources | other.resources,
                       appointments=self.appointments | other.appointments, patients=self.patients | other.patients,
                       rosters=self.rosters or other.rosters, config=self.config or other.config,
                       everything=self.everything or other.everything,
                       origin=LIVE if LIVE in (self.origin, other.origin) else self.origin)

    # -- reading ----------------------------------------------------------------------------------
    @property
    def empty(self) -> bool:
        """Nothing changed (no field set)."""
        return not (self.days or self.branches or self.resources or self.appointments or self.patients
                    or self.rosters or self.config or self.everything)

    @property
    def located(self) -> bool:
        """Whether the change says where it happened (``days`` or ``branches``)."""
        return bool(self.days or self.branches)

    @property
    def branch_ids(self) -> frozenset[int]:
        """Every branch named, by a day or branch-wide."""
        return self.branches | {b for b, _ in self.days}

    def days_of(self, branch_id: int) -> frozenset[date] | None:
        """The local dates of ``branch_id`` changed: ``None`` when any day may have (everything,
        branch-wide, rosters or config, unlocated), else the set (empty: the branch is untouched)."""
        if self.everything or branch_id in self.branches:
            return None
        if not self.located and not self.empty:
            return None  # rosters, config, ids only: anywhere
        return frozenset(d for b, d in self.days if b == branch_id)

    def touches(self, branch_id: int, days: Iterable[date]) -> bool:
        """Whether a view of ``branch_id`` showing the local ``days`` must reload."""
        changed = self.days_of(branch_id)
        return changed is None or not changed.isdisjoint(days)

    def touches_resource(self, resource_id: int | None) -> bool:
        """Whether a view of one resource may be affected (``resources`` empty: not known, so yes)."""
        return self.everything or not self.resources or resource_id in self.resources


class ChangeBus(QObject):
    """The one "what changed" signal of a window (owned by its ``Runner``).

    Signals:
        changed(object): a :class:`Changes` — exactly one per operation, on the GUI thread.
    """

    changed = Signal(object)

    def publish(self, changes: Changes) -> None:
        """Tell every view about ``changes`` (an empty value is dropped). Raises ``TypeError``
        for anything but a :class:`Changes`."""
        if not isinstance(changes, Changes):
            raise TypeError(f"a ChangeBus carries Changes, not {type(changes).__name__}")
        if not changes.empty:
            self.changed.emit(changes)
