"""The routing rules, one example each, with exact offers and times."""

from __future__ import annotations

import pytest

from routing import Member, NotOffered, QueueConfig, RoutingError
from tests.routing.helpers import agent, kinds, offers, router, spec


def test_score_orders_waiting_work_with_bounded_bonuses():
    """A VIP bonus jumps the line, but only by the capped bonus: older work still wins eventually."""
    r = router([agent("a")], {"q": ["a"]}, max_bonus=120)
    r.submit(spec(1, start=0.0), 0.0)
    r.submit(spec(2, start=100.0, tier="gold", tier_bonus=90.0), 100.0)   # 90 s bonus: ahead of #1? 100 waited vs 0+90
    r.submit(spec(3, start=50.0, priority=5), 100.0)                       # 5 x 60 = 300 capped at 120
    views = r.waiting("q", now=100.0)
    assert [(v.interaction, v.score) for v in views] == [(3, 170.0), (1, 100.0), (2, 90.0)]
    assert views[0].parts == {"waited": 50.0, "aging": 50.0, "priority_bonus": 300.0, "tier_bonus": 0.0,
                              "bonus_applied": 120.0}
    assert offers(r.set_available("a", 100.0)) == [(3, "a")]


def test_strict_priority_puts_priority_first():
    """In strict mode a higher priority goes first however long the other waited."""
    r = router([agent("a")], {"q": ["a"]}, strict_priority=True)
    r.submit(spec(1, start=0.0), 0.0)
    r.submit(spec(2, start=500.0, priority=1), 500.0)
    assert [v.interaction for v in r.waiting("q", now=500.0)] == [2, 1]


def test_ties_go_to_earlier_start_then_lower_id():
    """Equal scores: the earlier virtual start first, then the lower interaction id."""
    r = router([agent("a")], {"q": ["a"]}, aging_rate=0.0)
    r.submit(spec(7, start=5.0), 5.0)
    r.submit(spec(6, start=5.0), 5.0)
    r.submit(spec(9, start=1.0), 5.0)
    assert [v.interaction for v in r.waiting("q")] == [9, 6, 7]


def test_ladder_relaxes_in_steps_and_keeps_the_place():
    """Step 1 needs billing >= 4 for 30 s, step 2 billing >= 2 for 60 s, then any member."""
    r = router([agent("lo", {"billing": 2}), agent("none", {})], {"q": ["lo", "none"]}, reject_delay=300.0)
    r.set_available("lo", 0.0)
    r.set_available("none", 0.0)
    d = r.submit(spec(1, ladder=[("billing >= 4", 30.0), ("billing >= 2", 60.0)]), 0.0)
    assert offers(d) == []
    assert r.next_deadline() == 30.0
    d = r.tick(30.0)
    assert kinds(d)[:2] == [("step_relaxed", 1, None), ("offer", 1, "lo")]
    assert d[1].trace["requirement"] == "billing >= 2" and d[1].trace["step"] == 1
    r.reject(1, "lo", 31.0)
    d = r.tick(90.0)  # step 2 over: anyone in the queue
    assert ("offer", 1, "none") in kinds(d)


def test_agent_free_takes_best_work_across_all_its_queues():
    """A freed agent gets the highest-scored interaction of every queue they serve, not one queue's head."""
    r = router([agent("a")], {"q": ["a"], "r": ["a"]})
    r.submit(spec(1, "q", start=10.0), 10.0)
    r.submit(spec(2, "r", start=0.0), 10.0)
    assert offers(r.set_available("a", 10.0)) == [(2, "a")]


def test_member_priority_and_delay():
    """An agent serves queue A first and queue B only once B's work waited the member delay."""
    q_a = QueueConfig("a", (Member("x", priority=0),))
    q_b = QueueConfig("b", (Member("x", priority=1, delay=15.0), Member("y")))
    r = router([agent("x"), agent("y")], {"a": q_a, "b": q_b})
    r.agent_login("y", 0.0)
    r.set_available("x", 0.0)
    assert offers(r.submit(spec(1, "b", start=0.0), 0.0)) == []
    assert r.next_deadline() == 15.0
    assert offers(r.tick(15.0)) == [(1, "x")]
    # x is free at 20: queue a (priority 0) comes before b's older work.
    r2 = router([agent("x")], {"a": q_a, "b": QueueConfig("b", (Member("x", priority=1, delay=15.0),))})
    r2.submit(spec(2, "a", start=20.0), 20.0)
    r2.submit(spec(3, "b", start=0.0), 20.0)
    assert offers(r2.set_available("x", 20.0)) == [(2, "x")]


