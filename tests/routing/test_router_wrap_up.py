"""Wrap-up per channel, and the 'no agents' overflow when a queue loses the last agent who could take its work."""

from __future__ import annotations

from routing import Member, QueueConfig
from tests.routing.helpers import agent, kinds, offers, router, spec


def queue(name, *members, **kw):
    """A queue of plain members."""
    return QueueConfig(name, tuple(Member(m) for m in members), **kw)


def test_a_calls_wrap_up_stops_calls_not_emails():
    """After a call, the agent in wrap-up is offered emails at once, but no call until the wrap-up ends."""
    r = router([agent("a")], {"q": queue("q", "a", wrap_up=30.0)})
    r.set_available("a", 0.0)
    r.submit(spec(1), 0.0)
    r.accept(1, "a", 1.0)
    r.complete(1, 10.0)
    assert r.agent_view("a").state == "wrap_up"
    assert offers(r.submit(spec(2, start=11.0), 11.0)) == []                 # a call waits
    email = r.submit(spec(3, start=12.0, channel="email"), 12.0)
    assert offers(email) == [(3, "a")] and r.explain(2, 12.0)["agents"]["a"] == "wrap_up"
    assert r.agent_view("a").wrap_ups == (("voice", 40.0),)


def test_a_multi_email_agent_keeps_taking_emails_after_a_calls_wrap_up_starts():
    """An agent with room for four emails gets all four during a call's wrap-up."""
    r = router([agent("a")], {"q": queue("q", "a", wrap_up=60.0)})
    r.set_available("a", 0.0)
    r.submit(spec(1), 0.0)
    r.accept(1, "a", 0.0)
    for n in range(2, 7):
        r.submit(spec(n, start=float(n), channel="email"), float(n))
    assert offers(r.complete(1, 10.0)) == [(2, "a"), (3, "a"), (4, "a"), (5, "a")]


def test_an_emails_wrap_up_holds_only_the_email_channel():
    """Finishing one of several emails: no new email during its wrap-up; the agent stays busy with the rest."""
    r = router([agent("a")], {"q": queue("q", "a", wrap_up=20.0)})
    r.set_available("a", 0.0)
    for n in (1, 2, 3, 4):
        r.submit(spec(n, channel="email"), 0.0)
        r.accept(n, "a", 0.0)
    r.submit(spec(5, start=1.0, channel="email"), 1.0)     # full: it waits
    assert offers(r.complete(1, 5.0)) == []
    view = r.agent_view("a")
    assert (view.state, view.wrap_ups) == ("busy", (("email", 25.0),))
    ended = r.tick(25.0)
    assert [(d.kind, getattr(d, "channel", None)) for d in ended][:2] == [("wrap_up_ended", "email"), ("offer", None)]
    assert offers(ended) == [(5, "a")]


def test_wrap_up_per_channel_is_configured_per_queue():
    """wrap_up_by_channel overrides the queue's wrap_up for a channel: no wrap-up after emails here."""
    q = queue("q", "a", wrap_up=30.0, wrap_up_by_channel={"email": 0.0})
    r = router([agent("a")], {"q": q})
    r.set_available("a", 0.0)
    r.submit(spec(1, channel="email"), 0.0)
    r.accept(1, "a", 0.0)
    r.complete(1, 5.0)
    assert r.agent_view("a").wrap_ups == () and r.agent_view("a").state == "available"
    r.submit(spec(2), 6.0)
    r.accept(2, "a", 6.0)
    r.complete(2, 9.0)
    assert r.agent_view("a").wrap_ups == (("voice", 39.0),)
    assert q.wrap_up_for("voice") == 30.0 and q.wrap_up_for("email") == 0.0


def test_ending_one_channels_wrap_up_leaves_the_other():
    """end_wrap_up with a channel ends that one; without, every channel's, one decision each."""
    r = router([agent("a")], {"q": queue("q", "a", wrap_up=50.0)})
    r.set_available("a", 0.0)
    r.submit(spec(1, channel="email"), 0.0)
    r.accept(1, "a", 0.0)
    r.submit(spec(2), 0.0)
    r.complete(1, 1.0)                     # email wraps up; the call can wait: a blocking channel
    assert r.agent_view("a").wrap_ups == (("email", 51.0),)
    ended = r.end_wrap_up("a", 3.0, channel="voice")
    assert [d.kind for d in ended if d.kind == "wrap_up_ended"] == []
    ended = r.end_wrap_up("a", 3.0)
    assert [(d.kind, d.channel) for d in ended if d.kind == "wrap_up_ended"] == [("wrap_up_ended", "email")]
    assert offers(ended) == [(2, "a")]


def test_the_last_ready_member_going_not_ready_overflows_the_queue():
    """A queue with an overflow whose last ready member takes a break sends its waiting work on."""
    q = queue("q", "a", overflow_to="r")
    r = router([agent("a"), agent("b")], {"q": q, "r": ["b"]})
    r.set_available("a", 0.0)
    r.submit(spec(1, "q"), 0.0)
    r.accept(1, "a", 0.0)
    r.submit(spec(2, "q", start=1.0), 1.0)                 # a is busy: it waits
    d = r.set_not_ready("a", "break", 2.0)
    assert ("overflowed", 2, None) in kinds(d)
    assert [(v.interaction, v.queue) for v in r.waiting(now=2.0)] == [(2, "r")]


def test_being_paused_for_missed_offers_overflows_as_going_not_ready():
    """The last ready member paused for missing offers leaves the queue unstaffed: its work overflows."""
    q = queue("q", "a", overflow_to="r", offer_timeout=10.0)
    r = router([agent("a"), agent("b")], {"q": q, "r": ["b"]}, max_no_answer=1)
    r.set_available("a", 0.0)
    r.submit(spec(1, "q"), 0.0)
    d = r.tick(10.0)
    assert ("offer_expired", 1, "a") in kinds(d) and ("overflowed", 1, None) in kinds(d)
    assert r.agent_view("a").reason == "no_answer"


