"""Reader for ``routing.yaml``: the routing policy and the ordered routing rules.

Rules are tried in order; the first whose every ``match`` condition holds decides the
queue, priority, tier bonus and requirements ladder. The last rule has no ``match`` and
catches everything else (the default rule). What is checked: channels, tiers, queues and
mailbox/form names exist; rule ids are unique; the default rule is there and last; each
ladder step but the last lasts a positive time; every requirement parses and can be met
by at least one member of the rule's queue (see :mod:`callcenter.settings.ladder`).
"""

from __future__ import annotations

from typing import Mapping

from callcenter.settings.ladder import read_ladder
from callcenter.settings.model import (
    CHANNELS, AgentSettings, CodeSettings, QueueSettings, RoutingPolicy, RuleConditions, RuleSettings,
    SkillSettings, TierSettings,
)
from callcenter.settings.sections import ID, LANGUAGE, frozen_map
from callcenter.settings.source import Checker, Node

MATCH_KEYS = ("channel", "to", "digits", "variables", "tier", "attributes", "language", "keywords")


class RuleContext:
    """What rules may refer to."""

    def __init__(self, queues: Mapping[str, QueueSettings], agents: Mapping[str, AgentSettings],
                 skills: Mapping[str, SkillSettings], tiers: Mapping[str, TierSettings],
                 reason_codes: Mapping[str, CodeSettings], addresses: Mapping[str, frozenset[str]]) -> None:
        self.queues = queues
        self.agents = agents
        self.skills = skills
        self.tiers = tiers
        self.reason_codes = reason_codes
        # channel -> names a rule's ``to`` may use for it (mailboxes, forms); voice is free.
        self.addresses = addresses


def read_policy(node: Node | None, root: Node, checker: Checker, ctx: RuleContext) -> RoutingPolicy:
    """``policy``: the reason code set after ``max_no_answer`` missed offers, preferred-agent expiry."""
    p = checker.mapping(node, optional=(
        "no_answer_reason", "max_no_answer", "no_answer_backoff", "reject_delay", "preferred_agent_for",
        "aging_rate", "strict_priority")) if node is not None else {}
    reason = "no_answer"
    if "no_answer_reason" in p:
        reason = checker.string(p["no_answer_reason"])
        if reason and reason not in ctx.reason_codes:
            checker.error(p["no_answer_reason"], f"unknown reason code {reason!r} (not in codes.yaml)")
    elif ctx.reason_codes and reason not in ctx.reason_codes:
        checker.error(node or root, "policy.no_answer_reason is required when codes.yaml "
                      "has no 'no_answer' reason code")
    return RoutingPolicy(
        no_answer_reason=reason,
        max_no_answer=checker.integer(p["max_no_answer"], 2, minimum=1) if "max_no_answer" in p else 2,
        no_answer_backoff=checker.duration(p["no_answer_backoff"]) if "no_answer_backoff" in p else 10.0,
        reject_delay=checker.duration(p["reject_delay"]) if "reject_delay" in p else 30.0,
        preferred_agent_for=checker.duration(p["preferred_agent_for"]) if "preferred_agent_for" in p else 3600.0,
        aging_rate=checker.number(p["aging_rate"], 1.0, minimum=0.01, maximum=100) if "aging_rate" in p else 1.0,
        strict_priority=checker.boolean(p["strict_priority"]) if "strict_priority" in p else False,
    )


def read_rules(root: Node, checker: Checker, ctx: RuleContext) -> tuple[tuple[RuleSettings, ...], RoutingPolicy]:
    """Every rule of ``routing.yaml`` in order, and the routing policy."""
    top = checker.mapping(root, required=("rules",), optional=("policy",))
    policy = read_policy(top.get("policy"), root, checker, ctx)
    rules: list[RuleSettings] = []
    first_line: dict[str, int] = {}
    items = checker.sequence(top["rules"]) if "rules" in top else []
    for index, item in enumerate(items):
        rule = _read_rule(item, checker, ctx)
        if rule is None:
            continue
        if rule.id in first_line:
            checker.error(item.get("id") or item, f"duplicate rule id (first defined on line {first_line[rule.id]})")
        first_line.setdefault(rule.id, item.line)
        if rule.conditions is None and index != len(items) - 1:
            checker.error(item, "a rule without match catches everything: it must be the last rule")
        rules.append(rule)
    if "rules" in top and (not rules or rules[-1].conditions is not None) and \
            not any(r.conditions is None for r in rules):
        checker.error(top["rules"], "a default rule (one without match) is required as the last rule")
    return tuple(rules), policy


