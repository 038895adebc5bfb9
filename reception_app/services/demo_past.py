"""The demo clinic's past: months of completed, no-show, cancelled and rescheduled appointments
with sent SMS reminders, so the manager's reports, charts and drill-downs have true content on the
first run (issue 16 §6, "The manager's first look").

Patterns, as in the real data set (``../shared/data``, "Medical Appointment No Shows", Vitória
2016; its no-show rate by lead band is quoted in :data:`NO_SHOW_BY_LEAD_BAND`):

* lead time (local calendar days from booking to the day) is drawn from :data:`LEAD_TIME_WEIGHTS`;
  about a sixth of the visits are booked on the day;
* the no-show chance rises with the lead time (:data:`NO_SHOW_BY_LEAD_BAND`), is multiplied by
  :data:`SMS_NO_SHOW_FACTOR` when an SMS reminder went out and by :data:`NO_CONSENT_FACTOR` for
  patients who gave no SMS consent (who get no reminder);
* an SMS reminder goes out, for a patient with SMS consent and a booking made before the day, at
  the same local time on the local day before (never before the booking was made), as the
  importer records one; :data:`SMS_SHARE` of those patients' appointments get one;
* :data:`CANCEL_SHARE` of the slots also had an earlier booking cancelled (by the patient, some
  late), and :data:`RESCHEDULE_SHARE` of the visits were moved there from an earlier booking of the
  same patient (status ``rescheduled`` naming its successor).

The honest path. Past starts are refused by the booking rules, and a new appointment may not start
as completed or no-show unless it is imported history (``appointment_guard``, db/sql), so the past
goes in as the CSV importer writes history (``services/importer.py``): ``source = 'import'`` rows
with their own ``booked_at``, status and ``external_ref = 'demo:<n>'``, one booking per resource
the service needs (the exclusion constraints and triggers apply: no two live bookings of a
resource overlap, a patient is in one place at a time, the report columns are filled by the
triggers), and reminders with channel ``sms``, purpose ``reminder``, status ``sent`` — what the
reports read as "SMS reminder sent". Only an administrator's login (``clinic_admin``, as the desk's
embedded login is) or the owner may write imported rows. Every appointment is placed inside its
doctor's shift at the branch and in the branch's opening hours, on a free room and equipment of the
kinds its service needs; holidays and time off are respected, though the database does not check
them for imported rows.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.wallclock import local_to_utc

__all__ = ["PastSummary", "NO_SHOW_BY_LEAD_BAND", "LEAD_TIME_WEIGHTS", "SMS_NO_SHOW_FACTOR", "NO_CONSENT_FACTOR",
           "SMS_SHARE", "CANCEL_SHARE", "RESCHEDULE_SHARE", "FILL_SHARE", "DEMO_REF_PREFIX", "write_past",
           "has_past"]

#: ``external_ref`` prefix of the demo's past appointments (``demo:<n>``): how a re-run knows it is there.
DEMO_REF_PREFIX = "demo:"
#: Lead-time bands (``domain.report_definitions.LEAD_TIME_BANDS`` without "negative") as
#: (lowest days, highest days, weight): the share of bookings made that many local days ahead.
LEAD_TIME_WEIGHTS: tuple[tuple[int, int, float], ...] = (
    (0, 0, 0.17), (1, 2, 0.14), (3, 7, 0.27), (8, 14, 0.16), (15, 30, 0.17), (31, 60, 0.09))
#: Chance of a no-show without an SMS reminder, by the lowest day of the lead band (the real data
#: set's rates without SMS: 3 %, 23 %, 26 %, 33 %, 40 %, 38 %).
NO_SHOW_BY_LEAD_BAND: dict[int, float] = {0: 0.04, 1: 0.20, 3: 0.25, 8: 0.31, 15: 0.37, 31: 0.40}
#: The no-show chance is multiplied by this when an SMS reminder was sent.
SMS_NO_SHOW_FACTOR = 0.5
#: … and by this for a patient without SMS consent (less reachable, no reminder).
NO_CONSENT_FACTOR = 1.4
#: Share of the eligible appointments (SMS consent, booked before the day) that got a sent SMS reminder.
SMS_SHARE = 0.85
#: Share of the placed visits whose slot had an earlier, cancelled booking of another patient.
CANCEL_SHARE = 0.08
#: Share of the placed visits (booked 3+ days ahead) moved there from an earlier booking.
RESCHEDULE_SHARE = 0.05
#: Chance that a free quarter hour of a doctor's shift gets a visit.
FILL_SHARE = 0.6
#: Why a booking was cancelled (``status_reason``), with weights.
CANCEL_REASONS: tuple[tuple[str, int], ...] = (
    ("patient unwell", 4), ("work commitment", 3), ("travel", 2), ("feeling better", 2),
    ("doctor unavailable", 1))
RESCHEDULE_REASON = "patient asked for another time"
#: Weights of the services a doctor's free time gets (by name; others weigh 1).
SERVICE_WEIGHTS: dict[str, int] = {"General consultation": 5, "Long consultation": 2}


@dataclass(frozen=True)
class PastSummary:
    """What :func:`write_past` wrote: appointment counts by status, sent SMS reminders, and the
    local dates (``first_day``..``last_day``, inclusive; ``None`` when nothing was written)."""

    by_status: dict[str, int] = field(default_factory=dict)
    reminders: int = 0
    first_day: date | None = None
    last_day: date | None = None

    @property
    def appointments(self) -> int:
        """All past appointments written (every status)."""
        return sum(self.by_status.values())


@dataclass
class _Service:
    id: int
    name: str
    duration_min: int
    before: int
    after: int
    specialty: str | None
    room_kind: str | None
    equipment_kind: str | None
    policy: tuple[Any, Any, Any]


@dataclass
class _Branch:
    id: int
    name: str
    tz: ZoneInfo
    hours: dict[int, list[tuple[int, int]]]
    holidays: set[date]


def has_past(conn: Connection) -> bool:
    """Does the database hold the demo's past already (an appointment with a ``demo:`` ref)?"""
    return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM appointment WHERE external_ref LIKE 'demo:%')"))
                .scalar())


