"""Hardening (issue 14): the database, not the client, decides — for every role and every client.

What a hostile login with ``psql`` could do before, and how the database refuses it now
(``docs/database.md`` has the whole model; ``tests/security/`` tries each class as every role):

**Nothing for PUBLIC.** ``CONNECT``, ``TEMP`` and ``CREATE`` on the database are revoked from
PUBLIC and ``CONNECT`` is granted to the clinic groups; ``CREATE`` on schema ``public`` is revoked
from PUBLIC; ``EXECUTE`` on every function of the clinic schema (extension members aside) is revoked
from PUBLIC, and the owner's default privileges revoke it from functions created later. Helpers that
clinic roles call in their own statements (``clinic_fold``, ``clinic_status_is_live``,
``clinic_quarters``, ``clinic_is_timezone``, ``clinic_quiet_adjust``, ``clinic_setting_int``,
``clinic_may_override``) are granted back to the clinic groups; trigger functions to nobody (a
trigger fires whatever its caller's privileges; ``CREATE TRIGGER`` needs ``EXECUTE``).

**Pinned name resolution.** Every function either has ``SET search_path = pg_catalog, public,
pg_temp`` (temporary objects last) or a pre-parsed SQL-standard body (``RETURN …``: names are bound
when it is created, so nothing at run time can shadow them, and the planner still inlines it).
Every ``SECURITY DEFINER`` trigger function first checks that it fires on a table of schema
``public`` it was written for (``TG_RELID``), so attached to a look-alike it refuses (``CL009``).

**A patient is in one place at a time.** ``appointment_patient_no_overlap``: ``EXCLUDE USING gist
(patient_id WITH =, tstzrange(starts_at, ends_at) WITH &&) WHERE (live and not parallel)``,
checked at once (not deferred: a second booking of the patient waits for the first before taking
any resource, so two such bookings never deadlock; a reschedule releases the old appointment first).
``appointment.parallel`` (a visit whose parts run in parallel by design, a companion) can only be
set through the logged override: ``clinic.override`` set by a manager or admin, logged as
``patient_overlap``. Existing overlapping pairs are marked parallel here, with an override row each.

**The booking rules in the database** (``booking_check``, BEFORE each booking row):
a live booking's period is exactly the appointment's time widened by its service's buffers
(``booking_buffers``); its resource is of a kind and category the service needs
(``booking_resource_kind``); a doctor works then at that branch (weekly shifts with their validity,
replaced on a date by that date's shift exceptions), a room or piece of equipment is within the
branch's opening hours, and not on a branch holiday (``clinic_available``, the slot engine's rules
in SQL: wall-clock rules per local date, overnight, 24:00, DST gaps and repeats read as the engine
reads them) — else 23514 ``booking_roster``, unless a manager or admin set ``clinic.override``: then
it commits and writes ``override_log`` (``outside_shift``, ``closed`` or ``holiday``) once.
At commit (``appointment_commit_check``, a deferred constraint trigger on appointments and
bookings): a live appointment has exactly one booking for each kind its service needs (so deleting
the resource rows of a live appointment, or inserting an appointment without them, is refused); a
``rescheduled`` one names a successor of the same patient; a new one keeps its service's policy
snapshot unless it is the successor of an appointment with that snapshot (a reschedule).

**Statuses.** A new appointment starts as requested, held, confirmed or payment_pending — an
import's history (``source = 'import'``, only ``clinic_admin`` and the owner may write those) aside.
The owner (who migrates, loads fixtures and history, and could disable any trigger) may also write
an appointment and its bookings in separate statements, in any status, outside the rosters and of
resources its service does not name; no clinic role may.
Confirming needs its deposit paid (payments minus refunds over it and the appointments rescheduled
into it, ``clinic_net_paid_cents``). Doctors still change only their own (row-level security).

**History that cannot be rewritten** (every role but the owner, who migrates and can disable
triggers anyway; ``appointment_guard``, BEFORE): ``created_at``, ``created_by``, ``booked_at``,
``source``, ``client_id``, ``external_ref``, the policy snapshot (``policy_free_hours``,
``policy_late_fee_cents``, ``deposit_cents``), ``confirmed_at``, ``cancelled_at``,
``cancelled_late``, ``cancelled_by`` and ``checked_in_at`` are set by the database (``now()``,
``session_user``) and refused when a statement changes them (23514 ``appointment_history``).
Payments: ``taken_at`` and
``taken_by`` are the database's; a refund never exceeds what was paid (per appointment and the
appointments rescheduled into it; so per visit too); an amount never exceeds the clinic setting
``max_amount_cents`` (default 500000).

**Every change leaves a trail.** Audit triggers on patient, visit, series, waitlist_entry,
holiday, opening_hours, branch, resource, service, reminder_rule, clinic_setting and a reminder
marked handled, besides the earlier ones; ``audit_log`` and ``override_log`` stay append-only
(no role has UPDATE, DELETE or TRUNCATE; only definer functions insert).

**Roles.** ``clinic_admin`` is a member of ``clinic_manager`` (the README always said an admin may do
what a manager may). ``clinic_reminders``: the reminder service's group, with only what it needs.
``default_transaction_isolation = serializable`` for the clinic groups' logins (set per login by
``clinic user add``; here for the existing members).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import re

from alembic import op
from sqlalchemy import text

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: Pinned search path of every function (temporary objects last: they shadow nothing).
SEARCH_PATH = "pg_catalog, public, pg_temp"

ROLES_SQL = r"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clinic_reminders') THEN
        CREATE ROLE clinic_reminders NOLOGIN;
    END IF;
END $$;
-- Role changes only when not made already: roles are cluster-wide, and two databases of one server
-- migrating at once must not rewrite the same catalog rows ("tuple concurrently updated").
DO $$
DECLARE
    r record;
BEGIN
    IF NOT pg_has_role('clinic_admin', 'clinic_manager', 'MEMBER') THEN
        GRANT clinic_manager TO clinic_admin;
    END IF;
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO clinic_reception, clinic_doctor, clinic_manager, '
                   'clinic_admin, clinic_reminders', current_database());
    -- The groups, and the people already in them (a group's settings do not pass to its members).
    FOR r IN SELECT DISTINCT x.rolname FROM pg_roles x
              WHERE (x.rolname IN ('clinic_reception', 'clinic_doctor', 'clinic_manager', 'clinic_admin',
                                   'clinic_reminders')
                     OR (x.rolcanlogin AND NOT x.rolsuper AND EXISTS (
                            SELECT 1 FROM pg_auth_members am JOIN pg_roles g2 ON g2.oid = am.roleid
                             WHERE am.member = x.oid
                               AND g2.rolname IN ('clinic_reception', 'clinic_doctor', 'clinic_manager',
                                                  'clinic_admin', 'clinic_reminders'))))
                AND NOT EXISTS (SELECT 1 FROM pg_db_role_setting s
                                 WHERE s.setrole = x.oid AND s.setdatabase = 0
                                   AND 'default_transaction_isolation=serializable' = ANY(s.setconfig)) LOOP
        EXECUTE format('ALTER ROLE %I SET default_transaction_isolation = %L', r.rolname, 'serializable');
    END LOOP;
END $$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO clinic_reminders;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
"""