def _read_rule(item: Node, checker: Checker, ctx: RuleContext) -> RuleSettings | None:
    e = checker.mapping(item, required=("id", "queue"), optional=(
        "match", "priority", "tier_bonus", "ladder", "fallback"))
    if not e:
        return None
    rule_id = checker.string(e["id"], pattern=ID, hint="an id (lower-case letters, digits, '_', '-')") \
        if "id" in e else ""
    queue = _queue(e.get("queue"), checker, ctx)
    fallback = _queue(e.get("fallback"), checker, ctx)
    if fallback and fallback == queue:
        checker.error(e["fallback"], "must differ from the rule's queue")
    conditions = _conditions(e["match"], checker, ctx) if "match" in e else None
    queue_settings = ctx.queues.get(queue)
    ladder = read_ladder(e["ladder"], checker, ctx.skills, ctx.agents, queue_settings) if "ladder" in e else ()
    return RuleSettings(
        id=rule_id,
        conditions=conditions,
        queue=queue,
        priority=checker.integer(e["priority"], minimum=-1000, maximum=1000) if "priority" in e else 0,
        tier_bonus=checker.duration(e["tier_bonus"]) if "tier_bonus" in e else None,
        ladder=ladder,
        fallback=fallback,
    )


def _queue(node: Node | None, checker: Checker, ctx: RuleContext) -> str:
    if node is None or node.is_null:
        return ""
    name = checker.string(node)
    if name and name not in ctx.queues:
        checker.error(node, f"unknown queue {name!r} (not in queues.yaml)")
    return name


def _conditions(node: Node, checker: Checker, ctx: RuleContext) -> RuleConditions:
    m = checker.mapping(node, optional=MATCH_KEYS, what="match condition")
    if isinstance(m, dict) and not m and node.yaml.tag.endswith(":map"):
        checker.error(node, "must have at least one condition (leave match out for the default rule)")
    lists = {key: checker.string_list(m[key], any_scalar=True) if key in m else ()
             for key in ("to", "digits", "keywords")}
    channels = checker.string_list(m["channel"], choices=CHANNELS) if "channel" in m else ()
    tiers = checker.string_list(m["tier"]) if "tier" in m else ()
    for item in checker.sequence(m["tier"], allow_scalar=True) if tiers else ():
        if getattr(item.yaml, "value", None) not in ctx.tiers:
            checker.error(item, f"unknown tier {item.yaml.value!r} (not in tiers.yaml)")
    for item in checker.sequence(m["digits"], allow_scalar=True) if lists["digits"] else ():
        if not all(ch in "0123456789*#" for ch in str(item.yaml.value)):
            checker.error(item, "must be keypad digits (0-9, * and #)")
    if lists["to"] and len(channels) == 1 and channels[0] in ctx.addresses:
        known = ctx.addresses[channels[0]]
        for item in checker.sequence(m["to"], allow_scalar=True):
            if str(item.yaml.value) not in known:
                kind = "mailbox" if channels[0] == "email" else "form"
                checker.error(item, f"unknown {kind} {item.yaml.value!r} (not in channels.yaml)")
    return RuleConditions(
        channels=channels,
        to=lists["to"],
        digits=lists["digits"],
        variables=_value_map(m.get("variables"), checker),
        tiers=tiers,
        attributes=_value_map(m.get("attributes"), checker),
        languages=checker.string_list(m["language"], pattern=LANGUAGE, hint="a language code like en")
        if "language" in m else (),
        keywords=tuple(k.casefold() for k in lists["keywords"]),
    )


def _value_map(node: Node | None, checker: Checker) -> Mapping[str, tuple[str, ...]]:
    if node is None:
        return frozen_map({})
    return frozen_map({name: checker.string_list(value, any_scalar=True)
                       for name, value in checker.entries(node)})
