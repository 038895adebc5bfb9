"""The grid names roster changes in words: a block, leave or emergency by its kind, and a doctor's
roster exception (off that day, or other hours) in the column's tooltip (services.rosters)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from reception_app.services import dayview, rosters
from reception_app.ui.day_model import DayGridModel

from .conftest import DAY, NOW, Booked, at


def _model(booked: Booked) -> DayGridModel:
    model = DayGridModel()
    model.set_day(dayview.load_day(booked.db, "Centro", DAY))
    return model


def _column(model: DayGridModel, name: str) -> int:
    return next(c for c in range(model.columnCount())
                if model.headerData(c, Qt.Orientation.Horizontal).split("\n")[0] == name)


def test_a_block_is_named_by_its_kind_and_reason(booked: Booked) -> None:
    block = rosters.AddTimeOff(resource="Imaging 2", start=at(10), end=at(11), kind="block", reason="new scanner")
    rosters.apply_change(booked.db, block, acknowledged=[], now=NOW)
    model = _model(booked)
    tip = model.index(model.row_of(at(10, 15)), _column(model, "Imaging 2")).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.endswith("blocked (new scanner)")
    assert model.cell_state(model.row_of(at(10, 15)), _column(model, "Imaging 2")) == "off"


def test_a_roster_exception_shows_in_the_doctors_column_tip(booked: Booked) -> None:
    # Bruno Lima works 10:00-12:00 on DAY instead of his weekly 08:00-12:00.
    change = rosters.DayException(doctor="Bruno Lima", branch="Centro", local_date=DAY, intervals=((600, 720),),
                                  note="school run")
    preview = rosters.preview_change(booked.db, change, now=NOW)
    rosters.apply_change(booked.db, change, acknowledged=[a.id for a in preview.affected], now=NOW)
    model = _model(booked)
    col = _column(model, "Bruno Lima")
    tip = model.headerData(col, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "Other hours this day (roster exception): school run" in tip
    assert model.cell_state(model.row_of(at(8, 30)), col) != "open"     # not on shift before 10:00 any more
    assert model.cell_state(model.row_of(at(10, 30)), col) in ("open", "booked")
