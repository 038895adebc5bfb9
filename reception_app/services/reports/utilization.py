"""The utilization report and its summary's refresh (``utilization.sql``).

Booked over available time of each doctor, room and piece of equipment, per (resource, branch,
local day) — a "resource-day" — from the rosters and the bookings' own local columns (migration
0007: ``booking.local_day``, ``start_min``, ``end_min``, ``branch_id``) read in the order of their
index, for the resource-days the summary of migration 0008 cannot answer for (stale since its last
refresh, or not covered), and from the summary (``utilization_day``) for the rest;
:func:`refresh_utilization` keeps the summary. Booked time is the live bookings (``booking.live``:
the appointment occupies its resources, ``definitions.occupied``) with their buffers. What is
counted: definitions ``available``, ``utilization``, ``idle`` of ``domain/report_definitions.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ...domain.report_definitions import RESOURCE_DAY_TABLE_DAYS, RESOURCE_WEEK_TABLE_DAYS, footnotes
from ...store.database import Database
from .common import hours, period, rate, ratio, read, run_settings
from .model import Chart, Column, ReportData, Table
from .sql import statement

__all__ = ["utilization", "refresh_utilization", "UTILIZATION_HORIZON_DAYS", "REFRESH_LOCK", "MEASURES"]

_KINDS = ("doctor", "room", "equipment")
_UTIL_COLUMNS = [Column("available_h", "Available h", "hours"), Column("booked_h", "Booked h", "hours"),
                 Column("utilization", "Utilization", "rate"), Column("overbooked_h", "Overbooked h", "hours"),
                 Column("idle_h", "Idle h", "hours"), Column("idle_gaps", "Idle gaps", "int"),
                 Column("over_rostered_h", "Over-rostered h", "hours")]
#: The minutes and counts utilization.sql's report returns per group (its 7th to 12th columns, in this order), summed into
#: coarser groups.
MEASURES = ("avail_min", "in_min", "over_min", "idle_min", "gaps", "unbooked_min")


def _util_values(m: Sequence[int]) -> tuple[Any, ...]:
    """A table row's figures from MEASURES minutes: hours to 0.1 (as :func:`hours`), the
    utilization (as :func:`ratio`), the gap count. Inlined: a long period has tens of thousands of rows."""
    avail, inside, over, idle, gaps, unbooked = m
    return (round(avail / 60, 1), round(inside / 60, 1), rate(inside, avail) if avail else None, round(over / 60, 1),
            round(idle / 60, 1), gaps, round(unbooked / 60, 1))


def _month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _util_sum(groups: dict[Any, list[int]], key: Any, measures: Sequence[int]) -> None:
    acc = groups.get(key)
    if acc is None:
        groups[key] = list(measures)
    else:
        for i, v in enumerate(measures):
            acc[i] += v


def _util_tail(sql: str, weeks: bool, days: bool) -> str:
    """``sql`` with utilization.sql's tail with its per-resource week and day totals, or without."""
    week = statement("utilization", "week")
    return (sql.replace("/*weekcol*/", week if weeks else "NULL::date")
               .replace("/*daycol*/", "x.part" if days else "NULL::date")
               .replace("/*sets*/", (f", (x.rid, r.kind, r.name, {week})" if weeks else "")
                        + (", (x.rid, r.kind, r.name, x.part)" if days else "")))


def _util_sql(sql: str, region: str | None, keyed: bool = False) -> str:
    """``sql`` (utilization.sql's ``report``, ``summary``, ``fresh`` or ``drop``)
    for the resource-days in the region (``region="AND"``), outside it (``"AND NOT"``) or all of them
    (None); ``keyed``: read only the keys' rosters and bookings (a region of resources' keys only)."""
    sql = sql.replace("/*region*/", f"{region} {statement('utilization', 'in_region')}" if region else "")
    for marker in ("wkeys", "bkeys", "okeys"):
        sql = sql.replace(f"/*{marker}*/", statement("utilization", marker) if keyed else "")
    return sql


