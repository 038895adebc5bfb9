"""The waitlist with automatic backfill (issue 4): entries, freed slots, held offers.

A **waitlist entry** (table ``waitlist_entry``) asks for a service at a branch
within a window of branch-local dates (``first_date``..``last_date``) and
branch-local wall-clock minutes (``earliest_min``..``latest_min``, the latest
*end*), optionally with one doctor, and a ``priority`` (higher first).

When a live appointment in the future is cancelled (or rescheduled), migration
0003's trigger records a **freed slot** (``freed_slot``, state ``open``) in the
same transaction and sends ``NOTIFY clinic_waitlist``. :func:`process_freed_slots`
turns open freed slots into **offers**: the first fitting entry (priority, then
age) gets the freed time as a ``held`` appointment on the same resources, which
expires after ``clinic_setting.offer_minutes`` (10), a ``waitlist_offer`` row and
a ``waitlist_offer`` notification for the reminder service — one SERIALIZABLE
transaction. :func:`accept_offer` confirms the held appointment (entry
``booked``, slot ``filled``); :func:`decline_offer` and expiry release it (entry
back to ``waiting``) and pass the slot on to the next fitting entry.

Who calls :func:`process_freed_slots`: the window right after a cancellation
commits, the reminder service on ``NOTIFY clinic_waitlist`` and as a periodic
sweep (that is also what expires offers). It is safe to call from any number of
processes at once: each freed slot is claimed with ``FOR UPDATE SKIP LOCKED``
inside a SERIALIZABLE transaction, entries are locked before they are offered,
and the database keeps at most one open offer per slot (partial unique index
``waitlist_offer_one_open``), never offers one slot twice to one entry
(``UNIQUE (freed_slot_id, entry_id)``), and never lets two live bookings overlap
(``booking_no_overlap``).

Fitting entry for a freed slot (rules of issue 4): status ``waiting``; same
branch and same service as the freed appointment; the freed slot's local date
within the entry's dates and its local start/end within the entry's times; the
entry's doctor, if any, is the freed slot's doctor; not the patient whose
appointment was cancelled; not already offered this slot; the patient has no
other live appointment overlapping the time. The freed time itself must still
be bookable by the slot engine on exactly the freed resources (shifts, opening
hours, holidays, time off, other bookings, the service's minimum notice);
otherwise — time past, resources re-booked by someone else — the slot is
closed ``unfilled``, as it is when no entry fits.

Times: instants are aware UTC datetimes; ``now`` is passed by the caller (the
offer's expiry is ``now + offer_minutes``). Dates and minutes of entries are
branch-local wall clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from ..domain.errors import InvalidTransition, NotFound, PatientBusy, SlotTaken, ValidationError
from ..domain.validation import check_text, parse_date, parse_schedule_instant
from ..domain.wallclock import MINUTES_PER_DAY, format_minute, parse_hhmm
from ..store.database import Database
from . import booking, catalog, checks
from .catalog import fetch
from .notifications import queue_notification

#: Entry statuses (``waitlist_entry.status``); the first two are still on the list.
ENTRY_STATUSES: tuple[str, ...] = ("waiting", "offered", "booked", "cancelled")
#: Offer statuses (``waitlist_offer.status``).
OFFER_STATUSES: tuple[str, ...] = ("open", "accepted", "declined", "expired")
#: ``status_reason`` of a held offer released because nobody answered in time.
OFFER_EXPIRED_REASON = "offer expired"
#: Bounds of an entry's priority (a smallint in the table; higher is offered first).
PRIORITY_RANGE = (-1000, 1000)
#: Source recorded on the held appointment (the table knows phone, walk_in, online, import).
OFFER_SOURCE = "phone"


@dataclass(frozen=True)
class WaitlistEntryView:
    """One waitlist entry. ``first_date``/``last_date``: branch-local dates;
    ``earliest_min``/``latest_min``: branch-local minutes from midnight (latest is the
    latest *end*, up to 1440); ``created_at``: UTC; ``doctor``: None for any doctor."""

    id: int
    client_id: str
    patient_id: int
    patient: str
    service_id: int
    service: str
    branch_id: int
    branch: str
    doctor_id: int | None
    doctor: str | None
    first_date: date
    last_date: date
    earliest_min: int
    latest_min: int
    priority: int
    status: str
    note: str
    created_at: datetime

    @property
    def window_text(self) -> str:
        """``"2027-01-04 – 2027-01-08, 08:00–12:00"`` (one date shown once; ISO: the CLI's form)."""
        return self.window_text_in(date.isoformat)

    def window_text_in(self, date_text: Callable[[date], str]) -> str:
        """:attr:`window_text` with the dates as ``date_text`` writes them (a branch's form:
        ``Formats.date_text`` → ``"04/01/2027 – 08/01/2027, 08:00–12:00"``)."""
        dates = (date_text(self.first_date) if self.first_date == self.last_date
                 else f"{date_text(self.first_date)} – {date_text(self.last_date)}")
        return f"{dates}, {format_minute(self.earliest_min)}–{format_minute(self.latest_min)}"

    def age(self, now: datetime) -> timedelta:
        """How long the entry has been on the list at ``now`` (never negative)."""
        return max(now - self.created_at, timedelta(0))


@dataclass(frozen=True)
class OfferView:
    """One offer of a freed slot to an entry. ``start``/``end``: the held appointment's UTC
    times; ``expires_at``/``created_at``/``decided_at``: UTC; ``resources``: kind → name."""

    id: int
    freed_slot_id: int
    entry_id: int
    appointment_id: int
    patient_id: int
    patient: str
    branch_id: int
    branch: str
    service: str
    start: datetime
    end: datetime
    expires_at: datetime
    status: str
    created_at: datetime
    decided_at: datetime | None
    resources: dict[str, str] = field(default_factory=dict)
    #: The patient's phone (E.164), to call about the offer; None when there is none.
    phone: str | None = None

    def seconds_left(self, now: datetime) -> int:
        """Whole seconds until the offer expires at ``now`` (0 once expired or decided)."""
        if self.status != "open":
            return 0
        return max(int((self.expires_at - now).total_seconds()), 0)


@dataclass(frozen=True)
class DeclineResult:
    """A declined offer and the offer the freed slot went to next (None: nobody fits, or another
    workstation made it first — :func:`list_offers` shows it)."""

    declined: OfferView
    next_offer: OfferView | None


# -- reading ---------------------------------------------------------------------------------
_ENTRY_SQL = """
SELECT e.id, e.client_id, e.patient_id, p.display_name AS patient, e.service_id, s.name AS service,
       e.branch_id, br.name AS branch, e.doctor_id, d.name AS doctor, e.first_date, e.last_date,
       e.earliest_min, e.latest_min, e.priority, e.status, e.note, e.created_at
  FROM waitlist_entry e
  JOIN patient p ON p.id = e.patient_id
  JOIN service s ON s.id = e.service_id
  JOIN branch br ON br.id = e.branch_id
  LEFT JOIN resource d ON d.id = e.doctor_id
"""

_OFFER_SQL = """
SELECT o.id, o.freed_slot_id, o.entry_id, o.appointment_id, a.patient_id, p.display_name AS patient, p.phone,
       a.branch_id, br.name AS branch, s.name AS service, a.starts_at, a.ends_at, o.expires_at, o.status,
       o.created_at, o.decided_at,
       (SELECT coalesce(json_object_agg(r.kind, r.name), '{}') FROM booking b
          JOIN resource r ON r.id = b.resource_id WHERE b.appointment_id = a.id) AS resources
  FROM waitlist_offer o
  JOIN appointment a ON a.id = o.appointment_id
  JOIN patient p ON p.id = a.patient_id
  JOIN branch br ON br.id = a.branch_id
  JOIN service s ON s.id = a.service_id
"""


def _entry_view(r: dict[str, Any]) -> WaitlistEntryView:
    return WaitlistEntryView(
        id=r["id"], client_id=str(r["client_id"]), patient_id=r["patient_id"], patient=r["patient"],
        service_id=r["service_id"], service=r["service"], branch_id=r["branch_id"], branch=r["branch"],
        doctor_id=r["doctor_id"], doctor=r["doctor"], first_date=r["first_date"], last_date=r["last_date"],
        earliest_min=r["earliest_min"], latest_min=r["latest_min"], priority=r["priority"], status=r["status"],
        note=r["note"], created_at=r["created_at"].astimezone(UTC))


def _offer_view(r: dict[str, Any]) -> OfferView:
    return OfferView(
        id=r["id"], freed_slot_id=r["freed_slot_id"], entry_id=r["entry_id"], appointment_id=r["appointment_id"],
        patient_id=r["patient_id"], patient=r["patient"], branch_id=r["branch_id"], branch=r["branch"],
        service=r["service"], start=r["starts_at"].astimezone(UTC), end=r["ends_at"].astimezone(UTC),
        expires_at=r["expires_at"].astimezone(UTC), status=r["status"], created_at=r["created_at"].astimezone(UTC),
        decided_at=r["decided_at"].astimezone(UTC) if r["decided_at"] else None, resources=dict(r["resources"]),
        phone=r.get("phone"))


def _statuses(status: str | tuple[str, ...] | list[str] | None, allowed: tuple[str, ...]) -> list[str]:
    wanted = list(allowed) if status is None else [status] if isinstance(status, str) else list(status)
    for s in wanted:
        if s not in allowed:
            raise ValidationError("status", s, f"must be one of {', '.join(allowed)}")
    return wanted


def _get_entry(conn: Connection, entry_id: int) -> WaitlistEntryView:
    rows = fetch(conn, _ENTRY_SQL + " WHERE e.id = %(i)s", {"i": entry_id}, dicts=True)
    if not rows:
        raise NotFound("waitlist_entry", entry_id)
    return _entry_view(rows[0])


def _get_offer(conn: Connection, offer_id: int) -> OfferView:
    rows = fetch(conn, _OFFER_SQL + " WHERE o.id = %(i)s", {"i": offer_id}, dicts=True)
    if not rows:
        raise NotFound("offer", offer_id)
    return _offer_view(rows[0])


def list_entries(db: Database, *, branch: str | int | None = None,
                 status: str | tuple[str, ...] | list[str] | None = ("waiting", "offered")) -> list[WaitlistEntryView]:
    """Waitlist entries of ``branch`` (name or id; None: every branch) whose status is in
    ``status`` (one status, several, or None for all), in offer order: priority (higher
    first), then age (oldest first). Raises ``NotFound`` (branch), ``ValidationError`` (status)."""
    wanted = _statuses(status, ENTRY_STATUSES)

    def work(conn: Connection) -> list[WaitlistEntryView]:
        branch_id = catalog.load_branch(conn, branch).id if branch is not None else None
        rows = fetch(conn, _ENTRY_SQL + " WHERE e.status = ANY(%(st)s) "
                     "AND (%(b)s::integer IS NULL OR e.branch_id = %(b)s) "
                     "ORDER BY e.priority DESC, e.created_at, e.id", {"st": wanted, "b": branch_id}, dicts=True)
        return [_entry_view(r) for r in rows]

    return db.read(work)


def list_offers(db: Database, *, branch: str | int | None = None,
                status: str | tuple[str, ...] | list[str] | None = "open") -> list[OfferView]:
    """Offers of ``branch`` (name or id; None: every branch) whose status is in ``status``
    (default: the open ones), soonest expiry first. Raises ``NotFound``, ``ValidationError``."""
    wanted = _statuses(status, OFFER_STATUSES)

    def work(conn: Connection) -> list[OfferView]:
        branch_id = catalog.load_branch(conn, branch).id if branch is not None else None
        rows = fetch(conn, _OFFER_SQL + " WHERE o.status = ANY(%(st)s) "
                     "AND (%(b)s::integer IS NULL OR a.branch_id = %(b)s) ORDER BY o.expires_at, o.id",
                     {"st": wanted, "b": branch_id}, dicts=True)
        return [_offer_view(r) for r in rows]

    return db.read(work)


def get_offer(db: Database, offer_id: int) -> OfferView:
    """One offer by id. Raises ``NotFound("offer", …)``, ``ValidationError`` (an id that is not a whole number)."""
    checks.record_id(offer_id, "offer")
    return db.read(lambda conn: _get_offer(conn, offer_id))


# -- entries -----------------------------------------------------------------------------------
def _require_aware(now: datetime) -> datetime:
    """``now`` as UTC: ``ValidationError("now", …)`` without an offset or outside 2000-01-01 .. 2099-12-31."""
    return parse_schedule_instant(now, "now").astimezone(UTC)


def _local_minute(text: str, field_name: str, *, is_end: bool) -> int:
    """``"HH:MM"`` → minutes from local midnight (``24:00`` = 1440 only as the latest end)."""
    if not isinstance(text, str):
        raise ValidationError(field_name, text, "expected a local time like 08:00")
    return parse_hhmm(text, field_name, is_end=is_end)


def add_entry(db: Database, *, patient_id: int, service: str, branch: str, first_date: date | str,
              last_date: date | str, earliest: str = "00:00", latest: str = "24:00", doctor: str | None = None,
              priority: int = 0, note: str = "", client_id: uuid.UUID | str | None = None,
              now: datetime | None = None) -> WaitlistEntryView:
    """Put a patient on the waitlist of ``branch`` for ``service`` (one SERIALIZABLE transaction).

    ``first_date``..``last_date``: branch-local dates (ISO text or ``date``), the
    last not before the first nor before today at the branch (``now``, default
    the current time). ``earliest``/``latest``: branch-local ``"HH:MM"``; an
    offered appointment starts at or after ``earliest`` and ends by ``latest``
    (``"24:00"`` allowed), so ``latest`` must be after ``earliest``. ``doctor``:
    a doctor's name, only for a service that needs one, of its specialty.
    ``priority``: -1000..1000, higher offered first (ties: oldest first).
    ``client_id`` makes a retry after an unknown commit outcome safe (the same id
    returns the entry made; reused for another patient or service it is a
    ``ValidationError``).

    Raises ``ValidationError`` naming the field and value (also a name or note holding a control
    character, a client id that is not a UUID, a date outside 2000-01-01 .. 2099-12-31),
    ``NotFound`` (patient, service, branch, doctor), ``PermissionDenied``. Nothing is written
    on any error.
    """
    checks.names(service=service, branch=branch, doctor=doctor)
    patient_id = checks.patient_id(patient_id)
    check_text(note or "", "note")
    first = parse_date(first_date, "first_date")
    last = parse_date(last_date, "last_date")
    if last < first:
        raise ValidationError("last_date", last.isoformat(), f"is before the first date {first.isoformat()}")
    earliest_min = _local_minute(earliest, "earliest", is_end=False)
    latest_min = _local_minute(latest, "latest", is_end=True)
    if latest_min <= earliest_min:
        raise ValidationError("latest", latest, f"must be after the earliest time {earliest}")
    if isinstance(priority, bool) or not isinstance(priority, int) or not (
            PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]):
        raise ValidationError("priority", priority, f"must be a whole number from {PRIORITY_RANGE[0]} to "
                                                    f"{PRIORITY_RANGE[1]}")
    note_text = " ".join((note or "").split())
    if len(note_text) > 500:
        raise ValidationError("note", note, "is longer than 500 characters")
    now_utc = _require_aware(now) if now is not None else datetime.now(UTC)
    cid = checks.client_id(client_id)

    def work(conn: Connection) -> int:
        b = catalog.load_branch(conn, branch)
        s = catalog.load_service(conn, service)
        today = now_utc.astimezone(b.tz).date()
        if last < today:
            raise ValidationError("last_date", last.isoformat(), f"is in the past (today is {today.isoformat()} "
                                                                 f"at {b.name})")
        doctor_id = None
        if doctor:
            wanted = s.spec.needs.get("doctor")
            if wanted is None:
                raise ValidationError("doctor", doctor, f"the service {s.name!r} does not need a doctor")
            d = catalog.load_resources(conn, {"doctor": doctor})["doctor"]
            if d.category != wanted:
                raise ValidationError("doctor", doctor, f"is not a {wanted} doctor, which {s.name!r} needs")
            doctor_id = d.id
        if not fetch(conn, "SELECT 1 FROM patient WHERE id = %(p)s", {"p": patient_id}):
            raise NotFound("patient", patient_id)
        rows = fetch(conn,
            "INSERT INTO waitlist_entry (client_id, patient_id, service_id, branch_id, doctor_id, first_date, "
            "last_date, earliest_min, latest_min, priority, note) VALUES (%(c)s, %(p)s, %(s)s, %(b)s, %(d)s, "
            "%(f)s, %(l)s, %(e)s, %(la)s, %(pr)s, %(n)s) ON CONFLICT (client_id) DO NOTHING RETURNING id",
            {"c": cid, "p": patient_id, "s": s.id, "b": b.id, "d": doctor_id, "f": first, "l": last,
             "e": earliest_min, "la": latest_min, "pr": priority, "n": note_text})
        if rows:
            return int(rows[0][0])
        earlier = fetch(conn, "SELECT id, patient_id, service_id FROM waitlist_entry WHERE client_id = %(c)s",
                        {"c": cid})[0]
        if (earlier[1], earlier[2]) != (patient_id, s.id):
            raise ValidationError("client_id", str(cid), f"was already used for waitlist entry {earlier[0]}")
        return int(earlier[0])

    entry_id = db.write(work, reason="waitlist: entry added")
    return db.read(lambda conn: _get_entry(conn, entry_id))


