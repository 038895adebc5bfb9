"""Read the clinic's catalog (branches, services, resources, rules) for the slot engine.

Plain SQL over the tables (a read model, not ORM objects): these queries run
on every slot search and every booking, so they fetch exactly what the engine
needs. Names are matched exactly first, then case-insensitively.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from ..domain.errors import NotFound
from ..domain.formats import DEFAULT_LOCALE, Formats, formats_for
from ..domain.slots import KINDS, BranchSpec, ResourceSpec, ServiceSpec, WeeklyRule, with_exceptions
from ..domain.wallclock import day_bounds_utc
from ..store.database import driver


@dataclass(frozen=True)
class BranchInfo:
    """A branch: ``id``, ``name``, IANA ``timezone``, its engine spec, its ``locale`` (``"pt_BR"``;
    migration 0013) and the clinic's ``currency`` (ISO 4217)."""

    id: int
    name: str
    timezone: str
    spec: BranchSpec
    locale: str = DEFAULT_LOCALE
    currency: str = "EUR"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def formats(self) -> Formats:
        """How this branch writes dates, times, money and phones (``domain.formats``)."""
        return formats_for(self.locale, self.currency)




@dataclass(frozen=True)
class ServiceInfo:
    """A service with its engine spec; durations and buffers in minutes. ``confirmation_mode`` and
    ``deposit_cents`` (minor units) are its booking rules (migration 0003; None when not read)."""

    id: int
    name: str
    spec: ServiceSpec
    confirmation_mode: str | None = None
    deposit_cents: int | None = None


@dataclass(frozen=True)
class ResourceInfo:
    """A doctor, room or piece of equipment; ``category`` is the specialty or kind;
    ``branch_id`` is None for doctors (they work shifts at any branch)."""

    id: int
    name: str
    kind: str
    category: str
    branch_id: int | None


_LOOKUP_SQL = ("SELECT {cols} FROM {table} t WHERE t.name = %(n)s OR lower(t.name) = lower(%(n)s) "
               "ORDER BY (t.name = %(n)s) DESC LIMIT 2")


def fetch(conn: Connection, sql: str, params: dict | None = None, *, dicts: bool = False,
          binary: bool = False) -> list:
    """Run ``sql`` (psycopg ``%(name)s`` placeholders) on the transaction's own driver
    connection and return all rows (tuples, or dicts with ``dicts=True``). ``binary=True`` asks for
    the results in PostgreSQL's binary format (cheaper to load for many rows of timestamps and
    arrays: the day grid).

    The booking and slot-search hot path reads through this rather than SQLAlchemy's
    ``text()``: the same transaction and error handling (the runner maps psycopg's
    errors too), a third less client CPU per statement (``make bench``).
    """
    from psycopg.rows import dict_row, tuple_row

    with driver(conn).cursor(row_factory=dict_row if dicts else tuple_row) as cur:  # type: ignore[call-overload]
        cur.execute(sql, params, binary=binary)
        return cur.fetchall()


def _pick(rows: list, field: str, name: str) -> dict:
    """The exact-name row, else the one case-insensitive match; NotFound when none or ambiguous."""
    if rows and rows[0]["name"] == name:
        return dict(rows[0])
    if len(rows) != 1:
        raise NotFound(field, name)
    return dict(rows[0])


def _lookup(conn: Connection, table: str, field: str, name: str, cols: str = "t.*") -> dict:
    rows = fetch(conn, _LOOKUP_SQL.format(cols=cols, table=table), {"n": name.strip()}, dicts=True)
    return _pick(rows, field, name.strip())


