"""Bad input through the services (issue 14, "Bad input, everywhere"): the window, the web portal and the
API call the services directly, so each bad value gets one ``ValidationError`` naming the field and the
value — never a ``ValueError``/``OverflowError``/driver error (a crash dialog) — and nothing is written.

Against the test clinic (tests/data/test_clinic.toml): Centro (UTC-3 in 2027), "Abdominal ultrasound".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from reception_app.domain.errors import NotFound, ValidationError
from reception_app.domain.slots import WeeklyRule
from reception_app.services import (
    clinic_config,
    patients,
    payments,
    rosters,
    scheduling,
    series,
    visits,
    waitlist,
)
from reception_app.services.rosters import AddHoliday, AddTimeOff, DayException, RemoveTimeOff, WeeklyPattern
from reception_app.services.visits import VisitPart

SP = timezone(timedelta(hours=-3))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=SP)  # Monday 08:00 at Centro
US = "Abdominal ultrasound"
YEAR_1 = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))  # no UTC form: astimezone overflows
YEAR_9999 = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
NOT_A_UUID = "not-a-uuid"

#: Every table a service here writes, and the audit trails.
TABLES = ("appointment", "booking", "payment", "visit", "series", "waitlist_entry", "time_off", "holiday",
          "shift", "shift_exception", "audit_log", "override_log", "reminder")


def snapshot(db) -> dict[str, Any]:
    """Row counts of :data:`TABLES` and the booked appointment's times and status."""
    def work(conn):
        out: dict[str, Any] = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
        out["appointments"] = [tuple(r) for r in conn.execute(text(
            "SELECT id, starts_at, ends_at, status FROM appointment ORDER BY id"))]
        return out
    return db.read(work)


@pytest.fixture
def ctx(clinic_db) -> dict[str, Any]:
    """The clinic with one patient and one booked appointment (T0)."""
    patient = patients.add_patient(clinic_db, name="Maria da Silva", birth_date="1980-02-03").id
    appt = scheduling.book(clinic_db, branch="Centro", service=US, start=T0, patient_id=patient, now=NOW)
    return {"db": clinic_db, "patient": patient, "appt": appt.id}


def _book(c, **kw):
    args = {"branch": "Centro", "service": US, "start": T0 + timedelta(hours=1), "patient_id": c["patient"],
            "now": NOW, **kw}
    return scheduling.book(c["db"], **args)


def _hold(c, **kw):
    args = {"branch": "Centro", "service": US, "start": T0 + timedelta(hours=1), "patient_id": c["patient"],
            "now": NOW, **kw}
    return scheduling.hold(c["db"], **args)


def _walk_in(c, **kw):
    args = {"branch": "Centro", "service": US, "patient_id": c["patient"], "now": T0, **kw}
    return scheduling.walk_in(c["db"], **args)


def _visit(c, **kw):
    args = {"branch": "Centro", "patient_id": c["patient"], "now": NOW,
            "parts": [VisitPart(US, T0 + timedelta(hours=2))], **kw}
    return visits.book_visit(c["db"], **args)


def _plan(c, **kw):
    args = {"branch": "Centro", "service": US, "patient_id": c["patient"], "rrule": "FREQ=WEEKLY;BYDAY=TU",
            "first_date": "2027-01-05", "local_start": "09:00", "count": 2, "now": NOW, **kw}
    return series.plan_series(c["db"], **args)


def _series(c, **kw):
    req = series.make_request(branch="Centro", service=US, patient_id=c["patient"], rrule="FREQ=WEEKLY;BYDAY=TU",
                              first_date="2027-01-05", local_start="09:00", count=2)
    return series.book_series(c["db"], req, **{"mode": "free_only", "now": NOW, **kw})


def _entry(c, **kw):
    args = {"patient_id": c["patient"], "service": US, "branch": "Centro", "first_date": "2027-01-04",
            "last_date": "2027-01-08", "now": NOW, **kw}
    return waitlist.add_entry(c["db"], **args)


def _pay(c, **kw):
    return payments.record_payment(c["db"], c["appt"], **{"amount_cents": 2000, "method": "cash", **kw})


def _refund(c, **kw):
    return payments.record_refund(c["db"], c["appt"], **{"amount_cents": 100, "method": "cash", **kw})


def _roster(change, *, apply: bool = False) -> Callable[[dict], Any]:
    def run(c):
        if apply:
            return rosters.apply_change(c["db"], change, acknowledged=(), now=NOW)
        return rosters.preview_change(c["db"], change, now=NOW)
    return run


_UUID_CASES = [
    ("book", lambda c: _book(c, client_id=NOT_A_UUID)),
    ("hold", lambda c: _hold(c, client_id=NOT_A_UUID)),
    ("reschedule", lambda c: scheduling.reschedule(c["db"], c["appt"], start=T0 + timedelta(hours=1),
                                                   client_id=NOT_A_UUID, now=NOW)),
    ("walk_in", lambda c: _walk_in(c, client_id=NOT_A_UUID)),
    ("record_payment", lambda c: _pay(c, client_id=NOT_A_UUID)),
    ("record_refund", lambda c: _refund(c, client_id=NOT_A_UUID)),
    ("book_visit", lambda c: _visit(c, client_id=NOT_A_UUID)),
    ("book_series", lambda c: _series(c, client_id=NOT_A_UUID)),
    ("waitlist.add_entry", lambda c: _entry(c, client_id=NOT_A_UUID)),
]

_DATE_CASES = [
    # (what, call, field, value as reported)
    ("book year 1", lambda c: _book(c, start=YEAR_1), "start", YEAR_1.isoformat()),
    ("book year 9999", lambda c: _book(c, start=YEAR_9999), "start", YEAR_9999.isoformat()),
    ("book 2100", lambda c: _book(c, start=datetime(2100, 1, 4, 8, tzinfo=SP)), "start", "2100-01-04T08:00:00-03:00"),
    ("book naive start", lambda c: _book(c, start=datetime(2027, 1, 4, 9)), "start", "2027-01-04T09:00:00"),
    ("book start as text", lambda c: _book(c, start="next monday"), "start", "next monday"),
    ("book now year 9999", lambda c: _book(c, now=YEAR_9999), "now", YEAR_9999.isoformat()),
    ("hold year 1", lambda c: _hold(c, start=YEAR_1), "start", YEAR_1.isoformat()),
    ("move year 1", lambda c: scheduling.move(c["db"], c["appt"], start=YEAR_1, now=NOW), "start", YEAR_1.isoformat()),
    ("move year 9999", lambda c: scheduling.move(c["db"], c["appt"], start=YEAR_9999, now=NOW), "start",
     YEAR_9999.isoformat()),
    ("reschedule year 1", lambda c: scheduling.reschedule(c["db"], c["appt"], start=YEAR_1, now=NOW), "start",
     YEAR_1.isoformat()),
    ("reschedule year 9999", lambda c: scheduling.reschedule(c["db"], c["appt"], start=YEAR_9999, now=NOW),
     "start", YEAR_9999.isoformat()),
    ("walk_in now year 1", lambda c: _walk_in(c, now=YEAR_1), "now", YEAR_1.isoformat()),
    ("visit part year 1", lambda c: _visit(c, parts=[VisitPart(US, YEAR_1)]), "parts[0].start", YEAR_1.isoformat()),
    ("find_slots year 1", lambda c: scheduling.find_slots(c["db"], branch="Centro", service=US,
                                                          local_date="0001-01-01", now=NOW), "date", "0001-01-01"),
    ("find_slots past 2099", lambda c: scheduling.find_slots(c["db"], branch="Centro", service=US,
                                                             local_date="2099-06-01", days=366, now=NOW),
     "days", 366),
    ("find_slots days as text", lambda c: scheduling.find_slots(c["db"], branch="Centro", service=US,
                                                                local_date="2027-01-04", days="3", now=NOW),
     "days", "3"),
    ("next_free_starts year 9999", lambda c: scheduling.next_free_starts(c["db"], c["appt"], now=NOW,
                                                                         from_local_date="9999-01-01"),
     "from_local_date", "9999-01-01"),
    ("next_free_starts now year 1", lambda c: scheduling.next_free_starts(c["db"], c["appt"], now=YEAR_1),
     "now", YEAR_1.isoformat()),
    ("plan_series year 9999", lambda c: _plan(c, first_date="9999-01-05"), "first_date", "9999-01-05"),
    ("waitlist year 1", lambda c: _entry(c, first_date="0001-01-01"), "first_date", "0001-01-01"),
    ("time off from year 1", _roster(AddTimeOff("Ana Souza", YEAR_1, T0, "leave", "x")), "start", YEAR_1.isoformat()),
    ("time off until year 9999", _roster(AddTimeOff("Ana Souza", T0, YEAR_9999, "leave", "x"), apply=True), "end",
     YEAR_9999.isoformat()),
    ("holiday year 1", _roster(AddHoliday("Centro", date(1, 1, 1), "Old"), apply=True), "local_date", date(1, 1, 1)),
    ("holiday as text 9999", _roster(AddHoliday("Centro", "9999-12-25", "Far"), apply=True), "local_date",
     "9999-12-25"),
    ("exception year 9999", _roster(DayException("Ana Souza", "Centro", date(9999, 1, 4), ()), apply=True),
     "local_date", date(9999, 1, 4)),
    ("shift valid from 1999", _roster(WeeklyPattern("Ana Souza", "Centro", (
        WeeklyRule(0, 8 * 60, 12 * 60, date(1999, 12, 31)),)), apply=True), "valid_from", "1999-12-31"),
]

