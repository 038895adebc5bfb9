"""Views that fit a screen (issue 16 §5, with the grid items of §4 and §7): the week of one
resource or the branch overview, doctors first, muted copies in "All", closed cells, cancelled
appointments as faint outlines, the window's remembered size and place, the doctor's day dock's
picker, and the refusal shown while dragging.

Against the real test database at ``conftest``'s fixed time (DAY: Monday 4 January 2027, Centro).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from PySide6.QtCore import QPoint, QSettings, Qt

from reception_app.services import dayview, scheduling
from reception_app.ui.day_model import CANCELLED_ROLE, CELL_STATE_ROLE, COPY_ROLE, SPAN_ROLE, DayGridModel
from reception_app.ui.main_window import GEOMETRY_KEY, SHOW_CANCELLED_KEY, MainWindow
from reception_app.ui.runner import Runner
from reception_app.ui.week_model import WeekGridModel

from .conftest import DAY, NOW, Booked, at, make_window

LEFT = Qt.MouseButton.LeftButton
TUESDAY = DAY + timedelta(days=1)


def _col(window: MainWindow, name: str) -> int:
    return next(c for c, r in enumerate(window.model.columns) if r.name == name)


def _point(window: MainWindow, when: datetime, name: str) -> QPoint:
    """Viewport point in the middle of the row of ``when`` in ``name``'s day column."""
    grid, row, col = window.grid, window.model.row_of(when), _col(window, name)
    assert row is not None
    grid.scrollTo(window.model.index(row, col))
    return QPoint(grid.columnViewportPosition(col) + grid.columnWidth(col) // 2,
                  grid.rowViewportPosition(row) + grid.rowHeight(row) // 2)


def _to_week(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.week_loaded, timeout=10_000):
        window.set_mode("week")


# -- the week ----------------------------------------------------------------------------------------
def test_the_week_of_one_doctor_is_seven_day_columns_that_fit_the_screen(qtbot, window: MainWindow,
                                                                         booked: Booked) -> None:
    window.resize(1280, 720)
    _to_week(qtbot, window)
    picker = window.nav.week_picker
    assert picker.isVisible() and picker.itemText(0) == "Overview"
    assert [picker.itemText(i) for i in range(picker.count()) if picker.itemData(i) is not None] == [
        "Ana Souza", "Bruno Lima", "Imaging 1", "Imaging 2", "Ultrasound A"]
    index = picker.findText("Ana Souza")
    picker.setCurrentIndex(index)
    picker.activated.emit(index)
    model = window.week_model
    assert not window.nav.shows_overview and window.grid.isVisible()
    assert model.columnCount() == 7 and [model.date_of_column(c) for c in range(7)] == [
        DAY + timedelta(days=i) for i in range(7)]
    assert model.headerData(1, Qt.Orientation.Horizontal) == "Tue 5 Jan\nAna Souza"
    qtbot.waitUntil(lambda: window.grid.horizontalScrollBar().maximum() == 0)  # no sideways scrolling
    # Scrolled to the week's first opening (Monday 07:00), not to midnight.
    qtbot.waitUntil(lambda: window.grid.rowAt(0) == model.row_of(at(7), 0))
    assert window.summary_label.text() == "2 appointments this week"
    # Back to the overview with the picker; the day view leaves the picker out.
    picker.setCurrentIndex(0)
    picker.activated.emit(0)
    assert window.nav.shows_overview and window.week_overview.isVisible() and not window.grid.isVisible()
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.set_mode("day")
    assert not picker.isVisible() and window.grid.isVisible()


def test_the_overview_counts_per_resource_and_day_and_opens_a_resource_s_week(qtbot, window: MainWindow,
                                                                              booked: Booked) -> None:
    window.resize(1280, 720)
    _to_week(qtbot, window)
    window.set_resource_set("all")
    overview = window.week_overview_model
    assert [r.name for r in overview.resources] == [
        "Ana Souza", "Bruno Lima", "Imaging 1", "Imaging 2", "Ultrasound A"]
    ids = booked.first.resource_ids
    for kind in ("doctor", "room", "equipment"):  # each appointment counts once per resource it books
        assert overview.load(ids[kind], DAY)[:2] == (2, 60)
    assert overview.load(ids["doctor"], TUESDAY) == (0, 0, 240)  # on shift 08-12, nothing booked
    assert overview.load(ids["room"], DAY)[2] == 11 * 60  # open 07-12 and 13-19
    assert overview.load(ids["room"], DAY + timedelta(days=5))[2] == 0  # closed on Saturday
    assert window.summary_label.text() == "2 appointments this week"  # each appointment once
    qtbot.waitUntil(lambda: window.week_overview.horizontalScrollBar().maximum() == 0
                    and window.week_overview.verticalScrollBar().maximum() == 0)  # one screen
    # Double-click on Bruno Lima's Tuesday: his week, day by day.
    view = window.week_overview
    cell = overview.index(1, 1)
    qtbot.mouseClick(view.viewport(), LEFT, pos=view.visualRect(cell).center())
    with qtbot.waitSignal(view.resource_week_requested) as requested:
        qtbot.mouseDClick(view.viewport(), LEFT, pos=view.visualRect(cell).center())
    assert requested.args == [overview.resources[1].id]
    assert window.nav.week_resource == overview.resources[1].id
    assert [r.name for r in window.week_model.columns] == ["Bruno Lima"] * 7 and window.grid.isVisible()
    # A kind button clicked: that kind's week at a glance again.
    rooms = next(b for b in window.set_buttons.buttons() if b.text() == "Rooms")
    qtbot.mouseClick(rooms, LEFT)
    assert window.nav.shows_overview and window.nav.week_picker.currentText() == "Overview"
    assert [r.name for r in overview.resources] == ["Imaging 1", "Imaging 2"]


def test_a_saved_selection_shows_its_few_columns_a_day_and_the_picker_gives_way(
        qtbot, window: MainWindow, booked: Booked) -> None:
    from reception_app.ui.resource_selection import ResourceSelection

    _to_week(qtbot, window)
    ids = booked.first.resource_ids
    window.nav.apply_selection(ResourceSelection("Ana and her room", frozenset({ids["doctor"], ids["room"]})))
    assert not window.nav.shows_overview and window.grid.isVisible()
    assert window.week_model.columns_per_day == 2 and window.week_model.columnCount() == 14
    window.nav.set_week_resource(ids["room"])  # one resource picked: the selection gives way
    assert window.week_model.columnCount() == 7 and {r.name for r in window.week_model.columns} == {"Imaging 1"}


# -- the day -----------------------------------------------------------------------------------------
def test_all_marks_the_room_and_equipment_copies_of_a_block(booked: Booked) -> None:
    view = dayview.load_day(booked.db, "Centro", DAY)
    # The read model has the cancelled appointment apart from the live ones.
    assert [a.id for a in view.cancelled] == [booked.cancelled.id]
    assert booked.cancelled.id not in {a.id for a in view.appointments} and len(view.appointments) == 2
    model = DayGridModel()
    model.set_day(view)
    names = [r.name for r in model.columns]
    row = model.row_of(at(8))

    def cell(name: str):
        return model.index(row, names.index(name))

    assert cell("Ana Souza").data(COPY_ROLE) is False
    assert cell("Imaging 1").data(COPY_ROLE) and cell("Ultrasound A").data(COPY_ROLE)
    assert cell("Imaging 1").data(Qt.ItemDataRole.ToolTipRole).endswith("(a copy: the doctor's column shows it too)")
    assert model.shown_appointment_count() == 2
    model.set_resource_set("room")  # no doctor's column: the room's block is the one shown
    assert model.index(row, 0).data(COPY_ROLE) is False and model.columns[0].name == "Imaging 1"


def test_a_15_minute_block_names_its_time_and_service_on_hover(booked: Booked) -> None:
    saturday = DAY + timedelta(days=5)
    made = scheduling.book(booked.db, branch="Berlin", service="Consultation", patient_id=booked.maria,
                           start=datetime(2027, 1, 9, 10, tzinfo=ZoneInfo("Europe/Berlin")), now=NOW)
    model = WeekGridModel()
    model.set_week(dayview.load_week(booked.db, "Berlin", saturday))
    model.set_resource_filter(frozenset({made.resource_ids["doctor"]}))
    col = next(iter(model.columns_of_date(saturday)))
    index = model.index(model.row_of(made.start, col), col)
    assert index.data(SPAN_ROLE) == 1  # one row: the block shows the name, elided when it must be
    tip = index.data(Qt.ItemDataRole.ToolTipRole).split("\n")
    assert tip[:3] == ["Maria Silva", "Consultation", "Sat 9 Jan, 10:00–10:15"]


def test_a_cell_where_the_branch_is_closed_is_closed_even_on_shift(booked: Booked) -> None:
    model = DayGridModel()
    view = dayview.load_day(booked.db, "Centro", DAY + timedelta(days=4))  # Friday: Ana works 22:00-06:00
    model.set_day(view)
    ana = next(c for c, r in enumerate(model.columns) if r.name == "Ana Souza")
    night = model.index(model.row_of(at(23, day=view.local_date)), ana)
    assert model.columns[ana].is_available(at(23, day=view.local_date), at(23, 15, day=view.local_date))
    assert night.data(CELL_STATE_ROLE) == "closed"
    assert "branch is closed" in night.data(Qt.ItemDataRole.ToolTipRole)


def test_the_cancelled_appointment_is_a_faint_outline_that_never_takes_the_cell(
        qtbot, window: MainWindow, booked: Booked) -> None:
    model, grid = window.model, window.grid
    ana = _col(window, "Ana Souza")
    ten = model.index(model.row_of(at(10)), ana)
    assert ten.data(CANCELLED_ROLE).id == booked.cancelled.id
    assert model.appointment_at(ten) is None and ten.data(CELL_STATE_ROLE) == "open"
    assert "Cancelled: Ana Clara Souza" in ten.data(Qt.ItemDataRole.ToolTipRole)
    assert model.cancelled_blocks() == [(model.row_of(at(10)), ana, 2, model.cancelled_at(ten))]
    assert window.summary_label.text() == "2 appointments"  # not counted
    grid.scrollTo(ten)
    rect = grid.visualRect(ten)
    shown = grid.viewport().grab(rect).toImage()
    # Double-click books there as on any free cell.
    qtbot.mouseClick(grid.viewport(), LEFT, pos=rect.center())
    with qtbot.waitSignal(window.booking_dialog_opened) as opened:
        qtbot.mouseDClick(grid.viewport(), LEFT, pos=rect.center())
    assert opened.args[0].local_date == DAY
    opened.args[0].reject()
    # Selected, it is the current appointment, with what a cancelled one allows (no status change,
    # no reschedule; its patient); the Menu key asks for its menu.
    grid.setFocus()
    grid.setCurrentIndex(ten)
    assert window.current_appointment().id == booked.cancelled.id
    assert not any(a.isEnabled() for a in window.status_actions.values())
    assert not window.reschedule_action.isEnabled() and window.open_patient_action.isEnabled()
    grid.appointment_menu_requested.disconnect(window.appointment_actions.show_menu)  # no popup offscreen
    with qtbot.waitSignal(grid.appointment_menu_requested) as asked:
        qtbot.keyClick(grid, Qt.Key.Key_Menu)
    assert asked.args[0].id == booked.cancelled.id
    # "Show cancelled" off: gone, and remembered.
    assert window.show_cancelled_action.isChecked() and window.show_cancelled_action in window.view_menu.actions()
    window.show_cancelled_action.trigger()
    assert model.index(ten.row(), ana).data(CANCELLED_ROLE) is None and model.cancelled_blocks() == []
    assert str(QSettings().value(SHOW_CANCELLED_KEY)).lower() == "false"
    qtbot.wait(10)
    assert grid.viewport().grab(rect).toImage() != shown  # the outline is no longer painted
    assert window.summary_label.text() == "2 appointments"


def test_show_cancelled_off_is_remembered_by_the_next_window(qtbot, booked: Booked, runner: Runner) -> None:
    QSettings().setValue(SHOW_CANCELLED_KEY, False)
    window = make_window(qtbot, booked.db, runner)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.show()
    assert not window.show_cancelled_action.isChecked() and not window.model.show_cancelled
    assert window.model.cancelled_blocks() == []


def test_the_window_comes_back_at_its_last_size_and_place(qtbot, booked: Booked, runner: Runner) -> None:
    first = make_window(qtbot, booked.db, runner)
    assert not first.geometry_restored  # the app opens it maximized then
    first.show()
    qtbot.waitExposed(first)
    first.resize(711, 533)  # the offscreen screen is 800 x 600: restoring keeps a window on it
    qtbot.waitUntil(lambda: first.size().width() == 711)
    first.close()
    assert QSettings().value(GEOMETRY_KEY)
    second = make_window(qtbot, booked.db, runner)
    assert second.geometry_restored and (second.width(), second.height()) == (711, 533)


def test_the_doctor_s_day_dock_has_a_doctor_picker_and_leaves_the_grid_its_width(
        qtbot, window: MainWindow) -> None:
    window.resize(1280, 720)
    with qtbot.waitSignal(window.my_day_loaded, timeout=10_000) as loaded:
        window.my_day_dock.show()
    assert loaded.args[0].doctor == "Ana Souza"
    picker = window.docks.doctor_picker
    assert picker.isVisible() and [picker.itemText(i) for i in range(picker.count())] == ["Ana Souza", "Bruno Lima"]
    assert picker.currentText() == "Ana Souza"
    with qtbot.waitSignal(window.my_day_loaded, timeout=10_000) as loaded:
        picker.setCurrentIndex(1)
        picker.activated.emit(1)
    assert loaded.args[0].doctor == "Bruno Lima"
    # Under the month calendar, in one side column: the grid keeps most of the width.
    assert window.dockWidgetArea(window.my_day_dock) == window.dockWidgetArea(window.calendar_dock)
    qtbot.waitUntil(lambda: window.grid.width() > window.width() * 0.55)


# -- dragging ----------------------------------------------------------------------------------------
def test_dragging_over_a_busy_place_shows_the_refusal(qtbot, window: MainWindow, booked: Booked) -> None:
    grid, viewport = window.grid, window.grid.viewport()
    qtbot.mousePress(viewport, LEFT, pos=_point(window, at(8), "Ana Souza"))
    qtbot.mouseMove(viewport, pos=_point(window, at(9), "Ana Souza"))  # João's block
    assert grid.is_dragging() and grid.drop_refusal() == "busy"
    assert viewport.cursor().shape() == Qt.CursorShape.ForbiddenCursor
    assert not viewport.grab().isNull()  # paints the red outline and its reason
    qtbot.mouseMove(viewport, pos=_point(window, at(10), "Bruno Lima"))  # free, on shift
    assert grid.drop_refusal() is None and viewport.cursor().shape() == Qt.CursorShape.ClosedHandCursor
    qtbot.mouseMove(viewport, pos=_point(window, at(14), "Bruno Lima"))  # the branch is open, he is not
    assert grid.drop_refusal() == "off shift"
    assert viewport.cursor().shape() == Qt.CursorShape.ForbiddenCursor
    qtbot.keyClick(grid, Qt.Key.Key_Escape)
    assert not grid.is_dragging()


def test_a_signed_in_doctor_s_week_is_their_own_and_the_dock_has_no_picker(qtbot, booked: Booked, runner: Runner,
                                                                           login) -> None:
    from types import SimpleNamespace

    name, db = login("doctor", doctor="Bruno Lima")
    bruno = next(r.id for r in dayview.load_day(booked.db, "Centro", DAY).resources if r.name == "Bruno Lima")
    session = SimpleNamespace(login=name, role="doctor", doctor_resource_id=bruno, doctor_name="Bruno Lima")
    window = make_window(qtbot, db, runner, session=session)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.show()
    assert not window.docks.doctor_picker.isVisible()
    _to_week(qtbot, window)
    assert not window.nav.shows_overview and window.nav.week_picker.currentText() == "Bruno Lima"
    assert [r.name for r in window.week_model.columns] == ["Bruno Lima"] * 7


def test_the_header_counts_what_is_shown(qtbot, window: MainWindow, booked: Booked) -> None:
    from reception_app.ui.resource_selection import ResourceSelection

    assert window.summary_label.text() == "2 appointments"
    bruno = next(r.id for r in window.model.columns if r.name == "Bruno Lima")
    window.nav.apply_selection(ResourceSelection("Bruno", frozenset({bruno})))
    assert window.summary_label.text() == "0 appointments"  # both are Ana Souza's
    window.set_resource_set("equipment")
    assert window.summary_label.text() == "2 appointments"
