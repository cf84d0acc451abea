"""Parsing received mail off the reactor thread, a bounded number at a time.

Parsing a large message (a 24 MiB message with attachments takes seconds of CPU) on the
reactor thread would stall every other protocol, ``/health`` included. :class:`ParsePool`
runs :func:`channels.email.parsing.parse_message` on its own small thread pool and lets at
most ``max_concurrent`` parses run at once; the others wait their turn holding only the
raw bytes they already had. A parse expands a message several times in memory (the
``email`` package's tree, the decoded parts, the text), so the bound on concurrent parses
is what bounds that memory.

Usage, from the composition root::

    pool = ParsePool(reactor, max_concurrent=2)
    pool.start()                       # and pool.stop() when the server stops
    parsed = await pool.parse(raw, limits, envelope_sender=envelope.mail_from)
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred, DeferredSemaphore
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from channels.email.parsing import ParseLimits, ParsedMessage, parse_message


class ParsePool:
    """Runs :func:`parse_message` on ``max_concurrent`` worker threads, never more at once.

    ``reactor`` is the running reactor (results are delivered on its thread); ``parser`` is
    the function run (``parse_message`` unless a test passes one with its signature). The pool must
    be started before :meth:`parse` is used; :meth:`stop` waits for the running parses.
    Raises ``ValueError`` for ``max_concurrent < 1``.
    """

    def __init__(self, reactor: Any, max_concurrent: int = 2,
                 parser: Callable[[bytes, ParseLimits, str | None], ParsedMessage] = parse_message) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._reactor = reactor
        self._parser = parser
        self.max_concurrent = max_concurrent
        self._threads = ThreadPool(minthreads=0, maxthreads=max_concurrent, name="mail-parse")
        self._gate = DeferredSemaphore(max_concurrent)
        self.running = 0
        self.waiting = 0

    def start(self) -> None:
        """Start the worker threads."""
        self._threads.start()

    def stop(self) -> None:
        """Stop the worker threads, waiting for the parses in progress."""
        self._threads.stop()

    async def parse(self, raw: bytes, limits: ParseLimits = ParseLimits(),
                    envelope_sender: str | None = None) -> ParsedMessage:
        """Parse ``raw`` on a worker thread once a slot is free; never raises for bad mail.

        ``running`` and ``waiting`` count the parses in progress and queued (for /health or
        metrics). Raises ``RuntimeError`` when the pool is not started.
        """
        if not self._threads.started:
            raise RuntimeError("the parse pool is not started")
        self.waiting += 1
        try:
            await self._gate.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            work: Deferred = deferToThreadPool(self._reactor, self._threads, self._parser, raw, limits,
                                               envelope_sender)
            return await work
        finally:
            self.running -= 1
            self._gate.release()
