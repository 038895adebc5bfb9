"""Booking report columns (issue 6): what the utilization report groups and measures by, kept on
the booking row by the database, so the report reads one covering index instead of joining a
million appointments to two and a half million bookings and converting every start to local time.

- ``booking.branch_id`` (``integer``): the appointment's branch (a doctor works at several).
- ``booking.local_day`` (``date``): the branch-local date of the booking's start.
- ``booking.start_min`` (``integer``): the local wall-clock minute of the start on that date
  (0..1439, seconds dropped).
- ``booking.end_min`` (``integer``): ``start_min`` plus the booking's length in whole minutes
  (rounded); past 1440 when it runs over midnight. On a daylight-saving change inside the
  booking, the end is the real length after the wall-clock start, not the wall-clock end.

Who keeps them right (every writer: the app, imports, raw SQL):

- ``booking_report_local`` (BEFORE INSERT, and BEFORE UPDATE OF period, appointment_id and the
  four columns themselves, row level): one primary-key lookup of the appointment's branch and
  zone, then arithmetic. Setting a column by hand is recomputed.
- ``appointment_report_branch`` (AFTER UPDATE OF branch_id on appointment): recomputes its
  bookings.
- ``branch_report_timezone`` (from 0005, replaced): a branch's new zone also recomputes its
  bookings.

All of them are ENABLE ALWAYS, as in 0005. ``booking_check`` now fires on UPDATE only when a
checked column changes (appointment_id, resource_id, period, live, hold_until), so recomputing the
derived columns never re-checks an old booking against time off added since. ``audit_rows`` skips
an UPDATE that changed derived columns only.

The backfill runs with the booking's ordinary triggers disabled (derived columns only), then
rewrites the table compact (``CLUSTER ... USING booking_pkey``).

Index ``booking_report`` on ``(local_day, resource_id, branch_id) INCLUDE (start_min, end_min)
WHERE live``: the utilization report is an index-only scan of the period in that order, and a
resource's day is one index range; ``booking_report_overnight`` holds the few bookings that run
past local midnight (their minutes after it count on the next date).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_AUDIT = r"""
CREATE OR REPLACE FUNCTION audit_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    why text := nullif(current_setting('clinic.reason', true), '');
    derived text[] := CASE TG_TABLE_NAME
                          WHEN 'appointment' THEN ARRAY['local_start', 'lead_days', 'doctor_id']
                          WHEN 'booking' THEN %(booking)s
                          ELSE '{}' END;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log (db_user, txid, table_name, row_id, action, old_row, new_row, reason)
        SELECT session_user, txid_current(), TG_TABLE_NAME, n.id, 'INSERT', NULL, to_jsonb(n), why
          FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO audit_log (db_user, txid, table_name, row_id, action, old_row, new_row, reason)
        SELECT session_user, txid_current(), TG_TABLE_NAME, n.id, 'UPDATE', to_jsonb(o), to_jsonb(n), why
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE to_jsonb(o) - derived IS DISTINCT FROM to_jsonb(n) - derived;
    ELSE
        INSERT INTO audit_log (db_user, txid, table_name, row_id, action, old_row, new_row, reason)
        SELECT session_user, txid_current(), TG_TABLE_NAME, o.id, 'DELETE', to_jsonb(o), NULL, why
          FROM old_rows o;
    END IF;
    RETURN NULL;
END $$;
"""

_BRANCH_TZ = r"""
CREATE OR REPLACE FUNCTION branch_report_timezone() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE appointment SET local_start = NULL WHERE branch_id = NEW.id;
    %(bookings)s
    RETURN NULL;
END $$;
"""

UPGRADE_SQL = r"""
ALTER TABLE booking
    ADD COLUMN branch_id integer,
    ADD COLUMN local_day date,
    ADD COLUMN start_min integer,
    ADD COLUMN end_min integer;

CREATE FUNCTION booking_report_local() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    bid integer;
    tz  text;
    ls  timestamp;
BEGIN
    SELECT a.branch_id, b.timezone INTO bid, tz
      FROM appointment a JOIN branch b ON b.id = a.branch_id WHERE a.id = NEW.appointment_id;
    ls := lower(NEW.period) AT TIME ZONE tz;
    NEW.branch_id := bid;
    NEW.local_day := ls::date;
    NEW.start_min := floor(extract(epoch FROM ls - ls::date) / 60)::integer;
    NEW.end_min := NEW.start_min + round(extract(epoch FROM upper(NEW.period) - lower(NEW.period)) / 60)::integer;
    RETURN NEW;
