"""The portal in a real browser: Debian's headless Chromium driven by Selenium, against the
portal served by uvicorn on 127.0.0.1. Books as a new patient in English and in Portuguese,
confirms and cancels late from the appointment's link (the fee shown first), meets a start taken
while the patient looked, a tampered link, and a patient abroad (their own time beside the
branch's). Every page is checked with axe-core for WCAG 2.2 AA and saved as a screenshot
(``CLINIC_PORTAL_SCREENSHOTS``, default the test's temporary folder) to be looked at.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import pytest

from reception_app.services import patients, scheduling

pytestmark = [pytest.mark.db, pytest.mark.slow]

#: axe-core's rule tags for WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CLINIC_PORTAL_SCREENSHOTS") or tmp_path / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check_page(driver, shots: Path, name: str) -> None:
    """Save a full-page screenshot and assert axe finds no WCAG 2.2 AA violation."""
    from selenium_axe_python import Axe

    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1100, max(900, min(int(height) + 40, 4000)))
    driver.save_screenshot(str(shots / f"{name}.png"))
    axe = Axe(driver)
    axe.inject()
    result = axe.run(options={"runOnly": {"type": "tag", "values": WCAG_AA}})
    assert result["violations"] == [], f"{name}: " + axe.report(result["violations"])
    assert "Traceback" not in driver.page_source


def _by(driver, css: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def _all(driver, css: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, css)


def _go(driver, css: str, index: int = 0) -> None:
    """Click the ``index``-th element matching ``css`` and wait until the next page has loaded."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = _by(driver, "html")
    _all(driver, css)[index].click()
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(page))


def _book_in_browser(driver, served, shots: Path, lang: str, *, phone: str = "27 99876-5432") -> str:
    driver.get(served.base + "/")
    _check_page(driver, shots, f"{lang}-1-branches")
    _go(driver, "a.choice", -1)                  # Centro (sorted by name: Berlin, Centro)
    _check_page(driver, shots, f"{lang}-2-services")
    _go(driver, "a.choice")                   # Abdominal ultrasound
    _check_page(driver, shots, f"{lang}-3-doctors")
    _go(driver, "a.choice")                   # any doctor
    assert _by(driver, "p.zone").text
    _check_page(driver, shots, f"{lang}-4-slots")
    _go(driver, "button.slot")
    assert "/book/details" in driver.current_url
    _check_page(driver, shots, f"{lang}-5-details")
    _by(driver, "#f-name").send_keys("Maria Silva")
    _by(driver, "#f-birth_date").send_keys("12/03/1985")
    _by(driver, "#f-phone").send_keys(phone)
    _go(driver, "form.form button[type=submit]")
    _check_page(driver, shots, f"{lang}-6-code")
    _by(driver, "#f-code").send_keys(served.portal.last_code())
    _go(driver, "form.form button[type=submit]")
    assert "/a/a." in driver.current_url
    _check_page(driver, shots, f"{lang}-7-booked")
    return driver.current_url.split("?")[0]


def test_book_confirm_and_cancel_late_in_english(served, make_browser, shots):
    served.portal.sql("UPDATE service SET cancel_free_hours = 8000 WHERE name = 'Abdominal ultrasound'")
    driver = make_browser("en")
    link = _book_in_browser(driver, served, shots, "en")
    text = _by(driver, "main").text
    assert "Your appointment is booked." in text and "Hello, Maria" in text and "Brasilia" in text
    _go(driver, "form.inline button")             # I will be there
    assert "the clinic knows you will come" in _by(driver, "main").text
    _check_page(driver, shots, "en-8-confirmed")
    _go(driver, 'a[href$="/cancel"]')             # Cancel the appointment
    assert "Cancelling now costs €15.00." in _by(driver, "main").text
    _check_page(driver, shots, "en-9-cancel")
    _go(driver, "button.danger")                  # without accepting the fee
    assert "tick the box to accept the fee" in _by(driver, "main").text
    _check_page(driver, shots, "en-10-cancel-refused")
    _by(driver, "#f-accept").click()
    _go(driver, "button.danger")
    assert "Your appointment is cancelled." in _by(driver, "main").text
    _check_page(driver, shots, "en-11-cancelled")
    assert served.portal.sql("SELECT status, cancelled_late, patient_confirmed_at IS NOT NULL FROM appointment "
                             "WHERE source = 'online'") == [("cancelled", True, True)]
    driver.get(link[:-1] + ("0" if link[-1] != "0" else "1"))   # a tampered link
    assert "This link is not valid" in _by(driver, "main").text
    _check_page(driver, shots, "en-12-bad-link")


