"""Templates per language (no database): complete, short enough for SMS, no phone handled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reception_app.channels.settings import parse_settings
from reception_app.domain.errors import ValidationError
from reception_app.reminders.messages import Claimed, languages, load_templates, render
from reception_app.services.notifications import PURPOSES


def _claimed(purpose: str, channel: str, language: str, phone: str | None = "+55 27 3333-0000") -> Claimed:
    return Claimed(reminder_id=1, idempotency_key="k", channel=channel, purpose=purpose, template=None,
                   recipient="+5527999990000", language=language, patient="Maria Aparecida dos Santos",
                   service="Abdominal ultrasound", starts_at=datetime(2027, 3, 28, 8, 0, tzinfo=UTC),
                   timezone="Europe/Berlin", branch="Centro", branch_phone=phone, attempts=1)


@pytest.mark.parametrize("language", languages())
def test_every_language_has_every_purpose_and_sms_fit_in_one_message(language):
    assert {"en", "pt", "de"} <= set(languages())
    templates = load_templates(language)
    for purpose in PURPOSES:
        assert {"subject", "body", "short"} <= set(templates[purpose]), (language, purpose)
        sms = render(_claimed(purpose, "sms", language))
        assert len(sms.body) <= 160 and "$" not in sms.body, (language, purpose, sms.body)
        mail = render(_claimed(purpose, "email", language))
        assert "$" not in mail.subject + mail.body and "+55 27 3333-0000" in mail.body


def test_local_time_language_fallback_and_no_phone():
    mail = render(_claimed("reminder", "email", "de"))
    assert "28.03.2027 um 10:00" in mail.body                     # 08:00 UTC is 10:00 CEST
    assert render(_claimed("reminder", "email", "xx")).language == "en"
    assert "please call the clinic." in render(_claimed("reminder", "email", "en", phone=None)).body
    assert "+1 555" in render(_claimed("reminder", "email", "en", phone=None), default_phone="+1 555").body


def test_settings_errors_name_the_key_and_value():
    with pytest.raises(ValidationError, match=r"reminders.batch_size: must be a number from 1 to 1000 \(got 0\)"):
        parse_settings({"batch_size": 0})
    with pytest.raises(ValidationError, match="reminders.colour: unknown setting"):
        parse_settings({"colour": "blue"})
    with pytest.raises(ValidationError, match=r"reminders.email: needs a \[reminders.smtp\] section"):
        parse_settings({"email": "smtp"})
    assert parse_settings({}).channels == ["file", "email", "sms", "whatsapp"]
