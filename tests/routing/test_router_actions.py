"""Supervisor and agent actions, views and explanations, with exact offers and times."""

from __future__ import annotations

import json

import pytest

from routing import InteractionSpec, Member, QueueConfig, UnknownInteraction
from tests.routing.helpers import agent, kinds, offers, router, spec


def test_position_and_estimated_wait_follow_the_line():
    """Position is the place in line; the estimated wait is places ahead x handle time / staffed members."""
    r = router([agent("a"), agent("b")], {"q": ["a", "b"]}, default_handle_time=120.0)
    r.agent_login("a", 0.0)
    r.agent_login("b", 0.0)
    for iid in (1, 2, 3):
        r.submit(spec(iid, start=float(iid)), float(iid))
    views = r.waiting("q", now=10.0)
    assert [(v.interaction, v.position, v.estimated_wait) for v in views] == [(1, 1, 0.0), (2, 2, 60.0), (3, 3, 120.0)]
    r.cancel(1, "abandoned", 11.0)
    assert [(v.interaction, v.position, v.estimated_wait) for v in r.waiting("q", now=11.0)] == [(2, 1, 0.0),
                                                                                                (3, 2, 60.0)]


def test_estimated_wait_learns_from_handle_times():
    """A completed interaction's handle time moves the estimate (moving average, weight 0.2)."""
    r = router([agent("a")], {"q": ["a"]}, default_handle_time=100.0)
    r.set_available("a", 0.0)
    r.submit(spec(1), 0.0)
    r.accept(1, "a", 0.0)
    r.submit(spec(2, start=1.0), 1.0)
    r.submit(spec(3, start=2.0), 2.0)
    r.complete(1, 200.0)                      # handled 200 s: 0.8 x 100 + 0.2 x 200 = 120
    assert offers(r.tick(200.0)) == []
    view = [v for v in r.waiting("q", now=200.0) if v.interaction == 3][0]
    assert view.position == 2 and view.estimated_wait == 120.0


def test_set_priority_reorders_and_offers():
    """A supervisor's priority change moves the interaction up by the bonus it now earns."""
    r = router([agent("a")], {"q": ["a"]})
    r.agent_login("a", 0.0)
    r.submit(spec(1, start=0.0), 0.0)
    r.submit(spec(2, start=10.0), 10.0)
    d = r.set_priority(2, 1, 20.0)            # 10 s waited + 60 s bonus beats 20 s waited
    assert kinds(d) == [("queued", 2, None)] and d[0].position == 1
    assert offers(r.set_available("a", 21.0)) == [(2, "a")]


def test_move_withdraws_the_offer_and_keeps_the_start():
    """Moving an offered interaction withdraws the offer; in the new queue it keeps its start."""
    r = router([agent("a"), agent("b")], {"q": ["a"], "r": ["b"]})
    r.set_available("a", 0.0)
    r.submit(spec(1, "q", start=0.0), 0.0)
    r.set_available("b", 5.0)
    d = r.move(1, "r", 30.0)
    assert kinds(d)[:3] == [("offer_withdrawn", 1, "a"), ("overflowed", 1, None), ("offer", 1, "b")]
    assert d[2].trace["parts"]["waited"] == 30.0


def test_transfer_requeues_held_work_away_from_the_transferring_agent():
    """A transfer frees the agent, queues the work in the target queue, and does not hand it back."""
    r = router([agent("a"), agent("b")], {"q": ["a"], "r": ["a", "b"]})
    r.set_available("a", 0.0)
    r.submit(spec(1, "q", start=0.0), 0.0)
    r.accept(1, "a", 1.0)
    d = r.transfer(1, "r", 10.0)
    assert kinds(d)[0] == ("queued", 1, None)
    assert offers(d) == []                      # a is the only free member, and just handed it over
    assert offers(r.set_available("b", 11.0)) == [(1, "b")]
    with pytest.raises(UnknownInteraction):
        r.transfer(1, "q", 12.0)


def test_offer_failed_backs_off_then_pauses_the_agent():
    """Busy/no answer: back-off, the work goes to another agent; a second miss sets not ready."""
    r = router([agent("a"), agent("b")], {"q": ["a", "b"]}, no_answer_backoff=10.0, max_no_answer=2)
    r.set_available("a", 0.0)
    r.set_available("b", 1.0)
    assert offers(r.submit(spec(1), 2.0)) == [(1, "a")]         # a idle longer
    d = r.offer_failed(1, "a", "busy", 3.0)
    assert kinds(d)[:2] == [("offer_expired", 1, "a"), ("offer", 1, "b")]
    assert r.next_deadline() == 13.0
    r.submit(spec(2, start=5.0), 5.0)
    assert offers(r.tick(13.0)) == [(2, "a")]
    d = r.offer_failed(2, "a", "no_answer", 14.0)
    assert ("state", "a", "not_ready") in kinds(d)
    assert r.agent_view("a").reason == "no_answer"


def test_logging_out_hands_the_offer_to_another_agent():
    """An agent who logs out with an open offer: the work is offered to the next eligible agent at once."""
    r = router([agent("a"), agent("b")], {"q": ["a", "b"]})
    r.set_available("a", 0.0)
    r.submit(spec(1), 1.0)
    r.set_available("b", 2.0)
    d = r.agent_logout("a", 3.0)
    assert kinds(d)[:2] == [("offer_withdrawn", 1, "a"), ("offer", 1, "b")]


