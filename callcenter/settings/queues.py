"""Reader for ``queues.yaml``: members, selection, timers, service level, overflow, hours.

Membership comes from three places, merged into :attr:`QueueSettings.members`: the
queue's ``members.agents`` list (with optional per-agent ``priority`` and ``delay``), its
``members.skills`` (every agent with at least that level in each listed skill), and each
agent's own ``queues`` list in ``agents.yaml``. An agent listed explicitly keeps its
explicit priority and delay. Overflow targets must exist and never form a cycle.
"""

from __future__ import annotations

from typing import Mapping

import yaml

from callcenter.settings.model import (
    CHANNELS, SELECTION_POLICIES, AgentSettings, ClosedBehaviour, Overflow, QueueMember, QueueSettings,
    ScheduleSettings, ServiceLevel, SkillSettings,
)
from callcenter.settings.sections import ID, check_id, frozen_map
from callcenter.settings.source import Checker, Node
from callcenter.settings.templates import TemplateReferences

VARIABLE = r"[A-Za-z_][A-Za-z0-9_]*"


def _members(node: Node, checker: Checker, agents: Mapping[str, AgentSettings],
             skills: Mapping[str, SkillSettings]) -> tuple[dict[str, QueueMember], dict[str, int]]:
    e = checker.mapping(node, optional=("agents", "skills"))
    explicit: dict[str, QueueMember] = {}
    for item in checker.sequence(e["agents"]) if "agents" in e else ():
        if item.yaml.tag.endswith(":map"):
            m = checker.mapping(item, required=("agent",), optional=("priority", "delay"))
            login_node = m.get("agent", item)
            priority = checker.integer(m["priority"], minimum=0) if "priority" in m else 0
            delay = checker.duration(m["delay"]) if "delay" in m else 0.0
        else:
            login_node, priority, delay = item, 0, 0.0
        login = checker.string(login_node)
        if login and login not in agents:
            checker.error(login_node, f"unknown agent {login!r} (not in agents.yaml)")
        elif login in explicit:
            checker.error(login_node, f"agent {login!r} is listed twice")
        elif login:
            explicit[login] = QueueMember(login, priority, delay)
    by_skill: dict[str, int] = {}
    for skill, level_node in checker.entries(e["skills"]) if "skills" in e else ():
        level = checker.integer(level_node, minimum=0)
        spec = skills.get(skill)
        if spec is None:
            checker.error(level_node, f"unknown skill {skill!r} (not in skills.yaml)")
        elif not spec.min_level <= level <= spec.max_level:
            checker.error(level_node, f"level must be from {spec.min_level} to {spec.max_level}")
        by_skill[skill] = level
    return explicit, by_skill


def _closed(node: Node | None, checker: Checker, refs: TemplateReferences) -> ClosedBehaviour:
    c = checker.mapping(node, optional=("voice", "email", "webform")) if node is not None else {}
    v = checker.mapping(c["voice"], optional=("variable", "value", "announcement")) if "voice" in c else {}
    m = checker.mapping(c["email"], optional=("template",)) if "email" in c else {}
    w = checker.mapping(c["webform"], optional=("template",)) if "webform" in c else {}
    return ClosedBehaviour(
        voice_variable=checker.string(v["variable"], pattern=VARIABLE, hint="a dialplan variable name")
        if "variable" in v else "CC_QUEUE_CLOSED",
        voice_value=checker.string(v["value"], any_scalar=True, pattern=r"[^\r\n]+") if "value" in v else "1",
        voice_announcement=checker.optional_string(v.get("announcement"), pattern=r"[^\s,|&]+",
                                                   hint="a sound file name like custom/closed"),
        email_template=refs.template(m.get("template")),
        webform_template=refs.template(w.get("template")),
    )


def _wrap_up(node: Node, checker: Checker) -> tuple[float, dict[str, float]]:
    """``wrap_up``: one duration for every channel, or per channel ``{voice: 45s, email: 0s}``
    with ``default`` for the channels not listed (0 s). Returns (default, per channel)."""
    if not isinstance(node.yaml, yaml.MappingNode):
        return checker.duration(node), {}
    e = checker.mapping(node, optional=("default", *CHANNELS), what="channel")
    default = checker.duration(e["default"]) if "default" in e else 0.0
    return default, {channel: checker.duration(e[channel]) for channel in CHANNELS if channel in e}


