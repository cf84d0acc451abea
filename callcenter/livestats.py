"""Today's figures per queue and per agent, kept live from the record and recomputed from it on start.

The supervisor dashboard, ``/metrics`` and the alerts read these. They are the historical
reports' figures (:mod:`callcenter.reports.kpi`, docs/reports.md) for the contacts queued
since local midnight in the site's time zone: offered counts contacts (one call offered to
three agents is one offered contact), handled, abandoned, short abandons, service level,
ASA and AHT as defined there, and each agent's handled count.

Both ways in go through the same definition, so live and recomputed figures agree:

- **live**: every committed interaction write publishes the row as it now stands
  (:class:`~callcenter.events.InteractionCreated`, :class:`~callcenter.events.InteractionStateChanged`);
  :meth:`LiveStats.observe` replaces that contact's contribution with the new one;
- **on start**: :meth:`LiveStats.recompute` reads today's rows with the reports' query and
  observes each. Writes committed while it reads are held and applied after it, in order,
  so none is lost or counted twice. Until it is done :attr:`LiveStats.ready` is False.

Agents' working and staffed time (occupancy) come from the routing core's agent state
decisions, which the record does not keep: they count from the start of the process.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from zoneinfo import ZoneInfo

from twisted.internet.defer import Deferred

from callcenter.events import EventBus, InteractionCreated, InteractionStateChanged
from callcenter.reports import kpi
from callcenter.reports.kpi import InteractionFact, KpiRules, Tally

ReadFacts = Callable[[dt.datetime, dt.datetime], Awaitable[list[InteractionFact]]]


class QueueCounters(Tally):
    """One queue's counts for today (a report row's additive counts) and its derived figures."""

    __slots__ = ()

    def service_level(self) -> float | None:
        """See :func:`callcenter.reports.kpi.service_level`; rounded to 4 places."""
        return _round(kpi.service_level(self), 4)

    def average_speed_of_answer(self) -> float | None:
        """See :func:`callcenter.reports.kpi.asa`; seconds, one decimal."""
        return _round(kpi.asa(self), 1)

    def average_handle_time(self) -> float | None:
        """See :func:`callcenter.reports.kpi.aht`; seconds, one decimal."""
        return _round(kpi.aht(self), 1)

    def abandon_rate(self) -> float | None:
        """See :func:`callcenter.reports.kpi.abandon_rate`; rounded to 4 places."""
        return _round(kpi.abandon_rate(self), 4)


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


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
        if self.state in kpi.STAFFED_STATES:
            staffed += now - self.since
            if self.state in kpi.BUSY_STATES:
                working += now - self.since
        return round(working / staffed, 4) if staffed > 0 else None


class LiveStats:
    """Today's counters; ``bus`` (when given) feeds :meth:`observe` with every committed write."""

    def __init__(self, timezone: str, rules: KpiRules, bus: EventBus | None = None) -> None:
        self.timezone = ZoneInfo(timezone)
        self.rules = rules
        self.day: dt.date | None = None
        self.queues: dict[str, QueueCounters] = {}
        self.agents: dict[str, AgentCounters] = {}
        self.ready = bus is None
        self._facts: dict[int, InteractionFact] = {}
        self._held: list[Any] | None = None if self.ready else []
        self._waiting: list[Deferred] = []
        if bus is not None:
            bus.subscribe(InteractionCreated, self._on_write)
            bus.subscribe(InteractionStateChanged, self._on_write)

    # --- the record's contacts ---

    def _on_write(self, event: InteractionCreated | InteractionStateChanged) -> None:
        if event.interaction is None:
            return
        if self._held is not None:
            self._held.append(event.interaction)
        else:
            self.observe(event.interaction)

    def observe(self, interaction: Any) -> None:
        """Count ``interaction`` (a record row, or any object with its fields) as it now stands,
        replacing what it counted before. Rows queued before today are not today's; a row
        queued on a later day starts that day's counters."""
        fact = kpi.fact_of(interaction)
        if fact.queued_at is not None:
            self._today(fact.queued_at)
        old = self._facts.get(fact.id)
        if fact.queued_at is None or fact.queued_at.astimezone(self.timezone).date() != self.day:
            if old is not None:
                self._count(old, -1)
                del self._facts[fact.id]
            return
        if old is not None:
            self._count(old, -1)
        self._facts[fact.id] = fact
        self._count(fact, 1)

    def _count(self, fact: InteractionFact, sign: int) -> None:
        self.queue(fact.queue or "").merge(Tally.of(fact, self.rules), sign)
        if fact.agent and fact.answered_at is not None:
            self.agent(fact.agent).handled += sign

    def _today(self, at: dt.datetime) -> None:
        day = at.astimezone(self.timezone).date()
        if self.day is not None and day <= self.day:
            return
        self.day, self.queues, self._facts = day, {}, {}
        start = dt.datetime.combine(day, dt.time(), self.timezone).timestamp()
        for counters in self.agents.values():
            counters.handled, counters.working, counters.staffed = 0, 0.0, 0.0
            counters.since = max(counters.since, start)

    async def recompute(self, read_facts: ReadFacts, now: float) -> int:
        """Rebuild today's counters from the record: ``read_facts(start, end)`` is the reports'
        query (:meth:`callcenter.records.reporting.ReportingReader.facts`) over today's local
        day. Writes published meanwhile are applied after, in order. Returns how many
        contacts today has; read errors propagate, leaving the counters live from the writes
        seen (and :attr:`ready` True, so nothing waits for ever)."""
        day = dt.datetime.fromtimestamp(now, self.timezone).date()
        start = dt.datetime.combine(day, dt.time(), self.timezone)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), self.timezone)
        self._today(start)
        try:
            for fact in await read_facts(start, end):
                self.observe(fact)
        finally:
            held, self._held = self._held or [], None
            for interaction in held:
                self.observe(interaction)
            self.ready = True
            waiting, self._waiting = self._waiting, []
            for d in waiting:
                d.callback(None)
        return len(self._facts)

    async def recomputed(self) -> None:
        """Return once :meth:`recompute` has finished (at once when it has, or with no bus)."""
        if not self.ready:
            d: Deferred = Deferred()
            self._waiting.append(d)
            await d

    def reconfigure(self, rules: KpiRules) -> None:
        """Count today's contacts again with new targets and thresholds (after a config reload)."""
        self.rules, facts = rules, list(self._facts.values())
        self.queues = {}
        for counters in self.agents.values():
            counters.handled = 0
        for fact in facts:
            self._count(fact, 1)

    def queue(self, name: str) -> QueueCounters:
        """The counters of ``name`` (created empty)."""
        return self.queues.setdefault(name, QueueCounters())

    # --- agents ---

    def agent(self, name: str) -> AgentCounters:
        """The counters of agent ``name`` (created empty)."""
        return self.agents.setdefault(name, AgentCounters())

    def agent_state(self, name: str, state: str, at: float) -> None:
        """The agent's state changed at ``at``: close the time spent in the previous one."""
        self._today(dt.datetime.fromtimestamp(at, dt.timezone.utc))
        a = self.agent(name)
        spent = max(0.0, at - a.since) if a.since else 0.0
        if a.state in kpi.STAFFED_STATES:
            a.staffed += spent
            if a.state in kpi.BUSY_STATES:
                a.working += spent
        a.state, a.since = state, at
