"""The ``clinic`` command (also ``python -m reception_app``): thin, calls services.

Same connection rules as the window (``--database``, ``CLINIC_DATABASE_URL``,
settings file, embedded default). Exit codes: 0 done; 2 bad input (one line
naming the field and the value); 3 slot taken; 4 database unreachable;
5 schema mismatch; 6 permission denied; 70 internal error (details in the log
file, never a stack trace on screen); 130 interrupted (Ctrl+C); 141 the reader
of the output went away (a closed pipe: ``clinic slots … | head -1``).

Bad input is refused before anything is written, with exactly one line on
standard error: ``clinic: error: argument --date: … (got '0001-01-01')`` for
what the arguments alone show (checked while parsing, before connecting:
arguments that are not valid UTF-8, control characters, dates outside
2000-01-01 .. 2099-12-31, malformed start times, client ids that are not
UUIDs, ``--database`` that is not a libpq connection string, ids and counts
out of range, amounts that are not plain positive decimals), ``clinic: field:
problem (got value)`` for what the database shows (unknown names, an amount
above the clinic's ceiling ``max_amount_cents``, a transition the lifecycle
does not allow).

A closed pipe is not an error: the command stops writing, points standard
output at ``/dev/null`` (as the Python documentation recommends, so the final
flush cannot fail again) and exits with 141 — what a shell reports for a tool
ended by SIGPIPE, as ``yes | head -1`` does — without a message. Anything the
command wrote to the database was committed before it printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NoReturn

from .domain import validation
from .domain.errors import ClinicError, ValidationError
from .logsetup import log_file, setup_logging
from .runtime import tune_gc

log = logging.getLogger("reception_app.cli")

#: Exit code after a closed pipe (128 + SIGPIPE, as a shell reports a tool ended by the signal).
EXIT_CLOSED_PIPE = 141
#: The largest id of a row (ids are PostgreSQL ``integer``).
MAX_ID = 2_147_483_647
#: ``clinic status ID STEP``: the lifecycle step → the status it sets (as the window's actions).
STATUS_STEPS = {"check-in": "checked_in", "start": "in_progress", "complete": "completed", "no-show": "no_show"}


def _safe(text: str) -> str:
    """``text`` printable on any terminal, on one line: undecodable bytes (lone surrogates) and
    control characters as backslash escapes."""
    out = []
    for ch in text:
        if ch == "\n":
            out.append(" ")
        elif validation.forbidden_char(ch) is not None:
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                       if ord(ch) < 0xD800 or ord(ch) > 0xDFFF else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


# -- argument types: bad values end in ArgumentTypeError, i.e. "clinic: error: argument --x: …" ------
def _refuse(exc: ValidationError, text: str) -> NoReturn:
    raise argparse.ArgumentTypeError(f"{exc.problem} (got {text!r})") from None


def _checked_text(text: str) -> str:
    """Every argument: valid UTF-8 (no lone surrogates) and no control characters."""
    bad = validation.forbidden_char(text)
    if bad is not None:
        if 0xD800 <= ord(bad) <= 0xDFFF:
            raise argparse.ArgumentTypeError(f"not valid UTF-8: {text!r}")
        raise argparse.ArgumentTypeError(f"holds {validation.describe_char(bad)} (got {text!r})")
    return text


def _date_arg(text: str) -> date:
    """A schedule date, ``YYYY-MM-DD`` from 2000-01-01 to 2099-12-31."""
    try:
        return validation.parse_date(text, "date")
    except ValidationError as exc:
        _refuse(exc, text)


def _instant_arg(text: str) -> datetime:
    """An ISO-8601 start with an offset on a schedule date; the offset kept as written (``book``
    needs it to refuse a wall-clock time that does not exist in the branch's zone)."""
    try:
        return validation.parse_schedule_instant(text, "start")
    except ValidationError as exc:
        _refuse(exc, text)


def _uuid_arg(text: str) -> uuid.UUID:
    try:
        value = validation.parse_uuid(text, "client_id")
    except ValidationError as exc:
        _refuse(exc, text)
    if value is None:
        raise argparse.ArgumentTypeError(f"must not be empty (got {text!r})")
    return value


def _amount_arg(text: str) -> str:
    """An amount as written (stripped), once it is a plain decimal above 0 with at most two
    decimals; the ceiling is the clinic's setting, checked once connected."""
    try:
        validation.parse_amount(text, "amount")
    except ValidationError as exc:
        _refuse(exc, text)
    return text.strip()


_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)|(://[^:/@\s]*:)([^@\s]*)(?=@)", re.I)


def _redacted(conninfo: str) -> str:
    """``conninfo`` with any password replaced by ``***`` (for error messages)."""
    return _PASSWORD.sub(lambda m: (m.group(1) or m.group(3)) + "***", conninfo)


def conninfo_problem(text: str) -> str | None:
    """Why ``text`` is not a libpq connection string (URI or key=value) libpq can read, or None.

    Checked: not empty, ``psycopg.conninfo.conninfo_to_dict`` parses it, every port a number 1..65535."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    if not text.strip():
        return "is empty; give a libpq connection string"
    try:
        params = conninfo_to_dict(text)
    except ProgrammingError as exc:
        return "is not a libpq connection string: " + (str(exc).strip().splitlines() or ["malformed"])[0]
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            return f"port {port!r} is not a port number"
    return None


def _conninfo_arg(text: str) -> str:
    """``--database``: a libpq connection string (:func:`conninfo_problem`)."""
    problem = conninfo_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{problem} (got {_redacted(text)!r})")
    return text


def _check_chosen_connection(choice: Any) -> None:
    """A connection string from ``CLINIC_DATABASE_URL`` or the settings file gets the same check as
    ``--database``: ``ValidationError`` naming where it came from."""
    if choice.conninfo is None or choice.origin == "option":
        return
    problem = conninfo_problem(choice.conninfo)
    if problem is not None:
        where = {"environment": "CLINIC_DATABASE_URL", "reports-environment": "CLINIC_REPORTS_DATABASE_URL",
                 "reports-settings": "reports_database_url (settings.toml)"}.get(choice.origin,
                                                                              "database_url (settings.toml)")
        raise ValidationError(where, _redacted(choice.conninfo), problem)


def _int_arg(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high`` (ASCII digits)."""
    def parse(text: str) -> int:
        t = text.strip()
        if not (t.lstrip("-").isascii() and t.lstrip("-").isdigit()) or len(t) > 20 or not low <= int(t) <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high} (got {text!r})")
        return int(t)
    parse.__name__ = "whole number"
    return parse


