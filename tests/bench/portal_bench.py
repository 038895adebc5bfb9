"""``make bench`` "portal": the patient portal against the 1,000,000-appointment dataset.

1. The week-of-free-starts page (``GET /book?branch&service&doctor=any&week``: the portal's
   database functions, the slot engine over the branch's 40 doctors, 20 rooms and 10 machines,
   the page rendered) under 50 concurrent users — an async client loop (httpx) on 127.0.0.1, each
   user asking for one of the next four weeks again and again, for a fixed time: requests per
   second, p50/p95 ms (goal p95 < 150 ms on the 2-core machine).
2. The booking round trip, one patient at a time: hold (POST /book/hold), details (the code
   sent to the outbox), code (POST /book/verify) — p50/p95 ms from the hold's request to the
   booked page. The appointments it makes are cancelled afterwards.

The portal runs in its own processes (tests/bench/portal_server.py: uvicorn with 2 worker
processes, as ``clinic-portal --workers 2``), as a login in ``clinic_portal``; the load generator
shares the 2 cores with them and with PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

BRANCH, SERVICE = "Bench 00", "Bench ultrasound"
LOGIN = "bench_portal"


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(url: str) -> tuple[int, int]:
    """Make the bench branch's service and doctors bookable online and the portal's login; return
    (branch id, service id)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE service SET online = true WHERE name = %s AND NOT online", (SERVICE,))
        conn.execute("UPDATE resource SET online = true WHERE kind = 'doctor' AND name LIKE %s AND NOT online",
                     (BRANCH + " Dr %",))
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (LOGIN,)).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE clinic_portal").format(sql.Identifier(LOGIN)))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO clinic_portal").format(
            sql.Identifier(conn.info.dbname)))
        b = conn.execute("SELECT id FROM branch WHERE name = %s", (BRANCH,)).fetchone()[0]
        s = conn.execute("SELECT id FROM service WHERE name = %s", (SERVICE,)).fetchone()[0]
    return int(b), int(s)


async def _load(base: str, paths: list[str], users: int, seconds: float) -> tuple[list[float], int]:
    import httpx

    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def user(k: int) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = await client.get(paths[i % len(paths)])
                latencies.append((time.perf_counter() - t0) * 1e3)
                if r.status_code != 200:
                    errors += 1
                i += 1

        await asyncio.gather(*(user(k) for k in range(users)))
    return latencies, errors


def _round_trips(base: str, branch: int, service: int, outbox: Path, count: int) -> list[float]:
    import httpx

    times: list[float] = []
    start_re = re.compile(r'name="start" value="([^"]+)"><input type="hidden" name="resources" value="([^"]+)"')
    for i in range(count):
        with httpx.Client(base_url=base, timeout=30, follow_redirects=True) as c:
            page = c.get(f"/book?branch={branch}&service={service}&doctor=any")
            csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text).group(1)
            start, resources = start_re.findall(page.text)[i % 20]
            t0 = time.perf_counter()
            c.post("/book/hold", data={"csrf": csrf, "branch": str(branch), "service": str(service),
                                       "doctor": "any", "start": start, "resources": resources})
            sent = c.post("/book/details", data={"csrf": csrf, "name": f"Bench Patient {i}",
                                                 "birth_date": "12/03/1985", "phone": f"+55 27 998{i:02d}-{1000 + i:04d}",
                                                 "via": "sms"})
            assert sent.status_code == 200, sent.text[:2000]
            newest = max(outbox.glob("*-verification-*.txt"), key=lambda p: p.stat().st_mtime_ns)
            code = re.search(r"\b(\d{6})\b", newest.read_text(encoding="utf-8").split("\n\n", 1)[1]).group(1)
            form = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">',
                                   sent.text[sent.text.index('action="/book/verify"'):]))
            done = c.post("/book/verify", data={**form, "code": code})
            times.append((time.perf_counter() - t0) * 1e3)
            assert "/a/a." in str(done.url), done.text[:500]
    return times


def bench_portal(url: str, *, users: int = 50, seconds: float = 20.0, round_trips: int = 30,
                 workers: int = 2) -> dict:
    """Run both parts against the dataset at ``url`` (the owner's connection), the portal with
    ``workers`` uvicorn worker processes (one per core of the 2-core machine)."""
    branch, service = _prepare(url)
    portal_url = make_conninfo(url, user=LOGIN)
    port = _free_port()
    outbox = Path(tempfile.mkdtemp(prefix="portal-bench-outbox-"))
    server = subprocess.Popen([sys.executable, "-m", "tests.bench.portal_server", portal_url, str(port), str(outbox),
                               str(workers)], cwd=Path(__file__).resolve().parents[2])
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the portal did not start")
            time.sleep(0.2)
        today = datetime.now(UTC).astimezone(ZoneInfo("America/Sao_Paulo")).date()
        paths = [f"/book?branch={branch}&service={service}&doctor=any&week={today + timedelta(days=7 * w)}"
                 for w in range(4)]
        first = httpx.get(base + paths[0], timeout=30)
        offered = first.text.count('class="slot"')
        asyncio.run(_load(base, paths, users, 3.0))                       # warm-up
        latencies, errors = asyncio.run(_load(base, paths, users, seconds))
        print(f"portal week page: {len(latencies)} requests, p50 {_pct(latencies, .5):.1f} ms, "
              f"p95 {_pct(latencies, .95):.1f} ms, {errors} errors", file=sys.stderr, flush=True)
        trips = _round_trips(base, branch, service, outbox, round_trips)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        with psycopg.connect(url, autocommit=True) as conn:   # the bench's own bookings go again
            conn.execute("UPDATE appointment SET status = 'cancelled', status_reason = 'portal benchmark' "
                         "WHERE source = 'online' AND status NOT IN ('cancelled', 'rescheduled')")
    return {"users": users, "seconds": seconds, "workers": workers, "free_starts_on_first_week_page": offered,
            "week_page": {"requests": len(latencies), "errors": errors,
                          "requests_per_s": round(len(latencies) / seconds, 1),
                          "p50_ms": round(_pct(latencies, .5), 1), "p95_ms": round(_pct(latencies, .95), 1),
                          "goal_p95_ms": 150},
            "hold_to_booked": {"round_trips": len(trips), "p50_ms": round(_pct(trips, .5), 1),
                               "p95_ms": round(_pct(trips, .95), 1)}}
