"""Shared fixtures of the report tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from reception_app.services import reports as rq
from reception_app.store.database import Database


@pytest.fixture
def summary_agrees(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Every ``rq.utilization`` call of the test runs twice: as the database stands (live, or partly from
    a summary an earlier call refreshed and changes since made stale), then again after
    ``refresh_utilization`` (from the summary); both must give the same report, which is returned. Yields
    the refreshes' results."""
    report = rq.utilization
    refreshes: list[dict[str, Any]] = []

    def both(db: Database, **kwargs: Any) -> rq.ReportData:
        before = report(db, **kwargs)
        refreshes.append(rq.refresh_utilization(db, today=date(2027, 3, 1)))
        after = report(db, **kwargs)
        assert after.to_json() == before.to_json()
        assert [t.drill for t in after.tables] == [t.drill for t in before.tables]
        return after

    monkeypatch.setattr(rq, "utilization", both)
    yield refreshes
    assert not any(r["skipped"] for r in refreshes)
