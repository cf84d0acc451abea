"""The SMTP/LMTP listener: an MTA delivers mail for the configured mailboxes straight to us.

Protocol: Twisted's ESMTP server (:mod:`twisted.mail.smtp`) with our answers to the
envelope and the end of data:

- ``RCPT TO`` is accepted only for the configured mailboxes' addresses (any case);
  anything else gets ``550 5.1.1``. The envelope sender is not checked (bounces come
  from the null sender ``<>``).
- A message over ``max_bytes`` gets ``552 5.3.4`` and is not handed on; ``SIZE`` is
  advertised, and a ``SIZE=`` over the cap at ``MAIL FROM`` gets ``552 5.3.4`` at once
  (RFC 1870).
- ``SMTPUTF8`` (RFC 6531) and ``8BITMIME`` are offered: sender and recipient addresses in
  UTF-8 are accepted (``MAIL FROM`` and ``RCPT TO`` are parsed here, not by Twisted, whose
  grammar is ASCII only).
- The bytes handed on are exactly the bytes received, after dot-unstuffing: no Received
  header, and no blank line inserted before a first line without a colon (Twisted does
  that for headerless messages; an mbox ``From `` line or a broken first header would
  otherwise push the whole header section into the body). Bare CR and bare LF inside a
  line are kept as sent; lines end in CRLF.
- A line longer than ``max_line_bytes`` (default 1 MiB; RFC 5321 allows 1000, real mail
  has lines of tens of kilobytes) gets ``500 5.5.2 Line too long`` naming the limit, and
  the connection is closed: after a cut line neither the message nor the command stream
  can be trusted.
- At the end of data the message, whatever the number of recipients, goes once to the
  sink (:mod:`channels.email.sink`). The listener answers ``250`` only after the sink
  returned (the message is durably stored), ``550 5.7.1`` when the sink raised
  :class:`MailRejected`, and ``451 4.3.0`` for any other failure, so the sending MTA
  keeps the message and retries.
- While the service stops, new transactions get ``421``; :meth:`SmtpListenerService.stopService`
  closes the port and waits for every message already handed to the sink.

LMTP (RFC 2033, ``lmtp=True``): the same, greeted with ``LHLO``, and after the data one reply
per accepted recipient, as LMTP requires (every recipient shares the message's single outcome).

Service: :class:`SmtpListenerService` listens on ``host:port`` (port 0 picks a free one;
:attr:`SmtpListenerService.port` tells which).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred, maybeDeferred
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.mail import smtp
from twisted.python.failure import Failure
from zope.interface import implementer

from callcenter.runtime.clock import Clock
from channels.email.sink import MailEnvelope, MailReceipt, MailRejected, MailSink

log = Logger(namespace="channels.email.smtp")

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 1024 * 1024
# MAIL FROM:<path> [params]; the path may hold UTF-8 (RFC 6531) and quoted local parts.
_MAIL_FROM = re.compile(rb"^\s*FROM:\s*<([^<>]*)>\s*(.*)$|^\s*FROM:\s*([^\s<>]+)\s*(.*)$", re.IGNORECASE | re.DOTALL)
_RCPT_TO = re.compile(rb"^\s*TO:\s*<([^<>]+)>\s*(.*)$|^\s*TO:\s*([^\s<>]+)\s*(.*)$", re.IGNORECASE | re.DOTALL)


class EnvelopeAddress(smtp.Address):
    """A ``MAIL FROM`` or ``RCPT TO`` address as text (``""`` for the null sender), UTF-8 allowed.

    Replaces Twisted's ASCII-only parse of the address; it subclasses
    :class:`twisted.mail.smtp.Address` because Twisted's ``User`` keeps an ``Address``
    as the originator. ``smtputf8`` says the client gave the SMTPUTF8 parameter.
    """

    def __init__(self, address: str, smtputf8: bool = False) -> None:
        # Address.__init__ is not called: it would parse the path with its ASCII grammar.
        self.address = address
        self.smtputf8 = smtputf8
        local, _, domain = address.rpartition("@")
        self.local = local.encode("utf-8") if local else address.encode("utf-8")
        self.domain = domain.encode("utf-8") if local else b""
        self.addrstr = address.encode("utf-8")

    def __str__(self) -> str:
        return self.address

    def __repr__(self) -> str:
        return f"EnvelopeAddress({self.address!r}, smtputf8={self.smtputf8})"


def _route_free(address: str) -> str:
    """``address`` without an obsolete source route (``@a,@b:user@host``)."""
    return address.split(":", 1)[1] if address.startswith("@") and ":" in address else address


class EnvelopeRecipient(smtp.User):
    """A ``RCPT TO`` recipient whose address may be UTF-8 (RFC 6531); ``dest`` is an
    :class:`EnvelopeAddress`. Twisted's ``User`` would parse the address as ASCII."""

    def __init__(self, address: str, helo: Any, protocol: Any, orig: smtp.Address) -> None:
        # User.__init__ is not called: it would parse the address with its ASCII grammar.
        self.dest = EnvelopeAddress(address)
        self.helo = helo
        self.protocol = protocol
        self.orig = orig

    def __str__(self) -> str:
        return str(self.dest)

    def __bytes__(self) -> bytes:
        return str(self.dest).encode("utf-8")