#: An entry of the live region: (resource id or None for every resource, branch id or None for every
#: branch, first local day, day after the last).
Region = tuple[int | None, int | None, date, date]

def _util_stale(conn: Connection, lo: date, hi: date, branch: int | None,
                covered: tuple[date, date] | None) -> list[Region]:
    """The resource-days of local days ``[lo, hi)`` the summary cannot answer for: those a stale entry
    covers, and every resource's days outside ``covered`` (``[first, after last)``, None: nothing
    summarised)."""
    region: list[Region] = [(r.resource_id, r.branch_id, r.lo, r.hi) for r in conn.execute(
        text(statement("utilization", "stale")), {"lo": lo, "hi": hi, "branch": branch})]
    if covered is None or covered[0] >= hi or covered[1] <= lo:
        return [(None, None, lo, hi)]
    if lo < covered[0]:
        region.append((None, None, lo, covered[0]))
    if covered[1] < hi:
        region.append((None, None, covered[1], hi))
    return region


def _util_covered(conn: Connection, *, lock: bool = False) -> tuple[date, date] | None:
    row = conn.execute(text(statement("utilization", "covered_for_update" if lock else "covered"))).one_or_none()
    return (row.lo, row.hi) if row is not None and row.lo is not None else None


def _util_region(conn: Connection, d_from: date, d_to: date, branch: int | None) -> list[Region] | None:
    """The live region of a utilization report over local days ``d_from``..``d_to`` (inclusive): [] when
    the summary answers for all of it, None when it answers for none of it (everything live)."""
    hi = d_to + timedelta(days=1)
    region = _util_stale(conn, d_from, hi, branch, _util_covered(conn))
    if any(rid is None and (bid is None or bid == branch) and lo <= d_from and h >= hi for rid, bid, lo, h in region):
        return None
    return region


#: The most resource-days a report works out live from their keys; a larger region is worked out whole.
_UTIL_MAX_KEYS = 200_000
#: The most resources' keys read key by key through the index (utilization.sql's ``*keys``); more are read by a
#: scan of their days, filtered (a roster reload marks every resource: a key by key read would take minutes).
_UTIL_KEYED_MAX = 20_000


def _util_days(region: Sequence[Region]) -> int:
    """How many (resource or branch, day) entries a region spans, overlaps counted twice."""
    return sum((e[3] - e[2]).days for e in region)


def _util_keys(region: Sequence[Region], *, limit: int | None = None) -> dict[str, Any] | None:
    """The key arrays of utilization.sql's ``in_region`` and ``*keys`` for a region of finite entries
    (``keyed``: only resources' entries, at most :data:`_UTIL_KEYED_MAX` keys); None when it has more than
    ``limit`` days."""
    rk: set[tuple[int, date]] = set()
    gk: set[tuple[int, date]] = set()
    ga: set[date] = set()
    if limit is not None and _util_days(region) > limit:
        return None
    for rid, bid, lo, hi in region:
        days = [lo + timedelta(days=i) for i in range((hi - lo).days)]
        if rid is not None:
            rk.update((rid, d) for d in days)
        elif bid is not None:
            gk.update((bid, d) for d in days)
        else:
            ga.update(days)
    rx = rk | {(rid, d - timedelta(days=1)) for rid, d in rk}
    return {"rk_rid": [k[0] for k in rk], "rk_day": [k[1] for k in rk], "gk_bid": [k[0] for k in gk],
            "gk_day": [k[1] for k in gk], "ga_day": sorted(ga), "rx_rid": [k[0] for k in rx],
            "rx_day": [k[1] for k in rx], "keyed": not gk and not ga and len(rk) <= _UTIL_KEYED_MAX}


