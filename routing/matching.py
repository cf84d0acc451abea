"""Matching waiting work and free agents: offers, withdrawals, misses, overflow.

:class:`Matching` is the part of :class:`routing.router.Router` that makes offers. Two
directions: an interaction that arrives or becomes eligible is offered to the best free
eligible member of its queue (the queue's selection policy, among members with room for its
channel right now), and an agent who frees up is offered the best work across every queue
it serves (walking only the lines of channels it has room for). Every offer carries its
trace. It expects the router's state and bookkeeping methods (``_refresh``, ``_arm_item``,
``_after_agent``, ``_lines``, ``_open``, ``_deadlines``...).
"""

from __future__ import annotations

import heapq
from typing import Any

from routing.decisions import Decision, NoAgents, Offer, OfferEnded, Overflowed
from routing.eligibility import Eligibility, selection_metric
from routing.state import WaitingItem

TRACE_LIMIT = 10
BIG_MOMENT = 4 * TRACE_LIMIT  # agents freed at one moment beyond which pairs are not all compared


class Matching(Eligibility):
    """Offer-making rules (a mixin of the router)."""

    _waiting: dict[int, WaitingItem]
    _free: set[str]
    _open: dict[tuple[str, str], Any]
    _open_of: dict[str, frozenset[str]]
    _unfiled: set[str]
    _staffed_count: dict[str, int]
    _final_required: dict[str, set[int]]
    _agent_queues: dict[str, list[tuple[int, str]]]
    _agent_lines: dict[str, list[tuple[int, str, Any]]]
    _selection_of: dict[str, tuple[str, tuple[str, ...]]]
    _channels: frozenset[str]
    _lines: Any
    _deadlines: Any
    # during a tick: (items, agents) noted for :meth:`_settle` instead of offered at once
    _moment: tuple[set[int], set[str]] | None = None

    def _route_new(self, item: WaitingItem, now: float) -> list[Decision]:
        """Offer a newly waiting item, or overflow it when nobody who could take it is logged in."""
        if not self._anyone_staffed_for(item):
            q = self.config.queues[item.queue]
            if q.overflow_to is not None and item.hops < len(self.config.queues):
                return self._overflow(item, now, "no_agents")
            return [NoAgents(now, item.spec.id, item.queue)]
        return self._match_item(item, now)

    def _anyone_staffed_for(self, item: WaitingItem) -> bool:
        """Some member of the item's queue is logged in and ready (busy or wrapping up counts; not
        ready does not) and meets the last step of its ladder if that step holds for ever."""
        if not self._staffed_count.get(item.queue):
            return False
        final = self._requirement(item, final=True)
        if final is None:
            return True
        for agent_id in self._members[item.queue]:
            a = self._agents.get(agent_id)
            if a is not None and a.logged_in and a.ready and final.matches(a.cfg.skills, a.cfg.languages):
                return True
        return False

    def _overflow(self, item: WaitingItem, now: float, why: str) -> list[Decision]:
        q = self.config.queues[item.queue]
        target = q.overflow_to
        if target is None or target not in self.config.queues or item.hops >= len(self.config.queues):
            return []
        out: list[Decision] = []
        if item.offered_to is not None:
            out += self._withdraw(item, "withdrawn", now, rematch=False)
        self._lines.remove(item.queue, item.key, item.spec.channel)
        out.append(Overflowed(now, item.spec.id, item.queue, target, why))
        self._file_final(item, False)
        item.queue, item.queued_since, item.hops = target, now, item.hops + 1
        self._file_final(item, True)
        self._lines.add(target, item.key, item.spec.channel)
        self._arm_item(item)
        return out + self._route_new(item, now)

    def _match_item(self, item: WaitingItem, now: float) -> list[Decision]:
        """Offer ``item`` to the best free eligible member of its queue, if any.

        Inside a moment (see :meth:`_settle`) nothing is offered yet: the item is noted.
        """
        if item.offered_to is not None:
            return []
        if self._moment is not None:
            self._moment[0].add(item.spec.id)
            return []
        found = self._best_agent_for(item, now)
        return [] if found is None else self._offer(item, found[0], now, found[1])

    def _best_agent_for(self, item: WaitingItem, now: float) -> tuple[str, dict] | None:
        """``(agent, trace)``: the best free eligible member for ``item`` (queue's selection), or None.

        Only members with room for the item's channel right now are looked at (the rest are
        counted, not listed), in the queue's selection order (:class:`~routing.state.FreeMembers`):
        the walk stops once it has ``TRACE_LIMIT`` eligible candidates, so with thousands idle an
        offer costs a bisect and a few checks. Work whose requirement orders agents differently
        (best proficiency on other skills than the queue's) ranks every free member instead.
        """
        channel = item.spec.channel
        if channel not in self._channels:
            self._add_channel(channel, now)
        members = self._members[item.queue]
        if self._unfiled:
            self._file_free()
        pool = self._open.get((item.queue, channel))
        if not pool:
            return None
        candidates: list[str] = []
        excluded: list[tuple[str, str]] = []
        preferred = self._active_preferred(item, now)
        if preferred is not None:
            # only they may take it: look at them, not at everyone free
            looked = [a for a in sorted(preferred) if a in members and channel in self._open_of.get(a, ())]
            ordered = sorted(looked, key=lambda a: self._selection_key(a, item))
        elif self._indexed(item):
            ordered = None
        else:
            ordered = sorted((key[-1] for key in pool.keys), key=lambda a: self._selection_key(a, item))
        examined = 0
        for agent_id in (key[-1] for key in pool.keys) if ordered is None else ordered:
            examined += 1
            why = self._why_not(agent_id, item, members[agent_id], now, preferred)
            if why is None:
                candidates.append(agent_id)
                if len(candidates) == TRACE_LIMIT:
                    break
            else:
                excluded.append((agent_id, why))
        if not candidates:
            return None
        trace = {"mode": "interaction_waiting", "policy": self.config.queues[item.queue].selection,
                 "candidates": candidates, "candidate_count": len(candidates),
                 "excluded": dict(heapq.nsmallest(TRACE_LIMIT, excluded)), "excluded_count": len(excluded),
                 "examined": examined, "free_members": len(pool), "unavailable_members": len(members) - len(pool),
                 "tie_break": self._tie_break(candidates, item)}
        return candidates[0], trace

    def _fill_agent(self, agent_id: str, now: float) -> list[Decision]:
        """Offer the agent the best work across their queues until they are full or none fits.

        Inside a moment (see :meth:`_settle`) nothing is offered yet: the agent is noted.
        """
        if self._moment is not None:
            self._moment[1].add(agent_id)
            return []
        out: list[Decision] = []
        while agent_id in self._free:
            found = self._best_work_for(agent_id, now)
            if found is None:
                break
            out += self._offer(found[0], agent_id, now, found[1])
        return out

    def _best_work_for(self, agent_id: str, now: float) -> tuple[WaitingItem, dict] | None:
        """``(item, trace)``: the best work across the free agent's queues (queue priority, then
        score), or None.

        Only the lines of channels the agent has room for, and in them only work not on offer
        (:meth:`routing.state.Lines.offerable`): an agent with room for one more email never
        walks past the calls waiting in the same queue, nor past work offered to others. Queues
        are walked best member priority first; a later priority cannot beat work already found.
        """
        open_channels = self._open_of.get(agent_id)
        if not open_channels:
            return None
        channels = sorted(open_channels)
        waiting = self._waiting
        best: tuple | None = None
        found: WaitingItem | None = None
        skipped: list[dict] = []
        for member_priority, queue, member in self._agent_lines.get(agent_id, ()):
            if best is not None and member_priority > best[0]:
                break
            by_channel = self._lines.offerable(queue)
            if not by_channel:
                continue
            too_young = self._young_bound(member, now) if member.delay > 0 else None
            for channel in channels:
                for key in by_channel.get(channel, ()):
                    if best is not None and (member_priority, key) >= best:
                        break
                    if too_young is not None and key[0] > too_young:
                        break  # this and everything after it started waiting less than the delay ago
                    item = waiting[key[-1]]
                    why = self._why_not(agent_id, item, member, now, self._active_preferred(item, now))
                    if why is None:
                        best, found = (member_priority, key), item
                        break
                    if len(skipped) < TRACE_LIMIT:
                        skipped.append({"interaction": item.spec.id, "queue": queue, "reason": why})
        if best is None or found is None:
            return None
        trace = {"mode": "agent_free", "member_priority": best[0], "skipped": skipped}
        return found, trace

    def _settle(self, items: set[int], agents: set[str], now: float) -> list[Decision]:
        """Offer what became possible at one moment as if it had all been eligible a moment earlier.

        ``items`` became eligible (a delay, a ladder step, a reject window ended; an offer
        expired; an overflow) and ``agents`` freed up, all at ``now``. Offers go one at a
        time, best pair first: the agent's queue priority, then the interaction's score, then
        the queue's choice among agents, so which timer was set first never matters. The
        trace of each offer made this way lists the pairs it won against (``same_instant``).
        A moment that frees more than ``BIG_MOMENT`` agents lets them take work one by one in
        their best queue's selection order (the same offers when they serve the same queues),
        so its cost grows with its size, not with its square.
        """
        if not agents and len(items) == 1:
            item = self._waiting.get(next(iter(items)))
            return [] if item is None else self._match_item(item, now)
        if not items and len(agents) <= 1:
            return self._fill_agent(next(iter(agents)), now) if agents else []
        if len(agents) <= BIG_MOMENT:
            return _Moment(self, now).settle(items, agents)
        # Many agents freed at once (a team's wrap-ups ending together): comparing every pair
        # would re-look each agent each time another took the work it wanted, a cost quadratic
        # in the moment. Each agent in its best queue's order takes its best work instead (the
        # same offers when the agents serve the same queues), then the work left finds agents.
        out: list[Decision] = []
        for agent_id in sorted(agents, key=self._moment_order):
            out += self._fill_agent(agent_id, now)
        left = {iid for iid in items if iid in self._waiting and self._waiting[iid].offered_to is None}
        return out + (_Moment(self, now).settle(left, set()) if left else [])

    def _moment_order(self, agent_id: str) -> tuple:
        """The agent's place among many freed at one moment: its selection key in its best queue."""
        a = self._agents[agent_id]
        lines = self._agent_lines.get(agent_id)
        if not lines:
            return (0, 0.0, a.idle_since, agent_id)
        member_priority, queue, _ = lines[0]
        policy, names = self._selection_of[queue]
        return (member_priority, selection_metric(policy, a, names), a.idle_since, agent_id)

    def _young_bound(self, member: Any, now: float) -> float | None:
        """Where in a line (first key element) work too young for ``member``'s delay begins.

        A key's first element is ``aging x start - bonus``; every bonus is at least
        ``_min_bonus``, so past ``aging x (now - delay) - _min_bonus`` every interaction started
        after ``now - delay``. None when the order gives no such bound (strict priority, no aging).
        """
        if member.delay <= 0 or self.policy.strict_priority or self.policy.aging_rate <= 0:
            return None
        return self.policy.aging_rate * (now - member.delay) - self._min_bonus + 1e-9

    def _offer(self, item: WaitingItem, agent_id: str, now: float, trace: dict) -> list[Decision]:
        a = self._agents[agent_id]
        channel = item.spec.channel
        a.offers[item.spec.id] = channel
        a.used += a.cfg.cost(channel)
        item.offered_to = agent_id
        self._lines.hold(item.queue, item.key, channel)
        item.offer_expires = (now + self.config.queues[item.queue].offer_timeout
                              + self.policy.delivery_grace.get(channel, 0.0))
        self._deadlines.push(item.offer_expires, "offer", (item.spec.id, agent_id))
        self._refresh(agent_id, now)
        score, parts = self._score(item, now)
        trace.update(step=item.step, requirement=self._requirement_text(item), score=score, parts=parts,
                     position=self._lines.position(item.queue, item.key))
        return [Offer(now, item.spec.id, agent_id, item.queue, item.offer_expires, trace)]

    def _withdraw(self, item: WaitingItem, why: str, now: float, rematch: bool) -> list[Decision]:
        agent_id = item.offered_to
        assert agent_id is not None
        a = self._agents[agent_id]
        a.used -= a.cfg.cost(a.offers.pop(item.spec.id))
        item.offered_to = item.offer_expires = None
        self._lines.release(item.queue, item.key, item.spec.channel)
        self._refresh(agent_id, now)
        out: list[Decision] = [OfferEnded(now, item.spec.id, agent_id, why)]
        return out + self._match_item(item, now) if rematch else out

    def _missed(self, item: WaitingItem, agent_id: str, now: float, why: str) -> list[Decision]:
        a = self._agents[agent_id]
        out = self._withdraw(item, why, now, rematch=False)
        a.no_answer += 1
        if a.no_answer >= self.policy.max_no_answer:
            a.ready, a.reason = False, self.policy.no_answer_reason
        else:
            a.backoff_until = now + self.policy.no_answer_backoff
            self._deadlines.push(a.backoff_until, "backoff", agent_id)
        self._refresh(agent_id, now)
        out += self._overflow_unstaffed(agent_id, now)  # paused for missing offers: maybe the last one
        out += self._match_item(item, now)
        return out + self._after_agent(agent_id, now, fill=False)


