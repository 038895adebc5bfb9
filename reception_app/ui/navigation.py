"""The main window's navigation: which branch, which day, day or week, which resources.

:class:`Navigation` is a part the window owns (``window.nav``), not a base class of it. It owns
the "Day" and "Show" toolbars (branch selector, previous / today / next, the date picker, the
resource-kind buttons, saved resource selections, day and week mode), the branch list and the
window's position in time (``branch``, ``day``, ``mode``). Moving anywhere asks the window to
show it (``set_day`` → ``window.reload_day``); what is shown is loaded by the main window
(``main_window``), never here. Days are branch-local *dates* (no DST arithmetic: a step is a
calendar day, or seven in week mode).

It reads and drives the window only through public names: ``reload_day``,
``scroll_on_next_load``, ``set_busy_text``, ``set_controls_enabled``,
``update_appointment_actions``, ``grid`` / ``grid_model`` / ``model`` / ``week_model``,
``title_label`` / ``summary_label`` / ``zone_label``, ``month_calendar``, ``docks``,
``runner``, ``selection_store`` and ``toolbars``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QButtonGroup, QComboBox, QLabel, QMenu, QToolBar, QToolButton

from ..domain.errors import ClinicError
from ..services.dayview import BranchSummary, GridResource, list_branches, week_start
from ..store.database import Database
from . import local_formats
from .day_edit import DayEdit
from .messages import show_error
from .resource_selection import ResourceSelection, ResourceSelectionDialog
from .runner import Clock

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)

#: The resource-kind buttons: (key for ``set_resource_set``, button text).
SETS = (("all", "All"), ("doctor", "Doctors"), ("room", "Rooms"), ("equipment", "Equipment"))
#: What the grid shows first: the doctors (rooms and equipment are one click away).
DEFAULT_SET = "doctor"


class Navigation(QObject):
    """Branch, day, mode and resource selection of ``window`` (branches listed from ``db``
    through the window's runner; ``clock``: the current aware time, for "Today").

    ``day``: the branch-local date to show first (default: today in the branch's zone).
    ``branch``: the branch name to show first (default: the first by name). ``first_run``:
    called in the background when the database has no branch yet; it returns a summary line
    (taken once).

    Widgets and actions (parented to the window, so its shortcuts and the shortcut sheet see
    them): ``day_toolbar`` (``branch_combo``, ``prev_action``, ``today_action``,
    ``next_action``, ``date_edit``), ``show_toolbar`` (``set_buttons``, ``selection_menu``,
    ``new_selection_action``, ``day_mode_action``, ``week_mode_action``, ``week_picker``: in week
    mode, "Overview" or one resource whose week is shown as seven day columns).

    The week shows the picked resource's days (:meth:`set_week_resource`), or a saved
    selection's (a few columns a day); with neither it is the branch-wide overview
    (:attr:`shows_overview`: ``ui.week_overview``), never one column per day and resource of
    the whole branch. A signed-in doctor's week starts on their own column.

    Signals:
        branches_loaded(int): the branch list was (re)loaded: how many (the window passes it on
            as its own ``branches_loaded``).
    """

    branches_loaded = Signal(int)

    def __init__(self, window: MainWindow, db: Database, clock: Clock, *, day: date | None = None,
                 branch: str | None = None, first_run: Callable[[Database], str] | None = None) -> None:
        super().__init__(window)
        self._w = window
        self._db = db
        self._clock = clock
        self._day: date | None = day
        self._mode = "day"
        self._branches: list[BranchSummary] = []
        self._branch: BranchSummary | None = None
        self._wanted_branch = branch
        self._first_run = first_run
        self._selection: ResourceSelection | None = None
        self._week_resource: int | None = window.session_doctor
        self._build_day_toolbar()
        self._build_show_toolbar()

    # -- construction -----------------------------------------------------------------------
    def _build_day_toolbar(self) -> None:
        """The "Day" toolbar: branch, previous / today / next, the date picker."""
        w = self._w
        bar = self.day_toolbar = w.toolbars.add("Day", "dayToolbar")
        bar.addWidget(QLabel(" Branch "))
        self.branch_combo = QComboBox()
        self.branch_combo.setObjectName("branchCombo")
        self.branch_combo.setMinimumWidth(140)
        self.branch_combo.currentIndexChanged.connect(self._on_branch_index_changed)
        bar.addWidget(self.branch_combo)
        bar.addSeparator()

        self.prev_action = QAction("◀  Previous", w)
        self.prev_action.setShortcut(QKeySequence(Qt.Modifier.ALT | Qt.Key.Key_Left))
        self.prev_action.setToolTip("Previous day (Alt+Left)")
        self.prev_action.triggered.connect(lambda: self.step_day(-1))
        self.today_action = QAction("Today", w)
        self.today_action.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_T))
        self.today_action.setToolTip("Today in the branch's time zone (Ctrl+T)")
        self.today_action.triggered.connect(self.go_today)
        self.next_action = QAction("Next  ▶", w)
        self.next_action.setShortcut(QKeySequence(Qt.Modifier.ALT | Qt.Key.Key_Right))
        self.next_action.setToolTip("Next day (Alt+Right)")
        self.next_action.triggered.connect(lambda: self.step_day(1))
        for action in (self.prev_action, self.today_action, self.next_action):
            bar.addAction(action)
        # The day asked for, else the machine's today (the branch's is set once it is loaded): never
        # Qt's default of 1 January 2000 while the branches load.
        self.date_edit = DayEdit(self._day or self._clock().astimezone().date())
        self.date_edit.setObjectName("dayPicker")
        self.date_edit.setDisplayFormat(local_formats.qt_date_format())
        self.date_edit.setMinimumWidth(150)
        self.date_edit.dateChanged.connect(self._on_date_picker_changed)
        bar.addWidget(self.date_edit)

    def _build_show_toolbar(self) -> None:
        """The "Show" toolbar: resource kinds, saved selections, day or week."""
        w = self._w
        bar = self.show_toolbar = w.toolbars.add("Show", "showToolbar")
        bar.addWidget(QLabel(" Show "))
        self.set_buttons = QButtonGroup(w)
        self.set_buttons.setExclusive(True)
        for i, (key, text) in enumerate(SETS):
            button = QToolButton()
            button.setText(text)
            button.setCheckable(True)
            button.setObjectName(f"show_{key}")
            button.setChecked(key == DEFAULT_SET)
            self.set_buttons.addButton(button, i)
            bar.addWidget(button)
        self.set_buttons.idClicked.connect(self._on_resource_set_clicked)
        self._build_selection_menu(bar)
        bar.addSeparator()
        self.day_mode_action = QAction("Day", w)
        self.day_mode_action.setObjectName("dayMode")
        self.day_mode_action.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_1))
        self.day_mode_action.setToolTip("Show one day (Ctrl+1)")
        self.week_mode_action = QAction("Week", w)
        self.week_mode_action.setObjectName("weekMode")
        self.week_mode_action.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_2))
        self.week_mode_action.setToolTip("Show Monday to Sunday (Ctrl+2)")
        for action, mode in ((self.day_mode_action, "day"), (self.week_mode_action, "week")):
            action.setCheckable(True)
            action.triggered.connect(lambda _checked=False, mode=mode: self.set_mode(mode))
            bar.addAction(action)
        self.day_mode_action.setChecked(True)
        self.week_picker = QComboBox()
        self.week_picker.setObjectName("weekPicker")
        self.week_picker.setAccessibleName("Whose week")
        self.week_picker.setToolTip("The branch's week at a glance, or one resource's week day by day")
        self.week_picker.setMinimumWidth(170)
        self.week_picker.addItem("Overview", None)
        self.week_picker.activated.connect(self._on_week_picker_activated)
        self._week_picker_action = bar.addWidget(self.week_picker)
        self._week_picker_action.setVisible(False)

    def _build_selection_menu(self, bar: QToolBar) -> None:
        """"Selections ▾": the branch's saved resource selections (``ui.resource_selection``), one
        click to show only those columns; "New selection…" and "Edit this selection…"."""
        self.selection_menu = QMenu("Selections", self._w)
        self.selection_menu.setObjectName("selectionMenu")
        self.selection_menu.aboutToShow.connect(self._fill_selection_menu)
        self.new_selection_action = QAction("New selection…", self._w)
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

    def set_enabled(self, enabled: bool) -> None:
        """Enable or disable moving: the branch selector, the date picker, previous / today / next."""
        for widget in (self.branch_combo, self.date_edit):
            widget.setEnabled(enabled)
        for action in (self.prev_action, self.next_action, self.today_action):
            action.setEnabled(enabled)

    # -- saved selections -----------------------------------------------------------------------
    def _fill_selection_menu(self) -> None:
        menu = self.selection_menu
        menu.clear()
        if self._branch is not None:
            for sel in self._w.selection_store.list(self._branch.id):
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
        model = self._w.model
        if selection is None:
            key = model.resource_set
            self.set_buttons.button([k for k, _ in SETS].index(key)).setChecked(True)
        else:
            self._week_resource = None  # the selection's week, not one resource's
            self._sync_week_picker()
        model.set_resource_filter(ids)
        self._apply_week_filter()

    def edit_selection(self, selection: ResourceSelection | None) -> ResourceSelectionDialog | None:
        """Open the dialog that creates (``None``) or edits a saved selection of this branch."""
        model, week_model = self._w.model, self._w.week_model
        view = model.day or (week_model.week.days[0] if week_model.week else None)
        if self._branch is None or view is None:
            return None
        dialog = ResourceSelectionDialog(self._w.selection_store, self._branch.id, view.resources,
                                         selection=selection, parent=self._w)
        dialog.selection_saved.connect(self.apply_selection)
        dialog.selection_deleted.connect(lambda _name: self.apply_selection(None))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

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

    @property
    def mode(self) -> str:
        """``"day"`` or ``"week"``: what the grid shows."""
        return self._mode

    @property
    def week_resource(self) -> int | None:
        """The resource id whose week is shown day by day, or ``None``."""
        return self._week_resource

    @property
    def shows_overview(self) -> bool:
        """Whether the window shows the week overview: week mode with neither a picked resource
        nor a saved selection."""
        return self._mode == "week" and self._week_resource is None and self._selection is None

    def set_week_resource(self, resource_id: int | None) -> None:
        """Show the week of resource ``resource_id`` (seven day columns; a saved selection gives
        way to it), or the overview (``None``). Switches to week mode."""
        self._week_resource = resource_id
        if resource_id is not None and self._selection is not None:
            self.apply_selection(None)
        self._apply_week_filter()
        self._sync_week_picker()
        if self._mode != "week":
            self.set_mode("week")  # scrolls when the week is loaded
        else:
            self._w.scroll_to_start()

    def _apply_week_filter(self) -> None:
        """The week model's columns: the picked resource, else the selection, else the set."""
        if self._week_resource is not None:
            ids: frozenset[int] | None = frozenset({self._week_resource})
        else:
            ids = self._selection.resource_ids if self._selection is not None else None
        self._w.week_model.set_resource_filter(ids)
        self._w.show_week_widget()

    def fill_week_picker(self, resources: Sequence[GridResource]) -> None:
        """List "Overview" and ``resources`` (the week's, any kind, in the grid's order) in the
        week picker, keeping the one picked."""
        picker = self.week_picker
        picker.blockSignals(True)
        picker.clear()
        picker.addItem("Overview", None)
        kind = None
        for r in resources:
            if r.kind != kind:
                picker.insertSeparator(picker.count())
            kind = r.kind
            picker.addItem(r.name, r.id)
        picker.blockSignals(False)
        self._sync_week_picker()

    def _sync_week_picker(self) -> None:
        picker = self.week_picker
        found = picker.findData(self._week_resource) if self._week_resource is not None else 0
        picker.blockSignals(True)
        picker.setCurrentIndex(max(0, found))
        picker.blockSignals(False)

    def _on_week_picker_activated(self, index: int) -> None:
        data = self.week_picker.itemData(index)
        self.set_week_resource(int(data) if data is not None else None)

    def shown_days(self) -> frozenset[date]:
        """The branch-local dates the grid shows: the day, or the seven days of the week."""
        if self._day is None:
            return frozenset()
        if self._mode == "week":
            monday = week_start(self._day)
            return frozenset(monday + timedelta(days=i) for i in range(7))
        return frozenset({self._day})

    def set_day(self, local_date: date) -> None:
        """Show branch-local ``local_date`` (loads in the background)."""
        if local_date == self._day and self._shows(local_date):
            return
        self._day = local_date
        self._w.scroll_on_next_load()
        self.date_edit.blockSignals(True)
        self.date_edit.setDate(QDate(local_date.year, local_date.month, local_date.day))
        self.date_edit.blockSignals(False)
        self._w.reload_day()

    def _shows(self, local_date: date) -> bool:
        """Whether the active model already holds ``local_date`` (the day, or a day of the week)."""
        if self._mode == "week":
            week = self._w.week_model.week
            return week is not None and week.monday == week_start(local_date)
        day = self._w.model.day
        return day is not None and day.local_date == local_date

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
        self._week_picker_action.setVisible(mode == "week")
        w = self._w
        w.grid.setModel(w.grid_model)
        w.show_week_widget()
        w.scroll_on_next_load()
        w.update_appointment_actions()
        w.reload_day()

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
        keys = [k for k, _ in SETS]
        self.set_buttons.button(keys.index(resource_set)).setChecked(True)
        self._selection = None
        self._w.model.set_resource_filter(None)
        for m in (self._w.model, self._w.week_model, self._w.week_overview_model):
            m.set_resource_set(resource_set)
        self._apply_week_filter()

    def go_today(self) -> None:
        """Show today in the branch's time zone."""
        if self._branch is not None:
            self.set_day(self._clock().astimezone(self._branch.tz).date())

    def step_day(self, days: int) -> None:
        """Previous/next: ``days`` days in day mode, as many weeks in week mode."""
        if self._day is not None:
            step = days * (7 if self._mode == "week" else 1)
            self.set_day(self._day + timedelta(days=step))  # local *dates*: no DST arithmetic involved

    # -- loading ------------------------------------------------------------------------------------
    def reload_branches(self) -> None:
        """Load the branch list (and, on a database without branches, run the first-run set-up)."""
        self._w.set_busy_text("Connecting…")
        db = self._db
        self._w.runner.run(lambda: list_branches(db), on_success=self._on_branches_listed,
                           key="branches", label="list branches")

    def _on_branches_listed(self, branches: list[BranchSummary]) -> None:
        w = self._w
        if not branches and self._first_run is not None:
            first_run, self._first_run = self._first_run, None
            w.title_label.setText("Setting up the demo clinic…")
            w.set_busy_text("Loading the demo clinic: four months of past appointments and the next ten days "
                            "(first run; a few seconds)…", show_now=True)
            db = self._db
            w.runner.run(lambda: first_run(db), on_success=self._on_first_run_done,
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
            w.title_label.setText("No branches yet")
            w.summary_label.setText("Apply a clinic configuration: clinic config apply <file.toml>")
            return
        names = [b.name for b in self._branches]
        wanted = self._wanted_branch if self._wanted_branch in names else names[0]
        w.set_controls_enabled(True)
        self.branch_combo.setCurrentIndex(names.index(wanted))
        if self._branch is None or self._branch.name != wanted:
            self._on_branch_index_changed(names.index(wanted))

    def _on_first_run_done(self, summary: str) -> None:
        log.info("first run: %s", summary)
        self._w.statusBar().showMessage(summary, 15_000)
        self.reload_branches()

    def _on_first_run_failed(self, error: ClinicError) -> None:
        show_error(self._w, f"The demo clinic could not be loaded: {error}")
        self.reload_branches()

    # -- reactions ------------------------------------------------------------------------------------
    def _on_branch_index_changed(self, index: int) -> None:
        if not 0 <= index < len(self._branches):
            return
        w = self._w
        self._branch = self._branches[index]
        self._wanted_branch = self._branch.name
        local_formats.use(self._branch.formats)
        self.date_edit.setDisplayFormat(local_formats.qt_date_format())   # the branch's order
        w.zone_label.setText(f"Time zone: {self._branch.timezone}")
        if self._day is None:
            self._day = self._clock().astimezone(self._branch.tz).date()
        w.model.set_day(None)
        w.week_model.set_week(None)
        w.month_calendar.clear_overview()
        if self._selection is not None:
            self.apply_selection(None)  # selections are per branch
        if self._week_resource is not None and self._week_resource != w.session_doctor:
            self._week_resource = None  # resources are per branch too
            self._apply_week_filter()
        w.docks.load_month(self._day.year, self._day.month)
        w.scroll_on_next_load()
        day = self._day
        self._day = None  # force set_day to load
        self.set_day(day)

    def _on_date_picker_changed(self, qdate: QDate) -> None:
        self.set_day(date(qdate.year(), qdate.month(), qdate.day()))

    def _on_resource_set_clicked(self, button_id: int) -> None:
        if self._week_resource is not None:  # a kind chosen: the week of that kind, at a glance
            self._week_resource = None
            self._sync_week_picker()
        self.set_resource_set(SETS[button_id][0])
