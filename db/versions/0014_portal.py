"""The patient portal's way in (issue 17).

- Role ``clinic_portal`` (NOLOGIN; the portal's own login is a member): ``EXECUTE`` on the
  functions of ``db/sql/portal.sql`` and nothing else — no table, no sequence, no other function.
  Its logins write SERIALIZABLE, as every clinic login.
- ``appointment.patient_id`` may be NULL only for a hold placed online while the visitor types
  their details (``source = 'online'``, status ``held``, or ``cancelled`` once released):
  ``appointment_patient_known``.
- ``appointment.link_version`` (integer, 1): raising it revokes every link sent for the appointment;
  ``appointment.patient_confirmed_at`` (the patient confirmed attendance from their link; the desk
  shows a tick); ``appointment.patient_note`` (the patient's note for the desk, at most 500
  characters).
- ``service.online``, ``resource.online`` (false): what visitors may book; ``resource.online_confirmation_mode``
  (NULL: the service's): a doctor's own mode for online bookings (immediate, approval, hybrid).
- ``portal_secret``: the key links and verification codes are signed with (one row, 32 random bytes
  from ``gen_random_uuid``'s strong random source, read by nobody but the owner).
- ``inbound_message``: each SMS a patient sent the clinic's number (the gateway's webhook), once
  by its provider id, with what the portal did with it (``confirmed``, ``cancelled``,
  ``cancel_needs_link``, ``stop``, or ``for_desk``: a message for reception to read and mark handled).
- ``portal_verification``: a code sent to a contact for a hold (only its HMAC), its attempts,
  expiry and when it was used.
- Settings (``clinic_setting``, defaults in the functions): ``portal_hold_minutes`` (10),
  ``portal_min_notice_min`` (60), ``portal_horizon_days`` (90), ``portal_code_minutes`` (10),
  ``portal_max_holds`` (200), ``portal_link_days_after`` (1).

:data:`CHANGED` names the rules this migration changes and :data:`CREATED` what it creates
(``tests/db/test_catalog.py`` proves both). The functions live in ``db/sql/portal.sql``, their
grants in ``grants.sql``.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op
from reception_app.migrations import apply_sql_files

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: The portal's functions (db/sql/portal.sql), which migration 0010 already applies as the file is now.
PORTAL_FUNCTIONS: tuple[str, ...] = (
    "function clinic_hmac_hex(text)",
    "function clinic_portal_token(bigint,text)",
    "function clinic_portal_link(bigint)",
    "function clinic_portal_offer_link(bigint)",
    "function portal_offer(text)",
    "function portal_offer_decide(text,boolean)",
    "function clinic_portal_resolve(text,text)",
    "function clinic_portal_refuse(text,text)",
    "function clinic_initial_status(text,integer,boolean,integer)",
    "function portal_catalog()",
    "function portal_search_inputs(integer,integer,integer,timestamp with time zone,timestamp with time zone)",
    "function clinic_portal_check_start(service,integer[],timestamp with time zone)",
    "function portal_hold(integer,integer,integer[],timestamp with time zone)",
    "function portal_held(text)",
    "function portal_release(text)",
    "function portal_send_code(text,text,text)",
    "function portal_book(text,text,jsonb)",
    "function portal_appointment(text)",
    "function clinic_portal_live(text)",
    "function portal_confirm(text)",
    "function portal_cancel(text,boolean)",
    "function portal_note(text,text)",
    "function portal_sms_reply(text,text,text)",
    "function portal_reschedule(text,integer[],timestamp with time zone)",
)
#: The catalog objects this migration changes, as ``tests/db/test_catalog.py`` names them.
CHANGED: tuple[str, ...] = PORTAL_FUNCTIONS + ("schema",)
#: What this migration creates and only it brings.
CREATED: tuple[str, ...] = (
    "relation portal_secret",
    "relation portal_verification",
    "relation portal_verification_id_seq",
    "relation inbound_message",
    "relation inbound_message_id_seq",
    "column inbound_message.handled_at",
    "column inbound_message.handled_by",
    "constraint appointment_patient_known on appointment",
    "constraint appointment_patient_note_check on appointment",
    "constraint resource_online_confirmation_mode_check on resource",
)

ROLE_SQL = r"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clinic_portal') THEN
        CREATE ROLE clinic_portal NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                    WHERE r.rolname = 'clinic_portal' AND s.setdatabase = 0
                      AND 'default_transaction_isolation=serializable' = ANY(s.setconfig)) THEN
        ALTER ROLE clinic_portal SET default_transaction_isolation = 'serializable';
    END IF;
END $$;
"""

