"""Alembic environment: runs migrations on the connection the caller hands in.

``reception_app.store.migrate`` builds the Alembic ``Config`` in code and puts an
open SQLAlchemy connection in ``config.attributes["connection"]``; there is no
alembic.ini and no URL here, so the same connection rules (embedded default,
CLINIC_DATABASE_URL, command line) apply to migrations as to everything else.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running `alembic` by hand
    raise RuntimeError("run migrations through `clinic db upgrade`, which supplies the connection")

context.configure(connection=connection, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
