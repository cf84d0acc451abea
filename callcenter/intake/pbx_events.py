"""Telephony glue: AMI events, the generic CTI API and click-to-dial, carried to the switchboard.

* Phone presence from AMI (device/endpoint state) makes an agent available or not for calls;
  the agent is found by the ``phone`` endpoint configured for them.
* Call lifecycle events build a :class:`~channels.telephony.calllog.CallSummary` per call;
  the summary is appended to the interaction's log (answered-at, talk time, who hung up,
  cause) and a connected call's hang-up sends the agent to wrap-up.
* ``POST /api/cti/<token>``: calls from a PBX other than Asterisk. Duplicates and
  out-of-order events are absorbed by :class:`~channels.telephony.cti.CtiCallTracker`; a
  caller on the configured block list gets ``{"action": "reject"}``.
* Click-to-dial: Originate the agent's phone then the customer, logged as an outbound
  interaction on the customer's timeline.
"""

from __future__ import annotations

import hmac
from typing import Any, Callable
from urllib.parse import parse_qs

from twisted.logger import Logger

from callcenter.records.errors import InvalidContact
from callcenter.records.normalize import normalize_phone
from callcenter.intake.contact import Contact
from callcenter.intake.pipeline import IntakePipeline
from callcenter.dispatch.switchboard import Switchboard
from callcenter.intake.voice_calls import VoiceCalls
from callcenter.web.jsonapi import ApiError, ApiRequest, JsonApi
from channels.telephony.calllog import CallLogBuilder, CallSummary
from channels.telephony.callevents import (
    AgentPhonePresence,
    CallEvent,
    ChannelHungUp,
    ChannelSnapshot,
    DialEnded,
    DialStarted,
    ResyncFinished,
    ResyncStarted,
    TelephonyEvent,
)
from channels.telephony.cti import CallEffect, CtiCallTracker, CtiInputError, parse_cti_event
from channels.telephony.originate import ClickToDial, InvalidDialNumber

log = Logger(namespace="callcenter.intake.pbx_events")

CTI_EXPIRY_INTERVAL = 60.0


class TelephonyEvents:
    """Consumes the AMI adapter's events (``on_event`` of :class:`AmiService`).

    Call facts about a caller channel the server routes go to :class:`VoiceCalls` as they
    arrive (answered, dial failed, hung up); after every (re)connect the PBX's live channels
    are reconciled with the calls the server believes in. Each finished call's summary
    (answered-at, talk time, who hung up, cause) is appended to its interaction's log.
    """

    def __init__(self, switchboard: Switchboard, voice: VoiceCalls, store: Any) -> None:
        self._board = switchboard
        self._voice = voice
        self._store = store
        self._log = CallLogBuilder()
        self._agent_by_device = {a.phone: login for login, a in switchboard.settings.agents.items() if a.phone}
        # Every channel of a call, by uniqueid -> the call's linkedid: the FastAGI session knows
        # the caller channel's uniqueid, which is not the linkedid when the call started elsewhere
        # (a Local channel, a transfer).
        self._linked: dict[str, str] = {}
        self._resync: tuple[float, set[str]] | None = None

    def __call__(self, event: TelephonyEvent) -> None:
        if isinstance(event, AgentPhonePresence):
            agent = self._agent_by_device.get(event.device)
            if agent is not None:
                self._board.set_phone_registered(agent, event.available)
            return
        if isinstance(event, ResyncStarted):
            self._resync = (event.at, set())
        elif isinstance(event, ResyncFinished) and self._resync is not None:
            started, alive = self._resync
            self._resync = None
            ended = self._voice.reconcile(alive, event.at, arrived_before=started)
            if ended:
                log.info("{count} calls ended while the AMI link was down: {ids}", count=len(ended), ids=ended)
        if isinstance(event, CallEvent):
            self._linked[event.uniqueid] = event.linkedid
            self._call_fact(event)
        summary = self._log.feed(event)
        if summary is not None:
            self._summarised(summary)

    def _call_fact(self, event: CallEvent) -> None:
        voice = self._voice
        if isinstance(event, ChannelSnapshot) and self._resync is not None:
            self._resync[1].add(event.uniqueid)
        if not voice.is_call(event.uniqueid):
            return
        if isinstance(event, DialStarted):
            voice.dial_started(event.uniqueid, event.dest_uniqueid)
        elif isinstance(event, DialEnded):
            if event.status == "ANSWER":
                voice.answered(event.uniqueid, event.at)
            else:
                voice.dial_failed(event.uniqueid, event.status, event.at)
        elif isinstance(event, ChannelHungUp):
            voice.channel_gone(event.uniqueid, event.at)

    def _summarised(self, summary: CallSummary) -> None:
        channels = [u for u, linked in self._linked.items() if linked == summary.linkedid]
        for uniqueid in channels:
            del self._linked[uniqueid]
        iid = next((i for u in [summary.linkedid, *channels] if (i := self._voice.interaction_for_channel(u)) is not None),
                   None)
        if iid is None:
            return
        details = {"answered_at": summary.answered_at, "talk_seconds": round(summary.talk_seconds, 3),
                   "hung_up_by": summary.hung_up_by, "cause": summary.cause, "cause_text": summary.cause_text,
                   "dial_statuses": [list(d) for d in summary.dial_statuses]}
        self._board.log_event(iid, "call_summary", details)


