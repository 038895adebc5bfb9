"""The operations report: time to confirmation, follow-up completion, the waitlist's freed slots and
the overrides log of the period (``operations.sql``; definitions ``confirmation``, ``follow_up``,
``waitlist``, ``overrides`` of ``domain/report_definitions.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ...domain.report_definitions import footnotes
from ...store.database import Database
from .common import names, period, ratio, read
from .model import Chart, Column, ReportData, Table
from .sql import statement

__all__ = ["operations", "percentile"]

def percentile(hist: list[tuple[int, int]], p: float) -> float:
    """``percentile_cont(p)`` (linear interpolation between neighbouring values) of the multiset given by
    ``hist`` — sorted ``(minute, count)`` pairs — in hours."""
    total = sum(n for _, n in hist)
    if not total:
        return 0.0
    pos = p * (total - 1)
    lo_i, frac = int(pos), pos - int(pos)

    def value_at(i: int) -> int:
        seen = 0
        for m, n in hist:
            seen += n
            if i < seen:
                return m
        return hist[-1][0]

    lo = value_at(lo_i)
    hi = value_at(lo_i + 1) if frac else lo
    return (lo + (hi - lo) * frac) / 60.0


def _confirmation_rows(rows: Sequence[Any], services: dict[int, str]) -> list[tuple[str | None, int | None, int,
                                                                                     float, float, float]]:
    """(service name or None for all, service id, confirmed, mean h, median h, p90 h), by name, "all" last."""
    per: dict[int, dict[int, list[float]]] = {}
    for r in rows:
        per.setdefault(int(r.service_id), {})[int(r.m)] = [int(r.n), float(r.secs)]
    out: list[tuple[str | None, int | None, int, float, float, float]] = []
    merged: dict[int, list[float]] = {}
    for per_service in per.values():
        for m, (c, secs) in per_service.items():
            acc = merged.setdefault(m, [0, 0.0])
            acc[0] += c
            acc[1] += secs
    groups: list[tuple[int | None, dict[int, list[float]]]] = [
        *sorted(per.items(), key=lambda kv: services.get(kv[0], "?")), (None, merged)]
    for sid, hist in groups:
        if not hist:
            continue
        pairs = sorted((m, int(v[0])) for m, v in hist.items())
        total = sum(c for _, c in pairs)
        mean = sum(v[1] for v in hist.values()) / total / 3600.0
        out.append((services.get(sid, "?") if sid is not None else None, sid, total, mean,
                    percentile(pairs, 0.5), percentile(pairs, 0.9)))
    return out


def operations(db: Database, *, date_from: str | date, date_to: str | date,
               branch: str | None = None) -> ReportData:
    """Time to confirmation, follow-up completion, waitlist fill rate and the overrides log
    (definitions ``confirmation``, ``follow_up``, ``waitlist``, ``overrides``) for local dates
    ``date_from``..``date_to`` (appointments by their start; overrides by when they were made).

    Tables: ``confirmation`` (service, confirmed, mean/median/90th percentile hours; last row "All
    services"), ``follow_up`` (measure, count, share), ``waitlist`` (freed-slot state, count, share),
    ``overrides`` (when — branch-local ``YYYY-MM-DD HH:MM`` —, who, kind, appointment id, reason).
    Summary: ``median_confirmation_h``, ``follow_up_rate``, ``waitlist_fill_rate`` (None when there is
    nothing to measure), ``overrides``.
    Raises as the module says.
    """
    d_from, d_to = period(date_from, date_to)

    def work(conn: Connection, params: dict[str, Any]) -> ReportData:
        conf = _confirmation_rows(conn.execute(text(statement("operations", "confirmation")), params).all(), names(conn, "service"))
        follow = conn.execute(text(statement("operations", "follow_up")), params).one()
        wait = {r.state: int(r.n) for r in conn.execute(text(statement("operations", "waitlist")), params)}
        overrides = conn.execute(text(statement("operations", "overrides")), params).all()

        def h(v: Any) -> float:
            return round(float(v or 0), 1)

        confirmation = Table("confirmation", "Time to confirmation (hours from request to confirmation)",
                             [Column("label", "Service"), Column("confirmed", "Confirmed", "int"),
                              Column("mean_h", "Mean h", "hours"), Column("median_h", "Median h", "hours"),
                              Column("p90_h", "90th pct h", "hours")],
                             [(name or "All services", n, h(mean), h(median), h(p90))
                              for name, _sid, n, mean, median, p90 in conf],
                             [({"service_id": sid, "confirmed": True} if sid else {"confirmed": True})
                              for _name, sid, *_rest in conf])
        done, with_fu, sent = int(follow.completed), int(follow.with_follow_up), int(follow.follow_up_sent)
        follow_up = Table("follow_up", "Follow-up completion",
                          [Column("label", "Measure"), Column("count", "Appointments", "int"),
                           Column("share", "Share of completed", "rate")],
                          [("Completed appointments", done, ratio(done, done)),
                           ("With a follow-up message", with_fu, ratio(with_fu, done)),
                           ("Follow-up sent", sent, ratio(sent, done))],
                          [{"status": "completed"}, {"status": "completed", "follow_up": True},
                           {"status": "completed", "follow_up_sent": True}])
        states = ["filled", "unfilled", "offered", "open"]
        freed = sum(wait.values())
        waitlist = Table("waitlist", "Freed slots and the waitlist",
                         [Column("label", "Freed slot state"), Column("count", "Freed slots", "int"),
                          Column("share", "Share", "rate")],
                         [(s, wait.get(s, 0), ratio(wait.get(s, 0), freed)) for s in states],
                         [{"freed_state": s} for s in states])
        decided = wait.get("filled", 0) + wait.get("unfilled", 0)
        ov = Table("overrides", "Overrides log",
                   [Column("label", "When (local)"), Column("who", "Who"), Column("kind", "Kind"),
                    Column("appointment", "Appointment", "int"), Column("reason", "Reason")],
                   [(f"{r.at.astimezone(_zone(r.tz)):%Y-%m-%d %H:%M}", r.db_user, r.kind, r.appointment_id, r.reason)
                    for r in overrides],
                   [({"appointment_id": int(r.appointment_id)} if r.appointment_id else None) for r in overrides])
        median_all = next((h(median) for name, _sid, _n, _mean, median, _p90 in conf if name is None), None)
        charts = [Chart("bar", "confirmation", "label", ("median_h", "p90_h"), "Hours to confirmation by service",
                        "Hours"),
                  Chart("bar", "waitlist", "label", ("count",), "Freed slots by state", "Freed slots")]
        return ReportData("operations", "Confirmation, follow-up, waitlist and overrides", d_from, d_to, None,
                          [confirmation, follow_up, waitlist, ov], charts,
                          footnotes(["dates", "confirmation", "follow_up", "waitlist", "overrides"]),
                          {"median_confirmation_h": median_all,
                           "follow_up_rate": ratio(sent, done),
                           "waitlist_fill_rate": ratio(wait.get("filled", 0), decided),
                           "overrides": len(overrides)})

    return read(db, d_from, d_to, branch, work)


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
