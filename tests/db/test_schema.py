"""The database is the authority: raw SQL (bypassing the app) cannot break the invariants.

Every statement here goes straight to PostgreSQL with psycopg; the app's slot
engine is not involved except where a test says so (notifications, set_status).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import errors as pgerr

from reception_app.domain.errors import InvalidTransition, NotFound, SlotTaken
from reception_app.domain.status import STATUSES, TRANSITIONS
from reception_app.services import patients, scheduling

NOW = datetime(2027, 1, 1, tzinfo=UTC)
# Monday 2027-01-04 08:00 in Sao Paulo (UTC-3).
T0 = datetime(2027, 1, 4, 11, 0, tzinfo=UTC)
M15 = timedelta(minutes=15)
# Monday 2026-06-01 08:00 in Sao Paulo: in the real past, where outcomes (no-show, completed) may be
# recorded — the database refuses them before the start by its own clock.
PAST = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)


@pytest.fixture
def sql(clinic_db, db_url):
    """An autocommit psycopg connection as the database owner, plus name -> id lookups."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield Raw(conn)


class Raw:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.res = dict(conn.execute("SELECT name, id FROM resource").fetchall())
        self.branch = dict(conn.execute("SELECT name, id FROM branch").fetchall())
        # A scan without buffers (migration 0009: a booking's period is its appointment's time widened
        # by exactly its service's buffers), needing what "Abdominal ultrasound" needs.
        conn.execute("INSERT INTO service (name, duration_min, doctor_specialty, room_kind, equipment_kind) "
                     "VALUES ('Raw scan', 30, 'radiology', 'imaging', 'ultrasound')")
        self.service = dict(conn.execute("SELECT name, id FROM service").fetchall())
        self.patient = conn.execute(
            "INSERT INTO patient (display_name, birth_date) VALUES ('Raw Patient', '1970-05-05') RETURNING id"
        ).fetchone()[0]

    def appt(self, start: datetime, end: datetime, *, status: str = "confirmed", branch: str = "Centro",
             service: str = "Raw scan", patient: int | None = None) -> int:
        """A raw appointment, by default of a patient of its own (a patient is in one place at a time)."""
        patient = patient or self.conn.execute(
            "INSERT INTO patient (display_name, birth_date) VALUES ('Raw Patient', '1970-05-05') RETURNING id"
        ).fetchone()[0]
        return self.conn.execute(
            "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source) "
            "VALUES (%s, %s, %s, %s, %s, %s, 'phone') RETURNING id",
            (patient, self.service[service], self.branch[branch], status, start, end),
        ).fetchone()[0]

    def book(self, appointment_id: int, resource: str, lo: datetime, hi: datetime) -> int:
        return self.conn.execute(
            "INSERT INTO booking (appointment_id, resource_id, period) VALUES (%s, %s, tstzrange(%s, %s)) "
            "RETURNING id", (appointment_id, self.res[resource], lo, hi)).fetchone()[0]

    def appt_with_booking(self, resource: str, start: datetime, end: datetime, **kw) -> int:
        a = self.appt(start, end, **kw)
        self.book(a, resource, start, end)
        return a

    def set_status(self, appointment_id: int, status: str) -> None:
        """A raw status change; ``rescheduled`` names a successor (a new appointment of the same patient)."""
        if status != "rescheduled":
            self.conn.execute("UPDATE appointment SET status = %s WHERE id = %s", (status, appointment_id))
            return
        patient, start = self.conn.execute("SELECT patient_id, starts_at FROM appointment WHERE id = %s",
                                           (appointment_id,)).fetchone()
        later = start + timedelta(days=1)
        successor = self.appt_with_booking("Ultrasound A", later, later + 2 * M15, patient=patient, service="Raw scan")
        self.conn.execute("UPDATE appointment SET status = 'rescheduled', rescheduled_to = %s WHERE id = %s",
                          (successor, appointment_id))

    def status(self, appointment_id: int) -> str:
        return self.conn.execute("SELECT status FROM appointment WHERE id = %s", (appointment_id,)).fetchone()[0]

    def live(self, appointment_id: int) -> list[bool]:
        return [r[0] for r in self.conn.execute(
            "SELECT live FROM booking WHERE appointment_id = %s ORDER BY id", (appointment_id,))]

    def overlapping_live_pairs(self) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM booking a JOIN booking b ON a.resource_id = b.resource_id AND a.id < b.id "
            "WHERE a.live AND b.live AND a.period && b.period").fetchone()[0]


