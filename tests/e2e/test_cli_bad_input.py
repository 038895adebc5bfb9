"""Bad input to the ``clinic`` command, table-driven (issue 14, "Bad input, everywhere").

For every command and every option (and positional) that takes a value, bad
values of each kind — bytes that are not UTF-8, control characters, dates of
year 1 and year 9999, malformed dates and start times, ids out of range,
client ids that are not UUIDs, connection strings libpq cannot read, amounts
with exponents, NaN, signs, too many decimals or above the clinic's ceiling,
unknown names, unknown choices — each give exit code 2 and exactly one line
on standard error that names the option (or field) and shows the value, no
traceback, nothing on standard output, and nothing written (the rows of every
table a command could write are counted before and after).

Speed: the table (several hundred cases) runs in ONE Python process that calls
``reception_app.cli.main(argv)`` for each case — what ``python -m
reception_app`` runs — with its standard output and error captured per case.
Arguments that are not UTF-8 reach ``main`` as Python makes them from the
bytes of ``argv`` (``os.fsdecode``: lone surrogates); a second group of tests
passes real bytes to real ``python -m reception_app`` processes, so the whole
path from the operating system's ``argv`` is covered too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from reception_app.services.reports import REPORTS

from .test_cli import (  # noqa: F401 (fixtures)
    CLINIC_TOML,
    ROOT,
    SAO_PAULO,
    US,
    clinic,
    env,
    home,
    next_monday,
    patient_id,
    url,
)

pytestmark = pytest.mark.slow  # runs the real programs as processes (make test-fast leaves it out)

#: What Python makes of the argument bytes ``b"Mar\xc3a"`` (not UTF-8): a lone surrogate.
NOT_UTF8 = os.fsdecode(b"Mar\xc3a")
CONTROLS = ("Ana\tSouza", "two\nlines", "bell\x07", "del\x7f", "c1\x85", "line\u2028sep", "para\u2029sep")
#: Tables any command could write; their row counts must not change.
TABLES = ("patient", "appointment", "booking", "payment", "audit_log", "override_log", "branch", "resource",
          "service", "shift", "opening_hours", "holiday", "time_off", "clinic_setting", "waitlist_offer")

# Runs the cases it reads from stdin (a JSON list of argv lists) through cli.main, one after another.
DRIVER = r"""
import contextlib, gc, io, json, sys
from reception_app.cli import main

results = []
for argv in json.loads(sys.stdin.read()):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # main must not raise it; recorded so the test says so
            code = f"SystemExit({exc.code!r})"
    gc.collect()  # close the connections of the Database objects the case opened
    results.append([code, out.getvalue(), err.getvalue()])
