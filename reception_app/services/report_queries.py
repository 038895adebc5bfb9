"""The manager reports' former home, kept so existing imports work: everything is in
``services/reports/`` (see its ``__init__``). New code imports ``reception_app.services.reports``.

Still imported from here by ``ui/reports_window.py``, ``reports/charts.py``, ``reports/csv_export.py``,
``reports/manager_pdf.py``, ``cli.py``, ``docs/reports/render_reports.py`` and ``tests/e2e``.
"""

from __future__ import annotations

from .reports import (
    DRILL_LIMIT,
    MAX_DAYS,
    MAX_HEATMAPS,
    REPORTS,
    UTILIZATION_HORIZON_DAYS,
    Chart,
    Column,
    ReportData,
    Table,
    cancellations,
    drill_down,
    load,
    no_show,
    operations,
    refresh_utilization,
    run_report,
    utilization,
)

__all__ = ["Column", "Table", "Chart", "ReportData", "REPORTS", "run_report", "drill_down", "no_show",
           "utilization", "cancellations", "load", "operations", "MAX_DAYS", "refresh_utilization",
           "UTILIZATION_HORIZON_DAYS", "DRILL_LIMIT", "MAX_HEATMAPS"]
