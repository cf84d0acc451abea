"""FastAGI sessions over a fake transport and clock: what the server writes, and when.

The environments are the ones a live Asterisk sent (tests/fixtures/asterisk/calls); the whole
conversations are replayed byte for byte against the whole server in test_recorded_calls.py.
"""

from __future__ import annotations

import inspect

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from channels.telephony.callhandling import CallHandling, DialAgent, QueueClosed, QueuePosition, ReleaseCall
from channels.telephony.fastagi import FastAgiFactory, HoldSettings
from tests.telephony.fakes import ScriptedCallHandling
from tests.telephony.transcripts import load

SCENARIO = "calls/answered-agent-hangs-up"


class Session:
    """One FastAGI connection on a StringTransport, built by the real factory."""

    def __init__(self, app: ScriptedCallHandling, settings: HoldSettings = HoldSettings(), now: float = 1000.0) -> None:
        self.clock = Clock()
        self.clock.advance(now)
        self.proto = FastAgiFactory(app, self.clock, settings).buildProtocol(None)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)
        self.read = 0

    def feed(self, *pieces: bytes) -> None:
        for piece in pieces:
            self.proto.dataReceived(piece)

    def new_output(self) -> bytes:
        data = self.transport.value()[self.read:]
        self.read = len(self.transport.value())
        return data


def _env(script: str) -> bytes:
    """The environment Asterisk sent for the first ``script`` request of the recording."""
    for conn in sorted({c.conn for c in load(SCENARIO) if c.conn != 1}):
        data = b"".join(c.data for c in load(SCENARIO) if c.conn == conn and c.from_asterisk)
        env = data[: data.index(b"\n\n") + 2]
        if f"agi_network_script: {script}\n".encode() in env:
            return env
    raise LookupError(script)


def _answered(session: Session, *answers: bytes) -> bytes:
    """Answer each command as it comes; return everything written meanwhile."""
    out = b""
    for answer in answers:
        out += session.new_output()
        session.feed(answer)
    return out + session.new_output()


def test_fake_application_matches_the_protocol_signatures():
    """The scripted fake has exactly CallHandling's methods with the same signatures."""
    members = [n for n, v in vars(CallHandling).items() if inspect.isfunction(v) and not n.startswith("_")]
    assert sorted(members) == ["call_answered", "call_arrived", "caller_hung_up", "channel_gone", "dial_result",
                               "queue_position"]
    for name in members:
        assert inspect.signature(getattr(ScriptedCallHandling, name)) == inspect.signature(getattr(CallHandling, name))
        assert inspect.iscoroutinefunction(getattr(ScriptedCallHandling, name)) == inspect.iscoroutinefunction(getattr(CallHandling, name))


def test_decision_at_once_sets_the_dial_variables_then_the_outcome():
    """A decision available at once: no music, the three dial variables, CC_OUTCOME dial last."""
    app = ScriptedCallHandling([DialAgent("Local/agent1@agents", 6, "1")])
    s = Session(app)
    s.feed(_env("inbound"))
    out = _answered(s, b"200 result=1 ()\n", *[b"200 result=1\n"] * 4)
    assert out == (b"GET VARIABLE IVR_DIGITS\nSET VARIABLE CC_AGENT_ENDPOINT \"Local/agent1@agents\"\n"
                   b"SET VARIABLE CC_DIAL_TIMEOUT 6\nSET VARIABLE CC_INTERACTION_ID 1\nSET VARIABLE CC_OUTCOME dial\n")
    assert s.transport.disconnecting
    (call,) = app.arrived
    assert (call.caller_number, call.caller_name, call.extension) == ("+14155550100", "Pat Lee", "100")
    assert call.channel.startswith("Local/100@callcenter-inbound-") and call.channel.endswith(";2")


def test_commands_go_out_one_at_a_time():
    """Each command waits for Asterisk's answer to the one before (Asterisk does not read ahead)."""
    later: Deferred = Deferred()
    s = Session(ScriptedCallHandling([later]))
    s.feed(_env("inbound"), b"200 result=1 ()\n", b"200 result=0\n")
    s.new_output()
    later.callback(DialAgent("Local/agent1@agents", 6, "1"))
    assert s.new_output() == b"SET MUSIC OFF\n"
    s.feed(b"200 result=0\n")
    assert s.new_output() == b"SET VARIABLE CC_AGENT_ENDPOINT \"Local/agent1@agents\"\n"


