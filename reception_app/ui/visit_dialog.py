"""The visit dialog: several appointments of one patient booked together, all or nothing.

Pick a service and a day, choose one of the free starts (``scheduling.find_slots``)
and add it as a part; repeat (a consultation, a lab test, a follow-up); "Book
visit" books every part in one transaction (``visits.book_visit``). If any part
cannot be booked nothing is written and the message names the part. The
dialog's client id stays the same across attempts, so pressing "Book visit"
again after a lost connection never books the visit twice. Every database
call goes through the shared :class:`~.runner.Runner`; times show on the
branch's wall clock.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError
from ..services import scheduling, visits
from ..services.dayview import ServiceSummary, list_services
from ..services.scheduling import SlotOffer
from ..services.visits import VisitPart, VisitView
from ..store.database import Database
from . import local_formats
from .colors import MessageLabel
from .runner import Clock, Runner


class PatientBookingDialog(QDialog):
    """What the visit and series dialogs share: one patient at one branch, a service picker filled in
    the background, a status line and a message box, and a client id made once per dialog (a retry
    after an unknown outcome books once).

    Subclasses build their form around :attr:`service_combo`, call :meth:`_add_status_area` and
    override :meth:`_after_services`.

    Signals:
        services_loaded(int): the service list arrived (how many).
    """

    services_loaded = Signal(int)

    def __init__(self, db: Database, runner: Runner, *, branch: str, timezone: str, patient_id: int,
                 object_name: str, title: str, clock: Clock | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db, self._runner = db, runner
        self._branch, self._tz = branch, ZoneInfo(timezone)
        self._patient_id = patient_id
        self._clock = clock or (lambda: datetime.now(UTC))
        self._client_id = uuid.uuid4()
        self._busy = False
        self._key = f"{object_name}-{id(self)}"
        self.setObjectName(object_name)
        self.setWindowTitle(title)
        self.setAccessibleName(title.split(" — ")[0])
        self.setModal(True)
        self.service_combo = QComboBox()
        self.service_combo.setObjectName(f"{object_name}Service")
        self.service_combo.setAccessibleName("Service")
        self.status_label = QLabel()
        self.status_label.setObjectName(f"{object_name}Status")
        self.status_label.setWordWrap(True)
        self.message_label = MessageLabel(f"{object_name}Message")

    def _add_status_area(self, layout: QVBoxLayout) -> None:
        layout.addWidget(self.status_label)
        layout.addWidget(self.message_label)

    def _load_services(self) -> None:
        db = self._db
        self._runner.run(lambda: list_services(db), on_success=self._on_services, on_failure=self._on_failed,
                         key=self._key + "-services", label=f"services ({self.objectName()})")

    def _on_services(self, services: list[ServiceSummary]) -> None:
        self.service_combo.blockSignals(True)
        self.service_combo.clear()
        for s in services:
            self.service_combo.addItem(s.name, s)
        self.service_combo.blockSignals(False)
        self.services_loaded.emit(len(services))
        self._after_services()

    def _after_services(self) -> None:
        """Called once the services are listed (the first one is current)."""

    def _on_failed(self, error: ClinicError) -> None:
        self._show_message(str(error))

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.show()

    def _discard(self, *suffixes: str) -> None:
        self._runner.discard(*(self._key + suffix for suffix in ("-services", *suffixes)))


class VisitDialog(PatientBookingDialog):
    """Build and book a visit for ``patient_id`` at ``branch`` (IANA ``timezone``).

    ``day``: the day first searched (default: today at the branch). ``clock``:
    the current aware time (tests pass a fixed one).

    Signals (and ``services_loaded`` of :class:`PatientBookingDialog`):
        slots_listed(int): the free starts of the chosen service and day were listed (how many).
        visit_booked(object): the visit committed: its ``VisitView`` (the dialog closes).
    """

    slots_listed = Signal(int)
    visit_booked = Signal(object)

    def __init__(self, db: Database, runner: Runner, *, branch: str, timezone: str, patient_id: int,
                 patient_name: str, day: date | None = None, clock: Clock | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(db, runner, branch=branch, timezone=timezone, patient_id=patient_id,
                         object_name="visitDialog", title=f"Book a visit — {patient_name}", clock=clock, parent=parent)
        self._parts: list[VisitPart] = []
        self.resize(720, 560)

        v = QVBoxLayout(self)
        form = QFormLayout()
        self.service_combo.currentIndexChanged.connect(self._on_search_changed)
        form.addRow("&Service", self.service_combo)
        first = day or self._clock().astimezone(self._tz).date()
        self.date_edit = QDateEdit(QDate(first.year, first.month, first.day))
        self.date_edit.setObjectName("visitDay")
        self.date_edit.setAccessibleName("Day")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat(local_formats.qt_date_format())  # as the parts' days below
        self.date_edit.dateChanged.connect(self._on_search_changed)
        form.addRow("&Day", self.date_edit)
        v.addLayout(form)

        v.addWidget(QLabel("Free starts:"))
        self.slot_list = QListWidget()
        self.slot_list.setObjectName("visitSlots")
        self.slot_list.setAccessibleName("Free starts")
        self.slot_list.itemActivated.connect(lambda _item: self.add_selected())
        self.slot_list.currentItemChanged.connect(self._on_selection_changed)
        v.addWidget(self.slot_list, 1)
        row = QHBoxLayout()
        self.add_button = QPushButton("&Add to visit")
        self.add_button.setObjectName("visitAddPart")
        self.add_button.clicked.connect(self.add_selected)
        self.remove_button = QPushButton("&Remove part")
        self.remove_button.setObjectName("visitRemovePart")
        self.remove_button.clicked.connect(self.remove_selected)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        v.addLayout(row)

        v.addWidget(QLabel("Parts of the visit:"))
        self.part_tree = QTreeWidget()
        self.part_tree.setObjectName("visitParts")
        self.part_tree.setAccessibleName("Parts of the visit")
        self.part_tree.setHeaderLabels(["Service", "Day", "Time", "Doctor", "Room", "Equipment"])
        self.part_tree.setRootIsDecorated(False)
        self.part_tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.part_tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.part_tree.currentItemChanged.connect(self._on_selection_changed)
        v.addWidget(self.part_tree, 1)

        self._add_status_area(v)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.book_button = self.buttons.addButton("&Book visit", QDialogButtonBox.ButtonRole.AcceptRole)
        self.book_button.setObjectName("visitBook")
        self.book_button.clicked.connect(self.book)
        self.buttons.rejected.connect(self.reject)
        v.addWidget(self.buttons)
        self._update_buttons()
        self._load_services()

    # -- public --------------------------------------------------------------------------------
    @property
    def parts(self) -> list[VisitPart]:
        """The parts added so far, in the order added."""
        return list(self._parts)

    def selected_slot(self) -> SlotOffer | None:
        """The free start selected, or None."""
        item = self.slot_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def search(self) -> None:
        """List the free starts of the chosen service on the chosen day (in the background)."""
        service = self.service_combo.currentText()
        if not service:
            return
        d = self.date_edit.date()
        day = date(d.year(), d.month(), d.day())
        db, branch, now = self._db, self._branch, self._clock()
        self.status_label.setText("Looking for free times…")
        self._runner.run(lambda: scheduling.find_slots(db, branch=branch, service=service, local_date=day, now=now),
                         on_success=self._on_slots, on_failure=self._on_slots_failed, key=self._key + "-slots",
                         label="free starts for a visit")

    def add_selected(self) -> None:
        """Add the selected free start as a part (its doctor, room and equipment pinned)."""
        offer = self.selected_slot()
        if offer is None:
            return
        part = VisitPart(self.service_combo.currentText(), offer.start, doctor=offer.resources.get("doctor"),
                         room=offer.resources.get("room"), equipment=offer.resources.get("equipment"))
        # Listed (and booked, and numbered in messages) in the order of their starts.
        index = next((i for i, p in enumerate(self._parts) if p.start > part.start), len(self._parts))
        self._parts.insert(index, part)
        local, end = offer.start.astimezone(self._tz), offer.end.astimezone(self._tz)
        item = QTreeWidgetItem([part.service, local_formats.day(local.date()), local_formats.time_text(local), part.doctor or "",
                                part.room or "", part.equipment or ""])
        item.setToolTip(2, f"{local:%H:%M}–{end:%H:%M} ({self._branch} time)")
        self.part_tree.insertTopLevelItem(index, item)
        self.part_tree.setCurrentItem(item)
        self.message_label.hide()
        self._update_buttons()

    def remove_selected(self) -> None:
        """Remove the selected part."""
        item = self.part_tree.currentItem()
        if item is None:
            return
        index = self.part_tree.indexOfTopLevelItem(item)
        self.part_tree.takeTopLevelItem(index)
        del self._parts[index]
        self._update_buttons()

    def book(self) -> None:
        """Book every part together (in the background); the dialog closes on success."""
        if not self._parts or self._busy:
            return
        db, branch, patient_id, parts, cid, now = (self._db, self._branch, self._patient_id, list(self._parts),
                                                   self._client_id, self._clock())
        self._busy = True
        self._update_buttons()
        self.message_label.hide()
        self.status_label.setText("Booking the visit…")
        self._runner.run(lambda: visits.book_visit(db, branch=branch, patient_id=patient_id, parts=parts,
                                                   client_id=cid, now=now),
                         on_success=self._on_booked, on_failure=self._on_book_failed,
                         on_finished=self._on_book_finished, label="book a visit")

    # -- reactions ---------------------------------------------------------------------------------
    def _after_services(self) -> None:
        self.search()

    def _on_search_changed(self, *_args: object) -> None:
        self.search()

    def _on_slots(self, offers: list[SlotOffer]) -> None:
        self.slot_list.clear()
        for offer in offers:
            local, end = offer.start.astimezone(self._tz), offer.end.astimezone(self._tz)
            who = ", ".join(offer.resources.values())
            item = QListWidgetItem(f"{local:%H:%M}–{end:%H:%M}  {who}")
            item.setData(Qt.ItemDataRole.UserRole, offer)
            self.slot_list.addItem(item)
        if offers:
            self.slot_list.setCurrentRow(0)
        n = len(offers)
        self.status_label.setText(f"{n} free start{'s' if n != 1 else ''} ({self._branch} time)." if offers
                                  else "No free start that day.")
        self._update_buttons()
        self.slots_listed.emit(len(offers))

    def _on_slots_failed(self, error: ClinicError) -> None:
        self.slot_list.clear()
        self.status_label.setText("")
        self._show_message(str(error))
        self._update_buttons()
        self.slots_listed.emit(0)

    def _on_selection_changed(self, *_args: object) -> None:
        self._update_buttons()

    def _on_booked(self, view: VisitView) -> None:
        self.visit_booked.emit(view)
        self.accept()

    def _on_book_failed(self, error: ClinicError) -> None:
        self.status_label.setText("")
        self._show_message(str(error))
        self.search()

    def _on_book_finished(self) -> None:
        self._busy = False
        self._update_buttons()

    def _update_buttons(self) -> None:
        idle = not self._busy
        self.add_button.setEnabled(idle and self.selected_slot() is not None)
        self.remove_button.setEnabled(idle and self.part_tree.currentItem() is not None)
        self.book_button.setEnabled(idle and bool(self._parts))

    def done(self, result: int) -> None:
        """Close; searches still running are dropped (a booking already sent still reports its outcome)."""
        self._discard("-slots")
        super().done(result)
