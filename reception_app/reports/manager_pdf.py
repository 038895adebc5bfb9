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
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import CondPageBreak, Flowable, KeepTogether, PageBreak, Paragraph, Spacer
from reportlab.platypus import Table as PlatypusTable

from ..services.reports import Column, ReportData, Table
from .charts import chart_height, draw_chart
from .pdf_common import (
    A4_PORTRAIT,
    MARGIN,
    MUTED,
    TEXT,
    ReportMeta,
    build_pdf,
    cell,
    data_table,
    printable,
    styles,
)

#: Tables longer than this are printed with plain one-line cells (no wrapping paragraphs): laying out a
#: paragraph per cell costs ~0.1 s a page, plain strings a tenth of that.
PLAIN_ROWS = 60

__all__ = ["report_pdf", "format_value", "period_text", "report_is_empty", "empty_message", "NO_APPOINTMENTS"]

_FONT, _BOLD = "Helvetica", "Helvetica-Bold"


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


#: Tables up to this many rows are kept on one page with their title (moved whole to the next page
#: rather than split, e.g. the weekday table leaving Saturday and Sunday alone on the next page).
KEEP_ROWS = 25

#: A long table never leaves fewer rows than this alone on its last page.
MIN_LAST_ROWS = 4
_MIN_NUMBER = 64.0   # points: the narrowest number column when the page has room

#: What a report with nothing to show says instead of empty charts and tables (by report name).
EMPTY_REPORT = {
    "cancellations": "No cancelled or rescheduled appointments in this period.",
    "load": "No bookings in this period.",
    "utilization": "No resource was available in this period.",
    "operations": "No confirmations, follow-ups, freed slots or overrides in this period.",
}
NO_APPOINTMENTS = "No appointments in this period."
#: What an empty table says under its title in a report that has figures elsewhere.
EMPTY_TABLE = "None in this period."


def report_is_empty(data: ReportData) -> bool:
    """Whether ``data`` has nothing to show: every table without rows, or every number in them 0."""
    for table in data.tables:
        for row in table.rows:
            for v, c in zip(row, table.columns, strict=True):
                if c.kind in ("int", "hours", "rate") and v:
                    return False
    return True


def empty_message(data: ReportData) -> str:
    """The sentence an empty report prints (:data:`NO_APPOINTMENTS` unless the report counts something else)."""
    return EMPTY_REPORT.get(data.name, NO_APPOINTMENTS)


def _numeric(c: Column) -> bool:
    return c.kind not in ("text", "date")


def _widths(columns: list[Column], texts: list[list[str]], total: float, size: float) -> list[float]:
    """Column widths (points) adding up to ``total``: each column as wide as its widest cell and its
    title on one line (or, when that is too wide, the title's longest word: titles wrap between words
    only); room left over goes to the text columns; text columns give room back (their cells wrap or
    are cut) when the numbers need it."""
    pad = 2 * 3.5 + 2
    hsize = size - 0.5
    cells = [max((stringWidth(row[i], _FONT, size) for row in texts), default=0.0) + pad
             for i in range(len(columns))]
    text_cols = [i for i, c in enumerate(columns) if not _numeric(c)] or list(range(len(columns)))

    def needs(head: list[float]) -> list[float]:
        return [max(head[i], min(cells[i], total * 0.45) if i in text_cols else cells[i])
                for i in range(len(columns))]

    head = [stringWidth(c.label, _BOLD, hsize) + pad for c in columns]
    need = needs(head)
    if sum(need) > total:
        head = [max(stringWidth(w, _BOLD, hsize) for w in (c.label.split() or [""])) + pad for c in columns]
        need = needs(head)
    # numbers in columns of a readable width when there is room (a 3-column table is not all text column)
    wider = [max(w, _MIN_NUMBER) if i not in text_cols else w for i, w in enumerate(need)]
    if sum(wider) <= total:
        need = wider
    spare = total - sum(need)
    if spare >= 0:
        share = sum(need[i] for i in text_cols) or 1.0
        return [w + (spare * w / share if i in text_cols else 0.0) for i, w in enumerate(need)]
    # too wide: shrink the text columns down to their titles, then everything in proportion
    give = sum(need[i] - head[i] for i in text_cols)
    take = min(-spare, give)
    out = [w - (take * (w - head[i]) / give if i in text_cols and give else 0.0) for i, w in enumerate(need)]
    scale = total / sum(out)
    return [w * scale for w in out]


