"""Schema migrations (Alembic, shipped as ``reception_app.migrations``).

- ``upgrade(db)`` applies every migration, under an advisory lock so two
  workstations starting at once do not race; a schema newer than this
  program raises ``SchemaMismatch`` (update the program) instead.
- ``check_schema(db)`` compares the database's revision with this program's:
  an older schema says to run ``clinic db upgrade``; a newer one says to
  update the program. Both raise ``SchemaMismatch`` with that sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

import psycopg
from alembic.command import upgrade as alembic_upgrade
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..domain.errors import SchemaMismatch
from .database import Database, translate

MIGRATION_LOCK = 0x0C11_1C  # pg_advisory_lock key shared by every client


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("reception_app.migrations")))
    return cfg


def head_revision() -> str:
    """The newest revision this program ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The database's revision, or None for an empty database."""
    return MigrationContext.configure(conn).get_current_revision()


def known_revisions() -> set[str]:
    return {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}


def upgrade(db: Database) -> tuple[str | None, str]:
    """Apply all migrations; returns (revision before, revision after).

    Raises ``SchemaMismatch`` (schema newer than this program), ``DatabaseUnavailable``
    and ``PermissionDenied`` (not run as the database owner) like every other runner.
    """
    try:
        with db._connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            conn.commit()
            try:
                before = current_revision(conn)
                conn.commit()
                if before is not None and before not in known_revisions():
                    # Alembic would fail with "Can't locate revision"; say what to do instead.
                    raise SchemaMismatch(
                        f"The clinic database schema is at revision {before}, newer than this program knows "
                        f"({head_revision()}). Update Clinic Reception on this workstation.")
                cfg = _config()
                cfg.attributes["connection"] = conn
                alembic_upgrade(cfg, "head")
                conn.commit()
                secure_database(conn)
                conn.commit()
                return before, head_revision()
            finally:
                conn.rollback()  # leave a failed migration's transaction, or the unlock fails too
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
                conn.commit()
    except (DBAPIError, psycopg.Error) as exc:
        raise translate(exc) from exc


#: The database-level privileges (``db/sql/database.sql``, first applied by migration 0009): PUBLIC may
#: not connect, create temporary tables or create schemas; the clinic groups and the service roles may
#: connect. A database made from a template does not inherit its template's privileges, so
#: :func:`upgrade` applies them every time.
SECURE_DATABASE_SQL = (resources.files("reception_app.migrations") / "sql" / "database.sql").read_text(encoding="utf-8")


def secure_database(conn: Connection) -> None:
    """Leave the connected database with PUBLIC's CONNECT, TEMP and CREATE revoked and CONNECT granted
    to the clinic's groups (idempotent; needs the database's owner). Called by :func:`upgrade`, and by
    whoever clones a migrated database from a template (the tests)."""
    conn.execute(text(SECURE_DATABASE_SQL))


def check_schema(db: Database, reader: Callable[[Connection], str | None] = current_revision) -> str:
    """Return the revision when it is the one this program needs; else raise SchemaMismatch.
    ``reader``: how the login reads the revision (the portal's, which reads no table, asks
    ``portal_catalog()``)."""
    rev = db.read(reader)
    head = head_revision()
    if rev == head:
        return rev
    if rev is None:
        raise SchemaMismatch(
            "The clinic database has no schema yet. Run `clinic db upgrade` (as the database owner) first.")
    if rev in known_revisions():
        raise SchemaMismatch(
            f"The clinic database schema is at revision {rev}, older than this program's {head}. "
            "Run `clinic db upgrade` (as the database owner), then start again.")
    raise SchemaMismatch(
        f"The clinic database schema is at revision {rev}, newer than this program knows ({head}). "
        "Update Clinic Reception on this workstation.")