_id_arg = _int_arg(1, MAX_ID)


class _Parser(argparse.ArgumentParser):
    """``argparse`` with one-line errors (``clinic: error: …``, exit 2) and every argument checked
    for undecodable bytes and control characters before its own type."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"clinic: error: {_safe(message)}\n")

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        if kwargs.get("action") in (None, "store", "append"):
            inner = kwargs.get("type")

            def checked(text: str, inner: Callable[[str], Any] | None = inner) -> Any:
                _checked_text(text)
                return inner(text) if inner is not None else text

            checked.__name__ = getattr(inner, "__name__", "text")
            kwargs["type"] = checked
        return super().add_argument(*args, **kwargs)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _db(args: argparse.Namespace, *, check: bool = True, owner: bool = False):
    """The database the options name. ``owner``: on the built-in database, its owner (schema and
    logins: ``db upgrade``, ``user add``); against a server the connection string says who connects."""
    from .config import choose_connection
    from .store.connect import open_database

    choice = choose_connection(args.database)
    _check_chosen_connection(choice)
    return open_database(check=check, application_name="clinic-cli", choice=choice, owner=owner)


# -- commands --------------------------------------------------------------------
def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from .store import migrate

    db = _db(args, check=False, owner=True)
    before, after = migrate.upgrade(db)
    print(f"schema at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))
    return 0


def cmd_db_refresh(args: argparse.Namespace) -> int:
    """``clinic db refresh``: bring the report summaries up to date now; a systemd timer runs it every
    few minutes (installers/systemd/clinic-db-refresh.timer), and by hand after a bulk import."""
    from .services.reports import refresh_utilization

    done = refresh_utilization(_db(args))
    if done["skipped"]:
        print("another refresh is running; nothing done")
        return 0
    lo, hi = done["covered"]
    print(f"utilization summary: {done['resource_days']} resource-days recomputed, {done['stale_entries']} "
          f"changes cleared; covers {lo.isoformat()} to {(hi - timedelta(days=1)).isoformat()}")
    return 0


def cmd_config_apply(args: argparse.Namespace) -> int:
    from .services import clinic_config

    data = clinic_config.load_file(args.file)  # check the file before touching a database
    result = clinic_config.apply(_db(args), data, source=args.file)
    print(result.summary())
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from .services.users import add_user

    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n") or None
    group = add_user(_db(args, owner=True), args.name, args.role, password=password, doctor=args.doctor,
                     full_name=args.full_name)
    print(f"login role {args.name} is in {group}")
    return 0


def cmd_patient_add(args: argparse.Namespace) -> int:
    from .services.patients import add_patient

    channels = args.channels.split(",") if args.channels else None
    p = add_patient(_db(args), name=args.name, birth_date=args.birth_date, phone=args.phone, email=args.email,
                    channels=channels, client_id=args.client_id)
    if args.json:
        _print_json(p.to_json())
    else:
        print(f"patient {p.id}: {p.name}" + (" (already added with this client id: nothing new written)"
                                             if p.already_added else ""))
    return 0


def cmd_patient_find(args: argparse.Namespace) -> int:
    from .services.patients import find_patients

    found = find_patients(_db(args), args.text, limit=args.limit)
    if args.json:
        _print_json([p.to_json() for p in found])
    else:
        for p in found:
            print(f"{p.id:>8}  {p.name:<32} {p.birth_date or '':<10}  {p.phone or ''}")
        if not found:
            print("no patient matches")
    return 0


def _local(instant: datetime, tz: Any) -> str:
    """Branch-local wall clock for people: ``2027-01-04 08:00 -03``."""
    return instant.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def cmd_slots(args: argparse.Namespace) -> int:
    from .services.scheduling import branch_zone, find_slots

    last = args.date + timedelta(days=args.days - 1)
    if last > validation.SCHEDULE_LAST:
        raise ValidationError("days", str(args.days), f"reaches past {validation.SCHEDULE_LAST.isoformat()}, the last "
                                                 "date the clinic schedules")
    db = _db(args)
    offers = find_slots(db, branch=args.branch, service=args.service, local_date=args.date,
                        doctor=args.doctor, room=args.room, equipment=args.equipment, days=args.days)
    if args.json:
        _print_json([o.to_json() for o in offers])
    else:
        tz = branch_zone(db, args.branch)
        for o in offers:
            names = ", ".join(o.resources.values())
            print(f"{_local(o.start, tz)}  {names}")
        if not offers:
            print("no free slot")
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    from .services.scheduling import book, branch_zone

    # args.start keeps the offset as written: book() needs it to refuse a wall-clock time that
    # does not exist in the branch's zone (DST gap).
    db = _db(args)
    appt = book(db, branch=args.branch, service=args.service, start=args.start, patient_id=args.patient,
                doctor=args.doctor, room=args.room, equipment=args.equipment, source=args.source,
                client_id=args.client_id, reason=args.reason, status="held" if args.hold else None)
    if args.json:
        _print_json(appt.to_json())
    else:
        tz = branch_zone(db, args.branch)
        held = f" until {_local(appt.hold_expires_at, tz)}" if appt.hold_expires_at else ""
        again = " (already booked with this client id: nothing new written)" \
            if getattr(appt, "already_booked", False) else ""
        print(f"appointment {appt.id}: {appt.service} for {appt.patient} at "
              f"{_local(appt.start, tz)} with {', '.join(appt.resources.values())} — {appt.status}{held}{again}")
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    """Confirm a hold, or approve a requested booking: whichever the appointment's status calls for."""
    from .services.appointments import get_appointment
    from .services.scheduling import approve, confirm_hold

    db = _db(args)
    status = get_appointment(db, args.id).status
    appt = approve(db, args.id, reason=args.reason) if status == "requested" else \
        confirm_hold(db, args.id, reason=args.reason)
    if args.json:
        _print_json(appt.to_json())
    else:
        print(f"appointment {appt.id} is now {appt.status}")
    return 0


