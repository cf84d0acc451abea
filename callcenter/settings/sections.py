"""Readers for the simple sections: server, skills, agents, reason codes, dispositions, tiers.

Each reader takes the located file root and a :class:`Checker`, records every problem it
finds and returns the section's settings (with harmless stand-ins where values were bad;
the loader discards the result if any error was recorded).
"""

from __future__ import annotations

import ipaddress
import zoneinfo
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import yaml

from callcenter.settings.model import (
    CHANNELS, AgentSettings, CodeSettings, HttpLimits, ServerSettings, SkillSettings, TierSettings,
)
from callcenter.settings.source import Checker, Node

ID = r"[a-z0-9][a-z0-9_-]*"
ID_HINT = "(lower-case letters, digits, '_', '-')"
LANGUAGE = r"[a-z]{2,3}(-[A-Za-z0-9]+)?"
OVERRIDABLE = ("http_host", "http_port", "fastagi_port", "smtp_port", "data_dir", "database_url")

DEFAULT_TIERS = (("basic", 0.0, 86400.0), ("gold", 60.0, 14400.0), ("platinum", 180.0, 3600.0))
DEFAULT_CAPACITY = 100
DEFAULT_COSTS = {"voice": 100, "email": 25, "webform": 25}


def frozen_map(items: Mapping) -> Mapping:
    """A read-only view of a copy of ``items``."""
    return MappingProxyType(dict(items))


def check_timezone(checker: Checker, node: Node) -> str:
    """An IANA time zone name such as ``America/New_York``."""
    name = checker.string(node, "UTC")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        checker.error(node, f"unknown time zone {name!r} (use an IANA name like Europe/Paris)")
        return "UTC"
    return name


def read_server(root: Node | None, checker: Checker, overrides: Mapping[str, object]) -> ServerSettings:
    """``server.yaml``: every key optional; ``overrides`` (CLI options) win over the file."""
    unknown = set(overrides) - set(OVERRIDABLE)
    if unknown:
        raise ValueError(f"cannot override {sorted(unknown)}; only {OVERRIDABLE}")
    base = ServerSettings()
    values: dict[str, object] = {}
    if root is not None:
        top = checker.mapping(root, optional=("server",))
        if "server" in top:
            e = checker.mapping(top["server"], optional=(
                "http_host", "http_port", "fastagi_host", "fastagi_port", "smtp_host", "smtp_port",
                "database_url", "data_dir", "default_region", "timezone", "languages", "crm_url",
                "trusted_proxies", "http_limits"))
            for key in ("http_host", "fastagi_host", "smtp_host"):
                if key in e:
                    values[key] = checker.string(e[key])
            for key in ("http_port", "fastagi_port", "smtp_port"):
                if key in e:
                    values[key] = checker.integer(e[key], minimum=0, maximum=65535)
            if "database_url" in e:
                values["database_url"] = checker.optional_string(e["database_url"])
            if "data_dir" in e:
                values["data_dir"] = Path(checker.string(e["data_dir"], "var"))
            if "default_region" in e:
                values["default_region"] = checker.string(
                    e["default_region"], "US", pattern="[A-Z]{2}", hint="a two-letter region code like US")
            if "timezone" in e:
                values["timezone"] = check_timezone(checker, e["timezone"])
            if "crm_url" in e:
                url = checker.optional_string(e["crm_url"])
                if url is not None and not url.startswith(("https://", "http://")):
                    checker.error(e["crm_url"], "must be an http(s) URL such as https://crm.example.com/customers/{id}")
                    url = None
                values["crm_url"] = url
            if "trusted_proxies" in e:
                values["trusted_proxies"] = _proxies(checker, e["trusted_proxies"])
            if "http_limits" in e:
                values["http_limits"] = _http_limits(checker, e["http_limits"])
            if "languages" in e:
                languages = checker.string_list(e["languages"], pattern=LANGUAGE, hint="a language code like en")
                if not languages:
                    checker.error(e["languages"], "must list at least one language")
                values["languages"] = languages or base.languages
    for key, value in overrides.items():
        values[key] = Path(value) if key == "data_dir" else value  # type: ignore[arg-type]
    return ServerSettings(**{**base.__dict__, **values})  # type: ignore[arg-type]


