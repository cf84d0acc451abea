"""``callcenter import-asterisk``: turn an app_queue ``queues.conf`` into this server's YAML.

The file is read with pyst2's Asterisk config parser (``asterisk.config.Config``). Two
things of queues.conf that parser does not know are handled before it sees the lines:
template categories (``[customer-queue](!)``) and inheritance (``[support](customer-queue)``),
whose items are copied into the inheriting queue (its own items win); ``#include`` lines are
reported and skipped. Line numbers are kept, so parse errors point at the real line.

The mapping (also in docs/configuration.md):

- each queue becomes a queue and a skill of the same name (levels 1-5);
- ``member => Tech/Resource,penalty,name`` becomes an agent (one per interface) with that
  skill; penalties map to proficiency by rank: the lowest penalty of the queue gets level
  5, the next distinct penalty 4, and so on down to 1, so app_queue's "lower penalty
  first" becomes "higher proficiency first" (``best_proficiency`` selection whenever a
  queue's members have different penalties);
- ``strategy``: leastrecent -> longest_idle, fewestcalls -> least_loaded, every other
  strategy -> longest_idle (one agent is offered at a time; ringall has no equivalent);
- ``timeout`` -> ``offer_timeout`` (app_queue's default 15 s when absent or 0),
  ``wrapuptime`` -> ``wrap_up``, ``servicelevel`` -> ``service_level.within`` (80 %);
- every other setting is listed as a comment, not converted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from asterisk.config import Config, ParseError

_CATEGORY = re.compile(r"^\[([^\]]+)\]\(([^)]*)\)\s*(;.*)?$")
TOP_LEVEL = 5
STRATEGIES = {"leastrecent": "longest_idle", "fewestcalls": "least_loaded"}
CONVERTED = {"strategy", "timeout", "wrapuptime", "servicelevel", "member"}


class QueuesConf(Config):
    """pyst2's parser, taught queues.conf templates; ``templates`` and ``parents`` record them."""

    def __init__(self, filename: str) -> None:
        self.templates: set[str] = set()
        self.parents: dict[str, list[str]] = {}
        self.skipped: list[tuple[int, str]] = []
        super().__init__(filename)

    def load(self) -> None:
        """Read the file; rewrite ``[name](options)`` to ``[name]`` and comment out directives."""
        super().load()
        lines = []
        for number, raw in enumerate(self.raw_lines, start=1):
            text = raw.strip()
            match = _CATEGORY.match(text)
            if match:
                name, options = match.group(1), [o.strip() for o in match.group(2).split(",") if o.strip()]
                if "!" in options:
                    self.templates.add(name)
                self.parents[name] = [o for o in options if o != "!"]
                raw = f"[{name}]\n"
            elif text.startswith("#"):
                self.skipped.append((number, text))
                raw = ";" + raw
            lines.append(raw)
        self.raw_lines = lines


@dataclass
class _Queue:
    name: str
    line: int
    settings: dict[str, tuple[str, int]] = field(default_factory=dict)
    members: list[tuple[str, int, str, int]] = field(default_factory=list)  # interface, penalty, name, line


def _id(text: str, prefix: str) -> str:
    name = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return name if name and name[0].isalnum() else f"{prefix}-{name or 'x'}"


def _seconds(text: str, default: int) -> int:
    return int(text) if text.strip().isdigit() else default


def read_queues(conf: QueuesConf, notes: list[str]) -> list[_Queue]:
    """The queues of ``conf`` with inherited settings resolved; problems go to ``notes``."""
    categories = {c.name: c for c in conf.categories}
    queues: list[_Queue] = []

    def items_of(name: str, seen: tuple[str, ...]) -> list[Any]:
        if name in seen or name not in categories:
            notes.append(f"template {name!r} is missing or circular; ignored")
            return []
        inherited = [i for parent in conf.parents.get(name, []) for i in items_of(parent, seen + (name,))]
        return inherited + list(categories[name].items)

    for category in conf.categories:
        if category.name == "general" or category.name in conf.templates:
            if category.name == "general":
                notes.append("[general] settings are not converted")
            continue
        queue = _Queue(_id(category.name, "queue"), category.number)
        for item in items_of(category.name, ()):
            key, value = item.name.strip().lower(), item.value.strip()
            if key == "member":
                parts = [p.strip() for p in value.split(",")]
                penalty_text = parts[1] if len(parts) > 1 else ""
                if penalty_text and not penalty_text.isdigit():
                    notes.append(f"line {item.number}: penalty {penalty_text!r} is not a number; 0 used")
                penalty = int(penalty_text) if penalty_text.isdigit() else 0
                label = parts[2] if len(parts) > 2 and parts[2] else parts[0]
                queue.members = [m for m in queue.members if m[0] != parts[0]]  # a queue's own line wins
                queue.members.append((parts[0], penalty, label, item.number))
            else:
                queue.settings[key] = (value, item.number)
        queues.append(queue)
    return queues


