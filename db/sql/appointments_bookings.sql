-- Appointments and bookings: the booking rules the database enforces for every client — a booking
-- covers its appointment with the service's buffers, books a resource of a kind the service needs,
-- within the doctor's shifts or the branch's hours, not on a holiday or in time off (or with a
-- manager's logged override); an appointment's history columns are the database's; at commit a
-- live appointment books exactly one resource of each kind its service needs; expired holds are
-- released by clinic_release_expired_holds.
--
-- Every definition here is the one the catalog held after migration 0009 (which pinned each
-- function's search_path and gave each SECURITY DEFINER trigger function its TG_RELID check), and
-- can be applied again on a migrated database: CREATE OR REPLACE FUNCTION keeps a function's owner
-- and grants; a trigger is dropped and created again (PostgreSQL has no CREATE OR REPLACE for a
-- constraint trigger), and ALTER TABLE … ENABLE ALWAYS TRIGGER keeps the report triggers firing when
-- a bulk load runs with session_replication_role = replica. "(migrations …)" names the migrations
-- that wrote a function before this file; "0011: …" marks a definition migration 0011 changed since
-- (db/versions/0011_booking_trigger_costs.py), "0012: …" one that migration 0012 changed
-- (db/versions/0012_faster_reports_and_import.py, section I). A change of rule edits this file; the migration that ships
-- it calls db.apply_sql_files() (tables and data stay in migrations).
--
-- Firing order on one table (PostgreSQL's, whatever file a trigger lives in; docs/database.md
-- lists every table's triggers together): BEFORE row triggers, by name; then, at the end of the
-- statement, AFTER row triggers (row by row, each row's by name) and AFTER statement triggers, by
-- name; deferred constraint triggers at COMMIT, in the order the changes were made.
--
-- Triggers of this file, per table, in the order PostgreSQL fires them:
--   appointment:
--     appointment_guard                BEFORE, each row; insert or update -> appointment_guard()
--     appointment_booking_live         AFTER, each row (end of statement); update of status, hold_expires_at -> appointment_sync_booking_live()
--     appointment_visit_status         AFTER, each row (end of statement); update of status -> appointment_visit_status()
--     appointment_bookings_cover       at COMMIT (deferred constraint triggers); update of starts_at, ends_at, branch_id -> appointment_check_bookings()
--     appointment_commit_check_ins     at COMMIT (deferred constraint triggers); insert -> appointment_commit_check()
--     appointment_commit_check_upd     at COMMIT (deferred constraint triggers); update of status, starts_at, ends_at, branch_id, service_id, rescheduled_to -> appointment_commit_check()
--   booking:
--     booking_check                    BEFORE, each row; insert or update of appointment_id, resource_id, period, live, hold_until -> booking_check()
--     booking_commit_check_del         at COMMIT (deferred constraint triggers); delete -> appointment_commit_check()
--     booking_commit_check_upd         at COMMIT (deferred constraint triggers); update of appointment_id, resource_id, period -> appointment_commit_check()
--
-- Why this order is right: appointment_guard runs before appointment_lifecycle (statuses.sql) and
-- appointment_report_local (reports.sql), so booked_at, created_at and the reset history columns
-- are set before the lifecycle stamps them and the report columns read them. booking_check runs
-- before booking_report_local (reports.sql), which derives the report columns from the period it
-- accepted. appointment_booking_live follows a status change into the bookings' live flag after the
-- appointment row is written (its UPDATE of booking fires booking_check, which reads the new status).
-- The commit checks are deferred so that an appointment and its bookings, written in separate
-- statements of one transaction, are judged together.

-- clinic_availability(integer,integer,timestamp with time zone,timestamp with time zone) (migrations 0009; 0011: generic plans)
-- Where resource ``res`` (NULL: the branch itself) may be booked at ``branch`` around [lo, hi):
-- the union of its windows on the local dates that can touch the interval — a doctor's weekly
-- shifts at that branch with their validity, replaced on a date by that date's shift exceptions
-- (rows without minutes: off that day; as services/catalog.py reads them, an exception at this
-- branch replaces the shifts of that date at this branch), the branch's opening hours for rooms, equipment and the branch — minus the branch's
-- holidays, each a whole local day. The slot engine's availability (domain/slots.py), in SQL.
CREATE OR REPLACE FUNCTION public.clinic_availability(res integer, branch integer, lo timestamp with time zone, hi timestamp with time zone)
 RETURNS tstzmultirange
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
    tz     text;
    k      text;
    d0     date;
    d1     date;
    avail  tstzmultirange;
    closed tstzmultirange;
BEGIN
    SELECT b.timezone INTO tz FROM public.branch b WHERE b.id = branch;
    IF res IS NOT NULL THEN
        SELECT r.kind INTO k FROM public.resource r WHERE r.id = res;
    END IF;
    d0 := (lo AT TIME ZONE tz)::date - 1;
    d1 := (hi AT TIME ZONE tz)::date;
    WITH days AS (
        SELECT g::date AS day, extract(isodow FROM g)::int - 1 AS wd
          FROM generate_series(d0::timestamp, d1::timestamp, interval '1 day') g
    ), rules AS (
        SELECT x.day, s.start_min::int AS s, s.end_min::int AS e
          FROM days x JOIN public.shift s ON s.resource_id = res AND s.branch_id = branch AND s.weekday = x.wd
           AND (s.valid_from IS NULL OR x.day >= s.valid_from) AND (s.valid_until IS NULL OR x.day <= s.valid_until)
         WHERE k = 'doctor'
           AND NOT EXISTS (SELECT 1 FROM public.shift_exception e
                            WHERE e.resource_id = res AND e.branch_id = branch AND e.local_date = x.day)
        UNION ALL
        SELECT x.day, e.start_min, e.end_min
          FROM days x JOIN public.shift_exception e
            ON e.resource_id = res AND e.branch_id = branch AND e.local_date = x.day AND e.start_min IS NOT NULL
         WHERE k = 'doctor'
        UNION ALL
        SELECT x.day, o.start_min, o.end_min
          FROM days x JOIN public.opening_hours o ON o.branch_id = branch AND o.weekday = x.wd
         WHERE k IS DISTINCT FROM 'doctor'
    )
    SELECT range_agg(tstzrange(public.clinic_local_instant(day, s, tz, false),
                               public.clinic_local_instant(day, CASE WHEN e <= s THEN e + 1440 ELSE e END, tz, true)))
      INTO avail FROM rules;
    SELECT range_agg(tstzrange(h.local_date::timestamp AT TIME ZONE tz, (h.local_date + 1)::timestamp AT TIME ZONE tz))
      INTO closed FROM public.holiday h
     WHERE h.branch_id = branch AND h.local_date BETWEEN d0 AND d1 + 1;
    RETURN coalesce(avail, '{}'::tstzmultirange) - coalesce(closed, '{}'::tstzmultirange);
END $function$;

-- booking_check() (migrations 0001, 0003, 0009; 0012: one lookup, the owner asked only where it decides)
-- booking_check, with holds and the time-off override ----------------------------------
-- One query reads the appointment, its service and the resource (it read them in two), and
-- clinic_is_owner() is asked only where its answer decides: when the resource is not of the kind
-- the service needs, and for a booking of an appointment that is not imported. The checks, their
-- order and their errors are as before (an imported booking: 2 queries instead of 3, and no
-- clinic_is_owner(); the full CSV import writes 79,192 of them).
CREATE OR REPLACE FUNCTION public.booking_check()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    a      record;
    off    record;
    why    text;
    needed text;
    avail  tstzmultirange;
    info   jsonb;
BEGIN
    IF TG_RELID <> 'public.booking'::regclass THEN
        RAISE EXCEPTION 'booking_check() fires on public.booking only' USING ERRCODE = 'CL009';
    END IF;
    SELECT x.status, x.branch_id, x.starts_at, x.ends_at, x.hold_expires_at, x.source, x.service_id,
           s.buffer_before_min, s.buffer_after_min, s.doctor_specialty, s.room_kind, s.equipment_kind,
           r.kind AS r_kind, r.category AS r_category, r.branch_id AS r_branch_id, r.name AS r_name
      INTO a
      FROM public.appointment x JOIN public.service s ON s.id = x.service_id
      LEFT JOIN public.resource r ON r.id = NEW.resource_id
     WHERE x.id = NEW.appointment_id;
    IF NOT FOUND THEN
        RETURN NEW;   -- the foreign key says so
    END IF;
    -- live always follows the appointment's status (also when someone sets the flag by hand).
    NEW.live := public.clinic_status_is_live(a.status);
    NEW.hold_until := a.hold_expires_at;
    IF NOT NEW.period @> tstzrange(a.starts_at, a.ends_at) THEN
        RAISE EXCEPTION 'booking of appointment % does not cover the appointment''s time', NEW.appointment_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF a.r_branch_id IS NOT NULL AND a.r_branch_id <> a.branch_id THEN
        RAISE EXCEPTION 'resource % belongs to another branch', NEW.resource_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NOT NEW.live THEN
        RETURN NEW;
    END IF;
    IF NEW.period <> tstzrange(a.starts_at - make_interval(mins => a.buffer_before_min),
                               a.ends_at + make_interval(mins => a.buffer_after_min)) THEN
        RAISE EXCEPTION 'booking of appointment %: the period % is not the appointment''s time with its service''s buffers (% min before, % min after)',
                        NEW.appointment_id, NEW.period, a.buffer_before_min, a.buffer_after_min
            USING ERRCODE = 'check_violation', CONSTRAINT = 'booking_buffers';
    END IF;
    needed := CASE a.r_kind WHEN 'doctor' THEN a.doctor_specialty WHEN 'room' THEN a.room_kind
                            ELSE a.equipment_kind END;
    -- Nested IFs, not AND/OR: the common path stays a simple expression and never runs the owner's query.
    IF needed IS DISTINCT FROM a.r_category THEN
        IF NOT public.clinic_is_owner() THEN
            RAISE EXCEPTION 'booking of appointment %: % (%, %) is not a resource its service needs (%)',
                            NEW.appointment_id, a.r_name, a.r_kind, a.r_category, coalesce(needed, 'no ' || a.r_kind)
                USING ERRCODE = 'check_violation', CONSTRAINT = 'booking_resource_kind';
        END IF;
    END IF;
    SELECT x.id, x.period, x.reason, x.kind INTO off FROM public.time_off x
     WHERE x.resource_id = NEW.resource_id AND x.period && NEW.period LIMIT 1;
    IF FOUND THEN
        why := nullif(btrim(current_setting('clinic.override', true)), '');
        IF why IS NOT NULL AND public.clinic_may_override() THEN
            INSERT INTO public.override_log (kind, appointment_id, reason, detail)
            VALUES ('time_off', NEW.appointment_id, why,
                    jsonb_build_object('resource_id', NEW.resource_id, 'time_off_id', off.id,
                                       'time_off', off.period::text, 'time_off_reason', off.reason));
        ELSE
            RAISE EXCEPTION 'conflicting key value violates exclusion constraint "booking_time_off"'
                USING ERRCODE = 'exclusion_violation',
                      DETAIL = format('Key (resource_id, period)=(%s, %s) conflicts with time off %s (%s).',
                                      NEW.resource_id, NEW.period, off.period, off.reason),
                      CONSTRAINT = 'booking_time_off';
        END IF;
    END IF;
    -- Imported history is placed on the import's own shifts (services/importer.py); the owner loads
    -- fixtures and history as they were (a report's overbooked minutes).
    IF a.source = 'import' THEN
        RETURN NEW;
    END IF;
    IF public.clinic_is_owner() THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM public.booking b JOIN public.resource o ON o.id = b.resource_id
                WHERE b.appointment_id = NEW.appointment_id AND b.id <> NEW.id AND o.kind = a.r_kind) THEN
        RAISE EXCEPTION 'booking of appointment %: it books a % already (one of each kind it needs)',
                        NEW.appointment_id, a.r_kind
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointment_resources';
    END IF;
    avail := public.clinic_availability(NEW.resource_id, a.branch_id, lower(NEW.period), upper(NEW.period));
    IF NOT avail @> NEW.period THEN
        info := jsonb_build_object('resource_id', NEW.resource_id, 'resource', a.r_name, 'period', NEW.period::text);
        IF EXISTS (SELECT 1 FROM public.holiday h JOIN public.branch b ON b.id = h.branch_id
                    WHERE h.branch_id = a.branch_id
                      AND h.local_date BETWEEN (lower(NEW.period) AT TIME ZONE b.timezone)::date
                                           AND (upper(NEW.period) AT TIME ZONE b.timezone)::date) THEN
            IF NOT public.clinic_take_override('holiday', NEW.appointment_id, info) THEN
                RAISE EXCEPTION 'appointment %: the branch is closed for a holiday then', NEW.appointment_id
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'booking_roster',
                          DETAIL = format('%s at %s', a.r_name, NEW.period);
            END IF;
        ELSIF NOT public.clinic_take_override(CASE WHEN a.r_kind = 'doctor' THEN 'outside_shift' ELSE 'closed' END,
                                              NEW.appointment_id, info) THEN
            RAISE EXCEPTION 'appointment %: % is not available then (%)', NEW.appointment_id, a.r_name,
                            CASE WHEN a.r_kind = 'doctor' THEN 'outside the doctor''s shifts at this branch'
                                 ELSE 'outside the branch''s opening hours' END
                USING ERRCODE = 'check_violation', CONSTRAINT = 'booking_roster',
                      DETAIL = format('%s at %s', a.r_name, NEW.period);
        END IF;
    END IF;
    RETURN NEW;
END $function$;

-- appointment_guard() (migrations 0009; 0012: the owner asked only where it decides)
-- BEFORE INSERT OR UPDATE, every row: what the database sets and nobody but the owner rewrites.
-- The rules are as before; an imported row of a clinic_admin login (or the owner) that leaves
-- created_at, created_by and updated_at to their defaults no longer runs clinic_is_owner(), whose
-- answer could not change it (the full CSV import writes 39,596 such rows).
CREATE OR REPLACE FUNCTION public.appointment_guard()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    owner boolean;
BEGIN
    IF TG_RELID <> 'public.appointment'::regclass THEN
        RAISE EXCEPTION 'appointment_guard() fires on public.appointment only' USING ERRCODE = 'CL009';
    END IF;
    IF TG_OP = 'INSERT' THEN
        -- clinic_is_owner() is asked only where its answer decides (nested IFs keep the other tests
        -- simple expressions): an imported row by a login outside clinic_admin, a new row in a later
        -- status, and the stamps below when they would change the row.
        IF NEW.source = 'import' AND NOT pg_has_role(session_user, 'clinic_admin', 'MEMBER') THEN
            IF NOT public.clinic_is_owner() THEN
                RAISE EXCEPTION 'only an administrator''s import may write imported appointments'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END IF;
        IF NEW.status NOT IN ('requested', 'held', 'confirmed', 'payment_pending') AND NEW.source <> 'import' THEN
            IF NOT public.clinic_is_owner() THEN
                RAISE EXCEPTION 'a new appointment cannot start as %', NEW.status
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'appointment_initial_status',
                          HINT = 'Book it, then check it in, complete it or mark the no-show.';
            END IF;
        END IF;
        -- Parallel to another appointment of the patient: only with a manager's override (logged at
        -- commit by appointment_commit_check, once the row exists for the log to name).
        IF NEW.parallel AND (nullif(btrim(current_setting('clinic.override', true)), '') IS NULL
                             OR NOT public.clinic_may_override()) THEN
            RAISE EXCEPTION 'only a manager or administrator may book a parallel appointment, with a reason (clinic.override)'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- An imported row that already carries the stamps (the columns' defaults) is left as it is
        -- whoever the login is, so the owner's answer does not decide; any other row asks it.
        IF NEW.created_at IS DISTINCT FROM now() OR NEW.created_by IS DISTINCT FROM session_user
           OR NEW.updated_at IS DISTINCT FROM now() OR NEW.source IS DISTINCT FROM 'import' THEN
            IF NOT public.clinic_is_owner() THEN
                NEW.created_at := now();
                NEW.created_by := session_user;
                NEW.updated_at := now();
                IF NEW.source <> 'import' THEN
                    NEW.booked_at := now();
                    NEW.confirmed_at := NULL;
                    NEW.cancelled_at := NULL;
                    NEW.cancelled_late := NULL;
                    NEW.checked_in_at := NULL;
                END IF;
            END IF;
        END IF;
    ELSE
        owner := public.clinic_is_owner();
        IF NOT owner AND (
               NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.created_by IS DISTINCT FROM OLD.created_by
            OR NEW.booked_at IS DISTINCT FROM OLD.booked_at OR NEW.source IS DISTINCT FROM OLD.source
            OR NEW.client_id IS DISTINCT FROM OLD.client_id OR NEW.external_ref IS DISTINCT FROM OLD.external_ref
            OR NEW.policy_free_hours IS DISTINCT FROM OLD.policy_free_hours
            OR NEW.policy_late_fee_cents IS DISTINCT FROM OLD.policy_late_fee_cents
            OR NEW.deposit_cents IS DISTINCT FROM OLD.deposit_cents
            OR NEW.confirmed_at IS DISTINCT FROM OLD.confirmed_at
            OR NEW.cancelled_at IS DISTINCT FROM OLD.cancelled_at
            OR NEW.cancelled_late IS DISTINCT FROM OLD.cancelled_late
            OR (NEW.cancelled_by IS DISTINCT FROM OLD.cancelled_by
                AND NOT (NEW.status = 'cancelled' AND OLD.status <> 'cancelled'))) THEN
            RAISE EXCEPTION 'appointment %: when it was booked, confirmed or cancelled, by whom, and its policy are recorded by the database and cannot be changed', OLD.id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'appointment_history';
        END IF;
        IF NEW.parallel AND NOT OLD.parallel AND NOT public.clinic_take_override(
                'patient_overlap', NEW.id, jsonb_build_object('patient_id', NEW.patient_id)) THEN
            RAISE EXCEPTION 'only a manager or administrator may make an appointment parallel, with a reason (clinic.override)'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NOT owner AND NEW.checked_in_at IS DISTINCT FROM OLD.checked_in_at THEN
            -- Arrival is the database's time (0002 lets the statement set it; not a clinic role).
            NEW.checked_in_at := CASE WHEN OLD.checked_in_at IS NULL THEN now() ELSE OLD.checked_in_at END;
        END IF;
        IF NEW.status = 'confirmed' AND OLD.status IS DISTINCT FROM 'confirmed' AND coalesce(NEW.deposit_cents, 0) > 0
           AND public.clinic_net_paid_cents(NEW.id) < NEW.deposit_cents THEN
            RAISE EXCEPTION 'appointment %: its deposit of % cents is not paid (% cents paid)', NEW.id,
                            NEW.deposit_cents, public.clinic_net_paid_cents(NEW.id)
                USING ERRCODE = 'check_violation', CONSTRAINT = 'appointment_deposit_paid';
        END IF;
    END IF;
    RETURN NEW;
END $function$;

-- appointment_commit_check() (migrations 0009)
-- At commit: a live appointment holds exactly one booking per kind its service needs (and a
-- service that needs nothing is inside the branch's opening hours); a rescheduled one names its
-- successor (same patient); a new one keeps its service's policy unless it succeeds one with it.
CREATE OR REPLACE FUNCTION public.appointment_commit_check()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    appt  bigint;
    a     record;
    kinds text[];
    got   text[];
    occ   tstzrange;
    moved boolean;
BEGIN
    IF TG_RELID NOT IN ('public.appointment'::regclass, 'public.booking'::regclass) THEN
        RAISE EXCEPTION 'appointment_commit_check() fires on public.appointment and public.booking only'
            USING ERRCODE = 'CL009';
    END IF;
    IF TG_TABLE_NAME = 'booking' THEN
        appt := CASE WHEN TG_OP = 'DELETE' THEN OLD.appointment_id ELSE NEW.appointment_id END;
    ELSE
        appt := NEW.id;
    END IF;
    SELECT x.id, x.status, x.source, x.patient_id, x.branch_id, x.starts_at, x.ends_at, x.rescheduled_to, x.parallel,
           x.policy_free_hours, x.policy_late_fee_cents, x.deposit_cents, x.service_id,
           s.doctor_specialty, s.room_kind, s.equipment_kind, s.buffer_before_min, s.buffer_after_min,
           s.cancel_free_hours, s.late_cancel_fee_cents, s.deposit_cents AS service_deposit
      INTO a FROM public.appointment x JOIN public.service s ON s.id = x.service_id WHERE x.id = appt;
    IF NOT FOUND OR a.source = 'import' THEN
        RETURN NULL;          -- deleted with its appointment (owner only), or imported history
    END IF;
    IF a.status = 'rescheduled' AND NOT EXISTS (
            SELECT 1 FROM public.appointment n WHERE n.id = a.rescheduled_to AND n.id <> a.id
               AND n.patient_id = a.patient_id) THEN
        RAISE EXCEPTION 'appointment %: a rescheduled appointment names its new appointment of the same patient', appt
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointment_rescheduled_to';
    END IF;
    IF TG_TABLE_NAME = 'appointment' AND TG_OP = 'INSERT'
       AND (a.policy_free_hours, a.policy_late_fee_cents, a.deposit_cents)
           IS DISTINCT FROM (a.cancel_free_hours, a.late_cancel_fee_cents, a.service_deposit)
       AND NOT public.clinic_is_owner()
       AND NOT EXISTS (SELECT 1 FROM public.appointment p WHERE p.rescheduled_to = a.id AND p.patient_id = a.patient_id
                          AND (p.policy_free_hours, p.policy_late_fee_cents, p.deposit_cents)
                              IS NOT DISTINCT FROM (a.policy_free_hours, a.policy_late_fee_cents, a.deposit_cents)) THEN
        RAISE EXCEPTION 'appointment %: its cancellation policy and deposit are copied from its service', appt
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointment_history';
    END IF;
    IF TG_TABLE_NAME = 'appointment' AND TG_OP = 'INSERT' AND a.parallel THEN
        PERFORM public.clinic_take_override('patient_overlap', appt, jsonb_build_object('patient_id', a.patient_id));
    END IF;
    IF TG_TABLE_NAME = 'appointment' AND TG_OP = 'INSERT' AND a.status = 'confirmed'
       AND coalesce(a.deposit_cents, 0) > 0 AND public.clinic_net_paid_cents(appt) < a.deposit_cents THEN
        RAISE EXCEPTION 'appointment %: its deposit of % cents is not paid', appt, a.deposit_cents
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointment_deposit_paid';
    END IF;
    -- An appointment's own status change does not re-judge its bookings against today's service
    -- (a buffer changed since); a new appointment, a booking change or a move does.
    IF TG_TABLE_NAME = 'appointment' AND TG_OP = 'UPDATE' THEN
        moved := (OLD.branch_id, OLD.starts_at, OLD.ends_at, OLD.service_id)
                 IS DISTINCT FROM (NEW.branch_id, NEW.starts_at, NEW.ends_at, NEW.service_id);
    ELSE
        moved := true;
    END IF;
    IF NOT moved THEN
        RETURN NULL;
    END IF;
    IF NOT public.clinic_status_is_live(a.status) OR public.clinic_is_owner() THEN
        RETURN NULL;          -- the owner loads fixtures and history piece by piece
    END IF;
    kinds := array_remove(ARRAY[CASE WHEN a.doctor_specialty IS NOT NULL THEN 'doctor' END,
                                CASE WHEN a.room_kind IS NOT NULL THEN 'room' END,
                                CASE WHEN a.equipment_kind IS NOT NULL THEN 'equipment' END], NULL);
    SELECT coalesce(array_agg(r.kind ORDER BY array_position(ARRAY['doctor', 'room', 'equipment'], r.kind)), '{}')
      INTO got FROM public.booking b JOIN public.resource r ON r.id = b.resource_id WHERE b.appointment_id = appt;
    IF got IS DISTINCT FROM kinds THEN
        RAISE EXCEPTION 'appointment %: a live appointment books exactly one % (it has: %)', appt,
                        CASE WHEN cardinality(kinds) = 0 THEN 'nothing' ELSE array_to_string(kinds, ', one ') END,
                        CASE WHEN cardinality(got) = 0 THEN 'no bookings' ELSE array_to_string(got, ', ') END
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointment_resources';
    END IF;
    occ := tstzrange(a.starts_at - make_interval(mins => a.buffer_before_min),
                     a.ends_at + make_interval(mins => a.buffer_after_min));
    IF EXISTS (SELECT 1 FROM public.booking b WHERE b.appointment_id = appt AND b.period <> occ) THEN
        -- an appointment moved, or given another service, without its bookings following
        RAISE EXCEPTION 'appointment %: its bookings are not its time with its service''s buffers (%)', appt, occ
            USING ERRCODE = 'check_violation', CONSTRAINT = 'booking_buffers';
    END IF;
    IF TG_TABLE_NAME = 'appointment' AND TG_OP = 'UPDATE' THEN
        BEGIN
            -- the bookings did not change (booking_check saw nothing): the rosters at the new place and time
            PERFORM 1 FROM public.booking b JOIN public.resource r ON r.id = b.resource_id
              WHERE b.appointment_id = appt
                AND NOT public.clinic_availability(b.resource_id, a.branch_id, lower(b.period), upper(b.period)) @> b.period
                AND NOT public.clinic_take_override(CASE WHEN r.kind = 'doctor' THEN 'outside_shift' ELSE 'closed' END,
                                                    appt, jsonb_build_object('resource_id', b.resource_id,
                                                                             'period', b.period::text));
            IF FOUND THEN
                RAISE EXCEPTION 'appointment %: a resource it books is not available at its new branch or time', appt
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'booking_roster';
            END IF;
        END;
    END IF;
    IF cardinality(kinds) = 0 THEN
        IF NOT public.clinic_availability(NULL, a.branch_id, lower(occ), upper(occ)) @> occ
           AND NOT public.clinic_take_override('closed', appt, jsonb_build_object('period', occ::text)) THEN
            RAISE EXCEPTION 'appointment %: the branch is not open then', appt
                USING ERRCODE = 'check_violation', CONSTRAINT = 'booking_roster';
        END IF;
    END IF;
    RETURN NULL;
END $function$;

-- appointment_check_bookings() (migrations 0001)
CREATE OR REPLACE FUNCTION public.appointment_check_bookings()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.appointment'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    IF EXISTS (SELECT 1 FROM booking b JOIN resource r ON r.id = b.resource_id
                WHERE b.appointment_id = NEW.id
                  AND (NOT b.period @> tstzrange(NEW.starts_at, NEW.ends_at)
                       OR (r.branch_id IS NOT NULL AND r.branch_id <> NEW.branch_id))) THEN
        RAISE EXCEPTION 'appointment %: its bookings no longer cover its time and branch', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointment_bookings_cover';
    END IF;
    RETURN NULL;
END $function$;

-- appointment_sync_booking_live() (migrations 0001, 0003)
-- Bookings follow their appointment's status (cancelled/rescheduled release).
CREATE OR REPLACE FUNCTION public.appointment_sync_booking_live()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.appointment'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    UPDATE booking SET live = clinic_status_is_live(NEW.status), hold_until = NEW.hold_expires_at
     WHERE appointment_id = NEW.id
       AND (live IS DISTINCT FROM clinic_status_is_live(NEW.status) OR hold_until IS DISTINCT FROM NEW.hold_expires_at);
    RETURN NULL;
END $function$;

-- appointment_visit_status() (migrations 0003)
-- Visits follow their appointments -------------------------------------------------------
CREATE OR REPLACE FUNCTION public.appointment_visit_status()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.appointment'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM appointment WHERE visit_id = NEW.visit_id AND clinic_status_is_live(status)) THEN
        UPDATE visit SET status = 'cancelled' WHERE id = NEW.visit_id AND status <> 'cancelled';
    END IF;
    RETURN NULL;
END $function$;

-- clinic_release_expired_holds(integer[],timestamp with time zone,timestamp with time zone) (migrations 0003; 0011: no empty UPDATE)
-- Expired holds in the way are cancelled by whoever needs the time (and by the sweeper).
-- ids NULL: every expired hold. Returns the number released.
CREATE OR REPLACE FUNCTION public.clinic_release_expired_holds(ids integer[], lo timestamp with time zone, hi timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    n integer;
BEGIN
    -- Nothing to release (the usual case): no UPDATE, so no empty statement triggers on appointment.
    IF NOT EXISTS (SELECT 1 FROM booking b
                    WHERE b.live AND b.hold_until <= now()
                      AND (ids IS NULL OR b.resource_id = ANY(ids))
                      AND (lo IS NULL OR b.period && tstzrange(lo, hi))) THEN
        RETURN 0;
    END IF;
    UPDATE appointment a SET status = 'cancelled', status_reason = 'hold expired', cancelled_by = 'clinic'
     WHERE a.status = 'held' AND a.hold_expires_at <= now()
       AND a.id IN (SELECT b.appointment_id FROM booking b
                     WHERE b.live AND b.hold_until <= now()
                       AND (ids IS NULL OR b.resource_id = ANY(ids))
                       AND (lo IS NULL OR b.period && tstzrange(lo, hi)));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $function$;

-- Triggers (dropped and created again: a trigger has no CREATE OR REPLACE for constraint triggers).
DROP TRIGGER IF EXISTS appointment_booking_live ON appointment;
CREATE TRIGGER appointment_booking_live AFTER UPDATE OF status, hold_expires_at ON appointment
    FOR EACH ROW
    WHEN (old.status IS DISTINCT FROM new.status OR old.hold_expires_at IS DISTINCT FROM new.hold_expires_at)
    EXECUTE FUNCTION appointment_sync_booking_live();
DROP TRIGGER IF EXISTS appointment_bookings_cover ON appointment;
CREATE CONSTRAINT TRIGGER appointment_bookings_cover AFTER UPDATE OF starts_at, ends_at, branch_id ON appointment
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (old.starts_at IS DISTINCT FROM new.starts_at OR old.ends_at IS DISTINCT FROM new.ends_at OR old.branch_id IS DISTINCT FROM new.branch_id)
    EXECUTE FUNCTION appointment_check_bookings();
DROP TRIGGER IF EXISTS appointment_commit_check_ins ON appointment;
CREATE CONSTRAINT TRIGGER appointment_commit_check_ins AFTER INSERT ON appointment
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (new.source <> 'import'::text)
    EXECUTE FUNCTION appointment_commit_check();
DROP TRIGGER IF EXISTS appointment_commit_check_upd ON appointment;
CREATE CONSTRAINT TRIGGER appointment_commit_check_upd
    AFTER UPDATE OF status, starts_at, ends_at, branch_id, service_id, rescheduled_to ON public.appointment
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.source <> 'import' AND (OLD.status, OLD.starts_at, OLD.ends_at, OLD.branch_id, OLD.service_id, OLD.rescheduled_to)
          IS DISTINCT FROM (NEW.status, NEW.starts_at, NEW.ends_at, NEW.branch_id, NEW.service_id, NEW.rescheduled_to))
    EXECUTE FUNCTION appointment_commit_check();
DROP TRIGGER IF EXISTS appointment_guard ON appointment;
CREATE TRIGGER appointment_guard BEFORE INSERT OR UPDATE ON appointment
    FOR EACH ROW
    EXECUTE FUNCTION appointment_guard();
DROP TRIGGER IF EXISTS appointment_visit_status ON appointment;
CREATE TRIGGER appointment_visit_status AFTER UPDATE OF status ON appointment
    FOR EACH ROW
    WHEN (new.visit_id IS NOT NULL AND (new.status = ANY (ARRAY['cancelled'::text, 'rescheduled'::text])) AND old.status IS DISTINCT FROM new.status)
    EXECUTE FUNCTION appointment_visit_status();
DROP TRIGGER IF EXISTS booking_check ON booking;
CREATE TRIGGER booking_check BEFORE INSERT OR UPDATE OF appointment_id, resource_id, period, live, hold_until ON booking
    FOR EACH ROW
    EXECUTE FUNCTION booking_check();
DROP TRIGGER IF EXISTS booking_commit_check_del ON booking;
CREATE CONSTRAINT TRIGGER booking_commit_check_del AFTER DELETE ON booking
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    EXECUTE FUNCTION appointment_commit_check();
DROP TRIGGER IF EXISTS booking_commit_check_upd ON booking;
CREATE CONSTRAINT TRIGGER booking_commit_check_upd AFTER UPDATE OF appointment_id, resource_id, period ON booking
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    EXECUTE FUNCTION appointment_commit_check();
