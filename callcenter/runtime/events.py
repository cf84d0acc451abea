"""Typed domain events and the in-process bus.

Events are frozen dataclasses. The bus delivers them synchronously, in publish order, to
subscribers of the event's class (or any of its bases). Publishing is the last step of a
unit of work: the writer publishes only after its transaction has committed, so nothing a
subscriber sees (a browser, a webhook, a channel) can later be rolled back.

The bus is the seam where a broker (Redis, NATS) plugs in for several nodes: a bridge
subscribes to :class:`DomainEvent` and forwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

from twisted.logger import Logger

log = Logger(namespace="callcenter.runtime.events")

E = TypeVar("E", bound="DomainEvent")


@dataclass(frozen=True)
class DomainEvent:
    """Base of every domain event. ``at`` is the time (epoch seconds) the change happened."""

    at: float


@dataclass(frozen=True)
class Subscription(Generic[E]):
    """A handle returned by :meth:`EventBus.subscribe`; ``cancel()`` stops delivery."""

    bus: "EventBus"
    event_type: type
    callback: Callable[[E], object] = field(compare=False)

    def cancel(self) -> None:
        """Stop delivering events to this subscriber; cancelling twice is harmless."""
        self.bus._remove(self)


class EventBus:
    """Synchronous in-process publish/subscribe keyed by event class.

    A subscriber that raises is logged and does not stop delivery to the others, nor
    does it reach the publisher: the change it reports has already committed.
    """

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        # event class -> its subscriptions in order: the isinstance checks are made once per
        # class, not once per event (the record publishes one event per log entry).
        self._routes: dict[type, tuple[Subscription, ...]] = {}

    def subscribe(self, event_type: type[E], callback: Callable[[E], object]) -> Subscription[E]:
        """Deliver every published instance of ``event_type`` (or a subclass) to ``callback``."""
        sub = Subscription(self, event_type, callback)
        self._subscriptions.append(sub)
        self._routes.clear()
        return sub

    def _remove(self, sub: Subscription) -> None:
        # By identity: two subscriptions to one class compare equal (the callback is not compared).
        self._subscriptions = [s for s in self._subscriptions if s is not sub]
        self._routes.clear()

    def publish(self, event: DomainEvent) -> None:
        """Deliver ``event`` to its subscribers, in subscription order."""
        kind = type(event)
        route = self._routes.get(kind)
        if route is None:
            route = self._routes[kind] = tuple(s for s in self._subscriptions if issubclass(kind, s.event_type))
        for sub in route:
            try:
                sub.callback(event)
            except Exception:
                log.failure("subscriber {callback!r} failed on {event!r}", callback=sub.callback, event=event)

    def publish_all(self, events: list[DomainEvent]) -> None:
        """Publish several events in order."""
        for event in events:
            self.publish(event)


# --- The customer record's events, published after the write that made them committed. ---


@dataclass(frozen=True)
class CustomerCreated(DomainEvent):
    """A customer was created; ``provisional`` when it came from an unknown contact point."""

    customer_id: int
    provisional: bool


@dataclass(frozen=True)
class CustomerUpdated(DomainEvent):
    """Fields of a customer changed; ``fields`` names them, sorted."""

    customer_id: int
    fields: tuple[str, ...]


@dataclass(frozen=True)
class ContactPointAdded(DomainEvent):
    """A normalized phone or email now belongs to ``customer_id``."""

    customer_id: int
    kind: str
    value: str


@dataclass(frozen=True)
class CustomersMerged(DomainEvent):
    """``merged_id`` was merged into ``survivor_id``; the merged id now resolves to the survivor."""

    survivor_id: int
    merged_id: int
    actor: str | None


@dataclass(frozen=True)
class InteractionCreated(DomainEvent):
    """An interaction was logged for a customer; ``interaction`` is the record's row as
    written (a frozen :class:`~callcenter.records.model.Interaction`), for readers that keep
    figures of it (today's live counters)."""

    interaction_id: int
    customer_id: int
    channel: str
    direction: str
    state: str
    interaction: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class InteractionStateChanged(DomainEvent):
    """An interaction moved from ``previous_state`` to ``state``; ``interaction`` is the
    record's row after the change, as in :class:`InteractionCreated`."""

    interaction_id: int
    customer_id: int
    previous_state: str
    state: str
    actor: str | None
    interaction: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class InteractionEventAppended(DomainEvent):
    """An entry was appended to an interaction's event log; ``details`` as stored (for
    readers that derive figures from the log: today's queue legs)."""

    interaction_id: int
    event_id: int
    kind: str
    actor: str | None
    details: Any = field(default=None, compare=False, repr=False)
