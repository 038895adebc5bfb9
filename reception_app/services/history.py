"""An entity's change history, in words: who changed what, when, and why.

The trail is the database's own: ``audit_log`` (one row per changed row,
written by triggers with the database role, the database time, the row before
and after, and the transaction's reason — ``SET LOCAL clinic.reason``) and,
for a patient's consent, ``consent_event``. Only managers and admins may read
``audit_log``; for anyone else the database refuses and
:func:`entity_history` raises ``PermissionDenied``.

What an entity's history gathers:

- ``appointment``: the appointment's own rows, and the rows of its resource
  bookings (``booking``) and payments (``payment``) — audit rows whose
  ``new_row`` or ``old_row`` names the appointment (``appointment_id``);
- ``patient``: the patient's rows (created, edited; audited since migration
  0009) and their consent changes (``consent_event``: each channel granted or
  withdrawn).

Each change is told as readable field changes (``Start: Mon 04/01/2027 08:00 →
09:00``), not as the rows' JSON: identifiers become names (services,
resources, branches, patients), statuses their labels, amounts money,
timestamps local times in the zone asked for, and bookkeeping columns
(``updated_at``, generated columns, client ids) are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.errors import ValidationError
from ..domain.policy import format_money
from ..domain.status import LABELS
from ..store.database import Database
from .payments import currency as clinic_currency

__all__ = ["ENTITIES", "FieldChange", "HistoryEntry", "entity_history"]

#: The entities whose history can be asked for (``table`` of :func:`entity_history`).
ENTITIES: tuple[str, ...] = ("appointment", "patient")

#: What a row of each table is called in a sentence.
_THING = {"appointment": "Appointment", "booking": "Resource booking", "payment": "Payment",
          "patient": "Patient record", "consent_event": "Consent"}
_VERB = {"INSERT": "created", "UPDATE": "changed", "DELETE": "deleted"}
_PAYMENT_VERB = {"INSERT": "recorded", "UPDATE": "changed", "DELETE": "deleted"}

#: Readable names of the columns shown, per table (columns not named here are shown with their name
#: in words, unless they are in _HIDDEN).
_LABELS: dict[str, dict[str, str]] = {
    "appointment": {
        "patient_id": "Patient", "service_id": "Service", "branch_id": "Branch", "status": "Status",
        "starts_at": "Start", "ends_at": "End", "source": "Booked through", "booked_at": "Booked at",
        "status_reason": "Status reason", "checked_in_at": "Checked in at", "hold_expires_at": "Held until",
        "confirmed_at": "Confirmed at", "cancelled_at": "Cancelled at", "cancelled_by": "Cancelled by",
        "cancelled_late": "Cancelled late", "rescheduled_to": "Rescheduled to",
        "policy_free_hours": "Free cancellation (hours before)", "policy_late_fee_cents": "Late-cancellation fee",
        "deposit_cents": "Deposit", "visit_id": "Visit", "series_id": "Series", "series_date": "Series date",
        "doctor_id": "Doctor", "external_ref": "External reference",
        "time_assigned_by_import": "Time assigned by the import", "patient_age_years": "Patient's age",
    },
    "booking": {"resource_id": "Resource", "period": "Time", "live": "Holds the time", "hold_until": "Held until"},
    "payment": {"kind": "Kind", "purpose": "Purpose", "method": "Method", "amount_cents": "Amount",
                "reference": "Reference", "taken_at": "Taken at", "taken_by": "Taken by"},
    "patient": {"display_name": "Name", "birth_date": "Birth date", "phone": "Phone", "email": "E-mail",
                "consent_channels": "Consent", "gender": "Gender", "source": "Source",
                "source_ref": "Source reference", "language": "Language"},
}
#: Bookkeeping columns never shown: ids, timestamps the entry itself carries, generated columns.
_HIDDEN = frozenset({"id", "client_id", "created_at", "created_by", "updated_at", "local_start", "lead_days",
                     "appointment_id", "attributes", "currency"})
#: Columns of one table that are bookkeeping there (copies of the appointment's, for constraints).
_HIDDEN_IN: dict[str, frozenset[str]] = {"booking": frozenset({"branch_id", "start_min", "end_min", "local_day"}),
                                         "payment": frozenset({"kind"})}  # the entry says payment or refund
#: Coded values written as words (``card_terminal`` → ``card terminal``).
_CODES = frozenset({"method", "purpose", "source", "kind"})
_DAY_PREFIX = re.compile(r"^\w{3} \d{2}/\d{2}/\d{4} ")
#: Not listed for a creation: they are the creation's own time.
_CREATION_NOISE = frozenset({"booked_at", "confirmed_at", "taken_at"})
_MONEY = frozenset({"amount_cents", "deposit_cents", "policy_late_fee_cents"})
_CHANNEL = {"email": "e-mail", "sms": "SMS", "whatsapp": "WhatsApp"}
_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}(:?\d{2})?|Z)$")
_RANGE = re.compile(r'^[\[(]"?([^",]*)"?,"?([^",]*)"?[\])]$')


@dataclass(frozen=True)
class FieldChange:
    """One field of one change, in words: ``field`` (``"Start"``), ``before`` and ``after`` as the desk
    shows them (``None``: the field had no value — not set yet, or the row did not exist)."""

    field: str
    before: str | None
    after: str | None

    def describe(self) -> str:
        """``"Start: 08:00 → 09:00"``; ``"Phone: +55… (removed)"``; ``"Phone: +55…"`` for a new value."""
        if self.before is None:
            return f"{self.field}: {self.after}"
        if self.after is None:
            return f"{self.field}: {self.before} (removed)"
        return f"{self.field}: {self.before} → {self.after}"


@dataclass(frozen=True)
class HistoryEntry:
    """One change of an entity (or of one of its parts).

    ``at``: when the database recorded it (aware, UTC). ``db_user``: the database login that made it.
    ``action``: ``"INSERT"``, ``"UPDATE"`` or ``"DELETE"`` (a consent grant or withdrawal is an
    ``INSERT`` of a ``consent_event`` row). ``table`` and ``row_id``: the row changed (``"booking"``,
    ``"payment"``, ``"appointment"``, ``"patient"``, ``"consent_event"``). ``what``: the change in a
    few words (``"Appointment changed"``, ``"Consent to SMS withdrawn"``). ``changes``: the fields
    changed, before → after (for a creation, the values it was created with; for a deletion, the
    values it had). ``reason``: the reason recorded with the change, if any.
    """

    at: datetime
    db_user: str
    action: str
    table: str
    row_id: int
    what: str
    changes: tuple[FieldChange, ...]
    reason: str | None


def entity_history(db: Database, table: str, row_id: int, *, tz: tzinfo | None = None) -> list[HistoryEntry]:
    """The history of the ``table`` row ``row_id`` (``table`` one of :data:`ENTITIES`), oldest first.

    ``tz``: the zone times inside the changes are written in (``Start: Mon 04/01/2027 08:00``);
    default: the appointment's branch zone for an appointment, UTC for a patient. Each entry's
    ``at`` stays UTC (the caller shows it in the zone it names).

    An appointment's history includes its bookings' and payments' changes; a patient's includes
    their consent changes. An id with no history gives ``[]``. One read-only transaction.

    Raises ``ValidationError("table", …)`` for another table, ``PermissionDenied`` when the signed-in
    role may not read the audit trail (only managers and admins may), ``DatabaseUnavailable``.
    """
    if table not in ENTITIES:
        raise ValidationError("table", table, f"has no history view (one of: {', '.join(ENTITIES)})")
    if isinstance(row_id, bool) or not isinstance(row_id, int) or row_id <= 0:
        raise ValidationError("row_id", str(row_id), "must be a positive whole number")

    def work(conn: Connection) -> list[HistoryEntry]:
        if table == "appointment":
            rows = _appointment_rows(conn, row_id)
            consents: list[Any] = []
        else:
            rows = _audit_rows(conn, "patient", row_id)
            consents = _consent_rows(conn, row_id)
        names = _Names(conn, rows)
        zone = tz or (_branch_zone(conn, rows, row_id) if table == "appointment" else UTC)
        entries = [e for e in (_audit_entry(r, names, zone) for r in rows if r.table_name != "booking")
                   if e is not None]
        entries += [e for e in (_bookings_entry(group, names, zone) for group in _booking_groups(rows))
                    if e is not None]
        entries += [_consent_entry(r) for r in consents]
        entries.sort(key=lambda e: (e.at, e.table == "consent_event", e.row_id))
        return entries

    return db.read(work)


# -- reading --------------------------------------------------------------------------------------
_AUDIT_COLUMNS = "id, at, db_user, txid, table_name, row_id, action, old_row, new_row, reason"


def _audit_rows(conn: Connection, table: str, row_id: int) -> list[Any]:
    return list(conn.execute(text(f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE table_name = :t AND row_id = :r "
                                  "ORDER BY at, id"), {"t": table, "r": row_id}))


def _appointment_rows(conn: Connection, appointment_id: int) -> list[Any]:
    return list(conn.execute(text(
        f"SELECT {_AUDIT_COLUMNS} FROM audit_log"
        " WHERE (table_name = 'appointment' AND row_id = :r)"
        "    OR (table_name IN ('booking', 'payment')"   # index audit_log_appointment (migration 0009)
        "        AND coalesce(new_row, old_row) ->> 'appointment_id' = :rs)"
        " ORDER BY at, id"), {"r": appointment_id, "rs": str(appointment_id)}))


def _consent_rows(conn: Connection, patient_id: int) -> list[Any]:
    return list(conn.execute(text("SELECT id, patient_id, channel, granted, at, db_user, reason FROM consent_event"
                                  " WHERE patient_id = :p ORDER BY at, id"), {"p": patient_id}))


def _branch_zone(conn: Connection, rows: list[Any], appointment_id: int) -> tzinfo:
    """The zone of the appointment's branch (from its row, else from its audit trail), else UTC."""
    branch_id = conn.execute(text("SELECT branch_id FROM appointment WHERE id = :a"), {"a": appointment_id}).scalar()
    if branch_id is None:
        branch_id = next((_json(r.new_row or r.old_row).get("branch_id") for r in rows
                          if r.table_name == "appointment"), None)
    if branch_id is None:
        return UTC
    zone = conn.execute(text("SELECT timezone FROM branch WHERE id = :b"), {"b": branch_id}).scalar()
    return ZoneInfo(zone) if zone else UTC