# -- the exclusion constraint --------------------------------------------------------
def test_overlapping_live_bookings_of_one_resource_are_refused(sql):
    sql.appt_with_booking("Ultrasound A", T0, T0 + 2 * M15)
    other = sql.appt(T0 + M15, T0 + 3 * M15)
    with pytest.raises(pgerr.ExclusionViolation) as info:
        sql.book(other, "Ultrasound A", T0 + M15, T0 + 3 * M15)
    assert info.value.sqlstate == "23P01"
    assert info.value.diag.constraint_name == "booking_no_overlap"
    # Another resource at the same time is fine.
    sql.book(other, "Imaging 2", T0 + M15, T0 + 3 * M15)
    assert sql.overlapping_live_pairs() == 0


def test_buffer_in_the_booking_period_blocks_too(sql):
    # The period includes the service's buffer: [08:00, 08:40) blocks a start at 08:30.
    a = sql.appt(T0, T0 + 2 * M15, service="Abdominal ultrasound")      # 10 minutes' buffer after
    with pytest.raises(pgerr.CheckViolation) as no_buffer:             # without it: refused
        sql.book(a, "Ultrasound A", T0, T0 + 2 * M15)
    assert no_buffer.value.diag.constraint_name == "booking_buffers"
    sql.book(a, "Ultrasound A", T0, T0 + timedelta(minutes=40))
    b = sql.appt(T0 + 2 * M15, T0 + 4 * M15)
    with pytest.raises(pgerr.ExclusionViolation):
        sql.book(b, "Ultrasound A", T0 + 2 * M15, T0 + 4 * M15)


def test_touching_intervals_do_not_overlap(sql):
    sql.appt_with_booking("Ultrasound A", T0, T0 + 2 * M15)
    sql.appt_with_booking("Ultrasound A", T0 + 2 * M15, T0 + 4 * M15)
    sql.appt_with_booking("Ultrasound A", T0 - 2 * M15, T0)
    n = sql.conn.execute("SELECT count(*) FROM booking WHERE live AND resource_id = %s",
                         (sql.res["Ultrasound A"],)).fetchone()[0]
    assert n == 3


def test_a_released_booking_does_not_block(sql):
    a = sql.appt_with_booking("Ultrasound A", T0, T0 + 2 * M15)
    sql.conn.execute("UPDATE appointment SET status = 'cancelled' WHERE id = %s", (a,))
    assert sql.live(a) == [False]
    sql.appt_with_booking("Ultrasound A", T0, T0 + 2 * M15)  # the same slot again
    # A booking inserted for an already-cancelled appointment is not live either.
    c = sql.appt(T0, T0 + 2 * M15, status="cancelled")
    sql.book(c, "Ultrasound A", T0, T0 + 2 * M15)
    assert sql.live(c) == [False]
    assert sql.overlapping_live_pairs() == 0


def test_a_released_booking_cannot_be_made_live_by_hand(sql):
    a = sql.appt_with_booking("Ultrasound A", T0, T0 + 2 * M15)
    sql.conn.execute("UPDATE appointment SET status = 'cancelled' WHERE id = %s", (a,))
    sql.appt_with_booking("Ultrasound A", T0, T0 + 2 * M15)
    # The flag follows the appointment's status: setting it by hand changes nothing ...
    sql.conn.execute("UPDATE booking SET live = true WHERE appointment_id = %s", (a,))
    assert sql.live(a) == [False]
    assert sql.overlapping_live_pairs() == 0
    # ... nor can a live appointment's booking be released behind its back.
    b = sql.appt_with_booking("Imaging 2", T0 + 8 * M15, T0 + 10 * M15)
    sql.conn.execute("UPDATE booking SET live = false WHERE appointment_id = %s", (b,))
    assert sql.live(b) == [True]


def test_uncancelling_is_refused_by_the_transition_trigger(sql):
    a = sql.appt_with_booking("Ultrasound A", T0, T0 + 2 * M15)
    sql.conn.execute("UPDATE appointment SET status = 'cancelled' WHERE id = %s", (a,))
    with pytest.raises(psycopg.Error) as info:
        sql.conn.execute("UPDATE appointment SET status = 'confirmed' WHERE id = %s", (a,))
    assert info.value.sqlstate == "CL001"
    assert sql.status(a) == "cancelled"
    assert sql.live(a) == [False]


# -- checks -------------------------------------------------------------------------
@pytest.mark.parametrize("start, end, constraint", [
    (T0 + timedelta(minutes=5), T0 + 2 * M15, "appointment_start_on_grid"),
    (T0, T0 + timedelta(minutes=40), "appointment_end_on_grid"),
    (T0 + timedelta(seconds=1), T0 + 2 * M15, "appointment_start_on_grid"),
    (T0, T0, "appointment_end_after_start"),
    (T0 + 2 * M15, T0, "appointment_end_after_start"),
])
def test_times_off_the_grid_or_backwards_are_refused(sql, start, end, constraint):
    with pytest.raises(pgerr.CheckViolation) as info:
        sql.appt(start, end)
    assert info.value.diag.constraint_name == constraint
    assert sql.conn.execute("SELECT count(*) FROM appointment").fetchone()[0] == 0


def test_booking_inside_time_off_is_refused_like_an_overlap(sql):
    # Ana Souza is on leave 2027-03-01 .. 2027-03-08 (Sao Paulo); Tuesday 2027-03-02 08:00 local.
    start = datetime(2027, 3, 2, 11, 0, tzinfo=UTC)
    a = sql.appt(start, start + 2 * M15)
    with pytest.raises(pgerr.ExclusionViolation) as info:
        sql.book(a, "Ana Souza", start, start + 2 * M15)
    assert info.value.diag.constraint_name == "booking_time_off"
    assert f"Key (resource_id, period)=({sql.res['Ana Souza']}, " in info.value.diag.message_detail
    sql.book(a, "Bruno Lima", start, start + 2 * M15)  # another doctor is fine
    # A released (cancelled) booking may sit in time off: it occupies nothing.
    c = sql.appt(start, start + 2 * M15, status="cancelled")
    sql.book(c, "Ana Souza", start, start + 2 * M15)


def test_booking_must_cover_its_appointment(sql):
    a = sql.appt(T0, T0 + 2 * M15)
    with pytest.raises(pgerr.CheckViolation, match="does not cover"):
        sql.book(a, "Ultrasound A", T0 + M15, T0 + 2 * M15)
    with pytest.raises(pgerr.CheckViolation, match="does not cover"):
        sql.book(a, "Ultrasound A", T0, T0 + M15)
    with pytest.raises(pgerr.CheckViolation) as wider:       # more than its service's buffers (none)
        sql.book(a, "Ultrasound A", T0 - M15, T0 + 3 * M15)
    assert wider.value.diag.constraint_name == "booking_buffers"
    sql.book(a, "Ultrasound A", T0, T0 + 2 * M15)


def test_booking_period_must_be_half_open_and_finite(sql):
    a = sql.appt(T0, T0 + 2 * M15)
    with pytest.raises(pgerr.CheckViolation):
        sql.conn.execute("INSERT INTO booking (appointment_id, resource_id, period) "
                         "VALUES (%s, %s, tstzrange(%s, NULL))", (a, sql.res["Ultrasound A"], T0))
    with pytest.raises(pgerr.CheckViolation):
        sql.conn.execute("INSERT INTO booking (appointment_id, resource_id, period) "
                         "VALUES (%s, %s, tstzrange(%s, %s, '[]'))",
                         (a, sql.res["Ultrasound A"], T0, T0 + 2 * M15))


def test_room_of_another_branch_is_refused(sql):
    a = sql.appt(T0, T0 + 2 * M15)  # a Centro appointment
    with pytest.raises(pgerr.CheckViolation, match="another branch"):
        sql.book(a, "Berlin Room", T0, T0 + 2 * M15)
    sql.book(a, "Imaging 1", T0, T0 + 2 * M15)
    # Doctors have no branch: they may serve any branch they have shifts at.
    sql.book(a, "Ana Souza", T0, T0 + 2 * M15)


# -- statuses ------------------------------------------------------------------------
def test_status_transition_table_matches_the_domain(sql):
    rows = set(sql.conn.execute("SELECT from_status, to_status FROM status_transition").fetchall())
    domain = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert rows == domain
    assert set(TRANSITIONS) == set(STATUSES)
    # The appointment.status check allows exactly the domain's statuses.
    check = sql.conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'appointment'::regclass "
        "AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%''requested''%'").fetchone()[0]
    for s in STATUSES:
        assert f"'{s}'" in check


@pytest.mark.parametrize("path", [
    ["checked_in", "in_progress", "completed"],
    ["no_show", "checked_in", "completed"],
    ["payment_pending", "confirmed", "rescheduled"],
])
def test_allowed_transitions_pass_in_sql(sql, path):
    a = sql.appt_with_booking("Ultrasound A", PAST, PAST + 2 * M15)
    for status in path:
        sql.set_status(a, status)
        assert sql.status(a) == status
    assert sql.live(a) == [path[-1] not in ("cancelled", "rescheduled")]


@pytest.mark.parametrize("start_path, bad", [
    ([], "in_progress"),
    ([], "completed"),
    (["checked_in", "completed"], "confirmed"),
    (["rescheduled"], "confirmed"),
    (["no_show"], "cancelled"),
])
def test_disallowed_transitions_raise_cl001(sql, start_path, bad):
    a = sql.appt_with_booking("Ultrasound A", PAST, PAST + 2 * M15)
    for status in start_path:
        sql.set_status(a, status)
    before = sql.status(a)
    with pytest.raises(psycopg.Error) as info:
        sql.conn.execute("UPDATE appointment SET status = %s WHERE id = %s", (bad, a))
    assert info.value.sqlstate == "CL001"
    assert sql.status(a) == before


@pytest.mark.parametrize("start_path, outcome, words", [
    ([], "no_show", "cannot be a no-show"),
    (["checked_in"], "completed", "cannot be completed"),
    (["checked_in", "in_progress"], "completed", "cannot be completed"),
])
def test_no_outcome_before_the_start_by_the_servers_clock(clinic_db, sql, start_path, outcome, words):
    """Issue 16: nobody is a no-show, and no visit completed, before its start — whoever asks."""
    a = sql.appt_with_booking("Ultrasound A", T0, T0 + 2 * M15)   # 2027: still to come
    for status in start_path:
        sql.set_status(a, status)
    with pytest.raises(psycopg.Error) as info:
        sql.conn.execute("UPDATE appointment SET status = %s WHERE id = %s", (outcome, a))
    assert info.value.sqlstate == "CL001" and info.value.diag.message_hint.startswith("not_started_")
    assert sql.status(a) == (start_path[-1] if start_path else "confirmed")
    with pytest.raises(InvalidTransition) as refused:   # the service says it in the desk's words
        scheduling.set_status(clinic_db, a, outcome)
    assert words in str(refused.value) and "not started yet" in str(refused.value)


def test_set_status_service_follows_the_same_rules(clinic_db, sql):
    p = patients.add_patient(clinic_db, name="Status Patient", birth_date="1980-01-01")
    appt = scheduling.book(clinic_db, branch="Centro", service="Abdominal ultrasound", start=PAST,
                           patient_id=p.id, now=PAST - timedelta(days=10))
    with pytest.raises(InvalidTransition):
        scheduling.set_status(clinic_db, appt.id, "completed")
    assert scheduling.set_status(clinic_db, appt.id, "checked_in").status == "checked_in"
    assert scheduling.set_status(clinic_db, appt.id, "completed", reason="done").status == "completed"
    with pytest.raises(InvalidTransition):
        scheduling.set_status(clinic_db, appt.id, "cancelled")
    assert sql.status(appt.id) == "completed"
    with pytest.raises(NotFound) as info:
        scheduling.set_status(clinic_db, 987654, "checked_in")
    assert info.value.field == "appointment"
    with pytest.raises(NotFound):
        scheduling.cancel(clinic_db, 987654, reason="x", now=NOW)


def test_the_transition_trigger_refuses_what_the_service_check_would_miss(clinic_db, sql, monkeypatch):
    """With the client-side check switched off, the trigger (CL001) still says no -> InvalidTransition."""
    p = patients.add_patient(clinic_db, name="Trigger Patient", birth_date="1980-01-01")
    appt = scheduling.book(clinic_db, branch="Centro", service="Abdominal ultrasound", start=T0,
                           patient_id=p.id, now=NOW)
    monkeypatch.setattr(scheduling, "check_transition", lambda old, new: None)
    with pytest.raises(InvalidTransition, match="cannot change from confirmed to completed"):
        scheduling.set_status(clinic_db, appt.id, "completed")
    assert sql.status(appt.id) == "confirmed"


