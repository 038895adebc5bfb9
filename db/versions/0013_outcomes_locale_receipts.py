"""Outcomes only after the start, the branch's locale, receipts numbered without gaps (issue 16).

- ``appointment_check_transition``: an appointment becomes ``no_show`` or ``completed`` only once
  its start has passed by the server's clock (``now() >= starts_at``); before, the status trigger
  refuses with CL001 and a HINT (``not_started_no_show`` / ``not_started_complete``) that
  ``store.database.translate`` turns into the desk's words. The desk offers "No-show" only a grace
  later still (``clinic_setting`` ``no_show_grace_minutes``, 15 by default). Imported history is
  inserted in its final status and is not a transition, so the import is unaffected.
- ``branch.locale`` (text, NULL: ``en_GB``): the branch's locale (``pt_BR``, ``en_GB``, ``pt_PT``)
  for dates typed and shown, money, times and the country phone numbers are completed with
  (``domain.formats``); set by ``clinic config apply`` (``[[branch]] locale``).
- ``appointment.desk_note`` (text, at most 500 characters, NULL: none): a note for the desk typed
  when booking ("bring last year's X-ray"), shown on the grid's tooltip and the doctor's day.
- ``receipt``: one row per receipt issued, numbered 1, 2, 3 … by the database with no gaps (the
  number is taken in the transaction that records it, so a rolled-back print leaves no hole; two
  at once are serialized by the primary key under SERIALIZABLE and the runner retries), with the
  appointment, the totals printed (computed by the database from ``payment``, over the appointment's
  reschedule chain, as ``clinic_net_paid_cents`` does), when and by which login. Append-only: no
  role may update or delete a receipt, and ``receipt_issue()`` overwrites whatever a client sends
  for number, totals, time and login.

:data:`CHANGED` names the rules this migration changes and :data:`CREATED` what it creates
(``tests/db/test_catalog.py`` proves both).
The definitions live in ``db/sql/`` (statuses.sql, policy_money.sql, grants.sql); upgrading creates
the table and the column, then applies the files. The downgrade restores the 0012 definition of
the status trigger and drops the table and the column.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op
from reception_app.migrations import apply_sql_files

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: The catalog objects this migration changes, as ``tests/db/test_catalog.py`` names them.
#: Rules (db/sql/), which migration 0010 already applies as the files are now.
CHANGED: tuple[str, ...] = (
    "function appointment_check_transition()",
    "function receipt_issue()",
)
#: What this migration creates and only it brings: the table (with its constraints, and the trigger
#: and grants the files put on it once it exists).
CREATED: tuple[str, ...] = ("relation receipt", "constraint appointment_desk_note_check on appointment")

#: ``appointment_check_transition`` as migration 0012 left it, for the downgrade only.
BEFORE = r"""
CREATE OR REPLACE FUNCTION public.appointment_check_transition()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM status_transition
                   WHERE from_status = OLD.status AND to_status = NEW.status) THEN
        RAISE EXCEPTION 'appointment %: status cannot change from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'CL001';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $function$;
"""

#: The receipt table (the number is the key; no sequence, so no gaps).
RECEIPT = """
CREATE TABLE IF NOT EXISTS receipt (
    number          integer PRIMARY KEY CHECK (number > 0),
    appointment_id  bigint NOT NULL REFERENCES appointment(id),
    paid_cents      bigint NOT NULL DEFAULT 0,
    refunded_cents  bigint NOT NULL DEFAULT 0,
    issued_at       timestamptz NOT NULL DEFAULT now(),
    issued_by       text NOT NULL DEFAULT session_user
);
CREATE INDEX IF NOT EXISTS receipt_appointment_id ON receipt (appointment_id, number);
"""


def upgrade() -> None:
    op.execute("ALTER TABLE branch ADD COLUMN IF NOT EXISTS locale text")
    op.execute("ALTER TABLE appointment ADD COLUMN IF NOT EXISTS desk_note text "
               "CONSTRAINT appointment_desk_note_check CHECK (length(desk_note) <= 500)")
    op.execute(RECEIPT)
    apply_sql_files(op.get_bind())


def downgrade() -> None:
    """Back to 0012: the status trigger as 0012 left it; no receipt table, no branch locale."""
    from reception_app.store.database import driver  # as in db/__init__.py: not at import time

    op.execute("DROP TABLE IF EXISTS receipt")
    op.execute("DROP FUNCTION IF EXISTS receipt_issue()")
    op.execute("ALTER TABLE branch DROP COLUMN IF EXISTS locale")
    op.execute("ALTER TABLE appointment DROP COLUMN IF EXISTS desk_note")
    with driver(op.get_bind()).cursor() as cur:
        cur.execute(BEFORE.encode("utf-8"))
