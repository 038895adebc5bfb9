"""``clinic config apply FILE.toml``: create or update the clinic, idempotently and by name.

The file format is documented in README.md ("Clinic configuration file") and
the demo clinic ships as ``resources/demo_clinic.toml``. Every table is
optional; sections are applied in dependency order (branches, then resources,
services, holidays, time off) in ONE serializable transaction: a bad file
writes nothing.

Services may carry the booking lifecycle's policy (issue 4): ``confirmation``
(``"immediate"`` | ``"approval"`` | ``"hybrid"``), ``deposit`` and
``late_cancel_fee`` (money as decimal strings, ``"20.00"``, stored in cents),
``cancel_free_hours`` (free cancellation until N hours before the start). A
single ``[clinic]`` table sets clinic-wide settings (``clinic_setting``):
``hold_minutes``, ``offer_minutes`` (whole minutes ≥ 1), ``currency``
(ISO 4217, ``"EUR"``) and ``max_amount`` (``"5000.00"``: the largest single
payment or refund the clinic takes, stored in cents as ``max_amount_cents``;
:data:`DEFAULT_MAX_AMOUNT_CENTS` when never set). A branch may give the
reminder service's ``phone``, ``language`` and ``quiet_hours``
(``"21:00-08:00"``, branch-local).

What a file is refused for (``ValidationError`` naming the place in the file
and the value; nothing is written): not UTF-8 or holding a NUL (the byte
offset is named), not TOML, unknown keys, missing fields; names that are
empty or hold control characters; two branches, two services, or two
resources (doctors, rooms and equipment share one namespace) with one name,
and two holidays of a branch on one date; negative or absurd whole numbers
(durations, buffers, notice, horizon, hours); times that are not ``HH:MM``
and intervals of length zero (an end before the start is an overnight
interval, ``"22:00-06:00"``); dates outside 2000-01-01 .. 2099-12-31
(``domain.validation``); time off whose ``until`` is not after ``from``;
amounts that are not plain decimals (``"1e6"``).

Rules: a branch's weekly hours and a doctor's shifts are replaced by what the
file says when it gives them (a day missing from ``hours`` is closed; a branch
without ``hours`` or a doctor without ``shifts`` keeps what it has, so a file
that only sets a branch's ``locale`` closes nothing); other rows are created or
updated by name; nothing is deleted that the file does not mention.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain import policy
from ..domain.errors import NotFound, ValidationError
from ..domain.formats import Formats, check_locale, formats_for
from ..domain.status import NO_SHOW_GRACE_MINUTES
from ..domain.validation import (
    check_text,
    clean_name,
    parse_amount,
    parse_date,
    parse_phone,
    parse_schedule_instant,
)
from ..domain.wallclock import MINUTES_PER_DAY, parse_hhmm_range
from ..store.database import Database

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_SCHEMA: dict[str, tuple[set[str], set[str]]] = {
    # section: (required keys, optional keys)
    "branch": ({"name", "timezone"}, {"hours", "phone", "language", "quiet_hours", "locale"}),
    "doctor": ({"name", "specialty"}, {"shifts", "login", "online", "online_confirmation"}),
    "room": ({"name", "branch", "kind"}, set()),
    "equipment": ({"name", "branch", "kind"}, set()),
    "service": ({"name", "duration"}, {"buffer_before", "buffer_after", "min_notice", "horizon", "needs",
                                       "confirmation", "deposit", "cancel_free_hours", "late_cancel_fee",
                                       "online"}),
    "holiday": ({"branch", "date", "name"}, set()),
    "time_off": ({"resource", "from", "until"}, {"reason"}),
}
_SHIFT_KEYS = ({"branch", "days", "hours"}, {"from", "until"})
#: The single ``[clinic]`` table: clinic-wide settings (``clinic_setting``, migration 0003).
_CLINIC_KEYS = {"hold_minutes", "offer_minutes", "currency", "max_amount", "no_show_grace_minutes",
                "name", "legal_name", "address", "tax_id"}
#: The single ``[portal]`` table (issue 17): the patient portal's settings (``clinic_setting``
#: ``portal_*``): whole numbers (minutes, days) and the page's texts.
_PORTAL_INTS = {"hold_minutes": (1, 60), "min_notice": (0, 525_600), "horizon": (1, 3660), "code_minutes": (1, 60),
                "max_holds": (1, 100_000), "link_days_after": (0, 365)}
_PORTAL_TEXTS = {"title": 80, "colour": 7, "terms": 4000, "public_url": 300, "logo": 300}
_PORTAL_KEYS = set(_PORTAL_INTS) | set(_PORTAL_TEXTS)
#: ``[portal]`` key → ``clinic_setting`` key (the database functions read these names).
_PORTAL_SETTING = {"hold_minutes": "portal_hold_minutes", "min_notice": "portal_min_notice_min",
                   "horizon": "portal_horizon_days", "code_minutes": "portal_code_minutes",
                   "max_holds": "portal_max_holds", "link_days_after": "portal_link_days_after",
                   **{k: f"portal_{k}" for k in _PORTAL_TEXTS}}
#: The ``[clinic]`` keys that are printed on receipts (free text, one line each but the address).
_CLINIC_TEXT_KEYS = ("name", "legal_name", "address", "tax_id")
#: The ceiling of one payment or refund when ``clinic_setting`` has no ``max_amount_cents`` row (5,000.00).
DEFAULT_MAX_AMOUNT_CENTS = 500_000
#: The largest ceiling a file may set: amounts are ``integer`` cents in the database.
_MAX_CENTS = 2_147_483_647
#: Upper bounds of the whole numbers in a file (a year of minutes, ten years of days, …).
_INT_MAX = {"duration": 1440, "buffer_before": 1440, "buffer_after": 1440, "min_notice": 525_600,
            "horizon": 3660, "cancel_free_hours": 8784, "hold_minutes": 1440, "offer_minutes": 10_080,
            "no_show_grace_minutes": 1440}
_NEEDS_KEYS = {"doctor", "room", "equipment"}


@dataclass
class ApplyResult:
    """What ``apply`` did: per section, names created and names updated."""

    created: dict[str, list[str]] = field(default_factory=dict)
    updated: dict[str, list[str]] = field(default_factory=dict)

    def note(self, section: str, name: str, inserted: bool) -> None:
        (self.created if inserted else self.updated).setdefault(section, []).append(name)

    def summary(self) -> str:
        parts = []
        for section in _SCHEMA:
            c, u = len(self.created.get(section, [])), len(self.updated.get(section, []))
            if c or u:
                parts.append(f"{section}: {c} created, {u} updated")
        return "; ".join(parts) or "nothing to apply"


def load_file(path: str | Path) -> dict[str, Any]:
    """Read and check a config file (UTF-8 TOML); returns the parsed tables.

    Raises ``ValidationError("file", path, …)`` for a file that does not exist
    or cannot be read, bytes that are not UTF-8 or a NUL byte (with the byte
    offset of the first one), TOML syntax; and what :func:`check` raises.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError as exc:
        raise ValidationError("file", str(path), "does not exist") from exc
    except OSError as exc:
        raise ValidationError("file", str(path), f"cannot be read ({exc.strerror or exc})") from exc
    nul = raw.find(b"\0")
    if nul >= 0:
        raise ValidationError("file", str(path), f"holds a NUL byte at byte offset {nul}")
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError("file", str(path), f"is not valid UTF-8 at byte offset {exc.start}") from exc
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError("file", str(path), f"is not valid TOML: {exc}") from exc
    check(data)
    return data


