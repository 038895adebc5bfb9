-- What the reports count, written once in SQL; every report's statement includes these fragments
-- (/*@definitions.<name>*/), and so will the no-show risk model. The sentences printed in the
-- reports' footnotes are domain/report_definitions.py; the statuses come from migration 0001
-- (clinic_status_is_live) and 0003.
--
-- The fragments read the appointment as "a" (and, in report_appointment, the patient as "p").
-- Parameters: :d_from, :d_to (inclusive branch-local dates), :branch (a branch id or NULL for all),
-- :lead_bounds and :age_bounds (domain/report_definitions.py LEAD_BOUNDS, AGE_BOUNDS).

-- name: outcome_known
-- An appointment whose outcome is known: the denominator of every no-show rate.
a.status IN ('completed', 'no_show')

-- name: no_show
-- A no-show (counted among the appointments whose outcome is known).
a.status = 'no_show'

-- name: occupied
-- An appointment that holds its resources' time (every status but cancelled and rescheduled: SQL
-- clinic_status_is_live; booking.live follows it, kept by the database): booked time and load.
a.status NOT IN ('cancelled', 'rescheduled')

-- name: sms_reminder_sent
-- At least one reminder with channel sms and purpose reminder reached status sent (a hashed
-- subplan: the sent SMS reminders are read once per statement, not once per appointment).
a.id IN (SELECT appointment_id FROM reminder WHERE channel = 'sms' AND purpose = 'reminder' AND status = 'sent')

-- name: ymd_local_start
-- The local date of the start as a number yyyymmdd (date_part: float8, several times cheaper per row
-- than extract's numeric), for whole years of age without age().
(date_part('year', a.local_start) * 10000 + date_part('month', a.local_start) * 100 + date_part('day', a.local_start))

-- name: age_years
-- Whole years of age on the appointment's local date: the source's age for imported rows, otherwise
-- from the patient's birth date (floor((yyyymmdd(day) - yyyymmdd(birth)) / 10000), the same whole
-- years as age()); NULL when neither is known or the birth date is after the day. Needs "p".
coalesce(a.patient_age_years,
         CASE WHEN p.birth_date <= a.local_start
              THEN floor((/*@ymd_local_start*/
                          - (date_part('year', p.birth_date) * 10000 + date_part('month', p.birth_date) * 100
                             + date_part('day', p.birth_date))) / 10000)::int END)

-- name: period
-- The report's period: starts on local dates :d_from..:d_to on local_start (branch-local wall clock,
-- kept by migration 0005's triggers), in the branch when one is chosen. A range on the covering
-- index appointment_report: no per-row time-zone conversion and no join to branch.
a.local_start >= CAST(:d_from AS timestamp) AND a.local_start < CAST(:d_to AS timestamp) + interval '1 day'
   AND (CAST(:branch AS integer) IS NULL OR a.branch_id = :branch)

-- name: report_appointment
-- The appointments of the period with what the reports group them by: one row per appointment.
-- Used as "WITH a AS (/*@definitions.report_appointment*/)"; the planner inlines it, so a report
-- reads (and computes) only the columns it uses, and the patient join goes away when it uses no
-- age. Columns: the appointment's own, and
--   outcome_known, no_show, occupied   the definitions above (booleans);
--   local_day                          the local date of the start;
--   weekday                            0 = Monday .. 6 = Sunday (local);
--   hour                               the local hour 0..23;
--   week                               the Monday of the local week;
--   lead_band                          index into LEAD_TIME_BANDS (width_bucket over :lead_bounds);
--   sms_reminder                       sms_reminder_sent (boolean);
--   age_band                           width_bucket(age_years, :age_bounds): 1.. indexes AGE_BANDS,
--                                      0 (negative) and NULL (unknown) are "unknown".
SELECT a.id, a.branch_id, a.service_id, a.doctor_id, a.patient_id, a.source, a.status, a.starts_at, a.ends_at,
       a.booked_at, a.confirmed_at, a.local_start, a.lead_days, a.patient_age_years, a.status_reason,
       a.cancelled_late, a.cancelled_by, a.rescheduled_to,
       /*@outcome_known*/ AS outcome_known,
       /*@no_show*/ AS no_show,
       /*@occupied*/ AS occupied,
       a.local_start::date AS local_day,
       date_part('isodow', a.local_start)::int - 1 AS weekday,
       date_part('hour', a.local_start)::int AS hour,
       date_trunc('week', a.local_start)::date AS week,
       width_bucket(a.lead_days, CAST(:lead_bounds AS int[])) AS lead_band,
       /*@sms_reminder_sent*/ AS sms_reminder,
       width_bucket(/*@age_years*/, CAST(:age_bounds AS int[])) AS age_band
  FROM appointment a
  LEFT JOIN patient p ON p.id = a.patient_id
 WHERE /*@period*/

-- name: period_branches
-- The branches of the report with their period's UTC bounds (each converted once per branch), for
-- what has no local columns (freed slots, overrides, the drill-down's ordering by starts_at):
-- id, name, tz, lo, hi.
SELECT id, name, timezone AS tz, CAST(:d_from AS timestamp) AT TIME ZONE timezone AS lo,
       (CAST(:d_to AS timestamp) + interval '1 day') AT TIME ZONE timezone AS hi
  FROM branch WHERE CAST(:branch AS integer) IS NULL OR id = :branch

-- name: period_window
-- The period on starts_at against period_branches "b": the coarse UTC window (local dates widened by
-- two days each side) lets an index cut the scan, then each branch's exact bounds.
a.starts_at >= CAST(:d_from AS timestamp) - interval '2 days'
   AND a.starts_at < CAST(:d_to AS timestamp) + interval '3 days'
   AND a.starts_at >= b.lo AND a.starts_at < b.hi
