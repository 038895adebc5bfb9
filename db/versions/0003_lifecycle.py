"""The booking lifecycle and the clinic's rules: holds, policies, payments, visits,
series, waitlist, roster exceptions, overrides.

Every rule a second client could get around lives here (docs/architecture.md, "The one rule"):

- **Settings** ``clinic_setting`` (key → jsonb): ``hold_minutes`` (5), ``offer_minutes``
  (10, a waitlist offer's hold), ``currency`` ("EUR"). Functions
  ``clinic_setting_int(key, default)``.
- **Confirmation, deposit and cancellation policy per service**: ``confirmation_mode``
  (``immediate`` | ``approval`` | ``hybrid``), ``deposit_cents``, ``cancel_free_hours``
  (free until N hours before the start), ``late_cancel_fee_cents``.
- **Policy snapshot**: a trigger copies the service's policy onto each new appointment
  (``policy_free_hours``, ``policy_late_fee_cents``, ``deposit_cents``) unless the insert
  gives them, so a later policy change never rewrites history.
- **Lifecycle stamps** (trigger ``appointment_lifecycle``, BEFORE INSERT/UPDATE):
  ``hold_expires_at`` is set on entering ``held`` (now + ``hold_minutes`` unless given)
  and cleared on leaving it; ``confirmed_at`` on the first ``confirmed``; ``cancelled_at``
  and ``cancelled_late`` (now is after start − ``policy_free_hours``) on ``cancelled``;
  ``cancelled_by`` is ``patient`` or ``clinic`` (set by the caller, default ``clinic``).
- **Holds never block after they expire**: ``booking.hold_until`` mirrors the held
  appointment's expiry (set by ``booking_check``, kept in step by
  ``appointment_sync_booking_live``). The slot search treats a booking whose
  ``hold_until <= now()`` as free; a booking transaction first cancels the expired holds
  in its way (``clinic_release_expired_holds``), in the same SERIALIZABLE transaction, so
  the exclusion constraint still decides. The sweeper calls the same function.
- **Rescheduled links**: ``rescheduled_to`` names the new appointment.
- **Payments** at the desk: rows are never updated or deleted (a refund is a new row of
  kind ``refund``); ``client_id`` unique makes a double click or a retry record once. No
  card numbers: ``method`` is ``cash`` | ``card_terminal`` | ``other`` and a free
  ``reference`` (e.g. the terminal's slip number).
- **Visits**: ``visit`` groups appointments booked together; when the last live one is
  released the visit becomes ``cancelled`` (trigger).
- **Series**: ``series`` keeps the RRULE and the local start; each occurrence is an
  appointment with ``series_id`` and its original local date ``series_date`` (unique).
- **Waitlist**: ``waitlist_entry``; a trigger records each freed slot (a live, non-held
  appointment in the future becoming cancelled or rescheduled) in ``freed_slot`` and
  notifies ``clinic_waitlist``; ``waitlist_offer`` has at most one ``open`` offer per
  freed slot (partial unique index) and never offers one slot twice to one entry.
- **Rosters**: ``shift_exception`` replaces a resource's weekly shifts on one local date
  (rows with NULL minutes: off that day); ``time_off.kind`` tells leave, block and
  emergency apart.
- **Overrides**: a manager or admin may book over time off when the transaction sets
  ``clinic.override`` to a reason; ``booking_check`` then lets it through and writes
  ``override_log``. Other overrides (outside a shift, a forced move or change of doctor)
  are logged through ``clinic_log_override`` (SECURITY DEFINER, managers and admins
  only). Nothing overrides ``booking_no_overlap``.
- **Grants**: managers get reception's rights (``GRANT clinic_reception TO
  clinic_manager``) and manage rosters with admins.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: Added to ``status_transition`` (kept in step with reception_app.domain.status.TRANSITIONS).
NEW_TRANSITIONS = (("requested", "rescheduled"), ("payment_pending", "rescheduled"),
                   ("payment_pending", "held"))

UPGRADE_SQL = r"""
CREATE TABLE clinic_setting (
    key    text PRIMARY KEY,
    value  jsonb NOT NULL
);
INSERT INTO clinic_setting (key, value) VALUES
    ('hold_minutes', '5'), ('offer_minutes', '10'), ('currency', '"EUR"');

