"""The ``clinic`` command as a user runs it: real processes against a real database.

Every run is ``python -m reception_app --database <url> …`` with a clean
environment (no CLINIC_DATABASE_URL; HOME and XDG directories in a temporary
folder, so the log file and settings stay there). The CLI uses the real clock,
so booking dates are computed from today: a Monday a few weeks ahead, well
inside the services' 365-day horizon.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql as psql
from psycopg.conninfo import make_conninfo

from reception_app.store.migrate import head_revision

pytestmark = pytest.mark.slow  # runs the real programs as processes (make test-fast leaves it out)

ROOT = Path(__file__).resolve().parents[2]
CLINIC_TOML = ROOT / "tests" / "data" / "test_clinic.toml"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
US = "Abdominal ultrasound"
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def next_monday(weeks_ahead: int) -> date:
    """A Monday at least ``weeks_ahead`` weeks from today (Sao Paulo), outside Ana Souza's leave."""
    today = datetime.now(SAO_PAULO).date()
    d = today + timedelta(weeks=weeks_ahead)
    d += timedelta(days=(7 - d.weekday()) % 7)
    while date(2027, 3, 1) <= d <= date(2027, 3, 8):
        d += timedelta(weeks=1)
    return d


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clinic-home")


@pytest.fixture(scope="module")
def env(home: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("CLINIC_", "PG", "XDG_"))}
    e.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
             XDG_STATE_HOME=str(home / "state"), XDG_CACHE_HOME=str(home / "cache"),
             CLINIC_DATA_DIR=str(home / "clinic-data"), PYTHONWARNINGS="ignore")
    return e


