"""Every contact-center figure, defined once, from queue legs and agents' state history (pure).

The dashboard (:mod:`callcenter.reports.livestats`), the report pages and their CSV, the charts, the
daily summary and ``/metrics`` all count with :class:`Tally` and derive with the functions
below; ``docs/reports.md`` gives each definition with a worked example. A leg
(:class:`~callcenter.reports.legs.Leg`) counts in the interval, queue, channel and agent
(the one who answered it; "" when none did) of its **entry**. ``T`` is the leg's target
``within``: the queue's for voice, the channel's for other channels (an email's 4 hours is
not a call's 20 seconds), see :meth:`KpiRules.target`.

Counts of legs entered:

- offered: legs that entered the queue (a contact offered to three agents is one leg;
  a contact overflowed to a second queue is one leg in each);
- answered: legs answered (``connect``); answered within: with a wait <= T;
- abandoned: legs the customer left unanswered after waiting at least the short-abandon
  threshold; short abandoned: strictly less than it (counted apart);
- overflowed out: legs that left for another queue unanswered (overflow, supervisor's move);
- transferred out: answered legs that an agent transferred to another queue;
- callback requested: legs left because the customer asked to be called back (not an abandon);
- callback legs (a callback the center makes) are counted apart: ``callbacks_offered``,
  ``callbacks_answered`` and their own wait; they are in no queue figure but the handle time.

Derived figures (None when the denominator is 0):

- service level, under the site's named definition (:data:`SERVICE_LEVELS`);
- abandon rate = abandoned / (offered - short abandoned - callback requested);
- ASA = wait of answered legs / answered legs (callback legs apart);
- AHT = (talk + hold + wrap-up) / handled legs, a leg handled once its agent's work ended
  (wrap-up over, or transferred); per channel when grouped by channel;
- occupancy = handling (busy + wrap-up) / (logged in - not ready) time, from the stored
  agent state history (:class:`AgentStateSpan`), for any past interval;
- first-contact resolution = contacts resolved on their first contact / contacts handled,
  counted on a contact's first leg: handled = answered on some leg and finished; resolved on
  first contact = answered on exactly one leg, never transferred, with a disposition of
  :attr:`KpiRules.resolved`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from callcenter.reports.intervals import Interval, intervals_between
from callcenter.reports.legs import (ABANDONED, ANSWERED, CALLBACK_REQUESTED, OVERFLOWED, ContactHistory, Leg,
                                     legs_of)

DIMENSIONS = ("queue", "channel", "agent")
BUSY_STATES = frozenset({"busy", "wrap_up"})
STAFFED_STATES = BUSY_STATES | {"available"}

#: The named service-level definitions a site chooses from (``supervision.service_level``).
SERVICE_LEVELS: Mapping[str, str] = {
    "default": "answered within T / (answered + abandoned after the short threshold + overflowed out)",
    "asterisk_sl": "answered within T / answered (Asterisk app_queue SL)",
    "asterisk_sl2": "(answered within T + abandoned within T) / (answered + abandoned), short abandons "
                    "included (Asterisk app_queue SL2)",
    "contact": "contacts answered within T of their first entry / (contacts answered + contacts abandoned "
               "after the short threshold)",
}


class InvalidDimension(ValueError):
    """A ``group_by`` name is not one of :data:`DIMENSIONS` or is repeated."""


class UnknownDefinition(ValueError):
    """A service-level definition is not one of :data:`SERVICE_LEVELS`."""


@dataclass(frozen=True)
class AgentStateSpan:
    """An agent in ``state`` (``available``, ``busy``, ``wrap_up``, ``not_ready``) over [start, end)."""

    agent: str
    state: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ServiceTarget:
    """``percent`` of legs answered within ``within`` seconds."""

    percent: float
    within: float


@dataclass(frozen=True)
class KpiRules:
    """Thresholds and choices of the calculation (``supervision.yaml`` and each queue's target).

    ``short_abandon``: an abandon after strictly less than this many seconds is short.
    ``targets``: each queue's target (for voice); ``channel_targets``: the target of a
    non-voice channel in every queue (email 80 % in 4 h and web forms 80 % in 4 h unless
    configured). ``service_level``: the definition in force (:data:`SERVICE_LEVELS`).
    ``resolved``: the dispositions that mean "resolved" for first-contact resolution.
    """

    short_abandon: float = 5.0
    targets: Mapping[str, ServiceTarget] = field(default_factory=dict)
    default_target: ServiceTarget = ServiceTarget(80.0, 20.0)
    channel_targets: Mapping[str, ServiceTarget] = field(default_factory=lambda: {
        "email": ServiceTarget(80.0, 4 * 3600.0), "webform": ServiceTarget(80.0, 4 * 3600.0)})
    service_level: str = "default"
    resolved: frozenset[str] = frozenset({"resolved"})

    def __post_init__(self) -> None:
        if self.service_level not in SERVICE_LEVELS:
            raise UnknownDefinition(f"service level must be one of {', '.join(SERVICE_LEVELS)}, "
                                    f"not {self.service_level!r}")

    def target(self, queue: str | None, channel: str = "voice") -> ServiceTarget:
        """The target of a leg of ``channel`` in ``queue``: the channel's own for a non-voice
        channel that has one, else the queue's, else the default."""
        if channel != "voice" and channel in self.channel_targets:
            return self.channel_targets[channel]
        return self.targets.get(queue or "", self.default_target)


# The additive counts of a tally or a row; see :func:`total`.
_COUNTS = ("offered", "answered", "answered_within", "abandoned", "short_abandoned", "abandoned_within_all",
           "overflowed_out", "transferred_out", "callbacks_requested", "callbacks_offered", "callbacks_answered",
           "callback_wait_total", "wait_total", "handle_count", "handle_total", "contacts", "contacts_answered",
           "contacts_answered_within", "contacts_abandoned", "fcr_handled", "fcr_resolved")


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


# --- derived figures: for a report row and today's live counters alike (any object with _COUNTS) ---

def service_level(counts: Any, definition: str = "default") -> float | None:
    """The service level (0..1) of ``counts`` under ``definition`` (:data:`SERVICE_LEVELS`).

    Raises :class:`UnknownDefinition` for another name."""
    c = counts
    if definition == "default":
        return _ratio(c.answered_within, c.answered + c.abandoned + c.overflowed_out)
    if definition == "asterisk_sl":
        return _ratio(c.answered_within, c.answered)
    if definition == "asterisk_sl2":
        return _ratio(c.answered_within + c.abandoned_within_all, c.answered + c.abandoned + c.short_abandoned)
    if definition == "contact":
        return _ratio(c.contacts_answered_within, c.contacts_answered + c.contacts_abandoned)
    raise UnknownDefinition(f"service level must be one of {', '.join(SERVICE_LEVELS)}, not {definition!r}")


def abandon_rate(counts: Any) -> float | None:
    """abandoned / (offered - short abandoned - callback requested), 0..1."""
    return _ratio(counts.abandoned, counts.offered - counts.short_abandoned - counts.callbacks_requested)


def asa(counts: Any) -> float | None:
    """Average speed of answer of answered legs, seconds (callback legs apart)."""
    return _ratio(counts.wait_total, counts.answered)


def callback_asa(counts: Any) -> float | None:
    """Average wait of answered callback legs, seconds."""
    return _ratio(counts.callback_wait_total, counts.callbacks_answered)


def aht(counts: Any) -> float | None:
    """Average handle time (talk + hold + wrap-up) of handled legs, seconds."""
    return _ratio(counts.handle_total, counts.handle_count)


def first_contact_resolution(counts: Any) -> float | None:
    """Contacts resolved on first contact / contacts handled, 0..1."""
    return _ratio(counts.fcr_resolved, counts.fcr_handled)


def occupancy(busy_seconds: float, staffed_seconds: float) -> float | None:
    """Handling / (logged in - not ready) time, 0..1."""
    return _ratio(busy_seconds, staffed_seconds)


class Tally:
    """The mutable counts of one group while legs are added; also today's live counters
    (:mod:`callcenter.reports.livestats`) and the lifetime counters of ``/metrics``."""

    __slots__ = _COUNTS + ("max_wait",)

    def __init__(self) -> None:
        for name in Tally.__slots__:
            setattr(self, name, 0)

    def merge(self, other: "Tally", sign: int = 1) -> None:
        """Add ``other``'s additive counts (``sign=-1``: take them away; ``max_wait`` only grows)."""
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + sign * getattr(other, name))
        self.max_wait = max(self.max_wait, other.max_wait)

    def add(self, leg: Leg, rules: KpiRules, sign: int = 1) -> None:
        """Count ``leg`` as defined in the module docstring (``sign=-1``: take it away again;
        ``max_wait`` only grows, as in :meth:`merge`)."""
        within = rules.target(leg.queue, leg.channel).within
        wait = leg.wait
        handle_time = leg.handle_time
        if handle_time is not None:
            self.handle_count += sign
            self.handle_total += sign * handle_time
        if leg.callback:
            self.callbacks_offered += sign
            if leg.outcome == ANSWERED:
                self.callbacks_answered += sign
                self.callback_wait_total += sign * wait
            return
        self.offered += sign
        if wait is not None and wait > self.max_wait:
            self.max_wait = wait
        if leg.outcome == ANSWERED:
            self.answered += sign
            self.wait_total += sign * wait
            if wait <= within:
                self.answered_within += sign
            if leg.transferred:
                self.transferred_out += sign
        elif leg.outcome == ABANDONED:
            if wait < rules.short_abandon:
                self.short_abandoned += sign
            else:
                self.abandoned += sign
            if wait <= within:
                self.abandoned_within_all += sign
        elif leg.outcome == OVERFLOWED:
            self.overflowed_out += sign
        elif leg.outcome == CALLBACK_REQUESTED:
            self.callbacks_requested += sign
        if leg.index == 0:
            self._add_contact(leg, rules, within, sign)

    def _add_contact(self, first: Leg, rules: KpiRules, within: float, sign: int = 1) -> None:
        self.contacts += sign
        wait = first.contact_wait
        if first.contact_outcome == ANSWERED:
            self.contacts_answered += sign
            if wait <= within:
                self.contacts_answered_within += sign
        elif first.contact_outcome == ABANDONED and wait is not None and wait >= rules.short_abandon:
            self.contacts_abandoned += sign
        if first.contact_legs_answered and first.contact_finished:
            self.fcr_handled += sign
            if (first.contact_legs_answered == 1 and not first.contact_transferred
                    and first.contact_disposition in rules.resolved):
                self.fcr_resolved += sign

    @classmethod
    def of(cls, legs: Iterable[Leg], rules: KpiRules) -> "Tally":
        """The counts of ``legs`` together."""
        tally = cls()
        for leg in legs:
            tally.add(leg, rules)
        return tally

    def figures(self, definition: str = "default") -> dict[str, Any]:
        """The counts and derived figures as a plain dict (for JSON and comparisons)."""
        out = {name: getattr(self, name) for name in Tally.__slots__}
        out.update(service_level=service_level(self, definition), abandon_rate=abandon_rate(self), asa=asa(self),
                   aht=aht(self), callback_asa=callback_asa(self), fcr=first_contact_resolution(self))
        return out


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
    definition: str = "default"
    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    abandoned_within_all: int = 0
    overflowed_out: int = 0
    transferred_out: int = 0
    callbacks_requested: int = 0
    callbacks_offered: int = 0
    callbacks_answered: int = 0
    callback_wait_total: float = 0.0
    wait_total: float = 0.0
    handle_count: int = 0
    handle_total: float = 0.0
    contacts: int = 0
    contacts_answered: int = 0
    contacts_answered_within: int = 0
    contacts_abandoned: int = 0
    fcr_handled: int = 0
    fcr_resolved: int = 0
    max_wait: float = 0.0
    busy_seconds: float = 0.0
    staffed_seconds: float = 0.0

    @property
    def handled(self) -> int:
        """Answered legs (the name the pages used before legs)."""
        return self.answered

    @property
    def abandon_rate(self) -> float | None:
        """See :func:`abandon_rate`."""
        return abandon_rate(self)

    @property
    def service_level(self) -> float | None:
        """See :func:`service_level`, under this row's definition."""
        return service_level(self, self.definition)

    @property
    def asa(self) -> float | None:
        """See :func:`asa`."""
        return asa(self)

    @property
    def callback_asa(self) -> float | None:
        """See :func:`callback_asa`."""
        return callback_asa(self)

    @property
    def aht(self) -> float | None:
        """See :func:`aht`."""
        return aht(self)

    @property
    def fcr(self) -> float | None:
        """See :func:`first_contact_resolution`."""
        return first_contact_resolution(self)

    @property
    def occupancy(self) -> float | None:
        """See :func:`occupancy`; None without agent state history."""
        return occupancy(self.busy_seconds, self.staffed_seconds)


