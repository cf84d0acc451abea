"""Browser sessions kept in the record: a restarted server knows them; a logout or expiry ends them there too."""

from __future__ import annotations

import pytest

from callcenter.records.sessions import SessionRecords
from tests.authn.site import IDLE, build_site


@pytest.fixture
def restart(run, users, fake_clock, database):
    """``restart()``: a fresh site (a new authenticator, empty memory) on the same record, its
    sessions restored as at start; every site is stopped after the test."""
    sites = []

    def start():
        site = build_site(run, users, fake_clock, records=SessionRecords(database), new_users=not sites)
        sites.append(site)
        run(site.authn.restore_sessions())
        return site

    yield start
    for site in sites:
        site.hub.stopService()
        run(site.http.stopService())


def test_a_session_survives_a_restart_with_its_csrf_token(run, restart, database):
    """Alice's cookie and CSRF token still work on the restarted server; the record holds no token."""
    first = restart()
    cookie, csrf = run(first.login("alice"))
    second = restart()
    r = run(second.request("GET", "/api/whoami", cookie=cookie))
    assert (r.status, r.json()["login"]) == (200, "alice")
    r = run(second.request("POST", "/api/echo", cookie=cookie, headers={"x-csrf-token": csrf}, body=b"hi"))
    assert r.status == 200
    stored = [key for key, _ in run(SessionRecords(database).live())]
    assert stored and cookie.split("=", 1)[1] not in stored


def test_logout_and_idle_expiry_end_the_session_in_the_record(run, restart, fake_clock):
    """A logged-out session and one idle past the timeout are not restored by the next start."""
    first = restart()
    alice, csrf = run(first.login("alice"))
    bob, _ = run(first.login("bob"))
    assert run(first.request("POST", "/logout", cookie=alice, headers={"x-csrf-token": csrf},
                             json_body={})).status == 200
    run(first.request("GET", "/api/whoami", cookie=bob))
    fake_clock.advance(IDLE - 1)
    second = restart()
    assert run(second.request("GET", "/api/whoami", cookie=alice)).status == 401
    assert run(second.request("GET", "/api/whoami", cookie=bob)).status == 200
    fake_clock.advance(IDLE)
    third = restart()
    assert run(third.request("GET", "/api/whoami", cookie=bob)).status == 401
