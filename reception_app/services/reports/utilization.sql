-- The utilization report (reports/utilization.py) and its summary's refresh: booked over available
-- time per (resource, branch, local day), a "resource-day", from the rosters and the bookings' local
-- columns (migration 0007), and the summary of migration 0008 (utilization_day) for the resource-days
-- it answers for. "Booked" is the live bookings (booking.live: the appointment occupies its
-- resources, definitions.occupied) with their buffers, as they hold the resource.
--
-- Markers replaced at run time (reports/utilization.py): /*region*/ (the live region, or nothing),
-- /*wkeys*/ /*bkeys*/ /*okeys*/ (read only the region's keys), /*weekcol*/ /*daycol*/ /*sets*/ (the
-- per-resource week and day totals, or not).

-- name: windows
-- The rostered windows of the period, as a list of CTEs (the includer writes "WITH" before and a
-- comma after):
-- * days: the branch-local dates of the period (and the day before, for overnight shifts) that are not
--   holidays, with dst/dst_next when that day or the next is not 24 hours long.
-- * wk: the rostered windows of a week, each worked out once (wall-clock minutes of its start day, end
--   past 1440 when it runs overnight, its wholly available quarter-hours): doctors' weekly shifts with
--   their validity, a date's shift exceptions (which replace the shifts of that date), rooms' and
--   equipment's branch opening hours; raw copies them onto each date; win cuts a window that meets time
--   off into what remains (multirange difference in UTC, only for resources with time off).
-- * pieces: each window on its start day and, past midnight, a piece on the next day from 0. Available
--   minutes are real minutes: a window on a daylight-saving day is converted.
days AS MATERIALIZED (
    SELECT b.id AS branch_id, b.timezone AS tz, d::date AS day, extract(isodow FROM d)::int - 1 AS wd,
           (d + interval '1 day') AT TIME ZONE b.timezone - d AT TIME ZONE b.timezone <> interval '24 hours' AS dst,
           (d + interval '2 days') AT TIME ZONE b.timezone - (d + interval '1 day') AT TIME ZONE b.timezone
               <> interval '24 hours' AS dst_next
      FROM branch b
     CROSS JOIN generate_series(CAST(:d_from AS timestamp) - interval '1 day', CAST(:d_to AS timestamp),
                                interval '1 day') d
     WHERE (CAST(:branch AS integer) IS NULL OR b.id = :branch)
       AND NOT EXISTS (SELECT 1 FROM holiday h WHERE h.branch_id = b.id AND h.local_date = d::date)
),
wk AS NOT MATERIALIZED (
    SELECT x.*, clinic_quarters((x.ws + 14) / 15, x.we / 15, 0) AS q0,
           clinic_quarters((x.ws + 14) / 15, x.we / 15, 1) AS q1
      FROM (SELECT s.resource_id, s.branch_id, s.weekday, s.valid_from, s.valid_until, true AS shift,
                   s.start_min::int AS ws,
                   CASE WHEN s.end_min <= s.start_min THEN s.end_min + 1440 ELSE s.end_min::int END AS we
              FROM shift s WHERE CAST(:rids AS integer[]) IS NULL OR s.resource_id = ANY(CAST(:rids AS integer[]))
            UNION ALL
            SELECT e.resource_id, e.branch_id, extract(isodow FROM e.local_date)::int - 1, e.local_date, e.local_date,
                   false, e.start_min::int,
                   CASE WHEN e.end_min <= e.start_min THEN e.end_min + 1440 ELSE e.end_min::int END
              FROM shift_exception e
             WHERE e.start_min IS NOT NULL AND e.local_date >= CAST(:d_from AS date) - 1
               AND e.local_date <= CAST(:d_to AS date)
               AND (CAST(:rids AS integer[]) IS NULL OR e.resource_id = ANY(CAST(:rids AS integer[])))
            UNION ALL
            SELECT r.id, o.branch_id, o.weekday, NULL, NULL, false, o.start_min::int,
                   CASE WHEN o.end_min <= o.start_min THEN o.end_min + 1440 ELSE o.end_min::int END
              FROM opening_hours o
              JOIN resource r ON r.branch_id = o.branch_id AND r.kind IN ('room', 'equipment') AND r.active
             WHERE CAST(:rids AS integer[]) IS NULL OR r.id = ANY(CAST(:rids AS integer[]))) x
),
raw AS NOT MATERIALIZED (
    SELECT w.resource_id, w.branch_id, x.day, x.tz, x.dst, x.dst_next, w.ws, w.we, w.q0, w.q1
      FROM days x JOIN wk w ON w.branch_id = x.branch_id AND w.weekday = x.wd
       AND (w.valid_from IS NULL OR x.day >= w.valid_from) AND (w.valid_until IS NULL OR x.day <= w.valid_until)
      LEFT JOIN (SELECT DISTINCT resource_id, local_date FROM shift_exception
                  WHERE local_date >= CAST(:d_from AS date) - 1 AND local_date <= CAST(:d_to AS date)) e
        ON w.shift AND e.resource_id = w.resource_id AND e.local_date = x.day
     WHERE e.resource_id IS NULL /*wkeys*/
),
toff AS MATERIALIZED (
    SELECT resource_id, range_agg(period) AS mr FROM time_off
     WHERE period && tstzrange(CAST(:d_from AS timestamp) - interval '3 days', CAST(:d_to AS timestamp) + interval '4 days')
     GROUP BY resource_id
),
win AS NOT MATERIALIZED (
    SELECT w.resource_id, w.branch_id, w.day, w.tz, w.dst, w.dst_next, w.ws, w.we, w.q0, w.q1 FROM raw w
     WHERE NOT EXISTS (SELECT 1 FROM toff t WHERE t.resource_id = w.resource_id)
    UNION ALL
    SELECT c.resource_id, c.branch_id, c.day, c.tz, true, true, c.ws, c.we,
           clinic_quarters((c.ws + 14) / 15, c.we / 15, 0), clinic_quarters((c.ws + 14) / 15, c.we / 15, 1)
      FROM (SELECT w.resource_id, w.branch_id, w.day, w.tz,
                   round(extract(epoch FROM (lower(p) AT TIME ZONE w.tz) - w.day) / 60)::int AS ws,
                   round(extract(epoch FROM (upper(p) AT TIME ZONE w.tz) - w.day) / 60)::int AS we
              FROM raw w JOIN toff t ON t.resource_id = w.resource_id
             CROSS JOIN LATERAL unnest(tstzmultirange(tstzrange((w.day + make_interval(mins => w.ws)) AT TIME ZONE w.tz,
                                                                (w.day + make_interval(mins => w.we)) AT TIME ZONE w.tz))
                                       - t.mr) AS p) c
),
pieces AS NOT MATERIALIZED (
    SELECT resource_id, branch_id, day, ws AS cs, we AS ce,
           CASE WHEN dst OR (dst_next AND we > 1440)
                THEN extract(epoch FROM (day + make_interval(mins => least(we, 1440))) AT TIME ZONE tz
                                        - (day + make_interval(mins => ws)) AT TIME ZONE tz) / 60
                ELSE least(we, 1440) - ws END AS avail, q0 AS r0, q1 AS r1
      FROM win WHERE ws < 1440 AND we > ws
    UNION ALL
    SELECT resource_id, branch_id, day + 1, 0, we - 1440,
           CASE WHEN dst OR dst_next
                THEN extract(epoch FROM (day + make_interval(mins => we)) AT TIME ZONE tz
                                        - (day + interval '1 day') AT TIME ZONE tz) / 60
                ELSE we - 1440 END,
           clinic_quarters(0, (we - 1440) / 15, 0), clinic_quarters(0, (we - 1440) / 15, 1)
      FROM win WHERE we > 1440
)

