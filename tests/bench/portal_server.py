"""The portal as ``make bench`` serves it: ``python -m tests.bench.portal_server URL PORT OUTBOX``
— the real application (``reception_app.web.app.create_app``) on the portal login's connection
``URL``, verification codes to the file outbox ``OUTBOX``, rate limits out of the way (the
benchmark's 50 users share one address), uvicorn on 127.0.0.1:PORT. It stops when its parent
(the benchmark) closes its standard input."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import uvicorn

from reception_app.channels.outbox import OutboxChannel
from reception_app.store.database import Database
from reception_app.web.app import create_app
from reception_app.web.security import DEFAULT_LIMITS, Limit
from reception_app.web.settings import PortalSettings


def main() -> int:
    url, port, outbox = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    channel = OutboxChannel(outbox)
    settings = PortalSettings(secret=b"bench-portal-secret", secure_cookies=False,
                              limits={k: Limit(10**9, 1) for k in DEFAULT_LIMITS},
                              channels={"sms": channel, "email": channel})
    db = Database(url, application_name="clinic-portal bench")
    server = uvicorn.Server(uvicorn.Config(create_app(db, settings), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False, log_config=None))

    def watch_parent() -> None:
        sys.stdin.read()            # EOF: the benchmark went away
        server.should_exit = True

    threading.Thread(target=watch_parent, daemon=True).start()
    server.run()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
