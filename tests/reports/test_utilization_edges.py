"""Utilization report (issue 6): edge cases the week in test_utilization.py does not reach.

Every figure is worked out by hand in the test's docstring. All branches are in America/Sao_Paulo (no
daylight saving in 2027), so a local day is 1440 real minutes; dates are in March 2027 (Monday 03-01,
Monday 03-08, Monday 03-15). Rows go in with raw SQL, as the database's own rules allow (15-minute
grid, bookings covering their appointment, rooms and equipment of the appointment's branch, no live
booking over time off unless overridden).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from reception_app.services import reports as rq
from reception_app.store.database import Database

SP = ZoneInfo("America/Sao_Paulo")
#: Every report here is also checked against the utilization summary (conftest.summary_agrees).
pytestmark = pytest.mark.usefixtures("summary_agrees")
WEEK = {"date_from": "2027-03-01", "date_to": "2027-03-07"}


def _at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2027, 3, day, hh, mm, tzinfo=SP)


def _one(conn: Connection, sql: str, **params: object) -> int:
    return int(conn.execute(text(sql), params).scalar_one())


def _branch(conn: Connection, name: str) -> int:
    return _one(conn, "INSERT INTO branch (name, timezone) VALUES (:n, 'America/Sao_Paulo') RETURNING id", n=name)


def _resource(conn: Connection, kind: str, name: str, branch: int | None = None) -> int:
    return _one(conn, "INSERT INTO resource (kind, name, category, branch_id) VALUES (:k, :n, 'general', :b) "
                      "RETURNING id", k=kind, n=name, b=branch)


def _shift(conn: Connection, resource: int, branch: int, weekday: int, start: int, end: int,
           valid_from: date | None = None, valid_until: date | None = None) -> None:
    conn.execute(text("INSERT INTO shift (resource_id, branch_id, weekday, start_min, end_min, valid_from, valid_until) "
                      "VALUES (:r, :b, :w, :s, :e, :f, :u)"),
                 {"r": resource, "b": branch, "w": weekday, "s": start, "e": end, "f": valid_from, "u": valid_until})


def _opening(conn: Connection, branch: int, weekday: int, start: int, end: int) -> None:
    conn.execute(text("INSERT INTO opening_hours (branch_id, weekday, start_min, end_min) VALUES (:b, :w, :s, :e)"),
                 {"b": branch, "w": weekday, "s": start, "e": end})


def _patient_and_service(conn: Connection) -> tuple[int, int]:
    patient = _one(conn, "INSERT INTO patient (display_name, birth_date) VALUES ('P', '1990-01-01') RETURNING id")
    service = _one(conn, "INSERT INTO service (name, duration_min) VALUES ('Visit', 30) RETURNING id")
    return patient, service


def _book(conn: Connection, branch: int, resources: tuple[int, ...], start: datetime, end: datetime, *,
          status: str = "confirmed", booking_start: datetime | None = None) -> int:
    """An appointment ``start``-``end`` at ``branch`` with one booking per resource (from ``booking_start``
    when given: a buffer before the appointment, of a service with that buffer). Each appointment has a
    patient of its own (a patient is in one place at a time; utilization does not look at patients)."""
    patient = _one(conn, "INSERT INTO patient (display_name, birth_date) VALUES ('P', '1990-01-01') RETURNING id")
    service = _one(conn, "SELECT min(id) FROM service")
    if booking_start is not None and booking_start != start:   # the booking's period is its service's buffers
        before = int((start - booking_start).total_seconds() // 60)
        service = _one(conn, "INSERT INTO service (name, duration_min, buffer_before_min) VALUES (:n, 30, :b) "
                             "ON CONFLICT (name) DO UPDATE SET buffer_before_min = EXCLUDED.buffer_before_min "
                             "RETURNING id", n=f"Visit with {before} min before", b=before)
    aid = _one(conn, "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source, "
                     "booked_at) VALUES (:p, :s, :b, :st, :t, :e, 'phone', :t - interval '2 days') RETURNING id",
               p=patient, s=service, b=branch, st=status, t=start, e=end)
    for r in resources:
        conn.execute(text("INSERT INTO booking (appointment_id, resource_id, period) VALUES (:a, :r, tstzrange(:s, :e))"),
                     {"a": aid, "r": r, "s": booking_start or start, "e": end})
    return aid


def _rows(table: rq.Table) -> dict[str, dict[str, object]]:
    keys = [c.key for c in table.columns]
    return {str(r[0]): dict(zip(keys, r, strict=True)) for r in table.rows}


def _pairs(table: rq.Table) -> dict[tuple[str, str], dict[str, object]]:
    keys = [c.key for c in table.columns]
    return {(str(r[0]), str(r[1])): dict(zip(keys, r, strict=True)) for r in table.rows}


_MEASURES = ("available_h", "booked_h", "utilization", "overbooked_h", "idle_h", "idle_gaps", "over_rostered_h")


def _figures(row: dict[str, object]) -> tuple[object, ...]:
    return tuple(row[k] for k in _MEASURES)


# -- 1. time off in the middle of a shift -------------------------------------------------------------
def test_time_off_cuts_the_middle_of_a_shift(db: Database) -> None:
    """Dr Ana, Monday 03-01 shift 09:00-17:00 at North; time off 12:00-13:00 created after the bookings
    (the database refuses a live booking over existing time off, but nothing stops time off being added
    over a booking).

    - Available: 480 - 60 = 420 min (7.0 h): 09:00-12:00 and 13:00-17:00.
    - Bookings: 10:00-11:00 (60 min, inside) and 11:30-12:30 straddling the time-off start (60 min:
      11:30-12:00 inside, 12:00-12:30 in time off). Booked 120 min; inside 90 min (1.5 h); overbooked
      30 min (0.5 h). Utilization 90 / 420 = 0.2143.
    - Idle 420 - 90 = 330 min (5.5 h). Idle gaps: 09:00-10:00, 11:00-11:30, 13:00-17:00 = 3 (12:00-13:00
      is not available, so 11:00-11:30 stops at the booking anyway). Over-rostered 0 (something booked).
    """
    def setup(conn: Connection) -> None:
        north = _branch(conn, "North")
        _patient_and_service(conn)
        ana = _resource(conn, "doctor", "Dr Ana")
        _shift(conn, ana, north, 0, 9 * 60, 17 * 60)
        _book(conn, north, (ana,), _at(1, 10), _at(1, 11))
        _book(conn, north, (ana,), _at(1, 11, 30), _at(1, 12, 30))

    db.write(setup)

    def time_off(conn: Connection) -> None:
        conn.execute(text("INSERT INTO time_off (resource_id, period, kind, reason) "
                          "SELECT id, tstzrange(:s, :e), 'leave', 'lunch meeting' FROM resource WHERE name = 'Dr Ana'"),
                     {"s": _at(1, 12), "e": _at(1, 13)})

    db.admin(time_off)

    data = rq.utilization(db, **WEEK, branch="North")
    ana = _rows(data.table("by_resource"))["Dr Ana"]
    assert _figures(ana) == (7.0, 1.5, round(90 / 420, 4), 0.5, 5.5, 3, 0.0)
    monday = _pairs(data.table("by_day"))[("2027-03-01", "doctor")]
    assert _figures(monday) == (7.0, 1.5, round(90 / 420, 4), 0.5, 5.5, 3, 0.0)
    assert data.summary == {"available_h": 7.0, "booked_h": 1.5, "utilization": round(90 / 420, 4),
                            "overbooked_h": 0.5, "idle_h": 5.5, "over_rostered_h": 0.0}


# -- 2. a room booked past closing --------------------------------------------------------------------
def test_room_booked_past_closing_time(db: Database) -> None:
    """Room 1 at North, opening hours Monday 08:00-18:00 only; one booking Monday 17:30-18:30.

    - Available 600 min (10.0 h). Booked 60 min: 17:30-18:00 inside (0.5 h), 18:00-18:30 after closing:
      overbooked 30 min (0.5 h). Utilization 30 / 600 = 0.05.
    - Idle 600 - 30 = 570 min (9.5 h); one idle gap, 08:00-17:30. Over-rostered 0.
    - The rest of the week has no opening hours: nothing else.
    """
    def setup(conn: Connection) -> None:
        north = _branch(conn, "North")
        _patient_and_service(conn)
        room = _resource(conn, "room", "Room 1", north)
        _opening(conn, north, 0, 8 * 60, 18 * 60)
        _book(conn, north, (room,), _at(1, 17, 30), _at(1, 18, 30))

    db.write(setup)
    data = rq.utilization(db, **WEEK, branch="North")
    room = _rows(data.table("by_resource"))["Room 1"]
    assert room["kind"] == "room"
    assert _figures(room) == (10.0, 0.5, 0.05, 0.5, 9.5, 1, 0.0)
    days = _pairs(data.table("by_day"))
    assert list(days) == [("2027-03-01", "room")]
    assert _figures(days[("2027-03-01", "room")]) == (10.0, 0.5, 0.05, 0.5, 9.5, 1, 0.0)
    assert _figures(_rows(data.table("by_kind"))["room"]) == (10.0, 0.5, 0.05, 0.5, 9.5, 1, 0.0)


# -- 3. equipment --------------------------------------------------------------------------------------
def test_equipment_is_its_own_kind(db: Database) -> None:
    """North opens Monday 08:00-12:00; Room 1 and the equipment ECG 1 both have those hours. One booking
    of ECG 1 alone, Monday 09:00-10:00.

    - ECG 1: available 240 min (4.0 h), booked 60 min (1.0 h) inside, utilization 0.25, overbooked 0,
      idle 180 min (3.0 h), gaps 08:00-09:00 and 10:00-12:00 = 2, over-rostered 0.
    - Room 1: available 4.0 h, nothing booked: idle 4.0 h, one gap, over-rostered 4.0 h, utilization 0.0.
    - by_kind: room, then equipment (doctor absent); by_resource: Room 1 (room), ECG 1 (equipment).
    """
    ids: dict[str, int] = {}

    def setup(conn: Connection) -> None:
        north = _branch(conn, "North")
        _patient_and_service(conn)
        ids["room"] = _resource(conn, "room", "Room 1", north)
        ids["ecg"] = _resource(conn, "equipment", "ECG 1", north)
        _opening(conn, north, 0, 8 * 60, 12 * 60)
        _book(conn, north, (ids["ecg"],), _at(1, 9), _at(1, 10))

    db.write(setup)
    data = rq.utilization(db, **WEEK, branch="North")
    kinds = data.table("by_kind")
    assert kinds.column("label") == ["room", "equipment"]
    assert _figures(_rows(kinds)["equipment"]) == (4.0, 1.0, 0.25, 0.0, 3.0, 2, 0.0)
    assert _figures(_rows(kinds)["room"]) == (4.0, 0.0, 0.0, 0.0, 4.0, 1, 4.0)
    res = data.table("by_resource")
    assert [(r[0], r[1]) for r in res.rows] == [("Room 1", "room"), ("ECG 1", "equipment")]
    assert _figures(_rows(res)["ECG 1"]) == (4.0, 1.0, 0.25, 0.0, 3.0, 2, 0.0)
    assert res.drill[1] == {"booked_resource": ids["ecg"]}
    days = _pairs(data.table("by_day"))
    assert _figures(days[("2027-03-01", "equipment")]) == (4.0, 1.0, 0.25, 0.0, 3.0, 2, 0.0)
    assert data.summary["available_h"] == 8.0 and data.summary["booked_h"] == 1.0


# -- 4. one doctor at two branches ----------------------------------------------------------------------
def test_branch_filter_with_a_doctor_at_two_branches(db: Database) -> None:
    """Dr Dan works Mondays 08:00-12:00 at A and 13:00-17:00 at B; bookings Monday 09:00-10:00 at A and
    14:00-15:30 at B.

    - Branch A: available 240 min (4.0 h), booked 60 (1.0 h), utilization 0.25, overbooked 0, idle 3.0 h,
      gaps 08:00-09:00 and 10:00-12:00 = 2, over-rostered 0.
    - Branch B: available 4.0 h, booked 90 min (1.5 h), utilization 0.375, idle 2.5 h, gaps 13:00-14:00
      and 15:30-17:00 = 2.
    - All branches: one row for Dr Dan: available 480 min (8.0 h), booked 150 (2.5 h), utilization
      150 / 480 = 0.3125, idle 330 min (5.5 h), gaps 4, overbooked 0, over-rostered 0.
    """
    def setup(conn: Connection) -> None:
        a, b = _branch(conn, "A"), _branch(conn, "B")
        _patient_and_service(conn)
        dan = _resource(conn, "doctor", "Dr Dan")
        _shift(conn, dan, a, 0, 8 * 60, 12 * 60)
        _shift(conn, dan, b, 0, 13 * 60, 17 * 60)
        _book(conn, a, (dan,), _at(1, 9), _at(1, 10))
        _book(conn, b, (dan,), _at(1, 14), _at(1, 15, 30))

    db.write(setup)
    only_a = rq.utilization(db, **WEEK, branch="A")
    assert _figures(_rows(only_a.table("by_resource"))["Dr Dan"]) == (4.0, 1.0, 0.25, 0.0, 3.0, 2, 0.0)
    only_b = rq.utilization(db, **WEEK, branch="B")
    assert _figures(_rows(only_b.table("by_resource"))["Dr Dan"]) == (4.0, 1.5, 0.375, 0.0, 2.5, 2, 0.0)
    both = rq.utilization(db, **WEEK)
    res = both.table("by_resource")
    assert [r[0] for r in res.rows] == ["Dr Dan"]
    assert _figures(_rows(res)["Dr Dan"]) == (8.0, 2.5, 0.3125, 0.0, 5.5, 4, 0.0)
    assert [(r[0], r[1]) for r in both.table("by_month").rows] == [("2027-03", "Dr Dan")]
    assert _figures(_pairs(both.table("by_day"))[("2027-03-01", "doctor")]) == (8.0, 2.5, 0.3125, 0.0, 5.5, 4, 0.0)


# -- 5. shift validity ------------------------------------------------------------------------------------
def test_shift_replaced_mid_period(db: Database) -> None:
    """Dr Eva's Monday shift 09:00-12:00 is valid 2027-01-01..2027-03-08; from 03-09 her Monday shift is
    13:00-18:00. Period 03-01..03-21 (Mondays 03-01, 03-08, 03-15). One booking 03-15 10:00-11:00 (her
    old hours: outside the new shift).

    - Available: 180 (03-01) + 180 (03-08, the last valid day counts) + 300 (03-15) = 660 min (11.0 h).
    - Booked inside 0; overbooked 60 min (1.0 h); utilization 0 / 660 = 0.0; idle 11.0 h.
    - Gaps: one per Monday = 3. Over-rostered: 03-01 and 03-08 (nothing booked) = 6.0 h; 03-15 had a
      booking (outside the shift), so it is not a day "on which nothing at all was booked".
    - by_week (doctor): 03-01 3.0 h, 03-08 3.0 h, 03-15 5.0 h available.
    """
    def setup(conn: Connection) -> None:
        north = _branch(conn, "North")
        _patient_and_service(conn)
        eva = _resource(conn, "doctor", "Dr Eva")
        _shift(conn, eva, north, 0, 9 * 60, 12 * 60, date(2027, 1, 1), date(2027, 3, 8))
        _shift(conn, eva, north, 0, 13 * 60, 18 * 60, date(2027, 3, 9), None)
        _book(conn, north, (eva,), _at(15, 10), _at(15, 11))

    db.write(setup)
    data = rq.utilization(db, date_from="2027-03-01", date_to="2027-03-21", branch="North")
    eva = _rows(data.table("by_resource"))["Dr Eva"]
    assert _figures(eva) == (11.0, 0.0, 0.0, 1.0, 11.0, 3, 6.0)
    weeks = _pairs(data.table("by_week"))
    assert [(k, weeks[k]["available_h"]) for k in weeks] == [(("2027-03-01", "doctor"), 3.0),
                                                             (("2027-03-08", "doctor"), 3.0),
                                                             (("2027-03-15", "doctor"), 5.0)]
    assert _figures(weeks[("2027-03-15", "doctor")]) == (5.0, 0.0, 0.0, 1.0, 5.0, 1, 0.0)


# -- 6. statuses -------------------------------------------------------------------------------------------
def test_held_no_show_and_cancelled(db: Database) -> None:
    """Dr Fay, Monday 09:00-13:00 (240 min). Appointments: held 09:00-09:30, cancelled 10:00-11:00
    (confirmed, then cancelled), no_show 11:00-11:30. definitions.py: booked time is live bookings,
    appointments not cancelled or rescheduled, so held and no_show count, cancelled does not.

    - While held: booked 30 + 30 = 60 min (1.0 h) inside; utilization 0.25; idle 180 min (3.0 h); gaps
      09:30-11:00 (the cancellation frees 10:00-11:00) and 11:30-13:00 = 2.
    - An expired hold still counts until it is released (its booking stays live); once released
      (clinic_release_expired_holds cancels it): booked 30 min (0.5 h), utilization 0.125, idle 3.5 h,
      gaps 09:00-11:00 and 11:30-13:00 = 2.
    """
    ids: dict[str, int] = {}

    def setup(conn: Connection) -> None:
        north = _branch(conn, "North")
        _patient_and_service(conn)
        fay = _resource(conn, "doctor", "Dr Fay")
        _shift(conn, fay, north, 0, 9 * 60, 13 * 60)
        ids["held"] = _book(conn, north, (fay,), _at(1, 9), _at(1, 9, 30), status="held")
        cancelled = _book(conn, north, (fay,), _at(1, 10), _at(1, 11))
        conn.execute(text("UPDATE appointment SET status = 'cancelled', cancelled_by = 'patient' WHERE id = :a"),
                     {"a": cancelled})
        _book(conn, north, (fay,), _at(1, 11), _at(1, 11, 30), status="no_show")

    db.write(setup)
    fay = _rows(rq.utilization(db, **WEEK, branch="North").table("by_resource"))["Dr Fay"]
    assert _figures(fay) == (4.0, 1.0, 0.25, 0.0, 3.0, 2, 0.0)

    db.write(lambda conn: conn.execute(text("UPDATE appointment SET hold_expires_at = now() - interval '1 minute' "
                                            "WHERE id = :a"), {"a": ids["held"]}))
    fay = _rows(rq.utilization(db, **WEEK, branch="North").table("by_resource"))["Dr Fay"]
    assert _figures(fay) == (4.0, 1.0, 0.25, 0.0, 3.0, 2, 0.0)

    released = db.write(lambda conn: _one(conn, "SELECT clinic_release_expired_holds(NULL, NULL, NULL)"))
    assert released == 1
    fay = _rows(rq.utilization(db, **WEEK, branch="North").table("by_resource"))["Dr Fay"]
    assert _figures(fay) == (4.0, 0.5, 0.125, 0.0, 3.5, 2, 0.0)


# -- 7. moving a booking -----------------------------------------------------------------------------------
def test_moving_a_booking_moves_its_minutes(db: Database) -> None:
    """Dr Gus, Monday and Tuesday 09:00-12:00 (180 min each, 6.0 h). One appointment Monday 09:00-10:00.

    - Before: Monday booked 1.0 h, gaps 10:00-12:00 (1); Tuesday over-rostered 3.0 h, one gap.
      Totals: booked 1.0, utilization 60 / 360 = 0.1667, idle 5.0 h, gaps 2, over-rostered 3.0.
    - Moved (appointment and booking in one transaction) to Tuesday 10:00-11:00: the booking's
      local_day/start_min/end_min become 03-02, 600, 660. Monday is over-rostered (3.0 h), Tuesday booked
      1.0 h with gaps 09:00-10:00 and 11:00-12:00; totals: booked 1.0, idle 5.0, gaps 3, over-rostered 3.0.
    - Moved again to Tuesday 11:30-12:30: 30 min inside, 30 min after the shift (overbooked 0.5 h);
      utilization 30 / 360 = 0.0833, idle 5.5 h, gaps: Monday 1, Tuesday 09:00-11:30 = 2.
    """
    ids: dict[str, int] = {}

    def setup(conn: Connection) -> None:
        north = _branch(conn, "North")
        _patient_and_service(conn)
        gus = _resource(conn, "doctor", "Dr Gus")
        for weekday in (0, 1):
            _shift(conn, gus, north, weekday, 9 * 60, 12 * 60)
        ids["appt"] = _book(conn, north, (gus,), _at(1, 9), _at(1, 10))

    db.write(setup)

    def report() -> tuple[tuple[object, ...], dict[tuple[str, str], dict[str, object]]]:
        data = rq.utilization(db, **WEEK, branch="North")
        return _figures(_rows(data.table("by_resource"))["Dr Gus"]), _pairs(data.table("by_day"))

    gus, days = report()
    assert gus == (6.0, 1.0, 0.1667, 0.0, 5.0, 2, 3.0)
    assert (days[("2027-03-01", "doctor")]["booked_h"], days[("2027-03-02", "doctor")]["over_rostered_h"]) == (1.0, 3.0)

    def move(start: datetime, end: datetime) -> None:
        def work(conn: Connection) -> None:
            conn.execute(text("UPDATE appointment SET starts_at = :s, ends_at = :e WHERE id = :a"),
                         {"a": ids["appt"], "s": start, "e": end})
            conn.execute(text("UPDATE booking SET period = tstzrange(:s, :e) WHERE appointment_id = :a"),
                         {"a": ids["appt"], "s": start, "e": end})
        db.write(work)

    move(_at(2, 10), _at(2, 11))
    local = db.read(lambda conn: tuple(conn.execute(text(
        "SELECT local_day, start_min, end_min FROM booking WHERE appointment_id = :a"), {"a": ids["appt"]}).one()))
    assert local == (date(2027, 3, 2), 600, 660)
    gus, days = report()
    assert gus == (6.0, 1.0, 0.1667, 0.0, 5.0, 3, 3.0)
    assert _figures(days[("2027-03-01", "doctor")]) == (3.0, 0.0, 0.0, 0.0, 3.0, 1, 3.0)
    assert _figures(days[("2027-03-02", "doctor")]) == (3.0, 1.0, 0.3333, 0.0, 2.0, 2, 0.0)

    move(_at(2, 11, 30), _at(2, 12, 30))
    gus, days = report()
    assert gus == (6.0, 0.5, 0.0833, 0.5, 5.5, 2, 3.0)
    assert _figures(days[("2027-03-02", "doctor")]) == (3.0, 0.5, 0.1667, 0.5, 2.5, 1, 0.0)


# -- 8. drill-down -------------------------------------------------------------------------------------------
def test_drill_down_lists_the_live_appointments_of_a_resource(db: Database) -> None:
    """Dr Hal and Room 1 at North, Dr Ivo at North too. In the week 03-01..03-07:

    - a: Monday 09:00-10:00, Dr Hal + Room 1, confirmed        -> Hal's and the room's list
    - b: Monday 10:00-11:00, Dr Hal, cancelled                 -> in neither (not live)
    - c: Tuesday 09:00-09:30, Dr Hal, no_show                  -> Hal's list (live)
    - d: Monday 09:00-10:00, Dr Ivo                            -> not Hal's
    - e: Monday 03-08 09:00, Dr Hal (after the period)         -> not listed
    Hal's by_resource drill lists [a, c] by start; the room's lists [a]; Ivo's [d].
    """
    ids: dict[str, int] = {}

    def setup(conn: Connection) -> None:
        north = _branch(conn, "North")
        _patient_and_service(conn)
        hal, ivo = _resource(conn, "doctor", "Dr Hal"), _resource(conn, "doctor", "Dr Ivo")
        room = _resource(conn, "room", "Room 1", north)
        for weekday in (0, 1):
            _shift(conn, hal, north, weekday, 9 * 60, 12 * 60)
        ids["a"] = _book(conn, north, (hal, room), _at(1, 9), _at(1, 10))
        ids["b"] = _book(conn, north, (hal,), _at(1, 10), _at(1, 11))
        conn.execute(text("UPDATE appointment SET status = 'cancelled' WHERE id = :a"), {"a": ids["b"]})
        ids["c"] = _book(conn, north, (hal,), _at(2, 9), _at(2, 9, 30), status="no_show")
        ids["d"] = _book(conn, north, (ivo,), _at(1, 9), _at(1, 10))
        ids["e"] = _book(conn, north, (hal,), _at(8, 9), _at(8, 10))

    db.write(setup)
    res = rq.utilization(db, **WEEK, branch="North").table("by_resource")
    drills = {r[0]: d for r, d in zip(res.rows, res.drill, strict=True)}
    assert set(drills) == {"Dr Hal", "Dr Ivo", "Room 1"}

    def listed(name: str) -> list[int]:
        table = rq.drill_down(db, drills[name], **WEEK, branch="North")
        return table.column("id")

    assert listed("Dr Hal") == [ids["a"], ids["c"]]
    assert listed("Room 1") == [ids["a"]]
    assert listed("Dr Ivo") == [ids["d"]]
    hal = rq.drill_down(db, drills["Dr Hal"], **WEEK, branch="North")
    assert hal.column("start") == ["2027-03-01 09:00", "2027-03-02 09:00"]
    assert hal.column("status") == ["Confirmed", "No-show"]  # in words (domain.status.LABELS)
    assert hal.column("doctor") == ["Dr Hal", "Dr Hal"]


def test_drill_down_matches_a_booking_that_starts_the_day_before(db: Database) -> None:
    """A booking with a buffer before its appointment can start on the local date before the appointment.

    Dr Jo (no shifts). Appointment Monday 03-08 00:00-00:30 whose booking starts Sunday 03-07 23:45 (a
    15-minute buffer). definitions.py: booked time counts on the local date its minutes fall on: so the
    week 03-01..03-07 shows Dr Jo with the 15 minutes before midnight, all overbooked (0.25 h, printed
    0.2), and the drill-down of that row lists the appointment behind those minutes.
    """
    ids: dict[str, int] = {}

    def setup(conn: Connection) -> None:
        north = _branch(conn, "North")
        _patient_and_service(conn)
        jo = _resource(conn, "doctor", "Dr Jo")
        ids["a"] = _book(conn, north, (jo,), _at(8, 0), _at(8, 0, 30), booking_start=_at(7, 23, 45))

    db.write(setup)
    res = rq.utilization(db, **WEEK, branch="North").table("by_resource")
    jo = _rows(res)["Dr Jo"]
    assert (jo["available_h"], jo["booked_h"], jo["overbooked_h"]) == (0.0, 0.0, round(15 / 60, 1))
    assert rq.drill_down(db, res.drill[0], **WEEK, branch="North").column("id") == [ids["a"]]


# -- 9. a booking across midnight into the next day's own hours ----------------------------------------
def test_booking_across_midnight_into_the_next_days_hours(db: Database) -> None:
    """North is open around the clock on Monday and Tuesday (opening hours 00:00-24:00, one row per day);
    Room 24 has those hours. Bookings: Monday 23:30-Tuesday 00:30 and Tuesday 10:00-11:00.

    - Available 1440 + 1440 = 2880 min (48.0 h).
    - Booked 60 + 60 = 120 min (2.0 h), all inside opening hours (23:30-24:00 Monday, 00:00-00:30
      Tuesday, 10:00-11:00 Tuesday): overbooked 0. Utilization 120 / 2880 = 0.0417.
    - Idle 2880 - 120 = 2760 min (46.0 h). Gaps: Monday 00:00-23:30, Tuesday 00:30-10:00 and
      11:00-24:00 = 3. Over-rostered 0 (both days have bookings).
    """
    def setup(conn: Connection) -> None:
        north = _branch(conn, "North")
        _patient_and_service(conn)
        room = _resource(conn, "room", "Room 24", north)
        for weekday in (0, 1):
            _opening(conn, north, weekday, 0, 1440)
        _book(conn, north, (room,), _at(1, 23, 30), _at(2, 0, 30))
        _book(conn, north, (room,), _at(2, 10), _at(2, 11))

    db.write(setup)
    data = rq.utilization(db, **WEEK, branch="North")
    room = _rows(data.table("by_resource"))["Room 24"]
    assert _figures(room) == (48.0, 2.0, round(120 / 2880, 4), 0.0, 46.0, 3, 0.0)