-- name: live
-- The figures of each resource-day worked out live (m: rid, bid, day, avail, booked, partly_outside,
-- inside, unbooked, gaps), for the resource-days in the region when /*region*/ is replaced by
-- "AND" in_region, for all of them when it is removed. :rids (or NULL) narrows the rosters and
-- bookings read to those resources, the *keys markers to the region's keys.
-- * wd per resource-day: available minutes and the quarter-hours wholly available as bits
--   (clinic_quarters: two 48-bit words = the day). bk: booked minutes up to midnight and the
--   quarter-hours they touch, streamed in booking_report's order; ov: the minutes after midnight of
--   bookings that run over it, on the next date (a partial index keeps them few).
-- * booked inside available time: when every quarter-hour a booking touches is wholly available, all
--   of it; otherwise (a booking outside the roster, or windows off the quarter-hour grid) the
--   resource-day is partly_outside and "exact" works out the overlap of each of its bookings with each
--   piece; the difference moves from inside to overbooked.
-- * idle gaps: runs of two or more free available quarter-hours (free & free >> 1 marks a pair; a run
--   of pairs starts where the bit below is clear), counted on the day itself.
WITH /*@windows*/,
wd AS (
    SELECT day, resource_id, branch_id, sum(avail) AS avail, bit_or(r0) AS r0, bit_or(r1) AS r1
      FROM pieces WHERE day >= CAST(:d_from AS date) AND day <= CAST(:d_to AS date)
     GROUP BY 1, 2, 3   -- in booking_report's order: both sides of the join below arrive sorted
),
bk AS (
    SELECT b.local_day AS day, b.resource_id, b.branch_id, sum(least(b.end_min, 1440) - b.start_min) AS booked,
           coalesce(bit_or(CASE WHEN b.start_min < 720 THEN clinic_quarters(b.start_min / 15, (b.end_min + 14) / 15, 0) END),
                    0) AS b0,
           coalesce(bit_or(CASE WHEN b.end_min > 720 THEN clinic_quarters(b.start_min / 15, (b.end_min + 14) / 15, 1) END),
                    0) AS b1
      FROM booking b
     WHERE b.live AND b.local_day >= CAST(:d_from AS date) AND b.local_day <= CAST(:d_to AS date)
       AND (CAST(:branch AS integer) IS NULL OR b.branch_id = :branch)
       AND (CAST(:rids AS integer[]) IS NULL OR b.resource_id = ANY(CAST(:rids AS integer[]))) /*bkeys*/
     GROUP BY 1, 2, 3
),
ov AS (
    SELECT b.local_day + 1 AS day, b.resource_id, b.branch_id, sum(b.end_min - 1440) AS booked,
           bit_or(clinic_quarters(0, (b.end_min - 1440 + 14) / 15, 0)) AS b0,
           bit_or(clinic_quarters(0, (b.end_min - 1440 + 14) / 15, 1)) AS b1
      FROM booking b
     WHERE b.live AND b.end_min > 1440 AND b.local_day >= CAST(:d_from AS date) - 1
       AND b.local_day < CAST(:d_to AS date) AND (CAST(:branch AS integer) IS NULL OR b.branch_id = :branch)
       AND (CAST(:rids AS integer[]) IS NULL OR b.resource_id = ANY(CAST(:rids AS integer[]))) /*okeys*/
     GROUP BY 1, 2, 3
),
rd AS (
    SELECT coalesce(w.resource_id, k.resource_id, o.resource_id) AS rid,
           coalesce(w.branch_id, k.branch_id, o.branch_id) AS bid, coalesce(w.day, k.day, o.day) AS day,
           coalesce(w.avail, 0) AS avail, coalesce(k.booked, 0) + coalesce(o.booked, 0) AS booked,
           k.day IS NOT NULL OR o.day IS NOT NULL AS has_booking, w.day IS NOT NULL AS has_window,
           w.day IS NOT NULL AND ((coalesce(k.b0, 0) | coalesce(o.b0, 0)) & ~w.r0
                                  | (coalesce(k.b1, 0) | coalesce(o.b1, 0)) & ~w.r1) <> 0 AS partly_outside,
           coalesce(w.r0 & ~(coalesce(k.b0, 0) | coalesce(o.b0, 0)), 0) AS f0,
           coalesce(w.r1 & ~(coalesce(k.b1, 0) | coalesce(o.b1, 0)), 0) AS f1
      FROM wd w FULL JOIN bk k ON k.resource_id = w.resource_id AND k.branch_id = w.branch_id AND k.day = w.day
      FULL JOIN ov o ON o.resource_id = coalesce(w.resource_id, k.resource_id)
                    AND o.branch_id = coalesce(w.branch_id, k.branch_id) AND o.day = coalesce(w.day, k.day)
),
m AS (
    SELECT q.rid, q.bid, q.day, q.avail, q.booked, q.partly_outside,
           CASE WHEN q.has_booking AND q.has_window THEN least(q.booked, q.avail) ELSE 0 END AS inside,
           CASE WHEN q.has_booking THEN 0 ELSE q.avail END AS unbooked,
           bit_count((q.p0 & ~(q.p0 << 1))::bit(64))
             + bit_count((q.p1 & ~((q.p1 << 1) | (q.p0 >> 47)) & 281474976710655)::bit(64)) AS gaps
      FROM (SELECT rd.*, f0 & ((f0 >> 1) | ((f1 & 1) << 47)) AS p0, f1 & (f1 >> 1) AS p1 FROM rd) q
     WHERE true /*region*/
)

