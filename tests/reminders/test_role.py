"""The reminder service as its own least-privileged login (issue 14, section 8): a member of
``clinic_reminders`` claims, sends and records with real SMTP and gateway servers, and may do
nothing else; ``clinic-reminders --check`` names a login that is not in the group."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from psycopg.conninfo import make_conninfo
from sqlalchemy import text

from reception_app.domain.errors import PermissionDenied
from reception_app.reminders.privileges import standing
from reception_app.reminders.service import ReminderService
from reception_app.store.database import Database

from .conftest import config_file, settings_for, sql, statuses
from .servers import GatewayServer, GatewayState, SmtpServer, SmtpSink

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def test_a_clinic_reminders_login_sends_retries_defers_and_releases_holds(
        clinic_db, booked, reminders_login, add_patient, add_appointment, tmp_path):
    name, url = reminders_login
    own = Database(url)
    try:
        st = standing(own)
        assert (st.login, st.superuser, st.in_group, st.problem()) == (name, False, True, None)
        assert st.may_release_holds and not st.may_offer_waitlist
        sql(clinic_db, "UPDATE branch SET quiet_from_min = 21 * 60, quiet_until_min = 8 * 60 WHERE name = 'Centro'")
        state = GatewayState(fail=[503])
        sink = SmtpSink()
        with SmtpServer(sink) as smtp, GatewayServer(state) as gw:
            service = ReminderService(own, settings_for(tmp_path, smtp, gw))
            assert service.run_once(now=datetime(2027, 5, 31, 12, 0, tzinfo=SAO_PAULO)) == 3   # one 503
            assert service.run_once(now=datetime(2027, 5, 31, 22, 0, tzinfo=SAO_PAULO)) == 1   # quiet: put back
            assert service.run_once(now=datetime(2027, 6, 1, 8, 0, tzinfo=SAO_PAULO)) == 1
            # The sweep: expired holds (EXECUTE on the SECURITY DEFINER function); the waitlist is
            # reception's work and is skipped, not failed.
            pid = add_patient("Ana Costa")
            held = add_appointment(pid, datetime(2027, 6, 1, 11, 0, tzinfo=SAO_PAULO), status="held")
            sql(clinic_db, "UPDATE appointment SET hold_expires_at = now() - interval '1 minute' WHERE id = :a",
                {"a": held})
            assert service.sweep() == {"holds_released": 1, "waitlist_offers": None}
            service.close()
        assert statuses(clinic_db).get("sent") == 3 and len(sink.messages) == 1 and len(state.delivered) == 2
        assert sql(clinic_db, "SELECT status FROM appointment WHERE id = :a", {"a": held}) == [("cancelled",)]
    finally:
        own.dispose()


@pytest.mark.parametrize("statement", [
    "SELECT birth_date FROM patient",                               # clinical / personal detail
    "SELECT * FROM patient",
    "SELECT attributes FROM patient",
    "SELECT status_reason FROM appointment",
    "SELECT * FROM audit_log",
    "UPDATE reminder SET due_at = now()",                           # re-planning is the database's
    "UPDATE reminder SET handled_at = now()",                       # reception's "mark as handled"
    "INSERT INTO reminder (appointment_id, channel, purpose, due_at) SELECT id, 'email', 'reminder', now() "
    "FROM appointment LIMIT 1",
    "DELETE FROM reminder",
    "UPDATE appointment SET status = 'cancelled'",
    "UPDATE patient SET consent_channels = '{}'",
    "INSERT INTO waitlist_offer (freed_slot_id, entry_id, appointment_id, expires_at) VALUES (1, 1, 1, now())",
    "SELECT * FROM payment",
])
def test_a_clinic_reminders_login_may_do_nothing_else(clinic_db, booked, reminders_login, statement):
    _, url = reminders_login
    own = Database(url)
    try:
        with pytest.raises(PermissionDenied):
            own.write(lambda conn: conn.execute(text(statement)))
    finally:
        own.dispose()


def _check(url: str, config, token: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reception_app.reminders.cli", "--database", url,
                           "--config", str(config), "--check", "--log-file", "-"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "CLINIC_GATEWAY_TOKEN": token})


def test_check_names_a_login_that_is_not_in_clinic_reminders(clinic_db, db_url, reminders_login, login, tmp_path):
    name, url = reminders_login
    desk, _ = login("reception")
    state = GatewayState()
    with SmtpServer(SmtpSink()) as smtp, GatewayServer(state) as gw:
        config = config_file(tmp_path, smtp.port, gateway=gw)
        good = _check(url, config, state.token)
        reception = _check(make_conninfo(db_url, user=desk), config, state.token)
        superuser = _check(db_url, config, state.token)
    assert good.returncode == 0, good.stdout + good.stderr
    assert f'ok     login: "{name}" is in clinic_reminders' in good.stdout.splitlines()
    assert "ok     sweep: releases expired holds" in good.stdout
    assert "skip   sweep: waitlist offers are left to reception" in good.stdout
    assert reception.returncode == 6, reception.stdout + reception.stderr
    assert f'FAILED login: login "{desk}" is not in clinic_reminders: give the service its own login' \
        in reception.stdout
    assert "CREATE ROLE reminders LOGIN" in reception.stdout and "Traceback" not in reception.stderr
    assert superuser.returncode == 6 and "is a superuser: run the service as a login in clinic_reminders" \
        in superuser.stdout
