"""Colors of the day grid (appointment statuses and resource availability) and the one message
label every form shows its refusals in (:class:`MessageLabel`, styled by ``MESSAGE_STYLES``).

Each status has a light fill, a strong accent (the block's left bar and
border) and a text color; fills are light enough for dark text to keep a
contrast ratio above 7:1 (WCAG AAA), accents are distinct in hue *and*
lightness so neighbouring statuses stay apart for color-blind readers.

A hold (``held``) is tentative and expires in minutes: besides its orange it
is drawn with a dashed border (``StatusColors.dashed``, :func:`border_pen`),
so it reads as "not booked yet" on every workstation without relying on hue.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QLabel, QWidget

from ..domain.status import LABELS, STATUSES
from ..services.dayview import MARKER_KINDS


@dataclass(frozen=True)
class StatusColors:
    """``fill``, ``accent`` and ``text`` colors of one status, as ``#rrggbb``; ``dashed``: the block's
    border is dashed (a tentative booking: a hold)."""

    fill: str
    accent: str
    text: str = "#1b1f24"
    dashed: bool = False

    @property
    def fill_color(self) -> QColor:
        """The block's fill as a ``QColor``."""
        return QColor(self.fill)

    @property
    def accent_color(self) -> QColor:
        """The block's accent bar/border as a ``QColor``."""
        return QColor(self.accent)

    @property
    def text_color(self) -> QColor:
        """The block's text as a ``QColor``."""
        return QColor(self.text)


STATUS_COLORS: dict[str, StatusColors] = {
    "requested": StatusColors("#ece6f7", "#7e57c2"),
    "held": StatusColors("#fde9cf", "#e07b00", dashed=True),
    "confirmed": StatusColors("#d7e8fb", "#1f6fd1"),
    "payment_pending": StatusColors("#fcf1c2", "#b58900"),
    "checked_in": StatusColors("#d6f0da", "#2e8b3e"),
    "in_progress": StatusColors("#cdeeea", "#00796b"),
    "completed": StatusColors("#e3e7eb", "#5f6f7f"),
    "no_show": StatusColors("#fbdcdc", "#c62828"),
    "cancelled": StatusColors("#f3f3f3", "#9e9e9e", "#5a5a5a"),
    "rescheduled": StatusColors("#f3f3f3", "#9e9e9e", "#5a5a5a"),
}
assert set(STATUS_COLORS) == set(STATUSES)

#: Statuses shown in the legend: those that occupy time on the grid, in lifecycle order.
LEGEND_STATUSES: tuple[str, ...] = ("requested", "held", "confirmed", "payment_pending", "checked_in",
                                    "in_progress", "completed", "no_show")

#: A working (open) cell.
OPEN = QColor("#ffffff")
#: A cell outside opening hours or the resource's shift, or on a holiday.
CLOSED = QColor("#eceef1")
#: A cell during the resource's time off (painted with a hatch of ``TIME_OFF_HATCH`` on top).
TIME_OFF = QColor("#f6e7e7")
TIME_OFF_HATCH = QColor("#e3b5b5")
#: A wall-clock time that does not exist on that day (clocks go forward) in the week view.
MISSING = QColor("#dfe2e6")
#: The vertical line between two days of the week view.
DAY_LINE = QColor("#7d8590")
#: Grid lines: quarter hours and full hours.
LINE = QColor("#e2e5e9")
HOUR_LINE = QColor("#b9bfc7")
#: The current-time line.
NOW_LINE = QColor("#d93025")
#: A place that cannot take what is dragged there: the drop outline and its reason.
REFUSAL = QColor("#c62828")


def status_colors(status: str) -> StatusColors:
    """The colors of ``status`` (an unknown status gets the neutral ones of ``completed``)."""
    return STATUS_COLORS.get(status, STATUS_COLORS["completed"])


@functools.lru_cache(maxsize=64)
def border_pen(status: str, width: int = 1) -> QPen:
    """The pen of a block's border: the status's accent, dashed for a hold (``StatusColors.dashed``).
    One pen per status and width, made once (the grid's full repaint draws every block; painters
    copy the pen they are given)."""
    tint = status_colors(status)
    pen = QPen(tint.accent_color, width)
    if tint.dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    return pen


def hold_text(hold_expires_at: datetime | None, tz: tzinfo) -> str:
    """``"On hold until 10:05"`` on ``tz``'s wall clock for a block or tooltip (``""`` without an expiry)."""
    if hold_expires_at is None:
        return ""
    return f"On hold until {hold_expires_at.astimezone(tz):%H:%M}"


def status_label(status: str) -> str:
    """The human label of ``status`` (``LABELS``), or the raw name if unknown."""
    return LABELS.get(status, status)


