"""Who is signed in (``services.session``): the login, its highest clinic role, its doctor resource.

Real login roles made with ``services.users.add_user``; the embedded test server
trusts local connections, so a test connects as a role by naming it. Roles are
cluster-wide: names get a random suffix and are dropped after the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql as psql
from psycopg.conninfo import make_conninfo
from sqlalchemy import text

from reception_app.domain.errors import PermissionDenied
from reception_app.services.session import SessionInfo, current_session, highest_role
from reception_app.services.users import add_user
from reception_app.store.database import Database


@pytest.fixture
def signed_in(clinic_db: Database, db_url: str) -> Iterator[Callable[..., tuple[str, Database]]]:
    """``signed_in(*roles, doctor=None)`` -> (login, Database connected as that new login in every group of
    ``roles``); with no roles the login is in no clinic group."""
    created: list[str] = []
    opened: list[Database] = []

    def make(*roles: str, doctor: str | None = None) -> tuple[str, Database]:
        name = f"t_sess_{uuid.uuid4().hex[:10]}"
        created.append(name)
        if roles:
            for i, role in enumerate(roles):
                add_user(clinic_db, name, role, doctor=doctor if i == 0 else None)
        else:
            clinic_db.admin(lambda c: c.execute(text(f'CREATE ROLE "{name}" LOGIN')))
        db = Database(make_conninfo(db_url, user=name), pool=False)
        opened.append(db)
        return name, db

    yield make
    for db in opened:
        db.dispose()
    clinic_db.dispose()
    with psycopg.connect(db_url, autocommit=True) as conn:
        for name in created:
            ident = psql.Identifier(name)
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
            conn.execute("UPDATE resource SET login_role = NULL WHERE login_role = %s", (name,))
            conn.execute(psql.SQL("DROP OWNED BY {}").format(ident))
            conn.execute(psql.SQL("DROP ROLE IF EXISTS {}").format(ident))


@pytest.mark.parametrize("role", ["reception", "manager", "admin"])
def test_a_login_acts_as_its_group(signed_in, role):
    name, db = signed_in(role)
    assert current_session(db) == SessionInfo(login=name, role=role, display_name=name)


def test_a_doctor_login_names_its_doctor_resource(clinic_db, signed_in):
    name, db = signed_in("doctor", doctor="Ana Souza")
    ana = clinic_db.read(lambda c: c.execute(text("SELECT id FROM resource WHERE name = 'Ana Souza'")).scalar())
    session = current_session(db)
    assert session == SessionInfo(login=name, role="doctor", doctor_resource_id=ana, doctor_name="Ana Souza",
                                  display_name="Ana Souza")
    assert session.is_doctor


def test_the_highest_group_wins(signed_in):
    name, db = signed_in("doctor", "reception", doctor="Bruno Lima")
    session = current_session(db)
    assert (session.role, session.doctor_name) == ("reception", "Bruno Lima")
    _, db = signed_in("reception", "manager")
    assert current_session(db).role == "manager"
    _, db = signed_in("manager", "admin")
    assert current_session(db).role == "admin"


def test_a_superuser_or_the_database_owner_is_admin(clinic_db):
    # The test server's superuser owns the test database, like the embedded default's.
    session = current_session(clinic_db)
    assert session.role == "admin"
    assert session.login == clinic_db.read(lambda c: c.execute(text("SELECT current_user")).scalar())
    assert session.doctor_resource_id is None


def test_a_login_in_no_clinic_group_is_refused_in_plain_words(signed_in):
    name, db = signed_in()
    with pytest.raises(PermissionDenied, match=f"'{name}' is in none of the clinic's groups"):
        current_session(db)


def test_highest_role_order_and_bad_roles():
    assert highest_role({"doctor", "reception"}) == "reception"
    assert highest_role(["doctor"], owner=True) == "admin"
    assert highest_role(set()) is None
    with pytest.raises(ValueError, match="role: must be one of"):
        SessionInfo(login="x", role="nurse")