class _Names:
    """Names of the services, resources, branches and patients the rows point at (one query per kind)."""

    _KINDS = {"service_id": "service", "branch_id": "branch", "resource_id": "resource", "doctor_id": "resource",
              "patient_id": "patient"}
    _SQL = {"service": "SELECT id, name FROM service WHERE id = ANY(:ids)",
            "branch": "SELECT id, name FROM branch WHERE id = ANY(:ids)",
            "resource": "SELECT id, name FROM resource WHERE id = ANY(:ids)",
            "patient": "SELECT id, display_name AS name FROM patient WHERE id = ANY(:ids)"}

    def __init__(self, conn: Connection, rows: Iterable[Any]) -> None:
        wanted: dict[str, set[int]] = {kind: set() for kind in self._SQL}
        for r in rows:
            for row in (_json(r.old_row), _json(r.new_row)):
                for column, kind in self._KINDS.items():
                    value = row.get(column)
                    if isinstance(value, int):
                        wanted[kind].add(value)
        self._names: dict[str, dict[int, str]] = {}
        for kind, ids in wanted.items():
            found = conn.execute(text(self._SQL[kind]), {"ids": sorted(ids)}).all() if ids else []
            self._names[kind] = {i: n for i, n in found}
        #: The clinic's currency, for amounts of rows that do not name theirs.
        self.currency = clinic_currency(conn)

    def name(self, column: str, value: int) -> str:
        """The name of the row ``value`` that ``column`` points at, else ``"#<id>"``."""
        return self._names.get(self._KINDS[column], {}).get(value, f"#{value}")


