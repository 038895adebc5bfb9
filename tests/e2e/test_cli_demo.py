"""``clinic demo load`` and ``clinic report no-show`` on the demo, as real processes: the demo's past
gives the last 90 days' no-show report hundreds of appointments (issue 16 §6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from .test_cli_import_report import clinic

pytestmark = pytest.mark.slow  # runs the real programs as processes (make test-fast leaves it out)


def test_demo_load_then_the_last_90_days_no_show_report(db_url: str) -> None:
    first = clinic(db_url, "demo", "load", "--past-days", "90")
    assert first.returncode == 0, first.stderr
    assert "Demo clinic loaded:" in first.stdout and "upcoming appointments; a past of" in first.stdout
    today = datetime.now(UTC).date()
    report = clinic(db_url, "report", "no-show", "--from", (today - timedelta(days=90)).isoformat(),
                    "--to", today.isoformat())
    assert report.returncode == 0, report.stderr
    total = json.loads(report.stdout)["total"]
    assert total["appointments"] >= 300 and 0 < total["no_shows"] < total["appointments"]
    again = clinic(db_url, "demo", "load")
    assert again.returncode == 0 and again.stdout.startswith("Demo clinic up to date"), again.stderr
    bad = clinic(db_url, "demo", "load", "--past-days", "-1")
    assert bad.returncode == 2 and "past-days" in bad.stderr
