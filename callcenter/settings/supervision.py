"""Reader of ``supervision.yaml``: report thresholds, alert thresholds and the daily summary.

::

    supervision:
      short_abandon: 5s
      alerts:
        defaults: {service_level_below: target, longest_wait_above: 2m, no_agent_logged_in: true}
        queues:
          billing: {longest_wait_above: 1m}
      daily_summary:
        enabled: true
        recipients: [supervisors@example.com]
        send_at: "07:00"
      service_level: default           # or asterisk_sl, asterisk_sl2, contact (docs/reports.md)
      channel_targets:                 # voice uses each queue's own target
        email: {percent: 80, within: 4h}
      resolved_dispositions: [resolved]
      metrics: {token: null, allow: [127.0.0.1]}

Every key is optional (see docs/configuration.md for the defaults). Queue names must exist
in ``queues.yaml``; ``service_level_below`` is ``target`` (the queue's own target percent),
a percent, or ``off``; ``longest_wait_above`` a duration or ``off``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Mapping

from callcenter.settings.model import QueueAlertSettings, ServiceLevel, SupervisionSettings
from callcenter.settings.sections import frozen_map
from callcenter.settings.source import Checker, Node

_ALERT_KEYS = ("service_level_below", "longest_wait_above", "no_agent_logged_in")
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_OFF = "off"


def _is_word(node: Node, word: str) -> bool:
    return getattr(node.yaml, "value", None) == word and node.yaml.tag == "tag:yaml.org,2002:str"


def _is_off(node: Node) -> bool:
    # YAML 1.1 reads a bare ``off`` as the boolean false; both spellings mean "disabled".
    value = str(getattr(node.yaml, "value", "")).lower()
    return _is_word(node, _OFF) or (node.yaml.tag == "tag:yaml.org,2002:bool" and value in ("off", "false", "no"))


def _alerts(node: Node, checker: Checker, base: QueueAlertSettings) -> QueueAlertSettings:
    e = checker.mapping(node, optional=_ALERT_KEYS)
    values = dict(base.__dict__)
    if "service_level_below" in e:
        n = e["service_level_below"]
        if _is_word(n, "target"):
            values["service_level_below"] = "target"
        elif _is_off(n):
            values["service_level_below"] = None
        else:
            values["service_level_below"] = checker.number(n, 80.0, minimum=0.0, maximum=100.0)
    if "longest_wait_above" in e:
        n = e["longest_wait_above"]
        values["longest_wait_above"] = None if _is_off(n) else checker.duration(n, 120.0, positive=True)
    if "no_agent_logged_in" in e:
        values["no_agent_logged_in"] = checker.boolean(e["no_agent_logged_in"], True)
    return QueueAlertSettings(**values)


def _send_at(node: Node, checker: Checker) -> dt.time:
    text = checker.string(node, "07:00", any_scalar=True)
    match = _TIME.fullmatch(text)
    if match is None:
        checker.error(node, "must be a local time like 07:00 (24-hour, quoted)")
        return dt.time(7, 0)
    return dt.time(int(match.group(1)), int(match.group(2)))


def read_supervision(root: Node | None, checker: Checker, queue_names: frozenset[str]) -> SupervisionSettings:
    """``supervision.yaml``; without the file every default applies."""
    base = SupervisionSettings()
    if root is None:
        return base
    top = checker.mapping(root, optional=("supervision",))
    if "supervision" not in top:
        return base
    e = checker.mapping(top["supervision"], optional=("short_abandon", "alerts", "daily_summary", "service_level",
                                                     "channel_targets", "resolved_dispositions", "metrics"))
    values: dict[str, object] = {}
    if "short_abandon" in e:
        values["short_abandon"] = checker.duration(e["short_abandon"], base.short_abandon)
    values.update(_figures(e, checker, base))
    if "alerts" in e:
        a = checker.mapping(e["alerts"], optional=("defaults", "queues"))
        defaults = _alerts(a["defaults"], checker, base.alert_defaults) if "defaults" in a else base.alert_defaults
        per_queue: dict[str, QueueAlertSettings] = {}
        for name, node in checker.entries(a["queues"], allow_null=True) if "queues" in a else ():
            if name not in queue_names:
                checker.error(node, f"unknown queue {name!r} (not in queues.yaml)")
            per_queue[name] = _alerts(node, checker, defaults)
        values["alert_defaults"] = defaults
        values["alert_queues"] = frozen_map(per_queue)
    if "daily_summary" in e:
        d = checker.mapping(e["daily_summary"], optional=("enabled", "recipients", "send_at"))
        if "enabled" in d:
            values["summary_enabled"] = checker.boolean(d["enabled"], False)
        if "recipients" in d:
            values["summary_recipients"] = checker.string_list(
                d["recipients"], pattern=r"[^@\s,]+@[^@\s,]+", hint="an email address")
        if "send_at" in d:
            values["summary_send_at"] = _send_at(d["send_at"], checker)
        if values.get("summary_enabled") and not values.get("summary_recipients"):
            checker.error(d.get("recipients", e["daily_summary"]), "an enabled daily summary needs recipients")
    return SupervisionSettings(**{**base.__dict__, **values})  # type: ignore[arg-type]


def _figures(e: dict[str, Node], checker: Checker, base: SupervisionSettings) -> dict[str, object]:
    """The keys of the figures (docs/reports.md) and of /metrics' access."""
    from callcenter.reports.metrics import InvalidMetricsAccess, MetricsAccess
    from callcenter.reports.kpi import SERVICE_LEVELS

    values: dict[str, object] = {}
    if "service_level" in e:
        values["service_level"] = checker.string(e["service_level"], base.service_level, choices=tuple(SERVICE_LEVELS))
    if "channel_targets" in e:
        targets = dict(base.channel_targets)
        for channel, node in checker.entries(e["channel_targets"], allow_null=True):
            if channel not in _CHANNELS:
                checker.error(node, f"unknown channel {channel!r} (one of {', '.join(_CHANNELS)}; voice uses each queue's)")
                continue
            t = checker.mapping(node, required=("percent", "within"))
            if "percent" in t and "within" in t:
                targets[channel] = ServiceLevel(checker.number(t["percent"], 80.0, minimum=1.0, maximum=100.0),
                                                checker.duration(t["within"], 3600.0, positive=True))
        values["channel_targets"] = frozen_map(targets)
    if "resolved_dispositions" in e:
        values["resolved_dispositions"] = checker.string_list(e["resolved_dispositions"])
    if "metrics" in e:
        m = checker.mapping(e["metrics"], optional=("token", "allow"))
        token = checker.string(m["token"]) if "token" in m and not m["token"].is_null else None
        allow = checker.string_list(m["allow"]) if "allow" in m else ()
        for field, args in (("token", (token,)), ("allow", (None, allow))):
            try:
                MetricsAccess(*args)
            except InvalidMetricsAccess as error:
                checker.error(m[field], error.message)
        values["metrics_token"], values["metrics_allow"] = token, allow
    return values


_CHANNELS = ("email", "webform")


def alert_settings_of(supervision: SupervisionSettings, queue: str) -> QueueAlertSettings:
    """The alert thresholds in force for ``queue``: its own entry, else the defaults."""
    queues: Mapping[str, QueueAlertSettings] = supervision.alert_queues
    return queues.get(queue, supervision.alert_defaults)