# Helpers with SQL-standard bodies: bound at creation, inlinable, nothing to pin.
HELPERS_SQL = r"""
CREATE OR REPLACE FUNCTION clinic_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN lower(public.unaccent('public.unaccent'::regdictionary, t));

CREATE OR REPLACE FUNCTION clinic_status_is_live(s text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN s NOT IN ('cancelled', 'rescheduled');

-- Is the login the database owner or a superuser (who migrate, load fixtures, and could disable
-- any trigger anyway)? The history rules below bind everyone else.
CREATE FUNCTION clinic_is_owner() RETURNS boolean
LANGUAGE sql STABLE
RETURN (SELECT r.rolsuper OR r.oid = d.datdba FROM pg_catalog.pg_roles r, pg_catalog.pg_database d
         WHERE r.rolname = session_user AND d.datname = current_database());

-- The UTC instant of wall-clock minute ``m`` (may exceed 1440) of local date ``d`` in zone ``tz``,
-- as the slot engine reads it (domain/wallclock.local_to_utc): a repeated time is its earliest
-- instance, or its latest with ``latest``; a time in a gap is read with the offset before the change.
-- PostgreSQL's own reading is the latest instance and the offset before a gap, so only the
-- earliest instance needs looking for (clock changes of 1 h, 30 min or 2 h).
CREATE FUNCTION clinic_local_instant(d date, m integer, tz text, latest boolean) RETURNS timestamptz
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

-- Where resource ``res`` (NULL: the branch itself) may be booked at ``branch`` around [lo, hi):
-- the union of its windows on the local dates that can touch the interval — a doctor's weekly
-- shifts at that branch with their validity, replaced on a date by that date's shift exceptions
-- (rows without minutes: off that day; as services/catalog.py reads them, an exception at this
-- branch replaces the shifts of that date at this branch), the branch's opening hours for rooms, equipment and the branch — minus the branch's
-- holidays, each a whole local day. The slot engine's availability (domain/slots.py), in SQL.
CREATE FUNCTION clinic_availability(res integer, branch integer, lo timestamptz, hi timestamptz)
RETURNS tstzmultirange
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
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
END $$;

-- Payments minus refunds (cents) over an appointment and every appointment rescheduled into it.
CREATE FUNCTION clinic_net_paid_cents(appt bigint) RETURNS bigint
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

-- An override in this transaction (``clinic.override`` = the reason) by someone who may: logged
-- once per (appointment, kind) — not again when this transaction logged it already, also inside a
-- forced move's list of skipped rules (services/overrides.py). Returns whether the rule may be bent.
CREATE FUNCTION clinic_take_override(k text, appt bigint, info jsonb) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
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
END $$;
"""

