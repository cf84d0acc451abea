"""Coalescing of concurrent requests into one unit of work.

A thread hop and a transaction cost far more than one indexed statement, so hot paths
(event-log appends, contact lookups) hand their requests to a :class:`Coalescer`: the first
request starts a run, requests arriving while a run is in progress wait for the next one,
and each run handles everything pending (up to ``max_batch``) in one call. Every caller's
awaitable resolves with its own outcome once the run that included it has finished; for a
write that means after its commit (and after its events were published).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Generic, Sequence, TypeVar

from twisted.internet.defer import Deferred

Req = TypeVar("Req")

# run_batch(requests) -> one outcome per request: a result, or an exception to raise to its caller.
BatchRunner = Callable[[Sequence[Req]], Awaitable[Sequence[Any]]]


class Coalescer(Generic[Req]):
    """Runs ``run_batch`` on everything submitted while the previous run was in progress.

    If ``run_batch`` itself raises, every request of that run fails with that error.
    """

    def __init__(self, run_batch: BatchRunner, max_batch: int) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        # Each entry: (requests, Deferred, many). A single request is a list of one.
        self._pending: list[tuple[Sequence[Req], Deferred, bool]] = []
        self._running = False
        self._idle: list[Deferred] = []

    def submit(self, request: Req) -> Deferred:
        """Queue ``request``; a Deferred firing with its outcome (or its error) once its run is done.

        A plain Deferred rather than a coroutine: on the hottest paths each layer of
        coroutine costs more than the request's share of the statement.
        """
        d: Deferred = Deferred()
        self._pending.append(([request], d, False))
        if not self._running:
            self._start()
        return d

    def submit_many(self, requests: Sequence[Req]) -> Deferred:
        """Queue several requests with one Deferred, firing with the list of their outcomes, in
        order, once the run that included them is done: a request's error is its entry in that
        list (the others' outcomes stand). If the run itself fails (``run_batch`` raised), the
        Deferred fails with that error. The requests always run together, in one run (a list
        longer than ``max_batch`` runs alone); an empty list fires at once with ``[]``.
        """
        d: Deferred = Deferred()
        if not requests:
            d.callback([])
            return d
        self._pending.append((list(requests), d, True))
        if not self._running:
            self._start()
        return d

    def _start(self) -> None:
        self._running = True
        Deferred.fromCoroutine(self._loop())

    async def drain(self) -> None:
        """Wait until every queued request has an outcome."""
        if self._running:
            d: Deferred = Deferred()
            self._idle.append(d)
            await d

    def _take(self) -> tuple[list[tuple[Sequence[Req], Deferred, bool]], list[Req]]:
        """The entries of the next run (whole entries, at most ``max_batch`` requests unless
        the first entry alone is larger) and their requests, flattened in order."""
        pending, limit = self._pending, self._max_batch
        taken = 0
        count = 0
        for requests, _, _ in pending:
            if count and count + len(requests) > limit:
                break
            count += len(requests)
            taken += 1
            if count >= limit:
                break
        batch = pending[:taken]
        del pending[:taken]
        if taken == count:  # single requests only (the usual case): no nested loop
            return batch, [entry[0][0] for entry in batch]
        return batch, [r for requests, _, _ in batch for r in requests]

    async def _loop(self) -> None:
        try:
            while self._pending:
                batch, requests = self._take()
                try:
                    outcomes = await self._run_batch(requests)
                except Exception as e:  # noqa: BLE001 - the callers receive it
                    for _, d, _ in batch:
                        d.errback(e)
                    continue
                at = 0
                for entry, d, many in batch:
                    if many:
                        d.callback(list(outcomes[at:at + len(entry)]))
                        at += len(entry)
                    else:
                        outcome = outcomes[at]
                        at += 1
                        if isinstance(outcome, Exception):
                            d.errback(outcome)
                        else:
                            d.callback(outcome)
        finally:
            self._running = False
            waiters, self._idle = self._idle, []
            for d in waiters:
                d.callback(None)


def each_in_savepoint(conn: Any, uow: Any, fn: Callable[..., Any], requests: Sequence[tuple]) -> list[Any]:
    """Run ``fn(conn, uow, *request)`` for every request in one transaction, each inside its own
    savepoint: a request that raises a record error (or meets a unique constraint another
    node's write got to first) is rolled back alone and gets that error as its outcome, the others commit together (group commit of independent writes)."""
    from sqlalchemy.exc import IntegrityError

    from callcenter.records.errors import RecordError

    outcomes: list[Any] = []
    for request in requests:
        events_before = len(uow.events)
        try:
            with conn.begin_nested():
                outcomes.append(fn(conn, uow, *request))
        except (RecordError, IntegrityError) as error:
            del uow.events[events_before:]
            outcomes.append(error)
    return outcomes


def together_else_each(conn: Any, uow: Any, fn: Callable[[Any, Any, Sequence[Any]], list[Any]],
                       requests: Sequence[Any], together: bool = True) -> list[Any]:
    """Run the batch function ``fn(conn, uow, requests)`` on every request at once, in one
    savepoint; if that meets a record error or a unique constraint (or ``together`` is False),
    run it on each request alone in its own savepoint, so only the bad ones get their error as
    their outcome and the others commit together."""
    from sqlalchemy.exc import IntegrityError

    from callcenter.records.errors import RecordError

    if together:
        mark = len(uow.events)
        try:
            with conn.begin_nested():
                return list(fn(conn, uow, requests))
        except (RecordError, IntegrityError):
            del uow.events[mark:]
    return each_in_savepoint(conn, uow, lambda c, u, request: fn(c, u, [request])[0], [(r,) for r in requests])
