"""Helpers for the reminder tests: patients and appointments written with plain SQL (as any
writer could), so the database's own planning is what is tested."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql as psql
from psycopg.conninfo import make_conninfo
from sqlalchemy import text

from reception_app.channels.gateway import GatewaySettings
from reception_app.channels.settings import ReminderSettings
from reception_app.channels.smtp import SmtpSettings
from reception_app.store.database import Database

from .servers import GatewayServer, SmtpServer

#: The grants this package needs for clinic_reminders, as handed to migration 0009 (applied by
#: ``reminders_login`` only to a database that does not have them yet).
GRANTS_FILE = Path(__file__).with_name("reminders_grants.sql")


def sql(db: Database, statement: str, params: dict | None = None) -> list:
    """Run one statement in a write transaction; return its rows (empty for no result)."""

    def work(conn):
        result = conn.execute(text(statement), params or {})
        return list(result) if result.returns_rows else []

    return db.write(work, reason="test")


@pytest.fixture
def add_patient(clinic_db: Database) -> Callable[..., int]:
    def make(name: str = "Maria Silva", *, channels: tuple[str, ...] = ("email", "sms"),
             phone: str | None = "+5527999990000", email: str | None = "maria@example.com",
             language: str | None = None) -> int:
        return sql(clinic_db, "INSERT INTO patient (display_name, phone, email, consent_channels, language) "
                   "VALUES (:n, :p, :e, :c, :l) RETURNING id",
                   {"n": name, "p": phone, "e": email, "c": list(channels), "l": language})[0][0]
    return make


#: The service booked by default at each branch of tests/data/test_clinic.toml (the one it has the
#: doctor, room and equipment for).
BRANCH_SERVICE = {"Centro": "Abdominal ultrasound", "Berlin": "Consultation"}


def insert_appointment(db: Database, patient_id: int, start: datetime, *, branch: str = "Centro",
                       service: str | None = None, status: str = "confirmed", source: str = "phone",
                       minutes: int | None = None) -> int:
    """An appointment written with plain SQL (returns its id); a live one with a booking of the first
    resource of each kind its service needs (the appointment's time widened by the service's buffers),
    in one transaction as the database requires (migration 0009's commit check). ``service`` defaults
    to the branch's (``BRANCH_SERVICE``), ``minutes`` to the service's duration. The times need not be
    inside shifts or opening hours: written as the owner with ``clinic.override`` set."""

    def work(conn):
        conn.execute(text("SELECT set_config('clinic.override', 'reminder test fixture', true)"))
        appt = conn.execute(text(
            "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source) "
            "SELECT :p, s.id, b.id, :st, :t, :t + make_interval(mins => coalesce(:m, s.duration_min)), :src "
            "FROM service s, branch b WHERE s.name = :s AND b.name = :b RETURNING id"),
            {"p": patient_id, "st": status, "t": start, "m": minutes, "src": source,
             "s": service or BRANCH_SERVICE[branch], "b": branch}).scalar_one()
        conn.execute(text(
            "INSERT INTO booking (appointment_id, resource_id, period) "
            "SELECT DISTINCT ON (r.kind) a.id, r.id, tstzrange(a.starts_at - make_interval(mins => s.buffer_before_min), "
            "       a.ends_at + make_interval(mins => s.buffer_after_min)) "
            "  FROM appointment a JOIN service s ON s.id = a.service_id JOIN resource r "
            "    ON (r.kind = 'doctor' AND r.category = s.doctor_specialty) "
            "    OR (r.kind = 'room' AND r.category = s.room_kind AND r.branch_id = a.branch_id) "
            "    OR (r.kind = 'equipment' AND r.category = s.equipment_kind AND r.branch_id = a.branch_id) "
            " WHERE a.id = :a AND clinic_status_is_live(a.status) ORDER BY r.kind, r.id"), {"a": appt})
        return appt

    return db.write(work, reason="test")


def move_appointment(db: Database, appointment_id: int, start: datetime) -> None:
    """Move an appointment (and its bookings, by the same amount) to ``start`` with plain SQL, in one
    transaction as the owner with ``clinic.override`` set."""

    def work(conn):
        conn.execute(text("SELECT set_config('clinic.override', 'reminder test fixture', true)"))
        old = conn.execute(text("SELECT starts_at FROM appointment WHERE id = :a"), {"a": appointment_id}).scalar_one()
        conn.execute(text("UPDATE appointment SET starts_at = :s, ends_at = ends_at + (:s - starts_at) WHERE id = :a"),
                     {"a": appointment_id, "s": start})
        conn.execute(text("UPDATE booking SET period = tstzrange(lower(period) + (:s - :o), upper(period) + (:s - :o)) "
                          "WHERE appointment_id = :a"), {"a": appointment_id, "s": start, "o": old})

    db.write(work, reason="test")


@pytest.fixture
def add_appointment(clinic_db: Database) -> Callable[..., int]:
    """``add_appointment(patient_id, start, **options)`` -> id: :func:`insert_appointment` on the test's
    clinic database."""
    return partial(insert_appointment, clinic_db)


def reminders(db: Database, appointment_id: int, *, status: str | None = "pending") -> list[tuple]:
    """(purpose, channel, due_at UTC, status) of an appointment's reminders, by due time."""
    rows = sql(db, "SELECT purpose, channel, due_at, status FROM reminder WHERE appointment_id = :a "
               "AND (CAST(:s AS text) IS NULL OR status = :s) ORDER BY due_at, purpose, channel",
               {"a": appointment_id, "s": status})
    return [tuple(r) for r in rows]


def settings_for(tmp_path, smtp: SmtpServer | None = None, gateway: GatewayServer | None = None,
                 **overrides) -> ReminderSettings:
    s = ReminderSettings(outbox_dir=tmp_path / "outbox", backoff_seconds=0, poll_seconds=0.2, sweep_seconds=0.5,
                         lease_seconds=30)
    if smtp is not None:
        s.smtp = SmtpSettings(host="127.0.0.1", port=smtp.port, security="none", sender="clinic@example.com",
                              sender_name="Clinic Centro")
        s.transports["email"] = "smtp"
    if gateway is not None:
        s.gateway = GatewaySettings(account_sid=gateway.state.sid, auth_token=gateway.state.token,
                                    sms_from="+15550001111", whatsapp_from="+15550002222", base_url=gateway.base_url)
        s.transports["sms"] = s.transports["whatsapp"] = "gateway"
    for key, value in overrides.items():
        setattr(s, key, value)
    return s


def due_now(db: Database) -> None:
    """Make every pending reminder due now (planned ones are due in 2027)."""
    sql(db, "UPDATE reminder SET due_at = now() - interval '1 second' WHERE status = 'pending'")


def statuses(db: Database) -> dict[str, int]:
    return dict(sql(db, "SELECT status, count(*) FROM reminder GROUP BY status"))


@pytest.fixture
def booked(clinic_db, add_patient, add_appointment):
    """One appointment of a patient who consented to all three channels; the branch has a phone.
    Centro's quiet hours are switched off (equal bounds), so what these tests send on the real clock
    does not depend on the time of day they run at; test_quiet_hours.py sets them and the clock."""
    sql(clinic_db, "UPDATE branch SET phone = '+55 27 3333-0000', quiet_from_min = 0, quiet_until_min = 0 "
                   "WHERE name = 'Centro'")
    pid = add_patient("Maria Silva", channels=("email", "sms", "whatsapp"), language="pt")
    appt = add_appointment(pid, datetime(2027, 6, 1, 10, 0, tzinfo=ZoneInfo("America/Sao_Paulo")))
    sql(clinic_db, "DELETE FROM reminder WHERE purpose <> 'confirmation'")
    due_now(clinic_db)
    return appt


def add_due(db: Database, appointment_id: int, n: int) -> None:
    sql(db, "INSERT INTO reminder (appointment_id, channel, purpose, due_at) "
            "SELECT :a, 'email', 'reminder', now() - interval '1 second' FROM generate_series(1, :n)",
        {"a": appointment_id, "n": n})


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def config_file(tmp_path: Path, smtp_port: int, *, lease: float = 30, poll: float = 0.2,
                gateway: GatewayServer | None = None, sid: str = "AC123") -> Path:
    """A ``reminders.toml`` for a ``clinic-reminders`` process: e-mail to the local SMTP server on
    ``smtp_port``, SMS through ``gateway`` when given (else off), ``lease`` and ``poll`` in seconds."""
    text = f"""
[reminders]
email = "smtp"
sms = "{'gateway' if gateway else 'off'}"
whatsapp = "off"
outbox_dir = "{tmp_path / 'outbox'}"
batch_size = 5
lease_seconds = {lease}
poll_seconds = {poll}
backoff_seconds = 0

[reminders.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "clinic@example.com"
"""
    if gateway:
        text += f'\n[reminders.gateway]\nbase_url = "{gateway.base_url}"\naccount_sid = "{sid}"\nsms_from = "+15550001111"\n'
    path = tmp_path / "reminders.toml"
    path.write_text(text)
    return path


@pytest.fixture
def reminders_login(clinic_db: Database, db_url: str) -> Iterator[tuple[str, str]]:
    """(name, libpq string) of a new login in ``clinic_reminders`` — the service's own least-privileged
    role. The group and its grants come from the migrations (0009); on a database without them yet,
    from ``reminders_grants.sql`` (this package's list of what the service needs). Dropped after."""
    name = f"t_reminders_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        granted = conn.execute(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clinic_reminders') "
            "THEN has_column_privilege('clinic_reminders', 'reminder', 'status', 'UPDATE') ELSE false END"
        ).fetchone()[0]
        if not granted:
            conn.execute(GRANTS_FILE.read_text())
        conn.execute(psql.SQL("CREATE ROLE {} LOGIN IN ROLE clinic_reminders").format(psql.Identifier(name)))
    yield name, make_conninfo(db_url, user=name)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
        conn.execute(psql.SQL("DROP OWNED BY {}").format(psql.Identifier(name)))
        conn.execute(psql.SQL("DROP ROLE {}").format(psql.Identifier(name)))
