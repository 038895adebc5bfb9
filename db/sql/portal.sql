-- The patient portal's way in (migration 0014, issue 17): the only functions the portal's group role
-- clinic_portal may call. The role reads no table and writes none; each function below is
-- SECURITY DEFINER (it runs as the database owner), checks what the portal may ask, and leaves every
-- booking rule to the tables' own triggers and constraints (booking_check, the exclusion constraints,
-- appointment_guard, the status transitions, the commit checks), exactly as for the desk. Inside a
-- definer function session_user is still the portal's login, so the audit trail, created_by and the
-- overrides' login checks name it.
--
-- What the portal may do, function by function:
--   portal_catalog()                      what is bookable online: branches, services, doctors, the portal's settings
--   portal_search_inputs(b, s, d, lo, hi) the slot engine's inputs for a window: hours, holidays, shift rules,
--                                         busy periods (no patient, no reason: periods only)
--   portal_hold(b, s, resources, start)   an online hold with no patient yet; returns its hold token
--   portal_held(hold)                     what a hold holds (service, time, place, terms)
--   portal_release(hold)                  give the held time back (the patient left)
--   portal_send_code(hold, ch, contact)   a verification code for a contact (returned once, to be sent)
--   portal_book(hold, code, details)      the verified booking: match or add the patient, the service's
--                                         confirmation mode; returns the appointment's link token
--   portal_appointment(link)              what the patient's own page shows (first name, service, time, place)
--   portal_confirm / portal_cancel / portal_note (link, …)   the patient's actions from that page
--
-- Links are HMAC-SHA256 tokens ("a.<client id>.<version>.<mac>"), signed with the key in
-- portal_secret (read by nobody but the owner), bound to one appointment (its client id, random) and
-- one purpose (the first letter: a = the appointment's page, h = a hold while the patient types),
-- revoked by raising appointment.link_version, and valid until a day after the appointment ends
-- (an appointment page) or while the hold lasts. Tokens are never stored: the reminder service and
-- the desk mint the same token again with clinic_portal_token().
--
-- Refusals a patient can cause raise SQLSTATE CL020 with a HINT naming the reason
-- (store/database.translate turns them into PortalRefused); a wrong verification code is returned,
-- not raised, so that the attempt it counts is committed.
--
-- No triggers in this file.

-- clinic_hmac_hex(text) (migration 0014): HMAC-SHA256 (RFC 2104) of msg with the portal's key, hex.
-- PostgreSQL has sha256() but, without pgcrypto, no hmac(): the two pads are built byte by byte.
CREATE OR REPLACE FUNCTION public.clinic_hmac_hex(msg text)
 RETURNS text
 LANGUAGE plpgsql
 STABLE STRICT SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    k bytea;
    ipad bytea;
    opad bytea;
    i integer;
BEGIN
    SELECT s.key INTO k FROM public.portal_secret s WHERE s.id = 1;
    IF k IS NULL THEN
        RAISE EXCEPTION 'the portal has no signing key' USING ERRCODE = 'CL009';
    END IF;
    IF length(k) > 64 THEN
        k := sha256(k);
    END IF;
    k := k || decode(repeat('00', 64 - length(k)), 'hex');
    ipad := k;
    opad := k;
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(k, i) # 54);   -- 0x36
        opad := set_byte(opad, i, get_byte(k, i) # 92);   -- 0x5c
    END LOOP;
    RETURN encode(sha256(opad || sha256(ipad || convert_to(msg, 'UTF8'))), 'hex');
END $function$;

-- clinic_portal_token(bigint,text) (migration 0014): the signed link of an appointment for a purpose
-- ('appointment' or 'hold'). The desk and the reminder service call it to put the link in a message.
CREATE OR REPLACE FUNCTION public.clinic_portal_token(appt bigint, purpose text)
 RETURNS text
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    p text;
    body text;
BEGIN
    p := CASE purpose WHEN 'appointment' THEN 'a' WHEN 'hold' THEN 'h' WHEN 'offer' THEN 'o' END;
    IF p IS NULL THEN
        RAISE EXCEPTION 'unknown link purpose %', purpose USING ERRCODE = '22023';
    END IF;
    SELECT p || '.' || replace(a.client_id::text, '-', '') || '.' || a.link_version INTO body
      FROM public.appointment a WHERE a.id = appt;
    IF body IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN body || '.' || left(public.clinic_hmac_hex(body), 32);
END $function$;

-- clinic_portal_link(bigint) (migration 0014): the address of an appointment's own page for a
-- message (portal_public_url + '/a/' + its token), or NULL when the clinic has no portal address
-- ([portal] public_url) or the appointment has no patient yet. The reminder service puts it in
-- confirmations and reminders; the desk may show it.
CREATE OR REPLACE FUNCTION public.clinic_portal_link(appt bigint)
 RETURNS text
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    base text;
BEGIN
    base := rtrim((SELECT s.value #>> '{}' FROM public.clinic_setting s WHERE s.key = 'portal_public_url'), '/');
    IF base IS NULL OR base = '' OR NOT EXISTS (SELECT 1 FROM public.appointment a WHERE a.id = appt
                                                   AND a.patient_id IS NOT NULL) THEN
        RETURN NULL;
    END IF;
    RETURN base || '/a/' || public.clinic_portal_token(appt, 'appointment');
END $function$;

-- clinic_portal_offer_link(bigint) (migration 0014): the address of a waitlist offer's page (accept
-- or decline the held time) for the offer message, or NULL without a portal address.
CREATE OR REPLACE FUNCTION public.clinic_portal_offer_link(appt bigint)
 RETURNS text
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    base text;
BEGIN
    base := rtrim((SELECT s.value #>> '{}' FROM public.clinic_setting s WHERE s.key = 'portal_public_url'), '/');
    IF base IS NULL OR base = '' OR NOT EXISTS (SELECT 1 FROM public.waitlist_offer o WHERE o.appointment_id = appt) THEN
        RETURN NULL;
    END IF;
    RETURN base || '/o/' || public.clinic_portal_token(appt, 'offer');
END $function$;

-- clinic_portal_resolve(text,text) (migration 0014): the appointment a token names for a purpose, or
-- NULL when it is malformed, forged, revoked (another link_version) or expired. Callable by nobody
-- but the other definer functions.
CREATE OR REPLACE FUNCTION public.clinic_portal_resolve(token text, purpose text)
 RETURNS bigint
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    m text[];
    a record;
    want text := CASE purpose WHEN 'appointment' THEN 'a' WHEN 'hold' THEN 'h' WHEN 'offer' THEN 'o' END;
BEGIN
    IF token IS NULL OR length(token) > 80 THEN
        RETURN NULL;
    END IF;
    m := regexp_match(token, '^([aho])\.([0-9a-f]{32})\.([0-9]{1,6})\.([0-9a-f]{32})$');
    IF m IS NULL OR want IS NULL OR m[1] <> want THEN
        RETURN NULL;
    END IF;
    IF left(public.clinic_hmac_hex(m[1] || '.' || m[2] || '.' || m[3]), 32) <> m[4] THEN
        RETURN NULL;
    END IF;
    SELECT x.id, x.link_version, x.ends_at, x.status, x.hold_expires_at, x.patient_id INTO a
      FROM public.appointment x WHERE x.client_id = m[2]::uuid;
    IF a.id IS NULL OR a.link_version <> m[3]::integer THEN
        RETURN NULL;
    END IF;
    IF m[1] = 'a' AND (a.patient_id IS NULL
                       OR now() > a.ends_at + make_interval(days => public.clinic_setting_int('portal_link_days_after', 1))) THEN
        RETURN NULL;
    END IF;
    IF m[1] = 'h' AND NOT (a.status = 'held' AND a.patient_id IS NULL AND a.hold_expires_at > now()) THEN
        RETURN NULL;
    END IF;
    -- An offer's link shows the offer (open, taken, expired) until a day after it expired.
    IF m[1] = 'o' AND NOT EXISTS (SELECT 1 FROM public.waitlist_offer o WHERE o.appointment_id = a.id
                                     AND now() <= o.expires_at + interval '1 day') THEN
        RETURN NULL;
    END IF;
    RETURN a.id;
END $function$;

-- clinic_portal_refuse(text,text) (migration 0014): raise the portal's refusal (CL020) with its reason.
CREATE OR REPLACE FUNCTION public.clinic_portal_refuse(reason text, message text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    RAISE EXCEPTION '%', message USING ERRCODE = 'CL020', HINT = reason;
END $function$;

-- clinic_initial_status(text,integer,boolean,integer) (migration 0014): a new booking's first status
-- by its confirmation mode, deposit, whether the patient is known (hybrid) and what is paid: the SQL
-- twin of domain/policy.initial_status (tests/db/test_portal.py proves they agree on every input).
CREATE OR REPLACE FUNCTION public.clinic_initial_status(mode text, deposit_cents integer, known boolean,
                                                        paid_cents integer)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
BEGIN ATOMIC
    SELECT CASE
        WHEN mode = 'approval' OR (mode = 'hybrid' AND NOT known) THEN 'requested'
        WHEN deposit_cents > 0 AND paid_cents < deposit_cents THEN 'payment_pending'
        ELSE 'confirmed' END;
END;

-- portal_catalog() (migration 0014): what a visitor may choose from. Branches (with their zone,
-- locale and phone), the services bookable online (durations in minutes, money in minor units, the
-- kinds they need, the branches that have all of it), the doctors bookable online with the branches
-- they work at, the clinic's currency, the portal's settings and the page's texts (the clinic's name
-- and address; portal_title, portal_colour, portal_terms, portal_logo, portal_public_url). Nothing
-- about patients.
CREATE OR REPLACE FUNCTION public.portal_catalog()
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    out jsonb;
BEGIN
    WITH doctors AS (
        SELECT r.id, r.name, r.category, r.online_confirmation_mode,
               ARRAY(SELECT DISTINCT s.branch_id FROM public.shift s WHERE s.resource_id = r.id
                     UNION SELECT DISTINCT e.branch_id FROM public.shift_exception e
                            WHERE e.resource_id = r.id AND e.start_min IS NOT NULL ORDER BY 1) AS branches
          FROM public.resource r
         WHERE r.kind = 'doctor' AND r.active AND r.online),
    services AS (
        SELECT v.*,
               ARRAY(SELECT b.id FROM public.branch b
                      WHERE (v.doctor_specialty IS NULL
                             OR EXISTS (SELECT 1 FROM doctors d WHERE d.category = v.doctor_specialty
                                                                  AND b.id = ANY(d.branches)))
                        AND (v.room_kind IS NULL
                             OR EXISTS (SELECT 1 FROM public.resource r WHERE r.kind = 'room' AND r.active
                                           AND r.branch_id = b.id AND r.category = v.room_kind))
                        AND (v.equipment_kind IS NULL
                             OR EXISTS (SELECT 1 FROM public.resource r WHERE r.kind = 'equipment' AND r.active
                                           AND r.branch_id = b.id AND r.category = v.equipment_kind))
                      ORDER BY b.name) AS branches
          FROM public.service v
         WHERE v.active AND v.online AND (v.doctor_specialty IS NOT NULL OR v.room_kind IS NOT NULL
                                          OR v.equipment_kind IS NOT NULL))
    SELECT jsonb_build_object(
        'branches', coalesce((SELECT jsonb_agg(jsonb_build_object(
                'id', b.id, 'name', b.name, 'timezone', b.timezone, 'locale', coalesce(b.locale, 'en_GB'),
                'phone', b.phone) ORDER BY b.name)
              FROM public.branch b WHERE EXISTS (SELECT 1 FROM services v WHERE b.id = ANY(v.branches))), '[]'),
        'services', coalesce((SELECT jsonb_agg(jsonb_build_object(
                'id', v.id, 'name', v.name, 'duration_min', v.duration_min, 'deposit_cents', v.deposit_cents,
                'late_cancel_fee_cents', v.late_cancel_fee_cents, 'cancel_free_hours', v.cancel_free_hours,
                'confirmation_mode', v.confirmation_mode, 'doctor_specialty', v.doctor_specialty,
                'room_kind', v.room_kind, 'equipment_kind', v.equipment_kind,
                'min_notice_min', v.min_notice_min, 'horizon_days', v.horizon_days,
                'branches', to_jsonb(v.branches)) ORDER BY v.name)
              FROM services v WHERE cardinality(v.branches) > 0), '[]'),
        'doctors', coalesce((SELECT jsonb_agg(jsonb_build_object(
                'id', d.id, 'name', d.name, 'specialty', d.category,
                'confirmation_mode', d.online_confirmation_mode, 'branches', to_jsonb(d.branches)) ORDER BY d.name)
              FROM doctors d), '[]'),
        'currency', coalesce((SELECT s.value #>> '{}' FROM public.clinic_setting s WHERE s.key = 'currency'), 'EUR'),
        'hold_minutes', public.clinic_setting_int('portal_hold_minutes', 10),
        'min_notice_min', public.clinic_setting_int('portal_min_notice_min', 60),
        'horizon_days', public.clinic_setting_int('portal_horizon_days', 90),
        'code_minutes', public.clinic_setting_int('portal_code_minutes', 10),
        'schema', (SELECT v.version_num FROM public.alembic_version v LIMIT 1),
        'clinic', coalesce((SELECT jsonb_object_agg(s.key, s.value) FROM public.clinic_setting s
                             WHERE s.key IN ('name', 'address', 'portal_title', 'portal_colour', 'portal_terms',
                                             'portal_logo', 'portal_public_url')), '{}'))
      INTO out;
    RETURN out;
END $function$;

-- portal_search_inputs(integer,integer,integer,timestamptz,timestamptz) (migration 0014): the slot
-- engine's inputs for service svc at branch br over [lo, hi) (at most 16 days): the branch (zone,
-- locale, weekly hours as [weekday, start_min, end_min], holidays), the service, the candidate
-- resources as services/catalog.candidate_resources reads them (doctors bookable online, only doc
-- when given) and their busy periods as catalog.busy_seconds reads them ([resource, lo_s, hi_s],
-- epoch seconds). The same rows the desk's search reads, minus everything about who is booked.
CREATE OR REPLACE FUNCTION public.portal_search_inputs(br integer, svc integer, doc integer,
                                                       lo timestamp with time zone, hi timestamp with time zone)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    v public.service;
    b public.branch;
    ids integer[];
    cands jsonb;
BEGIN
    SELECT * INTO v FROM public.service x WHERE x.id = svc AND x.active AND x.online;
    SELECT * INTO b FROM public.branch x WHERE x.id = br;
    IF v.id IS NULL OR b.id IS NULL THEN
        PERFORM public.clinic_portal_refuse('not_online', 'This service is not bookable online.');
    END IF;
    IF lo IS NULL OR hi IS NULL OR hi <= lo OR hi - lo > interval '16 days' THEN
        PERFORM public.clinic_portal_refuse('bad_window', 'A search covers at most 16 days.');
    END IF;
    WITH rows AS (
        SELECT r.id, r.name, r.kind, 'w'::text AS src, s.weekday, s.start_min, s.end_min,
               s.valid_from AS first, s.valid_until AS until
          FROM public.resource r JOIN public.shift s ON s.resource_id = r.id AND s.branch_id = br
         WHERE r.kind = 'doctor' AND r.active AND r.online AND r.category = v.doctor_specialty
           AND (doc IS NULL OR r.id = doc)
        UNION ALL
        SELECT r.id, r.name, r.kind, 'x', NULL, e.start_min, e.end_min, e.local_date, NULL
          FROM public.resource r JOIN public.shift_exception e ON e.resource_id = r.id AND e.branch_id = br
         WHERE r.kind = 'doctor' AND r.active AND r.online AND r.category = v.doctor_specialty
           AND (doc IS NULL OR r.id = doc)
        UNION ALL
        SELECT r.id, r.name, r.kind, NULL, NULL, NULL, NULL, NULL, NULL FROM public.resource r
         WHERE r.active AND r.branch_id = br AND ((r.kind = 'room' AND r.category = v.room_kind)
            OR (r.kind = 'equipment' AND r.category = v.equipment_kind)))
    SELECT coalesce(jsonb_agg(jsonb_build_array(x.id, x.name, x.kind, x.src, x.weekday, x.start_min, x.end_min,
                                                x.first, x.until)
                              ORDER BY x.kind, x.name, x.src, x.weekday, x.first, x.start_min), '[]'),
           coalesce(array_agg(DISTINCT x.id), '{}')
      INTO cands, ids FROM rows x;
    RETURN jsonb_build_object(
        'branch', jsonb_build_object('id', b.id, 'name', b.name, 'timezone', b.timezone,
            'locale', coalesce(b.locale, 'en_GB'), 'phone', b.phone,
            'currency', coalesce((SELECT s.value #>> '{}' FROM public.clinic_setting s WHERE s.key = 'currency'), 'EUR'),
            'hours', coalesce((SELECT jsonb_agg(jsonb_build_array(h.weekday, h.start_min, h.end_min)
                                                ORDER BY h.weekday, h.start_min)
                                 FROM public.opening_hours h WHERE h.branch_id = b.id), '[]'),
            'holidays', coalesce((SELECT jsonb_agg(d.local_date ORDER BY d.local_date) FROM public.holiday d
                                   WHERE d.branch_id = b.id AND d.local_date BETWEEN (lo AT TIME ZONE b.timezone)::date - 1
                                                                         AND (hi AT TIME ZONE b.timezone)::date + 1), '[]')),
        'service', jsonb_build_object('id', v.id, 'name', v.name, 'duration_min', v.duration_min,
            'buffer_before_min', v.buffer_before_min, 'buffer_after_min', v.buffer_after_min,
            'min_notice_min', greatest(v.min_notice_min, public.clinic_setting_int('portal_min_notice_min', 60)),
            'horizon_days', least(v.horizon_days, public.clinic_setting_int('portal_horizon_days', 90)),
            'doctor_specialty', v.doctor_specialty, 'room_kind', v.room_kind, 'equipment_kind', v.equipment_kind,
            'confirmation_mode', v.confirmation_mode, 'deposit_cents', v.deposit_cents),
        'resources', cands,
        'busy', coalesce((
            SELECT jsonb_agg(jsonb_build_array(z.rid, z.lo_s, z.hi_s)) FROM (
                SELECT bk.resource_id AS rid, floor(extract(epoch FROM lower(bk.period)))::bigint AS lo_s,
                       ceil(extract(epoch FROM upper(bk.period)))::bigint AS hi_s
                  FROM unnest(ids) AS r(id)
                  JOIN public.booking bk ON bk.resource_id = r.id AND bk.live AND bk.period && tstzrange(lo, hi)
                 WHERE bk.hold_until IS NULL OR bk.hold_until > now()
                UNION ALL
                SELECT o.resource_id, floor(extract(epoch FROM lower(o.period)))::bigint,
                       ceil(extract(epoch FROM upper(o.period)))::bigint
                  FROM unnest(ids) AS r(id)
                  JOIN public.time_off o ON o.resource_id = r.id AND o.period && tstzrange(lo, hi)) z), '[]'));
END $function$;

-- clinic_portal_check_start(service,integer[],timestamptz) (migration 0014): what portal_hold and
-- portal_reschedule ask of a start before the tables judge it: one active resource per kind (at most
-- three), doctors bookable online, and a start inside the stricter of the service's and the portal's
-- notice and horizon. Raises the portal's refusal (bad_resources, outside_window).
CREATE OR REPLACE FUNCTION public.clinic_portal_check_start(v public.service, resources integer[],
                                                            start timestamp with time zone)
 RETURNS void
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF resources IS NULL OR cardinality(resources) = 0 OR cardinality(resources) > 3
       OR (SELECT count(DISTINCT r.kind) FROM public.resource r WHERE r.id = ANY(resources) AND r.active)
          <> cardinality(resources)
       OR EXISTS (SELECT 1 FROM public.resource r WHERE r.id = ANY(resources) AND r.kind = 'doctor' AND NOT r.online) THEN
        PERFORM public.clinic_portal_refuse('bad_resources', 'These resources cannot be booked online together.');
    END IF;
    IF start IS NULL OR start < now() + make_interval(mins => greatest(v.min_notice_min,
                                             public.clinic_setting_int('portal_min_notice_min', 60)))
       OR start > now() + make_interval(days => least(v.horizon_days, public.clinic_setting_int('portal_horizon_days', 90))) THEN
        PERFORM public.clinic_portal_refuse('outside_window', 'This time can no longer be booked online.');
    END IF;
END $function$;

-- portal_hold(integer,integer,integer[],timestamptz) (migration 0014): hold a start for a visitor
-- who has not given their details yet: an appointment of source 'online', status 'held', no patient,
-- for portal_hold_minutes (10), on exactly the resources given (one per kind the service needs; the
-- portal's slot engine chose them; booking_check and the exclusion constraint judge them). The
-- service must be bookable online, each doctor too, the start inside the portal's notice and horizon
-- (the stricter of the service's and the portal's settings), and at most portal_max_holds (200)
-- such holds may wait at once. Returns {"hold": token, "expires_at": …}; a taken start raises 23P01.
CREATE OR REPLACE FUNCTION public.portal_hold(br integer, svc integer, resources integer[],
                                              start timestamp with time zone)
 RETURNS jsonb
 LANGUAGE plpgsql
 VOLATILE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    v public.service;
    fin timestamptz;
    blo timestamptz;
    bhi timestamptz;
    doc integer;
    appt bigint;
    expires timestamptz;
BEGIN
    SELECT * INTO v FROM public.service x WHERE x.id = svc AND x.active AND x.online;
    IF v.id IS NULL OR NOT EXISTS (SELECT 1 FROM public.branch b WHERE b.id = br) THEN
        PERFORM public.clinic_portal_refuse('not_online', 'This service is not bookable online.');
    END IF;
    PERFORM public.clinic_portal_check_start(v, resources, start);
    IF (SELECT count(*) FROM public.appointment a
         WHERE a.status = 'held' AND a.patient_id IS NULL AND a.hold_expires_at > now())
       >= public.clinic_setting_int('portal_max_holds', 200) THEN
        PERFORM public.clinic_portal_refuse('busy', 'Too many bookings are in progress; please try again in a few minutes.');
    END IF;
    fin := start + make_interval(mins => v.duration_min);
    blo := start - make_interval(mins => v.buffer_before_min);
    bhi := fin + make_interval(mins => v.buffer_after_min);
    PERFORM public.clinic_release_expired_holds(resources, blo, bhi);
    SELECT r.id INTO doc FROM public.resource r WHERE r.id = ANY(resources) AND r.kind = 'doctor';
    expires := now() + make_interval(mins => public.clinic_setting_int('portal_hold_minutes', 10));
    INSERT INTO public.appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source,
                                    hold_expires_at, doctor_id, status_reason)
    VALUES (NULL, v.id, br, 'held', start, fin, 'online', expires, doc, 'held online while the patient types')
    RETURNING id INTO appt;
    INSERT INTO public.booking (appointment_id, resource_id, period)
    SELECT appt, r, tstzrange(blo, bhi) FROM unnest(resources) AS r;
    RETURN jsonb_build_object('hold', public.clinic_portal_token(appt, 'hold'), 'expires_at', expires);
END $function$;

-- portal_held(text) (migration 0014): what a hold holds, for the page where the visitor types their
-- details, or NULL once the hold is gone: service, branch (zone, locale, phone), doctor, times (UTC),
-- when the hold ends, the deposit and the cancellation terms the booking will carry.
CREATE OR REPLACE FUNCTION public.portal_held(hold text)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    appt bigint := public.clinic_portal_resolve(hold, 'hold');
BEGIN
    IF appt IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT jsonb_build_object(
        'service', v.name, 'service_id', v.id, 'branch', b.name, 'branch_id', b.id, 'timezone', b.timezone,
        'locale', coalesce(b.locale, 'en_GB'), 'branch_phone', b.phone,
        'doctor', (SELECT r.name FROM public.resource r WHERE r.id = a.doctor_id), 'doctor_id', a.doctor_id,
        'starts_at', a.starts_at, 'ends_at', a.ends_at, 'hold_expires_at', a.hold_expires_at,
        'deposit_cents', coalesce(a.deposit_cents, v.deposit_cents),
        'late_fee_cents', coalesce(a.policy_late_fee_cents, v.late_cancel_fee_cents),
        'cancel_free_hours', coalesce(a.policy_free_hours, v.cancel_free_hours),
        'confirmation_mode', coalesce((SELECT r.online_confirmation_mode FROM public.resource r WHERE r.id = a.doctor_id),
                                      v.confirmation_mode))
      FROM public.appointment a
      JOIN public.service v ON v.id = a.service_id
      JOIN public.branch b ON b.id = a.branch_id
     WHERE a.id = appt);
END $function$;

-- portal_release(text) (migration 0014): cancel a hold the visitor gave up (no error when it is gone).
CREATE OR REPLACE FUNCTION public.portal_release(hold text)
 RETURNS boolean
 LANGUAGE plpgsql
 VOLATILE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    appt bigint := public.clinic_portal_resolve(hold, 'hold');
BEGIN
    IF appt IS NULL THEN
        RETURN false;
    END IF;
    UPDATE public.appointment SET status = 'cancelled', status_reason = 'hold released online', updated_at = now()
     WHERE id = appt AND status = 'held';
    RETURN true;
END $function$;

-- portal_send_code(text,text,text) (migration 0014): a six-digit code for the visitor to prove the
-- contact is theirs, returned once (the portal sends it; only its HMAC is kept), valid for
-- portal_code_minutes (10). At most 3 codes per hold and 5 per contact in an hour.
CREATE OR REPLACE FUNCTION public.portal_send_code(hold text, via text, address text)
 RETURNS text
 LANGUAGE plpgsql
 VOLATILE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    appt bigint := public.clinic_portal_resolve(hold, 'hold');
    code text;
BEGIN
    IF appt IS NULL THEN
        PERFORM public.clinic_portal_refuse('hold_gone', 'The time you chose is no longer held for you.');
    END IF;
    IF via NOT IN ('sms', 'email')
       OR (via = 'sms' AND address !~ '^\+[1-9][0-9]{6,14}$')
       OR (via = 'email' AND (address !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' OR length(address) > 254)) THEN
        PERFORM public.clinic_portal_refuse('bad_contact', 'This phone number or email address cannot receive a code.');
    END IF;
    IF (SELECT count(*) FROM public.portal_verification p WHERE p.appointment_id = appt) >= 3
       OR (SELECT count(*) FROM public.portal_verification p
            WHERE p.contact = lower(address) AND p.created_at > now() - interval '1 hour') >= 5 THEN
        PERFORM public.clinic_portal_refuse('too_many_codes', 'Too many codes were asked for; please wait an hour or call the clinic.');
    END IF;
    code := lpad(((('x' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 8))::bit(32)::bigint)
                  % 1000000)::text, 6, '0');
    INSERT INTO public.portal_verification (appointment_id, channel, contact, code_mac, expires_at)
    VALUES (appt, via, lower(address), public.clinic_hmac_hex(appt || '.' || lower(address) || '.' || code),
            now() + make_interval(mins => public.clinic_setting_int('portal_code_minutes', 10)));
    RETURN code;
END $function$;

-- portal_book(text,text,jsonb) (migration 0014): the visitor's booking, once the code they were sent
-- is right. details: {"name", "birth_date" (YYYY-MM-DD), "phone" (E.164 or null), "email" (or null),
-- "consent": ["sms", "email"], "language" ("pt")}; the verified contact must be its phone or its email.
-- A patient with that verified phone or email and that birth date is the patient (never a second
-- record); none is a new patient (source 'online'); several are a new patient flagged for the desk to
-- merge (attributes.review), never a silent merge. The status is the service's confirmation mode
-- (the doctor's own online mode first): immediate, approval, or hybrid (at once for a patient with a
-- completed appointment), then the deposit (payment_pending until paid).
-- Returns {"status", "link"} or, for a wrong or expired code, {"error": "code_wrong"|"code_expired",
-- "attempts_left"} (committed: the attempt counts). At most 5 attempts per code.
CREATE OR REPLACE FUNCTION public.portal_book(hold text, code text, details jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 VOLATILE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    appt bigint := public.clinic_portal_resolve(hold, 'hold');
    ver record;
    a public.appointment;
    nm text := btrim(details ->> 'name');
    dob date;
    ph text := nullif(btrim(details ->> 'phone'), '');
    em text := lower(nullif(btrim(details ->> 'email'), ''));
    consent text[];
    lang text := nullif(details ->> 'language', '');
    matches integer[];
    pid integer;
    known boolean := false;
    mode text;
    st text;
BEGIN
    IF appt IS NULL THEN
        PERFORM public.clinic_portal_refuse('hold_gone', 'The time you chose is no longer held for you.');
    END IF;
    SELECT * INTO ver FROM public.portal_verification p
     WHERE p.appointment_id = appt AND p.verified_at IS NULL ORDER BY p.id DESC LIMIT 1 FOR UPDATE;
    IF ver.id IS NULL OR ver.expires_at <= now() OR ver.attempts >= 5 THEN
        RETURN jsonb_build_object('error', 'code_expired', 'attempts_left', 0);
    END IF;
    IF code IS NULL OR code !~ '^[0-9]{6}$'
       OR public.clinic_hmac_hex(appt || '.' || ver.contact || '.' || code) <> ver.code_mac THEN
        UPDATE public.portal_verification SET attempts = attempts + 1 WHERE id = ver.id;
        RETURN jsonb_build_object('error', 'code_wrong', 'attempts_left', 4 - ver.attempts);
    END IF;
    BEGIN
        dob := (details ->> 'birth_date')::date;
    EXCEPTION WHEN others THEN
        dob := NULL;
    END;
    IF nm IS NULL OR nm = '' OR length(nm) > 120 OR dob IS NULL OR dob > current_date OR dob < '1880-01-01' THEN
        PERFORM public.clinic_portal_refuse('bad_details', 'A name and a date of birth are needed.');
    END IF;
    IF (ver.channel = 'sms' AND ph IS DISTINCT FROM ver.contact) OR (ver.channel = 'email' AND em IS DISTINCT FROM ver.contact) THEN
        PERFORM public.clinic_portal_refuse('contact_changed', 'The contact was changed after the code was sent.');
    END IF;
    consent := ARRAY(SELECT DISTINCT c FROM jsonb_array_elements_text(coalesce(details -> 'consent', '[]')) AS c
                      WHERE c IN ('sms', 'email') AND ((c = 'sms' AND ph IS NOT NULL) OR (c = 'email' AND em IS NOT NULL))
                      ORDER BY c);
    IF lang IS NOT NULL AND lang !~ '^[a-z]{2}$' THEN
        lang := NULL;
    END IF;
    matches := ARRAY(SELECT p.id FROM public.patient p
                      WHERE p.birth_date = dob
                        AND ((ver.channel = 'sms' AND p.phone = ver.contact)
                             OR (ver.channel = 'email' AND lower(p.email) = ver.contact))
                      ORDER BY p.id);
    IF cardinality(matches) = 1 THEN
        pid := matches[1];
        known := EXISTS (SELECT 1 FROM public.appointment x WHERE x.patient_id = pid AND x.status = 'completed');
    ELSE
        INSERT INTO public.patient (display_name, birth_date, phone, email, consent_channels, source, language,
                                    attributes)
        VALUES (nm, dob, ph, em, consent, 'online', lang,
                CASE WHEN cardinality(matches) > 1
                     THEN jsonb_build_object('review', 'possible duplicate booked online',
                                             'merge_candidates', to_jsonb(matches))
                     ELSE '{}'::jsonb END)
        RETURNING id INTO pid;
    END IF;
    SELECT * INTO a FROM public.appointment x WHERE x.id = appt FOR UPDATE;
    SELECT coalesce(r.online_confirmation_mode, v.confirmation_mode) INTO mode
      FROM public.service v LEFT JOIN public.resource r ON r.id = a.doctor_id WHERE v.id = a.service_id;
    st := public.clinic_initial_status(mode, coalesce(a.deposit_cents, 0), known,
                                       public.clinic_net_paid_cents(appt)::integer);
    UPDATE public.portal_verification SET verified_at = now() WHERE id = ver.id;
    UPDATE public.appointment SET patient_id = pid, status = st, status_reason = 'booked online', updated_at = now()
     WHERE id = appt;
    RETURN jsonb_build_object('status', st, 'link', public.clinic_portal_token(appt, 'appointment'));
END $function$;

-- portal_appointment(text) (migration 0014): what the patient's own page shows, or NULL for a link
-- that is not (or no longer) valid: first name only, service, branch (name, zone, locale, phone),
-- times (UTC), status, whether the patient confirmed, the cancellation terms of its policy snapshot
-- (free until; the fee), the deposit and what was paid, and the patient's note; for a rescheduled
-- appointment, 'moved_to': the link of the appointment that now replaces it.
CREATE OR REPLACE FUNCTION public.portal_appointment(link text)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    appt bigint := public.clinic_portal_resolve(link, 'appointment');
    latest bigint;
    hops integer := 0;
BEGIN
    IF appt IS NULL THEN
        RETURN NULL;
    END IF;
    -- A rescheduled appointment's link leads to the appointment that replaced it (the chain's end).
    latest := appt;
    WHILE hops < 50 LOOP
        SELECT x.rescheduled_to INTO appt FROM public.appointment x WHERE x.id = latest AND x.status = 'rescheduled';
        EXIT WHEN appt IS NULL;
        latest := appt;
        hops := hops + 1;
    END LOOP;
    appt := public.clinic_portal_resolve(link, 'appointment');
    RETURN (SELECT jsonb_build_object(
        'moved_to', CASE WHEN latest <> appt THEN public.clinic_portal_token(latest, 'appointment') END,
        'first_name', split_part(btrim(p.display_name), ' ', 1),
        'service', v.name, 'service_id', v.id, 'branch', b.name, 'branch_id', b.id, 'timezone', b.timezone,
        'locale', coalesce(b.locale, 'en_GB'), 'branch_phone', b.phone,
        'currency', coalesce((SELECT s.value #>> '{}' FROM public.clinic_setting s WHERE s.key = 'currency'), 'EUR'),
        'doctor', (SELECT r.name FROM public.resource r WHERE r.id = a.doctor_id),
        'starts_at', a.starts_at, 'ends_at', a.ends_at, 'status', a.status,
        'patient_confirmed_at', a.patient_confirmed_at,
        'free_until', a.starts_at - make_interval(hours => coalesce(a.policy_free_hours, v.cancel_free_hours)),
        'late_fee_cents', coalesce(a.policy_late_fee_cents, v.late_cancel_fee_cents),
        'deposit_cents', coalesce(a.deposit_cents, 0),
        'paid_cents', public.clinic_net_paid_cents(a.id),
        'cancelled_late', a.cancelled_late,
        'patient_note', a.patient_note,
        'now', now())
      FROM public.appointment a
      JOIN public.patient p ON p.id = a.patient_id
      JOIN public.service v ON v.id = a.service_id
      JOIN public.branch b ON b.id = a.branch_id
     WHERE a.id = appt);
END $function$;

-- clinic_portal_live(text) (migration 0014): the appointment of an appointment link, locked, when the
-- patient may still act on it (live, not started): else the refusal. For the functions below.
CREATE OR REPLACE FUNCTION public.clinic_portal_live(link text)
 RETURNS public.appointment
 LANGUAGE plpgsql
 VOLATILE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    appt bigint := public.clinic_portal_resolve(link, 'appointment');
    a public.appointment;
BEGIN
    IF appt IS NULL THEN
        PERFORM public.clinic_portal_refuse('bad_link', 'This link is not valid any more.');
    END IF;
    SELECT * INTO a FROM public.appointment x WHERE x.id = appt FOR UPDATE;
    IF a.status NOT IN ('requested', 'confirmed', 'payment_pending') THEN
        PERFORM public.clinic_portal_refuse('not_live', 'This appointment can no longer be changed online.');
    END IF;
    IF a.starts_at <= now() THEN
        PERFORM public.clinic_portal_refuse('started', 'This appointment has already started.');
    END IF;
    RETURN a;
END $function$;

-- portal_confirm(text) (migration 0014): the patient confirms they will come (patient_confirmed_at;
-- the desk shows a tick). Confirming twice keeps the first time.
CREATE OR REPLACE FUNCTION public.portal_confirm(link text)
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
 VOLATILE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    a public.appointment := public.clinic_portal_live(link);
BEGIN
    IF a.patient_confirmed_at IS NOT NULL THEN
        RETURN a.patient_confirmed_at;
    END IF;
    UPDATE public.appointment SET patient_confirmed_at = now(), updated_at = now() WHERE id = a.id;
    RETURN now();
END $function$;

-- portal_cancel(text,boolean) (migration 0014): the patient cancels. A late cancellation (after the
-- policy snapshot's free hours, the same rule as the desk's: the status trigger stamps cancelled_late)
-- with a fee needs accept_fee = true: otherwise {"error": "fee_not_accepted", "fee_cents"} and nothing
-- changes. Returns {"cancelled_late", "fee_cents"}.
CREATE OR REPLACE FUNCTION public.portal_cancel(link text, accept_fee boolean)
 RETURNS jsonb
 LANGUAGE plpgsql
 VOLATILE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    a public.appointment := public.clinic_portal_live(link);
    late boolean;
    fee integer;
BEGIN
    late := now() > a.starts_at - make_interval(hours => coalesce(a.policy_free_hours, 0));
    fee := CASE WHEN late THEN coalesce(a.policy_late_fee_cents, 0) ELSE 0 END;
    IF fee > 0 AND NOT coalesce(accept_fee, false) THEN
        RETURN jsonb_build_object('error', 'fee_not_accepted', 'fee_cents', fee);
    END IF;
    UPDATE public.appointment SET status = 'cancelled', cancelled_by = 'patient',
           status_reason = 'cancelled online by the patient', updated_at = now()
     WHERE id = a.id;
    RETURN jsonb_build_object('cancelled_late', late, 'fee_cents', fee);
END $function$;

-- portal_reschedule(text,integer[],timestamptz) (migration 0014): the patient moves their
-- appointment to another free start from their link — the desk's rule (services/scheduling.reschedule):
-- a NEW appointment of the same patient, service and branch, keeping the old one's policy snapshot
-- (free hours, late fee, deposit) and its standing (confirmed stays confirmed, requested stays
-- requested, payment pending is confirmed once the payments cover the deposit), and the old one
-- becomes 'rescheduled' with rescheduled_to naming it (its bookings released first). The start
-- must be inside the portal's notice and horizon, the resources one per kind (online doctors).
-- Returns {"link": the new appointment's link, "status"}.
CREATE OR REPLACE FUNCTION public.portal_reschedule(link text, resources integer[], start timestamp with time zone)
 RETURNS jsonb
 LANGUAGE plpgsql
 VOLATILE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    a public.appointment := public.clinic_portal_live(link);
    v public.service;
    fin timestamptz;
    blo timestamptz;
    bhi timestamptz;
    doc integer;
    st text;
    appt bigint;
BEGIN
    SELECT * INTO v FROM public.service x WHERE x.id = a.service_id AND x.active AND x.online;
    IF v.id IS NULL THEN
        PERFORM public.clinic_portal_refuse('not_online', 'This service cannot be booked online.');
    END IF;
    IF start = a.starts_at THEN
        PERFORM public.clinic_portal_refuse('outside_window', 'This is the appointment''s own time.');
    END IF;
    PERFORM public.clinic_portal_check_start(v, resources, start);
    fin := start + make_interval(mins => v.duration_min);
    blo := start - make_interval(mins => v.buffer_before_min);
    bhi := fin + make_interval(mins => v.buffer_after_min);
    UPDATE public.appointment SET status = 'rescheduled', status_reason = 'rescheduled online by the patient',
           updated_at = now() WHERE id = a.id;                    -- releases its bookings
    PERFORM public.clinic_release_expired_holds(resources, blo, bhi);
    st := a.status;
    IF st = 'payment_pending' AND public.clinic_net_paid_cents(a.id) >= coalesce(a.deposit_cents, 0) THEN
        st := 'confirmed';
    END IF;
    SELECT r.id INTO doc FROM public.resource r WHERE r.id = ANY(resources) AND r.kind = 'doctor';
    INSERT INTO public.appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source,
                                    policy_free_hours, policy_late_fee_cents, deposit_cents, doctor_id, status_reason)
    VALUES (a.patient_id, a.service_id, a.branch_id, st, start, fin, a.source, a.policy_free_hours,
            a.policy_late_fee_cents, a.deposit_cents, doc, 'rescheduled online by the patient')
    RETURNING id INTO appt;
    INSERT INTO public.booking (appointment_id, resource_id, period)
    SELECT appt, r, tstzrange(blo, bhi) FROM unnest(resources) AS r;
    UPDATE public.appointment SET rescheduled_to = appt, updated_at = now() WHERE id = a.id;
    RETURN jsonb_build_object('link', public.clinic_portal_token(appt, 'appointment'), 'status', st);
END $function$;

-- portal_sms_reply(text,text,text) (migration 0014): an SMS a patient sent to the clinic's number,
-- from the gateway's inbound webhook (provider id, sender in E.164, text), acted on once per provider
-- id (a retried webhook gets the first answer again). The reply words: C / CONFIRM / SIM / OK ... →
-- the sender's next live appointment is confirmed by the patient; X / CANCEL / CANCELAR ... → it is
-- cancelled when that is free, else nothing changes and the answer carries its link (the fee is
-- agreed on the page); STOP / PARAR / SAIR ... → SMS consent is withdrawn for every patient with
-- that phone (consent_event records it); anything else → a message for the desk. Returns {"action",
-- "language", "service", "starts_at", "timezone", "locale", "fee_cents", "link"}.
CREATE OR REPLACE FUNCTION public.portal_sms_reply(sid text, sender text, message text)
 RETURNS jsonb
 LANGUAGE plpgsql
 VOLATILE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    seen record;
    word text;
    a record;
    act text;
    late boolean;
    fee integer := 0;
    lang text;
BEGIN
    IF sid IS NULL OR length(sid) NOT BETWEEN 1 AND 64 OR sender IS NULL OR sender !~ '^\+[1-9][0-9]{6,14}$'
       OR message IS NULL OR length(message) > 1600 THEN
        PERFORM public.clinic_portal_refuse('bad_message', 'This is not a message the clinic can read.');
    END IF;
    SELECT * INTO seen FROM public.inbound_message m WHERE m.provider_ref = sid;
    word := upper(regexp_replace(message, '[^[:alpha:]]', '', 'g'));
    SELECT x.id, x.starts_at, x.status, x.policy_free_hours, x.policy_late_fee_cents, v.name AS service,
           b.timezone, coalesce(b.locale, 'en_GB') AS locale, coalesce(p.language, b.language) AS language, p.id AS pid
      INTO a
      FROM public.appointment x JOIN public.patient p ON p.id = x.patient_id
      JOIN public.service v ON v.id = x.service_id JOIN public.branch b ON b.id = x.branch_id
     WHERE p.phone = sender AND x.status IN ('requested', 'confirmed', 'payment_pending') AND x.starts_at > now()
     ORDER BY x.starts_at LIMIT 1;
    lang := coalesce(a.language, (SELECT p.language FROM public.patient p WHERE p.phone = sender LIMIT 1));
    IF seen.id IS NOT NULL THEN
        act := seen.action;
    ELSIF word IN ('STOP', 'STOPALL', 'UNSUBSCRIBE', 'END', 'QUIT', 'PARAR', 'SAIR', 'CANCELARSMS') THEN
        act := 'stop';
        UPDATE public.patient SET consent_channels = array_remove(consent_channels, 'sms')
         WHERE phone = sender AND 'sms' = ANY(consent_channels);
    ELSIF a.id IS NOT NULL AND word IN ('C', 'CONFIRM', 'CONFIRMO', 'CONFIRMAR', 'SIM', 'S', 'YES', 'Y', 'OK') THEN
        act := 'confirmed';
        UPDATE public.appointment SET patient_confirmed_at = now(), updated_at = now()
         WHERE id = a.id AND patient_confirmed_at IS NULL;
    ELSIF a.id IS NOT NULL AND word IN ('X', 'CANCEL', 'CANCELAR', 'CANCELO') THEN
        late := now() > a.starts_at - make_interval(hours => coalesce(a.policy_free_hours, 0));
        fee := CASE WHEN late THEN coalesce(a.policy_late_fee_cents, 0) ELSE 0 END;
        IF fee > 0 THEN
            act := 'cancel_needs_link';
        ELSE
            act := 'cancelled';
            UPDATE public.appointment SET status = 'cancelled', cancelled_by = 'patient',
                   status_reason = 'cancelled by the patient''s SMS', updated_at = now()
             WHERE id = a.id;
        END IF;
    ELSE
        act := 'for_desk';
    END IF;
    IF seen.id IS NULL THEN
        INSERT INTO public.inbound_message (provider_ref, phone, body, patient_id, appointment_id, action)
        VALUES (sid, sender, message,
                coalesce(a.pid, (SELECT p.id FROM public.patient p WHERE p.phone = sender ORDER BY p.id LIMIT 1)),
                CASE WHEN act IN ('confirmed', 'cancelled', 'cancel_needs_link') THEN a.id END, act);
    END IF;
    RETURN jsonb_build_object('action', act, 'language', lang, 'service', a.service, 'starts_at', a.starts_at,
                              'timezone', a.timezone, 'locale', a.locale, 'fee_cents', fee,
                              'link', CASE WHEN act = 'cancel_needs_link' THEN public.clinic_portal_link(a.id) END);
END $function$;

-- portal_offer(text) (migration 0014): a waitlist offer's page from its link, or NULL: first name,
-- service, branch (zone, locale), the held times (UTC), until when it is held, and its state
-- ('open', 'accepted', 'declined', 'expired' — an open offer past its time counts as expired).
CREATE OR REPLACE FUNCTION public.portal_offer(link text)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    appt bigint := public.clinic_portal_resolve(link, 'offer');
BEGIN
    IF appt IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT jsonb_build_object(
        'first_name', split_part(btrim(p.display_name), ' ', 1), 'service', v.name, 'branch', b.name,
        'timezone', b.timezone, 'locale', coalesce(b.locale, 'en_GB'), 'branch_phone', b.phone,
        'doctor', (SELECT r.name FROM public.resource r WHERE r.id = a.doctor_id),
        'starts_at', a.starts_at, 'ends_at', a.ends_at, 'expires_at', o.expires_at,
        'state', CASE WHEN o.status = 'open' AND (o.expires_at <= now() OR a.status <> 'held') THEN 'expired'
                      ELSE o.status END,
        'link', CASE WHEN o.status = 'accepted' THEN public.clinic_portal_token(a.id, 'appointment') END)
      FROM public.waitlist_offer o
      JOIN public.appointment a ON a.id = o.appointment_id
      JOIN public.patient p ON p.id = a.patient_id
      JOIN public.service v ON v.id = a.service_id
      JOIN public.branch b ON b.id = a.branch_id
     WHERE o.appointment_id = appt);
END $function$;

-- portal_offer_decide(text,boolean) (migration 0014): the patient accepts (the held appointment is
-- confirmed, the offer accepted, the entry booked, the freed slot filled) or declines (the held
-- appointment cancelled by the patient, the offer declined, the entry waiting again, the slot open
-- for the next sweep's offer) — services/waitlist.accept_offer and decline_offer, for the portal.
-- Deciding the same way twice returns the first answer. Returns {"state", "link"} (link: the
-- appointment's page once accepted).
CREATE OR REPLACE FUNCTION public.portal_offer_decide(link text, accept boolean)
 RETURNS jsonb
 LANGUAGE plpgsql
 VOLATILE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    appt bigint := public.clinic_portal_resolve(link, 'offer');
    o record;
    held text;
BEGIN
    IF appt IS NULL OR accept IS NULL THEN
        PERFORM public.clinic_portal_refuse('bad_link', 'This link is not valid any more.');
    END IF;
    SELECT x.* INTO o FROM public.waitlist_offer x WHERE x.appointment_id = appt FOR UPDATE;
    SELECT a.status INTO held FROM public.appointment a WHERE a.id = appt FOR UPDATE;
    IF o.status = 'accepted' AND accept OR o.status = 'declined' AND NOT accept THEN
        RETURN jsonb_build_object('state', o.status,
                                  'link', CASE WHEN accept THEN public.clinic_portal_token(appt, 'appointment') END);
    END IF;
    IF o.status <> 'open' OR o.expires_at <= now() OR held <> 'held' THEN
        PERFORM public.clinic_portal_refuse('offer_gone', 'This offer has expired or was already answered.');
    END IF;
    IF accept THEN
        UPDATE public.appointment SET status = 'confirmed', status_reason = 'waitlist offer accepted online',
               updated_at = now() WHERE id = appt;
        UPDATE public.waitlist_offer SET status = 'accepted', decided_at = now() WHERE id = o.id;
        UPDATE public.waitlist_entry SET status = 'booked' WHERE id = o.entry_id;
        UPDATE public.freed_slot SET state = 'filled', decided_at = now() WHERE id = o.freed_slot_id;
        RETURN jsonb_build_object('state', 'accepted', 'link', public.clinic_portal_token(appt, 'appointment'));
    END IF;
    UPDATE public.waitlist_offer SET status = 'declined', decided_at = now() WHERE id = o.id;
    UPDATE public.appointment SET status = 'cancelled', status_reason = 'offer declined online', cancelled_by = 'patient',
           updated_at = now() WHERE id = appt AND status = 'held';
    UPDATE public.waitlist_entry SET status = 'waiting' WHERE id = o.entry_id AND status = 'offered';
    UPDATE public.freed_slot SET state = 'open' WHERE id = o.freed_slot_id AND state = 'offered';
    RETURN jsonb_build_object('state', 'declined', 'link', NULL);
END $function$;

-- portal_note(text,text) (migration 0014): the patient's note for the desk (at most 500 characters;
-- empty clears it).
CREATE OR REPLACE FUNCTION public.portal_note(link text, note text)
 RETURNS void
 LANGUAGE plpgsql
 VOLATILE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    a public.appointment := public.clinic_portal_live(link);
BEGIN
    IF length(note) > 500 THEN
        PERFORM public.clinic_portal_refuse('note_too_long', 'A note can be at most 500 characters.');
    END IF;
    UPDATE public.appointment SET patient_note = nullif(btrim(note), ''), updated_at = now() WHERE id = a.id;
END $function$;
