"""Where free agents are filed: who is free, for which channels, in each queue's order.

:class:`FreeAgents` is the part of :class:`routing.router.Router` that keeps, after every
change of an agent, the free set, each agent's open channels, the staffed count of its
queues, and the open sets (:class:`~routing.state.FreeMembers` per queue and channel) that
arrivals walk. Filing in the open sets waits for a reader (:meth:`FreeAgents._file_free`).
It expects the router's attributes (``_agents``, ``_agent_lines``, ``_channels``...).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Any

from routing.eligibility import selection_metric
from routing.state import AgentState, FreeMembers

_NONE: frozenset[str] = frozenset()


class FreeAgents:
    """Free-agent bookkeeping (a mixin of the router)."""

    _agents: dict[str, AgentState]
    _agent_lines: dict[str, list[tuple[int, str, Any]]]
    _channels: frozenset[str]
    _dirty: set[str]
    _free: set[str]
    _staffed: set[str]
    _staffed_count: dict[str, int]
    _open: dict[tuple[str, str], FreeMembers]
    _open_key: dict[tuple[str, str], tuple]
    _open_sig: dict[str, tuple[int, float]]
    _open_of: dict[str, frozenset[str]]
    _filed_of: dict[str, frozenset[str]]
    _unfiled: set[str]
    _load_ordered: set[str]
    _selection_of: dict[str, tuple[str, tuple[str, ...]]]

    def _refresh(self, agent_id: str, now: float) -> None:
        """Re-file the agent in the free set and the (queue, channel) open sets."""
        self._dirty.add(agent_id)
        a = self._agents.get(agent_id)
        staffed = a is not None and a.logged_in and a.ready
        lines = self._agent_lines.get(agent_id, ())
        # members logged in and ready, per queue: "anyone there?" without a scan
        _count(agent_id, staffed, lines, self._staffed, self._staffed_count)
        can = a.open_channels(now, self._channels) if a is not None else _NONE
        if can:
            self._open_of[agent_id] = can
            self._free.add(agent_id)
            self._unfiled.add(agent_id)
        else:
            if self._open_of.pop(agent_id, None) is not None:
                self._unfiled.add(agent_id)
            self._free.discard(agent_id)

    def _file_free(self) -> None:
        """File the agents refreshed since the last arrival in the open sets (before they are read).

        Filing waits for a reader (:meth:`_best_agent_for`): an agent offered four emails in a
        row, or freed and offered work in one command, is filed once, not at every step.
        """
        for agent_id in self._unfiled:
            a = self._agents.get(agent_id)
            can = self._open_of.get(agent_id, _NONE)
            filed = self._filed_of.get(agent_id, _NONE)
            if can:
                # only least-loaded queues order by load: elsewhere a change of load moves nothing
                sig = (a.used if agent_id in self._load_ordered else 0, a.idle_since)  # type: ignore[union-attr]
                if can == filed and self._open_sig.get(agent_id) == sig:
                    continue
                self._open_sig[agent_id] = sig
            elif not filed:
                continue
            self._file_open(agent_id, a, self._agent_lines.get(agent_id, ()), filed, can)
        self._unfiled.clear()

    def _file_open(self, agent_id: str, a: Any, lines: Any, old: frozenset[str], can: frozenset[str]) -> None:
        """Move the agent's entries in the open sets from channels ``old`` to ``can``, under its current keys.

        The hottest bookkeeping of the core, so the sorted lists of :class:`FreeMembers` are
        edited in place.
        """
        open_sets, open_key, selection = self._open, self._open_key, self._selection_of
        same = can == old
        for _, queue, member in lines:
            slot = (queue, agent_id)
            before = open_key.get(slot)
            if can:
                policy, names = selection[queue]
                after: tuple | None = (member.priority, 0.0 if policy == "longest_idle" else
                                       selection_metric(policy, a, names), a.idle_since, agent_id)
                if same and after == before:
                    continue
                open_key[slot] = after
            elif before is None:
                continue
            else:
                after = None
                del open_key[slot]
            if before is not None:
                for channel in old:
                    keys = open_sets[(queue, channel)].keys
                    i = bisect_left(keys, before)
                    if i < len(keys) and keys[i] == before:
                        del keys[i]
            if after is not None:
                for channel in can:
                    pool = open_sets.get((queue, channel))
                    if pool is None:
                        pool = open_sets[(queue, channel)] = FreeMembers()
                    insort(pool.keys, after)
        if can:
            self._filed_of[agent_id] = can
        else:
            self._filed_of.pop(agent_id, None)



def _count(agent_id: str, now_in: bool, lines: Any, members: set[str], counts: dict[str, int]) -> None:
    """Keep ``members`` and the per-queue ``counts`` of an agent that is (``now_in``) or is not in them."""
    if now_in == (agent_id in members):
        return
    change = 1 if now_in else -1
    for _, queue, _ in lines:
        counts[queue] = counts.get(queue, 0) + change
    if now_in:
        members.add(agent_id)
    else:
        members.discard(agent_id)