@pytest.mark.parametrize("policy,expected", [
    ("best_proficiency", "pro"), ("longest_idle", "idle"), ("least_loaded", "light"), ("fewest_skills", "narrow"),
])
def test_selection_policies(policy, expected):
    """Each policy picks its agent among equally eligible ones."""
    agents = [agent("pro", {"s": 5, "t": 1, "u": 1}), agent("idle", {"s": 2, "t": 1}),
              agent("light", {"s": 2, "t": 1, "u": 1}), agent("narrow", {"s": 1})]
    q = QueueConfig("q", tuple(Member(a.id) for a in agents), selection=policy, skills={"s": 1})
    r = router(agents, {"q": q, "busy": QueueConfig("busy", tuple(Member(a.id) for a in agents if a.id != "light"))})
    r.set_available("idle", 0.0)
    for name in ("pro", "light", "narrow"):
        r.set_available(name, 10.0)
    for n, name in enumerate(("pro", "narrow", "idle")):   # load everyone but "light" with an email
        r.submit(spec(100 + n, "busy", channel="email", start=11.0), 11.0)
    for n in range(3):
        r.accept(100 + n, [d for d in ("pro", "narrow", "idle") if 100 + n in r.agent_view(d).offers][0], 12.0)
    d = r.submit(spec(1, "q", channel="email", start=20.0), 20.0)
    assert offers(d) == [(1, expected)]
    assert d[-2 if d[-1].kind == "agent_state" else -1].trace["policy"] == policy


def test_capacity_and_a_call_blocking_everything_else():
    """Emails fill 4 x 25 units; a call needs the agent free of any other work and then blocks it."""
    r = router([agent("a")], {"q": ["a"]})
    r.set_available("a", 0.0)
    got = []
    for i in range(1, 6):
        got += offers(r.submit(spec(i, channel="email", start=float(i)), float(i)))
    assert got == [(1, "a"), (2, "a"), (3, "a"), (4, "a")]
    assert r.agent_view("a").used == 100
    r2 = router([agent("a")], {"q": ["a"]})
    r2.set_available("a", 0.0)
    r2.submit(spec(1, channel="email"), 0.0)
    assert offers(r2.submit(spec(2, channel="voice"), 1.0)) == []
    r3 = router([agent("a")], {"q": ["a"]})
    r3.set_available("a", 0.0)
    r3.submit(spec(1, channel="voice"), 0.0)
    assert offers(r3.submit(spec(2, channel="email"), 1.0)) == []


def test_offer_expiry_backoff_and_not_ready_after_repeated_no_answer():
    """A missed offer backs the agent off; the second miss in a row sets them not ready (no_answer)."""
    r = router([agent("a")], {"q": QueueConfig("q", (Member("a"),), offer_timeout=10.0)},
               no_answer_backoff=5.0, max_no_answer=2)
    r.set_available("a", 0.0)
    r.submit(spec(1), 0.0)
    d = r.tick(10.0)
    assert kinds(d)[0] == ("offer_expired", 1, "a")
    assert offers(d) == []                       # backing off
    assert r.next_deadline() == 15.0
    assert offers(r.tick(15.0)) == [(1, "a")]
    d = r.tick(25.0)
    assert ("state", "a", "not_ready") in kinds(d)
    assert r.agent_view("a").reason == "no_answer"


def test_reject_delay_keeps_the_agent_from_the_same_interaction():
    """After a reject the same interaction is not offered to that agent for the reject delay."""
    r = router([agent("a")], {"q": ["a"]}, reject_delay=30.0)
    r.set_available("a", 0.0)
    r.submit(spec(1), 0.0)
    d = r.reject(1, "a", 1.0)
    assert offers(d) == []
    assert r.explain(1, 2.0)["agents"]["a"] == "rejected_recently"
    assert offers(r.tick(31.0)) == [(1, "a")]


def test_wrap_up_after_completion():
    """After completing, the agent stays in wrap-up for the queue's time, or until they end it."""
    r = router([agent("a")], {"q": QueueConfig("q", (Member("a"),), wrap_up=30.0)})
    r.set_available("a", 0.0)
    r.submit(spec(1), 0.0)
    r.accept(1, "a", 1.0)
    r.submit(spec(2, start=2.0), 2.0)
    d = r.complete(1, 60.0)
    assert ("state", "a", "wrap_up") in kinds(d) and offers(d) == []
    assert r.next_deadline() == 90.0
    assert offers(r.end_wrap_up("a", 70.0)) == [(2, "a")]