def test_cancel_releases_the_slot_for_rebooking(clinic_db, sql):
    p = patients.add_patient(clinic_db, name="Cancel Patient", birth_date="1980-01-01")
    kw = dict(branch="Centro", service="Abdominal ultrasound", start=T0, patient_id=p.id, now=NOW)
    first = scheduling.book(clinic_db, **kw)
    assert sql.live(first.id) == [True, True, True]
    cancelled = scheduling.cancel(clinic_db, first.id, reason="patient is ill", now=NOW)
    assert cancelled.status == "cancelled"
    assert sql.live(first.id) == [False, False, False]
    reason = sql.conn.execute("SELECT status_reason FROM appointment WHERE id = %s", (first.id,)).fetchone()[0]
    assert reason == "patient is ill"
    second = scheduling.book(clinic_db, **kw)
    assert second.id != first.id and second.start == first.start
    assert second.resources == first.resources
    # Cancelling again is a harmless retry; un-cancelling is refused (and would clash with `second`).
    assert scheduling.cancel(clinic_db, first.id, reason="again", now=NOW).status == "cancelled"
    with pytest.raises(InvalidTransition):
        scheduling.set_status(clinic_db, first.id, "confirmed")
    assert sql.overlapping_live_pairs() == 0


# -- notifications -------------------------------------------------------------------
def _listen(db_url: str) -> psycopg.Connection:
    conn = psycopg.connect(db_url, autocommit=True)
    conn.execute("LISTEN clinic_schedule")
    return conn


def test_booking_notifies_the_branch_and_local_day(clinic_db, db_url, sql):
    p = patients.add_patient(clinic_db, name="Notify Patient", birth_date="1980-01-01")
    with _listen(db_url) as listener:
        appt = scheduling.book(clinic_db, branch="Centro", service="Abdominal ultrasound", start=T0,
                               patient_id=p.id, now=NOW)
        got = list(listener.notifies(timeout=10, stop_after=1))
    assert len(got) == 1
    assert got[0].channel == "clinic_schedule"
    assert json.loads(got[0].payload) == {"branch": sql.branch["Centro"], "day": "2027-01-04"}
    # A status change notifies too.
    with _listen(db_url) as listener:
        scheduling.cancel(clinic_db, appt.id, reason="moved away", now=NOW)
        got = list(listener.notifies(timeout=10, stop_after=1))
    assert [json.loads(n.payload) for n in got] == [{"branch": sql.branch["Centro"], "day": "2027-01-04"}]


def test_notification_day_is_the_branch_local_date(clinic_db, db_url, sql):
    # Berlin, Sunday 2027-01-03 00:15 local = Saturday 23:15 UTC: the day is the local one.
    p = patients.add_patient(clinic_db, name="Berlin Patient", birth_date="1980-01-01")
    start = datetime(2027, 1, 3, 0, 15, tzinfo=timezone(timedelta(hours=1)))
    with _listen(db_url) as listener:
        scheduling.book(clinic_db, branch="Berlin", service="Consultation", start=start, patient_id=p.id, now=NOW)
        got = list(listener.notifies(timeout=10, stop_after=1))
    assert [json.loads(n.payload) for n in got] == [{"branch": sql.branch["Berlin"], "day": "2027-01-03"}]


def test_a_failed_booking_notifies_nothing(clinic_db, db_url):
    p = patients.add_patient(clinic_db, name="Quiet Patient", birth_date="1980-01-01")
    kw = dict(branch="Centro", service="Abdominal ultrasound", start=T0, patient_id=p.id, now=NOW)
    scheduling.book(clinic_db, **kw)
    with _listen(db_url) as listener:
        with pytest.raises(SlotTaken):
            scheduling.book(clinic_db, **kw)
        # Sentinel: a notification sent after the failed attempt is the first one to arrive.
        listener.execute("NOTIFY clinic_schedule, 'sentinel'")
        got = list(listener.notifies(timeout=10, stop_after=1))
    assert [n.payload for n in got] == ["sentinel"]