class _Moment:
    """The offers of one moment, best pair first (see ``Matching._settle``).

    Each free agent noted has its best work and each item noted its best agent: candidate
    pairs in a heap. Offers only ever make candidates worse (work is taken, agents fill up),
    so a candidate is checked when it reaches the top and, if it went stale, looked up again
    and pushed back: the top that passes the check is the best pair left. An item enters with
    a bound below any of its pairs and is looked up only when that bound comes up, so each
    item costs one look-up, plus one whenever its best agent was taken first.
    """

    def __init__(self, matching: Matching, now: float) -> None:
        self.m, self.now = matching, now
        self.heap: list[tuple] = []
        self.seq = 0
        self.priorities: dict[str, int] = {}

    def settle(self, items: set[int], agents: set[str]) -> list[Decision]:
        """Make every offer the moment allows; returns them in the order made."""
        for agent_id in sorted(agents):
            self.look_agent(agent_id)
        for iid in sorted(items):
            item = self.m._waiting.get(iid)
            if item is not None and len(items) <= 4 * TRACE_LIMIT:
                self.look_item(iid)  # a small moment: every pair known, for the traces' rivals
            elif item is not None:
                # a bound below any pair of this item: it is looked at only when it comes up
                self.push((self.first_priority(item.queue), item.key, ()), iid, "", {}, "item")
        out: list[Decision] = []
        while self.heap:
            key, _, iid, agent_id, trace, side = heapq.heappop(self.heap)
            if not agent_id or not self.still_best(key, iid, agent_id):
                if side == "agent":
                    self.look_agent(agent_id)
                else:
                    self.look_item(iid)
                continue
            rivals = heapq.nsmallest(TRACE_LIMIT, self.heap) if len(self.heap) <= 4 * TRACE_LIMIT else []
            trace = {**trace, "same_instant": [
                {"interaction": r[2], "agent": r[3], "member_priority": r[0][0]} for r in rivals
                if r[3] and self.m._waiting[r[2]].offered_to is None and (r[2], r[3]) != (iid, agent_id)]}
            out += self.m._offer(self.m._waiting[iid], agent_id, self.now, trace)
            if side == "agent":
                self.look_agent(agent_id)  # room for more (emails): its next best work
        return out

    def still_best(self, key: tuple, iid: int, agent_id: str) -> bool:
        """The pair can still be made, at the key it was found with."""
        m = self.m
        item = m._waiting.get(iid)
        if item is None or item.offered_to is not None or agent_id not in m._free:
            return False
        member = m._members[item.queue].get(agent_id)
        if m._why_not(agent_id, item, member, self.now, m._active_preferred(item, self.now)) is not None:
            return False
        return self.pair_key(item, agent_id) == key

    def first_priority(self, queue: str) -> int:
        """The lowest member priority in ``queue`` (0 for a queue without members)."""
        found = self.priorities.get(queue)
        if found is None:
            found = self.priorities[queue] = min((m.priority for m in self.m._members[queue].values()), default=0)
        return found

    def push(self, key: tuple, iid: int, agent_id: str, trace: dict, side: str) -> None:
        """Add the candidate pair ``(iid, agent_id)`` found from ``side`` (``agent`` or ``item``)."""
        self.seq += 1
        heapq.heappush(self.heap, (key, self.seq, iid, agent_id, trace, side))

    def pair_key(self, item: WaitingItem, agent_id: str) -> tuple:
        """``(member priority, order key, selection key)``: queue priority, score, choice of agent."""
        chosen = self.m._selection_key(agent_id, item)
        return chosen[0], item.key, chosen

    def look_agent(self, agent_id: str) -> None:
        """Find the free agent's best work now."""
        if agent_id in self.m._free:
            found = self.m._best_work_for(agent_id, self.now)
            if found is not None:
                self.push(self.pair_key(found[0], agent_id), found[0].spec.id, agent_id, found[1], "agent")

    def look_item(self, iid: int) -> None:
        """Find the waiting item's best free agent now."""
        item = self.m._waiting.get(iid)
        if item is not None and item.offered_to is None:
            found = self.m._best_agent_for(item, self.now)
            if found is not None:
                self.push(self.pair_key(item, found[0]), iid, found[0], found[1], "item")
