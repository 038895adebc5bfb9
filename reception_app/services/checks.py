"""Checks of the plain values the booking, payment and roster services take (issue 14, "Bad input").

The ``clinic`` command checks its arguments while parsing; the window, and later the web portal and
the API, call the services directly, so the services check again with the same rules
(``domain.validation``): each check returns the value or raises ``ValidationError`` naming the field
and the value, before anything is written. Without them, a NUL in a name or an id that is not a
number reached the database driver and came back as a crash dialog.
"""

from __future__ import annotations

import uuid

from ..domain.errors import NotFound, ValidationError
from ..domain.validation import check_text, parse_uuid

#: The largest value of a PostgreSQL ``integer`` key (patients, resources, time off) and of a
#: ``bigint`` one (appointments, payments, visits, series, waitlist rows).
INTEGER_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1

#: The longest name (branch, service, resource) and the longest reason or note a service takes.
NAME_MAX = 200
TEXT_MAX = 500


def record_id(value: object, field: str, *, max_value: int = BIGINT_MAX) -> int:
    """``value`` when it is a whole number (not a bool) naming a row: ``ValidationError(field, …)``
    for anything else; ``NotFound(field, value)`` for 0, a negative number or one above
    ``max_value`` (no row can have it)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, value, "must be a whole number (an id)")
    if not 1 <= value <= max_value:
        raise NotFound(field, value)
    return value


def patient_id(value: object, field: str = "patient_id") -> int:
    """A patient's id (``integer`` key): see :func:`record_id`; ``NotFound("patient", …)`` when out of range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, value, "must be a whole number (a patient's id)")
    if not 1 <= value <= INTEGER_MAX:
        raise NotFound("patient", value)
    return value


def names(**given: str | None) -> None:
    """Each name given (``branch="Centro"``, ``doctor=None`` …) is text without control characters
    or line separators, at most :data:`NAME_MAX` characters; None is skipped. Raises
    ``ValidationError(field, value, …)`` with the keyword as the field."""
    for field, value in given.items():
        if value is not None:
            check_text(value, field, max_length=NAME_MAX)


def optional_text(value: str | None, field: str, *, max_length: int = TEXT_MAX) -> str | None:
    """A reason or note as given (None stays None): ``validation.check_text`` with ``max_length``."""
    if value is None:
        return None
    return check_text(value, field, max_length=max_length)


def client_id(value: uuid.UUID | str | None, field: str = "client_id") -> uuid.UUID:
    """The caller's client id (``validation.parse_uuid``), or a new random one for None/empty.

    Raises ``ValidationError(field, value, "is not a UUID …")``."""
    return parse_uuid(value, field) or uuid.uuid4()
