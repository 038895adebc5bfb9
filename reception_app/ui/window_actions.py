"""The main window's appointment actions: what the key table lists, on the selected appointment.

:class:`AppointmentActions` is a part the window owns (``window.appointment_actions``: not
``actions``, which would hide ``QWidget.actions()``), not a base class of it. It makes one
window action per ``appointment_actions`` entry (check in, start, complete, no-show, cancel;
confirm a hold, approve a request, cancel for the patient, payments), enables each from the
selected appointment's status (``domain.status.TRANSITIONS`` through
``appointment_actions.is_allowed`` / ``lifecycle_allowed``) and the signed-in role, and runs
them — and moves dropped on the grid — as writes through ``Runner.change``: what they changed
reaches every view as one ``Changes`` on the window's change bus. A failed write publishes the
branch shown as changed (with the appointment's id), so the grid shows the day as it is now (e.g.
another workstation changed it first).

Status actions are in the "Appointment" toolbar menu, the block's context menu
and on their shortcuts. Dragging a block moves it (``scheduling.move``): to the
drop row's time, and to the drop column's resource when that is of a kind the
service books (other kinds are refused here, with a status message).

It reads and drives the window only through public names: ``grid`` / ``grid_model``,
``capabilities``, ``session``, ``branch``, ``runner``, ``dialogs``, ``docks``,
``changes_of`` / ``publish_changes``, ``set_busy_text``, ``statusBar``, ``printed_by``,
``update_series_action`` and the actions the window makes (``reschedule_action``,
``open_patient_action``, ``appointment_reminders_action``, ``appointment_history_action``,
``cancel_series_action``, ``force_move_action``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from PySide6.QtCore import QModelIndex, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QToolBar, QToolButton

from ..domain.errors import ClinicError
from ..domain.slots import KINDS
from ..domain.status import NO_SHOW_GRACE_MINUTES
from ..services import payments, scheduling, waitlist
from ..services.dayview import GridResource
from ..services.my_day import MyDayRow
from ..services.scheduling import AppointmentView
from ..store.database import Database
from . import appointment_actions, colors, local_formats
from .appointment_actions import (
    ACTIONS,
    LIFECYCLE_ACTIONS,
    PAYMENT_ACTION,
    AppointmentAction,
    LifecycleAction,
    is_allowed,
    lifecycle_allowed,
    no_show_from,
)
from .changes import Changes
from .connection_banner import ConnectionMonitor
from .day_view import DayGridView
from .messages import show_error
from .move_undo import UNDO_SECONDS, MoveUndo
from .runner import Clock

if TYPE_CHECKING:
    from .main_window import MainWindow
    from .payment_dialog import PaymentDialog

log = logging.getLogger(__name__)

#: "… does not use a room": resource kinds in a sentence.
_KIND_WITH_ARTICLE = {"doctor": "a doctor", "room": "a room", "equipment": "equipment"}


class AppointmentActions(QObject):
    """The status and lifecycle actions of ``window``, the block's context menu, and moves on
    the grid; the writes go to ``db`` through the window's runner (``clock``: the current aware
    time, for moves and waitlist offers). ``bar``: the toolbar that gets the "Appointment ▾"
    button (its menu also lists the window's ``reschedule_action`` and ``open_patient_action``,
    made before this part).

    Actions (parented to the window, whose shortcuts they are): ``status_actions`` and
    ``lifecycle_actions`` (by key), in ``appointment_menu``. It listens to the grid's current
    cell, block menu and drop signals itself.

    Signals:
        appointment_changed(object): a status change or move made from this window committed:
            the appointment's new ``AppointmentView`` (the window passes it on as its own).
        menu_opened(object): the context menu of a block was opened (the ``QMenu``; the window
            passes it on as ``appointment_menu_opened``).
        confirmation_opened(object): an action that asks first (No-show) opened its question (the
            ``QMessageBox``).
        cancel_terms_shown(str): the cancel dialog now says what happens to the money (the words).
        offer_notice_opened(object): a cancellation's freed time was offered to the waitlist: the
            notice naming the patients and their phones (a ``QMessageBox``).
    """

    appointment_changed = Signal(object)
    menu_opened = Signal(object)
    confirmation_opened = Signal(object)
    cancel_terms_shown = Signal(str)
    offer_notice_opened = Signal(object)

    def __init__(self, window: MainWindow, db: Database, clock: Clock, bar: QToolBar) -> None:
        super().__init__(window)
        self._w = window
        self._db = db
        self._clock = clock
        #: The clinic's ``no_show_grace_minutes`` (``services.clinic_config.clinic_profile``), set by
        #: the window once read.
        self.grace_minutes = NO_SHOW_GRACE_MINUTES
        self._enabled = False
        self._status_change_pending = False
        self._menu: QMenu | None = None
        self._build(bar)
        #: Ctrl+Z and "Undo" after a move made by dragging (``ui.move_undo``).
        self.move_undo = MoveUndo(window, db, clock, self._describe)
        self.move_undo.undone.connect(self.appointment_changed.emit)
        window.grid.current_cell_changed.connect(self._on_grid_current_changed)
        window.grid.appointment_menu_requested.connect(self.show_menu)
        window.grid.move_requested.connect(self._on_grid_move_requested)

    def _build(self, bar: QToolBar) -> None:
        """One window action per ``appointment_actions.ACTIONS`` entry (shortcuts work window-wide),
        shown in the "Appointment" toolbar menu and, the same objects, in the blocks' context menu."""
        w = self._w
        self.status_actions: dict[str, QAction] = {}
        for spec in ACTIONS:
            action = QAction(spec.label, w)
            action.setObjectName(f"appointment_{spec.key}")
            action.setShortcut(QKeySequence(spec.shortcut))
            shortcut_text = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{spec.label.rstrip('…')} the selected appointment ({shortcut_text})")
            action.setStatusTip(f"{spec.label.rstrip('…')} the selected appointment")
            action.setEnabled(False)
            action.triggered.connect(lambda _checked=False, spec=spec: self._on_appointment_action_triggered(spec))
            w.addAction(action)  # shortcuts fire wherever the focus is in the window
            self.status_actions[spec.key] = action
        # Issue 4's lifecycle actions (confirm a hold, approve a request, cancel for the patient) and
        # "Payments…": the same pattern, their own rule of when they are offered (``lifecycle_allowed``).
        self.lifecycle_actions: dict[str, QAction] = {}
        for life in (*LIFECYCLE_ACTIONS, PAYMENT_ACTION):
            action = QAction(life.label, w)
            action.setObjectName(f"appointment_{life.key}")
            action.setShortcut(QKeySequence(life.shortcut))
            action.setStatusTip(f"{life.label.rstrip('…')}: the selected appointment")
            action.setEnabled(False)
            action.triggered.connect(lambda _checked=False, life=life: self._on_lifecycle_action_triggered(life))
            w.addAction(action)
            self.lifecycle_actions[life.key] = action
        self.appointment_menu = QMenu("Appointment", w)
        self.appointment_menu.setObjectName("appointmentMenu")
        self.appointment_menu.setAccessibleName("Appointment actions")
        self.appointment_menu.addActions(list(self.status_actions.values()))
        self.appointment_menu.addActions(list(self.lifecycle_actions.values()))
        self.appointment_menu.addSeparator()
        self.appointment_menu.addActions([w.reschedule_action, w.open_patient_action])
        button = QToolButton()
        button.setObjectName("appointmentMenuButton")
        button.setText("Appointment ▾")
        # The style's own indicator is drawn over the text of a text-only tool button: use the ▾ instead.
        button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        button.setAccessibleName("Appointment actions")
        button.setToolTip("Status actions for the selected appointment")
        button.setMenu(self.appointment_menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        bar.addWidget(button)

    def set_enabled(self, enabled: bool) -> None:
        """Offer the actions at all (``False`` while no branch is shown), then enable each from
        the selection."""
        self._enabled = enabled
        self.update()

    def on_my_day_action(self, key: str, row: MyDayRow) -> None:
        """The doctor's day list asked for status action ``key`` (an ``ACTIONS`` key) on ``row``."""
        spec = next(s for s in ACTIONS if s.key == key)
        if self._status_change_pending or not self._w.capabilities.allows_status(key):
            return
        tz = ZoneInfo(row.timezone)
        about = f"{row.patient} {row.start.astimezone(tz):%H:%M}"
        if spec.target == "no_show" and self._clock() < no_show_from(row.start, self.grace_minutes):
            self._status(f"{row.patient} is not late enough for a no-show yet: it can be marked from "
                         f"{no_show_from(row.start, self.grace_minutes).astimezone(tz):%H:%M}.")
            return
        if spec.target == "completed" and self._clock() < row.start:
            self._status(f"{row.patient}'s appointment has not started yet: it can be completed from "
                         f"{row.start.astimezone(tz):%H:%M}.")
            return
        if spec.asks_confirmation:
            self._confirm(spec, about, lambda: self._change_status_of(spec, row.appointment_id, about, None))
        else:
            self._change_status_of(spec, row.appointment_id, about, None)

    def current_appointment(self) -> AppointmentView | None:
        """The appointment of the grid's current cell (as last loaded) — its block's, else the
        cancelled one outlined on that free cell (its actions are what a cancelled appointment
        allows: payments, the patient, history) — or ``None``."""
        w = self._w
        index = w.grid.currentIndex()
        if not index.isValid():
            return None
        model = w.grid_model
        return model.appointment_at(index) or model.cancelled_at(index)

    def update(self) -> None:
        """Enable each status action iff the current cell's appointment may take it (and no change
        is on its way)."""
        w, caps = self._w, self._w.capabilities
        appt = self.current_appointment()
        status = appt.status if appt is not None and self._enabled \
            and not self._status_change_pending and self._may_change(appt) else None
        start, now = (appt.start, self._clock()) if appt is not None else (None, None)
        # An online hold whose visitor is still typing their details has no patient yet: the desk may
        # only cancel it (release the time), not confirm, move, take money or open a record.
        typing = appt is not None and appt.patient_id is None
        for spec in ACTIONS:
            self.status_actions[spec.key].setEnabled(
                is_allowed(spec, status, start=start, now=now, grace_minutes=self.grace_minutes)
                and caps.allows_status(spec.key) and (not typing or spec.target == "cancelled"))
        for life in (*LIFECYCLE_ACTIONS, PAYMENT_ACTION):
            allowed_role = caps.book if life.opens_dialog else caps.move
            self.lifecycle_actions[life.key].setVisible(allowed_role)
            self.lifecycle_actions[life.key].setEnabled(allowed_role and lifecycle_allowed(life, status)
                                                        and not typing)
        w.reschedule_action.setEnabled(status in scheduling.MOVABLE_STATUSES and caps.move and not typing)
        w.open_patient_action.setEnabled(appt is not None and not typing)
        w.update_series_action(appt if status is not None else None)

    def _may_change(self, appointment: AppointmentView) -> bool:
        """Whether the signed-in user is offered changes to ``appointment``: a doctor only their own
        (booked on their doctor resource; the server's row-level security says the same)."""
        if not self._w.capabilities.own_only:
            return True
        own = getattr(self._w.session, "doctor_resource_id", None)
        return own is not None and appointment.resource_ids.get("doctor") == own

    def _describe(self, appointment: AppointmentView) -> str:
        """``"Maria Silva 08:00"``: the patient and the branch-local start."""
        branch = self._w.branch
        tz = branch.tz if branch else UTC
        return f"{appointment.patient} {appointment.start.astimezone(tz):%H:%M}"

    def _status(self, text: str, ms: int = 15_000) -> None:
        self._w.statusBar().showMessage(text, ms)

    def _on_grid_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.update()
        docks = self._w.docks
        if current.isValid() and docks.my_day_dock.isVisible():
            # Another doctor's column (reception), or in the week view another day's: that day list.
            if docks.asked != (docks.my_day_doctor(), docks.my_day_date()):
                docks.reload_my_day()

    def show_menu(self, appointment: AppointmentView, where: QPoint) -> QMenu:
        """Show the block's menu at ``where`` (global): a title line, then the window's status
        actions (the grid has made the block current, so their enabled state is this block's)."""
        w = self._w
        self.update()
        if self._menu is not None:
            self._menu.close()
            self._menu.deleteLater()
        menu = QMenu(w)
        menu.setObjectName("appointmentContextMenu")
        about = self._describe(appointment)
        menu.setAccessibleName(f"Appointment actions for {about}")
        title = menu.addAction(f"{about} · {colors.status_label(appointment.status)}")
        title.setObjectName("appointmentMenuTitle")
        title.setEnabled(False)  # a heading, not a command
        heading = menu.font()
        heading.setBold(True)
        title.setFont(heading)
        menu.addSeparator()
        menu.addActions(list(self.status_actions.values()))
        menu.addActions([a for a in self.lifecycle_actions.values() if a.isVisible()])
        menu.addSeparator()
        menu.addActions([w.reschedule_action, w.open_patient_action, w.appointment_reminders_action])
        if w.appointment_history_action.isVisible():
            menu.addAction(w.appointment_history_action)
        if appointment.series_id is not None and w.cancel_series_action.isVisible():
            menu.addAction(w.cancel_series_action)
        if w.force_move_action.isVisible():
            menu.addAction(w.force_move_action)
        self._menu = menu
        menu.popup(where)
        self.menu_opened.emit(menu)
        return menu

    def _on_appointment_action_triggered(self, spec: AppointmentAction) -> None:
        appt = self.current_appointment()
        if appt is None or self._status_change_pending \
                or not is_allowed(spec, appt.status, start=appt.start, now=self._clock(),
                                  grace_minutes=self.grace_minutes) \
                or not self._w.capabilities.allows_status(spec.key) or not self._may_change(appt):
            return  # a shortcut pressed while the action was being disabled
        if spec.asks_confirmation:
            self._confirm(spec, f"{self._describe(appt)} ({appt.service})", lambda: self._change_status(spec, appt, None))
        elif spec.asks_reason:
            self._ask_cancel(spec, appt)
        else:
            self._change_status(spec, appt, None)

    def _confirm(self, spec: AppointmentAction, about: str, on_yes: Callable[[], None]) -> QMessageBox:
        """Ask before ``spec`` on ``about`` ("Maria Silva 08:00 (Consultation)"; window-modal, not
        blocking); "Mark as no-show" runs ``on_yes``, "Keep it as it is" or Esc nothing."""
        box = QMessageBox(QMessageBox.Icon.Question, spec.label.rstrip("…"),
                          f"{spec.label.rstrip('…')}: {about}?\n\n"
                          "The patient did not come. This counts in the no-show report and can be undone "
                          "by checking the patient in.", parent=self._w)
        box.setObjectName("confirmStatusChange")
        yes = box.addButton(f"Mark as {spec.label.rstrip('…').lower()}", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep it as it is", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(yes)
        box.accepted.connect(on_yes)
        box.finished.connect(box.deleteLater)
        self.confirmation_opened.emit(box)
        box.open()
        return box

    def _on_lifecycle_action_triggered(self, spec: LifecycleAction) -> None:
        appt = self.current_appointment()
        caps = self._w.capabilities
        allowed_role = caps.book if spec.opens_dialog else caps.move
        if appt is None or self._status_change_pending or not allowed_role or not lifecycle_allowed(spec, appt.status):
            return  # a shortcut pressed while the action was being disabled
        if spec.opens_dialog:
            self.open_payments(appt)
        elif spec.asks_reason:
            self._ask_cancel(spec, appt)
        else:
            self._change_status(spec, appt, None)

    def _ask_cancel(self, spec: AppointmentAction | LifecycleAction, appt: AppointmentView) -> None:
        """Ask why ``appt`` is cancelled, saying before the answer what happens to its money: early
        or late under its policy, the fee kept or owed, the refund (read in the background and shown
        in the dialog when it arrives)."""
        dialog = appointment_actions.ask_cancel_reason(
            self._w, self._describe(appt), lambda reason: self._change_status(spec, appt, reason))
        if not isinstance(dialog, appointment_actions.CancelReasonDialog):
            return   # answered at once (a test's stand-in for the question)
        by = getattr(spec, "by", None) or "clinic"
        at, db = self._clock(), self._db

        def show(account: payments.Account) -> None:
            if dialog.isVisible():
                words = account.cancellation_words(by=by, at=at)
                dialog.set_terms(words, late=words.startswith("Late"))
                self.cancel_terms_shown.emit(words)

        def not_read(error: ClinicError) -> None:
            if dialog.isVisible():
                dialog.set_terms(f"The cancellation policy could not be read: {error}")
        self._w.runner.run(lambda: payments.account(db, appt.id), on_success=show, on_failure=not_read,
                           label="cancellation terms")

    def open_payments(self, appointment: AppointmentView | None = None) -> PaymentDialog | None:
        """The payments of ``appointment`` (default: the selected one; Ctrl+Shift+M): deposit, paid,
        refund due; take a payment or record a refund; print the receipt."""
        w = self._w
        appt = appointment or self.current_appointment()
        if appt is None or not w.capabilities.book:
            return None
        from .payment_dialog import PaymentDialog  # with reportlab's receipt: imported when first opened

        def make() -> PaymentDialog:
            dialog = PaymentDialog(self._db, w.runner, appointment_id=appt.id,
                                   clinic=w.branch.name if w.branch else "", printed_by=w.printed_by,
                                   clock=self._clock, parent=w)
            dialog.payment_recorded.connect(lambda _p: w.publish_changes(w.changes_of(appt)))
            return dialog
        return w.dialogs.open(f"payments/{appt.id}", make)

    def _change_status(self, spec: AppointmentAction | LifecycleAction, appointment: AppointmentView,
                       reason: str | None) -> None:
        """Run the status change in the background; then say what happened and reload the day."""
        self._change_status_of(spec, appointment.id, self._describe(appointment), reason)

    def _change_status_of(self, spec: AppointmentAction | LifecycleAction, appointment_id: int, about: str,
                          reason: str | None) -> None:
        """:meth:`_change_status` by id (the doctor's day list has rows, not grid blocks);
        ``about``: ``"Maria Silva 08:00"`` for the messages."""
        reason = reason.strip() if reason is not None else None
        if spec.asks_reason and not reason:
            return  # the reason is required: no reason, no change
        db = self._db

        money: list[str] = []   # what a cancellation did to the money, for the message

        def work() -> AppointmentView:
            view = appointment_actions.perform(db, spec, appointment_id, reason)
            if view.status == "cancelled":
                try:
                    account = payments.account(db, appointment_id)
                    if account.money_at_stake:
                        money.append(account.cancellation_words())
                except ClinicError as exc:   # the cancellation stands; only its money words are missing
                    log.info("cancellation words for appointment %s: %s", appointment_id, exc)
            return view
        self._status_change_pending = True
        self.update()
        self._w.set_busy_text(f"{spec.label.rstrip('…')}…")
        self._w.runner.change(work, changes=self._w.changes_of,
                           on_success=lambda view: self._on_status_changed(spec, view, " ".join(money)),
                           on_failure=lambda error: self._on_status_change_failed(spec, appointment_id, about, error),
                           on_finished=self._on_status_change_finished, label=f"appointment {spec.key}")

    def _on_status_changed(self, spec: AppointmentAction | LifecycleAction, appointment: AppointmentView,
                           money: str = "") -> None:
        self._status(f"{spec.done}: {self._describe(appointment)}" + (f" — {money}" if money else ""))
        self.appointment_changed.emit(appointment)
        if appointment.status == "cancelled":
            self._offer_freed_slots()

    def _offer_freed_slots(self) -> None:
        """A cancellation freed a slot: offer it to the waitlist now (the reminder service's sweep
        does it too, so a failure here only delays the offer)."""
        db, now = self._db, self._clock()
        self._w.runner.change(lambda: waitlist.process_freed_slots(db, now=now), changes=self._offers_changes,
                           on_success=self._on_offers_made,
                           on_failure=lambda error: log.info("waitlist offers deferred: %s", error),
                           key="waitlist-offers", label="offer freed slots")

    def _on_offers_made(self, offers: list) -> None:
        if offers:
            self._status(f"The freed time was offered to {len(offers)} patient(s) on the waitlist.")
            self._offer_notice(offers)

    def _offer_notice(self, offers: list) -> QMessageBox:
        """A notice (not blocking) naming each patient offered a freed time, with their phone, what
        is held for them and until when: they were sent the offer; the desk may call. "Copy phone"
        puts the (first) number on the clipboard for the softphone; "Open waitlist" shows the offers."""
        fmt = local_formats.current()
        branch = self._w.branch
        tz = branch.tz if branch else UTC
        lines = []
        for o in offers:
            start, until = o.start.astimezone(tz), o.expires_at
            phone = fmt.phone(o.phone) if o.phone else "no phone on file"
            lines.append(f"<b>{escape(o.patient)}</b> — {escape(phone)}<br>{escape(o.service)}, "
                         f"{fmt.day_text(start.date())} {fmt.time_text(start)}, held until "
                         f"{fmt.when(until, tz, on_screen=start.date())}")
        box = QMessageBox(QMessageBox.Icon.Information, "Waitlist offer",
                          "<p>" + "</p><p>".join(lines) + "</p><p>The offer was sent to them; call if they "
                          "do not answer before it expires.</p>", QMessageBox.StandardButton.Close, self._w)
        box.setObjectName("waitlistOfferNotice")
        box.setTextFormat(Qt.TextFormat.RichText)
        phones = [fmt.phone(o.phone) for o in offers if o.phone]
        if phones:
            copy = box.addButton(f"Copy phone {phones[0]}", QMessageBox.ButtonRole.ActionRole)
            copy.setObjectName("copyPhone")
            copy.clicked.connect(lambda: QApplication.clipboard().setText(phones[0]))
        waitlist_button = box.addButton("Open waitlist", QMessageBox.ButtonRole.ActionRole)
        waitlist_button.clicked.connect(lambda: getattr(self._w, "open_waitlist", lambda: None)())
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.finished.connect(box.deleteLater)
        box.show()
        self.offer_notice_opened.emit(box)
        return box

    def _offers_changes(self, offers: list) -> Changes:
        """Offers hold the freed times for the patients offered: the branch shown changed (the
        offers do not say which days); no offer, no change."""
        if not offers:
            return Changes()
        branch = self._w.branch
        return Changes.of_branch(branch.id) if branch is not None else Changes.all()

    def _on_status_change_failed(self, spec: AppointmentAction | LifecycleAction, appointment_id: int, about: str,
                                 error: ClinicError) -> None:
        """Say why in plain words (e.g. another workstation changed it first) and show the day as it is."""
        self._status(f"Could not {spec.verb} {about}. {error}")
        if not ConnectionMonitor.absorbs(error):  # a lost connection is told by the banner
            show_error(self._w, f"Could not {spec.verb} {about}. {error}")
        self._w.publish_changes(self._stale(appointment_id))

    def _stale(self, appointment_id: int) -> Changes:
        """A write on ``appointment_id`` failed: the desk's picture of the branch shown (where the
        grid and the doctor's day list showed it) may be out of date, on days not known."""
        branch = self._w.branch
        if branch is not None:
            return Changes(branches=frozenset({branch.id}), appointments=frozenset({appointment_id}))
        return Changes.all()

    def _on_status_change_finished(self) -> None:
        self._status_change_pending = False
        self.update()

    # -- moving on the grid ------------------------------------------------------------------------------
    def _on_grid_move_requested(self, appointment: AppointmentView, start: datetime,
                                resource: GridResource | None) -> None:
        """A block was dropped: move it to ``start`` (UTC) and, if given, onto ``resource``."""
        about = self._describe(appointment)
        if not self._w.capabilities.move or not self._may_change(appointment):
            self._status(f"Cannot move {about}: your sign-in does not move appointments.")
            return
        if resource is not None and not DayGridView.drop_resource_kind_allowed(appointment, resource):
            self._status(f"Cannot move {about} to {resource.name}: {appointment.service} does not use "
                         f"{_KIND_WITH_ARTICLE.get(resource.kind, resource.kind)}.")
            return
        if appointment.status not in scheduling.MOVABLE_STATUSES:
            self._status(f"Cannot move {about}: it is {colors.status_label(appointment.status).lower()}.")
            return
        if self._status_change_pending:
            self._status(f"Cannot move {about} yet: another change is on its way.")
            return
        db, appointment_id, now = self._db, appointment.id, self._clock()
        pins = {resource.kind: resource.name} if resource is not None else {}

        def work() -> scheduling.MoveResult:
            return scheduling.move(db, appointment_id, start=start, reason="moved on the grid", now=now, **pins)

        self._status_change_pending = True
        self.update()
        self._w.set_busy_text(f"Moving {about}…")
        self._w.runner.change(work, changes=self._move_changes, on_success=self._on_dragged,
                           on_failure=lambda error: self._on_move_failed(appointment_id, about, error),
                           on_finished=self._on_status_change_finished, label="move appointment")

    def _on_dragged(self, result: scheduling.MoveResult) -> None:
        """A drag move committed: say so, and offer to undo it (Ctrl+Z, "Undo")."""
        self._tell_moved(result, undo_hint=True)
        self.move_undo.offer(result)

    def _move_changes(self, result: scheduling.MoveResult) -> Changes:
        """A move changed the appointment where it was and where it went (days, resources)."""
        return self._w.changes_of(result.before, result.after)

    def on_moved(self, result: scheduling.MoveResult) -> None:
        """A dialog moved an appointment (reschedule, force move): say so and publish what changed."""
        self._tell_moved(result)
        self._w.publish_changes(self._move_changes(result))

    def _tell_moved(self, result: scheduling.MoveResult, *, undo_hint: bool = False) -> None:
        """``"Moved: Maria Silva 08:00 → 10:00 (Bruno Lima)"`` (``Rescheduled:`` when a new appointment
        replaced the old one): the resources that changed, else the doctor; ``undo_hint`` adds how to
        take it back (after a drag)."""
        before, after = result.before, result.after
        branch = self._w.branch
        tz = branch.tz if branch else UTC
        changed = [after.resources[k] for k in KINDS
                   if k in after.resources and after.resources[k] != before.resources.get(k)]
        shown = changed or ([after.resources["doctor"]] if "doctor" in after.resources else [])
        where = f" ({', '.join(shown)})" if shown else ""
        undo = f" — Undo ({self.move_undo.undo_action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})" \
            if undo_hint else ""
        self._status(f"{'Moved' if after.id == before.id else 'Rescheduled'}: {self._describe(before)} → "
                     f"{after.start.astimezone(tz):%H:%M}{where}{undo}", 1000 * UNDO_SECONDS if undo_hint else 15_000)
        self.appointment_changed.emit(after)

    def _on_move_failed(self, appointment_id: int, about: str, error: ClinicError) -> None:
        """Say what is in the way (the service's words) and show the day as it is."""
        self._status(f"Could not move {about}: {error}", 30_000)
        self._w.publish_changes(self._stale(appointment_id))
