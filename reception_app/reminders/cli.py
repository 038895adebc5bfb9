"""``clinic-reminders``: the reminder service as a process (see ``service``).

```
clinic-reminders [--database URL] [--config FILE] [--once] [--check] [--log-file PATH] [-v]
```

The database connection follows the app's precedence (``--database``,
``CLINIC_DATABASE_URL``, settings.toml ``database_url``, the embedded default);
the ``[reminders]`` section of settings.toml (or of ``--config FILE``) chooses the
channels. ``--check`` connects to the database and to each configured channel and
prints one line each, and one for the login: on a server the service runs as a
login of its own in the group role ``clinic_reminders`` (not a superuser, not a
reception login; see ``privileges``), and one for what the sweep will do with the
login's rights (exit 0 when all is well, 1 when a channel is unreachable, 4 when
the database is, 6 when the login is not in ``clinic_reminders`` or is a
superuser). ``--once`` sends what is due now and exits. Otherwise it runs until
SIGTERM or SIGINT, finishing the message in flight.

Logs: to stderr when run by systemd (the journal keeps them; ``JOURNAL_STREAM``
is set) or with ``--log-file -``; else to a rotating file (``--log-file`` or the
app's log directory, ``reminders.log``). Exit codes as the ``clinic`` command: 2 bad
settings (one line naming the key and value), 4 database unreachable, 5 schema
mismatch, 70 internal error.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import TextIO

from ..channels import SendError
from ..channels.settings import ReminderSettings, build_channels, load_settings
from ..config import ConnectionChoice, choose_connection
from ..domain.errors import ClinicError, DatabaseUnavailable, SchemaMismatch, ValidationError
from ..logsetup import setup_service_logging
from ..store.connect import open_database
from ..store.database import Database
from . import privileges
from .service import ReminderService

log = logging.getLogger("reception_app.reminders")


def _setup_logging(target: str | None, verbose: bool) -> None:
    setup_service_logging(target, verbose, "reminders.log")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clinic-reminders", description="Send the clinic's appointment reminders.")
    p.add_argument("--database", help="libpq connection string (default: CLINIC_DATABASE_URL, settings, embedded)")
    p.add_argument("--config", type=Path, help="TOML file with a [reminders] section (default: settings.toml)")
    p.add_argument("--check", action="store_true", help="check the database and each channel, then exit")
    p.add_argument("--once", action="store_true", help="send what is due now, then exit")
    p.add_argument("--log-file", help="log file, or - for stderr (default: journal under systemd, else a file)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every message sent")
    return p


def check(settings: ReminderSettings, choice: ConnectionChoice, out=sys.stdout) -> int:
    """Print one line per dependency (database, login, sweep, each channel); return the exit code:
    0 all fine, 1 a channel failed, 4 no database, 6 the login is not a non-superuser member of
    ``clinic_reminders`` (the first of these that applies, in the order 4, 6, 1)."""
    code = 0
    try:
        db = open_database(choice=choice, application_name="clinic-reminders check")
        try:
            db.ping()
            where = "the built-in database" if choice.embedded else f"the database ({choice.origin})"
            print(f"ok     database: {where} is reachable", file=out)
            code = _check_login(db, embedded=choice.embedded, out=out)
        finally:
            db.dispose()
    except (DatabaseUnavailable, SchemaMismatch) as exc:
        print(f"FAILED database: {exc}", file=out)
        code = 4
    chosen = build_channels(settings)
    seen: set[int] = set()
    for channel in chosen.values():
        if id(channel) in seen:
            continue
        seen.add(id(channel))
        users = ", ".join(c for c, ch in chosen.items() if ch is channel)
        try:
            print(f"ok     {channel.name} ({users}): {channel.check()}", file=out)
        except SendError as exc:
            print(f"FAILED {channel.name} ({users}): {exc}", file=out)
            code = code or 1
    off = [c for c, t in settings.transports.items() if t == "off"]
    if off:
        print(f"off    {', '.join(off)}", file=out)
    return code


def _check_login(db: Database, *, embedded: bool, out: TextIO) -> int:
    """The login and sweep lines of ``--check``; returns 6 when the login is wrong for the service, else 0."""
    standing = privileges.standing(db)
    code = 0
    if embedded:
        print(f"skip   login: the built-in database (one workstation) has no service login; on a server "
              f"the service runs as a login in {privileges.SERVICE_GROUP}", file=out)
    elif (problem := standing.problem()) is not None:
        print(f"FAILED login: {problem}", file=out)
        code = 6
    else:
        print(f'ok     login: "{standing.login}" is in {privileges.SERVICE_GROUP}', file=out)
    done = [what for what, may in (("releases expired holds", standing.may_release_holds),
                                   ("makes waitlist offers", standing.may_offer_waitlist)) if may]
    left = [what for what, may in (("expired holds", standing.may_release_holds),
                                   ("waitlist offers", standing.may_offer_waitlist)) if not may]
    if done:
        print(f"ok     sweep: {' and '.join(done)}", file=out)
    if left:
        print(f"skip   sweep: {' and '.join(left)} are left to reception (this login may not; run `clinic "
              f"waitlist process` as a reception login on a timer: installers/README.md)", file=out)
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.log_file, args.verbose)
    try:
        settings = load_settings(args.config)
        choice = choose_connection(args.database)
        if args.check:
            return check(settings, choice)
        db = open_database(choice=choice, application_name="clinic-reminders")
        if not choice.embedded and (problem := privileges.standing(db).problem()) is not None:
            log.warning("%s", problem)
    except ValidationError as exc:
        print(f"clinic-reminders: {exc}", file=sys.stderr)
        return 2
    except ClinicError as exc:
        print(f"clinic-reminders: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 4)
    service = ReminderService(db, settings)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: finishing the message in flight", signal.Signals(signum).name)
        service.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("clinic-reminders %s started (channels: %s; database: %s)", service.worker,
             ", ".join(f"{c}={t}" for c, t in settings.transports.items()), choice.origin)
    try:
        service.run(until_idle=args.once)
    except ClinicError as exc:  # e.g. the login lacks clinic_reminders' rights
        log.error("clinic-reminders stopped: %s", exc)
        print(f"clinic-reminders: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    except Exception:  # a bug: logged with its traceback, a short line on screen
        log.exception("clinic-reminders crashed")
        print("clinic-reminders: internal error (details in the log)", file=sys.stderr)
        return 70
    finally:
        service.close()
        db.dispose()
    log.info("clinic-reminders %s stopped: %d sent, %d failed attempts, %d given up", service.worker,
             service.sent, service.failed, service.gave_up)
    return 0


if __name__ == "__main__":
    sys.exit(main())
