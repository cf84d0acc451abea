"""Today's live counters per queue, kept by the switchboard as decisions are carried out.

These feed the supervisor dashboard and ``/metrics``; the historical reports recompute the
same figures from the interaction log (:mod:`callcenter.reports`). A day starts at local
midnight in the site's time zone; counters reset on the first event of a new day.

Service level today = answered within the queue's target / (answered + abandoned after the
short-abandon threshold), as in docs/reports.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo


@dataclass
class QueueCounters:
    """One queue's counters for today."""

    offered: int = 0
    handled: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_in_target: int = 0
    wait_total: float = 0.0
    handle_total: float = 0.0
    completed: int = 0

    def service_level(self) -> float | None:
        """Answered within target over answered + abandoned (short abandons excluded)."""
        denominator = self.handled + self.abandoned
        return round(self.answered_in_target / denominator, 4) if denominator else None

    def average_speed_of_answer(self) -> float | None:
        """Mean wait of answered interactions, seconds."""
        return round(self.wait_total / self.handled, 1) if self.handled else None

    def average_handle_time(self) -> float | None:
        """Mean time from answer to completion, seconds."""
        return round(self.handle_total / self.completed, 1) if self.completed else None

    def abandon_rate(self) -> float | None:
        """Abandoned over offered-to-the-queue contacts that ended waiting."""
        ended = self.handled + self.abandoned
        return round(self.abandoned / ended, 4) if ended else None


@dataclass
class AgentCounters:
    """One agent's day: interactions handled, seconds working (busy or wrap-up) and seconds
    staffed (available, busy or wrap-up). Occupancy is working over staffed time."""

    handled: int = 0
    working: float = 0.0
    staffed: float = 0.0
    state: str = "logged_out"
    since: float = 0.0

    def occupancy(self, now: float) -> float | None:
        """Working over staffed seconds today, counting the current state up to ``now``."""
        working, staffed = self.working, self.staffed
        if self.state in ("busy", "wrap_up", "available"):
            staffed += now - self.since
            if self.state != "available":
                working += now - self.since
        return round(working / staffed, 4) if staffed > 0 else None


@dataclass
class LiveStats:
    """Counters by queue for the current local day; times are epoch seconds."""

    timezone: str
    targets: dict[str, float]
    short_abandon: float = 5.0
    day: dt.date | None = None
    queues: dict[str, QueueCounters] = field(default_factory=dict)
    agents: dict[str, AgentCounters] = field(default_factory=dict)
    offers: int = 0
    accepts: int = 0
    abandons: int = 0

    def _today(self, at: float) -> None:
        day = dt.datetime.fromtimestamp(at, ZoneInfo(self.timezone)).date()
        if day != self.day:
            self.day, self.queues = day, {}
            for counters in self.agents.values():
                counters.handled, counters.working, counters.staffed, counters.since = 0, 0.0, 0.0, at

    def queue(self, name: str) -> QueueCounters:
        """The counters of ``name`` (created empty)."""
        return self.queues.setdefault(name, QueueCounters())

    def offered(self, queue: str, at: float) -> None:
        """An offer was made."""
        self._today(at)
        self.offers += 1
        self.queue(queue).offered += 1

    def answered(self, queue: str, waited: float, at: float) -> None:
        """An interaction was accepted after ``waited`` seconds."""
        self._today(at)
        self.accepts += 1
        q = self.queue(queue)
        q.handled += 1
        q.wait_total += waited
        if waited <= self.targets.get(queue, 20.0):
            q.answered_in_target += 1

    def abandoned(self, queue: str, waited: float, at: float) -> None:
        """A customer gave up after ``waited`` seconds."""
        self._today(at)
        self.abandons += 1
        q = self.queue(queue)
        if waited < self.short_abandon:
            q.short_abandoned += 1
        else:
            q.abandoned += 1

    def completed(self, queue: str, handled_for: float, at: float) -> None:
        """Handled work ended after ``handled_for`` seconds with the agent."""
        self._today(at)
        q = self.queue(queue)
        q.completed += 1
        q.handle_total += handled_for

    def agent(self, name: str) -> AgentCounters:
        """The counters of agent ``name`` (created empty)."""
        return self.agents.setdefault(name, AgentCounters())

    def agent_state(self, name: str, state: str, at: float) -> None:
        """The agent's state changed at ``at``: close the time spent in the previous one."""
        self._today(at)
        a = self.agent(name)
        spent = max(0.0, at - a.since) if a.since else 0.0
        if a.state in ("busy", "wrap_up", "available"):
            a.staffed += spent
            if a.state != "available":
                a.working += spent
        a.state, a.since = state, at

    def agent_handled(self, name: str, at: float) -> None:
        """The agent took an interaction."""
        self._today(at)
        self.agent(name).handled += 1

