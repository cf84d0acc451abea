"""The routing core's mutable state: agents, waiting interactions, ordered lines, deadlines.

Internal to :mod:`routing.router`; kept apart so the router reads as the rules it applies.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field
from typing import Any, Iterable

from routing.model import AgentConfig, InteractionSpec, Policy, QueueConfig


_NONE: frozenset[str] = frozenset()


@dataclass
class AgentState:
    """An agent as the core tracks it.

    ``wraps`` holds the wrap-ups running, per channel (until when): a channel in wrap-up gets
    no new offer, and a blocking channel (a call) none while any wrap-up runs, but the other
    channels go on, so an agent answering emails is not stopped by a call's after-call work.
    """

    cfg: AgentConfig
    logged_in: bool = False
    ready: bool = False
    reason: str | None = None
    since: float = 0.0
    idle_since: float = 0.0
    used: int = 0
    work: dict[int, str] = field(default_factory=dict)      # accepted interaction -> channel
    offers: dict[int, str] = field(default_factory=dict)    # offered interaction -> channel
    wraps: dict[str, float] = field(default_factory=dict)   # channel in wrap-up -> until
    backoff_until: float = float("-inf")   # times may be negative (simulations): no back-off yet
    no_answer: int = 0
    phone_ok: bool = True
    shown: str = "logged_out"
    # (holding, room, phone ok, wrapping channels, channels) -> open channels: a few shapes, shared
    # by the agents of one capacity, costs and blocking channels (the router sets it)
    open_cache: dict[tuple, frozenset[str]] = field(default_factory=dict, repr=False)

    @property
    def wrap_until(self) -> float | None:
        """When the last running wrap-up ends (None: no wrap-up)."""
        return max(self.wraps.values()) if self.wraps else None

    def display_state(self) -> str:
        """logged_out, wrap_up, not_ready, busy or available.

        ``wrap_up`` while a wrap-up runs and nothing else is held or offered; an agent who
        holds more work than the wrap-up is ``busy``.
        """
        if not self.logged_in:
            return "logged_out"
        if self.wraps and not (self.work or self.offers):
            return "wrap_up"
        if not self.ready:
            return "not_ready"
        if self.work or self.offers:
            return "busy"
        return "available"

    def holds_blocking(self) -> bool:
        """Something held or offered is on a blocking channel (a call): nothing else fits."""
        blocking = self.cfg.blocking
        return not (blocking.isdisjoint(self.work.values()) and blocking.isdisjoint(self.offers.values()))

    def could_take_something(self, now: float) -> bool:
        """Logged in, ready, not backing off, capacity left, nothing blocking held."""
        if not (self.logged_in and self.ready) or now < self.backoff_until:
            return False
        if self.used >= self.cfg.capacity:
            return False
        return not ((self.work or self.offers) and self.holds_blocking())

    def open_channels(self, now: float, channels: frozenset[str]) -> frozenset[str]:
        """The channels of which the agent could take one more interaction right now.

        State, wrap-ups, back-off, capacity, blocking channels and the phone (voice) count;
        per-interaction conditions (requirements, rejects, delays) do not.
        """
        if not (self.logged_in and self.ready) or now < self.backoff_until:
            return _NONE
        cfg = self.cfg
        room = cfg.capacity - self.used
        if room <= 0:
            return _NONE
        held = bool(self.work or self.offers)
        if held and self.holds_blocking():
            return _NONE
        shape = (held, room, self.phone_ok, tuple(self.wraps) if self.wraps else (), channels)
        found = self.open_cache.get(shape)
        if found is None:
            busy = held or bool(self.wraps)
            found = self.open_cache[shape] = frozenset(
                ch for ch in channels
                if not (ch in cfg.blocking and busy) and ch not in self.wraps and cfg.cost(ch) <= room
                and (ch != "voice" or self.phone_ok))
        return found


@dataclass
class WaitingItem:
    """An interaction waiting for an agent (possibly offered to one right now)."""

    spec: InteractionSpec
    queue: str
    virtual_start: float
    priority: int
    key: tuple
    step: int
    step_since: float
    queued_since: float
    offered_to: str | None = None
    offer_expires: float | None = None
    rejected: dict[str, float] = field(default_factory=dict)
    hops: int = 0


@dataclass
class HeldItem:
    """An accepted interaction: who holds it, from which queue, since when."""

    spec: InteractionSpec
    agent: str
    queue: str
    accepted_at: float


def bonus_parts(policy: Policy, priority: int, tier_bonus: float) -> tuple[float, float, float]:
    """(priority bonus, tier bonus, total after the cap) in seconds."""
    p = priority * policy.priority_seconds
    return p, tier_bonus, min(p + tier_bonus, policy.max_bonus)


def tier_bonus(policy: Policy, spec: InteractionSpec) -> float:
    """The spec's own tier bonus, else the policy's bonus for its tier (0 for an unknown tier)."""
    if spec.tier_bonus is not None:
        return spec.tier_bonus
    return policy.tier_bonuses.get(spec.tier, 0.0)


def order_key(policy: Policy, priority: int, tier_bonus: float, virtual_start: float, iid: int) -> tuple:
    """The time-independent sort key of a waiting interaction (smaller goes first).

    Everyone ages at the same rate, so comparing ``aging x (now - start) + bonus`` at any
    instant is comparing ``bonus - aging x start``: the order never needs re-sorting.
    """
    value = bonus_parts(policy, priority, tier_bonus)[2] - policy.aging_rate * virtual_start
    if policy.strict_priority:
        return (-priority, -value, virtual_start, iid)
    return (-value, virtual_start, iid)


class Lines:
    """Ordered lines of waiting interactions: one per queue and channel.

    Keys sort best first and end with the interaction id. Splitting a queue by channel lets
    an agent with room for one more email walk the email line only. Each line has a twin
    holding only the work not on offer right now (:meth:`offerable`): a free agent walks
    that one, so work already offered to others is never stepped over again (a moment that
    frees thousands of agents at once would otherwise cost a quadratic walk).
    """

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, list[tuple]]] = {}
        self._offerable: dict[str, dict[str, list[tuple]]] = {}

    def add(self, queue: str, key: tuple, channel: str, offerable: bool = True) -> None:
        """Insert ``key`` in the line of ``queue`` and ``channel`` (and in its offerable twin)."""
        bisect.insort(self._keys.setdefault(queue, {}).setdefault(channel, []), key)
        if offerable:
            bisect.insort(self._offerable.setdefault(queue, {}).setdefault(channel, []), key)

    def add_many(self, entries: Iterable[tuple[str, tuple, str]]) -> None:
        """Insert many ``(queue, key, channel)`` of work not on offer at once: one sort per line touched."""
        touched = []
        for queue, key, channel in entries:
            for lines in (self._keys, self._offerable):
                line = lines.setdefault(queue, {}).setdefault(channel, [])
                line.append(key)
                touched.append(line)
        for line in {id(line): line for line in touched}.values():
            line.sort()

    def remove(self, queue: str, key: tuple, channel: str) -> None:
        """Take ``key`` out of its line (KeyError if absent) and out of the offerable twin."""
        if not _drop(self._keys.get(queue, {}).get(channel, []), key):
            raise KeyError(key)
        _drop(self._offerable.get(queue, {}).get(channel, []), key)

    def hold(self, queue: str, key: tuple, channel: str) -> None:
        """``key`` went on offer: out of the offerable twin (it keeps its place in line)."""
        _drop(self._offerable.get(queue, {}).get(channel, []), key)

    def release(self, queue: str, key: tuple, channel: str) -> None:
        """``key``'s offer ended: back in the offerable twin."""
        bisect.insort(self._offerable.setdefault(queue, {}).setdefault(channel, []), key)

    def offerable(self, queue: str) -> dict[str, list[tuple]]:
        """Channel -> the live key list of ``queue``'s work not on offer (do not mutate)."""
        return self._offerable.get(queue, _NO_LINES)

    def position(self, queue: str, key: tuple) -> int:
        """1-based place of ``key`` among every channel's work in ``queue``."""
        place = 1
        for line in self._keys.get(queue, _NO_LINES).values():
            place += bisect.bisect_left(line, key)
        return place

    def ids(self, queue: str) -> list[int]:
        """The interaction ids of ``queue`` in order, every channel merged (a copy)."""
        return [k[-1] for k in heapq.merge(*self._keys.get(queue, {}).values())]

    def keys(self, queue: str, channel: str) -> list[tuple]:
        """The live key list of one line (do not mutate)."""
        return self._keys.get(queue, {}).get(channel, [])

    def length(self, queue: str) -> int:
        """How many wait in ``queue``."""
        return sum(len(line) for line in self._keys.get(queue, {}).values())

    def queues(self) -> list[str]:
        """Queues with a line."""
        return list(self._keys)


