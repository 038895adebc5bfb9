"""The demo clinic: configuration from ``resources/demo_clinic.toml``, made-up patients, a past of
several months (``demo_past``: completed, no-show, cancelled and rescheduled appointments with sent
SMS reminders, for the manager's reports) and upcoming appointments, so a first run shows a living
grid and reports with true content.

Idempotent: the configuration is applied by name, and patients and appointments are only added when
the demo has none yet (demo patients carry ``source = 'demo'``; the past's appointments
``external_ref = 'demo:<n>'``). Upcoming bookings go through ``scheduling.book`` like any other, so
they obey every rule; the past goes in as imported history (see ``demo_past``).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text

from ..domain.errors import ClinicError
from ..store import schema as t
from ..store.database import Database
from . import clinic_config, demo_past, scheduling

FIRST = ["Maria", "José", "Ana", "João", "Antônio", "Francisca", "Carlos", "Paulo", "Adriana", "Lucas", "Juliana",
         "Marcos", "Fernanda", "Rafael", "Patrícia", "Gabriel", "Aline", "Bruna", "Thiago", "Camila", "Letícia",
         "Rodrigo", "Beatriz", "Eduardo", "Larissa", "Gustavo", "Vanessa", "Mateus", "Sofia", "Pedro"]
LAST = ["Silva", "Santos", "Oliveira", "Souza", "Pereira", "Ferreira", "Rodrigues", "Almeida", "Nascimento",
        "Lima", "Araújo", "Fernandes", "Carvalho", "Gomes", "Martins", "Rocha", "Ribeiro", "Barbosa", "Cardoso"]


def demo_config_path() -> str:
    return str(resources.files("reception_app.resources") / "demo_clinic.toml")


#: The demo's branches (resources/demo_clinic.toml): the past and the upcoming bookings are theirs.
DEMO_BRANCHES: tuple[str, ...] = ("Centro", "Norte")
#: Patients who come for the first time in the upcoming days (no past): a real clinic's minority.
NEWCOMERS = 60
#: Share of the upcoming bookings that are a newcomer's.
NEWCOMER_SHARE = 0.12


def patient_count(past_days: int) -> int:
    """How many regular demo patients a past of ``past_days`` local days draws from (about six
    visits each over four months; at least the 120 of a demo without a past)."""
    return max(120, 10 * past_days)


def load_demo(db: Database, *, days: int = 10, per_day: int = 40, past_days: int = 120, seed: int = 7,
              now: datetime | None = None) -> str:
    """Apply the demo clinic and, if it has no demo patients yet, add them, write the past and book
    the upcoming days. Returns a summary line (it names the past: how many appointments, which days).

    * the past: ``past_days`` branch-local days before today (today excluded) of completed, no-show,
      cancelled and rescheduled appointments with their sent SMS reminders, written as imported
      history (:mod:`.demo_past`, which says why and what patterns it follows); 0 for none;
    * upcoming: about ``per_day`` appointments (a third of that at Norte) on each of the next ``days``
      local days, booked with ``scheduling.book`` like any other, so they obey every rule; most of
      them are regulars' (with a past, so the first-visit mark stays the exception), a few
      (:data:`NEWCOMER_SHARE`) are newcomers' (:data:`NEWCOMERS` patients without a past).

    Idempotent: the configuration is applied by name; patients and bookings are only added when the
    demo has no patients yet; a demo loaded before the past existed gets its past on the next load.
    ``seed``: the random source (the same seed, clinic and ``now`` give the same demo); ``now``: an
    aware instant (default: the current time). Raises ``PermissionDenied``-style database errors when
    the login may not write imported history (``clinic_admin`` or the owner may).
    """
    result = clinic_config.apply_file(db, demo_config_path())
    now = now or datetime.now(UTC)
    zones: dict[str, str] = db.read(lambda c: dict(c.execute(text("SELECT name, timezone FROM branch")).all()))
    today = {name: now.astimezone(ZoneInfo(zones[name])).date() for name in DEMO_BRANCHES}
    rng = random.Random(seed)
    have = db.read(lambda c: c.execute(text("SELECT count(*) FROM patient WHERE source = 'demo'")).scalar())
    if have:
        if past_days <= 0 or db.read(demo_past.has_past):
            return f"Demo clinic up to date ({have} demo patients)."
        regulars, no_sms = db.read(lambda c: _existing_patients(c))
        added = db.write(lambda c: demo_past.write_past(c, regulars=regulars, no_sms=no_sms, today=today,
                                                        days=past_days, rng=rng),
                         reason="demo past")
        return f"Demo clinic up to date ({have} demo patients); added {_past_text(added)}."

    def add_patients(conn) -> tuple[list[int], list[int], frozenset[int]]:
        rows = []
        consents = []
        for i in range(patient_count(past_days) + NEWCOMERS):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 80))
            phone = f"+55279{rng.randrange(10_000_000, 99_999_999)}"
            channels = ["sms", "email"] if rng.random() < 0.85 else ["email"]
            consents.append("sms" in channels)
            rows.append({"display_name": f"{first} {last}", "birth_date": born, "phone": phone,
                         "email": f"{first}.{last}{i}@example.com".lower().encode("ascii", "ignore").decode(),
                         "consent_channels": channels, "source": "demo"})
        ids = list(conn.execute(insert(t.patient).returning(t.patient.c.id), rows).scalars())
        n = len(ids) - NEWCOMERS
        return ids[:n], ids[n:], frozenset(i for i, sms in zip(ids, consents, strict=True) if not sms)

    regulars, newcomers, no_sms = db.write(add_patients, reason="demo patients")
    past: demo_past.PastSummary | None = None
    if past_days > 0:
        past = db.write(lambda c: demo_past.write_past(c, regulars=regulars, no_sms=no_sms, today=today,
                                                       days=past_days, rng=random.Random(seed + 1)),
                        reason="demo past")
    services = [("General consultation", 5), ("Long consultation", 2), ("Abdominal ultrasound", 2),
                ("ECG with cardiologist", 1), ("Physiotherapy session", 2)]
    weighted = [name for name, w in services for _ in range(w)]
    booked = 0
    for branch in DEMO_BRANCHES:
        for offset in range(days):
            day = today[branch] + timedelta(days=offset)
            target = per_day if branch == "Centro" else per_day // 3
            for _ in range(target):
                service = rng.choice(weighted)
                try:
                    offers = scheduling.find_slots(db, branch=branch, service=service, local_date=day, now=now)
                except ClinicError:
                    continue
                if not offers:
                    continue
                offer = rng.choice(offers)
                pool = newcomers if rng.random() < NEWCOMER_SHARE else regulars[:max(len(regulars) // 2, 1)]
                try:
                    scheduling.book(db, branch=branch, service=service, start=offer.start,
                                    patient_id=rng.choice(pool), source=rng.choice(["phone", "phone",
                                                                                    "walk_in", "online"]),
                                    now=now, reason="demo booking")
                    booked += 1
                except ClinicError:
                    continue
    line = (f"Demo clinic loaded: {len(result.created.get('branch', []))} branches, "
            f"{len(result.created.get('doctor', []))} doctors, {len(regulars) + len(newcomers)} patients, "
            f"{booked} upcoming appointments")
    return line + (f"; {_past_text(past)}." if past is not None else ".")


def _past_text(past: demo_past.PastSummary) -> str:
    """``"a past of 6,120 appointments from 2026-08-09 to 2026-12-06 (4,870 completed, 920 no-shows,
    …; 3,400 SMS reminders sent)"``."""
    if not past.appointments:
        return "no past appointments (the clinic had no working days in the period)"
    s = past.by_status
    return (f"a past of {past.appointments:,} appointments from {past.first_day} to {past.last_day} "
            f"({s.get('completed', 0):,} completed, {s.get('no_show', 0):,} no-shows, "
            f"{s.get('cancelled', 0):,} cancelled, {s.get('rescheduled', 0):,} rescheduled; "
            f"{past.reminders:,} SMS reminders sent)")


def _existing_patients(conn) -> tuple[list[int], frozenset[int]]:
    """The demo's patients (by id) and those without SMS consent, for a past added to an older demo."""
    rows = conn.execute(text("SELECT id, 'sms' = ANY(consent_channels) FROM patient WHERE source = 'demo' "
                             "ORDER BY id")).all()
    return [r[0] for r in rows], frozenset(r[0] for r in rows if not r[1])
