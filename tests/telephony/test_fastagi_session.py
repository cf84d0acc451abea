"""FastAGI sessions over a fake transport and clock, replaying the recorded AGI conversations."""

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
from tests.telephony.transcripts import agi_connections, load

RECORDED_HOLD = HoldSettings(music_class=None, wait_slice=20)


class Replay:
    """One FastAGI connection on a StringTransport, built by the real factory."""

    def __init__(self, app: ScriptedCallHandling, settings: HoldSettings = HoldSettings(), now: float = 1000.0) -> None:
        self.clock = Clock()
        self.clock.advance(now)
        self.factory = FastAgiFactory(app, self.clock, settings)
        self.proto = self.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)
        self.read = 0

    def feed(self, *pieces: bytes) -> None:
        for piece in pieces:
            self.proto.dataReceived(piece)

    def new_output(self) -> bytes:
        data = self.transport.value()[self.read :]
        self.read = len(self.transport.value())
        return data

    def play(self, scenario: str, conn: int) -> None:
        """Feed Asterisk's chunks and check, at each recorded write, that we wrote the same bytes."""
        for chunk in (c for c in load(scenario) if c.conn == conn):
            if chunk.from_asterisk:
                self.feed(chunk.data)
            else:
                got = self.transport.value()[self.read : self.read + len(chunk.data)]
                assert got == chunk.data
                self.read += len(chunk.data)
        assert self.new_output() == b""


def _env(scenario: str, conn: int) -> bytes:
    data = b"".join(c.data for c in load(scenario) if c.conn == conn and c.from_asterisk)
    return data[: data.index(b"\n\n") + 2]


def test_fake_application_matches_the_protocol_signatures():
    """The scripted fake has exactly CallHandling's methods with the same signatures."""
    members = [n for n, v in vars(CallHandling).items() if inspect.isfunction(v) and not n.startswith("_")]
    assert sorted(members) == ["call_arrived", "caller_hung_up", "dial_result", "queue_position"]
    for name in members:
        assert inspect.signature(getattr(ScriptedCallHandling, name)) == inspect.signature(getattr(CallHandling, name))
        assert inspect.iscoroutinefunction(getattr(ScriptedCallHandling, name)) == inspect.iscoroutinefunction(getattr(CallHandling, name))


def test_inbound_answered_reproduces_the_recorded_commands():
    """inbound-answered.jsonl conn 2: GET VARIABLE, the three SET VARIABLEs, then the session closes."""
    app = ScriptedCallHandling([DialAgent("Local/agent1@agents", 10, "1")])
    r = Replay(app)
    r.play("inbound-answered", 2)
    assert r.transport.disconnecting
    (call,) = app.arrived
    assert (call.caller_number, call.caller_name, call.dialed_number, call.uniqueid) == ("+8613800138000", "Li Wei", None, "1795371123.1")
    assert (call.queue_hint, call.ivr_digits, call.args, call.variable("IVR_DIGITS")) == ("support", "2", ("support", "2"), "2")
    assert (call.channel, call.extension, call.context, call.language, call.arrived_at) == ("Local/100@customers-00000000;2", "100", "customers", "en", 1000.0)
    assert app.hung_up == []


@pytest.mark.parametrize(
    "scenario,first_agent,first_timeout,interaction,status",
    [
        ("inbound-noanswer-then-answered", "Local/agent2@agents", 3, "2", "NOANSWER"),
        ("inbound-busy-then-answered", "Local/agent3@agents", 10, "3", "BUSY"),
    ],
)
def test_failed_dial_is_retried_then_answered(scenario, first_agent, first_timeout, interaction, status):
    """The three recorded sessions (inbound, dialresult with CC_RETRY 1, inbound again) byte for byte."""
    app = ScriptedCallHandling(
        [DialAgent(first_agent, first_timeout, interaction), DialAgent("Local/agent1@agents", 10, interaction)], retries=[True]
    )
    inbound, dialresult, again = agi_connections(scenario)
    for conn in (inbound, dialresult, again):
        r = Replay(app)
        r.play(scenario, conn)
        assert r.transport.disconnecting
    (result,) = app.dial_results
    assert (result.interaction_id, result.status) == (interaction, status)
    assert app.arrived[0].uniqueid == app.arrived[1].uniqueid == result.uniqueid


def test_abandoned_while_held_reports_the_hangup_once():
    """inbound-abandoned.jsonl: Wait answers result=-1; we report the abandon and close (see docs)."""
    later: Deferred = Deferred()
    app = ScriptedCallHandling([later])
    r = Replay(app, RECORDED_HOLD)
    sent = [c.data for c in load("inbound-abandoned") if c.conn == 9 and not c.from_asterisk]
    incoming = [c.data for c in load("inbound-abandoned") if c.conn == 9 and c.from_asterisk]
    r.feed(*incoming[:-3])
    assert r.new_output() == sent[0] + sent[1]  # GET VARIABLE IVR_DIGITS, EXEC Wait 20
    r.clock.advance(2.5)
    r.feed(*incoming[-3:])  # 200 result=-1, HANGUP, the late answer
    assert r.new_output() == b"" and r.transport.disconnecting
    (call, at), = app.hung_up
    assert at - call.arrived_at == 2.5
    later.callback(DialAgent("Local/agent1@agents", 10, "9"))
    assert r.new_output() == b""


