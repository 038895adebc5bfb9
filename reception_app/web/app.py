"""The patient portal's web application (FastAPI, server-rendered Jinja2 pages that work without
JavaScript): choose a branch, a service, a doctor or "any", a free start in a week; give name,
birth date and contact; type the code sent; see the appointment page. From a link in a message
the patient confirms, cancels or leaves a note.

Every page goes through ``services.portal`` (the portal's database functions); none carries a
booking rule. Errors are mapped to the page's words in one place (:func:`_refusal_text`, the
exception handlers): a taken start shows the next free ones, a bad or expired link one neutral
page, anything unexpected a generic page — the log gets the trace, the visitor never does.

Routes (HTML, not in the OpenAPI description): ``/``, ``/book``, ``POST /book/hold``,
``/book/details``, ``POST /book/verify``, ``POST /book/release``, ``/a/{token}`` (+ ``/confirm``,
``/cancel``, ``/note``), ``/theme.css``, ``/static/…``, ``/healthz``. JSON (in ``/openapi.json``):
``GET /api/v1/catalog``, ``GET /api/v1/free-starts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date, get_timezone_name
from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..channels import Message, SendError
from ..domain.errors import (
    ClinicError,
    DatabaseUnavailable,
    PatientBusy,
    PortalRefused,
    SlotTaken,
    ValidationError,
)
from ..domain.formats import Formats, formats_for, phone_example
from ..domain.validation import clean_name, parse_email
from ..services import portal
from ..store.database import Database
from ..store.listen import ScheduleListener
from . import i18n
from .security import (
    HOLD_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    RateLimiter,
    SecurityHeaders,
    client_address,
    csrf_ok,
    csrf_token,
    new_session_id,
    twilio_signature,
)
from .settings import PortalSettings

log = logging.getLogger(__name__)

_HERE = resources.files(__package__)
#: How long the catalog (what is bookable online) is reused before it is read again (seconds).
CATALOG_SECONDS = 10.0
_TOKEN = re.compile(r"^[aho]\.[0-9a-f]{32}\.[0-9]{1,6}\.[0-9a-f]{32}$")
_CODE = re.compile(r"^[0-9]{6}$")
#: Stands for the visitor's CSRF token in a page rendered once for everyone (64 characters, as a token).
_CSRF_STAND_IN = "csrf-stand-in-" + "0" * 50
#: Longest text accepted per form field (characters); the database has its own limits.
_FIELD_MAX = {"name": 120, "birth_date": 20, "phone": 32, "email": 254, "note": 500, "code": 12}


class _Catalog:
    """The catalog, read at most every :data:`CATALOG_SECONDS`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._value: portal.PortalCatalog | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def get(self) -> portal.PortalCatalog:
        with self._lock:
            if self._value is None or time.monotonic() - self._at > CATALOG_SECONDS:
                self._value = portal.load_catalog(self.db)
                self._at = time.monotonic()
            return self._value


@dataclass
class _Page:
    """What every template gets: the request's language, translator, session and CSRF token."""

    request: Request
    lang: str
    t: i18n.Translator
    session: str
    csrf: str
    new_session: bool


