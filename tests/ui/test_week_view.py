"""The week grid: model layout from a real database (``dayview.load_week``), DST days, and the
day grid's view working on it unchanged (booking, dragging, the now line, typing)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QHeaderView

from reception_app.services import dayview
from reception_app.ui.day_model import APPOINTMENT_ROLE, CELL_STATE_ROLE, PAINT_ROLE, SPAN_ROLE
from reception_app.ui.day_view import DayGridView
from reception_app.ui.grid_header import GridHeader
from reception_app.ui.week_model import WeekGridModel

from .conftest import DAY, Booked, at

TUESDAY = DAY + timedelta(days=1)


def _week(booked: Booked, branch: str = "Centro", day: date = DAY) -> WeekGridModel:
    model = WeekGridModel()
    model.set_week(dayview.load_week(booked.db, branch, day))
    return model


def _col(model: WeekGridModel, local_date: date, name: str) -> int:
    return next(c for c in model.columns_of_date(local_date) if model.columns[c].name == name)


def test_week_model_passes_the_model_tester(qtmodeltester, booked: Booked) -> None:
    model = _week(booked)
    qtmodeltester.check(model)
    for resource_set in ("doctor", "room", "equipment", "all"):
        model.set_resource_set(resource_set)
        qtmodeltester.check(model)
    model.set_resource_filter(frozenset({booked.first.resource_ids["doctor"]}))
    qtmodeltester.check(model)
    model.set_week(dayview.load_week(booked.db, "Berlin", date(2027, 10, 31)))
    qtmodeltester.check(model)
    model.set_week(None)
    qtmodeltester.check(model)


def test_columns_are_grouped_by_day(booked: Booked) -> None:
    model = _week(booked)
    assert model.columnCount() == 7 * 5 and model.columns_per_day == 5
    assert model.headerData(0, Qt.Orientation.Horizontal) == "Mon 4 Jan\nAna Souza"
    assert model.headerData(5, Qt.Orientation.Horizontal) == "Tue 5 Jan\nAna Souza"
    assert model.headerData(34, Qt.Orientation.Horizontal) == "Sun 10 Jan\nUltrasound A"
    assert model.date_of_column(7) == TUESDAY and list(model.columns_of_date(TUESDAY)) == [5, 6, 7, 8, 9]
    assert "Branch closed" in model.headerData(30, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    # The last column of each day ends a group (a darker line in the view).
    assert [model.index(0, c).data(PAINT_ROLE)[6] for c in range(10)] == [False] * 4 + [True] + [False] * 4 + [True]
    model.set_resource_set("equipment")
    assert model.columnCount() == 7
    assert [model.headerData(c, Qt.Orientation.Horizontal).split("\n")[0] for c in range(7)] == [
        "Mon 4 Jan", "Tue 5 Jan", "Wed 6 Jan", "Thu 7 Jan", "Fri 8 Jan", "Sat 9 Jan", "Sun 10 Jan"]


def test_rows_are_wall_clock_lines_over_the_union_of_the_days(booked: Booked) -> None:
    model = _week(booked)
    # Ana Souza's Friday night shift (22:00-06:00) stretches the week to the whole clock.
    assert model.rowCount() == 96
    assert model.headerData(0, Qt.Orientation.Vertical) == "00:00"
    assert model.headerData(95, Qt.Orientation.Vertical) == "23:45"
    seven = model.row_of(at(7))
    assert model.cell_instant(seven, 0) == at(7) and model.cell_instant(seven, 5) == at(7, day=TUESDAY)
    assert model.row_of(at(7, day=TUESDAY)) == seven == model.row_of(at(7, day=TUESDAY), 5)
    assert model.row_of(at(7), 5) is None  # Monday 07:00 is not in Tuesday's column
    saturday = DAY + timedelta(days=5)
    ana_sat = _col(model, saturday, "Ana Souza")
    # Her shift covers Saturday 05:00 but the branch is closed then: shaded closed (issue 16), and
    # the tooltip says why.
    five = model.index(model.row_of(at(5, day=saturday)), ana_sat)
    assert five.data(CELL_STATE_ROLE) == "closed"
    assert five.data(Qt.ItemDataRole.ToolTipRole).endswith("on shift, but the branch is closed")
    assert model.index(model.row_of(at(7, day=saturday)), ana_sat).data(CELL_STATE_ROLE) == "closed"
    # A branch with one day's hours only: the rows span just those.
    berlin = _week(booked, "Berlin", DAY)
    assert berlin.rowCount() == 96  # open around the clock at weekends


def test_blocks_sit_on_their_day_with_tooltips_naming_it(booked: Booked) -> None:
    model = _week(booked)
    ana_mon = _col(model, DAY, "Ana Souza")
    r8 = model.row_of(at(8), ana_mon)
    anchor = model.index(r8, ana_mon)
    assert anchor.data(APPOINTMENT_ROLE).id == booked.first.id and anchor.data(SPAN_ROLE) == 2
    assert model.index(r8 + 1, ana_mon).data(APPOINTMENT_ROLE).id == booked.first.id
    assert model.index(r8, _col(model, TUESDAY, "Ana Souza")).data(APPOINTMENT_ROLE) is None
    tip = anchor.data(Qt.ItemDataRole.ToolTipRole)
    assert "Maria Silva" in tip and "Mon 4 Jan, 08:00–08:30" in tip and "Status: Confirmed" in tip
    assert "First visit" in tip
    free = model.index(model.row_of(at(10, day=TUESDAY), 5), 5)
    assert free.data(Qt.ItemDataRole.ToolTipRole) == "Ana Souza, Tue 5 Jan 10:00: free — double-click to book"
    assert len(model.spans()) == 2 * 3


def test_a_saved_selection_of_one_resource_gives_a_column_per_day(booked: Booked) -> None:
    model = _week(booked)
    model.set_resource_filter(frozenset({booked.first.resource_ids["equipment"]}))
    assert model.columnCount() == 7 and {r.name for r in model.columns} == {"Ultrasound A"}
    assert model.index(model.row_of(at(9), 0), 0).data(APPOINTMENT_ROLE).id == booked.second.id
    model.set_resource_filter(None)
    assert model.columnCount() == 35


def test_a_skipped_hour_is_shaded_as_missing_on_its_day_only(booked: Booked) -> None:
    model = _week(booked, "Berlin", date(2027, 3, 22))  # Sunday 28 March: 02:00 -> 03:00
    sunday = date(2027, 3, 28)
    labels = [model.headerData(r, Qt.Orientation.Vertical) for r in range(model.rowCount())]
    assert labels[:9] == ["00:00", "00:15", "00:30", "00:45", "01:00", "01:15", "01:30", "01:45", "02:00"]
    two = labels.index("02:30")
    room_sun, room_sat = _col(model, sunday, "Berlin Room"), _col(model, sunday - timedelta(days=1), "Berlin Room")
    cell = model.index(two, room_sun)
    assert cell.data(CELL_STATE_ROLE) == "missing" and model.cell_instant(two, room_sun) is None
    assert "does not exist" in cell.data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(two, room_sat).data(CELL_STATE_ROLE) == "open"
    assert model.cell_instant(labels.index("03:00"), room_sun) == datetime(2027, 3, 28, 1, tzinfo=UTC)


def test_a_repeated_hour_gets_second_rows_missing_on_other_days(booked: Booked) -> None:
    model = _week(booked, "Berlin", date(2027, 10, 25))  # Sunday 31 October: 03:00 -> 02:00
    sunday = date(2027, 10, 31)
    labels = [model.headerData(r, Qt.Orientation.Vertical) for r in range(model.rowCount())]
    first, second = labels.index("02:00"), labels.index("02:00 (2nd)")
    assert labels[first:second + 5] == ["02:00", "02:15", "02:30", "02:45", "02:00 (2nd)", "02:15 (2nd)",
                                        "02:30 (2nd)", "02:45 (2nd)", "03:00"]
    room_sun, room_sat = _col(model, sunday, "Berlin Room"), _col(model, sunday - timedelta(days=1), "Berlin Room")
    assert model.cell_instant(second, room_sun) - model.cell_instant(first, room_sun) == timedelta(hours=1)
    assert model.index(second, room_sat).data(CELL_STATE_ROLE) == "missing"
    assert model.row_of(datetime(2027, 10, 31, 1, 10, tzinfo=UTC)) == second + 0  # 02:10 CET, the 2nd pass


@pytest.fixture
def grid(qtbot, booked: Booked):
    model = WeekGridModel()
    model.set_week(dayview.load_week(booked.db, "Centro", DAY))
    view = DayGridView()
    view.setModel(model)
    view.resize(1500, 900)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    return view, model


def _center(view: DayGridView, row: int, col: int) -> QPoint:
    view.scrollTo(view.model().index(row, col))
    return QPoint(view.columnViewportPosition(col) + view.columnWidth(col) // 2,
                  view.rowViewportPosition(row) + view.rowHeight(row) // 2)


def test_the_view_books_on_the_cell_of_another_day(qtbot, grid) -> None:
    view, model = grid
    assert view.horizontalHeader().minimumSectionSize() == WeekGridModel.MIN_COLUMN_WIDTH
    col = _col(model, TUESDAY, "Bruno Lima")
    where = _center(view, model.row_of(at(10, day=TUESDAY)), col)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    with qtbot.waitSignal(view.booking_requested) as requested:
        qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert requested.args[0] == at(10, day=TUESDAY) and requested.args[1].name == "Bruno Lima"


def test_dragging_a_block_to_another_day(qtbot, grid, booked: Booked) -> None:
    view, model = grid
    ana_mon, ana_tue = _col(model, DAY, "Ana Souza"), _col(model, TUESDAY, "Ana Souza")
    start = _center(view, model.row_of(at(8), ana_mon), ana_mon)
    with qtbot.waitSignal(view.move_requested) as requested:
        qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
        end = QPoint(view.columnViewportPosition(ana_tue) + 20, start.y() + 2 * view.rowHeight(0))
        qtbot.mouseMove(view.viewport(), pos=end)
        assert view.is_dragging()
        assert not view.viewport().grab().isNull()  # paints the drop outline
        qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    appointment, new_start, resource = requested.args
    assert appointment.id == booked.first.id and new_start == at(8, 30, day=TUESDAY) and resource is None


def test_the_now_line_crosses_only_today(qtbot, grid) -> None:
    view, model = grid
    now = at(9, 30, day=TUESDAY)
    view.set_now(now)
    view.scroll_to_instant(now)
    y, x0, x1 = view.now_line()
    cols = model.columns_of_date(TUESDAY)
    assert x0 == view.columnViewportPosition(cols[0])
    assert x1 == view.columnViewportPosition(cols[-1]) + view.columnWidth(cols[-1])
    assert y == view.rowViewportPosition(model.row_of(now))  # 09:30 is where its row begins
    view.set_now(at(9, 30, day=DAY + timedelta(days=7)))  # next week: no line
    assert view.now_line() is None


def test_typing_on_the_grid_starts_a_patient_search(qtbot, grid) -> None:
    view, _ = grid
    view.setFocus()
    with qtbot.waitSignal(view.search_typed) as typed:
        qtbot.keyClick(view, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier, )
    assert typed.args == ["M"] or typed.args == ["m"]
    with qtbot.waitSignal(view.search_typed) as typed:
        qtbot.keyClicks(view, "7")
    assert typed.args == ["7"]
    with qtbot.assertNotEmitted(view.search_typed):
        qtbot.keyClick(view, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClick(view, Qt.Key.Key_Space)
        qtbot.keyClick(view, Qt.Key.Key_Down)


def _ink_at_edges(image: QImage, left: int, right: int) -> tuple[bool, bool]:
    """Whether dark (text) pixels touch the 2 pixels inside the left / right edge of a section
    spanning ``left``..``right`` of a header ``image`` (the style keeps text 4 pixels in)."""
    def inked(xs: range) -> bool:
        return any(image.pixelColor(x, y).lightness() < 110 for x in xs for y in range(image.height()))
    return inked(range(left + 1, left + 3)), inked(range(right - 3, right - 1))


def test_a_header_line_wider_than_its_column_ends_in_an_ellipsis_not_cut_at_both_ends(qtbot, grid) -> None:
    view, model = grid
    header = view.horizontalHeader()
    assert isinstance(header, GridHeader)
    assert header.shown_text(0) == "Mon 4 Jan\nAna Souza"  # both lines fit: shown whole
    long_name = "Mon 4 Jan\nDr Maximiliana Albuquerque-Vasconcelos"
    shown = header.shown_text(0, long_name).split("\n")
    assert shown[0] == "Mon 4 Jan" and shown[1].startswith("Dr Maxim") and shown[1].endswith("…")
    header.setMinimumSectionSize(20)
    header.setSectionResizeMode(header.ResizeMode.Fixed)
    header.resizeSection(0, header.fontMetrics().horizontalAdvance("Ana Souza") - 8)  # both lines are wider
    qtbot.wait(10)
    assert [line[-1] for line in header.shown_text(0).split("\n")] == ["…", "…"]
    left = header.sectionViewportPosition(0)
    assert _ink_at_edges(header.grab().toImage(), left, left + header.sectionSize(0)) == (False, False)
    plain = QHeaderView(Qt.Orientation.Horizontal)  # Qt's own header: the centred lines overflow both edges
    plain.setModel(model)
    plain.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
    plain.setMinimumSectionSize(20)
    plain.resizeSection(0, header.sectionSize(0))
    plain.resize(400, header.height())
    qtbot.addWidget(plain)
    plain.show()
    qtbot.waitExposed(plain)
    assert _ink_at_edges(plain.grab().toImage(), 0, plain.sectionSize(0)) == (True, True)
    assert "Ana Souza" in model.headerData(0, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
