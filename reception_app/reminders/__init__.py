"""The reminder service (issue 5): claim due reminders from the database, send them, mark them.

- ``config``: where the service's settings come from (settings.toml ``[reminders]``,
  environment, keyring — never the database);
- ``queue``: claim / mark / release (``FOR UPDATE SKIP LOCKED`` with a lease, under READ COMMITTED;
  the statements are in ``services/reminder_queries.py``, like all of this package's SQL);
- ``messages``: templates per language (``resources/reminder_templates/*.toml``);
- ``channels``: SMTP e-mail, the SMS/WhatsApp HTTP gateway, the file outbox;
- ``service``: the loop (wake-ups by LISTEN/NOTIFY, sweeps, SIGTERM);
- ``cli``: the ``clinic-reminders`` console script.
"""
