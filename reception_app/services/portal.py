"""The patient portal's use cases (issue 17): what a visitor can see and do, through the database
functions written for the portal (``db/sql/portal.sql``) and nothing else.

The portal connects as a login in ``clinic_portal``, which may call those functions and read no
table. Finding free starts runs the desk's own slot engine (``domain.slots``) on the inputs
``portal_search_inputs`` returns — the same rows the desk's search reads (``services.catalog``),
without anything about who is booked — so the portal offers exactly what the desk would. Holding
and booking go to ``portal_hold`` / ``portal_book``, where the tables' triggers and constraints
judge them as they judge the desk's (the exclusion constraint decides a race: ``SlotTaken``).

Times are UTC ``datetime`` s unless named local; money in minor units of the clinic's currency.
Errors: ``PortalRefused`` (the function's reason, e.g. ``hold_gone``), ``SlotTaken``,
``PatientBusy``, ``ValidationError``, ``DatabaseUnavailable``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from ..domain import slots as engine
from ..domain.formats import Formats, formats_for
from ..domain.slots import BranchSpec, WeeklyRule
from ..domain.wallclock import day_bounds_utc
from ..store.database import Database
from . import catalog

#: Days a week of free starts covers.
WEEK_DAYS = 7


def _call(conn: Connection, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    """The single value a portal function returns (jsonb comes back decoded)."""
    rows = catalog.fetch(conn, sql, dict(params or {}))
    return rows[0][0] if rows else None


def _utc(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value).astimezone(UTC)


# -- the catalog -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PortalBranch:
    """A branch a visitor may book at: ``timezone`` (IANA), ``locale`` (``pt_BR``), ``phone``."""

    id: int
    name: str
    timezone: str
    locale: str
    phone: str | None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class PortalService:
    """A service bookable online: ``duration_min`` (minutes), ``deposit_cents`` and
    ``late_cancel_fee_cents`` (minor units), ``cancel_free_hours`` (hours), ``confirmation_mode``
    (immediate | approval | hybrid), whether it needs a doctor, and the ``branches`` (ids) that
    have everything it needs."""

    id: int
    name: str
    duration_min: int
    deposit_cents: int
    late_cancel_fee_cents: int
    cancel_free_hours: int
    confirmation_mode: str
    doctor_specialty: str | None
    branches: tuple[int, ...]


@dataclass(frozen=True)
class PortalDoctor:
    """A doctor bookable online: ``specialty``, their own online ``confirmation_mode`` (None: the
    service's) and the ``branches`` (ids) they work at."""

    id: int
    name: str
    specialty: str
    confirmation_mode: str | None
    branches: tuple[int, ...]


@dataclass(frozen=True)
class PortalCatalog:
    """What is bookable online (``portal_catalog``) and the portal's settings: ``hold_minutes``,
    ``min_notice_min`` (minutes), ``horizon_days``, ``code_minutes``; ``currency`` (ISO 4217);
    ``clinic``: the page's texts (see :meth:`text`)."""

    branches: tuple[PortalBranch, ...]
    services: tuple[PortalService, ...]
    doctors: tuple[PortalDoctor, ...]
    currency: str
    hold_minutes: int
    min_notice_min: int
    horizon_days: int
    code_minutes: int
    clinic: Mapping[str, str] = field(default_factory=dict)

    def text(self, key: str, default: str = "") -> str:
        """A text of the clinic's page: ``name``, ``address`` (``[clinic]``), ``portal_title``,
        ``portal_colour``, ``portal_terms``, ``portal_logo``, ``portal_public_url`` (``[portal]``)."""
        value = self.clinic.get(key)
        return str(value) if value else default

    def branch(self, branch_id: int) -> PortalBranch | None:
        return next((b for b in self.branches if b.id == branch_id), None)

    def service(self, service_id: int) -> PortalService | None:
        return next((s for s in self.services if s.id == service_id), None)

    def doctor(self, doctor_id: int) -> PortalDoctor | None:
        return next((d for d in self.doctors if d.id == doctor_id), None)

    def services_at(self, branch_id: int) -> list[PortalService]:
        """The services bookable online at a branch, by name."""
        return [s for s in self.services if branch_id in s.branches]

    def doctors_for(self, service: PortalService, branch_id: int) -> list[PortalDoctor]:
        """The doctors of the service's specialty bookable online at the branch, by name."""
        if service.doctor_specialty is None:
            return []
        return [d for d in self.doctors if d.specialty == service.doctor_specialty and branch_id in d.branches]

    def formats(self, branch: PortalBranch, locale: str | None = None) -> Formats:
        """How to write dates, times and money for a visitor: their ``locale`` (the page's
        language, e.g. ``pt_BR``) or else the branch's, with the clinic's currency."""
        return formats_for(locale or branch.locale, self.currency)


def load_catalog(db: Database) -> PortalCatalog:
    """What is bookable online now (one read). Raises ``DatabaseUnavailable``."""
    data = db.read(lambda conn: _call(conn, "SELECT portal_catalog()"))
    return PortalCatalog(
        branches=tuple(PortalBranch(b["id"], b["name"], b["timezone"], b["locale"], b["phone"])
                       for b in data["branches"]),
        services=tuple(PortalService(s["id"], s["name"], s["duration_min"], s["deposit_cents"],
                                     s["late_cancel_fee_cents"], s["cancel_free_hours"], s["confirmation_mode"],
                                     s["doctor_specialty"], tuple(s["branches"])) for s in data["services"]),
        doctors=tuple(PortalDoctor(d["id"], d["name"], d["specialty"], d["confirmation_mode"], tuple(d["branches"]))
                      for d in data["doctors"]),
        currency=data["currency"], hold_minutes=int(data["hold_minutes"]),
        min_notice_min=int(data["min_notice_min"]), horizon_days=int(data["horizon_days"]),
        code_minutes=int(data["code_minutes"]), clinic=dict(data.get("clinic") or {}))


# -- free starts -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FreeStart:
    """A start a visitor may take: ``start``/``end`` UTC (the appointment itself), the resources
    to hold (ids, one per kind the service needs) and the doctor's name (None: no doctor needed)."""

    start: datetime
    end: datetime
    resources: tuple[int, ...]
    doctor: str | None


@dataclass(frozen=True)
class Week:
    """A week of free starts from branch-local date ``first``: ``days`` maps each of the 7 local
    dates to its free starts (earliest first); ``timezone`` is the branch's zone."""

    first: date
    timezone: str
    days: dict[date, list[FreeStart]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.days.values())


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _engine_inputs(data: Mapping[str, Any]) -> tuple[BranchSpec, engine.ServiceSpec, list[engine.ResourceSpec],
                                                     dict[int, list[tuple[int, int]]], dict[int, str]]:
    """The slot engine's inputs from ``portal_search_inputs``' answer (shapes as ``services.catalog``
    reads them for the desk)."""
    b, s = data["branch"], data["service"]
    spec = BranchSpec(timezone=b["timezone"],
                      hours=tuple(WeeklyRule(weekday=w, start_min=lo, end_min=hi) for w, lo, hi in b["hours"]),
                      holidays=frozenset(date.fromisoformat(d) for d in b["holidays"]))
    service = catalog.service_info(s).spec
    rows = [(rid, name, kind, src, weekday, lo, hi, _day(first), _day(until))
            for rid, name, kind, src, weekday, lo, hi, first, until in data["resources"]]
    resources = catalog.candidates_from_rows(rows, service.needs)
    busy: dict[int, list[tuple[int, int]]] = {}
    for rid, lo, hi in data["busy"]:
        busy.setdefault(int(rid), []).append((int(lo), int(hi)))
    return spec, service, resources, busy, {r.id: r.name for r in resources}


def free_starts(db: Database, *, branch_id: int, service_id: int, doctor_id: int | None, first: date,
                now: datetime, days: int = WEEK_DAYS, timezone: str | None = None) -> Week:
    """The free starts of a service at a branch on ``days`` branch-local dates from ``first``, with
    ``doctor_id`` or any doctor bookable online: one start per time (the first free combination of
    resources, in the engine's order), within the portal's notice and horizon (the stricter of the
    service's and the portal's). ``now``: aware. ``timezone``: the branch's (from the catalog: saves
    a round trip), else read. One read.

    Raises ``PortalRefused`` (``not_online``: not bookable online), ``DatabaseUnavailable``.
    """
    def work(conn: Connection) -> Week:
        zone = timezone
        if zone is None:
            probe = _call(conn, "SELECT portal_search_inputs(%(b)s, %(s)s, %(d)s, now(), now() + interval '1 minute')",
                          {"b": branch_id, "s": service_id, "d": doctor_id})
            zone = str(probe["branch"]["timezone"])
        tz = ZoneInfo(zone)
        lo, _ = day_bounds_utc(first, tz)
        _, hi = day_bounds_utc(first + timedelta(days=days - 1), tz)
        lo -= timedelta(hours=_LONGEST_BUFFER_HOURS)      # the buffers and the duration, generously:
        hi += timedelta(hours=_LONGEST_BUFFER_HOURS + 24)  # busy time outside them changes no start
        data = _call(conn, "SELECT portal_search_inputs(%(b)s, %(s)s, %(d)s, %(lo)s, %(hi)s)",
                     {"b": branch_id, "s": service_id, "d": doctor_id, "lo": lo, "hi": hi})
        spec, service, resources, busy, names = _engine_inputs(data)
        dates = [first + timedelta(days=i) for i in range(days)]
        week = Week(first=first, timezone=spec.timezone, days={d: [] for d in dates})
        for option in engine.find_slots(spec, service, resources, busy, dates, now):
            combo = option.first_combination()
            local = option.start.astimezone(tz).date()
            week.days.setdefault(local, []).append(FreeStart(
                start=option.start.astimezone(UTC), end=option.end.astimezone(UTC),
                resources=tuple(combo[k] for k in engine.KINDS if k in combo),
                doctor=names.get(combo["doctor"]) if "doctor" in combo else None))
        return week

    return db.read(work)


#: How far around the searched days busy time is read (hours): longer than any service with its
#: buffers (a service's duration is at most a day: clinic config).
_LONGEST_BUFFER_HOURS = 24


class WeekCache:
    """Weeks of free starts computed once and shared by every visitor asking for the same branch,
    service, doctor and first day, until the schedule of that branch changes — the portal's LISTEN
    bridge calls :meth:`invalidate` for each ``clinic_schedule`` notification, :meth:`clear` for a
    roster change or a reconnection — or ``max_age_s`` seconds pass (notifications are best effort).
    Only while :attr:`enabled` (a listener is live); otherwise every request computes its own.

    What a week offers is only an offer: a start taken meanwhile is refused by the database at
    the hold, and the page then shows the next free ones (computed fresh). Thread-safe; one visitor
    computes a missing week while the others asking for it wait.
    """

    def __init__(self, max_age_s: float = 15.0) -> None:
        import threading

        self.max_age_s = max_age_s
        self.enabled = False
        self._weeks: dict[tuple[int, int, int | None, date], tuple[float, Week]] = {}
        self._locks: dict[tuple[int, int, int | None, date], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int, int | None, date], compute: Callable[[], Week]) -> Week:
        import time

        if not self.enabled:
            return compute()
        with self._lock:
            hit = self._weeks.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.max_age_s:
                return hit[1]
            lock = self._locks.setdefault(key, __import__("threading").Lock())
        with lock:
            with self._lock:
                hit = self._weeks.get(key)
                if hit is not None and time.monotonic() - hit[0] < self.max_age_s:
                    return hit[1]
            started = time.monotonic()
            week = compute()
            with self._lock:
                self._weeks[key] = (started, week)
                if len(self._weeks) > 5000:
                    self._weeks.clear()
            return week

    def invalidate(self, branch_id: int, day: date | None = None) -> None:
        """Forget the weeks of ``branch_id`` (that include branch-local ``day``, when given)."""
        with self._lock:
            for key in [k for k in self._weeks if k[0] == branch_id and
                        (day is None or k[3] - timedelta(days=1) <= day <= k[3] + timedelta(days=WEEK_DAYS))]:
                del self._weeks[key]

    def clear(self) -> None:
        with self._lock:
            self._weeks.clear()


