"""The side panel's month calendar, fed from a real database (``dayview.month_overview``)."""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QTableView

from reception_app.services import dayview
from reception_app.services.dayview import BranchSummary
from reception_app.ui.month_calendar import CLOSED_TEXT, SHOWN_BACKGROUND, MonthCalendar

from .conftest import DAY, Booked


def _calendar(qtbot) -> MonthCalendar:
    calendar = MonthCalendar()
    qtbot.addWidget(calendar)
    return calendar


def test_busy_days_bold_closed_days_grey(qtbot, booked: Booked, centro: BranchSummary) -> None:
    calendar = _calendar(qtbot)
    calendar.set_shown(DAY)
    calendar.set_overview(dayview.month_overview(booked.db, centro.id, 2027, 1))
    busy = calendar.dateTextFormat(QDate(2027, 1, 4))
    assert busy.fontWeight() == QFont.Weight.Bold and busy.toolTip() == "2 appointments"
    assert calendar.count_on(DAY) == 2 and calendar.count_on(DAY + timedelta(days=1)) == 0
    sunday = calendar.dateTextFormat(QDate(2027, 1, 3))
    assert sunday.foreground().color() == CLOSED_TEXT and sunday.toolTip() == "Closed"
    assert calendar.dateTextFormat(QDate(2027, 1, 5)).foreground().color() != CLOSED_TEXT
    calendar.set_overview(dayview.month_overview(booked.db, centro.id, 2027, 12))
    assert calendar.closed_reason(date(2027, 12, 25)) == "Holiday: Christmas"
    assert calendar.count_on(DAY) == 2  # January is still known


def test_marks_the_shown_week_and_turns_the_page(qtbot) -> None:
    calendar = _calendar(qtbot)
    calendar.set_shown(DAY)
    with qtbot.waitSignal(calendar.month_shown) as shown, qtbot.assertNotEmitted(calendar.date_chosen):
        calendar.set_shown(date(2027, 2, 1), date(2027, 2, 7))
    assert shown.args == [2027, 2]
    assert all(calendar.dateTextFormat(QDate(2027, 2, d)).background().color() == SHOWN_BACKGROUND
               for d in range(1, 8))
    assert calendar.dateTextFormat(QDate(2027, 2, 8)).background().color() != SHOWN_BACKGROUND
    assert calendar.dateTextFormat(QDate(2027, 1, 4)).background().color() != SHOWN_BACKGROUND
    with qtbot.waitSignal(calendar.month_shown) as paged:
        calendar.showNextMonth()
    assert paged.args == [2027, 3]


def test_choosing_a_day_asks_to_show_it(qtbot) -> None:
    calendar = _calendar(qtbot)
    calendar.show()
    qtbot.waitExposed(calendar)
    calendar.set_shown(DAY)
    view = calendar.findChild(QTableView)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Right)
    with qtbot.waitSignal(calendar.date_chosen) as chosen:
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert chosen.args == [DAY + timedelta(days=1)]