def cancel_entry(db: Database, entry_id: int, *, now: datetime, reason: str = "") -> WaitlistEntryView:
    """Take an entry off the waitlist (status ``cancelled``); cancelling a cancelled entry
    changes nothing. An entry with an open offer loses it: the held appointment is
    cancelled and the freed slot is offered to the next fitting entry at once (a second
    transaction; if that one fails, the next sweep does it).

    Raises ``NotFound``, ``InvalidTransition`` (the entry was booked already),
    ``PermissionDenied``, ``ValidationError`` (a bad id, ``now`` or a reason holding a control character).
    """
    checks.record_id(entry_id, "waitlist_entry")
    now_utc = _require_aware(now)
    check_text(reason or "", "reason", max_length=checks.TEXT_MAX)
    why = " ".join((reason or "").split()) or "waitlist entry cancelled"

    def work(conn: Connection) -> int | None:
        rows = fetch(conn, "SELECT status FROM waitlist_entry WHERE id = %(i)s FOR UPDATE", {"i": entry_id})
        if not rows:
            raise NotFound("waitlist_entry", entry_id)
        status = rows[0][0]
        if status == "cancelled":
            return None
        if status == "booked":
            raise InvalidTransition("This waitlist entry was booked already; cancel the appointment instead.")
        reopened = None
        for offer_id, slot_id in fetch(conn, "SELECT id, freed_slot_id FROM waitlist_offer WHERE entry_id = %(e)s "
                                             "AND status = 'open' FOR UPDATE", {"e": entry_id}):
            _release_offer(conn, offer_id, "declined", why, now_utc, cancelled_by="patient")
            fetch(conn, "UPDATE freed_slot SET state = 'open' WHERE id = %(s)s AND state = 'offered' RETURNING id",
                  {"s": slot_id})
            reopened = int(slot_id)
        fetch(conn, "UPDATE waitlist_entry SET status = 'cancelled' WHERE id = %(i)s RETURNING id", {"i": entry_id})
        return reopened

    reopened = db.write(work, reason=f"waitlist: {why}")
    if reopened is not None:
        _process_slot_now(db, now_utc, reopened)
    return db.read(lambda conn: _get_entry(conn, entry_id))


