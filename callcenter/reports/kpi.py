"""Key figures per interval, queue, channel and agent, from interaction facts (pure).

An interaction counts in the interval in which it was **queued** (``queued_at``), whatever
the interval of its answer or end: a call queued at 09:14:50 and answered at 09:15:20 is
offered, handled and timed in the 09:00 quarter hour. Interactions never queued (outbound,
refused) are not part of these reports. The exact definitions (``docs/reports.md``):

- offered: interactions queued in the interval;
- handled: those answered (``answered_at`` set);
- abandoned: those in state ``abandoned`` whose wait (``ended_at - queued_at``) was longer
  than the short-abandon threshold; the others are **short abandons**, counted apart and
  left out of the abandon rate and the service level;
- abandon rate = abandoned / (offered - short abandons);
- service level = answered within T / (answered + abandoned after T), T the ``within`` of
  the interaction's queue target; "within" means a wait <= T, "after" a wait > T;
  abandons between the short threshold and T count in neither part; None when the
  denominator is 0;
- ASA = total wait of handled interactions / handled;
- AHT = (talk + wrap-up) / finished handles, talk = ``ended_at - answered_at``, wrap-up =
  ``wrap_up_ended_at - ended_at``; a handle is finished once wrap-up ended (or the
  interaction completed without wrap-up);
- max wait = the longest wait of an answered or abandoned interaction (short ones too);
- occupancy (per agent, when state spans are given) = busy / (busy + available) time,
  busy meaning ``busy`` or ``wrap_up``; ``not_ready`` time counts in neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from callcenter.reports.intervals import Interval, intervals_between

DIMENSIONS = ("queue", "channel", "agent")
BUSY_STATES = frozenset({"busy", "wrap_up"})
STAFFED_STATES = BUSY_STATES | {"available"}


class InvalidDimension(ValueError):
    """A ``group_by`` name is not one of :data:`DIMENSIONS` or is repeated."""


@dataclass(frozen=True)
class InteractionFact:
    """What the reports need of one interaction: where it went and its lifecycle instants."""

    id: int
    channel: str
    queue: str | None
    agent: str | None
    state: str
    queued_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wrap_up_ended_at: datetime | None
    disposition: str | None = None


@dataclass(frozen=True)
class AgentStateSpan:
    """An agent in ``state`` (``available``, ``busy``, ``wrap_up``, ``not_ready``) over [start, end)."""

    agent: str
    state: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ServiceTarget:
    """``percent`` of interactions answered within ``within`` seconds."""

    percent: float
    within: float


@dataclass(frozen=True)
class KpiRules:
    """Thresholds of the calculation: short abandons and each queue's service-level target."""

    short_abandon: float = 5.0
    targets: Mapping[str, ServiceTarget] = field(default_factory=dict)
    default_target: ServiceTarget = ServiceTarget(80.0, 20.0)

    def target(self, queue: str | None) -> ServiceTarget:
        """The target of ``queue``, or the default for an unknown or missing queue."""
        return self.targets.get(queue or "", self.default_target)


@dataclass(frozen=True)
class KpiRow:
    """The figures of one interval and group; ``None`` in a dimension means "all".

    Counts and second totals are kept so rows can be added up (:func:`total`); the rates and
    averages are derived from them and are None when their denominator is 0.
    """

    interval: Interval
    queue: str | None
    channel: str | None
    agent: str | None
    offered: int = 0
    handled: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_within: int = 0
    abandoned_after: int = 0
    wait_total: float = 0.0
    handle_count: int = 0
    handle_total: float = 0.0
    max_wait: float = 0.0
    busy_seconds: float = 0.0
    staffed_seconds: float = 0.0

    @property
    def abandon_rate(self) -> float | None:
        """abandoned / (offered - short abandons), 0..1."""
        return abandon_rate(self)

    @property
    def service_level(self) -> float | None:
        """answered within T / (answered + abandoned after T), 0..1."""
        return service_level(self)

    @property
    def asa(self) -> float | None:
        """Average speed of answer, seconds."""
        return asa(self)

    @property
    def aht(self) -> float | None:
        """Average handle time (talk + wrap-up), seconds."""
        return aht(self)

    @property
    def occupancy(self) -> float | None:
        """busy / (busy + available) time, 0..1; None without state spans."""
        return _ratio(self.busy_seconds, self.staffed_seconds)


