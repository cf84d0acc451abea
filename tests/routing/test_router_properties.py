"""Invariants of the routing core under random command sequences (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from routing import Member, QueueConfig, RoutingError
from tests.routing.helpers import agent, router, spec

AGENTS = [agent("a1", {"s": 5}, ("en",)), agent("a2", {"s": 2}, ("zh",)), agent("a3", {"t": 3}, ("en", "zh")),
          agent("a4", {"s": 1, "t": 1})]
QUEUES = {
    "q": QueueConfig("q", (Member("a1"), Member("a2"), Member("a4", 1, 20.0)), "best_proficiency", 15.0, 5.0),
    "r": QueueConfig("r", (Member("a2"), Member("a3"), Member("a4")), "least_loaded", 10.0, 0.0,
                     overflow_after=90.0, overflow_to="q"),
}
LADDERS = [(), (("s >= 4", 30.0),), (("language == zh", 20.0), ("s >= 1", 40.0))]

command = st.one_of(
    st.tuples(st.just("submit"), st.sampled_from(["q", "r"]), st.sampled_from(["voice", "email"]),
              st.integers(0, 2), st.integers(0, 3), st.sampled_from([0.0, 60.0])),
    st.tuples(st.just("available"), st.sampled_from([a.id for a in AGENTS])),
    st.tuples(st.just("not_ready"), st.sampled_from([a.id for a in AGENTS])),
    st.tuples(st.just("logout"), st.sampled_from([a.id for a in AGENTS])),
    st.tuples(st.just("accept"), st.integers(0, 30)),
    st.tuples(st.just("reject"), st.integers(0, 30)),
    st.tuples(st.just("complete"), st.integers(0, 30)),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("wait"), st.floats(0.5, 40.0)),
)


def play(commands):
    """Run the commands; returns (router, decisions, checks done). Illegal ones are skipped."""
    r = router(AGENTS, QUEUES, max_bonus=120.0)
    now, next_id, log = 0.0, 1, []
    for cmd in commands:
        name = cmd[0]
        try:
            if name == "submit":
                _, queue, channel, ladder, priority, bonus = cmd
                log += r.submit(spec(next_id, queue, now, channel, LADDERS[ladder], priority=priority,
                                     tier_bonus=bonus), now)
                next_id += 1
            elif name == "available":
                log += r.set_available(cmd[1], now)
            elif name == "not_ready":
                log += r.set_not_ready(cmd[1], "break", now)
            elif name == "logout":
                log += r.agent_logout(cmd[1], now)
            elif name in ("accept", "reject"):
                views = {v.interaction: v for v in r.waiting()}
                view = views.get(cmd[1])
                if view is None or view.offered_to is None:
                    continue
                log += getattr(r, name)(cmd[1], view.offered_to, now)
            elif name == "complete":
                log += r.complete(cmd[1], now)
            elif name == "cancel":
                log += r.cancel(cmd[1], "hung_up", now)
            else:
                now += cmd[1]
                log += r.tick(now)
        except RoutingError:
            continue
        check_invariants(r, now)
    return r, log


def check_invariants(r, now):
    """No agent over capacity; one offer at most per interaction; nobody free and eligible left idle."""
    offered = {}
    for view in r.agents():
        assert 0 <= view.used <= view.capacity, view
        for iid in view.offers:
            assert iid not in offered, f"{iid} offered to {offered[iid]} and {view.agent}"
            offered[iid] = view.agent
    for item in r.waiting(now=now):
        assert offered.get(item.interaction) == item.offered_to
        if item.offered_to is None:
            explained = r.explain(item.interaction, now)
            eligible = [a for a, why in explained["agents"].items() if why == "eligible"]
            assert eligible == [], f"{item.interaction} waits while {eligible} could take it"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(command, max_size=60))
def test_invariants_hold_after_every_command(commands):
    """Capacity, single offers and 'a free eligible agent is always offered the work' always hold."""
    play(commands)


@settings(max_examples=60, deadline=None)
@given(st.lists(command, max_size=40))
def test_same_commands_same_decisions(commands):
    """Determinism: replaying the same commands gives the same decisions, traces included."""
    _, first = play(commands)
    _, second = play(commands)
    assert [d.to_dict() for d in first] == [d.to_dict() for d in second]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(0, 3))
def test_no_starvation_under_bounded_bonuses(priority, tier_bonus_steps):
    """However high the priority and tier, work that waited longer than the bonus cap goes first."""
    r = router([agent("a")], {"q": ["a"]}, max_bonus=120.0)
    r.submit(spec(1, start=0.0), 0.0)
    r.submit(spec(2, start=121.0, priority=priority, tier_bonus=60.0 * tier_bonus_steps), 121.0)
    d = r.set_available("a", 121.0)
    assert [x.interaction for x in d if x.kind == "offer"] == [1]
