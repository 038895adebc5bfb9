"""Overrides with a record: the "Force booking…" dialog and the "Overrides log" window.

Both call ``services.overrides`` through the shared :class:`~.runner.Runner`.
The database decides who may override (managers and admins; anyone else sees
the refusal in plain words) and never lets two live bookings of one resource
overlap. Times are shown and entered on the branch's wall clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QTime, Signal
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
    QTableWidget,
    QTableWidgetItem,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError, NotFound, ValidationError
from ..domain.wallclock import local_to_utc
from ..services import dayview, overrides, patients, rosters, scheduling
from ..services.overrides import OverrideEntry
from ..services.scheduling import AppointmentView
from ..store.database import Database
from . import local_formats
from .colors import MessageLabel
from .roster_dialog import pydate, qdate
from .runner import Clock, Runner


@dataclass(frozen=True)
class _Log:
    """What the log window shows: the entries, their appointments (by id, those still there) and the
    doctors' names (by resource id, for the details of a change of doctor)."""

    entries: list[OverrideEntry]
    appointments: dict[int, AppointmentView]
    doctors: dict[int, str]


class ForceBookingDialog(QDialog):
    """Book over a block or outside a shift, with a required reason (managers and admins).

    ``branch``/``timezone``: the branch booked at and its IANA zone (the date and time are its
    wall clock); ``clock``: the current aware time; ``day``: the date offered first.
    The "Force booking" button stays disabled until a patient is chosen and a reason typed.
    The dialog closes only on success.

    Signals:
        lists_loaded(): services, doctors (and the patient search) are filled in.
        patients_found(int): a patient search finished: how many matches.
        appointment_booked(object): the forced booking committed: its ``AppointmentView``.
        error_shown(str): an expected error's message, shown in the dialog.
    """

    lists_loaded = Signal()
    patients_found = Signal(int)
    appointment_booked = Signal(object)
    error_shown = Signal(str)

    def __init__(self, db: Database, runner: Runner, *, branch: str, timezone: str, clock: Clock | None = None,
                 day: date | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Force booking — {branch}")
        self._db = db
        self._runner = runner
        self._branch = branch
        self._tz = ZoneInfo(timezone)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._client_id = uuid.uuid4()  # one per dialog: a retry after a lost commit books once

        layout = QVBoxLayout(self)
        form = QFormLayout()
        search = QHBoxLayout()
        self.patient_query = QLineEdit()
        self.patient_query.setAccessibleName("Patient search")
        self.patient_query.setPlaceholderText("name, phone or date of birth")
        self.find_button = QPushButton("Find")
        self.find_button.setAutoDefault(False)
        search.addWidget(self.patient_query)
        search.addWidget(self.find_button)
        search_label = QLabel("&Find patient:")
        search_label.setBuddy(self.patient_query)  # a label of a layout gets no buddy by itself
        form.addRow(search_label, search)
        self.patient_combo = QComboBox()
        self.patient_combo.setAccessibleName("Patient")
        form.addRow("Patient:", self.patient_combo)
        self.service_combo = QComboBox()
        self.service_combo.setAccessibleName("Service")
        form.addRow("&Service:", self.service_combo)
        self.doctor_combo = QComboBox()
        self.doctor_combo.setAccessibleName("Doctor")
        form.addRow("&Doctor:", self.doctor_combo)
        self.date_edit = QDateEdit(qdate(day or self._clock().astimezone(self._tz).date()))
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat(local_formats.qt_date_format(weekday=False))
        self.time_edit = QTimeEdit(QTime(8, 0))
        self.time_edit.setDisplayFormat("HH:mm")
        self.date_edit.setAccessibleName("Date")
        self.time_edit.setAccessibleName(f"Start time ({branch} time)")
        form.addRow("Dat&e:", self.date_edit)
        form.addRow("&Time:", self.time_edit)
        self.reason_edit = QLineEdit()
        self.reason_edit.setAccessibleName("Reason for the override")
        self.reason_edit.setPlaceholderText("required: why the rules are overridden")
        form.addRow("&Reason:", self.reason_edit)
        self.parallel_check = QCheckBox("Runs in &parallel with the patient's other appointment then "
                                        "(a companion, parts of one visit)")
        self.parallel_check.setAccessibleName("Parallel with the patient's other appointment")
        form.addRow("", self.parallel_check)
        layout.addLayout(form)
        note = QLabel("Skips the doctor's shifts, the branch's hours and holidays, blocks and leave, and the "
                      "minimum notice; every skipped rule is logged with the reason. It never double-books a "
                      "resource; a patient is booked twice at once only when marked parallel (logged too).")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.message_label = MessageLabel()
        layout.addWidget(self.message_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.book_button = self.buttons.addButton("Force booking", QDialogButtonBox.ButtonRole.AcceptRole)
        self.book_button.setEnabled(False)
        self.buttons.accepted.connect(self._on_book_clicked)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.resize(560, self.sizeHint().height())

        self.find_button.clicked.connect(self._on_find_clicked)
        self.patient_query.returnPressed.connect(self._on_find_clicked)
        self.reason_edit.textChanged.connect(self._update_button)
        self.patient_combo.currentIndexChanged.connect(self._update_button)
        self._runner.run(lambda: (dayview.list_services(self._db), rosters.list_doctors(self._db)),
                         on_success=self._on_lists_loaded, on_failure=self._show_error, key="force-lists",
                         label="force booking lists")

    def _on_lists_loaded(self, lists: tuple[list[dayview.ServiceSummary], list[tuple[int, str]]]) -> None:
        services, doctors = lists
        self.service_combo.addItems([s.name for s in services])
        self.doctor_combo.addItems([name for _, name in doctors])
        self.lists_loaded.emit()

    def _on_find_clicked(self) -> None:
        query = self.patient_query.text().strip()
        if not query:
            return
        self._runner.run(lambda: patients.find_patients(self._db, query), on_success=self._on_patients_found,
                         on_failure=self._show_error, key="force-patients", label="find patients")

    def _on_patients_found(self, found: list[patients.PatientView]) -> None:
        self.patient_combo.clear()
        for p in found:
            born = f", born {local_formats.current().date_text(p.birth_date)}" if p.birth_date else ""
            self.patient_combo.addItem(f"{p.name}{born}", p.id)
        self._update_button()
        self.patients_found.emit(len(found))

    def _update_button(self, *_args: object) -> None:
        self.book_button.setEnabled(bool(self.reason_edit.text().strip()) and self.patient_combo.currentData()
                                    is not None)

    def start(self) -> datetime:
        """The chosen start as an aware UTC instant (the branch's wall clock)."""
        t = self.time_edit.time()
        return local_to_utc(pydate(self.date_edit.date()), t.hour() * 60 + t.minute(), self._tz)

    def _on_book_clicked(self) -> None:
        patient_id = self.patient_combo.currentData()
        reason = self.reason_edit.text()
        if patient_id is None:
            self._show_error(ValidationError("patient", None, "choose a patient first"))
            return
        branch, service, doctor = self._branch, self.service_combo.currentText(), self.doctor_combo.currentText()
        start, now, cid = self.start(), self._clock(), self._client_id
        parallel = self.parallel_check.isChecked()
        self.book_button.setEnabled(False)
        self._runner.run(lambda: overrides.force_book(self._db, branch=branch, service=service, start=start,
                                                      patient_id=int(patient_id), doctor=doctor, reason=reason,
                                                      now=now, client_id=cid, parallel=parallel),
                         on_success=self._on_booked,
                         on_failure=self._show_error, on_finished=self._update_button, key="force-book",
                         label="force booking")

    def _on_booked(self, appointment: AppointmentView) -> None:
        self.appointment_booked.emit(appointment)
        self.accept()

    def _show_error(self, error: ClinicError) -> None:
        self.message_label.setText(str(error))
        self.message_label.show()
        self.error_shown.emit(str(error))


class OverridesLogWindow(QDialog):
    """Who overrode what, when and why: the ``override_log`` between two local dates (inclusive,
    in zone ``timezone``), newest first. Changing a date reloads.

    Signals:
        log_loaded(int): the table was (re)loaded: how many rows.
    """

    log_loaded = Signal(int)
    COLUMNS = ("When", "Who", "What", "Patient", "Appointment", "Why", "Details")

    def __init__(self, db: Database, runner: Runner, *, timezone: str, clock: Clock | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Overrides log")
        self._db = db
        self._runner = runner
        self._tz = ZoneInfo(timezone)
        today = (clock or (lambda: datetime.now(UTC)))().astimezone(self._tz).date()
        self.entries: list[OverrideEntry] = []
        layout = QVBoxLayout(self)
        filters = QHBoxLayout()
        self.from_edit = QDateEdit(qdate(today).addDays(-30))
        self.until_edit = QDateEdit(qdate(today))
        for label, edit in (("&From:", self.from_edit), ("&To:", self.until_edit)):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat(local_formats.qt_date_format(weekday=False))
            edit.setAccessibleName(label.replace("&", "").rstrip(":") + " date")
            text = QLabel(label)
            text.setBuddy(edit)
            filters.addWidget(text)
            filters.addWidget(edit)
            edit.dateChanged.connect(self.reload)
        filters.addStretch(1)
        layout.addLayout(filters)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setAccessibleName("Overrides")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)  # the reason is the point of the log: shown whole, on more lines
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for column in ("Why", "Details"):  # long texts wrap
            header.setSectionResizeMode(self.COLUMNS.index(column), QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table)
        self.message_label = MessageLabel()
        layout.addWidget(self.message_label)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.resize(1100, 420)
        self.table.setFocus()
        self.reload()

    def reload(self, *_args: object) -> None:
        """Read the log for the dates shown again."""
        lo, hi = overrides.day_range_utc(pydate(self.from_edit.date()), pydate(self.until_edit.date()), self._tz)
        db = self._db

        def work() -> _Log:
            entries = overrides.overrides_log(db, since=lo, until=hi)
            appointments: dict[int, AppointmentView] = {}
            for appointment_id in {e.appointment_id for e in entries if e.appointment_id is not None}:
                try:
                    appointments[appointment_id] = scheduling.get_appointment(db, appointment_id)
                except NotFound:
                    pass
            return _Log(entries, appointments, dict(rosters.list_doctors(db)) if entries else {})

        self._runner.run(work, on_success=self._on_loaded, on_failure=self._show_error, key="overrides-log",
                         label="overrides log")

    def _when(self, instant: datetime) -> str:
        return local_formats.day_time(instant.astimezone(self._tz))

    def _appointment_text(self, e: OverrideEntry, log: _Log) -> str:
        if e.appointment_id is None:
            return "—"
        a = log.appointments.get(e.appointment_id)
        if a is None:
            return f"No longer in the database (no. {e.appointment_id})"
        return f"{a.service}, {local_formats.day_time(a.start.astimezone(self._tz))}"

    def _details(self, e: OverrideEntry, log: _Log) -> str:
        """What was overridden, in words: the doctors or times of a move, and the other rules skipped."""
        d = e.detail
        def doctor(resource_id: object) -> str:
            return log.doctors.get(resource_id, "no doctor") if isinstance(resource_id, int) else "no doctor"

        parts: list[str] = []
        if e.kind == "change_doctor":
            parts.append(f"{doctor(d.get('from'))} → {doctor(d.get('to'))}")
        elif e.kind == "move":
            try:
                parts.append(f"{self._when(datetime.fromisoformat(str(d['from'])))} → "
                             f"{self._when(datetime.fromisoformat(str(d['to'])))}")
            except (KeyError, ValueError):
                pass
        else:
            resources = d.get("resources") or {}
            if isinstance(resources, dict) and resources.get("doctor") in log.doctors:
                parts.append(f"with {log.doctors[resources['doctor']]}")
        skipped = [overrides.OVERRIDE_KINDS.get(k, k).lower() for k in d.get("skipped") or () if k != e.kind]
        if skipped:
            parts.append("also skipped: " + ", ".join(skipped))
        return "; ".join(parts)

    def _on_loaded(self, log: _Log) -> None:
        entries = log.entries
        self.entries = entries
        self.message_label.hide()
        self.table.setRowCount(0)
        for e in entries:
            r = self.table.rowCount()
            self.table.insertRow(r)
            values = [self._when(e.at), e.who, e.what, e.patient or "—", self._appointment_text(e, log), e.reason, self._details(e, log)]
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value if c != self.COLUMNS.index("Appointment") or e.appointment_id is None
                                else f"{value} (appointment no. {e.appointment_id})")
                self.table.setItem(r, c, item)
        self.log_loaded.emit(len(entries))

    def _show_error(self, error: ClinicError) -> None:
        self.message_label.setText(str(error))
        self.message_label.show()


class ForceMoveDialog(QDialog):
    """Move a patient over the clinic's rules, or change their doctor, with a required reason.

    For managers and admins (``overrides.force_move``; the database checks who
    may): the new local date and time (branch zone) and/or another doctor. Shifts,
    opening hours, holidays, time off and notice are overridden and logged; two
    live bookings of one resource never overlap (the refusal names what is in the
    way). Opened with ``open()``; closes only when the move committed.

    Signals:
        appointment_moved(object): the ``MoveResult``.
    """

    appointment_moved = Signal(object)

    def __init__(self, db: Database, runner: Runner, *, appointment: AppointmentView, timezone: str,
                 clock: Clock | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("forceMoveDialog")
        self.setWindowTitle(f"Force move — {appointment.patient}")
        self.setAccessibleName("Force move an appointment")
        self._db, self._runner, self._appointment = db, runner, appointment
        self._tz = ZoneInfo(timezone)
        self._clock = clock or (lambda: datetime.now(UTC))
        local = appointment.start.astimezone(self._tz)
        v = QVBoxLayout(self)
        form = QFormLayout()
        self.date_edit = QDateEdit(qdate(local.date()))
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setAccessibleName("New date")
        self.time_edit = QTimeEdit(QTime(local.hour, local.minute))
        self.time_edit.setDisplayFormat("HH:mm")
        self.time_edit.setAccessibleName("New start time")
        when = QHBoxLayout()
        when.addWidget(self.date_edit)
        when.addWidget(self.time_edit)
        form.addRow("New start:", when)
        self.doctor_combo = QComboBox()
        self.doctor_combo.setAccessibleName("Doctor")
        current = appointment.resources.get("doctor")
        self.doctor_combo.addItem(f"Keep {current}" if current else "No doctor", None)
        form.addRow("Doctor:", self.doctor_combo)
        self.reason_edit = QLineEdit()
        self.reason_edit.setObjectName("forceMoveReason")
        self.reason_edit.setAccessibleName("Reason for the override")
        self.reason_edit.setPlaceholderText("required: why the rules are overridden")
        form.addRow("Reason:", self.reason_edit)
        v.addLayout(form)
        self.message_label = MessageLabel()
        v.addWidget(self.message_label)
        buttons = QDialogButtonBox()
        self.move_button = buttons.addButton("Force move", QDialogButtonBox.ButtonRole.AcceptRole)
        self.move_button.setObjectName("forceMoveButton")
        self.move_button.setEnabled(False)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.reason_edit.textChanged.connect(lambda text: self.move_button.setEnabled(bool(text.strip())))
        buttons.accepted.connect(self._move)
        buttons.rejected.connect(self.reject)
        v.addWidget(buttons)
        if current:
            self._runner.run(lambda: rosters.list_doctors(db), on_success=self._on_doctors, label="doctors")

    def _on_doctors(self, doctors: list[tuple[int, str]]) -> None:
        current = self._appointment.resources.get("doctor")
        for _id, name in doctors:
            if name != current:
                self.doctor_combo.addItem(name, name)

    def new_start(self) -> datetime:
        """The chosen start as an aware UTC instant (branch-local date and time; a time the clocks
        skip is read with the offset before the change, as everywhere in the program)."""
        return local_to_utc(pydate(self.date_edit.date()), self.time_edit.time().hour() * 60
                            + self.time_edit.time().minute(), self._tz)

    def _move(self) -> None:
        db, appt, now = self._db, self._appointment, self._clock()
        start = self.new_start()
        doctor = self.doctor_combo.currentData()
        reason = self.reason_edit.text().strip()
        self.move_button.setEnabled(False)
        self._runner.run(
            lambda: overrides.force_move(db, appt.id, start=None if start == appt.start else start, doctor=doctor,
                                         reason=reason, now=now),
            on_success=self._on_moved, on_failure=self._on_failed, label="force move")

    def _on_moved(self, result: object) -> None:
        self.appointment_moved.emit(result)
        self.accept()

    def _on_failed(self, error: ClinicError) -> None:
        self.message_label.setText(str(error))
        self.message_label.show()
        self.move_button.setEnabled(bool(self.reason_edit.text().strip()))
