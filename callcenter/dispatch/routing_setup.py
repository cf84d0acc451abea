"""From the validated configuration to what the routing core runs on.

:func:`routing_config` turns :class:`~callcenter.settings.Settings` into a
:class:`routing.RoutingConfig`; :func:`interaction_spec` turns a matched routing rule into
the :class:`routing.InteractionSpec` the core routes; :func:`all_available_router` is the
"every agent available" router of ``callcenter route --dry-run``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from callcenter.dispatch.routing_rules import RuleMatch
from routing import AgentConfig, InteractionSpec, LadderStep, Member, Policy, QueueConfig, Router, RoutingConfig

BLOCKING_CHANNELS = frozenset({"voice"})
# A call's offer ends when the PBX's ring timeout (the queue's offer_timeout, sent as
# CC_DIAL_TIMEOUT) reports NOANSWER; the core's own expiry waits this much longer, as a safety net.
DELIVERY_GRACE = {"voice": 15.0}


def routing_config(settings: Any) -> RoutingConfig:
    """The routing core's configuration for ``settings``."""
    agents = {
        login: AgentConfig(login, dict(a.skills), tuple(a.languages), a.capacity, dict(a.channel_costs),
                           BLOCKING_CHANNELS)
        for login, a in settings.agents.items()
    }
    queues = {
        name: QueueConfig(
            name, tuple(Member(m.agent, m.priority, m.delay) for m in q.members), q.selection, q.offer_timeout,
            q.wrap_up, q.overflow.after if q.overflow else None, q.overflow.to if q.overflow else None,
            dict(q.member_skills), dict(q.wrap_up_by_channel))
        for name, q in settings.queues.items()
    }
    p = settings.policy
    policy = Policy(aging_rate=p.aging_rate, strict_priority=p.strict_priority, reject_delay=p.reject_delay,
                    no_answer_backoff=p.no_answer_backoff, max_no_answer=p.max_no_answer,
                    no_answer_reason=p.no_answer_reason, preferred_agent_for=p.preferred_agent_for,
                    tier_bonuses={name: t.bonus for name, t in settings.tiers.items()},
                    delivery_grace=DELIVERY_GRACE)
    return RoutingConfig(agents, queues, policy)


def interaction_spec(settings: Any, match: RuleMatch, *, iid: int, channel: str, tier: str, virtual_start: float,
                     language: str | None = None, attributes: Mapping[str, Any] | None = None,
                     customer_key: str | None = None,
                     preferred: Sequence[str | tuple[str, float]] = ()) -> InteractionSpec:
    """The routing core's view of an interaction that matched ``match``.

    ``preferred`` names the customer's preferred agents, each a login (preferred until
    ``virtual_start`` plus the policy's ``preferred_agent_for``) or a ``(login, until)`` pair;
    logins that are not configured agents are dropped.
    """
    default_until = virtual_start + settings.policy.preferred_agent_for
    wanted = tuple((p, default_until) if isinstance(p, str) else (str(p[0]), float(p[1])) for p in preferred)
    return InteractionSpec(
        id=iid, channel=channel, queue=match.queue, virtual_start=virtual_start, priority=match.priority,
        tier=tier, tier_bonus=match.tier_bonus,
        ladder=tuple(LadderStep(step.requirement, step.duration) for step in match.ladder),
        preferred=tuple(p for p in wanted if p[0] in settings.agents), customer_key=customer_key, language=language,
        attributes={str(k): str(v) for k, v in (attributes or {}).items()})


def all_available_router(settings: Any, now: float = 0.0) -> Router:
    """A router on ``settings`` with every agent logged in and available (for dry runs)."""
    router = Router(routing_config(settings))
    for login in sorted(settings.agents):
        router.set_available(login, now)
    return router
