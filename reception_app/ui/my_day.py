"""The doctor's "my day" panel (for a dock): the day's patients, who is waiting and for how long, who is next.

It shows a :class:`~reception_app.services.my_day.MyDay` given to
:meth:`MyDayPanel.set_day` (the window loads it through the Runner); it never
calls the database. The waiting minutes tick every ``tick_ms`` (30 s) from each
row's check-in time and the panel's clock, without a reload. Status changes
are asked for by signals; the window runs them (and reloads the day).
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from zoneinfo import ZoneInfo

from PySide6.QtCore import QMargins, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.status import LABELS, TRANSITIONS
from ..services.my_day import MyDay, MyDayRow
from . import local_formats
from .runner import Clock

#: How often the waiting minutes are recomputed (milliseconds).
TICK_MS = 30_000

#: Columns of the list: what a doctor looks at first (who, and who is waiting how long) on the left,
#: in sight at the dock's default width; the rest scroll into view.
COLUMNS = ("Time", "Patient", "Status", "Waiting", "Service", "Room", "Checked in", "Visit")
WAITING_COLUMN = COLUMNS.index("Waiting")
PATIENT_COLUMN = COLUMNS.index("Patient")
#: The columns kept in sight, and the width (in digits) the patient's name gets (longer ones elide).
VISIBLE_COLUMNS = ("Time", "Patient", "Status", "Waiting")
PATIENT_CHARS = 16

#: The row actions: key, button text, target status.
ROW_ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("check_in", "Check in", "checked_in"),
    ("start", "Start", "in_progress"),
    ("complete", "Complete", "completed"),
    ("no_show", "No-show", "no_show"),
)

_NEXT_FILL = QColor("#fff4ce")


def _waiting_text(minutes: int | None) -> str:
    if minutes is None:
        return ""
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class MyDayPanel(QWidget):
    """One doctor's day as a list, the next patient highlighted, and the row actions.

    ``clock``: the current aware time (tests pass a fixed or stepping one).
    ``tick_ms``: period of the waiting-time refresh (0 = none; :meth:`tick` does it by hand).

    Keys: the list takes the focus; Enter on a row asks for its first allowed
    action (check in a confirmed patient, start a checked-in one, complete one in
    progress); the buttons under the list do each action.

    Signals:
        check_in_requested(object): check in this ``MyDayRow``.
        start_requested(object): start this ``MyDayRow``.
        complete_requested(object): complete this ``MyDayRow``.
        no_show_requested(object): mark this ``MyDayRow`` a no-show.
        day_shown(object): :meth:`set_day` has shown a ``MyDay``.
    """

    check_in_requested = Signal(object)
    start_requested = Signal(object)
    complete_requested = Signal(object)
    no_show_requested = Signal(object)
    day_shown = Signal(object)

    def __init__(self, *, clock: Clock | None = None, tick_ms: int = TICK_MS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._day: MyDay | None = None
        self.setObjectName("myDayPanel")
        self.setAccessibleName("My day")

        v = QVBoxLayout(self)
        v.setContentsMargins(6, 6, 6, 6)
        self.title_label = QLabel("My day")
        self.title_label.setObjectName("myDayTitle")
        self.title_label.setStyleSheet("font-weight: 600;")
        v.addWidget(self.title_label)
        self.counts_label = QLabel()
        self.counts_label.setObjectName("myDayCounts")
        self.counts_label.setAccessibleName("Day counts")
        v.addWidget(self.counts_label)
        self.next_label = QLabel()
        self.next_label.setObjectName("myDayNext")
        self.next_label.setAccessibleName("Next patient")
        self.next_label.setWordWrap(True)
        self.next_label.setStyleSheet("QLabel { background: #fff4ce; border: 1px solid #e8d48b; "
                                      "border-radius: 4px; padding: 4px; }")
        v.addWidget(self.next_label)

        self.tree = QTreeWidget()
        self.tree.setObjectName("myDayList")
        self.tree.setAccessibleName("Appointments of the day")
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PATIENT_COLUMN, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(PATIENT_COLUMN, self._patient_width())
        self.tree.currentItemChanged.connect(self._on_current_changed)
        self.tree.itemActivated.connect(self._on_item_activated)
        v.addWidget(self.tree, 1)

        row = QHBoxLayout()
        self.action_buttons: dict[str, QPushButton] = {}
        for key, text, _target in ROW_ACTIONS:
            button = QPushButton(text)
            button.setObjectName(f"myDay_{key}")
            button.setAccessibleName(f"{text} the selected patient")
            button.setEnabled(False)
            button.clicked.connect(lambda _checked=False, k=key: self.request(k))
            self.action_buttons[key] = button
            row.addWidget(button)
        row.addStretch(1)
        v.addLayout(row)

        self.setMinimumWidth(self.visible_width())

        self._timer = QTimer(self)
        self._timer.timeout.connect(self.tick)
        if tick_ms > 0:
            self._timer.start(tick_ms)
        self._show_empty()

    # -- public ----------------------------------------------------------------------------------------
    def _patient_width(self) -> int:
        return self.tree.fontMetrics().horizontalAdvance("0" * PATIENT_CHARS) + 12

    def visible_width(self) -> int:
        """The panel width that shows the ``VISIBLE_COLUMNS`` whole: time, patient (elided past
        ``PATIENT_CHARS``), status and waiting time at their longest (the dock's minimum)."""
        fm = self.tree.fontMetrics()
        samples = {"Time": "00:00–00:00", "Status": max(LABELS.values(), key=fm.horizontalAdvance),
                   "Waiting": "10 h 59 min"}
        width = sum(max(fm.horizontalAdvance(samples[c]), fm.horizontalAdvance(c)) + 24
                    for c in VISIBLE_COLUMNS if c != "Patient")
        layout = self.layout()
        margins = layout.contentsMargins() if layout is not None else QMargins()
        return (width + self._patient_width() + 2 * self.tree.frameWidth() + margins.left() + margins.right()
                + self.tree.verticalScrollBar().sizeHint().width())

    @property
    def day(self) -> MyDay | None:
        """The day shown."""
        return self._day

    def set_day(self, day: MyDay) -> None:
        """Show ``day``; the same appointment stays selected when it is still there."""
        previous = self.selected_row()
        self._day = day
        self.tree.clear()
        keep: QTreeWidgetItem | None = None
        next_id = day.next_patient.appointment_id if day.next_patient else None
        bold = QFont(self.tree.font())
        bold.setBold(True)
        for r in day.rows:
            cells = {"Time": r.time_text, "Patient": r.patient, "Status": LABELS.get(r.status, r.status),
                     "Waiting": "", "Service": r.service, "Room": r.room or "",
                     "Checked in": r.checked_in_at.astimezone(_zone(r)).strftime("%H:%M") if r.checked_in_at else "",
                     "Visit": "First visit" if r.first_visit else ""}
            item = QTreeWidgetItem([cells[c] for c in COLUMNS])
            item.setToolTip(PATIENT_COLUMN, r.patient)
            item.setData(0, Qt.ItemDataRole.UserRole, r)
            if r.appointment_id == next_id:
                for column in range(len(COLUMNS)):
                    item.setBackground(column, QBrush(_NEXT_FILL))
                    item.setFont(column, bold)
                item.setToolTip(0, "Next patient")
            self.tree.addTopLevelItem(item)
            if previous is not None and r.appointment_id == previous.appointment_id:
                keep = item
        if keep is not None:
            self.tree.setCurrentItem(keep)
        self.title_label.setText(f"My day — {day.doctor}, {local_formats.day(day.local_date)}")
        self.counts_label.setText(f"Arrived {day.arrived} · Waiting {day.waiting} · Done {day.done} · "
                                  f"No-show {day.no_show} · {len(day.rows)} booked")
        if day.next_patient is not None:
            n = day.next_patient
            what = "waiting since " + n.checked_in_at.astimezone(_zone(n)).strftime("%H:%M") \
                if n.status == "checked_in" and n.checked_in_at else n.status.replace("_", " ")
            self.next_label.setText(f"Next: <b>{escape(n.patient)}</b> — {n.time_text}, {escape(n.service)} "
                                    f"({what})")
        else:
            self.next_label.setText("No patient waiting or still expected.")
        if not day.rows:
            self._show_empty(day)
        self.tick()
        self._update_buttons()
        self.day_shown.emit(day)

    def selected_row(self) -> MyDayRow | None:
        """The row selected, or None."""
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def _items(self) -> list[QTreeWidgetItem]:
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item for item in items if item is not None]

    def select_appointment(self, appointment_id: int) -> bool:
        """Select the row of ``appointment_id``; whether it is listed."""
        for item in self._items():
            if item.data(0, Qt.ItemDataRole.UserRole).appointment_id == appointment_id:
                self.tree.setCurrentItem(item)
                return True
        return False

    def waiting_text(self, appointment_id: int) -> str:
        """The waiting column's text of one appointment's row ("" when not listed or not waiting)."""
        for item in self._items():
            if item.data(0, Qt.ItemDataRole.UserRole).appointment_id == appointment_id:
                return item.text(WAITING_COLUMN)
        return ""

    def tick(self) -> None:
        """Recompute the waiting minutes from the clock (no database call)."""
        now = self._clock()
        for item in self._items():
            row: MyDayRow = item.data(0, Qt.ItemDataRole.UserRole)
            minutes = row.waiting_at(now)
            item.setText(WAITING_COLUMN, _waiting_text(minutes))
            item.setData(WAITING_COLUMN, Qt.ItemDataRole.AccessibleTextRole,
                         f"waiting {minutes} minutes" if minutes is not None else "not waiting")

    def request(self, key: str) -> bool:
        """Ask for action ``key`` (``check_in``, ``start``, ``complete``, ``no_show``) on the selected row,
        if its status allows it; whether a signal was emitted."""
        row = self.selected_row()
        target = dict((k, t) for k, _label, t in ROW_ACTIONS).get(key)
        if row is None or target is None or target not in TRANSITIONS.get(row.status, ()):
            return False
        {"check_in": self.check_in_requested, "start": self.start_requested,
         "complete": self.complete_requested, "no_show": self.no_show_requested}[key].emit(row)
        return True

    # -- reactions -----------------------------------------------------------------------------------------
    def _on_current_changed(self, _current: object, _previous: object) -> None:
        self._update_buttons()

    def _on_item_activated(self, _item: QTreeWidgetItem, _column: int) -> None:
        row = self.selected_row()
        if row is None:
            return
        for key in ("check_in", "start", "complete"):
            if self.request(key):
                return

    def _update_buttons(self) -> None:
        row = self.selected_row()
        allowed = TRANSITIONS.get(row.status, ()) if row is not None else ()
        for key, _text, target in ROW_ACTIONS:
            self.action_buttons[key].setEnabled(target in allowed)

    def _show_empty(self, day: MyDay | None = None) -> None:
        if day is None:
            self.counts_label.setText("")
            self.next_label.setText("Loading…")
        else:
            self.next_label.setText("No appointments on this day.")


def _zone(row: MyDayRow) -> ZoneInfo:
    return ZoneInfo(row.timezone)


