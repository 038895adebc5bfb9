"""The formats of the branch on screen, for every widget that shows or reads a date, a time, money or
a phone (``domain.formats``).

The window makes a branch's formats current when it shows that branch (``navigation``); dialogs
opened from it read :func:`current` when they build their texts and parse what is typed, so a
receptionist at a Brazilian branch types "12/03/1985" and "27 99876-5432" and sees "R$ 20,00",
whatever the workstation's own locale. Before any branch is shown: ``en_GB`` and EUR.
"""

from __future__ import annotations

from ..domain.formats import Formats, formats_for

_current: list[Formats] = [formats_for(None, None)]


def current() -> Formats:
    """The formats of the branch on screen (``en_GB``/EUR before one is shown)."""
    return _current[0]


def use(formats: Formats) -> None:
    """Make ``formats`` (a branch's, ``BranchSummary.formats``) the current ones."""
    _current[0] = formats
