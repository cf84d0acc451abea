"""Dry runs: how a sample interaction would be routed, without storing or offering anything.

:func:`dry_run` is what the admin API calls with the live router; :func:`route_main` is
``callcenter route --dry-run INTERACTION.json``. Both show the matched rule (and why each
earlier rule did not match), the queue and whether it is open, the priority, the tier
bonus and the requirements ladder. Eligibility of agents comes from the routing core's
``Router.explain(spec, now)`` when a router is given; the command line has no live agent
states, so it builds a router in which every configured agent is logged in and available,
and says so.

The interaction file is a JSON object with the keys of :mod:`callcenter.dispatch.routing_rules`
plus an optional ``at`` (ISO 8601 instant with offset) used for business hours.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any, Callable, Mapping, TextIO

from callcenter.dispatch.routing_rules import closed_action, match_rule, queue_open
from callcenter.settings import ConfigErrors, Settings, load_settings

NO_LIVE_STATE = ("every configured agent is assumed logged in and available: "
                 "the command line has no live agent states")


class InteractionFileError(ValueError):
    """The interaction file is not a JSON object, or its ``at`` is not an aware ISO instant."""


def _plain(value: Any) -> Any:
    """JSON-friendly copy of an explain result (dataclasses, mappings, tuples, enums)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and type(value).__module__ != "builtins" and hasattr(type(value), "__members__"):
        return value.value
    return value


def dry_run(settings: Settings, router: Any, interaction: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The routing of ``interaction`` at the aware instant ``now``, as a JSON-friendly dict.

    ``router`` may be None (rules only: ``eligibility`` is None). Otherwise its
    ``explain(spec, now)`` result is included as ``eligibility``.
    """
    match = match_rule(settings, interaction)
    queue = settings.queues[match.queue]
    is_open = queue_open(queue, now)
    channel = str(interaction.get("channel") or "")
    result: dict[str, Any] = {
        "at": now.isoformat(),
        "rule": match.rule,
        "rule_number": [r.id for r in settings.rules].index(match.rule) + 1,
        "skipped": [{"rule": rule, "reason": reason} for rule, reason in match.skipped],
        "queue": match.queue,
        "queue_label": queue.label,
        "open": is_open,
        "closed_action": None,
        "priority": match.priority,
        "tier": match.tier,
        "tier_bonus": match.tier_bonus,
        "fallback": match.fallback,
        "ladder": [{"require": s.text, "for": s.duration} for s in match.ladder],
        "members": [m.agent for m in queue.members],
        "eligibility": None,
    }
    if not is_open and channel in ("voice", "email", "webform"):
        result["closed_action"] = dataclasses.asdict(closed_action(queue, channel))
    if router is not None:
        from callcenter.dispatch.routing_setup import interaction_spec

        spec = interaction_spec(settings, match, iid=0, channel=channel or "voice", tier=match.tier,
                                virtual_start=now.timestamp(), language=interaction.get("language"),
                                attributes=interaction.get("attributes") or {})
        result["eligibility"] = _plain(router.explain(spec, now.timestamp()))
    return result


def read_interaction(path: Path) -> tuple[dict[str, Any], dt.datetime | None]:
    """The interaction object of a JSON file and its ``at`` instant (None when absent).

    Raises :class:`InteractionFileError` (or ``OSError``) when it cannot be used.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InteractionFileError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InteractionFileError(f"{path}: must be a JSON object")
    at = data.pop("at", None)
    if at is None:
        return data, None
    try:
        instant = dt.datetime.fromisoformat(str(at))
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise InteractionFileError(f"{path}: at must be an ISO 8601 instant with an offset, "
                                   f"like 2026-11-23T14:00:00-05:00")
    return data, instant


def format_report(report: Mapping[str, Any], rules_only_note: str | None) -> list[str]:
    """The lines ``route --dry-run`` prints for a :func:`dry_run` result."""
    def seconds(value: float | None) -> str:
        return "until answered" if value is None else f"{value:g}s"

    lines = [f"at: {report['at']}",
             f"rule: {report['rule']} (rule {report['rule_number']})"]
    lines += [f"  skipped {s['rule']}: {s['reason']}" for s in report["skipped"]]
    lines.append(f"queue: {report['queue']} ({report['queue_label']}), "
                 f"{'open' if report['open'] else 'closed'}")
    if report["closed_action"]:
        lines.append(f"  while closed: {json.dumps(report['closed_action'], ensure_ascii=False)}")
    lines.append(f"priority: {report['priority']}  tier: {report['tier']}  tier bonus: {report['tier_bonus']:g}s")
    if report["fallback"]:
        lines.append(f"fallback queue: {report['fallback']}")
    lines.append("ladder:" if report["ladder"] else "ladder: none (any member of the queue)")
    for number, step in enumerate(report["ladder"], start=1):
        lines.append(f"  {number}. {step['require']}  for {seconds(step['for'])}")
    if report["ladder"] and report["ladder"][-1]["for"] is not None:
        lines.append("  then: any member of the queue")
    lines.append(f"members: {', '.join(report['members'])}")
    if report["eligibility"] is None:
        lines.append(f"eligibility: {rules_only_note}")
    else:
        lines.append(f"eligibility ({NO_LIVE_STATE}):")
        lines.append(json.dumps(report["eligibility"], indent=2, ensure_ascii=False, default=str))
    return lines


def route_main(config_dir: Path, interaction_json: Path, out: TextIO,
               router_factory: Callable[[Settings], Any] | None = None,
               now: dt.datetime | None = None) -> int:
    """``callcenter route --dry-run``: print how the interaction in the file would be routed.

    Exit status 1 when the configuration or the file is bad. ``router_factory`` builds a
    router with every agent available (the default uses the routing core if installed);
    ``now`` stands in for the current time when the file has no ``at``.
    """
    try:
        settings = load_settings(Path(config_dir))
    except ConfigErrors as exc:
        for error in exc.errors:
            print(error, file=out)
        print(f"{len(exc.errors)} error(s) in {config_dir}", file=out)
        return 1
    try:
        interaction, at = read_interaction(Path(interaction_json))
    except (InteractionFileError, OSError) as exc:
        print(str(exc) if isinstance(exc, InteractionFileError) else f"{interaction_json}: {exc}", file=out)
        return 1
    instant = at or now or _current_time()
    factory = router_factory or _default_router_factory()
    router = factory(settings) if factory is not None else None
    note = None if router is not None else \
        "not computed: the routing core is not available here; the rules part above is complete"
    report = dry_run(settings, router, interaction, instant)
    for line in format_report(report, note):
        print(line, file=out)
    return 0


def _current_time() -> dt.datetime:
    from twisted.internet import reactor

    from callcenter.runtime.clock import Clock

    return Clock(reactor).utcnow()  # type: ignore[arg-type]


def _default_router_factory() -> Callable[[Settings], Any] | None:
    """The routing core's all-agents-available router builder."""
    from callcenter.dispatch.routing_setup import all_available_router

    return all_available_router
