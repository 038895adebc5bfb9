"""What a manager report returns: plain values, no SQL, no Qt.

:class:`ReportData` (one report's tables, charts, footnotes and headline figures), :class:`Table`
(named columns and rows, each row with its drill-down key), :class:`Column` and :class:`Chart` (what
``reports/charts.py`` draws from a table). The PDF and CSV writers (``reports/``) and the reports
window (``ui/reports_window.py``) read these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

__all__ = ["Column", "Table", "Chart", "ReportData"]


@dataclass(frozen=True)
class Column:
    """One column of a report table. ``kind``: ``text``, ``int``, ``rate`` (a fraction 0..1, printed as a
    percentage), ``hours`` (a float, hours) or ``date`` (ISO text)."""

    key: str
    label: str
    kind: str = "text"


@dataclass
class Table:
    """A named table: ``columns`` and ``rows`` (tuples of plain values, one per column), with for each
    row a drill-down key (a dict of filters for :func:`drill_down`, or None) in ``drill``."""

    name: str
    title: str
    columns: list[Column]
    rows: list[tuple[Any, ...]]
    drill: Sequence[dict[str, Any] | None] = field(default_factory=list)

    def column(self, key: str) -> list[Any]:
        """The values of column ``key`` (``ValueError`` when there is no such column)."""
        i = [c.key for c in self.columns].index(key)
        return [r[i] for r in self.rows]


@dataclass(frozen=True)
class Chart:
    """What to draw from a table (``reports/charts.py`` draws it): ``kind`` ``bar``, ``line`` or
    ``heatmap``; ``table``: the table's name; ``category``: the column of the x axis (heatmap: rows);
    ``values``: the value columns (heatmap: the cell columns); ``title``; ``value_label``: the y axis."""

    kind: str
    table: str
    category: str
    values: tuple[str, ...]
    title: str
    value_label: str = ""


@dataclass
class ReportData:
    """One report's figures: ``name`` (``no-show`` …), ``title``, the period (local dates, inclusive),
    the branch name or None for all, ``tables``, ``charts``, the definition sentences printed as
    footnotes, and ``summary`` (headline figures: label → value). ``pdf_tables``: the names of the
    tables the PDF prints, in that order (None: all); the others go to the CSV and the screen only."""

    name: str
    title: str
    date_from: date
    date_to: date
    branch: str | None
    tables: list[Table]
    charts: list[Chart]
    definitions: list[str]
    summary: dict[str, Any] = field(default_factory=dict)
    pdf_tables: list[str] | None = None

    def table(self, name: str) -> Table:
        """The table called ``name`` (``KeyError`` if none)."""
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``report``, ``title``, ``from``, ``to``, ``branch``, ``summary``,
        ``definitions`` and ``tables`` (name → ``{"title", "columns": [keys], "rows": [[…]]}``)."""
        return {"report": self.name, "title": self.title, "from": self.date_from.isoformat(),
                "to": self.date_to.isoformat(), "branch": self.branch, "summary": self.summary,
                "definitions": self.definitions,
                "tables": {t.name: {"title": t.title, "columns": [c.key for c in t.columns],
                                    "rows": [list(r) for r in t.rows]} for t in self.tables}}