def load_branch(conn: Connection, name_or_id: str | int, holidays_from: date | None = None,
                holidays_until: date | None = None) -> BranchInfo:
    """The branch by name (or id), with its weekly hours and holidays in the given local-date range.

    Raises ``NotFound("branch", …)``.
    """
    cols = ("t.*, (SELECT coalesce(json_agg(json_build_array(h.weekday, h.start_min, h.end_min) "
            "ORDER BY h.weekday, h.start_min), '[]') FROM opening_hours h WHERE h.branch_id = t.id) AS hours, "
            "(SELECT coalesce(array_agg(d.local_date), '{}') FROM holiday d WHERE d.branch_id = t.id "
            "AND d.local_date BETWEEN coalesce(CAST(%(f)s AS date), '-infinity') "
            "AND coalesce(CAST(%(u)s AS date), 'infinity')) AS holidays, "
            "(SELECT s.value #>> '{}' FROM clinic_setting s WHERE s.key = 'currency') AS currency")
    params = {"f": holidays_from, "u": holidays_until}
    if isinstance(name_or_id, int):
        found = fetch(conn, f"SELECT {cols} FROM branch t WHERE t.id = %(i)s", params | {"i": name_or_id},
                      dicts=True)
        if not found:
            raise NotFound("branch", name_or_id)
        row = found[0]
    else:
        rows = fetch(conn, _LOOKUP_SQL.format(cols=cols, table="branch"), params | {"n": name_or_id.strip()},
                     dicts=True)
        row = _pick(rows, "branch", name_or_id.strip())
    hours = tuple(WeeklyRule(weekday=w, start_min=a, end_min=b) for w, a, b in row["hours"])
    return BranchInfo(row["id"], row["name"], row["timezone"],
                      BranchSpec(timezone=row["timezone"], hours=hours, holidays=frozenset(row["holidays"])),
                      row.get("locale") or DEFAULT_LOCALE, row.get("currency") or "EUR")


def load_service(conn: Connection, name: str) -> ServiceInfo:
    """The service by name. Raises ``NotFound("service", …)``."""
    row = _lookup(conn, "service", "service", name)
    return service_info(row)


def service_info(row: Mapping[str, Any]) -> ServiceInfo:
    """A :class:`ServiceInfo` from a ``service`` row (its columns by name)."""
    needs = {k: v for k, v in (("doctor", row["doctor_specialty"]), ("room", row["room_kind"]),
                               ("equipment", row["equipment_kind"])) if v}
    return ServiceInfo(row["id"], row["name"], ServiceSpec(
        duration_min=row["duration_min"], buffer_before_min=row["buffer_before_min"],
        buffer_after_min=row["buffer_after_min"], min_notice_min=row["min_notice_min"],
        horizon_days=row["horizon_days"], needs=needs),
        confirmation_mode=row.get("confirmation_mode"), deposit_cents=row.get("deposit_cents"))


def load_resources(conn: Connection, names: dict[str, str]) -> dict[str, ResourceInfo]:
    """Several resources by name in one query: ``{field: name}`` → ``{field: ResourceInfo}``.

    ``field`` is "doctor", "room" or "equipment" (the resource must be of that
    kind) or "resource". Raises ``NotFound(field, name)`` for the first miss.
    """
    if not names:
        return {}
    wanted = {f: n.strip() for f, n in names.items()}
    rows = fetch(conn, "SELECT id, name, kind, category, branch_id FROM resource "
                       "WHERE name = ANY(%(n)s) OR lower(name) = ANY(%(ln)s)",
                 {"n": list(wanted.values()), "ln": [n.lower() for n in wanted.values()]}, dicts=True)
    out: dict[str, ResourceInfo] = {}
    for field, name in wanted.items():
        exact = [r for r in rows if r["name"] == name]
        match = exact or [r for r in rows if r["name"].lower() == name.lower()]
        if len(match) != 1 or (field in KINDS and match[0]["kind"] != field):
            raise NotFound(field, names[field])
        r = match[0]
        out[field] = ResourceInfo(r["id"], r["name"], r["kind"], r["category"], r["branch_id"])
    return out


