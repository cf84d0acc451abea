"""A Server-Sent Events client for tests: twisted.web's Agent over loopback, parsing the stream."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.web.client import Agent, ResponseDone
from twisted.web.http_headers import Headers


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event: its type, the last event id in force, and the data parsed as JSON."""

    event: str
    id: str | None
    data: Any


class SseStream(Protocol):
    """Parses an event stream as a browser does (``\\n`` line ends, which is what the server sends)."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.status = response.code
        self.events: list[SseEvent] = []
        self.comments: list[str] = []
        self.retry: int | None = None
        self.last_id: str | None = None
        self.ended: Deferred = Deferred()
        self.end_reason: Any = None
        self._buffer = b""
        self._fields: dict[str, str] = {}
        self._waiters: list[tuple[int, Deferred]] = []

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - twisted API
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self._line(line.decode("utf-8"))

    def _line(self, line: str) -> None:
        if line == "":
            if "data" in self._fields or "event" in self._fields:
                self.events.append(SseEvent(self._fields.get("event", "message"), self.last_id,
                                            json.loads(self._fields.get("data", "null"))))
                self._wake()
            self._fields = {}
            return
        if line.startswith(":"):
            self.comments.append(line[1:].strip())
            self._wake()
            return
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            self.last_id = value
        elif name == "retry":
            self.retry = int(value)
        else:
            self._fields[name] = value

    def _wake(self) -> None:
        ready = [(n, d) for n, d in self._waiters if len(self.events) + len(self.comments) >= n]
        self._waiters = [(n, d) for n, d in self._waiters if (n, d) not in ready]
        for _, d in ready:
            d.callback(None)

    async def wait_events(self, count: int) -> list[SseEvent]:
        """Wait until at least ``count`` events arrived; return all of them."""
        while len(self.events) < count:
            d: Deferred = Deferred()
            self._waiters.append((len(self.events) + len(self.comments) + 1, d))
            await d
        return self.events

    async def wait_comment(self) -> str:
        """Wait for the next comment line."""
        before = len(self.comments)
        while len(self.comments) == before:
            d: Deferred = Deferred()
            self._waiters.append((len(self.events) + len(self.comments) + 1, d))
            await d
        return self.comments[-1]

    def pause(self) -> None:
        """Stop reading the socket (a stalled browser)."""
        self.transport.pauseProducing()

    def resume(self) -> None:
        """Read the socket again."""
        self.transport.resumeProducing()

    def close(self) -> None:
        """Drop the connection from the client side."""
        self.transport.stopProducing()

    def connectionLost(self, reason) -> None:  # noqa: N802 - twisted API
        self.end_reason = reason
        for _, d in self._waiters:
            d.errback(reason)
        self._waiters = []
        self.ended.callback(reason.check(ResponseDone) is not None)


async def open_stream(reactor: Any, url: str, headers: Mapping[str, str] | None = None) -> SseStream:
    """GET ``url`` and return the stream parser once the response headers arrived."""
    hdrs = Headers({k.encode("latin-1"): [v.encode("latin-1")] for k, v in (headers or {}).items()})
    hdrs.setRawHeaders(b"accept", [b"text/event-stream"])
    response = await Agent(reactor).request(b"GET", url.encode("utf-8"), hdrs, None)
    stream = SseStream(response)
    response.deliverBody(stream)
    return stream
