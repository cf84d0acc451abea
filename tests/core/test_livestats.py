"""Today's live counters: the reports' definitions over legs, recomputation, rollover, occupancy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred, ensureDeferred

from callcenter.runtime.clock import Clock
from callcenter.runtime.events import EventBus, InteractionCreated, InteractionEventAppended, InteractionStateChanged
from callcenter.reports.livestats import LiveStats
from callcenter.reports.kpi import KpiRules, ServiceTarget
from callcenter.reports.legs import SHAPING_KINDS, ContactHeader, ContactHistory, LogEntry, legs_of

NOON = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.timezone.utc)   # 12:00 in New York
RULES = KpiRules(short_abandon=5.0, targets={"q": ServiceTarget(80.0, 20.0)})


def at(seconds: float) -> dt.datetime:
    """``seconds`` after noon."""
    return NOON + dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class Row:
    """The fields of a record's interaction row that the live figures read."""

    id: int
    channel: str = "voice"
    direction: str = "inbound"
    queue: str | None = "q"
    disposition: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def entry(seconds: float, kind: str = "state", eid: int = 0, **details: Any) -> LogEntry:
    """A log entry ``seconds`` after noon."""
    return LogEntry(at(seconds), kind, details, eid)


def created(queued: float = 0.0) -> list[LogEntry]:
    """The entries of a contact created queued in ``q``."""
    return [entry(queued, "created", state="queued"), entry(queued, "routed", queue="q")]


def history(iid: int, *entries: LogEntry, queued: float = 0.0) -> ContactHistory:
    """Contact ``iid`` created queued at noon + ``queued``, then ``entries``."""
    return ContactHistory(ContactHeader(iid, "voice", "inbound", "q"), tuple(created(queued)) + entries)


def answered(iid: int, wait: float, talk: float = 100.0, wrap: float = 10.0, agent: str = "a") -> ContactHistory:
    """A call answered after ``wait`` s by ``agent``, talked and wrapped up."""
    return history(iid, entry(wait, step="connect", agent=agent), entry(wait + talk, step="end"),
                   entry(wait + talk + wrap, step="wrap_up_end"))


def abandoned(iid: int, wait: float) -> ContactHistory:
    """A call abandoned after ``wait`` s."""
    return history(iid, entry(wait, step="abandon", reason="caller_hung_up"))


def test_queue_counters_follow_the_reports_definitions():
    """3 answered (2 within 20 s), an abandon after 30 s, a short one after 3 s: SL 2/4, abandon rate 1/4."""
    s = LiveStats("America/New_York", RULES)
    for iid, waited in enumerate((5.0, 19.0, 45.0)):
        s.load(answered(iid, waited))
    s.load(abandoned(10, 30.0))
    s.load(abandoned(11, 3.0))
    q = s.queue("q")
    assert (q.offered, q.answered, q.abandoned, q.short_abandoned) == (5, 3, 1, 1)
    assert q.service_level() == 0.5 and q.abandon_rate() == 0.25
    assert q.average_speed_of_answer() == round(69.0 / 3, 1)
    assert q.average_handle_time() == 110.0  # talk and wrap-up
    assert s.agent("a").handled == 3


def test_a_contact_offered_to_three_agents_is_one_leg_from_the_bus():
    """Entries and rows published by the record's writes: offered three times, answered, finished = 1 leg."""
    bus = EventBus()
    s = LiveStats("America/New_York", RULES, bus)
    s.ready = True
    s._held = None  # noqa: SLF001 - no recompute in this test: live from the first write
    eid = iter(range(1, 100))

    def publish(seconds: float, kind: str = "state", **details: Any) -> None:
        bus.publish(InteractionEventAppended(at(seconds).timestamp(), 1, next(eid), kind, None, details=details))

    publish(0, "created", state="queued")
    bus.publish(InteractionCreated(at(0).timestamp(), 1, 7, "voice", "inbound", "queued", interaction=Row(1)))
    publish(0, "routed", queue="q")
    for n in range(3):
        publish(n, step="offer", agent=f"x{n}")
        publish(n + 0.5, step="return", agent=f"x{n}")
    publish(25, step="connect", agent="a")
    publish(145, step="end")
    publish(155, step="wrap_up_end")
    bus.publish(InteractionStateChanged(at(155).timestamp(), 1, 7, "wrap_up", "completed", None,
                                        interaction=Row(1, disposition="resolved")))
    q = s.queue("q")
    assert (q.offered, q.answered, q.answered_within) == (1, 1, 0)
    assert q.average_handle_time() == 130.0 and s.agent("a").handled == 1


