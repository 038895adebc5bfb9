"""The reports window (issue 6 on screen), offscreen against the real test database.

Figures come from the hand-built fixture of tests/reports/test_manager_reports.py (``small``:
branch North, one doctor, 2027-03-01..07 — 4 outcomes, 2 no-shows), so what the window shows can
be checked against known numbers; the screenshot test runs on the imported Vitória sample.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path

import pypdfium2 as pdfium
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtPrintSupport import QPrintPreviewDialog
from PySide6.QtWidgets import QFileDialog, QLineEdit

from reception_app.domain.report_definitions import DEFINITIONS
from reception_app.services.demo import load_demo
from reception_app.services.importer import import_noshow_csv
from reception_app.store.database import Database
from reception_app.ui.print_preview import PdfPrintJob
from reception_app.ui.reports_window import ReportsWindow, default_period
from reception_app.ui.runner import Runner
from tests.conftest import DATA
from tests.reports.test_manager_reports import small  # noqa: F401  (the fixture with known figures)

CLOCK = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)   # a Wednesday
WEEK = (date(2027, 3, 1), date(2027, 3, 7))
ROOT = Path(__file__).resolve().parents[2]


def make(qtbot, db: Database, runner: Runner, **kwargs) -> ReportsWindow:
    kwargs.setdefault("branches", ["North"])
    w = ReportsWindow(db, runner, clock=lambda: CLOCK, clinic="Test Clinic", printed_by="maria", **kwargs)
    qtbot.addWidget(w)
    return w


def run(qtbot, w: ReportsWindow, name: str, period: tuple[date, date] = WEEK):
    w.set_report(name)
    w.set_period(*period)
    with qtbot.waitSignal(w.report_loaded, timeout=30_000) as got:
        w.run_button.click()
    return got.args[0]


def shown_rows(w: ReportsWindow) -> list[list[str]]:
    m = w.table_model
    return [[m.index(r, c).data() for c in range(m.columnCount())] for r in range(m.rowCount())]


def laid_out(w: ReportsWindow) -> bool:
    """Whether the charts are shown, each at its height for its width, one under the other."""
    views = w.chart_views
    return all(v.isVisible() and v.width() >= 480 and v.height() == v.heightForWidth(v.width()) for v in views) \
        and all(b.y() >= a.y() + a.height() for a, b in pairwise(views))


def test_default_period_includes_today(qtbot, small: Database, runner: Runner) -> None:  # noqa: F811
    """The last four whole weeks and this week up to today (issue 16 §6: what happened today is in it)."""
    w = make(qtbot, small, runner)
    assert (w.from_edit.date().toPython(), w.to_edit.date().toPython()) == (date(2027, 2, 8), date(2027, 3, 10))
    assert default_period(date(2027, 3, 8)) == (date(2027, 2, 8), date(2027, 3, 8))   # a Monday: today alone
    assert default_period(date(2027, 3, 14)) == (date(2027, 2, 8), date(2027, 3, 14))  # a Sunday
    assert [w.report_combo.itemData(i) for i in range(w.report_combo.count())] == \
        ["no-show", "utilization", "cancellations", "load", "operations"]
    assert [w.branch_combo.itemText(i) for i in range(w.branch_combo.count())] == ["All branches", "North"]
    assert not w.csv_button.isEnabled() and not w.pdf_button.isEnabled()


def test_no_show_figures_table_and_charts(qtbot, small: Database, runner: Runner) -> None:  # noqa: F811
    w = make(qtbot, small, runner)
    w.show()
    qtbot.waitExposed(w)
    data = run(qtbot, w, "no-show")
    assert data.summary == {"appointments": 4, "no_shows": 2, "rate": 0.5}
    assert "No-shows: <b>2</b>" in w.summary_label.text() and "No-show rate: <b>50.0%</b>" in w.summary_label.text()
    assert "No-show report" in w.heading_label.text() and "2027-03-01 to 2027-03-07" in w.heading_label.text()
    assert not w.busy_bar.isVisible() and w.csv_button.isEnabled()

    w.show_table("by_weekday")
    rows = shown_rows(w)
    assert rows[0] == ["Monday", "2", "1", "50.0%"]
    assert rows[2] == ["Wednesday", "0", "0", ""]     # no appointments: no rate
    m = w.table_model
    assert m.index(0, 3).data(Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    assert m.index(0, 0).data(Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignLeft
    assert m.index(0, 3).data(Qt.ItemDataRole.UserRole) == 0.5

    w.show_table("by_hour")
    w.table_view.sortByColumn(1, Qt.SortOrder.DescendingOrder)   # by appointments: 09:00 (2) first
    assert [r[0] for r in shown_rows(w)] == ["09:00", "10:00", "22:00"]
    assert m.drill_at(0) == {"hour": 9, "outcome": True}
    w.table_view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert [r[0] for r in shown_rows(w)] == ["22:00", "10:00", "09:00"]
    assert m.drill_at(0) == {"hour": 22, "outcome": True}

    assert len(w.chart_views) == len(data.charts) == 5
    image = w.chart_views[1].image()   # by weekday: bars in the first series colour
    assert image.width() >= 480
    colours = {image.pixelColor(x, y).name() for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)}
    assert len(colours) > 5 and QColor("#2f6690").name() in colours
    assert "No-show: the patient did not come" in w.definitions_label.text()


def test_chart_is_rasterized_again_only_when_its_width_changes(qtbot, small: Database,  # noqa: F811
                                                               runner: Runner) -> None:
    w = make(qtbot, small, runner)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    run(qtbot, w, "no-show")
    view = w.chart_views[0]
    view.image()
    count = view.render_count
    w.resize(1200, 700)   # only taller: same width, same raster
    qtbot.waitUntil(lambda: w.height() == 700)
    view.repaint()
    assert view.render_count == count
    width = view.width()
    w.resize(1000, 700)
    qtbot.waitUntil(lambda: view.width() != width)
    assert abs(view.image().width() - min(view.width(), 480 * 1.6) * view.devicePixelRatioF()) <= 1
    assert view.render_count > count


def test_drill_down_lists_the_appointments(qtbot, small: Database, runner: Runner) -> None:  # noqa: F811
    w = make(qtbot, small, runner)
    run(qtbot, w, "no-show")
    w.show_table("by_weekday")
    with qtbot.waitSignal(w.drill_down_loaded, timeout=30_000) as got:
        dialog = w.open_drill_down(0)   # Monday
    assert got.args == [2]
    assert dialog is not None and dialog.isVisible()
    assert [row[:5] + row[6:] for row in dialog.rows] == [
        ("2027-03-01 09:00", "P", "Visit", "Dr Ana", "Completed", "no", "North"),
        ("2027-03-01 10:00", "P", "Visit", "Dr Ana", "No-show", "no", "North")]
    assert all(len(row[5]) == 10 and row[5] <= "2027-03-01" for row in dialog.rows)   # booked on: a local date
    headers = [dialog.model.headerData(c, Qt.Orientation.Horizontal) for c in range(dialog.model.columnCount())]
    assert headers == ["Date and time", "Patient", "Service", "Doctor", "Status", "Booked on", "SMS reminder sent",
                       "Branch"]
    dialog.close()

    run(qtbot, w, "cancellations")
    w.show_table("by_timing")
    index = w.table_model.index(1, 0)   # late
    with qtbot.waitSignal(w.drill_down_loaded, timeout=30_000) as got:
        w.table_view.doubleClicked.emit(index)
    assert got.args == [1]
    assert w.drill_dialog is not None and w.drill_dialog.rows[0][:2] == ("2027-03-03 09:00", "P")


def test_csv_export_reads_back(qtbot, small: Database, runner: Runner, tmp_path: Path) -> None:  # noqa: F811
    w = make(qtbot, small, runner)
    data = run(qtbot, w, "cancellations")
    w.show_table("by_reason")
    path = tmp_path / "reasons.csv"
    assert w.export_csv(path)
    with open(path, encoding="utf-8", newline="") as f:
        parsed = list(csv.reader(f))
    table = data.table("by_reason")
    assert parsed[0] == [c.key for c in table.columns] == ["label", "count", "share"]
    assert parsed[1:] == [[str(v) for v in row] for row in table.rows] == [["sick", "2", "0.6667"],
                                                                            ["doctor away", "1", "0.3333"]]


def test_save_pdf_writes_the_report(qtbot, small: Database, runner: Runner, tmp_path: Path) -> None:  # noqa: F811
    w = make(qtbot, small, runner)
    run(qtbot, w, "no-show")
    path = tmp_path / "no-show.pdf"
    with qtbot.waitSignal(w.pdf_saved, timeout=30_000):
        w.save_pdf_to(path)
    doc = pdfium.PdfDocument(path.read_bytes())
    first = doc[0].get_textpage().get_text_range()
    assert "No-show report" in first and "Test Clinic" in first and "2027-03-01 to 2027-03-07" in first
    assert "Printed by maria" in first
    doc.close()


def test_print_opens_the_preview(qtbot, small: Database, runner: Runner) -> None:  # noqa: F811
    w = make(qtbot, small, runner)
    w.show()
    qtbot.waitExposed(w)
    run(qtbot, w, "utilization")
    w.print_button.click()
    qtbot.waitUntil(lambda: w.print_dialog is not None and w.print_dialog.isVisible(), timeout=30_000)
    dialog = w.print_dialog
    assert isinstance(dialog, QPrintPreviewDialog) and "Utilization" in dialog.windowTitle()
    job = dialog.findChild(PdfPrintJob, "pdfPrintJob")
    assert job is not None and job.page_count >= 1
    with qtbot.waitSignal(dialog.destroyed):
        dialog.close()


def test_bad_date_range_names_the_field(qtbot, small: Database, runner: Runner) -> None:  # noqa: F811
    w = make(qtbot, small, runner)
    w.set_period(date(2027, 3, 7), date(2027, 3, 1))
    with qtbot.waitSignal(w.error_shown) as got, qtbot.assertNotEmitted(w.report_loaded):
        w.run_button.click()
    assert "“To” date (2027-03-01) is before the “From” date (2027-03-07)" in got.args[0]
    assert w.message_label.text() == got.args[0] and not runner.busy
    w.set_period(date(2020, 1, 1), date(2027, 3, 1))
    with qtbot.waitSignal(w.error_shown) as got:
        w.run_button.click()
    assert "“To” date must be at most" in got.args[0]


def test_branches_read_and_unknown_branch_in_plain_words(qtbot, small: Database, runner: Runner) -> None:  # noqa: F811
    w = make(qtbot, small, runner, branches=None)
    qtbot.waitUntil(lambda: w.branch_combo.count() == 2, timeout=30_000)
    w.set_branch("North")
    data = run(qtbot, w, "load")
    assert data.branch == "North" and data.summary == {"bookings": 5}
    assert "North" in w.heading_label.text()
    w.set_branch("Nowhere")
    with qtbot.waitSignal(w.error_shown, timeout=30_000) as got:
        w.run_button.click()
    assert "branch" in got.args[0] and "Traceback" not in got.args[0]
    qtbot.waitUntil(lambda: not w.busy_bar.isVisible())


def test_every_report_and_screenshot_on_the_vitoria_sample(qtbot, db: Database, runner: Runner,
                                                           tmp_path: Path) -> None:
    import_noshow_csv(db, DATA / "noshow_sample.csv")
    w = make(qtbot, db, runner, branches=None)
    w.resize(1280, 860)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.branch_combo.count() > 1, timeout=30_000)
    period = (date(2016, 4, 29), date(2016, 5, 31))
    for name in ("utilization", "cancellations", "load", "operations"):
        data = run(qtbot, w, name, period)
        assert data.name == name and w.table_model.rowCount() == len(data.tables[0].rows)
        assert len(w.chart_views) == len(data.charts)
    data = run(qtbot, w, "no-show", period)
    assert (data.summary["appointments"], data.summary["no_shows"]) == (986, 221)
    w.show_table("by_weekday")
    qtbot.waitUntil(lambda: laid_out(w))
    shot = w.grab()
    assert not shot.isNull()
    shot.save(str(tmp_path / "reports_window.png"))
    if os.environ.get("CLINIC_SCREENSHOTS"):
        shot.save(str(ROOT / "docs" / "screenshots" / "reports_window.png"))


def _series_pixels(image) -> int:
    """Pixels of the first series colour (#2f6690), give or take anti-aliasing."""
    target = QColor("#2f6690")
    count = 0
    for x in range(image.width()):
        for y in range(image.height()):
            c = image.pixelColor(x, y)
            if abs(c.red() - target.red()) + abs(c.green() - target.green()) + abs(c.blue() - target.blue()) < 40:
                count += 1
    return count


def test_a_one_point_trend_still_draws_its_point(qtbot, small: Database, runner: Runner) -> None:  # noqa: F811
    w = make(qtbot, small, runner)
    w.show()
    qtbot.waitExposed(w)
    data = run(qtbot, w, "no-show")   # one week: the weekly trend has one point
    assert len(data.table("trend").rows) == 1
    trend = w.chart_views[0]
    assert "by week" in trend.accessibleName()
    assert _series_pixels(trend.image()) >= 20   # the dot (7 pt across), not an empty plot


def test_save_pdf_says_where_it_went_and_proposes_a_folder_that_exists(qtbot, small: Database,  # noqa: F811
                                                                       runner: Runner, tmp_path: Path) -> None:
    w = make(qtbot, small, runner)
    w.show()
    qtbot.waitExposed(w)
    assert w.pdf_folder().is_dir()   # before any save: Documents, or home when there is none
    run(qtbot, w, "no-show")
    path = tmp_path / "first.pdf"
    with qtbot.waitSignal(w.pdf_saved, timeout=30_000):
        w.save_pdf_to(path)
    assert w.message_label.isVisible() and str(path) in w.message_label.text()
    assert w.pdf_folder() == tmp_path
    w.pdf_button.click()   # "Save PDF…": the dialog proposes the folder the last PDF went to
    qtbot.waitUntil(lambda: isinstance(w.print_dialog, QFileDialog) and w.print_dialog.isVisible(), timeout=30_000)
    dialog = w.print_dialog
    assert Path(dialog.directory().absolutePath()) == tmp_path
    proposed = Path(dialog.selectedFiles()[0])
    assert proposed.parent.is_dir() and proposed.name == "no-show-2027-03-01-2027-03-07.pdf"
    chosen = tmp_path / "chosen.pdf"
    with qtbot.waitSignal(w.pdf_saved, timeout=30_000) as got:
        name_edit = dialog.findChild(QLineEdit, "fileNameEdit")   # what the user types, then Save
        name_edit.setText(chosen.name)
        dialog.accept()
    assert got.args[0] == str(chosen) and chosen.read_bytes().startswith(b"%PDF")
    assert w.message_label.text() == f"Saved the PDF to {chosen}"


_COLUMN_NAME = re.compile(r"\b[a-z]+_[a-z_]+\b")   # snake_case: a column or status name, not English


def test_definitions_speak_a_managers_language() -> None:
    for key, sentence in DEFINITIONS.items():
        assert not _COLUMN_NAME.findall(sentence), (key, sentence)
        assert "status " not in sentence, (key, sentence)


def test_the_demo_in_the_reports_window_with_screenshots(qtbot, db: Database, runner: Runner,
                                                         tmp_path: Path) -> None:
    """The manager's first look: the demo's past fills every report of the default period (which
    includes today), in words a manager reads; screenshots at 1280x720 and 1920x1080, and a page of
    the manager PDF (CLINIC_SCREENSHOTS=1 writes them to docs/screenshots)."""
    now = datetime(2026, 12, 9, 13, 0, tzinfo=UTC)
    load_demo(db, now=now, past_days=60, days=2)
    w = ReportsWindow(db, runner, clock=lambda: now, clinic="Clínica Horizonte", printed_by="manager")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.branch_combo.count() == 3, timeout=30_000)
    d_from, d_to = w.from_edit.date().toPython(), w.to_edit.date().toPython()
    assert d_from <= date(2026, 12, 9) == d_to
    out = ROOT / "docs" / "screenshots" if os.environ.get("CLINIC_SCREENSHOTS") else tmp_path
    for name in ("no-show", "utilization", "cancellations", "load", "operations"):
        data = run(qtbot, w, name, (d_from, d_to))
        words = [data.title, *data.definitions, *(c.title for c in data.charts)]
        for table in data.tables:
            words += [table.title, *(c.label for c in table.columns)]
            words += [str(v) for row in table.rows for v, c in zip(row, table.columns, strict=True)
                      if c.kind == "text" and v is not None]
        assert not [x for x in words if _COLUMN_NAME.search(x)], name
        if name == "no-show":
            assert data.summary["appointments"] > 500   # hundreds in four weeks and a bit
            labels = [r[0] for r in data.table("by_sms").rows]
            assert labels == ["SMS reminder sent", "No SMS reminder"]
            assert [r[0] for r in data.table("by_lead_time").rows][1] == "same day"
            w.show_table("by_sms")
            with qtbot.waitSignal(w.drill_down_loaded, timeout=30_000) as got:
                drill = w.open_drill_down(0)   # "SMS reminder sent": the appointments behind it
            assert got.args[0] > 100 and drill is not None
            assert {row[4] for row in drill.rows} == {"Completed", "No-show"} and {row[6] for row in drill.rows} == {"yes"}
            assert all(row[5] < row[0][:10] for row in drill.rows)   # booked on a day before (a reminder went out)
            drill.close()
        if name in ("no-show", "utilization"):
            for width, height in ((1280, 720), (1920, 1080)):
                w.resize(width, height)
                qtbot.waitUntil(lambda width=width: w.width() == width)
                qtbot.waitUntil(lambda: laid_out(w) and w.definitions_label.y()
                                > w.chart_views[-1].y() + w.chart_views[-1].height() - 1)
                shot = w.grab()
                assert (shot.width(), shot.height()) == (width, height)
                shot.save(str(out / f"reports-{name}-{width}x{height}.png"))
            pdf_path = tmp_path / f"{name}.pdf"
            with qtbot.waitSignal(w.pdf_saved, timeout=30_000):
                w.save_pdf_to(pdf_path)
            if name == "no-show" and shutil.which("pdftoppm"):
                subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf_path),
                                str(out / "manager-pdf-no-show-page1")], check=True)
