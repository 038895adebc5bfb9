"""The main window's actions, driven like a receptionist would: finding a patient by typing on
the grid, opening a record (Ctrl+O), rescheduling (Ctrl+R), a walk-in (Ctrl+Shift+W) and the
doctor's day dock, for reception and for a signed-in doctor.

Everything runs against the real test database at the fixed time of ``conftest``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, Qt
from sqlalchemy import text

from reception_app.services import patients, scheduling
from reception_app.ui.booking_dialog import BookingDialog
from reception_app.ui.day_model import APPOINTMENT_ROLE
from reception_app.ui.main_window import MainWindow
from reception_app.ui.my_day import COLUMNS, VISIBLE_COLUMNS, MyDayPanel
from reception_app.ui.patient_dialog import PatientRecordDialog, PatientSearchDialog
from reception_app.ui.reschedule_dialog import RescheduleDialog
from reception_app.ui.runner import Runner
from reception_app.ui.walk_in_dialog import WalkInDialog

from .conftest import DAY, Booked, at, make_window, select_block

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
#: Monday 4 January 2027 08:00 at Centro: open, both doctors on shift.
MORNING = datetime(2027, 1, 4, 11, tzinfo=UTC)


def _active(qtbot, window: MainWindow) -> None:
    """Shortcuts fire in the active window only."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.grid.setFocus()


def _shown_ids(window: MainWindow) -> dict[int, str]:
    """Appointment id -> status, of the blocks on the day grid."""
    m = window.model
    cells = [m.index(r, c).data(APPOINTMENT_ROLE) for r in range(m.rowCount()) for c in range(m.columnCount())]
    return {a.id: a.status for a in cells if a is not None}


def _resource_id(booked: Booked, name: str) -> int:
    return booked.db.read(lambda c: c.execute(text("SELECT id FROM resource WHERE name = :n"),
                                              {"n": name}).scalar_one())


# -- patients ------------------------------------------------------------------------------------------
def _search_from_grid(qtbot, window: MainWindow) -> PatientSearchDialog:
    _active(qtbot, window)
    with qtbot.waitSignal(window.patient_search_opened) as opened:
        qtbot.keyClicks(window.grid, "M")
    search: PatientSearchDialog = opened.args[0]
    assert search.isVisible() and search.search_edit.text() == "M"
    return search


def test_typing_on_the_grid_finds_a_patient_opens_the_record_and_books_for_her(
        qtbot, window: MainWindow, booked: Booked) -> None:
    patients.add_patient(booked.db, name="Marcos Lima", birth_date="1990-02-02")
    search = _search_from_grid(qtbot, window)
    qtbot.waitUntil(lambda: {p.name for p in search.results()} == {"Maria Silva", "Marcos Lima"}, timeout=10_000)
    with qtbot.waitSignal(search.patients_listed, timeout=10_000):
        qtbot.keyClicks(search.search_edit, "aria")
    assert search.search_edit.text() == "Maria"
    assert [p.name for p in search.results()] == ["Maria Silva"]
    with qtbot.waitSignal(window.patient_record_opened) as opened:
        qtbot.mouseClick(search.open_button, Qt.MouseButton.LeftButton)
    record: PatientRecordDialog = opened.args[0]
    qtbot.waitUntil(lambda: record.record is not None, timeout=10_000)
    assert record.isVisible() and record.edits["name"].text() == "Maria Silva"
    assert record.upcoming_item.text(0) == "Upcoming (1)"
    with qtbot.waitSignal(window.booking_dialog_opened) as booking:
        qtbot.mouseClick(record.book_button, Qt.MouseButton.LeftButton)
    dialog: BookingDialog = booking.args[0]
    assert dialog.isVisible() and dialog.local_date == DAY
    assert dialog.patient is not None and dialog.patient.id == booked.maria
    assert not record.isVisible() and not search.isVisible()
    dialog.reject()



