"""The booking dialog's background searches: :class:`SlotSearch`.

One job: send the reads behind the dialog's "Appointment" box to the shared runner and hand the
answers back — the free starts of one local day, the first free start in the ``NEXT_FREE_DAYS``
days after an empty day, the chosen patient's live appointments on the day shown (any branch),
and the chosen service's terms. Each search has its own runner key, so a newer search of a kind
drops the answer of an older one still running; :meth:`SlotSearch.discard` drops them all (the
dialog closes). Nothing here writes, and nothing here touches a widget.

Callbacks run on the GUI thread (the runner's ``on_success``/``on_failure``); failures arrive as
the ``ClinicError`` the service raised (``DatabaseUnavailable`` for a lost connection …).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from ..domain.errors import ClinicError
from ..domain.wallclock import day_bounds_utc
from ..services import scheduling
from ..services.dayview import BranchSummary, ServiceSummary
from ..services.scheduling import AppointmentView, ServiceTerms, SlotOffer
from ..store.database import Database
from .booking_model import NEXT_FREE_DAYS
from .runner import Clock, Runner

#: The searches, by name (each one runner key per dialog).
SEARCHES = ("slots", "next_free", "patient_day", "terms")

Failure = Callable[[ClinicError], None]


#: How far ahead the booking dialog looks for the patient's upcoming appointments of the same service.
UPCOMING_DAYS = 400

class SlotSearch:
    """The background searches of one booking dialog at ``branch`` (see the module docstring).

    ``clock`` gives the current aware time, read when a search is sent (the slot engine leaves out
    starts inside the minimum notice from it).
    """

    def __init__(self, db: Database, runner: Runner, branch: BranchSummary, clock: Clock) -> None:
        self._db = db
        self._runner = runner
        self._branch = branch
        self._clock = clock
        self._keys = {k: f"{k}-{id(self)}" for k in SEARCHES}

    def day(self, service: ServiceSummary, pins: dict[str, str], local_date: date, patient_id: int | None, *,
            on_success: Callable[[list[SlotOffer]], None], on_failure: Failure) -> None:
        """The free starts of ``service`` on ``local_date`` (branch-local), restricted to ``pins``
        (kind -> resource name), without those overlapping ``patient_id``'s own appointments."""
        db, branch, now = self._db, self._branch.name, self._clock()
        self._runner.run(
            lambda: scheduling.find_slots(db, branch=branch, service=service.name, local_date=local_date,
                                          now=now, doctor=pins.get("doctor"), room=pins.get("room"),
                                          equipment=pins.get("equipment"), patient_id=patient_id),
            on_success=on_success, on_failure=on_failure, key=self._keys["slots"], label="find slots")

    def next_free(self, service: ServiceSummary, pins: dict[str, str], after: date, patient_id: int | None, *,
                  on_success: Callable[[list[SlotOffer]], None], on_failure: Failure) -> None:
        """The free starts of ``service`` on the ``NEXT_FREE_DAYS`` local days after ``after`` (as
        :meth:`day`; the dialog shows the first)."""
        db, branch, now, first = self._db, self._branch.name, self._clock(), after + timedelta(days=1)
        self._runner.run(
            lambda: scheduling.find_slots(db, branch=branch, service=service.name, local_date=first,
                                          days=NEXT_FREE_DAYS, now=now, patient_id=patient_id, **pins),
            on_success=on_success, on_failure=on_failure, key=self._keys["next_free"], label="find next free day")

    def patient_day(self, patient_id: int, local_date: date, *,
                    on_success: Callable[[list[AppointmentView]], None], on_failure: Failure,
                    upcoming_from: datetime | None = None) -> None:
        """The patient's live appointments (any branch) overlapping the branch-local ``local_date``
        — and, with ``upcoming_from`` (aware: now), every one from then on for :data:`UPCOMING_DAYS`
        days too (one read), so the dialog can say the patient is already booked for the service."""
        lo, hi = day_bounds_utc(local_date, self._branch.tz)
        if upcoming_from is not None:
            lo, hi = min(lo, upcoming_from), max(hi, upcoming_from + timedelta(days=UPCOMING_DAYS))
        db = self._db
        self._runner.run(lambda: scheduling.patient_appointments_between(db, patient_id, lo, hi),
                         on_success=on_success, on_failure=on_failure, key=self._keys["patient_day"],
                         label="the patient's appointments that day")

    def terms(self, service: str, *, on_success: Callable[[ServiceTerms], None]) -> None:
        """The confirmation, deposit and cancellation terms of ``service`` (by name); a failure is
        dropped (the terms are a note: the slot search says what is wrong)."""
        db = self._db
        self._runner.run(lambda: scheduling.service_terms(db, service), on_success=on_success,
                         on_failure=lambda _error: None, key=self._keys["terms"], label="service terms")

    def drop(self, *searches: str) -> None:
        """Drop the answers of the named searches (of ``SEARCHES``) still running."""
        self._runner.discard(*(self._keys[s] for s in searches))

    def discard(self) -> None:
        """Drop the answers of every search still running."""
        self.drop(*SEARCHES)
