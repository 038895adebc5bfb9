"""The patient portal's way in (migration 0014, ``db/sql/portal.sql``) through ``services.portal``,
as a login in ``clinic_portal`` on a real PostgreSQL.

- ``clinic_initial_status`` (SQL) is ``domain.policy.initial_status`` on every input;
- ``clinic_hmac_hex`` is HMAC-SHA256 (Python's ``hmac``) with the key in ``portal_secret``;
- the whole flow: free starts (the desk's own slot search gives the same starts), hold, codes,
  booking (the confirmation modes, the deposit, the patient matched or added), the appointment's
  page, confirming, the note, cancelling (late, with the fee);
- what a visitor cannot do: take a start that was taken meanwhile, use an expired hold, a
  tampered, forged or revoked link, ask for too many codes;
- the desk sees the hold (no patient yet) and may only cancel it; the audit trail names the
  portal's login.

The portal's clock is the server's (``now()``): "later" is made by moving a row's time back as the
owner (``hold_expires_at``) instead of waiting.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from reception_app.domain import policy
from reception_app.domain.errors import InvalidTransition, PatientBusy, PortalRefused, SlotTaken
from reception_app.services import dayview, portal, scheduling
from reception_app.services.appointments import ONLINE_HOLD_PATIENT
from reception_app.store.database import Database

SP = ZoneInfo("America/Sao_Paulo")
US = "Abdominal ultrasound"     # 30 min + 10 after; doctor radiology, room imaging, equipment ultrasound (one unit)
PHONE = "+5511961234567"


# -- fixtures ---------------------------------------------------------------------------------------
def _owner(url: str, query: str, params: Any = None) -> list[tuple]:
    """Rows of ``query`` run as the owner (autocommit); [] for a statement without rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _one(url: str, query: str, params: Any = None) -> Any:
    rows = _owner(url, query, params)
    return rows[0][0] if rows else None


class Clinic:
    """The test clinic with its services and doctors bookable online, a portal login (``web``, a
    ``Database`` as that login) and the owner's ``desk`` ``Database``."""

    def __init__(self, url: str, desk: Database, web: Database, login: str) -> None:
        self.url, self.desk, self.web, self.login = url, desk, web, login
        self._n = itertools.count(1)

    def sql(self, query: str, params: Any = None) -> list[tuple]:
        return _owner(self.url, query, params)

    def one(self, query: str, params: Any = None) -> Any:
        return _one(self.url, query, params)

    def id(self, table: str, name: str) -> int:
        return int(self.one(sql.SQL("SELECT id FROM {} WHERE name = %s").format(sql.Identifier(table)), (name,)))

    @property
    def centro(self) -> int:
        return self.id("branch", "Centro")

    def service(self, *, mode: str = "immediate", deposit: int = 0, free_hours: int = 24, fee: int = 0) -> int:
        """A new radiology consult (30 min; doctor radiology, room imaging) bookable online."""
        return int(self.one(
            "INSERT INTO service (name, duration_min, doctor_specialty, room_kind, confirmation_mode, deposit_cents, "
            "cancel_free_hours, late_cancel_fee_cents, online) VALUES (%s, 30, 'radiology', 'imaging', %s, %s, %s, "
            "%s, true) RETURNING id", (f"Online consult {next(self._n)}", mode, deposit, free_hours, fee)))

    def starts(self, service_id: int, day: date, doctor_id: int | None = None) -> list[portal.FreeStart]:
        week = portal.free_starts(self.web, branch_id=self.centro, service_id=service_id, doctor_id=doctor_id,
                                  first=day, now=datetime.now(UTC), days=1)
        return week.days[day]

    def hold(self, service_id: int, day: date, index: int = 0, doctor_id: int | None = None) -> portal.Hold:
        f = self.starts(service_id, day, doctor_id)[index]
        return portal.hold(self.web, branch_id=self.centro, service_id=service_id, resources=f.resources,
                           start=f.start)

    def appointment_of(self, token: str) -> int:
        """The appointment a hold or link token names (its client id, read as the owner)."""
        return int(self.one("SELECT id FROM appointment WHERE replace(client_id::text, '-', '') = %s",
                            (token.split(".")[1],)))

    def book(self, service_id: int, day: date, details: portal.PatientDetails, *, index: int = 0,
             doctor_id: int | None = None) -> tuple[int, portal.Booked]:
        """Hold, send a code to the details' phone (else email) and book: (appointment id, Booked)."""
        h = self.hold(service_id, day, index, doctor_id)
        channel, contact = ("sms", details.phone) if details.phone else ("email", details.email)
        code = portal.send_code(self.web, h.token, channel=channel, contact=contact or "")
        done = portal.book(self.web, h.token, code, details)
        assert isinstance(done, portal.Booked), done
        return self.appointment_of(h.token), done


