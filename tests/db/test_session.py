"""Who is signed in (``services.session``): the login, its highest clinic role, its doctor resource.

Real login roles made with ``services.users.add_user`` by the shared ``login``
fixture (tests/conftest.py).
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import text

from reception_app.domain.errors import PermissionDenied
from reception_app.services.session import SessionInfo, current_session, highest_role
from reception_app.store.connect import verify_login


@pytest.mark.parametrize("role", ["reception", "manager", "admin"])
def test_a_login_acts_as_its_group(login, role):
    name, db = login(role)
    assert current_session(db) == SessionInfo(login=name, role=role, display_name=name)


def test_a_doctor_login_names_its_doctor_resource(clinic_db, login):
    name, db = login("doctor", doctor="Ana Souza")
    ana = clinic_db.read(lambda c: c.execute(text("SELECT id FROM resource WHERE name = 'Ana Souza'")).scalar())
    session = current_session(db)
    assert session == SessionInfo(login=name, role="doctor", doctor_resource_id=ana, doctor_name="Ana Souza",
                                  display_name="Ana Souza")
    assert session.is_doctor


def test_the_highest_group_wins(login):
    name, db = login("doctor", "reception", doctor="Bruno Lima")
    session = current_session(db)
    assert (session.role, session.doctor_name) == ("reception", "Bruno Lima")
    _, db = login("reception", "manager")
    assert current_session(db).role == "manager"
    _, db = login("manager", "admin")
    assert current_session(db).role == "admin"


def test_a_superuser_or_the_database_owner_is_admin(clinic_db):
    # The test server's superuser owns the test database, like the embedded default's.
    session = current_session(clinic_db)
    assert session.role == "admin"
    assert session.login == clinic_db.read(lambda c: c.execute(text("SELECT current_user")).scalar())
    assert session.doctor_resource_id is None


def test_a_login_in_no_clinic_group_is_refused_in_plain_words(login, db_url):
    """Refused twice over: the database does not let it connect (CONNECT is the clinic groups'
    only, migration 0009) — sign-in says so in plain words —, and a login given CONNECT by hand
    but no group still gets nothing from the window."""
    name, db = login()
    if not connect_privilege(db_url, "PUBLIC"):  # migration 0009 took it from PUBLIC
        with pytest.raises(PermissionDenied, match=f"'{name}' may not use the clinic database: it is in none"):
            verify_login(db_url, user=name)
        grant_connect(db_url, name)
    with pytest.raises(PermissionDenied, match=f"'{name}' is in none of the clinic's groups"):
        current_session(db)


def connect_privilege(url: str, grantee: str) -> bool:
    """Whether ``grantee`` (a role name, or PUBLIC) holds CONNECT on ``url``'s database."""
    with psycopg.connect(url) as conn:
        return bool(conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
            "WHERE d.datname = current_database() AND a.privilege_type = 'CONNECT' "
            "AND a.grantee = CASE WHEN %s = 'PUBLIC' THEN 0 ELSE (SELECT oid FROM pg_roles WHERE rolname = %s) END)",
            (grantee, grantee)).fetchone()[0])


def grant_connect(url: str, role: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        dbname = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), sql.Identifier(role)))


def test_highest_role_order_and_bad_roles():
    assert highest_role({"doctor", "reception"}) == "reception"
    assert highest_role(["doctor"], owner=True) == "admin"
    assert highest_role(set()) is None
    with pytest.raises(ValueError, match="role: must be one of"):
        SessionInfo(login="x", role="nurse")
