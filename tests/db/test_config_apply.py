"""``clinic config apply``: idempotent, by name, one transaction (a bad file writes nothing)."""

from __future__ import annotations

import copy
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from reception_app.domain.errors import ValidationError
from reception_app.services import clinic_config, scheduling

DATA = Path(__file__).resolve().parents[1] / "data"
README = Path(__file__).resolve().parents[2] / "README.md"
TABLES = ("branch", "opening_hours", "resource", "shift", "service", "holiday", "time_off")


def counts(db) -> dict[str, int]:
    return db.read(lambda c: {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES})


def rows(db, sql: str, **params) -> list[tuple]:
    return db.read(lambda c: [tuple(r) for r in c.execute(text(sql), params)])


def test_test_clinic_applies(db):
    result = clinic_config.apply_file(db, DATA / "test_clinic.toml")
    assert counts(db) == {"branch": 2, "opening_hours": 9, "resource": 7, "shift": 8, "service": 2,
                          "holiday": 1, "time_off": 1}
    assert sorted(result.created["branch"]) == ["Berlin", "Centro"]
    assert sorted(result.created["doctor"]) == ["Ana Souza", "Bruno Lima", "Clara Weiss"]
    assert not result.updated
    assert "branch: 2 created, 0 updated" in result.summary()


def test_apply_twice_updates_without_duplicates(db):
    first = clinic_config.apply_file(db, DATA / "test_clinic.toml")
    before = counts(db)
    shifts_before = rows(db, "SELECT r.name, s.weekday, s.start_min, s.end_min, s.valid_from, s.valid_until "
                             "FROM shift s JOIN resource r ON r.id = s.resource_id ORDER BY 1, 2, 3")
    ids_before = rows(db, "SELECT name, id FROM resource ORDER BY name")
    second = clinic_config.apply_file(db, DATA / "test_clinic.toml")
    assert counts(db) == before
    assert not second.created
    assert {k: sorted(v) for k, v in second.updated.items()} == {k: sorted(v) for k, v in first.created.items()}
    assert rows(db, "SELECT name, id FROM resource ORDER BY name") == ids_before   # updated in place
    assert rows(db, "SELECT r.name, s.weekday, s.start_min, s.end_min, s.valid_from, s.valid_until "
                    "FROM shift s JOIN resource r ON r.id = s.resource_id ORDER BY 1, 2, 3") == shifts_before
    assert "0 created" in second.summary()


def test_changed_file_replaces_hours_and_shifts(db):
    data = tomllib.loads((DATA / "test_clinic.toml").read_text())
    clinic_config.apply(db, data)
    changed = copy.deepcopy(data)
    centro = next(b for b in changed["branch"] if b["name"] == "Centro")
    centro["hours"] = {"mon": ["09:00-17:00"]}
    bruno = next(d for d in changed["doctor"] if d["name"] == "Bruno Lima")
    bruno["shifts"] = [{"branch": "Centro", "days": ["thu"], "hours": ["09:00-11:00"]}]
    next(s for s in changed["service"] if s["name"] == "Abdominal ultrasound")["duration"] = 45
    clinic_config.apply(db, changed)
    assert rows(db, "SELECT weekday, start_min, end_min FROM opening_hours o JOIN branch b ON b.id = o.branch_id "
                    "WHERE b.name = 'Centro'") == [(0, 540, 1020)]
    assert rows(db, "SELECT weekday, start_min, end_min FROM shift s JOIN resource r ON r.id = s.resource_id "
                    "WHERE r.name = 'Bruno Lima'") == [(3, 540, 660)]
    assert rows(db, "SELECT duration_min FROM service WHERE name = 'Abdominal ultrasound'") == [(45,)]
    # Nothing the file does not mention is deleted: a file with only a room keeps everything else.
    before = counts(db)
    clinic_config.apply(db, {"room": [{"name": "Imaging 3", "branch": "Centro", "kind": "imaging"}]})
    after = counts(db)
    assert after == dict(before, resource=before["resource"] + 1)


