"""AMI phone presence in the running app: an unregistered phone keeps calls away from its agent."""

from __future__ import annotations


import pytest
from twisted.internet import reactor

from callcenter.intake.pbx_events import TelephonyEvents
from channels.telephony.callevents import AgentPhonePresence
from tests.support.agi_peer import agi_env, connect_agi



@pytest.fixture
def app(make_app):
    """The app on SQLite with always-open queues."""
    return make_app()


def test_unregistered_phone_keeps_calls_away_from_the_agent(run, app):
    """Alice's phone goes UNAVAILABLE: a call waits instead of going to her; back in use, she gets it."""
    events = TelephonyEvents(app.switchboard, app.voice, app.store)
    board = app.switchboard
    board.set_available("alice")
    events(AgentPhonePresence(at=0.0, device="PJSIP/1001", available=False, state="UNAVAILABLE"))
    assert board.router.agent_view("alice").phone_registered is False

    async def scenario():
        peer = await connect_agi(reactor, app.fastagi.port.getHost().port,
                                 agi_env("inbound", "1700000001.1", "+14155550141", "+18005550100", ("", "1")))
        await peer.first_command
        assert not board.offers
        events(AgentPhonePresence(at=1.0, device="PJSIP/1001", available=True, state="NOT_INUSE"))
        await peer.finished
        return peer.variables

    variables = run(scenario())
    assert variables["CC_AGENT_ENDPOINT"] == "PJSIP/1001"


def test_presence_of_a_device_nobody_uses_changes_nothing(run, app):
    """A device that is no agent's phone is ignored."""
    events = TelephonyEvents(app.switchboard, app.voice, app.store)
    app.switchboard.set_available("bob")
    events(AgentPhonePresence(at=0.0, device="PJSIP/9999", available=False, state="UNAVAILABLE"))
    assert app.switchboard.router.agent_view("bob").phone_registered is True


def test_recorded_call_events_complete_the_log_and_start_wrap_up(run, app):
    """A call answered by Alice, then Asterisk's recorded AMI events of that call: the summary
    (answered-at, talk time, who hung up, cause) joins the interaction's log and she goes to wrap-up."""
    from channels.telephony.ami_protocol import AmiFrameParser
    from channels.telephony.ami_translate import translate_event
    from tests.telephony.transcripts import load

    events = TelephonyEvents(app.switchboard, app.voice, app.store)
    board = app.switchboard
    board.set_available("alice")
    port = app.fastagi.port.getHost().port

    async def scenario():
        caller = "1795371123.1"      # the AGI channel of the recording's call
        peer = await connect_agi(reactor, port, agi_env("inbound", caller, "+14155550142", "+18005550100", ("", "1")))
        await peer.finished
        iid = int(peer.variables["CC_INTERACTION_ID"])
        done = await connect_agi(reactor, port, agi_env("dialresult", caller, "+14155550142", "+18005550100",
                                                         (str(iid), "ANSWER")))
        await done.finished
        parser = AmiFrameParser(expect_banner=False)
        for chunk in load("inbound-answered"):
            if chunk.conn == 1 and chunk.from_asterisk:
                for message in parser.feed(chunk.data):
                    event = translate_event(message, chunk.t)
                    if event is not None:
                        events(event)
        await board.settled()
        return iid

    iid = run(scenario())
    log = run(app.store.interaction_events(iid))
    (summary,) = [e for e in log if e.kind == "call_summary"]
    assert summary.details["cause"] == 16 and summary.details["hung_up_by"].startswith("Local/agent1@agents")
    assert summary.details["talk_seconds"] == 2.504
    interaction = run(app.store.get_interaction(iid))
    assert interaction.state == "wrap_up" and interaction.ended_at is not None
    assert board.router.agent_view("alice").state == "wrap_up"
