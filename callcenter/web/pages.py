"""Server-rendered pages: the Jinja2 environment, static files, the home redirect, the agent
desktop and the supervisor dashboard, and the page header (links and sign-out) they share.

Templates live in ``callcenter/web/templates`` and are rendered with autoescape and
``StrictUndefined`` (a missing value is an error, never an empty string). Static files are
served from ``callcenter/web/static`` with a short cache lifetime.
"""

from __future__ import annotations

import json
from importlib import resources
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, Mapping

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.pages import notFound
from twisted.web.static import File

from callcenter.web.i18n import labels, pick_language

log = Logger(namespace="callcenter.web.pages")

PrincipalOf = Callable[[Request], Awaitable[Any]]


def page_environment() -> Environment:
    """The Jinja2 environment of the web pages (HTML autoescaped, strict undefined)."""
    return Environment(loader=PackageLoader("callcenter.web", "templates"),
                       autoescape=select_autoescape(["html", "xml"]), undefined=StrictUndefined)


def page_config(config: Any) -> str:
    """``config`` as JSON safe inside a ``<script type="application/json">`` element."""
    return json.dumps(config, ensure_ascii=False).replace("</", "<\\/")


def html_page(request: Request, html: str) -> bytes:
    """Set the headers of a dynamic page (never cached, scripts and styles from this site only)."""
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    request.setHeader(b"content-security-policy",
                      b"default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'")
    return html.encode("utf-8")


class StaticFiles(File):
    """A folder of static files where a path segment holding NUL is a 404 (the file system
    refuses such a name with an exception that would otherwise become a 500)."""

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted API
        if b"\x00" in path:
            return notFound()
        return super().getChild(path, request)


def static_resource() -> Resource:
    """``/static/...``: the pages' CSS and JavaScript."""
    path = resources.files("callcenter.web").joinpath("static")
    static = StaticFiles(str(path))
    static.indexNames = []
    return static


def request_language(request: Request) -> str:
    """``en`` or ``zh`` from ``?lang=`` or the Accept-Language header."""
    lang = request.args.get(b"lang", [b""])[0].decode("ascii", "replace") or None
    header = request.getHeader(b"accept-language")
    return pick_language(lang, header.decode("latin-1") if isinstance(header, bytes) else header)


STAFF_ROLES = ("supervisor", "admin")
_UNNAMED_STAFF = SimpleNamespace(login="", role="supervisor", agent=None)


def home_of(principal: Any) -> str:
    """Where ``principal`` starts: an agent at ``/desktop``, a supervisor or admin at
    ``/supervisor``, nobody signed in at ``/login``."""
    if principal is None:
        return "/login"
    if principal.role in STAFF_ROLES:
        return "/supervisor"
    return "/desktop" if principal.agent else "/login"


def page_links(principal: Any, table: Mapping[str, str], current: str) -> list[tuple[str, str, bool]]:
    """The header's links for ``principal``: ``(href, label, is_current)`` for every page the role
    may open (``current`` is the path of the page shown)."""
    links = []
    if principal is not None and principal.agent:
        links.append(("/desktop", table["nav_desktop"]))
    if principal is not None and principal.role in STAFF_ROLES:
        links += [("/supervisor", table["nav_dashboard"]), ("/reports/", table["nav_reports"]),
                  ("/reports/erlang", table["nav_staffing"])]
    if principal is not None and principal.role == "admin":
        links += [("/supervisor#configuration", table["configuration"]), ("/admin/mail", table["nav_mail_review"])]
    return [(href, label, href == current) for href, label in links]


def header_context(principal: Any, table: Mapping[str, str], csrf: str, current: str) -> dict[str, Any]:
    """What ``page_header.html`` needs: the links, who is signed in, and the CSRF token of the
    sign-out form (a POST to ``/logout``)."""
    return {"links": page_links(principal, table, current), "who": principal.login if principal else "",
            "csrf": csrf, "L": table}


