"""The running reactor with every timer on a virtual clock, for replaying recorded time.

Sockets, threads and ``callFromThread`` are the real reactor's; ``seconds()`` and ``callLater``
are a :class:`twisted.internet.task.Clock` that only :meth:`VirtualTimeReactor.advance_to`
moves, so a recorded half hour replays in the time its I/O takes and every timer of the server
(offer expiry, wrap-up, AMI keep-alive, reconnect backoff) fires at its recorded moment.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock


class VirtualTimeReactor:
    """``reactor`` for I/O, a virtual clock starting at ``start`` (epoch seconds) for time."""

    def __init__(self, reactor: Any, start: float) -> None:
        self._reactor = reactor
        self.clock = Clock()
        self.clock.advance(start)

    def seconds(self) -> float:
        """The virtual time, epoch seconds."""
        return self.clock.seconds()

    def callLater(self, delay: float, fn: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - twisted API
        """Schedule ``fn`` on the virtual clock."""
        return self.clock.callLater(delay, fn, *args, **kwargs)

    def getDelayedCalls(self) -> list[Any]:  # noqa: N802 - twisted API
        """The timers pending on the virtual clock."""
        return self.clock.getDelayedCalls()

    def advance_to(self, when: float) -> None:
        """Move the virtual time to ``when`` (never backwards), running every timer due on the way
        in order, each at its own moment."""
        while True:
            due = [c.getTime() for c in self.clock.getDelayedCalls() if c.getTime() <= when]
            step_to = min(due) if due else when
            self.clock.advance(max(0.0, step_to - self.clock.seconds()))
            if not due:
                return

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)
