"""Report charts, drawn once with reportlab.graphics and used on paper and on screen.

:func:`draw_chart` turns a :class:`~reception_app.services.report_queries.Chart` spec and its
table into a reportlab ``Drawing`` (a bar chart, a line chart for trends, or a heatmap of
rects for bookings per hour of the week). The PDF places the Drawing as a flowable; the
window renders the same Drawing to a one-page PDF (:func:`chart_pdf`) and rasterizes it with
pypdfium2 — one piece of chart code. No SQL, no Qt.

Sizes are in points (1/72 inch). Rates (column kind ``rate``) are drawn as percentages.
"""

from __future__ import annotations

from typing import Any

from reportlab.graphics import renderPDF
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors

from ..services.report_queries import Chart, Table
from .pdf_common import printable

__all__ = ["draw_chart", "chart_pdf", "SERIES_COLORS"]

#: Fill colours of the series, in order (readable in grey print too: dark, then light).
SERIES_COLORS = [colors.HexColor("#2f6690"), colors.HexColor("#d98c3f"), colors.HexColor("#6a994e")]
_TEXT = colors.HexColor("#1b1f24")
_MAX_BARS = 25


def _values(table: Table, chart: Chart) -> tuple[list[str], list[list[float]], bool]:
    kinds = {c.key: c.kind for c in table.columns}
    as_pct = all(kinds.get(v) == "rate" for v in chart.values)
    labels = [printable(str(x)) for x in table.column(chart.category)]
    series = [[float(x or 0) * (100.0 if as_pct else 1.0) for x in table.column(v)] for v in chart.values]
    return labels, series, as_pct


def draw_chart(chart: Chart, table: Table, width: float = 480, height: float = 200) -> Drawing:
    """The Drawing of ``chart`` from ``table`` (``width`` × ``height`` points), with its title on top.
    A table without rows gives a Drawing saying "No data". Bars beyond 25 categories are cut (the
    table has them all) and the title says so."""
    d = Drawing(width, height)
    title = chart.title
    if chart.kind != "heatmap" and len(table.rows) > _MAX_BARS:
        title += f" (first {_MAX_BARS} of {len(table.rows)})"
    d.add(String(0, height - 12, printable(title), fontName="Helvetica-Bold", fontSize=10, fillColor=_TEXT))
    if not table.rows:
        d.add(String(width / 2, height / 2, "No data", fontName="Helvetica", fontSize=10, textAnchor="middle"))
        return d
    if chart.kind == "heatmap":
        _heatmap(d, chart, table, width, height - 20)
        return d
    labels, series, as_pct = _values(table, chart)
    labels, series = labels[:_MAX_BARS], [s[:_MAX_BARS] for s in series]
    if len(labels) > 8:   # slanted labels: long names shortened so they stay inside the drawing
        labels = [x if len(x) <= 16 else x[:15] + "…" for x in labels]
    plot = VerticalBarChart() if chart.kind == "bar" else HorizontalLineChart()
    many = len(labels) > 8
    plot.x, plot.y = 44, 58 if many else 26
    plot.width, plot.height = width - 56, height - plot.y - 30
    plot.data = series
    plot.categoryAxis.categoryNames = labels
    plot.categoryAxis.labels.fontName = "Helvetica"
    plot.categoryAxis.labels.fontSize = 7
    if many:
        plot.categoryAxis.labels.angle = 45
        plot.categoryAxis.labels.boxAnchor = "ne"
        plot.categoryAxis.labels.dx, plot.categoryAxis.labels.dy = 2, -2
    plot.valueAxis.valueMin = 0
    top = max((max(s) for s in series if s), default=0)
    plot.valueAxis.valueMax = max(top * 1.15, 1.0)
    plot.valueAxis.labels.fontName = "Helvetica"
    plot.valueAxis.labels.fontSize = 7
    if as_pct:
        plot.valueAxis.labelTextFormat = "%.0f%%"
    if chart.kind == "bar":
        for i in range(len(series)):
            plot.bars[i].fillColor = SERIES_COLORS[i % len(SERIES_COLORS)]
            plot.bars[i].strokeColor = None
    else:
        for i in range(len(series)):
            plot.lines[i].strokeColor = SERIES_COLORS[i % len(SERIES_COLORS)]
            plot.lines[i].strokeWidth = 1.6
    d.add(plot)
    axis = chart.value_label + (" (%)" if as_pct else "")
    d.add(String(0, height - 24, printable(axis), fontName="Helvetica", fontSize=7, fillColor=_TEXT))
    if len(chart.values) > 1:
        names = {c.key: c.label for c in table.columns}
        x = width - 10
        for i, v in reversed(list(enumerate(chart.values))):
            label = printable(names.get(v, v))
            x -= 8 + 4.2 * len(label)
            d.add(Rect(x, height - 12, 7, 7, fillColor=SERIES_COLORS[i % len(SERIES_COLORS)], strokeColor=None))
            d.add(String(x + 9, height - 12, label, fontName="Helvetica", fontSize=7, fillColor=_TEXT))
    return d


