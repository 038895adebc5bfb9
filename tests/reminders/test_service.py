"""The reminder service against real servers: SMTP (aiosmtpd), the HTTP gateway, the file outbox,
and the real PostgreSQL (retries, give-up, two workers, a dropped database connection)."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg

from reception_app.channels.smtp import SmtpSettings
from reception_app.reminders import queue
from reception_app.reminders.service import ReminderService
from reception_app.services import reminder_queries
from reception_app.store.database import Database

from .conftest import add_due, settings_for, sql, statuses, wait_until
from .servers import GatewayServer, GatewayState, SmtpServer, SmtpSink, self_signed_cert

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def test_each_channel_sends_with_its_idempotency_key_and_no_clinical_detail(clinic_db, booked, tmp_path):
    sink, state = SmtpSink(), GatewayState()
    with SmtpServer(sink) as smtp, GatewayServer(state) as gw:
        service = ReminderService(clinic_db, settings_for(tmp_path, smtp, gw))
        service.run(until_idle=True)
        service.close()
    assert statuses(clinic_db) == {"sent": 3}
    keys = dict(sql(clinic_db, "SELECT channel, idempotency_key FROM reminder"))
    [mail] = sink.messages
    assert mail["Message-ID"] == f"<{keys['email']}@clinic-reminders>"
    assert mail["To"] == "Maria Silva <maria@example.com>"
    text = mail.get_content()
    assert "Abdominal ultrasound" in text and "01/06/2027" in text and "10:00" in text and "+55 27 3333-0000" in text
    assert "Olá Maria Silva" in text                       # the patient's language
    by_to = {r["To"]: r for r in state.delivered}
    assert by_to["+5527999990000"]["From"] == "+15550001111"
    assert by_to["whatsapp:+5527999990000"]["From"] == "whatsapp:+15550002222"
    assert by_to["+5527999990000"]["key"] == keys["sms"]
    assert len(by_to["+5527999990000"]["Body"]) <= 160
    refs = dict(sql(clinic_db, "SELECT channel, provider_ref FROM reminder"))
    assert refs["sms"].startswith("SM") and refs["email"] == mail["Message-ID"]


def test_the_file_outbox_writes_one_file_per_message(clinic_db, booked, tmp_path):
    service = ReminderService(clinic_db, settings_for(tmp_path))
    service.run(until_idle=True)
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert len(files) == 3 and all(f.endswith(("-confirmation-email.txt", "-confirmation-sms.txt",
                                               "-confirmation-whatsapp.txt")) for f in files)
    assert "Abdominal ultrasound" in (tmp_path / "outbox" / files[0]).read_text()
    assert statuses(clinic_db) == {"sent": 3}


def test_transient_failures_retry_with_backoff_then_give_up(clinic_db, booked, tmp_path):
    sink = SmtpSink(reply=lambda msg: "451 4.3.0 try again later")
    with SmtpServer(sink) as smtp:
        s = settings_for(tmp_path, smtp, transports={"email": "smtp", "sms": "off", "whatsapp": "off"},
                         max_attempts=3, backoff_seconds=60)
        service = ReminderService(clinic_db, s)
        service.run_once()
        # Backoff: the next attempt 60 s after this one (the database's clock).
        row = sql(clinic_db, "SELECT status, attempts, extract(epoch FROM next_attempt_at - now()), last_error "
                             "FROM reminder WHERE channel = 'email'")[0]
        assert row[0] == "pending" and row[1] == 1 and 50 < row[2] <= 60 and "451" in row[3]
        sql(clinic_db, "UPDATE reminder SET next_attempt_at = now() WHERE channel = 'email'")
        service.run_once()
        row = sql(clinic_db, "SELECT extract(epoch FROM next_attempt_at - now()) FROM reminder "
                             "WHERE channel = 'email'")[0]
        assert 110 < row[0] <= 120                                       # doubled
        sql(clinic_db, "UPDATE reminder SET next_attempt_at = now() WHERE channel = 'email'")
        service.run_once()
        service.close()
    row = sql(clinic_db, "SELECT status, attempts, failed_at IS NOT NULL FROM reminder WHERE channel = 'email'")[0]
    assert row == ("failed", 3, True)
    assert sink.messages == []
    [failed] = reminder_queries.failed_reminders(clinic_db)
    assert (failed.patient, failed.phone, failed.channel, failed.attempts) == ("Maria Silva", "+5527999990000",
                                                                              "email", 3)
    assert "451" in failed.error


def test_a_permanent_refusal_fails_at_once_and_a_gateway_500_is_retried(clinic_db, booked, tmp_path):
    sink = SmtpSink(reply=lambda msg: "550 5.1.1 mailbox unknown")
    state = GatewayState(fail=[500, 503])
    with SmtpServer(sink) as smtp, GatewayServer(state) as gw:
        service = ReminderService(clinic_db, settings_for(tmp_path, smtp, gw))
        for _ in range(4):
            service.run_once()
        service.close()
    rows = dict((ch, (st, n)) for ch, st, n in sql(clinic_db, "SELECT channel, status, attempts FROM reminder"))
    assert rows["email"] == ("failed", 1)
    assert {rows["sms"][0], rows["whatsapp"][0]} == {"sent"}
    assert rows["sms"][1] + rows["whatsapp"][1] == 4                    # two 5xx answers, then both sent
    assert len(state.delivered) == 2


def test_smtp_starttls_and_ssl_with_login(clinic_db, booked, tmp_path, monkeypatch):
    cert, key = self_signed_cert(tmp_path)
    monkeypatch.setenv("CLINIC_SMTP_PASSWORD", "pw")
    for implicit in (False, True):
        sink = SmtpSink()
        with SmtpServer(sink, login=("clinic", "pw"), tls=(cert, key), implicit_tls=implicit) as smtp:
            s = settings_for(tmp_path, transports={"email": "smtp", "sms": "off", "whatsapp": "off"})
            s.smtp = SmtpSettings(host="127.0.0.1", port=smtp.port, security="ssl" if implicit else "starttls",
                                  username="clinic", password="pw", sender="clinic@example.com", cafile=str(cert))
            service = ReminderService(clinic_db, s)
            assert "answers" in service.channels["email"].check()
            service.run(until_idle=True)
            service.close()
        assert len(sink.messages) == 1
        sql(clinic_db, "UPDATE reminder SET status = 'pending', due_at = now() WHERE channel = 'email'")


def test_consent_withdrawn_after_queueing_is_honoured_when_sending(clinic_db, booked, tmp_path):
    # A row written around the triggers (e.g. by an old client) for a channel without consent.
    sql(clinic_db, "UPDATE reminder SET status = 'cancelled'")
    sql(clinic_db, "UPDATE patient SET consent_channels = '{email}'")
    sql(clinic_db, "INSERT INTO reminder (appointment_id, channel, purpose, due_at) "
                   "VALUES (:a, 'sms', 'reminder', now())", {"a": booked})
    service = ReminderService(clinic_db, settings_for(tmp_path))
    service.run(until_idle=True)
    assert sql(clinic_db, "SELECT status, last_error FROM reminder WHERE channel = 'sms' AND purpose = 'reminder'") \
        == [("cancelled", "the patient opted out of sms")]
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())


def test_two_workers_never_send_the_same_reminder(clinic_db, booked, db_url, tmp_path):
    sql(clinic_db, "DELETE FROM reminder")
    add_due(clinic_db, booked, 300)
    sink = SmtpSink()
    with SmtpServer(sink) as smtp:
        services = [ReminderService(Database(db_url), settings_for(tmp_path, smtp, batch_size=7)) for _ in range(2)]
        threads = [threading.Thread(target=s.run, kwargs={"until_idle": True}) for s in services]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for s in services:
            s.close()
            s.db.dispose()
    ids = sink.message_ids()
    assert len(ids) == 300 and len(set(ids)) == 300
    assert statuses(clinic_db) == {"sent": 300}
    assert all(s.sent > 0 for s in services)                 # both took part


def test_an_expired_lease_is_claimed_again(clinic_db, booked, tmp_path):
    settings = settings_for(tmp_path, lease_seconds=1)
    dead = queue.claim(clinic_db, worker="dead-worker", channels=["email", "sms", "whatsapp", "file"], batch=10,
                       lease_s=0.2)
    assert len(dead) == 3
    assert queue.claim(clinic_db, worker="other", channels=["email"], batch=10, lease_s=1) == []
    time.sleep(0.3)
    service = ReminderService(clinic_db, settings)
    service.run(until_idle=True)
    assert statuses(clinic_db) == {"sent": 3}
    assert dict(sql(clinic_db, "SELECT channel, attempts FROM reminder")) == {"email": 2, "sms": 2, "whatsapp": 2}


def test_the_worker_carries_on_after_its_database_connections_are_killed(clinic_db, booked, db_url, tmp_path):
    sink = SmtpSink()
    with SmtpServer(sink) as smtp:
        service = ReminderService(Database(db_url), settings_for(tmp_path, smtp, poll_seconds=0.2))
        thread = threading.Thread(target=service.run)
        thread.start()
        try:
            wait_until(lambda: statuses(clinic_db) == {"sent": 3})
            with psycopg.connect(db_url, autocommit=True) as admin:
                killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                                       "AND application_name LIKE 'clinic%'").fetchone()[0]
            assert killed >= 1
            add_due(clinic_db, booked, 5)
            wait_until(lambda: statuses(clinic_db).get("sent") == 8)
        finally:
            service.stop()
            thread.join(30)
            service.close()
            service.db.dispose()
    assert len(set(sink.message_ids())) == 6 and not thread.is_alive()


def test_the_sweep_releases_expired_holds(clinic_db, add_patient, add_appointment, tmp_path):
    pid = add_patient()
    appt = add_appointment(pid, datetime(2027, 6, 1, 10, 0, tzinfo=SAO_PAULO), status="held")
    sql(clinic_db, "UPDATE appointment SET hold_expires_at = now() - interval '1 minute' WHERE id = :a", {"a": appt})
    done = ReminderService(clinic_db, settings_for(tmp_path)).sweep()
    assert done == {"holds_released": 1, "waitlist_offers": 0}
    assert sql(clinic_db, "SELECT status FROM appointment WHERE id = :a", {"a": appt}) == [("cancelled",)]
    # The utilization summary is not the reminder service's job (a timer runs `clinic db refresh`,
    # tested in tests/reports/test_utilization_summary.py): the sweep leaves it alone.
    assert sql(clinic_db, "SELECT refreshed_at FROM utilization_summary") == [(None,)]
    assert sql(clinic_db, "SELECT count(*) FROM utilization_day") == [(0,)]
