"""What the manager reports count and how they label it, written once (issue 6, "Definitions").

A leaf module of the domain layer: plain constants and sentences, no imports, so the report
queries (``services/reports/``, which put these rules into SQL: the shared SQL definitions are
``services/reports/definitions.sql``), the PDF and CSV writers, the reports window and the
coming no-show risk model all quote the same words and buckets. Each report prints the
definitions it uses in its footnote (:func:`footnotes`).

The rules themselves come from the schema (migrations 0001 and 0003):

- an appointment's *outcome is known* when its status is ``completed`` or
  ``no_show`` (a ``no_show`` can still become ``checked_in``: the report
  counts what the row says at the snapshot);
- an appointment *occupies* its resources unless it is ``cancelled`` or ``rescheduled``
  (SQL ``clinic_status_is_live``; ``booking.live`` follows it): booked time and load;
- ``cancelled_late`` is stamped by the database when the cancellation came
  after ``start − policy_free_hours`` (the service's free-cancellation window,
  copied onto the appointment when it was booked);
- available time is the resource's rostered time: a doctor's weekly shifts at
  the branch (replaced on a date by that date's ``shift_exception`` rows),
  a room's or a piece of equipment's branch opening hours; nothing on the
  branch's holidays; time off subtracted.

Buckets: weekdays Monday first, lead-time bands (local calendar days, bounds
:data:`LEAD_BOUNDS`), age bands (whole years, bounds :data:`AGE_BOUNDS`), the SMS
labels and the booking sources (the CHECK of ``appointment.source``).
"""

from __future__ import annotations

__all__ = ["OUTCOME_STATUSES", "LIVE_EXCLUDED", "RESOURCE_WEEK_TABLE_DAYS", "RESOURCE_DAY_TABLE_DAYS", "DEFINITIONS",
           "footnotes", "WEEKDAYS", "LEAD_TIME_BANDS", "LEAD_TIME_LABELS", "LEAD_BOUNDS", "SMS_LABELS",
           "SMS_REMINDER_LABELS", "SOURCE_LABELS", "AGE_BANDS", "AGE_BOUNDS",
           "UNKNOWN_AGE", "SOURCES"]

#: Statuses whose outcome is known: the denominator of every no-show rate.
OUTCOME_STATUSES: tuple[str, ...] = ("completed", "no_show")
#: Statuses that hold no time (released at once): left out of booked minutes and load.
LIVE_EXCLUDED: tuple[str, ...] = ("cancelled", "rescheduled")

#: Weekday labels, Monday first (ISO day 1..7).
WEEKDAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: Lead-time bands: local calendar days from booking to appointment.
LEAD_TIME_BANDS: tuple[str, ...] = ("negative", "0", "1-2", "3-7", "8-14", "15-30", "31+")
#: What a manager reads for each lead-time band (same order as LEAD_TIME_BANDS; "after the day" happens
#: only in imported records, booked after the appointment's day).
LEAD_TIME_LABELS: tuple[str, ...] = ("after the day", "same day", "1-2 days", "3-7 days", "8-14 days",
                                     "15-30 days", "31+ days")
#: Lower bounds (days) of the lead-time bands after "negative": ``width_bucket(lead, LEAD_BOUNDS)`` is the
#: index into LEAD_TIME_BANDS (lead < 0 -> 0 "negative", 0 -> 1 "0", 1..2 -> 2 "1-2", …, >= 31 -> 6).
LEAD_BOUNDS: tuple[int, ...] = (0, 1, 3, 8, 15, 31)
#: "sms" when a reminder went out by SMS (channel sms, purpose reminder, status sent).
SMS_LABELS: tuple[str, ...] = ("sms", "no_sms")
#: What a manager reads for SMS_LABELS: whether an SMS reminder was sent.
SMS_REMINDER_LABELS: dict[bool, str] = {True: "SMS reminder sent", False: "No SMS reminder"}
#: The label of appointments whose patient age is not known (no source age, no birth date,
#: or a birth date after the appointment).
UNKNOWN_AGE = "unknown"
#: Age bands in whole years on the appointment's local date.
AGE_BANDS: tuple[str, ...] = ("0-11", "12-17", "18-39", "40-59", "60+", UNKNOWN_AGE)
#: Lower bounds (years) of the age bands: ``width_bucket(age, AGE_BOUNDS) - 1`` indexes AGE_BANDS; a
#: negative age (bucket 0) or none (NULL) is UNKNOWN_AGE.
AGE_BOUNDS: tuple[int, ...] = (0, 12, 18, 40, 60)
#: Appointment sources (the CHECK of appointment.source), in the order the reports number them.
SOURCES: tuple[str, ...] = ("phone", "walk_in", "online", "import")
#: What a manager reads for each source ("import": loaded from earlier records, the demo's past too).
SOURCE_LABELS: dict[str, str] = {"phone": "Phone", "walk_in": "Walk-in", "online": "Online",
                                 "import": "Imported records"}

