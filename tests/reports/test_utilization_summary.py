"""The utilization summary (migration 0008): what marks resource-days stale, what a refresh does, and that the
report reads the summary where nothing changed and works the rest out live.

Setting (as in test_utilization_edges.py): branch North, America/Sao_Paulo (no daylight saving in 2027),
Dr Fay on Mondays and Tuesdays 09:00-13:00; week Monday 2027-03-01 .. Sunday 03-07; the refreshes take
"today" as 2027-03-01, so the summary covers 2026-02-26 (today - 400 days, before any booking) to
2028-04-04 (today + 400 days, inclusive).
"""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from reception_app import cli
from reception_app.services import reports as rq
from reception_app.store.database import Database
from tests.reports.test_utilization_edges import (
    WEEK,
    _at,
    _book,
    _branch,
    _figures,
    _opening,
    _patient_and_service,
    _resource,
    _rows,
    _shift,
)

TODAY = date(2027, 3, 1)


def _stale(db: Database) -> list[tuple[object, object, object, object]]:
    """The stale entries as (resource name or None, branch name or None, first day, day after the last)."""
    return db.read(lambda conn: [tuple(r) for r in conn.execute(text(
        "SELECT r.name, b.name, lower(s.days), upper(s.days) FROM utilization_stale s "
        "LEFT JOIN resource r ON r.id = s.resource_id LEFT JOIN branch b ON b.id = s.branch_id ORDER BY s.id"))])


def _clear(db: Database) -> None:
    db.write(lambda conn: conn.execute(text("DELETE FROM utilization_stale")))


@pytest.fixture
def fay(db: Database) -> dict[str, int]:
    ids: dict[str, int] = {}

    def setup(conn: Connection) -> None:
        ids["north"] = _branch(conn, "North")
        _patient_and_service(conn)
        ids["fay"] = _resource(conn, "doctor", "Dr Fay")
        ids["room"] = _resource(conn, "room", "Room 1", ids["north"])
        _shift(conn, ids["fay"], ids["north"], 0, 9 * 60, 13 * 60)
        _shift(conn, ids["fay"], ids["north"], 1, 9 * 60, 13 * 60)
        ids["monday"] = _book(conn, ids["north"], (ids["fay"],), _at(1, 9), _at(1, 10))

    db.write(setup)
    return ids


# -- what marks resource-days stale --------------------------------------------------------------------------
def test_bookings_mark_their_resource_and_days(db: Database, fay: dict[str, int]) -> None:
    """A booking marks its resource on its local day; one past midnight also the next day. Confirming a
    hold (hold_until only) marks nothing; a cancellation (live off) and a deletion mark the day again;
    TRUNCATE marks everything."""
    assert ("Dr Fay", None, date(2027, 3, 1), date(2027, 3, 2)) in _stale(db)
    _clear(db)
    held = db.write(lambda conn: _book(conn, fay["north"], (fay["fay"],), _at(2, 22), _at(3, 1), status="held"))
    assert _stale(db) == [("Dr Fay", None, date(2027, 3, 2), date(2027, 3, 4))]
    _clear(db)
    db.write(lambda conn: conn.execute(text(
        "UPDATE appointment SET status = 'confirmed', hold_expires_at = NULL WHERE id = :a"), {"a": held}))
    assert _stale(db) == []
    db.write(lambda conn: conn.execute(text(
        "UPDATE appointment SET status = 'cancelled', cancelled_by = 'patient' WHERE id = :a"), {"a": fay["monday"]}))
    assert _stale(db) == [("Dr Fay", None, date(2027, 3, 1), date(2027, 3, 2))]
    _clear(db)
    db.write(lambda conn: conn.execute(text("DELETE FROM booking WHERE appointment_id = :a"), {"a": held}))
    assert _stale(db) == [("Dr Fay", None, date(2027, 3, 2), date(2027, 3, 4))]
    _clear(db)
    db.write(lambda conn: conn.execute(text("TRUNCATE booking CASCADE")))
    assert _stale(db) == [(None, None, None, None)]


