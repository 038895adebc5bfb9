"""The legend under the grid: every status, shading and marker, never broken inside an entry."""

from __future__ import annotations

from reception_app.ui import colors
from reception_app.ui.legend import legend_entries, legend_html, legend_widget


def test_the_legend_names_every_status_shading_and_marker(qtbot):
    html = legend_html()
    for _fill, _accent, label in legend_entries():
        assert label.replace(" ", "&nbsp;") in html
    for m in colors.MARKERS:
        assert m.label.replace(" ", "&nbsp;") in html
    # Entries are separated by breakable spaces only; no entry has an ordinary space inside.
    assert "No&nbsp;such&nbsp;time&nbsp;(clock&nbsp;change)" in html
    label = legend_widget()
    qtbot.addWidget(label)
    assert label.wordWrap() and label.accessibleName().startswith("Legend")
