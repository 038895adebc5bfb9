"""The demo clinic: configuration from ``resources/demo_clinic.toml`` plus
upcoming appointments for made-up patients, so a first run shows a living grid.

Idempotent: the configuration is applied by name, and appointments are only
booked when the demo has none yet (demo patients carry ``source = 'demo'``).
Bookings go through ``scheduling.book`` like any other, so they obey every rule.
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
from . import clinic_config, scheduling

FIRST = ["Maria", "José", "Ana", "João", "Antônio", "Francisca", "Carlos", "Paulo", "Adriana", "Lucas", "Juliana",
         "Marcos", "Fernanda", "Rafael", "Patrícia", "Gabriel", "Aline", "Bruna", "Thiago", "Camila", "Letícia",
         "Rodrigo", "Beatriz", "Eduardo", "Larissa", "Gustavo", "Vanessa", "Mateus", "Sofia", "Pedro"]
LAST = ["Silva", "Santos", "Oliveira", "Souza", "Pereira", "Ferreira", "Rodrigues", "Almeida", "Nascimento",
        "Lima", "Araújo", "Fernandes", "Carvalho", "Gomes", "Martins", "Rocha", "Ribeiro", "Barbosa", "Cardoso"]


def demo_config_path() -> str:
    return str(resources.files("reception_app.resources") / "demo_clinic.toml")


def load_demo(db: Database, *, days: int = 10, per_day: int = 40, seed: int = 7,
              now: datetime | None = None) -> str:
    """Apply the demo clinic and, if it has no demo patients yet, book about
    ``per_day`` appointments on each of the next ``days`` local days. Returns a summary line."""
    result = clinic_config.apply_file(db, demo_config_path())
    have = db.read(lambda c: c.execute(text("SELECT count(*) FROM patient WHERE source = 'demo'")).scalar())
    if have:
        return f"Demo clinic up to date ({have} demo patients)."
    rng = random.Random(seed)
    now = now or datetime.now(UTC)

    def add_patients(conn) -> list[int]:
        rows = []
        for i in range(120):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 80))
            phone = f"+55279{rng.randrange(10_000_000, 99_999_999)}"
            rows.append({"display_name": f"{first} {last}", "birth_date": born, "phone": phone,
                         "email": f"{first}.{last}{i}@example.com".lower().encode("ascii", "ignore").decode(),
                         "consent_channels": ["sms", "email"], "source": "demo"})
        return list(conn.execute(insert(t.patient).returning(t.patient.c.id), rows).scalars())

    patient_ids = db.write(add_patients, reason="demo patients")
    services = [("General consultation", 5), ("Long consultation", 2), ("Abdominal ultrasound", 2),
                ("ECG with cardiologist", 1), ("Physiotherapy session", 2)]
    weighted = [name for name, w in services for _ in range(w)]
    booked = 0
    zones: dict[str, str] = db.read(lambda c: dict(c.execute(text("SELECT name, timezone FROM branch")).all()))
    for branch in ("Centro", "Norte"):
        today = now.astimezone(ZoneInfo(zones[branch])).date()
        for offset in range(days):
            day = today + timedelta(days=offset)
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
                try:
                    scheduling.book(db, branch=branch, service=service, start=offer.start,
                                    patient_id=rng.choice(patient_ids), source=rng.choice(["phone", "phone",
                                                                                           "walk_in", "online"]),
                                    now=now, reason="demo booking")
                    booked += 1
                except ClinicError:
                    continue
    return (f"Demo clinic loaded: {len(result.created.get('branch', []))} branches, "
            f"{len(result.created.get('doctor', []))} doctors, {len(patient_ids)} patients, "
            f"{booked} upcoming appointments.")
