-- Grants: who may do what, for the clinic's group roles (the owner, who migrates, holds everything).
--
-- No triggers in this file. Roles, their memberships (clinic_manager is a member of clinic_reception,
-- clinic_admin of clinic_manager) and their settings (default_transaction_isolation = serializable)
-- are cluster-wide and are made by migrations 0001, 0003 and 0009; the database-level privileges
-- (CONNECT) are in database.sql, applied by store/migrate.py's secure_database() after every upgrade.
--
-- Re-appliable: GRANT of a privilege already held, REVOKE of one not held, ALTER DEFAULT PRIVILEGES
-- and ENABLE ROW LEVEL SECURITY change nothing the second time; the policies are dropped and created
-- again in one transaction. Column-level grants (the doctor's UPDATE, the reminder service's reads and
-- writes) are what the design grants: no table-level privilege stands behind them. What the privilege
-- matrix must be is checked by tests/security/test_catalog.py.

-- The schema: PUBLIC may use it (PostgreSQL's default) but not create in it.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO clinic_reception, clinic_doctor, clinic_manager, clinic_admin, clinic_reminders;

-- Nothing for PUBLIC on the clinic's own functions, now (extension members aside) or later.
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
              WHERE p.pronamespace = 'public'::regnamespace
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                   AND d.objid = p.oid AND d.deptype = 'e') LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f.sig);
    END LOOP;
END $$;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- Functions the clinic roles call in their own statements. Trigger functions are granted to nobody:
-- a trigger fires whatever its caller's privileges, and CREATE TRIGGER needs EXECUTE.
GRANT EXECUTE ON FUNCTION clinic_fold(text), clinic_is_owner(), clinic_is_timezone(text),
    clinic_local_instant(date,integer,text,boolean), clinic_may_override(), clinic_net_paid_cents(bigint),
    clinic_quarters(integer,integer,integer),
    clinic_quiet_adjust(timestamp with time zone,text,text,integer,integer),
    clinic_setting_int(text,integer), clinic_status_is_live(text)
    TO clinic_reception, clinic_doctor, clinic_manager, clinic_admin, clinic_reminders;
GRANT EXECUTE ON FUNCTION
    clinic_release_expired_holds(integer[],timestamp with time zone,timestamp with time zone)
    TO clinic_reception, clinic_admin, clinic_reminders;
GRANT EXECUTE ON FUNCTION clinic_log_override(text,bigint,text,jsonb)
    TO clinic_manager, clinic_admin;
GRANT EXECUTE ON FUNCTION clinic_analyze_import()
    TO clinic_admin;

-- Tables and sequences, role by role. Reception books, holds, moves and takes payments; doctors read
-- and change their own appointments' status (row-level security below); managers read everything,
-- the audit trail included, and keep the rosters; admins configure the clinic and import, but rewrite
-- no audit trail, status rule or schema version; the reminder service reads what a message needs and
-- records messages, column by column.
-- clinic_reception
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE booking TO clinic_reception;
GRANT SELECT, INSERT, UPDATE ON TABLE appointment, freed_slot, patient, reminder, series, visit,
    waitlist_entry, waitlist_offer TO clinic_reception;
GRANT SELECT, INSERT ON TABLE payment TO clinic_reception;
GRANT SELECT ON TABLE alembic_version, branch, clinic_setting, consent_event, holiday, opening_hours,
    override_log, reminder_rule, resource, service, shift, shift_exception, status_transition, time_off,
    utilization_day, utilization_stale, utilization_summary TO clinic_reception;
GRANT SELECT, USAGE ON SEQUENCE appointment_id_seq, audit_log_id_seq, booking_id_seq, branch_id_seq,
    freed_slot_id_seq, holiday_id_seq, opening_hours_id_seq, override_log_id_seq, patient_id_seq,
    payment_id_seq, reminder_id_seq, resource_id_seq, series_id_seq, service_id_seq,
    shift_exception_id_seq, shift_id_seq, time_off_id_seq, visit_id_seq, waitlist_entry_id_seq,
    waitlist_offer_id_seq TO clinic_reception;

-- clinic_doctor
GRANT SELECT ON TABLE alembic_version, appointment, booking, branch, clinic_setting, consent_event,
    freed_slot, holiday, opening_hours, override_log, patient, payment, reminder, reminder_rule, resource,
    series, service, shift, shift_exception, status_transition, time_off, utilization_day,
    utilization_stale, utilization_summary, visit, waitlist_entry, waitlist_offer TO clinic_doctor;
GRANT UPDATE (status, status_reason, updated_at) ON TABLE appointment TO clinic_doctor;

-- clinic_manager
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE holiday, shift, shift_exception, time_off TO clinic_manager;
GRANT SELECT ON TABLE alembic_version, appointment, audit_log, booking, branch, clinic_setting,
    consent_event, freed_slot, opening_hours, override_log, patient, payment, reminder, reminder_rule,
    resource, series, service, status_transition, utilization_day, utilization_fresh, utilization_stale,
    utilization_summary, visit, waitlist_entry, waitlist_offer TO clinic_manager;
GRANT SELECT, USAGE ON SEQUENCE appointment_id_seq, audit_log_id_seq, booking_id_seq, branch_id_seq,
    freed_slot_id_seq, holiday_id_seq, opening_hours_id_seq, override_log_id_seq, patient_id_seq,
    payment_id_seq, reminder_id_seq, resource_id_seq, series_id_seq, service_id_seq,
    shift_exception_id_seq, shift_id_seq, time_off_id_seq, visit_id_seq, waitlist_entry_id_seq,
    waitlist_offer_id_seq TO clinic_manager;

