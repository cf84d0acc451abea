"""The IMAP poller: fetches new mail from a mailbox's folder and hands it to the sink.

Protocol: the standard library's ``imaplib`` on one dedicated thread per mailbox (its calls
block), driven from the reactor. A *cycle* runs on that thread:

1. connect and log in if not connected (implicit TLS, or STARTTLS, or plain for loopback
   tests), select the folder;
2. ``UID SEARCH`` the messages not yet carrying our ``$CallcenterStored`` (or
   ``$CallcenterRejected``) keyword, oldest first;
3. for each: fetch it with ``BODY.PEEK[]`` (the server's ``\\Seen`` is left alone), call
   the sink on the reactor thread and wait for it; only **after** the sink returned (the
   message is durably stored) mark it: ``\\Seen`` and ``$CallcenterStored``, or move it
   to ``processed_folder`` when one is configured (``MOVE``, else ``COPY`` + ``\\Deleted``).
   A crash between the two leaves the message unmarked; the next cycle hands it to the
   sink again, which recognizes it (dedupe by Message-ID and content hash) and stores no
   duplicate. A :class:`~channels.email.sink.MailRejected` message gets
   ``$CallcenterRejected`` and stays where it is for a person; any other sink failure ends
   the cycle and the message is retried after ``retry_delay``;
4. when the server has ``IDLE``, wait in IDLE until it reports new mail (or ``idle_max``
   seconds, or the service stops), then run the next cycle at once; otherwise the next
   cycle runs ``poll_interval`` seconds later (the reactor clock schedules it).

Connection errors close the connection and retry after ``retry_delay``. Stopping the service
interrupts IDLE, waits for the message in progress, and logs out.
"""

from __future__ import annotations

import imaplib
import re
import select
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.threads import blockingCallFromThread, deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from callcenter.runtime.clock import Clock
from channels.email.sink import MailEnvelope, MailRejected, MailSink

log = Logger(namespace="channels.email.imap")

STORED = "$CallcenterStored"
REJECTED = "$CallcenterRejected"
_IDLE_TICK = 0.25
_EXISTS = re.compile(rb"^\* \d+ (EXISTS|RECENT)", re.IGNORECASE)


@dataclass(frozen=True)
class ImapConfig:
    """How to reach one mailbox's folder; see the module docstring for the timings."""

    host: str
    port: int
    username: str
    password: str
    folder: str = "INBOX"
    tls: bool = True
    starttls: bool = False
    tls_context: ssl.SSLContext | None = None
    processed_folder: str | None = None
    poll_interval: float = 60.0
    idle: bool = True
    idle_max: float = 25 * 60.0
    retry_delay: float = 30.0
    timeout: float = 60.0


class ImapError(Exception):
    """The server refused a command (its reply is the message)."""


