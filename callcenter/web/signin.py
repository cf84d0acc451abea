"""The sign-in and sign-out pages: ``/login`` and ``/logout``.

``GET /login`` shows the form, in English or Simplified Chinese (``?lang=`` or
Accept-Language); ``POST /login`` takes the form or JSON ``{"login", "password"}``, spends one
attempt of the rate limits, checks the password and opens a session
(:meth:`~callcenter.web.authn.Authenticator.open_session`). The login form itself carries a
pre-login token (double-submit cookie ``cc_login``) so another site cannot log a browser into an
attacker's account; a JSON login needs none, since a cross-site page cannot send
``application/json`` without CORS. ``next`` only ever leads to a path of this site.
``POST /logout`` ends the session. :meth:`Authenticator.resources
<callcenter.web.authn.Authenticator.resources>` mounts both.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from callcenter.web.guards import deny, request_header, send_json, wants_json
from callcenter.web.principal import AuthError, user_principal

if TYPE_CHECKING:
    from callcenter.web.authn import Authenticator

# The namespace of every authentication module's log lines, as before they were split.
log = Logger(namespace="callcenter.web.authn")

LOGIN_COOKIE = b"cc_login"
# The form field of a CSRF token: the login form's pre-login token, every other form's session token.
CSRF_FIELD = b"csrf_token"
# The largest /login body the listener takes (a form or JSON with a login and a password).
LOGIN_MAX_BODY = 64 * 1024
_FORM_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

LABELS = {
    "en": {"title": "Sign in", "login": "Login", "password": "Password", "submit": "Sign in",
           "bad_credentials": "Wrong login or password.", "too_many": "Too many attempts. Try again in {s} s.",
           "expired": "This form expired. Please try again.", "language": "中文", "other_lang": "zh-CN"},
    "zh-CN": {"title": "登录", "login": "用户名", "password": "密码", "submit": "登录",
              "bad_credentials": "用户名或密码错误。", "too_many": "尝试次数过多，请在 {s} 秒后重试。",
              "expired": "表单已过期，请重试。", "language": "English", "other_lang": "en"},
}


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two optional tokens (None never matches)."""
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


def _language(request: Request) -> str:
    """``zh-CN`` or ``en``, from ``?lang=`` then Accept-Language."""
    asked = (request.args.get(b"lang") or [b""])[0].decode("ascii", "replace").lower()
    if not asked:
        asked = (request_header(request, b"accept-language") or "").split(",")[0].strip().lower()
    return "zh-CN" if asked.startswith("zh") else "en"