-- name: in_region
-- Whether the resource-day q (rid, bid, day) lies in the live region, given as key arrays: its
-- (resource, day) in :rk_*, its (branch, day) in :gk_*, or its day in :ga_day (every branch). Hashed
-- lookups of bound arrays (parallel safe).
((q.rid, q.day) IN (SELECT * FROM unnest(CAST(:rk_rid AS integer[]), CAST(:rk_day AS date[])))
        OR (q.bid, q.day) IN (SELECT * FROM unnest(CAST(:gk_bid AS integer[]), CAST(:gk_day AS date[])))
        OR q.day = ANY(CAST(:ga_day AS date[])))

-- name: wkeys
-- With only resources' keys: the rosters read are those of the keys and the day before each
-- (:rx_rid/:rx_day), for what runs past midnight.
AND (w.resource_id, x.day) IN (SELECT * FROM unnest(CAST(:rx_rid AS integer[]), CAST(:rx_day AS date[])))

-- name: bkeys
-- With only resources' keys: the bookings read up to midnight are those of the keys.
AND (b.resource_id, b.local_day) IN (SELECT * FROM unnest(CAST(:rk_rid AS integer[]), CAST(:rk_day AS date[])))

-- name: okeys
-- With only resources' keys: the bookings over midnight read are those of the day before a key.
AND (b.resource_id, b.local_day + 1) IN (SELECT * FROM unnest(CAST(:rk_rid AS integer[]), CAST(:rk_day AS date[])))

