"""Group commit for the interaction event log: one writer, many callers per transaction.

Appending an event is the record's hottest write (every state change of every interaction).
Committing each one alone costs a disk flush each; here a :class:`Coalescer` commits
everything pending in one transaction, so while one commit is on disk the next batch
gathers. Each caller's awaitable resolves after the commit that included its request, and
the events it produced are published after that commit, never before.

If a batch fails on an integrity rule (normally: one request names an interaction that does
not exist), its requests are retried one by one so only the bad ones fail.
"""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy.exc import IntegrityError

from callcenter.records.batching import Coalescer
from callcenter.records.database import Database
from callcenter.records.errors import NotFound
from callcenter.records.interactions import EventRequest, append_events
from callcenter.records.model import InteractionEvent


class EventWriter:
    """Queues event-log appends and commits them in batches of at most ``max_batch``."""

    def __init__(self, db: Database, max_batch: int = 2000) -> None:
        self._db = db
        self._coalescer: Coalescer[EventRequest] = Coalescer(self._commit, max_batch)

    async def append(self, request: EventRequest) -> InteractionEvent:
        """Append one event; returns it (with its id) once its transaction has committed.

        Raises :class:`NotFound` when the interaction does not exist, and the database's
        errors otherwise.
        """
        return await self._coalescer.submit(request)

    async def drain(self) -> None:
        """Wait until every queued request has been committed or failed."""
        await self._coalescer.drain()

    async def _commit(self, batch: Sequence[EventRequest]) -> list[Any]:
        try:
            return await self._db.write(append_events, list(batch))
        except IntegrityError:
            if len(batch) == 1:
                # The only integrity rule an append can break is the interaction foreign key.
                return [NotFound("interaction", batch[0][0])]
        outcomes: list[Any] = []
        for request in batch:
            outcomes.extend(await self._commit([request]))
        return outcomes