CTI_TOKEN_HEADER = "x-cti-token"


class CtiApi:
    """``POST /api/cti`` with the token in the ``X-CTI-Token`` header, or ``POST /api/cti/{token}``
    for a PBX that cannot send a header: the generic CTI API (form or JSON body). A wrong or
    missing token is a 404, as if the endpoint did not exist; the path form's token is redacted
    from the access log (:func:`callcenter.web.listener.redact_uri`)."""

    def __init__(self, switchboard: Switchboard, intake: IntakePipeline, token: str | None, clock: Any,
                 blocked: Callable[[str | None], bool] = lambda number: False) -> None:
        self._board = switchboard
        self._intake = intake
        self._token = token
        self._clock = clock
        self._blocked = blocked
        self._tracker = CtiCallTracker()
        self._calls: dict[str, int] = {}
        self._expiry: Any = None

    def register(self, api: JsonApi) -> None:
        """Add the CTI route to ``api``."""
        api.add("POST", "/api/cti", self.post)
        api.add("POST", "/api/cti/{token}", self.post)

    def start(self) -> None:
        """Close calls never hung up, once a minute."""
        self._expiry = self._clock.call_later(CTI_EXPIRY_INTERVAL, self._expire)

    def stop(self) -> None:
        """Stop the expiry timer."""
        if self._expiry is not None and self._expiry.active():
            self._expiry.cancel()

    def _expire(self) -> None:
        for effect in self._tracker.expire(self._clock.now()):
            self._apply_end(effect)
        self._expiry = self._clock.call_later(CTI_EXPIRY_INTERVAL, self._expire)

    async def post(self, req: ApiRequest) -> object:
        """Validate the token and the event, apply it, reply with what happened."""
        presented = req.params.get("token") or req.header(CTI_TOKEN_HEADER) or ""
        if not self._token or not hmac.compare_digest(presented.encode(), self._token.encode()):
            raise ApiError(404, "not_found", "no such endpoint")
        params = _cti_params(req)
        try:
            event = parse_cti_event(params)
        except CtiInputError as error:
            raise ApiError(422, "invalid_cti_event", error.message, error.field) from None
        if event.event == "newCall" and event.direction == "in" and self._blocked(event.from_number):
            self._tracker.handle(event, self._clock.now())
            return {"action": "reject", "reason": "blocked"}
        effects = self._tracker.handle(event, self._clock.now())
        interaction = None
        for effect in effects:
            interaction = await self._apply(effect) or interaction
        known = self._calls.get(event.call_id)
        return {"action": "accept", "callId": event.call_id, "interaction": known,
                "duplicate": not effects}

    async def _apply(self, effect: CallEffect) -> int | None:
        event = effect.event
        if effect.kind == "create":
            inbound = event.direction == "in"
            admission = await self._intake.admit(route=False, contact=Contact(
                channel="voice", direction="inbound" if inbound else "outbound", contact_kind="phone",
                contact=event.from_number if inbound else event.to_number,
                to=event.to_number if inbound else event.from_number,
                payload={"cti": {"call_id": event.call_id, "from": event.from_number, "to": event.to_number,
                                 "user": event.user}}))
            self._calls[event.call_id] = admission.interaction_id
            return admission.interaction_id
        iid = self._calls.get(effect.call_id)
        if iid is None:
            return None
        if effect.kind == "answer" and event is not None:
            if event.user in self._board.settings.agents:
                self._board.external_answered(iid, event.user)
            else:
                log.info("CTI answer by {user!r}, who is not a configured agent", user=event.user)
        elif effect.kind == "end":
            self._apply_end(effect)
        return iid

    def _apply_end(self, effect: CallEffect) -> None:
        iid = self._calls.get(effect.call_id)
        if iid is not None:
            self._board.external_ended(iid, effect.reason or "hangup")


