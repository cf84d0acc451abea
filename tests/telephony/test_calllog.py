"""Call summaries computed from the recorded AMI event streams, timed as recorded."""

from __future__ import annotations

from channels.telephony.ami_protocol import AmiFrameParser, AmiMessage
from channels.telephony.ami_translate import translate_event
from channels.telephony.calllog import CallLogBuilder, CallSummary
from tests.telephony.transcripts import load


def _timed_messages(scenario: str) -> list[tuple[float, AmiMessage]]:
    parser = AmiFrameParser(expect_banner=False)
    return [(c.t, m) for c in load(scenario) if c.conn == 1 and c.from_asterisk for m in parser.feed(c.data)]


def _summaries(scenario: str) -> list[CallSummary]:
    builder = CallLogBuilder()
    out = []
    for t, message in _timed_messages(scenario):
        event = translate_event(message, t)
        if event is not None and (summary := builder.feed(event)) is not None:
            out.append(summary)
    assert builder.live_calls() == []
    return out


def _first_time(scenario: str, predicate) -> float:
    return next(t for t, m in _timed_messages(scenario) if predicate(m))


def test_answered_call_summary():
    """inbound-answered: answered when agent1's dial ended ANSWER, talk = bridge time, agent hung up, cause 16."""
    (summary,) = _summaries("inbound-answered")
    answered = _first_time("inbound-answered", lambda m: m.name == "DialEnd" and "Channel" in m and m["DialStatus"] == "ANSWER")
    both_in = [t for t, m in _timed_messages("inbound-answered") if m.name == "BridgeEnter"][1]
    first_out = _first_time("inbound-answered", lambda m: m.name == "BridgeLeave")
    assert summary.answered_at == answered
    assert summary.talk_seconds == first_out - both_in
    assert summary.hung_up_by.startswith("Local/agent1@agents")
    assert (summary.cause, summary.cause_text) == (16, "Normal Clearing")


def test_noanswer_then_answered_lists_both_dials():
    """inbound-noanswer-then-answered: NOANSWER then ANSWER; answered at the second dial."""
    (summary,) = _summaries("inbound-noanswer-then-answered")
    statuses = [status for dest, status in summary.dial_statuses if dest.startswith("Local/agent")]
    assert statuses == ["NOANSWER", "ANSWER"]
    assert summary.answered_at is not None and summary.talk_seconds > 0


def test_abandoned_call_was_never_answered():
    """inbound-abandoned: no agent dial, no talk time, the caller's side hung up first."""
    (summary,) = _summaries("inbound-abandoned")
    assert summary.answered_at is None and summary.talk_seconds == 0.0
    assert summary.hung_up_by == "Local/100@customers-00000008;2"
