-- Helpers: small functions the other files, the indexes, the constraints and the clinic roles' own
-- statements call. Most have SQL-standard bodies (RETURN … / BEGIN ATOMIC: their names are bound
-- when they are created, nothing at run time can shadow them, and the planner inlines them).
-- Applied first: the other files call them.
--
-- clinic_fold (accent- and case-folding for search), clinic_status_is_live (cancelled and
-- rescheduled are not live), clinic_is_owner (the owner and superusers, who migrate and load
-- fixtures, are bound by fewer history rules), clinic_is_timezone (branch.timezone's CHECK),
-- clinic_setting_int (a clinic_setting as an integer with a default), clinic_local_instant (a
-- local wall-clock minute as the slot engine reads it, DST included), clinic_may_override,
-- clinic_take_override and clinic_log_override (a manager's logged override, clinic.override).
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
-- No triggers in this file.

-- clinic_fold(text) (migrations 0001, 0009)
CREATE OR REPLACE FUNCTION public.clinic_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN lower(public.unaccent('public.unaccent'::regdictionary, t));

-- clinic_status_is_live(text) (migrations 0001, 0009)
CREATE OR REPLACE FUNCTION public.clinic_status_is_live(s text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN s NOT IN ('cancelled', 'rescheduled');

-- clinic_is_owner() (migrations 0009)
-- Is the login the database owner or a superuser (who migrate, load fixtures, and could disable
-- any trigger anyway)? The history rules (appointments_bookings.sql, audit.sql) bind everyone else.
CREATE OR REPLACE FUNCTION public.clinic_is_owner() RETURNS boolean
LANGUAGE sql STABLE
RETURN (SELECT r.rolsuper OR r.oid = d.datdba FROM pg_catalog.pg_roles r, pg_catalog.pg_database d
         WHERE r.rolname = session_user AND d.datname = current_database());

-- clinic_is_timezone(text) (migrations 0001)
CREATE OR REPLACE FUNCTION public.clinic_is_timezone(tz text)
 RETURNS boolean
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    PERFORM now() AT TIME ZONE tz;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END $function$;

-- clinic_setting_int(text,integer) (migrations 0003)
CREATE OR REPLACE FUNCTION public.clinic_setting_int(k text, dflt integer)
 RETURNS integer
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
    SELECT coalesce((SELECT (value #>> '{}')::integer FROM clinic_setting WHERE key = k), dflt)
$function$;

-- clinic_local_instant(date,integer,text,boolean) (migrations 0009)
-- The UTC instant of wall-clock minute ``m`` (may exceed 1440) of local date ``d`` in zone ``tz``,
-- as the slot engine reads it (domain/wallclock.local_to_utc): a repeated time is its earliest
-- instance, or its latest with ``latest``; a time in a gap is read with the offset before the change.
-- PostgreSQL's own reading is the latest instance and the offset before a gap, so only the
-- earliest instance needs looking for (clock changes of 1 h, 30 min or 2 h).
CREATE OR REPLACE FUNCTION public.clinic_local_instant(d date, m integer, tz text, latest boolean) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE
    WHEN latest THEN (d + make_interval(mins => m)) AT TIME ZONE tz
    WHEN (((d + make_interval(mins => m)) AT TIME ZONE tz) - interval '1 hour') AT TIME ZONE tz
         = d + make_interval(mins => m)
        THEN ((d + make_interval(mins => m)) AT TIME ZONE tz) - interval '1 hour'
    WHEN (((d + make_interval(mins => m)) AT TIME ZONE tz) - interval '30 minutes') AT TIME ZONE tz
         = d + make_interval(mins => m)
        THEN ((d + make_interval(mins => m)) AT TIME ZONE tz) - interval '30 minutes'
    WHEN (((d + make_interval(mins => m)) AT TIME ZONE tz) - interval '2 hours') AT TIME ZONE tz
         = d + make_interval(mins => m)
        THEN ((d + make_interval(mins => m)) AT TIME ZONE tz) - interval '2 hours'
    ELSE (d + make_interval(mins => m)) AT TIME ZONE tz END;

-- clinic_may_override() (migrations 0003)
CREATE OR REPLACE FUNCTION public.clinic_may_override()
 RETURNS boolean
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
    SELECT pg_has_role(session_user, 'clinic_manager', 'MEMBER')
        OR pg_has_role(session_user, 'clinic_admin', 'MEMBER')
$function$;

-- clinic_take_override(text,bigint,jsonb) (migrations 0009)
-- An override in this transaction (``clinic.override`` = the reason) by someone who may: logged
-- once per (appointment, kind) — not again when this transaction logged it already, also inside a
-- forced move's list of skipped rules (services/overrides.py). Returns whether the rule may be bent.
CREATE OR REPLACE FUNCTION public.clinic_take_override(k text, appt bigint, info jsonb)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    why text := nullif(btrim(current_setting('clinic.override', true)), '');
BEGIN
    IF why IS NULL OR NOT public.clinic_may_override() THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM public.override_log o
                    WHERE o.txid = txid_current() AND o.appointment_id = appt
                      AND (o.kind = k OR coalesce(o.detail->'skipped', '[]') ? k)) THEN
        INSERT INTO public.override_log (kind, appointment_id, reason, detail) VALUES (k, appt, why, info);
    END IF;
    RETURN true;
END $function$;

-- clinic_log_override(text,bigint,text,jsonb) (migrations 0003)
CREATE OR REPLACE FUNCTION public.clinic_log_override(k text, appt bigint, why text, info jsonb)
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    new_id bigint;
BEGIN
    IF NOT clinic_may_override() THEN
        RAISE EXCEPTION 'only a manager or an administrator may override the clinic''s rules'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO override_log (kind, appointment_id, reason, detail)
    VALUES (k, appt, why, coalesce(info, '{}')) RETURNING id INTO new_id;
    RETURN new_id;
END $function$;
