"""Fixtures for the window tests (pytest-qt, offscreen).

Everything runs against a real test database (``clinic_db``: the clinic of
tests/data/test_clinic.toml) at a fixed time: ``NOW`` is 2027-01-01 00:00 UTC
(still 2026-12-31 in the Centro branch, America/Sao_Paulo, UTC-03:00), and the
day shown is ``DAY``, Monday 2027-01-04.

Qt warnings fail these tests (as in qutebrowser's suite), and nothing sleeps:
tests wait for signals or conditions with ``qtbot``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from reception_app.services import patients, scheduling
from reception_app.services.dayview import BranchSummary, list_branches
from reception_app.store.database import Database
from reception_app.ui.runner import Runner

NOW = datetime(2027, 1, 1, tzinfo=UTC)
DAY = date(2027, 1, 4)  # a Monday
LOCAL = timezone(timedelta(hours=-3))  # America/Sao_Paulo in January 2027 (no DST since 2019)
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Any Qt warning (or worse) during a window test fails it, except the offscreen
    platform's notes that it cannot resize windows to their size hints or raise them."""
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            item.add_marker(pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)"))


@pytest.fixture(autouse=True)
def no_window_left(qapp: QApplication) -> Iterator[None]:
    """After each window test, close every top-level widget it left shown and delete every one it
    left without a parent, so nothing carries over to the next test in the same process (pytest-xdist
    puts several files on one worker).

    pytest-qt closes the widgets given to ``qtbot.addWidget`` and calls ``deleteLater`` on them, but
    ``deleteLater`` waits for an event loop that may never run again before the next test: a main
    window closed that way stays alive, and so does a dialog it opened (a dialog is a window of its
    own: closing its parent does not hide it). This runs after pytest-qt's clean-up and after every
    other fixture's (it is set up first), closes what is still shown, deletes what has no parent
    (its children go with it) and then runs the pending deletions at once.
    """
    yield
    for widget in QApplication.topLevelWidgets():
        if widget.isVisible():
            widget.close()
            widget.hide()  # a closeEvent may refuse; the next test must not see it either
    for widget in QApplication.topLevelWidgets():
        if widget.parentWidget() is None:
            widget.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    """A Centro wall-clock time on ``day`` as an aware datetime."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL)


@dataclass(frozen=True)
class Booked:
    """What the ``booked_db`` fixture put into the database."""

    db: Database
    maria: int
    joao: int
    ana_clara: int
    first: scheduling.AppointmentView  # 08:00 confirmed
    second: scheduling.AppointmentView  # 09:00 checked in
    cancelled: scheduling.AppointmentView  # 10:00 cancelled: not on the grid


@pytest.fixture
def booked(clinic_db: Database) -> Booked:
    """The test clinic with three patients and three ultrasound bookings on DAY at Centro."""
    return _book_day(clinic_db, DAY, NOW)


#: A Monday in the real past, and a clock before it: the database records outcomes (no-show,
#: completed) only after an appointment's start by its own clock, so tests of them use this day.
PAST_DAY = date(2026, 6, 1)
PAST_NOW = datetime(2026, 5, 29, tzinfo=UTC)


@pytest.fixture
def booked_past(clinic_db: Database) -> Booked:
    """As ``booked``, on :data:`PAST_DAY` (booked with the clock at :data:`PAST_NOW`)."""
    return _book_day(clinic_db, PAST_DAY, PAST_NOW)


def _book_day(clinic_db: Database, day: date, now: datetime) -> Booked:
    maria = patients.add_patient(clinic_db, name="Maria Silva", birth_date="1980-05-17", phone="+5527999990001").id
    joao = patients.add_patient(clinic_db, name="João Pereira", birth_date="1975-11-02",
                                email="joao@example.com").id
    ana_clara = patients.add_patient(clinic_db, name="Ana Clara Souza", birth_date="2001-01-30").id
    common = {"branch": "Centro", "service": "Abdominal ultrasound", "now": now}
    first = scheduling.book(clinic_db, start=at(8, day=day), patient_id=maria, **common)
    second = scheduling.book(clinic_db, start=at(9, day=day), patient_id=joao, **common)
    second = scheduling.set_status(clinic_db, second.id, "checked_in")
    cancelled = scheduling.book(clinic_db, start=at(10, day=day), patient_id=ana_clara, **common)
    cancelled = scheduling.cancel(clinic_db, cancelled.id, reason="patient called", now=now)
    return Booked(clinic_db, maria, joao, ana_clara, first, second, cancelled)


@pytest.fixture
def centro(clinic_db: Database) -> BranchSummary:
    """The Centro branch's summary."""
    return next(b for b in list_branches(clinic_db) if b.name == "Centro")


@pytest.fixture
def runner(qtbot, db: Database) -> Iterator[Runner]:
    """A background runner; set up after ``db``, so it is shut down (waiting for its
    work) before the database is disposed."""
    r = Runner(log_path="/tmp/clinic-test.log")
    yield r
    r.shutdown()


def make_window(qtbot, db: Database, runner: Runner, **kwargs):
    """A ``MainWindow`` on ``db`` at Centro on ``DAY`` with a fixed clock, no periodic reload."""
    from reception_app.ui.main_window import MainWindow

    kwargs.setdefault("day", DAY)
    kwargs.setdefault("branch", "Centro")
    kwargs.setdefault("clock", lambda: NOW)
    window = MainWindow(db, runner=runner, refresh_ms=0, database_label="Database: test",
                        log_path="/tmp/clinic-test.log", **kwargs)
    qtbot.addWidget(window)
    return window


@pytest.fixture
def window(qtbot, booked: Booked, runner: Runner):
    """The main window on the ``booked`` clinic, shown, with its day loaded."""
    w = make_window(qtbot, booked.db, runner)
    with qtbot.waitSignal(w.day_loaded, timeout=10_000):
        w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=10_000)  # the month calendar's counts, too
    return w


def select_block(window, appointment: scheduling.AppointmentView):
    """Make the block of ``appointment`` (its doctor's column) the grid's current cell; return the index."""
    model = window.model
    col = next(c for c, r in enumerate(model.columns) if r.id == appointment.resource_ids["doctor"])
    index = model.index(model.row_of(appointment.start), col)
    assert model.appointment_at(index).id == appointment.id
    window.grid.setFocus()
    window.grid.setCurrentIndex(index)
    window.grid.scrollTo(index)
    return index


@pytest.fixture(autouse=True)
def fresh_view_settings(qapp: QApplication) -> Iterator[None]:
    """Each window test starts without the main window's remembered view settings (its size and
    place, "Show cancelled"), which a window closed by an earlier test in this process saved."""
    from PySide6.QtCore import QSettings

    settings = QSettings()
    for group in ("mainWindow", "view"):
        settings.remove(group)
    settings.sync()
    yield