SCHEMA_SQL = r"""
ALTER TABLE override_log ADD COLUMN txid bigint NOT NULL DEFAULT txid_current();
ALTER TABLE override_log DROP CONSTRAINT override_log_kind_check;
ALTER TABLE override_log ADD CONSTRAINT override_log_kind_check CHECK (kind IN (
    'time_off', 'outside_shift', 'move', 'change_doctor', 'holiday', 'closed', 'notice', 'patient_overlap'));

ALTER TABLE appointment ADD COLUMN parallel boolean NOT NULL DEFAULT false;

-- A patient added at the desk carries the client's id, so a retried "Add patient" adds one patient.
ALTER TABLE patient ADD COLUMN client_id uuid UNIQUE;

-- Appointments that overlap another live one of the same patient from before this rule: kept, and
-- marked parallel with an override row each, so nothing is lost and the constraint can be added.
WITH o AS (
    SELECT DISTINCT b.id
      FROM appointment a JOIN appointment b
        ON b.patient_id = a.patient_id AND b.id > a.id
       AND tstzrange(b.starts_at, b.ends_at) && tstzrange(a.starts_at, a.ends_at)
     WHERE clinic_status_is_live(a.status) AND clinic_status_is_live(b.status)
), marked AS (
    UPDATE appointment x SET parallel = true FROM o WHERE x.id = o.id RETURNING x.id
)
INSERT INTO override_log (kind, appointment_id, reason, detail)
SELECT 'patient_overlap', id, 'overlapped another appointment of the patient before migration 0009', '{}'
  FROM marked;

ALTER TABLE appointment ADD CONSTRAINT appointment_patient_no_overlap
    EXCLUDE USING gist (patient_id WITH =, tstzrange(starts_at, ends_at) WITH &&)
    WHERE (status NOT IN ('cancelled', 'rescheduled') AND NOT parallel);

INSERT INTO clinic_setting (key, value) VALUES ('max_amount_cents', '500000') ON CONFLICT (key) DO NOTHING;

-- An appointment's history (the window's "History…") also lists its bookings' and payments' rows.
CREATE INDEX audit_log_appointment ON audit_log ((coalesce(new_row, old_row) ->> 'appointment_id'))
    WHERE table_name IN ('booking', 'payment');

-- The utilization refresh's scratch table (it used a temporary table; TEMP is nobody's now). One
-- refresh at a time (an advisory lock); emptied before and after use.
CREATE UNLOGGED TABLE utilization_fresh (LIKE utilization_day INCLUDING INDEXES, partly_outside boolean);
GRANT SELECT, INSERT, UPDATE, DELETE ON utilization_fresh TO clinic_admin;
GRANT SELECT ON utilization_fresh TO clinic_manager;

-- Who made a row, and when: the database's (patients, visits, series, waitlist entries).
CREATE FUNCTION clinic_keep_created() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
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
END $$;
CREATE TRIGGER patient_keep_created BEFORE INSERT OR UPDATE ON patient FOR EACH ROW EXECUTE FUNCTION clinic_keep_created();
CREATE TRIGGER visit_keep_created BEFORE INSERT OR UPDATE ON visit FOR EACH ROW EXECUTE FUNCTION clinic_keep_created();
CREATE TRIGGER series_keep_created BEFORE INSERT OR UPDATE ON series FOR EACH ROW EXECUTE FUNCTION clinic_keep_created();
CREATE TRIGGER waitlist_entry_keep_created BEFORE INSERT OR UPDATE ON waitlist_entry
    FOR EACH ROW EXECUTE FUNCTION clinic_keep_created();
"""