def create_app(db: Database, settings: PortalSettings) -> FastAPI:
    """The portal's ASGI application on ``db`` (a connection as the portal's login) with
    ``settings``. Raises nothing itself; requests that fail show the generic page."""
    weeks = portal.WeekCache()
    pages: dict[tuple, tuple[object, str]] = {}
    pages_lock = threading.Lock()

    def kept_page(key: tuple, owner: object) -> str | None:
        with pages_lock:
            kept = pages.get(key)
        return kept[1] if kept is not None and kept[0] is owner else None

    def reconnected() -> None:
        weeks.clear()
        weeks.enabled = True

    listener = ScheduleListener(db.conninfo, lambda branch, day: weeks.invalidate(branch, day),
                                on_roster=lambda _table: weeks.clear(), on_reconnect=reconnected,
                                on_disconnect=lambda _why: setattr(weeks, "enabled", False),
                                application_name="clinic-portal listen")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        """While the server runs, share weeks of free starts between visitors as long as schedule
        changes are heard (``WeekCache``)."""
        listener.start()
        weeks.enabled = await asyncio.to_thread(listener.wait_listening, 5.0)
        try:
            yield
        finally:
            weeks.enabled = False
            await asyncio.to_thread(listener.stop)

    app = FastAPI(title="Clinic Reception patient portal", version="1", lifespan=lifespan,
                  description="Free starts and the catalog of what patients may book online. The patient "
                              "pages themselves are HTML forms (not described here).",
                  docs_url=None, redoc_url=None)
    app.add_middleware(SecurityHeaders)
    limiter = RateLimiter(settings.limits)
    catalog = _Catalog(db)

    env = Environment(loader=FileSystemLoader(str(_HERE / "templates")), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")

    # -- helpers -------------------------------------------------------------------------------
    def page(request: Request) -> _Page:
        sid = request.cookies.get(SESSION_COOKIE) or ""
        fresh = not re.fullmatch(r"[A-Za-z0-9_-]{20,64}", sid)
        if fresh:
            sid = new_session_id()
        lang = i18n.choose_language(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE),
                                    request.headers.get("accept-language"))
        return _Page(request, lang, i18n.translator(lang), sid, csrf_token(settings.secret, sid), fresh)

    def cookie(response: Response, name: str, value: str, *, path: str = "/", max_age: int | None = None) -> None:
        response.set_cookie(name, value, path=path, max_age=max_age, httponly=True, samesite="lax",
                            secure=settings.secure_cookies)

    def render(p: _Page, template: str, status: int = 200, *, reuse: tuple[tuple, object] | None = None,
               **context: Any) -> HTMLResponse:
        """The page ``template`` for this visitor. ``reuse``: a key under which the page, rendered once
        with a stand-in for the CSRF token, is kept and served again with each visitor's token:
        ``(key, owner)``, the page being valid while ``owner`` — the shared ``Week`` it shows — is
        the one kept with it (a week computed anew renders anew)."""
        if reuse is not None:
            key, owner = reuse
            html = kept_page(key, owner)
            if html is None:
                html = render_html(p, template, _CSRF_STAND_IN, **context)
                with pages_lock:
                    if len(pages) > 2000:
                        pages.clear()
                    pages[key] = (owner, html)
            return respond(p, html.replace(_CSRF_STAND_IN, p.csrf), status)
        return respond(p, render_html(p, template, p.csrf, **context), status)

    def render_html(p: _Page, template: str, csrf: str, **context: Any) -> str:
        cat = context.pop("cat", None)
        if cat is None:
            try:
                cat = catalog.get()
            except ClinicError:
                cat = None
        here = p.request.url.path + (("?" + p.request.url.query) if p.request.url.query else "")
        switch = {code: _with_query(here, lang=code) for code in i18n.LANGUAGES}
        return env.get_template(template).render(
            _=p.t.gettext, lang=p.lang, csrf=csrf, cat=cat, languages=i18n.LANGUAGE_NAMES, switch=switch,
            clinic_name=(cat.text("portal_title") or cat.text("name")) if cat else "", **context)

    def respond(p: _Page, html: str, status: int) -> HTMLResponse:
        response = HTMLResponse(html, status_code=status)
        if p.new_session:
            cookie(response, SESSION_COOKIE, p.session)
        if p.request.query_params.get("lang") in i18n.LANGUAGES:
            cookie(response, LANG_COOKIE, p.lang, max_age=365 * 86400)
        return response

    def error_page(p: _Page, status: int, title: str, text: str) -> HTMLResponse:
        return render(p, "error.html", status, title=title, text=text)

    def limited(p: _Page, action: str, key: str | None = None) -> HTMLResponse | None:
        if limiter.hit(action, key or client_address(p.request)):
            return None
        return error_page(p, 429, p.t("Too many attempts"),
                          p.t("Please wait a few minutes and try again, or call the clinic."))

    async def form_of(p: _Page) -> tuple[dict[str, str], HTMLResponse | None]:
        """The POSTed form as plain strings, or the refusal of a missing or wrong CSRF token."""
        try:
            form = await p.request.form(max_fields=40, max_files=0, max_part_size=4096)
        except Exception:  # noqa: BLE001 - malformed bodies: one refusal, no trace
            return {}, error_page(p, 400, p.t("Something went wrong"), p.t("Please go back and try again."))
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if p.new_session or not csrf_ok(settings.secret, p.session, values.get("csrf")):
            return values, error_page(p, 403, p.t("This form has expired"),
                                      p.t("Please go back, reload the page and try again."))
        return values, None

    def fmt(lang: str, branch_locale: str) -> Formats:
        return formats_for(i18n.page_locale(lang, branch_locale), catalog.get().currency)

    def when_text(p: _Page, instant: datetime, tz: ZoneInfo, branch_locale: str) -> dict[str, str]:
        f = fmt(p.lang, branch_locale)
        local = instant.astimezone(tz)
        loc = i18n.page_locale(p.lang, branch_locale)
        return {"day": format_date(local.date(), "full", locale=loc), "time": f.time_text(local),
                "zone": get_timezone_name(tz, locale=loc), "iso": instant.astimezone(UTC).isoformat(),
                "tz": str(tz)}

    def refusal_text(p: _Page, exc: PortalRefused) -> str:
        return _refusal_text(p.t, exc.reason)

    # -- pages ---------------------------------------------------------------------------------
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        db.ping()
        return JSONResponse({"ok": True})

    @app.get("/theme.css", include_in_schema=False)
    def theme() -> Response:
        colour = catalog.get().text("portal_colour", "#1b5e7a")
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
            colour = "#1b5e7a"
        return Response(f":root {{ --brand: {colour}; }}\n", media_type="text/css",
                        headers={"cache-control": "max-age=60"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def start(request: Request) -> HTMLResponse:
        p = page(request)
        if (r := limited(p, "page")) is not None:
            return r
        cat = catalog.get()
        if len(cat.branches) == 1:
            return RedirectResponse(_with_query("/book", branch=cat.branches[0].id), 303)  # type: ignore[return-value]
        return render(p, "start.html", cat=cat)

    @app.get("/book", response_class=HTMLResponse, include_in_schema=False)
    def book(request: Request, branch: str | None = None, service: str | None = None,
             doctor: str | None = None, week: str | None = None) -> HTMLResponse:
        p = page(request)
        if (r := limited(p, "page")) is not None:
            return r
        cat = catalog.get()
        b = cat.branch(_int(branch) or 0)
        if b is None:
            return render(p, "start.html", cat=cat)
        s = cat.service(_int(service) or 0)
        if s is None or b.id not in s.branches:
            return render(p, "services.html", cat=cat, branch=b, services=cat.services_at(b.id),
                          prices={x.id: _terms(p.t, fmt(p.lang, b.locale), x) for x in cat.services_at(b.id)})
        doctors = cat.doctors_for(s, b.id)
        chosen = None if doctor in (None, "", "any") else cat.doctor(_int(doctor) or 0)
        if s.doctor_specialty and doctor is None and len(doctors) > 1:
            return render(p, "doctors.html", cat=cat, branch=b, service=s, doctors=doctors)
        if chosen is not None and chosen not in doctors:
            chosen = None
        return slots_page(p, cat, b, s, chosen, _date(week))

    def slots_page(p: _Page, cat: portal.PortalCatalog, b: portal.PortalBranch, s: portal.PortalService,
                   chosen: portal.PortalDoctor | None, first: date | None, *, notice: str = "",
                   instead: list[portal.FreeStart] | None = None, status: int = 200, action: str = "/book/hold",
                   nav: str = "/book", moving: dict[str, str] | None = None, back: str | None = None) -> HTMLResponse:
        now = datetime.now(UTC)
        today = now.astimezone(b.tz).date()
        first = max(first or today, today)
        last = today + timedelta(days=cat.horizon_days)
        first = min(first, last)
        doctor_id = chosen.id if chosen else None
        week = weeks.get((b.id, s.id, doctor_id, first), lambda: portal.free_starts(
            db, branch_id=b.id, service_id=s.id, doctor_id=doctor_id, first=first, now=now, timezone=b.timezone))
        plain = not notice and not instead and moving is None and weeks.enabled
        reuse = ((p.lang, p.request.url.path, p.request.url.query, action), week) if plain else None
        if reuse is not None and kept_page(*reuse) is not None:
            return render(p, "slots.html", status, reuse=reuse)
        loc = i18n.page_locale(p.lang, b.locale)
        f = fmt(p.lang, b.locale)
        days = [{"date": d, "title": format_date(d, "EEEE, d MMMM", locale=loc),
                 "starts": [_start_view(x, b, f) for x in week.days.get(d, [])]} for d in sorted(week.days)]
        base = {"branch": b.id, "service": s.id, "doctor": chosen.id if chosen else "any"} if nav == "/book" else {}
        prev_week = first - timedelta(days=portal.WEEK_DAYS)
        return render(p, "slots.html", status, reuse=reuse, cat=cat, branch=b, service=s, doctor=chosen, days=days,
                      terms=_terms(p.t, f, s), zone=get_timezone_name(b.tz, locale=loc), timezone=b.timezone,
                      prev=_with_query(nav, **base, week=max(prev_week, today).isoformat())
                      if first > today else None,
                      next=_with_query(nav, **base, week=(first + timedelta(days=portal.WEEK_DAYS)).isoformat())
                      if first + timedelta(days=portal.WEEK_DAYS) <= last else None,
                      notice=notice, instead=[_start_view(x, b, f) for x in (instead or [])],
                      action=action, moving=moving,
                      back=back or (_with_query("/book", branch=b.id, service=s.id) if cat.doctors_for(s, b.id) else
                                    _with_query("/book", branch=b.id)))

    @app.post("/book/hold", response_class=HTMLResponse, include_in_schema=False)
    async def hold(request: Request) -> Response:
        p = page(request)
        form, refused = await form_of(p)
        if refused is not None:
            return refused
        if (r := limited(p, "hold")) is not None:
            return r
        cat = catalog.get()
        b = cat.branch(_int(form.get("branch")) or 0)
        s = cat.service(_int(form.get("service")) or 0)
        start = _instant(form.get("start"))
        ids = [int(x) for x in (form.get("resources") or "").split(",") if x.isdigit()][:3]
        if b is None or s is None or start is None or not ids:
            return error_page(p, 400, p.t("Something went wrong"), p.t("Please go back and choose a time again."))
        chosen = cat.doctor(_int(form.get("doctor")) or 0)
        old = request.cookies.get(HOLD_COOKIE)
        if old and _TOKEN.match(old):
            portal.release(db, old)
        try:
            h = portal.hold(db, branch_id=b.id, service_id=s.id, resources=ids, start=start)
        except (SlotTaken, ValidationError, PortalRefused) as exc:
            if isinstance(exc, PortalRefused) and exc.reason == "busy":
                return error_page(p, 503, p.t("Please try again shortly"), refusal_text(p, exc))
            instead = portal.next_free(db, branch_id=b.id, service_id=s.id,
                                       doctor_id=chosen.id if chosen else None, after=start,
                                       now=datetime.now(UTC))
            notice = p.t("Sorry, that time was just taken by someone else. These are the next free times:") \
                if isinstance(exc, SlotTaken) else p.t("That time cannot be booked online any more. "
                                                      "These are the next free times:")
            return slots_page(p, cat, b, s, chosen, start.astimezone(b.tz).date(), notice=notice,
                              instead=instead, status=409)
        weeks.invalidate(b.id, start.astimezone(b.tz).date())   # this process's own change, at once
        response = RedirectResponse("/book/details", 303)
        cookie(response, HOLD_COOKIE, h.token, path="/book", max_age=cat.hold_minutes * 60 + 60)
        if p.new_session:
            cookie(response, SESSION_COOKIE, p.session)
        return response

    def held_or_gone(p: _Page) -> tuple[str, portal.Held | None]:
        token = p.request.cookies.get(HOLD_COOKIE) or ""
        return token, (portal.held(db, token) if _TOKEN.match(token) else None)

    def gone_page(p: _Page) -> HTMLResponse:
        return error_page(p, 410, p.t("Your time is no longer held"),
                          p.t("We hold a time for a few minutes while you type. Please choose a time again."))

    def details_page(p: _Page, token: str, h: portal.Held, values: dict[str, str], errors: dict[str, str],
                     status: int = 200) -> HTMLResponse:
        cat = catalog.get()
        f = fmt(p.lang, h.locale)
        return render(p, "details.html", status, cat=cat, held=h, when=when_text(p, h.start, h.tz, h.locale),
                      expires=when_text(p, h.expires_at, h.tz, h.locale), values=values, errors=errors,
                      date_hint=f.date_hint, phone_hint=phone_example(f.country),
                      summary=_held_terms(p.t, f, h, when_text(p, h.start - timedelta(hours=h.cancel_free_hours),
                                                               h.tz, h.locale)),
                      terms_text=cat.text("portal_terms"))

    @app.get("/book/details", response_class=HTMLResponse, include_in_schema=False)
    def details(request: Request) -> HTMLResponse:
        p = page(request)
        token, h = held_or_gone(p)
        if h is None:
            return gone_page(p)
        return details_page(p, token, h, {"via": "sms", "consent_sms": "on", "consent_email": "on"}, {})

    def read_details(p: _Page, form: dict[str, str], h: portal.Held) -> tuple[portal.PatientDetails | None,
                                                                            dict[str, str], str, str]:
        """The visitor's details from the form, with one message per bad field; and the code's
        channel and contact."""
        f = formats_for(h.locale, catalog.get().currency)   # phones complete with the branch's country
        errors: dict[str, str] = {}
        for key, limit in _FIELD_MAX.items():
            if len(form.get(key) or "") > limit:
                errors[key] = p.t("This is too long.")
        name = birth = phone = email = None
        if "name" not in errors:
            try:
                name = clean_name(form.get("name") or "", "name")
                if len(name.split()) < 2:
                    errors["name"] = p.t("Type your first name and your last name.")
            except ValidationError:
                errors["name"] = p.t("Type your first name and your last name.")
        if "birth_date" not in errors:
            try:
                birth = f.parse_date(form.get("birth_date") or "", "birth_date")
            except ValidationError:
                birth = None
            today = datetime.now(h.tz).date()
            if birth is None or birth > today or birth.year < 1900:
                errors["birth_date"] = p.t("Type your date of birth as %(hint)s.", hint=f.date_hint)
        if "phone" not in errors and (form.get("phone") or "").strip():
            try:
                phone = f.parse_phone(form.get("phone"), "phone")
            except ValidationError:
                errors["phone"] = p.t("Type a phone number like %(example)s.", example=phone_example(f.country))
        if "email" not in errors and (form.get("email") or "").strip():
            try:
                email = parse_email(form.get("email"), "email")
            except ValidationError:
                errors["email"] = p.t("Type an email address like name@example.com.")
        via = str(form.get("via")) if form.get("via") in ("sms", "email") else "sms"
        contact = phone if via == "sms" else email
        if contact is None and via not in errors and not errors.get("phone" if via == "sms" else "email"):
            errors["phone" if via == "sms" else "email"] = (
                p.t("We send the code to this phone: type it, or choose to get the code by email.") if via == "sms"
                else p.t("We send the code to this address: type it, or choose to get the code by SMS."))
        if catalog.get().text("portal_terms") and form.get("terms") != "on":
            errors["terms"] = p.t("Please accept the clinic's terms to book.")
        consent = tuple(c for c in ("sms", "email") if form.get(f"consent_{c}") == "on")
        if errors or name is None or birth is None:
            return None, errors, via, contact or ""
        return (portal.PatientDetails(name=name, birth_date=birth, phone=phone, email=email, consent=consent,
                                      language=p.lang), errors, via, contact or "")

    @app.post("/book/details", response_class=HTMLResponse, include_in_schema=False)
    async def send_details(request: Request) -> HTMLResponse:
        p = page(request)
        form, refused = await form_of(p)
        if refused is not None:
            return refused
        token, h = held_or_gone(p)
        if h is None:
            return gone_page(p)
        values = {k: v for k, v in form.items() if k in (*_FIELD_MAX, "via", "consent_sms", "consent_email", "terms")}
        person, errors, via, contact = read_details(p, form, h)
        if person is None:
            return details_page(p, token, h, values, errors, 422)
        if (r := limited(p, "code")) is not None or (r := limited(p, "code", contact)) is not None:
            return r
        try:
            code = portal.send_code(db, token, channel=via, contact=contact)
        except PortalRefused as exc:
            if exc.reason == "hold_gone":
                return gone_page(p)
            return details_page(p, token, h, values, {"via": refusal_text(p, exc)}, 429)
        cat = catalog.get()
        sent = deliver_code(p, via, contact, person.name, code, cat)
        if not sent:
            return details_page(p, token, h, values, {
                "via": p.t("We could not send the code. Check the number or address, or choose the other way.")}, 502)
        return verify_page(p, h, values, via, contact, "")

    def deliver_code(p: _Page, via: str, contact: str, name: str, code: str, cat: portal.PortalCatalog) -> bool:
        channel = settings.channels.get(via)
        if channel is None:
            log.error("no channel is configured for %s verification codes", via)
            return False
        clinic = cat.text("portal_title") or cat.text("name") or p.t("the clinic")
        body = p.t("Your %(clinic)s booking code is %(code)s. It expires in %(minutes)s minutes. "
                   "If you did not ask for it, ignore this message.",
                   clinic=clinic, code=code, minutes=cat.code_minutes)
        message = Message(reminder_id=int(time.time() * 1000) % 2_000_000_000, idempotency_key=str(uuid.uuid4()),
                          channel=via, purpose="verification", recipient=contact, patient=name,
                          subject=p.t("Your booking code"), body=body, language=p.lang)
        try:
            channel.send(message)
            return True
        except SendError as exc:
            log.warning("verification code to %s not sent: %s", via, exc)
            return False
        except Exception:  # noqa: BLE001 - a channel's bug must not show the visitor a trace
            log.exception("verification code to %s not sent", via)
            return False

    def verify_page(p: _Page, h: portal.Held, values: dict[str, str], via: str, contact: str, error: str,
                    status: int = 200) -> HTMLResponse:
        f = formats_for(h.locale, catalog.get().currency)
        shown = f.phone(contact) if via == "sms" else contact
        return render(p, "verify.html", status, held=h, when=when_text(p, h.start, h.tz, h.locale), values=values,
                      via=via, contact=shown, error=error)

    @app.post("/book/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify(request: Request) -> Response:
        p = page(request)
        form, refused = await form_of(p)
        if refused is not None:
            return refused
        if (r := limited(p, "verify")) is not None:
            return r
        token, h = held_or_gone(p)
        if h is None:
            return gone_page(p)
        values = {k: v for k, v in form.items() if k in (*_FIELD_MAX, "via", "consent_sms", "consent_email", "terms")
                  and k != "code"}
        person, errors, via, contact = read_details(p, form, h)
        if person is None:
            return details_page(p, token, h, values, errors, 422)
        code = (form.get("code") or "").strip().replace(" ", "")
        if not _CODE.match(code):
            return verify_page(p, h, values, via, contact, p.t("The code has 6 digits."), 422)
        try:
            result = portal.book(db, token, code, person)
        except PatientBusy:
            return verify_page(p, h, values, via, contact,
                               p.t("You already have an appointment at this time. Please choose another time."), 409)
        except PortalRefused as exc:
            if exc.reason == "hold_gone":
                return gone_page(p)
            return verify_page(p, h, values, via, contact, refusal_text(p, exc), 422)
        if isinstance(result, portal.CodeProblem):
            text = (p.t("That code is not right. You can try %(n)s more times.", n=result.attempts_left)
                    if result.reason == "code_wrong" and result.attempts_left > 0
                    else p.t("This code can no longer be used. Ask for a new one below."))
            return verify_page(p, h, values, via, contact, text, 422)
        response = RedirectResponse(f"/a/{result.link}?booked=1", 303)
        response.delete_cookie(HOLD_COOKIE, path="/book")
        return response

    @app.post("/book/release", response_class=HTMLResponse, include_in_schema=False)
    async def release(request: Request) -> Response:
        p = page(request)
        form, refused = await form_of(p)
        if refused is not None:
            return refused
        token, h = held_or_gone(p)
        target = "/"
        if h is not None:
            portal.release(db, token)
            target = _with_query("/book", branch=h.branch_id, service=h.service_id,
                                 doctor=h.doctor_id if form.get("keep_doctor") else "any",
                                 week=h.start.astimezone(h.tz).date().isoformat())
        response = RedirectResponse(target, 303)
        response.delete_cookie(HOLD_COOKIE, path="/book")
        return response

    # -- the patient's own appointment ----------------------------------------------------------
    def bad_link(p: _Page) -> HTMLResponse:
        return error_page(p, 404, p.t("This link is not valid"),
                          p.t("The link may have expired or been replaced by a newer one. "
                              "Please use the link in your latest message, or call the clinic."))

    def appointment_page(p: _Page, token: str, a: portal.PortalAppointment, *, message: str = "",
                         error: str = "", status: int = 200) -> HTMLResponse:
        f = fmt(p.lang, a.locale)
        return render(p, "appointment.html", status, a=a, token=token, when=when_text(p, a.start, a.tz, a.locale),
                      free_until=when_text(p, a.free_until, a.tz, a.locale), fee=f.money(a.late_fee_cents),
                      deposit=f.money(a.deposit_cents), paid=f.money(a.paid_cents),
                      due=f.money(max(0, a.deposit_cents - a.paid_cents)),
                      phone=f.phone(a.branch_phone) if a.branch_phone else "",
                      status_text=_status_text(p.t, a.status), message=message, error=error)

    def link_of(p: _Page, token: str) -> tuple[portal.PortalAppointment | None, HTMLResponse | None]:
        if (r := limited(p, "link")) is not None:
            return None, r
        if not _TOKEN.match(token):
            return None, bad_link(p)
        a = portal.appointment(db, token)
        return a, (bad_link(p) if a is None else None)

    async def link_form(request: Request, token: str) -> Response | tuple[_Page, dict[str, str],
                                                                          portal.PortalAppointment]:
        """A POST from an appointment's page: the visitor's page, the form (its CSRF token checked)
        and the appointment its link names — or the refusal to answer instead."""
        p = page(request)
        form, refused = await form_of(p)
        if refused is not None:
            return refused
        a, r = link_of(p, token)
        if r is not None or a is None:
            return r or bad_link(p)
        return p, form, a

    @app.get("/a/{token}", response_class=HTMLResponse, include_in_schema=False)
    def appointment(request: Request, token: str) -> HTMLResponse:
        p = page(request)
        a, r = link_of(p, token)
        if r is not None or a is None:
            return r or bad_link(p)
        if a.moved_to:          # rescheduled: the link in older messages opens the new time
            return RedirectResponse(f"/a/{a.moved_to}?moved=1", 303)  # type: ignore[return-value]
        q = request.query_params
        message = (p.t("Your appointment is booked.") if q.get("booked") and a.status == "confirmed" else
                   p.t("Your request was sent. The clinic will confirm it.") if q.get("booked") and
                   a.status == "requested" else
                   p.t("Your appointment is booked; it is confirmed once the deposit is paid.")
                   if q.get("booked") else
                   p.t("Thank you: the clinic knows you will come.") if q.get("confirmed") else
                   p.t("Your appointment is cancelled.") if q.get("cancelled") else
                   p.t("Your appointment was moved. This is its new time; the link in your messages opens it "
                       "too.") if q.get("moved") else
                   p.t("Your note was sent to the clinic.") if q.get("noted") else "")
        return appointment_page(p, token, a, message=message)

    @app.post("/a/{token}/confirm", response_class=HTMLResponse, include_in_schema=False)
    async def confirm(request: Request, token: str) -> Response:
        acting = await link_form(request, token)
        if isinstance(acting, Response):
            return acting
        p, form, a = acting
        try:
            portal.confirm(db, token)
        except PortalRefused as exc:
            return appointment_page(p, token, a, error=refusal_text(p, exc), status=409)
        return RedirectResponse(f"/a/{token}?confirmed=1", 303)

    def reschedule_page(p: _Page, token: str, a: portal.PortalAppointment, first: date | None, *,
                        notice: str = "", instead: list[portal.FreeStart] | None = None,
                        status: int = 200) -> HTMLResponse:
        cat = catalog.get()
        b, s = cat.branch(a.branch_id), cat.service(a.service_id)
        if b is None or s is None:
            return appointment_page(p, token, a, error=p.t("This service cannot be booked online."), status=409)
        return slots_page(p, cat, b, s, None, first, notice=notice, instead=instead, status=status,
                          action=f"/a/{token}/reschedule", nav=f"/a/{token}/reschedule",
                          moving=when_text(p, a.start, a.tz, a.locale), back=f"/a/{token}")

    @app.get("/a/{token}/reschedule", response_class=HTMLResponse, include_in_schema=False)
    def reschedule_form(request: Request, token: str, week: str | None = None) -> HTMLResponse:
        p = page(request)
        a, r = link_of(p, token)
        if r is not None or a is None:
            return r or bad_link(p)
        if not a.live:
            return appointment_page(p, token, a, error=p.t("This appointment can no longer be changed online."),
                                    status=409)
        return reschedule_page(p, token, a, _date(week))

    @app.post("/a/{token}/reschedule", response_class=HTMLResponse, include_in_schema=False)
    async def reschedule(request: Request, token: str) -> Response:
        acting = await link_form(request, token)
        if isinstance(acting, Response):
            return acting
        p, form, a = acting
        start = _instant(form.get("start"))
        ids = [int(x) for x in (form.get("resources") or "").split(",") if x.isdigit()][:3]
        if start is None or not ids:
            return error_page(p, 400, p.t("Something went wrong"), p.t("Please go back and choose a time again."))
        try:
            moved = portal.reschedule(db, token, resources=ids, start=start)
        except (SlotTaken, ValidationError) as exc:
            instead = portal.next_free(db, branch_id=a.branch_id, service_id=a.service_id, doctor_id=None,
                                       after=start, now=datetime.now(UTC))
            notice = (p.t("You already have an appointment at that time. These are the next free times:")
                      if isinstance(exc, PatientBusy) else
                      p.t("Sorry, that time was just taken by someone else. These are the next free times:"))
            return reschedule_page(p, token, a, start.astimezone(a.tz).date(), notice=notice, instead=instead,
                                   status=409)
        except PortalRefused as exc:
            if exc.reason in ("bad_link", "not_live", "started"):
                return appointment_page(p, token, a, error=refusal_text(p, exc), status=409)
            instead = portal.next_free(db, branch_id=a.branch_id, service_id=a.service_id, doctor_id=None,
                                       after=start, now=datetime.now(UTC))
            return reschedule_page(p, token, a, start.astimezone(a.tz).date(), notice=refusal_text(p, exc),
                                   instead=instead, status=409)
        weeks.invalidate(a.branch_id)
        return RedirectResponse(f"/a/{moved.link}?moved=1", 303)

    @app.get("/a/{token}/cancel", response_class=HTMLResponse, include_in_schema=False)
    def cancel_form(request: Request, token: str) -> HTMLResponse:
        p = page(request)
        a, r = link_of(p, token)
        if r is not None or a is None:
            return r or bad_link(p)
        if not a.live:
            return appointment_page(p, token, a, error=p.t("This appointment can no longer be changed online."),
                                    status=409)
        return cancel_page(p, token, a, "")

    def cancel_page(p: _Page, token: str, a: portal.PortalAppointment, error: str, status: int = 200) -> HTMLResponse:
        f = fmt(p.lang, a.locale)
        return render(p, "cancel.html", status, a=a, token=token, when=when_text(p, a.start, a.tz, a.locale),
                      free_until=when_text(p, a.free_until, a.tz, a.locale),
                      fee=f.money(a.fee_if_cancelled_now), late_fee=f.money(a.late_fee_cents), error=error)

    @app.post("/a/{token}/cancel", response_class=HTMLResponse, include_in_schema=False)
    async def cancel(request: Request, token: str) -> Response:
        acting = await link_form(request, token)
        if isinstance(acting, Response):
            return acting
        p, form, a = acting
        try:
            result = portal.cancel(db, token, accept_fee=form.get("accept_fee") == "on")
        except PortalRefused as exc:
            return appointment_page(p, token, a, error=refusal_text(p, exc), status=409)
        if isinstance(result, portal.FeeNotAccepted):
            again = portal.appointment(db, token) or a
            return cancel_page(p, token, again, p.t("To cancel now, please tick the box to accept the fee."), 422)
        return RedirectResponse(f"/a/{token}?cancelled=1", 303)

    @app.post("/a/{token}/note", response_class=HTMLResponse, include_in_schema=False)
    async def note(request: Request, token: str) -> Response:
        acting = await link_form(request, token)
        if isinstance(acting, Response):
            return acting
        p, form, a = acting
        text = form.get("note") or ""
        if len(text) > 500:
            return appointment_page(p, token, a, error=p.t("A note can be at most 500 characters."), status=422)
        try:
            portal.note(db, token, " ".join(text.split()))
        except (PortalRefused, ValidationError) as exc:
            why = refusal_text(p, exc) if isinstance(exc, PortalRefused) else \
                p.t("A note cannot hold control characters.")
            return appointment_page(p, token, a, error=why, status=422)
        return RedirectResponse(f"/a/{token}?noted=1", 303)

    # -- waitlist offers -----------------------------------------------------------------------------
    def offer_page(p: _Page, token: str, o: portal.PortalOffer, error: str = "", status: int = 200) -> HTMLResponse:
        return render(p, "offer.html", status, o=o, token=token, when=when_text(p, o.start, o.tz, o.locale),
                      expires=when_text(p, o.expires_at, o.tz, o.locale), error=error)

    def offer_of(p: _Page, token: str) -> tuple[portal.PortalOffer | None, HTMLResponse | None]:
        if (r := limited(p, "link")) is not None:
            return None, r
        o = portal.offer(db, token) if _TOKEN.match(token) else None
        return o, (bad_link(p) if o is None else None)

    @app.get("/o/{token}", response_class=HTMLResponse, include_in_schema=False)
    def offer_view(request: Request, token: str) -> HTMLResponse:
        p = page(request)
        o, r = offer_of(p, token)
        if r is not None or o is None:
            return r or bad_link(p)
        return offer_page(p, token, o)

    async def decide(request: Request, token: str, accept: bool) -> Response:
        p = page(request)
        _form, refused = await form_of(p)
        if refused is not None:
            return refused
        o, r = offer_of(p, token)
        if r is not None or o is None:
            return r or bad_link(p)
        try:
            state, link = portal.decide_offer(db, token, accept=accept)
        except PortalRefused as exc:
            again = portal.offer(db, token) or o
            why = p.t("This offer has expired; the time went to the next patient on the waitlist.") \
                if exc.reason == "offer_gone" else refusal_text(p, exc)
            return offer_page(p, token, again, why, 409)
        weeks.clear()
        if state == "accepted" and link:
            return RedirectResponse(f"/a/{link}?booked=1", 303)
        return RedirectResponse(f"/o/{token}", 303)

    @app.post("/o/{token}/accept", response_class=HTMLResponse, include_in_schema=False)
    async def accept_offer(request: Request, token: str) -> Response:
        return await decide(request, token, True)

    @app.post("/o/{token}/decline", response_class=HTMLResponse, include_in_schema=False)
    async def decline_offer(request: Request, token: str) -> Response:
        return await decide(request, token, False)

    # -- the SMS gateway's inbound messages ---------------------------------------------------------
    @app.post("/webhooks/sms", tags=["webhooks"], summary="A patient's SMS to the clinic's number",
              response_class=Response,
              description="Called by the Twilio-compatible SMS gateway for each inbound message (form "
                          "fields MessageSid, AccountSid, From, To, Body), signed with the account's auth "
                          "token in X-Twilio-Signature. C confirms the sender's next appointment, X cancels "
                          "it (or answers with the link when a fee applies), STOP withdraws SMS consent; "
                          "anything else is kept for the desk. Answers TwiML with the reply to send.",
              responses={200: {"content": {"text/xml": {}}}, 403: {"description": "bad or missing signature"}})
    async def sms_webhook(request: Request) -> Response:
        if not limiter.hit("sms", client_address(request)):
            return Response("Too many requests", status_code=429, media_type="text/plain")
        try:
            form = await request.form(max_fields=60, max_files=0, max_part_size=4096)
        except Exception:  # noqa: BLE001 - a malformed body is refused, no trace
            return Response("Bad request", status_code=400, media_type="text/plain")
        params = {k: v for k, v in form.items() if isinstance(v, str)}
        public = catalog.get().text("portal_public_url").rstrip("/")
        url = (public + request.url.path) if public else str(request.url)
        signature = request.headers.get("x-twilio-signature") or ""
        if (settings.sms_token is None or params.get("AccountSid") != settings.sms_account
                or not hmac.compare_digest(twilio_signature(settings.sms_token, url, params), signature)):
            log.warning("inbound SMS refused: bad or missing signature")
            return Response("Forbidden", status_code=403, media_type="text/plain")
        sender = re.sub(r"^whatsapp:", "", params.get("From", ""))
        try:
            done = portal.sms_reply(db, provider_ref=params.get("MessageSid", ""), sender=sender,
                                    text=params.get("Body", ""))
        except PortalRefused:
            return Response("Bad request", status_code=400, media_type="text/plain")
        return Response(_twiml(_sms_answer(done, catalog.get().currency)), media_type="text/xml")

    # -- JSON ----------------------------------------------------------------------------------
    @app.get("/api/v1/catalog", response_model=CatalogOut, tags=["booking"],
             summary="What patients may book online")
    def api_catalog(request: Request) -> CatalogOut:
        p = page(request)
        if not limiter.hit("page", client_address(p.request)):
            raise StarletteHTTPException(429)
        cat = catalog.get()
        return CatalogOut(
            currency=cat.currency,
            branches=[BranchOut(id=b.id, name=b.name, timezone=b.timezone) for b in cat.branches],
            services=[ServiceOut(id=s.id, name=s.name, duration_min=s.duration_min, deposit_cents=s.deposit_cents,
                                 branches=list(s.branches)) for s in cat.services],
            doctors=[DoctorOut(id=d.id, name=d.name, specialty=d.specialty, branches=list(d.branches))
                     for d in cat.doctors])

    @app.get("/api/v1/free-starts", response_model=FreeStartsOut, tags=["booking"],
             summary="A week of free starts of a service at a branch")
    def api_free_starts(request: Request, branch: int = Query(..., ge=1), service: int = Query(..., ge=1),
                        doctor: int | None = Query(None, ge=1),
                        first: date | None = Query(None, alias="from",
                                                   description="first branch-local date (default today)")
                        ) -> FreeStartsOut:
        p = page(request)
        if not limiter.hit("page", client_address(p.request)):
            raise StarletteHTTPException(429)
        cat = catalog.get()
        b, s = cat.branch(branch), cat.service(service)
        if b is None or s is None or b.id not in s.branches:
            raise StarletteHTTPException(404)
        now = datetime.now(UTC)
        week = portal.free_starts(db, branch_id=b.id, service_id=s.id, doctor_id=doctor,
                                  first=first or now.astimezone(b.tz).date(), now=now)
        return FreeStartsOut(timezone=week.timezone, days=[
            DayOut(date=d, starts=[StartOut(start=x.start, end=x.end, doctor=x.doctor) for x in week.days[d]])
            for d in sorted(week.days)])

    # -- errors --------------------------------------------------------------------------------
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.status_code}, status_code=exc.status_code)
        p = page(request)
        if exc.status_code == 404:
            return error_page(p, 404, p.t("Page not found"), p.t("Please start again from the clinic's booking page."))
        if exc.status_code == 429:
            return error_page(p, 429, p.t("Too many attempts"),
                              p.t("Please wait a few minutes and try again, or call the clinic."))
        return error_page(p, exc.status_code, p.t("Something went wrong"), p.t("Please go back and try again."))

    @app.exception_handler(DatabaseUnavailable)
    async def db_down(request: Request, exc: DatabaseUnavailable) -> Response:
        log.warning("portal request failed: %s", exc)
        p = page(request)
        return error_page(p, 503, p.t("Online booking is unavailable right now"),
                          p.t("Please try again in a few minutes, or call the clinic."))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("portal request %s %s failed", request.method, request.url.path)
        p = page(request)
        return error_page(p, 500, p.t("Something went wrong"),
                          p.t("Please try again, or call the clinic. Nothing was booked twice."))

    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def bad_query(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": 422, "detail": [{"loc": list(e.get("loc", ())), "msg": e.get("msg")}
                                                         for e in exc.errors()]}, status_code=422)
        p = page(request)
        return error_page(p, 400, p.t("Something went wrong"), p.t("Please start again from the clinic's booking page."))

    _ = Form  # forms are read by hand (form_of): one CSRF check, one size limit
    return app


