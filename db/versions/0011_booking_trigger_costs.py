"""The booking's triggers stop doing work that changes nothing (issue 15, booking throughput).

A profile of one booking (server CPU about 7 ms for a desk login) found time spent on work that
changes nothing. This migration ships five rule changes, each keeping its guarantee exactly:

- ``clinic_availability``, ``clinic_plan_reminders`` and ``clinic_report_doctor_of`` get
  ``SET plan_cache_mode TO 'force_generic_plan'``: their statements were planned again on every
  call (custom plans, about 2.3 ms per booking). Same SQL, same results; the generic plans are
  index scans on the 1,000,000-appointment benchmark dataset (``appointment_pkey`` for
  ``id = ANY(ids)``, ``shift_resource``, ``booking_appointment_id_resource_id_key``).
- ``booking_report_doctor_ins`` runs its ``UPDATE appointment … doctor_id`` only when a row needs
  it and calls ``clinic_report_doctor_of`` only with a non-empty list: an UPDATE of no rows still
  fires appointment's statement triggers (audit, notify, reminders). appointment.doctor_id stays the
  lowest doctor among its bookings.
- ``clinic_release_expired_holds`` runs its UPDATE only when some live booking's hold has expired
  in the window (the UPDATE could change nothing otherwise). An expired hold in the way is still
  released before the slot is judged.
- ``clinic_plan_reminders`` returns before its INSERT when no patient of the appointments can be
  reached on a channel they consented to (the INSERT would queue nothing), so no empty INSERT
  fires ``reminder_notify`` and wakes every reminder worker. Every reminder it would queue is
  still queued in the booking's transaction, and each real insert still notifies.

:data:`CHANGED` names the catalog objects this migration changes; ``tests/db/test_catalog.py``
proves that a database at 0009 upgraded to head differs from the 0009 catalog in exactly those
objects, and that downgrading to 0009 gives the 0009 catalog back. The new definitions live in
``db/sql/`` (appointments_bookings.sql, reminders.sql, reports.sql); upgrading applies the files.
The downgrade restores the definitions 0009 left (:data:`BEFORE`, history kept here only for it).

Migration 0010 applies the files as they are now, so a fresh database has these definitions from
0010 on; this migration applies them to databases that were at 0010 before it existed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op
from reception_app.migrations import apply_sql_files

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: The catalog objects this migration changes, as ``tests/db/test_catalog.py`` names them
#: (``function <regprocedure>``, ``trigger <name> on <table>``).
CHANGED: tuple[str, ...] = (
    "function booking_report_doctor_ins()",
    "function clinic_availability(integer,integer,timestamp with time zone,timestamp with time zone)",
    "function clinic_plan_reminders(bigint[],text[])",
    "function clinic_release_expired_holds(integer[],timestamp with time zone,timestamp with time zone)",
    "function clinic_report_doctor_of(bigint[])",
)

#: The definitions of :data:`CHANGED` as migration 0009 left them (and db/sql held them before this
#: migration), for the downgrade only. CREATE OR REPLACE keeps owners and grants and replaces the
#: settings, so the downgrade also drops the plan_cache_mode settings.
BEFORE = r"""
CREATE OR REPLACE FUNCTION public.clinic_availability(res integer, branch integer, lo timestamp with time zone, hi timestamp with time zone)
 RETURNS tstzmultirange
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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

CREATE OR REPLACE FUNCTION public.clinic_release_expired_holds(ids integer[], lo timestamp with time zone, hi timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    n integer;
BEGIN
    UPDATE appointment a SET status = 'cancelled', status_reason = 'hold expired', cancelled_by = 'clinic'
     WHERE a.status = 'held' AND a.hold_expires_at <= now()
       AND a.id IN (SELECT b.appointment_id FROM booking b
                     WHERE b.live AND b.hold_until <= now()
                       AND (ids IS NULL OR b.resource_id = ANY(ids))
                       AND (lo IS NULL OR b.period && tstzrange(lo, hi)));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $function$;

CREATE OR REPLACE FUNCTION public.clinic_plan_reminders(ids bigint[], kinds text[])
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    n integer;
BEGIN
    IF cardinality(ids) = 0 THEN
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

CREATE OR REPLACE FUNCTION public.clinic_report_doctor_of(ids bigint[])
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
    UPDATE appointment a SET doctor_id = d.doctor_id
      FROM (SELECT i.id, (SELECT min(bk.resource_id) FROM booking bk
                            JOIN resource r ON r.id = bk.resource_id AND r.kind = 'doctor'
                           WHERE bk.appointment_id = i.id) AS doctor_id
              FROM unnest(ids) AS i(id)) d
     WHERE a.id = d.id AND a.doctor_id IS DISTINCT FROM d.doctor_id;
$function$;

CREATE OR REPLACE FUNCTION public.booking_report_doctor_ins()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_RELID NOT IN ('public.booking'::regclass) THEN
        RAISE EXCEPTION '%() fires on the clinic''s own tables only', TG_NAME USING ERRCODE = 'CL009';
    END IF;
    -- An insert can only add doctors: the new minimum wins. A doctor given on insert that none of
    -- the appointment's bookings names (checked for the appointments inserted with this statement's
    -- bookings) is corrected from all its bookings.
    UPDATE appointment a SET doctor_id = n.doctor_id
      FROM (SELECT k.appointment_id, min(k.resource_id) AS doctor_id
              FROM new_rows k JOIN resource r ON r.id = k.resource_id AND r.kind = 'doctor'
             GROUP BY k.appointment_id) n
     WHERE a.id = n.appointment_id AND (a.doctor_id IS NULL OR a.doctor_id > n.doctor_id);
    PERFORM clinic_report_doctor_of(ARRAY(
        SELECT a.id FROM appointment a
         WHERE a.id IN (SELECT DISTINCT appointment_id FROM new_rows) AND a.doctor_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM booking bk WHERE bk.appointment_id = a.id
                                                       AND bk.resource_id = a.doctor_id)));
    RETURN NULL;
END $function$;
"""


def upgrade() -> None:
    apply_sql_files(op.get_bind())


def downgrade() -> None:
    """Back to 0010: the five functions as 0009 left them (one simple-protocol round trip)."""
    from reception_app.store.database import driver  # as in db/__init__.py: not at import time

    with driver(op.get_bind()).cursor() as cur:
        cur.execute(BEFORE.encode("utf-8"))
