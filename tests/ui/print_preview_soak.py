"""Soak the print preview: open, paint, (print dialog,) close — N times, crashes made loud.

Run it under a real X server with Qt's warnings fatal and faulthandler on (the offscreen platform
warns about size hints on every window, which ``QT_FATAL_WARNINGS`` would turn into an abort)::

    Xvfb :77 & DISPLAY=:77 QT_QPA_PLATFORM=xcb QT_FATAL_WARNINGS=1 MALLOC_PERTURB_=165 \\
        .venv/bin/python -X faulthandler -m tests.ui.print_preview_soak 200 --print --drop-parent

``--print`` also opens the preview's Print dialog each time (closed by a timer); ``--drop-parent``
drops the last reference to the parent window right after closing the preview (what a test's
teardown, or closing the main window, does); ``--orphan`` opens the preview without a parent.
Exit code 0 and ``ok N`` when every cycle survived; a crash prints faulthandler's traceback.
Before the fix of issue 14 the plain ``--drop-parent`` run crashed in its first cycle.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import sys
import weakref
from datetime import UTC, datetime

from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QTimer
from PySide6.QtGui import QAction
from PySide6.QtPrintSupport import QPrintDialog, QPrintPreviewWidget
from PySide6.QtWidgets import QApplication, QWidget

from reception_app.reports.day_sheet import doctor_day_sheet_pdf
from reception_app.ui.print_preview import preview_pdf
from tests.unit.test_day_sheet import ANA, DAY, appointment, day_view, local


def spin(app: QApplication, turns: int = 3) -> None:
    """Let queued events and deferred deletions run."""
    for _ in range(turns):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def cycle(app: QApplication, pdf: bytes, *, orphan: bool, print_too: bool, drop_parent: bool) -> None:
    """One open / paint / close of the preview."""
    parent = None if orphan else QWidget()
    dialog = preview_pdf(parent, pdf, "Day sheet")
    assert dialog is not None
    spin(app)
    dialog.findChild(QPrintPreviewWidget).updatePreview()
    spin(app)
    if print_too:
        def close_print_dialog(preview: weakref.ref = weakref.ref(dialog)) -> None:
            for sub in preview().findChildren(QPrintDialog) if preview() is not None else ():
                if sub.isVisible():
                    sub.reject()
        QTimer.singleShot(30, close_print_dialog)
        [action] = [a for a in dialog.findChildren(QAction) if a.text().replace("&", "") == "Print"]
        action.trigger()  # QPrintPreviewDialog runs its print dialog with exec()
        spin(app)
    dialog.close()
    del dialog
    if drop_parent:
        del parent
    spin(app)


def main(argv: list[str] | None = None) -> int:
    """Run the cycles; returns the exit code (0: all survived)."""
    faulthandler.enable()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cycles", type=int, nargs="?", default=200)
    ap.add_argument("--print", dest="print_too", action="store_true")
    ap.add_argument("--drop-parent", action="store_true")
    ap.add_argument("--orphan", action="store_true")
    args = ap.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    pdf = doctor_day_sheet_pdf(day_view([appointment(1, local(DAY, 8), 30, "João Pereira")]), ANA,
                               printed_by="maria", printed_at=datetime(2027, 1, 4, 10, 55, tzinfo=UTC))
    for i in range(args.cycles):
        cycle(app, pdf, orphan=args.orphan, print_too=args.print_too, drop_parent=args.drop_parent)
        if i % 5 == 0:
            gc.collect()
    print("ok", args.cycles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