# booking_check: consistency with the appointment, time off (0003), and now the service's buffers,
# resource kinds and the rosters. Fires on INSERT and on UPDATE of the checked columns (0007).
BOOKING_CHECK_SQL = r"""
CREATE OR REPLACE FUNCTION booking_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    a      record;
    r      record;
    off    record;
    why    text;
    needed text;
    avail  tstzmultirange;
    info   jsonb;
    owner  boolean;
BEGIN
    IF TG_RELID <> 'public.booking'::regclass THEN
        RAISE EXCEPTION 'booking_check() fires on public.booking only' USING ERRCODE = 'CL009';
    END IF;
    SELECT x.status, x.branch_id, x.starts_at, x.ends_at, x.hold_expires_at, x.source, x.service_id,
           s.buffer_before_min, s.buffer_after_min, s.doctor_specialty, s.room_kind, s.equipment_kind
      INTO a
      FROM public.appointment x JOIN public.service s ON s.id = x.service_id WHERE x.id = NEW.appointment_id;
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
    SELECT x.kind, x.category, x.branch_id, x.name INTO r FROM public.resource x WHERE x.id = NEW.resource_id;
    IF r.branch_id IS NOT NULL AND r.branch_id <> a.branch_id THEN
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
    owner := public.clinic_is_owner();
    needed := CASE r.kind WHEN 'doctor' THEN a.doctor_specialty WHEN 'room' THEN a.room_kind
                          ELSE a.equipment_kind END;
    IF needed IS DISTINCT FROM r.category AND NOT owner THEN
        RAISE EXCEPTION 'booking of appointment %: % (%, %) is not a resource its service needs (%)',
                        NEW.appointment_id, r.name, r.kind, r.category, coalesce(needed, 'no ' || r.kind)
            USING ERRCODE = 'check_violation', CONSTRAINT = 'booking_resource_kind';
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
    IF a.source = 'import' OR owner THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM public.booking b JOIN public.resource o ON o.id = b.resource_id
                WHERE b.appointment_id = NEW.appointment_id AND b.id <> NEW.id AND o.kind = r.kind) THEN
        RAISE EXCEPTION 'booking of appointment %: it books a % already (one of each kind it needs)',
                        NEW.appointment_id, r.kind
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointment_resources';
    END IF;
    avail := public.clinic_availability(NEW.resource_id, a.branch_id, lower(NEW.period), upper(NEW.period));
    IF NOT avail @> NEW.period THEN
        info := jsonb_build_object('resource_id', NEW.resource_id, 'resource', r.name, 'period', NEW.period::text);
        IF EXISTS (SELECT 1 FROM public.holiday h JOIN public.branch b ON b.id = h.branch_id
                    WHERE h.branch_id = a.branch_id
                      AND h.local_date BETWEEN (lower(NEW.period) AT TIME ZONE b.timezone)::date
                                           AND (upper(NEW.period) AT TIME ZONE b.timezone)::date) THEN
            IF NOT public.clinic_take_override('holiday', NEW.appointment_id, info) THEN
                RAISE EXCEPTION 'appointment %: the branch is closed for a holiday then', NEW.appointment_id
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'booking_roster',
                          DETAIL = format('%s at %s', r.name, NEW.period);
            END IF;
        ELSIF NOT public.clinic_take_override(CASE WHEN r.kind = 'doctor' THEN 'outside_shift' ELSE 'closed' END,
                                              NEW.appointment_id, info) THEN
            RAISE EXCEPTION 'appointment %: % is not available then (%)', NEW.appointment_id, r.name,
                            CASE WHEN r.kind = 'doctor' THEN 'outside the doctor''s shifts at this branch'
                                 ELSE 'outside the branch''s opening hours' END
                USING ERRCODE = 'check_violation', CONSTRAINT = 'booking_roster',
                      DETAIL = format('%s at %s', r.name, NEW.period);
        END IF;
    END IF;
    RETURN NEW;
END $$;
"""

