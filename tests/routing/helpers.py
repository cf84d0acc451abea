"""Small builders for routing tests."""

from __future__ import annotations

from routing import AgentConfig, InteractionSpec, LadderStep, Member, Policy, QueueConfig, Router, RoutingConfig
from routing.requirements import parse_requirement


def agent(name, skills=None, languages=("en",), capacity=100, **costs):
    """An agent with skills {name: level}."""
    base = {"voice": 100, "email": 25, "webform": 25}
    base.update(costs)
    return AgentConfig(name, dict(skills or {}), tuple(languages), capacity, base)


def router(agents, queues, **policy):
    """A Router over the given agents and queues {name: QueueConfig or list of member ids}."""
    qs = {}
    for name, q in queues.items():
        qs[name] = q if isinstance(q, QueueConfig) else QueueConfig(name, tuple(Member(m) for m in q))
    return Router(RoutingConfig({a.id: a for a in agents}, qs, Policy(**policy)))


def spec(iid, queue="q", start=0.0, channel="voice", ladder=(), **kw):
    """An interaction; ladder as [(text, duration)]."""
    steps = tuple(LadderStep(parse_requirement(t), d) for t, d in ladder)
    return InteractionSpec(iid, channel, queue, start, ladder=steps, **kw)


def kinds(decisions):
    """(kind, interaction or agent, agent) triples of decisions for compact asserts."""
    out = []
    for d in decisions:
        if d.kind == "offer":
            out.append(("offer", d.interaction, d.agent))
        elif d.kind in ("offer_expired", "offer_withdrawn"):
            out.append((d.kind, d.interaction, d.agent))
        elif d.kind == "agent_state":
            out.append(("state", d.agent, d.state))
        else:
            out.append((d.kind, getattr(d, "interaction", None), getattr(d, "agent", None)))
    return out


def offers(decisions):
    """(interaction, agent) of every offer."""
    return [(d.interaction, d.agent) for d in decisions if d.kind == "offer"]
