"""The grid's cell painting (``ui.grid_paint``): rendered cells are cached by content, so a repaint
— and a day reloaded after a change elsewhere — draws pixmaps instead of painting every block; a
cell painted once (a new size while the window is resized) is painted directly, and looks the same."""

from __future__ import annotations

from PySide6.QtGui import QImage, QPixmap

from reception_app.services import dayview, scheduling
from reception_app.ui.day_model import DayGridModel
from reception_app.ui.day_view import DayGridView
from reception_app.ui.grid_paint import CellCache, DayGridDelegate

from .conftest import DAY, Booked


def _grid(qtbot, booked: Booked, *, one_column: bool = False) -> tuple[DayGridView, DayGridModel, DayGridDelegate]:
    """The Centro day in a grid; ``one_column``: only the first booking's doctor, so no block is
    shown twice (a block booking a doctor, a room and a machine is drawn in three columns)."""
    model = DayGridModel()
    if one_column:
        model.set_resource_filter(frozenset({booked.first.resource_ids["doctor"]}))
    view = DayGridView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(1000, 700)
    model.set_day(dayview.load_day(booked.db, "Centro", DAY))
    view.show()
    delegate = view.itemDelegate()
    assert isinstance(delegate, DayGridDelegate)
    return view, model, delegate


def _shot(view: DayGridView) -> QImage:
    """One paint of the cells, as an image (``grab`` paints the viewport once)."""
    return view.viewport().grab().toImage()


def test_the_cache_drops_the_least_recently_used_beyond_its_budget(qapp) -> None:
    cell = 10 * 10 * 4
    cache = CellCache(budget_bytes=2 * cell)
    a, b, c = QPixmap(10, 10), QPixmap(10, 10), QPixmap(10, 10)
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # "a" is now the most recently used
    cache.put("c", c)
    assert len(cache) == 2
    assert cache.get("b") is None and cache.get("a") is a and cache.get("c") is c
    cache.put("c", c)  # storing a key again does not count it twice
    assert len(cache) == 2
    cache.clear()
    assert len(cache) == 0 and cache.get("a") is None


def test_a_repaint_and_a_reload_of_the_same_day_render_nothing_new(qtbot, booked: Booked) -> None:
    view, model, delegate = _grid(qtbot, booked, one_column=True)
    delegate.clear_cache()
    first = _shot(view)  # every block painted directly
    assert delegate.cached_blocks() == 0
    assert _shot(view) == first  # now from pixmaps: the same pixels
    cached = delegate.cached_cells()
    assert delegate.cached_blocks() >= 1 and cached >= delegate.cached_blocks() + 2  # and open, closed cells
    model.set_day(dayview.load_day(booked.db, "Centro", DAY))  # as after another workstation's change
    assert _shot(view) == first
    assert delegate.cached_cells() == cached


def test_a_cell_painted_once_is_not_cached(qtbot, booked: Booked) -> None:
    view, _model, delegate = _grid(qtbot, booked, one_column=True)
    _shot(view)
    _shot(view)
    blocks = delegate.cached_blocks()
    assert blocks >= 1
    view.resize(1100, 700)  # every column a new width, as while the window is being resized
    _shot(view)
    assert delegate.cached_blocks() == blocks  # each block painted directly at its new width


def test_a_changed_block_is_rendered_anew(qtbot, booked: Booked) -> None:
    view, model, delegate = _grid(qtbot, booked)
    _shot(view)
    before = _shot(view)
    cached = delegate.cached_cells()
    scheduling.set_status(booked.db, booked.first.id, "checked_in", reason="test")
    model.set_day(dayview.load_day(booked.db, "Centro", DAY))
    after = _shot(view)
    assert after != before  # the 08:00 block now shows the checked-in colours
    assert _shot(view) == after
    # only that block was rendered again: its doctor's column, and its muted copies (room, equipment)
    assert delegate.cached_cells() == cached + 2
    assert delegate.cached_blocks() >= 2
