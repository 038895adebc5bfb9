"""What the main window's parts share: the state they read, views of it, and the change bus.

:class:`WindowBase` declares the window's state (set up by
:class:`~.main_window.MainWindow`) so its parts in other modules — navigation
(:mod:`.navigation`), the appointment actions (:mod:`.window_actions`), the
booking dialogs (:mod:`.window_booking`), printing (:mod:`.window_printing`)
and the clinic tools (:mod:`.window_clinic`) — are typed against it, and so
are the objects it owns: the dialog manager (``dialogs``) and the docks
(``docks``, :mod:`.window_docks`). It also turns what a dialog or an action committed
into the one :class:`~.changes.Changes` the parts publish on the runner's
change bus (:meth:`WindowBase.publish_changes`).
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import date, timedelta, tzinfo
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow

from ..domain.roles import Capabilities
from ..services.dayview import BranchSummary, week_start
from ..store.database import Database
from .changes import ChangeBus, Changes
from .day_model import DayGridModel, ScheduleGridModel
from .day_view import DayGridView
from .dialog_manager import DialogManager
from .month_calendar import MonthCalendar
from .runner import Clock, Runner
from .week_model import WeekGridModel

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from ..services.patients import PatientView
    from ..services.scheduling import AppointmentView, MoveResult
    from .patient_dialog import PatientSearchDialog
    from .series_dialog import SeriesDialog
    from .visit_dialog import VisitDialog
    from .window_docks import WindowDocks


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
    #: The month calendar and the doctor's day list, and what they load (``window_docks``).
    docks: WindowDocks
    #: The set-up to run when the database has no branch yet (taken once, then ``None``).
    _first_run: Callable[[Database], str] | None
    # The widgets and actions the parts use from each other (made by MainWindow and its parts).
    title_label: QLabel
    summary_label: QLabel
    zone_label: QLabel
    _busy_timer: QTimer
    month_calendar: MonthCalendar
    my_day_dock: QDockWidget
    open_patient_action: QAction
    reschedule_action: QAction
    appointment_reminders_action: QAction
    appointment_history_action: QAction
    cancel_series_action: QAction
    force_move_action: QAction

    if TYPE_CHECKING:
        # For the type checker only: the signals stay declared on MainWindow alone (PySide orders
        # signals by declaration), and the methods live in the parts that define them.
        branches_loaded: SignalInstance
        appointment_booked: SignalInstance
        booking_dialog_opened: SignalInstance
        appointment_changed: SignalInstance
        appointment_menu_opened: SignalInstance
        patient_search_opened: SignalInstance
        patient_record_opened: SignalInstance

        def reload_day(self) -> None: ...
        def _set_controls_enabled(self, enabled: bool) -> None: ...
        def current_appointment(self) -> AppointmentView | None: ...
        def _update_appointment_actions(self) -> None: ...
        def update_series_action(self, appointment: AppointmentView | None) -> None: ...
        def _on_appointment_moved(self, result: MoveResult) -> None: ...
        def find_patient(self, query: str = "") -> PatientSearchDialog: ...
        def open_visit_dialog(self, patient: PatientView | None = None) -> VisitDialog | None: ...
        def open_series_dialog(self, patient: PatientView | None = None) -> SeriesDialog | None: ...

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