APPOINTMENT_SQL = r"""
-- BEFORE INSERT OR UPDATE, every row: what the database sets and nobody but the owner rewrites.
CREATE FUNCTION appointment_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    owner boolean := public.clinic_is_owner();
    importer boolean;
BEGIN
    IF TG_RELID <> 'public.appointment'::regclass THEN
        RAISE EXCEPTION 'appointment_guard() fires on public.appointment only' USING ERRCODE = 'CL009';
    END IF;
    importer := owner OR pg_has_role(session_user, 'clinic_admin', 'MEMBER');
    IF TG_OP = 'INSERT' THEN
        IF NEW.source = 'import' AND NOT importer THEN
            RAISE EXCEPTION 'only an administrator''s import may write imported appointments'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.status NOT IN ('requested', 'held', 'confirmed', 'payment_pending') AND NEW.source <> 'import'
           AND NOT owner THEN
            RAISE EXCEPTION 'a new appointment cannot start as %', NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'appointment_initial_status',
                      HINT = 'Book it, then check it in, complete it or mark the no-show.';
        END IF;
        -- Parallel to another appointment of the patient: only with a manager's override (logged at
        -- commit by appointment_commit_check, once the row exists for the log to name).
        IF NEW.parallel AND (nullif(btrim(current_setting('clinic.override', true)), '') IS NULL
                             OR NOT public.clinic_may_override()) THEN
            RAISE EXCEPTION 'only a manager or administrator may book a parallel appointment, with a reason (clinic.override)'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NOT owner THEN
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
    ELSE
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
END $$;
CREATE TRIGGER appointment_guard BEFORE INSERT OR UPDATE ON appointment
    FOR EACH ROW EXECUTE FUNCTION appointment_guard();

-- At commit: a live appointment holds exactly one booking per kind its service needs (and a
-- service that needs nothing is inside the branch's opening hours); a rescheduled one names its
-- successor (same patient); a new one keeps its service's policy unless it succeeds one with it.
CREATE FUNCTION appointment_commit_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
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
END $$;
CREATE CONSTRAINT TRIGGER appointment_commit_check_ins AFTER INSERT ON appointment
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.source <> 'import')
    EXECUTE FUNCTION appointment_commit_check();
CREATE CONSTRAINT TRIGGER appointment_commit_check_upd
    AFTER UPDATE OF status, starts_at, ends_at, branch_id, service_id, rescheduled_to ON appointment
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.source <> 'import' AND (OLD.status, OLD.starts_at, OLD.ends_at, OLD.branch_id, OLD.service_id, OLD.rescheduled_to)
          IS DISTINCT FROM (NEW.status, NEW.starts_at, NEW.ends_at, NEW.branch_id, NEW.service_id, NEW.rescheduled_to))
    EXECUTE FUNCTION appointment_commit_check();
-- (No check at commit for an inserted booking: a new appointment is checked by its own insert's
-- trigger, and a second booking of one kind is refused at once by booking_check; a bulk import of
-- bookings so costs nothing at commit.)
CREATE CONSTRAINT TRIGGER booking_commit_check_upd AFTER UPDATE OF appointment_id, resource_id, period ON booking
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION appointment_commit_check();
CREATE CONSTRAINT TRIGGER booking_commit_check_del AFTER DELETE ON booking
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION appointment_commit_check();

-- Payments: the database's time and actor; refunds never exceed payments; a ceiling on amounts.
CREATE FUNCTION payment_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
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
END $$;
CREATE TRIGGER payment_guard BEFORE INSERT ON payment FOR EACH ROW EXECUTE FUNCTION payment_guard();
"""

