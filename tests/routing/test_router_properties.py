"""Invariants of the routing core under random command sequences (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from routing import Member, QueueConfig, RoutingError
from tests.routing.helpers import agent, router, spec

AGENTS = [agent("a1", {"s": 5}, ("en",)), agent("a2", {"s": 2}, ("zh",)), agent("a3", {"t": 3}, ("en", "zh")),
          agent("a4", {"s": 1, "t": 1})]
NAMES = [a.id for a in AGENTS]
QUEUES = {
    "q": QueueConfig("q", (Member("a1"), Member("a2"), Member("a4", 1, 20.0)), "best_proficiency", 15.0, 5.0),
    "r": QueueConfig("r", (Member("a2"), Member("a3"), Member("a4")), "least_loaded", 10.0, 0.0,
                     overflow_after=90.0, overflow_to="q"),
    "s": QueueConfig("s", (Member("a3"), Member("a1", 1, 10.0)), "fewest_skills", 12.0, 3.0),
}
LADDERS = [(), (("s >= 4", 30.0),), (("language == zh", 20.0), ("s >= 1", 40.0))]
IID = st.integers(1, 25)

command = st.one_of(
    st.tuples(st.just("submit"), st.sampled_from(sorted(QUEUES)), st.sampled_from(["voice", "email"]),
              st.integers(0, 2), st.integers(0, 3), st.sampled_from([0.0, 60.0]),
              st.sampled_from([None] + NAMES), st.booleans()),
    st.tuples(st.just("available"), st.sampled_from(NAMES)),
    st.tuples(st.just("not_ready"), st.sampled_from(NAMES)),
    st.tuples(st.just("logout"), st.sampled_from(NAMES)),
    st.tuples(st.just("phone"), st.sampled_from(NAMES), st.booleans()),
    st.tuples(st.just("end_wrap_up"), st.sampled_from(NAMES)),
    st.tuples(st.just("accept"), IID),
    st.tuples(st.just("reject"), IID),
    st.tuples(st.just("failed"), IID),
    st.tuples(st.just("complete"), IID),
    st.tuples(st.just("cancel"), IID),
    st.tuples(st.just("move"), IID, st.sampled_from(sorted(QUEUES))),
    st.tuples(st.just("transfer"), IID, st.sampled_from(sorted(QUEUES))),
    st.tuples(st.just("priority"), IID, st.integers(0, 3)),
    st.tuples(st.just("wait"), st.floats(0.5, 40.0)),
)


def apply(r, cmd, now, next_id):
    """Carry out one command; returns its decisions (RoutingError propagates)."""
    name = cmd[0]
    if name == "submit":
        _, queue, channel, ladder, priority, bonus, preferred, customer = cmd
        return r.submit(spec(next_id, queue, now, channel, LADDERS[ladder], priority=priority, tier_bonus=bonus,
                             preferred=((preferred, now + 25.0),) if preferred else (),
                             customer_key="c" if customer else None), now)
    if name == "available":
        return r.set_available(cmd[1], now)
    if name == "not_ready":
        return r.set_not_ready(cmd[1], "break", now)
    if name == "logout":
        return r.agent_logout(cmd[1], now)
    if name == "phone":
        return r.set_phone_registered(cmd[1], cmd[2], now)
    if name == "end_wrap_up":
        return r.end_wrap_up(cmd[1], now)
    if name in ("accept", "reject", "failed"):
        agent_id = r.offered_to(cmd[1])
        if agent_id is None:
            return []
        if name == "failed":
            return r.offer_failed(cmd[1], agent_id, "no_answer", now)
        return getattr(r, name)(cmd[1], agent_id, now)
    if name == "complete":
        return r.complete(cmd[1], now)
    if name == "cancel":
        return r.cancel(cmd[1], "hung_up", now)
    if name == "move":
        return r.move(cmd[1], cmd[2], now)
    if name == "transfer":
        return r.transfer(cmd[1], cmd[2], now)
    if name == "priority":
        return r.set_priority(cmd[1], cmd[2], now)
    return r.tick(now)


def play(commands, check=True, agents=AGENTS, queues=QUEUES):
    """Run the commands, checking the invariants after each; returns (router, decisions).

    Other ``agents`` and ``queues`` must use the same agent and queue names."""
    r = router(agents, queues, max_bonus=120.0)
    now, next_id, log, channel = 0.0, 1, [], {}
    for cmd in commands:
        if cmd[0] == "wait":
            now += cmd[1]
        try:
            log += apply(r, cmd, now, next_id)
        except RoutingError:
            continue
        finally:
            if cmd[0] == "submit":
                channel[next_id] = cmd[2]
                next_id += 1
        if check:
            check_invariants(r, now, channel)
    return r, log


def check_invariants(r, now, channel):
    """No agent over capacity; one offer at most per interaction; nobody free and eligible left idle."""
    offered = {}
    for view in r.agents():
        cost = sum(r.config.agents[view.agent].cost(channel[i]) for i in view.work + view.offers)
        assert view.used == cost and 0 <= view.used <= view.capacity, view
        for iid in view.offers:
            assert iid not in offered, f"{iid} offered to {offered[iid]} and {view.agent}"
            offered[iid] = view.agent
    for item in r.waiting(now=now):
        assert offered.get(item.interaction) == item.offered_to
        if item.offered_to is None:
            explained = r.explain(item.interaction, now)
            eligible = [a for a, why in explained["agents"].items() if why == "eligible"]
            assert eligible == [], f"{item.interaction} waits while {eligible} could take it"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(command, max_size=60))
def test_invariants_hold_after_every_command(commands):
    """Capacity, single offers and 'a free eligible agent is always offered the work' always hold."""
    play(commands)


@settings(max_examples=60, deadline=None)
@given(st.lists(command, max_size=50))
def test_same_commands_same_decisions(commands):
    """Determinism: replaying the same commands gives the same decisions, traces included."""
    _, first = play(commands, check=False)
    _, second = play(commands, check=False)
    assert [d.to_dict() for d in first] == [d.to_dict() for d in second]


# (gap since the previous arrival, priority, tier bonus): big bonuses often, so a cap matters
arrival = st.tuples(st.sampled_from([0.0, 5.0, 30.0, 61.5]), st.sampled_from([0, 0, 1, 5]),
                    st.sampled_from([0.0, 0.0, 90.0, 300.0]))


@settings(max_examples=80, deadline=None)
@given(st.lists(arrival, min_size=2, max_size=25), st.floats(30.0, 120.0))
def test_no_starvation_under_bounded_bonuses(arrivals, handle):
    """Bonuses capped at 120 s: no offer goes to work while something that started over 120 s
    before it still waits, whatever the priorities and tiers; and everything is served."""
    r = router([agent("a")], {"q": ["a"]}, max_bonus=120.0, aging_rate=1.0)
    r.set_available("a", 0.0)
    times, t = [], 0.0
    for gap, _, _ in arrivals:
        t += gap
        times.append(t)
    starts, served, busy = {}, [], None          # busy: (interaction, completes at)
    pending = list(zip(times, arrivals))
    while pending or busy is not None:
        if busy is not None and (not pending or busy[1] <= pending[0][0]):
            now = busy[1]
            decisions = r.complete(busy[0], now)
        else:
            now, (_, priority, bonus) = pending.pop(0)
            iid = len(starts) + 1
            starts[iid] = now
            decisions = r.submit(spec(iid, start=now, priority=priority, tier_bonus=bonus), now)
            if busy is not None:
                assert [d for d in decisions if d.kind == "offer"] == []
                continue
        busy = None
        for d in decisions:
            if d.kind == "offer":
                older = [v.interaction for v in r.waiting(now=now)
                         if v.interaction != d.interaction and starts[v.interaction] < starts[d.interaction] - 120.0]
                assert older == [], f"offered {d.interaction} while {older} waited longer than the bonus cap"
                r.accept(d.interaction, "a", now)
                served.append(d.interaction)
                busy = (d.interaction, now + handle)
    assert sorted(served) == sorted(starts)
