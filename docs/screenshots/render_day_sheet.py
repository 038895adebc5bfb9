"""Render the printed day sheet and day list of the demo clinic, and their first pages as PNGs.

    .venv/bin/python docs/screenshots/render_day_sheet.py [OUT_DIR]

Starts an embedded PostgreSQL in a temporary directory (deleted afterwards),
migrates it, loads the demo clinic for 4-7 January 2027, gives the morning's
appointments other statuses, and writes ``day_sheet.pdf`` / ``day_list.pdf``
for Tuesday 5 January 2027 at Centro into OUT_DIR (default: a temporary
folder) and page 1 of each as ``day_sheet.png`` / ``day_list.png`` (80 dpi,
``pdftoppm`` from poppler-utils) next to this script.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from demo_db import DAY, NOW, demo_database  # next to this script
from sqlalchemy import text

from reception_app.reports.day_sheet import day_list_pdf, doctor_day_sheet_pdf
from reception_app.services.dayview import load_day
from reception_app.services.patients import PatientView
from reception_app.store.database import Database

HERE = Path(__file__).parent


def _patients(db: Database, ids: list[int]) -> dict[int, PatientView]:
    """Birth dates and phones of ``ids`` (a stand-in for a patients service call)."""
    rows = db.read(lambda c: c.execute(text(
        "SELECT id, display_name, birth_date, phone, email FROM patient WHERE id = ANY(:ids)"), {"ids": ids}).all())
    return {r.id: PatientView(r.id, r.display_name, r.birth_date, r.phone, r.email, ()) for r in rows}


def main(out: Path) -> None:
    """Write the PDFs into ``out`` and the PNGs of their first pages next to this script."""
    db = demo_database()
    view = load_day(db, "Centro", DAY)
    patients = _patients(db, sorted({a.patient_id for a in view.appointments}))
    doctors = [r for r in view.resources if r.kind == "doctor"]
    busiest = max(doctors, key=lambda d: sum(d.id in a.resource_ids.values() for a in view.appointments))
    sheet = doctor_day_sheet_pdf(view, busiest.id, printed_by="maria", printed_at=NOW, patients=patients,
                                 clinic="Clínica Demo")
    listing = day_list_pdf(view, printed_by="maria", printed_at=NOW, patients=patients, clinic="Clínica Demo")
    out.mkdir(parents=True, exist_ok=True)
    for name, pdf in (("day_sheet", sheet), ("day_list", listing)):
        path = out / f"{name}.pdf"
        path.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(path),
                        str(HERE / name)], check=True)
        print("wrote", path, "and", HERE / f"{name}.png")
    db.dispose()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="clinic-print-")))