def _safe_next(value: str | None) -> str | None:
    """A same-site path to go to after login, or None (absolute URLs and ``//host`` are refused)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or len(value) > 2000:
        return None
    return value if value.isprintable() else None


def _field(request: Request, name: bytes) -> str:
    values = request.args.get(name) if request.args else None
    return values[0].decode("utf-8", "replace") if values else ""


class LoginResource(Resource):
    """``GET /login`` shows the form (English or Simplified Chinese); ``POST /login`` logs in.

    POST takes a form (``login``, ``password``, ``csrf_token``, ``next``) and answers 303 to
    ``next`` or the user's home, or JSON ``{"login", "password"}`` and answers
    ``{"login", "role", "agent", "csrf_token"}``. Refusals: 401 wrong credentials (the form is
    shown again), 403 a form without its pre-login token, 429 too many attempts.
    """

    isLeaf = True

    def __init__(self, authn: Authenticator) -> None:
        super().__init__()
        self._authn = authn

    def render_GET(self, request: Request) -> bytes:  # noqa: N802 - twisted API
        return self._page(request, 200, None)

    def _page(self, request: Request, status: int, error: str | None) -> bytes:
        # Keep the browser's pre-login token if it has one, so two login tabs both work.
        token = self._authn.cookie(request, LOGIN_COOKIE) or ""
        if not _FORM_TOKEN.match(token):
            token = self._authn.new_form_token()
        request.addCookie(LOGIN_COOKIE, token.encode("ascii"), path=b"/login", max_age=b"3600", httpOnly=True,
                          secure=self._authn.is_secure(request), sameSite="strict")
        lang = _language(request)
        html = self._authn.env.get_template("auth/login.html").render(
            lang=lang, L=LABELS[lang], csrf=token, error=error,
            next=_safe_next(_field(request, b"next")) or "", login=_field(request, b"login")[:100])
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'")
        return html.encode("utf-8")

    def render_POST(self, request: Request) -> object:  # noqa: N802 - twisted API
        d = Deferred.fromCoroutine(self._post(request))
        d.addErrback(lambda f: (log.failure("login failed", f), send_json(
            request, 500, {"error": {"code": "internal_error", "message": "internal error"}})))
        return NOT_DONE_YET

    async def _post(self, request: Request) -> None:
        as_json = wants_json(request)
        if as_json:
            try:
                body = json.loads(request.content.read(LOGIN_MAX_BODY).decode("utf-8"))
                login, password = body["login"], body["password"]
                if not isinstance(login, str) or not isinstance(password, str):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                return send_json(request, 400, {"error": {"code": "invalid_input",
                                                          "message": "send {\"login\": ..., \"password\": ...}"}})
        else:
            login, password = _field(request, b"login"), _field(request, b"password")
            if not same_token(_field(request, CSRF_FIELD), self._authn.cookie(request, LOGIN_COOKIE)):
                return self._finish_page(request, 403, LABELS[_language(request)]["expired"])
        try:
            self._authn.check_login_rate(request, login)
        except AuthError as e:
            if as_json:
                return send_json(request, 429, {"error": {"code": e.code, "message": e.message}}, e.retry_after)
            request.setHeader(b"retry-after", str(e.retry_after).encode())
            return self._finish_page(request, 429, LABELS[_language(request)]["too_many"].format(s=e.retry_after))
        user = await self._authn.users.verify_password(login, password) if len(login) <= 100 else None
        if user is None:
            log.info("failed login for {login!r} from {ip}", login=login[:100], ip=self._authn.client_address(request))
            if as_json:
                return send_json(request, 401, {"error": {"code": "invalid_credentials",
                                                          "message": "wrong login or password"}})
            return self._finish_page(request, 401, LABELS[_language(request)]["bad_credentials"])
        principal = user_principal(user)
        session = await self._authn.open_session(request, principal)
        if as_json:
            return send_json(request, 200, {"login": user.login, "role": user.role, "agent": user.agent,
                                            "csrf_token": session.csrf_token})
        request.setResponseCode(303)
        request.setHeader(b"location", (_safe_next(_field(request, b"next")) or self._authn.home(principal)).encode())
        request.finish()

    def _finish_page(self, request: Request, status: int, error: str) -> None:
        request.write(self._page(request, status, error))
        request.finish()


class LogoutResource(Resource):
    """``POST /logout`` (CSRF-checked) ends the session: 303 to ``/login`` for a form, JSON otherwise."""

    isLeaf = True

    def __init__(self, authn: Authenticator) -> None:
        super().__init__()
        self._authn = authn

    def render_POST(self, request: Request) -> object:  # noqa: N802 - twisted API
        d = Deferred.fromCoroutine(self._post(request))
        d.addErrback(lambda f: log.failure("logout failed", f))
        return NOT_DONE_YET

    async def _post(self, request: Request) -> None:
        try:
            await self._authn.require(request)
        except AuthError as e:
            if e.status == 401 and not wants_json(request):
                # Already signed out (the session expired or ended elsewhere): there is nothing
                # to end, and the sign-out button of a page left open leads to sign-in, not to
                # an error. A wrong CSRF token on a live session is still refused below.
                await self._authn.logout(request)
                request.setResponseCode(303)
                request.setHeader(b"location", b"/login")
                request.finish()
                return None
            return deny(request, e, page=False)
        await self._authn.logout(request)
        if wants_json(request):
            return send_json(request, 200, {"logged_out": True})
        request.setResponseCode(303)
        request.setHeader(b"location", b"/login")
        request.finish()