def test_book_in_portuguese(served, make_browser, shots):
    driver = make_browser("pt")
    _book_in_browser(driver, served, shots, "pt")
    text = _by(driver, "main").text
    assert "Sua consulta está agendada." in text and "Olá, Maria" in text and "Horário de Brasília" in text
    assert re.search(r"\b\d{2}:\d{2}\b", text)
    link = driver.current_url.split("?")[0]
    driver.get(link + "/cancel")
    assert "Cancelar a consulta" in _by(driver, "main").text
    _check_page(driver, shots, "pt-8-cancel")
    driver.get(link)
    _go(driver, f'a[href="/a/{link.rsplit("/", 1)[1]}/reschedule"]')        # Escolher outro horário
    assert "Escolha um novo horário" in _by(driver, "main").text
    _check_page(driver, shots, "pt-9-reschedule")
    _go(driver, "button.slot", 6)
    assert "Sua consulta foi remarcada." in _by(driver, "main").text
    _check_page(driver, shots, "pt-10-moved")
    assert served.portal.sql("SELECT status FROM appointment WHERE source = 'online' ORDER BY id") == \
        [("rescheduled",), ("confirmed",)]


def test_a_start_taken_while_looking_offers_the_next_ones(served, make_browser, shots):
    driver = make_browser("en")
    driver.get(served.base + "/book?branch=1&service=1&doctor=any")
    first = _all(driver, "button.slot")[0]
    start = first.find_element("css selector", "time").get_attribute("datetime")
    patient = patients.add_patient(served.portal.owner, name="Desk Patient", birth_date="1970-01-01")
    scheduling.book(served.portal.owner, branch="Centro", service="Abdominal ultrasound",
                    start=datetime.fromisoformat(start), patient_id=patient.id)
    _go(driver, "button.slot")
    assert "Sorry, that time was just taken by someone else." in _by(driver, "#notice").text
    assert len(_all(driver, "#notice button.slot")) >= 3
    _check_page(driver, shots, "en-taken")


def test_a_patient_abroad_sees_their_own_time_too(served, make_browser, shots):
    driver = make_browser("en", zone="Europe/Lisbon")
    driver.get(served.base + "/book?branch=1&service=1&doctor=any")
    local = _all(driver, "button.slot .local")
    assert local and "your time" in local[0].text
    assert "Your time zone is Europe/Lisbon" in _by(driver, "main").text
    _check_page(driver, shots, "en-abroad")


def test_a_waitlist_offer_taken_and_one_let_expire(served, make_browser, shots):
    from .test_portal_http import _offer

    driver = make_browser("en")
    _offer_view, token = _offer(served.portal)
    driver.get(f"{served.base}/o/{token}")
    assert "A time is free for you" in _by(driver, "main").text
    _check_page(driver, shots, "en-offer")
    served.portal.sql("UPDATE waitlist_offer SET expires_at = now() - interval '1 minute'")   # let it expire
    _go(driver, "form.inline button")                                                   # Take this time
    assert "This offer has expired" in _by(driver, "main").text
    _check_page(driver, shots, "en-offer-expired")
    served.portal.sql("UPDATE waitlist_offer SET expires_at = now() + interval '10 minutes'")
    driver.get(f"{served.base}/o/{token}")
    _go(driver, "form.inline button")
    assert "Hello, Paulo" in _by(driver, "main").text and "/a/a." in driver.current_url
    _check_page(driver, shots, "en-offer-taken")
