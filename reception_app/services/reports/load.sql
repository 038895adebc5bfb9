-- The doctor load and branch demand report (reports/load.py): the appointments that occupy their
-- resources (definitions.occupied), per doctor and per branch, weekday and local hour.

-- name: report
-- One pass over the period's appointments that occupy their resources, one aggregate by (doctor,
-- branch, weekday, local hour, word): bookings, booked minutes (end - start) and, per group, the
-- weeks of the period it has bookings in as the bits of one 64-bit word (week i = local days
-- 7i..7i+6 from :d_from, in word i / 64, bit i % 64; three words cover the longest period,
-- MAX_DAYS = 1098 days = 157 weeks). The word is part of the group key, so each row computes its
-- week twice (key and bit) rather than once per word and filter. The aggregate is plain (no
-- grouping sets), so the parallel workers each fold their share into a few tens of thousands of
-- groups. A doctor's days worked are the distinct (weekday, week) pairs: per weekday and word the
-- bits of all its groups or-ed together, counted, summed over the words.
-- part 1: per doctor (id, name; n, minutes, days), bookings first then name; part 0: per branch
-- (branch id, name), weekday (0 = Monday) and hour: bookings.
WITH a AS (/*@definitions.report_appointment*/),
g AS (
    SELECT a.doctor_id, a.branch_id, a.weekday, a.hour, (a.local_day - CAST(:d_from AS date)) / 448 AS word, count(*) AS n,
           sum(date_part('epoch', a.ends_at - a.starts_at)) / 60 AS minutes,
           bit_or(1::int8 << ((a.local_day - CAST(:d_from AS date)) / 7 % 64)) AS w
      FROM a
     WHERE a.occupied
     GROUP BY 1, 2, 3, 4, 5
),
doctor_word AS (
    SELECT doctor_id, weekday, sum(n) AS n, sum(minutes) AS minutes, bit_count(bit_or(w)::bit(64)) AS days
      FROM g WHERE doctor_id IS NOT NULL
     GROUP BY doctor_id, weekday, word
),
doctor_weekday AS (
    SELECT doctor_id, weekday, sum(n) AS n, sum(minutes) AS minutes, sum(days) AS days
      FROM doctor_word
     GROUP BY 1, 2
)
SELECT 1 AS part, r.id, r.name, NULL::int AS branch_id, NULL::text AS branch, NULL::int AS weekday, NULL::int AS hour,
       sum(d.n)::bigint AS n, sum(d.minutes)::bigint AS minutes, sum(d.days)::bigint AS days
  FROM doctor_weekday d JOIN resource r ON r.id = d.doctor_id
 GROUP BY r.id, r.name
UNION ALL
SELECT 0, NULL, NULL, h.branch_id, b.name, h.weekday, h.hour, h.n, NULL, NULL
  FROM (SELECT branch_id, weekday, hour, sum(n)::bigint AS n FROM g GROUP BY 1, 2, 3) h
  JOIN branch b ON b.id = h.branch_id
 ORDER BY part DESC, n DESC, name
