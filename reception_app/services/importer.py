"""``clinic import noshow-csv FILE``: import the public "Medical Appointment No Shows" CSV.

Source: the Kaggle data set "Medical Appointment No Shows" (KaggleV2-May-2016.csv,
CC BY-NC-SA 4.0) and the re-exported extract in ``../shared/data`` (its README
lists the differences). Both forms are accepted, column by column:

=================  ===============================  ==============================
column             extract                          original
=================  ===============================  ==============================
PatientId          ``29872499824296.0``             ``29872499824296``
                   ``93779.52927`` (a few)          ``93779.52927``
ScheduledDay       ``2016-04-29 18:38:08``          ``2016-04-29T18:38:08Z``
AppointmentDay     ``2016-04-29``                   ``2016-04-29T00:00:00Z``
Age                ``62.0``                         ``62``
last column        ``No_show``                      ``No-show``
=================  ===============================  ==============================

(``Hipertension``/``Handcap`` are spelled as in the source; the correct
spellings ``Hypertension``/``Handicap`` are accepted too.) Columns are found by
header name, so their order does not matter.

What one row becomes
--------------------
* **Branch** — one per Neighbourhood, named in title case with Portuguese
  particles in lower case (``JARDIM DA PENHA`` → ``Jardim da Penha``). A new
  branch gets the zone ``timezone`` and opening hours 07:00-19:00 local every
  day (:data:`OPEN_MIN`/:data:`CLOSE_MIN`). An existing branch of that name is
  reused with *its* zone; its hours and holidays are left untouched and not
  consulted (the rows are past facts placed on the import's own 07:00-19:00
  grid and doctors).
* **Doctors and rooms** — per branch, doctors ``"<Branch> · GP n"`` (kind
  doctor, specialty ``general practice``, shifts 07:00-19:00 at that branch
  every day) and rooms ``"<Branch> · Room n"`` (kind room, category
  ``consultation``); names are unique across all resources because the branch
  name is in them. A branch gets ``ceil(busiest day / 48)`` of each (48
  quarter hours in 07:00-19:00); when a day still overflows (earlier bookings
  or time off on a re-run) another doctor and/or room is added. On a re-run
  the imported resources are recognised by these names (inactive ones are
  not used).
* **Service** — ``"General practice visit (import)"``: 15 minutes, no buffers,
  needs a ``general practice`` doctor and a ``consultation`` room (the
  categories the imported resources have).
* **Patient** — one per PatientId: ``source='import'``,
  ``source_ref='vitoria:<PatientId as written>'``, a deterministic
  pseudonymous display name (``"Paciente 4F2A 91C3"``: SHA-256 of the
  source_ref, never the raw id), gender F/M, ``attributes`` = the flags
  ``Scholarship``, ``Hipertension``, ``Diabetes``, ``Alcoholism``, ``Handcap``
  (integers) and ``Neighbourhood`` (text), taken from the patient's first row.

  Source identifiers are opaque text, never numbers: PatientId is kept as
  written (``93779.52927`` → ``vitoria:93779.52927``; leading zeros, letters and
  any other digits stay), with one exception (:func:`patient_key`): the
  float-text form of a whole number, digits followed by exactly ``.0``
  (``29872499824296.0``, how the re-exported extract writes every id), is
  written without its ``.0``. So the extract and the original Kaggle file
  (``29872499824296``) give the same ``vitoria:29872499824296``, which is also
  the ref earlier versions of this importer wrote (they read the id as an
  integer), so databases imported before keep their refs and a re-run finds
  them. AppointmentID needs no such rule: both forms write it as a plain
  integer (all 39,596 records of the extract do), and it stays one.
* **Appointment** — ``external_ref='vitoria:<AppointmentID>'``,
  ``source='import'``, status ``no_show`` when No_show is ``Yes``, ``completed``
  when ``No``; ``patient_age_years`` = Age; ``booked_at`` = ScheduledDay read as
  *local wall-clock time in the branch zone* whatever suffix it carries (a
  time in a DST gap is read with the offset before the change, PEP 495
  ``fold=0``); ``time_assigned_by_import = true``. The source has no time of
  day, so the appointment gets the earliest free 15-minute grid start of its
  AppointmentDay (local) at which some imported doctor AND some imported room
  of the branch are free and the same patient has no other appointment — one
  placed by this import at any branch, or a live one the database already
  holds (a patient with several appointments that day gets them one after the
  other, never two at once: the database refuses that too,
  ``appointment_patient_no_overlap``); when only that patient's own
  appointments stand in the way, a doctor and/or room is added. Rows are taken
  in ScheduledDay order (then AppointmentID). One booking row per resource
  (doctor, room) with period ``[start, start + 15 min)``; the exclusion
  constraints and triggers apply.
* **Reminder** — when SMS_received is 1: channel ``sms``, purpose
  ``reminder``, status ``sent``, one attempt, ``due_at = sent_at`` = the same
  local wall-clock time as the appointment on the local day before (built from
  the local date, docs/architecture.md "Time"), but never before ``booked_at`` (a reminder
  cannot go out before the booking exists). ``idempotency_key =
  'import:vitoria:<AppointmentID>:sms'``.

Rejected rows (reported with the physical line number where the record
starts, header = line 1; everything else still imports): wrong number of
columns, an empty field, PatientId longer than :data:`MAX_SOURCE_ID` (64)
characters or holding a blank or a control character, AppointmentID not a
positive integer written in digits,
Gender not F/M, unparseable ScheduledDay (or one without a time of day) or
AppointmentDay (or one with a time of day other than midnight), Age not a
whole number or outside 0..130 (the original has ``-1``), a flag not 0/1
(Handcap 0..4), No_show not Yes/No (case-insensitive), a second row with an
AppointmentID already seen in the file, and — in theory — an AppointmentDay
with no 15-minute start in the opening hours (a date the zone skips), or one
at every start of which the patient already has an appointment. An
appointment day before the scheduling day is *not* an error (the source has
such rows; the report shows them as a negative lead time). Blank lines are
not rows and are skipped.

Idempotence: rows whose ``external_ref`` exists are counted as
``already_present`` and not touched; new rows in an existing branch-day go in
grid starts still free, considering the existing bookings and time off of the
imported resources. A second run of the same file writes nothing.

Transactions: all writes in ONE ``Database.write`` (SERIALIZABLE, retried);
the work function reads everything it needs inside the transaction, so a
retry recomputes the plan. Bulk rows go in as ``INSERT … SELECT FROM
unnest(<one array parameter per column>)``, :data:`_BATCH` rows per statement,
on the driver connection, each array sent as one text literal built here
(``_array_literal``: a third of the client time of psycopg's list dumper). That is
set-based like a ``COPY`` into a staging table followed by ``INSERT … SELECT``, one
round trip per batch; the statements' time is the rows' triggers and indexes. Not
``COPY``, which PostgreSQL refuses into a table with row-level security
(``appointment``) for every role but its owner, and not through a staging table
(``TEMP`` is not granted to the clinic roles).
So any login in ``clinic_admin`` can run the import, as the README says, and
the rows carry that login as ``created_by`` and in the audit trail. Ids are
pre-allocated from the identity sequences so booking and reminder rows can
reference their appointments. The transaction ends with an ``ANALYZE`` of the
columns reports join on, so the planner does not treat the freshly filled
tables as empty. Only the tables' owner may ANALYZE them (PostgreSQL 17+:
or a role with MAINTAIN), so where the schema has ``clinic_analyze_import()``
(a ``SECURITY DEFINER`` function of the owner running that same ANALYZE) the
import calls it instead; without it an administrator's ANALYZE is skipped with
a warning and reports stay slow until autovacuum analyzes the tables.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.errors import ValidationError
from ..domain.wallclock import grid_starts, local_to_utc
from ..store.database import Database, driver

__all__ = [
    "ImportResult",
    "import_noshow_csv",
    "branch_name",
    "patient_key",
    "pseudonym",
    "SERVICE_NAME",
    "DOCTOR_SPECIALTY",
    "ROOM_KIND",
    "OPEN_MIN",
    "CLOSE_MIN",
]

#: The service every imported appointment uses (15 minutes, no buffers).
SERVICE_NAME = "General practice visit (import)"
SERVICE_MIN = 15
#: Categories of the imported doctors and rooms, and what the service needs.
DOCTOR_SPECIALTY = "general practice"
ROOM_KIND = "consultation"
#: Opening hours of imported branches and shifts of imported doctors: local minutes, every day.
OPEN_MIN = 7 * 60
CLOSE_MIN = 19 * 60
#: Plausible ages (years); outside is a reject.
MAX_AGE = 130
#: Longest PatientId kept (characters); the source's are at most 17.
MAX_SOURCE_ID = 64

_SOURCE = "vitoria"
_SLOT = timedelta(minutes=SERVICE_MIN)

# Canonical column -> accepted header spellings (extract, original, corrected).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "PatientId": ("PatientId",),
    "AppointmentID": ("AppointmentID",),
    "Gender": ("Gender",),
    "ScheduledDay": ("ScheduledDay",),
    "AppointmentDay": ("AppointmentDay",),
    "Age": ("Age",),
    "Neighbourhood": ("Neighbourhood", "Neighborhood"),
    "Scholarship": ("Scholarship",),
    "Hipertension": ("Hipertension", "Hypertension"),
    "Diabetes": ("Diabetes",),
    "Alcoholism": ("Alcoholism",),
    "Handcap": ("Handcap", "Handicap"),
    "SMS_received": ("SMS_received",),
    "No_show": ("No_show", "No-show"),
}
_FLAG_MAX = {"Scholarship": 1, "Hipertension": 1, "Diabetes": 1, "Alcoholism": 1, "Handcap": 4}
_PARTICLES = frozenset({"da", "das", "de", "do", "dos", "e"})
_RESOURCE_NAME = re.compile(r"^(?P<branch>.+) · (?P<what>GP|Room) (?P<n>[1-9][0-9]*)$")


# --------------------------------------------------------------------------- #
# Result
# --------------------------------------------------------------------------- #


@dataclass
class ImportResult:
    """What one import did.

    ``read``: data records in the file (blank lines excluded);
    ``imported``: appointments created; ``already_present``: records whose
    AppointmentID was imported before (untouched); ``rejected``: records that
    could not be read — each has an entry in ``problems`` as
    ``(line, reason)``, ``line`` being the physical line where the record
    starts (header = line 1). ``read == imported + already_present + rejected``.
    ``created``: rows of other tables this run created (branches, doctors,
    rooms, patients, bookings, reminders).
    """

    read: int = 0
    imported: int = 0
    already_present: int = 0
    rejected: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the counts, ``problems`` as ``[{"line": n, "reason": "…"}]`` and ``created``."""
        out = asdict(self)
        out["problems"] = [{"line": line, "reason": reason} for line, reason in self.problems]
        return out

    def summary(self) -> str:
        """One line: ``"N rows read, N imported, N already present, N rejected"``."""
        return (f"{self.read} rows read, {self.imported} imported, {self.already_present} already present, "
                f"{self.rejected} rejected")


