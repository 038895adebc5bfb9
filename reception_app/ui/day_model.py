"""The day grid's table model: rows are 15-minute local time steps, columns are resources.

Logic only (no widgets): it turns a :class:`~reception_app.services.dayview.DayView`
into cells. An appointment occupies one column per resource it books and as
many rows as its duration covers; the cell of its first row is the block's
*anchor* (``SPAN_ROLE`` > 0, ``DisplayRole`` text), the cells below are
*covered* (same ``APPOINTMENT_ROLE``, no text). Views call ``setSpan`` with
:meth:`ScheduleGridModel.spans` (``DayGridView`` does on every reset).

:class:`ScheduleGridModel` is what the grid view relies on, shared by the day
model here and the week model (``ui.week_model.WeekGridModel``): the cells,
roles, tooltips, the resource set and the resource filter. A subclass lays out
rows and columns and says which UTC instant each cell starts at
(:meth:`ScheduleGridModel.cell_instant`).

Times: the day model's rows are UTC instants (``DayView.rows``); labels are the
branch's local wall clock, with ``"01:00 (2nd)"`` for a repeated time on a
fall-back day.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from ..domain.slots import KINDS
from ..services.dayview import (
    TIME_OFF_KINDS,
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
#: ``"appointment"``, ``"open"``, ``"closed"`` (outside hours/shift, holiday), ``"off"`` (time off) or
#: ``"missing"`` (week view: the row's wall-clock time does not exist on the column's day, DST).
CELL_STATE_ROLE = Qt.ItemDataRole.UserRole + 4
#: UTC ``datetime`` at which the cell starts (``None`` for a ``"missing"`` cell); on a vertical
#: header section of the day model, the row's UTC start.
INSTANT_ROLE = Qt.ItemDataRole.UserRole + 5
#: ``GridResource`` of the cell's column.
RESOURCE_ROLE = Qt.ItemDataRole.UserRole + 6
#: Everything the delegate paints a cell from, in one call (a full repaint asks for hundreds of
#: cells), computed once per cell and model reset: ``(cell_state, background QColor, span,
#: AppointmentView or None, is_hour_row, markers, ends_day_group, is_copy)``. ``markers``: the
#: block's ``colors.Marker`` tuple (empty for none); ``ends_day_group``: the column is the last of
#: its day in the week view (a stronger line follows); ``is_copy``: see ``COPY_ROLE``.
PAINT_ROLE = Qt.ItemDataRole.UserRole + 7
#: The appointment's markers (``frozenset`` of ``dayview.MARKER_KINDS``), empty for a free cell.
MARKERS_ROLE = Qt.ItemDataRole.UserRole + 8
#: The cancelled ``AppointmentView`` whose faint outline is drawn over a free cell (``None`` when
#: there is none, cancelled ones are hidden, or a live block takes the cell). The cell stays free.
CANCELLED_ROLE = Qt.ItemDataRole.UserRole + 9
#: ``True`` at a cell of a block's *copy*: the room or equipment column of an appointment whose
#: doctor's column is shown too ("All"), painted muted so each appointment reads once.
COPY_ROLE = Qt.ItemDataRole.UserRole + 10

#: Resource sets the grid can show: all, or one kind.
RESOURCE_SETS: tuple[str, ...] = ("all", *KINDS)

#: How tooltips and headers name each resource kind (an unknown kind is shown as it is).
KIND_LABELS: dict[str, str] = {"doctor": "Doctor", "room": "Room", "equipment": "Equipment"}
_BACKGROUNDS = {"open": colors.OPEN, "closed": colors.CLOSED, "off": colors.TIME_OFF, "missing": colors.MISSING}
_TEXT = QColor("#1b1f24")
_MINOR_TEXT = QColor("#6b7480")

_Index = QModelIndex | QPersistentModelIndex
# Made once: the view asks for every painted cell's flags, and combining enum members costs.
_CELL_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_NO_FLAGS = Qt.ItemFlag.NoItemFlags
PaintInfo = tuple[str, QColor, int, AppointmentView | None, bool, tuple[colors.Marker, ...], bool, bool]


class ScheduleGridModel(QAbstractTableModel):
    """The grid's cells for one or more days of one branch (base of the day and week models).

    Columns are resources (of one day each); rows are 15-minute wall-clock steps. What is shown
    is chosen by :meth:`set_resource_set` (``"all"`` or one kind) unless a filter of resource
    ids is set (:meth:`set_resource_filter`). Both reset the model.

    Roles: ``DisplayRole`` (``"patient\\nservice"`` at a block's anchor),
    ``BackgroundRole`` (status fill, or open/closed/time-off shading),
    ``ForegroundRole``, ``ToolTipRole`` and ``AccessibleTextRole`` (the block in words:
    patient, service, local times, status, markers, resources; or the free cell's
    resource, time and why it is shaded), and the custom roles of this module.

    Cancelled appointments (``DayView.cancelled``) are kept beside the cells, never in them: a
    free cell under one stays free (bookable, a drop target) and only says so through
    ``CANCELLED_ROLE``, its tooltip and :meth:`cancelled_blocks`; :meth:`set_show_cancelled`
    hides them. A cell is ``"open"`` only when its resource works then *and* the branch is open
    (a doctor's shift outside the branch's hours is shaded closed).

    A subclass fills ``_columns``, ``_column_day``, ``_group_end``, ``_labels``,
    ``_hour_rows`` in ``_build`` (calling ``_place`` for each day's blocks) and implements
    :meth:`cell_instant`, :meth:`row_of`, :meth:`now_columns` and ``tz``.

    Signals: only ``QAbstractItemModel``'s; every change is a model reset.
    """

    #: The narrowest a column gets in the view (pixels); wider columns scroll horizontally.
    MIN_COLUMN_WIDTH = 150

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._resource_set = "all"
        self._resource_filter: frozenset[int] | None = None
        self._columns: list[GridResource] = []
        self._column_day: list[DayView] = []
        self._group_end: list[bool] = []
        self._labels: list[str] = []
        self._hour_rows: list[bool] = []
        self._step = timedelta(minutes=15)
        # (row, col) -> (appointment, anchor row, rows spanned)
        self._cells: dict[tuple[int, int], tuple[AppointmentView, int, int]] = {}
        self._paint_cache: dict[tuple[int, int], PaintInfo] = {}
        self._spans: list[tuple[int, int, int]] = []
        self._markers: dict[int, tuple[colors.Marker, ...]] = {}
        self._show_cancelled = True
        # (row, col) -> (cancelled appointment, anchor row, rows) for free cells under a cancelled one
        self._ghosts: dict[tuple[int, int], tuple[AppointmentView, int, int]] = {}
        self._ghost_runs: list[tuple[int, int, int, AppointmentView]] | None = None
        self._copies: set[tuple[int, int]] = set()  # (appointment id, column) of muted copies
        self._shown_ids: set[int] = set()
        self._hour_font = QFont()
        self._hour_font.setBold(True)

    # -- choosing what is shown ------------------------------------------------------
    def set_resource_set(self, resource_set: str) -> None:
        """Show ``"all"`` resources or one kind (``"doctor"``, ``"room"``, ``"equipment"``).

        Applies while no resource filter is set. Raises ``ValueError`` for anything else.
        """
        if resource_set not in RESOURCE_SETS:
            raise ValueError(f"resource set must be one of {RESOURCE_SETS}, got {resource_set!r}")
        if resource_set == self._resource_set:
            return
        self.beginResetModel()
        self._resource_set = resource_set
        self._rebuild()
        self.endResetModel()

    def set_resource_filter(self, ids: frozenset[int] | None) -> None:
        """Show only the resources whose ids are in ``ids`` (a saved selection), in the usual
        order (kind, then name), whatever the resource set; ``None`` lets the resource set rule
        again. Ids the branch does not have are ignored (an empty grid if none is left)."""
        ids = frozenset(ids) if ids is not None else None
        if ids == self._resource_filter:
            return
        self.beginResetModel()
        self._resource_filter = ids
        self._rebuild()
        self.endResetModel()

    def set_show_cancelled(self, shown: bool) -> None:
        """Show (default) or hide the faint outlines of cancelled appointments; resets the model."""
        if shown == self._show_cancelled:
            return
        self.beginResetModel()
        self._show_cancelled = shown
        self._rebuild()
        self.endResetModel()

    @property
    def show_cancelled(self) -> bool:
        """Whether cancelled appointments are drawn (as faint outlines)."""
        return self._show_cancelled

    @property
    def resource_set(self) -> str:
        """``"all"``, ``"doctor"``, ``"room"`` or ``"equipment"``."""
        return self._resource_set

    @property
    def resource_filter(self) -> frozenset[int] | None:
        """The resource ids shown, or ``None`` when the resource set decides."""
        return self._resource_filter

    def shows_resource(self, resource: GridResource) -> bool:
        """Whether ``resource`` gets a column under the current set or filter."""
        if self._resource_filter is not None:
            return resource.id in self._resource_filter
        return self._resource_set in ("all", resource.kind)

    # -- building ------------------------------------------------------------------
    def _rebuild(self) -> None:
        self._paint_cache = {}
        self._cells.clear()
        self._spans.clear()
        self._markers = {}
        self._ghosts = {}
        self._ghost_runs = None
        self._copies = set()
        self._shown_ids = set()
        self._columns, self._column_day, self._group_end = [], [], []
        self._labels, self._hour_rows = [], []
        self._build()

    def _build(self) -> None:
        raise NotImplementedError

    def _place(self, day: DayView, column_of: dict[int, int], instants: Sequence[datetime],
               rows: Sequence[int] | None = None) -> None:
        """Lay ``day``'s appointments on the cells of the columns ``column_of`` (resource id ->
        column). ``instants``: the UTC starts of the day's rows shown, ascending; ``rows``: the
        model row of each (``None``: row ``i`` is ``instants[i]``). A block covers the rows from
        the one containing its start to the one containing its last minute, clipped to the rows
        shown."""
        if not instants:
            return
        for appt in day.appointments:
            got = self._rows_of(appt, instants, rows)
            if got is None:
                continue
            first, last = got
            span = last - first
            placed = False
            doctor_shown = column_of.get(appt.resource_ids.get("doctor", -1)) is not None
            for kind, rid in appt.resource_ids.items():
                col = column_of.get(rid)
                if col is None:
                    continue
                if any((r, col) in self._cells for r in range(first, last)):
                    log.warning("appointment %s overlaps another on resource %s; not drawn", appt.id, rid)
                    continue
                for r in range(first, last):
                    self._cells[(r, col)] = (appt, first, span)
                self._spans.append((first, col, span))
                if kind != "doctor" and doctor_shown:
                    self._copies.add((appt.id, col))
                placed = True
            if placed:
                self._shown_ids.add(appt.id)
            if placed and appt.id in day.markers:
                self._markers[appt.id] = colors.markers_of(day.markers[appt.id])
        if not self._show_cancelled:
            return
        for appt in day.cancelled:
            got = self._rows_of(appt, instants, rows)
            if got is None:
                continue
            first, last = got
            for rid in appt.resource_ids.values():
                col = column_of.get(rid)
                if col is None:
                    continue
                for r in range(first, last):
                    if (r, col) not in self._cells and (r, col) not in self._ghosts:
                        self._ghosts[(r, col)] = (appt, first, last - first)

    def _rows_of(self, appt: AppointmentView, instants: Sequence[datetime],
                 rows: Sequence[int] | None) -> tuple[int, int] | None:
        """(first row, row after the last) ``appt`` covers among ``instants`` (see ``_place``),
        or ``None`` when it is not on them."""
        if appt.end <= instants[0] or appt.start >= instants[-1] + self._step:
            return None
        lo = max(0, bisect_right(instants, appt.start) - 1)
        hi = bisect_left(instants, appt.end)  # rows starting before the end
        if hi <= lo:
            return None
        return (lo, hi) if rows is None else (rows[lo], rows[hi - 1] + 1)

    # -- what subclasses say about rows and columns -----------------------------------------
    def cell_instant(self, row: int, column: int) -> datetime | None:
        """UTC start of the cell, or ``None`` when its wall-clock time does not exist on the
        column's day (week view, DST) or the cell is outside the grid."""
        raise NotImplementedError

    def row_of(self, instant: datetime, column: int | None = None) -> int | None:
        """The row whose 15-minute step contains ``instant`` (aware) — in ``column``'s day when
        given, else in the day ``instant`` falls on — or ``None`` if not shown."""
        raise NotImplementedError

    def now_columns(self, now: datetime) -> tuple[int, int] | None:
        """First and last column (inclusive) across which the current-time line is drawn, or
        ``None`` when ``now`` is not on the grid."""
        raise NotImplementedError

    @property
    def tz(self) -> ZoneInfo | None:
        """The branch's zone (for local times), or ``None`` when nothing is shown."""
        raise NotImplementedError

    def _when_text(self, row: int, column: int) -> str:
        """The cell's local time as tooltips name it (the week adds the date)."""
        return self._labels[row]

    def _times_text(self, appt: AppointmentView, column: int) -> str:
        """``"08:00–08:30"``: the block's local times as its tooltip names them."""
        tz = self._column_day[column].tz
        return f"{local_time_text(appt.start, tz)}–{local_time_text(appt.end, tz)}"

    # -- read access -----------------------------------------------------------------
    @property
    def columns(self) -> list[GridResource]:
        """The resources shown, in column order (the week model: each day's, day by day)."""
        return list(self._columns)

    def day_of_column(self, column: int) -> DayView:
        """The ``DayView`` column ``column`` belongs to. Raises ``IndexError``."""
        return self._column_day[column]

    def date_of_column(self, column: int) -> date:
        """The branch-local date of column ``column``. Raises ``IndexError``."""
        return self._column_day[column].local_date

    def spans(self) -> list[tuple[int, int, int]]:
        """``(row, column, rows)`` of every block with more than zero rows, for ``QTableView.setSpan``."""
        return list(self._spans)

    def appointment_at(self, index: _Index) -> AppointmentView | None:
        """The appointment covering the cell, or ``None``."""
        cell = self._cells.get((index.row(), index.column()))
        return cell[0] if cell else None

    def cancelled_at(self, index: _Index) -> AppointmentView | None:
        """The cancelled appointment outlined over the (free) cell, or ``None`` (see ``CANCELLED_ROLE``)."""
        ghost = self._ghosts.get((index.row(), index.column()))
        return ghost[0] if ghost else None

    def cancelled_blocks(self) -> list[tuple[int, int, int, AppointmentView]]:
        """``(first row, column, rows, AppointmentView)`` of every run of free cells under a
        cancelled appointment (a live block splits a cancelled one into runs), for painting."""
        if self._ghost_runs is not None:
            return self._ghost_runs
        runs: list[tuple[int, int, int, AppointmentView]] = []
        for (row, col), (appt, _first, _rows) in sorted(self._ghosts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            if runs and runs[-1][1] == col and runs[-1][3].id == appt.id and runs[-1][0] + runs[-1][2] == row:
                first, c, n, a = runs[-1]
                runs[-1] = (first, c, n + 1, a)
            else:
                runs.append((row, col, 1, appt))
        self._ghost_runs = runs
        return runs

    def is_copy(self, row: int, column: int) -> bool:
        """Whether the cell is part of a block's muted copy (see ``COPY_ROLE``)."""
        cell = self._cells.get((row, column))
        return cell is not None and (cell[0].id, column) in self._copies

    def shown_appointment_count(self) -> int:
        """How many live appointments have a block in at least one column shown (each once):
        what the header counts."""
        return len(self._shown_ids)

    def markers_at(self, index: _Index) -> frozenset[str]:
        """The markers (``dayview.MARKER_KINDS``) of the appointment covering the cell (empty if none)."""
        appt = self.appointment_at(index)
        return frozenset(m.key for m in self._markers.get(appt.id, ())) if appt is not None else frozenset()

    def is_hour_row(self, row: int) -> bool:
        """Whether ``row`` starts at a full local hour (``HH:00``)."""
        return 0 <= row < len(self._hour_rows) and self._hour_rows[row]

    def cell_state(self, row: int, column: int) -> str:
        """``"appointment"``, ``"open"``, ``"closed"``, ``"off"`` or ``"missing"`` (see ``CELL_STATE_ROLE``)."""
        if (row, column) in self._cells:
            return "appointment"
        start = self.cell_instant(row, column)
        if start is None:
            return "missing"
        resource = self._columns[column]
        end = start + self._step
        if resource.time_off_at(start, end) is not None:
            return "off"
        return "open" if resource.is_available(start, end) and self._branch_open(column, start, end) else "closed"

    def _branch_open(self, column: int, start: datetime, end: datetime) -> bool:
        """Whether the branch is open over ``[start, end)`` (UTC) on the column's day."""
        return any(a <= start and end <= b for a, b in self._column_day[column].opening)

    def _paint_info(self, row: int, col: int, cell: tuple | None) -> PaintInfo:
        """PAINT_ROLE for a cell, computed once per model reset (cleared by ``_rebuild``)."""
        got = self._paint_cache.get((row, col))
        if got is None:
            appt = cell[0] if cell else None
            if appt is not None:
                state, background = "appointment", colors.status_colors(appt.status).fill_color
                span = cell[2] if cell[1] == row else 0  # type: ignore[index]
                markers = self._markers.get(appt.id, ()) if span else ()
            else:
                state = self.cell_state(row, col)
                background, span, markers = _BACKGROUNDS[state], 0, ()
            copy = appt is not None and (appt.id, col) in self._copies
            got = self._paint_cache[(row, col)] = (state, background, span, appt, self.is_hour_row(row),
                                                   markers, self._group_end[col], copy)
        return got

    # -- QAbstractItemModel ------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        """Time steps shown (0 for a child index: the model is flat)."""
        if parent.isValid():
            return 0
        return len(self._labels)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        """Columns shown (0 for a child index)."""
        if parent.isValid():
            return 0
        return len(self._columns)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        """Cells are enabled and selectable, never editable."""
        if not index.isValid():
            return _NO_FLAGS
        return _CELL_FLAGS

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """The cell's value for ``role`` (see the class docstring); ``None`` for unknown roles."""
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if not (0 <= row < len(self._labels) and 0 <= col < len(self._columns)):
            return None
        cell = self._cells.get((row, col))
        if role == PAINT_ROLE:
            return self._paint_info(row, col, cell)
        appt = cell[0] if cell else None
        if role == Qt.ItemDataRole.DisplayRole:
            if cell and cell[1] == row:
                return f"{appt.patient}\n{appt.service}"  # type: ignore[union-attr]
            return None
        if role == APPOINTMENT_ROLE:
            return appt
        if role == STATUS_ROLE:
            return appt.status if appt else None
        if role == SPAN_ROLE:
            return cell[2] if cell and cell[1] == row else 0
        if role == CELL_STATE_ROLE:
            return self.cell_state(row, col)
        if role == INSTANT_ROLE:
            return self.cell_instant(row, col)
        if role == RESOURCE_ROLE:
            return self._columns[col]
        if role == MARKERS_ROLE:
            return self.markers_at(index)
        if role == CANCELLED_ROLE:
            return self.cancelled_at(index)
        if role == COPY_ROLE:
            return self.is_copy(row, col)
        if role == Qt.ItemDataRole.BackgroundRole:
            if appt is not None:
                return colors.status_colors(appt.status).fill_color
            return _BACKGROUNDS[self.cell_state(row, col)]
        if role == Qt.ItemDataRole.ForegroundRole:
            return colors.status_colors(appt.status).text_color if appt else _TEXT
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            if appt:
                tip = self._appointment_tip(appt, col)
                return tip + "\n(a copy: the doctor's column shows it too)" if self.is_copy(row, col) else tip
            tip = self._empty_tip(row, col)
            ghost = self._ghosts.get((row, col))
            if ghost is not None:
                tip += f"\nCancelled: {ghost[0].patient}, {ghost[0].service}, {self._times_text(ghost[0], col)}"
            return tip
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Columns: see ``_column_header``; rows: local time labels, hours emphasised."""
        if orientation == Qt.Orientation.Horizontal:
            if not 0 <= section < len(self._columns):
                return None
            res = self._columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return self._column_header(section)
            if role == Qt.ItemDataRole.ToolTipRole:
                return self._column_tip(section)
            if role == RESOURCE_ROLE:
                return res
            return None
        if not 0 <= section < len(self._labels):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._labels[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._row_tip(section)
        if role == Qt.ItemDataRole.ForegroundRole:
            return _TEXT if self.is_hour_row(section) else _MINOR_TEXT
        if role == Qt.ItemDataRole.FontRole:
            return self._hour_font if self.is_hour_row(section) else None
        if role == INSTANT_ROLE:
            return self._row_instant(section)
        return None

    def _column_header(self, column: int) -> str:
        res = self._columns[column]
        return f"{res.name}\n{res.category}"

    def _column_tip(self, column: int) -> str:
        res = self._columns[column]
        tip = f"{res.name}\n{KIND_LABELS.get(res.kind, res.kind)} · {res.category}"
        if res.exception:  # a roster exception replaces the weekly shifts that day (migration 0003)
            kind, _, note = res.exception.partition(": ")
            tip += "\n" + ("Off this day (roster exception)" if kind == "off" else "Other hours this day (roster exception)")
            if note:
                tip += f": {note}"
        return tip

    def _row_tip(self, row: int) -> str:
        return self._labels[row]

    def _row_instant(self, row: int) -> datetime | None:
        return None

    # -- tooltips ----------------------------------------------------------------------
    def _appointment_tip(self, appt: AppointmentView, column: int) -> str:
        resources = " · ".join(appt.resources[k] for k in KINDS if k in appt.resources)
        lines = [appt.patient, appt.service, self._times_text(appt, column),
                 f"Status: {colors.status_label(appt.status)}"]
        if appt.status == "held":
            lines.append(colors.hold_text(appt.hold_expires_at, self._column_day[column].tz))
        markers = self._markers.get(appt.id)
        if markers:
            lines.append(" · ".join(m.label for m in markers))
        lines.append(resources)
        if appt.desk_note:
            lines.append(f"Note: {appt.desk_note}")
        if appt.patient_note:
            lines.append(f"Patient's note: {appt.patient_note}")
        return "\n".join(lines)

    def _empty_tip(self, row: int, col: int) -> str:
        res = self._columns[col]
        day = self._column_day[col]
        when = self._when_text(row, col)
        state = self.cell_state(row, col)
        if state == "missing":
            return f"{res.name}, {when}: this time does not exist that day (the clocks go forward)"
        if state == "open":
            return f"{res.name}, {when}: free — double-click to book"
        if state == "off":
            start = self.cell_instant(row, col)
            off: TimeOffView | None = res.time_off_at(start, start + self._step) if start else None
            if off is None:
                return f"{res.name}, {when}: time off"
            what = TIME_OFF_KINDS.get(off.kind, "Time off")
            return f"{res.name}, {when}: {what.lower()}" + (f" ({off.reason})" if off.reason else "")
        if day.holiday:
            return f"{res.name}, {when}: holiday ({day.holiday})"
        start = self.cell_instant(row, col)
        if res.kind == "doctor" and start is not None and res.is_available(start, start + self._step):
            return f"{res.name}, {when}: on shift, but the branch is closed"
        if res.kind == "doctor":
            return f"{res.name}, {when}: not on shift"
        return f"{res.name}, {when}: branch closed"


class DayGridModel(ScheduleGridModel):
    """One branch's day as a table: ``rowCount`` time steps x ``columnCount`` resources.

    Fill it with :meth:`set_day`; choose the resource set with
    :meth:`set_resource_set` (``"all"``, ``"doctor"``, ``"room"``,
    ``"equipment"``) or a saved selection with :meth:`set_resource_filter`. All reset
    the model. Rows are ``DayView.rows`` (UTC instants); see :class:`ScheduleGridModel`
    for the roles.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._view: DayView | None = None

    # -- filling -------------------------------------------------------------------
    def set_day(self, view: DayView | None) -> None:
        """Show ``view`` (or nothing); keeps the chosen resource set and filter."""
        self.beginResetModel()
        self._view = view
        self._rebuild()
        self.endResetModel()

    def _build(self) -> None:
        view = self._view
        if view is None:
            return
        self._step = timedelta(minutes=view.step_min)
        self._columns = [r for r in view.resources if self.shows_resource(r)]
        self._column_day = [view] * len(self._columns)
        self._group_end = [False] * len(self._columns)
        tz = view.tz
        self._labels = row_labels(view.rows, tz)
        self._hour_rows = [instant.astimezone(tz).minute == 0 for instant in view.rows]
        self._place(view, {r.id: c for c, r in enumerate(self._columns)}, view.rows)

    # -- read access -----------------------------------------------------------------
    @property
    def day(self) -> DayView | None:
        """The ``DayView`` shown, or ``None``."""
        return self._view

    @property
    def tz(self) -> ZoneInfo | None:
        """The branch's zone, or ``None`` when no day is shown."""
        return self._view.tz if self._view is not None else None

    def instant_at(self, row: int, column: int | None = None) -> datetime:
        """UTC start of ``row`` (the same in every column). Raises ``IndexError``."""
        if self._view is None:
            raise IndexError(row)
        return self._view.rows[row]

    def cell_instant(self, row: int, column: int) -> datetime | None:
        """UTC start of ``row`` (every cell of a row starts together), ``None`` off the grid."""
        if self._view is None or not 0 <= row < len(self._view.rows):
            return None
        return self._view.rows[row]

    def row_of(self, instant: datetime, column: int | None = None) -> int | None:
        """The row whose 15-minute step contains ``instant`` (aware), or ``None`` if not shown."""
        if self._view is None or not self._view.rows:
            return None
        rows = self._view.rows
        i = bisect_right(rows, instant) - 1
        if i < 0 or instant >= rows[i] + self._step:
            return None
        return i

    def now_columns(self, now: datetime) -> tuple[int, int] | None:
        """Every column, when ``now`` is on the day's rows."""
        if not self._columns or self.row_of(now) is None:
            return None
        return 0, len(self._columns) - 1

    def _row_tip(self, row: int) -> str:
        assert self._view is not None
        instant = self._view.rows[row]
        local = instant.astimezone(self._view.tz)
        return f"{self._labels[row]} {utc_offset_text(local)} ({instant:%H:%M} UTC)"

    def _row_instant(self, row: int) -> datetime | None:
        return self._view.rows[row] if self._view is not None else None
