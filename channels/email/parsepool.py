"""Parsing received mail off the reactor, a bounded number at a time.

Parsing a large message (a 24 MiB message with attachments takes seconds of CPU) on the
reactor thread would stall every other protocol, ``/health`` included. :class:`ParsePool`
runs :func:`channels.email.parsing.parse_message` elsewhere and lets at most
``max_concurrent`` parses run at once; the others wait their turn holding only the raw
bytes they already had. A parse expands a message several times in memory (the ``email``
package's tree, the decoded parts, the text), so the bound on concurrent parses is what
bounds that memory.

Two modes:

- ``"process"`` (the default): worker processes (started with ``spawn``, never ``fork``,
  because the reactor runs threads). The parse holds no lock the reactor needs: threads
  would share Python's global interpreter lock, and long C-level steps of a parse (a
  regular expression over megabytes, a base64 decode) then stall the reactor for up to a
  second under load. A worker that dies (out of memory, a crash) costs only that message:
  it comes back unparseable with the reason, so it is stored raw and flagged, and the
  workers are restarted for the next one.
- ``"thread"``: worker threads in this process; cheaper to start, used by tests.

Usage, from the composition root::

    pool = ParsePool(reactor, max_concurrent=2)
    pool.start()                       # and pool.stop() when the server stops
    parsed = await pool.parse(raw, limits, envelope_sender=envelope.mail_from)
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from twisted.internet.defer import Deferred, DeferredSemaphore
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from channels.email.parsing import ParseLimits, ParsedMessage, parse_message, unparseable

Parser = Callable[[bytes, ParseLimits, "str | None"], ParsedMessage]


def _parse_without_raw(parser: Parser, raw: bytes, limits: ParseLimits, envelope_sender: str | None) -> ParsedMessage:
    """Run ``parser`` in a worker process; the raw bytes are not sent back (the caller has them)."""
    return dataclasses.replace(parser(raw, limits, envelope_sender), raw=b"")


class ParsePool:
    """Runs a parser (:func:`parse_message` by default) off the reactor, ``max_concurrent`` at once.

    ``reactor`` is the running reactor (results are delivered on its thread); ``mode`` is
    ``"process"`` or ``"thread"`` (see the module docstring); ``parser`` must have
    ``parse_message``'s signature, and be a module-level function in process mode. The
    pool must be started before :meth:`parse` is used; :meth:`stop` waits for the parses
    in progress. Raises ``ValueError`` for ``max_concurrent < 1`` or an unknown mode.
    """

    def __init__(self, reactor: Any, max_concurrent: int = 2, parser: Parser = parse_message,
                 mode: str = "process") -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if mode not in ("process", "thread"):
            raise ValueError("mode must be 'process' or 'thread'")
        self._reactor = reactor
        self._parser = parser
        self.mode = mode
        self.max_concurrent = max_concurrent
        # In process mode these threads only wait for the worker processes.
        self._threads = ThreadPool(minthreads=0, maxthreads=max_concurrent, name="mail-parse")
        self._processes: ProcessPoolExecutor | None = None
        self._replacing = threading.Lock()
        self._gate = DeferredSemaphore(max_concurrent)
        self.running = 0
        self.waiting = 0
        self.worker_failures = 0

    def start(self) -> None:
        """Start the worker threads (and, in process mode, the process pool)."""
        self._threads.start()
        if self.mode == "process":
            self._processes = self._new_processes()

    def stop(self) -> None:
        """Stop the workers, waiting for the parses in progress."""
        self._threads.stop()
        if self._processes is not None:
            self._processes.shutdown(wait=True)
            self._processes = None

    def _new_processes(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.max_concurrent, mp_context=multiprocessing.get_context("spawn"))

    def _run(self, raw: bytes, limits: ParseLimits, envelope_sender: str | None) -> ParsedMessage:
        """On a pool thread: parse here, or in a worker process and wait for it."""
        if self.mode == "thread":
            return self._parser(raw, limits, envelope_sender)
        processes = self._processes
        if processes is None:
            raise RuntimeError("the parse pool is stopped")
        try:
            parsed = processes.submit(_parse_without_raw, self._parser, raw, limits, envelope_sender).result()
        except BrokenProcessPool as exc:
            with self._replacing:
                if self._processes is processes:  # the first waiter to see it replaces the pool
                    self.worker_failures += 1
                    self._processes = self._new_processes()
                    processes.shutdown(wait=False)
            return unparseable(raw, f"the parser's worker process died: {exc}")
        return dataclasses.replace(parsed, raw=raw)

    async def parse(self, raw: bytes, limits: ParseLimits = ParseLimits(),
                    envelope_sender: str | None = None) -> ParsedMessage:
        """Parse ``raw`` off the reactor once a slot is free; never raises for bad mail.

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
            work: Deferred = deferToThreadPool(self._reactor, self._threads, self._run, bytes(raw), limits,
                                               envelope_sender)
            return await work
        finally:
            self.running -= 1
            self._gate.release()
