"""Real servers for the reminder tests and benchmark: an SMTP sink (aiosmtpd) and an HTTP server
speaking the Twilio-compatible Messages API (http.server in a thread). No mocks: the service's
channels talk to them over TCP."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import socket
import ssl
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost (openssl), for the STARTTLS and SSL tests."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@dataclass
class SmtpSink:
    """Records every message (``messages``: list of ``email.message.EmailMessage``).

    ``reply``: a callable(message) -> an SMTP reply string to refuse with (e.g. "451 …"), or None.
    ``hold``: an Event; while it is clear, the DATA reply waits (a send "in flight");
    ``holding`` is set once a message is waiting. A held message is already recorded: the server
    has taken the data and delivers it even if the client dies before hearing "250".
    """

    reply: object = None
    hold: threading.Event | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    messages: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        refusal = self.reply(msg) if callable(self.reply) else None
        if not refusal:
            with self.lock:
                self.messages.append(msg)
        if self.hold is not None and not self.hold.is_set():
            self.holding.set()
            while not self.hold.is_set():
                await asyncio.sleep(0.02)
        return refusal or "250 OK"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 (context manager). ``login``: (user, password) to require;
    ``tls``: (cert, key) to offer STARTTLS, or with ``implicit_tls`` to speak SSL from the start."""

    def __init__(self, sink: SmtpSink, *, login: tuple[str, str] | None = None,
                 tls: tuple[Path, Path] | None = None, implicit_tls: bool = False) -> None:
        self.sink = sink
        self.port = free_port()
        kwargs: dict = {}
        if login:
            def authenticator(server, session, envelope, mechanism, data):
                ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
                return AuthResult(success=ok)
            kwargs.update(authenticator=authenticator, auth_require_tls=bool(tls) and not implicit_tls)
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            if implicit_tls:
                kwargs["ssl_context"] = context
            else:
                kwargs.update(tls_context=context, require_starttls=True)
        self.controller = Controller(sink, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


@dataclass
class GatewayState:
    """What the gateway saw: ``requests`` (dicts To, From, Body, key, auth); ``fail``: HTTP status codes
    to answer the next requests with (popped in order); messages with an already seen
    Idempotency-Key are answered with the first sid and not delivered again (``delivered``)."""

    sid: str = "AC123"
    token: str = "s3cret"
    requests: list = field(default_factory=list)
    delivered: list = field(default_factory=list)
    fail: list = field(default_factory=list)
    keys: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class GatewayServer:
    """A Twilio-compatible HTTP API on 127.0.0.1 in a thread (context manager); ``base_url``."""

    def __init__(self, state: GatewayState | None = None) -> None:
        self.state = state or GatewayState()
        state_ = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _authorized(self) -> bool:
                expected = "Basic " + base64.b64encode(f"{state_.sid}:{state_.token}".encode()).decode()
                return self.headers.get("Authorization") == expected

            def _answer(self, code: int, data: dict) -> None:
                body = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                if self.path != f"/2010-04-01/Accounts/{state_.sid}.json" or not self._authorized():
                    self._answer(401, {"message": "Authenticate"})
                    return
                self._answer(200, {"sid": state_.sid, "status": "active"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if self.path != f"/2010-04-01/Accounts/{state_.sid}/Messages.json" or not self._authorized():
                    self._answer(401, {"message": "Authenticate"})
                    return
                key = self.headers.get("Idempotency-Key", "")
                with state_.lock:
                    state_.requests.append({**form, "key": key})
                    if state_.fail:
                        code = state_.fail.pop(0)
                        self._answer(code, {"message": f"simulated {code}"})
                        return
                    if key and key in state_.keys:
                        sid = state_.keys[key]
                    else:
                        sid = f"SM{len(state_.delivered):06d}"
                        state_.keys[key] = sid
                        state_.delivered.append({**form, "key": key})
                self._answer(201, {"sid": sid, "status": "queued"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> GatewayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
