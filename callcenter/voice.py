"""Calls from the FastAGI server, carried through the switchboard (the :class:`CallHandling` side).

A caller arriving on ``AGI(agi://host/inbound)`` becomes a voice interaction identified by
caller id; the call waits (the AGI session plays music) until the routing core offers it to
an agent, then the dialplan dials that agent's phone with the queue's offer timeout. The
dial result feeds back: ``ANSWER`` connects; anything else is the core's offer-failed path and
the call is routed again with the caller still holding (it re-arrives with the same
``uniqueid``). A hang-up while waiting abandons the interaction.
"""

from __future__ import annotations

import math
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from callcenter.switchboard import Intake, Switchboard
from channels.telephony.callhandling import (
    CallInstruction,
    DialAgent,
    DialResult,
    InboundCall,
    QueueClosed,
    QueuePosition,
    ReleaseCall,
)

log = Logger(namespace="callcenter.voice")


class VoiceCalls:
    """Implements :class:`channels.telephony.callhandling.CallHandling` on a :class:`Switchboard`."""

    def __init__(self, switchboard: Switchboard) -> None:
        self._board = switchboard
        self._by_call: dict[str, int] = {}          # uniqueid -> interaction id
        self._waiting: dict[int, Deferred] = {}     # interaction id -> waiting for an offer
        self._ready: dict[int, Any] = {}            # offers made while the call was between sessions
        self._dialling: dict[int, str] = {}         # interaction id -> agent being dialled
        self._connected: dict[str, int] = {}        # uniqueid of an answered call -> interaction id
        self._arriving: set[str] = set()            # calls whose interaction is being created
        self._gone_early: set[str] = set()          # ... and whose caller hung up meanwhile
        switchboard.on_offer(self._offered)
        switchboard.on_withdraw(self._withdrawn)

    async def call_arrived(self, call: InboundCall) -> CallInstruction:
        """Route the call; returns once an agent is chosen (or the queue is closed)."""
        iid = self._by_call.get(call.uniqueid)
        if iid is None:
            self._arriving.add(call.uniqueid)
            try:
                admission = await self._board.admit(_intake(call))
            finally:
                self._arriving.discard(call.uniqueid)
            if admission.closed is not None:
                return QueueClosed(admission.closed.announcement or "closed")
            iid = admission.interaction.id
            if call.uniqueid in self._gone_early:
                # The caller hung up while the interaction was being created.
                self._gone_early.discard(call.uniqueid)
                self._board.customer_left(iid, "caller_hung_up")
                return ReleaseCall()
            self._by_call[call.uniqueid] = iid
        offer = self._ready.pop(iid, None)
        if offer is None:
            waiter: Deferred = Deferred()
            self._waiting[iid] = waiter
            offer = await waiter
        if offer is None:
            return ReleaseCall()
        agent = self._board.settings.agents[offer.agent]
        timeout = self._board.settings.queues[offer.queue].offer_timeout
        self._dialling[iid] = offer.agent
        return DialAgent(agent.phone, max(1, math.ceil(timeout)), str(iid))

    def queue_position(self, call: InboundCall) -> QueuePosition | None:
        """The caller's place in line and estimated wait, from the routing core's view."""
        iid = self._by_call.get(call.uniqueid)
        if iid is None:
            return None
        entry = self._board.waiting_view(iid)
        if entry is None:
            return None
        wait = entry.estimated_wait
        return QueuePosition(entry.position, None if wait is None else int(round(wait)))

    def caller_hung_up(self, call: InboundCall, at: float) -> None:
        """Abandoned while waiting."""
        iid = self._by_call.pop(call.uniqueid, None)
        if iid is None:
            if call.uniqueid in self._arriving:
                self._gone_early.add(call.uniqueid)
            return
        self._ready.pop(iid, None)
        waiter = self._waiting.pop(iid, None)
        if waiter is not None and not waiter.called:
            waiter.callback(None)
        self._board.customer_left(iid, "caller_hung_up")

    async def dial_result(self, result: DialResult) -> bool:
        """ANSWER connects the call; other statuses re-route it (True) while the caller holds."""
        try:
            iid = int(result.interaction_id)
        except ValueError:
            log.warn("dial result for unknown interaction {iid!r}", iid=result.interaction_id)
            return False
        agent = self._dialling.pop(iid, None)
        if agent is None:
            return False
        if result.status == "ANSWER":
            self._board.connected(iid, agent)
            self._by_call.pop(result.uniqueid, None)
            self._connected[result.uniqueid] = iid
            return False
        if result.status == "CANCEL":  # the caller hung up while the phone rang
            self._by_call.pop(result.uniqueid, None)
            self._board.customer_left(iid, "caller_hung_up_while_ringing")
            return False
        self._board.offer_failed(iid, agent, result.status.lower())
        return True

    def calls(self) -> dict[str, int]:
        """Calls known by uniqueid -> interaction id (waiting, being dialled or connected)."""
        return {**self._by_call, **self._connected}

    def interaction_for_call(self, uniqueid: str) -> int | None:
        """The interaction of a connected call (by the caller channel's uniqueid / linkedid)."""
        return self._connected.get(uniqueid)

    def call_ended(self, iid: int) -> None:
        """The connected call hung up (AMI Hangup): the agent goes to wrap-up."""
        for uniqueid in [u for u, i in self._connected.items() if i == iid]:
            del self._connected[uniqueid]
        self._board.complete(iid)

    def _offered(self, decision: Any) -> None:
        iid = decision.interaction
        if self._board.channel_of.get(iid) != "voice":
            return
        waiter = self._waiting.pop(iid, None)
        if waiter is not None and not waiter.called:
            waiter.callback(decision)
        else:
            self._ready[iid] = decision

    def _withdrawn(self, iid: int, agent: str) -> None:
        if self._ready.get(iid) is not None and self._ready[iid].agent == agent:
            self._ready.pop(iid, None)


def _intake(call: InboundCall) -> Intake:
    variables = dict(call.variables)
    return Intake(
        channel="voice", direction="inbound",
        contact_kind="phone" if call.caller_number else None, contact=call.caller_number,
        to=call.dialed_number or call.extension, digits=call.ivr_digits, variables=variables,
        language=call.language or None, virtual_start=call.arrived_at,
        payload={"call": {"uniqueid": call.uniqueid, "channel": call.channel, "caller_number": call.caller_number,
                          "caller_name": call.caller_name, "dialed_number": call.dialed_number,
                          "ivr_digits": call.ivr_digits, "variables": variables, "queue_hint": call.queue_hint}},
    )
