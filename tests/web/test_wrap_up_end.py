"""Ending wrap-ups in the real application (SQLite and PostgreSQL, on a virtual clock): finishing one
interaction's wrap-up on the desktop ends that one only, logging out ends every wrap-up the agent
is in, and each time the record says what ended it."""

from __future__ import annotations

import pytest
from twisted.internet import reactor
from twisted.internet.task import deferLater

from callcenter.dispatch.routing_setup import routing_config
from callcenter.records.errors import NotFound
from tests.support.http import http_request
from tests.support.virtualtime import VirtualTimeReactor
from tests.web.test_desktop_email import PASSWORD, base, sign_in
from tests.web.test_recovery import _form, _mail, _without_alice

START = 1_800_000_000.0
WRAP_UP = 30.0   # the shipped support queue's wrap_up, for every channel


@pytest.fixture
def app(run, make_app, migrated_database_url):
    """The app on a virtual clock at START, alice able to sign in; ``app.test_clock`` moves time."""
    clock = VirtualTimeReactor(reactor, START)
    application = make_app(migrated_database_url, reactor=clock)
    run(_password_for_alice(application))
    application.test_clock = clock
    return application


async def _password_for_alice(app) -> None:
    """Give alice her password once the start-up sync of the configured agents made her user (a
    sync of our own would race it and, on PostgreSQL, hit the unique login)."""
    for _ in range(500):
        try:
            await app.users.get("alice")
            break
        except NotFound:
            await deferLater(reactor, 0.01)
    await app.users.set_password("alice", PASSWORD)


def _in_wrap_up(run, app, *channels: str) -> list[int]:
    """alice takes one support contact per channel ("email" or "webform") and finishes the n-th
    (from 0) at START + 5 + n, so each is in wrap-up; returns their ids in that order."""
    board = app.switchboard
    board.set_available("alice")
    ids = []
    for n, channel in enumerate(channels, 1):
        receipt = run(app.mailflow.accept_mail(*_mail(n)) if channel == "email" else app.forms.submit_form(_form(n)))
        ids.append(receipt.interaction_id)
    run(board.settled())
    assert {i: o["agent"] for i, o in board.offers.items()} == {i: "alice" for i in ids}
    for iid in ids:
        board.accept("alice", iid)
    run(board.settled())
    for n, iid in enumerate(ids):
        app.test_clock.advance_to(START + 5 + n)
        board.complete(iid, "alice")
    run(board.settled())
    assert board.wrapping == {i: "alice" for i in ids}
    return ids


def _ended(run, app, iid: int) -> tuple[str, float | None, str | None, str | None]:
    """The interaction's state, when its wrap-up ended, its disposition and the ``by`` of its last log entry."""
    record = run(app.store.get_interaction(iid))
    last = run(app.store.interaction_events(iid))[-1].details
    ended = record.wrap_up_ended_at.timestamp() if record.wrap_up_ended_at else None
    return record.state, ended, record.disposition, last.get("by")


def _post(run, app, headers, path: str, body: dict) -> None:
    response = run(http_request(reactor, "POST", base(app) + path, headers=headers, json_body=body))
    assert response.status == 200, response.body


def test_finishing_one_wrap_up_on_the_desktop_leaves_the_other_channels_running(run, app):
    """alice wraps up an email and a form; finishing the email's on her desktop completes it (by the
    agent, with her disposition) while the form's wrap-up runs on in the core and the record until
    its own end, when its timer completes it."""
    email, form = _in_wrap_up(run, app, "email", "webform")
    headers = run(sign_in(app, "alice"))
    app.test_clock.advance_to(START + 10)
    _post(run, app, headers, f"/api/me/work/{email}/wrap-up", {"disposition": "resolved"})
    board = app.switchboard
    run(board.settled())
    assert _ended(run, app, form)[0] == "wrap_up" and board.wrapping == {form: "alice"}
    assert _ended(run, app, email) == ("completed", START + 10, "resolved", "agent")
    assert board.router.agent_view("alice").wrap_ups == (("webform", START + 6 + WRAP_UP),)
    app.test_clock.advance_to(START + 6 + WRAP_UP)
    run(board.settled())
    assert _ended(run, app, form) == ("completed", START + 6 + WRAP_UP, None, "timer")
    assert board.wrapping == {} and board.router.agent_view("alice").wrap_ups == ()