def _check_keys(where: str, item: Any, required: set[str], optional: set[str]) -> None:
    if not isinstance(item, dict):
        raise ValidationError(where, item, "must be a table")
    unknown = sorted(set(item) - required - optional)
    if unknown:
        raise ValidationError(f"{where}.{unknown[0]}", item[unknown[0]], "is not a known key")
    missing = sorted(required - set(item))
    if missing:
        raise ValidationError(f"{where}.{missing[0]}", None, "is missing")


def check(data: dict[str, Any]) -> None:
    """Structural check of a parsed config (keys and presence; values are checked while applying)."""
    unknown = sorted(set(data) - set(_SCHEMA) - {"clinic", "portal"})
    if "clinic" in data:
        _check_keys("clinic", data["clinic"], set(), _CLINIC_KEYS)
    if "portal" in data:
        _check_keys("portal", data["portal"], set(), _PORTAL_KEYS)
    if unknown:
        raise ValidationError(unknown[0], "[[" + unknown[0] + "]]", "is not a known section")
    for section, (required, optional) in _SCHEMA.items():
        items = data.get(section, [])
        if not isinstance(items, list):
            raise ValidationError(section, items, f"must be an array of tables: [[{section}]]")
        for i, item in enumerate(items):
            label = f"{section}[{i}]" if not isinstance(item, dict) or "name" not in item else \
                f"{section} {item['name']!r}"
            _check_keys(label, item, required, optional)
            if section == "doctor":
                for j, sh in enumerate(item.get("shifts", [])):
                    _check_keys(f"{label}.shifts[{j}]", sh, *_SHIFT_KEYS)
            if section == "service" and "needs" in item:
                _check_keys(f"{label}.needs", item["needs"], set(), _NEEDS_KEYS)
    _check_duplicates(data)


