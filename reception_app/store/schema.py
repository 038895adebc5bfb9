"""SQLAlchemy 2 Core tables for the few statements services build from ``Table`` objects.

Only ``patient`` and ``appointment`` are here: ``services/patients.py``, ``services/demo.py``,
``services/booking.py`` and ``services/scheduling.py`` insert and select through them (``schema as
t``); every other query is a ``text()`` statement (see the package's docstring). The migrations in
``db/versions/`` and the rules in ``db/sql/`` are the source of truth (constraints, triggers,
grants); these objects only give those statements typed columns, and name no foreign keys (the
database has them). A new ``Table`` belongs here only when a statement uses it.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
TZ = DateTime(timezone=True)

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
    Column("language", Text),  # 0004: message language (NULL: the branch's)
    Column("client_id", Uuid, unique=True),  # 0009: the adding client's id (a retry adds once)
)

appointment = Table(
    "appointment", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("client_id", Uuid, nullable=False, unique=True),
    Column("patient_id", Integer, nullable=False),  # -> patient.id
    Column("service_id", Integer, nullable=False),  # -> service.id
    Column("branch_id", Integer, nullable=False),  # -> branch.id
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
    # 0003: the lifecycle (stamps set by the trigger appointment_lifecycle)
    Column("hold_expires_at", TZ),
    Column("confirmed_at", TZ),
    Column("cancelled_at", TZ),
    Column("cancelled_by", Text),
    Column("cancelled_late", Boolean),
    Column("rescheduled_to", BigInteger),
    Column("policy_free_hours", Integer),
    Column("policy_late_fee_cents", Integer),
    Column("deposit_cents", Integer),
    Column("visit_id", BigInteger),
    Column("series_id", BigInteger),
    Column("series_date", Date),
    # 0005: report columns kept by triggers (branch-local start without zone, local lead days,
    # the doctor resource of its bookings)
    Column("local_start", DateTime(timezone=False)),
    Column("lead_days", Integer),
    Column("doctor_id", Integer),
)
