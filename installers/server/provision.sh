#!/usr/bin/env bash
# Create the clinic database and its owner on a PostgreSQL server, locked down for the clinic's roles.
# Usage (as the postgres system user): provision.sh [DBNAME] [OWNER]
#
# - The owner gets CREATEROLE so `clinic user add` can create login roles.
# - PUBLIC gets nothing on the database: no CONNECT, no TEMP, no CREATE (and no CREATE on schema
#   public); the schema's migration (`clinic db upgrade`, migration 0009) grants CONNECT to the
#   clinic's group roles and revokes EXECUTE on its functions from PUBLIC. Running this again, or
#   `clinic db upgrade` again, leaves the database in that state.
# - Once the schema is applied, running this again also creates the reminder service's login
#   `reminders` in the group clinic_reminders and the patient portal's login `portal` in the group
#   clinic_portal (no passwords: set them, see the last lines it prints).
set -euo pipefail
db="${1:-clinic}"
owner="${2:-clinic_owner}"
psql -X -q -v ON_ERROR_STOP=1 -v db="$db" -v owner="$owner" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEROLE', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'db', g)
  FROM unnest(ARRAY['clinic_reception', 'clinic_doctor', 'clinic_manager', 'clinic_admin', 'clinic_reminders',
                'clinic_portal']) g
 WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = g) \gexec
\connect :"db"
-- Extensions the schema needs are created by the migration; contrib ones need a superuser
-- on PostgreSQL < 13 or when not trusted, so create them here once.
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('ALTER SCHEMA public OWNER TO %I', :'owner') \gexec
-- The reminder service's own login, once the schema (and so its group) exists.
SELECT 'CREATE ROLE reminders LOGIN IN ROLE clinic_reminders'
 WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clinic_reminders')
   AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reminders') \gexec
SELECT 'ALTER ROLE reminders SET default_transaction_isolation = serializable'
 WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reminders') \gexec
-- The patient portal's own login, once its group exists (migration 0014): it may only call the
-- portal's functions.
SELECT 'CREATE ROLE portal LOGIN IN ROLE clinic_portal'
 WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clinic_portal')
   AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'portal') \gexec
SELECT 'ALTER ROLE portal SET default_transaction_isolation = serializable'
 WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'portal') \gexec
SQL
echo "Database '$db' owned by '$owner' is ready; PUBLIC may not connect to it."
echo "Set a password:   psql -c \"ALTER ROLE $owner PASSWORD '…'\""
echo "Apply the schema: CLINIC_DATABASE_URL='host=$(hostname -f) dbname=$db user=$owner' clinic db upgrade"
echo "Then run this script again to create the reminder service's login 'reminders' and the portal's"
echo "login 'portal' (set their passwords the same way)."
