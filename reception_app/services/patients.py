"""Patients: add, find, change, read a record, and spot likely duplicates before adding.

Phones are stored in E.164, e-mail addresses normalised (``domain.validation``).
Search folds accents and case (``clinic_fold`` = lower(unaccent(...)) in
PostgreSQL), takes candidates by trigram similarity (pg_trgm, migration 0001)
and forgives typos word by word, so "joao" finds "João" and "Mraia Slva" finds
"Maria Silva"; text that looks like a phone number or a date of birth
(dd/mm/yyyy or yyyy-mm-dd) searches those fields instead (``find_patients``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from ..domain.errors import NotFound, ValidationError
from ..domain.status import RELEASED
from ..domain.validation import clean_name, parse_birth_date, parse_channels, parse_email, parse_phone
from ..store import schema as t
from ..store.database import Database
from . import checks
from .appointments import AppointmentView, patient_appointments


@dataclass(frozen=True)
class PatientView:
    """A patient as the desk sees them."""

    id: int
    name: str
    birth_date: date | None
    phone: str | None
    email: str | None
    channels: tuple[str, ...]
    #: True when :func:`add_patient` found this patient already added with the same client id (a
    #: retry after an unknown outcome, a double click) instead of adding one now.
    already_added: bool = False

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "name": self.name,
               "birth_date": self.birth_date.isoformat() if self.birth_date else None,
               "phone": self.phone, "email": self.email, "channels": list(self.channels)}
        if self.already_added:
            out["already_added"] = True
        return out


def _view(row: Any) -> PatientView:
    return PatientView(row.id, row.display_name, row.birth_date, row.phone, row.email,
                       tuple(row.consent_channels or ()))


def add_patient(db: Database, *, name: str, birth_date: str | date, phone: str | None = None,
                email: str | None = None, channels: list[str] | None = None,
                client_id: uuid.UUID | str | None = None) -> PatientView:
    """Create a patient. Consent channels default to those a contact was given for
    (sms and whatsapp need a phone, email an address).

    ``client_id`` (a UUID the caller makes once per "Add patient") makes a retry safe: a
    second call with the same id adds nothing and returns that patient with
    ``already_added=True`` (column ``patient.client_id``, unique; migration 0009).

    Raises ``ValidationError`` naming the field (nothing is written); ``ValidationError("client_id", …)``
    when the id was used for a patient of another name or date of birth.
    """
    values = {
        "display_name": clean_name(name, "name"),
        "birth_date": parse_birth_date(birth_date),
        "phone": parse_phone(phone),
        "email": parse_email(email),
    }
    chosen = parse_channels(channels) if channels is not None else (
        (["sms"] if values["phone"] else []) + (["email"] if values["email"] else []))
    for ch in chosen:
        if ch in ("sms", "whatsapp") and not values["phone"]:
            raise ValidationError("channels", ch, "needs a phone number")
        if ch == "email" and not values["email"]:
            raise ValidationError("channels", ch, "needs an e-mail address")
    values["consent_channels"] = chosen
    values["client_id"] = checks.client_id(client_id) if client_id else uuid.uuid4()

    def work(conn: Connection) -> PatientView:
        row = conn.execute(pg_insert(t.patient).values(**values).on_conflict_do_nothing(index_elements=["client_id"])
                           .returning(*t.patient.c)).first()
        if row is not None:
            return _view(row)
        earlier = conn.execute(t.patient.select().where(t.patient.c.client_id == values["client_id"])).one()
        if (earlier.display_name, earlier.birth_date) != (values["display_name"], values["birth_date"]):
            raise ValidationError("client_id", str(values["client_id"]), f"was already used for patient {earlier.id}")
        return replace(_view(earlier), already_added=True)

    return db.write(work, reason="patient added")


_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+$")
_DOB_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_DOB_YMD = re.compile(r"^(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})$")
_WORD = re.compile(r"[^\W_]+")

#: Digits a phone search needs at least (fewer is more likely part of a name or a date).
MIN_PHONE_DIGITS = 4

#: How many name candidates the database hands to the typo check (best trigram matches first).
_NAME_CANDIDATES = 200


def _parse_dob(q: str) -> date | None:
    """A date of birth typed as ``dd/mm/yyyy`` (also ``-`` or ``.``, one-digit day or month) or
    ``yyyy-mm-dd`` (also ``/``); None if ``q`` is not one. Day-first, as at a Brazilian desk."""
    m = _DOB_DMY.match(q)
    if m:
        day, month, year = (int(x) for x in m.groups())
    else:
        m = _DOB_YMD.match(q)
        if not m:
            return None
        year, month, day = (int(x) for x in m.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _phone_digits(q: str) -> str | None:
    """The digits of a phone-like query (``+55 (27) 99999-0001``, ``027 99999 0001``), trunk and
    international prefixes (leading zeros) dropped; None if ``q`` is not phone-like."""
    if not _PHONE_CHARS.match(q):
        return None
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 8:  # a whole number: a trunk "0" or an international "00" is not in E.164
        digits = digits.lstrip("0")
    return digits if len(digits) >= MIN_PHONE_DIGITS else None


def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
    neighbouring letters each cost 1 ("mraia" → "maria" is 1)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _typos_allowed(word: str) -> int:
    """Typos forgiven in a query word: none up to 3 letters, 1 up to 6, 2 from 7."""
    return 0 if len(word) <= 3 else 1 if len(word) <= 6 else 2


def _word_score(word: str, name_words: list[str], name: str) -> float:
    """How well one folded query word matches a folded name: 3 a whole word, 2 the start of a
    word, 1.5 inside the name, 1 with typos (whole word or its start), 0 no match."""
    best = 0.0
    for nw in name_words:
        if nw == word:
            return 3.0
        if nw.startswith(word):
            best = max(best, 2.0)
    if best:
        return best
    if len(word) >= 3 and word in name:
        return 1.5
    allowed = _typos_allowed(word)
    if allowed and any(_edit_distance(word, nw) <= allowed or _edit_distance(word, nw[:len(word)]) <= allowed
                       for nw in name_words):
        return 1.0
    return 0.0


def find_patients(db: Database, query: str, *, limit: int = 20) -> list[PatientView]:
    """Patients matching ``query``, best first, at most ``limit``; one read-only transaction.

    What the text is taken for:

    - a date of birth: ``dd/mm/yyyy`` (day first; ``-`` and ``.`` too, one-digit
      day or month) or ``yyyy-mm-dd``: patients born that day, by name;
    - a phone number in any format (``+55 27 99999-0001``, ``(27) 99999-0001``,
      ``027999990001``; at least ``MIN_PHONE_DIGITS`` digits): patients whose
      E.164 phone contains those digits (leading zeros of a whole number —
      trunk or international prefixes — ignored); an exact whole number first;
    - otherwise a name, case and accents ignored (``clinic_fold``: "joao" finds
      "João"), each word matching some word of the name: whole, its start, or
      with typos (1 typo in words of 4-6 letters, 2 from 7 — a swap of two
      neighbouring letters is one). The database proposes candidates (substring,
      pg_trgm word similarity ≥ 0.3, or a substring with two neighbouring
      letters swapped; up to 200, all index searches) and the typo check keeps and
      ranks them: whole words, then starts of words, then typos; then name.

    Raises ``ValidationError("query", …)`` for empty text.
    """
    q = " ".join((query or "").split())
    if not q:
        raise ValidationError("query", query, "must not be empty")
    born = _parse_dob(q)
    digits = None if born else _phone_digits(q)

    def work(conn: Connection) -> list[PatientView]:
        if born is not None:
            sql = "SELECT * FROM patient WHERE birth_date = :d ORDER BY display_name, id LIMIT :l"
            return [_view(r) for r in conn.execute(text(sql), {"d": born, "l": limit})]
        if digits is not None:
            sql = ("SELECT * FROM patient WHERE phone LIKE '%' || :d || '%' "
                   "ORDER BY (phone = '+' || :d) DESC, display_name, id LIMIT :l")
            return [_view(r) for r in conn.execute(text(sql), {"d": digits, "l": limit})]
        return _find_by_name(conn, q, limit)

    return db.read(work)


def _find_by_name(conn: Connection, q: str, limit: int) -> list[PatientView]:
    words = [w for w in _WORD.findall(conn.execute(text("SELECT clinic_fold(:q)"), {"q": q}).scalar_one())][:6]
    if not words:
        return []
    conn.execute(text("SELECT set_config('pg_trgm.word_similarity_threshold', '0.3', true)"))
    params: dict[str, Any] = {"l": _NAME_CANDIDATES}
    tests, scores = [], []
    for i, w in enumerate(words):
        params[f"w{i}"] = w
        if len(w) < 3:  # too short for trigrams: the start of a word
            tests.append(f"(clinic_fold(display_name) LIKE :w{i} || '%' "
                         f"OR clinic_fold(display_name) LIKE '% ' || :w{i} || '%')")
        else:
            alternatives = [f"clinic_fold(display_name) LIKE '%' || :w{i} || '%'",
                            f":w{i} <% clinic_fold(display_name)"]
            # Two neighbouring letters swapped keep too few trigrams ("mraia"/"maria"): look for the swaps.
            swaps = sorted({w[:j] + w[j + 1] + w[j] + w[j + 2:] for j in range(len(w) - 1)} - {w})
            for k, swapped in enumerate(swaps if _typos_allowed(w) else []):
                params[f"w{i}s{k}"] = swapped
                alternatives.append(f"clinic_fold(display_name) LIKE '%' || :w{i}s{k} || '%'")
            tests.append(f"({' OR '.join(alternatives)})")
            scores.append(f"word_similarity(:w{i}, clinic_fold(display_name))")
    score = " + ".join(scores) or "0"
    sql = (f"SELECT *, clinic_fold(display_name) AS folded, {score} AS score FROM patient "
           f"WHERE {' OR '.join(tests)} ORDER BY score DESC, display_name, id LIMIT :l")
    ranked = []
    for row in conn.execute(text(sql), params):
        name_words = _WORD.findall(row.folded)
        points = [_word_score(w, name_words, row.folded) for w in words]
        if all(points):
            ranked.append((-sum(points), -float(row.score), row.display_name, row.id, row))
    ranked.sort(key=lambda r: r[:4])
    return [_view(r[-1]) for r in ranked[:limit]]


def get_patient(db: Database, patient_id: int) -> PatientView:
    """One patient by id. Raises ``NotFound("patient", …)``."""
    def work(conn: Connection) -> PatientView:
        row = conn.execute(text("SELECT * FROM patient WHERE id = :i"), {"i": patient_id}).first()
        if row is None:
            raise NotFound("patient", patient_id)
        return _view(row)
    return db.read(work)


def patients_by_id(db: Database, patient_ids: Iterable[int]) -> dict[int, PatientView]:
    """The patients of ``patient_ids`` by id (unknown ids left out; none asked, no query), for what
    prints a patient's phone and age beside an appointment (the day sheet, the day list)."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}

    def work(conn: Connection) -> dict[int, PatientView]:
        rows = conn.execute(text("SELECT * FROM patient WHERE id = ANY(:ids)"), {"ids": ids}).all()
        return {int(r.id): _view(r) for r in rows}
    return db.read(work)


