"""Report columns (issue 6): what the manager reports group by, kept on the appointment row by
the database, so a report is one pass over one covering index instead of joins and per-row
time-zone arithmetic over a million appointments.

- ``appointment.local_start`` (``timestamp``, no zone): ``starts_at`` as the branch's local
  wall-clock time (``starts_at AT TIME ZONE branch.timezone``). Its date is the local date
  every report counts on; its hour the local hour.
- ``appointment.lead_days`` (``integer``): whole local calendar days from the local date of
  ``booked_at`` to the local date of the start (negative when booked after the day).
- ``appointment.doctor_id`` (``integer``, a ``resource`` id, no foreign key: derived data):
  the doctor the appointment is booked with — the lowest resource id among its bookings
  (live or not) of resources of kind ``doctor``; NULL when it has none.

Who keeps them right (every writer: the app, imports, raw SQL):

- ``appointment_report_local`` (BEFORE INSERT, and BEFORE UPDATE OF starts_at, booked_at,
  branch_id, local_start, lead_days; row level): arithmetic plus one primary-key lookup of
  the branch's zone. Setting ``local_start``/``lead_days`` by hand is recomputed.
- ``booking_report_doctor_*`` (AFTER INSERT/UPDATE/DELETE on ``booking``, statement level
  with transition tables, so a COPY of 100k bookings costs one UPDATE): an insert can only
  lower the doctor (min over the new rows' doctors); an update or delete recomputes the
  doctor of the touched appointments from their bookings (``scheduling.move`` deletes and
  re-inserts them).
- ``branch_report_timezone`` (AFTER UPDATE OF timezone on ``branch``): recomputes the local
  columns of the branch's appointments.
- ``resource_report_kind`` (AFTER UPDATE OF kind on ``resource``): recomputes the doctor of
  the resource's appointments.

All of them are ENABLE ALWAYS: bulk loads that run with ``session_replication_role =
replica`` (the benchmark dataset) still fill the columns.

The backfill of existing rows runs with the appointment's ordinary triggers (audit, live
refresh, reminders) disabled: it changes derived columns only. The table is then rewritten
compact (``CLUSTER ... USING appointment_pkey``: the update left a dead copy of every row,
which would double every later sequential scan until a VACUUM FULL).

Indexes: ``appointment_report`` on ``(local_start) INCLUDE (...)``, the columns the reports
read, so a report is an index-only scan of the period.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE_SQL = r"""
ALTER TABLE appointment
    ADD COLUMN local_start timestamp,
    ADD COLUMN lead_days integer,
    ADD COLUMN doctor_id integer;

-- Backfill (derived columns only: the audit, notify and reminder triggers stay quiet).
DO $$
DECLARE
    t text;
    names text[] := ARRAY(SELECT tgname FROM pg_trigger
                           WHERE tgrelid = 'appointment'::regclass AND NOT tgisinternal AND tgenabled = 'O');
BEGIN
    FOREACH t IN ARRAY names LOOP
        EXECUTE format('ALTER TABLE appointment DISABLE TRIGGER %I', t);
    END LOOP;
    UPDATE appointment a
       SET local_start = x.local_start,
           lead_days = x.local_start::date - (a.booked_at AT TIME ZONE x.tz)::date,
           doctor_id = x.doctor_id
      FROM (SELECT a2.id, b.timezone AS tz, a2.starts_at AT TIME ZONE b.timezone AS local_start, d.doctor_id
              FROM appointment a2
              JOIN branch b ON b.id = a2.branch_id
              LEFT JOIN (SELECT bk.appointment_id, min(bk.resource_id) AS doctor_id
                           FROM booking bk JOIN resource r ON r.id = bk.resource_id AND r.kind = 'doctor'
                          GROUP BY bk.appointment_id) d ON d.appointment_id = a2.id) x
     WHERE x.id = a.id;
    FOREACH t IN ARRAY names LOOP
        EXECUTE format('ALTER TABLE appointment ENABLE TRIGGER %I', t);
    END LOOP;
END $$;
-- The backfill left a dead copy of every row: rewrite the table compact (in pkey = insertion order).
CLUSTER appointment USING appointment_pkey;