_NO_LINES: dict[str, list[tuple]] = {}


def _drop(line: list[tuple], key: tuple) -> bool:
    """Remove ``key`` from the sorted ``line``; False if it was not there."""
    i = bisect.bisect_left(line, key)
    if i >= len(line) or line[i] != key:
        return False
    del line[i]
    return True


class FreeMembers:
    """The members of one queue with room for one more interaction of one channel, in the
    queue's selection order: keys ``(member priority, metric, idle since, agent id)`` as
    :meth:`routing.eligibility.Eligibility._selection_key` gives them for the queue's own skills.

    An arrival walks it from the best end and stops at the first eligible agents instead of
    ranking every free member: with thousands idle an offer costs a bisect, not a scan.
    """

    __slots__ = ("keys",)

    def __init__(self) -> None:
        self.keys: list[tuple] = []

    def add(self, key: tuple) -> None:
        """File a member under ``key``."""
        bisect.insort(self.keys, key)

    def discard(self, key: tuple) -> None:
        """Take out the member filed under ``key`` (no-op if absent)."""
        _drop(self.keys, key)

    def __len__(self) -> int:
        return len(self.keys)


class Deadlines:
    """A heap of (time, kind, ref) with lazy invalidation by the caller's validity check.

    ``heap`` holds ``(time, sequence, kind, ref)`` entries; the router's tick reads and pops it
    directly (``heapq``), as the hottest loop of the core.
    """

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, str, Any]] = []
        self._seq = 0

    def push(self, at: float, kind: str, ref: Any) -> None:
        """Remember to look at ``ref`` for ``kind`` at ``at``."""
        self._seq += 1
        heapq.heappush(self.heap, (at, self._seq, kind, ref))

    def peek(self) -> tuple[float, str, Any] | None:
        """The earliest entry, or None."""
        if not self.heap:
            return None
        at, _, kind, ref = self.heap[0]
        return at, kind, ref

    def pop(self) -> tuple[float, str, Any]:
        """Remove and return the earliest entry."""
        at, _, kind, ref = heapq.heappop(self.heap)
        return at, kind, ref

    def __len__(self) -> int:
        return len(self.heap)


def queue_members(queue: QueueConfig) -> dict[str, Any]:
    """Member agent id -> member entry of ``queue``."""
    return {m.agent: m for m in queue.members}
