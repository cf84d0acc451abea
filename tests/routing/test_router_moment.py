"""One moment is one decision: what is due at the same instant is resolved together; times may be negative."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from routing import Member, QueueConfig, RoutingError
from tests.routing.helpers import agent, offers, router, spec
from tests.routing.test_router_properties import AGENTS, QUEUES, apply, command


def queue(name, *members, **kw):
    """A queue of (agent, member priority, delay) members."""
    return QueueConfig(name, tuple(Member(*m) for m in members), **kw)


def issue_repro(first):
    """The issue's repro: `ag` serves Q3 (priority 2, delay 20) and Q4 (priority 3, delay 80); Q4's
    contact started at 30, Q3's at 90, so both are due at 110; the agent is available from 100.
    ``first`` is the queue whose contact is submitted (and whose timer is set) first: Q4's at 30
    then Q3's at 90, or Q3's at 90 then Q4's (which started at 30) at 90. Returns tick(110)."""
    r = router([agent("ag")], {"Q3": queue("Q3", ("ag", 2, 20.0)), "Q4": queue("Q4", ("ag", 3, 80.0))})
    contacts = [spec(4, "Q4", 30.0), spec(3, "Q3", 90.0)]
    for contact in contacts if first == "Q4" else contacts[::-1]:
        r.submit(contact, max(90.0 if first == "Q3" else 0.0, contact.virtual_start))
    assert offers(r.set_available("ag", 100.0)) == []
    return r.tick(110.0)


@pytest.mark.parametrize("first", ["Q4", "Q3"])
def test_issue_repro_either_submission_order_gives_q3s_contact(first):
    """Q3's and Q4's contacts due together at 110: the agent's higher queue priority (Q3) wins, whichever came first."""
    assert offers(issue_repro(first)) == [(3, "ag")]


def test_repro_trace_names_the_pair_it_won_against():
    """The offer's trace lists what was due at the same instant and lost (here on queue priority)."""
    offer = next(d for d in issue_repro("Q4") if d.kind == "offer")
    assert offer.trace["same_instant"] == [{"interaction": 4, "agent": "ag", "member_priority": 3}]


def test_a_late_tick_takes_the_instants_it_catches_up_on_in_time_order():
    """Due at 105 (Q4) and 110 (Q3), ticked late at 115: the earlier instant goes first, Q4's contact."""
    r = router([agent("ag")], {"Q3": queue("Q3", ("ag", 2, 20.0)), "Q4": queue("Q4", ("ag", 3, 80.0))})
    r.submit(spec(4, "Q4", 25.0), 25.0)
    r.submit(spec(3, "Q3", 90.0), 90.0)
    r.set_available("ag", 100.0)
    assert offers(r.tick(115.0)) == [(4, "ag")]


def test_two_ladders_relaxing_together_offer_the_higher_score():
    """A basic call (score 30) and a platinum call (score 150) relax at 30: the platinum call goes first."""
    r = router([agent("a", {"s": 1})], {"q": ["a"]}, tier_bonuses={"platinum": 120.0})
    r.set_available("a", 0.0)
    r.submit(spec(1, start=0.0, ladder=[("s >= 4", 30.0)]), 0.0)
    r.submit(spec(2, start=0.0, ladder=[("s >= 4", 30.0)], tier="platinum"), 0.0)
    offer = next(d for d in r.tick(30.0) if d.kind == "offer")
    assert (offer.interaction, offer.trace["score"]) == (2, 150.0)


def test_wrap_up_end_and_offer_expiry_together():
    """An agent's wrap-up ends as another's offer expires: the freed agent gets the better (expired) work."""
    r = router([agent("a"), agent("b")], {"q": queue("q", ("a",), ("b",), offer_timeout=10.0, wrap_up=15.0)})
    r.set_available("a", 0.0)
    r.submit(spec(1, start=0.0), 0.0)
    r.accept(1, "a", 1.0)
    r.submit(spec(2, start=2.0), 2.0)
    r.complete(1, 5.0)                    # a wraps up until 20: this timer is set first
    r.submit(spec(3, start=6.0), 6.0)
    assert offers(r.set_available("b", 10.0)) == [(2, "b")]   # expires at 20
    assert offers(r.tick(20.0)) == [(2, "a")]


def test_an_agent_freed_and_offered_in_one_moment_goes_straight_to_busy():
    """Wrap-up ends and work is offered in the same tick: one state change, wrap_up -> busy."""
    r = router([agent("a")], {"q": queue("q", ("a",), wrap_up=10.0)})
    r.set_available("a", 0.0)
    r.submit(spec(1, start=0.0), 0.0)
    r.accept(1, "a", 1.0)
    r.submit(spec(2, start=2.0), 2.0)
    r.complete(1, 5.0)
    decisions = r.tick(15.0)
    assert [(d.kind, getattr(d, "state", None)) for d in decisions] == [
        ("wrap_up_ended", None), ("offer", None), ("agent_state", "busy")]


# --- properties: events moved onto one instant ---

# per queue: (member priority of the agent, member delay; 0 means the work waits on a ladder instead)
QUEUE_SHAPES = st.lists(st.tuples(st.integers(0, 2), st.sampled_from([0.0, 350.0, 400.0, 450.0])),
                        min_size=1, max_size=3)
