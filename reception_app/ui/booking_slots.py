"""The booking dialog's "Appointment" box — service, day, the list of free starts and the notes
under it — and its buttons. Only display: :class:`SlotPanel` and :class:`BookingButtons` show what
the dialog (``ui.booking_dialog``) and its state (``ui.booking_model.BookingState``) give them and
never read the database. (The message line
under the form is the dialogs' shared ``colors.MessageLabel``, importable from here too.)

Free starts are listed with their local times on the branch's wall clock (with the UTC offset on a
day the clocks change) and the resource of each kind the service books; the columns of kinds the
service does not book are hidden.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from html import escape
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.slots import KINDS
from ..services.dayview import ServiceSummary, local_time_text
from ..services.scheduling import DESK_NOTE_MAX, SlotOffer
from . import local_formats
from .booking_model import NEXT_FREE_DAYS, BookingState, offer_cells, offer_tooltip
from .colors import MessageLabel
from .day_edit import DayEdit
from .roster_dialog import pydate, qdate

__all__ = ["BookingButtons", "MessageLabel", "SlotPanel"]


class SlotPanel(QGroupBox):
    """Service picker (``service_combo``), day (``date_edit``) and pin note (``pin_label``), the free
    starts (``slot_tree``: each item holds its ``SlotOffer`` in ``UserRole``), the status line
    (``slot_status``) with the "Show <next free day>" button (``next_free_button``), the patient's
    other appointments that day (``patient_day_label``) and the service's terms (``terms_label``).

    ``local_date``: the branch-local day shown first; ``earliest``: the first day that may be chosen
    (the branch's today for a booking; ``None``: any). Signals: only the widgets' own (the dialog
    connects to them).
    """

    def __init__(self, local_date: date, *, earliest: date | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Appointment", parent)
        v = QVBoxLayout(self)
        form = QFormLayout()
        self.service_combo = QComboBox()
        self.service_combo.setObjectName("serviceCombo")
        form.addRow("Service", self.service_combo)
        date_row = QHBoxLayout()
        # Tab leaves it, Up/Down are a day, days before ``earliest`` can't be chosen (ui.day_edit).
        self.date_edit = DayEdit(local_date, earliest=earliest)
        self.date_edit.setObjectName("dateEdit")
        self.date_edit.setAccessibleName("Day")
        self.date_edit.setDisplayFormat(local_formats.qt_date_format())
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
        v.addWidget(self.slot_tree, 1)
        # Who "(+1 more)" stands for: the free alternatives of the selected start, kind by kind.
        self.choice_row = QWidget()
        self.choice_row.setObjectName("resourceChoices")
        choices = QHBoxLayout(self.choice_row)
        choices.setContentsMargins(0, 0, 0, 0)
        choices.addWidget(QLabel("With"))
        #: kind → the combo of the selected start's free resources of that kind (hidden: no choice).
        self.choice_combos: dict[str, QComboBox] = {}
        for kind in KINDS:
            combo = QComboBox()
            combo.setObjectName(f"{kind}Choice")
            combo.setAccessibleName(f"The {kind} for this time")
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            self.choice_combos[kind] = combo
            choices.addWidget(combo)
        choices.addStretch(1)
        self.choice_row.hide()
        v.addWidget(self.choice_row)
        status_row = QHBoxLayout()
        self.slot_status = QLabel()
        self.slot_status.setObjectName("slotStatus")
        self.slot_status.setStyleSheet("color: #4a5563;")
        self.slot_status.setWordWrap(True)
        status_row.addWidget(self.slot_status, 1)
        self.next_free_button = QPushButton()
        self.next_free_button.setObjectName("nextFreeButton")
        self.next_free_button.setAccessibleDescription("Sets the day to the next day with free time")
        # Enter on it (when the keyboard is there) shows that day; elsewhere Enter still means Book.
        self.next_free_button.setAutoDefault(True)
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
        note_row = QFormLayout()
        self.note_edit = QLineEdit()
        self.note_edit.setObjectName("deskNote")
        self.note_edit.setAccessibleName("Note for the desk")
        self.note_edit.setPlaceholderText("optional, e.g. bring last year's X-ray")
        self.note_edit.setMaxLength(DESK_NOTE_MAX)
        note_row.addRow("Note for the desk", self.note_edit)
        v.addLayout(note_row)


    # -- reading -------------------------------------------------------------------------------
    @property
    def local_date(self) -> date:
        """The branch-local day shown."""
        return pydate(self.date_edit.date())

    def set_local_date(self, day: date) -> None:
        """Show ``day`` (the date edit's ``dateChanged`` follows)."""
        self.date_edit.setDate(qdate(day))

    def day_text(self, day: date | None = None) -> str:
        """``"Monday 4 January"``: ``day`` (default: the day shown) as the status line names it."""
        return (self.date_edit.date() if day is None else qdate(day)).toString("dddd d MMMM")

    def selected_offer(self) -> SlotOffer | None:
        """The free start selected in the list, with the resources chosen in the "With" row (the
        first free one of each kind unless another was chosen)."""
        item = self.slot_tree.currentItem()
        offer: SlotOffer | None = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if offer is None:
            return None
        chosen = {kind: combo.currentData() for kind, combo in self.choice_combos.items() if not combo.isHidden()}
        picked = {kind: value for kind, value in chosen.items() if value and kind in offer.resources
                  and value != (offer.resource_ids.get(kind), offer.resources[kind])}
        if not picked:
            return offer
        return replace(offer, resources={**offer.resources, **{k: v[1] for k, v in picked.items()}},
                       resource_ids={**offer.resource_ids, **{k: v[0] for k, v in picked.items()}})

    def show_choices(self, offer: SlotOffer | None) -> None:
        """Fill the "With" row for ``offer``: a combo for each kind it has more than one free resource
        of (the first free one selected); the row hides when there is nothing to choose."""
        any_choice = False
        for kind, combo in self.choice_combos.items():
            combo.blockSignals(True)
            combo.clear()
            options = list(offer.choices.get(kind, ())) if offer is not None else []
            if offer is not None and len(options) > 1 and kind in offer.resources:
                for rid, name in options:
                    combo.addItem(name, (rid, name))
                current = next((i for i, (rid, _n) in enumerate(options) if rid == offer.resource_ids.get(kind)), 0)
                combo.setCurrentIndex(current)
                combo.setHidden(False)
                any_choice = True
            else:
                combo.setHidden(True)
            combo.blockSignals(False)
        self.choice_row.setVisible(any_choice)

    # -- showing ---------------------------------------------------------------------------------
    def set_services(self, services: list[ServiceSummary], current: int) -> None:
        """Fill the service picker (``"Name  (30 min)"``) and select ``current``, without signals."""
        self.service_combo.blockSignals(True)
        self.service_combo.clear()
        for s in services:
            self.service_combo.addItem(f"{s.name}  ({s.duration_min} min)")
        self.service_combo.setCurrentIndex(current)
        self.service_combo.blockSignals(False)

    def show_pin(self, name: str, applies: bool) -> None:
        """Say whether the search is restricted to the pinned resource ``name``."""
        self.pin_label.setText(f"only with <b>{escape(name)}</b>" if applies
                               else f"<i>{escape(name)} does not do this service</i>")

    def show_offers(self, offers: list[SlotOffer], needs: dict[str, str], tz: ZoneInfo, *, with_offset: bool,
                    previous: SlotOffer | None, start_hint: datetime | None) -> None:
        """List ``offers`` (without signals), showing the columns of the kinds in ``needs``; the
        offer with ``previous``'s start and resources stays selected, else (nothing selected
        before) the first one starting at ``start_hint``."""
        self.slot_tree.blockSignals(True)
        self.slot_tree.clear()
        for column, kind in enumerate(KINDS, start=1):
            self.slot_tree.setColumnHidden(column, kind not in needs)
        keep: QTreeWidgetItem | None = None
        for offer in offers:
            item = QTreeWidgetItem(offer_cells(offer, tz, with_offset=with_offset))
            item.setData(0, Qt.ItemDataRole.UserRole, offer)
            item.setToolTip(0, offer_tooltip(offer))
            self.slot_tree.addTopLevelItem(item)
            same_as_before = previous is not None and (offer.start, offer.resources) == (previous.start,
                                                                                          previous.resources)
            hinted = previous is None and keep is None and offer.start == start_hint
            if same_as_before or hinted:
                keep = item
        if keep is not None:
            self.slot_tree.setCurrentItem(keep)
            self.slot_tree.scrollToItem(keep)
        self.slot_tree.blockSignals(False)

    def show_next_free(self, first: SlotOffer | None, tz: ZoneInfo) -> date | None:
        """After a day without free time: name the first free start found in the next
        ``NEXT_FREE_DAYS`` days and show the button to its day; return that local day (``None``
        when there is none)."""
        when = self.day_text()
        if first is None:
            self.slot_status.setText(f"No free time on {when}. No free time in the next {NEXT_FREE_DAYS} days.")
            return None
        local = first.start.astimezone(tz)
        day_text = self.day_text(local.date())
        self.slot_status.setText(f"No free time on {when}. Next free: {day_text} {local_time_text(first.start, tz)}")
        self.next_free_button.setText(f"Show {day_text}")
        self.next_free_button.setAccessibleName(f"Show {day_text}")
        self.next_free_button.show()
        return local.date()

    def show_patient_day(self, text: str) -> None:
        """The note about the patient's other appointments that day (hidden when ``text`` is empty)."""
        self.patient_day_label.setText(text)
        self.patient_day_label.setVisible(bool(text))


class BookingButtons(QDialogButtonBox):
    """Cancel, Book (``book_button``: the default, so Enter books) and "Hold slot" (``hold_button``:
    not a default, Enter still means Book). :meth:`show_state` enables them and sets their words
    from the dialog's ``BookingState``; the dialog connects ``accepted``, ``rejected`` and the hold
    button's ``clicked``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(QDialogButtonBox.StandardButton.Cancel, parent)
        self.book_button = self.addButton("Book", QDialogButtonBox.ButtonRole.AcceptRole)
        self.book_button.setObjectName("bookButton")
        self.book_button.setDefault(True)
        self.hold_button = self.addButton("Hold slot", QDialogButtonBox.ButtonRole.ActionRole)
        self.hold_button.setObjectName("holdButton")
        self.hold_button.setAutoDefault(False)
        self.set_hold_minutes(None)

    def set_hold_minutes(self, minutes: int | None) -> None:
        """The hold button's tooltip: for how long a hold keeps the time (``None``: not known yet)."""
        how_long = f"{minutes} minutes" if minutes is not None else "a few minutes"
        self.hold_button.setToolTip(f"Keep this time for the patient on the phone for {how_long}")

    def show_state(self, state: BookingState, offer: SlotOffer | None, *, offline: bool) -> None:
        """Enable Book and the hold button as ``state`` allows with ``offer`` selected (``offline``:
        the connection is down) and give them the state's words ("Confirm hold", "Close")."""
        self.book_button.setEnabled(state.can_book(offer, offline=offline))
        self.hold_button.setEnabled(state.can_hold(offer, offline=offline))
        self.hold_button.setText(state.hold_text)
        self.button(QDialogButtonBox.StandardButton.Cancel).setText(state.cancel_text)
