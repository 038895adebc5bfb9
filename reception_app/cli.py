"""The ``clinic`` command (also ``python -m reception_app``): thin, calls services.

Same connection rules as the window (``--database``, ``CLINIC_DATABASE_URL``,
settings file, embedded default). Exit codes: 0 done; 2 bad input (one line
naming the field and the value); 3 slot taken; 4 database unreachable;
5 schema mismatch; 6 permission denied; 70 internal error (details in the log
file, never a stack trace on screen).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from .domain.errors import ClinicError
from .logsetup import log_file, setup_logging
from .runtime import tune_gc

log = logging.getLogger("reception_app.cli")


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _db(args: argparse.Namespace, *, check: bool = True):
    from .store.connect import open_database

    return open_database(args.database, check=check, application_name="clinic-cli")


# -- commands --------------------------------------------------------------------
def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from .store import migrate

    db = _db(args, check=False)
    before, after = migrate.upgrade(db)
    print(f"schema at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))
    return 0


def cmd_db_refresh(args: argparse.Namespace) -> int:
    """``clinic db refresh``: bring the report summaries up to date now (the reminder service does it on
    every sweep); after a bulk import, or from cron where no reminder service runs."""
    from .services.report_queries import refresh_utilization

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
    group = add_user(_db(args), args.name, args.role, password=password, doctor=args.doctor)
    print(f"login role {args.name} is in {group}")
    return 0


def cmd_patient_add(args: argparse.Namespace) -> int:
    from .services.patients import add_patient

    channels = args.channels.split(",") if args.channels else None
    p = add_patient(_db(args), name=args.name, birth_date=args.birth_date, phone=args.phone, email=args.email,
                    channels=channels)
    if args.json:
        _print_json(p.to_json())
    else:
        print(f"patient {p.id}: {p.name}")
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
    from .domain.wallclock import parse_instant
    from .services.scheduling import book, branch_zone

    parse_instant(args.start, "start")  # ISO-8601 with an offset, or a one-line error naming the field
    # Keep the offset as written (parse_instant converts to UTC): book() needs it to refuse a
    # wall-clock time that does not exist in the branch's zone (DST gap).
    start = datetime.fromisoformat(args.start.strip())
    db = _db(args)
    appt = book(db, branch=args.branch, service=args.service, start=start, patient_id=args.patient,
                doctor=args.doctor, room=args.room, equipment=args.equipment, source=args.source,
                client_id=args.client_id, reason=args.reason, status="held" if args.hold else None)
    if args.json:
        _print_json(appt.to_json())
    else:
        tz = branch_zone(db, args.branch)
        held = f" until {_local(appt.hold_expires_at, tz)}" if appt.hold_expires_at else ""
        print(f"appointment {appt.id}: {appt.service} for {appt.patient} at "
              f"{_local(appt.start, tz)} with {', '.join(appt.resources.values())} — {appt.status}{held}")
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    """Confirm a hold, or approve a requested booking: whichever the appointment's status calls for."""
    from .services.scheduling import approve, confirm_hold, get_appointment

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
    from .domain.wallclock import parse_instant
    from .services.scheduling import branch_zone, reschedule

    parse_instant(args.start, "start")
    start = datetime.fromisoformat(args.start.strip())
    db = _db(args)
    result = reschedule(db, args.id, start=start, doctor=args.doctor, room=args.room, equipment=args.equipment,
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
    from .domain.policy import format_money, parse_money
    from .services.payments import record_payment, record_refund

    db = _db(args)
    cents = parse_money(args.amount, "amount")
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
    from .domain.wallclock import parse_instant
    from .services.scheduling import branch_zone, move

    start = None
    if args.start:
        parse_instant(args.start, "start")  # one-line error naming the field
        start = datetime.fromisoformat(args.start.strip())  # keep the offset for the DST-gap check
    db = _db(args)
    result = move(db, args.id, start=start, doctor=args.doctor, room=args.room, equipment=args.equipment,
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


def cmd_appointments(args: argparse.Namespace) -> int:
    from .services.scheduling import branch_zone, list_appointments

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
    return open_database(choice=choice, application_name="clinic-reports")


def cmd_report(args: argparse.Namespace) -> int:
    """``clinic report NAME --from D --to D [--branch B] --format pdf|csv|json -o FILE``."""
    import getpass
    from datetime import datetime
    from pathlib import Path

    from .domain.errors import ValidationError
    from .services.report_queries import run_report

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
        Path(args.output).write_bytes(body)
        print(f"{args.name}: {args.output}")
    else:
        sys.stdout.write(body.decode("utf-8"))
    return 0


def cmd_demo_load(args: argparse.Namespace) -> int:
    from .services.demo import load_demo

    summary = load_demo(_db(args))
    print(summary)
    return 0


# -- parser -----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clinic", description="Clinic Reception from the command line.")
    p.add_argument("--database", metavar="CONNINFO",
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
    ua.add_argument("--password-stdin", action="store_true", help="read the password from the first stdin line")
    ua.set_defaults(func=cmd_user_add)

    pat = sub.add_parser("patient", help="patients").add_subparsers(dest="sub", required=True, metavar="ACTION")
    pa = pat.add_parser("add", help="register a patient")
    pa.add_argument("--name", required=True)
    pa.add_argument("--birth-date", required=True, metavar="YYYY-MM-DD")
    pa.add_argument("--phone", metavar="E164")
    pa.add_argument("--email")
    pa.add_argument("--channels", metavar="LIST", help="consented channels, e.g. sms,email")
    pa.add_argument("--json", action="store_true")
    pa.set_defaults(func=cmd_patient_add)
    pf = pat.add_parser("find", help="search by name, phone or date of birth")
    pf.add_argument("text")
    pf.add_argument("--limit", type=int, default=20)
    pf.add_argument("--json", action="store_true")
    pf.set_defaults(func=cmd_patient_find)

    sl = sub.add_parser("slots", help="free starts of a service on a day")
    sl.add_argument("--branch", required=True)
    sl.add_argument("--service", required=True)
    sl.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="branch-local date")
    sl.add_argument("--days", type=int, default=1, help="search this many days from --date")
    sl.add_argument("--doctor")
    sl.add_argument("--room")
    sl.add_argument("--equipment")
    sl.add_argument("--json", action="store_true")
    sl.set_defaults(func=cmd_slots)

    bk = sub.add_parser("book", help="book an appointment")
    bk.add_argument("--branch", required=True)
    bk.add_argument("--service", required=True)
    bk.add_argument("--start", required=True, metavar="ISO-8601", help="with offset, e.g. 2027-01-04T08:00:00-03:00")
    bk.add_argument("--patient", required=True, type=int, metavar="ID")
    bk.add_argument("--doctor")
    bk.add_argument("--room")
    bk.add_argument("--equipment")
    bk.add_argument("--source", default="phone", choices=["phone", "walk_in", "online"])
    bk.add_argument("--client-id", metavar="UUID", help="idempotency key: retrying with it never books twice")
    bk.add_argument("--reason", help="recorded in the audit trail")
    bk.add_argument("--hold", action="store_true",
                    help="hold the slot for a few minutes instead of booking it (confirm it with `clinic confirm`)")
    bk.add_argument("--json", action="store_true")
    bk.set_defaults(func=cmd_book)

    cf = sub.add_parser("confirm", help="confirm a hold, or approve a requested booking")
    cf.add_argument("id", type=int)
    cf.add_argument("--reason", help="recorded in the audit trail")
    cf.add_argument("--json", action="store_true")
    cf.set_defaults(func=cmd_confirm)

    rs = sub.add_parser("reschedule", help="rebook an appointment at another start (the old one is linked to it)")
    rs.add_argument("id", type=int)
    rs.add_argument("--start", required=True, metavar="ISO-8601", help="with offset")
    rs.add_argument("--doctor")
    rs.add_argument("--room")
    rs.add_argument("--equipment")
    rs.add_argument("--client-id", metavar="UUID", help="idempotency key: retrying with it never rebooks twice")
    rs.add_argument("--reason", help="recorded in the audit trail")
    rs.add_argument("--json", action="store_true")
    rs.set_defaults(func=cmd_reschedule)

    py = sub.add_parser("pay", help="record a payment (or a refund) taken at the desk")
    py.add_argument("id", type=int, help="the appointment")
    py.add_argument("--amount", required=True, help='e.g. "20.00"')
    py.add_argument("--method", required=True, choices=["cash", "card_terminal", "other"])
    py.add_argument("--purpose", default="deposit", choices=["deposit", "fee", "late_cancel_fee", "other"])
    py.add_argument("--reference", help="the terminal's slip number or a note (never a card number)")
    py.add_argument("--refund", action="store_true", help="a refund instead of a payment")
    py.add_argument("--client-id", metavar="UUID", help="idempotency key: retrying with it records once")
    py.add_argument("--reason", help="recorded in the audit trail")
    py.add_argument("--json", action="store_true")
    py.set_defaults(func=cmd_pay)

    wl = sub.add_parser("waitlist", help="the waitlist").add_subparsers(dest="sub", required=True, metavar="ACTION")
    wp = wl.add_parser("process", help="offer freed slots to the first fitting entries now")
    wp.add_argument("--json", action="store_true")
    wp.set_defaults(func=cmd_waitlist_process)

    mv = sub.add_parser("move", help="move an appointment to another time and/or resources")
    mv.add_argument("id", type=int)
    mv.add_argument("--start", metavar="ISO-8601", help="new start with offset (default: keep the time)")
    mv.add_argument("--doctor")
    mv.add_argument("--room")
    mv.add_argument("--equipment")
    mv.add_argument("--reason", help="recorded in the audit trail")
    mv.add_argument("--json", action="store_true")
    mv.set_defaults(func=cmd_move)

    cn = sub.add_parser("cancel", help="cancel an appointment")
    cn.add_argument("id", type=int)
    cn.add_argument("--reason", required=True)
    cn.add_argument("--by", choices=["clinic", "patient"], default="clinic",
                    help="who cancels: early or late is judged by the policy for the patient")
    cn.add_argument("--json", action="store_true")
    cn.set_defaults(func=cmd_cancel)

    ap = sub.add_parser("appointments", help="a branch's appointments on a day")
    ap.add_argument("--branch", required=True)
    ap.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    ap.add_argument("--json", action="store_true")
    ap.set_defaults(func=cmd_appointments)

    imp = sub.add_parser("import", help="import data").add_subparsers(dest="sub", required=True, metavar="FORMAT")
    im = imp.add_parser("noshow-csv", help="the public 'Medical Appointment No Shows' CSV")
    im.add_argument("file")
    im.add_argument("--timezone", default="America/Sao_Paulo")
    im.add_argument("--json", action="store_true")
    im.set_defaults(func=cmd_import_noshow)

    rep = sub.add_parser("report", help="manager reports").add_subparsers(dest="sub", required=True, metavar="NAME")
    from .services.report_queries import REPORTS

    for name in REPORTS:
        rn = rep.add_parser(name, help=f"the {name} report (--format pdf|csv|json -o FILE)")
        rn.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", required=name != "no-show",
                        help="first local date (inclusive)")
        rn.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", required=name != "no-show",
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

    demo = sub.add_parser("demo", help="the demo clinic").add_subparsers(dest="sub", required=True, metavar="ACTION")
    demo.add_parser("load", help="apply the demo clinic and book upcoming appointments").set_defaults(
        func=cmd_demo_load)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``clinic`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging()
    tune_gc()
    try:
        return int(args.func(args) or 0)
    except ClinicError as exc:
        log.info("%s: %s", type(exc).__name__, exc)
        print(f"clinic: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception:
        log.exception("internal error in `clinic %s`", " ".join(sys.argv[1:]))
        print(f"clinic: internal error; details are in {log_file()}", file=sys.stderr)
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
