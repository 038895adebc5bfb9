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
    Time,
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
    # 0004: reminders (the clinic's phone for changes, message language, quiet hours in local minutes)
    Column("phone", Text),
    Column("language", Text, nullable=False),
    Column("quiet_from_min", SmallInteger, nullable=False),
    Column("quiet_until_min", SmallInteger, nullable=False),
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
    Column("kind", Text, nullable=False),  # 0003: leave | block | emergency | training | other
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
    Column("confirmation_mode", Text, nullable=False),  # 0003: immediate | approval | hybrid
    Column("deposit_cents", Integer, nullable=False),
    Column("cancel_free_hours", Integer, nullable=False),
    Column("late_cancel_fee_cents", Integer, nullable=False),
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
    Column("language", Text),  # 0004: message language (NULL: the branch's)
    Column("client_id", Uuid, unique=True),  # 0009: the adding client's id (a retry adds once)
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

booking = Table(
    "booking", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("appointment_id", ForeignKey("appointment.id"), nullable=False),
    Column("resource_id", ForeignKey("resource.id"), nullable=False),
    Column("period", TSTZRANGE, nullable=False),
    Column("live", Boolean, nullable=False),
    Column("hold_until", TZ),  # 0003: the held appointment's expiry (set by booking_check)
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
    Column("created_at", TZ),
    # 0004: the queue (lease, backoff) and the message as sent; ready_at is generated
    Column("planned_at", TZ),
    Column("rule_id", Integer),
    Column("next_attempt_at", TZ),
    Column("lease_until", TZ),
    Column("claimed_by", Text),
    Column("language", Text),
    Column("template", Text),
    Column("recipient", Text),
    Column("provider_ref", Text),
    Column("failed_at", TZ),
    Column("handled_at", TZ),
    Column("handled_by", Text),
    Column("ready_at", TZ),
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


# -- 0003: the lifecycle ---------------------------------------------------------------
clinic_setting = Table(
    "clinic_setting", metadata,
    Column("key", Text, primary_key=True),
    Column("value", JSONB, nullable=False),
)

visit = Table(
    "visit", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("client_id", Uuid, nullable=False, unique=True),
    Column("patient_id", ForeignKey("patient.id"), nullable=False),
    Column("branch_id", ForeignKey("branch.id"), nullable=False),
    Column("status", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", TZ),
    Column("created_by", Text),
)

series = Table(
    "series", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("client_id", Uuid, nullable=False, unique=True),
    Column("patient_id", ForeignKey("patient.id"), nullable=False),
    Column("service_id", ForeignKey("service.id"), nullable=False),
    Column("branch_id", ForeignKey("branch.id"), nullable=False),
    Column("rrule", Text, nullable=False),
    Column("first_date", Date, nullable=False),
    Column("local_start", Time, nullable=False),
    Column("doctor_id", ForeignKey("resource.id")),
    Column("status", Text, nullable=False),
    Column("created_at", TZ),
    Column("created_by", Text),
)

payment = Table(
    "payment", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("client_id", Uuid, nullable=False, unique=True),
    Column("appointment_id", ForeignKey("appointment.id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reference", Text, nullable=False),
    Column("taken_at", TZ),
    Column("taken_by", Text),
)

waitlist_entry = Table(
    "waitlist_entry", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("client_id", Uuid, nullable=False, unique=True),
    Column("patient_id", ForeignKey("patient.id"), nullable=False),
    Column("service_id", ForeignKey("service.id"), nullable=False),
    Column("branch_id", ForeignKey("branch.id"), nullable=False),
    Column("doctor_id", ForeignKey("resource.id")),
    Column("first_date", Date, nullable=False),
    Column("last_date", Date, nullable=False),
    Column("earliest_min", SmallInteger, nullable=False),
    Column("latest_min", SmallInteger, nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", TZ),
    Column("created_by", Text),
)

freed_slot = Table(
    "freed_slot", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("appointment_id", ForeignKey("appointment.id"), nullable=False, unique=True),
    Column("branch_id", ForeignKey("branch.id"), nullable=False),
    Column("service_id", ForeignKey("service.id"), nullable=False),
    Column("starts_at", TZ, nullable=False),
    Column("ends_at", TZ, nullable=False),
    Column("resource_ids", ARRAY(Integer), nullable=False),
    Column("freed_at", TZ),
    Column("state", Text, nullable=False),
    Column("decided_at", TZ),
)

waitlist_offer = Table(
    "waitlist_offer", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("freed_slot_id", ForeignKey("freed_slot.id"), nullable=False),
    Column("entry_id", ForeignKey("waitlist_entry.id"), nullable=False),
    Column("appointment_id", ForeignKey("appointment.id"), nullable=False, unique=True),
    Column("expires_at", TZ, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", TZ),
    Column("decided_at", TZ),
)

shift_exception = Table(
    "shift_exception", metadata,
    Column("id", Integer, primary_key=True),
    Column("resource_id", ForeignKey("resource.id"), nullable=False),
    Column("branch_id", ForeignKey("branch.id"), nullable=False),
    Column("local_date", Date, nullable=False),
    Column("start_min", SmallInteger),
    Column("end_min", SmallInteger),
    Column("note", Text, nullable=False),
)

override_log = Table(
    "override_log", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("at", TZ),
    Column("db_user", Text),
    Column("kind", Text, nullable=False),
    Column("appointment_id", ForeignKey("appointment.id")),
    Column("reason", Text, nullable=False),
    Column("detail", JSONB, nullable=False),
)

# 0004: reminder rules per branch/service (NULL: any) and the consent history
reminder_rule = Table(
    "reminder_rule", metadata,
    Column("id", Integer, primary_key=True),
    Column("branch_id", ForeignKey("branch.id")),
    Column("service_id", ForeignKey("service.id")),
    Column("purpose", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("days", SmallInteger, nullable=False),
    Column("at_local", Time),
    Column("minutes", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
)

consent_event = Table(
    "consent_event", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("patient_id", ForeignKey("patient.id"), nullable=False),
    Column("channel", Text, nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("at", TZ, nullable=False),
    Column("db_user", Text, nullable=False),
    Column("reason", Text),
)
