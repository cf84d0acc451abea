"""What a ``callcenter simulate`` scenario is: its vocabulary and the typed values it becomes.

A valid scenario (:class:`Scenario`) is the routing configuration, the events as typed
:class:`Event` values in file order, ``until`` (an absolute time), warnings, agents' starting
points (:class:`AgentStart`) and, for a what-if, the generated traffic (:class:`Traffic`, one
:class:`QueueTraffic` per queue, times drawn from a :class:`Distribution`). The constants name
what the file may say: its top-level keys, channels, the actions of events and their keys.
Reading and checking a file into these values is :mod:`callcenter.simulation.scenario_file`; the
format is documented in ``docs/simulator.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from routing import InteractionSpec, RoutingConfig

CHANNELS = ("voice", "email", "webform")
DEFAULT_COSTS = {"voice": 100, "email": 25, "webform": 25}
TOP_KEYS = ("agents", "queues", "policy", "events", "until", "service_level_seconds", "traffic")
DISTRIBUTIONS = {"fixed": ("mean",), "exponential": ("mean",), "lognormal": ("mean", "sd"), "uniform": ("min", "max")}
LIMIT = 1e12  # seconds: any real scenario's times and durations are far inside this

# action -> (required keys, optional keys), besides `at` and `do`
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "arrive": (("interaction", "queue"), ("channel", "priority", "tier", "tier_bonus", "ladder", "preferred",
                                          "customer", "virtual_start", "attributes")),
    "accept": (("interaction",), ("agent",)),
    "reject": (("interaction",), ("agent",)),
    "no_answer": (("interaction",), ("agent", "reason")),
    "complete": (("interaction",), ()),
    "hangup": (("interaction",), ()),
    "transfer": (("interaction", "queue"), ()),
    "move": (("interaction", "queue"), ()),
    "priority": (("interaction", "priority"), ()),
    "login": (("agent",), ()),
    "available": (("agent",), ()),
    "not_ready": (("agent",), ("reason",)),
    "logout": (("agent",), ()),
    "end_wrap_up": (("agent",), ()),
    "phone": (("agent",), ("registered",)),
}


INTERACTION_ACTIONS = ("arrive", "accept", "reject", "no_answer", "complete", "hangup", "transfer", "move", "priority")


@dataclass(frozen=True)
class Event:
    """One scenario event, checked: ``index`` is its place in the file's ``events`` list.

    ``agent`` is the acting agent, or for accept/reject/no_answer the agent the offer is
    expected to be with (None: whoever has it). ``spec`` is set for ``arrive`` only.
    """

    index: int
    at: float
    do: str
    interaction: int | None = None
    agent: str | None = None
    queue: str | None = None
    priority: int | None = None
    reason: str | None = None
    registered: bool = True
    spec: InteractionSpec | None = None


@dataclass(frozen=True)
class AgentStart:
    """Where an agent stands when the run begins (``since``: None means at the first event).

    ``state`` is ``logged_out``, ``not_ready`` (with ``reason``) or ``available``; ``holds``
    is work already accepted, each from its ``spec.queue``.
    """

    agent: str
    state: str = "logged_out"
    reason: str | None = None
    since: float | None = None
    holds: tuple[InteractionSpec, ...] = ()


@dataclass(frozen=True)
class Distribution:
    """Seconds drawn at random: ``fixed`` (``mean``), ``exponential`` (``mean``), ``lognormal``
    (``mean`` and ``sd`` of the seconds themselves) or ``uniform`` (``min`` to ``max``)."""

    kind: str
    mean: float = 0.0
    sd: float = 0.0
    low: float = 0.0
    high: float = 0.0

    def draw(self, rng: Any) -> float:
        """One value from ``rng`` (a :class:`random.Random`)."""
        if self.kind == "exponential":
            return rng.expovariate(1.0 / self.mean) if self.mean > 0 else 0.0
        if self.kind == "lognormal":
            if self.mean <= 0:
                return 0.0
            sigma2 = math.log(1.0 + (self.sd / self.mean) ** 2)
            return rng.lognormvariate(math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2))
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        return self.mean


@dataclass(frozen=True)
class QueueTraffic:
    """Generated work for one queue: Poisson arrivals at ``per_hour``; each interaction is
    answered ``answer_time`` after its offer, handled for ``handle_time``, and abandoned after
    ``patience`` unless answered by then (None: nobody abandons)."""

    queue: str
    per_hour: float
    channel: str = "voice"
    handle_time: Distribution = Distribution("exponential", 180.0)
    patience: Distribution | None = None
    answer_time: float = 0.0
    priority: int = 0
    tier: str = "basic"


@dataclass(frozen=True)
class Traffic:
    """A what-if: ``duration`` seconds of generated arrivals (from 0), ``runs`` runs from ``seed``."""

    duration: float
    queues: tuple[QueueTraffic, ...]
    runs: int = 1
    seed: int = 0


@dataclass(frozen=True)
class Scenario:
    """A valid scenario: what the simulator runs."""

    config: RoutingConfig
    events: tuple[Event, ...]
    until: float | None = None
    service_level_seconds: float = 20.0
    warnings: tuple[str, ...] = ()
    starts: tuple[AgentStart, ...] = ()
    traffic: Traffic | None = None
