"""``clinic-reminders`` as a real process: SIGKILL in the middle of a send, SIGTERM, ``--check``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from reception_app.reminders.service import ReminderService

from .conftest import add_due, config_file, settings_for, sql, wait_until
from .servers import GatewayServer, GatewayState, SmtpServer, SmtpSink

pytestmark = pytest.mark.slow  # runs the reminder worker as processes (make test-fast leaves it out)


def _start(db_url: str, config: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "reception_app.reminders.cli", "--database", db_url,
                             "--config", str(config), "--log-file", "-", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _in_flight_key(db) -> str:
    """The idempotency key of the message the sink is holding (the lowest claimed id of the batch)."""
    return sql(db, "SELECT idempotency_key FROM reminder WHERE status = 'sending' ORDER BY id LIMIT 1")[0][0]


def test_a_worker_killed_mid_send_loses_nothing_and_resends_at_most_the_one_in_flight(clinic_db, booked, db_url,
                                                                                       tmp_path):
    sql(clinic_db, "DELETE FROM reminder")
    add_due(clinic_db, booked, 20)
    hold = threading.Event()
    sink = SmtpSink(hold=hold)
    with SmtpServer(sink) as smtp:
        proc = _start(db_url, config_file(tmp_path, smtp.port, lease=2))
        try:
            assert sink.holding.wait(60), proc.stderr.read() if proc.poll() is not None else "no send started"
            in_flight = _in_flight_key(clinic_db)
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
        hold.set()
        assert len(sink.messages) == 1          # the server had the data: delivered, the reply never arrived
        service = ReminderService(clinic_db, settings_for(tmp_path, smtp, transports={
            "email": "smtp", "sms": "off", "whatsapp": "off"}, poll_seconds=0.2))
        thread = threading.Thread(target=service.run)
        thread.start()
        try:
            wait_until(lambda: sql(clinic_db, "SELECT count(*) FROM reminder WHERE status = 'sent'")[0][0] == 20)
        finally:
            service.stop()
            thread.join(30)
            service.close()
    counts = Counter(sink.message_ids())
    assert len(counts) == 20                                        # nothing lost
    assert [k for k, n in counts.items() if n > 1] == [f"<{in_flight}@clinic-reminders>"]   # one duplicate at most
    assert counts[f"<{in_flight}@clinic-reminders>"] == 2


def test_sigterm_finishes_the_message_in_flight_and_gives_back_the_rest(clinic_db, booked, db_url, tmp_path):
    sql(clinic_db, "DELETE FROM reminder")
    add_due(clinic_db, booked, 10)
    hold = threading.Event()
    sink = SmtpSink(hold=hold)
    with SmtpServer(sink) as smtp:
        proc = _start(db_url, config_file(tmp_path, smtp.port))
        try:
            assert sink.holding.wait(60)
            in_flight = _in_flight_key(clinic_db)
            proc.send_signal(signal.SIGTERM)
            hold.set()
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert "stopped: 1 sent" in err
    assert sink.message_ids() == [f"<{in_flight}@clinic-reminders>"]
    assert dict(sql(clinic_db, "SELECT status, count(*) FROM reminder GROUP BY status")) == {"sent": 1, "pending": 9}
    assert sql(clinic_db, "SELECT max(attempts) FROM reminder WHERE status = 'pending'") == [(0,)]


def test_check_reports_the_database_and_each_channel(reminders_login, tmp_path):
    _, url = reminders_login                     # the service's own login (test_role.py: any other fails)
    state = GatewayState()
    with SmtpServer(SmtpSink()) as smtp, GatewayServer(state) as gw:
        config = config_file(tmp_path, smtp.port, gateway=gw)
        good = subprocess.run([sys.executable, "-m", "reception_app.reminders.cli", "--database", url,
                               "--config", str(config), "--check", "--log-file", "-"],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "CLINIC_GATEWAY_TOKEN": state.token})
        bad = subprocess.run([sys.executable, "-m", "reception_app.reminders.cli", "--database", url,
                              "--config", str(config), "--check", "--log-file", "-"],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "CLINIC_GATEWAY_TOKEN": "wrong"})
    assert good.returncode == 0, good.stdout + good.stderr
    lines = good.stdout.splitlines()
    assert lines[0].startswith("ok     database")
    assert any(line.startswith("ok     smtp (email)") for line in lines)
    assert any(line.startswith("ok     gateway (sms)") for line in lines)
    assert any(line.startswith("ok     outbox (file)") for line in lines)
    assert bad.returncode == 1 and "FAILED gateway (sms): the gateway" in bad.stdout and "401" in bad.stdout
    unreachable = subprocess.run([sys.executable, "-m", "reception_app.reminders.cli", "--database",
                                  "host=127.0.0.1 port=1 dbname=x connect_timeout=2", "--config", str(config),
                                  "--check", "--log-file", "-"], capture_output=True, text=True, timeout=120)
    assert unreachable.returncode == 4 and "FAILED database" in unreachable.stdout


def test_bad_settings_name_the_key_and_value(db_url, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[reminders]\nsms = "carrier-pigeon"\n')
    result = subprocess.run([sys.executable, "-m", "reception_app.reminders.cli", "--database", db_url,
                             "--config", str(config), "--once", "--log-file", "-"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "clinic-reminders: reminders.sms: must be one of outbox, gateway, off (got 'carrier-pigeon')")