def test_enter_in_the_search_opens_the_record_and_keeps_it(qtbot, window: MainWindow) -> None:
    search = _search_from_grid(qtbot, window)
    qtbot.waitUntil(lambda: len(search.results()) == 1, timeout=10_000)
    with qtbot.waitSignal(window.patient_record_opened) as opened:
        qtbot.keyClick(search.search_edit, Qt.Key.Key_Return)
    record: PatientRecordDialog = opened.args[0]
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # what the event loop does next
    assert shiboken6.isValid(record) and record.isVisible()
    qtbot.waitUntil(lambda: record.record is not None, timeout=10_000)
    assert record.edits["name"].text() == "Maria Silva"

def test_a_name_corrected_in_a_record_found_by_search_shows_on_the_grid(
        qtbot, window: MainWindow, booked: Booked) -> None:
    search = _search_from_grid(qtbot, window)
    qtbot.waitUntil(lambda: len(search.results()) == 1, timeout=10_000)
    with qtbot.waitSignal(window.patient_record_opened) as opened:
        qtbot.mouseClick(search.open_button, Qt.MouseButton.LeftButton)
    record: PatientRecordDialog = opened.args[0]
    qtbot.waitUntil(lambda: record.record is not None, timeout=10_000)
    record.edits["name"].clear()
    qtbot.keyClicks(record.edits["name"], "Maria Silva Costa")
    with qtbot.waitSignal(record.patient_updated, timeout=10_000), \
            qtbot.waitSignal(window.day_loaded, timeout=10_000):
        qtbot.mouseClick(record.save_button, Qt.MouseButton.LeftButton)
    assert patients.get_patient(booked.db, booked.maria).name == "Maria Silva Costa"
    index = select_block(window, booked.first)
    assert index.data(Qt.ItemDataRole.DisplayRole).startswith("Maria Silva Costa\n")


def test_ctrl_o_opens_the_selected_appointments_patient(qtbot, window: MainWindow, booked: Booked) -> None:
    _active(qtbot, window)
    window.grid.setCurrentIndex(window.model.index(0, 0))  # 07:00, free
    assert not window.open_patient_action.isEnabled()
    with qtbot.assertNotEmitted(window.patient_record_opened):
        qtbot.keyClick(window.grid, Qt.Key.Key_O, CTRL)
    assert window.open_patient() is None  # asked anyway (e.g. from a script): the status bar says why
    assert window.statusBar().currentMessage() == ("Select an appointment to open its patient, or press Ctrl+F "
                                                   "to find one.")

    select_block(window, booked.second)
    assert window.open_patient_action.isEnabled()
    with qtbot.waitSignal(window.patient_record_opened) as opened:
        qtbot.keyClick(window.grid, Qt.Key.Key_O, CTRL)
    record: PatientRecordDialog = opened.args[0]
    with qtbot.waitSignal(record.record_loaded, timeout=10_000):
        pass
    assert record.isVisible() and record.edits["name"].text() == "João Pereira"
    assert record.edits["email"].text() == "joao@example.com"
    record.reject()


# -- reschedule ----------------------------------------------------------------------------------------
def test_ctrl_r_lists_free_starts_and_enter_moves_the_appointment(qtbot, window: MainWindow,
                                                                  booked: Booked) -> None:
    _active(qtbot, window)
    select_block(window, booked.first)  # Maria, 08:00, confirmed
    assert window.reschedule_action.isEnabled()
    with qtbot.waitSignal(window.dialog_opened) as opened:
        qtbot.keyClick(window.grid, Qt.Key.Key_R, CTRL)
    dialog: RescheduleDialog = opened.args[0]
    assert isinstance(dialog, RescheduleDialog) and dialog.isVisible()
    qtbot.waitUntil(lambda: len(dialog.offers) > 0, timeout=10_000)
    assert [o.start for o in dialog.offers[:3]] == [at(8, 15), at(9, 45), at(10)]
    qtbot.keyClick(dialog.offer_tree, Qt.Key.Key_Down)
    assert dialog.selected_offer().start == at(9, 45)
    with qtbot.waitSignal(window.appointment_changed, timeout=10_000) as changed, \
            qtbot.waitSignal(window.day_loaded, timeout=10_000), qtbot.waitSignal(dialog.finished):
        qtbot.keyClick(dialog.offer_tree, Qt.Key.Key_Return)
    new = changed.args[0]
    assert new.start == at(9, 45) and new.patient_id == booked.maria
    assert scheduling.get_appointment(booked.db, booked.first.id).status == "rescheduled"
    assert window.statusBar().currentMessage().startswith("Rescheduled: Maria Silva 08:00 → 09:45")
    moved = next(c for c in range(window.model.columnCount())
                 if window.model.index(window.model.row_of(at(9, 45)), c).data(APPOINTMENT_ROLE) is not None)
    assert window.model.index(window.model.row_of(at(9, 45)), moved).data(APPOINTMENT_ROLE).id == new.id
    # The old block is gone from the grid (rescheduled releases its time).
    assert all(window.model.index(window.model.row_of(at(8)), c).data(APPOINTMENT_ROLE) is None
               or window.model.index(window.model.row_of(at(8)), c).data(APPOINTMENT_ROLE).id != booked.first.id
               for c in range(window.model.columnCount()))