_TEXT_CASES = [
    ("book branch NUL", lambda c: _book(c, branch="Cen\x00tro"), "branch", "Cen\x00tro"),
    ("book service not UTF-8", lambda c: _book(c, service="Ultra\udcffsound"), "service", "Ultra\udcffsound"),
    ("book doctor NUL", lambda c: _book(c, doctor="Ana\x00"), "doctor", "Ana\x00"),
    ("book reason NUL", lambda c: _book(c, reason="a\x00b"), "reason", "a\x00b"),
    ("move room ESC", lambda c: scheduling.move(c["db"], c["appt"], room="Imaging\x1b1", now=NOW), "room",
     "Imaging\x1b1"),
    ("cancel reason BEL", lambda c: scheduling.cancel(c["db"], c["appt"], reason="late\x07"), "reason", "late\x07"),
    ("set_status reason NUL", lambda c: scheduling.set_status(c["db"], c["appt"], "cancelled", reason="x\x00"),
     "reason", "x\x00"),
    ("find_slots branch NUL", lambda c: scheduling.find_slots(c["db"], branch="\x00", service=US,
                                                              local_date="2027-01-04", now=NOW), "branch", "\x00"),
    ("list_appointments branch NUL", lambda c: scheduling.list_appointments(c["db"], branch="\x00",
                                                                            local_date="2027-01-04"),
     "branch", "\x00"),
    ("walk_in doctor line separator", lambda c: _walk_in(c, doctor="Ana\u2028Souza"), "doctor", "Ana\u2028Souza"),
    ("payment reference NUL", lambda c: _pay(c, reference="slip\x00"), "reference", "slip\x00"),
    ("visit note BEL", lambda c: _visit(c, note="ring\x07"), "note", "ring\x07"),
    ("visit part service NUL", lambda c: _visit(c, parts=[VisitPart("U\x00S", T0)]), "parts[0].service", "U\x00S"),
    ("series branch NUL", lambda c: _plan(c, branch="Cen\x00tro"), "branch", "Cen\x00tro"),
    ("waitlist note NUL", lambda c: _entry(c, note="mornings\x00"), "note", "mornings\x00"),
    ("waitlist doctor not UTF-8", lambda c: _entry(c, doctor="\udcff"), "doctor", "\udcff"),
    ("time off reason ESC", _roster(AddTimeOff("Ana Souza", T0, T0 + timedelta(hours=1), "leave", "\x1b[31m")),
     "reason", "\x1b[31m"),
    ("time off resource NUL", _roster(AddTimeOff("Ana\x00", T0, T0 + timedelta(hours=1), "leave", "x")),
     "resource", "Ana\x00"),
    ("holiday name newline", _roster(AddHoliday("Centro", date(2027, 5, 1), "Labour\nDay"), apply=True), "name",
     "Labour\nDay"),
    ("exception note NUL", _roster(DayException("Ana Souza", "Centro", date(2027, 1, 5), (), note="x\x00"),
                                   apply=True), "note", "x\x00"),
    ("roster doctor NUL", lambda c: rosters.load_roster(c["db"], doctor="Ana\x00", branch="Centro"), "doctor",
     "Ana\x00"),
]

