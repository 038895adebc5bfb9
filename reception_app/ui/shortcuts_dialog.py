"""The keyboard sheet (F1): every shortcut the window offers, read from its own actions.

Built from the window's ``QAction`` objects at the moment it opens, so it
always matches the keys that really work, plus the grid's own keys, which are
not actions.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

#: Keys handled by the grid itself (not window actions).
GRID_KEYS: tuple[tuple[str, str], ...] = (
    ("Arrow keys", "Move through the grid"),
    ("Enter / double-click", "New appointment at the empty cell"),
    ("Menu / Shift+F10 / right click", "The appointment's menu"),
    ("Drag a block", "Move it to another time or resource"),
    ("Esc", "Cancel a drag"),
)


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """``(keys, what)`` for every action that has a shortcut, in the given order (no duplicates)."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for action in actions:
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
        what = action.text().replace("&", "").rstrip("…")
        if keys and keys not in seen:
            seen.add(keys)
            rows.append((keys, what))
    return rows


class ShortcutSheet(QDialog):
    """A read-only list of keys and what they do: the window's actions, then the grid's keys."""

    def __init__(self, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcutSheet")
        self.tree = QTreeWidget()
        self.tree.setObjectName("shortcutList")
        self.tree.setAccessibleName("Keyboard shortcuts")
        self.tree.setHeaderLabels(["Keys", "Action"])
        self.tree.setRootIsDecorated(False)
        for keys, what in [*shortcut_rows(actions), *GRID_KEYS]:
            QTreeWidgetItem(self.tree, [keys, what])
        self.tree.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addWidget(buttons)
        self.resize(520, 460)

    def rows(self) -> list[tuple[str, str]]:
        """What the sheet lists, as ``(keys, action)`` pairs (tests, screen readers)."""
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [(item.text(0), item.text(1)) for item in items if item is not None]
