"""The generic HTTP CTI API through the real application: idempotent, order-tolerant, logged."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode

import pytest
from twisted.internet import reactor

from tests.support.http import http_request

TOKEN = "cti-test-token-5f2a"


@pytest.fixture
def app(make_app, migrated_database_url):
    """The application with a CTI token and always-open queues."""
    return make_app(migrated_database_url, adjust=lambda s: dataclasses.replace(
        s, telephony=dataclasses.replace(s.telephony, cti_token=TOKEN)))


def post(run, app, params, token=TOKEN, as_json=False):
    """POST one CTI event (form-encoded unless as_json)."""
    host, port = app.http.address
    url = f"http://{host}:{port}/api/cti/{token}"
    if as_json:
        return run(http_request(reactor, "POST", url, json_body=params))
    return run(http_request(reactor, "POST", url, body=urlencode(params).encode(),
                            headers={"content-type": "application/x-www-form-urlencoded"}))


def settle(run, app):
    """Let queued record writes finish."""
    run(app.switchboard.settled())


def test_call_answered_and_hung_up_is_logged_with_its_agent(run, app):
    """newCall -> answer by bob -> hangup: one voice interaction answered by bob and completed (the PBX
    routes it and keeps agent state; this server logs it and pops the screen)."""
    r = post(run, app, {"event": "newCall", "callId": "c-1", "from": "+14155550177", "to": "+18005550100",
                        "direction": "in"})
    assert r.status == 200 and r.json()["action"] == "accept"
    iid = r.json()["interaction"]
    assert post(run, app, {"event": "answer", "callId": "c-1", "user": "bob", "direction": "in"}, as_json=True).status == 200
    assert post(run, app, {"event": "hangup", "callId": "c-1", "cause": "normal", "direction": "in"}).status == 200
    settle(run, app)
    interaction = run(app.store.get_interaction(iid))
    assert (interaction.channel, interaction.agent, interaction.state) == ("voice", "bob", "completed")
    assert interaction.answered_at is not None and interaction.ended_at is not None


def test_duplicates_are_idempotent(run, app):
    """The same newCall twice makes one interaction; the second reply says duplicate."""
    first = post(run, app, {"event": "newCall", "callId": "dup", "from": "+14155550178", "direction": "in"}).json()
    second = post(run, app, {"event": "newCall", "callId": "dup", "from": "+14155550178", "direction": "in"}).json()
    assert second["duplicate"] is True and second["interaction"] == first["interaction"]
    settle(run, app)
    customer = run(app.store.find_customer_by_phone("+14155550178"))
    assert len(run(app.store.timeline(customer.id)).items) == 1


def test_hangup_before_anything_else_is_an_abandoned_call_not_an_error(run, app):
    """A hangup for a call never announced creates and ends it: 200, abandoned, nothing else changes."""
    r = post(run, app, {"event": "hangup", "callId": "late", "from": "+14155550179", "direction": "in"})
    assert r.status == 200
    settle(run, app)
    customer = run(app.store.find_customer_by_phone("+14155550179"))
    (interaction,) = run(app.store.timeline(customer.id)).items
    assert interaction.state == "abandoned"
    assert post(run, app, {"event": "answer", "callId": "late", "user": "bob", "direction": "in"}).json()["duplicate"]


def test_bad_input_is_a_clear_error(run, app):
    """Wrong token 404; unknown event and injected text 422 naming the field; nothing is created."""
    assert post(run, app, {"event": "newCall", "callId": "x"}, token="wrong").status == 404
    r = post(run, app, {"event": "ring", "callId": "x"})
    assert (r.status, r.json()["error"]["field"]) == (422, "event")
    r = post(run, app, {"event": "newCall", "callId": "x\r\nAction: Originate", "direction": "in"})
    assert (r.status, r.json()["error"]["field"]) == (422, "callId")


def test_hangup_of_a_call_a_closed_queue_refused_is_no_error(run, make_app, migrated_database_url):
    """A CTI call arriving while its queue is closed is unhandled; its hangup afterwards leaves it
    so and logs nothing critical (it was an illegal abandon of finished work)."""
    from twisted.logger import globalLogPublisher

    never = {d: () for d in range(7)}

    def closed(settings):
        schedule = dataclasses.replace(next(iter(settings.schedules.values())), weekly=never, holidays={})
        queues = {n: dataclasses.replace(q, schedule=schedule) for n, q in settings.queues.items()}
        return dataclasses.replace(settings, queues=queues,
                                   telephony=dataclasses.replace(settings.telephony, cti_token=TOKEN))

    app = make_app(migrated_database_url, always_open=False, adjust=closed)
    critical: list = []
    observer = lambda event: critical.append(event) if event.get("log_level").name == "critical" else None  # noqa: E731
    globalLogPublisher.addObserver(observer)
    try:
        r = post(run, app, {"event": "newCall", "callId": "shut", "from": "+14155550180", "to": "+18005550100",
                            "direction": "in"})
        iid = r.json()["interaction"]
        settle(run, app)
        assert run(app.store.get_interaction(iid)).state == "unhandled"
        assert post(run, app, {"event": "hangup", "callId": "shut", "cause": "normal", "direction": "in"}).status == 200
        settle(run, app)
    finally:
        globalLogPublisher.removeObserver(observer)
    assert run(app.store.get_interaction(iid)).state == "unhandled"
    assert critical == []
