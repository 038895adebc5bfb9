"""The main window's docks: the month calendar (left) and the doctor's day list (right).

:class:`WindowDocks` is a part the window owns (``window.docks``), not a base class of it: it
makes both docks, adds them to the window, loads what they show through the window's runner and
reads from the window only what it shows (branch, day, view, the grid's selection).

Each dock is a view of its own on the window's change bus (:meth:`WindowDocks.on_changes`): the
month calendar reloads its counts when a change touches the branch in the month shown, the
doctor's day list when it touches the branch on the day listed and its doctor (a change that
names no resources may be anyone's). Moving to another day, week or branch reloads both once the
grid shows it (``MainWindow._after_load``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QComboBox, QDockWidget, QVBoxLayout, QWidget

from ..services.dayview import GridResource, MonthOverview, month_overview, week_start
from ..services.my_day import MyDay, my_day
from ..store.database import Database
from .changes import Changes
from .month_calendar import MonthCalendar
from .my_day import MyDayPanel
from .runner import Clock

if TYPE_CHECKING:
    from .main_window import MainWindow


class WindowDocks(QObject):
    """The docks of ``window`` and what they load from ``db`` (through the window's runner;
    ``clock``: the current aware time, for the day list's waiting times).

    Widgets: ``month_calendar`` in ``calendar_dock``, ``my_day_panel`` in ``my_day_dock`` under
    ``doctor_picker`` (whose day: shown when the user is not a doctor; selecting a doctor's
    column on the grid chooses too). The doctor's day sits under the month calendar in one side
    column (not in a second column on the right), so opening it leaves the grid most of the
    window's width.
    ``asked``: the (doctor resource id, local date) of the latest day list asked for, or ``None``.

    Signals:
        my_day_loaded(object): the doctor's day list got a ``MyDay`` (the window passes it on
            as its own ``my_day_loaded``).
    """

    my_day_loaded = Signal(object)

    def __init__(self, window: MainWindow, db: Database, clock: Clock) -> None:
        super().__init__(window)
        self._w = window
        self._db = db
        self._clock = clock
        self._build_calendar_dock()
        self._build_my_day_dock()

    def _build_calendar_dock(self) -> None:
        """The month calendar on the left: a click jumps there; bold days have appointments,
        grey days are closed (``dayview.month_overview``, loaded per month shown)."""
        self.month_calendar = MonthCalendar()
        self.month_calendar.setAccessibleName("Month calendar: jump to a day")
        self.month_calendar.month_shown.connect(self.load_month)
        self.calendar_dock = QDockWidget("Calendar", self._w)
        self.calendar_dock.setObjectName("calendarDock")
        self.calendar_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                                       | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(self.month_calendar)
        column.addStretch(1)
        self.calendar_dock.setWidget(holder)
        self.calendar_dock.toggleViewAction().setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Modifier.SHIFT
                                                                       | Qt.Key.Key_C))
        self._w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.calendar_dock)

    def _build_my_day_dock(self) -> None:
        """The doctor's day list under the month calendar: arrivals, waiting time since check-in, the next
        patient. Shown first for a signed-in doctor (their own day); otherwise it follows the
        doctor of the selected column (View ▸ Doctor's day, Ctrl+Shift+D)."""
        self._my_day_doctor: int | None = self._w.session_doctor
        self.asked: tuple[int, date] | None = None
        self._seen_cell: tuple[int, int, int] | None = None  # (model id, row, column) last read
        self.my_day_panel = MyDayPanel(clock=self._clock)
        self.doctor_picker = QComboBox()
        self.doctor_picker.setObjectName("myDayDoctorPicker")
        self.doctor_picker.setAccessibleName("Whose day")
        self.doctor_picker.setToolTip("The doctor whose day is listed")
        self.doctor_picker.activated.connect(self._on_doctor_picked)
        self.doctor_picker.setVisible(self._w.session_doctor is None)
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(4, 4, 4, 0)
        column.addWidget(self.doctor_picker)
        column.addWidget(self.my_day_panel, 1)
        self.my_day_dock = QDockWidget("Doctor's day", self._w)
        self.my_day_dock.setObjectName("myDayDock")
        self.my_day_dock.setWidget(holder)
        self.my_day_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                                     | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        toggle = self.my_day_dock.toggleViewAction()
        toggle.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Modifier.SHIFT | Qt.Key.Key_D))
        # Not the action's toggled: it fires before the dock is shown, when reload_my_day skips a hidden dock.
        self.my_day_dock.visibilityChanged.connect(self._on_my_day_visibility_changed)
        self._w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.my_day_dock)
        self._w.splitDockWidget(self.calendar_dock, self.my_day_dock, Qt.Orientation.Vertical)
        self.my_day_dock.setVisible(self._w.capabilities.my_day_first)

    def _on_my_day_visibility_changed(self, shown: bool) -> None:
        if shown:
            self.reload_my_day()

    def set_doctors(self, doctors: list[GridResource]) -> None:
        """List ``doctors`` (the day's or week's, by name) in the dock's doctor picker."""
        picker = self.doctor_picker
        picker.blockSignals(True)
        picker.clear()
        for d in doctors:
            picker.addItem(d.name, d.id)
        picker.blockSignals(False)
        self._sync_doctor_picker()

    def _sync_doctor_picker(self) -> None:
        found = self.doctor_picker.findData(self._my_day_doctor) if self._my_day_doctor is not None else -1
        self.doctor_picker.blockSignals(True)
        self.doctor_picker.setCurrentIndex(found)
        self.doctor_picker.blockSignals(False)

    def _on_doctor_picked(self, index: int) -> None:
        data = self.doctor_picker.itemData(index)
        if data is None:
            return
        self.pick_doctor(int(data))

    def pick_doctor(self, resource_id: int) -> None:
        """List doctor ``resource_id``'s day (until a doctor's column is selected on the grid)."""
        self._my_day_doctor = resource_id
        self._sync_doctor_picker()
        self.reload_my_day()

    def my_day_doctor(self) -> int | None:
        """The doctor resource id the day list shows: the signed-in doctor, else the one picked
        in the dock or the doctor of the cell selected since (kept when the selection moves to a
        non-doctor column)."""
        w = self._w
        own = w.session_doctor
        if own is not None:
            return own
        index = w.grid.currentIndex()
        cell = (id(w.grid_model), index.row(), index.column()) if index.isValid() else None
        if index.isValid() and cell != self._seen_cell:
            self._seen_cell = cell
            column = w.grid_model.columns[index.column()]
            if column.kind == "doctor":
                self._my_day_doctor = column.id
                self._sync_doctor_picker()
        if self._my_day_doctor is None:
            doctors = [r for r in w.grid_model.columns if r.kind == "doctor"]
            self._my_day_doctor = doctors[0].id if doctors else None
            self._sync_doctor_picker()
        return self._my_day_doctor

    def my_day_date(self) -> date | None:
        """The branch-local date the day list shows: the day shown, or in the week view the
        selected column's day (else the day the week was opened on)."""
        w = self._w
        index = w.grid.currentIndex()
        if w.mode == "week" and index.isValid() and w.week_model.week is not None:
            try:
                return w.week_model.date_of_column(index.column())
            except IndexError:
                pass
        return w.day

    def reload_my_day(self) -> None:
        """Reload the doctor's day list (in the background) if it is shown."""
        doctor, day = self.my_day_doctor(), self.my_day_date()
        if not self.my_day_dock.isVisible() or doctor is None or day is None:
            return
        self.asked = (doctor, day)
        db, now = self._db, self._clock()
        self._w.runner.run(lambda: my_day(db, resource_id=doctor, local_date=day, now=now),
                        on_success=self._on_my_day_loaded, key="my-day", label="load doctor's day")

    def _on_my_day_loaded(self, day: MyDay) -> None:
        self.my_day_panel.set_day(day)
        self.my_day_loaded.emit(day)

    def on_changes(self, changes: Changes) -> None:
        """The docks' subscription to the change bus: reload the month's counts and the doctor's
        day list when ``changes`` touches what they show."""
        if self._w.branch is None:
            return
        branch_id = self._w.branch.id
        year, month = self.month_calendar.yearShown(), self.month_calendar.monthShown()
        days = changes.days_of(branch_id)
        if days is None or any((d.year, d.month) == (year, month) for d in days):
            self.load_month(year, month)
        day = self.my_day_date()
        if self.my_day_dock.isVisible() and day is not None and changes.touches(branch_id, (day,)) \
                and changes.touches_resource(self.my_day_doctor()):
            self.reload_my_day()

    def tint_calendar(self) -> None:
        """Tint the day or week the window shows on the month calendar."""
        day = self._w.day
        if day is None:
            return
        if self._w.mode == "week":
            monday = week_start(day)
            self.month_calendar.set_shown(monday, monday + timedelta(days=6))
        else:
            self.month_calendar.set_shown(day)

    def show_calendar(self) -> None:
        """Tint the day or week shown on the month calendar and load its month's counts."""
        if self._w.day is None:
            return
        self.tint_calendar()
        self.load_month(self.month_calendar.yearShown(), self.month_calendar.monthShown())

    def load_month(self, year: int, month: int) -> None:
        """Load the counts of ``year``-``month`` at the window's branch (in the background)."""
        branch = self._w.branch
        if branch is None:
            return
        db, branch_id = self._db, branch.id
        self._w.runner.run(lambda: month_overview(db, branch_id, year, month), on_success=self._on_month_loaded,
                           key="month", label="load month")

    def _on_month_loaded(self, overview: MonthOverview) -> None:
        branch = self._w.branch
        if branch is not None and overview.branch_id == branch.id:
            self.month_calendar.set_overview(overview)

