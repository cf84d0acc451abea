"""Capture Twisted log events emitted while a block runs, to assert on the log line itself."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from twisted.logger import formatEvent, globalLogPublisher


@contextmanager
def captured_log(namespace_prefix: str) -> Iterator[list[str]]:
    """Yield a list that fills with the formatted messages of events whose namespace starts with the prefix."""
    lines: list[str] = []

    def observer(event: dict) -> None:
        if str(event.get("log_namespace", "")).startswith(namespace_prefix):
            lines.append(formatEvent(event))

    globalLogPublisher.addObserver(observer)
    try:
        yield lines
    finally:
        globalLogPublisher.removeObserver(observer)
