"""The main window's booking dialogs: book, walk in, reschedule, and the patients they start from.

:class:`WindowBooking` opens the booking dialog (one at a time; Ctrl+N, a
double-click or a range dragged on the grid), the walk-in and reschedule
dialogs, the patient search (Ctrl+F, or typing on the grid) and a patient's
record (Ctrl+O). Whatever they commit is published on the window's change bus
as one ``Changes`` (the appointment's branch and local day, its resources; a
patient's id when a record is saved; the day or branch when another
workstation took the time first), and the views reload from that.

The booking dialog (key ``"booking"``), the patient search (key
``"patient-search"``) and a patient's record (key ``"patient/<id>"``, from
Ctrl+O or from the search) are opened through the window's dialog manager like
the other dialogs: one of each at a time, with the size and place it last
had. The booking dialog is kept when closed (until the next one opens), so a
booking sent just before Cancel still reaches the window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..services.dayview import GridResource, ServiceSummary
from ..services.patients import PatientView
from ..services.scheduling import PATIENT_TYPING, AppointmentView
from . import colors, local_formats
from .booking_dialog import BookingDialog
from .changes import Changes
from .history_dialog import may_read_history
from .patient_dialog import PatientRecordDialog, PatientSearchDialog, record_key
from .reschedule_dialog import RescheduleDialog
from .walk_in_dialog import WalkInDialog
from .window_base import WindowBase


class WindowBooking(WindowBase):
    """Booking, walk-in and reschedule dialogs, the patient search and records.

    Needs from the window: ``current_appointment``, ``reschedule_action``,
    ``open_visit_dialog`` / ``open_series_dialog``, ``appointment_actions.on_moved``,
    ``publish_changes`` and the signals ``appointment_booked``,
    ``booking_dialog_opened``, ``patient_search_opened``, ``patient_record_opened``
    and ``dialog_opened``.
    """

    _services: list[ServiceSummary] | None

    #: The dialog manager's keys of the booking dialog and the patient search.
    BOOKING_KEY = "booking"
    PATIENT_SEARCH_KEY = "patient-search"

    @property
    def booking_dialog(self) -> BookingDialog | None:
        """The booking dialog open now, or ``None``."""
        return self.dialogs.find(self.BOOKING_KEY)  # type: ignore[return-value]

    @property
    def patient_search(self) -> PatientSearchDialog | None:
        """The patient search open now, or ``None``."""
        return self.dialogs.find(self.PATIENT_SEARCH_KEY)  # type: ignore[return-value]

    def find_patient(self, query: str = "") -> PatientSearchDialog:
        """Open the patient search (Ctrl+F, or typing on the grid) with ``query`` typed in; one at a
        time: when it is open, ``query`` is typed after what it holds and it comes to the front."""
        existing = self.patient_search
        if existing is not None:
            existing.search_edit.setText(existing.search_edit.text() + query)
            existing.raise_()
            existing.activateWindow()
            return existing
        dialog = PatientSearchDialog(self._db, self.runner, query=query, clock=self._clock,
                                     show_history=may_read_history(self.capabilities), dialogs=self.dialogs,
                                     parent=self)
        dialog.book_requested.connect(self.book_for_patient)
        dialog.visit_requested.connect(self.open_visit_dialog)
        dialog.series_requested.connect(self.open_series_dialog)
        dialog.record_opened.connect(self._on_record_opened)
        self.dialogs.show(self.PATIENT_SEARCH_KEY, dialog)  # deleted when closed
        # Opening a dialog focuses its field as if by Tab, which selects the letter typed on the grid:
        # the next key would replace it. Typing goes on after it.
        dialog.search_edit.setCursorPosition(len(dialog.search_edit.text()))
        self.patient_search_opened.emit(dialog)
        return dialog

    def open_patient(self, patient_id: int | None = None) -> PatientRecordDialog | None:
        """Open the record of ``patient_id`` (default: the selected appointment's patient; Ctrl+O), or
        bring it to the front when it is open (``patient_record_opened`` for a new one)."""
        if patient_id is None:
            appt = self.current_appointment()
            if appt is None:
                self.statusBar().showMessage("Select an appointment to open its patient, or press Ctrl+F to "
                                             "find one.", 10_000)
                return None
            if appt.patient_id is None:
                self.statusBar().showMessage(PATIENT_TYPING + " There is no patient record yet.",
                                             10_000)
                return None
            patient_id = appt.patient_id
        who = patient_id  # an int from here on (for the closure)
        made: list[PatientRecordDialog] = []

        def make() -> PatientRecordDialog:
            dialog = PatientRecordDialog(self._db, self.runner, patient_id=who, clock=self._clock,
                                         show_history=may_read_history(self.capabilities), parent=self)
            dialog.book_requested.connect(self.book_for_patient)
            dialog.visit_requested.connect(self.open_visit_dialog)
            dialog.series_requested.connect(self.open_series_dialog)
            made.append(dialog)
            return dialog

        dialog = self.dialogs.open(record_key(who), make)  # deleted when closed
        if made:
            self._on_record_opened(dialog)
        return dialog

    def _on_record_opened(self, dialog: PatientRecordDialog) -> None:
        """A record was opened (Ctrl+O, or from the patient search): saving it reloads the grid
        (the blocks show the patient's name)."""
        dialog.patient_updated.connect(lambda p: self.publish_changes(Changes(patients=frozenset({p.id}))))
        self.patient_record_opened.emit(dialog)

    def book_for_patient(self, patient: PatientView) -> BookingDialog | None:
        """Open the booking dialog with ``patient`` chosen ("Book for this patient")."""
        dialog = self.open_booking_dialog()
        if dialog is not None:
            dialog.set_patient(patient)
        return dialog

    # -- reschedule and walk-in ---------------------------------------------------------------------
    def open_reschedule_dialog(self) -> RescheduleDialog | None:
        """Offer the next free starts for the selected appointment (Ctrl+R); picking one moves it."""
        appt = self.current_appointment()
        if appt is None or self.branch is None or not self.reschedule_action.isEnabled():
            return None
        branch = self.branch  # narrowed to BranchSummary for the closure

        def make() -> RescheduleDialog:
            dialog = RescheduleDialog(self._db, self.runner, appointment=appt, timezone=branch.timezone,
                                      clock=self._clock, parent=self)
            dialog.appointment_moved.connect(self.appointment_actions.on_moved)
            # Another workstation took the start: the appointment's day is not as shown.
            dialog.slot_taken.connect(lambda _message: self.publish_changes(self._taken_changes(appt)))
            return dialog
        return self.dialogs.open(f"reschedule/{appt.id}", make)

    def open_walk_in_dialog(self) -> WalkInDialog | None:
        """Book a patient who is here now on the first free fitting doctor and check them in
        (Ctrl+Shift+W)."""
        if self.branch is None or not self.capabilities.book:
            return None
        branch = self.branch  # narrowed to BranchSummary for the closure

        def make() -> WalkInDialog:
            dialog = WalkInDialog(self._db, self.runner, branch=branch, clock=self._clock,
                                  services=self._services, parent=self)
            dialog.appointment_booked.connect(self._on_dialog_appointment_booked)
            return dialog
        return self.dialogs.open("walk-in", make)

    def _taken_changes(self, appointment: AppointmentView) -> Changes:
        """A start offered for ``appointment`` was taken meanwhile: its branch changed on days not
        known (where the start was, and the appointment's own day)."""
        return Changes(branches=frozenset({appointment.branch_id}), appointments=frozenset({appointment.id}))

    def _on_grid_search_typed(self, text: str) -> None:
        self.find_patient(text)

    def _on_grid_booking_requested(self, instant: datetime, resource: GridResource) -> None:
        if self.capabilities.book:
            self.open_booking_dialog(pin=resource, start_hint=instant, length=self.grid.requested_length())

    def _on_grid_appointment_activated(self, appointment: AppointmentView) -> None:
        tz = self.branch.tz if self.branch else UTC
        self.statusBar().showMessage(
            f"{appointment.patient} — {appointment.service}, {appointment.start.astimezone(tz):%H:%M}, "
            f"{colors.status_label(appointment.status)}", 10_000)

    def book_from_grid(self) -> BookingDialog | None:
        """Ctrl+N: open the booking dialog at the selected cell's time with its resource preferred
        (as Enter on the cell does), or for the day shown when no cell is selected."""
        cell = self.grid.current_cell()
        if cell is None:
            return self.open_booking_dialog()
        instant, resource = cell
        return self.open_booking_dialog(pin=resource, start_hint=instant)

    def open_booking_dialog(self, *, pin: GridResource | None = None,
                            start_hint: datetime | None = None,
                            length: timedelta | None = None) -> BookingDialog | None:
        """Open the booking dialog for the branch and day shown (one at a time); returns it.

        ``pin``: the resource to prefer; ``start_hint``: the UTC start to preselect if free;
        ``length``: the time range dragged on the grid (a service that fits it is preferred).
        """
        if self.branch is None or self.day is None or not self.capabilities.book:
            return None
        existing = self.booking_dialog
        if existing is not None:
            existing.raise_()
            existing.activateWindow()
            return existing
        local_date = start_hint.astimezone(self.branch.tz).date() if start_hint is not None else self.day
        dialog = BookingDialog(self._db, self.runner, branch=self.branch, local_date=local_date,
                               clock=self._clock, pin=pin, start_hint=start_hint, services=self._services,
                               length=length, parent=self)
        dialog.services_loaded.connect(lambda _n: self._remember_services(dialog))
        dialog.appointment_booked.connect(self._on_dialog_appointment_booked)
        dialog.appointment_held.connect(self._on_dialog_appointment_held)
        dialog.slot_taken.connect(self._on_dialog_slot_taken)
        # Kept when closed (the previous, closed one is released now): a booking sent just before
        # Cancel still commits and reports through it (BookingDialog.done).
        self.dialogs.show(self.BOOKING_KEY, dialog, keep=True)
        self.booking_dialog_opened.emit(dialog)
        return dialog

    def _remember_services(self, dialog: BookingDialog) -> None:
        self._services = dialog.services

    def _on_dialog_slot_taken(self, _message: str) -> None:
        """Another workstation won the time: the branch booked in (the one shown; the dialog is
        window-modal) is not as shown, on days not known."""
        self.publish_changes(Changes.of_branch(self.branch.id) if self.branch is not None else Changes.all())

    def _on_dialog_appointment_held(self, held: AppointmentView) -> None:
        """A hold was placed: it shows on the grid at once."""
        self.publish_changes(self.changes_of(held))

    def _on_dialog_appointment_booked(self, appointment: AppointmentView) -> None:
        tz = self.branch.tz if self.branch else UTC
        self.statusBar().showMessage(
            f"Booked: {appointment.patient} — {appointment.service} on "
            f"{local_formats.day_time(appointment.start.astimezone(tz))}", 15_000)
        self.appointment_booked.emit(appointment)
        self.publish_changes(self.changes_of(appointment))


