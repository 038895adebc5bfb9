"""Patients: add, find, and spot likely duplicates before adding.

Phones are stored in E.164, e-mail addresses normalised (``domain.validation``).
Search folds accents and case (``clinic_fold`` = lower(unaccent(...)) in
PostgreSQL) and ranks by trigram similarity, so "joao" finds "João" and small
typos still match; text that looks like a phone number or an ISO date searches
those fields instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import Connection

from ..domain.errors import ValidationError
from ..domain.validation import clean_name, parse_birth_date, parse_channels, parse_email, parse_phone
from ..store import schema as t
from ..store.database import Database


@dataclass(frozen=True)
class PatientView:
    """A patient as the desk sees them."""

    id: int
    name: str
    birth_date: date | None
    phone: str | None
    email: str | None
    channels: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name,
                "birth_date": self.birth_date.isoformat() if self.birth_date else None,
                "phone": self.phone, "email": self.email, "channels": list(self.channels)}


def _view(row: Any) -> PatientView:
    return PatientView(row.id, row.display_name, row.birth_date, row.phone, row.email,
                       tuple(row.consent_channels or ()))


def add_patient(db: Database, *, name: str, birth_date: str | date, phone: str | None = None,
                email: str | None = None, channels: list[str] | None = None) -> PatientView:
    """Create a patient. Consent channels default to those a contact was given for
    (sms and whatsapp need a phone, email an address).

    Raises ``ValidationError`` naming the field (nothing is written).
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

    def work(conn: Connection) -> PatientView:
        row = conn.execute(insert(t.patient).values(**values).returning(*t.patient.c)).one()
        return _view(row)

    return db.write(work, reason="patient added")


_PHONEISH = re.compile(r"^\+?[\d\s().-]{6,}$")


def find_patients(db: Database, query: str, *, limit: int = 20) -> list[PatientView]:
    """Patients matching ``query``: name (accent- and typo-tolerant), phone, or
    date of birth (YYYY-MM-DD). Best matches first; at most ``limit``."""
    q = " ".join((query or "").split())
    if not q:
        raise ValidationError("query", query, "must not be empty")

    def work(conn: Connection) -> list[PatientView]:
        try:
            born = date.fromisoformat(q)
        except ValueError:
            born = None
        if born is not None:
            sql = "SELECT * FROM patient WHERE birth_date = :d ORDER BY display_name LIMIT :l"
            return [_view(r) for r in conn.execute(text(sql), {"d": born, "l": limit})]
        if _PHONEISH.match(q):
            digits = re.sub(r"\D", "", q)
            sql = ("SELECT * FROM patient WHERE regexp_replace(phone, '\\D', '', 'g') LIKE '%' || :d || '%' "
                   "ORDER BY display_name LIMIT :l")
            return [_view(r) for r in conn.execute(text(sql), {"d": digits, "l": limit})]
        sql = ("SELECT *, word_similarity(clinic_fold(:q), clinic_fold(display_name)) AS score FROM patient "
               "WHERE clinic_fold(display_name) LIKE '%' || clinic_fold(:q) || '%' "
               "   OR clinic_fold(:q) <% clinic_fold(display_name) "
               "ORDER BY (clinic_fold(display_name) LIKE clinic_fold(:q) || '%') DESC, score DESC, display_name "
               "LIMIT :l")
        return [_view(r) for r in conn.execute(text(sql), {"q": q, "l": limit})]

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
