"""AMI phone presence in the running app: an unregistered phone keeps calls away from its agent."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from twisted.internet import reactor

from callcenter.app import build_application
from callcenter.settings import load_settings
from callcenter.telephony import TelephonyEvents
from channels.telephony.callevents import AgentPhonePresence
from tests.support.agi_peer import agi_env, connect_agi

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def app(run, tmp_path):
    """The app on SQLite with always-open queues."""
    from callcenter.records.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'cc.sqlite3'}"
    upgrade(url)
    settings = load_settings(CONFIG, {"http_port": 0, "fastagi_port": 0, "smtp_port": 0, "data_dir": tmp_path})
    settings = dataclasses.replace(settings, queues={n: dataclasses.replace(q, schedule=None)
                                                     for n, q in settings.queues.items()})
    application = build_application(settings, reactor, url)
    application.service.startService()
    yield application
    run(application.service.stopService())


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