#: Sections whose rows share one namespace of names in the database (``resource.name`` is unique).
_NAMESPACES = (("branch",), ("doctor", "room", "equipment"), ("service",))


def _check_duplicates(data: dict[str, Any]) -> None:
    """Refuse one name twice in a namespace (branches; doctors, rooms and equipment together;
    services) and two holidays of one branch on one date: applied in order, the second row would
    silently overwrite the first. Names are compared as stored (``clean_name``)."""
    for sections in _NAMESPACES:
        seen: dict[str, str] = {}
        for section in sections:
            for item in data.get(section, []):
                name = clean_name(item["name"], f"{section}.name")
                if name in seen:
                    first = seen[name]
                    also = f"the {first} of that name" if first != section else "another of that name"
                    raise ValidationError(f"{section}.name", item["name"], f"is a duplicate: the file also has {also}")
                seen[name] = section
    days: set[tuple[str, str]] = set()
    for h in data.get("holiday", []):
        key = (str(h["branch"]), str(h["date"]))
        if key in days:
            raise ValidationError(f"holiday {h.get('name')!r}.date", h["date"],
                                  f"is a duplicate: the file has another holiday of {key[0]!r} on that date")
        days.add(key)


def _int(where: str, value: Any, minimum: int = 0) -> int:
    """A whole number from ``minimum`` to the key's bound in :data:`_INT_MAX` (the last part of ``where``)."""
    maximum = _INT_MAX.get(where.rsplit(".", 1)[-1], 2_147_483_647)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValidationError(where, value, f"must be a whole number from {minimum} to {maximum}")
    return value


def _days(where: str, value: Any) -> list[int]:
    if not isinstance(value, list) or not value:
        raise ValidationError(where, value, "must be a non-empty list of days like [\"mon\", \"tue\"]")
    out = []
    for d in value:
        key = str(d).strip().lower()[:3]
        if key not in WEEKDAYS:
            raise ValidationError(where, d, "is not a day (mon, tue, wed, thu, fri, sat, sun)")
        out.append(WEEKDAYS.index(key))
    return out


def _ranges(where: str, value: Any) -> list[tuple[int, int]]:
    if not isinstance(value, list):
        raise ValidationError(where, value, "must be a list like [\"08:00-12:00\"]")
    # An end of "00:00" is midnight at the end of the day: stored as 1440 (24:00).
    return [(start, end or MINUTES_PER_DAY) for start, end in (parse_hhmm_range(str(v), where) for v in value)]


def _upsert(conn: Connection, sql: str, params: dict) -> tuple[int, bool]:
    row = conn.execute(text(sql + " RETURNING id, (xmax = 0) AS inserted"), params).one()
    return row.id, row.inserted


