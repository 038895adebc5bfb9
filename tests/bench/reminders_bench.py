"""Reminder service benchmark (issue 5): 10,000 due reminders, 2 worker processes, a local SMTP
server (aiosmtpd, in its own process) as the sink.

Reports reminders per second (from the first claim to the last mark, goal over 1,000/s),
duplicates (messages delivered twice, goal 0), lost (reminders not delivered or not
marked sent, must be 0) and the serialization retries of the workers' transactions (goal 0:
the queue runs under READ COMMITTED, reminders/queue.py). Each worker keeps one SMTP connection
and writes each ``sent`` mark on its recorder thread while the next message's SMTP transaction
opens, waiting for it before ``DATA`` (reminders/service.py), so a message's database round
trips overlap the next one's SMTP round trips. The database is a fresh one on the benchmark's embedded
server (``$CLINIC_BENCH_DIR``, default ``.bench/``). ``python -m tests.bench.reminders_bench``
prints the JSON alone.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import time
from collections import Counter
from pathlib import Path

import psycopg

REMINDERS = 10_000
WORKERS = 2
BATCH = 50
_MESSAGE_ID = re.compile(rb"^Message-ID: <([^@>]+)@", re.M | re.I)

SETUP_SQL = """
INSERT INTO branch (name, timezone, phone) VALUES ('Bench Reminders', 'America/Sao_Paulo', '+55 27 3333-0000');
INSERT INTO service (name, duration_min) VALUES ('Bench consultation', 15);
INSERT INTO patient (display_name, email, consent_channels, source)
SELECT 'Bench patient ' || g, 'p' || g || '@example.com', '{email}', 'bench' FROM generate_series(1, 1000) g;
INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source)
SELECT g, (SELECT id FROM service), (SELECT id FROM branch),
       'confirmed', date_trunc('hour', now()) + interval '30 days' + g * interval '15 minutes',
       date_trunc('hour', now()) + interval '30 days' + (g + 1) * interval '15 minutes', 'import'
  FROM generate_series(1, 1000) g;
INSERT INTO reminder (appointment_id, channel, purpose, due_at)
SELECT a.id, 'email', 'reminder', now() - interval '1 minute'
  FROM appointment a, generate_series(1, %(per)s);
"""


def _sink(port: int, ready, stop, out) -> None:
    """The SMTP server process: records the Message-ID of every message until ``stop``."""
    from aiosmtpd.controller import Controller

    ids: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            found = _MESSAGE_ID.search(envelope.content)
            ids.append(found.group(1) if found else b"?")
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    out.put([i.decode() for i in ids])


def _worker(url: str, port: int, outbox: str, out) -> None:
    from reception_app.channels.settings import ReminderSettings
    from reception_app.channels.smtp import SmtpSettings
    from reception_app.reminders.service import ReminderService
    from reception_app.runtime import tune_gc
    from reception_app.store.database import Database

    tune_gc()
    settings = ReminderSettings(outbox_dir=Path(outbox), batch_size=BATCH, lease_seconds=300, poll_seconds=1,
                                sweep_seconds=3600)
    settings.smtp = SmtpSettings(host="127.0.0.1", port=port, security="none", sender="bench@example.com")
    settings.transports.update(email="smtp", sms="off", whatsapp="off")
    db = Database(url, pool_size=2)
    service = ReminderService(db, settings)
    service._last_sweep = time.monotonic()           # no sweep inside the measurement
    t0 = time.time()
    service.run(until_idle=True)
    t1 = time.time()
    service.close()
    out.put({"start": t0, "end": t1, "sent": service.sent, "failed": service.failed,
             "retries": db.retries})
    db.dispose()


def bench_reminders() -> dict:
    """Run the benchmark; returns the figures (reminders_per_s, duplicates, lost, …) as a dict."""
    import os

    from tests.bench.run_all import ROOT, fresh_database, server
    from tests.reminders.servers import free_port

    bench_dir = Path(os.environ.get("CLINIC_BENCH_DIR", ROOT / ".bench"))
    srv = server(bench_dir)
    url = fresh_database(srv.get_uri("postgres"), "clinic_bench_reminders")
    with psycopg.connect(url) as conn:
        conn.execute(SETUP_SQL.replace("%(per)s", str(REMINDERS // 1000)))
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        keys = {r[0] for r in conn.execute("SELECT idempotency_key FROM reminder WHERE status = 'pending'")}
    assert len(keys) == REMINDERS
    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    ready, stop, sink_out, out = ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Queue()
    sink = ctx.Process(target=_sink, args=(port, ready, stop, sink_out))
    sink.start()
    ready.wait(60)
    outbox = str(bench_dir / "reminders-outbox")
    workers = [ctx.Process(target=_worker, args=(url, port, outbox, out)) for _ in range(WORKERS)]
    for w in workers:
        w.start()
    results = [out.get(timeout=900) for _ in workers]
    for w in workers:
        w.join()
    stop.set()
    delivered = sink_out.get(timeout=120)
    sink.join()
    with psycopg.connect(url) as conn:
        marked = dict(conn.execute("SELECT status, count(*) FROM reminder GROUP BY status").fetchall())
    counts = Counter(delivered)
    seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    lost = len(keys - set(counts)) + (REMINDERS - marked.get("sent", 0))
    return {"reminders": REMINDERS, "workers": WORKERS, "batch": BATCH, "seconds": round(seconds, 2),
            "reminders_per_s": round(REMINDERS / seconds, 1), "duplicates": duplicates, "lost": lost,
            "delivered": len(delivered), "marked": marked, "per_worker_sent": [r["sent"] for r in results],
            "serialization_retries": sum(r["retries"] for r in results), "goal_per_s": 1000, "goal_retries": 0}


if __name__ == "__main__":
    print(json.dumps(bench_reminders(), indent=2))
