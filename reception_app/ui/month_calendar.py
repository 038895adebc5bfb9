"""A compact month calendar for the side panel: jump to a date, see which days are busy or closed.

Display only: it is told what to mark (:meth:`MonthCalendar.set_overview` with
``dayview.month_overview``'s result, loaded by its owner through the Runner when
``month_shown`` asks) and which day or week the grid shows (:meth:`MonthCalendar.set_shown`).
Dates are the branch's local dates.
"""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QTextCharFormat
from PySide6.QtWidgets import QCalendarWidget, QWidget

from ..services.dayview import MonthOverview

#: Text of days the branch is closed (holidays, no opening hours).
CLOSED_TEXT = QColor("#9aa3ad")
#: Background of the day or week the grid shows.
SHOWN_BACKGROUND = QColor("#d7e8fb")


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _date(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


class MonthCalendar(QCalendarWidget):
    """A month at a glance, weeks from Monday, no week numbers.

    Days with appointments are bold (tooltip: how many); days the branch is closed are grey
    (tooltip: ``"Holiday: Christmas"`` or ``"Closed"``); the day or week shown on the grid has a
    tinted background. Clicking a day (or Enter on it) asks to show it.

    Signals:
        date_chosen(object): the user picked a date (click, or Enter/double-click): a ``date``.
        month_shown(int, int): the calendar now shows this year and month (paging, or
            :meth:`set_shown` moving to another month): load ``month_overview`` for it and pass
            the result to :meth:`set_overview`.
    """

    date_chosen = Signal(object)
    month_shown = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("monthCalendar")
        self.setFirstDayOfWeek(Qt.DayOfWeek.Monday)
        self.setVerticalHeaderFormat(QCalendarWidget.VerticalHeaderFormat.NoVerticalHeader)
        self.setHorizontalHeaderFormat(QCalendarWidget.HorizontalHeaderFormat.ShortDayNames)
        self.setGridVisible(False)
        self.setNavigationBarVisible(True)
        plain = QTextCharFormat()
        plain.setForeground(QBrush(QColor("#1b1f24")))
        for day in (Qt.DayOfWeek.Saturday, Qt.DayOfWeek.Sunday):  # no red weekends: closed days are grey
            self.setWeekdayTextFormat(day, plain)
        self.setMaximumSize(300, 230)
        self._counts: dict[date, int] = {}
        self._closed: dict[date, str] = {}
        self._shown: tuple[date, date] | None = None
        self.clicked.connect(self._on_date_picked)
        self.activated.connect(self._on_date_picked)
        self.currentPageChanged.connect(self._on_page_changed)

    # -- what to mark ------------------------------------------------------------------
    def set_overview(self, overview: MonthOverview) -> None:
        """Mark ``overview``'s month: appointment counts (bold) and closed days (grey). Replaces what
        an earlier overview said about that month; other months keep theirs."""
        month = (overview.year, overview.month)
        self._counts = {d: n for d, n in self._counts.items() if (d.year, d.month) != month} | overview.counts
        self._closed = {d: t for d, t in self._closed.items() if (d.year, d.month) != month} | overview.closed
        self._refresh()

    def clear_overview(self) -> None:
        """Forget every count and closed day (another branch is shown)."""
        self._counts, self._closed = {}, {}
        self._refresh()

    def set_shown(self, first: date, last: date | None = None) -> None:
        """The grid shows local dates ``first``..``last`` (inclusive; one day when ``last`` is
        ``None``): tint them and select ``first``, turning the page if needed (which emits
        ``month_shown``, never ``date_chosen``)."""
        self._shown = (first, last or first)
        self.blockSignals(True)
        try:
            before = (self.yearShown(), self.monthShown())
            self.setSelectedDate(_qdate(first))
            after = (self.yearShown(), self.monthShown())
        finally:
            self.blockSignals(False)
        self._refresh()
        if after != before:
            self.month_shown.emit(*after)

    # -- read access (tests, accessibility) ------------------------------------------------
    def count_on(self, local_date: date) -> int:
        """Appointments known on ``local_date`` (0 if none or not loaded)."""
        return self._counts.get(local_date, 0)

    def closed_reason(self, local_date: date) -> str | None:
        """Why the branch is closed on ``local_date``, or ``None``."""
        return self._closed.get(local_date)

    # -- internals -------------------------------------------------------------------------
    def _refresh(self) -> None:
        self.setDateTextFormat(QDate(), QTextCharFormat())  # a null date clears every format
        shown: set[date] = set()
        if self._shown is not None:
            d, last = self._shown
            while d <= last:
                shown.add(d)
                d += timedelta(days=1)
        for d in set(self._counts) | set(self._closed) | shown:
            fmt = QTextCharFormat()
            tips = []
            count = self._counts.get(d, 0)
            if count:
                fmt.setFontWeight(QFont.Weight.Bold)
                tips.append(f"{count} appointment{'s' if count != 1 else ''}")
            reason = self._closed.get(d)
            if reason:
                fmt.setForeground(QBrush(CLOSED_TEXT))
                tips.append(reason)
            if d in shown:
                fmt.setBackground(QBrush(SHOWN_BACKGROUND))
            if tips:
                fmt.setToolTip(" · ".join(tips))
            self.setDateTextFormat(_qdate(d), fmt)

    def _on_date_picked(self, qdate: QDate) -> None:
        self.date_chosen.emit(_date(qdate))

    def _on_page_changed(self, year: int, month: int) -> None:
        self.month_shown.emit(year, month)
