"""The throw-away demo clinic the screenshot scripts render (``render_screenshots.py``,
``render_day_sheet.py``): an embedded PostgreSQL in a temporary directory (deleted at exit),
migrated, with the demo clinic for 4-7 January 2027 and the morning's appointments of Tuesday
5 January moved on to other statuses."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import text

from reception_app.domain.status import UNCONFIRMED
from reception_app.services import scheduling
from reception_app.services.demo import load_demo
from reception_app.store import migrate
from reception_app.store.database import Database
from reception_app.store.embedded import start_embedded

NOW = datetime(2027, 1, 5, 13, 20, tzinfo=UTC)  # Tuesday 10:20 in Centro (America/Sao_Paulo)
DAY = date(2027, 1, 5)


def demo_database(*, requests: bool = False) -> Database:
    """The demo clinic on a new embedded server: before ``NOW`` on ``DAY`` at Centro the
    appointments are checked in, in progress, completed or no-shows; after it every seventh
    awaits payment. ``requests``: also book a requested and a held appointment that day."""
    url = start_embedded(Path(tempfile.mkdtemp(prefix="clinic-shots-")) / "pg", cleanup="delete")
    db = Database(url)
    migrate.upgrade(db)
    print(load_demo(db, now=datetime(2027, 1, 4, 9, tzinfo=UTC), days=4))
    day = scheduling.list_appointments(db, branch="Centro", local_date=DAY)
    steps = {0: ["checked_in", "in_progress", "completed"], 1: ["no_show"], 2: ["checked_in", "in_progress"],
             3: ["checked_in"], 4: ["checked_in", "completed"]}
    for i, a in enumerate(a for a in day if a.start < NOW):
        # The demo books physiotherapy as requested and the ECG awaiting its deposit: confirmed by now.
        for status in (["confirmed"] if a.status in UNCONFIRMED else []) + steps[i % 5]:
            scheduling.set_status(db, a.id, status)
    for a in [a for a in day if a.start > NOW][::7]:
        if a.status != "payment_pending":
            scheduling.set_status(db, a.id, "payment_pending")
    # The server stamps check-ins with its own clock: put them five minutes before the start instead.
    db.write(lambda c: c.execute(text("UPDATE appointment SET checked_in_at = starts_at - interval '5 minutes'"
                                      " WHERE checked_in_at IS NOT NULL")), reason="demo check-in times")
    if requests:
        for service, status in (("Physiotherapy session", "requested"), ("General consultation", "held"),
                                ("Abdominal ultrasound", "requested")):
            offers = scheduling.find_slots(db, branch="Centro", service=service, local_date=DAY, now=NOW)
            if offers:
                scheduling.book(db, branch="Centro", service=service, start=offers[len(offers) // 2].start,
                                patient_id=7, now=NOW, status=status)
    return db


# -- waiting for the GUI in the screenshot scripts (no pytest-qt there) ---------------------------
def wait_signal(signal: Any, timeout_ms: int = 30_000) -> None:
    """Run the event loop until ``signal`` fires or ``timeout_ms`` passes."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def wait_until(app: Any, condition: Callable[[], bool], timeout_s: float = 30) -> bool:
    """Process events until ``condition()`` holds (True) or ``timeout_s`` seconds pass (False)."""
    from PySide6.QtCore import QEventLoop

    end = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    return bool(condition())


def settle(app: Any, rounds: int = 5) -> None:
    """Let pending layout and paint events run (before grabbing a widget)."""
    from PySide6.QtCore import QEventLoop

    for _ in range(rounds):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
