"""A small JSON API dispatcher on twisted.web: routes, request bodies, and JSON errors.

Handlers are ``async def handler(req: ApiRequest) -> object``. What they return is sent as JSON
with status 200 (or the status of a :class:`JsonResponse`). What they raise becomes a JSON error
body ``{"error": {"code", "message", "field"?}}``: :class:`ApiError` as given, other exceptions via
the injected ``translate_error`` (e.g. the record layer's NotFound -> 404), anything left as a 500
that is logged with its traceback and never leaks internals to the client.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping
from urllib.parse import parse_qs, quote

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from callcenter.web.listener import redact_uri

log = Logger(namespace="callcenter.web")

MAX_JSON_BODY = 1024 * 1024
# No document of this API nests deeper than a few levels; past this a body is refused with a
# 400 (Python's parser would otherwise hit the recursion limit near 1,000 and answer 500).
MAX_JSON_DEPTH = 64


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` (parsed JSON) has lists/objects nested more than ``limit`` deep; iterative."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class ApiError(Exception):
    """An error the client caused or must know about; becomes an HTTP status with a JSON body."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict:
        """The JSON body sent to the client."""
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        return {"error": err}


@dataclass(frozen=True)
class JsonResponse:
    """A JSON body with an explicit status and extra headers."""

    body: object
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileResponse:
    """Bytes to download (an email attachment, a raw message), never shown in the site's origin.

    Sent with ``Content-Disposition: attachment`` naming ``filename`` the RFC 6266 way (an
    ASCII ``filename`` and a UTF-8 ``filename*``), ``X-Content-Type-Options: nosniff``, a
    sandboxing ``Content-Security-Policy`` and ``content_type`` as given.
    """

    content: bytes
    filename: str
    content_type: str = "application/octet-stream"


def content_disposition(filename: str) -> str:
    """``attachment; filename="..."; filename*=UTF-8''...`` for any ``filename`` (RFC 6266, 5987).

    Path separators, quotes, control characters and non-ASCII are replaced by ``_`` in the
    ASCII fallback; ``filename*`` carries the name percent-encoded as UTF-8.
    """
    name = "".join(c for c in filename if c >= " " and c != "\x7f").replace("/", "_").replace("\\", "_").strip()
    name = name.lstrip(".") or "download"
    fallback = "".join(c if " " <= c < "\x7f" and c not in '"%;' else "_" for c in name)[:150]
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name[:200], safe='')}"


