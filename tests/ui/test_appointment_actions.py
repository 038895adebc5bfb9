"""Status actions on a grid block: the shared definitions, the window actions and shortcuts, the
context menu, the cancellation reason, and a change another workstation made first."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox

from reception_app.domain.status import STATUSES, TRANSITIONS
from reception_app.services import scheduling
from reception_app.services.scheduling import AppointmentView
from reception_app.ui import appointment_actions
from reception_app.ui.appointment_actions import ACTIONS, CancelReasonDialog, allowed_actions
from reception_app.ui.day_model import APPOINTMENT_ROLE
from reception_app.ui.main_window import MainWindow

from .conftest import Booked, at, select_block

#: Menus grab the keyboard when they pop up, which the offscreen platform notes; the conftest's
#: other offscreen notes are repeated because pytest-qt reads only the closest ``qt_log_ignore`` mark.
popup_notes = pytest.mark.qt_log_ignore(
    r"This plugin does not support (propagateSizeHints|raise|grabbing the keyboard)")




_select = select_block


def _enabled(window: MainWindow) -> set[str]:
    return {key for key, action in window.status_actions.items() if action.isEnabled()}


def _status_on_grid(window: MainWindow, appointment: AppointmentView) -> str:
    index = window.grid.currentIndex()
    shown = index.data(APPOINTMENT_ROLE)
    assert shown is not None and shown.id == appointment.id
    return shown.status


def _error_box() -> QMessageBox:
    return next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())


# -- the shared definitions ------------------------------------------------------------------------------
@pytest.mark.parametrize("status", STATUSES)
def test_allowed_actions_follow_the_lifecycle(status: str) -> None:
    offered = {a.target for a in ACTIONS}
    assert {a.target for a in allowed_actions(status)} == set(TRANSITIONS[status]) & offered
    assert list(allowed_actions(status)) == [a for a in ACTIONS if a in allowed_actions(status)]  # menu order


def test_unknown_or_final_statuses_allow_nothing() -> None:
    for status in ("cancelled", "completed", "rescheduled", "no_such_status", None):
        assert allowed_actions(status) == ()


def test_no_two_window_actions_share_a_shortcut(window: MainWindow) -> None:
    keys = [a.shortcut().toString() for a in window.findChildren(QAction) if not a.shortcut().isEmpty()]
    assert len(keys) == len(set(keys)), keys
    assert len({a.key for a in ACTIONS}) == len(ACTIONS)


# -- window actions ---------------------------------------------------------------------------------------
def test_actions_are_disabled_without_an_appointment(window: MainWindow) -> None:
    status = [a for a in window.appointment_menu.actions() if a.objectName() in
              {f"appointment_{spec.key}" for spec in ACTIONS}]
    assert status == list(window.status_actions.values())  # one set of actions
    assert [a.text() for a in status] == [a.label for a in ACTIONS]
    assert window.reschedule_action in window.appointment_menu.actions()
    assert not window.reschedule_action.isEnabled() and not window.open_patient_action.isEnabled()
    assert _enabled(window) == set()
    window.grid.setCurrentIndex(window.model.index(0, 0))  # 07:00, free
    assert _enabled(window) == set()


def test_actions_follow_the_current_cell_through_model_resets(window: MainWindow, booked: Booked) -> None:
    _select(window, booked.first)
    assert _enabled(window) == {"check_in", "cancel"}  # the window's clock is days before the start: no no-show yet
    window.set_resource_set("room")  # a reset: no current cell any more
    assert window.current_appointment() is None
    assert _enabled(window) == set()


def test_check_in_with_the_shortcut(qtbot, window: MainWindow, booked: Booked) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    _select(window, booked.first)  # 08:00 confirmed
    assert _enabled(window) == {"check_in", "cancel"}  # the window's clock is days before the start: no no-show yet
    with qtbot.waitSignal(window.appointment_changed, timeout=10_000) as changed, \
            qtbot.waitSignal(window.day_loaded, timeout=10_000):
        qtbot.keyClick(window.grid, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert changed.args[0].status == "checked_in"
    assert _status_on_grid(window, booked.first) == "checked_in"  # the same cell stays current
    assert scheduling.get_appointment(booked.db, booked.first.id).status == "checked_in"
    assert window.statusBar().currentMessage() == "Checked in: Maria Silva 08:00"
    assert _enabled(window) == {"start", "cancel"}  # "Complete" waits for the start (the clock is days before)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.status_actions["start"].trigger()
    assert _status_on_grid(window, booked.first) == "in_progress"
    assert window.statusBar().currentMessage() == "Started: Maria Silva 08:00"


# -- context menu ------------------------------------------------------------------------------------------
def _menu_state(menu: QMenu) -> dict[str, bool]:
    return {a.text(): a.isEnabled() for a in menu.actions() if a.objectName().startswith("appointment_")}


@popup_notes
def test_right_click_on_a_block_opens_its_menu(qtbot, window: MainWindow, booked: Booked) -> None:
    model = window.model
    index = _select(window, booked.second)  # 09:00 checked in
    window.grid.setCurrentIndex(model.index(0, 0))  # the right click itself must make the block current
    where = window.grid.visualRect(index).center()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, where, window.grid.viewport().mapToGlobal(where))
    with qtbot.waitSignal(window.appointment_menu_opened) as opened:
        QApplication.sendEvent(window.grid.viewport(), event)
    menu: QMenu = opened.args[0]
    assert window.grid.currentIndex().data(APPOINTMENT_ROLE).id == booked.second.id
    assert menu.isVisible()
    assert menu.accessibleName() == "Appointment actions for João Pereira 09:00"
    assert menu.actions()[0].text() == "João Pereira 09:00 · Checked in"
    assert _menu_state(menu) == {"Check in": False, "Start": True, "Complete": False, "No-show…": False,
                                 "Cancel…": True, "Confirm hold": False, "Approve request": False,
                                 "Cancelled by patient…": True, "Payments…": True}
    menu.close()


@popup_notes
@pytest.mark.parametrize("key, modifier", [(Qt.Key.Key_Menu, Qt.KeyboardModifier.NoModifier),
                                           (Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)])
def test_the_menu_key_opens_the_menu_of_the_current_block(
        qtbot, window: MainWindow, booked: Booked, key: Qt.Key, modifier: Qt.KeyboardModifier) -> None:
    _select(window, booked.first)
    with qtbot.waitSignal(window.appointment_menu_opened) as opened:
        qtbot.keyClick(window.grid, key, modifier)
    menu: QMenu = opened.args[0]
    assert _menu_state(menu) == {"Check in": True, "Start": False, "Complete": False, "No-show…": False,
                                 "Cancel…": True, "Confirm hold": False, "Approve request": False,
                                 "Cancelled by patient…": True, "Payments…": True}
    menu.close()


@popup_notes
def test_nothing_is_allowed_on_a_completed_appointment(qtbot, booked_past: Booked, runner) -> None:
    from .conftest import PAST_DAY, make_window

    booked = booked_past   # completed after its start (the database's clock): a day in the past
    scheduling.set_status(booked.db, booked.second.id, "completed")
    window = make_window(qtbot, booked.db, runner, day=PAST_DAY, clock=lambda: at(12, day=PAST_DAY))
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    _select(window, booked.second)
    with qtbot.waitSignal(window.appointment_menu_opened) as opened:
        qtbot.keyClick(window.grid, Qt.Key.Key_Menu)
    # Nothing changes its status any more; its payments can still be taken (a bill paid afterwards).
    assert {k for k, on in _menu_state(opened.args[0]).items() if on} == {"Payments…"}
    assert _enabled(window) == set()
    opened.args[0].close()


def test_no_menu_on_a_free_cell(qtbot, window: MainWindow) -> None:
    window.grid.setFocus()
    window.grid.setCurrentIndex(window.model.index(0, 0))
    with qtbot.assertNotEmitted(window.appointment_menu_opened):
        qtbot.keyClick(window.grid, Qt.Key.Key_Menu)


# -- cancelling --------------------------------------------------------------------------------------------
def test_cancel_with_a_reason(qtbot, window: MainWindow, booked: Booked, monkeypatch) -> None:
    asked: list[str] = []

    def give_reason(parent, about, on_reason):
        asked.append(about)
        on_reason("  Patient called to cancel ")

    monkeypatch.setattr(appointment_actions, "ask_cancel_reason", give_reason)
    _select(window, booked.first)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.status_actions["cancel"].trigger()
    assert asked == ["Maria Silva 08:00"]
    assert scheduling.get_appointment(booked.db, booked.first.id).status == "cancelled"
    assert window.model.appointment_at(window.grid.currentIndex()) is None  # released: no longer on the grid
    assert window.summary_label.text() == "1 appointment"
    assert window.statusBar().currentMessage() == "Cancelled: Maria Silva 08:00"


def test_cancel_with_an_empty_reason_changes_nothing(qtbot, window: MainWindow, booked: Booked,
                                                    monkeypatch) -> None:
    monkeypatch.setattr(appointment_actions, "ask_cancel_reason", lambda parent, about, on_reason: on_reason("  "))
    _select(window, booked.first)
    with qtbot.assertNotEmitted(window.appointment_changed):
        window.status_actions["cancel"].trigger()
        assert not window.runner.busy  # nothing was started
    assert scheduling.get_appointment(booked.db, booked.first.id).status == "confirmed"


def test_the_reason_prompt_needs_a_reason_and_esc_changes_nothing(qtbot, window: MainWindow,
                                                                   booked: Booked) -> None:
    _select(window, booked.first)
    with qtbot.waitSignal(window.appointment_actions.cancel_terms_shown, timeout=10_000) as terms:
        window.status_actions["cancel"].trigger()
    dialog = window.findChild(CancelReasonDialog)
    assert dialog is not None and dialog.isVisible()
    # before the answer, the dialog says what happens to the money (nothing paid here)
    assert terms.args[0] == "Cancelled by the clinic: no fee, and nothing is to be refunded."
    assert dialog.terms_label.text() == terms.args[0]
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClicks(dialog.reason_edit, "   ")
    assert not dialog.ok_button.isEnabled()
    with qtbot.assertNotEmitted(window.appointment_changed):
        qtbot.keyClick(dialog.reason_edit, Qt.Key.Key_Escape)
        assert not dialog.isVisible()
        assert not window.runner.busy
    assert scheduling.get_appointment(booked.db, booked.first.id).status == "confirmed"

    window.status_actions["cancel"].trigger()  # a fresh prompt; the closed one deletes itself
    qtbot.waitUntil(lambda: any(d.isVisible() for d in window.findChildren(CancelReasonDialog)))
    dialog = next(d for d in window.findChildren(CancelReasonDialog) if d.isVisible())
    qtbot.keyClicks(dialog.reason_edit, "Patient is travelling")
    with qtbot.waitSignal(window.appointment_changed, timeout=10_000) as changed:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert changed.args[0].status == "cancelled"


# -- conflicts ---------------------------------------------------------------------------------------------
def test_a_change_made_meanwhile_elsewhere_is_explained(qtbot, window: MainWindow, booked: Booked) -> None:
    _select(window, booked.first)
    assert window.status_actions["check_in"].isEnabled()
    scheduling.set_status(booked.db, booked.first.id, "checked_in")  # another workstation, first
    with qtbot.assertNotEmitted(window.appointment_changed), \
            qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.status_actions["check_in"].trigger()
    box = _error_box()
    assert box.text() == ("Could not check in Maria Silva 08:00. "
                          "An appointment that is checked in cannot become checked in.")
    assert box.icon() == QMessageBox.Icon.Warning
    box.close()
    assert _status_on_grid(window, booked.first) == "checked_in"  # the grid now shows what happened
    assert _enabled(window) == {"start", "cancel"}


@popup_notes
def test_the_menu_follows_the_grid_point(qtbot, window: MainWindow, booked: Booked) -> None:
    """A keyboard menu opens over the current block, inside the grid."""
    index = _select(window, booked.first)
    with qtbot.waitSignal(window.appointment_menu_opened) as opened:
        qtbot.keyClick(window.grid, Qt.Key.Key_Menu)
    menu: QMenu = opened.args[0]
    block = window.grid.visualRect(index)
    top_left = window.grid.viewport().mapToGlobal(block.topLeft())
    assert menu.pos().y() >= top_left.y() - 1 and menu.pos() != QPoint(0, 0)
    menu.close()


def test_no_show_is_offered_after_the_grace_and_asks_before_marking(qtbot, booked_past: Booked, runner) -> None:
    from datetime import timedelta

    from reception_app.domain.status import NO_SHOW_GRACE_MINUTES

    from .conftest import PAST_DAY, make_window

    booked = booked_past   # a no-show is recorded after the start by the database's clock: a past day
    clock = {"now": at(8, day=PAST_DAY) + timedelta(minutes=NO_SHOW_GRACE_MINUTES - 1)}  # 14 minutes on
    w = make_window(qtbot, booked.db, runner, day=PAST_DAY, clock=lambda: clock["now"])
    with qtbot.waitSignal(w.day_loaded, timeout=10_000):
        w.show()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    _select(w, booked.first)
    assert "no_show" not in _enabled(w)
    with qtbot.assertNotEmitted(w.appointment_actions.confirmation_opened):
        qtbot.keyClick(w.grid, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    clock["now"] = at(8, day=PAST_DAY) + timedelta(minutes=NO_SHOW_GRACE_MINUTES)
    w.appointment_actions.update()
    assert "no_show" in _enabled(w)

    # The shortcut asks first; "Keep it as it is" changes nothing.
    with qtbot.waitSignal(w.appointment_actions.confirmation_opened) as asked:
        qtbot.keyClick(w.grid, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    box = asked.args[0]
    assert "Maria Silva 08:00" in box.text()
    box.reject()
    qtbot.wait(50)
    assert scheduling.get_appointment(booked.db, booked.first.id).status == "confirmed"

    with qtbot.waitSignal(w.appointment_actions.confirmation_opened) as asked:
        w.status_actions["no_show"].trigger()
    with qtbot.waitSignal(w.appointment_changed, timeout=10_000) as changed:
        asked.args[0].accept()
    assert changed.args[0].status == "no_show"
    assert scheduling.get_appointment(booked.db, booked.first.id).status == "no_show"