# -- offers ------------------------------------------------------------------------------------
def _release_offer(conn: Connection, offer_id: int, outcome: str, why: str, now: datetime, *,
                   cancelled_by: str = "clinic") -> None:
    """End an open offer as ``outcome`` (``declined``/``expired``): its held appointment is cancelled
    (unless something released it already) and its entry goes back to ``waiting`` (unless cancelled)."""
    row = fetch(conn, "UPDATE waitlist_offer SET status = %(o)s, decided_at = %(now)s WHERE id = %(i)s "
                      "AND status = 'open' RETURNING appointment_id, entry_id",
                {"o": outcome, "now": now, "i": offer_id})
    if not row:
        return
    appointment_id, entry_id = row[0]
    fetch(conn, "UPDATE appointment SET status = 'cancelled', status_reason = %(w)s, cancelled_by = %(by)s "
                "WHERE id = %(a)s AND status = 'held' RETURNING id",
          {"w": why, "by": cancelled_by, "a": appointment_id})
    fetch(conn, "UPDATE waitlist_entry SET status = 'waiting' WHERE id = %(e)s AND status = 'offered' RETURNING id",
          {"e": entry_id})


def _lock_open_offer(conn: Connection, offer_id: int) -> tuple[str, datetime, int]:
    """Lock the offer; return (status, expires_at, appointment_id). Raises ``NotFound``."""
    rows = fetch(conn, "SELECT status, expires_at, appointment_id FROM waitlist_offer WHERE id = %(i)s FOR UPDATE",
                 {"i": offer_id})
    if not rows:
        raise NotFound("offer", offer_id)
    status, expires_at, appointment_id = rows[0]
    return str(status), expires_at, int(appointment_id)


