-- The operations report (reports/operations.py): time to confirmation, follow-up completion, the
-- waitlist's freed slots and the overrides log of the period.

-- name: confirmation
-- Time to confirmation as a histogram: per (service, whole minute of booked_at -> confirmed_at) the
-- count and the exact seconds (for the mean): a parallel aggregate of a few thousand groups instead
-- of sorting every confirmed appointment; the median and 90th percentile come from the cumulative
-- counts (operations.percentile), exact to the minute.
WITH a AS (/*@definitions.report_appointment*/)
SELECT c.service_id, c.m, c.n, c.secs
  FROM (SELECT a.service_id, floor(x.secs / 60)::int AS m, count(*) AS n, sum(x.secs) AS secs
          FROM a
         CROSS JOIN LATERAL (SELECT date_part('epoch', greatest(a.confirmed_at - a.booked_at, interval '0')) AS secs) x
         WHERE a.confirmed_at IS NOT NULL
         GROUP BY 1, 2) c

-- name: follow_up
-- Completed appointments of the period, those with a follow_up message, and those whose message went out.
WITH a AS (/*@definitions.report_appointment*/)
SELECT count(*) AS completed, count(f.appointment_id) AS with_follow_up,
       count(*) FILTER (WHERE f.sent) AS follow_up_sent
  FROM a
  LEFT JOIN (SELECT appointment_id, bool_or(status = 'sent') AS sent FROM reminder
              WHERE purpose = 'follow_up' GROUP BY appointment_id) f ON f.appointment_id = a.id
 WHERE a.status = 'completed'

-- name: waitlist
-- Freed slots of the period (by their start) per state.
SELECT f.state, count(*) AS n
  FROM freed_slot f JOIN (/*@definitions.period_branches*/) b ON b.id = f.branch_id
 WHERE f.starts_at >= b.lo AND f.starts_at < b.hi
 GROUP BY f.state

-- name: overrides
-- The overrides made in the period (by when they were made, in the appointment's branch; one without
-- an appointment counts in the first branch when the report is for all branches).
SELECT o.id, o.at, b.tz, o.db_user, o.kind, o.appointment_id, o.reason
  FROM override_log o
  LEFT JOIN appointment a ON a.id = o.appointment_id
  JOIN (/*@definitions.period_branches*/) b ON b.id = a.branch_id OR (a.id IS NULL AND CAST(:branch AS integer) IS NULL
                                                                     AND b.id = (SELECT min(id) FROM branch))
 WHERE o.at >= b.lo AND o.at < b.hi
 ORDER BY o.at, o.id
