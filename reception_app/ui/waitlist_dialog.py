"""The waitlist screen of a branch: entries, adding and cancelling them, and the open offers.

Top: the branch's waitlist (patient, service, doctor, window, priority, status,
age) in offer order, with "Cancel entry". Middle: "Add to waitlist" — the
shared patient picker (``pickers.PatientPicker``), service, doctor (optional), dates, local
times, priority, note. Bottom: the open offers (freed slots held for a waiting
patient) with the time left, "Accept" and "Decline", and "Offer freed slots
now" (the reminder service does the same on its own; see
``services.waitlist.process_freed_slots``). Every database call goes through
the shared :class:`~.runner.Runner`; nothing here blocks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo

from PySide6.QtCore import QDate, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError, ValidationError
from ..services import scheduling, waitlist
from ..services.dayview import BranchSummary, DayView, ServiceSummary, list_services, load_day
from ..services.scheduling import SlotOffer
from ..services.waitlist import DeclineResult, OfferView, WaitlistEntryView
from ..store.database import Database
from . import colors, local_formats
from .colors import MessageLabel
from .day_edit import DayEdit
from .pickers import PatientPicker, fill_doctors, fill_services
from .runner import Clock, Runner

ENTRY_COLUMNS = ("Patient", "Service", "Doctor", "Window", "Priority", "Status", "Waiting")
OFFER_COLUMNS = ("Patient", "Service", "Time", "With", "Time left")
_STATUS_LABELS = {"waiting": "Waiting", "offered": "Offered", "booked": "Booked", "cancelled": "Cancelled"}


def age_text(age: timedelta) -> str:
    """``"3 d"``, ``"5 h"``, ``"12 min"``: how long an entry has waited, coarsely."""
    minutes = int(age.total_seconds() // 60)
    if minutes >= 24 * 60:
        return f"{minutes // (24 * 60)} d"
    if minutes >= 60:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def time_left_text(seconds: int) -> str:
    """``"9:05"`` (minutes:seconds) or ``"expired"``."""
    if seconds <= 0:
        return "expired"
    return f"{seconds // 60}:{seconds % 60:02d}"


def _button(label: str, name: str, slot: Callable[[], None]) -> QPushButton:
    """A push button that is never the dialog's default (Enter in the form does not press it)."""
    button = QPushButton(label)
    button.setObjectName(name)
    button.setAutoDefault(False)
    button.clicked.connect(slot)
    return button


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