-- name: sums
-- The measures of a group of resource-days (rows with avail, inside, booked, gaps, unbooked), in
-- utilization.MEASURES order; resums adds up groups of them again.
sum(avail)::bigint AS avail_min, sum(inside)::bigint AS in_min, sum(booked - inside)::bigint AS over_min,
       sum(avail - inside)::bigint AS idle_min, sum(gaps)::bigint AS gaps, sum(unbooked)::bigint AS unbooked_min

-- name: resums
-- Groups of sums added up again (x: rid, part and the six measures).
sum(x.avail_min)::bigint AS avail_min, sum(x.in_min)::bigint AS in_min, sum(x.over_min)::bigint AS over_min,
       sum(x.idle_min)::bigint AS idle_min, sum(x.gaps)::bigint AS gaps, sum(x.unbooked_min)::bigint AS unbooked_min

-- name: part
-- The part of the period a resource's figures are first totalled by, of the local date "day", by
-- :grain: 0 the day itself, 1 the week's part in the day's month (its first day: the Monday or the 1st,
-- whichever is later: one total serves the per-month and the per-week tables), 2 the month.
-- 2000-01-03 is a Monday.
(CASE CAST(:grain AS integer) WHEN 0 THEN day WHEN 1 THEN greatest(day - (day - DATE '2000-01-03') % 7, date_trunc('month', day::timestamp)::date) ELSE date_trunc('month', day::timestamp)::date END)

-- name: month
-- The month of a part (x.part).
date_trunc('month', x.part::timestamp)::date

-- name: week
-- The week (its Monday) of a part (x.part); replaces /*weekcol*/ when the report has weeks.
x.part - (x.part - DATE '2000-01-03') % 7

-- name: tail
-- The totals a report needs, from x (rid, part, the six measures) and xk (kind, day, the six
-- measures): per resource by month and overall, by week and by day when the report puts those grouping
-- sets in (/*sets*/, /*weekcol*/, /*daycol*/); per kind and day. Columns: rid, kind, name, month, week,
-- day, then the measures; which of month/week/day is set tells the group (none: the resource; no rid:
-- kind and day). "report" adds the resource-days to settle booking by booking: rid, branch id (as text,
-- in kind), day, and no measures.
SELECT x.rid, r.kind, r.name, /*@month*/ AS month, /*weekcol*/ AS week, /*daycol*/ AS day,
       /*@resums*/
  FROM x JOIN resource r ON r.id = x.rid
 GROUP BY GROUPING SETS ((x.rid, r.kind, r.name, /*@month*/), (x.rid, r.kind, r.name) /*sets*/)