def cmd_reschedule(args: argparse.Namespace) -> int:
    """Rebook an appointment at another start: a new appointment, the old one "rescheduled" and linked."""
    from .services.scheduling import branch_zone, reschedule

    db = _db(args)
    result = reschedule(db, args.id, start=args.start, doctor=args.doctor, room=args.room, equipment=args.equipment,
                        reason=args.reason, client_id=args.client_id)
    if args.json:
        _print_json({"old": result.old.to_json(), "new": result.new.to_json()})
    else:
        tz = branch_zone(db, result.new.branch)
        print(f"appointment {result.old.id} rescheduled to appointment {result.new.id} at "
              f"{_local(result.new.start, tz)} [{', '.join(result.new.resources.values())}]")
    return 0


def cmd_pay(args: argparse.Namespace) -> int:
    """Record a payment (or, with --refund, a refund) taken at the desk; a retry with --client-id records once."""
    from .domain.policy import format_money
    from .services.clinic_config import max_amount_cents
    from .services.payments import currency, record_payment, record_refund

    db = _db(args)
    ceiling, cur = db.read(lambda conn: (max_amount_cents(conn), currency(conn)))
    # The syntax was checked while parsing; the ceiling is the clinic's (setting max_amount_cents).
    cents = validation.parse_amount(args.amount, "amount", max_cents=ceiling, currency=cur)
    if args.refund:
        result = record_refund(db, args.id, amount_cents=cents, method=args.method, reference=args.reference or "",
                               client_id=args.client_id, reason=args.reason)
    else:
        result = record_payment(db, args.id, amount_cents=cents, method=args.method, purpose=args.purpose,
                                reference=args.reference or "", client_id=args.client_id, reason=args.reason)
    account = result.account
    if args.json:
        _print_json({"payment_id": result.payment.id, "recorded_now": result.recorded_now,
                     "appointment_id": args.id, "status": account.status, "paid_cents": account.paid_cents,
                     "refunded_cents": account.refunded_cents, "currency": account.currency})
    else:
        what = "refund" if args.refund else "payment"
        again = "" if result.recorded_now else " (already recorded: nothing new written)"
        print(f"{what} {result.payment.id}: {format_money(cents, account.currency)} for appointment {args.id}"
              f"{again}; paid {format_money(account.paid_cents, account.currency)}, appointment {account.status}")
    return 0


