"""Errors of the routing core's commands; a command that raises one changed nothing."""

from __future__ import annotations


class RoutingError(Exception):
    """A command that cannot be carried out; nothing changed."""


class UnknownAgent(RoutingError):
    """No configured agent has this id."""


class UnknownInteraction(RoutingError):
    """The interaction is not waiting or held here."""


class NotOffered(RoutingError):
    """The interaction is not offered to this agent."""
