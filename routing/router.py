"""The skill-based routing core: a deterministic state machine from commands to decisions.

Every command takes ``now`` (float seconds) and returns the list of decisions it caused, in
order. Same commands, same decisions. The invariant kept after every command: no waiting
interaction that is not on offer has a free agent who could take it (if there were one, the
command would have offered it).

Order of work: one score per waiting interaction, ``aging x seconds waited + min(priority
bonus + tier bonus, cap)`` (or priority first in strict mode); ties go to the earlier
virtual start, then the lower id. When an agent frees up, the best interaction across every
queue the agent serves is chosen, honouring the agent's queue priority and delay there.
When an interaction arrives, the queue's selection policy picks among the free eligible
agents. Errors: :class:`UnknownAgent`, :class:`UnknownInteraction`, :class:`NotOffered`,
:class:`RoutingError` for other impossible commands; a failing command changes nothing.
"""

from __future__ import annotations

import heapq
from typing import Any

from routing.decisions import (
    AgentStateChanged,
    AgentView,
    Decision,
    NoAgents,
    Offer,
    OfferEnded,
    Overflowed,
    Queued,
    Removed,
    StepRelaxed,
    WaitingView,
    WrapUpEnded,
)
from routing.model import InteractionSpec, LadderStep, RoutingConfig
from routing.requirements import skill_names
from routing.state import (
    AgentState,
    Deadlines,
    HeldItem,
    Lines,
    WaitingItem,
    bonus_parts,
    order_key,
    queue_members,
    tier_bonus,
)

TRACE_LIMIT = 10
DEFAULT_CHANNELS = ("voice", "email", "webform")
_EMA = 0.2


class RoutingError(Exception):
    """A command that cannot be carried out; nothing changed."""


class UnknownAgent(RoutingError):
    """No configured agent has this id."""


class UnknownInteraction(RoutingError):
    """The interaction is not waiting or held here."""


class NotOffered(RoutingError):
    """The interaction is not offered to this agent."""