def cmd_waitlist_process(args: argparse.Namespace) -> int:
    """Offer freed slots to the waitlist now (the reminder service does it on its own too)."""
    from .services.waitlist import process_freed_slots

    offers = process_freed_slots(_db(args), now=datetime.now(UTC))
    if args.json:
        _print_json([{"offer": o.id, "appointment": o.appointment_id, "entry": o.entry_id,
                      "patient": o.patient} for o in offers])
    else:
        print(f"{len(offers)} offer(s) made" + "".join(f"\n  offer {o.id}: {o.patient} (appointment "
                                                      f"{o.appointment_id})" for o in offers))
    return 0


def cmd_move(args: argparse.Namespace) -> int:
    from .services.scheduling import branch_zone, move

    db = _db(args)
    result = move(db, args.id, start=args.start, doctor=args.doctor, room=args.room, equipment=args.equipment,
                  reason=args.reason)
    if args.json:
        _print_json(result.after.to_json())
    else:
        tz = branch_zone(db, result.after.branch)
        print(f"appointment {result.after.id} moved from {_local(result.before.start, tz)} "
              f"[{', '.join(result.before.resources.values())}] to {_local(result.after.start, tz)} "
              f"[{', '.join(result.after.resources.values())}]")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from .services.scheduling import cancel

    appt = cancel(_db(args), args.id, reason=args.reason, by=args.by)
    if args.json:
        _print_json(appt.to_json())
    else:
        print(f"appointment {appt.id} cancelled")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """``clinic status ID check-in|start|complete|no-show [--reason TEXT]``: one lifecycle step, as the
    window's actions do (``scheduling.set_status``). A step the appointment has already taken
    succeeds and changes nothing (a retry after a lost connection is not an error); any other step
    the lifecycle does not allow is ``InvalidTransition`` (exit 2)."""
    from .domain.errors import InvalidTransition
    from .domain.status import LABELS
    from .services.appointments import get_appointment
    from .services.scheduling import set_status

    target = STATUS_STEPS[args.step]
    reason = " ".join(args.reason.split()) if args.reason else None
    db = _db(args)
    try:
        appt = set_status(db, args.id, target, reason=reason)
        already = False
    except InvalidTransition:
        appt = get_appointment(db, args.id)
        if appt.status != target:
            raise
        already = True
    if args.json:
        _print_json(appt.to_json())
    else:
        print(f"appointment {appt.id} is {'already' if already else 'now'} {LABELS[appt.status].lower()}")
    return 0


