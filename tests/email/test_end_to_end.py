"""Every email part on real servers: SMTP in, IMAP in (Dovecot), the flow on SQLite, the outbox out (aiosmtpd)."""

from __future__ import annotations

import email
import smtplib

import pytest
from twisted.internet import reactor, task

from callcenter.runtime.clock import Clock
from callcenter.intake.email_arrival import new_message
from channels.email.imappoller import ImapConfig, ImapPollerService
from channels.email.outbox import OutboxSenderService
from channels.email.parsing import parse_message
from channels.email.relay import RelayConfig, SmtpRelay
from channels.email.sink import MailEnvelope
from channels.email.smtplistener import SmtpListenerService
from tests.email import dovecot as dovecot_module
from tests.email.smtp_peer import PASSWORD, USER, SmtpPeer, client_context, make_certificate

CUSTOMER = (b"From: Ann <ann@customer.example>\r\nTo: support@example.com\r\nSubject: Printer broken\r\n"
            b"Message-ID: <e2e-1@customer.example>\r\n\r\nIt does not print.\r\n")


@pytest.fixture
def peer(tmp_path):
    """aiosmtpd with STARTTLS and AUTH, and the client TLS context trusting it."""
    cert, key = make_certificate(tmp_path)
    p = SmtpPeer(cert, key)
    p.start()
    p.client_tls = client_context(cert)
    yield p
    p.stop()


async def until(condition, seconds: float = 10.0) -> None:
    """Wait on the reactor until ``condition()`` holds; fail after ``seconds``."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await task.deferLater(reactor, 0.02, lambda: None)
    raise AssertionError("condition not reached")


def outbox_service(harness, peer) -> OutboxSenderService:
    """The outbox sender over the harness's MailStore and a relay to ``peer``."""
    relay = SmtpRelay(RelayConfig("127.0.0.1", peer.port, username=USER, password=PASSWORD,
                                  tls_context=peer.client_tls, timeout=10))
    mail = harness.mail
    return OutboxSenderService(Clock(reactor), mail.claim_due, mail.mark_sent, mail.mark_failed, relay.send,
                               interval=0.2)


def test_smtp_in_acknowledgement_out(run, in_thread, harness, peer):
    """A message sent to the listener is stored, routed and acknowledged through the real relay."""
    listener = SmtpListenerService(reactor, harness.flow.accept_mail, {"support@example.com": "support"},
                                   Clock(reactor), port=0)
    sender = outbox_service(harness, peer)

    def send() -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
            client.sendmail("ann@customer.example", ["support@example.com"], CUSTOMER)
            return client.noop()

    async def scenario():
        listener.startService()
        sender.startService()
        await in_thread(send)
        await until(lambda: len(peer.received) == 1)
        await sender.stopService()
        await listener.stopService()

    run(scenario(), timeout=30)
    [(interaction, _)] = harness.new
    [ack] = peer.received
    parsed = email.message_from_bytes(ack.content)
    assert ack.rcpt_tos == ["ann@customer.example"] and ack.login == USER
    assert parsed["Subject"] == f"[#CC-{interaction.id}] We received your message"
    assert parsed["In-Reply-To"] == "<e2e-1@customer.example>"
    [item] = run(harness.mail.outbox(interaction.id))
    assert item.state == "sent"


def test_imap_in_after_a_crash_stores_once(run, harness):
    """A message stored before a crash (IMAP flag never set) is fetched again without a duplicate."""
    server = dovecot_module.PrivateDovecot()
    server.start()
    try:
        # The state a crash leaves: stored by the flow, not yet marked on the server.
        run(harness.mail.store_message(new_message(parse_message(CUSTOMER), MailEnvelope("support", "imap", 0.0))))
        server.append(CUSTOMER)
        server.append(CUSTOMER.replace(b"e2e-1@", b"e2e-2@").replace(b"Printer broken", b"Scanner too"))
        config = ImapConfig("127.0.0.1", server.port, dovecot_module.USER, dovecot_module.PASSWORD, tls=False,
                            idle=False, poll_interval=0.2, retry_delay=0.2, timeout=10)
        poller = ImapPollerService(reactor, "support", config, harness.flow.accept_mail, Clock(reactor))

        async def scenario():
            poller.startService()
            await until(lambda: poller.stored + poller.duplicates == 2)
            await poller.stopService()

        run(scenario(), timeout=30)
        assert len(harness.new) == 2  # each message made exactly one interaction
        interactions = [i for i, _ in harness.new]
        assert sorted(len(run(harness.mail.messages(i.id))) for i in interactions) == [2, 2]  # message + ack
        assert all("$CallcenterStored" in f for f in server.flags().values())
    finally:
        server.stop()
