"""Report charts, drawn once with reportlab.graphics and used on paper and on screen.

:func:`draw_chart` turns a :class:`~reception_app.services.reports.Chart` spec and its
table into a reportlab ``Drawing`` (a bar chart, a line chart for trends — a dot on each point, so
a trend of one point still shows it —, or a heatmap of
rects for bookings per hour of the week). The PDF places the Drawing as a flowable; the
window renders the same Drawing to a one-page PDF (:func:`chart_pdf`) and rasterizes it with
pypdfium2 — one piece of chart code. No SQL, no Qt.

Sizes are in points (1/72 inch). Rates (column kind ``rate``) are drawn as percentages, on an
axis whose ticks say "%". Every chart has its title on top, the value axis named (and the
category axis when the bars stand upright), and a legend when it has more than one series.

Bar charts: when the category names would not fit side by side under upright bars, the bars
lie down (horizontal bars, names on the left, cut with an ellipsis only past
:data:`LABEL_CHARS` characters). More than :data:`MAX_BARS` categories: the chart shows the
:data:`MAX_BARS` largest (by the first value) and its title says "top N of M"; the table keeps
every row. :func:`chart_height` is the height a chart wants at a width.

A table without rows draws "Nothing to chart in this period."; one whose charted values are
all empty (a rate with nothing to divide by) draws "No value could be worked out for this period.";
one whose values are all zero draws "Every value is 0 in this period." (no empty axes).
"""

from __future__ import annotations

import math
from typing import Any

from reportlab.graphics import renderPDF
from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth

from ..services.reports import Chart, Table
from .pdf_common import printable

__all__ = ["draw_chart", "chart_pdf", "chart_height", "chart_is_empty", "chart_title", "empty_text",
           "SERIES_COLORS", "MAX_BARS", "LABEL_CHARS", "NO_ROWS", "NO_VALUES", "ALL_ZERO"]

#: Fill colours of the series, in order (readable in grey print too: dark, then light).
SERIES_COLORS = [colors.HexColor("#2f6690"), colors.HexColor("#d98c3f"), colors.HexColor("#6a994e")]
_TEXT = colors.HexColor("#1b1f24")
_MUTED = colors.HexColor("#5a6470")
_FONT, _BOLD = "Helvetica", "Helvetica-Bold"
#: At most this many bars; beyond it the largest are drawn and the title says so.
MAX_BARS = 25
#: Category names longer than this are cut with an ellipsis.
LABEL_CHARS = 38
#: What a chart says instead of empty axes.
NO_ROWS = "Nothing to chart in this period."
NO_VALUES = "No value could be worked out for this period."
ALL_ZERO = "Every value is 0 in this period."
_TICK_SIZE = 7.0
_BAR_ROW = 13.0      # points per bar when the bars lie down
_TOP = 30.0          # title and value-axis name above the plot


def _values(table: Table, chart: Chart) -> tuple[list[str], list[list[float]], bool]:
    kinds = {c.key: c.kind for c in table.columns}
    as_pct = all(kinds.get(v) == "rate" for v in chart.values)
    labels = [printable(str(x)) for x in table.column(chart.category)]
    series = [[float(x or 0) * (100.0 if as_pct else 1.0) for x in table.column(v)] for v in chart.values]
    return labels, series, as_pct


def chart_is_empty(chart: Chart, table: Table) -> bool:
    """Whether ``chart`` has nothing to draw: ``table`` has no rows, or every charted value is 0."""
    if not table.rows:
        return True
    return not any(float(x or 0) for v in chart.values for x in table.column(v))


def empty_text(chart: Chart, table: Table) -> str:
    """What an empty chart of ``table`` says (:data:`NO_ROWS`, :data:`NO_VALUES` or :data:`ALL_ZERO`)."""
    if not table.rows:
        return NO_ROWS
    return NO_VALUES if all(x is None for v in chart.values for x in table.column(v)) else ALL_ZERO


