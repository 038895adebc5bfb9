"""The formats of the branch on screen, for every widget that shows or reads a date, a time, money or
a phone (``domain.formats``).

The window makes a branch's formats current when it shows that branch (``navigation``); dialogs
opened from it read :func:`current` when they build their texts and parse what is typed, so a
receptionist at a Brazilian branch types "12/03/1985" and "27 99876-5432" and sees "R$ 20,00",
whatever the workstation's own locale. Before any branch is shown: ``en_GB`` and EUR.
"""

from __future__ import annotations

from datetime import date, datetime, time

from ..domain.formats import Formats, formats_for

_current: list[Formats] = [formats_for(None, None)]


def current() -> Formats:
    """The formats of the branch on screen (``en_GB``/EUR before one is shown)."""
    return _current[0]


def use(formats: Formats) -> None:
    """Make ``formats`` (a branch's, ``BranchSummary.formats``) the current ones."""
    _current[0] = formats


def day_time(local: datetime) -> str:
    """A wall-clock instant of the branch shown as a list says it: ``"Mon 04/01/2027 10:15"``
    (``local``: already on the branch's clock)."""
    fmt = current()
    return f"{fmt.day_text(local.date())} {fmt.time_text(local)}"


def day(d: date) -> str:
    """A day as a list or title says it: ``"Mon 04/01/2027"``."""
    return current().day_text(d)


def time_text(local: datetime | time) -> str:
    """A time of day: ``"10:15"`` (``"10:15 AM"`` in the United States)."""
    return current().time_text(local)


def qt_date_format(*, weekday: bool = True) -> str:
    """A ``QDateEdit`` display format in the branch's order: ``"ddd dd/MM/yyyy"`` (``weekday``:
    with the weekday's short name) or ``"dd/MM/yyyy"``."""
    pattern = current().date_pattern
    return f"ddd {pattern}" if weekday else pattern