class _Refused(smtp.SMTPServerError):
    """An SMTP error reply with our own code and text (``code`` may be 4xx or 5xx)."""


class SmtpSession(smtp.ESMTP):
    """One SMTP connection: validates recipients, collects data, answers after the sink."""

    factory: "SmtpListenerFactory"

    def connectionMade(self) -> None:
        """Start a session with no transaction."""
        super().connectionMade()
        self.MAX_LENGTH = self.factory.max_line_bytes
        self._mailbox_of: dict[str, str] = {}
        self._mail_from: str | None = None

    def lookupMethod(self, command: bytes) -> Any:  # noqa: N802 - twisted API
        """The handler of ``command``; None (a ``500``) for a verb that is not ASCII, which
        Twisted would otherwise let escape as a UnicodeDecodeError and a logged traceback."""
        try:
            return super().lookupMethod(command)
        except UnicodeDecodeError:
            return None

    def extensions(self) -> dict[bytes, Any]:
        """ESMTP extensions: Twisted's, plus ``SIZE`` with our cap."""
        ext = super().extensions()
        ext.pop(b"AUTH", None)  # no authentication: nothing relays through us
        ext[b"SIZE"] = [str(self.factory.max_bytes).encode()]
        ext[b"8BITMIME"] = None
        ext[b"SMTPUTF8"] = None
        return ext

    def do_MAIL(self, rest: bytes) -> None:
        """MAIL FROM with ``SIZE``, ``BODY`` and ``SMTPUTF8`` parameters and a UTF-8 path."""
        if self._from:
            self.sendCode(503, b"5.5.1 Only one sender per message, please")
            return
        self._to = []
        m = _MAIL_FROM.match(rest)
        if not m:
            self.sendCode(501, b"5.5.4 Syntax: MAIL FROM:<address> [parameters]")
            return
        path = m.group(1) if m.group(1) is not None else m.group(3)
        params = (m.group(2) if m.group(1) is not None else m.group(4)).split()
        options = {}
        for param in params:
            key, _, value = param.partition(b"=")
            options[key.upper()] = value
        if b"SIZE" in options:
            if not options[b"SIZE"].isdigit():
                self.sendCode(501, b"5.5.4 SIZE takes a number of bytes")
                return
            if int(options[b"SIZE"]) > self.factory.max_bytes:
                self.sendCode(552, f"5.3.4 Message size exceeds the {self.factory.max_bytes}-byte limit".encode())
                return
        try:
            address = path.decode("utf-8")
        except UnicodeDecodeError:
            self.sendCode(553, b"5.1.7 The sender address is not UTF-8")
            return
        origin = EnvelopeAddress(_route_free(address), smtputf8=b"SMTPUTF8" in options)
        validated = maybeDeferred(self.validateFrom, self._helo, origin)
        validated.addCallbacks(self._cbFromValidate, self._ebFromValidate)

    def do_RCPT(self, rest: bytes) -> None:
        """RCPT TO with a UTF-8 address (RFC 6531); parameters are ignored."""
        if not self._from:
            self.sendCode(503, b"5.5.1 MAIL FROM first")
            return
        m = _RCPT_TO.match(rest)
        if not m:
            self.sendCode(501, b"5.5.4 Syntax: RCPT TO:<address>")
            return
        path = m.group(1) if m.group(1) is not None else m.group(3)
        try:
            address = _route_free(path.decode("utf-8").strip())
        except UnicodeDecodeError:
            self.sendCode(553, b"5.1.3 The recipient address is not UTF-8")
            return
        user = EnvelopeRecipient(address, self._helo, self, self._from)
        validated = maybeDeferred(self.validateTo, user)
        validated.addCallbacks(self._cbToValidate, self._ebToValidate, callbackArgs=(user,))

    def do_DATA(self, rest: bytes) -> None:
        """DATA, with Twisted's blank line for headerless messages switched off."""
        super().do_DATA(rest)
        if self.mode == smtp.DATA:
            # Twisted inserts an empty line before a first line without ":" unless it
            # believes it is already in the body; the bytes must reach the sink unchanged.
            self._SMTP__inbody = 1

    def lineLengthExceeded(self, line: bytes) -> None:
        """A line over the limit: a clear 500 naming the limit, then the connection closes."""
        if self.mode == smtp.DATA:
            for message in getattr(self, "_SMTP__messages", []):
                message.connectionLost()
        self.mode = smtp.COMMAND
        self.sendCode(500, f"5.5.2 Line too long: the limit is {self.MAX_LENGTH} bytes per line".encode())
        self.transport.loseConnection()

    def validateFrom(self, helo: Any, origin: EnvelopeAddress) -> EnvelopeAddress:
        """Any sender is accepted (the null sender too) unless the service is stopping."""
        if self.factory.stopping:
            raise _Refused(421, b"4.3.2 Service shutting down, try again later")
        self._mailbox_of = {}
        self._mail_from = str(origin)
        return origin

    def validateTo(self, user: smtp.User):
        """Accept only the configured addresses; returns the message factory Twisted wants."""
        address = str(user.dest).lower()
        mailbox = self.factory.mailboxes.get(address)
        if mailbox is None:
            raise smtp.SMTPBadRcpt(user, code=550, resp="5.1.1 No such mailbox here")
        self._mailbox_of[address] = mailbox
        return self._message_for

    def _message_for(self) -> "smtp.IMessage":
        # Twisted asks for one message per recipient; the first gets the collector, the
        # others a companion, so the sink sees the message once with every recipient.
        collector = getattr(self, "_collector", None)
        if collector is None or collector.closed:
            envelope = MailEnvelope(
                mailbox=next(iter(self._mailbox_of.values())), source="smtp",
                received_at=self.factory.clock.now(), mail_from=self._mail_from,
                recipients=tuple(self._mailbox_of), peer=self.transport.getPeer().host,
            )
            self._collector = _Collector(self.factory, envelope)
            return self._collector
        return _Companion(collector)

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any) -> None:
        """No Received header is added: the bytes stored are the bytes the MTA sent."""
        return None

    def do_LHLO(self, rest: bytes) -> None:
        """LMTP's greeting: as EHLO, refused unless the listener speaks LMTP."""
        if not self.factory.lmtp:
            self.sendCode(500, b"5.5.1 LHLO is for LMTP; this is SMTP")
            return
        smtp.ESMTP.do_EHLO(self, rest)

    def do_EHLO(self, rest: bytes) -> None:
        """EHLO (SMTP only; LMTP requires LHLO)."""
        if self.factory.lmtp:
            self.sendCode(500, b"5.5.1 This is LMTP: use LHLO")
            return
        super().do_EHLO(rest)

    def do_HELO(self, rest: bytes) -> None:
        """HELO (SMTP only; LMTP requires LHLO)."""
        if self.factory.lmtp:
            self.sendCode(500, b"5.5.1 This is LMTP: use LHLO")
            return
        super().do_HELO(rest)

    def _messageHandled(self, resultList: list[tuple[bool, Any]]) -> None:
        self._collector = None
        failures = [result for ok, result in resultList if not ok]
        if not failures:
            receipt = resultList[0][1] if resultList else None
            ref = f" as #{receipt.message_ref}" if isinstance(receipt, MailReceipt) else ""
            code, text = 250, f"2.0.0 Stored{ref}".encode()
        elif failures[0].check(smtp.SMTPServerError):
            code, text = failures[0].value.code, failures[0].value.resp
        elif failures[0].check(MailRejected):
            code, text = 550, f"5.7.1 Rejected: {failures[0].value.reason}"[:400].encode("ascii", "replace")
        else:
            log.failure("storing a received message failed; answering 451", failures[0])
            code, text = 451, b"4.3.0 Temporary failure storing the message, try again later"
        # LMTP answers once per recipient; there is one result per recipient.
        for _ in range(len(resultList) if self.factory.lmtp else 1):
            self.sendCode(code, text)


