"""What the manager reports count, written once (issue 6, "Definitions").

A leaf module: plain constants and sentences, no imports from the app, so the
report queries (``services/report_queries.py``, which put these rules into
SQL), the PDF and CSV writers and the reports window all quote the same
words. Each report prints the definitions it uses in its footnote
(:func:`footnotes`).

The rules themselves come from the schema (migrations 0001 and 0003):

- an appointment's *outcome is known* when its status is ``completed`` or
  ``no_show`` (a ``no_show`` can still become ``checked_in``: the report
  counts what the row says at the snapshot);
- ``cancelled_late`` is stamped by the database when the cancellation came
  after ``start − policy_free_hours`` (the service's free-cancellation window,
  copied onto the appointment when it was booked);
- available time is the resource's rostered time: a doctor's weekly shifts at
  the branch (replaced on a date by that date's ``shift_exception`` rows),
  a room's or a piece of equipment's branch opening hours; nothing on the
  branch's holidays; time off subtracted.
"""

from __future__ import annotations

__all__ = ["OUTCOME_STATUSES", "LIVE_EXCLUDED", "RESOURCE_WEEK_TABLE_DAYS", "RESOURCE_DAY_TABLE_DAYS", "DEFINITIONS",
           "footnotes"]

#: Statuses whose outcome is known: the denominator of every no-show rate.
OUTCOME_STATUSES: tuple[str, ...] = ("completed", "no_show")
#: Statuses that hold no time (released at once): left out of booked minutes and load.
LIVE_EXCLUDED: tuple[str, ...] = ("cancelled", "rescheduled")

#: The longest periods (local days) whose utilization report has a table per resource and week (half a
#: year) and per resource and day (a month); longer ones would be tens of thousands of rows.
RESOURCE_WEEK_TABLE_DAYS = 186
RESOURCE_DAY_TABLE_DAYS = 31

#: key -> the sentence printed in the footnotes (and in the CSV's and JSON's ``definitions``).
DEFINITIONS: dict[str, str] = {
    "dates": "Dates are the branch's local dates: an appointment counts on the local date of its start "
             "in its branch's time zone; hours are the branch's wall-clock hours; weeks start on Monday.",
    "no_show": "No-show: an appointment whose status is no_show. The no-show rate is no-shows divided by "
               "appointments with a known outcome (status completed or no_show); cancelled, rescheduled "
               "and still open appointments are not counted.",
    "lead_time": "Lead time: whole local calendar days from the day the booking was made (booked_at) to the "
                 "day of the appointment; negative when booked after the day (imported data).",
    "sms": "SMS reminder: at least one reminder with channel sms and purpose reminder reached status sent.",
    "age": "Age band: whole years on the appointment's local date; the source's age for imported rows, "
           "otherwise from the patient's birth date; unknown when neither is known.",
    "late_cancellation": "Late cancellation: cancelled after the start minus the service's free-cancellation "
                         "window (policy_free_hours, copied onto the appointment when booked), as stamped by "
                         "the database at the moment of cancelling; early otherwise.",
    "rescheduled": "Rescheduled: the appointment was moved to a new one (status rescheduled); lost: cancelled "
                   "without a new appointment.",
    "available": "Available time: a doctor's weekly shifts at the branch (a date's shift exceptions replace "
                 "them), for rooms and equipment the branch's opening hours; nothing on the branch's "
                 "holidays; time off subtracted; an overnight shift's hours after midnight count on the next "
                 "date; real minutes (a daylight-saving change is an hour more or less). Booked time: live "
                 "bookings (appointments not cancelled or rescheduled) with their buffers, as they hold the "
                 "resource, on the local date their minutes fall on (a booking over midnight counts on both).",
    "utilization": "Utilization: booked minutes inside available time divided by available minutes. "
                   "Overbooked: booked minutes outside available time (outside shifts or opening hours, in "
                   "time off, on holidays).",
    "idle": "Idle: available minutes with nothing booked (available minus booked inside). Idle gap: a run of "
            "two or more quarter-hours of the local clock (such as 10:30-11:00) that are wholly available "
            "and have nothing booked, counted once per run. Over-rostered: the available hours of a "
            "resource's days on which nothing at all was booked.",
    "resource_tables": f"Per resource, utilization is given by month for any period, by week for periods of up "
                       f"to {RESOURCE_WEEK_TABLE_DAYS} days and by day for periods of up to "
                       f"{RESOURCE_DAY_TABLE_DAYS} days.",
    "load": "Bookings: appointments that are not cancelled or rescheduled, counted on the local date and "
            "hour of their start.",
    "confirmation": "Time to confirmation: hours from booked_at (the request) to confirmed_at, for "
                    "appointments that were confirmed in the period; imported and immediately confirmed "
                    "bookings count as 0 hours. The median and 90th percentile are taken over whole minutes (each "
                    "time truncated to the minute, interpolated like percentile_cont); the mean is exact.",
    "follow_up": "Follow-up completion: completed appointments in the period that have a follow_up "
                 "message, and how many of those messages were sent.",
    "waitlist": "Waitlist fill rate: freed slots (a future booking cancelled or rescheduled) in the period "
                "that were filled from the waitlist (state filled) divided by the freed slots already "
                "decided (filled or unfilled).",
    "overrides": "Overrides: every rule a manager or admin overrode (override_log), with who, when and why.",
}


def footnotes(keys: tuple[str, ...] | list[str]) -> list[str]:
    """The sentences of ``keys`` in that order (``KeyError`` for an unknown key: a programming error)."""
    return [DEFINITIONS[k] for k in keys]
