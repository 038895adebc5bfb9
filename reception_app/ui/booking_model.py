"""What the booking dialog knows and decides, without widgets: :class:`BookingState`.

The dialog (``ui.booking_dialog.BookingDialog``) shows this state and sends the work; every rule
about *what* may be done next lives here, so it can be read (and tested) without a window:

* which service is preselected (the column's resource ``pin``, the ``length`` dragged on the grid);
* which resources the slot search is restricted to (the pin, for the services that need its
  kind and category);
* when Book and "Hold slot" are enabled (a patient and a free start chosen, nothing being sent,
  the connection up, no hold waiting to be confirmed, no unknown outcome being settled);
* the client id of a booking attempt: the same patient, service, start and resources keep the
  same id, so a retry after a lost connection cannot book twice (``scheduling.book`` finds the
  earlier booking by it);
* the message under the form — its text, its kind (error, information, success) and its
  *topic*: ``"offline"`` for a message about the lost connection (over when the connection is
  back), ``"progress"`` for "Booking…" (over when the booking finishes), ``""`` otherwise;
* what a refused booking, hold or check means for the form (:func:`refusal_of`,
  :func:`check_refusal_of`, :func:`failure_message`: the message, whether the free starts are
  listed again because another desk took the time);
* the words on the buttons that change with the state ("Hold slot" / "Confirm hold", "Cancel" /
  "Close"): the labels show the state, they never hold it.

Plus the texts the dialog shows for free starts, the patient's other appointments that day, and
the outcomes of an unknown commit. Times are aware ``datetime``\\ s in UTC; texts show them on the
branch's wall clock (``tz``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from ..domain.errors import ClinicError, DatabaseUnavailable, PatientBusy, SlotTaken
from ..domain.slots import KINDS
from ..domain.wallclock import day_bounds_utc
from ..services import scheduling
from ..services.dayview import GridResource, ServiceSummary, local_time_text
from ..services.patients import PatientView
from ..services.scheduling import AppointmentView, SlotOffer
from ..store.database import Database
from . import local_formats

#: How many local days after a day without free time are searched for the next free start.
NEXT_FREE_DAYS = 14

#: Shown when the connection died during COMMIT (the booking may or may not be saved).
CHECKING_TEXT = "The connection dropped while saving. Checking whether the booking was saved…"
#: The check found the booking the lost COMMIT had saved.
SAVED_BEFORE_TEXT = "Booked — it had been saved before the connection dropped."
#: The check found nothing, and booking again (same client id) succeeded.
BOOKED_TEXT = "Booked."
#: The check found nothing, and the time had been taken by someone else meanwhile.
TAKEN_MEANWHILE_TEXT = "That time was taken meanwhile; nothing was booked."
#: A search or booking failed for want of a connection.
OFFLINE_TEXT = "No connection to the clinic database. What you entered is kept"
#: Shown while a booking is being sent.
BOOKING_PROGRESS_TEXT = "Booking…"

#: Message kinds (:attr:`Message.kind`).
ERROR, INFO, SUCCESS = "error", "info", "success"
#: Message topics (:attr:`Message.topic`): about the lost connection; a booking being sent; a choice
#: still missing ("Choose the patient first…": over once the patient or a start is chosen).
OFFLINE, PROGRESS, MISSING = "offline", "progress", "missing"


@dataclass(frozen=True)
class Message:
    """The message under the booking form: ``text``; ``kind`` (``ERROR``, ``INFO`` or ``SUCCESS``:
    how it is styled); ``topic`` (``OFFLINE``, ``PROGRESS``, ``MISSING`` or ``""``: what ends it, see the
    module docstring)."""

    text: str
    kind: str = ERROR
    topic: str = ""


@dataclass(frozen=True)
class BookingAttempt:
    """A booking as sent (``scheduling.book``): kept while its commit outcome is unknown, to check
    it and send it again with the same ``client_id``. ``local_date``: the start's branch-local day
    (where the check looks for the client id); ``pins``: kind -> the offer's resource names."""

    branch: str
    service: str
    start: datetime
    local_date: date
    patient_id: int
    client_id: uuid.UUID
    pins: dict[str, str]
    now: datetime
    desk_note: str = ""


