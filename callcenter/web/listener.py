"""The HTTP listener's bounds and who the client is: a Twisted site that limits while it reads.

Twisted's own HTTP server reads what a client sends for as long as the client keeps sending
(its idle timeout restarts at every byte), and spools a request body of any size to a temporary
file before any resource sees it. :class:`BoundedSite` builds channels that refuse early
instead, with :class:`~callcenter.settings.model.HttpLimits`:

* a request's headers must be complete ``header_timeout`` seconds after its first byte, and its
  body ``body_timeout`` seconds after the headers; past either the client gets ``408`` and the
  connection is closed, however steadily it trickles bytes (slowloris);
* the request line and headers together are at most ``max_header_bytes``, at most
  ``max_header_lines`` headers (``400`` and closed);
* a body is checked against the path's cap from ``Content-Length`` before a byte of it is read,
  and counted while a chunked one arrives: over the cap the answer is ``413`` at once and the
  connection is closed; nothing over the cap is ever buffered or written to disk;
* at most ``max_connections`` connections are open at once, and ``max_connections_per_address``
  from one address (trusted proxies excepted); a connection past either is closed as soon as it
  is accepted, counted, and logged at the first and every 1,000th refusal.

Behind a reverse proxy, :class:`ProxyTrust` decides whose ``X-Forwarded-For`` and
``X-Forwarded-Proto`` are believed: :class:`BoundedRequest` answers ``getClientAddress()`` and
``isSecure()`` with what a trusted proxy says, so rate limits, the access log and the ``Secure``
cookie flag all see the customer's side of the proxy.

The access log never shows secrets that clients put in URLs (:func:`redact_uri`): the CTI token
of ``/api/cti/<token>`` and query parameters such as ``csrf_token``.
"""

from __future__ import annotations

import io
import ipaddress
import json
import re
from typing import Any, Callable, Iterable, Mapping, Union

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.logger import Logger
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from callcenter.settings.model import HttpLimits

log = Logger(namespace="callcenter.web.listener")

# Bodies up to this size are kept in memory (they are under their path's cap); larger ones, as
# only a web form with attachments may allow, go to a temporary file of at most that cap.
IN_MEMORY_BODY = 1024 * 1024
# After a refusal the peer has this long to take the short answer before the socket is aborted.
LINGER = 5.0
REDACTED = "<redacted>"
SECRET_PARAMS = frozenset({"csrf_token", "token", "access_token", "password", "secret"})
# A path prefix's body cap: bytes, or a function of the request path (a cap that follows a reload).
BodyCap = Union[int, Callable[[bytes], int]]
_SECRET_PATHS = (re.compile(r"^(/api/cti/)[^/?#]+"),)
_SECRET_QUERY = re.compile(r"(?i)(^|[?&;])(" + "|".join(sorted(SECRET_PARAMS)) + r")=[^&;#]*")


def redact_uri(uri: str) -> str:
    """``uri`` with secrets replaced by ``<redacted>``: the CTI token path segment and the values
    of secret-looking query parameters (:data:`SECRET_PARAMS`)."""
    for pattern in _SECRET_PATHS:
        uri = pattern.sub(lambda m: m.group(1) + REDACTED, uri)
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}{m.group(2)}={REDACTED}", uri)