# -- JSON shapes (the OpenAPI description) -------------------------------------------------------
class BranchOut(BaseModel):
    id: int
    name: str
    timezone: str


class ServiceOut(BaseModel):
    id: int
    name: str
    duration_min: int
    deposit_cents: int
    branches: list[int]


class DoctorOut(BaseModel):
    id: int
    name: str
    specialty: str
    branches: list[int]


class CatalogOut(BaseModel):
    currency: str
    branches: list[BranchOut]
    services: list[ServiceOut]
    doctors: list[DoctorOut]


class StartOut(BaseModel):
    start: datetime
    end: datetime
    doctor: str | None


class DayOut(BaseModel):
    date: date
    starts: list[StartOut]


class FreeStartsOut(BaseModel):
    timezone: str
    days: list[DayOut]


# -- small pure helpers ------------------------------------------------------------------------------
def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value and len(value) == 10 else None
    except ValueError:
        return None


def _instant(value: str | None) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if value and len(value) <= 40 else None
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed is not None and parsed.tzinfo is not None else None


def _with_query(path: str, **params: Any) -> str:
    base, _, query = path.partition("?")
    kept = {k: v for k, v in (p.split("=", 1) for p in query.split("&") if "=" in p) if k not in params}
    merged = {**kept, **{k: v for k, v in params.items() if v is not None}}
    return base + ("?" + urlencode(merged) if merged else "")


