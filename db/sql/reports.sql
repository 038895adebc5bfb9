-- Reports: columns kept for the reports (appointment.local_start, lead_days, doctor_id; booking's
-- branch_id, local_day, start_min, end_min), recomputed when what they derive from changes, and the
-- utilization summary's staleness marks (utilization_stale) when bookings or rosters change.
-- clinic_quarters: the quarter-hours of a local day as bits (idle gaps); clinic_analyze_import:
-- fresh statistics after an import. These triggers are ENABLE ALWAYS: a bulk load with
-- session_replication_role = replica still fills the report columns.
--
-- Every definition here is the one the catalog held after migration 0009 (which pinned each
-- function's search_path and gave each SECURITY DEFINER trigger function its TG_RELID check), and
-- can be applied again on a migrated database: CREATE OR REPLACE FUNCTION keeps a function's owner
-- and grants; a trigger is dropped and created again (PostgreSQL has no CREATE OR REPLACE for a
-- constraint trigger), and ALTER TABLE … ENABLE ALWAYS TRIGGER keeps the report triggers firing when
-- a bulk load runs with session_replication_role = replica. "(migrations …)" names the migrations
-- that wrote a function before this file; "0011: …" marks a definition migration 0011 changed since
-- (db/versions/0011_booking_trigger_costs.py). A change of rule edits this file; the migration that ships
-- it calls db.apply_sql_files() (tables and data stay in migrations).
--
-- Firing order on one table (PostgreSQL's, whatever file a trigger lives in; docs/database.md
-- lists every table's triggers together): BEFORE row triggers, by name; then, at the end of the
-- statement, AFTER row triggers (row by row, each row's by name) and AFTER statement triggers, by
-- name; deferred constraint triggers at COMMIT, in the order the changes were made.
--
-- Triggers of this file, per table, in the order PostgreSQL fires them:
--   appointment:
--     appointment_report_doctor_ins    BEFORE, each row; insert -> appointment_report_doctor() [ALWAYS]
--     appointment_report_doctor_upd    BEFORE, each row; update of doctor_id -> appointment_report_doctor() [ALWAYS]
--     appointment_report_local         BEFORE, each row; insert or update of starts_at, booked_at, branch_id, local_start, lead_days -> appointment_report_local() [ALWAYS]
--     appointment_report_branch        AFTER, each row (end of statement); update of branch_id -> appointment_report_branch() [ALWAYS]
--   booking:
--     booking_report_local             BEFORE, each row; insert or update of period, appointment_id, branch_id, local_day, start_min, end_min -> booking_report_local() [ALWAYS]
--     booking_report_doctor_del        AFTER, each statement; delete -> booking_report_doctor_del() [ALWAYS]
--     booking_report_doctor_ins        AFTER, each statement; insert -> booking_report_doctor_ins() [ALWAYS]
--     booking_report_doctor_upd        AFTER, each statement; update -> booking_report_doctor_upd() [ALWAYS]
--     booking_utilization_del          AFTER, each statement; delete -> utilization_stale_bookings() [ALWAYS]
--     booking_utilization_ins          AFTER, each statement; insert -> utilization_stale_bookings() [ALWAYS]
--     booking_utilization_trunc        AFTER, each statement; truncate -> utilization_stale_bookings() [ALWAYS]
--     booking_utilization_upd          AFTER, each statement; update -> utilization_stale_bookings() [ALWAYS]
--   branch:
--     branch_report_timezone           AFTER, each row (end of statement); update of timezone -> branch_report_timezone() [ALWAYS]
--     branch_utilization               AFTER, each row (end of statement); update of timezone -> utilization_stale_roster() [ALWAYS]
--   holiday:
--     holiday_utilization              AFTER, each row (end of statement); insert or delete or update -> utilization_stale_roster() [ALWAYS]
--   opening_hours:
--     opening_hours_utilization        AFTER, each row (end of statement); insert or delete or update -> utilization_stale_roster() [ALWAYS]
--   resource:
--     resource_report_kind             AFTER, each row (end of statement); update of kind -> resource_report_kind() [ALWAYS]
--     resource_utilization             AFTER, each row (end of statement); insert or delete or update of kind, branch_id, active -> utilization_stale_roster() [ALWAYS]
--   shift:
--     shift_utilization                AFTER, each row (end of statement); insert or delete or update -> utilization_stale_roster() [ALWAYS]
--   shift_exception:
--     shift_exception_utilization      AFTER, each row (end of statement); insert or delete or update -> utilization_stale_roster() [ALWAYS]
--   time_off:
--     time_off_utilization             AFTER, each row (end of statement); insert or delete or update -> utilization_stale_roster() [ALWAYS]
--
-- Why this order is right: appointment_report_local and appointment_report_doctor_* sort after
-- appointment_guard and appointment_lifecycle, so they read the booked_at and status those settle;
-- booking_report_local sorts after booking_check. The AFTER triggers only mark rows stale or
-- recompute derived columns, so their order among themselves does not matter.

-- clinic_quarters(integer,integer,integer) (migrations 0007)
-- The quarter-hours [lo, hi) of a local day as bits of one of three 48-bit words (word 0: quarters
-- 0..47 = 00:00-12:00, word 1: 12:00-24:00, word 2: the next day's 00:00-12:00), for the utilization
-- report's idle gaps (``services/report_queries.py``). Inlined by the planner.
CREATE OR REPLACE FUNCTION public.clinic_quarters(lo integer, hi integer, word integer) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (1::bigint << greatest(least(greatest(hi - 48 * word, 0), 48), least(greatest(lo - 48 * word, 0), 48)))
     - (1::bigint << least(greatest(lo - 48 * word, 0), 48));

-- clinic_report_doctor_of(bigint[]) (migrations 0005; 0011: generic plans)
CREATE OR REPLACE FUNCTION public.clinic_report_doctor_of(ids bigint[])
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
    UPDATE appointment a SET doctor_id = d.doctor_id
      FROM (SELECT i.id, (SELECT min(bk.resource_id) FROM booking bk
                            JOIN resource r ON r.id = bk.resource_id AND r.kind = 'doctor'
                           WHERE bk.appointment_id = i.id) AS doctor_id
              FROM unnest(ids) AS i(id)) d
     WHERE a.id = d.id AND a.doctor_id IS DISTINCT FROM d.doctor_id;
$function$;

-- appointment_report_local() (migrations 0005)
-- Local start and lead time: one zone lookup per row, the rest arithmetic.
CREATE OR REPLACE FUNCTION public.appointment_report_local()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    tz text;
BEGIN
    SELECT timezone INTO tz FROM branch WHERE id = NEW.branch_id;
    NEW.local_start := NEW.starts_at AT TIME ZONE tz;
    NEW.lead_days := NEW.local_start::date - (NEW.booked_at AT TIME ZONE tz)::date;
    RETURN NEW;
END $function$;

-- appointment_report_doctor() (migrations 0005)
-- doctor_id written by hand (not by the booking triggers below): recomputed from the bookings.
-- A new row has no bookings yet: a doctor given on insert (the bulk import gives it, so the
-- booking trigger below finds nothing to change) must be a doctor, and the bookings inserted
-- after it are checked against it (booking_report_doctor_ins).
CREATE OR REPLACE FUNCTION public.appointment_report_doctor()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.appointment'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM resource WHERE id = NEW.doctor_id AND kind = 'doctor') THEN
            NEW.doctor_id := NULL;
        END IF;
        RETURN NEW;
    END IF;
    NEW.doctor_id := (SELECT min(bk.resource_id) FROM booking bk JOIN resource r ON r.id = bk.resource_id
                       AND r.kind = 'doctor' WHERE bk.appointment_id = NEW.id);
    RETURN NEW;
END $function$;

-- appointment_report_branch() (migrations 0007)
CREATE OR REPLACE FUNCTION public.appointment_report_branch()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.appointment'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    UPDATE booking SET branch_id = NULL WHERE appointment_id = NEW.id;
    RETURN NULL;
END $function$;

-- booking_report_local() (migrations 0007)
CREATE OR REPLACE FUNCTION public.booking_report_local()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    bid integer;
    tz  text;
    ls  timestamp;
BEGIN
    IF TG_RELID NOT IN ('public.booking'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    SELECT a.branch_id, b.timezone INTO bid, tz
      FROM appointment a JOIN branch b ON b.id = a.branch_id WHERE a.id = NEW.appointment_id;
    ls := lower(NEW.period) AT TIME ZONE tz;
    NEW.branch_id := bid;
    NEW.local_day := ls::date;
    NEW.start_min := floor(extract(epoch FROM ls - ls::date) / 60)::integer;
    NEW.end_min := NEW.start_min + round(extract(epoch FROM upper(NEW.period) - lower(NEW.period)) / 60)::integer;
    RETURN NEW;
END $function$;

-- booking_report_doctor_ins() (migrations 0005; 0011: no empty UPDATE)
-- The doctor of each appointment whose bookings a statement touched.
CREATE OR REPLACE FUNCTION public.booking_report_doctor_ins()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    stale bigint[];
BEGIN
    IF TG_RELID NOT IN ('public.booking'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    -- An insert can only add doctors: the new minimum wins. A doctor given on insert that none of
    -- the appointment's bookings names (checked for the appointments inserted with this statement's
    -- bookings) is corrected from all its bookings. Each UPDATE runs only when it has a row to
    -- change: an UPDATE of no rows would still fire appointment's statement triggers (audit,
    -- notify, reminders) for nothing.
    IF EXISTS (SELECT 1 FROM appointment a
                 JOIN (SELECT k.appointment_id, min(k.resource_id) AS doctor_id
                         FROM new_rows k JOIN resource r ON r.id = k.resource_id AND r.kind = 'doctor'
                        GROUP BY k.appointment_id) n ON a.id = n.appointment_id
                WHERE a.doctor_id IS NULL OR a.doctor_id > n.doctor_id) THEN
        UPDATE appointment a SET doctor_id = n.doctor_id
          FROM (SELECT k.appointment_id, min(k.resource_id) AS doctor_id
                  FROM new_rows k JOIN resource r ON r.id = k.resource_id AND r.kind = 'doctor'
                 GROUP BY k.appointment_id) n
         WHERE a.id = n.appointment_id AND (a.doctor_id IS NULL OR a.doctor_id > n.doctor_id);
    END IF;
    stale := ARRAY(
        SELECT a.id FROM appointment a
         WHERE a.id IN (SELECT DISTINCT appointment_id FROM new_rows) AND a.doctor_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM booking bk WHERE bk.appointment_id = a.id
                                                       AND bk.resource_id = a.doctor_id));
    IF cardinality(stale) > 0 THEN
        PERFORM clinic_report_doctor_of(stale);
    END IF;
    RETURN NULL;
END $function$;

-- booking_report_doctor_upd() (migrations 0005)
CREATE OR REPLACE FUNCTION public.booking_report_doctor_upd()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.booking'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    PERFORM clinic_report_doctor_of(ARRAY(
        SELECT n.appointment_id FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.resource_id IS DISTINCT FROM o.resource_id OR n.appointment_id IS DISTINCT FROM o.appointment_id
        UNION
        SELECT o.appointment_id FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.resource_id IS DISTINCT FROM o.resource_id OR n.appointment_id IS DISTINCT FROM o.appointment_id));
    RETURN NULL;
END $function$;

-- booking_report_doctor_del() (migrations 0005)
CREATE OR REPLACE FUNCTION public.booking_report_doctor_del()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.booking'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    PERFORM clinic_report_doctor_of(ARRAY(SELECT DISTINCT appointment_id FROM old_rows));
    RETURN NULL;
END $function$;

-- branch_report_timezone() (migrations 0005, 0007)
-- A branch's zone changed: recompute its appointments' local columns (the row trigger does it).
CREATE OR REPLACE FUNCTION public.branch_report_timezone()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.branch'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    UPDATE appointment SET local_start = NULL WHERE branch_id = NEW.id;
    UPDATE booking SET local_day = NULL WHERE appointment_id IN (SELECT id FROM appointment WHERE branch_id = NEW.id);
    RETURN NULL;
END $function$;

-- resource_report_kind() (migrations 0005)
-- A resource became (or stopped being) a doctor: recompute the doctor of its appointments.
CREATE OR REPLACE FUNCTION public.resource_report_kind()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.resource'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    PERFORM clinic_report_doctor_of(ARRAY(SELECT appointment_id FROM booking WHERE resource_id = NEW.id));
    RETURN NULL;
END $function$;

-- utilization_stale_bookings() (migrations 0008)
CREATE OR REPLACE FUNCTION public.utilization_stale_bookings()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.booking'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO utilization_stale (resource_id, branch_id, days) VALUES (NULL, NULL, '(,)');
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO utilization_stale (resource_id, branch_id, days)
        SELECT resource_id, NULL, daterange(min(local_day), max(local_day + CASE WHEN end_min > 1440 THEN 2 ELSE 1 END))
          FROM new_rows WHERE live GROUP BY resource_id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO utilization_stale (resource_id, branch_id, days)
        SELECT resource_id, NULL, daterange(min(local_day), max(local_day + CASE WHEN end_min > 1440 THEN 2 ELSE 1 END))
          FROM old_rows WHERE live GROUP BY resource_id;
    ELSE
        INSERT INTO utilization_stale (resource_id, branch_id, days)
        SELECT resource_id, NULL, daterange(min(local_day), max(local_day + CASE WHEN end_min > 1440 THEN 2 ELSE 1 END))
          FROM (SELECT o.* FROM old_rows o
                 WHERE o.live AND NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id AND n.live
                                                 AND (n.resource_id, n.branch_id, n.local_day, n.start_min, n.end_min) IS NOT DISTINCT FROM (o.resource_id, o.branch_id, o.local_day, o.start_min, o.end_min))
                UNION ALL
                SELECT n.* FROM new_rows n
                 WHERE n.live AND NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id AND o.live
                                                 AND (n.resource_id, n.branch_id, n.local_day, n.start_min, n.end_min) IS NOT DISTINCT FROM (o.resource_id, o.branch_id, o.local_day, o.start_min, o.end_min))) x
         GROUP BY resource_id;
    END IF;
    RETURN NULL;
