"""The series dialog: book a recurring series for one patient ("physiotherapy every Tuesday at 10:00").

Choose the service, a doctor (or any), the weekdays, the local time, every N
weeks, and an end (a number of occurrences or an end date); "Check" plans the
whole series (``series.plan_series``: nothing written) and lists every
occurrence as free or not, with why and the nearest free starts. The user may
skip a date or move one occurrence to its first same-day alternative (both
re-check the plan), then "Book free occurrences" (``mode="free_only"``) or
"Book all or none" (``mode="all_or_nothing"``); the database re-judges each
occurrence when booking. Every database call goes through the shared
:class:`~.runner.Runner`; times show on the branch's wall clock.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

from PySide6.QtCore import QDate, Qt, QTime, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTimeEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError
from ..domain.recurrence import MAX_OCCURRENCES, Exceptions, weekly_rule
from ..services import series
from ..services.scheduling import AppointmentView
from ..services.series import Occurrence, SeriesPlan, SeriesView
from ..store.database import Database
from . import local_formats
from .colors import ERROR_TEXT_STYLE, MessageLabel
from .runner import Clock, Runner
from .visit_dialog import PatientBookingDialog

ANY_DOCTOR = "Any doctor"
_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


class SeriesDialog(PatientBookingDialog):
    """Plan and book a recurring series for ``patient_id`` at ``branch`` (IANA ``timezone``).

    ``day``: the first date offered (default: today at the branch). ``clock``: the
    current aware time (tests pass a fixed one).

    Signals (and ``services_loaded`` of :class:`PatientBookingDialog`):
        plan_ready(object): a ``SeriesPlan`` was listed (also after a failed check: None).
        series_booked(object): the series committed: its ``SeriesView`` (the dialog closes).
    """

    plan_ready = Signal(object)
    series_booked = Signal(object)

    def __init__(self, db: Database, runner: Runner, *, branch: str, timezone: str, patient_id: int,
                 patient_name: str, day: date | None = None, clock: Clock | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(db, runner, branch=branch, timezone=timezone, patient_id=patient_id,
                         object_name="seriesDialog", title=f"Recurring series — {patient_name}", clock=clock,
                         parent=parent)
        self._plan: SeriesPlan | None = None
        self._exceptions = Exceptions()
        self.resize(760, 580)

        v = QVBoxLayout(self)
        form = QFormLayout()
        self.service_combo.currentIndexChanged.connect(self._on_service_changed)
        form.addRow("&Service", self.service_combo)
        self.doctor_combo = QComboBox()
        self.doctor_combo.setObjectName("seriesDoctor")
        self.doctor_combo.setAccessibleName("Doctor")
        self.doctor_combo.addItem(ANY_DOCTOR)
        self.doctor_combo.currentIndexChanged.connect(self._on_input_changed)
        form.addRow("&Doctor", self.doctor_combo)

        days_row = QHBoxLayout()
        self.weekday_boxes: list[QCheckBox] = []
        for i, name in enumerate(_WEEKDAY_NAMES):
            box = QCheckBox(name)
            box.setObjectName(f"seriesDay{i}")
            box.setAccessibleName(f"On {name}")
            box.toggled.connect(self._on_input_changed)
            days_row.addWidget(box)
            self.weekday_boxes.append(box)
        days_row.addStretch(1)  # the boxes as wide as their names: a click beside a name does not toggle it
        form.addRow("On", days_row)
        self.time_edit = QTimeEdit(QTime(10, 0))
        self.time_edit.setObjectName("seriesTime")
        self.time_edit.setAccessibleName("Local start time")
        self.time_edit.setDisplayFormat("HH:mm")
        self.time_edit.timeChanged.connect(self._on_input_changed)
        self.time_edit.setToolTip(f"{branch} time")
        self.time_edit.setMaximumWidth(90)
        form.addRow("&At", self.time_edit)
        self.interval_spin = QSpinBox()
        self.interval_spin.setObjectName("seriesInterval")
        self.interval_spin.setAccessibleName("Every how many weeks")
        self.interval_spin.setRange(1, 52)
        self.interval_spin.setSuffix(" week")
        self.interval_spin.setMaximumWidth(120)
        self.interval_spin.valueChanged.connect(
            lambda n: self.interval_spin.setSuffix(" week" if n == 1 else " weeks"))
        self.interval_spin.valueChanged.connect(self._on_input_changed)
        form.addRow("&Every", self.interval_spin)
        today = self._clock().astimezone(self._tz).date()
        first = day or today
        self.first_edit = QDateEdit(_qdate(first))
        self.first_edit.setObjectName("seriesFirst")
        self.first_edit.setAccessibleName("From")
        self.first_edit.setCalendarPopup(True)
        self.first_edit.setDisplayFormat(local_formats.qt_date_format())  # as the dates of the plan below
        self.first_edit.dateChanged.connect(self._on_input_changed)
        self.first_edit.setMaximumWidth(180)
        first_row = QHBoxLayout()
        first_row.addWidget(self.first_edit)
        first_row.addStretch(1)
        first_label = QLabel("&From")
        first_label.setBuddy(self.first_edit)  # a label of a layout gets no buddy by itself
        form.addRow(first_label, first_row)
        end_row = QHBoxLayout()
        self.count_radio = QRadioButton("After")
        self.count_radio.setObjectName("seriesByCount")
        self.count_radio.setChecked(True)
        self.count_spin = QSpinBox()
        self.count_spin.setObjectName("seriesCount")
        self.count_spin.setAccessibleName("Number of occurrences")
        self.count_spin.setRange(1, MAX_OCCURRENCES)
        self.count_spin.setValue(8)
        self.count_spin.setSuffix(" occurrences")
        self.count_spin.valueChanged.connect(
            lambda n: self.count_spin.setSuffix(" occurrence" if n == 1 else " occurrences"))
        self.until_radio = QRadioButton("&Until")
        self.until_radio.setObjectName("seriesByUntil")
        self.until_edit = QDateEdit(_qdate(first).addDays(56))
        self.until_edit.setObjectName("seriesUntil")
        self.until_edit.setAccessibleName("Until date")
        self.until_edit.setCalendarPopup(True)
        self.until_edit.setDisplayFormat(local_formats.qt_date_format())
        for radio in (self.count_radio, self.until_radio):
            radio.toggled.connect(self._on_input_changed)
        self.count_spin.valueChanged.connect(self._on_input_changed)
        self.until_edit.dateChanged.connect(self._on_input_changed)
        for part in (self.count_radio, self.count_spin, self.until_radio, self.until_edit):
            end_row.addWidget(part)
        end_row.addStretch(1)
        form.addRow("Ends", end_row)
        v.addLayout(form)

        check_row = QHBoxLayout()
        self.check_button = QPushButton("&Check")
        self.check_button.setObjectName("seriesCheck")
        self.check_button.clicked.connect(self.check)
        self.skip_button = QPushButton("S&kip this date")
        self.skip_button.setObjectName("seriesSkip")
        self.skip_button.clicked.connect(self.skip_selected)
        self.alternative_button = QPushButton("Move to the nearest free &time that day")
        self.alternative_button.setObjectName("seriesUseAlternative")
        self.alternative_button.clicked.connect(self.use_alternative)
        for button in (self.check_button, self.skip_button, self.alternative_button):
            check_row.addWidget(button)
        check_row.addStretch(1)
        v.addLayout(check_row)

        self.plan_tree = QTreeWidget()
        self.plan_tree.setObjectName("seriesPlan")
        self.plan_tree.setAccessibleName("Occurrences")
        self.plan_tree.setHeaderLabels(["Date", "Time", "Free?", "Doctor / why not", "Nearest free starts"])
        self.plan_tree.setRootIsDecorated(False)
        self.plan_tree.setUniformRowHeights(True)
        self.plan_tree.setAlternatingRowColors(True)
        self.plan_tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.plan_tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)  # long reasons elide; the tooltip has all
        header.setStretchLastSection(False)
        self.plan_tree.currentItemChanged.connect(self._on_current_changed)
        v.addWidget(self.plan_tree, 1)

        self._add_status_area(v)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.book_free_button = self.buttons.addButton("Book free &occurrences",
                                                       QDialogButtonBox.ButtonRole.AcceptRole)
        self.book_free_button.setObjectName("seriesBookFree")
        self.book_all_button = self.buttons.addButton("Book all or &none", QDialogButtonBox.ButtonRole.AcceptRole)
        self.book_all_button.setObjectName("seriesBookAll")
        self.book_free_button.clicked.connect(lambda: self.book("free_only"))
        self.book_all_button.clicked.connect(lambda: self.book("all_or_nothing"))
        self.buttons.rejected.connect(self.reject)
        v.addWidget(self.buttons)

        weekday = first.weekday()
        self.weekday_boxes[weekday].setChecked(True)
        self._update_buttons()
        self._load_services()

    # -- public --------------------------------------------------------------------------------
    @property
    def plan(self) -> SeriesPlan | None:
        """The plan listed (None before a check or after an input changed)."""
        return self._plan

    @property
    def exceptions(self) -> Exceptions:
        """The skipped and retimed dates chosen so far."""
        return self._exceptions

    def selected_occurrence(self) -> Occurrence | None:
        """The occurrence selected in the list, or None."""
        item = self.plan_tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def check(self) -> None:
        """Plan the series as the form says (in the background; writes nothing)."""
        weekdays = [i for i, box in enumerate(self.weekday_boxes) if box.isChecked()]
        service = self.service_combo.currentText()
        doctor = self.doctor_combo.currentText()
        by_count = self.count_radio.isChecked()
        count, until = (self.count_spin.value(), None) if by_count else (None, _pydate(self.until_edit.date()))
        interval = self.interval_spin.value()
        t = self.time_edit.time()
        local_start = time(t.hour(), t.minute())
        first = _pydate(self.first_edit.date())
        db, branch, patient_id, now, ex = self._db, self._branch, self._patient_id, self._clock(), self._exceptions
        self.message_label.hide()
        self.status_label.setText("Checking every occurrence…")

        def work() -> SeriesPlan:
            rule = weekly_rule(weekdays, interval=interval, count=count, until=until)
            return series.plan_series(db, branch=branch, service=service, patient_id=patient_id, rrule=rule,
                                      first_date=first, local_start=local_start,
                                      doctor=None if doctor == ANY_DOCTOR else doctor, exceptions=ex, now=now)

        self._runner.run(work, on_success=self._on_planned, on_failure=self._on_plan_failed,
                         key=self._key + "-plan", label="plan a series")

    def skip_selected(self) -> None:
        """Leave the selected occurrence's date out of the series and check again."""
        o = self.selected_occurrence()
        if o is None:
            return
        retime = {d: t for d, t in self._exceptions.retime.items() if d != o.series_date}
        self._exceptions = Exceptions(skip=self._exceptions.skip | {o.series_date}, retime=retime)
        self.check()

    def use_alternative(self) -> None:
        """Move the selected conflicting occurrence to its nearest free start on the same day
        (a per-occurrence time exception) and check again."""
        o = self.selected_occurrence()
        alt = self._same_day_alternative(o)
        if o is None or alt is None:
            return
        local = alt.start.astimezone(self._tz)
        self._exceptions = replace(self._exceptions,
                                   retime={**self._exceptions.retime, o.series_date: time(local.hour, local.minute)})
        self.check()

    def book(self, mode: str) -> None:
        """Book the planned series: ``"free_only"`` or ``"all_or_nothing"`` (in the background)."""
        plan = self._plan
        if plan is None or self._busy:
            return
        db, cid, now = self._db, self._client_id, self._clock()
        self._busy = True
        self._update_buttons()
        self.message_label.hide()
        self.status_label.setText("Booking…")
        self._runner.run(lambda: series.book_series(db, plan, mode=mode, client_id=cid, now=now),  # type: ignore[arg-type]
                         on_success=self._on_booked, on_failure=self._on_book_failed,
                         on_finished=self._on_book_finished, label="book a series")

    # -- reactions ---------------------------------------------------------------------------------
    def _after_services(self) -> None:
        self._on_service_changed(self.service_combo.currentIndex())

    def _on_service_changed(self, _index: int) -> None:
        self._on_input_changed()
        self.doctor_combo.blockSignals(True)
        self.doctor_combo.clear()
        self.doctor_combo.addItem(ANY_DOCTOR)
        self.doctor_combo.blockSignals(False)
        service = self.service_combo.currentText()
        if not service:
            return
        db, branch = self._db, self._branch
        self._runner.run(lambda: series.doctors_for(db, branch=branch, service=service),
                         on_success=self._on_doctors, on_failure=self._on_failed, key=self._key + "-doctors",
                         label="doctors for a series")

    def _on_doctors(self, names: list[str]) -> None:
        self.doctor_combo.addItems(names)
        self.doctor_combo.setEnabled(bool(names))

    def _on_input_changed(self, *_args: object) -> None:
        """Any change of the form makes the listed plan stale: check again before booking."""
        if self._plan is not None:
            self._plan = None
            self._exceptions = Exceptions()
            self.plan_tree.clear()
            self.status_label.setText("Press Check to see which occurrences are free.")
        self._update_buttons()

    def _on_planned(self, plan: SeriesPlan) -> None:
        self._plan = plan
        self.plan_tree.clear()
        for o in plan.occurrences:
            alts = ", ".join(self._alternative_text(a.start, o.series_date) for a in o.alternatives)
            cells = [local_formats.day(o.series_date), local_formats.time_text(o.local_start), "free" if o.free else "not free",
                     o.resources.get("doctor", "") if o.free else (o.conflict or ""), "" if o.free else alts]
            item = QTreeWidgetItem(cells)
            item.setData(0, Qt.ItemDataRole.UserRole, o)
            if not o.free:
                item.setForeground(2, Qt.GlobalColor.darkRed)
                item.setToolTip(3, o.conflict or "")
                item.setToolTip(4, f"Nearest free starts: {alts}" if alts else "No free start nearby")
            self.plan_tree.addTopLevelItem(item)
        n_free, n_all = len(plan.free), len(plan.occurrences)
        skipped = f", {len(plan.skipped)} date(s) skipped" if plan.skipped else ""
        self.status_label.setText(f"{n_free} of {n_all} occurrences are free{skipped} ({self._branch} time).")
        first = self.plan_tree.topLevelItem(0)
        if plan.conflicts:
            index = plan.occurrences.index(plan.conflicts[0])
            first = self.plan_tree.topLevelItem(index)
        if first is not None:
            self.plan_tree.setCurrentItem(first)
        self._update_buttons()
        self.plan_ready.emit(plan)

    def _alternative_text(self, start: datetime, series_date: date) -> str:
        local = start.astimezone(self._tz)
        return local_formats.time_text(local) if local.date() == series_date else local_formats.day_time(local)

    def _same_day_alternative(self, o: Occurrence | None) -> series.SlotOffer | None:
        if o is None or o.free:
            return None
        return next((a for a in o.alternatives if a.start.astimezone(self._tz).date() == o.series_date), None)

    def _on_plan_failed(self, error: ClinicError) -> None:
        self._plan = None
        self.plan_tree.clear()
        self.status_label.setText("")
        self._show_message(str(error))
        self._update_buttons()
        self.plan_ready.emit(None)

    def _on_current_changed(self, *_args: object) -> None:
        self._update_buttons()

    def _on_booked(self, view: SeriesView) -> None:
        self.series_booked.emit(view)
        self.accept()

    def _on_book_failed(self, error: ClinicError) -> None:
        self.status_label.setText("")
        self._show_message(f"{error} Press Check to see the series as it is now.")

    def _on_book_finished(self) -> None:
        self._busy = False
        self._update_buttons()

    def _update_buttons(self) -> None:
        plan = self._plan
        idle = not self._busy
        self.book_free_button.setEnabled(idle and plan is not None and bool(plan.free))
        self.book_all_button.setEnabled(idle and plan is not None)  # the database decides: all, or none
        self.skip_button.setEnabled(idle and self.selected_occurrence() is not None)
        self.alternative_button.setEnabled(idle and self._same_day_alternative(self.selected_occurrence()) is not None)
        self.check_button.setEnabled(idle)

    def done(self, result: int) -> None:
        """Close; searches still running are dropped (a booking already sent still reports its outcome)."""
        self._discard("-doctors", "-plan")
        super().done(result)