def candidate_resources(conn: Connection, branch: BranchInfo, service: ServiceInfo) -> list[ResourceSpec]:
    """Active resources that could serve ``service`` at ``branch``, ordered by name.

    Doctors of the needed specialty that have any shift or shift exception at
    this branch (their rules: the weekly shifts there with the date exceptions
    applied, see :func:`domain.slots.with_exceptions`); rooms and equipment of
    the needed kind located at the branch. One query.
    """
    needs = service.spec.needs
    if not needs:
        return []
    rows = fetch(conn,
        "SELECT r.id, r.name, r.kind, 'w', s.weekday, s.start_min, s.end_min, s.valid_from, s.valid_until "
        "FROM resource r JOIN shift s ON s.resource_id = r.id AND s.branch_id = %(b)s "
        "WHERE r.kind = 'doctor' AND r.active AND r.category = %(doc)s "
        "UNION ALL "
        "SELECT r.id, r.name, r.kind, 'x', NULL, e.start_min, e.end_min, e.local_date, NULL "
        "FROM resource r JOIN shift_exception e ON e.resource_id = r.id AND e.branch_id = %(b)s "
        "WHERE r.kind = 'doctor' AND r.active AND r.category = %(doc)s "
        "UNION ALL "
        "SELECT r.id, r.name, r.kind, NULL, NULL, NULL, NULL, NULL, NULL FROM resource r "
        "WHERE r.active AND r.branch_id = %(b)s AND ((r.kind = 'room' AND r.category = %(room)s) "
        "   OR (r.kind = 'equipment' AND r.category = %(eq)s)) "
        "ORDER BY 3, 2, 4, 5, 8, 6",
        {"b": branch.id, "doc": needs.get("doctor"), "room": needs.get("room"), "eq": needs.get("equipment")})
    return candidates_from_rows(rows, needs)


def candidates_from_rows(rows: list, needs: Mapping[str, str]) -> list[ResourceSpec]:
    """The engine's resources from candidate rows ``(id, name, kind, 'w'|'x'|None, weekday, start_min,
    end_min, valid_from|local_date, valid_until)`` ordered by kind and name, as
    :func:`candidate_resources` reads them and the portal's ``portal_search_inputs`` returns them
    (``needs``: the service's kind → category)."""
    seen: dict[int, tuple[str, str]] = {}
    for rid, name, kind, *_ in rows:
        seen.setdefault(rid, (name, kind))
    rules = rules_from_rows([(rid, *rest) for rid, _name, _kind, *rest in rows])
    by_kind = {k: [rid for rid, (_, kind) in seen.items() if kind == k] for k in KINDS}
    return [ResourceSpec(id=rid, name=seen[rid][0], kind=k, category=needs[k], rules=rules.get(rid, ()))
            for k in KINDS if k in needs for rid in by_kind[k]]


def rules_from_rows(rows: list) -> dict[int, tuple[WeeklyRule, ...]]:
    """``(resource_id, 'w'|'x'|None, weekday, start_min, end_min, valid_from|local_date, valid_until)``
    rows (weekly shifts ``'w'``, exception rows ``'x'`` with NULL minutes for a day off) → the
    effective rules per resource (weekly pattern with the exceptions applied)."""
    weekly: dict[int, list[WeeklyRule]] = defaultdict(list)
    exceptions: dict[int, dict[date, list[tuple[int, int]]]] = defaultdict(dict)
    for rid, src, weekday, start_min, end_min, first, until in rows:
        if src == "w":
            weekly[rid].append(WeeklyRule(weekday, start_min, end_min, first, until))
        elif src == "x":
            day = exceptions[rid].setdefault(first, [])
            if start_min is not None:
                day.append((start_min, end_min))
    return {rid: with_exceptions(weekly.get(rid, ()), exceptions.get(rid, {}))
            for rid in set(weekly) | set(exceptions)}


