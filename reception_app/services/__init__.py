"""Use cases: plain values in, plain values out, each in one transaction of ``store.database``.

- ``booking``: the booking core — the in-transaction API every way of creating or changing an
  appointment is built from (check a start, resolve resources, judge, explain, place, lock, change
  status); ``appointments``: the appointments read model (``AppointmentView``) every view shares.
- ``scheduling`` (book, hold, walk-in, move, reschedule, cancel, status), ``visits``, ``series``,
  ``waitlist``, ``overrides``: the operations, built on the core.
- ``catalog``, ``rosters``, ``patients``, ``payments``, ``dayview``, ``my_day``, ``history``,
  ``session``, ``users``, ``clinic_config``, ``importer``, ``demo``, ``notifications``,
  ``reminder_queries``: the rest of the clinic's data.
- ``reports``: the manager reports, one ``.sql`` file per report and one shared definition of
  no-show and occupied.

SQL text lives here, in ``store/`` and in ``db/`` only (``tools/check_architecture.py``).
"""
