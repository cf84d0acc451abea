"""AMI phone presence in the running app: an unregistered phone keeps calls away from its agent."""

from __future__ import annotations


import pytest
from twisted.internet import reactor

from callcenter.telephony import TelephonyEvents
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