def _util_region_bounds(region: Sequence[Region]) -> tuple[date, date, list[int] | None]:
    """First and last local day of a (non-empty) region, and its resources (None: some entry is for every
    resource), for the live query's ``:d_from``, ``:d_to`` and ``:rids``."""
    rids = None if any(e[0] is None for e in region) else sorted({int(e[0]) for e in region if e[0] is not None})
    return min(e[2] for e in region), max(e[3] for e in region) - timedelta(days=1), rids


def _util_exact(conn: Connection, keys: Sequence[tuple[int, int, date]]) -> list[tuple[int, int, date, int]]:
    """For resource-days (resource id, branch id, local day) whose bookings are partly outside available
    quarter-hours: (resource id, branch id, day, booked minutes the quarter-hour count put inside that are
    really outside available time), booking by booking (utilization.sql's ``exact``)."""
    if not keys:
        return []
    exact = conn.execute(text(statement("utilization", "exact")), {
        "d_from": min(k[2] for k in keys), "d_to": max(k[2] for k in keys), "branch": None,
        "rids": [k[0] for k in keys], "bids": [k[1] for k in keys], "days": [k[2] for k in keys]}).all()
    return [(int(e.rid), int(e.bid), e.day,
             min(int(e.booked), int(e.avail)) - min(int(e.inside), int(e.booked), int(e.avail))) for e in exact]


