"""The service loop lives through rounds whose statements fail on the real database.

A test trigger on ``reminder`` raises a chosen SQLSTATE for the first ``n`` claims (a row going
``pending`` -> ``sending``) or ``sent`` marks (``sending`` -> ``sent``), counted by a sequence
(``nextval`` is not rolled back with the failed statement). ``DEFAULT_ATTEMPTS`` failures in a row
outlive the write runner's attempts: a claim then raises ``SlotTaken`` (serialization failure,
40001) or ``DatabaseUnavailable`` (the server terminating the connection, 57P01) out of the round,
which the loop must log, back off from and carry on after; a mark is retried until it gets
through. Either way each reminder reaches the SMTP server exactly once and ends ``sent``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from reception_app.domain.errors import DatabaseUnavailable, PermissionDenied, SlotTaken
from reception_app.reminders.service import ReminderService
from reception_app.store.database import DEFAULT_ATTEMPTS, Database

from .conftest import add_due, settings_for, sql, statuses
from .servers import SmtpServer, SmtpSink

#: The status change of each kind of statement the trigger makes fail.
TRANSITIONS = {"claim": ("pending", "sending"), "mark": ("sending", "sent")}


@pytest.fixture
def failing(clinic_db: Database) -> Iterator[Callable[[str, str, int], None]]:
    """``failing(kind, sqlstate, n)``: the next ``n`` statements of ``kind`` (claim | mark) that
    reach a matching row fail with ``sqlstate``. Dropped after the test."""

    def arm(kind: str, sqlstate: str, n: int) -> None:
        old, new = TRANSITIONS[kind]
        sql(clinic_db, "CREATE SEQUENCE test_round_failures_seq")
        sql(clinic_db, f"""
            CREATE FUNCTION test_round_failure() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('test_round_failures_seq') <= {n} THEN
                    RAISE EXCEPTION 'test: the {kind} fails' USING ERRCODE = '{sqlstate}';
                END IF;
                RETURN NEW;
            END $$""")
        sql(clinic_db, f"""
            CREATE TRIGGER test_round_failure BEFORE UPDATE ON reminder FOR EACH ROW
            WHEN (OLD.status = '{old}' AND NEW.status = '{new}') EXECUTE FUNCTION test_round_failure()""")

    yield arm
    sql(clinic_db, "DROP TRIGGER IF EXISTS test_round_failure ON reminder")
    sql(clinic_db, "DROP FUNCTION IF EXISTS test_round_failure()")
    sql(clinic_db, "DROP SEQUENCE IF EXISTS test_round_failures_seq")


def _failed_statements(db: Database) -> int:
    """How many statements reached the trigger so far (failed or not)."""
    last, called = sql(db, "SELECT last_value, is_called FROM test_round_failures_seq")[0]
    return last if called else 0


def _service(db: Database, tmp_path, smtp: SmtpServer, batch: int) -> ReminderService:
    return ReminderService(db, settings_for(tmp_path, smtp, batch_size=batch,
                                            transports={"email": "smtp", "sms": "off", "whatsapp": "off"}))


@pytest.mark.parametrize(("sqlstate", "raised"), [("40001", SlotTaken), ("57P01", DatabaseUnavailable)])
def test_a_round_whose_claim_fails_past_the_retries_is_logged_and_the_loop_carries_on(
        clinic_db, booked, tmp_path, failing, caplog, sqlstate, raised):
    sql(clinic_db, "DELETE FROM reminder")
    add_due(clinic_db, booked, 12)
    failing("claim", sqlstate, 2 * DEFAULT_ATTEMPTS)          # two rounds' worth of attempts
    sink = SmtpSink()
    with SmtpServer(sink) as smtp:
        service = _service(clinic_db, tmp_path, smtp, batch=5)
        try:
            with pytest.raises(raised):                        # one round on its own raises it ...
                service.run_once()
            assert _failed_statements(clinic_db) == DEFAULT_ATTEMPTS
            assert statuses(clinic_db) == {"pending": 12} and sink.message_ids() == []
            with caplog.at_level(logging.WARNING, logger="reception_app.reminders.service"):
                service.run(until_idle=True)                   # ... the loop logs it, backs off, carries on
        finally:
            service.close()
    assert _failed_statements(clinic_db) > 2 * DEFAULT_ATTEMPTS   # claims went on after the failures
    warned = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(warned) == 1 and "test: the claim fails" in warned[0], warned
    assert statuses(clinic_db) == {"sent": 12} and service.sent == 12
    counts = Counter(sink.message_ids())
    assert len(counts) == 12 and set(counts.values()) == {1}


def test_a_sent_mark_that_fails_past_the_retries_is_retried_and_nothing_is_sent_twice(
        clinic_db, booked, tmp_path, failing, caplog):
    sql(clinic_db, "DELETE FROM reminder")
    add_due(clinic_db, booked, 6)
    failing("mark", "40001", DEFAULT_ATTEMPTS + 2)            # the first mark outlives one write's retries
    sink = SmtpSink()
    with SmtpServer(sink) as smtp:
        service = _service(clinic_db, tmp_path, smtp, batch=4)
        try:
            with caplog.at_level(logging.INFO, logger="reception_app.reminders.service"):
                service.run(until_idle=True)
        finally:
            service.close()
    assert any("could not record a reminder's outcome" in r.getMessage() for r in caplog.records)
    assert statuses(clinic_db) == {"sent": 6} and service.sent == 6
    counts = Counter(sink.message_ids())
    assert len(counts) == 6 and set(counts.values()) == {1}


def test_a_mark_refused_for_good_stops_the_loop_before_the_next_message_is_handed_over(
        clinic_db, booked, tmp_path, failing):
    sql(clinic_db, "DELETE FROM reminder")
    add_due(clinic_db, booked, 3)
    failing("mark", "42501", 1)                               # the first mark: permission denied
    sink = SmtpSink()
    with SmtpServer(sink) as smtp:
        service = _service(clinic_db, tmp_path, smtp, batch=3)
        try:
            with pytest.raises(PermissionDenied):             # not retried, not taken for a failed send
                service.run(until_idle=True)
        finally:
            service.close()
    assert len(sink.message_ids()) == 1                      # the second message was never handed over
    assert statuses(clinic_db) == {"sending": 3}             # nothing marked failed; leases run out
    assert sql(clinic_db, "SELECT count(*) FROM reminder WHERE last_error IS NOT NULL") == [(0,)]
