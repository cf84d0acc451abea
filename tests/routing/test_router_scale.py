"""The core's indexes decide as a full scan would: free members in selection order, big moments, NaN times."""

from __future__ import annotations

import math
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import routing.matching
from routing import InvalidTime, Member, QueueConfig, Router, RoutingError
from tests.routing.helpers import agent, offers, router, spec
from tests.routing.test_router_properties import command, play


# alike agents, so that ties on the policy's measure come down to idle time and id
ALIKE = [agent("a1", {"s": 2}), agent("a2", {"s": 2}), agent("a3", {"s": 2, "t": 1}), agent("a4", {"s": 2})]
ALIKE_QUEUES = {
    "q": QueueConfig("q", (Member("a1"), Member("a2"), Member("a4"), Member("a3", 1)), "longest_idle", 15.0, 5.0),
    "r": QueueConfig("r", tuple(Member(a.id) for a in ALIKE), "least_loaded", 10.0, 0.0,
                     wrap_up_by_channel={"voice": 4.0}),
    "s": QueueConfig("s", (Member("a3"), Member("a1", 0, 10.0), Member("a2")), "best_proficiency", 12.0, 3.0,
                     skills={"s": 1}),
}


def run(commands, scanning, alike):
    """Play ``commands`` on a router using the free-member index, or ranking every free member; the decisions."""
    setup = {"agents": ALIKE, "queues": ALIKE_QUEUES} if alike else {}
    if not scanning:
        return [d.to_dict() for d in play(commands, check=False, **setup)[1]]
    with patch.object(Router, "_indexed", lambda self, item: False):
        return [d.to_dict() for d in play(commands, check=False, **setup)[1]]


NAMES = [a.id for a in ALIKE]
IID = st.integers(1, 25)
# many agents free at once: availability, arrivals, completions and waits come often
busy_floor = st.one_of(
    command,
    st.tuples(st.just("available"), st.sampled_from(NAMES)),
    st.tuples(st.just("available"), st.sampled_from(NAMES)),
    st.tuples(st.just("submit"), st.sampled_from(["q", "r", "s"]), st.sampled_from(["voice", "email"]),
              st.just(0), st.integers(0, 1), st.sampled_from([0.0, 60.0]), st.just(None), st.just(False)),
    st.tuples(st.just("accept"), IID),
    st.tuples(st.just("complete"), IID),
    st.tuples(st.just("wait"), st.floats(0.5, 8.0)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(busy_floor, min_size=10, max_size=60), st.booleans())
def test_the_free_member_index_decides_as_ranking_everyone(commands, alike):
    """Walking each queue's free members in selection order gives the decisions, traces included,
    of ranking every free member at each arrival (the property tests' agents, or alike ones)."""
    assert run(commands, False, alike) == run(commands, True, alike)


def test_an_arrival_with_many_idle_looks_at_a_few_of_them():
    """With 300 idle members an arrival examines ten (enough for the trace), not all 300."""
    names = [f"a{n:03d}" for n in range(300)]
    r = router([agent(n) for n in names], {"q": names})
    for n, name in enumerate(names):
        r.set_available(name, float(n))
    offer = next(d for d in r.submit(spec(1, start=400.0), 400.0) if d.kind == "offer")
    assert offer.agent == "a000"          # longest idle
    assert (offer.trace["examined"], offer.trace["free_members"]) == (10, 300)
    assert offer.trace["candidates"] == names[:10]


def big_moment(size, monkeypatch, exact):
    """``size`` identical agents whose wrap-ups end at 40 while ``size`` calls wait; the offers of the tick."""
    if exact:
        monkeypatch.setattr(routing.matching, "BIG_MOMENT", 10 ** 9)
    names = [f"m{n:03d}" for n in range(size)]
    r = router([agent(n, {"s": 1}) for n in names],
               {"q": QueueConfig("q", tuple(Member(n) for n in names), "least_loaded", wrap_up=30.0)})
    for n, name in enumerate(names):
        r.set_available(name, float(n % 7))
        r.submit(spec(n + 1, start=0.0), 0.0)
        r.accept(n + 1, name, 0.0)
        r.complete(n + 1, 10.0)
    for n in range(size):
        r.submit(spec(size + n + 1, start=20.0 - n % 5, priority=n % 3), 20.0)
    return offers(r.tick(40.0))


def test_a_big_moment_of_alike_agents_offers_as_comparing_every_pair(monkeypatch):
    """60 agents freed at once (past BIG_MOMENT): one by one in queue order gives the pairwise result."""
    assert routing.matching.BIG_MOMENT < 60
    quick = big_moment(60, monkeypatch, exact=False)
    exact = big_moment(60, monkeypatch, exact=True)
    assert len(quick) == 60 and sorted(quick) == sorted(exact)


BAD = [float("nan"), float("inf"), -float("inf")]


@pytest.mark.parametrize("bad", BAD, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("call", [
    lambda r, t: r.tick(t),
    lambda r, t: r.set_available("a1", t),
    lambda r, t: r.set_not_ready("a1", "break", t),
    lambda r, t: r.agent_logout("a3", t),
    lambda r, t: r.submit(spec(7, "q", 5.0), t),
    lambda r, t: r.submit(spec(7, "q", t), 5.0),
    lambda r, t: r.submit(spec(7, "q", 5.0, preferred=(("a1", t),)), 5.0),
    lambda r, t: r.accept(1, r.offered_to(1), t),
    lambda r, t: r.reject(1, r.offered_to(1), t),
    lambda r, t: r.offer_failed(1, r.offered_to(1), "busy", t),
    lambda r, t: r.cancel(1, "hung_up", t),
    lambda r, t: r.move(1, "s", t),
    lambda r, t: r.set_priority(1, 2, t),
    lambda r, t: r.complete(2, t),
    lambda r, t: r.transfer(2, "q", t),
    lambda r, t: r.end_wrap_up("a1", t),
    lambda r, t: r.explain(1, t),
    lambda r, t: r.waiting(now=t),
], ids=lambda c: "")
def test_a_time_that_is_not_finite_is_refused_and_changes_nothing(call, bad):
    """NaN or an infinite time is an InvalidTime (a RoutingError), and the core is as it was."""
    r, _ = play([("available", "a1"), ("available", "a2"), ("submit", "q", "voice", 0, 0, 0.0, None, False),
                 ("submit", "q", "voice", 0, 0, 0.0, None, False), ("wait", 1.0), ("accept", 2)], check=False)
    before = (r.agents(), r.waiting(now=5.0), r.next_deadline())
    with pytest.raises(InvalidTime) as caught:
        call(r, bad)
    assert isinstance(caught.value, RoutingError) and "finite" in str(caught.value)
    assert (r.agents(), r.waiting(now=5.0), r.next_deadline()) == before


def test_a_queue_with_a_duration_that_is_not_finite_is_refused():
    """A NaN offer timeout or an infinite member delay is a ValueError naming the field."""
    with pytest.raises(ValueError, match="offer_timeout"):
        QueueConfig("q", (), offer_timeout=math.nan)
    with pytest.raises(ValueError, match="members.a.delay"):
        QueueConfig("q", (Member("a", 0, math.inf),))
