"""``callcenter simulate SCENARIO``: run the routing core on simulated time.

A scenario (YAML or JSON) names agents (each may have a ``start``: state, since, work held),
queues, an optional policy and timed events::

    agents:
      alice: {skills: {billing: 5}, languages: [en]}
    queues:
      billing: {members: [alice, {agent: bob, priority: 1, delay: 15}], selection: longest_idle,
                offer_timeout: 20, wrap_up: 30, overflow: {after: 600, to: support}}
    policy: {aging_rate: 1, max_bonus: 600}
    events:
      - {at: 0, agent: alice, do: available}
      - {at: 5, interaction: 1, do: arrive, queue: billing, channel: voice, priority: 0,
         tier_bonus: 0, ladder: [{require: "billing >= 4", for: 30}]}
      - {at: 9, interaction: 1, do: accept}            # by whoever it is offered to
      - {at: 120, interaction: 1, do: complete}
      - {at: 12, interaction: 2, do: hangup}           # abandons
      - {at: 40, agent: alice, do: not_ready, reason: break}

``do`` is one of arrive, accept, reject, no_answer, complete, hangup, transfer, move,
priority (interaction events), login, available, not_ready, logout, end_wrap_up, phone
(agent events). Accept/reject/no_answer act on the current offer of the interaction (a
``skipped`` line when there is none, or when it is not with the ``agent`` the event names).
The scenario is checked first, completely (:mod:`callcenter.scenario`): an unknown key, a
misspelled name or an interaction that never arrives is an error with its file, line,
column and key path, and nothing runs. ``until`` is an absolute time: deadlines up to it run
after the last event (a warning when it is before the last event). The format is documented
in ``docs/simulator.md``. Each decision is printed as one JSON line (``t``, ``kind``,
``interaction``, ``agent``, ``trace``), then one ``summary`` line: service level (answered
within ``service_level_seconds``, default 20), average and maximum wait, abandons, and
occupancy per agent (time busy or in wrap-up / time logged in). Errors and warnings go to
standard error.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from callcenter.scenario import AgentStart, Event, Scenario, load_scenario
from callcenter.settings.errors import ConfigErrors
from routing import Router, RoutingError

OCCUPIED = ("busy", "wrap_up")  # on offer, handling, or in after-call work


@dataclass
class _Stats:
    arrived: dict[int, float] = field(default_factory=dict)
    answered: dict[int, float] = field(default_factory=dict)
    abandoned: dict[int, float] = field(default_factory=dict)
    busy_since: dict[str, float] = field(default_factory=dict)
    busy: dict[str, float] = field(default_factory=dict)
    logged_since: dict[str, float] = field(default_factory=dict)
    logged: dict[str, float] = field(default_factory=dict)


def simulate(scenario: Scenario, out: TextIO) -> dict[str, Any]:
    """Run the scenario, print one JSON line per decision, return the summary."""
    router = Router(scenario.config)
    events = sorted(scenario.events, key=lambda e: (e.at, e.index))
    stats, now = _Stats(), 0.0
    for start in scenario.starts:
        _emit(_start(router, start, events[0].at if events else 0.0), stats, out)
    for event in events:
        while (deadline := router.next_deadline()) is not None and deadline <= event.at:
            now = deadline
            _emit(router.tick(now), stats, out)
        now = event.at
        try:
            _emit(_apply(router, event, stats), stats, out)
        except (RoutingError, ValueError) as exc:
            out.write(json.dumps({"t": event.at, "kind": "skipped", "event": event.index, "why": str(exc)}) + "\n")
    horizon = now if scenario.until is None else scenario.until
    while (deadline := router.next_deadline()) is not None and deadline <= horizon:
        now = deadline
        _emit(router.tick(now), stats, out)
    summary = _summary(stats, max(now, horizon), scenario.service_level_seconds)
    out.write(json.dumps({"kind": "summary", **summary}, sort_keys=True) + "\n")
    return summary


def _start(router: Router, start: AgentStart, first: float) -> list:
    """Put an agent where the scenario says it stands, with the work it holds."""
    at = first if start.since is None else start.since
    out: list = []
    if start.state != "logged_out":
        out += router.agent_login(start.agent, at)
    for spec in start.holds:
        out += router.restore_held(spec, start.agent, at, at)
    if start.state == "available":
        out += router.set_available(start.agent, at)
    elif start.state == "not_ready":
        out += router.set_not_ready(start.agent, start.reason or "break", at)
    return out


def _apply(router: Router, e: Event, stats: _Stats) -> list:
    at, do, iid = e.at, e.do, e.interaction
    if do == "arrive":
        assert e.spec is not None
        stats.arrived[e.spec.id] = at
        return router.submit(e.spec, at)
    if iid is not None:
        return _apply_to_interaction(router, e, iid, stats)
    agent = e.agent or ""
    if do == "login":
        return router.agent_login(agent, at)
    if do == "available":
        return router.set_available(agent, at)
    if do == "not_ready":
        return router.set_not_ready(agent, e.reason or "break", at)
    if do == "logout":
        return router.agent_logout(agent, at)
    if do == "phone":
        return router.set_phone_registered(agent, e.registered, at)
    return router.end_wrap_up(agent, at)


def _apply_to_interaction(router: Router, e: Event, iid: int, stats: _Stats) -> list:
    at, do = e.at, e.do
    if do in ("accept", "reject", "no_answer"):
        offered = router.offered_to(iid)
        if offered is None:
            raise ValueError(f"interaction {iid} is not on offer")
        if e.agent is not None and offered != e.agent:
            raise ValueError(f"interaction {iid} is offered to {offered!r}, not {e.agent!r}")
        if do == "accept":
            stats.answered[iid] = at
            return router.accept(iid, offered, at)
        if do == "reject":
            return router.reject(iid, offered, at)
        return router.offer_failed(iid, offered, e.reason or "no_answer", at)
    if do == "complete":
        return router.complete(iid, at)
    if do == "hangup":
        decisions = router.cancel(iid, "abandoned", at)
        stats.abandoned[iid] = at
        return decisions
    if do == "transfer":
        return router.transfer(iid, e.queue or "", at)
    if do == "move":
        return router.move(iid, e.queue or "", at)
    return router.set_priority(iid, e.priority or 0, at)


def _emit(decisions: list, stats: _Stats, out: TextIO) -> None:
    for d in decisions:
        record = d.to_dict()
        line = {"t": record.pop("at"), "kind": record.pop("kind"), "interaction": record.pop("interaction", None),
                "agent": record.pop("agent", None), **record}
        out.write(json.dumps(line, sort_keys=True) + "\n")
        if d.kind == "agent_state":
            _track(stats, d.agent, d.state, d.at)


def _track(stats: _Stats, agent: str, state: str, at: float) -> None:
    if agent in stats.busy_since and state not in OCCUPIED:
        stats.busy[agent] = stats.busy.get(agent, 0.0) + at - stats.busy_since.pop(agent)
    if state in OCCUPIED:
        stats.busy_since.setdefault(agent, at)
    if state == "logged_out" and agent in stats.logged_since:
        stats.logged[agent] = stats.logged.get(agent, 0.0) + at - stats.logged_since.pop(agent)
    elif state != "logged_out":
        stats.logged_since.setdefault(agent, at)


def _summary(stats: _Stats, end: float, sl_seconds: float) -> dict[str, Any]:
    for agent in list(stats.busy_since):
        _track(stats, agent, "available", end)
    for agent, since in list(stats.logged_since.items()):
        stats.logged[agent] = stats.logged.get(agent, 0.0) + end - since
    waits = [stats.answered[i] - stats.arrived[i] for i in stats.answered if i in stats.arrived]
    answered_in = sum(1 for w in waits if w <= sl_seconds)
    abandoned_late = sum(1 for i, t in stats.abandoned.items() if t - stats.arrived.get(i, t) > sl_seconds)
    denominator = len(waits) + abandoned_late
    return {
        "interactions": len(stats.arrived), "answered": len(waits), "abandoned": len(stats.abandoned),
        "service_level": round(answered_in / denominator, 4) if denominator else None,
        "service_level_seconds": sl_seconds,
        "average_wait": round(sum(waits) / len(waits), 3) if waits else None,
        "max_wait": round(max(waits), 3) if waits else None,
        "occupancy": {a: round(stats.busy.get(a, 0.0) / t, 4) for a, t in sorted(stats.logged.items()) if t > 0},
    }


def simulate_main(path: Path, out: TextIO, err: TextIO | None = None) -> int:
    """The command: exit 0 after printing the decisions and the summary on ``out``; exit 1
    when the scenario is unreadable or invalid, every error on ``err`` (standard error)."""
    err = sys.stderr if err is None else err
    try:
        scenario = load_scenario(path)
    except ConfigErrors as exc:
        err.write(f"{exc}\n")
        return 1
    for warning in scenario.warnings:
        err.write(f"warning: {warning}\n")
    simulate(scenario, out)
    return 0
