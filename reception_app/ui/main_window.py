"""The main window: one branch's day as a grid of resources, with navigation and booking.

Everything it shows comes from the read model (``services.dayview``) loaded
through the shared :class:`~.runner.Runner`; the window never waits for the
database. Dependencies are injected (database, runner, clock, first day) so
tests run it against a test database at a fixed time. Its docks are in
``window_docks`` and its print actions in ``window_printing`` (both on the
shared state declared by ``window_base``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QFont, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError
from ..domain.roles import Capabilities, capabilities
from ..domain.slots import KINDS
from ..domain.wallclock import day_bounds_utc
from ..services import scheduling, waitlist
from ..services.dayview import (
    BranchSummary,
    DayView,
    GridResource,
    ServiceSummary,
    WeekView,
    list_branches,
    load_day,
    load_week,
    utc_offset_text,
    week_start,
)
from ..services.my_day import MyDayRow
from ..services.patients import PatientView
from ..services.scheduling import AppointmentView
from ..store.database import Database
from . import appointment_actions, colors
from .appointment_actions import (
    ACTIONS,
    LIFECYCLE_ACTIONS,
    PAYMENT_ACTION,
    AppointmentAction,
    LifecycleAction,
    is_allowed,
    lifecycle_allowed,
)
from .booking_dialog import BookingDialog
from .connection_banner import ConnectionBanner, ConnectionMonitor
from .day_model import DayGridModel
from .day_view import DayGridView
from .history_dialog import may_read_history
from .idle_lock import IdleLock
from .legend import legend_widget
from .live import LiveSchedule
from .messages import APP_TITLE, show_crash, show_error
from .patient_dialog import PatientRecordDialog, PatientSearchDialog
from .reschedule_dialog import RescheduleDialog
from .resource_selection import ResourceSelection, ResourceSelectionDialog, SelectionStore
from .runner import Clock, Runner
from .shortcuts_dialog import ShortcutSheet
from .walk_in_dialog import WalkInDialog
from .week_model import WeekGridModel
from .window_clinic import WindowClinic
from .window_docks import WindowDocks
from .window_printing import WindowPrinting

if TYPE_CHECKING:
    from .payment_dialog import PaymentDialog

log = logging.getLogger(__name__)

FirstRun = Callable[[Database], str]

#: Show the busy indicator only for work that lasts longer than this (Anki: ~600 ms).
PROGRESS_DELAY_MS = 600

#: "… does not use a room": resource kinds in a sentence.
_KIND_WITH_ARTICLE = {"doctor": "a doctor", "room": "a room", "equipment": "equipment"}

_SETS = (("all", "All"), ("doctor", "Doctors"), ("room", "Rooms"), ("equipment", "Equipment"))


#: Milliseconds to wait after a live notification before reloading (coalesces bursts).
LIVE_DEBOUNCE_MS = 60


def window_title(session: object | None) -> str:
    """``"Clinic Reception — ana (manager)"``: the product once, then who is signed in and as what
    (``session``: anything with ``login`` and ``role``; none, or no login: ``"Clinic Reception"``).
    The application sets no display name, so Qt adds nothing to it (see ``ui.app``)."""
    login = getattr(session, "login", None)
    if not login:
        return APP_TITLE
    role = getattr(session, "role", None)
    return f"{APP_TITLE} — {login} ({role})" if role else f"{APP_TITLE} — {login}"


class MainWindow(WindowDocks, WindowPrinting, WindowClinic):
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
    (debounced by ``LIVE_DEBOUNCE_MS``), and so does a reconnection of the listener.

    Status actions (``appointment_actions``: check in, start, complete,
    no-show, cancel) act on the current grid cell's appointment; they are in
    the "Appointment" toolbar menu, the block's context menu and on their
    shortcuts, enabled only when the lifecycle allows them.

    Dragging a block to another cell moves it (``scheduling.move``, in the
    background): to the drop row's time, and to the drop column's resource when
    that is of a kind the service books (other kinds are refused here, with a
    status message). The outcome is told in the status bar; the day is reloaded
    either way, so a refused move leaves the block where it was.

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
        dialog_opened(object): the reschedule or walk-in dialog was opened.
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

    def __init__(self, db: Database, *, runner: Runner | None = None, clock: Clock | None = None,
                 day: date | None = None, branch: str | None = None, database_label: str = "Database server",
                 log_path: Path | str | None = None, first_run: FirstRun | None = None,
                 refresh_ms: int = 60_000, live: LiveSchedule | None = None,
                 session: object | None = None, selection_store: SelectionStore | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self.session = session
        self.selection_store = selection_store or SelectionStore()
        self.capabilities: Capabilities = capabilities(getattr(session, "role", None))
        self._owns_runner = runner is None
        self.runner = runner or Runner(self, log_path=log_path)
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self._day: date | None = day
        self._wanted_branch = branch
        self._first_run = first_run
        self._branches: list[BranchSummary] = []
        self._branch: BranchSummary | None = None
        self._services: list[ServiceSummary] | None = None
        self._dialog: BookingDialog | None = None
        self._scroll_pending = True
        self._controls_enabled = False
        self._status_change_pending = False
        self._menu: QMenu | None = None
        self.print_preview: QWidget | None = None
        self._patient_search: PatientSearchDialog | None = None

        self.setWindowTitle(window_title(session))
        self.setObjectName("mainWindow")
        self.resize(1280, 820)

        self.model = DayGridModel(self)
        self.week_model = WeekGridModel(self)
        self._mode = "day"
        self._week: date | None = None  # the Monday of the week shown in week mode
        self.grid = DayGridView()
        self.grid.setObjectName("dayGrid")
        self.grid.setModel(self.model)
        self.grid.booking_requested.connect(self._on_grid_booking_requested)
        self.grid.appointment_activated.connect(self._on_grid_appointment_activated)
        self.grid.appointment_menu_requested.connect(self._on_grid_appointment_menu_requested)
        self.grid.move_requested.connect(self._on_grid_move_requested)
        self.grid.search_typed.connect(self._on_grid_search_typed)
        self.grid.current_cell_changed.connect(self._on_grid_current_changed)
        for m in (self.model, self.week_model):
            m.modelReset.connect(self._update_appointment_actions)  # resets clear the current cell silently

        self._build_toolbar()
        self._build_calendar_dock()
        self.month_calendar.date_chosen.connect(self.set_day)
        self._build_my_day_dock()
        for signal, key in ((self.my_day_panel.check_in_requested, "check_in"),
                            (self.my_day_panel.start_requested, "start"),
                            (self.my_day_panel.complete_requested, "complete"),
                            (self.my_day_panel.no_show_requested, "no_show")):
            signal.connect(lambda row, key=key: self._on_my_day_action(key, row))
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
        self.connection_monitor.restored.connect(self.reload_day)
        v.addWidget(self.connection_banner)
        v.addLayout(title_row)
        v.addWidget(self.grid, 1)
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
        # Live refresh: bursts of notifications (one per statement) become one reload.
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DEBOUNCE_MS)
        self._live_timer.timeout.connect(self.reload_day)
        self._live = live
        if live is not None:
            live.schedule_changed.connect(self._on_live_schedule_changed)
            live.reconnected.connect(self._live_timer.start)
        self._set_controls_enabled(False)
        self.reload_branches()

    # -- construction -----------------------------------------------------------------------
    def _add_toolbar(self, title: str, name: str) -> QToolBar:
        bar = QToolBar(title)
        bar.setObjectName(name)
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(bar)
        self._toolbars.append(bar)
        return bar

    def _build_toolbar(self) -> None:
        """Three toolbars (the day, what to show, actions): side by side in a wide window, on
        rows of their own when they do not fit (:meth:`arrange_toolbars`), so large text or a
        narrow window never hides an action."""
        self._toolbars: list[QToolBar] = []
        self._toolbar_breaks: set[int] = set()
        bar = self._add_toolbar("Day", "dayToolbar")

        bar.addWidget(QLabel(" Branch "))
        self.branch_combo = QComboBox()
        self.branch_combo.setObjectName("branchCombo")
        self.branch_combo.setMinimumWidth(140)
        self.branch_combo.currentIndexChanged.connect(self._on_branch_index_changed)
        bar.addWidget(self.branch_combo)
        bar.addSeparator()

        self.prev_action = QAction("◀  Previous", self)
        self.prev_action.setShortcut(QKeySequence(Qt.Modifier.ALT | Qt.Key.Key_Left))
        self.prev_action.setToolTip("Previous day (Alt+Left)")
        self.prev_action.triggered.connect(lambda: self._step_day(-1))
        self.today_action = QAction("Today", self)
        self.today_action.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_T))
        self.today_action.setToolTip("Today in the branch's time zone (Ctrl+T)")
        self.today_action.triggered.connect(self.go_today)
        self.next_action = QAction("Next  ▶", self)
        self.next_action.setShortcut(QKeySequence(Qt.Modifier.ALT | Qt.Key.Key_Right))
        self.next_action.setToolTip("Next day (Alt+Right)")
        self.next_action.triggered.connect(lambda: self._step_day(1))
        for action in (self.prev_action, self.today_action, self.next_action):
            bar.addAction(action)
        self.date_edit = QDateEdit()
        self.date_edit.setObjectName("dayPicker")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("ddd d MMM yyyy")
        self.date_edit.setMinimumWidth(150)
        self.date_edit.dateChanged.connect(self._on_date_picker_changed)
        bar.addWidget(self.date_edit)

        bar = self._add_toolbar("Show", "showToolbar")
        bar.addWidget(QLabel(" Show "))
        self.set_buttons = QButtonGroup(self)
        self.set_buttons.setExclusive(True)
        for i, (key, text) in enumerate(_SETS):
            button = QToolButton()
            button.setText(text)
            button.setCheckable(True)
            button.setObjectName(f"show_{key}")
            button.setChecked(key == "all")
            self.set_buttons.addButton(button, i)
            bar.addWidget(button)
        self.set_buttons.idClicked.connect(self._on_resource_set_clicked)
        self._build_selection_menu(bar)
        bar.addSeparator()
        self.day_mode_action = QAction("Day", self)
        self.day_mode_action.setObjectName("dayMode")
        self.day_mode_action.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_1))
        self.day_mode_action.setToolTip("Show one day (Ctrl+1)")
        self.week_mode_action = QAction("Week", self)
        self.week_mode_action.setObjectName("weekMode")
        self.week_mode_action.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_2))
        self.week_mode_action.setToolTip("Show Monday to Sunday (Ctrl+2)")
        for action, mode in ((self.day_mode_action, "day"), (self.week_mode_action, "week")):
            action.setCheckable(True)
            action.triggered.connect(lambda _checked=False, mode=mode: self.set_mode(mode))
            bar.addAction(action)
        self.day_mode_action.setChecked(True)

        bar = self._add_toolbar("Actions", "actionsToolbar")
        self.refresh_action = QAction("Refresh", self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(self.reload_day)
        bar.addAction(self.refresh_action)
        self.book_action = QAction("New appointment…", self)
        self.book_action.setObjectName("newAppointment")
        self.book_action.setShortcut(QKeySequence.StandardKey.New)
        self.book_action.triggered.connect(lambda: self.open_booking_dialog())
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
        self._build_appointment_actions(bar)
        self._build_print_actions(bar)
        self.help_action = QAction("Keyboard shortcuts", self)
        self.help_action.setObjectName("keyboardShortcuts")
        self.help_action.setShortcut(QKeySequence.StandardKey.HelpContents)
        self.help_action.triggered.connect(self.show_shortcuts)
        self.addAction(self.help_action)
        self._shortcut_sheet: ShortcutSheet | None = None

    def arrange_toolbars(self) -> None:
        """Put the toolbars side by side while they fit the window's width; a toolbar that does
        not fit starts a row of its own."""
        used, breaks = 0, set()
        for i, bar in enumerate(self._toolbars):
            need = bar.sizeHint().width()
            if i and used + need > self.width():
                breaks.add(i)
                used = 0
            used += need
        if breaks == self._toolbar_breaks:
            return
        for i in self._toolbar_breaks - breaks:
            self.removeToolBarBreak(self._toolbars[i])
        for i in breaks - self._toolbar_breaks:
            self.insertToolBarBreak(self._toolbars[i])
        self._toolbar_breaks = breaks

    def toolbar_rows(self) -> list[list[QToolBar]]:
        """The toolbars as arranged, row by row."""
        rows: list[list[QToolBar]] = []
        for i, bar in enumerate(self._toolbars):
            if not rows or i in self._toolbar_breaks:
                rows.append([])
            rows[-1].append(bar)
        return rows

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Re-arrange the toolbars for the new width."""
        super().resizeEvent(event)
        self.arrange_toolbars()

    def _build_selection_menu(self, bar: QToolBar) -> None:
        """"Selections ▾": the branch's saved resource selections (``ui.resource_selection``), one
        click to show only those columns; "New selection…" and "Edit this selection…"."""
        self.selection_menu = QMenu("Selections", self)
        self.selection_menu.setObjectName("selectionMenu")
        self.selection_menu.aboutToShow.connect(self._fill_selection_menu)
        self.new_selection_action = QAction("New selection…", self)
        self.new_selection_action.setObjectName("newSelection")
        self.new_selection_action.triggered.connect(lambda: self.edit_selection(None))
        button = QToolButton()
        button.setObjectName("selectionMenuButton")
        button.setText("Selections ▾")
        button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        button.setAccessibleName("Saved resource selections")
        button.setToolTip("Show a saved selection of doctors, rooms and equipment")
        button.setMenu(self.selection_menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        bar.addWidget(button)
        self._selection: ResourceSelection | None = None

    def _fill_selection_menu(self) -> None:
        menu = self.selection_menu
        menu.clear()
        if self._branch is not None:
            for sel in self.selection_store.list(self._branch.id):
                action = menu.addAction(sel.name)
                action.setCheckable(True)
                action.setChecked(self._selection is not None and self._selection.name == sel.name)
                action.triggered.connect(lambda _checked=False, sel=sel: self.apply_selection(sel))
            menu.addSeparator()
        menu.addAction(self.new_selection_action)
        if self._selection is not None:
            edit = menu.addAction(f"Edit “{self._selection.name}”…")
            edit.triggered.connect(lambda: self.edit_selection(self._selection))

    def apply_selection(self, selection: ResourceSelection | None) -> None:
        """Show only ``selection``'s resources (both day and week); ``None`` goes back to the
        kind buttons (All, Doctors, Rooms, Equipment)."""
        self._selection = selection
        ids = selection.resource_ids if selection is not None else None
        self.set_buttons.setExclusive(False)
        for button in self.set_buttons.buttons():
            button.setChecked(False)
        self.set_buttons.setExclusive(True)
        if selection is None:
            key = self.model.resource_set
            self.set_buttons.button([k for k, _ in _SETS].index(key)).setChecked(True)
        for m in (self.model, self.week_model):
            m.set_resource_filter(ids)

    def edit_selection(self, selection: ResourceSelection | None) -> ResourceSelectionDialog | None:
        """Open the dialog that creates (``None``) or edits a saved selection of this branch."""
        view = self.model.day or (self.week_model.week.days[0] if self.week_model.week else None)
        if self._branch is None or view is None:
            return None
        dialog = ResourceSelectionDialog(self.selection_store, self._branch.id, view.resources,
                                         selection=selection, parent=self)
        dialog.selection_saved.connect(self.apply_selection)
        dialog.selection_deleted.connect(lambda _name: self.apply_selection(None))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def _on_my_day_action(self, key: str, row: MyDayRow) -> None:
        spec = next(s for s in ACTIONS if s.key == key)
        if self._status_change_pending or not self.capabilities.allows_status(key):
            return
        tz = ZoneInfo(row.timezone)
        self._change_status_of(spec, row.appointment_id, f"{row.patient} {row.start.astimezone(tz):%H:%M}", None)

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

    def _build_appointment_actions(self, bar: QToolBar) -> None:
        """One window action per ``appointment_actions.ACTIONS`` entry (shortcuts work window-wide),
        shown in the "Appointment" toolbar menu and, the same objects, in the blocks' context menu."""
        self.status_actions: dict[str, QAction] = {}
        for spec in ACTIONS:
            action = QAction(spec.label, self)
            action.setObjectName(f"appointment_{spec.key}")
            action.setShortcut(QKeySequence(spec.shortcut))
            shortcut_text = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{spec.label.rstrip('…')} the selected appointment ({shortcut_text})")
            action.setStatusTip(f"{spec.label.rstrip('…')} the selected appointment")
            action.setEnabled(False)
            action.triggered.connect(lambda _checked=False, spec=spec: self._on_appointment_action_triggered(spec))
            self.addAction(action)  # shortcuts fire wherever the focus is in the window
            self.status_actions[spec.key] = action
        # Issue 4's lifecycle actions (confirm a hold, approve a request, cancel for the patient) and
        # "Payments…": the same pattern, their own rule of when they are offered (``lifecycle_allowed``).
        self.lifecycle_actions: dict[str, QAction] = {}
        for life in (*LIFECYCLE_ACTIONS, PAYMENT_ACTION):
            action = QAction(life.label, self)
            action.setObjectName(f"appointment_{life.key}")
            action.setShortcut(QKeySequence(life.shortcut))
            action.setStatusTip(f"{life.label.rstrip('…')}: the selected appointment")
            action.setEnabled(False)
            action.triggered.connect(lambda _checked=False, life=life: self._on_lifecycle_action_triggered(life))
            self.addAction(action)
            self.lifecycle_actions[life.key] = action
        self.appointment_menu = QMenu("Appointment", self)
        self.appointment_menu.setObjectName("appointmentMenu")
        self.appointment_menu.setAccessibleName("Appointment actions")
        self.appointment_menu.addActions(list(self.status_actions.values()))
        self.appointment_menu.addActions(list(self.lifecycle_actions.values()))
        self.appointment_menu.addSeparator()
        self.appointment_menu.addActions([self.reschedule_action, self.open_patient_action])
        button = QToolButton()
        button.setObjectName("appointmentMenuButton")
        button.setText("Appointment ▾")
        # The style's own indicator is drawn over the text of a text-only tool button: use the ▾ instead.
        button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        button.setAccessibleName("Appointment actions")
        button.setToolTip("Status actions for the selected appointment")
        button.setMenu(self.appointment_menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        bar.addWidget(button)

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
        status.addWidget(self.busy_label)
        status.addWidget(self.busy_bar)
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

    # -- state ---------------------------------------------------------------------------------
    @property
    def branch(self) -> BranchSummary | None:
        """The branch shown."""
        return self._branch

    @property
    def day(self) -> date | None:
        """The branch-local date shown (or about to be)."""
        return self._day

    @property
    def branches(self) -> list[BranchSummary]:
        """The branches in the selector."""
        return list(self._branches)

    def set_day(self, local_date: date) -> None:
        """Show branch-local ``local_date`` (loads in the background)."""
        if local_date == self._day and self._shows(local_date):
            return
        self._day = local_date
        self._scroll_pending = True
        self.date_edit.blockSignals(True)
        self.date_edit.setDate(QDate(local_date.year, local_date.month, local_date.day))
        self.date_edit.blockSignals(False)
        self.reload_day()

    def _shows(self, local_date: date) -> bool:
        """Whether the active model already holds ``local_date`` (the day, or a day of the week)."""
        if self._mode == "week":
            week = self.week_model.week
            return week is not None and week.monday == week_start(local_date)
        return self.model.day is not None and self.model.day.local_date == local_date

    @property
    def mode(self) -> str:
        """``"day"`` or ``"week"``: what the grid shows."""
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Show the ``"day"`` or the ``"week"`` (Monday to Sunday of the day shown); loads in
        the background. Raises ``ValueError`` for another mode."""
        if mode not in ("day", "week"):
            raise ValueError(f"mode must be 'day' or 'week', not {mode!r}")
        self.day_mode_action.setChecked(mode == "day")
        self.week_mode_action.setChecked(mode == "week")
        if mode == self._mode:
            return
        self._mode = mode
        self.grid.setModel(self.grid_model)
        self._scroll_pending = True
        self._update_appointment_actions()
        self.reload_day()

    def set_branch(self, name: str) -> None:
        """Show the branch called ``name``. Raises ``KeyError`` if it is not in the selector."""
        for i, b in enumerate(self._branches):
            if b.name == name:
                self.branch_combo.setCurrentIndex(i)
                return
        raise KeyError(name)

    def set_resource_set(self, resource_set: str) -> None:
        """Show ``"all"`` resources or one kind (``"doctor"``, ``"room"``, ``"equipment"``); a saved
        selection shown gives way to it."""
        keys = [k for k, _ in _SETS]
        self.set_buttons.button(keys.index(resource_set)).setChecked(True)
        self._selection = None
        for m in (self.model, self.week_model):
            m.set_resource_filter(None)
            m.set_resource_set(resource_set)

    def go_today(self) -> None:
        """Show today in the branch's time zone."""
        if self._branch is not None:
            self.set_day(self._clock().astimezone(self._branch.tz).date())

    def _step_day(self, days: int) -> None:
        """Previous/next: a day in day mode, a week in week mode."""
        if self._day is not None:
            step = days * (7 if self._mode == "week" else 1)
            self.set_day(self._day + timedelta(days=step))  # local *dates*: no DST arithmetic involved

    # -- loading ------------------------------------------------------------------------------------
    def reload_branches(self) -> None:
        """Load the branch list (and, on a database without branches, run the first-run set-up)."""
        self._busy_text = "Connecting…"
        self.runner.run(lambda: list_branches(self._db), on_success=self._on_branches_listed,
                        key="branches", label="list branches")

    def _on_branches_listed(self, branches: list[BranchSummary]) -> None:
        if not branches and self._first_run is not None:
            first_run, self._first_run = self._first_run, None
            self.title_label.setText("Setting up the demo clinic…")
            self._busy_text = "Loading the demo clinic (first run; this takes a minute)…"
            self._busy_timer.start(0)
            self.runner.run(lambda: first_run(self._db), on_success=self._on_first_run_done,
                            on_failure=self._on_first_run_failed, label="first run")
            return
        self._branches = list(branches)
        self.branch_combo.blockSignals(True)
        self.branch_combo.clear()
        for b in self._branches:
            self.branch_combo.addItem(b.name)
        self.branch_combo.blockSignals(False)
        self.branches_loaded.emit(len(self._branches))
        if not self._branches:
            self.title_label.setText("No branches yet")
            self.summary_label.setText("Apply a clinic configuration: clinic config apply <file.toml>")
            return
        names = [b.name for b in self._branches]
        wanted = self._wanted_branch if self._wanted_branch in names else names[0]
        self._set_controls_enabled(True)
        self.branch_combo.setCurrentIndex(names.index(wanted))
        if self._branch is None or self._branch.name != wanted:
            self._on_branch_index_changed(names.index(wanted))

    def _on_first_run_done(self, summary: str) -> None:
        log.info("first run: %s", summary)
        self.statusBar().showMessage(summary, 15_000)
        self.reload_branches()

    def _on_first_run_failed(self, error: ClinicError) -> None:
        show_error(self, f"The demo clinic could not be loaded: {error}")
        self.reload_branches()

    def reload_day(self) -> None:
        """Reload the day shown from the database (in the background)."""
        if self._branch is None or self._day is None:
            return
        branch_id, day = self._branch.id, self._day
        if self._mode == "week":
            self._busy_text = "Loading the week…"
            self.runner.run(lambda: load_week(self._db, branch_id, week_start(day)), on_success=self._on_week_loaded,
                            key="day", label="load week")
            return
        self._busy_text = "Loading the day…"
        self.runner.run(lambda: load_day(self._db, branch_id, day), on_success=self._on_day_loaded,
                        key="day", label="load day")

    def _on_day_loaded(self, view: DayView) -> None:
        if self._mode != "day" or self._branch is None or view.branch.id != self._branch.id \
                or view.local_date != self._day:
            return  # the user moved on meanwhile
        old = self.model.day
        same = old is not None and old.branch.id == view.branch.id and old.local_date == view.local_date
        self._show_loaded(lambda: self.model.set_day(view), same, view.opening)
        self._update_titles(view)
        self._month_calendar_show()
        self.reload_my_day()
        self.day_loaded.emit(view)

    def _on_week_loaded(self, view: WeekView) -> None:
        if self._mode != "week" or self._branch is None or self._day is None \
                or view.branch.id != self._branch.id or view.monday != week_start(self._day):
            return  # the user moved on meanwhile
        old = self.week_model.week
        same = old is not None and old.branch.id == view.branch.id and old.monday == view.monday
        self._show_loaded(lambda: self.week_model.set_week(view), same,
                          tuple(w for d in view.days for w in d.opening))
        self._update_week_titles(view)
        self._month_calendar_show()
        self.reload_my_day()
        self.week_loaded.emit(view)

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
        self._update_appointment_actions()
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
        if self._mode == "week":
            columns = [c for c in columns if self.week_model.date_of_column(c) == self._day] or columns
        top = max(0, self.grid.rowAt(0))
        self.grid.scrollTo(model.index(top, columns[0]), DayGridView.ScrollHint.EnsureVisible)

    def _update_week_titles(self, view: WeekView) -> None:
        first, last = view.monday, view.days[-1].local_date
        span = f"{first.day} {first:%b}" + (f" {first.year}" if first.year != last.year else "")
        self.title_label.setText(f"Week of {span} – {last.day} {last:%b %Y} · {view.branch.name}")
        notes = [f"{d.local_date:%a}: holiday ({d.holiday})" for d in view.days if d.holiday]
        self.day_note.setText(" · ".join(notes))
        self.day_note.setVisible(bool(notes))
        count = len(view.appointments)
        self.summary_label.setText(f"{count} appointment{'s' if count != 1 else ''} this week")

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
        count = len(view.appointments)
        self.summary_label.setText(f"{count} appointment{'s' if count != 1 else ''}")
        noon = datetime(d.year, d.month, d.day, 12, tzinfo=view.tz)
        self.zone_label.setText(f"Time zone: {view.branch.timezone} ({utc_offset_text(noon)})")

    # -- reactions ------------------------------------------------------------------------------------
    def _on_branch_index_changed(self, index: int) -> None:
        if not 0 <= index < len(self._branches):
            return
        self._branch = self._branches[index]
        self._wanted_branch = self._branch.name
        self.zone_label.setText(f"Time zone: {self._branch.timezone}")
        if self._day is None:
            self._day = self._clock().astimezone(self._branch.tz).date()
        self.model.set_day(None)
        self.week_model.set_week(None)
        self.month_calendar.clear_overview()
        if self._selection is not None:
            self.apply_selection(None)  # selections are per branch
        self._load_month(self._day.year, self._day.month)
        self._scroll_pending = True
        day = self._day
        self._day = None  # force set_day to load
        self.set_day(day)

    def _on_date_picker_changed(self, qdate: QDate) -> None:
        self.set_day(date(qdate.year(), qdate.month(), qdate.day()))

    def _on_resource_set_clicked(self, button_id: int) -> None:
        self.set_resource_set(_SETS[button_id][0])

    # -- patients ----------------------------------------------------------------------------------------
    def find_patient(self, query: str = "") -> PatientSearchDialog:
        """Open the patient search (Ctrl+F, or typing on the grid) with ``query`` typed in; one at a time."""
        if self._patient_search is not None and self._patient_search.isVisible():
            self._patient_search.search_edit.setText(self._patient_search.search_edit.text() + query)
            self._patient_search.raise_()
            self._patient_search.activateWindow()
            return self._patient_search
        dialog = PatientSearchDialog(self._db, self.runner, query=query, clock=self._clock,
                                     show_history=may_read_history(self.capabilities), parent=self)
        dialog.book_requested.connect(self.book_for_patient)
        dialog.visit_requested.connect(self.open_visit_dialog)
        dialog.series_requested.connect(self.open_series_dialog)
        dialog.record_opened.connect(self._on_record_opened)
        dialog.finished.connect(dialog.deleteLater)
        dialog.destroyed.connect(lambda: setattr(self, "_patient_search", None))
        self._patient_search = dialog
        dialog.open()
        # Opening a dialog focuses its field as if by Tab, which selects the letter typed on the grid:
        # the next key would replace it. Typing goes on after it.
        dialog.search_edit.setCursorPosition(len(dialog.search_edit.text()))
        self.patient_search_opened.emit(dialog)
        return dialog

    def open_patient(self, patient_id: int | None = None) -> PatientRecordDialog | None:
        """Open the record of ``patient_id`` (default: the selected appointment's patient; Ctrl+O)."""
        if patient_id is None:
            appt = self.current_appointment()
            if appt is None:
                self.statusBar().showMessage("Select an appointment to open its patient, or press Ctrl+F to "
                                             "find one.", 10_000)
                return None
            patient_id = appt.patient_id
        dialog = PatientRecordDialog(self._db, self.runner, patient_id=patient_id, clock=self._clock,
                                     show_history=may_read_history(self.capabilities), parent=self)
        dialog.book_requested.connect(self.book_for_patient)
        dialog.visit_requested.connect(self.open_visit_dialog)
        dialog.series_requested.connect(self.open_series_dialog)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        self._on_record_opened(dialog)
        return dialog

    def _on_record_opened(self, dialog: PatientRecordDialog) -> None:
        """A record was opened (Ctrl+O, or from the patient search): saving it reloads the grid
        (the blocks show the patient's name)."""
        dialog.patient_updated.connect(lambda _p: self.reload_day())
        self.patient_record_opened.emit(dialog)

    def book_for_patient(self, patient: PatientView) -> BookingDialog | None:
        """Open the booking dialog with ``patient`` chosen ("Book for this patient")."""
        dialog = self.open_booking_dialog()
        if dialog is not None:
            dialog.set_patient(patient)
        return dialog

    # -- reschedule and walk-in ---------------------------------------------------------------------
    def open_reschedule_dialog(self) -> RescheduleDialog | None:
        """Offer the next free starts for the selected appointment (Ctrl+R); picking one moves it."""
        appt = self.current_appointment()
        if appt is None or self._branch is None or not self.reschedule_action.isEnabled():
            return None
        dialog = RescheduleDialog(self._db, self.runner, appointment=appt, timezone=self._branch.timezone,
                                  clock=self._clock, parent=self)
        dialog.appointment_moved.connect(self._on_appointment_moved)
        dialog.slot_taken.connect(lambda _message: self.reload_day())
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def open_walk_in_dialog(self) -> WalkInDialog | None:
        """Book a patient who is here now on the first free fitting doctor and check them in
        (Ctrl+Shift+W)."""
        if self._branch is None or not self.capabilities.book:
            return None
        dialog = WalkInDialog(self._db, self.runner, branch=self._branch, clock=self._clock,
                              services=self._services, parent=self)
        dialog.appointment_booked.connect(self._on_dialog_appointment_booked)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def _on_grid_search_typed(self, text: str) -> None:
        self.find_patient(text)

    def _on_grid_booking_requested(self, instant: datetime, resource: GridResource) -> None:
        if self.capabilities.book:
            self.open_booking_dialog(pin=resource, start_hint=instant, length=self.grid.requested_length())

    def _on_grid_appointment_activated(self, appointment: AppointmentView) -> None:
        tz = self._branch.tz if self._branch else UTC
        self.statusBar().showMessage(
            f"{appointment.patient} — {appointment.service}, {appointment.start.astimezone(tz):%H:%M}, "
            f"{colors.status_label(appointment.status)}", 10_000)

    def _on_refresh_timer_timeout(self) -> None:
        self.grid.set_now(self._clock())
        if self.runner.offline:
            return  # the connection monitor reloads when the database is back
        if self._dialog is None or not self._dialog.isVisible():
            self.reload_day()

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

    def _set_controls_enabled(self, enabled: bool) -> None:
        self._controls_enabled = enabled
        for w in (self.branch_combo, self.date_edit):
            w.setEnabled(enabled)
        for a in (self.prev_action, self.next_action, self.today_action, self.refresh_action):
            a.setEnabled(enabled)
        for action in (self.book_action, self.walk_in_action):
            action.setEnabled(enabled and self.capabilities.book)
            action.setVisible(self.capabilities.book)
        self._update_appointment_actions()

    # -- appointment status actions ---------------------------------------------------------------------
    def current_appointment(self) -> AppointmentView | None:
        """The appointment of the grid's current cell (as last loaded), or ``None``."""
        index = self.grid.currentIndex()
        return self.grid_model.appointment_at(index) if index.isValid() else None

    def _update_appointment_actions(self) -> None:
        """Enable each status action iff the current cell's appointment may take it (and no change
        is on its way)."""
        appt = self.current_appointment()
        status = appt.status if appt is not None and self._controls_enabled \
            and not self._status_change_pending and self._may_change(appt) else None
        for spec in ACTIONS:
            self.status_actions[spec.key].setEnabled(is_allowed(spec, status)
                                                     and self.capabilities.allows_status(spec.key))
        for life in (*LIFECYCLE_ACTIONS, PAYMENT_ACTION):
            allowed_role = self.capabilities.book if life.opens_dialog else self.capabilities.move
            self.lifecycle_actions[life.key].setVisible(allowed_role)
            self.lifecycle_actions[life.key].setEnabled(allowed_role and lifecycle_allowed(life, status))
        self.reschedule_action.setEnabled(status in scheduling.MOVABLE_STATUSES and self.capabilities.move)
        self.open_patient_action.setEnabled(appt is not None)
        self.update_series_action(appt if status is not None else None)

    def _may_change(self, appointment: AppointmentView) -> bool:
        """Whether the signed-in user is offered changes to ``appointment``: a doctor only their own
        (booked on their doctor resource; the server's row-level security says the same)."""
        if not self.capabilities.own_only:
            return True
        own = getattr(self.session, "doctor_resource_id", None)
        return own is not None and appointment.resource_ids.get("doctor") == own

    def _describe(self, appointment: AppointmentView) -> str:
        """``"Maria Silva 08:00"``: the patient and the branch-local start."""
        tz = self._branch.tz if self._branch else UTC
        return f"{appointment.patient} {appointment.start.astimezone(tz):%H:%M}"

    def _on_grid_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_appointment_actions()
        if current.isValid() and self.my_day_dock.isVisible():
            # Another doctor's column (reception), or in the week view another day's: that day list.
            if self._my_day_asked != (self.my_day_doctor(), self.my_day_date()):
                self.reload_my_day()

    def _on_grid_appointment_menu_requested(self, appointment: AppointmentView, where: QPoint) -> None:
        """Show the block's menu: a title line, then the window's status actions (the grid has
        made the block current, so their enabled state is this block's)."""
        self._update_appointment_actions()
        if self._menu is not None:
            self._menu.close()
            self._menu.deleteLater()
        menu = QMenu(self)
        menu.setObjectName("appointmentContextMenu")
        about = self._describe(appointment)
        menu.setAccessibleName(f"Appointment actions for {about}")
        title = menu.addAction(f"{about} · {colors.status_label(appointment.status)}")
        title.setObjectName("appointmentMenuTitle")
        title.setEnabled(False)  # a heading, not a command
        heading = menu.font()
        heading.setBold(True)
        title.setFont(heading)
        menu.addSeparator()
        menu.addActions(list(self.status_actions.values()))
        menu.addActions([a for a in self.lifecycle_actions.values() if a.isVisible()])
        menu.addSeparator()
        menu.addActions([self.reschedule_action, self.open_patient_action, self.appointment_reminders_action])
        if self.appointment_history_action.isVisible():
            menu.addAction(self.appointment_history_action)
        if appointment.series_id is not None and self.cancel_series_action.isVisible():
            menu.addAction(self.cancel_series_action)
        if self.force_move_action.isVisible():
            menu.addAction(self.force_move_action)
        self._menu = menu
        menu.popup(where)
        self.appointment_menu_opened.emit(menu)

    def _on_appointment_action_triggered(self, spec: AppointmentAction) -> None:
        appt = self.current_appointment()
        if appt is None or self._status_change_pending or not is_allowed(spec, appt.status) \
                or not self.capabilities.allows_status(spec.key) or not self._may_change(appt):
            return  # a shortcut pressed while the action was being disabled
        if spec.asks_reason:
            appointment_actions.ask_cancel_reason(
                self, self._describe(appt), lambda reason: self._change_status(spec, appt, reason))
        else:
            self._change_status(spec, appt, None)

    def _on_lifecycle_action_triggered(self, spec: LifecycleAction) -> None:
        appt = self.current_appointment()
        allowed_role = self.capabilities.book if spec.opens_dialog else self.capabilities.move
        if appt is None or self._status_change_pending or not allowed_role or not lifecycle_allowed(spec, appt.status):
            return  # a shortcut pressed while the action was being disabled
        if spec.opens_dialog:
            self.open_payments(appt)
        elif spec.asks_reason:
            appointment_actions.ask_cancel_reason(
                self, self._describe(appt), lambda reason: self._change_status(spec, appt, reason))
        else:
            self._change_status(spec, appt, None)

    def open_payments(self, appointment: AppointmentView | None = None) -> PaymentDialog | None:
        """The payments of ``appointment`` (default: the selected one; Ctrl+Shift+M): deposit, paid,
        refund due; take a payment or record a refund; print the receipt."""
        appt = appointment or self.current_appointment()
        if appt is None or not self.capabilities.book:
            return None
        from .payment_dialog import PaymentDialog  # with reportlab's receipt: imported when first opened

        dialog = PaymentDialog(self._db, self.runner, appointment_id=appt.id,
                               clinic=self._branch.name if self._branch else "", printed_by=self.printed_by,
                               clock=self._clock, parent=self)
        dialog.payment_recorded.connect(lambda _p: self.reload_day())
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def _change_status(self, spec: AppointmentAction | LifecycleAction, appointment: AppointmentView,
                       reason: str | None) -> None:
        """Run the status change in the background; then say what happened and reload the day."""
        self._change_status_of(spec, appointment.id, self._describe(appointment), reason)

    def _change_status_of(self, spec: AppointmentAction | LifecycleAction, appointment_id: int, about: str,
                          reason: str | None) -> None:
        """:meth:`_change_status` by id (the doctor's day list has rows, not grid blocks);
        ``about``: ``"Maria Silva 08:00"`` for the messages."""
        reason = reason.strip() if reason is not None else None
        if spec.asks_reason and not reason:
            return  # the reason is required: no reason, no change
        db = self._db

        def work() -> AppointmentView:
            return appointment_actions.perform(db, spec, appointment_id, reason)
        self._status_change_pending = True
        self._update_appointment_actions()
        self._busy_text = f"{spec.label.rstrip('…')}…"
        self.runner.run(work, on_success=lambda view: self._on_status_changed(spec, view),
                        on_failure=lambda error: self._on_status_change_failed(spec, about, error),
                        on_finished=self._on_status_change_finished, label=f"appointment {spec.key}")

    def _on_status_changed(self, spec: AppointmentAction | LifecycleAction, appointment: AppointmentView) -> None:
        self.statusBar().showMessage(f"{spec.done}: {self._describe(appointment)}", 15_000)
        self.appointment_changed.emit(appointment)
        self.reload_day()
        if appointment.status == "cancelled":
            self._offer_freed_slots()

    def _offer_freed_slots(self) -> None:
        """A cancellation freed a slot: offer it to the waitlist now (the reminder service's sweep
        does it too, so a failure here only delays the offer)."""
        db, now = self._db, self._clock()
        self.runner.run(lambda: waitlist.process_freed_slots(db, now=now), on_success=self._on_offers_made,
                        on_failure=lambda error: log.info("waitlist offers deferred: %s", error),
                        key="waitlist-offers", label="offer freed slots")

    def _on_offers_made(self, offers: list) -> None:
        if offers:
            self.statusBar().showMessage(
                f"The freed time was offered to {len(offers)} patient(s) on the waitlist.", 15_000)
            self.reload_day()

    def _on_status_change_failed(self, spec: AppointmentAction | LifecycleAction, about: str,
                                 error: ClinicError) -> None:
        """Say why in plain words (e.g. another workstation changed it first) and show the day as it is."""
        self.statusBar().showMessage(f"Could not {spec.verb} {about}. {error}", 15_000)
        if not ConnectionMonitor.absorbs(error):  # a lost connection is told by the banner
            show_error(self, f"Could not {spec.verb} {about}. {error}")
        self.reload_day()

    def _on_status_change_finished(self) -> None:
        self._status_change_pending = False
        self._update_appointment_actions()

    # -- moving on the grid ------------------------------------------------------------------------------
    def _on_grid_move_requested(self, appointment: AppointmentView, start: datetime,
                                resource: GridResource | None) -> None:
        """A block was dropped: move it to ``start`` (UTC) and, if given, onto ``resource``."""
        about = self._describe(appointment)
        if not self.capabilities.move or not self._may_change(appointment):
            self.statusBar().showMessage(f"Cannot move {about}: your sign-in does not move appointments.", 15_000)
            return
        if resource is not None and not DayGridView.drop_resource_kind_allowed(appointment, resource):
            self.statusBar().showMessage(
                f"Cannot move {about} to {resource.name}: {appointment.service} does not use "
                f"{_KIND_WITH_ARTICLE.get(resource.kind, resource.kind)}.", 15_000)
            return
        if appointment.status not in scheduling.MOVABLE_STATUSES:
            self.statusBar().showMessage(
                f"Cannot move {about}: it is {colors.status_label(appointment.status).lower()}.", 15_000)
            return
        if self._status_change_pending:
            self.statusBar().showMessage(f"Cannot move {about} yet: another change is on its way.", 15_000)
            return
        db, appointment_id, now = self._db, appointment.id, self._clock()
        pins = {resource.kind: resource.name} if resource is not None else {}

        def work() -> scheduling.MoveResult:
            return scheduling.move(db, appointment_id, start=start, reason="moved on the grid", now=now, **pins)

        self._status_change_pending = True
        self._update_appointment_actions()
        self._busy_text = f"Moving {about}…"
        self.runner.run(work, on_success=self._on_appointment_moved,
                        on_failure=lambda error: self._on_move_failed(about, error),
                        on_finished=self._on_status_change_finished, label="move appointment")

    def _on_appointment_moved(self, result: scheduling.MoveResult) -> None:
        """``"Moved: Maria Silva 08:00 → 10:00 (Bruno Lima)"`` (``Rescheduled:`` when a new appointment
        replaced the old one): the resources that changed, else the doctor."""
        before, after = result.before, result.after
        tz = self._branch.tz if self._branch else UTC
        changed = [after.resources[k] for k in KINDS
                   if k in after.resources and after.resources[k] != before.resources.get(k)]
        shown = changed or ([after.resources["doctor"]] if "doctor" in after.resources else [])
        where = f" ({', '.join(shown)})" if shown else ""
        self.statusBar().showMessage(
            f"{'Moved' if after.id == before.id else 'Rescheduled'}: {self._describe(before)} → "
            f"{after.start.astimezone(tz):%H:%M}{where}", 15_000)
        self.appointment_changed.emit(after)
        self.reload_day()

    def _on_move_failed(self, about: str, error: ClinicError) -> None:
        """Say what is in the way (the service's words) and show the day as it is."""
        self.statusBar().showMessage(f"Could not move {about}: {error}", 30_000)
        self.reload_day()

    # -- booking ---------------------------------------------------------------------------------------
    def open_booking_dialog(self, *, pin: GridResource | None = None,
                            start_hint: datetime | None = None,
                            length: timedelta | None = None) -> BookingDialog | None:
        """Open the booking dialog for the branch and day shown (one at a time); returns it.

        ``pin``: the resource to prefer; ``start_hint``: the UTC start to preselect if free;
        ``length``: the time range dragged on the grid (a service that fits it is preferred).
        """
        if self._branch is None or self._day is None or not self.capabilities.book:
            return None
        if self._dialog is not None and self._dialog.isVisible():
            self._dialog.raise_()
            self._dialog.activateWindow()
            return self._dialog
        if self._dialog is not None:  # the previous, closed dialog: release it (one lives at a time)
            self._dialog.deleteLater()
        local_date = start_hint.astimezone(self._branch.tz).date() if start_hint is not None else self._day
        dialog = BookingDialog(self._db, self.runner, branch=self._branch, local_date=local_date,
                               clock=self._clock, pin=pin, start_hint=start_hint, services=self._services,
                               length=length, parent=self)
        dialog.services_loaded.connect(lambda _n: self._remember_services(dialog))
        dialog.appointment_booked.connect(self._on_dialog_appointment_booked)
        dialog.appointment_held.connect(lambda _held: self.reload_day())  # the hold shows at once
        dialog.slot_taken.connect(self._on_dialog_slot_taken)
        self._dialog = dialog
        dialog.open()
        self.booking_dialog_opened.emit(dialog)
        return dialog

    def _remember_services(self, dialog: BookingDialog) -> None:
        self._services = dialog.services

    def _on_dialog_slot_taken(self, _message: str) -> None:
        """Another workstation won the time: show the grid as it is now."""
        self.reload_day()

    def _on_dialog_appointment_booked(self, appointment: AppointmentView) -> None:
        tz = self._branch.tz if self._branch else UTC
        self.statusBar().showMessage(
            f"Booked: {appointment.patient} — {appointment.service} on "
            f"{appointment.start.astimezone(tz):%a %d %b %H:%M}", 15_000)
        self.appointment_booked.emit(appointment)
        if self._branch is not None and appointment.branch_id == self._branch.id:
            self.reload_day()

    # -- closing -----------------------------------------------------------------------------------------
    def _on_live_schedule_changed(self, branch_id: int, day: date) -> None:
        """Another workstation (or this one) committed a change: reload if it is what is shown
        (the day, or any day of the week shown)."""
        if self._branch is None or branch_id != self._branch.id or self._day is None:
            return
        if day == self._day or (self._mode == "week" and week_start(day) == week_start(self._day)):
            self._live_timer.start()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the timers and, if the window owns the runner, wait for running work."""
        self._live_timer.stop()
        self._refresh_timer.stop()
        self._busy_timer.stop()
        self.connection_monitor.stop()
        if self._owns_runner:
            self.runner.shutdown()
        super().closeEvent(event)
