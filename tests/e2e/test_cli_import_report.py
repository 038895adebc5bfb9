"""``clinic import noshow-csv`` and ``clinic report no-show`` as real processes.

Each command runs as ``python -m reception_app --database <url> …`` against a
fresh migrated database (fixture ``db_url``); exit codes, stdout JSON and
stderr messages are what a script calling the CLI would rely on.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from reception_app.services.reports import rate
from reception_app.services.users import add_user
from reception_app.store.database import Database
from tests.conftest import DATA

pytestmark = pytest.mark.slow  # runs the real programs as processes (make test-fast leaves it out)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = DATA / "noshow_sample.csv"


def clinic(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("CLINIC_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "reception_app", "--database", db_url, *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


def test_import_then_report(db_url: str) -> None:
    first = clinic(db_url, "import", "noshow-csv", str(SAMPLE), "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert {k: result[k] for k in ("read", "imported", "already_present", "rejected")} == {
        "read": 994, "imported": 986, "already_present": 0, "rejected": 8}
    # line 57's PatientId 93779.52927 is an opaque id like any other: imported
    assert [p["line"] for p in result["problems"]] == [988, 989, 990, 991, 992, 993, 995, 997]
    assert "line 57" not in first.stderr
    assert "line 997: AppointmentID 5549661 already appears on line 2" in first.stderr

    second = clinic(db_url, "import", "noshow-csv", str(SAMPLE))
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "994 rows read, 0 imported, 986 already present, 8 rejected"

    report = clinic(db_url, "report", "no-show", "--from", "2016-05-09", "--to", "2016-05-10", "--json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert set(data) == {"total", "by"}
    assert set(data["by"]) == {"weekday", "lead_time", "sms_reminder", "age", "branch"}
    # the real 2016-05-09 and -10 records of the sample (the hand-made bad ones have ids 9000001…),
    # counting the duplicate of line 2 (a 2016-05-10 record) once
    with SAMPLE.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("No_show") in ("Yes", "No")
                and r["AppointmentDay"] in ("2016-05-09", "2016-05-10")
                and not r["AppointmentID"].startswith("9000")]
    unique = {r["AppointmentID"]: r for r in rows}
    assert len(unique) == 776
    no_shows = sum(r["No_show"] == "Yes" for r in unique.values())
    assert data["total"]["appointments"] == 776
    assert data["total"]["no_shows"] == no_shows
    assert data["total"]["rate"] == rate(no_shows, 776)
    weekday = data["by"]["weekday"]
    assert list(weekday) == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    assert weekday["Monday"]["appointments"] == 423 and weekday["Tuesday"]["appointments"] == 353
    assert sum(c["appointments"] for c in data["by"]["branch"].values()) == 776

    branch = clinic(db_url, "report", "no-show", "--branch", "Resistência", "--json")
    assert branch.returncode == 0, branch.stderr
    assert list(json.loads(branch.stdout)["by"]["branch"]) == ["Resistência"]


def test_cli_errors(db_url: str, tmp_path: Path) -> None:
    bad_date = clinic(db_url, "report", "no-show", "--from", "2016-02-30", "--json")
    assert bad_date.returncode == 2
    assert "from" in bad_date.stderr and not bad_date.stdout
    reversed_range = clinic(db_url, "report", "no-show", "--from", "2016-05-10", "--to", "2016-05-09")
    assert reversed_range.returncode == 2 and "to:" in reversed_range.stderr
    bad_zone = clinic(db_url, "import", "noshow-csv", str(SAMPLE), "--timezone", "Nowhere/City")
    assert bad_zone.returncode == 2 and "timezone" in bad_zone.stderr
    missing = clinic(db_url, "import", "noshow-csv", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    empty_report = clinic(db_url, "report", "no-show", "--json")
    assert empty_report.returncode == 0
    assert json.loads(empty_report.stdout)["total"] == {"appointments": 0, "no_shows": 0, "rate": 0.0}


@pytest.fixture
def admin_url(db_url: str) -> Iterator[str]:
    """``db_url`` as a new login in clinic_admin (``clinic user add``'s service), dropped afterwards."""
    name = f"t_import_admin_{uuid.uuid4().hex[:8]}"
    owner = Database(db_url, pool=False)
    add_user(owner, name, "admin")
    owner.dispose()
    yield make_conninfo(db_url, user=name)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_an_admin_login_runs_the_import(admin_url: str) -> None:
    """As the README says, an admin runs imports: exit 0 (it was 70: COPY refused under row-level
    security), and the report counts every imported row."""
    run = clinic(admin_url, "import", "noshow-csv", str(SAMPLE), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["imported"] == 986
    report = clinic(admin_url, "report", "no-show", "--from", "2016-04-29", "--to", "2016-05-31", "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["total"]["appointments"] == 986
