"""Manager reports over the 1,000,000-appointment benchmark dataset: query ms and PDF ms per report.

``bench_reports(url)`` returns ``{report: {"query_ms": …, "pdf_ms": …, "pages": n}, "goal_query_ms": 1000,
"goal_pdf_ms": 3000}``; the period is the dataset's past 15 months. Run alone:
``python -m tests.bench.reports_bench`` (uses run_all's server and dataset).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pypdfium2 as pdfium

from reception_app.reports.manager_pdf import report_pdf
from reception_app.services.report_queries import REPORTS, run_report
from reception_app.store.database import Database


def bench_reports(url: str, date_from: str = "2026-01-01", date_to: str = "2027-03-31") -> dict:
    db = Database(url)
    out: dict = {"period": [date_from, date_to], "goal_query_ms": 1000, "goal_pdf_ms": 3000}
    for name in REPORTS:
        t0 = time.perf_counter()
        data = run_report(db, name, date_from=date_from, date_to=date_to)
        q = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        pdf = report_pdf(data, clinic="Bench", printed_by="bench", printed_at=datetime.now(UTC), tz=UTC)
        p = (time.perf_counter() - t0) * 1e3
        out[name] = {"query_ms": round(q), "pdf_ms": round(p), "pages": len(pdfium.PdfDocument(pdf))}
    db.dispose()
    return out


if __name__ == "__main__":
    from pathlib import Path

    from tests.bench.run_all import ROOT, ensure_dataset, server

    srv = server(Path(ROOT / ".bench"))
    url, _ = ensure_dataset(srv.get_uri("postgres"))
    print(json.dumps(bench_reports(url), indent=2))
