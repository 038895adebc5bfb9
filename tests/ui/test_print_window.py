"""Printing from the main window: Ctrl+P prints the selected doctor's day sheet,
Ctrl+Shift+P the branch's day list, both through the print preview."""

from __future__ import annotations

import pypdfium2 as pdfium
from PySide6.QtCore import Qt
from PySide6.QtPrintSupport import QPrintPreviewDialog

from .conftest import Booked, select_block


def _pdf_text(pdf: bytes) -> str:
    doc = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in doc)
    finally:
        doc.close()


def _printed(qtbot, window, trigger) -> tuple[QPrintPreviewDialog, bytes]:
    captured: list[bytes] = []
    original = window._show_print_preview

    def keep(pdf: bytes, title: str) -> None:  # the real preview still opens; the bytes are kept for checks
        captured.append(pdf)
        original(pdf, title)

    window._show_print_preview = keep
    trigger()
    qtbot.waitUntil(lambda: window.print_preview is not None and window.print_preview.isVisible(), timeout=10_000)
    dialog = window.print_preview
    assert isinstance(dialog, QPrintPreviewDialog)
    return dialog, captured[0]


def test_ctrl_p_prints_the_selected_doctors_day_sheet(qtbot, window, booked: Booked):
    select_block(window, booked.first)
    dialog, pdf = _printed(qtbot, window, lambda: qtbot.keyClick(window.grid, Qt.Key.Key_P,
                                                                 Qt.KeyboardModifier.ControlModifier))
    text = _pdf_text(pdf)
    assert booked.first.resources["doctor"] in text
    assert "Maria Silva" in text and "08:00" in text  # branch-local time
    assert "João Pereira" in text
    assert "+55 27 99999-0001" in text  # the phone column shows the patient's phone (issue 16 §6)
    assert "Day sheet" in dialog.windowTitle() or "Day sheet" in text
    dialog.close()


def test_the_day_list_lists_every_live_appointment(qtbot, window, booked: Booked):
    dialog, pdf = _printed(qtbot, window, window.print_list_action.trigger)
    text = _pdf_text(pdf)
    assert "Maria Silva" in text and "João Pereira" in text
    assert "+55 27 99999-0001" in text  # Maria's phone, in international format
    assert "Ana Clara Souza" not in text  # cancelled: not on the list
    dialog.close()


def test_without_a_doctor_column_the_status_bar_says_what_to_do(qtbot, window):
    window.set_resource_set("all")
    model = window.model
    assert sum(1 for r in model.columns if r.kind == "doctor") == 2  # Ana Souza and Bruno Lima work Mondays
    room = next(c for c, r in enumerate(model.columns) if r.kind != "doctor")
    window.grid.setCurrentIndex(model.index(0, room))
    window.print_sheet_action.trigger()
    assert "doctor's column" in window.statusBar().currentMessage()
    assert window.print_preview is None