TABLES_SQL = r"""
ALTER TABLE appointment ALTER COLUMN patient_id DROP NOT NULL;
ALTER TABLE appointment ADD CONSTRAINT appointment_patient_known
    CHECK (patient_id IS NOT NULL OR (source = 'online' AND status IN ('held', 'cancelled')));
ALTER TABLE appointment ADD COLUMN IF NOT EXISTS link_version integer NOT NULL DEFAULT 1;
ALTER TABLE appointment ADD COLUMN IF NOT EXISTS patient_confirmed_at timestamptz;
ALTER TABLE appointment ADD COLUMN IF NOT EXISTS patient_note text
    CONSTRAINT appointment_patient_note_check CHECK (length(patient_note) <= 500);
ALTER TABLE service ADD COLUMN IF NOT EXISTS online boolean NOT NULL DEFAULT false;
ALTER TABLE resource ADD COLUMN IF NOT EXISTS online boolean NOT NULL DEFAULT false;
ALTER TABLE resource ADD COLUMN IF NOT EXISTS online_confirmation_mode text
    CONSTRAINT resource_online_confirmation_mode_check
    CHECK (online_confirmation_mode IN ('immediate', 'approval', 'hybrid'));
CREATE TABLE IF NOT EXISTS portal_secret (
    id  smallint PRIMARY KEY CHECK (id = 1),
    key bytea NOT NULL CHECK (length(key) >= 32)
);
INSERT INTO portal_secret (id, key)
VALUES (1, sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())))
ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS portal_verification (
    id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    appointment_id bigint NOT NULL REFERENCES appointment ON DELETE CASCADE,
    channel        text NOT NULL CHECK (channel IN ('sms', 'email')),
    contact        text NOT NULL,
    code_mac       text NOT NULL,
    attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    verified_at    timestamptz
);
CREATE INDEX IF NOT EXISTS portal_verification_appointment ON portal_verification (appointment_id);
CREATE INDEX IF NOT EXISTS portal_verification_contact ON portal_verification (contact, created_at);
CREATE TABLE IF NOT EXISTS inbound_message (
    id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    provider_ref   text NOT NULL UNIQUE CHECK (length(provider_ref) BETWEEN 1 AND 64),
    phone          text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    body           text NOT NULL CHECK (length(body) <= 1600),
    received_at    timestamptz NOT NULL DEFAULT now(),
    patient_id     integer REFERENCES patient,
    appointment_id bigint REFERENCES appointment,
    action         text NOT NULL CHECK (action IN ('confirmed', 'cancelled', 'cancel_needs_link', 'stop',
                                                   'for_desk')),
    handled_at     timestamptz,
    handled_by     text
);
CREATE INDEX IF NOT EXISTS inbound_message_unhandled ON inbound_message (received_at)
    WHERE action = 'for_desk' AND handled_at IS NULL;
REVOKE ALL ON portal_secret, portal_verification, inbound_message FROM PUBLIC;
"""

DOWNGRADE_SQL = r"""
UPDATE appointment SET status = 'cancelled' WHERE patient_id IS NULL AND status = 'held';
DELETE FROM booking WHERE appointment_id IN (SELECT id FROM appointment WHERE patient_id IS NULL);
DELETE FROM appointment WHERE patient_id IS NULL;
DROP TABLE IF EXISTS inbound_message, portal_verification, portal_secret;
ALTER TABLE appointment DROP CONSTRAINT IF EXISTS appointment_patient_known;
ALTER TABLE appointment ALTER COLUMN patient_id SET NOT NULL;
ALTER TABLE appointment DROP COLUMN IF EXISTS link_version, DROP COLUMN IF EXISTS patient_confirmed_at,
    DROP COLUMN IF EXISTS patient_note;
ALTER TABLE service DROP COLUMN IF EXISTS online;
ALTER TABLE resource DROP COLUMN IF EXISTS online, DROP COLUMN IF EXISTS online_confirmation_mode;
"""


def upgrade() -> None:
    op.execute(ROLE_SQL)
    op.execute(TABLES_SQL)
    apply_sql_files(op.get_bind())


def downgrade() -> None:
    """Back to 0013: no portal functions, tables or columns; patients required again (patient-less
    online holds are deleted). The role ``clinic_portal`` stays (roles are the cluster's), without
    anything on this database."""
    names = ", ".join(f.removeprefix("function ") for f in PORTAL_FUNCTIONS)
    op.execute(f"DROP FUNCTION IF EXISTS {names}")
    op.execute(DOWNGRADE_SQL)
    op.execute("DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clinic_portal') THEN "
               "REVOKE ALL ON SCHEMA public FROM clinic_portal; END IF; END $$")
