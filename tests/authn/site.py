"""A small site behind the authentication layer, served on loopback, for the security tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from twisted.web.resource import Resource

from callcenter.auth.ratelimit import Rate
from callcenter.auth.sessions import SessionStore
from callcenter.runtime.clock import Clock
from callcenter.web.authn import Authenticator
from callcenter.web.jsonapi import ApiRequest, JsonApi
from callcenter.web.push import PushHub, PushResource
from callcenter.web.site import HttpService
from tests.support.http import HttpResult, http_request

IDLE, MAX_AGE = 600.0, 3600.0
PEOPLE = {"alice": "agent", "bob": "agent", "sue": "supervisor", "root": "admin"}


class HelloPage(Resource):
    """A page that greets the logged-in user (stands in for the desktop)."""

    isLeaf = True

    def __init__(self, authn: Authenticator) -> None:
        super().__init__()
        self._authn = authn

    def render_GET(self, request):  # noqa: N802 - twisted API
        principal = self._authn.checked_principal(request)
        return f"hello {principal.login}".encode()


def build_api(authn: Authenticator) -> JsonApi:
    """GET /api/whoami, POST /api/echo for anyone logged in; /api/admin for admins; /api/team via api_guard."""
    api = JsonApi()
    team = authn.api_guard(("supervisor", "admin"))

    async def whoami(req: ApiRequest) -> object:
        p = await authn.principal_for(req.raw)
        return {"login": p.login, "role": p.role, "agent": p.agent}

    async def echo(req: ApiRequest) -> object:
        return {"echo": req.body.decode()}

    async def admin_only(req: ApiRequest) -> object:
        return {"admin": (await authn.api_principal(req, ("admin",))).login}

    async def team_view(req: ApiRequest) -> object:
        return {"team": (await team(req)).login}

    api.add("GET", "/api/whoami", whoami)
    api.add("POST", "/api/echo", echo)
    api.add("POST", "/api/admin", admin_only)
    api.add("GET", "/api/team", team_view)
    return api


@dataclass
class SecureSite:
    """The running site: its authenticator, user store, push hub, fake clock and base URL."""

    authn: Authenticator
    users: Any
    hub: PushHub
    clock: Any
    http: HttpService

    @property
    def base(self) -> str:
        host, port = self.http.address
        return f"http://{host}:{port}"

    async def request(self, method: str, path: str, cookie: str | None = None,
                      headers: Mapping[str, str] | None = None, **kw: Any) -> HttpResult:
        """One request to the site, with the session cookie when given."""
        from twisted.internet import reactor

        hdrs = dict(headers or {})
        if cookie:
            hdrs["cookie"] = cookie
        return await http_request(reactor, method, self.base + path, headers=hdrs, **kw)

    async def login(self, login: str, password: str | None = None) -> tuple[str, str]:
        """JSON login; returns (cookie header value, CSRF token)."""
        r = await self.request("POST", "/login", json_body={"login": login, "password": password or f"pw-{login}-long"})
        assert r.status == 200, r.body
        return session_cookie(r), r.json()["csrf_token"]


def session_cookie(result: HttpResult) -> str:
    """``cc_session=...`` from a response's Set-Cookie."""
    return result.headers["set-cookie"].split(";")[0]


def build_site(run, users, fake_clock, per_ip: Rate = Rate(100, 1.0), per_login: Rate = Rate(100, 1.0),
               trusted_proxies=(), records: Any = None, new_users: bool = True) -> SecureSite:
    """Users alice, bob (agents), sue (supervisor), root (admin) with password ``pw-<login>-long``, on loopback.

    ``records`` keeps the sessions in the record; ``new_users=False`` reuses the users of an earlier site."""
    from twisted.internet import reactor

    for login, role in PEOPLE.items() if new_users else ():
        run(users.create(login, role, password=f"pw-{login}-long"))
    clock = Clock(fake_clock)
    authn = Authenticator(users, clock, sessions=SessionStore(idle_timeout=IDLE, max_age=MAX_AGE),
                          per_ip=per_ip, per_login=per_login, records=records)

    async def snapshot(principal):
        return {"who": principal.login}

    hub = PushHub(clock, replay=8, snapshot=snapshot, epoch="e1", signins=authn)
    root = Resource()
    for name, child in authn.resources().items():
        root.putChild(name, child)
    root.putChild(b"api", authn.guard(build_api(authn)))
    root.putChild(b"desktop", authn.guard(HelloPage(authn), roles=("agent",), page=True))
    root.putChild(b"push", PushResource(hub, authn.principal_for))
    http = HttpService(reactor, root, "127.0.0.1", 0, trusted_proxies=tuple(trusted_proxies))
    hub.startService()
    http.startService()
    return SecureSite(authn, users, hub, fake_clock, http)
