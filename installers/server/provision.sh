#!/usr/bin/env bash
# Create the clinic database and its owner on a PostgreSQL server.
# Usage (as the postgres system user): provision.sh [DBNAME] [OWNER]
# The owner gets CREATEROLE so `clinic user add` can create login roles.
set -euo pipefail
db="${1:-clinic}"
owner="${2:-clinic_owner}"
psql -v ON_ERROR_STOP=1 -v db="$db" -v owner="$owner" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEROLE', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
\connect :"db"
-- Extensions the schema needs are created by the migration; contrib ones need a superuser
-- on PostgreSQL < 13 or when not trusted, so create them here once.
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;
SQL
echo "Database '$db' owned by '$owner' is ready."
echo "Set a password:   psql -c \"ALTER ROLE $owner PASSWORD '…'\""
echo "Apply the schema: CLINIC_DATABASE_URL='host=$(hostname -f) dbname=$db user=$owner' clinic db upgrade"
