"""Alembic environment and migrations for the clinic schema.

Lives at the top of the repository as ``db/`` and ships inside the installed
package as ``reception_app.migrations`` (see pyproject.toml), so every client
and the ``clinic`` command can migrate a server without the source tree.
"""
