"""E-mail over SMTP (stdlib ``smtplib`` and ``email``): STARTTLS, implicit TLS or plain, with login.

One connection is kept open across messages and reopened after the server drops
it. Each send may wait, after ``MAIL FROM``/``RCPT TO`` and before ``DATA``, for
the caller's ``before_delivery`` (the service records the previous message's outcome
meanwhile). The reminder's idempotency key is the ``Message-ID``. SMTP replies 5xx for a
recipient or a message are permanent; 4xx, a dropped connection or a refused
login are transient (retried with backoff).
"""

from __future__ import annotations

import base64
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate

from . import Message, SendError

SECURITY = ("starttls", "ssl", "none")


#: The MIME headers ``MIMEText(body, "plain", "utf-8")`` starts with, as ``as_bytes()`` writes them.
_MIME_HEADERS = (b'Content-Type: text/plain; charset="utf-8"\nMIME-Version: 1.0\n'
                 b"Content-Transfer-Encoding: base64\n")
#: Printable ASCII, single spaces between words, no RFC 2047 marker: what ``compat32`` writes as it is.
_VERBATIM = re.compile(r"(?!.*  )(?!.*=\?)[!-~]+(?: [!-~]+)*\Z")
#: ``compat32``'s line length: a longer header line is folded.
_MAX_LINE = 78


def _verbatim(name: str, value: str) -> bool:
    """True when ``email``'s ``compat32`` generator writes the header ``name: value`` unchanged
    (no folding, no encoding), so that :meth:`SmtpChannel._build` may write it directly."""
    return len(name) + 2 + len(value) <= _MAX_LINE and _VERBATIM.match(value) is not None


def _assemble(body: str, headers: list[tuple[str, str]]) -> bytes:
    """``body`` with ``headers`` as a MIME message (see ``SmtpChannel._build``): written directly
    when every header is :func:`_verbatim`, else by :func:`_mime`."""
    if not all(_verbatim(name, value) for name, value in headers):
        return _mime(body, headers)
    lines = "".join(f"{name}: {value}\n" for name, value in headers)
    return b"".join((_MIME_HEADERS, lines.encode("ascii"), b"\n", base64.encodebytes(body.encode("utf-8"))))


def _mime(body: str, headers: list[tuple[str, str]]) -> bytes:
    """``body`` with ``headers`` through ``email``'s ``compat32`` MIME (folds long headers,
    encodes the rest): ``MIMEText(body, "plain", "utf-8")``, base64, LF line ends."""
    mail = MIMEText(body, "plain", "utf-8")
    for name, value in headers:
        mail[name] = value
    return mail.as_bytes()


class _BeforeData:
    """Mixed into ``smtplib.SMTP``/``SMTP_SSL``: ``before_data`` (set per message, cleared once
    called) runs after the server accepted the sender and the recipient and before the ``DATA``
    command, so nothing is handed over before it returned. If it raises, the transaction is reset
    (``RSET``; the connection closed when that fails too) and the exception propagates."""

    before_data: Callable[[], None] | None = None

    def data(self, msg):  # type: ignore[no-untyped-def]  # smtplib's signature
        hook, self.before_data = self.before_data, None
        if hook is not None:
            try:
                hook()
            except BaseException:
                try:
                    self.rset()  # type: ignore[attr-defined]
                except (OSError, smtplib.SMTPException):
                    self.close()  # type: ignore[attr-defined]
                raise
        return super().data(msg)  # type: ignore[misc]


class _SMTP(_BeforeData, smtplib.SMTP):
    pass


class _SMTP_SSL(_BeforeData, smtplib.SMTP_SSL):  # noqa: N801 - smtplib's name
    pass


@dataclass(frozen=True)
class SmtpSettings:
    """``security``: starttls | ssl | none; ``port`` default 587 / 465 / 25 by security;
    ``username``/``password`` optional (login only when a user is given); ``sender``: the
    From address; ``cafile``: a CA bundle for a private server (else the system's)."""

    host: str
    sender: str
    port: int | None = None
    security: str = "starttls"
    username: str | None = None
    password: str | None = None
    sender_name: str = ""
    cafile: str | None = None
    timeout_s: float = 20.0

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]