def test_preferred_agent_waits_then_falls_back():
    """The preferred agent gets it while logged in and not expired; others after the expiry."""
    r = router([agent("p"), agent("o")], {"q": ["p", "o"]})
    r.agent_login("p", 0.0)
    r.set_available("o", 0.0)
    assert offers(r.submit(spec(1, preferred=(("p", 60.0),)), 0.0)) == []
    assert offers(r.tick(60.0)) == [(1, "o")]
    r2 = router([agent("p"), agent("o")], {"q": ["p", "o"]})
    r2.set_available("o", 0.0)
    assert offers(r2.submit(spec(1, preferred=(("p", 60.0),)), 0.0)) == [(1, "o")]   # p logged out: at once


def test_overflow_after_wait_and_when_nobody_is_logged_in():
    """Work overflows after the queue's wait, or at once when no member is logged in and ready; start kept."""
    q = QueueConfig("q", (Member("a"),), overflow_after=60.0, overflow_to="r")
    r = router([agent("a"), agent("b")], {"q": q, "r": ["b"]})
    d = r.submit(spec(1, start=0.0), 0.0)
    assert ("overflowed", 1, None) in kinds(d)
    r2 = router([agent("a"), agent("b")], {"q": q, "r": ["b"]})
    r2.set_available("a", 0.0)
    r2.submit(spec(9, start=0.0), 0.0)
    r2.accept(9, "a", 0.0)                   # a is busy: staffed, yet nobody takes the next call
    r2.submit(spec(1, start=0.0), 0.0)
    r2.set_available("b", 0.0)
    d = r2.tick(60.0)
    assert kinds(d)[:2] == [("overflowed", 1, None), ("offer", 1, "b")]
    assert d[1].trace["parts"]["waited"] == 60.0


def test_caller_who_calls_back_resumes_the_place():
    """A customer who hangs up and calls back within the window keeps the original start."""
    r = router([agent("a")], {"q": ["a"]}, callback_window=120.0)
    r.agent_login("a", 0.0)
    r.submit(spec(1, start=0.0, customer_key="c1"), 0.0)
    r.submit(spec(2, start=10.0), 10.0)
    r.cancel(1, "caller_hung_up", 20.0)
    d = r.submit(spec(3, start=50.0, customer_key="c1"), 50.0)
    assert d[0].resumed is True
    assert [v.interaction for v in r.waiting("q")] == [3, 2]


def test_phone_unregistered_blocks_calls_but_not_email():
    """An agent whose phone is unregistered gets emails, not calls."""
    r = router([agent("a")], {"q": ["a"]})
    r.set_available("a", 0.0)
    r.set_phone_registered("a", False, 0.0)
    assert offers(r.submit(spec(1, channel="voice"), 1.0)) == []
    assert offers(r.submit(spec(2, channel="email"), 2.0)) == [(2, "a")]


def test_offer_trace_names_excluded_agents_and_reasons():
    """The offer trace lists candidates, excluded agents with reasons, the step and the score."""
    r = router([agent("a", {"billing": 5}), agent("b", {"billing": 1})], {"q": ["a", "b"]})
    r.set_available("a", 0.0)
    r.set_available("b", 0.0)
    d = r.submit(spec(1, ladder=[("billing >= 4", 30.0)]), 0.0)
    trace = d[1].trace
    assert trace["candidates"] == ["a"]
    assert trace["excluded"] == {"b": "requirement:billing >= 4"}
    assert trace["requirement"] == "billing >= 4" and trace["score"] == 0.0


def test_errors_change_nothing():
    """Accepting something not offered, unknown agents and queues raise named errors."""
    r = router([agent("a")], {"q": ["a"]})
    with pytest.raises(RoutingError):
        r.submit(spec(1, "nope"), 0.0)
    r.submit(spec(1), 0.0)
    with pytest.raises(NotOffered):
        r.accept(1, "a", 1.0)
    with pytest.raises(RoutingError):
        r.submit(spec(1), 1.0)
    assert [v.interaction for v in r.waiting()] == [1]


def test_reconfigure_keeps_waiting_work_and_moves_removed_queues():
    """A reload keeps places and agent states; a removed queue's work goes to the fallback."""
    from routing import RoutingConfig

    r = router([agent("a"), agent("b")], {"q": ["a"], "old": ["a"], "new": ["b"]})
    r.agent_login("a", 0.0)
    r.submit(spec(1, "q", start=0.0), 0.0)
    r.submit(spec(2, "old", start=1.0), 1.0)
    cfg = RoutingConfig(r.config.agents, {"q": r.config.queues["q"], "new": r.config.queues["new"]}, r.config.policy)
    d = r.reconfigure(cfg, 5.0, fallback="new")
    assert ("overflowed", 2, None) in kinds(d)
    assert [(v.interaction, v.queue) for v in r.waiting()] == [(2, "new"), (1, "q")]
    assert r.agent_view("a").state == "not_ready"
