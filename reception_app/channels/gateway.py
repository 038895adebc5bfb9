"""SMS and WhatsApp through an HTTP gateway speaking Twilio's Messages API (stdlib ``urllib``).

``POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json``, form-encoded
``To``, ``From``, ``Body``, HTTP basic auth (account sid, auth token), and the
reminder's idempotency key in an ``Idempotency-Key`` header (a gateway that knows
the key answers without sending again). WhatsApp numbers are prefixed
``whatsapp:`` as Twilio expects. The reply's ``sid`` is kept as the provider
reference. HTTP 4xx replies are permanent (a bad number, a blocked recipient)
except 408 and 429; 5xx and network errors are transient.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from . import Message, SendError

DEFAULT_BASE_URL = "https://api.twilio.com"


@dataclass(frozen=True)
class GatewaySettings:
    """``sms_from``/``whatsapp_from``: the sender numbers (E.164); ``auth_token`` from the
    environment or the keyring, never a file or the database."""

    account_sid: str
    auth_token: str
    sms_from: str | None = None
    whatsapp_from: str | None = None
    base_url: str = DEFAULT_BASE_URL
    timeout_s: float = 20.0


class GatewayChannel:
    """Sends ``sms`` and ``whatsapp`` messages (see the module docstring for errors)."""

    name = "gateway"

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        token = f"{settings.account_sid}:{settings.auth_token}".encode()
        self._auth = "Basic " + base64.b64encode(token).decode("ascii")

    def _url(self, tail: str) -> str:
        sid = urllib.parse.quote(self.settings.account_sid, safe="")
        return f"{self.settings.base_url.rstrip('/')}/2010-04-01/Accounts/{sid}{tail}"

    def send(self, message: Message) -> str | None:
        s = self.settings
        sender = s.whatsapp_from if message.channel == "whatsapp" else s.sms_from
        if not sender:
            raise SendError(f"no sender number is configured for {message.channel}")
        if not message.recipient:
            raise SendError("the patient has no phone number", permanent=True)
        to = message.recipient
        if message.channel == "whatsapp":
            to, sender = f"whatsapp:{to}", f"whatsapp:{sender}"
        data = urllib.parse.urlencode({"To": to, "From": sender, "Body": message.body}).encode()
        request = urllib.request.Request(self._url("/Messages.json"), data=data, method="POST", headers={
            "Authorization": self._auth, "Idempotency-Key": message.idempotency_key,
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=s.timeout_s) as reply:
                body = reply.read()
        except urllib.error.HTTPError as exc:
            detail = _error_text(exc)
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
            raise SendError(f"the gateway refused the message: HTTP {exc.code} {detail}",
                            permanent=permanent) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SendError(f"cannot reach the gateway {s.base_url}: {reason}") from exc
        try:
            return str(json.loads(body).get("sid") or "") or None
        except (ValueError, AttributeError):
            return None

    def check(self) -> str:
        request = urllib.request.Request(self._url(".json"), headers={"Authorization": self._auth,
                                                                     "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as reply:
                code = reply.status
        except urllib.error.HTTPError as exc:
            raise SendError(f"the gateway {self.settings.base_url} answered HTTP {exc.code} "
                            f"{_error_text(exc)}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SendError(f"cannot reach the gateway {self.settings.base_url}: "
                            f"{getattr(exc, 'reason', exc)}") from exc
        return f"gateway {self.settings.base_url} account {self.settings.account_sid} answers ({code})"

    def close(self) -> None:
        pass


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(exc.read() or b"{}")
        return str(data.get("message") or exc.reason)[:200]
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)[:200]
