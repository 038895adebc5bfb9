"""The service and doctor drop-downs that several dialogs share (walk-in, waitlist).

Plain functions over a ``QComboBox``: they fill it without emitting change
signals and keep the current choice when it is still offered.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox

from ..services.dayview import DayView, ServiceSummary


def fill_services(combo: QComboBox, services: list[ServiceSummary]) -> None:
    """``"Name  (30 min)"`` per service, in the given order; the first is chosen (none: -1).
    No ``currentIndexChanged`` is emitted (the caller refreshes what depends on it)."""
    combo.blockSignals(True)
    combo.clear()
    for s in services:
        combo.addItem(f"{s.name}  ({s.duration_min} min)")
    combo.setCurrentIndex(0 if services else -1)
    combo.blockSignals(False)


def fill_doctors(combo: QComboBox, day: DayView | None, specialty: str | None, first_label: str) -> None:
    """``first_label`` (data ``None``, e.g. "Any doctor") then the day's doctors of ``specialty``
    (data: the name); keeps the current doctor when still listed; disabled when the service needs
    no doctor. No change signal is emitted."""
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    combo.addItem(first_label, None)
    if day is not None and specialty:
        for r in day.resources:
            if r.kind == "doctor" and r.category == specialty:
                combo.addItem(r.name, r.name)
    index = combo.findData(current) if current else 0
    combo.setCurrentIndex(max(index, 0))
    combo.setEnabled(bool(specialty))
    combo.blockSignals(False)