def _lead_days(rng: random.Random) -> int:
    lo, hi, _ = rng.choices(LEAD_TIME_WEIGHTS, weights=[w for *_, w in LEAD_TIME_WEIGHTS])[0]
    return rng.randint(lo, hi)


def _band_chance(lead: int) -> float:
    return NO_SHOW_BY_LEAD_BAND[max(lo for lo in NO_SHOW_BY_LEAD_BAND if lead >= lo)]


def _free(busy: list[tuple[int, int]], lo: int, hi: int) -> bool:
    return all(hi <= b_lo or lo >= b_hi for b_lo, b_hi in busy)


def _load(conn: Connection, d_from: date, d_to: date) -> tuple[list[_Branch], list[_Service], dict[str, Any]]:
    branches: list[_Branch] = []
    for bid, name, tz in conn.execute(text("SELECT id, name, timezone FROM branch ORDER BY id")):
        branches.append(_Branch(bid, name, ZoneInfo(tz), {}, set()))
    by_id = {b.id: b for b in branches}
    for bid, wd, lo, hi in conn.execute(text("SELECT branch_id, weekday, start_min, end_min FROM opening_hours")):
        by_id[bid].hours.setdefault(wd, []).append((lo, hi))
    for bid, day in conn.execute(text("SELECT branch_id, local_date FROM holiday WHERE local_date BETWEEN :a AND :b"),
                                 {"a": d_from, "b": d_to}):
        by_id[bid].holidays.add(day)
    services = [_Service(r.id, r.name, r.duration_min, r.buffer_before_min, r.buffer_after_min, r.doctor_specialty,
                         r.room_kind, r.equipment_kind,
                         (r.cancel_free_hours, r.late_cancel_fee_cents, r.deposit_cents))
                for r in conn.execute(text(
                    "SELECT id, name, duration_min, buffer_before_min, buffer_after_min, doctor_specialty, room_kind, "
                    "equipment_kind, cancel_free_hours, late_cancel_fee_cents, deposit_cents FROM service "
                    "WHERE active AND doctor_specialty IS NOT NULL ORDER BY id"))]
    resources = conn.execute(text("SELECT id, kind, category, branch_id FROM resource WHERE active ORDER BY id")).all()
    shifts = conn.execute(text(
        "SELECT resource_id, branch_id, weekday, start_min, end_min, valid_from, valid_until FROM shift")).all()
    time_off = conn.execute(text(
        "SELECT resource_id, lower(period) AS lo, upper(period) AS hi FROM time_off "
        "WHERE period && tstzrange(CAST(:a AS timestamptz), CAST(:b AS timestamptz))"),
        {"a": datetime.combine(d_from, datetime.min.time(), UTC) - timedelta(days=2),
         "b": datetime.combine(d_to, datetime.min.time(), UTC) + timedelta(days=2)}).all()
    return branches, services, {"resources": resources, "shifts": shifts, "time_off": time_off}


