"""The grid widget: a ``QTableView`` over a :class:`~.day_model.ScheduleGridModel` (the day
model, or the week model of ``ui.week_model``) and its delegate.

Only display: the delegate (``ui.grid_paint.DayGridDelegate``, re-exported here) paints
open/closed shading, quarter-hour and hour lines, and appointment blocks (status fill, accent
bar, patient, service, local time, marker glyphs) from a cache of rendered cells; the view
spans each block over its rows, draws cancelled appointments as faint dashed outlines over the
free cells they once took (they never take a cell: a drop or a booking there works as on any
free cell), draws the current-time line, and turns double-clicks,
context-menu gestures, drags of a block and typing into requests (the window decides what to
do with them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QTableView,
    QWidget,
)

from ..services.dayview import GridResource, local_time_text
from ..services.scheduling import MOVABLE_STATUSES, AppointmentView
from . import colors
from .day_model import ScheduleGridModel
from .grid_header import GridHeader
from .grid_paint import MIN_COLUMN_WIDTH, ROW_HEIGHT, DayGridDelegate

__all__ = ["MIN_COLUMN_WIDTH", "ROW_HEIGHT", "DayGridDelegate", "DayGridView"]

_Index = QModelIndex | QPersistentModelIndex

#: A cancelled appointment's outline and name: faint, dashed.
_CANCELLED_PEN = QPen(QColor(110, 120, 130, 150), 1, Qt.PenStyle.DashLine)
_CANCELLED_TEXT = QColor(110, 120, 130, 170)



@dataclass
class _BlockDrag:
    """A left-button press on a movable block, and (once past the drag distance) its drag.

    ``grabbed_at``: UTC start of the row the block was grabbed at (the grab offset is
    ``grabbed_at - appointment.start``); ``offset_rows``: the grabbed row's place in the
    block (0 = its first row); ``rows``: rows the block spans; ``target``:
    (row, column) under the mouse while dragging, or ``None`` off the cells."""

    appointment: AppointmentView
    press_pos: QPoint
    grabbed_at: datetime
    offset_rows: int
    rows: int
    dragging: bool = False
    target: tuple[int, int] | None = None


@dataclass
class _RangeDrag:
    """A left-button press on an empty cell, and (once past the drag distance) the range of
    free cells dragged over in its column: ``anchor`` is the pressed row, ``end`` the row
    reached (either side of it; the range stops before a block or a skipped time)."""

    column: int
    anchor: int
    press_pos: QPoint
    end: int
    dragging: bool = False

    def rows(self) -> tuple[int, int]:
        """(first, last) row of the range."""
        return min(self.anchor, self.end), max(self.anchor, self.end)


class DayGridView(QTableView):
    """The grid of a day or a week: blocks spanned over their rows, closed time shaded, the
    current time marked. Works on any :class:`~.day_model.ScheduleGridModel`: switch between
    the day and the week by ``setModel`` (the view keeps its signals; the selection model is
    new, so listen to ``current_cell_changed`` rather than ``selectionModel().currentChanged``).

    Signals:
        booking_requested(object, object): a free or closed cell was
            double-clicked (or Enter pressed on it), or free cells were dragged
            over in one column (press on an empty cell, drag up or down, release):
            the UTC start of the cell (or of the range's first row) and the
            column's ``GridResource`` (of that column's day; the week model's
            ``date_of_column`` gives the local date). Not emitted for a wall-clock
            time that does not exist that day (DST). :meth:`requested_length`
            tells the length of the range dragged (``None`` for one cell).
        appointment_activated(object): an appointment block was double-clicked:
            its ``AppointmentView``.
        appointment_menu_requested(object, object): a context menu was asked
            for on an appointment block (right click on it, or the Menu key /
            Shift+F10 on the current cell, which a right click also makes
            current) — or on a free cell under a cancelled appointment's
            outline: its ``AppointmentView`` and the global ``QPoint`` to show
            the menu at.
        move_requested(object, object, object): a block of a movable status
            (``scheduling.MOVABLE_STATUSES``) was dragged with the left button
            and dropped on a cell: its ``AppointmentView``, the new UTC start
            (``datetime``; the block's top lands on the drop row, keeping the
            row it was grabbed at under the mouse) and the drop column's
            ``GridResource`` when that is not already one of the appointment's
            resources, else ``None``. The resource may be of a kind the
            appointment does not use (the outline was red): the receiver refuses
            it. While dragging, a place the grid already knows cannot take the
            block (:meth:`drop_refusal`: busy, closed, off shift, time off, wrong
            kind) shows a forbidden cursor and a red outline naming the reason;
            a drop there is still asked for (the database has the last word).
            Not emitted for a drop where the block already is, nor after Esc.
            In the week view the new start may be on another day.
        search_typed(str): a letter, a digit or ``+`` was typed on the grid
            (without Ctrl, Alt or Meta): the character, to start a patient
            search with.
        current_cell_changed(object, object): the current cell changed (also
            across ``setModel``): the new and the previous ``QModelIndex``.
    """

    booking_requested = Signal(object, object)
    appointment_activated = Signal(object)
    appointment_menu_requested = Signal(object, object)
    move_requested = Signal(object, object, object)
    search_typed = Signal(str)
    current_cell_changed = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._now: datetime | None = None
        self._drag: _BlockDrag | None = None
        self._range: _RangeDrag | None = None
        self._requested_length: timedelta | None = None
        self.setItemDelegate(DayGridDelegate(self))
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setCornerButtonEnabled(False)
        vh = self.verticalHeader()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(ROW_HEIGHT)
        vh.setMinimumSectionSize(ROW_HEIGHT)
        vh.setDefaultAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        vh.setMinimumWidth(64)
        # Each header line wider than its column ends in "…" (not cut off at both ends).
        self.setHorizontalHeader(GridHeader(Qt.Orientation.Horizontal, self))
        hh = self.horizontalHeader()
        hh.setMinimumSectionSize(MIN_COLUMN_WIDTH)
        hh.setDefaultSectionSize(MIN_COLUMN_WIDTH)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        hh.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        hh.setHighlightSections(False)
        vh.setHighlightSections(False)
        self.doubleClicked.connect(self._on_cell_double_clicked)

    # -- model -----------------------------------------------------------------------
    def setModel(self, model: ScheduleGridModel | None) -> None:  # type: ignore[override]
        """Attach ``model`` (a day or week model) and keep the block spans in step with its resets."""
        old = self.model()
        if old is model and model is not None:
            return
        if isinstance(old, ScheduleGridModel):
            old.modelReset.disconnect(self._on_model_reset)
        self.cancel_drag()
        super().setModel(model)
        if model is not None:
            model.modelReset.connect(self._on_model_reset)
            self.horizontalHeader().setMinimumSectionSize(model.MIN_COLUMN_WIDTH)
            self.horizontalHeader().setDefaultSectionSize(model.MIN_COLUMN_WIDTH)
        selection = self.selectionModel()
        if selection is not None:
            selection.currentChanged.connect(self._on_current_changed)
        self._on_model_reset()

    def _on_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self.current_cell_changed.emit(current, previous)

    def grid_model(self) -> ScheduleGridModel | None:
        """The day or week model shown, if any."""
        model = self.model()
        return model if isinstance(model, ScheduleGridModel) else None

    def _on_model_reset(self) -> None:
        self.clearSpans()
        model = self.grid_model()
        if self._drag is not None and (model is None or model.rowCount() == 0
                                       or model.row_of(self._drag.grabbed_at) is None):
            self.cancel_drag()  # another day (or none) is shown now: the grab means nothing there
        if self._range is not None and not self._free(self._range.anchor, self._range.column):
            self.cancel_drag()  # the pressed cell is gone or taken now
        if model is None:
            return
        for row, col, rows in model.spans():
            if rows > 1:
                self.setSpan(row, col, rows, 1)
        self.viewport().update()

    # -- current time -------------------------------------------------------------------
    def set_now(self, now: datetime | None) -> None:
        """Mark ``now`` (aware) with a line across the grid, or remove the line (``None``)."""
        self._now = now
        self.viewport().update()

    def now_line(self) -> tuple[int, int, int] | None:
        """Viewport ``(y, x from, x to)`` of the current-time line (across the day's columns: all
        of them in the day view, today's in the week view), or ``None`` when now is not on the grid."""
        model = self.grid_model()
        if model is None or self._now is None:
            return None
        cols = model.now_columns(self._now)
        if cols is None:
            return None
        row = model.row_of(self._now, cols[0])
        start = model.cell_instant(row, cols[0]) if row is not None else None
        if row is None or start is None:
            return None
        fraction = min(1.0, (self._now - start) / timedelta(minutes=15))
        y = self.rowViewportPosition(row) + int(fraction * self.rowHeight(row))
        x0 = self.columnViewportPosition(cols[0])
        x1 = self.columnViewportPosition(cols[1]) + self.columnWidth(cols[1])
        return y, x0, x1

    def now_line_y(self) -> int | None:
        """Viewport y of the current-time line, or ``None`` when now is not on the grid."""
        line = self.now_line()
        return line[0] if line is not None else None

    def scroll_to_instant(self, instant: datetime) -> None:
        """Scroll so the row containing ``instant`` is near the top (no-op if not shown); in the
        week view, also bring that day's first column into sight."""
        model = self.grid_model()
        if model is None or not model.columnCount():
            return
        cols = model.now_columns(instant)
        col = cols[0] if cols is not None else 0
        row = model.row_of(instant, col)
        if row is not None:
            self.scrollTo(model.index(row, col), QAbstractItemView.ScrollHint.PositionAtTop)

    def paintEvent(self, event: QPaintEvent) -> None:
        """The cells, the outline of a block (or range) being dragged, then the current-time line on top."""
        super().paintEvent(event)
        self._paint_cancelled()
        self._paint_drop_outline()
        self._paint_range()
        line = self.now_line()
        if line is None:
            return
        y, x0, x1 = line
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(colors.NOW_LINE, 2))
        painter.drawLine(QPoint(x0, y), QPoint(x1, y))
        painter.setBrush(colors.NOW_LINE)
        painter.drawEllipse(QPoint(x0 + 3, y), 4, 4)
        painter.end()

    def _paint_cancelled(self) -> None:
        """Cancelled appointments: a faint dashed outline over each run of free cells they once
        took, with the patient's name (struck through) where it fits."""
        model = self.grid_model()
        if model is None:
            return
        blocks = model.cancelled_blocks()
        if not blocks:
            return
        area = self.viewport().rect()
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        font = QFont(self.font())
        font.setStrikeOut(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        for first, col, rows, appt in blocks:
            last = first + rows - 1
            y0 = self.rowViewportPosition(first)
            rect = QRect(self.columnViewportPosition(col), y0, self.columnWidth(col),
                         self.rowViewportPosition(last) + self.rowHeight(last) - y0).adjusted(4, 2, -4, -2)
            if not rect.intersects(area):
                continue
            painter.setPen(_CANCELLED_PEN)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect, 4, 4)
            painter.setPen(_CANCELLED_TEXT)
            text = metrics.elidedText(f"{appt.patient} · {appt.service}", Qt.TextElideMode.ElideRight,
                                      rect.width() - 12)
            painter.drawText(rect.adjusted(6, 1, -6, -1), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
                             if rows == 1 else Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, text)
        painter.end()

    def _paint_drop_outline(self) -> None:
        """Where the dragged block would land: an outline over its rows in the target column
        (blue, or red on a column of a kind the appointment does not use) with the new local start."""
        model = self.grid_model()
        drag = self._drag
        if model is None or drag is None or not drag.dragging or drag.target is None:
            return
        row, col = drag.target
        top = row - drag.offset_rows
        first, last = max(0, top), min(model.rowCount() - 1, top + drag.rows - 1)
        if last < first:
            return
        y0 = self.rowViewportPosition(first)
        y1 = self.rowViewportPosition(last) + self.rowHeight(last)
        rect = QRect(self.columnViewportPosition(col), y0, self.columnWidth(col), y1 - y0).adjusted(2, 1, -3, -2)
        refusal = self.drop_refusal()
        color = QColor(self.palette().highlight().color()) if refusal is None else QColor(colors.REFUSAL)
        painter = QPainter(self.viewport())
        fill = QColor(color)
        fill.setAlpha(45)
        painter.fillRect(rect, fill)
        painter.setPen(QPen(color, 2, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)
        new_start = self._drop_start(drag, row, col)
        tz = model.tz
        if tz is not None and new_start is not None:
            painter.setPen(color)
            label = local_time_text(new_start, tz) + (f" — {refusal}" if refusal else "")
            painter.drawText(rect.adjusted(8, 2, -4, -2), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, label)
        painter.end()

    def _paint_range(self) -> None:
        """The free cells being dragged over: a highlighted band with the local start and end."""
        model, drag = self.grid_model(), self._range
        if model is None or drag is None or not drag.dragging:
            return
        first, last = drag.rows()
        col = drag.column
        y0 = self.rowViewportPosition(first)
        y1 = self.rowViewportPosition(last) + self.rowHeight(last)
        rect = QRect(self.columnViewportPosition(col), y0, self.columnWidth(col), y1 - y0).adjusted(2, 1, -3, -2)
        color = QColor(self.palette().highlight().color())
        painter = QPainter(self.viewport())
        fill = QColor(color)
        fill.setAlpha(70)
        painter.fillRect(rect, fill)
        painter.setPen(QPen(color, 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)
        span = self.range_selected()
        if span is not None and model.tz is not None:
            start, length = span
            painter.setPen(self.palette().text().color())
            painter.drawText(rect.adjusted(8, 2, -4, -2), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                             f"{local_time_text(start, model.tz)}–{local_time_text(start + length, model.tz)}")
        painter.end()

    # -- requests ------------------------------------------------------------------------
    def requested_length(self) -> timedelta | None:
        """The length of the range of free cells behind the latest ``booking_requested`` (``None``
        when it was one cell: a click, a double-click or Enter)."""
        return self._requested_length

    def current_cell(self) -> tuple[datetime, GridResource] | None:
        """The selected cell's start (UTC) and its column's resource — what Ctrl+N books from — or
        ``None`` when no cell is selected (Qt makes the top-left cell current, unselected, when the
        grid gets the focus: that one is not meant) or its wall-clock time doesn't exist that day (a
        DST gap). A cell under an appointment counts too: its time and resource are still the ones meant."""
        model = self.grid_model()
        index = self.currentIndex()
        if model is None or not index.isValid() or not self.selectionModel().isSelected(index):
            return None
        instant = model.cell_instant(index.row(), index.column())
        return (instant, model.columns[index.column()]) if instant is not None else None

    def _on_cell_double_clicked(self, index: QModelIndex) -> None:
        self._request(index)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Esc cancels a block (or a range of free cells) being dragged; Enter/Return on a cell acts like a double-click; the
        Menu key and Shift+F10 open the current cell's context menu (handled here: not every
        platform turns them into a context menu event); a letter, digit or ``+`` typed without
        Ctrl/Alt/Meta asks for a patient search (``search_typed``)."""
        typed = event.text()
        if len(typed) == 1 and (typed.isalnum() or typed == "+") and not (
                event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                                     | Qt.KeyboardModifier.MetaModifier)):
            self.search_typed.emit(typed)
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape and (self._drag is not None or self._range is not None):
            self.cancel_drag()
            event.accept()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._request(self.currentIndex())
            event.accept()
            return
        shift_f10 = event.key() == Qt.Key.Key_F10 and event.modifiers() == Qt.KeyboardModifier.ShiftModifier
        if event.key() == Qt.Key.Key_Menu or shift_f10:
            self._request_menu_at_current()
            event.accept()
            return
        super().keyPressEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        """Right click on a block makes it current and asks for its menu; a keyboard context
        menu event acts on the current cell."""
        if event.reason() != QContextMenuEvent.Reason.Mouse:
            self._request_menu_at_current()
            event.accept()
            return
        index = self.indexAt(event.pos())  # delivered through the viewport: viewport coordinates
        appt = self._menu_appointment(index)
        if appt is None:
            event.ignore()
            return
        self.setCurrentIndex(index)
        self.appointment_menu_requested.emit(appt, event.globalPos())
        event.accept()

    def _menu_appointment(self, index: QModelIndex) -> AppointmentView | None:
        """The appointment a context menu on ``index`` is about: its block's, else the cancelled
        one outlined there, else ``None``."""
        model = self.grid_model()
        if model is None or not index.isValid():
            return None
        return model.appointment_at(index) or model.cancelled_at(index)

    def _request_menu_at_current(self) -> None:
        index = self.currentIndex()
        appt = self._menu_appointment(index)
        if appt is None:
            return
        self.scrollTo(index)
        rect = self.visualRect(index).intersected(self.viewport().rect())
        where = rect.center() if not rect.isEmpty() else self.viewport().rect().center()
        self.appointment_menu_requested.emit(appt, self.viewport().mapToGlobal(where))

    def _request(self, index: QModelIndex) -> None:
        model = self.grid_model()
        if model is None or not index.isValid():
            return
        appt = model.appointment_at(index)
        if appt is not None:
            self.appointment_activated.emit(appt)
            return
        instant = model.cell_instant(index.row(), index.column())
        if instant is not None:  # a wall-clock time the clocks skip that day books nothing
            self._requested_length = None
            self.booking_requested.emit(instant, model.columns[index.column()])

    # -- dragging over free cells ----------------------------------------------------------------
    def _free(self, row: int, col: int) -> bool:
        """Whether cell (``row``, ``col``) may be part of a range: on the grid, no block, a time that exists."""
        model = self.grid_model()
        return (model is not None and 0 <= row < model.rowCount() and 0 <= col < model.columnCount()
                and model.appointment_at(model.index(row, col)) is None
                and model.cell_instant(row, col) is not None)

    def is_selecting_range(self) -> bool:
        """Whether free cells are being dragged over (the left button went past the drag distance)."""
        return self._range is not None and self._range.dragging

    def range_selected(self) -> tuple[datetime, timedelta] | None:
        """(UTC start, length) of the free cells being dragged over, or ``None``."""
        model, drag = self.grid_model(), self._range
        if model is None or drag is None or not drag.dragging:
            return None
        first, last = drag.rows()
        start = model.cell_instant(first, drag.column)
        end = model.cell_instant(last, drag.column)
        if start is None or end is None:
            return None
        return start, end + timedelta(minutes=15) - start

    def _extend_range(self, drag: _RangeDrag, row: int) -> None:
        """Move the range's end toward ``row``, stopping before a block or a skipped time."""
        step = 1 if row >= drag.anchor else -1
        end = drag.anchor
        while end != row and self._free(end + step, drag.column):
            end += step
        if end != drag.end:
            drag.end = end
            self.viewport().update()

    # -- dragging a block ----------------------------------------------------------------------
    @staticmethod
    def drop_resource_kind_allowed(appointment: AppointmentView, resource: GridResource) -> bool:
        """Whether ``appointment`` may be dropped on ``resource``'s column: its service books
        a resource of that kind."""
        return resource.kind in appointment.resources

    def drop_refusal(self) -> str | None:
        """Why the place under the block being dragged cannot take it, from what the grid has
        loaded (no database round trip): ``"wrong kind"`` (a column of a kind its service does
        not book), ``"busy"`` (another block there), ``"time off"``, ``"off shift"`` (a doctor
        not working then), ``"closed"`` (the branch closed), ``"no such time"`` (a DST gap) or
        ``"off the grid"``; ``None`` when it looks free, or when nothing is dragged."""
        model, drag = self.grid_model(), self._drag
        if model is None or drag is None or not drag.dragging or drag.target is None:
            return None
        row, col = drag.target
        resource = model.columns[col]
        if not self.drop_resource_kind_allowed(drag.appointment, resource):
            return "wrong kind"
        top = row - drag.offset_rows
        if top < 0 or top + drag.rows > model.rowCount():
            return "off the grid"
        reasons = []
        for r in range(top, top + drag.rows):
            other = model.appointment_at(model.index(r, col))
            if other is not None and other.id != drag.appointment.id:
                return "busy"
            start = model.cell_instant(r, col)
            if start is None:
                reasons.append("no such time")
                continue
            state = model.cell_state(r, col)
            if state == "off":
                reasons.append("time off")
            elif state == "closed":
                works = resource.is_available(start, start + timedelta(minutes=15))
                reasons.append("closed" if works or resource.kind != "doctor" else "off shift")
        return reasons[0] if reasons else None

    def is_dragging(self) -> bool:
        """Whether a block is being dragged (the left button went past the drag distance; free
        cells dragged over are :meth:`is_selecting_range`)."""
        return self._drag is not None and self._drag.dragging

    def cancel_drag(self) -> None:
        """Forget the block (or the free cells) being pressed or dragged (no request); the block
        stays where it is."""
        if self._drag is None and self._range is None:
            return
        self._drag = None
        self._range = None
        self.viewport().unsetCursor()
        self.viewport().update()

    def _drop_start(self, drag: _BlockDrag, row: int, col: int) -> datetime | None:
        """The UTC start that puts the grabbed row of the block on cell (``row``, ``col``), or
        ``None`` off the cells or on a wall-clock time that does not exist that day."""
        model = self.grid_model()
        if model is None or not 0 <= row < model.rowCount() or not 0 <= col < model.columnCount():
            return None
        instant = model.cell_instant(row, col)
        if instant is None:
            return None
        return instant - (drag.grabbed_at - drag.appointment.start)

    def _block_rows(self, appointment: AppointmentView, row: int, col: int) -> tuple[int, int]:
        """(first row, rows) of the block covering (``row``, ``col``) in this column."""
        model = self.grid_model()
        assert model is not None
        first = row
        while first > 0 and (a := model.appointment_at(model.index(first - 1, col))) is not None \
                and a.id == appointment.id:
            first -= 1
        return first, max(1, self.rowSpan(first, col))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """A left press on a movable block may start a drag, one on an empty cell a range of free
        cells (selection works as usual)."""
        self.cancel_drag()
        super().mousePressEvent(event)
        model = self.grid_model()
        if model is None or event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position().toPoint()
        index = self.indexAt(pos)
        appt = model.appointment_at(index) if index.isValid() else None
        if appt is None and index.isValid() and self._free(index.row(), index.column()):
            self._range = _RangeDrag(index.column(), index.row(), pos, index.row())
            return
        if appt is None or appt.status not in MOVABLE_STATUSES:
            return  # an arrived patient's block (or a free cell) does not move
        # indexAt gives the anchor of a spanned block; the row under the mouse is the grab row.
        row = self.rowAt(pos.y())
        first, rows = self._block_rows(appt, index.row(), index.column())
        row = min(max(row, first), first + rows - 1)
        grabbed_at = model.cell_instant(row, index.column())
        if grabbed_at is None:  # a row the clocks skip inside the block (week view): grab its top
            row, grabbed_at = first, appt.start
        self._drag = _BlockDrag(appt, pos, grabbed_at, row - first, rows)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Past the drag distance, the pressed block follows the mouse as a drop outline (or the
        range of free cells grows and shrinks with it, in the pressed column)."""
        pos = event.position().toPoint()
        span = self._range
        if span is not None:
            if not span.dragging:
                if (pos - span.press_pos).manhattanLength() < QApplication.startDragDistance():
                    super().mouseMoveEvent(event)
                    return
                span.dragging = True
                self.viewport().update()
            row = self.rowAt(pos.y())
            if row < 0:
                model = self.grid_model()
                row = 0 if pos.y() < 0 or model is None else model.rowCount() - 1
            self._extend_range(span, row)
            event.accept()  # the pressed cell stays current; no drag-selection of cells
            return
        drag = self._drag
        if drag is None:
            super().mouseMoveEvent(event)
            return
        if not drag.dragging:
            if (pos - drag.press_pos).manhattanLength() < QApplication.startDragDistance():
                super().mouseMoveEvent(event)
                return
            drag.dragging = True
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        row, col = self.rowAt(pos.y()), self.columnAt(pos.x())
        target = (row, col) if row >= 0 and col >= 0 else None
        if target != drag.target:
            drag.target = target
            refused = self.drop_refusal() is not None
            self.viewport().setCursor(Qt.CursorShape.ForbiddenCursor if refused else Qt.CursorShape.ClosedHandCursor)
            self.viewport().update()
        event.accept()  # no drag-selection of cells meanwhile

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """Dropping a dragged block asks for the move (``move_requested``); releasing a range of
        free cells asks to book there (``booking_requested`` at its start, with
        :meth:`requested_length`)."""
        drag, model = self._drag, self.grid_model()
        span, selected = self._range, self.range_selected()
        self.cancel_drag()
        super().mouseReleaseEvent(event)
        if span is not None and span.dragging and selected is not None and model is not None \
                and event.button() == Qt.MouseButton.LeftButton:
            start, length = selected
            self.setCurrentIndex(model.index(span.rows()[0], span.column))
            self._requested_length = length
            self.booking_requested.emit(start, model.columns[span.column])
            return
        if drag is None or not drag.dragging or model is None or event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position().toPoint()
        row, col = self.rowAt(pos.y()), self.columnAt(pos.x())
        new_start = self._drop_start(drag, row, col)
        if new_start is None:
            return  # dropped off the cells
        resource = model.columns[col]
        target = None if resource.id in drag.appointment.resource_ids.values() else resource
        if new_start == drag.appointment.start and target is None:
            return  # back where it was
        self.move_requested.emit(drag.appointment, new_start, target)
