"""Erlang C staffing (pure): how many agents a traffic needs to meet a service level.

The model: contacts arrive at random (Poisson) at rate ``lambda``, each takes on average
``aht`` seconds to handle (exponential), ``N`` agents work a single queue and nobody
abandons. The offered load is ``A = lambda * aht`` Erlangs. With ``N > A``:

- Erlang B, by the recurrence ``B(0) = 1``, ``B(n) = A B(n-1) / (n + A B(n-1))``, which
  never forms ``A^N / N!`` and so stays exact for loads in the thousands of Erlangs;
- probability of waiting ``C = N B / (N - A (1 - B))``;
- service level ``SL(T) = 1 - C exp(-(N - A) T / aht)``;
- average speed of answer ``ASA = C aht / (N - A)``;
- occupancy ``A / N``.

With ``N <= A`` the queue grows without bound: C is 1, the service level 0 and the ASA
infinite. Erlang C ignores abandons, so it asks for a little more staff than a real queue
needs; it is the industry's standard first estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_AGENTS = 100_000


class InvalidTraffic(ValueError):
    """A parameter is out of range; ``field`` names it (``contacts``, ``period``, ``aht``, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Staffing:
    """The expected figures of ``agents`` agents on a load of ``load`` Erlangs."""

    agents: int
    load: float
    wait_probability: float
    service_level: float
    asa: float
    occupancy: float


def offered_load(contacts: float, period: float, aht: float) -> float:
    """Erlangs of ``contacts`` arriving over ``period`` seconds, each taking ``aht`` seconds.

    Raises :class:`InvalidTraffic` for contacts that are negative, NaN or infinite, or a
    period or AHT that is not a finite number > 0.
    """
    if isinstance(contacts, bool) or not isinstance(contacts, (int, float)) or not (
            contacts >= 0 and math.isfinite(contacts)):
        raise InvalidTraffic("contacts", "must be a finite number of contacts >= 0")
    period = _check_seconds("period", period, positive=True)
    aht = _check_seconds("aht", aht, positive=True)
    return contacts * aht / period


def _check_load(load: Any) -> float:
    if isinstance(load, bool) or not isinstance(load, (int, float)) or not (math.isfinite(load) and load >= 0):
        raise InvalidTraffic("load", "must be a finite number of Erlangs >= 0")
    return float(load)


def _check_agents(agents: Any) -> int:
    """A whole number of agents >= 0 (3 or 3.0); NaN, infinities, fractions and non-numbers are refused."""
    if isinstance(agents, bool) or not isinstance(agents, (int, float)):
        raise InvalidTraffic("agents", "must be a whole number of agents >= 0")
    if isinstance(agents, float) and not (math.isfinite(agents) and agents.is_integer()):
        raise InvalidTraffic("agents", "must be a whole number of agents >= 0")
    if agents < 0 or agents > MAX_AGENTS:
        raise InvalidTraffic("agents", f"must be a whole number of agents from 0 to {MAX_AGENTS}")
    return int(agents)


def _check_seconds(field: str, value: Any, positive: bool) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        raise InvalidTraffic(field, f"must be a finite number of seconds {'> 0' if positive else '>= 0'}")
    return float(value)


def erlang_b(load: float, agents: int) -> float:
    """Blocking probability of ``agents`` servers at ``load`` Erlangs (iterative, stable).

    Raises :class:`InvalidTraffic` for a load that is negative, NaN or infinite, or agents
    that are not a whole number >= 0."""
    load, agents = _check_load(load), _check_agents(agents)
    b = 1.0
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    return b


def _from_b(load: float, agents: int, b: float, aht: float, within: float) -> Staffing:
    if agents <= load:
        return Staffing(agents, load, 1.0, 0.0, math.inf, 1.0 if agents else 0.0)
    c = agents * b / (agents - load * (1.0 - b))
    sl = 1.0 - c * math.exp(-(agents - load) * within / aht)
    return Staffing(agents, load, c, max(0.0, min(1.0, sl)), c * aht / (agents - load), load / agents)


def erlang_c(load: float, agents: int, aht: float, within: float) -> Staffing:
    """The figures of ``agents`` agents at ``load`` Erlangs, service level within ``within`` s.

    Raises :class:`InvalidTraffic` for a load that is negative, NaN or infinite; agents that
    are not a whole number >= 0 (a fraction, NaN, an infinity); an AHT that is not a finite
    number > 0; or a ``within`` that is not a finite number >= 0.
    """
    aht = _check_seconds("aht", aht, positive=True)
    within = _check_seconds("within", within, positive=False)
    load, agents = _check_load(load), _check_agents(agents)
    return _from_b(load, agents, erlang_b(load, agents), aht, within)


def agents_needed(load: float, aht: float, target: float, within: float,
                  max_occupancy: float = 1.0) -> Staffing:
    """The fewest agents whose service level within ``within`` s is at least ``target`` (0..1).

    ``max_occupancy`` (0..1] also caps the occupancy ``A / N``. A zero load needs no agent.
    Erlang B is carried forward one agent at a time, so the search costs O(N) however large
    the load. Raises :class:`InvalidTraffic` for a target outside (0, 1), a load that would
    need more than :data:`MAX_AGENTS`, or the errors of :func:`erlang_c`.
    """
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target < 1:
        raise InvalidTraffic("target", "must be a fraction between 0 and 1 (exclusive)")
    if isinstance(max_occupancy, bool) or not isinstance(max_occupancy, (int, float)) or not 0 < max_occupancy <= 1:
        raise InvalidTraffic("max_occupancy", "must be a fraction in (0, 1]")
    load = _check_load(load)
    erlang_c(load, 0, aht, within)  # validates aht and within
    if load == 0:
        return Staffing(0, 0.0, 0.0, 1.0, 0.0, 0.0)
    if load > MAX_AGENTS:
        raise InvalidTraffic("load", f"is above {MAX_AGENTS} Erlangs")
    b, n = 1.0, 0
    while True:
        n += 1
        b = load * b / (n + load * b)
        if n > load and load / n <= max_occupancy:
            result = _from_b(load, n, b, aht, within)
            if result.service_level >= target:
                return result
        if n >= MAX_AGENTS:
            raise InvalidTraffic("load", f"needs more than {MAX_AGENTS} agents")
