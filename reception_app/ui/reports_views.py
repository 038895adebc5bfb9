"""The parts of the manager's reports window that stand on their own: the table model of a report
table, the chart widget, the drill-down dialog, and small helpers the window shares with them.

Only display: the figures are plain values from ``services.reports`` (``Table``, ``Chart``);
the drill-down reads the database on the shared :class:`~.runner.Runner`'s worker threads
(``report_service.drill_down``). Charts are one-page PDFs (``reports.charts.chart_pdf``) drawn at
``CHART_WIDTH_PT`` points wide and rasterized on the GUI thread (``print_preview.PdfPrintJob``)
again only when the width they are shown at changes.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError
from ..reports.charts import chart_height
from ..reports.manager_pdf import format_value, summary_items
from ..services import reports as report_service
from ..services.reports import Chart, ReportData, Table
from ..store.database import Database
from .colors import MessageLabel
from .print_preview import PdfPrintJob
from .runner import Runner

#: The reports offered, in menu order: report name (``report_service.REPORTS``) -> what the picker says.
REPORT_TITLES = {
    "no-show": "No-shows",
    "utilization": "Utilization",
    "cancellations": "Cancellations",
    "load": "Doctor load and branch demand",
    "operations": "Confirmation, follow-up, waitlist and overrides",
}
#: What the branch picker says for "every branch".
ALL_BRANCHES = "All branches"
#: The width of a chart's drawing in points (as on paper); its height is the PDF's (charts.chart_height).
CHART_WIDTH_PT = 480.0
#: Shown-at widths (logical pixels) per chart point: below the first the labels are too small to read,
#: above the second the chart only gets blurrier — it is centred instead.
MIN_SCALE, MAX_SCALE = 1.0, 1.6


def default_period(today: date) -> tuple[date, date]:
    """The period a report opens on: from the Monday four weeks before ``today``'s week to ``today``
    itself (local dates, inclusive; weeks are Monday-based as in the reports) — the last four whole
    weeks and this week so far, so what happened today is in it."""
    this_monday = today - timedelta(days=today.weekday())
    return this_monday - timedelta(days=28), today


def chart_height_pt(chart: Chart, table: Table) -> float:
    """The height (points) the PDF gives ``chart`` of ``table`` at ``CHART_WIDTH_PT`` wide: a row per
    bar when the bars lie down, a row per hour of a heatmap (``reports.charts.chart_height``)."""
    return chart_height(chart, table, CHART_WIDTH_PT)


def summary_text(data: ReportData) -> str:
    """The headline figures of ``data`` in one line (rich text): ``"Appointments: <b>985</b> · …"``, as
    the PDF prints them (``manager_pdf.summary_items``)."""
    return " &nbsp;·&nbsp; ".join(f"{label}: <b>{shown}</b>" for label, shown in summary_items(data))


class ReportTableModel(QAbstractTableModel):
    """One report :class:`~reception_app.services.reports.Table`, read-only, sortable.

    Display: values as printed (``manager_pdf.format_value``: rates as ``42.9%``, hours with one
    decimal, thousands separators); numbers right-aligned. ``Qt.UserRole``: the raw value.
    Sorting keeps each row's drill-down key (:meth:`drill_at`); empty values sort last.
    """

    def __init__(self, table: Table | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self._order: list[int] = list(range(len(table.rows))) if table else []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        """Rows of the table (none under a valid parent)."""
        return 0 if parent.isValid() or self.table is None else len(self._order)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        """Columns of the table."""
        return 0 if parent.isValid() or self.table is None else len(self.table.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        """Column labels; numeric columns' labels right-aligned like their cells."""
        if self.table is None or orientation != Qt.Orientation.Horizontal:
            return None
        column = self.table.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.label
        if role == Qt.ItemDataRole.TextAlignmentRole and column.kind not in ("text", "date"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """A cell: formatted text, alignment, or the raw value (``Qt.UserRole``)."""
        if self.table is None or not index.isValid():
            return None
        column = self.table.columns[index.column()]
        value = self.table.rows[self._order[index.row()]][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return format_value(value, column.kind)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column.kind in ("text", "date"):
                return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by ``column``'s raw values (empty ones last)."""
        if self.table is None or not 0 <= column < len(self.table.columns):
            return
        rows = self.table.rows
        present = [i for i in range(len(rows)) if rows[i][column] is not None]
        missing = [i for i in range(len(rows)) if rows[i][column] is None]
        present.sort(key=lambda i: _sort_key(rows[i][column]), reverse=order == Qt.SortOrder.DescendingOrder)
        self.layoutAboutToBeChanged.emit()
        self._order = present + missing
        self.layoutChanged.emit()

    def set_table(self, table: Table | None) -> None:
        """Show ``table`` (None: nothing) in the report's own row order."""
        self.beginResetModel()
        self.table = table
        self._order = list(range(len(table.rows))) if table else []
        self.endResetModel()

    def source_row(self, row: int) -> int:
        """The index in ``table.rows`` of the row shown at ``row``."""
        return self._order[row]

    def drill_at(self, row: int) -> dict[str, Any] | None:
        """The drill-down key of the row shown at ``row`` (None when the figure has none)."""
        if self.table is None:
            return None
        i = self._order[row]
        return self.table.drill[i] if i < len(self.table.drill) else None


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))


