"""The CSV import's triggers do less per row (issue 15, "Faster where the desk feels it").

The migration has three sections (reports, import, reminders) so that changes of different
concerns stay apart; each says what its rules change and why each guarantee is kept.

Reports: no rule changed (the reports' own SQL lives in services/reports/, not in the database).

Import: the booking triggers ask ``clinic_is_owner()`` only where its answer decides (it ran
145,367 times in the full CSV import, 1.4-2.6 s; now 26,579, all in ``patient_keep_created``):
``booking_check`` when a resource is not of the kind the service needs and for a booking of an
appointment that is not imported, and reads the appointment, its service and the resource in one
query instead of two; ``appointment_guard`` on INSERT for an imported row by a login outside
clinic_admin, a new row in a later status, and when its stamps (created_at, created_by,
updated_at) would change the row. Every check, its order and its error are as before; the
importer is unchanged (it already leaves the stamps to their defaults).

Reminders: no rule changed.

:data:`CHANGED` names the catalog objects this migration changes (``tests/db/test_catalog.py``
proves that 0009 upgraded to head differs in exactly the union of the later migrations' tuples).
The new definitions live in ``db/sql/``; upgrading applies the files. The downgrade restores the
definitions 0011 left (:data:`BEFORE_REPORTS`, :data:`BEFORE_IMPORT`, :data:`BEFORE_REMINDERS`).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op
from reception_app.migrations import apply_sql_files

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# -- section R (reports) ---------------------------------------------------------------------------
CHANGED_REPORTS: tuple[str, ...] = ()
BEFORE_REPORTS = ""


def upgrade_reports() -> None:
    """Table and data changes of the reports section (before the SQL files are applied)."""


def downgrade_reports() -> None:
    """Undo :func:`upgrade_reports` (after the old definitions are restored)."""


# -- section I (import) ----------------------------------------------------------------------------
#: The import section's changes (catalog names as tests/db/test_catalog.py prints them).
CHANGED_IMPORT: tuple[str, ...] = (
    "function appointment_guard()",
    "function booking_check()",
)
#: :data:`CHANGED_IMPORT` as migration 0011 left them (db/sql/appointments_bookings.sql before this
#: migration), for the downgrade only.
BEFORE_IMPORT = r"""
CREATE OR REPLACE FUNCTION public.booking_check()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
END $function$;

CREATE OR REPLACE FUNCTION public.appointment_guard()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
END $function$;
"""


def upgrade_import() -> None:
    """Table and data changes of the import section (before the SQL files are applied)."""


def downgrade_import() -> None:
    """Undo :func:`upgrade_import` (after the old definitions are restored)."""


# -- section M (reminders) ------------------------------------------------------------------------
CHANGED_REMINDERS: tuple[str, ...] = ()
BEFORE_REMINDERS = ""


# -- both ----------------------------------------------------------------------------------------
#: The catalog objects this migration changes, as ``tests/db/test_catalog.py`` names them.
CHANGED: tuple[str, ...] = CHANGED_REPORTS + CHANGED_IMPORT + CHANGED_REMINDERS


def upgrade() -> None:
    upgrade_reports()
    upgrade_import()
    apply_sql_files(op.get_bind())


def downgrade() -> None:
    """Back to 0011: the old definitions (one simple-protocol round trip each), then the tables."""
    from reception_app.store.database import driver  # as in db/__init__.py: not at import time

    with driver(op.get_bind()).cursor() as cur:
        for before in (BEFORE_REPORTS, BEFORE_IMPORT, BEFORE_REMINDERS):
            if before.strip():
                cur.execute(before.encode("utf-8"))
    downgrade_import()
    downgrade_reports()
