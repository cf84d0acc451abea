"""A real HTTP client for tests: twisted.web's Agent over a loopback socket."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from twisted.internet.interfaces import IReactorTCP
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.web.client import Agent, FileBodyProducer, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from io import BytesIO


class _BodyCollector(Protocol):
    """Collects a response body; fires ``done`` with the bytes when the body ends."""

    def __init__(self, done: Deferred) -> None:
        self.done = done
        self.chunks: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - twisted API
        self.chunks.append(data)

    def connectionLost(self, reason) -> None:  # noqa: N802 - twisted API
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self.chunks))
        else:
            self.done.errback(reason)


@dataclass(frozen=True)
class HttpResult:
    """Status, headers (lower-cased name -> last value) and body of one response."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body.decode("utf-8"))


async def http_request(
    reactor: IReactorTCP,
    method: str,
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
) -> HttpResult:
    """Send one request and read the whole response."""
    hdrs = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode("utf-8")
        hdrs.setdefault("content-type", "application/json")
    producer = FileBodyProducer(BytesIO(body)) if body is not None else None
    agent = Agent(reactor)
    response = await agent.request(
        method.encode("ascii"),
        url.encode("utf-8"),
        Headers({k.encode("latin-1"): [v.encode("latin-1")] for k, v in hdrs.items()}),
        producer,
    )
    done: Deferred = Deferred()
    response.deliverBody(_BodyCollector(done))
    data = await done
    flat = {k.decode("latin-1").lower(): v[-1].decode("latin-1") for k, v in response.headers.getAllRawHeaders()}
    return HttpResult(response.code, flat, data)
