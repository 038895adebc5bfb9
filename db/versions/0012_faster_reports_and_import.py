"""Reports and the CSV import in one pass (issue 15, "Faster where the desk feels it").

Two owners write this migration in two sections; each section says what its rules change and why
each guarantee is kept.

Reports: (section R, filled in below).

Import: (section I, filled in below).

Reminders: (section M, filled in below).

:data:`CHANGED` names the catalog objects this migration changes (``tests/db/test_catalog.py``
proves that 0009 upgraded to head differs in exactly the union of the later migrations' tuples).
The new definitions live in ``db/sql/``; upgrading applies the files. The downgrade restores the
definitions 0011 left (:data:`BEFORE_REPORTS`, :data:`BEFORE_IMPORT`, :data:`BEFORE_REMINDERS`).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op
from reception_app.migrations import apply_sql_files

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# -- section R (reports) ---------------------------------------------------------------------------
CHANGED_REPORTS: tuple[str, ...] = ()
BEFORE_REPORTS = ""


def upgrade_reports() -> None:
    """Table and data changes of the reports section (before the SQL files are applied)."""


def downgrade_reports() -> None:
    """Undo :func:`upgrade_reports` (after the old definitions are restored)."""


# -- section I (import) ----------------------------------------------------------------------------
CHANGED_IMPORT: tuple[str, ...] = ()
BEFORE_IMPORT = ""


def upgrade_import() -> None:
    """Table and data changes of the import section (before the SQL files are applied)."""


def downgrade_import() -> None:
    """Undo :func:`upgrade_import` (after the old definitions are restored)."""


# -- section M (reminders) ------------------------------------------------------------------------
CHANGED_REMINDERS: tuple[str, ...] = ()
BEFORE_REMINDERS = ""


# -- both ----------------------------------------------------------------------------------------
#: The catalog objects this migration changes, as ``tests/db/test_catalog.py`` names them.
CHANGED: tuple[str, ...] = CHANGED_REPORTS + CHANGED_IMPORT + CHANGED_REMINDERS


def upgrade() -> None:
    upgrade_reports()
    upgrade_import()
    apply_sql_files(op.get_bind())


def downgrade() -> None:
    """Back to 0011: the old definitions (one simple-protocol round trip each), then the tables."""
    from reception_app.store.database import driver  # as in db/__init__.py: not at import time

    with driver(op.get_bind()).cursor() as cur:
        for before in (BEFORE_REPORTS, BEFORE_IMPORT, BEFORE_REMINDERS):
            if before.strip():
                cur.execute(before.encode("utf-8"))
    downgrade_import()
    downgrade_reports()
