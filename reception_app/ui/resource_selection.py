"""Saved resource selections: named sets of resources per branch, kept on this workstation.

A selection ("Morning radiology": two doctors and a room) is shown by giving its ids to
the grid models' ``set_resource_filter``. :class:`SelectionStore` keeps them in QSettings,
one JSON entry per branch (names may hold any character, QSettings keys may not);
:class:`ResourceSelectionDialog` creates, edits and deletes one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..domain.slots import KINDS
from ..services.dayview import GridResource

log = logging.getLogger(__name__)

_GROUP_LABELS = {"doctor": "Doctors", "room": "Rooms", "equipment": "Equipment"}
_ID_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class ResourceSelection:
    """A named set of resource ids (of one branch)."""

    name: str
    resource_ids: frozenset[int]


class SelectionStore:
    """Named resource selections per branch, in ``settings`` (default: the application's QSettings).

    Key ``resourceSelections/branch<id>``: a JSON object ``{name: [ids]}``. An unreadable entry
    reads as no selections (and is logged), never as an error.
    """

    def __init__(self, settings: QSettings | None = None) -> None:
        self._settings = settings if settings is not None else QSettings()

    @staticmethod
    def _key(branch_id: int) -> str:
        return f"resourceSelections/branch{branch_id}"

    def _load(self, branch_id: int) -> dict[str, list[int]]:
        raw = self._settings.value(self._key(branch_id), "")
        if not raw:
            return {}
        try:
            data = json.loads(str(raw))
            return {str(name): [int(i) for i in ids] for name, ids in data.items()}
        except (ValueError, TypeError, AttributeError):
            log.warning("ignoring unreadable resource selections of branch %s", branch_id)
            return {}

    def _dump(self, branch_id: int, data: dict[str, list[int]]) -> None:
        if data:
            self._settings.setValue(self._key(branch_id), json.dumps(data, ensure_ascii=False))
        else:
            self._settings.remove(self._key(branch_id))
        self._settings.sync()

    def list(self, branch_id: int) -> list[ResourceSelection]:
        """The branch's selections, by name (case-insensitive)."""
        return [ResourceSelection(name, frozenset(ids))
                for name, ids in sorted(self._load(branch_id).items(), key=lambda kv: kv[0].casefold())]

    def get(self, branch_id: int, name: str) -> ResourceSelection | None:
        """The selection called ``name`` (exactly), or ``None``."""
        ids = self._load(branch_id).get(name)
        return ResourceSelection(name, frozenset(ids)) if ids is not None else None

    def save(self, branch_id: int, selection: ResourceSelection, *, replacing: str | None = None) -> None:
        """Store ``selection`` (overwriting one of the same name); ``replacing``: the old name of a
        renamed selection, removed. Raises ``ValueError`` for a blank name or no resources."""
        name = selection.name.strip()
        if not name or not selection.resource_ids:
            raise ValueError("a selection needs a name and at least one resource")
        data = self._load(branch_id)
        if replacing is not None:
            data.pop(replacing, None)
        data[name] = sorted(selection.resource_ids)
        self._dump(branch_id, data)

    def delete(self, branch_id: int, name: str) -> bool:
        """Remove the selection called ``name``; whether there was one."""
        data = self._load(branch_id)
        if data.pop(name, None) is None:
            return False
        self._dump(branch_id, data)
        return True


class ResourceSelectionDialog(QDialog):
    """Create, edit or delete one saved selection of ``resources`` (the branch's, any kind).

    ``selection``: the one to edit (``None``: a new one). Resources are listed by kind
    (doctors, rooms, equipment), each checkable, with a checkable heading per kind. Save
    checks the name and the choice together and says in one message what is missing
    (a name, a resource, or both) or that the name is taken; it stores and closes only
    when both are given.

    Signals:
        selection_saved(object): the ``ResourceSelection`` stored (the dialog is accepted).
        selection_deleted(str): the name of the selection deleted (the dialog is accepted).
    """

    selection_saved = Signal(object)
    selection_deleted = Signal(str)

    def __init__(self, store: SelectionStore, branch_id: int, resources: Sequence[GridResource], *,
                 selection: ResourceSelection | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store, self._branch_id, self._editing = store, branch_id, selection
        self.setObjectName("resourceSelectionDialog")
        self.setWindowTitle("Edit resource selection" if selection else "New resource selection")
        self.name_edit = QLineEdit(selection.name if selection else "")
        self.name_edit.setObjectName("selectionName")
        self.name_edit.setPlaceholderText("e.g. Morning radiology")
        self.tree = QTreeWidget()
        self.tree.setObjectName("selectionResources")
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(2)
        self.tree.setRootIsDecorated(False)
        self.tree.setAccessibleName("Resources in the selection")
        chosen = selection.resource_ids if selection else frozenset()
        order = {k: i for i, k in enumerate(KINDS)}
        for kind in sorted({r.kind for r in resources}, key=lambda k: (order.get(k, len(KINDS)), k)):
            group = QTreeWidgetItem(self.tree, [_GROUP_LABELS.get(kind, kind.capitalize())])
            group.setFlags(group.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsAutoTristate)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            for r in sorted((r for r in resources if r.kind == kind), key=lambda r: r.name):
                item = QTreeWidgetItem(group, [r.name, r.category])
                item.setData(0, _ID_ROLE, r.id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(0, Qt.CheckState.Checked if r.id in chosen else Qt.CheckState.Unchecked)
            group.setExpanded(True)
        self.tree.resizeColumnToContents(0)
        self.message = QLabel()
        self.message.setObjectName("selectionMessage")
        self.message.setStyleSheet("color: #b3261e;")
        self.message.setWordWrap(True)
        self.message.hide()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setObjectName("deleteSelection")
        self.delete_button.setVisible(selection is not None)
        buttons.addButton(self.delete_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        buttons.accepted.connect(self._on_save_clicked)
        buttons.rejected.connect(self.reject)
        self.delete_button.clicked.connect(self._on_delete_clicked)

        form = QFormLayout()
        form.addRow("&Name", self.name_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Resources shown:"))
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.resize(380, 460)

    def _resource_items(self) -> Iterator[QTreeWidgetItem]:
        """The resource rows (not the kind headings)."""
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            if group is None:
                continue
            for c in range(group.childCount()):
                item = group.child(c)
                if item is not None:
                    yield item

    def chosen_ids(self) -> frozenset[int]:
        """The ids of the resources checked."""
        return frozenset(int(item.data(0, _ID_ROLE)) for item in self._resource_items()
                         if item.checkState(0) == Qt.CheckState.Checked)

    def set_checked(self, resource_id: int, checked: bool = True) -> None:
        """Check (or uncheck) the resource ``resource_id``'s row. Raises ``KeyError`` if not listed."""
        for item in self._resource_items():
            if item.data(0, _ID_ROLE) == resource_id:
                item.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                return
        raise KeyError(resource_id)

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _on_save_clicked(self) -> None:
        name, ids = self.name_edit.text().strip(), self.chosen_ids()
        missing = [what for what, lacking in (("a name", not name), ("at least one resource", not ids)) if lacking]
        if missing:
            self._say(f"Give the selection {' and '.join(missing)}." if missing[0] == "a name"
                      else "Choose at least one resource.")
            (self.name_edit if not name else self.tree).setFocus()
            return
        old = self._editing.name if self._editing else None
        if name != old and self._store.get(self._branch_id, name) is not None:
            self._say(f"A selection called “{name}” already exists: choose another name.")
            self.name_edit.setFocus()
            return
        selection = ResourceSelection(name, ids)
        self._store.save(self._branch_id, selection, replacing=old)
        self._say("")
        self.selection_saved.emit(selection)
        self.accept()

    def _on_delete_clicked(self) -> None:
        if self._editing is None:
            return
        self._store.delete(self._branch_id, self._editing.name)
        self.selection_deleted.emit(self._editing.name)
        self.accept()
