"""The running reactor with a clock a test moves by hand, for driving a working day quickly."""

from __future__ import annotations

from typing import Any


class SteppedTimeReactor:
    """Everything of ``reactor`` (sockets, threads, delayed calls), but ``seconds()`` is
    ``start`` moved only by :meth:`advance`: a contact can wait 40 s without the test waiting."""

    def __init__(self, reactor: Any, start: float) -> None:
        self._reactor = reactor
        self.now = start

    def seconds(self) -> float:
        """The test's time, epoch seconds."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the test's time forward (timers already armed still run on the real clock)."""
        self.now += seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)
