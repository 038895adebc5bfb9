"""The slot engine: availability, DST, overnight shifts, buffers, holidays, notice, horizon."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reception_app.domain.errors import ValidationError
from reception_app.domain.slots import (
    KINDS,
    BranchSpec,
    ResourceSpec,
    ServiceSpec,
    SlotOption,
    WeeklyRule,
    find_slot_at,
    find_slots,
    free_windows,
    resource_availability,
)

BERLIN = "Europe/Berlin"
MONDAY = date(2027, 3, 22)  # an ordinary week in Berlin (CET, +01:00)
TUESDAY = MONDAY + timedelta(days=1)
WEDNESDAY = MONDAY + timedelta(days=2)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)

Busy = Mapping[int, Sequence[tuple[datetime, datetime]]]


# --------------------------------------------------------------------------- helpers


def at(zone: str, y: int, m: int, d: int, h: int, mi: int = 0, fold: int = 0) -> datetime:
    """A local wall-clock time in ``zone`` as an aware UTC instant."""
    return datetime(y, m, d, h, mi, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def berlin(d: date, h: int, mi: int = 0) -> datetime:
    return at(BERLIN, d.year, d.month, d.day, h, mi)


def daily(text: str, weekdays: Iterable[int] = range(7)) -> tuple[WeeklyRule, ...]:
    return tuple(WeeklyRule.from_text(wd, text) for wd in weekdays)


def branch(hours: str = "00:00-24:00", zone: str = BERLIN, holidays: Iterable[date] = ()) -> BranchSpec:
    return BranchSpec(zone, daily(hours), frozenset(holidays))


def doctor(rid: int, rules: tuple[WeeklyRule, ...] | str, specialty: str = "gp") -> ResourceSpec:
    if isinstance(rules, str):
        rules = daily(rules)
    return ResourceSpec(rid, f"Dr {rid}", "doctor", specialty, rules)


def room(rid: int, category: str = "exam") -> ResourceSpec:
    return ResourceSpec(rid, f"Room {rid}", "room", category)


def service(
    duration: int = 30,
    before: int = 0,
    after: int = 0,
    notice: int = 0,
    horizon: int = 20000,
    **needs: str,
) -> ServiceSpec:
    return ServiceSpec(duration, before, after, notice, horizon, needs or {"doctor": "gp"})


def local_times(slots: Sequence[SlotOption], zone: str = BERLIN) -> list[str]:
    return [s.start.astimezone(ZoneInfo(zone)).strftime("%H:%M") for s in slots]


def search(
    br: BranchSpec,
    svc: ServiceSpec,
    resources: Sequence[ResourceSpec],
    days: Iterable[date],
    busy: Busy | None = None,
    now: datetime = LONG_AGO,
    **kw: object,
) -> list[SlotOption]:
    return find_slots(br, svc, resources, busy or {}, days, now, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- basics


def test_doctor_shift_gives_quarter_hour_starts_with_times_in_utc() -> None:
    slots = search(branch(), service(30), [doctor(1, "09:00-11:00")], [MONDAY])
    assert local_times(slots) == ["09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30"]
    first = slots[0]
    assert first.start == datetime(2027, 3, 22, 8, 0, tzinfo=UTC)
    assert first.end == first.start + timedelta(minutes=30)
    assert (first.occupied_start, first.occupied_end) == (first.start, first.end)
    assert first.start.tzinfo is UTC
    assert dict(first.free) == {"doctor": (1,)}


def test_room_follows_branch_hours_and_doctor_follows_shift() -> None:
    slots = search(
        branch("08:00-10:00"),
        service(30, doctor="gp", room="exam"),
        [doctor(1, "09:00-12:00"), room(5)],
        [MONDAY],
    )
    assert local_times(slots) == ["09:00", "09:15", "09:30"]
    assert slots[0].first_combination() == {"doctor": 1, "room": 5}


def test_room_rules_are_ignored_in_favour_of_branch_hours() -> None:
    odd_room = ResourceSpec(5, "Room 5", "room", "exam", daily("00:00-24:00"))
    slots = search(branch("08:00-09:00"), service(30, room="exam"), [odd_room], [MONDAY])
    assert local_times(slots) == ["08:00", "08:15", "08:30"]


def test_one_resource_must_cover_the_whole_interval() -> None:
    a = doctor(1, "09:00-10:00")
    b = doctor(2, "10:00-11:00")
    slots = search(branch(), service(60), [a, b], [MONDAY])
    assert local_times(slots) == ["09:00", "10:00"]
    assert [dict(s.free) for s in slots] == [{"doctor": (1,)}, {"doctor": (2,)}]


def test_adjacent_rules_of_one_doctor_merge() -> None:
    rules = daily("09:00-10:00") + daily("10:00-11:00")
    slots = search(branch(), service(60), [doctor(1, rules)], [MONDAY])
    assert local_times(slots) == ["09:00", "09:15", "09:30", "09:45", "10:00"]


def test_weekday_and_validity_of_rules() -> None:
    rules = (
        WeeklyRule(0, 9 * 60, 10 * 60),  # Mondays
        WeeklyRule(2, 9 * 60, 10 * 60, valid_from=date(2027, 3, 31)),  # Wednesdays from next week
        WeeklyRule(1, 9 * 60, 10 * 60, valid_until=date(2027, 3, 16)),  # Tuesdays, ended last week
    )
    slots = search(branch(), service(60), [doctor(1, rules)], [MONDAY, TUESDAY, WEDNESDAY, date(2027, 3, 31)])
    assert [s.start.astimezone(ZoneInfo(BERLIN)).date() for s in slots] == [MONDAY, date(2027, 3, 31)]


def test_category_kind_and_branch_closed_days() -> None:
    resources = [doctor(1, "09:00-10:00", "cardio"), room(5), doctor(2, "09:00-10:00")]
    slots = search(branch(), service(60), resources, [MONDAY])
    assert [dict(s.free) for s in slots] == [{"doctor": (2,)}]
    # Nobody of the needed category: nothing at all.
    assert search(branch(), service(60, doctor="ortho"), resources, [MONDAY]) == []
    # A weekday without opening hours is closed for rooms.
    weekdays_only = BranchSpec(BERLIN, daily("08:00-18:00", range(5)), frozenset())
    assert search(weekdays_only, service(60, room="exam"), [room(5)], [date(2027, 3, 27)]) == []


def test_needs_nothing_means_branch_opening_hours() -> None:
    svc = ServiceSpec(30, 0, 0, 0, 20000, {})
    slots = search(branch("08:00-09:00"), svc, [], [MONDAY])
    assert local_times(slots) == ["08:00", "08:15", "08:30"]
    assert dict(slots[0].free) == {}
    assert list(slots[0].combinations()) == [{}]


# --------------------------------------------------------------------------- overnight and 24:00


def test_overnight_shift_spills_into_next_day() -> None:
    night = doctor(1, (WeeklyRule.from_text(0, "22:00-06:00"),))  # Monday night only
    svc = service(60)
    monday = search(branch(), svc, [night], [MONDAY])
    assert local_times(monday) == ["22:00", "22:15", "22:30", "22:45", "23:00", "23:15", "23:30", "23:45"]
    assert monday[-1].end == berlin(TUESDAY, 0, 45)
    tuesday = search(branch(), svc, [night], [TUESDAY])
    assert local_times(tuesday)[0] == "00:00" and local_times(tuesday)[-1] == "05:00"
    assert len(tuesday) == 21
    assert search(branch(), svc, [night], [WEDNESDAY]) == []


def test_end_at_2400_joins_the_next_days_early_shift() -> None:
    evening = WeeklyRule.from_text(0, "20:00-24:00")
    early = WeeklyRule.from_text(1, "00:00-02:00")
    joined = search(branch(), service(60), [doctor(1, (evening, early))], [MONDAY])
    assert local_times(joined)[-1] == "23:45"
    alone = search(branch(), service(60), [doctor(1, (evening,))], [MONDAY])
    assert local_times(alone)[-1] == "23:00"
    assert alone[-1].end == berlin(TUESDAY, 0, 0)


# --------------------------------------------------------------------------- DST


def test_overnight_shift_is_7_hours_on_spring_forward_night() -> None:
    sat, sun = date(2027, 3, 27), date(2027, 3, 28)
    night = doctor(1, (WeeklyRule.from_text(5, "22:00-06:00"),))
    (window,) = resource_availability(branch(), night, sat, clip=False)
    assert window == (berlin(sat, 22), at(BERLIN, 2027, 3, 28, 6))
    assert window[1] - window[0] == timedelta(hours=7)
    slots = search(branch(), service(15), [night], [sat, sun])
    assert len(slots) == 7 * 4
    assert "02:30" not in local_times(slots)


def test_overnight_shift_is_9_hours_on_fall_back_night() -> None:
    sat, sun = date(2027, 10, 30), date(2027, 10, 31)
    night = doctor(1, (WeeklyRule.from_text(5, "22:00-06:00"),))
    (window,) = resource_availability(branch(), night, sun, clip=False)
    assert window[1] - window[0] == timedelta(hours=9)
    slots = search(branch(), service(15), [night], [sat, sun])
    assert len(slots) == 9 * 4
    times = local_times(slots)
    assert times.count("02:30") == 2  # both instances offered
    assert [s.start for s in slots] == sorted(s.start for s in slots)


def test_new_york_shift_ending_in_repeated_hour_ends_at_its_latest_instance() -> None:
    ny = "America/New_York"
    sunday = date(2027, 11, 7)
    doc = doctor(1, (WeeklyRule.from_text(6, "00:00-01:30"),))
    slots = search(branch(zone=ny), service(30), [doc], [sunday])
    assert slots[0].start == datetime(2027, 11, 7, 4, 0, tzinfo=UTC)  # 00:00 EDT
    assert slots[-1].end == datetime(2027, 11, 7, 6, 30, tzinfo=UTC)  # 01:30 EST
    assert len(slots) == 9


def test_new_york_spring_forward_shift_through_gap() -> None:
    ny = "America/New_York"
    sunday = date(2027, 3, 14)
    doc = doctor(1, (WeeklyRule.from_text(6, "01:00-05:00"),))
    (window,) = resource_availability(branch(zone=ny), doc, sunday)
    assert window[1] - window[0] == timedelta(hours=3)
    times = local_times(search(branch(zone=ny), service(60), [doc], [sunday]), ny)
    # 01:45 EST + 60 minutes = 03:45 EDT: the last start before the gap still fits.
    assert times == ["01:00", "01:15", "01:30", "01:45", "03:00", "03:15", "03:30", "03:45", "04:00"]


def test_shift_starting_inside_gap_starts_after_it() -> None:
    sun = date(2027, 3, 28)
    doc = doctor(1, (WeeklyRule.from_text(6, "02:30-05:00"),))
    (window,) = resource_availability(branch(), doc, sun)
    assert window == (datetime(2027, 3, 28, 1, 30, tzinfo=UTC), datetime(2027, 3, 28, 3, 0, tzinfo=UTC))


def test_sao_paulo_day_that_began_at_one_oclock() -> None:
    sp = "America/Sao_Paulo"
    sat, sun = date(2018, 11, 3), date(2018, 11, 4)
    late = WeeklyRule.from_text(5, "22:00-24:00")
    early = WeeklyRule.from_text(6, "00:00-02:00")
    doc = doctor(1, (late, early))
    br = branch(zone=sp)
    assert resource_availability(br, doc, sat) == [
        (datetime(2018, 11, 4, 1, 0, tzinfo=UTC), datetime(2018, 11, 4, 3, 0, tzinfo=UTC)),
    ]
    # Sunday's 00:00-02:00 is only 01:00-02:00 of real time.
    assert resource_availability(br, doc, sun) == [
        (datetime(2018, 11, 4, 3, 0, tzinfo=UTC), datetime(2018, 11, 4, 4, 0, tzinfo=UTC)),
    ]
    slots = search(br, service(15), [doc], [sun])
    assert local_times(slots, sp) == ["01:00", "01:15", "01:30", "01:45"]
    assert len(search(br, service(15), [doc], [sat, sun])) == 8 + 4


def test_sao_paulo_fall_back_offers_repeated_hour_twice() -> None:
    sp = "America/Sao_Paulo"
    sat = date(2018, 2, 17)
    doc = doctor(1, (WeeklyRule.from_text(5, "22:00-24:00"),))
    slots = search(branch(zone=sp), service(30), [doc], [sat])
    assert len(slots) == 11  # 3 hours of real time, 30-minute appointments
    assert local_times(slots, sp).count("23:00") == 2


def test_half_hour_and_quarter_hour_zones() -> None:
    day = date(2027, 5, 3)
    kolkata = search(branch("09:00-10:00", "Asia/Kolkata"), service(30, room="exam"), [room(5)], [day])
    assert [s.start for s in kolkata] == [
        datetime(2027, 5, 3, 3, 30, tzinfo=UTC),
        datetime(2027, 5, 3, 3, 45, tzinfo=UTC),
        datetime(2027, 5, 3, 4, 0, tzinfo=UTC),
    ]
    kathmandu = search(branch("09:00-10:00", "Asia/Kathmandu"), service(60, room="exam"), [room(5)], [day])
    assert [s.start for s in kathmandu] == [datetime(2027, 5, 3, 3, 15, tzinfo=UTC)]


def test_adelaide_fall_back_night_shift_is_longer() -> None:
    adl = "Australia/Adelaide"
    sat = date(2027, 4, 3)  # ACDT +10:30 -> ACST +09:30 on Sunday 03:00
    doc = doctor(1, (WeeklyRule.from_text(5, "22:00-06:00"),))
    (window,) = resource_availability(branch(zone=adl), doc, sat, clip=False)
    assert window[1] - window[0] == timedelta(hours=9)
    assert window[0] == datetime(2027, 4, 3, 11, 30, tzinfo=UTC)
    slots = search(branch(zone=adl), service(15), [doc], [sat, sat + timedelta(days=1)])
    assert len(slots) == 36


# --------------------------------------------------------------------------- buffers and busy time


def test_buffer_after_keeps_distance_to_next_booking() -> None:
    # A booking 09:00-10:00 (its own buffers included); our service: 30 min + 15 min after.
    busy = {1: [(berlin(MONDAY, 9), berlin(MONDAY, 10))]}
    slots = search(branch(), service(30, after=15), [doctor(1, "08:00-11:00")], [MONDAY], busy)
    assert local_times(slots) == ["08:00", "08:15", "10:00", "10:15"]
    assert slots[1].occupied_end == berlin(MONDAY, 9)  # touching is fine
    assert slots[-1].occupied_end == berlin(MONDAY, 11)  # buffer must fit in the shift too


def test_buffer_before_needs_the_room_free_and_open_before() -> None:
    svc = service(30, before=15, room="exam")
    busy = {5: [(berlin(MONDAY, 8), berlin(MONDAY, 9))]}
    slots = search(branch("08:00-10:00"), svc, [room(5)], [MONDAY], busy)
    assert local_times(slots) == ["09:15", "09:30"]
    assert slots[0].occupied_start == berlin(MONDAY, 9)
    open_all_morning = search(branch("08:00-10:00"), svc, [room(5)], [MONDAY])
    assert local_times(open_all_morning)[0] == "08:15"  # the buffer needs the branch open


def test_busy_intervals_unsorted_overlapping_and_per_resource() -> None:
    busy = {
        1: [
            (berlin(MONDAY, 10), berlin(MONDAY, 10, 30)),
            (berlin(MONDAY, 9), berlin(MONDAY, 9, 45)),
            (berlin(MONDAY, 9, 30), berlin(MONDAY, 10, 15)),
        ],
        2: [(berlin(MONDAY, 9), berlin(MONDAY, 11))],
    }
    slots = search(branch(), service(30), [doctor(1, "09:00-11:00"), doctor(2, "09:00-11:00")], [MONDAY], busy)
    assert local_times(slots) == ["10:30"]
    assert dict(slots[0].free) == {"doctor": (1,)}


def test_time_off_removes_one_doctor_only() -> None:
    busy = {1: [(berlin(MONDAY, 0), berlin(TUESDAY, 0))]}
    docs = [doctor(1, "09:00-10:00"), doctor(2, "09:00-10:00")]
    slots = search(branch(), service(30), docs, [MONDAY, TUESDAY], busy)
    assert [dict(s.free)["doctor"] for s in slots] == [(2,)] * 3 + [(1, 2)] * 3


def test_naive_datetimes_are_rejected() -> None:
    doc = doctor(1, "09:00-10:00")
    with pytest.raises(ValueError):
        search(branch(), service(30), [doc], [MONDAY], {1: [(datetime(2027, 3, 22, 9), datetime(2027, 3, 22, 10))]})
    with pytest.raises(ValueError):
        search(branch(), service(30), [doc], [MONDAY], now=datetime(2027, 1, 1))
    with pytest.raises(TypeError):
        search(branch(), service(30), [doc], [datetime(2027, 3, 22, tzinfo=UTC)])


# --------------------------------------------------------------------------- holidays


def test_holiday_closes_the_whole_local_day_for_everyone() -> None:
    br = branch("08:00-18:00", holidays=[TUESDAY])
    night = (WeeklyRule.from_text(0, "22:00-06:00"), WeeklyRule.from_text(1, "09:00-12:00"))
    doc = doctor(1, night)
    assert search(br, service(30, room="exam"), [room(5)], [TUESDAY]) == []
    assert search(br, service(30), [doc], [TUESDAY]) == []
    # Monday's overnight shift stops at the holiday's midnight.
    monday = search(br, service(30), [doc], [MONDAY])
    assert local_times(monday)[-1] == "23:30"
    assert resource_availability(br, doc, MONDAY, clip=False) == [(berlin(MONDAY, 22), berlin(TUESDAY, 0))]
    assert resource_availability(br, doc, TUESDAY) == []
    # Without the holiday the shift runs on.
    assert local_times(search(branch(), service(30), [doc], [MONDAY]))[-1] == "23:45"


def test_holiday_on_a_dst_day_uses_that_days_real_bounds() -> None:
    sun = date(2027, 10, 31)
    doc = doctor(1, "00:00-24:00")
    br = branch(holidays=[sun])
    assert search(br, service(15), [doc], [sun]) == []
    before = search(br, service(15), [doc], [sun - timedelta(days=1)])
    assert before[-1].end == berlin(sun, 0)
    after = search(br, service(15), [doc], [sun + timedelta(days=1)])
    assert after[0].start == berlin(sun + timedelta(days=1), 0)


# --------------------------------------------------------------------------- notice and horizon


def test_minimum_notice_and_past() -> None:
    now = berlin(MONDAY, 9, 10)
    doc = doctor(1, "08:00-12:00")
    slots = search(branch(), service(30, notice=60), [doc], [MONDAY], now=now)
    assert local_times(slots)[0] == "10:15"
    assert local_times(search(branch(), service(30), [doc], [MONDAY], now=berlin(MONDAY, 9, 15)))[0] == "09:15"
    assert search(branch(), service(30), [doc], [MONDAY - timedelta(days=7)], now=now) == []


def test_horizon_counts_local_dates() -> None:
    doc = doctor(1, "09:00-10:00")
    days = [MONDAY + timedelta(days=k) for k in range(5)]
    now = berlin(MONDAY, 8)
    slots = search(branch(), service(60, horizon=2), [doc], days, now=now)
    assert sorted({s.start.astimezone(ZoneInfo(BERLIN)).date() for s in slots}) == [MONDAY, TUESDAY, WEDNESDAY]
    # 23:30 UTC on Monday is already Tuesday in Berlin: horizon 0 means Tuesday only.
    late = datetime(2027, 3, 22, 23, 30, tzinfo=UTC)
    slots = search(branch(), service(60, horizon=0), [doc], days, now=late)
    assert {s.start.astimezone(ZoneInfo(BERLIN)).date() for s in slots} == {TUESDAY}


def test_horizon_across_dst_change_by_date_not_hours() -> None:
    # now late on Saturday before the spring change; horizon 1 day includes all of Sunday (23 h).
    sat, sun = date(2027, 3, 27), date(2027, 3, 28)
    doc = doctor(1, "23:00-24:00")
    now = berlin(sat, 22, 0)
    slots = search(branch(), service(60, horizon=1), [doc], [sat, sun, sun + timedelta(days=1)], now=now)
    assert [s.start for s in slots] == [berlin(sat, 23), berlin(sun, 23)]


# --------------------------------------------------------------------------- only, combinations, validation


def test_only_restricts_a_kind() -> None:
    docs = [doctor(1, "09:00-10:00"), doctor(2, "09:00-10:00")]
    slots = search(branch(), service(60), docs, [MONDAY], only={"doctor": [2]})
    assert [dict(s.free) for s in slots] == [{"doctor": (2,)}]
    assert search(branch(), service(60), docs, [MONDAY], only={"doctor": []}) == []
    # A kind the service does not need is ignored.
    assert len(search(branch(), service(60), docs, [MONDAY], only={"room": [99]})) == 1
    with pytest.raises(ValueError):
        search(branch(), service(60), docs, [MONDAY], only={"nurse": [1]})


def test_free_lists_keep_resource_order_and_combinations_follow_kinds() -> None:
    resources = [room(7), doctor(3, "09:00-10:00"), room(5), doctor(1, "09:00-10:00"), doctor(3, "00:00-24:00")]
    (slot,) = search(branch("09:00-10:00"), service(60, room="exam", doctor="gp"), resources, [MONDAY])
    assert list(slot.free) == ["doctor", "room"]  # KINDS order
    assert dict(slot.free) == {"doctor": (3, 1), "room": (7, 5)}  # given order, repeated id once
    assert list(slot.combinations()) == [
        {"doctor": 3, "room": 7},
        {"doctor": 3, "room": 5},
        {"doctor": 1, "room": 7},
        {"doctor": 1, "room": 5},
    ]
    assert slot.first_combination() == {"doctor": 3, "room": 7}
    assert list(slot.first_combination()) == [k for k in KINDS if k in slot.free]


def test_every_kind_needs_a_free_resource_at_once() -> None:
    resources = [doctor(1, "09:00-11:00"), room(5), ResourceSpec(9, "ECG", "equipment", "ecg")]
    busy = {9: [(berlin(MONDAY, 9), berlin(MONDAY, 10))], 5: [(berlin(MONDAY, 10, 30), berlin(MONDAY, 11))]}
    svc = service(30, doctor="gp", room="exam", equipment="ecg")
    slots = search(branch("08:00-18:00"), svc, resources, [MONDAY], busy)
    assert local_times(slots) == ["10:00"]
    assert slots[0].first_combination() == {"doctor": 1, "room": 5, "equipment": 9}


def test_validation_of_specs() -> None:
    with pytest.raises(ValueError):
        ServiceSpec(30, 0, 0, 0, 30, {"nurse": "any"})
    with pytest.raises(ValueError):
        ServiceSpec(0, 0, 0, 0, 30, {})
    with pytest.raises(ValueError):
        ServiceSpec(30, -5, 0, 0, 30, {})
    with pytest.raises(ValueError):
        ResourceSpec(1, "x", "nurse", "any")
    with pytest.raises(ValueError):
        BranchSpec("Mars/Olympus_Mons")
    with pytest.raises(ValueError):
        WeeklyRule(7, 0, 60)
    with pytest.raises(ValueError):
        WeeklyRule(0, 1440, 60)
    with pytest.raises(ValidationError):
        WeeklyRule.from_text(0, "09:00-09:00", "shift")
    svc = ServiceSpec(30, 0, 0, 0, 30, {"doctor": "gp"})
    with pytest.raises(TypeError):
        svc.needs["room"] = "exam"  # type: ignore[index]
    assert hash(svc) == hash(ServiceSpec(30, 0, 0, 0, 30, {"doctor": "gp"}))
    assert svc == ServiceSpec(30, 0, 0, 0, 30, {"doctor": "gp"})


def test_results_are_immutable_hashable_and_picklable() -> None:
    import copy
    import pickle

    (slot,) = search(branch("09:00-10:00"), service(60), [doctor(1, "09:00-10:00")], [MONDAY])
    assert pickle.loads(pickle.dumps(slot)) == slot
    assert copy.deepcopy(slot) == slot and hash(copy.deepcopy(slot)) == hash(slot)
    assert slot.free == {"doctor": (1,)}
    with pytest.raises(TypeError):
        slot.free["doctor"] = (2,)  # type: ignore[index]


def test_find_slot_at_rechecks_one_start() -> None:
    docs = [doctor(1, "09:00-10:00")]
    got = find_slot_at(branch(), service(30), docs, {}, berlin(MONDAY, 9, 15), LONG_AGO)
    assert got is not None and dict(got.free) == {"doctor": (1,)}
    assert find_slot_at(branch(), service(30), docs, {}, berlin(MONDAY, 9, 45), LONG_AGO) is None
    assert find_slot_at(branch(), service(30), docs, {}, berlin(MONDAY, 9, 5), LONG_AGO) is None


def test_free_windows_subtract_busy_and_clip_to_day() -> None:
    doc = doctor(1, (WeeklyRule.from_text(0, "20:00-02:00"),))
    busy = [(berlin(MONDAY, 21), berlin(MONDAY, 22))]
    assert free_windows(branch(), doc, busy, MONDAY) == [
        (berlin(MONDAY, 20), berlin(MONDAY, 21)),
        (berlin(MONDAY, 22), berlin(TUESDAY, 0)),
    ]
    assert free_windows(branch(), doc, busy, TUESDAY) == [(berlin(TUESDAY, 0), berlin(TUESDAY, 2))]
    assert free_windows(branch(), doc, busy, MONDAY, clip=False)[-1] == (berlin(MONDAY, 22), berlin(TUESDAY, 2))


def test_dense_two_week_search_leaves_partial_choices() -> None:
    # Speed is measured by `make bench`, never asserted here.
    docs = [doctor(i, "07:00-19:00") for i in range(1, 41)]
    rooms = [room(100 + i) for i in range(20)]
    days = [MONDAY + timedelta(days=k) for k in range(14)]
    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    for r in docs + rooms:
        busy[r.id] = [
            (berlin(d, h, 15 * ((r.id + h) % 4)), berlin(d, h, 15 * ((r.id + h) % 4)) + timedelta(minutes=30))
            for d in days
            for h in range(7, 19, 2)
        ]
    svc = service(30, 5, 10, doctor="gp", room="exam")
    slots = search(branch("07:00-19:00"), svc, docs + rooms, days, busy)
    assert slots and all(len(s.free["doctor"]) < 40 for s in slots)
    assert {s.start.astimezone(ZoneInfo(BERLIN)).date() for s in slots} <= set(days)


# --------------------------------------------------------------------------- against a plain reference


def _reference(
    br: BranchSpec,
    svc: ServiceSpec,
    resources: Sequence[ResourceSpec],
    busy: Busy,
    days: Sequence[date],
    now: datetime,
) -> list[tuple[datetime, dict[str, tuple[int, ...]]]]:
    """The contract, spelled out slowly: per start, per resource, per window."""
    from reception_app.domain.wallclock import day_bounds_utc, grid_starts, local_to_utc

    tz = ZoneInfo(br.timezone)
    today = now.astimezone(tz).date()

    def windows(res: ResourceSpec, day: date) -> list[tuple[datetime, datetime]]:
        rules = res.rules if res.kind == "doctor" else br.hours
        spans = []
        for k in range(-3, 4):
            d = day + timedelta(days=k)
            for r in rules:
                if r.applies_on(d):
                    end = r.end_min if r.end_min > r.start_min else r.end_min + 1440
                    spans.append((local_to_utc(d, r.start_min, tz), local_to_utc(d, end, tz, latest=True)))
        merged: list[list[datetime]] = []
        for a, b in sorted(spans):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        out = [(a, b) for a, b in merged]
        for h in br.holidays:
            ha, hb = day_bounds_utc(h, tz)
            out = [piece for a, b in out for piece in ((a, min(b, ha)), (max(a, hb), b)) if piece[0] < piece[1]]
        return out

    result = []
    for day in sorted(set(days)):
        if day > today + timedelta(days=svc.horizon_days):
            continue
        for s in grid_starts(day, tz):
            if s < now + timedelta(minutes=svc.min_notice_min):
                continue
            occ_a = s - timedelta(minutes=svc.buffer_before_min)
            occ_b = s + timedelta(minutes=svc.duration_min + svc.buffer_after_min)
            free: dict[str, tuple[int, ...]] = {}
            for kind in KINDS:
                if kind not in svc.needs:
                    continue
                free[kind] = tuple(
                    r.id
                    for r in resources
                    if r.kind == kind
                    and r.category == svc.needs[kind]
                    and any(a <= occ_a and occ_b <= b for a, b in windows(r, day))
                    and not any(ba < occ_b and occ_a < bb for ba, bb in busy.get(r.id, ()))
                )
            if not svc.needs:  # needs nothing: inside the branch's opening hours
                branch_hours = ResourceSpec(0, "branch", "room", "-")
                if not any(a <= occ_a and occ_b <= b for a, b in windows(branch_hours, day)):
                    continue
            if all(free.values()):
                result.append((s, free))
    return result


@pytest.mark.parametrize("seed", range(12))
def test_matches_reference_on_random_dst_weeks(seed: int) -> None:
    import random

    rng = random.Random(seed)
    zone, first = rng.choice(
        [
            ("Europe/Berlin", date(2027, 3, 26)),
            ("Europe/Berlin", date(2027, 10, 29)),
            ("America/New_York", date(2027, 11, 5)),
            ("America/Sao_Paulo", date(2018, 11, 2)),
            ("America/Sao_Paulo", date(2018, 2, 16)),
            ("Australia/Adelaide", date(2027, 4, 2)),
        ]
    )
    tz = ZoneInfo(zone)
    days = [first + timedelta(days=k) for k in range(4)]

    def rule(wd: int) -> WeeklyRule:
        start = rng.randrange(0, 96) * 15
        end = rng.choice([rng.randrange(1, 97) * 15, 1440, 0])
        if end == start:
            end = (start + 60) % 1440
        return WeeklyRule(wd, start, end)

    hours = tuple(rule(wd) for wd in range(7) for _ in range(rng.randint(0, 2)))
    br = BranchSpec(zone, hours, frozenset(rng.sample(days, rng.randint(0, 1))))
    resources = [
        ResourceSpec(i, f"d{i}", "doctor", rng.choice(["gp", "gp", "derm"]), tuple(rule(wd) for wd in range(7)))
        for i in range(1, 5)
    ] + [ResourceSpec(10 + i, f"r{i}", "room", "exam") for i in range(2)]
    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    for r in resources:
        for _ in range(rng.randint(0, 12)):
            a = datetime.combine(rng.choice(days), datetime.min.time(), tz).astimezone(UTC)
            a += timedelta(minutes=rng.randrange(0, 24 * 60, 5))
            busy.setdefault(r.id, []).append((a, a + timedelta(minutes=rng.randrange(5, 300, 5))))
    needs = rng.choice([{"doctor": "gp"}, {"doctor": "gp", "room": "exam"}, {"room": "exam"}, {}])
    svc = ServiceSpec(rng.choice([15, 30, 45, 90]), rng.choice([0, 5, 15]), rng.choice([0, 10]), 0, 3, needs)
    now = datetime.combine(first, datetime.min.time(), tz).astimezone(UTC) + timedelta(hours=rng.randint(0, 30))

    got = [(s.start, dict(s.free)) for s in find_slots(br, svc, resources, busy, days, now)]
    assert got == _reference(br, svc, resources, busy, days, now)


def test_busy_as_epoch_seconds_gives_the_same_slots() -> None:
    docs = [doctor(i, "07:00-19:00") for i in range(1, 4)]
    rooms = [room(100 + i) for i in range(2)]
    svc = service(30, 5, 10, doctor="gp", room="exam")
    busy_dt = {
        1: [(berlin(MONDAY, 9), berlin(MONDAY, 10, 30))],
        100: [(berlin(MONDAY, 8, 15), berlin(MONDAY, 9, 5))],
    }
    busy_s = {rid: [(int(a.timestamp()), int(b.timestamp())) for a, b in spans] for rid, spans in busy_dt.items()}
    with_dt = search(branch("07:00-19:00"), svc, docs + rooms, [MONDAY], busy_dt)
    with_s = search(branch("07:00-19:00"), svc, docs + rooms, [MONDAY], busy_s)
    assert with_dt == with_s
    assert any(s.free["doctor"] == (2, 3) for s in with_dt)  # doctor 1 is busy 09:00-10:30 for some starts


@pytest.mark.parametrize("day", [MONDAY, date(2027, 3, 28), date(2027, 10, 31)])  # ordinary, spring, autumn
def test_find_slot_at_agrees_with_the_day_search_for_every_start(day: date) -> None:
    from reception_app.domain.slots import find_slot_at
    from reception_app.domain.wallclock import grid_starts

    docs = [doctor(1, "07:00-19:00"), doctor(2, "00:00-24:00")]
    rooms = [room(100), room(101)]
    svc = service(30, 5, 10, doctor="gp", room="exam")
    busy = {1: [(berlin(day, 9), berlin(day, 10, 30))], 100: [(berlin(day, 8, 15), berlin(day, 9, 5))],
            101: [(berlin(day, 2), berlin(day, 4))]}
    now = berlin(day - timedelta(days=1), 12)
    whole_day = {s.start: s for s in search(branch("00:00-24:00"), svc, docs + rooms, [day], busy, now=now)}
    zone = ZoneInfo(BERLIN)
    for start in grid_starts(day, zone):
        one = find_slot_at(branch("00:00-24:00"), svc, docs + rooms, busy, start, now)
        assert one == whole_day.get(start), start
    assert whole_day  # the comparison covered offered starts too
