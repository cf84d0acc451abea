"""The SMTP listener over real loopback sockets, driven by Python's smtplib client."""

from __future__ import annotations

import smtplib

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from callcenter.runtime.clock import Clock
from channels.email.sink import MailEnvelope, MailReceipt, MailRejected
from channels.email.smtplistener import SmtpListenerService

MESSAGE = b"From: c@example.com\r\nTo: support@example.com\r\nSubject: Hi\r\nMessage-ID: <m1@x>\r\n\r\n.dotted\r\nbody\r\n"


class RecordingSink:
    """A sink with the real signature that records calls and fails as told."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, MailEnvelope]] = []
        self.fail: Exception | None = None
        self.gate: Deferred | None = None

    async def __call__(self, raw: bytes, envelope: MailEnvelope) -> MailReceipt:
        """Record the message; wait on ``gate`` when set; raise ``fail`` when set."""
        self.calls.append((raw, envelope))
        if self.gate is not None:
            await self.gate
        if self.fail is not None:
            raise self.fail
        return MailReceipt(message_ref=len(self.calls), interaction_id=7)


@pytest.fixture
def listener(run):
    """A started listener on a free loopback port for support@ and sales@, 4 KiB cap."""
    sink = RecordingSink()
    service = SmtpListenerService(reactor, sink, {"Support@example.com": "support", "sales@example.com": "sales"},
                                  Clock(reactor), port=0, max_bytes=4096)
    service.startService()
    service.sink = sink
    yield service
    if service.running:
        run(service.stopService())


def send(port: int, rcpts: list[str], data: bytes = MESSAGE, sender: str = "c@example.com"):
    """Send one message with smtplib; returns (code, text) of the final reply or raises."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.example")
        code, text = client.mail(sender)
        assert code == 250
        for rcpt in rcpts:
            code, text = client.rcpt(rcpt)
            if code != 250:
                return code, text
        return client.data(data)


def test_message_is_stored_once_for_all_recipients(run, in_thread, listener):
    """250 comes after the sink stored it; two of our addresses make one sink call with both."""
    code, text = run(in_thread(send, listener.port, ["support@example.com", "SALES@example.com"]))
    assert code == 250 and b"#1" in text
    [(raw, envelope)] = listener.sink.calls
    assert raw == MESSAGE  # smtplib dot-stuffs ".dotted", the server unstuffs it
    assert envelope.mailbox == "support" and envelope.recipients == ("support@example.com", "sales@example.com")
    assert (envelope.source, envelope.mail_from) == ("smtp", "c@example.com")


def test_unknown_recipient_is_refused(run, in_thread, listener):
    """RCPT to an address that is not a mailbox gets 550 and nothing reaches the sink."""
    code, _ = run(in_thread(send, listener.port, ["someone@example.com"]))
    assert code == 550 and listener.sink.calls == []


def test_transient_failure_answers_451(run, in_thread, listener):
    """A sink failure other than a rejection answers 451 so the MTA retries."""
    listener.sink.fail = RuntimeError("database down")
    code, _ = run(in_thread(send, listener.port, ["support@example.com"]))
    assert code == 451


def test_rejection_answers_550(run, in_thread, listener):
    """A MailRejected from the sink answers 550."""
    listener.sink.fail = MailRejected("looping")
    code, text = run(in_thread(send, listener.port, ["support@example.com"]))
    assert code == 550 and b"looping" in text


def test_oversized_message_gets_552(run, in_thread, listener):
    """A message over the size cap is refused with 552 and not handed on."""
    big = MESSAGE + b"x" * 5000 + b"\r\n"
    code, _ = run(in_thread(send, listener.port, ["support@example.com"], big))
    assert code == 552 and listener.sink.calls == []


def test_null_sender_is_accepted(run, in_thread, listener):
    """Bounces come from <>: the envelope carries an empty mail_from."""
    code, _ = run(in_thread(send, listener.port, ["support@example.com"], MESSAGE, ""))
    assert code == 250 and listener.sink.calls[0][1].mail_from == ""


def test_stop_waits_for_the_message_in_flight(run, in_thread, listener):
    """stopService returns only after the sink finished the message it was storing."""
    gate: Deferred = Deferred()
    listener.sink.gate = gate
    sent = in_thread(send, listener.port, ["support@example.com"])

    async def scenario():
        while not listener.sink.calls:
            await deferLater(0.01)
        stopped = listener.stopService()
        finished = []
        stopped.addCallback(finished.append)
        await deferLater(0.05)
        assert finished == []
        gate.callback(None)
        await stopped
        return await sent

    code, _ = run(scenario())
    assert code == 250


def deferLater(seconds: float) -> Deferred:
    """A Deferred firing after ``seconds`` on the real reactor."""
    from twisted.internet import task

    return task.deferLater(reactor, seconds, lambda: None)


def test_lmtp_answers_once_per_recipient(run, in_thread):
    """In LMTP mode LHLO is required and each accepted recipient gets its own final reply."""
    sink = RecordingSink()
    service = SmtpListenerService(reactor, sink, {"support@example.com": "support", "sales@example.com": "sales"},
                                  Clock(reactor), port=0, lmtp=True)
    service.startService()

    def deliver():
        with smtplib.LMTP("127.0.0.1", service.port) as client:
            assert client.docmd("EHLO", "client.example")[0] == 500  # LMTP wants LHLO
            assert client.ehlo("client.example")[0] == 250  # smtplib.LMTP sends LHLO
            client.mail("c@example.com")
            codes = [client.rcpt(r)[0] for r in ("support@example.com", "sales@example.com", "x@example.com")]
            first = client.data(MESSAGE)[0]
            second = client.getreply()[0]  # LMTP: one reply per accepted recipient
            return codes, first, second

    try:
        codes, first, second = run(in_thread(deliver))
    finally:
        run(service.stopService())
    assert (codes, first, second) == ([250, 250, 550], 250, 250)
    assert len(sink.calls) == 1 and sink.calls[0][1].recipients == ("support@example.com", "sales@example.com")
