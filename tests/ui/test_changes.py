"""The one change signal: ``Changes`` values, the bus, ``Runner.change``, the live feed, the dialog manager."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import psycopg
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QWidget

from reception_app.domain.errors import ClinicError
from reception_app.services import scheduling
from reception_app.ui.changes import LIVE, ChangeBus, Changes
from reception_app.ui.dialog_manager import DialogManager, geometry_key
from reception_app.ui.live import LiveFeed, LiveSchedule
from reception_app.ui.runner import Runner

from .conftest import DAY, NOW, Booked, at, make_window

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
WEEK = [DAY + timedelta(days=i) for i in range(7)]


# -- the value ----------------------------------------------------------------------------------------
def test_a_day_touches_only_its_branch_and_date() -> None:
    c = Changes.of_day(1, DAY)
    assert c.touches(1, [DAY]) and c.touches(1, WEEK)
    assert not c.touches(1, [DAY + timedelta(days=1)])
    assert not c.touches(2, [DAY])
    assert c.days_of(1) == {DAY} and c.days_of(2) == frozenset()
    assert c.branch_ids == {1}


def test_branch_wide_rosters_and_everything_touch_any_day() -> None:
    assert Changes.of_branch(1).touches(1, [date(2030, 1, 1)])
    assert not Changes.of_branch(1).touches(2, [DAY])
    assert Changes(rosters=True).touches(5, [DAY]) and Changes(rosters=True).days_of(5) is None
    assert Changes.all().touches(9, [DAY]) and Changes.all().touches_resource(3)
    assert Changes(patients=frozenset({4})).touches(1, [DAY])  # unlocated: anywhere


def test_an_appointment_names_its_local_day_resources_and_id(booked: Booked) -> None:
    first = booked.first
    c = Changes.of_appointments([first], lambda _b: SAO_PAULO)
    assert c.days == {(first.branch_id, DAY)}
    assert c.resources == set(first.resource_ids.values()) and c.appointments == {first.id}
    assert c.touches_resource(first.resource_ids["doctor"]) and not c.touches_resource(-1)
    # A zone not known: the whole branch, any day.
    assert Changes.of_appointments([first], lambda _b: None).branches == {first.branch_id}


def test_merging_unions_every_field_and_keeps_live() -> None:
    merged = Changes.of_day(1, DAY) | Changes(rosters=True, origin=LIVE) | Changes.of_branch(2)
    assert merged.days == {(1, DAY)} and merged.branches == {2} and merged.rosters
    assert merged.origin == LIVE
    assert merged == Changes(days=frozenset({(1, DAY)}), branches=frozenset({2}), rosters=True)  # origin aside
    assert Changes().empty and not merged.empty


def test_the_bus_carries_changes_only_and_drops_empty_ones(qtbot) -> None:
    bus = ChangeBus()
    got: list[Changes] = []
    bus.changed.connect(got.append)
    bus.publish(Changes())
    bus.publish(Changes.of_day(1, DAY))
    assert got == [Changes.of_day(1, DAY)]
    try:
        bus.publish("reload")  # type: ignore[arg-type]
    except TypeError as exc:
        assert "Changes" in str(exc)
    else:
        raise AssertionError("a string went on the bus")


# -- Runner.change --------------------------------------------------------------------------------------
def test_a_write_publishes_its_changes_once_after_on_success(qtbot, runner: Runner) -> None:
    events: list[object] = []
    runner.changes.changed.connect(lambda c: events.append(c))
    with qtbot.waitSignal(runner.changes.changed, timeout=5_000):
        runner.change(lambda: 7, changes=lambda n: Changes.of_branch(n), on_success=lambda n: events.append(n),
                      on_finished=lambda: events.append("finished"))
    qtbot.waitUntil(lambda: "finished" in events, timeout=5_000)
    assert events == [7, Changes.of_branch(7), "finished"]


def test_a_declared_or_returned_changes_is_published_and_a_failure_publishes_nothing(qtbot, runner: Runner) -> None:
    got: list[Changes] = []
    runner.changes.changed.connect(got.append)
    with qtbot.waitSignal(runner.changes.changed, timeout=5_000):
        runner.change(lambda: None, changes=Changes(rosters=True))
    with qtbot.waitSignal(runner.changes.changed, timeout=5_000):
        runner.change(lambda: Changes.of_day(3, DAY))
    failures: list[ClinicError] = []

    def fail() -> None:
        raise ClinicError("slot taken")
    runner.change(fail, changes=Changes.all(), on_failure=failures.append)
    qtbot.waitUntil(lambda: bool(failures), timeout=5_000)
    assert got == [Changes(rosters=True), Changes.of_day(3, DAY)]
    # The read API delivers like run().
    answers: list[int] = []
    runner.query(lambda: 41 + 1, on_success=answers.append)
    qtbot.waitUntil(lambda: answers == [42], timeout=5_000)


# -- the window on the bus ------------------------------------------------------------------------------
def test_the_grid_reloads_only_for_changes_that_touch_what_it_shows(qtbot, booked: Booked, runner: Runner) -> None:
    window = make_window(qtbot, booked.db, runner)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.show()
    qtbot.waitUntil(lambda: not runner.busy, timeout=10_000)
    branch = window.branch.id
    with qtbot.assertNotEmitted(window.day_loaded, wait=300):
        runner.changes.publish(Changes.of_day(branch, DAY + timedelta(days=1)))
        runner.changes.publish(Changes.of_day(branch + 100, DAY))
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        runner.changes.publish(Changes.of_day(branch, DAY))
    window.set_mode("week")
    qtbot.waitUntil(lambda: window.week_model.week is not None and not runner.busy, timeout=10_000)
    with qtbot.waitSignal(window.week_loaded, timeout=10_000):
        runner.changes.publish(Changes.of_day(branch, DAY + timedelta(days=4)))  # Friday of the week shown
    with qtbot.waitSignal(window.week_loaded, timeout=10_000):
        runner.changes.publish(Changes(rosters=True))
    window.close()


def test_a_status_change_from_the_window_publishes_its_appointment(qtbot, booked: Booked, runner: Runner) -> None:
    from .conftest import select_block

    window = make_window(qtbot, booked.db, runner)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.show()
    qtbot.waitUntil(lambda: not runner.busy, timeout=10_000)
    select_block(window, booked.first)
    with qtbot.waitSignal(runner.changes.changed, timeout=10_000) as published, \
            qtbot.waitSignal(window.day_loaded, timeout=10_000):
        window.status_actions["check_in"].trigger()
    changes: Changes = published.args[0]
    assert changes.appointments == {booked.first.id} and changes.days == {(booked.first.branch_id, DAY)}
    shown = {a.id: a.status for a in window.model.day.appointments}
    assert shown[booked.first.id] == "checked_in"
    window.close()


# -- live: notifications become one Changes per burst ------------------------------------------------------
def test_a_roster_notification_becomes_a_rosters_change(qtbot, booked: Booked) -> None:
    live = LiveSchedule(booked.db.conninfo)
    bus = ChangeBus()
    feed = LiveFeed(live, bus, debounce_ms=20)
    live.start()
    try:
        assert live.wait_listening(10)
        with qtbot.waitSignal(bus.changed, timeout=10_000) as published, psycopg.connect(
                booked.db.conninfo, autocommit=True) as conn:
            conn.execute("DELETE FROM holiday WHERE false")  # the statement trigger fires for no rows too
        assert published.args[0] == Changes(rosters=True) and published.args[0].origin == LIVE
    finally:
        feed.stop()
        live.stop()


def test_a_burst_of_notifications_is_published_once(qtbot, booked: Booked) -> None:
    live = LiveSchedule(booked.db.conninfo)
    bus = ChangeBus()
    LiveFeed(live, bus, debounce_ms=200, parent=bus)
    got: list[Changes] = []
    bus.changed.connect(got.append)
    live.start()
    try:
        assert live.wait_listening(10)
        with qtbot.waitSignal(bus.changed, timeout=10_000):
            scheduling.book(booked.db, branch="Centro", service="Abdominal ultrasound", start=at(11),
                            patient_id=booked.ana_clara, now=NOW)
            scheduling.book(booked.db, branch="Centro", service="Abdominal ultrasound",
                            start=at(11, day=DAY + timedelta(days=1)), patient_id=booked.maria, now=NOW)
        qtbot.wait(300)
        assert len(got) == 1
        assert got[0].days == {(booked.first.branch_id, DAY), (booked.first.branch_id, DAY + timedelta(days=1))}
    finally:
        live.stop()


# -- the dialog manager ----------------------------------------------------------------------------------------
def test_a_dialog_opens_once_and_comes_back_where_it_was(qtbot, tmp_path) -> None:
    settings = QSettings(str(tmp_path / "dialogs.ini"), QSettings.Format.IniFormat)
    parent = QWidget()
    qtbot.addWidget(parent)
    manager = DialogManager(parent, settings)
    made: list[QDialog] = []

    def make() -> QDialog:
        made.append(QDialog(parent))
        return made[-1]
    opened: list[object] = []
    manager.opened.connect(opened.append)
    first = manager.open("history/1", make)
    assert manager.open("history/1", make) is first and len(made) == 1 and opened == [first]
    assert manager.windows == [first]
    first.resize(432, 321)
    first.reject()  # closed: deleted (WA_DeleteOnClose), its place remembered
    qtbot.waitUntil(lambda: manager.windows == [], timeout=5_000)
    assert settings.contains(geometry_key("history/1"))
    again = manager.open("history/2", make)  # the same kind: the size last seen
    assert len(made) == 2 and again.size().width() == 432 and again.size().height() == 321
    again.close()
