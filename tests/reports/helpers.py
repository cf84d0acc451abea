"""Shared builders of the report tests: interaction facts at offsets from a fixed instant."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count

from callcenter.reports.kpi import InteractionFact

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)  # a Monday, 09:00 in New York (EST)
_ids = count(1)


def at(seconds: float) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def answered(queued: float, wait: float, talk: float = 60.0, wrap: float | None = 10.0, *, queue: str = "support",
             channel: str = "voice", agent: str = "alice", disposition: str | None = "resolved") -> InteractionFact:
    """A completed interaction queued at ``T0 + queued`` s, answered ``wait`` s later."""
    answer = queued + wait
    return InteractionFact(
        id=next(_ids), channel=channel, queue=queue, agent=agent,
        state="completed" if wrap is not None else "wrap_up",
        queued_at=at(queued), answered_at=at(answer), ended_at=at(answer + talk),
        wrap_up_ended_at=at(answer + talk + wrap) if wrap is not None else None, disposition=disposition)


def abandoned(queued: float, wait: float, *, queue: str = "support", channel: str = "voice") -> InteractionFact:
    """An interaction queued at ``T0 + queued`` s whose customer gave up ``wait`` s later."""
    return InteractionFact(id=next(_ids), channel=channel, queue=queue, agent=None, state="abandoned",
                           queued_at=at(queued), answered_at=None, ended_at=at(queued + wait),
                           wrap_up_ended_at=None)


def waiting(queued: float, *, queue: str = "support", channel: str = "voice") -> InteractionFact:
    """An interaction still waiting, queued at ``T0 + queued`` s."""
    return InteractionFact(id=next(_ids), channel=channel, queue=queue, agent=None, state="queued",
                           queued_at=at(queued), answered_at=None, ended_at=None, wrap_up_ended_at=None)
