"""Group commit: every hot write pending at the same moment shares one transaction.

A commit costs a disk flush (``synchronous=FULL`` on SQLite, ``fsync`` on PostgreSQL), far more
than the statements it makes durable. :class:`GroupCommit` queues the record's hot writes (new
contacts, state changes, event-log appends, single creations) and commits everything pending
in one transaction: while one commit is on disk the next batch gathers. Each caller's
awaitable resolves after the commit that included its request, and the events its write
produced are published after that commit, never before.

Writes are grouped by kind and each kind runs as one batch function
(``fn(conn, uow, requests) -> one outcome per request``), in the order the kinds were
registered, so a batch that stores a contact runs before any batch that could name it. Each
batch function isolates its own failures (a record error or a constraint another node's
write got to first fails that request alone, in its own savepoint); an error it does not
isolate (the database is gone) fails every request of the transaction.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from sqlalchemy.engine import Connection
from twisted.internet.defer import Deferred
from sqlalchemy.exc import IntegrityError

from callcenter.records.batching import Coalescer, each_in_savepoint
from callcenter.records.database import Database, UnitOfWork
from callcenter.records.errors import NotFound
from callcenter.records.interactions import EventRequest, append_events, append_events_each

BatchFunction = Callable[[Connection, UnitOfWork, Sequence[Any]], list[Any]]


class GroupCommit:
    """Queues writes of registered kinds and commits what is pending together (see the module docstring).

    ``max_batch`` caps the requests of one transaction.
    """

    def __init__(self, db: Database, kinds: Sequence[tuple[str, BatchFunction]], max_batch: int = 2000) -> None:
        self._db = db
        self._kinds = dict(kinds)
        self._order = [name for name, _ in kinds]
        self._coalescer: Coalescer[tuple[str, Any]] = Coalescer(self._commit, max_batch)

    def submit(self, kind: str, request: Any) -> Deferred:
        """Queue ``request`` for the batch function of ``kind``; a Deferred firing with its
        outcome once committed, or failing with the error that request met (nothing of it is
        stored then) or the database's error that failed its whole transaction.
        ``KeyError`` (raised at once) for a kind that was not registered.
        """
        if kind not in self._kinds:
            raise KeyError(kind)
        return self._coalescer.submit((kind, request))

    def submit_many(self, kind: str, requests: Sequence[Any]) -> Deferred:
        """Queue several requests of ``kind`` with one Deferred (see :meth:`Coalescer.submit_many`):
        it fires once they are committed with the list of their outcomes in order, a request's
        own error standing in its place (the others are stored), or fails with the database's
        error that failed the whole transaction (then none is stored).
        ``KeyError`` (raised at once) for a kind that was not registered.
        """
        if kind not in self._kinds:
            raise KeyError(kind)
        return self._coalescer.submit_many([(kind, request) for request in requests])

    async def drain(self) -> None:
        """Wait until every queued request has been committed or failed."""
        await self._coalescer.drain()

    async def _commit(self, batch: Sequence[tuple[str, Any]]) -> list[Any]:
        groups: dict[str, list[int]] = {}
        for n, (kind, _) in enumerate(batch):
            groups.setdefault(kind, []).append(n)
        ordered = [(kind, [batch[n][1] for n in groups[kind]]) for kind in self._order if kind in groups]
        results = await self._db.write(_run_kinds, [(self._kinds[kind], requests) for kind, requests in ordered])
        outcomes: list[Any] = [None] * len(batch)
        for (kind, _), kind_outcomes in zip(ordered, results):
            for n, outcome in zip(groups[kind], kind_outcomes):
                outcomes[n] = outcome
        return outcomes


def _run_kinds(conn: Connection, uow: UnitOfWork, work: Sequence[tuple[BatchFunction, list[Any]]]) -> list[list[Any]]:
    return [fn(conn, uow, requests) for fn, requests in work]


def each_isolated(fn: Callable[..., Any]) -> BatchFunction:
    """A batch function running ``fn(conn, uow, *request)`` for each request in its own savepoint."""
    def run(conn: Connection, uow: UnitOfWork, requests: Sequence[tuple]) -> list[Any]:
        return each_in_savepoint(conn, uow, fn, requests)
    return run


def append_events_isolated(conn: Connection, uow: UnitOfWork, requests: Sequence[EventRequest]) -> list[Any]:
    """:func:`~callcenter.records.interactions.append_events_each`: one statement for the
    requests naming an existing interaction, :class:`NotFound` for the others. Should the insert
    still meet the foreign key (an interaction gone between the check and the insert), each
    request alone in its own savepoint, so only those fail."""
    mark = len(uow.events)
    try:
        with conn.begin_nested():
            return append_events_each(conn, uow, requests)
    except IntegrityError:
        del uow.events[mark:]
    outcomes: list[Any] = []
    for request in requests:
        mark = len(uow.events)
        try:
            with conn.begin_nested():
                outcomes.extend(append_events(conn, uow, [request]))
        except IntegrityError:
            del uow.events[mark:]
            outcomes.append(NotFound("interaction", request[0]))
    return outcomes
