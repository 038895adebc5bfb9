"""Clinic Reception: front-desk scheduling for multi-branch clinics on PostgreSQL.

Packages, top to bottom (dependencies point down only; ``make lint`` checks it): the front doors
``ui`` (the Qt desk), ``cli`` (the ``clinic`` command) and ``reminders`` (the reminder service);
``reports`` (PDF and CSV rendering); ``services`` (the use cases and the booking core); ``store``
(connections, the transaction runner, migrations); ``config``/``logsetup``/``runtime`` (settings);
``domain`` (pure rules and values). ``docs/architecture.md`` describes them; ``docs/database.md``
describes what the database itself enforces.
"""
