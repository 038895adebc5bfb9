-- Audit and history: every change of the clinic's tables leaves a row in audit_log (audit_rows,
-- statement level with transition tables, for tables with an integer id; audit_row, per row, for
-- clinic_setting, keyed by text, and a reminder marked handled); who created a patient, visit,
-- series or waitlist entry and when is the database's (clinic_keep_created); ids never change
-- (clinic_refuse_id_change); payments are never changed or deleted (clinic_refuse_change).
-- audit_log itself has no UPDATE or DELETE for any role (grants.sql).
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
--     appointment_id_fixed             BEFORE, each row; update of id -> clinic_refuse_id_change()
--     appointment_audit_del            AFTER, each statement; delete -> audit_rows()
--     appointment_audit_ins            AFTER, each statement; insert -> audit_rows()
--     appointment_audit_upd            AFTER, each statement; update -> audit_rows()
--   booking:
--     booking_id_fixed                 BEFORE, each row; update of id -> clinic_refuse_id_change()
--     booking_audit_del                AFTER, each statement; delete -> audit_rows()
--     booking_audit_ins                AFTER, each statement; insert -> audit_rows()
--     booking_audit_upd                AFTER, each statement; update -> audit_rows()
--   branch:
--     branch_audit_del                 AFTER, each statement; delete -> audit_rows()
--     branch_audit_ins                 AFTER, each statement; insert -> audit_rows()
--     branch_audit_upd                 AFTER, each statement; update -> audit_rows()
--   clinic_setting:
--     clinic_setting_audit             AFTER, each row (end of statement); insert or delete or update -> audit_row()
--   holiday:
--     holiday_audit_del                AFTER, each statement; delete -> audit_rows()
--     holiday_audit_ins                AFTER, each statement; insert -> audit_rows()
--     holiday_audit_upd                AFTER, each statement; update -> audit_rows()
--   opening_hours:
--     opening_hours_audit_del          AFTER, each statement; delete -> audit_rows()
--     opening_hours_audit_ins          AFTER, each statement; insert -> audit_rows()
--     opening_hours_audit_upd          AFTER, each statement; update -> audit_rows()
--   patient:
--     patient_keep_created             BEFORE, each row; insert or update -> clinic_keep_created()
--     patient_audit_del                AFTER, each statement; delete -> audit_rows()
--     patient_audit_ins                AFTER, each statement; insert -> audit_rows()
--     patient_audit_upd                AFTER, each statement; update -> audit_rows()
--   payment:
--     payment_immutable                BEFORE, each row; delete or update -> clinic_refuse_change()
--     payment_audit_ins                AFTER, each statement; insert -> audit_rows()
--   reminder:
--     reminder_handled_audit           AFTER, each row (end of statement); update of handled_at, handled_by -> audit_row()
--   reminder_rule:
--     reminder_rule_audit_del          AFTER, each statement; delete -> audit_rows()
--     reminder_rule_audit_ins          AFTER, each statement; insert -> audit_rows()
--     reminder_rule_audit_upd          AFTER, each statement; update -> audit_rows()
--   resource:
--     resource_audit_del               AFTER, each statement; delete -> audit_rows()
--     resource_audit_ins               AFTER, each statement; insert -> audit_rows()
--     resource_audit_upd               AFTER, each statement; update -> audit_rows()
--   series:
--     series_keep_created              BEFORE, each row; insert or update -> clinic_keep_created()
--     series_audit_del                 AFTER, each statement; delete -> audit_rows()
--     series_audit_ins                 AFTER, each statement; insert -> audit_rows()
--     series_audit_upd                 AFTER, each statement; update -> audit_rows()
--   service:
--     service_audit_del                AFTER, each statement; delete -> audit_rows()
--     service_audit_ins                AFTER, each statement; insert -> audit_rows()
--     service_audit_upd                AFTER, each statement; update -> audit_rows()
--   shift:
--     shift_audit_del                  AFTER, each statement; delete -> audit_rows()
--     shift_audit_ins                  AFTER, each statement; insert -> audit_rows()
--     shift_audit_upd                  AFTER, each statement; update -> audit_rows()
--   shift_exception:
--     shift_exception_audit_del        AFTER, each statement; delete -> audit_rows()
--     shift_exception_audit_ins        AFTER, each statement; insert -> audit_rows()
--     shift_exception_audit_upd        AFTER, each statement; update -> audit_rows()
--   time_off:
--     time_off_audit_del               AFTER, each statement; delete -> audit_rows()
--     time_off_audit_ins               AFTER, each statement; insert -> audit_rows()
--     time_off_audit_upd               AFTER, each statement; update -> audit_rows()
--   visit:
--     visit_keep_created               BEFORE, each row; insert or update -> clinic_keep_created()
--     visit_audit_del                  AFTER, each statement; delete -> audit_rows()
--     visit_audit_ins                  AFTER, each statement; insert -> audit_rows()
--     visit_audit_upd                  AFTER, each statement; update -> audit_rows()
--   waitlist_entry:
--     waitlist_entry_keep_created      BEFORE, each row; insert or update -> clinic_keep_created()
--     waitlist_entry_audit_del         AFTER, each statement; delete -> audit_rows()
--     waitlist_entry_audit_ins         AFTER, each statement; insert -> audit_rows()
--     waitlist_entry_audit_upd         AFTER, each statement; update -> audit_rows()
--   waitlist_offer:
--     waitlist_offer_audit_ins         AFTER, each statement; insert -> audit_rows()
--     waitlist_offer_audit_upd         AFTER, each statement; update -> audit_rows()
--
-- Why this order is right: the audit triggers are AFTER triggers, so they record the rows as every
-- BEFORE trigger left them (the database's stamps included); *_keep_created and *_id_fixed are
-- BEFORE triggers that only refuse or set created_at/created_by, and sort before anything that
-- could read those columns on their tables.

-- audit_rows() (migrations 0001, 0005, 0007)
-- Audit: one row per changed row, written per statement from transition tables.
CREATE OR REPLACE FUNCTION public.audit_rows()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    why text := nullif(current_setting('clinic.reason', true), '');
    derived text[] := CASE TG_TABLE_NAME
                          WHEN 'appointment' THEN ARRAY['local_start', 'lead_days', 'doctor_id']
                          WHEN 'booking' THEN ARRAY['branch_id', 'local_day', 'start_min', 'end_min']
                          ELSE '{}' END;
BEGIN
    IF TG_RELID NOT IN ('public.appointment'::regclass, 'public.booking'::regclass, 'public.branch'::regclass, 'public.holiday'::regclass, 'public.opening_hours'::regclass, 'public.patient'::regclass, 'public.payment'::regclass, 'public.reminder_rule'::regclass, 'public.resource'::regclass, 'public.series'::regclass, 'public.service'::regclass, 'public.shift'::regclass, 'public.shift_exception'::regclass, 'public.time_off'::regclass, 'public.visit'::regclass, 'public.waitlist_entry'::regclass, 'public.waitlist_offer'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
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
END $function$;

-- audit_row() (migrations 0009)
CREATE OR REPLACE FUNCTION public.audit_row()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    o jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    n jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
BEGIN
    IF TG_RELID NOT IN ('public.clinic_setting'::regclass, 'public.reminder'::regclass) THEN
        RAISE EXCEPTION 'audit_row() fires on clinic tables only' USING ERRCODE = 'CL009';
    END IF;
    INSERT INTO public.audit_log (db_user, txid, table_name, row_id, action, old_row, new_row, reason)
    VALUES (session_user, txid_current(), TG_TABLE_NAME, coalesce((coalesce(n, o)->>'id')::bigint, 0), TG_OP, o, n,
            nullif(current_setting('clinic.reason', true), ''));
    RETURN NULL;
END $function$;

-- clinic_keep_created() (migrations 0009)
-- Who made a row, and when: the database's (patients, visits, series, waitlist entries).
CREATE OR REPLACE FUNCTION public.clinic_keep_created()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.patient'::regclass, 'public.visit'::regclass, 'public.series'::regclass,
                        'public.waitlist_entry'::regclass) THEN
        RAISE EXCEPTION 'clinic_keep_created() fires on clinic tables only' USING ERRCODE = 'CL009';
    END IF;
    IF public.clinic_is_owner() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        NEW.created_at := now();
        NEW.created_by := session_user;
    ELSIF NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.created_by IS DISTINCT FROM OLD.created_by THEN
        RAISE EXCEPTION '%: who created a row and when are recorded by the database', TG_TABLE_NAME
            USING ERRCODE = 'check_violation', CONSTRAINT = TG_TABLE_NAME || '_history';
    END IF;
    RETURN NEW;
END $function$;

-- clinic_refuse_change() (migrations 0003)
CREATE OR REPLACE FUNCTION public.clinic_refuse_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    RAISE EXCEPTION '% rows are never changed or deleted (record a refund instead)', TG_TABLE_NAME
        USING ERRCODE = 'check_violation';
END $function$;

-- clinic_refuse_id_change() (migrations 0001)
CREATE OR REPLACE FUNCTION public.clinic_refuse_id_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    RAISE EXCEPTION '%.id cannot change', TG_TABLE_NAME USING ERRCODE = 'check_violation';
END $function$;

-- Triggers (dropped and created again: a trigger has no CREATE OR REPLACE for constraint triggers).
DROP TRIGGER IF EXISTS appointment_audit_del ON appointment;
CREATE TRIGGER appointment_audit_del AFTER DELETE ON appointment
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS appointment_audit_ins ON appointment;
CREATE TRIGGER appointment_audit_ins AFTER INSERT ON appointment
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS appointment_audit_upd ON appointment;
CREATE TRIGGER appointment_audit_upd AFTER UPDATE ON appointment
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS appointment_id_fixed ON appointment;
CREATE TRIGGER appointment_id_fixed BEFORE UPDATE OF id ON appointment
    FOR EACH ROW
    WHEN (old.id IS DISTINCT FROM new.id)
    EXECUTE FUNCTION clinic_refuse_id_change();
DROP TRIGGER IF EXISTS booking_audit_del ON booking;
CREATE TRIGGER booking_audit_del AFTER DELETE ON booking
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS booking_audit_ins ON booking;
CREATE TRIGGER booking_audit_ins AFTER INSERT ON booking
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS booking_audit_upd ON booking;
CREATE TRIGGER booking_audit_upd AFTER UPDATE ON booking
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS booking_id_fixed ON booking;
CREATE TRIGGER booking_id_fixed BEFORE UPDATE OF id ON booking
    FOR EACH ROW
    WHEN (old.id IS DISTINCT FROM new.id)
    EXECUTE FUNCTION clinic_refuse_id_change();
DROP TRIGGER IF EXISTS branch_audit_del ON branch;
CREATE TRIGGER branch_audit_del AFTER DELETE ON branch
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS branch_audit_ins ON branch;
CREATE TRIGGER branch_audit_ins AFTER INSERT ON branch
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS branch_audit_upd ON branch;
CREATE TRIGGER branch_audit_upd AFTER UPDATE ON branch
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS clinic_setting_audit ON clinic_setting;
CREATE TRIGGER clinic_setting_audit AFTER INSERT OR DELETE OR UPDATE ON clinic_setting
    FOR EACH ROW
    EXECUTE FUNCTION audit_row();
DROP TRIGGER IF EXISTS holiday_audit_del ON holiday;
CREATE TRIGGER holiday_audit_del AFTER DELETE ON holiday
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS holiday_audit_ins ON holiday;
CREATE TRIGGER holiday_audit_ins AFTER INSERT ON holiday
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS holiday_audit_upd ON holiday;
CREATE TRIGGER holiday_audit_upd AFTER UPDATE ON holiday
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS opening_hours_audit_del ON opening_hours;
CREATE TRIGGER opening_hours_audit_del AFTER DELETE ON opening_hours
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS opening_hours_audit_ins ON opening_hours;
CREATE TRIGGER opening_hours_audit_ins AFTER INSERT ON opening_hours
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS opening_hours_audit_upd ON opening_hours;
CREATE TRIGGER opening_hours_audit_upd AFTER UPDATE ON opening_hours
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS patient_audit_del ON patient;
CREATE TRIGGER patient_audit_del AFTER DELETE ON patient
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS patient_audit_ins ON patient;
CREATE TRIGGER patient_audit_ins AFTER INSERT ON patient
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS patient_audit_upd ON patient;
CREATE TRIGGER patient_audit_upd AFTER UPDATE ON patient
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS patient_keep_created ON patient;
CREATE TRIGGER patient_keep_created BEFORE INSERT OR UPDATE ON patient
    FOR EACH ROW
    EXECUTE FUNCTION clinic_keep_created();
DROP TRIGGER IF EXISTS payment_audit_ins ON payment;
CREATE TRIGGER payment_audit_ins AFTER INSERT ON payment
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS payment_immutable ON payment;
CREATE TRIGGER payment_immutable BEFORE DELETE OR UPDATE ON payment
    FOR EACH ROW
    EXECUTE FUNCTION clinic_refuse_change();
DROP TRIGGER IF EXISTS reminder_handled_audit ON reminder;
CREATE TRIGGER reminder_handled_audit AFTER UPDATE OF handled_at, handled_by ON reminder
    FOR EACH ROW
    WHEN (old.handled_at IS DISTINCT FROM new.handled_at OR old.handled_by IS DISTINCT FROM new.handled_by)
    EXECUTE FUNCTION audit_row();
DROP TRIGGER IF EXISTS reminder_rule_audit_del ON reminder_rule;
CREATE TRIGGER reminder_rule_audit_del AFTER DELETE ON reminder_rule
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS reminder_rule_audit_ins ON reminder_rule;
CREATE TRIGGER reminder_rule_audit_ins AFTER INSERT ON reminder_rule
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS reminder_rule_audit_upd ON reminder_rule;
CREATE TRIGGER reminder_rule_audit_upd AFTER UPDATE ON reminder_rule
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS resource_audit_del ON resource;
CREATE TRIGGER resource_audit_del AFTER DELETE ON resource
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS resource_audit_ins ON resource;
CREATE TRIGGER resource_audit_ins AFTER INSERT ON resource
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS resource_audit_upd ON resource;
CREATE TRIGGER resource_audit_upd AFTER UPDATE ON resource
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS series_audit_del ON series;
CREATE TRIGGER series_audit_del AFTER DELETE ON series
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS series_audit_ins ON series;
CREATE TRIGGER series_audit_ins AFTER INSERT ON series
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS series_audit_upd ON series;
CREATE TRIGGER series_audit_upd AFTER UPDATE ON series
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS series_keep_created ON series;
CREATE TRIGGER series_keep_created BEFORE INSERT OR UPDATE ON series
    FOR EACH ROW
    EXECUTE FUNCTION clinic_keep_created();
DROP TRIGGER IF EXISTS service_audit_del ON service;
CREATE TRIGGER service_audit_del AFTER DELETE ON service
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS service_audit_ins ON service;
CREATE TRIGGER service_audit_ins AFTER INSERT ON service
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS service_audit_upd ON service;
CREATE TRIGGER service_audit_upd AFTER UPDATE ON service
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS shift_audit_del ON shift;
CREATE TRIGGER shift_audit_del AFTER DELETE ON shift
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS shift_audit_ins ON shift;
CREATE TRIGGER shift_audit_ins AFTER INSERT ON shift
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS shift_audit_upd ON shift;
CREATE TRIGGER shift_audit_upd AFTER UPDATE ON shift
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS shift_exception_audit_del ON shift_exception;
CREATE TRIGGER shift_exception_audit_del AFTER DELETE ON shift_exception
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS shift_exception_audit_ins ON shift_exception;
CREATE TRIGGER shift_exception_audit_ins AFTER INSERT ON shift_exception
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS shift_exception_audit_upd ON shift_exception;
CREATE TRIGGER shift_exception_audit_upd AFTER UPDATE ON shift_exception
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS time_off_audit_del ON time_off;
CREATE TRIGGER time_off_audit_del AFTER DELETE ON time_off
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS time_off_audit_ins ON time_off;
CREATE TRIGGER time_off_audit_ins AFTER INSERT ON time_off
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS time_off_audit_upd ON time_off;
CREATE TRIGGER time_off_audit_upd AFTER UPDATE ON time_off
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS visit_audit_del ON visit;
CREATE TRIGGER visit_audit_del AFTER DELETE ON visit
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS visit_audit_ins ON visit;
CREATE TRIGGER visit_audit_ins AFTER INSERT ON visit
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS visit_audit_upd ON visit;
CREATE TRIGGER visit_audit_upd AFTER UPDATE ON visit
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS visit_keep_created ON visit;
CREATE TRIGGER visit_keep_created BEFORE INSERT OR UPDATE ON visit
    FOR EACH ROW
    EXECUTE FUNCTION clinic_keep_created();
DROP TRIGGER IF EXISTS waitlist_entry_audit_del ON waitlist_entry;
CREATE TRIGGER waitlist_entry_audit_del AFTER DELETE ON waitlist_entry
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS waitlist_entry_audit_ins ON waitlist_entry;
CREATE TRIGGER waitlist_entry_audit_ins AFTER INSERT ON waitlist_entry
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS waitlist_entry_audit_upd ON waitlist_entry;
CREATE TRIGGER waitlist_entry_audit_upd AFTER UPDATE ON waitlist_entry
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS waitlist_entry_keep_created ON waitlist_entry;
CREATE TRIGGER waitlist_entry_keep_created BEFORE INSERT OR UPDATE ON waitlist_entry
    FOR EACH ROW
    EXECUTE FUNCTION clinic_keep_created();
DROP TRIGGER IF EXISTS waitlist_offer_audit_ins ON waitlist_offer;
CREATE TRIGGER waitlist_offer_audit_ins AFTER INSERT ON waitlist_offer
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
DROP TRIGGER IF EXISTS waitlist_offer_audit_upd ON waitlist_offer;
CREATE TRIGGER waitlist_offer_audit_upd AFTER UPDATE ON waitlist_offer
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION audit_rows();
