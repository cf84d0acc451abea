"""Structured logging: one JSON object per line for every significant event.

Code logs through ``twisted.logger.Logger`` with a format string and keyword fields; the
observer installed by :func:`start_logging` writes ``{"time", "level", "ns", "msg", ...fields}``
so operators can grep, and log shippers can parse, the same line.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import IO, Any

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    eventAsText,
    formatEvent,
    globalLogBeginner,
)
from zope.interface import implementer

_SKIP = frozenset({
    "log_logger", "log_level", "log_namespace", "log_source", "log_format", "log_time",
    "log_failure", "log_io", "log_system", "log_text", "log_flattened", "log_trace",
    "log_observer", "log_legacy", "message", "format", "isError", "system", "time", "why",
    "failure",
})


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)


def event_as_json(event: dict) -> str:
    """Render one Twisted log event as a single JSON line (without the newline)."""
    level = event.get("log_level")
    record: dict[str, Any] = {
        "time": datetime.fromtimestamp(event.get("log_time", 0.0), tz=timezone.utc).isoformat(timespec="milliseconds"),
        "level": level.name if isinstance(level, type(LogLevel.info)) else "info",
        "ns": event.get("log_namespace", "-"),
        "msg": formatEvent(event) if "log_format" in event else eventAsText(event, includeTimestamp=False),
    }
    for key, value in event.items():
        if key not in _SKIP and not key.startswith("log_"):
            record[key] = _plain(value)
    failure = event.get("log_failure")
    if failure is not None:
        record["error"] = failure.getErrorMessage()
        record["traceback"] = failure.getTraceback()
    return json.dumps(record, ensure_ascii=False, default=repr)


@implementer(ILogObserver)
class JsonLineObserver:
    """Writes each event as a JSON line to a text stream and flushes it."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __call__(self, event: dict) -> None:
        self._stream.write(event_as_json(event) + "\n")
        self._stream.flush()


def start_logging(stream: IO[str], level: LogLevel = LogLevel.info) -> None:
    """Route Twisted's global log to ``stream`` as JSON lines at ``level`` and above."""
    observer = FilteringLogObserver(JsonLineObserver(stream), [LogLevelFilterPredicate(defaultLogLevel=level)])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