def test_hold_has_no_timer_and_a_decision_goes_out_the_moment_it_exists():
    """While no agent is free the caller hears music and nothing else is sent, however long it
    takes; the decision is written at once, not at the end of a hold slice."""
    later: Deferred = Deferred()
    s = Session(ScriptedCallHandling([later]))
    s.feed(_env("inbound"), b"200 result=1 ()\n")
    assert s.new_output() == b"GET VARIABLE IVR_DIGITS\nSET MUSIC ON default\n"
    s.feed(b"200 result=0\n")
    s.clock.advance(600)
    assert s.new_output() == b"" and not s.transport.disconnecting
    later.callback(DialAgent("PJSIP/1001", 15, "abc-1"))
    out = _answered(s, *[b"200 result=1\n"] * 5)
    assert out == (b"SET MUSIC OFF\nSET VARIABLE CC_AGENT_ENDPOINT \"PJSIP/1001\"\nSET VARIABLE CC_DIAL_TIMEOUT 15\n"
                   b"SET VARIABLE CC_INTERACTION_ID abc-1\nSET VARIABLE CC_OUTCOME dial\n")
    assert s.transport.disconnecting


@pytest.mark.parametrize("finish", ["hangup-line", "socket"])
def test_caller_gone_while_held_is_reported_once_and_the_session_ends(finish):
    """Asterisk's HANGUP line (or the socket closing) while holding: one caller_hung_up with its
    time, the session closes, and a decision arriving later writes nothing."""
    later: Deferred = Deferred()
    app = ScriptedCallHandling([later])
    s = Session(app)
    s.feed(_env("inbound"), b"200 result=1 ()\n", b"200 result=0\n")
    s.new_output()
    s.clock.advance(3.5)
    if finish == "hangup-line":
        s.feed(b"HANGUP\n")
    else:
        s.proto.connectionLost(Failure(ConnectionDone()))
    (call, at), = app.hung_up
    assert at - call.arrived_at == 3.5
    assert s.transport.disconnecting or finish == "socket"
    later.callback(DialAgent("Local/agent1@agents", 6, "1"))
    assert s.new_output() == b"" and len(app.hung_up) == 1


def test_queue_position_is_refreshed_on_its_own_timer_when_it_changed():
    """With announce_every, the position variables are set on that timer, only when they changed."""
    later: Deferred = Deferred()
    app = ScriptedCallHandling([later])
    app.positions = [QueuePosition(3, 120), QueuePosition(3, 120), QueuePosition(2)]
    s = Session(app, HoldSettings(announce_every=30))
    s.feed(_env("inbound"), b"200 result=1 ()\n", b"200 result=0\n")
    s.new_output()
    s.clock.advance(29)
    assert s.new_output() == b""
    s.clock.advance(1)
    assert _answered(s, b"200 result=1\n", b"200 result=1\n") == (
        b"SET VARIABLE CC_QUEUE_POSITION 3\nSET VARIABLE CC_ESTIMATED_WAIT 120\n")
    s.clock.advance(30)
    assert s.new_output() == b""
    s.clock.advance(30)
    assert s.new_output() == b"SET VARIABLE CC_QUEUE_POSITION 2\n"


def test_closed_queue_sets_the_announcement_and_the_outcome():
    """QueueClosed sets CC_CLOSED_ANNOUNCEMENT, then CC_OUTCOME closed, and ends the session."""
    s = Session(ScriptedCallHandling([QueueClosed("after-hours")]))
    s.feed(_env("inbound"))
    out = _answered(s, b"200 result=1 ()\n", b"200 result=1\n", b"200 result=1\n")
    assert out == b"GET VARIABLE IVR_DIGITS\nSET VARIABLE CC_CLOSED_ANNOUNCEMENT after-hours\nSET VARIABLE CC_OUTCOME closed\n"
    assert s.transport.disconnecting


def test_release_says_so_and_an_application_failure_sets_nothing():
    """ReleaseCall sets CC_OUTCOME release (the dialplan hangs up); an exception from the
    application sets no outcome, so the dialplan holds the caller and asks again."""
    s = Session(ScriptedCallHandling([ReleaseCall()]))
    s.feed(_env("inbound"))
    assert _answered(s, b"200 result=1 ()\n", b"200 result=1\n") == b"GET VARIABLE IVR_DIGITS\nSET VARIABLE CC_OUTCOME release\n"
    broken = Session(ScriptedCallHandling([RuntimeError("routing broke")]))
    broken.feed(_env("inbound"), b"200 result=1 ()\n")
    assert broken.new_output() == b"GET VARIABLE IVR_DIGITS\n" and broken.transport.disconnecting


@pytest.mark.parametrize("retry,value", [(True, b"1"), (False, b"0")])
def test_dial_result_sets_cc_retry(retry, value):
    """dialresult hands the DIALSTATUS to the application and sets CC_RETRY from its answer."""
    app = ScriptedCallHandling([], retries=[retry])
    s = Session(app)
    env = _env("inbound").replace(b"agi_network_script: inbound", b"agi_network_script: dialresult")
    s.feed(env.replace(b"\n\n", b"\nagi_arg_1: 7\nagi_arg_2: NOANSWER\n\n"))
    assert s.new_output() == b"SET VARIABLE CC_RETRY " + value + b"\n"
    (result,) = app.dial_results
    assert (result.interaction_id, result.status, result.uniqueid) == ("7", "NOANSWER", app_uniqueid())


