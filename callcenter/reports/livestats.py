"""Today's figures per queue, channel and agent, kept live from the record's committed writes.

The supervisor dashboard, ``/metrics`` and the alerts read these. They are the reports'
figures (:mod:`callcenter.reports.kpi`, docs/reports.md) of the queue legs entered since
local midnight in the site's time zone, derived by the same function
(:func:`callcenter.reports.legs.legs_of`) from the same log:

- **live**: every committed write publishes its log entries
  (:class:`~callcenter.runtime.events.InteractionEventAppended`, with their details) and the row as it
  now stands (:class:`~callcenter.runtime.events.InteractionCreated`,
  :class:`~callcenter.runtime.events.InteractionStateChanged`); the contact's legs are derived again
  and replace what it counted before. That derivation waits until a figure is read: the
  contacts written since the last read are counted again then, once each, in the order they
  were written (a call's dozen writes during a burst cost one derivation, not a dozen, and no
  reader ever sees anything but the figures of every write committed so far). Log entries of
  kinds that shape no leg (:data:`~callcenter.reports.legs.SHAPING_KINDS`) are not kept;
- **on start**: :meth:`LiveStats.recompute` reads today's contact histories with the reports'
  query. Writes committed while it reads are held and applied after it, in order; an entry
  already read (same log id) is not applied twice. Until it is done :attr:`LiveStats.ready`
  is False.

"Today" rolls over at local midnight by itself when a clock is given (:meth:`start`), not
at the first write after it. Besides today's counters, :meth:`lifetime` keeps counters that
never go back to zero (for Prometheus): every leg counted since the process started,
today's included. Agents' state changes are counted for today's occupancy and handed to
``state_log`` (:class:`callcenter.records.reporting.AgentStateLog`) to be stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable
from zoneinfo import ZoneInfo

from twisted.internet.defer import Deferred

from callcenter.runtime.events import EventBus, InteractionCreated, InteractionEventAppended, InteractionStateChanged
from callcenter.reports import kpi
from callcenter.reports.kpi import KpiRules, Tally
from callcenter.reports.legs import (SHAPING_KINDS, ContactHeader, ContactHistory, Leg, LogEntry, header_of,
                                     legs_of)
from callcenter.reports.intervals import local_midnight

ReadHistories = Callable[[dt.datetime, dt.datetime], Awaitable[list[ContactHistory]]]
Key = tuple[str, str]  # (queue, channel)


class QueueCounters(Tally):
    """One queue's (or queue and channel's) counts for today and its derived figures."""

    __slots__ = ("definition",)

    def __init__(self, definition: str = "default") -> None:
        super().__init__()
        self.definition = definition

    def service_level(self) -> float | None:
        """See :func:`callcenter.reports.kpi.service_level` (the site's definition); 4 places."""
        return _round(kpi.service_level(self, self.definition), 4)

    def average_speed_of_answer(self) -> float | None:
        """See :func:`callcenter.reports.kpi.asa`; seconds, one decimal."""
        return _round(kpi.asa(self), 1)

    def average_handle_time(self) -> float | None:
        """See :func:`callcenter.reports.kpi.aht`; seconds, one decimal."""
        return _round(kpi.aht(self), 1)

    def abandon_rate(self) -> float | None:
        """See :func:`callcenter.reports.kpi.abandon_rate`; 4 places."""
        return _round(kpi.abandon_rate(self), 4)

    @property
    def handled(self) -> int:
        """Answered legs."""
        return self.answered

    def today_json(self) -> dict[str, Any]:
        """The figures the dashboard shows, JSON-ready."""
        return {"offered": self.offered, "handled": self.answered, "answered": self.answered,
                "abandoned": self.abandoned, "short_abandoned": self.short_abandoned,
                "overflowed_out": self.overflowed_out, "transferred_out": self.transferred_out,
                "callbacks_requested": self.callbacks_requested, "abandon_rate": self.abandon_rate(),
                "service_level": self.service_level(), "service_level_definition": self.definition,
                "asa": self.average_speed_of_answer(), "aht": self.average_handle_time()}


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


@dataclass
class AgentCounters:
    """One agent's day: legs answered, seconds working (busy or wrap-up) and seconds staffed
    (available, busy or wrap-up). Occupancy is working over staffed time."""

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


@dataclass
class _Contact:
    header: ContactHeader | None = None
    entries: list[LogEntry] = field(default_factory=list)
    last_id: int = 0
    counted: list[tuple[dt.date, Key, str | None, Leg]] = field(default_factory=list)


class LiveStats:
    """Today's counters; ``bus`` (when given) feeds them with every committed write.

    ``clock`` (a :class:`callcenter.runtime.clock.Clock`) makes the day roll over at local midnight
    once :meth:`start` is called; ``state_log`` (with ``record(agent, state, reason, at)``)
    stores agents' state changes.
    """

    def __init__(self, timezone: str, rules: KpiRules, bus: EventBus | None = None, clock: Any = None,
                 state_log: Any = None) -> None:
        self.timezone = ZoneInfo(timezone)
        self.rules = rules
        self._day: dt.date | None = None
        self._agents: dict[str, AgentCounters] = {}
        self.ready = bus is None
        self._clock = clock
        self._state_log = state_log
        self._today: dict[Key, Tally] = {}
        self._before: dict[Key, Tally] = {}         # days before today, since the process started
        self._contacts: dict[int, _Contact] = {}
        self._dirty: dict[int, None] = {}           # contacts written since they were last counted, in order
        self._held: list[Any] | None = None if self.ready else []
        self._waiting: list[Deferred] = []
        self._timer: Any = None
        if bus is not None:
            for kind in (InteractionEventAppended, InteractionCreated, InteractionStateChanged):
                bus.subscribe(kind, self._on_write)

    @property
    def day(self) -> dt.date | None:
        """Today (the local day the counters are of), None before the first write or start."""
        self._settle()
        return self._day

    @property
    def agents(self) -> dict[str, AgentCounters]:
        """Every agent's counters, by login."""
        self._settle()
        return self._agents

    # --- the day ---

    def start(self) -> None:
        """Roll over at every local midnight from now on (needs the clock); have the state log
        close what a previous process left open."""
        self._roll_to(dt.datetime.fromtimestamp(self._clock.now(), self.timezone).date())
        self._arm()
        if self._state_log is not None:
            self._state_log.kick()  # the states a previous process left open end now

    def stop(self) -> None:
        """Stop rolling over."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _arm(self) -> None:
        midnight = local_midnight(self._day + dt.timedelta(days=1), self.timezone).timestamp()
        self._timer = self._clock.call_later(max(0.0, midnight - self._clock.now()), self._midnight)

    def _midnight(self) -> None:
        self._roll_to(dt.datetime.fromtimestamp(self._clock.now(), self.timezone).date())
        self._arm()

    def _roll_to(self, day: dt.date) -> None:
        """Count what was written so far, then make ``day`` today (:meth:`_roll`)."""
        if self._day is not None and day <= self._day:
            return
        self._settle()
        self._roll(day)

    def _roll(self, day: dt.date) -> None:
        """Make ``day`` today: today's counts join the earlier days', finished contacts are forgotten."""
        if self._day is not None and day <= self._day:
            return
        for key, tally in self._today.items():
            self._before.setdefault(key, Tally()).merge(tally)
        self._today = {}
        self._day = day
        dirty = self._dirty  # written, not yet counted: kept until they are
        for iid in [i for i, c in self._contacts.items() if i not in dirty and _finished(c)]:
            del self._contacts[iid]
        for contact in self._contacts.values():
            for item in contact.counted:
                if item[0] == day:  # entered on the new day before it began here: count it now
                    self._add(*item, 1)
        start = local_midnight(day, self.timezone).timestamp()
        for counters in self._agents.values():
            counters.handled, counters.working, counters.staffed = 0, 0.0, 0.0
            counters.since = max(counters.since, start)

    def _local_day(self, at: dt.datetime) -> dt.date:
        return at.astimezone(self.timezone).date()

    # --- the record's contacts ---

    def _on_write(self, event: Any) -> None:
        if self._held is not None:
            self._held.append(event)
        else:
            self._apply(event)

    def _apply(self, event: Any) -> None:
        if isinstance(event, InteractionEventAppended):
            if event.kind not in SHAPING_KINDS:
                return  # shapes no leg: nothing to count again
            at = dt.datetime.fromtimestamp(event.at, dt.timezone.utc)
            self.append(event.interaction_id, LogEntry(at, event.kind, dict(event.details or {}), event.event_id))
        elif event.interaction is not None:
            self.observe(event.interaction)

    def append(self, iid: int, entry: LogEntry) -> None:
        """Add one entry of contact ``iid``'s log (ignored when already seen); counted again
        when a figure is next read."""
        contact = self._contacts.get(iid)
        if contact is None:
            contact = self._contacts[iid] = _Contact()
        if entry.id and entry.id <= contact.last_id:
            return
        contact.entries.append(entry)
        if entry.id > contact.last_id:
            contact.last_id = entry.id
        self._dirty[iid] = None

    def observe(self, interaction: Any) -> None:
        """The contact's row as it now stands (channel, direction, disposition...); counted
        again when a figure is next read."""
        iid = interaction.id
        contact = self._contacts.get(iid)
        if contact is None:
            contact = self._contacts[iid] = _Contact()
        header = header_of(interaction)
        if header != contact.header:
            contact.header = header
            self._dirty[iid] = None

    def load(self, history: ContactHistory) -> None:
        """Take a contact's history as read from the record (replacing what was known of it)."""
        contact = self._contacts.setdefault(history.header.id, _Contact())
        contact.header = history.header
        contact.entries = list(history.entries)
        contact.last_id = max((e.id for e in history.entries), default=0)
        self._dirty[history.header.id] = None

    def _settle(self) -> None:
        """Count again every contact written since it was last counted, in the order written."""
        dirty = self._dirty
        while dirty:
            iid = next(iter(dirty))
            del dirty[iid]
            contact = self._contacts.get(iid)
            if contact is not None:
                self._count(iid, contact)

    def _count(self, iid: int, contact: _Contact) -> None:
        if contact.header is None:
            return  # its row comes with the write's next event
        legs = legs_of(ContactHistory(contact.header, tuple(contact.entries)))
        local_day = self._local_day
        days = [local_day(leg.entered_at) for leg in legs]
        for day in days:
            if self._day is None or (day > self._day and self._clock is None):
                self._roll(day)  # without a clock, a write of a later day starts that day
        self._contacts[iid] = contact  # a rollover may have forgotten it as finished
        counted = [(day, (leg.queue, leg.channel), leg.agent, leg) for day, leg in zip(days, legs)]
        if counted == contact.counted:
            return  # its legs did not change (a write of something legs do not show)
        for item in contact.counted:
            self._add(*item, -1)
        contact.counted = counted
        for item in counted:
            self._add(*item, 1)

    def _add(self, day: dt.date, key: Key, agent: str | None, leg: Leg, sign: int) -> None:
        # A leg of a later day than the clock's today (the midnight timer is about to fire)
        # waits for its day: it is counted again then, when the contact next changes.
        table = self._today if day == self._day else self._before if day < self._day else None
        if table is None:
            return
        tally = table.get(key)
        if tally is None:
            tally = table[key] = Tally()
        tally.add(leg, self.rules, sign)
        if table is self._today and agent and leg.answered_at is not None and not leg.callback:
            self._agent(agent).handled += sign

    async def recompute(self, read_histories: ReadHistories, now: float) -> int:
        """Rebuild today's counters from the record: ``read_histories(start, end)`` is the
        reports' query (:meth:`callcenter.records.reporting.ReportingReader.histories`) over
        today's local day. Writes published meanwhile are applied after, in order. Returns
        how many legs today has; read errors propagate, leaving the counters live from the
        writes seen (and :attr:`ready` True, so nothing waits for ever)."""
        day = dt.datetime.fromtimestamp(now, self.timezone).date()
        self._roll_to(day)
        start, end = local_midnight(day, self.timezone), local_midnight(day + dt.timedelta(days=1), self.timezone)
        try:
            for history in await read_histories(start, end):
                self.load(history)
        finally:
            held, self._held = self._held or [], None
            for event in held:
                self._apply(event)
            self.ready = True
            waiting, self._waiting = self._waiting, []
            for d in waiting:
                d.callback(None)
        self._settle()
        return sum(t.offered + t.callbacks_offered for t in self._today.values())

    async def recomputed(self) -> None:
        """Return once :meth:`recompute` has finished (at once when it has, or with no bus)."""
        if not self.ready:
            d: Deferred = Deferred()
            self._waiting.append(d)
            await d

    def reconfigure(self, rules: KpiRules) -> None:
        """Count today's legs again with new targets and thresholds (after a config reload)."""
        self._settle()
        self.rules = rules
        self._today = {}
        for counters in self._agents.values():
            counters.handled = 0
        for contact in self._contacts.values():
            contact.counted = [item for item in contact.counted if item[0] != self._day]
            for item in [i for i in _legs_today(contact, self) if i[0] == self._day]:
                contact.counted.append(item)
                self._add(*item, 1)

    # --- reading ---

    def queue(self, name: str, channel: str | None = None) -> QueueCounters:
        """Today's counters of queue ``name`` (every channel, or ``channel``'s alone)."""
        self._settle()
        out = QueueCounters(self.rules.service_level)
        for (queue, ch), tally in self._today.items():
            if queue == name and channel in (None, ch):
                out.merge(tally)
        return out

    def keys(self) -> list[Key]:
        """Every (queue, channel) counted today or before, sorted."""
        self._settle()
        return sorted(set(self._today) | set(self._before))

    def lifetime(self, queue: str, channel: str) -> Tally:
        """Counts of every leg of ``(queue, channel)`` since the process started (never reset)."""
        self._settle()
        out = Tally()
        for table in (self._before, self._today):
            if (queue, channel) in table:
                out.merge(table[(queue, channel)])
        return out

    # --- agents ---

    def agent(self, name: str) -> AgentCounters:
        """The counters of agent ``name`` (created empty)."""
        self._settle()
        return self._agent(name)

    def _agent(self, name: str) -> AgentCounters:
        counters = self._agents.get(name)
        if counters is None:
            counters = self._agents[name] = AgentCounters()
        return counters

    def agent_state(self, name: str, state: str, at: float, reason: str | None = None) -> None:
        """The agent's state changed at ``at``: close the time spent in the previous one, and
        store the change."""
        when = dt.datetime.fromtimestamp(at, dt.timezone.utc)
        day = self._local_day(when)
        if self._day is None or day > self._day:
            self._roll_to(day)
        a = self._agent(name)
        spent = max(0.0, at - a.since) if a.since else 0.0
        if a.state in kpi.STAFFED_STATES:
            a.staffed += spent
            if a.state in kpi.BUSY_STATES:
                a.working += spent
        a.state, a.since = state, at
        if self._state_log is not None:
            self._state_log.record(name, state, reason, when)


def _legs_today(contact: _Contact, stats: LiveStats) -> list[tuple[dt.date, Key, str | None, Leg]]:
    if contact.header is None:
        return []
    return [(stats._local_day(leg.entered_at), (leg.queue, leg.channel), leg.agent, leg)  # noqa: SLF001
            for leg in legs_of(ContactHistory(contact.header, tuple(contact.entries)))]


def _finished(contact: _Contact) -> bool:
    """No leg of the contact can change any more (every leg left its queue and was handled)."""
    if not contact.counted:
        return contact.header is not None
    return all(leg.outcome != "waiting" and (leg.answered_at is None or leg.handled_until is not None)
               for _, _, _, leg in contact.counted)
