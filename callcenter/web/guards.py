"""Guarded resources and the answers to refused requests.

:class:`GuardedResource` serves its resource (and its children) only once
:meth:`Authenticator.require <callcenter.web.authn.Authenticator.require>` passed for the
request; :func:`deny` answers a refusal (a 303 to ``/login?next=...`` for a page, else 401/403/429
JSON with ``WWW-Authenticate: Bearer`` on a 401), :func:`send_json` finishes a request with JSON
and :func:`wants_json` tells an API client from a browser.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import quote

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from callcenter.web.principal import AuthError

if TYPE_CHECKING:
    from callcenter.web.authn import Authenticator

# The namespace of every authentication module's log lines, as before they were split.
log = Logger(namespace="callcenter.web.authn")


def request_header(request: Request, name: bytes) -> str | None:
    """The header ``name`` of ``request`` as text (latin-1), or None."""
    value = request.getHeader(name)
    return value.decode("latin-1") if isinstance(value, bytes) else value


def wants_json(request: Request) -> bool:
    """True when the client asked for or sent JSON (API clients), False for a browser form or page."""
    ctype = (request_header(request, b"content-type") or "").split(";")[0].strip().lower()
    accept = request_header(request, b"accept") or ""
    return ctype == "application/json" or ("application/json" in accept and "text/html" not in accept)


def send_json(request: Request, status: int, body: object, retry_after: int | None = None) -> None:
    """Finish ``request`` with a JSON body (no-store)."""
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    if retry_after is not None:
        request.setHeader(b"retry-after", str(retry_after).encode())
    if status == 401:
        request.setHeader(b"www-authenticate", b'Bearer realm="callcenter"')
    request.write(json.dumps(body, ensure_ascii=False).encode("utf-8"))
    request.finish()


def deny(request: Request, error: AuthError, page: bool) -> None:
    """Answer a refused request: a redirect to the login page for a page GET, else JSON."""
    if page and error.status == 401 and request.method in (b"GET", b"HEAD"):
        request.setResponseCode(303)
        request.setHeader(b"location", b"/login?next=" + quote(request.uri.decode("latin-1"), safe="/").encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        request.finish()
        return
    send_json(request, error.status, {"error": {"code": error.code, "message": error.message}}, error.retry_after)


class GuardedResource(Resource):
    """A resource served only after :meth:`Authenticator.require` passed (see :meth:`Authenticator.guard`)."""

    def __init__(self, authn: Authenticator, inner: Resource, roles: tuple[str, ...] | None, page: bool) -> None:
        super().__init__()
        self._authn, self._inner, self._roles, self._page = authn, inner, roles, page
        self.isLeaf = getattr(inner, "isLeaf", False)

    def getChildWithDefault(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted API
        return GuardedResource(self._authn, self._inner.getChildWithDefault(path, request), self._roles, self._page)

    def render(self, request: Request) -> object:
        finished: list = []
        request.notifyFinish().addBoth(finished.append)
        d = Deferred.fromCoroutine(self._render(request, finished))
        d.addErrback(lambda f: (log.failure("guarded request failed", f),
                                None if request.finished or finished else send_json(
                                    request, 500, {"error": {"code": "internal_error", "message": "internal error"}})))
        return NOT_DONE_YET

    async def _render(self, request: Request, finished: list) -> None:
        try:
            await self._authn.require(request, self._roles)
        except AuthError as e:
            if not finished:
                deny(request, e, self._page)
            return
        if finished:
            return
        body = self._inner.render(request)
        if body is not NOT_DONE_YET:
            request.write(body)
            request.finish()
