"""Mail that reached no agent, listed for an administrator: the page and its API.

Every accepted message reaches a person. A person's message reaches an agent; what the loop
guard calls automatic and threads to no interaction (auto-replies, read receipts, list mail,
feedback reports, our own messages coming back) and delivery reports for messages we never
sent reach nobody else, so they are listed here with the reason
(:mod:`callcenter.records.mail_ingest`).

``GET /admin/mail``                      the listing, newest first (page, admins only)
``GET /api/admin/mail/listed``           the same as JSON: ``?limit=1..500&before=<id>``
``GET /api/admin/mail/{id}/raw``         a listed message exactly as received, as a download
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from callcenter.records.errors import NotFound
from callcenter.web.i18n import labels
from callcenter.web.jsonapi import ApiRequest, FileResponse, JsonApi
from callcenter.web.pages import header_context, html_page, request_language

log = Logger(namespace="callcenter.web.mailreview")
PAGE_SIZE = 100


def listed_json(item: Any) -> dict[str, Any]:
    """One listed message as the API and the page show it."""
    return {"id": item.id, "received_at": item.received_at.isoformat(), "mailbox": item.mailbox,
            "from": item.sender, "mail_from": item.mail_from, "subject": item.subject,
            "message_id": item.message_id, "reason": item.review, "raw_url": f"/api/admin/mail/{item.id}/raw"}


class MailReviewApi:
    """The JSON half. ``mail()`` returns the MailStore (None without an email channel);
    ``principal`` admits administrators only (ApiError 401/403 otherwise)."""

    def __init__(self, mail: Callable[[], Any], principal: Callable[[ApiRequest], Awaitable[Any]]) -> None:
        self._mail = mail
        self._principal = principal

    def register(self, api: JsonApi) -> None:
        """Add the routes to ``api``."""
        api.add("GET", "/api/admin/mail/listed", self.listed)
        api.add("GET", "/api/admin/mail/{id}/raw", self.raw)

    async def listed(self, req: ApiRequest) -> object:
        """A page of listed messages, newest first; ``next_before`` continues it (null at the end)."""
        await self._principal(req)
        limit = req.query_int("limit", PAGE_SIZE, 1, 500)
        before = req.query_int("before", 0, 0, 2**62) or None
        items = await self._store().listed(limit, before)
        return {"items": [listed_json(i) for i in items],
                "next_before": items[-1].id if len(items) == limit else None}

    async def raw(self, req: ApiRequest) -> object:
        """A listed message as received (404 for any message that is not listed)."""
        await self._principal(req)
        mid = req.path_id("message")
        store = self._store()
        message = await store.get_message(mid)
        if message.direction != "inbound" or message.interaction_id is not None or not message.review:
            raise NotFound("listed mail message", mid)
        return FileResponse(await store.raw(mid), f"message-{mid}.eml", "message/rfc822")

    def _store(self) -> Any:
        store = self._mail()
        if store is None:
            raise NotFound("email channel", 0)
        return store


class MailReviewPage(Resource):
    """``GET /admin/mail``: the listing as a page (the guard in front admits administrators).

    ``mail()`` gives the MailStore; ``principal_of(request)`` the checked principal (header).
    ``?before=<id>`` shows the next page.
    """

    isLeaf = True

    def __init__(self, env: Any, mail: Callable[[], Any], csrf_for: Callable[[Request], str],
                 principal_of: Callable[[Request], Any]) -> None:
        super().__init__()
        self._env = env
        self._mail = mail
        self._csrf_for = csrf_for
        self._principal_of = principal_of

    def render_GET(self, request: Request) -> object:  # noqa: N802 - twisted API
        d = Deferred.fromCoroutine(self._render(request))
        d.addErrback(lambda f: (log.failure("mail review page failed", f), _fail(request)))
        return NOT_DONE_YET

    async def _render(self, request: Request) -> None:
        lang = request_language(request)
        table = labels(lang)
        raw_before = request.args.get(b"before", [b""])[0]
        before = int(raw_before) if raw_before.isdigit() and len(raw_before) < 18 else None
        store = self._mail()
        items = [listed_json(i) for i in await store.listed(PAGE_SIZE, before)] if store is not None else []
        header = header_context(self._principal_of(request), table, self._csrf_for(request), "/admin/mail")
        html = self._env.get_template("admin/mail.html").render(
            lang=lang, L=table, header=header, items=items,
            next_before=items[-1]["id"] if len(items) == PAGE_SIZE else None)
        request.write(html_page(request, html))
        request.finish()


def admin_pages(env: Any, mail: Callable[[], Any], csrf_for: Callable[[Request], str],
                principal_of: Callable[[Request], Any]) -> Resource:
    """The ``/admin`` tree of pages: ``mail`` (:class:`MailReviewPage`)."""
    tree = Resource()
    tree.putChild(b"mail", MailReviewPage(env, mail, csrf_for, principal_of))
    return tree


def _fail(request: Request) -> None:
    if not request.finished and not request.startedWriting:
        request.setResponseCode(500)
        request.write(b"internal error")
        request.finish()