def write_past(conn: Connection, *, regulars: Sequence[int], no_sms: frozenset[int], today: dict[str, date],
               days: int, rng: random.Random, fill: float = FILL_SHARE) -> PastSummary:
    """Write the demo's past inside the caller's transaction (``Database.write``'s connection).

    ``regulars``: the patient ids the past is drawn from (each gets visits; earlier ids more often);
    ``no_sms``: those of them without SMS consent; ``today``: each branch's local date by name (the
    past is the ``days`` local days before it, today excluded); ``rng``: the demo's seeded random
    source (the same seed, clinic and dates give the same past); ``fill``: the chance a free
    quarter hour of a shift gets a visit. Returns what was written. Raises the database's errors
    (an exclusion or guard violation would be a bug here: the runner maps them).
    """
    first_day = min(today.values()) - timedelta(days=days)
    last_day = max(today.values()) - timedelta(days=1)
    branches, services, ctx = _load(conn, first_day, last_day)
    kinds = {r.id: (r.kind, r.category, r.branch_id) for r in ctx["resources"]}
    shifts: dict[int, list[Any]] = {}
    for s in ctx["shifts"]:
        if s.resource_id in kinds:
            shifts.setdefault(s.resource_id, []).append(s)
    off: dict[int, list[tuple[datetime, datetime]]] = {}
    for o in ctx["time_off"]:
        off.setdefault(o.resource_id, []).append((o.lo, o.hi))
    weights = list(accumulate(max(1, len(regulars) - i) for i in range(len(regulars))))  # earlier ones more often

    rows: list[dict[str, Any]] = []
    bookings: list[tuple[int, int, datetime, datetime]] = []
    reminders: list[tuple[int, datetime]] = []
    next_ref = 0
    seen: dict[date, set[int]] = {}

    def new_row(**values: Any) -> dict[str, Any]:
        nonlocal next_ref
        next_ref += 1
        values["ref"] = f"{DEMO_REF_PREFIX}{next_ref}"
        rows.append(values)
        return values

    for branch in branches:
        if branch.name not in today:
            continue
        b_today = today[branch.name]
        doctors = sorted(rid for rid, (k, _, _) in kinds.items() if k == "doctor" and rid in shifts)
        for back in range(days, 0, -1):
            day = b_today - timedelta(days=back)
            if day in branch.holidays or day.weekday() not in branch.hours:
                continue
            open_hours = branch.hours[day.weekday()]
            busy: dict[int, list[tuple[int, int]]] = {}
            patients_today = seen.setdefault(day, set())  # a patient is in one place at a time: one visit a day
            for doctor in doctors:
                spans = sorted((s.start_min, s.end_min) for s in shifts[doctor]
                               if s.branch_id == branch.id and s.weekday == day.weekday()
                               and (s.valid_from is None or s.valid_from <= day)
                               and (s.valid_until is None or s.valid_until >= day))
                mine = [sv for sv in services if sv.specialty == kinds[doctor][1]]
                if not spans or not mine:
                    continue
                for lo, hi in spans:
                    t = lo + (-lo) % 15
                    while t < hi:
                        if rng.random() >= fill:
                            t += 15
                            continue
                        sv = rng.choices(mine, weights=[SERVICE_WEIGHTS.get(s.name, 1) for s in mine])[0]
                        p_lo, p_hi = t - sv.before, t + sv.duration_min + sv.after
                        chosen = _place(rng, sv, doctor, branch, p_lo, p_hi, (lo, hi), open_hours, kinds, busy, off,
                                        day)
                        if chosen is None:
                            t += 15
                            continue
                        patient = _pick_patient(rng, regulars, weights, patients_today)
                        if patient is None:
                            t += 15
                            continue
                        for rid in chosen:
                            busy.setdefault(rid, []).append((p_lo, p_hi))
                        patients_today.add(patient)
                        start = local_to_utc(day, t, branch.tz)
                        _visit(new_row, rng, branch, sv, doctor, chosen, patient, day, start, patient in no_sms,
                               regulars, weights, patients_today)
                        t = p_hi + (-p_hi) % 15
    if not rows:
        return PastSummary()

    ids = [r[0] for r in conn.execute(text(
        "SELECT nextval(pg_get_serial_sequence('appointment', 'id')) FROM generate_series(1, :n)"),
        {"n": len(rows)}).all()]
    by_ref = {}
    for row, aid in zip(rows, ids, strict=True):
        row["id"] = aid
        by_ref[row["ref"]] = aid
    for row in rows:
        succ = row.pop("successor", None)
        row["rescheduled_to"] = by_ref[succ["ref"]] if succ is not None else None
        for rid in row.pop("resources"):
            bookings.append((row["id"], rid, row["starts_at"] - timedelta(minutes=row["before"]),
                             row["ends_at"] + timedelta(minutes=row["after"])))
        if row.pop("sms_at", None) is not None:
            reminders.append((row["id"], row["sms_due"]))
    columns = ("id", "patient_id", "branch_id", "service_id", "doctor_id", "status", "starts_at", "ends_at",
               "booked_at", "ref", "status_reason", "cancelled_at", "cancelled_by", "rescheduled_to",
               "checked_in_at", "free_hours", "fee", "deposit")
    arrays = {c: [r[c] for r in rows] for c in columns}
    conn.execute(text(
        "INSERT INTO appointment (id, patient_id, branch_id, service_id, doctor_id, status, starts_at, ends_at, "
        "booked_at, external_ref, status_reason, cancelled_at, cancelled_by, rescheduled_to, checked_in_at, "
        "policy_free_hours, policy_late_fee_cents, deposit_cents, source, confirmed_at) "
        "SELECT u.id, u.patient_id, u.branch_id, u.service_id, u.doctor_id, u.status, u.starts_at, u.ends_at, "
        "u.booked_at, u.ref, u.reason, u.cancelled_at, u.cancelled_by, u.rescheduled_to, u.checked_in_at, "
        "u.free_hours, u.fee, u.deposit, 'import', u.booked_at "
        "FROM unnest(CAST(:id AS bigint[]), CAST(:patient_id AS int[]), CAST(:branch_id AS int[]), "
        "CAST(:service_id AS int[]), CAST(:doctor_id AS int[]), CAST(:status AS text[]), "
        "CAST(:starts_at AS timestamptz[]), CAST(:ends_at AS timestamptz[]), CAST(:booked_at AS timestamptz[]), "
        "CAST(:ref AS text[]), CAST(:status_reason AS text[]), CAST(:cancelled_at AS timestamptz[]), "
        "CAST(:cancelled_by AS text[]), CAST(:rescheduled_to AS bigint[]), CAST(:checked_in_at AS timestamptz[]), "
        "CAST(:free_hours AS int[]), CAST(:fee AS int[]), CAST(:deposit AS int[])) "
        "AS u(id, patient_id, branch_id, service_id, doctor_id, status, starts_at, ends_at, booked_at, ref, reason, "
        "cancelled_at, cancelled_by, rescheduled_to, checked_in_at, free_hours, fee, deposit)"), arrays)
    conn.execute(text(
        "INSERT INTO booking (appointment_id, resource_id, period) SELECT u.a, u.r, tstzrange(u.lo, u.hi, '[)') "
        "FROM unnest(CAST(:a AS bigint[]), CAST(:r AS int[]), CAST(:lo AS timestamptz[]), "
        "CAST(:hi AS timestamptz[])) AS u(a, r, lo, hi)"),
        {"a": [b[0] for b in bookings], "r": [b[1] for b in bookings], "lo": [b[2] for b in bookings],
         "hi": [b[3] for b in bookings]})
    if reminders:
        conn.execute(text(
            "INSERT INTO reminder (appointment_id, channel, purpose, due_at, status, sent_at, attempts, "
            "idempotency_key) SELECT u.a, 'sms', 'reminder', u.due, 'sent', u.due, 1, 'demo:' || u.a || '\\:sms' "
            "FROM unnest(CAST(:a AS bigint[]), CAST(:due AS timestamptz[])) AS u(a, due)"),
            {"a": [r[0] for r in reminders], "due": [r[1] for r in reminders]})
    door = conn.execute(text("SELECT to_regprocedure('public.clinic_analyze_import()') IS NOT NULL")).scalar()
    if door:
        conn.execute(text("SELECT public.clinic_analyze_import()"))
    days_written = [r["day"] for r in rows]
    return PastSummary(by_status=dict(Counter(r["status"] for r in rows)), reminders=len(reminders),
                       first_day=min(days_written), last_day=max(days_written))