# -- telling ----------------------------------------------------------------------------------------
def _json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return json.loads(value)
    return dict(value)


def _audit_entry(r: Any, names: _Names, zone: tzinfo) -> HistoryEntry | None:
    old, new = _json(r.old_row), _json(r.new_row)
    table = r.table_name
    changes = tuple(_changes(table, old if r.action != "INSERT" else {}, new if r.action != "DELETE" else {},
                             names, zone))
    if table == "patient":  # consent changes are told by consent_event, channel by channel
        changes = tuple(c for c in changes if c.field != _LABELS["patient"]["consent_channels"])
        if r.action == "UPDATE" and not changes:
            return None
    if r.action == "UPDATE" and not changes:  # only bookkeeping columns changed
        return None
    return HistoryEntry(at=_utc(r.at), db_user=r.db_user, action=r.action, table=table, row_id=r.row_id,
                        what=_what(table, r.action, old, new, names, zone), changes=changes, reason=r.reason)


def _booking_groups(rows: Iterable[Any]) -> list[list[Any]]:
    """The booking rows of one transaction together (an appointment books its doctor, room and
    equipment at once, and a move replaces them: one entry, not three or six)."""
    groups: dict[int, list[Any]] = {}
    for r in rows:
        if r.table_name == "booking":
            groups.setdefault(r.txid, []).append(r)
    return list(groups.values())


