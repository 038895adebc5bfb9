"""The status actions on one appointment (check in, start, complete, no-show, cancel).

The definitions are plain data shared by the grid's context menu and the
window's "Appointment" actions, so both offer the same labels, shortcuts and
rules. Whether an action is allowed comes from the lifecycle in
``domain.status.TRANSITIONS`` (the database enforces the same rule).

The one widget here is the small prompt for a cancellation's reason: it is
opened with ``open()``, never ``exec()`` (see ``ui.messages``), and reports a
reason through a callback, so nothing waits on it.

Shortcut choice: the issue asked for Ctrl+T (Start) and Ctrl+N (No-show), but
the window already binds Ctrl+T to "Today" and Ctrl+N (``QKeySequence.New``) to
"New appointment…"; two actions on one key make Qt fire neither ("ambiguous
shortcut"), so Start and No-show take Ctrl+Shift+T and Ctrl+Shift+N.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from ..domain.status import TRANSITIONS


@dataclass(frozen=True)
class AppointmentAction:
    """One status action.

    ``key``: a stable identifier (object names, tests). ``label``: the menu text
    ("Cancel…" ends with an ellipsis because it asks something first).
    ``target``: the status it moves the appointment to. ``shortcut``: portable
    ``QKeySequence`` text. ``done``: what the status bar says afterwards
    ("Checked in"). ``verb``: for error messages ("Could not check in …").
    ``asks_reason``: a required reason is asked before anything is written.
    """

    key: str
    label: str
    target: str
    shortcut: str
    done: str
    verb: str
    asks_reason: bool = False


#: Every status action, in menu order.
ACTIONS: tuple[AppointmentAction, ...] = (
    AppointmentAction("check_in", "Check in", "checked_in", "Ctrl+I", "Checked in", "check in"),
    AppointmentAction("start", "Start", "in_progress", "Ctrl+Shift+T", "Started", "start"),
    AppointmentAction("complete", "Complete", "completed", "Ctrl+E", "Completed", "complete"),
    AppointmentAction("no_show", "No-show", "no_show", "Ctrl+Shift+N", "Marked as no-show", "mark as no-show"),
    AppointmentAction("cancel", "Cancel…", "cancelled", "Del", "Cancelled", "cancel", asks_reason=True),
)


def is_allowed(action: AppointmentAction, status: str | None) -> bool:
    """Whether ``action`` may be applied to an appointment in ``status`` (``None`` or unknown: never)."""
    return status is not None and action.target in TRANSITIONS.get(status, ())


def allowed_actions(status: str | None) -> tuple[AppointmentAction, ...]:
    """The actions the lifecycle allows from ``status``, in menu order (empty for ``None`` or unknown)."""
    return tuple(a for a in ACTIONS if is_allowed(a, status))


# -- the reason prompt --------------------------------------------------------------------------------
class CancelReasonDialog(QDialog):
    """Asks why an appointment is cancelled; OK stays disabled until a reason is typed.

    Esc or "Keep appointment" rejects it and nothing happens.
    """

    def __init__(self, about: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cancelReasonDialog")
        self.setWindowTitle("Cancel appointment")
        self.setAccessibleName("Cancel appointment")
        v = QVBoxLayout(self)
        label = QLabel(f"Cancel {about}?\nReason (required; it is kept in the record):")
        v.addWidget(label)
        self.reason_edit = QLineEdit()
        self.reason_edit.setObjectName("cancelReason")
        self.reason_edit.setAccessibleName("Cancellation reason")
        self.reason_edit.setPlaceholderText("e.g. patient called to cancel")
        label.setBuddy(self.reason_edit)
        v.addWidget(self.reason_edit)
        self.buttons = QDialogButtonBox()
        self.ok_button = self.buttons.addButton("Cancel appointment", QDialogButtonBox.ButtonRole.AcceptRole)
        self.keep_button = self.buttons.addButton("Keep appointment", QDialogButtonBox.ButtonRole.RejectRole)
        self.ok_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.reason_edit.textChanged.connect(self._on_reason_text_changed)
        v.addWidget(self.buttons)
        self.setMinimumWidth(380)

    def reason(self) -> str:
        """The reason typed, without surrounding blanks."""
        return self.reason_edit.text().strip()

    def _on_reason_text_changed(self, _text: str) -> None:
        self.ok_button.setEnabled(bool(self.reason()))

    def accept(self) -> None:
        """Close with the reason, unless it is empty."""
        if self.reason():
            super().accept()


def ask_cancel_reason(parent: QWidget, about: str, on_reason: Callable[[str], None]) -> QDialog:
    """Ask (window-modal, non-blocking) why ``about`` ("Maria Silva 08:00") is cancelled.

    ``on_reason(reason)`` runs once with the non-empty reason if one is given;
    on Esc or "Keep appointment" nothing is called. Returns the dialog (it
    deletes itself when closed).
    """
    dialog = CancelReasonDialog(about, parent)
    dialog.accepted.connect(lambda: on_reason(dialog.reason()))
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog
