"""The no-show CSV importer against a real PostgreSQL (services/importer.py).

The sample (tests/data/noshow_sample.csv, described in tests/data/README.md)
has 986 real records (line 57's PatientId is ``93779.52927``, as the source
writes a few) and 8 rejects at known lines; expectations below are computed
from the CSV itself wherever possible, not copied from the importer.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from psycopg import sql
from sqlalchemy import text

from reception_app.domain.errors import PermissionDenied, ValidationError
from reception_app.services.importer import (
    CLOSE_MIN,
    OPEN_MIN,
    SERVICE_NAME,
    branch_name,
    import_noshow_csv,
    patient_key,
    pseudonym,
)
from reception_app.store.database import Database
from tests.conftest import DATA, _admin, url_for

SAMPLE = DATA / "noshow_sample.csv"
SP = ZoneInfo("America/Sao_Paulo")

EXPECTED_PROBLEMS = {
    988: "has 5 fields, expected 14",
    989: "ScheduledDay '2016-13-45 10:00:00'",
    990: "AppointmentDay '09/05/2016'",
    991: "No_show 'Maybe' is not Yes or No",
    992: "Gender is empty",
    993: "Age '-1.0' is negative",
    995: "No_show 'No\\nYes' is not Yes or No",
    997: "AppointmentID 5549661 already appears on line 2",
}


def good_rows(path: Path = SAMPLE) -> list[dict[str, str]]:
    """The records of ``path`` the importer must accept (those not in EXPECTED_PROBLEMS)."""
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        line = 2
        for rec in reader:
            start, line = line, reader.line_num + 1
            if start not in EXPECTED_PROBLEMS and rec.get("No_show") in ("Yes", "No"):
                out.append(rec)
    return out


GOOD = good_rows()


def ref_of(patient_id: str) -> str:
    """The patient's source_ref as the module docstring states the rule: PatientId as written,
    a float-text whole number (digits, then ``.0``) without its ``.0``."""
    whole = re.fullmatch(r"([0-9]+)\.0", patient_id)
    return f"vitoria:{whole[1] if whole else patient_id}"


def counts(db: Database) -> dict[str, int]:
    tables = ("appointment", "booking", "patient", "reminder", "branch", "resource", "shift", "opening_hours",
              "service", "audit_log")
    return db.read(lambda c: {tb: c.execute(text(f"SELECT count(*) FROM {tb}")).scalar_one()
                              for tb in tables})


@pytest.fixture
def other_db(pg_admin_url: str, template_db: str) -> Iterator[Database]:
    """A second fresh database (same template as ``db``), to compare two imports."""
    name = f"clinic_import_other_{uuid.uuid4().hex[:12]}"
    _admin(pg_admin_url, sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                         sql.Identifier(template_db)))
    database = Database(url_for(pg_admin_url, name))
    yield database
    database.dispose()
    _admin(pg_admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def imported(db: Database) -> Database:
    result = import_noshow_csv(db, SAMPLE)
    assert result.imported == len(GOOD)
    return db


# -- counts, problems, idempotence ------------------------------------------------------
def test_counts_and_problems(db: Database) -> None:
    result = import_noshow_csv(db, SAMPLE)
    assert len(GOOD) == 986
    assert (result.read, result.imported, result.already_present, result.rejected) == (994, 986, 0, 8)
    assert [line for line, _ in result.problems] == sorted(EXPECTED_PROBLEMS)
    for line, reason in result.problems:
        assert EXPECTED_PROBLEMS[line] in reason, (line, reason)
    assert result.summary() == "994 rows read, 986 imported, 0 already present, 8 rejected"
    js = result.to_json()
    assert js["problems"][0] == {"line": 988, "reason": result.problems[0][1]}
    patients = len({ref_of(rec["PatientId"]) for rec in GOOD})
    assert patients == 881  # 880 + line 57's 93779.52927
    assert js["created"] == {"branches": 8, "doctors": result.created["doctors"],
                             "rooms": result.created["rooms"], "patients": patients, "bookings": 1972,
                             "reminders": 189}
    c = counts(db)
    assert (c["appointment"], c["booking"], c["patient"], c["reminder"], c["branch"]) == \
        (986, 1972, 881, 189, 8)


def test_second_run_changes_nothing(imported: Database) -> None:
    before = counts(imported)
    fingerprint = "SELECT md5(string_agg(a::text, '|' ORDER BY a.id)) FROM appointment a"
    fp = imported.read(lambda c: c.execute(text(fingerprint)).scalar_one())
    again = import_noshow_csv(imported, SAMPLE)
    assert (again.read, again.imported, again.already_present, again.rejected) == (994, 0, 986, 8)
    assert [line for line, _ in again.problems] == sorted(EXPECTED_PROBLEMS)
    assert set(again.created.values()) == {0}
    assert counts(imported) == before
    assert imported.read(lambda c: c.execute(text(fingerprint)).scalar_one()) == fp


def test_audit_rows_carry_the_reason(imported: Database) -> None:
    rows = imported.read(lambda c: c.execute(text(
        "SELECT table_name, count(*), min(reason), max(reason) FROM audit_log GROUP BY table_name")).all())
    by = {r[0]: r[1:] for r in rows}
    why = "import noshow-csv noshow_sample.csv"
    assert by["appointment"] == (986, why, why)
    assert by["booking"][0] == 1972


# -- what the rows became ------------------------------------------------------------------
def test_statuses_refs_ages_and_flags(imported: Database) -> None:
    rows = imported.read(lambda c: c.execute(text(
        "SELECT a.external_ref, a.status, a.source, a.time_assigned_by_import, a.patient_age_years, "
        "a.ends_at - a.starts_at AS length, b.name AS branch, s.name AS service, p.source_ref "
        "FROM appointment a JOIN branch b ON b.id = a.branch_id JOIN service s ON s.id = a.service_id "
        "JOIN patient p ON p.id = a.patient_id")).all())
    got = {r.external_ref: r for r in rows}
    assert set(got) == {f"vitoria:{rec['AppointmentID']}" for rec in GOOD}
    for rec in GOOD:
        r = got[f"vitoria:{rec['AppointmentID']}"]
        assert r.status == ("no_show" if rec["No_show"] == "Yes" else "completed")
        assert (r.source, r.time_assigned_by_import, r.service) == ("import", True, SERVICE_NAME)
        assert r.patient_age_years == int(float(rec["Age"]))
        assert r.length == timedelta(minutes=15)
        assert r.branch == branch_name(rec["Neighbourhood"])
        assert r.source_ref == ref_of(rec["PatientId"])
    assert Counter(r.status for r in rows) == {"completed": 765, "no_show": 221}
    assert got["vitoria:5712759"].source_ref == "vitoria:93779.52927"  # line 57: kept as written
    names = {r.branch for r in rows}
    assert {"Resistência", "Jardim da Penha", "Ilha do Príncipe", "Joana D´Arc", "De Lourdes"} <= names


def test_patients_are_pseudonymous(imported: Database) -> None:
    pats = imported.read(lambda c: c.execute(text(
        "SELECT display_name, gender, source, source_ref, attributes FROM patient")).all())
    first: dict[str, dict[str, str]] = {}
    for rec in sorted(GOOD, key=lambda r: (r["ScheduledDay"], int(r["AppointmentID"]))):
        first.setdefault(ref_of(rec["PatientId"]), rec)
    assert {p.source_ref for p in pats} == set(first)
    for p in pats:
        rec = first[p.source_ref]
        raw_id = p.source_ref.split(":")[1]
        assert re.fullmatch(r"Paciente [0-9A-F]{4} [0-9A-F]{4}", p.display_name)
        assert p.display_name == pseudonym(p.source_ref) and raw_id not in p.display_name
        assert (p.gender, p.source) == (rec["Gender"], "import")
        assert p.attributes == {"Scholarship": int(rec["Scholarship"]),
                                "Hipertension": int(rec["Hipertension"]), "Diabetes": int(rec["Diabetes"]),
                                "Alcoholism": int(rec["Alcoholism"]), "Handcap": int(rec["Handcap"]),
                                "Neighbourhood": rec["Neighbourhood"]}


def test_times_on_the_day_grid_and_booked_at_is_local(imported: Database) -> None:
    rows = imported.read(lambda c: c.execute(text(
        "SELECT a.external_ref, a.starts_at, a.ends_at, a.booked_at, b.timezone FROM appointment a "
        "JOIN branch b ON b.id = a.branch_id")).all())
    by_ref = {f"vitoria:{rec['AppointmentID']}": rec for rec in GOOD}
    negative = 0
    for r in rows:
        rec = by_ref[r.external_ref]
        assert r.timezone == "America/Sao_Paulo"
        local = r.starts_at.astimezone(SP)
        assert local.date() == date.fromisoformat(rec["AppointmentDay"])
        minute = local.hour * 60 + local.minute
        assert OPEN_MIN <= minute <= CLOSE_MIN - 15 and minute % 15 == 0 and local.second == 0
        assert r.ends_at - r.starts_at == timedelta(minutes=15)
        # ScheduledDay is local wall-clock time in the branch zone
        assert r.booked_at.astimezone(SP).replace(tzinfo=None) == datetime.fromisoformat(rec["ScheduledDay"])
        negative += local.date() < r.booked_at.astimezone(SP).date()
    assert negative == 1  # line 653, AppointmentID 5679978: imported, not rejected


def test_earliest_free_slot_in_scheduled_order(imported: Database) -> None:
    """With k doctors and k rooms at a branch and nothing booked before, each appointment of a day
    (ScheduledDay order, then AppointmentID) takes the earliest quarter hour after 07:00 that has
    fewer than k appointments and no earlier appointment of the same patient."""
    rows = imported.read(lambda c: c.execute(text(
        "SELECT b.name, a.starts_at, a.booked_at, a.external_ref, a.patient_id FROM appointment a "
        "JOIN branch b ON b.id = a.branch_id")).all())
    doctors = dict(imported.read(lambda c: c.execute(text(
        "SELECT b.name, count(DISTINCT s.resource_id) FROM shift s JOIN branch b ON b.id = s.branch_id "
        "GROUP BY b.name")).all()))
    rooms = dict(imported.read(lambda c: c.execute(text(
        "SELECT b.name, count(*) FROM resource r JOIN branch b ON b.id = r.branch_id WHERE r.kind = 'room' "
        "GROUP BY b.name")).all()))
    days: dict[tuple[str, date], list] = defaultdict(list)
    for r in rows:
        days[(r.name, r.starts_at.astimezone(SP).date())].append(r)
    busiest: dict[str, int] = defaultdict(int)
    for (branch, _), appts in days.items():
        busiest[branch] = max(busiest[branch], len(appts))
    for branch, n in busiest.items():
        assert doctors[branch] == rooms[branch] == math.ceil(n / 48), branch
    assert doctors["Resistência"] == 3
    for (branch, day), appts in days.items():
        k = doctors[branch]
        appts.sort(key=lambda r: (r.booked_at, int(r.external_ref.split(":")[1])))
        taken: dict[int, int] = defaultdict(int)
        patient_at: set[tuple[int, int]] = set()
        for j, r in enumerate(appts):
            expected = next(q for q in itertools.count() if taken[q] < k and (r.patient_id, q) not in patient_at)
            taken[expected] += 1
            patient_at.add((r.patient_id, expected))
            local = r.starts_at.astimezone(SP)
            assert (local.hour * 60 + local.minute - OPEN_MIN) // 15 == expected, (branch, day, j)


def test_a_patient_is_never_in_two_places_at_once(imported: Database) -> None:
    """Same-day appointments of one patient (the source has many) are placed one after the other."""
    clashes = imported.read(lambda c: c.execute(text(
        "SELECT count(*) FROM appointment a JOIN appointment b ON a.patient_id = b.patient_id AND a.id < b.id "
        "AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)")).scalar())
    same_day = imported.read(lambda c: c.execute(text(
        "SELECT count(*) FROM appointment a JOIN appointment b ON a.patient_id = b.patient_id AND a.id < b.id "
        "AND a.starts_at::date = b.starts_at::date")).scalar())
    assert same_day > 0      # the sample has same-day pairs
    assert clashes == 0


def test_bookings_one_doctor_one_room_no_overlap(imported: Database) -> None:
    def q(sql_text: str) -> list:
        return imported.read(lambda c: c.execute(text(sql_text)).all())

    per = q("SELECT a.id, count(*), count(*) FILTER (WHERE r.kind = 'doctor'), "
            "count(*) FILTER (WHERE r.kind = 'room'), bool_and(bk.live), "
            "bool_and(bk.period = tstzrange(a.starts_at, a.ends_at, '[)')), "
            "bool_and(r.kind = 'doctor' OR r.branch_id = a.branch_id) "
            "FROM appointment a JOIN booking bk ON bk.appointment_id = a.id "
            "JOIN resource r ON r.id = bk.resource_id GROUP BY a.id")
    assert len(per) == len(GOOD)
    assert all(tuple(p[1:]) == (2, 1, 1, True, True, True) for p in per)
    overlaps = q("SELECT count(*) FROM booking x JOIN booking y ON x.resource_id = y.resource_id "
                 "AND x.id < y.id AND x.period && y.period WHERE x.live AND y.live")
    assert overlaps[0][0] == 0
    # doctors have shifts at the branch of their appointments, and the service needs their categories
    bad = q("SELECT count(*) FROM booking bk JOIN resource r ON r.id = bk.resource_id "
            "JOIN appointment a ON a.id = bk.appointment_id JOIN service s ON s.id = a.service_id "
            "WHERE (r.kind = 'doctor' AND (r.category <> s.doctor_specialty OR NOT EXISTS "
            "(SELECT 1 FROM shift sh WHERE sh.resource_id = r.id AND sh.branch_id = a.branch_id))) "
            "OR (r.kind = 'room' AND r.category <> s.room_kind)")
    assert bad[0][0] == 0
    names = [n for (n,) in q("SELECT name FROM resource ORDER BY name")]
    assert "Resistência · GP 1" in names and "Resistência · Room 3" in names


def test_sms_reminders(imported: Database) -> None:
    rows = imported.read(lambda c: c.execute(text(
        "SELECT a.external_ref, a.starts_at, a.booked_at, r.channel, r.purpose, r.status, r.due_at, "
        "r.sent_at, r.attempts FROM reminder r JOIN appointment a ON a.id = r.appointment_id")).all())
    want = {f"vitoria:{rec['AppointmentID']}" for rec in GOOD if rec["SMS_received"] == "1"}
    assert len(want) == 189
    assert {r.external_ref for r in rows} == want and len(rows) == len(want)
    for r in rows:
        assert (r.channel, r.purpose, r.status, r.attempts) == ("sms", "reminder", "sent", 1)
        assert r.sent_at == r.due_at
        start = r.starts_at.astimezone(SP)
        day_before = (start - timedelta(days=1)).replace(tzinfo=None)  # wall clock; no DST in 2016-05
        expected = max(day_before.replace(tzinfo=SP), r.booked_at)
        assert r.due_at == expected
        assert r.booked_at <= r.due_at < r.starts_at


# -- variants and options ----------------------------------------------------------------------
def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def _to_original(rec: dict[str, str]) -> list[str]:
    # the original writes whole PatientIds without ".0" and the fractional ones as the extract does
    return [rec["PatientId"].removesuffix(".0"), rec["AppointmentID"], rec["Gender"],
            rec["ScheduledDay"].replace(" ", "T") + "Z", rec["AppointmentDay"] + "T00:00:00Z",
            str(int(float(rec["Age"]))), rec["Neighbourhood"], rec["Scholarship"], rec["Hipertension"],
            rec["Diabetes"], rec["Alcoholism"], rec["Handcap"], rec["SMS_received"], rec["No_show"]]


ORIGINAL_HEADER = ["PatientId", "AppointmentID", "Gender", "ScheduledDay", "AppointmentDay", "Age",
                   "Neighbourhood", "Scholarship", "Hipertension", "Diabetes", "Alcoholism", "Handcap",
                   "SMS_received", "No-show"]
EXTRACT_HEADER = [*ORIGINAL_HEADER[:-1], "No_show"]


def _to_extract(rec: dict[str, str]) -> list[str]:
    return [rec[h] for h in EXTRACT_HEADER]

_PROJECTION = """
SELECT a.external_ref, a.status, a.starts_at, a.ends_at, a.booked_at, a.patient_age_years, b.name AS branch,
       p.source_ref, p.display_name, p.gender, p.attributes::text AS attributes,
       (SELECT string_agg(r.channel || r.status || r.due_at::text, ',') FROM reminder r
         WHERE r.appointment_id = a.id) AS reminders,
       (SELECT string_agg(x.name, ',' ORDER BY x.name) FROM booking bk
          JOIN resource x ON x.id = bk.resource_id WHERE bk.appointment_id = a.id) AS resources
  FROM appointment a JOIN branch b ON b.id = a.branch_id JOIN patient p ON p.id = a.patient_id
 ORDER BY a.external_ref