def test_roster_changes_mark_what_they_change(db: Database, fay: dict[str, int]) -> None:
    """A shift: its validity and a day after (its overnight part); time off: its UTC dates widened by a day
    each side; a holiday: its date and the next; opening hours and a branch's zone: the branch, all days;
    a resource's kind, branch or active flag: the resource, all days; its name: nothing."""
    _clear(db)

    def change(conn: Connection) -> None:
        _shift(conn, fay["fay"], fay["north"], 2, 600, 660, date(2027, 3, 3), date(2027, 3, 31))
        conn.execute(text("INSERT INTO time_off (resource_id, period, kind, reason) VALUES (:r, tstzrange(:s, :e), "
                          "'leave', 'x')"), {"r": fay["fay"], "s": _at(8, 9), "e": _at(8, 12)})
        conn.execute(text("INSERT INTO holiday (branch_id, local_date, name) VALUES (:b, '2027-03-09', 'Carnival')"),
                     {"b": fay["north"]})
        _opening(conn, fay["north"], 0, 480, 1080)
        conn.execute(text("UPDATE branch SET timezone = 'America/Bahia' WHERE id = :b"), {"b": fay["north"]})
        conn.execute(text("UPDATE resource SET active = false WHERE id = :r"), {"r": fay["room"]})
        conn.execute(text("UPDATE resource SET name = 'Room One' WHERE id = :r"), {"r": fay["room"]})

    db.write(change)
    stale = set(_stale(db))
    assert {("Dr Fay", None, date(2027, 3, 3), date(2027, 4, 2)),       # shift 03-03..03-31, + 1 day
            ("Dr Fay", None, date(2027, 3, 7), date(2027, 3, 10)),      # time off on 03-08 (UTC 12:00-15:00)
            (None, "North", date(2027, 3, 9), date(2027, 3, 11)),       # holiday
            (None, "North", None, None),                                # opening hours; zone
            ("Room One", None, None, None)} <= stale                    # deactivated
    # the zone change moves the branch's bookings' local columns: their resources are marked too
    assert all(name in ("Dr Fay", "Room One", None) for name, *_ in stale)


# -- the refresh ---------------------------------------------------------------------------------------------
def test_refresh_covers_the_horizon_and_clears_what_it_saw(db: Database, fay: dict[str, int]) -> None:
    done = rq.refresh_utilization(db, today=TODAY)
    assert done["skipped"] is False and done["stale_entries"] >= 1
    assert done["covered"] == (TODAY - timedelta(days=400), TODAY + timedelta(days=401))
    # every Monday and Tuesday of the covered days has a row for Dr Fay (240 available minutes)
    rows = db.read(lambda conn: conn.execute(text(
        "SELECT count(*), min(avail_min), max(avail_min), sum(in_min) FROM utilization_day WHERE resource_id = :r"),
        {"r": fay["fay"]}).one())
    weeks = (done["covered"][1] - done["covered"][0]).days / 7
    assert abs(rows[0] - 2 * weeks) <= 2 and rows[1] == rows[2] == 240 and rows[3] == 60
    assert _stale(db) == [] and done["resource_days"] == rows[0]
    again = rq.refresh_utilization(db, today=TODAY)
    assert (again["resource_days"], again["stale_entries"]) == (0, 0)
    # a day later the summary grows by that day only
    later = rq.refresh_utilization(db, today=TODAY + timedelta(days=7))
    assert later["covered"] == (TODAY - timedelta(days=400), TODAY + timedelta(days=408))
    assert later["resource_days"] == 2        # the new Monday and Tuesday


def test_the_report_reads_the_summary_where_nothing_changed(db: Database, fay: dict[str, int]) -> None:
    """A summary row altered by hand shows in the report (so it is read); once a booking makes that
    resource-day stale, the report works it out live again (09:00-10:00 and 11:00-12:00 booked: 2.0 h of
    8.0 h; idle gaps Monday 10:00-11:00 and 12:00-13:00, Tuesday 09:00-13:00; Tuesday 4.0 h over-rostered),
    and the next refresh puts the right figures back."""
    rq.refresh_utilization(db, today=TODAY)
    db.write(lambda conn: conn.execute(text(
        "UPDATE utilization_day SET avail_min = avail_min + 600 WHERE resource_id = :r AND local_day = '2027-03-01'"),
        {"r": fay["fay"]}))
    row = _rows(rq.utilization(db, **WEEK).table("by_resource"))["Dr Fay"]
    assert row["available_h"] == 18.0

    db.write(lambda conn: _book(conn, fay["north"], (fay["fay"],), _at(1, 11), _at(1, 12)))
    row = _rows(rq.utilization(db, **WEEK).table("by_resource"))["Dr Fay"]
    assert _figures(row) == (8.0, 2.0, 0.25, 0.0, 6.0, 3, 4.0)
    rq.refresh_utilization(db, today=TODAY)
    assert db.read(lambda conn: conn.execute(text(
        "SELECT avail_min, in_min FROM utilization_day WHERE resource_id = :r AND local_day = '2027-03-01'"),
        {"r": fay["fay"]}).one()) == (240, 120)
    assert _figures(_rows(rq.utilization(db, **WEEK).table("by_resource"))["Dr Fay"]) == _figures(row)


