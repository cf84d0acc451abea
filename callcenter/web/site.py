"""The HTTP site: one root resource mapping top-level paths to the API, health and pages."""

from __future__ import annotations

import json
from typing import Callable

from twisted.application.service import Service
from twisted.internet.interfaces import IListeningPort, IReactorTCP
from twisted.logger import Logger
from twisted.web.resource import Resource

from callcenter.settings.model import HttpLimits
from callcenter.web.listener import BodyCap, BoundedSite, ProxyTrust

log = Logger(namespace="callcenter.web")
LISTEN_BACKLOG = 1024


class RootResource(Resource):
    """``/api/...`` and ``/health`` go to the JSON API; other children are added by name.

    While ``recovering()`` is true (the routing core is being rebuilt on start) every path but
    ``/health`` answers 503 with a JSON body and ``Retry-After``: nothing may act on a core that
    does not yet know what is waiting.
    """

    def __init__(self, api: Resource, recovering: Callable[[], bool] = lambda: False) -> None:
        super().__init__()
        self._api = api
        self._recovering = recovering
        self.putChild(b"api", api)
        self.putChild(b"health", api)
        self.putChild(b"metrics", api)

    def getChildWithDefault(self, path: bytes, request):  # noqa: N802 - twisted API
        if path != b"health" and self._recovering():
            return _Recovering()
        return super().getChildWithDefault(path, request)

    def getChild(self, path: bytes, request):  # noqa: N802 - twisted API
        if path == b"":
            return self._api
        return super().getChild(path, request)


class _Recovering(Resource):
    isLeaf = True

    def render(self, request):
        request.setResponseCode(503)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"retry-after", b"2")
        return json.dumps({"status": "recovering", "error": {
            "code": "recovering", "message": "the server is restoring waiting work after a start; retry shortly"}}).encode()


class HttpService(Service):
    """Listens for HTTP on (host, port) while running; ``port`` 0 picks a free port (tests).

    ``limits`` bound what each client may make the listener hold and ``trusted_proxies`` name
    the reverse proxies whose forwarding headers are believed (:mod:`callcenter.web.listener`);
    :meth:`limit_body` gives a path its own body cap.
    """

    def __init__(self, reactor: IReactorTCP, root: Resource, host: str, port: int,
                 limits: HttpLimits = HttpLimits(), trusted_proxies: tuple[str, ...] = ()) -> None:
        self.setName("http")
        self._reactor = reactor
        self.site = self._site = BoundedSite(root, limits, ProxyTrust(trusted_proxies), reactor=reactor)
        self._host = host
        self._port = port
        self.listening: IListeningPort | None = None

    def limit_body(self, prefix: bytes, max_bytes: BodyCap, *, parsed_by_resource: bool = False) -> None:
        """Requests to ``prefix`` (a path, e.g. ``b"/login"``) and below take bodies of at most
        ``max_bytes`` (or ``max_bytes(path)``) instead of the default ``limits.max_body_bytes``.
        ``parsed_by_resource``: the resources there parse their bodies themselves, so Twisted does
        not parse form bodies into ``request.args`` for them."""
        self._site.body_limits[prefix] = max_bytes
        if parsed_by_resource:
            self._site.own_body_prefixes.add(prefix)

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound; valid once started."""
        assert self.listening is not None, "not listening"
        addr = self.listening.getHost()
        return addr.host, addr.port

    def startService(self) -> None:
        Service.startService(self)
        # A deep accept queue: a burst of connections (a flood, or a floor signing in at 9:00) is
        # accepted and judged by the limits instead of having SYNs dropped and retried a second later.
        self.listening = self._reactor.listenTCP(self._port, self._site, backlog=LISTEN_BACKLOG, interface=self._host)
        host, port = self.address
        log.info("HTTP listening on {host}:{port}", host=host, port=port)

    def stopService(self):
        Service.stopService(self)
        if self.listening is not None:
            port, self.listening = self.listening, None
            return port.stopListening()
        return None