class BookingState:
    """The booking dialog's state (see the module docstring). Plain attributes, set by the dialog
    as answers arrive:

    ``services`` (the picker's, in order), ``patient`` (chosen, or ``None``), ``offers`` (the free
    starts listed) and ``offers_patient`` (the patient id they were listed for), ``booking`` (a
    hold, confirmation or booking is being sent), ``next_free_date`` (the day the "Show …" button
    moves to), ``unsure`` (an :class:`BookingAttempt` being settled), ``resolved`` (an unsure
    booking was found saved: nothing more to book), ``rerun_on_restore`` (searches to run again
    when the connection is back: ``"slots"``), ``held`` (a hold made here and not confirmed),
    ``message`` (the :class:`Message` shown, or ``None``).

    ``pin``: a resource to prefer; ``start_hint``: a UTC start to preselect; ``length``: the length
    of a range dragged on the grid.
    """

    def __init__(self, *, pin: GridResource | None = None, start_hint: datetime | None = None,
                 length: timedelta | None = None) -> None:
        self.pin = pin
        self.start_hint = start_hint
        self.length = length
        self.services: list[ServiceSummary] = []
        self.patient: PatientView | None = None
        self.offers: list[SlotOffer] = []
        self.offers_patient: int | None = None
        self.booking = False
        self.next_free_date: date | None = None
        self.unsure: BookingAttempt | None = None
        self.resolved = False
        self.rerun_on_restore: set[str] = set()
        self.held: AppointmentView | None = None
        self.message: Message | None = None
        self._attempt: tuple[tuple[object, ...], uuid.UUID] | None = None

    # -- services and pins ------------------------------------------------------------------
    def pin_applies(self, service: ServiceSummary) -> bool:
        """Whether the pinned resource can do ``service`` (it needs the pin's kind and category)."""
        pin = self.pin
        return pin is not None and service.needs.get(pin.kind) == pin.category

    def pins_for(self, service: ServiceSummary) -> dict[str, str]:
        """``{kind: resource name}`` to restrict ``service``'s search to (the pin, when it applies)."""
        return {self.pin.kind: self.pin.name} if self.pin is not None and self.pin_applies(service) else {}

    def preferred_service(self) -> int:
        """The index in :attr:`services` to preselect (``-1`` for none): the longest service that
        fits in the dragged :attr:`length` (of those the pin applies to), else the first the pin
        applies to, else the first."""
        if not self.services:
            return -1
        preferred = 0
        if self.pin is not None:
            preferred = next((i for i, s in enumerate(self.services) if self.pin_applies(s)), 0)
        fitting = [(s.duration_min, i) for i, s in enumerate(self.services)
                   if self.length is not None and timedelta(minutes=s.duration_min) <= self.length
                   and (self.pin is None or self.pin_applies(s))]
        if fitting:
            preferred = max(fitting, key=lambda f: (f[0], -f[1]))[1]
        return preferred

    def service_at(self, index: int) -> ServiceSummary | None:
        """The service at picker index ``index``, or ``None``."""
        return self.services[index] if 0 <= index < len(self.services) else None

    # -- what may be done ---------------------------------------------------------------------
    def _ready(self, offer: SlotOffer | None, offline: bool) -> bool:
        return (self.patient is not None and offer is not None and not self.booking and not offline
                and not self.resolved)

    def can_book(self, offer: SlotOffer | None, *, offline: bool) -> bool:
        """Whether Book is enabled with ``offer`` selected: ready to book and no hold waiting, or an
        unknown outcome to settle (Book checks it)."""
        return self.held is None and (self._ready(offer, offline) or (
            self.unsure is not None and not self.booking and not offline))

    def can_hold(self, offer: SlotOffer | None, *, offline: bool) -> bool:
        """Whether "Hold slot" (or "Confirm hold") is enabled with ``offer`` selected."""
        return (not self.booking and not offline and self.unsure is None
                and (self.held is not None or self._ready(offer, offline)))

    # -- attempts -------------------------------------------------------------------------------
    def client_id_for(self, patient_id: int, service: str, offer: SlotOffer) -> uuid.UUID:
        """The client id of booking ``offer`` of ``service`` for ``patient_id``: the previous
        attempt's when it was the same patient, service, start and resources, else a new one."""
        attempt = (patient_id, service, offer.start, tuple(sorted(offer.resources.items())))
        if self._attempt is None or self._attempt[0] != attempt:
            self._attempt = (attempt, uuid.uuid4())
        return self._attempt[1]

    def attempt_for(self, branch: str, tz: tzinfo, patient_id: int, service: str, offer: SlotOffer,
                    now: datetime) -> BookingAttempt:
        """The booking of ``offer`` to send (its client id from :meth:`client_id_for`)."""
        return attempt_of(branch, tz, patient_id, service, offer, now,
                          self.client_id_for(patient_id, service, offer))

    @property
    def client_id(self) -> uuid.UUID | None:
        """The client id of the latest attempt not settled yet, or ``None``."""
        return self._attempt[1] if self._attempt is not None else None

    def forget_attempt(self) -> None:
        """The attempt is settled (booked, or refused): the next one gets a new client id."""
        self._attempt = None

    # -- the message ------------------------------------------------------------------------------
    def show(self, text: str, kind: str = ERROR, topic: str = "") -> Message:
        """Set the message (:class:`Message`) and return it."""
        self.message = Message(text, kind, topic)
        return self.message

    def set_message(self, message: Message) -> Message:
        """Set the message to ``message`` and return it."""
        self.message = message
        return message

    # -- the words on the buttons -----------------------------------------------------------------
    @property
    def hold_text(self) -> str:
        """The hold button's words: ``"Confirm hold"`` with a hold made here, else ``"Hold slot"``."""
        return "Confirm hold" if self.held is not None else "Hold slot"

    @property
    def cancel_text(self) -> str:
        """The Cancel button's words: ``"Close"`` once an unsure booking was found saved (nothing is
        left to cancel), else ``"Cancel"``."""
        return "Close" if self.resolved else "Cancel"

    def end_topic(self, topic: str) -> bool:
        """Drop the message if it is about ``topic``; whether it was (the dialog hides it then)."""
        if self.message is not None and self.message.topic == topic:
            self.message = None
            return True
        return False


