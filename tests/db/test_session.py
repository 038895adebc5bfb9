"""Who is signed in (``services.session``): the login, its highest clinic role, its doctor resource.

Real login roles made with ``services.users.add_user`` by the shared ``login``
fixture (tests/conftest.py).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from reception_app.domain.errors import PermissionDenied
from reception_app.services.session import SessionInfo, current_session, highest_role


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


def test_a_login_in_no_clinic_group_is_refused_in_plain_words(login):
    name, db = login()
    with pytest.raises(PermissionDenied, match=f"'{name}' is in none of the clinic's groups"):
        current_session(db)


def test_highest_role_order_and_bad_roles():
    assert highest_role({"doctor", "reception"}) == "reception"
    assert highest_role(["doctor"], owner=True) == "admin"
    assert highest_role(set()) is None
    with pytest.raises(ValueError, match="role: must be one of"):
        SessionInfo(login="x", role="nurse")
