"""The HTTP site: one root resource mapping top-level paths to the API, health and pages."""

from __future__ import annotations

from twisted.application.service import Service
from twisted.internet.interfaces import IListeningPort, IReactorTCP
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Site

log = Logger(namespace="callcenter.web")


class RootResource(Resource):
    """``/api/...`` and ``/health`` go to the JSON API; other children are added by name."""

    def __init__(self, api: Resource) -> None:
        super().__init__()
        self._api = api
        self.putChild(b"api", api)
        self.putChild(b"health", api)
        self.putChild(b"metrics", api)

    def getChild(self, path: bytes, request):  # noqa: N802 - twisted API
        if path == b"":
            return self._api
        return super().getChild(path, request)


class HttpService(Service):
    """Listens for HTTP on (host, port) while running; ``port`` 0 picks a free port (tests)."""

    def __init__(self, reactor: IReactorTCP, root: Resource, host: str, port: int) -> None:
        self.setName("http")
        self._reactor = reactor
        self._site = Site(root)
        self._site.displayTracebacks = False
        self._host = host
        self._port = port
        self.listening: IListeningPort | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound; valid once started."""
        assert self.listening is not None, "not listening"
        addr = self.listening.getHost()
        return addr.host, addr.port

    def startService(self) -> None:
        Service.startService(self)
        self.listening = self._reactor.listenTCP(self._port, self._site, interface=self._host)
        host, port = self.address
        log.info("HTTP listening on {host}:{port}", host=host, port=port)

    def stopService(self):
        Service.stopService(self)
        if self.listening is not None:
            port, self.listening = self.listening, None
            return port.stopListening()
        return None
