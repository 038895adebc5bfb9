"""Moving a block by dragging it on the grid: the drop outline, the new time and resource, what is
refused (another service's kind of column, an arrived patient, Esc) and a time that is taken."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QPoint, Qt

from reception_app.services import scheduling
from reception_app.services.scheduling import AppointmentView
from reception_app.ui.main_window import MainWindow

from .conftest import Booked, at

LEFT = Qt.MouseButton.LeftButton




def _column(window: MainWindow, name: str) -> int:
    return next(c for c, r in enumerate(window.model.columns) if r.name == name)


def _cell_center(window: MainWindow, when: datetime, column: str) -> QPoint:
    """Viewport point at the middle of the *row* of ``when`` (not of a block's spanned rect)."""
    grid, row = window.grid, window.model.row_of(when)
    assert row is not None
    col = _column(window, column)
    point = QPoint(grid.columnViewportPosition(col) + grid.columnWidth(col) // 2,
                   grid.rowViewportPosition(row) + grid.rowHeight(row) // 2)
    assert grid.viewport().rect().contains(point)
    return point


def _drag(qtbot, window: MainWindow, start: QPoint, end: QPoint, *, release: bool = True) -> None:
    viewport = window.grid.viewport()
    qtbot.mousePress(viewport, LEFT, pos=start)
    qtbot.mouseMove(viewport, pos=end)
    if release:
        qtbot.mouseRelease(viewport, LEFT, pos=end)


def _on_grid(window: MainWindow, appointment: AppointmentView, column: str) -> datetime | None:
    """The start of ``appointment``'s block in ``column`` as the grid shows it, or ``None``."""
    col = _column(window, column)
    for row in range(window.model.rowCount()):
        shown = window.model.appointment_at(window.model.index(row, col))
        if shown is not None and shown.id == appointment.id:
            return shown.start
    return None


def test_drag_to_another_time_in_the_same_column(qtbot, window: MainWindow, booked: Booked) -> None:
    with qtbot.waitSignal(window.grid.move_requested) as requested, \
            qtbot.waitSignal(window.day_loaded, timeout=10_000):
        _drag(qtbot, window, _cell_center(window, at(8), "Ana Souza"), _cell_center(window, at(10), "Ana Souza"))
    appointment, start, resource = requested.args
    assert appointment.id == booked.first.id and start == at(10) and resource is None
    assert _on_grid(window, booked.first, "Ana Souza") == at(10)
    moved = scheduling.get_appointment(booked.db, booked.first.id)
    assert moved.start == at(10) and moved.resources["doctor"] == "Ana Souza"
    assert window.statusBar().currentMessage() == "Moved: Maria Silva 08:00 → 10:00 (Ana Souza) — Undo (Ctrl+Z)"


def test_drag_to_another_doctor_pins_that_doctor(qtbot, window: MainWindow, booked: Booked) -> None:
    with qtbot.waitSignal(window.grid.move_requested) as requested, \
            qtbot.waitSignal(window.day_loaded, timeout=10_000):
        _drag(qtbot, window, _cell_center(window, at(8), "Ana Souza"), _cell_center(window, at(8), "Bruno Lima"))
    assert requested.args[1] == at(8) and requested.args[2].name == "Bruno Lima"
    moved = scheduling.get_appointment(booked.db, booked.first.id)
    assert moved.start == at(8) and moved.resources["doctor"] == "Bruno Lima"
    assert moved.resources["room"] == booked.first.resources["room"]  # kept: still free
    assert _on_grid(window, booked.first, "Bruno Lima") == at(8)
    assert _on_grid(window, booked.first, "Ana Souza") is None
    assert window.statusBar().currentMessage() == "Moved: Maria Silva 08:00 → 08:00 (Bruno Lima) — Undo (Ctrl+Z)"


def test_drop_on_a_taken_time_says_what_is_in_the_way(qtbot, window: MainWindow, booked: Booked) -> None:
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        _drag(qtbot, window, _cell_center(window, at(8), "Ana Souza"), _cell_center(window, at(9), "Ana Souza"))
    message = window.statusBar().currentMessage()
    assert message.startswith("Could not move Maria Silva 08:00: ")
    # Bruno Lima and Imaging 2 are free at 09:00; the only ultrasound machine is what is in the way.
    assert "Ultrasound A has João Pereira (Abdominal ultrasound) 09:00–09:30." in message   # what is in the way
    assert scheduling.get_appointment(booked.db, booked.first.id).start == at(8)
    assert _on_grid(window, booked.first, "Ana Souza") == at(8)


def test_grab_offset_is_kept(qtbot, window: MainWindow, booked: Booked) -> None:
    """Grabbed at its second row (08:15) and dropped on 10:00: the block's top goes to 09:45."""
    with qtbot.waitSignal(window.grid.move_requested) as requested, \
            qtbot.waitSignal(window.day_loaded, timeout=10_000):
        _drag(qtbot, window, _cell_center(window, at(8, 15), "Ana Souza"),
              _cell_center(window, at(10), "Ana Souza"))
    assert requested.args[1] == at(9, 45)
    assert scheduling.get_appointment(booked.db, booked.first.id).start == at(9, 45)


def test_checked_in_block_does_not_drag(qtbot, window: MainWindow, booked: Booked) -> None:
    with qtbot.assertNotEmitted(window.grid.move_requested), qtbot.assertNotEmitted(window.appointment_changed):
        _drag(qtbot, window, _cell_center(window, at(9), "Ana Souza"), _cell_center(window, at(11), "Ana Souza"))
        assert not window.grid.is_dragging()
    assert scheduling.get_appointment(booked.db, booked.first.id).start == at(8)
    assert scheduling.get_appointment(booked.db, booked.second.id).start == at(9)


def test_escape_cancels_a_drag(qtbot, window: MainWindow, booked: Booked) -> None:
    with qtbot.assertNotEmitted(window.grid.move_requested):
        _drag(qtbot, window, _cell_center(window, at(8), "Ana Souza"), _cell_center(window, at(10), "Ana Souza"),
              release=False)
        assert window.grid.is_dragging()
        assert not window.grid.viewport().grab().isNull()  # paints the drop outline
        qtbot.keyClick(window.grid, Qt.Key.Key_Escape)
        assert not window.grid.is_dragging()
        qtbot.mouseRelease(window.grid.viewport(), LEFT, pos=_cell_center(window, at(10), "Ana Souza"))
    assert scheduling.get_appointment(booked.db, booked.first.id).start == at(8)


def test_a_column_of_another_kind_is_refused_here(qtbot, window: MainWindow, booked: Booked,
                                                 monkeypatch) -> None:
    """Consultation needs no equipment: dropping it on the ultrasound column never reaches the service."""
    calls = []
    monkeypatch.setattr(scheduling, "move", lambda *a, **k: calls.append((a, k)))
    window.set_resource_set("all")
    ultrasound = window.model.columns[_column(window, "Ultrasound A")]
    consultation = AppointmentView(**{**booked.first.__dict__, "service": "Consultation",
                                      "resources": {"doctor": "Ana Souza", "room": "Imaging 1"},
                                      "resource_ids": {k: v for k, v in booked.first.resource_ids.items()
                                                       if k != "equipment"}})
    window.grid.move_requested.emit(consultation, at(10), ultrasound)
    assert calls == []
    assert window.statusBar().currentMessage() == (
        "Cannot move Maria Silva 08:00 to Ultrasound A: Consultation does not use equipment.")


def test_a_drag_move_can_be_undone_with_ctrl_z_or_the_undo_button(qtbot, window: MainWindow, booked: Booked) -> None:
    undo = window.appointment_actions.move_undo
    assert not undo.undo_action.isEnabled() and not undo.undo_button.isVisible()
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        _drag(qtbot, window, _cell_center(window, at(8), "Ana Souza"), _cell_center(window, at(10), "Ana Souza"))
    qtbot.waitUntil(lambda: undo.offered is not None, timeout=10_000)
    assert undo.undo_action.isEnabled() and undo.undo_button.isVisible()
    message = window.statusBar().currentMessage()
    assert message.startswith("Moved: Maria Silva 08:00 → 10:00") and "Undo (Ctrl+Z)" in message
    assert scheduling.get_appointment(booked.db, booked.first.id).start == at(10)

    window.activateWindow()
    window.grid.setFocus()
    with qtbot.waitSignal(undo.undone, timeout=10_000) as done, qtbot.waitSignal(window.day_loaded, timeout=10_000):
        qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    back = done.args[0]
    assert back.after.id == booked.first.id and back.after.start == at(8)
    assert back.after.resources == booked.first.resources
    assert scheduling.get_appointment(booked.db, booked.first.id).start == at(8)
    assert _on_grid(window, booked.first, "Ana Souza") == at(8)
    assert "Move undone: Maria Silva is back at 08:00" in window.statusBar().currentMessage()
    assert undo.offered is None and not undo.undo_action.isEnabled() and not undo.undo_button.isVisible()

    # The button does the same; once the time is up nothing is offered.
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        _drag(qtbot, window, _cell_center(window, at(8), "Ana Souza"), _cell_center(window, at(11), "Ana Souza"))
    qtbot.waitUntil(lambda: undo.offered is not None, timeout=10_000)
    with qtbot.waitSignal(undo.undone, timeout=10_000), qtbot.waitSignal(window.day_loaded, timeout=10_000):
        qtbot.mouseClick(undo.undo_button, LEFT)
    assert scheduling.get_appointment(booked.db, booked.first.id).start == at(8)
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        _drag(qtbot, window, _cell_center(window, at(8), "Ana Souza"), _cell_center(window, at(11), "Ana Souza"))
    qtbot.waitUntil(lambda: undo.offered is not None, timeout=10_000)
    undo._timer.timeout.emit()  # the UNDO_SECONDS have passed
    assert undo.offered is None and not undo.undo_action.isEnabled()
    with qtbot.assertNotEmitted(undo.undone):
        qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert scheduling.get_appointment(booked.db, booked.first.id).start == at(11)


def test_undo_is_refused_in_words_when_the_old_time_was_taken_meanwhile(qtbot, window: MainWindow,
                                                                        booked: Booked) -> None:
    from .conftest import NOW

    undo = window.appointment_actions.move_undo
    with qtbot.waitSignal(window.day_loaded, timeout=10_000):
        _drag(qtbot, window, _cell_center(window, at(8), "Ana Souza"), _cell_center(window, at(10), "Ana Souza"))
    qtbot.waitUntil(lambda: undo.offered is not None, timeout=10_000)
    # Another desk books the ultrasound at 08:00, where Maria was.
    scheduling.book(booked.db, branch="Centro", service="Abdominal ultrasound", start=at(8),
                    patient_id=booked.ana_clara, now=NOW)
    with qtbot.waitSignal(undo.undo_failed, timeout=10_000) as failed:
        undo.undo()
    assert failed.args[0].startswith("Could not put Maria Silva 10:00 back:")
    assert "Traceback" not in failed.args[0]
    assert scheduling.get_appointment(booked.db, booked.first.id).start == at(10)
