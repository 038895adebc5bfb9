"""Report tables as CSV (RFC 4180, UTF-8, comma-separated, a header row). No SQL, no Qt.

Values are written raw (rates as fractions ``0.4286``, hours as ``12.5``) so a spreadsheet
can compute with them; the header row uses the column keys. :func:`report_csv` writes every
table of a report into one file, each preceded by a ``# <table name>: <title>`` line and
followed by an empty line, then the definitions as ``#`` lines.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ..services.reports import ReportData, Table

__all__ = ["table_csv", "report_csv"]


def _write(w: Any, table: Table) -> None:
    w.writerow([c.key for c in table.columns])
    for row in table.rows:
        w.writerow(["" if v is None else v for v in row])


def table_csv(table: Table) -> str:
    """One table as CSV text: the header (column keys), then one line per row."""
    out = io.StringIO()
    _write(csv.writer(out, lineterminator="\r\n"), table)
    return out.getvalue()


def report_csv(data: ReportData) -> str:
    """Every table of ``data`` as CSV text (see the module), then its definitions."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([f"# {data.title}", data.date_from.isoformat(), data.date_to.isoformat(), data.branch or "all"])
    for table in data.tables:
        w.writerow([f"# {table.name}: {table.title}"])
        _write(w, table)
        w.writerow([])
    for sentence in data.definitions:
        w.writerow([f"# {sentence}"])
    return out.getvalue()
