"""The forms' HTTP face: a Twisted resource the server mounts at ``/forms``.

Routes (``<name>`` is a configured form):

``GET  /forms/<name>``            the hosted form (``?lang=``, ``?embed=1`` for the iframe)
``POST /forms/<name>``            a submission: URL-encoded, multipart or JSON
``OPTIONS /forms/<name>``         CORS preflight (configured origins only)
``GET  /forms/<name>/thanks``     the thank-you page, ``?ref=`` a signed reference
``GET  /forms/<name>/token``      ``{"token": ...}`` for a script that posts JSON
``GET  /forms/<name>/embed.js``   the script that embeds the form in another site

A submission passes, in this order: origin (403), rate limits (429 with ``Retry-After``),
body size (413), body syntax (400, or 415 for another media type), honeypot (a filled one
gets a decoy success and nothing is stored), the signed timestamp token, then field
validation (422 for either: the form again with messages, or ``{"errors": [...]}`` for
JSON). A valid submission goes to the sink; on success an HTML post is redirected (303) to
the thank-you page and JSON gets 201 ``{"reference", "thanks_url"}``; if the sink fails the
client gets 503 and nothing was stored. JSON answers go to JSON bodies and to clients whose
``Accept`` names ``application/json`` without ``text/html``.

Twisted reads a request body before any resource sees it (spooling large ones to a temporary
file), so the body cap here refuses oversized submissions but does not stop the upload; a
front proxy's cap (``client_max_body_size``) is what bounds the traffic itself.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import quote

import jinja2
from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from callcenter.runtime.clock import Clock
from callcenter.settings.model import FormSettings
from channels.webform.bodies import BodyError, RawForm, is_json, parse_body
from channels.webform.fields import CleanForm, FieldError, validate_form
from channels.webform.guard import SubmissionLimits, cors_headers, origin_allowed
from channels.webform.messages import localized, message, negotiate
from channels.webform.pages import FormPages
from channels.webform.submission import (
    Attachment, FormSink, FormSubmission, SubmissionRejected, random_reference,
)
from channels.webform.tokens import FormSigner

log = Logger(namespace="channels.webform")

HONEYPOT = "homepage"
RESERVED = ("_token", "_lang", HONEYPOT)
HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"


class _Reply(Exception):
    """Ends a request early with a status and a message code (or a prepared body)."""

    def __init__(self, status: int, code: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.headers = dict(headers or {})


class FormsResource(Resource):
    """Serves every configured form (see the module docstring).

    ``forms`` are the validated form settings; ``sink`` stores a valid submission;
    ``clock`` gives the time for tokens and rate limits; ``secret`` (16+ bytes) signs
    tokens and references; ``languages`` are the configured languages, the first the
    fallback; ``default_region`` reads phone numbers without a country code; ``templates``
    (a :class:`~callcenter.settings.templates.TemplateSet`, optional) renders the HTML
    confirmation on the thank-you page; ``decoy_reference`` makes the reference shown to a
    bot that filled the honeypot (shaped like the sink's real ones).
    """

    isLeaf = True

    def __init__(self, *, forms: Mapping[str, FormSettings], sink: FormSink, clock: Clock, secret: bytes,
                 languages: Sequence[str], default_region: str, templates: Any = None,
                 decoy_reference: Callable[[], str] = random_reference) -> None:
        super().__init__()
        if not languages:
            raise ValueError("at least one language is needed")
        self._forms = dict(forms)
        self._sink = sink
        self._clock = clock
        self._signer = FormSigner(secret)
        self._languages = tuple(languages)
        self._region = default_region
        self._templates = templates
        self._decoy = decoy_reference
        self._limits = SubmissionLimits(self._forms)
        self.pages = FormPages(self._languages[0])

    def reconfigure(self, forms: Mapping[str, FormSettings], templates: Any = None) -> None:
        """Serve ``forms`` (and ``templates``) from the next request on, as after a reload.

        Rate-limit buckets start full again; tokens already handed out stay valid for forms
        that keep their name.
        """
        self._forms, self._templates = dict(forms), templates
        self._limits = SubmissionLimits(self._forms)

    # --- dispatch ---

    def render(self, request: Request):  # noqa: D102 - twisted API
        ensureDeferred(self._handle(request)).addErrback(self._crashed, request)
        return NOT_DONE_YET

    async def _handle(self, request: Request) -> None:
        finished: list[bool] = []
        request.notifyFinish().addBoth(finished.append)
        parts = [p.decode("utf-8", "replace") for p in request.postpath]
        method = request.method.decode("ascii", "replace")
        form = self._forms.get(parts[0]) if parts else None
        sub = "/".join(parts[1:]) if len(parts) > 1 else ""
        lang = self._language(request)
        try:
            if form is None or sub not in ("", "thanks", "token", "embed.js"):
                raise _Reply(404, "not_found")
            if method == "OPTIONS" and sub in ("", "token"):
                self._preflight(request, form)
            elif method in ("GET", "HEAD") and sub == "":
                self._show(request, form, lang)
            elif method == "POST" and sub == "":
                await self._submit(request, form, lang, finished)
            elif method in ("GET", "HEAD") and sub == "thanks":
                self._thanks(request, form, lang)
            elif method in ("GET", "HEAD") and sub == "token":
                self._token(request, form)
            elif method in ("GET", "HEAD") and sub == "embed.js":
                self._send(request, 200, self.pages.embed_script(form, self._base(request) + "/" + form.name),
                           "application/javascript; charset=utf-8", {"Cache-Control": "max-age=300"})
            else:
                raise _Reply(405, "bad_request", {"Allow": "GET, POST, OPTIONS" if sub == "" else "GET"})
        except _Reply as reply:
            if not finished:
                self._refuse(request, form, lang, reply)

    def _crashed(self, failure, request: Request) -> None:
        log.failure("form request failed", failure)
        if not request.finished and not request._disconnected:
            self._send(request, 500, json.dumps({"error": {"code": "internal"}}), JSON)

    # --- helpers ---

    def _base(self, request: Request) -> str:
        return "/" + "/".join(p.decode("utf-8", "replace") for p in request.prepath)

    def _language(self, request: Request, posted: str | None = None) -> str:
        query = request.args.get(b"lang", [b""])[0].decode("utf-8", "replace")
        return negotiate(query or posted, _header(request, "accept-language"), self._languages)

    def _wants_json(self, request: Request) -> bool:
        accept = _header(request, "accept") or ""
        return is_json(_header(request, "content-type")) or (
            "application/json" in accept and "text/html" not in accept)

    def _send(self, request: Request, status: int, body: str, content_type: str,
              headers: Mapping[str, str] | None = None) -> None:
        request.setResponseCode(status)
        request.setHeader("Content-Type", content_type)
        request.setHeader("X-Content-Type-Options", "nosniff")
        request.setHeader("Referrer-Policy", "same-origin")
        for name, value in (headers or {}).items():
            request.setHeader(name, value)
        data = body.encode("utf-8")
        request.setHeader("Content-Length", str(len(data)))
        if request.method != b"HEAD":
            request.write(data)
        request.finish()

    def _html(self, request: Request, form: FormSettings | None, status: int, page: str,
              headers: Mapping[str, str] | None = None) -> None:
        origins = " ".join(form.allowed_origins) if form is not None else ""
        self._send(request, status, page, HTML, {
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                       f"base-uri 'none'; frame-ancestors 'self' {origins}".rstrip(),
            "Cache-Control": "no-store", "Vary": "Accept-Language", **(headers or {})})

    def _refuse(self, request: Request, form: FormSettings | None, lang: str, reply: _Reply) -> None:
        headers = {**(cors_headers(form, _header(request, "origin")) if form else {}), **reply.headers}
        if self._wants_json(request):
            body = {"error": {"code": reply.code, "message": message(reply.code, lang)}}
            self._send(request, reply.status, json.dumps(body, ensure_ascii=False), JSON, headers)
        else:
            self._html(request, form, reply.status, self.pages.notice(lang, reply.code), headers)

    # --- routes ---

    def _show(self, request: Request, form: FormSettings, lang: str) -> None:
        token = self._signer.issue(form.name, self._clock.now())
        page = self.pages.form(form, lang, self._base(request) + "/" + form.name, token)
        self._html(request, form, 200, page)

    def _preflight(self, request: Request, form: FormSettings) -> None:
        origin = _header(request, "origin")
        if origin is None or origin not in form.allowed_origins:
            raise _Reply(403, "origin_refused")
        self._send(request, 204, "", "text/plain", cors_headers(form, origin, preflight=True))

    def _token(self, request: Request, form: FormSettings) -> None:
        origin = _header(request, "origin")
        if not origin_allowed(form, origin, _header(request, "host")):
            raise _Reply(403, "origin_refused")
        body = {"token": self._signer.issue(form.name, self._clock.now()), "min_fill_time": form.min_fill_time}
        self._send(request, 200, json.dumps(body), JSON, {"Cache-Control": "no-store", **cors_headers(form, origin)})

    def _thanks(self, request: Request, form: FormSettings, lang: str) -> None:
        signed = request.args.get(b"ref", [b""])[0].decode("utf-8", "replace")
        reference = self._signer.open_reference(form.name, signed)
        if reference is None:
            raise _Reply(404, "not_found")
        confirmation = None
        if self._templates is not None and form.confirmation_template:
            context = {"form_title": localized(form.title, lang, self._languages[0]), "reference": reference,
                       "customer_name": ""}
            try:
                confirmation = self._templates.render(form.confirmation_template, lang, context, kind="html")
            except (LookupError, jinja2.TemplateError) as exc:
                log.warn("confirmation page of form {form} not rendered: {error}", form=form.name, error=exc)
        self._html(request, form, 200, self.pages.thanks(form, lang, reference, confirmation))

    async def _submit(self, request: Request, form: FormSettings, lang: str, finished: list) -> None:
        origin = _header(request, "origin")
        cors = cors_headers(form, origin)
        if not origin_allowed(form, origin, _header(request, "host")):
            raise _Reply(403, "origin_refused")
        client_ip = getattr(request.getClientAddress(), "host", "") or "unknown"
        wait = self._limits.admit(form.name, client_ip, self._clock.now())
        if wait > 0:
            raise _Reply(429, "rate_limited", {"Retry-After": str(max(1, math.ceil(wait)))})
        raw = self._read(request, form)
        posted_lang = next((v for v in raw.values.get("_lang", ()) if isinstance(v, str)), None)
        lang = self._language(request, posted_lang)
        as_json = self._wants_json(request)
        if any(v not in ("", None) for v in raw.values.get(HONEYPOT, ())):
            log.info("honeypot filled on form {form} from {ip}; dropped", form=form.name, ip=client_ip)
            self._accepted(request, form, lang, as_json, cors, self._decoy())
            return
        token = next((v for v in raw.values.get("_token", ()) if isinstance(v, str)), None)
        problem = self._signer.check(form.name, token, self._clock.now(), form.min_fill_time, form.max_age)
        result = [FieldError("", problem)] if problem else validate_form(
            form, raw.values, raw.files, self._region, ignore=RESERVED)
        if isinstance(result, list):
            self._invalid(request, form, lang, as_json, cors, raw, result)
            return
        try:
            receipt = await self._sink(self._submission(form, result, client_ip, lang))
        except SubmissionRejected as rejected:
            if not finished:
                self._invalid(request, form, lang, as_json, cors, raw, list(rejected.errors))
            return
        except Exception:
            log.failure("form {form}: the submission could not be stored", form=form.name)
            raise _Reply(503, "unavailable", {"Retry-After": "60", **cors}) from None
        if not finished:
            self._accepted(request, form, lang, as_json, cors, receipt.reference)

    def _read(self, request: Request, form: FormSettings) -> RawForm:
        declared = _header(request, "content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > form.max_body_bytes):
            raise _Reply(413, "too_large")
        request.content.seek(0)
        body = request.content.read(form.max_body_bytes + 1)
        if len(body) > form.max_body_bytes:
            raise _Reply(413, "too_large")
        try:
            return parse_body(_header(request, "content-type"), body)
        except BodyError as error:
            log.info("form {form}: unreadable body ({detail})", form=form.name, detail=error.detail)
            raise _Reply(415 if error.code == "unsupported_type" else 400, error.code) from None

    def _submission(self, form: FormSettings, clean: CleanForm, client_ip: str, lang: str) -> FormSubmission:
        values = clean.values
        return FormSubmission(
            form=form.name, fields=dict(values),
            email=values.get(form.identify_email) if form.identify_email else None,
            phone=values.get(form.identify_phone) if form.identify_phone else None,
            name=values.get(form.identify_name) if form.identify_name else None,
            attributes={a: values[a] for a in form.routing_attributes if a in values},
            attachments=tuple(Attachment(f, u.filename, u.content_type, u.data) for f, u in clean.attachments),
            client_ip=client_ip, language=lang,
            labels={f.name: localized(f.label, self._languages[0], self._languages[0]) for f in form.fields})

    def _invalid(self, request: Request, form: FormSettings, lang: str, as_json: bool, cors: Mapping[str, str],
                 raw: RawForm, errors: list[FieldError]) -> None:
        if as_json:
            body = {"errors": [{"field": e.field, "code": e.code, "message": self.pages.error_text(form, e, lang)}
                               for e in errors]}
            self._send(request, 422, json.dumps(body, ensure_ascii=False), JSON, cors)
            return
        token = self._signer.issue(form.name, self._clock.now())
        page = self.pages.form(form, lang, self._base(request) + "/" + form.name, token, raw.values, errors)
        self._html(request, form, 422, page)

    def _accepted(self, request: Request, form: FormSettings, lang: str, as_json: bool, cors: Mapping[str, str],
                  reference: str) -> None:
        url = (f"{self._base(request)}/{form.name}/thanks?ref="
               f"{quote(self._signer.sign_reference(form.name, reference), safe='')}&lang={lang}")
        if as_json:
            body = json.dumps({"reference": reference, "thanks_url": url})
            self._send(request, 201, body, JSON, {"Location": url, **cors})
        else:
            self._send(request, 303, "", "text/plain", {"Location": url, "Cache-Control": "no-store"})


def _header(request: Request, name: str) -> str | None:
    value = request.getHeader(name)
    return value.decode("latin-1") if isinstance(value, bytes) else value