def accept_offer(db: Database, offer_id: int, *, now: datetime) -> OfferView:
    """The patient takes the offered time: the held appointment becomes ``confirmed``, the offer
    ``accepted``, the entry ``booked``, the freed slot ``filled`` — one SERIALIZABLE transaction.
    Accepting an accepted offer again returns it (a retry after a lost connection).

    Raises ``NotFound``, ``InvalidTransition`` (the offer was declined or has expired at ``now``,
    or its held time was released), ``PermissionDenied``, ``ValidationError`` (a bad id or ``now``),
    ``PatientBusy`` (should the database refuse the patient's overlap, naming the appointment in
    the way; the held time already counts for the patient, so accepting it creates no new overlap).
    """
    checks.record_id(offer_id, "offer")
    now_utc = _require_aware(now)

    def work(conn: Connection) -> OfferView:
        status, expires_at, appointment_id = _lock_open_offer(conn, offer_id)
        if status == "accepted":
            return _get_offer(conn, offer_id)
        if status != "open":
            raise InvalidTransition(f"This offer was {status} already; it cannot be accepted.")
        if expires_at <= now_utc:
            raise InvalidTransition("This offer has expired; the time goes to the next patient on the waitlist.")
        if booking.lock_status(conn, appointment_id) != "held":
            raise InvalidTransition("The offered time is no longer held; it cannot be accepted.")
        booking.change_status(conn, appointment_id, "confirmed", "waitlist offer accepted")
        row = fetch(conn, "UPDATE waitlist_offer SET status = 'accepted', decided_at = %(now)s WHERE id = %(i)s "
                          "RETURNING entry_id, freed_slot_id", {"now": now_utc, "i": offer_id})
        entry_id, slot_id = row[0]
        fetch(conn, "UPDATE waitlist_entry SET status = 'booked' WHERE id = %(e)s RETURNING id", {"e": entry_id})
        fetch(conn, "UPDATE freed_slot SET state = 'filled', decided_at = %(now)s WHERE id = %(s)s RETURNING id",
              {"now": now_utc, "s": slot_id})
        return _get_offer(conn, offer_id)

    try:
        return db.write(work, reason="waitlist: offer accepted", queue=booking.queue_for_offer(offer_id))
    except PatientBusy as exc:
        rows = db.read(lambda conn: fetch(conn, "SELECT a.id, a.patient_id, a.starts_at FROM waitlist_offer o "
                                                "JOIN appointment a ON a.id = o.appointment_id WHERE o.id = %(i)s",
                                          {"i": offer_id}))
        if not rows:
            raise
        appointment_id, patient_id, start = rows[0]
        raise db.read(lambda conn: booking.name_patient_conflict(conn, int(patient_id), start.astimezone(UTC),
                                                                 exclude=(int(appointment_id),))) from exc


