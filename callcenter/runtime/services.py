"""Service-tree building blocks shared by the composition root."""

from __future__ import annotations

from typing import Awaitable, Callable

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, ensureDeferred, maybeDeferred, succeed


class OrderedMultiService(MultiService):
    """A MultiService that starts children in order and stops them one by one in reverse.

    Twisted's MultiService stops every child at once; here a later child (the HTTP listener,
    a channel) has finished draining before an earlier one it depends on (the database)
    starts stopping, so no in-flight write finds its database gone.

    A :class:`StartGate` child holds back the children after it until its work is done (the
    listeners wait for the routing core's rebuild); :attr:`ready` fires once every child has
    started, or fails with the gate's error (the children after it then never start). A child
    that raises while starting raises out of :meth:`startService`, as Twisted's does.
    """

    ready: Deferred

    def startService(self) -> None:
        Service.startService(self)
        self.ready = self._start_from(0)

    def _start_from(self, first: int) -> Deferred:
        children = list(self)
        for index in range(first, len(children)):
            if not self.running:  # stopped while a gate held the rest back
                break
            child = children[index]
            child.startService()
            if isinstance(child, StartGate):
                # Already done: the rest start at once, synchronously; else once it is.
                return child.done.addCallback(lambda _, after=index + 1: self._start_from(after))
        return succeed(None)

    def stopService(self) -> Deferred:
        Service.stopService(self)
        return ensureDeferred(self._stop_in_reverse())

    async def _stop_in_reverse(self) -> None:
        for child in reversed(list(self)):
            if child.running:  # children held back by a gate never started
                await maybeDeferred(child.stopService)


class CallbackService(Service):
    """A service whose start and stop are given callables (stop may be async)."""

    def __init__(self, name: str, start: Callable[[], object], stop: Callable[[], Awaitable[object]]) -> None:
        self.setName(name)
        self._start = start
        self._stop = stop

    def startService(self) -> None:
        Service.startService(self)
        self._start()

    def stopService(self) -> Deferred:
        Service.stopService(self)
        return ensureDeferred(self._stop())


class StartGate(Service):
    """Runs ``await work()`` when started; in an :class:`OrderedMultiService` the children after
    it start once the work finished (:attr:`done` holds its outcome). Stopping does not cancel
    the work: what it waits on (the database) refuses new work once stopping."""

    def __init__(self, name: str, work: Callable[[], Awaitable[object]]) -> None:
        self.setName(name)
        self._work = work
        self.done: Deferred = Deferred()

    def startService(self) -> None:
        Service.startService(self)
        self.done = ensureDeferred(self._work())
