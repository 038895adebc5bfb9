"""Layout rules of the manager report PDF and its charts (no database): top-N bars with the title saying
so, bars lying down for long names, empty charts and empty reports saying so, table headers not broken
inside words, long tables not leaving a few rows alone on their last page and
titled "(continued)" on the next pages."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pypdfium2 as pdfium
from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart

from reception_app.reports import charts
from reception_app.reports.manager_pdf import MIN_LAST_ROWS, NO_APPOINTMENTS, report_is_empty, report_pdf
from reception_app.services import reports as rq

AT = datetime(2027, 3, 8, 12, 0, tzinfo=UTC)
COLS = [rq.Column("label", "Resource"), rq.Column("kind", "Kind"), rq.Column("available_h", "Available h", "hours"),
        rq.Column("utilization", "Utilization", "rate"), rq.Column("over_rostered_h", "Over-rostered h", "hours")]


def _resources(n: int) -> rq.Table:
    rows = [(f"Jardim da Penha · Consultório {i:03d}", "room", 396.0, (i % 50) / 100, 156.0) for i in range(n)]
    return rq.Table("by_resource", "Utilization by resource", COLS, rows)


def _report(tables: list[rq.Table], chart_list: list[rq.Chart], summary: dict | None = None) -> rq.ReportData:
    return rq.ReportData("utilization", "Utilization", date(2027, 3, 1), date(2027, 3, 7), None, tables,
                         chart_list, ["A definition."], summary or {})


def _text(pdf: bytes) -> list[str]:
    doc = pdfium.PdfDocument(pdf)
    return [doc[i].get_textpage().get_text_range().replace("\r\n", "\n") for i in range(len(doc))]


def _plot(drawing):
    return next(c for c in drawing.contents if isinstance(c, VerticalBarChart | HorizontalBarChart))


def test_many_bars_show_the_top_ones_and_the_title_says_so() -> None:
    table = _resources(238)
    chart = rq.Chart("bar", "by_resource", "label", ("utilization",), "Utilization by resource", "Utilization")
    assert charts.chart_title(chart, table) == "Utilization by resource (top 25 of 238 by utilization)"
    plot = _plot(charts.draw_chart(chart, table, 480, charts.chart_height(chart, table, 480)))
    assert isinstance(plot, HorizontalBarChart)          # long names: the bars lie down
    assert len(plot.categoryAxis.categoryNames) == charts.MAX_BARS
    largest = sorted((round(r[3] * 100, 6) for r in table.rows), reverse=True)[:charts.MAX_BARS]
    assert sorted((round(v, 6) for v in plot.data[0]), reverse=True) == largest   # the largest 25, in %
    pages = _text(report_pdf(_report([table], [chart]), clinic="C", printed_by="t", printed_at=AT, tz=UTC))
    whole = "\n".join(pages)
    assert "(top 25 of 238 by utilization)" in pages[0]
    assert "Consultório 000" in whole and "Consultório 237" in whole     # the table keeps every row


def test_few_short_names_stand_upright_in_their_order() -> None:
    table = rq.Table("by_weekday", "By weekday", [rq.Column("label", "Weekday"), rq.Column("rate", "Rate", "rate")],
                     [("Monday", 0.2), ("Tuesday", 0.1), ("Wednesday", 0.3)])
    chart = rq.Chart("bar", "by_weekday", "label", ("rate",), "No-show rate by weekday", "No-show rate")
    plot = _plot(charts.draw_chart(chart, table))
    assert isinstance(plot, VerticalBarChart)
    assert plot.categoryAxis.categoryNames == ["Monday", "Tuesday", "Wednesday"]
    assert plot.valueAxis.labelTextFormat.endswith("%%")          # a percent axis
    assert charts.chart_title(chart, table) == chart.title


def test_empty_and_all_zero_charts_say_so() -> None:
    chart = rq.Chart("bar", "by_resource", "label", ("utilization",), "Utilization by resource", "Utilization")
    empty, zero = _resources(0), _resources(3)
    unmeasured = _resources(3)
    zero.rows = [(r[0], r[1], r[2], 0.0, r[4]) for r in zero.rows]
    unmeasured.rows = [(r[0], r[1], r[2], None, r[4]) for r in unmeasured.rows]     # no available time
    for table, message in ((empty, charts.NO_ROWS), (zero, charts.ALL_ZERO), (unmeasured, charts.NO_VALUES)):
        assert charts.chart_is_empty(chart, table)
        d = charts.draw_chart(chart, table, 480, charts.chart_height(chart, table))
        assert message in [getattr(s, "text", None) for s in d.contents]
        assert charts.chart_height(chart, table) < 60
    heat = rq.Table("heat", "Heat", [rq.Column("label", "Hour"), rq.Column("mon", "Mon", "int")], [])
    assert charts.chart_is_empty(rq.Chart("heatmap", "heat", "label", ("mon",), "Heat", "Bookings"), heat)


def test_a_report_without_appointments_says_so_instead_of_empty_charts() -> None:
    table = _resources(0)
    chart = rq.Chart("bar", "by_resource", "label", ("utilization",), "Utilization by resource", "Utilization")
    data = _report([table], [chart], {"appointments": 0})
    data.name = "no-show"
    assert report_is_empty(data)
    pages = _text(report_pdf(data, clinic="C", printed_by="t", printed_at=AT, tz=UTC))
    assert len(pages) == 1
    assert NO_APPOINTMENTS in pages[0] and "A definition." in pages[0]
    assert "Utilization by resource" not in pages[0] and "No data" not in pages[0]


def test_table_headers_break_between_words_only() -> None:
    pages = _text(report_pdf(_report([_resources(10)], []), clinic="C", printed_by="t", printed_at=AT, tz=UTC))
    for word in ("Utilization", "Available", "Over-rostered"):
        assert word in pages[0]


def test_long_table_leaves_no_lonely_rows_on_its_last_page() -> None:
    for n in range(60, 140, 7):
        table = _resources(n)
        pages = _text(report_pdf(_report([table], []), clinic="C", printed_by="t", printed_at=AT, tz=UTC))
        for page in pages[1:]:
            rows = page.count("Consultório")
            assert rows == 0 or rows >= MIN_LAST_ROWS, (n, rows)
            assert rows == 0 or "Utilization by resource (continued)" in page    # its title on every page
        assert sum(p.count("Consultório") for p in pages) == n
