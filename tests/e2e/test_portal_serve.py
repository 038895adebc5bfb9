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
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (login,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(login)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))
    assert proc.returncode in (0, -signal.SIGTERM)