@implementer(smtp.IMessage)
class _Collector:
    """Collects the lines of one message and hands the bytes to the sink at the end."""

    def __init__(self, factory: "SmtpListenerFactory", envelope: MailEnvelope) -> None:
        self._factory = factory
        self._envelope = envelope
        self._lines: list[bytes] = []
        self._size = 0
        self.closed = False
        self.result: Deferred | None = None
        self._waiting: list[Deferred] = []

    def lineReceived(self, line: bytes) -> None:
        """Keep one line (dot-unstuffed by Twisted); 552 when the size cap is passed."""
        self._size += len(line) + 2
        if self._size > self._factory.max_bytes:
            self._lines = []
            raise _Refused(552, f"5.3.4 Message over the {self._factory.max_bytes}-byte size limit".encode())
        self._lines.append(line)

    def eomReceived(self) -> Deferred:
        """Hand the message to the sink; fires with its receipt once it is stored."""
        self.closed = True
        raw = b"\r\n".join(self._lines) + b"\r\n"
        self._lines = []
        self.result = self._factory.submit(raw, self._envelope)
        for waiter in self._waiting:
            self.result.addBoth(_relay, waiter)
        return self.result

    def when_done(self) -> Deferred:
        """A Deferred that fires like :meth:`eomReceived`'s result."""
        d: Deferred = Deferred()
        if self.result is not None:
            self.result.addBoth(_relay, d)
        else:
            self._waiting.append(d)
        return d

    def connectionLost(self) -> None:
        """The client went away mid-message: nothing is handed on."""
        self.closed = True
        self._lines = []


