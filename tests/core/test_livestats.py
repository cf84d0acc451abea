"""Today's live counters: the reports' definitions per contact, recomputation, agents' occupancy."""

from __future__ import annotations

import datetime as dt

from twisted.internet.defer import Deferred, ensureDeferred

from callcenter.events import EventBus, InteractionStateChanged
from callcenter.livestats import LiveStats
from callcenter.reports.kpi import InteractionFact, KpiRules, ServiceTarget

NOON = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.timezone.utc)   # 12:00 in New York
RULES = KpiRules(short_abandon=5.0, targets={"q": ServiceTarget(80.0, 20.0)})


def at(seconds: float) -> dt.datetime:
    """``seconds`` after noon."""
    return NOON + dt.timedelta(seconds=seconds)


def contact(iid: int, state: str = "queued", answered: float | None = None, ended: float | None = None,
            wrapped: float | None = None, agent: str | None = None, queued: float = 0.0) -> InteractionFact:
    """A support contact queued at noon + ``queued``; the other instants are seconds after noon."""
    return InteractionFact(iid, "webform", "q", agent, state, at(queued),
                           None if answered is None else at(answered), None if ended is None else at(ended),
                           None if wrapped is None else at(wrapped))


def test_queue_counters_follow_the_reports_definitions():
    """3 answered (2 within 20 s), 1 abandoned after 30 s, 1 short abandon: SL 2/4, abandon rate 1/4."""
    s = LiveStats("America/New_York", RULES)
    for iid, waited in enumerate((5.0, 19.0, 45.0)):
        s.observe(contact(iid, "connected", answered=waited, agent="a"))
    s.observe(contact(10, "abandoned", ended=30.0))
    s.observe(contact(11, "abandoned", ended=3.0))
    q = s.queue("q")
    assert (q.offered, q.handled, q.abandoned, q.short_abandoned) == (5, 3, 1, 1)
    assert q.service_level() == 0.5 and q.abandon_rate() == 0.25
    assert q.average_speed_of_answer() == round(69.0 / 3, 1)
    assert s.agent("a").handled == 3


def test_a_contact_offered_to_three_agents_is_one_offered_contact():
    """Each write replaces what the contact counted: offered three times, answered, finished = 1, 1, 1."""
    s = LiveStats("America/New_York", RULES)
    for state in ("queued", "offered", "queued", "offered", "queued", "offered"):
        s.observe(contact(1, state))
    s.observe(contact(1, "connected", answered=25.0, agent="a"))
    s.observe(contact(1, "wrap_up", answered=25.0, ended=145.0, agent="a"))
    s.observe(contact(1, "completed", answered=25.0, ended=145.0, wrapped=155.0, agent="a"))
    q = s.queue("q")
    assert (q.offered, q.handled, q.answered_within) == (1, 1, 0)
    assert q.average_handle_time() == 130.0 and s.agent("a").handled == 1


def test_recompute_reads_today_and_applies_writes_published_meanwhile_once():
    """A write published while today's rows are read is held, then applied after them: the
    contact counts once, in its newest state, and readers wait until then."""
    bus = EventBus()
    s = LiveStats("America/New_York", RULES, bus)
    reading: Deferred = Deferred()
    asked: list[tuple[dt.datetime, dt.datetime]] = []

    async def read_facts(start: dt.datetime, end: dt.datetime) -> list[InteractionFact]:
        asked.append((start, end))
        return await reading

    done = ensureDeferred(s.recompute(read_facts, at(600).timestamp()))
    waiting = ensureDeferred(s.recomputed())
    newer = contact(1, "connected", answered=10.0, agent="a")
    bus.publish(InteractionStateChanged(at(10).timestamp(), 1, 7, "offered", "connected", "a", interaction=newer))
    assert not s.ready and not waiting.called and s.queue("q").offered == 0
    reading.callback([contact(1, "offered"), contact(2, "abandoned", ended=40.0)])
    assert done.result == 2 and s.ready and waiting.called
    q = s.queue("q")
    assert (q.offered, q.handled, q.abandoned) == (2, 1, 1)
    start, end = asked[0]
    assert (start.isoformat(), end.isoformat()) == ("2026-11-23T00:00:00-05:00", "2026-11-24T00:00:00-05:00")


def test_reconfigure_counts_today_again_with_the_new_target():
    """A reload that widens the target to 30 s counts a 25 s answer as within it."""
    s = LiveStats("America/New_York", RULES)
    s.observe(contact(1, "connected", answered=25.0, agent="a"))
    assert s.queue("q").service_level() == 0.0
    s.reconfigure(KpiRules(short_abandon=5.0, targets={"q": ServiceTarget(80.0, 30.0)}))
    assert s.queue("q").service_level() == 1.0 and s.agent("a").handled == 1


def test_agent_occupancy_is_working_over_staffed_time():
    """Available 60 s, busy 120 s, wrap-up 20 s, not ready 100 s: occupancy 140 / 200 at the end."""
    s = LiveStats("America/New_York", RULES)
    noon = NOON.timestamp()
    s.agent_state("a", "available", noon)
    s.agent_state("a", "busy", noon + 60)
    s.agent_state("a", "wrap_up", noon + 180)
    s.agent_state("a", "not_ready", noon + 200)
    assert s.agent("a").occupancy(noon + 300) == 0.7


def test_counters_start_again_at_local_midnight():
    """A contact queued on the next local day starts that day; one queued the day before is not today's."""
    s = LiveStats("America/New_York", RULES)
    s.observe(contact(1, "connected", answered=1.0, agent="a"))
    s.observe(contact(2, "connected", answered=1.0 + 86400, agent="a", queued=86400))
    assert (s.queue("q").offered, s.queue("q").handled, s.agent("a").handled) == (1, 1, 1)
    s.observe(contact(1, "completed", answered=1.0, ended=5.0, wrapped=6.0, agent="a"))
    assert (s.queue("q").offered, s.agent("a").handled) == (1, 1)
