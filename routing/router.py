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

from heapq import heappop
from typing import Any

from routing.decisions import AgentStateChanged, Decision, Overflowed, Queued, Removed, StepRelaxed, WrapUpEnded
from routing.errors import InvalidTime, NotOffered, RoutingError, UnknownAgent, UnknownInteraction, check_time
from routing.filing import FreeAgents
from routing.matching import Matching
from routing.model import InteractionSpec, LadderStep, RoutingConfig
from routing.restoring import Restoring
from routing.state import AgentState, Deadlines, FreeMembers, HeldItem, Lines, WaitingItem, queue_members
from routing.views import RouterViews

__all__ = ["InvalidTime", "NotOffered", "Router", "RoutingError", "UnknownAgent", "UnknownInteraction", "ladder"]

DEFAULT_CHANNELS = ("voice", "email", "webform")
_EMA = 0.2


class Router(Matching, FreeAgents, RouterViews, Restoring):
    """The routing core for one :class:`RoutingConfig`.

    Commands and time live here; who may take what (:mod:`routing.eligibility`), how offers
    are made (:mod:`routing.matching`), where free agents are filed (:mod:`routing.filing`),
    the views (:mod:`routing.views`) and the restart commands (:mod:`routing.restoring`) are
    its mixins.
    """

    def __init__(self, config: RoutingConfig) -> None:
        self._agents: dict[str, AgentState] = {}
        self._waiting: dict[int, WaitingItem] = {}
        self._held: dict[int, HeldItem] = {}
        self._lines = Lines()
        self._deadlines = Deadlines()
        self._free: set[str] = set()
        # (queue, channel) -> members who could take one more interaction of that channel now,
        # in the queue's selection order; (queue, agent) -> the key the agent is filed under
        self._open: dict[tuple[str, str], FreeMembers] = {}
        self._open_key: dict[tuple[str, str], tuple] = {}
        self._open_sig: dict[str, tuple[int, float]] = {}
        self._open_of: dict[str, frozenset[str]] = {}
        self._preferring: dict[str, set[int]] = {}
        # queue -> waiting work whose ladder ends on a step held forever (see _overflow_unstaffed)
        self._final_required: dict[str, set[int]] = {}
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
        # agent -> (member priority, queue, member), best priority first, each queue once: a
        # free agent's walk stops at the first priority that has work for them
        self._agent_lines: dict[str, list[tuple[int, str, Any]]] = {
            agent: sorted(((self._members[name][agent].priority, name, self._members[name][agent])
                           for name in dict.fromkeys(name for _, name in entries)), key=lambda e: (e[0], e[1]))
            for agent, entries in self._agent_queues.items()}
        self._queue_skills = {name: tuple(q.skills) for name, q in config.queues.items()}
        self._load_ordered = {agent for agent, entries in self._agent_lines.items()
                              if any(config.queues[q].selection == "least_loaded" for _, q, _ in entries)}
        self._selection_of = {name: (q.selection, self._queue_skills[name] if q.selection == "best_proficiency" else ())
                              for name, q in config.queues.items()}
        # agents with the same capacity, costs and blocking channels share their open-channel shapes
        shapes: dict[tuple, dict] = {}
        for agent_id, cfg in config.agents.items():
            shared = shapes.setdefault((cfg.capacity, tuple(sorted(cfg.costs.items())), cfg.blocking), {})
            state = self._agents.get(agent_id)
            if state is None:
                state = self._agents[agent_id] = AgentState(cfg)
            else:
                state.cfg = cfg
                # costs may have changed: what the agent holds is counted at the new costs
                state.used = sum(cfg.cost(ch) for ch in [*state.work.values(), *state.offers.values()])
            state.open_cache = shared
        self._channels = frozenset(DEFAULT_CHANNELS).union(*(a.costs for a in config.agents.values()))
        # one recheck per distinct member delay, not one per member
        self._delays = {name: sorted({m.delay for m in q.members if m.delay > 0}) for name, q in config.queues.items()}
        # membership may have changed: the open sets are rebuilt by refreshing every agent
        self._open, self._open_key, self._open_sig, self._open_of = {}, {}, {}, {}
        self._filed_of: dict[str, frozenset[str]] = {}   # the channels each agent is filed under in _open
        self._unfiled: set[str] = set()                  # refreshed since: _file_free files them
        # per queue, members logged in and ready: "anyone there?" without a scan
        self._staffed: set[str] = set()
        self._staffed_count: dict[str, int] = {}

    def reconfigure(self, config: RoutingConfig, now: float, fallback: str | None = None) -> list[Decision]:
        """Switch to ``config``: waiting work keeps its place, agents keep state and work.

        Interactions of a queue that no longer exists move to ``fallback`` (which must exist
        in the new config); agents no longer configured are logged out (their offers withdrawn,
        their wrap-ups ended with ``wrap_up_ended`` decisions, ``why`` agent_not_configured).
        """
        check_time(now)
        if fallback is not None and fallback not in config.queues:
            raise RoutingError(f"fallback queue {fallback!r} is not in the new configuration")
        orphans = [i for i in self._waiting.values() if i.queue not in config.queues]
        if orphans and fallback is None:
            raise RoutingError("queues with waiting work were removed and no fallback was given")
        removed = sorted(set(self._agents) - set(config.agents))
        holding = [agent_id for agent_id in removed if self._agents[agent_id].work]
        if holding:
            raise RoutingError(f"agents {', '.join(holding)} were removed but hold work")
        out: list[Decision] = []
        self._now = now
        for agent_id in removed:
            state = self._agents[agent_id]
            for iid in sorted(state.offers):
                out += self._withdraw(self._waiting[iid], "withdrawn", now, rematch=False)
            # nobody could end them once the agent is gone: they end now, finishing what is in them
            out += [WrapUpEnded(now, agent_id, name, "agent_not_configured") for name in sorted(state.wraps)]
            del self._agents[agent_id]
            self._free.discard(agent_id)
        self._install(config)
        items = sorted(self._waiting.values(), key=lambda i: i.key)
        self._lines = Lines()
        self._final_required = {}
        for item in items:
            if item.queue not in config.queues:
                out.append(Overflowed(now, item.spec.id, item.queue, fallback, "queue_removed"))
                item.queue, item.queued_since = fallback, now
            item.key = self._key(item.spec, item.priority, item.virtual_start)
            self._lines.add(item.queue, item.key, item.spec.channel, item.offered_to is None)
            self._file_final(item, True)
            self._arm_item(item)
        self._free.clear()
        for agent_id in sorted(self._agents):
            self._refresh(agent_id, now)
        # agent by agent, not as one moment (Matching._settle): here thousands of free agents
        # may want the same work, and one walk of the lines per agent keeps this cheap
        for agent_id in sorted(self._free):
            out += self._fill_agent(agent_id, now)
        return out + self._states(now)

    # --- agents ---

    def agent_login(self, agent: str, now: float) -> list[Decision]:
        """Log in (not ready until :meth:`set_available`)."""
        check_time(now)
        a = self._agent(agent)
        if not a.logged_in:
            a.logged_in, a.ready, a.reason, a.idle_since = True, False, None, now
        return self._after_agent(agent, now)

    def agent_logout(self, agent: str, now: float) -> list[Decision]:
        """Log out; offers are withdrawn, and every running wrap-up ends (one ``wrap_up_ended``
        decision per channel, by channel name, ``why`` logout: it is what finishes the
        interactions in it, as a timer would). RoutingError while the agent holds work."""
        check_time(now)
        a = self._agent(agent)
        if a.work:
            raise RoutingError(f"agent {agent!r} holds work and cannot log out")
        offered = [self._waiting[iid] for iid in sorted(a.offers)]
        # logged out first, so the withdrawn offers go to someone else, never back to them
        a.logged_in, a.ready, a.reason = False, False, None
        # their deadlines find no wrap-up left and end nothing (_due_valid)
        out: list[Decision] = [WrapUpEnded(now, agent, name, "logout") for name in sorted(a.wraps)]
        a.wraps.clear()
        for item in offered:
            out += self._withdraw(item, "withdrawn", now, rematch=True)
        self._refresh(agent, now)
        for iid in sorted(self._preferring.get(agent, ())):
            item = self._waiting.get(iid)
            if item is not None:
                out += self._match_item(item, now)  # a logged-out preferred agent falls back at once
        out += self._overflow_unstaffed(agent, now)
        return out + self._after_agent(agent, now, fill=False)

    def _overflow_unstaffed(self, agent: str, now: float) -> list[Decision]:
        """The agent left (logged out, or went not ready): in the queues with an overflow, the
        waiting work nobody staffed can take any more overflows (``no_agents``).

        That is all of a queue's work when the agent was its last member logged in and ready,
        else only work whose ladder ends on a step held forever that the agent met and no
        other staffed member meets.
        """
        out: list[Decision] = []
        a = self._agents[agent]
        if a.logged_in and a.ready:
            return out
        for _, queue, _ in self._agent_lines.get(agent, ()):
            if self.config.queues[queue].overflow_to is None:
                continue
            if self._staffed_count.get(queue, 0):
                ids = [iid for iid in self._final_required.get(queue, ())
                       if self._requirement(self._waiting[iid], final=True).matches(a.cfg.skills, a.cfg.languages)]
                ids.sort(key=lambda iid: self._waiting[iid].key)
            else:
                ids = self._lines.ids(queue)
            for iid in ids:
                item = self._waiting.get(iid)
                if item is not None and item.offered_to is None and item.queue == queue \
                        and not self._anyone_staffed_for(item):
                    out += self._overflow(item, now, "no_agents")
        return out

    def _file_final(self, item: WaitingItem, present: bool) -> None:
        """Keep the set of a queue's waiting work whose ladder ends on a step held forever."""
        if self._requirement(item, final=True) is None:
            return
        if present:
            self._final_required.setdefault(item.queue, set()).add(item.spec.id)
        else:
            self._final_required.get(item.queue, set()).discard(item.spec.id)

    def set_available(self, agent: str, now: float) -> list[Decision]:
        """Ready for offers (logs the agent in if needed)."""
        check_time(now)
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
        check_time(now)
        a = self._agent(agent)
        if not a.logged_in:
            raise RoutingError(f"agent {agent!r} is logged out")
        a.ready, a.reason = False, reason
        self._refresh(agent, now)
        return self._overflow_unstaffed(agent, now) + self._after_agent(agent, now, fill=False)

    def set_phone_registered(self, agent: str, registered: bool, now: float) -> list[Decision]:
        """An unregistered phone makes the agent unavailable for calls (other channels go on)."""
        check_time(now)
        self._agent(agent).phone_ok = registered
        return self._after_agent(agent, now)

    def end_wrap_up(self, agent: str, now: float, channel: str | None = None) -> list[Decision]:
        """End the agent's wrap-ups early: every channel's, or only ``channel``'s (no-op if none runs).

        One ``wrap_up_ended`` decision per channel ended, by channel name, ``why`` agent.
        """
        check_time(now)
        a = self._agent(agent)
        ended = sorted(a.wraps) if channel is None else [channel] if channel in a.wraps else []
        if not ended:
            return self._after_agent(agent, now, fill=False)
        for name in ended:
            del a.wraps[name]
        if not a.work and not a.wraps:
            a.idle_since = now
        return [WrapUpEnded(now, agent, name, "agent") for name in ended] + self._after_agent(agent, now)

    # --- interactions ---

    def submit(self, spec: InteractionSpec, now: float) -> list[Decision]:
        """Start routing ``spec``; raises RoutingError for an unknown queue or a duplicate id."""
        check_time(now)
        check_time(spec.virtual_start, f"interaction {spec.id}: virtual_start")
        for agent_id, until in spec.preferred:
            check_time(until, f"interaction {spec.id}: preferred agent {agent_id!r} until")
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
        check_time(now)
        item = self._offered(iid, agent)
        a = self._agents[agent]
        channel = a.offers.pop(iid)
        a.work[iid] = channel
        a.no_answer = 0
        self._remove_waiting(item)
        self._held[iid] = HeldItem(item.spec, agent, item.queue, now)
        # the offer's units become work's: the agent's channels, state and order are unchanged, and
        # taking an offer frees nobody and makes no work eligible, so there is nothing to re-file
        return [Removed(now, iid, "accepted")] + self._states(now)

    def reject(self, iid: int, agent: str, now: float) -> list[Decision]:
        """The agent declines; not offered to them again within the reject delay."""
        check_time(now)
        item = self._offered(iid, agent)
        until = now + self.policy.reject_delay
        item.rejected[agent] = until
        self._deadlines.push(until, "recheck", iid)
        out = self._withdraw(item, "rejected", now, rematch=True)
        return out + self._after_agent(agent, now)

    def offer_failed(self, iid: int, agent: str, reason: str, now: float) -> list[Decision]:
        """Delivery failed (phone busy, not answered): the no-answer path, then re-offer."""
        check_time(now)
        item = self._offered(iid, agent)
        return self._missed(item, agent, now, "failed")

    def complete(self, iid: int, now: float, wrap_up: bool = True) -> list[Decision]:
        """The agent finished the interaction; the queue's wrap-up for its channel starts (or
        extends the channel's running one). ``wrap_up`` False (work that never got going, as a
        call the agent's phone did not answer): none starts, the running ones are untouched.
        UnknownInteraction unless an agent holds it."""
        check_time(now)
        held = self._held.pop(iid, None)
        if held is None:
            raise UnknownInteraction(f"interaction {iid} is not held by an agent")
        a = self._agents.get(held.agent)
        if a is not None:
            channel = a.work.pop(iid)
            a.used -= a.cfg.cost(channel)
            q = self.config.queues.get(held.queue)
            wrap = q.wrap_up_for(channel) if q is not None and wrap_up else 0.0
            if wrap > 0 and a.logged_in:
                # a second interaction of the channel ending extends that channel's wrap-up
                until = max(a.wraps.get(channel, now + wrap), now + wrap)
                a.wraps[channel] = until
                self._deadlines.push(until, "wrap", (held.agent, channel))
            if not a.work:
                a.idle_since = now
        previous = self._handle_time.get(held.queue, self.policy.default_handle_time)
        self._handle_time[held.queue] = (1 - _EMA) * previous + _EMA * max(0.0, now - held.accepted_at)
        out: list[Decision] = [Removed(now, iid, "completed")]
        return out + self._after_agent(held.agent, now) if a is not None else out

    def cancel(self, iid: int, reason: str, now: float) -> list[Decision]:
        """The customer left while waiting (abandoned); a quick call back resumes the place."""
        check_time(now)
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
        check_time(now)
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
        check_time(now)
        item = self._waiting_item(iid)
        if queue not in self.config.queues:
            raise RoutingError(f"unknown queue {queue!r}")
        out: list[Decision] = []
        agent = item.offered_to
        if agent is not None:
            out += self._withdraw(item, "withdrawn", now, rematch=False)
        self._lines.remove(item.queue, item.key, item.spec.channel)
        out.append(Overflowed(now, iid, item.queue, queue, "moved"))
        self._file_final(item, False)
        item.queue, item.queued_since = queue, now
        self._file_final(item, True)
        self._lines.add(queue, item.key, item.spec.channel)
        self._arm_item(item)
        out += self._match_item(item, now)
        if agent is not None:
            out += self._after_agent(agent, now)
        return out + self._states(now)

    def set_priority(self, iid: int, priority: int, now: float) -> list[Decision]:
        """Supervisor: change a waiting interaction's priority (its score and place follow)."""
        check_time(now)
        item = self._waiting_item(iid)
        self._lines.remove(item.queue, item.key, item.spec.channel)
        item.priority = priority
        item.key = self._key(item.spec, priority, item.virtual_start)
        self._lines.add(item.queue, item.key, item.spec.channel, item.offered_to is None)
        return [Queued(now, iid, item.queue, self._lines.position(item.queue, item.key))] + self._match_item(item, now)

    # --- time ---

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has something to do, or None."""
        heap = self._deadlines.heap
        while heap:
            at, _, kind, ref = heap[0]
            if self._due_valid(at, kind, ref):
                return at
            heappop(heap)
        return None

    def tick(self, now: float) -> list[Decision]:
        """Carry out everything due at or before ``now``, in time order, one instant at a time.

        Everything due at one instant is one moment: its timers are carried out (ladder
        steps, wrap-ups, expiries, overflows), then the offers they made possible are made
        together (see ``Matching._settle``), by queue priority, score and tie-breaks, never
        by the order the timers were set. A later instant (or an offer that expires at once,
        with a zero timeout) is the next moment.
        """
        check_time(now)
        out: list[Decision] = []
        self._now = now
        heap = self._deadlines.heap
        while heap and heap[0][0] <= now:
            instant = heap[0][0]
            items, agents = self._moment = (set(), set())
            try:
                # what a handler sets for this very instant (a zero-length ladder step) joins it
                while heap and heap[0][0] == instant:
                    at, _, kind, ref = heappop(heap)
                    if self._due_valid(at, kind, ref):
                        out += self._due(at, kind, ref, now)
            finally:
                self._moment = None
            out += self._settle(items, agents, now)
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
            a = self._agents.get(ref[0])
            return a is not None and a.wraps.get(ref[1]) == at
        if kind == "backoff":
            a = self._agents.get(ref)
            return a is not None and a.backoff_until == at
        return False

    def _due(self, at: float, kind: str, ref: Any, now: float) -> list[Decision]:
        if kind == "offer":
            return self._missed(self._waiting[ref[0]], ref[1], now, "expired")
        if kind == "step":
            item = self._waiting[ref[0]]
            item.step = ref[1] + 1 if ref[1] + 1 < len(item.spec.ladder) else len(item.spec.ladder)
            item.step_since = at  # the next step starts when this one ended, however late the tick
            self._arm_item(item)
            return [StepRelaxed(now, item.spec.id, item.step, self._requirement_text(item))] + self._match_item(item, now)
        if kind == "overflow":
            return self._overflow(self._waiting[ref[0]], now, "waited_too_long")
        if kind == "recheck":
            return self._match_item(self._waiting[ref], now)
        if kind == "wrap":
            agent_id, channel = ref
            a = self._agents[agent_id]
            del a.wraps[channel]
            if not a.work and not a.wraps:
                a.idle_since = now
            return [WrapUpEnded(now, agent_id, channel)] + self._after_agent(agent_id, now)
        return self._after_agent(ref, now)  # backoff over

    # --- bookkeeping ---

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
        self._file_final(item, True)
        self._lines.add(item.queue, item.key, item.spec.channel)
        for agent, _ in item.spec.preferred:
            self._preferring.setdefault(agent, set()).add(item.spec.id)

    def _remove_waiting(self, item: WaitingItem) -> None:
        self._file_final(item, False)
        self._lines.remove(item.queue, item.key, item.spec.channel)
        del self._waiting[item.spec.id]
        for agent, _ in item.spec.preferred:
            self._preferring.get(agent, set()).discard(item.spec.id)

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
        if self._moment is not None or not self._dirty:
            return []  # said once the moment is settled: an agent freed and offered at once stays busy
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

def ladder(*steps: tuple[Any, float | None]) -> tuple[LadderStep, ...]:
    """Shorthand: ``ladder((req, 30), (req2, 60))`` -> LadderSteps."""
    return tuple(LadderStep(r, d) for r, d in steps)