def _proxies(checker: Checker, node: Node) -> tuple[str, ...]:
    """``server.trusted_proxies``: IP addresses or networks (``10.0.0.0/8``)."""
    out = []
    for item in checker.sequence(node):
        text = checker.string(item)
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            checker.error(item, f"{text!r} is not an IP address or network such as 127.0.0.1 or 10.0.0.0/8")
            continue
        out.append(text)
    return tuple(out)


_HTTP_DURATIONS = ("header_timeout", "body_timeout", "idle_timeout")
_HTTP_COUNTS = {"max_header_bytes": (1024, 1024 * 1024), "max_header_lines": (8, 10_000),
                "max_body_bytes": (1024, 1024 ** 3), "max_connections": (1, 1_000_000),
                "max_connections_per_address": (1, 1_000_000)}


def _http_limits(checker: Checker, node: Node) -> HttpLimits:
    """``server.http_limits``: deadlines as durations (``10s``), sizes and counts as integers."""
    e = checker.mapping(node, optional=_HTTP_DURATIONS + tuple(_HTTP_COUNTS))
    base = HttpLimits()
    values: dict[str, object] = {}
    for key in _HTTP_DURATIONS:
        if key in e:
            values[key] = checker.duration(e[key], getattr(base, key), positive=True)
    for key, (low, high) in _HTTP_COUNTS.items():
        if key in e:
            values[key] = checker.integer(e[key], getattr(base, key), minimum=low, maximum=high)
    return HttpLimits(**{**base.__dict__, **values})  # type: ignore[arg-type]


def read_skills(root: Node, checker: Checker) -> dict[str, SkillSettings]:
    """``skills.yaml``: ``skills: {name: {min_level, max_level, description}}``."""
    top = checker.mapping(root, required=("skills",))
    skills: dict[str, SkillSettings] = {}
    for name, node in checker.entries(top["skills"]) if "skills" in top else ():
        check_id(checker, node)
        e = checker.mapping(node, optional=("min_level", "max_level", "description"))
        low = checker.integer(e["min_level"], 1, minimum=0) if "min_level" in e else 1
        high = checker.integer(e["max_level"], 5, minimum=0) if "max_level" in e else 5
        if low > high:
            checker.error(e.get("max_level", node), f"must not be below min_level ({low})")
        description = checker.string(e["description"]) if "description" in e else ""
        skills[name] = SkillSettings(name, low, high, description)
    return skills


def _key(node: Node) -> Node:
    """A stand-in node holding the last component of ``node``'s path, for checking an id."""
    name = node.path.rsplit(".", 1)[-1]
    return Node(yaml.ScalarNode("tag:yaml.org,2002:str", name), node.file, node.path, node.line, node.column)


def check_id(checker: Checker, node: Node) -> None:
    """Report an id (the key ``node`` sits under) that is not a plain lower-case name."""
    checker.string(_key(node), pattern=ID, hint=f"an id {ID_HINT}")


