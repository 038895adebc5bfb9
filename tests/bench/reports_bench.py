"""Manager reports over the 1,000,000-appointment benchmark dataset: query ms and PDF ms per report.

``bench_reports(url)`` returns ``{report: {"query_ms": median, "query_runs_ms": [...], "pdf_ms": median, "pages":
n}, "goal_query_ms": 1000, "goal_pdf_ms": 3000, "utilization_summary": {...}}``; the period is the dataset's 15
months (all of it). The utilization summary is refreshed first (as the reminder service keeps it), so the
utilization figure is the summary's; ``utilization_summary`` (:func:`bench_utilization_summary`) has the
refresh times and the report's time with stale and uncovered resource-days. Run alone:
``python -m tests.bench.reports_bench`` (uses run_all's server and dataset).

``python -m tests.bench.reports_bench --queries [REPORT ...]`` times only the queries of the named reports
(all by default) over the existing dataset, read-only (:func:`bench_report_queries`): no migration, no
summary refresh, no PDF — the figures of issue 15's report goals (no-show and load under 500 ms).

Wall-clock times on a shared 2-core machine swing by 2x with the other work on it, so each query
figure also carries ``server_cpu_ms``: the CPU time (user + system, ms) the database server's
processes spent during each run — the backend, its parallel workers (reaped children count through
the postmaster's children times) and the server's background processes — read from ``/proc`` of
the local server (:func:`server_cpu_ms`; None when the server is not on this machine). Contention
inflates CPU time too, but far less than wall time, so it compares two versions of a query better.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import UTC, datetime
from functools import partial

import psycopg
import pypdfium2 as pdfium

from reception_app.reports.manager_pdf import report_pdf
from reception_app.services.reports import REPORTS, refresh_utilization, run_report, utilization
from reception_app.store.database import Database


def bench_reports(url: str, date_from: str = "2026-01-01", date_to: str = "2027-03-31", rounds: int = 5) -> dict:
    """Each report ``rounds`` times (query: the whole ``run_report``, snapshot transaction included;
    PDF: ``report_pdf`` of its figures); medians, and every query time in ``query_runs_ms``."""
    db = Database(url)
    out: dict = {"period": [date_from, date_to], "rounds": rounds, "goal_query_ms": 1000, "goal_pdf_ms": 3000,
                 "utilization_summary": bench_utilization_summary(url, date_from, date_to)}
    postmaster = _postmaster_pid(url)
    for name in REPORTS:
        queries, pdfs, cpu = [], [], []
        for _ in range(rounds):
            cpu0 = server_cpu_ms(postmaster)
            ms, data = _ms(partial(run_report, db, name, date_from=date_from, date_to=date_to))
            cpu.append(_minus(server_cpu_ms(postmaster), cpu0))
            queries.append(ms)
            ms, pdf = _ms(partial(report_pdf, data, clinic="Bench", printed_by="bench", printed_at=datetime.now(UTC),
                                  tz=UTC))
            pdfs.append(ms)
        out[name] = {"query_ms": round(statistics.median(queries)), "query_runs_ms": queries,
                     "server_cpu_ms": _median(cpu), "server_cpu_runs_ms": cpu,
                     "pdf_ms": round(statistics.median(pdfs)), "pages": len(pdfium.PdfDocument(pdf))}
    db.dispose()
    return out


def bench_report_queries(url: str, names: list[str] | None = None, date_from: str = "2026-01-01",
                         date_to: str = "2027-03-31", rounds: int = 5) -> dict:
    """Each named report (all of :data:`REPORTS` by default) ``rounds`` times after one warm-up run:
    ``{report: {"query_ms": median, "query_runs_ms": [...]}}``. Reads only."""
    db = Database(url)
    out: dict = {"period": [date_from, date_to], "rounds": rounds, "goal_query_ms": 500}
    postmaster = _postmaster_pid(url)
    for name in names or list(REPORTS):
        run_report(db, name, date_from=date_from, date_to=date_to)    # warm-up: caches, the pool's connection
        runs, cpu = [], []
        for _ in range(rounds):
            cpu0 = server_cpu_ms(postmaster)
            runs.append(_ms(partial(run_report, db, name, date_from=date_from, date_to=date_to))[0])
            cpu.append(_minus(server_cpu_ms(postmaster), cpu0))
        out[name] = {"query_ms": round(statistics.median(runs)), "query_runs_ms": runs,
                     "server_cpu_ms": _median(cpu), "server_cpu_runs_ms": cpu}
    db.dispose()
    return out


def _postmaster_pid(url: str) -> int | None:
    """The pid of the server's postmaster (the parent of a backend), or None when the server is not a
    process of this machine (no ``/proc`` entry for the backend)."""
    with psycopg.connect(url) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:
            return _stat(backend)[1]
        except OSError:
            return None


def _stat(pid: int) -> tuple[list[int], int]:
    """(utime, stime, cutime, cstime) in clock ticks and the parent pid of process ``pid`` (``/proc``);
    ``OSError`` when it is gone."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()    # after "(comm)": state, ppid, ...
    return [int(v) for v in fields[11:15]], int(fields[1])