-- clinic_admin
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE booking, branch, holiday, opening_hours, reminder_rule,
    resource, service, shift, shift_exception, time_off, utilization_day, utilization_fresh,
    utilization_stale, utilization_summary TO clinic_admin;
GRANT SELECT, INSERT, UPDATE ON TABLE appointment, clinic_setting, freed_slot, reminder, series, visit,
    waitlist_entry, waitlist_offer TO clinic_admin;
GRANT SELECT, INSERT ON TABLE patient, payment TO clinic_admin;
GRANT SELECT ON TABLE alembic_version, audit_log, consent_event, override_log, status_transition TO clinic_admin;
GRANT SELECT, USAGE ON SEQUENCE appointment_id_seq, audit_log_id_seq, booking_id_seq, branch_id_seq,
    freed_slot_id_seq, holiday_id_seq, opening_hours_id_seq, override_log_id_seq, patient_id_seq,
    payment_id_seq, reminder_id_seq, resource_id_seq, series_id_seq, service_id_seq,
    shift_exception_id_seq, shift_id_seq, time_off_id_seq, visit_id_seq, waitlist_entry_id_seq,
    waitlist_offer_id_seq TO clinic_admin;

-- clinic_reminders
GRANT SELECT ON TABLE alembic_version TO clinic_reminders;
GRANT SELECT (id, patient_id, service_id, branch_id, status, starts_at, hold_expires_at) ON TABLE appointment TO clinic_reminders;
GRANT SELECT (id, name, timezone, phone, language, quiet_from_min, quiet_until_min) ON TABLE branch TO clinic_reminders;
GRANT SELECT (id, display_name, phone, email, consent_channels, language) ON TABLE patient TO clinic_reminders;
GRANT SELECT (id, appointment_id, channel, purpose, status, attempts, last_error, idempotency_key,
    next_attempt_at, lease_until, claimed_by, language, template, recipient, ready_at) ON TABLE reminder TO clinic_reminders;
GRANT UPDATE (status, sent_at, attempts, last_error, next_attempt_at, lease_until, claimed_by, language,
    recipient, provider_ref, failed_at) ON TABLE reminder TO clinic_reminders;
GRANT SELECT (id, name) ON TABLE service TO clinic_reminders;

-- Receipts (migration 0013; this file is applied by 0010 too, before the table exists): the desk
-- and the admin issue them, every staff role reads them, nobody changes or deletes one.
DO $$
BEGIN
    IF to_regclass('public.receipt') IS NOT NULL THEN
        GRANT SELECT, INSERT ON TABLE receipt TO clinic_reception, clinic_admin;
        GRANT SELECT ON TABLE receipt TO clinic_doctor, clinic_manager;
    END IF;
END $$;

-- The patient portal (migration 0014; this file is applied by 0010 too, before the role may exist):
-- clinic_portal may use the schema and call the functions of portal.sql written for it, nothing
-- else. The desk and the reminder service mint a patient's link (clinic_portal_token) to send it.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clinic_portal') THEN
        GRANT USAGE ON SCHEMA public TO clinic_portal;
        GRANT EXECUTE ON FUNCTION portal_catalog(),
            portal_search_inputs(integer,integer,integer,timestamp with time zone,timestamp with time zone),
            portal_hold(integer,integer,integer[],timestamp with time zone), portal_held(text), portal_release(text),
            portal_send_code(text,text,text), portal_book(text,text,jsonb), portal_appointment(text),
            portal_confirm(text), portal_cancel(text,boolean), portal_note(text,text),
            portal_reschedule(text,integer[],timestamp with time zone), portal_sms_reply(text,text,text),
            portal_offer(text), portal_offer_decide(text,boolean)
            TO clinic_portal;
    END IF;
END $$;
DO $$
BEGIN
    IF to_regclass('public.inbound_message') IS NOT NULL THEN
        -- Patients' SMS replies (migration 0014): reception reads them and marks them handled.
        GRANT SELECT ON TABLE inbound_message TO clinic_reception, clinic_manager, clinic_admin;
        GRANT UPDATE (handled_at, handled_by) ON TABLE inbound_message TO clinic_reception, clinic_admin;
    END IF;
END $$;
GRANT EXECUTE ON FUNCTION clinic_portal_token(bigint,text), clinic_portal_link(bigint), clinic_portal_offer_link(bigint)
    TO clinic_reception, clinic_reminders;

-- Row-level security on appointment: staff see and change all; a doctor reads all and changes the
-- status of the appointments that book them (their resource's login_role); the reminder service reads.
ALTER TABLE appointment ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS appointment_staff ON appointment;
CREATE POLICY appointment_staff ON appointment FOR ALL
    TO clinic_reception, clinic_manager, clinic_admin USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS appointment_doctor_read ON appointment;
CREATE POLICY appointment_doctor_read ON appointment FOR SELECT TO clinic_doctor USING (true);
DROP POLICY IF EXISTS appointment_doctor_own ON appointment;
CREATE POLICY appointment_doctor_own ON appointment FOR UPDATE TO clinic_doctor
    USING (EXISTS (SELECT 1 FROM booking b JOIN resource r ON r.id = b.resource_id
                    WHERE b.appointment_id = appointment.id AND r.login_role = session_user));
DROP POLICY IF EXISTS appointment_reminders_read ON appointment;
CREATE POLICY appointment_reminders_read ON appointment FOR SELECT TO clinic_reminders USING (true);
