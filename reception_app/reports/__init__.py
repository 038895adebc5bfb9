"""Printed reports: report data → PDF (reportlab) and CSV; no SQL, no Qt (docs/architecture.md "Layers").

- ``pdf_common``: the page template every PDF shares (clinic/branch, title and
  period in the header; "Printed by … at …" and "Page x of y" in the footer;
  tables that split across pages with repeated header rows).
- ``day_sheet``: a doctor's day sheet (A4 portrait) and the branch's day list
  (A4 landscape) from a ``services.dayview.DayView``.

The UI previews and prints the bytes with ``ui.print_preview``.
"""