def cmd_appointments(args: argparse.Namespace) -> int:
    """``clinic appointments BRANCH DATE``: the day's appointments from the read model
    (``services.appointments.list_appointments``), cancelled ones included, by start."""
    from .services.appointments import list_appointments
    from .services.scheduling import branch_zone

    db = _db(args)
    rows = list_appointments(db, branch=args.branch, local_date=args.date)
    if args.json:
        _print_json([a.to_json() for a in rows])
    else:
        tz = branch_zone(db, args.branch)
        for a in rows:
            print(f"{a.id:>8}  {_local(a.start, tz)}  {a.status:<12} {a.patient:<28} {a.service}  "
                  f"[{', '.join(a.resources.values())}]")
        if not rows:
            print("no appointments")
    return 0


def cmd_import_noshow(args: argparse.Namespace) -> int:
    from .services.importer import import_noshow_csv

    result = import_noshow_csv(_db(args), args.file, timezone=args.timezone)
    for line, reason in result.problems:
        print(f"line {line}: {reason}", file=sys.stderr)
    if args.json:
        _print_json(result.to_json())
    else:
        print(result.summary())
    return 0


def cmd_report_no_show(args: argparse.Namespace) -> int:
    if args.format is None:   # the original JSON shape (services.reports.no_show_report), kept for scripts
        from .services.reports import no_show_report

        report = no_show_report(_db(args), date_from=args.date_from, date_to=args.date_to, branch=args.branch)
        _print_json(report)
        return 0
    return cmd_report(args)


def _reports_db(args: argparse.Namespace):
    """The reports connection: ``--database`` wins, then ``config.reports_connection`` (a replica)."""
    from .config import choose_connection, reports_connection
    from .store.connect import open_database

    main_choice = choose_connection(args.database)
    choice = main_choice if args.database else reports_connection(main_choice)
    _check_chosen_connection(choice)
    return open_database(choice=choice, application_name="clinic-reports")


def cmd_report(args: argparse.Namespace) -> int:
    """``clinic report NAME --from D --to D [--branch B] --format pdf|csv|json -o FILE``."""
    import getpass
    from datetime import datetime
    from pathlib import Path

    from .domain.errors import ValidationError
    from .services.reports import run_report

    fmt = args.format or "json"
    if fmt not in ("pdf", "csv", "json"):
        raise ValidationError("format", fmt, "must be pdf, csv or json")
    if fmt == "pdf" and not args.output:
        raise ValidationError("output", None, "is required for --format pdf (-o FILE)")
    db = _reports_db(args)
    data = run_report(db, args.name, date_from=args.date_from, date_to=args.date_to, branch=args.branch)
    if fmt == "json":
        body: bytes = json.dumps(data.to_json(), ensure_ascii=False, indent=2, default=str).encode()
    elif fmt == "csv":
        from .reports.csv_export import report_csv

        body = report_csv(data).encode("utf-8")
    else:
        from .reports.manager_pdf import report_pdf

        now = datetime.now().astimezone()
        body = report_pdf(data, clinic=args.clinic, printed_by=getpass.getuser(), printed_at=now,
                          tz=now.tzinfo or UTC)
    if args.output:
        try:
            Path(args.output).write_bytes(body)
        except OSError as exc:
            raise ValidationError("output", args.output, f"cannot be written ({exc.strerror or exc})") from exc
        print(f"{args.name}: {args.output}")
    else:
        sys.stdout.write(body.decode("utf-8"))
    return 0


def cmd_demo_load(args: argparse.Namespace) -> int:
    from .services.demo import load_demo

    summary = load_demo(_db(args), past_days=args.past_days)
    print(summary)
    return 0


