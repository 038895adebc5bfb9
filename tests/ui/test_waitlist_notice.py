"""A freed time offered to the waitlist pops up a notice naming the patient and their phone (issue 16
§5), so the desk can call — keys only, in the branch's form."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from reception_app.services import patients, waitlist
from reception_app.ui.appointment_actions import CancelReasonDialog

from .conftest import DAY, NOW, Booked, select_block


def test_a_cancellation_offers_the_time_and_the_notice_names_the_patient_and_phone(qtbot, window, booked: Booked):
    rosa = patients.add_patient(booked.db, name="Rosa Lima", birth_date="1955-03-03", phone="+5527988887777",
                                channels=["sms"]).id
    waitlist.add_entry(booked.db, patient_id=rosa, service="Abdominal ultrasound", branch="Centro",
                       first_date=DAY, last_date=DAY, now=NOW)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    select_block(window, booked.first)
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_Delete)   # Cancel…
    dialog = next(d for d in window.findChildren(CancelReasonDialog) if d.isVisible())
    qtbot.keyClicks(dialog.reason_edit, "doctor ill")
    with qtbot.waitSignal(window.appointment_actions.offer_notice_opened, timeout=15_000) as opened:
        qtbot.keyClick(dialog.reason_edit, Qt.Key.Key_Return)
    box: QMessageBox = opened.args[0]
    assert box.isVisible() and box.windowTitle() == "Waitlist offer"
    text = box.text()
    assert "<b>Rosa Lima</b> — +55 27 98888-7777" in text          # British-format test branch: international
    # the earliest freed time that fits her (the cancelled 10:00 of the fixture), held for the offer
    assert "Abdominal ultrasound, Mon 04/01/2027 10:00, held until Thu 31/12/2026 21:10" in text
    copy = next(b for b in box.buttons() if b.objectName() == "copyPhone")
    assert copy.text() == "Copy phone +55 27 98888-7777"
    copy.click()
    assert QApplication.clipboard().text() == "+55 27 98888-7777"
