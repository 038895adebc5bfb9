"""The grid's column header: :class:`GridHeader`, whose lines each end in "…" when too wide.

A column's header has two lines (the day view: the resource's name and category; the week view:
the day and the resource's name), centred. Qt's own header either clips a line wider than its
section at both ends (no eliding: the start and the end of a long doctor's name are lost) or
elides the two lines as one string (so a name that fits is cut because the other line is long).
This header elides each line on its own, on the right, to the section's width less the style's
header margins; the header's tooltip (the model's ``ToolTipRole``) still has the whole text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QStyle, QStyleOptionHeader


class GridHeader(QHeaderView):
    """A header (``orientation``, usually horizontal) showing :meth:`shown_text` for each section."""

    def shown_text(self, section: int, text: str | None = None) -> str:
        """What the header shows for logical ``section``: each line of ``text`` (default: the
        model's header text) elided on the right to the section's width less the margins."""
        if text is None:
            model = self.model()
            data = model.headerData(section, self.orientation()) if model is not None else None
            text = "" if data is None else str(data)
        margin = self.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, self)
        width = max(self.sectionSize(section) - 2 * margin, 0)
        metrics = self.fontMetrics()
        return "\n".join(metrics.elidedText(line, Qt.TextElideMode.ElideRight, width) for line in text.split("\n"))

    def initStyleOptionForIndex(self, option: QStyleOptionHeader, logicalIndex: int) -> None:
        """Qt's option for the section, with its text elided line by line (:meth:`shown_text`)."""
        super().initStyleOptionForIndex(option, logicalIndex)
        option.text = self.shown_text(logicalIndex, option.text)