def test_two_emails_in_wrap_up_are_each_finished_on_their_own(run, app):
    """Two emails share the email channel's wrap-up: finishing the first leaves the second in
    wrap-up (and the channel held); finishing the second ends the channel's wrap-up."""
    first, second = _in_wrap_up(run, app, "email", "email")
    board = app.switchboard
    app.test_clock.advance_to(START + 10)
    board.end_wrap_up("alice", first, disposition="resolved")
    run(board.settled())
    assert _ended(run, app, second)[0] == "wrap_up" and board.wrapping == {second: "alice"}
    assert _ended(run, app, first) == ("completed", START + 10, "resolved", "agent")
    assert board.router.agent_view("alice").wrap_ups == (("email", START + 6 + WRAP_UP),)
    app.test_clock.advance_to(START + 12)
    board.end_wrap_up("alice", second, disposition="callback")
    run(board.settled())
    assert _ended(run, app, second) == ("completed", START + 12, "callback", "agent")
    assert board.wrapping == {} and board.router.agent_view("alice").wrap_ups == ()


def test_logging_out_on_the_desktop_ends_every_wrap_up_in_the_record(run, app):
    """alice logs out during an email's and a form's wrap-up: both are completed at once (by:
    logout), nothing is left in wrap-up, and their timers later change nothing."""
    email, form = _in_wrap_up(run, app, "email", "webform")
    headers = run(sign_in(app, "alice"))
    app.test_clock.advance_to(START + 10)
    _post(run, app, headers, "/api/me/state", {"state": "logged_out"})
    board = app.switchboard
    run(board.settled())
    assert [_ended(run, app, i) for i in (email, form)] == [("completed", START + 10, None, "logout")] * 2
    assert board.wrapping == {} and board.router.agent_view("alice").wrap_ups == ()
    app.test_clock.advance_to(START + 6 + WRAP_UP)
    run(board.settled())
    assert [_ended(run, app, i)[:2] for i in (email, form)] == [("completed", START + 10)] * 2


def test_a_call_placed_during_a_wrap_up_that_fails_leaves_the_wrap_up_running(run, app):
    """alice dials out during an email's wrap-up and her phone never answers: the call ends without
    a wrap-up of its own, and the email's wrap-up runs on to its end (by: timer)."""
    (email,) = _in_wrap_up(run, app, "email")
    board = app.switchboard
    customer = run(app.store.find_or_create_customer("phone", "+14155550100"))
    call = run(app.store.create_interaction(customer.id, "voice", "outbound", "accepted", agent="alice"))
    app.test_clock.advance_to(START + 10)
    board.start_outbound(call.id, "alice")
    board.outbound_failed(call.id, "alice", "originate_reason_3")
    run(board.settled())
    assert run(app.store.get_interaction(call.id)).state == "completed"
    assert _ended(run, app, email)[0] == "wrap_up" and board.wrapping == {email: "alice"}
    assert board.router.agent_view("alice").wrap_ups == (("email", START + 5 + WRAP_UP),)
    app.test_clock.advance_to(START + 5 + WRAP_UP)
    run(board.settled())
    assert _ended(run, app, email) == ("completed", START + 5 + WRAP_UP, None, "timer")


def test_a_reload_that_removes_an_agent_in_wrap_up_finishes_it(run, app):
    """alice is removed from the configuration by a reload during an email's wrap-up: the record
    completes it at once (by: agent_not_configured, as a restart would) instead of keeping it in
    wrap-up with nobody left to end it."""
    (email,) = _in_wrap_up(run, app, "email")
    board = app.switchboard
    app.test_clock.advance_to(START + 10)
    settings = _without_alice(board.settings)
    board.reconfigure(settings, routing_config(settings))
    run(board.settled())
    assert _ended(run, app, email) == ("completed", START + 10, None, "agent_not_configured")
    assert board.wrapping == {}