END $$;
CREATE TRIGGER booking_report_local
    BEFORE INSERT OR UPDATE OF period, appointment_id, branch_id, local_day, start_min, end_min ON booking
    FOR EACH ROW EXECUTE FUNCTION booking_report_local();
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_report_local;

CREATE FUNCTION appointment_report_branch() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE booking SET branch_id = NULL WHERE appointment_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER appointment_report_branch AFTER UPDATE OF branch_id ON appointment FOR EACH ROW
    WHEN (OLD.branch_id IS DISTINCT FROM NEW.branch_id) EXECUTE FUNCTION appointment_report_branch();
ALTER TABLE appointment ENABLE ALWAYS TRIGGER appointment_report_branch;

DROP TRIGGER booking_check ON booking;
CREATE TRIGGER booking_check
    BEFORE INSERT OR UPDATE OF appointment_id, resource_id, period, live, hold_until ON booking
    FOR EACH ROW EXECUTE FUNCTION booking_check();

-- Backfill (derived columns only: the audit, notify, check and doctor triggers stay quiet).
DO $$
DECLARE
    t text;
    names text[] := ARRAY(SELECT tgname FROM pg_trigger
                           WHERE tgrelid = 'booking'::regclass AND NOT tgisinternal AND tgenabled IN ('O', 'A'));
BEGIN
    FOREACH t IN ARRAY names LOOP
        EXECUTE format('ALTER TABLE booking DISABLE TRIGGER %I', t);
    END LOOP;
    UPDATE booking bk
       SET branch_id = x.branch_id, local_day = x.ls::date,
           start_min = floor(extract(epoch FROM x.ls - x.ls::date) / 60)::integer,
           end_min = floor(extract(epoch FROM x.ls - x.ls::date) / 60)::integer
                     + round(extract(epoch FROM upper(bk.period) - lower(bk.period)) / 60)::integer
      FROM (SELECT b2.id, a.branch_id, lower(b2.period) AT TIME ZONE br.timezone AS ls
              FROM booking b2 JOIN appointment a ON a.id = b2.appointment_id
              JOIN branch br ON br.id = a.branch_id) x
     WHERE x.id = bk.id;
    FOREACH t IN ARRAY names LOOP
        EXECUTE format('ALTER TABLE booking ENABLE TRIGGER %I', t);
    END LOOP;
END $$;
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_report_doctor_ins;
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_report_doctor_upd;
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_report_doctor_del;
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_report_local;
CLUSTER booking USING booking_pkey;

CREATE INDEX booking_report ON booking (local_day, resource_id, branch_id) INCLUDE (start_min, end_min) WHERE live;
CREATE INDEX booking_report_overnight ON booking (local_day, resource_id, branch_id) INCLUDE (end_min)
    WHERE live AND end_min > 1440;

-- The quarter-hours [lo, hi) of a local day as bits of one of three 48-bit words (word 0: quarters
-- 0..47 = 00:00-12:00, word 1: 12:00-24:00, word 2: the next day's 00:00-12:00), for the utilization
-- report's idle gaps (``services/report_queries.py``). Inlined by the planner.
CREATE FUNCTION clinic_quarters(lo integer, hi integer, word integer) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (1::bigint << greatest(least(greatest(hi - 48 * word, 0), 48), least(greatest(lo - 48 * word, 0), 48)))
     - (1::bigint << least(greatest(lo - 48 * word, 0), 48));
""" + _AUDIT % {"booking": "ARRAY['branch_id', 'local_day', 'start_min', 'end_min']"} + _BRANCH_TZ % {
    "bookings": "UPDATE booking SET local_day = NULL WHERE appointment_id IN "
                "(SELECT id FROM appointment WHERE branch_id = NEW.id);"}

DOWNGRADE_SQL = r"""
DROP FUNCTION clinic_quarters(integer, integer, integer);
DROP INDEX booking_report_overnight;
DROP INDEX booking_report;
DROP TRIGGER booking_check ON booking;
CREATE TRIGGER booking_check BEFORE INSERT OR UPDATE ON booking FOR EACH ROW EXECUTE FUNCTION booking_check();
DROP TRIGGER appointment_report_branch ON appointment;
DROP FUNCTION appointment_report_branch();
DROP TRIGGER booking_report_local ON booking;
DROP FUNCTION booking_report_local();
ALTER TABLE booking DROP COLUMN branch_id, DROP COLUMN local_day, DROP COLUMN start_min, DROP COLUMN end_min;
""" + _AUDIT % {"booking": "'{}'"} + _BRANCH_TZ % {"bookings": ""}


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)