def _short(label: str, limit: int = LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[:limit - 1].rstrip() + "…"


def _top(labels: list[str], series: list[list[float]]) -> tuple[list[str], list[list[float]]]:
    """The :data:`MAX_BARS` categories with the largest first value, largest first (all of them, in
    their order, when there are no more than that)."""
    if len(labels) <= MAX_BARS:
        return labels, series
    order = sorted(range(len(labels)), key=lambda i: -series[0][i])[:MAX_BARS]
    return [labels[i] for i in order], [[s[i] for i in order] for s in series]


def chart_title(chart: Chart, table: Table) -> str:
    """The title drawn on top: ``chart.title``, plus "(top 25 of 238 by utilization)" when bars are left out."""
    if chart.kind == "bar" and len(table.rows) > MAX_BARS:
        by = (chart.value_label or "value").lower()
        return f"{chart.title} (top {MAX_BARS} of {len(table.rows)} by {by})"
    return chart.title


def _lying(chart: Chart, labels: list[str], width: float) -> bool:
    """Whether the bars lie down: more than 12 categories, or names too wide to stand side by side."""
    if chart.kind != "bar":
        return False
    if len(labels) > 12:
        return True
    slot = (width - 56) / max(len(labels), 1)
    return max((stringWidth(x, _FONT, _TICK_SIZE) for x in labels), default=0) > slot - 4


def chart_height(chart: Chart, table: Table, width: float = 480) -> float:
    """The height (points) ``chart`` wants at ``width``: compact when empty, a row per hour for a
    heatmap, a row per bar when the bars lie down, 190 otherwise."""
    if chart_is_empty(chart, table):
        return 40.0
    if chart.kind == "heatmap":
        return 44 + 12 * len(table.rows)
    labels = [printable(str(x)) for x in table.column(chart.category)][:MAX_BARS] if chart.kind == "bar" else []
    if labels and _lying(chart, labels, width):
        return _TOP + 34 + _BAR_ROW * min(len(table.rows), MAX_BARS)
    return 190.0


def _nice_axis(top: float, as_pct: bool) -> tuple[float, float]:
    """The end and the step of a value axis a little above ``top``: the step 1, 2, 2.5 or 5 times a power
    of ten (about five steps), the end a whole number of steps (100% for rates just under it)."""
    if top <= 0:
        return (5.0, 1.0) if as_pct else (1.0, 0.2)
    target = top * 1.04
    raw = target / 5
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    end = math.ceil(target / step) * step
    if as_pct and 90 <= top <= 100:
        end, step = 100.0, 20.0
    return end, step


def draw_chart(chart: Chart, table: Table, width: float = 480, height: float = 200) -> Drawing:
    """The Drawing of ``chart`` from ``table`` (``width`` × ``height`` points), with its title on top.

    An empty chart (:func:`chart_is_empty`) says so under its title instead of drawing axes. Bars
    beyond :data:`MAX_BARS` are left out (the largest are kept; the table has them all) and the title
    says so; long or many category names make the bars lie down."""
    d = Drawing(width, height)
    d.add(String(0, height - 12, printable(chart_title(chart, table)), fontName=_BOLD, fontSize=10, fillColor=_TEXT))
    if chart_is_empty(chart, table):
        d.add(String(0, height - 28, empty_text(chart, table), fontName=_FONT, fontSize=9, fillColor=_MUTED))
        return d
    if chart.kind == "heatmap":
        _heatmap(d, chart, table, width, height - 20)
        return d
    labels, series, as_pct = _values(table, chart)
    if chart.kind == "bar":
        labels, series = _top(labels, series)
    lying = _lying(chart, labels, width)
    names = {c.key: c.label for c in table.columns}
    top, step = _nice_axis(max((max(s) for s in series if s), default=0), as_pct)
    axis_name = printable(chart.value_label + (" (%)" if as_pct else ""))
    if lying:
        plot = _horizontal(d, labels, series, width, height)
        d.add(String(plot.x + plot.width / 2, 2, axis_name, fontName=_FONT, fontSize=7.5, textAnchor="middle",
                     fillColor=_TEXT))
    else:
        plot = VerticalBarChart() if chart.kind == "bar" else HorizontalLineChart()
        plot.x, plot.y = 44, 34
        plot.width, plot.height = width - 56, height - plot.y - _TOP
        plot.categoryAxis.categoryNames = [_short(x) for x in labels]
        plot.categoryAxis.labels.fontName = _FONT
        plot.categoryAxis.labels.fontSize = _TICK_SIZE
        d.add(String(plot.x + plot.width / 2, 4, printable(names.get(chart.category, "")), fontName=_FONT,
                     fontSize=7.5, textAnchor="middle", fillColor=_TEXT))
        d.add(String(0, height - 24, axis_name, fontName=_FONT, fontSize=7.5, fillColor=_TEXT))
    plot.data = series
    plot.valueAxis.valueMin = 0
    plot.valueAxis.valueMax = top
    plot.valueAxis.valueStep = step
    plot.valueAxis.labels.fontName = _FONT
    plot.valueAxis.labels.fontSize = _TICK_SIZE
    plot.valueAxis.labelTextFormat = _tick_format(top, step, as_pct)
    plot.valueAxis.visibleGrid = True
    plot.valueAxis.gridStrokeColor = colors.HexColor("#e3e7eb")
    plot.valueAxis.gridStrokeWidth = 0.4
    if chart.kind == "bar":
        for i in range(len(series)):
            plot.bars[i].fillColor = SERIES_COLORS[i % len(SERIES_COLORS)]
            plot.bars[i].strokeColor = None
    else:
        for i in range(len(series)):
            plot.lines[i].strokeColor = SERIES_COLORS[i % len(SERIES_COLORS)]
            plot.lines[i].strokeWidth = 1.6
            # A dot on every point: a period with one week (one point) still shows its value.
            plot.lines[i].symbol = makeMarker("FilledCircle", size=5 if len(labels) > 1 else 7,
                                              fillColor=SERIES_COLORS[i % len(SERIES_COLORS)], strokeColor=None)
    d.add(plot)
    if len(chart.values) > 1:
        x = width - 2
        for i, v in reversed(list(enumerate(chart.values))):
            label = printable(names.get(v, v))
            x -= 12 + stringWidth(label, _FONT, 7.5)
            d.add(Rect(x, height - 12, 8, 8, fillColor=SERIES_COLORS[i % len(SERIES_COLORS)], strokeColor=None))
            d.add(String(x + 10, height - 11, label, fontName=_FONT, fontSize=7.5, fillColor=_TEXT))
            x -= 6
    return d


def _tick_format(top: float, step: float, as_pct: bool) -> Any:
    digits = 0 if step == int(step) else (1 if step * 10 == int(step * 10) else 2)
    if as_pct:
        return f"%.{digits}f%%"
    if top >= 10_000:
        return lambda v: f"{v:,.0f}"
    return f"%.{digits}f"


def _horizontal(d: Drawing, labels: list[str], series: list[list[float]], width: float,
                height: float) -> HorizontalBarChart:
    """Bars lying down, the first category on top, names on the left (as wide as the longest needs)."""
    shown = [_short(x) for x in labels]
    size = min(_TICK_SIZE, max(5.0, (height - _TOP - 24) / max(len(shown), 1) * 0.8))
    name_w = min(width * 0.42, max(stringWidth(x, _FONT, size) for x in shown) + 6)
    plot = HorizontalBarChart()
    plot.x, plot.y = name_w + 4, 24
    plot.width, plot.height = width - plot.x - 14, height - plot.y - _TOP + 6
    # reportlab draws the first category at the bottom: reverse so the list reads top-down
    plot.categoryAxis.categoryNames = list(reversed(shown))
    series[:] = [list(reversed(s)) for s in series]
    plot.categoryAxis.labels.fontName = _FONT
    plot.categoryAxis.labels.fontSize = size
    plot.categoryAxis.labels.boxAnchor = "e"
    plot.categoryAxis.labels.dx = -3
    plot.categoryAxis.tickLeft = 0
    plot.barSpacing = 0.5
    plot.groupSpacing = 2
    return plot


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
    size = 7.5 if ch >= 11 else 6.5
    d.add(String(left - 4, top + 4, printable(names.get(chart.category, "")), fontName=_BOLD, fontSize=7,
                 textAnchor="end", fillColor=_TEXT))
    for j, name in enumerate(cols):
        d.add(String(left + cw * j + cw / 2, top + 4, printable(names.get(name, name)), fontName=_BOLD,
                     fontSize=7, textAnchor="middle", fillColor=_TEXT))
    for i, label in enumerate(labels):
        y = top - ch * (i + 1)
        d.add(String(left - 4, y + ch / 2 - 2.5, label, fontName=_FONT, fontSize=7, textAnchor="end",
                     fillColor=_TEXT))
        for j in range(len(cols)):
            v = grid[j][i]
            share = v / peak
            fill = colors.Color(1 - 0.82 * share, 1 - 0.6 * share, 1 - 0.35 * share)
            d.add(Rect(left + cw * j, y, cw - 1, ch - 1, fillColor=fill, strokeColor=None))
            if v and ch >= 8:
                d.add(String(left + cw * j + cw / 2, y + ch / 2 - size * 0.35, f"{v:,.0f}", fontName=_FONT,
                             fontSize=size, textAnchor="middle",
                             fillColor=colors.white if share > 0.5 else _TEXT))
    # legend: a scale from 0 to the peak
    lx = width - 60
    for k in range(5):
        share = k / 4
        d.add(Rect(lx, bottom + 12 * k, 10, 11, fillColor=colors.Color(1 - 0.82 * share, 1 - 0.6 * share,
                                                                          1 - 0.35 * share),
                   strokeColor=colors.HexColor("#c8ced6"), strokeWidth=0.3))
        d.add(String(lx + 14, bottom + 12 * k + 2, f"{peak * share:,.0f}", fontName=_FONT, fontSize=7,
                     fillColor=_TEXT))
    d.add(String(lx, bottom + 62, printable(chart.value_label), fontName=_FONT, fontSize=7, fillColor=_TEXT))


def chart_pdf(chart: Chart, table: Table, width: float = 480, height: float = 200) -> bytes:
    """The Drawing of :func:`draw_chart` alone as a one-page PDF (for the screen: rasterize it)."""
    data: Any = renderPDF.drawToString(draw_chart(chart, table, width, height))
    return bytes(data)
