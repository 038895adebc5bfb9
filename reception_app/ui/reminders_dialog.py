"""Reminders at the desk: the "failed reminders" list (whom to phone) with "Mark as handled", and
the text that shows one appointment's reminders and their status.

Every database call goes through the shared :class:`~.runner.Runner`
(``services.reminder_queries``); nothing here blocks the GUI thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError
from ..services import reminder_queries
from ..services.reminder_queries import FailedReminder, ReminderView
from ..store.database import Database
from . import local_formats
from .runner import Runner

PURPOSE_LABELS = {"confirmation": "Confirmation", "reminder": "Reminder", "payment": "Payment reminder",
                  "follow_up": "Follow-up", "waitlist_offer": "Waitlist offer", "roster_change": "Schedule change"}
CHANNEL_LABELS = {"email": "E-mail", "sms": "SMS", "whatsapp": "WhatsApp", "file": "Outbox (call)"}
COLUMNS = ("Patient", "Phone", "Appointment", "Channel", "Error", "Attempts")


def reminder_lines(reminders: Sequence[ReminderView], timezone: str) -> list[str]:
    """One line per reminder of an appointment for the window (details panel or tooltip), times in the
    branch's ``timezone``: ``"Reminder · SMS · Mon 04.01 08:00 · Sent"`` (+ ``" — error"`` when failed
    or cancelled)."""
    zone = ZoneInfo(timezone)
    lines = []
    for r in reminders:
        when = local_formats.day_time((r.sent_at or r.due_at).astimezone(zone))
        line = (f"{PURPOSE_LABELS.get(r.purpose, r.purpose)} · {CHANNEL_LABELS.get(r.channel, r.channel)} · "
                f"{when} · {r.status_label}")
        if r.status in ("failed", "cancelled") and r.error:
            line += f" — {r.error}"
        if r.handled_at is not None:
            line += " (handled)"
        lines.append(line)
    return lines


class FailedRemindersDialog(QDialog):
    """The reminders that failed for good and are not handled yet: patient, phone, appointment
    (branch-local start and service), channel, error and attempts. "Mark as handled" (after phoning
    the patient) removes the selected rows from the list.

    ``branch``: a branch name to show only its reminders (None: all branches).

    Signals:
        reminders_loaded(int): the list arrived (how many rows).
        reminder_handled(int): a reminder was marked handled (its id).
    """

    reminders_loaded = Signal(int)
    reminder_handled = Signal(int)

    def __init__(self, db: Database, runner: Runner, *, branch: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._runner = runner
        self._branch = branch
        self._rows: list[FailedReminder] = []
        self._key = f"failed-reminders-{id(self)}"
        self.setWindowTitle("Failed reminders" + (f" — {branch}" if branch else ""))
        self.resize(900, 420)
        layout = QVBoxLayout(self)
        self.summary_label = QLabel("Loading…")
        layout.addWidget(self.summary_label)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("failedRemindersTable")
        self.table.setAccessibleName("Failed reminders")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        layout.addWidget(self.table)
        self.error_label = QLabel("")
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.setWordWrap(True)
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.handled_button = QPushButton("&Mark as handled")
        self.handled_button.setEnabled(False)
        self.handled_button.clicked.connect(self.mark_selected_handled)
        self.reload_button = QPushButton("&Reload")
        self.reload_button.clicked.connect(self.reload)
        buttons.addButton(self.handled_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.reload_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.reload()

    def done(self, result: int) -> None:
        self._runner.discard(self._key, self._key + "-mark")
        super().done(result)

    @property
    def rows(self) -> list[FailedReminder]:
        """The failed reminders shown, in table order."""
        return list(self._rows)

    def reload(self) -> None:
        """Fetch the list again (in the background)."""
        db, branch = self._db, self._branch
        self._runner.run(lambda: reminder_queries.failed_reminders(db, branch=branch),
                         on_success=self._on_loaded, on_failure=self._on_failure, key=self._key,
                         label="failed reminders")

    def _on_loaded(self, rows: list[FailedReminder]) -> None:
        self._rows = rows
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            appointment = f"{local_formats.day_time(r.local_start)} · {r.service} · {r.branch}"
            values = (r.patient, r.phone or "—", appointment, CHANNEL_LABELS.get(r.channel, r.channel),
                      r.error, str(r.attempts))
            for j, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                if j == 5:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        self.summary_label.setText("No failed reminders." if not rows else
                                   f"{len(rows)} reminder{'s' if len(rows) != 1 else ''} could not be sent: "
                                   "please call these patients.")
        self.error_label.setText("")
        self._on_selection_changed()
        self.reminders_loaded.emit(len(rows))

    def _on_failure(self, error: ClinicError) -> None:
        self.error_label.setText(str(error))

    def _selected(self) -> list[FailedReminder]:
        picked = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self._rows[i] for i in picked if i < len(self._rows)]

    def _on_selection_changed(self) -> None:
        self.handled_button.setEnabled(bool(self._selected()))

    def mark_selected_handled(self) -> None:
        """Mark the selected reminders as handled (in the background), then reload the list."""
        chosen = [r.id for r in self._selected()]
        if not chosen:
            return
        db = self._db
        self.handled_button.setEnabled(False)

        def work() -> list[int]:
            for reminder_id in chosen:
                reminder_queries.mark_handled(db, reminder_id)
            return chosen

        def done(ids: list[int]) -> None:
            for reminder_id in ids:
                self.reminder_handled.emit(reminder_id)
            self.reload()

        self._runner.run(work, on_success=done, on_failure=self._on_failure, key=self._key + "-mark",
                         label="mark reminders handled")


class AppointmentRemindersDialog(QDialog):
    """One appointment's reminders and their status (confirmation, reminders, payment, follow-up…),
    one line each in the branch's local time (:func:`reminder_lines`), loaded through the runner.

    Signals:
        reminders_loaded(int): how many reminders the appointment has.
    """

    reminders_loaded = Signal(int)

    def __init__(self, db: Database, runner: Runner, *, appointment_id: int, about: str, timezone: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("appointmentRemindersDialog")
        self.setWindowTitle(f"Reminders — {about}")
        self.setAccessibleName(f"Reminders of {about}")
        self._timezone = timezone
        v = QVBoxLayout(self)
        self.status_label = QLabel("Loading…")
        self.status_label.setWordWrap(True)
        v.addWidget(self.status_label)
        self.list_label = QLabel()
        self.list_label.setObjectName("reminderLines")
        self.list_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.list_label.setWordWrap(True)
        v.addWidget(self.list_label, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        v.addWidget(buttons)
        self.resize(560, 260)
        self.lines: list[str] = []
        runner.run(lambda: reminder_queries.appointment_reminders(db, appointment_id), on_success=self._on_loaded,
                   on_failure=self._on_failed, label="appointment reminders")

    def _on_loaded(self, reminders: list[ReminderView]) -> None:
        self.lines = reminder_lines(reminders, self._timezone)
        self.status_label.setText(f"{len(reminders)} message(s) planned or sent for this appointment:"
                                  if reminders else "No messages are planned for this appointment.")
        self.list_label.setText("\n".join(self.lines))
        self.reminders_loaded.emit(len(reminders))

    def _on_failed(self, error: ClinicError) -> None:
        self.status_label.setText(f"The reminders could not be loaded: {error}")