#: The longest periods (local days) whose utilization report has a table per resource and week (half a
#: year) and per resource and day (a month); longer ones would be tens of thousands of rows.
RESOURCE_WEEK_TABLE_DAYS = 186
RESOURCE_DAY_TABLE_DAYS = 31

#: key -> the sentence printed in the footnotes (and in the CSV's and JSON's ``definitions``).
DEFINITIONS: dict[str, str] = {
    "dates": "Dates are the branch's local dates: an appointment counts on the local date of its start "
             "in its branch's time zone; hours are the branch's wall-clock hours; weeks start on Monday.",
    "no_show": "No-show: the patient did not come and the appointment was marked as a no-show. The no-show "
               "rate is no-shows divided by the appointments whose outcome is known (the visit was completed "
               "or was a no-show); cancelled, rescheduled and still open appointments are not counted.",
    "lead_time": "Lead time: whole calendar days from the day the appointment was booked on to the day of the "
                 "appointment (\"same day\" when booked on the day itself); \"after the day\" only happens in "
                 "imported records.",
    "sms": "SMS reminder sent: at least one SMS reminder about the appointment actually went out (not only "
           "planned, and not failed).",
    "age": "Age band: the patient's age in whole years on the day of the appointment, from the birth date, "
           "or as recorded in imported records; unknown when neither is known.",
    "late_cancellation": "Late cancellation: cancelled inside the service's notice period (for example less "
                         "than 48 hours before the start; the period the service had when the appointment was "
                         "booked), as recorded at the moment of cancelling; early otherwise.",
    "rescheduled": "Rescheduled: the appointment was moved to a new one; lost: cancelled without a new "
                   "appointment.",
    "available": "Available time: a doctor's weekly shifts at the branch (a date's shift exceptions replace "
                 "them), for rooms and equipment the branch's opening hours; nothing on the branch's "
                 "holidays; time off subtracted; an overnight shift's hours after midnight count on the next "
                 "date; real minutes (a daylight-saving change is an hour more or less). Booked time: "
                 "appointments that are not cancelled or rescheduled, with the preparation and clean-up time "
                 "around them, as they hold the doctor, room or equipment, on the local date their minutes fall "
                 "on (a booking over midnight counts on both).",
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
    "confirmation": "Time to confirmation: hours from when the appointment was booked (the request) to when it "
                    "was confirmed, for appointments that were confirmed in the period; imported and "
                    "immediately confirmed bookings count as 0 hours. The median and 90th percentile are taken "
                    "over whole minutes (each time truncated to the minute, interpolated between neighbours); "
                    "the mean is exact.",
    "follow_up": "Follow-up completion: completed appointments in the period that have a follow-up "
                 "message, and how many of those messages were sent.",
    "waitlist": "Waitlist fill rate: freed slots (a future booking cancelled or rescheduled) in the period "
                "that were filled from the waitlist, divided by the freed slots already decided (filled or "
                "left unfilled).",
    "overrides": "Overrides: every rule a manager or administrator overrode (booking outside shifts, on a "
                 "holiday, over time off, and so on), with who, when and why.",
}


def footnotes(keys: tuple[str, ...] | list[str]) -> list[str]:
    """The sentences of ``keys`` in that order (``KeyError`` for an unknown key: a programming error)."""
    return [DEFINITIONS[k] for k in keys]