def decline_offer(db: Database, offer_id: int, *, now: datetime) -> DeclineResult:
    """The patient does not want the offered time: the held appointment is cancelled
    (``cancelled_by='patient'``), the offer ``declined``, the entry back to ``waiting``
    (it is never offered this slot again), and the freed slot is offered to the next
    fitting entry at once (a second transaction; if that one fails, the next sweep does
    it). Declining a declined offer again changes nothing.

    Raises ``NotFound``, ``InvalidTransition`` (accepted or expired already),
    ``PermissionDenied``, ``ValidationError`` (a bad id or ``now``).
    """
    checks.record_id(offer_id, "offer")
    now_utc = _require_aware(now)

    def work(conn: Connection) -> int | None:
        status, _expires_at, _appointment_id = _lock_open_offer(conn, offer_id)
        if status == "declined":
            return None
        if status != "open":
            raise InvalidTransition(f"This offer was {status} already; it cannot be declined.")
        slot_id = int(fetch(conn, "SELECT freed_slot_id FROM waitlist_offer WHERE id = %(i)s",
                            {"i": offer_id})[0][0])
        _release_offer(conn, offer_id, "declined", "offer declined", now_utc, cancelled_by="patient")
        fetch(conn, "UPDATE freed_slot SET state = 'open' WHERE id = %(s)s AND state = 'offered' RETURNING id",
              {"s": slot_id})
        return slot_id

    slot_id = db.write(work, reason="waitlist: offer declined", queue=booking.queue_for_offer(offer_id))
    next_offer = _process_slot_now(db, now_utc, slot_id) if slot_id is not None else None
    return DeclineResult(declined=get_offer(db, offer_id), next_offer=next_offer)


