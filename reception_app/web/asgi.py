"""The portal as an ASGI application factory for uvicorn's worker processes (``clinic-portal
--workers N``): each worker builds its own application and database connection from what the
command put in its environment — ``CLINIC_DATABASE_URL`` (or the embedded default),
``CLINIC_PORTAL_CONFIG`` (a settings file with ``[reminders]``) and ``CLINIC_PORTAL_HTTPS``
(``1``: cookies are Secure). Each worker keeps its own rate limits and shared weeks.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

ENV_CONFIG = "CLINIC_PORTAL_CONFIG"
ENV_HTTPS = "CLINIC_PORTAL_HTTPS"


def create_from_env() -> FastAPI:
    """One worker's application. Raises as ``clinic-portal`` does at start (``ValidationError``,
    ``DatabaseUnavailable``, ``SchemaMismatch``)."""
    from ..store.connect import open_portal_database
    from .app import create_app
    from .settings import default_settings

    config = os.environ.get(ENV_CONFIG) or None
    settings = default_settings(config=Path(config) if config else None,
                                secure_cookies=os.environ.get(ENV_HTTPS) == "1")
    return create_app(open_portal_database(), settings)