CREATE FUNCTION clinic_setting_int(k text, dflt integer) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce((SELECT (value #>> '{}')::integer FROM clinic_setting WHERE key = k), dflt)
$$;

-- Policies per service --------------------------------------------------------------
ALTER TABLE service
    ADD COLUMN confirmation_mode text NOT NULL DEFAULT 'immediate'
        CHECK (confirmation_mode IN ('immediate', 'approval', 'hybrid')),
    ADD COLUMN deposit_cents integer NOT NULL DEFAULT 0 CHECK (deposit_cents >= 0),
    ADD COLUMN cancel_free_hours integer NOT NULL DEFAULT 24 CHECK (cancel_free_hours >= 0),
    ADD COLUMN late_cancel_fee_cents integer NOT NULL DEFAULT 0 CHECK (late_cancel_fee_cents >= 0);

-- Visits and series ------------------------------------------------------------------
CREATE TABLE visit (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    client_id   uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    patient_id  integer NOT NULL REFERENCES patient,
    branch_id   integer NOT NULL REFERENCES branch,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'cancelled')),
    note        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL DEFAULT session_user
);

CREATE TABLE series (
    id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    client_id    uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    patient_id   integer NOT NULL REFERENCES patient,
    service_id   integer NOT NULL REFERENCES service,
    branch_id    integer NOT NULL REFERENCES branch,
    rrule        text NOT NULL CHECK (rrule LIKE 'RRULE:%' OR rrule LIKE 'FREQ=%'),
    first_date   date NOT NULL,                       -- branch-local date of the first occurrence
    local_start  time NOT NULL,                       -- branch-local wall-clock start
    doctor_id    integer REFERENCES resource,
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended', 'cancelled')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL DEFAULT session_user
);

-- Appointment lifecycle columns ------------------------------------------------------
ALTER TABLE appointment
    ADD COLUMN hold_expires_at        timestamptz,
    ADD COLUMN confirmed_at           timestamptz,
    ADD COLUMN cancelled_at           timestamptz,
    ADD COLUMN cancelled_by           text CHECK (cancelled_by IN ('patient', 'clinic')),
    ADD COLUMN cancelled_late         boolean,
    ADD COLUMN rescheduled_to         bigint REFERENCES appointment,
    ADD COLUMN policy_free_hours      integer CHECK (policy_free_hours >= 0),
    ADD COLUMN policy_late_fee_cents  integer CHECK (policy_late_fee_cents >= 0),
    ADD COLUMN deposit_cents          integer CHECK (deposit_cents >= 0),
    ADD COLUMN visit_id               bigint REFERENCES visit,
    ADD COLUMN series_id              bigint REFERENCES series,
    ADD COLUMN series_date            date,
    ADD CONSTRAINT appointment_hold_has_expiry CHECK (status <> 'held' OR hold_expires_at IS NOT NULL),
    ADD CONSTRAINT appointment_series_date CHECK ((series_id IS NULL) = (series_date IS NULL)),
    ADD CONSTRAINT appointment_series_once UNIQUE (series_id, series_date);
CREATE INDEX appointment_visit ON appointment (visit_id) WHERE visit_id IS NOT NULL;
CREATE INDEX appointment_patient_start ON appointment (patient_id, starts_at);
CREATE INDEX appointment_held ON appointment (hold_expires_at) WHERE status = 'held';

-- Imported and earlier appointments: their confirmation time is their booking time.
UPDATE appointment SET confirmed_at = booked_at
 WHERE status NOT IN ('requested', 'held', 'payment_pending') AND confirmed_at IS NULL;
UPDATE appointment SET cancelled_at = updated_at WHERE status = 'cancelled' AND cancelled_at IS NULL;

CREATE FUNCTION appointment_lifecycle() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    s record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.policy_free_hours IS NULL OR NEW.policy_late_fee_cents IS NULL OR NEW.deposit_cents IS NULL THEN
            SELECT cancel_free_hours, late_cancel_fee_cents, deposit_cents INTO s
              FROM service WHERE id = NEW.service_id;
            NEW.policy_free_hours := coalesce(NEW.policy_free_hours, s.cancel_free_hours);
            NEW.policy_late_fee_cents := coalesce(NEW.policy_late_fee_cents, s.late_cancel_fee_cents);
            NEW.deposit_cents := coalesce(NEW.deposit_cents, s.deposit_cents);
        END IF;
    ELSIF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NEW;
    END IF;
    IF NEW.status = 'held' THEN
        IF NEW.hold_expires_at IS NULL OR (TG_OP = 'UPDATE' AND OLD.status <> 'held'
                                           AND NEW.hold_expires_at IS NOT DISTINCT FROM OLD.hold_expires_at) THEN
            NEW.hold_expires_at := now() + make_interval(mins => clinic_setting_int('hold_minutes', 5));
        END IF;
    ELSE
        NEW.hold_expires_at := NULL;
    END IF;
    IF NEW.status = 'confirmed' AND NEW.confirmed_at IS NULL THEN
        NEW.confirmed_at := now();
    END IF;
    IF NEW.status = 'cancelled' THEN
        NEW.cancelled_at := coalesce(NEW.cancelled_at, now());
        NEW.cancelled_by := coalesce(NEW.cancelled_by, 'clinic');
        NEW.cancelled_late := NEW.cancelled_at > NEW.starts_at - make_interval(hours => coalesce(NEW.policy_free_hours, 0));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER appointment_lifecycle BEFORE INSERT OR UPDATE OF status ON appointment
    FOR EACH ROW EXECUTE FUNCTION appointment_lifecycle();

-- Holds: the booking rows carry the expiry ----------------------------------------------
ALTER TABLE booking ADD COLUMN hold_until timestamptz;
CREATE INDEX booking_hold_until ON booking (hold_until) WHERE hold_until IS NOT NULL AND live;

CREATE OR REPLACE FUNCTION appointment_sync_booking_live() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE booking SET live = clinic_status_is_live(NEW.status), hold_until = NEW.hold_expires_at
     WHERE appointment_id = NEW.id
       AND (live IS DISTINCT FROM clinic_status_is_live(NEW.status) OR hold_until IS DISTINCT FROM NEW.hold_expires_at);
    RETURN NULL;
END $$;
DROP TRIGGER appointment_booking_live ON appointment;
CREATE TRIGGER appointment_booking_live AFTER UPDATE OF status, hold_expires_at ON appointment
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.hold_expires_at IS DISTINCT FROM NEW.hold_expires_at)
    EXECUTE FUNCTION appointment_sync_booking_live();

