"""Quiet hours at the moment of sending (issue 14, section 8): an SMS or WhatsApp message — a retry
after a gateway failure included — is never sent inside its branch's quiet hours; it is put back
until they end (branch-local, across DST nights), without counting an attempt.

Real parts: the Twilio-compatible gateway stand-in and the aiosmtpd server over TCP, the real
PostgreSQL; the clock is the claim's ``now`` (the database's own clock is 2026, the appointments
are in 2027)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from reception_app.reminders import queue
from reception_app.reminders.service import ReminderService

from .conftest import settings_for, sql
from .servers import GatewayServer, GatewayState, SmtpServer, SmtpSink

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
BERLIN = ZoneInfo("Europe/Berlin")
ALL = ["email", "sms", "whatsapp", "file"]


def _rows(db) -> dict[str, tuple]:
    """channel -> (status, attempts, next_attempt_at UTC or None, last_error) of the confirmation rows."""
    return {ch: (st, n, nxt, err) for ch, st, n, nxt, err in sql(
        db, "SELECT channel, status, attempts, next_attempt_at, last_error FROM reminder "
            "WHERE purpose = 'confirmation'")}


def _quiet(db, branch: str, start_min: int = 21 * 60, end_min: int = 8 * 60) -> None:
    sql(db, "UPDATE branch SET quiet_from_min = :f, quiet_until_min = :u WHERE name = :b",
        {"f": start_min, "u": end_min, "b": branch})


def test_a_retry_after_a_gateway_failure_waits_for_the_morning(clinic_db, booked, tmp_path):
    _quiet(clinic_db, "Centro")                                   # 21:00-08:00 São Paulo time
    state = GatewayState(fail=[500, 500])                         # the evening's two SMS/WhatsApp attempts fail
    sink = SmtpSink()
    with SmtpServer(sink) as smtp, GatewayServer(state) as gw:
        service = ReminderService(clinic_db, settings_for(tmp_path, smtp, gw))
        # 20:59 local, the evening before the visit (10:00): all three go out, the gateway answers 500.
        assert service.run_once(now=datetime(2027, 5, 31, 20, 59, tzinfo=SAO_PAULO)) == 3
        rows = _rows(clinic_db)
        assert rows["email"][0] == "sent" and len(sink.messages) == 1
        for channel in ("sms", "whatsapp"):
            status, attempts, _, error = rows[channel]
            assert (status, attempts) == ("pending", 1) and "500" in error
        keys = dict(sql(clinic_db, "SELECT channel, idempotency_key FROM reminder"))
        # 23:30 local: the retries are due (backoff 0) but inside the quiet hours: not sent, put back to
        # 08:00 local the next morning, no attempt counted, the gateway's error kept for reception.
        assert service.run_once(now=datetime(2027, 5, 31, 23, 30, tzinfo=SAO_PAULO)) == 2
        assert len(state.requests) == 2
        morning = datetime(2027, 6, 1, 8, 0, tzinfo=SAO_PAULO)
        for channel in ("sms", "whatsapp"):
            status, attempts, nxt, error = _rows(clinic_db)[channel]
            assert (status, attempts, nxt) == ("pending", 1, morning.astimezone(UTC)) and "500" in error
        # Just before the end of the quiet hours nothing is due; at 08:00 both go out, second attempt.
        assert service.run_once(now=datetime(2027, 6, 1, 7, 59, tzinfo=SAO_PAULO)) == 0
        assert len(state.requests) == 2
        assert service.run_once(now=morning) == 2
        service.close()
    rows = _rows(clinic_db)
    assert {ch: rows[ch][:2] for ch in rows} == {"email": ("sent", 1), "sms": ("sent", 2), "whatsapp": ("sent", 2)}
    assert sorted(r["key"] for r in state.delivered) == sorted([keys["sms"], keys["whatsapp"]])
    assert len(sink.messages) == 1                                 # e-mail has no quiet hours, sent once


def test_e_mail_goes_out_at_night_and_a_message_the_quiet_hours_would_make_late_is_cancelled(
        clinic_db, booked, tmp_path):
    # Quiet until 10:30 local, the visit starts at 10:00: waiting would deliver the confirmation after
    # the start, so (as the planner does) it is dropped, saying why; the e-mail goes out at once.
    _quiet(clinic_db, "Centro", 21 * 60, 10 * 60 + 30)
    sink, state = SmtpSink(), GatewayState()
    with SmtpServer(sink) as smtp, GatewayServer(state) as gw:
        service = ReminderService(clinic_db, settings_for(tmp_path, smtp, gw))
        assert service.run_once(now=datetime(2027, 6, 1, 0, 30, tzinfo=SAO_PAULO)) == 3
        service.close()
    rows = _rows(clinic_db)
    assert rows["email"][:2] == ("sent", 1) and len(sink.messages) == 1
    for channel in ("sms", "whatsapp"):
        assert rows[channel] == ("cancelled", 0, None, "quiet hours last until the appointment starts")
    assert state.requests == []


def test_a_lease_that_ran_out_at_night_is_put_back_not_sent(clinic_db, booked, tmp_path):
    _quiet(clinic_db, "Centro")
    day = datetime(2027, 5, 31, 15, 0, tzinfo=SAO_PAULO)
    dead = queue.claim(clinic_db, worker="dead-worker", channels=ALL, batch=10, lease_s=0.2, now=day)
    assert len(dead) == 3                                          # claimed by day, then the worker died
    # The lease runs out by the database's clock, whatever clock the caller judges by.
    assert queue.claim_round(clinic_db, worker="other", channels=ALL, batch=10, lease_s=30,
                             now=datetime(2027, 6, 1, 12, 0, tzinfo=SAO_PAULO)).handled == 0
    time.sleep(0.3)
    night = queue.claim_round(clinic_db, worker="other", channels=ALL, batch=10, lease_s=30,
                              now=datetime(2027, 5, 31, 22, 0, tzinfo=SAO_PAULO))
    assert [c.channel for c in night.claimed] == ["email"] and night.deferred == 2 and night.cancelled == 0
    rows = _rows(clinic_db)
    assert rows["sms"][:3] == rows["whatsapp"][:3] == (
        "pending", 1, datetime(2027, 6, 1, 8, 0, tzinfo=SAO_PAULO).astimezone(UTC))
    assert sql(clinic_db, "SELECT count(*) FROM reminder WHERE lease_until IS NOT NULL AND channel <> 'email'") \
        == [(0,)]


def _berlin_sms(clinic_db, add_patient, add_appointment, start: datetime) -> int:
    """A Berlin appointment at ``start`` whose only reminder is an SMS confirmation due now."""
    pid = add_patient("Jonas Weber", channels=("sms",), phone="+4915112345678", email=None)
    appt = add_appointment(pid, start, branch="Berlin")
    sql(clinic_db, "DELETE FROM reminder WHERE appointment_id = :a AND purpose <> 'confirmation'", {"a": appt})
    sql(clinic_db, "UPDATE reminder SET due_at = now() - interval '1 second', next_attempt_at = NULL "
                   "WHERE appointment_id = :a", {"a": appt})
    return appt


def _sms_state(clinic_db, appt: int) -> tuple:
    return tuple(sql(clinic_db, "SELECT status, attempts, next_attempt_at FROM reminder WHERE appointment_id = :a",
                     {"a": appt})[0])


def test_quiet_hours_end_by_the_local_clock_on_dst_nights(clinic_db, add_patient, add_appointment, tmp_path):
    _quiet(clinic_db, "Berlin")                                    # 21:00-08:00 Berlin time
    state = GatewayState()
    with GatewayServer(state) as gw:
        service = ReminderService(clinic_db, settings_for(tmp_path, gateway=gw))
        # Spring forward (2027-03-28, 02:00 CET -> 03:00 CEST): at 01:30 CET (00:30 UTC) the night has
        # 5.5 real hours left, to 08:00 CEST = 06:00 UTC (not 07:00 UTC, a naive "+6.5 h").
        spring = _berlin_sms(clinic_db, add_patient, add_appointment, datetime(2027, 3, 28, 12, 0, tzinfo=BERLIN))
        assert service.run_once(now=datetime(2027, 3, 28, 0, 30, tzinfo=UTC)) == 1
        assert _sms_state(clinic_db, spring) == ("pending", 0, datetime(2027, 3, 28, 6, 0, tzinfo=UTC))
        assert service.run_once(now=datetime(2027, 3, 28, 5, 59, tzinfo=UTC)) == 0
        assert service.run_once(now=datetime(2027, 3, 28, 6, 0, tzinfo=UTC)) == 1
        assert _sms_state(clinic_db, spring)[:2] == ("sent", 1)
        # Fall back (2027-10-31, 03:00 CEST -> 02:00 CET): 02:30 comes twice; both are inside the quiet
        # hours and both wait until 08:00 CET = 07:00 UTC.
        autumn = _berlin_sms(clinic_db, add_patient, add_appointment, datetime(2027, 10, 31, 12, 0, tzinfo=BERLIN))
        for clock in (datetime(2027, 10, 31, 0, 30, tzinfo=UTC), datetime(2027, 10, 31, 1, 30, tzinfo=UTC)):
            assert clock.astimezone(BERLIN).strftime("%H:%M") == "02:30"
            sql(clinic_db, "UPDATE reminder SET next_attempt_at = NULL WHERE appointment_id = :a", {"a": autumn})
            assert service.run_once(now=clock) == 1
            assert _sms_state(clinic_db, autumn) == ("pending", 0, datetime(2027, 10, 31, 7, 0, tzinfo=UTC))
        assert service.run_once(now=datetime(2027, 10, 31, 7, 0, tzinfo=UTC)) == 1
        assert _sms_state(clinic_db, autumn)[:2] == ("sent", 1)
        # Quiet hours ending inside the hour that does not exist (22:00-02:30 on the spring-forward
        # night): 02:30 local is never shown by a clock, so the message waits until 03:30 CEST, the
        # instant "02:30 CET" names — never a time before the clock nor inside the quiet hours.
        _quiet(clinic_db, "Berlin", 22 * 60, 2 * 60 + 30)
        gap = _berlin_sms(clinic_db, add_patient, add_appointment, datetime(2027, 3, 28, 13, 0, tzinfo=BERLIN))
        assert service.run_once(now=datetime(2027, 3, 28, 0, 45, tzinfo=UTC)) == 1
        assert _sms_state(clinic_db, gap) == ("pending", 0, datetime(2027, 3, 28, 1, 30, tzinfo=UTC))
        service.close()
    assert len(state.requests) == len(state.delivered) == 2
    assert all(r["To"] == "+4915112345678" for r in state.delivered)