class ProxyTrust:
    """The reverse proxies (addresses or networks) whose forwarding headers are believed.

    Raises ValueError for an entry that is not an IP address or network.
    """

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self._networks = tuple(ipaddress.ip_network(e, strict=False) for e in entries)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, host: str) -> bool:
        """True when ``host`` is one of the trusted proxies."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self._networks)

    def client(self, peer: str, forwarded_for: Iterable[bytes]) -> str:
        """The client's address: ``peer`` itself unless it is trusted; then the nearest address in
        ``X-Forwarded-For`` (read from the right, past further trusted proxies). A malformed
        entry stops the walk at the last trusted hop (a proxy does not vouch for garbage)."""
        if not self.trusts(peer):
            return peer
        hops = [h.strip() for line in forwarded_for for h in line.decode("latin-1").split(",")]
        client = peer
        for hop in reversed([h for h in hops if h]):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return client
            client = hop
            if not self.trusts(hop):
                return hop
        return client

    def https(self, peer: str, forwarded_proto: Iterable[bytes]) -> bool:
        """True when ``peer`` is trusted and its ``X-Forwarded-Proto`` (the last value) is https."""
        values = [v.strip().lower() for line in forwarded_proto for v in line.split(b",")]
        return bool(values) and values[-1] == b"https" and self.trusts(peer)


class BoundedRequest(Request):
    """A request whose client address and scheme come through :class:`ProxyTrust`, and whose body
    is kept in memory when its cap allows (the channel sets ``body_limit`` before the body)."""

    body_limit: int = IN_MEMORY_BODY

    def _peer_host(self) -> str:
        return getattr(super().getClientAddress(), "host", "") or ""

    def getClientAddress(self):  # noqa: N802 - twisted API
        """The peer, or the client a trusted proxy names in ``X-Forwarded-For``."""
        peer = super().getClientAddress()
        trust: ProxyTrust = getattr(self.channel, "proxies", None) or ProxyTrust()
        host = getattr(peer, "host", None)
        if host is None or not trust:
            return peer
        client = trust.client(host, self.requestHeaders.getRawHeaders(b"x-forwarded-for", []))
        if client == host:
            return peer
        return (IPv6Address if ":" in client else IPv4Address)("TCP", client, 0)

    def isSecure(self) -> bool:  # noqa: N802 - twisted API
        """True over TLS, or when a trusted proxy says the client used https."""
        if super().isSecure():
            return True
        trust: ProxyTrust = getattr(self.channel, "proxies", None) or ProxyTrust()
        return trust.https(self._peer_host(), self.requestHeaders.getRawHeaders(b"x-forwarded-proto", []))

    def gotLength(self, length: int | None) -> None:  # noqa: N802 - twisted API
        if (length if length is not None else self.body_limit) <= IN_MEMORY_BODY:
            self.content = io.BytesIO()
        else:
            super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - twisted API
        if self.channel is not None and not self.channel.body_received(len(data)):
            return
        super().handleContentChunk(data)


def _refusal(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


class BoundedChannel(HTTPChannel):
    """An HTTP/1.1 channel with the deadlines and caps of :class:`BoundedSite` (module docstring)."""

    site: "BoundedSite"
    proxies: ProxyTrust

    def __init__(self) -> None:
        super().__init__()
        self._phase = "idle"  # idle -> headers -> (body ->) handling -> idle ...
        self._deadline: Any = None
        self._awaiting: str | None = None
        self._body_room = 0
        self.refused = False
        self._peer_counted: str | None = None
        self._abort_call: Any = None

    # One timer per connection, moved rather than re-created for each phase of each request
    # (creating and cancelling reactor timers cost as much as a small request): ``_awaiting``
    # says which deadline it stands for, None when the phase it was set for is over.

    def _arm(self, seconds: float, what: str) -> None:
        self._awaiting = what
        if self._deadline is not None and self._deadline.active():
            self._deadline.reset(seconds)
        else:
            self._deadline = self.callLater(seconds, self._late)

    def _disarm(self) -> None:
        self._awaiting = None

    def _stop_timer(self) -> None:
        self._awaiting = None
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _late(self) -> None:
        what, self._awaiting, self._deadline = self._awaiting, None, None
        if what is None:
            return
        self.site.count("timed_out")
        self.refuse(408, "Request Timeout", "request_timeout", f"the request's {what} took too long")

    def refuse(self, status: int, reason: str, code: str, message: str) -> None:
        """Answer ``status`` with a JSON error, stop reading and close (aborted if the peer lingers)."""
        if self.refused:
            return
        self.refused = True
        self._stop_timer()
        self.setTimeout(None)
        if self.transport is None:
            return
        self.transport.write(_refusal(status, reason, code, message))
        self.loseConnection()
        self._abort_call = self.callLater(LINGER, self._abort)

    def _abort(self) -> None:
        if self.transport is not None and getattr(self.transport, "connected", False):
            self.transport.abortConnection()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - twisted API
        if self.refused:
            return
        if self._phase == "idle" and data:
            self._phase = "headers"
            self._arm(self.site.limits.header_timeout, "headers")
        super().dataReceived(data)

    def rawDataReceived(self, data: bytes) -> None:  # noqa: N802 - twisted API
        if not self.refused:
            super().rawDataReceived(data)

    def allHeadersReceived(self) -> None:  # noqa: N802 - twisted API
        request = self.requests[-1]
        limit = self.site.body_limit(self._path)
        request.body_limit = limit
        if self.site.reads_own_body(self._path):
            # Twisted would parse a form body into request.args (its Content-Type parser alone
            # costs a tenth of a form submission); this path's resource parses the body itself.
            request._parsePOSTFormSubmission = False
        if self.length is not None and self.length > limit:
            self.site.count("too_large")
            # length stays non-zero, so Twisted goes on to raw mode and reads nothing more.
            self.refuse(413, "Content Too Large", "body_too_large", f"the body exceeds {limit} bytes")
            return
        self._body_room = limit
        if self.length == 0:
            self._disarm()
        else:
            self._phase = "body"
            self._arm(self.site.limits.body_timeout, "body")
        super().allHeadersReceived()

    def body_received(self, size: int) -> bool:
        """Count ``size`` body bytes; False (and the connection refused with 413) past the cap."""
        if self.refused:
            return False
        self._body_room -= size
        if self._body_room < 0:
            self.site.count("too_large")
            self.refuse(413, "Content Too Large", "body_too_large", "the body exceeds this path's limit")
            return False
        return True

    def allContentReceived(self) -> None:  # noqa: N802 - twisted API
        if self.refused:
            return
        self._disarm()
        self._phase = "handling"
        super().allContentReceived()

    def requestDone(self, request: Request) -> None:  # noqa: N802 - twisted API
        # Idle again before Twisted replays pipelined bytes (which start the next deadline).
        self._phase = "idle"
        super().requestDone(request)

    def lineLengthExceeded(self, line: bytes) -> None:  # noqa: N802 - twisted API
        self.site.count("too_large_headers")
        self.refuse(431, "Request Header Fields Too Large", "headers_too_large", "a header line is too long")

    def _respondToBadRequestAndDisconnect(self) -> None:  # noqa: N802 - twisted API
        if not self.refused:
            self.site.count("bad_request")
            self.refuse(400, "Bad Request", "bad_request", "malformed or oversized request head")

    def connectionLost(self, reason: Any) -> None:  # noqa: N802 - twisted API
        self._stop_timer()
        if self._abort_call is not None and self._abort_call.active():
            self._abort_call.cancel()
        if self._peer_counted is not None:
            self.site.released(self._peer_counted)
            self._peer_counted = None
        super().connectionLost(reason)


class BoundedSite(Site):
    """A :class:`~twisted.web.server.Site` whose channels are :class:`BoundedChannel`.

    ``limits`` are the bounds; ``proxies`` the trusted reverse proxies; ``body_limits`` maps a
    path prefix (bytes, e.g. ``b"/login"``) to its own body cap (bytes, or a function of the
    path), the longest prefix winning; ``reactor`` gives the deadlines' timers. ``refusals`` counts what was refused.
    """

    protocol = BoundedChannel
    requestFactory = BoundedRequest

    def __init__(self, root: Resource, limits: HttpLimits = HttpLimits(), proxies: ProxyTrust = ProxyTrust(),
                 body_limits: Mapping[bytes, BodyCap] | None = None, reactor: Any = None) -> None:
        super().__init__(root, timeout=limits.idle_timeout, reactor=reactor, logFormatter=redacted_log_line)
        self.limits = limits
        self.proxies = proxies
        self.body_limits: dict[bytes, BodyCap] = dict(body_limits or {})
        #: Path prefixes whose resources parse their request bodies themselves.
        self.own_body_prefixes: set[bytes] = set()
        self.displayTracebacks = False
        self.open_connections = 0
        self.per_address: dict[str, int] = {}
        self.refusals: dict[str, int] = {}

    def body_limit(self, target: bytes) -> int:
        """The body cap for a request target (path and query)."""
        path = target.split(b"?", 1)[0]
        best, limit = -1, self.limits.max_body_bytes
        for prefix, cap in self.body_limits.items():
            if len(prefix) > best and (path == prefix or path.startswith(prefix.rstrip(b"/") + b"/")):
                best, limit = len(prefix), cap
        return limit(path) if callable(limit) else limit

    def reads_own_body(self, target: bytes) -> bool:
        """True when the resource at ``target`` parses its body itself (see :attr:`own_body_prefixes`)."""
        if not self.own_body_prefixes:
            return False
        path = target.split(b"?", 1)[0]
        return any(path == prefix or path.startswith(prefix.rstrip(b"/") + b"/") for prefix in self.own_body_prefixes)

    def count(self, what: str) -> None:
        """Count one refusal of kind ``what``; logged at the first and every 1,000th."""
        n = self.refusals[what] = self.refusals.get(what, 0) + 1
        if n == 1 or n % 1000 == 0:
            log.warn("HTTP: refused {what} ({count} so far)", what=what, count=n)

    def buildProtocol(self, addr: Any) -> BoundedChannel | None:  # noqa: N802 - twisted API
        host = getattr(addr, "host", "") or ""
        limited = not self.proxies.trusts(host)
        if self.open_connections >= self.limits.max_connections:
            self.count("connections_total")
            return None
        if limited and self.per_address.get(host, 0) >= self.limits.max_connections_per_address:
            self.count("connections_per_address")
            return None
        channel = super().buildProtocol(addr)
        channel.MAX_LENGTH = self.limits.max_header_bytes
        channel.totalHeadersSize = self.limits.max_header_bytes
        channel.maxHeaders = self.limits.max_header_lines
        channel.proxies = self.proxies
        channel._peer_counted = host  # noqa: SLF001 - released in its connectionLost
        self.open_connections += 1
        self.per_address[host] = self.per_address.get(host, 0) + 1
        return channel

    def released(self, host: str) -> None:
        """A counted connection from ``host`` closed."""
        self.open_connections -= 1
        left = self.per_address.get(host, 0) - 1
        if left > 0:
            self.per_address[host] = left
        else:
            self.per_address.pop(host, None)


def _escape(value: bytes | str) -> str:
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return repr(text)[1:-1].replace('"', '\\"')


def redacted_log_line(timestamp: str, request: Request) -> str:
    """An access-log line in the combined format, with secrets in the URI and referrer redacted."""
    address = request.getClientAddress()
    ip = getattr(address, "host", None) or "-"
    referrer = redact_uri((request.getHeader(b"referer") or b"-").decode("latin-1"))
    return '"%s" - - %s "%s %s %s" %d %s "%s" "%s"' % (
        _escape(ip), timestamp, _escape(request.method), _escape(redact_uri(request.uri.decode("latin-1"))),
        _escape(request.clientproto), request.code, request.sentLength or "-", _escape(referrer),
        _escape(request.getHeader(b"user-agent") or b"-"))


