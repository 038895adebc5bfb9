"""Render every manager report as PDF and its pages as PNGs, to check them page by page.

    .venv/bin/python docs/reports/render_reports.py [OUT_DIR]
    .venv/bin/python docs/reports/render_reports.py --reuse OUT_DIR     # re-render from saved figures
    .venv/bin/python docs/reports/render_reports.py --samples [OUT_DIR] # also refresh the PNGs here

Two data sets, each on its own embedded PostgreSQL in a temporary directory (deleted at exit):

- ``vit``: the full Vitória sample (``../shared/data/noshow_appointments_vitoria_2016.csv``, about
  40,000 appointments, one branch per neighbourhood) over 2016-04-29 to 2016-05-31;
- ``demo``: the demo clinic booked for three weeks from Monday 4 January 2027, with the first two
  weeks played out as if it were now Monday 18 January (completed, no-shows, patient and clinic
  cancellations, confirmations), over 2027-01-04 to 2027-01-24 (two past weeks, one upcoming);
  and ``demo-empty``: the same clinic over a week before any booking (every report empty).

For each data set and report it writes ``<set>-<report>.pdf`` into OUT_DIR (default: a temporary
folder), every page as ``<set>-<report>-<n>.png`` (80 dpi, ``pdftoppm`` from poppler-utils) and the
report figures as ``figures.pickle``, so ``--reuse`` can lay the PDFs out again after a change to
``reception_app/reports`` without rebuilding the databases. ``--samples`` also writes the PNG pages
listed in :data:`SAMPLES` next to this script at 60 dpi.

"""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import text

from reception_app.domain.errors import ClinicError
from reception_app.reports.manager_pdf import report_pdf
from reception_app.services import reports as rq
from reception_app.services import scheduling
from reception_app.services.demo import load_demo
from reception_app.services.importer import import_noshow_csv
from reception_app.store import migrate
from reception_app.store.database import Database
from reception_app.store.embedded import start_embedded

HERE = Path(__file__).parent
#: The Vitória file (``NOSHOW_CSV`` overrides it, e.g. from another checkout).
VITORIA = Path(os.environ.get("NOSHOW_CSV") or
               Path(__file__).resolve().parents[3] / "shared" / "data" / "noshow_appointments_vitoria_2016.csv")
PRINTED_AT = datetime(2027, 1, 18, 11, 30, tzinfo=UTC)
SP = ZoneInfo("America/Sao_Paulo")
DEMO_START = date(2027, 1, 4)          # Monday: the demo books from here
DEMO_NOW = datetime(2027, 1, 18, 9, 0, tzinfo=UTC)   # "now" for the played-out weeks (Monday 06:00 local)
RUNS = {  # data set -> (clinic name, first day, last day)
    "vit": ("Vitória (public sample)", date(2016, 4, 29), date(2016, 5, 31)),
    "demo": ("Clínica Demo", DEMO_START, date(2027, 1, 24)),
    "demo-empty": ("Clínica Demo", date(2026, 12, 7), date(2026, 12, 13)),
}
#: The PNG pages copied next to this script with ``--samples``: (data set, report, page).
SAMPLES = [("vit", "no-show", 1), ("vit", "no-show", 3), ("vit", "utilization", 1), ("vit", "cancellations", 1),
           ("vit", "load", 1), ("vit", "load", 2), ("vit", "operations", 1),
           ("demo", "no-show", 1), ("demo", "utilization", 1), ("demo", "load", 1), ("demo", "operations", 1),
           ("demo-empty", "load", 1)]


def _server(prefix: str) -> Database:
    url = start_embedded(Path(tempfile.mkdtemp(prefix=prefix)) / "pg", cleanup="delete")
    db = Database(url)
    migrate.upgrade(db)
    return db


def vitoria_database() -> Database:
    """The full Vitória file imported on a new embedded server."""
    db = _server("clinic-reports-vit-")
    result = import_noshow_csv(db, VITORIA)
    print("imported", VITORIA.name, getattr(result, "imported", result))
    return db


