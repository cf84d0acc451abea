"""What-if runs of ``callcenter simulate``: generated traffic through the routing core, many times.

A scenario's ``traffic`` section (see :class:`callcenter.simulation.scenario.Traffic`) describes work by
queue: Poisson arrivals, handle and patience times drawn from distributions, the time an
agent takes to answer an offer. :func:`run_traffic` drives a fresh :class:`routing.Router` on
simulated time with that work (plus the scenario's own events: breaks, log-ins, arrivals) for
each run, every run from its own seed derived from the scenario's, so the same scenario and
seed always give the same figures. :func:`clone_agents` adds copies of an agent, to ask
"what if two more agents like alice"; the summary per queue (service level, average speed of
answer, abandon rate, occupancy of its members) puts the answer side by side with today's.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
import statistics
from typing import Any, Iterable

from callcenter.simulation.scenario import QueueTraffic, Scenario
from callcenter.simulation.scenario_file import did_you_mean
from callcenter.simulation.simulator import RunStats, apply_event, start_agent
from routing import InteractionSpec, Member, Router, RoutingError

METRICS = ("arrivals", "answered", "abandoned", "service_level", "asa", "abandon_rate", "occupancy")


class CloneError(ValueError):
    """A ``--clone`` names no agent of the scenario, or a count below 1."""


def clone_agents(scenario: Scenario, agent: str, count: int) -> Scenario:
    """``scenario`` with ``count`` more agents like ``agent`` (``agent+1``, ``agent+2``...): the same
    skills, languages, capacity, queue memberships and starting point.

    Raises :class:`CloneError` for an unknown agent (with a "did you mean") or a count below 1.
    """
    config = scenario.config
    if agent not in config.agents:
        raise CloneError(f"--clone: unknown agent {agent!r}{did_you_mean(agent, config.agents)}")
    if count < 1:
        raise CloneError(f"--clone: the count for {agent!r} must be 1 or more")
    names = [f"{agent}+{n}" for n in range(1, count + 1)]
    agents = dict(config.agents)
    for name in names:
        agents[name] = dataclasses.replace(config.agents[agent], id=name)
    queues = {}
    for qname, q in config.queues.items():
        extra = tuple(Member(name, m.priority, m.delay) for m in q.members if m.agent == agent for name in names)
        queues[qname] = dataclasses.replace(q, members=q.members + extra) if extra else q
    starts = list(scenario.starts)
    for start in scenario.starts:
        if start.agent == agent:
            starts += [dataclasses.replace(start, agent=name, holds=()) for name in names]
    return dataclasses.replace(scenario, config=dataclasses.replace(config, agents=agents, queues=queues),
                               starts=tuple(starts))


class _Driver:
    """One run: a router, a clock, and the pending outside events in a heap."""

    def __init__(self, scenario: Scenario, rng: random.Random) -> None:
        self.scenario, self.rng = scenario, rng
        self.router = Router(scenario.config)
        self.run = RunStats()
        self.pending: list[tuple[float, int, str, Any]] = []
        self.seq = 0
        self.now = 0.0
        self.handle: dict[int, float] = {}
        self.answer: dict[int, float] = {}

    def push(self, at: float, kind: str, ref: Any) -> None:
        """Something the outside world does at ``at``: arrive, accept, abandon, complete, or a scripted event."""
        self.seq += 1
        heapq.heappush(self.pending, (at, self.seq, kind, ref))

    def generate(self, traffic: Iterable[QueueTraffic], duration: float, first_id: int) -> None:
        """Poisson arrivals for each queue over ``duration`` seconds, each with its own draws."""
        iid = first_id
        for q in traffic:
            if q.per_hour <= 0:
                continue
            t = self.rng.expovariate(q.per_hour / 3600.0)
            while t < duration:
                spec = InteractionSpec(iid, q.channel, q.queue, t, q.priority, q.tier)
                self.handle[iid] = max(0.0, q.handle_time.draw(self.rng))
                self.answer[iid] = q.answer_time
                self.push(t, "arrive", spec)
                if q.patience is not None:
                    self.push(t + max(0.0, q.patience.draw(self.rng)), "abandon", iid)
                iid += 1
                t += self.rng.expovariate(q.per_hour / 3600.0)

    def take(self, decisions: list) -> None:
        """Follow the core's decisions: answer offers after the answer time, account agents' states."""
        for d in decisions:
            if d.kind == "offer":
                self.push(self.now + self.answer.get(d.interaction, 0.0), "accept", (d.interaction, d.agent))
            elif d.kind == "agent_state":
                self.run.state(d.agent, d.state, d.at)

    def step(self, at: float, kind: str, ref: Any) -> list:
        """Carry out one outside event (a stale one, such as an accept of an offer that expired, does nothing)."""
        r, run = self.router, self.run
        if kind == "arrive":
            run.queue_of[ref.id], run.arrived[ref.id] = ref.queue, at
            return r.submit(ref, at)
        if kind == "accept":
            iid, agent = ref
            if r.offered_to(iid) != agent:
                return []
            run.answered[iid] = at
            self.push(at + self.handle.get(iid, 0.0), "complete", iid)
            return r.accept(iid, agent, at)
        if kind == "abandon":
            if ref in run.answered or ref not in run.arrived or ref in run.abandoned:
                return []
            run.abandoned[ref] = at
            return r.cancel(ref, "abandoned", at)
        if kind == "complete":
            return r.complete(ref, at)
        return apply_event(r, ref, run)  # an agent's move written in the scenario's events

    def go(self) -> float:
        """Run until nothing is pending and no deadline is left; returns the end time."""
        for start in self.scenario.starts:
            self.take(start_agent(self.router, start, 0.0))
        while True:
            deadline = self.router.next_deadline()
            head = self.pending[0][0] if self.pending else None
            if deadline is not None and (head is None or deadline <= head):
                self.now = deadline
                self.take(self.router.tick(deadline))
                continue
            if head is None:
                return self.now
            at, _, kind, ref = heapq.heappop(self.pending)
            self.now = at
            try:
                self.take(self.step(at, kind, ref))
            except RoutingError:
                continue  # a scripted event the run made impossible (the offer went elsewhere)


def run_traffic(scenario: Scenario, runs: int | None = None, seed: int | None = None) -> dict[str, Any]:
    """Run the scenario's traffic ``runs`` times (default: the scenario's) from ``seed``; the summary.

    Returns ``{"runs", "seed", "duration", "queues": {queue: {metric: {"mean", "min", "max"}}}}``
    with the metrics of :data:`METRICS`: arrivals, answered, abandoned; service level (answered
    within ``service_level_seconds`` over answered plus abandoned after it), ``asa`` (average
    seconds to answer), ``abandon_rate`` (abandoned over arrivals), ``occupancy`` (the queue's
    members' time on offer, handling or wrapping up over their time logged in). A metric with no
    value in a run (no arrivals) is left out of that run's figures.
    """
    traffic = scenario.traffic
    assert traffic is not None, "run_traffic needs a scenario with a traffic section"
    runs = traffic.runs if runs is None else runs
    seed = traffic.seed if seed is None else seed
    first_id = 1 + max((e.interaction or 0 for e in scenario.events), default=0)
    first_id = max(first_id, 1 + max((s.id for st in scenario.starts for s in st.holds), default=0))
    per_run: list[dict[str, dict[str, float | None]]] = []
    for n in range(runs):
        driver = _Driver(scenario, random.Random(f"{seed}:{n}"))
        driver.generate(traffic.queues, traffic.duration, first_id)
        for event in sorted(scenario.events, key=lambda e: (e.at, e.index)):
            driver.push(event.at, "scripted", event)
        end = driver.go()
        driver.run.close(max(end, traffic.duration))
        per_run.append(_figures(scenario, driver.run))
    queues = {}
    for queue in sorted({q for figures in per_run for q in figures}):
        queues[queue] = {}
        for metric in METRICS:
            values = [v for figures in per_run if (v := figures.get(queue, {}).get(metric)) is not None]
            if values:
                queues[queue][metric] = {"mean": round(statistics.fmean(values), 4), "min": round(min(values), 4),
                                         "max": round(max(values), 4)}
    return {"runs": runs, "seed": seed, "duration": traffic.duration, "queues": queues}


def _figures(scenario: Scenario, run: RunStats) -> dict[str, dict[str, float | None]]:
    """One run's metrics per queue (the queue an interaction arrived in)."""
    sl = scenario.service_level_seconds
    out = {}
    for queue, q in scenario.config.queues.items():
        ids = [i for i, name in run.queue_of.items() if name == queue]
        waits = [run.answered[i] - run.arrived[i] for i in ids if i in run.answered]
        abandoned = [i for i in ids if i in run.abandoned]
        late = sum(1 for i in abandoned if run.abandoned[i] - run.arrived[i] > sl)
        members = {m.agent for m in q.members}
        logged = sum(run.logged.get(a, 0.0) for a in members)
        if not ids and not logged:
            continue
        out[queue] = {
            "arrivals": float(len(ids)), "answered": float(len(waits)), "abandoned": float(len(abandoned)),
            "service_level": sum(1 for w in waits if w <= sl) / (len(waits) + late) if waits or late else None,
            "asa": statistics.fmean(waits) if waits else None,
            "abandon_rate": len(abandoned) / len(ids) if ids else None,
            "occupancy": sum(run.busy.get(a, 0.0) for a in members) / logged if logged else None,
        }
    return out


def format_table(summary: dict[str, Any], sl_seconds: float) -> str:
    """The summary as a table a person reads: per queue, the mean over the runs and (min-max)."""
    lines = [f"what-if: {summary['runs']} run(s) from seed {summary['seed']}, "
             f"{summary['duration']:g} s of generated traffic; mean over the runs (min-max)"]
    header = ("queue", "arrivals", "answered", "abandoned", f"service level ({sl_seconds:g} s)", "ASA",
              "abandon rate", "occupancy")
    rows = [header]
    for queue, m in summary["queues"].items():
        rows.append((queue, _cell(m, "arrivals", "{:.1f}"), _cell(m, "answered", "{:.1f}"),
                     _cell(m, "abandoned", "{:.1f}"), _cell(m, "service_level", "{:.1%}"),
                     _cell(m, "asa", "{:.1f} s"), _cell(m, "abandon_rate", "{:.1%}"), _cell(m, "occupancy", "{:.1%}")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return "\n".join(lines) + "\n"


def _cell(metrics: dict[str, dict[str, float]], name: str, fmt: str) -> str:
    m = metrics.get(name)
    if m is None:
        return "-"
    if m["min"] == m["max"]:
        return fmt.format(m["mean"])
    return f"{fmt.format(m['mean'])} ({fmt.format(m['min'])}-{fmt.format(m['max'])})"