def _place(rng: random.Random, sv: _Service, doctor: int, branch: _Branch, p_lo: int, p_hi: int,
           shift: tuple[int, int],
           open_hours: list[tuple[int, int]], kinds: dict[int, tuple[str, str, int | None]],
           busy: dict[int, list[tuple[int, int]]], off: dict[int, list[tuple[datetime, datetime]]],
           day: date) -> list[int] | None:
    """The resources (doctor first, then a room and equipment of the kinds ``sv`` needs, any free one
    chosen by ``rng``) free for the local minutes [p_lo, p_hi) of ``day`` (buffers included), or None."""
    if p_lo < shift[0] or p_hi > shift[1] or not any(lo <= p_lo and p_hi <= hi for lo, hi in open_hours):
        return None
    lo_utc, hi_utc = local_to_utc(day, p_lo, branch.tz), local_to_utc(day, p_hi, branch.tz)

    def usable(rid: int) -> bool:
        return _free(busy.get(rid, []), p_lo, p_hi) and all(hi_utc <= a or lo_utc >= b for a, b in off.get(rid, []))

    if not usable(doctor):
        return None
    chosen = [doctor]
    for kind, category in (("room", sv.room_kind), ("equipment", sv.equipment_kind)):
        if category is None:
            continue
        free = [rid for rid, (k, c, b) in sorted(kinds.items())
                if k == kind and c == category and b == branch.id and usable(rid)]
        if not free:
            return None
        chosen.append(rng.choice(free))   # any free one: the rooms share the work, as at a real desk
    return chosen


