"""Deadlines of one length for many sessions on one reactor timer (FastAGI's environment and
command deadlines).

A burst of callers opens hundreds of sessions at once, each awaiting its environment and then
the answer to each command in turn. A reactor timer per deadline (created, moved or cancelled
at every command) costs as much as the command itself; deadlines of one length start in the
order they end, so one timer armed for the earliest serves them all.
"""

from __future__ import annotations

from typing import Callable

from twisted.logger import Logger

from callcenter.runtime.clock import Clock

log = Logger(namespace="channels.telephony.fastagi")


class Deadlines:
    """Deadlines of one length (``seconds``) for many sessions, kept on one reactor timer.

    :meth:`start` gives a session its deadline ``seconds`` from now (moving it on if it had
    one), :meth:`clear` takes it away; ``overdue(session)`` is called for each session whose
    deadline passed. Since every deadline has the same length, the sessions are in deadline
    order as they were started, and the one timer is armed for the earliest only: a burst of
    sessions costs no timer per session or per command, and none is left when no session has
    a deadline.
    """

    def __init__(self, clock: Clock, seconds: float, overdue: Callable[[object], None]) -> None:
        self._clock = clock
        self.seconds = seconds
        self._overdue = overdue
        self._due: dict[object, float] = {}
        self._timer: object = None

    def start(self, session: object) -> None:
        """``session``'s deadline is ``seconds`` from now."""
        due = self._due
        due.pop(session, None)
        due[session] = self._clock.now() + self.seconds
        if self._timer is None:
            self._timer = self._clock.call_later(self.seconds, self._fire)

    def clear(self, session: object) -> None:
        """``session`` has no deadline any more."""
        due = self._due
        if due.pop(session, None) is not None and not due and self._timer is not None:
            self._timer.cancel()  # type: ignore[attr-defined]
            self._timer = None

    def __len__(self) -> int:
        """How many sessions have a deadline."""
        return len(self._due)

    def _fire(self) -> None:
        self._timer = None
        due = self._due
        now = self._clock.now()
        while due:
            session, at = next(iter(due.items()))
            if at > now:
                if self._timer is None:
                    self._timer = self._clock.call_later(at - now, self._fire)
                else:  # an overdue session's handling started another deadline meanwhile
                    self._timer.reset(at - now)  # type: ignore[attr-defined]
                return
            del due[session]
            try:
                self._overdue(session)
            except Exception:
                log.failure("FastAGI deadline handling failed")