@dataclass(frozen=True)
class Marker:
    """How an appointment marker (``dayview.MARKER_KINDS``) is shown: ``glyph`` on the block,
    ``label`` in the legend and tooltips, ``color`` (``#rrggbb``) of the glyph."""

    key: str
    glyph: str
    label: str
    color: str

    @property
    def qcolor(self) -> QColor:
        """``color`` as a ``QColor``."""
        return QColor(self.color)


#: The markers in the order blocks, tooltips and the legend show them. For the legend: one entry
#: per marker, e.g. ``QLabel(f"{m.glyph} {m.label}")`` with the glyph in ``m.color``.
MARKERS: tuple[Marker, ...] = (
    Marker("first_visit", "★", "First visit", "#9a6700"),
    Marker("payment_pending", "$", "Payment pending", "#1b6e3a"),
    Marker("reminder_failed", "✉✗", "Reminder failed", "#c62828"),
    Marker("online", "@", "Booked online", "#1f5fa8"),
    Marker("patient_confirmed", "✓", "Patient confirmed", "#1b6e3a"),
    Marker("patient_note", "✎", "Note from the patient", "#6a3d9a"),
)
assert tuple(m.key for m in MARKERS) == MARKER_KINDS
_MARKER_BY_KEY = {m.key: m for m in MARKERS}


def markers_of(keys: frozenset[str] | set[str] | None) -> tuple[Marker, ...]:
    """The ``Marker`` of each key in ``keys``, in ``MARKERS`` order (unknown keys are left out)."""
    if not keys:
        return ()
    return tuple(m for m in MARKERS if m.key in keys)


def marker_text(keys: frozenset[str] | set[str] | None) -> str:
    """Markers in words for tooltips: ``"First visit · Payment pending"`` (``""`` for none)."""
    return " · ".join(m.label for m in markers_of(keys))


def legend_html() -> str:
    """The markers' legend as one rich-text line (glyphs in their colors), for a ``QLabel``."""
    return " &nbsp; ".join(f'<span style="color:{m.color}; font-weight:600">{m.glyph}</span> {m.label}'
                           for m in MARKERS)


#: The boxed message under a form when something was refused (dark red on light red), shared by
#: the dialogs.
ERROR_BOX_STYLE = ("QLabel { color: #8c1d18; background: #fdecea; border: 1px solid #f2b8b5; border-radius: 4px;"
                   " padding: 6px; }")
#: The boxed message after something was done (dark green on light green).
SUCCESS_BOX_STYLE = ("QLabel { color: #1e4620; background: #e3f4e1; border: 1px solid #8cc084; border-radius: 4px;"
                     " padding: 6px; }")
#: A message that informs, without a box.
INFO_STYLE = "QLabel { color: #1b1f24; padding: 6px; }"
#: Red words without a box: the error under one field of a form, or a short note.
ERROR_TEXT_STYLE = "color: #b3261e;"

#: The message kinds (``"error"``, ``"info"``, ``"success"``: ``booking_model.ERROR`` …) and their styles.
MESSAGE_STYLES: dict[str, str] = {"error": ERROR_BOX_STYLE, "info": INFO_STYLE, "success": SUCCESS_BOX_STYLE}


class KindedMessage(Protocol):
    """A message with its kind, e.g. ``booking_model.Message``: ``text`` and ``kind`` (a key of
    ``MESSAGE_STYLES``)."""

    @property
    def text(self) -> str: ...

    @property
    def kind(self) -> str: ...


class MessageLabel(QLabel):
    """The message line under a form, the one every dialog uses: hidden until shown, word-wrapped,
    in ``style`` (default: the red box of ``ERROR_BOX_STYLE``).

    ``object_name``/``accessible_name``: set when given; ``selectable``: the text can be selected
    with the mouse (to copy a refusal into a ticket). :meth:`show_text` and :meth:`show_message`
    set the text (and a kind's style) and show it.
    """

    def __init__(self, object_name: str = "", parent: QWidget | None = None, *, style: str = ERROR_BOX_STYLE,
                 accessible_name: str = "", selectable: bool = False) -> None:
        super().__init__(parent)
        if object_name:
            self.setObjectName(object_name)
        if accessible_name:
            self.setAccessibleName(accessible_name)
        self.setWordWrap(True)
        if selectable:
            self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setStyleSheet(style)
        self.hide()

    def show_text(self, text: str, kind: str | None = None) -> None:
        """Show ``text``, in the style of ``kind`` (a key of ``MESSAGE_STYLES``) when given, else in
        the label's current style."""
        if kind is not None:
            self.setStyleSheet(MESSAGE_STYLES[kind])
        self.setText(text)
        self.show()

    def show_message(self, message: KindedMessage) -> None:
        """Show ``message`` (e.g. a ``booking_model.Message``) in its kind's style."""
        self.show_text(message.text, message.kind)