def read_agents(root: Node, checker: Checker, skills: Mapping[str, SkillSettings],
                queue_names: frozenset[str]) -> dict[str, AgentSettings]:
    """``agents.yaml``: skills must exist, levels fit the skill's range, queues exist."""
    top = checker.mapping(root, required=("agents",))
    agents: dict[str, AgentSettings] = {}
    for login, node in checker.entries(top["agents"]) if "agents" in top else ():
        check_id(checker, node)
        e = checker.mapping(node, required=("name",), optional=(
            "skills", "languages", "capacity", "channel_costs", "phone", "email", "queues"))
        levels: dict[str, int] = {}
        for skill, level_node in checker.entries(e["skills"], allow_null=True) if "skills" in e else ():
            level = checker.integer(level_node, minimum=0)
            spec = skills.get(skill)
            if spec is None:
                checker.error(level_node, f"unknown skill {skill!r} (not in skills.yaml)")
            elif not spec.min_level <= level <= spec.max_level:
                checker.error(level_node, f"level must be from {spec.min_level} to {spec.max_level}")
            levels[skill] = level
        costs = dict(DEFAULT_COSTS)
        for channel, cost_node in checker.entries(e["channel_costs"]) if "channel_costs" in e else ():
            if channel not in CHANNELS:
                checker.error(cost_node, f"unknown channel; expected one of: {', '.join(CHANNELS)}")
            costs[channel] = checker.integer(cost_node, 1, minimum=1)
        capacity = checker.integer(e["capacity"], DEFAULT_CAPACITY, minimum=1) if "capacity" in e else DEFAULT_CAPACITY
        for channel, cost in costs.items():
            if cost > capacity and channel in CHANNELS:
                checker.error(e.get("channel_costs", e.get("capacity", node)),
                              f"{channel} costs {cost} but the capacity is only {capacity}")
        agents[login] = AgentSettings(
            login=login,
            name=checker.string(e["name"]) if "name" in e else login,
            skills=frozen_map(levels),
            languages=checker.string_list(e["languages"], pattern=LANGUAGE, hint="a language code like en")
            if "languages" in e else (),
            capacity=capacity,
            channel_costs=frozen_map(costs),
            phone=checker.optional_string(e.get("phone"), pattern=r"[^\r\n,]+", hint="a dial string like PJSIP/1001"),
            email=checker.optional_string(e.get("email"), pattern=r"[^@\s]+@[^@\s]+", hint="an email address"),
            queues=_queues(e["queues"], checker, queue_names) if "queues" in e else (),
        )
    return agents


def _queues(node: Node, checker: Checker, queue_names: frozenset[str]) -> tuple[str, ...]:
    names = checker.string_list(node)
    for item in checker.sequence(node, allow_scalar=True) if names else ():
        name = str(getattr(item.yaml, "value", ""))
        if name not in queue_names:
            checker.error(item, f"unknown queue {name!r} (not in queues.yaml)")
    return names


def read_codes(root: Node | None, checker: Checker, key: str) -> dict[str, CodeSettings]:
    """``codes.yaml`` section ``key`` (``reason_codes`` or ``dispositions``): ``{code: label}``."""
    if root is None:
        return {}
    top = checker.mapping(root, optional=("reason_codes", "dispositions"))
    codes: dict[str, CodeSettings] = {}
    for code, node in checker.entries(top[key]) if key in top else ():
        check_id(checker, node)
        codes[code] = CodeSettings(code, checker.string(node))
    return codes


def read_tiers(root: Node | None, checker: Checker) -> tuple[dict[str, TierSettings], str]:
    """``tiers.yaml``: ``tiers: {name: {bonus, response_time}}`` and ``default_tier``.

    Without the file the tiers are basic (no bonus, 24 h), gold (60 s, 4 h) and
    platinum (180 s, 1 h), and new customers are basic.
    """
    defaults = {name: TierSettings(name, bonus, response) for name, bonus, response in DEFAULT_TIERS}
    if root is None:
        return defaults, "basic"
    top = checker.mapping(root, required=("tiers",), optional=("default_tier",))
    tiers: dict[str, TierSettings] = {}
    for name, node in checker.entries(top["tiers"]) if "tiers" in top else ():
        check_id(checker, node)
        e = checker.mapping(node, required=("bonus", "response_time"))
        tiers[name] = TierSettings(
            name,
            checker.duration(e["bonus"]) if "bonus" in e else 0.0,
            checker.duration(e["response_time"], positive=True) if "response_time" in e else 0.0,
        )
    default = next(iter(tiers), "basic")
    if "default_tier" in top:
        default = checker.string(top["default_tier"], default)
        if tiers and default not in tiers:
            checker.error(top["default_tier"], f"unknown tier {default!r}")
    if "tiers" in top and not tiers:
        checker.error(top["tiers"], "must define at least one tier")
    return tiers or defaults, default