def bad(db, data: dict, field: str, exc=ValidationError) -> ValidationError:
    """Apply ``data`` on top of the test clinic and check it fails naming ``field`` and writes nothing."""
    clinic_config.apply_file(db, DATA / "test_clinic.toml")
    before = counts(db)
    snapshot = rows(db, "SELECT name, timezone FROM branch ORDER BY name")
    with pytest.raises(exc) as info:
        clinic_config.apply(db, data)
    assert info.value.field == field, str(info.value)
    assert str(info.value).startswith(f"{field}: ")
    assert counts(db) == before
    assert rows(db, "SELECT name, timezone FROM branch ORDER BY name") == snapshot
    return info.value


# A valid branch first, so a failure later in the file proves the whole file is one transaction.
GOOD_BRANCH = {"name": "Norte", "timezone": "America/Manaus", "hours": {"mon": ["08:00-12:00"]}}


def test_unknown_section(db):
    bad(db, {"branches": [GOOD_BRANCH]}, "branches")


def test_unknown_key(db):
    bad(db, {"branch": [dict(GOOD_BRANCH, colour="red")]}, "branch 'Norte'.colour")


def test_unknown_key_in_a_shift(db):
    doctor = {"name": "Dora", "specialty": "radiology",
              "shifts": [{"branch": "Centro", "days": ["mon"], "hours": ["08:00-09:00"], "every": 2}]}
    bad(db, {"doctor": [doctor]}, "doctor 'Dora'.shifts[0].every")


def test_missing_field(db):
    bad(db, {"branch": [GOOD_BRANCH], "room": [{"name": "R", "branch": "Norte"}]}, "room 'R'.kind")
    bad(db, {"service": [{"duration": 15}]}, "service[0].name")


def test_bad_timezone(db):
    err = bad(db, {"branch": [GOOD_BRANCH, {"name": "Mars", "timezone": "Mars/Olympus_Mons"}]},
              "branch 'Mars'.timezone")
    assert err.value == "Mars/Olympus_Mons"


def test_timezone_changed_to_a_bad_one_keeps_the_old(db):
    bad(db, {"branch": [{"name": "Centro", "timezone": "Not/AZone"}]}, "branch 'Centro'.timezone")


@pytest.mark.parametrize("hours", ["25:00-26:00", "08:00-08:00", "8-12", "08:60-09:00", "24:00-02:00"])
def test_bad_hours(db, hours):
    err = bad(db, {"branch": [dict(GOOD_BRANCH, hours={"mon": ["08:00-12:00"], "tue": [hours]})]},
              "branch 'Norte'.hours.tue")
    assert err.value == hours


def test_bad_day_name(db):
    bad(db, {"branch": [dict(GOOD_BRANCH, hours={"funday": ["08:00-12:00"]})]}, "branch 'Norte'.hours")


def test_bad_shift_hours(db):
    doctor = {"name": "Dora", "specialty": "radiology",
              "shifts": [{"branch": "Centro", "days": ["mon"], "hours": ["25:00-26:00"]}]}
    bad(db, {"doctor": [doctor]}, "doctor 'Dora'.shifts[0].hours")


def test_unknown_branch_in_a_shift(db):
    doctor = {"name": "Dora", "specialty": "radiology",
              "shifts": [{"branch": "Centro", "days": ["mon"], "hours": ["08:00-09:00"]},
                         {"branch": "Atlantis", "days": ["tue"], "hours": ["08:00-09:00"]}]}
    err = bad(db, {"branch": [GOOD_BRANCH], "doctor": [doctor]}, "doctor 'Dora'.shifts[1].branch")
    assert err.value == "Atlantis"


def test_unknown_branch_of_a_room_and_a_holiday(db):
    bad(db, {"room": [{"name": "R9", "branch": "Atlantis", "kind": "imaging"}]}, "room 'R9'.branch")
    bad(db, {"holiday": [{"branch": "Atlantis", "date": "2027-01-01", "name": "New year"}]},
        "holiday 'New year'.branch")