def apply(db: Database, data: dict[str, Any], *, source: str = "config") -> ApplyResult:
    """Apply a checked config dict in one transaction. Raises ValidationError / NotFound."""
    check(data)
    return db.write(lambda conn: _apply(conn, data), reason=f"config apply {source}")


def apply_file(db: Database, path: str | Path) -> ApplyResult:
    """Read, check and apply FILE. Raises ValidationError naming the field and value."""
    return apply(db, load_file(path), source=str(path))


def _branch_id(conn: Connection, name: str, where: str) -> int:
    bid = conn.execute(text("SELECT id FROM branch WHERE name = :n"), {"n": name}).scalar()
    if bid is None:
        raise NotFound("branch", name) if where == "branch" else ValidationError(where, name, "no such branch")
    return int(bid)


def _confirmation(where: str, value: Any) -> str:
    if value not in policy.CONFIRMATION_MODES:
        raise ValidationError(where, value, f"must be one of {', '.join(policy.CONFIRMATION_MODES)}")
    return str(value)


def max_amount_cents(conn: Connection) -> int:
    """The ceiling of one payment or refund, in cents: setting ``max_amount_cents`` (a jsonb integer,
    ``[clinic] max_amount`` of the config file), :data:`DEFAULT_MAX_AMOUNT_CENTS` when the row is
    missing or not a whole number."""
    # Read as the database reads it (clinic_setting_int, used by the payment_guard trigger), so the
    # service and the database always apply the same ceiling.
    value = conn.execute(text("SELECT clinic_setting_int('max_amount_cents', :d)"),
                         {"d": DEFAULT_MAX_AMOUNT_CENTS}).scalar()
    return int(value) if value and int(value) > 0 else DEFAULT_MAX_AMOUNT_CENTS


def _apply_clinic(conn: Connection, clinic: dict[str, Any]) -> None:
    """``[clinic]`` → ``clinic_setting`` rows (only the keys given)."""
    import json

    values: dict[str, Any] = {}
    for key in ("hold_minutes", "offer_minutes"):
        if key in clinic:
            values[key] = _int(f"clinic.{key}", clinic[key], 1)
    if "currency" in clinic:
        cur = str(clinic["currency"])
        if len(cur) != 3 or not cur.isascii() or not cur.isalpha() or not cur.isupper():
            raise ValidationError("clinic.currency", clinic["currency"], 'must be an ISO 4217 code like "EUR"')
        values["currency"] = cur
    if "max_amount" in clinic:
        values["max_amount_cents"] = parse_amount(clinic["max_amount"], "clinic.max_amount", max_cents=_MAX_CENTS)
    if "no_show_grace_minutes" in clinic:
        values["no_show_grace_minutes"] = _int("clinic.no_show_grace_minutes", clinic["no_show_grace_minutes"], 0)
    for key in _CLINIC_TEXT_KEYS:
        if key in clinic:
            lines = [clean_name(line, f"clinic.{key}") for line in str(clinic[key]).splitlines() if line.strip()]
            if not lines or (key != "address" and len(lines) > 1):
                raise ValidationError(f"clinic.{key}", clinic[key], "must be one line of text" if lines
                                      else "must not be empty")
            values[key] = "\n".join(lines)
    for key, value in values.items():
        conn.execute(text("INSERT INTO clinic_setting (key, value) VALUES (:k, CAST(:v AS jsonb)) "
                          "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"), {"k": key, "v": json.dumps(value)})


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(where, value, "must be true or false")
    return value


def _apply_online(conn: Connection, table: str, row_id: int, where: str, item: dict[str, Any]) -> None:
    """``online`` (a service or doctor patients may book on the portal) and a doctor's
    ``online_confirmation`` (their own mode for online bookings), each only when the file gives it."""
    values: dict[str, Any] = {}
    if "online" in item:
        values["online"] = _bool(f"{where}.online", item["online"])
    if "online_confirmation" in item:
        values["online_confirmation_mode"] = _confirmation(f"{where}.online_confirmation",
                                                           item["online_confirmation"])
    if values:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        conn.execute(text(f"UPDATE {table} SET {sets} WHERE id = :id"), {**values, "id": row_id})


