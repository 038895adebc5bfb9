-- Policy and money: payments minus refunds over an appointment and the ones rescheduled into it
-- (clinic_net_paid_cents: what "the deposit is paid" means), and a payment's guard (the database's
-- time and actor, the clinic's ceiling, refunds never above what was paid). Payments are immutable:
-- payment_immutable (audit.sql) refuses UPDATE and DELETE.
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
--   payment:
--     payment_guard                    BEFORE, each row; insert -> payment_guard()
--   receipt:
--     receipt_issue                    BEFORE, each row; insert -> receipt_issue()
--
-- Why this order is right: on INSERT only payment_guard fires (payment_immutable is for UPDATE and
-- DELETE); refunds lock the appointment row first, so two refunds of one appointment take turns.

-- clinic_net_paid_cents(bigint) (migrations 0009)
-- Payments minus refunds (cents) over an appointment and every appointment rescheduled into it.
CREATE OR REPLACE FUNCTION public.clinic_net_paid_cents(appt bigint) RETURNS bigint
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH RECURSIVE chain(id) AS (
        SELECT appt
        UNION
        SELECT a.id FROM public.appointment a JOIN chain c ON a.rescheduled_to = c.id
    )
    SELECT coalesce(sum(CASE WHEN p.kind = 'payment' THEN p.amount_cents ELSE -p.amount_cents END), 0)
      FROM public.payment p JOIN chain c ON p.appointment_id = c.id;
END;

-- payment_guard() (migrations 0009)
-- Payments: the database's time and actor; refunds never exceed payments; a ceiling on amounts.
CREATE OR REPLACE FUNCTION public.payment_guard()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    net bigint;
    ceiling integer := public.clinic_setting_int('max_amount_cents', 500000);
BEGIN
    IF TG_RELID <> 'public.payment'::regclass THEN
        RAISE EXCEPTION 'payment_guard() fires on public.payment only' USING ERRCODE = 'CL009';
    END IF;
    IF NOT public.clinic_is_owner() THEN
        NEW.taken_at := now();
        NEW.taken_by := session_user;
    END IF;
    IF NEW.amount_cents > ceiling THEN
        RAISE EXCEPTION 'payment of % cents is above the clinic''s ceiling of % cents', NEW.amount_cents, ceiling
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_ceiling';
    END IF;
    IF NEW.kind = 'refund' THEN
        PERFORM 1 FROM public.appointment WHERE id = NEW.appointment_id FOR UPDATE;   -- one refund at a time
        net := public.clinic_net_paid_cents(NEW.appointment_id);
        IF NEW.amount_cents > net THEN
            RAISE EXCEPTION 'refund of % cents is more than the % cents paid for appointment %',
                            NEW.amount_cents, net, NEW.appointment_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_refund_limit';
        END IF;
    END IF;
    RETURN NEW;
END $function$;

-- Triggers (dropped and created again: a trigger has no CREATE OR REPLACE for constraint triggers).
DROP TRIGGER IF EXISTS payment_guard ON payment;
CREATE TRIGGER payment_guard BEFORE INSERT ON payment
    FOR EACH ROW
    EXECUTE FUNCTION payment_guard();

-- receipt_issue() (migrations 0013)
-- A receipt's number, totals, time and login are the database's: the next number after the highest
-- (no sequence, so a rolled-back print leaves no gap; two prints at once collide on the primary key
-- and SERIALIZABLE turns that into a serialization failure the runner retries), the appointment's
-- payments and refunds over its reschedule chain (as clinic_net_paid_cents), now() and session_user.
CREATE OR REPLACE FUNCTION public.receipt_issue()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID <> 'public.receipt'::regclass THEN
        RAISE EXCEPTION 'receipt_issue() fires on public.receipt only' USING ERRCODE = 'CL009';
    END IF;
    NEW.number := (SELECT coalesce(max(r.number), 0) + 1 FROM receipt r);
    WITH RECURSIVE chain(id) AS (
        SELECT NEW.appointment_id
        UNION
        SELECT a.id FROM appointment a JOIN chain c ON a.rescheduled_to = c.id
    )
    SELECT coalesce(sum(p.amount_cents) FILTER (WHERE p.kind = 'payment'), 0),
           coalesce(sum(p.amount_cents) FILTER (WHERE p.kind <> 'payment'), 0)
      INTO NEW.paid_cents, NEW.refunded_cents
      FROM payment p JOIN chain c ON p.appointment_id = c.id;
    NEW.issued_at := now();
    NEW.issued_by := session_user;
    RETURN NEW;
END $function$;

-- The receipt table arrives with migration 0013; migration 0010 applies this file on an older
-- schema, where there is no table to put the trigger on yet.
DO $$
BEGIN
    IF to_regclass('public.receipt') IS NOT NULL THEN
        DROP TRIGGER IF EXISTS receipt_issue ON receipt;
        CREATE TRIGGER receipt_issue BEFORE INSERT ON receipt FOR EACH ROW EXECUTE FUNCTION receipt_issue();
    END IF;
END $$;
