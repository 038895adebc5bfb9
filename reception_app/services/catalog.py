"""Read the clinic's catalog (branches, services, resources, rules) for the slot engine.

Plain SQL over the tables (a read model, not ORM objects): these queries run
on every slot search and every booking, so they fetch exactly what the engine
needs. Names are matched exactly first, then case-insensitively.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain.errors import NotFound
from ..domain.slots import KINDS, BranchSpec, ResourceSpec, ServiceSpec, WeeklyRule
from ..domain.wallclock import day_bounds_utc


@dataclass(frozen=True)
class BranchInfo:
    """A branch: ``id``, ``name``, IANA ``timezone`` and its engine spec."""

    id: int
    name: str
    timezone: str
    spec: BranchSpec

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class ServiceInfo:
    """A service with its engine spec; durations and buffers in minutes."""

    id: int
    name: str
    spec: ServiceSpec


@dataclass(frozen=True)
class ResourceInfo:
    id: int
    name: str
    kind: str
    category: str
    branch_id: int | None


def _lookup(conn: Connection, table: str, field: str, name: str) -> dict:
    rows = conn.execute(text(f"SELECT * FROM {table} WHERE name = :n"), {"n": name}).mappings().all()
    if not rows:
        rows = conn.execute(text(f"SELECT * FROM {table} WHERE lower(name) = lower(:n)"),
                            {"n": name.strip()}).mappings().all()
    if len(rows) != 1:
        raise NotFound(field, name)
    return dict(rows[0])


def load_branch(conn: Connection, name_or_id: str | int, holidays_from: date | None = None,
                holidays_until: date | None = None) -> BranchInfo:
    """The branch by name (or id), with its weekly hours and holidays in the given local-date range.

    Raises ``NotFound("branch", …)``.
    """
    if isinstance(name_or_id, int):
        row = conn.execute(text("SELECT * FROM branch WHERE id = :i"), {"i": name_or_id}).mappings().first()
        if row is None:
            raise NotFound("branch", name_or_id)
        row = dict(row)
    else:
        row = _lookup(conn, "branch", "branch", name_or_id)
    hours = tuple(
        WeeklyRule(weekday=r.weekday, start_min=r.start_min, end_min=r.end_min)
        for r in conn.execute(text("SELECT weekday, start_min, end_min FROM opening_hours WHERE branch_id = :b "
                                   "ORDER BY weekday, start_min"), {"b": row["id"]})
    )
    q = "SELECT local_date FROM holiday WHERE branch_id = :b"
    params: dict = {"b": row["id"]}
    if holidays_from is not None and holidays_until is not None:
        q += " AND local_date BETWEEN :f AND :u"
        params |= {"f": holidays_from, "u": holidays_until}
    holidays = frozenset(r[0] for r in conn.execute(text(q), params))
    return BranchInfo(row["id"], row["name"], row["timezone"],
                      BranchSpec(timezone=row["timezone"], hours=hours, holidays=holidays))


def load_service(conn: Connection, name: str) -> ServiceInfo:
    """The service by name. Raises ``NotFound("service", …)``."""
    row = _lookup(conn, "service", "service", name)
    return _service_info(row)


def _service_info(row: dict) -> ServiceInfo:
    needs = {k: v for k, v in (("doctor", row["doctor_specialty"]), ("room", row["room_kind"]),
                               ("equipment", row["equipment_kind"])) if v}
    return ServiceInfo(row["id"], row["name"], ServiceSpec(
        duration_min=row["duration_min"], buffer_before_min=row["buffer_before_min"],
        buffer_after_min=row["buffer_after_min"], min_notice_min=row["min_notice_min"],
        horizon_days=row["horizon_days"], needs=needs))


def load_service_by_id(conn: Connection, service_id: int) -> ServiceInfo:
    row = conn.execute(text("SELECT * FROM service WHERE id = :i"), {"i": service_id}).mappings().first()
    if row is None:
        raise NotFound("service", service_id)
    return _service_info(dict(row))


def load_resource(conn: Connection, name: str, field: str) -> ResourceInfo:
    """A resource by name; ``field`` ("doctor", "room", "equipment" or "resource") names the
    input in errors and, unless it is "resource", must match the resource's kind."""
    row = _lookup(conn, "resource", field, name)
    if field in KINDS and row["kind"] != field:
        raise NotFound(field, name)
    return ResourceInfo(row["id"], row["name"], row["kind"], row["category"], row["branch_id"])


