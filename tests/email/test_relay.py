"""Outbound mail through a real SMTP server (aiosmtpd) with STARTTLS and AUTH, and the outbox service."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from twisted.internet import reactor

from callcenter.runtime.clock import Clock
from channels.email.outbox import OutboxSenderService
from channels.email.relay import RelayConfig, SendFailure, SmtpRelay
from tests.email.smtp_peer import PASSWORD, USER, SmtpPeer, client_context, free_port, make_certificate

RAW = b"From: contact@example.com\r\nTo: c@example.com\r\nSubject: Re: Hi\r\nMessage-ID: <r1@cc>\r\n\r\nAnswer\r\n"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A throwaway self-signed certificate for localhost/127.0.0.1."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def peer(certificate):
    """A running aiosmtpd peer requiring STARTTLS and AUTH."""
    p = SmtpPeer(*certificate)
    p.start()
    yield p
    p.stop()


def relay_for(peer: SmtpPeer, certificate, password: str = PASSWORD) -> SmtpRelay:
    """A relay client for ``peer`` that trusts the test certificate."""
    return SmtpRelay(RelayConfig("127.0.0.1", peer.port, starttls=True, username=USER, password=password,
                                 tls_context=client_context(certificate[0]), timeout=10))


def test_sends_with_starttls_and_auth(run, peer, certificate):
    """The message arrives byte for byte after STARTTLS and AUTH with the configured user."""
    result = run(relay_for(peer, certificate).send(RAW, "contact@example.com", ["c@example.com"]))
    assert result.refused == {}
    [got] = peer.received
    assert (got.mail_from, got.rcpt_tos, got.login) == ("contact@example.com", ["c@example.com"], USER)
    assert got.content.replace(b"\r\n", b"\n") == RAW.replace(b"\r\n", b"\n")


def test_wrong_password_is_transient(run, peer, certificate):
    """An authentication failure is retried later (a person can fix the password)."""
    with pytest.raises(SendFailure) as caught:
        run(relay_for(peer, certificate, "wrong").send(RAW, "contact@example.com", ["c@example.com"]))
    assert not caught.value.permanent and caught.value.code == 535
    assert peer.received == []


def test_refused_recipient_is_permanent_and_451_is_not(run, peer, certificate):
    """5xx to every recipient is permanent; 4xx is transient."""
    peer.answer_rcpt = "550 5.1.1 no such user"
    with pytest.raises(SendFailure) as caught:
        run(relay_for(peer, certificate).send(RAW, "contact@example.com", ["gone@example.com"]))
    assert caught.value.permanent and caught.value.code == 550
    peer.answer_rcpt = "451 4.7.1 greylisted"
    with pytest.raises(SendFailure) as caught:
        run(relay_for(peer, certificate).send(RAW, "contact@example.com", ["c@example.com"]))
    assert not caught.value.permanent


def test_untrusted_certificate_and_closed_port_are_transient(run, peer, certificate):
    """A TLS verification failure or a refused connection is transient and sends nothing."""
    untrusted = SmtpRelay(RelayConfig("127.0.0.1", peer.port, username=USER, password=PASSWORD, timeout=10))
    with pytest.raises(SendFailure) as caught:
        run(untrusted.send(RAW, "contact@example.com", ["c@example.com"]))
    assert not caught.value.permanent
    closed = SmtpRelay(RelayConfig("127.0.0.1", free_port(), timeout=5))
    with pytest.raises(SendFailure) as caught:
        run(closed.send(RAW, "contact@example.com", ["c@example.com"]))
    assert not caught.value.permanent and peer.received == []


@dataclass
class Item:
    """An outbox item as the sender reads it."""

    id: int
    raw: bytes
    envelope_from: str
    recipients: tuple[str, ...]


class ListOutbox:
    """An in-memory outbox with the coroutine signatures the service is given."""

    def __init__(self, items: list[Item]) -> None:
        self.due = list(items)
        self.sent: list[int] = []
        self.failed: list[tuple[int, str, bool]] = []

    async def claim_due(self) -> list[Item]:
        """Hand out every due item once."""
        items, self.due = self.due, []
        return items

    async def mark_sent(self, item_id: int) -> None:
        """Record a send."""
        self.sent.append(item_id)

    async def mark_failed(self, item_id: int, error: str, permanent: bool) -> None:
        """Record a failure."""
        self.failed.append((item_id, error, permanent))


def test_outbox_service_sends_due_items_and_records_failures(run, peer, certificate):
    """One round sends each due item and records sent/failed with the permanence of the failure."""
    outbox = ListOutbox([Item(1, RAW, "contact@example.com", ("c@example.com",)),
                         Item(2, RAW, "contact@example.com", ("gone@example.com",))])
    relay = relay_for(peer, certificate)

    async def send(raw, sender, recipients):
        peer.answer_rcpt = "550 5.1.1 no such user" if "gone@example.com" in recipients else None
        return await relay.send(raw, sender, recipients)

    service = OutboxSenderService(Clock(reactor), outbox.claim_due, outbox.mark_sent, outbox.mark_failed, send,
                                  interval=3600)
    service.startService()
    run(service.stopService())  # stopping waits for the round started at start-up
    assert outbox.sent == [1]
    assert [(i, permanent) for i, _, permanent in outbox.failed] == [(2, True)]
    assert len(peer.received) == 1
