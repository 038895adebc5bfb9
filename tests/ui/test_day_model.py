"""The day grid model, built from a real database (``dayview.load_day``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from reception_app.services import dayview
from reception_app.ui import colors
from reception_app.ui.day_model import (
    APPOINTMENT_ROLE,
    CELL_STATE_ROLE,
    INSTANT_ROLE,
    SPAN_ROLE,
    STATUS_ROLE,
    DayGridModel,
)

from .conftest import DAY, NOW, Booked, at

ALL = ["Ana Souza", "Bruno Lima", "Imaging 1", "Imaging 2", "Ultrasound A"]


def _model(booked: Booked, branch: str = "Centro", day: date = DAY) -> DayGridModel:
    model = DayGridModel()
    model.set_day(dayview.load_day(booked.db, branch, day))
    return model


def _names(model: DayGridModel) -> list[str]:
    return [model.headerData(c, Qt.Orientation.Horizontal).split("\n")[0] for c in range(model.columnCount())]


def _row(model: DayGridModel, hour: int, minute: int = 0) -> int:
    row = model.row_of(at(hour, minute))
    assert row is not None
    return row


def test_model_passes_the_model_tester_while_switching(qtmodeltester, booked: Booked) -> None:
    model = _model(booked)
    qtmodeltester.check(model)
    for resource_set in ("doctor", "room", "equipment", "all"):
        model.set_resource_set(resource_set)
        qtmodeltester.check(model)
    model.set_day(dayview.load_day(booked.db, "Berlin", date(2027, 10, 31)))
    qtmodeltester.check(model)
    model.set_day(None)
    qtmodeltester.check(model)


def test_rows_are_quarter_hours_across_opening_hours_in_local_time(booked: Booked) -> None:
    model = _model(booked)
    assert model.rowCount() == 48  # Monday 07:00-19:00 local
    labels = [model.headerData(r, Qt.Orientation.Vertical) for r in range(model.rowCount())]
    assert labels[:3] == ["07:00", "07:15", "07:30"]
    assert labels[-1] == "18:45"
    assert model.headerData(0, Qt.Orientation.Vertical, INSTANT_ROLE) == datetime(2027, 1, 4, 10, tzinfo=NOW.tzinfo)
    assert "UTC-03:00" in model.headerData(0, Qt.Orientation.Vertical, Qt.ItemDataRole.ToolTipRole)
    assert model.is_hour_row(0) and not model.is_hour_row(1)


def test_columns_are_the_branch_resources(booked: Booked) -> None:
    model = _model(booked)
    assert _names(model) == ALL
    assert model.headerData(0, Qt.Orientation.Horizontal) == "Ana Souza\nradiology"
    assert "Doctor" in model.headerData(0, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)


def test_appointments_are_blocks_spanning_their_duration(booked: Booked) -> None:
    model = _model(booked)
    r8 = _row(model, 8)
    ana, imaging1, ultrasound = 0, 2, 4
    for col in (ana, imaging1, ultrasound):
        anchor = model.index(r8, col)
        assert anchor.data() == "Maria Silva\nAbdominal ultrasound"
        assert anchor.data(SPAN_ROLE) == 2  # 30 minutes
        assert anchor.data(APPOINTMENT_ROLE).id == booked.first.id
        covered = model.index(r8 + 1, col)
        assert covered.data() is None
        assert covered.data(SPAN_ROLE) == 0
        assert covered.data(APPOINTMENT_ROLE).id == booked.first.id
        assert covered.data(CELL_STATE_ROLE) == "appointment"
    assert model.index(r8 + 2, ana).data(APPOINTMENT_ROLE) is None  # 08:30 is free again (buffer not drawn)
    assert sorted(model.spans()) == sorted([(r8, c, 2) for c in (ana, imaging1, ultrasound)]
                                           + [(r8 + 4, c, 2) for c in (ana, imaging1, ultrasound)])


def test_blocks_are_colored_by_status_with_tooltips(booked: Booked) -> None:
    model = _model(booked)
    confirmed = model.index(_row(model, 8), 0)
    checked_in = model.index(_row(model, 9), 0)
    assert confirmed.data(STATUS_ROLE) == "confirmed"
    assert checked_in.data(STATUS_ROLE) == "checked_in"
    assert confirmed.data(Qt.ItemDataRole.BackgroundRole) == QColor(colors.STATUS_COLORS["confirmed"].fill)
    assert checked_in.data(Qt.ItemDataRole.BackgroundRole) == QColor(colors.STATUS_COLORS["checked_in"].fill)
    tip = confirmed.data(Qt.ItemDataRole.ToolTipRole)
    assert "Maria Silva" in tip and "08:00–08:30" in tip and "Status: Confirmed" in tip
    assert "Ana Souza · Imaging 1 · Ultrasound A" in tip
    assert "Checked in" in checked_in.data(Qt.ItemDataRole.ToolTipRole)


def test_cancelled_appointments_free_their_cells(booked: Booked) -> None:
    model = _model(booked)
    cell = model.index(_row(model, 10), 0)
    assert cell.data(APPOINTMENT_ROLE) is None
    assert cell.data(CELL_STATE_ROLE) == "open"
    assert all(a.id != booked.cancelled.id for a in model.day.appointments)


def test_unavailable_time_is_shaded(booked: Booked) -> None:
    model = _model(booked)
    ana, imaging1 = 0, 2
    early = model.index(_row(model, 7), ana)  # the doctors start at 08:00
    assert early.data(CELL_STATE_ROLE) == "closed"
    assert early.data(Qt.ItemDataRole.BackgroundRole) == colors.CLOSED
    assert "not on shift" in early.data(Qt.ItemDataRole.ToolTipRole)
    room_early = model.index(_row(model, 7), imaging1)  # the branch opens at 07:00
    assert room_early.data(CELL_STATE_ROLE) == "open"
    assert room_early.data(Qt.ItemDataRole.BackgroundRole) == colors.OPEN
    lunch = model.index(_row(model, 12, 30), imaging1)  # closed 12:00-13:00 on Mondays
    assert lunch.data(CELL_STATE_ROLE) == "closed"
    assert "branch closed" in lunch.data(Qt.ItemDataRole.ToolTipRole)
    afternoon = model.index(_row(model, 14), ana)
    assert afternoon.data(CELL_STATE_ROLE) == "closed"


def test_time_off_is_shaded(booked: Booked) -> None:
    leave = date(2027, 3, 1)  # Ana Souza is on leave 2027-03-01..07
    model = _model(booked, day=leave)
    cell = model.index(model.row_of(at(9, day=leave)), 0)
    assert cell.data(CELL_STATE_ROLE) == "off"
    assert cell.data(Qt.ItemDataRole.BackgroundRole) == colors.TIME_OFF
    assert "leave" in cell.data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(model.row_of(at(9, day=leave)), 1).data(CELL_STATE_ROLE) == "open"  # Bruno works


def test_switching_resource_sets(booked: Booked) -> None:
    model = _model(booked)
    r8 = _row(model, 8)
    model.set_resource_set("doctor")
    assert _names(model) == ["Ana Souza", "Bruno Lima"]
    assert model.spans() == [(r8, 0, 2), (r8 + 4, 0, 2)]
    model.set_resource_set("room")
    assert _names(model) == ["Imaging 1", "Imaging 2"]
    assert model.index(r8, 0).data(APPOINTMENT_ROLE).id == booked.first.id
    model.set_resource_set("equipment")
    assert _names(model) == ["Ultrasound A"]
    assert model.index(r8 + 4, 0).data(STATUS_ROLE) == "checked_in"
    model.set_resource_set("all")
    assert _names(model) == ALL
    assert model.rowCount() == 48


def test_a_closed_day_shows_the_default_range(booked: Booked) -> None:
    sunday = date(2027, 1, 3)
    view = dayview.load_day(booked.db, "Centro", sunday)
    assert view.closed and view.holiday is None
    model = DayGridModel()
    model.set_day(view)
    assert model.rowCount() == 48
    assert model.headerData(0, Qt.Orientation.Vertical) == "07:00"
    assert all(model.index(r, c).data(CELL_STATE_ROLE) == "closed"
               for r in range(model.rowCount()) for c in range(model.columnCount()))


def test_a_holiday_is_named(booked: Booked) -> None:
    view = dayview.load_day(booked.db, "Centro", date(2027, 12, 25))
    assert view.holiday == "Christmas" and view.closed


def test_fall_back_day_has_25_hours_of_rows_with_unique_labels(booked: Booked) -> None:
    model = _model(booked, "Berlin", date(2027, 10, 31))  # Europe/Berlin falls back 03:00 -> 02:00
    assert model.rowCount() == 100
    labels = [model.headerData(r, Qt.Orientation.Vertical) for r in range(model.rowCount())]
    assert len(set(labels)) == 100
    first, second = labels.index("02:00"), labels.index("02:00 (2nd)")
    assert second == first + 4
    assert model.instant_at(second) - model.instant_at(first) == timedelta(hours=1)
    assert "UTC+02:00" in model.headerData(first, Qt.Orientation.Vertical, Qt.ItemDataRole.ToolTipRole)
    assert "UTC+01:00" in model.headerData(second, Qt.Orientation.Vertical, Qt.ItemDataRole.ToolTipRole)


def test_spring_forward_day_has_23_hours_of_rows(booked: Booked) -> None:
    model = _model(booked, "Berlin", date(2027, 3, 28))  # 02:00 -> 03:00
    labels = [model.headerData(r, Qt.Orientation.Vertical) for r in range(model.rowCount())]
    assert model.rowCount() == 92
    assert "02:00" not in labels and labels[labels.index("01:45") + 1] == "03:00"


def test_blocks_carry_markers_in_paint_data_and_tooltips(booked: Booked) -> None:
    from sqlalchemy import text

    from reception_app.services import scheduling
    from reception_app.ui.day_model import MARKERS_ROLE, PAINT_ROLE

    pending = scheduling.book(booked.db, branch="Centro", service="Abdominal ultrasound", start=at(11),
                              patient_id=booked.maria, now=NOW, status="payment_pending")
    booked.db.write(lambda c: c.execute(text(
        "INSERT INTO reminder (appointment_id, channel, purpose, due_at, status) "
        "VALUES (:a, 'sms', 'reminder', now(), 'failed')"), {"a": pending.id}))
    model = _model(booked)
    first = model.index(_row(model, 8), 0)  # Maria's first visit
    later = model.index(_row(model, 11), 0)  # Maria again: payment pending, reminder failed
    assert first.data(MARKERS_ROLE) == {"first_visit"}
    assert later.data(MARKERS_ROLE) == {"payment_pending", "reminder_failed"}
    assert model.index(_row(model, 11) + 1, 0).data(MARKERS_ROLE) == {"payment_pending", "reminder_failed"}
    assert [m.glyph for m in later.data(PAINT_ROLE)[5]] == [colors.MARKERS[1].glyph, colors.MARKERS[2].glyph]
    assert model.index(_row(model, 11) + 1, 0).data(PAINT_ROLE)[5] == ()  # drawn once, at the anchor
    assert "Payment pending · Reminder failed" in later.data(Qt.ItemDataRole.ToolTipRole)
    assert "First visit" in first.data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(_row(model, 9), 0).data(MARKERS_ROLE) == {"first_visit"}  # João's first visit too
    assert colors.marker_text(frozenset({"reminder_failed", "first_visit"})) == "First visit · Reminder failed"
    assert "Reminder failed" in colors.legend_html()
