"""Restoring the core after a restart: places in line, ladder steps as of now, held work's capacity."""

from __future__ import annotations

import pytest

from routing import InvalidTime, Member, QueueConfig, Resume, RoutingError, UnknownAgent
from routing.decisions import WrapUpEnded
from routing.restoring import ladder_position
from tests.routing.helpers import agent, offers, router, spec


def _order(r, queue="q"):
    return [v.interaction for v in r.waiting(queue)]


def test_restored_work_keeps_its_place_in_line_whatever_order_it_comes_back_in():
    """The line is ordered by score from the original virtual starts, not by restore order."""
    live = router([agent("a")], {"q": ["a"]})
    for iid, start in ((1, 10.0), (2, 20.0), (3, 30.0)):
        live.submit(spec(iid, start=start, channel="email"), start)
    restored = router([agent("a")], {"q": ["a"]})
    restored.restore_waiting([Resume(spec(iid, start=start, channel="email"), start, start)
                              for iid, start in ((3, 30.0), (1, 10.0), (2, 20.0))], 100.0)
    assert _order(restored) == _order(live) == [1, 2, 3]
    assert [v.waited for v in restored.waiting("q", now=100.0)] == [90.0, 80.0, 70.0]


def test_restoring_decides_nothing_and_an_agent_who_logs_in_gets_the_first_in_line():
    """No offer while nobody is logged in; the first agent available is offered the oldest work."""
    r = router([agent("a")], {"q": ["a"]})
    out = r.restore_waiting([Resume(spec(iid, start=float(iid), channel="email"), 0.0, 0.0) for iid in (5, 4)], 50.0)
    assert out == []
    assert offers(r.set_available("a", 60.0)) == [(4, "a"), (5, "a")]


def test_priority_and_a_queue_other_than_the_first_are_restored_as_given():
    """The spec's current queue and priority place it; a higher priority goes first."""
    r = router([agent("a")], {"q": ["a"], "other": ["a"]}, priority_seconds=60.0)
    r.restore_waiting([Resume(spec(1, queue="other", start=0.0), 0.0, 0.0),
                       Resume(spec(2, queue="other", start=30.0, priority=1), 40.0, 30.0)], 50.0)
    assert _order(r, "other") == [2, 1] and _order(r, "q") == []


def test_a_ladder_step_is_where_it_would_be_now_and_the_next_relaxes_on_time():
    """Started at 0 with steps of 30 s and 60 s, it is on step 0 at 10 s, on the untimed last step at 95 s."""
    assert ladder_position((), 5.0, 100.0) == (-1, 5.0)
    s = spec(1, channel="email", ladder=[("a >= 5", 30.0), ("a >= 3", 60.0), ("a >= 1", None)])
    assert ladder_position(s.ladder, 0.0, 10.0) == (0, 0.0)
    assert ladder_position(s.ladder, 0.0, 95.0) == (2, 90.0)
    r = router([agent("a", {"a": 3})], {"q": ["a"]})
    r.restore_waiting([Resume(s, 0.0, 0.0)], 40.0)
    assert r.waiting("q")[0].step == 1
    r.set_available("a", 41.0)                       # step 1 asks >= 3: a qualifies at once
    assert r.agent_view("a").offers == (1,)


def test_a_ladder_step_that_ends_later_relaxes_at_its_own_end():
    """Restored on step 0 at 20 s of a 30 s step, the step relaxes at 30 s, not 30 s after the restart."""
    s = spec(1, channel="email", ladder=[("a >= 5", 30.0), ("a >= 1", None)])
    r = router([agent("a", {"a": 2})], {"q": ["a"]})
    r.restore_waiting([Resume(s, 0.0, 0.0)], 20.0)
    r.set_available("a", 21.0)
    assert r.next_deadline() == 30.0
    assert offers(r.tick(30.0)) == [(1, "a")]