def _bookings_entry(group: list[Any], names: _Names, zone: tzinfo) -> HistoryEntry | None:
    """One entry for the resource bookings one transaction made, moved, changed or removed:
    ``"Dr. Bruno Lima: Thu 07/01/2027 07:45–08:25 → 09:30–10:10"`` per resource."""
    first = group[0]

    def resource_of(row: Mapping[str, Any]) -> str:
        rid = row.get("resource_id")
        return names.name("resource_id", rid) if isinstance(rid, int) else "A resource"

    def period(row: Mapping[str, Any]) -> str | None:
        return _value("period", row.get("period"), row, names, zone)

    added = {resource_of(_json(r.new_row)): period(_json(r.new_row)) for r in group if r.action == "INSERT"}
    removed = {resource_of(_json(r.old_row)): period(_json(r.old_row)) for r in group if r.action == "DELETE"}
    changes = [FieldChange(res, removed.get(res), _same_day_shorter(removed.get(res), added.get(res)))
               for res in [*removed, *added]
               if not (res in removed and res in added and removed[res] == added[res])]
    changes = list(dict.fromkeys(changes))  # a resource kept (removed and added) is listed once
    released = True
    for r in group:
        if r.action != "UPDATE":
            continue
        old, new = _json(r.old_row), _json(r.new_row)
        for c in _changes("booking", old, new, names, zone):
            changes.append(FieldChange(f"{resource_of(new or old)} · {c.field}", c.before, c.after))
            released = released and c.field == _LABELS["booking"]["live"] and c.after == "no"
    if not changes:
        return None
    actions = {r.action for r in group}
    if actions == {"INSERT"}:
        action, what = "INSERT", "Resources booked"
    elif actions == {"DELETE"}:
        action, what = "DELETE", "Resources unbooked"
    elif actions == {"UPDATE"}:
        action, what = "UPDATE", "Resources released" if released else "Resources changed"
    else:
        action, what = "UPDATE", "Resources moved" if added and removed else "Resources changed"
    return HistoryEntry(at=_utc(first.at), db_user=first.db_user, action=action, table="booking",
                        row_id=first.row_id, what=what, changes=tuple(changes), reason=first.reason)


def _consent_entry(r: Any) -> HistoryEntry:
    channel = _CHANNEL.get(r.channel, r.channel)
    verb = "given" if r.granted else "withdrawn"
    change = FieldChange(f"{channel[:1].upper()}{channel[1:]} consent", "no" if r.granted else "yes", "yes" if r.granted else "no")
    return HistoryEntry(at=_utc(r.at), db_user=r.db_user, action="INSERT", table="consent_event", row_id=r.id,
                        what=f"Consent to {channel} messages {verb}", changes=(change,), reason=r.reason)