def test_bad_service_values(db):
    bad(db, {"service": [{"name": "S", "duration": 20}]}, "service 'S'.duration")
    bad(db, {"service": [{"name": "S", "duration": 15, "buffer_after": -5}]}, "service 'S'.buffer_after")
    bad(db, {"service": [{"name": "S", "duration": 15, "needs": {"nurse": "x"}}]}, "service 'S'.needs.nurse")


def test_bad_time_off(db):
    bad(db, {"time_off": [{"resource": "Nobody", "from": "2027-01-01T00:00:00Z", "until": "2027-01-02T00:00:00Z"}]},
        "time_off 'Nobody'.resource")
    bad(db, {"time_off": [{"resource": "Ana Souza", "from": "2027-01-01T00:00:00",
                           "until": "2027-01-02T00:00:00Z"}]}, "time_off 'Ana Souza'.from")
    bad(db, {"time_off": [{"resource": "Ana Souza", "from": "2027-01-02T00:00:00Z",
                           "until": "2027-01-01T00:00:00Z"}]}, "time_off 'Ana Souza'.until")


def test_name_used_by_another_kind(db):
    bad(db, {"room": [{"name": "Ana Souza", "branch": "Centro", "kind": "imaging"}]}, "room.name")


def test_missing_and_invalid_files(db, tmp_path):
    with pytest.raises(ValidationError) as info:
        clinic_config.apply_file(db, tmp_path / "nope.toml")
    assert info.value.field == "file"
    broken = tmp_path / "broken.toml"
    broken.write_text("[[branch]\nname = ")
    with pytest.raises(ValidationError, match="not valid TOML") as info:
        clinic_config.apply_file(db, broken)
    assert info.value.field == "file"
    assert counts(db) == dict.fromkeys(TABLES, 0)


EXAMPLE = """
# One branch, its weekly hours (branch-local wall clock; a day not listed is closed).
[[branch]]
name = "Centro"
timezone = "America/Sao_Paulo"
hours = { mon = ["07:00-12:00", "13:00-19:00"], tue = ["07:00-19:00"], sat = ["00:00-24:00"], sun = ["00:00-24:00"] }

[[doctor]]
name = "Ana Souza"
specialty = "radiology"
login = "ana"
shifts = [
  { branch = "Centro", days = ["mon", "tue"], hours = ["08:00-12:00"] },
  { branch = "Centro", days = ["sat"], hours = ["22:00-06:00"], from = "2027-01-01", until = "2027-06-30" },
]

[[room]]
name = "Imaging 1"
branch = "Centro"
kind = "imaging"

[[equipment]]
name = "Ultrasound A"
branch = "Centro"
kind = "ultrasound"

[[service]]
name = "Abdominal ultrasound"
duration = 30
buffer_after = 10
min_notice = 60
horizon = 365
needs = { doctor = "radiology", room = "imaging", equipment = "ultrasound" }

[[holiday]]
branch = "Centro"
date = 2027-12-25
name = "Christmas"

[[time_off]]
resource = "Ana Souza"
from = 2027-03-01T00:00:00-03:00
until = "2027-03-08T00:00:00-03:00"
reason = "leave"
"""