def _relay(result: Any, waiter: Deferred) -> Any:
    if isinstance(result, Failure):
        waiter.errback(result)
    else:
        waiter.callback(result)
    return result


@implementer(smtp.IMessage)
class _Companion:
    """The other recipients' view of a message: ignores lines, answers as the collector."""

    def __init__(self, collector: _Collector) -> None:
        self._collector = collector

    def lineReceived(self, line: bytes) -> None:
        """Lines go to the collector only."""

    def eomReceived(self) -> Deferred:
        """Fires with the collector's outcome."""
        return self._collector.when_done()

    def connectionLost(self) -> None:
        """Nothing to release."""


class SmtpListenerFactory(smtp.SMTPFactory):
    """Builds :class:`SmtpSession` objects and tracks the messages handed to the sink."""

    protocol = SmtpSession

    def __init__(self, sink: MailSink, mailboxes: Mapping[str, str], clock: Clock, domain: str = "localhost",
                 max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = 300, lmtp: bool = False,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        super().__init__()
        self.lmtp = lmtp
        self.max_line_bytes = max_line_bytes
        self.sink = sink
        self.mailboxes = {address.lower(): name for address, name in mailboxes.items()}
        self.clock = clock
        self.domain = domain.encode()
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.stopping = False
        self.in_flight: set[Deferred] = set()

    def submit(self, raw: bytes, envelope: MailEnvelope) -> Deferred:
        """Run the sink on ``raw``; the Deferred fires with its receipt or failure."""
        d = ensureDeferred(self.sink(raw, envelope))
        self.in_flight.add(d)

        def done(result: Any) -> Any:
            self.in_flight.discard(d)
            return result

        d.addBoth(done)
        return d


class SmtpListenerService(Service):
    """Listens for SMTP on ``host:port`` with ``reactor``; stopping drains in-flight messages.

    ``mailboxes`` maps each accepted address to its mailbox name; ``lmtp`` speaks LMTP
    instead of SMTP.
    """

    def __init__(self, reactor: Any, sink: MailSink, mailboxes: Mapping[str, str], clock: Clock,
                 host: str = "127.0.0.1", port: int = 2525, max_bytes: int = DEFAULT_MAX_BYTES,
                 domain: str = "localhost", lmtp: bool = False, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.setName("lmtp-listener" if lmtp else "smtp-listener")
        self._reactor = reactor
        self.factory = SmtpListenerFactory(sink, mailboxes, clock, domain, max_bytes, lmtp=lmtp,
                                           max_line_bytes=max_line_bytes)
        self._host = host
        self._wanted_port = port
        self._listening: IListeningPort | None = None

    @property
    def port(self) -> int:
        """The port actually listened on (after start)."""
        assert self._listening is not None, "the listener is not started"
        return self._listening.getHost().port

    def startService(self) -> None:
        """Start listening; raises the reactor's error when the port is taken."""
        super().startService()
        self.factory.stopping = False
        self._listening = self._reactor.listenTCP(self._wanted_port, self.factory, interface=self._host)

    def stopService(self) -> Deferred:
        """Refuse new messages, stop listening, and wait for the sink on every message received."""
        super().stopService()
        return ensureDeferred(self._stop())

    async def _stop(self) -> None:
        self.factory.stopping = True
        if self._listening is not None:
            await self._listening.stopListening()
            self._listening = None
        if self.factory.in_flight:
            await DeferredList(list(self.factory.in_flight), consumeErrors=True)
