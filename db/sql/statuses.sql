-- Statuses: what a status change stamps and whether it is allowed (the transition table
-- status_transition is data, filled by migrations from domain/status.py).
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
--     appointment_checked_in_at        BEFORE, each row; insert or update of status, checked_in_at -> appointment_stamp_check_in()
--     appointment_lifecycle            BEFORE, each row; insert or update of status -> appointment_lifecycle()
--     appointment_transition           BEFORE, each row; update of status -> appointment_check_transition()
--     appointment_freed_slot           AFTER, each row (end of statement); update of status -> appointment_record_freed_slot()
--
-- Why this order is right: appointment_checked_in_at stamps the arrival before appointment_guard
-- (appointments_bookings.sql) compares checked_in_at with the old row; appointment_guard refuses a
-- statement that writes confirmed_at or cancelled_at itself *before* appointment_lifecycle stamps
-- them (g < l), so the stamps are the database's; appointment_transition runs last of the status
-- triggers (t), after every other BEFORE trigger has settled the new row, and sets updated_at.
-- appointment_freed_slot runs after the row is written, when the cancellation is certain.

-- appointment_stamp_check_in() (migrations 0002)
CREATE OR REPLACE FUNCTION public.appointment_stamp_check_in()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
END $function$;

-- appointment_lifecycle() (migrations 0003)
CREATE OR REPLACE FUNCTION public.appointment_lifecycle()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    s record;
BEGIN
    IF TG_RELID NOT IN ('public.appointment'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.policy_free_hours IS NULL OR NEW.policy_late_fee_cents IS NULL OR NEW.deposit_cents IS NULL THEN
            SELECT cancel_free_hours, late_cancel_fee_cents, deposit_cents INTO s
              FROM service WHERE id = NEW.service_id;
            NEW.policy_free_hours := coalesce(NEW.policy_free_hours, s.cancel_free_hours);
            NEW.policy_late_fee_cents := coalesce(NEW.policy_late_fee_cents, s.late_cancel_fee_cents);
            NEW.deposit_cents := coalesce(NEW.deposit_cents, s.deposit_cents);
        END IF;
    ELSIF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NEW;
    END IF;
    IF NEW.status = 'held' THEN
        IF NEW.hold_expires_at IS NULL OR (TG_OP = 'UPDATE' AND OLD.status <> 'held'
                                           AND NEW.hold_expires_at IS NOT DISTINCT FROM OLD.hold_expires_at) THEN
            NEW.hold_expires_at := now() + make_interval(mins => clinic_setting_int('hold_minutes', 5));
        END IF;
    ELSE
        NEW.hold_expires_at := NULL;
    END IF;
    IF NEW.status = 'confirmed' AND NEW.confirmed_at IS NULL THEN
        NEW.confirmed_at := now();
    END IF;
    IF NEW.status = 'cancelled' THEN
        NEW.cancelled_at := coalesce(NEW.cancelled_at, now());
        NEW.cancelled_by := coalesce(NEW.cancelled_by, 'clinic');
        NEW.cancelled_late := NEW.cancelled_at > NEW.starts_at - make_interval(hours => coalesce(NEW.policy_free_hours, 0));
    END IF;
    RETURN NEW;
END $function$;

-- appointment_check_transition() (migrations 0001, 0013)
-- Status transitions -------------------------------------------------------
-- An outcome is only known once the appointment has begun (0013, issue 16): nobody is a no-show,
-- and no visit is completed, before its start by the server's clock (now(), the transaction's
-- start; a client's clock is not asked). The desk offers "No-show" a grace later still
-- (clinic_setting no_show_grace_minutes, domain/status.py).
CREATE OR REPLACE FUNCTION public.appointment_check_transition()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM status_transition
                   WHERE from_status = OLD.status AND to_status = NEW.status) THEN
        RAISE EXCEPTION 'appointment %: status cannot change from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'CL001';
    END IF;
    IF NEW.status IN ('no_show', 'completed') AND now() < OLD.starts_at THEN
        RAISE EXCEPTION 'appointment %: cannot become % before its start at %', OLD.id, NEW.status, OLD.starts_at
            USING ERRCODE = 'CL001',
                  HINT = CASE NEW.status WHEN 'no_show' THEN 'not_started_no_show' ELSE 'not_started_complete' END;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $function$;

-- appointment_record_freed_slot() (migrations 0003)
CREATE OR REPLACE FUNCTION public.appointment_record_freed_slot()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    new_id bigint;
BEGIN
    IF TG_RELID NOT IN ('public.appointment'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    INSERT INTO freed_slot (appointment_id, branch_id, service_id, starts_at, ends_at, resource_ids)
    SELECT NEW.id, NEW.branch_id, NEW.service_id, NEW.starts_at, NEW.ends_at,
           coalesce(array_agg(b.resource_id ORDER BY b.resource_id), '{}')
      FROM booking b WHERE b.appointment_id = NEW.id
    ON CONFLICT (appointment_id) DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NOT NULL THEN
        PERFORM pg_notify('clinic_waitlist', new_id::text);
    END IF;
    RETURN NULL;
END $function$;

-- Triggers (dropped and created again: a trigger has no CREATE OR REPLACE for constraint triggers).
DROP TRIGGER IF EXISTS appointment_checked_in_at ON appointment;
CREATE TRIGGER appointment_checked_in_at BEFORE INSERT OR UPDATE OF status, checked_in_at ON appointment
    FOR EACH ROW
    EXECUTE FUNCTION appointment_stamp_check_in();
DROP TRIGGER IF EXISTS appointment_freed_slot ON appointment;
CREATE TRIGGER appointment_freed_slot AFTER UPDATE OF status ON appointment
    FOR EACH ROW
    WHEN ((old.status = ANY (ARRAY['requested'::text, 'confirmed'::text, 'payment_pending'::text])) AND (new.status = ANY (ARRAY['cancelled'::text, 'rescheduled'::text])) AND new.starts_at > now())
    EXECUTE FUNCTION appointment_record_freed_slot();
DROP TRIGGER IF EXISTS appointment_lifecycle ON appointment;
CREATE TRIGGER appointment_lifecycle BEFORE INSERT OR UPDATE OF status ON appointment
    FOR EACH ROW
    EXECUTE FUNCTION appointment_lifecycle();
DROP TRIGGER IF EXISTS appointment_transition ON appointment;
CREATE TRIGGER appointment_transition BEFORE UPDATE OF status ON appointment
    FOR EACH ROW
    WHEN (old.status IS DISTINCT FROM new.status)
    EXECUTE FUNCTION appointment_check_transition();