class ChartView(QWidget):
    """One chart on screen: its one-page PDF (``reports.charts.chart_pdf``) rasterized to fit the
    widget's width (between 1 and 1.6 logical pixels per point, centred when wider), keeping the
    aspect ratio. The raster is redone only when the width it is shown at changes.

    Raises ``pypdfium2.PdfiumError`` from the constructor if ``pdf`` is not a readable PDF.
    """

    def __init__(self, pdf: bytes, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pdf = pdf
        self._title = title
        job = PdfPrintJob(pdf, title)   # only open while rasterizing: no PDF stays open with the window
        try:
            self._width_pt, self._height_pt = job.page_size_pt(0)
        finally:
            job.close()
        self._image: QImage | None = None
        self._image_pixels = 0   # the shown width (device pixels) the raster was made for
        self.render_count = 0   # how many times the chart was rasterized (tests: not on every resize)
        self.setAccessibleName(f"Chart: {title}")
        self.setToolTip(title)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(int(self._width_pt * MIN_SCALE))
        self.setFixedHeight(self.heightForWidth(self.minimumWidth()))

    def sizeHint(self) -> QSize:  # noqa: N802
        """The chart at its smallest readable size."""
        width = int(self._width_pt * MIN_SCALE)
        return QSize(width, self.heightForWidth(width))

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        """The height follows the width (the chart keeps its aspect ratio)."""
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        """The height that shows the chart at ``width`` logical pixels."""
        return int(round(self._shown_width(width) * self._height_pt / self._width_pt))

    def _shown_width(self, width: int) -> int:
        return int(min(max(width, self._width_pt * MIN_SCALE), self._width_pt * MAX_SCALE))

    def _target_width(self) -> float:
        """The width the chart is drawn at now: fits the widget's width and, until the layout has
        caught up with a new width, its height too (never cropped)."""
        return max(1.0, min(self._shown_width(self.width()), self.height() * self._width_pt / self._height_pt))

    def image(self) -> QImage:
        """The chart rasterized for the current width (rendered now if not yet)."""
        self._ensure_image()
        assert self._image is not None
        return self._image

    def _ensure_image(self) -> None:
        ratio = self.devicePixelRatioF()
        pixels = int(round(self._target_width() * ratio))
        if self._image is not None and self._image_pixels == pixels:
            return
        job = PdfPrintJob(self._pdf, self._title)
        try:
            image = job.render_page(0, 72.0 * pixels / self._width_pt)
        finally:
            job.close()
        image.setDevicePixelRatio(ratio)
        self._image, self._image_pixels = image, pixels
        self.render_count += 1

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        """Keep the aspect ratio; the raster follows in the next paint if the shown width changed."""
        super().resizeEvent(event)
        height = self.heightForWidth(event.size().width())
        if height != self.height():
            self.setFixedHeight(height)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        """Draw the raster centred (white where the chart does not reach)."""
        painter = QPainter(self)
        try:
            self._ensure_image()
            assert self._image is not None
            shown = self._target_width()
            height = shown * self._height_pt / self._width_pt
            target = QRectF((self.width() - shown) / 2, 0, shown, height)
            painter.fillRect(self.rect(), QColor("white"))
            painter.drawImage(target, self._image)
        finally:
            painter.end()


class DrillDownDialog(QDialog):
    """The appointments behind one figure of a report (``report_service.drill_down``), loaded in the
    background: date and time (the branch's local time), patient, service, doctor, status in words,
    the date it was booked on, whether an SMS reminder was sent (and the branch when the report
    covers every branch). Non-modal; deleted when closed.

    Signals:
        loaded(int): the appointments arrived: how many.
        error_shown(str): an expected error's message, shown in the dialog.
    """

    loaded = Signal(int)
    error_shown = Signal(str)
    #: (column key of the drill-down table, heading) in the order shown.
    COLUMNS = (("start", "Date and time"), ("patient", "Patient"), ("service", "Service"),
               ("doctor", "Doctor"), ("status", "Status"), ("booked_on", "Booked on"),
               ("sms", "SMS reminder sent"))

    def __init__(self, db: Database, runner: Runner, key: dict[str, Any], *, title: str, date_from: date,
                 date_to: date, branch: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Appointments — {title}")
        self.setObjectName("drillDownDialog")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._runner = runner
        self._columns = list(self.COLUMNS) + ([("branch", "Branch")] if branch is None else [])
        self.rows: list[tuple[Any, ...]] = []
        layout = QVBoxLayout(self)
        self.heading = QLabel(f"<b>{escape_html(title)}</b> — {period_label(date_from, date_to)}, "
                              f"{escape_html(branch or ALL_BRANCHES)}")
        self.heading.setWordWrap(True)
        layout.addWidget(self.heading)
        self.status_label = QLabel("Loading the appointments…")
        layout.addWidget(self.status_label)
        self.model = ReportTableModel(None, self)
        self.table = table_view(self.model, "Appointments behind the figure")
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        self.message_label = MessageLabel(accessible_name="Message")
        layout.addWidget(self.message_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(760, 420)
        self.finished.connect(lambda _result: self._runner.discard("reports-drill"))
        self._runner.run(lambda: report_service.drill_down(db, key, date_from=date_from, date_to=date_to,
                                                           branch=branch),
                         on_success=self._on_loaded, on_failure=self._show_error, key="reports-drill",
                         label="report drill-down")

    def _on_loaded(self, found: Table) -> None:
        keys = [c.key for c in found.columns]
        picks = [keys.index(k) for k, _ in self._columns]
        self.rows = [tuple(r[i] for i in picks) for r in found.rows]
        shown = Table("appointments", found.title,
                      [report_service.Column(k, heading) for k, heading in self._columns], self.rows, [])
        self.model.set_table(shown)
        self.table.resizeColumnsToContents()
        more = " (the first ones)" if len(self.rows) >= report_service.DRILL_LIMIT else ""
        self.status_label.setText(f"{len(self.rows)} appointment{'s' if len(self.rows) != 1 else ''}{more}")
        self.loaded.emit(len(self.rows))

    def _show_error(self, error: ClinicError) -> None:
        self.status_label.setText("")
        self.message_label.setText(str(error))
        self.message_label.show()
        self.error_shown.emit(str(error))


def table_view(model: ReportTableModel, name: str) -> QTableView:
    """A read-only, row-selecting, sortable view of ``model`` without row numbers."""
    view = QTableView()
    view.setAccessibleName(name)
    view.setModel(model)
    view.setSortingEnabled(True)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    return view


def escape_html(text: str) -> str:
    """``text`` safe inside rich text: ``&``, ``<`` and ``>`` escaped (quotes left as they are)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def period_label(date_from: date, date_to: date) -> str:
    """``"2016-04-29 to 2016-05-31"``, one date when they are the same."""
    return date_from.isoformat() if date_from == date_to else f"{date_from.isoformat()} to {date_to.isoformat()}"