# The additive figures of a row; see :func:`total`.
_COUNTS = ("offered", "handled", "abandoned", "short_abandoned", "answered_within", "abandoned_after",
           "wait_total", "handle_count", "handle_total")


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


# The derived figures, for a report row and for today's live counters alike (any object
# with the additive counts of :data:`_COUNTS`).

def abandon_rate(counts: Any) -> float | None:
    """abandoned / (offered - short abandons), 0..1; None when nothing was offered."""
    return _ratio(counts.abandoned, counts.offered - counts.short_abandoned)


def service_level(counts: Any) -> float | None:
    """answered within T / (answered + abandoned after T), 0..1; None with no such contact."""
    return _ratio(counts.answered_within, counts.handled + counts.abandoned_after)


def asa(counts: Any) -> float | None:
    """Average speed of answer, seconds; None before the first answer."""
    return _ratio(counts.wait_total, counts.handled)


def aht(counts: Any) -> float | None:
    """Average handle time (talk + wrap-up), seconds; None before the first finished handle."""
    return _ratio(counts.handle_total, counts.handle_count)


def fact_of(interaction: Any) -> InteractionFact:
    """The :class:`InteractionFact` of a record's interaction (any object with its fields)."""
    return InteractionFact(interaction.id, interaction.channel, interaction.queue, interaction.agent,
                           interaction.state, interaction.queued_at, interaction.answered_at,
                           interaction.ended_at, interaction.wrap_up_ended_at, interaction.disposition)


def _seconds(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds())


class Tally:
    """The mutable counts of one row while facts are added (a frozen row per fact is slow);
    today's live figures (:mod:`callcenter.livestats`) keep one per queue."""

    __slots__ = _COUNTS + ("max_wait",)

    def __init__(self) -> None:
        for name in Tally.__slots__:
            setattr(self, name, 0)

    @classmethod
    def of(cls, fact: InteractionFact, rules: KpiRules) -> "Tally":
        """The counts of one fact alone (empty when it was never queued)."""
        tally = cls()
        if fact.queued_at is not None:
            tally.add(fact, rules)
        return tally

    def merge(self, other: "Tally", sign: int = 1) -> None:
        """Add ``other``'s additive counts (``sign=-1``: take them away; ``max_wait`` only grows)."""
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + sign * getattr(other, name))
        self.max_wait = max(self.max_wait, other.max_wait)

    def add(self, fact: InteractionFact, rules: KpiRules) -> None:
        """Count ``fact`` (which has a ``queued_at``) as defined in the module docstring."""
        within = rules.target(fact.queue).within
        self.offered += 1
        if fact.answered_at is not None:
            wait = _seconds(fact.queued_at, fact.answered_at)
            self.handled += 1
            self.wait_total += wait
            self.answered_within += wait <= within
            self.max_wait = max(self.max_wait, wait)
            if fact.ended_at is not None and (fact.wrap_up_ended_at is not None or fact.state == "completed"):
                self.handle_count += 1
                self.handle_total += _seconds(fact.answered_at, fact.wrap_up_ended_at or fact.ended_at)
        elif fact.state == "abandoned" and fact.ended_at is not None:
            wait = _seconds(fact.queued_at, fact.ended_at)
            self.max_wait = max(self.max_wait, wait)
            if wait <= rules.short_abandon:
                self.short_abandoned += 1
            else:
                self.abandoned += 1
                self.abandoned_after += wait > within

    def row(self, slot: Interval, dims: tuple[str, ...], key: tuple[str, ...]) -> KpiRow:
        """The frozen row of these counts."""
        named = dict(zip(dims, key))
        return KpiRow(slot, named.get("queue"), named.get("channel"), named.get("agent"),
                      **{name: getattr(self, name) for name in Tally.__slots__})


def _check_dimensions(group_by: Sequence[str]) -> tuple[str, ...]:
    dims = tuple(group_by)
    if any(d not in DIMENSIONS for d in dims) or len(set(dims)) != len(dims):
        raise InvalidDimension(f"group_by takes distinct names among {', '.join(DIMENSIONS)}, got {dims!r}")
    return dims