# -- backfill ----------------------------------------------------------------------------------
_CLAIM_SQL = """
SELECT fs.id, fs.branch_id, fs.starts_at, fs.ends_at, fs.resource_ids, fs.state, s.name AS service,
       a.patient_id AS freed_patient_id
  FROM freed_slot fs
  JOIN service s ON s.id = fs.service_id
  JOIN appointment a ON a.id = fs.appointment_id
 WHERE (fs.state = 'open'
        OR (fs.state = 'offered' AND EXISTS (
              SELECT 1 FROM waitlist_offer o JOIN appointment h ON h.id = o.appointment_id
               WHERE o.freed_slot_id = fs.id AND o.status = 'open'
                 AND (o.expires_at <= %(now)s OR h.status <> 'held'))))
   AND (%(only)s::bigint IS NULL OR fs.id = %(only)s)
 ORDER BY fs.freed_at, fs.id
 LIMIT 1
 FOR UPDATE OF fs SKIP LOCKED
"""

_FITTING_ENTRY_SQL = """
SELECT e.id, e.patient_id
  FROM waitlist_entry e
 WHERE e.branch_id = %(b)s AND e.service_id = %(s)s AND e.status = 'waiting'
   AND %(d)s BETWEEN e.first_date AND e.last_date
   AND e.earliest_min <= %(smin)s AND e.latest_min >= %(emin)s
   AND (e.doctor_id IS NULL OR e.doctor_id = ANY(%(rids)s::integer[]))
   AND e.patient_id <> %(freed_patient)s
   AND NOT EXISTS (SELECT 1 FROM waitlist_offer o WHERE o.freed_slot_id = %(fs)s AND o.entry_id = e.id)
   AND NOT EXISTS (SELECT 1 FROM appointment x WHERE x.patient_id = e.patient_id
                      AND clinic_status_is_live(x.status) AND x.starts_at < %(end)s AND x.ends_at > %(start)s)
 ORDER BY e.priority DESC, e.created_at, e.id
 LIMIT 1
 FOR UPDATE OF e
"""

