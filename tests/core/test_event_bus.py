"""The in-process event bus: delivery by class, order, cancelling, failing subscribers."""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.runtime.events import DomainEvent, EventBus


@dataclass(frozen=True)
class Base(DomainEvent):
    """An event for these tests."""


@dataclass(frozen=True)
class Child(Base):
    """A subclass: delivered to subscribers of Base too."""


def test_delivery_by_class_in_subscription_order_and_cancel_by_identity():
    """Subscribers of a class get its subclasses, in order; cancelling one of two subscriptions
    to the same class stops that one only; a subscription made later sees later events."""
    bus, seen = EventBus(), []
    first = bus.subscribe(Base, lambda e: seen.append(("first", type(e).__name__)))
    bus.subscribe(Base, lambda e: seen.append(("second", type(e).__name__)))
    bus.subscribe(Child, lambda e: seen.append(("child", type(e).__name__)))
    bus.publish(Child(1.0))
    bus.publish(Base(2.0))
    assert seen == [("first", "Child"), ("second", "Child"), ("child", "Child"), ("first", "Base"), ("second", "Base")]
    seen.clear()
    first.cancel()
    first.cancel()
    bus.subscribe(Base, lambda e: seen.append(("late", type(e).__name__)))
    bus.publish(Base(3.0))
    assert seen == [("second", "Base"), ("late", "Base")]


def test_a_failing_subscriber_does_not_stop_the_others():
    """One subscriber raising is logged; the next still gets the event and the publisher sees nothing."""
    bus, seen = EventBus(), []

    def broken(event: Base) -> None:
        raise RuntimeError("broken subscriber")

    bus.subscribe(Base, broken)
    bus.subscribe(Base, seen.append)
    bus.publish_all([Base(1.0), Base(2.0)])
    assert [e.at for e in seen] == [1.0, 2.0]