def test_queue_members_come_before_helpers():
    """Among free agents, a priority-0 member is chosen over a priority-1 helper who idled longer."""
    q = QueueConfig("q", (Member("helper", priority=1), Member("own")))
    r = router([agent("helper"), agent("own")], {"q": q})
    r.set_available("helper", 0.0)
    r.set_available("own", 50.0)
    d = r.submit(spec(1, start=60.0), 60.0)
    assert offers(d) == [(1, "own")] and d[1].trace["tie_break"] == "member priority"


def test_tier_bonus_from_the_policy_when_the_spec_has_none():
    """A spec without its own tier bonus gets the policy's bonus for its tier."""
    r = router([agent("a")], {"q": ["a"]}, tier_bonuses={"gold": 90.0})
    r.agent_login("a", 0.0)
    r.submit(spec(1, start=0.0), 0.0)
    r.submit(spec(2, start=50.0, tier="gold"), 50.0)
    views = r.waiting("q", now=60.0)
    assert [(v.interaction, v.score) for v in views] == [(2, 100.0), (1, 60.0)]


def test_explain_lists_every_member_for_a_spec_not_submitted():
    """explain() gives each member's eligibility, the step in force and who would be offered it."""
    r = router([agent("a", {"billing": 5}), agent("b", {"billing": 2}), agent("c", {"billing": 5})],
               {"q": ["a", "b", "c"]})
    r.set_available("a", 0.0)
    r.set_available("b", 0.0)
    s = spec(9, ladder=[("billing >= 4", 30.0)])
    result = r.explain(s, 10.0)
    assert result["agents"] == {"a": "eligible", "b": "requirement:billing >= 4", "c": "logged_out"}
    assert result["would_offer"] == "a" and result["requirement"] == "billing >= 4"
    assert r.waiting() == []                    # nothing was submitted


def test_decisions_are_json_serialisable():
    """Every decision of a busy sequence converts to JSON through to_dict()."""
    r = router([agent("a")], {"q": ["a"]})
    out = r.set_available("a", 0.0) + r.submit(spec(1), 0.0) + r.reject(1, "a", 1.0) + r.tick(40.0)
    out += r.accept(1, "a", 41.0) + r.complete(1, 50.0)
    text = json.dumps([d.to_dict() for d in out])
    assert '"kind": "offer"' in text and '"kind": "offer_withdrawn"' in text and '"kind": "removed"' in text


def test_unknown_channel_still_routes():
    """A channel no agent's costs name costs the whole capacity and is still offered."""
    r = router([agent("a")], {"q": ["a"]})
    r.set_available("a", 0.0)
    d = r.submit(InteractionSpec(1, "chat", "q", 0.0), 0.0)
    assert offers(d) == [(1, "a")] and r.agent_view("a").used == 100


def test_delayed_helper_finds_old_work_behind_young_vip_work():
    """A helper with a 20 s delay skips a young VIP at the head and takes the older call behind it."""
    q = QueueConfig("q", (Member("h", priority=1, delay=20.0),))
    r = router([agent("h")], {"q": q})
    r.agent_login("h", 0.0)
    r.submit(spec(1, start=0.0), 0.0)
    r.submit(spec(2, start=15.0, tier_bonus=100.0), 15.0)
    assert [v.interaction for v in r.waiting("q", now=25.0)] == [2, 1]
    d = r.set_available("h", 25.0)
    assert offers(d) == [(1, "h")]
    assert d[0].trace["skipped"] == [{"interaction": 2, "queue": "q", "reason": "queue_delay:20s"}]


def test_last_member_logging_out_overflows_the_queue():
    """When the last logged-in member of a queue with an overflow leaves, its waiting work moves on."""
    q = QueueConfig("q", (Member("a"),), overflow_after=600.0, overflow_to="r")
    r = router([agent("a"), agent("b")], {"q": q, "r": ["b"]})
    r.set_available("a", 0.0)
    r.set_available("b", 0.0)
    r.submit(spec(1, "q", start=0.0, ladder=[("s >= 9", 300.0)]), 0.0)   # a cannot take it yet
    d = r.agent_logout("a", 30.0)
    assert ("overflowed", 1, None) in kinds(d)
    assert [(v.interaction, v.queue, v.waited) for v in r.waiting(now=30.0)] == [(1, "r", 30.0)]


def test_reload_counts_held_work_at_the_new_costs():
    """A reload that changes an agent's email cost recounts the units of the emails held."""
    from routing import AgentConfig, RoutingConfig

    r = router([agent("a")], {"q": ["a"]})
    r.set_available("a", 0.0)
    r.submit(spec(1, channel="email"), 0.0)
    r.accept(1, "a", 1.0)
    cheaper = AgentConfig("a", {}, ("en",), 100, {"voice": 100, "email": 10})
    r.reconfigure(RoutingConfig({"a": cheaper}, r.config.queues, r.config.policy), 2.0)
    assert r.agent_view("a").used == 10
    r.complete(1, 3.0)
    assert r.agent_view("a").used == 0


def test_a_late_tick_keeps_the_ladder_on_schedule():
    """Steps start when the previous one ended, not when a late tick noticed: 30 s + 60 s stays 90 s."""
    r = router([agent("a", {"billing": 1})], {"q": ["a"]})
    r.agent_login("a", 0.0)
    r.submit(spec(1, ladder=[("billing >= 4", 30.0), ("billing >= 2", 60.0)]), 0.0)
    d = r.tick(45.0)                          # late by 15 s
    assert [(x.kind, x.step) for x in d] == [("step_relaxed", 1)]
    assert r.next_deadline() == 90.0
