"""The background runner: work off the GUI thread, outcomes back on it, errors sorted."""

from __future__ import annotations

import logging
import threading

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from reception_app.domain.errors import SlotTaken
from reception_app.ui.runner import Runner


@pytest.fixture
def bare_runner(qtbot) -> Runner:
    r = Runner(log_path="/var/log/clinic.log")
    yield r
    r.shutdown()


def test_work_runs_on_a_worker_and_the_result_arrives_on_the_gui_thread(qtbot, bare_runner: Runner) -> None:
    seen: dict[str, object] = {}
    gui = QApplication.instance().thread()

    def work() -> int:
        seen["work_thread"] = threading.current_thread()
        return 42

    def done(result: int) -> None:
        seen["result"] = result
        seen["callback_on_gui"] = QThread.currentThread() is gui or QThread.currentThread() == gui

    with qtbot.waitSignal(bare_runner.busy_changed, check_params_cb=lambda busy: busy is False):
        bare_runner.run(work, on_success=done)
        assert bare_runner.busy
    assert seen["result"] == 42
    assert seen["work_thread"] is not threading.main_thread()
    assert seen["callback_on_gui"]


def test_expected_errors_go_to_on_failure_or_the_failed_signal(qtbot, bare_runner: Runner) -> None:
    def work() -> None:
        raise SlotTaken("Imaging 1 is already booked at 08:00.")

    got: list[str] = []
    with qtbot.assertNotEmitted(bare_runner.crashed), qtbot.assertNotEmitted(bare_runner.failed):
        bare_runner.run(work, on_failure=lambda e: got.append(str(e)), on_finished=lambda: got.append("end"))
        qtbot.waitUntil(lambda: not bare_runner.busy)
    assert got == ["Imaging 1 is already booked at 08:00.", "end"]
    with qtbot.waitSignal(bare_runner.failed) as blocker:
        bare_runner.run(work)
    assert blocker.args == ["Imaging 1 is already booked at 08:00."]


def test_unexpected_errors_are_logged_and_reported_without_a_traceback(qtbot, bare_runner: Runner,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    def work() -> None:
        raise KeyError("bug")

    finished: list[bool] = []
    with caplog.at_level(logging.ERROR), qtbot.waitSignal(bare_runner.crashed) as blocker:
        bare_runner.run(work, on_success=lambda _r: finished.append(False), on_finished=lambda: finished.append(True),
                        label="buggy")
    assert blocker.args == ["Something went wrong; details are in the log file /var/log/clinic.log."]
    assert "Traceback" not in blocker.args[0]
    record = next(r for r in caplog.records if "buggy" in r.getMessage())
    assert record.exc_info and record.exc_info[0] is KeyError
    qtbot.waitUntil(lambda: finished == [True])


def test_a_newer_operation_with_the_same_key_supersedes_an_older_one(qtbot, bare_runner: Runner) -> None:
    gate = threading.Event()
    got: list[str] = []
    bare_runner.run(lambda: gate.wait(10) and "old", on_success=got.append, key="day")
    bare_runner.run(lambda: "new", on_success=got.append, key="day")
    qtbot.waitUntil(lambda: got == ["new"])
    gate.set()
    qtbot.waitUntil(lambda: not bare_runner.busy)
    assert got == ["new"]


def test_discard_drops_pending_outcomes(qtbot, bare_runner: Runner) -> None:
    gate = threading.Event()
    got: list[str] = []
    bare_runner.run(lambda: gate.wait(10) and "late", on_success=got.append, key="search")
    bare_runner.discard("search")
    gate.set()
    qtbot.waitUntil(lambda: not bare_runner.busy)
    assert got == []


def test_no_work_after_shutdown(bare_runner: Runner) -> None:
    bare_runner.shutdown()
    with pytest.raises(RuntimeError):
        bare_runner.run(lambda: None)