def _what(table: str, action: str, old: Mapping[str, Any], new: Mapping[str, Any], names: _Names,
          zone: tzinfo) -> str:
    row = new or old
    if table == "payment":
        kind = "Refund" if row.get("kind") == "refund" else "Payment"
        return f"{kind} {_PAYMENT_VERB[action]}"
    if table == "appointment" and action == "UPDATE" and old.get("status") != new.get("status"):
        status = str(new.get("status"))
        return f"Appointment {LABELS.get(status, status).lower()}"
    return f"{_THING.get(table, table.replace('_', ' ').capitalize())} {_VERB[action]}"


def _changes(table: str, old: Mapping[str, Any], new: Mapping[str, Any], names: _Names,
             zone: tzinfo) -> Iterable[FieldChange]:
    labels = _LABELS.get(table, {})
    hidden = _HIDDEN | _HIDDEN_IN.get(table, frozenset())
    columns = [c for c in labels if c in old or c in new]
    columns += sorted(c for c in {*old, *new} if c not in labels and c not in hidden)
    for column in columns:
        if column in hidden:
            continue
        before, after = old.get(column), new.get(column)
        if old and new and before == after:
            continue
        if not old and (column in _CREATION_NOISE or after in (None, False, 0, "", [], {})) \
                or not new and before is None:
            continue  # a creation lists what it set, not its empty and default columns
        label = labels.get(column) or column.replace("_", " ").capitalize()
        shown_before = _value(column, before, old, names, zone) if old else None
        shown_after = _value(column, after, new, names, zone) if new else None
        yield FieldChange(label, shown_before, _same_day_shorter(shown_before, shown_after))


def _value(column: str, value: Any, row: Mapping[str, Any], names: _Names, zone: tzinfo) -> str | None:
    """``value`` of ``column`` as the desk writes it (``None`` stays ``None``)."""
    if value is None:
        return None
    if column in _Names._KINDS and isinstance(value, int):
        return names.name(column, value)
    if column == "status":
        return LABELS.get(value, str(value))
    if column in _MONEY and isinstance(value, int):
        return format_money(value, row.get("currency") or names.currency)
    if column == "rescheduled_to":
        return f"appointment #{value}"
    if column == "consent_channels" and isinstance(value, list):
        return ", ".join(_CHANNEL.get(str(c), str(c)) for c in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if column in _CODES and isinstance(value, str):
        return value.replace("_", " ")
    if isinstance(value, str):
        return _text(value, zone)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    return str(value)


def _text(value: str, zone: tzinfo) -> str:
    """Timestamps as local times, dates as dd/mm/yyyy, time ranges as ``start–end``; other text as is."""
    if _ISO_INSTANT.match(value):
        return _local(value, zone)
    match = _RANGE.match(value)
    if match and _ISO_INSTANT.match(match.group(1)) and _ISO_INSTANT.match(match.group(2)):
        lo = datetime.fromisoformat(match.group(1)).astimezone(zone)
        hi = datetime.fromisoformat(match.group(2)).astimezone(zone)
        return f"{lo:%a %d/%m/%Y %H:%M}–{hi:%H:%M}" if lo.date() == hi.date() else \
            f"{lo:%a %d/%m/%Y %H:%M} – {hi:%a %d/%m/%Y %H:%M}"
    try:
        return f"{date.fromisoformat(value):%d/%m/%Y}" if len(value) == 10 else value
    except ValueError:
        return value


def _same_day_shorter(before: str | None, after: str | None) -> str | None:
    """``after`` without its day when ``before`` is on the same day (``Thu 07/01/2027 07:45 → 09:30``)."""
    if before is None or after is None:
        return after
    day = _DAY_PREFIX.match(before)
    return after[day.end():] if day and after.startswith(day.group(0)) and len(after) > day.end() else after


def _local(value: str, zone: tzinfo) -> str:
    return f"{datetime.fromisoformat(value).astimezone(zone):%a %d/%m/%Y %H:%M}"


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
