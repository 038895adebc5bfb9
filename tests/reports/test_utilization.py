"""Utilization report (issue 6): every figure checked against a week worked out by hand.

The fixture (branch North, America/Sao_Paulo, week Mon 2027-03-01 .. Sun 2027-03-07):

- Dr Ana: Monday shifts 09:00-12:00 and 14:00-17:00, Tuesday 09:00-12:00; leave Monday 15:00-16:00.
- Room 1: the branch's opening hours, Monday 08:00-18:00 and Tuesday 08:00-12:00.
- Monday, each with Dr Ana and Room 1: 09:00-10:00, 10:00-10:30, 11:30-12:30 (half of it after Dr Ana's
  shift), 16:00-17:00 cancelled.
- A second branch (South) with its own doctor and a booking, left out when the report asks for North.

Worked out:

- Dr Ana available: Monday 3 h + 3 h - 1 h leave = 300 min, Tuesday 180 min: 480 min = 8.0 h. Booked
  inside: 60 + 30 + 30 = 120 min (2.0 h); utilization 120 / 480 = 0.25; overbooked 30 min (0.5 h).
  Idle gaps (>= 30 free available minutes): Monday 10:30-11:30, 14:00-15:00, 16:00-17:00 (the
  cancelled booking frees it), Tuesday 09:00-12:00: 4 gaps, 360 min (6.0 h). Over-rostered: Tuesday,
  nothing booked: 3.0 h.
- Room 1 available 600 + 240 = 840 min (14.0 h); booked 150 min (2.5 h), all inside; utilization
  150 / 840 = 0.1786. Gaps: Monday 08:00-09:00, 10:30-11:30, 12:30-18:00, Tuesday 08:00-12:00: 4 gaps,
  60 + 60 + 330 + 240 = 690 min (11.5 h). Over-rostered: Tuesday, 4.0 h.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from reception_app.services import reports as rq
from reception_app.store.database import Database

SP = ZoneInfo("America/Sao_Paulo")
#: Every report here is also checked against the utilization summary (conftest.summary_agrees).
pytestmark = pytest.mark.usefixtures("summary_agrees")


def _at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2027, 3, day, hh, mm, tzinfo=SP)


@pytest.fixture
def week(db: Database) -> Database:
    def work(conn: Connection) -> None:
        def one(sql: str, **params: object) -> int:
            return int(conn.execute(text(sql), params).scalar_one())

        north = one("INSERT INTO branch (name, timezone) VALUES ('North', 'America/Sao_Paulo') RETURNING id")
        south = one("INSERT INTO branch (name, timezone) VALUES ('South', 'America/Sao_Paulo') RETURNING id")
        service = one("INSERT INTO service (name, duration_min) VALUES ('Visit', 30) RETURNING id")
        ana = one("INSERT INTO resource (kind, name, category) VALUES ('doctor', 'Dr Ana', 'gp') RETURNING id")
        bia = one("INSERT INTO resource (kind, name, category) VALUES ('doctor', 'Dr Bia', 'gp') RETURNING id")
        room = one("INSERT INTO resource (kind, name, category, branch_id) VALUES ('room', 'Room 1', 'consult', :b) "
                   "RETURNING id", b=north)
        for weekday, start, end in ((0, 9 * 60, 12 * 60), (0, 14 * 60, 17 * 60), (1, 9 * 60, 12 * 60)):
            conn.execute(text("INSERT INTO shift (resource_id, branch_id, weekday, start_min, end_min) "
                              "VALUES (:r, :b, :w, :s, :e)"), {"r": ana, "b": north, "w": weekday, "s": start, "e": end})
        conn.execute(text("INSERT INTO shift (resource_id, branch_id, weekday, start_min, end_min) "
                          "VALUES (:r, :b, 0, 540, 1020)"), {"r": bia, "b": south})
        for weekday, start, end in ((0, 8 * 60, 18 * 60), (1, 8 * 60, 12 * 60)):
            conn.execute(text("INSERT INTO opening_hours (branch_id, weekday, start_min, end_min) "
                              "VALUES (:b, :w, :s, :e)"), {"b": north, "w": weekday, "s": start, "e": end})
        conn.execute(text("INSERT INTO time_off (resource_id, period, kind, reason) "
                          "VALUES (:r, tstzrange(:s, :e), 'leave', 'dentist')"),
                     {"r": ana, "s": _at(1, 15), "e": _at(1, 16)})

        def book(branch: int, resources: tuple[int, ...], start: datetime, end: datetime) -> int:
            # a patient of its own each (a patient is in one place at a time: migration 0009)
            who = one("INSERT INTO patient (display_name, birth_date) VALUES ('P', '1990-01-01') RETURNING id")
            aid = one("INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, "
                      "source, booked_at) VALUES (:p, :s, :b, 'confirmed', :t, :e, 'phone', :t - interval '2 days') "
                      "RETURNING id", p=who, s=service, b=branch, t=start, e=end)
            for r in resources:
                conn.execute(text("INSERT INTO booking (appointment_id, resource_id, period) "
                                  "VALUES (:a, :r, tstzrange(:s, :e))"), {"a": aid, "r": r, "s": start, "e": end})
            return aid

        book(north, (ana, room), _at(1, 9), _at(1, 10))
        book(north, (ana, room), _at(1, 10), _at(1, 10, 30))
        book(north, (ana, room), _at(1, 11, 30), _at(1, 12, 30))
        cancelled = book(north, (ana, room), _at(1, 16), _at(1, 17))
        conn.execute(text("UPDATE appointment SET status = 'cancelled', cancelled_by = 'clinic' WHERE id = :a"),
                     {"a": cancelled})
        book(south, (bia,), _at(1, 9), _at(1, 10))

    db.write(work)
    return db


def _rows(table: rq.Table) -> dict[str, dict[str, object]]:
    keys = [c.key for c in table.columns]
    return {str(r[0]): dict(zip(keys, r, strict=True)) for r in table.rows}


def test_utilization_figures_by_resource_and_kind(week: Database) -> None:
    data = rq.utilization(week, date_from="2027-03-01", date_to="2027-03-07", branch="North")
    res = _rows(data.table("by_resource"))
    assert set(res) == {"Dr Ana", "Room 1"}          # Dr Bia works at South only
    ana, room = res["Dr Ana"], res["Room 1"]
    assert (ana["available_h"], ana["booked_h"], ana["utilization"], ana["overbooked_h"]) == (8.0, 2.0, 0.25, 0.5)
    assert (ana["idle_gaps"], ana["idle_h"], ana["over_rostered_h"]) == (4, 6.0, 3.0)
    assert (room["available_h"], room["booked_h"], room["utilization"], room["overbooked_h"]) == (14.0, 2.5, 0.1786,
                                                                                                  0.0)
    assert (room["idle_gaps"], room["idle_h"], room["over_rostered_h"]) == (4, 11.5, 4.0)
    kinds = _rows(data.table("by_kind"))
    assert kinds["doctor"]["available_h"] == 8.0 and kinds["room"]["booked_h"] == 2.5
    assert data.summary["available_h"] == 22.0 and data.summary["booked_h"] == 4.5
    assert data.summary["utilization"] == round(270 / 1320, 4)
    assert data.summary["overbooked_h"] == 0.5 and data.summary["over_rostered_h"] == 7.0
    assert data.branch == "North"


def test_utilization_by_day_week_and_month(week: Database) -> None:
    data = rq.utilization(week, date_from="2027-03-01", date_to="2027-03-07", branch="North")
    days = {(r[0], r[1]): r for r in data.table("by_day").rows}
    cols = [c.key for c in data.table("by_day").columns]
    monday_doctor = dict(zip(cols, days[("2027-03-01", "doctor")], strict=True))
    assert (monday_doctor["available_h"], monday_doctor["booked_h"], monday_doctor["over_rostered_h"]) == (5.0, 2.0,
                                                                                                          0.0)
    tuesday_room = dict(zip(cols, days[("2027-03-02", "room")], strict=True))
    assert (tuesday_room["available_h"], tuesday_room["booked_h"], tuesday_room["over_rostered_h"]) == (4.0, 0.0,
                                                                                                        4.0)
    weeks = data.table("by_week")
    assert [(r[0], r[1]) for r in weeks.rows] == [("2027-03-01", "doctor"), ("2027-03-01", "room")]
    months = data.table("by_month")
    assert [(r[0], r[1]) for r in months.rows] == [("2027-03", "Dr Ana"), ("2027-03", "Room 1")]
    assert months.drill[0] == {"booked_resource": months.drill[0]["booked_resource"], "booked_from": "2027-03-01",
                               "booked_to": "2027-03-31"}
    # the month's row lists the three live appointments of Dr Ana in the week asked for (not the cancelled one)
    assert len(rq.drill_down(week, months.drill[0], date_from="2027-03-01", date_to="2027-03-07",
                             branch="North").rows) == 3

    # per resource: the week (one row each, the whole week's figures) and each day (a period of up to 31 days)
    keys = ("available_h", "booked_h", "utilization", "overbooked_h", "idle_h", "idle_gaps", "over_rostered_h")

    def figures(table: rq.Table) -> dict[tuple[str, str], tuple[object, ...]]:
        cols = [c.key for c in table.columns]
        return {(r[0], r[1]): tuple(dict(zip(cols, r, strict=True))[k] for k in keys) for r in table.rows}

    assert figures(data.table("by_resource_week")) == {
        ("2027-03-01", "Dr Ana"): (8.0, 2.0, 0.25, 0.5, 6.0, 4, 3.0),
        ("2027-03-01", "Room 1"): (14.0, 2.5, 0.1786, 0.0, 11.5, 4, 4.0)}
    assert figures(data.table("by_resource_day")) == {
        ("2027-03-01", "Dr Ana"): (5.0, 2.0, 0.4, 0.5, 3.0, 3, 0.0),
        ("2027-03-02", "Dr Ana"): (3.0, 0.0, 0.0, 0.0, 3.0, 1, 3.0),
        ("2027-03-01", "Room 1"): (10.0, 2.5, 0.25, 0.0, 7.5, 3, 0.0),
        ("2027-03-02", "Room 1"): (4.0, 0.0, 0.0, 0.0, 4.0, 1, 4.0)}
    assert data.table("by_resource_day").drill[0]["booked_from"] == "2027-03-01"
    # a longer period has no per-resource day table (hundreds of thousands of rows over a year)
    longer = rq.utilization(week, date_from="2027-01-01", date_to="2027-06-30", branch="North")
    assert "by_resource_day" not in {t.name for t in longer.tables}
    assert figures(longer.table("by_resource_week"))[("2027-03-01", "Dr Ana")] == (8.0, 2.0, 0.25, 0.5, 6.0, 4, 3.0)
    # over more than 186 days, per resource by month only (as the footnote says)
    year = rq.utilization(week, date_from="2027-01-01", date_to="2027-12-31", branch="North")
    assert not {"by_resource_day", "by_resource_week"} & {t.name for t in year.tables}
    # March: five Mondays (6 h) and five Tuesdays (3 h), less the hour of leave: 44 h; the first week's
    # figures plus four unbooked weeks of 9 h (3 gaps each); utilization 120 / 2640 min
    assert figures(year.table("by_month"))[("2027-03", "Dr Ana")] == (44.0, 2.0, 0.0455, 0.5, 42.0, 16, 39.0)
    assert any("by week for periods of up to 186 days" in d for d in year.definitions)


def test_utilization_all_branches_includes_the_other_doctor(week: Database) -> None:
    data = rq.utilization(week, date_from="2027-03-01", date_to="2027-03-07")
    bia = _rows(data.table("by_resource"))["Dr Bia"]
    assert (bia["available_h"], bia["booked_h"], bia["utilization"]) == (8.0, 1.0, 0.125)
    # Dr Bia's Monday: 09:00-17:00 with 09:00-10:00 booked leaves one gap of 7 h.
    assert (bia["idle_gaps"], bia["idle_h"], bia["over_rostered_h"]) == (1, 7.0, 0.0)


BERLIN = ZoneInfo("Europe/Berlin")


def test_overnight_shift_across_daylight_saving_holiday_and_exception(db: Database) -> None:
    """Dr Carl at Mitte (Europe/Berlin), Sat 2027-03-27 .. Tue 03-30; clocks go 02:00 -> 03:00 on Sunday.

    - Saturday shift 22:00-06:00: 2 h on Saturday, 5 real hours on Sunday (00:00-06:00 less the lost
      hour) = 7 h. Bookings Sat 23:00-Sun 01:00 (2 h, counted on Saturday, inside), Sun 04:00-05:00
      (inside, on the shift's Sunday part), Sun 07:00-07:30 (outside: 0.5 h overbooked).
    - Monday is a holiday: its 09:00-17:00 shift gives nothing, the booking 10:00-11:00 is overbooked.
    - Tuesday's shift 09:00-17:00 is replaced by an exception 13:00-15:10 (130 min, off the
      quarter-hour grid); the booking 14:00-15:15 is 70 min inside and 5 min outside (worked out
      booking by booking: its last quarter-hour is only partly available).
    Totals: available 420 + 130 = 550 min; inside 120 + 60 + 70 = 250 (util 0.4545); overbooked 95 min;
    idle 300 min; gaps: Sat 22:00-23:00, Sun 00:00-04:00 and 05:00-06:00 (the Saturday booking's hour
    after midnight counts on Saturday), Tue 13:00-14:00 = 4.
    """
    def work(conn: Connection) -> None:
        def one(sql: str, **params: object) -> int:
            return int(conn.execute(text(sql), params).scalar_one())

        mitte = one("INSERT INTO branch (name, timezone) VALUES ('Mitte', 'Europe/Berlin') RETURNING id")
        service = one("INSERT INTO service (name, duration_min) VALUES ('Night visit', 30) RETURNING id")
        carl = one("INSERT INTO resource (kind, name, category) VALUES ('doctor', 'Dr Carl', 'gp') RETURNING id")
        patient = one("INSERT INTO patient (display_name) VALUES ('Q') RETURNING id")
        for weekday, start, end in ((5, 22 * 60, 6 * 60), (0, 9 * 60, 17 * 60), (1, 9 * 60, 17 * 60)):
            conn.execute(text("INSERT INTO shift (resource_id, branch_id, weekday, start_min, end_min) "
                              "VALUES (:r, :b, :w, :s, :e)"), {"r": carl, "b": mitte, "w": weekday, "s": start, "e": end})
        conn.execute(text("INSERT INTO holiday (branch_id, local_date, name) VALUES (:b, '2027-03-29', 'Easter')"),
                     {"b": mitte})
        conn.execute(text("INSERT INTO shift_exception (resource_id, branch_id, local_date, start_min, end_min) "
                          "VALUES (:r, :b, '2027-03-30', 780, 910)"), {"r": carl, "b": mitte})
        for start, end in ((datetime(2027, 3, 27, 23, 0), datetime(2027, 3, 28, 1, 0)),
                           (datetime(2027, 3, 28, 4, 0), datetime(2027, 3, 28, 5, 0)),
                           (datetime(2027, 3, 28, 7, 0), datetime(2027, 3, 28, 7, 30)),
                           (datetime(2027, 3, 29, 10, 0), datetime(2027, 3, 29, 11, 0)),
                           (datetime(2027, 3, 30, 14, 0), datetime(2027, 3, 30, 15, 15))):
            s, e = start.replace(tzinfo=BERLIN), end.replace(tzinfo=BERLIN)
            aid = one("INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source) "
                      "VALUES (:p, :s, :b, 'confirmed', :t, :e, 'phone') RETURNING id",
                      p=patient, s=service, b=mitte, t=s, e=e)
            conn.execute(text("INSERT INTO booking (appointment_id, resource_id, period) VALUES (:a, :r, tstzrange(:s, :e))"),
                         {"a": aid, "r": carl, "s": s, "e": e})

    db.write(work)
    data = rq.utilization(db, date_from="2027-03-27", date_to="2027-03-30", branch="Mitte")
    carl = _rows(data.table("by_resource"))["Dr Carl"]
    assert (carl["available_h"], carl["booked_h"], carl["utilization"]) == (9.2, 4.2, round(250 / 550, 4))
    assert (carl["overbooked_h"], carl["idle_h"], carl["idle_gaps"], carl["over_rostered_h"]) == (1.6, 5.0, 4, 0.0)
    cols = [c.key for c in data.table("by_day").columns]
    days = {r[0]: dict(zip(cols, r, strict=True)) for r in data.table("by_day").rows}
    assert days["2027-03-27"]["available_h"] == 2.0 and days["2027-03-28"]["available_h"] == 5.0
    assert days["2027-03-28"]["overbooked_h"] == 0.5 and days["2027-03-29"]["overbooked_h"] == 1.0
    assert days["2027-03-29"]["available_h"] == 0.0
    tuesday = days["2027-03-30"]
    assert (tuesday["available_h"], tuesday["booked_h"], tuesday["overbooked_h"]) == (2.2, 1.2, 0.1)


@pytest.mark.parametrize("name", sorted(rq.REPORTS))
def test_every_report_on_an_empty_period(week: Database, name: str) -> None:
    """A period without appointments gives zeros and empty tables, not an error."""
    data = rq.run_report(week, name, date_from="2030-01-07", date_to="2030-01-13", branch="North")
    assert data.name == name and data.date_from.isoformat() == "2030-01-07"
    rostered = {"available_h", "idle_h", "over_rostered_h"}      # the roster still offers time
    for key, value in data.summary.items():
        assert key in rostered or value in (0, 0.0, None), (key, value)
    if name == "utilization":
        assert data.summary["available_h"] == data.summary["idle_h"] == data.summary["over_rostered_h"] > 0
