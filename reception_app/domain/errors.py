"""Domain errors: expected failures with a message safe to show a receptionist.

Every error here carries a one-line, user-readable ``str()``. Anything else that
escapes a service is a bug: it goes to the log and a crash dialog, never to the
user as a stack trace.
"""

from __future__ import annotations


class ClinicError(Exception):
    """Base of all expected, user-explainable errors."""

    #: Process exit code the CLI uses for this error.
    exit_code = 1


class ValidationError(ClinicError):
    """Bad input: names the field and the offending value.

    Raised before anything is written (or inside the write transaction, which is
    then rolled back whole).
    """

    exit_code = 2

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field}: {problem} (got {value!r})")


class TimeRefused(ValidationError):
    """A start refused for its time, said as a receptionist says it (issue 16 §4): ``str()`` is
    ``"10:30 gives less than 30 minutes' notice (the service's minimum notice of 30 minutes)."`` —
    ``when``: the start on the branch's wall clock in its form — while ``field`` (``"start"``),
    ``value`` (the ISO start) and ``problem`` stay as every ``ValidationError`` has them."""

    def __init__(self, field: str, value: object, problem: str, *, when: str) -> None:
        super().__init__(field, value, problem)
        self.when = when
        self.args = (f"{when} {problem}.",)

    def __str__(self) -> str:
        return str(self.args[0])


class OutsideHours(TimeRefused):
    """The start is outside the branch's opening hours or the doctors' shifts, or on the branch's
    holiday (field ``start``; raised by the booking core, ``services.booking.explain_unavailable``).
    Unlike a start in the past, off the grid or beyond the horizon, a manager may book it anyway
    through the logged override (``services.overrides.force_book``): a front door may offer that.
    A ``ValidationError``, so every existing handler treats it as bad input (exit code 2); said as
    a ``TimeRefused`` ("10:00 is outside the branch's opening hours …")."""


class NotFound(ValidationError):
    """A named branch, service, resource, patient or appointment does not exist."""

    def __init__(self, field: str, value: object) -> None:
        super().__init__(field, value, f"no {field.replace('_', ' ')} with that name or id")


class SlotTaken(ClinicError):
    """The time is no longer free: another booking, time off or a block is in the way.

    Raised for an exclusion-constraint violation (SQLSTATE 23P01) and for a
    serialization conflict that outlives the retries. ``resource`` and ``when``
    name what was in the way when known.
    """

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        when: str | None = None,
        resource_id: int | None = None,
    ) -> None:
        self.resource = resource
        self.when = when
        self.resource_id = resource_id
        super().__init__(message)


class PatientBusy(SlotTaken):
    """The patient already has a live appointment overlapping this time (a patient is in one place
    at a time: constraint ``appointment_patient_no_overlap``, migration 0009). ``appointment_id``
    names the appointment in the way when known. A deliberate exception (a visit whose parts run
    in parallel, a companion) goes through the logged override (``parallel``)."""

    def __init__(self, message: str, *, appointment_id: int | None = None, when: str | None = None) -> None:
        self.appointment_id = appointment_id
        super().__init__(message, when=when)


class InvalidTransition(ClinicError):
    """A status change the appointment lifecycle does not allow."""

    exit_code = 2


class DatabaseUnavailable(ClinicError):
    """The database server cannot be reached (or the connection was lost).

    ``connection_lost`` is False for a subclass that means the server answered
    and refused (a wrong password): no connection banner, no reconnect loop."""

    exit_code = 4
    connection_lost: bool = True


def is_connection_loss(error: object) -> bool:
    """Whether ``error`` means the database cannot be reached now (banner and reconnect), as
    opposed to a refusal or any other error."""
    return isinstance(error, DatabaseUnavailable) and error.connection_lost


class CommitOutcomeUnknown(DatabaseUnavailable):
    """The connection was lost during COMMIT: the change may or may not have been saved.

    Raised by the write runner only then. A caller that gave the change a
    client-generated id (e.g. ``book(client_id=…)``) may retry with the same id
    once the connection is back: the retry returns what the first attempt saved,
    or saves it now, never twice (docs/architecture.md, "Transactions").
    """


class SchemaMismatch(ClinicError):
    """The database schema is older or newer than this program knows.

    The message says exactly what to run.
    """

    exit_code = 5


class PermissionDenied(ClinicError):
    """The signed-in database role may not do this (SQLSTATE 42501)."""

    exit_code = 6


class PortalRefused(ClinicError):
    """The patient portal's database functions refused a visitor's request (SQLSTATE CL020,
    ``db/sql/portal.sql``): ``reason`` is the function's HINT (``hold_gone``, ``bad_link``,
    ``not_live``, ``started``, ``outside_window``, ``too_many_codes``, ``bad_contact``,
    ``bad_details``, ``contact_changed``, ``not_online``, ``bad_resources``, ``busy``,
    ``note_too_long``, ``bad_window``), which the portal turns into its page's words; ``str()`` is the
    database's English sentence."""

    exit_code = 2

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