class Router:
    """The routing core for one :class:`RoutingConfig`."""

    def __init__(self, config: RoutingConfig) -> None:
        self._agents: dict[str, AgentState] = {}
        self._waiting: dict[int, WaitingItem] = {}
        self._held: dict[int, HeldItem] = {}
        self._lines = Lines()
        self._deadlines = Deadlines()
        self._free: set[str] = set()
        # (queue, channel) -> members who could take one more interaction of that channel now
        self._open: dict[tuple[str, str], set[str]] = {}
        self._open_of: dict[str, frozenset[str]] = {}
        self._preferring: dict[str, set[int]] = {}
        self._names: dict[tuple[Any, str], tuple[str, ...]] = {}
        self._dirty: set[str] = set()
        self._callbacks: dict[str, tuple[float, float]] = {}
        self._handle_time: dict[str, float] = {}
        self._now = 0.0
        self._min_bonus = 0.0
        self._install(config)

    # --- configuration ---

    def _install(self, config: RoutingConfig) -> None:
        self.config = config
        self.policy = config.policy
        self._members = {name: queue_members(q) for name, q in config.queues.items()}
        self._agent_queues: dict[str, list[tuple[int, str]]] = {}
        for name, q in sorted(config.queues.items()):
            for m in q.members:
                self._agent_queues.setdefault(m.agent, []).append((m.priority, name))
        for agent_id, cfg in config.agents.items():
            state = self._agents.get(agent_id)
            if state is None:
                self._agents[agent_id] = AgentState(cfg)
            else:
                state.cfg = cfg
        self._channels = frozenset(DEFAULT_CHANNELS).union(*(a.costs for a in config.agents.values()))
        # one recheck per distinct member delay, not one per member
        self._delays = {name: sorted({m.delay for m in q.members if m.delay > 0}) for name, q in config.queues.items()}
        # membership may have changed: the open sets are rebuilt by refreshing every agent
        self._open, self._open_of = {}, {}
        self._logged: set[str] = set()
        self._logged_count: dict[str, int] = {}

    def reconfigure(self, config: RoutingConfig, now: float, fallback: str | None = None) -> list[Decision]:
        """Switch to ``config``: waiting work keeps its place, agents keep state and work.

        Interactions of a queue that no longer exists move to ``fallback`` (which must exist
        in the new config); agents no longer configured are logged out (their offers withdrawn).
        """
        if fallback is not None and fallback not in config.queues:
            raise RoutingError(f"fallback queue {fallback!r} is not in the new configuration")
        orphans = [i for i in self._waiting.values() if i.queue not in config.queues]
        if orphans and fallback is None:
            raise RoutingError("queues with waiting work were removed and no fallback was given")
        out: list[Decision] = []
        self._now = now
        for agent_id in sorted(set(self._agents) - set(config.agents)):
            state = self._agents[agent_id]
            if state.work:
                raise RoutingError(f"agent {agent_id!r} was removed but holds work")
            for iid in sorted(state.offers):
                out += self._withdraw(self._waiting[iid], "withdrawn", now, rematch=False)
            del self._agents[agent_id]
            self._free.discard(agent_id)
        self._install(config)
        items = sorted(self._waiting.values(), key=lambda i: i.key)
        self._lines = Lines()
        for item in items:
            if item.queue not in config.queues:
                out.append(Overflowed(now, item.spec.id, item.queue, fallback, "queue_removed"))
                item.queue, item.queued_since = fallback, now
            item.key = self._key(item.spec, item.priority, item.virtual_start)
            self._lines.add(item.queue, item.key, item.spec.channel)
            self._arm_item(item)
        self._free.clear()
        for agent_id in sorted(self._agents):
            self._refresh(agent_id, now)
        for agent_id in sorted(self._free):
            out += self._fill_agent(agent_id, now)
        return out + self._states(now)

    # --- agents ---

    def agent_login(self, agent: str, now: float) -> list[Decision]:
        """Log in (not ready until :meth:`set_available`)."""
        a = self._agent(agent)
        if not a.logged_in:
            a.logged_in, a.ready, a.reason, a.idle_since = True, False, None, now
        return self._after_agent(agent, now)

    def agent_logout(self, agent: str, now: float) -> list[Decision]:
        """Log out; offers are withdrawn. RoutingError while the agent holds work."""
        a = self._agent(agent)
        if a.work:
            raise RoutingError(f"agent {agent!r} holds work and cannot log out")
        offered = [self._waiting[iid] for iid in sorted(a.offers)]
        # logged out first, so the withdrawn offers go to someone else, never back to them
        a.logged_in, a.ready, a.reason, a.wrap_until = False, False, None, None
        out: list[Decision] = []
        for item in offered:
            out += self._withdraw(item, "withdrawn", now, rematch=True)
        self._refresh(agent, now)
        for iid in sorted(self._preferring.get(agent, ())):
            item = self._waiting.get(iid)
            if item is not None:
                out += self._match_item(item, now)  # a logged-out preferred agent falls back at once
        return out + self._after_agent(agent, now, fill=False)

    def set_available(self, agent: str, now: float) -> list[Decision]:
        """Ready for offers (logs the agent in if needed)."""
        a = self._agent(agent)
        if not a.logged_in:
            a.logged_in, a.idle_since = True, now
        if not a.ready:
            a.ready, a.reason, a.no_answer = True, None, 0
            if not a.work:
                a.idle_since = now
        return self._after_agent(agent, now)

    def set_not_ready(self, agent: str, reason: str, now: float) -> list[Decision]:
        """Pause with ``reason``; work in hand stays, no new offers."""
        a = self._agent(agent)
        if not a.logged_in:
            raise RoutingError(f"agent {agent!r} is logged out")
        a.ready, a.reason = False, reason
        return self._after_agent(agent, now, fill=False)

    def set_phone_registered(self, agent: str, registered: bool, now: float) -> list[Decision]:
        """An unregistered phone makes the agent unavailable for calls (other channels go on)."""
        self._agent(agent).phone_ok = registered
        return self._after_agent(agent, now)

    def end_wrap_up(self, agent: str, now: float) -> list[Decision]:
        """End the agent's wrap-up early (no-op if not wrapping up)."""
        a = self._agent(agent)
        if a.wrap_until is None:
            return self._after_agent(agent, now, fill=False)
        a.wrap_until = None
        if not a.work:
            a.idle_since = now
        return [WrapUpEnded(now, agent)] + self._after_agent(agent, now)

    # --- interactions ---

    def submit(self, spec: InteractionSpec, now: float) -> list[Decision]:
        """Start routing ``spec``; raises RoutingError for an unknown queue or a duplicate id."""
        if spec.queue not in self.config.queues:
            raise RoutingError(f"unknown queue {spec.queue!r}")
        if spec.id in self._waiting or spec.id in self._held:
            raise RoutingError(f"interaction {spec.id} is already routed")
        self._now = now
        start, resumed = spec.virtual_start, False
        if spec.customer_key is not None:
            back = self._callbacks.pop(spec.customer_key, None)
            if back is not None and back[1] >= now and back[0] < start:
                start, resumed = back[0], True
        item = WaitingItem(spec, spec.queue, start, spec.priority, self._key(spec, spec.priority, start),
                           0 if spec.ladder else -1, now, now)
        self._add_waiting(item)
        self._arm_item(item)
        out: list[Decision] = [Queued(now, spec.id, item.queue, self._lines.position(item.queue, item.key), resumed)]
        out += self._route_new(item, now)
        return out + self._states(now)

    def accept(self, iid: int, agent: str, now: float) -> list[Decision]:
        """The agent takes the offered interaction."""
        item = self._offered(iid, agent)
        a = self._agents[agent]
        channel = a.offers.pop(iid)
        a.work[iid] = channel
        a.no_answer = 0
        self._remove_waiting(item)
        self._held[iid] = HeldItem(item.spec, agent, item.queue, now)
        return [Removed(now, iid, "accepted")] + self._after_agent(agent, now, fill=True)

    def reject(self, iid: int, agent: str, now: float) -> list[Decision]:
        """The agent declines; not offered to them again within the reject delay."""
        item = self._offered(iid, agent)
        until = now + self.policy.reject_delay
        item.rejected[agent] = until
        self._deadlines.push(until, "recheck", iid)
        out = self._withdraw(item, "rejected", now, rematch=True)
        return out + self._after_agent(agent, now)

    def offer_failed(self, iid: int, agent: str, reason: str, now: float) -> list[Decision]:
        """Delivery failed (phone busy, not answered): the no-answer path, then re-offer."""
        item = self._offered(iid, agent)
        return self._missed(item, agent, now, "failed")

    def complete(self, iid: int, now: float) -> list[Decision]:
        """The agent finished the interaction; the queue's wrap-up starts."""
        held = self._held.pop(iid, None)
        if held is None:
            raise UnknownInteraction(f"interaction {iid} is not held by an agent")
        a = self._agents.get(held.agent)
        if a is not None:
            channel = a.work.pop(iid)
            a.used -= a.cfg.cost(channel)
            wrap = self.config.queues[held.queue].wrap_up if held.queue in self.config.queues else 0.0
            if wrap > 0 and a.logged_in:
                a.wrap_until = now + wrap
                self._deadlines.push(a.wrap_until, "wrap", held.agent)
            elif not a.work:
                a.idle_since = now
        previous = self._handle_time.get(held.queue, self.policy.default_handle_time)
        self._handle_time[held.queue] = (1 - _EMA) * previous + _EMA * max(0.0, now - held.accepted_at)
        out: list[Decision] = [Removed(now, iid, "completed")]
        return out + self._after_agent(held.agent, now) if a is not None else out

    def cancel(self, iid: int, reason: str, now: float) -> list[Decision]:
        """The customer left while waiting (abandoned); a quick call back resumes the place."""
        item = self._waiting.get(iid)
        if item is None:
            raise UnknownInteraction(f"interaction {iid} is not waiting")
        out: list[Decision] = []
        agent = item.offered_to
        if agent is not None:
            out += self._withdraw(item, "withdrawn", now, rematch=False)
        self._remove_waiting(item)
        if item.spec.customer_key is not None:
            self._callbacks[item.spec.customer_key] = (item.virtual_start, now + self.policy.callback_window)
        out.append(Removed(now, iid, reason))
        if agent is not None:
            out += self._after_agent(agent, now)
        return out + self._states(now)

    def transfer(self, iid: int, queue: str, now: float) -> list[Decision]:
        """The holding agent hands the interaction to ``queue``; it keeps its original start."""
        held = self._held.get(iid)
        if held is None:
            raise UnknownInteraction(f"interaction {iid} is not held by an agent")
        if queue not in self.config.queues:
            raise RoutingError(f"unknown queue {queue!r}")
        del self._held[iid]
        a = self._agents[held.agent]
        a.used -= a.cfg.cost(a.work.pop(iid))
        if not a.work:
            a.idle_since = now
        spec = held.spec
        item = WaitingItem(spec, queue, spec.virtual_start, spec.priority,
                           self._key(spec, spec.priority, spec.virtual_start), len(spec.ladder), now, now)
        item.rejected[held.agent] = now + self.policy.reject_delay
        self._add_waiting(item)
        self._arm_item(item)
        out: list[Decision] = [Queued(now, iid, queue, self._lines.position(queue, item.key))]
        out += self._route_new(item, now)
        return out + self._after_agent(held.agent, now)

    def move(self, iid: int, queue: str, now: float) -> list[Decision]:
        """Supervisor: move a waiting interaction to ``queue`` (an open offer is withdrawn)."""
        item = self._waiting_item(iid)
        if queue not in self.config.queues:
            raise RoutingError(f"unknown queue {queue!r}")
        out: list[Decision] = []
        agent = item.offered_to
        if agent is not None:
            out += self._withdraw(item, "withdrawn", now, rematch=False)
        self._lines.remove(item.queue, item.key, item.spec.channel)
        out.append(Overflowed(now, iid, item.queue, queue, "moved"))
        item.queue, item.queued_since = queue, now
        self._lines.add(queue, item.key, item.spec.channel)
        self._arm_item(item)
        out += self._match_item(item, now)
        if agent is not None:
            out += self._after_agent(agent, now)
        return out + self._states(now)

    def set_priority(self, iid: int, priority: int, now: float) -> list[Decision]:
        """Supervisor: change a waiting interaction's priority (its score and place follow)."""
        item = self._waiting_item(iid)
        self._lines.remove(item.queue, item.key, item.spec.channel)
        item.priority = priority
        item.key = self._key(item.spec, priority, item.virtual_start)
        self._lines.add(item.queue, item.key, item.spec.channel)
        return [Queued(now, iid, item.queue, self._lines.position(item.queue, item.key))] + self._match_item(item, now)

    # --- time ---

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has something to do, or None."""
        while True:
            head = self._deadlines.peek()
            if head is None:
                return None
            if self._due_valid(*head):
                return head[0]
            self._deadlines.pop()

    def tick(self, now: float) -> list[Decision]:
        """Carry out everything due at or before ``now``, in time order."""
        out: list[Decision] = []
        self._now = now
        while True:
            head = self._deadlines.peek()
            if head is None or head[0] > now:
                break
            at, kind, ref = self._deadlines.pop()
            if self._due_valid(at, kind, ref):
                out += self._due(kind, ref, now)
        return out + self._states(now)

    def _due_valid(self, at: float, kind: str, ref: Any) -> bool:
        if kind == "offer":
            item = self._waiting.get(ref[0])
            return item is not None and item.offered_to == ref[1] and item.offer_expires == at
        if kind == "step":
            item = self._waiting.get(ref[0])
            return item is not None and item.step == ref[1]
        if kind == "overflow":
            item = self._waiting.get(ref[0])
            return item is not None and item.queue == ref[1] and item.queued_since == ref[2]
        if kind == "recheck":
            return ref in self._waiting
        if kind == "wrap":
            a = self._agents.get(ref)
            return a is not None and a.wrap_until == at
        if kind == "backoff":
            a = self._agents.get(ref)
            return a is not None and a.backoff_until == at
        return False

    def _due(self, kind: str, ref: Any, now: float) -> list[Decision]:
        if kind == "offer":
            return self._missed(self._waiting[ref[0]], ref[1], now, "expired")
        if kind == "step":
            item = self._waiting[ref[0]]
            item.step = ref[1] + 1 if ref[1] + 1 < len(item.spec.ladder) else len(item.spec.ladder)
            item.step_since = now
            self._arm_item(item)
            return [StepRelaxed(now, item.spec.id, item.step, self._requirement_text(item))] + self._match_item(item, now)
        if kind == "overflow":
            return self._overflow(self._waiting[ref[0]], now, "waited_too_long")
        if kind == "recheck":
            return self._match_item(self._waiting[ref], now)
        if kind == "wrap":
            a = self._agents[ref]
            a.wrap_until = None
            if not a.work:
                a.idle_since = now
            return [WrapUpEnded(now, ref)] + self._after_agent(ref, now)
        return self._after_agent(ref, now)  # backoff over

    # --- matching ---

    def _route_new(self, item: WaitingItem, now: float) -> list[Decision]:
        """Offer a newly waiting item, or overflow it when nobody who could take it is logged in."""
        if not self._anyone_logged_in_for(item):
            q = self.config.queues[item.queue]
            if q.overflow_to is not None and item.hops < len(self.config.queues):
                return self._overflow(item, now, "no_agents")
            return [NoAgents(now, item.spec.id, item.queue)]
        return self._match_item(item, now)

    def _anyone_logged_in_for(self, item: WaitingItem) -> bool:
        members = self._members[item.queue]
        final = self._requirement(item, final=True)
        if final is None or not self._logged_count.get(item.queue):
            return bool(self._logged_count.get(item.queue))
        for agent_id in members:
            a = self._agents.get(agent_id)
            if a is not None and a.logged_in and (final is None or final.matches(a.cfg.skills, a.cfg.languages)):
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
        item.queue, item.queued_since, item.hops = target, now, item.hops + 1
        self._lines.add(target, item.key, item.spec.channel)
        self._arm_item(item)
        return out + self._route_new(item, now)

    def _match_item(self, item: WaitingItem, now: float) -> list[Decision]:
        """Offer ``item`` to the best free eligible member of its queue, if any."""
        if item.offered_to is not None:
            return []
        channel = item.spec.channel
        if channel not in self._channels:
            self._add_channel(channel, now)
        members = self._members[item.queue]
        # only members with room for this channel right now; the rest are counted, not listed
        pool = self._open.get((item.queue, channel), ())
        candidates, excluded = [], []
        preferred = self._active_preferred(item, now)
        for agent_id in pool:
            why = self._why_not(agent_id, item, members[agent_id], now, preferred)
            if why is None:
                candidates.append(agent_id)
            else:
                excluded.append((agent_id, why))
        if not candidates:
            return []
        # a total order (metric, idle since, id): the pick never depends on set iteration order
        ranked = heapq.nsmallest(TRACE_LIMIT, candidates, key=lambda a: self._selection_key(a, item))
        trace = {"mode": "interaction_waiting", "policy": self.config.queues[item.queue].selection,
                 "candidates": ranked, "candidate_count": len(candidates),
                 "excluded": dict(heapq.nsmallest(TRACE_LIMIT, excluded)), "excluded_count": len(excluded),
                 "unavailable_members": len(members) - len(pool),
                 "tie_break": self._tie_break(ranked, item)}
        return self._offer(item, ranked[0], now, trace)

    def _fill_agent(self, agent_id: str, now: float) -> list[Decision]:
        """Offer the agent the best work across their queues until they are full or none fits."""
        out: list[Decision] = []
        while agent_id in self._free:
            best, skipped = None, []
            channels = sorted(self._open_of.get(agent_id, ()))
            lines = [(member_priority, queue, channel) for member_priority, queue in self._agent_queues.get(agent_id, ())
                     for channel in channels]
            # only the lines of channels the agent has room for: an agent with room for one more
            # email never walks past the calls waiting in the same queue
            for member_priority, queue, channel in lines:
                member = self._members[queue][agent_id]
                too_young = self._young_bound(member, now)
                for key in self._lines.keys(queue, channel):
                    item = self._waiting[key[-1]]
                    if best is not None and (member_priority, key) >= best[0]:
                        break
                    if too_young is not None and key[0] > too_young:
                        break  # this and everything after it started waiting less than the delay ago
                    if item.offered_to is not None:
                        continue
                    why = self._why_not(agent_id, item, member, now, self._active_preferred(item, now))
                    if why is None:
                        best = ((member_priority, key), item)
                        break
                    if len(skipped) < TRACE_LIMIT:
                        skipped.append({"interaction": item.spec.id, "queue": queue, "reason": why})
            if best is None:
                break
            item = best[1]
            trace = {"mode": "agent_free", "member_priority": best[0][0], "skipped": skipped}
            out += self._offer(item, agent_id, now, trace)
        return out

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
        item.offer_expires = now + self.config.queues[item.queue].offer_timeout
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
        out += self._match_item(item, now)
        return out + self._after_agent(agent_id, now, fill=False)

    # --- eligibility ---

    def _why_not(self, agent_id: str, item: WaitingItem, member: Any, now: float,
                 preferred: set[str] | None) -> str | None:
        a = self._agents[agent_id]
        if not a.logged_in:
            return "logged_out"
        if a.wrap_until is not None:
            return "wrap_up"
        if not a.ready:
            return f"not_ready:{a.reason}" if a.reason else "not_ready"
        if now < a.backoff_until:
            return "no_answer_backoff"
        channel = item.spec.channel
        if any(ch in a.cfg.blocking for ch in list(a.work.values()) + list(a.offers.values())):
            return "busy"
        if channel in a.cfg.blocking and (a.work or a.offers):
            return "busy"
        if a.used + a.cfg.cost(channel) > a.cfg.capacity:
            return "no_capacity"
        if channel == "voice" and not a.phone_ok:
            return "phone_unregistered"
        if item.rejected.get(agent_id, -1.0) > now:
            return "rejected_recently"
        if member is not None and member.delay > 0 and now - item.virtual_start < member.delay:
            return f"queue_delay:{member.delay:g}s"
        if preferred and agent_id not in preferred:
            return "waiting_for_preferred_agent"
        requirement = self._requirement(item)
        if requirement is not None and not requirement.matches(a.cfg.skills, a.cfg.languages):
            return f"requirement:{requirement.text}"
        return None

    def _active_preferred(self, item: WaitingItem, now: float) -> set[str] | None:
        if not item.spec.preferred:
            return None
        chosen = {agent for agent, until in item.spec.preferred
                  if until > now and agent in self._agents and self._agents[agent].logged_in}
        return chosen or None

    def _requirement(self, item: WaitingItem, final: bool = False) -> Any:
        ladder = item.spec.ladder
        if not ladder:
            return None
        if final:
            return ladder[-1].requirement if ladder[-1].duration is None else None
        return ladder[item.step].requirement if 0 <= item.step < len(ladder) else None

    def _requirement_text(self, item: WaitingItem) -> str:
        requirement = self._requirement(item)
        return requirement.text if requirement is not None else ""

    def _selection_key(self, agent_id: str, item: WaitingItem) -> tuple:
        a = self._agents[agent_id]
        policy = self.config.queues[item.queue].selection
        if policy == "best_proficiency":
            names = self._skill_names(item)
            metric: float = -sum(a.cfg.skills.get(s, 0) for s in names)
        elif policy == "least_loaded":
            metric = a.used / a.cfg.capacity if a.cfg.capacity else 1.0
        elif policy == "fewest_skills":
            metric = len(a.cfg.skills)
        else:
            metric = 0.0
        # a queue's own members (priority 0) before its helpers, as app_queue penalties do
        member = self._members[item.queue].get(agent_id)
        return (member.priority if member is not None else 0, metric, a.idle_since, agent_id)

    def _skill_names(self, item: WaitingItem) -> tuple[str, ...]:
        """Skills best proficiency sums: the step's requirement's, else the queue's member skills."""
        requirement = self._requirement(item)
        if requirement is None:
            return tuple(self.config.queues[item.queue].skills)
        # keyed by the requirement object itself (not its id(), which a collected one frees)
        names = self._names.get((requirement, item.queue))
        if names is None:
            names = self._names[(requirement, item.queue)] = skill_names(requirement) or \
                tuple(self.config.queues[item.queue].skills)
        return names

    def _tie_break(self, ranked: list[str], item: WaitingItem) -> str:
        if len(ranked) < 2:
            return "single candidate"
        first, second = self._selection_key(ranked[0], item), self._selection_key(ranked[1], item)
        if first[0] != second[0]:
            return "member priority"
        if first[1] != second[1]:
            return "policy"
        return "longest idle" if first[2] != second[2] else "agent id"

    # --- bookkeeping ---

    def _key(self, spec: InteractionSpec, priority: int, start: float) -> tuple:
        bonus = bonus_parts(self.policy, priority, tier_bonus(self.policy, spec))[2]
        self._min_bonus = min(self._min_bonus, bonus)  # only ever lowered: a safe bound
        return order_key(self.policy, priority, tier_bonus(self.policy, spec), start, spec.id)

    def _score(self, item: WaitingItem, now: float) -> tuple[float, dict[str, float]]:
        p, t, total = bonus_parts(self.policy, item.priority, tier_bonus(self.policy, item.spec))
        waited = max(0.0, now - item.virtual_start)
        aged = self.policy.aging_rate * waited
        parts = {"waited": round(waited, 3), "aging": round(aged, 3), "priority_bonus": p, "tier_bonus": t,
                 "bonus_applied": total}
        return round(aged + total, 3), parts

    def _arm_item(self, item: WaitingItem) -> None:
        iid = item.spec.id
        ladder = item.spec.ladder
        if 0 <= item.step < len(ladder) and ladder[item.step].duration is not None:
            self._deadlines.push(item.step_since + ladder[item.step].duration, "step", (iid, item.step))
        q = self.config.queues[item.queue]
        if q.overflow_after is not None and q.overflow_to is not None:
            self._deadlines.push(item.queued_since + q.overflow_after, "overflow", (iid, item.queue, item.queued_since))
        for delay in self._delays[item.queue]:
            if item.virtual_start + delay > item.queued_since:
                self._deadlines.push(item.virtual_start + delay, "recheck", iid)
        for _, until in item.spec.preferred:
            if until > item.queued_since:
                self._deadlines.push(until, "recheck", iid)

    def _add_waiting(self, item: WaitingItem) -> None:
        self._waiting[item.spec.id] = item
        self._lines.add(item.queue, item.key, item.spec.channel)
        for agent, _ in item.spec.preferred:
            self._preferring.setdefault(agent, set()).add(item.spec.id)

    def _remove_waiting(self, item: WaitingItem) -> None:
        self._lines.remove(item.queue, item.key, item.spec.channel)
        del self._waiting[item.spec.id]
        for agent, _ in item.spec.preferred:
            self._preferring.get(agent, set()).discard(item.spec.id)

    def _refresh(self, agent_id: str, now: float) -> None:
        """Re-file the agent in the free set and the (queue, channel) open sets."""
        self._dirty.add(agent_id)
        a = self._agents.get(agent_id)
        logged = a is not None and a.logged_in
        if logged != (agent_id in self._logged):
            # logged-in members per queue: "anyone there?" without scanning the members
            change = 1 if logged else -1
            for _, queue in self._agent_queues.get(agent_id, ()):
                self._logged_count[queue] = self._logged_count.get(queue, 0) + change
            if logged:
                self._logged.add(agent_id)
            else:
                self._logged.discard(agent_id)
        can = a.open_channels(now, self._channels) if a is not None else frozenset()
        old = self._open_of.get(agent_id, frozenset())
        if can != old:
            for _, queue in self._agent_queues.get(agent_id, ()):
                for channel in old - can:
                    self._open[(queue, channel)].discard(agent_id)
                for channel in can - old:
                    self._open.setdefault((queue, channel), set()).add(agent_id)
            self._open_of[agent_id] = can
        if can:
            self._free.add(agent_id)
        else:
            self._free.discard(agent_id)

    def _add_channel(self, channel: str, now: float) -> None:
        """A channel no agent's costs name: file every agent's capacity for it (rare)."""
        self._channels = self._channels | {channel}
        for agent_id in sorted(self._agents):
            self._refresh(agent_id, now)

    def _after_agent(self, agent_id: str, now: float, fill: bool = True) -> list[Decision]:
        self._now = now
        self._refresh(agent_id, now)
        out = self._fill_agent(agent_id, now) if fill else []
        return out + self._states(now)

    def _states(self, now: float) -> list[Decision]:
        out: list[Decision] = []
        dirty, self._dirty = self._dirty, set()
        for agent_id in sorted(dirty):
            a = self._agents.get(agent_id)
            if a is None:
                continue
            shown = a.display_state()
            if shown != a.shown:
                a.shown, a.since = shown, now
                out.append(AgentStateChanged(now, agent_id, shown, a.reason if shown == "not_ready" else None))
        return out

    def _agent(self, agent: str) -> AgentState:
        try:
            return self._agents[agent]
        except KeyError:
            raise UnknownAgent(f"unknown agent {agent!r}") from None

    def _waiting_item(self, iid: int) -> WaitingItem:
        try:
            return self._waiting[iid]
        except KeyError:
            raise UnknownInteraction(f"interaction {iid} is not waiting") from None

    def _offered(self, iid: int, agent: str) -> WaitingItem:
        self._agent(agent)
        item = self._waiting_item(iid)
        if item.offered_to != agent:
            raise NotOffered(f"interaction {iid} is not offered to {agent!r}")
        return item

    # --- views ---

    def offered_to(self, iid: int) -> str | None:
        """The agent a waiting interaction is on offer to (None: not on offer, or not waiting)."""
        item = self._waiting.get(iid)
        return None if item is None else item.offered_to

    def waiting(self, queue: str | None = None, now: float | None = None) -> list[WaitingView]:
        """Waiting interactions in order (of one queue, or every queue), with score and parts."""
        now = self._now if now is None else now
        out = []
        for name in ([queue] if queue is not None else sorted(self._lines.queues())):
            staffed = sum(1 for m in self._members.get(name, {}) if m in self._agents and self._agents[m].logged_in)
            aht = self._handle_time.get(name, self.policy.default_handle_time)
            for position, iid in enumerate(self._lines.ids(name), start=1):
                item = self._waiting[iid]
                score, parts = self._score(item, now)
                ewt = None if staffed == 0 else round((position - 1) * aht / staffed, 1)
                out.append(WaitingView(iid, name, position, score, parts, item.priority, item.spec.tier,
                                       round(now - item.virtual_start, 3), item.step, self._requirement_text(item),
                                       item.offered_to, ewt))
        return out

    def agents(self) -> list[AgentView]:
        """Every agent's state, by id."""
        return [self.agent_view(agent_id) for agent_id in sorted(self._agents)]

    def agent_view(self, agent: str) -> AgentView:
        """One agent's state."""
        a = self._agent(agent)
        return AgentView(agent, a.display_state(), a.reason, a.since, a.used, a.cfg.capacity,
                         tuple(sorted(a.work)), tuple(sorted(a.offers)), a.phone_ok, a.no_answer)

    def explain(self, target: InteractionSpec | int, now: float) -> dict[str, Any]:
        """For a waiting interaction (or a spec not submitted), each queue member: eligible or why not."""
        if isinstance(target, InteractionSpec):
            spec = target
            item = WaitingItem(spec, spec.queue, spec.virtual_start, spec.priority,
                               self._key(spec, spec.priority, spec.virtual_start), 0 if spec.ladder else -1, now, now)
        else:
            item = self._waiting_item(target)
        if item.queue not in self.config.queues:
            raise RoutingError(f"unknown queue {item.queue!r}")
        members = self._members[item.queue]
        preferred = self._active_preferred(item, now)
        agents = {}
        for agent_id in sorted(members):
            if agent_id not in self._agents:
                agents[agent_id] = "not configured"
                continue
            agents[agent_id] = self._why_not(agent_id, item, members[agent_id], now, preferred) or "eligible"
        score, parts = self._score(item, now)
        eligible = sorted((a for a, why in agents.items() if why == "eligible"),
                          key=lambda a: self._selection_key(a, item))
        return {"queue": item.queue, "step": item.step, "requirement": self._requirement_text(item),
                "score": score, "parts": parts, "agents": agents, "would_offer": eligible[0] if eligible else None}


def ladder(*steps: tuple[Any, float | None]) -> tuple[LadderStep, ...]:
    """Shorthand: ``ladder((req, 30), (req2, 60))`` -> LadderSteps."""
    return tuple(LadderStep(r, d) for r, d in steps)