@dataclass(frozen=True)
class Refusal:
    """What the form does after a booking (or hold, or check) was refused: show ``message``;
    ``taken``: another desk took the time (the free starts are listed again, and the dialog tells
    the window, whose grid is behind)."""

    message: Message
    taken: bool = False


def refusal_of(error: ClinicError) -> Refusal:
    """The form's answer to a booking or hold refused with ``error`` (not ``CommitOutcomeUnknown``:
    the dialog settles that one). ``PatientBusy``/``SlotTaken``: the time went elsewhere meanwhile;
    ``DatabaseUnavailable``: lost before COMMIT or never reached, so nothing was saved."""
    if isinstance(error, PatientBusy):  # booked meanwhile elsewhere (another desk, the CLI)
        return Refusal(Message(f"{error} Nothing was booked; the list of free times has been refreshed "
                               "without that time; please pick another."), taken=True)
    if isinstance(error, SlotTaken):
        return Refusal(Message(f"{error} The list of free times has been refreshed; please pick another."),
                       taken=True)
    if isinstance(error, DatabaseUnavailable):
        return Refusal(Message("No connection to the clinic database, so nothing was booked. What you entered "
                               "is kept; press Book again when the connection is back.", topic=OFFLINE))
    return Refusal(Message(str(error)))


def check_refusal_of(error: ClinicError) -> Refusal | None:
    """The form's answer when checking a booking of unknown outcome failed with ``error``: ``None``
    for ``DatabaseUnavailable`` (still unsure: checked again when the connection is back), else the
    attempt is over — taken meanwhile (``SlotTaken``) or not saved."""
    if isinstance(error, DatabaseUnavailable):
        return None
    if isinstance(error, SlotTaken):
        return Refusal(Message(f"{TAKEN_MEANWHILE_TEXT} {error} The list of free times has been refreshed; "
                               "please pick another."), taken=True)
    return Refusal(Message(f"The booking was not saved: {error}"))


#: Shown while an unsure booking waits for a connection that dropped again during its check.
RECHECK_TEXT = f"{CHECKING_TEXT} The connection dropped again; the booking will be checked when it is back."


def failure_message(error: ClinicError, *, connection_watched: bool) -> Message:
    """The message for a load (services, free starts) that failed with ``error``; for a lost
    connection it says the load runs again when the connection is back (when it is watched)."""
    if isinstance(error, DatabaseUnavailable):
        return Message(f"{OFFLINE_TEXT}; this is tried again when the connection is back." if connection_watched
                       else f"{OFFLINE_TEXT}: {error}", topic=OFFLINE)
    return Message(str(error))


def slots_text(count: int, day_text: str, timezone: str) -> str:
    """The status line under the free starts: ``"3 free starts on Monday 4 January (times in
    America/Sao_Paulo)."``, or that the next free day is being looked for."""
    if count:
        return f"{count} free start{'s' if count != 1 else ''} on {day_text} (times in {timezone})."
    return f"No free time on {day_text}. Looking for the next free day…"


def attempt_of(branch: str, tz: tzinfo, patient_id: int, service: str, offer: SlotOffer, now: datetime,
               client_id: uuid.UUID | None = None) -> BookingAttempt:
    """``offer`` of ``service`` for ``patient_id`` as sent: its resources pinned by name, a new client
    id unless ``client_id`` is given."""
    return BookingAttempt(branch=branch, service=service, start=offer.start,
                          local_date=offer.start.astimezone(tz).date(), patient_id=patient_id,
                          client_id=client_id or uuid.uuid4(),
                          pins={kind: offer.resources[kind] for kind in KINDS if kind in offer.resources}, now=now)


# -- sending (on the runner's worker threads) ----------------------------------------------------
#: The reasons the audit log records for a booking and a hold made here.
BOOK_REASON = "booked at the front desk"
HOLD_REASON = "held at the front desk"


