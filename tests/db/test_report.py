"""The no-show report (services/reports.py) against a real PostgreSQL.

A hand-built fixture with known weekdays, lead times, ages, reminders,
branches (two zones, so local and UTC dates differ) and statuses, with every
expected figure worked out by hand; then consistency checks on the imported
sample.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from reception_app.domain.errors import NotFound, ValidationError
from reception_app.services.importer import import_noshow_csv
from reception_app.services.reports import AGE_BANDS, LEAD_TIME_BANDS, WEEKDAYS, no_show_report, rate
from reception_app.store.database import Database
from tests.conftest import DATA

SP = ZoneInfo("America/Sao_Paulo")   # UTC-3 all year since 2019
TOKYO = ZoneInfo("Asia/Tokyo")       # UTC+9

# (key, branch, local start, local booked_at, patient, status, patient_age_years)
APPOINTMENTS = [
    # A1 Mon, lead 0, age 36 (18-39), SMS sent
    ("A1", "North", datetime(2027, 3, 1, 10, 0), datetime(2027, 3, 1, 8, 0), "P1", "completed", None),
    # A2 Tue 22:30 local = Wed 01:30 UTC; lead 3 (3-7); age 11 (birthday the next day); SMS only pending
    ("A2", "North", datetime(2027, 3, 2, 22, 30), datetime(2027, 2, 27, 9, 0), "P2", "no_show", None),
    # A3 Mon 08:00 Tokyo = Sun 23:00 UTC; lead 59 (31+); no birth date (unknown); e-mail reminder only
    ("A3", "Tokyo", datetime(2027, 3, 1, 8, 0), datetime(2027, 1, 1, 12, 0), "P3", "no_show", None),
    # A4 Fri; booked after the appointment (negative); source age 65 wins over the birth date (60+); SMS sent
    ("A4", "Tokyo", datetime(2027, 3, 5, 9, 0), datetime(2027, 3, 6, 10, 0), "P4", "completed", 65),
    # A5 cancelled, A6 confirmed: outcome unknown, never counted
    ("A5", "North", datetime(2027, 3, 3, 10, 0), datetime(2027, 3, 1, 10, 0), "P1", "cancelled", None),
    ("A6", "North", datetime(2027, 3, 4, 10, 0), datetime(2027, 3, 1, 10, 0), "P1", "confirmed", None),
    # A7 Sun; lead 10 (8-14); age 12 (12-17)
    ("A7", "North", datetime(2027, 3, 7, 9, 0), datetime(2027, 2, 25, 9, 0), "P2", "no_show", None),
    # A8 Mon; lead 19 (15-30); age 36
    ("A8", "North", datetime(2027, 3, 1, 11, 0), datetime(2027, 2, 10, 9, 0), "P1", "completed", None),
    # A9 Tue; lead 1 (1-2); age 47 (40-59)
    ("A9", "Tokyo", datetime(2027, 3, 2, 9, 0), datetime(2027, 3, 1, 9, 0), "P4b", "completed", None),
]
PATIENTS = {"P1": date(1990, 6, 15), "P2": date(2015, 3, 3), "P3": None, "P4": date(1997, 1, 1),
            "P4b": date(1980, 1, 1)}
# (appointment, channel, status)
REMINDERS = [("A1", "sms", "sent"), ("A2", "sms", "pending"), ("A3", "email", "sent"), ("A4", "sms", "sent"),
             ("A5", "sms", "sent")]


def cell(n: int, ns: int, r: float) -> dict:
    return {"appointments": n, "no_shows": ns, "rate": r}


@pytest.fixture
def small(db: Database) -> Database:
    def work(conn: Connection) -> None:
        zones = {"North": "America/Sao_Paulo", "Tokyo": "Asia/Tokyo"}
        branch = {n: conn.execute(text("INSERT INTO branch (name, timezone) VALUES (:n, :z) RETURNING id"),
                                  {"n": n, "z": z}).scalar_one() for n, z in zones.items()}
        service = conn.execute(text("INSERT INTO service (name, duration_min) VALUES ('Visit', 15) "
                                    "RETURNING id")).scalar_one()
        patient = {k: conn.execute(text("INSERT INTO patient (display_name, birth_date) VALUES (:n, :b) "
                                        "RETURNING id"), {"n": f"Patient {k}", "b": b}).scalar_one()
                   for k, b in PATIENTS.items()}
        ids = {}
        for key, br, start, booked, pat, status, age in APPOINTMENTS:
            tz = SP if br == "North" else TOKYO
            s = start.replace(tzinfo=tz)
            ids[key] = conn.execute(text(
                "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, "
                "source, booked_at, patient_age_years) VALUES (:p, :s, :b, :st, :start, "
                ":start + interval '15 minutes', 'phone', :booked, :age) RETURNING id"),
                {"p": patient[pat], "s": service, "b": branch[br], "st": status, "start": s,
                 "booked": booked.replace(tzinfo=tz), "age": age}).scalar_one()
        for key, channel, status in REMINDERS:
            conn.execute(text(
                "INSERT INTO reminder (appointment_id, channel, purpose, due_at, status) "
                "VALUES (:a, :c, 'reminder', now(), :s)"), {"a": ids[key], "c": channel, "s": status})

    db.write(work)
    return db


def test_hand_computed_figures(small: Database) -> None:
    report = no_show_report(small)
    assert report["total"] == cell(7, 3, 0.4286)
    by = report["by"]
    assert list(by) == ["weekday", "lead_time", "sms_reminder", "age", "branch"]
    assert by["weekday"] == {
        "Monday": cell(3, 1, 0.3333), "Tuesday": cell(2, 1, 0.5), "Wednesday": cell(0, 0, 0.0),
        "Thursday": cell(0, 0, 0.0), "Friday": cell(1, 0, 0.0), "Saturday": cell(0, 0, 0.0),
        "Sunday": cell(1, 1, 1.0)}
    assert by["lead_time"] == {
        "negative": cell(1, 0, 0.0), "0": cell(1, 0, 0.0), "1-2": cell(1, 0, 0.0), "3-7": cell(1, 1, 1.0),
        "8-14": cell(1, 1, 1.0), "15-30": cell(1, 0, 0.0), "31+": cell(1, 1, 1.0)}
    assert by["sms_reminder"] == {"sms": cell(2, 0, 0.0), "no_sms": cell(5, 3, 0.6)}
    assert by["age"] == {
        "0-11": cell(1, 1, 1.0), "12-17": cell(1, 1, 1.0), "18-39": cell(2, 0, 0.0), "40-59": cell(1, 0, 0.0),
        "60+": cell(1, 0, 0.0), "unknown": cell(1, 1, 1.0)}
    assert by["branch"] == {"North": cell(4, 2, 0.5), "Tokyo": cell(3, 1, 0.3333)}
    # canonical order, not insertion or alphabetical order
    assert list(by["weekday"]) == list(WEEKDAYS)
    assert list(by["lead_time"]) == list(LEAD_TIME_BANDS)
    assert list(by["age"]) == list(AGE_BANDS)


def test_local_date_filtering(small: Database) -> None:
    # A3 starts on Sunday 28 Feb in UTC but Monday 1 March in Tokyo: it belongs to 1 March.
    one_day = no_show_report(small, date_from="2027-03-01", date_to="2027-03-01")
    assert one_day["total"] == cell(3, 1, 0.3333)
    assert one_day["by"]["branch"] == {"North": cell(2, 0, 0.0), "Tokyo": cell(1, 1, 1.0)}
    # A2 is 2 March in São Paulo although 3 March in UTC.
    mid = no_show_report(small, date_from=date(2027, 3, 2), date_to=date(2027, 3, 5))
    assert mid["total"] == cell(3, 1, 0.3333)
    assert mid["by"]["weekday"]["Tuesday"] == cell(2, 1, 0.5)
    assert mid["by"]["weekday"]["Friday"] == cell(1, 0, 0.0)
    assert no_show_report(small, date_from="2027-03-03")["total"] == cell(2, 1, 0.5)   # A4, A7
    assert no_show_report(small, date_to="2027-03-02")["total"] == cell(5, 2, 0.4)     # A1, A2, A3, A8, A9
    nothing = no_show_report(small, date_to="2027-02-28")
    assert nothing["total"] == cell(0, 0, 0.0)
    assert nothing["by"]["branch"] == {}
    assert nothing["by"]["weekday"]["Sunday"] == cell(0, 0, 0.0)


def test_birth_date_after_the_appointment_is_unknown_age(small: Database) -> None:
    def work(conn: Connection) -> None:
        conn.execute(text(
            "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source, "
            "booked_at) SELECT p.id, s.id, b.id, 'completed', :t, :t + interval '15 minutes', 'phone', :t "
            "FROM branch b, service s, patient p WHERE b.name = 'North' AND p.display_name = 'Patient P1'"),
            {"t": datetime(2027, 3, 20, 10, 0, tzinfo=SP)})
        conn.execute(text("UPDATE patient SET birth_date = '2027-06-01' WHERE display_name = 'Patient P1'"))

    small.write(work)
    saturday = no_show_report(small, date_from="2027-03-20", date_to="2027-03-20")
    assert saturday["by"]["age"]["unknown"] == cell(1, 0, 0.0)
    assert saturday["by"]["weekday"]["Saturday"] == cell(1, 0, 0.0)


def test_branch_filter(small: Database) -> None:
    tokyo = no_show_report(small, branch="Tokyo")
    assert tokyo["total"] == cell(3, 1, 0.3333)
    assert tokyo["by"]["branch"] == {"Tokyo": cell(3, 1, 0.3333)}
    assert no_show_report(small, branch="north")["total"] == cell(4, 2, 0.5)  # case-insensitive fallback
    with pytest.raises(NotFound):
        no_show_report(small, branch="Nowhere")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"date_from": "2027-13-01"}, "from"),
    ({"date_from": "yesterday"}, "from"),
    ({"date_to": "2027-02-30"}, "to"),
    ({"date_from": "2027-03-05", "date_to": "2027-03-01"}, "to"),
])
def test_bad_dates(db: Database, kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        no_show_report(db, **kwargs)
    assert err.value.field == field


def test_rate_rounds_half_up_exactly() -> None:
    assert rate(0, 0) == 0.0
    assert rate(1, 3) == 0.3333
    assert rate(2, 3) == 0.6667
    assert rate(3, 20000) == 0.0002   # 0.00015 exactly: half-up (float round() would give 0.0001)
    assert rate(1, 20000) == 0.0001   # 0.00005
    assert rate(7, 7) == 1.0


def test_imported_sample_is_consistent(db: Database) -> None:
    import_noshow_csv(db, DATA / "noshow_sample.csv")
    report = no_show_report(db)
    total = report["total"]
    assert (total["appointments"], total["no_shows"]) == (986, 221)
    for group, cells in report["by"].items():
        assert sum(c["appointments"] for c in cells.values()) == total["appointments"], group
        assert sum(c["no_shows"] for c in cells.values()) == total["no_shows"], group
        for label, c in cells.items():
            exact = (Decimal(c["no_shows"]) / Decimal(c["appointments"])).quantize(
                Decimal("0.0001"), rounding=ROUND_HALF_UP) if c["appointments"] else Decimal(0)
            assert c["rate"] == float(exact), (group, label)
    by = report["by"]
    assert by["sms_reminder"]["sms"]["appointments"] == 189
    assert by["lead_time"]["negative"] == cell(1, 1, 1.0)  # AppointmentID 5679978
    assert by["age"]["unknown"]["appointments"] == 0       # every imported row has the source's age
    assert by["weekday"]["Monday"]["appointments"] == 423  # 2016-05-09
    assert len(by["branch"]) == 8
    # the same figures straight from SQL for one group
    mondays = db.read(lambda c: c.execute(text(
        "SELECT count(*), count(*) FILTER (WHERE status = 'no_show') FROM appointment a JOIN branch b "
        "ON b.id = a.branch_id WHERE extract(isodow FROM a.starts_at AT TIME ZONE b.timezone) = 1")).one())
    assert (by["weekday"]["Monday"]["appointments"], by["weekday"]["Monday"]["no_shows"]) == tuple(mondays)
    may10 = no_show_report(db, date_from="2016-05-10", date_to="2016-05-10")
    assert may10["total"]["appointments"] == 353
    assert may10["by"]["weekday"]["Tuesday"] == may10["total"]
