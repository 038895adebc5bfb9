"""The demo clinic's past (services/demo_past.py via services/demo.load_demo): real rows that pass the
database's rules, with the patterns of the real data set, counted by the reports as they are."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from reception_app.services import dayview
from reception_app.services.demo import load_demo
from reception_app.services.reports import no_show, no_show_report

# A Wednesday, 10:00 in São Paulo: the demo's "today".
NOW = datetime(2026, 12, 9, 13, 0, tzinfo=UTC)
TODAY = date(2026, 12, 9)


def test_smoke_timing(db) -> None:
    t0 = time.perf_counter()
    line = load_demo(db, now=NOW)
    print(line, time.perf_counter() - t0)
    assert "past" in line
