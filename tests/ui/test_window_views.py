"""The main window's views, driven like a receptionist would: the week view (Ctrl+1/Ctrl+2),
the month calendar, saved resource selections and live refresh of the week.

Everything runs against the real test database at the fixed time of ``conftest``.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path

from PySide6.QtCore import QDate, QSettings, Qt
from PySide6.QtWidgets import QTableView

from reception_app.services import scheduling
from reception_app.store.database import Database
from reception_app.ui.booking_dialog import BookingDialog
from reception_app.ui.day_model import APPOINTMENT_ROLE, CELL_STATE_ROLE
from reception_app.ui.live import LiveSchedule
from reception_app.ui.main_window import MainWindow
from reception_app.ui.resource_selection import ResourceSelectionDialog, SelectionStore
from reception_app.ui.runner import Runner
from reception_app.ui.week_model import WeekGridModel

from .conftest import DAY, NOW, Booked, at, make_window

TUESDAY = DAY + timedelta(days=1)
CTRL, ALT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.AltModifier


def _active(qtbot, window: MainWindow) -> None:
    """Shortcuts fire in the active window only."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.grid.setFocus()


def _to_week(qtbot, window: MainWindow):
    _active(qtbot, window)
    with qtbot.waitSignal(window.week_loaded, timeout=10_000) as loaded:
        qtbot.keyClick(window.grid, Qt.Key.Key_2, CTRL)
    return loaded.args[0]


def _week_of(qtbot, window: MainWindow, name: str) -> None:
    """Choose ``name`` in the week picker (as a click on it would): the week of that resource alone."""
    picker = window.nav.week_picker
    assert picker.isVisible()
    index = picker.findText(name)
    assert index > 0
    picker.setCurrentIndex(index)
    picker.activated.emit(index)
    assert window.grid_stack.currentWidget() is window.grid and window.grid.isVisible()


def _blocks_by_day(model: WeekGridModel) -> dict[int, set[date]]:
    """Appointment id -> the days whose columns show it."""
    found: dict[int, set[date]] = {}
    for c in range(model.columnCount()):
        for r in range(model.rowCount()):
            appt = model.index(r, c).data(APPOINTMENT_ROLE)
            if appt is not None:
                found.setdefault(appt.id, set()).add(model.date_of_column(c))
    return found


def _week_col(model: WeekGridModel, local_date: date, name: str) -> int:
    return next(c for c in model.columns_of_date(local_date) if model.columns[c].name == name)


def _select_week_cell(window: MainWindow, row: int, col: int):
    index = window.week_model.index(row, col)
    window.grid.setFocus()
    window.grid.setCurrentIndex(index)
    window.grid.scrollTo(index)
    return index


