"""What the main window's parts share: the state they read and two views of it.

:class:`WindowBase` declares the window's state (set up by
:class:`~.main_window.MainWindow`) so its parts in other modules — the docks
(:mod:`.window_docks`) and printing (:mod:`.window_printing`) — are typed
against it.
"""

from __future__ import annotations

import getpass
from datetime import date

from PySide6.QtWidgets import QMainWindow

from ..domain.roles import Capabilities
from ..services.dayview import BranchSummary
from ..store.database import Database
from .day_model import DayGridModel, ScheduleGridModel
from .day_view import DayGridView
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
    _busy_text: str

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