# per item: (queue index, priority, tier bonus, channel, due at the instant or later)
ITEMS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.sampled_from([0.0, 90.0, 300.0]),
                           st.sampled_from(["voice", "email", "email"]), st.sampled_from([0.0, 0.0, 0.0, 50.0])),
                 min_size=1, max_size=8)


def moment_router(shapes, names):
    """Agents `names` (skill s 1) serving queues shaped by ``shapes``, each member with the shape's
    priority shifted by its rank, so queue priorities differ between agents."""
    queues = {}
    for n, (priority, delay) in enumerate(shapes):
        members = tuple(Member(a, (priority + rank) % 3, delay) for rank, a in enumerate(names))
        queues[f"q{n}"] = QueueConfig(f"q{n}", members)
    return router([agent(a, {"s": 1}) for a in names], queues, max_bonus=300.0)


def item_specs(shapes, items):
    """Specs all submitted at -300 and first eligible at ``due`` (0 or later): by a member delay
    ending, or by a ladder step relaxing."""
    out = []
    for iid, (q, priority, bonus, channel, due) in enumerate(items, start=1):
        q %= len(shapes)
        delay = shapes[q][1]
        if delay:
            out.append(spec(iid, f"q{q}", due - delay, channel, priority=priority, tier_bonus=bonus))
        else:
            out.append(spec(iid, f"q{q}", -300.0 - 7 * iid, channel, ladder=[("s >= 9", 300.0 + due)],
                            priority=priority, tier_bonus=bonus))
    return out


def submitted(shapes, specs, order, names, ready=True):
    """A router with agents available at -400 and ``specs`` submitted at -300 in ``order``."""
    r = moment_router(shapes, names)
    for a in names:
        r.set_available(a, -400.0)
    for i in order:
        assert offers(r.submit(specs[i], -300.0)) == []
    if not ready:
        for a in names:
            r.set_not_ready(a, "hidden", -1.0)
    return r


def unique(order, n):
    """``order`` reduced to a permutation of range(n) (first occurrence of each index wins)."""
    seen = [i % n for i in order]
    return list(dict.fromkeys(seen + list(range(n))))


@settings(max_examples=150, deadline=None)
@given(QUEUE_SHAPES, ITEMS, st.lists(st.integers(0, 7), max_size=8))
def test_one_agent_gets_what_it_would_get_had_everything_been_eligible_a_moment_earlier(shapes, items, order):
    """One agent, work due together in any timer order: offers as if it freed up just after all became eligible."""
    specs = item_specs(shapes, items)
    order = unique(order, len(specs))
    together = submitted(shapes, specs, order, ["a"])
    reference = submitted(shapes, specs, sorted(order), ["a"], ready=False)
    assert offers(reference.tick(0.0)) == []
    assert offers(together.tick(0.0)) == offers(reference.set_available("a", 0.0))


@settings(max_examples=150, deadline=None)
@given(QUEUE_SHAPES, ITEMS, st.permutations(range(8)), st.permutations(range(8)))
def test_many_agents_the_timer_order_never_matters(shapes, items, first, second):
    """Three agents, work due together: any timer order gives the same offers, and no free agent is left idle."""
    specs = item_specs(shapes, items)
    names = ["a", "b", "c"]
    results = []
    for order in (first, second):
        r = submitted(shapes, specs, unique(order, len(specs)), names)
        results.append(offers(r.tick(0.0)))
        for view in r.waiting(now=0.0):
            if view.offered_to is None:
                assert r.explain(view.interaction, 0.0)["would_offer"] is None, view
    assert results[0] == results[1]


# --- negative times ---

def test_agent_available_at_a_negative_time_gets_offers_as_explain_says():
    """An agent made available at -50 is eligible in `explain` and is offered work submitted at -40."""
    r = router([agent("a")], {"q": ["a"]})
    r.set_available("a", -50.0)
    assert r.explain(spec(1, start=-40.0), -40.0)["agents"] == {"a": "eligible"}
    assert offers(r.submit(spec(1, start=-40.0), -40.0)) == [(1, "a")]


def shifted(decisions, offset):
    """Decisions as dicts with their absolute times moved by ``offset``."""
    out = []
    for d in decisions:
        record = d.to_dict()
        record["at"] -= offset
        if "expires_at" in record:
            record["expires_at"] -= offset
        out.append(record)
    return out


def play_from(commands, start):
    """Run the property commands from ``start``; waits are whole quarters so times stay exact."""
    r = router(AGENTS, QUEUES, max_bonus=120.0)
    now, next_id, log = start, 1, []
    for cmd in commands:
        if cmd[0] == "wait":
            now += round(cmd[1] * 4) / 4
        try:
            log += apply(r, cmd, now, next_id)
        except RoutingError:
            pass
        if cmd[0] == "submit":
            next_id += 1
    return log


@settings(max_examples=80, deadline=None)
@given(st.lists(command, max_size=50))
def test_the_same_commands_4096_seconds_earlier_decide_the_same(commands):
    """Time-shift invariance: starting at -4096 instead of 0 gives the same decisions, shifted."""
    assert shifted(play_from(commands, -4096.0), -4096.0) == shifted(play_from(commands, 0.0), 0.0)
