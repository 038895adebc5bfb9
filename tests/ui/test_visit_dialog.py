"""The visit dialog against the test clinic: add several parts from the free starts, book them together;
a part taken meanwhile books nothing and is named."""

from __future__ import annotations

from PySide6.QtCore import Qt
from sqlalchemy import text

from reception_app.services import patients, scheduling, visits
from reception_app.ui.runner import Runner
from reception_app.ui.visit_dialog import VisitDialog

from .conftest import DAY, NOW, at

US = "Abdominal ultrasound"


def _dialog(qtbot, db, runner: Runner, patient_id: int) -> VisitDialog:
    dialog = VisitDialog(db, runner, branch="Centro", timezone="America/Sao_Paulo", patient_id=patient_id,
                         patient_name="Maria Silva", day=DAY, clock=lambda: NOW)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.slots_listed, timeout=10_000):  # services, then the first one's starts
        dialog.show()
    if dialog.service_combo.currentText() != US:
        with qtbot.waitSignal(dialog.slots_listed, timeout=10_000):
            dialog.service_combo.setCurrentText(US)
    return dialog


def _pick(qtbot, dialog: VisitDialog, row: int) -> None:
    dialog.slot_list.setCurrentRow(row)
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)


def test_two_parts_are_added_from_the_free_starts_and_booked_together(qtbot, clinic_db, runner):
    maria = patients.add_patient(clinic_db, name="Maria Silva", birth_date="1980-05-17").id
    dialog = _dialog(qtbot, clinic_db, runner, maria)
    assert dialog.slot_list.item(0).text().startswith("08:00–08:30  Ana Souza")
    assert not dialog.book_button.isEnabled()
    _pick(qtbot, dialog, 0)   # 08:00
    _pick(qtbot, dialog, 4)   # 09:00
    assert [p.start for p in dialog.parts] == [at(8), at(9)]
    assert dialog.part_tree.topLevelItem(1).text(2) == "09:00"
    assert dialog.book_button.isEnabled()
    with qtbot.waitSignal(dialog.visit_booked, timeout=10_000) as booked:
        qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
    view = booked.args[0]
    assert [a.start for a in view.appointments] == [at(8), at(9)] and view.status == "open"
    assert not dialog.isVisible()
    assert visits.get_visit(clinic_db, view.id).patient_id == maria


def test_a_part_taken_meanwhile_books_nothing_and_is_named(qtbot, clinic_db, runner):
    maria = patients.add_patient(clinic_db, name="Maria Silva", birth_date="1980-05-17").id
    joao = patients.add_patient(clinic_db, name="João Pereira", birth_date="1975-11-02").id
    dialog = _dialog(qtbot, clinic_db, runner, maria)
    _pick(qtbot, dialog, 0)
    _pick(qtbot, dialog, 4)
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)  # the 09:00 part goes again
    assert [p.start for p in dialog.parts] == [at(8)]
    _pick(qtbot, dialog, 8)   # 10:00
    scheduling.book(clinic_db, branch="Centro", service=US, start=at(10), patient_id=joao, now=NOW,
                    equipment="Ultrasound A")
    with qtbot.waitSignal(dialog.slots_listed, timeout=10_000):  # the failure refreshes the free starts
        qtbot.mouseClick(dialog.book_button, Qt.MouseButton.LeftButton)
    assert dialog.message_label.isVisible() and dialog.isVisible()
    assert dialog.message_label.text().startswith("Part 2 (Abdominal ultrasound at Mon 04/01/2027 10:00)")
    assert clinic_db.read(lambda c: c.execute(text("SELECT count(*) FROM visit")).scalar()) == 0
    assert dialog.book_button.isEnabled()
