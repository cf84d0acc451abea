"""The HTTP listener's bounds, byte by byte over a fake transport and a fake clock."""

from __future__ import annotations

import io
import json

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.web.resource import Resource

from callcenter.settings.model import HttpLimits
from callcenter.web.listener import BoundedSite, ProxyTrust, redact_uri

LIMITS = HttpLimits(header_timeout=10.0, body_timeout=30.0, idle_timeout=60.0, max_header_bytes=2048,
                    max_header_lines=20, max_body_bytes=4096, max_connections=6, max_connections_per_address=3)


class Echo(Resource):
    """Answers how many body bytes it got and who the client is."""

    isLeaf = True

    def render(self, request):
        body = request.content.read()
        return json.dumps({"got": len(body), "client": request.getClientAddress().host,
                           "secure": request.isSecure(), "kind": type(request.content).__name__}).encode()


class Connection:
    """One fake connection to a site: bytes in, bytes out, the fake clock."""

    def __init__(self, site: BoundedSite, clock: Clock, host: str = "192.0.2.7") -> None:
        self.clock = clock
        self.channel = site.buildProtocol(IPv4Address("TCP", host, 40000))
        assert self.channel is not None
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", host, 40000))
        self.channel.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        """Deliver ``data`` as if read from the socket."""
        self.channel.dataReceived(data)

    @property
    def out(self) -> bytes:
        """Everything the server wrote."""
        return self.transport.value()

    @property
    def closing(self) -> bool:
        """True once the server asked to close the connection."""
        return self.transport.disconnecting or self.transport.disconnected

    def status(self) -> int:
        """The status code of the first response written."""
        return int(self.out.split(b" ", 2)[1])


@pytest.fixture
def clock() -> Clock:
    """A fake clock for the deadlines."""
    return Clock()


@pytest.fixture
def site(clock) -> BoundedSite:
    """A bounded site serving Echo at /echo, /forms (its own 8 KiB cap) and /login (1 KiB)."""
    root = Resource()
    root.putChild(b"echo", Echo())
    root.putChild(b"forms", Echo())
    root.putChild(b"login", Echo())
    site = BoundedSite(root, LIMITS, ProxyTrust(["10.0.0.0/8"]), {b"/forms": lambda path: 8192, b"/login": 1024},
                       reactor=clock)
    site.startFactory()
    return site


def test_slowloris_one_header_line_every_few_seconds_is_closed_at_the_header_deadline(site, clock):
    """A client trickling one header line every 3 s is answered 408 and closed 10 s after its first byte."""
    c = Connection(site, clock)
    c.send(b"GET /echo HTTP/1.1\r\n")
    for i in range(3):
        clock.advance(3)
        c.send(b"X-Slow-%d: y\r\n" % i)
    assert c.out == b"" and not c.closing
    clock.advance(1.01)
    assert c.status() == 408 and b"request_timeout" in c.out and c.closing
    assert site.refusals == {"timed_out": 1}


