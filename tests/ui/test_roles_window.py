"""The signed-in role decides what the window offers (``domain.roles``), and the
server's grants stay the real guard.

Each test signs in as a real login role of its own (the ``login`` fixture) and
runs the window on that connection.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from reception_app.domain.roles import capabilities

from .conftest import Booked, make_window, select_block


def _session(name: str, role: str, db, doctor: str | None = None) -> SimpleNamespace:
    """The fields of ``services.session.SessionInfo`` the window reads."""
    resource_id = None
    if doctor is not None:
        from sqlalchemy import text

        resource_id = db.read(lambda c: c.execute(text("SELECT id FROM resource WHERE name = :n"),
                                                  {"n": doctor}).scalar_one())
    return SimpleNamespace(login=name, role=role, doctor_resource_id=resource_id, doctor_name=doctor)


def _open(qtbot, db, runner, session):
    w = make_window(qtbot, db, runner, session=session)
    with qtbot.waitSignal(w.day_loaded, timeout=10_000):
        w.show()
    return w


def test_capabilities_table_matches_the_grants():
    assert capabilities("reception").book and capabilities("reception").move
    doctor = capabilities("doctor")
    assert not doctor.book and not doctor.move and doctor.own_only
    assert doctor.allows_status("check_in") and not doctor.allows_status("cancel")
    manager = capabilities("manager")
    assert manager.reports and manager.book and manager.allows_status("check_in")
    assert manager.rosters and manager.overrides
    assert not capabilities("reception").overrides and not capabilities("reception").rosters
    assert capabilities(None) == capabilities("admin")
    with pytest.raises(KeyError):
        capabilities("janitor")


def test_doctor_is_offered_status_actions_on_their_own_appointments_only(qtbot, booked: Booked, runner, login):
    own_doctor = booked.first.resources["doctor"]
    name, db = login("doctor", doctor=own_doctor)
    w = _open(qtbot, db, runner, _session(name, "doctor", booked.db, doctor=own_doctor))
    assert name in w.windowTitle()
    assert not w.book_action.isVisible() and not w.book_action.isEnabled()
    select_block(w, booked.first)
    assert w.status_actions["check_in"].isEnabled()
    assert not w.status_actions["cancel"].isEnabled()  # offered to reception, not to doctors
    assert w.open_booking_dialog() is None

    # Checking in their own patient goes through, as that login.
    with qtbot.waitSignal(w.appointment_changed, timeout=10_000) as changed:
        w.status_actions["check_in"].trigger()
    assert changed.args[0].status == "checked_in"


def test_doctor_is_not_offered_another_doctors_appointment(qtbot, booked: Booked, runner, login):
    other = booked.db.read(lambda c: c.exec_driver_sql(
        "SELECT name FROM resource WHERE kind = 'doctor' AND name <> %(n)s ORDER BY name LIMIT 1",
        {"n": booked.first.resources["doctor"]}).scalar_one())
    name, db = login("doctor", doctor=other)
    w = _open(qtbot, db, runner, _session(name, "doctor", booked.db, doctor=other))
    select_block(w, booked.first)
    assert w.current_appointment().id == booked.first.id
    assert not any(a.isEnabled() for a in w.status_actions.values())


def test_manager_has_receptions_actions_and_the_clinic_tools(qtbot, booked: Booked, runner, login):
    name, db = login("manager")
    w = _open(qtbot, db, runner, _session(name, "manager", booked.db))
    assert len(w.model.day.appointments) >= 2  # sees everything
    select_block(w, booked.first)
    assert w.status_actions["check_in"].isEnabled()
    assert w.book_action.isEnabled()
    assert w.rosters_action.isVisible() and w.force_book_action.isVisible() and w.overrides_log_action.isVisible()


def test_reception_is_not_offered_rosters_or_overrides(qtbot, booked: Booked, runner, login):
    name, db = login("reception")
    w = _open(qtbot, db, runner, _session(name, "reception", booked.db))
    assert w.waitlist_action.isVisible() and w.new_visit_action.isVisible()
    assert not w.rosters_action.isVisible() and not w.force_book_action.isVisible()
    assert w.open_rosters() is None and w.open_force_booking() is None


def test_reception_is_offered_everything(qtbot, booked: Booked, runner, login):
    name, db = login("reception")
    w = _open(qtbot, db, runner, _session(name, "reception", booked.db))
    assert w.book_action.isEnabled()
    select_block(w, booked.first)
    assert w.status_actions["check_in"].isEnabled() and w.status_actions["cancel"].isEnabled()
