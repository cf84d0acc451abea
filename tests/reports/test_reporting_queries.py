"""The report queries on SQLite and PostgreSQL: legs from the log as the record writes it, agents' states."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from callcenter.records.customers import create_customer
from callcenter.records.errors import InvalidInput
from callcenter.records.interactions import append_events, create_interaction, update_interaction_state
from callcenter.records.reporting import AgentStateLog, ReportingReader, contact_histories
from callcenter.reports.legs import ANSWERED, OVERFLOWED
from tests.reports.helpers import T0, at


def _contact(conn, uow, queue, queued, steps, channel="voice", direction="inbound", disposition=None, payload=None):
    """Write a contact as the switchboard does: created queued (or new for outbound), routed, then each
    ``(seconds, state, step, details, kind)``; returns its id."""
    customer = create_customer(conn, uow, {"tier": "standard", "attributes": {}, "external_ids": {}}, [], at(queued))
    fields = {"channel": channel, "direction": direction, "state": "queued" if direction == "inbound" else "accepted",
              "queue": queue, "queued_at": at(queued), "payload": payload or {}}
    iid = create_interaction(conn, uow, customer.id, fields, None, at(queued)).id
    append_events(conn, uow, [(iid, at(queued), "routed", None, {"queue": queue})])
    for seconds, state, step, details, kind in steps:
        if kind != "state":
            append_events(conn, uow, [(iid, at(seconds), kind, None, details)])
            continue
        extra = {"disposition": disposition} if state == "completed" and disposition else {}
        update_interaction_state(conn, uow, iid, state, at(seconds), None, {**details, "step": step}, extra)
    return iid


def _day(conn, uow):
    """A transfer, an overflow, an abandon, an outbound call and a contact of the day before."""
    s = "state"
    ids = {}
    ids["transfer"] = _contact(conn, uow, "support", 0, [
        (2, "offered", "offer", {"agent": "alice", "trace": {"big": "x" * 500}}, s),
        (8, "connected", "connect", {"agent": "alice"}, s),
        (60, "queued", "transfer", {"queue": "billing"}, s),
        (90, "connected", "connect", {"agent": "carol"}, s),
        (150, "wrap_up", "end", {}, s), (170, "completed", "wrap_up_end", {}, s)], disposition="resolved")
    ids["overflow"] = _contact(conn, uow, "sales", -600, [
        (0, "queued", None, {"interaction": 0, "source": "sales", "target": "support", "why": "timeout"}, "overflowed"),
        (30, "abandoned", "abandon", {"reason": "caller_hung_up"}, s)])
    ids["outbound"] = _contact(conn, uow, "support", 10, [(40, "wrap_up", "end", {}, s)], direction="outbound")
    ids["yesterday"] = _contact(conn, uow, "support", -86400, [(-86390, "abandoned", "abandon", {}, s)])
    return ids


def test_legs_of_a_range_from_the_log(run, database):
    """Transfer and overflow each close a leg and open the next; outbound calls and other days have none."""
    ids = run(database.write(_day))
    legs = run(ReportingReader(database).legs(T0, at(900)))
    assert [(leg.contact, leg.index, leg.queue, leg.outcome, leg.entered_at) for leg in legs] == [
        (ids["transfer"], 0, "support", ANSWERED, at(0)),
        (ids["overflow"], 1, "support", "abandoned", at(0)),
        (ids["transfer"], 1, "billing", ANSWERED, at(60)),
    ]
    first, second = legs[0], legs[2]
    assert (first.wait, first.agent, first.transferred, first.handle_time) == (8.0, "alice", True, 52.0)
    assert (second.wait, second.agent, second.handle_time, second.disposition) == (30.0, "carol", 80.0, "resolved")
    assert first.entered_at.utcoffset() == timedelta(0)
    earlier = run(ReportingReader(database).legs(at(-3600), T0))
    assert [(leg.contact, leg.outcome) for leg in earlier] == [(ids["overflow"], OVERFLOWED)]


def test_offers_are_not_read(run, database):
    """The entries read for legs leave offers out (their traces are the bulk of a log)."""
    run(database.write(_day))
    histories = run(database.read(contact_histories, T0, at(900)))
    steps = [e.details.get("step") for h in histories for e in h.entries]
    assert "offer" not in steps and "connect" in steps


def test_bounds_in_another_zone_mean_the_same_instants(run, database):
    """Bounds given with a local offset select by instant, not by wall-clock text."""
    run(database.write(_day))
    plus_two = timezone(timedelta(hours=2))
    legs = run(ReportingReader(database).legs(T0.astimezone(plus_two), at(30).astimezone(plus_two)))
    assert [leg.entered_at for leg in legs] == [at(0), at(0)]


def test_agent_state_spans_include_the_state_at_the_start(run, database):
    """States stored in order give spans clipped to the range, the last change before it included."""
    log = AgentStateLog(database)
    for agent, state, seconds in (("alice", "available", -100), ("bob", "not_ready", -50), ("alice", "busy", 60),
                                  ("alice", "wrap_up", 120), ("alice", "available", 150), ("bob", "available", 900)):
        log.record(agent, state, None, at(seconds))
    run(log.flushed())
    spans = run(ReportingReader(database).spans(T0, at(300)))
    assert sorted((s.agent, s.state, s.start, s.end) for s in spans) == [
        ("alice", "available", at(0), at(60)), ("alice", "available", at(150), at(300)),
        ("alice", "busy", at(60), at(120)), ("alice", "wrap_up", at(120), at(150)),
        ("bob", "not_ready", at(0), at(300))]


@pytest.mark.parametrize("start,end,field", [
    (T0, T0, "end"),
    (at(10), T0, "end"),
    (T0.replace(tzinfo=None), at(10), "start"),
    (T0, T0 + timedelta(days=400), "end"),
])
def test_bad_ranges_are_refused(start, end, field):
    """Empty, reversed, naive or over-long ranges raise InvalidInput naming the field, before any query."""
    with pytest.raises(InvalidInput) as info:
        contact_histories(None, start, end)
    assert info.value.field == field


def test_a_restart_closes_the_states_left_open(run, database):
    """States a stopped process left open end at the next start: nobody stays available for ever."""
    log = AgentStateLog(database)
    log.record("alice", "available", None, at(0))
    log.record("bob", "logged_out", None, at(0))
    run(log.flushed())
    restarted = AgentStateLog(database, started_at=at(600))
    restarted.kick()
    run(restarted.flushed())
    spans = run(ReportingReader(database).spans(T0, at(3600)))
    assert sorted((s.agent, s.state, s.start, s.end) for s in spans) == [
        ("alice", "available", at(0), at(600)), ("alice", "logged_out", at(600), at(3600)),
        ("bob", "logged_out", at(0), at(3600))]