# --------------------------------------------------------------------------- #
# Parsing (pure)
# --------------------------------------------------------------------------- #


@dataclass(slots=True)
class _Row:
    line: int
    patient_id: str  # as written, a float-text whole number without its ".0" (patient_key)
    appointment_id: int
    gender: str
    scheduled: datetime  # naive local wall clock
    day: date
    age: int
    neighbourhood: str
    flags: tuple[int, int, int, int, int]  # Scholarship, Hipertension, Diabetes, Alcoholism, Handcap
    sms: bool
    no_show: bool


class _Reject(Exception):
    pass


def branch_name(neighbourhood: str) -> str:
    """The branch name for a Neighbourhood: blanks folded, title case, Portuguese particles
    (da, das, de, do, dos, e) in lower case except as the first word.

    ``"JARDIM DA PENHA"`` → ``"Jardim da Penha"``; ``"DE LOURDES"`` → ``"De Lourdes"``.
    """
    words = " ".join(neighbourhood.split()).title().split(" ")
    return " ".join(w.lower() if i and w.lower() in _PARTICLES else w for i, w in enumerate(words))


def pseudonym(source_ref: str) -> str:
    """A deterministic pseudonymous display name for a patient's ``source_ref``:
    ``"Paciente XXXX XXXX"`` from the first 8 hex digits (upper case) of its SHA-256."""
    h = hashlib.sha256(source_ref.encode()).hexdigest()[:8].upper()
    return f"Paciente {h[:4]} {h[4:]}"


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def patient_key(value: str) -> str:
    """The part of a patient's ``source_ref`` after ``vitoria:``, from PatientId as written
    (already stripped of surrounding blanks): the text itself, except that the float-text
    form of a whole number loses its ``.0`` (``"29872499824296.0"`` → ``"29872499824296"``,
    as the original file writes it). Anything else is kept as written: ``"93779.52927"``
    stays ``"93779.52927"``; ``"007"`` stays ``"007"``. Opaque: never read as a number.

    Raises ``_Reject`` for a value longer than :data:`MAX_SOURCE_ID` characters or holding
    a control character or a blank.
    """
    if len(value) > MAX_SOURCE_ID:
        raise _Reject(f"PatientId {value[:MAX_SOURCE_ID]!r}… is longer than {MAX_SOURCE_ID} characters")
    # The same test as "any character isspace() or not isprintable()" (checked over every code
    # point in tests/db/test_import.py): the only blank str.isprintable() accepts is U+0020.
    if not value.isprintable() or " " in value:
        raise _Reject(f"PatientId {value!r} holds a blank or a control character")
    if value.endswith(".0") and _digits(value[:-2]):
        return value[:-2]
    return value


