"""The week grid's table model: Monday to Sunday side by side, a column per day and resource.

Logic only (no widgets). Columns are grouped by day: for each of the seven days, one
column per resource shown (the resource set or the saved selection, as in the day
model), in the usual order (kind, then name); header ``"Mon 4 Jan\\nAna Souza"``.
Rows are the 15-minute *local wall-clock* lines over the union of the days' ranges
(``DayView.rows``): row ``07:00`` is 07:00 on every day, so each cell has its own UTC
instant (:meth:`WeekGridModel.cell_instant`).

DST: a wall-clock time the clocks skip on one day (spring forward) is a row on the
other days and a ``"missing"`` cell (shaded unavailable, never bookable) on that day;
on the day the clocks go back the repeated hour gets its own rows, labelled
``"02:00 (2nd)"``, which are ``"missing"`` on the other days.

Everything else — blocks, spans, roles, tooltips, markers, the resource set and the
filter — is :class:`~.day_model.ScheduleGridModel`'s, so :class:`~.day_view.DayGridView`
shows, books, drags and navigates the week as it does a day.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject

from ..domain.slots import KINDS
from ..domain.wallclock import grid_starts
from ..services.dayview import DayView, GridResource, WeekView, local_time_text
from ..services.scheduling import AppointmentView
from .day_model import KIND_LABELS, ScheduleGridModel

#: A row of the week: (minutes from local midnight on the wall clock, occurrence: 0, or 1 for the
#: second pass of a time repeated when the clocks go back).
WallKey = tuple[int, int]


def _wall_keys(instants: list[datetime], tz: ZoneInfo) -> list[WallKey]:
    """The wall-clock key of each grid instant of one local day (in order)."""
    seen: set[int] = set()
    keys = []
    for instant in instants:
        local = instant.astimezone(tz)
        minute = local.hour * 60 + local.minute
        keys.append((minute, 1 if minute in seen else 0))
        seen.add(minute)
    return keys


def _order(keys_by_day: list[list[WallKey]]) -> dict[WallKey, tuple[float, int]]:
    """A sort key for every wall key: first passes by minute; a second pass right after the last
    first-pass minute before the clocks went back (just before the next first-pass line)."""
    order: dict[WallKey, tuple[float, int]] = {}
    for keys in keys_by_day:
        next_first = 1440.0
        for minute, occurrence in reversed(keys):
            if occurrence == 0:
                next_first = minute
                order[(minute, 0)] = (float(minute), minute)
            else:
                order.setdefault((minute, occurrence), (next_first - 0.5, minute))
    return order


def _day_label(d: date) -> str:
    """``"Mon 4 Jan"``."""
    return f"{d:%a} {d.day} {d:%b}"


class WeekGridModel(ScheduleGridModel):
    """One branch's week (Monday–Sunday) as a table; see the module docstring for the layout.

    Fill it with :meth:`set_week`; :meth:`set_resource_set` and :meth:`set_resource_filter`
    choose the resources as in the day model. All reset the model. Besides the base class's
    interface: :attr:`week`, :meth:`day_of_column` / :meth:`date_of_column` (the day of a column),
    :meth:`columns_of_date`.
    """

    #: Week columns are narrower than the day's (seven days side by side); many resources scroll.
    MIN_COLUMN_WIDTH = 120

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._week: WeekView | None = None
        self._per_day = 0  # columns per day
        self._keys: list[WallKey] = []
        # Per day: the UTC start of every row (None where the wall time does not exist that day) …
        self._row_instants: list[list[datetime | None]] = []
        # … and the rows that exist, as ascending instants and their rows (for bisecting).
        self._day_instants: list[list[datetime]] = []
        self._day_rows: list[list[int]] = []

    # -- filling -------------------------------------------------------------------
    def set_week(self, week: WeekView | None) -> None:
        """Show ``week`` (or nothing); keeps the chosen resource set and filter."""
        self.beginResetModel()
        self._week = week
        self._rebuild()
        self.endResetModel()

    def _build(self) -> None:
        self._per_day, self._keys = 0, []
        self._row_instants, self._day_instants, self._day_rows = [], [], []
        week = self._week
        if week is None or not week.days:
            return
        tz = week.tz
        self._step = timedelta(minutes=week.days[0].step_min)
        # Rows: every wall key of the seven days' full grids between the first and the last shown.
        grids = [grid_starts(d.local_date, tz, d.step_min) for d in week.days]
        keys_by_day = [_wall_keys(g, tz) for g in grids]
        order = _order(keys_by_day)
        shown = [order[k] for d, keys, grid in zip(week.days, keys_by_day, grids, strict=True)
                 for k, instant in zip(keys, grid, strict=True) if d.rows and d.rows[0] <= instant <= d.rows[-1]]
        if not shown:
            return
        lo, hi = min(shown), max(shown)
        self._keys = sorted((k for k, o in order.items() if lo <= o <= hi), key=order.__getitem__)
        self._labels = [f"{m // 60:02d}:{m % 60:02d}" + (" (2nd)" if occ else "") for m, occ in self._keys]
        self._hour_rows = [m % 60 == 0 for m, _ in self._keys]
        for keys, grid in zip(keys_by_day, grids, strict=True):
            at = dict(zip(keys, grid, strict=True))
            row_instants = [at.get(k) for k in self._keys]
            self._row_instants.append(row_instants)
            self._day_rows.append([r for r, i in enumerate(row_instants) if i is not None])
            self._day_instants.append([i for i in row_instants if i is not None])

        # Columns: the union of the days' resources, in the day view's order, day by day.
        union: dict[int, GridResource] = {}
        for d in week.days:
            for r in d.resources:
                union.setdefault(r.id, r)
        resources = sorted((r for r in union.values() if self.shows_resource(r)),
                           key=lambda r: (KINDS.index(r.kind) if r.kind in KINDS else len(KINDS), r.name))
        self._per_day = len(resources)
        for index, day in enumerate(week.days):
            own = {r.id: r for r in day.resources}
            base = len(self._columns)
            for r in resources:
                # A resource another day lists (booked there only) does not work this day.
                self._columns.append(own.get(r.id) or replace(r, availability=(), time_off=()))
                self._column_day.append(day)
                self._group_end.append(False)
            if resources:
                self._group_end[-1] = True
            self._place(day, {r.id: base + i for i, r in enumerate(resources)},
                        self._day_instants[index], self._day_rows[index])

    # -- read access -----------------------------------------------------------------
    @property
    def week(self) -> WeekView | None:
        """The ``WeekView`` shown, or ``None``."""
        return self._week

    @property
    def tz(self) -> ZoneInfo | None:
        """The branch's zone, or ``None`` when no week is shown."""
        return self._week.tz if self._week is not None else None

    @property
    def columns_per_day(self) -> int:
        """Resources shown for each day."""
        return self._per_day

    def columns_of_date(self, local_date: date) -> range:
        """The columns of branch-local ``local_date`` (empty if not in the week)."""
        index = self._day_index(local_date)
        if index is None or not self._per_day:
            return range(0)
        return range(index * self._per_day, (index + 1) * self._per_day)

    def _day_index(self, local_date: date) -> int | None:
        if self._week is None:
            return None
        offset = (local_date - self._week.monday).days
        return offset if 0 <= offset < len(self._week.days) else None

    def cell_instant(self, row: int, column: int) -> datetime | None:
        """UTC start of the cell: the row's wall-clock time on the column's day (``None`` when
        that time does not exist that day, or off the grid)."""
        if not self._per_day or not 0 <= column < len(self._columns) or not 0 <= row < len(self._keys):
            return None
        return self._row_instants[column // self._per_day][row]

    def row_of(self, instant: datetime, column: int | None = None) -> int | None:
        """The row whose 15-minute step contains ``instant`` (aware) on ``column``'s day, or (no
        column) on the local date ``instant`` falls on; ``None`` if not shown."""
        if self._week is None or not self._keys:
            return None
        if column is None:
            day = self._day_index(instant.astimezone(self._week.tz).date())
        else:
            day = column // self._per_day if self._per_day and 0 <= column < len(self._columns) else None
        if day is None:
            return None
        instants = self._day_instants[day]
        i = bisect_right(instants, instant) - 1
        if i < 0 or instant >= instants[i] + self._step:
            return None
        return self._day_rows[day][i]

    def now_columns(self, now: datetime) -> tuple[int, int] | None:
        """The columns of the day ``now`` falls on, when it is on the grid."""
        if self._week is None or self.row_of(now) is None:
            return None
        cols = self.columns_of_date(now.astimezone(self._week.tz).date())
        return (cols[0], cols[-1]) if cols else None

    # -- texts ---------------------------------------------------------------------------
    def _when_text(self, row: int, column: int) -> str:
        return f"{_day_label(self._column_day[column].local_date)} {self._labels[row]}"

    def _times_text(self, appt: AppointmentView, column: int) -> str:
        tz = self._column_day[column].tz
        start = appt.start.astimezone(tz)
        return f"{_day_label(start.date())}, {local_time_text(appt.start, tz)}–{local_time_text(appt.end, tz)}"

    def _column_header(self, column: int) -> str:
        return f"{_day_label(self._column_day[column].local_date)}\n{self._columns[column].name}"

    def _column_tip(self, column: int) -> str:
        day: DayView = self._column_day[column]
        res = self._columns[column]
        d = day.local_date
        note = f"\nHoliday: {day.holiday}" if day.holiday else ("\nBranch closed" if day.closed else "")
        return (f"{d:%A} {d.day} {d:%B %Y}\n{res.name}\n{KIND_LABELS.get(res.kind, res.kind)} · "
                f"{res.category}{note}")

    def _row_tip(self, row: int) -> str:
        return f"{self._labels[row]} on the branch's clock"
