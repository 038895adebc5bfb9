"""The grid's legend: what each color and marker means.

One word-wrapped rich-text label, so the legend flows onto a second line in a
narrow window instead of forcing the window wider than the screen.
"""

from __future__ import annotations

from html import escape

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QWidget

from . import colors


def _unbroken(text: str) -> str:
    """``text`` escaped for rich text with non-breaking spaces, so a wrapping legend breaks only
    between entries, never inside one ("No such time (clock / change)")."""
    return escape(text).replace(" ", "&nbsp;")


def _swatch(fill: QColor, accent: QColor, label: str) -> str:
    """A colored square (the accent bar on the block's fill) and its label, as rich text."""
    return (f'<span style="background-color:{fill.name()}; color:{accent.name()}">&#9612;&nbsp;&nbsp;</span>'
            f"&nbsp;{_unbroken(label)}")


def _marker(glyph: str, color: str, label: str) -> str:
    """A marker glyph in its color and its label, as rich text."""
    return f'<span style="color:{color}; font-weight:600">{escape(glyph)}</span>&nbsp;{_unbroken(label)}'



def legend_entries() -> list[tuple[QColor, QColor, str]]:
    """(fill, accent, label) for every status shown on the grid, then the shadings."""
    entries = [(colors.status_colors(s).fill_color, colors.status_colors(s).accent_color, colors.status_label(s))
               for s in colors.LEGEND_STATUSES]
    entries += [(colors.CLOSED, colors.HOUR_LINE, "Closed / not on shift"),
                (colors.TIME_OFF, QColor("#e3b5b5"), "Time off"),
                (colors.MISSING, colors.HOUR_LINE, "No such time (clock change)")]
    return entries


def legend_html() -> str:
    """The whole legend as rich text: status swatches, shadings, the markers, then how a
    cancelled appointment and a block's copy look."""
    parts = [_swatch(fill, accent, label) for fill, accent, label in legend_entries()]
    parts += [_marker(m.glyph, m.color, m.label) for m in colors.MARKERS]
    parts.append('<span style="color:#6e7882; border:1px dashed #6e7882">&nbsp;<s>Name</s>&nbsp;</span>'
                 f"&nbsp;{_unbroken('Cancelled (View ▸ Show cancelled)')}")
    parts.append(f'<span style="color:#6b7480; background-color:#f1f3f5">&nbsp;Name&nbsp;</span>'
                 f"&nbsp;{_unbroken('Copy in a room or equipment column')}")
    return " &nbsp;&nbsp; ".join(parts)


def legend_widget(parent: QWidget | None = None) -> QLabel:
    """The legend row under the grid (wraps when the window is narrow)."""
    label = QLabel(legend_html(), parent)
    label.setObjectName("legend")
    label.setAccessibleName("Legend: appointment colors and markers")
    label.setWordWrap(True)
    label.setStyleSheet("QLabel#legend { color: #3b4450; padding: 2px 4px; }")
    return label