def _row_of(tally: Tally, slot: Interval, dims: tuple[str, ...], key: tuple[str, ...], definition: str) -> KpiRow:
    named = dict(zip(dims, key))
    return KpiRow(slot, named.get("queue"), named.get("channel"), named.get("agent"), definition,
                  **{name: getattr(tally, name) for name in Tally.__slots__})


def check_dimensions(group_by: Sequence[str]) -> tuple[str, ...]:
    """``group_by`` as a tuple; :class:`InvalidDimension` unless distinct names of :data:`DIMENSIONS`."""
    dims = tuple(group_by)
    if any(d not in DIMENSIONS for d in dims) or len(set(dims)) != len(dims):
        raise InvalidDimension(f"group_by takes distinct names among {', '.join(DIMENSIONS)}, got {dims!r}")
    return dims


def _key(leg: Leg, dims: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(getattr(leg, d) or "" for d in dims)


def all_legs(histories: Iterable[ContactHistory]) -> list[Leg]:
    """Every leg of ``histories`` (:func:`callcenter.reports.legs.legs_of` of each)."""
    return [leg for history in histories for leg in legs_of(history)]


def compute_report(
    legs: Iterable[Leg],
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

    ``group_by`` names the dimensions (any one or any pair of :data:`DIMENSIONS`, or all);
    a group is the tuple of the leg's values in that order ("" where it has none, e.g. the
    agent of an abandoned leg). Every group seen in the legs or listed in ``groups`` gets a
    row in every interval, empty intervals included. Legs entered outside the range are
    ignored. ``spans`` give occupancy to an agent-only grouping (each agent's own; an agent
    staffed in the range has a row even without legs) or to the all-in-one grouping (every
    agent), never split by queue or channel where it would count twice. Raises :class:`InvalidDimension`, or ``InvalidGranularity`` from the intervals.
    """
    dims = check_dimensions(group_by)
    slots = list(intervals_between(start, end, granularity, tz))
    keys: set[tuple[str, ...]] = {tuple(g) for g in groups} if dims else {()}
    tallies: dict[tuple[datetime, tuple[str, ...]], Tally] = {}
    for leg in legs:
        if not start <= leg.entered_at < end:
            continue
        slot = _slot_of(slots, leg.entered_at)
        key = _key(leg, dims)
        keys.add(key)
        tally = tallies.get((slot.start, key))
        if tally is None:
            tally = tallies[(slot.start, key)] = Tally()
        tally.add(leg, rules)
    with_occupancy = dims in ((), ("agent",))
    spans = list(spans) if with_occupancy else []
    if dims == ("agent",):  # an agent who was staffed but answered nothing still has occupancy (0)
        keys |= {(span.agent,) for span in spans if span.state in STAFFED_STATES}
    occupied = _occupancy(spans, slots) if with_occupancy else {}
    out = []
    for slot in slots:
        for key in sorted(keys):
            row = _row_of(tallies.get((slot.start, key)) or Tally(), slot, dims, key, rules.service_level)
            if with_occupancy:
                busy, staffed = occupied.get((slot.start, key[0] if dims else None), (0.0, 0.0))
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


def _seconds(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds())


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


def spans_from_changes(changes: Iterable[tuple[str, str, datetime]], end: datetime) -> list[AgentStateSpan]:
    """The spans of agents' state changes ``(agent, state, at)`` (oldest first), each state
    lasting until the agent's next change or ``end``."""
    spans: list[AgentStateSpan] = []
    open_: dict[str, tuple[str, datetime]] = {}
    for agent, state, at in changes:
        previous = open_.get(agent)
        if previous is not None and at > previous[1]:
            spans.append(AgentStateSpan(agent, previous[0], previous[1], at))
        open_[agent] = (state, at if previous is None or at > previous[1] else previous[1])
    for agent, (state, since) in open_.items():
        if end > since:
            spans.append(AgentStateSpan(agent, state, since, end))
    return spans


def total(rows: Iterable[KpiRow], interval: Interval, queue: str | None = None, channel: str | None = None,
          agent: str | None = None) -> KpiRow:
    """The sum of ``rows`` as one row labelled ``interval`` and the given dimensions.

    Counts and second totals add up; ``max_wait`` is the largest; the derived rates are
    then recomputed from the sums, so a total's service level is not an average of rates.
    """
    rows = list(rows)
    acc = KpiRow(interval, queue, channel, agent, rows[0].definition if rows else "default")
    sums = _COUNTS + ("busy_seconds", "staffed_seconds")
    values = {name: sum(getattr(r, name) for r in rows) for name in sums}
    return replace(acc, max_wait=max((r.max_wait for r in rows), default=0.0), **values)


def rules_from_settings(settings: Any, short_abandon: float | None = None) -> KpiRules:
    """The :class:`KpiRules` of validated settings: each queue's ``service_level`` target and
    ``supervision``'s short-abandon threshold, channel targets, definition and resolved codes."""
    s = settings.supervision
    targets = {name: ServiceTarget(q.service_level.percent, q.service_level.within)
               for name, q in settings.queues.items()}
    base = KpiRules()
    channel_targets = getattr(s, "channel_targets", None)
    return KpiRules(
        short_abandon=s.short_abandon if short_abandon is None else short_abandon, targets=targets,
        channel_targets=({c: ServiceTarget(t.percent, t.within) for c, t in channel_targets.items()}
                         if channel_targets is not None else base.channel_targets),
        service_level=getattr(s, "service_level", base.service_level),
        resolved=frozenset(getattr(s, "resolved_dispositions", base.resolved)))
