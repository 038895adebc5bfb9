"""Painting the grid's cells: :class:`DayGridDelegate` and the cache of rendered cells.

Only display, no logic: every cell is painted from the model's ``PAINT_ROLE`` tuple
(``day_model.PaintInfo``: state, background, span, appointment, hour row, markers, end of a
day group, copy). What a cell looks like:

* the background: white when open, grey when closed, hatched for time off, dotted for a
  wall-clock time that does not exist that day (week view, DST);
* grid lines: light right and bottom edges, a darker top edge on a full hour, a dark right
  edge after the last column of a day (week view);
* at a block's anchor cell (which the view spans over the block's rows): the block — a
  rounded fill in the status colour, the status accent bar at its left, a border (dashed for
  a hold), the patient in bold, the service, the local times when the block is tall enough,
  and the marker glyphs at the right of the first line; a *copy* (the room or equipment column
  of an appointment whose doctor's column is shown too) is muted: its status fill faded halfway
  to white, a thin grey border, no accent bar, grey text, so "All" reads each appointment once;
* on top, the selection: a translucent highlight and a 2-pixel frame.

Speed (``make bench``, grid: a full repaint of a 60-resource day must fit a 16 ms frame): the
view paints only the cells a paint event exposes (``QTableView`` does), and this module renders
an open or closed cell, and each block, into a ``QPixmap`` kept in :class:`CellCache` under a key
of everything that decides its pixels (texts, status, markers, size, font, pixel ratio) the second
time it paints that key (the first time it paints directly: a key seen once — every step of a
window being resized — is not worth a pixmap); a repaint then draws one pixmap per cell. The key is the content, not the appointment id, so
nothing has to be invalidated: a block that changes gets a new key, and a day reloaded after
another workstation's change reuses every block that did not change. Hatched and dotted cells
are drawn directly (their pattern is aligned to the viewport, not to the cell). Colours, pens,
brushes, fonts and font metrics are made once, not per cell.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from ..services.dayview import local_time_text
from ..services.scheduling import AppointmentView
from . import colors
from .day_model import PAINT_ROLE, ScheduleGridModel

_Index = QModelIndex | QPersistentModelIndex

#: Fixed row height of the grid (pixels): one 15-minute step.
ROW_HEIGHT = 24
#: The narrowest a column gets (pixels).
MIN_COLUMN_WIDTH = 150

_LEFT_VCENTER = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_ELIDE_RIGHT = Qt.TextElideMode.ElideRight
_SELECTED = QStyle.StateFlag.State_Selected
_ANTIALIAS = QPainter.RenderHint.Antialiasing
_NO_BRUSH = Qt.BrushStyle.NoBrush

#: A block's copy (``day_model.COPY_ROLE``): its status fill faded, a thin grey border, grey text.
_COPY_PEN = QPen(QColor("#b8c0c8"), 1)
_COPY_TEXT = QColor("#6b7480")

#: How many keys painted once (and not cached) are remembered before the set starts again.
_SEEN_LIMIT = 20_000
#: (x offset, width, glyph, colour) of each marker glyph of a block, left to right.
MarkerParts = tuple[tuple[int, int, str, QColor], ...]


class CellCache:
    """Rendered cells by content key, least recently used dropped first beyond ``budget_bytes``.

    ``get`` returns the cached ``QPixmap`` or ``None``; ``put`` stores one. The budget counts
    4 bytes a device pixel (32 MB by default: the blocks of a 60-resource day at 150 x 24
    pixels take about 20 MB, so a day scrolled end to end stays cached).
    """

    def __init__(self, budget_bytes: int = 32 * 1024 * 1024) -> None:
        self._items: OrderedDict[Hashable, tuple[QPixmap, int]] = OrderedDict()
        self._budget = budget_bytes
        self._used = 0

    def get(self, key: Hashable) -> QPixmap | None:
        """The pixmap stored under ``key`` (now the most recently used), or ``None``."""
        got = self._items.get(key)
        if got is None:
            return None
        self._items.move_to_end(key)
        return got[0]

    def put(self, key: Hashable, pixmap: QPixmap) -> None:
        """Store ``pixmap`` under ``key``, dropping the least recently used beyond the budget."""
        cost = pixmap.width() * pixmap.height() * 4
        old = self._items.pop(key, None)
        if old is not None:
            self._used -= old[1]
        self._items[key] = (pixmap, cost)
        self._used += cost
        while self._used > self._budget and len(self._items) > 1:
            _key, (_pix, dropped) = self._items.popitem(last=False)
            self._used -= dropped

    def clear(self) -> None:
        """Forget every pixmap."""
        self._items.clear()
        self._used = 0

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[Hashable]:
        """The keys stored, least recently used first."""
        return list(self._items)


class _Fonts:
    """The regular and bold fonts of one base font, with their metrics and line height."""

    __slots__ = ("bold", "fm", "fm_bold", "key", "line_h", "regular")

    def __init__(self, base: QFont) -> None:
        self.key = base.key()
        self.regular = QFont(base)
        self.bold = QFont(base)
        self.bold.setBold(True)
        self.fm = QFontMetrics(self.regular)
        self.fm_bold = QFontMetrics(self.bold)
        self.line_h = self.fm.height()


class _Tint:
    """A status's colours as ready ``QColor``\\ s and its border pen."""

    __slots__ = ("accent", "copy_fill", "fill", "pen", "text")

    def __init__(self, status: str) -> None:
        tint = colors.status_colors(status)
        self.fill, self.accent, self.text = tint.fill_color, tint.accent_color, tint.text_color
        # A copy's fill: the status fill faded halfway to white (the status still reads, quietly).
        f = self.fill
        self.copy_fill = QColor((f.red() + 255) // 2, (f.green() + 255) // 2, (f.blue() + 255) // 2)
        self.pen = colors.border_pen(status)  # dashed for a hold


class DayGridDelegate(QStyledItemDelegate):
    """Paints one cell of the grid (a block's anchor cell covers all its rows); see the module
    docstring for what a cell shows and how repaints are kept cheap.

    Everything comes from the model's ``PAINT_ROLE`` (one call per cell, cached there).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fonts: dict[str, _Fonts] = {}
        self._tints: dict[str, _Tint] = {}
        self._marker_layouts: dict[tuple[str, tuple[colors.Marker, ...]], tuple[int, MarkerParts]] = {}
        self._cells = CellCache()
        self._seen: set[Hashable] = set()  # keys painted once, not cached yet
        self._line_pen = QPen(colors.LINE, 1)
        self._hour_pen = QPen(colors.HOUR_LINE, 1)
        self._day_pen = QPen(colors.DAY_LINE, 1)
        self._off_brush = QBrush(colors.TIME_OFF_HATCH, Qt.BrushStyle.BDiagPattern)
        self._missing_brush = QBrush(colors.HOUR_LINE, Qt.BrushStyle.Dense6Pattern)

    # -- cached resources -------------------------------------------------------------------
    def _fonts_for(self, base: QFont) -> _Fonts:
        key = base.key()
        got = self._fonts.get(key)
        if got is None:
            got = self._fonts[key] = _Fonts(base)
        return got

    def _tint(self, status: str) -> _Tint:
        got = self._tints.get(status)
        if got is None:
            got = self._tints[status] = _Tint(status)
        return got

    def _marker_layout(self, fonts: _Fonts, markers: tuple[colors.Marker, ...]) -> tuple[int, MarkerParts]:
        """(total width, ((x offset, width, glyph, color), …)) of a block's marker glyphs."""
        key = (fonts.key, markers)
        got = self._marker_layouts.get(key)
        if got is None:
            parts, x = [], 0
            for m in markers:
                w = fonts.fm_bold.horizontalAdvance(m.glyph)
                parts.append((x, w, m.glyph, m.qcolor))
                x += w + 3
            got = self._marker_layouts[key] = (max(0, x - 3), tuple(parts))
        return got

    def cached_cells(self) -> int:
        """How many rendered cells are kept (for tests and benchmarks)."""
        return len(self._cells)

    def cached_blocks(self) -> int:
        """How many of them are appointment blocks (the rest are open or closed cells)."""
        return sum(1 for k in self._cells.keys() if isinstance(k, tuple) and k[0] == "block")

    def clear_cache(self) -> None:
        """Forget every rendered cell and every cell painted once (the next paint is a cold one)."""
        self._cells.clear()
        self._seen.clear()

    # -- painting ----------------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        """The cell (from the cache when it can be), then the selection on top."""
        rect: QRect = option.rect  # type: ignore[attr-defined]
        state, background, span, appt, hour_row, markers, day_end, copy = index.data(PAINT_ROLE)
        if state == "off" or state == "missing":
            painter.save()
            self._paint_background(painter, rect, state, background, hour_row, day_end)
            painter.restore()
        else:
            w, h = rect.width(), rect.height()
            if w > 0 and h > 0:
                dpr = painter.device().devicePixelRatioF()
                base: QFont = option.font  # type: ignore[attr-defined]
                if state == "appointment" and span:
                    assert appt is not None
                    fonts = self._fonts_for(base)
                    tz = _model_tz(index)
                    key: Hashable = ("block", appt.patient, appt.service, appt.status, appt.start, appt.end,
                                     tz, markers, hour_row, day_end, copy, w, h, fonts.key, dpr)
                else:
                    fonts, tz = None, None
                    key = (state, background.rgba(), hour_row, day_end, w, h, dpr)
                pixmap = self._cells.get(key)
                if pixmap is None and key not in self._seen:
                    # First sighting: paint directly, as cheap as it gets. Only a cell painted again
                    # unchanged (a repaint, a reload, scrolling back) is worth a pixmap; a window being
                    # resized makes new sizes on every step and never pays for pixmaps.
                    if len(self._seen) >= _SEEN_LIMIT:
                        self._seen.clear()
                    self._seen.add(key)
                    painter.save()
                    self._paint_background(painter, rect, state, background, hour_row, day_end)
                    if fonts is not None and appt is not None:
                        self._paint_block(painter, rect, appt, markers, fonts, tz, copy)
                    painter.restore()
                else:
                    if pixmap is None:
                        pixmap = self._render(w, h, dpr, state, background, span, appt, hour_row, markers,
                                              day_end, fonts, tz, copy)
                        self._cells.put(key, pixmap)
                    painter.drawPixmap(rect.topLeft(), pixmap)
        if option.state & _SELECTED:  # type: ignore[attr-defined]
            painter.save()
            highlight = QColor(option.palette.highlight().color())  # type: ignore[attr-defined]
            highlight.setAlpha(40)
            painter.fillRect(rect, highlight)
            highlight.setAlpha(200)
            painter.setPen(QPen(highlight, 2))
            painter.setBrush(_NO_BRUSH)
            painter.drawRect(rect.adjusted(1, 1, -1, -1))
            painter.restore()

    def _render(self, w: int, h: int, dpr: float, state: str, background: QColor, span: int,
                appt: AppointmentView | None, hour_row: bool, markers: tuple[colors.Marker, ...],
                day_end: bool, fonts: _Fonts | None, tz: ZoneInfo | None, copy: bool = False) -> QPixmap:
        """One open or closed cell, or one block's anchor cell, as a ``w`` x ``h`` pixmap."""
        pixmap = QPixmap(max(1, round(w * dpr)), max(1, round(h * dpr)))
        pixmap.setDevicePixelRatio(dpr)
        rect = QRect(0, 0, w, h)
        p = QPainter(pixmap)
        self._paint_background(p, rect, state, background, hour_row, day_end)
        if state == "appointment" and span and appt is not None and fonts is not None:
            self._paint_block(p, rect, appt, markers, fonts, tz, copy)
        p.end()
        return pixmap

    def _paint_background(self, painter: QPainter, rect: QRect, state: str, background: QColor | None,
                          hour_row: bool, day_end: bool) -> None:
        """Shading and grid lines of a cell."""
        if state == "appointment":
            painter.fillRect(rect, colors.OPEN)
        else:
            painter.fillRect(rect, background or colors.OPEN)
            if state == "off":
                painter.fillRect(rect, self._off_brush)
            elif state == "missing":
                painter.fillRect(rect, self._missing_brush)
        painter.setPen(self._day_pen if day_end else self._line_pen)
        painter.drawLine(rect.topRight(), rect.bottomRight())
        if day_end:
            painter.setPen(self._line_pen)
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        if hour_row:
            painter.setPen(self._hour_pen)
            painter.drawLine(rect.topLeft(), rect.topRight())

    def _paint_block(self, painter: QPainter, rect: QRect, appt: AppointmentView,
                     markers: tuple[colors.Marker, ...], fonts: _Fonts, tz: ZoneInfo | None,
                     copy: bool = False) -> None:
        """The block of ``appt`` over ``rect`` (its anchor cell spanned over its rows); ``copy``:
        muted (see the module docstring)."""
        tint = self._tint(appt.status)
        block = rect.adjusted(3, 2, -3, -2)
        painter.setRenderHint(_ANTIALIAS, True)
        path = QPainterPath()
        path.addRoundedRect(block.adjusted(0, 0, -1, -1), 4, 4)
        if copy:
            painter.fillPath(path, tint.copy_fill)
            painter.setPen(_COPY_PEN)
            painter.drawPath(path)
        else:
            painter.fillPath(path, tint.fill)
            # The status accent bar, inset past the rounded corners.
            painter.fillRect(QRect(block.left() + 1, block.top() + 2, 3, block.height() - 4), tint.accent)
            painter.setPen(tint.pen)
            painter.drawPath(path)
        painter.setRenderHint(_ANTIALIAS, False)

        text_rect = block.adjusted(9, 2, -5, -1)
        font, bold, fm, fm_bold, line_h = fonts.regular, fonts.bold, fonts.fm, fonts.fm_bold, fonts.line_h
        one_line = text_rect.height() < 2 * line_h
        first_w = text_rect.width()
        if markers:
            # Marker glyphs at the right end of the first line; the name gives way to them.
            marks_w, parts = self._marker_layout(fonts, markers)
            if marks_w + 24 <= text_rect.width():
                first_w -= marks_w + 4
                x0 = text_rect.right() + 1 - marks_w
                y = text_rect.top() if not one_line else text_rect.top() + (text_rect.height() - line_h) // 2
                painter.setFont(bold)
                for dx, w, glyph, color in parts:
                    painter.setPen(color)
                    painter.drawText(QRect(x0 + dx, y, w + 1, line_h), _LEFT_VCENTER, glyph)
        painter.setPen(_COPY_TEXT if copy else tint.text)
        if one_line:
            # One line: "Patient · Service"
            painter.setFont(bold)
            name = fm_bold.elidedText(appt.patient, _ELIDE_RIGHT, first_w)
            painter.drawText(QRect(text_rect.left(), text_rect.top(), first_w, text_rect.height()),
                             _LEFT_VCENTER, name)
            rest = first_w - fm_bold.horizontalAdvance(name)
            if rest > 30:
                painter.setFont(font)
                service = fm.elidedText(f" · {appt.service}", _ELIDE_RIGHT, rest)
                painter.drawText(QRect(text_rect.left() + first_w - rest, text_rect.top(), rest, text_rect.height()),
                                 _LEFT_VCENTER, service)
            return
        lines = [(bold, fm_bold, appt.patient, first_w), (font, fm, appt.service, text_rect.width())]
        if text_rect.height() >= 3 * line_h and tz is not None:  # tall enough for the times too
            lines.append((font, fm, _times(appt.start, appt.end, tz), text_rect.width()))
        y = text_rect.top()
        for f, metrics, content, width in lines:
            painter.setFont(f)
            shown = metrics.elidedText(content, _ELIDE_RIGHT, width)
            painter.drawText(QRect(text_rect.left(), y, width, line_h), _LEFT_VCENTER, shown)
            y += line_h

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        """Fixed rows; width from the column minimum."""
        return QSize(MIN_COLUMN_WIDTH, ROW_HEIGHT)


def _model_tz(index: _Index) -> ZoneInfo | None:
    model = index.model()
    return model.tz if isinstance(model, ScheduleGridModel) else None


def _times(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    return f"{local_time_text(start, tz)}–{local_time_text(end, tz)}"