def _cti_params(req: ApiRequest) -> dict[str, object]:
    content_type = (req.header("content-type") or "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return req.json_object()
    try:
        text = req.body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_body", "the form body is not UTF-8") from None
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


class ClickToDialApi:
    """``POST /api/dial``: the agent's phone rings, then the customer's number is dialled."""

    def __init__(self, switchboard: Switchboard, ami: Any, store: Any, principal: Callable[[ApiRequest], Any],
                 voice: VoiceCalls) -> None:
        self._board = switchboard
        self._voice = voice
        self._ami = ami
        self._store = store
        self._principal = principal

    def register(self, api: JsonApi) -> None:
        """Add the route to ``api``."""
        api.add("POST", "/api/dial", self.dial)

    async def dial(self, req: ApiRequest) -> object:
        """Body ``{"number": ..., "customer_id"?: ...}``; logs an outbound voice interaction that the
        agent holds for the length of the call (no inbound call is offered to them meanwhile); it
        ends when the agent's channel hangs up (AMI), or at once if their phone does not answer."""
        principal = await self._principal(req)
        body = req.json_object()
        number = body.get("number")
        if not isinstance(number, str):
            raise ApiError(422, "invalid_input", "number must be a string", "number")
        return await self.place(getattr(principal, "agent", None) or "", number)

    async def place(self, login: str, number: str) -> dict[str, Any]:
        """Agent ``login`` calls ``number`` (see :meth:`dial`); :class:`ApiError` for what it refuses."""
        agent = self._board.settings.agents.get(login)
        if agent is None or not agent.phone:
            raise ApiError(403, "not_an_agent", "only an agent with a phone can dial out")
        try:
            # The formats the web form takes ("+1 212 555 0100", "(212) 555-0100"), dialled in E.164.
            e164 = normalize_phone(number, self._board.settings.server.default_region, "number")
            request = ClickToDial(agent_endpoint=agent.phone, customer_number=e164)
        except InvalidContact as error:
            raise ApiError(422, "invalid_number", f"{error.field} {error.message}", "number") from None
        except InvalidDialNumber as error:
            raise ApiError(422, "invalid_number", str(error), "number") from None
        if self._ami is None or not self._ami.connected:
            raise ApiError(503, "pbx_unavailable", "the PBX link is down; try again shortly")
        if any(a == agent.login for a in self._board.holding.values()):
            raise ApiError(409, "busy", "finish the work you hold before dialling out")
        customer = await self._store.find_or_create_customer("phone", number)
        now = self._board.clock_now()
        interaction = await self._store.create_interaction(
            customer_id=customer.id, channel="voice", direction="outbound", state="accepted", agent=agent.login,
            actor=agent.login, accepted_at=now, payload={"call": {"dialed": request.customer_number}})
        self._board.start_outbound(interaction.id, agent.login)
        try:
            result = await self._ami.click_to_dial(request)
        except Exception as error:
            self._board.outbound_failed(interaction.id, agent.login, "pbx_error")
            raise ApiError(502, "pbx_error", f"the PBX did not place the call: {error}") from None
        if result.success and result.uniqueid:
            # Known before anything else is awaited: the call's hang-up may be the next event.
            self._voice.outbound_call(result.uniqueid, interaction.id)
            self._board.outbound_connected(interaction.id, agent.login)
        else:
            self._board.outbound_failed(interaction.id, agent.login, f"originate_reason_{result.reason}")
        self._board.log_event(interaction.id, "originate_result", {
            "success": result.success, "reason": result.reason, "uniqueid": result.uniqueid}, actor=agent.login)
        return {"interaction": interaction.id, "success": result.success}