def test_full_example_with_an_overnight_shift_applies(db, tmp_path):
    path = tmp_path / "clinic.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    result = clinic_config.apply_file(db, path)
    assert result.summary() == ("branch: 1 created, 0 updated; doctor: 1 created, 0 updated; room: 1 created, "
                                "0 updated; equipment: 1 created, 0 updated; service: 1 created, 0 updated; "
                                "holiday: 1 created, 0 updated; time_off: 1 created, 0 updated")
    assert rows(db, "SELECT weekday, start_min, end_min FROM opening_hours ORDER BY 1, 2") == [
        (0, 420, 720), (0, 780, 1140), (1, 420, 1140), (5, 0, 1440), (6, 0, 1440)]
    assert rows(db, "SELECT weekday, start_min, end_min, valid_from, valid_until FROM shift ORDER BY 1") == [
        (0, 480, 720, None, None), (1, 480, 720, None, None), (5, 1320, 360, date(2027, 1, 1), date(2027, 6, 30))]
    assert rows(db, "SELECT login_role FROM resource WHERE name = 'Ana Souza'") == [("ana",)]
    assert rows(db, "SELECT local_date FROM holiday") == [(date(2027, 12, 25),)]
    sp = timezone(timedelta(hours=-3))
    assert rows(db, "SELECT lower(period), upper(period), reason FROM time_off") == [
        (datetime(2027, 3, 1, tzinfo=sp), datetime(2027, 3, 8, tzinfo=sp), "leave")]
    # The overnight Saturday shift offers slots on both sides of local midnight.
    offers = scheduling.find_slots(db, branch="Centro", service="Abdominal ultrasound", local_date="2027-01-09",
                                   days=2, now=datetime(2027, 1, 1, tzinfo=UTC))
    local = [o.start.astimezone(sp) for o in offers]
    assert local[0] == datetime(2027, 1, 9, 22, 0, tzinfo=sp)
    assert local[-1] == datetime(2027, 1, 10, 5, 15, tzinfo=sp)   # + 40 occupied minutes = 05:55 < 06:00
    assert any(t.date() == date(2027, 1, 10) for t in local)
    # Applying it again changes nothing.
    before = counts(db)
    again = clinic_config.apply_file(db, path)
    assert not again.created and counts(db) == before


def readme_example() -> str:
    """The TOML block of README.md's "Clinic configuration file" section."""
    section = README.read_text(encoding="utf-8").split("## Clinic configuration file", 1)[1]
    return section.split("```toml\n", 1)[1].split("```", 1)[0]


def test_readme_example_applies(db, tmp_path):
    path = tmp_path / "readme.toml"
    path.write_text(readme_example(), encoding="utf-8")
    result = clinic_config.apply_file(db, path)
    assert {k: len(v) for k, v in result.created.items()} == {
        "branch": 1, "doctor": 1, "room": 1, "equipment": 1, "service": 1, "holiday": 1, "time_off": 1}
    assert rows(db, "SELECT weekday, start_min, end_min FROM opening_hours ORDER BY 1, 2") == [
        (0, 420, 720), (0, 780, 1140), (1, 420, 1140)]
    # Two shift lines: mon+tue 08-12, and the overnight Friday 22:00-06:00 with its validity dates.
    assert rows(db, "SELECT weekday, start_min, end_min, valid_from, valid_until FROM shift ORDER BY 1") == [
        (0, 480, 720, None, None), (1, 480, 720, None, None),
        (4, 1320, 360, date(2027, 1, 1), date(2027, 6, 30))]
    assert rows(db, "SELECT name, duration_min, buffer_before_min, buffer_after_min, min_notice_min, horizon_days, "
                    "doctor_specialty, room_kind, equipment_kind FROM service") == [
        ("Abdominal ultrasound", 30, 0, 10, 60, 365, "radiology", "imaging", "ultrasound")]
    assert rows(db, "SELECT local_date, name FROM holiday") == [(date(2027, 12, 25), "Christmas")]
    assert len(rows(db, "SELECT id FROM time_off")) == 1
    offers = scheduling.find_slots(db, branch="Centro", service="Abdominal ultrasound", local_date="2027-01-04",
                                   now=datetime(2027, 1, 1, tzinfo=UTC))
    assert len(offers) == 14
    before = counts(db)
    assert not clinic_config.apply_file(db, path).created
    assert counts(db) == before


def test_an_end_of_midnight_is_stored_as_24_00(db):
    clinic_config.apply(db, {
        "branch": [{"name": "Late", "timezone": "Europe/Lisbon", "hours": {"fri": ["18:00-00:00"]}}],
        "doctor": [{"name": "Night Doctor", "specialty": "gp",
                    "shifts": [{"branch": "Late", "days": ["fri"], "hours": ["20:00-00:00"]}]}],
    })
    assert rows(db, "SELECT start_min, end_min FROM opening_hours") == [(1080, 1440)]
    assert rows(db, "SELECT start_min, end_min FROM shift") == [(1200, 1440)]