-- Overrides ---------------------------------------------------------------------------
CREATE TABLE override_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    db_user         text NOT NULL DEFAULT session_user,
    kind            text NOT NULL CHECK (kind IN ('time_off', 'outside_shift', 'move', 'change_doctor',
                                                  'holiday', 'closed', 'notice')),
    appointment_id  bigint REFERENCES appointment ON DELETE SET NULL,
    reason          text NOT NULL CHECK (btrim(reason) <> ''),
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX override_log_at ON override_log (at);

CREATE FUNCTION clinic_may_override() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT pg_has_role(session_user, 'clinic_manager', 'MEMBER')
        OR pg_has_role(session_user, 'clinic_admin', 'MEMBER')
$$;

CREATE FUNCTION clinic_log_override(k text, appt bigint, why text, info jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    IF NOT clinic_may_override() THEN
        RAISE EXCEPTION 'only a manager or an administrator may override the clinic''s rules'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO override_log (kind, appointment_id, reason, detail)
    VALUES (k, appt, why, coalesce(info, '{}')) RETURNING id INTO new_id;
    RETURN new_id;
END $$;

-- booking_check, with holds and the time-off override ----------------------------------
CREATE OR REPLACE FUNCTION booking_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    a   record;
    rb  integer;
    off record;
    why text;
BEGIN
    SELECT status, branch_id, starts_at, ends_at, hold_expires_at INTO a
      FROM appointment WHERE id = NEW.appointment_id;
    -- live always follows the appointment's status (also when someone sets the flag by hand).
    NEW.live := clinic_status_is_live(a.status);
    NEW.hold_until := a.hold_expires_at;
    IF NOT NEW.period @> tstzrange(a.starts_at, a.ends_at) THEN
        RAISE EXCEPTION 'booking of appointment % does not cover the appointment''s time', NEW.appointment_id
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT branch_id INTO rb FROM resource WHERE id = NEW.resource_id;
    IF rb IS NOT NULL AND rb <> a.branch_id THEN
        RAISE EXCEPTION 'resource % belongs to another branch', NEW.resource_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.live THEN
        SELECT id, period, reason, kind INTO off FROM time_off
         WHERE resource_id = NEW.resource_id AND period && NEW.period LIMIT 1;
        IF FOUND THEN
            why := nullif(btrim(current_setting('clinic.override', true)), '');
            IF why IS NOT NULL AND clinic_may_override() THEN
                INSERT INTO override_log (kind, appointment_id, reason, detail)
                VALUES ('time_off', NEW.appointment_id, why,
                        jsonb_build_object('resource_id', NEW.resource_id, 'time_off_id', off.id,
                                           'time_off', off.period::text, 'time_off_reason', off.reason));
            ELSE
                RAISE EXCEPTION 'conflicting key value violates exclusion constraint "booking_time_off"'
                    USING ERRCODE = 'exclusion_violation',
                          DETAIL = format('Key (resource_id, period)=(%s, %s) conflicts with time off %s (%s).',
                                          NEW.resource_id, NEW.period, off.period, off.reason),
                          CONSTRAINT = 'booking_time_off';
            END IF;
        END IF;
    END IF;
    RETURN NEW;
END $$;

-- Expired holds in the way are cancelled by whoever needs the time (and by the sweeper).
-- ids NULL: every expired hold. Returns the number released.
CREATE FUNCTION clinic_release_expired_holds(ids integer[], lo timestamptz, hi timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    UPDATE appointment a SET status = 'cancelled', status_reason = 'hold expired', cancelled_by = 'clinic'
     WHERE a.status = 'held' AND a.hold_expires_at <= now()
       AND a.id IN (SELECT b.appointment_id FROM booking b
                     WHERE b.live AND b.hold_until <= now()
                       AND (ids IS NULL OR b.resource_id = ANY(ids))
                       AND (lo IS NULL OR b.period && tstzrange(lo, hi)));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Visits follow their appointments -------------------------------------------------------
CREATE FUNCTION appointment_visit_status() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM appointment WHERE visit_id = NEW.visit_id AND clinic_status_is_live(status)) THEN
        UPDATE visit SET status = 'cancelled' WHERE id = NEW.visit_id AND status <> 'cancelled';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER appointment_visit_status AFTER UPDATE OF status ON appointment
    FOR EACH ROW WHEN (NEW.visit_id IS NOT NULL AND NEW.status IN ('cancelled', 'rescheduled')
                       AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION appointment_visit_status();

-- Payments ------------------------------------------------------------------------------
CREATE TABLE payment (
    id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    client_id       uuid NOT NULL UNIQUE,
    appointment_id  bigint NOT NULL REFERENCES appointment,
    kind            text NOT NULL CHECK (kind IN ('payment', 'refund')),
    purpose         text NOT NULL DEFAULT 'fee' CHECK (purpose IN ('deposit', 'fee', 'late_cancel_fee', 'other')),
    method          text NOT NULL CHECK (method IN ('cash', 'card_terminal', 'other')),
    amount_cents    integer NOT NULL CHECK (amount_cents > 0),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reference       text NOT NULL DEFAULT '' CHECK (reference !~ '[0-9]{12,}'),   -- never a card number
    taken_at        timestamptz NOT NULL DEFAULT now(),
    taken_by        text NOT NULL DEFAULT session_user
);
CREATE INDEX payment_appointment ON payment (appointment_id);

CREATE FUNCTION clinic_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never changed or deleted (record a refund instead)', TG_TABLE_NAME
        USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER payment_immutable BEFORE UPDATE OR DELETE ON payment
    FOR EACH ROW EXECUTE FUNCTION clinic_refuse_change();

-- Waitlist -------------------------------------------------------------------------------
CREATE TABLE waitlist_entry (
    id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    client_id     uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    patient_id    integer NOT NULL REFERENCES patient,
    service_id    integer NOT NULL REFERENCES service,
    branch_id     integer NOT NULL REFERENCES branch,
    doctor_id     integer REFERENCES resource,
    first_date    date NOT NULL,                  -- branch-local window of dates
    last_date     date NOT NULL,
    earliest_min  smallint NOT NULL DEFAULT 0 CHECK (earliest_min BETWEEN 0 AND 1440),    -- local minutes
    latest_min    smallint NOT NULL DEFAULT 1440 CHECK (latest_min BETWEEN 0 AND 1440),   -- latest end
    priority      smallint NOT NULL DEFAULT 0,    -- higher first
    status        text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'offered', 'booked', 'cancelled')),
    note          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL DEFAULT session_user,
    CHECK (last_date >= first_date),
    CHECK (latest_min > earliest_min)
);
CREATE INDEX waitlist_entry_waiting ON waitlist_entry (branch_id, service_id, priority DESC, created_at)
    WHERE status = 'waiting';

