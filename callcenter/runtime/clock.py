"""The clock wrapper: the one place that reads the time or schedules a call.

Everything that needs the time gets a :class:`Clock` built on an ``IReactorTime``
(the running reactor in the server, ``twisted.internet.task.Clock`` in tests), so no
module reads the wall clock directly and tests can move time by hand.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime


class Clock:
    """Time and delayed calls, from an injected ``IReactorTime``.

    ``now()`` is seconds since the Unix epoch as a float (the reactor's ``seconds()``);
    ``utcnow()`` is the same instant as an aware UTC datetime.
    """

    def __init__(self, reactor: IReactorTime) -> None:
        self._reactor = reactor

    def now(self) -> float:
        """Seconds since the epoch, as the reactor sees them."""
        return self._reactor.seconds()

    def utcnow(self) -> datetime:
        """The current instant as a timezone-aware UTC datetime."""
        return datetime.fromtimestamp(self._reactor.seconds(), tz=timezone.utc)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> IDelayedCall:
        """Run ``fn(*args, **kwargs)`` after ``delay`` seconds; returns the cancellable call."""
        return self._reactor.callLater(delay, fn, *args, **kwargs)
