"""The manager's reports window (issue 6, on screen): pick a report, a period and a branch, run it
in the background, read its headline figures, tables and charts, drill down to the appointments
behind a figure, export a table as CSV, and print or save the whole report as PDF.

Layers: the figures come from ``services.reports`` (one snapshot per run, on the reports
connection the caller hands in); charts, PDF and CSV from ``reports/``. Everything that reads the
database — and the reportlab work of drawing charts and the PDF — runs on the shared
:class:`~.runner.Runner`'s worker threads; this module only shows plain values.

Charts: each chart is drawn once by ``reports.charts.chart_pdf`` (a one-page PDF, on the worker
thread) and rasterized on the GUI thread with :class:`~.print_preview.PdfPrintJob` — the same
pypdfium2 code that feeds the print preview. A chart is rasterized again only when the width
it is shown at changes.

The table model, the chart widget and the drill-down dialog are in ``ui.reports_views`` (re-exported
here).
"""

from __future__ import annotations

import getpass
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError, ValidationError
from ..reports.charts import chart_pdf
from ..reports.csv_export import table_csv
from ..reports.manager_pdf import period_text, report_pdf
from ..services import dayview
from ..services import reports as report_service
from ..services.reports import MAX_DAYS, Chart, ReportData, Table
from ..store.database import Database
from . import local_formats, print_preview
from .colors import MessageLabel
from .reports_views import (
    ALL_BRANCHES,
    CHART_WIDTH_PT,
    MIN_SCALE,
    REPORT_TITLES,
    ChartView,
    DrillDownDialog,
    ReportTableModel,
    chart_height_pt,
    default_period,
    escape_html,
    summary_text,
    table_view,
)
from .roster_dialog import pydate, qdate
from .runner import Clock, Runner

__all__ = ["ReportsWindow", "ReportTableModel", "ChartView", "DrillDownDialog", "REPORT_TITLES",
           "default_period"]

_CRASH_TEXT = "The report could not be made because of an unexpected error; details are in the log file."


@dataclass
class _Outcome:
    """What one run hands back to the GUI thread: the report and each chart drawn as a PDF."""

    data: ReportData
    charts: list[tuple[Chart, Table, bytes]]


