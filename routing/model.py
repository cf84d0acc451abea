"""What the routing core runs on: agents, queues, the policy, and interactions to route.

Plain frozen dataclasses, built by the application from its validated configuration (or by
the simulator from a scenario). Times are float seconds on one clock (epoch or simulated);
durations are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import isfinite
from typing import Mapping

from routing.requirements import Requirement

SELECTION_POLICIES = ("best_proficiency", "longest_idle", "least_loaded", "fewest_skills")


@dataclass(frozen=True)
class AgentConfig:
    """An agent: skill levels, languages, capacity in units, the units each channel costs, and
    the channels that block all other work while held (a call, usually)."""

    id: str
    skills: Mapping[str, int]
    languages: tuple[str, ...] = ()
    capacity: int = 100
    costs: Mapping[str, int] = field(default_factory=lambda: {"voice": 100, "email": 25, "webform": 25})
    blocking: frozenset[str] = frozenset({"voice"})

    def cost(self, channel: str) -> int:
        """Units one interaction of ``channel`` takes (the whole capacity if not configured)."""
        return self.costs.get(channel, self.capacity)


@dataclass(frozen=True)
class Member:
    """An agent serving a queue: ``priority`` 0 serves it first; ``delay`` seconds of waiting
    must pass before this member is offered the queue's work."""

    agent: str
    priority: int = 0
    delay: float = 0.0


@dataclass(frozen=True)
class QueueConfig:
    """A queue: members, selection policy, offer timeout, wrap-up, overflow.

    ``overflow_after`` (seconds in this queue) moves waiting work to ``overflow_to``; so does
    having no eligible member logged in when ``overflow_to`` is set.

    Wrap-up is per channel: after an interaction of channel C ends, the agent takes no new
    work of C for ``wrap_up_by_channel[C]`` seconds (``wrap_up`` for a channel not listed),
    and no blocking work (a call) while any wrap-up runs; other channels go on.
    """

    name: str
    members: tuple[Member, ...]
    selection: str = "longest_idle"
    offer_timeout: float = 20.0
    wrap_up: float = 0.0
    overflow_after: float | None = None
    overflow_to: str | None = None
    skills: Mapping[str, int] = field(default_factory=dict)
    wrap_up_by_channel: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.selection not in SELECTION_POLICIES:
            raise ValueError(f"unknown selection policy {self.selection!r}")
        durations = {"offer_timeout": self.offer_timeout, "wrap_up": self.wrap_up,
                     "overflow_after": self.overflow_after if self.overflow_after is not None else 0.0,
                     **{f"wrap_up_by_channel.{ch}": v for ch, v in self.wrap_up_by_channel.items()},
                     **{f"members.{m.agent}.delay": m.delay for m in self.members}}
        for name, value in durations.items():
            if not isfinite(value) or value < 0:
                raise ValueError(f"queue {self.name!r}: {name} must be a finite number of seconds >= 0, not {value!r}")

    def wrap_up_for(self, channel: str) -> float:
        """Seconds of wrap-up after an interaction of ``channel`` ends in this queue."""
        return self.wrap_up_by_channel.get(channel, self.wrap_up)


@dataclass(frozen=True)
class Policy:
    """Scoring and agent-protection settings shared by all queues.

    Score = seconds waited x ``aging_rate`` + min(priority x ``priority_seconds`` + tier
    bonus, ``max_bonus``). ``strict_priority`` orders by priority first. A rejected
    interaction is not offered to the same agent for ``reject_delay``; a missed offer pauses
    the agent's offers for ``no_answer_backoff``; ``max_no_answer`` misses in a row set the
    agent not ready with ``no_answer_reason``. A customer who abandons and comes back within
    ``callback_window`` keeps their original start. ``default_handle_time`` seeds the wait
    estimate until handle times are observed. ``tier_bonuses`` (seconds per tier) apply to an
    interaction whose spec carries no ``tier_bonus`` of its own; ``preferred_agent_for`` is
    how long a customer's last agent stays preferred when the caller gives no expiry.
    ``delivery_grace`` (seconds per channel) lengthens an offer's life on a channel that reports
    the outcome itself (a call: the PBX's ring timeout ends the offer), so the core's own
    expiry is only a safety net behind the channel's verdict and never races it.
    """

    aging_rate: float = 1.0
    priority_seconds: float = 60.0
    max_bonus: float = 600.0
    strict_priority: bool = False
    reject_delay: float = 30.0
    no_answer_backoff: float = 10.0
    max_no_answer: int = 2
    no_answer_reason: str = "no_answer"
    callback_window: float = 120.0
    default_handle_time: float = 180.0
    tier_bonuses: Mapping[str, float] = field(default_factory=dict)
    preferred_agent_for: float = 3600.0
    delivery_grace: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RoutingConfig:
    """The whole configuration of one routing core."""

    agents: Mapping[str, AgentConfig]
    queues: Mapping[str, QueueConfig]
    policy: Policy = Policy()


@dataclass(frozen=True)
class LadderStep:
    """``requirement`` holds for ``duration`` seconds (None: until answered)."""

    requirement: Requirement | None
    duration: float | None


@dataclass(frozen=True)
class InteractionSpec:
    """An interaction to route.

    ``virtual_start`` is when it started waiting (kept across overflow and callbacks).
    ``ladder`` relaxes step by step; after the last timed step any queue member qualifies.
    ``preferred`` lists (agent, until): while one of them is logged in and ``until`` has not
    passed, only they are offered it. ``customer_key`` lets a returning caller resume.
    """

    id: int
    channel: str
    queue: str
    virtual_start: float
    priority: int = 0
    tier: str = "basic"
    tier_bonus: float | None = None
    ladder: tuple[LadderStep, ...] = ()
    preferred: tuple[tuple[str, float], ...] = ()
    customer_key: str | None = None
    language: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
