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

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError
from ..services import scheduling
from ..services.dayview import BranchSummary, DayView, ServiceSummary, list_services, load_day
from ..services.patients import PatientView
from ..services.scheduling import AppointmentView, SlotOffer
from ..store.database import Database
from .colors import MessageLabel
from .pickers import PatientPicker, fill_doctors, fill_services
from .runner import Clock, Runner

__all__ = ["PatientPicker", "WalkInDialog"]  # PatientPicker: re-exported (it lived here)



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
        # Enter on a patient found: the keyboard goes on to the service (then Enter books).
        self.picker.patient_confirmed.connect(self._focus_service)
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

        self.message_label = MessageLabel("walkInMessage")
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

    def _focus_service(self, _patient: object) -> None:
        """Enter on a patient found: the keyboard goes on to the service."""
        self.service_combo.setFocus()

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