def app_uniqueid() -> str:
    """The caller channel's uniqueid in the recorded environment."""
    line = next(l for l in _env("inbound").decode().splitlines() if l.startswith("agi_uniqueid: "))
    return line.split(": ", 1)[1]


def test_answered_and_hangup_requests_report_and_close_without_a_command():
    """Dial's U() subroutine (answered, on the agent's channel) and the caller's hangup handler
    (hangup) reach the application with the ids Asterisk gave; nothing is written back."""
    app = ScriptedCallHandling([])
    answered = Session(app, now=1010.0)
    answered.feed(_env("answered"))
    hangup = Session(app, now=1013.5)
    hangup.feed(_env("hangup"))
    assert answered.new_output() == hangup.new_output() == b""
    assert answered.transport.disconnecting and hangup.transport.disconnecting
    (iid, leg, at), = app.answered
    assert (iid, at) == ("1", 1010.0) and leg != app_uniqueid() and leg
    assert app.gone == [(app_uniqueid(), 1013.5)]


def test_caller_id_text_is_passed_as_data_never_echoed():
    """A hostile caller name reaches the application as data; nothing of it is written back."""
    env = _env("inbound").replace(b"agi_calleridname: Pat Lee", b'agi_calleridname: "x" EXEC System(rm)')
    app = ScriptedCallHandling([DialAgent("Local/agent1@agents", 10, "1")])
    s = Session(app)
    s.feed(env, b"200 result=1 ()\n")
    assert app.arrived[0].caller_name == '"x" EXEC System(rm)'
    assert b"System" not in s.new_output()


def test_unknown_script_is_closed():
    """A request for a script the server does not serve is closed without a command."""
    s = Session(ScriptedCallHandling([]))
    s.feed(b"agi_network: yes\nagi_network_script: nosuch\n\n")
    assert s.new_output() == b"" and s.transport.disconnecting


def test_peer_that_never_finishes_the_environment_is_closed():
    """A connection whose environment is incomplete after the timeout is closed; a held call is not."""
    stalled = Session(ScriptedCallHandling([]))
    stalled.feed(b"agi_network: yes\n")
    stalled.clock.advance(9.9)
    assert not stalled.transport.disconnecting
    stalled.clock.advance(0.2)
    assert stalled.transport.disconnecting
    held = Session(ScriptedCallHandling([Deferred()]))
    held.feed(_env("inbound"), b"200 result=1 ()\n", b"200 result=0\n")
    held.clock.advance(60)
    assert not held.transport.disconnecting


def test_command_without_an_answer_closes_the_session_and_reports_the_caller_gone():
    """SET MUSIC ON unanswered for command_timeout seconds: the session closes and caller_hung_up
    is called once, at the time the timer fired."""
    app = ScriptedCallHandling([Deferred()])
    s = Session(app)
    s.feed(_env("inbound"), b"200 result=1 ()\n")
    assert s.new_output() == b"GET VARIABLE IVR_DIGITS\nSET MUSIC ON default\n"
    s.clock.advance(29.9)
    assert not s.transport.disconnecting and app.hung_up == []
    s.clock.advance(0.1)
    assert s.transport.disconnecting
    (call, at), = app.hung_up
    assert at - call.arrived_at == 30.0
    s.proto.connectionLost(Failure(ConnectionDone()))
    assert len(app.hung_up) == 1


def test_idle_hold_has_no_command_timeout_but_each_command_after_it_has():
    """Held for hours with nothing outstanding the session stays open; the decision's first
    command, left unanswered, then closes it after command_timeout."""
    later: Deferred = Deferred()
    app = ScriptedCallHandling([later])
    s = Session(app)
    s.feed(_env("inbound"), b"200 result=1 ()\n", b"200 result=0\n")
    s.new_output()
    s.clock.advance(4 * 3600)
    assert not s.transport.disconnecting and app.hung_up == []
    later.callback(DialAgent("PJSIP/1001", 15, "abc-1"))
    assert s.new_output() == b"SET MUSIC OFF\n"
    s.clock.advance(30)
    assert s.transport.disconnecting and len(app.hung_up) == 1


def test_answered_commands_leave_no_timer_behind():
    """A session whose commands were all answered in time leaves no pending call on the clock."""
    s = Session(ScriptedCallHandling([DialAgent("Local/agent1@agents", 6, "1")]))
    s.feed(_env("inbound"))
    _answered(s, b"200 result=1 ()\n", *[b"200 result=1\n"] * 4)
    assert s.transport.disconnecting
    s.proto.connectionLost(Failure(ConnectionDone()))
    assert s.clock.getDelayedCalls() == []