def test_a_branch_wide_change_and_days_outside_the_summary_are_worked_out_live(db: Database,
                                                                               fay: dict[str, int]) -> None:
    """A holiday added after the refresh (a branch-wide stale entry) removes Monday at once (its 09:00-10:00
    booking is now overbooked; Tuesday is all that is available, unbooked); a period
    reaching past the covered days (2028-04-04) is worked out live there: Dr Fay's Mondays and Tuesdays."""
    rq.refresh_utilization(db, today=TODAY)
    db.write(lambda conn: conn.execute(text(
        "INSERT INTO holiday (branch_id, local_date, name) VALUES (:b, '2027-03-01', 'Carnival')"), {"b": fay["north"]}))
    row = _rows(rq.utilization(db, **WEEK).table("by_resource"))["Dr Fay"]
    assert _figures(row) == (4.0, 0.0, 0.0, 1.0, 4.0, 1, 4.0)

    beyond = rq.utilization(db, date_from="2028-03-27", date_to="2028-04-11")   # Mon 03-27 .. Tue 04-11
    assert _rows(beyond.table("by_resource"))["Dr Fay"]["available_h"] == 6 * 4.0


def test_a_booking_committed_during_a_refresh_stays_stale(db: Database, db_url: str, fay: dict[str, int]) -> None:
    """A booking whose transaction is still open while a refresh runs (its stale entry has a lower id than
    one the refresh clears) is not in the refresh's snapshot: its stale entry outlives the refresh, so
    the report counts it (live) and the next refresh settles it."""
    rq.refresh_utilization(db, today=TODAY)
    with psycopg.connect(db_url) as other:
        other.execute("INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source, "
                      "booked_at) SELECT min(p.id), min(s.id), %s, 'confirmed', %s, %s, 'phone', now() "
                      "FROM patient p, service s", (fay["north"], _at(2, 9), _at(2, 10)))
        other.execute("INSERT INTO booking (appointment_id, resource_id, period) SELECT max(id), %s, "
                      "tstzrange(%s, %s) FROM appointment", (fay["fay"], _at(2, 9), _at(2, 10)))
        db.write(lambda conn: _book(conn, fay["north"], (fay["fay"],), _at(8, 9), _at(8, 10)))
        done = rq.refresh_utilization(db, today=TODAY)
        assert (done["stale_entries"], done["resource_days"]) == (1, 1)
        other.commit()
    assert _stale(db) == [("Dr Fay", None, date(2027, 3, 2), date(2027, 3, 3))]
    assert _rows(rq.utilization(db, **WEEK).table("by_resource"))["Dr Fay"]["booked_h"] == 2.0
    assert rq.refresh_utilization(db, today=TODAY)["stale_entries"] == 1
    assert _stale(db) == []
    assert _rows(rq.utilization(db, **WEEK).table("by_resource"))["Dr Fay"]["booked_h"] == 2.0


def test_one_refresh_at_a_time(db: Database, db_url: str, fay: dict[str, int]) -> None:
    with psycopg.connect(db_url) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (rq.REFRESH_LOCK,))
        assert rq.refresh_utilization(db, today=TODAY) == {"skipped": True, "covered": None, "resource_days": 0,
                                                          "stale_entries": 0}
    assert rq.refresh_utilization(db, today=TODAY)["skipped"] is False


def test_clerks_write_stale_entries_only_through_their_bookings(login, clinic_db: Database) -> None:
    """Reception may read the summary tables but not write them; its bookings still record staleness
    (SECURITY DEFINER triggers)."""
    _, desk = login("reception")
    assert desk.read(lambda conn: conn.execute(text("SELECT count(*) FROM utilization_day")).scalar()) == 0
    from reception_app.domain.errors import PermissionDenied
    with pytest.raises(PermissionDenied):
        desk.write(lambda conn: conn.execute(text(
            "INSERT INTO utilization_stale (resource_id, branch_id, days) VALUES (NULL, NULL, '(,)')")))


def test_clinic_db_refresh_command(db: Database, db_url: str, fay: dict[str, int],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--database", db_url, "db", "refresh"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("utilization summary: ") and "resource-days recomputed" in out
    assert db.read(lambda conn: conn.execute(text("SELECT refreshed_at IS NOT NULL FROM utilization_summary"))
                   .scalar()) is True