"""


def test_original_kaggle_format_imports_the_same(db: Database, other_db: Database, tmp_path: Path) -> None:
    # a few rows: SMS and not, a no-show, a patient seen twice, the anomaly row
    res = [r for r in GOOD if r["Neighbourhood"] == "RESISTÊNCIA"]
    twice = Counter((r["PatientId"], r["AppointmentDay"]) for r in res).most_common(1)[0][0]
    picks = [r for r in res if r["SMS_received"] == "1"][:15]
    picks += [r for r in res if r["SMS_received"] == "0"][:15]
    picks += [r for r in res if r not in picks
              and (r["AppointmentID"] == "5679978" or (r["PatientId"], r["AppointmentDay"]) == twice)]
    picks += [r for r in GOOD if r["PatientId"] == "93779.52927"]  # line 57: a fractional id, in both forms
    assert {r["SMS_received"] for r in picks} == {"0", "1"} and {r["No_show"] for r in picks} == {"Yes", "No"}
    extract = _write(tmp_path / "extract.csv", EXTRACT_HEADER, [_to_extract(r) for r in picks])
    original = _write(tmp_path / "KaggleV2-May-2016.csv", ORIGINAL_HEADER, [_to_original(r) for r in picks])
    assert "T00:00:00Z" in original.read_text() and ".0," not in original.read_text()
    a = import_noshow_csv(db, extract)
    b = import_noshow_csv(other_db, original)
    assert (a.read, a.imported, a.rejected) == (b.read, b.imported, b.rejected) == (len(picks), len(picks), 0)
    pa = db.read(lambda c: [tuple(r) for r in c.execute(text(_PROJECTION))])
    pb = other_db.read(lambda c: [tuple(r) for r in c.execute(text(_PROJECTION))])
    assert pa == pb and len(pa) == len(picks)
    # and the same records in the other form are recognised as already present
    again = import_noshow_csv(db, original)
    assert (again.imported, again.already_present) == (0, len(picks))


def test_new_rows_fill_free_slots_and_add_resources(db: Database, tmp_path: Path) -> None:
    day_rows = [r for r in GOOD
                if r["Neighbourhood"] == "RESISTÊNCIA" and r["AppointmentDay"] == "2016-05-09"]
    assert len(day_rows) == 141
    first = _write(tmp_path / "part.csv", EXTRACT_HEADER, [_to_extract(r) for r in day_rows[:48]])
    assert import_noshow_csv(db, first).imported == 48
    before = db.read(lambda c: dict(c.execute(text("SELECT external_ref, starts_at FROM appointment")).all()))
    assert len(set(before.values())) == 48  # one doctor, one room: 07:00 .. 18:45

    # The room is off 07:00-09:00 on the next day, which also has imported rows in the full sample.
    def block(conn):
        conn.execute(text(
            "INSERT INTO time_off (resource_id, period, reason) SELECT id, tstzrange(:a, :b), 'repairs' "
            "FROM resource WHERE name = 'Resistência · Room 1'"),
            {"a": datetime(2016, 5, 10, 7, tzinfo=SP), "b": datetime(2016, 5, 10, 9, tzinfo=SP)})
    db.write(block)

    result = import_noshow_csv(db, SAMPLE)
    assert (result.imported, result.already_present, result.rejected) == (len(GOOD) - 48, 48, 8)
    after = db.read(lambda c: dict(c.execute(text("SELECT external_ref, starts_at FROM appointment")).all()))
    assert {k: after[k] for k in before} == before  # earlier appointments untouched
    n_doctors = db.read(lambda c: c.execute(text(
        "SELECT count(*) FROM resource WHERE name LIKE 'Resistência · GP %'")).scalar_one())
    assert n_doctors == 3  # 141 on one day: 48 + 48 + 45
    overlaps = db.read(lambda c: c.execute(text(
        "SELECT count(*) FROM booking x JOIN booking y ON x.resource_id = y.resource_id AND x.id < y.id "
        "AND x.period && y.period")).scalar_one())
    assert overlaps == 0
    in_time_off = db.read(lambda c: c.execute(text(
        "SELECT count(*) FROM booking bk JOIN time_off o ON o.resource_id = bk.resource_id "
        "AND o.period && bk.period")).scalar_one())
    assert in_time_off == 0
    day = [v.astimezone(SP) for k, v in after.items()
           if k in {f"vitoria:{r['AppointmentID']}" for r in day_rows}]
    assert len(day) == 141 and all(d.date() == date(2016, 5, 9) for d in day)


def test_timezone_option_and_bad_timezone(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        import_noshow_csv(db, SAMPLE, timezone="Mars/Olympus_Mons")
    assert err.value.field == "timezone"
    assert counts(db)["appointment"] == 0

    picks = [r for r in GOOD if r["Neighbourhood"] == "DE LOURDES"][:5]
    f = _write(tmp_path / "berlin.csv", EXTRACT_HEADER, [_to_extract(r) for r in picks])
    assert import_noshow_csv(db, f, timezone="Europe/Berlin").imported == 5
    rows = db.read(lambda c: c.execute(text(
        "SELECT a.external_ref, a.starts_at, a.booked_at, b.timezone FROM appointment a "
        "JOIN branch b ON b.id = a.branch_id")).all())
    berlin = ZoneInfo("Europe/Berlin")
    by_ref = {f"vitoria:{r['AppointmentID']}": r for r in picks}
    for r in rows:
        assert r.timezone == "Europe/Berlin"
        assert r.booked_at.astimezone(berlin).replace(tzinfo=None) == \
            datetime.fromisoformat(by_ref[r.external_ref]["ScheduledDay"])
        assert r.starts_at.astimezone(berlin).hour >= 7


def test_dst_days_use_the_local_wall_clock(db: Database, tmp_path: Path) -> None:
    """Europe/Berlin 2016: clocks jump 02:00 -> 03:00 on 27 March and go back 03:00 -> 02:00 on
    30 October. Grid and reminders follow local dates, not 24-hour steps."""
    utc = ZoneInfo("UTC")

    def rec(aid: str, scheduled: str, day: str, sms: str) -> list[str]:
        return ["11.0", aid, "F", scheduled, day, "40.0", "CENTRO", "0", "0", "0", "0", "0", sms, "No"]

    rows = [
        rec("1", "2016-03-20 10:00:00", "2016-03-27", "1"),  # first that day: 07:00 CEST = 05:00Z
        rec("2", "2016-03-27 02:30:00", "2016-03-27", "0"),  # 02:30 does not exist: read as 02:30 CET
        rec("3", "2016-10-30 02:30:00", "2016-10-30", "0"),  # 02:30 happens twice: the first (CEST)
    ]
    dst = _write(tmp_path / "dst.csv", EXTRACT_HEADER, rows)
    result = import_noshow_csv(db, dst, timezone="Europe/Berlin")
    assert (result.imported, result.rejected) == (3, 0)
    got = {r.external_ref: r for r in db.read(lambda c: c.execute(text(
        "SELECT a.external_ref, a.starts_at, a.booked_at, r.due_at FROM appointment a "
        "LEFT JOIN reminder r ON r.appointment_id = a.id")).all())}

    def z(*args: int) -> datetime:
        return datetime(*args, tzinfo=utc)

    assert got["vitoria:1"].starts_at == z(2016, 3, 27, 5, 0)
    assert got["vitoria:1"].due_at == z(2016, 3, 26, 6, 0)  # 07:00 CET the day before: 23 h earlier
    assert got["vitoria:2"].starts_at == z(2016, 3, 27, 5, 15)
    assert got["vitoria:2"].booked_at == z(2016, 3, 27, 1, 30)
    assert got["vitoria:3"].starts_at == z(2016, 10, 30, 6, 0)  # 07:00 CET
    assert got["vitoria:3"].booked_at == z(2016, 10, 30, 0, 30)


def test_bad_files(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        import_noshow_csv(db, tmp_path / "missing.csv")
    assert err.value.field == "file"
    no_column = _write(tmp_path / "nocol.csv", EXTRACT_HEADER[:-1], [])
    with pytest.raises(ValidationError, match="No_show"):
        import_noshow_csv(db, no_column)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValidationError, match="empty"):
        import_noshow_csv(db, empty)
    only_header = _write(tmp_path / "header.csv", EXTRACT_HEADER, [])
    summary = import_noshow_csv(db, only_header).summary()
    assert summary == "0 rows read, 0 imported, 0 already present, 0 rejected"
    assert counts(db)["service"] == 0  # nothing created for nothing


def test_more_rejects(db: Database, tmp_path: Path) -> None:
    base = [GOOD[0][h] for h in EXTRACT_HEADER]

    def variant(**changes: str) -> list[str]:
        row = list(base)
        for k, v in changes.items():
            row[EXTRACT_HEADER.index(k)] = v
        return row

    rows = [
        variant(AppointmentID="123.5"),
        variant(AppointmentID="77", Gender="X"),
        variant(AppointmentID="78", Age="12.5"),
        variant(AppointmentID="79", Age="131"),
        variant(AppointmentID="80", Handcap="5"),
        variant(AppointmentID="81", SMS_received="2"),
        variant(AppointmentID="82", AppointmentDay="2016-05-09T10:00:00Z"),
        variant(AppointmentID="83", PatientId="12 34"),
        variant(AppointmentID="84", ScheduledDay="2016-05-09"),
        variant(AppointmentID="85", Age="0.0", No_show="yes"),  # accepted: a baby, case-insensitive outcome
    ]
    result = import_noshow_csv(db, _write(tmp_path / "more.csv", EXTRACT_HEADER, rows))
    reasons = dict(result.problems)
    assert (result.read, result.imported, result.rejected) == (10, 1, 9)
    assert "AppointmentID '123.5'" in reasons[2]
    assert "Gender 'X'" in reasons[3]
    assert "Age '12.5' is not a whole number" in reasons[4]
    assert "Age '131' is over" in reasons[5]
    assert "Handcap '5'" in reasons[6]
    assert "SMS_received '2'" in reasons[7]
    assert "has a time of day" in reasons[8]
    assert "PatientId '12 34' holds a blank or a control character" in reasons[9]
    assert "ScheduledDay '2016-05-09' has no time of day" in reasons[10]
    status, age = db.read(lambda c: c.execute(text(
        "SELECT status, patient_age_years FROM appointment")).one())
    assert (status, age) == ("no_show", 0)


def test_patient_ids_are_opaque_text(db: Database, tmp_path: Path) -> None:
    """PatientId is never read as a number: kept as written, except that digits followed by exactly
    ".0" lose it. Rows whose ids differ as text are different patients."""
    base = [GOOD[0][h] for h in EXTRACT_HEADER]

    def row(aid: int, pid: str) -> list[str]:
        out = list(base)
        out[EXTRACT_HEADER.index("AppointmentID")] = str(9_100_000 + aid)
        out[EXTRACT_HEADER.index("PatientId")] = pid
        return out

    ids = {
        "29872499824296.0": "vitoria:29872499824296",   # the extract's form of a whole number
        "29872499824296": "vitoria:29872499824296",     # the original's: the same patient
        "93779.52927": "vitoria:93779.52927",
        "93779.5": "vitoria:93779.5",
        "93779.50": "vitoria:93779.50",                 # not the same text: another patient
        "00123": "vitoria:00123",                        # leading zeros are part of the id
        "123": "vitoria:123",
        "12.0.0": "vitoria:12.0.0",
        "7.00": "vitoria:7.00",                          # only exactly ".0" is the float-text form
        "1e5": "vitoria:1e5",
        "-5": "vitoria:-5",
        "P-17/b": "vitoria:P-17/b",
        "Paciente Ü": None,                              # a blank inside: rejected
        "x" * 65: None,                                  # longer than 64 characters: rejected
        "ab\x07": None,                                  # a control character: rejected
    }
    rows = [row(i, pid) for i, pid in enumerate(ids)]
    result = import_noshow_csv(db, _write(tmp_path / "ids.csv", EXTRACT_HEADER, rows))
    assert (result.read, result.imported, result.rejected) == (len(ids), 12, 3)
    rejected = {line: reason for line, reason in result.problems}
    assert "longer than 64 characters" in rejected[2 + list(ids).index("x" * 65)]
    assert "control character" in rejected[2 + list(ids).index("ab\x07")]
    got = dict(db.read(lambda c: c.execute(text(
        "SELECT a.external_ref, p.source_ref FROM appointment a JOIN patient p ON p.id = a.patient_id")).all()))
    assert got == {f"vitoria:{9_100_000 + i}": ref for i, ref in enumerate(ids.values()) if ref}
    refs = db.read(lambda c: [r for (r,) in c.execute(text("SELECT source_ref FROM patient ORDER BY id"))])
    assert sorted(refs) == sorted({ref for ref in ids.values() if ref}) and len(refs) == 11


def test_patient_id_blank_and_control_rule_holds_for_every_character() -> None:
    """A PatientId holding any character that is a blank (``str.isspace``) or not printable
    (``str.isprintable``) is rejected, and no other character is: checked for every code point."""

    def rejected(value: str) -> bool:
        try:
            patient_key(value)
        except Exception as exc:  # the importer's row reject; its reason names the rule
            assert "holds a blank or a control character" in str(exc)
            return True
        return False

    wrong = [hex(cp) for cp in range(sys.maxunicode + 1)
             if rejected(f"12{chr(cp)}34") != (chr(cp).isspace() or not chr(cp).isprintable())]
    assert wrong == []
    assert patient_key("29872499824296.0") == "29872499824296"


def test_text_with_quotes_backslashes_and_braces_arrives_as_written(db: Database, tmp_path: Path) -> None:
    """The bulk inserts send each column as one array literal: values holding the characters
    that literal syntax uses (quotes, backslashes, braces, commas, blanks, "NULL") and non-ASCII
    text reach the database exactly as written."""
    base = [GOOD[0][h] for h in EXTRACT_HEADER]
    hoods = ['VILA "RUBIM"', "SÃO {PEDRO}, NULL", "ILHA \\ DO \\\\ PRÍNCIPE", "JARDIM DA PENHA"]
    rows = []
    for i, hood in enumerate(hoods):
        row = list(base)
        row[EXTRACT_HEADER.index("AppointmentID")] = str(9_200_000 + i)
        row[EXTRACT_HEADER.index("PatientId")] = f'P"{i}\\{{x}}'
        row[EXTRACT_HEADER.index("Neighbourhood")] = hood
        rows.append(row)
    result = import_noshow_csv(db, _write(tmp_path / "quotes.csv", EXTRACT_HEADER, rows))
    assert (result.imported, result.rejected) == (len(hoods), 0)
    got = db.read(lambda c: c.execute(text(
        "SELECT p.source_ref, p.display_name, p.attributes->>'Neighbourhood', b.name, a.external_ref "
        "FROM appointment a JOIN patient p ON p.id = a.patient_id JOIN branch b ON b.id = a.branch_id "
        "ORDER BY a.external_ref")).all())
    assert [tuple(r) for r in got] == [
        (f'vitoria:P"{i}\\{{x}}', pseudonym(f'vitoria:P"{i}\\{{x}}'), hood, branch_name(hood), f"vitoria:{9_200_000 + i}")
        for i, hood in enumerate(hoods)]


def test_branch_name() -> None:
    assert branch_name("JARDIM DA PENHA") == "Jardim da Penha"
    assert branch_name("DE LOURDES") == "De Lourdes"
    assert branch_name("  ILHA  DO PRÍNCIPE ") == "Ilha do Príncipe"
    assert branch_name("RESISTÊNCIA") == "Resistência"


def test_imported_rows_carry_their_doctor_and_policy(imported: Database) -> None:
    """The import writes each appointment's doctor and policy snapshot with the row (the per-row
    triggers then have nothing to look up); they agree with its bookings and its service."""
    wrong = imported.read(lambda c: c.execute(text(
        "SELECT count(*) FROM appointment a JOIN service s ON s.id = a.service_id "
        "WHERE a.doctor_id IS DISTINCT FROM (SELECT min(b.resource_id) FROM booking b JOIN resource r "
        "      ON r.id = b.resource_id AND r.kind = 'doctor' WHERE b.appointment_id = a.id) "
        "   OR a.policy_free_hours IS DISTINCT FROM s.cancel_free_hours "
        "   OR a.deposit_cents IS DISTINCT FROM s.deposit_cents")).scalar_one())
    assert wrong == 0
    assert imported.read(lambda c: c.execute(text("SELECT count(*) FROM appointment")).scalar_one()) == len(GOOD)


# -- who may import ---------------------------------------------------------------------------------
def test_an_admin_login_imports_the_sample(login) -> None:
    """A login in clinic_admin (not the owner, not a superuser) imports the whole sample: no COPY
    into the row-level-secured appointment table; rows and audit trail name the login."""
    name, admin = login("admin")
    assert admin.read(lambda c: c.execute(text(
        "SELECT NOT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar_one())
    result = import_noshow_csv(admin, SAMPLE)
    assert (result.read, result.imported, result.already_present, result.rejected) == (994, len(GOOD), 0, 8)
    assert (result.created["patients"], result.created["bookings"], result.created["reminders"]) == \
        (881, 2 * len(GOOD), 189)
    made = admin.read(lambda c: c.execute(text(
        "SELECT count(*), count(*) FILTER (WHERE created_by = current_user AND source = 'import' "
        "AND status IN ('completed', 'no_show')) FROM appointment")).one())
    assert tuple(made) == (len(GOOD), len(GOOD))
    audit = admin.read(lambda c: c.execute(text(
        "SELECT count(*) FROM audit_log WHERE table_name = 'appointment' AND db_user = :n"), {"n": name}).scalar())
    assert audit == len(GOOD)
    # booked_at is the source's ScheduledDay, not the time of the import
    booked = dict(admin.read(lambda c: c.execute(text("SELECT external_ref, booked_at FROM appointment")).all()))
    for rec in GOOD[:50]:
        local = booked[f"vitoria:{rec['AppointmentID']}"].astimezone(SP).replace(tzinfo=None)
        assert local == datetime.fromisoformat(rec["ScheduledDay"])
    again = import_noshow_csv(admin, SAMPLE)
    assert (again.imported, again.already_present) == (0, len(GOOD))


def test_a_reception_login_may_not_import(login) -> None:
    _, reception = login("reception")
    with pytest.raises(PermissionDenied):
        import_noshow_csv(reception, SAMPLE)
    assert reception.read(lambda c: c.execute(text("SELECT count(*) FROM appointment")).scalar()) == 0


def test_a_patient_seen_at_two_branches_on_one_day_is_in_one_place_at_a_time(db: Database, tmp_path: Path) -> None:
    """Same-day rows of one patient at two neighbourhoods (each the first of its branch-day), in
    one file and across two runs: one after the other, never overlapping."""
    base = [GOOD[0][h] for h in EXTRACT_HEADER]

    def row(aid: int, hood: str, scheduled: str) -> list[str]:
        out = list(base)
        for column, value in (("AppointmentID", str(aid)), ("PatientId", "555.0"), ("Neighbourhood", hood),
                              ("AppointmentDay", "2016-06-06"), ("ScheduledDay", scheduled)):
            out[EXTRACT_HEADER.index(column)] = value
        return out

    one = _write(tmp_path / "one.csv", EXTRACT_HEADER, [row(9_200_001, "NORTE", "2016-06-01 08:00:00"),
                                                        row(9_200_002, "SUL", "2016-06-01 09:00:00")])
    assert import_noshow_csv(db, one).imported == 2
    # a later run: a third branch, booked earlier than both (so first in its day's order)
    two = _write(tmp_path / "two.csv", EXTRACT_HEADER, [row(9_200_003, "LESTE", "2016-05-01 08:00:00")])
    assert import_noshow_csv(db, two).imported == 1
    starts = db.read(lambda c: [r for (r,) in c.execute(text(
        "SELECT a.starts_at FROM appointment a JOIN patient p ON p.id = a.patient_id "
        "WHERE p.source_ref = 'vitoria:555' ORDER BY a.starts_at"))])
    assert [s.astimezone(SP).strftime("%H:%M") for s in starts] == ["07:00", "07:15", "07:30"]


def test_imported_rows_still_meet_every_rule_that_binds_an_administrator(login, clinic_db: Database,
                                                                          db_url: str) -> None:
    """The booking triggers ask ``clinic_is_owner()`` only where its answer decides (migration 0012);
    for an administrator's imported rows the rules that bind them still hold, written by hand in
    SQL as a hostile login could: forged stamps are overwritten, a booking of a resource of the
    wrong kind or in a resource's time off is refused, and a desk login may not write an imported
    appointment at all. The owner, as before, keeps the stamps it writes."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name, admin = login("admin")
    desk, _ = login("reception")
    import_noshow_csv(admin, SAMPLE)
    first = admin.read(lambda c: c.execute(text(
        "SELECT a.patient_id, a.branch_id, a.service_id, a.starts_at, a.doctor_id, "
        "       (SELECT b.resource_id FROM booking b JOIN resource r ON r.id = b.resource_id "
        "         WHERE b.appointment_id = a.id AND r.kind = 'room') AS room_id "
        "  FROM appointment a ORDER BY a.id LIMIT 1")).one())
    start = first.starts_at + timedelta(days=364)   # same weekday and grid, a year later: free
    other_doctor = clinic_db.read(lambda c: c.execute(text(
        "SELECT id FROM resource WHERE kind = 'doctor' AND category IS DISTINCT FROM 'general practice' "
        "ORDER BY id LIMIT 1")).scalar_one())
    insert = ("INSERT INTO appointment (patient_id, branch_id, service_id, status, starts_at, ends_at, booked_at, "
              "source, external_ref, created_at, created_by, updated_at) "
              "VALUES (%s, %s, %s, 'completed', %s, %s, %s, 'import', %s, '2000-01-01', 'someone_else', "
              "'2000-01-01') RETURNING id, created_by, created_at, updated_at")

    def appointment(cur: psycopg.Cursor, ref: str) -> tuple:
        return cur.execute(insert, (first.patient_id, first.branch_id, first.service_id, start,
                                    start + timedelta(minutes=15), start - timedelta(days=3), ref)).fetchone()

    def book(cur: psycopg.Cursor, appt: int, resource: int) -> None:
        cur.execute("INSERT INTO booking (appointment_id, resource_id, period) "
                    "VALUES (%s, %s, tstzrange(%s, %s, '[)'))", (appt, resource, start, start + timedelta(minutes=15)))

    with psycopg.connect(make_conninfo(db_url, user=name)) as conn, conn.cursor() as cur:
        appt, by, created, updated = appointment(cur, "vitoria:hostile-1")
        assert by == name and created.year > 2000 and updated.year > 2000   # the database's stamps
        book(cur, appt, first.doctor_id)                                      # the right kind: accepted
        with pytest.raises(psycopg.errors.CheckViolation, match="not a resource its service needs"):
            book(cur, appt, other_doctor)
        conn.rollback()
    _admin(db_url, sql.SQL("INSERT INTO time_off (resource_id, period, reason) "
                           "VALUES ({}, tstzrange({}, {}), 'leave')").format(
        sql.Literal(first.room_id), sql.Literal(start - timedelta(hours=1)), sql.Literal(start + timedelta(hours=1))))
    with psycopg.connect(make_conninfo(db_url, user=name)) as conn, conn.cursor() as cur:
        appt = appointment(cur, "vitoria:hostile-2")[0]
        with pytest.raises(psycopg.errors.ExclusionViolation, match="booking_time_off"):
            book(cur, appt, first.room_id)
    with psycopg.connect(make_conninfo(db_url, user=desk)) as conn, conn.cursor() as cur:
        with pytest.raises(psycopg.errors.InsufficientPrivilege,
                           match="only an administrator's import|permission denied"):
            appointment(cur, "vitoria:hostile-3")
    # The owner (who loads fixtures and history as they were) keeps what it writes.
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        assert appointment(cur, "vitoria:owner-1")[1:] == (
            "someone_else", datetime(2000, 1, 1, tzinfo=created.tzinfo), datetime(2000, 1, 1, tzinfo=created.tzinfo))
        conn.rollback()
