"""Indexes on the columns that reference an appointment and had none.

Found by the booking benchmark, whose set-up deletes one branch's appointments:
every deleted row made PostgreSQL scan the whole appointment table for
``appointment.rescheduled_to`` (its foreign key back to appointment) — 100 s for
a few thousand rows among a million. The same index serves "which appointment
was rescheduled into this one" (payments follow a reschedule, the cancellation
report's rescheduled-versus-lost). ``override_log.appointment_id`` (ON DELETE
SET NULL) and ``visit``/``series`` links get theirs too.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE_SQL = """
CREATE INDEX IF NOT EXISTS appointment_rescheduled_to ON appointment (rescheduled_to) WHERE rescheduled_to IS NOT NULL;
CREATE INDEX IF NOT EXISTS appointment_series ON appointment (series_id) WHERE series_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS override_log_appointment ON override_log (appointment_id) WHERE appointment_id IS NOT NULL;
"""

DOWNGRADE_SQL = """
DROP INDEX IF EXISTS appointment_rescheduled_to;
DROP INDEX IF EXISTS appointment_series;
DROP INDEX IF EXISTS override_log_appointment;
"""


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)
