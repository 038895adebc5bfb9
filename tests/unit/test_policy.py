"""domain.policy: confirmation decisions, early/late, the settlement of an account, money parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reception_app.domain import policy
from reception_app.domain.errors import ValidationError

START = datetime(2027, 1, 4, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(("mode", "deposit", "known", "expected"), [
    ("immediate", 0, False, "confirmed"),
    ("immediate", 2000, True, "payment_pending"),
    ("approval", 0, True, "requested"),
    ("approval", 2000, True, "requested"),
    ("hybrid", 0, True, "confirmed"),
    ("hybrid", 0, False, "requested"),
    ("hybrid", 500, True, "payment_pending"),
])
def test_initial_status_follows_mode_deposit_and_known_patient(mode, deposit, known, expected) -> None:
    assert policy.initial_status(mode, deposit, known) == expected


def test_a_deposit_already_paid_confirms_at_once() -> None:
    assert policy.initial_status("immediate", 2000, False, paid_cents=2000) == "confirmed"
    assert policy.status_after_approval(2000, 1999) == "payment_pending"


def test_an_unknown_mode_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        policy.needs_approval("sometimes", True)
    assert info.value.field == "confirmation" and info.value.value == "sometimes"


def test_late_means_after_the_free_limit() -> None:
    assert not policy.is_late(START - timedelta(hours=24), START, 24)      # exactly at the limit: free
    assert policy.is_late(START - timedelta(hours=23, minutes=59), START, 24)
    assert not policy.is_late(START - timedelta(days=3), START, 48)


def test_late_patient_cancellation_keeps_the_fee_and_refunds_the_rest() -> None:
    s = policy.settle(status="cancelled", cancelled_by="patient", cancelled_late=True, late_fee_cents=1500,
                      deposit_cents=2000, paid_cents=2000)
    assert (s.kept_cents, s.refund_due_cents, s.owed_cents) == (1500, 500, 0)
    part = policy.settle(status="cancelled", cancelled_by="patient", cancelled_late=True, late_fee_cents=1500,
                         deposit_cents=2000, paid_cents=2000, refunded_cents=200)
    assert part.refund_due_cents == 300


def test_a_fee_beyond_what_was_paid_is_owed() -> None:
    s = policy.settle(status="cancelled", cancelled_by="patient", cancelled_late=True, late_fee_cents=1500,
                      deposit_cents=0, paid_cents=1000)
    assert (s.kept_cents, s.refund_due_cents, s.owed_cents) == (1000, 0, 500)


@pytest.mark.parametrize(("by", "late"), [("patient", False), ("clinic", True), ("clinic", False)])
def test_early_or_clinic_cancellation_refunds_everything(by, late) -> None:
    s = policy.settle(status="cancelled", cancelled_by=by, cancelled_late=late, late_fee_cents=1500,
                      deposit_cents=2000, paid_cents=2000)
    assert (s.kept_cents, s.refund_due_cents, s.owed_cents) == (0, 2000, 0)


def test_live_appointments_show_the_deposit_still_to_pay_and_rescheduled_ones_nothing() -> None:
    s = policy.settle(status="payment_pending", cancelled_by=None, cancelled_late=None, late_fee_cents=0,
                      deposit_cents=2000, paid_cents=500)
    assert (s.deposit_outstanding_cents, s.refund_due_cents, s.kept_cents) == (1500, 0, 500)
    r = policy.settle(status="rescheduled", cancelled_by=None, cancelled_late=None, late_fee_cents=0,
                      deposit_cents=2000, paid_cents=2000)
    assert r == policy.Settlement(0, 0, 0, 0)


@pytest.mark.parametrize(("text", "cents"), [("20.00", 2000), ("20", 2000), (20, 2000), ("0.5", 50), ("0", 0)])
def test_money_is_parsed_to_cents(text, cents) -> None:
    assert policy.parse_money(text, "deposit") == cents


@pytest.mark.parametrize("bad", ["-1", "20.001", "twenty", 20.5, "NaN", True,
                                 # issue 14: "1e6" was EUR 1,000,000; no exponent, sign, NaN or infinity
                                 "1e6", "1E6", "2.5e2", "inf", "-Infinity", "sNaN", "+5", "-0", "1,000.00",
                                 "1_000", "٢٠", "", -5, None])
def test_bad_money_is_refused_naming_field_and_value(bad) -> None:
    with pytest.raises(ValidationError) as info:
        policy.parse_money(bad, "service 'X'.deposit")
    assert info.value.field == "service 'X'.deposit" and info.value.value == bad


def test_money_in_exponent_notation_says_how_to_write_it() -> None:
    with pytest.raises(ValidationError) as info:
        policy.parse_money("1e6", "amount")
    assert "exponent" in info.value.problem


def test_money_is_formatted_with_its_currency() -> None:
    assert policy.format_money(123456, "EUR") == "€1,234.56"   # en_GB form without a locale
    assert policy.format_money(123456, "EUR", "pt_PT") == "1 234,56 €"
    assert policy.format_money(123456, "BRL", "pt_BR") == "R$ 1.234,56"
    assert policy.format_money(-5, "BRL") == "-R$0.05"


# -- cancellation words (issue 16 §3) ----------------------------------------------------------------------
def test_cancellation_words_say_lateness_fee_and_refund_in_the_branchs_money() -> None:
    from reception_app.domain.formats import Formats

    m = Formats("pt_BR", "BRL").money
    words = lambda **kw: policy.cancellation_words(money=m, **{"free_hours": 48, "late_fee_cents": 1500, **kw})  # noqa: E731
    assert words(by="patient", late=True, paid_cents=2000) == \
        "Late cancellation (less than 48 h before the start): the R$ 15,00 fee is kept, R$ 5,00 will be refunded."
    assert words(by="patient", late=True, paid_cents=1000) == ("Late cancellation (less than 48 h before the start): "
                                                               "the fee is R$ 15,00: the R$ 10,00 paid is kept and "
                                                               "R$ 5,00 is still owed.")
    assert words(by="patient", late=True, paid_cents=0) == \
        "Late cancellation (less than 48 h before the start): the R$ 15,00 fee is owed (nothing was paid)."
    assert words(by="patient", late=True, paid_cents=2000, refunded_cents=500) == \
        "Late cancellation (less than 48 h before the start): the R$ 15,00 fee is kept."
    assert words(by="patient", late=False, paid_cents=2000) == \
        "Early cancellation (48 h or more before the start): no fee; R$ 20,00 will be refunded."
    assert words(by="clinic", late=True, paid_cents=2000) == "Cancelled by the clinic: no fee; R$ 20,00 will be refunded."
    assert words(by="clinic", late=True, paid_cents=0) == "Cancelled by the clinic: no fee, and nothing is to be refunded."
    assert words(by="patient", late=True, paid_cents=2000, late_fee_cents=0) == \
        "No cancellation fee for this appointment; R$ 20,00 will be refunded."
