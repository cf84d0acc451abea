"""Shared builders of the report tests: contacts' logs at offsets from a fixed instant, and their legs.

Each builder writes the log entries the switchboard writes for such a contact and derives its
legs with :func:`callcenter.reports.legs.legs_of`, the one derivation production uses.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count

from callcenter.reports.legs import ContactHeader, ContactHistory, Leg, LogEntry, legs_of

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)  # a Monday, 09:00 in New York (EST)
_ids = count(1)


def at(seconds: float) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def step(seconds: float, name: str, **details) -> LogEntry:
    """A ``state`` entry of step ``name`` at ``T0 + seconds``."""
    return LogEntry(at(seconds), "state", {"step": name, **details})


def history(queue: str, channel: str, queued: float, *entries: LogEntry, disposition: str | None = None,
            callback_for: int | None = None, direction: str = "inbound") -> ContactHistory:
    """A contact created queued in ``queue`` at ``T0 + queued`` followed by ``entries``."""
    iid = next(_ids)
    head = ContactHeader(iid, channel, direction, queue, disposition, callback_for)
    created = (LogEntry(at(queued), "created", {"state": "queued"}), LogEntry(at(queued), "routed", {"queue": queue}))
    return ContactHistory(head, created + entries)


def _one(h: ContactHistory) -> Leg:
    [leg] = legs_of(h)
    return leg


def answered(queued: float, wait: float, talk: float = 60.0, wrap: float | None = 10.0, *, queue: str = "support",
             channel: str = "voice", agent: str = "alice", disposition: str | None = "resolved") -> Leg:
    """The leg of a contact queued at ``T0 + queued`` s, answered ``wait`` s later, talked
    ``talk`` s and wrapped up ``wrap`` s (None: wrap-up not over)."""
    answer = queued + wait
    entries = [step(answer, "connect", agent=agent), step(answer + talk, "end", agent=agent)]
    if wrap is not None:
        entries.append(step(answer + talk + wrap, "wrap_up_end", agent=agent))
    return _one(history(queue, channel, queued, *entries, disposition=disposition))


def abandoned(queued: float, wait: float, *, queue: str = "support", channel: str = "voice",
              reason: str = "caller_hung_up") -> Leg:
    """The leg of a contact queued at ``T0 + queued`` s whose customer gave up ``wait`` s later."""
    return _one(history(queue, channel, queued, step(queued + wait, "abandon", reason=reason)))


def waiting(queued: float, *, queue: str = "support", channel: str = "voice") -> Leg:
    """The leg of a contact still waiting, queued at ``T0 + queued`` s."""
    return _one(history(queue, channel, queued))