def test_a_branch_gives_the_reminder_services_phone_language_and_quiet_hours(db):
    clinic_config.apply(db, {"branch": [{"name": "Sul", "timezone": "America/Sao_Paulo", "phone": "+55 11 3000-0000",
                                         "language": "PT", "quiet_hours": "22:00-07:30"}]}, source="test")
    row = db.read(lambda c: c.exec_driver_sql(
        "SELECT phone, language, quiet_from_min, quiet_until_min FROM branch WHERE name = 'Sul'").one())
    assert tuple(row) == ("+551130000000", "pt", 22 * 60, 7 * 60 + 30)
    for bad, field in (({"phone": "call us"}, "phone"), ({"language": "portuguese"}, "language"),
                       ({"quiet_hours": "late"}, "quiet_hours")):
        with pytest.raises(ValidationError) as err:
            clinic_config.apply(db, {"branch": [{"name": "Sul", "timezone": "America/Sao_Paulo", **bad}]},
                                source="test")
        assert err.value.field == f"branch 'Sul'.{field}"
    # A bad file writes nothing: the earlier values stay.
    assert db.read(lambda c: c.exec_driver_sql("SELECT language FROM branch WHERE name = 'Sul'").scalar_one()) == "pt"


# -- issue 14: bad files write nothing and say where ---------------------------------------------------
def test_a_file_that_is_not_utf8_or_holds_a_nul_names_the_byte_offset(db, tmp_path):
    clinic_config.apply_file(db, DATA / "test_clinic.toml")
    before = counts(db)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'[[branch]]\nname = "S\xe3o Paulo"\ntimezone = "America/Sao_Paulo"\n')
    nul = tmp_path / "nul.toml"
    nul.write_bytes(b'[[branch]]\nname = "Sul\x00"\ntimezone = "UTC"\n')
    for path, problem in ((latin1, "is not valid UTF-8 at byte offset 20"), (nul, "holds a NUL byte at byte offset 22")):
        with pytest.raises(ValidationError) as info:
            clinic_config.apply_file(db, path)
        assert (info.value.field, info.value.value, info.value.problem) == ("file", str(path), problem)
    with pytest.raises(ValidationError, match="cannot be read") as info:
        clinic_config.apply_file(db, tmp_path)       # a directory
    assert info.value.field == "file"
    assert counts(db) == before


@pytest.mark.parametrize(("data", "field", "value"), [
    ({"branch": [GOOD_BRANCH, dict(GOOD_BRANCH, timezone="UTC")]}, "branch.name", "Norte"),
    ({"room": [{"name": "R1", "branch": "Centro", "kind": "imaging"},
               {"name": "R1", "branch": "Berlin", "kind": "consultation"}]}, "room.name", "R1"),
    ({"doctor": [{"name": "Dora", "specialty": "radiology"}, {"name": "Dora", "specialty": "gp"}]},
     "doctor.name", "Dora"),
    ({"equipment": [{"name": "US B", "branch": "Centro", "kind": "ultrasound"},
                    {"name": "US  B", "branch": "Centro", "kind": "ultrasound"}]}, "equipment.name", "US  B"),
    ({"doctor": [{"name": "Same", "specialty": "radiology"}],
      "room": [{"name": "Same", "branch": "Centro", "kind": "imaging"}]}, "room.name", "Same"),
    ({"service": [{"name": "S", "duration": 15}, {"name": "S", "duration": 30}]}, "service.name", "S"),
    ({"holiday": [{"branch": "Centro", "date": "2027-05-01", "name": "Labour day"},
                  {"branch": "Centro", "date": "2027-05-01", "name": "May day"}]}, "holiday 'May day'.date",
     "2027-05-01"),
    ({"time_off": [{"resource": "Ana Souza", "from": "2027-05-03T00:00:00Z", "until": "2027-05-04T00:00:00Z"},
                   {"resource": "Ana Souza", "from": "2027-05-03T00:00:00Z", "until": "2027-05-04T00:00:00Z",
                    "reason": "again"}]}, "time_off 'Ana Souza'.from", "2027-05-03T00:00:00Z"),
])
def test_one_name_twice_in_a_file_is_refused(db, data, field, value):
    err = bad(db, data, field)
    assert err.value == value and "duplicate" in err.problem


