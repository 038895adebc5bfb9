"""What the main window's parts share: the state they read, views of it, and the change bus.

:class:`WindowBase` declares the window's state (set up by
:class:`~.main_window.MainWindow`) so its parts in other modules — navigation
(:mod:`.navigation`), the appointment actions (:mod:`.window_actions`), the
booking dialogs (:mod:`.window_booking`), the docks (:mod:`.window_docks`),
printing (:mod:`.window_printing`) and the clinic tools (:mod:`.window_clinic`)
— are typed against it. It also turns what a dialog or an action committed
into the one :class:`~.changes.Changes` the parts publish on the runner's
change bus (:meth:`WindowBase.publish_changes`).
"""

from __future__ import annotations

import getpass
from datetime import date, timedelta, tzinfo

from PySide6.QtWidgets import QMainWindow

from ..domain.roles import Capabilities
from ..services.dayview import BranchSummary, week_start
from ..store.database import Database
from .changes import ChangeBus, Changes
from .day_model import DayGridModel, ScheduleGridModel
from .day_view import DayGridView
from .dialog_manager import DialogManager
from .runner import Clock, Runner
from .week_model import WeekGridModel


class WindowBase(QMainWindow):
    """The main window's shared state (declared here, set by ``MainWindow.__init__``)."""

    _db: Database
    runner: Runner
    session: object | None
    capabilities: Capabilities
    _clock: Clock
    grid: DayGridView
    model: DayGridModel
    week_model: WeekGridModel
    _mode: str
    _day: date | None
    _branch: BranchSummary | None
    _branches: list[BranchSummary]
    _busy_text: str
    #: The runner's change bus (``runner.changes``): every view subscribes, every write publishes.
    changes: ChangeBus
    #: Opens each dialog once and remembers its size and place.
    dialogs: DialogManager

    @property
    def grid_model(self) -> ScheduleGridModel:
        """The model the grid shows: :attr:`model` (a day) or :attr:`week_model` (a week)."""
        return self.week_model if self._mode == "week" else self.model

    @property
    def printed_by(self) -> str:
        """Who prints or takes a payment, for printouts and receipts: the sign-in's login, else the
        operating-system user (the embedded default has no sign-in)."""
        return str(getattr(self.session, "login", None) or getpass.getuser())

    @property
    def session_doctor(self) -> int | None:
        """The signed-in doctor's resource id, or ``None``."""
        return getattr(self.session, "doctor_resource_id", None)

    def publish_changes(self, changes: Changes) -> None:
        """Tell every view of the window (and of any window on the same runner) what changed."""
        self.changes.publish(changes)

    def shown_days(self) -> frozenset[date]:
        """The branch-local dates the grid shows: the day, or the seven days of the week."""
        if self._day is None:
            return frozenset()
        if self._mode == "week":
            monday = week_start(self._day)
            return frozenset(monday + timedelta(days=i) for i in range(7))
        return frozenset({self._day})

    def branch_tz(self, branch_id: int) -> tzinfo | None:
        """The time zone of branch ``branch_id`` (``None`` when it is not in the selector)."""
        return next((b.tz for b in self._branches if b.id == branch_id), None)

    def changes_of(self, *appointments: object) -> Changes:
        """What changing ``appointments`` (``AppointmentView``s) changed: their branch-local days,
        resources and ids."""
        return Changes.of_appointments(appointments, self.branch_tz)

    def changes_from(self, committed: object) -> Changes:
        """What a dialog's "committed" payload changed: the appointments of a visit or series
        (``.appointments``), one appointment (``AppointmentView``), else — a payload that does not
        say where — the branch shown (any day), or everything when no branch is shown."""
        appointments = getattr(committed, "appointments", None)
        if appointments:
            return self.changes_of(*appointments)
        if all(hasattr(committed, name) for name in ("id", "branch_id", "start")):
            return self.changes_of(committed)
        return Changes.of_branch(self._branch.id) if self._branch is not None else Changes.all()
