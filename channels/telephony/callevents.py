"""Typed telephony events the Asterisk adapter hands to the application.

Every event is a frozen dataclass with ``at``, the time (epoch seconds, from the injected clock)
the adapter received it. Call events carry Asterisk's ``uniqueid`` (one channel) and ``linkedid``
(every channel of one call shares it), which is what the application keys its call log on:

* answered-at: the :class:`DialEnded` with ``status == "ANSWER"`` (or the first
  :class:`BridgeEntered`) of the agent leg;
* talk time: from the agent leg's :class:`BridgeEntered` to its :class:`BridgeLeft`;
* who hung up: the channel of the first :class:`HangupRequested` while bridged;
* hangup cause: :class:`ChannelHungUp` ``cause``/``cause_text`` (Q.850 codes).

Resynchronisation after a (re)connect is framed by :class:`ResyncStarted` and
:class:`ResyncFinished`; in between come :class:`ChannelSnapshot` and :class:`AgentPhonePresence`
events that describe the PBX as it is now, so the application can rebuild its state.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TelephonyEvent:
    """Base of every event from the Asterisk adapter; ``at`` is when it was received."""

    at: float


@dataclass(frozen=True)
class AgentPhonePresence(TelephonyEvent):
    """A device or endpoint changed state.

    ``device`` is Asterisk's device name (``PJSIP/1001``, ``SIP/1001``, ``Custom:agent1``).
    ``available`` is False when the phone cannot take a call at all (unregistered, unreachable,
    invalid, unknown), True when it is reachable whether idle or busy. ``state`` is Asterisk's
    word for it (``NOT_INUSE``, ``UNAVAILABLE``, ``Registered``, ``Unreachable``...).
    """

    device: str
    available: bool
    state: str


@dataclass(frozen=True)
class CallEvent(TelephonyEvent):
    """Base of per-channel call events: the channel, its ``uniqueid`` and the call's ``linkedid``."""

    channel: str
    uniqueid: str
    linkedid: str


@dataclass(frozen=True)
class ChannelCreated(CallEvent):
    """A channel came into existence (``Newchannel``)."""

    caller_number: str | None
    context: str
    exten: str


@dataclass(frozen=True)
class DialStarted(CallEvent):
    """The channel started dialling ``dest_channel`` (``DialBegin``).

    For an originated leg Asterisk reports no calling channel: ``channel``/``uniqueid`` are then
    empty strings and ``linkedid`` is the destination's.
    """

    dest_channel: str
    dest_uniqueid: str
    dial_string: str


@dataclass(frozen=True)
class DialEnded(CallEvent):
    """Dialling ``dest_channel`` ended with ``status`` (``ANSWER``, ``NOANSWER``, ``BUSY``, ...)."""

    dest_channel: str
    dest_uniqueid: str
    status: str


@dataclass(frozen=True)
class BridgeEntered(CallEvent):
    """The channel joined bridge ``bridge_id``: two legs in one bridge are talking."""

    bridge_id: str


@dataclass(frozen=True)
class BridgeLeft(CallEvent):
    """The channel left bridge ``bridge_id``."""

    bridge_id: str


@dataclass(frozen=True)
class HangupRequested(CallEvent):
    """Someone asked to hang this channel up: the first of these in a call tells who hung up.

    ``soft`` is True for ``SoftHangupRequest`` (Asterisk-initiated, e.g. the other side of a
    Local channel), False for ``HangupRequest`` (the channel's own side).
    """

    cause: int | None
    soft: bool


@dataclass(frozen=True)
class ChannelHungUp(CallEvent):
    """The channel is gone (``Hangup``) with Q.850 ``cause`` and Asterisk's ``cause_text``."""

    cause: int | None
    cause_text: str


@dataclass(frozen=True)
class OriginateResult(TelephonyEvent):
    """The outcome of an asynchronous Originate, correlated by ``action_id``.

    ``success`` is True once the first leg (the agent's phone) answered. ``reason`` is Asterisk's
    numeric reason (4 answered, 5 busy, 3 no answer, 8 congestion, 0 failure). ``uniqueid`` is
    None when no channel was created.
    """

    action_id: str
    success: bool
    reason: int | None
    channel: str
    uniqueid: str | None


@dataclass(frozen=True)
class ChannelSnapshot(CallEvent):
    """One channel alive at resynchronisation time (``CoreShowChannel``)."""

    state: str
    caller_number: str | None
    application: str
    duration: str
    bridge_id: str | None


@dataclass(frozen=True)
class ResyncStarted(TelephonyEvent):
    """The AMI link is (re)established: drop what you believed about live channels and devices."""


@dataclass(frozen=True)
class ResyncFinished(TelephonyEvent):
    """Every snapshot of this resynchronisation has been delivered."""

    channels: int
    devices: int


@dataclass(frozen=True)
class AmiLinkLost(TelephonyEvent):
    """The AMI connection dropped; events may be missed until the next :class:`ResyncStarted`."""

    reason: str