def utilization(db: Database, *, date_from: str | date, date_to: str | date,
                branch: str | None = None) -> ReportData:
    """Booked over available time of each doctor, room and piece of equipment on local dates
    ``date_from``..``date_to`` (definitions ``available``, ``utilization``, ``idle``), from the
    rosters and the bookings' local columns (migration 0007), in one snapshot: the resource-days the
    summary (migration 0008) answers for from it, the stale and uncovered ones worked out live (all of
    them live when more than :data:`_UTIL_MAX_KEYS` are stale). The figures are the same either way.

    Tables (hours rounded to 0.1; utilization = booked minutes inside available time / available
    minutes, 4 decimals; measures: available, booked inside, utilization, overbooked (booked outside
    available time), idle (available minus booked inside), idle gaps (count), over-rostered
    (available hours of resource-days with nothing booked)): ``by_kind`` (doctor, room, equipment),
    ``by_resource`` (resource, kind), ``by_month`` and, for periods of up to ``RESOURCE_WEEK_TABLE_DAYS``
    and ``RESOURCE_DAY_TABLE_DAYS`` days (``reports/definitions.py``), ``by_resource_week`` and
    ``by_resource_day`` (period, resource), ``by_week``
    and ``by_day`` (period, kind: summed over the resources of that kind). The PDF prints ``by_kind``
    and ``by_resource`` only (``pdf_tables``); the per-month/week/day tables go to the CSV and the
    screen. Summary: ``available_h``, ``booked_h``, ``utilization``, ``overbooked_h``, ``idle_h``,
    ``over_rostered_h``. Raises as the module says.
    """
    d_from, d_to = period(date_from, date_to)
    resource_days = (d_to - d_from).days + 1 <= RESOURCE_DAY_TABLE_DAYS
    resource_weeks = (d_to - d_from).days + 1 <= RESOURCE_WEEK_TABLE_DAYS

    def work(conn: Connection, params: dict[str, Any]) -> ReportData:
        # The summary's figures outside the live region (none: nothing summarised for the period), then the
        # live region's, worked out from the rosters and bookings.
        region = _util_region(conn, d_from, d_to, params["branch"])
        keys = _util_keys(region, limit=_UTIL_MAX_KEYS) if region else {}
        if keys is None:         # too scattered to work out key by key: all of it live
            region = None
        rows: list[Any] = []
        params = params | {"grain": 0 if resource_days else 1 if resource_weeks else 2}
        live = params | {"rids": None}
        if region is not None:
            rows += conn.execute(text(_util_tail(_util_sql(statement("utilization", "summary"), "AND NOT" if region else None),
                                                 resource_weeks, resource_days)), params | (keys or {})).all()
            if region:
                lo, hi, rids = _util_region_bounds(region)
                live |= (keys or {}) | {"d_from": lo, "d_to": hi, "rids": rids}
        if region is None or region:
            # Sorted aggregation throughout: the bookings arrive in booking_report's order (a group per
            # resource-day, no hash table of 300,000 groups), the windows are sorted once to match, and
            # the two sides merge.
            run_settings(conn, "sorted_aggregation")
            rows += conn.execute(text(_util_tail(_util_sql(statement("utilization", "report"), "AND" if region else None,
                                                           bool(keys and keys["keyed"])), resource_weeks, resource_days)),
                                 live).all()
        names: dict[int, tuple[str, str]] = {}
        per_month: dict[tuple[int, date], list[int]] = {}
        per_rweek: dict[tuple[int, date], list[int]] = {}
        per_rday: dict[tuple[int, date], list[int]] = {}
        per_resource: dict[int, list[int]] = {}
        per_day: dict[tuple[date, str], list[int]] = {}
        unsettled: list[tuple[int, int, date]] = []
        for rid, kind, name, month, week, day, *values in rows:    # utilization.sql tail's columns
            if values[0] is None:           # a resource-day to settle booking by booking (branch id in kind)
                unsettled.append((rid, int(kind), day))
                continue
            measures = [int(v) for v in values]    # in MEASURES order
            if rid is None:
                _util_sum(per_day, (day, kind), measures)
            elif month is not None:
                _util_sum(per_month, (rid, month), measures)
            elif week is not None:
                _util_sum(per_rweek, (rid, week), measures)
            elif day is not None:
                _util_sum(per_rday, (rid, day), measures)
            else:
                names[rid] = (kind, name)
                _util_sum(per_resource, rid, measures)
        per_week: dict[tuple[date, str], list[int]] = {}
        per_kind: dict[str, list[int]] = {}
        for (day, kind), measures in per_day.items():
            _util_sum(per_week, (day - timedelta(days=day.weekday()), kind), measures)
            _util_sum(per_kind, kind, measures)
        # booked partly outside available time: move what is outside from inside to overbooked
        for rid, _bid, day, outside in _util_exact(conn, unsettled):
            kind = names[rid][0]
            week = day - timedelta(days=day.weekday())
            accs = [per_month[(rid, day.replace(day=1))], per_resource[rid], per_kind[kind], per_day[(day, kind)],
                    per_week[(week, kind)]]
            for acc in accs + ([per_rweek[(rid, week)]] if resource_weeks else []) + (
                    [per_rday[(rid, day)]] if resource_days else []):
                acc[1] -= outside      # in_min
                acc[2] += outside      # over_min
                acc[3] += outside      # idle_min

        order = {rid: (_KINDS.index(kind), name) for rid, (kind, name) in names.items()}
        by_name = order.__getitem__

        res_ids = sorted(per_resource, key=by_name)
        by_resource = Table("by_resource", "Utilization by resource",
                            [Column("label", "Resource"), Column("kind", "Kind"), *_UTIL_COLUMNS],
                            [(names[i][1], names[i][0], *_util_values(per_resource[i])) for i in res_ids],
                            [{"booked_resource": i} for i in res_ids])
        month_keys = sorted(per_month, key=lambda k: (k[1], *by_name(k[0])))
        by_month = Table("by_month", "Utilization by month and resource",
                         [Column("label", "Month"), Column("resource", "Resource"), *_UTIL_COLUMNS],
                         [(f"{m:%Y-%m}", names[i][1], *_util_values(per_month[(i, m)])) for i, m in month_keys],
                         [{"booked_resource": i, "booked_from": m.isoformat(), "booked_to": _month_end(m).isoformat()}
                          for i, m in month_keys])
        rweek_keys = sorted(per_rweek, key=lambda k: (k[1], *by_name(k[0])))
        by_resource_week = Table(
            "by_resource_week", "Utilization by week and resource",
            [Column("label", "Week of"), Column("resource", "Resource"), *_UTIL_COLUMNS],
            [(w.isoformat(), names[i][1], *_util_values(per_rweek[(i, w)])) for i, w in rweek_keys],
            [{"booked_resource": i, "booked_from": max(w, d_from).isoformat(),
              "booked_to": min(w + timedelta(days=6), d_to).isoformat()} for i, w in rweek_keys])
        per_resource_tables = [by_month] + ([by_resource_week] if resource_weeks else [])
        if resource_days:
            rday_keys = sorted(per_rday, key=lambda k: (k[1], *by_name(k[0])))
            per_resource_tables.append(Table(
                "by_resource_day", "Utilization by day and resource",
                [Column("label", "Day"), Column("resource", "Resource"), *_UTIL_COLUMNS],
                [(d.isoformat(), names[i][1], *_util_values(per_rday[(i, d)])) for i, d in rday_keys],
                [{"booked_resource": i, "booked_from": d.isoformat(), "booked_to": d.isoformat()}
                 for i, d in rday_keys]))
        week_keys = sorted(per_week, key=lambda k: (k[0], _KINDS.index(k[1])))
        by_week = Table("by_week", "Utilization by week and kind",
                        [Column("label", "Week of"), Column("kind", "Kind"), *_UTIL_COLUMNS],
                        [(w.isoformat(), k, *_util_values(per_week[(w, k)])) for w, k in week_keys],
                        [{"booked_kind": k, "booked_from": w.isoformat(), "booked_to": (w + timedelta(days=6)).isoformat()}
                         for w, k in week_keys])
        day_keys = sorted(per_day, key=lambda k: (k[0], _KINDS.index(k[1])))
        by_day = Table("by_day", "Utilization by day and kind",
                       [Column("label", "Day"), Column("kind", "Kind"), *_UTIL_COLUMNS],
                       [(d.isoformat(), k, *_util_values(per_day[(d, k)])) for d, k in day_keys],
                       [{"booked_kind": k, "booked_from": d.isoformat(), "booked_to": d.isoformat()} for d, k in day_keys])
        kinds = [k for k in _KINDS if k in per_kind]
        by_kind = Table("by_kind", "Utilization by kind", [Column("label", "Kind"), *_UTIL_COLUMNS],
                        [(k, *_util_values(per_kind[k])) for k in kinds], [{"booked_kind": k} for k in kinds])
        total = [sum(m[i] for m in per_kind.values()) for i in range(len(MEASURES))]
        avail, inside, over, idle, _gaps, unbooked = total
        charts = [Chart("bar", "by_resource", "label", ("utilization",), "Utilization by resource", "Utilization")]
        return ReportData("utilization", "Utilization", d_from, d_to, None,
                          [by_kind, by_resource, *per_resource_tables, by_week, by_day],
                          charts, footnotes(["dates", "available", "utilization", "idle", "resource_tables"]),
                          {"available_h": hours(avail), "booked_h": hours(inside),
                           "utilization": ratio(inside, avail), "overbooked_h": hours(over),
                           "idle_h": hours(idle), "over_rostered_h": hours(unbooked)},
                          pdf_tables=["by_kind", "by_resource"])

    return read(db, d_from, d_to, branch, work)


