"""Call summaries from the call lifecycle events (pure: no I/O, times come with the events).

:class:`CallLogBuilder` is fed the :mod:`~channels.telephony.callevents` in arrival order and,
when the last channel of a call (one ``linkedid``) has hung up, returns a :class:`CallSummary`
with what the interaction log needs: when it was answered, how long the parties talked, who hung
up and why. Channels learnt from a resynchronisation (:class:`ChannelSnapshot`) count as live, so
a call that spans an AMI reconnect is still summarised once it ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from channels.telephony.callevents import (
    BridgeEntered,
    BridgeLeft,
    CallEvent,
    ChannelCreated,
    ChannelHungUp,
    ChannelSnapshot,
    DialEnded,
    HangupRequested,
    TelephonyEvent,
)


@dataclass(frozen=True)
class CallSummary:
    """One finished call.

    ``answered_at`` is the first ``DialEnded`` with status ``ANSWER`` placed by a channel of the
    call (Dial application), None if no dial was answered. ``talk_seconds`` is the time during
    which a bridge of the call held two or more channels. ``hung_up_by`` is the channel of the first
    hang-up request, ``cause``/``cause_text`` the first ``Hangup``'s. ``dial_statuses`` lists every
    dial attempt as ``(destination channel, DIALSTATUS)``.
    """

    linkedid: str
    started_at: float
    answered_at: float | None
    ended_at: float
    talk_seconds: float
    hung_up_by: str | None
    cause: int | None
    cause_text: str
    dial_statuses: tuple[tuple[str, str], ...]


@dataclass
class _Call:
    started_at: float
    live: set[str] = field(default_factory=set)
    answered_at: float | None = None
    hung_up_by: str | None = None
    cause: int | None = None
    cause_text: str | None = None
    dials: list[tuple[str, str]] = field(default_factory=list)
    bridges: dict[str, set[str]] = field(default_factory=dict)
    talking_since: float | None = None
    talk_seconds: float = 0.0


class CallLogBuilder:
    """Accumulates events per ``linkedid``; :meth:`feed` returns a summary when a call ends."""

    def __init__(self) -> None:
        self._calls: dict[str, _Call] = {}

    def feed(self, event: TelephonyEvent) -> CallSummary | None:
        """Take one event; return the :class:`CallSummary` if it ended its call, else None."""
        if not isinstance(event, CallEvent) or not event.linkedid:
            return None
        call = self._calls.get(event.linkedid)
        if call is None:
            call = self._calls[event.linkedid] = _Call(started_at=event.at)
        if isinstance(event, (ChannelCreated, ChannelSnapshot)):
            call.live.add(event.uniqueid)
        elif isinstance(event, DialEnded):
            call.dials.append((event.dest_channel, event.status))
            if event.status == "ANSWER" and event.channel and call.answered_at is None:
                call.answered_at = event.at
        elif isinstance(event, BridgeEntered):
            call.bridges.setdefault(event.bridge_id, set()).add(event.uniqueid)
            self._update_talk(call, event.at)
        elif isinstance(event, BridgeLeft):
            call.bridges.get(event.bridge_id, set()).discard(event.uniqueid)
            self._update_talk(call, event.at)
        elif isinstance(event, HangupRequested):
            if call.hung_up_by is None:
                call.hung_up_by = event.channel
        elif isinstance(event, ChannelHungUp):
            if call.cause_text is None:
                call.cause, call.cause_text = event.cause, event.cause_text
            call.live.discard(event.uniqueid)
            if not call.live:
                del self._calls[event.linkedid]
                return self._summary(event.linkedid, call, event.at)
        return None

    @staticmethod
    def _update_talk(call: _Call, at: float) -> None:
        talking = any(len(members) >= 2 for members in call.bridges.values())
        if talking and call.talking_since is None:
            call.talking_since = at
        elif not talking and call.talking_since is not None:
            call.talk_seconds += at - call.talking_since
            call.talking_since = None

    @staticmethod
    def _summary(linkedid: str, call: _Call, ended_at: float) -> CallSummary:
        talk = call.talk_seconds + (ended_at - call.talking_since if call.talking_since is not None else 0.0)
        return CallSummary(
            linkedid=linkedid,
            started_at=call.started_at,
            answered_at=call.answered_at,
            ended_at=ended_at,
            talk_seconds=talk,
            hung_up_by=call.hung_up_by,
            cause=call.cause,
            cause_text=call.cause_text or "",
            dial_statuses=tuple(call.dials),
        )

    def live_calls(self) -> list[str]:
        """The linkedids of calls not yet ended."""
        return list(self._calls)