class SmtpChannel:
    """Sends e-mail through one SMTP server (see the module docstring for errors)."""

    name = "smtp"
    #: ``send`` takes ``before_delivery`` (see :meth:`send`).
    takes_before_delivery = True

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: _SMTP | _SMTP_SSL | None = None

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.cafile)

    def _open(self) -> _SMTP | _SMTP_SSL:
        s = self.settings
        try:
            smtp: _SMTP | _SMTP_SSL
            if s.security == "ssl":
                smtp = _SMTP_SSL(s.host, s.effective_port, timeout=s.timeout_s, context=self._context())
            else:
                smtp = _SMTP(s.host, s.effective_port, timeout=s.timeout_s)
                if s.security == "starttls":
                    smtp.starttls(context=self._context())
            if s.username:
                smtp.login(s.username, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"the SMTP server refused the login of {s.username}: {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"cannot reach the SMTP server {s.host}:{s.effective_port}: {exc}") from exc
        return smtp

    def _headers(self, message: Message) -> list[tuple[str, str]]:
        """The headers after the MIME ones, in order: From, To, Subject, Date, Message-ID,
        Content-Language (non-ASCII names and subjects RFC 2047-encoded; a plain printable ASCII
        subject is sent as it is: encoding it cost a third of a message's CPU)."""
        subject = message.subject
        plain = subject.isascii() and subject.isprintable()  # no line breaks: nothing to encode
        return [("From", formataddr((self.settings.sender_name, self.settings.sender), charset="utf-8")),
                ("To", formataddr((message.patient, message.recipient), charset="utf-8")),
                ("Subject", subject if plain else Header(subject, "utf-8").encode()),
                ("Date", formatdate(localtime=False)),
                ("Message-ID", f"<{message.idempotency_key}@clinic-reminders>"),
                ("Content-Language", message.language)]

    def _build(self, message: Message) -> bytes:
        """The message as bytes: a ``text/plain`` UTF-8 body in base64 with the :meth:`_headers`,
        exactly as ``email``'s ``compat32`` ``MIMEText(...).as_bytes()`` writes it (LF line ends).
        When every header is short printable ASCII (nothing to fold or encode, the usual case) the
        bytes are written directly, a tenth of ``email``'s cost, which was a fifth of a message's
        time in the benchmark; otherwise ``email`` builds them (:func:`_mime`)."""
        return _assemble(message.body, self._headers(message))

    def send(self, message: Message, *, before_delivery: Callable[[], None] | None = None) -> str | None:
        """Send ``message`` on the kept connection (see the module docstring for errors).

        ``before_delivery`` (optional): called once the server has accepted the sender and the
        recipient and before the ``DATA`` command, i.e. before the message is handed over (the
        service waits there for the previous message's outcome to be recorded, which overlaps that
        database round trip with these SMTP ones). It may be called again when the connection had
        to be reopened; whatever it raises propagates (the SMTP transaction is reset first)."""
        if not message.recipient:
            raise SendError("the patient has no e-mail address", permanent=True)
        mail = self._build(message)
        for attempt in (1, 2):               # a kept connection may have been dropped by the server
            if self._smtp is None:
                self._smtp = self._open()
            self._smtp.before_data = before_delivery
            try:
                self._smtp.sendmail(self.settings.sender, [message.recipient], mail)
                return f"<{message.idempotency_key}@clinic-reminders>"
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = next(iter(exc.recipients.values()))
                raise SendError(f"the SMTP server refused {message.recipient}: {code} {reply!r}",
                                permanent=code >= 500) from exc
            except smtplib.SMTPResponseException as exc:
                raise SendError(f"the SMTP server refused the message: {exc.smtp_code} {exc.smtp_error!r}",
                                permanent=exc.smtp_code >= 500) from exc
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self._drop()
                if attempt == 2:
                    raise SendError(f"lost the SMTP connection: {exc}") from exc
        return None  # not reached

    def check(self) -> str:
        smtp = self._open()
        try:
            code, _ = smtp.noop()
        finally:
            smtp.quit()
        s = self.settings
        login = f" as {s.username}" if s.username else ""
        return f"SMTP {s.host}:{s.effective_port} ({s.security}){login} answers ({code})"

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            except OSError:
                pass
        self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
        self._drop()
