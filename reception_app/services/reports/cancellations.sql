-- The cancellations report (reports/cancellations.py): cancelled and rescheduled appointments of the
-- period by reason, timing (early, late, rescheduled), who cancelled, outcome (rescheduled, lost)
-- and week, with the total; one aggregate with grouping sets. An online hold that never had a patient
-- (migration 0014: the visitor left, or its time ran out) was never a booking, so it is no
-- cancellation (the drill-down, which joins the patient, lists none of them either).

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
         WHERE NOT a.occupied AND a.patient_id IS NOT NULL) c
 GROUP BY GROUPING SETS ((), (reason), (timing), (who), (outcome), (week))