class WaitlistDialog(QDialog):
    """The waitlist of ``branch``: list, add and cancel entries; accept or decline open offers.

    ``clock``: the current aware time (tests pass a fixed one); ages, time left,
    expiry and the date defaults use it. ``services``: the active services if the
    caller has them (else loaded). ``tick_ms``: how often the time left is
    redrawn (0: never; tests call :meth:`update_time_left`). ``search_delay_ms``:
    debounce of the patient search.

    Signals:
        entries_loaded(int): the entry list was (re)filled (how many).
        offers_loaded(int): the offer list was (re)filled (how many).
        entry_added(object): a new entry was written: its ``WaitlistEntryView``.
        entry_cancelled(object): an entry was cancelled: its ``WaitlistEntryView``.
        offer_accepted(object): an offer was accepted (booked): its ``OfferView``.
        offer_declined(object): an offer was declined: the ``DeclineResult``.
        slots_processed(int): "Offer freed slots now" finished (how many offers it made).
        message_shown(str): an error or note was shown in the message line.
    """

    entries_loaded = Signal(int)
    offers_loaded = Signal(int)
    entry_added = Signal(object)
    entry_cancelled = Signal(object)
    offer_accepted = Signal(object)
    offer_declined = Signal(object)
    slots_processed = Signal(int)
    message_shown = Signal(str)

    def __init__(self, db: Database, runner: Runner, *, branch: BranchSummary, clock: Clock | None = None,
                 services: list[ServiceSummary] | None = None, tick_ms: int = 1000, search_delay_ms: int = 250,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._runner = runner
        self._branch = branch
        self._clock = clock or (lambda: datetime.now(UTC))
        self._services: list[ServiceSummary] = []
        self._day: DayView | None = None
        self._entries: list[WaitlistEntryView] = []
        self._offers: list[OfferView] = []
        self._adding: tuple[tuple[object, ...], uuid.UUID] | None = None
        self._keys = (f"waitlist-entries-{id(self)}", f"waitlist-offers-{id(self)}")
        self.setObjectName("waitlistDialog")
        self.setWindowTitle(f"Waitlist — {branch.name}")
        self.setAccessibleName("Waitlist")
        self.resize(980, 720)
        today = self._clock().astimezone(branch.tz).date()

        v = QVBoxLayout(self)
        # -- entries ----------------------------------------------------------------------------
        box = QGroupBox("Waiting patients")
        inner = QVBoxLayout(box)
        self.entry_table = self._table("waitlistEntries", "Waitlist entries", ENTRY_COLUMNS)
        self.entry_table.itemSelectionChanged.connect(self._update_buttons)
        inner.addWidget(self.entry_table)
        row = QHBoxLayout()
        row.addStretch(1)
        self.cancel_entry_button = _button("Cancel entry", "waitlistCancelEntry", self.cancel_selected_entry)
        row.addWidget(self.cancel_entry_button)
        inner.addLayout(row)
        v.addWidget(box, 3)

        # -- add ------------------------------------------------------------------------------------
        # The patient picker on the left, the rest of the form beside it: the lists above and below keep
        # their rows visible on a 768-pixel screen.
        add_box = QGroupBox("Add to waitlist")
        add_layout = QVBoxLayout(add_box)
        side_by_side = QHBoxLayout()
        self.picker = PatientPicker(db, runner, search_delay_ms=search_delay_ms)
        self.picker.patient_chosen.connect(lambda _p: self._update_buttons())
        # Enter on a patient found: the keyboard goes on to the service.
        self.picker.patient_confirmed.connect(self._focus_service)
        side_by_side.addWidget(self.picker, 1)
        form = QFormLayout()
        self.service_combo = QComboBox()
        self.service_combo.setObjectName("waitlistService")
        self.service_combo.setAccessibleName("Service")
        self.service_combo.currentIndexChanged.connect(lambda _i: self._fill_doctors())
        form.addRow("Service", self.service_combo)
        self.doctor_combo = QComboBox()
        self.doctor_combo.setObjectName("waitlistDoctor")
        self.doctor_combo.setAccessibleName("Doctor (optional)")
        form.addRow("Doctor", self.doctor_combo)
        dates = QHBoxLayout()
        # Day fields that Tab leaves and that refuse days before today (ui.day_edit).
        self.first_date_edit = DayEdit(today, earliest=today)
        self.last_date_edit = DayEdit(today + timedelta(days=14), earliest=today)
        for i, (edit, name) in enumerate(((self.first_date_edit, "First date"), (self.last_date_edit, "Last date"))):
            edit.setDisplayFormat(local_formats.qt_date_format(weekday=False))
            edit.setAccessibleName(name)
            if i:
                dates.addWidget(QLabel("to"))
            dates.addWidget(edit)
        dates.addStretch(1)
        self.first_date_edit.setObjectName("waitlistFirstDate")
        self.last_date_edit.setObjectName("waitlistLastDate")
        form.addRow("Dates", dates)
        times = QHBoxLayout()
        self.earliest_edit = QLineEdit("07:00")
        self.latest_edit = QLineEdit("19:00")
        for i, (time_edit, name) in enumerate(((self.earliest_edit, "Earliest start"), (self.latest_edit, "Latest end"))):
            time_edit.setAccessibleName(f"{name} ({branch.name} time)")
            time_edit.setToolTip(f"{name}, {branch.name} time (HH:MM)")
            time_edit.setPlaceholderText("HH:MM")
            time_edit.setMaximumWidth(70)
            if i:
                times.addWidget(QLabel("to"))
            times.addWidget(time_edit)
        times.addWidget(QLabel(f"({branch.name} time)"))
        times.addStretch(1)
        self.earliest_edit.setObjectName("waitlistEarliest")
        self.latest_edit.setObjectName("waitlistLatest")
        form.addRow("Times", times)
        self.priority_spin = QSpinBox()
        self.priority_spin.setObjectName("waitlistPriority")
        self.priority_spin.setAccessibleName("Priority (higher first)")
        self.priority_spin.setToolTip("Higher is offered a freed slot first; equal priorities: who waited longest")
        self.priority_spin.setRange(*waitlist.PRIORITY_RANGE)
        self.priority_spin.setMaximumWidth(90)
        form.addRow("Priority (higher first)", self.priority_spin)
        self.note_edit = QLineEdit()
        self.note_edit.setObjectName("waitlistNote")
        self.note_edit.setAccessibleName("Note")
        form.addRow("Note", self.note_edit)
        side_by_side.addLayout(form, 1)
        add_layout.addLayout(side_by_side)
        row = QHBoxLayout()
        row.addStretch(1)
        self.add_button = _button("Add to waitlist", "waitlistAdd", self.add_entry)
        row.addWidget(self.add_button)
        add_layout.addLayout(row)
        v.addWidget(add_box, 0)

        # -- offers ---------------------------------------------------------------------------------
        offer_box = QGroupBox("Open offers (held for the patient until they answer or the time runs out)")
        offer_layout = QVBoxLayout(offer_box)
        self.offer_table = self._table("waitlistOffers", "Open offers", OFFER_COLUMNS)
        self.offer_table.itemSelectionChanged.connect(self._update_buttons)
        offer_layout.addWidget(self.offer_table)
        row = QHBoxLayout()
        self.process_button = _button("Offer freed slots now", "waitlistProcess", self.process_now)
        row.addWidget(self.process_button)
        row.addStretch(1)
        self.accept_button = _button("Accept (book)", "waitlistAccept", self.accept_selected_offer)
        self.decline_button = _button("Decline", "waitlistDecline", self.decline_selected_offer)
        row.addWidget(self.accept_button)
        row.addWidget(self.decline_button)
        offer_layout.addLayout(row)
        v.addWidget(offer_box, 2)

        self.message_label = MessageLabel("waitlistMessage")
        v.addWidget(self.message_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        v.addWidget(buttons)

        self._tick = QTimer(self)
        self._tick.setInterval(tick_ms)
        self._tick.timeout.connect(self.update_time_left)
        if tick_ms > 0:
            self._tick.start()
        self._runner.run(lambda: load_day(db, branch.id, today), on_success=self._on_day_loaded,
                         on_failure=self._show_failure, label="waitlist: doctors")
        if services is None:
            self._runner.run(lambda: list_services(db), on_success=self._on_services_loaded,
                             on_failure=self._show_failure, label="list services")
        else:
            self._on_services_loaded(services)
        self.refresh()
        self._update_buttons()

    def _focus_service(self, _patient: object) -> None:
        """Enter on a patient found: the keyboard goes on to the service."""
        self.service_combo.setFocus()

    # -- public -----------------------------------------------------------------------------------
    @property
    def entries(self) -> list[WaitlistEntryView]:
        """The entries shown, in the table's order."""
        return list(self._entries)

    @property
    def offers(self) -> list[OfferView]:
        """The open offers shown, in the table's order."""
        return list(self._offers)

    def selected_entry(self) -> WaitlistEntryView | None:
        """The entry of the table's current row, or None."""
        rows = self.entry_table.selectionModel().selectedRows()
        return self._entries[rows[0].row()] if rows and rows[0].row() < len(self._entries) else None

    def selected_offer(self) -> OfferView | None:
        """The offer of the table's current row, or None."""
        rows = self.offer_table.selectionModel().selectedRows()
        return self._offers[rows[0].row()] if rows and rows[0].row() < len(self._offers) else None

    def selected_service(self) -> ServiceSummary | None:
        """The service chosen for a new entry."""
        i = self.service_combo.currentIndex()
        return self._services[i] if 0 <= i < len(self._services) else None

    def refresh(self) -> None:
        """Reload the entries and the open offers of the branch (in the background)."""
        db, branch = self._db, self._branch.id
        self._runner.run(lambda: waitlist.list_entries(db, branch=branch), on_success=self._on_entries,
                         on_failure=self._show_failure, key=self._keys[0], label="waitlist entries")
        self._runner.run(lambda: waitlist.list_offers(db, branch=branch), on_success=self._on_offers,
                         on_failure=self._show_failure, key=self._keys[1], label="waitlist offers")

    def add_entry(self) -> None:
        """Put the chosen patient on the waitlist with the form's values (in the background)."""
        patient, service = self.picker.patient, self.selected_service()
        if patient is None:
            self._show_message("Choose the patient first: search above or add a new one.")
            return
        if service is None:
            self._show_message("Choose the service.")
            return
        values = {"patient_id": patient.id, "service": service.name, "branch": self._branch.name,
                  "first_date": _pydate(self.first_date_edit.date()), "last_date": _pydate(self.last_date_edit.date()),
                  "earliest": self.earliest_edit.text().strip(), "latest": self.latest_edit.text().strip(),
                  "doctor": self.doctor_combo.currentData() or None, "priority": self.priority_spin.value(),
                  "note": self.note_edit.text()}
        attempt = tuple(values.values())
        if self._adding is None or self._adding[0] != attempt:  # a retry of the same form reuses its id
            self._adding = (attempt, uuid.uuid4())
        cid, db, now, tz = self._adding[1], self._db, self._clock(), self._branch.tz
        self.add_button.setEnabled(False)
        self.message_label.hide()
        def work() -> tuple[WaitlistEntryView, list[SlotOffer]]:
            entry = waitlist.add_entry(db, client_id=cid, now=now, **values)  # type: ignore[arg-type]
            return entry, _free_now(db, values, now, tz)
        self._runner.run(work, on_success=lambda got: self._on_added(*got), on_failure=self._on_add_failed,
                         on_finished=self._update_buttons, label="add waitlist entry")

    def cancel_selected_entry(self) -> None:
        """Take the selected entry off the waitlist (its open offer, if any, passes on)."""
        entry = self.selected_entry()
        if entry is None:
            return
        db, now = self._db, self._clock()
        self.cancel_entry_button.setEnabled(False)
        self._runner.run(lambda: waitlist.cancel_entry(db, entry.id, now=now, reason="cancelled at the desk"),
                         on_success=self._on_entry_cancelled, on_failure=self._on_change_failed,
                         on_finished=self._update_buttons, label="cancel waitlist entry")

    def accept_selected_offer(self) -> None:
        """The patient takes the selected offer: book it."""
        offer = self.selected_offer()
        if offer is None:
            return
        db, now = self._db, self._clock()
        self._set_offer_buttons(False)
        self._runner.run(lambda: waitlist.accept_offer(db, offer.id, now=now), on_success=self._on_accepted,
                         on_failure=self._on_change_failed, on_finished=self._update_buttons,
                         label="accept waitlist offer")

    def decline_selected_offer(self) -> None:
        """The patient declines the selected offer: it passes to the next waiting patient."""
        offer = self.selected_offer()
        if offer is None:
            return
        db, now = self._db, self._clock()
        self._set_offer_buttons(False)
        self._runner.run(lambda: waitlist.decline_offer(db, offer.id, now=now), on_success=self._on_declined,
                         on_failure=self._on_change_failed, on_finished=self._update_buttons,
                         label="decline waitlist offer")

    def process_now(self) -> None:
        """Offer freed slots (and pass on expired offers) now, as the reminder service does."""
        db, now = self._db, self._clock()
        self.process_button.setEnabled(False)
        self._runner.run(lambda: waitlist.process_freed_slots(db, now=now), on_success=self._on_processed,
                         on_failure=self._on_change_failed,
                         on_finished=lambda: self.process_button.setEnabled(True), label="offer freed slots")

    def update_time_left(self) -> None:
        """Redraw each open offer's time left from the clock (the timer calls this every second)."""
        now = self._clock()
        for row, offer in enumerate(self._offers):
            item = self.offer_table.item(row, OFFER_COLUMNS.index("Time left"))
            if item is not None:
                item.setText(time_left_text(offer.seconds_left(now)))
        self._update_buttons()

    # -- reactions -------------------------------------------------------------------------------
    def _on_services_loaded(self, services: list[ServiceSummary]) -> None:
        self._services = list(services)
        fill_services(self.service_combo, self._services)
        self._fill_doctors()

    def _on_day_loaded(self, day: DayView) -> None:
        self._day = day
        self._fill_doctors()

    def _fill_doctors(self) -> None:
        service = self.selected_service()
        fill_doctors(self.doctor_combo, self._day, service.needs.get("doctor") if service else None, "Any doctor")

    def _on_entries(self, entries: list[WaitlistEntryView]) -> None:
        keep = self.selected_entry()
        self._entries = list(entries)
        now = self._clock()
        tz = self._branch.tz
        self._fill(self.entry_table, [
            (e.patient, e.service, e.doctor or "Any", e.window_text_in(local_formats.current().date_text), str(e.priority),
             _STATUS_LABELS.get(e.status, e.status), age_text(e.age(now))) for e in entries],
            tooltips=[f"On the list since {local_formats.day_time(e.created_at.astimezone(tz))}"
                      + (f" — {e.note}" if e.note else "") for e in entries],
            select=next((i for i, e in enumerate(entries) if keep and e.id == keep.id), None))
        self._update_buttons()
        self.entries_loaded.emit(len(entries))

    def _on_offers(self, offers: list[OfferView]) -> None:
        keep = self.selected_offer()
        self._offers = list(offers)
        tz, now = self._branch.tz, self._clock()
        self._fill(self.offer_table, [
            (o.patient, o.service, f"{local_formats.day_time(o.start.astimezone(tz))}–{local_formats.time_text(o.end.astimezone(tz))}",
             ", ".join(o.resources[k] for k in ("doctor", "room", "equipment") if k in o.resources),
             time_left_text(o.seconds_left(now))) for o in offers],
            tooltips=[f"Held until {o.expires_at.astimezone(tz):%H:%M:%S}" for o in offers],
            select=next((i for i, o in enumerate(offers) if keep and o.id == keep.id), None))
        self._update_buttons()
        self.offers_loaded.emit(len(offers))

    def _on_added(self, entry: WaitlistEntryView, free: list[SlotOffer] | None = None) -> None:
        self._adding = None
        self.note_edit.clear()
        text = (f"{entry.patient} is on the waitlist for {entry.service} "
                f"({entry.window_text_in(local_formats.current().date_text)}).")
        if free:
            fmt, first = local_formats.current(), free[0].start.astimezone(self._branch.tz)
            text += (f" Note: {len(free)} free time{'s' if len(free) != 1 else ''} already fit{'s' if len(free) == 1 else ''}"
                     f" — the first is {fmt.day_text(first.date())} {fmt.time_text(first)}; it can be booked now.")
        self._show_message(text, error=False)
        self.entry_added.emit(entry)
        self.refresh()

    def _on_add_failed(self, error: ClinicError) -> None:
        fields = {"earliest": self.earliest_edit, "latest": self.latest_edit, "first_date": self.first_date_edit,
                  "last_date": self.last_date_edit, "priority": self.priority_spin, "note": self.note_edit,
                  "doctor": self.doctor_combo}
        self._show_message(str(error))
        if isinstance(error, ValidationError) and error.field in fields:
            fields[error.field].setFocus()

    def _on_entry_cancelled(self, entry: WaitlistEntryView) -> None:
        self.entry_cancelled.emit(entry)
        self.refresh()

    def _on_accepted(self, offer: OfferView) -> None:
        start = offer.start.astimezone(self._branch.tz)
        self._show_message(f"Booked: {offer.patient}, {offer.service} on {local_formats.day_time(start)}.", error=False)
        self.offer_accepted.emit(offer)
        self.refresh()

    def _on_declined(self, result: DeclineResult) -> None:
        nxt = result.next_offer
        self._show_message(f"Declined. Offered next to {nxt.patient}." if nxt else
                           "Declined. Nobody else on the waitlist fits this time.", error=False)
        self.offer_declined.emit(result)
        self.refresh()

    def _on_processed(self, made: list[OfferView]) -> None:
        self._show_message(f"{len(made)} new offer{'s' if len(made) != 1 else ''} made.", error=False)
        self.slots_processed.emit(len(made))
        self.refresh()

    def _on_change_failed(self, error: ClinicError) -> None:
        self._show_message(str(error))
        self.refresh()  # what changed meanwhile (another desk decided the offer, it expired …)

    def _show_failure(self, error: ClinicError) -> None:
        self._show_message(str(error))

    # -- helpers ---------------------------------------------------------------------------------------
    def _table(self, name: str, accessible: str, columns: tuple[str, ...]) -> QTableWidget:
        table = QTableWidget(0, len(columns))
        table.setObjectName(name)
        table.setAccessibleName(accessible)
        table.setHorizontalHeaderLabels(list(columns))
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().hide()
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    def _fill(self, table: QTableWidget, rows: list[tuple[str, ...]], *, tooltips: list[str],
              select: int | None) -> None:
        table.blockSignals(True)
        table.clearSelection()
        table.setRowCount(len(rows))
        for r, (values, tip) in enumerate(zip(rows, tooltips, strict=True)):
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(tip)
                table.setItem(r, c, item)
        table.blockSignals(False)
        if select is not None:
            table.selectRow(select)
        elif rows:
            table.selectRow(0)

    def _set_offer_buttons(self, enabled: bool) -> None:
        self.accept_button.setEnabled(enabled)
        self.decline_button.setEnabled(enabled)

    def _update_buttons(self) -> None:
        entry, offer = self.selected_entry(), self.selected_offer()
        self.cancel_entry_button.setEnabled(entry is not None and entry.status in ("waiting", "offered"))
        live = offer is not None and offer.seconds_left(self._clock()) > 0
        self._set_offer_buttons(live)
        self.add_button.setEnabled(self.picker.patient is not None and self.selected_service() is not None)

    def _show_message(self, text: str, *, error: bool = True) -> None:
        self.message_label.setStyleSheet(colors.ERROR_BOX_STYLE if error else "QLabel { padding: 6px; }")
        self.message_label.setText(text)
        self.message_label.show()
        self.message_shown.emit(text)

    def done(self, result: int) -> None:
        """Close; loads still running are dropped (a change already sent still happens)."""
        self._tick.stop()
        self.picker.discard()
        self._runner.discard(*self._keys)
        super().done(result)


def _free_now(db: Database, values: dict, now: datetime, tz: tzinfo) -> list[SlotOffer]:
    """The free starts that already fit a waitlist entry's ``values`` (service, branch, dates, times,
    doctor; at most :data:`FREE_LOOKAHEAD_DAYS` days of it), earliest first — a receptionist should
    know the patient could be booked at once. A failure of this look is no failure of the entry."""
    first, last = values["first_date"], values["last_date"]
    days = min((last - first).days + 1, FREE_LOOKAHEAD_DAYS)
    earliest, latest = values.get("earliest") or "00:00", values.get("latest") or "24:00"
    try:
        offers = scheduling.find_slots(db, branch=values["branch"], service=values["service"], local_date=first,
                                       days=days, doctor=values.get("doctor"), now=now,
                                       patient_id=values["patient_id"])
    except ClinicError:
        return []
    return [o for o in offers if earliest <= f"{o.start.astimezone(tz):%H:%M}" and
            f"{o.end.astimezone(tz):%H:%M}" <= latest.replace("24:00", "99:99")]


#: How many days of a waitlist entry's dates are searched for free starts that already fit it.
FREE_LOOKAHEAD_DAYS = 31
