"""The reports' .sql files (services/reports/*.sql) and their loader, without a database."""

from __future__ import annotations

from importlib.resources import files

import pytest

from reception_app.domain.report_definitions import AGE_BOUNDS, LEAD_BOUNDS, LEAD_TIME_BANDS
from reception_app.services.reports import drill, sql

SQL_FILES = sorted(p.name.removesuffix(".sql") for p in files("reception_app.services.reports").iterdir()
                   if p.name.endswith(".sql"))


def test_every_statement_expands_without_leftover_includes_or_comments() -> None:
    assert {"definitions", "no_show", "load", "cancellations", "operations", "utilization", "drill_down"} <= set(SQL_FILES)
    for file in SQL_FILES:
        for name in sql.statements(file):
            text = sql.statement(file, name)
            assert text.strip(), (file, name)
            assert "/*@" not in text, (file, name)
            assert "--" not in text, (file, name)   # comments are stripped (a ':word' in one would be a bind)


def test_reports_read_the_shared_definitions() -> None:
    outcome = sql.statement("definitions", "outcome_known")
    occupied = sql.statement("definitions", "occupied")
    assert outcome == "a.status IN ('completed', 'no_show')"
    assert occupied == "a.status NOT IN ('cancelled', 'rescheduled')"
    for file, name in [("no_show", "report"), ("load", "report"), ("cancellations", "report"),
                       ("operations", "confirmation"), ("operations", "follow_up")]:
        assert sql.statement("definitions", "period") in sql.statement(file, name), (file, name)
    assert outcome in sql.statement("no_show", "report") and outcome in sql.statement("no_show", "summary")
    assert occupied in sql.statement("load", "report")
    assert sql.statement("drill_down", "filter_outcome") == outcome
    assert sql.statement("drill_down", "filter_live") == occupied


def test_comment_stripping_keeps_string_literals() -> None:
    assert sql._strip_comments("SELECT '--x' AS a -- a :comment") == "SELECT '--x' AS a"
    assert sql._strip_comments("-- only a comment") == ""


def test_unknown_file_or_statement_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        sql.statement("no_such_report", "x")
    with pytest.raises(KeyError):
        sql.statement("no_show", "no_such_statement")


def test_buckets_fit_the_packed_labels() -> None:
    # no_show.sql packs lead band (0..len(LEAD_BOUNDS)) and age band (0..len(AGE_BOUNDS)) in 3 bits each,
    # 7 standing for NULL
    assert len(LEAD_BOUNDS) + 1 == len(LEAD_TIME_BANDS) <= 7
    assert len(AGE_BOUNDS) + 1 <= 7


def test_drill_filters_are_the_sql_files_filters() -> None:
    assert {"outcome", "live", "weekday", "age_band", "cancel_week", "appointment_id"} <= drill.FILTERS
    assert len(drill.FILTERS) == 27