def _burst(read_after_each: bool) -> tuple[Any, ...]:
    """Twelve interleaved calls published write by write (answered in and out of target, abandoned
    short and long, one still waiting, one re-offered, entries legs ignore); the figures read
    after every write (``read_after_each``) or only at the end."""
    bus = EventBus()
    s = LiveStats("America/New_York", RULES, bus)
    s.ready = True
    s._held = None  # noqa: SLF001 - no recompute in this test: live from the first write
    eid = iter(range(1, 10_000))
    writes: list[tuple[float, Any]] = []
    for iid in range(1, 13):
        t0 = iid * 2.0
        steps: list[tuple[float, str, dict[str, Any]]] = [(t0, "created", {"state": "queued"}),
                                                          (t0, "routed", {"queue": "q"}),
                                                          (t0 + 0.1, "note", {"text": "ignored by legs"})]
        if iid % 4 == 0:
            steps.append((t0 + (3.0 if iid % 8 else 30.0), "state", {"step": "abandon", "reason": "caller_hung_up"}))
        elif iid != 7:
            wait = 5.0 + iid * 2.5
            steps += [(t0 + 1, "state", {"step": "offer", "agent": "b"}), (t0 + 2, "state", {"step": "return", "agent": "b"}),
                      (t0 + wait, "state", {"step": "connect", "agent": "a" if iid % 2 else "b"}),
                      (t0 + wait + 60, "state", {"step": "end"}), (t0 + wait + 70, "state", {"step": "wrap_up_end"})]
        writes += [(when, (iid, kind, details)) for when, kind, details in steps]
    writes.sort(key=lambda w: w[0])
    seen = []
    for when, (iid, kind, details) in writes:
        bus.publish(InteractionEventAppended(at(when).timestamp(), iid, next(eid), kind, None, details=details))
        if kind == "created":
            bus.publish(InteractionCreated(at(when).timestamp(), iid, 7, "voice", "inbound", "queued",
                                           interaction=Row(iid)))
        if read_after_each:
            seen.append(s.queue("q").figures())
    q = s.queue("q")
    return (q.figures(), s.agent("a").handled, s.agent("b").handled, s.keys(), s.day, len(seen) > 1)


def test_figures_read_after_every_write_or_once_at_the_end_are_the_same():
    """Counting waits for a read, but no reader can tell: the same burst read write by write and
    read once gives the same figures (the contacts are counted in the order they were written)."""
    each, once = _burst(True), _burst(False)
    assert each[-1] and not once[-1]
    assert each[:-1] == once[:-1]
    figures = once[0]
    assert (figures["offered"], figures["answered"], figures["abandoned"], figures["short_abandoned"]) == (12, 8, 1, 2)
    assert (once[1], once[2]) == (5, 3)


def test_entries_of_other_kinds_shape_no_leg():
    """Live counting skips entries whose kind is not in SHAPING_KINDS: legs_of must ignore them."""
    base = history(1, entry(10, step="connect", agent="a"), entry(70, step="end"), entry(80, step="wrap_up_end"))
    noisy = ContactHistory(base.header, tuple(e for pair in zip(base.entries, (
        entry(1, kind, step="abandon", queue="other", state="queued", target="other", reason="x")
        for kind in ("note", "offer", "call_summary", "email_sent", "tag", "sla"))) for e in pair))
    assert legs_of(noisy) == legs_of(base)
    for kind in SHAPING_KINDS:
        changed = ContactHistory(base.header, base.entries[:2] + (
            entry(5, kind, step="abandon", queue="other", state="queued", target="other"),) + base.entries[2:])
        assert legs_of(changed) != legs_of(base), kind


def test_recompute_reads_today_and_applies_writes_published_meanwhile_once():
    """An entry published while today's contacts are read is held, then applied after them:
    an entry already read is not applied twice, and readers wait until then."""
    bus = EventBus()
    s = LiveStats("America/New_York", RULES, bus)
    reading: Deferred = Deferred()
    asked: list[tuple[dt.datetime, dt.datetime]] = []

    async def read_histories(start: dt.datetime, end: dt.datetime) -> list[ContactHistory]:
        asked.append((start, end))
        return await reading

    done = ensureDeferred(s.recompute(read_histories, at(600).timestamp()))
    waiting = ensureDeferred(s.recomputed())
    first = history(1, entry(10, eid=3, step="connect", agent="a"))
    first = ContactHistory(first.header, tuple(LogEntry(e.at, e.kind, e.details, i + 1)
                                               for i, e in enumerate(first.entries)))
    # Entry 3 (the answer) was read and is also published; entry 4 (the end) only published.
    bus.publish(InteractionEventAppended(at(10).timestamp(), 1, 3, "state", "a", details={"step": "connect",
                                                                                          "agent": "a"}))
    bus.publish(InteractionEventAppended(at(70).timestamp(), 1, 4, "state", None, details={"step": "end"}))
    bus.publish(InteractionEventAppended(at(80).timestamp(), 1, 5, "state", None, details={"step": "wrap_up_end"}))
    assert not s.ready and not waiting.called and s.queue("q").offered == 0
    reading.callback([first, abandoned(2, 40.0)])
    assert done.result == 2 and s.ready and waiting.called
    q = s.queue("q")
    assert (q.offered, q.answered, q.abandoned, q.handle_count, q.handle_total) == (2, 1, 1, 1, 70.0)
    start, end = asked[0]
    assert (start.isoformat(), end.isoformat()) == ("2026-11-23T05:00:00+00:00", "2026-11-24T05:00:00+00:00")