@pytest.fixture
def clinic(clinic_db: Database, db_url: str) -> Iterator[Clinic]:
    """The test clinic, online (every service and doctor), with a portal login made as
    ``clinic user add`` makes the others: a member of ``clinic_portal``, writing SERIALIZABLE."""
    name = f"t_portal_{uuid.uuid4().hex[:10]}"
    ident = sql.Identifier(name)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE clinic_portal").format(ident))
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_isolation = 'serializable'").format(ident))
        conn.execute("UPDATE service SET online = true")
        conn.execute("UPDATE resource SET online = true WHERE kind = 'doctor'")
    web = Database(make_conninfo(db_url, user=name))
    try:
        yield Clinic(db_url, clinic_db, web, name)
    finally:
        web.dispose()
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


def _next_weekday(weekday: int, *, after_days: int = 2) -> date:
    """The first branch-local date ``after_days`` or more from today that falls on ``weekday``
    (0 = Monday; Ana and Bruno work Mondays and Tuesdays 08-12 at Centro), inside the portal's
    horizon (90 days) and outside Ana's leave (2027-03-01..07)."""
    day = datetime.now(SP).date() + timedelta(days=after_days)
    while day.weekday() != weekday or date(2027, 3, 1) <= day < date(2027, 3, 8) or (day.month, day.day) == (12, 25):
        day += timedelta(days=1)
    return day


@pytest.fixture
def monday() -> date:
    return _next_weekday(0)


def details(name: str = "Maria Silva", born: date = date(1985, 3, 12), phone: str | None = PHONE,
            email: str | None = None, **more: Any) -> portal.PatientDetails:
    return portal.PatientDetails(name, born, phone, email, ("sms",) if phone else ("email",), "pt", **more)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# -- the SQL twins of Python ------------------------------------------------------------------------------
def test_initial_status_in_sql_agrees_with_the_policy(clinic: Clinic) -> None:
    cases = list(itertools.product(policy.CONFIRMATION_MODES, (0, 2000), (False, True), (0, 2000)))
    rows = clinic.sql("SELECT m, d, k, p, clinic_initial_status(m, d, k, p) "
                      "FROM unnest(%s::text[], %s::int[], %s::boolean[], %s::int[]) AS x(m, d, k, p)",
                      [list(c) for c in zip(*cases, strict=True)])
    assert len(rows) == len(cases) == 24
    wrong = [(m, d, k, p, got, policy.initial_status(m, d, k, p)) for m, d, k, p, got in rows
             if got != policy.initial_status(m, d, k, p)]
    assert not wrong, wrong
    assert {r[4] for r in rows} == {"requested", "payment_pending", "confirmed"}


@pytest.mark.parametrize("message", [
    "", "a", "a.0123456789abcdef0123456789abcdef.1", "17.maria@example.org.123456", "x" * 1000,
    "ação, São Paulo — 東京 🎉", "line\nbreak\ttab", "é" * 200,
])
def test_hmac_in_sql_is_python_hmac_sha256(clinic: Clinic, message: str) -> None:
    key = bytes(clinic.one("SELECT key FROM portal_secret WHERE id = 1"))
    assert len(key) >= 32
    want = hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()
    assert clinic.one("SELECT clinic_hmac_hex(%s)", (message,)) == want


@pytest.mark.parametrize("length", [32, 64, 65, 100])
def test_hmac_with_keys_of_every_length(clinic: Clinic, length: int) -> None:
    """RFC 2104: a key of up to 64 bytes is padded, a longer one hashed first."""
    key = bytes(range(length))
    clinic.sql("UPDATE portal_secret SET key = %s WHERE id = 1", (key,))
    for message in ("h.00.1", "ação" * 50):
        assert clinic.one("SELECT clinic_hmac_hex(%s)", (message,)) == \
            hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
    assert clinic.one("SELECT clinic_hmac_hex(NULL)") is None