def clinic_many(env: dict[str, str], database: str, commands: list[list[str]]) -> list[Run]:
    """Run independent commands concurrently (each is its own process); results in order."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda args: clinic(env, database, *args), commands))


def clinic(env: dict[str, str], database: str | None, *args: str, stdin: str | None = None) -> Run:
    cmd = [sys.executable, "-m", "reception_app"] + (["--database", database] if database else []) + list(args)
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, input=stdin, timeout=120)
    assert "Traceback" not in p.stderr, p.stderr
    return Run(p.returncode, p.stdout, p.stderr)


def assert_one_line_error(run: Run, code: int, *words: str) -> None:
    assert run.code == code, (run.code, run.out, run.err)
    assert len(run.err_lines) == 1, run.err
    assert run.err_lines[0].startswith("clinic: ")
    for w in words:
        assert w in run.err_lines[0], run.err


def _create_db(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(psql.SQL("CREATE DATABASE {}").format(psql.Identifier(name)))
    return make_conninfo(admin_url, dbname=name)


def _drop_db(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(psql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psql.Identifier(name)))


@pytest.fixture(scope="module")
def url(pg_admin_url: str, env: dict[str, str]) -> Iterator[str]:
    """An empty database brought up the way an administrator does: `db upgrade`, then `config apply`."""
    name = f"clinic_e2e_{os.getpid()}"
    _drop_db(pg_admin_url, name)
    conninfo = _create_db(pg_admin_url, name)
    up = clinic(env, conninfo, "db", "upgrade")
    assert up.code == 0, up.err
    assert up.out.strip() == f"schema at revision {head_revision()} (was empty)"
    applied = clinic(env, conninfo, "config", "apply", str(CLINIC_TOML))
    assert applied.code == 0, applied.err
    assert "branch: 2 created, 0 updated" in applied.out and "doctor: 3 created" in applied.out
    yield conninfo
    _drop_db(pg_admin_url, name)


@pytest.fixture(scope="module")
def patient_id(env, url) -> int:
    run = clinic(env, url, "patient", "add", "--name", "Carla Mendes", "--birth-date", "1985-04-12",
                 "--phone", "+55 27 99999-1234", "--json")
    assert run.code == 0, run.err
    return run.json()["id"]


# -- basics ---------------------------------------------------------------------------------
def test_help(env):
    run = clinic(env, None, "--help")
    assert run.code == 0 and run.out.startswith("usage: clinic")
    for command in ("db", "config", "user", "patient", "slots", "book", "cancel", "appointments"):
        assert command in run.out
    book_help = clinic(env, None, "book", "--help")
    assert book_help.code == 0 and "--client-id" in book_help.out


def test_upgrade_again_and_reapply_are_idempotent(env, url):
    up = clinic(env, url, "db", "upgrade")
    assert (up.code, up.out.strip()) == (0, f"schema at revision {head_revision()}")
    again = clinic(env, url, "config", "apply", str(CLINIC_TOML))
    assert again.code == 0 and "branch: 0 created, 2 updated" in again.out


def test_bad_config_file(env, url, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[branch]]\nname = "Sul"\ntimezone = "Mars/Olympus"\n')
    assert_one_line_error(clinic(env, url, "config", "apply", str(bad)), 2, "timezone", "Mars/Olympus")
    assert_one_line_error(clinic(env, url, "config", "apply", str(tmp_path / "missing.toml")), 2, "file")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[[branch]]\nname = "Sul"\ntimezone = "UTC"\ncolour = "red"\n')
    assert_one_line_error(clinic(env, url, "config", "apply", str(unknown)), 2, "colour")


# -- patients ---------------------------------------------------------------------------------
def test_patient_add_and_find(env, url):
    run = clinic(env, url, "patient", "add", "--name", "João  Conceição", "--birth-date", "1971-03-02",
                 "--phone", "+5527999995555", "--email", "Joao@Example.com", "--json")
    assert run.code == 0, run.err
    p = run.json()
    assert isinstance(p["id"], int)
    assert p == {"id": p["id"], "name": "João Conceição", "birth_date": "1971-03-02", "phone": "+5527999995555",
                 "email": "Joao@example.com", "channels": ["sms", "email"]}
    plain = clinic(env, url, "patient", "add", "--name", "Ana Paula", "--birth-date", "1990-01-01")
    assert plain.code == 0 and re.fullmatch(r"patient \d+: Ana Paula\n", plain.out)
    found = clinic(env, url, "patient", "find", "joao conceicao", "--json")
    assert found.code == 0, found.err
    assert [x["id"] for x in found.json()][:1] == [p["id"]]
    by_phone = clinic(env, url, "patient", "find", "99999-5555", "--json")
    assert p["id"] in [x["id"] for x in by_phone.json()]
    by_birth = clinic(env, url, "patient", "find", "1971-03-02")
    assert by_birth.code == 0 and "João Conceição" in by_birth.out
    none = clinic(env, url, "patient", "find", "zzzqqq")
    assert none.code == 0 and none.out.strip() == "no patient matches"


INVALID_PATIENTS = [
    (["--phone", "12345"], "phone"),
    (["--phone", "+55 27 1"], "phone"),
    (["--email", "not-an-address"], "email"),
    (["--birth-date", "1985-13-40"], "birth_date"),
    (["--birth-date", "2999-01-01"], "birth_date"),
    (["--channels", "sms"], "channels"),      # sms without a phone
    (["--name", "   "], "name"),
]


def test_patient_add_invalid_input(env, url):
    commands = []
    for args, _ in INVALID_PATIENTS:
        opts = {"--name": "Bad Input", "--birth-date": "1985-04-12", **dict(zip(args[::2], args[1::2], strict=True))}
        commands.append(["patient", "add", *[x for kv in opts.items() for x in kv], "--json"])
    for run, (_, field) in zip(clinic_many(env, url, commands), INVALID_PATIENTS, strict=True):
        assert_one_line_error(run, 2, f"{field}:")
        assert run.out == ""
    assert clinic(env, url, "patient", "find", "Bad Input", "--json").json() == []


# -- slots and booking ---------------------------------------------------------------------------
def test_slots_json(env, url):
    day = next_monday(3)
    run = clinic(env, url, "slots", "--branch", "Centro", "--service", US, "--date", day.isoformat(), "--json")
    assert run.code == 0, run.err
    slots = run.json()
    assert len(slots) == 14   # 08:00 .. 11:15 local (30 minutes + 10 minutes buffer inside 08-12)
    assert [s["start"] for s in slots] == sorted(s["start"] for s in slots)
    first_local = datetime(day.year, day.month, day.day, 8, 0, tzinfo=SAO_PAULO)
    assert slots[0]["start"] == first_local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for s in slots:
        assert set(s) == {"start", "end", "resources"}
        assert ISO_UTC.match(s["start"]) and ISO_UTC.match(s["end"])
        assert set(s["resources"]) == {"doctor", "room", "equipment"}
        assert s["resources"]["equipment"] == "Ultrasound A"
    pinned = clinic(env, url, "slots", "--branch", "Centro", "--service", US, "--date", day.isoformat(),
                    "--doctor", "Bruno Lima", "--days", "2", "--json").json()
    assert {s["resources"]["doctor"] for s in pinned} == {"Bruno Lima"} and len(pinned) == 28
    text_out = clinic(env, url, "slots", "--branch", "Centro", "--service", US, "--date", day.isoformat())
    assert text_out.code == 0 and len(text_out.out.splitlines()) == 14
    closed = clinic(env, url, "slots", "--branch", "Centro", "--service", US,
                    "--date", (day + timedelta(days=3)).isoformat())
    assert closed.code == 0 and closed.out.strip() == "no free slot"


def test_book_cancel_and_list(env, url, patient_id):
    day = next_monday(5)
    start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=SAO_PAULO)
    args = ["book", "--branch", "Centro", "--service", US, "--start", start.isoformat(),
            "--patient", str(patient_id), "--reason", "e2e", "--json"]
    run = clinic(env, url, *args)
    assert run.code == 0, run.err
    appt = run.json()
    assert {"id", "start", "end", "status", "resources"} <= set(appt)
    assert appt["status"] == "confirmed"
    assert appt["start"] == start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ISO_UTC.match(appt["end"])
    assert appt["resources"] == {"doctor": "Ana Souza", "room": "Imaging 1", "equipment": "Ultrasound A"}

    again = clinic(env, url, *args)
    assert_one_line_error(again, 3, "Ultrasound A")
    assert again.out == ""

    listed = clinic(env, url, "appointments", "--branch", "Centro", "--date", day.isoformat(), "--json")
    assert listed.code == 0 and [a["id"] for a in listed.json()] == [appt["id"]]

    cancelled = clinic(env, url, "cancel", str(appt["id"]), "--reason", "patient asked")
    assert cancelled.code == 0 and cancelled.out.strip() == f"appointment {appt['id']} cancelled"
    again = clinic(env, url, "cancel", str(appt["id"]), "--reason", "retried")  # a retry changes nothing
    assert again.code == 0 and again.out.strip() == f"appointment {appt['id']} cancelled"
    assert_one_line_error(clinic(env, url, "cancel", "999999", "--reason", "x"), 2, "appointment")
    assert_one_line_error(clinic(env, url, "cancel", str(appt["id"]), "--reason", "  "), 2, "reason")

    listed = clinic(env, url, "appointments", "--branch", "Centro", "--date", day.isoformat(), "--json").json()
    assert [(a["id"], a["status"]) for a in listed] == [(appt["id"], "cancelled")]
    rebooked = clinic(env, url, *args)
    assert rebooked.code == 0, rebooked.err
    assert rebooked.json()["id"] != appt["id"]
    text_list = clinic(env, url, "appointments", "--branch", "Centro", "--date", day.isoformat())
    assert text_list.code == 0 and "cancelled" in text_list.out and "confirmed" in text_list.out


def test_book_with_client_id_is_idempotent(env, url, patient_id):
    day = next_monday(6)
    start = datetime(day.year, day.month, day.day, 10, 0, tzinfo=SAO_PAULO).isoformat()
    cid = str(uuid.uuid4())
    args = ["book", "--branch", "Centro", "--service", US, "--start", start, "--patient", str(patient_id),
            "--client-id", cid, "--json"]
    first = clinic(env, url, *args)
    second = clinic(env, url, *args)
    assert first.code == second.code == 0, (first.err, second.err)
    # The retry returns the first booking and says so (issue 14: book() tells an existing appointment apart).
    assert "already_booked" not in first.json()
    assert second.json() == {**first.json(), "already_booked": True}
    text_retry = clinic(env, url, *args[:-1])
    assert text_retry.code == 0 and "already booked with this client id" in text_retry.out, text_retry.err
    listed = clinic(env, url, "appointments", "--branch", "Centro", "--date", day.isoformat(), "--json").json()
    assert len(listed) == 1


BOOK_ERRORS = [
    ({"--start": "OFFGRID"}, 2, ["start:", "grid"]),
    ({"--start": "NAIVE"}, 2, ["start:", "offset"]),
    ({"--start": "not a time"}, 2, ["start:"]),
    ({"--start": "2027-03-28T02:30:00+01:00", "--branch": "Berlin", "--service": "Consultation"}, 2,
     ["start:", "does not exist"]),
    ({"--branch": "Atlantis"}, 2, ["branch:", "Atlantis"]),
    ({"--service": "Brain surgery"}, 2, ["service:"]),
    ({"--doctor": "Dr. Who"}, 2, ["doctor:"]),
    ({"--patient": "999999"}, 2, ["patient:"]),
    ({"--start": "SUNDAY"}, 2, ["09:00", "opening hours"]),
    ({"--start": "PAST"}, 2, ["09:00", "is in the past"]),
    ({"--start": "FAR"}, 2, ["09:00", "horizon"]),
]


def test_book_errors(env, url, patient_id):
    day = next_monday(7)
    nine = datetime(day.year, day.month, day.day, 9, 0, tzinfo=SAO_PAULO)
    starts = {"OFFGRID": (nine + timedelta(minutes=7)).isoformat(),
              "NAIVE": nine.replace(tzinfo=None).isoformat(),
              "SUNDAY": (nine - timedelta(days=1)).isoformat(),
              "PAST": datetime(2020, 1, 6, 9, 0, tzinfo=SAO_PAULO).isoformat(),
              "FAR": (nine + timedelta(days=400)).isoformat()}
    commands = []
    for override, _, _ in BOOK_ERRORS:
        opts = {"--branch": "Centro", "--service": US, "--start": nine.isoformat(), "--patient": str(patient_id)}
        opts.update(override)
        opts["--start"] = starts.get(opts["--start"], opts["--start"])
        commands.append(["book", *[x for kv in opts.items() for x in kv], "--json"])
    for run, (override, code, words) in zip(clinic_many(env, url, commands), BOOK_ERRORS, strict=True):
        assert_one_line_error(run, code, *words)
        assert run.out == "", override
    # Nothing was booked by any of them.
    assert clinic(env, url, "appointments", "--branch", "Centro", "--date", day.isoformat(), "--json").json() == []


# -- users ------------------------------------------------------------------------------------
def test_user_add(env, url, pg_admin_url, patient_id):
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    try:
        run = clinic(env, url, "user", "add", name, "--role", "doctor", "--doctor", "Bruno Lima")
        assert run.code == 0, run.err
        assert run.out.strip() == f"login role {name} is in clinic_doctor"
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT login_role FROM resource WHERE name = 'Bruno Lima'").fetchone() == (name,)
            assert conn.execute("SELECT pg_has_role(%s, 'clinic_doctor', 'MEMBER')", (name,)).fetchone() == (True,)
        with_password = clinic(env, url, "user", "add", name, "--role", "doctor", "--password-stdin",
                               stdin="s3cret-Passw0rd\n")
        assert with_password.code == 0, with_password.err
        log_text = "".join(p.read_text() for p in Path(env["HOME"]).rglob("clinic.log*"))
        assert "s3cret-Passw0rd" not in log_text
        assert_one_line_error(clinic(env, url, "user", "add", "Bad Name!", "--role", "reception"), 2, "name:")
        assert_one_line_error(clinic(env, url, "user", "add", name + "x", "--role", "doctor", "--doctor", "Nobody"),
                              2, "doctor:")
        # As the new doctor login: may read, may not book (exit 6, permission denied).
        as_doctor = make_conninfo(url, user=name)
        assert clinic(env, as_doctor, "appointments", "--branch", "Centro", "--date", "2027-01-04").code == 0
        day = next_monday(8)
        start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=SAO_PAULO).isoformat()
        assert_one_line_error(clinic(env, as_doctor, "book", "--branch", "Centro", "--service", US, "--start",
                                     start, "--patient", str(patient_id)), 6)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE resource SET login_role = NULL WHERE login_role = %s", (name,))
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(psql.SQL("DROP ROLE IF EXISTS {}").format(psql.Identifier(name)))


# -- the database itself -----------------------------------------------------------------------
def test_schema_mismatch_and_unreachable_server(env, pg_admin_url, tmp_path):
    name = f"clinic_e2e_empty_{os.getpid()}"
    _drop_db(pg_admin_url, name)
    empty = _create_db(pg_admin_url, name)
    try:
        assert_one_line_error(clinic(env, empty, "patient", "find", "x"), 5, "clinic db upgrade")
        # Checking did not migrate anything.
        with psycopg.connect(empty) as conn:
            assert conn.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,)
    finally:
        _drop_db(pg_admin_url, name)
    gone = f"host={tmp_path} port=1 dbname=clinic"
    assert_one_line_error(clinic(env, gone, "patient", "find", "x"), 4, "Cannot reach")
    assert_one_line_error(clinic(env, gone, "db", "upgrade"), 4, "Cannot reach")


def test_environment_variable_is_used_when_no_option(env, url):
    with_env = dict(env, CLINIC_DATABASE_URL=url)
    run = clinic(with_env, None, "appointments", "--branch", "Centro", "--date", "2020-01-06", "--json")
    assert run.code == 0, run.err
    assert run.json() == []
    # An option wins over the environment.
    assert_one_line_error(clinic(with_env, "host=/nonexistent port=1", "appointments", "--branch", "Centro",
                                 "--date", "2020-01-06"), 4)


# -- move -------------------------------------------------------------------------------------
def test_move_changes_time_and_doctor_and_refuses_a_taken_slot(env, url, patient_id):
    day = next_monday(4)
    at = lambda h: datetime(day.year, day.month, day.day, h, 0, tzinfo=SAO_PAULO).isoformat()  # noqa: E731
    first = clinic(env, url, "book", "--branch", "Centro", "--service", US, "--start", at(8), "--patient",
                   str(patient_id), "--json")
    second = clinic(env, url, "book", "--branch", "Centro", "--service", US, "--start", at(10), "--patient",
                    str(patient_id), "--json")
    assert first.code == 0 and second.code == 0, (first.err, second.err)
    moved = clinic(env, url, "move", str(first.json()["id"]), "--start", at(9), "--doctor", "Bruno Lima",
                   "--reason", "patient asked", "--json")
    assert moved.code == 0, moved.err
    data = moved.json()
    assert data["id"] == first.json()["id"] and data["resources"]["doctor"] == "Bruno Lima"
    assert data["start"] == datetime.fromisoformat(at(9)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text_out = clinic(env, url, "move", str(first.json()["id"]), "--start", at(11))
    assert text_out.code == 0 and "moved from" in text_out.out and " 09:00 " in text_out.out
    assert_one_line_error(clinic(env, url, "move", str(first.json()["id"]), "--start", at(10)), 3, "Ultrasound A")
    assert_one_line_error(clinic(env, url, "move", "999999", "--start", at(9)), 2, "appointment")
