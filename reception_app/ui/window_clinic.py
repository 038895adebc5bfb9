"""The main window's lifecycle and clinic tools: visits, series, waitlist, rosters, overrides.

Each entry opens a self-contained dialog (its own module) with the window's
database, runner, branch and clock, offered only when the signed-in role's
capabilities allow it (``domain.roles``; the database's grants are the real
guard). The window's :class:`~.dialog_manager.DialogManager` opens each one
once (asking again brings the open one forward) where it was last. Whatever a
dialog commits is published on the window's change bus as one ``Changes``
(``WindowBase.changes_from``: the appointments of a visit or series, or the
branch shown; rosters for a roster change), and the views reload from that.

Shortcuts: New visit Ctrl+Shift+V, New series Ctrl+Shift+E, Waitlist
Ctrl+Shift+L, Rosters Ctrl+Shift+R, Force booking Ctrl+Shift+F, Reports
Ctrl+Shift+G, Overrides log Ctrl+Shift+O, Cancel series Ctrl+Shift+X, Force
move Ctrl+Shift+J, Failed reminders Ctrl+Shift+B, an appointment's reminders
Ctrl+Shift+U. The other
letters are taken (see the shortcut sheet, F1).

"History…" (managers and admins, ``history_dialog.may_read_history``; in the
block's context menu and the Appointment menu) shows who changed the selected
appointment, its bookings and payments, when (branch-local) and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from ..services.scheduling import MOVABLE_STATUSES, get_appointment
from . import local_formats
from .changes import Changes
from .history_dialog import may_read_history
from .window_base import WindowBase

if TYPE_CHECKING:  # the dialogs are imported when first opened: start-up stays fast (make bench startup)
    from ..services.patients import PatientView
    from ..services.scheduling import AppointmentView
    from ..store.database import Database
    from .history_dialog import HistoryDialog
    from .override_dialogs import ForceBookingDialog, ForceMoveDialog, OverridesLogWindow
    from .refunds_dialog import RefundsDueDialog
    from .reminders_dialog import AppointmentRemindersDialog, FailedRemindersDialog
    from .reports_window import ReportsWindow
    from .roster_dialog import RosterDialog
    from .series_dialog import CancelSeriesDialog, SeriesDialog
    from .visit_dialog import VisitDialog
    from .waitlist_dialog import WaitlistDialog

def _shortcut(key: Qt.Key) -> QKeySequence:
    return QKeySequence(Qt.Modifier.CTRL | Qt.Modifier.SHIFT | key)


class WindowClinic(WindowBase):
    """Visits, recurring series, the waitlist, rosters, forced bookings and the overrides log.

    Needs from the window: ``find_patient`` (the search opened when no patient
    is at hand), ``current_appointment``, ``appointment_actions.on_moved`` and the
    dialog manager (``dialogs``, which announces each dialog with ``dialog_opened``).
    """
    #: Where reports read from when it is not the window's own database (a read replica; set by the app).
    reports_db: Database | None = None

    def _build_clinic_actions(self) -> None:
        """Create the actions (added to the menus by :meth:`_add_clinic_menus`)."""

        def make(text: str, name: str, tip: str, slot: Callable[[], object], key: Qt.Key | None = None) -> QAction:
            action = QAction(text, self)
            action.setObjectName(name)
            action.setStatusTip(tip)
            if key is not None:
                action.setShortcut(_shortcut(key))
            action.triggered.connect(lambda _checked=False: slot())
            self.addAction(action)
            return action

        self.new_visit_action = make("New visit…", "newVisit",
                                     "Book several appointments for one patient together (all or nothing)",
                                     self.open_visit_dialog, Qt.Key.Key_V)
        self.new_series_action = make("New recurring series…", "newSeries",
                                      "Book a recurring series, e.g. every Tuesday at 10:00 for 8 weeks",
                                      self.open_series_dialog, Qt.Key.Key_E)
        self.waitlist_action = make("Waitlist…", "waitlist",
                                    "Patients waiting for a freed slot, and the open offers",
                                    self.open_waitlist, Qt.Key.Key_L)
        self.rosters_action = make("Rosters, leave and holidays…", "rosters",
                                   "Doctors' weekly shifts, date exceptions, leave, blocks and branch holidays",
                                   self.open_rosters, Qt.Key.Key_R)
        self.force_book_action = make("Force booking…", "forceBooking",
                                      "Book over a block or outside a shift, with a reason (logged)",
                                      self.open_force_booking, Qt.Key.Key_F)
        self.overrides_log_action = make("Overrides log", "overridesLog",
                                         "Who overrode the clinic's rules, when, what and why",
                                         self.open_overrides_log, Qt.Key.Key_O)
        self.reports_action = make("Reports…", "reports",
                                   "No-show, utilization, cancellations, load and operations reports",
                                   self.open_reports, Qt.Key.Key_G)
        self.failed_reminders_action = make("Failed reminders…", "failedReminders",
                                            "Reminders that could not be sent: whom to phone",
                                            self.open_failed_reminders, Qt.Key.Key_B)
        self.refunds_due_action = make("Refunds due…", "refundsDue",
                                       "Refunds the cancellation policy owes patients and nobody has handed back "
                                       "yet: record each one", self.open_refunds_due, Qt.Key.Key_K)
        self.appointment_reminders_action = make("Reminders…", "appointmentReminders",
                                                 "The selected appointment's confirmation and reminders, and "
                                                 "whether they were sent", self.open_appointment_reminders,
                                                 Qt.Key.Key_U)
        self.appointment_reminders_action.setEnabled(False)
        self.cancel_series_action = make("Cancel series…", "cancelSeries",
                                         "Cancel this occurrence, this and the following, or the whole series",
                                         self.open_cancel_series, Qt.Key.Key_X)
        self.cancel_series_action.setEnabled(False)  # follows the selected appointment
        self.force_move_action = make("Force move…", "forceMove",
                                      "Move the patient or change the doctor over the rules, with a reason (logged)",
                                      self.open_force_move, Qt.Key.Key_J)
        self.force_move_action.setEnabled(False)
        self.appointment_history_action = make("History…", "appointmentHistory",
                                               "Who changed the selected appointment, its bookings and payments, "
                                               "when and why", self.open_appointment_history)
        self.appointment_history_action.setEnabled(False)  # follows the selected appointment
        self.appointment_history_action.setVisible(may_read_history(self.capabilities))
        caps = self.capabilities
        for action, allowed in ((self.new_visit_action, caps.book), (self.new_series_action, caps.book),
                                (self.waitlist_action, caps.book), (self.rosters_action, caps.rosters),
                                (self.failed_reminders_action, caps.book),
                                (self.refunds_due_action, caps.book),
                                (self.force_book_action, caps.overrides),
                                (self.overrides_log_action, caps.overrides or caps.reports),
                                (self.reports_action, caps.reports)):
            action.setVisible(allowed)
            action.setEnabled(allowed)

    def _add_clinic_menus(self, appointment_menu: QMenu) -> QMenu:
        """Add the booking entries to ``appointment_menu`` and return the new "Clinic" menu."""
        appointment_menu.addSeparator()
        appointment_menu.addActions([self.appointment_reminders_action, self.appointment_history_action,
                                     self.new_visit_action,
                                     self.new_series_action, self.cancel_series_action,
                                     self.force_book_action, self.force_move_action])
        menu = self.menuBar().addMenu("&Clinic")
        menu.setObjectName("clinicMenu")
        menu.addActions([self.waitlist_action, self.failed_reminders_action, self.refunds_due_action,
                         self.rosters_action, self.overrides_log_action])
        menu.addSeparator()
        menu.addAction(self.reports_action)
        return menu

    # -- patients for visits and series -------------------------------------------------------------
    def _patient_at_hand(self) -> tuple[int, str] | None:
        appt = self.current_appointment()
        if appt is None or appt.patient_id is None:   # None: an online hold, the patient still typing
            return None
        return appt.patient_id, appt.patient

    def _ask_for_patient(self, what: str) -> None:
        self.statusBar().showMessage(f"Find the patient, open their record and press “{what}”.", 15_000)
        self.find_patient()

    def _booking_args(self) -> dict | None:
        if self.branch is None or not self.capabilities.book:
            return None
        return {"branch": self.branch.name, "timezone": self.branch.timezone, "day": self.day,
                "clock": self._clock}

    def open_visit_dialog(self, patient: PatientView | None = None) -> VisitDialog | None:
        """Book several appointments together for ``patient`` (default: the selected appointment's
        patient; with none at hand the patient search opens, whose record has "Book a visit…")."""
        args = self._booking_args()
        who = (patient.id, patient.name) if patient is not None else self._patient_at_hand()
        if args is None:
            return None
        if who is None:
            self._ask_for_patient("Book a visit…")
            return None
        from .visit_dialog import VisitDialog

        def make() -> VisitDialog:
            dialog = VisitDialog(self._db, self.runner, patient_id=who[0], patient_name=who[1], parent=self, **args)
            dialog.visit_booked.connect(self._publish_committed)
            return dialog
        return self.dialogs.open(f"visit/{who[0]}", make)

    def open_series_dialog(self, patient: PatientView | None = None) -> SeriesDialog | None:
        """Plan and book a recurring series for ``patient`` (default as :meth:`open_visit_dialog`)."""
        args = self._booking_args()
        who = (patient.id, patient.name) if patient is not None else self._patient_at_hand()
        if args is None:
            return None
        if who is None:
            self._ask_for_patient("Book a series…")
            return None
        from .series_dialog import SeriesDialog

        def make() -> SeriesDialog:
            dialog = SeriesDialog(self._db, self.runner, patient_id=who[0], patient_name=who[1], parent=self, **args)
            dialog.series_booked.connect(self._publish_committed)
            return dialog
        return self.dialogs.open(f"series/{who[0]}", make)

    def update_series_action(self, appointment: AppointmentView | None) -> None:
        """Offer "Cancel series…" for an occurrence of a series that reception may change, and
        "Force move…" (managers, admins) for an appointment whose patient has not arrived."""
        self.cancel_series_action.setVisible(self.capabilities.book)
        self.cancel_series_action.setEnabled(self.capabilities.book and appointment is not None
                                             and appointment.series_id is not None
                                             and appointment.status != "cancelled")
        self.appointment_reminders_action.setEnabled(appointment is not None)
        self.appointment_history_action.setEnabled(appointment is not None and may_read_history(self.capabilities))
        self.force_move_action.setVisible(self.capabilities.overrides)
        self.force_move_action.setEnabled(self.capabilities.overrides and appointment is not None
                                          and appointment.status in MOVABLE_STATUSES)

    def open_appointment_history(self) -> HistoryDialog | None:
        """The selected appointment's change history — the appointment, its resource bookings and
        payments — in the branch's local time (managers and admins)."""
        appt = self.current_appointment()
        if appt is None or self.branch is None or not may_read_history(self.capabilities):
            return None
        from .history_dialog import HistoryDialog

        tz = self.branch.tz
        about = f"{appt.patient}, {appt.service} {local_formats.day_time(appt.start.astimezone(tz))}"
        zone_text = f"branch-local time ({self.branch.name}, {self.branch.timezone})"
        return self.dialogs.open(f"history/{appt.id}", lambda: HistoryDialog(
            self._db, self.runner, table="appointment", row_id=appt.id, about=about, tz=tz, zone_text=zone_text,
            parent=self))

    def open_appointment_reminders(self) -> AppointmentRemindersDialog | None:
        """The selected appointment's confirmation, reminders and their status (Ctrl+Shift+U)."""
        appt = self.current_appointment()
        if appt is None or self.branch is None:
            return None
        about = f"{appt.patient} {local_formats.day_time(appt.start.astimezone(self.branch.tz))}"
        from .reminders_dialog import AppointmentRemindersDialog
        timezone = self.branch.timezone
        return self.dialogs.open(f"reminders/{appt.id}", lambda: AppointmentRemindersDialog(
            self._db, self.runner, appointment_id=appt.id, about=about, timezone=timezone, parent=self))

    def open_failed_reminders(self) -> FailedRemindersDialog | None:
        """Reminders that failed for good and are not handled: whom reception should phone (Ctrl+Shift+B)."""
        if not self.capabilities.book:
            return None
        from .reminders_dialog import FailedRemindersDialog

        def make() -> FailedRemindersDialog:
            dialog = FailedRemindersDialog(self._db, self.runner, branch=self.branch.name if self.branch else None,
                                           parent=self)
            dialog.reminder_handled.connect(self._publish_committed)
            return dialog
        return self.dialogs.open("failed-reminders", make, modal=False)

    def open_refunds_due(self) -> RefundsDueDialog | None:
        """Refunds the cancellation policy owes and nobody has handed back, of the branch shown, with
        one action to record each (Ctrl+Shift+K; the desk and the manager)."""
        if not self.capabilities.book:
            return None
        from .refunds_dialog import RefundsDueDialog

        def make() -> RefundsDueDialog:
            dialog = RefundsDueDialog(self._db, self.runner, branch=self.branch.name if self.branch else None,
                                      parent=self)
            dialog.refund_recorded.connect(self._publish_branch_changed)
            dialog.payments_requested.connect(self._open_payments_of)
            return dialog
        return self.dialogs.open("refunds-due", make, modal=False)

    def _open_payments_of(self, appointment_id: int) -> None:
        """The payments of appointment ``appointment_id`` (read first, in the background)."""
        db = self._db
        self.runner.run(lambda: get_appointment(db, appointment_id),
                        on_success=lambda appt: None if self.appointment_actions.open_payments(appt) else None,
                        label="open payments")

    def open_force_move(self) -> ForceMoveDialog | None:
        """Move the selected appointment over the rules or change its doctor, with a reason (logged)."""
        appt = self.current_appointment()
        if appt is None or self.branch is None or not self.capabilities.overrides \
                or appt.status not in MOVABLE_STATUSES:
            return None
        from .override_dialogs import ForceMoveDialog
        branch = self.branch  # narrowed to BranchSummary for the closure

        def make() -> ForceMoveDialog:
            dialog = ForceMoveDialog(self._db, self.runner, appointment=appt, timezone=branch.timezone,
                                     clock=self._clock, parent=self)
            dialog.appointment_moved.connect(self.appointment_actions.on_moved)
            return dialog
        return self.dialogs.open(f"force-move/{appt.id}", make)

    def open_cancel_series(self) -> CancelSeriesDialog | None:
        """Cancel occurrences of the selected appointment's series (one, following, all), with a reason."""
        appt = self.current_appointment()
        if appt is None or appt.series_id is None or not self.capabilities.book:
            return None
        tz = self.branch.tz if self.branch else None
        about = f"{appt.patient} {local_formats.day_time(appt.start.astimezone(tz))}"
        from .series_dialog import CancelSeriesDialog

        def make() -> CancelSeriesDialog:
            dialog = CancelSeriesDialog(self._db, self.runner, appointment=appt, about=about, clock=self._clock,
                                        parent=self)
            dialog.series_cancelled.connect(self._publish_committed)
            return dialog
        return self.dialogs.open(f"cancel-series/{appt.id}", make)

    # -- clinic tools -----------------------------------------------------------------------------------
    def open_waitlist(self) -> WaitlistDialog | None:
        """The branch's waitlist: entries, adding one, the open offers (accept, decline)."""
        if self.branch is None or not self.capabilities.book:
            return None
        from .waitlist_dialog import WaitlistDialog
        branch = self.branch  # narrowed to BranchSummary for the closure

        def make() -> WaitlistDialog:
            dialog = WaitlistDialog(self._db, self.runner, branch=branch, clock=self._clock, parent=self)
            for signal in (dialog.offer_accepted, dialog.offer_declined, dialog.entry_cancelled,
                           dialog.slots_processed):
                signal.connect(self._publish_branch_changed)
            return dialog
        return self.dialogs.open("waitlist", make)

    def open_rosters(self) -> RosterDialog | None:
        """Shifts, exceptions, leave, blocks and holidays (managers and admins)."""
        if not self.capabilities.rosters:
            return None
        from .roster_dialog import RosterDialog

        def make() -> RosterDialog:
            dialog = RosterDialog(self._db, self.runner, clock=self._clock,
                                  branch=self.branch.name if self.branch else None, parent=self)
            dialog.change_applied.connect(lambda _c: self.publish_changes(Changes(rosters=True)))
            return dialog
        return self.dialogs.open("rosters", make)

    def open_force_booking(self) -> ForceBookingDialog | None:
        """Book over a block or outside a shift with a reason (managers and admins; logged)."""
        if self.branch is None or not self.capabilities.overrides:
            return None
        from .override_dialogs import ForceBookingDialog
        branch = self.branch  # narrowed to BranchSummary for the closure

        def make() -> ForceBookingDialog:
            dialog = ForceBookingDialog(self._db, self.runner, branch=branch.name,
                                        timezone=branch.timezone, clock=self._clock, day=self.day, parent=self)
            dialog.appointment_booked.connect(self._publish_committed)
            return dialog
        return self.dialogs.open("force-booking", make)

    def open_overrides_log(self) -> OverridesLogWindow | None:
        """The overrides log: who overrode the clinic's rules, when, what and why (stays open beside
        the calendar)."""
        if not (self.capabilities.overrides or self.capabilities.reports):
            return None
        tz = self.branch.timezone if self.branch else "UTC"
        from .override_dialogs import OverridesLogWindow
        return self.dialogs.open("overrides-log", lambda: OverridesLogWindow(
            self._db, self.runner, timezone=tz, clock=self._clock, parent=self), modal=False)

    def open_reports(self) -> ReportsWindow | None:
        """The manager's reports (Ctrl+Shift+G), read from :attr:`reports_db` (a read replica when
        configured, ``config.reports_connection``) or the window's database; stays open beside the
        calendar."""
        if not self.capabilities.reports:
            return None
        from .reports_window import ReportsWindow
        return self.dialogs.open("reports", lambda: ReportsWindow(
            self.reports_db or self._db, self.runner, clock=self._clock, printed_by=self.printed_by, parent=self),
            modal=False)

    @property
    def clinic_windows(self) -> list[QWidget]:
        """The dialogs and tool windows open now (kept by the dialog manager)."""
        return self.dialogs.windows

    def _publish_committed(self, committed: object) -> None:
        """A dialog committed ``committed`` (an appointment, a visit, a series…): publish what changed."""
        self.publish_changes(self.changes_from(committed))

    def _publish_branch_changed(self, *_args: object) -> None:
        """A dialog changed the branch shown on days it does not say (the waitlist's offers)."""
        self.publish_changes(Changes.of_branch(self.branch.id) if self.branch is not None else Changes.all())
