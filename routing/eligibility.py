"""Who may take which interaction, in what order: eligibility, agent selection, scores.

:class:`Eligibility` is the part of :class:`routing.router.Router` that only reads state:
the reasons an agent cannot take an interaction right now, the selection policy's order
among eligible agents, and the score that orders waiting work. It expects the router's
attributes (``_agents``, ``_members``, ``config``, ``policy``, ``_names``, ``_min_bonus``).
"""

from __future__ import annotations

from typing import Any

from routing.model import InteractionSpec
from routing.requirements import skill_names
from routing.state import AgentState, WaitingItem, bonus_parts, order_key, tier_bonus


class Eligibility:
    """Read-only rules shared by matching and the views (a mixin of the router)."""

    _agents: dict[str, AgentState]
    _members: dict[str, dict[str, Any]]
    _names: dict[tuple[Any, str], tuple[str, ...]]
    _min_bonus: float
    _queue_skills: dict[str, tuple[str, ...]]
    config: Any
    policy: Any

    def _why_not(self, agent_id: str, item: WaitingItem, member: Any, now: float,
                 preferred: set[str] | None) -> str | None:
        a = self._agents[agent_id]
        if not a.logged_in:
            return "logged_out"
        channel = item.spec.channel
        if a.wraps and (channel in a.wraps or channel in a.cfg.blocking):
            return "wrap_up"
        if not a.ready:
            return f"not_ready:{a.reason}" if a.reason else "not_ready"
        if now < a.backoff_until:
            return "no_answer_backoff"
        if (a.work or a.offers) and (channel in a.cfg.blocking or a.holds_blocking()):
            return "busy"
        if a.used + a.cfg.cost(channel) > a.cfg.capacity:
            return "no_capacity"
        if channel == "voice" and not a.phone_ok:
            return "phone_unregistered"
        if item.rejected.get(agent_id, float("-inf")) > now:
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
        names = self._skill_names(item) if policy == "best_proficiency" else ()
        # a queue's own members (priority 0) before its helpers, as app_queue penalties do
        member = self._members[item.queue].get(agent_id)
        return (member.priority if member is not None else 0, selection_metric(policy, a, names), a.idle_since,
                agent_id)

    def _indexed(self, item: WaitingItem) -> bool:
        """True when the queue's free-member order is ``item``'s order among agents (see ``FreeMembers``)."""
        return self.config.queues[item.queue].selection != "best_proficiency" or \
            self._skill_names(item) == self._queue_skills[item.queue]

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


def selection_metric(policy: str, a: AgentState, names: tuple[str, ...]) -> float:
    """The selection policy's measure of agent ``a`` (smaller is chosen first)."""
    if policy == "best_proficiency":
        return -sum(a.cfg.skills.get(s, 0) for s in names)
    if policy == "least_loaded":
        return a.used / a.cfg.capacity if a.cfg.capacity else 1.0
    if policy == "fewest_skills":
        return len(a.cfg.skills)
    return 0.0
