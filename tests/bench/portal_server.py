"""The portal as ``make bench`` serves it: ``python -m tests.bench.portal_server URL PORT OUTBOX
[WORKERS]`` — the real application (``reception_app.web.app.create_app``) on the portal login's
connection ``URL``, verification codes to the file outbox ``OUTBOX``, rate limits out of the way
(the benchmark's 50 users share one address), uvicorn on 127.0.0.1:PORT with WORKERS worker
processes (default 1), as ``clinic-portal --workers`` runs it. The benchmark stops it with SIGTERM."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI


def create() -> FastAPI:
    """One worker's application, from the environment the parent set."""
    from reception_app.channels.outbox import OutboxChannel
    from reception_app.store.database import Database
    from reception_app.web.app import create_app
    from reception_app.web.security import DEFAULT_LIMITS, Limit
    from reception_app.web.settings import PortalSettings

    channel = OutboxChannel(Path(os.environ["BENCH_PORTAL_OUTBOX"]))
    settings = PortalSettings(secret=b"bench-portal-secret", secure_cookies=False,
                              limits={k: Limit(10**9, 1) for k in DEFAULT_LIMITS},
                              channels={"sms": channel, "email": channel})
    return create_app(Database(os.environ["BENCH_PORTAL_URL"], application_name="clinic-portal bench"), settings)


def main() -> int:
    url, port, outbox = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    os.environ["BENCH_PORTAL_URL"], os.environ["BENCH_PORTAL_OUTBOX"] = url, outbox
    uvicorn.run("tests.bench.portal_server:create", factory=True, host="127.0.0.1", port=port, workers=workers,
                log_level="warning", access_log=False, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
