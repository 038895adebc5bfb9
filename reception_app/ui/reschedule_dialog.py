"""The reschedule dialog: the next free starts for an appointment, pick one, rebook it there.

The list comes from ``scheduling.next_free_starts`` (same service and branch,
the appointment's own bookings not in the way, its doctor kept where free);
the change itself is ``scheduling.reschedule`` with the offered resources
pinned: a NEW appointment at the chosen time, and the old one marked
``rescheduled`` and linked to it (issue 4, so reports tell rescheduled from
lost), in one transaction with a client id made once per dialog (a retry after
a lost connection never rebooks twice). Dragging a block on the grid is the
in-place correction (``scheduling.move``). The database decides: a start another workstation took meanwhile gives
``SlotTaken``, whose message is shown while the list is refreshed. Every
database call goes through the shared :class:`~.runner.Runner`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from html import escape
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError, SlotTaken
from ..domain.slots import KINDS
from ..domain.status import LABELS
from ..services import scheduling
from ..services.scheduling import AppointmentView, MoveResult, SlotOffer
from ..store.database import Database
from . import local_formats
from .colors import MessageLabel
from .runner import Clock, Runner

#: How many free starts the list shows.
OFFER_COUNT = 8




def _as_move(result: scheduling.RescheduleResult) -> MoveResult:
    """A reschedule reported as the move the window shows: ``before`` the old appointment (now
    ``rescheduled``), ``after`` the new one."""
    return MoveResult(before=result.old, after=result.new)

class RescheduleDialog(QDialog):
    """Move ``appointment`` to one of the next free starts.

    ``timezone``: the branch's IANA zone (times are shown on its wall clock).
    ``clock``: the current aware time (tests pass a fixed one). Only
    appointments in ``scheduling.MOVABLE_STATUSES`` can move; for others the
    dialog says so and offers nothing.

    Keys: the list has the focus; arrows choose, Enter (or double-click, or
    "Move") moves; Esc closes.

    Signals:
        offers_listed(int): the list of free starts was (re)loaded: how many.
        appointment_moved(object): the move committed: its ``MoveResult``
            (the dialog closes).
        slot_taken(str): the start was taken by another workstation first: the
            message shown (the list is refreshed; the grid behind should reload).
    """

    offers_listed = Signal(int)
    appointment_moved = Signal(object)
    slot_taken = Signal(str)

    def __init__(self, db: Database, runner: Runner, *, appointment: AppointmentView, timezone: str,
                 clock: Clock | None = None, from_local_date: date | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._runner = runner
        self._appointment = appointment
        self._tz = ZoneInfo(timezone)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._offers: list[SlotOffer] = []
        self._moving = False
        self._client_id = uuid.uuid4()  # one per dialog: a retried reschedule is never booked twice
        self._key = f"reschedule-{id(self)}"
        self.setObjectName("rescheduleDialog")
        self.setWindowTitle(f"Reschedule — {appointment.patient}")
        self.setAccessibleName("Reschedule appointment")
        self.setModal(True)
        self.resize(640, 460)

        v = QVBoxLayout(self)
        local = appointment.start.astimezone(self._tz)
        self.about_label = QLabel(
            f"<b>{escape(appointment.patient)}</b> — {escape(appointment.service)}, now "
            f"{local_formats.day_time(local)} with {escape(appointment.resources.get('doctor', 'no doctor'))}")
        self.about_label.setObjectName("rescheduleAbout")
        self.about_label.setWordWrap(True)
        v.addWidget(self.about_label)

        form = QFormLayout()
        today = self._clock().astimezone(self._tz).date()
        start_day = from_local_date or today
        self.date_edit = QDateEdit(QDate(start_day.year, start_day.month, start_day.day))
        self.date_edit.setObjectName("rescheduleFrom")
        self.date_edit.setAccessibleName("Search from day")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat(local_formats.qt_date_format())
        self.date_edit.setMinimumDate(QDate(today.year, today.month, today.day))
        self.date_edit.dateChanged.connect(self._on_date_changed)
        form.addRow("Search from", self.date_edit)
        self.same_doctor_box = QCheckBox(f"Keep the same doctor ({appointment.resources['doctor']})"
                                         if "doctor" in appointment.resources else "Keep the same doctor")
        self.same_doctor_box.setObjectName("sameDoctor")
        self.same_doctor_box.setAccessibleName("Keep the same doctor")
        self.same_doctor_box.setEnabled("doctor" in appointment.resources)
        self.same_doctor_box.toggled.connect(self._on_same_doctor_toggled)
        form.addRow("", self.same_doctor_box)
        v.addLayout(form)

        self.offer_tree = QTreeWidget()
        self.offer_tree.setObjectName("rescheduleOffers")
        self.offer_tree.setAccessibleName("Free starts")
        self.offer_tree.setHeaderLabels(["Day", "Time", "Doctor", "Room", "Equipment"])
        self.offer_tree.setRootIsDecorated(False)
        self.offer_tree.setUniformRowHeights(True)
        self.offer_tree.setAlternatingRowColors(True)
        self.offer_tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.offer_tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.offer_tree.header().setStretchLastSection(True)
        for column, kind in enumerate(KINDS, start=2):
            self.offer_tree.setColumnHidden(column, kind not in appointment.resources)
        self.offer_tree.itemActivated.connect(self._on_offer_activated)
        self.offer_tree.currentItemChanged.connect(self._on_offer_current_changed)
        v.addWidget(self.offer_tree, 1)

        self.status_label = QLabel()
        self.status_label.setObjectName("rescheduleStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet("color: #4a5563;")
        v.addWidget(self.status_label)
        self.message_label = MessageLabel("rescheduleMessage")
        v.addWidget(self.message_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.move_button = self.buttons.addButton("Move", QDialogButtonBox.ButtonRole.AcceptRole)
        self.move_button.setObjectName("moveButton")
        self.buttons.accepted.connect(self.move_selected)
        self.buttons.rejected.connect(self.reject)
        v.addWidget(self.buttons)
        self.move_button.setDefault(True)  # after the box is in the dialog, or the dialog does not know it

        if appointment.status not in scheduling.MOVABLE_STATUSES:
            self._show_message(f"This appointment is {LABELS.get(appointment.status, appointment.status).lower()}"
                               " and cannot be moved.")
            for w in (self.date_edit, self.same_doctor_box, self.offer_tree):
                w.setEnabled(False)
        else:
            self.refresh()
        self._update_move_button()
        self.offer_tree.setFocus()

    # -- public --------------------------------------------------------------------------------
    @property
    def offers(self) -> list[SlotOffer]:
        """The free starts listed, in list order."""
        return list(self._offers)

    def selected_offer(self) -> SlotOffer | None:
        """The start selected in the list, or None."""
        item = self.offer_tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    @property
    def from_local_date(self) -> date:
        """The branch-local day the search starts from."""
        d = self.date_edit.date()
        return date(d.year(), d.month(), d.day())

    def refresh(self) -> None:
        """Reload the next free starts in the background."""
        db, appointment_id, now = self._db, self._appointment.id, self._clock()
        first, same = self.from_local_date, self.same_doctor_box.isChecked()
        self.status_label.setText("Looking for free times…")
        self._runner.run(
            lambda: scheduling.next_free_starts(db, appointment_id, now=now, count=OFFER_COUNT,
                                                from_local_date=first, same_doctor=same),
            on_success=self._on_offers_found, on_failure=self._on_offers_failed, key=self._key,
            label="next free starts")

    def move_selected(self) -> None:
        """Move the appointment to the selected start (in the background); Enter and "Move" do this."""
        offer = self.selected_offer()
        if offer is None or self._moving:
            if offer is None:
                self._show_message("Choose a free time from the list.")
            return
        db, appointment_id, now = self._db, self._appointment.id, self._clock()
        pins = {kind: offer.resources[kind] for kind in KINDS if kind in offer.resources}
        self._moving = True
        self._update_move_button()
        self.message_label.hide()
        self.status_label.setText("Moving…")
        cid = self._client_id
        self._runner.run(
            lambda: _as_move(scheduling.reschedule(db, appointment_id, start=offer.start, now=now, client_id=cid,
                                                   reason="rescheduled at the front desk", **pins)),
            on_success=self._on_moved, on_failure=self._on_move_failed, on_finished=self._on_move_finished,
            label="reschedule")

    # -- reactions ---------------------------------------------------------------------------------
    def _on_date_changed(self, _date: QDate) -> None:
        self.refresh()

    def _on_same_doctor_toggled(self, _checked: bool) -> None:
        self.refresh()

    def _on_offers_found(self, offers: list[SlotOffer]) -> None:
        previous = self.selected_offer()
        self._offers = list(offers)
        self.offer_tree.clear()
        keep: QTreeWidgetItem | None = None
        for offer in self._offers:
            local, end = offer.start.astimezone(self._tz), offer.end.astimezone(self._tz)
            cells = [local_formats.day(local.date()), f"{local_formats.time_text(local)}–{local_formats.time_text(end)}"]
            cells += [offer.resources.get(kind, "") for kind in KINDS]
            item = QTreeWidgetItem(cells)
            item.setData(0, Qt.ItemDataRole.UserRole, offer)
            item.setToolTip(0, f"{local:%A %d %B %Y %H:%M} ({self._tz.key})")
            self.offer_tree.addTopLevelItem(item)
            if previous is not None and (offer.start, offer.resources) == (previous.start, previous.resources):
                keep = item
        first = keep or self.offer_tree.topLevelItem(0)
        if first is not None:
            self.offer_tree.setCurrentItem(first)
        if self._offers:
            n = len(self._offers)
            self.status_label.setText(f"The next {n} free start{'s' if n != 1 else ''} "
                                      f"(times in {self._tz.key}). Enter moves to the one selected.")
        else:
            self.status_label.setText("No free time until the end of the service's booking horizon.")
        self._update_move_button()
        self.offers_listed.emit(len(self._offers))

    def _on_offers_failed(self, error: ClinicError) -> None:
        self._offers = []
        self.offer_tree.clear()
        self.status_label.setText("")
        self._show_message(str(error))
        self._update_move_button()
        self.offers_listed.emit(0)

    def _on_offer_activated(self, _item: QTreeWidgetItem, _column: int) -> None:
        self.move_selected()

    def _on_offer_current_changed(self, _current: object, _previous: object) -> None:
        self._update_move_button()

    def _on_moved(self, result: MoveResult) -> None:
        self.appointment_moved.emit(result)
        self.accept()

    def _on_move_failed(self, error: ClinicError) -> None:
        if isinstance(error, SlotTaken):
            self._show_message(f"{error} The list of free times has been refreshed; please pick another.")
            self.refresh()
            self.slot_taken.emit(str(error))
        else:
            self._show_message(str(error))
            self.status_label.setText("")

    def _on_move_finished(self) -> None:
        self._moving = False
        self._update_move_button()

    def _update_move_button(self) -> None:
        self.move_button.setEnabled(self.selected_offer() is not None and not self._moving)

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.show()

    def done(self, result: int) -> None:
        """Close; a search still running is dropped (a move already sent still reports its outcome)."""
        self._runner.discard(self._key)
        super().done(result)


