-- The database itself: PUBLIC may not connect, create temporary tables or create schemas; the clinic's
-- group roles may connect. A database made from a template does not inherit its template's privileges,
-- so store/migrate.py's secure_database() applies this file after every upgrade (and the tests after
-- every clone). Before migration 0009 made clinic_reminders (the last group) it does nothing.
-- installers/server/provision.sh grants the same CONNECT when it creates a database.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clinic_reminders') THEN
        EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO clinic_reception, clinic_doctor, clinic_manager, '
                       'clinic_admin, clinic_reminders', current_database());
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clinic_portal') THEN
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO clinic_portal', current_database());
    END IF;
END $$