class ReportsWindow(QDialog):
    """The manager's reports: picker, period (local dates, inclusive) and branch, Run; then the
    report's headline figures, one of its tables (sortable; double-click a row for the appointments
    behind it), its charts and its definitions; Export CSV… (the table shown), Print / Preview…
    and Save PDF… (the whole report on the shared page template). Non-modal.

    ``db``: the reports connection (``config.reports_connection``, maybe a replica); ``runner``: the
    shared runner; ``clock``: the current aware time (default: now), which sets the default period
    (the last four complete weeks); ``branches``: the branch names offered (default: read from
    ``db`` in the background); ``clinic``/``printed_by``: the printout's header and footer
    (default: no clinic name, the OS user).

    Signals:
        report_loaded(object): a run finished and is shown: its ``ReportData``.
        drill_down_loaded(int): a drill-down dialog listed its appointments: how many.
        error_shown(str): a message shown in the window (bad dates, a database error, …).
        pdf_saved(str): "Save PDF" wrote the report to this path (the window says so).
        csv_saved(str): "Export CSV" wrote the table shown to this path.
    """

    report_loaded = Signal(object)
    drill_down_loaded = Signal(int)
    error_shown = Signal(str)
    pdf_saved = Signal(str)
    csv_saved = Signal(str)

    def __init__(self, db: Database, runner: Runner, *, clock: Clock | None = None,
                 branches: Sequence[str] | None = None, clinic: str = "", printed_by: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Reports")
        self.setObjectName("reportsWindow")
        self.setModal(False)
        self.setWindowFlag(Qt.WindowType.WindowMinMaxButtonsHint, True)
        self._db = db
        self._runner = runner
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self._clinic = clinic
        self._printed_by = printed_by or getpass.getuser()
        self._zones: dict[str, tzinfo] = {}
        self.data: ReportData | None = None
        self.chart_views: list[ChartView] = []
        self.drill_dialog: DrillDownDialog | None = None
        self.print_dialog: QWidget | None = None
        self._running = False
        self._outcome_seen = False
        self._pdf_folder: Path | None = None

        layout = QVBoxLayout(self)
        layout.addLayout(self._build_controls())
        self.message_label = MessageLabel("reportsMessage", accessible_name="Message")
        layout.addWidget(self.message_label)
        self.heading_label = QLabel("Choose a report and a period, then Run.")
        self.heading_label.setAccessibleName("Report")
        self.heading_label.setWordWrap(True)
        layout.addWidget(self.heading_label)
        self.summary_label = QLabel()
        self.summary_label.setAccessibleName("Headline figures")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary_label)
        layout.addWidget(self._build_body(), 1)
        layout.addLayout(self._build_actions())
        self._set_report_actions(False)
        self.resize(1180, 760)

        today = self._clock().astimezone().date()
        d_from, d_to = default_period(today)
        self.from_edit.setDate(qdate(d_from))
        self.to_edit.setDate(qdate(d_to))
        if branches is not None:
            for name in branches:
                self.branch_combo.addItem(name, name)
        else:
            self._runner.run(lambda: dayview.list_branches(self._db), on_success=self._on_branches_loaded,
                             on_failure=self._show_error, key="reports-branches", label="report branches")

    # -- building ---------------------------------------------------------------------------
    def _build_controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.report_combo = QComboBox()
        self.report_combo.setAccessibleName("Report")
        for name, title in REPORT_TITLES.items():
            self.report_combo.addItem(title, name)
        self.from_edit = QDateEdit()
        self.to_edit = QDateEdit()
        for edit, name in ((self.from_edit, "From date"), (self.to_edit, "To date")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat(local_formats.qt_date_format(weekday=False))
            edit.setAccessibleName(name)
        self.branch_combo = QComboBox()
        self.branch_combo.setAccessibleName("Branch")
        self.branch_combo.addItem(ALL_BRANCHES, None)
        self.branch_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for text, widget in (("&Report:", self.report_combo), ("&From:", self.from_edit), ("&To:", self.to_edit),
                             ("&Branch:", self.branch_combo)):
            label = QLabel(text)
            label.setBuddy(widget)
            row.addWidget(label)
            row.addWidget(widget)
        self.run_button = QPushButton("&Run")
        self.run_button.setAccessibleName("Run the report")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run_report)
        row.addWidget(self.run_button)
        self.busy_bar = QProgressBar()
        self.busy_bar.setAccessibleName("Running the report")
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.hide()
        row.addWidget(self.busy_bar)
        row.addStretch(1)
        return row

    def _build_body(self) -> QSplitter:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        pick = QHBoxLayout()
        self.table_combo = QComboBox()
        self.table_combo.setAccessibleName("Table")
        self.table_combo.currentIndexChanged.connect(self._on_table_chosen)
        label = QLabel("T&able:")
        label.setBuddy(self.table_combo)
        pick.addWidget(label)
        pick.addWidget(self.table_combo, 1)
        left_layout.addLayout(pick)
        self.table_model = ReportTableModel(None, self)
        self.table_view = table_view(self.table_model, "Report table")
        self.table_view.horizontalHeader().setSortIndicatorShown(False)
        self.table_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table_view.setToolTip("Double-click a row to list its appointments")
        self.table_view.doubleClicked.connect(self._on_row_double_clicked)
        left_layout.addWidget(self.table_view, 1)
        hint = QLabel("Double-click a row to see the appointments behind it.")
        hint.setStyleSheet("color: #555;")
        left_layout.addWidget(hint)
        splitter.addWidget(left)

        self.chart_area = QScrollArea()
        self.chart_area.setAccessibleName("Charts and definitions")
        self.chart_area.setWidgetResizable(True)
        self.chart_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.chart_area.setFrameShape(QFrame.Shape.StyledPanel)
        inner = QWidget()
        inner.setObjectName("chartPage")
        inner.setStyleSheet("QWidget#chartPage { background: white; }")
        self._chart_layout = QVBoxLayout(inner)
        self._chart_layout.setSpacing(14)
        self.definitions_label = QLabel()
        self.definitions_label.setAccessibleName("Definitions")
        self.definitions_label.setWordWrap(True)
        self.definitions_label.setTextFormat(Qt.TextFormat.RichText)
        self._chart_layout.addWidget(self.definitions_label)
        self._chart_layout.addStretch(1)
        self.chart_area.setWidget(inner)
        self.chart_area.setMinimumWidth(int(CHART_WIDTH_PT * MIN_SCALE) + 40)
        splitter.addWidget(self.chart_area)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([440, 660])
        self.splitter = splitter
        return splitter

    def _build_actions(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.csv_button = QPushButton("Export &CSV…")
        self.csv_button.setAccessibleName("Export the table shown as CSV")
        self.csv_button.clicked.connect(self._on_export_clicked)
        self.print_button = QPushButton("&Print / Preview…")
        self.print_button.setAccessibleName("Print or preview the report")
        self.print_button.clicked.connect(self.print_report)
        self.pdf_button = QPushButton("&Save PDF…")
        self.pdf_button.setAccessibleName("Save the report as PDF")
        self.pdf_button.clicked.connect(self._on_save_pdf_clicked)
        close = QPushButton("Close")
        close.setAccessibleName("Close the reports window")
        close.setAutoDefault(False)
        close.clicked.connect(self.close)
        for button in (self.csv_button, self.print_button, self.pdf_button):
            button.setAutoDefault(False)
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(close)
        return row

    def _set_report_actions(self, enabled: bool) -> None:
        for button in (self.csv_button, self.print_button, self.pdf_button):
            button.setEnabled(enabled)

    # -- choices ----------------------------------------------------------------------------
    def _on_branches_loaded(self, branches: list[dayview.BranchSummary]) -> None:
        for b in branches:
            self.branch_combo.addItem(b.name, b.name)
            self._zones[b.name] = ZoneInfo(b.timezone)

    def set_report(self, name: str) -> None:
        """Choose the report called ``name`` (a key of :data:`REPORT_TITLES`)."""
        self.report_combo.setCurrentIndex(self.report_combo.findData(name))

    def set_period(self, date_from: date, date_to: date) -> None:
        """Set the period's dates (local, inclusive)."""
        self.from_edit.setDate(qdate(date_from))
        self.to_edit.setDate(qdate(date_to))

    def set_branch(self, name: str | None) -> None:
        """Choose the branch called ``name`` (None: all branches)."""
        if name is None:
            self.branch_combo.setCurrentIndex(0)
            return
        index = self.branch_combo.findText(name)
        if index < 0:   # not (yet) listed: offered anyway; the report says if there is no such branch
            self.branch_combo.addItem(name, name)
            index = self.branch_combo.count() - 1
        self.branch_combo.setCurrentIndex(index)

    def _branch(self) -> str | None:
        data = self.branch_combo.currentData()
        return None if data is None else str(data)

    def _check_period(self) -> tuple[date, date] | None:
        d_from, d_to = pydate(self.from_edit.date()), pydate(self.to_edit.date())
        if d_to < d_from:
            self._show_message(f"The “To” date ({d_to.isoformat()}) is before the “From” date "
                               f"({d_from.isoformat()}): choose a “To” date on or after it.")
            self.to_edit.setFocus()
            return None
        if (d_to - d_from).days + 1 > MAX_DAYS:
            self._show_message(f"The period from {d_from.isoformat()} to {d_to.isoformat()} is too long: "
                               f"the “To” date must be at most {MAX_DAYS} days after the “From” date.")
            self.to_edit.setFocus()
            return None
        return d_from, d_to

    # -- running ----------------------------------------------------------------------------
    def run_report(self) -> None:
        """Run the chosen report for the chosen period and branch in the background (a busy bar shows
        meanwhile); when it arrives it is shown and :attr:`report_loaded` emitted. A bad period is
        refused here with a message naming the field."""
        period = self._check_period()
        if period is None:
            return
        d_from, d_to = period
        name, branch, db = str(self.report_combo.currentData()), self._branch(), self._db

        def work() -> _Outcome:
            data = report_service.run_report(db, name, date_from=d_from, date_to=d_to, branch=branch)
            tables = {t.name: t for t in data.tables}
            charts = [(c, tables[c.table], chart_pdf(c, tables[c.table], CHART_WIDTH_PT,
                                                      chart_height_pt(c, tables[c.table])))
                      for c in data.charts if c.table in tables]
            return _Outcome(data, charts)

        self.message_label.hide()
        self._running = True
        self._outcome_seen = False
        self.busy_bar.show()
        self._runner.run(work, on_success=self._on_report_loaded, on_failure=self._on_run_failed,
                         on_finished=self._on_run_finished, key="reports-run", label=f"report {name}")

    def _on_run_failed(self, error: ClinicError) -> None:
        self._outcome_seen = True
        self._show_error(error)

    def _on_run_finished(self) -> None:
        self._running = False
        self.busy_bar.hide()
        if not self._outcome_seen:   # a bug: the runner logged it; say so here in plain words
            self._show_message(_CRASH_TEXT)

    @property
    def running(self) -> bool:
        """Whether a run is under way."""
        return self._running

    def _on_report_loaded(self, outcome: _Outcome) -> None:
        self._outcome_seen = True
        data = outcome.data
        self.data = data
        self.heading_label.setText(f"<span style='font-size: 13pt'><b>{escape_html(data.title)}</b></span> — "
                                   f"{escape_html(period_text(data))}, {escape_html(data.branch or ALL_BRANCHES)}")
        self.summary_label.setText(summary_text(data))
        self.table_combo.blockSignals(True)
        self.table_combo.clear()
        for t in data.tables:
            self.table_combo.addItem(t.title, t.name)
        self.table_combo.blockSignals(False)
        self.table_combo.setCurrentIndex(0 if data.tables else -1)
        self._on_table_chosen(self.table_combo.currentIndex())
        self._show_charts(outcome.charts)
        self.definitions_label.setText(
            "<p><b>Definitions</b></p>" + "".join(f"<p style='color:#333'>{escape_html(s)}</p>"
                                                   for s in data.definitions))
        self._set_report_actions(True)
        self.report_loaded.emit(data)

    def _show_charts(self, charts: list[tuple[Chart, Table, bytes]]) -> None:
        for view in self.chart_views:
            self._chart_layout.removeWidget(view)
            view.hide()   # removed from the layout it would still paint until deleted
            view.deleteLater()
        self.chart_views = []
        for i, (chart, _table, pdf) in enumerate(charts):
            view = ChartView(pdf, chart.title)
            self._chart_layout.insertWidget(i, view)
            self.chart_views.append(view)
        self.chart_area.verticalScrollBar().setValue(0)

    # -- the table ------------------------------------------------------------------------------
    def _on_table_chosen(self, index: int) -> None:
        table = self.data.tables[index] if self.data is not None and 0 <= index < len(self.data.tables) else None
        self.table_model.set_table(table)
        self.table_view.horizontalHeader().setSortIndicatorShown(False)

    def current_table(self) -> Table | None:
        """The report table shown (None before a run)."""
        return self.table_model.table

    def show_table(self, name: str) -> None:
        """Show the report's table called ``name`` (``KeyError`` when the report has none)."""
        index = self.table_combo.findData(name)
        if index < 0:
            raise KeyError(name)
        self.table_combo.setCurrentIndex(index)

    def _on_row_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_drill_down(index.row())

    def open_drill_down(self, row: int) -> DrillDownDialog | None:
        """Open the appointments behind row ``row`` (as shown, after sorting) of the table shown, loaded
        in the background; None (and a message) when the row has no drill-down."""
        table, data = self.table_model.table, self.data
        if table is None or data is None:
            return None
        key = self.table_model.drill_at(row)
        label = str(table.rows[self.table_model.source_row(row)][0])
        if key is None:
            self._show_message(f"“{label}” is not made of single appointments to list.")
            return None
        self.message_label.hide()
        dialog = DrillDownDialog(self._db, self._runner, key, title=f"{table.title}: {label}",
                                 date_from=data.date_from, date_to=data.date_to, branch=data.branch, parent=self)
        dialog.loaded.connect(self.drill_down_loaded)
        dialog.error_shown.connect(self.error_shown)
        dialog.destroyed.connect(lambda *_: self._forget_drill(dialog))
        self.drill_dialog = dialog
        dialog.show()
        return dialog

    def _forget_drill(self, dialog: DrillDownDialog) -> None:
        if self.drill_dialog is dialog:
            self.drill_dialog = None

    # -- export, print, save ----------------------------------------------------------------------
    def _suggested_name(self, ext: str) -> str:
        data = self.data
        if data is None:
            return f"report.{ext}"
        table = self.table_model.table
        part = f"-{table.name}" if ext == "csv" and table is not None else ""
        return f"{data.name}{part}-{data.date_from.isoformat()}-{data.date_to.isoformat()}.{ext}"

    def _on_export_clicked(self) -> None:
        if self.table_model.table is None:
            return
        dialog = QFileDialog(self, "Export CSV…", self._suggested_name("csv"), "CSV files (*.csv)")
        dialog.setObjectName("exportCsvDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("csv")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self.export_csv)
        dialog.open()

    def export_csv(self, path: str | Path) -> bool:
        """Write the table shown to ``path`` as CSV (``reports.csv_export.table_csv``: UTF-8, raw values,
        the report's row order). Returns whether it was written; a failure is shown in plain words."""
        table = self.table_model.table
        if table is None:
            self._show_message("Run a report first: there is no table to export.")
            return False
        try:
            with open(path, "w", encoding="utf-8", newline="") as out:
                out.write(table_csv(table))
        except OSError as exc:
            self._show_message(f"The CSV could not be saved to {path}: {exc.strerror or exc}.")
            return False
        self.csv_saved.emit(str(path))
        return True

    def _pdf_work(self) -> Callable[[], bytes] | None:
        data = self.data
        if data is None:
            self._show_message("Run a report first: there is nothing to print.")
            return None
        now, clinic, by = self._clock(), self._clinic, self._printed_by
        tz = self._zones.get(data.branch or "") or next(iter(self._zones.values()), None) or \
            now.astimezone().tzinfo or UTC
        return lambda: report_pdf(data, clinic=clinic, printed_by=by, printed_at=now, tz=tz)

    def _pdf_title(self) -> str:
        data = self.data
        return "Report" if data is None else f"{data.title}, {period_text(data)}"

    def print_report(self) -> None:
        """Make the report's PDF in the background, then open the print preview (``ui.print_preview``)."""
        work = self._pdf_work()
        if work is not None:
            self._runner.run(work, on_success=self._on_print_pdf, on_failure=self._show_error,
                             key="reports-pdf", label="report PDF")

    def _on_print_pdf(self, pdf: bytes) -> None:
        self.print_dialog = print_preview.preview_pdf(self, pdf, self._pdf_title())

    def _on_save_pdf_clicked(self) -> None:
        work = self._pdf_work()
        if work is not None:
            self._runner.run(work, on_success=lambda pdf: self._ask_pdf_path(pdf), on_failure=self._show_error,
                             key="reports-pdf", label="report PDF")

    def _ask_pdf_path(self, pdf: bytes) -> None:
        folder = self.pdf_folder()
        me = weakref.ref(self)   # the dialog keeps the callback: it must not keep the window

        def saved(path: str) -> None:
            window = me()
            if window is not None:
                window._on_pdf_written(path)

        self.print_dialog = print_preview.save_pdf(self, pdf, str(folder / self._suggested_name("pdf")), saved)

    def _on_pdf_written(self, path: str) -> None:
        """A PDF was written to ``path``: say where (the message stays until the next one) and
        propose its folder next time."""
        self._pdf_folder = Path(path).parent
        self.message_label.show_text(f"Saved the PDF to {path}", "success")
        self.pdf_saved.emit(path)

    def pdf_folder(self) -> Path:
        """The folder "Save PDF…" proposes now: where the last PDF went, else the documents folder
        (``print_preview.pdf_folder``); always one that exists."""
        if self._pdf_folder is not None and self._pdf_folder.is_dir():
            return self._pdf_folder
        return print_preview.pdf_folder()

    def save_pdf_to(self, path: str | Path) -> None:
        """Make the report's PDF in the background and write it to ``path`` (no file dialog);
        :attr:`pdf_saved` says when it is written, and the window shows where."""
        work = self._pdf_work()
        if work is None:
            return
        target = str(path)

        def written(pdf: bytes) -> None:
            if print_preview.write_pdf(self, pdf, target):
                self._on_pdf_written(target)

        self._runner.run(work, on_success=written, on_failure=self._show_error, key="reports-pdf",
                         label="report PDF")

    # -- messages -------------------------------------------------------------------------------
    def _show_error(self, error: ClinicError) -> None:
        if isinstance(error, ValidationError) and error.field in ("from", "to"):
            field = "“From” date" if error.field == "from" else "“To” date"
            self._show_message(f"The {field} {error.problem}.")
        else:
            self._show_message(str(error))

    def _show_message(self, message: str) -> None:
        self.message_label.show_text(message, "error")
        self.error_shown.emit(message)

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        """Drop the outcomes of work still running for this window."""
        self._runner.discard("reports-run", "reports-pdf", "reports-branches")
        self._running = False
        self.busy_bar.hide()
        super().closeEvent(event)
