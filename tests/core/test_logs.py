"""JSON-line rendering of log events."""

from __future__ import annotations

import json

from twisted.logger import LogLevel

from callcenter.logs import event_as_json


def test_event_rendered_with_fields():
    """A log event becomes one JSON object with time, level, namespace, message and its fields."""
    line = event_as_json({
        "log_time": 0.0, "log_level": LogLevel.warn, "log_namespace": "callcenter.x",
        "log_format": "agent {agent} paused", "agent": "a1", "reason": ("no", "answer"),
    })
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "1970-01-01T00:00:00.000+00:00", "level": "warn", "ns": "callcenter.x",
        "msg": "agent a1 paused", "agent": "a1", "reason": ["no", "answer"],
    }


def test_unserializable_field_is_repr():
    """A field that JSON cannot hold is written as its repr, never dropped or crashing."""
    record = json.loads(event_as_json({"log_time": 0.0, "log_format": "x", "obj": object}))
    assert record["obj"] == repr(object)
