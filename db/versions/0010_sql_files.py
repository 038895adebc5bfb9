"""The database's rules move to ``db/sql/`` (issue 15): migrations apply the files.

Every function, trigger, row-level security policy and grant that migrations 0001–0009 wrote as
Python strings (some several times over: ``audit_rows`` by 0001, 0005 and 0007, its table check by
0009's ``_pin_and_guard``) is now written once, in the file of its concern under ``db/sql/``,
exactly as 0009 left it in the catalog — pinned search paths and ``TG_RELID`` checks included — and this migration applies those
files (``db.apply_sql_files``). Nothing changes: ``tests/db/test_catalog.py`` compares the catalog
(functions with their settings and grants, triggers, constraints, policies, table, column, sequence
and schema grants, the clinic roles' memberships) of a database at 0009 with the same database at
this revision, and proves that applying the files again changes nothing either.

Tables, columns, indexes, constraints, roles and data stay in migrations. A later migration that
changes a rule edits its file and calls ``apply_sql_files`` again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op
from reception_app.migrations import apply_sql_files

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op.get_bind())


def downgrade() -> None:
    """Back to 0009: nothing to do. The files hold the very definitions 0009 left in the catalog, so
    the database at 0009 is the database at 0010 (the catalog test proves it)."""
