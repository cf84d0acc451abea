"""Service-tree building blocks shared by the composition root."""

from __future__ import annotations

from typing import Awaitable, Callable

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, ensureDeferred, maybeDeferred


class OrderedMultiService(MultiService):
    """A MultiService that starts children in order and stops them one by one in reverse.

    Twisted's MultiService stops every child at once; here a later child (the HTTP listener,
    a channel) has finished draining before an earlier one it depends on (the database)
    starts stopping, so no in-flight write finds its database gone.
    """

    def stopService(self) -> Deferred:
        Service.stopService(self)
        return ensureDeferred(self._stop_in_reverse())

    async def _stop_in_reverse(self) -> None:
        for child in reversed(list(self)):
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
