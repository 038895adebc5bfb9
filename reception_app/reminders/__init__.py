"""The reminder service (issue 5): claim due reminders from the database, send them, mark them.

- ``config``: where the service's settings come from (settings.toml ``[reminders]``,
  environment, keyring — never the database);
- ``queue``: claim / mark / release in store-level SQL (``FOR UPDATE SKIP LOCKED`` with a lease);
- ``messages``: templates per language (``resources/reminder_templates/*.toml``);
- ``channels``: SMTP e-mail, the SMS/WhatsApp HTTP gateway, the file outbox;
- ``service``: the loop (wake-ups by LISTEN/NOTIFY, sweeps, SIGTERM);
- ``cli``: the ``clinic-reminders`` console script.
"""
