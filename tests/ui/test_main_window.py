"""The main window on the test database at a fixed time: grid, branches, days, booking, errors."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QToolBar

from reception_app.services import clinic_config, scheduling
from reception_app.store.database import Database
from reception_app.ui.booking_dialog import BookingDialog
from reception_app.ui.day_model import APPOINTMENT_ROLE, CELL_STATE_ROLE
from reception_app.ui.main_window import MainWindow
from reception_app.ui.navigation import Navigation
from reception_app.ui.runner import Runner
from reception_app.ui.window_actions import AppointmentActions

from .conftest import DAY, NOW, Booked, at, make_window

DATA = Path(__file__).parents[1] / "data"




def test_opens_on_the_day_with_the_grid(window: MainWindow, booked: Booked) -> None:
    view = window.model.day
    assert view is not None and view.local_date == DAY and view.branch.name == "Centro"
    # The doctors first (issue 16: rooms and equipment are one click away).
    assert window.model.rowCount() == 48 and window.model.columnCount() == 2
    assert window.model.resource_set == "doctor"
    assert {b.text(): b.isChecked() for b in window.set_buttons.buttons()}["Doctors"]
    assert window.title_label.text() == "Monday, 4 January 2027 · Centro"
    assert window.summary_label.text() == "2 appointments"
    assert not window.day_note.isVisible()
    assert window.zone_label.text() == "Time zone: America/Sao_Paulo (UTC-03:00)"
    assert window.database_label.text() == "Database: test"
    assert [b.name for b in window.branches] == ["Berlin", "Centro"]
    # The blocks are spanned in the view.
    row = window.model.row_of(at(8))
    assert window.grid.rowSpan(row, 0) == 2
    assert window.grid.rowSpan(row + 2, 0) == 1


def test_switches_branches(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.day_loaded) as blocker:
        window.branch_combo.setCurrentIndex(window.branch_combo.findText("Berlin"))
    view = blocker.args[0]
    assert view.branch.name == "Berlin" and view.local_date == DAY
    assert [r.name for r in view.resources] == ["Clara Weiss", "Berlin Room"]
    assert window.model.rowCount() == 40  # Monday 08:00-18:00 in Berlin
    assert window.model.headerData(0, Qt.Orientation.Vertical) == "08:00"
    assert window.zone_label.text() == "Time zone: Europe/Berlin (UTC+01:00)"
    assert window.title_label.text().endswith("· Berlin")


def test_navigates_days(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.day_loaded) as blocker:
        window.next_action.trigger()
    assert blocker.args[0].local_date == DAY + timedelta(days=1)
    assert window.date_edit.date() == QDate(2027, 1, 5)
    with qtbot.waitSignal(window.day_loaded) as blocker:
        window.prev_action.trigger()
        window.prev_action.trigger()  # the first answer is superseded by the second
    assert blocker.args[0].local_date == date(2027, 1, 3)
    assert window.day_note.isVisible() and window.day_note.text() == "Closed"  # Sunday
    assert window.model.rowCount() == 48  # the default 07:00-19:00
    with qtbot.waitSignal(window.day_loaded) as blocker:
        window.today_action.trigger()
    # NOW is 2027-01-01 00:00 UTC: still New Year's Eve on the branch's wall clock.
    assert blocker.args[0].local_date == date(2026, 12, 31)
    with qtbot.waitSignal(window.day_loaded) as blocker:
        window.date_edit.setDate(QDate(2027, 12, 25))
    assert blocker.args[0].holiday == "Christmas"
    assert window.day_note.text() == "Holiday: Christmas — closed"


def test_a_dst_day_is_announced(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.day_loaded):
        window.set_branch("Berlin")
    with qtbot.waitSignal(window.day_loaded) as blocker:
        window.set_day(date(2027, 10, 31))
    assert len(blocker.args[0].rows) == 100
    assert window.day_note.isVisible()
    assert window.day_note.text() == "Clocks change today: 25-hour day (UTC+02:00 → UTC+01:00)"
    assert window.model.headerData(12, Qt.Orientation.Vertical) == "02:00 (2nd)"


def test_switches_resource_sets(qtbot, window: MainWindow) -> None:
    buttons = {b.text(): b for b in window.set_buttons.buttons()}
    qtbot.mouseClick(buttons["Doctors"], Qt.MouseButton.LeftButton)
    assert [r.name for r in window.model.columns] == ["Ana Souza", "Bruno Lima"]
    qtbot.mouseClick(buttons["Rooms"], Qt.MouseButton.LeftButton)
    assert [r.kind for r in window.model.columns] == ["room", "room"]
    qtbot.mouseClick(buttons["Equipment"], Qt.MouseButton.LeftButton)
    assert [r.name for r in window.model.columns] == ["Ultrasound A"]
    assert window.grid.rowSpan(window.model.row_of(at(9)), 0) == 2
    qtbot.mouseClick(buttons["All"], Qt.MouseButton.LeftButton)
    assert window.model.columnCount() == 5


def test_double_click_on_an_empty_cell_books_there_and_refreshes_the_grid(
        qtbot, window: MainWindow, booked: Booked) -> None:
    qtbot.waitExposed(window)
    row = window.model.row_of(at(10))
    index = window.model.index(row, 1)  # Bruno Lima, 10:00: free
    assert index.data(CELL_STATE_ROLE) == "open"
    window.grid.scrollTo(index)
    where = window.grid.visualRect(index).center()
    qtbot.mouseClick(window.grid.viewport(), Qt.MouseButton.LeftButton, pos=where)  # QTest's double click
    with qtbot.waitSignal(window.booking_dialog_opened) as opened:  # needs the press before it
        qtbot.mouseDClick(window.grid.viewport(), Qt.MouseButton.LeftButton, pos=where)
    dialog: BookingDialog = opened.args[0]
    assert dialog.local_date == DAY
    qtbot.waitUntil(lambda: dialog.slot_tree.topLevelItemCount() > 0)
    assert {o.resources["doctor"] for o in dialog.offers} == {"Bruno Lima"}  # pinned to the column
    with qtbot.waitSignal(dialog.patients_listed):
        qtbot.keyClicks(dialog.search_edit, "Ana Clara")
    dialog.patient_list.setCurrentRow(0)
    # the free starts are listed again for the patient chosen (their own appointments left out)
    qtbot.waitUntil(lambda: dialog.offers_for_patient == dialog.patient.id, timeout=10_000)
    assert dialog.selected_offer().start == at(10)  # the row double-clicked is preselected
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
    new = window.model.index(row, 1).data(APPOINTMENT_ROLE)
    assert new is not None and new.patient == "Ana Clara Souza" and new.resources["doctor"] == "Bruno Lima"
    assert window.summary_label.text() == "3 appointments"
    assert "Booked: Ana Clara Souza" in window.statusBar().currentMessage()


def test_a_slot_taken_by_another_workstation_refreshes_the_grid(
        qtbot, window: MainWindow, booked: Booked) -> None:
    qtbot.waitExposed(window)
    dialog = window.open_booking_dialog()
    assert dialog is not None
    with qtbot.waitSignal(dialog.patients_listed):
        qtbot.keyClicks(dialog.search_edit, "Ana Clara")
    dialog.patient_list.setCurrentRow(0)
    # the free starts are listed again for the patient chosen (their own appointments left out)
    qtbot.waitUntil(lambda: dialog.offers_for_patient == dialog.patient.id, timeout=10_000)
    qtbot.waitUntil(lambda: dialog.slot_tree.topLevelItemCount() > 0)
    dialog.slot_tree.setCurrentItem(dialog.slot_tree.topLevelItem(0))
    offer = dialog.selected_offer()
    assert offer is not None
    # Another workstation takes that start with the same resources before Book is clicked.
    other = scheduling.book(booked.db, branch="Centro", service=offer_service(dialog), start=offer.start,
                            patient_id=booked.maria, now=NOW, **{k: v for k, v in offer.resources.items()})
    with qtbot.waitSignal(dialog.slot_taken, timeout=10_000), qtbot.waitSignal(window.day_loaded, timeout=10_000):
        qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
    shown = [window.model.index(r, c).data(APPOINTMENT_ROLE) for r in range(window.model.rowCount())
             for c in range(window.model.columnCount())]
    assert other.id in {a.id for a in shown if a is not None}   # the winner's booking is on the grid now
    assert dialog.isVisible()


def offer_service(dialog: BookingDialog) -> str:
    service = dialog.selected_service()
    assert service is not None
    return service.name


def test_only_one_booking_dialog_at_a_time(qtbot, window: MainWindow) -> None:
    first = window.open_booking_dialog()
    assert first is not None and first.isVisible()
    assert window.open_booking_dialog() is first
    first.reject()


def test_first_run_sets_up_an_empty_database(qtbot, db: Database, runner: Runner) -> None:
    calls: list[str] = []

    def first_run(database: Database) -> str:
        calls.append("setup")
        return str(clinic_config.apply_file(database, DATA / "test_clinic.toml").summary())

    w = make_window(qtbot, db, runner, first_run=first_run)
    with qtbot.waitSignal(w.day_loaded, timeout=20_000) as blocker:
        w.show()
    assert calls == ["setup"]
    assert blocker.args[0].branch.name == "Centro"


def test_no_branches_and_no_first_run_says_what_to_do(qtbot, db: Database, runner: Runner) -> None:
    w = make_window(qtbot, db, runner)
    with qtbot.waitSignal(w.branches_loaded) as blocker:
        w.show()
    assert blocker.args == [0]
    assert w.title_label.text() == "No branches yet"
    assert not w.book_action.isEnabled()


def test_unexpected_errors_show_a_short_crash_message(qtbot, window: MainWindow) -> None:
    def buggy() -> None:
        raise ZeroDivisionError("bug")

    with qtbot.waitSignal(window.runner.crashed):
        window.runner.run(buggy, label="test bug")
    box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
    assert box.text() == "Something went wrong; details are in the log file /tmp/clinic-test.log."
    assert box.icon() == QMessageBox.Icon.Critical
    box.close()


def test_expected_errors_are_shown_in_plain_words(qtbot, window: MainWindow) -> None:
    from reception_app.domain.errors import NotFound

    def missing() -> None:
        raise NotFound("patient", "4711")

    with qtbot.waitSignal(window.runner.failed):
        window.runner.run(missing)
    box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
    assert box.text() == str(NotFound("patient", "4711"))
    box.close()


def test_a_lost_connection_shows_the_banner_not_a_box(qtbot, window: MainWindow) -> None:
    from reception_app.domain.errors import DatabaseUnavailable

    def unreachable() -> None:
        raise DatabaseUnavailable("Cannot reach the clinic database: connection refused")

    with qtbot.assertNotEmitted(window.runner.failed), qtbot.waitSignal(window.connection_monitor.lost):
        window.runner.run(unreachable)
    qtbot.waitUntil(window.connection_banner.isVisible)
    assert not any(isinstance(w, QMessageBox) and w.isVisible() for w in QApplication.topLevelWidgets())
    # The database is actually fine: the next probe finds it and the banner goes.
    with qtbot.waitSignal(window.connection_monitor.restored, timeout=10_000):
        window.connection_monitor.try_now()


def test_toolbars_go_on_rows_of_their_own_when_they_do_not_fit(qtbot, window: MainWindow) -> None:
    """Large text or a narrow window: every toolbar button stays in sight (none in an overflow menu)."""
    def in_sight() -> bool:
        return all(bar.geometry().right() < window.width() and bar.sizeHint().width() <= bar.width()
                   for bar in window.findChildren(QToolBar))

    window.resize(2400, 820)
    qtbot.waitUntil(lambda: len(window.toolbar_rows()) == 1)
    qtbot.waitUntil(in_sight)
    window.resize(700, 820)
    qtbot.waitUntil(lambda: len(window.toolbar_rows()) == 3)
    qtbot.waitUntil(in_sight)
    assert [len(row) for row in window.toolbar_rows()] == [1, 1, 1]
    window.resize(2400, 820)
    qtbot.waitUntil(lambda: len(window.toolbar_rows()) == 1)


def test_navigation_and_the_actions_are_parts_the_window_owns(qtbot, window: MainWindow) -> None:
    """Navigation and the appointment actions are objects of the window, not base classes: the
    window reads where it is from ``nav``, its own ``actions()`` still lists every action whose
    shortcut works window-wide, and the toolbars keep their order (Day, Show, Actions)."""
    nav, actions = window.nav, window.appointment_actions
    assert isinstance(nav, Navigation) and nav.parent() is window
    assert isinstance(actions, AppointmentActions) and actions.parent() is window
    assert not isinstance(window, (Navigation, AppointmentActions))
    assert window.branch is nav.branch and window.branch is not None and window.branch.name == "Centro"
    assert window.day == nav.day == DAY and window.mode == nav.mode == "day"
    listed = window.actions()
    assert all(a in listed for a in [*actions.status_actions.values(), *actions.lifecycle_actions.values()])
    assert window.status_actions is actions.status_actions and window.branch_combo is nav.branch_combo
    window.resize(2400, 820)
    qtbot.waitUntil(lambda: len(window.toolbar_rows()) == 1)
    assert [bar.objectName() for bar in window.toolbar_rows()[0]] == ["dayToolbar", "showToolbar", "actionsToolbar"]
