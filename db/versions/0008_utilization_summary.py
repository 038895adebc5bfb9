"""Utilization summary (issue 6): the utilization report's figures per resource-day, kept by a
background refresh, with the database itself recording what has gone stale since.

The utilization report (``services/report_queries.py``, section 5) works out, per resource, branch
and branch-local day, the available minutes (shifts, exceptions, opening hours, holidays, time
off), the booked minutes inside and outside them, the idle gaps and the over-rostered minutes. Over
a million appointments that takes well over a second however it is written, and it is the same
answer every time for days nobody touched. So:

- ``utilization_day`` holds those per-resource-day figures (minutes; ``gaps`` a count): exactly
  the rows the live query produces, written by ``report_queries.refresh_utilization``.
- ``utilization_summary`` (one row): ``covered``, the local days the table is complete for, and
  when it was last refreshed. Days outside ``covered`` are always worked out live.
- ``utilization_stale``: what changed since the last refresh, as (resource or NULL for every
  resource, branch or NULL for every branch, a range of local days; unbounded ends allowed). The
  report works the resource-days a stale row covers out live and takes the rest from the table, in
  one snapshot, so it is never out of date; the refresh recomputes them and deletes the rows it saw.

Who records staleness (every writer: the app, imports, raw SQL; all ENABLE ALWAYS, like 0005 and
0007, so bulk loads under ``session_replication_role = replica`` are seen too):

- bookings: statement-level triggers with transition tables (one row per resource per statement:
  the hull of the days touched; a booking past midnight also touches the next day). An UPDATE that
  changed none of resource, branch, day, minutes or ``live`` records nothing (confirming a hold).
  TRUNCATE marks everything.
- shifts (their validity, plus a day for the overnight part), shift exceptions and holidays (the
  date and the next), time off (its UTC dates widened by a day each side: any zone), opening hours
  and a branch's zone (the branch, all days), a resource's kind, branch or active flag (the
  resource, all days): row triggers.

The trigger functions are SECURITY DEFINER: clerks write bookings, not these tables.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: The booking columns the summary depends on (besides ``live``), as a row of ``n`` and of ``o``.
_BOOKING_COLUMNS = ("resource_id", "branch_id", "local_day", "start_min", "end_min")
_SAME = "({}) IS NOT DISTINCT FROM ({})".format(", ".join("n." + c for c in _BOOKING_COLUMNS),
                                                ", ".join("o." + c for c in _BOOKING_COLUMNS))

UPGRADE_SQL = r"""
CREATE TABLE utilization_day (
    local_day     date NOT NULL,
    resource_id   integer NOT NULL,
    branch_id     integer NOT NULL,
    avail_min     integer NOT NULL,     -- available minutes (real minutes on a daylight-saving day)
    in_min        integer NOT NULL,     -- booked minutes inside available time
    over_min      integer NOT NULL,     -- booked minutes outside it
    gaps          integer NOT NULL,     -- idle gaps: runs of two or more free available quarter-hours
    unbooked_min  integer NOT NULL,     -- available minutes of a day with nothing booked (over-rostered)
    PRIMARY KEY (local_day, resource_id, branch_id)
);
CREATE TABLE utilization_summary (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    covered       daterange NOT NULL DEFAULT 'empty',
    refreshed_at  timestamptz
);
INSERT INTO utilization_summary DEFAULT VALUES;
CREATE TABLE utilization_stale (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resource_id   integer,              -- NULL: every resource
    branch_id     integer,              -- NULL: every branch
    days          daterange NOT NULL,   -- branch-local days; unbounded ends allowed
    noted_at      timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION utilization_stale_bookings() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO utilization_stale (resource_id, branch_id, days) VALUES (NULL, NULL, '(,)');
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO utilization_stale (resource_id, branch_id, days)
        SELECT resource_id, NULL, daterange(min(local_day), max(local_day + CASE WHEN end_min > 1440 THEN 2 ELSE 1 END))
          FROM new_rows WHERE live GROUP BY resource_id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO utilization_stale (resource_id, branch_id, days)
        SELECT resource_id, NULL, daterange(min(local_day), max(local_day + CASE WHEN end_min > 1440 THEN 2 ELSE 1 END))
          FROM old_rows WHERE live GROUP BY resource_id;
    ELSE
        INSERT INTO utilization_stale (resource_id, branch_id, days)
        SELECT resource_id, NULL, daterange(min(local_day), max(local_day + CASE WHEN end_min > 1440 THEN 2 ELSE 1 END))
          FROM (SELECT o.* FROM old_rows o
                 WHERE o.live AND NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id AND n.live
                                                 AND /*same*/)
                UNION ALL
                SELECT n.* FROM new_rows n
                 WHERE n.live AND NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id AND o.live
                                                 AND /*same*/)) x
         GROUP BY resource_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER booking_utilization_ins AFTER INSERT ON booking REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION utilization_stale_bookings();
