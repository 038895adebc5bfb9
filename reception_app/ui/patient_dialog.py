"""Patient search and the patient's record.

``PatientSearchDialog``: type a name (accents and typos forgiven), a phone in
any format or a date of birth (dd/mm/yyyy or yyyy-mm-dd); results arrive as
you type (debounced, in the background); Enter or a double-click opens the
record. ``PatientRecordDialog``: the patient's details, contact details
editable with validation (``patients.update_patient``, one write), upcoming
and past appointments, and "Book for this patient".

Every database call goes through the shared :class:`~.runner.Runner`. A record opens through a
dialog manager (``dialog_manager.DialogManager``, the window's when the window opens the search)
under :func:`record_key`: one record per patient at a time, with the size and place the last
record had; it is deleted when closed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, QTimer, Signal, SignalInstance
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError, ValidationError
from ..domain.formats import phone_example
from ..domain.status import LABELS
from ..domain.validation import CHANNELS
from ..services import patients
from ..services.patients import PatientRecord, PatientView
from ..services.scheduling import AppointmentView
from ..store.database import Database
from . import local_formats
from .colors import ERROR_TEXT_STYLE, MessageLabel
from .dialog_manager import DialogManager
from .runner import Clock, Runner

_FIELD_LABELS = {"name": "Name", "birth_date": "Birth date", "phone": "Phone", "email": "E-mail",
                 "channels": "Consent"}


def patient_line(p: PatientView) -> str:
    """``Maria Silva — born 17/05/1980 — +5527999990001 — m@x.com``: one result line."""
    parts = [p.name]
    fmt = local_formats.current()
    if p.birth_date:
        parts.append(f"born {fmt.date_text(p.birth_date)}")
    parts += [x for x in (fmt.phone(p.phone), p.email) if x]
    return " — ".join(parts)


def record_key(patient_id: int) -> str:
    """``"patient/5"``: the dialog manager's key of patient 5's record (kind ``"patient"``)."""
    return f"patient/{patient_id}"


class PatientSearchDialog(QDialog):
    """Find a patient and open their record.

    ``query``: text to start with (e.g. the letter typed on the grid); the
    search runs at once when it is not empty. ``search_delay_ms``: debounce
    while typing. ``clock``: handed to the record dialog. ``show_history``: records opened from
    here offer "History" (managers and admins; see ``history_dialog.may_read_history``).
    ``dialogs``: the dialog manager records open through (default: one of this dialog's own).

    Keys: typing searches; Down moves into the results; Enter opens the record
    of the selected (or first) patient; Esc closes.

    Signals:
        patients_listed(int): results arrived (how many).
        record_opened(object): a ``PatientRecordDialog`` was opened (the dialog).
        book_requested(object): "Book for this patient" in a record opened from
            here: the ``PatientView`` (this dialog closes too).
        visit_requested(object), series_requested(object): "Book a visit…" /
            "Book a series…" in such a record: the ``PatientView`` (this dialog closes too).
    """

    patients_listed = Signal(int)
    record_opened = Signal(object)
    book_requested = Signal(object)
    visit_requested = Signal(object)
    series_requested = Signal(object)

    def __init__(self, db: Database, runner: Runner, *, query: str = "", clock: Clock | None = None,
                 search_delay_ms: int = 250, show_history: bool = False, dialogs: DialogManager | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dialogs = dialogs if dialogs is not None else DialogManager(self)
        self._db = db
        self._runner = runner
        self._clock = clock or (lambda: datetime.now(UTC))
        self._show_history = show_history
        self._key = f"patient-search-{id(self)}"
        self.setObjectName("patientSearchDialog")
        self.setWindowTitle("Find patient")
        self.setAccessibleName("Find patient")
        self.resize(560, 420)

        v = QVBoxLayout(self)
        self.search_edit = QLineEdit(query)
        self.search_edit.setObjectName("patientSearchQuery")
        self.search_edit.setAccessibleName("Search patients")
        self.search_edit.setPlaceholderText(f"Name, phone, or birth date ({local_formats.current().date_hint.lower()})")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textEdited.connect(self._on_text_edited)
        self.search_edit.installEventFilter(self)
        v.addWidget(self.search_edit)
        self.result_list = QListWidget()
        self.result_list.setObjectName("patientResults")
        self.result_list.setAccessibleName("Patients found")
        self.result_list.setAlternatingRowColors(True)
        self.result_list.itemActivated.connect(lambda _item: self.open_selected())
        v.addWidget(self.result_list, 1)
        self.status_label = QLabel()
        self.status_label.setObjectName("patientSearchStatus")
        self.status_label.setWordWrap(True)
        v.addWidget(self.status_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = buttons.addButton("Open record", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.setObjectName("openRecordButton")
        self.open_button.setAutoDefault(False)
        self.open_button.clicked.connect(self.open_selected)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setAutoDefault(False)  # Enter opens the record; it must not close the search as well
        close.setDefault(False)
        buttons.rejected.connect(self.reject)
        v.addWidget(buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(search_delay_ms)
        self._timer.timeout.connect(self.search_now)
        self.search_edit.setFocus()
        self.search_edit.setCursorPosition(len(query))
        if query.strip():
            self.search_now()

    # -- public -------------------------------------------------------------------------------
    def results(self) -> list[PatientView]:
        """The patients listed, in order."""
        found = [self.result_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.result_list.count())]
        return [p for p in found if p is not None]

    def selected_patient(self) -> PatientView | None:
        """The patient selected, else the first listed, else None."""
        item = self.result_list.currentItem() or self.result_list.item(0)
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def search_now(self) -> None:
        """Search for the current text now (typing does this after the debounce)."""
        self._timer.stop()
        query = self.search_edit.text().strip()
        if not query:
            self.result_list.clear()
            self.status_label.setText("")
            return
        self._runner.run(lambda: patients.find_patients(self._db, query), on_success=self._on_found,
                         on_failure=self._on_failed, key=self._key, label="find patients")

    def open_selected(self) -> PatientRecordDialog | None:
        """Open the record of the selected patient (Enter) through the dialog manager, or bring it
        to the front when it is open; returns the record dialog (``record_opened`` for a new one)."""
        patient = self.selected_patient()
        if patient is None:
            self.search_now()
            return None
        made: list[PatientRecordDialog] = []

        def make() -> PatientRecordDialog:
            record = PatientRecordDialog(self._db, self._runner, patient_id=patient.id, clock=self._clock,
                                         show_history=self._show_history, parent=self)
            for ours, theirs in ((self.book_requested, record.book_requested),
                                 (self.visit_requested, record.visit_requested),
                                 (self.series_requested, record.series_requested)):
                theirs.connect(lambda patient, signal=ours: self._forward(signal, patient))
            made.append(record)
            return record

        record = self._dialogs.open(record_key(patient.id), make)
        if made:
            self.record_opened.emit(record)
        return record

    # -- reactions -----------------------------------------------------------------------------
    def eventFilter(self, watched: object, event: object) -> bool:
        """Down in the search field moves into the results."""
        from PySide6.QtCore import QEvent
        from PySide6.QtGui import QKeyEvent

        if (watched is self.search_edit and isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyPress
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self.open_selected()  # consumed here: the dialog itself must not see Enter (it would close)
            return True
        if (watched is self.search_edit and isinstance(event, QKeyEvent)
                and event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Down
                and self.result_list.count()):
            self.result_list.setFocus()
            if self.result_list.currentRow() < 0:
                self.result_list.setCurrentRow(0)
            return True
        return super().eventFilter(watched, event)  # type: ignore[arg-type]

    def _on_text_edited(self, _text: str) -> None:
        self._timer.start()

    def _on_found(self, found: list[PatientView]) -> None:
        self.result_list.clear()
        for p in found:
            item = QListWidgetItem(patient_line(p))
            item.setData(Qt.ItemDataRole.UserRole, p)
            self.result_list.addItem(item)
        if found:
            self.result_list.setCurrentRow(0)
        n = len(found)
        self.status_label.setText(f"{n} patient{'s' if n != 1 else ''} found. Enter opens the record."
                                  if n else "No patient found.")
        self.patients_listed.emit(n)

    def _on_failed(self, error: ClinicError) -> None:
        self.result_list.clear()
        self.status_label.setText(str(error))
        self.patients_listed.emit(0)

    def _forward(self, signal: SignalInstance, patient: PatientView) -> None:
        """A record opened from here asked to book for its patient: pass it on and close."""
        signal.emit(patient)
        self.accept()

    def done(self, result: int) -> None:
        """Close; a search still running is dropped."""
        self._timer.stop()
        self._runner.discard(self._key)
        super().done(result)


class PatientRecordDialog(QDialog):
    """One patient's record: details (contact details editable), appointments, "Book for this patient".

    ``patient_id``: whose record. ``clock``: "upcoming" means not over at this time.
    ``show_history``: offer "History" — who changed the record and the patient's consent, when and
    why (``history_dialog.HistoryDialog``; only managers and admins may read it).

    Signals:
        record_loaded(object): the ``PatientRecord`` arrived and is shown.
        patient_updated(object): "Save" committed: the new ``PatientView``.
        book_requested(object): "Book for this patient": the ``PatientView`` (the dialog closes).
        visit_requested(object): "Book a visit…" (several appointments together), the same way.
        series_requested(object): "Book a series…" (a recurring series), the same way.
        history_opened(object): "History" opened the patient's change history (the ``HistoryDialog``).
    """

    history_opened = Signal(object)
    record_loaded = Signal(object)
    patient_updated = Signal(object)
    book_requested = Signal(object)
    visit_requested = Signal(object)
    series_requested = Signal(object)

    def __init__(self, db: Database, runner: Runner, *, patient_id: int, clock: Clock | None = None,
                 show_history: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._runner = runner
        self._patient_id = patient_id
        self._clock = clock or (lambda: datetime.now(UTC))
        self._record: PatientRecord | None = None
        self._saving = False
        self.setObjectName("patientRecordDialog")
        self.setWindowTitle("Patient")
        self.setAccessibleName("Patient record")
        self.resize(640, 560)

        v = QVBoxLayout(self)
        form = QFormLayout()
        self.edits: dict[str, QLineEdit] = {}
        self.field_errors: dict[str, QLabel] = {}
        fmt = local_formats.current()
        for field, placeholder in (("name", ""), ("birth_date", fmt.date_hint), ("phone", phone_example(fmt.country)),
                                   ("email", "optional")):
            edit = QLineEdit()
            edit.setObjectName(f"record_{field}")
            edit.setAccessibleName(_FIELD_LABELS[field])
            edit.setPlaceholderText(placeholder)
            edit.textEdited.connect(self._on_edited)
            self.edits[field] = edit
            form.addRow(_FIELD_LABELS[field], self._with_error(field, edit))
        channels = QHBoxLayout()
        self.channel_boxes: dict[str, QCheckBox] = {}
        for ch in CHANNELS:
            box = QCheckBox({"email": "E-mail", "sms": "SMS", "whatsapp": "WhatsApp"}[ch])
            box.setObjectName(f"consent_{ch}")
            box.setAccessibleName(f"Consents to {box.text()} messages")
            box.toggled.connect(self._on_edited)
            self.channel_boxes[ch] = box
            channels.addWidget(box)
        channels.addStretch(1)
        holder = QWidget()
        holder.setLayout(channels)
        form.addRow("Consent", self._with_error("channels", holder))
        v.addLayout(form)

        row = QHBoxLayout()
        self.save_message = QLabel()
        self.save_message.setObjectName("recordMessage")
        self.save_message.setWordWrap(True)
        row.addWidget(self.save_message, 1)
        self.save_button = QPushButton("Save details")
        self.save_button.setObjectName("saveRecordButton")
        self.save_button.setAutoDefault(False)
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save)
        row.addWidget(self.save_button)
        v.addLayout(row)

        self.appointment_tree = QTreeWidget()
        self.appointment_tree.setObjectName("recordAppointments")
        self.appointment_tree.setAccessibleName("Appointments")
        self.appointment_tree.setHeaderLabels(["Date", "Time", "Service", "Branch", "Status"])
        self.appointment_tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.appointment_tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.upcoming_item = QTreeWidgetItem(["Upcoming"])
        self.cancelled_item = QTreeWidgetItem(["Cancelled, still to come"])
        self.past_item = QTreeWidgetItem(["Past"])
        for top in (self.upcoming_item, self.cancelled_item, self.past_item):
            top.setFirstColumnSpanned(True)
            self.appointment_tree.addTopLevelItem(top)
        v.addWidget(self.appointment_tree, 1)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.book_button = buttons.addButton("Book for this patient", QDialogButtonBox.ButtonRole.ActionRole)
        self.book_button.setObjectName("bookForPatientButton")
        self.book_button.setEnabled(False)
        self.book_button.clicked.connect(lambda: self._request(self.book_requested))
        self.visit_button = buttons.addButton("Book a visit…", QDialogButtonBox.ButtonRole.ActionRole)
        self.visit_button.setObjectName("bookVisitForPatientButton")
        self.visit_button.setToolTip("Several appointments booked together (all or nothing)")
        self.visit_button.clicked.connect(lambda: self._request(self.visit_requested))
        self.series_button = buttons.addButton("Book a series…", QDialogButtonBox.ButtonRole.ActionRole)
        self.series_button.setObjectName("bookSeriesForPatientButton")
        self.series_button.setToolTip("A recurring series, e.g. every Tuesday at 10:00 for 8 weeks")
        self.series_button.clicked.connect(lambda: self._request(self.series_requested))
        for button in (self.book_button, self.visit_button, self.series_button):
            button.setEnabled(False)
        self.history_button = QPushButton("History…")
        self.history_button.setObjectName("patientHistoryButton")
        self.history_button.setToolTip("Who changed this record and the patient's consent, when and why")
        self.history_button.setAutoDefault(False)
        self.history_button.clicked.connect(self.open_history)
        self.history_button.setVisible(show_history)
        row.addWidget(self.history_button)
        buttons.rejected.connect(self.reject)
        v.addWidget(buttons)
        self.reload()

    def _with_error(self, field: str, widget: QWidget) -> QWidget:
        cell = QWidget()
        lay = QVBoxLayout(cell)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(widget)
        error = MessageLabel(f"error_{field}", style=ERROR_TEXT_STYLE)
        lay.addWidget(error)
        self.field_errors[field] = error
        return cell

    # -- public ------------------------------------------------------------------------------
    @property
    def record(self) -> PatientRecord | None:
        """The record shown (as last loaded or saved)."""
        return self._record

    def open_history(self) -> QDialog:
        """Open the patient's change history (record edits and consent changes), times in the
        workstation's zone; returns the dialog (deleted when closed)."""
        from .history_dialog import HistoryDialog, workstation_zone

        tz, zone = workstation_zone()
        name = self._record.patient.name if self._record is not None else f"patient #{self._patient_id}"
        dialog = HistoryDialog(self._db, self._runner, table="patient", row_id=self._patient_id, about=name,
                               tz=tz, zone_text=f"workstation-local time ({zone})", parent=self)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        self.history_opened.emit(dialog)
        return dialog

    def reload(self) -> None:
        """Load the patient and their appointments in the background."""
        now = self._clock()
        self._runner.run(lambda: patients.patient_record(self._db, self._patient_id, now=now),
                         on_success=self._on_loaded, on_failure=self._show_error,
                         key=f"record-{id(self)}", label="patient record")

    def save(self) -> None:
        """Write the changed details (one transaction); errors are shown next to their field."""
        if self._record is None or self._saving:
            return
        for label in self.field_errors.values():
            label.hide()
        before = self._record.patient
        changes: dict[str, object] = {}
        text = {f: e.text().strip() for f, e in self.edits.items()}
        fmt = local_formats.current()
        try:  # typed as the branch writes them: "12/03/1985", "27 99876-5432"
            birth = fmt.parse_date(text["birth_date"], "birth_date")
            phone = fmt.parse_phone(text["phone"], "phone")
        except ValidationError as exc:
            self._on_save_failed(exc)
            return
        if text["name"] != before.name:
            changes["name"] = text["name"]
        if birth != before.birth_date:
            changes["birth_date"] = birth.isoformat() if birth else ""
        if phone != before.phone:
            changes["phone"] = phone
        if text["email"] != (before.email or ""):
            changes["email"] = text["email"] or None
        chosen = [ch for ch in CHANNELS if self.channel_boxes[ch].isChecked()]
        if set(chosen) != set(before.channels):
            changes["channels"] = chosen
        if not changes:
            return
        self._saving = True
        self.save_button.setEnabled(False)
        self.save_message.setText("Saving…")
        pid = self._patient_id
        self._runner.run(lambda: patients.update_patient(self._db, pid, **changes),  # type: ignore[arg-type]
                         on_success=self._on_saved, on_failure=self._on_save_failed,
                         on_finished=self._on_save_finished, label="update patient")

    # -- reactions -----------------------------------------------------------------------------------
    def _on_loaded(self, record: PatientRecord) -> None:
        self._record = record
        self._show_patient(record.patient)
        for top, title, rows in ((self.upcoming_item, "Upcoming", record.upcoming),
                                 (self.cancelled_item, "Cancelled, still to come", record.cancelled),
                                 (self.past_item, "Past", record.past)):
            top.takeChildren()
            for a in rows:
                top.addChild(self._appointment_item(a, record.zones))
            top.setText(0, f"{title} ({len(rows)})")
            top.setExpanded(True)
            top.setHidden(top is self.cancelled_item and not rows)
        for button in (self.book_button, self.visit_button, self.series_button):
            button.setEnabled(True)
        self.record_loaded.emit(record)

    def _appointment_item(self, a: AppointmentView, zones: dict[int, str]) -> QTreeWidgetItem:
        tz = ZoneInfo(zones.get(a.branch_id, "UTC"))
        start, end = a.start.astimezone(tz), a.end.astimezone(tz)
        fmt = local_formats.current()
        item = QTreeWidgetItem([fmt.day_text(start.date()), f"{fmt.time_text(start)}–{fmt.time_text(end)}", a.service,
                                a.branch, LABELS.get(a.status, a.status)])
        item.setData(0, Qt.ItemDataRole.UserRole, a)
        return item

    def _show_patient(self, p: PatientView) -> None:
        self.setWindowTitle(f"Patient — {p.name}")
        fmt = local_formats.current()
        values = {"name": p.name, "birth_date": fmt.date_text(p.birth_date) if p.birth_date else "",
                  "phone": fmt.phone(p.phone), "email": p.email or ""}
        for field, value in values.items():
            self.edits[field].setText(value)
        for ch, box in self.channel_boxes.items():
            box.blockSignals(True)
            box.setChecked(ch in p.channels)
            box.blockSignals(False)
        self.save_button.setEnabled(False)

    def _on_edited(self, *_args: object) -> None:
        self.save_button.setEnabled(self._record is not None and not self._saving)
        self.save_message.setText("")

    def _on_saved(self, patient: PatientView) -> None:
        if self._record is not None:
            self._record = PatientRecord(patient, self._record.upcoming, self._record.past, self._record.zones,
                                         self._record.cancelled)
        self._show_patient(patient)
        self.save_message.setStyleSheet("")
        self.save_message.setText("Saved.")
        self.patient_updated.emit(patient)

    def _on_save_failed(self, error: ClinicError) -> None:
        self.save_message.setText("")
        if isinstance(error, ValidationError) and error.field in self.field_errors:
            label = self.field_errors[error.field]
            label.setText(f"{_FIELD_LABELS[error.field]}: {error.problem}.")
            label.show()
            if error.field in self.edits:
                self.edits[error.field].setFocus()
        else:
            self._show_error(error)

    def _on_save_finished(self) -> None:
        self._saving = False
        if self.save_message.text() != "Saved.":
            self.save_button.setEnabled(True)

    def _show_error(self, error: ClinicError) -> None:
        self.save_message.setText(str(error))
        self.save_message.setStyleSheet(ERROR_TEXT_STYLE)

    def _request(self, signal: SignalInstance) -> None:
        """Emit ``signal`` (book / visit / series) with the patient and close."""
        if self._record is not None:
            signal.emit(self._record.patient)
            self.accept()

    def done(self, result: int) -> None:
        """Close; a load still running is dropped (a save already sent still commits)."""
        self._runner.discard(f"record-{id(self)}")
        super().done(result)
