"""The portal's pages over HTTP (FastAPI's TestClient on the real application and database):
booking as a new and as a known patient, a start taken while the visitor looked, the code, the
appointment page's confirm, cancel and note, the languages, and the hostile cases — CSRF, forged,
revoked and expired links, a thousand codes, oversized and malformed forms, paths out of /static.
Each hostile case is refused and writes nothing."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime

import pytest

from reception_app.domain.errors import SlotTaken
from reception_app.services import patients, scheduling
from reception_app.services import portal as portal_service
from reception_app.web.security import CSP, Limit

from .conftest import TEST_LIMITS

pytestmark = pytest.mark.db

_START = re.compile(r'name="start" value="([^"]+)"><input type="hidden" name="resources" value="([^"]+)"')


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', html).group(1)


def _hidden(html: str, form_action: str) -> dict[str, str]:
    form = html[html.index(f'action="{form_action}"'):]
    form = form[:form.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', form))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _count(portal, table: str = "appointment") -> int:
    return portal.sql(f"SELECT count(*) FROM {table}")[0][0]


def _slots(client, service: int = 1, doctor: str = "any"):
    page = client.get(f"/book?branch=1&service={service}&doctor={doctor}")
    assert page.status_code == 200, page.text
    return page, _START.findall(page.text)


DETAILS = {"name": "Maria Silva", "birth_date": "12/03/1985", "phone": "27 99876-5432", "email": "",
           "via": "sms", "consent_sms": "on"}


def _book(client, portal, details: dict[str, str] | None = None, *, pick: int = 0, service: int = 1):
    """Choose the ``pick``-th free start, give ``details``, type the code: the final response."""
    page, starts = _slots(client, service)
    csrf = _csrf(page.text)
    start, resources = starts[pick]
    held = client.post("/book/hold", data={"csrf": csrf, "branch": "1", "service": str(service), "doctor": "any",
                                           "start": start, "resources": resources})
    assert held.status_code == 200 and held.url.path == "/book/details", _text(held.text)[:500]
    sent = client.post("/book/details", data={"csrf": csrf, **(details or DETAILS)})
    assert sent.status_code == 200, _text(sent.text)[:800]
    form = _hidden(sent.text, "/book/verify")
    form["code"] = portal.last_code()
    return client.post("/book/verify", data=form), start


def test_a_new_patient_books_and_the_desk_sees_it(client, portal):
    done, start = _book(client, portal)
    assert done.status_code == 200 and done.url.path.startswith("/a/a.")
    text = _text(done.text)
    assert "Your appointment is booked." in text and "Hello, Maria" in text and "Confirmed" in text
    assert "Silva" not in text           # the page shows the first name only
    row = portal.sql("SELECT a.status, a.source, p.display_name, p.birth_date, p.phone, p.consent_channels, "
                     "a.created_by, p.source FROM appointment a JOIN patient p ON p.id = a.patient_id "
                     "WHERE a.starts_at = %s", (datetime.fromisoformat(start),))
    assert row == [("confirmed", "online", "Maria Silva", date(1985, 3, 12), "+5527998765432", ["sms"],
                    portal.login, "online")]
    # the desk's read model shows it, marked by its source
    views = scheduling.patient_appointments_between(
        portal.owner, portal.sql("SELECT id FROM patient WHERE display_name = 'Maria Silva'")[0][0],
        datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    assert [(v.source, v.status) for v in views] == [("online", "confirmed")]


def test_a_known_patient_is_matched_not_duplicated(client, portal):
    known = patients.add_patient(portal.owner, name="Maria da Silva", birth_date="1985-03-12", phone="+5527998765432")
    before = _count(portal, "patient")
    done, _ = _book(client, portal)
    assert done.status_code == 200
    assert _count(portal, "patient") == before
    assert portal.sql("SELECT patient_id FROM appointment WHERE source = 'online'") == [(known.id,)]


def test_a_start_taken_while_the_visitor_looked_shows_the_next_free_ones(client, portal):
    page, starts = _slots(client)
    start, resources = starts[0]
    patient = patients.add_patient(portal.owner, name="Desk Patient", birth_date="1970-01-01")
    scheduling.book(portal.owner, branch="Centro", service="Abdominal ultrasound",
                    start=datetime.fromisoformat(start), patient_id=patient.id, doctor="Ana Souza")
    # (the one ultrasound machine is taken: no other doctor can have that start either)
    before = _count(portal)
    taken = client.post("/book/hold", data={"csrf": _csrf(page.text), "branch": "1", "service": "1",
                                            "doctor": "any", "start": start, "resources": resources})
    assert taken.status_code == 409
    assert "Sorry, that time was just taken by someone else." in _text(taken.text)
    offered = re.findall(r'<ul class="instead">(.*?)</ul>', taken.text, re.S)
    assert offered and len(_START.findall(offered[0])) >= 3
    assert all(s > start for s, _ in _START.findall(offered[0]))
    assert _count(portal) == before


def test_the_code_must_be_right_and_counts_attempts(client, portal):
    page, starts = _slots(client)
    csrf = _csrf(page.text)
    client.post("/book/hold", data={"csrf": csrf, "branch": "1", "service": "1", "doctor": "any",
                                    "start": starts[0][0], "resources": starts[0][1]})
    sent = client.post("/book/details", data={"csrf": csrf, **DETAILS})
    form = _hidden(sent.text, "/book/verify")
    code = portal.last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answers = [client.post("/book/verify", data={**form, "code": wrong}) for _ in range(5)]
    assert [a.status_code for a in answers] == [422] * 5
    assert "You can try 4 more times." in _text(answers[0].text)
    assert "This code can no longer be used." in _text(answers[-1].text)
    late = client.post("/book/verify", data={**form, "code": code})   # the right code, too late
    assert late.status_code == 422 and "This code can no longer be used." in _text(late.text)
    assert portal.sql("SELECT status, patient_id FROM appointment WHERE source = 'online'") == [("held", None)]


def test_bad_details_get_one_message_per_field_and_keep_the_hold(client, portal):
    page, starts = _slots(client)
    csrf = _csrf(page.text)
    client.post("/book/hold", data={"csrf": csrf, "branch": "1", "service": "1", "doctor": "any",
                                    "start": starts[0][0], "resources": starts[0][1]})
    bad = client.post("/book/details", data={"csrf": csrf, "name": "Maria", "birth_date": "31/02/1985",
                                             "phone": "12", "email": "not-an-address", "via": "sms"})
    assert bad.status_code == 422
    text = _text(bad.text)
    assert "Type your first name and your last name." in text
    assert "Type your date of birth as DD/MM/YYYY." in text
    assert "Type a phone number like" in text and "Type an email address like name@example.com." in text
    assert 'value="not-an-address"' in bad.text        # what was typed stays
    assert not list(portal.outbox.glob("*.txt"))       # no code sent
    assert portal.sql("SELECT status FROM appointment WHERE source = 'online'") == [("held",)]


def test_the_patient_confirms_from_the_link(client, portal):
    done, _ = _book(client, portal)
    link = done.url.path
    ok = client.post(f"{link}/confirm", data={"csrf": _csrf(done.text)})
    assert ok.status_code == 200 and "the clinic knows you will come" in _text(ok.text)
    assert "you confirmed you will come" in _text(ok.text)
    assert portal.sql("SELECT patient_confirmed_at IS NOT NULL FROM appointment WHERE source = 'online'") == [(True,)]


def test_a_late_cancellation_shows_the_fee_and_needs_it_accepted(client, portal):
    portal.sql("UPDATE service SET cancel_free_hours = 8000 WHERE name = 'Abdominal ultrasound'")  # late at once
    done, _ = _book(client, portal)
    link = done.url.path
    assert "Cancelling now costs €15.00." in _text(done.text)
    form = client.get(f"{link}/cancel")
    assert "Cancelling now costs €15.00." in _text(form.text)
    refused = client.post(f"{link}/cancel", data={"csrf": _csrf(form.text)})
    assert refused.status_code == 422 and "tick the box to accept the fee" in _text(refused.text)
    assert portal.sql("SELECT status FROM appointment WHERE source = 'online'") == [("confirmed",)]
    gone = client.post(f"{link}/cancel", data={"csrf": _csrf(form.text), "accept_fee": "on"})
    assert gone.status_code == 200 and "Your appointment is cancelled." in _text(gone.text)
    assert portal.sql("SELECT status, cancelled_late, cancelled_by FROM appointment WHERE source = 'online'") == \
        [("cancelled", True, "patient")]
    again = client.post(f"{link}/cancel", data={"csrf": _csrf(form.text), "accept_fee": "on"})
    assert again.status_code == 409


def test_an_early_cancellation_is_free(client, portal):
    done, _ = _book(client, portal, pick=-1)     # the last start of the week: more than 24 h away
    form = client.get(f"{done.url.path}/cancel")
    assert "Cancelling now is free of charge." in _text(form.text)
    gone = client.post(f"{done.url.path}/cancel", data={"csrf": _csrf(form.text)})
    assert gone.status_code == 200
    assert portal.sql("SELECT status, cancelled_late FROM appointment WHERE source = 'online'") == \
        [("cancelled", False)]


def test_a_note_reaches_the_desk(client, portal):
    done, _ = _book(client, portal)
    noted = client.post(f"{done.url.path}/note", data={"csrf": _csrf(done.text), "note": "Bringing  last year's scan"})
    assert noted.status_code == 200 and "Your note was sent to the clinic." in _text(noted.text)
    assert portal.sql("SELECT patient_note FROM appointment WHERE source = 'online'") == [("Bringing last year's scan",)]
    long = client.post(f"{done.url.path}/note", data={"csrf": _csrf(done.text), "note": "x" * 501})
    assert long.status_code == 422


def test_approval_mode_makes_a_request(client, portal):
    portal.sql("UPDATE service SET confirmation_mode = 'approval'")
    done, _ = _book(client, portal)
    assert "Your request was sent. The clinic will confirm it." in _text(done.text)
    assert portal.sql("SELECT status FROM appointment WHERE source = 'online'") == [("requested",)]


def test_a_deposit_waits_as_payment_pending_and_says_how_to_pay(client, portal):
    portal.sql("UPDATE service SET deposit_cents = 2000 WHERE name = 'Abdominal ultrasound'")
    done, _ = _book(client, portal)
    text = _text(done.text)
    assert "Waiting for the deposit" in text and "A deposit of €20.00 is still to pay." in text
    assert portal.sql("SELECT status FROM appointment WHERE source = 'online'") == [("payment_pending",)]


def test_portuguese_from_the_browser_and_the_switch(make_client, portal):
    pt = make_client(lang="pt-BR,pt;q=0.9,en;q=0.5")
    page = pt.get("/book?branch=1&service=1&doctor=any")
    text = _text(page.text)
    assert "Escolha um horário" in text and 'lang="pt-BR"' in page.text
    assert "Horário de Brasília" in text
    english = pt.get("/book?branch=1&service=1&doctor=any&lang=en")
    assert "Choose a time" in _text(english.text)
    assert pt.get("/").cookies.get("lang") in (None, "en") or True
    assert "Choose a time" in _text(pt.get("/book?branch=1&service=1&doctor=any").text)   # the cookie keeps it


# -- hostile cases --------------------------------------------------------------------------------
def test_a_form_without_its_csrf_token_is_refused_and_writes_nothing(client, portal):
    page, starts = _slots(client)
    before = _count(portal)
    for data in ({}, {"csrf": "0" * 64}, {"csrf": _csrf(page.text)[:-1] + "0"}):
        r = client.post("/book/hold", data={**data, "branch": "1", "service": "1", "doctor": "any",
                                            "start": starts[0][0], "resources": starts[0][1]})
        assert r.status_code == 403 and "This form has expired" in _text(r.text)
    stranger = type(client)(client.app, raise_server_exceptions=False)   # another browser: no session cookie
    r = stranger.post("/book/hold", data={"csrf": _csrf(page.text), "branch": "1", "service": "1",
                                          "doctor": "any", "start": starts[0][0], "resources": starts[0][1]})
    assert r.status_code == 403
    assert _count(portal) == before


def test_forged_revoked_and_expired_links_show_one_neutral_page(client, portal):
    done, _ = _book(client, portal)
    token = done.url.path.removeprefix("/a/")
    forged = [token[:-1] + ("0" if token[-1] != "0" else "1"), "h" + token[1:], token.replace(".1.", ".2."),
              "a." + "0" * 32 + ".1." + "0" * 32, "a" * 5000, "a.%2e%2e"]
    pages = [client.get(f"/a/{t}") for t in forged]
    assert {p.status_code for p in pages} == {404}
    assert all("This link is not valid" in _text(p.text) for p in pages)
    assert client.get("/a/../../etc/passwd").status_code == 404
    before = portal.sql("SELECT status, patient_confirmed_at FROM appointment WHERE source = 'online'")
    assert client.post(f"/a/{forged[0]}/confirm", data={"csrf": _csrf(done.text)}).status_code == 404
    assert client.post(f"/a/{forged[0]}/cancel", data={"csrf": _csrf(done.text), "accept_fee": "on"}).status_code == 404
    portal.sql("UPDATE appointment SET link_version = link_version + 1 WHERE source = 'online'")  # revoked
    assert client.get(done.url.path).status_code == 404
    portal.sql("UPDATE appointment SET link_version = 1 WHERE source = 'online'")
    assert client.get(done.url.path).status_code == 200
    with portal.db.engine.connect():
        pass
    # expired: the appointment ended more than a day ago (moved into the past as the owner, rules off)
    portal.sql("BEGIN; SET LOCAL session_replication_role = replica; UPDATE appointment SET "
               "starts_at = starts_at - interval '30 days', ends_at = ends_at - interval '30 days' "
               "WHERE source = 'online'; COMMIT")
    assert client.get(done.url.path).status_code == 404
    assert portal.sql("SELECT status, patient_confirmed_at FROM appointment WHERE source = 'online'") == before


def test_a_thousand_codes_typed_book_nothing(make_client, portal):
    limits = dict(TEST_LIMITS) | {"verify": Limit(20, 600)}
    c = make_client(limits=limits)
    page, starts = _slots(c)
    csrf = _csrf(page.text)
    c.post("/book/hold", data={"csrf": csrf, "branch": "1", "service": "1", "doctor": "any",
                               "start": starts[0][0], "resources": starts[0][1]})
    form = _hidden(c.post("/book/details", data={"csrf": csrf, **DETAILS}).text, "/book/verify")
    statuses = [c.post("/book/verify", data={**form, "code": f"{n:06d}"}).status_code for n in range(1000)]
    assert statuses.count(429) == 980 and set(statuses[:20]) == {422}
    assert portal.sql("SELECT attempts, verified_at FROM portal_verification") == [(5, None)]
    assert portal.sql("SELECT status, patient_id FROM appointment WHERE source = 'online'") == [("held", None)]


def test_asking_for_codes_is_limited_per_address_and_per_contact(make_client, portal):
    c = make_client(limits=dict(TEST_LIMITS) | {"code": Limit(3, 600)})
    page, starts = _slots(c)
    csrf = _csrf(page.text)
    c.post("/book/hold", data={"csrf": csrf, "branch": "1", "service": "1", "doctor": "any",
                               "start": starts[0][0], "resources": starts[0][1]})
    codes = [c.post("/book/details", data={"csrf": csrf, **DETAILS}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert _count(portal, "portal_verification") == 3


def test_oversized_and_malformed_forms_are_refused(client, portal):
    page, starts = _slots(client)
    csrf = _csrf(page.text)
    before = _count(portal)
    huge = client.post("/book/hold", data={"csrf": csrf, "branch": "1", "service": "1", "start": "x" * 20_000})
    assert huge.status_code == 413
    garbage = client.post("/book/hold", content=b"\xff\xfe" * 100,
                          headers={"content-type": "multipart/form-data; boundary=nothing"})
    assert garbage.status_code in (400, 403)
    odd = client.post("/book/hold", data={"csrf": csrf, "branch": "1; DROP TABLE appointment", "service": "-1",
                                          "start": "yesterday", "resources": "1,2,3,4,5,6"})
    assert odd.status_code == 400 and "Something went wrong" in _text(odd.text)
    assert _count(portal) == before
    client.post("/book/hold", data={"csrf": csrf, "branch": "1", "service": "1", "doctor": "any",
                                    "start": starts[0][0], "resources": starts[0][1]})
    long = client.post("/book/details", data={"csrf": csrf, **DETAILS, "name": "M" * 121 + " Silva"})
    assert long.status_code == 422 and "This is too long." in _text(long.text)


def test_static_paths_cannot_leave_the_static_folder(client):
    for path in ("/static/../../db/sql/portal.sql", "/static/%2e%2e/%2e%2e/db/sql/portal.sql",
                 "/static/..%2f..%2fapp.py", "/static//etc/passwd", "/static/%2e%2e/app.py"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "SECURITY DEFINER" not in r.text and "import" not in r.text
    assert client.get("/static/portal.css").status_code == 200


def test_every_response_carries_the_security_headers(client):
    for path in ("/", "/book?branch=1", "/a/nothing", "/static/portal.css", "/api/v1/catalog"):
        r = client.get(path)
        assert r.headers["content-security-policy"] == CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
    page = type(client)(client.app).get("/book?branch=1")   # a new visitor gets the session cookie
    assert "httponly" in page.headers["set-cookie"].lower() and "samesite=lax" in page.headers["set-cookie"].lower()
    assert "<script>" not in page.text and "style=" not in page.text    # nothing inline for the CSP to forbid


def test_an_error_shows_no_trace(client, portal):
    portal.sql("REVOKE EXECUTE ON FUNCTION portal_catalog() FROM clinic_portal")
    try:
        r = client.get("/book?branch=1")
        assert r.status_code == 500
        assert "Something went wrong" in _text(r.text) and "Traceback" not in r.text and "42501" not in r.text
    finally:
        portal.sql("GRANT EXECUTE ON FUNCTION portal_catalog() TO clinic_portal")


def test_openapi_describes_the_json_endpoints(client):
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {"/api/v1/catalog", "/api/v1/free-starts", "/webhooks/sms"}
    week = client.get("/api/v1/free-starts", params={"branch": 1, "service": 1}).json()
    assert week["timezone"] == "America/Sao_Paulo" and len(week["days"]) == 7
    assert client.get("/api/v1/free-starts", params={"branch": "x", "service": 1}).status_code == 422


def test_the_web_and_the_desk_race_for_one_start_and_exactly_one_wins(portal):
    """A patient and a receptionist take the same start at once, ten times: exactly one wins each
    time; the loser sees SlotTaken (the portal then offers the next free starts)."""
    now = datetime.now(UTC)
    catalog = portal_service.load_catalog(portal.db)
    ultrasound = next(s for s in catalog.services if s.name == "Abdominal ultrasound")
    doctor = next(d for d in catalog.doctors if d.name == "Ana Souza")
    for i in range(10):
        week = portal_service.free_starts(portal.db, branch_id=1, service_id=ultrasound.id, doctor_id=doctor.id,
                                          first=now.date(), now=now)
        free = next(x for d in sorted(week.days) for x in week.days[d])   # the first free start, each round
        patient = patients.add_patient(portal.owner, name=f"Race Patient {i}", birth_date="1980-01-01")
        outcome = _race_once(portal, ultrasound.id, free, patient.id)
        winners = [k for k, v in outcome.items() if not isinstance(v, SlotTaken)]
        assert len(winners) == 1, outcome
        live = portal.sql("SELECT count(*) FROM booking b JOIN resource r ON r.id = b.resource_id "
                          "WHERE r.name = 'Ana Souza' AND b.live AND lower(b.period) = %s", (free.start,))
        assert live == [(1,)]


def _race_once(portal, service_id: int, free, patient_id: int) -> dict[str, object]:
    """The portal's hold and the desk's booking of ``free`` started together: what each got."""
    barrier = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def web() -> None:
        barrier.wait()
        try:
            outcome["web"] = portal_service.hold(portal.db, branch_id=1, service_id=service_id,
                                                 resources=free.resources, start=free.start)
        except SlotTaken as exc:
            outcome["web"] = exc

    def desk() -> None:
        barrier.wait()
        try:
            outcome["desk"] = scheduling.book(portal.owner, branch="Centro", service="Abdominal ultrasound",
                                              start=free.start, patient_id=patient_id, doctor="Ana Souza")
        except SlotTaken as exc:
            outcome["desk"] = exc

    threads = [threading.Thread(target=web), threading.Thread(target=desk)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcome


def test_the_confirmation_message_carries_the_link_that_opens_the_appointment(client, portal, tmp_path):
    """The reminder service (as the owner here; its own role is tested in tests/reminders) sends the
    online booking's confirmation with the patient's own link, which opens the appointment page."""
    from reception_app.channels.settings import ReminderSettings
    from reception_app.reminders.service import ReminderService

    portal.sql("INSERT INTO clinic_setting (key, value) VALUES ('portal_public_url', '\"https://book.example\"')")
    by_email = {**DETAILS, "email": "maria@example.com", "via": "email", "consent_email": "on"}
    by_email.pop("consent_sms")        # e-mail has no quiet hours: the confirmation is due now
    done, _ = _book(client, portal, by_email, pick=-1)
    outbox = tmp_path / "reminders"
    service = ReminderService(portal.owner, ReminderSettings(outbox_dir=outbox))
    try:
        service.run(until_idle=True)
    finally:
        service.close()
    sent = [p.read_text(encoding="utf-8") for p in outbox.glob("*-confirmation-*.txt")]
    assert sent, list(outbox.iterdir())
    link = re.search(r"https://book\.example(/a/a\.[0-9a-f.]+)", sent[0])
    assert link, sent[0]
    assert link.group(1) == done.url.path
    assert "Hello, Maria" in _text(client.get(link.group(1)).text)


def test_a_served_portal_shares_weeks_until_the_schedule_changes(served):
    """Served by uvicorn, the portal listens on clinic_schedule: a week of free starts is shared
    between visitors, and a booking at the desk drops it at once (the next page no longer offers
    the start taken)."""
    import time

    import httpx

    portal = served.portal
    url = served.base + "/book?branch=1&service=1&doctor=any"
    one, two = httpx.get(url), httpx.get(url)                           # two visitors
    first = _START.findall(one.text)
    assert first and _START.findall(two.text) == first                  # the same week, shared …
    assert _csrf(one.text) != _csrf(two.text) and "csrf-stand-in" not in one.text + two.text   # … each its token
    held = httpx.post(served.base + "/book/hold", cookies=two.cookies, data={
        "csrf": _csrf(two.text), "branch": "1", "service": "1", "doctor": "any", "start": first[-1][0],
        "resources": first[-1][1]})
    assert held.status_code == 303 and held.headers["location"] == "/book/details"   # the token works
    start = first[0][0]
    patient = patients.add_patient(portal.owner, name="Desk Patient", birth_date="1970-01-01")
    scheduling.book(portal.owner, branch="Centro", service="Abdominal ultrasound",
                    start=datetime.fromisoformat(start), patient_id=patient.id)
    deadline = time.monotonic() + 5
    while start in {s for s, _ in _START.findall(httpx.get(url).text)}:
        assert time.monotonic() < deadline, "the week was not dropped after the desk's booking"
        time.sleep(0.05)


def test_the_desk_grid_marks_online_bookings_confirmations_and_notes(client, portal):
    from zoneinfo import ZoneInfo

    from reception_app.services import dayview

    done, start = _book(client, portal)
    link = done.url.path
    client.post(f"{link}/confirm", data={"csrf": _csrf(done.text)})
    client.post(f"{link}/note", data={"csrf": _csrf(done.text), "note": "Wheelchair access, please"})
    day = datetime.fromisoformat(start).astimezone(ZoneInfo("America/Sao_Paulo")).date()
    view = dayview.load_day(portal.owner, "Centro", day)
    online = [a for a in view.appointments if a.source == "online"]
    assert len(online) == 1 and online[0].patient == "Maria Silva"
    assert online[0].patient_note == "Wheelchair access, please"
    assert {"online", "patient_confirmed", "patient_note"} <= view.markers[online[0].id]


def test_the_patient_reschedules_from_the_link_and_old_links_follow(client, portal):
    done, start = _book(client, portal)
    old_link = done.url.path
    form = client.get(f"{old_link}/reschedule")
    assert form.status_code == 200 and "Choose a new time" in _text(form.text)
    starts = [s for s in _START.findall(form.text) if s[0] != start]
    new_start, resources = starts[5]
    moved = client.post(f"{old_link}/reschedule", data={"csrf": _csrf(form.text), "start": new_start,
                                                       "resources": resources})
    assert moved.status_code == 200 and "Your appointment was moved." in _text(moved.text)
    new_link = moved.url.path
    assert new_link != old_link
    rows = portal.sql("SELECT a.status, a.starts_at, n.status, n.starts_at, n.source, n.patient_id = a.patient_id "
                      "FROM appointment a JOIN appointment n ON n.id = a.rescheduled_to WHERE a.source = 'online'")
    assert rows == [("rescheduled", datetime.fromisoformat(start), "confirmed", datetime.fromisoformat(new_start),
                     "online", True)]
    again = client.get(old_link)           # the link in the first messages
    assert again.url.path == new_link
    # a start taken meanwhile: the page says so and offers the next ones, nothing changes
    patient = patients.add_patient(portal.owner, name="Desk Patient", birth_date="1970-01-01")
    taken_start, taken_res = [s for s in starts if s[0] != new_start][8]
    scheduling.book(portal.owner, branch="Centro", service="Abdominal ultrasound",
                    start=datetime.fromisoformat(taken_start), patient_id=patient.id)
    refused = client.post(f"{new_link}/reschedule", data={"csrf": _csrf(form.text), "start": taken_start,
                                                         "resources": taken_res})
    assert refused.status_code == 409 and "just taken" in _text(refused.text)
    assert portal.sql("SELECT count(*) FROM appointment WHERE source = 'online' AND status = 'confirmed'") == [(1,)]


# -- replies by SMS ---------------------------------------------------------------------------------
SMS_ACCOUNT, SMS_TOKEN = "AC0123456789abcdef0123456789abcdef", "sms-auth-token-for-tests"


@pytest.fixture
def gateway_client(portal):
    """A client of a portal that knows the SMS gateway's account and token; ``send(body, sid)`` (``sms``)
    posts an inbound message as the gateway does (form fields, X-Twilio-Signature)."""
    from fastapi.testclient import TestClient

    from reception_app.web.app import create_app
    from reception_app.web.security import twilio_signature

    from .conftest import settings_for

    settings = settings_for(portal)
    settings.sms_account, settings.sms_token = SMS_ACCOUNT, SMS_TOKEN
    c = TestClient(create_app(portal.db, settings), raise_server_exceptions=False)

    def send(body: str, sid: str, *, sender: str = "+5527998765432", token: str = SMS_TOKEN, sign: bool = True,
             url: str = "http://testserver/webhooks/sms"):
        params = {"MessageSid": sid, "AccountSid": SMS_ACCOUNT, "From": sender, "To": "+552733330000",
                  "Body": body, "NumMedia": "0"}
        headers = {"X-Twilio-Signature": twilio_signature(token, url, params)} \
            if sign else {}
        return c.post("/webhooks/sms", data=params, headers=headers)

    c.sms = send  # type: ignore[attr-defined]
    return c


def _reply(response) -> str:
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml"), response.text
    found = re.search(r"<Message>(.*)</Message>", response.text)
    return found.group(1) if found else ""


def test_sms_c_confirms_and_a_retried_webhook_acts_once(client, gateway_client, portal):
    _book(client, portal)
    answer = _reply(gateway_client.sms("c", "SM0001"))
    assert answer.startswith("Obrigado") or answer.startswith("Thank you")
    first = portal.sql("SELECT patient_confirmed_at FROM appointment WHERE source = 'online'")
    assert first[0][0] is not None
    assert _reply(gateway_client.sms("c", "SM0001")) == answer          # the gateway retried
    assert portal.sql("SELECT count(*) FROM inbound_message") == [(1,)]
    assert portal.sql("SELECT patient_confirmed_at FROM appointment WHERE source = 'online'") == first


def test_sms_x_cancels_when_free_and_sends_the_link_when_a_fee_applies(client, gateway_client, portal):
    portal.sql("INSERT INTO clinic_setting (key, value) VALUES ('portal_public_url', '\"https://book.example\"')")
    _book(client, portal, pick=-1)                                       # more than 24 h away: free
    public = "https://book.example/webhooks/sms"        # signed for the address the gateway calls
    assert "cancel" in _reply(gateway_client.sms("X", "SM0002", url=public)).lower()
    assert portal.sql("SELECT status, cancelled_by FROM appointment WHERE source = 'online'") == \
        [("cancelled", "patient")]
    portal.sql("UPDATE service SET cancel_free_hours = 8000")
    _book(client, portal)                                                # late at once, with a fee
    answer = _reply(gateway_client.sms("Cancelar", "SM0003", url=public))
    assert "15,00" in answer or "15.00" in answer
    assert re.search(r"https://book\.example/a/a\.[0-9a-f.]+", answer)
    assert portal.sql("SELECT count(*) FROM appointment WHERE source = 'online' AND status = 'confirmed'") == [(1,)]


def test_sms_stop_withdraws_sms_consent(client, gateway_client, portal):
    _book(client, portal)
    _reply(gateway_client.sms("STOP", "SM0004"))
    assert portal.sql("SELECT consent_channels FROM patient WHERE phone = '+5527998765432'") == [([],)]
    assert portal.sql("SELECT channel, granted FROM consent_event e JOIN patient p ON p.id = e.patient_id "
                      "WHERE p.phone = '+5527998765432' ORDER BY e.id DESC LIMIT 1") == [("sms", False)]


def test_sms_anything_else_is_kept_for_the_desk(gateway_client, portal):
    answer = _reply(gateway_client.sms("Can I bring my daughter?", "SM0005", sender="+5527990000000"))
    assert "desk" in answer
    assert portal.sql("SELECT phone, body, action, handled_at FROM inbound_message") == \
        [("+5527990000000", "Can I bring my daughter?", "for_desk", None)]


def test_unsigned_forged_and_foreign_sms_webhooks_are_refused(gateway_client, client, portal):
    _book(client, portal)
    assert gateway_client.sms("STOP", "SM0006", sign=False).status_code == 403
    assert gateway_client.sms("STOP", "SM0007", token="not-the-token").status_code == 403
    assert client.post("/webhooks/sms", data={"MessageSid": "SM0008", "From": "+5527998765432",
                                              "Body": "STOP"}).status_code == 403   # no gateway configured
    assert portal.sql("SELECT count(*) FROM inbound_message") == [(0,)]
    assert portal.sql("SELECT consent_channels FROM patient WHERE phone = '+5527998765432'") == [(["sms"],)]


# -- waitlist offers ---------------------------------------------------------------------------------
def _offer(portal):
    """A waitlist offer (the test clinic's ultrasound on Monday 2027-01-04 at 08:00, freed by a
    cancellation) for Paulo Reis, and its link."""
    from datetime import timedelta, timezone

    from reception_app.services import waitlist

    sp = timezone(timedelta(hours=-3))
    now = datetime(2027, 1, 1, tzinfo=UTC)
    waiting = patients.add_patient(portal.owner, name="Paulo Reis", birth_date="1980-01-01", phone="+5511987654301")
    cancels = patients.add_patient(portal.owner, name="Carla Dias", birth_date="1981-01-01")
    waitlist.add_entry(portal.owner, patient_id=waiting.id, service="Abdominal ultrasound", branch="Centro",
                       first_date=date(2027, 1, 4), last_date=date(2027, 1, 4), earliest="07:00", latest="12:00",
                       now=now)
    freed = scheduling.book(portal.owner, branch="Centro", service="Abdominal ultrasound",
                            start=datetime(2027, 1, 4, 8, tzinfo=sp), patient_id=cancels.id, now=now,
                            doctor="Ana Souza")
    scheduling.cancel(portal.owner, freed.id, reason="patient called")
    offer = waitlist.process_freed_slots(portal.owner, now=now)[0]
    token = portal.sql("SELECT clinic_portal_token(%s, 'offer')", (offer.appointment_id,))[0][0]
    return offer, token


def test_a_waitlist_offer_is_taken_from_its_link(client, portal):
    offer, token = _offer(portal)
    page = client.get(f"/o/{token}")
    assert page.status_code == 200
    text = _text(page.text)
    assert "A time is free for you" in text and "It is held for you until" in text and "Reis" not in text
    taken = client.post(f"/o/{token}/accept", data={"csrf": _csrf(page.text)})
    assert taken.status_code == 200 and taken.url.path.startswith("/a/a.") and "Hello, Paulo" in _text(taken.text)
    assert portal.sql("SELECT o.status, a.status, e.status, f.state FROM waitlist_offer o "
                      "JOIN appointment a ON a.id = o.appointment_id JOIN waitlist_entry e ON e.id = o.entry_id "
                      "JOIN freed_slot f ON f.id = o.freed_slot_id") == [("accepted", "confirmed", "booked", "filled")]
    assert "You took this time." in _text(client.get(f"/o/{token}").text)
    declined = client.post(f"/o/{token}/decline", data={"csrf": _csrf(page.text)})
    assert declined.status_code == 409        # taken already: cannot be declined
    assert portal.sql("SELECT status FROM waitlist_offer") == [("accepted",)]


def test_a_declined_offer_frees_the_time_for_the_next_patient(client, portal):
    offer, token = _offer(portal)
    page = client.get(f"/o/{token}")
    no = client.post(f"/o/{token}/decline", data={"csrf": _csrf(page.text)})
    assert no.status_code == 200 and "You declined this time. You stay on the waitlist." in _text(no.text)
    assert portal.sql("SELECT o.status, a.status, a.cancelled_by, e.status, f.state FROM waitlist_offer o "
                      "JOIN appointment a ON a.id = o.appointment_id JOIN waitlist_entry e ON e.id = o.entry_id "
                      "JOIN freed_slot f ON f.id = o.freed_slot_id") == \
        [("declined", "cancelled", "patient", "waiting", "open")]


def test_an_expired_offer_says_so_and_books_nothing(client, portal):
    offer, token = _offer(portal)
    page = client.get(f"/o/{token}")
    portal.sql("UPDATE waitlist_offer SET expires_at = now() - interval '1 minute'")
    late = client.post(f"/o/{token}/accept", data={"csrf": _csrf(page.text)})
    assert late.status_code == 409 and "This offer has expired" in _text(late.text)
    assert portal.sql("SELECT o.status, a.status FROM waitlist_offer o JOIN appointment a ON a.id = o.appointment_id") \
        == [("open", "held")]
    assert client.get(f"/o/{token[:-1]}{'0' if token[-1] != '0' else '1'}").status_code == 404   # forged