class _NoWidowTable(PlatypusTable):
    """A data table that does not leave fewer than :data:`MIN_LAST_ROWS` rows alone on its last page
    (it breaks a few rows earlier instead), and whose rest on the next page starts under its title
    followed by "(continued)" (``continued``: that title and its style; None: no title)."""

    continued: tuple[str, ParagraphStyle] | None = None

    def split(self, availWidth: float, availHeight: float) -> list[Any]:  # noqa: N803 - reportlab's names
        parts = super().split(availWidth, availHeight)
        if len(parts) != 2:
            return parts
        first, rest = (len(p._cellvalues) - self.repeatRows for p in parts)
        if rest < MIN_LAST_ROWS and first > 2 * MIN_LAST_ROWS:
            short = sum(self._rowHeights[self.repeatRows + first - (MIN_LAST_ROWS - rest):self.repeatRows + first])
            parts = super().split(availWidth, availHeight - short - 0.5)
            if len(parts) != 2:
                return parts
        parts[1].continued = self.continued
        # the rest starts the next page (not the room a shortened first part left free here), under its title
        head = [Paragraph(printable(f"{self.continued[0]} (continued)"), self.continued[1])] if self.continued else []
        return [parts[0], PageBreak(), *head, parts[1]]


def _no_widows(table: PlatypusTable, title: str, style: ParagraphStyle) -> PlatypusTable:
    """``table`` (from ``pdf_common.data_table``) made a :class:`_NoWidowTable` continued under ``title``."""
    table.__class__ = _NoWidowTable
    table.continued = (title, style)
    return table


