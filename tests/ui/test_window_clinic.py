"""The window's lifecycle and clinic tools (ui.window_clinic): a visit or a series for the selected
appointment's patient or from a patient record, the waitlist, rosters, forced bookings and the
overrides log — opened from the menus, offered by role, and reloading the grid after a change.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt

from reception_app.ui.main_window import MainWindow
from reception_app.ui.override_dialogs import ForceBookingDialog, OverridesLogWindow
from reception_app.ui.patient_dialog import PatientSearchDialog
from reception_app.ui.roster_dialog import RosterDialog
from reception_app.ui.series_dialog import SeriesDialog
from reception_app.ui.visit_dialog import VisitDialog
from reception_app.ui.waitlist_dialog import WaitlistDialog

from .conftest import Booked, select_block


def _menu_texts(window: MainWindow, name: str) -> list[str]:
    menu = next(a.menu() for a in window.menuBar().actions() if a.menu() and a.menu().objectName() == name)
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def test_the_clinic_menu_sits_before_help_and_lists_the_tools(window: MainWindow) -> None:
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles[-2:] == ["&Clinic", "&Help"]
    assert _menu_texts(window, "clinicMenu") == ["Waitlist…", "Failed reminders…", "Refunds due…",
                                                 "Rosters, leave and holidays…",
                                                 "Overrides log", "Reports…"]
    assert {"New visit…", "New recurring series…", "Force booking…"} <= set(_menu_texts(window, "appointmentBarMenu"))
    assert window.new_visit_action.shortcut().toString() == "Ctrl+Shift+V"
    assert window.waitlist_action.shortcut().toString() == "Ctrl+Shift+L"


def test_a_visit_is_for_the_selected_appointments_patient(qtbot, window: MainWindow, booked: Booked) -> None:
    select_block(window, booked.first)
    with qtbot.waitSignal(window.dialog_opened) as opened:
        window.new_visit_action.trigger()
    dialog = opened.args[0]
    assert isinstance(dialog, VisitDialog) and dialog.isVisible()
    assert "Maria Silva" in dialog.windowTitle()


def test_without_a_patient_at_hand_the_search_opens_and_its_record_books_a_series(
        qtbot, window: MainWindow, booked: Booked) -> None:
    window.grid.setCurrentIndex(window.model.index(0, 0))   # an empty early cell: no appointment
    assert window.current_appointment() is None
    with qtbot.waitSignal(window.patient_search_opened) as opened:
        window.new_series_action.trigger()
    search: PatientSearchDialog = opened.args[0]
    assert "Book a series" in window.statusBar().currentMessage()
    search.search_edit.setText("João")    # (QtTest cannot type "ã")
    search.search_now()
    qtbot.waitUntil(lambda: len(search.results()) == 1, timeout=10_000)
    with qtbot.waitSignal(window.patient_record_opened) as record_opened:
        qtbot.keyClick(search.search_edit, Qt.Key.Key_Return)
    record = record_opened.args[0]
    qtbot.waitUntil(lambda: record.series_button.isEnabled(), timeout=10_000)
    with qtbot.waitSignal(window.dialog_opened) as series_opened:
        qtbot.mouseClick(record.series_button, Qt.MouseButton.LeftButton)
    dialog = series_opened.args[0]
    assert isinstance(dialog, SeriesDialog) and "João Pereira" in dialog.windowTitle()
    assert not record.isVisible()


def test_the_waitlist_rosters_force_booking_and_log_open_for_an_admin(qtbot, window: MainWindow) -> None:
    # The embedded owner (no sign-in) counts as admin: every tool is offered.
    for action, kind in ((window.waitlist_action, WaitlistDialog), (window.rosters_action, RosterDialog),
                         (window.force_book_action, ForceBookingDialog),
                         (window.overrides_log_action, OverridesLogWindow)):
        assert action.isVisible() and action.isEnabled()
        with qtbot.waitSignal(window.dialog_opened) as opened:
            action.trigger()
        widget = opened.args[0]
        assert isinstance(widget, kind) and widget.isVisible()
        assert widget in window.clinic_windows
        widget.close()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)


# -- lifecycle actions (issue 4) ------------------------------------------------------------------------
def _select_appointment(window: MainWindow, appt) -> None:
    model = window.model
    col = next(c for c, r in enumerate(model.columns) if r.id == appt.resource_ids["doctor"])
    window.grid.setFocus()
    window.grid.setCurrentIndex(model.index(model.row_of(appt.start), col))


def test_a_hold_is_confirmed_from_the_window(qtbot, window: MainWindow, booked: Booked) -> None:
    from reception_app.services import scheduling

    from .conftest import NOW, at

    held = scheduling.hold(booked.db, branch="Centro", service="Abdominal ultrasound", start=at(10, 30),
                           patient_id=booked.ana_clara, now=NOW)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.reload_day()
    _select_appointment(window, held)
    tip = window.grid.currentIndex().data(Qt.ItemDataRole.ToolTipRole)
    assert "On hold until" in tip
    confirm = window.lifecycle_actions["confirm_hold"]
    assert confirm.isEnabled() and not window.lifecycle_actions["approve"].isEnabled()
    with qtbot.waitSignal(window.appointment_changed, timeout=10_000) as changed:
        confirm.trigger()
    assert changed.args[0].status == "confirmed"
    assert window.statusBar().currentMessage().startswith("Hold confirmed")


def test_a_cancellation_by_the_patient_offers_the_time_to_the_waitlist(
        qtbot, window: MainWindow, booked: Booked) -> None:
    from reception_app.services import scheduling, waitlist
    from reception_app.ui.appointment_actions import CancelReasonDialog

    from .conftest import DAY

    entry = waitlist.add_entry(booked.db, patient_id=booked.ana_clara, service="Abdominal ultrasound",
                               branch="Centro", first_date=DAY, last_date=DAY, earliest="07:00", latest="12:00",
                               now=window._clock())
    _select_appointment(window, booked.first)
    window.lifecycle_actions["cancel_by_patient"].trigger()
    prompt = window.findChild(CancelReasonDialog)
    assert prompt is not None and prompt.isVisible()
    qtbot.keyClicks(prompt.reason_edit, "flu")
    with qtbot.waitSignal(window.appointment_changed, timeout=10_000) as changed:
        qtbot.mouseClick(prompt.ok_button, Qt.MouseButton.LeftButton)
    assert changed.args[0].status == "cancelled"
    qtbot.waitUntil(lambda: "waitlist" in window.statusBar().currentMessage(), timeout=10_000)
    offers = waitlist.list_offers(booked.db)
    assert [o.entry_id for o in offers] == [entry.id]
    who = booked.db.read(lambda c: c.exec_driver_sql(
        "SELECT cancelled_by FROM appointment WHERE id = %s", (booked.first.id,)).scalar_one())
    assert who == "patient"
    assert scheduling.get_appointment(booked.db, offers[0].appointment_id).status == "held"


def test_payments_open_for_the_selected_appointment(qtbot, window: MainWindow, booked: Booked) -> None:
    from reception_app.ui.payment_dialog import PaymentDialog

    _select_appointment(window, booked.first)
    action = window.lifecycle_actions["payments"]
    assert action.isEnabled() and action.shortcut().toString() == "Ctrl+Shift+M"
    with qtbot.waitSignal(window.dialog_opened) as opened:
        action.trigger()
    dialog = opened.args[0]
    assert isinstance(dialog, PaymentDialog) and dialog.isVisible()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)
    dialog.close()


@pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise|grabbing the keyboard)")
def test_an_occurrence_cancels_itself_and_the_following_of_its_series(
        qtbot, window: MainWindow, booked: Booked) -> None:
    from reception_app.services import scheduling, series
    from reception_app.ui.series_dialog import CancelSeriesDialog

    from .conftest import DAY, NOW

    plan = series.plan_series(booked.db, branch="Centro", service="Abdominal ultrasound", patient_id=booked.joao,
                              rrule="FREQ=WEEKLY;BYDAY=MO", first_date=DAY, local_start="11:00", count=3,
                              doctor="Ana Souza", now=NOW)
    made = series.book_series(booked.db, plan, mode="all_or_nothing", now=NOW)
    first, second, third = made.appointments
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.reload_day()
    _select_appointment(window, first)
    assert window.cancel_series_action.isEnabled()
    with qtbot.waitSignal(window.appointment_menu_opened) as menu_opened:
        qtbot.keyClick(window.grid, Qt.Key.Key_Menu)
    assert window.cancel_series_action in menu_opened.args[0].actions()
    menu_opened.args[0].close()
    with qtbot.waitSignal(window.dialog_opened) as opened:
        window.cancel_series_action.trigger()
    dialog: CancelSeriesDialog = opened.args[0]
    assert not dialog.ok_button.isEnabled()          # a reason first
    dialog.scope_buttons["following"].setChecked(True)
    qtbot.keyClicks(dialog.reason_edit, "treatment moved to another clinic")
    with qtbot.waitSignal(dialog.series_cancelled, timeout=10_000), qtbot.waitSignal(window.day_loaded, timeout=10_000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert {scheduling.get_appointment(booked.db, a.id).status for a in (first, second, third)} == {"cancelled"}
    assert not window.cancel_series_action.isEnabled() or window.current_appointment() is None \
        or window.current_appointment().series_id is None


def test_reports_and_force_move_are_offered_to_a_manager(qtbot, window: MainWindow, booked: Booked) -> None:
    from reception_app.ui.override_dialogs import ForceMoveDialog
    from reception_app.ui.reports_window import ReportsWindow

    with qtbot.waitSignal(window.dialog_opened) as opened:
        window.reports_action.trigger()
    reports = opened.args[0]
    assert isinstance(reports, ReportsWindow) and reports.isVisible() and not reports.isModal()
    assert window.reports_action.shortcut().toString() == "Ctrl+Shift+G"
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)
    reports.close()
    _select_appointment(window, booked.first)
    assert window.force_move_action.isEnabled()
    with qtbot.waitSignal(window.dialog_opened) as opened:
        window.force_move_action.trigger()
    move: ForceMoveDialog = opened.args[0]
    qtbot.waitUntil(lambda: move.doctor_combo.count() > 1, timeout=10_000)
    assert not move.move_button.isEnabled()                     # a reason first
    move.time_edit.setTime(move.time_edit.time().addSecs(3 * 3600))   # 08:00 -> 11:00
    move.reason_edit.setText("patient can only come at 11")
    with qtbot.waitSignal(window.appointment_changed, timeout=10_000) as changed:
        qtbot.mouseClick(move.move_button, Qt.MouseButton.LeftButton)
    assert changed.args[0].start == booked.first.start + timedelta(hours=3)
    log = booked.db.read(lambda c: c.exec_driver_sql("SELECT kind, reason FROM override_log").all())
    assert [tuple(r) for r in log] == [("move", "patient can only come at 11")]


def test_every_window_shortcut_is_bound_once(window: MainWindow) -> None:
    """Two actions on one key make Qt fire neither ("ambiguous shortcut")."""
    from collections import Counter

    from PySide6.QtGui import QAction

    keys = Counter(k.toString() for a in window.findChildren(QAction) for k in a.shortcuts() if not k.isEmpty())
    assert [k for k, n in keys.items() if n > 1] == []


def test_an_appointments_reminders_and_the_failed_list(qtbot, window: MainWindow, booked: Booked) -> None:
    from reception_app.ui.reminders_dialog import AppointmentRemindersDialog, FailedRemindersDialog

    _select_appointment(window, booked.first)
    assert window.appointment_reminders_action.isEnabled()
    with qtbot.waitSignal(window.dialog_opened) as opened:
        window.appointment_reminders_action.trigger()
    dialog: AppointmentRemindersDialog = opened.args[0]
    planned = booked.db.read(lambda c: c.exec_driver_sql(
        "SELECT count(*) FROM reminder WHERE appointment_id = %s", (booked.first.id,)).scalar_one())
    assert planned > 0                      # a confirmation and reminders were planned on booking
    qtbot.waitUntil(lambda: len(dialog.lines) == planned, timeout=10_000)
    assert any(line.startswith("Confirmation") for line in dialog.lines)
    dialog.close()
    # A reminder that failed for good shows in the failed list (and as the grid's marker).
    booked.db.write(lambda c: c.exec_driver_sql(
        "UPDATE reminder SET status = 'failed', last_error = 'mailbox full' WHERE id = "
        "(SELECT min(id) FROM reminder WHERE appointment_id = %s)", (booked.first.id,)))
    with qtbot.waitSignal(window.dialog_opened) as opened:
        window.failed_reminders_action.trigger()
    failed: FailedRemindersDialog = opened.args[0]
    qtbot.waitUntil(lambda: len(failed.rows) == 1, timeout=10_000)
    assert failed.rows[0].appointment_id == booked.first.id and not failed.isModal()
    failed.close()
