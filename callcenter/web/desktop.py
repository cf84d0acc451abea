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
``POST /api/me/work/{id}/reply``              ``{"body"}`` (sent as written) or ``{"template"}``: answer
                                              an email; the answer says its delivery state
``GET  /api/me/work/{id}/reply-draft``        ``?template=``: the reply template's greeting and signature
``GET  /api/me/work/{id}/attachments/{file}`` an attachment of the interaction's mail, as a download
``GET  /api/me/work/{id}/messages/{msg}/raw`` a message of it as received (``message/rfc822``)

The downloads go only to the agent offered, holding or wrapping up the interaction, with
``Content-Disposition: attachment``, ``X-Content-Type-Options: nosniff`` and a sandboxing CSP;
a declared type outside :data:`INLINE_SAFE_TYPES` is sent as ``application/octet-stream``.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from callcenter.dispatch.lifecycle import IllegalTransition
from callcenter.dispatch.agent_work import InvalidState, NotYours
from callcenter.dispatch.switchboard import Switchboard
from callcenter.web import notes
from callcenter.web.jsonapi import ApiError, ApiRequest, FileResponse, JsonApi
from callcenter.web.serialize import to_json
from routing import RoutingError

Principal = Any
PrincipalOf = Callable[[ApiRequest], Awaitable[Principal]]
MAX_NOTES = 64 * 1024
# Declared types an attachment keeps when downloaded; anything else is application/octet-stream.
INLINE_SAFE_TYPES = frozenset(("application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp",
                               "text/plain", "text/csv"))


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
                 email: Callable[[], Any] | None = None) -> None:
        """``email()`` returns the mail flow (:class:`callcenter.intake.email.MailFlow`), or None
        when there is no email channel; it is asked on each request (it is built later)."""
        self._board = switchboard
        self._store = store
        self._principal = principal
        self._email = email or (lambda: None)

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
        api.add("GET", "/api/me/work/{id}/reply-draft", self.reply_draft)
        api.add("GET", "/api/me/work/{id}/attachments/{attachment}", self.attachment)
        api.add("GET", "/api/me/work/{id}/messages/{message}/raw", self.raw_message)

    async def _agent(self, req: ApiRequest) -> str:
        principal = await self._principal(req)
        agent = getattr(principal, "agent", None)
        if not agent or agent not in self._board.settings.agents:
            raise ApiError(403, "not_an_agent", "this account is not linked to an agent")
        return agent

    async def me(self, req: ApiRequest) -> object:
        """The agent's live state (what the page shows after a reload or a reconnect)."""
        agent = await self._agent(req)
        return notes.agent_snapshot_for(await self._principal(req), await self._board.agent_snapshot(agent))

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
        if not isinstance(disposition, str) or disposition not in self._board.settings.dispositions:
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
        """Answer the customer's email with a text (sent as written) or a configured template (queued
        in the outbox); the answer carries the outbox item's delivery state."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        body = req.json_object()
        template = body.get("template") or None
        if template is not None and not isinstance(template, str):
            raise ApiError(422, "invalid_input", "template must be a template name", "template")
        text = None if template else _text(body, "body", MAX_NOTES)
        flow = self._email_flow(agent, iid)
        name = self._board.settings.agents[agent].name
        try:
            item = await flow.send_reply(iid, agent, template or text, agent_name=name)
        except ValueError as error:
            raise ApiError(409, "cannot_reply", str(error)) from None
        return {"queued": True, "interaction": iid, "outbox": item.id, "delivery": flow.delivery(item)}

    async def reply_draft(self, req: ApiRequest) -> object:
        """The reply template's greeting and signature for this customer, to write the answer in."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        template = req.query_one("template") or None
        flow = self._email_flow(agent, iid)
        try:
            return await flow.reply_draft(iid, agent, agent_name=self._board.settings.agents[agent].name,
                                          template=template)
        except KeyError:
            raise ApiError(422, "invalid_input", "template must be a configured template", "template") from None
        except ValueError as error:
            raise ApiError(409, "cannot_reply", str(error)) from None

    async def attachment(self, req: ApiRequest) -> object:
        """An attachment of the interaction's mail, as a download (see the module docstring)."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        flow = self._email_flow(agent, iid, offered=True)
        found, content = await flow.attachment_file(iid, req.path_id("attachment", "attachment"))
        declared = (found.content_type or "").split(";")[0].strip().lower()
        return FileResponse(content, found.filename or f"attachment-{found.id}",
                            declared if declared in INLINE_SAFE_TYPES else "application/octet-stream")

    async def raw_message(self, req: ApiRequest) -> object:
        """A message of the interaction exactly as received or sent, as ``message-{id}.eml``."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        flow = self._email_flow(agent, iid, offered=True)
        mid = req.path_id("message", "message")
        return FileResponse(await flow.raw_message(iid, mid), f"message-{mid}.eml", "message/rfc822")

    def _email_flow(self, agent: str, iid: int, offered: bool = False) -> Any:
        """The mail flow, once ``agent`` may act on email interaction ``iid`` (403/409 otherwise):
        hold it to answer; hold, wrap up or be offered it (``offered``) to read its files."""
        with _mapped_errors():
            self._board.require_holder(agent, iid, wrap_up=offered, offered=offered)
        flow = self._email()
        if flow is None or self._board.channel_of.get(iid) != "email":
            raise ApiError(409, "not_email", "only an email interaction has mail")
        return flow

    async def work_item(self, req: ApiRequest) -> object:
        """The screen pop of an interaction the agent is offered or holds."""
        agent = await self._agent(req)
        iid = req.path_id("interaction")
        with _mapped_errors():
            self._board.require_holder(agent, iid, wrap_up=True, offered=True)
        return notes.pop_for(await self._principal(req), await self._board.screen_pop(iid))


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