def _fit_text(text: str, width: float, size: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` points (one-line cells of long tables)."""
    if stringWidth(text, _FONT, size) <= width:
        return text
    while text and stringWidth(text + "…", _FONT, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _table(table: Table, st: dict[str, ParagraphStyle], width: float) -> Flowable:
    """``table`` as a data table: wrapping paragraph cells, or one-line cut strings past :data:`PLAIN_ROWS`."""
    size = st["cell"].fontSize
    texts = [[printable(format_value(v, c.kind)) for v, c in zip(row, table.columns, strict=True)]
             for row in table.rows]
    widths = _widths(table.columns, texts, width, size)
    header = [cell(c.label, st["head_right"] if _numeric(c) else st["head"]) for c in table.columns]
    if len(table.rows) <= PLAIN_ROWS:
        rows = [[cell(t, st["cell_right"] if _numeric(c) else st["cell"]) for t, c in zip(row, table.columns,
                                                                                          strict=True)]
                for row in texts]
        return _no_widows(data_table(header, rows, widths, header_style=st["head"]), table.title, st["heading"])
    rows = [[_fit_text(t, w - 7, size) for t, w in zip(row, widths, strict=True)] for row in texts]
    style: list[tuple[Any, ...]] = [("FONTNAME", (0, 1), (-1, -1), _FONT), ("FONTSIZE", (0, 1), (-1, -1), size),
                                    ("TEXTCOLOR", (0, 1), (-1, -1), TEXT)]
    style += [("ALIGN", (i, 1), (i, -1), "RIGHT") for i, c in enumerate(table.columns) if _numeric(c)]
    return _no_widows(data_table(header, rows, widths, header_style=st["head"], row_styles=style), table.title,
                      st["heading"])


#: Headline figures whose label is not just the key in words.
SUMMARY_LABELS = {"no_shows": "No-shows", "rate": "No-show rate", "cancelled_or_rescheduled": "Cancelled or rescheduled",
                  "late": "Late cancellations", "lost": "Lost appointments",
                  "median_confirmation_h": "Median time to confirmation (h)", "over_rostered_h": "Over-rostered (h)",
                  "follow_up_rate": "Follow-up rate"}


def summary_items(data: ReportData) -> list[tuple[str, str]]:
    """The headline figures of ``data`` as ``(label, shown value)`` pairs, as the PDF and the reports
    window print them: ``("Utilization", "25.5%")``, ``("Available (h)", "2,385.0")``; None as "—"."""
    items = []
    for key, value in data.summary.items():
        label = SUMMARY_LABELS.get(key) or key.removesuffix("_h").replace("_", " ").capitalize() + (
            " (h)" if key.endswith("_h") else "")
        if key == "rate" and data.name != "no-show":
            label = "Rate"
        if key.endswith("rate") or key == "utilization":
            kind = "rate"
        elif key.endswith("_h"):
            kind = "hours"
        else:
            kind = "int" if isinstance(value, int) and not isinstance(value, bool) else "text"
        items.append((label, "—" if value is None else format_value(value, kind)))
    return items


def _summary(data: ReportData) -> str:
    return " · ".join(f"{label}: {shown}" for label, shown in summary_items(data))


def report_pdf(data: ReportData, *, clinic: str, printed_by: str, printed_at: datetime, tz: tzinfo) -> bytes:
    """The PDF bytes of ``data`` on A4 portrait pages.

    ``clinic``: the clinic's name for the header; ``printed_by``: the login; ``printed_at``: an
    aware datetime shown on ``tz``'s wall clock. Raises ``ValueError`` for a naive ``printed_at``.
    A report with nothing to show (:func:`report_is_empty`) prints :func:`empty_message` and its
    definitions instead of empty charts and tables.
    """
    st = styles(8.5)
    width = A4_PORTRAIT[0] - 2 * MARGIN
    story: list[Flowable] = []
    if data.summary:
        story.append(Paragraph(printable(_summary(data)), st["body"]))
        story.append(Spacer(1, 6))
    empty = report_is_empty(data)
    if empty:
        story.append(Spacer(1, 10))
        story.append(Paragraph(printable(empty_message(data)), st["heading"]))
        story.append(Spacer(1, 14))
    tables = {t.name: t for t in data.tables}
    printed = [tables[n] for n in data.pdf_tables] if data.pdf_tables is not None else data.tables
    for chart in ([] if empty else data.charts):
        table = tables[chart.table]
        h = chart_height(chart, table, width)
        story.append(KeepTogether([draw_chart(chart, table, width, h), Spacer(1, 12)]))
    for table in ([] if empty else printed):
        heading = Paragraph(printable(table.title), st["heading"])
        if not table.rows:
            story.append(KeepTogether([heading, Paragraph(EMPTY_TABLE, st["note"]), Spacer(1, 8)]))
        elif len(table.rows) <= KEEP_ROWS:
            story.append(KeepTogether([heading, _table(table, st, width), Spacer(1, 8)]))
        else:
            story.append(CondPageBreak(90))
            story.append(heading)
            story.append(_table(table, st, width))
            story.append(Spacer(1, 8))
    drawn = {c.table for c in data.charts if c.kind == "heatmap"}   # a heatmap prints its counts in the cells
    left_out = [t.title for t in data.tables if t not in printed and t.name not in drawn]
    if left_out and not empty:
        story.append(Paragraph(printable("Not printed (in the CSV export and on screen): " + "; ".join(left_out)
                                         + "."), st["note"]))
    definition = ParagraphStyle("definition", parent=st["cell"], fontSize=8, leading=10.5, textColor=MUTED,
                                spaceAfter=3)
    story.append(CondPageBreak(80))
    story.append(Paragraph("Definitions", st["heading"]))
    for sentence in data.definitions:
        story.append(Paragraph(printable(sentence), definition))
    meta = ReportMeta(clinic=clinic, branch=data.branch or "All branches", title=data.title,
                      period=period_text(data), printed_by=printed_by, printed_at=printed_at, tz=tz)
    return build_pdf(story, meta)
