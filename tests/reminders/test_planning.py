"""The database plans, cancels and moves reminders in the transaction of the change (migration 0004).

Appointments are written with plain SQL, as any writer could; the instants are
checked in UTC against the branch's local wall clock, across DST changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .conftest import move_appointment, reminders, sql

BERLIN = ZoneInfo("Europe/Berlin")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def _utc(y, mo, d, h, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def _planned(db, appointment_id, purpose="reminder"):
    return [(ch, due) for p, ch, due, _ in reminders(db, appointment_id) if p == purpose]


def test_a_confirmed_booking_gets_a_confirmation_and_visit_reminders(clinic_db, add_patient, add_appointment):
    pid = add_patient(channels=("email",))
    start = datetime(2027, 6, 1, 10, 0, tzinfo=SAO_PAULO)
    appt = add_appointment(pid, start)
    rows = reminders(clinic_db, appt)
    assert [(p, ch) for p, ch, _, _ in rows] == [("confirmation", "email"), ("reminder", "email"),
                                                 ("reminder", "email")]
    assert _planned(clinic_db, appt) == [("email", _utc(2027, 5, 31, 13)),      # the day before, 10:00 local
                                         ("email", _utc(2027, 6, 1, 11))]       # 08:00 local the same morning


def test_send_times_follow_the_local_clock_across_dst_changes(clinic_db, add_patient, add_appointment):
    pid = add_patient(channels=("email",))
    # Spring forward (Berlin, 2027-03-28 02:00 -> 03:00): the day before is 25 real hours earlier.
    spring = add_appointment(pid, datetime(2027, 3, 28, 10, 0, tzinfo=BERLIN), branch="Berlin")
    assert _planned(clinic_db, spring) == [("email", _utc(2027, 3, 27, 9)),   # Sat 10:00 CET
                                           ("email", _utc(2027, 3, 28, 6))]   # Sun 08:00 CEST
    # Fall back (2027-10-31 03:00 -> 02:00): 23 real hours earlier.
    autumn = add_appointment(pid, datetime(2027, 10, 31, 10, 0, tzinfo=BERLIN), branch="Berlin")
    assert _planned(clinic_db, autumn) == [("email", _utc(2027, 10, 30, 8)),  # Sat 10:00 CEST
                                           ("email", _utc(2027, 10, 31, 7))]  # Sun 08:00 CET
    for _, due in _planned(clinic_db, spring) + _planned(clinic_db, autumn):
        assert due.astimezone(BERLIN).hour in (8, 10)


def test_quiet_hours_move_sms_and_whatsapp_but_not_email(clinic_db, add_patient, add_appointment):
    # Centro: "2 hours before" instead of the defaults (a branch rule replaces the clinic-wide ones).
    sql(clinic_db, "INSERT INTO reminder_rule (branch_id, purpose, name, days, minutes) "
                   "SELECT id, 'reminder', 'two_hours', 0, 120 FROM branch WHERE name = 'Centro'")
    pid = add_patient(channels=("email", "sms"))
    nine = add_appointment(pid, datetime(2027, 6, 1, 9, 0, tzinfo=SAO_PAULO))
    assert _planned(clinic_db, nine) == [("email", _utc(2027, 6, 1, 10)),    # 07:00 local
                                         ("sms", _utc(2027, 6, 1, 11))]      # quiet until 08:00 local
    eight = add_appointment(pid, datetime(2027, 6, 2, 8, 0, tzinfo=SAO_PAULO))
    # The SMS would move to 08:00, the start itself: dropped. E-mail has no quiet hours.
    assert _planned(clinic_db, eight) == [("email", _utc(2027, 6, 2, 9))]
    # The confirmation goes at once, but an SMS never inside 21:00-08:00 local.
    for purpose, channel, due, _ in reminders(clinic_db, nine):
        if purpose == "confirmation" and channel == "sms":
            local = due.astimezone(SAO_PAULO)
            assert 8 * 60 <= local.hour * 60 + local.minute < 21 * 60


def test_branch_quiet_hours_are_configurable(clinic_db, add_patient, add_appointment):
    sql(clinic_db, "UPDATE branch SET quiet_from_min = 22 * 60, quiet_until_min = 9 * 60 + 30 WHERE name = 'Berlin'")
    sql(clinic_db, "INSERT INTO reminder_rule (branch_id, purpose, name, days, at_local) "
                   "SELECT id, 'reminder', 'early', 0, '07:00' FROM branch WHERE name = 'Berlin'")
    pid = add_patient(channels=("whatsapp",))
    appt = add_appointment(pid, datetime(2027, 3, 28, 12, 0, tzinfo=BERLIN), branch="Berlin")
    assert _planned(clinic_db, appt) == [("whatsapp", _utc(2027, 3, 28, 7, 30))]   # 09:30 CEST


def test_only_consented_channels_and_an_opt_out_is_recorded_and_honoured_at_once(clinic_db, add_patient,
                                                                                  add_appointment):
    pid = add_patient(channels=("email", "sms"))
    appt = add_appointment(pid, datetime(2027, 6, 1, 10, 0, tzinfo=SAO_PAULO))
    assert {ch for _, ch, _, _ in reminders(clinic_db, appt)} == {"email", "sms"}
    sql(clinic_db, "UPDATE patient SET consent_channels = '{email}' WHERE id = :p", {"p": pid})
    assert {ch for _, ch, _, _ in reminders(clinic_db, appt)} == {"email"}
    cancelled = sql(clinic_db, "SELECT DISTINCT last_error FROM reminder WHERE appointment_id = :a "
                               "AND status = 'cancelled'", {"a": appt})
    assert cancelled == [("the patient opted out of sms",)]
    events = sql(clinic_db, "SELECT channel, granted, db_user, reason FROM consent_event WHERE patient_id = :p "
                            "ORDER BY id", {"p": pid})
    assert [(c, g) for c, g, _, _ in events] == [("email", True), ("sms", True), ("sms", False)]
    assert events[-1][2] and events[-1][3] == "test"
    later = add_appointment(pid, datetime(2027, 6, 8, 10, 0, tzinfo=SAO_PAULO))
    assert {ch for _, ch, _, _ in reminders(clinic_db, later)} == {"email"}
    # No channel, no address: nothing planned.
    nobody = add_patient("No Consent", channels=())
    assert reminders(clinic_db, add_appointment(nobody, datetime(2027, 6, 9, 10, tzinfo=SAO_PAULO))) == []
    no_mail = add_patient("No Mail", channels=("email",), email=None)
    assert reminders(clinic_db, add_appointment(no_mail, datetime(2027, 6, 9, 11, tzinfo=SAO_PAULO))) == []


def test_cancelling_cancels_pending_reminders_in_the_same_transaction(clinic_db, add_patient, add_appointment):
    pid = add_patient()
    appt = add_appointment(pid, datetime(2027, 6, 1, 10, 0, tzinfo=SAO_PAULO))
    assert len(reminders(clinic_db, appt)) == 6
    sql(clinic_db, "UPDATE appointment SET status = 'cancelled' WHERE id = :a", {"a": appt})
    assert reminders(clinic_db, appt) == []
    assert {r[3] for r in reminders(clinic_db, appt, status=None)} == {"cancelled"}
    assert sql(clinic_db, "SELECT DISTINCT last_error FROM reminder WHERE appointment_id = :a",
               {"a": appt}) == [("appointment cancelled",)]


def test_moving_re_plans_the_visit_reminders(clinic_db, add_patient, add_appointment):
    pid = add_patient(channels=("email",))
    appt = add_appointment(pid, datetime(2027, 6, 1, 10, 0, tzinfo=SAO_PAULO))
    new_start = datetime(2027, 6, 3, 14, 0, tzinfo=SAO_PAULO)
    move_appointment(clinic_db, appt, new_start)
    assert _planned(clinic_db, appt) == [("email", _utc(2027, 6, 2, 17)), ("email", _utc(2027, 6, 3, 11))]
    assert len(_planned(clinic_db, appt, "confirmation")) == 1      # the confirmation is not repeated
    moved = sql(clinic_db, "SELECT count(*) FROM reminder WHERE appointment_id = :a AND status = 'cancelled' "
                           "AND last_error = 'appointment moved'", {"a": appt})
    assert moved == [(2,)]


def test_imports_and_past_appointments_get_no_reminders(clinic_db, add_patient, add_appointment):
    pid = add_patient()
    assert reminders(clinic_db, add_appointment(pid, datetime(2027, 6, 1, 10, tzinfo=SAO_PAULO),
                                                source="import")) == []
    past = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    assert reminders(clinic_db, add_appointment(pid, past)) == []


def test_payment_pending_then_confirmed_then_completed(clinic_db, add_patient, add_appointment):
    pid = add_patient(channels=("email",))
    appt = add_appointment(pid, datetime(2027, 6, 1, 10, 0, tzinfo=SAO_PAULO), status="payment_pending")
    assert [r[0] for r in reminders(clinic_db, appt)] == ["payment"]
    sql(clinic_db, "UPDATE appointment SET status = 'confirmed' WHERE id = :a", {"a": appt})
    assert sorted(r[0] for r in reminders(clinic_db, appt)) == ["confirmation", "reminder", "reminder"]
    # A visit is completed after its start only (the database's clock): one in the real past.
    past = add_appointment(pid, datetime(2026, 6, 1, 10, 0, tzinfo=SAO_PAULO), status="checked_in")
    sql(clinic_db, "UPDATE appointment SET status = 'completed' WHERE id = :a", {"a": past})
    follow_up = reminders(clinic_db, past)
    assert [(r[0], r[1], r[3]) for r in follow_up] == [("follow_up", "email", "pending")]
    # due the next day at 10:00 local (13:00 UTC), which has passed: so at once, by the server's clock
    server_now = sql(clinic_db, "SELECT now()")[0][0]
    assert _utc(2026, 6, 2, 13) < follow_up[0][2] <= server_now


def test_a_narrower_inactive_rule_switches_reminders_off(clinic_db, add_patient, add_appointment):
    sql(clinic_db, "INSERT INTO reminder_rule (service_id, purpose, name, active) "
                   "SELECT id, 'reminder', 'none', false FROM service WHERE name = 'Abdominal ultrasound'")
    pid = add_patient(channels=("email",))
    appt = add_appointment(pid, datetime(2027, 6, 1, 10, 0, tzinfo=SAO_PAULO))
    assert [r[0] for r in reminders(clinic_db, appt)] == ["confirmation"]
