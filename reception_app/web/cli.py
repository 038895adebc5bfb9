"""``clinic-portal``: the patient portal as a process (uvicorn serving ``app.create_app``).

```
clinic-portal [--host 127.0.0.1] [--port 8080] [--database URL] [--config FILE] [--workers N]
              [--ssl-certfile CERT --ssl-keyfile KEY] [--behind-https-proxy] [--log-file PATH] [-v]
```

The database connection follows the app's precedence (``--database``, ``CLINIC_DATABASE_URL``,
settings.toml ``database_url``, the embedded default — where the portal's login is made for
it); on a server the connection string names the portal's own login, a member of
``clinic_portal``. Verification codes leave through the channels of settings.toml's
``[reminders]`` section (or of ``--config FILE``), as the reminder service's messages do.

HTTPS: either uvicorn terminates it (``--ssl-certfile``/``--ssl-keyfile``), or the clinic's reverse
proxy does and forwards to 127.0.0.1 (``--behind-https-proxy``: cookies are marked Secure and the
client address is taken from the proxy's ``X-Forwarded-For``). Without either the portal speaks
plain HTTP — for a trial on 127.0.0.1 next to ``make run`` only.

Exit codes: 2 bad settings, 4 database unreachable, 5 schema mismatch, 70 internal error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ..domain.errors import ClinicError, ValidationError
from ..logsetup import setup_service_logging
from ..store.connect import open_portal_database
from .asgi import ENV_CONFIG, ENV_HTTPS

log = logging.getLogger("reception_app.web")


def _setup_logging(target: str | None, verbose: bool) -> None:
    setup_service_logging(target, verbose, "portal.log")


def parser(prog: str = "clinic-portal") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Serve the clinic's patient portal.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0: a free one)")
    p.add_argument("--database", help="libpq connection string (default: CLINIC_DATABASE_URL, settings, embedded)")
    p.add_argument("--config", type=Path, help="TOML file with a [reminders] section for the code messages")
    p.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    p.add_argument("--behind-https-proxy", action="store_true",
                   help="a reverse proxy terminates HTTPS: Secure cookies, client address from X-Forwarded-For")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (default 1; one per core is usual; each keeps its own rate limits)")
    p.add_argument("--log-file", help="log file, or - for stderr (default: journal under systemd, else a file)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return p


def main(argv: list[str] | None = None, prog: str = "clinic-portal") -> int:
    args = parser(prog).parse_args(argv)
    _setup_logging(args.log_file, args.verbose)
    https = bool(args.ssl_certfile) or args.behind_https_proxy
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        print(f"{prog}: --ssl-certfile and --ssl-keyfile go together", file=sys.stderr)
        return 2
    try:
        import uvicorn

        from .app import create_app
        from .settings import default_settings

        settings = default_settings(config=args.config, secure_cookies=https)
        db = open_portal_database(args.database)
    except ValidationError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except ClinicError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 4)
    if not https and args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving plain HTTP on %s: put the portal behind HTTPS before patients use it", args.host)
    common = {"host": args.host, "port": args.port, "log_config": None, "access_log": args.verbose,
              "proxy_headers": args.behind_https_proxy, "forwarded_allow_ips": "127.0.0.1",
              "ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile, "server_header": False}
    if args.workers > 1:
        # Each worker process builds its own application from the environment (web/asgi.py).
        db.dispose()
        if args.database:
            os.environ["CLINIC_DATABASE_URL"] = args.database
        if args.config:
            os.environ[ENV_CONFIG] = str(args.config)
        os.environ[ENV_HTTPS] = "1" if https else "0"
        log.info("clinic-portal listening on %s:%s (%s, %d workers)", args.host, args.port,
                 "https" if https else "http", args.workers)
        uvicorn.run("reception_app.web.asgi:create_from_env", factory=True, workers=args.workers, **common)
        return 0
    app = create_app(db, settings)
    config = uvicorn.Config(app, **common)
    server = uvicorn.Server(config)
    log.info("clinic-portal listening on %s:%s (%s)", args.host, args.port, "https" if https else "http")
    try:
        server.run()
    except Exception:  # a bug: logged with its traceback, a short line on screen
        log.exception("clinic-portal crashed")
        print(f"{prog}: internal error (details in the log)", file=sys.stderr)
        return 70
    finally:
        db.dispose()
    return 0