def convert(conf: QueuesConf) -> tuple[dict[str, Any], list[str]]:
    """``({"skills": ..., "agents": ..., "queues": ...}, notes)`` for a parsed queues.conf."""
    notes = [f"line {n}: {text} skipped" for n, text in conf.skipped]
    skills: dict[str, Any] = {}
    agents: dict[str, dict[str, Any]] = {}
    by_interface: dict[str, str] = {}
    queues: dict[str, Any] = {}
    for queue in read_queues(conf, notes):
        penalties = sorted({penalty for _, penalty, _, _ in queue.members})
        skills[queue.name] = {"description": f"members of app_queue queue {queue.name}"}
        for interface, penalty, label, _ in queue.members:
            login = by_interface.get(interface)
            if login is None:
                login = _id(interface.split("/", 1)[-1].split("@")[0], "agent")
                while login in agents:
                    login += "-2"
                by_interface[interface] = login
                agents[login] = {"name": label, "skills": {}, "phone": interface}
            agents[login]["skills"][queue.name] = max(1, TOP_LEVEL - penalties.index(penalty))
        strategy, line = queue.settings.get("strategy", ("ringall", queue.line))
        selection = STRATEGIES.get(strategy, "longest_idle")
        if strategy not in STRATEGIES:
            notes.append(f"queue {queue.name}: strategy {strategy} has no equivalent; longest_idle used")
        if len(penalties) > 1:
            selection = "best_proficiency"
            notes.append(f"queue {queue.name}: members have penalties {penalties}; best_proficiency "
                         f"selection keeps lower penalties first")
        within = _seconds(queue.settings.get("servicelevel", ("20", 0))[0], 20) or 20
        queues[queue.name] = {
            "members": {"skills": {queue.name: 1}},
            "selection": selection,
            "offer_timeout": f"{_seconds(queue.settings.get('timeout', ('15', 0))[0], 15) or 15}s",
            "wrap_up": f"{_seconds(queue.settings.get('wrapuptime', ('0', 0))[0], 0)}s",
            "service_level": {"percent": 80, "within": f"{within}s"},
        }
        if not queue.members:
            notes.append(f"queue {queue.name}: no static members (dynamic members are not in queues.conf)")
        for key, (value, number) in sorted(queue.settings.items()):
            if key not in CONVERTED:
                notes.append(f"queue {queue.name}: {key} = {value} (line {number}) not converted")
    return {"skills": skills, "agents": agents, "queues": queues}, notes


def import_main(queues_conf: Path, out: TextIO) -> int:
    """Print skills, agents and queues YAML equivalent to ``queues_conf``; 1 if it cannot be read."""
    try:
        conf = QueuesConf(str(queues_conf))
    except OSError as exc:
        print(f"{queues_conf}: cannot read: {exc.strerror or exc}", file=out)
        return 1
    except ParseError as exc:
        line, message = (exc.args + (None, None))[:2]
        print(f"{queues_conf}:{line}: {message}", file=out)
        return 1
    sections, notes = convert(conf)
    print(f"# Converted from {queues_conf} by `callcenter import-asterisk`.", file=out)
    print("# Split the documents below into skills.yaml, agents.yaml and queues.yaml.", file=out)
    for note in notes:
        print(f"# note: {note}", file=out)
    for name in ("skills", "agents", "queues"):
        print(f"---\n# {name}.yaml", file=out)
        out.write(yaml.safe_dump({name: sections[name]}, sort_keys=False, allow_unicode=True))
    return 0
