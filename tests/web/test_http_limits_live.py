"""The HTTP listener's bounds in the running application, over real loopback sockets."""

from __future__ import annotations

import dataclasses
import socket

from twisted.internet import reactor
from twisted.internet.task import deferLater

from callcenter.settings.model import HttpLimits

# 127.0.0.2 reaches the loopback listener as another client address.
OTHER_ADDRESS = "127.0.0.2"


def _with_server(**changes):
    def adjust(settings):
        return dataclasses.replace(settings, server=dataclasses.replace(settings.server, **changes))
    return adjust


def _pause(run, seconds: float) -> None:
    run(deferLater(reactor, seconds, lambda: None), timeout=seconds + 10)


def _open(port: int, data: bytes = b"", source: str = "127.0.0.1") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    if data:
        s.sendall(data)
    s.setblocking(False)
    return s


def _read(s: socket.socket) -> bytes | None:
    """What the server sent (b"" once it closed), or None while it said nothing."""
    try:
        return s.recv(65536)
    except BlockingIOError:
        return None
    except ConnectionResetError:
        return b""


def _ask(port: int, raw: bytes, source: str = "127.0.0.1") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as s:
        s.sendall(raw)
        return s.recv(65536)


def test_a_slow_header_flood_from_one_address_leaves_health_and_smtp_answering(run, make_app):
    """Slow heads from one address are capped per address and cut at the header deadline; others are served."""
    limits = HttpLimits(header_timeout=1.0, max_connections_per_address=20)
    app = make_app(adjust=_with_server(http_limits=limits))
    port = app.http.address[1]
    flood = [_open(port, b"GET /health HTTP/1.1\r\nX-a: b\r\n") for _ in range(30)]
    try:
        _pause(run, 0.3)
        answers = [_read(s) for s in flood]
        assert sum(a == b"" for a in answers) == 10 and sum(a is None for a in answers) == 20
        assert app.http.site.refusals["connections_per_address"] == 10

        health = run(_in_thread(_ask, port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                OTHER_ADDRESS))
        assert health.startswith(b"HTTP/1.1 200")
        banner = run(_in_thread(_smtp_banner, app.smtp.port))
        assert banner.startswith(b"220")

        _pause(run, 1.5)
        late = [_read(s) for s in flood]
        assert sum(a is not None and a.startswith(b"HTTP/1.1 408") for a in late) == 20
        assert "127.0.0.1" not in app.http.site.per_address
        again = run(_in_thread(_ask, port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        assert again.startswith(b"HTTP/1.1 200")
    finally:
        for s in flood:
            s.close()


def _in_thread(f, *args):
    from twisted.internet import threads
    return threads.deferToThread(f, *args)


def _smtp_banner(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        return s.recv(1024)


def test_a_512_mb_login_body_is_refused_before_it_is_sent(run, make_app):
    """POST /login announcing 512 MB gets 413 while the client has sent only its head."""
    app = make_app()
    s = _open(app.http.address[1], b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: 536870912\r\n\r\n")
    try:
        _pause(run, 0.3)
        answer = _read(s)
        assert answer is not None and answer.startswith(b"HTTP/1.1 413") and b"body_too_large" in answer
    finally:
        s.close()


def test_an_api_body_over_the_default_cap_is_413_and_a_form_keeps_its_own_cap(run, make_app):
    """/api takes at most max_body_bytes; a web form's larger max_body_bytes still gets through the listener."""
    app = make_app(adjust=_with_server(http_limits=HttpLimits(max_body_bytes=2048)))
    port = app.http.address[1]
    api = run(_in_thread(_ask, port, b"POST /api/customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: 4096\r\n\r\n"))
    assert api.startswith(b"HTTP/1.1 413")
    body = b"name=" + b"x" * 3000
    form = run(_in_thread(_ask, port, b"POST /forms/contact HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                      b"Content-Type: application/x-www-form-urlencoded\r\n"
                                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body)))
    assert not form.startswith(b"HTTP/1.1 413"), form[:200]


def _form_post(port: int, forwarded_for: str) -> int:
    raw = (b"POST /forms/contact HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: application/json\r\n"
           b"Content-Type: application/json\r\nX-Forwarded-For: %s\r\nContent-Length: 2\r\n\r\n{}"
           % forwarded_for.encode())
    return int(_ask(port, raw).split(b" ", 2)[1])


def _statuses(run, port: int, forwarded: list[str]) -> list[int]:
    async def go():
        from twisted.internet import threads
        return [await threads.deferToThread(_form_post, port, f) for f in forwarded]
    return run(go(), timeout=30)


def test_behind_a_trusted_proxy_the_form_rate_limit_applies_to_each_customer(run, make_app):
    """With 127.0.0.1 trusted, each X-Forwarded-For client has its own per-IP bucket (5 at once)."""
    app = make_app(adjust=_with_server(trusted_proxies=("127.0.0.1",)))
    seen = _statuses(run, app.http.address[1], ["203.0.113.1"] * 6 + ["203.0.113.2"])
    assert seen[5] == 429 and 429 not in seen[:5] and seen[6] != 429


def test_without_trust_x_forwarded_for_does_not_escape_the_form_rate_limit(run, make_app):
    """From an untrusted peer a changing X-Forwarded-For is ignored: the 6th post is 429 anyway."""
    app = make_app()
    seen = _statuses(run, app.http.address[1], [f"203.0.113.{i}" for i in range(1, 7)])
    assert seen[5] == 429 and 429 not in seen[:5]