# -- free starts --------------------------------------------------------------------------------------
def test_free_starts_are_the_desks_starts(clinic: Clinic, monday: date) -> None:
    patient = int(clinic.one("INSERT INTO patient (display_name, birth_date) VALUES ('Desk Patient', "
                             "'1970-01-01') RETURNING id"))
    now = datetime.now(UTC)
    # something booked on the desk that day: both searches leave it out
    desk = scheduling.book(clinic.desk, branch="Centro", service=US, start=datetime.combine(
        monday, datetime.min.time(), SP).replace(hour=9), patient_id=patient, now=now)
    us = clinic.id("service", US)
    for svc, name in ((us, US), (clinic.service(), None)):
        name = name or clinic.one("SELECT name FROM service WHERE id = %s", (svc,))
        web = portal.free_starts(clinic.web, branch_id=clinic.centro, service_id=svc, doctor_id=None, first=monday,
                                 now=now, days=1)
        offers = scheduling.find_slots(clinic.desk, branch="Centro", service=name, local_date=monday, now=now)
        assert [f.start for f in web.days[monday]] == [o.start for o in offers]
        assert web.count > 0
        assert desk.start not in {f.start for f in web.days[monday]} or svc != us
        first = web.days[monday][0]
        assert first.doctor in ("Ana Souza", "Bruno Lima") and len(first.resources) == (3 if svc == us else 2)
    # one doctor only: that doctor's starts, the same as the desk's pinned search
    ana = clinic.id("resource", "Ana Souza")
    web = portal.free_starts(clinic.web, branch_id=clinic.centro, service_id=us, doctor_id=ana, first=monday,
                             now=now, days=1)
    offers = scheduling.find_slots(clinic.desk, branch="Centro", service=US, local_date=monday, now=now,
                                   doctor="Ana Souza")
    assert [f.start for f in web.days[monday]] == [o.start for o in offers]
    assert {f.doctor for f in web.days[monday]} == {"Ana Souza"}


def test_a_doctor_not_online_is_not_offered(clinic: Clinic, monday: date) -> None:
    clinic.sql("UPDATE resource SET online = false WHERE name = 'Ana Souza'")
    svc = clinic.service()
    assert {f.doctor for f in clinic.starts(svc, monday)} == {"Bruno Lima"}
    cat = portal.load_catalog(clinic.web)
    assert "Ana Souza" not in {d.name for d in cat.doctors}
    clinic.sql("UPDATE service SET online = false WHERE id = %s", (svc,))
    with pytest.raises(PortalRefused) as info:
        clinic.starts(svc, monday)
    assert info.value.reason == "not_online"
    assert svc not in {s.id for s in portal.load_catalog(clinic.web).services}


# -- hold, code, book -------------------------------------------------------------------------------------
def test_the_whole_flow_hold_code_book_page(clinic: Clinic, monday: date) -> None:
    svc = clinic.service()
    f = clinic.starts(svc, monday)[0]
    h = portal.hold(clinic.web, branch_id=clinic.centro, service_id=svc, resources=f.resources, start=f.start)
    assert h.token.startswith("h.") and h.expires_at > datetime.now(UTC)
    appt = clinic.appointment_of(h.token)
    assert clinic.sql("SELECT patient_id, status, source, starts_at FROM appointment WHERE id = %s", (appt,)) == \
        [(None, "held", "online", f.start)]
    # the held start is no longer offered
    assert f.start not in {x.start for x in clinic.starts(svc, monday) if x.resources == f.resources}
    code = portal.send_code(clinic.web, h.token, channel="sms", contact=PHONE)
    assert len(code) == 6 and code.isdigit()
    assert code not in str(clinic.sql("SELECT * FROM portal_verification"))   # only its HMAC is kept
    # five wrong attempts, counted (committed), then even the right code has expired
    for left in (4, 3, 2, 1, 0):
        assert portal.book(clinic.web, h.token, _wrong(code), details()) == portal.CodeProblem("code_wrong", left)
    assert clinic.one("SELECT attempts FROM portal_verification WHERE appointment_id = %s", (appt,)) == 5
    assert portal.book(clinic.web, h.token, code, details()) == portal.CodeProblem("code_expired", 0)
    assert clinic.one("SELECT patient_id FROM appointment WHERE id = %s", (appt,)) is None
    # a new code, the right one: booked
    code = portal.send_code(clinic.web, h.token, channel="sms", contact=PHONE)
    done = portal.book(clinic.web, h.token, code, details())
    assert isinstance(done, portal.Booked) and done.status == "confirmed" and done.link.startswith("a.")
    pid, status = clinic.sql("SELECT patient_id, status FROM appointment WHERE id = %s", (appt,))[0]
    assert status == "confirmed"
    assert clinic.sql("SELECT display_name, birth_date, phone, source, consent_channels, language "
                      "FROM patient WHERE id = %s", (pid,)) == \
        [("Maria Silva", date(1985, 3, 12), PHONE, "online", ["sms"], "pt")]
    # the hold token is spent; the code cannot be used again
    with pytest.raises(PortalRefused) as info:
        portal.book(clinic.web, h.token, code, details())
    assert info.value.reason == "hold_gone"
    page = portal.appointment(clinic.web, done.link)
    assert page is not None
    assert (page.first_name, page.status, page.start, page.branch, page.doctor) == \
        ("Maria", "confirmed", f.start, "Centro", f.doctor)
    assert page.live and not page.late_now and page.patient_confirmed_at is None