def next_free(db: Database, *, branch_id: int, service_id: int, doctor_id: int | None, after: datetime,
              now: datetime, count: int = 6, weeks: int = 4) -> list[FreeStart]:
    """Up to ``count`` free starts after ``after`` (UTC), searching week by week up to ``weeks``
    weeks: what a visitor whose start was just taken is offered instead. Raises as :func:`free_starts`."""
    found: list[FreeStart] = []
    tz = None
    first = None
    for _ in range(weeks):
        if first is None:
            tz = tz or _branch_zone(db, branch_id, service_id)
            first = after.astimezone(tz).date()
        week = free_starts(db, branch_id=branch_id, service_id=service_id, doctor_id=doctor_id, first=first, now=now)
        found.extend(f for day in sorted(week.days) for f in week.days[day] if f.start > after)
        if len(found) >= count:
            break
        first = first + timedelta(days=WEEK_DAYS)
    return found[:count]


def _branch_zone(db: Database, branch_id: int, service_id: int) -> ZoneInfo:
    data = db.read(lambda conn: _call(
        conn, "SELECT portal_search_inputs(%(b)s, %(s)s, NULL, now(), now() + interval '1 minute')",
        {"b": branch_id, "s": service_id}))
    return ZoneInfo(data["branch"]["timezone"])


