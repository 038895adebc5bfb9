"""Manager reports (issue 6): figures on a hand-built fixture, the PDF's text, the CSV re-read,
and a run on the imported Vitória sample."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from reception_app.domain.errors import ValidationError
from reception_app.domain.report_definitions import DEFINITIONS
from reception_app.reports.csv_export import report_csv, table_csv
from reception_app.reports.manager_pdf import report_pdf
from reception_app.services import reports as rq
from reception_app.services.importer import import_noshow_csv
from reception_app.store.database import Database
from tests.conftest import DATA

SP = ZoneInfo("America/Sao_Paulo")   # UTC-3

# (key, local start, status, cancelled_by, late, reason, booked hours before start)
ROWS = [
    ("A1", datetime(2027, 3, 1, 9, 0), "completed", None, None, None, 48),     # Mon 09h
    ("A2", datetime(2027, 3, 1, 10, 0), "no_show", None, None, None, 48),      # Mon 10h
    ("A3", datetime(2027, 3, 2, 9, 0), "no_show", None, None, None, 2),        # Tue 09h, lead 0
    ("A4", datetime(2027, 3, 2, 22, 30), "completed", None, None, None, 24),   # Tue 22:30 local = Wed UTC
    ("A5", datetime(2027, 3, 3, 9, 0), "cancelled", "patient", True, "sick", 24),
    ("A6", datetime(2027, 3, 3, 10, 0), "cancelled", "clinic", False, "doctor away", 24),
    ("A7", datetime(2027, 3, 4, 9, 0), "cancelled", "patient", False, "sick", 24),
    ("A8", datetime(2027, 3, 4, 11, 0), "confirmed", None, None, None, 24),
]


@pytest.fixture
def small(db: Database) -> Database:
    def work(conn: Connection) -> None:
        branch = conn.execute(text("INSERT INTO branch (name, timezone) VALUES ('North', 'America/Sao_Paulo') "
                                   "RETURNING id")).scalar_one()
        service = conn.execute(text("INSERT INTO service (name, duration_min) VALUES ('Visit', 30) "
                                    "RETURNING id")).scalar_one()
        doctor = conn.execute(text("INSERT INTO resource (kind, name, category) VALUES ('doctor', 'Dr Ana', 'gp') "
                                   "RETURNING id")).scalar_one()
        patient = conn.execute(text("INSERT INTO patient (display_name, birth_date) VALUES ('P', '1990-01-01') "
                                    "RETURNING id")).scalar_one()
        for _key, start, status, by, late, reason, lead_h in ROWS:
            s = start.replace(tzinfo=SP)
            first = "confirmed" if status in ("cancelled",) else status
            aid = conn.execute(text(
                "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source, "
                "booked_at) VALUES (:p, :s, :b, :st, :t, :t + interval '30 minutes', 'phone', "
                ":t - make_interval(hours => :lead)) RETURNING id"),
                {"p": patient, "s": service, "b": branch, "st": first, "t": s, "lead": lead_h}).scalar_one()
            conn.execute(text("INSERT INTO booking (appointment_id, resource_id, period) VALUES "
                              "(:a, :r, tstzrange(:t, :t + interval '30 minutes'))"), {"a": aid, "r": doctor, "t": s})
            if status == "cancelled":
                conn.execute(text(
                    "UPDATE appointment SET status = 'cancelled', cancelled_by = :by, status_reason = :r, "
                    "cancelled_at = CASE WHEN :late THEN starts_at - interval '1 hour' "
                    "ELSE starts_at - interval '3 days' END WHERE id = :a"),
                    {"by": by, "r": reason, "late": late, "a": aid})

    db.write(work)
    return db


def rows_of(table: rq.Table) -> dict:
    return {r[0]: r[1:] for r in table.rows}


def test_no_show_figures(small: Database) -> None:
    r = rq.no_show(small, date_from="2027-03-01", date_to="2027-03-07")
    assert r.summary == {"appointments": 4, "no_shows": 2, "rate": 0.5}
    wd = rows_of(r.table("by_weekday"))
    assert wd["Monday"] == (2, 1, 0.5)
    assert wd["Tuesday"] == (2, 1, 0.5)       # A4 is Tuesday locally although Wednesday in UTC
    assert wd["Wednesday"] == (0, 0, None)        # no appointments: no rate (printed empty)
    hours = rows_of(r.table("by_hour"))
    assert hours == {"09:00": (2, 1, 0.5), "10:00": (1, 1, 1.0), "22:00": (1, 0, 0.0)}
    assert rows_of(r.table("by_doctor")) == {"Dr Ana": (4, 2, 0.5)}
    assert rows_of(r.table("by_lead_time"))["same day"] == (1, 1, 1.0)
    assert rows_of(r.table("by_source")) == {"Phone": (4, 2, 0.5)}
    assert rows_of(r.table("trend")) == {"2027-03-01": (4, 2, 0.5)}
    # drill-down from Monday lists A1 and A2
    monday = r.table("by_weekday").drill[0]
    listed = rq.drill_down(small, monday, date_from="2027-03-01", date_to="2027-03-07")
    assert [row[1] for row in listed.rows] == ["2027-03-01 09:00", "2027-03-01 10:00"]


def test_cancellation_figures(small: Database) -> None:
    r = rq.cancellations(small, date_from="2027-03-01", date_to="2027-03-07")
    assert r.summary == {"cancelled_or_rescheduled": 3, "late": 1, "lost": 3}
    assert rows_of(r.table("by_reason")) == {"sick": (2, 0.6667), "doctor away": (1, 0.3333)}
    assert rows_of(r.table("by_timing")) == {"early": (2, 0.6667), "late": (1, 0.3333), "rescheduled": (0, 0.0)}
    assert rows_of(r.table("by_who")) == {"patient": (2, 0.6667), "clinic": (1, 0.3333)}
    late = r.table("by_timing").drill[1]
    listed = rq.drill_down(small, late, date_from="2027-03-01", date_to="2027-03-07")
    assert [row[1] for row in listed.rows] == ["2027-03-03 09:00"]


def test_load_figures(small: Database) -> None:
    r = rq.load(small, date_from="2027-03-01", date_to="2027-03-07")
    assert r.summary == {"bookings": 5}             # cancelled ones left out
    assert rows_of(r.table("by_doctor")) == {"Dr Ana": (5, 2.5, 3, 1.7)}   # Mon, Tue, Thu: 5 / 3 days
    heat = rows_of(r.table("heat_all"))
    assert heat["09:00"] == (1, 1, 0, 0, 0, 0, 0)
    assert heat["22:00"] == (0, 1, 0, 0, 0, 0, 0)


def test_load_days_worked_across_the_week_words(db: Database) -> None:
    """Days worked over the longest period (1,098 local days = 157 weeks): load.sql keeps a group's weeks
    as bits of 64-week words, so weeks 63/64 and 127/128 sit in different words and week 156 in the
    third; two bookings on one day count one day, and bookings at the same weekday and hour in
    different words are one heatmap cell."""
    d_from = datetime(2025, 1, 1)                    # a Wednesday; week i = local days 7i..7i+6 from it
    days = [0, 7 * 63, 7 * 64, 7 * 127, 7 * 128, 7 * 156 + 1]
    starts = [d_from + timedelta(days=d, hours=9) for d in days] + [d_from + timedelta(days=7 * 64, hours=10)]

    def work(conn: Connection) -> None:
        branch = conn.execute(text("INSERT INTO branch (name, timezone) VALUES ('North', 'America/Sao_Paulo') "
                                   "RETURNING id")).scalar_one()
        service = conn.execute(text("INSERT INTO service (name, duration_min) VALUES ('Visit', 30) "
                                    "RETURNING id")).scalar_one()
        doctor = conn.execute(text("INSERT INTO resource (kind, name, category) VALUES ('doctor', 'Dr Ana', 'gp') "
                                   "RETURNING id")).scalar_one()
        patient = conn.execute(text("INSERT INTO patient (display_name) VALUES ('P') RETURNING id")).scalar_one()
        for start in starts:
            t = start.replace(tzinfo=SP)
            aid = conn.execute(text(
                "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source, "
                "booked_at) VALUES (:p, :s, :b, 'completed', :t, :t + interval '30 minutes', 'phone', "
                ":t - interval '2 days') RETURNING id"), {"p": patient, "s": service, "b": branch, "t": t}).scalar_one()
            conn.execute(text("INSERT INTO booking (appointment_id, resource_id, period) VALUES "
                              "(:a, :r, tstzrange(:t, :t + interval '30 minutes'))"), {"a": aid, "r": doctor, "t": t})

    db.write(work)
    r = rq.load(db, date_from="2025-01-01", date_to="2028-01-03")
    assert r.summary == {"bookings": 7}
    assert rows_of(r.table("by_doctor")) == {"Dr Ana": (7, 3.5, 6, 1.2)}     # 7 bookings on 6 days
    weekdays = {(d_from + timedelta(days=d)).weekday() for d in days}
    heat = rows_of(r.table("heat_all"))
    assert set(heat) == {"09:00", "10:00"}
    assert sum(heat["09:00"]) == 6 and heat["09:00"][2] == 5 and len(weekdays) == 2   # five Wednesdays
    assert heat["10:00"] == (0, 0, 1, 0, 0, 0, 0)


def test_pdf_text_and_csv(small: Database) -> None:
    r = rq.no_show(small, date_from="2027-03-01", date_to="2027-03-07")
    pdf = report_pdf(r, clinic="Test Clinic", printed_by="maria",
                     printed_at=datetime(2027, 3, 8, 12, 0, tzinfo=UTC), tz=SP)
    doc = pdfium.PdfDocument(pdf)
    pages = [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    whole = "\n".join(pages)
    assert "Test Clinic" in pages[0] and "No-show report" in pages[0] and "2027-03-01 to 2027-03-07" in pages[0]
    assert "Printed by maria at 2027-03-08 09:00 UTC-03:00" in pages[0]
    assert f"Page 1 of {len(pages)}" in pages[0]
    assert "Dr Ana" in whole and "50.0%" in whole
    assert "No-show: the patient did not come" in whole.replace("\r\n", " ").replace("\n", " ")
    parsed = list(csv.reader(io.StringIO(table_csv(r.table("by_weekday")))))
    assert parsed[0] == ["label", "appointments", "no_shows", "rate"]
    assert parsed[1] == ["Monday", "2", "1", "0.5"]
    assert DEFINITIONS["no_show"] in report_csv(r)


def test_bad_input(small: Database) -> None:
    with pytest.raises(ValidationError) as err:
        rq.no_show(small, date_from="2027-03-05", date_to="2027-03-01")
    assert err.value.field == "to"
    with pytest.raises(ValidationError) as err:
        rq.run_report(small, "nope", date_from="2027-03-01", date_to="2027-03-02")
    assert err.value.field == "report"
    with pytest.raises(ValidationError):
        rq.drill_down(small, {"bogus": 1}, date_from="2027-03-01", date_to="2027-03-02")


def test_every_report_on_the_vitoria_sample(db: Database) -> None:
    import_noshow_csv(db, DATA / "noshow_sample.csv")
    for name in rq.REPORTS:
        r = rq.run_report(db, name, date_from="2016-04-29", date_to="2016-05-31")
        assert r.tables and r.definitions
        pdf = report_pdf(r, clinic="Vitória", printed_by="t", printed_at=datetime(2027, 1, 1, tzinfo=UTC), tz=UTC)
        assert pdf.startswith(b"%PDF")
    ns = rq.no_show(db, date_from="2016-04-29", date_to="2016-05-31")
    assert (ns.summary["appointments"], ns.summary["no_shows"]) == (986, 221)   # as reports.no_show_report
    assert sum(r[1] for r in ns.table("by_branch").rows) == 986


def test_pdf_prints_only_pdf_tables_and_long_tables_plainly() -> None:
    from datetime import date

    cols = [rq.Column("label", "Resource"), rq.Column("hours", "Hours", "hours")]
    long = rq.Table("long", "Long table", cols, [(f"Room {i:03d}", i / 10) for i in range(200)])
    short = rq.Table("short", "Short table", cols, [("Dr Ana", 1.5)])
    skipped = rq.Table("by_day", "Per-day table", cols, [("2027-03-01", 2.0)])
    data = rq.ReportData("utilization", "Utilization", date(2027, 3, 1), date(2027, 3, 7), None,
                         [short, long, skipped], [], ["A definition."], pdf_tables=["short", "long"])
    pdf = report_pdf(data, clinic="C", printed_by="t", printed_at=datetime(2027, 3, 8, tzinfo=UTC), tz=UTC)
    doc = pdfium.PdfDocument(pdf)
    whole = "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    assert "Room 000" in whole and "Room 199" in whole and "19.9" in whole and "Dr Ana" in whole
    assert "2027-03-01 " not in whole.replace("2027-03-01 to", "")
    assert "Not printed (in the CSV export and on screen): Per-day table." in whole.replace("\r\n", " ")


def test_confirmation_percentiles_from_minute_histogram(small: Database) -> None:
    # Only A1..A4 and A8 confirmed, 0, 30, 90, 600 and 61.5 minutes after booking: whole minutes 0, 30, 61, 90,
    # 600 -> median 61 min, p90 = 90 + 0.6 * (600 - 90) = 396 min; the mean uses the exact 61.5.
    def work(conn: Connection) -> None:
        conn.execute(text("UPDATE appointment SET confirmed_at = NULL"))
        for minutes, key in zip((0, 30, 90, 600, 61.5), (0, 1, 2, 3, 7), strict=True):
            conn.execute(text("UPDATE appointment SET confirmed_at = booked_at + make_interval(secs => :s) "
                              "WHERE id = (SELECT id FROM appointment ORDER BY id OFFSET :k LIMIT 1)"),
                         {"s": minutes * 60, "k": key})

    small.write(work)
    r = rq.operations(small, date_from="2027-03-01", date_to="2027-03-07")
    rows = rows_of(r.table("confirmation"))
    mean_h = round((0 + 30 + 90 + 600 + 61.5) / 5 / 60, 1)
    assert rows["Visit"] == (5, mean_h, round(61 / 60, 1), round(396 / 60, 1))
    assert rows["All services"] == rows["Visit"]
    assert r.summary["median_confirmation_h"] == round(61 / 60, 1)


def test_percentile_matches_percentile_cont() -> None:
    import statistics

    values = [0, 0, 3, 7, 7, 7, 12, 40, 41, 300]
    hist = sorted((v, values.count(v)) for v in set(values))
    for p in (0.5, 0.9):
        pos = p * (len(values) - 1)
        lo, frac = int(pos), pos - int(pos)
        expected = values[lo] + (values[min(lo + 1, len(values) - 1)] - values[lo]) * frac
        assert rq.percentile(hist, p) == expected / 60
    assert rq.percentile(hist, 0.5) * 60 == statistics.median(values)
    assert rq.percentile([], 0.5) == 0.0
