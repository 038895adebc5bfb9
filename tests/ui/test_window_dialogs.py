"""The booking dialog, the patient search and a patient's record go through the window's dialog
manager: one of each at a time, announced with ``dialog_opened``, opened again with the size they
last had; the booking dialog is kept (hidden) when closed until the next one replaces it."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QEvent, QSettings, QSize
from PySide6.QtWidgets import QApplication

from reception_app.ui.booking_dialog import BookingDialog
from reception_app.ui.dialog_manager import geometry_key
from reception_app.ui.main_window import MainWindow
from reception_app.ui.patient_dialog import PatientRecordDialog, PatientSearchDialog, record_key

from .conftest import Booked


def _flush_deletes() -> None:
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # what the event loop does next


def _a_new_size(dialog) -> QSize:
    """A size other than ``dialog``'s that fits its screen (restoring a place clamps it to the screen)."""
    screen = dialog.screen().availableGeometry()
    smaller = dialog.size() - QSize(40, 30)
    return QSize(min(max(smaller.width(), dialog.minimumSizeHint().width()), screen.width() - 60),
                 min(max(smaller.height(), dialog.minimumSizeHint().height()), screen.height() - 60))


def test_the_booking_dialog_opens_again_with_its_size_and_the_closed_one_is_released(
        qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.dialog_opened) as opened:
        first = window.open_booking_dialog()
    assert isinstance(first, BookingDialog) and opened.args[0] is first
    assert window.booking_dialog is first and first in window.clinic_windows
    wanted = _a_new_size(first)
    assert wanted != first.size()
    first.resize(wanted)
    first.reject()
    _flush_deletes()
    assert shiboken6.isValid(first) and not first.isVisible()  # kept: a late outcome still reaches the window
    assert window.booking_dialog is None
    assert not QSettings().value(geometry_key(window.BOOKING_KEY)).isEmpty()  # the application's settings

    second = window.open_booking_dialog()
    assert second is not None and second is not first and second.isVisible()
    assert second.size() == wanted
    _flush_deletes()
    assert not shiboken6.isValid(first)  # replaced: one booking dialog lives at a time
    assert window.clinic_windows.count(second) == 1
    second.reject()


def test_the_patient_search_is_opened_once_and_deleted_when_closed(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.dialog_opened) as opened, qtbot.waitSignal(window.patient_search_opened):
        search = window.find_patient("Ma")
    assert isinstance(search, PatientSearchDialog) and opened.args[0] is search
    assert window.patient_search is search and search.search_edit.text() == "Ma"
    with qtbot.assertNotEmitted(window.dialog_opened):
        assert window.find_patient("ria") is search  # typed on: the open one, not a second
    assert search.search_edit.text() == "Maria"
    wanted = _a_new_size(search)
    assert wanted != search.size()
    search.resize(wanted)
    search.reject()
    _flush_deletes()
    assert not shiboken6.isValid(search) and window.patient_search is None
    again = window.find_patient()
    assert again.size() == wanted
    again.reject()


def test_a_patient_record_is_opened_once_with_its_size_and_deleted_when_closed(
        qtbot, window: MainWindow, booked: Booked) -> None:
    with qtbot.waitSignal(window.dialog_opened) as opened, qtbot.waitSignal(window.patient_record_opened):
        record = window.open_patient(booked.maria)
    assert isinstance(record, PatientRecordDialog) and opened.args[0] is record and record in window.clinic_windows
    assert window.dialogs.find(record_key(booked.maria)) is record
    with qtbot.assertNotEmitted(window.dialog_opened), qtbot.assertNotEmitted(window.patient_record_opened):
        assert window.open_patient(booked.maria) is record  # brought to the front, not a second one
    wanted = _a_new_size(record)
    assert wanted != record.size()
    record.resize(wanted)
    record.reject()
    _flush_deletes()
    assert not shiboken6.isValid(record) and window.dialogs.find(record_key(booked.maria)) is None

    search = window.find_patient("Maria")  # a record opened from the search: the same kind, the same size
    qtbot.waitUntil(lambda: len(search.results()) == 1, timeout=10_000)
    with qtbot.waitSignal(window.patient_record_opened) as from_search:
        search.open_selected()
    again = from_search.args[0]
    assert again.size() == wanted and window.dialogs.find(record_key(booked.maria)) is again
    again.reject()
    search.reject()