#: The advisory lock one utilization refresh holds at a time (others skip: see refresh_utilization).
REFRESH_LOCK = 0x636C5554   # "clUT"
#: How far ahead of (and, before the first booking, behind) today the utilization summary covers, in
#: local days: a year of rosters ahead, and last year's reports without bookings yet.
UTILIZATION_HORIZON_DAYS = 400


def refresh_utilization(db: Database, *, today: date | None = None,
                        horizon_days: int = UTILIZATION_HORIZON_DAYS) -> dict[str, Any]:
    """Bring the utilization summary (migration 0008) up to date: recompute the resource-days the stale
    entries recorded since the last refresh cover, extend ``covered`` (local days) from the first booked day
    or ``today - horizon_days``, whichever is earlier, to ``today + horizon_days``, and delete the stale
    entries it saw.

    The report is right whether or not this has run (it works out stale and uncovered resource-days
    live); this keeps it fast. ``clinic db refresh`` runs it, every few minutes from a timer
    (installers/README.md, "Report summaries") and by hand. One REPEATABLE READ transaction (a snapshot, without SERIALIZABLE's predicate
    locks over every booking, which would make concurrent bookings fail and retry): what commits
    meanwhile leaves its stale entries for the next refresh. One refresh at a time (an advisory
    lock); a second one returns at once with ``skipped=True``.

    Returns ``{"skipped": bool, "covered": (first day, day after the last) | None, "resource_days":
    resource-days recomputed, "stale_entries": stale entries cleared}``. Raises
    ``DatabaseUnavailable``.
    """
    today = today or date.today()

    def work(conn: Connection) -> dict[str, Any]:
        run_settings(conn, "planner", "sorted_aggregation")
        if not conn.execute(text(statement("utilization", "try_lock")), {"k": REFRESH_LOCK}).scalar():
            return {"skipped": True, "covered": None, "resource_days": 0, "stale_entries": 0}
        covered = _util_covered(conn, lock=True)
        first = conn.execute(text(statement("utilization", "first_booked_day"))).scalar()
        lo = min(d for d in (covered and covered[0], first, today - timedelta(days=horizon_days)) if d is not None)
        hi = max(d for d in (covered and covered[1], today + timedelta(days=horizon_days + 1)) if d is not None)
        last_stale = conn.execute(text(statement("utilization", "last_stale"))).scalar()
        region = _util_stale(conn, lo, hi, None, covered) if last_stale is not None or covered != (lo, hi) else []
        count = 0
        if region:
            # utilization_fresh: an unlogged scratch table (migration 0009; TEMP is nobody's), emptied
            # before and after use; the advisory lock above keeps it to one refresh at a time.
            conn.execute(text(statement("utilization", "clear_fresh")))
            # the resources' entries together, key by key (a few resources over a few days); each
            # every-resource entry on its own (a branch's holiday; the days newly covered): no hull of
            # far-apart days
            groups = [[e for e in region if e[0] is not None]] + [[e] for e in region if e[0] is None]
            if _util_days(groups[0]) > _UTIL_MAX_KEYS:    # most resources stale: all of it
                groups = [[(None, None, lo, hi)]]
            for group in filter(None, groups):
                d_from, d_to, rids = _util_region_bounds(group)
                keys = _util_keys(group)
                assert keys is not None
                conn.execute(text(_util_sql(statement("utilization", "fresh"), "AND", keys["keyed"])),
                             keys | {"d_from": d_from, "d_to": d_to, "branch": None, "rids": rids})
                conn.execute(text(_util_sql(statement("utilization", "drop"), "AND")), keys | {"d_from": d_from, "d_to": d_to})
            keys_fix = [(int(r.resource_id), int(r.branch_id), r.local_day) for r in conn.execute(text(
                statement("utilization", "fresh_partly_outside")))]
            exact = [e for e in _util_exact(conn, keys_fix) if e[3]]
            if exact:
                conn.execute(text(statement("utilization", "fresh_settle")),
                    {"rids": [e[0] for e in exact], "bids": [e[1] for e in exact], "days": [e[2] for e in exact],
                     "outside": [e[3] for e in exact]})
            count = conn.execute(text(statement("utilization", "fresh_keep"))).rowcount
            conn.execute(text(statement("utilization", "clear_fresh")))
        cleared = 0
        if last_stale is not None:
            cleared = conn.execute(text(statement("utilization", "clear_stale")), {"last": last_stale}).rowcount
        conn.execute(text(statement("utilization", "set_covered")),
                     {"lo": lo, "hi": hi})
        return {"skipped": False, "covered": (lo, hi), "resource_days": count, "stale_entries": cleared}

    return db.write(work, isolation="REPEATABLE READ")