def _pick_patient(rng: random.Random, regulars: Sequence[int], weights: list[int],
                  taken: set[int]) -> int | None:
    for _ in range(20):
        p = rng.choices(regulars, cum_weights=weights)[0]
        if p not in taken:
            return p
    return None


def _visit(new_row: Any, rng: random.Random, branch: _Branch, sv: _Service, doctor: int, resources: list[int],
           patient: int, day: date, start: datetime, no_consent: bool, regulars: Sequence[int],
           weights: list[int], taken: set[int]) -> None:
    """One placed visit: the visit itself (completed or no-show, its SMS reminder), and perhaps an
    earlier booking of the same slot by another patient that was cancelled, and an earlier booking
    of this patient that was rescheduled to it."""
    end = start + timedelta(minutes=sv.duration_min)
    lead = _lead_days(rng)
    booked = _booked_at(rng, branch, day, lead, start)
    sms_due = None
    if lead >= 1 and not no_consent and rng.random() < SMS_SHARE:
        local = start.astimezone(branch.tz)
        sms_due = max(local_to_utc(day - timedelta(days=1), local.hour * 60 + local.minute, branch.tz), booked)
    chance = _band_chance(lead) * (SMS_NO_SHOW_FACTOR if sms_due else 1.0) * (NO_CONSENT_FACTOR if no_consent else 1.0)
    no_show = rng.random() < chance
    base = {"branch_id": branch.id, "service_id": sv.id, "doctor_id": doctor, "starts_at": start, "ends_at": end,
            "day": day, "free_hours": sv.policy[0], "fee": sv.policy[1], "deposit": sv.policy[2],
            "before": sv.before, "after": sv.after, "resources": resources}
    arrived = None if no_show else start - timedelta(minutes=rng.randint(0, 20))
    visit = new_row(**base, patient_id=patient, status="no_show" if no_show else "completed", booked_at=booked,
                    status_reason=None, cancelled_at=None, cancelled_by=None, checked_in_at=arrived,
                    sms_at=sms_due, sms_due=sms_due)
    if lead >= 3 and rng.random() < RESCHEDULE_SHARE:
        # The patient had booked another day earlier and moved it here when this booking was made.
        old_start = start - timedelta(days=rng.choice((1, 2, 3, 7)))
        first_booked = booked - timedelta(days=rng.randint(2, 20))
        if first_booked < old_start:
            new_row(**base | {"starts_at": old_start, "ends_at": old_start + (end - start)}, patient_id=patient,
                    status="rescheduled", booked_at=first_booked, status_reason=RESCHEDULE_REASON,
                    cancelled_at=None, cancelled_by="patient", checked_in_at=None, successor=visit)
    if rng.random() < CANCEL_SHARE:
        other = _pick_patient(rng, regulars, weights, taken)
        if other is not None:
            first_lead = max(lead, 1) + rng.randint(1, 14)
            first_booked = _booked_at(rng, branch, day, first_lead, start)
            cancelled = first_booked + (min(booked, start) - first_booked) * rng.uniform(0.2, 0.99)
            reason = rng.choices([r for r, _ in CANCEL_REASONS], weights=[w for _, w in CANCEL_REASONS])[0]
            new_row(**base, patient_id=other, status="cancelled", booked_at=first_booked, status_reason=reason,
                    cancelled_at=cancelled, cancelled_by="clinic" if reason == "doctor unavailable" else "patient",
                    checked_in_at=None)


def _booked_at(rng: random.Random, branch: _Branch, day: date, lead: int, start: datetime) -> datetime:
    """When a booking ``lead`` local days before ``day`` was made: office hours that day (08:00-18:00
    local), and for a booking on the day itself between 06:00 and half an hour before ``start``."""
    if lead == 0:
        earliest = local_to_utc(day, 6 * 60, branch.tz)
        latest = start - timedelta(minutes=30)
        if latest <= earliest:
            return earliest
        return earliest + (latest - earliest) * rng.random()
    return local_to_utc(day - timedelta(days=lead), rng.randrange(8 * 60, 18 * 60), branch.tz)
