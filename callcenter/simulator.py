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

``do`` is one of arrive, accept, reject, no_answer, complete, hangup, transfer, move,
priority (interaction events), login, available, not_ready, logout, end_wrap_up, phone
(agent events). Accept/reject/no_answer act on the current offer of the interaction (a
``skipped`` line when there is none). The format is documented in ``docs/routing.md``. Each decision is printed as one JSON line (``t``,
``kind``, ``interaction``, ``agent``, ``trace``), then one ``summary`` line: service level
(answered within ``service_level_seconds``, default 20), average and maximum wait, abandons,
and occupancy per agent (time busy or in wrap-up / time logged in).
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
    RequirementSyntaxError,
    RoutingError,
    parse_requirement,
)

ACTIONS = ("arrive", "accept", "reject", "no_answer", "complete", "hangup", "transfer", "move", "priority",
           "login", "available", "not_ready", "logout", "end_wrap_up", "phone")

OCCUPIED = ("busy", "wrap_up")  # on offer, handling, or in after-call work


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
    """The interaction of an ``arrive`` event (requirements were checked at load time)."""
    ladder = tuple(LadderStep(parse_requirement(str(step.get("require", ""))),
                              None if step.get("for") is None else float(step["for"]))
                   for step in event.get("ladder") or [])
    preferred = tuple((p, at + 3600.0) if isinstance(p, str) else (p["agent"], at + float(p.get("for", 3600)))
                      for p in event.get("preferred") or [])
    bonus = event.get("tier_bonus")
    return InteractionSpec(int(event["interaction"]), event.get("channel", "voice"), event["queue"],
                           float(event.get("virtual_start", at)), int(event.get("priority", 0)),
                           event.get("tier", "basic"), None if bonus is None else float(bonus), ladder,
                           preferred, customer_key=event.get("customer"),
                           attributes={str(k): str(v) for k, v in (event.get("attributes") or {}).items()})


def _check_events(events: Any) -> None:
    """Every event has ``at`` and a known ``do``; arrivals' requirements parse."""
    if not isinstance(events, list):
        raise ScenarioError("events: must be a list")
    for n, e in enumerate(events):
        if not isinstance(e, dict) or e.get("do") not in ACTIONS or "at" not in e:
            raise ScenarioError(f"events[{n}]: needs 'at' and 'do' (one of {', '.join(ACTIONS)})")
        try:
            float(e["at"])
        except (TypeError, ValueError):
            raise ScenarioError(f"events[{n}].at: not a number of seconds: {e['at']!r}") from None
        for i, step in enumerate(e.get("ladder") or [] if e["do"] == "arrive" else []):
            try:
                parse_requirement(str((step or {}).get("require", "")))
            except RequirementSyntaxError as exc:
                raise ScenarioError(f"events[{n}].ladder[{i}].require: column {exc.column}: {exc.message}") from None
            except AttributeError:
                raise ScenarioError(f"events[{n}].ladder[{i}]: must be a mapping with 'require'") from None


def simulate(data: dict[str, Any], out: TextIO) -> dict[str, Any]:
    """Run the scenario, print one JSON line per decision, return the summary."""
    config = build_config(data)
    router = Router(config)
    events = data.get("events") or []
    _check_events(events)
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
        except (RoutingError, KeyError, ValueError, TypeError) as exc:
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
    if do in ("accept", "reject", "no_answer"):
        iid = int(e["interaction"])
        offered = router.offered_to(iid)
        if offered is None:
            raise ValueError(f"interaction {iid} is not on offer")
        if do == "accept":
            stats.answered[iid] = at
            return router.accept(iid, offered, at)
        if do == "reject":
            return router.reject(iid, offered, at)
        return router.offer_failed(iid, offered, str(e.get("reason", "no_answer")), at)
    if do == "complete":
        return router.complete(int(e["interaction"]), at)
    if do == "hangup":
        decisions = router.cancel(int(e["interaction"]), "abandoned", at)
        stats.abandoned[int(e["interaction"])] = at
        return decisions
    if do == "transfer":
        return router.transfer(int(e["interaction"]), e["queue"], at)
    if do == "move":
        return router.move(int(e["interaction"]), e["queue"], at)
    if do == "priority":
        return router.set_priority(int(e["interaction"]), int(e["priority"]), at)
    agent = e["agent"]
    if do == "login":
        return router.agent_login(agent, at)
    if do == "available":
        return router.set_available(agent, at)
    if do == "not_ready":
        return router.set_not_ready(agent, e.get("reason", "break"), at)
    if do == "logout":
        return router.agent_logout(agent, at)
    if do == "phone":
        return router.set_phone_registered(agent, bool(e.get("registered", True)), at)
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


def simulate_main(path: Path, out: TextIO) -> int:
    """The command: exit 0 after printing the decisions and the summary, 1 on a bad scenario."""
    try:
        simulate(load_scenario(path), out)
    except ScenarioError as exc:
        out.write(f"{exc}\n")
        return 1
    return 0