def test_ctrl_r_is_disabled_on_a_checked_in_appointment(qtbot, window: MainWindow, booked: Booked) -> None:
    _active(qtbot, window)
    select_block(window, booked.second)  # João, checked in
    assert not window.reschedule_action.isEnabled()
    with qtbot.assertNotEmitted(window.dialog_opened):
        qtbot.keyClick(window.grid, Qt.Key.Key_R, CTRL)
    assert window.open_reschedule_dialog() is None
    assert scheduling.get_appointment(booked.db, booked.second.id).start == at(9)


# -- walk-in -------------------------------------------------------------------------------------------
def test_ctrl_shift_w_books_a_walk_in_and_checks_them_in(qtbot, booked: Booked, runner: Runner) -> None:
    window = MainWindow(booked.db, runner=runner, clock=lambda: MORNING, day=DAY, branch="Centro", refresh_ms=0,
                        database_label="Database: test", log_path="/tmp/clinic-test.log")
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.show()
    _active(qtbot, window)
    with qtbot.waitSignal(window.dialog_opened) as opened:
        qtbot.keyClick(window.grid, Qt.Key.Key_W, CTRL | SHIFT)
    dialog: WalkInDialog = opened.args[0]
    assert isinstance(dialog, WalkInDialog) and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=10_000)
    start = dialog.preview.start
    assert start >= MORNING
    with qtbot.waitSignal(dialog.picker.patients_listed, timeout=10_000):
        qtbot.keyClicks(dialog.picker.search_edit, "ana clara")
    assert dialog.picker.patient is not None and dialog.picker.patient.id == booked.ana_clara
    with qtbot.waitSignal(window.appointment_booked, timeout=10_000) as booked_signal, \
            qtbot.waitSignal(window.day_loaded, timeout=10_000):
        qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
    appt = booked_signal.args[0]
    stored = scheduling.get_appointment(booked.db, appt.id)
    assert (stored.patient_id, stored.status, stored.source, stored.start) == (
        booked.ana_clara, "checked_in", "walk_in", start)
    assert _shown_ids(window)[appt.id] == "checked_in"
    assert window.statusBar().currentMessage().startswith("Booked: Ana Clara Souza — Abdominal ultrasound on Mon")
    assert window.summary_label.text() == "3 appointments"


def _assert_in_sight(panel: MyDayPanel, names: tuple[str, ...]) -> None:
    """The list's columns ``names`` are whole inside its viewport (no scrolling needed)."""
    header, width = panel.tree.header(), panel.tree.viewport().width()
    for name in names:
        column = COLUMNS.index(name)
        assert 0 <= header.sectionViewportPosition(column)
        assert header.sectionViewportPosition(column) + header.sectionSize(column) <= width, name


def _doctor_window(qtbot, booked: Booked, runner: Runner, login, doctor: str) -> MainWindow:
    """The window (not shown yet) as ``doctor`` signed in sees it."""
    name, db = login("doctor", doctor=doctor)
    session = SimpleNamespace(login=name, role="doctor", doctor_resource_id=_resource_id(booked, doctor),
                              doctor_name=doctor)
    return make_window(qtbot, db, runner, session=session)