class CancelSeriesDialog(QDialog):
    """Cancel occurrences of a recurring series: this one, this and the following, or all.

    ``appointment``: the occurrence the user chose (its ``series_id`` and
    ``series_date`` say which). A reason is required; who cancels (the clinic or
    the patient) decides early or late by each occurrence's policy. Runs
    ``series.cancel_series`` through the runner; occurrences already past stay
    as history (the service's rule). Opened with ``open()``.

    Signals:
        series_cancelled(object): the ``SeriesView`` after the change.
    """

    series_cancelled = Signal(object)

    SCOPES: tuple[tuple[str, str], ...] = (("one", "Only this occurrence"),
                                           ("following", "This and the following occurrences"),
                                           ("all", "The whole series"))

    def __init__(self, db: Database, runner: Runner, *, appointment: AppointmentView, about: str,
                 clock: Clock | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if appointment.series_id is None:
            raise ValueError("the appointment is not part of a series")
        self._db, self._runner = db, runner
        self._appointment = appointment
        self._clock = clock or (lambda: datetime.now(UTC))
        self.setObjectName("cancelSeriesDialog")
        self.setWindowTitle("Cancel series")
        self.setAccessibleName("Cancel occurrences of a recurring series")
        v = QVBoxLayout(self)
        v.addWidget(QLabel(f"{about} is part of a recurring series. Cancel:"))
        self.scope_buttons: dict[str, QRadioButton] = {}
        for key, text in self.SCOPES:
            button = QRadioButton(text)
            button.setObjectName(f"scope_{key}")
            self.scope_buttons[key] = button
            v.addWidget(button)
        self.scope_buttons["one"].setChecked(True)
        form = QFormLayout()
        self.reason_edit = QLineEdit()
        self.reason_edit.setObjectName("seriesCancelReason")
        self.reason_edit.setAccessibleName("Cancellation reason")
        self.reason_edit.setPlaceholderText("e.g. treatment finished early")
        form.addRow("Reason:", self.reason_edit)
        self.by_combo = QComboBox()
        self.by_combo.setAccessibleName("Who cancels")
        self.by_combo.addItem("The clinic", "clinic")
        self.by_combo.addItem("The patient", "patient")
        form.addRow("Cancelled by:", self.by_combo)
        v.addLayout(form)
        self.message_label = MessageLabel(style=ERROR_TEXT_STYLE)
        v.addWidget(self.message_label)
        buttons = QDialogButtonBox()
        self.ok_button = buttons.addButton("Cancel occurrences", QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok_button.setObjectName("cancelSeriesButton")
        keep = buttons.addButton("Keep them", QDialogButtonBox.ButtonRole.RejectRole)
        keep.setDefault(True)
        self.ok_button.setEnabled(False)
        self.reason_edit.textChanged.connect(lambda text: self.ok_button.setEnabled(bool(text.strip())))
        buttons.accepted.connect(self._cancel)
        buttons.rejected.connect(self.reject)
        v.addWidget(buttons)

    def scope(self) -> str:
        """The chosen scope: ``one``, ``following`` or ``all``."""
        return next(key for key, button in self.scope_buttons.items() if button.isChecked())

    def _cancel(self) -> None:
        appt, db, now = self._appointment, self._db, self._clock()
        scope, reason, by = self.scope(), self.reason_edit.text().strip(), str(self.by_combo.currentData())
        series_id = appt.series_id
        assert series_id is not None  # checked in __init__
        self.ok_button.setEnabled(False)
        self._runner.run(
            lambda: series.cancel_series(db, series_id, scope=scope,  # type: ignore[arg-type]
                                         from_date=appt.series_date, reason=reason, now=now, cancelled_by=by),
            on_success=self._on_done, on_failure=self._on_failed, label="cancel series")

    def _on_done(self, view: SeriesView) -> None:
        self.series_cancelled.emit(view)
        self.accept()

    def _on_failed(self, error: ClinicError) -> None:
        self.message_label.setText(str(error))
        self.message_label.show()
        self.ok_button.setEnabled(bool(self.reason_edit.text().strip()))