#: What one claim did: nothing was claimable (None), or (freed slot id, the new offer or None).
_Claim = tuple[int, "OfferView | None"] | None


def _close_unfilled(conn: Connection, slot_id: int, now: datetime) -> None:
    fetch(conn, "UPDATE freed_slot SET state = 'unfilled', decided_at = %(now)s WHERE id = %(s)s RETURNING id",
          {"now": now, "s": slot_id})


def _claim_and_offer(conn: Connection, now: datetime, only: int | None = None) -> _Claim:
    """Claim one freed slot (an ``open`` one, or an ``offered`` one whose open offer expired at ``now`` or
    lost its hold) with ``FOR UPDATE SKIP LOCKED``, expire its stale offer, and offer it to the next
    fitting entry — or close it ``unfilled``. Runs inside the caller's SERIALIZABLE transaction."""
    rows = fetch(conn, _CLAIM_SQL, {"now": now, "only": only}, dicts=True)
    if not rows:
        return None
    slot = rows[0]
    slot_id = int(slot["id"])
    if slot["state"] == "offered":
        for (offer_id,) in fetch(conn, "SELECT id FROM waitlist_offer WHERE freed_slot_id = %(s)s "
                                       "AND status = 'open' FOR UPDATE", {"s": slot_id}):
            _release_offer(conn, offer_id, "expired", OFFER_EXPIRED_REASON, now)
    start = slot["starts_at"].astimezone(UTC)
    if start <= now:
        _close_unfilled(conn, slot_id, now)
        return slot_id, None
    b = catalog.load_branch(conn, int(slot["branch_id"]))
    local_start = start.astimezone(b.tz)
    local_date = local_start.date()
    b = catalog.load_branch(conn, b.id, local_date - timedelta(days=1), local_date + timedelta(days=1))
    s = catalog.load_service(conn, slot["service"])
    rids = [int(r) for r in slot["resource_ids"]]
    resources = catalog.candidate_resources(conn, b, s)
    kind_of = {r.id: r.kind for r in resources}
    # The freed time, on exactly the freed resources, as the slot engine judges it now.
    only_ids = {kind_of[r]: [r] for r in rids if r in kind_of}
    option = None
    if len(only_ids) == len(rids) and set(only_ids) == set(s.spec.needs):
        option, _names = booking.judge_start(conn, b, s, start, now, only_ids, resources=resources)
    if option is None:  # past the notice, re-booked, off shift, closed, or the service changed
        _close_unfilled(conn, slot_id, now)
        return slot_id, None
    local_end = option.end.astimezone(b.tz)
    end_min = local_end.hour * 60 + local_end.minute + MINUTES_PER_DAY * (local_end.date() - local_date).days
    entry = fetch(conn, _FITTING_ENTRY_SQL, {
        "b": b.id, "s": s.id, "d": local_date, "smin": local_start.hour * 60 + local_start.minute,
        "emin": end_min, "rids": rids, "freed_patient": slot["freed_patient_id"], "fs": slot_id,
        "start": option.start, "end": option.end}, dicts=True)
    if not entry:
        _close_unfilled(conn, slot_id, now)
        return slot_id, None
    entry_id, patient_id = int(entry[0]["id"]), int(entry[0]["patient_id"])
    minutes = int(fetch(conn, "SELECT clinic_setting_int('offer_minutes', 10)")[0][0])
    expires_at = now + timedelta(minutes=minutes)
    placed = booking.place(conn, b.id, s, patient_id, option.start, option.end, option.first_combination(),
                           status="held", source=OFFER_SOURCE, client_id=uuid.uuid4())
    assert placed is not None  # a fresh client id never conflicts
    appointment_id = placed.id
    # The offer's own expiry, not the booking hold's default (the bookings follow by trigger).
    fetch(conn, "UPDATE appointment SET hold_expires_at = %(x)s, status_reason = 'waitlist offer' "
                "WHERE id = %(a)s RETURNING id", {"x": expires_at, "a": appointment_id})
    offer_id = int(fetch(conn, "INSERT INTO waitlist_offer (freed_slot_id, entry_id, appointment_id, expires_at) "
                               "VALUES (%(s)s, %(e)s, %(a)s, %(x)s) RETURNING id",
                         {"s": slot_id, "e": entry_id, "a": appointment_id, "x": expires_at})[0][0])
    fetch(conn, "UPDATE waitlist_entry SET status = 'offered' WHERE id = %(e)s RETURNING id", {"e": entry_id})
    fetch(conn, "UPDATE freed_slot SET state = 'offered', decided_at = NULL WHERE id = %(s)s RETURNING id",
          {"s": slot_id})
    queue_notification(conn, appointment_id, "waitlist_offer")
    return slot_id, _get_offer(conn, offer_id)