@pytest.mark.parametrize(("data", "field"), [
    ({"branch": [dict(GOOD_BRANCH, name="Nor\tte")]}, "branch.name"),
    ({"doctor": [{"name": "Dora\nLima", "specialty": "radiology"}]}, "doctor.name"),
    ({"doctor": [{"name": "Dora", "specialty": "radio\x00logy"}]}, "doctor 'Dora'.specialty"),
    ({"room": [{"name": "R\u2028", "branch": "Centro", "kind": "imaging"}]}, "room.name"),
    ({"room": [{"name": "R9", "branch": "Centro", "kind": "ima\x1bging"}]}, "room 'R9'.kind"),
    ({"equipment": [{"name": "US\x7f", "branch": "Centro", "kind": "ultrasound"}]}, "equipment.name"),
    ({"service": [{"name": "Scan\r", "duration": 15}]}, "service.name"),
    ({"service": [{"name": "Scan", "duration": 15, "needs": {"doctor": "radio\nlogy"}}]},
     "service 'Scan'.needs.doctor"),
    ({"holiday": [{"branch": "Centro", "date": "2027-05-01", "name": "Labour\u0085day"}]},
     "holiday 'Labour\\x85day'.name"),
    ({"time_off": [{"resource": "Ana Souza", "from": "2027-05-03T00:00:00Z", "until": "2027-05-04T00:00:00Z",
                    "reason": "flu\nand more"}]}, "time_off 'Ana Souza'.reason"),
    ({"branch": [dict(GOOD_BRANCH, name=7)]}, "branch.name"),
])
def test_control_characters_in_names_are_refused(db, data, field):
    err = bad(db, data, field)
    assert "control character" in err.problem or "separator" in err.problem or "text" in err.problem


@pytest.mark.parametrize(("service", "field"), [
    ({"duration": -30}, "duration"), ({"duration": 0}, "duration"), ({"duration": 10**12}, "duration"),
    ({"buffer_before": -5}, "buffer_before"), ({"buffer_after": -1}, "buffer_after"),
    ({"min_notice": -60}, "min_notice"), ({"horizon": 0}, "horizon"), ({"horizon": -365}, "horizon"),
    ({"cancel_free_hours": -24}, "cancel_free_hours"), ({"buffer_after": 2**40}, "buffer_after"),
    ({"duration": 15.0}, "duration"), ({"deposit": "1e3"}, "deposit"), ({"deposit": "-5.00"}, "deposit"),
    ({"late_cancel_fee": "NaN"}, "late_cancel_fee"), ({"deposit": 20.5}, "deposit"),
])
def test_negative_or_absurd_service_numbers(db, service, field):
    err = bad(db, {"service": [{"name": "S", "duration": 15, **service}]}, f"service 'S'.{field}")
    assert err.value == service[field]


@pytest.mark.parametrize("hours", ["08:00-08:00", "00:00-00:00", "8h-12h", "08:00", "08:00-12:00-14:00", "-"])
def test_shift_intervals_of_length_zero_or_malformed(db, hours):
    doctor = {"name": "Dora", "specialty": "radiology",
              "shifts": [{"branch": "Centro", "days": ["mon"], "hours": ["08:00-12:00", hours]}]}
    assert bad(db, {"doctor": [doctor]}, "doctor 'Dora'.shifts[0].hours").value == hours