CREATE TABLE freed_slot (
    id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    appointment_id  bigint NOT NULL UNIQUE REFERENCES appointment,
    branch_id       integer NOT NULL REFERENCES branch,
    service_id      integer NOT NULL REFERENCES service,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    resource_ids    integer[] NOT NULL,
    freed_at        timestamptz NOT NULL DEFAULT now(),
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'offered', 'filled', 'unfilled')),
    decided_at      timestamptz
);
CREATE INDEX freed_slot_open ON freed_slot (freed_at) WHERE state IN ('open', 'offered');

CREATE TABLE waitlist_offer (
    id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    freed_slot_id   bigint NOT NULL REFERENCES freed_slot,
    entry_id        bigint NOT NULL REFERENCES waitlist_entry,
    appointment_id  bigint NOT NULL UNIQUE REFERENCES appointment,    -- the held offer
    expires_at      timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'declined', 'expired')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz,
    UNIQUE (freed_slot_id, entry_id)
);
CREATE UNIQUE INDEX waitlist_offer_one_open ON waitlist_offer (freed_slot_id) WHERE status = 'open';

CREATE FUNCTION appointment_record_freed_slot() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO freed_slot (appointment_id, branch_id, service_id, starts_at, ends_at, resource_ids)
    SELECT NEW.id, NEW.branch_id, NEW.service_id, NEW.starts_at, NEW.ends_at,
           coalesce(array_agg(b.resource_id ORDER BY b.resource_id), '{}')
      FROM booking b WHERE b.appointment_id = NEW.id
    ON CONFLICT (appointment_id) DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NOT NULL THEN
        PERFORM pg_notify('clinic_waitlist', new_id::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER appointment_freed_slot AFTER UPDATE OF status ON appointment
    FOR EACH ROW WHEN (OLD.status IN ('requested', 'confirmed', 'payment_pending')
                       AND NEW.status IN ('cancelled', 'rescheduled') AND NEW.starts_at > now())
    EXECUTE FUNCTION appointment_record_freed_slot();

-- Rosters ---------------------------------------------------------------------------------
-- On local_date, a resource's weekly shifts are replaced by its exception rows:
-- a row with minutes is a shift that day (end <= start runs past midnight), a row
-- without minutes means off that day.
CREATE TABLE shift_exception (
    id          integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    resource_id integer NOT NULL REFERENCES resource ON DELETE CASCADE,
    branch_id   integer NOT NULL REFERENCES branch ON DELETE CASCADE,
    local_date  date NOT NULL,
    start_min   smallint CHECK (start_min BETWEEN 0 AND 1439),
    end_min     smallint CHECK (end_min BETWEEN 1 AND 1440),
    note        text NOT NULL DEFAULT '',
    CHECK ((start_min IS NULL) = (end_min IS NULL)),
    CHECK (start_min IS NULL OR end_min <> start_min)
);
CREATE INDEX shift_exception_day ON shift_exception (resource_id, local_date);

ALTER TABLE time_off ADD COLUMN kind text NOT NULL DEFAULT 'leave'
    CHECK (kind IN ('leave', 'block', 'emergency', 'training', 'other'));
ALTER TABLE holiday ADD COLUMN closed_from_min smallint;   -- reserved: NULL = closed all day

-- Roster changes show on every grid (shading).
CREATE FUNCTION notify_roster() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM pg_notify('clinic_schedule', json_build_object('roster', TG_TABLE_NAME)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER time_off_notify AFTER INSERT OR UPDATE OR DELETE ON time_off
    FOR EACH STATEMENT EXECUTE FUNCTION notify_roster();
CREATE TRIGGER shift_notify AFTER INSERT OR UPDATE OR DELETE ON shift
    FOR EACH STATEMENT EXECUTE FUNCTION notify_roster();
CREATE TRIGGER shift_exception_notify AFTER INSERT OR UPDATE OR DELETE ON shift_exception
    FOR EACH STATEMENT EXECUTE FUNCTION notify_roster();
CREATE TRIGGER holiday_notify AFTER INSERT OR UPDATE OR DELETE ON holiday
    FOR EACH STATEMENT EXECUTE FUNCTION notify_roster();

-- Audit of the new money and roster tables -------------------------------------------------
CREATE TRIGGER payment_audit_ins AFTER INSERT ON payment
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
CREATE TRIGGER waitlist_offer_audit_ins AFTER INSERT ON waitlist_offer
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
CREATE TRIGGER waitlist_offer_audit_upd AFTER UPDATE ON waitlist_offer
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
CREATE TRIGGER shift_audit_ins AFTER INSERT ON shift
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
CREATE TRIGGER shift_audit_upd AFTER UPDATE ON shift
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
CREATE TRIGGER shift_audit_del AFTER DELETE ON shift
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
CREATE TRIGGER time_off_audit_ins AFTER INSERT ON time_off
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
CREATE TRIGGER time_off_audit_upd AFTER UPDATE ON time_off
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
CREATE TRIGGER time_off_audit_del AFTER DELETE ON time_off
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
CREATE TRIGGER shift_exception_audit_ins AFTER INSERT ON shift_exception
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
CREATE TRIGGER shift_exception_audit_upd AFTER UPDATE ON shift_exception
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();
CREATE TRIGGER shift_exception_audit_del AFTER DELETE ON shift_exception
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_rows();

-- Grants ------------------------------------------------------------------------------------
GRANT SELECT ON clinic_setting, visit, series, payment, waitlist_entry, freed_slot, waitlist_offer,
                shift_exception, override_log
      TO clinic_reception, clinic_doctor, clinic_manager, clinic_admin;
GRANT clinic_reception TO clinic_manager;
GRANT INSERT, UPDATE ON visit, series, waitlist_entry, waitlist_offer, freed_slot TO clinic_reception, clinic_admin;
GRANT INSERT ON payment TO clinic_reception, clinic_admin;
GRANT UPDATE ON appointment, booking TO clinic_admin;
GRANT DELETE ON booking TO clinic_admin;
GRANT INSERT, UPDATE, DELETE ON shift, shift_exception, time_off, holiday TO clinic_manager, clinic_admin;
GRANT INSERT, UPDATE ON service TO clinic_admin;
GRANT INSERT, UPDATE ON clinic_setting TO clinic_admin;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO clinic_reception, clinic_manager, clinic_admin;
REVOKE ALL ON FUNCTION clinic_log_override(text, bigint, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION clinic_log_override(text, bigint, text, jsonb) TO clinic_manager, clinic_admin;
REVOKE ALL ON FUNCTION clinic_release_expired_holds(integer[], timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION clinic_release_expired_holds(integer[], timestamptz, timestamptz)
      TO clinic_reception, clinic_admin;
"""

DOWNGRADE_SQL = r"""
CREATE OR REPLACE FUNCTION appointment_sync_booking_live() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE booking SET live = clinic_status_is_live(NEW.status)
     WHERE appointment_id = NEW.id AND live IS DISTINCT FROM clinic_status_is_live(NEW.status);
    RETURN NULL;
END $$;
DROP TRIGGER appointment_booking_live ON appointment;
CREATE TRIGGER appointment_booking_live AFTER UPDATE OF status ON appointment
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION appointment_sync_booking_live();

DROP TRIGGER IF EXISTS time_off_notify ON time_off;
DROP TRIGGER IF EXISTS shift_notify ON shift;
DROP TRIGGER IF EXISTS holiday_notify ON holiday;
DROP TRIGGER IF EXISTS shift_audit_ins ON shift;
DROP TRIGGER IF EXISTS shift_audit_upd ON shift;
DROP TRIGGER IF EXISTS shift_audit_del ON shift;
DROP TRIGGER IF EXISTS time_off_audit_ins ON time_off;
DROP TRIGGER IF EXISTS time_off_audit_upd ON time_off;
DROP TRIGGER IF EXISTS time_off_audit_del ON time_off;
DROP TRIGGER IF EXISTS appointment_lifecycle ON appointment;
DROP TRIGGER IF EXISTS appointment_visit_status ON appointment;
DROP TRIGGER IF EXISTS appointment_freed_slot ON appointment;
DROP TABLE IF EXISTS waitlist_offer, freed_slot, waitlist_entry, payment, override_log, shift_exception,
    clinic_setting CASCADE;
ALTER TABLE appointment DROP COLUMN IF EXISTS hold_expires_at, DROP COLUMN IF EXISTS confirmed_at,
    DROP COLUMN IF EXISTS cancelled_at, DROP COLUMN IF EXISTS cancelled_by, DROP COLUMN IF EXISTS cancelled_late,
    DROP COLUMN IF EXISTS rescheduled_to, DROP COLUMN IF EXISTS policy_free_hours,
    DROP COLUMN IF EXISTS policy_late_fee_cents, DROP COLUMN IF EXISTS deposit_cents,
    DROP COLUMN IF EXISTS visit_id, DROP COLUMN IF EXISTS series_id, DROP COLUMN IF EXISTS series_date;
DROP INDEX IF EXISTS appointment_patient_start;
DROP TABLE IF EXISTS visit, series CASCADE;
ALTER TABLE booking DROP COLUMN IF EXISTS hold_until;
ALTER TABLE service DROP COLUMN IF EXISTS confirmation_mode, DROP COLUMN IF EXISTS deposit_cents,
    DROP COLUMN IF EXISTS cancel_free_hours, DROP COLUMN IF EXISTS late_cancel_fee_cents;
ALTER TABLE time_off DROP COLUMN IF EXISTS kind;
ALTER TABLE holiday DROP COLUMN IF EXISTS closed_from_min;
DROP FUNCTION IF EXISTS appointment_lifecycle(), appointment_visit_status(), appointment_record_freed_slot(),
    clinic_release_expired_holds(integer[], timestamptz, timestamptz), clinic_log_override(text, bigint, text, jsonb),
    clinic_may_override(), clinic_refuse_change(), clinic_setting_int(text, integer), notify_roster();
REVOKE clinic_reception FROM clinic_manager;

CREATE OR REPLACE FUNCTION booking_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    a   record;
    rb  integer;
    off record;
BEGIN
    SELECT status, branch_id, starts_at, ends_at INTO a FROM appointment WHERE id = NEW.appointment_id;
    NEW.live := clinic_status_is_live(a.status);
    IF NOT NEW.period @> tstzrange(a.starts_at, a.ends_at) THEN
        RAISE EXCEPTION 'booking of appointment % does not cover the appointment''s time', NEW.appointment_id
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT branch_id INTO rb FROM resource WHERE id = NEW.resource_id;
    IF rb IS NOT NULL AND rb <> a.branch_id THEN
        RAISE EXCEPTION 'resource % belongs to another branch', NEW.resource_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.live THEN
        SELECT id, period, reason INTO off FROM time_off
         WHERE resource_id = NEW.resource_id AND period && NEW.period LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'conflicting key value violates exclusion constraint "booking_time_off"'
                USING ERRCODE = 'exclusion_violation',
                      DETAIL = format('Key (resource_id, period)=(%s, %s) conflicts with time off %s (%s).',
                                      NEW.resource_id, NEW.period, off.period, off.reason),
                      CONSTRAINT = 'booking_time_off';
        END IF;
    END IF;
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.execute(UPGRADE_SQL)
    values = ", ".join(f"('{a}', '{b}')" for a, b in NEW_TRANSITIONS)
    op.execute(f"INSERT INTO status_transition (from_status, to_status) VALUES {values}")


def downgrade() -> None:
    values = ", ".join(f"('{a}', '{b}')" for a, b in NEW_TRANSITIONS)
    op.execute(f"DELETE FROM status_transition WHERE (from_status, to_status) IN ({values})")
    op.execute(DOWNGRADE_SQL)