_ID_CASES = [
    ("book patient as text", lambda c: _book(c, patient_id="7"), "patient_id", "7"),
    ("book patient beyond integer", lambda c: _book(c, patient_id=2**40), "patient", 2**40),
    ("walk_in patient bool", lambda c: _walk_in(c, patient_id=True), "patient_id", True),
    ("move appointment as text", lambda c: scheduling.move(c["db"], "12", start=T0, now=NOW), "appointment", "12"),
    ("payment appointment negative", lambda c: payments.record_payment(c["db"], -1, amount_cents=100,
                                                                       method="cash"), "appointment", -1),
    ("get_visit as text", lambda c: visits.get_visit(c["db"], "1"), "visit", "1"),
    ("remove time off as text", _roster(RemoveTimeOff("3"), apply=True), "time_off", "3"),
    ("waitlist accept beyond bigint", lambda c: waitlist.accept_offer(c["db"], 2**70, now=NOW), "offer", 2**70),
]

_AMOUNT_CASES = [
    ("payment above the ceiling", lambda c: _pay(c, amount_cents=500_001), "amount", 500_001),
    ("payment of 1e6 units", lambda c: _pay(c, amount_cents=100_000_000), "amount", 100_000_000),
    ("payment as float", lambda c: _pay(c, amount_cents=20.5), "amount", 20.5),
    ("refund above the ceiling", lambda c: _refund(c, amount_cents=600_000), "amount", 600_000),
]

CASES = [(f"{what}: client_id", call, "client_id", NOT_A_UUID) for what, call in _UUID_CASES] + \
    _DATE_CASES + _TEXT_CASES + _ID_CASES + _AMOUNT_CASES


@pytest.mark.parametrize(("what", "call", "field", "value"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_the_field_and_the_value_and_writes_nothing(ctx, what, call, field, value):
    before = snapshot(ctx["db"])
    with pytest.raises(ValidationError) as info:
        call(ctx)
    assert info.value.field == field, str(info.value)
    assert info.value.value == value, str(info.value)
    assert "\n" not in str(info.value).replace(repr(value), "")  # one line (the value is shown with repr)
    assert snapshot(ctx["db"]) == before


def test_an_amount_above_a_configured_ceiling_is_refused_naming_the_ceiling(ctx):
    db = ctx["db"]
    clinic_config.apply(db, {"clinic": {"max_amount": "100.00"}})
    before = snapshot(db)
    with pytest.raises(ValidationError) as info:
        _pay(ctx, amount_cents=10_001)
    assert (info.value.field, info.value.value) == ("amount", 10_001)
    assert "€100.00" in info.value.problem and "max_amount_cents" in info.value.problem
    assert snapshot(db) == before
    assert _pay(ctx, amount_cents=10_000).recorded_now  # exactly the ceiling is fine


def test_the_databases_refusals_of_an_amount_are_said_in_plain_words(ctx):
    """The database's own refusals (trigger payment_guard, migration 0009) — what a client skipping the
    service's check would meet — come back as ValidationError("amount", …), not as a constraint name."""
    db, appt = ctx["db"], ctx["appt"]
    before = snapshot(db)

    def insert(kind: str, cents: int):
        return lambda conn: payments._insert(conn, uuid.uuid4(), appt, kind, "deposit", "cash", cents, "EUR", "")

    with pytest.raises(ValidationError) as info:
        payments.write_money(db, insert("payment", 500_001), amount_cents=500_001, reason="test")
    assert (info.value.field, info.value.value) == ("amount", 500_001)
    assert "€5,000.00" in info.value.problem
    with pytest.raises(ValidationError) as info:  # nothing was paid: no refund of 1.00
        payments.write_money(db, insert("refund", 100), amount_cents=100, reason="test")
    assert (info.value.field, info.value.value) == ("amount", 100)
    assert "more than what was paid" in info.value.problem
    assert snapshot(db) == before


def test_a_patient_id_no_patient_can_have_is_not_found(ctx):
    with pytest.raises(NotFound) as info:
        _book(ctx, patient_id=2**40)
    assert info.value.field == "patient"


def test_good_values_in_range_still_work(ctx):
    """The bounds are inclusive and a client id may be text: the checks refuse only what is bad."""
    db = ctx["db"]
    cid = str(uuid.uuid4())
    appt = _book(ctx, client_id=cid, reason="first visit")
    assert appt.client_id == cid
    assert scheduling.find_slots(db, branch="Centro", service=US, local_date="2099-12-31", now=NOW) == []
    last = datetime(2099, 12, 31, 23, 0, tzinfo=UTC)
    rosters.apply_change(db, AddTimeOff("Imaging 2", last - timedelta(hours=1), last, "block", "end of century"),
                         acknowledged=(), now=NOW)
    assert payments.record_payment(db, appt.id, amount_cents=500_000, method="cash",
                                   client_id=str(uuid.uuid4())).recorded_now