# -- holding and booking --------------------------------------------------------------------------
@dataclass(frozen=True)
class Hold:
    """A start held for a visitor: ``token`` (their hold link, kept in their session) and when the
    hold ends (UTC)."""

    token: str
    expires_at: datetime


def hold(db: Database, *, branch_id: int, service_id: int, resources: Sequence[int], start: datetime) -> Hold:
    """Hold ``start`` (UTC) on ``resources`` while the visitor types their details (one
    SERIALIZABLE transaction; the desk's grid shows it as held, online).

    Raises ``SlotTaken`` (taken meanwhile: offer :func:`next_free`), ``PortalRefused``
    (``outside_window``, ``not_online``, ``bad_resources``, ``busy``), ``ValidationError``
    (the database refused the time: off the grid, outside hours or shifts), ``DatabaseUnavailable``.
    """
    def work(conn: Connection) -> Hold:
        data = _call(conn, "SELECT portal_hold(%(b)s, %(s)s, %(r)s::integer[], %(t)s)",
                     {"b": branch_id, "s": service_id, "r": list(resources), "t": start})
        return Hold(data["hold"], _utc(data["expires_at"]) or start)

    return db.write(work, reason="held online")


def release(db: Database, token: str) -> bool:
    """Give a held start back (the visitor left or chose another); False when it was gone already."""
    return bool(db.write(lambda conn: _call(conn, "SELECT portal_release(%(h)s)", {"h": token}),
                         reason="hold released online"))