def _apply_portal(conn: Connection, portal: dict[str, Any]) -> None:
    """``[portal]`` → ``clinic_setting`` ``portal_*`` rows (only the keys given): ``hold_minutes``,
    ``min_notice`` (minutes), ``horizon`` (days), ``code_minutes``, ``max_holds``,
    ``link_days_after`` (days a link stays valid after the appointment); the page's ``title``,
    ``colour`` (``"#1b5e7a"``), ``terms``, ``public_url`` (the address links in messages point to)
    and ``logo`` (a URL)."""
    import json
    import re

    values: dict[str, Any] = {}
    for key, (lo, hi) in _PORTAL_INTS.items():
        if key in portal:
            n = _int(f"portal.{key}", portal[key], lo)
            if n > hi:
                raise ValidationError(f"portal.{key}", portal[key], f"must be at most {hi}")
            values[_PORTAL_SETTING[key]] = n
    for key, limit in _PORTAL_TEXTS.items():
        if key not in portal:
            continue
        raw = str(portal[key])
        if len(raw) > limit:
            raise ValidationError(f"portal.{key}", portal[key], f"must be at most {limit} characters")
        lines = [check_text(line, f"portal.{key}").strip() for line in raw.splitlines()]
        if key != "terms" and len(lines) > 1:
            raise ValidationError(f"portal.{key}", portal[key], "must be one line of text")
        value = "\n".join(lines).strip()
        if key == "colour" and not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise ValidationError("portal.colour", portal[key], 'must be a colour like "#1b5e7a"')
        if key in ("public_url", "logo") and not re.fullmatch(r"https?://[^\s<>\"']+", value):
            raise ValidationError(f"portal.{key}", portal[key], 'must be an address like "https://clinic.example/"')
        values[_PORTAL_SETTING[key]] = value
    for key, value in values.items():
        conn.execute(text("INSERT INTO clinic_setting (key, value) VALUES (:k, CAST(:v AS jsonb)) "
                          "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"), {"k": key, "v": json.dumps(value)})


def _apply_branch_contact(conn: Connection, branch_id: int, name: str, b: dict[str, Any]) -> None:
    """The reminder service's branch settings (migration 0004), each only when the file gives it:
    ``phone`` (E.164, printed in every message for changes), ``language`` (two letters, the
    messages' default), ``quiet_hours`` (``"21:00-08:00"`` branch-local: no SMS or WhatsApp then);
    and the branch's ``locale`` (migration 0013: ``"pt_BR"``; dates, times, money and phones)."""
    values: dict[str, Any] = {}
    if "phone" in b:
        values["phone"] = parse_phone(str(b["phone"]), f"branch {name!r}.phone")
    if "language" in b:
        language = str(b["language"]).strip().lower()
        if len(language) != 2 or not language.isalpha():
            raise ValidationError(f"branch {name!r}.language", b["language"], 'must be a two-letter code like "pt"')
        values["language"] = language
    if "locale" in b:
        values["locale"] = check_locale(str(b["locale"]), f"branch {name!r}.locale")
    if "quiet_hours" in b:
        start, end = parse_hhmm_range(str(b["quiet_hours"]), f"branch {name!r}.quiet_hours")
        values["quiet_from_min"], values["quiet_until_min"] = start % 1440, end % 1440
    if values:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        conn.execute(text(f"UPDATE branch SET {sets} WHERE id = :id"), {**values, "id": branch_id})