def _start_view(x: portal.FreeStart, b: portal.PortalBranch, f: Formats) -> dict[str, Any]:
    return {"iso": x.start.isoformat(), "time": f.time_text(x.start.astimezone(b.tz)), "doctor": x.doctor,
            "resources": ",".join(str(r) for r in x.resources)}


def _terms(t: i18n.Translator, f: Formats, s: portal.PortalService) -> list[str]:
    """A service's terms in plain words, for the service and slot pages."""
    out = [t("%(minutes)s minutes", minutes=s.duration_min)]
    if s.deposit_cents:
        out.append(t("deposit %(amount)s", amount=f.money(s.deposit_cents)))
    if s.late_cancel_fee_cents:
        out.append(t("free cancellation until %(hours)s hours before, then %(fee)s",
                     hours=s.cancel_free_hours, fee=f.money(s.late_cancel_fee_cents)))
    else:
        out.append(t("free cancellation"))
    return out


def _held_terms(t: i18n.Translator, f: Formats, h: portal.Held, free_until: dict[str, str]) -> list[str]:
    """What booking the held start will mean, in plain words (the summary before the code)."""
    out = []
    if h.confirmation_mode == "approval":
        out.append(t("The clinic confirms online requests for this service; you will get a message."))
    elif h.confirmation_mode == "hybrid":
        out.append(t("New patients' requests are confirmed by the clinic; you will get a message."))
    if h.deposit_cents:
        out.append(t("A deposit of %(amount)s is due before the appointment is confirmed. Pay it at the desk "
                     "or by phone; the clinic will tell you how.", amount=f.money(h.deposit_cents)))
    if h.late_fee_cents:
        out.append(t("You can cancel free of charge until %(day)s, %(time)s. After that, cancelling costs %(fee)s.",
                     day=free_until["day"], time=free_until["time"], fee=f.money(h.late_fee_cents)))
    else:
        out.append(t("You can cancel free of charge."))
    return out


