"""Times may be negative: the core decides the same whatever the origin of its clock."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from routing import RoutingError
from tests.routing.helpers import agent, offers, router, spec
from tests.routing.test_router_properties import AGENTS, QUEUES, apply, command


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
