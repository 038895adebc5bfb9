"""Booking by keys alone, from the main window, as issue 16 spells it out: Ctrl+N → type part of the
name → Down → Enter (the patient is chosen, the keyboard moves to the free starts) → Down → Enter
(booked, the dialog closes, the grid shows it). Every key goes to the widget that has the focus, as a
receptionist's keyboard would; no widget is clicked or set by the test."""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QApplication

from reception_app.services import scheduling
from reception_app.ui.booking_dialog import PATIENT_FIRST_TEXT, BookingDialog
from reception_app.ui.day_edit import DayEdit

from .conftest import DAY, NOW, Booked, at


def _key(qtbot, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """Press ``key`` on whatever has the keyboard focus now."""
    focused = QApplication.focusWidget()
    assert focused is not None, "nothing has the keyboard focus"
    qtbot.keyClick(focused, key, modifier)


def _type(qtbot, text: str) -> None:
    focused = QApplication.focusWidget()
    assert focused is not None, "nothing has the keyboard focus"
    qtbot.keyClicks(focused, text)


def _open_by_ctrl_n(qtbot, window) -> BookingDialog:
    window.activateWindow()
    window.grid.setFocus()
    with qtbot.waitSignal(window.booking_dialog_opened, timeout=10_000) as opened:
        _key(qtbot, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    dialog = opened.args[0]
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: dialog.service_combo.count() > 0 and bool(dialog.offers or dialog.slot_status.text()),
                    timeout=10_000)
    return dialog


def _choose_patient_by_keys(qtbot, dialog: BookingDialog, typed: str) -> None:
    assert dialog.search_edit.hasFocus()
    with qtbot.waitSignal(dialog.patients_listed, timeout=10_000):
        _type(qtbot, typed)
    _key(qtbot, Qt.Key.Key_Down)
    assert dialog.patient_list.hasFocus()
    _key(qtbot, Qt.Key.Key_Return)
    assert dialog.isVisible() and not dialog.new_patient_form.isVisible()  # Enter never opens "New patient…"
    qtbot.waitUntil(lambda: dialog.patient is not None and dialog.offers_for_patient == dialog.patient.id,
                    timeout=10_000)


def test_ctrl_n_name_down_enter_down_enter_books(qtbot, window, booked: Booked) -> None:
    dialog = _open_by_ctrl_n(qtbot, window)
    _choose_patient_by_keys(qtbot, dialog, "mari")
    assert dialog.patient.id == booked.maria
    assert dialog.slot_tree.hasFocus()  # the keyboard went on to the free starts
    assert dialog.offers
    _key(qtbot, Qt.Key.Key_Down)
    offer = dialog.selected_offer()
    assert offer is not None
    with qtbot.waitSignal(dialog.appointment_booked, timeout=10_000) as blocker:
        _key(qtbot, Qt.Key.Key_Return)
    booked_view = blocker.args[0]
    assert (booked_view.patient_id, booked_view.start) == (booked.maria, offer.start)
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: any(a.id == booked_view.id for a in window.model.day.appointments), timeout=10_000)
    mine = [a for a in scheduling.list_appointments(booked.db, branch="Centro", local_date=DAY)
            if a.id == booked_view.id]
    assert len(mine) == 1 and mine[0].status in ("confirmed", "requested", "payment_pending")


def test_a_day_without_free_time_puts_the_keyboard_on_the_next_free_day(qtbot, window, booked: Booked) -> None:
    sunday = DAY - timedelta(days=1)  # the test clinic is closed on Sundays
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.nav.set_day(sunday)
    dialog = _open_by_ctrl_n(qtbot, window)
    assert dialog.local_date == sunday
    _choose_patient_by_keys(qtbot, dialog, "mari")
    qtbot.waitUntil(lambda: dialog.next_free_button.isVisible(), timeout=10_000)
    assert not dialog.offers
    assert dialog.next_free_button.hasFocus()
    target = dialog.next_free_date
    assert target is not None and target > sunday
    with qtbot.waitSignal(dialog.slots_listed, timeout=10_000):
        _key(qtbot, Qt.Key.Key_Return)  # "Show <next free day>"
    assert dialog.local_date == target and dialog.slot_tree.hasFocus() and dialog.offers
    _key(qtbot, Qt.Key.Key_Down)
    offer = dialog.selected_offer()
    assert offer is not None
    with qtbot.waitSignal(dialog.appointment_booked, timeout=10_000) as blocker:
        _key(qtbot, Qt.Key.Key_Return)
    assert blocker.args[0].start == offer.start and blocker.args[0].patient_id == booked.maria


