"""A manager report (``ReportData``) as a printable PDF: summary, charts, tables, definitions.

Uses the shared page template (``pdf_common``): the header names the clinic and branch, the
report and its period; the footer who printed it and when, and "Page x of y". Tables repeat
their header on every page and break only between rows; each chart is kept whole on one page.
No SQL, no Qt.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import CondPageBreak, Flowable, KeepTogether, Paragraph, Spacer

from ..services.report_queries import Column, ReportData, Table
from .charts import draw_chart
from .pdf_common import A4_PORTRAIT, MARGIN, TEXT, ReportMeta, build_pdf, cell, data_table, printable, styles

#: Tables longer than this are printed with plain one-line cells (no wrapping paragraphs): laying out a
#: paragraph per cell costs ~0.1 s a page, plain strings a tenth of that.
PLAIN_ROWS = 60

__all__ = ["report_pdf", "format_value", "period_text"]


def format_value(value: Any, kind: str) -> str:
    """A cell as printed: rates as percentages with one decimal (``0.4286`` → ``42.9%``), hours with
    one decimal, integers with thousands separators, None as an empty string."""
    if value is None:
        return ""
    if kind == "rate":
        return f"{float(value) * 100:.1f}%"
    if kind == "hours":
        return f"{float(value):,.1f}"
    if kind == "int":
        return f"{int(value):,}"
    return str(value)


def period_text(data: ReportData) -> str:
    """``"2016-04-29 to 2016-05-31"`` (local dates, inclusive), one date when from = to."""
    if data.date_from == data.date_to:
        return data.date_from.isoformat()
    return f"{data.date_from.isoformat()} to {data.date_to.isoformat()}"


def _chart_height(kind: str, table: Table) -> float:
    return 40 + 12 * len(table.rows) if kind == "heatmap" else 190


def _widths(columns: list[Column], total: float) -> list[float]:
    weights = [3.0 if c.kind in ("text", "date") else 1.3 for c in columns]
    s = sum(weights)
    return [total * w / s for w in weights]


def _plain_table(table: Table, header: list[Any], width: float, st: dict[str, ParagraphStyle]) -> Flowable:
    """A long table with one-line string cells (cut to fit their column), numbers right-aligned."""
    font, size = st["cell"].fontName, st["cell"].fontSize
    widths = _widths(table.columns, width)
    limits = [max(4, int(w / (size * 0.5))) for w in widths]
    rows = []
    for row in table.rows:
        out = []
        for v, c, limit in zip(row, table.columns, limits, strict=True):
            s = printable(format_value(v, c.kind))
            out.append(s if len(s) <= limit else s[:limit - 1] + "…")
        rows.append(out)
    style: list[tuple[Any, ...]] = [("FONTNAME", (0, 1), (-1, -1), font), ("FONTSIZE", (0, 1), (-1, -1), size),
                                    ("TEXTCOLOR", (0, 1), (-1, -1), TEXT)]
    style += [("ALIGN", (i, 1), (i, -1), "RIGHT") for i, c in enumerate(table.columns)
              if c.kind not in ("text", "date")]
    return data_table(header, rows, widths, header_style=st["head"], row_styles=style)


def report_pdf(data: ReportData, *, clinic: str, printed_by: str, printed_at: datetime, tz: tzinfo) -> bytes:
    """The PDF bytes of ``data`` on A4 portrait pages.

    ``clinic``: the clinic's name for the header; ``printed_by``: the login; ``printed_at``: an
    aware datetime shown on ``tz``'s wall clock. Raises ``ValueError`` for a naive ``printed_at``.
    """
    st = styles(8.5)
    width = A4_PORTRAIT[0] - 2 * MARGIN
    story: list[Flowable] = []
    if data.summary:
        parts = []
        for key, value in data.summary.items():
            kind = "rate" if key.endswith("rate") or key == "utilization" else (
                "hours" if key.endswith("_h") else "int")
            parts.append(f"{key.replace('_', ' ')}: {format_value(value, kind)}")
        story.append(Paragraph(printable(" · ".join(parts)), st["body"]))
        story.append(Spacer(1, 6))
    tables = {t.name: t for t in data.tables}
    for chart in data.charts:
        table = tables[chart.table]
        h = _chart_height(chart.kind, table)
        story.append(KeepTogether([draw_chart(chart, table, width, h), Spacer(1, 10)]))
    printed = [tables[n] for n in data.pdf_tables] if data.pdf_tables is not None else data.tables
    for table in printed:
        story.append(CondPageBreak(60))
        story.append(Paragraph(printable(table.title), st["heading"]))
        header = [cell(c.label, st["head_right"] if c.kind not in ("text", "date") else st["head"])
                  for c in table.columns]
        if not table.rows:
            story.append(Paragraph("No appointments in this period.", st["note"]))
        elif len(table.rows) > PLAIN_ROWS:
            story.append(_plain_table(table, header, width, st))
        else:
            rows = [[cell(format_value(v, c.kind), st["cell_right"] if c.kind not in ("text", "date") else st["cell"])
                     for v, c in zip(row, table.columns, strict=True)] for row in table.rows]
            story.append(data_table(header, rows, _widths(table.columns, width), header_style=st["head"]))
        story.append(Spacer(1, 8))
    left_out = [t.title for t in data.tables if t not in printed]
    if left_out:
        story.append(Paragraph(printable("Not printed (in the CSV export and on screen): " + "; ".join(left_out)
                                         + "."), st["note"]))
    story.append(CondPageBreak(80))
    story.append(Paragraph("Definitions", st["heading"]))
    for sentence in data.definitions:
        story.append(Paragraph(printable(sentence), st["note"]))
        story.append(Spacer(1, 2))
    meta = ReportMeta(clinic=clinic, branch=data.branch or "All branches", title=data.title,
                      period=period_text(data), printed_by=printed_by, printed_at=printed_at, tz=tz)
    return build_pdf(story, meta)