def read_queues(root: Node, checker: Checker, agents: Mapping[str, AgentSettings],
                skills: Mapping[str, SkillSettings], schedules: Mapping[str, ScheduleSettings],
                refs: TemplateReferences) -> dict[str, QueueSettings]:
    """Every queue of ``queues.yaml``, with membership resolved from every source."""
    top = checker.mapping(root, required=("queues",))
    entries = checker.entries(top["queues"]) if "queues" in top else []
    names = {name for name, _ in entries}
    queues: dict[str, QueueSettings] = {}
    overflow_nodes: dict[str, Node] = {}
    for name, node in entries:
        check_id(checker, node)
        e = checker.mapping(node, optional=(
            "label", "members", "selection", "offer_timeout", "wrap_up", "service_level",
            "overflow", "hours", "closed"))
        errors_before = len(checker.errors)
        explicit, by_skill = _members(e["members"], checker, agents, skills) if "members" in e else ({}, {})
        members = dict(explicit)
        for login, agent in agents.items():
            listed = name in agent.queues
            qualified = bool(by_skill) and all(agent.skills.get(s, -1) >= lvl for s, lvl in by_skill.items())
            if login not in members and (listed or qualified):
                members[login] = QueueMember(login, 0, 0.0)
        if not members and len(checker.errors) == errors_before:  # else the members' own errors say why
            checker.error(node, "has no members (list agents, skills, or the queue in agents' queues)")
        level = None
        if "service_level" in e:
            s = checker.mapping(e["service_level"], required=("percent", "within"))
            level = ServiceLevel(
                checker.number(s["percent"], 80.0, minimum=1, maximum=100) if "percent" in s else 80.0,
                checker.duration(s["within"], 20.0, positive=True) if "within" in s else 20.0)
        overflow = None
        if "overflow" in e:
            o = checker.mapping(e["overflow"], required=("after", "to"))
            if "after" in o and "to" in o:
                target = checker.string(o["to"], pattern=ID)
                overflow = Overflow(checker.duration(o["after"], positive=True), target)
                if target and target not in names:
                    checker.error(o["to"], f"unknown queue {target!r}")
                elif target == name:
                    checker.error(o["to"], "a queue cannot overflow to itself")
                else:
                    overflow_nodes[name] = o["to"]
        wrap_up = _wrap_up(e["wrap_up"], checker) if "wrap_up" in e else (0.0, {})
        schedule = None
        if "hours" in e and not e["hours"].is_null:
            hours = checker.string(e["hours"])
            schedule = schedules.get(hours)
            if hours and schedule is None:
                checker.error(e["hours"], f"unknown schedule {hours!r} (not in hours.yaml)")
        queues[name] = QueueSettings(
            name=name,
            label=checker.string(e["label"]) if "label" in e else name,
            members=tuple(members[login] for login in sorted(members)),
            member_skills=frozen_map(by_skill),
            selection=checker.string(e["selection"], "longest_idle", choices=SELECTION_POLICIES)
            if "selection" in e else "longest_idle",
            offer_timeout=checker.duration(e["offer_timeout"], 20.0, positive=True) if "offer_timeout" in e else 20.0,
            wrap_up=wrap_up[0],
            service_level=level or ServiceLevel(80.0, 20.0),
            overflow=overflow,
            schedule=schedule,
            closed=_closed(e.get("closed"), checker, refs),
            wrap_up_by_channel=frozen_map(wrap_up[1]),
        )
    _check_overflow_cycles(queues, overflow_nodes, checker)
    return queues


def _check_overflow_cycles(queues: Mapping[str, QueueSettings], nodes: Mapping[str, Node],
                           checker: Checker) -> None:
    """Report each overflow cycle once, at the ``to`` of its alphabetically first queue."""
    reported: set[str] = set()
    for start in sorted(nodes):
        path = [start]
        current = start
        while True:
            overflow = queues[current].overflow
            if overflow is None or overflow.to not in queues:
                break
            current = overflow.to
            if current in path:
                cycle = path[path.index(current):]
                if not reported & set(cycle):
                    first = min(cycle)
                    ring = cycle[cycle.index(first):] + cycle[:cycle.index(first)] + [first]
                    checker.error(nodes[first], "overflow cycle: " + " -> ".join(ring))
                    reported.update(cycle)
                break
            path.append(current)
