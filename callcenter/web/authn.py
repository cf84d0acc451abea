"""Who is asking: sessions, CSRF, API tokens, login rates and role checks (:class:`Authenticator`).

Two ways in:

- **Browsers** log in at ``/login`` (an HTML form, or JSON ``{"login", "password"}``) and get
  the ``cc_session`` cookie: HttpOnly, ``SameSite=Strict``, ``Path=/``, and ``Secure`` when
  the request came over TLS (directly, or through a configured trusted proxy that says
  ``X-Forwarded-Proto: https``). Every state-changing request (anything but GET, HEAD,
  OPTIONS) of a session must carry the session's CSRF token in ``X-CSRF-Token`` or the
  ``csrf_token`` form field, else 403. Sessions end after their idle or absolute lifetime
  (:class:`~callcenter.auth.sessions.SessionStore`), at logout, or when the user is disabled
  or their password changes; they are kept in the record (:mod:`callcenter.records.sessions`),
  so a restart of the server keeps everyone signed in, and a session the record no longer
  holds (``callcenter user disable`` or ``passwd`` run in another process) is refused.
  The ``/login`` and ``/logout`` pages are :mod:`callcenter.web.signin`.
- **Integrations** send ``Authorization: Bearer <token>`` (:meth:`UserStore.create_token`);
  no cookie, no CSRF. A presented but invalid token is a 401, never a fall-back to cookies.

Login attempts are rate-limited per client address and per login (429 with ``Retry-After``);
every attempt counts, so parallel guesses are capped too. Refusals: 401 JSON for API
requests (with ``WWW-Authenticate: Bearer``), a 303 to ``/login?next=...`` for pages, 403 for
a role that may not, 403 ``csrf_failed`` for a missing or wrong CSRF token
(:mod:`callcenter.web.guards` answers them; :mod:`callcenter.web.principal` has the
:class:`~callcenter.web.principal.Principal` and :class:`~callcenter.web.principal.AuthError`).

What the integrator uses: :meth:`Authenticator.principal_for` (async, the request's
:class:`~callcenter.web.principal.Principal` or None), :meth:`Authenticator.csrf_for`,
:meth:`Authenticator.guard` for resources, :meth:`Authenticator.api_principal` /
:meth:`Authenticator.api_guard` for :class:`~callcenter.web.jsonapi.JsonApi` handlers, and
:meth:`Authenticator.resources` for ``/login`` and ``/logout``.

Long-lived responses (the ``/push`` streams) outlive the request that authenticated them, so
they are checked again: :meth:`Authenticator.credential_of` names what signed a request in,
:meth:`Authenticator.ended` says which of those no longer hold (logout, disable, password
change, token revoked, session past its absolute lifetime, in this process or another) and
:meth:`Authenticator.on_sign_out` tells a listener at once when a session ends here.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Request

from callcenter.auth.ratelimit import Rate, RateLimiter
from callcenter.auth.sessions import ROLES, Session, SessionStore, csrf_ok, token_key
from callcenter.runtime.clock import Clock
from callcenter.records.errors import NotFound
from callcenter.records.users import SignIn, token_hash
from callcenter.web.guards import GuardedResource, request_header
from callcenter.web.jsonapi import ApiRequest
from callcenter.web.principal import AuthError, Principal, user_principal
from callcenter.web.signin import CSRF_FIELD, LoginResource, LogoutResource

log = Logger(namespace="callcenter.web.authn")

SESSION_COOKIE = b"cc_session"
CSRF_HEADER = b"x-csrf-token"
SAFE_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS"})
# A session's last use is written to the record at most this often (seconds): enough for the
# 8 h idle timeout to hold across a restart without a write per request.
TOUCH_EVERY = 300.0
DEFAULT_PER_IP = Rate(burst=20, per_second=1 / 6)
DEFAULT_PER_LOGIN = Rate(burst=5, per_second=1 / 30)
_ATTR = "_callcenter_principal"
MAX_LOGIN_KEY = 100
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class StreamCredential:
    """What signed a request in (``sign_in``) and when its session's absolute lifetime ends
    (epoch seconds; None for an API token)."""

    sign_in: SignIn
    ends_at: float | None

    @property
    def key(self) -> str:
        """The session key or token hash, as :meth:`Authenticator.on_sign_out` listeners get it."""
        return self.sign_in.key


class Authenticator:
    """Sessions and tokens for one site. See the module docstring for the rules it enforces.

    ``users`` is a :class:`~callcenter.records.users.UserStore`; ``clock`` gives the time for
    sessions and rate limits; ``sessions`` defaults to a store with 8 h idle / 24 h absolute
    lifetimes; ``per_ip``/``per_login`` are the login rates (per client address as the
    listener reports it, see ``server.trusted_proxies``); ``home(principal)``
    where a form login goes without ``next``; ``env`` the Jinja2 environment for the login page.
    ``records`` (a :class:`~callcenter.records.sessions.SessionRecords`) keeps the sessions in
    the record so they survive a restart; cookie logins wait until :meth:`restore_sessions` ran.
    """

    def __init__(self, users: Any, clock: Clock, sessions: SessionStore | None = None,
                 per_ip: Rate = DEFAULT_PER_IP, per_login: Rate = DEFAULT_PER_LOGIN,
                 home: Callable[[Principal], str] | None = None,
                 env: Environment | None = None, token_source: Callable[[int], str] = secrets.token_urlsafe,
                 records: Any = None) -> None:
        self.users = users
        self.clock = clock
        self.sessions = sessions or SessionStore()
        self.per_ip = RateLimiter(per_ip)
        self.per_login = RateLimiter(per_login)
        self.home = home or (lambda p: "/desktop" if p.agent else "/")
        self.env = env or Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                                      undefined=StrictUndefined)
        self._token = token_source
        self._records = records
        self._saved_seen: dict[str, float] = {}
        self._restoring: list[Deferred] | None = [] if records is not None else None
        self._sign_out_listeners: list[Callable[[str], object]] = []

    # --- sessions in the record ---

    async def restore_sessions(self) -> int:
        """Put the record's unexpired sessions back (at start, before cookies are checked);
        returns how many. A read error propagates, after letting cookie checks go on."""
        try:
            now = self.clock.now()
            restored = 0
            for key, session in await self._records.live():
                if not self.sessions.expired(session, now):
                    self.sessions.restore(key, session)
                    self._saved_seen[key] = session.last_seen
                    restored += 1
            return restored
        finally:
            waiting, self._restoring = self._restoring or [], None
            for d in waiting:
                d.callback(None)

    def _in_record(self, what: str, work: Awaitable[Any]) -> Deferred:
        # Session writes happen beside the request: a failed one is logged, the request goes on.
        # The Deferred (which never fails) lets a caller wait for the write, as logout does.
        return ensureDeferred(work).addErrback(lambda f: log.failure("session record: {what} failed", f, what=what))

    def _end_session(self, token: str) -> Deferred | None:
        self.sessions.revoke(token)
        ended = None
        if self._records is not None:
            self._saved_seen.pop(token_key(token), None)
            ended = self._in_record("end", self._records.end([token_key(token)]))
        for listener in list(self._sign_out_listeners):
            try:
                listener(token_key(token))
            except Exception:
                log.failure("sign-out listener failed")
        return ended

    def on_sign_out(self, listener: Callable[[str], object]) -> None:
        """Call ``listener(session key)`` whenever a session ends in this process (logout, a new
        login from the same browser, a disabled user's or an ended session's next request)."""
        self._sign_out_listeners.append(listener)

    def credential_of(self, request: Request) -> StreamCredential | None:
        """What signed ``request`` in, once :meth:`principal_for` accepted it; None otherwise."""
        cached = getattr(request, _ATTR, None)
        if not cached or cached[0] is None:
            return None
        principal, session = cached
        if session is not None:
            key = token_key(self.cookie(request, SESSION_COOKIE) or "")
            return StreamCredential(SignIn(principal.user_id, "session", key), session.created_at + self.sessions.max_age)
        secret = (request_header(request, b"authorization") or "").partition(" ")[2].strip()
        return StreamCredential(SignIn(principal.user_id, "token", token_hash(secret)), None)

    async def ended(self, credentials: Iterable[StreamCredential]) -> set[StreamCredential]:
        """Those of ``credentials`` that no longer sign anyone in: user gone or disabled, token
        revoked, session ended in the record (or, without a record, in memory) or past its
        absolute lifetime. One read of the record for all of them."""
        wanted = set(credentials)
        now = self.clock.now()
        expired = {c for c in wanted if c.ends_at is not None and now >= c.ends_at}
        held = await self.users.still_signed_in([c.sign_in for c in wanted - expired],
                                                sessions_in_record=self._records is not None)
        return {c for c in wanted if c.sign_in not in held} | expired

    def _seen(self, session: Session) -> None:
        key = token_key(session.token)
        if self._records is not None and session.last_seen - self._saved_seen.get(key, 0.0) >= TOUCH_EVERY:
            self._saved_seen[key] = session.last_seen
            self._in_record("touch", self._records.touch(key, session.last_seen))

    # --- who is asking ---

    async def principal_for(self, request: Request) -> Principal | None:
        """The request's principal (bearer token first, else the session cookie), or None.

        Cached on the request. A disabled or deleted user's session is ended here. Raises
        nothing for bad credentials: they simply give None.
        """
        if hasattr(request, _ATTR):
            return getattr(request, _ATTR)[0]
        principal, session = await self._authenticate(request)
        setattr(request, _ATTR, (principal, session))
        return principal

    async def _authenticate(self, request: Request) -> tuple[Principal | None, Session | None]:
        authorization = request_header(request, b"authorization")
        if authorization is not None:
            scheme, _, secret = authorization.partition(" ")
            if scheme.lower() != "bearer":
                return None, None
            user = await self.users.authenticate_token(secret.strip())
            return (user_principal(user) if user is not None else None), None
        if self._restoring is not None:
            d: Deferred = Deferred()
            self._restoring.append(d)
            await d
        cookie = self.cookie(request, SESSION_COOKIE)
        session = self.sessions.get(cookie, self.clock.now())
        if session is None or cookie is None:
            return None, None
        self._seen(session)
        try:
            user = await self.users.get_by_id(int(session.user_id))
        except NotFound:
            user = None
        # The record is asked too: another process (the ``callcenter user`` command) ends a
        # user's sessions there when it disables them or changes their password.
        if user is None or user.disabled or (self._records is not None and not await self.users.still_signed_in(
                [SignIn(user.id, "session", token_key(cookie))])):
            self._end_session(cookie)
            return None, None
        return user_principal(user), session

    def checked_principal(self, request: Request) -> Principal | None:
        """The principal already authenticated for this request (inside a guard), without waiting; else None."""
        cached = getattr(request, _ATTR, None)
        return cached[0] if cached else None

    def csrf_for(self, request: Request) -> str:
        """The CSRF token of the request's live session ('' when none); for pages to embed."""
        cached = getattr(request, _ATTR, None)
        session = cached[1] if cached else self.sessions.get(self.cookie(request, SESSION_COOKIE), self.clock.now())
        return session.csrf_token if session is not None else ""

    async def require(self, request: Request, roles: Iterable[str] | None = None) -> Principal:
        """The principal, checked: AuthError 401 if none, 403 for another role or a failed CSRF check."""
        principal = await self.principal_for(request)
        if principal is None:
            raise AuthError(401, "unauthenticated", "log in or present an API token")
        session = getattr(request, _ATTR)[1]
        if session is not None and request.method not in SAFE_METHODS:
            presented = request_header(request, CSRF_HEADER)
            if presented is None:
                values = request.args.get(CSRF_FIELD) if request.args else None
                presented = values[0].decode("latin-1") if values else None
            if not csrf_ok(session, presented):
                raise AuthError(403, "csrf_failed", "missing or wrong CSRF token")
        if roles is not None and principal.role not in set(roles):
            raise AuthError(403, "forbidden", f"a {principal.role} may not do this")
        return principal

    async def api_principal(self, req: ApiRequest, roles: Iterable[str] | None = None) -> Principal:
        """:meth:`require` for a JsonApi handler: refusals become :class:`ApiError`."""
        try:
            return await self.require(req.raw, roles)
        except AuthError as e:
            raise e.api_error() from None

    def api_guard(self, roles: Iterable[str] | None = None) -> Callable[[ApiRequest], Awaitable[Principal]]:
        """An ``async (ApiRequest) -> Principal`` limited to ``roles`` (None: any logged-in user)."""
        allowed = tuple(roles) if roles is not None else None
        _check_roles(allowed)

        async def principal(req: ApiRequest) -> Principal:
            return await self.api_principal(req, allowed)
        return principal

    def guard(self, resource: Resource, roles: Iterable[str] | None = None, page: bool = False) -> Resource:
        """``resource`` (and its children) served only to ``roles``; ``page`` picks redirects over 401 JSON.

        Inside, ``await authenticator.principal_for(request)`` returns the checked principal at once.
        """
        allowed = tuple(roles) if roles is not None else None
        _check_roles(allowed)
        return GuardedResource(self, resource, allowed, page)

    # --- transport facts ---

    @staticmethod
    def client_address(request: Request) -> str:
        """The client's IP. Behind a trusted proxy the listener's request already names the
        customer, not the proxy (:class:`~callcenter.web.listener.BoundedRequest`)."""
        return getattr(request.getClientAddress(), "host", "") or ""

    @staticmethod
    def is_secure(request: Request) -> bool:
        """True over TLS, or (through the listener's request) when a trusted proxy says https."""
        return bool(request.isSecure())

    @staticmethod
    def cookie(request: Request, name: bytes) -> str | None:
        value = request.getCookie(name)
        return value.decode("ascii", "replace") if value else None

    # --- login and logout ---

    async def open_session(self, request: Request, principal: Principal) -> Session:
        """Start a session for ``principal`` and set its cookie on the response (ends the request's
        old one). With ``records``, the session is in the record before this returns."""
        old = self.cookie(request, SESSION_COOKIE)
        if old:
            self._end_session(old)  # a fresh token at each login: no session fixation
        now = self.clock.now()
        self.sessions.purge(now)  # logins are rare: a good moment to forget expired sessions
        session = self.sessions.create(str(principal.user_id), principal.role, now)
        if self._records is not None:
            self._in_record("expiry", self._records.end_expired(now - self.sessions.idle_timeout,
                                                                now - self.sessions.max_age))
            self._saved_seen[token_key(session.token)] = now
            await self._records.save(token_key(session.token), session)
        request.addCookie(SESSION_COOKIE, session.token.encode("ascii"), path=b"/", httpOnly=True,
                          secure=self.is_secure(request), sameSite="strict")
        setattr(request, _ATTR, (principal, session))
        return session

    def check_login_rate(self, request: Request, login: str) -> None:
        """Spend one attempt for the client and for ``login``; AuthError 429 with the wait when none is left."""
        now = self.clock.now()
        ip, key = self.client_address(request), login.strip().lower()[:MAX_LOGIN_KEY]
        wait = max(self.per_ip.retry_after(ip, now), self.per_login.retry_after(key, now))
        if wait > 0:
            raise AuthError(429, "rate_limited", "too many login attempts", retry_after=max(1, math.ceil(wait)))
        self.per_ip.allow(ip, now)
        self.per_login.allow(key, now)

    async def logout(self, request: Request) -> None:
        """End the request's session (if any), in the record too before this returns (a restart
        right after a logout does not bring the session back), and clear its cookie."""
        token = self.cookie(request, SESSION_COOKIE)
        ended = self._end_session(token) if token else None
        request.addCookie(SESSION_COOKIE, b"", path=b"/", max_age=b"0", httpOnly=True,
                          secure=self.is_secure(request), sameSite="strict")
        if ended is not None:
            await ended

    def resources(self) -> dict[bytes, Resource]:
        """The children to mount at the root: ``login`` and ``logout``."""
        return {b"login": LoginResource(self), b"logout": LogoutResource(self)}

    def new_form_token(self) -> str:
        """A random pre-login token for the login form's double-submit cookie."""
        return self._token(24)


def _check_roles(roles: tuple[str, ...] | None) -> None:
    if roles is not None and (not roles or any(r not in ROLES for r in roles)):
        raise ValueError(f"roles must be a non-empty subset of {ROLES}")