# -- parser -----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="clinic", description="Clinic Reception from the command line.")
    p.add_argument("--database", metavar="CONNINFO", type=_conninfo_arg,
                   help="libpq connection string (URI or key=value); default: CLINIC_DATABASE_URL, the settings "
                        "file, then the built-in database")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="schema").add_subparsers(dest="sub", required=True, metavar="ACTION")
    db.add_parser("upgrade", help="apply schema migrations").set_defaults(func=cmd_db_upgrade)
    db.add_parser("refresh", help="bring the report summaries (utilization) up to date now").set_defaults(
        func=cmd_db_refresh)

    cfg = sub.add_parser("config", help="clinic configuration").add_subparsers(dest="sub", required=True,
                                                                                 metavar="ACTION")
    ca = cfg.add_parser("apply", help="create or update branches, doctors, rooms, … from a TOML file")
    ca.add_argument("file")
    ca.set_defaults(func=cmd_config_apply)

    usr = sub.add_parser("user", help="database logins").add_subparsers(dest="sub", required=True, metavar="ACTION")
    ua = usr.add_parser("add", help="create a login role in a group")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=["reception", "doctor", "manager", "admin"])
    ua.add_argument("--doctor", help="link this login to the doctor of that name")
    ua.add_argument("--name", dest="full_name", help="the person's name, printed as 'Printed by' (\"Luana Ferreira\")")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from the first stdin line")
    ua.set_defaults(func=cmd_user_add)

    pat = sub.add_parser("patient", help="patients").add_subparsers(dest="sub", required=True, metavar="ACTION")
    pa = pat.add_parser("add", help="register a patient")
    pa.add_argument("--name", required=True)
    pa.add_argument("--birth-date", required=True, metavar="YYYY-MM-DD")
    pa.add_argument("--phone", metavar="E164")
    pa.add_argument("--email")
    pa.add_argument("--channels", metavar="LIST", help="consented channels, e.g. sms,email")
    pa.add_argument("--client-id", type=_uuid_arg, metavar="UUID", help="idempotency key: retrying with it adds once")
    pa.add_argument("--json", action="store_true")
    pa.set_defaults(func=cmd_patient_add)
    pf = pat.add_parser("find", help="search by name, phone or date of birth")
    pf.add_argument("text")
    pf.add_argument("--limit", type=_int_arg(1, 1000), default=20)
    pf.add_argument("--json", action="store_true")
    pf.set_defaults(func=cmd_patient_find)

    sl = sub.add_parser("slots", help="free starts of a service on a day")
    sl.add_argument("--branch", required=True)
    sl.add_argument("--service", required=True)
    sl.add_argument("--date", required=True, type=_date_arg, metavar="YYYY-MM-DD", help="branch-local date")
    sl.add_argument("--days", type=_int_arg(1, 366), default=1, help="search this many days from --date")
    sl.add_argument("--doctor")
    sl.add_argument("--room")
    sl.add_argument("--equipment")
    sl.add_argument("--json", action="store_true")
    sl.set_defaults(func=cmd_slots)

    bk = sub.add_parser("book", help="book an appointment")
    bk.add_argument("--branch", required=True)
    bk.add_argument("--service", required=True)
    bk.add_argument("--start", required=True, type=_instant_arg, metavar="ISO-8601",
                    help="with offset, e.g. 2027-01-04T08:00:00-03:00")
    bk.add_argument("--patient", required=True, type=_id_arg, metavar="ID")
    bk.add_argument("--doctor")
    bk.add_argument("--room")
    bk.add_argument("--equipment")
    bk.add_argument("--source", default="phone", choices=["phone", "walk_in", "online"])
    bk.add_argument("--client-id", type=_uuid_arg, metavar="UUID",
                    help="idempotency key: retrying with it never books twice")
    bk.add_argument("--reason", help="recorded in the audit trail")
    bk.add_argument("--hold", action="store_true",
                    help="hold the slot for a few minutes instead of booking it (confirm it with `clinic confirm`)")
    bk.add_argument("--json", action="store_true")
    bk.set_defaults(func=cmd_book)

    cf = sub.add_parser("confirm", help="confirm a hold, or approve a requested booking")
    cf.add_argument("id", type=_id_arg)
    cf.add_argument("--reason", help="recorded in the audit trail")
    cf.add_argument("--json", action="store_true")
    cf.set_defaults(func=cmd_confirm)

    rs = sub.add_parser("reschedule", help="rebook an appointment at another start (the old one is linked to it)")
    rs.add_argument("id", type=_id_arg)
    rs.add_argument("--start", required=True, type=_instant_arg, metavar="ISO-8601", help="with offset")
    rs.add_argument("--doctor")
    rs.add_argument("--room")
    rs.add_argument("--equipment")
    rs.add_argument("--client-id", type=_uuid_arg, metavar="UUID",
                    help="idempotency key: retrying with it never rebooks twice")
    rs.add_argument("--reason", help="recorded in the audit trail")
    rs.add_argument("--json", action="store_true")
    rs.set_defaults(func=cmd_reschedule)

    py = sub.add_parser("pay", help="record a payment (or a refund) taken at the desk")
    py.add_argument("id", type=_id_arg, help="the appointment")
    py.add_argument("--amount", required=True, type=_amount_arg,
                    help='e.g. "20.00": a plain decimal above 0, at most the clinic\'s ceiling (max_amount)')
    py.add_argument("--method", required=True, choices=["cash", "card_terminal", "other"])
    py.add_argument("--purpose", default="deposit", choices=["deposit", "fee", "late_cancel_fee", "other"])
    py.add_argument("--reference", help="the terminal's slip number or a note (never a card number)")
    py.add_argument("--refund", action="store_true", help="a refund instead of a payment")
    py.add_argument("--client-id", type=_uuid_arg, metavar="UUID", help="idempotency key: retrying with it records once")
    py.add_argument("--reason", help="recorded in the audit trail")
    py.add_argument("--json", action="store_true")
    py.set_defaults(func=cmd_pay)

    wl = sub.add_parser("waitlist", help="the waitlist").add_subparsers(dest="sub", required=True, metavar="ACTION")
    wp = wl.add_parser("process", help="offer freed slots to the first fitting entries now")
    wp.add_argument("--json", action="store_true")
    wp.set_defaults(func=cmd_waitlist_process)

    mv = sub.add_parser("move", help="move an appointment to another time and/or resources")
    mv.add_argument("id", type=_id_arg)
    mv.add_argument("--start", type=_instant_arg, metavar="ISO-8601",
                    help="new start with offset (default: keep the time)")
    mv.add_argument("--doctor")
    mv.add_argument("--room")
    mv.add_argument("--equipment")
    mv.add_argument("--reason", help="recorded in the audit trail")
    mv.add_argument("--json", action="store_true")
    mv.set_defaults(func=cmd_move)

    cn = sub.add_parser("cancel", help="cancel an appointment")
    cn.add_argument("id", type=_id_arg)
    cn.add_argument("--reason", required=True)
    cn.add_argument("--by", choices=["clinic", "patient"], default="clinic",
                    help="who cancels: early or late is judged by the policy for the patient")
    cn.add_argument("--json", action="store_true")
    cn.set_defaults(func=cmd_cancel)

    st = sub.add_parser("status", help="a lifecycle step: check-in, start, complete or no-show")
    st.add_argument("id", type=_id_arg)
    st.add_argument("step", choices=list(STATUS_STEPS))
    st.add_argument("--reason", help="recorded in the audit trail")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)

    ap = sub.add_parser("appointments", help="a branch's appointments on a day")
    ap.add_argument("--branch", required=True)
    ap.add_argument("--date", required=True, type=_date_arg, metavar="YYYY-MM-DD")
    ap.add_argument("--json", action="store_true")
    ap.set_defaults(func=cmd_appointments)

    imp = sub.add_parser("import", help="import data").add_subparsers(dest="sub", required=True, metavar="FORMAT")
    im = imp.add_parser("noshow-csv", help="the public 'Medical Appointment No Shows' CSV")
    im.add_argument("file")
    im.add_argument("--timezone", default="America/Sao_Paulo")
    im.add_argument("--json", action="store_true")
    im.set_defaults(func=cmd_import_noshow)

    rep = sub.add_parser("report", help="manager reports").add_subparsers(dest="sub", required=True, metavar="NAME")
    from .services.reports import REPORTS

    for name in REPORTS:
        rn = rep.add_parser(name, help=f"the {name} report (--format pdf|csv|json -o FILE)")
        rn.add_argument("--from", dest="date_from", type=_date_arg, metavar="YYYY-MM-DD",
                        required=name != "no-show", help="first local date (inclusive)")
        rn.add_argument("--to", dest="date_to", type=_date_arg, metavar="YYYY-MM-DD", required=name != "no-show",
                        help="last local date (inclusive)")
        rn.add_argument("--branch")
        rn.add_argument("--format", choices=["pdf", "csv", "json"],
                        default=None if name == "no-show" else "json",
                        help="output format (no-show without --format prints its original JSON)")
        rn.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
        rn.add_argument("--clinic", default="Clinic", help="the clinic's name in the PDF header")
        rn.set_defaults(name=name)
        if name == "no-show":
            rn.add_argument("--json", action="store_true", help="print the original JSON (the default)")
            rn.set_defaults(func=cmd_report_no_show)
        else:
            rn.set_defaults(func=cmd_report)

    prt = sub.add_parser("portal", help="the patient portal").add_subparsers(dest="sub", required=True,
                                                                          metavar="ACTION")
    ps = prt.add_parser("serve", help="serve the patient portal (the clinic-portal program)", add_help=False)
    ps.add_argument("portal_args", nargs=argparse.REMAINDER, help="clinic-portal's options (--host, --port, …)")
    ps.set_defaults(func=cmd_portal_serve)

    demo = sub.add_parser("demo", help="the demo clinic").add_subparsers(dest="sub", required=True, metavar="ACTION")
    dl = demo.add_parser("load", help="apply the demo clinic, write its past and book the next days")
    dl.add_argument("--past-days", type=_int_arg(0, 730), default=120, metavar="N",
                    help="local days of past appointments before today (default 120; 0: none)")
    dl.set_defaults(func=cmd_demo_load)
    return p