class _Keep:
    """Marks an argument of :func:`update_patient` that was not given (the value stays)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


def update_patient(db: Database, patient_id: int, *, name: str = KEEP, birth_date: str | date = KEEP,
                   phone: str | None = KEEP, email: str | None = KEEP,
                   channels: list[str] | tuple[str, ...] = KEEP,
                   reason: str | None = None) -> PatientView:
    """Change a patient's details in one SERIALIZABLE transaction; arguments not given stay as they are.

    ``phone``/``email``: ``None`` or empty text removes them. Each value is
    checked as in :func:`add_patient` (E.164 phone, e-mail syntax, birth date
    not in the future). Consent channels must have their contact: the
    channels after the change (given, or kept) are checked against the phone
    and e-mail after the change, so removing a phone while SMS consent stays
    is refused — uncheck the channel in the same call.

    Raises ``ValidationError`` naming the field (nothing is written),
    ``NotFound("patient", …)``, ``PermissionDenied``.
    """
    values: dict[str, Any] = {}
    if name is not KEEP:
        values["display_name"] = clean_name(name, "name")
    if birth_date is not KEEP:
        values["birth_date"] = parse_birth_date(birth_date)
    if phone is not KEEP:
        values["phone"] = parse_phone(phone)
    if email is not KEEP:
        values["email"] = parse_email(email)
    if channels is not KEEP:
        values["consent_channels"] = parse_channels(list(channels))

    def work(conn: Connection) -> PatientView:
        row = conn.execute(text("SELECT * FROM patient WHERE id = :i FOR UPDATE"), {"i": patient_id}).first()
        if row is None:
            raise NotFound("patient", patient_id)
        after_phone = values.get("phone", row.phone)
        after_email = values.get("email", row.email)
        for ch in values.get("consent_channels", row.consent_channels or ()):
            if ch in ("sms", "whatsapp") and not after_phone:
                raise ValidationError("channels", ch, "needs a phone number")
            if ch == "email" and not after_email:
                raise ValidationError("channels", ch, "needs an e-mail address")
        if not values:
            return _view(row)
        new = conn.execute(update(t.patient).where(t.patient.c.id == patient_id).values(**values)
                           .returning(*t.patient.c)).one()
        return _view(new)

    return db.write(work, reason=reason or "patient details changed")


@dataclass(frozen=True)
class PatientRecord:
    """A patient's record as the desk shows it.

    ``upcoming``: appointments not yet over at ``now`` and not cancelled or
    rescheduled, earliest first; ``cancelled``: the cancelled or rescheduled
    ones not yet over (their time is still to come: the desk rebooks them),
    earliest first; ``past``: every appointment over at ``now``, latest first,
    whatever its status. Times are UTC; ``zones`` maps each branch id in them
    to its IANA zone, to show branch-local times.
    """

    patient: PatientView
    upcoming: tuple[AppointmentView, ...]
    past: tuple[AppointmentView, ...]
    zones: dict[int, str]
    cancelled: tuple[AppointmentView, ...] = ()


def patient_record(db: Database, patient_id: int, *, now: datetime) -> PatientRecord:
    """The patient and their appointments, read in one transaction. Raises ``NotFound``."""
    def work(conn: Connection) -> PatientRecord:
        row = conn.execute(text("SELECT * FROM patient WHERE id = :i"), {"i": patient_id}).first()
        if row is None:
            raise NotFound("patient", patient_id)
        appointments = patient_appointments(conn, patient_id)
        zones = {int(i): str(z) for i, z in conn.execute(text(
            "SELECT id, timezone FROM branch WHERE id = ANY(:ids)"),
            {"ids": sorted({a.branch_id for a in appointments})})}
        ahead = [a for a in appointments if a.end > now]
        upcoming = tuple(a for a in ahead if a.status not in RELEASED)
        cancelled = tuple(a for a in ahead if a.status in RELEASED)
        past = tuple(a for a in reversed(appointments) if a.end <= now)
        return PatientRecord(_view(row), upcoming, past, zones, cancelled)
    return db.read(work)


#: At most this many likely duplicates are returned.
DUPLICATE_LIMIT = 5


def likely_duplicates(db: Database, *, name: str, birth_date: str | date,
                      phone: str | None = None) -> list[PatientView]:
    """Existing patients a new one with these details probably duplicates.

    The rule: a patient matches when
      - it has the same phone (the input normalised to E.164 with ``parse_phone``), or
      - it has the same name, compared with ``clinic_fold`` (case and accents
        ignored, white space folded), AND the same date of birth.

    Best match first: phone and name+birth both matching, then name+birth only,
    then phone only (a shared phone is often a relative's); ties by name and id.
    At most ``DUPLICATE_LIMIT``, read in one transaction; nothing is written.

    Raises ``ValidationError`` naming the field (``name``, ``birth_date``,
    ``phone``) for invalid input, with the same checks as ``add_patient``.
    """
    clean = clean_name(name, "name")
    born = parse_birth_date(birth_date)
    e164 = parse_phone(phone)
    sql = text(
        "SELECT * FROM ("
        "  SELECT *, COALESCE(phone = CAST(:p AS text), false) AS phone_match,"
        "         (birth_date = :d AND clinic_fold(regexp_replace(btrim(display_name), '\\s+', ' ', 'g'))"
        "                              = clinic_fold(CAST(:n AS text))) AS person_match"
        "  FROM patient"
        "  WHERE (CAST(:p AS text) IS NOT NULL AND phone = CAST(:p AS text)) OR birth_date = :d"
        ") m WHERE phone_match OR person_match "
        "ORDER BY (phone_match AND person_match) DESC, person_match DESC, display_name, id "
        "LIMIT :l")

    def work(conn: Connection) -> list[PatientView]:
        rows = conn.execute(sql, {"p": e164, "d": born, "n": clean, "l": DUPLICATE_LIMIT})
        return [_view(r) for r in rows]

    return db.read(work)