# Audit of every kind of change (0001's audit_rows, statement level, for tables with an id; a row
# function for clinic_setting, keyed by text, and for a reminder marked handled).
AUDIT_SQL = r"""
CREATE FUNCTION audit_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
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
END $$;
-- An import by an administrator ends with fresh statistics of what the reports join on (only a
-- table's owner may ANALYZE it before PostgreSQL 17's MAINTAIN privilege).
CREATE FUNCTION clinic_analyze_import() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    ANALYZE public.appointment (id, patient_id, branch_id, status, starts_at, booked_at),
            public.booking (appointment_id, resource_id),
            public.reminder (appointment_id, channel, purpose, status)
$$;

CREATE TRIGGER clinic_setting_audit AFTER INSERT OR UPDATE OR DELETE ON clinic_setting
    FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER reminder_handled_audit AFTER UPDATE OF handled_at, handled_by ON reminder
    FOR EACH ROW WHEN (OLD.handled_at IS DISTINCT FROM NEW.handled_at OR OLD.handled_by IS DISTINCT FROM NEW.handled_by)
    EXECUTE FUNCTION audit_row();
"""

#: Tables audited from here on by audit_rows (statement level; each has an integer id).
AUDITED = ("patient", "visit", "series", "waitlist_entry", "holiday", "opening_hours", "branch", "resource",
           "service", "reminder_rule")