def _portal_serve_args(argv: list[str]) -> argparse.Namespace | None:
    """``clinic [--database …] portal serve …``: everything after ``serve`` is ``clinic-portal``'s own
    options, passed on untouched (argparse cannot hand a subcommand options it does not know)."""
    for i in range(len(argv) - 1):
        if argv[i:i + 2] == ["portal", "serve"]:
            head = argparse.ArgumentParser(prog="clinic", add_help=False)
            head.add_argument("--database", type=_conninfo_arg)
            known = head.parse_args(argv[:i])
            return argparse.Namespace(database=known.database, portal_args=argv[i + 2:], func=cmd_portal_serve)
    return None


def cmd_portal_serve(args: argparse.Namespace) -> int:
    """``clinic portal serve [--host …] [--port …]``: run the portal (``clinic-portal``) in this
    process's place, against the same database as this command (``--database`` passes on)."""
    argv = [sys.executable, "-m", "reception_app.web", *args.portal_args]
    if args.database and "--database" not in args.portal_args:
        argv += ["--database", args.database]
    sys.stdout.flush()
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover - execv does not return


def _closed_pipe() -> int:
    """The reader went away: point stdout at /dev/null so the interpreter's final flush cannot fail
    again (the Python documentation's recipe for SIGPIPE), and return :data:`EXIT_CLOSED_PIPE`."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (embedded, replaced by a test): nothing to redirect
        pass
    return EXIT_CLOSED_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``clinic`` console script: runs ``argv`` (default ``sys.argv[1:]``) and returns
    the exit code (module docstring). Never raises, argparse's ``SystemExit`` included: every outcome
    is an exit code with at most one line on standard error."""
    try:
        setup_logging()    # first: an internal error from here on goes to the log file, never the screen
    except OSError:        # no writable log folder: still no stack trace on screen (logging's last resort)
        logging.getLogger().addHandler(logging.NullHandler())
    try:
        try:
            args = _portal_serve_args(list(sys.argv[1:] if argv is None else argv)) or build_parser().parse_args(argv)
        except SystemExit as exc:  # --help (0) or a bad argument (2, its line already printed)
            sys.stdout.flush()
            return exc.code if isinstance(exc.code, int) else 2
        tune_gc()
        try:
            code = int(args.func(args) or 0)
            sys.stdout.flush()  # inside the try: a closed pipe shows here, not at interpreter exit
            return code
        except ClinicError as exc:
            log.info("%s: %s", type(exc).__name__, _safe(str(exc)))
            sys.stdout.flush()
            print(f"clinic: {_safe(str(exc))}", file=sys.stderr)
            return exc.exit_code
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt:
        return 130
    except Exception:
        log.exception("internal error in `clinic %s`", _safe(" ".join(sys.argv[1:])))
        print(f"clinic: internal error; details are in {log_file()}", file=sys.stderr)
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
