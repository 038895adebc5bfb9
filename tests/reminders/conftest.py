"""Helpers for the reminder tests: patients and appointments written with plain SQL (as any
writer could), so the database's own planning is what is tested."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import text

from reception_app.store.database import Database


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
