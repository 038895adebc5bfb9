"""Rosters, leave and blocks (services.rosters) and the slot engine honouring shift exceptions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from reception_app.domain.errors import PermissionDenied, ValidationError
from reception_app.domain.slots import WeeklyRule
from reception_app.services import dayview, patients, rosters, scheduling
from reception_app.services.rosters import (
    AddHoliday,
    AddTimeOff,
    ClearException,
    DayException,
    RemoveTimeOff,
    WeeklyPattern,
)

SP = timezone(timedelta(hours=-3))
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 1, 1, tzinfo=UTC)
MON = date(2027, 1, 4)
THU = date(2027, 1, 7)
US = "Abdominal ultrasound"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SP)


@pytest.fixture
def patient(clinic_db) -> int:
    return patients.add_patient(clinic_db, name="Joana Prado", birth_date="1990-09-09", phone="+5511987654321",
                                channels=["sms"]).id


def starts(db, day, doctor=None, branch="Centro", service=US, now=NOW):
    return [o.start for o in scheduling.find_slots(db, branch=branch, service=service, local_date=day,
                                                   doctor=doctor, now=now)]


def apply(db, change, acknowledged=(), now=NOW):
    return rosters.apply_change(db, change, acknowledged=acknowledged, now=now)


def test_an_extra_day_makes_slots_appear_and_a_day_off_makes_them_disappear(clinic_db):
    assert starts(clinic_db, THU, doctor="Bruno Lima") == []
    apply(clinic_db, DayException("Bruno Lima", "Centro", THU, ((8 * 60, 10 * 60),), note="covering"))
    got = starts(clinic_db, THU, doctor="Bruno Lima")
    assert got[0] == at(THU, 8) and got[-1] == at(THU, 9, 15)  # 30 min + 10 min buffer inside 08:00-10:00
    assert starts(clinic_db, THU + timedelta(days=7), doctor="Bruno Lima") == []  # one date only

    assert at(MON, 8) in starts(clinic_db, MON, doctor="Ana Souza")
    apply(clinic_db, DayException("Ana Souza", "Centro", MON, ()))
    assert starts(clinic_db, MON, doctor="Ana Souza") == []
    assert at(MON, 8) in starts(clinic_db, MON, doctor="Bruno Lima")          # others untouched
    assert at(MON + timedelta(days=7), 8) in starts(clinic_db, MON + timedelta(days=7), doctor="Ana Souza")
    apply(clinic_db, ClearException("Ana Souza", "Centro", MON))
    assert at(MON, 8) in starts(clinic_db, MON, doctor="Ana Souza")


def test_an_exception_on_a_dst_day_replaces_only_that_days_shift(clinic_db):
    """Berlin springs forward on Sunday 2027-03-28 (a 23-hour day). Clara works 00:00-24:00 on
    Saturdays and Sundays; on that Sunday she works 10:00-12:00 local only."""
    sunday = date(2027, 3, 28)
    apply(clinic_db, DayException("Clara Weiss", "Berlin", sunday, ((10 * 60, 12 * 60),)))
    got = starts(clinic_db, sunday, branch="Berlin", service="Consultation")
    local = [s.astimezone(BERLIN).strftime("%H:%M") for s in got]
    assert local == ["10:00", "10:15", "10:30", "10:45", "11:00", "11:15", "11:30", "11:45"]
    assert all(s.astimezone(BERLIN).utcoffset() == timedelta(hours=2) for s in got)  # summer time already
    saturday = starts(clinic_db, sunday - timedelta(days=1), branch="Berlin", service="Consultation")
    assert len(saturday) == 96 and saturday[-1].astimezone(BERLIN).strftime("%H:%M") == "23:45"
    view = dayview.load_day(clinic_db, "Berlin", sunday)
    clara = next(r for r in view.resources if r.name == "Clara Weiss")
    assert clara.exception == "extra"
    assert [(a.astimezone(BERLIN).hour, b.astimezone(BERLIN).hour) for a, b in clara.availability] == [(10, 12)]


def test_a_block_over_a_booking_lists_the_patient_and_needs_acknowledging(clinic_db, patient):
    appt = scheduling.book(clinic_db, branch="Centro", service=US, start=at(MON, 9), patient_id=patient,
                           doctor="Ana Souza", now=NOW)
    block = AddTimeOff("Ana Souza", at(MON, 8, 30), at(MON, 10), "emergency", "flooded room")
    impact = rosters.preview_change(clinic_db, block, now=NOW)
    assert [(a.appointment_id, a.patient, a.phone, a.resource) for a in impact.affected] == [
        (appt.id, "Joana Prado", "+5511987654321", "Ana Souza")]

    with pytest.raises(ValidationError) as refused:
        apply(clinic_db, block)                       # not acknowledged: nothing written
    assert refused.value.field == "acknowledged" and str(appt.id) in str(refused.value)
    assert rosters.load_roster(clinic_db, doctor="Ana Souza", branch="Centro").time_off[0].kind == "leave"

    done = apply(clinic_db, block, acknowledged=impact.appointment_ids)
    assert [a.appointment_id for a in done.affected] == [appt.id] and len(done.reminder_ids) == 1
    reminders = clinic_db.read(lambda c: c.execute(text(
        "SELECT appointment_id, channel, purpose FROM reminder WHERE purpose = 'roster_change'")).all())
    assert [tuple(r) for r in reminders] == [(appt.id, "sms", "roster_change")]
    assert scheduling.get_appointment(clinic_db, appt.id).status == "confirmed"   # still booked, to reschedule
    kinds = {o.kind for o in rosters.load_roster(clinic_db, doctor="Ana Souza", branch="Centro").time_off}
    assert kinds == {"leave", "emergency"}
    view = dayview.load_day(clinic_db, "Centro", MON)
    ana = next(r for r in view.resources if r.name == "Ana Souza")
    assert [o.kind for o in ana.time_off] == ["emergency"]


def test_a_booking_made_after_the_preview_refuses_the_change(clinic_db, patient):
    change = AddHoliday("Centro", THU, "City anniversary")
    impact = rosters.preview_change(clinic_db, change, now=NOW)
    assert impact.affected == ()
    # Thursday: no doctor works at Centro; give Bruno an extra day and book him meanwhile.
    apply(clinic_db, DayException("Bruno Lima", "Centro", THU, ((8 * 60, 12 * 60),)))
    late = scheduling.book(clinic_db, branch="Centro", service=US, start=at(THU, 8), patient_id=patient, now=NOW)
    with pytest.raises(ValidationError, match="preview the change again"):
        apply(clinic_db, change, acknowledged=impact.appointment_ids)
    assert not dayview.load_day(clinic_db, "Centro", THU).holiday
    again = rosters.preview_change(clinic_db, change, now=NOW)
    assert [a.appointment_id for a in again.affected] == [late.id]
    apply(clinic_db, change, acknowledged=again.appointment_ids)
    assert dayview.load_day(clinic_db, "Centro", THU).holiday == "City anniversary"
    assert starts(clinic_db, THU, doctor="Bruno Lima") == []


def test_a_new_weekly_pattern_strands_only_what_it_no_longer_covers(clinic_db, patient):
    early = scheduling.book(clinic_db, branch="Centro", service=US, start=at(MON, 8), patient_id=patient,
                            doctor="Ana Souza", now=NOW)
    later = scheduling.book(clinic_db, branch="Centro", service=US, start=at(MON, 11), patient_id=patient,
                            doctor="Ana Souza", now=NOW)
    # Mornings 08:00-10:00 only from 2027-01-01 on; the Friday night shift kept.
    pattern = WeeklyPattern("Ana Souza", "Centro", (
        WeeklyRule(0, 480, 600), WeeklyRule(1, 480, 600),
        WeeklyRule(4, 1320, 360, date(2027, 1, 1), date(2027, 6, 30))))
    impact = rosters.preview_change(clinic_db, pattern, now=NOW)
    assert [a.appointment_id for a in impact.affected] == [later.id]
    assert early.id not in impact.appointment_ids
    apply(clinic_db, pattern, acknowledged=impact.appointment_ids)
    roster = rosters.load_roster(clinic_db, doctor="Ana Souza", branch="Centro")
    assert [(r.weekday, r.start_min, r.end_min) for r in roster.shifts] == [(0, 480, 600), (1, 480, 600),
                                                                           (4, 1320, 360)]
    assert starts(clinic_db, MON + timedelta(days=7), doctor="Ana Souza")[-1] == at(MON + timedelta(days=7), 9, 15)
    # Past appointments are never listed: at a later "now" the same preview is empty.
    assert rosters.preview_change(clinic_db, WeeklyPattern("Ana Souza", "Centro", ()),
                                  now=datetime(2027, 2, 1, tzinfo=UTC)).affected == ()


def test_only_managers_change_rosters_and_bad_input_names_the_field(clinic_db, login):
    _, desk = login("reception")
    off = DayException("Ana Souza", "Centro", MON, ())
    with pytest.raises(PermissionDenied):
        rosters.apply_change(desk, off, acknowledged=(), now=NOW)
    _, boss = login("manager")
    rosters.apply_change(boss, off, acknowledged=(), now=NOW)
    assert rosters.load_roster(clinic_db, doctor="Ana Souza", branch="Centro").exceptions[0].start_min is None
    with pytest.raises(ValidationError) as bad:
        rosters.preview_change(clinic_db, DayException("Ana Souza", "Centro", MON, ((480, 485),)), now=NOW)
    assert bad.value.field == "intervals"
    with pytest.raises(ValidationError) as bad:
        rosters.preview_change(clinic_db, AddTimeOff("Ana Souza", at(MON, 8), at(MON, 9), "nap", "x"), now=NOW)
    assert bad.value.field == "kind"
    leave = rosters.load_roster(clinic_db, doctor="Ana Souza", branch="Centro").time_off[0]
    assert rosters.preview_change(clinic_db, RemoveTimeOff(leave.id), now=NOW).affected == ()
    rosters.apply_change(boss, RemoveTimeOff(leave.id), acknowledged=(), now=NOW)
    assert rosters.load_roster(clinic_db, doctor="Ana Souza", branch="Centro").time_off == ()