-- Local start and lead time: one zone lookup per row, the rest arithmetic.
CREATE FUNCTION appointment_report_local() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    tz text;
BEGIN
    SELECT timezone INTO tz FROM branch WHERE id = NEW.branch_id;
    NEW.local_start := NEW.starts_at AT TIME ZONE tz;
    NEW.lead_days := NEW.local_start::date - (NEW.booked_at AT TIME ZONE tz)::date;
    RETURN NEW;
END $$;
CREATE TRIGGER appointment_report_local
    BEFORE INSERT OR UPDATE OF starts_at, booked_at, branch_id, local_start, lead_days ON appointment
    FOR EACH ROW EXECUTE FUNCTION appointment_report_local();
ALTER TABLE appointment ENABLE ALWAYS TRIGGER appointment_report_local;

-- doctor_id written by hand (not by the booking triggers below): recomputed from the bookings.
-- A new row has no bookings yet: a doctor given on insert (the bulk import gives it, so the
-- booking trigger below finds nothing to change) must be a doctor, and the bookings inserted
-- after it are checked against it (booking_report_doctor_ins).
CREATE FUNCTION appointment_report_doctor() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM resource WHERE id = NEW.doctor_id AND kind = 'doctor') THEN
            NEW.doctor_id := NULL;
        END IF;
        RETURN NEW;
    END IF;
    NEW.doctor_id := (SELECT min(bk.resource_id) FROM booking bk JOIN resource r ON r.id = bk.resource_id
                       AND r.kind = 'doctor' WHERE bk.appointment_id = NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER appointment_report_doctor_ins BEFORE INSERT ON appointment FOR EACH ROW
    WHEN (NEW.doctor_id IS NOT NULL) EXECUTE FUNCTION appointment_report_doctor();
CREATE TRIGGER appointment_report_doctor_upd BEFORE UPDATE OF doctor_id ON appointment FOR EACH ROW
    WHEN (pg_trigger_depth() = 0 AND NEW.doctor_id IS DISTINCT FROM OLD.doctor_id)
    EXECUTE FUNCTION appointment_report_doctor();
ALTER TABLE appointment ENABLE ALWAYS TRIGGER appointment_report_doctor_ins;
ALTER TABLE appointment ENABLE ALWAYS TRIGGER appointment_report_doctor_upd;

-- The doctor of each appointment whose bookings a statement touched.
CREATE FUNCTION booking_report_doctor_ins() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- An insert can only add doctors: the new minimum wins. A doctor given on insert that none of
    -- the appointment's bookings names (checked for the appointments inserted with this statement's
    -- bookings) is corrected from all its bookings.
    UPDATE appointment a SET doctor_id = n.doctor_id
      FROM (SELECT k.appointment_id, min(k.resource_id) AS doctor_id
              FROM new_rows k JOIN resource r ON r.id = k.resource_id AND r.kind = 'doctor'
             GROUP BY k.appointment_id) n
     WHERE a.id = n.appointment_id AND (a.doctor_id IS NULL OR a.doctor_id > n.doctor_id);
    PERFORM clinic_report_doctor_of(ARRAY(
        SELECT a.id FROM appointment a
         WHERE a.id IN (SELECT DISTINCT appointment_id FROM new_rows) AND a.doctor_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM booking bk WHERE bk.appointment_id = a.id
                                                       AND bk.resource_id = a.doctor_id)));
    RETURN NULL;
END $$;

CREATE FUNCTION clinic_report_doctor_of(ids bigint[]) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    UPDATE appointment a SET doctor_id = d.doctor_id
      FROM (SELECT i.id, (SELECT min(bk.resource_id) FROM booking bk
                            JOIN resource r ON r.id = bk.resource_id AND r.kind = 'doctor'
                           WHERE bk.appointment_id = i.id) AS doctor_id
              FROM unnest(ids) AS i(id)) d
     WHERE a.id = d.id AND a.doctor_id IS DISTINCT FROM d.doctor_id;
$$;

CREATE FUNCTION booking_report_doctor_upd() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM clinic_report_doctor_of(ARRAY(
        SELECT n.appointment_id FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.resource_id IS DISTINCT FROM o.resource_id OR n.appointment_id IS DISTINCT FROM o.appointment_id
        UNION
        SELECT o.appointment_id FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.resource_id IS DISTINCT FROM o.resource_id OR n.appointment_id IS DISTINCT FROM o.appointment_id));
    RETURN NULL;
END $$;

CREATE FUNCTION booking_report_doctor_del() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM clinic_report_doctor_of(ARRAY(SELECT DISTINCT appointment_id FROM old_rows));
    RETURN NULL;