class ImapPollerService(Service):
    """Polls ``config``'s folder for mailbox ``mailbox`` and feeds ``sink`` (see the module docstring).

    :attr:`stored`, :attr:`duplicates`, :attr:`rejected` count the messages handed on.
    """

    def __init__(self, reactor: Any, mailbox: str, config: ImapConfig, sink: MailSink, clock: Clock) -> None:
        self.setName(f"imap-{mailbox}")
        self._reactor = reactor
        self.mailbox = mailbox
        self.config = config
        self._sink = sink
        self._clock = clock
        self._pool = ThreadPool(1, 1, name=f"imap-{mailbox}")
        self._stop = threading.Event()
        self._conn: imaplib.IMAP4 | None = None
        self._timer: Any = None
        self._cycle: Deferred | None = None
        self.stored = self.duplicates = self.rejected = self.cycles = 0

    def startService(self) -> None:
        """Start the thread and the first cycle."""
        super().startService()
        self._stop.clear()
        self._pool.start()
        self._schedule(0)

    def stopService(self) -> Deferred:
        """Interrupt IDLE, wait for the cycle in progress, log out, stop the thread."""
        super().stopService()
        return ensureDeferred(self._shutdown())

    async def _shutdown(self) -> None:
        self._stop.set()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self._cycle is not None:
            await self._cycle
        await deferToThreadPool(self._reactor, self._pool, self._disconnect)
        self._pool.stop()

    def _schedule(self, delay: float) -> None:
        if self.running and not self._stop.is_set():
            self._timer = self._clock.call_later(delay, self._run_cycle)

    def _run_cycle(self) -> None:
        self._timer = None
        self._cycle = deferToThreadPool(self._reactor, self._pool, self._cycle_on_thread)
        self._cycle.addBoth(self._cycle_done)

    def _cycle_done(self, result: Any) -> None:
        self._cycle = None
        self.cycles += 1
        if isinstance(result, bool):
            self._schedule(0 if result else self.config.poll_interval)
            return
        log.warn("IMAP cycle for {mailbox} failed ({error}); retrying in {delay} s", mailbox=self.mailbox,
                 error=result.getErrorMessage(), delay=self.config.retry_delay)
        self._disconnect_quietly()
        self._schedule(self.config.retry_delay)

    # --- on the IMAP thread ---

    def _cycle_on_thread(self) -> bool:
        """One cycle; True when the next should start at once (IDLE saw new mail)."""
        conn = self._connect()
        while not self._stop.is_set():
            uids = self._unstored(conn)
            if not uids:
                break
            for uid in uids:
                if self._stop.is_set():
                    return False
                self._handle(conn, uid)
        if self._stop.is_set():
            return False
        if self.config.idle and "IDLE" in self._capabilities(conn):
            return self._idle(conn)
        return False

    def _connect(self) -> imaplib.IMAP4:
        if self._conn is not None:
            return self._conn
        c = self.config
        if c.tls:
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(c.host, c.port, ssl_context=c.tls_context, timeout=c.timeout)
        else:
            conn = imaplib.IMAP4(c.host, c.port, timeout=c.timeout)
            if c.starttls:
                conn.starttls(c.tls_context)
        _ok(conn.login(c.username, c.password))
        _ok(conn.select(_quote(c.folder)))
        self._conn = conn
        return conn

    def _capabilities(self, conn: imaplib.IMAP4) -> set[str]:
        typ, data = conn.capability()
        return set((data[0] or b"").decode("ascii", "replace").upper().split()) if typ == "OK" else set()

    def _unstored(self, conn: imaplib.IMAP4) -> list[bytes]:
        typ, data = conn.uid("SEARCH", None, "UNDELETED", "UNKEYWORD", STORED, "UNKEYWORD", REJECTED)
        _ok((typ, data))
        uids = (data[0] or b"").split()
        return sorted(uids, key=int)[:200]

    def _handle(self, conn: imaplib.IMAP4, uid: bytes) -> None:
        typ, data = conn.uid("FETCH", uid, "(BODY.PEEK[])")
        _ok((typ, data))
        raw = next((part[1] for part in data if isinstance(part, tuple)), None)
        if raw is None:
            return  # expunged meanwhile
        envelope = MailEnvelope(mailbox=self.mailbox, source="imap", received_at=self._clock.now(),
                                peer=f"{self.config.host}/{self.config.folder}/{uid.decode()}")
        try:
            receipt = blockingCallFromThread(self._reactor, lambda: ensureDeferred(self._sink(raw, envelope)))
        except MailRejected as rejected:
            log.warn("message {uid} in {mailbox} rejected: {reason}", uid=uid.decode(), mailbox=self.mailbox,
                     reason=rejected.reason)
            _ok(conn.uid("STORE", uid, "+FLAGS.SILENT", f"({REJECTED})"))
            self.rejected += 1
            return
        # Stored durably: only now is the message marked or moved on the server.
        self._mark(conn, uid)
        if receipt.duplicate:
            self.duplicates += 1
        else:
            self.stored += 1

    def _mark(self, conn: imaplib.IMAP4, uid: bytes) -> None:
        target = self.config.processed_folder
        if target is None:
            _ok(conn.uid("STORE", uid, "+FLAGS.SILENT", f"(\\Seen {STORED})"))
            return
        if "MOVE" in self._capabilities(conn):
            _ok(conn.uid("MOVE", uid, _quote(target)))
            return
        _ok(conn.uid("COPY", uid, _quote(target)))
        _ok(conn.uid("STORE", uid, "+FLAGS.SILENT", f"(\\Seen \\Deleted {STORED})"))

    def _idle(self, conn: imaplib.IMAP4) -> bool:
        """IDLE until new mail, ``idle_max`` or stop; True when new mail was announced."""
        tag = conn._new_tag()  # imaplib has no IDLE command; the exchange is written by hand
        conn.send(tag + b" IDLE\r\n")
        line = conn.readline()
        if not line.startswith(b"+"):
            raise ImapError(f"IDLE refused: {line!r}")
        sock = conn.socket()
        news = False
        for _ in range(max(1, int(self.config.idle_max / _IDLE_TICK))):
            if self._stop.is_set():
                break
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
            if not pending and not select.select([sock], [], [], _IDLE_TICK)[0]:
                continue
            line = conn.readline()
            if not line:
                raise ImapError("connection closed during IDLE")
            if _EXISTS.match(line):
                news = True
                break
        conn.send(b"DONE\r\n")
        while True:
            line = conn.readline()
            if not line:
                raise ImapError("connection closed after IDLE")
            if line.startswith(tag):
                if b" OK" not in line[:len(tag) + 4]:
                    raise ImapError(f"IDLE ended badly: {line!r}")
                return news
            if _EXISTS.match(line):
                news = True

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def _disconnect_quietly(self) -> None:
        # The cycle failed on the IMAP thread; drop the connection there, never on the reactor.
        self._pool.callInThread(self._disconnect)


def _ok(result: tuple[str, Any]) -> Any:
    typ, data = result
    if typ != "OK":
        raise ImapError(f"{typ}: {data!r}")
    return data


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