UNION ALL
SELECT NULL, kind, NULL, NULL, NULL, day, avail_min, in_min, over_min, idle_min, gaps, unbooked_min FROM xk

-- name: report
-- The live report: live's figures per resource-day, totalled as tail says, and the resource-days
-- partly outside available time.
/*@live*/,
mm AS MATERIALIZED (
    SELECT m.*, r.kind, /*@part*/ AS part FROM m JOIN resource r ON r.id = m.rid
),
x AS (SELECT rid, part, /*@sums*/ FROM mm GROUP BY rid, part),
xk AS (SELECT kind, day, /*@sums*/ FROM mm GROUP BY kind, day)
/*@tail*/

-- the resource-days to settle booking by booking (exact), as (rid, bid in kind, day)
UNION ALL
SELECT rid, bid::text, NULL, NULL, NULL, day, NULL, NULL, NULL, NULL, NULL, NULL FROM mm WHERE partly_outside

-- name: summary_rows
-- The summary's resource-days of the period (q: rid, bid, day, avail, inside, booked, gaps, unbooked).
(SELECT u.resource_id AS rid, u.branch_id AS bid, u.local_day AS day, u.avail_min AS avail,
                   u.in_min AS inside, u.in_min + u.over_min AS booked, u.gaps, u.unbooked_min AS unbooked
              FROM utilization_day u
             WHERE u.local_day >= CAST(:d_from AS date) AND u.local_day <= CAST(:d_to AS date)
               AND (CAST(:branch AS integer) IS NULL OR u.branch_id = :branch)) q

-- name: summary
-- The same totals from the summary, for the resource-days outside the live region (/*region*/
-- replaced by "AND NOT" in_region, or removed when there is none): two scans of utilization_day, each
-- aggregated in parallel workers (hashed), then the tail.
WITH x AS (
    SELECT q.rid, /*@part*/ AS part, /*@sums*/
      FROM /*@summary_rows*/
     WHERE true /*region*/
     GROUP BY 1, 2
),
xk AS (
    SELECT r.kind, q.day, /*@sums*/
      FROM /*@summary_rows*/
      JOIN resource r ON r.id = q.rid
     WHERE true /*region*/
     GROUP BY r.kind, q.day
)
/*@tail*/

-- name: fresh
-- The refresh: each resource-day of the region worked out live, into the scratch table utilization_fresh
-- (rounded minutes; a resource-day two groups of the region share is worked out twice and kept once).
INSERT INTO utilization_fresh
/*@live*/

SELECT day, rid, bid, round(avail), inside, booked - inside, gaps, round(unbooked), partly_outside FROM m
ON CONFLICT DO NOTHING

-- name: drop
-- The refresh: the summary's resource-days in the region, replaced by the refresh.
WITH q AS (
    SELECT local_day AS day, resource_id AS rid, branch_id AS bid FROM utilization_day
     WHERE local_day >= CAST(:d_from AS date) AND local_day <= CAST(:d_to AS date)
)
DELETE FROM utilization_day u USING q
 WHERE u.local_day = q.day AND u.resource_id = q.rid AND u.branch_id = q.bid /*region*/

