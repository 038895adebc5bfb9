"""Render the screenshots in this folder from a throw-away embedded demo clinic.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/render_screenshots.py [OUT_DIR]
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/render_screenshots.py --2x [OUT_DIR]

Starts an embedded PostgreSQL in a temporary directory (deleted afterwards),
migrates it, loads the demo clinic for 4-7 January 2027, gives some
appointments other statuses, and saves the main window (all resources and
doctors only), the week view, a block being dragged, a doctor's own day (the
window as a signed-in doctor sees it), a patient's record and the booking
dialog with free starts listed. With ``--2x`` it renders only the main window at
200 % (``QT_SCALE_FACTOR=2``) on a full-HD screen, 960 × 540 logical pixels
(``main_window_2x.png``): what a user who needs large text sees.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import demo_db as shots  # next to this script
from demo_db import DAY, NOW, demo_database
from PySide6.QtCore import QDate, QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from sqlalchemy import text

from reception_app.services.session import SessionInfo
from reception_app.ui.app import configure_application
from reception_app.ui.main_window import MainWindow


def main(out: Path, *, large: bool = False) -> None:
    """Render into ``out``; ``large``: only the main window at 200 % (``main_window_2x.png``)."""
    if large:
        os.environ["QT_SCALE_FACTOR"] = "2"  # read when the application starts
    db = demo_database(requests=True)
    app = QApplication.instance() or QApplication([])
    configure_application(app)

    def wait_until(condition: Callable[[], bool], timeout_s: float = 30) -> None:
        shots.wait_until(app, condition, timeout_s)

    def settle() -> None:  # let pending layout and paint events run before grabbing
        shots.settle(app)

    window = MainWindow(db, clock=lambda: NOW, day=DAY, branch="Centro",
                        database_label="Database: built-in (embedded PostgreSQL)", refresh_ms=0)
    window.resize(960, 540) if large else window.resize(1400, 860)
    window.show()
    shots.wait_signal(window.day_loaded)
    wait_until(lambda: not window.runner.busy)
    settle()
    if large:
        window.grab().save(str(out / "main_window_2x.png"))
        window.close()
        db.dispose()
        print("saved to", out)
        return
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
    shots.wait_signal(window.week_loaded)
    wait_until(lambda: not window.runner.busy)
    window.set_resource_set("doctor")
    settle()
    window.grab().save(str(out / "week_view.png"))
    window.set_resource_set("all")
    window.set_mode("day")
    shots.wait_signal(window.day_loaded)
    wait_until(lambda: not window.runner.busy)

    patient_id = appt.patient_id
    record = window.open_patient(patient_id)
    assert record is not None
    shots.wait_signal(record.record_loaded)
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
    shots.wait_signal(mine.day_loaded)
    wait_until(lambda: not mine.runner.busy)
    mine.set_resource_set("doctor")
    settle()
    mine.grab().save(str(out / "doctor_day.png"))
    mine.close()  # each window owns its runner: closing waits for its work
    db.dispose()
    print("saved to", out)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--2x"]
    main(Path(args[0]) if args else Path(__file__).parent, large="--2x" in sys.argv[1:])
