"""The push hub over real loopback HTTP: order, topics, replay, resync, overflow, keep-alive, stop."""

from __future__ import annotations

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from callcenter.web.push import PushHub, topics_for, agent_topic
from callcenter.runtime.clock import Clock
from tests.push.conftest import PEOPLE, make_server, stop_server
from tests.push.sse import open_stream


def as_user(name: str, **extra: str) -> dict[str, str]:
    """Request headers that make the test server see ``name``."""
    return {"x-test-user": name, **extra}


def test_snapshot_first_then_events_in_order(run, push_server):
    """A fresh stream gets the snapshot, then the agent's events in publication order with rising ids."""
    async def scenario():
        s = await open_stream(reactor, push_server.url, as_user("alice"))
        assert s.status == 200 and s.response.headers.getRawHeaders(b"content-type") == [b"text/event-stream; charset=utf-8"]
        await s.wait_events(1)
        for n in range(1, 21):
            push_server.hub.publish("agent:alice", "offer", {"n": n})
        events = await s.wait_events(21)
        s.close()
        return s, events

    s, events = run(scenario())
    assert events[0].event == "snapshot" and events[0].data == {"who": "alice"}
    assert [e.data["n"] for e in events[1:]] == list(range(1, 21))
    assert [e.id for e in events[1:4]] == ["e1,agent:alice=1", "e1,agent:alice=2", "e1,agent:alice=3"]
    assert s.retry == 2000


def test_agents_get_only_their_topic_and_supervisors_theirs(run, push_server):
    """Alice never sees Bob's events; a supervisor gets the supervisors topic and no agent's."""
    async def scenario():
        alice = await open_stream(reactor, push_server.url, as_user("alice"))
        sue = await open_stream(reactor, push_server.url, as_user("sue"))
        await alice.wait_events(1)
        await sue.wait_events(1)
        hub = push_server.hub
        hub.publish("agent:bob", "offer", {"for": "bob"})
        hub.publish("supervisors", "queue", {"for": "supervisors"})
        hub.publish("agent:alice", "offer", {"for": "alice"})
        await alice.wait_events(2)
        await sue.wait_events(2)
        alice.close()
        sue.close()
        return alice.events, sue.events

    alice, sue = run(scenario())
    assert [e.data for e in alice[1:]] == [{"for": "alice"}]
    assert [e.data for e in sue[1:]] == [{"for": "supervisors"}]
    assert sue[1].id == "e1,supervisors=1"


def test_topics_of_each_role():
    """Agents read their own topic; supervisors and admins read supervisors (plus their agent topic)."""
    from callcenter.web.principal import Principal

    assert topics_for(PEOPLE["alice"]) == ("agent:alice",)
    assert topics_for(PEOPLE["sue"]) == ("supervisors",)
    assert topics_for(Principal(9, "max", "admin", "max")) == ("agent:max", "supervisors")
    assert topics_for(Principal(9, "x", "agent", None)) == ()
    assert agent_topic("a b") == "agent:a b"


def test_reconnect_replays_exactly_the_missed_events(run, push_server):
    """Reconnecting with Last-Event-ID sends exactly what was missed, across topics, in order, no snapshot."""
    from callcenter.web.principal import Principal
    from tests.push import conftest

    conftest.PEOPLE["max"] = Principal(4, "max", "supervisor", "max")
    hub = push_server.hub

    async def scenario():
        first = await open_stream(reactor, push_server.url, as_user("max"))
        await first.wait_events(1)
        hub.publish("agent:max", "offer", {"n": 1})
        hub.publish("supervisors", "queue", {"n": 2})
        await first.wait_events(3)
        first.close()
        await first.ended
        hub.publish("supervisors", "queue", {"n": 3})
        hub.publish("agent:max", "offer", {"n": 4})
        hub.publish("agent:alice", "offer", {"n": "not for max"})
        hub.publish("supervisors", "queue", {"n": 5})
        again = await open_stream(reactor, push_server.url, as_user("max", **{"last-event-id": first.last_id}))
        hub.publish("agent:max", "offer", {"n": 6})
        events = await again.wait_events(4)
        again.close()
        return first, events

    try:
        first, events = run(scenario())
    finally:
        del conftest.PEOPLE["max"]
    assert first.last_id == "e1,agent:max=1,supervisors=1"
    assert [e.data["n"] for e in events] == [3, 4, 5, 6]
    assert events[-1].id == "e1,agent:max=3,supervisors=3"
    assert push_server.snapshots == ["max"]