def _heatmap(d: Drawing, chart: Chart, table: Table, width: float, height: float) -> None:
    labels = [printable(str(x)) for x in table.column(chart.category)]
    cols = list(chart.values)
    names = {c.key: c.label for c in table.columns}
    grid: list[list[float]] = [[float(v or 0) for v in table.column(c)] for c in cols]   # [col][row]
    peak = max((max(c) for c in grid if c), default=0) or 1.0
    left, bottom = 40, 4
    cw = (width - left - 70) / len(cols)
    ch = min(16.0, (height - 16) / max(len(labels), 1))
    top = bottom + ch * len(labels)
    for j, name in enumerate(cols):
        d.add(String(left + cw * j + cw / 2, top + 4, printable(names.get(name, name)), fontName="Helvetica-Bold",
                     fontSize=7, textAnchor="middle", fillColor=_TEXT))
    for i, label in enumerate(labels):
        y = top - ch * (i + 1)
        d.add(String(left - 4, y + ch / 2 - 2.5, label, fontName="Helvetica", fontSize=7, textAnchor="end",
                     fillColor=_TEXT))
        for j in range(len(cols)):
            v = grid[j][i]
            share = v / peak
            fill = colors.Color(1 - 0.82 * share, 1 - 0.6 * share, 1 - 0.35 * share)
            d.add(Rect(left + cw * j, y, cw - 1, ch - 1, fillColor=fill, strokeColor=None))
            if v and ch >= 8:
                d.add(String(left + cw * j + cw / 2, y + ch / 2 - 2.5, f"{v:.0f}", fontName="Helvetica",
                             fontSize=6.5, textAnchor="middle",
                             fillColor=colors.white if share > 0.55 else _TEXT))
    # legend: a scale from 0 to the peak
    lx = width - 60
    for k in range(5):
        share = k / 4
        d.add(Rect(lx, bottom + 12 * k, 10, 11, fillColor=colors.Color(1 - 0.82 * share, 1 - 0.6 * share,
                                                                          1 - 0.35 * share), strokeColor=None))
        d.add(String(lx + 14, bottom + 12 * k + 2, f"{peak * share:.0f}", fontName="Helvetica", fontSize=6.5,
                     fillColor=_TEXT))
    d.add(String(lx, bottom + 62, printable(chart.value_label), fontName="Helvetica", fontSize=7, fillColor=_TEXT))


def chart_pdf(chart: Chart, table: Table, width: float = 480, height: float = 200) -> bytes:
    """The Drawing of :func:`draw_chart` alone as a one-page PDF (for the screen: rasterize it)."""
    data: Any = renderPDF.drawToString(draw_chart(chart, table, width, height))
    return bytes(data)
