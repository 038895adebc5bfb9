"""Proof under contention: clients racing over a few slots with bookings, holds, confirms, cancels
and waitlist offers, then a check of the database against every acknowledged outcome.

Each client is a thread with a Database of its own (its own connections, like a
workstation), running a seeded random mix of use cases for a fixed time over
``slots`` starts of one three-resource service (doctor + imaging room + the one
ultrasound machine, 30 min + 10 min buffer: neighbouring starts overlap, so
most attempts collide):

- book a slot (confirmed at once), with a client-generated id;
- hold a slot, then confirm the hold or let it go;
- cancel a live appointment in the raced window, whoever booked it (a patient
  calling; the freed slot goes to the waitlist: the trigger records it);
- work the waitlist: process freed slots into offers (a sweep that finds
  nothing is logged ``idle``, not a commit), accept or decline one.

Every attempt is logged with its outcome: ``committed``, ``refused`` (a domain
error: the slot was taken, the transition is no longer allowed…) or
``unknown`` (the connection died during COMMIT). :func:`check` then verifies
against the database:

1. no two live bookings of a resource overlap;
2. every acknowledged booking or hold exists (its client id is in the table),
   and every refused one does not;
3. every acknowledged cancel left the appointment cancelled, every
   acknowledged confirm left it confirmed or later in its life;
4. no freed slot was offered twice at once (open offers of one slot never
   overlap in time), and none was filled twice.

Used by ``make bench`` (8 clients, 50 slots, 20 s) and by
``tests/db/test_contention.py`` at a smaller size.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import text

from reception_app.domain.errors import ClinicError, CommitOutcomeUnknown, DatabaseUnavailable
from reception_app.services import patients, scheduling, waitlist
from reception_app.store.database import Database

SERVICE = "Abdominal ultrasound"
BRANCH = "Centro"
TZ = ZoneInfo("America/Sao_Paulo")
#: Local days with radiology shifts 08:00-12:00 in tests/data/test_clinic.toml (Mon-Wed).
DAYS = (date(2027, 1, 4), date(2027, 1, 5), date(2027, 1, 6), date(2027, 1, 11), date(2027, 1, 12),
        date(2027, 1, 13))
NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)   # the clients' clock for notice and horizon


def slot_starts(count: int) -> list[datetime]:
    """``count`` local 15-minute starts from 08:00 to 11:30 on ``DAYS``, as aware datetimes."""
    starts = [datetime(d.year, d.month, d.day, 8, 0, tzinfo=TZ) + timedelta(minutes=15 * k)
              for d in DAYS for k in range(15)]
    if count > len(starts):
        raise ValueError(f"at most {len(starts)} slots")
    return starts[:count]


@dataclass
class Attempt:
    """One use case tried by one client: what, on which ids, the outcome, how long it took (ms)."""

    client: int
    action: str               # book | hold | confirm | cancel | offer | accept | decline
    outcome: str              # committed | refused | unknown | idle (an offer sweep that found nothing)
    ms: float
    client_id: str | None = None
    appointment_id: int | None = None
    offer_id: int | None = None
    error: str | None = None


@dataclass
class Run:
    """Everything a run produced: the attempts, the seconds it ran and the retries the runners made."""

    attempts: list[Attempt] = field(default_factory=list)
    seconds: float = 0.0
    retries: int = 0


def prepare(db: Database, *, patients_count: int = 40, entries: int = 20, seed: int = 7) -> list[int]:
    """Add ``patients_count`` patients and ``entries`` waitlist entries (window: all of ``DAYS``,
    08:00-12:00) to a clinic configured from tests/data/test_clinic.toml. Returns the patient ids."""
    rng = random.Random(seed)
    ids = [patients.add_patient(db, name=f"Contention Patient {k:03d}", birth_date=f"19{50 + k % 50:02d}-01-01").id
           for k in range(patients_count)]
    for _ in range(entries):
        waitlist.add_entry(db, patient_id=rng.choice(ids), service=SERVICE, branch=BRANCH,
                           first_date=DAYS[0], last_date=DAYS[-1], earliest="08:00", latest="12:00",
                           priority=rng.randrange(3))
    return ids


def _client(k: int, url: str, starts: list[datetime], patient_ids: list[int], stop_at: float, seed: int,
            out: list[Attempt], dbs: list[Database]) -> None:
    rng = random.Random(seed * 1000 + k)
    db = Database(url, pool_size=1)
    dbs.append(db)

    def attempt(action: str, fn: Callable[[], object], **ids: object) -> object | None:
        t0 = time.perf_counter()
        try:
            result = fn()
            outcome, error = "committed", None
        except (CommitOutcomeUnknown, DatabaseUnavailable) as exc:
            result, outcome, error = None, "unknown", str(exc)
        except ClinicError as exc:
            result, outcome, error = None, "refused", f"{type(exc).__name__}: {exc}"
        out.append(Attempt(k, action, outcome, (time.perf_counter() - t0) * 1e3, error=error, **ids))
        return result

    lo, hi = starts[0], starts[-1]
    try:
        while time.time() < stop_at:
            r = rng.random()
            if r < 0.40:
                cid = str(uuid.uuid4())
                held = r >= 0.20
                appt = attempt("hold" if held else "book", partial(
                    scheduling.book, db, branch=BRANCH, service=SERVICE, start=rng.choice(starts),
                    patient_id=rng.choice(patient_ids), client_id=cid, now=NOW,
                    status="held" if held else "confirmed"), client_id=cid)
                if appt is not None:
                    out[-1].appointment_id = appt.id
                    if held and rng.random() < 0.7:
                        attempt("confirm", partial(scheduling.confirm_hold, db, appt.id), appointment_id=appt.id)
                    elif held:
                        attempt("cancel", partial(scheduling.cancel, db, appt.id, reason="caller hung up"),
                                appointment_id=appt.id)
            elif r < 0.65:
                # A patient calls to cancel: any live appointment in the raced window, whoever booked it.
                live = db.read(lambda c: [int(i) for (i,) in c.execute(text(
                    "SELECT id FROM appointment WHERE status IN ('confirmed', 'requested', 'payment_pending') "
                    "AND starts_at BETWEEN :lo AND :hi"), {"lo": lo, "hi": hi})])
                if live:
                    victim = rng.choice(live)
                    attempt("cancel", partial(scheduling.cancel, db, victim, reason="patient called to cancel",
                                              by="patient"), appointment_id=victim)
            else:
                if attempt("offer", partial(waitlist.process_freed_slots, db, now=NOW)) == []:
                    out[-1].outcome = "idle"           # nothing to offer: no write, not a commit
                offers = [o for o in waitlist.list_offers(db) if o.status == "open"]
                if offers:
                    offer = rng.choice(offers)
                    if rng.random() < 0.6:
                        attempt("accept", partial(waitlist.accept_offer, db, offer.id, now=NOW), offer_id=offer.id)
                    else:
                        attempt("decline", partial(waitlist.decline_offer, db, offer.id, now=NOW), offer_id=offer.id)
    finally:
        db.dispose()


def run(url: str, *, clients: int = 8, slots: int = 50, seconds: float = 20.0, seed: int = 1,
        patient_ids: list[int]) -> Run:
    """Race ``clients`` threads for ``seconds`` over ``slots`` starts; returns every attempt."""
    starts = slot_starts(slots)
    results: list[Attempt] = []
    dbs: list[Database] = []
    stop_at = time.time() + seconds
    threads = [threading.Thread(target=_client, args=(k, url, starts, patient_ids, stop_at, seed, results, dbs))
               for k in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return Run(attempts=results, seconds=time.perf_counter() - t0, retries=sum(d.retries for d in dbs))


def check(db: Database, result: Run) -> dict[str, list]:
    """The database against the log; each key lists its violations (all empty = the run was sound)."""
    def read(sql: str, **params: object) -> list:
        return db.read(lambda c: list(c.execute(text(sql), params)))

    problems: dict[str, list] = {}
    problems["overlapping_live_bookings"] = read(
        "SELECT a.resource_id, a.appointment_id, b.appointment_id FROM booking a JOIN booking b "
        "ON a.resource_id = b.resource_id AND a.id < b.id AND a.live AND b.live AND a.period && b.period")
    made = {a.client_id for a in result.attempts if a.action in ("book", "hold") and a.outcome == "committed"}
    refused = {a.client_id for a in result.attempts if a.action in ("book", "hold") and a.outcome == "refused"}
    found = {str(r[0]) for r in read("SELECT client_id FROM appointment WHERE client_id = ANY(:ids)",
                                     ids=[uuid.UUID(c) for c in made | refused if c])}
    problems["acknowledged_but_missing"] = sorted(made - found)
    problems["refused_but_present"] = sorted(refused & found)
    status = dict(read("SELECT id, status FROM appointment"))
    problems["cancel_not_cancelled"] = [a.appointment_id for a in result.attempts
                                        if a.action == "cancel" and a.outcome == "committed"
                                        and status.get(a.appointment_id) != "cancelled"]
    problems["confirm_lost"] = [a.appointment_id for a in result.attempts
                                if a.action == "confirm" and a.outcome == "committed"
                                and status.get(a.appointment_id) in ("held", "requested", None)]
    # When each offer was open, from the audit trail (server clock at each statement): opened by
    # its INSERT, closed by the UPDATE that took it out of "open".
    problems["slot_offered_twice_at_once"] = read(
        "WITH life AS (SELECT o.id, o.freed_slot_id, "
        "  min(l.at) FILTER (WHERE l.action = 'INSERT') AS opened, "
        "  min(l.at) FILTER (WHERE l.action = 'UPDATE' AND l.old_row->>'status' = 'open' "
        "                      AND l.new_row->>'status' <> 'open') AS closed "
        "  FROM waitlist_offer o JOIN audit_log l ON l.table_name = 'waitlist_offer' AND l.row_id = o.id "
        "  GROUP BY o.id, o.freed_slot_id) "
        "SELECT x.freed_slot_id, x.id, y.id FROM life x JOIN life y "
        "ON x.freed_slot_id = y.freed_slot_id AND x.id < y.id "
        "AND tstzrange(x.opened, coalesce(x.closed, 'infinity')) && tstzrange(y.opened, coalesce(y.closed, 'infinity'))")
    problems["slot_filled_twice"] = read(
        "SELECT freed_slot_id, count(*) FROM waitlist_offer WHERE status = 'accepted' "
        "GROUP BY freed_slot_id HAVING count(*) > 1")
    return problems


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(result: Run, problems: dict[str, list]) -> dict:
    """Figures for ``make bench``: commits per second, retries per commit, p95 latency (ms), outcomes."""
    committed = [a for a in result.attempts if a.outcome == "committed"]
    by_action: dict[str, dict[str, int]] = {}
    for a in result.attempts:
        by_action.setdefault(a.action, {}).setdefault(a.outcome, 0)
        by_action[a.action][a.outcome] += 1
    return {
        "seconds": round(result.seconds, 1), "attempts": len(result.attempts), "commits": len(committed),
        "commits_per_s": round(len(committed) / result.seconds, 1) if result.seconds else 0.0,
        "retries": result.retries,
        "retries_per_commit": round(result.retries / len(committed), 3) if committed else None,
        "latency_ms": {"p50": round(pct([a.ms for a in committed], .5), 1),
                       "p95": round(pct([a.ms for a in committed], .95), 1)},
        "unknown": sum(a.outcome == "unknown" for a in result.attempts),
        "by_action": by_action,
        "violations": {k: len(v) for k, v in problems.items()},
    }
