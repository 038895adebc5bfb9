"""The main window's docks: the month calendar (left) and the doctor's day list (right).

Each dock is a view of its own on the window's change bus
(:meth:`WindowDocks._on_changes_for_docks`): the month calendar reloads its
counts when a change touches the branch in the month shown, the doctor's day
list when it touches the branch on the day listed and its doctor (a change
that names no resources may be anyone's). Moving to another day, week or
branch reloads both once the grid shows it (``MainWindow._after_load``).
"""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget, QVBoxLayout, QWidget

from ..services.dayview import MonthOverview, month_overview, week_start
from ..services.my_day import MyDay, my_day
from .changes import Changes
from .month_calendar import MonthCalendar
from .my_day import MyDayPanel
from .window_base import WindowBase


class WindowDocks(WindowBase):
    """The docks of the main window and what they load (through the window's runner).

    Emits the window's ``my_day_loaded(object)`` (declared on ``MainWindow``, with every
    signal of the window: PySide orders a class's signals and slots only within one class)
    when the doctor's day list got a ``MyDay``.
    """

    my_day_loaded: SignalInstance

    def _build_calendar_dock(self) -> None:
        """The month calendar on the left: a click jumps there; bold days have appointments,
        grey days are closed (``dayview.month_overview``, loaded per month shown)."""
        self.month_calendar = MonthCalendar()
        self.month_calendar.setAccessibleName("Month calendar: jump to a day")
        self.month_calendar.month_shown.connect(self._load_month)
        self.calendar_dock = QDockWidget("Calendar", self)
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
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.calendar_dock)

    def _build_my_day_dock(self) -> None:
        """The doctor's day list on the right: arrivals, waiting time since check-in, the next
        patient. Shown first for a signed-in doctor (their own day); otherwise it follows the
        doctor of the selected column (View ▸ Doctor's day, Ctrl+Shift+D)."""
        self._my_day_doctor: int | None = getattr(self.session, "doctor_resource_id", None)
        self._my_day_asked: tuple[int, date] | None = None  # (doctor, day) of the latest day list asked for
        self.my_day_panel = MyDayPanel(clock=self._clock)
        self.my_day_dock = QDockWidget("Doctor's day", self)
        self.my_day_dock.setObjectName("myDayDock")
        self.my_day_dock.setWidget(self.my_day_panel)
        self.my_day_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                                     | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        toggle = self.my_day_dock.toggleViewAction()
        toggle.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Modifier.SHIFT | Qt.Key.Key_D))
        # Not the action's toggled: it fires before the dock is shown, when reload_my_day skips a hidden dock.
        self.my_day_dock.visibilityChanged.connect(lambda shown: self.reload_my_day() if shown else None)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.my_day_dock)
        self.my_day_dock.setVisible(self.capabilities.my_day_first)

    def my_day_doctor(self) -> int | None:
        """The doctor resource id the day list shows: the signed-in doctor, else the selected
        column's doctor (kept when the selection moves to a non-doctor column)."""
        own = getattr(self.session, "doctor_resource_id", None)
        if own is not None:
            return own
        index = self.grid.currentIndex()
        if index.isValid():
            column = self.grid_model.columns[index.column()]
            if column.kind == "doctor":
                self._my_day_doctor = column.id
        if self._my_day_doctor is None:
            doctors = [r for r in self.grid_model.columns if r.kind == "doctor"]
            self._my_day_doctor = doctors[0].id if doctors else None
        return self._my_day_doctor

    def my_day_date(self) -> date | None:
        """The branch-local date the day list shows: the day shown, or in the week view the
        selected column's day (else the day the week was opened on)."""
        index = self.grid.currentIndex()
        if self._mode == "week" and index.isValid() and self.week_model.week is not None:
            try:
                return self.week_model.date_of_column(index.column())
            except IndexError:
                pass
        return self._day

    def reload_my_day(self) -> None:
        """Reload the doctor's day list (in the background) if it is shown."""
        doctor, day = self.my_day_doctor(), self.my_day_date()
        if not self.my_day_dock.isVisible() or doctor is None or day is None:
            return
        self._my_day_asked = (doctor, day)
        db, now = self._db, self._clock()
        self.runner.run(lambda: my_day(db, resource_id=doctor, local_date=day, now=now),
                        on_success=self._on_my_day_loaded, key="my-day", label="load doctor's day")

    def _on_my_day_loaded(self, day: MyDay) -> None:
        self.my_day_panel.set_day(day)
        self.my_day_loaded.emit(day)

    def _on_changes_for_docks(self, changes: Changes) -> None:
        """The docks' subscription to the change bus: reload the month's counts and the doctor's
        day list when ``changes`` touches what they show."""
        if self._branch is None:
            return
        branch_id = self._branch.id
        year, month = self.month_calendar.yearShown(), self.month_calendar.monthShown()
        days = changes.days_of(branch_id)
        if days is None or any((d.year, d.month) == (year, month) for d in days):
            self._load_month(year, month)
        day = self.my_day_date()
        if self.my_day_dock.isVisible() and day is not None and changes.touches(branch_id, (day,)) \
                and changes.touches_resource(self.my_day_doctor()):
            self.reload_my_day()

    def _month_calendar_tint(self) -> None:
        """Tint the day or week shown on the month calendar."""
        if self._day is None:
            return
        if self._mode == "week":
            monday = week_start(self._day)
            self.month_calendar.set_shown(monday, monday + timedelta(days=6))
        else:
            self.month_calendar.set_shown(self._day)

    def _month_calendar_show(self) -> None:
        """Tint the day or week shown on the month calendar and load its month's counts."""
        if self._day is None:
            return
        self._month_calendar_tint()
        self._load_month(self.month_calendar.yearShown(), self.month_calendar.monthShown())

    def _load_month(self, year: int, month: int) -> None:
        if self._branch is None:
            return
        db, branch_id = self._db, self._branch.id
        self.runner.run(lambda: month_overview(db, branch_id, year, month), on_success=self._on_month_loaded,
                        key="month", label="load month")

    def _on_month_loaded(self, overview: MonthOverview) -> None:
        if self._branch is not None and overview.branch_id == self._branch.id:
            self.month_calendar.set_overview(overview)

