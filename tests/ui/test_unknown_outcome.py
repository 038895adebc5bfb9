"""The booking dialog when the server connection is killed during a booking.

Real server, real kills (see tests/db/test_reconnect.py for the three ways):
before COMMIT the runner re-runs the booking by itself; inside COMMIT (nothing
saved) and after the server committed (saved), the dialog keeps everything,
says it is checking, waits for the connection monitor to find the database
back, and settles the booking with the SAME client id — then says what really
happened. Afterwards the database holds exactly one appointment for the
attempt's client id, with its bookings once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt

from reception_app.services import scheduling
from reception_app.services.dayview import BranchSummary
from reception_app.store.database import Database
from reception_app.ui.booking_dialog import (
    BOOKED_TEXT,
    CHECKING_TEXT,
    SAVED_BEFORE_TEXT,
    TAKEN_MEANWHILE_TEXT,
    BookingDialog,
)
from reception_app.ui.connection_banner import ConnectionBanner, ConnectionMonitor
from reception_app.ui.runner import Runner
from tests.db.test_reconnect import CuttingProxy, KillHook, appointments_with

from .conftest import DAY, NOW, Booked, at

BOOK_REASON = b"booked at the front desk"  # what the dialog's booking sends (the proxy's marker)


def _ready_dialog(qtbot, db: Database, runner: Runner, branch: BranchSummary) -> BookingDialog:
    """A booking dialog with Maria, the ultrasound and the free 10:00 start chosen, Book enabled."""
    dialog = BookingDialog(db, runner, branch=branch, local_date=DAY, clock=lambda: NOW, search_delay_ms=0)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.service_combo.count() > 0)
    with qtbot.waitSignal(dialog.patients_listed):
        qtbot.keyClicks(dialog.search_edit, "Maria")
    dialog.patient_list.setCurrentRow(0)
    # the free starts are listed again for the patient chosen (their own appointments left out)
    qtbot.waitUntil(lambda: dialog.offers_for_patient == dialog.patient.id, timeout=10_000)
    index = next(i for i, s in enumerate(dialog.services) if s.name == "Abdominal ultrasound")
    if dialog.service_combo.currentIndex() != index:
        with qtbot.waitSignal(dialog.slots_listed):
            dialog.service_combo.setCurrentIndex(index)
    qtbot.waitUntil(lambda: any(o.start == at(10) for o in dialog.offers))
    row = next(i for i, o in enumerate(dialog.offers) if o.start == at(10))
    dialog.slot_tree.setCurrentItem(dialog.slot_tree.topLevelItem(row))
    assert dialog.book_button.isEnabled()
    return dialog


def _ours(db: Database) -> list[scheduling.AppointmentView]:
    return [a for a in scheduling.list_appointments(db, branch="Centro", local_date=DAY) if a.start == at(10)
            and a.status != "cancelled"]


@pytest.fixture
def monitor(qtbot, booked: Booked, runner: Runner) -> ConnectionMonitor:
    """The app's connection monitor (fast probes) with its banner."""
    m = ConnectionMonitor(booked.db, runner, first_delay_ms=250, max_delay_ms=500)
    banner = ConnectionBanner(m, reconnected_ms=50)
    qtbot.addWidget(banner)
    return m


@pytest.fixture
def proxy(booked: Booked) -> Iterator[CuttingProxy]:
    p = CuttingProxy(booked.db.conninfo)
    yield p
    p.close()


def test_killed_before_commit_the_booking_is_rerun_and_made_once(qtbot, db_url: str, booked: Booked,
                                                                  runner: Runner, centro: BranchSummary,
                                                                  monitor: ConnectionMonitor) -> None:
    dialog = _ready_dialog(qtbot, booked.db, runner, centro)
    hook = KillHook(db_url, at_commit=False)
    try:
        with qtbot.waitSignal(dialog.appointment_booked, timeout=20_000) as done, \
                qtbot.assertNotEmitted(runner.connection_lost), qtbot.assertNotEmitted(runner.crashed):
            qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: hook.waiting_backend() is not None, timeout=10_000)
            hook.kill_waiting()
    finally:
        hook.close()
    assert "INSERT INTO appointment" in hook.killed_query[0]
    made = done.args[0]
    assert not dialog.isVisible()  # an ordinary success: the runner re-ran it on a new connection
    assert appointments_with(booked.db, uuid.UUID(made.client_id)) == [(made.id, 3)]
    assert [a.id for a in _ours(booked.db)] == [made.id]
    assert not monitor.is_lost


