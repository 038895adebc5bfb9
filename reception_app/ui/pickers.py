"""The pickers several dialogs share: service and doctor drop-downs, and the patient picker.

``fill_services`` / ``fill_doctors``: plain functions over a ``QComboBox`` (walk-in,
waitlist); they fill it without emitting change signals and keep the current
choice when it is still offered. :class:`PatientPicker`: the one patient search
(find, or add with a duplicate check) of the booking, walk-in and waitlist dialogs.
"""

from __future__ import annotations

import uuid
from html import escape

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError, DatabaseUnavailable, ValidationError
from ..domain.formats import phone_example
from ..services import patients
from ..services.dayview import DayView, ServiceSummary
from ..services.patients import PatientView
from ..store.database import Database
from . import local_formats
from .colors import ERROR_TEXT_STYLE, MessageLabel
from .patient_dialog import patient_line
from .runner import Runner


def fill_services(combo: QComboBox, services: list[ServiceSummary]) -> None:
    """``"Name  (30 min)"`` per service, in the given order; the first is chosen (none: -1).
    No ``currentIndexChanged`` is emitted (the caller refreshes what depends on it)."""
    combo.blockSignals(True)
    combo.clear()
    for s in services:
        combo.addItem(f"{s.name}  ({s.duration_min} min)")
    combo.setCurrentIndex(0 if services else -1)
    combo.blockSignals(False)


def fill_doctors(combo: QComboBox, day: DayView | None, specialty: str | None, first_label: str) -> None:
    """``first_label`` (data ``None``, e.g. "Any doctor") then the day's doctors of ``specialty``
    (data: the name); keeps the current doctor when still listed; disabled when the service needs
    no doctor. No change signal is emitted."""
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    combo.addItem(first_label, None)
    if day is not None and specialty:
        for r in day.resources:
            if r.kind == "doctor" and r.category == specialty:
                combo.addItem(r.name, r.name)
    index = combo.findData(current) if current else 0
    combo.setCurrentIndex(max(index, 0))
    combo.setEnabled(bool(specialty))
    combo.blockSignals(False)


#: Minimum characters typed before the patient search runs (a one-letter search lists half the clinic).
MIN_SEARCH_CHARS = 2

_PATIENT_FIELDS = {"name": "Name", "birth_date": "Birth date", "phone": "Phone", "email": "E-mail"}


