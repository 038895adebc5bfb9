"""The main window's navigation: which branch, which day, day or week, which resources.

:class:`WindowNavigation` owns the "Day" and "Show" toolbars (branch selector,
previous / today / next, the date picker, the resource-kind buttons, saved
resource selections, day and week mode), the branch list and the window's
position in time (``branch``, ``day``, ``mode``). Moving anywhere asks the
window to show it (``set_day`` → ``reload_day``); what is shown is loaded by
the main window (``main_window``), never here. Days are branch-local *dates*
(no DST arithmetic: a step is a calendar day, or seven in week mode).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QAction, QKeySequence, QResizeEvent
from PySide6.QtWidgets import QButtonGroup, QComboBox, QDateEdit, QLabel, QMenu, QToolBar, QToolButton

from ..domain.errors import ClinicError
from ..services.dayview import BranchSummary, list_branches, week_start
from .messages import show_error
from .resource_selection import ResourceSelection, ResourceSelectionDialog, SelectionStore
from .window_base import WindowBase

log = logging.getLogger(__name__)

#: The resource-kind buttons: (key for ``set_resource_set``, button text).
SETS = (("all", "All"), ("doctor", "Doctors"), ("room", "Rooms"), ("equipment", "Equipment"))
_SETS = SETS


class WindowNavigation(WindowBase):
    """Branch, day, mode and resource selection of the main window.

    Needs from the window: ``reload_day`` (show what was navigated to),
    ``title_label`` / ``summary_label`` / ``zone_label``, ``branches_loaded``,
    ``month_calendar``, ``docks``, ``_set_controls_enabled`` and
    ``_update_appointment_actions``, and the first-run hook ``_first_run``.
    """

    selection_store: SelectionStore
    _branches: list[BranchSummary]
    _wanted_branch: str | None
    _scroll_pending: bool

    def _add_toolbar(self, title: str, name: str) -> QToolBar:
        bar = QToolBar(title)
        bar.setObjectName(name)
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(bar)
        self._toolbars.append(bar)
        return bar


    def _build_navigation_toolbars(self) -> None:
        """The "Day" toolbar (branch, previous / today / next, date) and the "Show" toolbar (resource
        kinds, saved selections, day or week); the window adds its "Actions" toolbar after them
        (:meth:`arrange_toolbars` puts them side by side or on rows of their own)."""
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
        self.docks.load_month(self._day.year, self._day.month)
        self._scroll_pending = True
        day = self._day
        self._day = None  # force set_day to load
        self.set_day(day)

    def _on_date_picker_changed(self, qdate: QDate) -> None:
        self.set_day(date(qdate.year(), qdate.month(), qdate.day()))

    def _on_resource_set_clicked(self, button_id: int) -> None:
        self.set_resource_set(_SETS[button_id][0])


