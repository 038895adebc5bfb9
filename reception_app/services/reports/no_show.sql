-- The no-show reports: the manager report (reports/no_show.py no_show) and the CLI's JSON summary
-- (no_show_report). Both count the appointments whose outcome is known and their no-shows, as
-- definitions.sql says.

-- name: report
-- The manager report in one pass over the appointments whose outcome is known (definitions.sql):
-- 1. c: one aggregate with two grouping sets, (doctor, week) and (service, branch, labels), where
--    labels packs the small breakdowns into one integer (weekday, local hour, lead band, SMS, age band,
--    source; a NULL band as 7, an unknown source as 0): each appointment is read once and counted into
--    two hash tables, a few tens of thousands of groups whatever the number of appointments.
-- 2. grouping sets over those few groups give the total and each breakdown: part 1 by doctor and by
--    week, part 0 the total and by service, weekday, hour, lead band, SMS, age band, branch, source.
--    g is GROUPING() of the part's columns, in the order listed (first column = highest bit).
WITH a AS (/*@definitions.report_appointment*/),
c AS (
    SELECT GROUPING(a.doctor_id, a.week, a.service_id, a.branch_id, x.labels) AS grp, a.doctor_id, a.week,
           a.service_id, a.branch_id, x.labels, count(*) AS n, count(*) FILTER (WHERE a.no_show) AS ns
      FROM a
     CROSS JOIN LATERAL (SELECT (((((a.weekday * 24 + a.hour) * 8 + coalesce(a.lead_band, 7)) * 2 + a.sms_reminder::int) * 8
                                  + coalesce(a.age_band, 7)) * 8
                                 + coalesce(array_position(CAST(:sources AS text[]), a.source), 0)) AS labels) x
     WHERE a.outcome_known
     GROUP BY GROUPING SETS ((a.doctor_id, a.week), (a.service_id, a.branch_id, x.labels))
),
labelled AS (
    SELECT service_id, labels / 1024 / 24 AS weekday, labels / 1024 % 24 AS hour,
           nullif(labels / 128 % 8, 7) AS lead_band, labels / 64 % 2 = 1 AS sms, nullif(labels / 8 % 8, 7) AS age_band,
           branch_id, (CAST(:sources AS text[]))[nullif(labels % 8, 0)] AS source, n, ns
      FROM c WHERE grp = 24    -- the (service, branch, labels) set: doctor and week not grouped (bits 4, 3)
)
SELECT 1 AS part, GROUPING(doctor_id, week) AS g, doctor_id, week, NULL::int AS service_id, NULL::int AS weekday,
       NULL::int AS hour, NULL::int AS lead_band, NULL::bool AS sms, NULL::int AS age_band, NULL::int AS branch_id,
       NULL::text AS source, sum(n)::bigint AS n, sum(ns)::bigint AS ns
  FROM c WHERE grp = 7       -- the (doctor, week) set: service, branch and labels not grouped (bits 2..0)
 GROUP BY GROUPING SETS ((doctor_id), (week))
UNION ALL
SELECT 0, GROUPING(service_id, weekday, hour, lead_band, sms, age_band, branch_id, source),
       NULL, NULL, service_id, weekday, hour, lead_band, sms, age_band, branch_id, source,
       coalesce(sum(n), 0)::bigint, coalesce(sum(ns), 0)::bigint
  FROM labelled
 GROUP BY GROUPING SETS ((), (service_id), (weekday), (hour), (lead_band), (sms), (age_band), (branch_id), (source))

-- name: summary
-- The CLI's summary (clinic report no-show): the total and five breakdowns over local dates
-- :d_from..:d_to, either bound open (NULL), in three layers:
--  1. local: each appointment's local date (local_start, migration 0005), lead days, sent-SMS flag and
--     age inputs; OFFSET 0 keeps the planner from inlining it. The coarse UTC window :lo/:hi on
--     starts_at (local dates widened by two days each side; every zone is within 14 h of UTC) lets
--     an index cut the scan before the exact local-date filter.
--  2. combos: one hash aggregate over the combination of all five labels, as small integers
--     (width_bucket evaluates each expression once): at most 7*7*2*6*branches groups.
--  3. GROUPING SETS over those few combinations give the total and each breakdown.
WITH local AS (
    SELECT /*@definitions.no_show*/ AS no_show, a.branch_id, a.local_start::date AS day,
           width_bucket(a.lead_days, CAST(:lead_bounds AS int[])) AS lead_band,
           /*@definitions.sms_reminder_sent*/ AS sms,
           width_bucket(/*@definitions.age_years*/, CAST(:age_bounds AS int[])) AS age_band
      FROM appointment a
      JOIN patient p ON p.id = a.patient_id
     WHERE /*@definitions.outcome_known*/
       AND (CAST(:lo AS timestamptz) IS NULL OR a.starts_at >= :lo)
       AND (CAST(:hi AS timestamptz) IS NULL OR a.starts_at < :hi)
       AND (CAST(:branch AS integer) IS NULL OR a.branch_id = :branch)
    OFFSET 0
),
combos AS (
    SELECT extract(isodow FROM day)::int AS weekday, lead_band, sms, age_band, branch_id,
           count(*) AS n, count(*) FILTER (WHERE no_show) AS ns
      FROM local
     WHERE (CAST(:d_from AS date) IS NULL OR day >= :d_from)
       AND (CAST(:d_to AS date) IS NULL OR day <= :d_to)
     GROUP BY 1, 2, 3, 4, 5
)
SELECT GROUPING(weekday, lead_band, sms, age_band, b.name) AS g,
       weekday, lead_band, sms, age_band, b.name AS branch,
       coalesce(sum(n), 0)::bigint AS appointments, coalesce(sum(ns), 0)::bigint AS no_shows
  FROM combos c JOIN branch b ON b.id = c.branch_id
 GROUP BY GROUPING SETS ((), (weekday), (lead_band), (sms), (age_band), (b.name))
