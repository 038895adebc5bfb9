"""The booking dialog: find or add the patient, pick service and day, pick a free start, book.

Every database call goes through the shared :class:`~.runner.Runner`; the
dialog validates, runs the change in the background, shows expected errors
inline in plain words and closes only on success (Anki's dialog pattern).
The slot list comes from the slot engine (``scheduling.find_slots``); the
booking itself is decided by the database (``scheduling.book``), so a start
another workstation took in the meantime gives ``SlotTaken``: its message is
shown and the list is refreshed.

A lost connection never loses what was typed: the dialog stays open, Book
waits for the connection (``Runner.offline``) and failed searches run again
when it is back (``Runner.connection_restored``). A booking whose commit
outcome is unknown (``CommitOutcomeUnknown``: the connection died during
COMMIT) is checked once the connection is back — is an appointment with this
attempt's client id there? — and otherwise booked again with the *same*
client id, so it is never doubled; the dialog then says what happened.

"Hold slot" (next to Book) holds the chosen start while the patient is on the
phone (``scheduling.hold``: a ``held`` appointment that blocks its resources
for the clinic's ``hold_minutes``); the button then reads "Confirm hold", and
one click turns the hold into the booking (``scheduling.confirm_hold``: the
service's confirmation mode and deposit decide the status). Closing the dialog
without confirming releases the hold. Under the slot list, the chosen
service's terms are shown: approval, deposit, cancellation policy.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from html import escape

from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError, CommitOutcomeUnknown, DatabaseUnavailable, PatientBusy, SlotTaken
from ..domain.slots import KINDS
from ..domain.wallclock import day_bounds_utc
from ..services import scheduling
from ..services.dayview import BranchSummary, GridResource, ServiceSummary, list_services, local_time_text
from ..services.patients import PatientView
from ..services.scheduling import AppointmentView, SlotOffer
from ..store.database import Database
from . import colors
from .pickers import PatientPicker
from .runner import Clock, Runner

#: How many local days after a day without free time are searched for the next free start.
NEXT_FREE_DAYS = 14

#: Shown when the connection died during COMMIT (the booking may or may not be saved).
CHECKING_TEXT = "The connection dropped while saving. Checking whether the booking was saved…"
#: The check found the booking the lost COMMIT had saved.
SAVED_BEFORE_TEXT = "Booked — it had been saved before the connection dropped."
#: The check found nothing, and booking again (same client id) succeeded.
BOOKED_TEXT = "Booked."
#: The check found nothing, and the time had been taken by someone else meanwhile.
TAKEN_MEANWHILE_TEXT = "That time was taken meanwhile; nothing was booked."
#: A search or booking failed for want of a connection.
OFFLINE_TEXT = "No connection to the clinic database. What you entered is kept"


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(d: QDate) -> date:
    return date(d.year(), d.month(), d.day())


@dataclass(frozen=True)
class _Unsure:
    """A booking sent whose commit outcome is unknown: what is needed to check it and send it again."""

    branch: str
    service: str
    start: datetime
    local_date: date
    patient_id: int
    client_id: uuid.UUID
    pins: dict[str, str]
    now: datetime


class BookingDialog(QDialog):
    """Book one appointment at ``branch``.

    ``local_date``: the branch-local day preselected (the grid's day).
    ``pin``: a resource to prefer (e.g. the column double-clicked); it
    restricts the search only for services that need its kind and category.
    ``start_hint``: a UTC instant (e.g. the row double-clicked); the free start
    at exactly that instant is preselected when listed.
    ``length``: the length of the time range dragged on the grid, if any; the
    longest service (of those ``pin`` applies to) that fits in it is preselected.
    ``services``: the active services if the caller has them (else loaded).
    ``clock``: returns the current aware time (tests pass a fixed one).
    ``search_delay_ms``: debounce of the patient search while typing.

    Signals:
        appointment_booked(object): the booking committed: its ``AppointmentView``.
        patient_added(object): a new patient was created: its ``PatientView``.
        duplicates_listed(int): "Add patient" was pressed and the check for likely
            duplicates answered (how many; 0 means the patient is being added).
        existing_patient_used(object): "Use this patient" chose an existing record
            instead of adding a new one (nothing written): its ``PatientView``.
        patients_listed(int): patient search results arrived (how many).
        slots_listed(int): the list of free starts was (re)loaded (how many).
        services_loaded(int): the service picker was filled (how many).
        next_free_listed(object): after a day without free time, the search of the
            ``NEXT_FREE_DAYS`` days after it answered: the first free ``SlotOffer``, or ``None``.
        slot_taken(str): booking failed because another workstation took the time
            first: the message shown (the grid behind should reload).
        outcome_resolved(str): a booking whose commit outcome was unknown has
            been checked: the message shown (``SAVED_BEFORE_TEXT``, ``BOOKED_TEXT``
            or ``TAKEN_MEANWHILE_TEXT`` first). When booked, ``appointment_booked``
            was emitted just before and the dialog stays open to show this.
        appointment_held(object): "Hold slot" committed: the held ``AppointmentView``
            (the dialog stays open; "Confirm hold" books it).
        terms_loaded(object): the chosen service's ``scheduling.ServiceTerms`` arrived.
        patient_day_listed(object): the chosen patient's live appointments on the day shown arrived
            (a list of ``AppointmentView``; their times are left out of the free starts and named
            under the list).
    """

    appointment_booked = Signal(object)
    patient_added = Signal(object)
    duplicates_listed = Signal(int)
    existing_patient_used = Signal(object)
    patients_listed = Signal(int)
    slots_listed = Signal(int)
    services_loaded = Signal(int)
    next_free_listed = Signal(object)
    slot_taken = Signal(str)
    outcome_resolved = Signal(str)
    appointment_held = Signal(object)
    terms_loaded = Signal(object)
    patient_day_listed = Signal(object)

    def __init__(self, db: Database, runner: Runner, *, branch: BranchSummary, local_date: date,
                 clock: Clock | None = None, pin: GridResource | None = None, start_hint: datetime | None = None,
                 services: list[ServiceSummary] | None = None, search_delay_ms: int = 250,
                 length: timedelta | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._runner = runner
        self._branch = branch
        self._clock = clock or (lambda: datetime.now(UTC))
        self._pin = pin
        self._start_hint = start_hint
        self._length = length
        self._services: list[ServiceSummary] = []
        self._patient: PatientView | None = None
        self._offers: list[SlotOffer] = []
        self._offers_patient: int | None = None
        self._booking = False
        self._attempt: tuple[tuple[object, ...], uuid.UUID] | None = None
        self._next_free_date: date | None = None
        self._keys = {k: f"{k}-{id(self)}" for k in ("slots", "next_free", "patient_day")}
        self._adding_patient = False
        self._pending_patient: dict[str, str | None] | None = None
        self._unsure: _Unsure | None = None
        self._resolved = False  # an unsure booking was found saved: nothing more to book here
        self._rerun_on_restore: set[str] = set()  # "slots": failed for want of a connection (the picker
        # re-runs its own search)
        self._held: AppointmentView | None = None  # a hold made here and not confirmed yet
        self._keys["terms"] = f"terms-{id(self)}"
        runner.connection_restored.connect(self._on_connection_restored)
        runner.connection_lost.connect(self._on_connection_lost)

        self.setWindowTitle(f"New appointment — {branch.name}")
        self.setObjectName("bookingDialog")
        self.setModal(True)
        self.resize(760, 720)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(self._build_patient_box(search_delay_ms))
        layout.addWidget(self._build_appointment_box(local_date), 1)

        self.message_label = QLabel()
        self.message_label.setObjectName("bookingMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        layout.addWidget(self.message_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.book_button = self.buttons.addButton("Book", QDialogButtonBox.ButtonRole.AcceptRole)
        self.book_button.setObjectName("bookButton")
        self.book_button.setDefault(True)
        self.hold_button = self.buttons.addButton("Hold slot", QDialogButtonBox.ButtonRole.ActionRole)
        self.hold_button.setObjectName("holdButton")
        self.hold_button.setAutoDefault(False)  # Enter still means Book
        self.hold_button.setToolTip("Keep this time for the patient on the phone for a few minutes")
        self.hold_button.clicked.connect(self._on_hold_clicked)
        self.buttons.accepted.connect(self._on_book_clicked)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        if services is None:
            self._runner.run(lambda: list_services(self._db), on_success=self._on_services_loaded,
                             on_failure=self._show_failure, label="list services")
        else:
            self._on_services_loaded(services)
        self._update_book_button()
        self.search_edit.setFocus()

    # -- construction ------------------------------------------------------------------
    def _build_patient_box(self, search_delay_ms: int) -> QGroupBox:
        """The shared patient picker (``pickers.PatientPicker``), under the names this dialog has
        always offered (tests and the window use them)."""
        box = QGroupBox("Patient")
        v = QVBoxLayout(box)
        self.picker = PatientPicker(self._db, self._runner, search_delay_ms=search_delay_ms)
        v.addWidget(self.picker)
        picker = self.picker
        self.search_edit, self.patient_list, self.patient_label = (picker.search_edit, picker.result_list,
                                                                   picker.patient_label)
        self.new_patient_button, self.new_patient_form = picker.new_button, picker.new_form
        self.name_edit, self.birth_edit, self.phone_edit, self.email_edit = (
            picker.new_edits[f] for f in ("name", "birth_date", "phone", "email"))
        self.add_patient_button, self.field_errors = picker.add_button, picker.field_errors
        self.duplicate_panel, self.duplicate_list = picker.duplicate_panel, picker.duplicate_list
        self.use_existing_button, self.add_anyway_button = picker.use_existing_button, picker.add_anyway_button
        for theirs, ours in ((picker.patients_listed, self.patients_listed), (picker.patient_added, self.patient_added),
                             (picker.duplicates_listed, self.duplicates_listed),
                             (picker.existing_patient_used, self.existing_patient_used)):
            theirs.connect(ours.emit)
        picker.patient_chosen.connect(self._on_patient_chosen)
        return box

    def _build_appointment_box(self, local_date: date) -> QGroupBox:
        box = QGroupBox("Appointment")
        v = QVBoxLayout(box)
        form = QFormLayout()
        self.service_combo = QComboBox()
        self.service_combo.setObjectName("serviceCombo")
        self.service_combo.currentIndexChanged.connect(self._on_service_index_changed)
        form.addRow("Service", self.service_combo)
        date_row = QHBoxLayout()
        self.date_edit = QDateEdit(_qdate(local_date))
        self.date_edit.setObjectName("dateEdit")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("ddd d MMM yyyy")
        self.date_edit.dateChanged.connect(self._on_date_changed)
        date_row.addWidget(self.date_edit)
        self.pin_label = QLabel()
        self.pin_label.setObjectName("pinLabel")
        date_row.addWidget(self.pin_label, 1)
        form.addRow("Day", date_row)
        v.addLayout(form)

        self.slot_tree = QTreeWidget()
        self.slot_tree.setObjectName("slotList")
        self.slot_tree.setHeaderLabels(["Time", "Doctor", "Room", "Equipment"])
        self.slot_tree.setRootIsDecorated(False)
        self.slot_tree.setUniformRowHeights(True)
        self.slot_tree.setAlternatingRowColors(True)
        self.slot_tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.slot_tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.slot_tree.header().setStretchLastSection(True)
        self.slot_tree.currentItemChanged.connect(self._on_slot_current_changed)
        self.slot_tree.itemDoubleClicked.connect(self._on_slot_double_clicked)
        v.addWidget(self.slot_tree, 1)
        status_row = QHBoxLayout()
        self.slot_status = QLabel()
        self.slot_status.setObjectName("slotStatus")
        self.slot_status.setStyleSheet("color: #4a5563;")
        self.slot_status.setWordWrap(True)
        status_row.addWidget(self.slot_status, 1)
        self.next_free_button = QPushButton()
        self.next_free_button.setObjectName("nextFreeButton")
        self.next_free_button.setAccessibleDescription("Sets the day to the next day with free time")
        self.next_free_button.setAutoDefault(False)  # Enter in the dialog still means Book
        self.next_free_button.clicked.connect(self._on_next_free_clicked)
        self.next_free_button.hide()
        status_row.addWidget(self.next_free_button)
        v.addLayout(status_row)
        self.patient_day_label = QLabel()
        self.patient_day_label.setObjectName("patientDayNote")
        self.patient_day_label.setAccessibleName("The patient's other appointments that day")
        self.patient_day_label.setWordWrap(True)
        self.patient_day_label.setStyleSheet(
            "QLabel { color: #5b3a00; background: #fff4e5; border: 1px solid #f0c36d; border-radius: 4px;"
            " padding: 4px 6px; }")
        self.patient_day_label.hide()
        v.addWidget(self.patient_day_label)
        self.terms_label = QLabel()
        self.terms_label.setObjectName("serviceTerms")
        self.terms_label.setAccessibleName("Service terms")
        self.terms_label.setWordWrap(True)
        self.terms_label.setStyleSheet("color: #4a5563;")
        v.addWidget(self.terms_label)
        return box

    # -- public --------------------------------------------------------------------------
    @property
    def patient(self) -> PatientView | None:
        """The patient chosen (found or just added), or ``None``."""
        return self._patient

    @property
    def services(self) -> list[ServiceSummary]:
        """The services in the picker."""
        return list(self._services)

    @property
    def offers(self) -> list[SlotOffer]:
        """The free starts listed, in list order."""
        return list(self._offers)

    @property
    def offers_for_patient(self) -> int | None:
        """The patient id the listed starts leave that patient's own appointments out for (``None``:
        listed for nobody in particular). It lags :attr:`patient` while a new list is on its way."""
        return self._offers_patient

    @property
    def local_date(self) -> date:
        """The branch-local day searched."""
        return _pydate(self.date_edit.date())

    def selected_service(self) -> ServiceSummary | None:
        """The service chosen in the picker."""
        i = self.service_combo.currentIndex()
        return self._services[i] if 0 <= i < len(self._services) else None

    def selected_offer(self) -> SlotOffer | None:
        """The free start selected in the list."""
        item = self.slot_tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def search_now(self) -> None:
        """Run the patient search for the current text at once (Enter does this too)."""
        self.picker.search_now()

    @property
    def next_free_date(self) -> date | None:
        """The branch-local day the "Show …" button moves to, while it is shown."""
        return self._next_free_date

    def refresh_slots(self) -> None:
        """Reload the free starts for the chosen service and day — without the starts that would
        overlap another live appointment of the chosen patient (a patient is in one place at a
        time), which are named under the list."""
        self._clear_next_free()
        self._load_patient_day()
        service = self.selected_service()
        if service is None:
            return
        pins = self._pins_for(service)
        day = self.local_date
        branch = self._branch.name
        now = self._clock()
        patient_id = self._patient.id if self._patient is not None else None
        self.slot_status.setText("Looking for free times…")
        self._runner.run(
            lambda: scheduling.find_slots(self._db, branch=branch, service=service.name, local_date=day,
                                          now=now, doctor=pins.get("doctor"), room=pins.get("room"),
                                          equipment=pins.get("equipment"), patient_id=patient_id),
            on_success=lambda offers: self._on_slots_found(offers, patient_id), on_failure=self._on_slots_failed,
            key=self._keys["slots"], label="find slots")

    # -- patients --------------------------------------------------------------------------
    def set_patient(self, patient: PatientView) -> None:
        """Book for ``patient`` (chosen elsewhere, e.g. "Book for this patient" in a patient record)."""
        self.picker.set_patient(patient, "chosen")

    def _on_patient_chosen(self, patient: PatientView | None) -> None:
        changed = (patient.id if patient else None) != (self._patient.id if self._patient else None)
        self._patient = patient
        self._update_book_button()
        if changed:  # the patient's own appointments decide which starts are offered
            self.refresh_slots()

    def _load_patient_day(self) -> None:
        """Load the chosen patient's live appointments on the day shown (any branch), in the background."""
        self._runner.discard(self._keys["patient_day"])
        patient = self._patient
        if patient is None:
            self.patient_day_label.hide()
            return
        lo, hi = day_bounds_utc(self.local_date, self._branch.tz)
        db = self._db
        self._runner.run(lambda: scheduling.patient_appointments_between(db, patient.id, lo, hi),
                         on_success=lambda found: self._on_patient_day(patient, found),
                         on_failure=lambda _error: self.patient_day_label.hide(),  # the slot search says why
                         key=self._keys["patient_day"], label="the patient's appointments that day")

    def _on_patient_day(self, patient: PatientView, found: list[AppointmentView]) -> None:
        others = [a for a in found if self._held is None or a.id != self._held.id]
        text = patient_day_text(patient.name, others, self._branch.name, self._branch.tz)
        self.patient_day_label.setText(text)
        self.patient_day_label.setVisible(bool(text))
        self.patient_day_listed.emit(others)

    # -- service, day, slots -----------------------------------------------------------------
    def _on_services_loaded(self, services: list[ServiceSummary]) -> None:
        self._services = list(services)
        self.service_combo.blockSignals(True)
        self.service_combo.clear()
        for s in self._services:
            self.service_combo.addItem(f"{s.name}  ({s.duration_min} min)")
        preferred = 0
        if self._pin is not None:
            preferred = next((i for i, s in enumerate(self._services) if self._pin_applies(s)), 0)
        fitting = [(s.duration_min, i) for i, s in enumerate(self._services)
                   if self._length is not None and timedelta(minutes=s.duration_min) <= self._length
                   and (self._pin is None or self._pin_applies(s))]
        if fitting:  # a range dragged on the grid: the longest service that fits in it
            preferred = max(fitting, key=lambda f: (f[0], -f[1]))[1]
        self.service_combo.setCurrentIndex(preferred if self._services else -1)
        self.service_combo.blockSignals(False)
        self.services_loaded.emit(len(self._services))
        self._on_service_index_changed(self.service_combo.currentIndex())

    def _pin_applies(self, service: ServiceSummary) -> bool:
        pin = self._pin
        return pin is not None and service.needs.get(pin.kind) == pin.category

    def _pins_for(self, service: ServiceSummary) -> dict[str, str]:
        return {self._pin.kind: self._pin.name} if self._pin is not None and self._pin_applies(service) else {}

    def _on_service_index_changed(self, _index: int) -> None:
        service = self.selected_service()
        if self._pin is not None and service is not None:
            if self._pin_applies(service):
                self.pin_label.setText(f"only with <b>{escape(self._pin.name)}</b>")
            else:
                self.pin_label.setText(f"<i>{escape(self._pin.name)} does not do this service</i>")
        self._load_terms(service)
        self.refresh_slots()

    def _load_terms(self, service: ServiceSummary | None) -> None:
        self.terms_label.clear()
        if service is None:
            return
        db, name = self._db, service.name
        self._runner.run(lambda: scheduling.service_terms(db, name), on_success=self._on_terms_loaded,
                         on_failure=lambda _error: None, key=self._keys["terms"], label="service terms")

    def _on_terms_loaded(self, terms: scheduling.ServiceTerms) -> None:
        self.terms_label.setText(terms.describe())
        self.hold_button.setToolTip(f"Keep this time for the patient on the phone for {terms.hold_minutes} minutes")
        self.terms_loaded.emit(terms)

    def _on_date_changed(self, _date: QDate) -> None:
        self.refresh_slots()

    def _on_slots_found(self, offers: list[SlotOffer], patient_id: int | None = None) -> None:
        previous = self.selected_offer()
        self._offers = list(offers)
        self._offers_patient = patient_id
        service = self.selected_service()
        needs = service.needs if service else {}
        tz = self._branch.tz
        lo, hi = day_bounds_utc(self.local_date, tz)
        dst_day = lo.astimezone(tz).utcoffset() != hi.astimezone(tz).utcoffset()
        self.slot_tree.blockSignals(True)
        self.slot_tree.clear()
        for column, kind in enumerate(KINDS, start=1):
            self.slot_tree.setColumnHidden(column, kind not in needs)
        keep: QTreeWidgetItem | None = None
        for offer in self._offers:
            cells = [f"{local_time_text(offer.start, tz, with_offset=dst_day)}–{local_time_text(offer.end, tz)}"]
            for kind in KINDS:
                name = offer.resources.get(kind, "")
                others = len(offer.choices.get(kind, ())) - 1
                cells.append(f"{name}  (+{others} more)" if others > 0 else name)
            item = QTreeWidgetItem(cells)
            item.setData(0, Qt.ItemDataRole.UserRole, offer)
            alternatives = [
                f"{kind}: " + ", ".join(n for _, n in offer.choices.get(kind, ()))
                for kind in KINDS if offer.choices.get(kind)]
            item.setToolTip(0, "\n".join(alternatives))
            self.slot_tree.addTopLevelItem(item)
            same_as_before = previous is not None and (offer.start, offer.resources) == (previous.start,
                                                                                          previous.resources)
            hinted = previous is None and keep is None and offer.start == self._start_hint
            if same_as_before or hinted:
                keep = item
        if keep is not None:
            self.slot_tree.setCurrentItem(keep)
            self.slot_tree.scrollToItem(keep)
        self.slot_tree.blockSignals(False)
        when = self.date_edit.date().toString("dddd d MMMM")
        if self._offers:
            self.slot_status.setText(f"{len(self._offers)} free start{'s' if len(self._offers) != 1 else ''} "
                                     f"on {when} (times in {self._branch.timezone}).")
        else:
            self.slot_status.setText(f"No free time on {when}. Looking for the next free day…")
            self._find_next_free()
        self._update_book_button()
        self.slots_listed.emit(len(self._offers))

    def _find_next_free(self) -> None:
        """Search the ``NEXT_FREE_DAYS`` local days after the (empty) day shown, in the background."""
        service = self.selected_service()
        if service is None:
            return
        pins = self._pins_for(service)
        first = self.local_date + timedelta(days=1)
        branch = self._branch.name
        now = self._clock()
        patient_id = self._patient.id if self._patient is not None else None
        self._runner.run(
            lambda: scheduling.find_slots(self._db, branch=branch, service=service.name, local_date=first,
                                          days=NEXT_FREE_DAYS, now=now, patient_id=patient_id, **pins),
            on_success=self._on_next_free_found, on_failure=self._on_next_free_failed,
            key=self._keys["next_free"], label="find next free day")

    def _on_next_free_found(self, offers: list[SlotOffer]) -> None:
        when = self.date_edit.date().toString("dddd d MMMM")
        first = offers[0] if offers else None
        if first is None:
            self.slot_status.setText(f"No free time on {when}. No free time in the next {NEXT_FREE_DAYS} days.")
        else:
            local = first.start.astimezone(self._branch.tz)
            self._next_free_date = local.date()
            day_text = _qdate(local.date()).toString("dddd d MMMM")
            self.slot_status.setText(f"No free time on {when}. Next free: {day_text} "
                                     f"{local_time_text(first.start, self._branch.tz)}")
            self.next_free_button.setText(f"Show {day_text}")
            self.next_free_button.setAccessibleName(f"Show {day_text}")
            self.next_free_button.show()
        self.next_free_listed.emit(first)

    def _on_next_free_failed(self, error: ClinicError) -> None:
        when = self.date_edit.date().toString("dddd d MMMM")
        self.slot_status.setText(f"No free time on {when}.")
        self._show_failure(error)

    def _on_next_free_clicked(self) -> None:
        target = self._next_free_date
        if target is None:
            return
        self.date_edit.setDate(_qdate(target))  # the day search runs on dateChanged
        self.slot_tree.setFocus()  # the button hides; keep the keyboard where the times will be

    def _clear_next_free(self) -> None:
        """Hide the "Show …" button and drop the answer of a next-free search still running."""
        self._runner.discard(self._keys["next_free"])
        self._next_free_date = None
        self.next_free_button.hide()

    def _on_slots_failed(self, error: ClinicError) -> None:
        if isinstance(error, DatabaseUnavailable):
            self._rerun_on_restore.add("slots")
        self._offers = []
        self.slot_tree.clear()
        self.slot_status.setText("")
        self._show_failure(error)
        self._update_book_button()
        self.slots_listed.emit(0)

    def _on_slot_current_changed(self, _current: object, _previous: object) -> None:
        self._update_book_button()

    def _on_slot_double_clicked(self, _item: object, _column: int) -> None:
        if self.book_button.isEnabled():
            self._on_book_clicked()

    # -- booking ---------------------------------------------------------------------------------
    @property
    def outcome_unknown(self) -> bool:
        """Whether a booking was sent whose commit outcome is not known yet (being checked, or
        waiting for the connection to check it)."""
        return self._unsure is not None

    def _update_book_button(self) -> None:
        ready = (self._patient is not None and self.selected_offer() is not None and not self._booking
                 and not self._runner.offline and not self._resolved)
        self.book_button.setEnabled(self._held is None and (ready or (
            self._unsure is not None and not self._booking and not self._runner.offline)))
        self.hold_button.setEnabled(not self._booking and not self._runner.offline and self._unsure is None
                                    and (self._held is not None or ready))

    # -- holding -----------------------------------------------------------------------------------------
    @property
    def held(self) -> AppointmentView | None:
        """The hold made in this dialog and not confirmed yet, or ``None``."""
        return self._held

    def _on_hold_clicked(self) -> None:
        """Hold the chosen start, or, with a hold made, confirm it."""
        if self._booking:
            return
        if self._held is not None:
            self._confirm_hold()
            return
        offer, service, patient = self.selected_offer(), self.selected_service(), self._patient
        if patient is None or service is None or offer is None:
            self._show_message("Choose the patient and a free time first.")
            return
        branch, now, db = self._branch.name, self._clock(), self._db
        pins = {kind: offer.resources[kind] for kind in KINDS if kind in offer.resources}
        client_id = uuid.uuid4()
        self._booking = True
        self._update_book_button()
        self._show_message("Holding…", error=False)
        self._runner.run(
            lambda: scheduling.hold(db, branch=branch, service=service.name, start=offer.start,
                                    patient_id=patient.id, client_id=client_id, now=now,
                                    reason="held at the front desk", **pins),
            on_success=self._on_held, on_failure=self._on_book_failed, on_finished=self._on_book_finished,
            label="hold")

    def _on_held(self, appointment: AppointmentView) -> None:
        self._held = appointment
        until = (appointment.hold_expires_at or appointment.start).astimezone(self._branch.tz)
        self.hold_button.setText("Confirm hold")
        self._show_message(f"Held until {until:%H:%M} for {appointment.patient}: {appointment.service}, "
                           f"{appointment.start.astimezone(self._branch.tz):%a %d %b %H:%M}. "
                           "Confirm hold books it; Cancel releases it.", error=False)
        self.appointment_held.emit(appointment)

    def _confirm_hold(self) -> None:
        held, db = self._held, self._db
        assert held is not None
        self._booking = True
        self._update_book_button()
        self._runner.run(lambda: scheduling.confirm_hold(db, held.id, reason="hold confirmed at the front desk"),
                         on_success=self._on_hold_confirmed, on_failure=self._on_confirm_failed,
                         on_finished=self._on_book_finished, label="confirm hold")

    def _on_hold_confirmed(self, appointment: AppointmentView) -> None:
        self._held = None
        self.appointment_booked.emit(appointment)
        self.accept()

    def _on_confirm_failed(self, error: ClinicError) -> None:
        # The hold expired and someone took the time, or it was cancelled elsewhere: start again.
        self._held = None
        self.hold_button.setText("Hold slot")
        self._show_message(f"{error} Please pick a time again.")
        self.refresh_slots()

    def _on_book_clicked(self) -> None:
        offer, service, patient = self.selected_offer(), self.selected_service(), self._patient
        if self._booking or self._resolved:
            return
        if self._unsure is not None:  # settle the first attempt before anything else is booked
            self._check_unsure()
            return
        if self._runner.offline:
            self._show_message(f"{OFFLINE_TEXT}; Book works again when the connection is back.")
            return
        if patient is None:
            self._show_message("Choose the patient first: search above or add a new one.")
            return
        if service is None or offer is None:
            self._show_message("Choose a free time from the list.")
            return
        # The same attempt keeps its client id, so a retry after a lost connection cannot book twice.
        attempt = (patient.id, service.name, offer.start, tuple(sorted(offer.resources.items())))
        if self._attempt is None or self._attempt[0] != attempt:
            self._attempt = (attempt, uuid.uuid4())
        client_id = self._attempt[1]
        branch, now = self._branch.name, self._clock()
        pins = {kind: offer.resources[kind] for kind in KINDS if kind in offer.resources}
        self._booking = True
        self._update_book_button()
        self._show_message("Booking…", error=False)
        unsure = _Unsure(branch=branch, service=service.name, start=offer.start,
                         local_date=offer.start.astimezone(self._branch.tz).date(), patient_id=patient.id,
                         client_id=client_id, pins=pins, now=now)
        self._runner.run(
            lambda: scheduling.book(self._db, branch=branch, service=service.name, start=offer.start,
                                    patient_id=patient.id, client_id=client_id, now=now,
                                    reason="booked at the front desk", **pins),
            on_success=self._on_booked, on_failure=lambda error: self._on_book_failed(error, unsure),
            on_finished=self._on_book_finished, label="book")

    def _on_booked(self, appointment: AppointmentView) -> None:
        self._attempt = None
        self.appointment_booked.emit(appointment)
        self.accept()

    def _on_book_failed(self, error: ClinicError, unsure: _Unsure | None = None) -> None:
        if isinstance(error, CommitOutcomeUnknown) and unsure is not None:
            # Keep everything (and the client id): check once the connection is back.
            self._unsure = unsure
            if self._runner.offline:
                self._show_message(f"{CHECKING_TEXT} (waiting for the connection to come back)", error=False)
            else:  # nobody watches the connection: check at once (Book checks again if this fails)
                QTimer.singleShot(0, self._check_unsure)
                self._show_message(CHECKING_TEXT, error=False)
        elif isinstance(error, PatientBusy):  # booked meanwhile elsewhere (another desk, the CLI)
            self._attempt = None
            self._show_message(f"{error} Nothing was booked; the list of free times has been refreshed "
                               "without that time; please pick another.")
            self.refresh_slots()
            self.slot_taken.emit(str(error))
        elif isinstance(error, SlotTaken):
            self._attempt = None
            self._show_message(f"{error} The list of free times has been refreshed; please pick another.")
            self.refresh_slots()
            self.slot_taken.emit(str(error))
        elif isinstance(error, DatabaseUnavailable):  # lost before COMMIT, or never reached: nothing saved
            self._show_message("No connection to the clinic database, so nothing was booked. What you entered "
                               "is kept; press Book again when the connection is back.")
        else:
            self._show_message(str(error))

    def _check_unsure(self) -> None:
        """Find out what became of the booking whose COMMIT outcome is unknown: look for its client
        id on its day; if absent, book again with the same client id (never twice: the id is unique)."""
        unsure = self._unsure
        if unsure is None or self._booking:
            return
        self._booking = True
        self._update_book_button()
        self._show_message(CHECKING_TEXT, error=False)
        db = self._db

        def work() -> tuple[AppointmentView, bool]:
            saved = [a for a in scheduling.list_appointments(db, branch=unsure.branch, local_date=unsure.local_date)
                     if a.client_id == str(unsure.client_id)]
            if saved:
                return saved[0], True
            booked = scheduling.book(db, branch=unsure.branch, service=unsure.service, start=unsure.start,
                                     patient_id=unsure.patient_id, client_id=unsure.client_id, now=unsure.now,
                                     reason="booked at the front desk", **unsure.pins)
            return booked, False

        self._runner.run(work, on_success=self._on_unsure_settled, on_failure=self._on_unsure_check_failed,
                         on_finished=self._on_book_finished, label="check a booking with an unknown outcome")

    def _on_unsure_settled(self, outcome: tuple[AppointmentView, bool]) -> None:
        appointment, saved_before = outcome
        self._unsure = None
        self._attempt = None
        self._resolved = True
        tz = self._branch.tz
        text = (f"{SAVED_BEFORE_TEXT if saved_before else BOOKED_TEXT} {appointment.patient}, "
                f"{appointment.service}, {appointment.start.astimezone(tz):%a %d %b %H:%M}.")
        self._show_message(text, success=True)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Close")
        self.appointment_booked.emit(appointment)
        self.outcome_resolved.emit(text)

    def _on_unsure_check_failed(self, error: ClinicError) -> None:
        if isinstance(error, DatabaseUnavailable):  # still (or again) no connection: stay unsure
            self._show_message(f"{CHECKING_TEXT} The connection dropped again; the booking will be checked "
                               f"when it is back.", error=False)
            return
        self._unsure = None
        self._attempt = None
        if isinstance(error, SlotTaken):
            text = f"{TAKEN_MEANWHILE_TEXT} {error} The list of free times has been refreshed; please pick another."
            self._show_message(text)
            self.refresh_slots()
            self.slot_taken.emit(str(error))
        else:
            text = f"The booking was not saved: {error}"
            self._show_message(text)
        self.outcome_resolved.emit(text)

    def _on_connection_lost(self, _message: str) -> None:
        self._update_book_button()

    def _on_connection_restored(self) -> None:
        """The connection is back: settle an unsure booking, re-run searches that failed, allow Book."""
        if not self.isVisible():
            return
        if self._unsure is not None:
            self._check_unsure()
        rerun, self._rerun_on_restore = self._rerun_on_restore, set()
        if "slots" in rerun:
            self.refresh_slots()
        if self.message_label.text().startswith("No connection to the clinic database"):
            self.message_label.hide()  # what it said is over: Book and the searches work again
        self._update_book_button()

    def _on_book_finished(self) -> None:
        self._booking = False
        if self.message_label.text() == "Booking…":
            self.message_label.hide()
        self._update_book_button()

    # -- messages ------------------------------------------------------------------------------------
    def _show_failure(self, error: ClinicError) -> None:
        if isinstance(error, DatabaseUnavailable):
            self._show_message(f"{OFFLINE_TEXT}; this is tried again when the connection is back."
                               if self._runner.connection_watched else f"{OFFLINE_TEXT}: {error}")
        else:
            self._show_message(str(error))

    def _show_message(self, text: str, *, error: bool = True, success: bool = False) -> None:
        self.message_label.setText(text)
        if success:
            style = ("QLabel { color: #1e4620; background: #e3f4e1; border: 1px solid #8cc084; border-radius: 4px;"
                     " padding: 6px; }")
        elif error:
            style = colors.ERROR_BOX_STYLE
        else:
            style = "QLabel { color: #1b1f24; padding: 6px; }"
        self.message_label.setStyleSheet(style)
        self.message_label.show()

    def done(self, result: int) -> None:
        """Close; searches still running finish, but their results are dropped.

        A booking already sent is not dropped: if it commits, ``appointment_booked`` is still emitted.
        """
        self.picker.discard()
        self._runner.discard(*self._keys.values())
        held, self._held = self._held, None
        if held is not None and not self._runner.closed:  # closed without confirming: let the time go
            db = self._db
            self._runner.run(lambda: scheduling.cancel(db, held.id, reason="hold released at the desk"),
                             on_failure=lambda _error: None, label="release hold")
        super().done(result)


def patient_day_text(name: str, appointments: list[AppointmentView], branch: str, tz: tzinfo) -> str:
    """``"Maria Silva already has Abdominal ultrasound 13:00–13:30 with Ana Souza; overlapping starts
    are not offered."`` (times in ``tz``, the branch's zone; another branch is named); ``""`` for none."""
    if not appointments:
        return ""
    parts = []
    for a in appointments:
        doctor = a.resources.get("doctor")
        where = f" at {a.branch}" if a.branch != branch else ""
        parts.append(f"{a.service} {a.start.astimezone(tz):%H:%M}–{a.end.astimezone(tz):%H:%M}"
                     f"{' with ' + doctor if doctor else ''}{where}")
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{name} already has {listed}; overlapping starts are not offered."
