"""Errors of the routing core's commands; a command that raises one changed nothing."""

from __future__ import annotations

from math import isfinite


class RoutingError(Exception):
    """A command that cannot be carried out; nothing changed."""


class UnknownAgent(RoutingError):
    """No configured agent has this id."""


class UnknownInteraction(RoutingError):
    """The interaction is not waiting or held here."""


class NotOffered(RoutingError):
    """The interaction is not offered to this agent."""


class InvalidTime(RoutingError):
    """A time given to the core is not a finite number (NaN or infinite): nothing changed.

    A NaN never compares true, so it would silently freeze a deadline or an order; an
    infinite time would put work out of reach for ever. The core refuses both.
    """


def check_time(value: float, what: str = "now") -> float:
    """``value`` if it is a finite number, else :class:`InvalidTime` naming ``what``."""
    if not isfinite(value):
        raise InvalidTime(f"{what} must be a finite number of seconds, not {value!r}")
    return value
