"""The SMTP listener over real loopback sockets: bytes kept exactly, SMTPUTF8, SIZE, line limit.

A raw socket client is used where smtplib would change what is sent (it rewrites bare CR
and bare LF to CRLF).
"""

from __future__ import annotations

import smtplib
import socket

import pytest
from twisted.internet import reactor

from callcenter.runtime.clock import Clock
from channels.email.smtplistener import SmtpListenerService
from tests.email.test_smtp_listener import RecordingSink


@pytest.fixture
def listener(run):
    """A started listener on a free loopback port for support@, 64 KiB cap, 2 KiB line limit."""
    sink = RecordingSink()
    service = SmtpListenerService(reactor, sink, {"support@example.com": "support"}, Clock(reactor),
                                  port=0, max_bytes=65536, max_line_bytes=2048)
    service.startService()
    service.sink = sink
    yield service
    if service.running:
        run(service.stopService())


class RawClient:
    """A minimal SMTP client on a plain socket that sends bytes exactly as given."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""
        self.reply()

    def reply(self) -> tuple[int, bytes]:
        """Read one (possibly multi-line) reply; return its code and full text."""
        lines = []
        while True:
            while b"\r\n" not in self.buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return (0, b"".join(lines))
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"\n".join(lines)

    def command(self, line: bytes) -> tuple[int, bytes]:
        """Send one command line and read its reply."""
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def deliver_raw(port: int, data: bytes, sender: bytes = b"<c@example.com>", mail_params: bytes = b"") -> tuple:
    """EHLO, MAIL, RCPT, DATA with ``data`` dot-stuffed and sent as is; return the replies."""
    client = RawClient(port)
    try:
        ehlo = client.command(b"EHLO client.example")
        mail = client.command(b"MAIL FROM:" + sender + mail_params)
        if mail[0] != 250:
            return ehlo, mail, None, None
        rcpt = client.command(b"RCPT TO:<support@example.com>")
        assert client.command(b"DATA")[0] == 354
        stuffed = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in data.split(b"\r\n"))
        if not stuffed.endswith(b"\r\n"):
            stuffed += b"\r\n"
        client.sock.sendall(stuffed + b".\r\n")
        return ehlo, mail, rcpt, client.reply()
    finally:
        client.close()


ODD_MESSAGES = {
    "mbox From line first": b"From someone@example.com Mon Jan  1 00:00:00 2024\r\nFrom: a@example.com\r\n"
                            b"Subject: mbox\r\n\r\nbody\r\n",
    "headerless": b"just a line of text\r\nand another\r\n",
    "broken first header": b"Received from nowhere\r\nFrom: a@example.com\r\nSubject: x\r\n\r\nbody\r\n",
    "bare LF and bare CR inside lines": b"From: a@example.com\r\nSubject: mixed\r\n\r\none\ntwo\rthree\r\n\n\r\r\n",
    "8-bit headers": "From: 张三 <zhang@example.cn>\r\nSubject: 你好 Grüße\r\n\r\n正文\r\n".encode("utf-8")
                     + b"Latin-1 \xe9\xe8\r\n",
    "empty first line": b"\r\nFrom: a@example.com\r\n\r\nbody\r\n",
    "leading dots": b"From: a@example.com\r\n\r\n.\r\n..\r\n.hidden\r\n",
}


@pytest.mark.parametrize("name", sorted(ODD_MESSAGES))
def test_stored_bytes_are_the_bytes_sent(run, in_thread, listener, name):
    """What the sink gets is byte for byte what the client sent (after dot-unstuffing)."""
    data = ODD_MESSAGES[name]
    *_, final = run(in_thread(deliver_raw, listener.port, data))
    assert final[0] == 250, final
    [(raw, _envelope)] = listener.sink.calls
    assert raw == data


def test_smtputf8_is_offered_and_a_utf8_sender_delivers(run, in_thread, listener):
    """EHLO lists SMTPUTF8; MAIL FROM with a UTF-8 address and the SMTPUTF8 parameter is accepted."""
    data = "From: 用户 <用户@例子.中国>\r\nSubject: hi\r\n\r\nbody\r\n".encode("utf-8")
    ehlo, mail, rcpt, final = run(in_thread(deliver_raw, listener.port, data, "<用户@例子.中国>".encode(), b" SMTPUTF8"))
    assert b"SMTPUTF8" in ehlo[1] and b"8BITMIME" in ehlo[1]
    assert (mail[0], rcpt[0], final[0]) == (250, 250, 250)
    [(raw, envelope)] = listener.sink.calls
    assert envelope.mail_from == "用户@例子.中国" and raw == data


def test_size_over_the_cap_is_refused_at_mail(run, in_thread, listener):
    """MAIL FROM with SIZE= over the cap gets 552 before any data is sent (RFC 1870)."""
    _ehlo, mail, _rcpt, _final = run(in_thread(deliver_raw, listener.port, b"x\r\n", b"<c@example.com>",
                                               b" SIZE=70000"))
    assert mail[0] == 552 and b"65536" in mail[1]
    assert listener.sink.calls == []


def test_size_under_the_cap_and_body_param_are_accepted(run, in_thread, listener):
    """SIZE= under the cap and BODY=8BITMIME are accepted; the message is stored."""
    data = b"From: a@example.com\r\n\r\nok\r\n"
    _ehlo, mail, _rcpt, final = run(in_thread(deliver_raw, listener.port, data, b"<c@example.com>",
                                              b" SIZE=100 BODY=8BITMIME"))
    assert (mail[0], final[0]) == (250, 250) and listener.sink.calls[0][0] == data


def test_bad_size_parameter_is_a_syntax_error(run, in_thread, listener):
    """SIZE= that is not a number gets 501."""
    _ehlo, mail, _rcpt, _final = run(in_thread(deliver_raw, listener.port, b"x\r\n", b"<c@example.com>", b" SIZE=big"))
    assert mail[0] == 501


def test_too_long_line_gets_a_clear_reply_and_nothing_is_stored(run, in_thread, listener):
    """A data line over the limit gets 500 naming the limit; the connection closes; nothing reaches the sink."""

    def scenario():
        client = RawClient(listener.port)
        try:
            client.command(b"EHLO client.example")
            client.command(b"MAIL FROM:<c@example.com>")
            client.command(b"RCPT TO:<support@example.com>")
            client.command(b"DATA")
            client.sock.sendall(b"From: a@example.com\r\n\r\n" + b"y" * 5000 + b"\r\nMAIL FROM:<x@y>\r\n.\r\n")
            first = client.reply()
            second = client.reply()
            return first, second
        finally:
            client.close()

    first, second = run(in_thread(scenario))
    assert first[0] == 500 and b"2048 bytes" in first[1]
    assert second[0] == 0  # closed: the rest of the data was not read as commands
    assert listener.sink.calls == []


def test_a_line_of_20_kib_is_accepted_by_default(run, in_thread):
    """The default line limit is far above the 16 KiB Twisted default: real mail has such lines."""
    sink = RecordingSink()
    service = SmtpListenerService(reactor, sink, {"support@example.com": "support"}, Clock(reactor), port=0)
    service.startService()
    data = b"From: a@example.com\r\n\r\n" + b"z" * 20480 + b"\r\n"
    try:
        *_, final = run(in_thread(deliver_raw, service.port, data))
    finally:
        run(service.stopService())
    assert final[0] == 250 and sink.calls[0][0] == data


def test_smtplib_client_with_smtputf8_option(run, in_thread, listener):
    """Python's own client, which sends SMTPUTF8 only when offered, delivers a UTF-8 sender."""

    def send():
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
            return client.sendmail("josé@example.es", ["support@example.com"],
                                   "From: josé@example.es\r\n\r\nhola\r\n".encode("utf-8"), mail_options=["SMTPUTF8"])

    assert run(in_thread(send)) == {}
    assert listener.sink.calls[0][1].mail_from == "josé@example.es"


def test_utf8_recipient_mailbox(run, in_thread):
    """RCPT TO a configured UTF-8 mailbox address is accepted; an unknown UTF-8 one gets 550."""
    sink = RecordingSink()
    service = SmtpListenerService(reactor, sink, {"客服@例子.中国": "support"}, Clock(reactor), port=0)
    service.startService()

    def deliver():
        client = RawClient(service.port)
        try:
            client.command(b"EHLO client.example")
            client.command("MAIL FROM:<用户@例子.中国> SMTPUTF8".encode())
            unknown = client.command("RCPT TO:<别人@例子.中国>".encode())
            known = client.command("RCPT TO:<客服@例子.中国>".encode())
            client.command(b"DATA")
            client.sock.sendall(b"From: a@example.cn\r\n\r\nhi\r\n.\r\n")
            return unknown, known, client.reply()
        finally:
            client.close()

    try:
        unknown, known, final = run(in_thread(deliver))
    finally:
        run(service.stopService())
    assert (unknown[0], known[0], final[0]) == (550, 250, 250)
    assert sink.calls[0][1].recipients == ("客服@例子.中国",) and sink.calls[0][1].mailbox == "support"
