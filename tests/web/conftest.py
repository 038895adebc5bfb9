"""Fixtures of the portal's tests: the test clinic with its services and doctors bookable online,
the portal's own login (a member of ``clinic_portal``), the web application on it with a file
outbox as its code channel, and — for the browser tests — the application served by uvicorn on a
free port of 127.0.0.1 and Debian's headless Chromium driven by Selenium.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from reception_app.channels.outbox import OutboxChannel
from reception_app.store.database import Database
from reception_app.web.app import create_app
from reception_app.web.security import Limit
from reception_app.web.settings import PortalSettings

#: Limits high enough for a test's own requests (tests of the limits pass their own).
TEST_LIMITS = {action: Limit(10_000, 60) for action in ("page", "hold", "code", "verify", "link", "sms")}
SECRET = b"test-portal-secret-0123456789abcdef"


@dataclass
class Portal:
    """The portal under test: ``owner`` (the clinic database as its owner, to look and to set up),
    ``db`` (as the portal's login), ``login`` (its name), ``outbox`` (where codes are written)."""

    owner: Database
    db: Database
    login: str
    outbox: Path
    url: str

    def sql(self, statement: str, params: tuple | dict | None = None) -> list[tuple]:
        """Run one statement as the owner (autocommit) and return its rows (none for a command)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(statement, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def last_code(self, timeout: float = 5.0) -> str:
        """The code of the newest verification message in the outbox."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            files = sorted(self.outbox.glob("*-verification-*.txt"), key=lambda p: p.stat().st_mtime_ns)
            if files:
                found = re.search(r"\b(\d{6})\b", files[-1].read_text(encoding="utf-8").split("\n\n", 1)[1])
                if found:
                    return found.group(1)
            time.sleep(0.05)
        raise AssertionError("no verification code was written to the outbox")


@pytest.fixture
def portal(clinic_db: Database, db_url: str, tmp_path: Path) -> Iterator[Portal]:
    """The test clinic made bookable online (every service and doctor; Centro in pt_BR with a
    phone; a late-cancellation fee of 15,00 on the ultrasound), and the portal's own login."""
    name = f"t_portal_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE service SET online = true")
        conn.execute("UPDATE service SET late_cancel_fee_cents = 1500, cancel_free_hours = 24 "
                     "WHERE name = 'Abdominal ultrasound'")
        conn.execute("UPDATE resource SET online = true WHERE kind = 'doctor'")
        conn.execute("UPDATE branch SET locale = 'pt_BR', phone = '+552733330000' WHERE name = 'Centro'")
        conn.execute("INSERT INTO clinic_setting (key, value) VALUES ('name', '\"Clínica Vitória\"'), "
                     "('address', '\"Av. Beira Mar 100, Vitória\"') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE clinic_portal").format(sql.Identifier(name)))
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_isolation = serializable").format(
            sql.Identifier(name)))     # as every clinic login (clinic user add, provision.sh)
    portal_db = Database(make_conninfo(db_url, user=name), application_name="clinic-portal test")
    outbox = tmp_path / "outbox"
    yield Portal(owner=clinic_db, db=portal_db, login=name, outbox=outbox, url=db_url)
    portal_db.dispose()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def settings_for(portal: Portal, limits: dict[str, Limit] | None = None) -> PortalSettings:
    channel = OutboxChannel(portal.outbox)
    return PortalSettings(secret=SECRET, secure_cookies=False, limits=limits or dict(TEST_LIMITS),
                          channels={"sms": channel, "email": channel})


@pytest.fixture
def make_client(portal: Portal) -> Callable[..., object]:
    """``make_client(limits=None, lang="en")`` → a TestClient of a fresh application."""
    from fastapi.testclient import TestClient

    def make(limits: dict[str, Limit] | None = None, lang: str = "en"):
        app = create_app(portal.db, settings_for(portal, limits))
        return TestClient(app, raise_server_exceptions=False, headers={"accept-language": lang})

    return make


@pytest.fixture
def client(make_client):
    return make_client()


# -- a served portal and a browser -------------------------------------------------------------
@dataclass
class Served:
    base: str
    portal: Portal


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(portal: Portal) -> Iterator[Served]:
    """The portal served by uvicorn on a free port of 127.0.0.1, stopped after the test."""
    import uvicorn

    app = create_app(portal.db, settings_for(portal))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield Served(f"http://127.0.0.1:{port}", portal)
    server.should_exit = True
    thread.join(10)


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def make_browser(tmp_path: Path) -> Iterator[Callable[..., object]]:
    """``make_browser(lang="en", zone=None)`` → a headless Chromium (Debian's, driven by Selenium
    through Debian's chromedriver: nothing is downloaded), quit after the test. ``zone``: the
    browser's time zone (a patient abroad)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    made: list[object] = []

    def make(lang: str = "en", zone: str | None = None):
        assert CHROMIUM.exists() and CHROMEDRIVER.exists(), "apt-get install chromium chromium-driver"
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-extensions", "--no-first-run",
                    "--disable-default-apps", "--disable-sync", "--window-size=1100,1400",
                    f"--lang={'pt-BR' if lang == 'pt' else 'en-GB'}", f"--user-data-dir={tmp_path / f'chrome{len(made)}'}"):
            options.add_argument(arg)
        options.add_experimental_option("prefs", {"intl.accept_languages": "pt-BR,pt" if lang == "pt" else "en-GB,en"})
        service = Service(executable_path=str(CHROMEDRIVER))
        driver = webdriver.Chrome(options=options, service=service)
        driver.set_page_load_timeout(30)
        # The browser's own zone: the branch's (a patient at home) unless the test says otherwise.
        driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": zone or "America/Sao_Paulo"})
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.quit()  # type: ignore[attr-defined]
