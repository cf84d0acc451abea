"""AMI messages -> typed telephony events (pure: no I/O, the receive time passed in).

:func:`translate_event` maps the events the application needs (presence and call lifecycle) to
:mod:`channels.telephony.callevents` dataclasses and returns None for everything else
(``Newexten``, ``VarSet``, ``AGIExecStart``... are noise to the application).
"""

from __future__ import annotations

from typing import Callable

from channels.telephony.ami_protocol import AmiMessage
from channels.telephony.callevents import (
    AgentPhonePresence,
    BridgeEntered,
    BridgeLeft,
    ChannelCreated,
    ChannelHungUp,
    ChannelSnapshot,
    DialEnded,
    DialStarted,
    HangupRequested,
    OriginateResult,
    TelephonyEvent,
)

# Device states in which the phone is registered and reachable, busy or not.
_REACHABLE_DEVICE_STATES = frozenset({"NOT_INUSE", "INUSE", "BUSY", "RINGING", "RINGINUSE", "ONHOLD"})
_REACHABLE_PEER_STATES = frozenset({"registered", "reachable", "lagged"})
_REACHABLE_CONTACT_STATES = frozenset({"created", "reachable", "updated", "nonqualified"})
_UNKNOWN = "<unknown>"


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _known(text: str | None) -> str | None:
    """Asterisk writes ``<unknown>`` for absent caller ids and unique ids; make that None."""
    return None if text in (None, "", _UNKNOWN) else text


def _leg(m: AmiMessage) -> dict[str, str]:
    return {
        "channel": m.get("Channel", "") or "",
        "uniqueid": m.get("Uniqueid", "") or "",
        "linkedid": m.get("Linkedid", "") or m.get("DestLinkedid", "") or "",
    }


def device_presence(m: AmiMessage, at: float) -> AgentPhonePresence:
    """A ``DeviceStateChange`` (also a ``DeviceStateList`` item) as presence."""
    state = m.get("State", "") or ""
    return AgentPhonePresence(at=at, device=m.get("Device", "") or "", available=state in _REACHABLE_DEVICE_STATES, state=state)


def _peer_status(m: AmiMessage, at: float) -> AgentPhonePresence:
    state = m.get("PeerStatus", "") or ""
    return AgentPhonePresence(at=at, device=m.get("Peer", "") or "", available=state.lower() in _REACHABLE_PEER_STATES, state=state)


def _contact_status(m: AmiMessage, at: float) -> AgentPhonePresence:
    state = m.get("ContactStatus", "") or ""
    endpoint = m.get("EndpointName") or m.get("AOR") or ""
    return AgentPhonePresence(
        at=at, device=f"PJSIP/{endpoint}", available=state.lower() in _REACHABLE_CONTACT_STATES, state=state
    )


def _newchannel(m: AmiMessage, at: float) -> ChannelCreated:
    return ChannelCreated(
        at=at, **_leg(m), caller_number=_known(m.get("CallerIDNum")), context=m.get("Context", "") or "", exten=m.get("Exten", "") or ""
    )


def _dial_begin(m: AmiMessage, at: float) -> DialStarted:
    return DialStarted(
        at=at,
        **_leg(m),
        dest_channel=m.get("DestChannel", "") or "",
        dest_uniqueid=m.get("DestUniqueid", "") or "",
        dial_string=m.get("DialString", "") or "",
    )


def _dial_end(m: AmiMessage, at: float) -> DialEnded:
    return DialEnded(
        at=at,
        **_leg(m),
        dest_channel=m.get("DestChannel", "") or "",
        dest_uniqueid=m.get("DestUniqueid", "") or "",
        status=m.get("DialStatus", "") or "",
    )


def _bridge_enter(m: AmiMessage, at: float) -> BridgeEntered:
    return BridgeEntered(at=at, **_leg(m), bridge_id=m.get("BridgeUniqueid", "") or "")


def _bridge_leave(m: AmiMessage, at: float) -> BridgeLeft:
    return BridgeLeft(at=at, **_leg(m), bridge_id=m.get("BridgeUniqueid", "") or "")


def _hangup_request(m: AmiMessage, at: float) -> HangupRequested:
    return HangupRequested(at=at, **_leg(m), cause=_int_or_none(m.get("Cause")), soft=m.name == "SoftHangupRequest")


def _hangup(m: AmiMessage, at: float) -> ChannelHungUp:
    return ChannelHungUp(at=at, **_leg(m), cause=_int_or_none(m.get("Cause")), cause_text=m.get("Cause-txt", "") or "")


def originate_result(m: AmiMessage, at: float) -> OriginateResult:
    """An ``OriginateResponse`` event as the correlated :class:`OriginateResult`."""
    return OriginateResult(
        at=at,
        action_id=m.action_id or "",
        success=(m.get("Response", "") or "").lower() == "success",
        reason=_int_or_none(m.get("Reason")),
        channel=m.get("Channel", "") or "",
        uniqueid=_known(m.get("Uniqueid")),
    )


def channel_snapshot(m: AmiMessage, at: float) -> ChannelSnapshot:
    """A ``CoreShowChannel`` list item (resynchronisation) as a snapshot."""
    return ChannelSnapshot(
        at=at,
        **_leg(m),
        state=m.get("ChannelStateDesc", "") or "",
        caller_number=_known(m.get("CallerIDNum")),
        application=m.get("Application", "") or "",
        duration=m.get("Duration", "") or "",
        bridge_id=m.get("BridgeId") or None,
    )


_TRANSLATORS: dict[str, Callable[[AmiMessage, float], TelephonyEvent]] = {
    "DeviceStateChange": device_presence,
    "PeerStatus": _peer_status,
    "ContactStatus": _contact_status,
    "Newchannel": _newchannel,
    "DialBegin": _dial_begin,
    "DialEnd": _dial_end,
    "BridgeEnter": _bridge_enter,
    "BridgeLeave": _bridge_leave,
    "HangupRequest": _hangup_request,
    "SoftHangupRequest": _hangup_request,
    "Hangup": _hangup,
    "OriginateResponse": originate_result,
    "CoreShowChannel": channel_snapshot,
}


def translate_event(message: AmiMessage, at: float) -> TelephonyEvent | None:
    """The typed event for an AMI event message received at ``at``, or None if not of interest."""
    if not message.is_event:
        return None
    translator = _TRANSLATORS.get(message.name)
    return translator(message, at) if translator is not None else None