@pytest.mark.parametrize("mode, deposit, doctor_mode, want", [
    ("immediate", 0, None, "confirmed"),
    ("approval", 0, None, "requested"),
    ("hybrid", 0, None, "requested"),          # a new patient
    ("immediate", 2000, None, "payment_pending"),
    ("approval", 2000, None, "requested"),
    ("immediate", 0, "approval", "requested"),  # the doctor's own online mode first
    ("approval", 0, "immediate", "confirmed"),
])
def test_the_status_follows_the_confirmation_mode(clinic: Clinic, monday: date, mode: str, deposit: int,
                                                  doctor_mode: str | None, want: str) -> None:
    svc = clinic.service(mode=mode, deposit=deposit)
    clinic.sql("UPDATE resource SET online_confirmation_mode = %s WHERE kind = 'doctor'", (doctor_mode,))
    appt, done = clinic.book(svc, monday, details())
    assert done.status == want
    assert clinic.one("SELECT status FROM appointment WHERE id = %s", (appt,)) == want
    page = portal.appointment(clinic.web, done.link)
    assert page is not None and page.deposit_cents == deposit and page.paid_cents == 0


def test_hybrid_confirms_a_known_patient_at_once(clinic: Clinic, monday: date) -> None:
    pid = int(clinic.one("INSERT INTO patient (display_name, birth_date, phone) "
                         "VALUES ('Maria S.', '1985-03-12', %s) RETURNING id", (PHONE,)))
    # a completed visit last year (history, as the owner loads it)
    past = datetime(2025, 6, 2, 9, tzinfo=SP)
    appt = int(clinic.one(
        "INSERT INTO appointment (patient_id, service_id, branch_id, status, starts_at, ends_at, source) "
        "VALUES (%s, %s, %s, 'completed', %s, %s, 'phone') RETURNING id",
        (pid, clinic.id("service", US), clinic.centro, past, past + timedelta(minutes=30))))
    clinic.sql("INSERT INTO booking (appointment_id, resource_id, period) SELECT %s, id, tstzrange(%s, %s) "
               "FROM resource WHERE name IN ('Ana Souza', 'Imaging 1', 'Ultrasound A')",
               (appt, past, past + timedelta(minutes=40)))
    svc = clinic.service(mode="hybrid")
    new, done = clinic.book(svc, monday, details())
    assert done.status == "confirmed"
    assert clinic.one("SELECT patient_id FROM appointment WHERE id = %s", (new,)) == pid


def test_a_known_patient_is_matched_not_duplicated(clinic: Clinic, monday: date) -> None:
    pid = int(clinic.one("INSERT INTO patient (display_name, birth_date, phone, email) "
                         "VALUES ('Maria da Silva', '1985-03-12', %s, 'Maria@Example.org') RETURNING id", (PHONE,)))
    # another patient with that phone but another birth date is not her
    clinic.sql("INSERT INTO patient (display_name, birth_date, phone) VALUES ('Mother', '1950-01-01', %s)", (PHONE,))
    count = clinic.one("SELECT count(*) FROM patient")
    svc = clinic.service()
    appt, _ = clinic.book(svc, monday, details())
    assert clinic.one("SELECT patient_id FROM appointment WHERE id = %s", (appt,)) == pid
    # by email too (case does not matter)
    appt2, _ = clinic.book(svc, monday, details(phone=None, email="maria@example.ORG"), index=3)
    assert clinic.one("SELECT patient_id FROM appointment WHERE id = %s", (appt2,)) == pid
    assert clinic.one("SELECT count(*) FROM patient") == count
    # the record keeps what the desk wrote (the visitor's name is not written over it)
    assert clinic.one("SELECT display_name FROM patient WHERE id = %s", (pid,)) == "Maria da Silva"


def test_two_matching_records_make_a_new_patient_flagged_for_merging(clinic: Clinic, monday: date) -> None:
    ids = [int(clinic.one("INSERT INTO patient (display_name, birth_date, phone) "
                          "VALUES (%s, '1985-03-12', %s) RETURNING id", (n, PHONE))) for n in ("Maria", "M. Silva")]
    appt, _ = clinic.book(clinic.service(), monday, details())
    pid = clinic.one("SELECT patient_id FROM appointment WHERE id = %s", (appt,))
    assert pid not in ids
    attributes = clinic.one("SELECT attributes FROM patient WHERE id = %s", (pid,))
    assert attributes["merge_candidates"] == ids and attributes["review"]
    assert clinic.one("SELECT source FROM patient WHERE id = %s", (pid,)) == "online"


