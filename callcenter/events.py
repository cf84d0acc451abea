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
from typing import Callable, Generic, TypeVar

from twisted.logger import Logger

log = Logger(namespace="callcenter.events")

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

    def subscribe(self, event_type: type[E], callback: Callable[[E], object]) -> Subscription[E]:
        """Deliver every published instance of ``event_type`` (or a subclass) to ``callback``."""
        sub = Subscription(self, event_type, callback)
        self._subscriptions.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        try:
            self._subscriptions.remove(sub)
        except ValueError:
            pass

    def publish(self, event: DomainEvent) -> None:
        """Deliver ``event`` to its subscribers, in subscription order."""
        for sub in list(self._subscriptions):
            if isinstance(event, sub.event_type):
                try:
                    sub.callback(event)
                except Exception:
                    log.failure("subscriber {callback!r} failed on {event!r}", callback=sub.callback, event=event)

    def publish_all(self, events: list[DomainEvent]) -> None:
        """Publish several events in order."""
        for event in events:
            self.publish(event)
