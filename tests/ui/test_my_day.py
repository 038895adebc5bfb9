"""The doctor's "my day" panel: rows, the next patient, waiting minutes that tick, row actions."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt
from sqlalchemy import text

from reception_app.services import scheduling
from reception_app.services.my_day import my_day
from reception_app.ui.my_day import COLUMNS, VISIBLE_COLUMNS, MyDayPanel

from .conftest import DAY, Booked, at


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def _ana(booked: Booked) -> int:
    return booked.db.read(lambda c: c.execute(text("SELECT id FROM resource WHERE name = 'Ana Souza'")).scalar_one())


def _day(booked: Booked, now):
    # João (09:00) checked in at 08:50.
    booked.db.write(lambda c: c.execute(text("UPDATE appointment SET checked_in_at = :w WHERE id = :i"),
                                        {"w": at(8, 50), "i": booked.second.id}))
    return my_day(booked.db, resource_id=_ana(booked), local_date=DAY, now=now)


def _panel(qtbot, clock, **kw) -> MyDayPanel:
    panel = MyDayPanel(clock=clock, **kw)
    qtbot.addWidget(panel)
    panel.show()
    return panel


def test_shows_the_day_highlights_the_next_patient_and_the_wait_ticks(qtbot, booked: Booked):
    clock = Clock(at(9, 5))
    panel = _panel(qtbot, clock, tick_ms=0)
    with qtbot.waitSignal(panel.day_shown):
        panel.set_day(_day(booked, clock.now))
    tree = panel.tree
    assert tree.topLevelItemCount() == 2  # the cancelled 10:00 is not listed
    maria, joao = tree.topLevelItem(0), tree.topLevelItem(1)
    assert [maria.text(i) for i in range(len(COLUMNS))] == [
        "08:00–08:30", "Maria Silva", "Confirmed", "", "Abdominal ultrasound", "Imaging 1", "", "First visit"]
    assert joao.text(2) == "Checked in" and joao.text(6) == "08:50" and joao.text(3) == "15 min"
    assert joao.font(1).bold() and not maria.font(1).bold()
    assert "João Pereira" in panel.next_label.text() and "waiting since 08:50" in panel.next_label.text()
    assert panel.counts_label.text().startswith("Arrived 1 · Waiting 1 · Done 0 · No-show 0")
    # 30 seconds later the timer recomputes from the clock alone; here by hand, an hour on.
    clock.now += timedelta(hours=1, minutes=2)
    panel.tick()
    assert panel.waiting_text(booked.second.id) == "1 h 17 min"
    for w in (panel, panel.tree, panel.next_label, *panel.action_buttons.values()):
        assert w.accessibleName()


def test_the_timer_ticks_without_reloading(qtbot, booked: Booked):
    clock = Clock(at(9, 5))
    panel = _panel(qtbot, clock, tick_ms=10)
    panel.set_day(_day(booked, clock.now))
    clock.now += timedelta(minutes=5)
    qtbot.waitUntil(lambda: panel.waiting_text(booked.second.id) == "20 min")


def test_row_actions_follow_the_status_by_mouse_and_keyboard(qtbot, booked: Booked):
    clock = Clock(at(9, 5))
    panel = _panel(qtbot, clock, tick_ms=0)
    panel.set_day(_day(booked, clock.now))
    assert not any(b.isEnabled() for b in panel.action_buttons.values())  # nothing selected
    assert panel.select_appointment(booked.first.id)  # Maria, confirmed
    enabled = {k for k, b in panel.action_buttons.items() if b.isEnabled()}
    assert enabled == {"check_in", "no_show"}
    with qtbot.waitSignal(panel.no_show_requested) as asked:
        qtbot.mouseClick(panel.action_buttons["no_show"], Qt.MouseButton.LeftButton)
    assert asked.args[0].appointment_id == booked.first.id
    # Enter on João (checked in) asks to start him.
    panel.tree.setFocus()
    qtbot.keyClick(panel.tree, Qt.Key.Key_Down)
    assert panel.selected_row().appointment_id == booked.second.id
    assert {k for k, b in panel.action_buttons.items() if b.isEnabled()} == {"start", "complete"}
    with qtbot.waitSignal(panel.start_requested) as started, qtbot.assertNotEmitted(panel.check_in_requested):
        qtbot.keyClick(panel.tree, Qt.Key.Key_Return)
    assert started.args[0].patient == "João Pereira"


def test_a_reload_keeps_the_selection_and_moves_the_highlight(qtbot, booked: Booked):
    clock = Clock(at(9, 5))
    panel = _panel(qtbot, clock, tick_ms=0)
    panel.set_day(_day(booked, clock.now))
    panel.select_appointment(booked.first.id)
    scheduling.set_status(booked.db, booked.second.id, "in_progress")
    panel.set_day(my_day(booked.db, resource_id=_ana(booked), local_date=DAY, now=clock.now))
    assert panel.selected_row().appointment_id == booked.first.id
    assert panel.waiting_text(booked.second.id) == ""
    # Nobody waits; Maria's 08:00-08:30 is over, so nobody confirmed is still expected.
    assert panel.day.next_patient is None and "No patient" in panel.next_label.text()


def test_an_empty_day(qtbot, booked: Booked):
    panel = _panel(qtbot, Clock(at(9)), tick_ms=0)
    panel.set_day(my_day(booked.db, resource_id=_ana(booked), local_date=DAY + timedelta(days=2), now=at(9)))
    assert panel.tree.topLevelItemCount() == 0 and "No appointments" in panel.next_label.text()


def test_time_patient_status_and_waiting_are_in_sight_at_the_minimum_width(qtbot, booked: Booked):
    clock = Clock(at(10, 7))  # João waiting 1 h 17 min
    panel = _panel(qtbot, clock, tick_ms=0)
    panel.resize(panel.minimumWidth(), 400)
    with qtbot.waitSignal(panel.day_shown):
        panel.set_day(_day(booked, clock.now))
    qtbot.waitUntil(lambda: panel.tree.viewport().width() < panel.minimumWidth())
    assert panel.waiting_text(booked.second.id) == "1 h 17 min"
    header, width = panel.tree.header(), panel.tree.viewport().width()
    for name in VISIBLE_COLUMNS:
        column = COLUMNS.index(name)
        assert header.sectionViewportPosition(column) + header.sectionSize(column) <= width, name
    # The rest is there by scrolling sideways.
    assert header.length() > width and panel.tree.horizontalScrollBar().maximum() > 0
