"""Dragging over free cells of one column to book there: the range is highlighted while dragging,
stops before a block, and on release opens the booking dialog at its start with that resource and
a service that fits its length. Dragging a block still moves it (test_drag_move)."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import QPoint, Qt

from reception_app.services.dayview import BranchSummary
from reception_app.ui.booking_dialog import BookingDialog
from reception_app.ui.main_window import MainWindow
from reception_app.ui.runner import Runner

from .conftest import DAY, NOW, Booked, at

LEFT = Qt.MouseButton.LeftButton


def _point(window: MainWindow, hour: int, minute: int, column: str) -> QPoint:
    grid, model = window.grid, window.model
    row = model.row_of(at(hour, minute))
    col = next(c for c, r in enumerate(model.columns) if r.name == column)
    assert row is not None
    point = QPoint(grid.columnViewportPosition(col) + grid.columnWidth(col) // 2,
                   grid.rowViewportPosition(row) + grid.rowHeight(row) // 2)
    assert grid.viewport().rect().contains(point)
    return point


def test_dragging_down_free_cells_books_that_range(qtbot, window: MainWindow) -> None:
    viewport = window.grid.viewport()
    qtbot.mousePress(viewport, LEFT, pos=_point(window, 10, 0, "Bruno Lima"))
    qtbot.mouseMove(viewport, pos=_point(window, 10, 45, "Bruno Lima"))
    assert window.grid.is_selecting_range() and not window.grid.is_dragging()
    assert window.grid.range_selected() == (at(10), timedelta(hours=1))
    assert not viewport.grab().isNull()  # paints the highlighted range
    with qtbot.waitSignal(window.grid.booking_requested) as requested, \
            qtbot.waitSignal(window.booking_dialog_opened) as opened:
        qtbot.mouseRelease(viewport, LEFT, pos=_point(window, 10, 45, "Bruno Lima"))
    start, resource = requested.args
    assert start == at(10) and resource.name == "Bruno Lima"
    assert window.grid.requested_length() == timedelta(hours=1)
    assert not window.grid.is_selecting_range()
    dialog: BookingDialog = opened.args[0]
    qtbot.waitUntil(lambda: dialog.service_combo.count() > 0, timeout=10_000)
    assert dialog.local_date == DAY and dialog.selected_service().name == "Abdominal ultrasound"
    qtbot.waitUntil(lambda: dialog.slot_tree.topLevelItemCount() > 0, timeout=10_000)
    assert {o.resources["doctor"] for o in dialog.offers} == {"Bruno Lima"}
    assert dialog.selected_offer() is None or dialog.selected_offer().start == at(10)
    dialog.reject()


def test_a_range_stops_before_a_block_and_may_go_up(qtbot, window: MainWindow, booked: Booked) -> None:
    """Ana Souza's 09:00 block (30 min) ends the range dragged up from 10:30 at 09:30."""
    viewport = window.grid.viewport()
    qtbot.mousePress(viewport, LEFT, pos=_point(window, 10, 30, "Ana Souza"))
    qtbot.mouseMove(viewport, pos=_point(window, 8, 30, "Ana Souza"))
    assert window.grid.range_selected() == (at(9, 30), timedelta(hours=1, minutes=15))
    with qtbot.waitSignal(window.grid.booking_requested) as requested:
        qtbot.mouseRelease(viewport, LEFT, pos=_point(window, 8, 30, "Ana Souza"))
    assert requested.args[0] == at(9, 30) and requested.args[1].name == "Ana Souza"
    assert window.model.row_of(at(9, 30)) == window.grid.currentIndex().row()


def test_escape_cancels_a_range_and_a_plain_click_still_books_one_cell(qtbot, window: MainWindow) -> None:
    viewport = window.grid.viewport()
    with qtbot.assertNotEmitted(window.grid.booking_requested):
        qtbot.mousePress(viewport, LEFT, pos=_point(window, 10, 0, "Bruno Lima"))
        qtbot.mouseMove(viewport, pos=_point(window, 11, 0, "Bruno Lima"))
        qtbot.keyClick(window.grid, Qt.Key.Key_Escape)
        assert not window.grid.is_selecting_range()
        qtbot.mouseRelease(viewport, LEFT, pos=_point(window, 11, 0, "Bruno Lima"))
    qtbot.mouseClick(viewport, LEFT, pos=_point(window, 11, 0, "Bruno Lima"))  # a double-click's first press
    with qtbot.waitSignal(window.booking_dialog_opened) as opened:
        qtbot.mouseDClick(viewport, LEFT, pos=_point(window, 11, 0, "Bruno Lima"))
    assert window.grid.requested_length() is None
    opened.args[0].reject()


def test_the_booking_dialog_prefers_the_longest_service_that_fits_the_range(
        qtbot, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    for length, expected in ((timedelta(minutes=20), "Consultation"), (timedelta(minutes=45), "Abdominal ultrasound"),
                             (timedelta(minutes=10), "Abdominal ultrasound")):  # nothing fits: the first
        dialog = BookingDialog(booked.db, runner, branch=centro, local_date=DAY, clock=lambda: NOW,
                               search_delay_ms=0, length=length)
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda d=dialog: d.service_combo.count() > 0, timeout=10_000)
        assert dialog.selected_service().name == expected
        qtbot.waitUntil(lambda d=dialog: not runner.busy, timeout=10_000)
        dialog.reject()
