"""An agent's desktop read while the contact offered to them is still being written."""

from __future__ import annotations

import threading

import pytest
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred

from callcenter.intake.contact import Contact
from tests.support.http import http_request

PASSWORD = "desktops read at any moment"


@pytest.fixture
def app(run, make_app):
    """The app on SQLite (always-open queues), agent alice signed up."""
    application = make_app()
    run(application.users.sync_from_config([("alice", "Alice Martin")]))
    run(application.users.set_password("alice", PASSWORD))
    return application


def test_the_desktop_reads_while_the_offered_contact_is_being_stored(run, app):
    """The routing core offers a contact before its write commits (the caller does not wait on the
    disk) and the agent's state change is pushed at once, so the page reads its desktop in that
    moment: it gets the desktop without that offer (not a 404), and with it once it is stored."""
    host, port = app.http.address
    url = f"http://{host}:{port}"
    r = run(http_request(reactor, "POST", url + "/login", json_body={"login": "alice", "password": PASSWORD}))
    alice = {"cookie": r.headers["set-cookie"].split(";")[0], "x-csrf-token": r.json()["csrf_token"]}
    run(http_request(reactor, "POST", url + "/api/me/state", json_body={"state": "available"}, headers=alice))
    release, held = threading.Event(), threading.Event()

    def hold_the_writer(conn, uow):
        held.set()
        release.wait(10)

    blocked = ensureDeferred(app.database.write(hold_the_writer))     # the one SQLite writer is busy
    assert held.wait(10)
    admitting = ensureDeferred(app.intake.admit(Contact(channel="voice", contact_kind="phone", contact="+14155550142",
                                                        to="+18005550100", digits="2")))
    try:
        for _ in range(200):                            # the decision comes before the write
            if any(o["agent"] == "alice" for o in app.switchboard.offers.values()):
                break
            run(_turn())
        (iid,) = app.switchboard.offers
        r = run(http_request(reactor, "GET", url + "/api/me", headers=alice))
        assert r.status == 200, r.body
        assert r.json()["offers"] == [] and r.json()["state"]["state"] != "available"
    finally:
        release.set()
    run(blocked)
    run(admitting)
    run(app.switchboard.settled())
    r = run(http_request(reactor, "GET", url + "/api/me", headers=alice))
    assert [o["interaction"]["id"] for o in r.json()["offers"]] == [iid]


async def _turn() -> None:
    from twisted.internet.task import deferLater

    await deferLater(reactor, 0.005, lambda: None)
