"""Render the dialogs of the booking lifecycle from a throw-away embedded demo clinic.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/render_lifecycle.py [OUT_DIR]

Builds the demo clinic of ``demo_db.py`` (4-7 January 2027, the clock at Tuesday
5 January 10:20 in Centro) and adds, through the services: a held appointment, an
ECG awaiting its deposit with part of it paid, a waitlist of three patients with one
open offer after a cancellation, a weekly physiotherapy series with one date taken,
a forced booking outside a doctor's shift and a forced change of doctor (two rows of
the overrides log). Then it saves, in a realistic state: the payment dialog, the
waitlist, the roster dialog and the confirmation of a change that strands two
patients, the series dialog with its conflict, a visit of three parts, the force
booking dialog, the overrides log and the main window with a hold drawn dashed.

Times the server stamps with its own clock (a payment's ``taken_at``, a waitlist
entry's ``created_at``, a hold's expiry, the log's ``at``) are moved to just before
the demo's ``NOW`` so the pictures do not depend on the day they are rendered.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import demo_db as shots  # next to this script
from demo_db import DAY, NOW, demo_database
from PySide6.QtCore import QDate, QTime
from PySide6.QtWidgets import QApplication, QWidget
from sqlalchemy import text

from reception_app.domain.errors import SlotTaken
from reception_app.services import overrides, payments, rosters, scheduling, waitlist
from reception_app.services.dayview import list_branches
from reception_app.store.database import Database
from reception_app.ui.app import configure_application
from reception_app.ui.main_window import MainWindow
from reception_app.ui.override_dialogs import ForceBookingDialog, OverridesLogWindow
from reception_app.ui.payment_dialog import PaymentDialog
from reception_app.ui.roster_dialog import RosterDialog
from reception_app.ui.runner import Runner
from reception_app.ui.series_dialog import SeriesDialog
from reception_app.ui.visit_dialog import VisitDialog
from reception_app.ui.waitlist_dialog import WaitlistDialog

BRANCH = "Centro"
TZ = "America/Sao_Paulo"
WED, THU = DAY + timedelta(days=1), DAY + timedelta(days=2)  # 6 and 7 January 2027
SERIES_FIRST = date(2027, 1, 12)  # a Tuesday
SERIES_TAKEN = date(2027, 1, 26)  # the series' third Tuesday: someone else has the physio gym at 10:00


def _patient(db: Database, name: str) -> int:
    return int(db.read(lambda c: c.execute(text("SELECT id FROM patient WHERE display_name = :n ORDER BY id LIMIT 1"),
                                           {"n": name}).scalar_one()))


def _demo_names(db: Database, n: int) -> list[tuple[int, str]]:
    """``n`` demo patients with a phone who have no appointment yet on ``DAY`` (stable order)."""
    rows = db.read(lambda c: c.execute(text(
        "SELECT p.id, p.display_name FROM patient p WHERE p.phone IS NOT NULL AND NOT EXISTS ("
        " SELECT 1 FROM appointment a WHERE a.patient_id = p.id) ORDER BY p.id LIMIT :n"), {"n": n}).all())
    if len(rows) < n:  # every demo patient has a booking: take any
        rows = db.read(lambda c: c.execute(text("SELECT id, display_name FROM patient ORDER BY id LIMIT :n"),
                                           {"n": n}).all())
    return [(int(r.id), str(r.display_name)) for r in rows]


def _stamp(db: Database, sql: str, params: dict[str, object], why: str) -> None:
    """Run ``sql`` with the row triggers off (the demo's server-stamped times moved next to ``NOW``)."""
    def work(c) -> None:
        c.execute(text("SET LOCAL session_replication_role = replica"))
        c.execute(text(sql), params)
    db.write(work, reason=why)


@dataclass(frozen=True)
class Lifecycle:
    """What :func:`add_lifecycle` made that the dialogs open on: the ECG awaiting its deposit, and the
    patients (id, name) of the series, the visit and the forced booking."""

    payment_appointment: int
    series_patient: tuple[int, str]
    visit_patient: tuple[int, str]
    force_patient: tuple[int, str]


def add_lifecycle(db: Database) -> Lifecycle:
    """The lifecycle data of the screenshots, through the services."""
    people = _demo_names(db, 8)

    # A hold (``demo_database(requests=True)`` made one): expiring four minutes after NOW.
    _stamp(db, "UPDATE appointment SET hold_expires_at = :t WHERE status = 'held'",
           {"t": NOW + timedelta(minutes=4)}, "demo hold expiry")

    # An ECG on Thursday that waits for its 20.00 deposit; 8.00 paid in cash yesterday.
    ecg_patient = people[0]
    offers = scheduling.find_slots(db, branch=BRANCH, service="ECG with cardiologist", local_date=THU, now=NOW)
    ecg = scheduling.book(db, branch=BRANCH, service="ECG with cardiologist", start=offers[2].start,
                          patient_id=ecg_patient[0], now=NOW)
    assert ecg.status == "payment_pending", ecg.status
    payments.record_payment(db, ecg.id, amount_cents=800, method="cash", purpose="deposit", reference="")
    _stamp(db, "UPDATE payment SET taken_at = :t WHERE appointment_id = :a",
           {"t": NOW - timedelta(hours=20, minutes=35), "a": ecg.id}, "demo payment time")

    # The waitlist for an abdominal ultrasound at Centro: three patients, then a cancellation frees a slot.
    entries = []
    for (pid, _name), priority, doctor, note in ((people[1], 5, None, "pain since last week, can come any time"),
                                                 (people[2], 0, "Dr. Ana Souza", "wants Dr. Ana"),
                                                 (people[3], 0, None, "")):
        entries.append(waitlist.add_entry(db, patient_id=pid, service="Abdominal ultrasound", branch=BRANCH,
                                          first_date=DAY, last_date=DAY + timedelta(days=10), earliest="08:00",
                                          latest="18:00", doctor=doctor, priority=priority, note=note, now=NOW))
    for entry, ago in zip(entries, (timedelta(days=3, hours=2), timedelta(hours=26), timedelta(minutes=40)),
                          strict=True):
        _stamp(db, "UPDATE waitlist_entry SET created_at = :t WHERE id = :i", {"t": NOW - ago, "i": entry.id},
               "demo waitlist times")
    day = scheduling.list_appointments(db, branch=BRANCH, local_date=DAY)
    freed = next(a for a in day if a.service == "Abdominal ultrasound" and a.status == "confirmed"
                 and a.start > NOW + timedelta(hours=2))
    scheduling.cancel(db, freed.id, reason="patient called: travelling", by="patient", now=NOW - timedelta(minutes=3))
    made = waitlist.process_freed_slots(db, now=NOW - timedelta(minutes=2))
    assert len(made) == 1, made

    # A weekly physiotherapy series (Tuesdays 10:00) whose third date is taken by someone else.
    taken = scheduling.find_slots(db, branch=BRANCH, service="Physiotherapy session", local_date=SERIES_TAKEN,
                                  now=NOW)
    ten = next(o for o in taken if o.start.astimezone(o.start.tzinfo).hour == 13)  # 10:00 at UTC-3
    scheduling.book(db, branch=BRANCH, service="Physiotherapy session", start=ten.start, patient_id=people[4][0],
                    now=NOW, status="confirmed")
    # Dra. Carla is away on Saturday 9 January (an exception already on her roster).
    off = rosters.DayException("Dra. Carla Mendes", BRANCH, date(2027, 1, 9), (), "continuing education course")
    rosters.apply_change(db, off, acknowledged=rosters.preview_change(db, off, now=NOW).appointment_ids, now=NOW)
    return Lifecycle(payment_appointment=ecg.id, series_patient=people[5], visit_patient=people[6],
                     force_patient=people[7])


def main(out: Path) -> None:
    db = demo_database(requests=True)
    data = add_lifecycle(db)
    app = cast(QApplication, QApplication.instance() or QApplication([]))
    configure_application(app)
    runner = Runner(log_path="/tmp/clinic-shots.log")
    centro = next(b for b in list_branches(db) if b.name == BRANCH)

    def wait_until(condition: Callable[[], bool], timeout_s: float = 30) -> None:
        if not shots.wait_until(app, condition, timeout_s):
            raise TimeoutError("the dialog did not get there in time")

    def settle() -> None:
        shots.settle(app)
        wait_until(lambda: not runner.busy)
        shots.settle(app, 3)

    def save(widget: QWidget, name: str) -> None:
        settle()
        widget.grab().save(str(out / name))
        print("saved", name)

    # -- payments -------------------------------------------------------------------------------
    pay = PaymentDialog(db, runner, appointment_id=data.payment_appointment,
                        clinic="Clínica Horizonte", printed_by="recepcao", clock=lambda: NOW)
    pay.show()
    wait_until(lambda: pay.account is not None)
    pay.method_combo.setCurrentIndex(pay.method_combo.findData("card_terminal"))
    pay.reference_edit.setText("slip 004512")
    save(pay, "payment_dialog.png")
    pay.reject()

    # -- waitlist -------------------------------------------------------------------------------
    wl = WaitlistDialog(db, runner, branch=centro, clock=lambda: NOW + timedelta(minutes=1, seconds=13), tick_ms=0,
                        search_delay_ms=0)
    wl.show()
    wait_until(lambda: wl.offer_table.rowCount() > 0 and wl.entry_table.rowCount() > 0
               and wl.doctor_combo.count() > 1)
    wl.picker.search_edit.setText("Silva")  # the next patient to add, being looked up
    wl.picker.search_now()
    wait_until(lambda: wl.picker.result_list.count() > 0)
    save(wl, "waitlist_dialog.png")
    wl.reject()

    # -- roster: Dra. Carla Mendes leaves early on Wednesday; two patients are left outside -------
    carla = scheduling.list_appointments(db, branch=BRANCH, local_date=WED)
    carla = sorted((a for a in carla if a.resources.get("doctor") == "Dra. Carla Mendes"
                    and a.status not in ("cancelled",)), key=lambda a: a.start)
    cut = carla[-2].start.astimezone(centro.tz)
    roster = RosterDialog(db, runner, clock=lambda: NOW, doctor="Dra. Carla Mendes", branch=BRANCH)
    roster.resize(760, 560)
    roster.show()
    wait_until(lambda: roster.roster is not None)
    roster.tabs.setCurrentIndex(1)
    roster.exception_date.setDate(QDate(WED.year, WED.month, WED.day))
    roster.exception_hours.setText(f"07:00-12:00, 13:00-{cut:%H:%M}")
    roster.exception_note.setText("medical appointment in the afternoon")
    save(roster, "roster_dialog.png")
    roster.set_exception_button.click()
    wait_until(lambda: roster.confirm_dialog is not None and roster.confirm_dialog.isVisible())
    impact = roster.confirm_dialog
    assert impact is not None
    save(impact, "roster_impact.png")
    impact.reject()
    roster.reject()

    # -- series -----------------------------------------------------------------------------------
    sid, sname = data.series_patient
    sd = SeriesDialog(db, runner, branch=BRANCH, timezone=TZ, patient_id=sid, patient_name=sname,
                      day=SERIES_FIRST, clock=lambda: NOW)
    sd.show()
    wait_until(lambda: sd.service_combo.count() > 0)
    sd.service_combo.setCurrentIndex(sd.service_combo.findText("Physiotherapy session"))
    wait_until(lambda: sd.doctor_combo.count() > 1)
    sd.time_edit.setTime(QTime(10, 0))
    sd.count_spin.setValue(6)
    sd.check()
    wait_until(lambda: sd.plan is not None)
    save(sd, "series_dialog.png")
    sd.reject()

    # -- visit: a consultation, an ultrasound and an ECG on Thursday --------------------------------
    vid, vname = data.visit_patient
    vd = VisitDialog(db, runner, branch=BRANCH, timezone=TZ, patient_id=vid, patient_name=vname, day=THU,
                     clock=lambda: NOW)
    vd.show()
    listed: list[int] = []
    vd.slots_listed.connect(listed.append)
    wait_until(lambda: bool(listed))
    for service, row in (("General consultation", 3), ("Abdominal ultrasound", 6), ("ECG with cardiologist", 4)):
        listed.clear()
        vd.service_combo.setCurrentIndex(vd.service_combo.findText(service))
        wait_until(lambda: bool(listed))
        vd.slot_list.setCurrentRow(min(row, vd.slot_list.count() - 1))
        vd.add_selected()
    listed.clear()
    save(vd, "visit_dialog.png")
    vd.reject()

    # -- force booking: Dra. Carla at 17:00 on Wednesday, after her shift ----------------------------
    fname = data.force_patient[1]
    fb = ForceBookingDialog(db, runner, branch=BRANCH, timezone=TZ, clock=lambda: NOW, day=WED)
    fb.show()
    wait_until(lambda: fb.service_combo.count() > 0)
    fb.patient_query.setText(str(fname))
    fb.find_button.click()
    wait_until(lambda: fb.patient_combo.count() > 0)
    fb.service_combo.setCurrentIndex(fb.service_combo.findText("General consultation"))
    fb.doctor_combo.setCurrentIndex(fb.doctor_combo.findText("Dra. Carla Mendes"))
    fb.time_edit.setTime(QTime(17, 0))
    fb.reason_edit.setText("post-operative check, the patient cannot come earlier")
    save(fb, "force_booking.png")
    forced: list[int] = []
    fb.appointment_booked.connect(lambda a: forced.append(a.id))
    fb.book_button.click()
    wait_until(lambda: not fb.isVisible() or fb.message_label.isVisible())
    assert not fb.isVisible(), fb.message_label.text()

    # A second override: a Thursday consultation moved from Dra. Carla to Dr. Diego by hand.
    wed = scheduling.list_appointments(db, branch=BRANCH, local_date=WED)
    moved = False
    for a in wed:  # the first of Dra. Carla's consultations Dr. Diego is free for (off shift in the morning)
        if a.resources.get("doctor") == "Dra. Carla Mendes" and a.status == "confirmed" and a.id not in forced:
            try:
                overrides.force_move(db, a.id, doctor="Dr. Diego Alves", now=NOW,
                                     reason="Dra. Carla is in a meeting until 11")
                moved = True
                break
            except SlotTaken:
                continue
    assert moved, "no consultation of Dra. Carla could go to Dr. Diego"
    _stamp(db, "UPDATE override_log SET at = :t WHERE kind = 'outside_shift'", {"t": NOW - timedelta(minutes=48)},
           "demo override times")
    _stamp(db, "UPDATE override_log SET at = :t WHERE kind <> 'outside_shift'", {"t": NOW - timedelta(minutes=9)},
           "demo override times")
    log = OverridesLogWindow(db, runner, timezone=TZ, clock=lambda: NOW)
    log.show()
    wait_until(lambda: log.table.rowCount() > 0)
    save(log, "overrides_log.png")
    log.reject()

    # -- the main window with the hold, drawn dashed ------------------------------------------------
    window = MainWindow(db, clock=lambda: NOW, day=DAY, branch=BRANCH,
                        database_label="Database: built-in (embedded PostgreSQL)", refresh_ms=0)
    window.resize(1400, 860)
    window.show()
    shots.wait_signal(window.day_loaded)
    wait_until(lambda: not window.runner.busy)
    assert window.model.day is not None
    held = next(a for a in window.model.day.appointments if a.status == "held" and a.hold_expires_at is not None
                and a.hold_expires_at > NOW and "waitlist" not in (a.source or ""))
    col = next(c for c, r in enumerate(window.model.columns) if r.id == held.resource_ids["doctor"])
    held_row = window.model.row_of(held.start)
    assert held_row is not None
    window.grid.scrollTo(window.model.index(held_row, col))
    settle()
    window.grab().save(str(out / "main_window_hold.png"))
    print("saved main_window_hold.png")
    window.close()
    runner.shutdown()
    db.dispose()
    print("saved to", out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