END $$;

CREATE TRIGGER booking_report_doctor_ins AFTER INSERT ON booking
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booking_report_doctor_ins();
CREATE TRIGGER booking_report_doctor_upd AFTER UPDATE ON booking
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION booking_report_doctor_upd();
CREATE TRIGGER booking_report_doctor_del AFTER DELETE ON booking
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booking_report_doctor_del();
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_report_doctor_ins;
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_report_doctor_upd;
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_report_doctor_del;

-- A branch's zone changed: recompute its appointments' local columns (the row trigger does it).
CREATE FUNCTION branch_report_timezone() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE appointment SET local_start = NULL WHERE branch_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER branch_report_timezone AFTER UPDATE OF timezone ON branch FOR EACH ROW
    WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone) EXECUTE FUNCTION branch_report_timezone();
ALTER TABLE branch ENABLE ALWAYS TRIGGER branch_report_timezone;

-- A resource became (or stopped being) a doctor: recompute the doctor of its appointments.
CREATE FUNCTION resource_report_kind() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM clinic_report_doctor_of(ARRAY(SELECT appointment_id FROM booking WHERE resource_id = NEW.id));
    RETURN NULL;
END $$;
CREATE TRIGGER resource_report_kind AFTER UPDATE OF kind ON resource FOR EACH ROW
    WHEN (OLD.kind IS DISTINCT FROM NEW.kind) EXECUTE FUNCTION resource_report_kind();
ALTER TABLE resource ENABLE ALWAYS TRIGGER resource_report_kind;

-- Audit: a change of the derived report columns alone is no change (the row trigger and the booking
-- triggers write them as a consequence of an audited change).

CREATE OR REPLACE FUNCTION audit_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    why text := nullif(current_setting('clinic.reason', true), '');
    derived text[] := CASE WHEN TG_TABLE_NAME = 'appointment'
                           THEN ARRAY['local_start', 'lead_days', 'doctor_id'] ELSE '{}' END;
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

CREATE INDEX appointment_report ON appointment (local_start)
    INCLUDE (branch_id, status, service_id, source, doctor_id, lead_days, patient_id, patient_age_years);
"""

DOWNGRADE_SQL = r"""
DROP TRIGGER resource_report_kind ON resource;
DROP TRIGGER branch_report_timezone ON branch;
DROP TRIGGER booking_report_doctor_ins ON booking;
DROP TRIGGER booking_report_doctor_upd ON booking;
DROP TRIGGER booking_report_doctor_del ON booking;
DROP TRIGGER appointment_report_local ON appointment;
DROP TRIGGER appointment_report_doctor_ins ON appointment;
DROP TRIGGER appointment_report_doctor_upd ON appointment;
DROP FUNCTION appointment_report_doctor();
DROP FUNCTION resource_report_kind();
DROP FUNCTION branch_report_timezone();
DROP FUNCTION booking_report_doctor_ins();
DROP FUNCTION booking_report_doctor_upd();
DROP FUNCTION booking_report_doctor_del();
DROP FUNCTION clinic_report_doctor_of(bigint[]);
DROP FUNCTION appointment_report_local();
CREATE OR REPLACE FUNCTION audit_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    why text := nullif(current_setting('clinic.reason', true), '');
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log (db_user, txid, table_name, row_id, action, old_row, new_row, reason)
        SELECT session_user, txid_current(), TG_TABLE_NAME, n.id, 'INSERT', NULL, to_jsonb(n), why
          FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO audit_log (db_user, txid, table_name, row_id, action, old_row, new_row, reason)
        SELECT session_user, txid_current(), TG_TABLE_NAME, n.id, 'UPDATE', to_jsonb(o), to_jsonb(n), why
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE to_jsonb(o) IS DISTINCT FROM to_jsonb(n);
    ELSE
        INSERT INTO audit_log (db_user, txid, table_name, row_id, action, old_row, new_row, reason)
        SELECT session_user, txid_current(), TG_TABLE_NAME, o.id, 'DELETE', to_jsonb(o), NULL, why
          FROM old_rows o;
    END IF;
    RETURN NULL;
END $$;
DROP INDEX appointment_report;
ALTER TABLE appointment DROP COLUMN local_start, DROP COLUMN lead_days, DROP COLUMN doctor_id;
"""


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)