END $function$;

-- utilization_stale_roster() (migrations 0008)
CREATE OR REPLACE FUNCTION public.utilization_stale_roster()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    r record;
BEGIN
    IF TG_RELID NOT IN ('public.branch'::regclass, 'public.holiday'::regclass, 'public.opening_hours'::regclass, 'public.resource'::regclass, 'public.shift'::regclass, 'public.shift_exception'::regclass, 'public.time_off'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    FOREACH r IN ARRAY CASE TG_OP WHEN 'INSERT' THEN ARRAY[NEW] WHEN 'DELETE' THEN ARRAY[OLD] ELSE ARRAY[OLD, NEW] END LOOP
        CASE TG_TABLE_NAME
        WHEN 'shift' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days)
            VALUES (r.resource_id, NULL, daterange(r.valid_from, r.valid_until + 2));
        WHEN 'shift_exception' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days)
            VALUES (r.resource_id, NULL, daterange(r.local_date, r.local_date + 2));
        WHEN 'time_off' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days)
            VALUES (r.resource_id, NULL, daterange((lower(r.period) AT TIME ZONE 'UTC')::date - 1,
                                                   (upper(r.period) AT TIME ZONE 'UTC')::date + 2));
        WHEN 'holiday' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days)
            VALUES (NULL, r.branch_id, daterange(r.local_date, r.local_date + 2));
        WHEN 'opening_hours' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days) VALUES (NULL, r.branch_id, '(,)');
        WHEN 'branch' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days) VALUES (NULL, r.id, '(,)');
        WHEN 'resource' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days) VALUES (r.id, NULL, '(,)');
        END CASE;
    END LOOP;
    RETURN NULL;
