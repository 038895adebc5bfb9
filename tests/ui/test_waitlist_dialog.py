"""The waitlist dialog, driven by keyboard and mouse against the test database.

The ``booked`` clinic: Ana Clara's 10:00 ultrasound on Monday 2027-01-04 at Centro
was cancelled, so one freed slot (10:00–10:30, Ana Souza, Imaging 1, Ultrasound A)
waits for the waitlist. The clock starts at ``NOW`` (2027-01-01 00:00 UTC) and is
moved by hand; the countdown timer is off (``tick_ms=0``). An entry's age counts from
its ``created_at``, the server's real clock.
"""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt
from sqlalchemy import text

from reception_app.services import scheduling, waitlist
from reception_app.services.dayview import BranchSummary
from reception_app.ui.runner import Runner
from reception_app.ui.waitlist_dialog import OFFER_COLUMNS, WaitlistDialog, age_text

from .conftest import DAY, NOW, Booked, at


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now


def _dialog(qtbot, booked: Booked, runner: Runner, centro: BranchSummary, clock: Clock) -> WaitlistDialog:
    dialog = WaitlistDialog(booked.db, runner, branch=centro, clock=clock, tick_ms=0, search_delay_ms=0)
    qtbot.addWidget(dialog)
    with qtbot.waitSignals([dialog.entries_loaded, dialog.offers_loaded], timeout=10_000):
        dialog.show()
    qtbot.waitUntil(lambda: dialog.service_combo.count() > 0 and dialog.doctor_combo.count() > 1, timeout=10_000)
    return dialog


def _add(qtbot, dialog: WaitlistDialog, search: str, *, priority: int = 0, earliest: str = "07:00",
         latest: str = "12:00"):
    with qtbot.waitSignal(dialog.picker.patients_listed, timeout=10_000):
        qtbot.keyClicks(dialog.picker.search_edit, search)
    dialog.first_date_edit.setDate(DAY)
    dialog.last_date_edit.setDate(DAY)
    for edit, value in ((dialog.earliest_edit, earliest), (dialog.latest_edit, latest)):
        edit.selectAll()
        qtbot.keyClicks(edit, value)
    dialog.priority_spin.setValue(priority)
    with qtbot.waitSignal(dialog.entries_loaded, timeout=10_000):
        qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    dialog.picker.search_edit.clear()


def _cell(table, row: int, column: int) -> str:
    return table.item(row, column).text()


def test_add_an_entry_offer_the_freed_slot_watch_the_time_and_accept(qtbot, booked: Booked, runner: Runner,
                                                                      centro: BranchSummary):
    clock = Clock()
    dialog = _dialog(qtbot, booked, runner, centro, clock)
    assert dialog.entry_table.rowCount() == 0 and dialog.offer_table.rowCount() == 0
    with qtbot.waitSignal(dialog.entry_added, timeout=10_000) as added:
        _add(qtbot, dialog, "maria", priority=2)
    entry = added.args[0]
    assert (entry.patient_id, entry.priority, entry.window_text) == (booked.maria, 2, "2027-01-04, 07:00–12:00")
    # free times fit already (09:45 on: the fixture's 10:00 was cancelled): the desk is told it could book now
    assert "Note: 7 free times already fit — the first is Mon 04/01/2027 09:45; it can be booked now." in \
        dialog.message_label.text()
    assert [_cell(dialog.entry_table, 0, c) for c in range(7)] == [
        "Maria Silva", "Abdominal ultrasound", "Any", "04/01/2027, 07:00–12:00", "2", "Waiting", age_text(entry.age(NOW))]

    with qtbot.waitSignal(dialog.slots_processed, timeout=10_000) as processed, \
            qtbot.waitSignal(dialog.offers_loaded, timeout=10_000):
        qtbot.mouseClick(dialog.process_button, Qt.MouseButton.LeftButton)
    assert processed.args == [1]
    qtbot.waitUntil(lambda: dialog.offer_table.rowCount() == 1, timeout=10_000)
    assert [_cell(dialog.offer_table, 0, c) for c in range(len(OFFER_COLUMNS))] == [
        "Maria Silva", "Abdominal ultrasound", "Mon 04/01/2027 10:00–10:30", "Ana Souza, Imaging 1, Ultrasound A",
        "10:00"]
    clock.now = NOW + timedelta(minutes=4, seconds=30)
    dialog.update_time_left()
    assert _cell(dialog.offer_table, 0, OFFER_COLUMNS.index("Time left")) == "5:30"
    assert dialog.accept_button.isEnabled()

    with qtbot.waitSignal(dialog.offer_accepted, timeout=10_000) as accepted:
        qtbot.mouseClick(dialog.accept_button, Qt.MouseButton.LeftButton)
    appt = scheduling.get_appointment(booked.db, accepted.args[0].appointment_id)
    assert (appt.patient_id, appt.status, appt.start) == (booked.maria, "confirmed", at(10))
    qtbot.waitUntil(lambda: dialog.offer_table.rowCount() == 0 and dialog.entry_table.rowCount() == 0,
                    timeout=10_000)
    assert dialog.message_label.text() == "Booked: Maria Silva, Abdominal ultrasound on Mon 04/01/2027 10:00."


