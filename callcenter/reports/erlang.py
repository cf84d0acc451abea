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

    Raises :class:`InvalidTraffic` for negative contacts or a non-positive period or AHT.
    """
    if not (contacts >= 0 and math.isfinite(contacts)):
        raise InvalidTraffic("contacts", "must be a number of contacts >= 0")
    if not (period > 0 and math.isfinite(period)):
        raise InvalidTraffic("period", "must be a number of seconds > 0")
    if not (aht > 0 and math.isfinite(aht)):
        raise InvalidTraffic("aht", "must be a number of seconds > 0")
    return contacts * aht / period


def erlang_b(load: float, agents: int) -> float:
    """Blocking probability of ``agents`` servers at ``load`` Erlangs (iterative, stable)."""
    if load < 0 or agents < 0:
        raise InvalidTraffic("load", "load and agents must be >= 0")
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

    Raises :class:`InvalidTraffic` for a negative load, agents or ``within``, or AHT <= 0.
    """
    if not (aht > 0):
        raise InvalidTraffic("aht", "must be a number of seconds > 0")
    if within < 0:
        raise InvalidTraffic("within", "must be a number of seconds >= 0")
    if agents < 0:
        raise InvalidTraffic("agents", "must be >= 0")
    return _from_b(load, agents, erlang_b(load, agents), aht, within)


def agents_needed(load: float, aht: float, target: float, within: float,
                  max_occupancy: float = 1.0) -> Staffing:
    """The fewest agents whose service level within ``within`` s is at least ``target`` (0..1).

    ``max_occupancy`` (0..1] also caps the occupancy ``A / N``. A zero load needs no agent.
    Erlang B is carried forward one agent at a time, so the search costs O(N) however large
    the load. Raises :class:`InvalidTraffic` for a target outside (0, 1), a load that would
    need more than :data:`MAX_AGENTS`, or the errors of :func:`erlang_c`.
    """
    if not 0 < target < 1:
        raise InvalidTraffic("target", "must be a fraction between 0 and 1 (exclusive)")
    if not 0 < max_occupancy <= 1:
        raise InvalidTraffic("max_occupancy", "must be a fraction in (0, 1]")
    if not (load >= 0 and math.isfinite(load)):
        raise InvalidTraffic("load", "must be a number of Erlangs >= 0")
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
