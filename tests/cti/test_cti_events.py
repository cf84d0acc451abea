"""Validation of CTI posts and the per-call tracker's idempotence and ordering rules."""

from __future__ import annotations

import pytest

from channels.telephony.cti import CallState, CtiCallTracker, CtiInputError, parse_cti_event


def ev(**params):
    """A valid inbound event with the given overrides."""
    base = {"event": "newCall", "callId": "c1", "from": "+8613800138000", "to": "4000", "direction": "in"}
    base.update(params)
    return parse_cti_event({k: v for k, v in base.items() if v is not None})


def test_parse_normalizes_number_punctuation():
    """Spaces, dashes and brackets in numbers are removed; the rest is kept as sent."""
    e = parse_cti_event({"event": "newCall", "callId": "a-1", "from": "+1 (415) 555-0100", "to": "200"})
    assert (e.from_number, e.to_number, e.direction) == ("+14155550100", "200", "in")


@pytest.mark.parametrize("params, field", [
    ({"event": "ring", "callId": "c"}, "event"),
    ({"event": "hangup"}, "callId"),
    ({"event": "hangup", "callId": "c 1"}, "callId"),
    ({"event": "newCall", "callId": "c"}, "from"),
    ({"event": "newCall", "callId": "c", "direction": "out", "from": "1"}, "to"),
    ({"event": "newCall", "callId": "c", "from": "1\r\nAction: Originate"}, "from"),
    ({"event": "answer", "callId": "c", "user": "bob\nx"}, "user"),
    ({"event": "answer", "callId": "c", "direction": "sideways"}, "direction"),
    ({"event": "answer", "callId": "c", "extra": "1"}, "extra"),
    ({"event": "answer", "callId": ["c"]}, "callId"),
])
def test_parse_rejects_naming_the_field(params, field):
    """Each kind of bad input is refused with the offending field named."""
    with pytest.raises(CtiInputError) as info:
        parse_cti_event(params)
    assert info.value.field == field


def test_normal_call_effects():
    """newCall, answer, hangup produce create, answer, end(completed) once each."""
    t = CtiCallTracker()
    assert [e.kind for e in t.handle(ev(), 10)] == ["create"]
    assert [e.kind for e in t.handle(ev(event="answer"), 12)] == ["answer"]
    effects = t.handle(ev(event="hangup"), 40)
    assert [(e.kind, e.reason, e.at) for e in effects] == [("end", "completed", 40)]
    assert t.get("c1").state is CallState.ENDED


def test_duplicates_are_idempotent():
    """Repeating any event changes nothing and yields no effect."""
    t = CtiCallTracker()
    t.handle(ev(), 10)
    assert t.handle(ev(), 11) == []
    t.handle(ev(event="answer"), 12)
    assert t.handle(ev(event="answer"), 13) == []
    t.handle(ev(event="hangup"), 20)
    assert t.handle(ev(event="hangup"), 21) == []


def test_answer_for_unknown_call_creates_it_first():
    """An answer for a call never announced creates and answers it."""
    t = CtiCallTracker()
    assert [e.kind for e in t.handle(ev(event="answer", callId="x"), 5)] == ["create", "answer"]


def test_hangup_before_answer_is_unanswered_and_late_events_ignored():
    """Hangup while ringing ends it as unanswered; a late answer or newCall does nothing."""
    t = CtiCallTracker()
    t.handle(ev(), 1)
    assert [(e.kind, e.reason) for e in t.handle(ev(event="hangup"), 9)] == [("end", "unanswered")]
    assert t.handle(ev(event="answer"), 10) == []
    assert t.handle(ev(), 11) == []


def test_hangup_cause_is_kept():
    """A cause given by the PBX is the end reason."""
    t = CtiCallTracker()
    effects = t.handle(ev(event="hangup", cause="busy"), 3)
    assert [(e.kind, e.reason) for e in effects] == [("create", None), ("end", "busy")]


def test_calls_never_hung_up_expire_and_ended_ones_are_forgotten():
    """A call open past max age is ended as timeout; an ended call is forgotten after forget_after."""
    t = CtiCallTracker(max_call_age=100, forget_after=85)
    t.handle(ev(callId="open"), 0)
    t.handle(ev(callId="done"), 0)
    t.handle(ev(callId="done", event="hangup"), 10)
    assert t.expire(90) == []
    assert len(t) == 2
    assert [(e.kind, e.call_id, e.reason) for e in t.expire(100)] == [("end", "open", "timeout")]
    assert t.get("done") is None
    assert t.get("open").state is CallState.ENDED