def test_an_overdue_overflow_happens_at_the_first_tick():
    """Work that waited past its queue's overflow before the restart overflows at the next tick."""
    q = QueueConfig("q", (Member("a"),), overflow_after=60.0, overflow_to="spill")
    r = router([agent("a")], {"q": q, "spill": ["a"]})
    r.restore_waiting([Resume(spec(1, start=0.0), 0.0, 0.0)], 100.0)
    assert r.next_deadline() == 60.0
    assert [d.kind for d in r.tick(100.0)] == ["overflowed", "no_agents"]
    assert _order(r, "spill") == [1]


def test_held_work_uses_the_agents_capacity_when_they_log_back_in():
    """An agent restored holding two emails (of four units) is offered only two more."""
    r = router([agent("a", capacity=100)], {"q": ["a"]})
    r.restore_held(spec(1, channel="email"), "a", 5.0, 50.0)
    r.restore_held(spec(2, channel="email"), "a", 6.0, 50.0)
    r.restore_waiting([Resume(spec(iid, start=float(iid), channel="email"), 0.0, 0.0) for iid in (3, 4, 5)], 50.0)
    assert r.agent_view("a").state == "logged_out" and r.agent_view("a").used == 50
    assert offers(r.set_available("a", 60.0)) == [(3, "a"), (4, "a")]
    r.complete(1, 70.0)
    assert r.agent_view("a").work == (2,)


def test_a_held_call_blocks_every_other_offer():
    """A restored voice call blocks the agent like a live one."""
    r = router([agent("a")], {"q": ["a"]})
    r.restore_held(spec(1, channel="voice"), "a", 0.0, 10.0)
    r.restore_waiting([Resume(spec(2, channel="email"), 0.0, 0.0)], 10.0)
    assert offers(r.set_available("a", 11.0)) == []


def test_restoring_twice_or_into_an_unknown_queue_is_refused_and_changes_nothing():
    """Duplicates, ids already routed, unknown queues and unknown agents raise before any change."""
    r = router([agent("a")], {"q": ["a"]})
    with pytest.raises(RoutingError, match="already routed"):
        r.restore_waiting([Resume(spec(1), 0.0, 0.0), Resume(spec(1), 0.0, 0.0)], 1.0)
    with pytest.raises(RoutingError, match="unknown queue"):
        r.restore_waiting([Resume(spec(2), 0.0, 0.0), Resume(spec(3, queue="gone"), 0.0, 0.0)], 1.0)
    assert r.waiting() == []
    r.restore_held(spec(4), "a", 0.0, 1.0)
    with pytest.raises(RoutingError, match="already routed"):
        r.restore_waiting([Resume(spec(4), 0.0, 0.0)], 1.0)
    with pytest.raises(UnknownAgent):
        r.restore_held(spec(5), "nobody", 0.0, 1.0)


def _ended(decisions):
    """(agent, channel) of every wrap_up_ended decision."""
    return [(d.agent, d.channel) for d in decisions if d.kind == "wrap_up_ended"]


def test_a_restored_wrap_up_holds_its_channel_until_its_end_then_ends_on_the_timer():
    """Restored logged out until 70 s: signing in at 55 s gives no email and shows wrap_up; at 70 s it
    ends (one wrap_up_ended) and the waiting email is offered."""
    r = router([agent("a")], {"q": ["a"]})
    assert r.restore_wrap_up("a", "email", 70.0, 50.0) == []
    r.restore_waiting([Resume(spec(1, channel="email"), 0.0, 0.0)], 50.0)
    assert r.agent_view("a").wrap_ups == (("email", 70.0),) and r.next_deadline() == 70.0
    assert offers(r.set_available("a", 55.0)) == [] and r.agent_view("a").state == "wrap_up"
    assert r.tick(69.0) == []
    out = r.tick(70.0)
    assert _ended(out) == [("a", "email")] and offers(out) == [(1, "a")]


def test_a_restored_wrap_up_ends_on_its_timer_while_the_agent_stays_logged_out():
    """Nobody signs in: the wrap-up still ends at its time (the record can close), and the agent stays logged out."""
    r = router([agent("a")], {"q": ["a"]})
    r.restore_wrap_up("a", "voice", 70.0, 50.0)
    assert r.agent_view("a").state == "logged_out"
    assert _ended(r.tick(70.0)) == [("a", "voice")]
    assert r.agent_view("a").wrap_ups == () and r.agent_view("a").state == "logged_out"


