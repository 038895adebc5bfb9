-- Reminders: which reminders an appointment gets (clinic_reminder_rules, clinic_plan_reminders,
-- quiet hours by clinic_quiet_adjust), planned when appointments are inserted or change; a consent
-- change is recorded in consent_event; new reminders wake the reminder service (clinic_reminders).
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
--     appointment_reminders_ins        AFTER, each statement; insert -> appointment_plan_reminders_ins()
--     appointment_reminders_upd        AFTER, each statement; update -> appointment_plan_reminders_upd()
--   patient:
--     patient_consent_ins              AFTER, each row (end of statement); insert -> patient_consent_changed()
--     patient_consent_upd              AFTER, each row (end of statement); update of consent_channels -> patient_consent_changed()
--   reminder:
--     reminder_notify                  AFTER, each statement; insert -> notify_reminders()
--
-- Why this order is right: reminders are planned AFTER each statement, from the transition tables,
-- once the appointment rows (and their BEFORE triggers' stamps) are final; appointment_notify_*
-- (notify.sql) sort before appointment_reminders_*, which is harmless: NOTIFY is sent at commit.

-- clinic_quiet_adjust(timestamp with time zone,text,text,integer,integer) (migrations 0004)
-- Quiet hours: an SMS or WhatsApp due inside them moves to their end (branch-local, DST-correct).
CREATE OR REPLACE FUNCTION public.clinic_quiet_adjust(due timestamp with time zone, channel text, tz text, qfrom integer, quntil integer)
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    loc timestamp;
    m   integer;
BEGIN
    IF channel NOT IN ('sms', 'whatsapp') OR qfrom = quntil THEN
        RETURN due;
    END IF;
    loc := due AT TIME ZONE tz;
    m := extract(hour FROM loc)::integer * 60 + extract(minute FROM loc)::integer;
    IF qfrom > quntil THEN                       -- wraps midnight, e.g. 21:00-08:00
        IF m >= qfrom THEN
            RETURN ((loc::date + 1) + make_interval(mins => quntil)) AT TIME ZONE tz;
        ELSIF m < quntil THEN
            RETURN (loc::date + make_interval(mins => quntil)) AT TIME ZONE tz;
        END IF;
    ELSIF m >= qfrom AND m < quntil THEN
        RETURN (loc::date + make_interval(mins => quntil)) AT TIME ZONE tz;
    END IF;
    RETURN due;
END $function$;

-- clinic_reminder_rules(integer,integer,text) (migrations 0004)
-- The rules of the most specific scope that has any (see the module docstring).
CREATE OR REPLACE FUNCTION public.clinic_reminder_rules(b integer, s integer, p text)
 RETURNS SETOF reminder_rule
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
    WITH scoped AS (
        SELECT r.*, (CASE WHEN r.service_id IS NOT NULL THEN 2 ELSE 0 END
                     + CASE WHEN r.branch_id IS NOT NULL THEN 1 ELSE 0 END) AS rank
          FROM reminder_rule r
         WHERE r.purpose = p AND (r.branch_id = b OR r.branch_id IS NULL)
           AND (r.service_id = s OR r.service_id IS NULL))
    SELECT id, branch_id, service_id, purpose, name, days, at_local, minutes, active FROM scoped
     WHERE active AND rank = (SELECT max(rank) FROM scoped)
$function$;

-- clinic_plan_reminders(bigint[],text[]) (migrations 0004; 0011: generic plans, no empty INSERT)
-- Plan reminders of ``kinds`` (confirmation, payment: at once; reminder, follow_up: by the rules)
-- for the appointments ``ids``; returns how many rows were queued.
CREATE OR REPLACE FUNCTION public.clinic_plan_reminders(ids bigint[], kinds text[])
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
    n integer;
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN 0;
    END IF;
    -- No patient of ``ids`` can be reached on a channel they consented to: the INSERT below would
    -- queue nothing. Skip it, so that no empty INSERT wakes the reminder service (reminder_notify).
    IF NOT EXISTS (SELECT 1 FROM appointment a JOIN patient p ON p.id = a.patient_id
                    WHERE a.id = ANY(ids)
                      AND (('email' = ANY(p.consent_channels) AND p.email IS NOT NULL)
                           OR (p.consent_channels && ARRAY['sms', 'whatsapp'] AND p.phone IS NOT NULL))) THEN
        RETURN 0;
    END IF;
    WITH a AS (
        SELECT a.id, a.starts_at, a.ends_at, a.branch_id, a.service_id, b.timezone AS tz,
               b.quiet_from_min AS qf, b.quiet_until_min AS qu, p.consent_channels, p.phone, p.email
          FROM appointment a JOIN branch b ON b.id = a.branch_id JOIN patient p ON p.id = a.patient_id
         WHERE a.id = ANY(ids)),
    plan AS (
        SELECT a.*, k AS purpose, NULL::integer AS rule_id, now() AS planned_at
          FROM a, unnest(kinds) AS k WHERE k IN ('confirmation', 'payment')
        UNION ALL
        SELECT a.*, r.purpose, r.id,
               CASE WHEN r.purpose = 'reminder' AND r.at_local IS NOT NULL
                        THEN (((a.starts_at AT TIME ZONE a.tz)::date - r.days) + r.at_local) AT TIME ZONE a.tz
                    WHEN r.purpose = 'reminder'
                        THEN (((a.starts_at AT TIME ZONE a.tz) - make_interval(days => r.days)) AT TIME ZONE a.tz)
                             - make_interval(mins => r.minutes)
                    WHEN r.at_local IS NOT NULL
                        THEN (((a.ends_at AT TIME ZONE a.tz)::date + r.days) + r.at_local) AT TIME ZONE a.tz
                    ELSE (((a.ends_at AT TIME ZONE a.tz) + make_interval(days => r.days)) AT TIME ZONE a.tz)
                         + make_interval(mins => r.minutes) END
          FROM a, unnest(kinds) AS k, LATERAL clinic_reminder_rules(a.branch_id, a.service_id, k) r
         WHERE k IN ('reminder', 'follow_up'))
    INSERT INTO reminder (appointment_id, channel, purpose, due_at, planned_at, rule_id)
    SELECT plan.id, ch, plan.purpose, d.due, plan.planned_at, plan.rule_id
      FROM plan
     CROSS JOIN LATERAL unnest(plan.consent_channels) AS ch
     CROSS JOIN LATERAL (SELECT clinic_quiet_adjust(greatest(plan.planned_at, now()), ch, plan.tz,
                                                    plan.qf, plan.qu) AS due) d
     WHERE ((ch = 'email' AND plan.email IS NOT NULL) OR (ch IN ('sms', 'whatsapp') AND plan.phone IS NOT NULL))
       AND (plan.purpose = 'follow_up' OR d.due < plan.starts_at)
       AND (plan.purpose <> 'reminder' OR plan.planned_at > now());
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $function$;

-- appointment_plan_reminders_ins() (migrations 0004)
CREATE OR REPLACE FUNCTION public.appointment_plan_reminders_ins()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.appointment'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM new_rows WHERE source <> 'import' AND starts_at > now()
                                            AND status IN ('confirmed', 'payment_pending')) THEN
        RETURN NULL;                                  -- bulk imports stop here
    END IF;
    PERFORM clinic_plan_reminders(ARRAY(SELECT id FROM new_rows WHERE status = 'confirmed'
                                          AND source <> 'import' AND starts_at > now()),
                                  ARRAY['confirmation', 'reminder']);
    PERFORM clinic_plan_reminders(ARRAY(SELECT id FROM new_rows WHERE status = 'payment_pending'
                                          AND source <> 'import' AND starts_at > now()),
                                  ARRAY['payment']);
    RETURN NULL;