END $function$;

-- clinic_analyze_import() (migrations 0009)
-- An import by an administrator ends with fresh statistics of what the reports join on (only a
-- table's owner may ANALYZE it before PostgreSQL 17's MAINTAIN privilege).
CREATE OR REPLACE FUNCTION public.clinic_analyze_import()
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
    ANALYZE public.appointment (id, patient_id, branch_id, status, starts_at, booked_at),
            public.booking (appointment_id, resource_id),
            public.reminder (appointment_id, channel, purpose, status)
$function$;

-- Triggers (dropped and created again: a trigger has no CREATE OR REPLACE for constraint triggers).
DROP TRIGGER IF EXISTS appointment_report_branch ON appointment;
CREATE TRIGGER appointment_report_branch AFTER UPDATE OF branch_id ON appointment
    FOR EACH ROW
    WHEN (old.branch_id IS DISTINCT FROM new.branch_id)
    EXECUTE FUNCTION appointment_report_branch();
ALTER TABLE appointment ENABLE ALWAYS TRIGGER appointment_report_branch;
DROP TRIGGER IF EXISTS appointment_report_doctor_ins ON appointment;
CREATE TRIGGER appointment_report_doctor_ins BEFORE INSERT ON appointment
    FOR EACH ROW
    WHEN (new.doctor_id IS NOT NULL)
    EXECUTE FUNCTION appointment_report_doctor();
