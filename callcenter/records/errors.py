"""Typed errors of the customer record.

The web layer maps them to HTTP statuses (NotFound -> 404, InvalidContact/InvalidInput -> 400
or 422 with the field named, Conflict -> 409). Every operation that raises one of them has
changed nothing stored: the unit of work that detected it rolls back.
"""

from __future__ import annotations


class RecordError(Exception):
    """Base of the record layer's errors."""


class NotFound(RecordError):
    """The customer, interaction or other object named by ``what`` and ``ident`` does not exist."""

    def __init__(self, what: str, ident: object) -> None:
        super().__init__(f"{what} {ident!r} not found")
        self.what = what
        self.ident = ident


class InvalidInput(RecordError):
    """A value given for ``field`` is unacceptable; ``message`` says why, for a human."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidContact(InvalidInput):
    """A phone number or email address in ``field`` cannot be normalized."""


class Conflict(RecordError):
    """The change contradicts what is stored (e.g. merging into a merged customer)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