CREATE TRIGGER booking_utilization_upd AFTER UPDATE ON booking REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION utilization_stale_bookings();
CREATE TRIGGER booking_utilization_del AFTER DELETE ON booking REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION utilization_stale_bookings();
CREATE TRIGGER booking_utilization_trunc AFTER TRUNCATE ON booking
    FOR EACH STATEMENT EXECUTE FUNCTION utilization_stale_bookings();
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_utilization_ins;
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_utilization_upd;
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_utilization_del;
ALTER TABLE booking ENABLE ALWAYS TRIGGER booking_utilization_trunc;

CREATE FUNCTION utilization_stale_roster() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    r record;
BEGIN
    FOREACH r IN ARRAY CASE TG_OP WHEN 'INSERT' THEN ARRAY[NEW] WHEN 'DELETE' THEN ARRAY[OLD] ELSE ARRAY[OLD, NEW] END LOOP
        CASE TG_TABLE_NAME
        WHEN 'shift' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days)
            VALUES (r.resource_id, NULL, daterange(r.valid_from, r.valid_until + 2));
        WHEN 'shift_exception' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days)
            VALUES (r.resource_id, NULL, daterange(r.local_date, r.local_date + 2));
        WHEN 'time_off' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days)
            VALUES (r.resource_id, NULL, daterange((lower(r.period) AT TIME ZONE 'UTC')::date - 1,
                                                   (upper(r.period) AT TIME ZONE 'UTC')::date + 2));
        WHEN 'holiday' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days)
            VALUES (NULL, r.branch_id, daterange(r.local_date, r.local_date + 2));
        WHEN 'opening_hours' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days) VALUES (NULL, r.branch_id, '(,)');
        WHEN 'branch' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days) VALUES (NULL, r.id, '(,)');
        WHEN 'resource' THEN
            INSERT INTO utilization_stale (resource_id, branch_id, days) VALUES (r.id, NULL, '(,)');
        END CASE;
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER shift_utilization AFTER INSERT OR UPDATE OR DELETE ON shift
    FOR EACH ROW EXECUTE FUNCTION utilization_stale_roster();
CREATE TRIGGER shift_exception_utilization AFTER INSERT OR UPDATE OR DELETE ON shift_exception
    FOR EACH ROW EXECUTE FUNCTION utilization_stale_roster();
CREATE TRIGGER time_off_utilization AFTER INSERT OR UPDATE OR DELETE ON time_off
    FOR EACH ROW EXECUTE FUNCTION utilization_stale_roster();
CREATE TRIGGER holiday_utilization AFTER INSERT OR UPDATE OR DELETE ON holiday
    FOR EACH ROW EXECUTE FUNCTION utilization_stale_roster();
CREATE TRIGGER opening_hours_utilization AFTER INSERT OR UPDATE OR DELETE ON opening_hours
    FOR EACH ROW EXECUTE FUNCTION utilization_stale_roster();
CREATE TRIGGER branch_utilization AFTER UPDATE OF timezone ON branch
    FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone) EXECUTE FUNCTION utilization_stale_roster();
CREATE TRIGGER resource_utilization AFTER INSERT OR DELETE OR UPDATE OF kind, branch_id, active ON resource
    FOR EACH ROW EXECUTE FUNCTION utilization_stale_roster();
ALTER TABLE shift ENABLE ALWAYS TRIGGER shift_utilization;
ALTER TABLE shift_exception ENABLE ALWAYS TRIGGER shift_exception_utilization;
ALTER TABLE time_off ENABLE ALWAYS TRIGGER time_off_utilization;
ALTER TABLE holiday ENABLE ALWAYS TRIGGER holiday_utilization;
ALTER TABLE opening_hours ENABLE ALWAYS TRIGGER opening_hours_utilization;
ALTER TABLE branch ENABLE ALWAYS TRIGGER branch_utilization;
ALTER TABLE resource ENABLE ALWAYS TRIGGER resource_utilization;

GRANT SELECT ON utilization_day, utilization_summary, utilization_stale
    TO clinic_reception, clinic_doctor, clinic_manager, clinic_admin;
GRANT INSERT, UPDATE, DELETE ON utilization_day, utilization_summary, utilization_stale TO clinic_admin;
""".replace("/*same*/", _SAME)

DOWNGRADE_SQL = r"""
DROP TRIGGER resource_utilization ON resource;
DROP TRIGGER branch_utilization ON branch;
DROP TRIGGER opening_hours_utilization ON opening_hours;
DROP TRIGGER holiday_utilization ON holiday;
DROP TRIGGER time_off_utilization ON time_off;
DROP TRIGGER shift_exception_utilization ON shift_exception;
DROP TRIGGER shift_utilization ON shift;
DROP FUNCTION utilization_stale_roster();
DROP TRIGGER booking_utilization_trunc ON booking;
DROP TRIGGER booking_utilization_del ON booking;
DROP TRIGGER booking_utilization_upd ON booking;
DROP TRIGGER booking_utilization_ins ON booking;
DROP FUNCTION utilization_stale_bookings();
DROP TABLE utilization_stale;
DROP TABLE utilization_summary;
DROP TABLE utilization_day;
"""


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)