def _positive_int(value: str, column: str) -> int:
    if not _digits(value):
        raise _Reject(f"{column} {value!r} is not a whole number")
    n = int(value)
    if n <= 0:
        raise _Reject(f"{column} {value!r} is not positive")
    return n


def _scheduled(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Reject(f"ScheduledDay {value!r} is not a date and time like 2016-04-29 18:38:08") from None
    if len(value) < 16:  # a bare date is not a booking time
        raise _Reject(f"ScheduledDay {value!r} has no time of day")
    return parsed.replace(tzinfo=None)  # local wall clock whatever the suffix says


def _appointment_day(value: str) -> date:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Reject(f"AppointmentDay {value!r} is not a date like 2016-04-29") from None
    if (parsed.hour, parsed.minute, parsed.second, parsed.microsecond) != (0, 0, 0, 0):
        raise _Reject(f"AppointmentDay {value!r} has a time of day; expected a date")
    return parsed.date()


def _age(value: str) -> int:
    if _digits(value):
        n = int(value)
    elif value.endswith(".0") and _digits(value[:-2]):
        n = int(value[:-2])
    else:
        try:
            d = Decimal(value)
        except InvalidOperation:
            raise _Reject(f"Age {value!r} is not a number") from None
        if not d.is_finite() or d != d.to_integral_value():
            raise _Reject(f"Age {value!r} is not a whole number of years")
        n = int(d)
    if n < 0:
        raise _Reject(f"Age {value!r} is negative")
    if n > MAX_AGE:
        raise _Reject(f"Age {value!r} is over {MAX_AGE}")
    return n


_FLAG_VALUES = {c: {str(v): v for v in range(top + 1)} for c, top in _FLAG_MAX.items()}


def _flag(value: str, column: str) -> int:
    got = _FLAG_VALUES[column].get(value)
    if got is None:
        top = _FLAG_MAX[column]
        raise _Reject(f"{column} {value!r} is not {'0 or 1' if top == 1 else f'0..{top}'}")
    return got


def _parse_row(values: list[str], order: tuple[int, ...], line: int) -> _Row:
    """One record -> _Row; ``order`` gives the position of each of ``_COLUMNS`` in ``values``.
    Raises _Reject with the reason."""
    vals = [values[i].strip() for i in order]
    if not all(vals):
        raise _Reject(f"{next(c for c, v in zip(_COLUMNS, vals, strict=True) if not v)} is empty")
    pid, aid, gender, sched, day, age, hood, sch, hip, dia, alc, hcp, sms, outcome = vals
    gender_up = gender.upper()
    if gender_up not in ("F", "M"):
        raise _Reject(f"Gender {gender!r} is not F or M")
    if sms not in ("0", "1"):
        raise _Reject(f"SMS_received {sms!r} is not 0 or 1")
    no_show = outcome.lower()
    if no_show not in ("yes", "no"):
        raise _Reject(f"No_show {outcome!r} is not Yes or No")
    return _Row(
        line,
        patient_key(pid),
        _positive_int(aid, "AppointmentID"),
        gender_up,
        _scheduled(sched),
        _appointment_day(day),
        _age(age),
        " ".join(hood.split()),
        (_flag(sch, "Scholarship"), _flag(hip, "Hipertension"), _flag(dia, "Diabetes"),
         _flag(alc, "Alcoholism"), _flag(hcp, "Handcap")),
        sms == "1",
        no_show == "yes",
    )


def _header_index(header: list[str], path: str) -> tuple[int, ...]:
    names = [h.strip() for h in header]
    idx: dict[str, int] = {}
    for col, spellings in _COLUMNS.items():
        found = [i for i, h in enumerate(names) if h in spellings]
        if not found:
            raise ValidationError("file", path,
                                  f"the header has no column {col!r} (header: {', '.join(names)})")
        if len(found) > 1:
            raise ValidationError("file", path, f"the header names column {col!r} twice")
        idx[col] = found[0]
    return tuple(idx[c] for c in _COLUMNS)


def _read_file(path: Path) -> tuple[list[_Row], int, list[tuple[int, str]]]:
    """Parse the CSV: (good rows, records read, problems). Raises ValidationError for the file itself."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValidationError("file", str(path), "does not exist") from None
    except OSError as exc:
        raise ValidationError("file", str(path), f"cannot be read: {exc.strerror}") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError("file", str(path), f"is not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationError("file", str(path), "is empty") from None
    except csv.Error as exc:
        raise ValidationError("file", str(path), f"has an unreadable header: {exc}") from None
    order = _header_index(header, str(path))
    width = len(header)
    rows: list[_Row] = []
    problems: list[tuple[int, str]] = []
    seen: dict[int, int] = {}
    read = 0
    next_line = reader.line_num + 1
    while True:
        line = next_line
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. an unterminated quote: the rest of the file is one record
            read += 1
            problems.append((line, f"unreadable CSV: {exc}"))
            break
        next_line = reader.line_num + 1
        if not values or (len(values) == 1 and not values[0].strip()):
            continue  # a blank line holds no record
        read += 1
        if len(values) != width:
            problems.append((line, f"has {len(values)} fields, expected {width}"))
            continue
        try:
            row = _parse_row(values, order, line)
        except _Reject as exc:
            problems.append((line, str(exc)))
            continue
        first = seen.get(row.appointment_id)
        if first is not None:
            problems.append((line, f"AppointmentID {row.appointment_id} already appears on line {first}"))
            continue
        seen[row.appointment_id] = line
        rows.append(row)
    return rows, read, problems


# --------------------------------------------------------------------------- #
# Planning (pure, per branch)
# --------------------------------------------------------------------------- #


@dataclass
class _Pool:
    """The imported doctors or rooms of one branch: existing ids (by number) plus ones to create."""

    numbers: list[int]                 # usable resource numbers, in order
    ids: dict[int, int]                # number -> resource id (existing ones)
    taken_numbers: set[int]            # every number in use by a resource of that name (any state)
    new: list[int] = field(default_factory=list)

    def add(self) -> int:
        n = max(self.taken_numbers | set(self.numbers), default=0) + 1
        self.taken_numbers.add(n)
        self.numbers.append(n)
        self.new.append(n)
        return n


def _day_slots(day: date, tz: ZoneInfo) -> list[datetime]:
    """UTC grid starts of ``day`` whose 15-minute appointment lies within OPEN_MIN..CLOSE_MIN local."""
    lo = local_to_utc(day, OPEN_MIN, tz)
    hi = local_to_utc(day, CLOSE_MIN, tz, latest=True)
    return [s for s in grid_starts(day, tz) if s >= lo and s + _SLOT <= hi]


def _plan_day(rows: list[_Row], slots: list[datetime], doctors: _Pool, rooms: _Pool,
              busy: dict[tuple[str, int], set[int]], patient_busy: dict[str, set[datetime]],
              ) -> tuple[list[tuple[_Row, int, int, int]], list[_Row]]:
    """Place ``rows`` (already in ScheduledDay order) on the earliest slot with a free doctor and
    room at which the same patient has no other appointment (a patient with two appointments on
    one day gets them one after the other, never in two rooms at once — the database refuses
    that too, ``appointment_patient_no_overlap``); returns ((row, slot index, doctor number, room
    number) per placed row, rows that cannot be placed: their patient is busy at every start of
    the day). ``busy[(kind, number)]`` holds the slot indices taken; ``patient_busy[PatientId]``
    the UTC 15-minute starts at which the patient is booked (this import's other branches and
    days, and what the database held before); both are updated. Adds doctors/rooms to the pools
    when the day is full, for this patient."""
    out: list[tuple[_Row, int, int, int]] = []
    refused: list[_Row] = []
    n_slots = len(slots)
    index = {s: k for k, s in enumerate(slots)}

    def free_pair(k: int) -> tuple[int | None, int | None]:
        d = next((n for n in doctors.numbers if k not in busy[("doctor", n)]), None)
        r = next((n for n in rooms.numbers if k not in busy[("room", n)]), None) if d is not None else None
        return d, r

    k0 = 0  # slots before k0 have no free doctor-and-room pair left
    for row in rows:
        booked = patient_busy.setdefault(row.patient_id, set())
        mine = {index[s] for s in booked if s in index}
        if len(mine) >= n_slots:
            refused.append(row)
            continue
        while True:
            while k0 < n_slots and None in free_pair(k0):
                k0 += 1
            k, d, r = k0, None, None
            while k < n_slots:
                if k not in mine:
                    d, r = free_pair(k)
                    if d is not None and r is not None:
                        break
                k += 1
            if k < n_slots:
                break
            # The day is full, at the starts this patient is free: add what is missing there, then
            # search again from the day's first slot.
            free_d = {i for i in range(n_slots)
                      if i not in mine and any(i not in busy[("doctor", n)] for n in doctors.numbers)}
            free_r = {i for i in range(n_slots)
                      if i not in mine and any(i not in busy[("room", n)] for n in rooms.numbers)}
            if not free_d:
                doctors.add()
            if not free_r or free_d:
                rooms.add()
            k0 = 0
        assert d is not None and r is not None
        busy[("doctor", d)].add(k)
        busy[("room", r)].add(k)
        booked.add(slots[k])
        out.append((row, k, d, r))
    return out, refused


# --------------------------------------------------------------------------- #
# The import
# --------------------------------------------------------------------------- #


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError("timezone", name,
                              "is not an IANA time zone such as America/Sao_Paulo") from None
    return name


def import_noshow_csv(db: Database, path: str | Path, *, timezone: str = "America/Sao_Paulo") -> ImportResult:
    """Import the no-show CSV at ``path`` (either format, see the module docstring) in one transaction.

    ``timezone``: IANA zone given to branches this import creates; ScheduledDay
    and the appointment grid are read in the branch's zone. Returns an
    :class:`ImportResult`; unreadable records are reported in ``problems``
    with their line numbers and the rest imports. Running it again with the
    same file changes nothing.

    Raises ``ValidationError`` for a bad ``timezone`` (field ``timezone``), a
    missing/unreadable file or a header without a needed column (field
    ``file``) — nothing is written then — ``DatabaseUnavailable``, and
    ``SlotTaken`` when concurrent changes outlive the retries.
    ``ValidationError`` naming the service also when an existing service named
    :data:`SERVICE_NAME` is not 15 minutes without buffers.
    """
    zone_name = _check_timezone(timezone)
    p = Path(path)
    rows, read, problems = _read_file(p)
    rows.sort(key=lambda r: (r.scheduled, r.appointment_id, r.line))

    def work(conn: Connection) -> ImportResult:
        result = ImportResult(read=read, rejected=len(problems), problems=sorted(problems))
        created = dict.fromkeys(("branches", "doctors", "rooms", "patients", "bookings", "reminders"), 0)
        result.created = created
        if not rows:
            return result
        present = {r[0] for r in conn.execute(
            text("SELECT external_ref FROM appointment WHERE external_ref = ANY(:refs)"),
            {"refs": [f"{_SOURCE}:{r.appointment_id}" for r in rows]})}
        new_rows = [r for r in rows if f"{_SOURCE}:{r.appointment_id}" not in present]
        result.already_present = len(rows) - len(new_rows)
        if new_rows:
            unplaceable = _import_rows(conn, new_rows, zone_name, created)
            result.problems = sorted(result.problems + unplaceable)
            result.rejected += len(unplaceable)
            result.imported = len(new_rows) - len(unplaceable)
        return result

    return db.write(work, reason=f"import noshow-csv {p.name}")


def _ensure_service(conn: Connection) -> int:
    conn.execute(text(
        "INSERT INTO service (name, duration_min, doctor_specialty, room_kind) VALUES (:n, :d, :ds, :rk) "
        "ON CONFLICT (name) DO NOTHING"),
        {"n": SERVICE_NAME, "d": SERVICE_MIN, "ds": DOCTOR_SPECIALTY, "rk": ROOM_KIND})
    s = conn.execute(text("SELECT id, duration_min, buffer_before_min, buffer_after_min FROM service "
                          "WHERE name = :n"), {"n": SERVICE_NAME}).one()
    if (s.duration_min, s.buffer_before_min, s.buffer_after_min) != (SERVICE_MIN, 0, 0):
        raise ValidationError("service", SERVICE_NAME, f"exists but is not {SERVICE_MIN} minutes without "
                                                       "buffers; the import needs that")
    return int(s.id)


def _ensure_branches(conn: Connection, names: Iterable[str], zone_name: str,
                     created: dict[str, int]) -> dict[str, tuple[int, ZoneInfo]]:
    wanted = sorted(set(names))
    found = {r.name: (int(r.id), r.timezone) for r in conn.execute(
        text("SELECT id, name, timezone FROM branch WHERE name = ANY(:n)"), {"n": wanted})}
    missing = [n for n in wanted if n not in found]
    if missing:
        new = conn.execute(text(
            "INSERT INTO branch (name, timezone) SELECT n, :tz FROM unnest(CAST(:names AS text[])) AS n "
            "RETURNING id, name, timezone"), {"tz": zone_name, "names": missing}).all()
        created["branches"] += len(new)
        for r in new:
            found[r.name] = (int(r.id), r.timezone)
        conn.execute(text(
            "INSERT INTO opening_hours (branch_id, weekday, start_min, end_min) "
            "SELECT b, w, :s, :e FROM unnest(CAST(:ids AS int[])) AS b, generate_series(0, 6) AS w"),
            {"ids": [r.id for r in new], "s": OPEN_MIN, "e": CLOSE_MIN})
    return {n: (bid, ZoneInfo(tz)) for n, (bid, tz) in found.items()}


def _load_pools(conn: Connection, branch_names: Iterable[str]) -> dict[str, dict[str, _Pool]]:
    pools = {b: {"doctor": _Pool([], {}, set()), "room": _Pool([], {}, set())} for b in branch_names}
    for r in conn.execute(text("SELECT id, kind, name, active FROM resource WHERE name LIKE '% · %'")):
        m = _RESOURCE_NAME.match(r.name)
        if not m or m["branch"] not in pools:
            continue
        kind = "doctor" if m["what"] == "GP" else "room"
        pool = pools[m["branch"]][kind]
        n = int(m["n"])
        pool.taken_numbers.add(n)
        if r.kind == kind and r.active:
            pool.numbers.append(n)
            pool.ids[n] = int(r.id)
    for both in pools.values():
        for pool in both.values():
            pool.numbers.sort()
    return pools


_Busy = dict[tuple[str, int], set[int]]


def _busy_slots(conn: Connection, pools: dict[str, dict[str, _Pool]],
                days: dict[str, dict[date, list[datetime]]]) -> dict[str, dict[date, _Busy]]:
    """Per branch and day: (kind, number) -> slot indices taken by live bookings or time off."""
    out: dict[str, dict[date, _Busy]] = {
        b: {d: defaultdict(set) for d in ds} for b, ds in days.items()}
    owner: dict[int, tuple[str, str, int]] = {}
    for b, both in pools.items():
        for kind, pool in both.items():
            for n, rid in pool.ids.items():
                owner[rid] = (b, kind, n)
    if not owner:
        return out
    all_slots = [s for ds in days.values() for sl in ds.values() for s in sl]
    if not all_slots:
        return out
    lo, hi = min(all_slots), max(all_slots) + _SLOT
    taken = conn.execute(text(
        "SELECT resource_id, lower(period), upper(period) FROM booking "
        "WHERE live AND resource_id = ANY(:ids) AND period && tstzrange(:lo, :hi) "
        "UNION ALL SELECT resource_id, lower(period), upper(period) FROM time_off "
        "WHERE resource_id = ANY(:ids) AND period && tstzrange(:lo, :hi)"),
        {"ids": list(owner), "lo": lo, "hi": hi}).all()
    for rid, a, z in taken:
        b, kind, n = owner[rid]
        for d, sl in days[b].items():
            # slot i [s, s+15) overlaps [a, z) when s < z and s + 15 > a
            first = bisect_right(sl, a - _SLOT)
            last = bisect_left(sl, z)
            if first < last:
                out[b][d][(kind, n)].update(range(first, last))
    return out


def _patient_busy(conn: Connection, rows: list[_Row],
                  slots: dict[str, dict[date, list[datetime]]]) -> dict[str, set[datetime]]:
    """PatientId -> UTC 15-minute starts at which the database already has a live appointment of
    that imported patient (``source_ref``), within the days of ``slots``. A desk booking of an
    imported patient counts like an imported one."""
    all_slots = [s for ds in slots.values() for sl in ds.values() for s in sl]
    out: dict[str, set[datetime]] = defaultdict(set)
    if not all_slots:
        return out
    keys = {f"{_SOURCE}:{r.patient_id}": r.patient_id for r in rows}
    found = conn.execute(text(
        "SELECT p.source_ref, a.starts_at, a.ends_at FROM appointment a JOIN patient p ON p.id = a.patient_id "
        "WHERE p.source_ref = ANY(:refs) AND a.status NOT IN ('cancelled', 'rescheduled') "
        "AND a.starts_at < :hi AND a.ends_at > :lo"),
        {"refs": list(keys), "lo": min(all_slots), "hi": max(all_slots) + _SLOT}).all()
    for ref, start, end in found:
        at = start
        while at < end:  # appointments are on the 15-minute grid (check constraint)
            out[keys[ref]].add(at.astimezone(UTC))
            at += _SLOT
    return out


def _new_resources(conn: Connection, pools: dict[str, dict[str, _Pool]], branch_ids: dict[str, int],
                   created: dict[str, int]) -> None:
    doctors = [(b, n) for b, both in pools.items() for n in both["doctor"].new]
    rooms = [(b, n) for b, both in pools.items() for n in both["room"].new]
    if doctors:
        rows = conn.execute(text(
            "INSERT INTO resource (kind, name, category) "
            "SELECT 'doctor', n, :c FROM unnest(CAST(:names AS text[])) AS n "
            "RETURNING id, name"),
            {"c": DOCTOR_SPECIALTY, "names": [f"{b} · GP {n}" for b, n in doctors]}).all()
        ids = {r.name: int(r.id) for r in rows}
        shift_res, shift_branch = [], []
        for b, n in doctors:
            rid = ids[f"{b} · GP {n}"]
            pools[b]["doctor"].ids[n] = rid
            shift_res.append(rid)
            shift_branch.append(branch_ids[b])
        conn.execute(text(
            "INSERT INTO shift (resource_id, branch_id, weekday, start_min, end_min) "
            "SELECT r, b, w, :s, :e FROM unnest(CAST(:r AS int[]), CAST(:b AS int[])) AS u(r, b), "
            "generate_series(0, 6) AS w"),
            {"r": shift_res, "b": shift_branch, "s": OPEN_MIN, "e": CLOSE_MIN})
        created["doctors"] += len(doctors)
    if rooms:
        rows = conn.execute(text(
            "INSERT INTO resource (kind, name, category, branch_id) "
            "SELECT 'room', n, :c, b FROM unnest(CAST(:names AS text[]), CAST(:b AS int[])) AS u(n, b) "
            "RETURNING id, name"),
            {"c": ROOM_KIND, "names": [f"{b} · Room {n}" for b, n in rooms],
             "b": [branch_ids[b] for b, _ in rooms]}).all()
        ids = {r.name: int(r.id) for r in rows}
        for b, n in rooms:
            pools[b]["room"].ids[n] = ids[f"{b} · Room {n}"]
        created["rooms"] += len(rooms)


def _allocate_ids(raw: Any, table: str, n: int) -> list[int]:
    if n == 0:
        return []
    with raw.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    (table, n))
        return [r[0] for r in cur.fetchall()]


#: Bulk inserts: one array parameter per column, ``unnest`` turns them back into rows (INSERT, not
#: COPY: COPY FROM is refused into a table with row-level security for every role but its owner).
#: Constants common to every row follow the arrays as plain parameters.
_PATIENT_INSERT = (
    "INSERT INTO patient (id, display_name, gender, source, source_ref, attributes) "
    "SELECT u.id, u.name, u.gender, 'import', u.ref, u.attrs::jsonb "
    "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[]) AS u(id, name, gender, ref, attrs)")
_APPOINTMENT_INSERT = (
    "INSERT INTO appointment (id, patient_id, branch_id, status, starts_at, ends_at, booked_at, external_ref, "
    "patient_age_years, doctor_id, service_id, source, time_assigned_by_import, policy_free_hours, "
    "policy_late_fee_cents, deposit_cents) "
    "SELECT u.*, %s::int, 'import', true, %s::int, %s::int, %s::int "
    "FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::text[], %s::timestamptz[], %s::timestamptz[], "
    "%s::timestamptz[], %s::text[], %s::smallint[], %s::int[]) AS u")
_BOOKING_INSERT = (
    "INSERT INTO booking (appointment_id, resource_id, period) SELECT u.a, u.r, tstzrange(u.lo, u.hi, '[)') "
    "FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[], %s::timestamptz[]) AS u(a, r, lo, hi)")
_REMINDER_INSERT = (
    "INSERT INTO reminder (appointment_id, channel, purpose, due_at, status, sent_at, attempts, idempotency_key) "
    "SELECT u.a, 'sms', 'reminder', u.due, 'sent', u.due, 1, u.k "
    "FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[]) AS u(a, due, k)")
#: What the import analyzes at its end (the columns reports join and filter on).
_ANALYZE = ("ANALYZE appointment (id, patient_id, branch_id, status, starts_at, booked_at), "
            "reminder (appointment_id, channel, purpose, status)")
#: Rows per INSERT statement: big enough that the statement overhead vanishes, small enough to
#: keep each parameter a few hundred kilobytes.
_BATCH = 10_000


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array_literal(column: Iterable[Any]) -> str:
    """A PostgreSQL array literal (text, ``{…}``) of ``column``'s values, for a ``%s::<type>[]``
    parameter: ``None`` as ``NULL``, ints (not bools) as digits, aware datetimes as quoted ISO 8601
    with their offset (an absolute instant whatever the session's TimeZone), strings quoted with
    ``\\`` and ``"`` escaped. Raises ``TypeError`` for any other value (a bug).

    The server parses the literal with the element type's own input function, exactly as it
    parses the text form of an array parameter. Written here because psycopg's list dumper
    escapes each element with a regular expression: for the full file's 79,192 bookings this
    takes a third of its CPU time (0.39 s instead of 1.17 s for their five columns).

    A column of one type throughout (every column the import writes, but ``None`` among others)
    is joined in one pass for its type, without a per-value dispatch (a third of the time again);
    any other column goes value by value.
    """
    if not isinstance(column, list):
        column = list(column)
    kinds = set(map(type, column))
    if kinds == {int}:
        return "{" + ",".join(map(str, column)) + "}"
    if kinds == {str}:
        return "{" + ",".join(map(_quoted, column)) + "}"
    if kinds == {datetime} and None not in map(datetime.utcoffset, column):
        return '{"' + '","'.join(map(datetime.isoformat, column)) + '"}'
    parts: list[str] = []
    append = parts.append
    for v in column:
        if v is None:
            append("NULL")
        elif type(v) is int:
            append(str(v))
        elif type(v) is str:
            append(_quoted(v))
        elif isinstance(v, datetime) and v.utcoffset() is not None:
            append('"' + v.isoformat() + '"')
        else:
            raise TypeError(f"cannot write {type(v).__name__} {v!r} into an array literal")
    return "{" + ",".join(parts) + "}"


def _insert_unnest(raw: Any, statement: str, rows: list[tuple[Any, ...]], *constants: Any) -> None:
    """Insert ``rows`` (tuples, one value per array of ``statement``) in batches of :data:`_BATCH`.

    ``statement`` takes the ``constants`` first, in the order of its ``%s`` before the
    ``unnest``, then one array per column, each sent as one text literal
    (:func:`_array_literal`) that the statement casts to the column's array type.
    Raises psycopg errors (the runners map them).
    """
    if not rows:
        return
    with raw.cursor() as cur:
        for i in range(0, len(rows), _BATCH):
            columns = [_array_literal(col) for col in zip(*rows[i:i + _BATCH], strict=True)]
            cur.execute(statement, (*constants, *columns))


def _import_rows(conn: Connection, rows: list[_Row], zone_name: str,
                 created: dict[str, int]) -> list[tuple[int, str]]:
    """Write ``rows`` (all new, ScheduledDay order); returns the rows that could not be placed."""
    service_id = _ensure_service(conn)
    by_branch: dict[str, list[_Row]] = defaultdict(list)
    for r in rows:
        by_branch[branch_name(r.neighbourhood)].append(r)
    branches = _ensure_branches(conn, by_branch, zone_name, created)
    pools = _load_pools(conn, by_branch)

    # Rows per branch-day (order kept: ScheduledDay), and each day's grid.
    per_day: dict[str, dict[date, list[_Row]]] = {}
    slots: dict[str, dict[date, list[datetime]]] = {}
    for b, brows in by_branch.items():
        tz = branches[b][1]
        days: dict[date, list[_Row]] = defaultdict(list)
        for r in brows:
            days[r.day].append(r)
        per_day[b] = days
        slots[b] = {d: _day_slots(d, tz) for d in days}
    unplaceable: list[tuple[int, str]] = []
    for b, days in per_day.items():
        for d in [d for d, sl in slots[b].items() if not sl]:  # a local date the zone skips
            unplaceable += [(r.line, f"AppointmentDay {d} has no 15-minute start between "
                                     f"{OPEN_MIN // 60:02d}:00 and {CLOSE_MIN // 60:02d}:00 in {b!r}")
                            for r in days.pop(d)]
            del slots[b][d]
    busy = _busy_slots(conn, pools, slots)
    patient_busy = _patient_busy(conn, rows, slots)

    # Plan: enough resources for the busiest new day, more when a day overflows.
    placed: list[tuple[_Row, str, datetime, int, int]] = []
    for b in sorted(per_day):
        days = per_day[b]
        need = max((math.ceil(len(rs) / len(slots[b][d])) for d, rs in days.items()), default=0)
        for kind in ("doctor", "room"):
            while len(pools[b][kind].numbers) < need:
                pools[b][kind].add()
        for d in sorted(days):
            sl = slots[b][d]
            done, refused = _plan_day(days[d], sl, pools[b]["doctor"], pools[b]["room"], busy[b][d],
                                      patient_busy)
            placed += [(row, b, sl[k], dn, rn) for row, k, dn, rn in done]
            unplaceable += [(row.line, f"PatientId {row.patient_id!r} already has an appointment at every "
                                       f"15-minute start of {d} in {b!r}") for row in refused]
    _new_resources(conn, pools, {b: v[0] for b, v in branches.items()}, created)

    raw = driver(conn)

    # Patients: one per PatientId, from its first row (ScheduledDay order).
    placed_lines = {row.line for row, *_ in placed}
    first_row: dict[str, _Row] = {}
    for r in rows:
        if r.line in placed_lines:
            first_row.setdefault(r.patient_id, r)
    refs = {pid: f"{_SOURCE}:{pid}" for pid in first_row}
    patient_ids = {ref: int(i) for ref, i in conn.execute(
        text("SELECT source_ref, id FROM patient WHERE source_ref = ANY(:r)"), {"r": list(refs.values())})}
    missing = [pid for pid, ref in refs.items() if ref not in patient_ids]
    new_ids = _allocate_ids(raw, "patient", len(missing))
    patient_rows: list[tuple[Any, ...]] = []
    for pid, new_id in zip(missing, new_ids, strict=True):
        r = first_row[pid]
        ref = refs[pid]
        patient_ids[ref] = new_id
        attrs = {"Scholarship": r.flags[0], "Hipertension": r.flags[1], "Diabetes": r.flags[2],
                 "Alcoholism": r.flags[3], "Handcap": r.flags[4], "Neighbourhood": r.neighbourhood}
        patient_rows.append((new_id, pseudonym(ref), r.gender, ref, json.dumps(attrs, ensure_ascii=False)))
    _insert_unnest(raw, _PATIENT_INSERT, patient_rows)
    created["patients"] += len(missing)

    # Appointments, their two bookings, and SMS reminders.
    appt_ids = _allocate_ids(raw, "appointment", len(placed))
    # The service's policy snapshot and each appointment's doctor go in with the row, so the per-row
    # triggers that would look them up (0003 appointment_lifecycle, 0005 doctor_id) have nothing to do.
    with raw.cursor() as cur:
        found = cur.execute("SELECT cancel_free_hours, late_cancel_fee_cents, deposit_cents FROM service "
                            "WHERE id = %s", (service_id,)).fetchone()
    policy: tuple[Any, ...] = tuple(found or (None, None, None))
    appointments: list[tuple[Any, ...]] = []
    bookings: list[tuple[int, int, datetime, datetime]] = []
    reminders: list[tuple[int, datetime, str]] = []
    for (row, b, start, dn, rn), aid in zip(placed, appt_ids, strict=True):
        bid, tz = branches[b]
        booked = row.scheduled.replace(tzinfo=tz)
        end = start + _SLOT
        doctor_id = pools[b]["doctor"].ids[dn]
        appointments.append((aid, patient_ids[f"{_SOURCE}:{row.patient_id}"], bid,
                             "no_show" if row.no_show else "completed", start, end, booked,
                             f"{_SOURCE}:{row.appointment_id}", row.age, doctor_id))
        bookings.append((aid, doctor_id, start, end))
        bookings.append((aid, pools[b]["room"].ids[rn], start, end))
        if row.sms:
            local = start.astimezone(tz)
            due = local_to_utc(row.day - timedelta(days=1), local.hour * 60 + local.minute, tz)
            due = max(due, booked.astimezone(UTC))
            reminders.append((aid, due, f"import:{_SOURCE}:{row.appointment_id}:sms"))
    _insert_unnest(raw, _APPOINTMENT_INSERT, appointments, service_id, *policy)
    _insert_unnest(raw, _BOOKING_INSERT, bookings)
    _insert_unnest(raw, _REMINDER_INSERT, reminders)
    created["bookings"] += len(bookings)
    created["reminders"] += len(reminders)
    # Fresh planner statistics for what reports join on, so a report right after a bulk load gets
    # hash joins rather than nested loops planned for empty tables (autovacuum would catch up only
    # later: a report planned without them took 70-120 s instead of 2 s). ANALYZE may run in a
    # transaction and counts the rows this one inserted; the columns are limited to keep it cheap
    # (~50 ms for the full file). Only the tables' owner (or, PostgreSQL 17+, a role with MAINTAIN)
    # may ANALYZE; an administrator's import goes through clinic_analyze_import(), a SECURITY
    # DEFINER function of the owner that runs the same ANALYZE, where the schema has it. Without
    # either, PostgreSQL only warns and skips the tables.
    with raw.cursor() as cur:
        door = cur.execute("SELECT to_regprocedure('public.clinic_analyze_import()') IS NOT NULL").fetchone()
        if door and door[0]:
            cur.execute("SELECT public.clinic_analyze_import()")
        else:
            cur.execute(_ANALYZE)
    return unplaceable
