"""The walk-in dialog: a patient at the desk now — book the first free time today and check them in.

Choose the patient (search, or add a new one), the service and optionally a
doctor; the dialog shows the start the walk-in would get
(``scheduling.walk_in_preview``) and one action, "Book and check in"
(``scheduling.walk_in``: one transaction). Nothing free today is said in plain
words. Every database call goes through the shared :class:`~.runner.Runner`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError, ValidationError
from ..services import patients, scheduling
from ..services.dayview import BranchSummary, DayView, ServiceSummary, list_services, load_day
from ..services.patients import PatientView
from ..services.scheduling import AppointmentView, SlotOffer
from ..store.database import Database
from . import colors
from .patient_dialog import patient_line
from .pickers import fill_doctors, fill_services
from .runner import Clock, Runner

_ERROR_STYLE = "color: #b3261e;"
_MESSAGE_STYLE = colors.ERROR_BOX_STYLE


class PatientPicker(QWidget):
    """Find a patient by name (accents and typos forgiven), phone or birth date, or add a new one.

    A new patient is checked for likely duplicates first; when there are some,
    they are listed to pick instead, and "Add patient" pressed again adds anyway.

    Signals:
        patient_chosen(object): the ``PatientView`` chosen (found or added), or None when cleared.
        patients_listed(int): search results arrived (how many).
        patient_added(object): a new patient was written: the ``PatientView``.
    """

    patient_chosen = Signal(object)
    patients_listed = Signal(int)
    patient_added = Signal(object)

    def __init__(self, db: Database, runner: Runner, *, search_delay_ms: int = 250,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._runner = runner
        self._patient: PatientView | None = None
        self._duplicates_for: dict[str, str | None] | None = None
        self._key = f"picker-{id(self)}"
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(search_delay_ms)
        self._timer.timeout.connect(self.search_now)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("walkInPatientSearch")
        self.search_edit.setAccessibleName("Search patients")
        self.search_edit.setPlaceholderText("Name, phone, or birth date (dd/mm/yyyy)")
        self.search_edit.textEdited.connect(lambda _t: self._timer.start())
        self.search_edit.installEventFilter(self)  # Enter searches; it never books with an older choice
        row.addWidget(self.search_edit, 1)
        self.new_button = QPushButton("New patient…")
        self.new_button.setObjectName("walkInNewPatient")
        self.new_button.setCheckable(True)
        self.new_button.setAutoDefault(False)
        self.new_button.toggled.connect(self._on_new_toggled)
        row.addWidget(self.new_button)
        v.addLayout(row)
        self.result_list = QListWidget()
        self.result_list.setObjectName("walkInPatients")
        self.result_list.setAccessibleName("Patients found")
        self.result_list.setMaximumHeight(110)
        self.result_list.currentItemChanged.connect(self._on_current_changed)
        v.addWidget(self.result_list)

        self.new_form = QWidget()
        form = QFormLayout(self.new_form)
        form.setContentsMargins(0, 0, 0, 0)
        self.new_edits: dict[str, QLineEdit] = {}
        for field, label, hint in (("name", "Name", ""), ("birth_date", "Birth date", "YYYY-MM-DD"),
                                   ("phone", "Phone", "+5527999990000 (optional)")):
            edit = QLineEdit()
            edit.setObjectName(f"walkInNew_{field}")
            edit.setAccessibleName(f"New patient's {label.lower()}")
            edit.setPlaceholderText(hint)
            edit.textEdited.connect(self._forget_duplicates)
            self.new_edits[field] = edit
            form.addRow(label, edit)
        self.add_button = QPushButton("Add patient")
        self.add_button.setObjectName("walkInAddPatient")
        self.add_button.setAutoDefault(False)
        self.add_button.clicked.connect(self.add_patient)
        form.addRow("", self.add_button)
        self.new_form.hide()
        v.addWidget(self.new_form)
        self.note_label = QLabel()
        self.note_label.setObjectName("walkInPatientNote")
        self.note_label.setWordWrap(True)
        v.addWidget(self.note_label)

    @property
    def patient(self) -> PatientView | None:
        """The patient chosen, or None."""
        return self._patient

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Enter in the search field searches now and goes no further (not to the dialog's default button)."""
        if (watched is self.search_edit and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent) and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self.search_now()
            return True
        return super().eventFilter(watched, event)

    def search_now(self) -> None:
        """Search for the text typed now (typing does it after the debounce)."""
        self._timer.stop()
        query = self.search_edit.text().strip()
        if not query:
            return
        self._runner.run(lambda: patients.find_patients(self._db, query), on_success=self._on_found,
                         on_failure=lambda e: self._note(str(e), error=True), key=self._key, label="find patients")

    def add_patient(self) -> None:
        """Add the new patient typed (after a check for likely duplicates)."""
        values: dict[str, str | None] = {f: e.text().strip() or None for f, e in self.new_edits.items()}
        self.add_button.setEnabled(False)
        if self._duplicates_for == values:  # pressed again after the warning: add anyway
            self._write(values)
            return
        self._runner.run(
            lambda: patients.likely_duplicates(self._db, name=values["name"] or "",
                                               birth_date=values["birth_date"] or "", phone=values["phone"]),
            on_success=lambda found: self._on_duplicates(values, found),
            on_failure=self._on_add_failed, on_finished=lambda: self.add_button.setEnabled(True),
            label="check duplicate patients")

    # -- reactions ------------------------------------------------------------------------------
    def _write(self, values: dict[str, str | None]) -> None:
        self._runner.run(lambda: patients.add_patient(self._db, name=values["name"] or "",
                                                      birth_date=values["birth_date"] or "",
                                                      phone=values["phone"]),
                         on_success=self._on_added, on_failure=self._on_add_failed,
                         on_finished=lambda: self.add_button.setEnabled(True), label="add patient")

    def _on_duplicates(self, values: dict[str, str | None], found: list[PatientView]) -> None:
        if not found:
            self._write(values)
            return
        self._duplicates_for = values
        self._fill(found)
        self._note("Already registered? Pick the patient above, or press “Add patient” again to add anyway.",
                   error=True)

    def _on_added(self, patient: PatientView) -> None:
        self._duplicates_for = None
        self.new_button.setChecked(False)
        self._fill([patient], choose_first=True)
        self.patient_added.emit(patient)

    def _on_add_failed(self, error: ClinicError) -> None:
        labels = {"name": "Name", "birth_date": "Birth date", "phone": "Phone"}
        if isinstance(error, ValidationError) and error.field in labels:
            self._note(f"{labels[error.field]}: {error.problem}.", error=True)
            self.new_edits[error.field].setFocus()
        else:
            self._note(str(error), error=True)

    def _forget_duplicates(self, *_args: object) -> None:
        self._duplicates_for = None

    def _on_found(self, found: list[PatientView]) -> None:
        self._fill(found, choose_first=True)
        if not found:
            self._note("No patient found — use “New patient…”.")
        self.patients_listed.emit(len(found))

    def _fill(self, found: list[PatientView], *, choose_first: bool = False) -> None:
        """List ``found``; the first is chosen (and selected) with ``choose_first``, else nobody."""
        self.result_list.blockSignals(True)
        self.result_list.clear()
        for p in found:
            item = QListWidgetItem(patient_line(p))
            item.setData(Qt.ItemDataRole.UserRole, p)
            self.result_list.addItem(item)
        self.result_list.setCurrentRow(0 if found and choose_first else -1)
        self.result_list.blockSignals(False)
        self._choose(found[0] if found and choose_first else None)

    def _on_current_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        self._choose(current.data(Qt.ItemDataRole.UserRole) if current is not None else None)

    def _choose(self, patient: PatientView | None) -> None:
        if patient is not None:
            self._note(f"Patient: {patient.name}")
        self._patient = patient
        self.patient_chosen.emit(patient)

    def _on_new_toggled(self, shown: bool) -> None:
        self.new_form.setVisible(shown)
        if shown:
            typed = self.search_edit.text().strip()
            if typed and not typed[0].isdigit() and not typed.startswith("+"):
                self.new_edits["name"].setText(typed)
            self.new_edits["name"].setFocus()

    def _note(self, text: str, *, error: bool = False) -> None:
        self.note_label.setText(text)
        self.note_label.setStyleSheet(_ERROR_STYLE if error else "")

    def discard(self) -> None:
        """Drop the answer of a search still running."""
        self._timer.stop()
        self._runner.discard(self._key)


