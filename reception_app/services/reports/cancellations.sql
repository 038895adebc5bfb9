-- The cancellations report (reports/cancellations.py): cancelled and rescheduled appointments of the
-- period by reason, timing (early, late, rescheduled), who cancelled, outcome (rescheduled, lost)
-- and week, with the total; one aggregate with grouping sets.

-- name: report
WITH a AS (/*@definitions.report_appointment*/)
SELECT GROUPING(reason, timing, who, outcome, week) AS g, reason, timing, who, outcome, week, count(*) AS n
  FROM (SELECT coalesce(nullif(btrim(a.status_reason), ''), '(no reason given)') AS reason,
               CASE WHEN a.status = 'rescheduled' THEN 'rescheduled'
                    WHEN a.cancelled_late THEN 'late' ELSE 'early' END AS timing,
               coalesce(a.cancelled_by, 'clinic') AS who,
               CASE WHEN a.status = 'rescheduled' OR a.rescheduled_to IS NOT NULL THEN 'rescheduled'
                    ELSE 'lost' END AS outcome,
               a.week
          FROM a
         WHERE NOT a.occupied) c
 GROUP BY GROUPING SETS ((), (reason), (timing), (who), (outcome), (week))
