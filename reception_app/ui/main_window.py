"""The main window: one branch's day as a grid of resources, with navigation and booking.

Everything it shows comes from the read model (``services.dayview``) loaded
through the shared :class:`~.runner.Runner`; the window never waits for the
database. Dependencies are injected (database, runner, clock, first day) so
tests run it against a test database at a fixed time.

The window is composed of parts that each own one job, on the shared state
declared by ``window_base``: navigation (branch, day, mode, resources:
:class:`~.navigation.Navigation`, ``self.nav``), the appointment actions
(:class:`~.window_actions.AppointmentActions`, ``self.appointment_actions``),
the booking dialogs and patients (``window_booking``), printing
(``window_printing``) and the clinic tools (``window_clinic``), whose dialogs
the :class:`~.dialog_manager.DialogManager` (``self.dialogs``) opens once each
and places where they were last. Navigation, the actions, the dialog manager,
the docks (:class:`~.window_docks.WindowDocks`, ``self.docks``) and the
toolbars' rows (:class:`~.toolbar_rows.ToolbarRows`, ``self.toolbars``) are
objects the window owns; the booking, printing and clinic parts are still base
classes of it. This module lays them out and shows what is loaded: the day or
week grid and its titles.

What changed reaches every view through one signal: the runner's change bus
(``Runner.changes``, :mod:`.changes`). The window's own writes publish one
``Changes`` each (``Runner.change``, or a dialog's "committed" signal mapped to
one); other workstations' commits arrive as ``Changes`` from the database's
notifications (``ui.live.LiveFeed``). The grid reloads when a change touches
its branch and the day or week shown; the month calendar and the doctor's day
list decide the same for what they show (``window_docks``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QFont, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QStackedWidget, QVBoxLayout, QWidget

from ..domain.roles import Capabilities, capabilities
from ..domain.slots import KINDS
from ..domain.wallclock import day_bounds_utc
from ..services.clinic_config import ClinicProfile, clinic_profile
from ..services.dayview import (
    DayView,
    GridResource,
    ServiceSummary,
    WeekView,
    load_day,
    load_week,
    utc_offset_text,
    week_start,
)
from ..store.database import Database
from .changes import Changes
from .connection_banner import ConnectionBanner, ConnectionMonitor
from .day_model import DayGridModel
from .day_view import DayGridView
from .dialog_manager import DialogManager
from .idle_lock import IdleLock
from .legend import legend_widget
from .live import LIVE_DEBOUNCE_MS, LiveFeed, LiveSchedule
from .messages import APP_TITLE, show_crash, show_error
from .navigation import DEFAULT_SET, Navigation
from .resource_selection import SelectionStore
from .runner import Clock, Runner
from .shortcuts_dialog import ShortcutSheet
from .toolbar_rows import ToolbarRows
from .week_model import WeekGridModel
from .week_overview import WeekOverviewModel, WeekOverviewView
from .window_actions import AppointmentActions
from .window_booking import WindowBooking
from .window_clinic import WindowClinic
from .window_docks import WindowDocks
from .window_printing import WindowPrinting

__all__ = ["LIVE_DEBOUNCE_MS", "PROGRESS_DELAY_MS", "MainWindow", "window_title"]

#: QSettings keys of the window's own view settings.
GEOMETRY_KEY = "mainWindow/geometry"
SHOW_CANCELLED_KEY = "view/showCancelled"

log = logging.getLogger(__name__)

FirstRun = Callable[[Database], str]

#: Show the busy indicator only for work that lasts longer than this (Anki: ~600 ms).
PROGRESS_DELAY_MS = 600


def window_title(session: object | None) -> str:
    """``"Clinic Reception — ana (manager)"``: the product once, then who is signed in and as what
    (``session``: anything with ``login`` and ``role``; none, or no login: ``"Clinic Reception"``).
    The application sets no display name, so Qt adds nothing to it (see ``ui.app``)."""
    login = getattr(session, "login", None)
    if not login:
        return APP_TITLE
    role = getattr(session, "role", None)
    return f"{APP_TITLE} — {login} ({role})" if role else f"{APP_TITLE} — {login}"


class MainWindow(WindowBooking, WindowPrinting, WindowClinic):
    """The reception desk's main window.

    ``db``: the clinic database (the window never touches SQL; it hands
    service calls to ``runner``). ``runner``: the shared background runner
    (made, owned and shut down by the window if not given). ``clock``: the
    current aware time (default: real UTC now). ``day``: the branch-local date
    to show first (default: today in the branch's zone). ``branch``: the branch
    name to show first (default: the first by name). ``database_label``: what
    the status bar says about the database ("Built-in database", "Server
    db1/clinic"). ``log_path``: named in crash messages. ``first_run``: called
    in the background when the database has no branch yet (the app passes
    the demo loader); it returns a summary line. ``refresh_ms``: periodic
    reload of the day shown (0 = off), the back-up for live notifications.
    ``live``: the LISTEN bridge (``ui.live.LiveSchedule``); when given, a change
    committed by any workstation to the branch and day shown reloads the grid
    (a burst coalesced for ``LIVE_DEBOUNCE_MS`` into one ``Changes``), and so does
    a roster change or a reconnection of the listener.

    Status actions (``appointment_actions``: check in, start, complete,
    no-show, cancel) act on the current grid cell's appointment; they are in
    the "Appointment" toolbar menu, the block's context menu and on their
    shortcuts, enabled only when the lifecycle allows them.

    Dragging a block to another cell moves it (``scheduling.move``, in the
    background): to the drop row's time, and to the drop column's resource when
    that is of a kind the service books (other kinds are refused here, with a
    status message). The outcome is told in the status bar; the appointment's
    day is published as changed either way, so a refused move leaves the block
    where it was.

    Signals:
        branches_loaded(int): the branch list was (re)loaded: how many.
        day_loaded(object): a ``DayView`` arrived and is shown (day mode).
        week_loaded(object): a ``WeekView`` arrived and is shown (week mode).
        appointment_booked(object): a booking made from this window committed:
            its ``AppointmentView``.
        booking_dialog_opened(object): the booking dialog was opened (the dialog).
        appointment_changed(object): a status change or move made from this
            window committed: the appointment's new ``AppointmentView``.
        appointment_menu_opened(object): the context menu of a block was
            opened (the ``QMenu``).
        settings_requested(): the user chose "Settings…" (the app opens the
            connection and lock settings).
        patient_search_opened(object) / patient_record_opened(object): the
            patient search or a patient's record was opened (the dialog).
        my_day_loaded(object): the doctor's day list got a ``MyDay``.
        dialog_opened(object): a dialog or tool window was opened by the dialog
            manager (reschedule, walk-in, payments, the clinic tools).

    View: the day grid shows the doctors first (``navigation.DEFAULT_SET``); the week shows one
    resource's days (``nav.week_picker``), a saved selection's, or else the branch-wide overview
    (``week_overview``, :class:`~.week_overview.WeekOverviewView`, in place of the grid).
    Cancelled appointments are faint outlines unless "Show cancelled" (``show_cancelled_action``,
    View menu and Show toolbar) is off. ``settings``: where the window keeps its size and place
    (``mainWindow/geometry``, saved on close) and "Show cancelled" (``view/showCancelled``);
    default: the application's QSettings. ``geometry_restored``: whether a saved size and place
    was found (the app opens the window maximized when not). The header's count counts the
    appointments shown (in the columns or rows shown, each once; cancelled ones never).

    ``changes``: the runner's change bus; ``dialogs``: the dialog manager; ``nav``: navigation
    (``navigation.Navigation``); ``appointment_actions``: the appointment actions
    (``window_actions.AppointmentActions``); ``docks``: the docks (``window_docks.WindowDocks``).
    """

    branches_loaded = Signal(int)
    day_loaded = Signal(object)
    week_loaded = Signal(object)
    appointment_booked = Signal(object)
    booking_dialog_opened = Signal(object)
    appointment_changed = Signal(object)
    appointment_menu_opened = Signal(object)
    settings_requested = Signal()
    patient_search_opened = Signal(object)
    dialog_opened = Signal(object)
    patient_record_opened = Signal(object)
    my_day_loaded = Signal(object)

    def __init__(self, db: Database, *, runner: Runner | None = None, clock: Clock | None = None,
                 day: date | None = None, branch: str | None = None, database_label: str = "Database server",
                 log_path: Path | str | None = None, first_run: FirstRun | None = None,
                 refresh_ms: int = 60_000, live: LiveSchedule | None = None,
                 session: object | None = None, selection_store: SelectionStore | None = None,
                 settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self.session = session
        self.selection_store = selection_store or SelectionStore()
        self.capabilities: Capabilities = capabilities(getattr(session, "role", None))
        self._owns_runner = runner is None
        self.runner = runner or Runner(self, log_path=log_path)
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self._services: list[ServiceSummary] | None = None
        self._scroll_pending = True
        self.print_preview: QWidget | None = None
        self._loaded_view: tuple | None = None  # (mode, branch id, day or Monday) of the latest load shown
        self.dialogs = DialogManager(self)
        self.dialogs.opened.connect(self.dialog_opened)

        self.setWindowTitle(window_title(session))
        self.setObjectName("mainWindow")
        self.settings = settings if settings is not None else QSettings()
        self.resize(1280, 820)

        self.model = DayGridModel(self)
        self.week_model = WeekGridModel(self)
        self.week_overview_model = WeekOverviewModel(self)
        self.week_overview = WeekOverviewView()
        self.week_overview.setObjectName("weekOverview")
        self.week_overview.setModel(self.week_overview_model)
        self.grid_stack: QStackedWidget | None = None
        self.grid = DayGridView()
        self.grid.setObjectName("dayGrid")
        self.grid.setModel(self.model)
        self.grid.booking_requested.connect(self._on_grid_booking_requested)
        self.grid.appointment_activated.connect(self._on_grid_appointment_activated)
        self.grid.search_typed.connect(self._on_grid_search_typed)
        for m in (self.model, self.week_model):
            m.modelReset.connect(self.update_appointment_actions)  # resets clear the current cell silently
        for reset in (self.model.modelReset, self.week_model.modelReset, self.week_overview_model.modelReset):
            reset.connect(self._update_summary)

        self.toolbars = ToolbarRows(self)
        self.nav = Navigation(self, db, self._clock, day=day, branch=branch, first_run=first_run)
        self.nav.branches_loaded.connect(self.branches_loaded)
        nav = self.nav
        self.branch_combo, self.date_edit, self.set_buttons = nav.branch_combo, nav.date_edit, nav.set_buttons
        self.prev_action, self.today_action, self.next_action = nav.prev_action, nav.today_action, nav.next_action
        self.day_mode_action, self.week_mode_action = nav.day_mode_action, nav.week_mode_action
        self.selection_menu = nav.selection_menu
        self.week_overview.resource_week_requested.connect(nav.set_week_resource)
        self.show_cancelled_action = QAction("Show cancelled", self)
        self.show_cancelled_action.setObjectName("showCancelled")
        self.show_cancelled_action.setCheckable(True)
        self.show_cancelled_action.setToolTip("Show cancelled appointments as faint outlines")
        shown = str(self.settings.value(SHOW_CANCELLED_KEY, "true")).lower() not in ("false", "0")
        self.show_cancelled_action.setChecked(shown)
        self.show_cancelled_action.toggled.connect(self.set_show_cancelled)
        nav.show_toolbar.addSeparator()
        nav.show_toolbar.addAction(self.show_cancelled_action)
        self._build_toolbar()
        self.docks = WindowDocks(self, db, self._clock)
        self.month_calendar, self.calendar_dock = self.docks.month_calendar, self.docks.calendar_dock
        self.my_day_panel, self.my_day_dock = self.docks.my_day_panel, self.docks.my_day_dock
        self.docks.my_day_loaded.connect(self.my_day_loaded)
        self.month_calendar.date_chosen.connect(self.set_day)
        for signal, key in ((self.my_day_panel.check_in_requested, "check_in"),
                            (self.my_day_panel.start_requested, "start"),
                            (self.my_day_panel.complete_requested, "complete"),
                            (self.my_day_panel.no_show_requested, "no_show")):
            signal.connect(lambda row, key=key: self.appointment_actions.on_my_day_action(key, row))
        self._build_clinic_actions()
        self._build_menus()
        central = QWidget()
        v = QVBoxLayout(central)
        v.setContentsMargins(10, 8, 10, 6)
        v.setSpacing(6)
        title_row = QHBoxLayout()
        self.title_label = QLabel("Loading…")
        self.title_label.setObjectName("dayTitle")
        title_font = QFont(self.title_label.font())  # scaled from the system font size, never fixed pixels
        title_font.setPointSizeF(title_font.pointSizeF() * 1.3)
        title_font.setWeight(QFont.Weight.DemiBold)
        self.title_label.setFont(title_font)
        self.title_label.setStyleSheet("color: #1b1f24;")
        title_row.addWidget(self.title_label)
        self.day_note = QLabel()
        self.day_note.setObjectName("dayNote")
        self.day_note.setStyleSheet("QLabel { background: #fff4ce; color: #5c4400; border: 1px solid #e8d48b;"
                                    " border-radius: 9px; padding: 1px 10px; font-weight: 600; }")
        self.day_note.hide()
        title_row.addWidget(self.day_note)
        title_row.addStretch(1)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("daySummary")
        self.summary_label.setStyleSheet("color: #4a5563;")
        title_row.addWidget(self.summary_label)
        self.connection_monitor = ConnectionMonitor(db, self.runner, live, parent=self)
        self.connection_banner = ConnectionBanner(self.connection_monitor, central)
        self.connection_monitor.restored.connect(lambda: self.publish_changes(Changes.all()))
        self.connection_monitor.restarted.connect(lambda: self.statusBar().showMessage(
            "The built-in database had stopped; it was started again.", 30_000))
        v.addWidget(self.connection_banner)
        v.addLayout(title_row)
        self.grid_stack = QStackedWidget()
        self.grid_stack.addWidget(self.grid)
        self.grid_stack.addWidget(self.week_overview)
        v.addWidget(self.grid_stack, 1)
        v.addWidget(legend_widget())
        self.setCentralWidget(central)
        self._build_status_bar(database_label)

        self.runner.failed.connect(self._on_runner_failed)
        self.runner.crashed.connect(self._on_runner_crashed)
        self.runner.busy_changed.connect(self._on_runner_busy_changed)

        self._refresh_timer = QTimer(self)
        self._refresh_timer.timeout.connect(self._on_refresh_timer_timeout)
        if refresh_ms > 0:
            self._refresh_timer.start(refresh_ms)
        # Every view learns what changed from the one bus: the window's own writes and, through the
        # live feed (a burst of notifications becomes one value), every other workstation's.
        self.changes = self.runner.changes
        self.changes.changed.connect(self._on_changes)
        self.changes.changed.connect(self.docks.on_changes)
        self._live = live
        self._live_feed = LiveFeed(live, self.changes, parent=self) if live is not None else None
        for m in (self.model, self.week_model):
            m.set_show_cancelled(shown)
        nav.set_resource_set(DEFAULT_SET)
        self.set_controls_enabled(False)
        self.geometry_restored = self._restore_geometry()
        self.nav.reload_branches()
        #: The clinic-wide settings the desk shows and prints (name, legal details, no-show grace).
        self.clinic_profile = ClinicProfile()
        self.runner.run(lambda: self._db.read(clinic_profile), on_success=self._on_clinic_profile,
                        label="clinic settings")
        # An outcome's actions wait for the time ("No-show" a grace after the start, "Complete" the
        # start): look again every half minute, so they are offered when the time comes.
        self._outcome_timer = QTimer(self)
        self._outcome_timer.timeout.connect(self.appointment_actions.update)
        self._outcome_timer.start(30_000)

    def _on_clinic_profile(self, profile: ClinicProfile) -> None:
        self.clinic_profile = profile
        self.appointment_actions.grace_minutes = profile.no_show_grace_minutes
        self.appointment_actions.update()

    # -- view settings ----------------------------------------------------------------------
    def _restore_geometry(self) -> bool:
        """Put the window where it was last closed (``GEOMETRY_KEY``); whether there was a place."""
        saved = self.settings.value(GEOMETRY_KEY)
        return bool(saved) and self.restoreGeometry(saved)  # type: ignore[arg-type]

    def set_show_cancelled(self, shown: bool) -> None:
        """Show or hide cancelled appointments' outlines (day and week), and remember it."""
        if self.show_cancelled_action.isChecked() != shown:
            self.show_cancelled_action.setChecked(shown)  # comes back here through toggled
            return
        for m in (self.model, self.week_model):
            m.set_show_cancelled(shown)
        self.settings.setValue(SHOW_CANCELLED_KEY, shown)
        self.grid.viewport().update()

    def show_week_widget(self) -> None:
        """Show the grid, or in week mode with nothing picked the week overview, in its place."""
        if self.grid_stack is None:
            return
        overview = self.nav.shows_overview
        self.grid_stack.setCurrentWidget(self.week_overview if overview else self.grid)
        self._update_summary()

    def scroll_to_start(self) -> None:
        """Scroll the grid to the last hour before now when now is shown, else to the first opening
        of the day or week shown (as a first load does)."""
        view = self.model.day if self.mode == "day" else self.week_model.week
        if view is None:
            return
        opening = view.opening if isinstance(view, DayView) else tuple(w for d in view.days for w in d.opening)
        now = self._clock()
        if self.grid_model.row_of(now) is not None:
            self.grid.scroll_to_instant(now - timedelta(hours=1))
        elif opening:
            self.grid.scroll_to_instant(min(opening)[0])

    def _update_summary(self) -> None:
        """The header's count: the live appointments shown (in the columns or overview rows shown)."""
        if not hasattr(self, "summary_label"):
            return  # a model reset while the window is still being built
        if self.mode == "week":
            if self.week_model.week is None:
                return
            count = (self.week_overview_model.appointment_count() if self.nav.shows_overview
                     else self.week_model.shown_appointment_count())
            self.summary_label.setText(f"{count} appointment{'s' if count != 1 else ''} this week")
        else:
            if self.model.day is None:
                return
            count = self.model.shown_appointment_count()
            self.summary_label.setText(f"{count} appointment{'s' if count != 1 else ''}")

    # -- construction -----------------------------------------------------------------------
    def _build_toolbar(self) -> None:
        """The "Actions" toolbar, after navigation's "Day" and "Show" (``self.toolbars`` puts them
        side by side in a wide window, on rows of their own when they do not fit)."""
        bar = self.toolbars.add("Actions", "actionsToolbar")
        self.refresh_action = QAction("Refresh", self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(lambda: self.publish_changes(Changes.all()))
        bar.addAction(self.refresh_action)
        self.book_action = QAction("New appointment…", self)
        self.book_action.setObjectName("newAppointment")
        self.book_action.setShortcut(QKeySequence.StandardKey.New)
        self.book_action.triggered.connect(lambda: self.book_from_grid())
        bar.addAction(self.book_action)
        book_button = bar.widgetForAction(self.book_action)
        if book_button is not None:
            book_button.setObjectName("newAppointmentButton")
        self.find_patient_action = QAction("Find patient…", self)
        self.find_patient_action.setObjectName("findPatient")
        self.find_patient_action.setShortcut(QKeySequence.StandardKey.Find)
        self.find_patient_action.setStatusTip("Find a patient by name, phone or date of birth (or just type)")
        self.find_patient_action.triggered.connect(lambda: self.find_patient())
        bar.addAction(self.find_patient_action)
        self.open_patient_action = QAction("Open patient", self)
        self.open_patient_action.setObjectName("openPatient")
        self.open_patient_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_patient_action.setStatusTip("Open the selected appointment's patient record")
        self.open_patient_action.triggered.connect(lambda: self.open_patient())
        self.addAction(self.open_patient_action)
        self.walk_in_action = QAction("Walk-in…", self)
        self.walk_in_action.setObjectName("walkIn")
        self.walk_in_action.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Modifier.SHIFT | Qt.Key.Key_W))
        self.walk_in_action.setStatusTip("Book a patient who is here now on the first free doctor, and check them in")
        self.walk_in_action.triggered.connect(lambda: self.open_walk_in_dialog())
        bar.addAction(self.walk_in_action)
        self.reschedule_action = QAction("Reschedule…", self)
        self.reschedule_action.setObjectName("rescheduleAppointment")
        self.reschedule_action.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_R))
        self.reschedule_action.setStatusTip("Move the selected appointment to one of the next free starts")
        self.reschedule_action.setEnabled(False)
        self.reschedule_action.triggered.connect(lambda: self.open_reschedule_dialog())
        self.addAction(self.reschedule_action)
        actions = self.appointment_actions = AppointmentActions(self, self._db, self._clock, bar)
        actions.appointment_changed.connect(self.appointment_changed)
        actions.menu_opened.connect(self.appointment_menu_opened)
        self.status_actions, self.lifecycle_actions = actions.status_actions, actions.lifecycle_actions
        self.appointment_menu = actions.appointment_menu
        self._build_print_actions(bar)
        self.help_action = QAction("Keyboard shortcuts", self)
        self.help_action.setObjectName("keyboardShortcuts")
        self.help_action.setShortcut(QKeySequence.StandardKey.HelpContents)
        self.help_action.triggered.connect(self.show_shortcuts)
        self.addAction(self.help_action)
        self._shortcut_sheet: ShortcutSheet | None = None


    def _build_menus(self) -> None:
        """The menu bar: every window action in one place, with its shortcut shown (Alt opens it)."""
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.file_menu.setObjectName("fileMenu")
        self.file_menu.addActions([self.print_sheet_action, self.print_list_action])
        self.file_menu.addSeparator()
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.setObjectName("settingsAction")
        self.settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.settings_action.setStatusTip("Connection and idle-lock settings")
        self.settings_action.triggered.connect(self.settings_requested)
        self.file_menu.addAction(self.settings_action)
        self.file_menu.addSeparator()
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setObjectName("quitAction")
        self.quit_action.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_Q))
        self.quit_action.triggered.connect(self.close)
        self.addAction(self.quit_action)
        self.file_menu.addAction(self.quit_action)

        self.view_menu = bar.addMenu("&View")
        self.view_menu.setObjectName("viewMenu")
        self.view_menu.addActions([self.day_mode_action, self.week_mode_action])
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.show_cancelled_action)
        self.view_menu.addSeparator()
        self.view_menu.addActions([self.prev_action, self.today_action, self.next_action, self.refresh_action])
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.calendar_dock.toggleViewAction())
        self.view_menu.addAction(self.my_day_dock.toggleViewAction())

        self.appointment_bar_menu = bar.addMenu("&Appointment")
        self.appointment_bar_menu.setObjectName("appointmentBarMenu")
        self.appointment_bar_menu.addActions([self.book_action, self.walk_in_action])
        self.appointment_bar_menu.addSeparator()
        self.appointment_bar_menu.addActions(list(self.status_actions.values()))
        self.appointment_bar_menu.addActions(list(self.lifecycle_actions.values()))
        self.appointment_bar_menu.addSeparator()
        self.appointment_bar_menu.addAction(self.reschedule_action)

        self.patient_menu = bar.addMenu("&Patient")
        self.patient_menu.setObjectName("patientMenu")
        self.patient_menu.addActions([self.find_patient_action, self.open_patient_action])

        self.clinic_menu = self._add_clinic_menus(self.appointment_bar_menu)

        self.help_menu = bar.addMenu("&Help")
        self.help_menu.setObjectName("helpMenu")
        self.help_menu.addAction(self.help_action)

    def set_idle_lock(self, lock: IdleLock) -> None:
        """Offer the idle lock's "Lock" action (Ctrl+L) in the window (``ui.app`` calls this)."""
        self.lock_action = lock.create_action(self)
        self.addAction(self.lock_action)
        self.file_menu.insertAction(self.settings_action, self.lock_action)

    def show_shortcuts(self) -> ShortcutSheet:
        """Show the keyboard sheet (F1), built from this window's actions; one at a time."""
        if self._shortcut_sheet is None:
            actions = [a for a in self.findChildren(QAction) if a is not self.help_action]
            self._shortcut_sheet = ShortcutSheet([*actions, self.help_action], self)
            self._shortcut_sheet.finished.connect(self._on_shortcut_sheet_finished)
        self._shortcut_sheet.show()
        self._shortcut_sheet.raise_()
        return self._shortcut_sheet

    def _on_shortcut_sheet_finished(self, _result: int) -> None:
        if self._shortcut_sheet is not None:
            self._shortcut_sheet.deleteLater()
            self._shortcut_sheet = None


    def _build_status_bar(self, database_label: str) -> None:
        status = self.statusBar()
        self.busy_label = QLabel()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.setTextVisible(False)
        self.busy_label.hide()
        self.busy_bar.hide()
        # Permanent (right-hand) widgets: a normal status-bar widget shown while a message is up is
        # drawn under the message's text — after a reconnect "Loading…" and the message overlapped.
        status.addPermanentWidget(self.busy_label)
        status.addPermanentWidget(self.busy_bar)
        self.database_label = QLabel(database_label)
        self.database_label.setObjectName("databaseLabel")
        self.zone_label = QLabel()
        self.zone_label.setObjectName("zoneLabel")
        status.addPermanentWidget(self.database_label)
        status.addPermanentWidget(self.zone_label)
        self._busy_timer = QTimer(self)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(PROGRESS_DELAY_MS)
        self._busy_timer.timeout.connect(self._on_busy_timer_timeout)
        self._busy_text = "Working…"


    # -- loading ------------------------------------------------------------------------------------
    def reload_day(self) -> None:
        """Reload the day shown from the database (in the background)."""
        if self.branch is None or self.day is None:
            return
        branch_id, day = self.branch.id, self.day
        if self.mode == "week":
            self._busy_text = "Loading the week…"
            self.runner.run(lambda: load_week(self._db, branch_id, week_start(day)), on_success=self._on_week_loaded,
                            key="day", label="load week")
            return
        self._busy_text = "Loading the day…"
        self.runner.run(lambda: load_day(self._db, branch_id, day), on_success=self._on_day_loaded,
                        key="day", label="load day")

    def _on_day_loaded(self, view: DayView) -> None:
        if self.mode != "day" or self.branch is None or view.branch.id != self.branch.id \
                or view.local_date != self.day:
            return  # the user moved on meanwhile
        old = self.model.day
        same = old is not None and old.branch.id == view.branch.id and old.local_date == view.local_date
        self._show_loaded(lambda: self.model.set_day(view), same, view.opening)
        self._update_titles(view)
        self.docks.set_doctors([r for r in view.resources if r.kind == "doctor"])
        self._after_load(("day", view.branch.id, view.local_date))
        self.day_loaded.emit(view)

    def _on_week_loaded(self, view: WeekView) -> None:
        if self.mode != "week" or self.branch is None or self.day is None \
                or view.branch.id != self.branch.id or view.monday != week_start(self.day):
            return  # the user moved on meanwhile
        old = self.week_model.week
        same = old is not None and old.branch.id == view.branch.id and old.monday == view.monday
        self.week_overview_model.set_week(view)
        self._show_loaded(lambda: self.week_model.set_week(view), same,
                          tuple(w for d in view.days for w in d.opening))
        union: dict[int, GridResource] = {}
        for d in view.days:
            for r in d.resources:
                union.setdefault(r.id, r)
        self.nav.fill_week_picker(sorted(union.values(), key=lambda r: (
            KINDS.index(r.kind) if r.kind in KINDS else len(KINDS), r.name)))
        self.docks.set_doctors(sorted((r for r in union.values() if r.kind == "doctor"), key=lambda r: r.name))
        self._update_week_titles(view)
        self._after_load(("week", view.branch.id, view.monday))
        self.week_loaded.emit(view)

    def _after_load(self, shown: tuple) -> None:
        """Tint what is shown on the month calendar; when it is a new day, week or branch (not a
        reload after a change: the docks reloaded from that change themselves), load the docks'
        views of it too."""
        self.docks.tint_calendar()
        if shown != self._loaded_view:
            self._loaded_view = shown
            self.docks.show_calendar()
            self.docks.reload_my_day()

    # -- the change bus -------------------------------------------------------------------------------
    def _on_changes(self, changes: Changes) -> None:
        """The grid's subscription: reload the day or week shown when ``changes`` touches it."""
        if self.branch is not None and changes.touches(self.branch.id, self.shown_days()):
            self.reload_day()

    def _show_loaded(self, fill: Callable[[], None], same: bool, opening: tuple) -> None:
        """Put a loaded day or week into the active model; on a reload of the same day or week
        (after a change, live or periodic) stay on the same cell; else scroll to now or opening."""
        current = self.grid.currentIndex()
        keep = (current.row(), current.column()) if current.isValid() else None
        fill()
        model = self.grid_model
        if keep is not None and same:
            index = model.index(*keep)
            if index.isValid():
                self.grid.setCurrentIndex(index)
        self.update_appointment_actions()
        now = self._clock()
        self.grid.set_now(now)
        if self._scroll_pending:
            self._scroll_pending = False
            target = now if model.row_of(now) is not None else (min(opening)[0] if opening else None)
            if target is not None:
                # Today: keep the last hour in sight (who has arrived), then what comes next.
                self.grid.scroll_to_instant(target - timedelta(hours=1) if target == now else target)
            else:
                self.grid.scrollToTop()
            self._scroll_to_own_column()

    def _scroll_to_own_column(self) -> None:
        """A signed-in doctor's first look: bring their own column (of the day shown, in the
        week view) into sight, keeping the rows scrolled to."""
        model, own = self.grid_model, self.session_doctor
        columns = [c for c, r in enumerate(model.columns) if own is not None and r.id == own]
        if not columns:
            return
        if self.mode == "week":
            columns = [c for c in columns if self.week_model.date_of_column(c) == self.day] or columns
        top = max(0, self.grid.rowAt(0))
        self.grid.scrollTo(model.index(top, columns[0]), DayGridView.ScrollHint.EnsureVisible)

    def _update_week_titles(self, view: WeekView) -> None:
        first, last = view.monday, view.days[-1].local_date
        span = f"{first.day} {first:%b}" + (f" {first.year}" if first.year != last.year else "")
        self.title_label.setText(f"Week of {span} – {last.day} {last:%b %Y} · {view.branch.name}")
        notes = [f"{d.local_date:%a}: holiday ({d.holiday})" for d in view.days if d.holiday]
        self.day_note.setText(" · ".join(notes))
        self.day_note.setVisible(bool(notes))
        self._update_summary()

    def _update_titles(self, view: DayView) -> None:
        d = view.local_date
        self.title_label.setText(f"{d:%A}, {d.day} {d:%B %Y} · {view.branch.name}")
        notes = []
        if view.holiday:
            notes.append(f"Holiday: {view.holiday} — closed")
        elif view.closed:
            notes.append("Closed")
        first, last = day_bounds_utc(d, view.tz)
        hours = (last - first) / timedelta(hours=1)
        if hours != 24:
            before, after = utc_offset_text(first.astimezone(view.tz)), utc_offset_text(last.astimezone(view.tz))
            notes.append(f"Clocks change today: {hours:g}-hour day ({before} → {after})")
        self.day_note.setText(" · ".join(notes))
        self.day_note.setVisible(bool(notes))
        self._update_summary()
        noon = datetime(d.year, d.month, d.day, 12, tzinfo=view.tz)
        self.zone_label.setText(f"Time zone: {view.branch.timezone} ({utc_offset_text(noon)})")


    def _on_refresh_timer_timeout(self) -> None:
        """The periodic back-up for missed notifications: everything shown may have changed."""
        self.grid.set_now(self._clock())
        if self.runner.offline:
            return  # the connection monitor reloads when the database is back
        if self.booking_dialog is None:
            self.publish_changes(Changes.all())

    def _on_runner_failed(self, message: str) -> None:
        show_error(self, message)

    def _on_runner_crashed(self, message: str) -> None:
        show_crash(self, message)

    def _on_runner_busy_changed(self, busy: bool) -> None:
        if busy:
            self._busy_timer.start()
        else:
            self._busy_timer.stop()
            self.busy_label.hide()
            self.busy_bar.hide()

    def _on_busy_timer_timeout(self) -> None:
        if self.runner.busy:
            self.busy_label.setText(self._busy_text)
            self.busy_label.show()
            self.busy_bar.show()

    def set_controls_enabled(self, enabled: bool) -> None:
        """Enable or disable what needs a branch shown: moving, refresh, booking, the actions."""
        self.nav.set_enabled(enabled)
        self.refresh_action.setEnabled(enabled)
        for action in (self.book_action, self.walk_in_action):
            action.setEnabled(enabled and self.capabilities.book)
            action.setVisible(self.capabilities.book)
        self.appointment_actions.set_enabled(enabled)


    # -- closing -----------------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the timers and the live feed, remember the open dialogs' places and, if the window
        owns the runner, wait for running work."""
        if self._live_feed is not None:
            self._live_feed.stop()
        self.dialogs.save_all()
        self.settings.setValue(GEOMETRY_KEY, self.saveGeometry())
        self._refresh_timer.stop()
        self._busy_timer.stop()
        self.connection_monitor.stop()
        if self._owns_runner:
            self.runner.shutdown()
        super().closeEvent(event)
