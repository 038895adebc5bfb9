"""The day grid widget: a ``QTableView`` over :class:`~.day_model.DayGridModel` and its delegate.

Only display: the delegate paints open/closed shading, quarter-hour and hour
lines, and appointment blocks (status fill, accent bar, patient, service,
local time); the view spans each block over its rows, draws the current-time
line, and turns double-clicks and context-menu gestures into requests (the
window decides what to do with them).
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QContextMenuEvent,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from ..services.dayview import local_time_text
from . import colors
from .day_model import APPOINTMENT_ROLE, CELL_STATE_ROLE, SPAN_ROLE, DayGridModel

_Index = QModelIndex | QPersistentModelIndex

ROW_HEIGHT = 24
MIN_COLUMN_WIDTH = 150


class DayGridDelegate(QStyledItemDelegate):
    """Paints one cell of the day grid (a block's anchor cell covers all its rows)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        """Shading, grid lines, the block if any, and the selection."""
        model = index.model()
        rect: QRect = option.rect  # type: ignore[attr-defined]
        state = index.data(CELL_STATE_ROLE)
        painter.save()
        if state == "appointment":
            painter.fillRect(rect, colors.OPEN)
        else:
            painter.fillRect(rect, index.data(Qt.ItemDataRole.BackgroundRole) or colors.OPEN)
            if state == "off":
                painter.fillRect(rect, QBrush(QColor("#e3b5b5"), Qt.BrushStyle.BDiagPattern))
        # Grid lines: light right and bottom edges, a darker top edge on full hours.
        painter.setPen(QPen(colors.LINE, 1))
        painter.drawLine(rect.topRight(), rect.bottomRight())
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        if isinstance(model, DayGridModel) and model.is_hour_row(index.row()):
            painter.setPen(QPen(colors.HOUR_LINE, 1))
            painter.drawLine(rect.topLeft(), rect.topRight())
        if state == "appointment" and index.data(SPAN_ROLE):
            self._paint_block(painter, option, index, model)
        if option.state & QStyle.StateFlag.State_Selected:  # type: ignore[attr-defined]
            highlight = QColor(option.palette.highlight().color())  # type: ignore[attr-defined]
            highlight.setAlpha(40)
            painter.fillRect(rect, highlight)
            highlight.setAlpha(200)
            painter.setPen(QPen(highlight, 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(1, 1, -1, -1))
        painter.restore()

    def _paint_block(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index,
                     model: object) -> None:
        appt = index.data(APPOINTMENT_ROLE)
        tint = colors.status_colors(appt.status)
        block = QRect(option.rect).adjusted(3, 2, -3, -2)  # type: ignore[attr-defined]
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        path = QPainterPath()
        path.addRoundedRect(block.adjusted(0, 0, -1, -1), 4, 4)
        painter.fillPath(path, tint.fill_color)
        painter.save()
        painter.setClipPath(path)
        painter.fillRect(QRect(block.left(), block.top(), 4, block.height()), tint.accent_color)
        painter.restore()
        painter.setPen(QPen(tint.accent_color, 1))
        painter.drawPath(path)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

        text_rect = block.adjusted(9, 2, -5, -1)
        font = QFont(option.font)  # type: ignore[attr-defined]
        bold = QFont(font)
        bold.setBold(True)
        fm, fm_bold = QFontMetrics(font), QFontMetrics(bold)
        day = model.day if isinstance(model, DayGridModel) else None
        when = (f"{local_time_text(appt.start, day.tz)}–{local_time_text(appt.end, day.tz)}" if day else "")
        painter.setPen(tint.text_color)
        line_h = fm.height()
        if text_rect.height() < 2 * line_h:
            # One line: "Patient · Service"
            painter.setFont(bold)
            name = fm_bold.elidedText(appt.patient, Qt.TextElideMode.ElideRight, text_rect.width())
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
            rest = text_rect.width() - fm_bold.horizontalAdvance(name)
            if rest > 30:
                painter.setFont(font)
                service = fm.elidedText(f" · {appt.service}", Qt.TextElideMode.ElideRight, rest)
                painter.drawText(text_rect.adjusted(text_rect.width() - rest, 0, 0, 0),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, service)
            return
        lines = [(bold, fm_bold, appt.patient), (font, fm, appt.service)]
        if text_rect.height() >= 3 * line_h:
            lines.append((font, fm, when))
        y = text_rect.top()
        for f, metrics, content in lines:
            painter.setFont(f)
            shown = metrics.elidedText(content, Qt.TextElideMode.ElideRight, text_rect.width())
            painter.drawText(QRect(text_rect.left(), y, text_rect.width(), line_h),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, shown)
            y += line_h

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        """Fixed rows; width from the column minimum."""
        return QSize(MIN_COLUMN_WIDTH, ROW_HEIGHT)


class DayGridView(QTableView):
    """The day grid: blocks spanned over their rows, closed time shaded, the current time marked.

    Signals:
        booking_requested(object, object): a free or closed cell was
            double-clicked (or Enter pressed on it): the row's UTC start
            (``datetime``) and the column's ``GridResource``.
        appointment_activated(object): an appointment block was double-clicked:
            its ``AppointmentView``.
        appointment_menu_requested(object, object): a context menu was asked
            for on an appointment block (right click on it, or the Menu key /
            Shift+F10 on the current cell, which a right click also makes
            current): its ``AppointmentView`` and the global ``QPoint`` to show
            the menu at.
    """

    booking_requested = Signal(object, object)
    appointment_activated = Signal(object)
    appointment_menu_requested = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._now: datetime | None = None
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
        hh = self.horizontalHeader()
        hh.setMinimumSectionSize(MIN_COLUMN_WIDTH)
        hh.setDefaultSectionSize(MIN_COLUMN_WIDTH)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        hh.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        hh.setHighlightSections(False)
        vh.setHighlightSections(False)
        self.doubleClicked.connect(self._on_cell_double_clicked)

    # -- model -----------------------------------------------------------------------
    def setModel(self, model: DayGridModel | None) -> None:  # type: ignore[override]
        """Attach ``model`` and keep the block spans in step with its resets."""
        old = self.model()
        if isinstance(old, DayGridModel):
            old.modelReset.disconnect(self._on_model_reset)
        super().setModel(model)
        if model is not None:
            model.modelReset.connect(self._on_model_reset)
        self._on_model_reset()

    def grid_model(self) -> DayGridModel | None:
        """The ``DayGridModel`` shown, if any."""
        model = self.model()
        return model if isinstance(model, DayGridModel) else None

    def _on_model_reset(self) -> None:
        self.clearSpans()
        model = self.grid_model()
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

    def now_line_y(self) -> int | None:
        """Viewport y of the current-time line, or ``None`` when now is not on the grid."""
        model = self.grid_model()
        if model is None or self._now is None:
            return None
        row = model.row_of(self._now)
        if row is None:
            return None
        start = model.instant_at(row)
        step = (model.instant_at(row + 1) - start) if row + 1 < model.rowCount() else None
        fraction = ((self._now - start) / step) if step else 0.0
        return self.rowViewportPosition(row) + int(fraction * self.rowHeight(row))

    def scroll_to_instant(self, instant: datetime) -> None:
        """Scroll so the row containing ``instant`` is near the top (no-op if not shown)."""
        model = self.grid_model()
        row = model.row_of(instant) if model else None
        if row is not None and model is not None and model.columnCount():
            self.scrollTo(model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtTop)

    def paintEvent(self, event: QPaintEvent) -> None:
        """The cells, then the current-time line on top."""
        super().paintEvent(event)
        y = self.now_line_y()
        if y is None:
            return
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(colors.NOW_LINE, 2))
        painter.drawLine(QPoint(0, y), QPoint(self.viewport().width(), y))
        painter.setBrush(colors.NOW_LINE)
        painter.drawEllipse(QPoint(3, y), 4, 4)
        painter.end()

    # -- requests ------------------------------------------------------------------------
    def _on_cell_double_clicked(self, index: QModelIndex) -> None:
        self._request(index)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter/Return on a cell acts like a double-click; the Menu key and Shift+F10 open the
        current cell's context menu (handled here: not every platform turns them into a context
        menu event)."""
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
        model = self.grid_model()
        appt = model.appointment_at(index) if model is not None and index.isValid() else None
        if appt is None:
            event.ignore()
            return
        self.setCurrentIndex(index)
        self.appointment_menu_requested.emit(appt, event.globalPos())
        event.accept()

    def _request_menu_at_current(self) -> None:
        model = self.grid_model()
        index = self.currentIndex()
        appt = model.appointment_at(index) if model is not None and index.isValid() else None
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
        else:
            self.booking_requested.emit(model.instant_at(index.row()), model.columns[index.column()])