def test_a_start_taken_between_search_and_hold_is_slot_taken(clinic: Clinic, monday: date) -> None:
    us = clinic.id("service", US)
    f = clinic.starts(us, monday)[0]
    patient = int(clinic.one("INSERT INTO patient (display_name, birth_date) VALUES ('Phone Caller', "
                             "'1970-01-01') RETURNING id"))
    scheduling.book(clinic.desk, branch="Centro", service=US, start=f.start, patient_id=patient,
                    now=datetime.now(UTC))   # the desk wins (one ultrasound machine)
    before = clinic.one("SELECT count(*) FROM appointment")
    with pytest.raises(SlotTaken):
        portal.hold(clinic.web, branch_id=clinic.centro, service_id=us, resources=f.resources, start=f.start)
    assert clinic.one("SELECT count(*) FROM appointment") == before
    later = portal.next_free(clinic.web, branch_id=clinic.centro, service_id=us, doctor_id=None, after=f.start,
                             now=datetime.now(UTC), count=3)
    assert len(later) == 3 and all(x.start > f.start for x in later)


def test_the_hold_shows_on_the_desk_and_the_desk_may_only_cancel_it(clinic: Clinic, monday: date,
                                                                    login: Callable[..., tuple[str, Database]]) -> None:
    svc = clinic.service()
    h = clinic.hold(svc, monday)
    appt = clinic.appointment_of(h.token)
    _, reception = login("reception")
    day = dayview.load_day(reception, "Centro", monday)
    shown = [a for a in day.appointments if a.id == appt]
    assert len(shown) == 1
    view = shown[0]
    assert (view.patient_id, view.patient, view.status, view.source) == (None, ONLINE_HOLD_PATIENT, "held", "online")
    assert view.hold_expires_at is not None and view.resources
    assert "first_visit" not in day.markers.get(appt, frozenset())
    # the desk may not confirm or move it while the visitor types …
    for attempt in (lambda: scheduling.confirm_hold(reception, appt),
                    lambda: scheduling.set_status(reception, appt, "confirmed"),
                    lambda: scheduling.move(reception, appt, start=view.start + timedelta(minutes=60))):
        with pytest.raises(InvalidTransition, match="still entering their details online"):
            attempt()
    assert clinic.one("SELECT status FROM appointment WHERE id = %s", (appt,)) == "held"
    # … but may release the time
    scheduling.cancel(reception, appt, reason="phone booking needs it")
    view = scheduling.get_appointment(reception, appt)
    assert (view.status, view.patient) == ("cancelled", ONLINE_HOLD_PATIENT)
    with pytest.raises(PortalRefused) as info:
        portal.send_code(clinic.web, h.token, channel="sms", contact=PHONE)
    assert info.value.reason == "hold_gone"


def test_release_frees_the_start(clinic: Clinic, monday: date) -> None:
    svc = clinic.service()
    f = clinic.starts(svc, monday)[0]
    h = portal.hold(clinic.web, branch_id=clinic.centro, service_id=svc, resources=f.resources, start=f.start)
    assert (f.start, f.resources) not in {(x.start, x.resources) for x in clinic.starts(svc, monday)}
    assert portal.release(clinic.web, h.token) is True
    assert (f.start, f.resources) in {(x.start, x.resources) for x in clinic.starts(svc, monday)}
    appt = clinic.appointment_of(h.token)
    assert clinic.sql("SELECT status, patient_id FROM appointment WHERE id = %s", (appt,)) == [("cancelled", None)]
    assert not clinic.one("SELECT bool_or(live) FROM booking WHERE appointment_id = %s", (appt,))
    assert portal.release(clinic.web, h.token) is False   # gone already: no error
    # the same start can be held again
    portal.hold(clinic.web, branch_id=clinic.centro, service_id=svc, resources=f.resources, start=f.start)


def test_an_expired_hold_is_refused(clinic: Clinic, monday: date) -> None:
    svc = clinic.service()
    h = clinic.hold(svc, monday)
    appt = clinic.appointment_of(h.token)
    code = portal.send_code(clinic.web, h.token, channel="sms", contact=PHONE)
    clinic.sql("UPDATE appointment SET hold_expires_at = now() - interval '1 minute' WHERE id = %s", (appt,))
    for attempt in (lambda: portal.book(clinic.web, h.token, code, details()),
                    lambda: portal.send_code(clinic.web, h.token, channel="sms", contact=PHONE)):
        with pytest.raises(PortalRefused) as info:
            attempt()
        assert info.value.reason == "hold_gone"
    assert portal.release(clinic.web, h.token) is False
    assert clinic.one("SELECT patient_id FROM appointment WHERE id = %s", (appt,)) is None


def test_an_expired_code_is_refused(clinic: Clinic, monday: date) -> None:
    h = clinic.hold(clinic.service(), monday)
    code = portal.send_code(clinic.web, h.token, channel="sms", contact=PHONE)
    clinic.sql("UPDATE portal_verification SET expires_at = now() - interval '1 second'")
    assert portal.book(clinic.web, h.token, code, details()) == portal.CodeProblem("code_expired", 0)


