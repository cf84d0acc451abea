"""The values the record layer returns: frozen dataclasses, copies of what was stored.

Nothing here is a live row or holds a connection. Timestamps are timezone-aware UTC
datetimes; JSON documents (``attributes``, ``external_ids``, ``payload``, ``details``) are
plain dicts that belong to the caller. :func:`jsonable` turns any of them into JSON-ready data
(ISO-8601 timestamps) for the REST layer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CONTACT_KINDS = ("phone", "email")
DEFAULT_TIERS = ("basic", "gold", "platinum")

# Interaction columns a caller may set, beside the state, when the state changes.
INTERACTION_TIMESTAMPS = (
    "queued_at",
    "offered_at",
    "accepted_at",
    "answered_at",
    "ended_at",
    "wrap_up_ended_at",
)
INTERACTION_TEXT_FIELDS = ("queue", "agent", "disposition", "notes", "subject")


@dataclass(frozen=True)
class ContactPoint:
    """A normalized phone (E.164) or email address belonging to one customer."""

    id: int
    customer_id: int
    kind: str
    value: str
    created_at: datetime


@dataclass(frozen=True)
class Customer:
    """A customer with its contact points (phones first, then emails, each oldest first).

    ``provisional`` is true for a customer created from an unknown contact point.
    """

    id: int
    display_name: str
    tier: str
    language: str | None
    attributes: dict[str, Any]
    external_ids: dict[str, Any]
    provisional: bool
    created_at: datetime
    updated_at: datetime
    contact_points: tuple[ContactPoint, ...]


@dataclass(frozen=True)
class Interaction:
    """One contact on any channel, with every lifecycle timestamp (None until reached)."""

    id: int
    customer_id: int
    channel: str
    direction: str
    queue: str | None
    agent: str | None
    state: str
    created_at: datetime
    queued_at: datetime | None
    offered_at: datetime | None
    accepted_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wrap_up_ended_at: datetime | None
    disposition: str | None
    notes: str | None
    subject: str | None
    payload: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class InteractionEvent:
    """One append-only entry of an interaction's log: a state change or other fact."""

    id: int
    interaction_id: int
    at: datetime
    kind: str
    actor: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class TimelinePage:
    """A page of a customer's interactions, newest first.

    ``next_cursor`` is an opaque string to pass back for the next (older) page, or None when
    this page is the last.
    """

    customer_id: int
    items: tuple[Interaction, ...]
    next_cursor: str | None


def jsonable(value: Any) -> Any:
    """Return ``value`` (a dataclass above, or containers of them) as JSON-ready data.

    Datetimes become ISO-8601 strings with an explicit ``+00:00`` offset; tuples become lists.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value
