"""What changed between two configurations, in words, for the reload record.

Lines look like ``queues: added sales``, ``queues.billing: changed offer_timeout, overflow``,
``server.http_port: 8080 -> 8081`` or ``rules: order changed``. Secrets (passwords, the AMI
secret, the CTI token) are reported as changed without their values.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from callcenter.settings.model import Settings

SECRET_FIELDS = frozenset({"secret", "password", "cti_token", "metrics_token"})


def _changed_fields(old: Any, new: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(old) if getattr(old, f.name) != getattr(new, f.name)]


def _values(prefix: str, old: Any, new: Any) -> list[str]:
    """Field by field, with values (masked for secrets), for small flat records."""
    lines = []
    for name in _changed_fields(old, new):
        a, b = getattr(old, name), getattr(new, name)
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
            lines += _values(f"{prefix}.{name}", a, b)
        elif name in SECRET_FIELDS:
            lines.append(f"{prefix}.{name}: changed")
        else:
            lines.append(f"{prefix}.{name}: {_show(a)} -> {_show(b)}")
    return lines


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _named(prefix: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Added, removed and changed entries of an id-keyed section."""
    lines = []
    added = [k for k in new if k not in old]
    removed = [k for k in old if k not in new]
    if added:
        lines.append(f"{prefix}: added {', '.join(sorted(added))}")
    if removed:
        lines.append(f"{prefix}: removed {', '.join(sorted(removed))}")
    for key in sorted(k for k in old if k in new and old[k] != new[k]):
        lines.append(f"{prefix}.{key}: changed {', '.join(_changed_fields(old[key], new[key]))}")
    return lines


def diff_settings(old: Settings, new: Settings) -> list[str]:
    """Human-readable lines naming every difference from ``old`` to ``new``; [] if none."""
    lines = _values("server", old.server, new.server)
    for section in ("skills", "agents", "reason_codes", "dispositions", "tiers", "schedules", "queues"):
        lines += _named(section, getattr(old, section), getattr(new, section))
    if old.default_tier != new.default_tier:
        lines.append(f"default_tier: {old.default_tier} -> {new.default_tier}")
    old_rules = {r.id: r for r in old.rules}
    new_rules = {r.id: r for r in new.rules}
    lines += _named("rules", old_rules, new_rules)
    kept_old = [r.id for r in old.rules if r.id in new_rules]
    kept_new = [r.id for r in new.rules if r.id in old_rules]
    if kept_old != kept_new:
        lines.append("rules: order changed")
    lines += _values("policy", old.policy, new.policy)
    lines += _values("telephony", old.telephony, new.telephony)
    lines += _named("email.mailboxes", old.email.mailboxes, new.email.mailboxes)
    lines += _values("email.relay", old.email.relay, new.email.relay)
    for name in ("listener_enabled", "reply_template", "unreadable_queue"):
        if getattr(old.email, name) != getattr(new.email, name):
            lines.append(f"email.{name}: {getattr(old.email, name)} -> {getattr(new.email, name)}")
    lines += _named("webform.forms", old.webform.forms, new.webform.forms)
    lines += _templates(old.templates.sources, new.templates.sources)
    # Per-queue alert thresholds are an id-keyed section; the rest of supervision is flat.
    flat = [dataclasses.replace(s.supervision, alert_queues={}) for s in (old, new)]
    lines += _values("supervision", *flat)
    lines += _named("supervision.alert_queues", old.supervision.alert_queues, new.supervision.alert_queues)
    return lines


def _templates(old: Mapping[tuple[str, str, str], str], new: Mapping[tuple[str, str, str], str]) -> list[str]:
    def file(key: tuple[str, str, str]) -> str:
        return ".".join(key)

    lines = []
    for verb, keys in (("added", [k for k in new if k not in old]),
                       ("removed", [k for k in old if k not in new]),
                       ("changed", [k for k in old if k in new and old[k] != new[k]])):
        if keys:
            lines.append(f"templates: {verb} {', '.join(sorted(file(k) for k in keys))}")
    return lines
