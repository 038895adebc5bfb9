"""The printed day sheet and day list: built from hand-made ``DayView`` values, read back as text.

The PDFs are opened with pypdfium2 (the renderer the print preview uses) and
their text extracted page by page: what a doctor or the desk would read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest

from reception_app.domain.wallclock import local_to_utc
from reception_app.reports.day_sheet import (
    age_text,
    day_list_pdf,
    doctor_day_sheet_pdf,
    period_text,
    phone_text,
)
from reception_app.reports.pdf_common import printable
from reception_app.services.dayview import BranchSummary, DayView, GridResource, TimeOffView
from reception_app.services.patients import PatientView
from reception_app.services.scheduling import AppointmentView

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2027, 1, 4)  # a Monday; Sao Paulo is UTC-03:00 all year
PRINTED_AT = datetime(2027, 1, 4, 10, 55, tzinfo=UTC)  # 07:55 in Sao Paulo

ANA, BRUNO, ROOM1, ROOM2, ULTRA = 1, 2, 10, 11, 20


def local(day: date, hour: int, minute: int = 0, tz: ZoneInfo = SAO_PAULO) -> datetime:
    """A branch wall-clock time as a UTC instant."""
    return local_to_utc(day, hour * 60 + minute, tz)


def appointment(aid: int, start: datetime, minutes: int, patient: str, *, doctor: tuple[int, str] = (ANA, "Ana Souza"),
                room: tuple[int, str] = (ROOM1, "Imaging 1"), status: str = "confirmed", source: str = "phone",
                patient_id: int | None = None, service: str = "Abdominal ultrasound") -> AppointmentView:
    return AppointmentView(
        id=aid, client_id=f"c{aid}", branch_id=1, branch="Centro", service_id=1, service=service,
        patient_id=patient_id if patient_id is not None else aid, patient=patient, status=status,
        start=start, end=start + timedelta(minutes=minutes), source=source,
        resources={"doctor": doctor[1], "room": room[1], "equipment": "Ultrasound A"},
        resource_ids={"doctor": doctor[0], "room": room[0], "equipment": ULTRA})


def day_view(appointments: Sequence[AppointmentView], *, day: date = DAY, tz: ZoneInfo = SAO_PAULO,
             ana_hours: Sequence[tuple[int, int]] = ((8, 12),), time_off: Sequence[TimeOffView] = (),
             branch: str = "Centro") -> DayView:
    zone = tz.key
    ana = GridResource(ANA, "Ana Souza", "doctor", "radiology",
                       tuple((local(day, a, 0, tz), local(day, b, 0, tz)) for a, b in ana_hours), tuple(time_off))
    bruno = GridResource(BRUNO, "Bruno Lima", "doctor", "radiology", ((local(day, 8, 0, tz), local(day, 12, 0, tz)),))
    opening = ((local(day, 7, 0, tz), local(day, 19, 0, tz)),)
    rooms = (GridResource(ROOM1, "Imaging 1", "room", "imaging", opening),
             GridResource(ROOM2, "Imaging 2", "room", "imaging", opening),
             GridResource(ULTRA, "Ultrasound A", "equipment", "ultrasound", opening))
    return DayView(branch=BranchSummary(1, branch, zone), local_date=day, rows=(), opening=opening, holiday=None,
                   resources=(ana, bruno, *rooms), appointments=tuple(sorted(appointments, key=lambda a: a.start)))


def pages(pdf: bytes) -> list[str]:
    """The text of each page."""
    doc = pdfium.PdfDocument(pdf)
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


def page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    doc = pdfium.PdfDocument(pdf)
    try:
        return [doc[i].get_size() for i in range(len(doc))]
    finally:
        doc.close()


@pytest.fixture
def small_day() -> DayView:
    return day_view([
        appointment(1, local(DAY, 8), 30, "João Pereira", status="checked_in"),
        appointment(2, local(DAY, 9), 30, "Maria da Conceição", source="walk_in"),
        appointment(3, local(DAY, 8, 30), 30, "Bruno's patient Zé", doctor=(BRUNO, "Bruno Lima"),
                    room=(ROOM2, "Imaging 2")),
        appointment(4, local(DAY, 11), 30, "Ana & <Bia> Müller"),
    ])


PATIENTS = {1: PatientView(1, "João Pereira", date(1975, 11, 2), "+5527999990001", None, ()),
            2: PatientView(2, "Maria da Conceição", date(2025, 11, 10), None, None, ())}


def test_day_sheet_header_times_and_names(small_day: DayView) -> None:
    pdf = doctor_day_sheet_pdf(small_day, ANA, printed_by="maria", printed_at=PRINTED_AT, patients=PATIENTS,
                               clinic="Clínica São José")
    assert pdf.startswith(b"%PDF")
    [text] = pages(pdf)
    assert "Day sheet — Ana Souza" in text
    assert "Clínica São José · Centro" in text
    assert "Monday, 4 January 2027" in text
    assert "Working hours: 08:00–12:00" in text
    # Branch-local times (UTC-03:00), not UTC.
    for hhmm in ("08:00", "09:00", "11:00"):
        assert hhmm in text
    assert "11:00" in text and "14:00" not in text  # 11:00 UTC would be 08:00; 08:00 local is 11:00 UTC
    # Accents, escaping, age and phone from the patient details.
    assert "João Pereira" in text and "Maria da Conceição" in text and "Ana & <Bia> Müller" in text
    assert "51 y · born 02/11/1975" in text
    assert "+55 27 99999-0001" in text
    assert "13 mo" in text  # a baby: months
    assert "Checked in" in text and "Confirmed" in text and "Walk-in" in text
    assert "Printed by maria at 04/01/2027 07:55 UTC-03:00" in text
    assert "Page 1 of 1" in text
    # Totals and free time in the shift: 08:00-12:00 minus three half hours.
    assert "3 appointments" in text and "1 h 30 min booked" in text and "2 h 30 min free" in text
    assert "Free until 11:00 · 1 h 30 min" in text


def test_day_sheet_lists_only_that_doctor(small_day: DayView) -> None:
    [ana] = pages(doctor_day_sheet_pdf(small_day, ANA, printed_by="maria", printed_at=PRINTED_AT))
    [bruno] = pages(doctor_day_sheet_pdf(small_day, BRUNO, printed_by="maria", printed_at=PRINTED_AT))
    assert "Zé" not in ana and "João Pereira" in ana
    assert "Bruno's patient Zé" in bruno
    assert "João" not in bruno and "Conceição" not in bruno
    assert "1 appointment " in bruno or "1 appointment\n" in bruno or "1 appointment ·" in bruno


def test_day_sheet_of_a_doctor_without_appointments_and_time_off() -> None:
    off = TimeOffView(local(DAY, 10), local(DAY, 11), "training")
    view = day_view([], time_off=[off])
    [text] = pages(doctor_day_sheet_pdf(view, ANA, printed_by="rita", printed_at=PRINTED_AT))
    assert "0 appointments" in text
    assert "Time off: 10:00–11:00 (training)" in text
    assert "Free until 10:00 · 2 h" in text and "Free until 12:00 · 1 h" in text
    assert "Notes" in text


def test_day_sheet_errors(small_day: DayView) -> None:
    with pytest.raises(ValueError, match="resource 999"):
        doctor_day_sheet_pdf(small_day, 999, printed_by="maria", printed_at=PRINTED_AT)
    with pytest.raises(ValueError, match="aware"):
        doctor_day_sheet_pdf(small_day, ANA, printed_by="maria", printed_at=datetime(2027, 1, 4, 8))


def test_a_busy_day_breaks_across_pages_with_repeated_headers() -> None:
    # 60 quarter-hour appointments of one doctor, 07:00-22:00 local.
    start = local(DAY, 7)
    busy = [appointment(i, start + timedelta(minutes=15 * i), 15, f"Conceição Patient {i:02d}")
            for i in range(60)]
    view = day_view(busy, ana_hours=((7, 22),))
    sheet = pages(doctor_day_sheet_pdf(view, ANA, printed_by="maria", printed_at=PRINTED_AT))
    assert len(sheet) >= 2
    for n, text in enumerate(sheet, start=1):
        assert f"Page {n} of {len(sheet)}" in text
        assert "Day sheet — Ana Souza" in text
        assert "Time Patient Phone" in text  # the table's header row repeats on every page
    everything = "\n".join(sheet)
    for i in range(60):  # each appointment exactly once: no row lost or repeated at a page break
        assert everything.count(f"Conceição Patient {i:02d}") == 1
    assert "60 appointments" in sheet[-1] and "15 h booked" in sheet[-1]

    listing = pages(day_list_pdf(view, printed_by="maria", printed_at=PRINTED_AT))
    assert len(listing) >= 2
    for n, text in enumerate(listing, start=1):
        assert f"Page {n} of {len(listing)}" in text
        assert "Time Doctor Room Equipment Patient" in text
    assert all(w > h for w, h in page_sizes(day_list_pdf(view, printed_by="maria", printed_at=PRINTED_AT)))


def test_day_list_has_everyone_by_start_and_a_summary_per_doctor(small_day: DayView) -> None:
    pdf = day_list_pdf(small_day, printed_by="maria", printed_at=PRINTED_AT, patients=PATIENTS)
    (width, height), = page_sizes(pdf)
    assert width > height  # A4 landscape
    [text] = pages(pdf)
    assert "Day list" in text and "Monday, 4 January 2027" in text
    assert "Opening hours: 07:00–19:00 · 4 appointments" in text
    order = [text.index(name) for name in ("João Pereira", "Bruno's patient Zé", "Maria da Conceição",
                                           "Ana & <Bia> Müller")]
    assert order == sorted(order)
    assert "08:00–08:30" in text and "08:30–09:00" in text and "11:00–11:30" in text
    assert "Imaging 2" in text and "Ultrasound A" in text and "+55 27 99999-0001" in text
    assert "By doctor" in text
    summary = text[text.index("By doctor"):]
    assert "Ana Souza" in summary and "Bruno Lima" in summary
    assert "08:00–12:00" in summary and "1 h 30 min" in summary


def test_dst_fall_back_day_prints_local_times() -> None:
    # Europe/Berlin, Sunday 31 October 2027: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice.
    day = date(2027, 10, 31)
    first = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2027, 10, 31, 1, 30, tzinfo=UTC)  # 02:30 CET
    late = datetime(2027, 10, 31, 16, 0, tzinfo=UTC)  # 17:00 CET
    view = day_view([appointment(1, first, 30, "Jürgen Groß"), appointment(2, second, 30, "Zoë Brontë"),
                     appointment(3, late, 30, "Anaïs Lefèvre")], day=day, tz=BERLIN, ana_hours=((0, 20),),
                    branch="Berlin")
    [text] = pages(doctor_day_sheet_pdf(view, ANA, printed_by="klaus", printed_at=late))
    assert "Sunday, 31 October 2027" in text
    assert "Clocks change today (UTC+02:00 to UTC+01:00)" in text
    assert "02:30" in text and "02:30 (2nd)" in text and "17:00" in text
    assert "Jürgen Groß" in text and "Zoë Brontë" in text and "Anaïs Lefèvre" in text
    assert "Printed by klaus at 31/10/2027 17:00 UTC+01:00" in text
    [listing] = pages(day_list_pdf(view, printed_by="klaus", printed_at=late))
    listing = " ".join(listing.split())  # a narrow time column wraps "(2nd)"
    assert "02:30–02:00 (2nd)" in listing and "02:30 (2nd)–03:00" in listing and "17:00–17:30" in listing


def test_dst_spring_forward_day() -> None:
    # Europe/Berlin, Sunday 28 March 2027: 02:00 CET becomes 03:00 CEST; a 23-hour day.
    day = date(2027, 3, 28)
    view = day_view([appointment(1, datetime(2027, 3, 28, 0, 30, tzinfo=UTC), 60, "Ole Ødegård")], day=day,
                    tz=BERLIN, ana_hours=((0, 6),), branch="Berlin")
    [text] = pages(doctor_day_sheet_pdf(view, ANA, printed_by="klaus", printed_at=PRINTED_AT))
    assert "01:30" in text and "to 03:30" in text  # 01:30 CET + 60 min = 03:30 CEST
    assert "an hour shorter" in text
    assert "Ole Ødegård" in text


def test_characters_outside_helvetica_are_transliterated() -> None:
    assert printable("João Conceição Müller") == "João Conceição Müller"
    assert printable("Łukasz Żółć") == "Lukasz Zólc"
    view = day_view([appointment(1, local(DAY, 8), 30, "Łukasz Nguyễn")])
    [text] = pages(doctor_day_sheet_pdf(view, ANA, printed_by="maria", printed_at=PRINTED_AT))
    assert "Lukasz Nguyen" in text


def test_long_names_wrap_instead_of_being_cut() -> None:
    name = "Maria Aparecida dos Santos Conceição de Albuquerque Cavalcanti"
    view = day_view([appointment(1, local(DAY, 8), 30, name, service="Extended abdominal and pelvic ultrasound")])
    for pdf in (doctor_day_sheet_pdf(view, ANA, printed_by="maria", printed_at=PRINTED_AT),
                day_list_pdf(view, printed_by="maria", printed_at=PRINTED_AT)):
        [text] = pages(pdf)
        assert " ".join(text.split()).count(name) == 1 or all(word in text for word in name.split())
        assert "Albuquerque Cavalcanti" in " ".join(text.split())
        assert "pelvic ultrasound" in " ".join(text.split())


def test_text_helpers() -> None:
    assert period_text(date(2027, 10, 31)) == "Sunday, 31 October 2027"
    assert age_text(date(1980, 5, 17), date(2027, 5, 16)) == "46 y"
    assert age_text(date(1980, 5, 17), date(2027, 5, 17)) == "47 y"
    assert age_text(date(2026, 3, 10), date(2027, 1, 4)) == "9 mo"
    assert age_text(None, DAY) == "" and age_text(date(2028, 1, 1), DAY) == ""
    assert phone_text("+5527999990001") == "+55 27 99999-0001"
    assert phone_text("not a phone") == "not a phone" and phone_text(None) == ""


def test_notes_and_markers(small_day: DayView) -> None:
    # Day views may carry markers per appointment (first visit, failed reminder).
    object.__setattr__(small_day, "markers", {1: frozenset({"first_visit", "payment_pending"}),
                                              4: frozenset({"reminder_failed"})})
    pdf = doctor_day_sheet_pdf(small_day, ANA, printed_by="maria", printed_at=PRINTED_AT,
                               notes={1: "Bring previous exams"})
    text = " ".join(pages(pdf)[0].split())
    assert "Bring previous exams First visit" in text and "Reminder failed" in text
    assert "Payment pending" not in text  # the status column says it
    listing = " ".join(pages(day_list_pdf(small_day, printed_by="maria", printed_at=PRINTED_AT))[0].split())
    assert "First visit" in listing and "Reminder failed" in listing


def test_appointment_outside_the_shift_is_marked() -> None:
    view = day_view([appointment(1, local(DAY, 13), 30, "Late Patient")], ana_hours=((8, 12),))
    text = " ".join(pages(doctor_day_sheet_pdf(view, ANA, printed_by="maria", printed_at=PRINTED_AT))[0].split())
    assert "Outside the shift" in text


def test_a_brazilian_branch_prints_national_phones_local_dates_and_the_desk_note() -> None:
    from dataclasses import replace

    from reception_app.services.dayview import BranchSummary

    a = replace(appointment(1, local(DAY, 9, 0, SAO_PAULO), 30, "João Pereira"), desk_note="Bring last year's X-ray")
    view = replace(day_view([a]), branch=BranchSummary(1, "Centro", "America/Sao_Paulo", "pt_BR", "BRL"))
    [text] = pages(doctor_day_sheet_pdf(view, ANA, printed_by="Luana Ferreira", printed_at=PRINTED_AT,
                                        patients=PATIENTS))
    assert "(27) 99999-0001" in text and "+55 27" not in text      # national at home
    assert "born 02/11/1975" in text and "Bring last" in text and "X-ray" in text
    assert "Printed by Luana Ferreira at 04/01/2027 07:55 UTC-03:00" in text