def test_work_nobody_left_can_ever_take_overflows_when_its_last_qualified_agent_leaves():
    """A ladder ending on 'skill >= 4' for ever: when the only agent with level 4 goes, the work overflows,
    though an agent with level 1 is still there."""
    q = queue("q", "hi", "lo", overflow_to="r")
    r = router([agent("hi", {"s": 5}), agent("lo", {"s": 1}), agent("b")], {"q": q, "r": ["b"]})
    for name in ("hi", "lo"):
        r.set_available(name, 0.0)
    r.submit(spec(1, "q"), 0.0)
    r.accept(1, "hi", 0.0)                                  # hi got the plain call
    r.submit(spec(2, "q", start=1.0, ladder=[("s >= 4", None)]), 1.0)
    r.submit(spec(3, "q", start=2.0, ladder=[("s >= 1", None)]), 2.0)
    assert [v.interaction for v in r.waiting(now=2.0)] == [2, 3] and r.offered_to(3) == "lo"
    d = r.set_not_ready("hi", "break", 3.0)
    assert ("overflowed", 2, None) in kinds(d) and ("overflowed", 3, None) not in kinds(d)


def test_arrival_with_only_not_ready_members_overflows():
    """Members logged in but not ready do not staff a queue: an arrival there overflows at once."""
    q = queue("q", "a", overflow_to="r")
    r = router([agent("a"), agent("b")], {"q": q, "r": ["b"]})
    r.agent_login("a", 0.0)
    assert ("overflowed", 1, None) in kinds(r.submit(spec(1, "q"), 0.0))


def _wrap_ends(decisions):
    """(agent, channel, why) of every wrap_up_ended decision."""
    return [(d.agent, d.channel, d.why) for d in decisions if d.kind == "wrap_up_ended"]


def test_logging_out_ends_every_running_wrap_up_with_a_decision():
    """A logout during a call's and an email's wrap-up ends both, one wrap_up_ended each (why: logout);
    their timers then end nothing."""
    r = router([agent("a")], {"q": queue("q", "a", wrap_up=30.0)})
    r.set_available("a", 0.0)
    r.submit(spec(1), 0.0)
    r.accept(1, "a", 0.0)
    r.complete(1, 10.0)                               # voice wrap-up until 40
    r.submit(spec(2, start=11.0, channel="email"), 11.0)
    r.accept(2, "a", 11.0)
    r.complete(2, 12.0)                               # email wrap-up until 42
    out = r.agent_logout("a", 15.0)
    assert _wrap_ends(out) == [("a", "email", "logout"), ("a", "voice", "logout")]
    view = r.agent_view("a")
    assert (view.state, view.wrap_ups) == ("logged_out", ())
    assert _wrap_ends(r.tick(40.0) + r.tick(42.0)) == [] and r.next_deadline() is None


def test_a_wrap_up_ended_says_what_ended_it():
    """wrap_up_ended's why: the timer running out, or the agent ending it (end_wrap_up)."""
    r = router([agent("a")], {"q": queue("q", "a", wrap_up=30.0)})
    r.set_available("a", 0.0)
    for iid, channel in ((1, "email"), (2, "webform")):
        r.submit(spec(iid, channel=channel), 0.0)
        r.accept(iid, "a", 0.0)
        r.complete(iid, 5.0)
    assert _wrap_ends(r.end_wrap_up("a", 6.0, channel="webform")) == [("a", "webform", "agent")]
    assert _wrap_ends(r.tick(35.0)) == [("a", "email", "timer")]


def test_work_completed_without_a_wrap_up_leaves_running_ones_as_they_are():
    """complete(wrap_up=False) (a call that never got going) starts no wrap-up and neither ends nor
    extends the agent's running ones."""
    r = router([agent("a")], {"q": queue("q", "a", wrap_up=30.0)})
    r.set_available("a", 0.0)
    for iid, channel in ((1, "voice"), (2, "email")):
        r.submit(spec(iid, channel=channel), 0.0)
        r.accept(iid, "a", 0.0)
        r.complete(iid, 5.0)                          # both wrap up until 35
    r.restore_held(spec(3), "a", 6.0, 6.0)            # an outbound call, placed during them
    out = r.complete(3, 7.0, wrap_up=False)
    assert _wrap_ends(out) == [] and r.agent_view("a").wrap_ups == (("email", 35.0), ("voice", 35.0))
    assert r.agent_view("a").work == ()
    assert sorted(_wrap_ends(r.tick(35.0))) == [("a", "email", "timer"), ("a", "voice", "timer")]


def test_an_agent_removed_by_a_reload_during_a_wrap_up_has_it_ended():
    """A reload removing an agent in wrap-up (logged out by it) ends the wrap-up with a decision
    (why: agent_not_configured), so what is in it can be finished: nobody could end it later."""
    from routing import RoutingConfig

    r = router([agent("a"), agent("b")], {"q": queue("q", "a", "b", wrap_up=30.0)})
    r.set_available("a", 0.0)
    r.submit(spec(1, channel="email"), 0.0)
    r.accept(1, "a", 0.0)
    r.complete(1, 5.0)
    cfg = RoutingConfig({"b": r.config.agents["b"]}, {"q": queue("q", "b", wrap_up=30.0)}, r.config.policy)
    assert _wrap_ends(r.reconfigure(cfg, 10.0)) == [("a", "email", "agent_not_configured")]
    assert r.next_deadline() is None
