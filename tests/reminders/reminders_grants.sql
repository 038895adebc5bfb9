-- clinic_reminders: the reminder service's group role (issue 14, section 8), for migration 0009.
-- Worked out from every SQL statement in reception_app/reminders/ (queue.py: claim, mark_sent,
-- mark_failed, release, next_ready; service.py: the sweep; cli.py --check) and what opening a
-- Database runs (alembic's schema check, set_config of clinic.reason / synchronous_commit, LISTEN).
-- Templates are files; no doctor name is read (messages carry service, branch, time, phone only).
-- Nothing is INSERTed or DELETEd, no sequence is used.

DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clinic_reminders') THEN
        CREATE ROLE clinic_reminders NOLOGIN;
    END IF;
END $$;

-- A. Sending ----------------------------------------------------------------------------------
-- CONNECT: once section 5 revokes it from PUBLIC (database name is not fixed):
DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO clinic_reminders', current_database()); END $$;
GRANT USAGE ON SCHEMA public TO clinic_reminders;

-- open_database() -> migrate.check_schema(): alembic reads the revision.
GRANT SELECT ON alembic_version TO clinic_reminders;

-- queue.claim / mark_sent / mark_failed / release / next_ready.
-- (FOR UPDATE SKIP LOCKED needs UPDATE on at least one column: the UPDATE list gives it.
--  ready_at is generated from next_attempt_at; reading it needs SELECT on it, writing it is implicit.)
GRANT SELECT (id, appointment_id, channel, purpose, status, attempts, last_error, idempotency_key,
              ready_at, next_attempt_at, lease_until, claimed_by, language, template, recipient)
      ON reminder TO clinic_reminders;
GRANT UPDATE (status, attempts, last_error, sent_at, failed_at, next_attempt_at, lease_until, claimed_by,
              language, recipient, provider_ref)
      ON reminder TO clinic_reminders;

-- What a message needs (claim's join): the appointment's time, status (a cancelled one is not sent)
-- and keys, a waitlist offer's hold expiry (quiet hours outlasting it cancel the message); the patient's name, language, contact and consent; the branch's name, zone, phone,
-- language and quiet hours; the service's name.
GRANT SELECT (id, patient_id, branch_id, service_id, status, starts_at, hold_expires_at) ON appointment TO clinic_reminders;
-- appointment has row-level security (0001): without a policy the join returns no rows.
CREATE POLICY appointment_reminders_read ON appointment FOR SELECT TO clinic_reminders USING (true);
GRANT SELECT (id, display_name, language, phone, email, consent_channels) ON patient TO clinic_reminders;
GRANT SELECT (id, name, timezone, phone, language, quiet_from_min, quiet_until_min) ON branch TO clinic_reminders;
GRANT SELECT (id, name) ON service TO clinic_reminders;

-- Quiet hours at send time (the claim calls the planner's function).
GRANT EXECUTE ON FUNCTION clinic_quiet_adjust(timestamptz, text, text, integer, integer) TO clinic_reminders;

-- B. The sweep: reception's work, listed apart -------------------------------------------------
-- B1. Expired holds (service.sweep -> catalog.release_expired_holds). SECURITY DEFINER and narrow
--     (only cancels holds already past hold_expires_at); recommended to grant:
GRANT EXECUTE ON FUNCTION clinic_release_expired_holds(integer[], timestamptz, timestamptz) TO clinic_reminders;
-- B2. Waitlist backfill and offer expiry (service.sweep -> services.waitlist.process_freed_slots):
--     Python that reads the whole schedule (branch, opening_hours, holiday, resource, shift,
--     shift_exception, time_off, booking, service, clinic_setting, freed_slot, waitlist_entry,
--     waitlist_offer, patient), INSERTs appointment + booking + waitlist_offer + reminder, UPDATEs
--     appointment, waitlist_entry, freed_slot, uses sequences and clinic_setting_int(): that is
--     clinic_reception's job. NOT granted to clinic_reminders. The service detects it
--     (has_table_privilege('waitlist_offer', 'INSERT')) and skips it, logging once; a clinic either
--     runs `clinic waitlist process` as a reception login on a timer
--     (installers/systemd/clinic-waitlist.timer), or, deliberately, also grants the service's
--     login clinic_reception:   GRANT clinic_reception TO reminders;

-- Not needed any more: the utilization refresh left the sweep (installers/systemd/clinic-db-refresh.*).
-- Note for 0009: that refresh does CREATE TEMP TABLE (report_queries.refresh_utilization), so when
-- TEMP is revoked from PUBLIC, clinic_admin (who runs `clinic db refresh`) needs
-- GRANT TEMP ON DATABASE <db> TO clinic_admin.