-- name: exact
-- Booked minutes inside available time, booking by booking, for the resource-days "report" could
-- not settle by quarter-hours (:rids/:bids/:days: parallel arrays of their keys; :d_from/:d_to their
-- first and last day): per key the booked minutes, the available minutes and the exact overlap of each
-- booking with each piece of available time.
WITH /*@windows*/,
keys AS (
    SELECT * FROM unnest(CAST(:rids AS integer[]), CAST(:bids AS integer[]), CAST(:days AS date[])) AS k(rid, bid, day)
),
av AS (
    SELECT k.rid, k.bid, k.day, coalesce(sum(p.avail), 0) AS avail
      FROM keys k LEFT JOIN pieces p ON p.resource_id = k.rid AND p.branch_id = k.bid AND p.day = k.day
     GROUP BY 1, 2, 3
),
-- parts: the bookings' minutes on each key's day: up to midnight, and after midnight from the day before
parts AS (
    SELECT k.rid, k.bid, k.day, b.id, b.start_min AS s, least(b.end_min, 1440) AS e
      FROM keys k JOIN booking b ON b.local_day = k.day AND b.resource_id = k.rid AND b.branch_id = k.bid AND b.live
    UNION ALL
    SELECT k.rid, k.bid, k.day, b.id, 0, b.end_min - 1440
      FROM keys k JOIN booking b ON b.local_day = k.day - 1 AND b.resource_id = k.rid AND b.branch_id = k.bid
       AND b.live AND b.end_min > 1440
),
bb AS (
    SELECT b.rid, b.bid, b.day, b.id, b.e - b.s AS booked,
           coalesce(sum(greatest(0, least(b.e, p.ce) - greatest(b.s, p.cs))), 0) AS inside
      FROM parts b LEFT JOIN pieces p ON p.resource_id = b.rid AND p.branch_id = b.bid AND p.day = b.day
     GROUP BY 1, 2, 3, 4, 5
)
SELECT a.rid, a.bid, a.day, a.avail, sum(bb.booked) AS booked, sum(bb.inside) AS inside
  FROM av a JOIN bb ON bb.rid = a.rid AND bb.bid = a.bid AND bb.day = a.day
 GROUP BY 1, 2, 3, 4

-- name: stale
-- Merged stale entries (migration 0008) that meet [:lo, :hi), cut to it: per resource (branch NULL) or
-- per branch (resource NULL; both NULL: everything), the ranges of local days.
SELECT resource_id, branch_id, lower(r) AS lo, upper(r) AS hi
  FROM (SELECT resource_id, branch_id, unnest(range_agg(days * daterange(:lo, :hi))) AS r
          FROM utilization_stale
         WHERE days && daterange(:lo, :hi)
           AND (CAST(:branch AS integer) IS NULL OR branch_id IS NULL OR branch_id = :branch)
         GROUP BY 1, 2) x
 ORDER BY 1, 2, 3

-- name: covered
-- The local days the summary covers: [lo, hi), NULL when nothing is summarised.
SELECT lower(covered) AS lo, upper(covered) AS hi FROM utilization_summary

-- name: covered_for_update
-- The same, locking the summary's row for the refresh.
SELECT lower(covered) AS lo, upper(covered) AS hi FROM utilization_summary FOR UPDATE

-- name: try_lock
-- One refresh at a time: the advisory lock :k (utilization.REFRESH_LOCK), held to the end of the transaction.
SELECT pg_try_advisory_xact_lock(:k)

-- name: first_booked_day
SELECT min(local_day) FROM booking WHERE live

-- name: last_stale
SELECT max(id) FROM utilization_stale

-- name: clear_fresh
-- The scratch table (unlogged, migration 0009; TEMP would be nobody's), emptied before and after use.
DELETE FROM utilization_fresh

-- name: fresh_partly_outside
-- The refreshed resource-days whose bookings are partly outside available time.
SELECT resource_id, branch_id, local_day FROM utilization_fresh WHERE partly_outside

-- name: fresh_settle
-- Move the minutes found outside available time (booking by booking: "exact") from inside to overbooked.
UPDATE utilization_fresh f SET in_min = f.in_min - x.outside, over_min = f.over_min + x.outside
  FROM unnest(CAST(:rids AS integer[]), CAST(:bids AS integer[]), CAST(:days AS date[]),
              CAST(:outside AS integer[])) AS x(rid, bid, day, outside)
 WHERE f.resource_id = x.rid AND f.branch_id = x.bid AND f.local_day = x.day

-- name: fresh_keep
-- The refreshed resource-days into the summary.
INSERT INTO utilization_day (local_day, resource_id, branch_id, avail_min, in_min, over_min, gaps, unbooked_min)
SELECT local_day, resource_id, branch_id, avail_min, in_min, over_min, gaps, unbooked_min FROM utilization_fresh

-- name: clear_stale
-- The stale entries the refresh saw (up to :last).
DELETE FROM utilization_stale WHERE id <= :last

-- name: set_covered
UPDATE utilization_summary SET covered = daterange(:lo, :hi), refreshed_at = now()