def server_cpu_ms(postmaster: int | None) -> float | None:
    """CPU time (user + system, ms) used so far by the server whose postmaster is ``postmaster``: the
    postmaster itself and the children it has reaped (exited parallel workers and backends) plus each
    live child. None without a postmaster pid. A child that exits between the listing and its read is
    skipped (its time then counts at the next reading, once reaped)."""
    if postmaster is None:
        return None
    ticks = sum(_stat(postmaster)[0])
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                times, parent = _stat(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
            if parent == postmaster:
                ticks += times[0] + times[1]
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def _minus(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else round(after - before)


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known)) if known else None


def _ms(work) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = work()
    return round((time.perf_counter() - t0) * 1e3), result


def bench_utilization_summary(url: str, date_from: str, date_to: str, rounds: int = 3) -> dict:
    """The utilization summary's costs and the report's time when the summary cannot answer for all of
    the period, each report checked against the all-live one:

    - ``full_refresh_ms``: a refresh from nothing (summary emptied first), ``resource_days`` written;
      ``idle_refresh_ms``: a refresh with nothing stale;
    - ``stale_N``: after N random bookings of the period were cancelled (``live = false``, committed): the
      report (median of ``rounds``), then the refresh that clears them; the bookings are then restored and
      refreshed again;
    - ``uncovered_query_ms``: the report with nothing summarised (before the first refresh): all live.
    """
    db = Database(url)
    out: dict = {}
    kw = {"date_from": date_from, "date_to": date_to}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE utilization_day")
        conn.execute("UPDATE utilization_summary SET covered = 'empty'")
        ms, uncovered = _ms(lambda: utilization(db, **kw))
        out["uncovered_query_ms"] = ms
        ms, done = _ms(lambda: refresh_utilization(db))
        out["full_refresh_ms"], out["resource_days"] = ms, done["resource_days"]
        out["idle_refresh_ms"], _ = _ms(lambda: refresh_utilization(db))
        ms, summarised = _ms(lambda: utilization(db, **kw))
        assert summarised.to_json() == uncovered.to_json(), "the summary disagrees with the live report"
        # Cancelling N confirmed appointments of the period, as a bulk load would (the replica role: no
        # audit rows or waitlist offers to clean up; the staleness triggers are ENABLE ALWAYS), and back.
        conn.execute("SET session_replication_role = replica")
        for n in (50, 1000):
            ids = [r[0] for r in conn.execute(
                "UPDATE appointment SET status = 'cancelled' WHERE id IN (SELECT id FROM appointment WHERE status = "
                "'confirmed' AND local_start >= %s AND local_start < CAST(%s AS date) + 1 ORDER BY random() LIMIT %s) "
                "RETURNING id", (date_from, date_to, n))]
            conn.execute("UPDATE booking SET live = false WHERE appointment_id = ANY(%s)", (ids,))
            try:
                runs = [_ms(lambda: utilization(db, **kw)) for _ in range(rounds)]
                ms_refresh, done = _ms(lambda: refresh_utilization(db))
                fresh = utilization(db, **kw)
                assert fresh.to_json() == runs[0][1].to_json(), "the report with stale entries disagrees"
                out[f"stale_{n}"] = {"appointments": len(ids), "query_ms": statistics.median(r[0] for r in runs),
                                     "query_runs_ms": [r[0] for r in runs], "refresh_ms": ms_refresh,
                                     "resource_days": done["resource_days"]}
            finally:
                conn.execute("UPDATE appointment SET status = 'confirmed' WHERE id = ANY(%s)", (ids,))
                conn.execute("UPDATE booking SET live = true WHERE appointment_id = ANY(%s)", (ids,))
                refresh_utilization(db)
        conn.execute("SET session_replication_role = origin")
    db.dispose()
    return out


if __name__ == "__main__":
    import os
    import sys
    from pathlib import Path

    from psycopg.conninfo import make_conninfo

    from tests.bench.run_all import ROOT, ensure_dataset, server

    srv = server(Path(os.environ.get("CLINIC_BENCH_DIR", ROOT / ".bench")))
    if sys.argv[1:2] == ["--queries"]:    # the existing dataset as it stands: no migration, nothing written
        print(json.dumps(bench_report_queries(make_conninfo(srv.get_uri("postgres"), dbname="clinic_bench"),
                                              sys.argv[2:] or None), indent=2))
    else:
        url, _ = ensure_dataset(srv.get_uri("postgres"))
        print(json.dumps(bench_reports(url), indent=2))