def send_code(db: Database, token: str, *, channel: str, contact: str) -> str:
    """A new six-digit verification code for ``contact`` (E.164 phone for ``sms``, address for
    ``email``), to be sent to it; the database keeps only its HMAC. Raises ``PortalRefused``
    (``hold_gone``, ``bad_contact``, ``too_many_codes``)."""
    return str(db.write(lambda conn: _call(conn, "SELECT portal_send_code(%(h)s, %(c)s, %(t)s)",
                                           {"h": token, "c": channel, "t": contact}),
                        reason="verification code sent"))


@dataclass(frozen=True)
class PatientDetails:
    """What a visitor gives: ``name``, ``birth_date``, ``phone`` (E.164 or None), ``email`` (or
    None), ``consent`` (channels they agree to be messaged on), ``language`` (two letters)."""

    name: str
    birth_date: date
    phone: str | None
    email: str | None
    consent: tuple[str, ...] = ()
    language: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "birth_date": self.birth_date.isoformat(), "phone": self.phone,
                "email": self.email, "consent": list(self.consent), "language": self.language}


@dataclass(frozen=True)
class Booked:
    """A verified online booking: its ``status`` (confirmed, requested, payment_pending) and the
    patient's appointment ``link`` token."""

    status: str
    link: str


@dataclass(frozen=True)
class CodeProblem:
    """The code was wrong (``code_wrong``, with ``attempts_left``) or is no longer valid
    (``code_expired``): nothing was booked."""

    reason: str
    attempts_left: int