def test_decline_passes_on_an_expired_offer_cannot_be_accepted_and_cancel_entry(qtbot, booked: Booked,
                                                                                 runner: Runner,
                                                                                 centro: BranchSummary):
    clock = Clock()
    dialog = _dialog(qtbot, booked, runner, centro, clock)
    _add(qtbot, dialog, "maria", priority=1)
    _add(qtbot, dialog, "joao")
    assert [_cell(dialog.entry_table, r, 0) for r in range(2)] == ["Maria Silva", "João Pereira"]
    with qtbot.waitSignal(dialog.slots_processed, timeout=10_000):
        qtbot.mouseClick(dialog.process_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.offer_table.rowCount() == 1, timeout=10_000)
    assert _cell(dialog.offer_table, 0, 0) == "Maria Silva"

    with qtbot.waitSignal(dialog.offer_declined, timeout=10_000) as declined:
        qtbot.mouseClick(dialog.decline_button, Qt.MouseButton.LeftButton)
    assert declined.args[0].next_offer.patient_id == booked.joao
    qtbot.waitUntil(lambda: dialog.offer_table.rowCount() == 1 and _cell(dialog.offer_table, 0, 0) == "João Pereira",
                    timeout=10_000)
    assert dialog.message_label.text() == "Declined. Offered next to João Pereira."

    clock.now = NOW + timedelta(minutes=11)           # João's offer ran out
    dialog.update_time_left()
    assert _cell(dialog.offer_table, 0, OFFER_COLUMNS.index("Time left")) == "expired"
    assert not dialog.accept_button.isEnabled()

    # João's entry (offered) is taken off the list: his offer goes, Maria was offered already: unfilled.
    row = next(r for r in range(dialog.entry_table.rowCount()) if _cell(dialog.entry_table, r, 0) == "João Pereira")
    dialog.entry_table.selectRow(row)
    with qtbot.waitSignal(dialog.entry_cancelled, timeout=10_000) as cancelled:
        qtbot.mouseClick(dialog.cancel_entry_button, Qt.MouseButton.LeftButton)
    assert cancelled.args[0].status == "cancelled"
    qtbot.waitUntil(lambda: dialog.entry_table.rowCount() == 1 and dialog.offer_table.rowCount() == 0,
                    timeout=10_000)
    state = booked.db.read(lambda c: c.execute(text("SELECT state FROM freed_slot")).scalar_one())
    assert state == "unfilled"


def test_a_bad_time_is_named_and_nothing_is_added(qtbot, booked: Booked, runner: Runner, centro: BranchSummary):
    dialog = _dialog(qtbot, booked, runner, centro, Clock())
    with qtbot.waitSignal(dialog.picker.patients_listed, timeout=10_000):
        qtbot.keyClicks(dialog.picker.search_edit, "maria")
    dialog.latest_edit.selectAll()
    qtbot.keyClicks(dialog.latest_edit, "06:30")
    with qtbot.waitSignal(dialog.message_shown, timeout=10_000) as shown, qtbot.assertNotEmitted(dialog.entry_added):
        qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert shown.args[0].startswith("latest: must be after the earliest time 07:00")
    assert waitlist.list_entries(booked.db, status=None) == []
