"""Logging: human-readable lines on a terminal, one JSON object per line otherwise.

Code logs through ``twisted.logger.Logger`` with a format string and keyword fields. The
observer installed by :func:`start_logging` writes each event in one of two formats:

* ``json``: ``{"time", "level", "ns", "msg", ...fields}`` on one line, so operators can grep and
  log shippers can parse the same line;
* ``text``: ``2026-03-02 09:15:00.250Z INFO  web.pages  message  key=value ...``: time (UTC),
  level, component (the namespace without its ``callcenter.`` prefix), the message, then the
  fields as ``key=value`` (quoted when they hold spaces or quotes), a traceback indented below.

``auto`` (the default of ``callcenter serve --log-format``) picks ``text`` when the stream is a
terminal and ``json`` otherwise (a file, a pipe, journald).
"""

from __future__ import annotations

import json
import string
from datetime import datetime, timezone
from typing import IO, Any, Callable

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

LOG_FORMATS = ("auto", "text", "json")

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


def _level_name(event: dict) -> str:
    level = event.get("log_level")
    return level.name if isinstance(level, type(LogLevel.info)) else "info"


def _message(event: dict) -> str:
    return formatEvent(event) if "log_format" in event else eventAsText(event, includeTimestamp=False)


def _fields(event: dict) -> dict[str, Any]:
    return {key: _plain(value) for key, value in event.items() if key not in _SKIP and not key.startswith("log_")}


def event_as_json(event: dict) -> str:
    """Render one Twisted log event as a single JSON line (without the newline)."""
    record: dict[str, Any] = {
        "time": datetime.fromtimestamp(event.get("log_time", 0.0), tz=timezone.utc).isoformat(timespec="milliseconds"),
        "level": _level_name(event),
        "ns": event.get("log_namespace", "-"),
        "msg": _message(event),
    }
    record.update(_fields(event))
    failure = event.get("log_failure")
    if failure is not None:
        record["error"] = failure.getErrorMessage()
        record["traceback"] = failure.getTraceback()
    return json.dumps(record, ensure_ascii=False, default=repr)


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        plain = value and not any(ch.isspace() or ch in "\"='" for ch in value)
        return value if plain else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=repr)


def _named_in_message(event: dict) -> set[str]:
    try:
        return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(event["log_format"])
                if name}
    except (KeyError, TypeError, ValueError):
        return set()


def event_as_text(event: dict) -> str:
    """Render one Twisted log event for a person: ``time level component message key=value...``
    on one line (a message's own line breaks are kept as ``\\n``; fields the message already
    shows are not repeated), then a failure's traceback indented on the lines below (without
    the final newline)."""
    when = datetime.fromtimestamp(event.get("log_time", 0.0), tz=timezone.utc)
    # Twisted's own messages through its legacy API carry the namespace "log_legacy".
    namespace = str(event.get("log_namespace", "-"))
    component = "twisted" if namespace == "log_legacy" else namespace.removeprefix("callcenter.")
    stamp = when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    parts = [component, _message(event).replace("\n", "\\n")]
    shown = _named_in_message(event)
    fields = {key: value for key, value in _fields(event).items() if key not in shown}
    if fields:
        parts.append(" ".join(f"{key}={_text_value(value)}" for key, value in fields.items()))
    line = f"{stamp} {_level_name(event).upper():<5} " + "  ".join(parts)
    failure = event.get("log_failure")
    if failure is not None:
        line += f"  error={_text_value(failure.getErrorMessage())}\n" + "\n".join(
            "    " + row for row in failure.getTraceback().rstrip("\n").splitlines())
    return line


@implementer(ILogObserver)
class LineObserver:
    """Writes each event as one line (``render(event)``) to a text stream and flushes it."""

    def __init__(self, stream: IO[str], render: Callable[[dict], str] = event_as_json) -> None:
        self._stream = stream
        self._render = render

    def __call__(self, event: dict) -> None:
        self._stream.write(self._render(event) + "\n")
        self._stream.flush()


def chosen_format(log_format: str, stream: IO[str]) -> str:
    """``text`` or ``json``: ``log_format`` itself, or for ``auto`` text on a terminal.

    Raises ValueError for a format not in :data:`LOG_FORMATS`."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    if log_format != "auto":
        return log_format
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def start_logging(stream: IO[str], level: LogLevel = LogLevel.info, log_format: str = "auto") -> str:
    """Route Twisted's global log to ``stream`` at ``level`` and above, in ``log_format``
    (:func:`chosen_format`); returns the format chosen."""
    chosen = chosen_format(log_format, stream)
    render = event_as_text if chosen == "text" else event_as_json
    observer = FilteringLogObserver(LineObserver(stream, render), [LogLevelFilterPredicate(defaultLogLevel=level)])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    return chosen
