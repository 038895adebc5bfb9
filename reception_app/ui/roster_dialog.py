"""The roster dialog: a doctor's weekly pattern, date exceptions, leave and blocks, and branch holidays.

Every change goes through ``services.rosters`` in two steps: the preview (read
only) lists the appointments the change would leave outside the roster, with
the patients' phone numbers, in an :class:`ImpactDialog`; only when the user
confirms is the change applied, acknowledging exactly those appointments (the
service refuses if the set changed meanwhile, and the error is shown). Every
database call goes through the shared :class:`~.runner.Runner`; nothing here
blocks. Times are shown and entered on the branch's wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, QDateTime, QTime, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError, ValidationError
from ..domain.slots import WeeklyRule
from ..domain.validation import parse_date
from ..domain.wallclock import format_minute, local_to_utc, parse_hhmm_range
from ..services import dayview, rosters
from ..services.rosters import (
    AddHoliday,
    AddTimeOff,
    ClearException,
    DayException,
    RemoveHoliday,
    RemoveTimeOff,
    Roster,
    RosterChange,
    RosterImpact,
    WeeklyPattern,
)
from ..store.database import Database
from . import local_formats
from .colors import MessageLabel
from .runner import Clock, Runner

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def qdate(d: date) -> QDate:
    """A ``QDate`` of a local date."""
    return QDate(d.year, d.month, d.day)


def pydate(q: QDate) -> date:
    """The local date of a ``QDate``."""
    return date(q.year(), q.month(), q.day())


def parse_intervals(text: str, field: str = "hours") -> tuple[tuple[int, int], ...]:
    """``"08:00-12:00, 14:00-16:00"`` → ``((480, 720), (840, 960))``; blank → ``()`` (off that day).
    Raises ``ValidationError(field, …)``."""
    parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
    return tuple(parse_hhmm_range(p, field) for p in parts)


def _range_text(start_min: int | None, end_min: int | None) -> str:
    """``"08:00-12:00"`` (``24:00`` for a midnight end), or ``"off"`` for an exception without hours."""
    if start_min is None or end_min is None:
        return "off"
    return f"{format_minute(start_min)}-{format_minute(end_min)}"


class ImpactDialog(QDialog):
    """Confirm a roster change: what it is and the appointments it leaves outside the roster
    (date and time on the branch's wall clock, patient, phone, service, resource).

    ``impact``: the preview; ``tz``: the branch's zone. Accept = apply the change."""

    def __init__(self, impact: RosterImpact, tz: ZoneInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Confirm roster change")
        self.impact = impact
        layout = QVBoxLayout(self)
        n = len(impact.affected)
        if n:
            head = (f"{impact.description}.\n"
                    + (f"{n} booked appointments fall" if n != 1 else "1 booked appointment falls")
                    + " outside the new roster. They stay booked; call the patients to reschedule (a "
                    "notification is queued for each).")
        else:
            head = f"{impact.description}.\nNo booked appointment is affected."
        self.summary_label = QLabel(head)
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)
        self.affected_tree = QTreeWidget()
        self.affected_tree.setObjectName("affectedAppointments")
        self.affected_tree.setAccessibleName("Affected appointments")
        self.affected_tree.setHeaderLabels(["When", "Patient", "Phone", "Service", "Resource"])
        self.affected_tree.setRootIsDecorated(False)
        self.affected_tree.setAlternatingRowColors(True)
        for a in impact.affected:
            local = a.start.astimezone(tz)
            QTreeWidgetItem(self.affected_tree, [local_formats.day_time(local), a.patient,
                                                 local_formats.current().phone(a.phone) or "—", a.service, a.resource])
        for c in range(self.affected_tree.columnCount()):
            self.affected_tree.resizeColumnToContents(c)
        self.affected_tree.setVisible(bool(impact.affected))
        layout.addWidget(self.affected_tree, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.apply_button = self.buttons.addButton("Apply change", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        header = self.affected_tree.header()
        wide = sum(header.sectionSize(c) for c in range(header.count())) + 60
        self.resize(max(480, min(wide, 1000)), 380 if impact.affected else 160)


class RosterDialog(QDialog):
    """Manage one doctor's roster at one branch, and the branch's holidays.

    ``clock``: the current aware time (the impact counts appointments not finished by then).
    ``doctor``/``branch``: names selected first (default: the first of each).

    Signals:
        roster_loaded(object): the :class:`~.rosters.Roster` shown was (re)loaded.
        impact_previewed(object): a change's :class:`~.rosters.RosterImpact`; the
            confirmation (:attr:`confirm_dialog`) is open.
        change_applied(object): the change committed: its ``RosterChangeApplied``.
        error_shown(str): an expected error's message, shown in the dialog.
    """

    roster_loaded = Signal(object)
    impact_previewed = Signal(object)
    change_applied = Signal(object)
    error_shown = Signal(str)

    def __init__(self, db: Database, runner: Runner, *, clock: Clock | None = None, doctor: str | None = None,
                 branch: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Rosters, leave and holidays")
        self.resize(760, 560)
        self._db = db
        self._runner = runner
        self._clock = clock or (lambda: datetime.now(UTC))
        self._wanted = (doctor, branch)
        self.roster: Roster | None = None
        self.confirm_dialog: ImpactDialog | None = None

        layout = QVBoxLayout(self)
        pick = QFormLayout()
        self.doctor_combo = QComboBox()
        self.doctor_combo.setAccessibleName("Doctor")
        self.branch_combo = QComboBox()
        self.branch_combo.setAccessibleName("Branch")
        pick.addRow("&Doctor:", self.doctor_combo)
        pick.addRow("&Branch:", self.branch_combo)
        layout.addLayout(pick)
        self.message_label = MessageLabel()
        layout.addWidget(self.message_label)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs)
        self._build_weekly()
        self._build_exceptions()
        self._build_time_off()
        self._build_holidays()
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.doctor_combo.currentIndexChanged.connect(self._on_selection_changed)
        self.branch_combo.currentIndexChanged.connect(self._on_selection_changed)
        self._runner.run(lambda: (rosters.list_doctors(self._db), dayview.list_branches(self._db)),
                         on_success=self._on_lists_loaded, on_failure=self._show_error, key="roster-lists",
                         label="roster lists")

    # -- building ----------------------------------------------------------------------
    @staticmethod
    def _table(headers: list[str], name: str, editable: bool = False) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setAccessibleName(name)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        if not editable:  # (the weekly table keeps its row numbers: errors name the row)
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.verticalHeader().hide()
        return table

    def _tab(self, title: str, table: QTableWidget, form: QFormLayout | None,
             buttons: list[tuple[str, Callable[[], None]]]) -> list[QPushButton]:
        page = QWidget()
        v = QVBoxLayout(page)
        v.addWidget(table)
        if form is not None:
            v.addLayout(form)
        row = QHBoxLayout()
        made = []
        for text, slot in buttons:
            b = QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
            made.append(b)
        row.addStretch(1)
        v.addLayout(row)
        self.tabs.addTab(page, title)
        return made

    def _build_weekly(self) -> None:
        self.weekly_table = self._table(["Day", "Hours", "Valid from", "Valid until"], "Weekly shifts",
                                        editable=True)
        self.add_shift_button, self.remove_shift_button, self.save_pattern_button = self._tab(
            "&Weekly pattern", self.weekly_table, None,
            [("Add shift", self._on_add_shift_clicked), ("Remove shift", self._on_remove_shift_clicked),
             ("Save pattern…", self._on_save_pattern_clicked)])

    def _build_exceptions(self) -> None:
        self.exception_table = self._table(["Date", "Hours", "Note"], "Date exceptions")
        form = QFormLayout()
        self.exception_date = QDateEdit()
        self.exception_date.setCalendarPopup(True)
        self.exception_date.setDisplayFormat(local_formats.qt_date_format(weekday=False))
        self.exception_hours = QLineEdit()
        self.exception_hours.setPlaceholderText("e.g. 08:00-12:00, 14:00-16:00 — empty: off that day")
        self.exception_hours.setAccessibleName("Exception hours")
        self.exception_note = QLineEdit()
        self.exception_note.setAccessibleName("Exception note")
        form.addRow("Date:", self.exception_date)
        form.addRow("Hours:", self.exception_hours)
        form.addRow("Note:", self.exception_note)
        self.set_exception_button, self.clear_exception_button = self._tab(
            "Date &exceptions", self.exception_table, form,
            [("Set exception…", self._on_set_exception_clicked),
             ("Back to weekly pattern…", self._on_clear_exception_clicked)])

    def _build_time_off(self) -> None:
        self.time_off_table = self._table(["Kind", "From", "To", "Reason"], "Leave and blocks")
        form = QFormLayout()
        self.time_off_kind = QComboBox()
        for kind in rosters.TIME_OFF_KINDS:
            self.time_off_kind.addItem(dayview.TIME_OFF_KINDS.get(kind, kind), kind)
        self.time_off_kind.setAccessibleName("Kind of time off")
        self.time_off_from = QDateTimeEdit()
        self.time_off_until = QDateTimeEdit()
        for edit in (self.time_off_from, self.time_off_until):
            edit.setDisplayFormat(local_formats.qt_date_format(weekday=False) + " HH:mm")
            edit.setCalendarPopup(True)
        self.time_off_reason = QLineEdit()
        self.time_off_reason.setAccessibleName("Reason for the time off")
        form.addRow("Kind:", self.time_off_kind)
        form.addRow("From:", self.time_off_from)
        form.addRow("To:", self.time_off_until)
        form.addRow("Reason:", self.time_off_reason)
        self.add_time_off_button, self.remove_time_off_button = self._tab(
            "&Leave and blocks", self.time_off_table, form,
            [("Add leave or block…", self._on_add_time_off_clicked),
             ("Remove selected…", self._on_remove_time_off_clicked)])

    def _build_holidays(self) -> None:
        self.holiday_table = self._table(["Date", "Name"], "Branch holidays")
        form = QFormLayout()
        self.holiday_date = QDateEdit()
        self.holiday_date.setCalendarPopup(True)
        self.holiday_date.setDisplayFormat(local_formats.qt_date_format(weekday=False))
        self.holiday_name = QLineEdit()
        self.holiday_name.setAccessibleName("Holiday name")
        form.addRow("Date:", self.holiday_date)
        form.addRow("Name:", self.holiday_name)
        self.add_holiday_button, self.remove_holiday_button = self._tab(
            "&Holidays", self.holiday_table, form,
            [("Add holiday…", self._on_add_holiday_clicked), ("Remove selected holiday…", self._on_remove_holiday_clicked)])

    # -- loading ------------------------------------------------------------------------
    def _on_lists_loaded(self, lists: tuple[list[tuple[int, str]], list[dayview.BranchSummary]]) -> None:
        doctors, branches = lists
        for combo, names, wanted in ((self.doctor_combo, [n for _, n in doctors], self._wanted[0]),
                                     (self.branch_combo, [b.name for b in branches], self._wanted[1])):
            combo.blockSignals(True)
            combo.addItems(names)
            if wanted in names:
                combo.setCurrentIndex(names.index(wanted))
            combo.blockSignals(False)
        today = self._clock().date()
        for edit in (self.exception_date, self.holiday_date):
            edit.setDate(qdate(today))
        start = QDateTime(qdate(today), QTime(8, 0))
        self.time_off_from.setDateTime(start)
        self.time_off_until.setDateTime(start.addSecs(3600))
        self.reload()

    def _on_selection_changed(self, _index: int = 0) -> None:
        self.reload()

    def reload(self) -> None:
        """Read the selected doctor's roster at the selected branch again."""
        doctor, branch = self.doctor_combo.currentText(), self.branch_combo.currentText()
        if not doctor or not branch:
            return
        self._runner.run(lambda: rosters.load_roster(self._db, doctor=doctor, branch=branch),
                         on_success=self._on_roster_loaded, on_failure=self._show_error, key="roster",
                         label="load roster")

    def _on_roster_loaded(self, roster: Roster) -> None:
        self.roster = roster
        tz = ZoneInfo(roster.timezone)
        self._fill(self.weekly_table, [[WEEKDAYS[r.weekday], _range_text(r.start_min, r.end_min),
                                        r.valid_from.isoformat() if r.valid_from else "",
                                        r.valid_until.isoformat() if r.valid_until else ""]
                                       for r in roster.shifts])
        self._fill(self.exception_table, [[e.local_date.isoformat(), _range_text(e.start_min, e.end_min), e.note]
                                          for e in roster.exceptions])
        self._fill(self.time_off_table, [[dayview.TIME_OFF_KINDS.get(o.kind, o.kind), local_formats.day_time(o.start.astimezone(tz)),
                                          local_formats.day_time(o.end.astimezone(tz)), o.reason]
                                         for o in roster.time_off])
        self._fill(self.holiday_table, [[h.local_date.isoformat(), h.name] for h in roster.holidays])
        self.roster_loaded.emit(roster)

    @staticmethod
    def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
        table.setRowCount(0)
        for values in rows:
            r = table.rowCount()
            table.insertRow(r)
            for c, value in enumerate(values):
                table.setItem(r, c, QTableWidgetItem(value))

    # -- reading the forms ----------------------------------------------------------------
    def weekly_rules(self) -> tuple[WeeklyRule, ...]:
        """The weekly table as rules (raises ``ValidationError`` naming the row's problem)."""
        rules = []
        for r in range(self.weekly_table.rowCount()):
            items = [self.weekly_table.item(r, c) for c in range(4)]
            cells = [item.text().strip() if item is not None else "" for item in items]
            day = cells[0][:3].capitalize()
            if day not in WEEKDAYS:
                raise ValidationError(f"row {r + 1} day", cells[0], "must be Mon, Tue, Wed, Thu, Fri, Sat or Sun")
            start_min, end_min = parse_hhmm_range(cells[1], f"row {r + 1} hours")
            first = parse_date(cells[2], f"row {r + 1} valid from") if cells[2] else None
            until = parse_date(cells[3], f"row {r + 1} valid until") if cells[3] else None
            if first and until and until < first:
                raise ValidationError(f"row {r + 1} valid until", cells[3], "is before valid from")
            rules.append(WeeklyRule(WEEKDAYS.index(day), start_min, end_min, first, until))
        return tuple(rules)

    def _local(self, edit: QDateTimeEdit) -> datetime:
        assert self.roster is not None
        q = edit.dateTime()
        return local_to_utc(pydate(q.date()), q.time().hour() * 60 + q.time().minute(),
                            ZoneInfo(self.roster.timezone))

    def _selected_row(self, table: QTableWidget, what: str) -> int:
        row = table.currentRow()
        if row < 0:
            raise ValidationError(what, None, "select a row first")
        return row

    # -- actions ---------------------------------------------------------------------------
    def _on_add_shift_clicked(self) -> None:
        r = self.weekly_table.rowCount()
        self.weekly_table.insertRow(r)
        for c, value in enumerate(["Mon", "08:00-12:00", "", ""]):
            self.weekly_table.setItem(r, c, QTableWidgetItem(value))
        self.weekly_table.setCurrentCell(r, 0)

    def _on_remove_shift_clicked(self) -> None:
        if self.weekly_table.currentRow() >= 0:
            self.weekly_table.removeRow(self.weekly_table.currentRow())

    def _on_save_pattern_clicked(self) -> None:
        self._propose(lambda r: WeeklyPattern(r.doctor, r.branch, self.weekly_rules()))

    def _on_set_exception_clicked(self) -> None:
        self._propose(lambda r: DayException(r.doctor, r.branch, pydate(self.exception_date.date()),
                                             parse_intervals(self.exception_hours.text()),
                                             self.exception_note.text()))

    def _on_clear_exception_clicked(self) -> None:
        self._propose(lambda r: ClearException(r.doctor, r.branch, pydate(self.exception_date.date())))

    def _on_add_time_off_clicked(self) -> None:
        self._propose(lambda r: AddTimeOff(r.doctor, self._local(self.time_off_from),
                                           self._local(self.time_off_until), str(self.time_off_kind.currentData()),
                                           self.time_off_reason.text()))

    def _on_remove_time_off_clicked(self) -> None:
        self._propose(lambda r: RemoveTimeOff(
            r.time_off[self._selected_row(self.time_off_table, "time off")].id))

    def _on_add_holiday_clicked(self) -> None:
        self._propose(lambda r: AddHoliday(r.branch, pydate(self.holiday_date.date()), self.holiday_name.text()))

    def _on_remove_holiday_clicked(self) -> None:
        self._propose(lambda r: RemoveHoliday(
            r.branch, r.holidays[self._selected_row(self.holiday_table, "holiday")].local_date))

    def _propose(self, make: Callable[[Roster], RosterChange]) -> None:
        """Build the change from the form, preview it in the background, then ask to confirm."""
        if self.roster is None:
            return
        try:
            change = make(self.roster)
        except ClinicError as exc:
            self._show_error(exc)
            return
        self.message_label.hide()
        now = self._clock()
        self._runner.run(lambda: rosters.preview_change(self._db, change, now=now),
                         on_success=lambda impact: self._on_impact_previewed(change, impact),
                         on_failure=self._show_error, key="roster-preview", label="preview roster change")

    def _on_impact_previewed(self, change: RosterChange, impact: RosterImpact) -> None:
        assert self.roster is not None
        dialog = ImpactDialog(impact, ZoneInfo(self.roster.timezone), self)
        dialog.accepted.connect(lambda: self._apply(change, impact))
        self.confirm_dialog = dialog
        dialog.open()
        self.impact_previewed.emit(impact)

    def _apply(self, change: RosterChange, impact: RosterImpact) -> None:
        now = self._clock()
        ids = impact.appointment_ids
        self._runner.run(lambda: rosters.apply_change(self._db, change, acknowledged=ids, now=now),
                         on_success=self._on_change_applied, on_failure=self._show_error, key="roster-apply",
                         label="apply roster change")

    def _on_change_applied(self, applied: rosters.RosterChangeApplied) -> None:
        self.change_applied.emit(applied)
        self.reload()

    def _show_error(self, error: ClinicError) -> None:
        self.message_label.setText(str(error))
        self.message_label.show()
        self.error_shown.emit(str(error))