ALTER TABLE appointment ENABLE ALWAYS TRIGGER appointment_report_doctor_ins;
DROP TRIGGER IF EXISTS appointment_report_doctor_upd ON appointment;
CREATE TRIGGER appointment_report_doctor_upd BEFORE UPDATE OF doctor_id ON appointment
    FOR EACH ROW
    WHEN (pg_trigger_depth() = 0 AND new.doctor_id IS DISTINCT FROM old.doctor_id)
    EXECUTE FUNCTION appointment_report_doctor();
ALTER TABLE appointment ENABLE ALWAYS TRIGGER appointment_report_doctor_upd;
DROP TRIGGER IF EXISTS appointment_report_local ON appointment;
CREATE TRIGGER appointment_report_local BEFORE INSERT OR UPDATE OF starts_at, booked_at, branch_id, local_start, lead_days ON appointment
    FOR EACH ROW
    EXECUTE FUNCTION appointment_report_local();
ALTER TABLE appointment ENABLE ALWAYS TRIGGER appointment_report_local;
DROP TRIGGER IF EXISTS booking_report_doctor_del ON booking;
CREATE TRIGGER booking_report_doctor_del AFTER DELETE ON booking
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION booking_report_doctor_del();
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_report_doctor_del;
DROP TRIGGER IF EXISTS booking_report_doctor_ins ON booking;
CREATE TRIGGER booking_report_doctor_ins AFTER INSERT ON booking
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION booking_report_doctor_ins();
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_report_doctor_ins;
DROP TRIGGER IF EXISTS booking_report_doctor_upd ON booking;
CREATE TRIGGER booking_report_doctor_upd AFTER UPDATE ON booking
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION booking_report_doctor_upd();
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_report_doctor_upd;
DROP TRIGGER IF EXISTS booking_report_local ON booking;
CREATE TRIGGER booking_report_local BEFORE INSERT OR UPDATE OF period, appointment_id, branch_id, local_day, start_min, end_min ON booking
    FOR EACH ROW
    EXECUTE FUNCTION booking_report_local();
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_report_local;
DROP TRIGGER IF EXISTS booking_utilization_del ON booking;
CREATE TRIGGER booking_utilization_del AFTER DELETE ON booking
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION utilization_stale_bookings();
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_utilization_del;
DROP TRIGGER IF EXISTS booking_utilization_ins ON booking;
CREATE TRIGGER booking_utilization_ins AFTER INSERT ON booking
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION utilization_stale_bookings();
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_utilization_ins;
DROP TRIGGER IF EXISTS booking_utilization_trunc ON booking;
CREATE TRIGGER booking_utilization_trunc AFTER TRUNCATE ON booking
    FOR EACH STATEMENT
    EXECUTE FUNCTION utilization_stale_bookings();
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_utilization_trunc;
DROP TRIGGER IF EXISTS booking_utilization_upd ON booking;
CREATE TRIGGER booking_utilization_upd AFTER UPDATE ON booking
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION utilization_stale_bookings();
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_utilization_upd;
DROP TRIGGER IF EXISTS branch_report_timezone ON branch;
CREATE TRIGGER branch_report_timezone AFTER UPDATE OF timezone ON branch
    FOR EACH ROW
    WHEN (old.timezone IS DISTINCT FROM new.timezone)
    EXECUTE FUNCTION branch_report_timezone();
