"""The reschedule dialog, driven by keyboard and mouse against the test database."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import QDate, Qt

from reception_app.services import scheduling
from reception_app.ui.reschedule_dialog import OFFER_COUNT, RescheduleDialog
from reception_app.ui.runner import Runner

from .conftest import DAY, NOW, Booked, at


def _dialog(qtbot, booked: Booked, runner: Runner, appointment, **kw) -> RescheduleDialog:
    dialog = RescheduleDialog(booked.db, runner, appointment=appointment, timezone="America/Sao_Paulo",
                              clock=lambda: NOW, **kw)
    qtbot.addWidget(dialog)
    return dialog


def _shown(qtbot, booked, runner, appointment, **kw) -> RescheduleDialog:
    dialog = _dialog(qtbot, booked, runner, appointment, **kw)
    with qtbot.waitSignal(dialog.offers_listed, timeout=10_000):
        dialog.show()
    return dialog


def test_lists_the_next_free_starts_and_enter_moves_to_the_selected_one(qtbot, booked: Booked, runner: Runner):
    dialog = _shown(qtbot, booked, runner, booked.first)
    assert len(dialog.offers) == OFFER_COUNT
    # 08:00 is Maria's own start; 08:15 overlaps only herself; João's 09:00 holds the ultrasound until 09:40.
    first = dialog.offer_tree.topLevelItem(0)
    assert [first.text(i) for i in range(5)] == ["Mon 04/01/2027", "08:15–08:45", "Ana Souza", "Imaging 1",
                                                 "Ultrasound A"]
    assert [o.start for o in dialog.offers[:3]] == [at(8, 15), at(9, 45), at(10)]
    assert dialog.offer_tree.hasFocus() or dialog.focusWidget() is dialog.offer_tree
    qtbot.keyClick(dialog.offer_tree, Qt.Key.Key_Down)
    assert dialog.selected_offer().start == at(9, 45)
    with qtbot.waitSignal(dialog.appointment_moved, timeout=10_000) as moved:
        qtbot.keyClick(dialog.offer_tree, Qt.Key.Key_Return)
    result = moved.args[0]
    assert result.before.start == at(8) and result.after.start == at(9, 45)
    assert not dialog.isVisible()
    # Rescheduled (issue 4): a new appointment at 09:45, the old one kept as "rescheduled" and linked to it.
    old = scheduling.get_appointment(booked.db, booked.first.id)
    assert old.status == "rescheduled" and old.start == at(8)
    assert result.after.id != booked.first.id and result.after.status == "confirmed"
    link = booked.db.read(lambda c: c.exec_driver_sql(
        "SELECT rescheduled_to FROM appointment WHERE id = %s", (booked.first.id,)).scalar_one())
    assert link == result.after.id


def test_a_later_day_and_the_same_doctor_option_reload_the_list(qtbot, booked: Booked, runner: Runner):
    dialog = _shown(qtbot, booked, runner, booked.first)
    with qtbot.waitSignal(dialog.offers_listed, timeout=10_000):
        dialog.date_edit.setDate(QDate(2027, 1, 5))
    assert dialog.offers[0].start == at(8, day=DAY + timedelta(days=1))
    assert dialog.offer_tree.topLevelItem(0).text(0) == "Tue 05/01/2027"
    with qtbot.waitSignal(dialog.offers_listed, timeout=10_000):
        dialog.same_doctor_box.setFocus()
        qtbot.keyClick(dialog.same_doctor_box, Qt.Key.Key_Space)
    assert dialog.same_doctor_box.isChecked()
    assert {o.resources["doctor"] for o in dialog.offers} == {"Ana Souza"}
    assert dialog.same_doctor_box.accessibleName() and dialog.offer_tree.accessibleName()


def test_a_start_taken_meanwhile_says_so_and_refreshes_the_list(qtbot, booked: Booked, runner: Runner):
    dialog = _shown(qtbot, booked, runner, booked.first)
    target = dialog.offers[1]
    assert target.start == at(9, 45)
    dialog.offer_tree.setCurrentItem(dialog.offer_tree.topLevelItem(1))
    # Another workstation books 09:45 on the only ultrasound first.
    scheduling.book(booked.db, branch="Centro", service="Abdominal ultrasound", start=at(9, 45),
                    patient_id=booked.ana_clara, now=NOW)
    with (qtbot.assertNotEmitted(dialog.appointment_moved), qtbot.waitSignal(dialog.slot_taken, timeout=10_000),
          qtbot.waitSignal(dialog.offers_listed, timeout=10_000)):
        qtbot.mouseClick(dialog.move_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.message_label.isVisible()
    assert "refreshed" in dialog.message_label.text() and "Traceback" not in dialog.message_label.text()
    assert at(9, 45) not in [o.start for o in dialog.offers]
    assert scheduling.get_appointment(booked.db, booked.first.id).start == at(8)
    assert scheduling.get_appointment(booked.db, booked.first.id).status == "confirmed"


def test_an_arrived_patient_cannot_be_rescheduled(qtbot, booked: Booked, runner: Runner):
    dialog = _dialog(qtbot, booked, runner, booked.second)  # checked in
    dialog.show()
    assert dialog.message_label.isVisible() and "cannot be moved" in dialog.message_label.text()
    assert not dialog.move_button.isEnabled() and dialog.offers == []
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
