"""Print preview, printing and "Save as PDF…" of our PDFs (offscreen, no printer needed).

Printing is checked on a ``QPrinter`` writing a PDF file: the file must have
one page per page of the report, in its orientation, with ink on it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PySide6.QtGui import QImage, QPageLayout
from PySide6.QtPrintSupport import QPrinter, QPrintPreviewWidget
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from reception_app.reports.day_sheet import day_list_pdf, doctor_day_sheet_pdf
from reception_app.ui.print_preview import (
    PREVIEW_DPI,
    PdfPrintJob,
    pdf_folder,
    preview_pdf,
    print_pdf,
    save_pdf,
    write_pdf,
)
from tests.unit.test_day_sheet import ANA, DAY, appointment, day_view, local

PRINTED_AT = datetime(2027, 1, 4, 10, 55, tzinfo=UTC)


@pytest.fixture(scope="module")
def day_list() -> bytes:
    """A two-page (or longer) landscape day list."""
    start = local(DAY, 7)
    busy = [appointment(i, start + timedelta(minutes=15 * i), 15, f"Conceição Patient {i:02d}") for i in range(40)]
    return day_list_pdf(day_view(busy, ana_hours=((7, 18),)), printed_by="maria", printed_at=PRINTED_AT)


@pytest.fixture(scope="module")
def day_sheet() -> bytes:
    """A one-page portrait day sheet."""
    view = day_view([appointment(1, local(DAY, 8), 30, "João Pereira")])
    return doctor_day_sheet_pdf(view, ANA, printed_by="maria", printed_at=PRINTED_AT)


@pytest.fixture
def parent(qtbot) -> QWidget:
    widget = QWidget()
    qtbot.addWidget(widget)
    return widget


def page_count(pdf: bytes) -> int:
    doc = pdfium.PdfDocument(pdf)
    try:
        return len(doc)
    finally:
        doc.close()


def ink(image: QImage) -> float:
    """The share of dark (text) pixels of ``image``."""
    gray = image.convertToFormat(QImage.Format.Format_Grayscale8)
    data = bytes(gray.constBits())[: gray.bytesPerLine() * gray.height()]
    return sum(data.count(bytes([v])) for v in range(0, 128)) / (gray.width() * gray.height())


def error_boxes(parent: QWidget) -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.isVisible() and w.parent() is parent]


def pdf_printer(path: Path) -> QPrinter:
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(path))
    return printer


def test_job_prints_every_page_in_the_reports_orientation(qtbot, day_list: bytes, tmp_path: Path) -> None:
    job = PdfPrintJob(day_list, "Day list")
    assert job.page_count == page_count(day_list) >= 2
    printer = pdf_printer(tmp_path / "printed.pdf")
    job.configure(printer)
    assert printer.pageLayout().orientation() == QPageLayout.Orientation.Landscape
    with qtbot.waitSignal(job.painted) as painted:
        assert job.paint(printer)
    assert painted.args == [job.page_count]
    job.close()

    printed = (tmp_path / "printed.pdf").read_bytes()
    doc = pdfium.PdfDocument(printed)
    try:
        assert len(doc) == job.page_count
        width, height = doc[0].get_size()
        assert width > height and abs(width - 841.9) < 2 and abs(height - 595.3) < 2  # A4 landscape
        bitmap = doc[0].render(scale=0.5, rev_byteorder=True)
        image = QImage(bitmap.buffer, bitmap.width, bitmap.height, bitmap.stride, QImage.Format.Format_RGB888).copy()
        assert ink(image) > 0.002
    finally:
        doc.close()


def test_rendered_page_keeps_the_paper_shape(day_sheet: bytes) -> None:
    job = PdfPrintJob(day_sheet, "Day sheet")
    image = job.render_page(0, 72)
    assert abs(image.width() - 595) <= 1 and abs(image.height() - 842) <= 1  # A4 portrait at 72 dpi
    assert ink(image) > 0.002
    job.close()
    with pytest.raises(RuntimeError):
        job.render_page(0, 72)


def test_preview_opens_and_paints_every_page(qtbot, parent: QWidget, day_list: bytes) -> None:
    dialog = preview_pdf(parent, day_list, "Day list")
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    assert dialog.windowTitle() == "Print preview — Day list"
    job = dialog.findChild(PdfPrintJob, "pdfPrintJob")
    widget = dialog.findChild(QPrintPreviewWidget)
    assert job is not None and widget is not None
    with qtbot.waitSignal(job.painted) as painted:
        widget.updatePreview()
    assert painted.args == [page_count(day_list)]
    assert widget.pageCount() == page_count(day_list)
    assert widget.orientation() == QPageLayout.Orientation.Landscape
    # What the preview shows has ink on it (its background is grey, the paper white).
    qtbot.waitUntil(lambda: ink(widget.grab().toImage()) > 0.0005)
    dialog.close()


def test_preview_pages_are_rendered_at_preview_resolution(qtbot, parent: QWidget, day_sheet: bytes,
                                                          monkeypatch) -> None:
    asked: list[float] = []
    render = PdfPrintJob.render_page
    monkeypatch.setattr(PdfPrintJob, "render_page", lambda self, i, dpi: asked.append(dpi) or render(self, i, dpi))
    dialog = preview_pdf(parent, day_sheet, "Day sheet")
    assert dialog is not None
    qtbot.waitUntil(lambda: bool(asked))
    assert set(asked) == {PREVIEW_DPI}
    dialog.close()


def test_unreadable_pdf_is_reported(qtbot, parent: QWidget, caplog) -> None:
    assert preview_pdf(parent, b"this is not a PDF", "Day sheet") is None
    qtbot.waitUntil(lambda: bool(error_boxes(parent)))
    [box] = error_boxes(parent)
    assert "“Day sheet” could not be opened for printing" in box.text()
    assert "could not open the PDF" in caplog.text
    box.close()


def test_a_rendering_failure_is_shown_once(qtbot, parent: QWidget, day_sheet: bytes, caplog) -> None:
    dialog = preview_pdf(parent, day_sheet, "Day sheet")
    assert dialog is not None
    job = dialog.findChild(PdfPrintJob, "pdfPrintJob")
    job.close()  # every later render fails
    widget = dialog.findChild(QPrintPreviewWidget)
    with qtbot.waitSignal(job.failed):
        widget.updatePreview()
    widget.updatePreview()
    qtbot.waitUntil(lambda: bool(error_boxes(parent)))
    [box] = error_boxes(parent)
    assert "could not be drawn for printing" in box.text()
    assert "could not paint 'Day sheet'" in caplog.text
    box.close()
    dialog.close()


def test_print_dialog_prints_on_accept(qtbot, parent: QWidget, day_sheet: bytes, tmp_path: Path) -> None:
    dialog = print_pdf(parent, day_sheet, "Day sheet")
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    assert dialog.windowTitle() == "Print — Day sheet"
    # There is no printer here and the dialog's own "print to file" fields would overrule the
    # printer's settings on accept(): choose the file on the printer and announce the acceptance.
    dialog.printer().setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    dialog.printer().setOutputFileName(str(tmp_path / "paper.pdf"))
    job = dialog.findChild(PdfPrintJob, "pdfPrintJob")
    with qtbot.waitSignal(job.painted):
        dialog.accepted.emit(dialog.printer())
    assert page_count((tmp_path / "paper.pdf").read_bytes()) == 1
    dialog.close()


def test_save_as_pdf_writes_the_bytes(qtbot, parent: QWidget, day_sheet: bytes, tmp_path: Path) -> None:
    dialog = save_pdf(parent, day_sheet, str(tmp_path / "day-sheet-2027-01-04"))
    qtbot.waitUntil(dialog.isVisible)
    assert dialog.windowTitle() == "Save as PDF…"
    with qtbot.waitSignal(dialog.fileSelected):
        dialog.accept()
    assert (tmp_path / "day-sheet-2027-01-04.pdf").read_bytes() == day_sheet


def test_a_failed_save_is_reported(qtbot, parent: QWidget, day_sheet: bytes, tmp_path: Path) -> None:
    assert not write_pdf(parent, day_sheet, tmp_path / "no such folder" / "x.pdf")
    qtbot.waitUntil(lambda: bool(error_boxes(parent)))
    [box] = error_boxes(parent)
    assert "could not be saved" in box.text() and "No such file or directory" in box.text()
    box.close()


def test_preview_open_close_cycles_survive(qtbot, day_sheet: bytes) -> None:
    """Open, paint and close the preview 30 times, each time dropping the last reference to its parent
    window right after closing (what closing the main window, or a test's teardown, does). The printer
    Qt points at outlives the dialog, and nothing is freed twice: before the fix the job's failure
    closure held the parent window, released it in the middle of the dialog's destructor, and the
    parent deleted the half-destroyed dialog again (a segmentation fault in the first cycle).
    ``python -m tests.ui.print_preview_soak 200`` runs more cycles under ``QT_FATAL_WARNINGS``."""
    import gc
    import weakref

    import shiboken6
    from PySide6.QtCore import QCoreApplication, QEvent

    for cycle in range(30):
        parent = QWidget()
        dialog = preview_pdf(parent, day_sheet, "Day sheet")
        assert dialog is not None
        printer = weakref.ref(dialog.printer())
        job = dialog.findChild(PdfPrintJob, "pdfPrintJob")
        widget = dialog.findChild(QPrintPreviewWidget)
        with qtbot.waitSignal(job.painted):
            widget.updatePreview()
        seen: list[bool] = []
        # When the dialog's C++ object goes, the QPrinter it points at must still be there.
        dialog.destroyed.connect(lambda *_a, seen=seen, printer=printer:
                                 seen.append(printer() is not None and shiboken6.isValid(printer())))
        dialog.close()
        del dialog, job, widget, parent
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        qtbot.waitUntil(lambda seen=seen: bool(seen))
        assert seen == [True], f"cycle {cycle}"
        if cycle % 10 == 0:
            gc.collect()
    qtbot.waitUntil(lambda: printer() is None)  # and released afterwards, on the event loop


def test_the_proposed_pdf_folder_exists(monkeypatch, tmp_path: Path) -> None:
    """"Save as PDF…" proposes the documents folder, or home when an account has none (issue 16 §6)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))   # no user-dirs.dirs: Documents is ~/Documents
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    assert pdf_folder() == tmp_path
    (tmp_path / "Documents").mkdir()
    assert pdf_folder() == tmp_path / "Documents"
