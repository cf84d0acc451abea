"""Calls from the PBX, carried through the switchboard (the :class:`CallHandling` side).

The PBX is the truth about a call. Each call is followed by the uniqueid of the caller's
channel (the channel the FastAGI ``inbound`` request ran on) through a small state machine:

``ARRIVING`` (its interaction is being created) -> ``WAITING`` (held with music, in line) ->
``RINGING`` (the dialplan is dialling the offered agent) -> ``CONNECTED`` (the agent's phone
answered) -> ``ENDED``. A failed dial (no answer, busy, unavailable) goes back to ``WAITING``
and the caller is routed again while still holding; the caller hanging up while arriving,
waiting or ringing abandons the interaction with its wait; a hang-up once connected ends the
call and sends the agent to wrap-up.

The facts come from whichever report arrives first and later copies are ignored, so no
outcome depends on the order of FastAGI requests and AMI events: an answer from Dial's
``U()`` subroutine, AMI ``DialEnd ANSWER`` or ``dialresult ANSWER``; a hang-up from the FastAGI
session (``HANGUP``), the caller channel's hangup handler, or AMI ``Hangup``; a failed dial from
``dialresult`` or AMI ``DialEnd``. A call whose channel is gone leaves the queue at once and is
never offered again.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from callcenter.runtime.clock import Clock
from callcenter.records.errors import InvalidContact
from callcenter.records.normalize import normalize_phone
from callcenter.intake.contact import Contact
from callcenter.intake.pipeline import IntakePipeline
from callcenter.dispatch.switchboard import Switchboard
from channels.telephony.callhandling import (
    CallInstruction,
    DialAgent,
    DialResult,
    InboundCall,
    QueueClosed,
    QueuePosition,
    ReleaseCall,
)

log = Logger(namespace="callcenter.intake.voice_calls")

# Statuses of Asterisk's DIALSTATUS that mean the caller went away while the phone rang.
CALLER_LEFT_STATUSES = frozenset({"CANCEL"})
# How long a call's id is remembered after it ended, so late duplicate reports are recognised.
ENDED_MEMORY = 600.0


class Phase(enum.Enum):
    """Where a call stands (see the module docstring)."""

    ARRIVING = "arriving"
    WAITING = "waiting"
    RINGING = "ringing"
    CONNECTED = "connected"
    ENDED = "ended"


@dataclass(eq=False)
class Call:
    """One caller channel and its interaction."""

    uniqueid: str
    arrived_at: float
    phase: Phase = Phase.ARRIVING
    interaction: int | None = None
    agent: str | None = None                 # the agent rung or connected
    waiter: Deferred | None = None           # a FastAGI session waiting for an offer
    ready: Any = None                        # an offer made while no session was waiting
    channels: set[str] = field(default_factory=set)   # the agent legs' uniqueids (AMI)
    ended_at: float | None = None
    pending: Any = None                      # its restored contact, until the dialplan asks again


class VoiceCalls:
    """Implements :class:`channels.telephony.callhandling.CallHandling` on a :class:`Switchboard`,
    and takes the AMI adapter's call facts (:meth:`answered`, :meth:`dial_failed`,
    :meth:`channel_gone`, :meth:`reconcile`)."""

    restore_grace = 30.0    # seconds a call waiting at the last stop has to ask again (the dialplan retries every 2 s)

    def __init__(self, switchboard: Switchboard, intake: IntakePipeline, clock: Clock | None = None) -> None:
        self._board = switchboard
        self._intake = intake
        self._clock = clock
        self._calls: dict[str, Call] = {}           # caller channel uniqueid -> call
        self._by_interaction: dict[int, Call] = {}
        self._by_leg: dict[str, Call] = {}          # agent leg uniqueid -> call
        self._early: dict[int, Any] = {}            # offers made before admit() returned
        self._outbound: dict[str, int] = {}         # agent channel of a click-to-dial call -> interaction
        self._ended: deque[Call] = deque()          # calls in the order they ended, to be forgotten
        switchboard.on_offer(self._offered)
        switchboard.on_withdraw(self._withdrawn)

    # --- FastAGI (CallHandling) ---

    async def call_arrived(self, call: InboundCall) -> CallInstruction:
        """Route the call; returns once an agent is chosen (or the queue is closed)."""
        known = self._calls.get(call.uniqueid)
        if known is not None and known.pending is not None and known.phase is Phase.WAITING:
            # A call that was waiting when the server stopped asks again: back in line, in its place.
            pending, known.pending = known.pending, None
            self._board.restore([pending])
        if known is None or known.phase is Phase.ENDED:
            known = self._calls[call.uniqueid] = Call(call.uniqueid, call.arrived_at)
            admission = await self._intake.admit(_contact(call, self._board.settings.server.default_region), wait=False)
            if admission.closed is not None:
                self._end(known, call.arrived_at)
                return QueueClosed(admission.closed.announcement or "closed")
            iid = known.interaction = admission.interaction_id
            self._by_interaction[iid] = known
            known.ready = self._early.pop(iid, None)
            if known.phase is Phase.ENDED:
                # The caller hung up while the interaction was being created.
                self._board.customer_left(iid, "caller_hung_up")
                return ReleaseCall()
            known.phase = Phase.WAITING
        if known.phase is Phase.RINGING:
            # The dialplan came back from Dial without a dial result we heard of (the dialresult
            # request failed): the dial did not connect, and the caller is still there.
            self._fail(known, "unreported")
        if known.phase is not Phase.WAITING:
            log.warn("call {uniqueid} asked for routing while {phase}", uniqueid=call.uniqueid, phase=known.phase.value)
            return ReleaseCall()
        offer, known.ready = known.ready, None
        if offer is None:
            known.waiter = Deferred()
            offer = await known.waiter
        if offer is None or known.phase is not Phase.WAITING:
            return ReleaseCall()
        known.phase, known.agent = Phase.RINGING, offer.agent
        agent = self._board.settings.agents[offer.agent]
        timeout = self._board.settings.queues[offer.queue].offer_timeout
        return DialAgent(agent.phone, max(1, math.ceil(timeout)), str(known.interaction))

    def queue_position(self, call: InboundCall) -> QueuePosition | None:
        """The caller's place in line and estimated wait, from the routing core's view."""
        known = self._calls.get(call.uniqueid)
        if known is None or known.interaction is None:
            return None
        entry = self._board.waiting_view(known.interaction)
        if entry is None:
            return None
        wait = entry.estimated_wait
        return QueuePosition(entry.position, None if wait is None else int(round(wait)))

    def caller_hung_up(self, call: InboundCall, at: float) -> None:
        """The FastAGI session saw the caller go."""
        self.channel_gone(call.uniqueid, at)

    async def dial_result(self, result: DialResult) -> bool:
        """How the dial ended: ANSWER (Dial returned after the call) ends it; CANCEL is the caller
        leaving; anything else re-routes the caller, who is still there (True)."""
        known = self._calls.get(result.uniqueid) or self._by_interaction.get(_int(result.interaction_id) or -1)
        if known is None:
            # Nothing known of this call (the server restarted mid-dial and the record had no
            # trace of it): routing it again is better than hanging up on a caller.
            log.warn("dial result {status} for unknown call {uniqueid}", status=result.status, uniqueid=result.uniqueid)
            return result.status != "ANSWER" and result.status not in CALLER_LEFT_STATUSES
        if result.status == "ANSWER":
            self._answer(known, result.at)
            self._gone(known, result.at)
            return False
        if result.status in CALLER_LEFT_STATUSES:
            self._gone(known, result.at)
            return False
        self._fail(known, result.status)
        return known.phase is Phase.WAITING

    def call_answered(self, interaction_id: str, uniqueid: str, at: float) -> None:
        """Dial's ``U()`` subroutine ran on the agent's channel: the call is answered."""
        known = self._by_interaction.get(_int(interaction_id) or -1)
        if known is None:
            log.warn("answer reported for unknown interaction {iid!r}", iid=interaction_id)
            return
        if uniqueid:
            known.channels.add(uniqueid)
            self._by_leg[uniqueid] = known
        self._answer(known, at)

    def channel_gone(self, uniqueid: str, at: float) -> None:
        """The caller channel hung up (FastAGI ``HANGUP``, its hangup handler, AMI ``Hangup``), or
        the agent's channel of an outbound call did."""
        known = self._calls.get(uniqueid)
        if known is not None:
            self._gone(known, at)
        outbound = self._outbound.pop(uniqueid, None)
        if outbound is not None and self._board.holding.get(outbound) is not None:
            self._board.complete(outbound)

    # --- AMI facts ---

    def is_call(self, uniqueid: str) -> bool:
        """True if ``uniqueid`` is a caller channel this server routes or an agent's outbound
        call (live or recently ended)."""
        return uniqueid in self._calls or uniqueid in self._outbound

    def outbound_call(self, uniqueid: str, iid: int) -> None:
        """An agent's click-to-dial call is up on channel ``uniqueid``: its hang-up ends ``iid``."""
        self._outbound[uniqueid] = iid

    def dial_started(self, uniqueid: str, leg_uniqueid: str) -> None:
        """AMI ``DialBegin`` from the caller channel: remember the agent leg."""
        known = self._calls.get(uniqueid)
        if known is not None and leg_uniqueid:
            known.channels.add(leg_uniqueid)
            self._by_leg[leg_uniqueid] = known

    def answered(self, uniqueid: str, at: float) -> None:
        """AMI ``DialEnd`` with ``ANSWER`` on the caller channel."""
        known = self._calls.get(uniqueid)
        if known is not None:
            self._answer(known, at)

    def dial_failed(self, uniqueid: str, status: str, at: float) -> None:
        """AMI ``DialEnd`` with another status on the caller channel."""
        known = self._calls.get(uniqueid)
        if known is None:
            return
        if status in CALLER_LEFT_STATUSES:
            return  # the caller channel's own Hangup follows and says it
        self._fail(known, status)

    def reconcile(self, alive: Iterable[str], at: float, arrived_before: float) -> list[int]:
        """After an AMI (re)connect: every call known before ``arrived_before`` (when the PBX's
        channel list was asked for) whose caller channel is not among ``alive`` is gone
        (abandoned or ended now). Returns the interactions that were ended."""
        live = set(alive)
        ended = []
        for uniqueid in [u for u in self._outbound if u not in live]:
            ended.append(self._outbound[uniqueid])
            self.channel_gone(uniqueid, at)
        for known in list(self._calls.values()):
            if known.phase is not Phase.ENDED and known.uniqueid not in live and known.arrived_at <= arrived_before:
                self._gone(known, at)
                if known.interaction is not None:
                    ended.append(known.interaction)
        return ended

    def restore_calls(self, interactions: Iterable[Any], contacts: Mapping[int, Any], at: float) -> None:
        """Calls the record held when the server started (see :mod:`callcenter.dispatch.recovery`), each with
        the contact it comes back as. A call in wrap-up or held by its agent is restored at once
        (the agent stays busy until the PBX says the call ended). A waiting call goes back in line
        with its place when the dialplan asks again (``inbound`` with the same uniqueid: a
        request the stop cut short is repeated); if the PBX says it is gone (AMI), or it has not
        asked again within ``restore_grace`` seconds, it is abandoned. Calls without a caller
        channel (routed by another system through the CTI API) are left as they are."""
        for interaction in interactions:
            contact = contacts.get(interaction.id)
            uniqueid = ((interaction.payload or {}).get("call") or {}).get("uniqueid")
            if contact is None or not uniqueid:
                continue
            known = Call(uniqueid, at, interaction=interaction.id, agent=contact.agent)
            if contact.resume is None:
                self._board.restore([contact])
                if contact.agent is None or interaction.state == "wrap_up":
                    continue
                known.phase = Phase.CONNECTED
            else:
                known.phase, known.pending = Phase.WAITING, contact
            self._calls[uniqueid] = known
            self._by_interaction[interaction.id] = known
        if self._clock is not None and any(c.pending is not None for c in self._calls.values()):
            self._clock.call_later(self.restore_grace, self._restored_calls_overdue)

    def _restored_calls_overdue(self) -> None:
        for known in list(self._calls.values()):
            if known.pending is not None and known.phase is Phase.WAITING:
                log.info("call {uniqueid} waiting at the last stop never came back; abandoned", uniqueid=known.uniqueid)
                self._gone(known, self._clock.now(), "call_lost_on_restart")

    def admitting(self) -> int:
        """How many calls are having their interaction created right now."""
        return sum(1 for c in self._calls.values() if c.phase is Phase.ARRIVING)

    # --- for the call log ---

    def interaction_for_channel(self, uniqueid: str) -> int | None:
        """The interaction of a caller channel or an agent leg this server knows, or None."""
        known = self._calls.get(uniqueid) or self._by_leg.get(uniqueid)
        return None if known is None else known.interaction

    # --- transitions ---

    def _answer(self, known: Call, at: float) -> None:
        if known.phase is Phase.RINGING and known.interaction is not None and known.agent is not None:
            known.phase = Phase.CONNECTED
            self._board.connected(known.interaction, known.agent)
        elif known.phase not in (Phase.CONNECTED, Phase.ENDED):
            log.warn("answer of call {uniqueid} while {phase} ignored", uniqueid=known.uniqueid, phase=known.phase.value)

    def _fail(self, known: Call, status: str) -> None:
        if known.phase is Phase.RINGING and known.interaction is not None and known.agent is not None:
            known.phase, agent, known.agent = Phase.WAITING, known.agent, None
            if self._board.is_offered(known.interaction, agent):
                self._board.offer_failed(known.interaction, agent, status.lower())

    def _gone(self, known: Call, at: float, reason: str | None = None) -> None:
        phase = known.phase
        if phase is Phase.ENDED:
            return
        self._end(known, at)
        iid = known.interaction
        if iid is None:
            return  # still arriving: call_arrived abandons it once the interaction exists
        if known.pending is not None:
            # Never put back in line after the restart: it leaves from where the record has it.
            pending, known.pending = known.pending, None
            self._board.abandon_unrouted(pending, reason or "caller_hung_up")
        elif phase is Phase.CONNECTED:
            if self._board.holding.get(iid) is not None:
                self._board.complete(iid)
        elif self._board.is_waiting(iid):
            self._board.customer_left(iid, reason or ("caller_hung_up_while_ringing" if phase is Phase.RINGING
                                                      else "caller_hung_up"))
        if known.waiter is not None and not known.waiter.called:
            known.waiter.callback(None)
        known.ready = None

    def _end(self, known: Call, at: float) -> None:
        known.phase, known.ended_at = Phase.ENDED, at
        self._ended.append(known)
        self._forget_old(at)

    def _forget_old(self, now: float) -> None:
        """Forget the calls that ended more than ENDED_MEMORY seconds before ``now``: the oldest
        ended first, so each end looks at no more than the calls it forgets (a call whose end is
        reported out of order waits behind the one before it)."""
        ended = self._ended
        while ended and now - ended[0].ended_at > ENDED_MEMORY:
            known = ended.popleft()
            if self._calls.get(known.uniqueid) is known:
                del self._calls[known.uniqueid]
            if known.interaction is not None and self._by_interaction.get(known.interaction) is known:
                del self._by_interaction[known.interaction]
            for leg in known.channels:
                if self._by_leg.get(leg) is known:
                    del self._by_leg[leg]

    # --- switchboard listeners ---

    def _offered(self, decision: Any) -> None:
        known = self._by_interaction.get(decision.interaction)
        if known is None:
            # Offered while its call is still being admitted (an agent was free at once).
            if self._board.channel_of.get(decision.interaction) == "voice":
                self._early[decision.interaction] = decision
            return
        if known.phase is not Phase.WAITING:
            return
        if known.waiter is not None and not known.waiter.called:
            waiter, known.waiter = known.waiter, None
            waiter.callback(decision)
        else:
            known.ready = decision

    def _withdrawn(self, iid: int, agent: str) -> None:
        known = self._by_interaction.get(iid)
        if known is None:
            early = self._early.get(iid)
            if early is not None and early.agent == agent:
                del self._early[iid]
            return
        if known.ready is not None and known.ready.agent == agent:
            known.ready = None
        if known.phase is Phase.RINGING and known.agent == agent:
            # The core's safety-net expiry fired with no word from the PBX: waiting again.
            known.phase, known.agent = Phase.WAITING, None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def dialled_address(call: InboundCall, region: str) -> str:
    """The number the caller dialled, in E.164 when it is a phone number (``agi_dnid``, else the
    extension), so rules written as ``+18005550102`` match however the trunk presents it; an
    extension that is not a phone number (``100``, ``s``) is returned as it is."""
    raw = call.dialed_number or call.extension
    if raw and any(ch.isdigit() for ch in raw):
        try:
            return normalize_phone(raw, region)
        except InvalidContact:
            pass
    return raw


def _contact(call: InboundCall, region: str) -> Contact:
    variables = dict(call.variables)
    return Contact(
        channel="voice", direction="inbound",
        contact_kind="phone" if call.caller_number else None, contact=call.caller_number,
        contact_name=call.caller_name,
        to=dialled_address(call, region), digits=call.ivr_digits, variables=variables,
        queue_hint=call.queue_hint,
        language=call.language or None, virtual_start=call.arrived_at,
        payload={"call": {"uniqueid": call.uniqueid, "channel": call.channel, "caller_number": call.caller_number,
                          "caller_name": call.caller_name, "dialed_number": call.dialed_number,
                          "ivr_digits": call.ivr_digits, "variables": variables, "queue_hint": call.queue_hint}},
    )
