"""What makes the portal fit for the internet, in one place: the visitor's session cookie and the
CSRF token of every form, the response headers (a strict Content-Security-Policy among them), the
cap on a request's size, and the rate limits.

- Session: a random id in the ``portal_session`` cookie (HttpOnly, SameSite=Lax, Secure unless
  the portal is served over plain HTTP on 127.0.0.1 for a trial). Nothing about the visitor is
  kept on the server; the hold a visitor is typing for travels in the ``portal_hold`` cookie
  (HttpOnly, path /book), itself a token the database signed.
- CSRF: every form carries ``csrf`` = HMAC-SHA256(secret, session id); a POST without the cookie
  or with another token is refused (403) before anything else runs.
- Headers: ``Content-Security-Policy: default-src 'self'; img-src 'self' data:; object-src 'none';
  base-uri 'none'; frame-ancestors 'none'; form-action 'self'`` (no inline script or style at all),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (a link's token never
  leaks to another site), ``X-Frame-Options: DENY``, ``Cache-Control: no-store`` on pages.
- Size: a request body over :data:`MAX_BODY_BYTES` is refused (413) unread.
- Rate limits: per client address and per action, a sliding window in memory
  (:class:`RateLimiter`, on the ``limits`` library; one portal process — behind several, put the proxy's limits in front too).
  The database adds its own per contact and per hold (``db/sql/portal.sql``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "portal_session"
HOLD_COOKIE = "portal_hold"
LANG_COOKIE = "lang"
#: The largest request body the portal reads (bytes): its forms are a few hundred.
MAX_BODY_BYTES = 16 * 1024

CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(secret: bytes, session_id: str) -> str:
    """The CSRF token of a session: HMAC-SHA256(secret, session id), hex."""
    return hmac.new(secret, session_id.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, session_id: str | None, token: str | None) -> bool:
    """Whether ``token`` is the session's CSRF token (compared in constant time)."""
    if not session_id or not token or len(token) != 64:
        return False
    return hmac.compare_digest(csrf_token(secret, session_id), token)


class SecurityHeaders:
    """ASGI middleware: the headers above on every response, and the size cap on every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            await PlainTextResponse("Request too large.", status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise _TooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                extra = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
                         (b"permissions-policy", b"camera=(), microphone=(), geolocation=()")]
                headers += [(k, v) for k, v in extra if k not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _TooLarge:
            await PlainTextResponse("Request too large.", status_code=413)(scope, receive, send)


class _TooLarge(Exception):
    pass


@dataclass(frozen=True)
class Limit:
    """At most ``count`` requests per ``seconds`` seconds."""

    count: int
    seconds: float


#: The portal's limits per client address and action (tests may pass others to ``create_app``).
DEFAULT_LIMITS: dict[str, Limit] = {
    "page": Limit(120, 60),       # pages and free-start searches
    "hold": Limit(20, 600),       # holds placed
    "code": Limit(6, 600),        # verification codes asked for
    "verify": Limit(20, 600),     # codes typed
    "link": Limit(60, 600),       # actions on an appointment link (and link pages)
    "sms": Limit(600, 60),        # the SMS gateway's inbound webhook
}


class RateLimiter:
    """Moving-window counts per (action, key), kept in memory by the ``limits`` library (the one
    slowapi is built on). ``hit`` says whether one more request is allowed, and counts it."""

    def __init__(self, limits: dict[str, Limit] | None = None) -> None:
        from limits import RateLimitItemPerSecond, storage, strategies

        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self._items = {action: RateLimitItemPerSecond(limit.count, max(1, round(limit.seconds)))
                       for action, limit in self.limits.items()}
        self._window = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def hit(self, action: str, key: str) -> bool:
        item = self._items.get(action)
        return True if item is None else bool(self._window.hit(item, action, key))


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """The signature a Twilio-compatible gateway puts in ``X-Twilio-Signature`` for a form POST to
    ``url``: base64 of HMAC-SHA1(auth token, url + each parameter's name and value, by name)."""
    import base64

    data = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def client_address(request: Request) -> str:
    """The client's address as the portal sees it (uvicorn's ``--proxy-headers`` makes it the
    proxy's ``X-Forwarded-For`` when the proxy is trusted)."""
    return request.client.host if request.client else "unknown"


Handler = Callable[[Request], Awaitable[Response]]
