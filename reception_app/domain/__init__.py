"""Pure Python rules and values — no Qt, no SQL, no I/O.

``wallclock`` (branch-local time, the 15-minute grid, DST), ``recurrence`` (rrule on local times),
``slots`` (the slot engine: what to offer), ``status`` (appointment statuses and their transitions),
``policy`` (cancellation terms, deposits), ``roles`` (who may press which button), ``validation``
(one message naming the field and the value), ``report_definitions`` (report names, buckets and
what each figure counts) and ``errors`` (the typed errors every front door maps the same way).
"""
