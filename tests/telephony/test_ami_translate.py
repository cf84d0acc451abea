"""AMI events -> typed telephony events, on the recorded event streams."""

from __future__ import annotations

import pytest

from channels.telephony.ami_protocol import AmiFrameParser, AmiMessage
from channels.telephony.ami_translate import translate_event
from channels.telephony.callevents import (
    AgentPhonePresence,
    BridgeEntered,
    BridgeLeft,
    ChannelCreated,
    ChannelHungUp,
    DialEnded,
    DialStarted,
    HangupRequested,
    OriginateResult,
)
from channels.telephony.originate import ClickToDial, InvalidDialNumber, validate_dial_number
from channels.telephony.ami_protocol import AmiHeaderInjection
from tests.telephony.transcripts import chunks


def _events(name: str) -> list:
    parser = AmiFrameParser(expect_banner=False)
    messages = [m for piece in chunks(name, 1, True) for m in parser.feed(piece)]
    return [e for e in (translate_event(m, at=float(i)) for i, m in enumerate(messages)) if e is not None]


def _one(text: str) -> AmiMessage:
    (m,) = AmiFrameParser(expect_banner=False).feed(text.replace("\n", "\r\n").encode() + b"\r\n")
    return m


def test_device_state_changes_become_presence():
    """device-state.jsonl: UNAVAILABLE makes the phone unavailable, NOT_INUSE available again."""
    presence = [e for e in _events("device-state") if isinstance(e, AgentPhonePresence)]
    assert [(p.device, p.available, p.state) for p in presence] == [
        ("Custom:agent1", False, "UNAVAILABLE"),
        ("Custom:agent1", True, "NOT_INUSE"),
    ]


@pytest.mark.parametrize(
    "text,device,available",
    [
        ("Event: PeerStatus\nChannelType: SIP\nPeer: SIP/1001\nPeerStatus: Unregistered\n", "SIP/1001", False),
        ("Event: PeerStatus\nChannelType: PJSIP\nPeer: PJSIP/1001\nPeerStatus: Reachable\n", "PJSIP/1001", True),
        ("Event: ContactStatus\nAOR: 1001\nEndpointName: 1001\nContactStatus: Removed\n", "PJSIP/1001", False),
        ("Event: ContactStatus\nAOR: 1001\nEndpointName: 1001\nContactStatus: Created\n", "PJSIP/1001", True),
    ],
)
def test_registration_events_become_presence(text, device, available):
    """PeerStatus and ContactStatus map an unregistered/removed phone to unavailable."""
    event = translate_event(_one(text), at=5.0)
    assert isinstance(event, AgentPhonePresence) and (event.device, event.available, event.at) == (device, available, 5.0)


def test_answered_call_lifecycle_gives_what_the_call_log_needs():
    """inbound-answered.jsonl: dial to agent1 answered, bridged, agent side hung up first, cause 16."""
    events = _events("inbound-answered")
    linked = {e.linkedid for e in events if hasattr(e, "linkedid")}
    assert linked == {"1795371123.0"}
    agent_dials = [e for e in events if isinstance(e, (DialStarted, DialEnded)) and e.dest_channel.startswith("Local/agent1")]
    assert [(type(e).__name__, getattr(e, "status", None)) for e in agent_dials] == [("DialStarted", None), ("DialEnded", "ANSWER")]
    assert agent_dials[0].uniqueid == "1795371123.1"  # the caller's leg that dialled
    bridged = [e for e in events if isinstance(e, (BridgeEntered, BridgeLeft))]
    assert [type(e).__name__ for e in bridged] == ["BridgeEntered", "BridgeEntered", "BridgeLeft", "BridgeLeft"]
    first_request = next(e for e in events if isinstance(e, HangupRequested))
    assert first_request.channel.startswith("Local/agent1@agents") and first_request.soft
    hangups = [e for e in events if isinstance(e, ChannelHungUp)]
    assert len(hangups) == 4 and {(h.cause, h.cause_text) for h in hangups} == {(16, "Normal Clearing")}
    assert sum(isinstance(e, ChannelCreated) for e in events) == 4


def test_noanswer_dial_end_status_is_reported():
    """inbound-noanswer-then-answered.jsonl: the agent2 leg ends NOANSWER, the agent1 leg ANSWER."""
    ends = [(e.dest_channel.split("-")[0], e.status) for e in _events("inbound-noanswer-then-answered") if isinstance(e, DialEnded)]
    assert ("Local/agent2@agents", "NOANSWER") in ends and ("Local/agent1@agents", "ANSWER") in ends


def test_originate_responses_are_correlated_by_action_id():
    """click-to-dial succeeds with reason 4; originate-failure fails with no uniqueid."""
    ok = [e for e in _events("click-to-dial") if isinstance(e, OriginateResult)]
    bad = [e for e in _events("originate-failure") if isinstance(e, OriginateResult)]
    assert [(e.action_id, e.success, e.reason) for e in ok] == [("c2d-1", True, 4)]
    assert [(e.action_id, e.success, e.reason, e.uniqueid) for e in bad] == [("c2d-bad", False, 0, None)]


def test_responses_and_noise_events_are_not_translated():
    """Responses and events of no interest (Newexten, VarSet) translate to None."""
    assert translate_event(_one("Response: Success\nActionID: x\n"), 0.0) is None
    assert translate_event(_one("Event: Newexten\nChannel: X\n"), 0.0) is None


@pytest.mark.parametrize("number", ["+8613800138000", "100", "0044123"])
def test_valid_dial_numbers_pass(number):
    """Digits with an optional leading + are dialable and returned unchanged."""
    assert validate_dial_number(number) == number


@pytest.mark.parametrize("number", ["", "+", "12 34", "123\r\nAction: Command", "1-800", "++1", "1234@evil", "*99#", "1" * 33])
def test_invalid_dial_numbers_are_rejected(number):
    """Anything but +?digits (1-32 digits) raises InvalidDialNumber, so no Originate is built."""
    with pytest.raises(InvalidDialNumber):
        ClickToDial("PJSIP/1001", number)


def test_click_to_dial_rejects_injection_in_caller_id():
    """A CR/LF smuggled into the caller id of a click-to-dial raises AmiHeaderInjection."""
    with pytest.raises(AmiHeaderInjection):
        ClickToDial("PJSIP/1001", "+4930123", caller_id="Li\r\nAction: Command").headers()


def test_click_to_dial_with_application_leg():
    """With an application the customer leg is Application/Data instead of Context/Exten/Priority."""
    headers = ClickToDial("PJSIP/1001", "+4930123", application="Dial", application_data="PJSIP/+4930123@trunk").headers()
    assert headers == [("Channel", "PJSIP/1001"), ("Application", "Dial"), ("Data", "PJSIP/+4930123@trunk"), ("Async", "true")]