# -- week view ---------------------------------------------------------------------------------------
def test_ctrl_2_shows_the_week_alt_right_moves_a_week_ctrl_1_goes_back(qtbot, window: MainWindow,
                                                                      booked: Booked) -> None:
    week = _to_week(qtbot, window)
    assert window.mode == "week" and window.grid.model() is window.week_model
    assert window.week_mode_action.isChecked() and not window.day_mode_action.isChecked()
    assert week.monday == DAY and week.branch.name == "Centro"
    assert window.title_label.text() == "Week of 4 Jan – 10 Jan 2027 · Centro"
    assert window.summary_label.text() == "2 appointments this week"
    # Nothing picked: the branch's week is the overview, a row per doctor (the set shown) by 7 days.
    assert window.nav.shows_overview and window.grid_stack.currentWidget() is window.week_overview
    overview = window.week_overview_model
    assert [r.name for r in overview.resources] == ["Ana Souza", "Bruno Lima"] and overview.columnCount() == 7
    assert overview.load(booked.first.resource_ids["doctor"], DAY) == (2, 60, 240)  # 2 of 30 min, 08-12 shift
    assert overview.index(0, 0).data() == "2 · 1h"
    assert overview.index(1, 3).data(Qt.ItemDataRole.ToolTipRole).startswith("Bruno Lima, Thu 7 Jan: not working")
    # One doctor's week: seven day columns.
    _week_of(qtbot, window, "Ana Souza")
    assert window.week_model.columnCount() == 7 and window.week_model.columns_per_day == 1
    # The booked appointments are in Monday's column (the cancelled one nowhere).
    assert _blocks_by_day(window.week_model) == {booked.first.id: {DAY}, booked.second.id: {DAY}}
    maria = window.week_model.index(window.week_model.row_of(at(8)), _week_col(window.week_model, DAY, "Ana Souza"))
    assert maria.data(APPOINTMENT_ROLE).id == booked.first.id

    with qtbot.waitSignal(window.week_loaded, timeout=10_000) as loaded:
        qtbot.keyClick(window.grid, Qt.Key.Key_Right, ALT)
    assert loaded.args[0].monday == DAY + timedelta(days=7) and window.day == DAY + timedelta(days=7)
    assert window.title_label.text() == "Week of 11 Jan – 17 Jan 2027 · Centro"
    assert window.summary_label.text() == "0 appointments this week"
    assert _blocks_by_day(window.week_model) == {}
    assert window.date_edit.date() == QDate(2027, 1, 11)

    with qtbot.waitSignal(window.week_loaded, timeout=10_000):
        qtbot.keyClick(window.grid, Qt.Key.Key_Left, ALT)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000) as loaded:
        qtbot.keyClick(window.grid, Qt.Key.Key_1, CTRL)
    assert loaded.args[0].local_date == DAY
    assert window.mode == "day" and window.grid.model() is window.model
    assert window.day_mode_action.isChecked() and not window.week_mode_action.isChecked()
    assert window.title_label.text() == "Monday, 4 January 2027 · Centro"
    assert window.summary_label.text() == "2 appointments"


def test_double_click_on_another_day_of_the_week_books_that_day(qtbot, window: MainWindow,
                                                                booked: Booked) -> None:
    _to_week(qtbot, window)
    _week_of(qtbot, window, "Bruno Lima")
    model = window.week_model
    col = _week_col(model, TUESDAY, "Bruno Lima")
    row = model.row_of(at(10, day=TUESDAY), col)
    index = model.index(row, col)
    assert index.data(CELL_STATE_ROLE) == "open"
    window.grid.scrollTo(index)
    where = window.grid.visualRect(index).center()
    qtbot.mouseClick(window.grid.viewport(), Qt.MouseButton.LeftButton, pos=where)
    with qtbot.waitSignal(window.booking_dialog_opened) as opened:
        qtbot.mouseDClick(window.grid.viewport(), Qt.MouseButton.LeftButton, pos=where)
    dialog: BookingDialog = opened.args[0]
    assert dialog.local_date == TUESDAY
    qtbot.waitUntil(lambda: dialog.slot_tree.topLevelItemCount() > 0, timeout=10_000)
    assert {o.resources["doctor"] for o in dialog.offers} == {"Bruno Lima"}
    with qtbot.waitSignal(dialog.patients_listed, timeout=10_000):
        qtbot.keyClicks(dialog.search_edit, "Ana Clara")
    dialog.patient_list.setCurrentRow(0)
    # the free starts are listed again for the patient chosen (their own appointments left out)
    qtbot.waitUntil(lambda: dialog.offers_for_patient == dialog.patient.id, timeout=10_000)
    assert dialog.selected_offer().start == at(10, day=TUESDAY)
    with qtbot.waitSignal(window.week_loaded, timeout=10_000) as loaded:
        qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
    new = model.index(row, col).data(APPOINTMENT_ROLE)
    assert new is not None and new.patient == "Ana Clara Souza" and new.start == at(10, day=TUESDAY)
    assert len(loaded.args[0].appointments) == 3
    assert window.summary_label.text() == "1 appointment this week"  # what is shown: Bruno Lima's
    stored = scheduling.get_appointment(booked.db, new.id)
    assert stored.start == at(10, day=TUESDAY) and stored.resources["doctor"] == "Bruno Lima"
    # The month calendar counts it too (bold Tuesday).
    qtbot.waitUntil(lambda: window.month_calendar.count_on(TUESDAY) == 1, timeout=10_000)


