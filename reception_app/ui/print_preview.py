"""Print our PDFs through Qt: a print preview, the print dialog, and "Save as PDF…".

Reports are made as PDF bytes (``reception_app.reports``); Qt cannot draw a
PDF with the modules we ship (QtPdf is not in PySide6-Essentials), so
:class:`PdfPrintJob` rasterizes each page with pypdfium2 at the printer's
resolution (capped, see :data:`MAX_PRINT_DPI`) and paints it onto the
``QPrinter``, scaled to fit the paper and keeping its aspect ratio. The same
job paints the preview and the paper: Qt's ``QPrintPreviewDialog`` asks for
the pages again with the real printer after its print button's print dialog.

Typical use from a window (the PDF is made on the runner's worker thread,
these calls run on the GUI thread)::

    runner.run(lambda: doctor_day_sheet_pdf(view, doctor_id, printed_by=login, printed_at=now),
               on_success=lambda pdf: preview_pdf(self, pdf, "Day sheet — Ana Souza"))

Dialogs are opened with ``open()`` (window-modal, no nested event loop),
never ``exec()``. Rendering errors are logged with their traceback and shown
once per job as a plain sentence (``messages.show_error``).

Lifetimes. A ``QPrinter`` is no ``QObject``: Qt's dialogs only point at it, so
it must outlive the dialog's C++ object *and* its children (the preview widget,
the print dialog the preview opens). It used to be a Python attribute of the
dialog, and was freed whenever the dialog's Python wrapper happened to go —
which, depending on which closures still referred to it, was either before the
dialog's destructor ran (the preview widget left pointing at a freed printer)
or in the middle of it, while a signal closure of the job also dropped the
last reference to the parent window, which then deleted the half-destroyed
dialog a second time (a segmentation fault on close; reproduced by
``tests/ui/test_print_preview.py::test_preview_open_close_cycles_survive``).
Now the printer (and a parentless dialog) are kept in :data:`_kept` until the
dialog's C++ object is gone and are released on the next turn of the event
loop, never inside a C++ destructor; and no signal closure holds the dialog or
the parent window (the job finds them through ``parent()`` when it needs them).
"""

from __future__ import annotations