def test_an_idle_kept_alive_connection_starts_no_header_deadline(site, clock):
    """A connection that sent nothing is not cut at the header deadline, and its later request is served."""
    c = Connection(site, clock)
    clock.advance(30)
    assert not c.closing
    c.send(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.status() == 200


def test_the_header_deadline_restarts_for_each_request_on_a_kept_alive_connection(site, clock):
    """After a served request, the next one has a fresh header deadline from its own first byte."""
    c = Connection(site, clock)
    c.send(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    clock.advance(9)
    c.send(b"GET /echo HTTP/1.1\r\n")
    clock.advance(9)
    c.send(b"Host: x\r\n\r\n")
    assert c.out.count(b"HTTP/1.1 200") == 2 and not c.closing


def test_a_body_that_trickles_past_its_deadline_is_408(site, clock):
    """A body announced with Content-Length but not complete 30 s after the headers gets 408."""
    c = Connection(site, clock)
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
    for _ in range(6):
        clock.advance(5)
        c.send(b"x")
    assert c.status() == 408 and c.closing


def test_a_declared_body_over_the_cap_is_413_before_a_byte_is_read(site, clock):
    """Content-Length of 512 MB on /login is answered 413 at once; nothing is kept of what follows."""
    c = Connection(site, clock)
    c.send(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 536870912\r\n\r\n" + b"x" * 5000)
    assert c.status() == 413 and b"body_too_large" in c.out and c.closing
    request = c.channel.requests[-1]
    assert request.content is None or request.content.tell() == 0


def test_an_expect_100_continue_over_the_cap_gets_413_not_continue(site, clock):
    """A client that asks before sending a too-large body is told 413, never 100 Continue."""
    c = Connection(site, clock)
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
    assert c.status() == 413 and b"100 Continue" not in c.out


def test_a_chunked_body_is_counted_while_it_arrives(site, clock):
    """A chunked body crossing the 4 KiB cap is refused 413 when it crosses, and never handled."""
    c = Connection(site, clock)
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    c.send(b"800\r\n" + b"a" * 0x800 + b"\r\n")
    assert c.out == b""
    c.send(b"800\r\n" + b"a" * 0x800 + b"\r\n" + b"10\r\n" + b"b" * 16 + b"\r\n0\r\n\r\n")
    assert c.status() == 413 and b'"got"' not in c.out and c.closing


def test_bodies_within_their_cap_are_served_from_memory(site, clock):
    """A body at the default cap and one at a form's larger cap are served, kept in memory."""
    c = Connection(site, clock)
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n" + b"x" * 4096)
    c.send(b"POST /forms/contact HTTP/1.1\r\nHost: x\r\nContent-Length: 8192\r\n\r\n" + b"y" * 8192)
    bodies = [json.loads(part.rsplit(b"\r\n\r\n", 1)[-1]) for part in c.out.split(b"HTTP/1.1 ")[1:]]
    assert [b["got"] for b in bodies] == [4096, 8192] and {b["kind"] for b in bodies} == {"BytesIO"}


def test_paths_take_their_own_cap_by_longest_prefix(site):
    """/login has 1 KiB, /forms/x 8 KiB, /loginx and the rest the default."""
    assert site.body_limit(b"/login") == 1024 and site.body_limit(b"/login?next=/") == 1024
    assert site.body_limit(b"/forms/contact") == 8192 and site.body_limit(b"/formsx") == 4096
    assert site.body_limit(b"/loginx") == 4096 and site.body_limit(b"/api/customers") == 4096


def test_headers_over_the_size_cap_are_refused(site, clock):
    """A head over max_header_bytes (in many short lines) is a 400 and closed."""
    c = Connection(site, clock)
    c.send(b"GET /echo HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 200) for i in range(11)))
    assert c.status() == 400 and c.closing


def test_one_header_line_longer_than_the_cap_is_refused_without_waiting_for_its_end(site, clock):
    """A single 3 KiB line with no end in sight is refused 431 as soon as it passes the cap."""
    c = Connection(site, clock)
    c.send(b"GET /echo HTTP/1.1\r\nX-Long: " + b"v" * 3000)
    assert c.status() == 431 and c.closing


def test_too_many_header_lines_are_refused(site, clock):
    """More than max_header_lines headers (short ones) is a 400 and closed."""
    c = Connection(site, clock)
    c.send(b"GET /echo HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(21)) + b"\r\n")
    assert c.status() == 400 and c.closing


def test_connections_are_capped_per_address_and_in_total(site, clock):
    """The 4th connection from one address is refused; a trusted proxy is exempt until the total cap."""
    held = [Connection(site, clock, "192.0.2.7") for _ in range(3)]
    assert site.buildProtocol(IPv4Address("TCP", "192.0.2.7", 1)) is None
    held += [Connection(site, clock, "198.51.100.1")]
    held += [Connection(site, clock, "10.1.2.3") for _ in range(2)]
    assert site.open_connections == 6
    assert site.buildProtocol(IPv4Address("TCP", "10.1.2.3", 1)) is None
    assert site.refusals == {"connections_per_address": 1, "connections_total": 1}
    held[0].channel.connectionLost(None)
    assert site.open_connections == 5 and site.per_address["192.0.2.7"] == 2
    assert site.buildProtocol(IPv4Address("TCP", "192.0.2.7", 1)) is not None


def test_forwarded_headers_are_believed_only_from_a_trusted_proxy(site, clock):
    """From 10.x the client is the nearest untrusted X-Forwarded-For hop and https counts; from others neither."""
    head = (b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.9, 10.9.9.9\r\n"
            b"X-Forwarded-Proto: https\r\n\r\n")
    proxied, direct = Connection(site, clock, "10.0.0.2"), Connection(site, clock, "192.0.2.7")
    proxied.send(head)
    direct.send(head)
    seen = [json.loads(c.out.rsplit(b"\r\n\r\n", 1)[-1]) for c in (proxied, direct)]
    assert (seen[0]["client"], seen[0]["secure"]) == ("203.0.113.9", True)
    assert (seen[1]["client"], seen[1]["secure"]) == ("192.0.2.7", False)


@pytest.mark.parametrize("forwarded, expected", [
    ([b"203.0.113.9"], "203.0.113.9"),
    ([b"1.1.1.1", b"203.0.113.9"], "203.0.113.9"),
    ([b"not-an-ip, 10.0.0.5"], "10.0.0.5"),
    ([b"10.0.0.5, 10.0.0.6"], "10.0.0.5"),
    ([], "10.0.0.1"),
    ([b"2001:db8::1"], "2001:db8::1"),
])
def test_proxy_trust_walks_x_forwarded_for_from_the_right(forwarded, expected):
    """The client is the rightmost hop not itself a trusted proxy; garbage stops the walk."""
    assert ProxyTrust(["10.0.0.0/8"]).client("10.0.0.1", forwarded) == expected


def test_proxy_trust_refuses_what_is_not_an_address():
    """A trusted_proxies entry that is not an address or network is a ValueError."""
    with pytest.raises(ValueError):
        ProxyTrust(["proxy.example.com"])


@pytest.mark.parametrize("uri, shown", [
    ("/api/cti/s3cr3t-token", "/api/cti/<redacted>"),
    ("/api/cti/s3cr3t?x=1", "/api/cti/<redacted>?x=1"),
    ("/logout?csrf_token=abc&next=/", "/logout?csrf_token=<redacted>&next=/"),
    ("/x?a=1&CSRF_TOKEN=abc", "/x?a=1&CSRF_TOKEN=<redacted>"),
    ("/api/customers?q=csrf_token", "/api/customers?q=csrf_token"),
])
def test_secrets_in_uris_are_redacted(uri, shown):
    """The CTI token path segment and secret query values are replaced, other text kept."""
    assert redact_uri(uri) == shown


def test_the_access_log_line_shows_no_cti_token_or_csrf_token(site, clock):
    """The access-log line of a CTI post hides the token, and a csrf_token in the referrer too."""
    written = io.StringIO()
    site.logFile = written
    c = Connection(site, clock)
    c.send(b"POST /api/cti/tok-123456 HTTP/1.1\r\nHost: x\r\nReferer: http://h/x?csrf_token=zz99\r\n"
           b"Content-Length: 0\r\n\r\n")
    line = written.getvalue()
    assert "tok-123456" not in line and "zz99" not in line
    assert '"POST /api/cti/<redacted> HTTP/1.1" 404' in line and "csrf_token=<redacted>" in line


def test_a_csrf_token_in_the_query_string_is_not_logged(site, clock):
    """A request carrying csrf_token in its own query string is logged with the value redacted."""
    written = io.StringIO()
    site.logFile = written
    c = Connection(site, clock)
    c.send(b"POST /echo?csrf_token=abc123&next=/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert c.status() == 200
    assert "abc123" not in written.getvalue() and "/echo?csrf_token=<redacted>&next=/" in written.getvalue()


class Args(Resource):
    """Answers the names Twisted parsed into ``request.args`` and the body it left to read."""

    isLeaf = True

    def render(self, request):
        return json.dumps({"args": sorted(k.decode() for k in request.args),
                           "body": request.content.read().decode()}).encode()


def test_a_path_whose_resource_parses_its_own_body_gets_no_form_parsing_from_twisted(clock):
    """/forms parses its bodies itself, so only the query reaches request.args; elsewhere Twisted
    still parses a posted form (the sign-in page reads its fields from request.args)."""
    root = Resource()
    root.putChild(b"forms", Args())
    root.putChild(b"login", Args())
    site = BoundedSite(root, LIMITS, ProxyTrust(), reactor=clock)
    site.own_body_prefixes.add(b"/forms")
    site.startFactory()
    body = b"name=Ada&lang=fr"
    for path, expected in ((b"/forms/contact?lang=en", ["lang"]), (b"/login?lang=en", ["lang", "name"])):
        c = Connection(site, clock)
        c.send(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
        answer = json.loads(c.out.split(b"\r\n\r\n", 1)[1])
        assert answer == {"args": expected, "body": body.decode()}
        c.channel.connectionLost(None)
