"""The agent desktop: its page and the JSON actions behind it.

``GET /desktop`` is a server-rendered page (Jinja2, English and Simplified Chinese) with
small dependency-free JavaScript (``static/desktop.js``) that listens to the push stream and
calls the actions below. Every action acts as the logged-in agent only: an agent can accept,
reject, reply to or wrap up only what is offered to or held by them (403 otherwise).

Actions (JSON, CSRF-checked by the authentication layer):

``GET  /api/me``                              the agent's state, offers and current work
``POST /api/me/state``                        ``{"state": "available"|"not_ready"|"logged_out", "reason"?}``
``POST /api/me/offers/{id}/accept|reject``    answer an offer
``POST /api/me/work/{id}/complete``           the customer part is over; wrap-up starts
``POST /api/me/work/{id}/wrap-up``            ``{"disposition", "notes"?}`` ends wrap-up
``POST /api/me/work/{id}/notes``              ``{"notes"}`` appended to the interaction's log
``POST /api/me/work/{id}/transfer``           ``{"queue"}`` hands it to another queue
``POST /api/me/work/{id}/reply``              ``{"body"}`` or ``{"template"}``: answer an email
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from callcenter.lifecycle import IllegalTransition
from callcenter.switchboard import InvalidState, NotYours, Switchboard
from callcenter.web import notes
from callcenter.web.jsonapi import ApiError, ApiRequest, JsonApi
from callcenter.web.serialize import to_json
from routing import RoutingError

Principal = Any
PrincipalOf = Callable[[ApiRequest], Awaitable[Principal]]
MAX_NOTES = 64 * 1024


def _text(body: dict, name: str, limit: int, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ApiError(422, "invalid_input", f"{name} must be a non-empty string", name)
    if len(value) > limit:
        raise ApiError(422, "invalid_input", f"{name} is longer than {limit} characters", name)
    return value


class DesktopApi:
    """The agent's actions; ``principal`` authenticates the request (ApiError 401/403)."""

    def __init__(self, switchboard: Switchboard, store: Any, principal: PrincipalOf,
                 reply: Callable[..., Awaitable[Any]] | None = None) -> None:
        self._board = switchboard
        self._store = store
        self._principal = principal
        self._reply = reply

    def register(self, api: JsonApi) -> None:
        """Add the desktop routes to ``api``."""
        api.add("GET", "/api/me", self.me)
        api.add("POST", "/api/me/state", self.set_state)
        api.add("POST", "/api/me/offers/{id}/accept", self.accept)
        api.add("POST", "/api/me/offers/{id}/reject", self.reject)
        api.add("POST", "/api/me/work/{id}/complete", self.complete)
        api.add("POST", "/api/me/work/{id}/wrap-up", self.wrap_up)
        api.add("POST", "/api/me/work/{id}/notes", self.notes)
        api.add("POST", "/api/me/work/{id}/transfer", self.transfer)
        api.add("GET", "/api/me/work/{id}", self.work_item)
        api.add("POST", "/api/me/work/{id}/reply", self.reply)

    async def _agent(self, req: ApiRequest) -> str:
        principal = await self._principal(req)
        agent = getattr(principal, "agent", None)
        if not agent or agent not in self._board.settings.agents:
            raise ApiError(403, "not_an_agent", "this account is not linked to an agent")
        return agent

    async def me(self, req: ApiRequest) -> object:
        """The agent's live state (what the page shows after a reload or a reconnect)."""
        return await self._board.agent_snapshot(await self._agent(req))

    async def set_state(self, req: ApiRequest) -> object:
        """Go available, not ready with a reason code, or log out."""
        agent = await self._agent(req)
        body = req.json_object()
        with _mapped_errors():
            self._board.change_state(agent, body.get("state"), body.get("reason"))
        return await self._board.agent_snapshot(agent)

    async def accept(self, req: ApiRequest) -> object:
        """Take the offered interaction."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        with _mapped_errors():
            self._board.accept(agent, iid)
        return {"accepted": iid}

    async def reject(self, req: ApiRequest) -> object:
        """Turn the offer down."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        with _mapped_errors():
            self._board.reject(agent, iid)
        return {"rejected": iid}

    async def complete(self, req: ApiRequest) -> object:
        """Finish the customer part of the work; the agent enters wrap-up."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        with _mapped_errors():
            self._board.require_holder(agent, iid)
            self._board.complete(iid, agent)
        return {"completed": iid}

    async def wrap_up(self, req: ApiRequest) -> object:
        """End wrap-up with a disposition (and optional notes)."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        body = req.json_object()
        disposition = body.get("disposition")
        if disposition not in self._board.settings.dispositions:
            raise ApiError(422, "invalid_input", "disposition must be one of the configured dispositions", "disposition")
        notes = _text(body, "notes", MAX_NOTES, required=False)
        with _mapped_errors():
            self._board.require_holder(agent, iid, wrap_up=True)
            self._board.end_wrap_up(agent, iid, disposition=disposition, notes=notes)
        return {"wrapped_up": iid}

    async def notes(self, req: ApiRequest) -> object:
        """Append a note to the interaction's log."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        text = _text(req.json_object(), "notes", MAX_NOTES)
        with _mapped_errors():
            self._board.require_holder(agent, iid, wrap_up=True)
        event = await self._store.append_event(iid, "note", actor=agent, details={"text": text})
        return to_json(event)

    async def transfer(self, req: ApiRequest) -> object:
        """Hand the interaction to another queue."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        queue = _text(req.json_object(), "queue", 100)
        if queue not in self._board.settings.queues:
            raise ApiError(422, "invalid_input", "queue must be a configured queue", "queue")
        with _mapped_errors():
            self._board.require_holder(agent, iid)
            self._board.transfer(iid, queue, agent)
        return {"transferred": iid, "queue": queue}

    async def reply(self, req: ApiRequest) -> object:
        """Answer the customer's email with a text or a configured template (queued in the outbox)."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        body = req.json_object()
        template = body.get("template") or None
        text = None if template else _text(body, "body", MAX_NOTES)
        if template is not None and not isinstance(template, str):
            raise ApiError(422, "invalid_input", "template must be a template name", "template")
        with _mapped_errors():
            self._board.require_holder(agent, iid)
        if self._reply is None or self._board.channel_of.get(iid) != "email":
            raise ApiError(409, "not_email", "only an email interaction can be answered by email")
        name = self._board.settings.agents[agent].name
        try:
            item = await self._reply(iid, agent, template or text, agent_name=name)
        except ValueError as error:
            raise ApiError(409, "cannot_reply", str(error)) from None
        await self._store.append_event(iid, "reply_queued", actor=agent, details={"outbox": getattr(item, "id", None)})
        return {"queued": True, "interaction": iid}

    async def work_item(self, req: ApiRequest) -> object:
        """The screen pop of an interaction the agent is offered or holds."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        with _mapped_errors():
            self._board.require_holder(agent, iid, wrap_up=True, offered=True)
        pop = await self._board.screen_pop(iid)
        viewer = await self._principal(req)
        return {**pop, "timeline": [notes.interaction_for(viewer, item) for item in pop.get("timeline", [])]}


class _mapped_errors:
    """Switchboard errors as API errors: not yours 403, illegal move 409, bad value 422."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, _tb: Any) -> bool:
        if error is None or isinstance(error, ApiError):
            return False
        if isinstance(error, InvalidState):
            raise ApiError(422, "invalid_input", error.message, error.field) from None
        if isinstance(error, NotYours):
            raise ApiError(403, "not_yours", str(error)) from None
        if isinstance(error, (IllegalTransition, RoutingError)):
            raise ApiError(409, "illegal_transition", str(error)) from None
        if isinstance(error, (ValueError, KeyError, LookupError)):
            raise ApiError(409, "not_possible", str(error).strip("'\"")) from None
        return False
