"""SQLAlchemy 2 Core tables mirroring the Alembic migrations in ``db/``.

The migrations are the source of truth (constraints, triggers, grants live
there); these ``Table`` objects only give queries typed columns.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE

metadata = MetaData()
TZ = DateTime(timezone=True)

branch = Table(
    "branch", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("timezone", Text, nullable=False),
    Column("created_at", TZ),
)

opening_hours = Table(
    "opening_hours", metadata,
    Column("id", Integer, primary_key=True),
    Column("branch_id", ForeignKey("branch.id"), nullable=False),
    Column("weekday", SmallInteger, nullable=False),
    Column("start_min", SmallInteger, nullable=False),
    Column("end_min", SmallInteger, nullable=False),
)

resource = Table(
    "resource", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False, unique=True),
    Column("category", Text, nullable=False),
    Column("branch_id", ForeignKey("branch.id")),
    Column("login_role", Text),
    Column("active", Boolean, nullable=False),
)

shift = Table(
    "shift", metadata,
    Column("id", Integer, primary_key=True),
    Column("resource_id", ForeignKey("resource.id"), nullable=False),
    Column("branch_id", ForeignKey("branch.id"), nullable=False),
    Column("weekday", SmallInteger, nullable=False),
    Column("start_min", SmallInteger, nullable=False),
    Column("end_min", SmallInteger, nullable=False),
    Column("valid_from", Date),
    Column("valid_until", Date),
)

time_off = Table(
    "time_off", metadata,
    Column("id", Integer, primary_key=True),
    Column("resource_id", ForeignKey("resource.id"), nullable=False),
    Column("period", TSTZRANGE, nullable=False),
    Column("reason", Text, nullable=False),
)

holiday = Table(
    "holiday", metadata,
    Column("id", Integer, primary_key=True),
    Column("branch_id", ForeignKey("branch.id"), nullable=False),
    Column("local_date", Date, nullable=False),
    Column("name", Text, nullable=False),
)

service = Table(
    "service", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("duration_min", Integer, nullable=False),
    Column("buffer_before_min", Integer, nullable=False),
    Column("buffer_after_min", Integer, nullable=False),
    Column("min_notice_min", Integer, nullable=False),
    Column("horizon_days", Integer, nullable=False),
    Column("doctor_specialty", Text),
    Column("room_kind", Text),
    Column("equipment_kind", Text),
    Column("active", Boolean, nullable=False),
)

patient = Table(
    "patient", metadata,
    Column("id", Integer, primary_key=True),
    Column("display_name", Text, nullable=False),
    Column("birth_date", Date),
    Column("phone", Text),
    Column("email", Text),
    Column("consent_channels", ARRAY(Text), nullable=False),
    Column("gender", Text),
    Column("source", Text, nullable=False),
    Column("source_ref", Text, unique=True),
    Column("attributes", JSONB, nullable=False),
    Column("created_at", TZ),
    Column("created_by", Text),
)

appointment = Table(
    "appointment", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("client_id", Uuid, nullable=False, unique=True),
    Column("patient_id", ForeignKey("patient.id"), nullable=False),
    Column("service_id", ForeignKey("service.id"), nullable=False),
    Column("branch_id", ForeignKey("branch.id"), nullable=False),
    Column("status", Text, nullable=False),
    Column("starts_at", TZ, nullable=False),
    Column("ends_at", TZ, nullable=False),
    Column("source", Text, nullable=False),
    Column("booked_at", TZ, nullable=False),
    Column("time_assigned_by_import", Boolean, nullable=False),
    Column("external_ref", Text, unique=True),
    Column("status_reason", Text),
    Column("patient_age_years", SmallInteger),
    Column("created_at", TZ),
    Column("created_by", Text),
    Column("updated_at", TZ),
    Column("checked_in_at", TZ),  # 0002: when it first became checked_in (set by a trigger)
)

booking = Table(
    "booking", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("appointment_id", ForeignKey("appointment.id"), nullable=False),
    Column("resource_id", ForeignKey("resource.id"), nullable=False),
    Column("period", TSTZRANGE, nullable=False),
    Column("live", Boolean, nullable=False),
)

reminder = Table(
    "reminder", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("appointment_id", ForeignKey("appointment.id"), nullable=False),
    Column("channel", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("due_at", TZ, nullable=False),
    Column("status", Text, nullable=False),
    Column("sent_at", TZ),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("idempotency_key", Text, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("at", TZ),
    Column("db_user", Text),
    Column("txid", BigInteger),
    Column("table_name", Text),
    Column("row_id", BigInteger),
    Column("action", Text),
    Column("old_row", JSONB),
    Column("new_row", JSONB),
    Column("reason", Text),
)