def test_query_parameter_cursor_replays_too(run, push_server):
    """A page reconnecting by hand passes the cursor as ?last_event_id= and gets the replay."""
    hub = push_server.hub
    hub.publish("agent:alice", "offer", {"n": 1})
    hub.publish("agent:alice", "offer", {"n": 2})

    async def scenario():
        s = await open_stream(reactor, push_server.url + "?last_event_id=e1%2Cagent%3Aalice%3D1", as_user("alice"))
        events = await s.wait_events(1)
        s.close()
        return events

    assert [e.data for e in run(scenario())] == [{"n": 2}]


@pytest.mark.parametrize("cursor", ["e1,agent:alice=1", "e0,agent:alice=20", "e1,agent:alice=99",
                                    "e1,supervisors=20", "garbage", "e1,agent:alice=x"])
def test_unusable_cursor_gets_resync_then_snapshot(run, push_server, cursor):
    """Too far behind, another epoch, a future position, other topics or garbage: resync, then a snapshot."""
    hub = push_server.hub
    for n in range(20):
        hub.publish("agent:alice", "offer", {"n": n})

    async def scenario():
        s = await open_stream(reactor, push_server.url, as_user("alice", **{"last-event-id": cursor}))
        hub_events = await s.wait_events(2)
        hub.publish("agent:alice", "offer", {"n": "live"})
        await s.wait_events(3)
        s.close()
        return hub_events

    events = run(scenario())
    assert [e.event for e in events] == ["resync", "snapshot", "offer"]
    assert events[0].id is None  # a resync carries no id: a drop now resyncs again
    assert events[1].id == "e1,agent:alice=20" and events[2].data == {"n": "live"}


def test_events_published_during_the_snapshot_follow_it(run):
    """Events published while the snapshot is being taken wait and are sent after it, none lost."""
    gate: Deferred = Deferred()

    async def slow_snapshot(principal):
        await gate
        return {"state": "taken late"}

    server = make_server(run, replay=16, snapshot=slow_snapshot)
    try:
        async def scenario():
            s = await open_stream(reactor, server.url, as_user("alice"))
            server.hub.publish("agent:alice", "offer", {"n": 1})
            server.hub.publish("agent:alice", "offer", {"n": 2})
            gate.callback(None)
            events = await s.wait_events(3)
            s.close()
            return events

        events = run(scenario())
    finally:
        stop_server(run, server)
    assert [(e.event, e.id) for e in events] == [("snapshot", "e1,agent:alice=0"), ("offer", "e1,agent:alice=1"),
                                                 ("offer", "e1,agent:alice=2")]


def test_without_snapshot_hook_a_resync_carries_the_current_position(run):
    """With no snapshot hook, a resync event has the current id so the page re-reads its state once."""
    server = make_server(run, replay=2, snapshot=None)
    try:
        for n in range(5):
            server.hub.publish("agent:alice", "offer", {"n": n})

        async def scenario():
            s = await open_stream(reactor, server.url, as_user("alice", **{"last-event-id": "e1,agent:alice=1"}))
            events = await s.wait_events(1)
            s.close()
            return events

        events = run(scenario())
    finally:
        stop_server(run, server)
    assert [(e.event, e.id) for e in events] == [("resync", "e1,agent:alice=5")]