# -- the doctor's day dock --------------------------------------------------------------------------------
def test_a_doctor_sees_their_day_in_the_dock_and_checks_a_patient_in(qtbot, booked: Booked, runner: Runner,
                                                                     login) -> None:
    window = _doctor_window(qtbot, booked, runner, login, "Ana Souza")
    with qtbot.waitSignal(window.my_day_loaded, timeout=10_000) as loaded:
        window.show()
    day = loaded.args[0]
    assert window.my_day_dock.isVisible()
    assert day.doctor == "Ana Souza" and day.local_date == DAY
    panel = window.my_day_panel
    assert [panel.tree.topLevelItem(i).text(1) for i in range(panel.tree.topLevelItemCount())] == [
        "Maria Silva", "João Pereira"]
    assert panel.select_appointment(booked.first.id)
    button = panel.action_buttons["check_in"]
    assert button.isEnabled()
    with qtbot.waitSignal(window.appointment_changed, timeout=10_000) as changed, \
            qtbot.waitSignal(window.my_day_loaded, timeout=10_000,  # not a load still on its way from show()
                             check_params_cb=lambda d: any(r.status == "checked_in" and r.appointment_id
                                                           == booked.first.id for r in d.rows)) as reloaded:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert changed.args[0].status == "checked_in"
    assert scheduling.get_appointment(booked.db, booked.first.id).status == "checked_in"
    assert {r.appointment_id: r.status for r in reloaded.args[0].rows}[booked.first.id] == "checked_in"
    assert panel.tree.topLevelItem(0).text(COLUMNS.index("Status")) == "Checked in"
    _assert_in_sight(panel, VISIBLE_COLUMNS)
    assert window.statusBar().currentMessage() == "Checked in: Maria Silva 08:00"


def test_a_doctor_s_own_column_is_scrolled_into_sight_on_the_first_load(qtbot, booked: Booked, runner: Runner,
                                                                         login) -> None:
    window = _doctor_window(qtbot, booked, runner, login, "Bruno Lima")
    # Room for about one column and a half beside the docks (which share the left side now, so the
    # window is narrower than it was for this test: the two doctors shown first fit 1100 pixels).
    window.resize(820, 700)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.show()
    grid = window.grid
    col = next(c for c, r in enumerate(window.model.columns) if r.name == "Bruno Lima")
    assert col > 0 and grid.columnWidth(0) + grid.columnWidth(col) > grid.viewport().width()  # not in sight at 0
    assert grid.horizontalScrollBar().value() > 0
    x = grid.columnViewportPosition(col)
    assert x >= 0 and x + grid.columnWidth(col) <= grid.viewport().width()


def test_reception_opens_the_dock_with_ctrl_shift_d_and_it_follows_the_selected_doctor(
        qtbot, window: MainWindow, booked: Booked) -> None:
    assert not window.my_day_dock.isVisible()
    _active(qtbot, window)
    with qtbot.waitSignal(window.my_day_loaded, timeout=10_000) as loaded:
        qtbot.keyClick(window.grid, Qt.Key.Key_D, CTRL | SHIFT)
    assert window.my_day_dock.isVisible()
    assert loaded.args[0].doctor == "Ana Souza" and len(loaded.args[0].rows) == 2  # the first doctor
    bruno = next(c for c, r in enumerate(window.model.columns) if r.name == "Bruno Lima")
    index = window.model.index(window.model.row_of(at(10)), bruno)
    window.grid.scrollTo(index)
    with qtbot.waitSignal(window.my_day_loaded, timeout=10_000) as loaded:
        qtbot.mouseClick(window.grid.viewport(), Qt.MouseButton.LeftButton,
                         pos=window.grid.visualRect(index).center())
    assert loaded.args[0].doctor == "Bruno Lima" and loaded.args[0].rows == ()
    assert window.my_day_panel.tree.topLevelItemCount() == 0
    # A room's column keeps the doctor shown.
    window.set_resource_set("all")  # the doctors are shown first; rooms one click away
    room = next(c for c, r in enumerate(window.model.columns) if r.kind == "room")
    with qtbot.assertNotEmitted(window.my_day_loaded, wait=200):
        window.grid.setCurrentIndex(window.model.index(window.model.row_of(at(10)), room))
    assert window.my_day_panel.day.doctor == "Bruno Lima"
    # Closing it again (the same shortcut) hides it.
    qtbot.keyClick(window.grid, Qt.Key.Key_D, CTRL | SHIFT)
    assert not window.my_day_dock.isVisible()