ALTER TABLE branch ENABLE ALWAYS TRIGGER branch_report_timezone;
DROP TRIGGER IF EXISTS branch_utilization ON branch;
CREATE TRIGGER branch_utilization AFTER UPDATE OF timezone ON branch
    FOR EACH ROW
    WHEN (old.timezone IS DISTINCT FROM new.timezone)
    EXECUTE FUNCTION utilization_stale_roster();
ALTER TABLE branch ENABLE ALWAYS TRIGGER branch_utilization;
DROP TRIGGER IF EXISTS holiday_utilization ON holiday;
CREATE TRIGGER holiday_utilization AFTER INSERT OR DELETE OR UPDATE ON holiday
    FOR EACH ROW
    EXECUTE FUNCTION utilization_stale_roster();
ALTER TABLE holiday ENABLE ALWAYS TRIGGER holiday_utilization;
DROP TRIGGER IF EXISTS opening_hours_utilization ON opening_hours;
CREATE TRIGGER opening_hours_utilization AFTER INSERT OR DELETE OR UPDATE ON opening_hours
    FOR EACH ROW
    EXECUTE FUNCTION utilization_stale_roster();
ALTER TABLE opening_hours ENABLE ALWAYS TRIGGER opening_hours_utilization;
DROP TRIGGER IF EXISTS resource_report_kind ON resource;
CREATE TRIGGER resource_report_kind AFTER UPDATE OF kind ON resource
    FOR EACH ROW
    WHEN (old.kind IS DISTINCT FROM new.kind)
    EXECUTE FUNCTION resource_report_kind();
