"""The demo clinic's past (services/demo_past.py via services/demo.load_demo): rows that pass the
database's own rules, with the patterns of the real data set (no-shows rise with lead time and fall
with an SMS reminder), counted by the reports as they are; first visits are the minority."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from reception_app.services import dayview
from reception_app.services.demo import load_demo
from reception_app.services.reports import no_show_report

# A Wednesday, 10:00 in São Paulo: the demo's "today" (its Christmas holiday lies ahead).
NOW = datetime(2026, 12, 9, 13, 0, tzinfo=UTC)
TODAY = date(2026, 12, 9)


def _rate(cells: list[dict]) -> float:
    n = sum(c["appointments"] for c in cells)
    return sum(c["no_shows"] for c in cells) / n


def test_the_past_has_the_real_data_sets_patterns(db) -> None:
    line = load_demo(db, now=NOW, past_days=60, days=1)
    assert "a past of" in line and f"to {TODAY - timedelta(days=1)}" in line
    report = no_show_report(db, date_from=TODAY - timedelta(days=60), date_to=TODAY - timedelta(days=1))
    lead = report["by"]["lead_time"]
    same_week = _rate([lead[b] for b in ("0", "1-2", "3-7")])
    long_lead = _rate([lead[b] for b in ("15-30", "31+")])
    assert long_lead > same_week + 0.08, (same_week, long_lead)
    assert _rate([lead["0"]]) < 0.1 < _rate([lead["31+"]])
    sms = report["by"]["sms_reminder"]
    assert sms["sms"]["appointments"] > 300 and sms["no_sms"]["appointments"] > 300
    assert sms["sms"]["rate"] < sms["no_sms"]["rate"] - 0.04, sms
    # At equal lead time too (not only because same-day bookings get no reminder).
    by = db.read(lambda c: c.execute(text(
        "SELECT r.id IS NOT NULL AS sms, avg((a.status = 'no_show')::int) FROM appointment a "
        "LEFT JOIN reminder r ON r.appointment_id = a.id AND r.channel = 'sms' AND r.purpose = 'reminder' "
        "AND r.status = 'sent' WHERE a.status IN ('completed', 'no_show') AND a.lead_days BETWEEN 3 AND 30 "
        "GROUP BY 1")).all())
    rates = {k: float(v) for k, v in by}
    assert rates[True] < rates[False] - 0.05, rates
    # Every status a manager reads about is there, and every sent SMS is a reminder the report counts.
    counts = dict(db.read(lambda c: c.execute(text(
        "SELECT status, count(*) FROM appointment WHERE external_ref LIKE 'demo:%' GROUP BY 1")).all()))
    assert set(counts) == {"completed", "no_show", "cancelled", "rescheduled"}
    assert counts["no_show"] > 0.1 * (counts["completed"] + counts["no_show"])
    sent = db.read(lambda c: c.execute(text(
        "SELECT count(*) FROM reminder r JOIN appointment a ON a.id = r.appointment_id "
        "WHERE a.status IN ('completed', 'no_show') AND r.sent_at <= a.starts_at AND r.sent_at >= a.booked_at"))
        .scalar())
    assert sent == sms["sms"]["appointments"]


def test_the_past_obeys_the_rosters_and_the_report_columns(db) -> None:
    load_demo(db, now=NOW, past_days=14, days=1)
    wrong = db.read(lambda c: c.execute(text(
        # a live booking outside its doctor's shift at the branch (the database does not check imports)
        "SELECT count(*) FROM booking b JOIN appointment a ON a.id = b.appointment_id "
        "JOIN resource r ON r.id = b.resource_id AND r.kind = 'doctor' "
        "WHERE a.external_ref LIKE 'demo:%' AND b.live AND NOT EXISTS ("
        "  SELECT 1 FROM shift s WHERE s.resource_id = r.id AND s.branch_id = a.branch_id "
        "   AND s.weekday = extract(isodow FROM b.local_day) - 1 "
        "   AND s.start_min <= b.start_min AND s.end_min >= b.end_min)")).scalar())
    assert wrong == 0
    missing = db.read(lambda c: c.execute(text(
        "SELECT count(*) FROM appointment WHERE external_ref LIKE 'demo:%' "
        "AND (local_start IS NULL OR lead_days IS NULL OR lead_days < 0 OR doctor_id IS NULL "
        "     OR starts_at >= :now OR booked_at >= starts_at)"), {"now": NOW}).scalar())
    assert missing == 0
    rescheduled = db.read(lambda c: c.execute(text(
        "SELECT count(*) FILTER (WHERE n.patient_id = o.patient_id), count(*) FROM appointment o "
        "JOIN appointment n ON n.id = o.rescheduled_to WHERE o.status = 'rescheduled'")).one())
    assert rescheduled[0] == rescheduled[1] > 0


def test_loading_again_changes_nothing(db) -> None:
    load_demo(db, now=NOW, past_days=7, days=1)
    before = db.read(lambda c: c.execute(text("SELECT count(*) FROM appointment")).scalar())
    again = load_demo(db, now=NOW, past_days=7, days=1)
    assert again.startswith("Demo clinic up to date")
    assert db.read(lambda c: c.execute(text("SELECT count(*) FROM appointment")).scalar()) == before


def test_an_older_demo_without_a_past_gets_one(db) -> None:
    load_demo(db, now=NOW, past_days=0, days=1)
    line = load_demo(db, now=NOW, past_days=7, days=1)
    assert "added a past of" in line
    assert "up to date" in load_demo(db, now=NOW, past_days=7, days=1)


def test_the_desk_login_loads_the_past(login) -> None:
    """The embedded database's desk login is in clinic_admin and clinic_manager, not the owner:
    the past is imported history, which an administrator may write."""
    _, desk = login("admin", "manager")
    line = load_demo(desk, now=NOW, past_days=7, days=1)
    assert "a past of" in line
    assert desk.read(lambda c: c.execute(text(
        "SELECT count(DISTINCT created_by) FROM appointment WHERE external_ref LIKE 'demo:%'")).scalar()) == 1


def test_first_visits_are_the_minority_of_the_upcoming_days(db) -> None:
    load_demo(db, now=NOW, past_days=60, days=2)
    day = dayview.load_day(db, "Centro", TODAY + timedelta(days=1))
    shown = list(day.appointments)
    assert len(shown) > 20
    first = [a for a in shown if "first_visit" in day.markers.get(a.id, ())]
    assert 0 < len(first) < 0.3 * len(shown)


def test_the_default_demo_gives_hundreds_for_the_last_90_days(db) -> None:
    """The default size, once: `clinic report no-show` for the last 90 days shows hundreds."""
    started = time.perf_counter()
    load_demo(db, now=NOW)
    elapsed = time.perf_counter() - started
    report = no_show_report(db, date_from=TODAY - timedelta(days=90), date_to=TODAY)
    assert report["total"]["appointments"] >= 300
    assert 0.12 < report["total"]["rate"] < 0.3
    print(f"default demo load {elapsed:.1f} s; 90-day no-show report: {report['total']}")
    assert elapsed < 60, elapsed