def _key(fact: InteractionFact, dims: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(getattr(fact, d) or "" for d in dims)


def compute_report(
    facts: Iterable[InteractionFact],
    start: datetime,
    end: datetime,
    granularity: str,
    tz: ZoneInfo,
    rules: KpiRules,
    group_by: Sequence[str] = (),
    groups: Iterable[tuple[str, ...]] = (),
    spans: Iterable[AgentStateSpan] = (),
) -> list[KpiRow]:
    """One row per interval of ``[start, end)`` and group, ordered by interval then group.

    ``group_by`` names the dimensions (any of :data:`DIMENSIONS`); a group is the tuple of the
    fact's values in that order ("" where the fact has none, e.g. the agent of an abandoned
    call). Every group seen in the facts or listed in ``groups`` gets a row in every
    interval, empty intervals included. Facts queued outside the range are ignored.
    ``spans`` give agent occupancy; they are used when ``agent`` is a dimension (each
    group's busy and staffed time is its agent's) or when there is no dimension (all
    agents). Raises :class:`InvalidDimension`, or ``InvalidGranularity`` from the intervals.
    """
    dims = _check_dimensions(group_by)
    slots = list(intervals_between(start, end, granularity, tz))
    keys: set[tuple[str, ...]] = {tuple(g) for g in groups} if dims else {()}
    tallies: dict[tuple[datetime, tuple[str, ...]], Tally] = {}
    for fact in facts:
        if fact.queued_at is None or not start <= fact.queued_at < end:
            continue
        slot = _slot_of(slots, fact.queued_at)
        key = _key(fact, dims)
        keys.add(key)
        tally = tallies.get((slot.start, key))
        if tally is None:
            tally = tallies[(slot.start, key)] = Tally()
        tally.add(fact, rules)
    # Occupancy is the agent's, not a queue's or channel's: it is given to an agent-only
    # grouping or to the all-in-one grouping, never split where it would be counted twice.
    with_occupancy = dims in ((), ("agent",))
    occupancy = _occupancy(spans, slots) if with_occupancy else {}
    out = []
    for slot in slots:
        for key in sorted(keys):
            row = (tallies.get((slot.start, key)) or Tally()).row(slot, dims, key)
            if with_occupancy:
                busy, staffed = occupancy.get((slot.start, key[0] if dims else None), (0.0, 0.0))
                row = replace(row, busy_seconds=busy, staffed_seconds=staffed)
            out.append(row)
    return out


def _slot_of(slots: Sequence[Interval], instant: datetime) -> Interval:
    # Bisect on the starts: the slots are contiguous and ordered.
    lo, hi = 0, len(slots) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if slots[mid].start <= instant:
            lo = mid
        else:
            hi = mid - 1
    return slots[lo]


def _occupancy(spans: Iterable[AgentStateSpan], slots: Sequence[Interval]) -> dict[tuple[datetime, str | None], tuple[float, float]]:
    """(slot start, agent) -> (busy, staffed) seconds; agent None holds every agent's sum."""
    out: dict[tuple[datetime, str | None], tuple[float, float]] = {}
    for span in spans:
        if span.state not in STAFFED_STATES:
            continue
        for slot in slots:
            overlap = _seconds(max(span.start, slot.start), min(span.end, slot.end))
            if overlap <= 0:
                continue
            busy = overlap if span.state in BUSY_STATES else 0.0
            for who in (span.agent, None):
                b, s = out.get((slot.start, who), (0.0, 0.0))
                out[(slot.start, who)] = (b + busy, s + overlap)
    return out


def total(rows: Iterable[KpiRow], interval: Interval, queue: str | None = None, channel: str | None = None,
          agent: str | None = None) -> KpiRow:
    """The sum of ``rows`` as one row labelled ``interval`` and the given dimensions.

    Counts and second totals add up; ``max_wait`` is the largest; the derived rates are
    then recomputed from the sums, so a total's service level is not an average of rates.
    """
    acc = KpiRow(interval, queue, channel, agent)
    sums = _COUNTS + ("busy_seconds", "staffed_seconds")
    for row in rows:
        acc = replace(acc, max_wait=max(acc.max_wait, row.max_wait),
                      **{name: getattr(acc, name) + getattr(row, name) for name in sums})
    return acc


def rules_from_settings(settings: Any, short_abandon: float) -> KpiRules:
    """The :class:`KpiRules` of validated settings: each queue's ``service_level`` target."""
    targets = {name: ServiceTarget(q.service_level.percent, q.service_level.within)
               for name, q in settings.queues.items()}
    return KpiRules(short_abandon=short_abandon, targets=targets)