sys.stdout.write(json.dumps(results))
"""


@dataclass(frozen=True)
class Case:
    """One bad invocation: ``argv`` (after ``--database URL``), the option or field the error line must
    name (``"argument --date"`` for what parsing refuses, ``"branch:"`` for what a service refuses),
    and the value it must show (its ``repr``)."""

    argv: tuple[str, ...]
    names: str
    value: str
    global_database: bool = False

    @property
    def label(self) -> str:
        return " ".join(self.argv)


def counts(conninfo: str) -> dict[str, int]:
    with psycopg.connect(conninfo) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


@pytest.fixture(scope="module")
def appointment_id(env, url, patient_id) -> int:  # noqa: F811
    day = next_monday(9)
    start = datetime(day.year, day.month, day.day, 10, 0, tzinfo=SAO_PAULO)
    run = clinic(env, url, "book", "--branch", "Centro", "--service", US, "--start", start.isoformat(),
                 "--patient", str(patient_id), "--json")
    assert run.code == 0, run.err
    return run.json()["id"]


# -- the table ---------------------------------------------------------------------------------------
#: Value kinds and their bad values: (value, what the line names — "{opt}" is the option itself,
#: or a service's field name —). Every option also gets NOT_UTF8 and CONTROLS (see ``cases``).
ARG = "argument {opt}"
BAD: dict[str, list[tuple[str, str]]] = {
    "text": [],
    "path": [],
    "name": [("Atlantis", "{field}:"), ("", "{field}:")],
    "date": [("0001-01-01", ARG), ("9999-12-31", ARG), ("1999-12-31", ARG), ("2100-01-01", ARG),
             ("2027-02-30", ARG), ("27-01-04", ARG), ("tomorrow", ARG), ("2027-01-04T08:00:00-03:00", ARG)],
    "start": [("0001-01-01T09:00:00+05:00", ARG), ("0001-01-01T00:00:00-03:00", ARG),
              ("9999-12-31T23:00:00-05:00", ARG), ("9999-12-31T23:59:59+00:00", ARG),
              ("2027-02-30T09:00:00-03:00", ARG), ("09:00", ARG), ("2027-01-04T08:00:00", ARG), ("", ARG)],
    "birth": [("0001-01-01", "birth_date:"), ("9999-12-31", "birth_date:"), ("1985-13-40", "birth_date:"),
              ("1879-12-31", "birth_date:")],
    "uuid": [("not-a-uuid", ARG), ("1234", ARG), ("", ARG), ("6ba7b810-9dad-11d1-80b4-00c04fd430c", ARG)],
    "id": [("0", ARG), ("-1", ARG), ("2147483648", ARG), ("99999999999999999999999", ARG), ("abc", ARG),
           ("1e3", ARG), ("", ARG)],
    "amount": [("1e6", ARG), ("1E+2", ARG), ("NaN", ARG), ("inf", ARG), ("Infinity", ARG), ("sNaN", ARG), ("-5", ARG),
               ("0", ARG), ("0.00", ARG), ("1.001", ARG), ("1,000.00", ARG), ("1_000", ARG), ("+5", ARG),
               ("\u0661\u0662", ARG), ("99999999999999999999", ARG), ("", ARG), (".", ARG),
               ("5000.01", "amount:"), ("1000000", "amount:")],
    "conninfo": [("not a conninfo", ARG), ("x=1", ARG), ("host=h port=abc", ARG), ("postgresql://h:99999/db", ARG),
                 ("", ARG), ("host='unterminated", ARG)],
    "days": [("0", ARG), ("367", ARG), ("-3", ARG), ("x", ARG)],
    "count": [("0", ARG), ("1001", ARG), ("x", ARG)],
    "choice": [("bogus", ARG)],
}

#: Per command: a valid invocation (placeholders {A} appointment, {P} patient, {D} a day, {S} a start)
#: and the kind of every option and positional that takes a value (positionals by argv index).
COMMANDS: dict[str, tuple[list[str], dict[str | int, str]]] = {
    "config apply": (["config", "apply", str(CLINIC_TOML)], {2: "path"}),
    "user add": (["user", "add", "badinput_login", "--role", "reception"],
                 {2: "text", "--role": "choice", "--doctor": "name"}),
    "patient add": (["patient", "add", "--name", "Bad Input", "--birth-date", "1985-04-12"],
                    {"--name": "text", "--birth-date": "birth", "--phone": "text", "--email": "text",
                     "--channels": "text"}),
    "patient find": (["patient", "find", "zzz"], {2: "text", "--limit": "count"}),
    "slots": (["slots", "--branch", "Centro", "--service", US, "--date", "{D}"],
              {"--branch": "name", "--service": "name", "--date": "date", "--days": "days", "--doctor": "name",
               "--room": "name", "--equipment": "name"}),
    "book": (["book", "--branch", "Centro", "--service", US, "--start", "{S}", "--patient", "{P}"],
             {"--branch": "name", "--service": "name", "--start": "start", "--patient": "id", "--doctor": "name",
              "--room": "name", "--equipment": "name", "--source": "choice", "--client-id": "uuid",
              "--reason": "text"}),
    "confirm": (["confirm", "{A}"], {1: "id", "--reason": "text"}),
    "reschedule": (["reschedule", "{A}", "--start", "{S}"],
                   {1: "id", "--start": "start", "--doctor": "name", "--room": "name", "--equipment": "name",
                    "--client-id": "uuid", "--reason": "text"}),
    "pay": (["pay", "{A}", "--amount", "1.00", "--method", "cash"],
            {1: "id", "--amount": "amount", "--method": "choice", "--purpose": "choice", "--reference": "text",
             "--client-id": "uuid", "--reason": "text"}),
    "move": (["move", "{A}", "--start", "{S}"],
             {1: "id", "--start": "start", "--doctor": "name", "--room": "name", "--equipment": "name",
              "--reason": "text"}),
    "cancel": (["cancel", "{A}", "--reason", "bad input"], {1: "id", "--reason": "text", "--by": "choice"}),
    "status": (["status", "{A}", "complete"], {1: "id", 2: "choice", "--reason": "text"}),
    "appointments": (["appointments", "--branch", "Centro", "--date", "{D}"], {"--branch": "name", "--date": "date"}),
    "import noshow-csv": (["import", "noshow-csv", "{CSV}"], {2: "path", "--timezone": "text"}),
    **{f"report {name}": (["report", name, "--from", "{D}", "--to", "{D}", "--format", "json"],
                          {"--from": "date", "--to": "date", "--branch": "name", "--format": "choice",
                           "-o": "path", "--clinic": "text"}) for name in REPORTS},
}
#: Positional names as argparse reports them, per command and argv index.
POSITIONALS = {("config apply", 2): "file", ("user add", 2): "name", ("patient find", 2): "text",
               ("import noshow-csv", 2): "file", ("status", 2): "step"}
#: Where a service (not the parser) names the field of an unknown name differently from the option.
FIELDS = {("user add", "--doctor"): "doctor"}
#: Name options whose empty value is not an error (an empty pin means "any").
EMPTY_OK = {"--doctor", "--room", "--equipment", "--branch"}


def _substitute(argv: list[str], key: str | int, value: str) -> list[str]:
    out = list(argv)
    if isinstance(key, int):
        out[key] = value
    elif key in out:
        out[out.index(key) + 1] = value
    else:
        out += [key, value]
    return out


def cases(fill: dict[str, str]) -> list[Case]:
    """Every (command, option, bad value) of the table, with the valid rest of the command line."""
    found: list[Case] = []
    for command, (template, kinds) in COMMANDS.items():
        base = [part.format(**fill) if "{" in part else part for part in template]
        for key, kind in kinds.items():
            opt = POSITIONALS.get((command, key), "id") if isinstance(key, int) else key
            field = FIELDS.get((command, str(key)), str(key).lstrip("-").replace("-", "_"))
            values = [(NOT_UTF8, ARG)] + [(c, ARG) for c in CONTROLS] + BAD[kind]
            for value, names in values:
                if value == "" and kind == "name" and key in EMPTY_OK:
                    continue
                if kind == "name" and command == "user add" and value == "":
                    continue  # `--doctor ""` links no doctor: not an error
                found.append(Case(tuple(_substitute(base, key, value)), names.format(opt=opt, field=field), value))
    # The global option, before any command.
    for value, _ in [(NOT_UTF8, ARG)] + [(c, ARG) for c in CONTROLS] + BAD["conninfo"]:
        found.append(Case(("--database", value, "appointments", "--branch", "Centro", "--date", fill["D"]),
                          "argument --database", value, global_database=True))
    # Unknown commands and choices of nested commands.
    for argv in (("b\udcffook",), ("bogus",), ("report", "bogus"), ("db", "bogus"), ("import", "xml", "f")):
        found.append(Case(argv, "argument", argv[-1] if argv[-1] != "f" else "xml"))
    # A slot search that runs past the last schedule date.
    found.append(Case(("slots", "--branch", "Centro", "--service", US, "--date", "2099-12-01", "--days", "60"),
                      "days:", "60"))
    return found


def run_driver(environ: dict[str, str], database: str, table: list[Case]) -> list[tuple[object, str, str]]:
    payload = [list(c.argv) if c.global_database else ["--database", database, *c.argv] for c in table]
    p = subprocess.run([sys.executable, "-c", DRIVER], env=environ, cwd=ROOT, capture_output=True, text=True,
                       input=json.dumps(payload), timeout=300)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-3000:]
    return [tuple(r) for r in json.loads(p.stdout)]


def test_every_option_refuses_bad_values_in_one_line_and_writes_nothing(env, url, patient_id,  # noqa: F811
                                                                        appointment_id, tmp_path):
    day = next_monday(9)
    start = datetime(day.year, day.month, day.day, 11, 0, tzinfo=SAO_PAULO).isoformat()
    csv = tmp_path / "noshow.csv"
    csv.write_text("PatientId,AppointmentID\n", encoding="utf-8")
    table = cases({"A": str(appointment_id), "P": str(patient_id), "D": day.isoformat(), "S": start,
                   "CSV": str(csv)})
    assert len(table) > 500
    before = counts(url)
    failures = []
    for case, (code, out, err) in zip(table, run_driver(env, url, table), strict=True):
        lines = [line for line in err.splitlines() if line.strip()]
        line = lines[0] if lines else ""
        ok = (code == 2 and len(lines) == 1 and line.startswith("clinic: ") and case.names in line
              and repr(case.value) in line and out == "" and "Traceback" not in err)
        if not ok:
            failures.append(f"{case.label!r}: exit {code}, stdout {out[:80]!r}, stderr {err[:300]!r}")
    assert not failures, f"{len(failures)} of {len(table)} cases:\n" + "\n".join(failures[:40])
    assert counts(url) == before


def test_a_ceiling_set_in_the_config_file_is_the_one_the_command_applies(env, url, appointment_id,  # noqa: F811
                                                                         tmp_path):
    ceiling = tmp_path / "ceiling.toml"
    ceiling.write_text('[clinic]\nmax_amount = "30.00"\n', encoding="utf-8")
    assert clinic(env, url, "config", "apply", str(ceiling)).code == 0
    try:
        before = counts(url)
        run = clinic(env, url, "pay", str(appointment_id), "--amount", "30.01", "--method", "cash")
        assert run.code == 2 and len(run.err_lines) == 1, run.err
        assert "amount:" in run.err and "'30.01'" in run.err and "30.00" in run.err, run.err
        assert counts(url) == before
    finally:
        ceiling.write_text('[clinic]\nmax_amount = "5000.00"\n', encoding="utf-8")
        assert clinic(env, url, "config", "apply", str(ceiling)).code == 0


# -- real bytes through real processes -------------------------------------------------------------------
def _run_bytes(environ: dict[str, str], *args: bytes | str) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable.encode(), b"-m", b"reception_app", *[a.encode() if isinstance(a, str) else a for a in args]]
    return subprocess.run(cmd, env=environ, cwd=ROOT, capture_output=True, timeout=60)


@pytest.mark.parametrize(("args", "names"), [
    ((b"patient", b"add", b"--name", b"Mar\xc3a", b"--birth-date", b"1980-01-01"), b"argument --name"),
    ((b"appointments", b"--branch", b"Cen\xfftro", b"--date", b"2027-01-04"), b"argument --branch"),
    ((b"config", b"apply", b"/tmp/\xff\xfe.toml"), b"argument file"),
    ((b"cancel", b"1", b"--reason=\xe9t\xe9"), b"argument --reason"),
    ((b"b\xffook",), b"argument COMMAND"),
])
def test_arguments_that_are_not_utf8_from_the_operating_system(env, url, args, names):  # noqa: F811
    before = counts(url)
    p = _run_bytes(env, b"--database", url.encode(), *args)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith(b"clinic: error: ") and names in lines[0]
    assert b"\\udc" in lines[0]           # the undecodable byte shown as an escape, the line itself ASCII
    lines[0].decode("ascii")
    assert b"Traceback" not in p.stderr and p.stdout == b""
    assert counts(url) == before


def test_the_example_of_the_issue_word_for_word(env):  # noqa: F811
    p = _run_bytes(env, b"patient", b"add", b"--name", b"Mar\xc3a", b"--birth-date", b"1980-01-01")
    assert p.returncode == 2
    assert p.stderr == b"clinic: error: argument --name: not valid UTF-8: 'Mar\\udcc3a'\n"


# -- a closed pipe -----------------------------------------------------------------------------------------
def test_a_closed_pipe_ends_quietly(env, url):  # noqa: F811
    """`clinic slots … --days 366 | head -1`: the reader goes away after one line; exit 141, no message."""
    day = next_monday(3)
    cmd = [sys.executable, "-m", "reception_app", "--database", url, "slots", "--branch", "Centro", "--service",
           US, "--date", day.isoformat(), "--days", "366"]
    p = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    first = p.stdout.readline()
    p.stdout.close()                       # what `head -1` does after its line
    err = p.stderr.read()
    p.stderr.close()
    code = p.wait(timeout=120)
    assert first.strip(), err
    assert (code, err) == (141, b"")


def test_a_closed_pipe_through_a_shell_pipeline(env, url):  # noqa: F811
    day = next_monday(3)
    script = (f'"{sys.executable}" -m reception_app --database "$CLINIC_URL" slots --branch Centro '
              f'--service "{US}" --date {day.isoformat()} --days 366 2>"$ERR_FILE" | head -1; '
              'echo "exit=${PIPESTATUS[0]}"')
    err_file = Path(env["HOME"]) / "pipe.err"
    p = subprocess.run(["bash", "-c", script], env=dict(env, CLINIC_URL=url, ERR_FILE=str(err_file)), cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    first, status = p.stdout.splitlines()
    assert first.startswith(day.isoformat()) and status == "exit=141", p.stdout
    assert err_file.read_text() == ""




# -- a bad config file through the command ------------------------------------------------------------------
@pytest.mark.parametrize(("content", "words"), [
    (b'[[branch]]\nname = "S\xe3o Paulo"\ntimezone = "America/Sao_Paulo"\n', ("file:", "UTF-8", "byte offset 20")),
    (b'[[branch]]\nname = "Sul\x00"\ntimezone = "UTC"\n', ("file:", "NUL", "byte offset 22")),
    (b'[[room]]\nname = "R1"\nbranch = "Centro"\nkind = "imaging"\n[[doctor]]\nname = "R1"\nspecialty = "gp"\n',
     ("room.name:", "duplicate", "'R1'")),
    (b'[[service]]\nname = "S"\nduration = 15\nbuffer_after = -10\n', ("buffer_after:", "-10")),
    (b'[clinic]\nmax_amount = "1e6"\n', ("clinic.max_amount:", "'1e6'")),
])
def test_a_bad_config_file_is_one_line_and_writes_nothing(env, url, tmp_path, content, words):  # noqa: F811
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    before = counts(url)
    run = clinic(env, url, "config", "apply", str(path))
    assert run.code == 2 and len(run.err_lines) == 1 and run.out == "", run.err
    for word in words:
        assert word in run.err_lines[0], run.err
    if words[0] == "file:":
        assert repr(str(path)) in run.err_lines[0]
    assert counts(url) == before


@pytest.mark.parametrize(("variable", "value"), [
    ("CLINIC_DATABASE_URL", "not a conninfo"),
    ("CLINIC_DATABASE_URL", "host=db1 password=s3cret port=abc"),
    ("CLINIC_DATABASE_URL", "postgresql://maria:s3cret@db1:0/clinic"),
])
def test_a_bad_connection_string_from_the_environment_names_the_variable(env, variable, value):  # noqa: F811
    run = clinic(dict(env, **{variable: value}), None, "appointments", "--branch", "Centro", "--date", "2027-01-04")
    assert run.code == 2 and len(run.err_lines) == 1 and run.out == "", run.err
    assert run.err_lines[0].startswith(f"clinic: {variable}: ")
    assert "s3cret" not in run.err                      # a password is never shown
