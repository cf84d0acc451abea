"""A seeded byte-level fuzz of the SMTP listener's session: commands, mail and garbage in random chunks."""

from __future__ import annotations

import random
import re

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock as TaskClock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from callcenter.runtime.clock import Clock
from channels.email.smtplistener import SmtpListenerFactory
from tests.email.test_smtp_listener import RecordingSink

MAX_BYTES, MAX_LINE = 4096, 512
PIECES = [
    b"EHLO client.example\r\n", b"HELO x\r\n", b"EHLO\r\n", b"LHLO x\r\n",
    b"MAIL FROM:<c@example.com>\r\n", b"MAIL FROM:<c@example.com> SIZE=100 BODY=8BITMIME\r\n",
    b"MAIL FROM:<c@example.com> SIZE=99999999\r\n", b"MAIL FROM:<c@example.com> SIZE=abc\r\n",
    b"MAIL FROM:<\xe7@\xe4.example> SMTPUTF8\r\n", b"MAIL FROM:<>\r\n", b"MAIL FROM:c@example.com\r\n",
    b"MAIL FROM:<a@b> X=\x00\r\n", b"RCPT TO:<support@example.com>\r\n", b"RCPT TO:<nobody@example.com>\r\n",
    b"RCPT TO:<support@example.com> NOTIFY=NEVER\r\n", b"RCPT TO:<\r\n", b"RCPT TO:<\"q\\\"x\"@example.com>\r\n",
    b"DATA\r\n", b"Subject: hi\r\n", b"From: c@example.com\r\n", b"\r\n", b"body line\r\n", b"..dot\r\n",
    b".\r\n", b"RSET\r\n", b"NOOP\r\n", b"VRFY x\r\n", b"EXPN x\r\n", b"HELP\r\n", b"STARTTLS\r\n",
    b"AUTH PLAIN AGFAYg==\r\n", b"BDAT 10 LAST\r\n", b"\r", b"\n", b"\x00", b"\xff\xfe\r\n",
    b"x" * 300 + b"\r\n", b"y" * 700, b"Content-Type: text/plain; charset=\xff\r\n",
]


def _fuzz_session(seed: int) -> int:
    """One seeded session; asserts what must hold and returns how many messages reached the sink."""
    rng = random.Random(seed)
    clock = TaskClock()
    sink = RecordingSink()
    factory = SmtpListenerFactory(sink, {"support@example.com": "support"}, Clock(clock), "mx.example",
                                  max_bytes=MAX_BYTES, timeout=30, max_line_bytes=MAX_LINE)
    proto = factory.buildProtocol(IPv4Address("TCP", "192.0.2.9", 2525))
    proto.callLater = clock.callLater
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.9", 40000))
    proto.makeConnection(transport)
    parts = []
    for _ in range(rng.randint(10, 200)):
        parts.append(rng.choice(TRANSACTIONS) if rng.random() < 0.3 else rng.choice(PIECES))
    data = b"".join(parts) + b"QUIT\r\n"
    for start in range(0, len(data), step := rng.randint(1, 400)):
        if transport.disconnecting:
            break
        proto.dataReceived(data[start:start + step])
        clock.advance(rng.random())
    clock.advance(60)
    proto.connectionLost(Failure(ConnectionDone()))
    replies = transport.value().split(b"\r\n")
    assert replies[-1] == b""
    assert all(re.match(rb"^[2345]\d\d[ -]", line) for line in replies[:-1]), replies[:5]
    assert not any(line.startswith(b"451") and b"Traceback" in line for line in replies)
    assert all(len(raw) <= MAX_BYTES for raw, _ in sink.calls)
    return len(sink.calls)

# Whole transactions, so that the session reaches delivery as well as every error path.
TRANSACTIONS = [
    b"EHLO c\r\nMAIL FROM:<c@example.com>\r\nRCPT TO:<support@example.com>\r\nDATA\r\nSubject: t\r\n\r\nhello\r\n.\r\n",
    b"MAIL FROM:<c@example.com> SIZE=50\r\nRCPT TO:<support@example.com>\r\nDATA\r\n" + b"z" * 500 + b"\r\n.\r\n",
    b"MAIL FROM:<c@example.com>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n" + b"long line\r\n" * 500 + b".\r\n",
]


@pytest.mark.parametrize("seed", range(30))
def test_random_smtp_bytes_never_raise_and_only_answer_with_codes(seed):
    """dataReceived never raises, every reply line is a 3-digit code, no message over the cap reaches the sink."""
    _fuzz_session(seed)


def test_the_fuzz_reaches_delivery():
    """Across the seeds, some generated sessions do deliver mail (the fuzz is not all noise)."""
    assert sum(_fuzz_session(seed) for seed in range(30)) > 0