def test_an_end_before_the_start_is_an_overnight_interval(db):
    clinic_config.apply(db, {"branch": [{"name": "Night", "timezone": "UTC", "hours": {"fri": ["22:00-06:00"]}}],
                             "doctor": [{"name": "Owl", "specialty": "gp", "shifts": [
                                 {"branch": "Night", "days": ["fri"], "hours": ["23:45-00:15"]}]}]})
    assert rows(db, "SELECT start_min, end_min FROM opening_hours") == [(1320, 360)]
    assert rows(db, "SELECT start_min, end_min FROM shift") == [(1425, 15)]


@pytest.mark.parametrize(("data", "field"), [
    ({"time_off": [{"resource": "Ana Souza", "from": "2027-05-03T00:00:00Z", "until": "2027-05-03T00:00:00Z"}]},
     "time_off 'Ana Souza'.until"),
    ({"time_off": [{"resource": "Ana Souza", "from": "0001-01-01T00:00:00-03:00", "until": "2027-05-03T00:00:00Z"}]},
     "time_off 'Ana Souza'.from"),
    ({"time_off": [{"resource": "Ana Souza", "from": "2027-05-03T00:00:00Z", "until": "9999-12-31T23:00:00-05:00"}]},
     "time_off 'Ana Souza'.until"),
    ({"time_off": [{"resource": "Ana Souza", "from": datetime(1, 1, 1, 12, tzinfo=UTC),
                    "until": "2027-05-03T00:00:00Z"}]}, "time_off 'Ana Souza'.from"),
    ({"holiday": [{"branch": "Centro", "date": "9999-12-25", "name": "Far"}]}, "holiday 'Far'.date"),
    ({"holiday": [{"branch": "Centro", "date": date(1, 1, 1), "name": "Early"}]}, "holiday 'Early'.date"),
    ({"doctor": [{"name": "Dora", "specialty": "radiology", "shifts": [
        {"branch": "Centro", "days": ["mon"], "hours": ["08:00-09:00"], "from": "0001-01-01"}]}]},
     "doctor 'Dora'.shifts[0].from"),
    ({"doctor": [{"name": "Dora", "specialty": "radiology", "shifts": [
        {"branch": "Centro", "days": ["mon"], "hours": ["08:00-09:00"], "until": "9999-12-31"}]}]},
     "doctor 'Dora'.shifts[0].until"),
])
def test_dates_outside_the_schedule_window_and_empty_time_off(db, data, field):
    bad(db, data, field)


def test_max_amount_is_stored_in_cents_and_checked(db):
    with db.engine.connect() as conn:
        assert clinic_config.max_amount_cents(conn) == clinic_config.DEFAULT_MAX_AMOUNT_CENTS == 500_000
    clinic_config.apply(db, {"clinic": {"max_amount": "1234.50"}})
    assert rows(db, "SELECT value FROM clinic_setting WHERE key = 'max_amount_cents'") == [(123450,)]
    assert db.read(clinic_config.max_amount_cents) == 123450
    for value in ("1e6", "0", "-10.00", "NaN", 5000.0, "1.234", "99999999.00"):
        err = bad(db, {"branch": [GOOD_BRANCH], "clinic": {"max_amount": value}}, "clinic.max_amount")
        assert err.value == value
    assert db.read(clinic_config.max_amount_cents) == 123450      # a bad file changed nothing
    for key, value in (("hold_minutes", -1), ("offer_minutes", 0), ("hold_minutes", 10**9)):
        bad(db, {"clinic": {key: value}}, f"clinic.{key}")


