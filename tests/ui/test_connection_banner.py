"""A lost database connection: the banner appears, the monitor reconnects, the window reloads.

The outage is real: the test database stops accepting connections
(``ALTER DATABASE … ALLOW_CONNECTIONS false``) and every backend on it — the
window's pooled connections and the listener's — is terminated with
``pg_terminate_backend`` from an admin connection to another database. Then
connections are allowed again and the monitor's probe finds the database back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QVBoxLayout, QWidget

from reception_app.store.database import Database
from reception_app.ui.connection_banner import (
    LOST_TEXT,
    RECONNECTED_TEXT,
    ConnectionBanner,
    ConnectionMonitor,
)
from reception_app.ui.live import LiveSchedule
from reception_app.ui.runner import Runner

from .conftest import Booked, make_window


@contextmanager
def outage(pg_admin_url: str, db: Database) -> Iterator[None]:
    """The clinic database refuses new connections and its open ones are killed, until the block ends."""
    name = conninfo_to_dict(db.conninfo)["dbname"]
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
        try:
            admin.execute("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(name)))


def _boxes() -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


def test_the_banner_tells_the_loss_once_and_try_now_reconnects(qtbot, pg_admin_url: str, booked: Booked,
                                                                 runner: Runner) -> None:
    # Only "Try now" probes here: the waits are far longer than the test.
    monitor = ConnectionMonitor(booked.db, runner, first_delay_ms=300_000, max_delay_ms=500_000)
    holder = QWidget()  # the window's place for it
    qtbot.addWidget(holder)
    banner = ConnectionBanner(monitor, holder, reconnected_ms=50)
    QVBoxLayout(holder).addWidget(banner)
    holder.show()
    assert not banner.isVisible()  # hidden while connected
    booked.db.ping()  # a pooled connection to kill

    with outage(pg_admin_url, booked.db):
        with qtbot.waitSignal(monitor.lost) as lost, qtbot.assertNotEmitted(runner.failed), \
                qtbot.waitSignal(monitor.retry_scheduled) as scheduled:
            runner.run(booked.db.ping, label="some reload")  # no on_failure: would be a box without a monitor
        assert "Cannot reach" in lost.args[0] or "Lost the connection" in lost.args[0]
        assert scheduled.args == [1, 300_000]
        assert banner.isVisible() and banner.text.startswith(f"{LOST_TEXT} (attempt 1, next try in ")
        assert runner.offline and monitor.is_lost
        with qtbot.assertNotEmitted(monitor.lost), qtbot.waitSignal(monitor.retry_scheduled) as again:
            runner.run(booked.db.ping, label="another reload")  # told once: no second loss
            qtbot.mouseClick(banner.try_now_button, Qt.MouseButton.LeftButton)  # still down: attempt 2
        assert again.args == [2, 500_000]  # doubled, up to the maximum
        assert "attempt 2" in banner.text
        assert _boxes() == []

    with qtbot.waitSignal(monitor.restored), qtbot.waitSignal(runner.connection_restored):
        qtbot.mouseClick(banner.try_now_button, Qt.MouseButton.LeftButton)
    assert banner.text == RECONNECTED_TEXT and banner.isVisible()
    assert not runner.offline and not monitor.is_lost
    qtbot.waitUntil(lambda: not banner.isVisible())


def test_the_window_shows_the_banner_reconnects_reloads_and_the_open_dialog_keeps_its_text(
        qtbot, pg_admin_url: str, booked: Booked, runner: Runner) -> None:
    live = LiveSchedule(booked.db.conninfo, max_backoff_s=0.5)
    live.start()
    try:
        assert live.wait_listening(10)
        window = make_window(qtbot, booked.db, runner, live=live)
        # The wiring MainWindow does (see ui/connection_banner.py).
        monitor = ConnectionMonitor(booked.db, runner, live, first_delay_ms=100, max_delay_ms=400, parent=window)
        banner = ConnectionBanner(monitor, window, reconnected_ms=100)
        window.centralWidget().layout().insertWidget(0, banner)
        monitor.restored.connect(window.reload_day)
        with qtbot.waitSignal(window.day_loaded, timeout=10_000):
            window.show()
        qtbot.waitExposed(window)

        dialog = window.open_booking_dialog()
        assert dialog is not None
        qtbot.waitUntil(lambda: dialog.service_combo.count() > 0)
        dialog.new_patient_button.setChecked(True)
        qtbot.keyClicks(dialog.name_edit, "Beatriz Nunes")
        qtbot.keyClicks(dialog.phone_edit, "+5527999990077")

        with outage(pg_admin_url, booked.db):
            with qtbot.waitSignal(monitor.lost, timeout=10_000), qtbot.assertNotEmitted(runner.failed):
                window.reload_day()  # fails (connections refused); the listener's loss may come first
            assert banner.isVisible() and banner.text.startswith(LOST_TEXT)
            qtbot.waitUntil(lambda: not runner.busy, timeout=10_000)
            assert _boxes() == []
            assert dialog.isVisible()

        # Connections allowed again: the next probe finds the database, the window reloads the day.
        with qtbot.waitSignal(monitor.restored, timeout=10_000), \
                qtbot.waitSignal(window.day_loaded, timeout=10_000):
            pass
        assert banner.text == RECONNECTED_TEXT
        qtbot.waitUntil(lambda: not banner.isVisible(), timeout=5_000)
        qtbot.waitUntil(lambda: live.listening, timeout=10_000)  # woken by the monitor, listening again
        assert dialog.isVisible()
        assert dialog.name_edit.text() == "Beatriz Nunes" and dialog.phone_edit.text() == "+5527999990077"
        assert dialog.new_patient_form.isVisible()
        assert _boxes() == []
        dialog.reject()  # the receptionist closes it: no dialog of this test stays open after it
        assert not dialog.isVisible()
    finally:
        live.stop()


def test_a_stopped_built_in_database_is_started_again_and_the_window_says_so(qtbot, pg_admin_url: str,
                                                                              window, booked: Booked) -> None:
    """Issue 16 §7: the monitor starts the built-in database again (``restart``, the app's
    ``store.embedded.start_embedded``) when a probe finds it down. Here "starting it" lets the
    refused test database take connections again — the monitor cannot tell the difference."""
    name = conninfo_to_dict(booked.db.conninfo)["dbname"]
    started: list[bool] = []

    def start_again() -> None:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(name)))
        started.append(True)

    monitor = window.connection_monitor
    monitor.restart = start_again
    with outage(pg_admin_url, booked.db):
        with qtbot.waitSignal(monitor.lost, timeout=10_000):
            monitor.report_lost("server closed the connection")
        with qtbot.waitSignal(monitor.restarted, timeout=20_000), qtbot.waitSignal(monitor.restored, timeout=20_000):
            monitor.try_now()
    assert started == [True] and not monitor.is_lost
    assert window.statusBar().currentMessage() == "The built-in database had stopped; it was started again."


def test_busy_text_never_sits_under_a_status_message(qtbot, window) -> None:
    """Issue 16 §7: after a reconnect "Loading…" and the message were drawn over each other: the
    busy label and bar are permanent (right-hand) widgets, clear of the message's place."""
    window.resize(1280, 720)
    bar = window.statusBar()
    bar.showMessage("Connection restored.")
    window.busy_label.setText("Loading…")
    window.busy_label.show()
    window.busy_bar.show()
    qtbot.waitUntil(lambda: window.busy_label.isVisible())
    text_width = bar.fontMetrics().horizontalAdvance(bar.currentMessage())
    assert window.busy_label.geometry().left() > text_width + 10
    assert window.busy_label.geometry().right() < window.database_label.geometry().left()