import itertools
import logging
import weakref
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium
from PySide6.QtCore import (
    QCoreApplication,
    QMarginsF,
    QObject,
    QRectF,
    QSizeF,
    QStandardPaths,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPaintEngine, QPainter
from PySide6.QtPrintSupport import QPrintDialog, QPrinter, QPrintPreviewDialog
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QWidget

from .messages import show_error

log = logging.getLogger(__name__)

__all__ = ["PdfPrintJob", "preview_pdf", "print_pdf", "save_pdf", "write_pdf", "MAX_PRINT_DPI", "PREVIEW_DPI"]

#: Highest resolution (dots per inch) a page is rasterized at for a printer: 300 dpi keeps text
#: sharp on paper while an A4 page stays about 26 MB in memory (a 1200 dpi printer would need 420 MB).
MAX_PRINT_DPI = 300
#: Resolution of the pages drawn for the on-screen preview (sharp up to about 200 % zoom).
PREVIEW_DPI = 150
#: How far (points) a PDF page may differ from A4 and still be printed on A4 paper.
_A4_TOLERANCE_PT = 2.0

#: Python objects a dialog needs while its C++ object exists — the ``QPrinter`` it points at, and the
#: dialog itself when it has no parent window — by dialog (a serial number). Released on the event
#: loop's next turn after the dialog is destroyed (see the module notes on lifetimes).
_kept: dict[int, list[object]] = {}
_serial = itertools.count(1)


class PdfPrintJob(QObject):
    """One PDF (bytes) to preview or print; paints its pages onto a ``QPrinter``.

    Raises ``pypdfium2.PdfiumError`` from the constructor if ``pdf`` is not a
    readable PDF. Pages are rendered on the thread that calls :meth:`paint`
    (the GUI thread: pdfium is not thread-safe); the document is closed by
    :meth:`close` or when the job is deleted.

    Signals:
        painted(int): the number of pages just painted onto a printer (preview or paper).
        failed(str): painting failed; a sentence for the user (the exception is in the log).
    """

    painted = Signal(int)
    failed = Signal(str)

    def __init__(self, pdf: bytes, title: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self._doc: pdfium.PdfDocument | None = pdfium.PdfDocument(pdf)
        self._sizes_pt = [self._doc[i].get_size() for i in range(len(self._doc))]
        self._failure_shown = False
        self.destroyed.connect(self._doc.close)

    @property
    def page_count(self) -> int:
        """Number of pages of the PDF."""
        return len(self._sizes_pt)

    def page_size_pt(self, index: int) -> tuple[float, float]:
        """``(width, height)`` of page ``index`` (0-based) in points (1/72 inch)."""
        return self._sizes_pt[index]

    def close(self) -> None:
        """Release the PDF document (further :meth:`paint` calls fail with a message)."""
        if self._doc is not None:
            self._doc.close()
            self._doc = None

    def configure(self, printer: QPrinter) -> None:
        """Set ``printer`` up for this PDF: document name, paper (A4 when the first page is A4,
        else the page's own size), orientation of the first page, no margins (the PDF has its
        own) and full-page painting."""
        printer.setDocName(self.title)
        printer.setFullPage(True)
        if not self._sizes_pt:
            return
        w, h = self._sizes_pt[0]
        short, long_ = sorted((w, h))
        a4 = QPageSize(QPageSize.PageSizeId.A4).size(QPageSize.Unit.Point)
        if abs(short - a4.width()) <= _A4_TOLERANCE_PT and abs(long_ - a4.height()) <= _A4_TOLERANCE_PT:
            size = QPageSize(QPageSize.PageSizeId.A4)
        else:
            size = QPageSize(QSizeF(short, long_), QPageSize.Unit.Point, self.title)
        orientation = QPageLayout.Orientation.Landscape if w > h else QPageLayout.Orientation.Portrait
        printer.setPageLayout(QPageLayout(size, orientation, QMarginsF(0, 0, 0, 0), QPageLayout.Unit.Point))

    def render_page(self, index: int, dpi: float) -> QImage:
        """Page ``index`` (0-based) as an RGB ``QImage`` of ``dpi`` dots per inch (white background).

        Raises ``IndexError``, ``RuntimeError`` after :meth:`close`, ``pypdfium2.PdfiumError``.
        """
        if self._doc is None:
            raise RuntimeError("the PDF has been closed")
        bitmap = self._doc[index].render(scale=dpi / 72.0, rev_byteorder=True)
        try:
            image = QImage(bitmap.buffer, bitmap.width, bitmap.height, bitmap.stride, QImage.Format.Format_RGB888)
            return image.copy()  # own the pixels: the bitmap's buffer goes away with it
        finally:
            bitmap.close()

    def paint(self, printer: QPrinter) -> bool:
        """Paint every page onto ``printer`` (one printer page per PDF page), each scaled to fit the
        printer's page and centred, keeping its aspect ratio. Returns ``True`` on success; on
        failure logs the exception, emits :attr:`failed` and returns ``False``."""
        painter = QPainter()
        try:
            if not painter.begin(printer):
                raise RuntimeError("the printer could not start painting")
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            preview = painter.paintEngine() is not None and painter.paintEngine().type() == QPaintEngine.Type.Picture
            dpi = PREVIEW_DPI if preview else min(printer.resolution(), MAX_PRINT_DPI)
            layout = printer.pageLayout()
            full = layout.fullRectPixels(printer.resolution()) if printer.fullPage() else \
                layout.paintRectPixels(printer.resolution())
            area = QRectF(0, 0, full.width(), full.height())
            for index in range(self.page_count):
                if index:
                    printer.newPage()
                image = self.render_page(index, dpi)
                painter.drawImage(_fit(area, image.width(), image.height()), image)
            painter.end()
        except Exception:
            log.exception("could not paint %r for printing", self.title)
            if painter.isActive():
                painter.end()
            self.failed.emit(f"“{self.title}” could not be drawn for printing. Details are in the log file.")
            return False
        self.painted.emit(self.page_count)
        return True

    def _show_failure_once(self, message: str) -> None:
        """The first failure of this job as an error box over the window that opened its dialog."""
        if self._failure_shown:
            return
        self._failure_shown = True
        dialog = self.parent()
        over = dialog if isinstance(dialog, QWidget) else None
        show_error(over.parentWidget() or over if over is not None else None, message)


def _fit(area: QRectF, width: float, height: float) -> QRectF:
    """The largest rectangle of aspect ``width:height`` centred in ``area``."""
    if width <= 0 or height <= 0:
        return QRectF(area)
    scale = min(area.width() / width, area.height() / height)
    w, h = width * scale, height * scale
    return QRectF(area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2, w, h)


def _open_job(parent: QWidget | None, pdf: bytes, title: str) -> PdfPrintJob | None:
    try:
        return PdfPrintJob(pdf, title)
    except Exception:
        log.exception("could not open the PDF of %r", title)
        show_error(parent, f"“{title}” could not be opened for printing. Details are in the log file.")
        return None


def _keep_until_destroyed(dialog: QWidget, *objects: object) -> None:
    """Delete ``dialog`` when it closes, and keep ``objects`` (and the dialog itself when it has no
    parent window) referenced until its C++ object is destroyed; they are released on the next
    turn of the event loop, so nothing Python owns is freed inside a C++ destructor."""
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    key = next(_serial)
    _kept[key] = [*objects, *([dialog] if dialog.parent() is None else [])]
    # The slot must not refer to the dialog (that would tie the dialog's wrapper to the connection).
    dialog.destroyed.connect(lambda *_args, key=key: _release_later(key))


def _release_later(key: int) -> None:
    """Drop what :func:`_keep_until_destroyed` kept under ``key``, on the event loop's next turn
    (at shutdown, with no event loop left, it goes with the interpreter)."""
    if QCoreApplication.instance() is None or QCoreApplication.closingDown():
        return
    QTimer.singleShot(0, lambda: _kept.pop(key, None))


def _attach(job: PdfPrintJob, dialog: QWidget) -> None:
    """The job lives as long as ``dialog`` (its child); its first failure is shown once, over the
    dialog's parent window (else over the dialog). The slot holds neither the dialog nor the parent."""
    job.setParent(dialog)
    job.failed.connect(job._show_failure_once)


def preview_pdf(parent: QWidget | None, pdf: bytes, title: str) -> QPrintPreviewDialog | None:
    """Open Qt's print preview of ``pdf`` (bytes) titled ``title``; its print button prints through
    the Qt print dialog. Returns the opened (window-modal, ``open()``) dialog, deleted when closed;
    ``None`` when ``pdf`` cannot be read (an error box says so instead).

    The dialog's :class:`PdfPrintJob` is its child ``"pdfPrintJob"`` (``findChild``).
    """
    job = _open_job(parent, pdf, title)
    if job is None:
        return None
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    job.configure(printer)
    dialog = QPrintPreviewDialog(printer, parent)
    dialog.setObjectName("printPreview")
    dialog.setWindowTitle(f"Print preview — {title}")
    job.setObjectName("pdfPrintJob")
    _attach(job, dialog)
    dialog.paintRequested.connect(job.paint)
    _keep_until_destroyed(dialog, printer)  # QPrinter is no QObject: it must outlive the dialog
    screen = (parent.screen() if parent is not None else None) or QApplication.primaryScreen()
    if screen is not None:
        available = screen.availableGeometry()
        dialog.resize(min(1000, int(available.width() * 0.8)), int(available.height() * 0.9))
    dialog.open()
    return dialog


def print_pdf(parent: QWidget | None, pdf: bytes, title: str) -> QPrintDialog | None:
    """Open the Qt print dialog for ``pdf`` (no preview); prints when the user accepts. Returns the
    opened dialog, or ``None`` when ``pdf`` cannot be read (an error box says so)."""
    job = _open_job(parent, pdf, title)
    if job is None:
        return None
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    job.configure(printer)
    dialog = QPrintDialog(printer, parent)
    dialog.setObjectName("printDialog")
    dialog.setWindowTitle(f"Print — {title}")
    job.setObjectName("pdfPrintJob")
    _attach(job, dialog)
    dialog.accepted.connect(job.paint)  # QPrintDialog.accepted(QPrinter*): the printer the user set up
    _keep_until_destroyed(dialog, printer)
    QDialog.open(dialog)  # QPrintDialog.open(receiver, member) hides the plain overload in PySide
    return dialog


def write_pdf(parent: QWidget | None, pdf: bytes, path: str | Path) -> bool:
    """Write ``pdf`` to ``path``; on an ``OSError`` show its reason in plain words and return ``False``."""
    try:
        Path(path).write_bytes(pdf)
    except OSError as exc:
        log.warning("could not save PDF to %s: %s", path, exc)
        show_error(parent, f"The PDF could not be saved to {path}: {exc.strerror or exc}.")
        return False
    return True


def pdf_folder() -> Path:
    """The folder "Save as PDF…" proposes: the user's documents folder when it exists, else their
    home folder (a fresh account, or a desktop without XDG folders, may have no Documents)."""
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    for folder in (documents, str(Path.home())):
        if folder and Path(folder).is_dir():
            return Path(folder)
    return Path.cwd()


def save_pdf(parent: QWidget | None, pdf: bytes, suggested_name: str,
             saved: Callable[[str], None] | None = None) -> QFileDialog:
    """Open a "Save as PDF…" file dialog (``open()``, window-modal) proposing ``suggested_name``
    (a file name in :func:`pdf_folder`, a folder that exists; or a full path, whose folder is used
    when it exists); writes ``pdf`` to the chosen file (``.pdf`` added when missing) when the user
    accepts, then calls ``saved`` with the path written (hold the window weakly in it: the dialog
    keeps it). Returns the dialog (deleted when closed); a failed write is shown as an error box
    (see :func:`write_pdf`) and ``saved`` is not called."""
    suggested = Path(suggested_name)
    if not suggested.is_absolute() or not suggested.parent.is_dir():
        suggested = pdf_folder() / suggested.name
    dialog = QFileDialog(parent, "Save as PDF…", str(suggested.parent), "PDF files (*.pdf)")
    dialog.setObjectName("savePdfDialog")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setDefaultSuffix("pdf")
    dialog.selectFile(str(suggested))
    # The slot finds the parent when it runs: a closure holding the parent window could free it
    # while this dialog is being destroyed.
    dialog.fileSelected.connect(lambda path, dialog=weakref.ref(dialog): _write_chosen(dialog(), pdf, path, saved))
    _keep_until_destroyed(dialog)
    dialog.open()
    return dialog


def _write_chosen(dialog: QFileDialog | None, pdf: bytes, path: str,
                  saved: Callable[[str], None] | None = None) -> None:
    """"Save as PDF…" accepted: write ``pdf`` to ``path``; errors over the dialog's parent window."""
    if write_pdf(dialog.parentWidget() if dialog is not None else None, pdf, path) and saved is not None:
        saved(path)
