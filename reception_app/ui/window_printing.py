"""The main window's print actions: the doctor's day sheet and the branch's day list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar, QToolButton, QWidget

from ..reports import day_sheet
from ..services.dayview import DayView, GridResource
from ..services.patients import patients_by_id
from . import local_formats, print_preview
from .window_base import WindowBase


class WindowPrinting(WindowBase):
    """"Print ▾" on the main window's toolbar and what it prints (built in the background,
    shown in the print preview)."""

    print_preview: QWidget | None

    def _build_print_actions(self, bar: QToolBar) -> None:
        """"Print ▾": the doctor's day sheet (Ctrl+P) and the branch's day list (Ctrl+Shift+P),
        both as PDF through the print preview (``reports.day_sheet``, ``ui.print_preview``)."""
        self.print_sheet_action = QAction("Print doctor's day sheet…", self)
        self.print_sheet_action.setObjectName("printDaySheet")
        self.print_sheet_action.setShortcut(QKeySequence.StandardKey.Print)
        self.print_sheet_action.setStatusTip("Print the day sheet of the selected column's doctor")
        self.print_sheet_action.triggered.connect(lambda: self.print_day_sheet())
        self.print_list_action = QAction("Print day list…", self)
        self.print_list_action.setObjectName("printDayList")
        self.print_list_action.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Modifier.SHIFT | Qt.Key.Key_P))
        self.print_list_action.setStatusTip("Print every appointment of the branch's day")
        self.print_list_action.triggered.connect(self.print_day_list)
        for action in (self.print_sheet_action, self.print_list_action):
            self.addAction(action)
        menu = QMenu("Print", self)
        menu.setObjectName("printMenu")
        menu.addActions([self.print_sheet_action, self.print_list_action])
        button = QToolButton()
        button.setObjectName("printMenuButton")
        button.setText("Print ▾")
        button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        button.setAccessibleName("Print")
        button.setToolTip("Print the day sheet or the day list")
        button.setMenu(menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        bar.addWidget(button)

    def _sheet_doctor(self) -> GridResource | None:
        """The doctor whose day sheet Ctrl+P prints: the current cell's column if it is a doctor,
        else the signed-in doctor, else the only doctor of the day."""
        view = self._printed_day()
        if view is None:
            return None
        doctors = [r for r in view.resources if r.kind == "doctor"]
        index = self.grid.currentIndex()
        if index.isValid():
            column = self.grid_model.columns[index.column()]
            if column.kind == "doctor":
                return column
        own = getattr(self.session, "doctor_resource_id", None)
        mine = [r for r in doctors if r.id == own]
        if mine:
            return mine[0]
        return doctors[0] if len(doctors) == 1 else None

    def _printed_day(self) -> DayView | None:
        """The day the print actions print: the day shown, or in week mode the current cell's day
        (else the day the week was opened on)."""
        if self.mode == "day":
            return self.model.day
        week, index = self.week_model.week, self.grid.currentIndex()
        if week is None:
            return None
        if index.isValid():
            return self.week_model.day_of_column(index.column())
        return next((d for d in week.days if d.local_date == self.day), week.days[0])

    def print_day_sheet(self, doctor: GridResource | None = None) -> None:
        """Build the doctor's day sheet of the day shown in the background (with the patients' phones
        and ages, read on the worker thread), then preview it.

        ``doctor``: default :meth:`_sheet_doctor`; without one the status bar says to select a
        doctor's column."""
        view = self._printed_day()
        doctor = doctor or self._sheet_doctor()
        if view is None:
            return
        if doctor is None:
            self.statusBar().showMessage("Select a cell in a doctor's column to print that doctor's day sheet.",
                                         15_000)
            return
        db, ids = self._db, {a.patient_id for a in view.appointments if a.patient_id is not None}
        self._print(lambda by, at: day_sheet.doctor_day_sheet_pdf(view, doctor.id, printed_by=by, printed_at=at,
                                                                  patients=patients_by_id(db, ids)),
                    f"Day sheet — {doctor.name}, {local_formats.day(view.local_date)}")

    def print_day_list(self) -> None:
        """Build the branch's day list of the day shown in the background (with the patients' phones
        and ages, read on the worker thread), then preview it."""
        view = self._printed_day()
        if view is not None:
            db, ids = self._db, {a.patient_id for a in view.appointments if a.patient_id is not None}
            self._print(lambda by, at: day_sheet.day_list_pdf(view, printed_by=by, printed_at=at,
                                                              patients=patients_by_id(db, ids)),
                        f"Day list — {view.branch.name}, {local_formats.day(view.local_date)}")

    def _print(self, build: Callable[[str, datetime], bytes], title: str) -> None:
        printed_by = self.printed_by
        now = self._clock()
        self._busy_text = "Preparing the printout…"
        self.runner.run(lambda: build(printed_by, now), on_success=lambda pdf: self._show_print_preview(pdf, title),
                        label="print")

    def _show_print_preview(self, pdf: bytes, title: str) -> None:
        self.print_preview = print_preview.preview_pdf(self, pdf, title)