def test_enter_on_an_empty_cell_of_the_week_opens_the_booking_dialog_for_that_day(
        qtbot, window: MainWindow) -> None:
    _to_week(qtbot, window)
    _week_of(qtbot, window, "Bruno Lima")
    model = window.week_model
    wednesday = DAY + timedelta(days=2)
    col = _week_col(model, wednesday, "Bruno Lima")
    _select_week_cell(window, model.row_of(at(9, day=wednesday), col), col)
    with qtbot.waitSignal(window.booking_dialog_opened) as opened:
        qtbot.keyClick(window.grid, Qt.Key.Key_Return)
    dialog: BookingDialog = opened.args[0]
    assert dialog.local_date == wednesday and dialog.isVisible()
    dialog.reject()


def test_check_in_with_the_shortcut_in_the_week_view(qtbot, window: MainWindow, booked: Booked) -> None:
    _to_week(qtbot, window)
    _week_of(qtbot, window, "Ana Souza")
    model = window.week_model
    col = _week_col(model, DAY, "Ana Souza")
    row = model.row_of(at(8), col)
    _select_week_cell(window, row, col)
    assert window.current_appointment().id == booked.first.id
    assert window.status_actions["check_in"].isEnabled() and window.reschedule_action.isEnabled()
    with qtbot.waitSignal(window.appointment_changed, timeout=10_000) as changed, \
            qtbot.waitSignal(window.week_loaded, timeout=10_000):
        qtbot.keyClick(window.grid, Qt.Key.Key_I, CTRL)
    assert changed.args[0].status == "checked_in"
    assert scheduling.get_appointment(booked.db, booked.first.id).status == "checked_in"
    assert window.mode == "week"
    assert model.index(row, col).data(APPOINTMENT_ROLE).status == "checked_in"  # the same cell, reloaded
    assert window.statusBar().currentMessage() == "Checked in: Maria Silva 08:00"
    assert not window.status_actions["check_in"].isEnabled() and not window.reschedule_action.isEnabled()


# -- month calendar ---------------------------------------------------------------------------------
def test_the_month_calendar_shows_counts_and_enter_on_a_date_shows_that_day(qtbot, window: MainWindow) -> None:
    calendar = window.month_calendar
    assert window.calendar_dock.isVisible()
    assert calendar.count_on(DAY) == 2 and calendar.count_on(TUESDAY) == 0
    assert calendar.closed_reason(date(2027, 1, 3)) == "Closed"  # a Sunday
    assert calendar.selectedDate() == QDate(2027, 1, 4)
    view = calendar.findChild(QTableView)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Right)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000) as loaded:
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert loaded.args[0].local_date == TUESDAY
    assert window.day == TUESDAY and window.date_edit.date() == QDate(2027, 1, 5)
    assert window.title_label.text() == "Tuesday, 5 January 2027 · Centro"
    assert window.summary_label.text() == "0 appointments"
    assert calendar.count_on(DAY) == 2


def test_choosing_a_date_in_another_month_loads_its_counts(qtbot, window: MainWindow, booked: Booked) -> None:
    feb = date(2027, 2, 1)
    scheduling.book(booked.db, branch="Centro", service="Abdominal ultrasound", start=at(8, day=feb),
                    patient_id=booked.maria, now=NOW)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000) as loaded:
        window.month_calendar.date_chosen.emit(feb)
    assert loaded.args[0].local_date == feb and len(loaded.args[0].appointments) == 1
    assert window.month_calendar.monthShown() == 2
    qtbot.waitUntil(lambda: window.month_calendar.count_on(feb) == 1, timeout=10_000)