# -- the clinic's profile and the branch's locale (issue 16) -------------------------------------------------
def test_the_clinic_profile_and_branch_locale_are_applied_and_read_back(db):
    clinic_config.apply_file(db, DATA / "test_clinic.toml")
    assert db.read(clinic_config.clinic_profile) == clinic_config.ClinicProfile(currency="EUR")   # the defaults
    clinic_config.apply(db, {
        "clinic": {"name": "Clínica Horizonte", "legal_name": "Clínica Horizonte Ltda.", "tax_id": "CNPJ 12.345.678/0001-90",
                   "address": "Av. Paulista, 1000\nSão Paulo — SP", "no_show_grace_minutes": 10, "currency": "BRL"},
        "branch": [{"name": "Centro", "timezone": "America/Sao_Paulo", "locale": "pt-BR"}]})
    profile = db.read(clinic_config.clinic_profile)
    assert (profile.name, profile.legal_name, profile.tax_id, profile.address, profile.no_show_grace_minutes,
            profile.currency) == ("Clínica Horizonte", "Clínica Horizonte Ltda.", "CNPJ 12.345.678/0001-90",
                                  "Av. Paulista, 1000\nSão Paulo — SP", 10, "BRL")
    centro, berlin = (rows(db, "SELECT id FROM branch WHERE name = :n", n=n)[0][0] for n in ("Centro", "Berlin"))
    assert db.read(lambda c: clinic_config.branch_formats(c, centro)).money(2000) == "R$ 20,00"
    assert db.read(lambda c: clinic_config.branch_formats(c, berlin)).locale == "en_GB"   # none given


@pytest.mark.parametrize("section, where, words", [
    ({"clinic": {"no_show_grace_minutes": -1}}, "clinic.no_show_grace_minutes", "whole number from 0 to 1440"),
    ({"clinic": {"legal_name": "  "}}, "clinic.legal_name", "must not be empty"),
    ({"clinic": {"tax_id": "one\ntwo"}}, "clinic.tax_id", "one line"),
    ({"branch": [{"name": "Centro", "timezone": "America/Sao_Paulo", "locale": "Brazil"}]},
     "branch 'Centro'.locale", "is not a locale"),
    ({"branch": [{"name": "Centro", "timezone": "America/Sao_Paulo", "locale": "pt"}]},
     "branch 'Centro'.locale", "must name a country"),
])
def test_bad_profile_values_are_named_and_nothing_is_written(db, section, where, words):
    clinic_config.apply_file(db, DATA / "test_clinic.toml")
    before = rows(db, "SELECT key, value::text FROM clinic_setting ORDER BY 1") + rows(
        db, "SELECT name, locale FROM branch ORDER BY 1")
    with pytest.raises(ValidationError) as info:
        clinic_config.apply(db, section)
    assert info.value.field == where and words in str(info.value)
    assert rows(db, "SELECT key, value::text FROM clinic_setting ORDER BY 1") + rows(
        db, "SELECT name, locale FROM branch ORDER BY 1") == before


def test_a_branch_or_doctor_without_hours_or_shifts_keeps_what_it_has(db):
    """Issue 16: a file that only sets a branch's locale (or a doctor's login) must not close the
    branch or take the doctor off every shift; ``hours = {}`` and ``shifts = []`` still clear them."""
    clinic_config.apply_file(db, DATA / "test_clinic.toml")
    hours = "SELECT weekday, start_min, end_min FROM opening_hours o JOIN branch b ON b.id = o.branch_id " \
            "WHERE b.name = 'Centro' ORDER BY 1, 2"
    shifts = "SELECT count(*) FROM shift s JOIN resource r ON r.id = s.resource_id WHERE r.name = 'Ana Souza'"
    before_hours, before_shifts = rows(db, hours), rows(db, shifts)
    assert before_hours and before_shifts[0][0] > 0
    clinic_config.apply(db, {"branch": [{"name": "Centro", "timezone": "America/Sao_Paulo", "locale": "pt_BR"}],
                             "doctor": [{"name": "Ana Souza", "specialty": "radiology"}]})
    assert rows(db, hours) == before_hours and rows(db, shifts) == before_shifts
    clinic_config.apply(db, {"branch": [{"name": "Centro", "timezone": "America/Sao_Paulo", "hours": {}}],
                             "doctor": [{"name": "Ana Souza", "specialty": "radiology", "shifts": []}]})
    assert rows(db, hours) == [] and rows(db, shifts) == [(0,)]