def book(db: Database, token: str, code: str, details: PatientDetails) -> Booked | CodeProblem:
    """Book the held start for the visitor once ``code`` is the one sent (one SERIALIZABLE
    transaction): the patient is matched by the verified contact and date of birth or added (an
    ambiguous match is added and flagged for the desk to merge), and the status follows the
    service's (or doctor's) confirmation mode and deposit.

    Raises ``PortalRefused`` (``hold_gone``, ``bad_details``, ``contact_changed``), ``PatientBusy``
    (the patient already has an appointment then), ``ValidationError`` (the database refused a
    value), ``DatabaseUnavailable``.
    """
    data = db.write(lambda conn: _call(conn, "SELECT portal_book(%(h)s, %(c)s, %(d)s::jsonb)",
                                       {"h": token, "c": code, "d": json.dumps(details.to_json())}),
                    reason="booked online")
    if "error" in data:
        return CodeProblem(str(data["error"]), int(data.get("attempts_left") or 0))
    return Booked(str(data["status"]), str(data["link"]))


# -- the patient's own appointment ------------------------------------------------------------------
@dataclass(frozen=True)
class PortalAppointment:
    """What a patient's link shows: first name, service, branch (zone, locale, phone), doctor, the
    times (UTC), status, when the patient confirmed, the cancellation terms of its policy
    (``free_until`` UTC, ``late_fee_cents``), the deposit and what was paid (minor units), the
    patient's note, and the database's ``now``."""

    first_name: str
    service: str
    service_id: int
    branch: str
    branch_id: int
    timezone: str
    locale: str
    branch_phone: str | None
    currency: str
    doctor: str | None
    start: datetime
    end: datetime
    status: str
    patient_confirmed_at: datetime | None
    free_until: datetime
    late_fee_cents: int
    deposit_cents: int
    paid_cents: int
    patient_note: str
    now: datetime
    #: For a rescheduled appointment: the link of the appointment that now replaces it, else None.
    moved_to: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def live(self) -> bool:
        """Whether the patient may still act on it (not cancelled, not started)."""
        return self.status in ("requested", "confirmed", "payment_pending") and self.start > self.now

    @property
    def late_now(self) -> bool:
        """Whether cancelling now is late (after ``free_until``): the fee applies."""
        return self.now > self.free_until

    @property
    def fee_if_cancelled_now(self) -> int:
        return self.late_fee_cents if self.late_now else 0


def appointment(db: Database, link: str) -> PortalAppointment | None:
    """The appointment a link names, or None when the link is not (or no longer) valid."""
    data = db.read(lambda conn: _call(conn, "SELECT portal_appointment(%(l)s)", {"l": link}))
    if not data:
        return None
    return PortalAppointment(
        first_name=data["first_name"], service=data["service"], service_id=int(data["service_id"]),
        branch=data["branch"], branch_id=int(data["branch_id"]), timezone=data["timezone"], locale=data["locale"],
        branch_phone=data["branch_phone"], currency=data["currency"], doctor=data["doctor"],
        start=_utc(data["starts_at"]) or datetime.now(UTC), end=_utc(data["ends_at"]) or datetime.now(UTC),
        status=data["status"], patient_confirmed_at=_utc(data["patient_confirmed_at"]),
        free_until=_utc(data["free_until"]) or datetime.now(UTC), late_fee_cents=int(data["late_fee_cents"]),
        deposit_cents=int(data["deposit_cents"]), paid_cents=int(data["paid_cents"]),
        patient_note=data["patient_note"] or "", now=_utc(data["now"]) or datetime.now(UTC),
        moved_to=data.get("moved_to"))


