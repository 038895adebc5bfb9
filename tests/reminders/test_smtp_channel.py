"""The SMTP channel: its message bytes equal ``email``'s ``compat32`` MIME for every kind of
header (the direct writer is used only where ``email`` would write the headers unchanged), and
``before_delivery`` runs after ``RCPT TO`` and before the message is handed over, against a real
SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import itertools
import random

import pytest

from reception_app.channels import Message
from reception_app.channels.smtp import SmtpChannel, SmtpSettings, _assemble, _mime, _verbatim

from .servers import SmtpServer, SmtpSink

NAMES = ["Maria Silva", "", "O'Brien, Jr.", 'Ana "Nina" Souza', "João Conceição", "Dr. A. (Tony) B@d",
         "x" * 70, "Zoë  Two  Spaces", " lead", "tab\there", "=?utf-8?q?not_encoded?=", "李小龙"]
SUBJECTS = ["Reminder: your appointment", "Lembrete: sua consulta amanhã", "s" * 90, "",
            "Two words " * 8, "line\nbreak", "Confirmation  (double space)", "=?weird"]
BODIES = ["Hello,\nsee you tomorrow.\n", "", "Olá, até amanhã às 10:00.\n", "z" * 500, ".\n.leading dot\n",
          "From the clinic\n"]


def _message(name: str, subject: str, body: str, key: str = "k-1") -> Message:
    return Message(reminder_id=1, idempotency_key=key, channel="email", purpose="reminder",
                   recipient="maria@example.com", patient=name, subject=subject, body=body, language="pt")


@pytest.mark.parametrize("sender_name", ["Clinic Centro", "", "Clínica Centro"])
def test_the_bytes_equal_compat32_mime_for_every_kind_of_header(sender_name):
    channel = SmtpChannel(SmtpSettings(host="127.0.0.1", sender="clinic@example.com", sender_name=sender_name))
    direct = 0
    for name, subject, body in itertools.product(NAMES, SUBJECTS, BODIES):
        headers = channel._headers(_message(name, subject, body))
        assert _assemble(body, headers) == _mime(body, headers), (name, subject, body)
        direct += all(_verbatim(n, v) for n, v in headers)
    assert (direct > 0) == sender_name.isascii()           # the direct writer was checked too (ASCII senders)


def test_random_ascii_headers_near_the_folding_length_equal_compat32_mime():
    rng = random.Random(15)
    alphabet = "abc XYZ.,;:@<>()\"'=?-_/\\!~"
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        headers = [("Subject", value), ("Content-Language", "en")]
        assert _assemble("body\n", headers) == _mime("body\n", headers), repr(value)


def test_the_usual_reminder_takes_the_direct_writer():
    channel = SmtpChannel(SmtpSettings(host="127.0.0.1", sender="clinic@example.com", sender_name="Clinic Centro"))
    headers = channel._headers(_message("Maria Silva", "Reminder: your appointment", "Hello\n", key="a" * 36))
    assert all(_verbatim(n, v) for n, v in headers)


def test_before_delivery_runs_after_the_recipient_is_accepted_and_before_the_data():
    sink = SmtpSink()
    seen: list[int] = []
    with SmtpServer(sink) as smtp:
        channel = SmtpChannel(SmtpSettings(host="127.0.0.1", port=smtp.port, security="none",
                                           sender="clinic@example.com"))
        try:
            for i in range(3):
                channel.send(_message("Maria Silva", "Reminder", f"message {i}\n", key=f"k-{i}"),
                             before_delivery=lambda: seen.append(len(sink.messages)))
            assert seen == [0, 1, 2]                       # each before its own message arrived
            ids = sink.message_ids()
            assert ids == ["<k-0@clinic-reminders>", "<k-1@clinic-reminders>", "<k-2@clinic-reminders>"]
            body = email.message_from_bytes(sink.messages[0].as_bytes(), policy=email.policy.default)
            assert body.get_content() == "message 0\n"
        finally:
            channel.close()


def test_what_before_delivery_raises_propagates_nothing_is_sent_and_the_connection_stays_usable():
    sink = SmtpSink()

    def refuse() -> None:
        raise RuntimeError("the previous outcome could not be recorded")

    with SmtpServer(sink) as smtp:
        channel = SmtpChannel(SmtpSettings(host="127.0.0.1", port=smtp.port, security="none",
                                           sender="clinic@example.com"))
        try:
            with pytest.raises(RuntimeError, match="could not be recorded"):
                channel.send(_message("Maria Silva", "Reminder", "first\n", key="k-1"), before_delivery=refuse)
            assert sink.messages == []
            kept = channel._smtp
            channel.send(_message("Maria Silva", "Reminder", "second\n", key="k-2"))
            assert channel._smtp is kept                   # RSET, not a new connection
            assert sink.message_ids() == ["<k-2@clinic-reminders>"]
        finally:
            channel.close()


def test_a_message_is_sent_without_before_delivery_too():
    sink = SmtpSink()
    with SmtpServer(sink) as smtp:
        channel = SmtpChannel(SmtpSettings(host="127.0.0.1", port=smtp.port, security="none",
                                           sender="clinic@example.com"))
        try:
            assert channel.send(_message("Maria Silva", "Reminder", "x\n", key="k-9")) == "<k-9@clinic-reminders>"
        finally:
            channel.close()
    assert sink.message_ids() == ["<k-9@clinic-reminders>"]
