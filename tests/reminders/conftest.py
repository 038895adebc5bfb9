"""Helpers for the reminder tests: patients and appointments written with plain SQL (as any
writer could), so the database's own planning is what is tested."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from reception_app.reminders.channels.gateway import GatewaySettings
from reception_app.reminders.channels.smtp import SmtpSettings
from reception_app.reminders.config import ReminderSettings
from reception_app.store.database import Database

from .servers import GatewayServer, SmtpServer


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


@pytest.fixture
def add_appointment(clinic_db: Database) -> Callable[..., int]:
    def make(patient_id: int, start: datetime, *, branch: str = "Centro", service: str = "Consultation",
             status: str = "confirmed", source: str = "phone", minutes: int = 15) -> int:
        return sql(clinic_db,
                   "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source) "
                   "SELECT :p, s.id, b.id, :st, :t, :t + make_interval(mins => :m), :src "
                   "FROM service s, branch b WHERE s.name = :s AND b.name = :b RETURNING id",
                   {"p": patient_id, "st": status, "t": start, "m": minutes, "src": source, "s": service,
                    "b": branch})[0][0]
    return make


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
    """One appointment of a patient who consented to all three channels; the branch has a phone."""
    sql(clinic_db, "UPDATE branch SET phone = '+55 27 3333-0000' WHERE name = 'Centro'")
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
