"""``clinic report NAME --from D --to D --format pdf|csv|json -o FILE`` as real processes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from reception_app.services.importer import import_noshow_csv
from reception_app.store.database import Database
from tests.conftest import DATA
from tests.e2e.test_cli_import_report import clinic

pytestmark = pytest.mark.slow  # runs the real programs as processes (make test-fast leaves it out)


def test_every_report_every_format(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    import_noshow_csv(db, DATA / "noshow_sample.csv")
    db.dispose()
    for name in ("no-show", "utilization", "cancellations", "load", "operations"):
        for fmt in ("pdf", "csv", "json"):
            out = tmp_path / f"{name}.{fmt}"
            run = clinic(db_url, "report", name, "--from", "2016-04-29", "--to", "2016-05-31",
                         "--format", fmt, "-o", str(out))
            assert run.returncode == 0, run.stderr
            assert out.stat().st_size > 0
    data = json.loads((tmp_path / "no-show.json").read_text())
    assert data["summary"]["appointments"] == 986 and data["summary"]["no_shows"] == 221
    rows = list(csv.reader((tmp_path / "no-show.csv").open(encoding="utf-8")))
    assert ["label", "appointments", "no_shows", "rate"] in rows
    doc = pdfium.PdfDocument((tmp_path / "load.pdf").read_bytes())
    assert "Doctor load and branch demand" in doc[0].get_textpage().get_text_range()
    # the original JSON stays as it was without --format
    legacy = json.loads(clinic(db_url, "report", "no-show", "--json").stdout)
    assert legacy["total"]["appointments"] == 986


def test_bad_input_exits_2(db_url: str) -> None:
    run = clinic(db_url, "report", "load", "--from", "2016-05-10", "--to", "2016-05-01", "--format", "json")
    assert run.returncode == 2
    assert "to" in run.stderr
