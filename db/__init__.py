"""Alembic environment and migrations for the clinic schema, and the SQL files of its rules.

Lives at the top of the repository as ``db/`` and ships inside the installed
package as ``reception_app.migrations`` (see pyproject.toml), so every client
and the ``clinic`` command can migrate a server without the source tree.

- ``db/versions/``: the migrations, in order. Tables, columns, indexes, constraints, roles and data
  changes live there and only there.
- ``db/sql/``: the one home of every function, trigger, row-level security policy and grant, one
  file per concern, each written to be applied again (``CREATE OR REPLACE FUNCTION``; ``DROP TRIGGER
  IF EXISTS`` … ``CREATE TRIGGER``; grants). :data:`SQL_FILES` is the order they are applied in
  (helpers first: the others call them; grants last: they name the functions). ``database.sql``
  (the database's own CONNECT privileges) is not among them: ``store/migrate.py`` applies it after
  every upgrade and the tests after every clone of a template.

A migration that changes a rule edits its file and calls :func:`apply_sql_files` after its table
changes. It names the catalog objects it changes in a module-level ``CHANGED`` tuple
(``"function <name>(<argument types>)"``, ``"trigger <name> on <table>"``, as
``tests/db/test_catalog.changed_objects`` names them) and its downgrade restores their former
definitions (0011 is the example): the catalog test proves that a database at 0009 upgraded to
head differs from the 0009 catalog in exactly the declared objects, and downgraded is 0009 again.
The files describe the newest schema and every migration that applies them applies the
files as they are now, so on a fresh database an older such migration (0010) applies definitions
written for a newer schema: a PL/pgSQL body is only parsed then (names are looked up when it runs),
but a SQL-language body and a trigger's ``UPDATE OF`` column list are checked at once — a rule that
needs a new column in one of those must keep the older migration working (say, by creating the
column in the same migration, before the call, only when the schema lacks it).
"""

from __future__ import annotations

from importlib import resources

#: The rule files of ``db/sql/``, in the order :func:`apply_sql_files` applies them.
SQL_FILES: tuple[str, ...] = (
    "helpers.sql",
    "statuses.sql",
    "appointments_bookings.sql",
    "policy_money.sql",
    "notify.sql",
    "reminders.sql",
    "reports.sql",
    "audit.sql",
    "portal.sql",
    "grants.sql",
)


def sql_text(name: str) -> str:
    """The text of ``db/sql/<name>`` (as shipped in ``reception_app.migrations``); ``FileNotFoundError``
    when there is no such file."""
    return (resources.files(__name__) / "sql" / name).read_text(encoding="utf-8")


def apply_sql_files(bind) -> None:
    """Apply every file of :data:`SQL_FILES`, in order, on ``bind`` (an open SQLAlchemy connection,
    e.g. ``op.get_bind()``; run as the database owner) inside the caller's transaction.

    Each file goes to PostgreSQL as it is, in one simple-protocol round trip on the driver's own
    connection (no bind-parameter parsing of ``:name`` or ``%`` in function bodies). Applying them on
    a database whose rules already equal them changes nothing (``tests/db/test_catalog.py`` proves
    it). Errors are PostgreSQL's (``psycopg.Error``), and roll back the caller's transaction.
    """
    from reception_app.store.database import driver  # not at import: Alembic loads this package first

    with driver(bind).cursor() as cur:
        for name in SQL_FILES:
            cur.execute(sql_text(name).encode("utf-8"))