def demo_database() -> Database:
    """The demo clinic for three weeks from ``DEMO_START``, the first two played out as of ``DEMO_NOW``."""
    db = _server("clinic-reports-demo-")
    print(load_demo(db, now=datetime(2027, 1, 4, 9, tzinfo=UTC), days=21))
    rng = random.Random(11)
    counts: dict[str, int] = {}
    for branch in ("Centro", "Norte"):
        for offset in range(14):
            for a in scheduling.list_appointments(db, branch=branch, local_date=DEMO_START + timedelta(days=offset)):
                if a.start >= DEMO_NOW or a.status == "cancelled":
                    continue
                roll = rng.random()
                if roll < 0.08:
                    plan, outcome = [], ("cancel", "patient", "Patient ill")
                elif roll < 0.11:
                    plan, outcome = [], ("cancel", "clinic", "Doctor unavailable")
                elif roll < 0.23:
                    plan, outcome = ["confirmed", "no_show"], None
                else:
                    plan, outcome = ["confirmed", "checked_in", "in_progress", "completed"], None
                try:
                    if outcome:
                        scheduling.cancel(db, a.id, reason=outcome[2], by=outcome[1], now=a.start - timedelta(days=1))
                        counts["cancelled"] = counts.get("cancelled", 0) + 1
                        continue
                    for status in plan:
                        if status == "confirmed" and a.status == "confirmed":
                            continue
                        scheduling.set_status(db, a.id, status)
                    counts[plan[-1]] = counts.get(plan[-1], 0) + 1
                except ClinicError as exc:   # e.g. a deposit not paid: leave it as booked
                    counts["left"] = counts.get("left", 0) + 1
                    print("  left", a.id, a.status, type(exc).__name__)
    # The server stamps with its own clock: put the stamps where they would have been.
    db.write(lambda c: c.execute(text(
        "UPDATE appointment SET checked_in_at = starts_at - interval '5 minutes' WHERE checked_in_at IS NOT NULL;"
        "UPDATE appointment SET booked_at = starts_at - (1 + id % 9) * interval '1 day' - (id % 7) * interval '1 hour';"
        "UPDATE appointment SET confirmed_at = booked_at + (20 + (id * 37) % 900) * interval '1 minute' "
        "WHERE confirmed_at IS NOT NULL;"
        "UPDATE appointment SET cancelled_at = starts_at - (CASE WHEN id % 3 = 0 THEN 3 ELSE 50 END) "
        "* interval '1 hour' WHERE cancelled_at IS NOT NULL")), reason="demo report stamps")
    print("demo outcomes", counts)
    return db


def run_all(db: Database, name: str) -> dict[str, rq.ReportData]:
    """Every report of ``RUNS[name]`` (a failing report stops the run: it is a bug to fix)."""
    _clinic, d_from, d_to = RUNS[name]
    out = {}
    for report in rq.REPORTS:
        t = time.monotonic()
        out[report] = rq.run_report(db, report, date_from=d_from, date_to=d_to)
        print(f"  {name} {report}: {time.monotonic() - t:.1f} s")
    return out


def render(figures: dict[str, dict[str, rq.ReportData]], out: Path) -> list[Path]:
    """The PDFs and their PNG pages in ``out``."""
    pngs: list[Path] = []
    for name, reports in figures.items():
        clinic = RUNS[name][0]
        for report, data in reports.items():
            pdf = out / f"{name}-{report}.pdf"
            pdf.write_bytes(report_pdf(data, clinic=clinic, printed_by="maria", printed_at=PRINTED_AT, tz=SP))
            for old in out.glob(f"{name}-{report}-*.png"):
                old.unlink()
            subprocess.run(["pdftoppm", "-r", "80", "-png", str(pdf), str(out / f"{name}-{report}")], check=True)
            pages = sorted(out.glob(f"{name}-{report}-*.png"))
            pngs += pages
            print(f"{pdf.name}: {len(pages)} page(s)")
    return pngs


def samples(out: Path) -> None:
    """The pages of :data:`SAMPLES` at 60 dpi next to this script (old ``vit-*``/``demo-*`` PNGs replaced)."""
    for old in [*HERE.glob("vit-*.png"), *HERE.glob("demo-*.png")]:
        old.unlink()
    for name, report, page in SAMPLES:
        target = HERE / f"{name}-{report}-{page}"
        subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", str(page), "-l", str(page), "-singlefile",
                        str(out / f"{name}-{report}.pdf"), str(target)], check=True)
        print("wrote", target.with_suffix(".png"))


def main(argv: list[str]) -> None:
    reuse = "--reuse" in argv
    want_samples = "--samples" in argv
    rest = [a for a in argv if not a.startswith("--")]
    out = Path(rest[0]) if rest else Path(tempfile.mkdtemp(prefix="clinic-reports-"))
    out.mkdir(parents=True, exist_ok=True)
    store = out / "figures.pickle"
    if reuse:
        figures = pickle.loads(store.read_bytes())
    else:
        figures = {}
        vit = vitoria_database()
        figures["vit"] = run_all(vit, "vit")
        vit.dispose()
        demo = demo_database()
        figures["demo"] = run_all(demo, "demo")
        figures["demo-empty"] = run_all(demo, "demo-empty")
        demo.dispose()
        store.write_bytes(pickle.dumps(figures))
    render(figures, out)
    if want_samples:
        samples(out)
    print("output in", out)


if __name__ == "__main__":
    main(sys.argv[1:])