def shift_rules(conn: Connection, branch_id: int,
                resource_ids: list[int] | None = None) -> dict[int, tuple[WeeklyRule, ...]]:
    """The effective shift rules at ``branch_id`` of every doctor (or of ``resource_ids``):
    weekly shifts with the date exceptions of table ``shift_exception`` applied (migration 0003:
    on a local date the exception rows replace the weekly shifts; a row without minutes is a day
    off). Resource id → rules; resources with neither shifts nor exceptions are left out."""
    rows = fetch(conn,
        "SELECT resource_id, 'w', weekday, start_min, end_min, valid_from, valid_until FROM shift "
        "WHERE branch_id = %(b)s AND (%(ids)s::integer[] IS NULL OR resource_id = ANY(%(ids)s)) "
        "UNION ALL SELECT resource_id, 'x', NULL, start_min, end_min, local_date, NULL FROM shift_exception "
        "WHERE branch_id = %(b)s AND (%(ids)s::integer[] IS NULL OR resource_id = ANY(%(ids)s)) "
        "ORDER BY 1, 2, 3, 6, 4",
        {"b": branch_id, "ids": resource_ids})
    return rules_from_rows(rows)


def busy_seconds(conn: Connection, resource_ids: list[int], start: datetime, end: datetime,
                 *, exclude_appointment: int | None = None) -> dict[int, list[tuple[int, int]]]:
    """UTC intervals in which each resource is taken, overlapping [start, end): live
    bookings (buffers included; an expired hold is free, migration 0003) and time off, as whole epoch seconds
    ``{resource_id: [(start_s, end_s), ...]}`` — the slot search's hot path.

    One index probe per resource (an unnest join: GiST cannot use
    ``resource_id = ANY(array)``, which would scan every resource's bookings in
    the window — slower, and a far wider SERIALIZABLE read footprint).
    Fetched as integers, several times cheaper than building datetimes for
    thousands of rows (``make bench``). Lower
    bounds are rounded down and upper bounds up, so nothing shrinks.
    """
    busy: dict[int, list[tuple[int, int]]] = defaultdict(list)
    if not resource_ids:
        return busy
    rows = fetch(conn,
        "SELECT b.resource_id, floor(extract(epoch FROM lower(b.period)))::bigint, "
        "       ceil(extract(epoch FROM upper(b.period)))::bigint "
        "FROM unnest(%(ids)s::integer[]) AS r(id) "
        "JOIN booking b ON b.resource_id = r.id AND b.live AND b.period && tstzrange(%(s)s, %(e)s) "
        "WHERE b.appointment_id <> %(x)s AND (b.hold_until IS NULL OR b.hold_until > now()) "
        "UNION ALL "
        "SELECT o.resource_id, floor(extract(epoch FROM lower(o.period)))::bigint, "
        "       ceil(extract(epoch FROM upper(o.period)))::bigint "
        "FROM unnest(%(ids)s::integer[]) AS r(id) "
        "JOIN time_off o ON o.resource_id = r.id AND o.period && tstzrange(%(s)s, %(e)s)",
        {"ids": resource_ids, "s": start, "e": end, "x": exclude_appointment or 0})
    for rid, lo, hi in rows:
        busy[rid].append((lo, hi))
    return busy


def search_window(branch: BranchInfo, service: ServiceInfo, first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC window whose bookings can affect starts on local dates first..last:
    the days themselves, widened by the service's buffers and its duration."""
    lo, _ = day_bounds_utc(first, branch.tz)
    _, hi = day_bounds_utc(last, branch.tz)
    s = service.spec
    return (lo - timedelta(minutes=s.buffer_before_min),
            hi + timedelta(minutes=s.duration_min + s.buffer_after_min))


def release_expired_holds(conn: Connection, resource_ids: list[int] | None = None,
                          start: datetime | None = None, end: datetime | None = None) -> int:
    """Cancel the expired holds on ``resource_ids`` overlapping [start, end) (UTC), or every
    expired hold when no resources are given; returns how many were released.

    A booking transaction calls this for the resources and time it is about to
    take, so an expired hold never blocks anyone (the exclusion constraint still
    decides what commits); the reminder service's sweeper calls it with no
    arguments. SQL function ``clinic_release_expired_holds`` (migration 0003).
    """
    rows = fetch(conn, "SELECT clinic_release_expired_holds(%(ids)s::integer[], %(lo)s, %(hi)s)",
                 {"ids": resource_ids, "lo": start, "hi": end})
    return int(rows[0][0])
