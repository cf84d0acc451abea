"""Fixtures of the push tests: a PushHub served on loopback with principals chosen by a header."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from twisted.internet import task
from twisted.web.resource import Resource

from callcenter.runtime.clock import Clock
from callcenter.web.principal import Principal
from callcenter.web.push import PushHub, PushResource
from callcenter.web.site import HttpService

PEOPLE = {
    "alice": Principal(1, "alice", "agent", "alice"),
    "bob": Principal(2, "bob", "agent", "bob"),
    "sue": Principal(3, "sue", "supervisor", None),
}


async def principal_by_header(request) -> Principal | None:
    """The principal named by the ``x-test-user`` header (the tests' stand-in for a login)."""
    name = request.getHeader(b"x-test-user")
    return PEOPLE.get(name.decode()) if name else None


@dataclass
class PushServer:
    """A running hub and its URL; ``clock`` drives keep-alives; ``snapshots`` records snapshot calls."""

    hub: PushHub
    http: HttpService
    clock: task.Clock
    snapshots: list = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.http.address
        return f"http://{host}:{port}/push"


def make_server(run, **hub_options: Any) -> PushServer:
    """Start a hub (options passed through) behind an HTTP listener on a free loopback port."""
    from twisted.internet import reactor

    clock = task.Clock()
    clock.advance(1_772_355_600)
    server: PushServer

    async def snapshot(principal):
        server.snapshots.append(principal.login)
        return {"who": principal.login}

    hub_options.setdefault("snapshot", snapshot)
    hub = PushHub(Clock(clock), epoch="e1", **hub_options)
    root = Resource()
    root.putChild(b"push", PushResource(hub, principal_by_header))
    http = HttpService(reactor, root, "127.0.0.1", 0)
    server = PushServer(hub, http, clock)
    hub.startService()
    http.startService()
    return server


def stop_server(run, server: PushServer) -> None:
    """End the streams and stop listening."""
    if server.hub.running:
        server.hub.stopService()
    run(server.http.stopService())


@pytest.fixture
def push_server(run):
    """A hub with replay 16, a recording snapshot hook, 64 KiB per-client cap, on loopback."""
    server = make_server(run, replay=16, max_buffer=64 * 1024)
    yield server
    stop_server(run, server)
