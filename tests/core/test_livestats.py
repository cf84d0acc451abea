"""Today's live counters: service level, abandons, and agents' handled count and occupancy."""

from __future__ import annotations

import datetime as dt

from callcenter.livestats import LiveStats

NOON = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.timezone.utc).timestamp()   # 12:00 in New York


def test_queue_counters_by_hand():
    """3 answered (2 within 20 s), 1 abandoned after 30 s, 1 short abandon: SL 2/4, abandon rate 1/4."""
    s = LiveStats("America/New_York", {"q": 20.0}, short_abandon=5.0)
    for waited in (5.0, 19.0, 45.0):
        s.answered("q", waited, NOON)
    s.abandoned("q", 30.0, NOON)
    s.abandoned("q", 3.0, NOON)
    q = s.queue("q")
    assert (q.handled, q.abandoned, q.short_abandoned) == (3, 1, 1)
    assert q.service_level() == 0.5 and q.abandon_rate() == 0.25
    assert q.average_speed_of_answer() == round(69.0 / 3, 1)


def test_agent_occupancy_is_working_over_staffed_time():
    """Available 60 s, busy 120 s, wrap-up 20 s, not ready 100 s: occupancy 140 / 200 at the end."""
    s = LiveStats("America/New_York", {})
    s.agent_state("a", "available", NOON)
    s.agent_state("a", "busy", NOON + 60)
    s.agent_handled("a", NOON + 60)
    s.agent_state("a", "wrap_up", NOON + 180)
    s.agent_state("a", "not_ready", NOON + 200)
    a = s.agent("a")
    assert a.handled == 1
    assert a.occupancy(NOON + 300) == 0.7


def test_counters_start_again_at_local_midnight():
    """The first event of a new local day resets the queues and the agents' day."""
    s = LiveStats("America/New_York", {"q": 20.0})
    s.answered("q", 1.0, NOON)
    s.agent_state("a", "available", NOON)
    s.agent_handled("a", NOON)
    next_day = NOON + 24 * 3600
    s.answered("q", 1.0, next_day)
    assert s.queue("q").handled == 1
    s.agent_handled("a", next_day)
    assert s.agent("a").handled == 1
