"""Check-in time: ``appointment.checked_in_at``, set by the database when the status becomes checked_in.

The doctor's "my day" shows how long each arrived patient has been waiting;
that needs the instant of arrival, and the audit trail is not readable by
doctors. So the time lives on the appointment:

- ``checked_in_at timestamptz NULL``: when the appointment first became
  ``checked_in`` (on insert or by an update); never cleared afterwards (a later
  UPDATE that sets it to NULL keeps the old value), so a completed or cancelled
  appointment still tells when the patient arrived;
- trigger ``appointment_checked_in_at`` (BEFORE INSERT OR UPDATE): on the change
  to ``checked_in`` it stamps ``now()`` (the transaction's start, server clock)
  unless the statement set the column itself (reception's walk-in passes the
  desk's clock); doctors may change only the status columns, so their
  check-ins always take the server's time;
- earlier check-ins are filled from the audit trail once, here.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE_SQL = r"""
ALTER TABLE appointment ADD COLUMN checked_in_at timestamptz;

CREATE FUNCTION appointment_stamp_check_in() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status = 'checked_in' AND NEW.checked_in_at IS NULL THEN
            NEW.checked_in_at := now();
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.checked_in_at IS NULL THEN
        NEW.checked_in_at := OLD.checked_in_at;            -- kept, never cleared
    END IF;
    IF NEW.status = 'checked_in' AND OLD.status IS DISTINCT FROM 'checked_in'
       AND NEW.checked_in_at IS NOT DISTINCT FROM OLD.checked_in_at THEN
        NEW.checked_in_at := now();                         -- the statement did not set it
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER appointment_checked_in_at BEFORE INSERT OR UPDATE OF status, checked_in_at ON appointment
    FOR EACH ROW EXECUTE FUNCTION appointment_stamp_check_in();

-- Appointments checked in before this migration: the audit trail knows when.
UPDATE appointment a SET checked_in_at = l.at
  FROM (SELECT row_id, min(at) AS at FROM audit_log
         WHERE table_name = 'appointment' AND new_row->>'status' = 'checked_in'
           AND (old_row IS NULL OR old_row->>'status' IS DISTINCT FROM 'checked_in')
         GROUP BY row_id) l
 WHERE l.row_id = a.id AND a.checked_in_at IS NULL;
"""

DOWNGRADE_SQL = r"""
DROP TRIGGER IF EXISTS appointment_checked_in_at ON appointment;
DROP FUNCTION IF EXISTS appointment_stamp_check_in();
ALTER TABLE appointment DROP COLUMN IF EXISTS checked_in_at;
"""


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)