def test_choosing_a_date_in_the_week_view_shows_its_week(qtbot, window: MainWindow) -> None:
    _to_week(qtbot, window)
    with qtbot.waitSignal(window.week_loaded, timeout=10_000) as loaded:
        window.month_calendar.date_chosen.emit(date(2027, 1, 13))
    assert loaded.args[0].monday == date(2027, 1, 11)
    assert window.title_label.text() == "Week of 11 Jan – 17 Jan 2027 · Centro"


# -- saved selections --------------------------------------------------------------------------------
def _window_with_store(qtbot, booked: Booked, runner: Runner, tmp_path: Path) -> MainWindow:
    store = SelectionStore(QSettings(str(tmp_path / "selections.ini"), QSettings.Format.IniFormat))
    w = make_window(qtbot, booked.db, runner, selection_store=store)
    with qtbot.waitSignal(w.day_loaded, timeout=10_000):
        w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=10_000)
    return w


def _check_by_keyboard(qtbot, dialog: ResourceSelectionDialog, name: str) -> None:
    """Walk the resource list with Down and press Space on ``name``."""
    tree = dialog.tree
    tree.setFocus()
    tree.setCurrentItem(tree.topLevelItem(0))
    for _ in range(20):
        item = tree.currentItem()
        if item is not None and item.text(0) == name:
            qtbot.keyClick(tree, Qt.Key.Key_Space)
            return
        qtbot.keyClick(tree, Qt.Key.Key_Down)
    raise AssertionError(f"{name} not in the list")


def test_a_saved_selection_shows_only_its_columns_and_a_kind_button_clears_it(
        qtbot, booked: Booked, runner: Runner, tmp_path: Path) -> None:
    window = _window_with_store(qtbot, booked, runner, tmp_path)
    dialog = window.edit_selection(None)
    assert dialog is not None and dialog.isVisible()
    _check_by_keyboard(qtbot, dialog, "Ana Souza")
    _check_by_keyboard(qtbot, dialog, "Ultrasound A")
    qtbot.keyClicks(dialog.name_edit, "Ana and the ultrasound")
    with qtbot.waitSignal(dialog.selection_saved) as saved:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert saved.args[0].name == "Ana and the ultrasound"
    assert [s.name for s in window.selection_store.list(window.branch.id)] == ["Ana and the ultrasound"]
    assert [r.name for r in window.model.columns] == ["Ana Souza", "Ultrasound A"]
    assert not any(b.isChecked() for b in window.set_buttons.buttons())
    assert window.model.index(window.model.row_of(at(9)), 1).data(APPOINTMENT_ROLE).id == booked.second.id

    # The week shows the selection too: two columns a day.
    _to_week(qtbot, window)
    assert window.week_model.columns_per_day == 2
    assert {r.name for r in window.week_model.columns} == {"Ana Souza", "Ultrasound A"}

    buttons = {b.text(): b for b in window.set_buttons.buttons()}
    qtbot.mouseClick(buttons["Doctors"], Qt.MouseButton.LeftButton)
    assert buttons["Doctors"].isChecked()
    assert window.week_model.columns_per_day == 2
    assert {r.name for r in window.week_model.columns} == {"Ana Souza", "Bruno Lima"}
    assert [r.name for r in window.model.columns] == ["Ana Souza", "Bruno Lima"]
    # The menu no longer marks the selection as shown; choosing it there shows it again.
    window.selection_menu.aboutToShow.emit()
    chosen = next(a for a in window.selection_menu.actions() if a.text() == "Ana and the ultrasound")
    assert not chosen.isChecked()
    assert not any(a.text().startswith("Edit") for a in window.selection_menu.actions())
    chosen.trigger()
    assert {r.name for r in window.week_model.columns} == {"Ana Souza", "Ultrasound A"}
    assert not any(b.isChecked() for b in window.set_buttons.buttons())