GRANTS_SQL = r"""
-- Nothing for PUBLIC on the clinic's own functions; back to the groups what they call themselves.
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
              WHERE p.pronamespace = 'public'::regnamespace
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                   AND d.objid = p.oid AND d.deptype = 'e') LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f.sig);
    END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION clinic_fold(text), clinic_status_is_live(text), clinic_quarters(integer, integer, integer),
    clinic_is_timezone(text), clinic_setting_int(text, integer), clinic_may_override(),
    clinic_quiet_adjust(timestamptz, text, text, integer, integer), clinic_local_instant(date, integer, text, boolean),
    clinic_net_paid_cents(bigint), clinic_is_owner()
    TO clinic_reception, clinic_doctor, clinic_manager, clinic_admin, clinic_reminders;
GRANT EXECUTE ON FUNCTION clinic_log_override(text, bigint, text, jsonb) TO clinic_manager, clinic_admin;
GRANT EXECUTE ON FUNCTION clinic_analyze_import() TO clinic_admin;
GRANT EXECUTE ON FUNCTION clinic_release_expired_holds(integer[], timestamptz, timestamptz)
    TO clinic_reception, clinic_admin, clinic_reminders;
-- The reminder service (reception_app/reminders, column by column): read what a message needs,
-- claim and record messages, release expired holds (a SECURITY DEFINER function) — nothing else.
GRANT SELECT ON alembic_version TO clinic_reminders;
GRANT SELECT (id, appointment_id, channel, purpose, status, attempts, last_error, idempotency_key,
              ready_at, next_attempt_at, lease_until, claimed_by, language, template, recipient) ON reminder
    TO clinic_reminders;
GRANT UPDATE (status, attempts, last_error, sent_at, failed_at, next_attempt_at, lease_until, claimed_by,
              language, recipient, provider_ref) ON reminder TO clinic_reminders;
GRANT SELECT (id, patient_id, branch_id, service_id, status, starts_at, hold_expires_at) ON appointment
    TO clinic_reminders;
GRANT SELECT (id, display_name, language, phone, email, consent_channels) ON patient TO clinic_reminders;
GRANT SELECT (id, name, timezone, phone, language, quiet_from_min, quiet_until_min) ON branch TO clinic_reminders;
GRANT SELECT (id, name) ON service TO clinic_reminders;
CREATE POLICY appointment_reminders_read ON appointment FOR SELECT TO clinic_reminders USING (true);
"""


def _pin_and_guard(bind) -> None:
    """Pin ``search_path`` on every clinic function without a SQL-standard body, and make each
    SECURITY DEFINER trigger function refuse to run on a table it was not written for."""
    rows = bind.execute(text(r"""
        SELECT p.oid, p.oid::regprocedure::text AS sig, p.prosecdef, p.prorettype = 'trigger'::regtype AS trig,
               p.prosqlbody IS NOT NULL AS atomic, pg_get_functiondef(p.oid) AS definition,
               (SELECT array_agg(DISTINCT t.tgrelid::regclass::text ORDER BY t.tgrelid::regclass::text)
                  FROM pg_trigger t WHERE t.tgfoid = p.oid) AS tables
          FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                              AND d.objid = p.oid AND d.deptype = 'e')""")).all()
    for row in rows:
        if row.atomic:
            continue
        if row.trig and row.prosecdef and "TG_RELID" not in row.definition and row.tables:
            allowed = ", ".join(f"'public.{t}'::regclass" for t in row.tables)
            guard = (f"BEGIN\n    IF TG_RELID NOT IN ({allowed}) THEN\n"
                     f"        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME "
                     f"USING ERRCODE = 'CL009';\n    END IF;\n")
            body, count = re.subn(r"^BEGIN\s*$\n", guard, row.definition, count=1, flags=re.MULTILINE)
            assert count == 1, f"no BEGIN line in {row.sig}"
            bind.execute(text(body.replace(":", r"\:")))
        bind.execute(text(f"ALTER FUNCTION {row.sig} SET search_path = {SEARCH_PATH}"))


def upgrade() -> None:
    op.execute(ROLES_SQL)
    op.execute(HELPERS_SQL)
    op.execute(SCHEMA_SQL)
    op.execute(BOOKING_CHECK_SQL)
    op.execute(APPOINTMENT_SQL)
    op.execute(AUDIT_SQL)
    for table in AUDITED:
        op.execute(f"""
            CREATE TRIGGER {table}_audit_ins AFTER INSERT ON {table}
                REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
            CREATE TRIGGER {table}_audit_upd AFTER UPDATE ON {table}
                REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
            CREATE TRIGGER {table}_audit_del AFTER DELETE ON {table}
                REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();""")
    _pin_and_guard(op.get_bind())
    op.execute(GRANTS_SQL)


