"""The pure skill-based routing core: no I/O, no Twisted, no database; time is passed in.

Public API::

    Router(config)                      # commands take `now`, return decisions
    RoutingConfig, AgentConfig, QueueConfig, Member, Policy, InteractionSpec, LadderStep
    parse_requirement(text), RequirementSyntaxError
    RoutingError, UnknownAgent, UnknownInteraction, NotOffered, InvalidTime (NaN or infinite time)
    Resume(spec, queued_since, ladder_since)  # router.restore_waiting / restore_held after a restart
"""

from routing.decisions import AgentView, Decision, WaitingView
from routing.model import AgentConfig, InteractionSpec, LadderStep, Member, Policy, QueueConfig, RoutingConfig
from routing.requirements import RequirementSyntaxError, parse_requirement
from routing.restoring import Resume
from routing.router import InvalidTime, NotOffered, Router, RoutingError, UnknownAgent, UnknownInteraction

__all__ = [
    "AgentConfig", "AgentView", "Decision", "InteractionSpec", "InvalidTime", "LadderStep", "Member", "NotOffered",
    "Policy", "QueueConfig", "RequirementSyntaxError", "Resume", "Router", "RoutingConfig", "RoutingError",
    "UnknownAgent", "UnknownInteraction", "WaitingView", "parse_requirement",
]