# -- appointments stay with their bookings; ids never change -------------------------
def test_an_appointment_cannot_move_away_from_its_bookings(sql):
    a = sql.appt_with_booking("Ana Souza", T0, T0 + 2 * M15)
    sql.appt_with_booking("Ana Souza", T0 + 4 * M15, T0 + 6 * M15)
    # A raw move of the appointment alone would double-book Ana at the other one's time.
    with pytest.raises(pgerr.CheckViolation, match="no longer cover"):
        sql.conn.execute("UPDATE appointment SET starts_at = starts_at + interval '1 hour', "
                         "ends_at = ends_at + interval '1 hour' WHERE id = %s", (a,))
    # A room stays in its branch (doctors belong to none, so their bookings allow a branch change).
    in_room = sql.appt_with_booking("Imaging 1", T0 + 8 * M15, T0 + 10 * M15)
    with pytest.raises(pgerr.CheckViolation, match="no longer cover"):
        sql.conn.execute("UPDATE appointment SET branch_id = %s WHERE id = %s", (sql.branch["Berlin"], in_room))
    # Moving the appointment and its booking together in one transaction is fine (the check is deferred),
    # and the exclusion constraint still guards the new time.
    with sql.conn.transaction():
        sql.conn.execute("UPDATE appointment SET starts_at = starts_at + interval '30 minutes', "
                         "ends_at = ends_at + interval '30 minutes' WHERE id = %s", (a,))
        sql.conn.execute("UPDATE booking SET period = tstzrange(lower(period) + interval '30 minutes', "
                         "upper(period) + interval '30 minutes') WHERE appointment_id = %s", (a,))
    with pytest.raises(pgerr.ExclusionViolation):
        with sql.conn.transaction():
            sql.conn.execute("UPDATE appointment SET starts_at = starts_at + interval '30 minutes', "
                             "ends_at = ends_at + interval '30 minutes' WHERE id = %s", (a,))
            sql.conn.execute("UPDATE booking SET period = tstzrange(lower(period) + interval '30 minutes', "
                             "upper(period) + interval '30 minutes') WHERE appointment_id = %s", (a,))
    assert sql.overlapping_live_pairs() == 0


@pytest.mark.parametrize("table", ["appointment", "booking"])
def test_row_ids_never_change_so_the_audit_trail_cannot_be_dodged(sql, table):
    a = sql.appt_with_booking("Ana Souza", T0, T0 + 2 * M15)
    row = a if table == "appointment" else sql.conn.execute(
        "SELECT id FROM booking WHERE appointment_id = %s", (a,)).fetchone()[0]
    with pytest.raises(pgerr.CheckViolation, match="id cannot change"):
        sql.conn.execute(f"UPDATE {table} SET id = 999999 WHERE id = %s", (row,))


def test_a_change_to_bookings_alone_notifies_the_appointments_day(clinic_db, db_url, sql):
    a = sql.appt_with_booking("Ana Souza", T0, T0 + 2 * M15)
    with _listen(db_url) as listener:
        sql.conn.execute("UPDATE booking SET resource_id = %s WHERE appointment_id = %s",
                         (sql.res["Bruno Lima"], a))
        got = list(listener.notifies(timeout=10, stop_after=1))
    assert [json.loads(n.payload) for n in got] == [{"branch": sql.branch["Centro"], "day": "2027-01-04"}]


def test_the_grid_read_includes_appointments_running_over_midnight(clinic_db, sql):
    from reception_app.services import catalog

    # Friday 2027-01-08 23:45 -> Saturday 00:15 in Sao Paulo (UTC-3).
    start = datetime(2027, 1, 9, 2, 45, tzinfo=UTC)
    a = sql.appt_with_booking("Ana Souza", start, start + 2 * M15)

    def on(day, overlapping):
        return clinic_db.read(lambda c: [v.id for v in scheduling.appointments_on(
            c, catalog.load_branch(c, "Centro"), day, overlapping=overlapping)])

    saturday, friday = datetime(2027, 1, 9).date(), datetime(2027, 1, 8).date()
    assert on(friday, False) == [a] and on(saturday, False) == []   # "appointments on a day": by start
    assert on(saturday, True) == [a] and on(friday, True) == [a]    # the grid: whatever touches the day
