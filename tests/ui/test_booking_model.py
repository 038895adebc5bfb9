"""The booking dialog's state without widgets (``ui.booking_model``): preselection, pins, when Book
and Hold are enabled, the client id of an attempt, the message topics, what a refusal means for the
form and the words on the buttons."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from reception_app.domain.errors import ClinicError, DatabaseUnavailable, PatientBusy, SlotTaken
from reception_app.services.dayview import GridResource, ServiceSummary
from reception_app.services.patients import PatientView
from reception_app.services.scheduling import AppointmentView, SlotOffer
from reception_app.ui.booking_model import (
    CHECKING_TEXT,
    ERROR,
    OFFLINE,
    OFFLINE_TEXT,
    PROGRESS,
    RECHECK_TEXT,
    TAKEN_MEANWHILE_TEXT,
    BookingState,
    Message,
    changes_offset,
    check_refusal_of,
    failure_message,
    offer_cells,
    offer_tooltip,
    refusal_of,
    slots_text,
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


def test_a_refused_booking_says_what_it_means_for_the_form() -> None:
    taken = refusal_of(SlotTaken("Ana Souza is booked at 10:00."))
    assert taken.taken and taken.message.kind == ERROR and taken.message.topic == ""
    assert taken.message.text == ("Ana Souza is booked at 10:00. The list of free times has been refreshed; "
                                  "please pick another.")
    busy = refusal_of(PatientBusy("Maria Silva is booked at 10:00."))
    assert busy.taken and "Nothing was booked" in busy.message.text and "without that time" in busy.message.text
    lost = refusal_of(DatabaseUnavailable("server closed the connection"))
    assert not lost.taken and lost.message.topic == OFFLINE and "nothing was booked" in lost.message.text
    other = refusal_of(ClinicError("Needs a manager's approval."))
    assert not other.taken and other.message == Message("Needs a manager's approval.")


def test_a_failed_check_of_an_unsure_booking() -> None:
    assert check_refusal_of(DatabaseUnavailable("gone again")) is None  # still unsure: checked again later
    assert RECHECK_TEXT.startswith(CHECKING_TEXT)
    taken = check_refusal_of(SlotTaken("Ana Souza is booked at 10:00."))
    assert taken is not None and taken.taken and taken.message.text.startswith(TAKEN_MEANWHILE_TEXT)
    refused = check_refusal_of(ClinicError("The service is retired."))
    assert refused is not None and not refused.taken
    assert refused.message.text == "The booking was not saved: The service is retired."


def test_a_failed_load_names_the_lost_connection() -> None:
    watched = failure_message(DatabaseUnavailable("timeout"), connection_watched=True)
    assert watched == Message(f"{OFFLINE_TEXT}; this is tried again when the connection is back.", topic=OFFLINE)
    assert failure_message(DatabaseUnavailable("timeout"), connection_watched=False).text == f"{OFFLINE_TEXT}: timeout"
    assert failure_message(ClinicError("No such branch."), connection_watched=True) == Message("No such branch.")


def test_the_buttons_words_follow_the_state() -> None:
    state = BookingState()
    assert (state.hold_text, state.cancel_text) == ("Hold slot", "Cancel")
    state.held = AppointmentView(
        id=1, client_id="c1", branch_id=1, branch="Centro", service_id=1, service="Consultation", patient_id=5,
        patient="Maria Silva", status="held", start=START, end=START + timedelta(minutes=20), source="phone",
        resources={"doctor": "Ana Souza"}, resource_ids={"doctor": 7})
    assert state.hold_text == "Confirm hold"
    state.held, state.resolved = None, True
    assert (state.hold_text, state.cancel_text) == ("Hold slot", "Close")


def test_the_slot_status_line() -> None:
    assert slots_text(1, "Monday 4 January", "America/Sao_Paulo") == (
        "1 free start on Monday 4 January (times in America/Sao_Paulo).")
    assert slots_text(3, "Monday 4 January", "America/Sao_Paulo").startswith("3 free starts on")
    assert slots_text(0, "Monday 4 January", "America/Sao_Paulo") == (
        "No free time on Monday 4 January. Looking for the next free day…")
