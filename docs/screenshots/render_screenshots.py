"""Render the screenshots in this folder from a throw-away embedded demo clinic.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/render_screenshots.py [OUT_DIR]

Starts an embedded PostgreSQL in a temporary directory (deleted afterwards),
migrates it, loads the demo clinic for 4-7 January 2027, gives some
appointments other statuses, and saves the main window (all resources and
doctors only), the week view, a block being dragged, a doctor's own day (the
window as a signed-in doctor sees it), a patient's record and the booking
dialog with free starts listed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtCore import QDate, QEventLoop, QPoint, Qt, QTimer, SignalInstance
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from sqlalchemy import text

from reception_app.services import scheduling
from reception_app.services.demo import load_demo
from reception_app.services.session import SessionInfo
from reception_app.store import migrate
from reception_app.store.database import Database
from reception_app.store.embedded import start_embedded
from reception_app.ui.app import configure_application
from reception_app.ui.main_window import MainWindow

NOW = datetime(2027, 1, 5, 13, 20, tzinfo=UTC)  # Tuesday 10:20 in Centro (America/Sao_Paulo)
DAY = date(2027, 1, 5)


def _demo_database() -> Database:
    url = start_embedded(Path(tempfile.mkdtemp(prefix="clinic-shots-")) / "pg", cleanup="delete")
    db = Database(url)
    migrate.upgrade(db)
    print(load_demo(db, now=datetime(2027, 1, 4, 9, tzinfo=UTC), days=4))
    day = scheduling.list_appointments(db, branch="Centro", local_date=DAY)
    steps = {0: ["checked_in", "in_progress", "completed"], 1: ["no_show"], 2: ["checked_in", "in_progress"],
             3: ["checked_in"], 4: ["checked_in", "completed"]}
    for i, a in enumerate(a for a in day if a.start < NOW):
        for status in steps[i % 5]:
            scheduling.set_status(db, a.id, status)
    for a in [a for a in day if a.start > NOW][::7]:
        scheduling.set_status(db, a.id, "payment_pending")
    for service, status in (("Physiotherapy session", "requested"), ("General consultation", "held"),
                            ("Abdominal ultrasound", "requested")):
        offers = scheduling.find_slots(db, branch="Centro", service=service, local_date=DAY, now=NOW)
        if offers:
            scheduling.book(db, branch="Centro", service=service, start=offers[len(offers) // 2].start,
                            patient_id=7, now=NOW, status=status)
    return db


def main(out: Path) -> None:
    """Render into ``out``."""
    db = _demo_database()
    app = QApplication.instance() or QApplication([])
    configure_application(app)

    def wait(signal: SignalInstance, timeout_ms: int = 30_000) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()

    def wait_until(condition: Callable[[], bool], timeout_s: float = 30) -> None:
        end = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < end:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

    def settle() -> None:  # let pending layout and paint events run before grabbing
        for _ in range(5):
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

    window = MainWindow(db, clock=lambda: NOW, day=DAY, branch="Centro",
                        database_label="Database: built-in (embedded PostgreSQL)", refresh_ms=0)
    window.resize(1400, 860)
    window.show()
    wait(window.day_loaded)
    wait_until(lambda: not window.runner.busy)
    settle()
    window.grab().save(str(out / "main_window.png"))
    window.set_resource_set("doctor")
    settle()
    window.grab().save(str(out / "main_window_doctors.png"))

    # A drag in progress: press on a booked block, move two rows down and one column over; grab before release.
    grid, model = window.grid, window.model
    appt = next(a for a in model.day.appointments if a.start > NOW and a.status == "confirmed")
    col = next(c for c, r in enumerate(model.columns) if r.id == appt.resource_ids["doctor"])
    row = model.row_of(appt.start)
    grid.scrollTo(model.index(row, col))
    settle()
    viewport = grid.viewport()

    def centre(r: int, c: int) -> QPoint:
        return QPoint(grid.columnViewportPosition(c) + grid.columnWidth(c) // 2,
                      grid.rowViewportPosition(r) + grid.rowHeight(r) // 2)

    target_col = next(c for c, r in enumerate(model.columns) if r.kind == "doctor" and c != col)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre(row, col))
    QTest.mouseMove(viewport, centre(row + 2, (col + target_col) // 2))
    QTest.mouseMove(viewport, centre(row + 4, target_col))
    settle()
    window.grab().save(str(out / "drag_in_progress.png"))
    grid.cancel_drag()
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre(row + 4, target_col))
    settle()
    window.set_resource_set("all")

    window.set_mode("week")
    wait(window.week_loaded)
    wait_until(lambda: not window.runner.busy)
    window.set_resource_set("doctor")
    settle()
    window.grab().save(str(out / "week_view.png"))
    window.set_resource_set("all")
    window.set_mode("day")
    wait(window.day_loaded)
    wait_until(lambda: not window.runner.busy)

    patient_id = appt.patient_id
    record = window.open_patient(patient_id)
    assert record is not None
    wait(record.record_loaded)
    settle()
    record.grab().save(str(out / "patient_record.png"))
    record.reject()

    dialog = window.open_booking_dialog()
    assert dialog is not None
    wait_until(lambda: dialog.service_combo.count() > 0)
    dialog.search_edit.setText("maria")
    dialog.search_now()
    wait_until(lambda: dialog.patient_list.count() > 0)
    dialog.patient_list.setCurrentRow(0)
    dialog.service_combo.setCurrentIndex(next(i for i, s in enumerate(dialog.services)
                                              if s.name == "General consultation"))
    dialog.date_edit.setDate(QDate(2027, 1, 8))
    wait_until(lambda: not window.runner.busy and dialog.slot_tree.topLevelItemCount() > 0)
    dialog.slot_tree.setCurrentItem(dialog.slot_tree.topLevelItem(5))
    settle()
    dialog.grab().save(str(out / "booking_dialog.png"))
    dialog.reject()
    window.close()

    # The doctor's own day: the window as Dra. Carla Mendes sees it after signing in.
    doctor = db.read(lambda c: c.execute(text("SELECT id, name FROM resource WHERE name = 'Dra. Carla Mendes'")).one())
    session = SessionInfo(login="carla", role="doctor", doctor_resource_id=doctor.id, doctor_name=doctor.name)
    mine = MainWindow(db, clock=lambda: NOW, day=DAY, branch="Centro",
                      database_label="Database: server clinic-db/clinic (settings)", refresh_ms=0, session=session)
    mine.resize(1400, 860)
    mine.show()
    wait(mine.day_loaded)
    wait_until(lambda: not mine.runner.busy)
    mine.set_resource_set("doctor")
    settle()
    mine.grab().save(str(out / "doctor_day.png"))
    mine.close()  # each window owns its runner: closing waits for its work
    db.dispose()
    print("saved to", out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