def test_ctrl_n_uses_the_selected_cells_time_and_resource(qtbot, window) -> None:
    model = window.model
    col = next(c for c, r in enumerate(model.columns) if r.kind == "doctor")
    row = model.row_of(at(11))
    window.grid.setFocus()
    window.grid.setCurrentIndex(model.index(row, col))  # what a click or the arrow keys leave selected
    assert window.grid.current_cell() == (at(11), model.columns[col])
    dialog = _open_by_ctrl_n(qtbot, window)
    assert dialog.state.pin == model.columns[col] and dialog.state.start_hint == at(11)
    assert dialog.pin_label.text()  # "only with <doctor>" (or that they don't do the service)


def test_ctrl_n_without_a_selected_cell_books_for_the_day(qtbot, window) -> None:
    window.grid.clearSelection()
    dialog = _open_by_ctrl_n(qtbot, window)
    assert dialog.state.pin is None and dialog.state.start_hint is None and dialog.local_date == DAY


def test_enter_on_the_starts_without_a_patient_says_so_and_the_message_goes_once_one_is_chosen(
        qtbot, window, booked: Booked) -> None:
    dialog = _open_by_ctrl_n(qtbot, window)
    qtbot.waitUntil(lambda: bool(dialog.offers), timeout=10_000)
    dialog.slot_tree.setFocus()
    _key(qtbot, Qt.Key.Key_Down)
    with qtbot.assertNotEmitted(dialog.appointment_booked):
        _key(qtbot, Qt.Key.Key_Return)
    assert dialog.message_label.isVisible() and dialog.message_label.text() == PATIENT_FIRST_TEXT
    assert dialog.isVisible() and not dialog.new_patient_form.isVisible()
    dialog.search_edit.setFocus()
    _choose_patient_by_keys(qtbot, dialog, "mari")
    assert not dialog.message_label.isVisible()  # what it asked for is done


def test_the_day_field_moves_by_days_lets_tab_leave_and_refuses_the_past(qtbot) -> None:
    today = date(2027, 1, 4)
    edit = DayEdit(date(2027, 1, 31), earliest=today)
    edit.setDisplayFormat("dd/MM/yyyy")
    qtbot.addWidget(edit)
    edit.show()
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    for section in range(3):  # day, month, year: Up is the next day whichever part the cursor is in
        edit.setCurrentSectionIndex(section)
        before = edit.date()
        qtbot.keyClick(edit, Qt.Key.Key_Up)
        assert edit.date() == before.addDays(1)
    assert edit.date() == QDate(2027, 2, 3)
    qtbot.keyClick(edit, Qt.Key.Key_PageDown)
    assert edit.date() == QDate(2027, 1, 27)
    edit.setDate(QDate(2026, 12, 25))  # before today: refused (held at the first allowed day)
    assert edit.date() == QDate(2027, 1, 4)
    qtbot.keyClick(edit, Qt.Key.Key_Down)
    assert edit.date() == QDate(2027, 1, 4)


def test_tab_leaves_the_booking_dialogs_day_field(qtbot, window) -> None:
    dialog = _open_by_ctrl_n(qtbot, window)
    day = dialog.local_date
    dialog.date_edit.setFocus()
    qtbot.waitUntil(dialog.date_edit.hasFocus)
    _key(qtbot, Qt.Key.Key_Tab)
    assert not dialog.date_edit.hasFocus() and dialog.local_date == day
    local_today = NOW.astimezone(at(0).tzinfo).date()  # 31 December 2026 at Centro
    assert dialog.date_edit.minimumDate() == QDate(local_today.year, local_today.month, local_today.day)