def test_the_verified_contact_must_be_the_patients(clinic: Clinic, monday: date) -> None:
    h = clinic.hold(clinic.service(), monday)
    code = portal.send_code(clinic.web, h.token, channel="sms", contact=PHONE)
    with pytest.raises(PortalRefused) as info:
        portal.book(clinic.web, h.token, code, details(phone="+5511900000000"))
    assert info.value.reason == "contact_changed"
    with pytest.raises(PortalRefused) as info:
        portal.send_code(clinic.web, h.token, channel="sms", contact="011 96123")
    assert info.value.reason == "bad_contact"


def test_bad_details_are_refused(clinic: Clinic, monday: date) -> None:
    h = clinic.hold(clinic.service(), monday)
    code = portal.send_code(clinic.web, h.token, channel="sms", contact=PHONE)
    for bad in (details(name="  "), details(born=date(1870, 1, 1)), details(born=date.today() + timedelta(days=1)),
                details(name="x" * 121)):
        with pytest.raises(PortalRefused) as info:
            portal.book(clinic.web, h.token, code, bad)
        assert info.value.reason == "bad_details"
    assert isinstance(portal.book(clinic.web, h.token, code, details()), portal.Booked)   # nothing was spent


def test_a_patient_in_two_places_is_patient_busy(clinic: Clinic, monday: date) -> None:
    pid = int(clinic.one("INSERT INTO patient (display_name, birth_date, phone) "
                         "VALUES ('Maria Silva', '1985-03-12', %s) RETURNING id", (PHONE,)))
    svc = clinic.service()
    f = clinic.starts(svc, monday)[0]
    scheduling.book(clinic.desk, branch="Centro", service=clinic.one("SELECT name FROM service WHERE id = %s", (svc,)),
                    start=f.start, patient_id=pid, now=datetime.now(UTC))
    h = clinic.hold(svc, monday)          # the same start, with the other doctor and room
    appt = clinic.appointment_of(h.token)
    assert clinic.one("SELECT starts_at FROM appointment WHERE id = %s", (appt,)) == f.start
    code = portal.send_code(clinic.web, h.token, channel="sms", contact=PHONE)
    with pytest.raises(PatientBusy):
        portal.book(clinic.web, h.token, code, details())
    assert clinic.sql("SELECT patient_id, status FROM appointment WHERE id = %s", (appt,)) == [(None, "held")]


# -- links --------------------------------------------------------------------------------------------------
def _flip(token: str, position: int) -> str:
    c = token[position]
    return token[:position] + ("0" if c != "0" else "1") + token[position + 1:]


def test_tampered_forged_and_revoked_links_are_refused(clinic: Clinic, monday: date) -> None:
    appt, done = clinic.book(clinic.service(), monday, details())
    link = done.link
    assert portal.appointment(clinic.web, link) is not None
    letter, cid, version, mac = link.split(".")
    bad = [
        _flip(link, len(link) - 1),                  # the mac's last hex character
        _flip(link, len(link) - 32),                 # its first
        f"h.{cid}.{version}.{mac}",                  # another purpose, the same mac
        f"a.{cid}.{int(version) + 1}.{mac}",         # another version, the same mac
        f"a.{_flip(cid, 0)}.{version}.{mac}",        # another appointment's id
        f"a.{cid}.{version}.{mac.upper()}",
        link + "0", link[:-1], "", "a." * 40,
    ]
    # a forged mac for another purpose: signed with a guessed key
    forged_body = f"a.{cid}.{version}"
    bad.append(f"{forged_body}.{hmac.new(b'0' * 32, forged_body.encode(), hashlib.sha256).hexdigest()[:32]}")
    for token in bad:
        assert portal.appointment(clinic.web, token) is None, token
        with pytest.raises(PortalRefused) as info:
            portal.confirm(clinic.web, token)
        assert info.value.reason == "bad_link", token
    # the link itself still works; the desk mints the same token again
    assert clinic.one("SELECT clinic_portal_token(%s, 'appointment')", (appt,)) == link
    # revoked: the version raised by the owner (the desk's "send a new link")
    clinic.sql("UPDATE appointment SET link_version = link_version + 1 WHERE id = %s", (appt,))
    assert portal.appointment(clinic.web, link) is None
    for attempt in (lambda: portal.confirm(clinic.web, link), lambda: portal.note(clinic.web, link, "hi"),
                    lambda: portal.cancel(clinic.web, link, accept_fee=True)):
        with pytest.raises(PortalRefused) as info:
            attempt()
        assert info.value.reason == "bad_link"
    fresh = clinic.one("SELECT clinic_portal_token(%s, 'appointment')", (appt,))
    assert fresh != link and portal.appointment(clinic.web, fresh) is not None
    assert clinic.one("SELECT status FROM appointment WHERE id = %s", (appt,)) == "confirmed"


