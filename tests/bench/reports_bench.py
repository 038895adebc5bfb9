"""Manager reports over the 1,000,000-appointment benchmark dataset: query ms and PDF ms per report.

``bench_reports(url)`` returns ``{report: {"query_ms": median, "query_runs_ms": [...], "pdf_ms": median, "pages":
n}, "goal_query_ms": 1000, "goal_pdf_ms": 3000}``; the period is the dataset's 15 months (all of it). Run alone:
``python -m tests.bench.reports_bench`` (uses run_all's server and dataset).
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime

import pypdfium2 as pdfium

from reception_app.reports.manager_pdf import report_pdf
from reception_app.services.report_queries import REPORTS, run_report
from reception_app.store.database import Database


def bench_reports(url: str, date_from: str = "2026-01-01", date_to: str = "2027-03-31", rounds: int = 5) -> dict:
    """Each report ``rounds`` times (query: the whole ``run_report``, snapshot transaction included;
    PDF: ``report_pdf`` of its figures); medians, and every query time in ``query_runs_ms``."""
    db = Database(url)
    out: dict = {"period": [date_from, date_to], "rounds": rounds, "goal_query_ms": 1000, "goal_pdf_ms": 3000}
    for name in REPORTS:
        queries, pdfs = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            data = run_report(db, name, date_from=date_from, date_to=date_to)
            queries.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            pdf = report_pdf(data, clinic="Bench", printed_by="bench", printed_at=datetime.now(UTC), tz=UTC)
            pdfs.append((time.perf_counter() - t0) * 1e3)
        out[name] = {"query_ms": round(statistics.median(queries)), "query_runs_ms": [round(q) for q in queries],
                     "pdf_ms": round(statistics.median(pdfs)), "pages": len(pdfium.PdfDocument(pdf))}
    db.dispose()
    return out


if __name__ == "__main__":
    from pathlib import Path

    from tests.bench.run_all import ROOT, ensure_dataset, server

    srv = server(Path(ROOT / ".bench"))
    url, _ = ensure_dataset(srv.get_uri("postgres"))
    print(json.dumps(bench_reports(url), indent=2))
