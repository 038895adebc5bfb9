"""``clinic portal serve`` as an IT person runs it: the real ``clinic`` command, which replaces
itself with ``clinic-portal`` (``python -m reception_app.web``), serving the portal on a free port
of 127.0.0.1 against a real database as the portal's own login; stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_clinic_portal_serve_serves_the_booking_pages(clinic_db, db_url, tmp_path: Path, workers: int):
    login = f"t_portal_serve_{os.getpid()}_{workers}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE service SET online = true")
        conn.execute("UPDATE resource SET online = true WHERE kind = 'doctor'")
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE clinic_portal").format(sql.Identifier(login)))
    port = _free_port()
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "CLINIC_DATA_DIR": str(tmp_path / "data"),
           "CLINIC_PORTAL_SECRET": "e2e-portal-secret"}
    env.pop("CLINIC_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "reception_app", "--database", make_conninfo(db_url, user=login),
                             "portal", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers), "--log-file", "-"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the portal did not start"
            time.sleep(0.2)
        page = httpx.get(base + "/book?branch=1&service=1&doctor=any", headers={"accept-language": "pt-BR"})
        assert page.status_code == 200 and "Escolha um horário" in page.text and 'class="slot"' in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert "secure" not in page.headers["set-cookie"].lower()          # plain HTTP on 127.0.0.1: a trial
        assert "/webhooks/sms" in httpx.get(base + "/openapi.json").json()["paths"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        _stop_built_in(tmp_path / "clinic" / "pgdata")
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (login,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(login)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))
    assert proc.returncode in (0, -signal.SIGTERM)


def test_the_portal_runs_beside_the_window_on_the_built_in_database(tmp_path: Path):
    """The trial a person makes next to ``make run``: the demo clinic on the built-in database
    (a server of its own in this test's data folder), then ``clinic portal serve`` with no
    connection given — the portal's login is made for it on the built-in server."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "CLINIC_DATABASE_URL"}
    env.update({"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
                "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state"),
                "CLINIC_DATA_DIR": str(tmp_path / "clinic"), "XDG_RUNTIME_DIR": str(tmp_path / "runtime")})
    (tmp_path / "runtime").mkdir(mode=0o700)
    demo = subprocess.run([sys.executable, "-m", "reception_app", "demo", "load", "--past-days", "0"], env=env,
                          capture_output=True, text=True, timeout=240)
    assert demo.returncode == 0, demo.stderr
    proc = subprocess.Popen([sys.executable, "-m", "reception_app", "portal", "serve", "--port", str(port),
                             "--log-file", "-"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the portal did not start"
            time.sleep(0.3)
        start = httpx.get(base + "/")
        assert start.status_code == 200 and start.text.count('class="choice"') == 2      # the demo's branches
        week = httpx.get(base + "/book?branch=1&service=1&doctor=any")
        assert week.status_code == 200 and 'class="slot"' in week.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        _stop_built_in(tmp_path / "clinic" / "pgdata")


def _stop_built_in(pgdata: Path) -> None:
    """Stop the built-in server of this test's data folder, should it still run (it stops by itself
    when its last program exits; this makes sure a test leaves no server behind): SIGINT to its
    postmaster is PostgreSQL's fast shutdown."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    try:
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
    except (ProcessLookupError, ValueError, IndexError):
        return
    deadline = time.monotonic() + 30
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