@dataclass
class ApiRequest:
    """What a handler sees: method, path parameters, query, headers and the body."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    raw: Request
    body: bytes

    def header(self, name: str) -> str | None:
        """A request header's value, or None."""
        value = self.raw.getHeader(name)
        return value.decode("latin-1") if isinstance(value, bytes) else value

    def path_id(self, what: str, name: str = "id") -> int:
        """The numeric id in path parameter ``name``; a JSON 404 naming ``what`` if it cannot be one."""
        raw = self.params[name]
        if not raw.isdigit() or len(raw) > 18:
            raise ApiError(404, "not_found", f"{what} {raw!r} not found")
        return int(raw)

    def query_one(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter, or ``default``."""
        values = self.query.get(name)
        return values[0] if values else default

    def query_int(self, name: str, default: int, minimum: int, maximum: int) -> int:
        """An integer query parameter within [minimum, maximum]; ApiError 400 naming it otherwise."""
        text = self.query_one(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise ApiError(400, "invalid_parameter", f"{name} must be an integer", field=name) from None
        if not minimum <= value <= maximum:
            raise ApiError(400, "invalid_parameter", f"{name} must be between {minimum} and {maximum}", field=name)
        return value

    def json(self) -> Any:
        """The body parsed as JSON; ApiError 415 for another content type, 400 for malformed JSON
        or JSON nested deeper than :data:`MAX_JSON_DEPTH`."""
        ctype = (self.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ApiError(415, "unsupported_media_type", "the body must be application/json")
        too_deep = ApiError(400, "malformed_json", f"the body nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            value = json.loads(self.body.decode("utf-8"))
        except RecursionError:
            raise too_deep from None
        except (UnicodeDecodeError, ValueError) as e:
            raise ApiError(400, "malformed_json", f"the body is not valid JSON: {e}") from None
        if json_depth_exceeds(value, MAX_JSON_DEPTH):
            raise too_deep
        return value

    def json_object(self) -> dict:
        """The body as a JSON object; ApiError 400 if it is another JSON type."""
        value = self.json()
        if not isinstance(value, dict):
            raise ApiError(400, "malformed_json", "the body must be a JSON object")
        return value


Handler = Callable[[ApiRequest], Awaitable[object]]
ErrorTranslator = Callable[[Exception], "ApiError | None"]

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    regex: re.Pattern
    handler: Handler


class JsonApi(Resource):
    """A leaf resource dispatching ``METHOD /path/{param}`` to async handlers."""

    isLeaf = True

    def __init__(self, translate_error: ErrorTranslator | None = None, max_body: int = MAX_JSON_BODY) -> None:
        super().__init__()
        self._routes: list[_Route] = []
        self._translate_error = translate_error or (lambda e: None)
        self._max_body = max_body

    def add(self, method: str, template: str, handler: Handler) -> None:
        """Route ``method template`` (e.g. ``GET /api/customers/{id}``) to ``handler``."""
        pattern = "^" + _PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")) + "$"
        self._routes.append(_Route(method.upper(), template, re.compile(pattern), handler))

    def routes(self) -> list[tuple[str, str]]:
        """Every (method, template) served, for documentation checks."""
        return [(r.method, r.template) for r in self._routes]

    def render(self, request: Request) -> object:
        path = request.path.decode("utf-8", "replace")
        method = request.method.decode("ascii", "replace").upper()
        matched = [(r, m) for r in self._routes if (m := r.regex.match(path))]
        if not matched:
            return self._finish(request, ApiError(404, "not_found", f"no such endpoint: {path}").body(), 404)
        for route, m in matched:
            if route.method == method:
                break
        else:
            allowed = sorted({r.method for r, _ in matched})
            request.setHeader(b"allow", ", ".join(allowed).encode())
            return self._finish(request, ApiError(405, "method_not_allowed", f"{method} is not allowed here").body(), 405)
        body = request.content.read(self._max_body + 1) if request.content is not None else b""
        if len(body) > self._max_body:
            return self._finish(request, ApiError(413, "body_too_large", f"the body exceeds {self._max_body} bytes").body(), 413)
        # request.args would mix in a urlencoded body: only the query string is the query.
        query_string = request.uri.partition(b"?")[2].decode("utf-8", "replace")
        query = parse_qs(query_string, keep_blank_values=True)
        api_request = ApiRequest(method, path, m.groupdict(), query, request, body)
        d = Deferred.fromCoroutine(self._call(route.handler, api_request))
        finished = []
        request.notifyFinish().addBoth(finished.append)
        d.addCallback(lambda result: finished or self._send(request, result))
        d.addErrback(lambda f: log.failure("failed writing the response to {path}", f, path=redact_uri(path)))
        return NOT_DONE_YET

    async def _call(self, handler: Handler, req: ApiRequest) -> JsonResponse:
        try:
            result = await handler(req)
        except ApiError as e:
            return JsonResponse(e.body(), e.status)
        except Exception as e:  # noqa: BLE001 - the boundary where every error becomes a response
            translated = self._translate_error(e)
            if translated is not None:
                return JsonResponse(translated.body(), translated.status)
            log.failure("unhandled error in {method} {path}", method=req.method, path=redact_uri(req.path))
            return JsonResponse(ApiError(500, "internal_error", "internal server error").body(), 500)
        return result if isinstance(result, (JsonResponse, FileResponse)) else JsonResponse(result)

    def _send(self, request: Request, response: JsonResponse | FileResponse) -> None:
        if isinstance(response, FileResponse):
            request.setResponseCode(200)
            for name, value in (("content-type", response.content_type), ("x-content-type-options", "nosniff"),
                                ("content-disposition", content_disposition(response.filename)),
                                ("content-security-policy", "sandbox; default-src 'none'"),
                                ("cache-control", "private, no-store"), ("content-length", str(len(response.content)))):
                request.setHeader(name.encode("latin-1"), value.encode("latin-1"))
            request.write(response.content)
            request.finish()
            return
        for name, value in response.headers.items():
            request.setHeader(name.encode("latin-1"), value.encode("latin-1"))
        request.write(self._finish(request, response.body, response.status))
        request.finish()

    @staticmethod
    def _finish(request: Request, body: object, status: int) -> bytes:
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
