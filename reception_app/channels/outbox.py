"""The file outbox: each message becomes a text file in a folder (the demo's default channel,
so a user can read what would be sent, and the fallback for patients without consent).

File name ``<reminder id>-<purpose>-<channel>.txt``: a retried send rewrites the same
file (written to a temporary name and renamed, so a reader never sees half a message).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import Message, SendError


class OutboxChannel:
    """Writes messages to ``folder`` (created on demand). Raises ``SendError`` (transient) when
    the folder cannot be written."""

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path_for(self, message: Message) -> Path:
        return self.folder / f"{message.reminder_id}-{message.purpose}-{message.channel}.txt"

    def send(self, message: Message) -> str | None:
        text = (f"Channel: {message.channel}\nTo: {message.patient} <{message.recipient}>\n"
                f"Subject: {message.subject}\nLanguage: {message.language}\n"
                f"Idempotency-Key: {message.idempotency_key}\n\n{message.body}\n")
        target = self.path_for(message)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, target)
        except OSError as exc:
            raise SendError(f"cannot write the outbox file {target}: {exc.strerror or exc}") from exc
        return str(target)

    def check(self) -> str:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".check"):
                pass
        except OSError as exc:
            raise SendError(f"the outbox folder {self.folder} is not writable: {exc.strerror or exc}") from exc
        return f"outbox folder {self.folder} is writable"

    def close(self) -> None:
        pass