class WalkInDialog(QDialog):
    """Book a walk-in at ``branch`` now and check them in.

    ``clock``: the current aware time (tests pass a fixed one); the preview and
    the booking use it. ``services``: the active services if the caller has
    them (else loaded). ``search_delay_ms``: debounce of the patient search.

    Signals:
        services_loaded(int): the service picker was filled (how many).
        preview_shown(object): the start the walk-in would get: a ``SlotOffer``,
            or None when nothing is free (the reason is shown).
        appointment_booked(object): the walk-in was booked and checked in: its
            ``AppointmentView`` (the dialog closes).
    """

    services_loaded = Signal(int)
    preview_shown = Signal(object)
    appointment_booked = Signal(object)

    def __init__(self, db: Database, runner: Runner, *, branch: BranchSummary, clock: Clock | None = None,
                 services: list[ServiceSummary] | None = None, search_delay_ms: int = 250,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._runner = runner
        self._branch = branch
        self._clock = clock or (lambda: datetime.now(UTC))
        self._services: list[ServiceSummary] = []
        self._day: DayView | None = None
        self._preview: SlotOffer | None = None
        self._booking = False
        self._attempt: tuple[tuple[object, ...], uuid.UUID] | None = None
        self._key = f"walk-in-preview-{id(self)}"
        self.setObjectName("walkInDialog")
        self.setWindowTitle(f"Walk-in — {branch.name}")
        self.setAccessibleName("Walk-in")
        self.setModal(True)
        self.resize(600, 520)

        v = QVBoxLayout(self)
        box = QGroupBox("Patient")
        inner = QVBoxLayout(box)
        self.picker = PatientPicker(db, runner, search_delay_ms=search_delay_ms)
        self.picker.patient_chosen.connect(self._on_patient_chosen)
        inner.addWidget(self.picker)
        v.addWidget(box)

        form = QFormLayout()
        self.service_combo = QComboBox()
        self.service_combo.setObjectName("walkInService")
        self.service_combo.setAccessibleName("Service")
        self.service_combo.currentIndexChanged.connect(self._on_service_changed)
        form.addRow("Service", self.service_combo)
        self.doctor_combo = QComboBox()
        self.doctor_combo.setObjectName("walkInDoctor")
        self.doctor_combo.setAccessibleName("Doctor (optional)")
        self.doctor_combo.currentIndexChanged.connect(self._on_doctor_changed)
        form.addRow("Doctor", self.doctor_combo)
        self.start_label = QLabel("…")
        self.start_label.setObjectName("walkInStart")
        self.start_label.setAccessibleName("Start the walk-in gets")
        self.start_label.setWordWrap(True)
        form.addRow("Start", self.start_label)
        v.addLayout(form)

        self.message_label = QLabel()
        self.message_label.setObjectName("walkInMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet(_MESSAGE_STYLE)
        self.message_label.hide()
        v.addWidget(self.message_label)
        v.addStretch(1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.book_button = self.buttons.addButton("Book and check in", QDialogButtonBox.ButtonRole.AcceptRole)
        self.book_button.setObjectName("walkInBookButton")
        self.buttons.accepted.connect(self.book)
        self.buttons.rejected.connect(self.reject)
        v.addWidget(self.buttons)
        self.book_button.setDefault(True)  # after the box is in the dialog, or the dialog does not know it

        today = self._clock().astimezone(branch.tz).date()
        self._runner.run(lambda: load_day(db, branch.id, today), on_success=self._on_day_loaded,
                         on_failure=self._show_failure, label="walk-in: doctors today")
        if services is None:
            self._runner.run(lambda: list_services(db), on_success=self._on_services_loaded,
                             on_failure=self._show_failure, label="list services")
        else:
            self._on_services_loaded(services)
        self._update_book_button()
        self.picker.search_edit.setFocus()

    # -- public -----------------------------------------------------------------------------------
    @property
    def services(self) -> list[ServiceSummary]:
        """The services in the picker."""
        return list(self._services)

    @property
    def preview(self) -> SlotOffer | None:
        """The start shown (as last previewed), or None."""
        return self._preview

    def selected_service(self) -> ServiceSummary | None:
        """The service chosen."""
        i = self.service_combo.currentIndex()
        return self._services[i] if 0 <= i < len(self._services) else None

    def selected_doctor(self) -> str | None:
        """The doctor chosen, or None for "first free doctor"."""
        data = self.doctor_combo.currentData()
        return str(data) if data else None

    def refresh_preview(self) -> None:
        """Ask (in the background) which start and resources the walk-in would get now."""
        service = self.selected_service()
        if service is None:
            return
        db, branch, doctor, now = self._db, self._branch.name, self.selected_doctor(), self._clock()
        self.start_label.setText("Looking for the first free time…")
        self._runner.run(
            lambda: scheduling.walk_in_preview(db, branch=branch, service=service.name, now=now, doctor=doctor),
            on_success=self._on_preview, on_failure=self._on_preview_failed, key=self._key,
            label="walk-in preview")

    def book(self) -> None:
        """Book the walk-in and check them in (in the background); the dialog closes on success."""
        service, patient = self.selected_service(), self.picker.patient
        if self._booking:
            return
        if patient is None:
            self._show_message("Choose the patient first: search above or add a new one.")
            return
        if service is None:
            self._show_message("Choose the service.")
            return
        attempt = (patient.id, service.name, self.selected_doctor())
        if self._attempt is None or self._attempt[0] != attempt:
            self._attempt = (attempt, uuid.uuid4())
        cid = self._attempt[1]
        db, branch, doctor, now = self._db, self._branch.name, self.selected_doctor(), self._clock()
        self._booking = True
        self._update_book_button()
        self.message_label.hide()
        self._runner.run(
            lambda: scheduling.walk_in(db, branch=branch, service=service.name, patient_id=patient.id, now=now,
                                       client_id=cid, doctor=doctor),
            on_success=self._on_booked, on_failure=self._on_book_failed, on_finished=self._on_book_finished,
            label="walk-in")

    # -- reactions -------------------------------------------------------------------------------------
    def _on_services_loaded(self, services: list[ServiceSummary]) -> None:
        self._services = list(services)
        fill_services(self.service_combo, self._services)
        self.services_loaded.emit(len(self._services))
        self._fill_doctors()  # the day may have arrived first
        self.refresh_preview()

    def _on_day_loaded(self, day: DayView) -> None:
        self._day = day
        self._fill_doctors()

    def _fill_doctors(self) -> None:
        service = self.selected_service()
        fill_doctors(self.doctor_combo, self._day, service.needs.get("doctor") if service else None,
                     "First free doctor")

    def _on_service_changed(self, *_args: object) -> None:
        self._fill_doctors()
        self.refresh_preview()

    def _on_doctor_changed(self, *_args: object) -> None:
        self.refresh_preview()

    def _on_patient_chosen(self, _patient: PatientView | None) -> None:
        self._update_book_button()

    def _on_preview(self, offer: SlotOffer) -> None:
        self._preview = offer
        tz = self._branch.tz
        where = ", ".join(offer.resources[k] for k in ("doctor", "room", "equipment") if k in offer.resources)
        self.start_label.setText(f"<b>{offer.start.astimezone(tz):%H:%M}–{offer.end.astimezone(tz):%H:%M}</b>"
                                 f" today{' with ' + where if where else ''}")
        self._update_book_button()
        self.preview_shown.emit(offer)

    def _on_preview_failed(self, error: ClinicError) -> None:
        self._preview = None
        self.start_label.setText(str(error))
        self._update_book_button()
        self.preview_shown.emit(None)

    def _on_booked(self, appointment: AppointmentView) -> None:
        self._attempt = None
        self.appointment_booked.emit(appointment)
        self.accept()

    def _on_book_failed(self, error: ClinicError) -> None:
        self._show_message(str(error))
        self.refresh_preview()

    def _on_book_finished(self) -> None:
        self._booking = False
        self._update_book_button()

    def _update_book_button(self) -> None:
        self.book_button.setEnabled(self.picker.patient is not None and self._preview is not None
                                    and not self._booking)

    def _show_failure(self, error: ClinicError) -> None:
        self._show_message(str(error))

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.show()

    def done(self, result: int) -> None:
        """Close; searches still running are dropped (a booking already sent still reports)."""
        self.picker.discard()
        self._runner.discard(self._key)
        super().done(result)
