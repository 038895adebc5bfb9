"""Live refresh: a change committed elsewhere appears on an open grid by itself (LISTEN/NOTIFY)."""

from __future__ import annotations

import threading

from reception_app.services import scheduling
from reception_app.store.database import Database
from reception_app.ui.day_model import APPOINTMENT_ROLE
from reception_app.ui.live import LiveSchedule
from reception_app.ui.main_window import MainWindow
from reception_app.ui.runner import Runner

from .conftest import DAY, NOW, Booked, at


def _shown_ids(window: MainWindow) -> set[int]:
    m = window.model
    cells = [m.index(r, c).data(APPOINTMENT_ROLE) for r in range(m.rowCount()) for c in range(m.columnCount())]
    return {a.id for a in cells if a is not None}


def test_another_workstations_booking_appears_without_any_action(qtbot, booked: Booked, runner: Runner) -> None:
    live = LiveSchedule(booked.db.conninfo)
    live.start()
    try:
        assert live.wait_listening(10)
        window = MainWindow(booked.db, runner=runner, clock=lambda: NOW, refresh_ms=0, day=DAY, branch="Centro",
                            database_label="Database: test", live=live)
        qtbot.addWidget(window)
        with qtbot.waitSignal(window.day_loaded, timeout=10_000):
            window.show()
        assert booked.first.id in _shown_ids(window)

        # "Another workstation": its own Database, its own thread, no call into this window.
        other_db = Database(booked.db.conninfo)
        made: list[scheduling.AppointmentView] = []
        worker = threading.Thread(target=lambda: made.append(scheduling.book(
            other_db, branch="Centro", service="Abdominal ultrasound", start=at(11), patient_id=booked.ana_clara,
            now=NOW)))
        with qtbot.waitSignal(live.schedule_changed, timeout=10_000) as changed, \
                qtbot.waitSignal(window.day_loaded, timeout=10_000):
            worker.start()
        worker.join(10)
        assert changed.args[1] == DAY
        assert made and made[0].id in _shown_ids(window)

        # A change to another day does not reload this one.
        with qtbot.assertNotEmitted(window.day_loaded, wait=600):
            scheduling.book(other_db, branch="Centro", service="Abdominal ultrasound", start=at(11, day=DAY.replace(
                day=5)), patient_id=booked.maria, now=NOW)
        other_db.dispose()
    finally:
        live.stop()


_WRITER = """
import sys
from datetime import datetime
from reception_app.services import scheduling
from reception_app.store.database import Database
db = Database(sys.argv[1], pool=False)
made = scheduling.book(db, branch="Centro", service="Abdominal ultrasound", start=datetime.fromisoformat(sys.argv[2]),
                       patient_id=int(sys.argv[3]), now=datetime.fromisoformat(sys.argv[4]))
print(made.id)
"""


def test_a_booking_from_another_process_appears_and_a_change_missed_while_disconnected_too(
        qtbot, booked: Booked, runner: Runner) -> None:
    """Two real clients: the writer is another process with its own connection. Then the listener's
    connection is killed on the server; a change committed before it is back is shown after it is."""
    import subprocess
    import sys

    import psycopg

    live = LiveSchedule(booked.db.conninfo, max_backoff_s=0.5)
    live.start()
    try:
        assert live.wait_listening(10)
        window = MainWindow(booked.db, runner=runner, clock=lambda: NOW, refresh_ms=0, day=DAY, branch="Centro",
                            database_label="Database: test", live=live)
        qtbot.addWidget(window)
        with qtbot.waitSignal(window.day_loaded, timeout=10_000):
            window.show()

        writer = subprocess.Popen([sys.executable, "-c", _WRITER, booked.db.conninfo, at(11).isoformat(),
                                   str(booked.ana_clara), NOW.isoformat()], stdout=subprocess.PIPE, text=True)
        with qtbot.waitSignal(live.schedule_changed, timeout=30_000), \
                qtbot.waitSignal(window.day_loaded, timeout=30_000):
            pass
        out, _ = writer.communicate(timeout=30)
        assert writer.returncode == 0
        qtbot.waitUntil(lambda: int(out) in _shown_ids(window), timeout=10_000)

        # The listener's connection dies (server side); a change lands while it is away.
        with psycopg.connect(booked.db.conninfo, autocommit=True) as admin:
            with qtbot.waitSignal(live.disconnected, timeout=10_000):
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = 'clinic-listen' AND datname = current_database()")
        missed = scheduling.book(booked.db, branch="Centro", service="Abdominal ultrasound", start=at(10),
                                 patient_id=booked.joao, now=NOW)
        with qtbot.waitSignal(live.reconnected, timeout=10_000), \
                qtbot.waitSignal(window.day_loaded, timeout=10_000):
            pass
        assert missed.id in _shown_ids(window)
    finally:
        live.stop()
