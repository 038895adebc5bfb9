"""The failed-reminders dialog: lists whom to call and marks them handled."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import Qt
from sqlalchemy import text

from reception_app.services import reminder_queries
from reception_app.ui.reminders_dialog import FailedRemindersDialog, reminder_lines

from .conftest import Booked


def _fail(db, appointment_id: int, channel: str, error: str) -> int:
    def work(conn):
        return conn.execute(text(
            "INSERT INTO reminder (appointment_id, channel, purpose, due_at, status, attempts, last_error, failed_at) "
            "VALUES (:a, :c, 'reminder', now(), 'failed', 5, :e, now()) RETURNING id"),
            {"a": appointment_id, "c": channel, "e": error}).scalar_one()
    return db.write(work, reason="test")


def test_the_list_shows_whom_to_call_and_mark_as_handled_removes_them(qtbot, booked: Booked, runner):
    first = _fail(booked.db, booked.first.id, "sms", "the gateway refused the message: HTTP 400 bad number")
    _fail(booked.db, booked.second.id, "email", "the SMTP server refused x@example.com: 550")
    dialog = FailedRemindersDialog(booked.db, runner)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.reminders_loaded, timeout=10_000) as loaded:
        dialog.show()
    assert loaded.args == [2]
    table = dialog.table
    headers = [table.horizontalHeaderItem(i).text() for i in range(table.columnCount())]
    assert headers == ["Patient", "Phone", "Appointment", "Channel", "Error", "Attempts"]
    row = next(i for i, r in enumerate(dialog.rows) if r.id == first)
    assert "HTTP 400" in table.item(row, 4).text() and table.item(row, 3).text() == "SMS"
    assert table.item(row, 5).text() == "5"
    assert "Abdominal ultrasound" in table.item(row, 2).text()
    assert not dialog.handled_button.isEnabled()
    table.selectRow(row)
    assert dialog.handled_button.isEnabled()
    with qtbot.waitSignal(dialog.reminders_loaded, timeout=10_000) as reloaded:
        qtbot.mouseClick(dialog.handled_button, Qt.MouseButton.LeftButton)
    assert reloaded.args == [1]
    assert [r.id for r in reminder_queries.failed_reminders(booked.db)] != [first]
    handled = [r for r in reminder_queries.appointment_reminders(booked.db, booked.first.id) if r.id == first]
    assert handled[0].handled_at is not None
    assert reminder_queries.failed_reminders(booked.db, branch="Berlin") == []
    assert len(reminder_queries.failed_reminders(booked.db, since=datetime(2000, 1, 1, tzinfo=UTC))) == 1


def test_reminder_lines_show_each_reminder_and_its_status(booked: Booked):
    views = reminder_queries.appointment_reminders(booked.db, booked.first.id)
    lines = reminder_lines(views, "America/Sao_Paulo")
    assert len(lines) == len(views)
    assert all(" · " in line for line in lines)
