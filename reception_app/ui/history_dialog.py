"""The "History" of a patient record or an appointment: who changed what, when, and why.

One row per change — when (in the zone the dialog names: the branch's for an
appointment, the workstation's for a patient), who (the database login), what
(created / changed / deleted, a consent given or withdrawn), and the reason
recorded with it — and under it the fields changed, before → after, in words
(``services.history.entity_history``). Read in the background through the
shared :class:`~.runner.Runner`; opened with ``open()``.

Only managers and admins may read the audit trail (the database refuses anyone
else): the window offers "History" to those roles only (:func:`may_read_history`),
and a refusal that still comes back is said in plain words.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PySide6.QtCore import Qt, QTimeZone, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ClinicError, PermissionDenied
from ..domain.roles import Capabilities
from ..services import history
from ..services.history import HistoryEntry
from ..store.database import Database
from . import local_formats
from .runner import Runner

__all__ = ["HistoryDialog", "NOT_ALLOWED_TEXT", "may_read_history", "workstation_zone"]

#: Shown when the database refuses the signed-in role the audit trail.
NOT_ALLOWED_TEXT = ("Only managers and administrators may see the change history. "
                    "Ask a manager to look it up for you.")


def may_read_history(caps: Capabilities) -> bool:
    """Whether the window offers "History" to a role: managers and admins, the roles the database
    lets read ``audit_log`` (in ``domain.roles`` terms, those who see the reports)."""
    return caps.reports


def workstation_zone() -> tuple[tzinfo, str]:
    """The workstation's time zone (IANA, so past changes get their own daylight-saving offset)
    and how to name it: ``(ZoneInfo("Europe/Berlin"), "Europe/Berlin")``; a fixed offset when the
    system zone has no IANA name."""
    name = bytes(QTimeZone.systemTimeZoneId().data()).decode("ascii", "replace")
    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError):
        local = datetime.now().astimezone()
        return local.tzinfo or ZoneInfo("UTC"), local.strftime("UTC%z")


class HistoryDialog(QDialog):
    """The change history of one entity.

    ``table``/``row_id``: whose (``"patient"`` or ``"appointment"``, see
    ``services.history.ENTITIES``). ``about``: what it is, for the title
    (``"Maria Silva"``, ``"Maria Silva 08:00, Abdominal ultrasound"``). ``tz`` and
    ``zone_text``: the zone every time is shown in and the sentence naming it
    (``"branch-local time (Centro, America/Sao_Paulo)"``).

    Signals:
        history_loaded(object): the entries arrived and are listed (a list of ``HistoryEntry``).
        history_failed(str): the history could not be read: the sentence shown.
    """

    history_loaded = Signal(object)
    history_failed = Signal(str)

    def __init__(self, db: Database, runner: Runner, *, table: str, row_id: int, about: str, tz: tzinfo,
                 zone_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db, self._runner = db, runner
        self._table, self._row_id, self._tz = table, row_id, tz
        self._zone_text = zone_text
        self._key = f"history-{id(self)}"
        self.setObjectName("historyDialog")
        self.setWindowTitle(f"History — {about}")
        self.setAccessibleName("Change history")
        self.resize(940, 560)

        v = QVBoxLayout(self)
        self.intro_label = QLabel(f"Every recorded change, oldest first. Times are {zone_text}; "
                                  "“Who” is the database login that made the change.")
        self.intro_label.setObjectName("historyIntro")
        self.intro_label.setWordWrap(True)
        self.intro_label.setStyleSheet("color: #4a5563;")
        v.addWidget(self.intro_label)
        self.tree = QTreeWidget()
        self.tree.setObjectName("historyTree")
        self.tree.setAccessibleName("Changes")
        self.tree.setHeaderLabels(["When", "Who", "What", "Reason"])
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setAlternatingRowColors(True)
        self.tree.setWordWrap(True)
        header = self.tree.header()
        for column in (0, 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(3, 200)
        header.setStretchLastSection(False)
        v.addWidget(self.tree, 1)
        self.status_label = QLabel("Loading the history…")
        self.status_label.setObjectName("historyStatus")
        self.status_label.setWordWrap(True)
        v.addWidget(self.status_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        v.addWidget(buttons)
        self.reload()

    # -- public -----------------------------------------------------------------------------------
    @property
    def zone_text(self) -> str:
        """The sentence naming the zone the times are shown in."""
        return self._zone_text

    def reload(self) -> None:
        """Read the history again (in the background)."""
        db, table, row_id, tz = self._db, self._table, self._row_id, self._tz
        self._runner.run(lambda: history.entity_history(db, table, row_id, tz=tz), on_success=self._on_loaded,
                         on_failure=self._on_failed, key=self._key, label=f"history of {table} {row_id}")

    def entries(self) -> list[HistoryEntry]:
        """The entries listed, in order."""
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item.data(0, Qt.ItemDataRole.UserRole) for item in items if item is not None]

    # -- reactions ----------------------------------------------------------------------------------
    def _on_loaded(self, entries: list[HistoryEntry]) -> None:
        self.tree.clear()
        for e in entries:
            when = e.at.astimezone(self._tz)
            item = QTreeWidgetItem([f"{local_formats.day(when.date())} {when:%H:%M:%S}", e.db_user, e.what, e.reason or "—"])
            item.setData(0, Qt.ItemDataRole.UserRole, e)
            item.setToolTip(3, e.reason or "No reason was recorded")
            font = item.font(2)
            font.setBold(True)
            item.setFont(2, font)
            for change in e.changes:
                child = QTreeWidgetItem(["", "", change.describe(), ""])
                child.setToolTip(2, change.describe())
                item.addChild(child)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
        n = len(entries)
        self.status_label.setStyleSheet("")
        self.status_label.setText(f"{n} change{'s' if n != 1 else ''} recorded." if n else
                                  "No changes are recorded for this yet.")
        self.history_loaded.emit(entries)

    def _on_failed(self, error: ClinicError) -> None:
        text = NOT_ALLOWED_TEXT if isinstance(error, PermissionDenied) else str(error)
        self.status_label.setStyleSheet("color: #b3261e;")
        self.status_label.setText(text)
        self.history_failed.emit(text)

    def done(self, result: int) -> None:
        """Close; a read still running is dropped."""
        self._runner.discard(self._key)
        super().done(result)
