"""E-mail over SMTP (stdlib ``smtplib`` and ``email``): STARTTLS, implicit TLS or plain, with login.

One connection is kept open across messages and reopened after the server drops
it. The reminder's idempotency key is the ``Message-ID``. SMTP replies 5xx for a
recipient or a message are permanent; 4xx, a dropped connection or a refused
login are transient (retried with backoff).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate

from . import Message, SendError

SECURITY = ("starttls", "ssl", "none")


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

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.cafile)

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        try:
            smtp: smtplib.SMTP
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(s.host, s.effective_port, timeout=s.timeout_s, context=self._context())
            else:
                smtp = smtplib.SMTP(s.host, s.effective_port, timeout=s.timeout_s)
                if s.security == "starttls":
                    smtp.starttls(context=self._context())
            if s.username:
                smtp.login(s.username, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"the SMTP server refused the login of {s.username}: {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"cannot reach the SMTP server {s.host}:{s.effective_port}: {exc}") from exc
        return smtp

    def _build(self, message: Message) -> bytes:
        """The message as bytes (``compat32`` MIME: a tenth of the cost of ``EmailMessage``'s header
        parsing, which dominated the benchmark); non-ASCII names and subjects RFC 2047-encoded (a plain
        printable ASCII subject is sent as it is: encoding it cost a third of a message's CPU)."""
        mail = MIMEText(message.body, "plain", "utf-8")
        mail["From"] = formataddr((self.settings.sender_name, self.settings.sender), charset="utf-8")
        mail["To"] = formataddr((message.patient, message.recipient), charset="utf-8")
        subject = message.subject
        plain = subject.isascii() and subject.isprintable()  # no line breaks: nothing to encode
        mail["Subject"] = subject if plain else Header(subject, "utf-8").encode()
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{message.idempotency_key}@clinic-reminders>"
        mail["Content-Language"] = message.language
        return mail.as_bytes()

    def send(self, message: Message) -> str | None:
        if not message.recipient:
            raise SendError("the patient has no e-mail address", permanent=True)
        mail = self._build(message)
        for attempt in (1, 2):               # a kept connection may have been dropped by the server
            if self._smtp is None:
                self._smtp = self._open()
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
