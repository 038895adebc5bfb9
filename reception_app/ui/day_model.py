"""The day grid's table model: rows are 15-minute local time steps, columns are resources.

Logic only (no widgets): it turns a :class:`~reception_app.services.dayview.DayView`
into cells. An appointment occupies one column per resource it books and as
many rows as its duration covers; the cell of its first row is the block's
*anchor* (``SPAN_ROLE`` > 0, ``DisplayRole`` text), the cells below are
*covered* (same ``APPOINTMENT_ROLE``, no text). Views call ``setSpan`` with
:meth:`DayGridModel.spans` (``DayGridView`` does on every reset).

Times: the model's rows are UTC instants (``DayView.rows``); labels are the
branch's local wall clock, with ``"01:00 (2nd)"`` for a repeated time on a
fall-back day.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from ..domain.slots import KINDS
from ..services.dayview import (
    DayView,
    GridResource,
    TimeOffView,
    local_time_text,
    row_labels,
    utc_offset_text,
)
from ..services.scheduling import AppointmentView
from . import colors

log = logging.getLogger(__name__)

#: ``AppointmentView`` of the block covering the cell, or ``None``.
APPOINTMENT_ROLE = Qt.ItemDataRole.UserRole + 1
#: The appointment's status name (``"confirmed"`` …), or ``None``.
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
#: Rows the block spans at its anchor cell; 0 elsewhere (covered or empty cells).
SPAN_ROLE = Qt.ItemDataRole.UserRole + 3
#: ``"appointment"``, ``"open"``, ``"closed"`` (outside hours/shift, holiday) or ``"off"`` (time off).
CELL_STATE_ROLE = Qt.ItemDataRole.UserRole + 4
#: UTC ``datetime`` at which the cell's row starts.
INSTANT_ROLE = Qt.ItemDataRole.UserRole + 5
#: ``GridResource`` of the cell's column.
RESOURCE_ROLE = Qt.ItemDataRole.UserRole + 6
#: Everything the delegate paints a cell from, in one call (a full repaint asks for hundreds of
#: cells): ``(cell_state, background QColor, span, AppointmentView or None, is_hour_row)``.
PAINT_ROLE = Qt.ItemDataRole.UserRole + 7

#: Resource sets the grid can show: all, or one kind.
RESOURCE_SETS: tuple[str, ...] = ("all", *KINDS)

_KIND_LABELS = {"doctor": "Doctor", "room": "Room", "equipment": "Equipment"}

_Index = QModelIndex | QPersistentModelIndex


class DayGridModel(QAbstractTableModel):
    """One branch's day as a table: ``rowCount`` time steps x ``columnCount`` resources.

    Fill it with :meth:`set_day`; choose the resource set with
    :meth:`set_resource_set` (``"all"``, ``"doctor"``, ``"room"``,
    ``"equipment"``). Both reset the model.

    Roles: ``DisplayRole`` (``"patient\\nservice"`` at a block's anchor),
    ``BackgroundRole`` (status fill, or open/closed/time-off shading),
    ``ForegroundRole``, ``ToolTipRole``, and the custom roles of this module.

    Signals: only ``QAbstractItemModel``'s; every change is a model reset.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._view: DayView | None = None
        self._resource_set = "all"
        self._columns: list[GridResource] = []
        self._labels: list[str] = []
        self._step = timedelta(minutes=15)
        # (row, col) -> (appointment, anchor row, rows spanned)
        self._cells: dict[tuple[int, int], tuple[AppointmentView, int, int]] = {}
        self._paint_cache: dict[tuple[int, int], tuple[str, QColor, int, AppointmentView | None, bool]] = {}
        self._spans: list[tuple[int, int, int]] = []

    # -- filling -------------------------------------------------------------------
    def set_day(self, view: DayView | None) -> None:
        """Show ``view`` (or nothing); keeps the chosen resource set."""
        self.beginResetModel()
        self._view = view
        self._rebuild()
        self.endResetModel()

    def set_resource_set(self, resource_set: str) -> None:
        """Show ``"all"`` resources or one kind (``"doctor"``, ``"room"``, ``"equipment"``).

        Raises ``ValueError`` for anything else.
        """
        if resource_set not in RESOURCE_SETS:
            raise ValueError(f"resource set must be one of {RESOURCE_SETS}, got {resource_set!r}")
        if resource_set == self._resource_set:
            return
        self.beginResetModel()
        self._resource_set = resource_set
        self._rebuild()
        self.endResetModel()

    def _rebuild(self) -> None:
        self._paint_cache = {}
        view = self._view
        self._cells.clear()
        self._spans.clear()
        if view is None:
            self._columns, self._labels = [], []
            return
        self._step = timedelta(minutes=view.step_min)
        self._columns = [r for r in view.resources if self._resource_set in ("all", r.kind)]
        self._labels = row_labels(view.rows, view.tz)
        column_of = {r.id: c for c, r in enumerate(self._columns)}
        rows = view.rows
        for appt in view.appointments:
            first = max(0, bisect_right(rows, appt.start) - 1)
            last = bisect_left(rows, appt.end)  # rows starting before the end
            if not rows or last <= first or appt.end <= rows[0] or appt.start >= rows[-1] + self._step:
                continue
            span = last - first
            for rid in appt.resource_ids.values():
                col = column_of.get(rid)
                if col is None:
                    continue
                if any((r, col) in self._cells for r in range(first, last)):
                    log.warning("appointment %s overlaps another on resource %s; not drawn", appt.id, rid)
                    continue
                for r in range(first, last):
                    self._cells[(r, col)] = (appt, first, span)
                self._spans.append((first, col, span))

    # -- read access -----------------------------------------------------------------
    @property
    def day(self) -> DayView | None:
        """The ``DayView`` shown, or ``None``."""
        return self._view

    @property
    def resource_set(self) -> str:
        """``"all"``, ``"doctor"``, ``"room"`` or ``"equipment"``."""
        return self._resource_set

    @property
    def columns(self) -> list[GridResource]:
        """The resources shown, in column order."""
        return list(self._columns)

    def spans(self) -> list[tuple[int, int, int]]:
        """``(row, column, rows)`` of every block with more than zero rows, for ``QTableView.setSpan``."""
        return list(self._spans)

    def instant_at(self, row: int) -> datetime:
        """UTC start of ``row``. Raises ``IndexError``."""
        if self._view is None:
            raise IndexError(row)
        return self._view.rows[row]

    def row_of(self, instant: datetime) -> int | None:
        """The row whose 15-minute step contains ``instant`` (aware), or ``None`` if not shown."""
        if self._view is None or not self._view.rows:
            return None
        rows = self._view.rows
        i = bisect_right(rows, instant) - 1
        if i < 0 or instant >= rows[i] + self._step:
            return None
        return i

    def appointment_at(self, index: _Index) -> AppointmentView | None:
        """The appointment covering the cell, or ``None``."""
        cell = self._cells.get((index.row(), index.column()))
        return cell[0] if cell else None

    def is_hour_row(self, row: int) -> bool:
        """Whether ``row`` starts at a full local hour (``HH:00``)."""
        if self._view is None or not 0 <= row < len(self._view.rows):
            return False
        return self._view.rows[row].astimezone(self._view.tz).minute == 0

    def _paint_info(self, row: int, col: int,
                    cell: tuple | None) -> tuple[str, QColor, int, AppointmentView | None, bool]:
        """PAINT_ROLE for a cell, computed once per day shown (cleared by ``_rebuild``)."""
        got = self._paint_cache.get((row, col))
        if got is None:
            appt = cell[0] if cell else None
            state = self.cell_state(row, col)
            if appt is not None:
                background = colors.status_colors(appt.status).fill_color
            else:
                background = {"open": colors.OPEN, "closed": colors.CLOSED, "off": colors.TIME_OFF}[state]
            span = cell[2] if cell and cell[1] == row else 0
            got = self._paint_cache[(row, col)] = (state, background, span, appt, self.is_hour_row(row))
        return got

    def cell_state(self, row: int, column: int) -> str:
        """``"appointment"``, ``"open"``, ``"closed"`` or ``"off"`` (see ``CELL_STATE_ROLE``)."""
        if (row, column) in self._cells:
            return "appointment"
        resource = self._columns[column]
        start = self.instant_at(row)
        end = start + self._step
        if resource.time_off_at(start, end) is not None:
            return "off"
        return "open" if resource.is_available(start, end) else "closed"

    # -- QAbstractItemModel ------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        """Time steps shown (0 for a child index: the model is flat)."""
        if parent.isValid() or self._view is None:
            return 0
        return len(self._view.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        """Resources shown (0 for a child index)."""
        if parent.isValid():
            return 0
        return len(self._columns)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        """Cells are enabled and selectable, never editable."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """The cell's value for ``role`` (see the class docstring); ``None`` for unknown roles."""
        if not index.isValid() or self._view is None:
            return None
        row, col = index.row(), index.column()
        if not (0 <= row < len(self._view.rows) and 0 <= col < len(self._columns)):
            return None
        cell = self._cells.get((row, col))
        appt = cell[0] if cell else None
        if role == Qt.ItemDataRole.DisplayRole:
            if cell and cell[1] == row:
                return f"{appt.patient}\n{appt.service}"  # type: ignore[union-attr]
            return None
        if role == PAINT_ROLE:
            return self._paint_info(row, col, cell)
        if role == APPOINTMENT_ROLE:
            return appt
        if role == STATUS_ROLE:
            return appt.status if appt else None
        if role == SPAN_ROLE:
            return cell[2] if cell and cell[1] == row else 0
        if role == CELL_STATE_ROLE:
            return self.cell_state(row, col)
        if role == INSTANT_ROLE:
            return self._view.rows[row]
        if role == RESOURCE_ROLE:
            return self._columns[col]
        if role == Qt.ItemDataRole.BackgroundRole:
            if appt is not None:
                return colors.status_colors(appt.status).fill_color
            return {"open": colors.OPEN, "closed": colors.CLOSED, "off": colors.TIME_OFF}[self.cell_state(row, col)]
        if role == Qt.ItemDataRole.ForegroundRole:
            return colors.status_colors(appt.status).text_color if appt else QColor("#1b1f24")
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._appointment_tip(appt) if appt else self._empty_tip(row, col)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self._appointment_tip(appt) if appt else self._empty_tip(row, col)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Columns: resource name (and category); rows: local time labels, hours emphasised."""
        if self._view is None:
            return None
        if orientation == Qt.Orientation.Horizontal:
            if not 0 <= section < len(self._columns):
                return None
            res = self._columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return f"{res.name}\n{res.category}"
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{res.name}\n{_KIND_LABELS.get(res.kind, res.kind)} · {res.category}"
            if role == RESOURCE_ROLE:
                return res
            return None
        if not 0 <= section < len(self._labels):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._labels[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            instant = self._view.rows[section]
            local = instant.astimezone(self._view.tz)
            return f"{self._labels[section]} {utc_offset_text(local)} ({instant:%H:%M} UTC)"
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor("#1b1f24") if self.is_hour_row(section) else QColor("#6b7480")
        if role == Qt.ItemDataRole.FontRole:
            font = QFont()
            font.setBold(self.is_hour_row(section))
            return font
        if role == INSTANT_ROLE:
            return self._view.rows[section]
        return None

    # -- tooltips ----------------------------------------------------------------------
    def _appointment_tip(self, appt: AppointmentView) -> str:
        assert self._view is not None
        tz = self._view.tz
        start, end = local_time_text(appt.start, tz), local_time_text(appt.end, tz)
        resources = " · ".join(appt.resources[k] for k in KINDS if k in appt.resources)
        return (f"{appt.patient}\n{appt.service}\n{start}–{end}\n"
                f"Status: {colors.status_label(appt.status)}\n{resources}")

    def _empty_tip(self, row: int, col: int) -> str:
        assert self._view is not None
        res = self._columns[col]
        start = self._view.rows[row]
        when = self._labels[row]
        state = self.cell_state(row, col)
        if state == "open":
            return f"{res.name}, {when}: free — double-click to book"
        if state == "off":
            off: TimeOffView | None = res.time_off_at(start, start + self._step)
            return f"{res.name}, {when}: time off ({off.reason if off else 'absent'})"
        if self._view.holiday:
            return f"{res.name}, {when}: holiday ({self._view.holiday})"
        if res.kind == "doctor":
            return f"{res.name}, {when}: not on shift"
        return f"{res.name}, {when}: branch closed"
