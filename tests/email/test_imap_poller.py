"""The IMAP poller against a real, private Dovecot: marking after storage, IDLE, failures, moving."""

from __future__ import annotations

import hashlib

import pytest
from twisted.internet import reactor, task

from callcenter.runtime.clock import Clock
from channels.email.imappoller import ImapConfig, ImapPollerService
from channels.email.sink import MailEnvelope, MailReceipt, MailRejected
from tests.email.dovecot import PASSWORD, USER, PrivateDovecot


def message(n: int) -> bytes:
    """A small distinct message."""
    return f"From: c{n}@example.com\r\nTo: support@example.com\r\nSubject: n{n}\r\nMessage-ID: <m{n}@x>\r\n\r\nbody {n}\r\n".encode()


class DedupingSink:
    """A sink with the real signature that stores by content hash, like the durable store does."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}
        self.calls: list[MailEnvelope] = []
        self.fail: Exception | None = None

    async def __call__(self, raw: bytes, envelope: MailEnvelope) -> MailReceipt:
        """Store ``raw`` once; raise ``fail`` when set."""
        self.calls.append(envelope)
        if self.fail is not None:
            raise self.fail
        key = hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()
        duplicate = key in self.stored
        self.stored[key] = raw
        return MailReceipt(message_ref=len(self.stored), interaction_id=None, duplicate=duplicate)


@pytest.fixture(scope="module")
def dovecot():
    """A private Dovecot for this module."""
    server = PrivateDovecot()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def inbox(dovecot):
    """An empty INBOX (every message of earlier tests expunged)."""
    conn = dovecot.client()
    conn.uid("STORE", "1:*", "+FLAGS.SILENT", r"(\Deleted)")
    conn.expunge()
    conn.logout()
    return dovecot


def poller(dovecot, sink, **options) -> ImapPollerService:
    """A poller for the test user over plain IMAP on loopback."""
    settings = {"poll_interval": 0.2, "retry_delay": 0.2, "idle_max": 5, "timeout": 10, **options}
    config = ImapConfig("127.0.0.1", dovecot.port, USER, PASSWORD, tls=False, **settings)
    return ImapPollerService(reactor, "support", config, sink, Clock(reactor))


async def until(condition, seconds: float = 8.0) -> None:
    """Wait on the reactor until ``condition()`` holds; fail after ``seconds``."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await task.deferLater(reactor, 0.02, lambda: None)
    raise AssertionError("condition not reached")


def test_existing_then_idle_announced_messages_are_stored_then_marked(run, inbox):
    """Waiting mail is handed on once and flagged after storage; new mail arrives through IDLE."""
    inbox.append(message(1))
    inbox.append(message(2))
    sink = DedupingSink()
    service = poller(inbox, sink, poll_interval=3600)  # only IDLE can bring the third message in time

    async def scenario():
        service.startService()
        await until(lambda: len(sink.stored) == 2)
        await task.deferLater(reactor, 0.3, lambda: None)  # the poller is in IDLE by now
        inbox.append(message(3))
        await until(lambda: len(sink.stored) == 3)
        await service.stopService()

    run(scenario(), timeout=20)
    assert [e.source for e in sink.calls] == ["imap"] * 3 and sink.calls[0].mailbox == "support"
    assert all("$CallcenterStored" in f and "\\Seen" in f for f in inbox.flags().values())
    assert service.stored == 3 and service.duplicates == 0


def test_stored_but_unmarked_message_is_not_stored_twice(run, inbox):
    """A crash after storage but before marking: the next run gets a duplicate receipt and marks it."""
    sink = DedupingSink()
    run(sink(message(4), MailEnvelope("support", "imap", 0.0)))  # stored before the "crash"
    inbox.append(message(4))
    service = poller(inbox, sink, idle=False)

    async def scenario():
        service.startService()
        await until(lambda: service.duplicates == 1)
        await service.stopService()

    run(scenario(), timeout=20)
    assert len(sink.stored) == 1
    assert all("$CallcenterStored" in f for f in inbox.flags().values())


def test_transient_failure_leaves_the_message_and_retries(run, inbox):
    """While the sink fails the message stays unmarked; once it works the message is stored."""
    sink = DedupingSink()
    sink.fail = RuntimeError("database down")
    inbox.append(message(5))
    service = poller(inbox, sink, idle=False)

    async def scenario():
        service.startService()
        await until(lambda: len(sink.calls) >= 2)
        assert all("$CallcenterStored" not in f for f in inbox.flags().values())
        sink.fail = None
        await until(lambda: len(sink.stored) == 1)
        await service.stopService()

    run(scenario(), timeout=20)
    assert all("$CallcenterStored" in f for f in inbox.flags().values())


def test_rejected_message_is_flagged_and_left(run, inbox):
    """A rejected message gets $CallcenterRejected and is not offered again."""
    sink = DedupingSink()
    sink.fail = MailRejected("not for us")
    inbox.append(message(6))
    service = poller(inbox, sink, idle=False)

    async def scenario():
        service.startService()
        await until(lambda: service.rejected == 1)
        await until(lambda: service.cycles >= 3)
        await service.stopService()

    run(scenario(), timeout=20)
    assert len(sink.calls) == 1
    [flags] = inbox.flags().values()
    assert "$CallcenterRejected" in flags and "\\Seen" not in flags


def test_processed_messages_move_to_the_configured_folder(run, inbox):
    """With processed_folder set, a stored message is moved there."""
    conn = inbox.client()
    conn.create("Processed")
    conn.logout()
    inbox.append(message(7))
    sink = DedupingSink()
    service = poller(inbox, sink, idle=False, processed_folder="Processed")

    async def scenario():
        service.startService()
        await until(lambda: service.stored == 1)
        await service.stopService()

    run(scenario(), timeout=20)
    assert inbox.flags() == {}
    assert len(inbox.flags("Processed")) == 1
