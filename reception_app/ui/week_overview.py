"""The branch-wide week at a glance: one row per resource, one column per day, a count and a bar.

The week grid (``ui.week_model``) is readable for one resource or a small selection (seven day
columns, or a few per day); the whole branch's week would be 35–90 columns. So when the window's
week shows no picked resource and no saved selection it shows this overview instead:
:class:`WeekOverviewModel` (logic only, no widgets) turns a
:class:`~reception_app.services.dayview.WeekView` into rows of resources (those of the resource
set: all, or one kind; in the day view's order) by the seven days, and :class:`WeekOverviewView`
paints each cell as the number of appointments, the hours booked and a thin bar of how much of
the resource's working time that day is booked. A day the resource does not work (no shift, the
branch closed, a holiday) is grey. Double-click (or Enter) on a cell asks for that resource's
week (``resource_week_requested``).

Counts: an appointment counts on the local day it starts, once per resource it books (a row is
a resource); cancelled appointments are not counted. Minutes are the appointment's time within
that day (UTC instants, the day's bounds from ``DayView.rows``' own day).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from ..domain.slots import KINDS
from ..domain.wallclock import day_bounds_utc
from ..services.dayview import GridResource, WeekView
from . import colors
from .day_model import KIND_LABELS, RESOURCE_SETS

_Index = QModelIndex | QPersistentModelIndex

#: ``(appointments, booked minutes, working minutes)`` of the cell: a resource on a day.
LOAD_ROLE = Qt.ItemDataRole.UserRole + 30
#: The branch-local ``date`` of the cell's column.
DATE_ROLE = Qt.ItemDataRole.UserRole + 31
#: The ``GridResource`` of the cell's row.
ROW_RESOURCE_ROLE = Qt.ItemDataRole.UserRole + 32

_BAR = QColor("#3b78c2")
_BAR_TRACK = QColor("#dde6f0")
_TEXT = QColor("#1b1f24")
_MINOR = QColor("#6b7480")


def _hours_text(minutes: int) -> str:
    """``"2h30"``, ``"45 min"``, ``"3h"``."""
    if minutes < 60:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h}h{m:02d}" if m else f"{h}h"


def _overlap_min(lo: datetime, hi: datetime, a: datetime, b: datetime) -> int:
    """Minutes of ``[a, b)`` inside ``[lo, hi)`` (aware instants)."""
    return max(0, int((min(hi, b) - max(lo, a)).total_seconds() // 60))


class WeekOverviewModel(QAbstractTableModel):
    """A week of one branch as ``resources × 7 days`` (see the module docstring).

    Fill it with :meth:`set_week`; :meth:`set_resource_set` chooses the rows (``"all"`` or one
    kind). Both reset the model. Roles: ``DisplayRole`` (``"3 · 1h30"``, empty for none),
    ``ToolTipRole``, :data:`LOAD_ROLE`, :data:`DATE_ROLE`, :data:`ROW_RESOURCE_ROLE`; headers:
    ``"Mon 4 Jan"`` and the resource's name.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._week: WeekView | None = None
        self._resource_set = "all"
        self._rows: list[GridResource] = []
        self._dates: list[date] = []
        # (row, column) -> (appointments, booked minutes, working minutes)
        self._load: dict[tuple[int, int], tuple[int, int, int]] = {}
        self._counted: set[int] = set()

    # -- filling -------------------------------------------------------------------------------
    def set_week(self, week: WeekView | None) -> None:
        """Show ``week`` (or nothing)."""
        self.beginResetModel()
        self._week = week
        self._build()
        self.endResetModel()

    def set_resource_set(self, resource_set: str) -> None:
        """Rows for ``"all"`` resources or one kind. Raises ``ValueError`` for anything else."""
        if resource_set not in RESOURCE_SETS:
            raise ValueError(f"resource set must be one of {RESOURCE_SETS}, got {resource_set!r}")
        self.beginResetModel()
        self._resource_set = resource_set
        self._build()
        self.endResetModel()

    def _build(self) -> None:
        self._rows, self._dates, self._load, self._counted = [], [], {}, set()
        week = self._week
        if week is None:
            return
        self._dates = [d.local_date for d in week.days]
        union: dict[int, GridResource] = {}
        for d in week.days:
            for r in d.resources:
                union.setdefault(r.id, r)
        self._rows = sorted((r for r in union.values() if self._resource_set in ("all", r.kind)),
                            key=lambda r: (KINDS.index(r.kind) if r.kind in KINDS else len(KINDS), r.name))
        row_of = {r.id: i for i, r in enumerate(self._rows)}
        for col, day in enumerate(week.days):
            lo, hi = day_bounds_utc(day.local_date, week.tz)
            own = {r.id: r for r in day.resources}
            for row, res in enumerate(self._rows):
                works = own.get(res.id)
                working = 0
                if works is not None:
                    for a, b in works.availability:
                        # working time is time the branch is open, too (what the grid paints white)
                        working += sum(_overlap_min(max(a, oa), min(b, ob), lo, hi) for oa, ob in day.opening)
                self._load[(row, col)] = (0, 0, working)
            for appt in day.appointments:
                if not lo <= appt.start < hi:
                    continue  # counted on the day it starts
                for rid in appt.resource_ids.values():
                    found = row_of.get(rid)
                    if found is None:
                        continue
                    n, booked, working = self._load[(found, col)]
                    self._load[(found, col)] = (n + 1, booked + _overlap_min(lo, hi, appt.start, appt.end), working)
                    self._counted.add(appt.id)

    # -- read access -----------------------------------------------------------------------------
    @property
    def week(self) -> WeekView | None:
        """The ``WeekView`` shown, or ``None``."""
        return self._week

    @property
    def resources(self) -> list[GridResource]:
        """The rows' resources, in order."""
        return list(self._rows)

    def load(self, resource_id: int, local_date: date) -> tuple[int, int, int] | None:
        """``(appointments, booked minutes, working minutes)`` of a resource on a branch-local
        date, or ``None`` when either is not shown."""
        row = next((i for i, r in enumerate(self._rows) if r.id == resource_id), None)
        if row is None or local_date not in self._dates:
            return None
        return self._load[(row, self._dates.index(local_date))]

    def appointment_count(self) -> int:
        """Live appointments of the week booked on at least one resource shown, each once."""
        return len(self._counted)

    # -- QAbstractItemModel ------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        """Resources shown (0 for a child index)."""
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        """Days shown: 7, or 0 with no week (0 for a child index)."""
        return 0 if parent.isValid() else len(self._dates)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """The cell's value for ``role`` (see the class docstring)."""
        if not index.isValid() or not (0 <= index.row() < len(self._rows) and 0 <= index.column() < len(self._dates)):
            return None
        row, col = index.row(), index.column()
        n, booked, working = self._load[(row, col)]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{n} · {_hours_text(booked)}" if n else ""
        if role == LOAD_ROLE:
            return n, booked, working
        if role == DATE_ROLE:
            return self._dates[col]
        if role == ROW_RESOURCE_ROLE:
            return self._rows[row]
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            res, d = self._rows[row], self._dates[col]
            when = f"{d:%a} {d.day} {d:%b}"
            if not working and not n:
                return f"{res.name}, {when}: not working (closed or off shift)"
            text = f"{res.name}, {when}: {n} appointment{'s' if n != 1 else ''}"
            if working:
                text += f", {_hours_text(booked)} of {_hours_text(working)} booked"
            return text + " — double-click for this week of theirs"
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Columns: ``"Mon 4 Jan"``; rows: the resource's name (tooltip: kind and category)."""
        if orientation == Qt.Orientation.Horizontal:
            if not 0 <= section < len(self._dates) or role != Qt.ItemDataRole.DisplayRole:
                return None
            d = self._dates[section]
            return f"{d:%a} {d.day} {d:%b}"
        if not 0 <= section < len(self._rows):
            return None
        res = self._rows[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return res.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{res.name}\n{KIND_LABELS.get(res.kind, res.kind)} · {res.category}"
        return None


class _OverviewDelegate(QStyledItemDelegate):
    """A cell of the overview: grey when the resource does not work that day; else the count and
    hours, and a thin bar of the share of working time booked."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        """The cell, then the selection frame."""
        rect: QRect = option.rect  # type: ignore[attr-defined]
        n, booked, working = index.data(LOAD_ROLE)
        painter.save()
        painter.fillRect(rect, colors.OPEN if working else colors.CLOSED)
        painter.setPen(QPen(colors.LINE, 1))
        painter.drawLine(rect.topRight(), rect.bottomRight())
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        inner = rect.adjusted(10, 6, -10, -6)
        if working:
            bar = QRect(inner.left(), inner.bottom() - 5, inner.width(), 6)
            painter.fillRect(bar, _BAR_TRACK)
            share = min(1.0, booked / working)
            if share > 0:
                painter.fillRect(QRect(bar.left(), bar.top(), max(2, int(bar.width() * share)), bar.height()), _BAR)
        text = index.data(Qt.ItemDataRole.DisplayRole) or ("—" if not working else "free")
        painter.setPen(_TEXT if n else _MINOR)
        painter.drawText(inner.adjusted(0, 0, 0, -8), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        if option.state & QStyle.StateFlag.State_Selected:  # type: ignore[attr-defined]
            highlight = QColor(option.palette.highlight().color())  # type: ignore[attr-defined]
            highlight.setAlpha(200)
            painter.setPen(QPen(highlight, 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(1, 1, -1, -1))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        """Rows of 44 pixels."""
        return QSize(120, 44)


class WeekOverviewView(QTableView):
    """The overview's table: the days share the width, a row per resource.

    Signals:
        resource_week_requested(int): a cell was double-clicked (or Enter pressed on it): the
            row's resource id, whose week of seven day columns the window then shows.
    """

    resource_week_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setItemDelegate(_OverviewDelegate(self))
        self.setShowGrid(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setCornerButtonEnabled(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setMinimumSectionSize(90)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(44)
        self.verticalHeader().setMinimumWidth(140)
        self.doubleClicked.connect(self._on_cell_double_clicked)

    def _on_cell_double_clicked(self, index: QModelIndex) -> None:
        resource = index.data(ROW_RESOURCE_ROLE)
        if isinstance(resource, GridResource):
            self.resource_week_requested.emit(resource.id)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter/Return on a cell acts like a double-click."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._on_cell_double_clicked(self.currentIndex())
            event.accept()
            return
        super().keyPressEvent(event)
