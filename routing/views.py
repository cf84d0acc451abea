"""What the routing core shows: waiting work with scores, agents, and explanations.

:class:`RouterViews` is the read-only face of :class:`routing.router.Router` used by the
desktop, the dashboard, the voice channel (position and estimated wait) and dry runs.
"""

from __future__ import annotations

from typing import Any

from routing.decisions import AgentView, WaitingView
from routing.eligibility import Eligibility
from routing.errors import RoutingError, check_time
from routing.model import InteractionSpec
from routing.state import WaitingItem


class RouterViews(Eligibility):
    """Views over the router's state (a mixin of the router)."""

    _waiting: dict[int, WaitingItem]
    _lines: Any
    _handle_time: dict[str, float]
    _now: float

    def offered_to(self, iid: int) -> str | None:
        """The agent a waiting interaction is on offer to (None: not on offer, or not waiting)."""
        item = self._waiting.get(iid)
        return None if item is None else item.offered_to

    def waiting(self, queue: str | None = None, now: float | None = None) -> list[WaitingView]:
        """Waiting interactions in order (of one queue, or every queue), with score and parts."""
        now = self._now if now is None else check_time(now)
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
                         tuple(sorted(a.work)), tuple(sorted(a.offers)), a.phone_ok, a.no_answer,
                         tuple(sorted(a.wraps.items())))

    def explain(self, target: InteractionSpec | int, now: float) -> dict[str, Any]:
        """For a waiting interaction (or a spec not submitted), each queue member: eligible or why not."""
        check_time(now)
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