def candidate_resources(conn: Connection, branch: BranchInfo, service: ServiceInfo) -> list[ResourceSpec]:
    """Active resources that could serve ``service`` at ``branch``, ordered by name.

    Doctors of the needed specialty that have any shift at this branch (their
    rules are those shifts); rooms and equipment of the needed kind located at
    the branch.
    """
    needs = service.spec.needs
    out: list[ResourceSpec] = []
    if "doctor" in needs:
        rules: dict[int, list[WeeklyRule]] = defaultdict(list)
        names: dict[int, str] = {}
        for r in conn.execute(text(
            "SELECT r.id, r.name, s.weekday, s.start_min, s.end_min, s.valid_from, s.valid_until "
            "FROM resource r JOIN shift s ON s.resource_id = r.id "
            "WHERE r.kind = 'doctor' AND r.active AND r.category = :c AND s.branch_id = :b "
            "ORDER BY r.name, s.weekday, s.start_min"), {"c": needs["doctor"], "b": branch.id}):
            names[r.id] = r.name
            rules[r.id].append(WeeklyRule(r.weekday, r.start_min, r.end_min, r.valid_from, r.valid_until))
        out += [ResourceSpec(id=i, name=names[i], kind="doctor", category=needs["doctor"], rules=tuple(rules[i]))
                for i in names]
    for kind in ("room", "equipment"):
        if kind in needs:
            for r in conn.execute(text(
                "SELECT id, name FROM resource WHERE kind = :k AND active AND category = :c AND branch_id = :b "
                "ORDER BY name"), {"k": kind, "c": needs[kind], "b": branch.id}):
                out.append(ResourceSpec(id=r.id, name=r.name, kind=kind, category=needs[kind], rules=()))
    return out


def busy_intervals(conn: Connection, resource_ids: list[int], start: datetime, end: datetime,
                   *, exclude_appointment: int | None = None) -> dict[int, list[tuple[datetime, datetime]]]:
    """UTC intervals in which each resource is taken, overlapping [start, end):
    live bookings (buffers included) and time off."""
    busy: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    if not resource_ids:
        return busy
    params = {"ids": resource_ids, "s": start, "e": end, "x": exclude_appointment or 0}
    # One index probe per resource (unnest join): GiST cannot use "resource_id = ANY(array)", which would
    # scan every resource's bookings in the window — slower, and a far wider SERIALIZABLE read footprint.
    rows = conn.execute(text(
        "SELECT b.resource_id, lower(b.period), upper(b.period) "
        "FROM unnest(CAST(:ids AS integer[])) AS r(id) "
        "JOIN booking b ON b.resource_id = r.id AND b.live AND b.period && tstzrange(:s, :e) "
        "WHERE b.appointment_id <> :x "
        "UNION ALL "
        "SELECT o.resource_id, lower(o.period), upper(o.period) "
        "FROM unnest(CAST(:ids AS integer[])) AS r(id) "
        "JOIN time_off o ON o.resource_id = r.id AND o.period && tstzrange(:s, :e)"), params).all()
    for rid, lo, hi in rows:
        busy[rid].append((lo, hi))
    return busy


def busy_seconds(conn: Connection, resource_ids: list[int], start: datetime, end: datetime,
                 *, exclude_appointment: int | None = None) -> dict[int, list[tuple[int, int]]]:
    """Like :func:`busy_intervals`, as whole epoch seconds: the slot search's hot path.

    Fetched over psycopg's binary protocol as integers, which is several times
    cheaper than building datetimes for thousands of rows (see ``make bench``).
    Upper bounds are rounded up, lower bounds down, so nothing shrinks.
    """
    busy: dict[int, list[tuple[int, int]]] = defaultdict(list)
    if not resource_ids:
        return busy
    cur = conn.connection.driver_connection.cursor(binary=True)
    cur.execute(
        "SELECT b.resource_id, floor(extract(epoch FROM lower(b.period)))::bigint, "
        "       ceil(extract(epoch FROM upper(b.period)))::bigint "
        "FROM unnest(%(ids)s::integer[]) AS r(id) "
        "JOIN booking b ON b.resource_id = r.id AND b.live AND b.period && tstzrange(%(s)s, %(e)s) "
        "WHERE b.appointment_id <> %(x)s "
        "UNION ALL "
        "SELECT o.resource_id, floor(extract(epoch FROM lower(o.period)))::bigint, "
        "       ceil(extract(epoch FROM upper(o.period)))::bigint "
        "FROM unnest(%(ids)s::integer[]) AS r(id) "
        "JOIN time_off o ON o.resource_id = r.id AND o.period && tstzrange(%(s)s, %(e)s)",
        {"ids": resource_ids, "s": start, "e": end, "x": exclude_appointment or 0})
    for rid, lo, hi in cur.fetchall():
        busy[rid].append((lo, hi))
    cur.close()
    return busy


def search_window(branch: BranchInfo, service: ServiceInfo, first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC window whose bookings can affect starts on local dates first..last:
    the days themselves, widened by the service's buffers and its duration."""
    lo, _ = day_bounds_utc(first, branch.tz)
    _, hi = day_bounds_utc(last, branch.tz)
    s = service.spec
    return (lo - timedelta(minutes=s.buffer_before_min),
            hi + timedelta(minutes=s.duration_min + s.buffer_after_min))
