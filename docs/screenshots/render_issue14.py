"""Render what issue 14 changed in the window, from a throw-away embedded demo clinic.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/render_issue14.py [OUT_DIR]

Saves ``history_dialog.png`` (an appointment's History as a manager sees it,
after a receptionist booked, moved, took a deposit and cancelled it),
``patient_history.png`` (a patient record's History: an edit and consent
changes), ``patient_record.png`` (the record, with its "History…" button),
``booking_dialog.png`` (the booking dialog with the shared patient picker) and
``booking_patient_busy.png`` (the patient already has an appointment that day:
overlapping starts are left out and the dialog says why). Under a real X server
(``QT_QPA_PLATFORM=xcb``) it also prints the main window's title as the window
manager sees it (``xprop``), which is where Qt would have appended its
application display name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import demo_db as shots  # next to this script
from demo_db import DAY, NOW, demo_database
from psycopg.conninfo import make_conninfo
from PySide6.QtCore import QDate
from PySide6.QtWidgets import QApplication

from reception_app.services import patients, payments, scheduling
from reception_app.services.session import SessionInfo
from reception_app.services.users import add_user
from reception_app.store.database import Database
from reception_app.ui.app import configure_application
from reception_app.ui.main_window import MainWindow


def main(out: Path) -> None:
    """Render into ``out``."""
    db = demo_database()
    app = QApplication.instance() or QApplication([])
    configure_application(app)

    def wait_until(condition: Callable[[], bool], timeout_s: float = 30) -> None:
        shots.wait_until(app, condition, timeout_s)

    def settle() -> None:
        shots.settle(app)

    # Two people with their own logins: Rita at the desk, Marta the manager.
    for name, role in (("rita", "reception"), ("marta", "manager")):
        add_user(db, name, role)
    desk = Database(make_conninfo(db.conninfo, user="rita"))
    boss = Database(make_conninfo(db.conninfo, user="marta"))

    # Rita books an ultrasound for a patient on Thursday, moves it, takes a deposit, then cancels it.
    joana = patients.add_patient(desk, name="Joana Prado", birth_date="1990-09-09", phone="+5527999990042")
    thursday = DAY + timedelta(days=2)
    offers = scheduling.find_slots(desk, branch="Centro", service="Abdominal ultrasound", local_date=thursday,
                                   now=NOW)
    appt = scheduling.book(desk, branch="Centro", service="Abdominal ultrasound", start=offers[0].start,
                           patient_id=joana.id, now=NOW, reason="phoned in")
    scheduling.move(desk, appt.id, start=offers[-1].start, reason="patient asked for later", now=NOW)
    payments.record_payment(desk, appt.id, amount_cents=5000, method="card_terminal", reference="slip 4411",
                            reason="deposit at the desk")
    scheduling.cancel(desk, appt.id, reason="patient travelling", now=NOW)
    patients.update_patient(desk, joana.id, phone="+5527999990043", email="joana@example.com",
                            channels=["email"], reason="new number; e-mail only")

    session = SessionInfo(login="marta", role="manager", doctor_resource_id=None, doctor_name=None)
    window = MainWindow(boss, clock=lambda: NOW, day=DAY, branch="Centro",
                        database_label="Database: built-in (embedded PostgreSQL)", refresh_ms=0, session=session)
    window.resize(1400, 860)
    window.show()
    shots.wait_signal(window.day_loaded)
    wait_until(lambda: not window.runner.busy)
    settle()
    print("window title:", window.windowTitle())
    if os.environ.get("QT_QPA_PLATFORM") == "xcb" and os.environ.get("DISPLAY"):
        wid = int(window.winId())
        shown = subprocess.run(["xprop", "-id", str(wid), "_NET_WM_NAME", "WM_NAME"], capture_output=True,
                               text=True, check=False).stdout
        print("as the window manager sees it:", shown.strip().replace("\n", " | "))

    # The appointment's history, as the window opens it (branch-local times).
    from reception_app.ui.history_dialog import HistoryDialog

    tz = window._branch.tz  # the branch shown (Centro)
    dialog = HistoryDialog(boss, window.runner, table="appointment", row_id=appt.id,
                           about=f"Joana Prado, Abdominal ultrasound {appt.start.astimezone(tz):%a %d/%m/%Y %H:%M}",
                           tz=tz, zone_text="branch-local time (Centro, America/Sao_Paulo)", parent=window)
    dialog.open()
    shots.wait_signal(dialog.history_loaded)
    settle()
    dialog.grab().save(str(out / "history_dialog.png"))
    dialog.reject()

    record = window.open_patient(joana.id)
    assert record is not None
    shots.wait_signal(record.record_loaded)
    settle()
    record.grab().save(str(out / "patient_record.png"))
    history = record.open_history()
    shots.wait_signal(history.history_loaded)
    settle()
    history.grab().save(str(out / "patient_history.png"))
    history.reject()
    record.reject()

    # The booking dialog: the shared patient picker, and a patient who is booked that day already.
    booking = window.open_booking_dialog()
    assert booking is not None
    wait_until(lambda: booking.service_combo.count() > 0)
    booking.service_combo.setCurrentIndex(next(i for i, s in enumerate(booking.services)
                                               if s.name == "General consultation"))
    booking.date_edit.setDate(QDate(DAY.year, DAY.month, DAY.day))
    busy = next(a for a in scheduling.list_appointments(boss, branch="Centro", local_date=DAY)
                if a.start > NOW + timedelta(hours=1) and a.status == "confirmed"
                and a.service != "General consultation")
    booking.search_edit.setText(busy.patient)
    booking.search_now()
    wait_until(lambda: booking.patient_list.count() > 0)
    if booking.patient is None:
        booking.patient_list.setCurrentRow(0)
    wait_until(lambda: not window.runner.busy and booking.patient_day_label.isVisible()
               and booking.slot_tree.topLevelItemCount() > 0)
    settle()
    booking.grab().save(str(out / "booking_patient_busy.png"))
    print("patient day note:", booking.patient_day_label.text())
    booking.reject()

    booking = window.open_booking_dialog()
    assert booking is not None
    wait_until(lambda: booking.service_combo.count() > 0)
    booking.search_edit.setText("maria")
    booking.search_now()
    wait_until(lambda: booking.patient_list.count() > 0)
    booking.patient_list.setCurrentRow(0)
    booking.service_combo.setCurrentIndex(next(i for i, s in enumerate(booking.services)
                                               if s.name == "General consultation"))
    booking.date_edit.setDate(QDate(2027, 1, 8))
    wait_until(lambda: not window.runner.busy and booking.slot_tree.topLevelItemCount() > 5)
    booking.slot_tree.setCurrentItem(booking.slot_tree.topLevelItem(5))
    settle()
    booking.grab().save(str(out / "booking_dialog.png"))
    booking.reject()
    window.close()
    for d in (desk, boss, db):
        d.dispose()
    print("saved to", out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