def test_a_restored_call_wrap_up_blocks_calls_not_emails_like_a_live_one():
    """As after complete(): during a call's wrap-up the agent gets emails, not calls."""
    r = router([agent("a")], {"q": ["a"]})
    r.restore_wrap_up("a", "voice", 70.0, 50.0)
    r.restore_waiting([Resume(spec(1, channel="voice"), 0.0, 0.0), Resume(spec(2, start=1.0, channel="email"), 1.0, 1.0)],
                      50.0)
    assert offers(r.set_available("a", 55.0)) == [(2, "a")]
    assert r.explain(1, 56.0)["agents"]["a"] == "wrap_up"


def test_the_agent_ends_a_restored_wrap_up_early():
    """end_wrap_up ends a restored wrap-up with a wrap_up_ended decision, and its timer then does nothing."""
    r = router([agent("a")], {"q": ["a"]})
    r.restore_wrap_up("a", "email", 70.0, 50.0)
    r.restore_waiting([Resume(spec(1, channel="email"), 0.0, 0.0)], 50.0)
    r.set_available("a", 55.0)
    out = r.end_wrap_up("a", 60.0)
    assert _ended(out) == [("a", "email")] and offers(out) == [(1, "a")]
    assert _ended(r.tick(70.0)) == []


def test_a_wrap_up_whose_end_is_past_ends_at_once():
    """Restored at 50 s a wrap-up that ran until 40 s: one wrap_up_ended now, nothing left to hold the agent."""
    r = router([agent("a")], {"q": ["a"]})
    assert r.restore_wrap_up("a", "email", 40.0, 50.0) == [WrapUpEnded(50.0, "a", "email")]
    assert r.restore_wrap_up("a", "voice", 50.0, 50.0) == [WrapUpEnded(50.0, "a", "voice")]
    assert r.agent_view("a").wrap_ups == () and r.next_deadline() is None


def test_restored_wrap_ups_of_one_channel_end_together_at_the_latest_end():
    """As a second completion extends a channel's wrap-up, the later end wins; a past one restored
    into a running one ends nothing on its own."""
    r = router([agent("a")], {"q": ["a"]})
    r.restore_wrap_up("a", "email", 80.0, 50.0)
    assert r.restore_wrap_up("a", "email", 70.0, 50.0) == []
    assert r.restore_wrap_up("a", "email", 40.0, 50.0) == []
    assert r.agent_view("a").wrap_ups == (("email", 80.0),)
    assert _ended(r.tick(70.0)) == [] and _ended(r.tick(80.0)) == [("a", "email")]


def test_restoring_a_wrap_up_of_an_unknown_agent_or_at_a_bad_time_is_refused():
    """UnknownAgent, InvalidTime for a non-finite end; nothing changes."""
    r = router([agent("a")], {"q": ["a"]})
    with pytest.raises(UnknownAgent):
        r.restore_wrap_up("nobody", "email", 70.0, 50.0)
    with pytest.raises(InvalidTime):
        r.restore_wrap_up("a", "email", float("nan"), 50.0)
    assert r.agent_view("a").wrap_ups == () and r.next_deadline() is None


def test_logging_out_ends_a_restored_wrap_up_with_a_decision():
    """An agent back after a restart who logs out during the restored wrap-up ends it (one
    wrap_up_ended, why: logout), as a live one; its timer then ends nothing."""
    r = router([agent("a")], {"q": ["a"]})
    r.restore_wrap_up("a", "email", 70.0, 50.0)
    r.set_available("a", 55.0)
    out = r.agent_logout("a", 60.0)
    assert [(d.agent, d.channel, d.why) for d in out if d.kind == "wrap_up_ended"] == [("a", "email", "logout")]
    assert r.agent_view("a").wrap_ups == () and _ended(r.tick(70.0)) == []