class PatientPicker(QWidget):
    """Choose the patient of a booking (booking, walk-in and waitlist dialogs): one search behaviour.

    Find a patient by name (accents and typos forgiven), phone in any format or
    birth date: results arrive as you type (debounced by ``search_delay_ms``,
    from :data:`MIN_SEARCH_CHARS` characters, in the background). A single
    patient found is chosen at once; of several, the one selected is (arrow keys
    or a click). Or add a new one ("New patient…"): name, birth date, phone and
    e-mail, each refused value shown under its field; likely duplicates (same
    phone, or same name and birth date) are offered first — "Use this patient"
    chooses the registered one and writes nothing, "Add anyway" adds.

    Keys: typing searches; Enter in the search field searches now and goes no
    further (it never books with an older choice); Down moves into the results;
    Enter on a result chooses that patient and says so (``patient_confirmed``:
    the dialog moves on to what comes next) — it never reaches the dialog's
    buttons, so it can't open "New patient…" or book.

    A search that failed for want of a connection runs again when the runner
    reports the connection back (``Runner.connection_restored``); what was typed
    is never lost.

    Signals:
        patient_chosen(object): the ``PatientView`` chosen (found, added, used or set), or ``None``.
        patients_listed(int): search results arrived (how many).
        patient_added(object): a new patient was written: the ``PatientView``.
        duplicates_listed(int): "Add patient" was pressed and the check for likely duplicates
            answered (how many; 0 means the patient is being added).
        existing_patient_used(object): "Use this patient" chose a registered patient instead of
            adding one (nothing written): the ``PatientView``.
        patient_confirmed(object): Enter on a result (or a double-click) chose that patient: the
            ``PatientView`` (``patient_chosen`` came first when it was a change).
    """

    patient_chosen = Signal(object)
    patients_listed = Signal(int)
    patient_added = Signal(object)
    duplicates_listed = Signal(int)
    existing_patient_used = Signal(object)
    patient_confirmed = Signal(object)

    def __init__(self, db: Database, runner: Runner, *, search_delay_ms: int = 250,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patientPicker")
        self._db = db
        self._runner = runner
        self._patient: PatientView | None = None
        self._pending: dict[str, str | None] | None = None  # details a duplicate warning is about
        self._add_client_id: uuid.UUID | None = None       # the patient being added (see _write)
        self._adding = False
        self._rerun = False  # the last search failed for want of a connection
        self._key = f"picker-{id(self)}"
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(search_delay_ms)
        self._timer.timeout.connect(self.search_now)
        runner.connection_restored.connect(self._on_connection_restored)

        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("patientSearch")
        self.search_edit.setAccessibleName("Search patients")
        self.search_edit.setPlaceholderText(f"Name, phone, or birth date ({local_formats.current().date_hint.lower()})")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textEdited.connect(lambda _text: self._timer.start())
        self.search_edit.installEventFilter(self)
        row.addWidget(self.search_edit, 1)
        self.new_button = QPushButton("New patient…")
        self.new_button.setObjectName("newPatientButton")
        self.new_button.setCheckable(True)
        self.new_button.setAutoDefault(False)
        self.new_button.toggled.connect(self._on_new_toggled)
        row.addWidget(self.new_button)
        v.addLayout(row)

        self.result_list = QListWidget()
        self.result_list.setObjectName("patientList")
        self.result_list.setAccessibleName("Patients found")
        self.result_list.setMaximumHeight(120)
        self.result_list.setAlternatingRowColors(True)
        self.result_list.currentItemChanged.connect(self._on_current_changed)
        self.result_list.itemDoubleClicked.connect(lambda _item: self._confirm_current())
        self.result_list.installEventFilter(self)
        v.addWidget(self.result_list)

        v.addWidget(self._build_new_form())
        self.patient_label = QLabel("No patient chosen yet.")
        self.patient_label.setObjectName("chosenPatient")
        self.patient_label.setWordWrap(True)
        v.addWidget(self.patient_label)
        self.note_label = QLabel()
        self.note_label.setObjectName("patientPickerNote")
        self.note_label.setWordWrap(True)
        self.note_label.hide()
        v.addWidget(self.note_label)

    def _build_new_form(self) -> QFrame:
        self.new_form = QFrame()
        self.new_form.setObjectName("newPatientForm")
        self.new_form.setFrameShape(QFrame.Shape.StyledPanel)
        outer = QVBoxLayout(self.new_form)
        fields = QWidget()
        form = QFormLayout(fields)
        form.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(fields)
        self.new_edits: dict[str, QLineEdit] = {}
        self.field_errors: dict[str, QLabel] = {}
        fmt = local_formats.current()
        for field, hint in (("name", ""), ("birth_date", fmt.date_hint),
                            ("phone", f"{phone_example(fmt.country)} (optional)"), ("email", "optional")):
            edit = QLineEdit()
            edit.setObjectName(f"{field}Edit")
            edit.setAccessibleName(f"New patient's {_PATIENT_FIELDS[field].lower()}")
            edit.setPlaceholderText(hint)
            edit.textEdited.connect(self._hide_duplicates)  # a warning was about the old details
            self.new_edits[field] = edit
            error = MessageLabel("fieldError", style=ERROR_TEXT_STYLE)
            self.field_errors[field] = error
            cell = QVBoxLayout()
            cell.setSpacing(2)
            cell.addWidget(edit)
            cell.addWidget(error)
            form.addRow(_PATIENT_FIELDS[field], cell)
        self.add_button = QPushButton("Add patient")
        self.add_button.setObjectName("addPatientButton")
        self.add_button.setAutoDefault(False)
        self.add_button.clicked.connect(self.add_patient)
        self.form_error = MessageLabel("fieldError", style=ERROR_TEXT_STYLE)
        buttons = QHBoxLayout()
        buttons.addWidget(self.form_error, 1)
        buttons.addWidget(self.add_button)
        form.addRow(buttons)
        # Not a QFormLayout row: a form layout does not make room when a row's widget is shown later.
        outer.addWidget(self._build_duplicate_panel())
        self.new_form.hide()
        return self.new_form

    def _build_duplicate_panel(self) -> QFrame:
        """The likely-duplicate warning shown in the new-patient form (hidden until needed)."""
        self.duplicate_panel = QFrame()
        self.duplicate_panel.setObjectName("duplicatePanel")
        self.duplicate_panel.setAccessibleName("Possible duplicate patient")
        self.duplicate_panel.setStyleSheet(
            "QFrame#duplicatePanel { background: #fff4e5; border: 1px solid #f0c36d; border-radius: 4px; }")
        v = QVBoxLayout(self.duplicate_panel)
        self.duplicate_label = QLabel()
        self.duplicate_label.setObjectName("duplicateMessage")
        self.duplicate_label.setWordWrap(True)
        v.addWidget(self.duplicate_label)
        self.duplicate_list = QListWidget()
        self.duplicate_list.setObjectName("duplicateList")
        self.duplicate_list.setAccessibleName("Patients already registered with these details")
        self.duplicate_list.setMaximumHeight(90)
        self.duplicate_list.itemActivated.connect(lambda _item: self._use_existing())
        v.addWidget(self.duplicate_list)
        row = QHBoxLayout()
        row.addStretch(1)
        self.use_existing_button = QPushButton("Use this patient")
        self.use_existing_button.setObjectName("useExistingButton")
        self.use_existing_button.setAccessibleName("Use this patient")
        self.use_existing_button.setAccessibleDescription(
            "Chooses the selected registered patient; nothing new is added")
        self.use_existing_button.setAutoDefault(False)
        self.use_existing_button.clicked.connect(self._use_existing)
        row.addWidget(self.use_existing_button)
        self.add_anyway_button = QPushButton("Add anyway")
        self.add_anyway_button.setObjectName("addAnywayButton")
        self.add_anyway_button.setAccessibleName("Add anyway")
        self.add_anyway_button.setAccessibleDescription("Adds the new patient although a similar one exists")
        self.add_anyway_button.setAutoDefault(False)
        self.add_anyway_button.clicked.connect(self._add_anyway)
        row.addWidget(self.add_anyway_button)
        v.addLayout(row)
        self.duplicate_panel.hide()
        return self.duplicate_panel

    # -- public ---------------------------------------------------------------------------------
    @property
    def patient(self) -> PatientView | None:
        """The patient chosen, or ``None``."""
        return self._patient

    def set_patient(self, patient: PatientView, note: str = "chosen") -> None:
        """Choose ``patient`` (found elsewhere, e.g. "Book for this patient" in a patient record);
        it is listed as ``"<name> — <note>"`` and selected."""
        self._show_chosen(patient, note)

    def search_now(self) -> None:
        """Search for the text typed now (typing does it after the debounce; Enter does it at once)."""
        self._timer.stop()
        query = self.search_edit.text().strip()
        if len(query) < MIN_SEARCH_CHARS:
            return
        self._rerun = False
        self._runner.run(lambda: patients.find_patients(self._db, query), on_success=self._on_found,
                         on_failure=self._on_search_failed, key=self._key, label="find patients")

    def add_patient(self) -> None:
        """Add the new patient typed: likely duplicates are checked first (in the background); the
        patient is added at once only when there are none."""
        for label in [*self.field_errors.values(), self.form_error]:
            label.hide()
        self._hide_duplicates()
        fmt = local_formats.current()
        try:  # typed as the branch writes them: "12/03/1985", "27 99876-5432"
            birth = fmt.parse_date(self.new_edits["birth_date"].text(), "birth_date")
            phone = fmt.parse_phone(self.new_edits["phone"].text(), "phone")
        except ValidationError as exc:
            self._on_add_failed(exc)
            return
        values: dict[str, str | None] = {
            "name": self.new_edits["name"].text(), "birth_date": birth.isoformat() if birth else "",
            "phone": phone, "email": self.new_edits["email"].text().strip() or None}
        check = {k: values[k] for k in ("name", "birth_date", "phone")}
        self.add_button.setEnabled(False)
        self._runner.run(lambda: patients.likely_duplicates(self._db, **check),  # type: ignore[arg-type]
                         on_success=lambda found: self._on_duplicates(values, found),
                         on_failure=self._on_add_failed, on_finished=self._on_step_finished,
                         key=self._key + "-duplicates", label="check duplicate patients")

    def discard(self) -> None:
        """Drop the answers of searches still running (the host is closing)."""
        self._timer.stop()
        self._runner.discard(self._key, self._key + "-duplicates")

    # -- reactions -----------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Enter in the search field searches now and goes no further (not to the dialog's default
        button); Down moves into the results; Enter on a result confirms it (:meth:`_confirm_current`)
        and goes no further either."""
        if watched is getattr(self, "result_list", None) and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._confirm_current()
                return True
        if watched is self.search_edit and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.search_now()
                return True
            if event.key() == Qt.Key.Key_Down and self.result_list.count():
                self.result_list.setFocus()
                if self.result_list.currentRow() < 0:
                    self.result_list.setCurrentRow(0)
                return True
        return super().eventFilter(watched, event)

    def _on_found(self, found: list[PatientView]) -> None:
        self.result_list.blockSignals(True)
        self.result_list.clear()
        for p in found:
            item = QListWidgetItem(patient_line(p))
            item.setData(Qt.ItemDataRole.UserRole, p)
            self.result_list.addItem(item)
        if not found:
            item = QListWidgetItem("No patient found — use “New patient…” to add one.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.result_list.addItem(item)
        # One answer is chosen at once; of several, the one chosen before stays chosen if listed,
        # else the receptionist picks (nobody is booked because they happened to be listed first).
        chosen = self._patient.id if self._patient is not None else None
        row = 0 if len(found) == 1 else next((i for i, p in enumerate(found) if p.id == chosen), -1)
        self.result_list.setCurrentRow(row)
        self.result_list.blockSignals(False)
        self._note("")
        self._choose(found[row] if row >= 0 else None)
        self.patients_listed.emit(len(found))

    def _on_search_failed(self, error: ClinicError) -> None:
        if isinstance(error, DatabaseUnavailable):
            self._rerun = True
            self._note("No connection to the clinic database; the search runs again when it is back.", error=True)
        else:
            self._note(str(error), error=True)

    def _on_connection_restored(self) -> None:
        if self._rerun and self.isVisible():
            self.search_now()

    def _on_current_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        patient = current.data(Qt.ItemDataRole.UserRole) if current is not None else None
        if patient is not None:
            self._choose(patient)

    def _confirm_current(self) -> None:
        """Choose the selected result (if it is a patient, not the "No patient found" line) and emit
        ``patient_confirmed``."""
        current = self.result_list.currentItem()
        patient = current.data(Qt.ItemDataRole.UserRole) if current is not None else None
        if patient is None:
            return
        if self._patient is None or self._patient.id != patient.id:
            self._choose(patient)
        self.patient_confirmed.emit(patient)

    def _choose(self, patient: PatientView | None) -> None:
        self._patient = patient
        if patient is None:
            self.patient_label.setText("No patient chosen yet.")
        else:
            born = f", born {local_formats.current().date_text(patient.birth_date)}" if patient.birth_date else ""
            self.patient_label.setText(f"Patient: <b>{escape(patient.name)}</b>{born}")
        self.patient_chosen.emit(patient)

    def _on_new_toggled(self, shown: bool) -> None:
        self.new_form.setVisible(shown)
        if not shown:
            self._hide_duplicates()
            return
        name = self.new_edits["name"]
        typed = self.search_edit.text().strip()
        if not name.text() and typed and not _looks_like_contact(typed):
            name.setText(typed)
        name.setFocus()

    def _on_duplicates(self, values: dict[str, str | None], found: list[PatientView]) -> None:
        self.duplicates_listed.emit(len(found))
        if not found:
            self._write(values)
            return
        self._pending = values
        self.duplicate_list.clear()
        for p in found:
            item = QListWidgetItem(duplicate_text(p))
            item.setData(Qt.ItemDataRole.UserRole, p)
            self.duplicate_list.addItem(item)
        self.duplicate_list.setCurrentRow(0)
        self.duplicate_label.setText(
            "This patient may already be registered (same phone, or same name and birth date):"
            if len(found) == 1 else
            f"{len(found)} registered patients look the same (same phone, or same name and birth date):")
        self.duplicate_panel.show()
        self.use_existing_button.setFocus()

    def _hide_duplicates(self, *_args: object) -> None:
        self._pending = None
        self.duplicate_panel.hide()
        self.duplicate_list.clear()

    def _use_existing(self) -> None:
        item = self.duplicate_list.currentItem() or self.duplicate_list.item(0)
        patient = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if patient is None:
            return
        self._show_chosen(patient, "already registered")
        self.existing_patient_used.emit(patient)

    def _add_anyway(self) -> None:
        values = self._pending
        if values is None:
            return
        self._hide_duplicates()
        self._write(values)

    def _write(self, values: dict[str, str | None]) -> None:
        self._adding = True
        self.add_button.setEnabled(False)
        # One client id per patient being added: a retry after a lost connection (or a second click)
        # adds that patient once (patients.add_patient); a new one after the patient was added.
        if self._add_client_id is None:
            self._add_client_id = uuid.uuid4()
        cid = self._add_client_id
        self._runner.run(lambda: patients.add_patient(self._db, client_id=cid, **values),  # type: ignore[arg-type]
                         on_success=self._on_added, on_failure=self._on_add_failed,
                         on_finished=self._on_add_finished, label="add patient")

    def _on_add_finished(self) -> None:
        self._adding = False
        self._on_step_finished()

    def _on_step_finished(self) -> None:
        if not self._adding:
            self.add_button.setEnabled(True)

    def _on_added(self, patient: PatientView) -> None:
        self._add_client_id = None
        self._show_chosen(patient, "new")
        self.patient_added.emit(patient)

    def _on_add_failed(self, error: ClinicError) -> None:
        if isinstance(error, ValidationError) and error.field in self.field_errors:
            label = self.field_errors[error.field]
            label.setText(f"{_PATIENT_FIELDS[error.field]} {error.problem}.")
            label.show()
            self.new_edits[error.field].setFocus()
        else:
            self.form_error.setText(str(error))
            self.form_error.show()

    def _show_chosen(self, patient: PatientView, note: str) -> None:
        """Close the new-patient form and list ``patient`` (labelled with ``note``) as the one chosen.

        A choice made now supersedes a search still waiting or running (typed before "New
        patient…"): its answer would otherwise replace the list and undo the choice."""
        self._timer.stop()
        self._runner.discard(self._key)
        self._hide_duplicates()
        self.new_button.setChecked(False)
        for edit in self.new_edits.values():
            edit.clear()
        self.result_list.blockSignals(True)
        self.result_list.clear()
        item = QListWidgetItem(f"{patient_line(patient)} — {note}")
        item.setData(Qt.ItemDataRole.UserRole, patient)
        self.result_list.addItem(item)
        self.result_list.setCurrentItem(item)
        self.result_list.blockSignals(False)
        self._choose(patient)

    def _note(self, text: str, *, error: bool = False) -> None:
        self.note_label.setText(text)
        self.note_label.setStyleSheet(ERROR_TEXT_STYLE if error else "")
        self.note_label.setVisible(bool(text))


def _phone_text(phone: str) -> str:
    """A stored phone as the branch on screen writes it (national at home, international otherwise)."""
    return local_formats.current().phone(phone)


def duplicate_text(p: PatientView) -> str:
    """``Maria Silva, born 17 May 1980, +55 27 99999-0001 — already registered``: a likely duplicate."""
    parts = [p.name]
    if p.birth_date:
        parts.append(f"born {local_formats.current().date_text(p.birth_date)}")
    if p.phone:
        parts.append(_phone_text(p.phone))
    if p.email:
        parts.append(p.email)
    return ", ".join(parts) + " — already registered"


def _looks_like_contact(text: str) -> bool:
    t = text.strip()
    return bool(t) and (t[0] in "+0123456789" or "@" in t)
