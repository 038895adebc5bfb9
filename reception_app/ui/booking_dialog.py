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

What the dialog knows — the patient, the starts listed, whether something is being sent, the
attempt's client id, the hold, the message and what ends it — is ``self.state``, a
``booking_model.BookingState`` (no widgets; the rules of what may be done next are there); the
"Appointment" box and the buttons are ``booking_slots.SlotPanel`` and ``BookingButtons``, the
background searches ``booking_search.SlotSearch``, the message line the dialogs' ``colors.MessageLabel``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QGroupBox,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError, CommitOutcomeUnknown, DatabaseUnavailable
from ..domain.wallclock import day_bounds_utc
from ..services import scheduling
from ..services.dayview import BranchSummary, GridResource, ServiceSummary, list_services
from ..services.patients import PatientView
from ..services.scheduling import AppointmentView, SlotOffer
from ..store.database import Database
from . import local_formats
from .booking_model import (
    BOOKED_TEXT,
    BOOKING_PROGRESS_TEXT,
    CHECKING_TEXT,
    ERROR,
    INFO,
    MISSING,
    NEXT_FREE_DAYS,
    OFFLINE,
    OFFLINE_TEXT,
    PROGRESS,
    RECHECK_TEXT,
    SAVED_BEFORE_TEXT,
    SUCCESS,
    TAKEN_MEANWHILE_TEXT,
    BookingAttempt,
    BookingState,
    Message,
    Refusal,
    attempt_of,
    changes_offset,
    check_refusal_of,
    failure_message,
    held_text,
    patient_day_text,
    refusal_of,
    send_booking,
    send_hold,
    settle_attempt,
    settled_text,
    slots_text,
)
from .booking_search import SlotSearch
from .booking_slots import BookingButtons, SlotPanel
from .colors import MessageLabel
from .pickers import PatientPicker
from .runner import Clock, Runner

__all__ = ["BOOKED_TEXT", "CHECKING_TEXT", "NEXT_FREE_DAYS", "OFFLINE_TEXT", "SAVED_BEFORE_TEXT",
           "TAKEN_MEANWHILE_TEXT", "BookingDialog", "patient_day_text"]


