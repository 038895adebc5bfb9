"""What the main window's parts share: the state they read, views of it, and the change bus.

:class:`WindowBase` declares the window's state (set up by
:class:`~.main_window.MainWindow`) so its parts in other modules — the booking dialogs
(:mod:`.window_booking`), printing (:mod:`.window_printing`) and the clinic tools
(:mod:`.window_clinic`) — are typed against it, and so are the objects it owns: navigation
(``nav``, :mod:`.navigation`: branch, day, mode, resources), the appointment actions
(``appointment_actions``, :mod:`.window_actions`: what the key table lists, enabled from the
selection's status), the dialog manager (``dialogs``), the docks (``docks``,
:mod:`.window_docks`) and the toolbars' rows (``toolbars``, :mod:`.toolbar_rows`).

Where the window is (``branch``, ``day``, ``mode``, ``branches``) is navigation's state, read
here through properties, and moving (``set_day``, ``set_mode``, ``set_branch``,
``set_resource_set``, ``edit_selection``) goes through it; the selected appointment
(``current_appointment``) and the actions' enabled state (``update_appointment_actions``) go
through the appointment actions. It also turns what a dialog or an action committed into the
one :class:`~.changes.Changes` the parts publish on the runner's change bus
(:meth:`WindowBase.publish_changes`).
"""

from __future__ import annotations

import getpass
from datetime import date, tzinfo
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction, QResizeEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QToolBar

from ..domain.roles import Capabilities
from ..services.dayview import BranchSummary
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
    from ..services.scheduling import AppointmentView
    from .navigation import Navigation
    from .patient_dialog import PatientSearchDialog
    from .resource_selection import ResourceSelection, ResourceSelectionDialog
    from .series_dialog import SeriesDialog
    from .toolbar_rows import ToolbarRows
    from .visit_dialog import VisitDialog
    from .window_actions import AppointmentActions
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
    _busy_text: str
    _scroll_pending: bool
    #: Branch, day, mode and resources, and the "Day" and "Show" toolbars (``navigation``).
    nav: Navigation
    #: The toolbars, side by side or on rows of their own (``toolbar_rows``).
    toolbars: ToolbarRows
    #: The status and lifecycle actions, the block's menu and moves on the grid (``window_actions``).
    appointment_actions: AppointmentActions
    #: The runner's change bus (``runner.changes``): every view subscribes, every write publishes.
    changes: ChangeBus
    #: Opens each dialog once and remembers its size and place.
    dialogs: DialogManager
    #: The month calendar and the doctor's day list, and what they load (``window_docks``).
    docks: WindowDocks
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
        def set_controls_enabled(self, enabled: bool) -> None: ...
        def update_series_action(self, appointment: AppointmentView | None) -> None: ...
        def find_patient(self, query: str = "") -> PatientSearchDialog: ...
        def open_visit_dialog(self, patient: PatientView | None = None) -> VisitDialog | None: ...
        def open_series_dialog(self, patient: PatientView | None = None) -> SeriesDialog | None: ...

    @property
    def grid_model(self) -> ScheduleGridModel:
        """The model the grid shows: :attr:`model` (a day) or :attr:`week_model` (a week)."""
        return self.week_model if self.nav.mode == "week" else self.model

    # -- where the window is (navigation's state) and moving ------------------------------------
    @property
    def branch(self) -> BranchSummary | None:
        """The branch shown."""
        return self.nav.branch

    @property
    def day(self) -> date | None:
        """The branch-local date shown (or about to be)."""
        return self.nav.day

    @property
    def mode(self) -> str:
        """``"day"`` or ``"week"``: what the grid shows."""
        return self.nav.mode

    @property
    def branches(self) -> list[BranchSummary]:
        """The branches in the selector."""
        return self.nav.branches

    def set_day(self, local_date: date) -> None:
        """Show branch-local ``local_date`` (loads in the background)."""
        self.nav.set_day(local_date)

    def set_mode(self, mode: str) -> None:
        """Show the ``"day"`` or the ``"week"``; raises ``ValueError`` for another mode."""
        self.nav.set_mode(mode)

    def set_branch(self, name: str) -> None:
        """Show the branch called ``name``; raises ``KeyError`` if it is not in the selector."""
        self.nav.set_branch(name)

    def set_resource_set(self, resource_set: str) -> None:
        """Show ``"all"`` resources or one kind (``"doctor"``, ``"room"``, ``"equipment"``)."""
        self.nav.set_resource_set(resource_set)

    def edit_selection(self, selection: ResourceSelection | None) -> ResourceSelectionDialog | None:
        """Open the dialog that creates (``None``) or edits a saved resource selection."""
        return self.nav.edit_selection(selection)

    def current_appointment(self) -> AppointmentView | None:
        """The appointment of the grid's current cell (as last loaded), or ``None``."""
        return self.appointment_actions.current_appointment()

    def update_appointment_actions(self) -> None:
        """Enable each appointment action from the selected appointment's status."""
        self.appointment_actions.update()

    def scroll_on_next_load(self) -> None:
        """Scroll to now (or the opening) when the next day or week loaded is shown."""
        self._scroll_pending = True

    def set_busy_text(self, text: str, *, show_now: bool = False) -> None:
        """What the busy indicator says for the work about to start; ``show_now``: at once, not
        after ``PROGRESS_DELAY_MS`` (work known to be long)."""
        self._busy_text = text
        if show_now:
            self._busy_timer.start(0)

    # -- toolbars --------------------------------------------------------------------------------
    def toolbar_rows(self) -> list[list[QToolBar]]:
        """The toolbars as arranged, row by row."""
        return self.toolbars.rows()

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Re-arrange the toolbars for the new width."""
        super().resizeEvent(event)
        self.toolbars.arrange()

    @property
    def printed_by(self) -> str:
        """Who prints or takes a payment, by name, for printouts and receipts: the signed-in person's
        name (a doctor's, or the one given with ``clinic user add … --name``); for a login with no
        name, or the embedded default's database superuser, the operating-system account's full
        name (:func:`person_name`); never a bare database login like "postgres" when a name exists."""
        session = self.session
        login = getattr(session, "login", None)
        named = getattr(session, "display_name", None)
        if named and named != login:
            return str(named)
        os_user = getpass.getuser()
        if login in (None, "postgres", os_user):
            return person_name(os_user)
        return str(login)

    @property
    def session_doctor(self) -> int | None:
        """The signed-in doctor's resource id, or ``None``."""
        return getattr(self.session, "doctor_resource_id", None)

    def publish_changes(self, changes: Changes) -> None:
        """Tell every view of the window (and of any window on the same runner) what changed."""
        self.changes.publish(changes)

    def shown_days(self) -> frozenset[date]:
        """The branch-local dates the grid shows: the day, or the seven days of the week."""
        return self.nav.shown_days()

    def branch_tz(self, branch_id: int) -> tzinfo | None:
        """The time zone of branch ``branch_id`` (``None`` when it is not in the selector)."""
        return next((b.tz for b in self.nav.branches if b.id == branch_id), None)

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
        branch = self.nav.branch
        return Changes.of_branch(branch.id) if branch is not None else Changes.all()


def person_name(user: str) -> str:
    """The full name of operating-system account ``user`` (the first field of its GECOS entry on
    Unix; ``"Luana Ferreira,,,"`` → ``"Luana Ferreira"``), else ``user`` itself."""
    try:
        import pwd
    except ImportError:  # Windows: no GECOS field
        return user
    try:
        gecos = pwd.getpwnam(user).pw_gecos
    except KeyError:
        return user
    name = gecos.split(",", 1)[0].strip()
    return name or user