def test_set_resource_set_clears_a_saved_selection(qtbot, booked: Booked, runner: Runner, tmp_path: Path) -> None:
    window = _window_with_store(qtbot, booked, runner, tmp_path)
    dialog = window.edit_selection(None)
    _check_by_keyboard(qtbot, dialog, "Imaging 2")
    qtbot.keyClicks(dialog.name_edit, "Second room")
    with qtbot.waitSignal(dialog.selection_saved):
        qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Return)  # Enter saves
    assert [r.name for r in window.model.columns] == ["Imaging 2"]
    window.set_resource_set("doctor")
    assert [r.name for r in window.model.columns] == ["Ana Souza", "Bruno Lima"]
    assert {b.text(): b.isChecked() for b in window.set_buttons.buttons()}["Doctors"]


# -- live refresh -------------------------------------------------------------------------------------
def test_another_workstations_booking_reloads_the_week(qtbot, booked: Booked, runner: Runner) -> None:
    live = LiveSchedule(booked.db.conninfo)
    live.start()
    other = Database(booked.db.conninfo)
    try:
        assert live.wait_listening(10)
        window = make_window(qtbot, booked.db, runner, live=live)
        with qtbot.waitSignal(window.day_loaded, timeout=10_000):
            window.show()
        qtbot.waitExposed(window)
        _to_week(qtbot, window)

        for when in (at(11), at(11, day=TUESDAY)):  # the day shown, then another day of the week
            made: list[scheduling.AppointmentView] = []
            worker = threading.Thread(target=lambda when=when, made=made: made.append(scheduling.book(
                other, branch="Centro", service="Abdominal ultrasound", start=when, patient_id=booked.ana_clara,
                now=NOW)))
            with qtbot.waitSignal(window.week_loaded, timeout=10_000) as loaded:
                worker.start()
            worker.join(10)
            assert made and made[0].id in {a.id for a in loaded.args[0].appointments}
            assert _blocks_by_day(window.week_model)[made[0].id] == {when.date()}
        assert window.summary_label.text() == "4 appointments this week"
    finally:
        other.dispose()
        live.stop()


def test_the_doctor_s_day_dock_follows_the_day_of_the_selected_week_column(qtbot, window: MainWindow) -> None:
    _to_week(qtbot, window)
    model = window.week_model
    with qtbot.waitSignal(window.my_day_loaded, timeout=10_000) as loaded:
        window.my_day_dock.show()
    assert loaded.args[0].local_date == DAY  # nothing selected yet: the day the week was opened on
    col = _week_col(model, TUESDAY, "Bruno Lima")
    with qtbot.waitSignal(window.my_day_loaded, timeout=10_000) as loaded:
        _select_week_cell(window, model.row_of(at(10, day=TUESDAY), col), col)
    assert loaded.args[0].doctor == "Bruno Lima" and loaded.args[0].local_date == TUESDAY
    assert window.my_day_panel.title_label.text().endswith("Tue 05/01/2027")
    # Another doctor on the Monday, then the same doctor on the Tuesday: each their own day's list.
    col = _week_col(model, DAY, "Ana Souza")
    with qtbot.waitSignal(window.my_day_loaded, timeout=10_000) as loaded:
        _select_week_cell(window, model.row_of(at(10), col), col)
    assert loaded.args[0].doctor == "Ana Souza" and loaded.args[0].local_date == DAY
    assert len(loaded.args[0].rows) == 2
    col = _week_col(model, TUESDAY, "Ana Souza")
    with qtbot.waitSignal(window.my_day_loaded, timeout=10_000) as loaded:
        _select_week_cell(window, model.row_of(at(10, day=TUESDAY), col), col)
    assert loaded.args[0].doctor == "Ana Souza" and loaded.args[0].local_date == TUESDAY
    assert loaded.args[0].rows == ()