def test_peer_closed_for_an_over_long_line_while_held_reports_the_caller_gone():
    """A line past the cap during the silent hold closes the session; once the socket is gone the
    caller is reported gone once and a later decision writes nothing."""
    later: Deferred = Deferred()
    app = ScriptedCallHandling([later])
    s = Session(app)
    s.feed(_env("inbound"), b"200 result=1 ()\n", b"200 result=0\n")
    s.new_output()
    s.feed(b"x" * 9000)
    assert s.transport.disconnecting and app.hung_up == []
    s.proto.connectionLost(Failure(ConnectionDone()))
    assert len(app.hung_up) == 1
    later.callback(DialAgent("Local/agent1@agents", 6, "1"))
    assert s.new_output() == b"" and len(app.hung_up) == 1


def test_connections_past_max_sessions_are_refused_until_one_ends():
    """At max_sessions open sessions buildProtocol refuses (Twisted closes the socket); once one
    ends a new connection is served again; refusals are counted."""
    factory = FastAgiFactory(ScriptedCallHandling([]), Clock(), max_sessions=2)
    first, second = factory.buildProtocol(None), factory.buildProtocol(None)
    for proto in (first, second):
        proto.makeConnection(StringTransport())
    assert factory.buildProtocol(None) is None and factory.buildProtocol(None) is None
    assert factory.refused == 2
    first.connectionLost(Failure(ConnectionDone()))
    assert factory.buildProtocol(None) is not None


class Sessions:
    """Several FastAGI connections built by one factory on one clock."""

    def __init__(self, app: ScriptedCallHandling, now: float = 1000.0) -> None:
        self.clock = Clock()
        self.clock.advance(now)
        self.factory = FastAgiFactory(app, self.clock, HoldSettings())

    def connect(self) -> tuple[object, StringTransport]:
        proto = self.factory.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        return proto, transport


def test_many_sessions_share_one_deadline_timer_and_each_keeps_its_own_deadline():
    """Fifty connections stalled mid-environment, opened 0.1 s apart: one timer on the clock, not
    fifty; each is closed 10 s after it opened, not before; nothing left on the clock after."""
    s = Sessions(ScriptedCallHandling([]))
    opened = []
    for _ in range(50):
        proto, transport = s.connect()
        proto.dataReceived(b"agi_network: yes\n")
        opened.append(transport)
        s.clock.advance(0.1)
    assert len(s.clock.getDelayedCalls()) == 1
    s.clock.advance(7.45)                           # the 25th opened 10.05 s ago, the 26th 9.95 s ago
    closed = [t.disconnecting for t in opened]
    assert closed == [True] * 25 + [False] * 25
    s.clock.advance(2.5)
    assert all(t.disconnecting for t in opened)
    assert s.clock.getDelayedCalls() == []


def test_unanswered_commands_of_sessions_sharing_the_timer_time_out_each_on_its_own():
    """Two held callers of one factory: A's SET MUSIC ON goes unanswered from t, B's from t+20;
    C answers everything. A closes at t+30 (B and C not), B at t+50, C never; the shared timer
    is gone once no command is outstanding."""
    a_decision, b_decision = Deferred(), Deferred()
    app = ScriptedCallHandling([a_decision, b_decision, DialAgent("Local/agent1@agents", 6, "1")])
    s = Sessions(app)
    a, a_t = s.connect()
    a.dataReceived(_env("inbound") + b"200 result=1 ()\n")          # GET VARIABLE answered; SET MUSIC ON not
    s.clock.advance(20)
    b, b_t = s.connect()
    b.dataReceived(_env("inbound") + b"200 result=1 ()\n")
    c, c_t = s.connect()
    c.dataReceived(_env("inbound"))
    for answer in [b"200 result=1 ()\n"] + [b"200 result=1\n"] * 4:
        c.dataReceived(answer)
    assert c_t.disconnecting                                          # dialled and closed at once
    assert len(s.clock.getDelayedCalls()) == 1
    s.clock.advance(9.9)
    assert not a_t.disconnecting
    s.clock.advance(0.1)
    assert a_t.disconnecting and not b_t.disconnecting
    s.clock.advance(19.9)
    assert not b_t.disconnecting
    s.clock.advance(0.1)
    assert b_t.disconnecting
    assert [at - call.arrived_at for call, at in app.hung_up] == [30.0, 30.0]
    for proto in (a, b, c):
        proto.connectionLost(Failure(ConnectionDone()))
    assert s.clock.getDelayedCalls() == []