DOWNGRADE_SQL = r"""
DROP TRIGGER IF EXISTS appointment_guard ON appointment;
DROP TRIGGER IF EXISTS appointment_commit_check_ins ON appointment;
DROP TRIGGER IF EXISTS appointment_commit_check_upd ON appointment;
DROP TRIGGER IF EXISTS booking_commit_check_upd ON booking;
DROP TRIGGER IF EXISTS booking_commit_check_del ON booking;
DROP TRIGGER IF EXISTS payment_guard ON payment;
DROP TRIGGER IF EXISTS clinic_setting_audit ON clinic_setting;
DROP TRIGGER IF EXISTS reminder_handled_audit ON reminder;
DROP TRIGGER IF EXISTS patient_keep_created ON patient;
DROP TRIGGER IF EXISTS visit_keep_created ON visit;
DROP TRIGGER IF EXISTS series_keep_created ON series;
DROP TRIGGER IF EXISTS waitlist_entry_keep_created ON waitlist_entry;
DROP POLICY IF EXISTS appointment_reminders_read ON appointment;
DROP FUNCTION IF EXISTS appointment_guard(), appointment_commit_check(), payment_guard(), audit_row(),
    clinic_keep_created(), clinic_take_override(text, bigint, jsonb), clinic_availability(integer, integer,
    timestamptz, timestamptz), clinic_net_paid_cents(bigint), clinic_local_instant(date, integer, text, boolean),
    clinic_analyze_import();
ALTER TABLE appointment DROP CONSTRAINT IF EXISTS appointment_patient_no_overlap;
DROP FUNCTION IF EXISTS clinic_is_owner();
ALTER TABLE appointment DROP COLUMN IF EXISTS parallel;
ALTER TABLE patient DROP COLUMN IF EXISTS client_id;
DELETE FROM override_log WHERE kind = 'patient_overlap';
ALTER TABLE override_log DROP CONSTRAINT override_log_kind_check;
ALTER TABLE override_log ADD CONSTRAINT override_log_kind_check CHECK (kind IN (
    'time_off', 'outside_shift', 'move', 'change_doctor', 'holiday', 'closed', 'notice'));
ALTER TABLE override_log DROP COLUMN IF EXISTS txid;
DROP TABLE IF EXISTS utilization_fresh;
DROP INDEX IF EXISTS audit_log_appointment;
DELETE FROM clinic_setting WHERE key = 'max_amount_cents';
CREATE OR REPLACE FUNCTION clinic_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, t)) $$;
CREATE OR REPLACE FUNCTION clinic_status_is_live(s text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT s NOT IN ('cancelled', 'rescheduled') $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
GRANT CREATE ON SCHEMA public TO PUBLIC;
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
END $$;
"""


def _previous_booking_check() -> str:
    """``booking_check`` as migration 0003 left it (0007 changed only when it fires)."""
    from importlib.util import module_from_spec, spec_from_file_location
    from pathlib import Path

    spec = spec_from_file_location("clinic_migration_0003", Path(__file__).with_name("0003_lifecycle.py"))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    found = re.search(r"CREATE OR REPLACE FUNCTION booking_check\(\).*?END \$\$;", module.UPGRADE_SQL, re.DOTALL)
    assert found is not None
    return found.group(0)


def downgrade() -> None:
    """Back to 0008: the new rules, columns, tables and functions go, PUBLIC's privileges come back.
    Pinned search paths and the functions' TG_RELID checks stay (harmless, and 0008 has no record of
    the bodies before them); ``clinic_reminders`` and ``clinic_admin``'s membership of ``clinic_manager``
    stay (roles are cluster-wide: other databases of the server may rely on them)."""
    op.execute(DOWNGRADE_SQL)
    op.execute(_previous_booking_check())