END $function$;

-- appointment_plan_reminders_upd() (migrations 0004)
CREATE OR REPLACE FUNCTION public.appointment_plan_reminders_upd()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    changed record;
    confirmed bigint[] := '{}';
    moved bigint[] := '{}';
    pending_payment bigint[] := '{}';
    completed bigint[] := '{}';
    any_change boolean := false;
BEGIN
    IF TG_RELID NOT IN ('public.appointment'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    FOR changed IN
        SELECT n.id, o.status AS old_status, n.status AS new_status,
               (n.starts_at, n.branch_id, n.service_id) IS DISTINCT FROM (o.starts_at, o.branch_id, o.service_id)
                   AS moved,
               n.source <> 'import' AS ours, n.starts_at > now() AS future
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.status IS DISTINCT FROM o.status
            OR (n.starts_at, n.branch_id, n.service_id) IS DISTINCT FROM (o.starts_at, o.branch_id, o.service_id)
    LOOP
        any_change := true;
        IF changed.ours AND changed.future AND changed.new_status = 'confirmed' THEN
            IF changed.old_status <> 'confirmed' THEN
                confirmed := confirmed || changed.id;
            ELSIF changed.moved THEN
                moved := moved || changed.id;
            END IF;
        END IF;
        IF changed.ours AND changed.future AND changed.new_status = 'payment_pending'
           AND changed.old_status <> 'payment_pending' THEN
            pending_payment := pending_payment || changed.id;
        END IF;
        IF changed.ours AND changed.new_status = 'completed' AND changed.old_status <> 'completed' THEN
            completed := completed || changed.id;
        END IF;
    END LOOP;
    IF NOT any_change THEN
        RETURN NULL;
    END IF;
    UPDATE reminder r
       SET status = 'cancelled', next_attempt_at = NULL, lease_until = NULL,
           last_error = CASE WHEN n.status <> o.status THEN 'appointment ' || replace(n.status, '_', ' ')
                             ELSE 'appointment moved' END
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE r.appointment_id = n.id AND r.status = 'pending'
       AND ((n.status <> o.status AND n.status IN ('cancelled', 'rescheduled'))
            OR (n.status <> o.status AND n.status IN ('checked_in', 'in_progress', 'completed', 'no_show')
                AND r.purpose IN ('confirmation', 'reminder', 'payment', 'waitlist_offer'))
            OR (o.status = 'payment_pending' AND n.status <> 'payment_pending' AND r.purpose = 'payment')
            OR ((n.starts_at, n.branch_id, n.service_id) IS DISTINCT FROM (o.starts_at, o.branch_id, o.service_id)
                AND r.rule_id IS NOT NULL AND r.purpose = 'reminder'));
    PERFORM clinic_plan_reminders(confirmed, ARRAY['confirmation', 'reminder']);
    PERFORM clinic_plan_reminders(moved, ARRAY['reminder']);
    PERFORM clinic_plan_reminders(pending_payment, ARRAY['payment']);
    PERFORM clinic_plan_reminders(completed, ARRAY['follow_up']);
    RETURN NULL;
END $function$;

-- notify_reminders() (migrations 0004)
-- Wake the reminder service when reminders are queued (it then looks for the next due one).
-- No transition table: an import's COPY of old reminders costs one notification, not a copy of its rows.
CREATE OR REPLACE FUNCTION public.notify_reminders()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    PERFORM pg_notify('clinic_reminders', '');
    RETURN NULL;
END $function$;

-- patient_consent_changed() (migrations 0004)
-- Consent: history of grants and opt-outs; an opt-out cancels pending reminders at once.
-- Row triggers with WHEN clauses: a bulk import of patients without consent queues nothing.
CREATE OR REPLACE FUNCTION public.patient_consent_changed()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    why text := nullif(current_setting('clinic.reason', true), '');
    before text[] := CASE WHEN TG_OP = 'UPDATE' THEN OLD.consent_channels ELSE '{}' END;
BEGIN
    IF TG_RELID NOT IN ('public.patient'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    INSERT INTO consent_event (patient_id, channel, granted, reason)
    SELECT NEW.id, ch, true, why FROM unnest(NEW.consent_channels) AS ch WHERE NOT ch = ANY(before)
    UNION ALL
    SELECT NEW.id, ch, false, why FROM unnest(before) AS ch WHERE NOT ch = ANY(NEW.consent_channels);
    IF TG_OP = 'UPDATE' THEN
        UPDATE reminder r
           SET status = 'cancelled', next_attempt_at = NULL, lease_until = NULL,
               last_error = 'the patient opted out of ' || r.channel
          FROM appointment a
         WHERE a.patient_id = NEW.id AND r.appointment_id = a.id AND r.status = 'pending'
           AND r.channel IN ('email', 'sms', 'whatsapp') AND NOT r.channel = ANY(NEW.consent_channels);
    END IF;
    RETURN NULL;
END $function$;

-- Triggers (dropped and created again: a trigger has no CREATE OR REPLACE for constraint triggers).
DROP TRIGGER IF EXISTS appointment_reminders_ins ON appointment;
CREATE TRIGGER appointment_reminders_ins AFTER INSERT ON appointment
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION appointment_plan_reminders_ins();
DROP TRIGGER IF EXISTS appointment_reminders_upd ON appointment;
CREATE TRIGGER appointment_reminders_upd AFTER UPDATE ON appointment
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION appointment_plan_reminders_upd();
DROP TRIGGER IF EXISTS patient_consent_ins ON patient;
CREATE TRIGGER patient_consent_ins AFTER INSERT ON patient
    FOR EACH ROW
    WHEN (cardinality(new.consent_channels) > 0)
    EXECUTE FUNCTION patient_consent_changed();
DROP TRIGGER IF EXISTS patient_consent_upd ON patient;
CREATE TRIGGER patient_consent_upd AFTER UPDATE OF consent_channels ON patient
    FOR EACH ROW
    WHEN (old.consent_channels IS DISTINCT FROM new.consent_channels)
    EXECUTE FUNCTION patient_consent_changed();
DROP TRIGGER IF EXISTS reminder_notify ON reminder;
CREATE TRIGGER reminder_notify AFTER INSERT ON reminder
    FOR EACH STATEMENT
    EXECUTE FUNCTION notify_reminders();