#: Book pressed before a patient was chosen.
PATIENT_FIRST_TEXT = "Choose the patient first: search above or add a new one."


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
        #: What the dialog knows and decides (``booking_model.BookingState``); the widgets show it.
        self.state = BookingState(pin=pin, start_hint=start_hint, length=length)
        #: The background searches behind the "Appointment" box (``booking_search.SlotSearch``).
        self.search = SlotSearch(db, runner, branch, self._clock)
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

        self.message_label = MessageLabel("bookingMessage", selectable=True)
        layout.addWidget(self.message_label)

        self.buttons = BookingButtons()
        self.book_button, self.hold_button = self.buttons.book_button, self.buttons.hold_button
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
        picker.patient_confirmed.connect(lambda _patient: self._focus_starts())
        return box

    def _build_appointment_box(self, local_date: date) -> SlotPanel:
        """The "Appointment" box (``booking_slots.SlotPanel``), its widgets under the names this
        dialog has always offered (tests and the window use them)."""
        # No booking in the past: the branch's today is the first day the field offers.
        today = self._clock().astimezone(self._branch.tz).date()
        self.slots = panel = SlotPanel(max(local_date, today), earliest=today)
        self.service_combo, self.date_edit, self.pin_label = panel.service_combo, panel.date_edit, panel.pin_label
        self.slot_tree, self.slot_status, self.next_free_button = (panel.slot_tree, panel.slot_status,
                                                                   panel.next_free_button)
        self.patient_day_label, self.terms_label = panel.patient_day_label, panel.terms_label
        self.service_combo.currentIndexChanged.connect(self._on_service_index_changed)
        self.date_edit.dateChanged.connect(lambda _day: self.refresh_slots())
        self.slot_tree.currentItemChanged.connect(lambda _current, _previous: self._on_start_changed())
        self.slot_tree.currentItemChanged.connect(lambda _current, _previous: panel.show_choices(
            _current.data(0, Qt.ItemDataRole.UserRole) if _current is not None else None))
        self.choice_combos, self.note_edit = panel.choice_combos, panel.note_edit
        self.slot_tree.itemDoubleClicked.connect(self._on_slot_double_clicked)
        self.slot_tree.installEventFilter(self)
        self.next_free_button.clicked.connect(self._on_next_free_clicked)
        return panel

    # -- public --------------------------------------------------------------------------
    @property
    def patient(self) -> PatientView | None:
        """The patient chosen (found or just added), or ``None``."""
        return self.state.patient

    @property
    def services(self) -> list[ServiceSummary]:
        """The services in the picker."""
        return list(self.state.services)

    @property
    def offers(self) -> list[SlotOffer]:
        """The free starts listed, in list order."""
        return list(self.state.offers)

    @property
    def offers_for_patient(self) -> int | None:
        """The patient id the listed starts leave that patient's own appointments out for (``None``:
        listed for nobody in particular). It lags :attr:`patient` while a new list is on its way."""
        return self.state.offers_patient

    @property
    def local_date(self) -> date:
        """The branch-local day searched."""
        return self.slots.local_date

    def selected_service(self) -> ServiceSummary | None:
        """The service chosen in the picker."""
        return self.state.service_at(self.service_combo.currentIndex())

    def selected_offer(self) -> SlotOffer | None:
        """The free start selected in the list."""
        return self.slots.selected_offer()

    def search_now(self) -> None:
        """Run the patient search for the current text at once (Enter does this too)."""
        self.picker.search_now()

    @property
    def next_free_date(self) -> date | None:
        """The branch-local day the "Show …" button moves to, while it is shown."""
        return self.state.next_free_date

    def refresh_slots(self) -> None:
        """Reload the free starts for the chosen service and day — without the starts that would
        overlap another live appointment of the chosen patient (a patient is in one place at a
        time), which are named under the list."""
        self._clear_next_free()
        self._load_patient_day()
        service = self.selected_service()
        if service is None:
            return
        patient_id = self.state.patient.id if self.state.patient is not None else None
        self.slot_status.setText("Looking for free times…")
        self.search.day(service, self.state.pins_for(service), self.local_date, patient_id,
                        on_success=lambda offers: self._on_slots_found(offers, patient_id),
                        on_failure=self._on_slots_failed)

    # -- patients --------------------------------------------------------------------------
    def set_patient(self, patient: PatientView) -> None:
        """Book for ``patient`` (chosen elsewhere, e.g. "Book for this patient" in a patient record)."""
        self.picker.set_patient(patient, "chosen")

    def _on_patient_chosen(self, patient: PatientView | None) -> None:
        changed = (patient.id if patient else None) != (self.state.patient.id if self.state.patient else None)
        self.state.patient = patient
        self._end_missing()
        self._update_book_button()
        if changed:  # the patient's own appointments decide which starts are offered
            self.refresh_slots()

    def _load_patient_day(self) -> None:
        """Load the chosen patient's live appointments on the day shown (any branch), in the background."""
        self.search.drop("patient_day")
        patient = self.state.patient
        if patient is None:
            self.patient_day_label.hide()
            return
        now, day = self._clock(), self.local_date
        self.search.patient_day(patient.id, day, upcoming_from=now,
                                on_success=lambda found: self._on_patient_day(patient, found, day, now),
                                on_failure=lambda _error: self.patient_day_label.hide())  # the slot search says why

    def _on_patient_day(self, patient: PatientView, found: list[AppointmentView], day: date, now: datetime) -> None:
        """Say what the patient already has that day, and an upcoming appointment of the service
        chosen (a second booking of it is usually a mistake)."""
        lo, hi = day_bounds_utc(day, self._branch.tz)
        mine = [a for a in found if self.state.held is None or a.id != self.state.held.id]
        others = [a for a in mine if a.start < hi and a.end > lo]
        service = self.selected_service()
        upcoming = [a for a in mine if a not in others and a.start >= now and service is not None
                    and a.service == service.name]
        text = patient_day_text(patient.name, others, self._branch.name, self._branch.tz)
        if upcoming:
            first = upcoming[0].start.astimezone(self._branch.tz)
            fmt = local_formats.current()
            also = (f"{patient.name} is already booked for {upcoming[0].service} on {fmt.day_text(first.date())} "
                    f"at {fmt.time_text(first)}" + (f" (and {len(upcoming) - 1} more)" if len(upcoming) > 1 else "")
                    + ".")
            text = f"{text} {also}".strip()
        self.slots.show_patient_day(text)
        self.patient_day_listed.emit(others)

    # -- service, day, slots -----------------------------------------------------------------
    def _on_services_loaded(self, services: list[ServiceSummary]) -> None:
        self.state.services = list(services)
        self.slots.set_services(self.state.services, self.state.preferred_service())
        self.services_loaded.emit(len(self.state.services))
        self._on_service_index_changed(self.service_combo.currentIndex())

    def _on_service_index_changed(self, _index: int) -> None:
        service = self.selected_service()
        if self.state.pin is not None and service is not None:
            self.slots.show_pin(self.state.pin.name, self.state.pin_applies(service))
        self._load_terms(service)
        self.refresh_slots()

    def _load_terms(self, service: ServiceSummary | None) -> None:
        self.terms_label.clear()
        if service is not None:
            self.search.terms(service.name, on_success=self._on_terms_loaded)

    def _on_terms_loaded(self, terms: scheduling.ServiceTerms) -> None:
        self.terms_label.setText(terms.describe())
        self.buttons.set_hold_minutes(terms.hold_minutes)
        self.terms_loaded.emit(terms)

    def _on_slots_found(self, offers: list[SlotOffer], patient_id: int | None = None) -> None:
        previous = self.selected_offer()
        self.state.offers = list(offers)
        self.state.offers_patient = patient_id
        service = self.selected_service()
        needs = service.needs if service else {}
        tz = self._branch.tz
        self.slots.show_offers(self.state.offers, needs, tz, with_offset=changes_offset(self.local_date, tz),
                               previous=previous, start_hint=self.state.start_hint)
        self.slot_status.setText(slots_text(len(self.state.offers), self.slots.day_text(), self._branch.timezone))
        if not self.state.offers:
            self._find_next_free()
        self._update_book_button()
        self.slots_listed.emit(len(self.state.offers))

    def _find_next_free(self) -> None:
        """Search the ``NEXT_FREE_DAYS`` local days after the (empty) day shown, in the background."""
        service = self.selected_service()
        if service is None:
            return
        patient_id = self.state.patient.id if self.state.patient is not None else None
        self.search.next_free(service, self.state.pins_for(service), self.local_date, patient_id,
                              on_success=self._on_next_free_found, on_failure=self._on_next_free_failed)

    def _on_next_free_found(self, offers: list[SlotOffer]) -> None:
        first = offers[0] if offers else None
        self.state.next_free_date = self.slots.show_next_free(first, self._branch.tz)
        if self.state.next_free_date is not None and self.slot_tree.hasFocus():
            self.next_free_button.setFocus()  # the empty list has nothing for the keyboard: Enter shows that day
        self.next_free_listed.emit(first)

    def _on_next_free_failed(self, error: ClinicError) -> None:
        self.slot_status.setText(f"No free time on {self.slots.day_text()}.")
        self._show_failure(error)

    def _on_next_free_clicked(self) -> None:
        target = self.state.next_free_date
        if target is None:
            return
        self.slots.set_local_date(target)  # the day search runs on dateChanged
        self.slot_tree.setFocus()  # the button hides; keep the keyboard where the times will be

    def _clear_next_free(self) -> None:
        """Hide the "Show …" button and drop the answer of a next-free search still running."""
        self.search.drop("next_free")
        self.state.next_free_date = None
        self.next_free_button.hide()

    def _on_slots_failed(self, error: ClinicError) -> None:
        if isinstance(error, DatabaseUnavailable):
            self.state.rerun_on_restore.add("slots")
        self.state.offers = []
        self.slot_tree.clear()
        self.slot_status.setText("")
        self._show_failure(error)
        self._update_book_button()
        self.slots_listed.emit(0)

    # -- keys ----------------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Enter on a free start books it (or says what is missing) and goes no further: the
        primary action of the list, never another button's."""
        if (watched is self.slot_tree and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self._on_book_clicked()
            return True
        return super().eventFilter(watched, event)

    def _focus_starts(self) -> None:
        """The patient was confirmed (Enter on a result): the keyboard goes to the free starts, or to
        "Show <next free day>" when the day has none and that button is shown."""
        if self.next_free_button.isVisible():
            self.next_free_button.setFocus()
        else:
            self.slot_tree.setFocus()

    def _on_start_changed(self) -> None:
        self._end_missing()
        self._update_book_button()

    def _end_missing(self) -> None:
        """Hide a "Choose … first" message (topic ``MISSING``) once what it asked for is chosen: the
        patient, and the free time unless it asked for the patient only."""
        message = self.state.message
        if message is None or message.topic != MISSING or self.state.patient is None:
            return
        if self.selected_offer() is not None or message.text.startswith(PATIENT_FIRST_TEXT):
            self.state.end_topic(MISSING)
            self.message_label.hide()

    def _on_slot_double_clicked(self, _item: object, _column: int) -> None:
        if self.book_button.isEnabled():
            self._on_book_clicked()

    # -- booking ---------------------------------------------------------------------------------
    @property
    def outcome_unknown(self) -> bool:
        """Whether a booking was sent whose commit outcome is not known yet (being checked, or
        waiting for the connection to check it)."""
        return self.state.unsure is not None

    def _update_book_button(self) -> None:
        """The buttons show the state: enabled (``can_book``/``can_hold``) and their words."""
        self.buttons.show_state(self.state, self.selected_offer(), offline=self._runner.offline)

    # -- holding -----------------------------------------------------------------------------------------
    @property
    def held(self) -> AppointmentView | None:
        """The hold made in this dialog and not confirmed yet, or ``None``."""
        return self.state.held

    def _on_hold_clicked(self) -> None:
        """Hold the chosen start, or, with a hold made, confirm it."""
        if self.state.booking:
            return
        if self.state.held is not None:
            self._confirm_hold()
            return
        offer, service, patient = self.selected_offer(), self.selected_service(), self.state.patient
        if patient is None or service is None or offer is None:
            self._show_message("Choose the patient and a free time first.", topic=MISSING)
            return
        attempt, db = attempt_of(self._branch.name, self._branch.tz, patient.id, service.name, offer,
                                 self._clock()), self._db
        self.state.booking = True
        self._update_book_button()
        self._show_message("Holding…", kind=INFO)
        self._runner.run(lambda: send_hold(db, attempt), on_success=self._on_held, on_failure=self._on_book_failed,
                         on_finished=self._on_book_finished, label="hold")

    def _on_held(self, appointment: AppointmentView) -> None:
        self.state.held = appointment
        self._update_book_button()  # "Confirm hold"
        self._show_message(held_text(appointment, self._branch.tz), kind=INFO)
        self.appointment_held.emit(appointment)

    def _confirm_hold(self) -> None:
        held, db = self.state.held, self._db
        assert held is not None
        self.state.booking = True
        self._update_book_button()
        self._runner.run(lambda: scheduling.confirm_hold(db, held.id, reason="hold confirmed at the front desk"),
                         on_success=self._on_hold_confirmed, on_failure=self._on_confirm_failed,
                         on_finished=self._on_book_finished, label="confirm hold")

    def _on_hold_confirmed(self, appointment: AppointmentView) -> None:
        self.state.held = None
        self.appointment_booked.emit(appointment)
        self.accept()

    def _on_confirm_failed(self, error: ClinicError) -> None:
        # The hold expired and someone took the time, or it was cancelled elsewhere: start again.
        self.state.held = None
        self._update_book_button()  # "Hold slot" again
        self._show_message(f"{error} Please pick a time again.")
        self.refresh_slots()

    def _on_book_clicked(self) -> None:
        offer, service, patient = self.selected_offer(), self.selected_service(), self.state.patient
        if self.state.booking or self.state.resolved:
            return
        if self.state.unsure is not None:  # settle the first attempt before anything else is booked
            self._check_unsure()
            return
        if self._runner.offline:
            self._show_message(f"{OFFLINE_TEXT}; Book works again when the connection is back.", topic=OFFLINE)
            return
        if patient is None:
            self._show_message(PATIENT_FIRST_TEXT, topic=MISSING)
            return
        if service is None or offer is None:
            self._show_message("Choose a free time from the list.", topic=MISSING)
            return
        # The same attempt keeps its client id, so a retry after a lost connection cannot book twice.
        attempt = self.state.attempt_for(self._branch.name, self._branch.tz, patient.id, service.name, offer,
                                         self._clock())
        attempt = replace(attempt, desk_note=self.note_edit.text().strip())
        self.state.booking = True
        self._update_book_button()
        self._show_message(BOOKING_PROGRESS_TEXT, kind=INFO, topic=PROGRESS)
        self._runner.run(lambda: send_booking(self._db, attempt), on_success=self._on_booked,
                         on_failure=lambda error: self._on_book_failed(error, attempt),
                         on_finished=self._on_book_finished, label="book")

    def _on_booked(self, appointment: AppointmentView) -> None:
        self.state.forget_attempt()
        self.appointment_booked.emit(appointment)
        self.accept()

    def _on_book_failed(self, error: ClinicError, unsure: BookingAttempt | None = None) -> None:
        if isinstance(error, CommitOutcomeUnknown) and unsure is not None:
            # Keep everything (and the client id): check once the connection is back.
            self.state.unsure = unsure
            if self._runner.offline:
                self._show_message(f"{CHECKING_TEXT} (waiting for the connection to come back)", kind=INFO)
            else:  # nobody watches the connection: check at once (Book checks again if this fails)
                QTimer.singleShot(0, self._check_unsure)
                self._show_message(CHECKING_TEXT, kind=INFO)
        else:  # taken meanwhile, never sent, or refused: ``booking_model.refusal_of`` says what it means
            self._refused(error, refusal_of(error))

    def _refused(self, error: ClinicError, refusal: Refusal) -> None:
        """Show ``refusal``; when the time was taken meanwhile, list the free starts again and tell
        the window (``slot_taken``)."""
        if refusal.taken:
            self.state.forget_attempt()
        self._show(refusal.message)
        if refusal.taken:
            self.refresh_slots()
            self.slot_taken.emit(str(error))

    def _check_unsure(self) -> None:
        """Find out what became of the booking whose COMMIT outcome is unknown: look for its client
        id on its day; if absent, book again with the same client id (never twice: the id is unique)."""
        unsure = self.state.unsure
        if unsure is None or self.state.booking:
            return
        self.state.booking = True
        self._update_book_button()
        self._show_message(CHECKING_TEXT, kind=INFO)
        db = self._db
        self._runner.run(lambda: settle_attempt(db, unsure), on_success=self._on_unsure_settled,
                         on_failure=self._on_unsure_check_failed,
                         on_finished=self._on_book_finished, label="check a booking with an unknown outcome")

    def _on_unsure_settled(self, outcome: tuple[AppointmentView, bool]) -> None:
        appointment, saved_before = outcome
        self.state.unsure = None
        self.state.forget_attempt()
        self.state.resolved = True
        text = settled_text(appointment, saved_before, self._branch.tz)
        self._show_message(text, kind=SUCCESS)
        self._update_book_button()  # Cancel reads "Close": nothing is left to cancel
        self.appointment_booked.emit(appointment)
        self.outcome_resolved.emit(text)

    def _on_unsure_check_failed(self, error: ClinicError) -> None:
        refusal = check_refusal_of(error)
        if refusal is None:  # still (or again) no connection: stay unsure
            self._show_message(RECHECK_TEXT, kind=INFO)
            return
        self.state.unsure = None
        self.state.forget_attempt()
        self._refused(error, refusal)
        self.outcome_resolved.emit(refusal.message.text)

    def _on_connection_lost(self, _message: str) -> None:
        self._update_book_button()

    def _on_connection_restored(self) -> None:
        """The connection is back: settle an unsure booking, re-run searches that failed, allow Book."""
        if not self.isVisible():
            return
        if self.state.unsure is not None:
            self._check_unsure()
        rerun, self.state.rerun_on_restore = self.state.rerun_on_restore, set()
        if "slots" in rerun:
            self.refresh_slots()
        if self.state.end_topic(OFFLINE):
            self.message_label.hide()  # what it said is over: Book and the searches work again
        self._update_book_button()

    def _on_book_finished(self) -> None:
        self.state.booking = False
        if self.state.end_topic(PROGRESS):
            self.message_label.hide()
        self._update_book_button()

    # -- messages ------------------------------------------------------------------------------------
    def _show_failure(self, error: ClinicError) -> None:
        self._show(failure_message(error, connection_watched=self._runner.connection_watched))

    def _show_message(self, text: str, *, kind: str = ERROR, topic: str = "") -> None:
        """Set the state's message and show it (``booking_model.Message``: kind and topic)."""
        self._show(Message(text, kind, topic))

    def _show(self, message: Message) -> None:
        self.message_label.show_message(self.state.set_message(message))

    def done(self, result: int) -> None:
        """Close; searches still running finish, but their results are dropped.

        A booking already sent is not dropped: if it commits, ``appointment_booked`` is still emitted.
        """
        self.picker.discard()
        self.search.discard()
        held, self.state.held = self.state.held, None
        if held is not None and not self._runner.closed:  # closed without confirming: let the time go
            db = self._db
            self._runner.run(lambda: scheduling.cancel(db, held.id, reason="hold released at the desk"),
                             on_failure=lambda _error: None, label="release hold")
        super().done(result)