def _apply(conn: Connection, data: dict[str, Any]) -> ApplyResult:
    result = ApplyResult()
    if "clinic" in data:
        _apply_clinic(conn, data["clinic"])
    if "portal" in data:
        _apply_portal(conn, data["portal"])
    for b in data.get("branch", []):
        name = clean_name(b["name"], "branch.name")
        tz = check_text(b["timezone"], f"branch {name!r}.timezone")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError(f"branch {name!r}.timezone", tz, "is not an IANA time zone") from exc
        bid, ins = _upsert(conn, "INSERT INTO branch (name, timezone) VALUES (:n, :tz) "
                                 "ON CONFLICT (name) DO UPDATE SET timezone = EXCLUDED.timezone", {"n": name, "tz": tz})
        result.note("branch", name, ins)
        _apply_branch_contact(conn, bid, name, b)
        if "hours" not in b:   # a file that only sets, say, the locale keeps the branch's hours
            continue
        hours = b["hours"]
        if not isinstance(hours, dict):
            raise ValidationError(f"branch {name!r}.hours", hours, "must be a table like { mon = [\"08:00-12:00\"] }")
        rows: list[dict[str, Any]] = []
        for day, ranges in hours.items():
            wd = _days(f"branch {name!r}.hours", [day])[0]
            rows += [{"b": bid, "w": wd, "s": s, "e": e} for s, e in _ranges(f"branch {name!r}.hours.{day}", ranges)]
        conn.execute(text("DELETE FROM opening_hours WHERE branch_id = :b"), {"b": bid})
        if rows:
            conn.execute(text("INSERT INTO opening_hours (branch_id, weekday, start_min, end_min) "
                              "VALUES (:b, :w, :s, :e)"), rows)

    for d in data.get("doctor", []):
        name = clean_name(d["name"], "doctor.name")
        _ensure_kind(conn, name, "doctor")
        rid, ins = _upsert(conn, "INSERT INTO resource (kind, name, category, login_role) "
                                 "VALUES ('doctor', :n, :c, :l) ON CONFLICT (name) DO UPDATE "
                                 "SET category = EXCLUDED.category, login_role = coalesce(EXCLUDED.login_role, "
                                 "resource.login_role), active = true",
                           {"n": name, "c": clean_name(d["specialty"], f"doctor {name!r}.specialty"),
                            "l": check_text(d["login"], f"doctor {name!r}.login", max_length=63)
                            if d.get("login") is not None else None})
        result.note("doctor", name, ins)
        _apply_online(conn, "resource", rid, f"doctor {name!r}", d)
        if "shifts" not in d:   # the doctor's shifts stay as they are
            continue
        conn.execute(text("DELETE FROM shift WHERE resource_id = :r"), {"r": rid})
        rows = []
        for j, sh in enumerate(d.get("shifts", [])):
            where = f"doctor {name!r}.shifts[{j}]"
            bid = _branch_id(conn, check_text(sh["branch"], f"{where}.branch"), f"{where}.branch")
            vf = parse_date(sh["from"], f"{where}.from") if "from" in sh else None
            vu = parse_date(sh["until"], f"{where}.until") if "until" in sh else None
            if vf and vu and vu < vf:
                raise ValidationError(f"{where}.until", sh["until"], "is before 'from'")
            for wd in _days(f"{where}.days", sh["days"]):
                for s, e in _ranges(f"{where}.hours", sh["hours"]):
                    rows.append({"r": rid, "b": bid, "w": wd, "s": s, "e": e, "vf": vf, "vu": vu})
        if rows:
            conn.execute(text("INSERT INTO shift (resource_id, branch_id, weekday, start_min, end_min, valid_from, "
                              "valid_until) VALUES (:r, :b, :w, :s, :e, :vf, :vu)"), rows)

    for kind in ("room", "equipment"):
        for r in data.get(kind, []):
            name = clean_name(r["name"], f"{kind}.name")
            _ensure_kind(conn, name, kind)
            bid = _branch_id(conn, check_text(r["branch"], f"{kind} {name!r}.branch"), f"{kind} {name!r}.branch")
            _, ins = _upsert(conn, "INSERT INTO resource (kind, name, category, branch_id) VALUES (:k, :n, :c, :b) "
                                   "ON CONFLICT (name) DO UPDATE SET category = EXCLUDED.category, "
                                   "branch_id = EXCLUDED.branch_id, active = true",
                             {"k": kind, "n": name, "c": clean_name(r["kind"], f"{kind} {name!r}.kind"), "b": bid})
            result.note(kind, name, ins)

    for s in data.get("service", []):
        name = clean_name(s["name"], "service.name")
        where = f"service {name!r}"
        duration = _int(f"{where}.duration", s["duration"], 15)
        if duration % 15:
            raise ValidationError(f"{where}.duration", duration, "must be a multiple of 15 minutes")
        needs = {k: clean_name(v, f"{where}.needs.{k}") for k, v in s.get("needs", {}).items()}
        params = {
            "n": name, "d": duration,
            "bb": _int(f"{where}.buffer_before", s.get("buffer_before", 0)),
            "ba": _int(f"{where}.buffer_after", s.get("buffer_after", 0)),
            "mn": _int(f"{where}.min_notice", s.get("min_notice", 0)),
            "h": _int(f"{where}.horizon", s.get("horizon", 365), 1),
            "ds": needs.get("doctor"), "rk": needs.get("room"), "ek": needs.get("equipment"),
            "cm": _confirmation(f"{where}.confirmation", s.get("confirmation", "immediate")),
            "dep": parse_amount(s.get("deposit", "0"), f"{where}.deposit", allow_zero=True, max_cents=_MAX_CENTS),
            "cfh": _int(f"{where}.cancel_free_hours", s.get("cancel_free_hours", 24)),
            "fee": parse_amount(s.get("late_cancel_fee", "0"), f"{where}.late_cancel_fee", allow_zero=True,
                                max_cents=_MAX_CENTS),
        }
        sid, ins = _upsert(conn, "INSERT INTO service (name, duration_min, buffer_before_min, buffer_after_min, "
                               "min_notice_min, horizon_days, doctor_specialty, room_kind, equipment_kind, confirmation_mode, "
                               "deposit_cents, cancel_free_hours, late_cancel_fee_cents) "
                               "VALUES (:n, :d, :bb, :ba, :mn, :h, :ds, :rk, :ek, :cm, :dep, :cfh, :fee) "
                               "ON CONFLICT (name) DO UPDATE SET "
                               "duration_min = EXCLUDED.duration_min, buffer_before_min = EXCLUDED.buffer_before_min,"
                               " buffer_after_min = EXCLUDED.buffer_after_min, min_notice_min = "
                               "EXCLUDED.min_notice_min, horizon_days = EXCLUDED.horizon_days, doctor_specialty = "
                               "EXCLUDED.doctor_specialty, room_kind = EXCLUDED.room_kind, equipment_kind = "
                               "EXCLUDED.equipment_kind, confirmation_mode = EXCLUDED.confirmation_mode, "
                               "deposit_cents = EXCLUDED.deposit_cents, cancel_free_hours = "
                               "EXCLUDED.cancel_free_hours, late_cancel_fee_cents = EXCLUDED.late_cancel_fee_cents, "
                               "active = true", params)
        result.note("service", name, ins)
        _apply_online(conn, "service", sid, where, s)

    for h in data.get("holiday", []):
        where = f"holiday {h.get('name')!r}"
        bid = _branch_id(conn, check_text(h["branch"], f"{where}.branch"), f"{where}.branch")
        holiday_date: date = parse_date(h["date"], f"{where}.date")
        _, ins = _upsert(conn, "INSERT INTO holiday (branch_id, local_date, name) VALUES (:b, :d, :n) "
                               "ON CONFLICT (branch_id, local_date) DO UPDATE SET name = EXCLUDED.name",
                         {"b": bid, "d": holiday_date, "n": clean_name(h["name"], f"{where}.name")})
        result.note("holiday", f"{h['branch']} {holiday_date}", ins)

    periods: set[tuple[int, datetime, datetime]] = set()
    for o in data.get("time_off", []):
        where = f"time_off {o.get('resource')!r}"
        resource = check_text(o["resource"], f"{where}.resource")
        off_id = conn.execute(text("SELECT id FROM resource WHERE name = :n"), {"n": resource}).scalar()
        if off_id is None:
            raise ValidationError(f"{where}.resource", o["resource"], "no doctor, room or equipment of that name")
        lo: datetime = parse_schedule_instant(_iso(o["from"]), f"{where}.from").astimezone(UTC)
        hi: datetime = parse_schedule_instant(_iso(o["until"]), f"{where}.until").astimezone(UTC)
        if hi <= lo:
            raise ValidationError(f"{where}.until", o["until"], "is not after 'from'")
        if (off_id, lo, hi) in periods:
            raise ValidationError(f"{where}.from", o["from"], "is a duplicate: the file has this time off twice")
        periods.add((off_id, lo, hi))
        reason = o.get("reason", "")
        why = " ".join(check_text(reason, f"{where}.reason", max_length=200).split())
        _, ins = _upsert(conn, "INSERT INTO time_off (resource_id, period, reason) VALUES (:r, tstzrange(:lo, :hi), :why) "
                               "ON CONFLICT (resource_id, period) DO UPDATE SET reason = EXCLUDED.reason",
                         {"r": off_id, "lo": lo, "hi": hi, "why": why})
        result.note("time_off", f"{o['resource']} {lo.isoformat()}", ins)
    return result