def test_a_hold_token_is_no_appointment_link_and_back(clinic: Clinic, monday: date) -> None:
    h = clinic.hold(clinic.service(), monday)
    assert portal.appointment(clinic.web, h.token) is None
    with pytest.raises(PortalRefused):
        portal.confirm(clinic.web, h.token)
    code = portal.send_code(clinic.web, h.token, channel="sms", contact=PHONE)
    done = portal.book(clinic.web, h.token, code, details())
    assert isinstance(done, portal.Booked)
    with pytest.raises(PortalRefused) as info:
        portal.send_code(clinic.web, done.link, channel="sms", contact=PHONE)
    assert info.value.reason == "hold_gone"


def test_an_old_appointments_link_expires(clinic: Clinic, monday: date) -> None:
    appt, done = clinic.book(clinic.service(), monday, details())
    clinic.sql("INSERT INTO clinic_setting (key, value) VALUES ('portal_link_days_after', '-30')")
    assert portal.appointment(clinic.web, done.link) is None
    clinic.sql("DELETE FROM clinic_setting WHERE key = 'portal_link_days_after'")
    assert portal.appointment(clinic.web, done.link) is not None


# -- codes ----------------------------------------------------------------------------------------------------
def test_at_most_three_codes_per_hold(clinic: Clinic, monday: date) -> None:
    h = clinic.hold(clinic.service(), monday)
    for _ in range(3):
        portal.send_code(clinic.web, h.token, channel="sms", contact=PHONE)
    with pytest.raises(PortalRefused) as info:
        portal.send_code(clinic.web, h.token, channel="sms", contact="+5511900000001")
    assert info.value.reason == "too_many_codes"


def test_at_most_five_codes_per_contact_an_hour(clinic: Clinic, monday: date) -> None:
    svc = clinic.service()
    holds = [clinic.hold(svc, monday, i) for i in (0, 2, 4)]
    for h in holds[:2]:
        for _ in range(2):
            portal.send_code(clinic.web, h.token, channel="email", contact="maria@example.org")
    portal.send_code(clinic.web, holds[2].token, channel="email", contact="MARIA@example.org")   # the fifth
    with pytest.raises(PortalRefused) as info:
        portal.send_code(clinic.web, holds[2].token, channel="email", contact="maria@EXAMPLE.org")
    assert info.value.reason == "too_many_codes"
    # another contact may still have one; an hour later the contact may again
    portal.send_code(clinic.web, holds[2].token, channel="sms", contact=PHONE)
    clinic.sql("UPDATE portal_verification SET created_at = created_at - interval '61 minutes'")
    more = clinic.hold(svc, monday, 6)
    portal.send_code(clinic.web, more.token, channel="email", contact="maria@example.org")


# -- the patient's page ------------------------------------------------------------------------------------------
def test_confirm_and_note(clinic: Clinic, monday: date) -> None:
    appt, done = clinic.book(clinic.service(), monday, details())
    at = portal.confirm(clinic.web, done.link)
    stored = clinic.one("SELECT patient_confirmed_at FROM appointment WHERE id = %s", (appt,))
    assert stored == at and abs(at - datetime.now(UTC)) < timedelta(minutes=5)
    assert portal.confirm(clinic.web, done.link) == at   # confirming twice keeps the first time
    page = portal.appointment(clinic.web, done.link)
    assert page is not None and page.patient_confirmed_at == at
    portal.note(clinic.web, done.link, "  I use a wheelchair.  ")
    assert clinic.one("SELECT patient_note FROM appointment WHERE id = %s", (appt,)) == "I use a wheelchair."
    portal.note(clinic.web, done.link, "é" * 500)
    with pytest.raises(PortalRefused) as info:
        portal.note(clinic.web, done.link, "é" * 501)
    assert info.value.reason == "note_too_long"
    assert clinic.one("SELECT patient_note FROM appointment WHERE id = %s", (appt,)) == "é" * 500
    portal.note(clinic.web, done.link, "   ")
    assert clinic.one("SELECT patient_note FROM appointment WHERE id = %s", (appt,)) is None
    page = portal.appointment(clinic.web, done.link)
    assert page is not None and page.patient_note == ""


def test_an_early_cancellation_costs_nothing(clinic: Clinic, monday: date) -> None:
    appt, done = clinic.book(clinic.service(free_hours=1, fee=1500), monday, details())
    assert portal.cancel(clinic.web, done.link, accept_fee=False) == portal.Cancelled(late=False, fee_cents=0)
    assert clinic.sql("SELECT status, cancelled_late, cancelled_by FROM appointment WHERE id = %s", (appt,)) == \
        [("cancelled", False, "patient")]
    with pytest.raises(PortalRefused) as info:
        portal.cancel(clinic.web, done.link, accept_fee=False)
    assert info.value.reason == "not_live"
    page = portal.appointment(clinic.web, done.link)
    assert page is not None and page.status == "cancelled" and not page.live