def test_reconfigure_counts_today_again_with_the_new_target():
    """A reload that widens the target to 30 s counts a 25 s answer as within it."""
    s = LiveStats("America/New_York", RULES)
    s.load(answered(1, 25.0))
    assert s.queue("q").service_level() == 0.0
    s.reconfigure(KpiRules(short_abandon=5.0, targets={"q": ServiceTarget(80.0, 30.0)}))
    assert s.queue("q").service_level() == 1.0 and s.agent("a").handled == 1


class RecordedStates:
    """Collects what :class:`callcenter.records.reporting.AgentStateLog.record` is given."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, str, str | None, dt.datetime]] = []

    def record(self, agent: str, state: str, reason: str | None, at: dt.datetime) -> None:
        """Same signature as AgentStateLog.record."""
        self.changes.append((agent, state, reason, at))

    def kick(self) -> None:
        """Same as AgentStateLog.kick: counted, nothing to write here."""
        self.kicks = getattr(self, "kicks", 0) + 1


def test_recorded_states_fake_matches_the_real_signature():
    """The state-log fake takes the same parameters as AgentStateLog.record."""
    import inspect

    from callcenter.records.reporting import AgentStateLog

    params = [(p.name, p.kind) for p in inspect.signature(RecordedStates.record).parameters.values()]
    assert params == [(p.name, p.kind) for p in inspect.signature(AgentStateLog.record).parameters.values()]


def test_agent_occupancy_is_working_over_staffed_time_and_states_are_stored():
    """Available 60 s, busy 120 s, wrap-up 20 s, not ready 100 s: occupancy 140 / 200; each change is stored."""
    log = RecordedStates()
    s = LiveStats("America/New_York", RULES, state_log=log)
    noon = NOON.timestamp()
    s.agent_state("a", "available", noon)
    s.agent_state("a", "busy", noon + 60)
    s.agent_state("a", "wrap_up", noon + 180)
    s.agent_state("a", "not_ready", noon + 200, reason="break")
    assert s.agent("a").occupancy(noon + 300) == 0.7
    assert [(a, st, r) for a, st, r, _ in log.changes] == [
        ("a", "available", None), ("a", "busy", None), ("a", "wrap_up", None), ("a", "not_ready", "break")]
    assert log.changes[-1][3] == at(200)


def test_today_rolls_over_at_local_midnight_without_an_event_and_counters_keep_growing():
    """At local midnight the clock alone empties today's figures; the lifetime counters keep every leg."""
    reactor = task.Clock()
    reactor.advance(NOON.timestamp())
    s = LiveStats("America/New_York", RULES, clock=Clock(reactor))
    s.start()
    s.load(answered(1, 5.0))
    s.load(abandoned(2, 30.0))
    assert s.queue("q").offered == 2 and s.agent("a").handled == 1
    reactor.advance(12 * 3600 - 1)          # 23:59:59 in New York
    assert s.queue("q").offered == 2
    reactor.advance(1)                       # midnight: no write happened
    assert s.day == dt.date(2026, 11, 24)
    assert (s.queue("q").offered, s.agent("a").handled) == (0, 0)
    life = s.lifetime("q", "voice")
    assert (life.offered, life.answered, life.abandoned) == (2, 1, 1)
    s.stop()
    assert not reactor.getDelayedCalls()


def test_a_leg_still_open_at_midnight_keeps_its_day():
    """A call queued at 23:59:50 and answered after midnight counts on the day it entered, not the next."""
    reactor = task.Clock()
    reactor.advance(NOON.timestamp())
    s = LiveStats("America/New_York", RULES, clock=Clock(reactor))
    s.start()
    late = 12 * 3600 - 10
    s.load(history(1, queued=late))
    reactor.advance(12 * 3600)
    s.load(history(1, entry(late + 30, step="connect", agent="a"), queued=late))
    assert s.queue("q").offered == 0
    life = s.lifetime("q", "voice")
    assert (life.offered, life.answered) == (1, 1)
    s.stop()
