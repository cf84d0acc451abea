"""Contact points recently looked up, with their owner or "nobody", kept in memory.

Customers call again: the same phone numbers and addresses come back all day, and a lookup
answered from memory costs microseconds where a database read costs a thread hop. So do
strangers: a number that belongs to nobody (a first-time caller who hangs up and calls back,
a sender who writes twice) is asked for again too. :class:`CustomerCache` holds, for up to
``capacity`` contact points, least recently used first out, the answer of the last lookup:
the customer who owns the point, or :data:`NOBODY`. Answers of "nobody" take at most a
quarter of the room (``nobody_capacity``), so a burst of unknown senders never pushes the
known customers out.

It stays true to the record by listening to the record's own events on the bus, which are
published after each write commits:

- any change to a customer (updated, merged, given a contact point) drops every entry of that
  customer;
- a contact point given to anyone (:class:`ContactPointAdded`, emitted by every write that
  stores one: a new contact's admission, a customer created or given a point through the
  API, received mail) drops that point's "nobody". Nothing else makes an unowned point owned:
  a merge moves points that already had an owner, and no write removes a point.

A lookup that was already on its way to the database when such a change committed may carry
the old state back (its read began before the commit, its answer arrives after the event was
published); the generation counter, which every change advances, refuses to cache any answer,
a customer or "nobody", read before the latest change. An answer that arrives before the
event is cached and then dropped by it.

The events come from this process's writes only. That is the whole truth because one server
owns a database (:mod:`callcenter.records.instance_lock`); a write made around the bus (a bulk
import) must call :meth:`CustomerCache.clear`. Should several nodes share a database one day,
the bus bridge that forwards their events keeps both kinds of entries true the same way.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

from callcenter.runtime.events import ContactPointAdded, CustomersMerged, CustomerUpdated, EventBus
from callcenter.records.model import Customer

Point = tuple[str, str]


class _Nobody:
    """The type of :data:`NOBODY`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOBODY"

    def __bool__(self) -> bool:
        return False


#: What :meth:`CustomerCache.get` returns for a point known to belong to nobody.
NOBODY: Final = _Nobody()


class CustomerCache:
    """A bounded map ``(kind, value) -> Customer | NOBODY`` kept true by the bus's customer events.

    ``capacity`` bounds all entries together; ``nobody_capacity`` (default a quarter of it)
    bounds the "nobody" ones among them.
    """

    def __init__(self, bus: EventBus, capacity: int = 100_000, nobody_capacity: int | None = None) -> None:
        self._capacity = max(capacity, 0)
        self._nobody_capacity = min(self._capacity // 4 if nobody_capacity is None else max(nobody_capacity, 0),
                                    self._capacity)
        self._entries: OrderedDict[Point, Customer] = OrderedDict()
        self._nobody: OrderedDict[Point, None] = OrderedDict()
        self._points_of: dict[int, set[Point]] = {}
        self.generation = 0
        self.hits = 0
        self.nobody_hits = 0
        self.misses = 0
        bus.subscribe(CustomerUpdated, lambda e: self.forget(e.customer_id))
        bus.subscribe(ContactPointAdded, self._point_added)
        bus.subscribe(CustomersMerged, lambda e: (self.forget(e.survivor_id), self.forget(e.merged_id)))

    def get(self, point: Point) -> Customer | _Nobody | None:
        """The cached owner of ``point``, :data:`NOBODY` if it is known to have none, or None
        when nothing is cached (ask the database)."""
        found = self._entries.get(point)
        if found is not None:
            self._entries.move_to_end(point)
            self.hits += 1
            return found
        if point in self._nobody:
            self._nobody.move_to_end(point)
            self.nobody_hits += 1
            return NOBODY
        self.misses += 1
        return None

    def put(self, point: Point, customer: Customer | None, generation: int) -> None:
        """Remember what a lookup of ``point`` found (``customer``, or None for nobody) if
        nothing changed since ``generation`` (the value of :attr:`generation` when the read
        that found it started)."""
        if generation != self.generation:
            return
        if customer is None:
            if self._nobody_capacity <= 0 or point in self._entries:
                return  # an owner read as fresh as this answer is kept: owned points stay owned
            self._nobody[point] = None
            self._nobody.move_to_end(point)
            if len(self._nobody) > self._nobody_capacity:
                self._nobody.popitem(last=False)
        else:
            if self._capacity <= 0:
                return
            self._nobody.pop(point, None)
            self._entries[point] = customer
            self._entries.move_to_end(point)
            self._points_of.setdefault(customer.id, set()).add(point)
        while len(self._entries) + len(self._nobody) > self._capacity:
            if self._entries:
                self._evict_oldest_owner()
            else:
                self._nobody.popitem(last=False)

    def forget(self, customer_id: int) -> None:
        """Drop every entry of ``customer_id`` (it changed) and start a new generation."""
        self.generation += 1
        for point in self._points_of.pop(customer_id, ()):
            self._entries.pop(point, None)

    def clear(self) -> None:
        """Drop everything (after writes that bypass the bus, e.g. a bulk import)."""
        self.generation += 1
        self._entries.clear()
        self._nobody.clear()
        self._points_of.clear()

    def __len__(self) -> int:
        return len(self._entries) + len(self._nobody)

    def stats(self) -> dict[str, Any]:
        """Entries (``nobody`` of them "nobody"), hits (``nobody_hits`` more answered "nobody")
        and misses so far (for /metrics and benchmarks)."""
        return {"entries": len(self), "nobody": len(self._nobody), "hits": self.hits,
                "nobody_hits": self.nobody_hits, "misses": self.misses}

    def _point_added(self, event: ContactPointAdded) -> None:
        self._nobody.pop((event.kind, event.value), None)
        self.forget(event.customer_id)

    def _evict_oldest_owner(self) -> None:
        old_point, old = self._entries.popitem(last=False)
        points = self._points_of.get(old.id)
        if points is not None:
            points.discard(old_point)
            if not points:
                del self._points_of[old.id]
