"""Customers recently looked up by a contact point, kept in memory.

Customers call again: the same phone numbers and addresses come back all day, and a lookup
answered from memory costs microseconds where a database read costs a thread hop.
:class:`CustomerCache` holds the answers of lookups that found a customer (never "nobody":
a new customer may be created at any moment) for up to ``capacity`` contact points, least
recently used first out.

It stays true to the record by listening to the record's own events on the bus, which are
published after each write commits: any change to a customer (updated, merged, given a
contact point) drops every entry of that customer. A lookup that was already on its way to
the database when such a change committed may carry the old state back; the generation
counter refuses to cache what was read before the latest change.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from callcenter.runtime.events import ContactPointAdded, CustomersMerged, CustomerUpdated, EventBus
from callcenter.records.model import Customer

Point = tuple[str, str]


class CustomerCache:
    """A bounded map ``(kind, value) -> Customer`` kept true by the bus's customer events."""

    def __init__(self, bus: EventBus, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[Point, Customer] = OrderedDict()
        self._points_of: dict[int, set[Point]] = {}
        self.generation = 0
        self.hits = 0
        self.misses = 0
        bus.subscribe(CustomerUpdated, lambda e: self.forget(e.customer_id))
        bus.subscribe(ContactPointAdded, lambda e: self.forget(e.customer_id))
        bus.subscribe(CustomersMerged, lambda e: (self.forget(e.survivor_id), self.forget(e.merged_id)))

    def get(self, point: Point) -> Customer | None:
        """The cached owner of ``point``, or None when not cached."""
        found = self._entries.get(point)
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end(point)
        self.hits += 1
        return found

    def put(self, point: Point, customer: Customer, generation: int) -> None:
        """Remember ``customer`` as ``point``'s owner if nothing changed since ``generation``
        (the value of :attr:`generation` when the read that found it started)."""
        if generation != self.generation or self._capacity <= 0:
            return
        self._entries[point] = customer
        self._entries.move_to_end(point)
        self._points_of.setdefault(customer.id, set()).add(point)
        while len(self._entries) > self._capacity:
            old_point, old = self._entries.popitem(last=False)
            points = self._points_of.get(old.id)
            if points is not None:
                points.discard(old_point)
                if not points:
                    del self._points_of[old.id]

    def forget(self, customer_id: int) -> None:
        """Drop every entry of ``customer_id`` (it changed) and start a new generation."""
        self.generation += 1
        for point in self._points_of.pop(customer_id, ()):
            self._entries.pop(point, None)

    def clear(self) -> None:
        """Drop everything (after writes that bypass the bus, e.g. a bulk import)."""
        self.generation += 1
        self._entries.clear()
        self._points_of.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, Any]:
        """Entries, hits and misses so far (for /metrics and benchmarks)."""
        return {"entries": len(self._entries), "hits": self.hits, "misses": self.misses}
