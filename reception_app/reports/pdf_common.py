"""The page template every printed report shares (reportlab; no SQL, no Qt).

A report is a list of reportlab flowables (its "story") laid out on A4 pages
that all carry the same frame:

- header: clinic and branch name (left), the report's title (bold) and the
  period it covers (right), over a thin rule;
- footer: ``Printed by <login> at <YYYY-MM-DD HH:MM> <UTC offset>`` (left) and
  ``Page x of y`` (right).

:func:`build_pdf` lays the story out and returns the PDF as bytes. Tables made
with :func:`data_table` split between rows across pages and repeat their
header row on every page; their cells are :class:`Paragraph` objects made with
:func:`cell`, so long names wrap instead of running into the next column.

Fonts: the standard Helvetica family (no font files to ship). Its encoding
(WinAnsi, i.e. cp1252) covers Latin-1 accents ("João", "Conceição", "Müller");
any other character is transliterated (unidecode: "Łukasz" → "Lukasz") by
:func:`printable` so nothing prints as a blank box.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape, portrait
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate, Paragraph, Table, TableStyle
from unidecode import unidecode

from ..domain.formats import Formats

__all__ = [
    "A4_PORTRAIT", "A4_LANDSCAPE", "MARGIN", "ReportMeta", "build_pdf", "printable", "cell", "styles",
    "data_table", "TEXT", "MUTED", "RULE", "HEADER_FILL", "ZEBRA_FILL", "GAP_FILL", "format_printed_at",
]

#: Page sizes in points (1/72 inch).
A4_PORTRAIT: tuple[float, float] = portrait(A4)
A4_LANDSCAPE: tuple[float, float] = landscape(A4)
#: Page margin on every side, in points; the header and footer sit inside the top and bottom margins.
MARGIN: float = 14 * mm
_HEADER_H = 11 * mm
_FOOTER_H = 8 * mm

#: Colours of the template (dark text on white; fills light enough to print on any office printer).
TEXT = colors.HexColor("#1b1f24")
MUTED = colors.HexColor("#5a6470")
RULE = colors.HexColor("#9aa3ad")
HEADER_FILL = colors.HexColor("#e3e7eb")
ZEBRA_FILL = colors.HexColor("#f6f7f9")
GAP_FILL = colors.HexColor("#fbfbfc")

_FONT, _BOLD, _ITALIC = "Helvetica", "Helvetica-Bold", "Helvetica-Oblique"


@dataclass(frozen=True)
class ReportMeta:
    """What the page frame of a report shows.

    ``clinic``: the clinic's name ("" when unknown: the header then shows only
    the branch); ``branch``: the branch's name; ``title``: e.g. "Day sheet — Ana
    Souza"; ``period``: the covered time in words, e.g. "Monday, 4 January 2027".
    ``printed_by``: the login of whoever printed it; ``printed_at``: when, an
    *aware* datetime, shown on ``tz``'s wall clock (the branch's zone) with its
    UTC offset. ``pagesize``: :data:`A4_PORTRAIT` or :data:`A4_LANDSCAPE` (points).
    ``formats``: the branch's (``domain.formats``), for the printed-at date; ISO when ``None``.
    """

    clinic: str
    branch: str
    title: str
    period: str
    printed_by: str
    printed_at: datetime
    tz: tzinfo
    pagesize: tuple[float, float] = A4_PORTRAIT
    formats: Formats | None = None

    def __post_init__(self) -> None:
        if self.printed_at.tzinfo is None or self.printed_at.utcoffset() is None:
            raise ValueError("printed_at must be an aware datetime")


def format_printed_at(printed_at: datetime, tz: tzinfo, formats: Formats | None = None) -> str:
    """``"2027-01-04 07:55 UTC-03:00"``: the aware ``printed_at`` on ``tz``'s wall clock with its offset;
    with the branch's ``formats``, its date and time in the branch's form (``"04/01/2027 07:55 UTC-03:00"``)."""
    local = printed_at.astimezone(tz)
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    zone = "UTC" if not minutes else f"UTC{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    if formats is not None:
        return f"{formats.date_text(local.date())} {formats.time_text(local)} {zone}"
    return f"{local:%Y-%m-%d %H:%M} {zone}"


def printable(text: str) -> str:
    """``text`` with every character Helvetica (cp1252) cannot show transliterated to ASCII."""
    try:
        text.encode("cp1252")
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for ch in text:
        try:
            ch.encode("cp1252")
            out.append(ch)
        except UnicodeEncodeError:
            out.append(unidecode(ch) or "?")
    return "".join(out)


def _markup(text: str) -> str:
    """Plain text as Paragraph markup: printable, XML-escaped, line breaks kept."""
    return escape(printable(text)).replace("\n", "<br/>")


def styles(base_size: float = 9.5) -> dict[str, ParagraphStyle]:
    """Paragraph styles for table cells and text around tables, scaled from ``base_size`` (points).

    Keys: ``cell``, ``cell_bold``, ``cell_small`` (muted, smaller), ``cell_right``,
    ``head`` / ``head_right`` (table header), ``body``, ``heading``, ``note`` (muted, smaller).
    """
    leading = base_size * 1.22
    small = base_size - 1.5
    return {
        "cell": ParagraphStyle("cell", fontName=_FONT, fontSize=base_size, leading=leading, textColor=TEXT),
        "cell_bold": ParagraphStyle("cell_bold", fontName=_BOLD, fontSize=base_size, leading=leading,
                                    textColor=TEXT),
        "cell_small": ParagraphStyle("cell_small", fontName=_FONT, fontSize=small, leading=small * 1.22,
                                     textColor=MUTED),
        "cell_right": ParagraphStyle("cell_right", fontName=_FONT, fontSize=base_size, leading=leading,
                                     textColor=TEXT, alignment=TA_RIGHT),
        "head": ParagraphStyle("head", fontName=_BOLD, fontSize=base_size - 0.5, leading=leading,
                               textColor=TEXT),
        "head_right": ParagraphStyle("head_right", fontName=_BOLD, fontSize=base_size - 0.5, leading=leading,
                                     textColor=TEXT, alignment=TA_RIGHT),
        "body": ParagraphStyle("body", fontName=_FONT, fontSize=base_size + 0.5, leading=(base_size + 0.5) * 1.3,
                               textColor=TEXT),
        "heading": ParagraphStyle("heading", fontName=_BOLD, fontSize=base_size + 3, leading=(base_size + 3) * 1.25,
                                  textColor=TEXT, spaceBefore=2, spaceAfter=2),
        "note": ParagraphStyle("note", fontName=_ITALIC, fontSize=small, leading=small * 1.3, textColor=MUTED),
    }


def cell(text: str | None, style: ParagraphStyle, *, small: str | None = None,
         small_style: ParagraphStyle | None = None, inline: bool = False, strike: bool = False) -> Paragraph:
    """A table cell that wraps: plain ``text`` (escaped; ``None`` → empty) in ``style``,
    optionally followed by smaller muted text ``small`` (in ``small_style``'s font, size and
    colour) on a line of its own, or after a space when ``inline``; ``strike`` crosses ``text`` out."""
    markup = _markup(text or "")
    if strike and markup:
        markup = f"<strike>{markup}</strike>"
    if small:
        s = small_style
        face = s.fontName if s is not None else _FONT
        size = s.fontSize if s is not None else style.fontSize - 1.5
        color = (s.textColor if s is not None else MUTED).hexval()[2:]
        sep = " " if inline else "<br/>"
        markup += f'{sep}<font face="{face}" size="{size}" color="#{color}">{_markup(small)}</font>'
    return Paragraph(markup, style)


def data_table(header: Sequence[str | Paragraph], rows: Sequence[Sequence[Any]], col_widths: Sequence[float], *,
               header_style: ParagraphStyle, row_styles: Sequence[tuple[Any, ...]] = (), zebra: bool = True,
               padding: float = 3.5) -> Table:
    """A table whose header row repeats on every page it spans and which splits only between rows.

    ``header``: column titles (plain text in ``header_style``, or ready paragraphs); ``rows``: cells, usually :func:`cell`
    paragraphs; ``col_widths`` in points (their sum is the table's width);
    ``row_styles``: extra ``TableStyle`` commands (row indices count the header
    as row 0). ``zebra`` shades every other data row.
    """
    data = [[h if isinstance(h, Paragraph) else cell(h, header_style) for h in header], *[list(r) for r in rows]]
    table = Table(data, colWidths=list(col_widths), repeatRows=1, splitByRow=1, hAlign="LEFT")
    commands: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, RULE),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
        ("LEFTPADDING", (0, 0), (-1, -1), padding),
        ("RIGHTPADDING", (0, 0), (-1, -1), padding),
        ("TOPPADDING", (0, 0), (-1, -1), padding * 0.7),
        ("BOTTOMPADDING", (0, 0), (-1, -1), padding * 0.9),
    ]
    if zebra:
        commands += [("BACKGROUND", (0, i), (-1, i), ZEBRA_FILL) for i in range(2, len(data), 2)]
    commands += list(row_styles)
    table.setStyle(TableStyle(commands))
    return table


class _NumberedCanvas(Canvas):
    """A canvas that holds its pages back until the end, so each can say "Page x of y"."""

    def __init__(self, *args: Any, meta: ReportMeta, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._meta = meta
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            _draw_frame(self, self._meta, self.getPageNumber(), total)
            super().showPage()
        super().save()


def _draw_frame(c: Canvas, meta: ReportMeta, page: int, total: int) -> None:
    """Header and footer of one page."""
    width, height = meta.pagesize
    c.saveState()
    top = height - MARGIN
    c.setFillColor(TEXT)
    place = " · ".join(printable(p) for p in (meta.clinic, meta.branch) if p)
    c.setFont(_FONT, 9)
    c.drawString(MARGIN, top - 9, place)
    c.setFont(_BOLD, 12)
    c.drawString(MARGIN, top - 9 - 14, _fit(c, printable(meta.title), _BOLD, 12, width * 0.62))
    c.setFont(_BOLD, 10)
    c.drawRightString(width - MARGIN, top - 9, printable(meta.period))
    c.setStrokeColor(RULE)
    c.setLineWidth(0.8)
    c.line(MARGIN, top - _HEADER_H - 6, width - MARGIN, top - _HEADER_H - 6)

    bottom = MARGIN - 2
    c.setLineWidth(0.4)
    c.line(MARGIN, bottom + 10, width - MARGIN, bottom + 10)
    c.setFillColor(MUTED)
    c.setFont(_FONT, 8)
    c.drawString(MARGIN, bottom,
                 f"Printed by {printable(meta.printed_by)} at {format_printed_at(meta.printed_at, meta.tz, meta.formats)}")
    c.setFillColor(TEXT)
    c.setFont(_BOLD, 9)
    c.drawRightString(width - MARGIN, bottom, f"Page {page} of {total}")
    c.restoreState()


def _fit(c: Canvas, text: str, font: str, size: float, width: float) -> str:
    """``text`` shortened with an ellipsis until it fits ``width`` points (header lines do not wrap)."""
    if c.stringWidth(text, font, size) <= width:
        return text
    while text and c.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def build_pdf(story: Sequence[Flowable], meta: ReportMeta) -> bytes:
    """Lay ``story`` out on pages of ``meta.pagesize`` with the shared header and footer; the PDF's bytes.

    The PDF's title and author metadata are ``meta.title`` and ``meta.printed_by``.
    An empty story still gives one page (header and footer only).
    """
    width, height = meta.pagesize
    out = io.BytesIO()
    doc = BaseDocTemplate(out, pagesize=meta.pagesize, leftMargin=MARGIN, rightMargin=MARGIN,
                          topMargin=MARGIN + _HEADER_H + 10, bottomMargin=MARGIN + _FOOTER_H,
                          title=printable(meta.title), author=printable(meta.printed_by),
                          creator="Clinic Reception", subject=printable(meta.period))
    frame = Frame(doc.leftMargin, doc.bottomMargin, width - 2 * MARGIN,
                  height - doc.topMargin - doc.bottomMargin, leftPadding=0, rightPadding=0,
                  topPadding=0, bottomPadding=0, id="body")
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    flowables = list(story) or [Paragraph("", styles()["body"])]

    def canvasmaker(*args: Any, **kwargs: Any) -> _NumberedCanvas:
        return _NumberedCanvas(*args, meta=meta, **kwargs)

    doc.build(flowables, canvasmaker=canvasmaker)
    return out.getvalue()
