"""The booking dialog's state without widgets (``ui.booking_model``): preselection, pins, when Book
and Hold are enabled, the client id of an attempt, and the message topics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from reception_app.services.dayview import GridResource, ServiceSummary
from reception_app.services.patients import PatientView
from reception_app.services.scheduling import SlotOffer
from reception_app.ui.booking_model import (
    OFFLINE,
    PROGRESS,
    BookingState,
    changes_offset,
    offer_cells,
    offer_tooltip,
)

TZ = ZoneInfo("America/Sao_Paulo")
CONSULT = ServiceSummary(1, "Consultation", 20, {"doctor": "general"})
LONG_CONSULT = ServiceSummary(2, "Long consultation", 40, {"doctor": "general"})
SCAN = ServiceSummary(3, "Ultrasound", 30, {"doctor": "radiology", "equipment": "ultrasound"})
ANA = GridResource(7, "Ana Souza", "doctor", "general")
START = datetime(2027, 1, 4, 13, 0, tzinfo=UTC)  # 10:00 in São Paulo


def _offer(start: datetime = START, doctor: str = "Ana Souza") -> SlotOffer:
    return SlotOffer(start, start + timedelta(minutes=20), {"doctor": doctor}, {"doctor": 7},
                     {"doctor": [(7, doctor), (8, "Bruno Lima")]})


def _patient() -> PatientView:
    return PatientView(id=5, name="Maria Silva", birth_date=None, phone=None, email=None, channels=())


def test_the_pin_decides_the_preselected_service_and_the_search() -> None:
    state = BookingState(pin=GridResource(9, "Dr Scan", "doctor", "radiology"))
    state.services = [CONSULT, LONG_CONSULT, SCAN]
    assert state.preferred_service() == 2
    assert state.pins_for(SCAN) == {"doctor": "Dr Scan"} and state.pins_for(CONSULT) == {}
    assert BookingState().preferred_service() == -1  # no services yet


def test_a_dragged_length_preselects_the_longest_service_that_fits() -> None:
    state = BookingState(pin=ANA, length=timedelta(minutes=45))
    state.services = [CONSULT, LONG_CONSULT, SCAN]
    assert state.preferred_service() == 1
    state.length = timedelta(minutes=30)
    assert state.preferred_service() == 0
    state.length = timedelta(minutes=10)  # nothing fits: the pin's first service
    assert state.preferred_service() == 0


def test_book_and_hold_need_a_patient_a_start_and_the_connection() -> None:
    state = BookingState()
    offer = _offer()
    assert not state.can_book(offer, offline=False) and not state.can_hold(offer, offline=False)
    state.patient = _patient()
    assert state.can_book(offer, offline=False) and state.can_hold(offer, offline=False)
    assert not state.can_book(None, offline=False)
    assert not state.can_book(offer, offline=True) and not state.can_hold(offer, offline=True)
    state.booking = True
    assert not state.can_book(offer, offline=False) and not state.can_hold(offer, offline=False)


def test_the_same_attempt_keeps_its_client_id() -> None:
    state = BookingState()
    first = state.client_id_for(5, "Consultation", _offer())
    assert state.client_id == first
    assert state.client_id_for(5, "Consultation", _offer()) == first
    other = state.client_id_for(5, "Consultation", _offer(doctor="Bruno Lima"))
    assert other != first
    attempt = state.attempt_for("Centro", TZ, 5, "Consultation", _offer(doctor="Bruno Lima"), START)
    assert attempt.client_id == other and attempt.pins == {"doctor": "Bruno Lima"}
    assert attempt.local_date == date(2027, 1, 4)
    state.forget_attempt()
    assert state.client_id is None
    assert state.client_id_for(5, "Consultation", _offer()) != first


def test_a_message_ends_with_its_topic() -> None:
    state = BookingState()
    state.show("Booking…", "info", PROGRESS)
    assert not state.end_topic(OFFLINE) and state.message is not None
    assert state.end_topic(PROGRESS) and state.message is None
    state.show("No connection", topic=OFFLINE)
    assert state.message is not None and state.message.kind == "error"
    assert state.end_topic(OFFLINE)


def test_offer_texts() -> None:
    offer = _offer()
    assert offer_cells(offer, TZ) == ["10:00–10:20", "Ana Souza  (+1 more)", "", ""]
    assert offer_tooltip(offer) == "doctor: Ana Souza, Bruno Lima"
    assert not changes_offset(date(2027, 1, 4), TZ)
    assert changes_offset(date(2027, 3, 28), ZoneInfo("Europe/Berlin"))
