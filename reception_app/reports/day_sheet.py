"""Printed days: a doctor's day sheet and the branch's day list, as PDF bytes.

Pure functions of plain values (a :class:`~reception_app.services.dayview.DayView`,
who printed it, when); no SQL, no Qt. The window loads the day (``load_day``)
and optionally the patients' contact details on its worker thread, calls these
functions there too, and hands the bytes to ``ui.print_preview``.

- :func:`doctor_day_sheet_pdf`: A4 portrait, for the doctor to glance at between
  patients: one resource's appointments by start, free time in their shift as
  light rows, time off as shaded rows, a notes column with room to write, totals,
  and a ruled notes space at the end.
- :func:`day_list_pdf`: A4 landscape, for the desk: every live appointment of
  the branch's day by start with doctor, room and equipment, and a summary per
  doctor.

Time: the view's instants are UTC; everything printed is on the branch's wall
clock (``view.tz``). On a fall-back day a repeated local time is printed with
"(2nd)" for its second occurrence, and the header says the clocks change.

Cancelled and rescheduled appointments are not printed: ``DayView`` holds only
live appointments (they free their time, and the doctor will not see them).

Patients' birth dates and phones are not part of ``DayView``; pass them as
``patients`` (``{patient_id: PatientView-like}``) to print age and phone,
otherwise those cells stay empty. Free-text notes per appointment (``notes``:
``{appointment_id: text}``) print in the notes column above the markers: the
view's own (``DayView.markers``, when present: first visit, reminder failed)
and those the sheet derives itself (walk-in, outside the shift, during time
off, began the day before, …).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import phonenumbers
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, Flowable, KeepTogether, Paragraph, Spacer

from ..domain.status import LABELS
from ..domain.wallclock import day_bounds_utc
from ..services.dayview import DayView, GridResource
from ..services.scheduling import AppointmentView
from .pdf_common import (
    A4_LANDSCAPE,
    A4_PORTRAIT,
    GAP_FILL,
    MARGIN,
    RULE,
    ReportMeta,
    build_pdf,
    cell,
    data_table,
    printable,
    styles,
)

__all__ = ["PatientDetails", "doctor_day_sheet_pdf", "day_list_pdf", "period_text", "time_text",
           "age_text", "phone_text"]

Interval = tuple[datetime, datetime]

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_SOURCE_MARKERS = {"walk_in": "Walk-in", "online": "Booked online", "import": "Imported"}
#: Labels of the day view's appointment markers (``DayView.markers``, where the view has them);
#: ``payment_pending`` is left out: the status column says it.
_VIEW_MARKERS = {"first_visit": "First visit", "reminder_failed": "Reminder failed"}
#: Time off is shaded like the grid's time-off cells.
_TIME_OFF_FILL = "#f6e7e7"
#: Free time shorter than this (minutes) is not listed as a gap row.
_MIN_GAP_MIN = 15


class PatientDetails(Protocol):
    """What the sheets print about a patient beyond their name (``services.patients.PatientView`` fits)."""

    @property
    def birth_date(self) -> date | None: ...

    @property
    def phone(self) -> str | None: ...


# -- text helpers (public for the tests and for other reports) -------------------------------------
def period_text(local_date: date) -> str:
    """``"Monday, 4 January 2027"`` (English, independent of the process locale)."""
    return f"{_WEEKDAYS[local_date.weekday()]}, {local_date.day} {_MONTHS[local_date.month - 1]} {local_date.year}"


def time_text(instant: datetime, tz: ZoneInfo) -> str:
    """``HH:MM`` of the aware ``instant`` on ``tz``'s wall clock; the second occurrence of a
    repeated local time (DST fall-back, ``fold=1``) gets ``" (2nd)"``."""
    local = instant.astimezone(tz)
    return f"{local:%H:%M} (2nd)" if local.fold else f"{local:%H:%M}"


def _range_text(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    return f"{time_text(start, tz)}–{time_text(end, tz)}"


def _minutes_text(minutes: int) -> str:
    """``"45 min"``, ``"2 h"``, ``"4 h 30 min"``."""
    h, m = divmod(max(minutes, 0), 60)
    if not h:
        return f"{m} min"
    return f"{h} h {m} min" if m else f"{h} h"


def age_text(birth_date: date | None, on: date) -> str:
    """Age on local date ``on``: ``"47 y"``, ``"14 mo"`` under two years, ``""`` if unknown or not yet born."""
    if birth_date is None or birth_date > on:
        return ""
    years = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    if years >= 2:
        return f"{years} y"
    months = (on.year - birth_date.year) * 12 + on.month - birth_date.month - (on.day < birth_date.day)
    return f"{months} mo"


def phone_text(phone: str | None) -> str:
    """An E.164 phone (``+5527999990001``) in international format (``+55 27 99999-0001``); other text as is."""
    if not phone:
        return ""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _minutes(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() // 60)


def _subtract(windows: Sequence[Interval], taken: Sequence[Interval]) -> list[Interval]:
    """``windows`` minus the union of ``taken`` (all UTC), ascending."""
    out: list[Interval] = []
    for lo, hi in sorted(windows):
        cursor = lo
        for t_lo, t_hi in sorted(taken):
            if t_hi <= cursor or t_lo >= hi:
                continue
            if t_lo > cursor:
                out.append((cursor, t_lo))
            cursor = max(cursor, t_hi)
        if cursor < hi:
            out.append((cursor, hi))
    return out


def _clock_change_note(view: DayView) -> str | None:
    """A sentence when the branch's UTC offset changes during the day, else ``None``."""
    lo, hi = day_bounds_utc(view.local_date, view.tz)
    if hi <= lo:
        return None
    before = lo.astimezone(view.tz).utcoffset()
    after = (hi - timedelta(seconds=1)).astimezone(view.tz).utcoffset()
    if before == after or before is None or after is None:
        return None

    def fmt(off: timedelta) -> str:
        minutes = int(off.total_seconds() // 60)
        return f"UTC{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    longer = "an hour longer" if after < before else "an hour shorter"
    return (f"Clocks change today ({fmt(before)} to {fmt(after)}): the day is {longer}; "
            "all times are local, a repeated time is marked (2nd).")


def _day_note(view: DayView) -> list[str]:
    notes = []
    if view.holiday:
        notes.append(f"Holiday: {view.holiday}.")
    change = _clock_change_note(view)
    if change:
        notes.append(change)
    return notes


def _markers(a: AppointmentView, view: DayView, resource: GridResource | None, notes: Mapping[int, str]) -> str:
    """The notes column: the desk's note for ``a``, then what the sheet notices itself."""
    out = []
    if notes.get(a.id):
        out.append(notes[a.id].strip())
    elif getattr(a, "desk_note", ""):   # the note typed when booking (migration 0013)
        out.append(a.desk_note)
    view_markers: Mapping[int, frozenset[str]] = getattr(view, "markers", None) or {}
    out += [label for kind, label in _VIEW_MARKERS.items() if kind in view_markers.get(a.id, ())]
    if a.source in _SOURCE_MARKERS:
        out.append(_SOURCE_MARKERS[a.source])
    lo, hi = day_bounds_utc(view.local_date, view.tz)
    if a.start < lo:
        out.append("Began the day before")
    if a.end > hi:
        out.append("Runs into the next day")
    if resource is not None:
        if resource.kind == "doctor" and not resource.is_available(a.start, a.end):
            out.append("Outside the shift")
        off = resource.time_off_at(a.start, a.end)
        if off is not None:
            out.append(f"During time off ({off.reason})" if off.reason else "During time off")
    return "\n".join(out)


def _hours_text(windows: Sequence[Interval], tz: ZoneInfo) -> str:
    return ", ".join(_range_text(lo, hi, tz) for lo, hi in windows)


@dataclass(frozen=True)
class _Row:
    """One line of the day sheet's timeline: an appointment, free time or time off."""

    start: datetime
    end: datetime
    kind: str  # "appointment" | "free" | "time_off"
    appointment: AppointmentView | None = None
    reason: str = ""


# -- the doctor's day sheet ------------------------------------------------------------------------
def doctor_day_sheet_pdf(view: DayView, resource_id: int, *, printed_by: str, printed_at: datetime,
                         patients: Mapping[int, PatientDetails] | None = None,
                         notes: Mapping[int, str] | None = None, clinic: str = "") -> bytes:
    """One doctor's day at the view's branch as an A4 portrait PDF; returns its bytes.

    ``view``: the branch's day (``load_day``); ``resource_id``: the doctor (any
    resource of the view works: a room's sheet lists the room's appointments).
    The header names clinic (``clinic``, optional) and branch, the doctor, the
    weekday and branch-local date; above the table: the working hours that day
    (the resource's availability in the view), time off, holiday and DST notes.
    The table lists the resource's live appointments by start — time (local
    ``HH:MM``, end below), patient (age and birth date below, from ``patients``),
    phone, service with room and equipment below, status (``domain.status.LABELS``), notes
    (``notes`` by appointment id, then markers) with room to write — with free
    time inside the working hours as light rows and time off as shaded rows.
    Totals (appointments, booked minutes, free minutes, count per status) and a
    ruled notes space (when at least 28 mm of the last page are left) follow. Cancelled appointments are not printed (the view
    holds only live ones).

    ``printed_by``: login shown in the footer; ``printed_at``: aware datetime
    (shown on the branch's wall clock). Raises ``ValueError`` if ``resource_id``
    is not a resource of ``view`` or ``printed_at`` is naive.
    """
    resource = next((r for r in view.resources if r.id == resource_id), None)
    if resource is None:
        raise ValueError(f"resource {resource_id} is not on the day view of {view.branch.name} "
                         f"{view.local_date.isoformat()}")
    patients = patients or {}
    notes = notes or {}
    tz = view.tz
    st = styles(10)
    mine = sorted((a for a in view.appointments if resource_id in a.resource_ids.values()),
                  key=lambda a: (a.start, a.id))

    title = f"Day sheet — {resource.name}"
    meta = ReportMeta(clinic=clinic, branch=view.branch.name, title=title, period=period_text(view.local_date),
                      printed_by=printed_by, printed_at=printed_at, tz=tz, pagesize=A4_PORTRAIT,
                      formats=view.branch.formats)

    story: list[Flowable] = []
    hours = _hours_text(resource.availability, tz)
    what = "Working hours" if resource.kind == "doctor" else "Open"
    intro = [f"<b>{what}:</b> {_esc(hours) if hours else 'no shift at this branch today'}"]
    if resource.category:
        intro[0] = f"<b>{_esc(resource.category.capitalize())}</b> · " + intro[0]
    for off in resource.time_off:
        intro.append(f"<b>Time off:</b> {_range_text(off.start, off.end, tz)}"
                     + (f" ({_esc(off.reason)})" if off.reason else ""))
    intro += [_esc(n) for n in _day_note(view)]
    story.append(Paragraph("<br/>".join(intro), st["body"]))
    story.append(Spacer(0, 3 * mm))

    # The timeline: appointments, free time inside the working hours, time off.
    rows = [_Row(a.start, a.end, "appointment", a) for a in mine]
    offs = [(o.start, o.end) for o in resource.time_off]
    free = _subtract(resource.availability, [(a.start, a.end) for a in mine] + offs)
    rows += [_Row(lo, hi, "free") for lo, hi in free if _minutes(lo, hi) >= _MIN_GAP_MIN]
    rows += [_Row(o.start, o.end, "time_off", reason=o.reason) for o in resource.time_off]
    rows.sort(key=lambda r: (r.start, r.kind != "time_off", r.kind != "free"))

    width = A4_PORTRAIT[0] - 2 * MARGIN
    fixed = [46, 132, 94, 120, 62]
    widths = [*fixed, width - sum(fixed)]
    header = ["Time", "Patient", "Phone", "Service · room", "Status", "Notes"]
    data: list[list[Any]] = []
    extra: list[tuple[Any, ...]] = []
    for i, row in enumerate(rows, start=1):
        if row.kind == "appointment" and row.appointment is not None:
            data.append(_sheet_row(row.appointment, view, resource, patients, notes, st))
            continue
        until = f"until {time_text(row.end, tz)} · {_minutes_text(_minutes(row.start, row.end))}"
        label = f"Free {until}" if row.kind == "free" else f"Time off {until}" + (
            f" · {row.reason}" if row.reason else "")
        data.append([cell(time_text(row.start, tz), st["cell_small"]), cell(label, st["cell_small"]),
                     "", "", "", ""])
        extra += [("SPAN", (1, i), (-1, i)),
                  ("BACKGROUND", (0, i), (-1, i), GAP_FILL if row.kind == "free" else _TIME_OFF_FILL),
                  ("TOPPADDING", (0, i), (-1, i), 1.5), ("BOTTOMPADDING", (0, i), (-1, i), 2)]
    if data:
        story.append(data_table(header, data, widths, header_style=st["head"], row_styles=extra, zebra=False))
    else:
        story.append(Paragraph("No appointments.", st["body"]))

    # Totals.
    booked = sum(_minutes(a.start, a.end) for a in mine)
    free_min = sum(_minutes(lo, hi) for lo, hi in free)
    per_status = Counter(a.status for a in mine)
    statuses = " · ".join(f"{LABELS.get(s, s)} {n}" for s, n in sorted(per_status.items(),
                                                                       key=lambda kv: _status_order(kv[0])))
    totals = (f"<b>{len(mine)} appointment{'s' if len(mine) != 1 else ''}</b> · "
              f"{_minutes_text(booked)} booked")
    if resource.availability:
        totals += f" · {_minutes_text(free_min)} free in the working hours"
    if statuses:
        totals += f"<br/>{_esc(statuses)}"
    story.append(KeepTogether([Spacer(0, 3 * mm), Paragraph(totals, st["body"])]))
    story += [Spacer(0, 4 * mm), _NotesSpace(st["cell_bold"], min_height=28 * mm, max_height=80 * mm)]
    return build_pdf(story, meta)


def _status_order(status: str) -> int:
    order = list(LABELS)
    return order.index(status) if status in order else len(order)


def _esc(text: str) -> str:
    """Plain text as Paragraph markup (printable, XML-escaped)."""
    return escape(printable(text))


def _patient_cell(a: AppointmentView, view: DayView, patients: Mapping[int, PatientDetails],
                  st: Mapping[str, Any], *, compact: bool = False) -> tuple[Paragraph, str]:
    """The patient's name (bold) with age and birth date below (``compact``: only the age, on
    the same line); and their phone as the branch writes it ("" when unknown): national for its
    country, international otherwise; the birth date in the branch's form (``domain.formats``)."""
    fmt = view.branch.formats
    details = patients.get(a.patient_id) if a.patient_id is not None else None   # None: an online hold
    birth = details.birth_date if details is not None else None
    age = age_text(birth, view.local_date)
    if compact:
        small = age or None
    else:
        small = " · ".join(p for p in (age, f"born {fmt.date_text(birth)}" if birth else "") if p) or None
    phone = fmt.phone(details.phone) if details is not None and details.phone else ""
    return cell(a.patient, st["cell_bold"], small=small, small_style=st["cell_small"], inline=compact), phone


def _sheet_row(a: AppointmentView, view: DayView, resource: GridResource,
               patients: Mapping[int, PatientDetails], notes: Mapping[int, str],
               st: Mapping[str, Any]) -> list[Any]:
    tz = view.tz
    patient, phone = _patient_cell(a, view, patients, st)
    # Where it happens: room and equipment (and the doctor on a room's or equipment's sheet).
    where = [a.resources[k] for k in ("doctor", "room", "equipment") if a.resources.get(k) and
             a.resource_ids.get(k) != resource.id and (k != "doctor" or resource.kind != "doctor")]
    marks = _markers(a, view, resource, notes)
    return [
        cell(time_text(a.start, tz), st["cell_bold"], small=f"to {time_text(a.end, tz)}",
             small_style=st["cell_small"]),
        patient,
        cell(phone, st["cell"]),
        cell(a.service, st["cell"], small=" · ".join(where) or None, small_style=st["cell_small"]),
        cell(LABELS.get(a.status, a.status), st["cell"]),
        # Room to write in every row: at least about two lines of height, however few the markers.
        [cell(marks, st["cell_small"]),
         Spacer(0, max(0.0, 4 * mm - marks.count("\n") * st["cell_small"].leading))],
    ]


class _NotesSpace(Flowable):
    """A "Notes" label over blank ruled lines for handwriting, filling the rest of the page up to
    ``max_height`` points. With less than ``min_height`` left it takes no room at all: a sheet that
    just fills its page does not get a second page of empty lines (every row has its notes cell)."""

    def __init__(self, label_style: ParagraphStyle, *, min_height: float, max_height: float,
                 pitch: float = 7 * mm) -> None:
        super().__init__()
        self.label_style = label_style
        self.min_height, self.max_height, self.pitch = min_height, max_height, pitch
        self.width = self.height = 0.0

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width = avail_width
        self.height = min(avail_height, self.max_height) if avail_height >= self.min_height else 0.0
        return self.width, self.height

    def draw(self) -> None:
        if not self.height:
            return
        c = self.canv
        c.saveState()
        c.setFont(self.label_style.fontName, self.label_style.fontSize)
        c.setFillColor(self.label_style.textColor)
        c.drawString(0, self.height - self.label_style.fontSize, "Notes")
        c.setStrokeColor(RULE)
        c.setLineWidth(0.4)
        y = self.height - self.label_style.fontSize - self.pitch
        while y >= 0:
            c.line(0, y, self.width, y)
            y -= self.pitch
        c.restoreState()


# -- the branch's day list -------------------------------------------------------------------------
def day_list_pdf(view: DayView, *, printed_by: str, printed_at: datetime,
                 patients: Mapping[int, PatientDetails] | None = None, notes: Mapping[int, str] | None = None,
                 clinic: str = "") -> bytes:
    """Every live appointment of the view's branch and local date as an A4 landscape PDF; its bytes.

    Header: clinic (optional) and branch, "Day list", weekday and local date;
    above the table: opening hours (or closed / holiday) and DST notes. The
    table, by start: time (local ``HH:MM``–``HH:MM``), doctor, room, equipment,
    patient (age below, from ``patients``), phone, service, status, notes
    (``notes`` by appointment id and derived markers). Then one summary line per
    doctor: appointments, booked time, first start, last end, working hours
    (appointments without a doctor are summed as "No doctor").

    ``printed_by`` / ``printed_at`` as for :func:`doctor_day_sheet_pdf`. Raises
    ``ValueError`` if ``printed_at`` is naive.
    """
    patients = patients or {}
    notes = notes or {}
    tz = view.tz
    st = styles(8.5)
    meta = ReportMeta(clinic=clinic, branch=view.branch.name, title="Day list", period=period_text(view.local_date),
                      printed_by=printed_by, printed_at=printed_at, tz=tz, pagesize=A4_LANDSCAPE,
                      formats=view.branch.formats)
    by_id = {r.id: r for r in view.resources}
    appointments = sorted(view.appointments, key=lambda a: (a.start, a.resources.get("doctor", "~"), a.id))

    story: list[Flowable] = []
    hours = _hours_text(view.opening, tz)
    intro = [f"<b>Opening hours:</b> {_esc(hours) if hours else 'closed'}"
             f" · <b>{len(appointments)} appointment{'s' if len(appointments) != 1 else ''}</b>"]
    intro += [_esc(n) for n in _day_note(view)]
    story += [Paragraph("<br/>".join(intro), st["body"]), Spacer(0, 3 * mm)]

    width = A4_LANDSCAPE[0] - 2 * MARGIN
    fixed = [56, 84, 84, 64, 140, 82, 96, 80]
    widths = [*fixed, width - sum(fixed)]
    header = ["Time", "Doctor", "Room", "Equipment", "Patient", "Phone", "Service", "Status", "Notes"]
    data: list[list[Any]] = []
    for a in appointments:
        patient, phone = _patient_cell(a, view, patients, st, compact=True)
        doctor = by_id.get(a.resource_ids.get("doctor", -1))
        data.append([
            cell(_range_text(a.start, a.end, tz), st["cell_bold"]),
            cell(a.resources.get("doctor", ""), st["cell"]),
            cell(a.resources.get("room", ""), st["cell"]),
            cell(a.resources.get("equipment", ""), st["cell"]),
            patient,
            cell(phone, st["cell"]),
            cell(a.service, st["cell"]),
            cell(LABELS.get(a.status, a.status), st["cell"]),
            cell(_markers(a, view, doctor, notes), st["cell_small"]),
        ])
    if data:
        story.append(data_table(header, data, widths, header_style=st["head"]))
    else:
        story.append(Paragraph("No appointments.", st["body"]))

    story += [Spacer(0, 5 * mm), *_doctor_summary(view, appointments, st, width)]
    return build_pdf(story, meta)


def _doctor_summary(view: DayView, appointments: Sequence[AppointmentView], st: Mapping[str, Any],
                    width: float) -> list[Flowable]:
    """"By doctor": a line per doctor working or booked that day (working hours, count, booked
    time, first start, last end)."""
    tz = view.tz
    doctors = [r for r in view.resources if r.kind == "doctor"]
    groups: dict[int | None, list[AppointmentView]] = {d.id: [] for d in doctors}
    for a in appointments:
        groups.setdefault(a.resource_ids.get("doctor"), []).append(a)
    data: list[list[Any]] = []
    names = {d.id: d.name for d in doctors}
    for key, items in groups.items():
        doctor = next((d for d in doctors if d.id == key), None)
        if not items and (doctor is None or not doctor.availability):
            continue  # no shift here today and nothing booked
        booked = sum(_minutes(a.start, a.end) for a in items)
        data.append([
            cell(names.get(key, "No doctor") if key is not None else "No doctor", st["cell_bold"]),
            cell(_hours_text(doctor.availability, tz) if doctor else "", st["cell"]),
            cell(str(len(items)), st["cell_right"]),
            cell(_minutes_text(booked) if items else "—", st["cell_right"]),
            cell(time_text(min(a.start for a in items), tz) if items else "—", st["cell_right"]),
            cell(time_text(max(a.end for a in items), tz) if items else "—", st["cell_right"]),
        ])
    if not data:
        return []
    widths = [150, 190, 80, 80, 60, 60]
    header = ["By doctor", "Working hours", *(cell(h, st["head_right"]) for h in
                                              ("Appointments", "Booked", "First", "Last"))]
    table = data_table(header, data, widths, header_style=st["head"])
    return [CondPageBreak(20 * mm + 14 * len(data)), table,
            Paragraph(f"Times are local ({_esc(view.branch.timezone)}).", st["note"])]