class HomePage(Resource):
    """``GET /``: 303 to the signed-in person's page (:func:`home_of`), or to sign in."""

    isLeaf = True

    def __init__(self, principal_for: PrincipalOf) -> None:
        super().__init__()
        self._principal_for = principal_for

    def render_GET(self, request: Request) -> object:  # noqa: N802 - twisted API
        d = Deferred.fromCoroutine(self._render(request))
        d.addErrback(lambda f: (log.failure("home redirect failed", f), _fail(request)))
        return NOT_DONE_YET

    async def _render(self, request: Request) -> None:
        request.setResponseCode(303)
        request.setHeader(b"location", home_of(await self._principal_for(request)).encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        request.finish()


def reply_templates(settings: Any) -> list[str]:
    """Names of the email templates an agent may answer with (the configured reply template and
    every other email template except the automatic ones)."""
    automatic = {m.auto_ack_template for m in settings.email.mailboxes.values()}
    automatic |= {q.closed.email_template for q in settings.queues.values()}
    automatic |= {f.confirmation_template for f in settings.webform.forms.values()}
    automatic |= {q.closed.webform_template for q in settings.queues.values()}
    chosen = sorted(n for n in settings.templates.names if n not in automatic)
    reply = settings.email.reply_template
    if reply and reply not in chosen:
        chosen.insert(0, reply)
    return chosen


class DesktopPage(Resource):
    """``GET /desktop``: the agent desktop for the logged-in agent; a signed-in supervisor or admin
    without an agent goes to the dashboard, anybody else to ``/login``.

    ``principal_for(request)`` returns the authenticated principal or None; ``csrf_for``
    returns the session's CSRF token for the page's requests; ``settings()`` the settings
    in force (they change on reload).
    """

    isLeaf = True

    def __init__(self, env: Environment, settings: Callable[[], Any], principal_for: PrincipalOf,
                 csrf_for: Callable[[Request], str], crm_url: str | None = None) -> None:
        super().__init__()
        self._env = env
        self._settings = settings
        self._principal_for = principal_for
        self._csrf_for = csrf_for
        self._crm_url = crm_url

    def render_GET(self, request: Request) -> object:  # noqa: N802 - twisted API
        d = Deferred.fromCoroutine(self._render(request))
        d.addErrback(lambda f: (log.failure("desktop page failed", f), _fail(request)))
        return NOT_DONE_YET

    async def _render(self, request: Request) -> None:
        principal = await self._principal_for(request)
        if principal is None or not getattr(principal, "agent", None):
            staff = principal is not None and principal.role in STAFF_ROLES
            request.setResponseCode(303)
            request.setHeader(b"location", b"/supervisor" if staff else b"/login?next=/desktop")
            request.finish()
            return
        settings = self._settings()
        lang = request_language(request)
        table = labels(lang)
        agent = settings.agents.get(principal.agent)
        config = {
            "labels": dict(table),
            "queues": [[name, q.label] for name, q in sorted(settings.queues.items())],
            "dispositions": [[code, item.label] for code, item in settings.dispositions.items()],
            "reply_templates": [[name, name] for name in reply_templates(settings)],
            "can_reply": bool(getattr(settings.email, "relay", None)),
            "crm_url": self._crm_url,
        }
        html = self._env.get_template("desktop/desktop.html").render(
            lang=lang, L=table, csrf=self._csrf_for(request), agent=principal.agent,
            header=header_context(principal, table, self._csrf_for(request), "/desktop"),
            agent_name=agent.name if agent else principal.agent, crm_url=self._crm_url or "",
            reason_codes=[(c, r) for c, r in settings.reason_codes.items() if c != settings.policy.no_answer_reason],
            config_json=page_config(config))
        request.write(html_page(request, html))
        request.finish()


def _fail(request: Request) -> None:
    if not request.finished and not request.startedWriting:
        request.setResponseCode(500)
        request.write(b"internal error")
        request.finish()


class DashboardPage(Resource):
    """``GET /supervisor``: the live supervisor dashboard (the guard in front checks the role).

    ``principal_of(request)`` gives the principal the guard checked (for the page header); an
    admin also gets the configuration panel (check and reload ``config/``).
    """

    isLeaf = True

    def __init__(self, env: Environment, settings: Callable[[], Any], csrf_for: Callable[[Request], str],
                 principal_of: Callable[[Request], Any] = lambda request: None) -> None:
        super().__init__()
        self._env = env
        self._settings = settings
        self._csrf_for = csrf_for
        self._principal_of = principal_of

    def render_GET(self, request: Request) -> bytes:  # noqa: N802 - twisted API
        settings = self._settings()
        lang = request_language(request)
        table = labels(lang)
        config = {
            "labels": dict(table),
            "queues": [[name, q.label] for name, q in sorted(settings.queues.items())],
            "reasons": [[code, r.label] for code, r in settings.reason_codes.items()],
        }
        # Without a principal (no ``principal_of`` given) the guard still proved it is staff.
        principal = self._principal_of(request) or _UNNAMED_STAFF
        header = header_context(principal, table, self._csrf_for(request), "/supervisor")
        html = self._env.get_template("supervisor/dashboard.html").render(
            lang=lang, L=table, csrf=self._csrf_for(request), header=header, admin=principal.role == "admin",
            config_json=page_config(config))
        return html_page(request, html)


class MetricsResource(Resource):
    """``GET /metrics``: Prometheus text exposition of ``registry``."""

    isLeaf = True

    def __init__(self, registry: Any) -> None:
        super().__init__()
        self._registry = registry

    def render_GET(self, request: Request) -> bytes:  # noqa: N802 - twisted API
        request.setHeader(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")
        return self._registry.render().encode("utf-8")
