"""Security of the web layer over real loopback HTTP: sessions, CSRF, expiry, rate limits, tokens, roles, push."""

from __future__ import annotations

import re

import pytest
from twisted.internet import reactor

from callcenter.auth.ratelimit import Rate
from tests.authn.site import IDLE, MAX_AGE, build_site, session_cookie
from tests.push.sse import open_stream

pytestmark = pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)


def test_json_login_sets_a_strict_http_only_cookie(run, site):
    """A JSON login answers the user and CSRF token and sets cc_session HttpOnly, SameSite=Strict, Path=/."""
    r = run(site.request("POST", "/login", json_body={"login": "alice", "password": "pw-alice-long"}))
    assert r.status == 200
    assert r.json()["login"] == "alice" and r.json()["agent"] == "alice" and len(r.json()["csrf_token"]) > 20
    attrs = [a.strip().lower() for a in r.headers["set-cookie"].split(";")]
    assert attrs[0].startswith("cc_session=") and {"httponly", "samesite=strict", "path=/"} <= set(attrs)
    assert "secure" not in attrs
    who = run(site.request("GET", "/api/whoami", cookie=session_cookie(r)))
    assert who.json() == {"login": "alice", "role": "agent", "agent": "alice"}


def test_cookie_is_secure_only_when_a_trusted_proxy_says_https(run, users, fake_clock):
    """X-Forwarded-Proto https marks the cookie Secure from a trusted proxy, and is ignored from others."""
    trusted = build_site(run, users, fake_clock, trusted_proxies=("127.0.0.1",))
    try:
        body = {"login": "alice", "password": "pw-alice-long"}
        r = run(trusted.request("POST", "/login", json_body=body, headers={"x-forwarded-proto": "https"}))
        assert "secure" in [a.strip().lower() for a in r.headers["set-cookie"].split(";")]
    finally:
        trusted.hub.stopService()
        run(trusted.http.stopService())
    untrusted = build_site(run, users, fake_clock, trusted_proxies=("10.0.0.1",), new_users=False)
    try:
        r = run(untrusted.request("POST", "/login", json_body=body, headers={"x-forwarded-proto": "https"}))
        assert r.status == 200
        assert "secure" not in [a.strip().lower() for a in r.headers["set-cookie"].split(";")]
    finally:
        untrusted.hub.stopService()
        run(untrusted.http.stopService())


def test_wrong_password_and_unknown_user_are_401(run, site):
    """Wrong passwords and unknown logins get the same 401 and no cookie."""
    for login, pw in (("alice", "nope"), ("ghost", "pw-ghost")):
        r = run(site.request("POST", "/login", json_body={"login": login, "password": pw}))
        assert r.status == 401 and r.json()["error"]["code"] == "invalid_credentials" and "set-cookie" not in r.headers


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_state_change_without_the_csrf_token_is_403(run, site, token):
    """A session's POST with a missing, wrong or empty CSRF token is refused and does nothing."""
    cookie, _ = run(site.login("alice"))
    headers = {} if token is None else {"x-csrf-token": token}
    r = run(site.request("POST", "/api/echo", cookie=cookie, headers=headers, json_body={"x": 1}))
    assert r.status == 403 and r.json()["error"]["code"] == "csrf_failed"


def test_csrf_token_in_header_or_form_field_passes(run, site):
    """The session's token in X-CSRF-Token or the csrf_token form field lets the request through."""
    cookie, csrf = run(site.login("alice"))
    r = run(site.request("POST", "/api/echo", cookie=cookie, headers={"x-csrf-token": csrf}, json_body={"x": 1}))
    assert r.status == 200
    form = f"csrf_token={csrf}&x=1".encode()
    r = run(site.request("POST", "/api/echo", cookie=cookie, body=form,
                         headers={"content-type": "application/x-www-form-urlencoded"}))
    assert r.status == 200
    _, other_csrf = run(site.login("bob"))
    r = run(site.request("POST", "/api/echo", cookie=cookie, headers={"x-csrf-token": other_csrf}, json_body={}))
    assert r.status == 403


def test_anonymous_gets_401_json_for_api_and_a_redirect_for_pages(run, site):
    """No credentials: the API answers 401 JSON with WWW-Authenticate; a page redirects to /login?next=."""
    r = run(site.request("GET", "/api/whoami"))
    assert r.status == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = run(site.request("GET", "/desktop"))
    assert r.status == 303 and r.headers["location"] == "/login?next=/desktop"


def _assert_expired(run, site, cookie):
    assert run(site.request("GET", "/api/whoami", cookie=cookie)).status == 401
    r = run(site.request("GET", "/desktop", cookie=cookie))
    assert r.status == 303 and r.headers["location"] == "/login?next=/desktop"


