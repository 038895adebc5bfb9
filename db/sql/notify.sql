-- Notify: the change signal other workstations listen to (store/listen.py). Statement-level, with
-- transition tables, so a statement that changes many rows sends one notification per channel.
-- Channels: clinic_schedule (payload: branch ids and local days), clinic_roster.
--
-- Every definition here is the one the catalog held after migration 0009 (which pinned each
-- function's search_path and gave each SECURITY DEFINER trigger function its TG_RELID check), and
-- can be applied again on a migrated database: CREATE OR REPLACE FUNCTION keeps a function's owner
-- and grants; a trigger is dropped and created again (PostgreSQL has no CREATE OR REPLACE for a
-- constraint trigger), and ALTER TABLE … ENABLE ALWAYS TRIGGER keeps the report triggers firing when
-- a bulk load runs with session_replication_role = replica. "(migrations …)" names the migrations
-- that wrote a function before this file. A change of rule edits this file; the migration that ships
-- it calls db.apply_sql_files() (tables and data stay in migrations).
--
-- Firing order on one table (PostgreSQL's, whatever file a trigger lives in; docs/database.md
-- lists every table's triggers together): BEFORE row triggers, by name; then, at the end of the
-- statement, AFTER row triggers (row by row, each row's by name) and AFTER statement triggers, by
-- name; deferred constraint triggers at COMMIT, in the order the changes were made.
--
-- Triggers of this file, per table, in the order PostgreSQL fires them:
--   appointment:
--     appointment_notify_del           AFTER, each statement; delete -> notify_schedule()
--     appointment_notify_ins           AFTER, each statement; insert -> notify_schedule()
--     appointment_notify_upd           AFTER, each statement; update -> notify_schedule()
--   booking:
--     booking_notify_del               AFTER, each statement; delete -> notify_schedule_booking()
--     booking_notify_ins               AFTER, each statement; insert -> notify_schedule_booking()
--     booking_notify_upd               AFTER, each statement; update -> notify_schedule_booking()
--   holiday:
--     holiday_notify                   AFTER, each statement; insert or delete or update -> notify_roster()
--   shift:
--     shift_notify                     AFTER, each statement; insert or delete or update -> notify_roster()
--   shift_exception:
--     shift_exception_notify           AFTER, each statement; insert or delete or update -> notify_roster()
--   time_off:
--     time_off_notify                  AFTER, each statement; insert or delete or update -> notify_roster()
--
-- Why this order is right: notifications are AFTER statement triggers, so they are sent (at commit)
-- once for everything a statement changed, after every row trigger has run; they read only ids.

-- notify_schedule() (migrations 0001)
CREATE OR REPLACE FUNCTION public.notify_schedule()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    r record;
BEGIN
    IF TG_RELID NOT IN ('public.appointment'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    IF TG_OP = 'INSERT' THEN
        FOR r IN SELECT DISTINCT c.branch_id, (c.starts_at AT TIME ZONE b.timezone)::date AS day
                   FROM new_rows c JOIN branch b ON b.id = c.branch_id LOOP
            PERFORM pg_notify('clinic_schedule',
                json_build_object('branch', r.branch_id, 'day', to_char(r.day, 'YYYY-MM-DD'))::text);
        END LOOP;
    ELSIF TG_OP = 'UPDATE' THEN
        FOR r IN SELECT DISTINCT c.branch_id, (c.starts_at AT TIME ZONE b.timezone)::date AS day
                   FROM (SELECT branch_id, starts_at FROM new_rows
                         UNION ALL SELECT branch_id, starts_at FROM old_rows) c
                   JOIN branch b ON b.id = c.branch_id LOOP
            PERFORM pg_notify('clinic_schedule',
                json_build_object('branch', r.branch_id, 'day', to_char(r.day, 'YYYY-MM-DD'))::text);
        END LOOP;
    ELSE
        FOR r IN SELECT DISTINCT c.branch_id, (c.starts_at AT TIME ZONE b.timezone)::date AS day
                   FROM old_rows c JOIN branch b ON b.id = c.branch_id LOOP
            PERFORM pg_notify('clinic_schedule',
                json_build_object('branch', r.branch_id, 'day', to_char(r.day, 'YYYY-MM-DD'))::text);
        END LOOP;
    END IF;
    RETURN NULL;
END $function$;

-- notify_schedule_booking() (migrations 0001)
-- Bookings changed on their own (another resource, new period): notify their appointments' days.
CREATE OR REPLACE FUNCTION public.notify_schedule_booking()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    r record;
    ids bigint[];
BEGIN
    IF TG_RELID NOT IN ('public.booking'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    -- Each TG_OP names only the transition tables its trigger has.
    IF TG_OP = 'INSERT' THEN
        ids := ARRAY(SELECT appointment_id FROM new_rows);
    ELSIF TG_OP = 'UPDATE' THEN
        ids := ARRAY(SELECT appointment_id FROM new_rows UNION SELECT appointment_id FROM old_rows);
    ELSE
        ids := ARRAY(SELECT appointment_id FROM old_rows);
    END IF;
    FOR r IN
        SELECT DISTINCT a.branch_id, (a.starts_at AT TIME ZONE b.timezone)::date AS day
          FROM appointment a JOIN branch b ON b.id = a.branch_id
         WHERE a.id = ANY(ids)
    LOOP
        PERFORM pg_notify('clinic_schedule',
            json_build_object('branch', r.branch_id, 'day', to_char(r.day, 'YYYY-MM-DD'))::text);
    END LOOP;
    RETURN NULL;
END $function$;

-- notify_roster() (migrations 0003)
-- Roster changes show on every grid (shading).
CREATE OR REPLACE FUNCTION public.notify_roster()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.holiday'::regclass, 'public.shift'::regclass, 'public.shift_exception'::regclass, 'public.time_off'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    PERFORM pg_notify('clinic_schedule', json_build_object('roster', TG_TABLE_NAME)::text);
    RETURN NULL;
END $function$;

-- Triggers (dropped and created again: a trigger has no CREATE OR REPLACE for constraint triggers).
DROP TRIGGER IF EXISTS appointment_notify_del ON appointment;
CREATE TRIGGER appointment_notify_del AFTER DELETE ON appointment
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION notify_schedule();
DROP TRIGGER IF EXISTS appointment_notify_ins ON appointment;
CREATE TRIGGER appointment_notify_ins AFTER INSERT ON appointment
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION notify_schedule();
DROP TRIGGER IF EXISTS appointment_notify_upd ON appointment;
CREATE TRIGGER appointment_notify_upd AFTER UPDATE ON appointment
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION notify_schedule();
DROP TRIGGER IF EXISTS booking_notify_del ON booking;
CREATE TRIGGER booking_notify_del AFTER DELETE ON booking
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION notify_schedule_booking();
DROP TRIGGER IF EXISTS booking_notify_ins ON booking;
CREATE TRIGGER booking_notify_ins AFTER INSERT ON booking
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION notify_schedule_booking();
DROP TRIGGER IF EXISTS booking_notify_upd ON booking;
CREATE TRIGGER booking_notify_upd AFTER UPDATE ON booking
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION notify_schedule_booking();
DROP TRIGGER IF EXISTS holiday_notify ON holiday;
CREATE TRIGGER holiday_notify AFTER INSERT OR DELETE OR UPDATE ON holiday
    FOR EACH STATEMENT
    EXECUTE FUNCTION notify_roster();
DROP TRIGGER IF EXISTS shift_notify ON shift;
CREATE TRIGGER shift_notify AFTER INSERT OR DELETE OR UPDATE ON shift
    FOR EACH STATEMENT
    EXECUTE FUNCTION notify_roster();
DROP TRIGGER IF EXISTS shift_exception_notify ON shift_exception;
CREATE TRIGGER shift_exception_notify AFTER INSERT OR DELETE OR UPDATE ON shift_exception
    FOR EACH STATEMENT
    EXECUTE FUNCTION notify_roster();
DROP TRIGGER IF EXISTS time_off_notify ON time_off;
CREATE TRIGGER time_off_notify AFTER INSERT OR DELETE OR UPDATE ON time_off
    FOR EACH STATEMENT
    EXECUTE FUNCTION notify_roster();
