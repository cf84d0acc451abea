"""Reading a ``callcenter simulate`` scenario: validated once, completely, like the configuration.

A typo must be an error, not a different result. Every key of the scenario is known (top
level, agents, queues, members, overflow, policy, events per action, ladder steps, preferred
agents); an unknown one is reported at its place with a "did you mean" when a known key is
close. Names that refer to something (a member's agent, an overflow queue, an event's agent,
queue, channel or interaction, an action, a selection policy, a tier) must exist. Every
problem is collected and raised together as :class:`~callcenter.settings.errors.ConfigErrors`,
each rendered ``file:line:column key.path: message``, the same as ``check-config``.

:func:`load_scenario` returns a :class:`~callcenter.simulation.scenario.Scenario`: the routing
configuration, the events as typed values in file order, ``until`` (an absolute time), warnings
(``until`` before the last event), agents' starting points and the generated ``traffic`` of a
what-if (with it, events may only move agents). The format is documented in
``docs/simulator.md``.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, Iterable

import yaml

from callcenter.settings.errors import ConfigErrors
from callcenter.settings.ladder import parse_step
from callcenter.settings.source import Checker, Node
from callcenter.simulation.scenario import (ACTIONS, CHANNELS, DEFAULT_COSTS, DISTRIBUTIONS, INTERACTION_ACTIONS,
                                            LIMIT, TOP_KEYS, AgentStart, Distribution, Event, QueueTraffic,
                                            Scenario, Traffic)
from routing import AgentConfig, InteractionSpec, LadderStep, Member, Policy, QueueConfig, RoutingConfig
from routing.model import SELECTION_POLICIES
from routing.requirements import skill_names


def load_scenario(path: Path) -> Scenario:
    """Read and check the scenario file ``path`` (YAML, or JSON, which YAML reads as well).

    Raises :class:`ConfigErrors` listing every problem with file, line, column and key path.
    """
    checker = Checker()
    root = checker.load(Path(path), required=True)
    if root is None:
        raise ConfigErrors(checker.errors)
    reader = _Reader(checker)
    top = reader.keys(root, required=("agents", "queues"), optional=TOP_KEYS[2:])
    agents = reader.agents(top.get("agents"))
    policy = reader.policy(top.get("policy"))
    queues = reader.queues(top.get("queues"), agents)
    starts = reader.starts(agents, queues)
    events = reader.events(top.get("events"), agents, queues, policy, reader.held) if "events" in top else []
    first = min((e.at for e in events), default=None)
    for start, node in starts:
        if start.since is not None and first is not None and start.since > first:
            reader.c.error(node, f"since {start.since:g} is after the first event (at {first:g})")
    traffic = reader.traffic(top["traffic"], queues, policy) if "traffic" in top else None
    if traffic is not None and events:
        nodes = checker.sequence(top["events"])
        for event in events:
            if event.do in INTERACTION_ACTIONS:
                checker.error(nodes[event.index].get("do") or nodes[event.index],
                              f"{event.do!r} acts on an interaction: with 'traffic' the events only move agents "
                              f"(login, available, not_ready, logout, end_wrap_up, phone)")
    until = reader.number(top["until"], -LIMIT) if "until" in top else None
    service_level = reader.number(top["service_level_seconds"], 0.0) if "service_level_seconds" in top else 20.0
    if checker.errors:
        raise ConfigErrors(checker.errors)
    warnings = []
    last = max((e.at for e in events), default=None)
    if until is not None and last is not None and until < last:
        node = top["until"]
        warnings.append(f"{node.file}:{node.line}:{node.column} until: {until:g} is before the last event "
                        f"(at {last:g}); `until` is an absolute time, so nothing after that event is run")
    return Scenario(RoutingConfig(agents, queues, policy), tuple(events), until, service_level, tuple(warnings),
                    tuple(start for start, _ in starts), traffic)


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options``, or an empty string."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Reader:
    """The scenario's sections, read through one :class:`Checker` that collects every error."""

    def __init__(self, checker: Checker) -> None:
        self.c = checker
        self.start_nodes: dict[str, Node] = {}
        self.held: dict[int, Node] = {}  # interactions agents hold from the start -> where

    # --- structure ---

    def keys(self, node: Node | None, required: Iterable[str] = (), optional: Iterable[str] = (),
             allow_null: bool = False) -> dict[str, Node]:
        """The entries of a mapping with a fixed set of keys; unknown keys get a "did you mean"."""
        if node is None or (allow_null and node.is_null):
            return {}
        required, allowed = tuple(required), (*required, *optional)
        result: dict[str, Node] = {}
        for name, child in self.c.entries(node):
            if name in allowed:
                result[name] = child
            else:
                self.c.error(child, f"unknown key {name!r}{did_you_mean(name, allowed)}; "
                                    f"expected one of: {', '.join(sorted(allowed))}")
        for name in required if _is_mapping(node) else ():
            if name not in result:
                self.c.error(node, f"missing required key {name!r}")
        return result

    def name(self, node: Node, options: Iterable[str], what: str) -> str:
        """A string that must be one of ``options`` (an agent, a queue, a channel...)."""
        text = self.c.string(node, any_scalar=True)
        options = tuple(options)
        if text and text not in options:
            self.c.error(node, f"unknown {what} {text!r}{did_you_mean(text, options)}"
                               + (f"; expected one of: {', '.join(options)}" if len(options) <= 12 else ""))
            return ""
        return text

    def number(self, node: Node, minimum: float) -> float:
        """A finite number of seconds, at least ``minimum``."""
        return self.c.number(node, minimum, minimum=minimum, maximum=LIMIT)

    def levels(self, node: Node | None) -> dict[str, int]:
        """A mapping of skill names to levels (0 or more)."""
        if node is None:
            return {}
        return {name: self.c.integer(level, minimum=0) for name, level in self.c.entries(node, allow_null=True)}

    # --- agents, queues, policy ---

    def agents(self, node: Node | None) -> dict[str, AgentConfig]:
        """``agents``: id -> skills, languages, capacity, costs per channel."""
        out = {}
        for name, a in self.c.entries(node, allow_null=True) if node is not None else []:
            e = self.keys(a, optional=("skills", "languages", "capacity", "costs", "start"), allow_null=True)
            if "start" in e:
                self.start_nodes[name] = e["start"]
            costs = dict(DEFAULT_COSTS)
            for channel, cost in self.c.entries(e["costs"], allow_null=True) if "costs" in e else []:
                if self.name(_key_node(e["costs"], channel, cost), CHANNELS, "channel"):
                    costs[channel] = self.c.integer(cost, minimum=0)
            languages = self.c.string_list(e["languages"]) if "languages" in e else ()
            capacity = self.c.integer(e["capacity"], 100, minimum=1) if "capacity" in e else 100
            out[name] = AgentConfig(name, self.levels(e.get("skills")), languages, capacity, costs)
        return out

    def queues(self, node: Node | None, agents: dict[str, AgentConfig]) -> dict[str, QueueConfig]:
        """``queues``: members, selection, offer timeout, wrap-up, overflow, skills."""
        entries = self.c.entries(node, allow_null=True) if node is not None else []
        names = [name for name, _ in entries]
        out = {}
        for name, q in entries:
            e = self.keys(q, required=("members",), optional=("selection", "offer_timeout", "wrap_up", "overflow",
                                                              "skills"))
            members = [self.member(m, agents) for m in (self.c.sequence(e["members"]) if "members" in e else [])]
            overflow = self.keys(e.get("overflow"), required=("to",), optional=("after",))
            selection = self.name(e["selection"], SELECTION_POLICIES, "selection policy") if "selection" in e else ""
            wrap_up, by_channel = self.wrap_up(e["wrap_up"]) if "wrap_up" in e else (0.0, {})
            out[name] = QueueConfig(
                name, tuple(m for m in members if m is not None), selection or "longest_idle",
                self.number(e["offer_timeout"], 0.0) if "offer_timeout" in e else 20.0,
                wrap_up,
                self.number(overflow["after"], 0.0) if "after" in overflow else None,
                (self.name(overflow["to"], names, "queue") or None) if "to" in overflow else None,
                self.levels(e.get("skills")), by_channel)
        return out

    def wrap_up(self, node: Node) -> tuple[float, dict[str, float]]:
        """A queue's ``wrap_up``: seconds for every channel, or ``{default, voice, email, webform}``."""
        if not _is_mapping(node):
            return self.number(node, 0.0), {}
        e = self.keys(node, optional=("default", *CHANNELS))
        default = self.number(e["default"], 0.0) if "default" in e else 0.0
        return default, {channel: self.number(e[channel], 0.0) for channel in CHANNELS if channel in e}

    def starts(self, agents: dict[str, AgentConfig], queues: dict[str, QueueConfig]) -> list[tuple[AgentStart, Node]]:
        """Each agent's ``start``: ``{state, reason, since, holds: [{interaction, queue, channel}]}``,
        with the node a bad ``since`` is reported at."""
        out = []
        seen = self.held
        for agent, node in sorted(self.start_nodes.items()):
            e = self.keys(node, optional=("state", "reason", "since", "holds"))
            state = self.name(e["state"], ("logged_out", "not_ready", "available"), "state") if "state" in e else ""
            since = self.number(e["since"], -LIMIT) if "since" in e else None
            holds = []
            for item in self.c.sequence(e["holds"]) if "holds" in e else []:
                h = self.keys(item, required=("interaction", "queue"), optional=("channel",))
                iid = self.c.integer(h["interaction"], minimum=0) if "interaction" in h else None
                if iid is not None and iid in seen:
                    self.c.error(h["interaction"], f"interaction {iid} is already held at {seen[iid].path}")
                elif iid is not None:
                    seen[iid] = item
                queue = self.name(h["queue"], queues, "queue") if "queue" in h else ""
                channel = (self.name(h["channel"], CHANNELS, "channel") or "voice") if "channel" in h else "voice"
                if iid is not None and queue:
                    holds.append(InteractionSpec(iid, channel, queue, since or 0.0))
            if holds and (state or "logged_out") == "logged_out":
                self.c.error(e["holds"], "an agent who holds work must start logged in (state not_ready or "
                                         "available)")
            reason = self.c.string(e["reason"], any_scalar=True) if "reason" in e else None
            out.append((AgentStart(agent, state or "logged_out", reason, since, tuple(holds)), e.get("since", node)))
        return out

    def member(self, node: Node, agents: dict[str, AgentConfig]) -> Member | None:
        """A member: an agent id, or ``{agent, priority, delay}``."""
        if not _is_mapping(node):
            agent = self.name(node, agents, "agent")
            return Member(agent) if agent else None
        e = self.keys(node, required=("agent",), optional=("priority", "delay"))
        agent = self.name(e["agent"], agents, "agent") if "agent" in e else ""
        priority = self.c.integer(e["priority"], minimum=0) if "priority" in e else 0
        delay = self.number(e["delay"], 0.0) if "delay" in e else 0.0
        return Member(agent, priority, delay) if agent else None

    def policy(self, node: Node | None) -> Policy:
        """``policy``: any field of :class:`routing.Policy`, each of its type."""
        defaults = Policy()
        values: dict[str, Any] = {}
        known = tuple(f.name for f in dataclasses.fields(Policy))
        for key, value in self.keys(node, optional=known, allow_null=True).items():
            default = getattr(defaults, key)
            if isinstance(default, bool):
                values[key] = self.c.boolean(value)
            elif isinstance(default, int) and not isinstance(default, float):
                values[key] = self.c.integer(value, default, minimum=1)
            elif isinstance(default, str):
                values[key] = self.c.string(value, default)
            elif isinstance(default, float):
                values[key] = self.number(value, 0.0)
            else:  # a mapping of seconds: per tier, or per channel
                values[key] = {k: self.number(v, 0.0) for k, v in self.c.entries(value, allow_null=True)
                               if key != "delivery_grace" or self.name(_key_node(value, k, v), CHANNELS, "channel")}
        return Policy(**values)

    # --- generated traffic ---

    def traffic(self, node: Node, queues: dict[str, QueueConfig], policy: Policy) -> Traffic | None:
        """``traffic``: ``{duration, runs, seed, queues: {queue: {per_hour, channel, handle_time,
        patience, answer_time, priority, tier}}}``."""
        e = self.keys(node, required=("duration", "queues"), optional=("runs", "seed"))
        out = []
        for name, q in self.c.entries(e["queues"]) if "queues" in e else []:
            if not self.name(_key_node(e["queues"], name, q), queues, "queue"):
                continue
            t = self.keys(q, required=("per_hour",), optional=("channel", "handle_time", "patience", "answer_time",
                                                               "priority", "tier"))
            out.append(QueueTraffic(
                name, self.c.number(t["per_hour"], 0.0, minimum=0.0, maximum=1e6) if "per_hour" in t else 0.0,
                (self.name(t["channel"], CHANNELS, "channel") or "voice") if "channel" in t else "voice",
                self.distribution(t["handle_time"]) if "handle_time" in t else Distribution("exponential", 180.0),
                self.distribution(t["patience"]) if "patience" in t else None,
                self.number(t["answer_time"], 0.0) if "answer_time" in t else 0.0,
                self.c.integer(t["priority"], minimum=0) if "priority" in t else 0,
                self.tier(t["tier"], policy) if "tier" in t else "basic"))
        return Traffic(self.number(e["duration"], 0.0) if "duration" in e else 0.0, tuple(out),
                       self.c.integer(e["runs"], 1, minimum=1, maximum=10_000) if "runs" in e else 1,
                       self.c.integer(e["seed"], 0, minimum=0) if "seed" in e else 0)

    def distribution(self, node: Node) -> Distribution:
        """Seconds: a number (always that), or ``{distribution, mean, sd, min, max}`` (see :class:`Distribution`)."""
        if not _is_mapping(node):
            return Distribution("fixed", self.number(node, 0.0))
        kind_node = node.get("distribution")
        kind = self.name(kind_node, DISTRIBUTIONS, "distribution") if kind_node is not None else "exponential"
        needs = DISTRIBUTIONS.get(kind, ())
        e = self.keys(node, required=needs, optional=("distribution",))
        values = {k: self.number(e[k], 0.0) for k in needs if k in e}
        if kind == "uniform" and values.get("min", 0.0) > values.get("max", 0.0):
            self.c.error(node, "min is above max")
        return Distribution(kind or "exponential", values.get("mean", 0.0), values.get("sd", 0.0),
                            values.get("min", 0.0), values.get("max", 0.0))

    def tier(self, node: Node, policy: Policy) -> str:
        """A tier name, known to ``policy.tier_bonuses`` when it lists any."""
        tier = self.c.string(node, "basic")
        if policy.tier_bonuses and tier not in policy.tier_bonuses and tier != "basic":
            self.c.error(node, f"unknown tier {tier!r}{did_you_mean(tier, policy.tier_bonuses)}; "
                               f"policy.tier_bonuses has: {', '.join(policy.tier_bonuses)}")
        return tier

    # --- events ---

    def events(self, node: Node, agents: dict[str, AgentConfig], queues: dict[str, QueueConfig],
               policy: Policy, held: dict[int, Node]) -> list[Event]:
        """``events``: each checked against its action's keys; ids must arrive exactly once (or
        be ``held`` by an agent from the start)."""
        items = self.c.sequence(node) if not node.is_null else []
        arrivals: dict[int, Node] = dict(held)
        for item in items:
            do, iid_node = item.get("do"), item.get("interaction")
            if do is None or iid_node is None or _scalar(do) != "arrive" or not isinstance(_scalar(iid_node), int):
                continue
            iid = _scalar(iid_node)
            if iid in arrivals:
                self.c.error(iid_node, f"interaction {iid} is already used at {arrivals[iid].path}")
            else:
                arrivals[iid] = item
        return [event for index, item in enumerate(items)
                if (event := self.event(index, item, agents, queues, policy, arrivals)) is not None]

    def event(self, index: int, node: Node, agents: dict[str, AgentConfig], queues: dict[str, QueueConfig],
              policy: Policy, arrivals: dict[int, Node]) -> Event | None:
        """One event, or None after reporting what is wrong with it."""
        if not _is_mapping(node):
            self.c.error(node, "must be a mapping with 'at' and 'do'")
            return None
        do_node = node.get("do")
        if do_node is None:
            self.c.error(node, f"missing required key 'do' (one of: {', '.join(ACTIONS)})")
            return None
        do = self.name(do_node, ACTIONS, "action")
        if not do:
            return None
        required, optional = ACTIONS[do]
        e = self.keys(node, required=("at", "do", *required), optional=optional)
        if "at" not in e:
            return None
        at = self.number(e["at"], -LIMIT)
        iid = None
        if "interaction" in e:
            iid = self.c.integer(e["interaction"], minimum=0)
            if do != "arrive" and iid not in arrivals:
                self.c.error(e["interaction"], f"interaction {iid} never arrives"
                                               + did_you_mean(str(iid), [str(i) for i in arrivals]))
        event = Event(
            index, at, do, iid,
            agent=self.name(e["agent"], agents, "agent") or None if "agent" in e else None,
            queue=self.name(e["queue"], queues, "queue") or None if "queue" in e else None,
            priority=self.c.integer(e["priority"], minimum=0) if "priority" in e else None,
            reason=self.c.string(e["reason"], any_scalar=True) if "reason" in e else None,
            registered=self.c.boolean(e["registered"], True) if "registered" in e else True)
        if do == "arrive" and event.queue is not None and iid is not None:
            return dataclasses.replace(event, spec=self.spec(e, event, agents, policy))
        return event

    def spec(self, e: dict[str, Node], event: Event, agents: dict[str, AgentConfig], policy: Policy) -> InteractionSpec:
        """The interaction of an ``arrive`` event."""
        at = event.at
        tier = "basic"
        if "tier" in e:
            tier = self.c.string(e["tier"], "basic")
            if policy.tier_bonuses and tier not in policy.tier_bonuses and tier != "basic" and "tier_bonus" not in e:
                self.c.error(e["tier"], f"unknown tier {tier!r}{did_you_mean(tier, policy.tier_bonuses)}; "
                                        f"policy.tier_bonuses has: {', '.join(policy.tier_bonuses)}")
        preferred = []
        for p in self.c.sequence(e["preferred"]) if "preferred" in e else []:
            f = self.keys(p, required=("agent",), optional=("for",)) if _is_mapping(p) else {"agent": p}
            agent = self.name(f["agent"], agents, "agent") if "agent" in f else ""
            if agent:
                lasts = self.number(f["for"], 0.0) if "for" in f else policy.preferred_agent_for
                preferred.append((agent, at + lasts))
        channel = (self.name(e["channel"], CHANNELS, "channel") or "voice") if "channel" in e else "voice"
        start = self.number(e["virtual_start"], -LIMIT) if "virtual_start" in e else at
        bonus = self.number(e["tier_bonus"], -LIMIT) if "tier_bonus" in e else None
        attributes = {k: self.c.string(v, any_scalar=True) for k, v in self.c.entries(e["attributes"])} \
            if "attributes" in e else {}
        return InteractionSpec(
            event.interaction or 0, channel, event.queue or "", start, event.priority or 0, tier, bonus,
            self.ladder(e["ladder"], agents) if "ladder" in e else (), tuple(preferred),
            customer_key=self.c.string(e["customer"], any_scalar=True) if "customer" in e else None,
            attributes=attributes)

    def ladder(self, node: Node, agents: dict[str, AgentConfig]) -> tuple[LadderStep, ...]:
        """Ladder steps ``{require, for}``: each names skills some agent has; only the last step may
        hold until answered (no ``for``)."""
        skills = sorted({skill for a in agents.values() for skill in a.skills})
        items = self.c.sequence(node)
        steps = []
        for n, item in enumerate(items):
            e = self.keys(item, optional=("require", "for"))
            requirement = None
            if "require" in e:
                text = "" if e["require"].is_null else str(_scalar(e["require"]))
                requirement = parse_step(text, e["require"], self.c)
                for skill in skill_names(requirement):
                    if skill not in skills:
                        self.c.error(e["require"], f"no agent has the skill {skill!r}{did_you_mean(skill, skills)}")
            duration = self.number(e["for"], 0.0) if "for" in e and not e["for"].is_null else None
            if duration is None and n < len(items) - 1:
                self.c.error(item, "only the last step may hold until answered (give this one 'for')")
            steps.append(LadderStep(requirement, duration))
        return tuple(steps)


def _key_node(parent: Node, key: str, value: Node) -> Node:
    """The key ``key`` of the mapping ``parent`` as a node, to read and report a key that is a name."""
    for k, _ in parent.yaml.value:
        if str(k.value) == key:
            return parent.child(key, k)
    return value


def _is_mapping(node: Node) -> bool:
    return isinstance(node.yaml, yaml.MappingNode)


def _scalar(node: Node) -> Any:
    """A scalar's plain value (int when written as one), without reporting anything."""
    value = getattr(node.yaml, "value", None)
    if isinstance(value, str) and node.yaml.tag.endswith(":int"):
        try:
            return int(value)
        except ValueError:
            return value
    return value