def test_idle_session_expires(run, site):
    """A session unused for the idle timeout is gone: 401 for the API, a redirect for pages."""
    cookie, _ = run(site.login("alice"))
    assert run(site.request("GET", "/desktop", cookie=cookie)).body == b"hello alice"
    site.clock.advance(IDLE - 1)
    assert run(site.request("GET", "/api/whoami", cookie=cookie)).status == 200
    site.clock.advance(IDLE)
    _assert_expired(run, site, cookie)


def test_busy_session_expires_at_its_absolute_lifetime(run, site):
    """A session used all the time still ends at its absolute lifetime."""
    cookie, _ = run(site.login("alice"))
    for _ in range(int(MAX_AGE // (IDLE / 2)) - 1):
        site.clock.advance(IDLE / 2)
        assert run(site.request("GET", "/api/whoami", cookie=cookie)).status == 200
    site.clock.advance(IDLE / 2)
    _assert_expired(run, site, cookie)


def test_login_is_rate_limited_per_login_with_retry_after(run, users, fake_clock):
    """Past the per-login burst, attempts get 429 with Retry-After, even with the right password; time heals."""
    s = build_site(run, users, fake_clock, per_login=Rate(3, 1 / 30))
    try:
        for _ in range(3):
            assert run(s.request("POST", "/login", json_body={"login": "alice", "password": "bad"})).status == 401
        r = run(s.request("POST", "/login", json_body={"login": "alice", "password": "pw-alice-long"}))
        assert r.status == 429 and r.headers["retry-after"] == "30" and r.json()["error"]["code"] == "rate_limited"
        assert run(s.request("POST", "/login", json_body={"login": "bob", "password": "pw-bob-long"})).status == 200
        fake_clock.advance(30)
        assert run(s.request("POST", "/login", json_body={"login": "alice", "password": "pw-alice-long"})).status == 200
    finally:
        s.hub.stopService()
        run(s.http.stopService())


def test_login_is_rate_limited_per_client_address(run, users, fake_clock):
    """One address trying many logins is stopped by the per-address bucket."""
    s = build_site(run, users, fake_clock, per_ip=Rate(4, 1 / 6))
    try:
        statuses = [run(s.request("POST", "/login", json_body={"login": f"user{n}", "password": "x"})).status
                    for n in range(5)]
        assert statuses == [401, 401, 401, 401, 429]
    finally:
        s.hub.stopService()
        run(s.http.stopService())


def test_bearer_token_works_without_csrf_and_stops_when_revoked(run, site):
    """An API token authenticates without cookie or CSRF; once revoked it gets 401."""
    token, secret = run(site.users.create_token("root", "crm"))
    bearer = {"authorization": f"Bearer {secret}"}
    assert run(site.request("GET", "/api/whoami", headers=bearer)).json()["login"] == "root"
    assert run(site.request("POST", "/api/admin", headers=bearer, json_body={})).status == 200
    run(site.users.revoke_token(token.id))
    r = run(site.request("GET", "/api/whoami", headers=bearer))
    assert r.status == 401


def test_bad_bearer_never_falls_back_to_the_cookie(run, site):
    """A presented but invalid token is a 401 even when a valid session cookie comes along."""
    cookie, _ = run(site.login("alice"))
    r = run(site.request("GET", "/api/whoami", cookie=cookie, headers={"authorization": "Bearer cc_nope"}))
    assert r.status == 401
    r = run(site.request("GET", "/api/whoami", cookie=cookie, headers={"authorization": "Basic YTpi"}))
    assert r.status == 401


def test_roles_are_enforced(run, site):
    """An agent may not use admin or supervisor endpoints nor a supervisor the agent page; the right roles may."""
    a_cookie, a_csrf = run(site.login("alice"))
    r = run(site.request("POST", "/api/admin", cookie=a_cookie, headers={"x-csrf-token": a_csrf}, json_body={}))
    assert r.status == 403 and r.json()["error"]["code"] == "forbidden"
    assert run(site.request("GET", "/api/team", cookie=a_cookie)).status == 403
    s_cookie, _ = run(site.login("sue"))
    assert run(site.request("GET", "/api/team", cookie=s_cookie)).json() == {"team": "sue"}
    assert run(site.request("GET", "/desktop", cookie=s_cookie)).status == 403
    r_cookie, r_csrf = run(site.login("root"))
    r = run(site.request("POST", "/api/admin", cookie=r_cookie, headers={"x-csrf-token": r_csrf}, json_body={}))
    assert r.json() == {"admin": "root"}


def test_disabled_user_loses_the_session_at_once(run, site):
    """Disabling a user ends their live session at the next request."""
    cookie, _ = run(site.login("alice"))
    run(site.users.set_disabled("alice"))
    assert run(site.request("GET", "/api/whoami", cookie=cookie)).status == 401
    run(site.users.set_disabled("alice", False))
    assert run(site.request("GET", "/api/whoami", cookie=cookie)).status == 401


def test_logout_needs_csrf_and_ends_the_session(run, site):
    """POST /logout without the token is 403; with it the session is gone and the cookie cleared."""
    cookie, csrf = run(site.login("alice"))
    assert run(site.request("POST", "/logout", cookie=cookie, json_body={})).status == 403
    r = run(site.request("POST", "/logout", cookie=cookie, headers={"x-csrf-token": csrf}, json_body={}))
    assert r.status == 200 and "max-age=0" in r.headers["set-cookie"].lower()
    assert run(site.request("GET", "/api/whoami", cookie=cookie)).status == 401


def test_new_login_replaces_the_presented_session(run, site):
    """Logging in again from a browser ends the session it presented (no session fixation)."""
    old, _ = run(site.login("alice"))
    r = run(site.request("POST", "/login", cookie=old, json_body={"login": "alice", "password": "pw-alice-long"}))
    assert session_cookie(r) != old
    assert run(site.request("GET", "/api/whoami", cookie=old)).status == 401
    assert run(site.request("GET", "/api/whoami", cookie=session_cookie(r))).status == 200


def _form_token(html: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', html).group(1).decode()


def test_form_login_with_page_token_redirects_to_next(run, site):
    """The HTML form round trip: GET /login, POST with its token, 303 to a same-site next."""
    page = run(site.request("GET", "/login?next=/desktop"))
    assert page.status == 200 and b'<form method="post"' in page.body
    login_cookie = page.headers["set-cookie"].split(";")[0]
    form = f"login=alice&password=pw-alice-long&next=/desktop&csrf_token={_form_token(page.body)}".encode()
    r = run(site.request("POST", "/login", cookie=login_cookie, body=form,
                         headers={"content-type": "application/x-www-form-urlencoded"}))
    assert r.status == 303 and r.headers["location"] == "/desktop"
    assert run(site.request("GET", "/desktop", cookie=session_cookie(r))).body == b"hello alice"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_form_login_refuses_offsite_next(run, site, target):
    """A next pointing off-site is ignored: the user lands on their home page."""
    page = run(site.request("GET", "/login"))
    form = f"login=alice&password=pw-alice-long&next={target}&csrf_token={_form_token(page.body)}".encode()
    r = run(site.request("POST", "/login", cookie=page.headers["set-cookie"].split(";")[0], body=form,
                         headers={"content-type": "application/x-www-form-urlencoded"}))
    assert r.status == 303 and r.headers["location"] == "/desktop"


def test_form_login_without_the_page_token_is_refused(run, site):
    """A form post without the login page's token (a cross-site login attempt) gets 403 and no session."""
    r = run(site.request("POST", "/login", body=b"login=alice&password=pw-alice-long",
                         headers={"content-type": "application/x-www-form-urlencoded"}))
    assert r.status == 403 and "cc_session" not in r.headers.get("set-cookie", "")


def test_login_page_speaks_chinese_and_escapes_input(run, site):
    """Accept-Language zh gets the Simplified Chinese page; a reflected login is HTML-escaped."""
    page = run(site.request("GET", "/login", headers={"accept-language": "zh-CN,zh;q=0.9"}))
    assert '<html lang="zh-CN">' in page.body.decode() and "登录" in page.body.decode()
    form = f"login=<script>&password=x&csrf_token={_form_token(page.body)}".encode()
    r = run(site.request("POST", "/login?lang=zh-CN", cookie=page.headers["set-cookie"].split(";")[0], body=form,
                         headers={"content-type": "application/x-www-form-urlencoded"}))
    assert r.status == 401 and "用户名或密码错误" in r.body.decode()
    assert b"<script>" not in r.body and b"&lt;script&gt;" in r.body


def test_agents_cannot_read_each_others_push_topics(run, site):
    """Over real sessions, alice's stream carries only alice's events; sue's only the supervisors'."""
    async def scenario():
        a_cookie, _ = await site.login("alice")
        s_cookie, _ = await site.login("sue")
        alice = await open_stream(reactor, site.base + "/push", {"cookie": a_cookie})
        sue = await open_stream(reactor, site.base + "/push", {"cookie": s_cookie})
        anon = await open_stream(reactor, site.base + "/push")
        await alice.wait_events(1)
        await sue.wait_events(1)
        site.hub.publish("agent:bob", "offer", {"secret": "bob's customer"})
        site.hub.publish("supervisors", "queue", {"q": 1})
        site.hub.publish("agent:alice", "offer", {"mine": True})
        await alice.wait_events(2)
        await sue.wait_events(2)
        alice.close()
        sue.close()
        return alice.events, sue.events, anon.status

    alice, sue, anon = run(scenario())
    assert [e.data for e in alice] == [{"who": "alice"}, {"mine": True}]
    assert [e.data for e in sue] == [{"who": "sue"}, {"q": 1}]
    assert anon == 401


def test_two_login_tabs_share_the_form_token(run, site):
    """A second login page keeps the browser's pre-login token, so the first tab's form still works."""
    first = run(site.request("GET", "/login"))
    cookie = first.headers["set-cookie"].split(";")[0]
    second = run(site.request("GET", "/login", cookie=cookie))
    assert _form_token(second.body) == _form_token(first.body)


def test_logout_ends_the_sessions_open_push_streams_at_once(run, site):
    """Logging out ends that session's /push streams before the logout answers (a signed_out event,
    then a clean end); another user's stream stays and later events reach only it."""
    async def scenario():
        a_cookie, a_csrf = await site.login("alice")
        s_cookie, _ = await site.login("sue")
        alice = await open_stream(reactor, site.base + "/push", {"cookie": a_cookie})
        sue = await open_stream(reactor, site.base + "/push", {"cookie": s_cookie})
        await alice.wait_events(1)
        await sue.wait_events(1)
        r = await site.request("POST", "/logout", cookie=a_cookie, headers={"x-csrf-token": a_csrf}, json_body={})
        assert r.status == 200
        clean = await alice.ended
        assert site.hub.connections() == 1
        site.hub.publish("agent:alice", "offer", {"customer": "must not leak"})
        site.hub.publish("supervisors", "queue", {"q": 1})
        await sue.wait_events(2)
        sue.close()
        return alice.events, clean

    events, clean = run(scenario())
    assert [e.event for e in events] == ["snapshot", "signed_out"] and clean


def test_disable_revoke_and_password_change_elsewhere_end_push_streams_on_the_next_check(
        run, users, fake_clock, database):
    """Changes made straight in the record (as `callcenter user disable/passwd/revoke` does from
    another process) end the affected streams at the first sign-in check (2 s), not before; an
    untouched user's stream and the password-changed user's new requests behave accordingly."""
    from callcenter.records.sessions import SessionRecords

    site = build_site(run, users, fake_clock, records=SessionRecords(database))
    run(site.authn.restore_sessions())

    async def scenario():
        cookies = {name: (await site.login(name))[0] for name in ("alice", "bob", "sue")}
        token, secret = await users.create_token("root", "crm")
        streams = {name: await open_stream(reactor, site.base + "/push", {"cookie": cookie})
                   for name, cookie in cookies.items()}
        streams["root"] = await open_stream(reactor, site.base + "/push", {"authorization": f"Bearer {secret}"})
        for stream in streams.values():
            await stream.wait_events(1)
        await users.set_disabled("alice")
        await users.set_password("bob", "a new long passphrase")
        await users.revoke_token(token.id)
        fake_clock.advance(1.9)
        still_open = site.hub.connections()
        fake_clock.advance(0.1)
        for name in ("alice", "bob", "root"):
            await streams[name].ended
        site.hub.publish("supervisors", "queue", {"q": 1})
        await streams["sue"].wait_events(2)
        bob_again = await site.request("GET", "/api/whoami", cookie=cookies["bob"])
        streams["sue"].close()
        return still_open, {n: [e.event for e in s.events] for n, s in streams.items()}, bob_again.status

    try:
        still_open, events, bob_status = run(scenario())
    finally:
        site.hub.stopService()
        run(site.http.stopService())
    assert still_open == 4
    assert events == {"alice": ["snapshot", "signed_out"], "bob": ["snapshot", "signed_out"],
                      "root": ["snapshot", "signed_out"], "sue": ["snapshot", "queue"]}
    assert bob_status == 401


def test_a_push_stream_ends_at_its_sessions_absolute_lifetime(run, site, fake_clock):
    """A stream open across the session's absolute lifetime is ended by the first check after it."""
    async def scenario():
        cookie, _ = await site.login("alice")
        stream = await open_stream(reactor, site.base + "/push", {"cookie": cookie})
        await stream.wait_events(1)
        fake_clock.advance(MAX_AGE - 10)
        assert site.hub.connections() == 1
        fake_clock.advance(10)
        await site.hub.recheck_signins()
        await stream.ended
        return [e.event for e in stream.events]

    assert run(scenario()) == ["snapshot", "signed_out"]