def _iso(value: Any) -> str:
    # TOML offset date-times arrive as aware datetimes; strings are parsed as ISO-8601.
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _ensure_kind(conn: Connection, name: str, kind: str) -> None:
    other = conn.execute(text("SELECT kind FROM resource WHERE name = :n"), {"n": name}).scalar()
    if other is not None and other != kind:
        raise ValidationError(f"{kind}.name", name, f"is already the name of a {other}")


@dataclass(frozen=True)
class ClinicProfile:
    """The clinic-wide settings the desk shows and prints (``clinic_setting``; defaults when unset).

    ``name``: the clinic's name for headers (``""``: the branch's name is used); ``legal_name``,
    ``address`` (lines joined by newlines) and ``tax_id``: for receipts (``""`` when unset);
    ``currency``: ISO 4217; ``no_show_grace_minutes``: minutes after a start before the desk offers
    "No-show" (``domain.status.NO_SHOW_GRACE_MINUTES`` by default; the database itself refuses a
    no-show only before the start).
    """

    name: str = ""
    legal_name: str = ""
    address: str = ""
    tax_id: str = ""
    currency: str = "EUR"
    no_show_grace_minutes: int = NO_SHOW_GRACE_MINUTES


def clinic_profile(conn: Connection) -> ClinicProfile:
    """Read :class:`ClinicProfile` from ``clinic_setting`` on ``conn`` (one query)."""
    rows: dict[str, Any] = dict(conn.execute(text(
        "SELECT key, value FROM clinic_setting WHERE key = ANY(:k)"),
        {"k": [*_CLINIC_TEXT_KEYS, "currency", "no_show_grace_minutes"]}).all())
    defaults = ClinicProfile()
    grace = rows.get("no_show_grace_minutes")
    return ClinicProfile(**{k: str(rows.get(k) or "") for k in _CLINIC_TEXT_KEYS},
                         currency=str(rows.get("currency") or defaults.currency),
                         no_show_grace_minutes=int(grace) if isinstance(grace, int) else defaults.no_show_grace_minutes)


def branch_formats(conn: Connection, branch_id: int) -> Formats:
    """The :class:`~reception_app.domain.formats.Formats` of branch ``branch_id`` (its ``locale``,
    ``en_GB`` when unset; the clinic's currency). Raises ``NotFound`` for an unknown branch."""
    row = conn.execute(text(
        "SELECT b.locale, (SELECT value #>> '{}' FROM clinic_setting WHERE key = 'currency') AS currency "
        "FROM branch b WHERE b.id = :id"), {"id": branch_id}).first()
    if row is None:
        raise NotFound("branch", branch_id)
    return formats_for(row.locale, row.currency)
