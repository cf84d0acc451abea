"""``callcenter simulate SCENARIO``: run the routing core on simulated time.

A scenario (YAML or JSON) names agents, queues, an optional policy and timed events::

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

``do`` is one of arrive, accept, reject, complete, hangup, available, not_ready, logout,
end_wrap_up. Accept/reject act on the current offer of the interaction (ignored, with a
``skipped`` line, when there is none). Each decision is printed as one JSON line (``t``,
``kind``, ``interaction``, ``agent``, ``trace``), then one ``summary`` line: service level
(answered within ``service_level_seconds``, default 20), average and maximum wait, abandons,
and occupancy per agent (time holding work / time logged in).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from routing import (
    AgentConfig,
    InteractionSpec,
    LadderStep,
    Member,
    Policy,
    QueueConfig,
    Router,
    RoutingConfig,
    RoutingError,
    parse_requirement,
)

ACTIONS = ("arrive", "accept", "reject", "complete", "hangup", "available", "not_ready", "logout", "end_wrap_up")


class ScenarioError(ValueError):
    """The scenario file is not usable; the message names the place."""


@dataclass
class _Stats:
    arrived: dict[int, float] = field(default_factory=dict)
    answered: dict[int, float] = field(default_factory=dict)
    abandoned: dict[int, float] = field(default_factory=dict)
    busy_since: dict[str, float] = field(default_factory=dict)
    busy: dict[str, float] = field(default_factory=dict)
    logged_since: dict[str, float] = field(default_factory=dict)
    logged: dict[str, float] = field(default_factory=dict)


def load_scenario(path: Path) -> dict[str, Any]:
    """The scenario as a dict; :class:`ScenarioError` if unreadable or not a mapping."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: the scenario must be a mapping")
    return data


def build_config(data: dict[str, Any]) -> RoutingConfig:
    """The routing configuration of a scenario; :class:`ScenarioError` naming the bad key."""
    try:
        agents = {}
        for name, a in (data.get("agents") or {}).items():
            a = a or {}
            costs = {"voice": 100, "email": 25, "webform": 25, **(a.get("costs") or {})}
            agents[name] = AgentConfig(name, dict(a.get("skills") or {}), tuple(a.get("languages") or ()),
                                       int(a.get("capacity", 100)), costs)
        queues = {}
        for name, q in (data.get("queues") or {}).items():
            members = []
            for m in q.get("members") or []:
                members.append(Member(m) if isinstance(m, str) else Member(m["agent"], int(m.get("priority", 0)),
                                                                         float(m.get("delay", 0))))
            overflow = q.get("overflow") or {}
            queues[name] = QueueConfig(name, tuple(members), q.get("selection", "longest_idle"),
                                       float(q.get("offer_timeout", 20)), float(q.get("wrap_up", 0)),
                                       overflow.get("after"), overflow.get("to"), dict(q.get("skills") or {}))
        policy = Policy(**(data.get("policy") or {}))
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise ScenarioError(f"bad agents/queues/policy: {exc}") from None
    for name, q in queues.items():
        for m in q.members:
            if m.agent not in agents:
                raise ScenarioError(f"queues.{name}: unknown agent {m.agent!r}")
    return RoutingConfig(agents, queues, policy)


def _spec(event: dict[str, Any], at: float) -> InteractionSpec:
    ladder = tuple(LadderStep(parse_requirement(step.get("require", "")), step.get("for"))
                   for step in event.get("ladder") or [])
    return InteractionSpec(int(event["interaction"]), event.get("channel", "voice"), event["queue"],
                           float(event.get("virtual_start", at)), int(event.get("priority", 0)),
                           event.get("tier", "basic"), float(event.get("tier_bonus", 0)), ladder,
                           customer_key=event.get("customer"))


def simulate(data: dict[str, Any], out: TextIO) -> dict[str, Any]:
    """Run the scenario, print one JSON line per decision, return the summary."""
    config = build_config(data)
    router = Router(config)
    events = data.get("events") or []
    for n, e in enumerate(events):
        if not isinstance(e, dict) or e.get("do") not in ACTIONS or "at" not in e:
            raise ScenarioError(f"events[{n}]: needs 'at' and 'do' (one of {', '.join(ACTIONS)})")
    ordered = sorted(enumerate(events), key=lambda pair: (float(pair[1]["at"]), pair[0]))
    stats, now = _Stats(), 0.0
    for n, event in ordered:
        at = float(event["at"])
        while (deadline := router.next_deadline()) is not None and deadline <= at:
            now = deadline
            _emit(router.tick(now), stats, out)
        now = at
        try:
            _emit(_apply(router, event, at, stats), stats, out)
        except (RoutingError, KeyError, ValueError) as exc:
            out.write(json.dumps({"t": at, "kind": "skipped", "event": n, "why": str(exc)}) + "\n")
    horizon = float(data.get("until", now))
    while (deadline := router.next_deadline()) is not None and deadline <= horizon:
        now = deadline
        _emit(router.tick(now), stats, out)
    summary = _summary(stats, max(now, horizon), float(data.get("service_level_seconds", 20)))
    out.write(json.dumps({"kind": "summary", **summary}, sort_keys=True) + "\n")
    return summary


def _apply(router: Router, e: dict[str, Any], at: float, stats: _Stats) -> list:
    do = e["do"]
    if do == "arrive":
        stats.arrived[int(e["interaction"])] = at
        return router.submit(_spec(e, at), at)
    if do in ("accept", "reject"):
        iid = int(e["interaction"])
        offered = next((v.offered_to for v in router.waiting() if v.interaction == iid), None)
        if offered is None:
            raise ValueError(f"interaction {iid} is not on offer")
        if do == "accept":
            stats.answered[iid] = at
            return router.accept(iid, offered, at)
        return router.reject(iid, offered, at)
    if do == "complete":
        return router.complete(int(e["interaction"]), at)
    if do == "hangup":
        stats.abandoned[int(e["interaction"])] = at
        return router.cancel(int(e["interaction"]), "abandoned", at)
    agent = e["agent"]
    if do == "available":
        return router.set_available(agent, at)
    if do == "not_ready":
        return router.set_not_ready(agent, e.get("reason", "break"), at)
    if do == "logout":
        return router.agent_logout(agent, at)
    return router.end_wrap_up(agent, at)


def _emit(decisions: list, stats: _Stats, out: TextIO) -> None:
    for d in decisions:
        record = d.to_dict()
        line = {"t": record.pop("at"), "kind": record.pop("kind"), "interaction": record.pop("interaction", None),
                "agent": record.pop("agent", None), **record}
        out.write(json.dumps(line, sort_keys=True) + "\n")
        if d.kind == "agent_state":
            _track(stats, d.agent, d.state, d.at)


def _track(stats: _Stats, agent: str, state: str, at: float) -> None:
    if agent in stats.busy_since and state not in ("busy",):
        stats.busy[agent] = stats.busy.get(agent, 0.0) + at - stats.busy_since.pop(agent)
    if state == "busy":
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


def simulate_main(path: Path, out: TextIO) -> int:
    """The command: exit 0 after printing the decisions and the summary, 1 on a bad scenario."""
    try:
        simulate(load_scenario(path), out)
    except ScenarioError as exc:
        out.write(f"{exc}\n")
        return 1
    return 0