def test_killed_inside_commit_the_dialog_checks_and_books_with_the_same_client_id(
        qtbot, db_url: str, booked: Booked, runner: Runner, centro: BranchSummary,
        monitor: ConnectionMonitor) -> None:
    dialog = _ready_dialog(qtbot, booked.db, runner, centro)
    hook = KillHook(db_url, at_commit=True)
    try:
        with qtbot.waitSignal(monitor.lost, timeout=20_000):
            qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: hook.waiting_backend() is not None, timeout=10_000)
            hook.kill_waiting()
            qtbot.waitUntil(lambda: dialog.outcome_unknown, timeout=10_000)
        assert hook.killed_query[0].startswith("COMMIT")   # (with the queue's release: one round trip)
        assert dialog.message_label.text().startswith(CHECKING_TEXT)
        assert dialog.isVisible() and dialog.patient is not None and dialog.selected_offer() is not None
        client_id = dialog.state.client_id  # the attempt's id, kept for the retry
        assert appointments_with(booked.db, client_id) == []  # it died before its commit record

        with qtbot.waitSignal(dialog.outcome_resolved, timeout=20_000) as resolved, \
                qtbot.waitSignal(dialog.appointment_booked, timeout=20_000) as made:
            pass  # the monitor's probe finds the database; the dialog checks, then books again
    finally:
        hook.close()
    assert resolved.args[0].startswith(BOOKED_TEXT) and "Maria Silva" in resolved.args[0]
    assert dialog.message_label.text() == resolved.args[0] and dialog.isVisible()
    assert made.args[0].client_id == str(client_id)
    assert appointments_with(booked.db, client_id) == [(made.args[0].id, 3)]
    assert [a.id for a in _ours(booked.db)] == [made.args[0].id]
    assert not dialog.book_button.isEnabled()  # done: nothing more to book from this dialog
    assert not monitor.is_lost


def test_a_commit_whose_answer_was_lost_is_found_saved_and_not_booked_again(
        qtbot, booked: Booked, centro: BranchSummary, proxy: CuttingProxy) -> None:
    db = Database(proxy.conninfo)
    runner = Runner(log_path="/tmp/clinic-test.log")
    try:
        monitor = ConnectionMonitor(db, runner, first_delay_ms=250, max_delay_ms=500)
        dialog = _ready_dialog(qtbot, db, runner, centro)
        proxy.arm(BOOK_REASON)
        with qtbot.waitSignal(monitor.lost, timeout=20_000), qtbot.assertNotEmitted(runner.failed):
            qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: dialog.outcome_unknown, timeout=10_000)
        assert proxy.cut.is_set()
        client_id = dialog.state.client_id
        saved = appointments_with(booked.db, client_id)
        assert len(saved) == 1  # the server committed it; the dialog could not know

        with qtbot.waitSignal(dialog.outcome_resolved, timeout=20_000) as resolved, \
                qtbot.waitSignal(dialog.appointment_booked, timeout=20_000) as made:
            pass
        assert resolved.args[0].startswith(SAVED_BEFORE_TEXT)
        assert made.args[0].id == saved[0][0]
        assert appointments_with(booked.db, client_id) == saved  # not doubled: still one, 3 bookings
        assert [a.id for a in _ours(booked.db)] == [saved[0][0]]
    finally:
        runner.shutdown()
        db.dispose()


def test_a_time_taken_while_the_connection_was_down_is_said_plainly(
        qtbot, db_url: str, booked: Booked, runner: Runner, centro: BranchSummary) -> None:
    monitor = ConnectionMonitor(booked.db, runner, first_delay_ms=600_000)  # probed only by "Try now"
    dialog = _ready_dialog(qtbot, booked.db, runner, centro)
    hook = KillHook(db_url, at_commit=True)
    try:
        with qtbot.waitSignal(monitor.lost, timeout=20_000):
            qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: hook.waiting_backend() is not None, timeout=10_000)
            hook.kill_waiting()
            qtbot.waitUntil(lambda: dialog.outcome_unknown, timeout=10_000)
    finally:
        hook.close()
    assert not dialog.book_button.isEnabled()  # waiting for the connection
    client_id = dialog.state.client_id
    # Meanwhile another workstation takes 10:00 (the only ultrasound).
    other = scheduling.book(booked.db, branch="Centro", service="Abdominal ultrasound", start=at(10),
                            patient_id=booked.ana_clara, now=NOW)
    with qtbot.waitSignal(dialog.outcome_resolved, timeout=20_000) as resolved, \
            qtbot.assertNotEmitted(dialog.appointment_booked):
        monitor.try_now()
    assert resolved.args[0].startswith(TAKEN_MEANWHILE_TEXT) and "Traceback" not in resolved.args[0]
    assert appointments_with(booked.db, client_id) == []
    assert [a.id for a in _ours(booked.db)] == [other.id]
    assert dialog.isVisible() and dialog.patient is not None  # Maria is still chosen, to pick another time