def _status_text(t: i18n.Translator, status: str) -> str:
    return {"confirmed": t("Confirmed"), "requested": t("Waiting for the clinic to confirm"),
            "payment_pending": t("Waiting for the deposit"), "cancelled": t("Cancelled"),
            "rescheduled": t("Moved to another time"), "checked_in": t("You have arrived"),
            "in_progress": t("In progress"), "completed": t("Completed"), "no_show": t("Missed")}.get(status, status)


def _twiml(text: str | None) -> str:
    """A TwiML answer: the reply SMS to send (none when ``text`` is None)."""
    from xml.sax.saxutils import escape

    inner = f"<Message>{escape(text)}</Message>" if text else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'


def _sms_answer(done: portal.SmsReply, currency: str) -> str | None:
    """The reply to a patient's SMS, in their language."""
    t = i18n.translator(done.language or "en")
    when = ""
    if done.start is not None and done.timezone and done.locale:
        f = formats_for(i18n.page_locale(t.lang, done.locale), currency)
        local = done.start.astimezone(ZoneInfo(done.timezone))
        when = f"{f.date_text(local.date())} {f.time_text(local)}"
    if done.action == "stop":
        return t("You will get no more SMS from the clinic. To get them again, tell the desk.")
    if done.action == "confirmed":
        return t("Thank you: %(service)s on %(when)s is confirmed.", service=done.service or "", when=when)
    if done.action == "cancelled":
        return t("Your appointment %(service)s on %(when)s is cancelled.", service=done.service or "", when=when)
    if done.action == "cancel_needs_link":
        money = formats_for(i18n.page_locale(t.lang, done.locale or "en_GB"), currency).money(done.fee_cents)
        if done.link:
            return t("Cancelling now costs %(fee)s. To cancel, open %(link)s", fee=money, link=done.link)
        return t("Cancelling now costs %(fee)s. Please call the clinic to cancel.", fee=money)
    return t("Thank you, the clinic's desk will read your message.")


def _refusal_text(t: i18n.Translator | Callable[..., str], reason: str) -> str:
    """The page's words for a refusal of the portal's database functions (``PortalRefused.reason``)."""
    texts = {
        "hold_gone": t("The time you chose is no longer held for you. Please choose a time again."),
        "bad_link": t("This link is not valid any more."),
        "not_live": t("This appointment can no longer be changed online."),
        "started": t("This appointment has already started."),
        "outside_window": t("This time can no longer be booked online."),
        "too_many_codes": t("Too many codes were asked for. Please wait an hour or call the clinic."),
        "bad_contact": t("This phone number or email address cannot receive a code."),
        "bad_details": t("Please check your name and date of birth."),
        "contact_changed": t("The phone or email was changed after the code was sent. Ask for a new code."),
        "not_online": t("This service cannot be booked online."),
        "bad_resources": t("This time cannot be booked online."),
        "busy": t("Many people are booking right now. Please try again in a few minutes."),
        "note_too_long": t("A note can be at most 500 characters."),
    }
    return texts.get(reason, t("Please go back and try again."))
