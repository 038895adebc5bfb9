"""The status actions on one appointment (check in, start, complete, no-show, cancel).

The definitions are plain data shared by the grid's context menu and the
window's "Appointment" actions, so both offer the same labels, shortcuts and
rules. Whether an action is allowed comes from the lifecycle in
``domain.status.TRANSITIONS`` (the database enforces the same rule).

The one widget here is the small prompt for a cancellation's reason: it is
opened with ``open()``, never ``exec()`` (see ``ui.messages``), and reports a
reason through a callback, so nothing waits on it.

The booking lifecycle (issue 4) adds :data:`LIFECYCLE_ACTIONS` — confirm a
hold, approve a request, cancel on the patient's behalf — and
:data:`PAYMENT_ACTION` (open the payment dialog). They are a second table, not
part of ``ACTIONS``, because each needs its own service call rather than a
plain status change: :func:`perform` runs one of them (or any ``ACTIONS``
entry) with the right service, so a window can dispatch every action through
it. Shortcuts: Ctrl+Shift+H (confirm hold), Ctrl+Shift+A (approve),
Shift+Del (cancelled by the patient), Ctrl+Shift+M (payments).

Shortcut choice: the issue asked for Ctrl+T (Start) and Ctrl+N (No-show), but
the window already binds Ctrl+T to "Today" and Ctrl+N (``QKeySequence.New``) to
"New appointment…"; two actions on one key make Qt fire neither ("ambiguous
shortcut"), so Start and No-show take Ctrl+Shift+T and Ctrl+Shift+N.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from ..domain.status import NO_SHOW_GRACE_MINUTES, TRANSITIONS
from ..services import scheduling
from ..services.scheduling import AppointmentView
from ..store.database import Database


@dataclass(frozen=True)
class AppointmentAction:
    """One status action.

    ``key``: a stable identifier (object names, tests). ``label``: the menu text
    ("Cancel…" ends with an ellipsis because it asks something first).
    ``target``: the status it moves the appointment to. ``shortcut``: portable
    ``QKeySequence`` text. ``done``: what the status bar says afterwards
    ("Checked in"). ``verb``: for error messages ("Could not check in …").
    ``asks_reason``: a required reason is asked before anything is written.
    ``asks_confirmation``: the receptionist confirms first (No-show sits next to Ctrl+N: a slip of the
    finger must not mark a patient).
    """

    key: str
    label: str
    target: str
    shortcut: str
    done: str
    verb: str
    asks_reason: bool = False
    asks_confirmation: bool = False


#: Every status action, in menu order.
ACTIONS: tuple[AppointmentAction, ...] = (
    AppointmentAction("check_in", "Check in", "checked_in", "Ctrl+I", "Checked in", "check in"),
    AppointmentAction("start", "Start", "in_progress", "Ctrl+Shift+T", "Started", "start"),
    AppointmentAction("complete", "Complete", "completed", "Ctrl+E", "Completed", "complete"),
    AppointmentAction("no_show", "No-show…", "no_show", "Ctrl+Shift+N", "Marked as no-show", "mark as no-show",
                      asks_confirmation=True),
    AppointmentAction("cancel", "Cancel…", "cancelled", "Del", "Cancelled", "cancel", asks_reason=True),
)


@dataclass(frozen=True)
class LifecycleAction:
    """A lifecycle action that is more than a status change (issue 4).

    ``key``, ``label``, ``shortcut``, ``done``, ``verb``, ``asks_reason`` as in
    :class:`AppointmentAction`; ``sources``: the statuses it is offered in;
    ``by``: who cancels (``cancel_by_patient``); ``opens_dialog``: it opens a
    dialog instead of changing anything itself (payments).
    """

    key: str
    label: str
    shortcut: str
    done: str
    verb: str
    sources: frozenset[str]
    asks_reason: bool = False
    by: str | None = None
    opens_dialog: bool = False


_CANCELLABLE = frozenset(s for s, targets in TRANSITIONS.items() if "cancelled" in targets)

#: Confirm a hold (it becomes whatever the service's mode and deposit say), approve a request,
#: cancel on the patient's behalf (late or early by the policy), in menu order.
LIFECYCLE_ACTIONS: tuple[LifecycleAction, ...] = (
    LifecycleAction("confirm_hold", "Confirm hold", "Ctrl+Shift+H", "Hold confirmed", "confirm the hold of",
                    frozenset({"held"})),
    LifecycleAction("approve", "Approve request", "Ctrl+Shift+A", "Approved", "approve",
                    frozenset({"requested"})),
    LifecycleAction("cancel_by_patient", "Cancelled by patient…", "Shift+Del", "Cancelled (by the patient)",
                    "cancel", _CANCELLABLE, asks_reason=True, by="patient"),
)

#: "Payments…": the payment dialog (``ui.payment_dialog.PaymentDialog``) for the appointment.
PAYMENT_ACTION = LifecycleAction("payments", "Payments…", "Ctrl+Shift+M", "", "take a payment for",
                                 frozenset(TRANSITIONS) - {"rescheduled"}, opens_dialog=True)


def lifecycle_allowed(action: LifecycleAction, status: str | None) -> bool:
    """Whether ``action`` is offered for an appointment in ``status`` (``None``: never)."""
    return status is not None and status in action.sources


def perform(db: Database, action: AppointmentAction | LifecycleAction, appointment_id: int,
            reason: str | None = None) -> AppointmentView:
    """Run ``action`` on the appointment with the service it needs (call it through the runner).

    ``confirm_hold`` → ``scheduling.confirm_hold``; ``approve`` →
    ``scheduling.approve``; a cancellation → ``scheduling.cancel`` with
    ``reason`` and who cancels (``by``; the plain "Cancel…" is the clinic's);
    any other ``AppointmentAction`` → ``scheduling.set_status`` to its target.
    Raises what those raise; ``ValueError`` for a dialog action.
    """
    if isinstance(action, LifecycleAction):
        if action.opens_dialog:
            raise ValueError(f"{action.key} opens a dialog; it changes nothing by itself")
        if action.key == "confirm_hold":
            return scheduling.confirm_hold(db, appointment_id)
        if action.key == "approve":
            return scheduling.approve(db, appointment_id)
        return scheduling.cancel(db, appointment_id, reason=reason or "", by=action.by or "clinic")
    if action.target == "cancelled":
        return scheduling.cancel(db, appointment_id, reason=reason or "")
    return scheduling.set_status(db, appointment_id, action.target)


def is_allowed(action: AppointmentAction, status: str | None, *, start: datetime | None = None,
               now: datetime | None = None, grace_minutes: int = NO_SHOW_GRACE_MINUTES) -> bool:
    """Whether ``action`` may be applied to an appointment in ``status`` (``None`` or unknown: never).

    With ``start`` and ``now`` (aware datetimes) an outcome waits for the time: "Complete" is held back
    until the start, and "No-show" until ``grace_minutes`` after it (the clinic's
    ``no_show_grace_minutes``; a patient a few minutes late is no no-show). The database refuses
    both before the start whatever the client does (db/sql/statuses.sql).
    """
    if status is None or action.target not in TRANSITIONS.get(status, ()):
        return False
    if start is not None and now is not None:
        if action.target == "no_show":
            return now >= no_show_from(start, grace_minutes)
        if action.target == "completed":
            return now >= start
    return True


def no_show_from(start: datetime, grace_minutes: int = NO_SHOW_GRACE_MINUTES) -> datetime:
    """When "No-show" is first offered for an appointment starting at ``start``: ``grace_minutes``
    (the clinic's setting) later."""
    return start + timedelta(minutes=grace_minutes)


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
        v.addWidget(QLabel(f"Cancel {about}?"))
        #: What the cancellation means for the money, once read (:meth:`set_terms`).
        self.terms_label = QLabel("Checking the cancellation policy…")
        self.terms_label.setObjectName("cancelTerms")
        self.terms_label.setAccessibleName("What happens to the money")
        self.terms_label.setWordWrap(True)
        self.terms_label.setMinimumWidth(420)
        v.addWidget(self.terms_label)
        label = QLabel("Reason (required; it is kept in the record):")
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

    def set_terms(self, text: str, *, late: bool = False) -> None:
        """Show what the cancellation means for the money (``Account.cancellation_words``), in bold
        when it costs the patient a fee (``late``)."""
        self.terms_label.setText(f"<b>{escape(text)}</b>" if late else escape(text))
        self.adjustSize()   # the words arrive after the dialog is shown: make room for them

    def reason(self) -> str:
        """The reason typed, without surrounding blanks."""
        return self.reason_edit.text().strip()

    def _on_reason_text_changed(self, _text: str) -> None:
        self.ok_button.setEnabled(bool(self.reason()))

    def accept(self) -> None:
        """Close with the reason, unless it is empty."""
        if self.reason():
            super().accept()


def ask_cancel_reason(parent: QWidget, about: str, on_reason: Callable[[str], None]) -> CancelReasonDialog:
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