def test_music_on_hold_and_decision_during_a_hold_slice():
    """With music configured: SET MUSIC ON, Wait slices, then SET MUSIC OFF and the dial variables."""
    later: Deferred = Deferred()
    app = ScriptedCallHandling([later])
    r = Replay(app, HoldSettings(music_class="default", wait_slice=2))
    r.feed(_env("inbound-answered", 2), b"200 result=1 (2)\n")
    assert r.new_output() == b"GET VARIABLE IVR_DIGITS\nSET MUSIC ON default\n"
    r.feed(b"200 result=0\n")
    assert r.new_output() == b"EXEC Wait 2\n"
    r.feed(b"200 result=0\n")
    assert r.new_output() == b"EXEC Wait 2\n"
    later.callback(DialAgent("PJSIP/1001", 15, "abc-1"))
    assert r.new_output() == b""  # the slice in progress ends first
    r.feed(b"200 result=0\n", b"200 result=0\n", b"200 result=1\n", b"200 result=1\n", b"200 result=1\n")
    assert r.new_output() == (
        b"SET MUSIC OFF\nSET VARIABLE CC_AGENT_ENDPOINT \"PJSIP/1001\"\nSET VARIABLE CC_DIAL_TIMEOUT 15\n"
        b"SET VARIABLE CC_INTERACTION_ID abc-1\n"
    )
    assert r.transport.disconnecting and app.hung_up == []


def test_queue_position_is_announced_when_it_changes():
    """Position variables are set before a slice only when the position changed."""
    later: Deferred = Deferred()
    app = ScriptedCallHandling([later])
    app.positions = [QueuePosition(3, 120), QueuePosition(3, 120), QueuePosition(2)]
    r = Replay(app, RECORDED_HOLD)
    r.feed(_env("inbound-answered", 2), b"200 result=1 (2)\n", b"200 result=1\n", b"200 result=1\n")
    assert r.new_output() == b"GET VARIABLE IVR_DIGITS\nSET VARIABLE CC_QUEUE_POSITION 3\nSET VARIABLE CC_ESTIMATED_WAIT 120\nEXEC Wait 20\n"
    r.feed(b"200 result=0\n")
    assert r.new_output() == b"EXEC Wait 20\n"
    r.feed(b"200 result=0\n")
    assert r.new_output() == b"SET VARIABLE CC_QUEUE_POSITION 2\n"


def test_closed_queue_sets_the_announcement_variable():
    """QueueClosed sets CC_CLOSED_ANNOUNCEMENT and ends the session."""
    r = Replay(ScriptedCallHandling([QueueClosed("after-hours")]))
    r.feed(_env("inbound-answered", 2), b"200 result=1 (2)\n")
    assert r.new_output() == b"GET VARIABLE IVR_DIGITS\nSET VARIABLE CC_CLOSED_ANNOUNCEMENT after-hours\n"
    r.feed(b"200 result=1\n")
    assert r.transport.disconnecting


@pytest.mark.parametrize("decision", [ReleaseCall(), RuntimeError("routing broke")])
def test_release_or_application_failure_ends_without_dialling(decision):
    """ReleaseCall, or an exception from the application, closes the session with no variable set."""
    r = Replay(ScriptedCallHandling([decision]))
    r.feed(_env("inbound-answered", 2), b"200 result=1 (2)\n")
    assert r.new_output() == b"GET VARIABLE IVR_DIGITS\n" and r.transport.disconnecting


def test_dial_result_without_retry_clears_cc_retry():
    """dial_result returning False sets CC_RETRY 0 so an earlier 1 cannot loop the call."""
    app = ScriptedCallHandling([], retries=[False])
    r = Replay(app)
    scenario = "inbound-noanswer-then-answered"
    r.feed(_env(scenario, agi_connections(scenario)[1]))
    assert r.new_output() == b"SET VARIABLE CC_RETRY 0\n"


def test_hangup_line_or_closed_socket_while_held_is_an_abandon():
    """A HANGUP notice during a hold slice, or the socket closing, reports caller_hung_up exactly once."""
    for finish in ("hangup-line", "socket"):
        app = ScriptedCallHandling([Deferred()])
        r = Replay(app, RECORDED_HOLD)
        r.feed(_env("inbound-answered", 2), b"200 result=1 (2)\n")
        if finish == "hangup-line":
            r.feed(b"HANGUP\n")
        r.proto.connectionLost(Failure(ConnectionDone()))
        assert len(app.hung_up) == 1, finish


def test_caller_id_text_is_passed_as_data_never_echoed():
    """A hostile caller name reaches the application as data; nothing of it is written back."""
    env = _env("inbound-answered", 2).replace(b"agi_calleridname: Li Wei", b'agi_calleridname: "x" EXEC System(rm)')
    app = ScriptedCallHandling([DialAgent("Local/agent1@agents", 10, "1")])
    r = Replay(app)
    r.feed(env, b"200 result=1 (2)\n")
    assert app.arrived[0].caller_name == '"x" EXEC System(rm)'
    assert b"System" not in r.new_output()


def test_unknown_script_is_closed():
    """A request for a script the server does not serve is closed without a command."""
    r = Replay(ScriptedCallHandling([]))
    r.feed(b"agi_network: yes\nagi_network_script: nosuch\n\n")
    assert r.new_output() == b"" and r.transport.disconnecting


def test_peer_that_never_finishes_the_environment_is_closed():
    """A connection whose environment is incomplete after the timeout is closed; a complete one is not."""
    stalled = Replay(ScriptedCallHandling([]))
    stalled.feed(b"agi_network: yes\n")
    stalled.clock.advance(9.9)
    assert not stalled.transport.disconnecting
    stalled.clock.advance(0.2)
    assert stalled.transport.disconnecting
    held = Replay(ScriptedCallHandling([Deferred()]), RECORDED_HOLD)
    held.feed(_env("inbound-answered", 2))
    held.clock.advance(60)
    assert not held.transport.disconnecting