def test_stalled_client_is_dropped_and_resyncs_on_return(run, push_server):
    """A client whose queue passes the cap is disconnected; its reconnect gets a resync, not a partial replay."""
    hub = push_server.hub

    async def scenario():
        s = await open_stream(reactor, push_server.url, as_user("alice"))
        await s.wait_events(1)
        s.pause()
        for n in range(200):
            hub.publish("agent:alice", "offer", {"n": n, "pad": "x" * 4096})
        assert hub.connections() == 0
        s.resume()
        clean = await s.ended
        again = await open_stream(reactor, push_server.url, as_user("alice", **{"last-event-id": s.last_id}))
        events = await again.wait_events(2)
        again.close()
        return clean, s.last_id, events

    clean, last_id, events = run(scenario())
    assert clean is False
    assert last_id == "e1,agent:alice=0"
    assert [e.event for e in events] == ["resync", "snapshot"]


def test_keepalive_comment_every_interval(run, push_server):
    """After the keep-alive interval on the hub's clock, every idle stream gets a comment line."""
    async def scenario():
        s = await open_stream(reactor, push_server.url, as_user("alice"))
        await s.wait_events(1)
        push_server.clock.advance(15)
        comment = await s.wait_comment()
        s.close()
        return comment

    assert run(scenario()) == "keepalive"


def test_stop_service_ends_streams_cleanly_and_refuses_new_ones(run, push_server):
    """stopService finishes open streams (a clean end) and later requests get 503."""
    async def scenario():
        s = await open_stream(reactor, push_server.url, as_user("alice"))
        await s.wait_events(1)
        push_server.hub.stopService()
        clean = await s.ended
        late = await open_stream(reactor, push_server.url, as_user("alice"))
        await late.ended
        return clean, late.status

    assert run(scenario()) == (True, 503)


def test_anonymous_is_refused_and_streams_per_user_are_capped(run):
    """No principal -> 401; a user past the stream cap -> 429 with Retry-After."""
    server = make_server(run, replay=4, max_streams=2)
    try:
        async def scenario():
            anon = await open_stream(reactor, server.url)
            a = await open_stream(reactor, server.url, as_user("alice"))
            b = await open_stream(reactor, server.url, as_user("alice"))
            await a.wait_events(1)
            await b.wait_events(1)
            c = await open_stream(reactor, server.url, as_user("alice"))
            await c.ended
            a.close()
            b.close()
            return anon.status, c.status, c.response.headers.getRawHeaders(b"retry-after")

        assert run(scenario()) == (401, 429, [b"30"])
    finally:
        stop_server(run, server)


def test_publish_checks_kind_and_numbers_per_topic():
    """Kinds must be identifiers (they go into the framing); each topic counts on its own."""
    from twisted.internet import task

    hub = PushHub(Clock(task.Clock()), replay=2)
    with pytest.raises(ValueError):
        hub.publish("agent:a", "offer\ndata: x", {})
    with pytest.raises(TypeError):
        hub.publish("agent:a", "offer", object())
    assert [hub.publish("agent:a", "x", 1), hub.publish("agent:b", "x", 1), hub.publish("agent:a", "x", 1)] == [1, 1, 2]
    assert hub.last_seq("agent:a") == 2 and hub.last_seq("nobody") == 0
    with pytest.raises(ValueError):
        PushHub(Clock(task.Clock()), replay=0)


def test_replay_buffer_is_bounded_in_bytes():
    """Big events push the oldest out of the replay buffer so a topic's memory stays within its budget."""
    from twisted.internet import task

    hub = PushHub(Clock(task.Clock()), replay=100, replay_bytes=10_000)
    for n in range(50):
        hub.publish("agent:a", "offer", {"n": n, "pad": "x" * 1000})
    kept = hub._topics["agent:a"].recent
    assert 5 <= len(kept) <= 10 and kept[-1].seq == 50 and sum(len(e.body) for e in kept) <= 10_000
    hub.publish("agent:a", "offer", {"pad": "y" * 50_000})
    assert [e.seq for e in hub._topics["agent:a"].recent] == [51]
