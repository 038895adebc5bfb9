"""Saved resource selections: the QSettings store, the dialog, and the grid models' filter."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

from reception_app.services import dayview
from reception_app.ui.day_model import DayGridModel
from reception_app.ui.resource_selection import ResourceSelection, ResourceSelectionDialog, SelectionStore

from .conftest import DAY, Booked


@pytest.fixture
def store(tmp_path: Path) -> SelectionStore:
    return SelectionStore(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def day(booked: Booked) -> dayview.DayView:
    return dayview.load_day(booked.db, "Centro", DAY)


def _ids(view: dayview.DayView, *names: str) -> frozenset[int]:
    return frozenset(r.id for r in view.resources if r.name in names)


def test_the_store_keeps_selections_per_branch(tmp_path: Path, store: SelectionStore) -> None:
    store.save(1, ResourceSelection("Morning / radiology", frozenset({3, 1})))
    store.save(1, ResourceSelection("all rooms", frozenset({5})))
    store.save(2, ResourceSelection("Berlin", frozenset({9})))
    again = SelectionStore(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    assert [s.name for s in again.list(1)] == ["all rooms", "Morning / radiology"]
    assert again.get(1, "Morning / radiology") == ResourceSelection("Morning / radiology", frozenset({1, 3}))
    assert again.list(2) == [ResourceSelection("Berlin", frozenset({9}))] and again.list(3) == []
    again.save(1, ResourceSelection("Rooms", frozenset({5, 6})), replacing="all rooms")
    assert [s.name for s in again.list(1)] == ["Morning / radiology", "Rooms"]
    assert again.delete(1, "Rooms") and not again.delete(1, "Rooms")
    with pytest.raises(ValueError):
        again.save(1, ResourceSelection("  ", frozenset({1})))


def test_the_dialog_lists_resources_by_kind_and_saves(qtbot, store: SelectionStore,
                                                      day: dayview.DayView) -> None:
    dialog = ResourceSelectionDialog(store, day.branch.id, day.resources)
    qtbot.addWidget(dialog)
    groups = [dialog.tree.topLevelItem(i) for i in range(dialog.tree.topLevelItemCount())]
    assert [g.text(0) for g in groups] == ["Doctors", "Rooms", "Equipment"]
    assert [groups[0].child(i).text(0) for i in range(groups[0].childCount())] == ["Ana Souza", "Bruno Lima"]
    # Nothing given: one message says both.
    dialog.save_button.click()
    assert dialog.message.text() == "Give the selection a name and at least one resource."
    assert not dialog.message.isHidden() and dialog.result() == 0
    qtbot.keyClicks(dialog.name_edit, "Ana and her room")
    dialog.save_button.click()
    assert dialog.message.text() == "Choose at least one resource."
    (ana,) = _ids(day, "Ana Souza")
    dialog.set_checked(ana)
    groups[1].setCheckState(0, Qt.CheckState.Checked)  # the whole kind
    with qtbot.waitSignal(dialog.selection_saved) as saved:
        dialog.save_button.click()
    expected = ResourceSelection("Ana and her room", _ids(day, "Ana Souza", "Imaging 1", "Imaging 2"))
    assert saved.args == [expected] and store.list(day.branch.id) == [expected]
    assert dialog.result() == ResourceSelectionDialog.DialogCode.Accepted


def test_editing_renames_refuses_a_taken_name_and_deletes(qtbot, store: SelectionStore,
                                                         day: dayview.DayView) -> None:
    branch = day.branch.id
    store.save(branch, ResourceSelection("Doctors AM", _ids(day, "Ana Souza", "Bruno Lima")))
    store.save(branch, ResourceSelection("Imaging", _ids(day, "Imaging 1")))
    dialog = ResourceSelectionDialog(store, branch, day.resources, selection=store.get(branch, "Doctors AM"))
    qtbot.addWidget(dialog)
    assert dialog.chosen_ids() == _ids(day, "Ana Souza", "Bruno Lima") and dialog.delete_button.isVisibleTo(dialog)
    dialog.name_edit.setText("Imaging")
    dialog.save_button.click()
    assert "already exists" in dialog.message.text()
    dialog.name_edit.setText("Radiologists")
    with qtbot.waitSignal(dialog.selection_saved):
        dialog.save_button.click()
    assert [s.name for s in store.list(branch)] == ["Imaging", "Radiologists"]
    editing = ResourceSelectionDialog(store, branch, day.resources, selection=store.get(branch, "Imaging"))
    qtbot.addWidget(editing)
    with qtbot.waitSignal(editing.selection_deleted) as deleted:
        editing.delete_button.click()
    assert deleted.args == ["Imaging"] and [s.name for s in store.list(branch)] == ["Radiologists"]


def test_a_selection_filters_the_day_grid(qtmodeltester, day: dayview.DayView) -> None:
    model = DayGridModel()
    model.set_day(day)
    model.set_resource_set("doctor")
    model.set_resource_filter(_ids(day, "Ultrasound A", "Ana Souza"))
    assert [r.name for r in model.columns] == ["Ana Souza", "Ultrasound A"]  # the filter rules, in order
    qtmodeltester.check(model)
    model.set_resource_filter(frozenset({999_999}))
    assert model.columnCount() == 0
    model.set_resource_filter(None)
    assert [r.name for r in model.columns] == ["Ana Souza", "Bruno Lima"]  # the set rules again
