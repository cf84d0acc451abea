"""Group commit for the interaction event log: one writer, many callers per transaction.

Appending an event is the record's hottest write (every state change of every interaction).
Committing each one alone costs a disk flush each; here callers queue their requests and a
single flush loop commits everything pending in one transaction, so while one commit is on
disk the next batch gathers. Each caller's awaitable resolves after the commit that included
its request, and the events it produced are published after that commit, never before.

If a batch fails (normally: one request names an interaction that does not exist), its
requests are retried one by one so only the bad ones fail.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from twisted.internet.defer import Deferred

from callcenter.records.database import Database
from callcenter.records.errors import NotFound
from callcenter.records.interactions import EventRequest, append_events
from callcenter.records.model import InteractionEvent


class EventWriter:
    """Queues event-log appends and commits them in batches of at most ``max_batch``."""

    def __init__(self, db: Database, max_batch: int = 2000) -> None:
        self._db = db
        self._max_batch = max_batch
        self._pending: list[tuple[EventRequest, Deferred]] = []
        self._flushing = False
        self._idle: list[Deferred] = []

    async def append(self, request: EventRequest) -> InteractionEvent:
        """Append one event; returns it (with its id) once its transaction has committed.

        Raises :class:`NotFound` when the interaction does not exist, and the database's
        errors otherwise.
        """
        d: Deferred = Deferred()
        self._pending.append((request, d))
        if not self._flushing:
            self._flushing = True
            Deferred.fromCoroutine(self._flush_loop())
        return await d

    async def drain(self) -> None:
        """Wait until every queued request has been committed or failed."""
        if self._flushing:
            d: Deferred = Deferred()
            self._idle.append(d)
            await d

    async def _flush_loop(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._commit(batch)
        finally:
            self._flushing = False
            waiters, self._idle = self._idle, []
            for d in waiters:
                d.callback(None)

    async def _commit(self, batch: list[tuple[EventRequest, Deferred]]) -> None:
        try:
            results = await self._db.write(append_events, [request for request, _ in batch])
        except Exception as e:  # noqa: BLE001 - every failure goes back to the callers
            if len(batch) == 1 or not isinstance(e, IntegrityError):
                for request, d in batch:
                    d.errback(_translate(e, request))
                return
            for one in batch:
                await self._commit([one])
            return
        for (_, d), event in zip(batch, results):
            d.callback(event)


def _translate(error: Exception, request: EventRequest) -> Exception:
    # The only integrity rule an append can break is the interaction foreign key.
    if isinstance(error, IntegrityError):
        return NotFound("interaction", request[0])
    return error
