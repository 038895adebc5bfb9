"""Live refresh benchmark: from COMMIT in one process to another process's grid model holding it.

The reader is this process: a real ``MainWindow`` with a ``LiveSchedule`` on
the "Bench Grid" day (60 doctors, 1,500 appointments), the app's path exactly —
NOTIFY → listener thread → ``schedule_changed`` → ``LIVE_DEBOUNCE_MS`` debounce →
``load_day`` on the runner → ``model.set_day``. The writer is another process
(its own ``Database``): told "go", it books a free start on that day (or
cancels what it booked last: every other change), and answers with the
``time.monotonic()`` at which its ``COMMIT`` returned (CLOCK_MONOTONIC is one
clock for every process of the machine). The reader notes when its model first
holds the change (the appointment appears, or disappears), then asks for the
next one: changes are sequential, ``CHANGES`` of them.

Reported: end to end p50/p95 ms; its parts — commit to the notification on the
GUI thread, and notification to the model (which contains the debounce) —; and
end to end without the debounce (each sample minus ``LIVE_DEBOUNCE_MS``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

CHANGES = int(os.environ.get("CLINIC_BENCH_LIVE_CHANGES", "200"))

WRITER = r"""
import sys, time
from datetime import datetime, date
from reception_app.domain.errors import NotFound
from reception_app.runtime import tune_gc
from reception_app.services import scheduling
from reception_app.store.database import Database

url, day, now = sys.argv[1], date.fromisoformat(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
db = Database(url, pool_size=1)
tune_gc()
offer = scheduling.find_slots(db, branch="Bench Grid", service="Grid visit", local_date=day, now=now)[0]
doctor = offer.resources["doctor"]
last = None
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() != "go":
        break
    if last is not None:
        try:
            scheduling.cancel(db, last, reason="live bench", now=now)
            kind = "cancelled"
        except NotFound:  # another bench refilled the Bench Grid day meanwhile: book again instead
            last = None
    if last is None:
        last = scheduling.book(db, branch="Bench Grid", service="Grid visit", start=offer.start,
                               patient_id=1, now=now, doctor=doctor, reason="live bench").id
        kind = "booked"
    committed = time.monotonic()
    print(kind, last, repr(committed), flush=True)
    if kind == "cancelled":
        last = None
db.dispose()
"""


def bench_live_refresh(url: str, day: date, now_iso: str, changes: int = CHANGES) -> dict:
    """Run the benchmark against ``url`` (the bench dataset with its "Bench Grid" day ``day``)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from datetime import datetime

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from reception_app.store.database import Database
    from reception_app.ui.live import LiveSchedule
    from reception_app.ui.main_window import LIVE_DEBOUNCE_MS, MainWindow
    from reception_app.ui.runner import Runner

    from .run_all import pct

    app = QApplication.instance() or QApplication([])
    db = Database(url)
    runner = Runner()
    live = LiveSchedule(url)
    live.start()
    assert live.wait_listening(10)
    now = datetime.fromisoformat(now_iso)
    window = MainWindow(db, runner=runner, clock=lambda: now, day=day, branch="Bench Grid", refresh_ms=0,
                        database_label="bench", live=live)
    window.resize(1600, 1000)
    state: dict = {"want": None, "done_at": None, "notified_at": None}

    def holds_change() -> bool:
        view = window.model.day
        if view is None or state["want"] is None:
            return False
        kind, appointment_id = state["want"]
        present = any(a.id == appointment_id for a in view.appointments)
        return present if kind == "booked" else not present

    loop = QEventLoop()

    def on_day_loaded(_view: object) -> None:
        if state["want"] is None:  # the first load: nothing to look for yet
            loop.quit()
        elif state["done_at"] is None and holds_change():
            state["done_at"] = time.monotonic()
            loop.quit()

    def on_changed(_branch: int, _day: object) -> None:
        if state["notified_at"] is None:
            state["notified_at"] = time.monotonic()

    window.day_loaded.connect(on_day_loaded)
    live.schedule_changed.connect(on_changed)
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(loop.quit)
    window.show()
    guard.start(30_000)
    loop.exec()  # until the first day_loaded (or the guard)
    guard.stop()
    assert window.model.day is not None, "the bench day did not load"

    root = Path(__file__).resolve().parents[2]
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url, day.isoformat(), now_iso], cwd=root,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert writer.stdin is not None and writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    end_to_end: list[float] = []
    notify: list[float] = []
    reload: list[float] = []
    timeouts = 0
    for _ in range(changes):
        state.update(want=None, done_at=None, notified_at=None)
        writer.stdin.write("go\n")
        writer.stdin.flush()
        kind, appointment_id, committed = writer.stdout.readline().split()
        state["want"] = (kind, int(appointment_id))
        app.processEvents()
        if state["done_at"] is None and holds_change():
            state["done_at"] = time.monotonic()  # (only if an earlier reload happened to hold it)
        if state["done_at"] is None:
            guard.start(10_000)
            loop.exec()
            guard.stop()
        if state["done_at"] is None:
            timeouts += 1
            continue
        t_commit = float(committed)
        end_to_end.append((state["done_at"] - t_commit) * 1e3)
        if state["notified_at"] is not None:
            notify.append((state["notified_at"] - t_commit) * 1e3)
            reload.append((state["done_at"] - state["notified_at"]) * 1e3)
    writer.stdin.write("stop\n")
    writer.stdin.flush()
    writer.wait(30)
    window.close()
    runner.shutdown()
    live.stop()
    db.dispose()

    def stats(values: list[float]) -> dict:
        return {"p50": round(pct(values, .5), 1), "p95": round(pct(values, .95), 1)}

    return {"changes": changes, "measured": len(end_to_end), "timeouts": timeouts,
            "resources": window.model.columnCount(), "debounce_ms": LIVE_DEBOUNCE_MS,
            "end_to_end_ms": stats(end_to_end),
            "commit_to_notification_ms": stats(notify),
            "notification_to_model_ms": stats(reload),
            "end_to_end_without_debounce_ms": stats([x - LIVE_DEBOUNCE_MS for x in end_to_end]),
            "goal_p95_ms": 300}
