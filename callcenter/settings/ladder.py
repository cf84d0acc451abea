"""Requirements ladders: reading the steps of a rule and checking they can be met.

A ladder is a list of steps::

    ladder:
      - {require: "billing >= 4 and language == zh", for: 30s}
      - {require: "billing >= 2", for: 60s}

Each step's requirement applies for its ``for`` duration, then the next step's; after the
last step any member of the queue may take the interaction (a last step without ``for``
holds until answered). Requirements are parsed by :func:`routing.requirements.parse_requirement`.
A ladder is impossible, and reported, when a step names an unknown skill, asks for a level
outside the skill's range, or cannot be met by any member of the rule's queue.
"""

from __future__ import annotations

from typing import Any, Mapping

import yaml

from callcenter.settings.model import AgentSettings, LadderStep, QueueSettings, SkillSettings
from callcenter.settings.source import Checker, Node


def _value_column(node: Node) -> int:
    """1-based column of the first character inside a scalar's quotes (if any)."""
    mark = node.yaml.start_mark
    quoted = isinstance(node.yaml, yaml.ScalarNode) and node.yaml.style in ("'", '"')
    return mark.column + 1 + (1 if quoted else 0)


def parse_step(text: str, node: Node, checker: Checker) -> Any:
    """The parsed requirement of ``text``, or None after reporting its syntax error.

    The error's column points into the YAML file: the requirement's own column offset by
    where the string starts (inside its quotes) on a single-line scalar.
    """
    try:
        from routing.requirements import RequirementSyntaxError, parse_requirement
    except ImportError:
        return None
    try:
        return parse_requirement(text)
    except RequirementSyntaxError as exc:
        line = node.yaml.start_mark.line + 1
        column = _value_column(node) + max(int(getattr(exc, "column", 1) or 1), 1) - 1
        message = getattr(exc, "message", None) or (exc.args[0] if exc.args else str(exc))
        checker.error_at(node, line, column, f"invalid requirement: {message}")
        return None


def read_ladder(node: Node, checker: Checker, skills: Mapping[str, SkillSettings],
                agents: Mapping[str, AgentSettings], queue: QueueSettings | None) -> tuple[LadderStep, ...]:
    """The steps of a rule's ``ladder``; every problem is reported at its step."""
    items = checker.sequence(node)
    steps: list[LadderStep] = []
    for index, item in enumerate(items):
        e = checker.mapping(item, required=("require",), optional=("for",))
        if "require" not in e:
            continue
        text = checker.string(e["require"])
        value_node = Node(e["require"].yaml, item.file, e["require"].path,
                          e["require"].yaml.start_mark.line + 1, e["require"].yaml.start_mark.column + 1)
        requirement = parse_step(text, value_node, checker) if text else None
        duration: float | None = None
        if "for" in e:
            duration = checker.duration(e["for"], 1.0, positive=True)
        elif index != len(items) - 1:
            checker.error(item, "every step but the last needs 'for' (how long it applies)")
        if requirement is not None:
            _check_satisfiable(requirement, e["require"], checker, skills, agents, queue)
        steps.append(LadderStep(text, requirement, duration))
    return tuple(steps)


def _check_satisfiable(requirement: Any, node: Node, checker: Checker, skills: Mapping[str, SkillSettings],
                       agents: Mapping[str, AgentSettings], queue: QueueSettings | None) -> None:
    """Report unknown skills, out-of-range levels, and requirements no queue member meets."""
    from routing.requirements import skill_terms  # type: ignore[attr-defined]

    bad = False
    for skill, level in skill_terms(requirement):
        spec = skills.get(skill)
        if spec is None:
            checker.error(node, f"unknown skill {skill!r} (not in skills.yaml)")
            bad = True
        elif level is not None and not spec.min_level <= level <= spec.max_level:
            checker.error(node, f"level {level} of {skill!r} is outside its range "
                                f"{spec.min_level}..{spec.max_level}")
            bad = True
    if bad or queue is None:
        return
    members = [agents[m.agent] for m in queue.members if m.agent in agents]
    if not any(_meets(requirement, agent) for agent in members):
        checker.error(node, f"no member of queue {queue.name!r} meets this requirement")


def _meets(requirement: Any, agent: AgentSettings) -> bool:
    return bool(requirement.matches(agent.skills, agent.languages))