ALTER TABLE resource ENABLE ALWAYS TRIGGER resource_report_kind;
DROP TRIGGER IF EXISTS resource_utilization ON resource;
CREATE TRIGGER resource_utilization AFTER INSERT OR DELETE OR UPDATE OF kind, branch_id, active ON resource
    FOR EACH ROW
    EXECUTE FUNCTION utilization_stale_roster();
ALTER TABLE resource ENABLE ALWAYS TRIGGER resource_utilization;
DROP TRIGGER IF EXISTS shift_utilization ON shift;
CREATE TRIGGER shift_utilization AFTER INSERT OR DELETE OR UPDATE ON shift
    FOR EACH ROW
    EXECUTE FUNCTION utilization_stale_roster();
ALTER TABLE shift ENABLE ALWAYS TRIGGER shift_utilization;
DROP TRIGGER IF EXISTS shift_exception_utilization ON shift_exception;
CREATE TRIGGER shift_exception_utilization AFTER INSERT OR DELETE OR UPDATE ON shift_exception
    FOR EACH ROW
    EXECUTE FUNCTION utilization_stale_roster();
ALTER TABLE shift_exception ENABLE ALWAYS TRIGGER shift_exception_utilization;
DROP TRIGGER IF EXISTS time_off_utilization ON time_off;
CREATE TRIGGER time_off_utilization AFTER INSERT OR DELETE OR UPDATE ON time_off
    FOR EACH ROW
    EXECUTE FUNCTION utilization_stale_roster();
ALTER TABLE time_off ENABLE ALWAYS TRIGGER time_off_utilization;