def send_hold(db: Database, attempt: BookingAttempt) -> AppointmentView:
    """Hold ``attempt``'s start for its patient (``scheduling.hold``: a ``held`` appointment that
    blocks its resources for the clinic's hold minutes). Raises what ``scheduling.hold`` raises."""
    return scheduling.hold(db, branch=attempt.branch, service=attempt.service, start=attempt.start,
                           patient_id=attempt.patient_id, client_id=attempt.client_id, now=attempt.now,
                           reason=HOLD_REASON, **attempt.pins)


def send_booking(db: Database, attempt: BookingAttempt) -> AppointmentView:
    """Book ``attempt`` (``scheduling.book`` with its client id: a second send of a committed
    attempt returns that booking). Raises what ``scheduling.book`` raises (``SlotTaken``,
    ``PatientBusy``, ``CommitOutcomeUnknown``, ``DatabaseUnavailable`` …)."""
    return scheduling.book(db, branch=attempt.branch, service=attempt.service, start=attempt.start,
                           patient_id=attempt.patient_id, client_id=attempt.client_id, now=attempt.now,
                           reason=BOOK_REASON, desk_note=attempt.desk_note, **attempt.pins)


def settle_attempt(db: Database, attempt: BookingAttempt) -> tuple[AppointmentView, bool]:
    """What became of ``attempt`` whose COMMIT outcome is unknown: ``(appointment, True)`` when an
    appointment with its client id is on its day, else it is booked again with the same client id
    (never twice: the id is unique) and ``(appointment, False)``. Raises as :func:`send_booking`."""
    saved = [a for a in scheduling.list_appointments(db, branch=attempt.branch, local_date=attempt.local_date)
             if a.client_id == str(attempt.client_id)]
    if saved:
        return saved[0], True
    return send_booking(db, attempt), False


# -- texts ---------------------------------------------------------------------------------------
def changes_offset(local_date: date, tz: ZoneInfo) -> bool:
    """Whether the UTC offset of ``tz`` changes during ``local_date`` (a DST day: times then show
    their offset)."""
    lo, hi = day_bounds_utc(local_date, tz)
    return lo.astimezone(tz).utcoffset() != hi.astimezone(tz).utcoffset()


def offer_cells(offer: SlotOffer, tz: ZoneInfo, *, with_offset: bool = False) -> list[str]:
    """The slot list's row of ``offer``: ``"09:00–09:30"`` (the offset too on a DST day), then one
    cell per kind of ``KINDS``: the resource's name and how many others could do it
    (``"Ana Souza  (+2 more)"``), ``""`` for a kind not booked."""
    cells = [f"{local_time_text(offer.start, tz, with_offset=with_offset)}–{local_time_text(offer.end, tz)}"]
    for kind in KINDS:
        name = offer.resources.get(kind, "")
        others = len(offer.choices.get(kind, ())) - 1
        cells.append(f"{name}  (+{others} more)" if others > 0 else name)
    return cells


def offer_tooltip(offer: SlotOffer) -> str:
    """The alternatives of ``offer``, one line per kind: ``"doctor: Ana Souza, Bruno Lima"``."""
    return "\n".join(f"{kind}: " + ", ".join(n for _, n in offer.choices.get(kind, ()))
                     for kind in KINDS if offer.choices.get(kind))


def held_text(appointment: AppointmentView, tz: tzinfo) -> str:
    """What the dialog says after a hold: until when, for whom, what and when (``tz``'s wall clock)."""
    until = (appointment.hold_expires_at or appointment.start).astimezone(tz)
    return (f"Held until {until:%H:%M} for {appointment.patient}: {appointment.service}, "
            f"{local_formats.day_time(appointment.start.astimezone(tz))}. Confirm hold books it; Cancel releases it.")


def settled_text(appointment: AppointmentView, saved_before: bool, tz: tzinfo) -> str:
    """What the dialog says once a booking of unknown outcome is settled and booked."""
    return (f"{SAVED_BEFORE_TEXT if saved_before else BOOKED_TEXT} {appointment.patient}, "
            f"{appointment.service}, {local_formats.day_time(appointment.start.astimezone(tz))}.")


def patient_day_text(name: str, appointments: list[AppointmentView], branch: str, tz: tzinfo) -> str:
    """``"Maria Silva already has Abdominal ultrasound 13:00–13:30 with Ana Souza; overlapping starts
    are not offered."`` (times in ``tz``, the branch's zone; another branch is named); ``""`` for none."""
    if not appointments:
        return ""
    parts = []
    for a in appointments:
        doctor = a.resources.get("doctor")
        where = f" at {a.branch}" if a.branch != branch else ""
        parts.append(f"{a.service} {a.start.astimezone(tz):%H:%M}–{a.end.astimezone(tz):%H:%M}"
                     f"{' with ' + doctor if doctor else ''}{where}")
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{name} already has {listed}; overlapping starts are not offered."
