"""Open the clinic database the way every program here does (app, CLI, reminder service).

The embedded default is started on demand and migrated automatically; a shared
server is only checked: its schema must be exactly the one this program knows,
otherwise ``SchemaMismatch`` says what to run.
"""

from __future__ import annotations

import logging

from ..config import ConnectionChoice, choose_connection
from . import migrate
from .database import Database
from .embedded import start_embedded

log = logging.getLogger(__name__)


def open_database(cli_url: str | None = None, *, check: bool = True, application_name: str = "clinic-reception",
                  choice: ConnectionChoice | None = None) -> Database:
    """Connect per the precedence in ``config``; migrate the embedded default; check the schema.

    Raises ``DatabaseUnavailable`` or ``SchemaMismatch``.
    """
    choice = choice or choose_connection(cli_url)
    if choice.embedded:
        db = Database(start_embedded(), application_name=application_name)
        before, after = migrate.upgrade(db)
        if before != after:
            log.info("embedded database migrated from %s to %s", before, after)
        return db
    db = Database(choice.conninfo or "", application_name=application_name)
    if check:
        migrate.check_schema(db)
    return db