def confirm(db: Database, link: str) -> datetime:
    """The patient confirms they will come; returns when (UTC; the first time if confirmed before).
    Raises ``PortalRefused`` (``bad_link``, ``not_live``, ``started``)."""
    value = db.write(lambda conn: _call(conn, "SELECT portal_confirm(%(l)s)", {"l": link}),
                     reason="attendance confirmed online")
    return _utc(value) or datetime.now(UTC)


@dataclass(frozen=True)
class Cancelled:
    """A cancellation: whether it was late and the fee it costs (minor units; 0 when early)."""

    late: bool
    fee_cents: int


@dataclass(frozen=True)
class FeeNotAccepted:
    """Cancelling now costs ``fee_cents``, which the patient has not agreed to: nothing changed."""

    fee_cents: int


def cancel(db: Database, link: str, *, accept_fee: bool) -> Cancelled | FeeNotAccepted:
    """The patient cancels (the desk's rule: late after the policy's free hours, then the late fee).
    Raises ``PortalRefused`` (``bad_link``, ``not_live``, ``started``)."""
    data = db.write(lambda conn: _call(conn, "SELECT portal_cancel(%(l)s, %(a)s)", {"l": link, "a": accept_fee}),
                    reason="cancelled online by the patient")
    if "error" in data:
        return FeeNotAccepted(int(data["fee_cents"]))
    return Cancelled(bool(data["cancelled_late"]), int(data["fee_cents"]))


@dataclass(frozen=True)
class Rescheduled:
    """The appointment a reschedule made: its ``status`` and the patient's new ``link`` (the old
    link now shows the old appointment as moved)."""

    status: str
    link: str


def reschedule(db: Database, link: str, *, resources: Sequence[int], start: datetime) -> Rescheduled:
    """The patient moves their appointment to ``start`` (UTC) on ``resources`` — a new appointment,
    the old one ``rescheduled`` and linked to it, as the desk's ``scheduling.reschedule`` does (one
    SERIALIZABLE transaction).

    Raises ``SlotTaken`` (taken meanwhile), ``PatientBusy``, ``PortalRefused`` (``bad_link``,
    ``not_live``, ``started``, ``outside_window``, ``bad_resources``, ``not_online``),
    ``ValidationError`` (the database refused the time), ``DatabaseUnavailable``.
    """
    data = db.write(lambda conn: _call(conn, "SELECT portal_reschedule(%(l)s, %(r)s::integer[], %(t)s)",
                                       {"l": link, "r": list(resources), "t": start}),
                    reason="rescheduled online by the patient")
    return Rescheduled(str(data["status"]), str(data["link"]))


def note(db: Database, link: str, text: str) -> None:
    """The patient's note for the desk (at most 500 characters; empty clears it). Raises
    ``PortalRefused`` (``bad_link``, ``not_live``, ``started``, ``note_too_long``)."""
    db.write(lambda conn: _call(conn, "SELECT portal_note(%(l)s, %(n)s)", {"l": link, "n": text}),
             reason="patient note online")


@dataclass(frozen=True)
class Held:
    """What a visitor's hold holds: service, branch (zone, locale, phone), doctor, the times (UTC),
    when the hold ends (UTC), the deposit and late fee (minor units), the free cancellation hours
    and the confirmation mode the booking will follow."""

    service: str
    service_id: int
    branch: str
    branch_id: int
    timezone: str
    locale: str
    branch_phone: str | None
    doctor: str | None
    doctor_id: int | None
    start: datetime
    end: datetime
    expires_at: datetime
    deposit_cents: int
    late_fee_cents: int
    cancel_free_hours: int
    confirmation_mode: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def held(db: Database, token: str) -> Held | None:
    """The hold a visitor's hold token names, or None once it is gone (expired, released, booked)."""
    data = db.read(lambda conn: _call(conn, "SELECT portal_held(%(h)s)", {"h": token}))
    if not data:
        return None
    return Held(service=data["service"], service_id=int(data["service_id"]), branch=data["branch"],
                branch_id=int(data["branch_id"]), timezone=data["timezone"], locale=data["locale"],
                branch_phone=data["branch_phone"], doctor=data["doctor"],
                doctor_id=int(data["doctor_id"]) if data["doctor_id"] is not None else None,
                start=_utc(data["starts_at"]) or datetime.now(UTC), end=_utc(data["ends_at"]) or datetime.now(UTC),
                expires_at=_utc(data["hold_expires_at"]) or datetime.now(UTC),
                deposit_cents=int(data["deposit_cents"]), late_fee_cents=int(data["late_fee_cents"]),
                cancel_free_hours=int(data["cancel_free_hours"]), confirmation_mode=data["confirmation_mode"])