def _process_slot_now(db: Database, now: datetime, slot_id: int) -> OfferView | None:
    """Offer one freed slot again at once (after a decline); None when it went unfilled, another
    process claimed it first, or a conflict outlived the retries (the next sweep then does it)."""
    try:
        claim = db.write(lambda conn: _claim_and_offer(conn, now, slot_id), reason="waitlist: offer freed slot",
                         queue=booking.queue_for_freed_slots(slot_id))
    except SlotTaken:
        return None
    return claim[1] if claim else None


def process_freed_slots(db: Database, *, now: datetime, limit: int = 20) -> list[OfferView]:
    """Offer freed slots to the waitlist: up to ``limit`` slots, each in its own SERIALIZABLE
    transaction (so one slot's conflict never undoes another's offer). Returns the offers made.

    Each round claims one freed slot with ``FOR UPDATE SKIP LOCKED`` — an ``open`` one,
    or an ``offered`` one whose open offer expired at ``now`` (or whose held appointment
    was released meanwhile) — expires that stale offer (held appointment cancelled with
    reason ``"offer expired"``, entry back to ``waiting``), then creates the held
    appointment (expiring ``now + offer_minutes``), the ``waitlist_offer`` and the
    notification for the next fitting entry (see the module docstring), or closes the
    slot ``unfilled`` when nobody fits or the time is no longer free.

    Call it after a cancellation commits, on ``NOTIFY clinic_waitlist`` and periodically;
    any number of processes may call it at once. Stops when nothing is left to claim.
    A conflict that outlives the write runner's retries ends the round early (three in
    a row end the call); what was not done stays claimable for the next call.

    Raises ``ValidationError`` (naive ``now``, ``limit`` < 1), ``DatabaseUnavailable``,
    ``PermissionDenied``.
    """
    now_utc = _require_aware(now)
    if limit < 1:
        raise ValidationError("limit", limit, "must be at least 1")
    made: list[OfferView] = []
    conflicts = 0
    for _ in range(limit):
        try:
            claim = db.write(lambda conn: _claim_and_offer(conn, now_utc), reason="waitlist: offer freed slot",
                             queue=booking.queue_for_freed_slots())
        except SlotTaken:  # someone booked the time in the same instant: the next round sees it
            conflicts += 1
            if conflicts >= 3:
                break
            continue
        conflicts = 0
        if claim is None:
            break
        if claim[1] is not None:
            made.append(claim[1])
    return made
