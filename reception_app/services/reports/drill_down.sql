-- The drill-down (reports/drill.py): the appointments behind one figure of a report, within its period
-- and branch, by start, at most :limit. "filter_<key>" is the condition of one key of a row's drill
-- dict on the appointment "a", its local start "lt", its branch "b" (definitions.period_branches) and
-- its patient "p"; the statement's /*filters*/ marker becomes "AND (<condition>)" for each key given.

-- name: appointments
-- /*window*/ is period_window, or booked_window for a utilization figure.
SELECT a.id, to_char(lt, 'YYYY-MM-DD HH24:MI') AS start, b.name AS branch, s.name AS service,
       p.display_name AS patient, a.status,
       (SELECT string_agg(r.name, ', ' ORDER BY r.name) FROM booking k JOIN resource r ON r.id = k.resource_id
         WHERE k.appointment_id = a.id AND r.kind = 'doctor') AS doctor,
       to_char(a.booked_at AT TIME ZONE b.tz, 'YYYY-MM-DD') AS booked_on,
       /*@definitions.sms_reminder_sent*/ AS sms
  FROM appointment a JOIN (/*@definitions.period_branches*/) b ON b.id = a.branch_id
 CROSS JOIN LATERAL (SELECT a.starts_at AT TIME ZONE b.tz AS lt) l
  JOIN service s ON s.id = a.service_id JOIN patient p ON p.id = a.patient_id
 WHERE /*window*/ /*filters*/
 ORDER BY a.starts_at, a.id LIMIT :limit

-- name: period_window
/*@definitions.period_window*/

-- name: booked_window
-- A utilization figure's appointments: those with a live booking of the resource (kind) with minutes on
-- local dates :booked_lo..:booked_hi (up to midnight on its start date, and after midnight on the next
-- date), near those dates (the coarse range lets an index cut the scan).
a.starts_at >= CAST(:booked_lo AS timestamp) - interval '2 days'
   AND a.starts_at < CAST(:booked_hi AS timestamp) + interval '3 days'
   AND EXISTS (SELECT 1 FROM booking k JOIN resource r ON r.id = k.resource_id
                WHERE k.appointment_id = a.id AND k.live
                  AND (CAST(:booked_resource AS integer) IS NULL OR k.resource_id = :booked_resource)
                  AND (CAST(:booked_kind AS text) IS NULL OR r.kind = :booked_kind)
                  AND k.local_day <= CAST(:booked_hi AS date)
                  AND (k.local_day >= CAST(:booked_lo AS date)
                       OR (k.local_day = CAST(:booked_lo AS date) - 1 AND k.end_min > 1440)))

-- name: filter_branch_id
a.branch_id = :branch_id
-- name: filter_service_id
a.service_id = :service_id
-- name: filter_doctor_id
-- the doctor the reports count (migration 0005)
a.doctor_id = :doctor_id
-- name: filter_resource_id
EXISTS (SELECT 1 FROM booking k WHERE k.appointment_id = a.id AND k.resource_id = :resource_id)
-- name: filter_kind
EXISTS (SELECT 1 FROM booking k JOIN resource r ON r.id = k.resource_id WHERE k.appointment_id = a.id AND r.kind = :kind)
-- name: filter_weekday
extract(isodow FROM lt)::int - 1 = :weekday
-- name: filter_hour
extract(hour FROM lt)::int = :hour
-- name: filter_lead_band
width_bucket(lt::date - (a.booked_at AT TIME ZONE b.tz)::date, CAST(:lead_bounds AS int[])) = :lead_band
-- name: filter_sms
EXISTS (SELECT 1 FROM reminder m WHERE m.appointment_id = a.id AND m.channel = 'sms' AND m.purpose = 'reminder'
               AND m.status = 'sent') = :sms
-- name: filter_age_band
coalesce(width_bucket(coalesce(a.patient_age_years, CASE WHEN p.birth_date <= lt::date THEN
         extract(year FROM age(lt::date, p.birth_date))::int END), CAST(:age_bounds AS int[])), 0)
  = coalesce(CAST(:age_band AS int), 0)
-- name: filter_source
a.source = :source
-- name: filter_week
date_trunc('week', lt)::date = CAST(:week AS date)
-- name: filter_month
date_trunc('month', lt)::date = CAST(:month AS date)
-- name: filter_day
lt::date = CAST(:day AS date)
-- name: filter_outcome
/*@definitions.outcome_known*/
-- name: filter_live
/*@definitions.occupied*/
-- name: filter_status
a.status = :status
-- name: filter_confirmed
a.confirmed_at IS NOT NULL
-- name: filter_follow_up
EXISTS (SELECT 1 FROM reminder m WHERE m.appointment_id = a.id AND m.purpose = 'follow_up')
-- name: filter_follow_up_sent
EXISTS (SELECT 1 FROM reminder m WHERE m.appointment_id = a.id AND m.purpose = 'follow_up' AND m.status = 'sent')
-- name: filter_freed_state
EXISTS (SELECT 1 FROM freed_slot f WHERE f.appointment_id = a.id AND f.state = :freed_state)
-- name: filter_appointment_id
a.id = :appointment_id
-- name: filter_cancel_reason
a.status IN ('cancelled', 'rescheduled') AND coalesce(nullif(btrim(a.status_reason), ''), '(no reason given)') = :cancel_reason
-- name: filter_cancel_timing
a.status IN ('cancelled', 'rescheduled')
AND CASE WHEN a.status = 'rescheduled' THEN 'rescheduled' WHEN a.cancelled_late THEN 'late' ELSE 'early' END = :cancel_timing
-- name: filter_cancel_who
a.status IN ('cancelled', 'rescheduled') AND coalesce(a.cancelled_by, 'clinic') = :cancel_who
-- name: filter_cancel_outcome
a.status IN ('cancelled', 'rescheduled')
AND CASE WHEN a.status = 'rescheduled' OR a.rescheduled_to IS NOT NULL THEN 'rescheduled' ELSE 'lost' END = :cancel_outcome
-- name: filter_cancel_week
a.status IN ('cancelled', 'rescheduled') AND date_trunc('week', lt)::date = CAST(:cancel_week AS date)