def test_a_late_cancellation_needs_the_fee_accepted(clinic: Clinic, monday: date) -> None:
    appt, done = clinic.book(clinic.service(free_hours=100_000, fee=1500), monday, details())
    page = portal.appointment(clinic.web, done.link)
    assert page is not None and page.late_now and page.fee_if_cancelled_now == 1500
    assert portal.cancel(clinic.web, done.link, accept_fee=False) == portal.FeeNotAccepted(1500)
    assert clinic.one("SELECT status FROM appointment WHERE id = %s", (appt,)) == "confirmed"
    assert portal.cancel(clinic.web, done.link, accept_fee=True) == portal.Cancelled(late=True, fee_cents=1500)
    assert clinic.sql("SELECT status, cancelled_late, cancelled_by FROM appointment WHERE id = %s", (appt,)) == \
        [("cancelled", True, "patient")]


def test_a_started_appointment_cannot_be_changed_online(clinic: Clinic, monday: date) -> None:
    appt, done = clinic.book(clinic.service(), monday, details())
    # the owner moves it to have started an hour or two ago, on the grid (its link lasts a day past its end)
    shift = clinic.one("SELECT starts_at - (date_trunc('hour', now()) - interval '1 hour') FROM appointment "
                       "WHERE id = %s", (appt,))
    with psycopg.connect(clinic.url) as conn:   # one transaction: the bookings follow at commit
        conn.execute("UPDATE appointment SET starts_at = starts_at - %(d)s, ends_at = ends_at - %(d)s "
                     "WHERE id = %(a)s", {"d": shift, "a": appt})
        conn.execute("UPDATE booking SET period = tstzrange(lower(period) - %(d)s, upper(period) - %(d)s) "
                     "WHERE appointment_id = %(a)s", {"d": shift, "a": appt})
    page = portal.appointment(clinic.web, done.link)
    assert page is not None and not page.live
    with pytest.raises(PortalRefused) as info:
        portal.confirm(clinic.web, done.link)
    assert info.value.reason == "started"
    with pytest.raises(PortalRefused) as info:
        portal.cancel(clinic.web, done.link, accept_fee=True)
    assert info.value.reason == "started"


# -- who did it ------------------------------------------------------------------------------------------------------
def test_the_audit_trail_names_the_portal_login(clinic: Clinic, monday: date) -> None:
    appt, done = clinic.book(clinic.service(), monday, details())
    portal.confirm(clinic.web, done.link)
    rows = clinic.sql("SELECT db_user, action, reason FROM audit_log WHERE table_name = 'appointment' "
                      "AND row_id = %s ORDER BY id", (appt,))
    assert rows and {r[0] for r in rows} == {clinic.login}
    assert [r[1] for r in rows][0] == "INSERT"
    assert {"held online", "booked online", "attendance confirmed online"} <= {r[2] for r in rows}
    pid = clinic.one("SELECT patient_id FROM appointment WHERE id = %s", (appt,))
    assert clinic.one("SELECT created_by FROM patient WHERE id = %s", (pid,)) == clinic.login
    assert clinic.one("SELECT created_by FROM appointment WHERE id = %s", (appt,)) == clinic.login
    assert clinic.sql("SELECT DISTINCT db_user FROM audit_log WHERE table_name = 'patient' AND row_id = %s",
                      (pid,)) == [(clinic.login,)]


def test_a_hold_that_never_had_a_patient_is_no_cancellation(clinic: Clinic, monday: date) -> None:
    """The visitor left (released) or the desk let the time go: no booking was ever made, so neither
    the cancellation counts nor the cancellations report count it (the clinic did not cancel anyone)."""
    from reception_app.services import payments
    from reception_app.services.reports.cancellations import cancellations

    svc = clinic.service()
    portal.release(clinic.web, clinic.hold(svc, monday).token)
    scheduling.cancel(clinic.desk, clinic.appointment_of(clinic.hold(svc, monday, 2).token), reason="needed it")
    assert clinic.one("SELECT count(*) FROM appointment WHERE status = 'cancelled' AND patient_id IS NULL") == 2
    assert payments.cancellation_counts(clinic.desk) == {"early": 0, "late": 0, "by_clinic": 0}
    report = cancellations(clinic.desk, date_from=monday, date_to=monday)
    assert report.summary["cancelled_or_rescheduled"] == 0
    # a booked appointment the patient cancels still counts
    _, done = clinic.book(svc, monday, details(), index=4)
    portal.cancel(clinic.web, done.link, accept_fee=True)
    assert payments.cancellation_counts(clinic.desk)["early"] == 1
    assert cancellations(clinic.desk, date_from=monday, date_to=monday).summary["cancelled_or_rescheduled"] == 1