@dataclass(frozen=True)
class SmsReply:
    """What the portal did with a patient's SMS: ``action`` (``confirmed``, ``cancelled``,
    ``cancel_needs_link``, ``stop``, ``for_desk``), the language to answer in (two letters or None),
    the appointment it concerned (service, start UTC, branch zone and locale; None when none), the
    fee a cancellation would cost (minor units) and, for ``cancel_needs_link``, the page to cancel on."""

    action: str
    language: str | None
    service: str | None
    start: datetime | None
    timezone: str | None
    locale: str | None
    fee_cents: int
    link: str | None


def sms_reply(db: Database, *, provider_ref: str, sender: str, text: str) -> SmsReply:
    """Act on an SMS a patient sent (the gateway's inbound webhook) — once per ``provider_ref``
    (the gateway's message id: a retried webhook gets the first answer). ``sender``: E.164.
    Raises ``PortalRefused`` (``bad_message``), ``DatabaseUnavailable``."""
    data = db.write(lambda conn: _call(conn, "SELECT portal_sms_reply(%(s)s, %(f)s, %(b)s)",
                                       {"s": provider_ref, "f": sender, "b": text}),
                    reason="patient's SMS reply")
    return SmsReply(action=str(data["action"]), language=data.get("language"), service=data.get("service"),
                    start=_utc(data.get("starts_at")), timezone=data.get("timezone"), locale=data.get("locale"),
                    fee_cents=int(data.get("fee_cents") or 0), link=data.get("link"))


@dataclass(frozen=True)
class PortalOffer:
    """A waitlist offer as its link shows it: first name, service, branch (zone, locale, phone),
    doctor, the held times and until when it is held (UTC), its ``state`` (``open``, ``accepted``,
    ``declined``, ``expired``) and, once accepted, the appointment's ``link``."""

    first_name: str
    service: str
    branch: str
    timezone: str
    locale: str
    branch_phone: str | None
    doctor: str | None
    start: datetime
    end: datetime
    expires_at: datetime
    state: str
    link: str | None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def offer(db: Database, link: str) -> PortalOffer | None:
    """The waitlist offer an offer link names, or None for a link that is not (or no longer) valid."""
    data = db.read(lambda conn: _call(conn, "SELECT portal_offer(%(l)s)", {"l": link}))
    if not data:
        return None
    return PortalOffer(first_name=data["first_name"], service=data["service"], branch=data["branch"],
                       timezone=data["timezone"], locale=data["locale"], branch_phone=data["branch_phone"],
                       doctor=data["doctor"], start=_utc(data["starts_at"]) or datetime.now(UTC),
                       end=_utc(data["ends_at"]) or datetime.now(UTC),
                       expires_at=_utc(data["expires_at"]) or datetime.now(UTC), state=data["state"],
                       link=data.get("link"))


def decide_offer(db: Database, link: str, *, accept: bool) -> tuple[str, str | None]:
    """The patient accepts or declines a waitlist offer (``services.waitlist``'s rule, one
    SERIALIZABLE transaction); returns (state, the appointment's link once accepted). A decline
    leaves the freed time to the next sweep's offer. Raises ``PortalRefused`` (``bad_link``,
    ``offer_gone``: expired or answered the other way), ``DatabaseUnavailable``."""
    data = db.write(lambda conn: _call(conn, "SELECT portal_offer_decide(%(l)s, %(a)s)", {"l": link, "a": accept}),
                    reason="waitlist offer " + ("accepted" if accept else "declined") + " online")
    return str(data["state"]), data.get("link")
