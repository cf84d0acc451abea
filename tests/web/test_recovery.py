"""The rebuild on start, in the real application on SQLite and PostgreSQL: stop one server, start
another on the same record, and every unfinished contact is back where it was."""

from __future__ import annotations

import dataclasses
from email.message import EmailMessage

import pytest
from twisted.internet import reactor

from callcenter.intake.email_arrival import new_message as _new_message
from callcenter.dispatch.recovery import Recovery, mail_resumer
from channels.email.parsing import parse_message
from channels.email.sink import MailEnvelope
from channels.webform.submission import FormSubmission
from tests.support.http import http_request
from tests.support.virtualtime import VirtualTimeReactor

START = 1_800_000_000.0
SUPPORT_WRAP_UP = 30.0   # the shipped support queue's wrap_up


def _narrow(settings):
    """bob takes two emails at a time and alice one, so offers stop where the test wants them."""
    agents = dict(settings.agents)
    agents["bob"] = dataclasses.replace(agents["bob"], capacity=50)
    agents["alice"] = dataclasses.replace(agents["alice"], capacity=25)
    return dataclasses.replace(settings, agents=agents)


def _mail(n: int, to: str = "support@example.com") -> tuple[bytes, MailEnvelope]:
    message = EmailMessage()
    message["From"] = f"Customer {n} <c{n}@example.org>"
    message["To"] = to
    message["Subject"] = f"Question {n}"
    message["Message-ID"] = f"<q{n}@example.org>"
    message.set_content(f"Question number {n}.")
    return bytes(message), MailEnvelope(mailbox=to.split("@")[0], source="smtp", received_at=0.0,
                                        mail_from=f"c{n}@example.org", recipients=(to,), peer="127.0.0.1")


def _form(n: int) -> FormSubmission:
    return FormSubmission(form="contact", fields={"name": f"Form {n}", "email": f"f{n}@example.org",
                                                  "message": "Please call me"},
                          email=f"f{n}@example.org", phone=None, name=f"Form {n}", attributes={}, attachments=(),
                          client_ip="127.0.0.1", language="en")


def _place(app):
    """Every waiting interaction by queue in order, with priority and virtual start (the views show
    the wait in ms: starts compare within 2 ms)."""
    now = app.clock.now()
    return {queue: [(v.interaction, v.priority, pytest.approx(now - v.waited, abs=0.002)) for v in views]
            for queue, views in app.switchboard.waiting_by_queue(now).items()}


def _build_a_busy_day(run, app):
    """Four emails and a form in support; bob holds one and wraps one up, alice is offered one, one
    email moved to billing, the form's priority raised. Returns their ids by role."""
    board = app.switchboard
    ids = [run(app.mailflow.accept_mail(*_mail(n))).interaction_id for n in range(1, 6)]
    form = run(app.forms.submit_form(_form(1))).interaction_id
    run(board.settled())
    board.set_available("bob")
    run(board.settled())
    wrapped, held = sorted(i for i, o in board.offers.items() if o["agent"] == "bob")
    board.accept("bob", wrapped)
    board.accept("bob", held)
    run(board.settled())
    board.complete(wrapped, "bob")
    run(board.settled())
    board.set_available("alice")
    run(board.settled())
    (offered,) = [i for i, o in board.offers.items() if o["agent"] == "alice"]
    moved = ids[-1]
    board.move(moved, "billing", "sam")
    board.set_priority(form, 3, "sam")
    run(board.settled())
    return {"wrapped": wrapped, "held": held, "offered": offered, "moved": moved, "form": form}


def test_a_restart_puts_every_unfinished_contact_back_in_place(run, make_app, migrated_database_url):
    """Waiting work keeps its queue, priority and place; an offer is withdrawn and re-made; held work
    and wrap-up come back to their agent, whose capacity counts the held work."""
    first = make_app(migrated_database_url, adjust=_narrow)
    role = _build_a_busy_day(run, first)
    before = _place(first)
    assert before["billing"] == [(role["moved"], 0, before["billing"][0][2])]
    assert role["offered"] in [i for i, *_ in before["support"]]
    run(first.service.stopService())

    second = make_app(migrated_database_url, adjust=_narrow)
    board = second.switchboard
    assert _place(second) == before
    assert board.offers == {} and board.holding == {role["held"]: "bob"} and board.wrapping == {role["wrapped"]: "bob"}
    assert run(second.store.get_interaction(role["offered"])).state == "queued"
    returned = [e.details for e in run(second.store.interaction_events(role["offered"])) if e.kind == "state"][-1]
    assert (returned["to"], returned["why"]) == ("queued", "restart")
    view = board.router.agent_view("bob")
    assert (view.state, view.used, view.work) == ("logged_out", 25, (role["held"],))
    assert dict(view.wrap_ups).keys() == {"email"}     # his email wrap-up runs on: no email yet
    board.end_wrap_up("bob", role["wrapped"], disposition="resolved")
    board.set_available("bob")                 # room for one more email: the first in line
    assert [i for i, o in board.offers.items() if o["agent"] == "bob"] == [before["support"][0][0]]
    board.complete(role["held"], "bob")
    run(board.settled())
    assert run(second.store.get_interaction(role["wrapped"])).state == "completed"
    assert run(second.store.get_interaction(role["held"])).state == "wrap_up"


@pytest.fixture
def servers(make_app, migrated_database_url):
    """``start()`` builds and starts a server (alice takes one email at a time) on one record and
    one virtual clock; a restart is a second ``start()`` once the first one's service stopped."""
    clock = VirtualTimeReactor(reactor, START)
    return clock, lambda: make_app(migrated_database_url, adjust=_narrow, reactor=clock)


def _stop_in_wrap_up(run, clock, start, move_to: str | None = None) -> tuple[int, int]:
    """alice finishes an email (first moved to ``move_to``, if given) at START + 5 and the server
    stops during its wrap-up, with a second email waiting for her; returns (the email in
    wrap-up, the waiting one)."""
    first = start()
    board = first.switchboard
    wrapped = run(first.mailflow.accept_mail(*_mail(1))).interaction_id
    run(board.settled())
    if move_to is not None:
        board.move(wrapped, move_to, "sam")
        run(board.settled())
    board.set_available("alice")
    run(board.settled())
    board.accept("alice", wrapped)
    clock.advance_to(START + 5)
    board.complete(wrapped, "alice")
    waiting = run(first.mailflow.accept_mail(*_mail(2))).interaction_id
    run(board.settled())
    assert board.offers == {} and board.wrapping == {wrapped: "alice"}
    run(first.service.stopService())
    return wrapped, waiting


def _back_in_wrap_up(run, clock, start, at: float, sign_in: bool = True):
    """:func:`_stop_in_wrap_up`, then the server starts again at ``at`` (alice signing back in,
    if ``sign_in``); returns (the new server, its switchboard, the email in wrap-up, the waiting one)."""
    wrapped, waiting = _stop_in_wrap_up(run, clock, start)
    clock.advance_to(at)
    second = start()
    board = second.switchboard
    if sign_in:
        board.set_available("alice")
    run(board.settled())
    return second, board, wrapped, waiting


def _state(run, app, iid: int) -> str:
    return run(app.store.get_interaction(iid)).state


def test_a_restored_wrap_up_runs_to_its_end_before_new_work(run, servers):
    """Restarted 10 s into a 30 s wrap-up, alice signing back in gets no email until the wrap-up
    ends, 30 s after the email ended; then the record completes it (by the timer) and she is
    offered the waiting email."""
    clock, start = servers
    wrapped, waiting = _stop_in_wrap_up(run, clock, start)
    clock.advance_to(START + 15)
    second = start()
    board = second.switchboard
    assert board.wrapping == {wrapped: "alice"}
    board.set_available("alice")
    run(board.settled())
    assert board.offers == {} and _state(run, second, wrapped) == "wrap_up"
    clock.advance_to(START + 5 + SUPPORT_WRAP_UP - 0.5)
    run(board.settled())
    assert board.offers == {} and _state(run, second, wrapped) == "wrap_up"
    clock.advance_to(START + 5 + SUPPORT_WRAP_UP)
    run(board.settled())
    done = run(second.store.get_interaction(wrapped))
    assert done.state == "completed" and done.wrap_up_ended_at.timestamp() == START + 5 + SUPPORT_WRAP_UP
    assert run(second.store.interaction_events(wrapped))[-1].details["by"] == "timer"
    assert board.wrapping == {} and board.offers[waiting]["agent"] == "alice"


def test_a_restored_wrap_up_the_agent_ends_early_frees_her_at_once(run, servers):
    """After the restart alice, still in wrap-up, is offered nothing; ending it herself completes
    the record with her disposition and the waiting email is offered to her at once."""
    clock, start = servers
    second, board, wrapped, waiting = _back_in_wrap_up(run, clock, start, START + 15)
    assert board.offers == {}
    board.end_wrap_up("alice", wrapped, disposition="resolved")
    run(board.settled())
    done = run(second.store.get_interaction(wrapped))
    assert (done.state, done.disposition) == ("completed", "resolved")
    assert board.wrapping == {} and board.offers[waiting]["agent"] == "alice"
    assert second.switchboard.router.agent_view("alice").wrap_ups == ()


def test_logging_out_during_a_restored_wrap_up_completes_it(run, servers):
    """Back after a restart in her restored wrap-up, alice signs in and logs out again: the record
    completes it at once (by: logout) instead of leaving it in wrap-up until another restart."""
    clock, start = servers
    second, board, wrapped, _ = _back_in_wrap_up(run, clock, start, START + 15)
    clock.advance_to(START + 20)
    board.logout("alice")
    run(board.settled())
    done = run(second.store.get_interaction(wrapped))
    assert done.state == "completed" and done.wrap_up_ended_at.timestamp() == START + 20
    assert run(second.store.interaction_events(wrapped))[-1].details["by"] == "logout"
    assert board.wrapping == {} and board.router.agent_view("alice").wrap_ups == ()


def test_a_restored_wrap_up_lasts_as_long_as_the_queue_it_was_held_from_says(run, servers):
    """An email moved from support (30 s wrap-up) to billing (45 s) before alice took it: its
    restored wrap-up lasts billing's 45 s, as it did before the restart."""
    clock, start = servers
    wrapped, _ = _stop_in_wrap_up(run, clock, start, move_to="billing")
    assert SUPPORT_WRAP_UP < 45.0
    second = start()
    assert second.switchboard.router.agent_view("alice").wrap_ups == (("email", START + 5 + 45.0),)
    clock.advance_to(START + 5 + 45.0)
    run(second.switchboard.settled())
    assert _state(run, second, wrapped) == "completed"


def _without_alice(settings):
    """The settings with alice no longer an agent nor a member of any queue."""
    settings = _narrow(settings)
    agents = {login: a for login, a in settings.agents.items() if login != "alice"}
    queues = {name: dataclasses.replace(q, members=tuple(m for m in q.members if m.agent != "alice"))
              for name, q in settings.queues.items()}
    return dataclasses.replace(settings, agents=agents, queues=queues)


def test_a_wrap_up_of_an_agent_no_longer_configured_is_closed_at_start(run, make_app, migrated_database_url):
    """alice was removed from the configuration during the stop: nobody could end her wrap-up, so
    the record completes it at start (the server starts, nothing is left in wrap-up)."""
    clock = VirtualTimeReactor(reactor, START)
    wrapped, _ = _stop_in_wrap_up(run, clock, lambda: make_app(migrated_database_url, adjust=_narrow, reactor=clock))
    second = make_app(migrated_database_url, adjust=_without_alice, reactor=clock)
    run(second.switchboard.settled())
    assert second.switchboard.wrapping == {} and _state(run, second, wrapped) == "completed"
    assert run(second.store.interaction_events(wrapped))[-1].details["by"] == "agent_not_configured"


def test_a_wrap_up_that_ended_while_the_server_was_down_is_closed_at_start(run, servers):
    """Restarted after the wrap-up's end (30 s after the email ended), the record completes it at
    start, stamped at the restart, and alice is offered the waiting email as soon as she is back."""
    clock, start = servers
    second, board, wrapped, waiting = _back_in_wrap_up(run, clock, start, START + 100, sign_in=False)
    done = run(second.store.get_interaction(wrapped))
    assert done.state == "completed" and done.wrap_up_ended_at.timestamp() == START + 100
    assert board.wrapping == {} and board.router.agent_view("alice").wrap_ups == ()
    board.set_available("alice")
    run(board.settled())
    assert board.offers[waiting]["agent"] == "alice"


def test_a_stuck_contact_and_an_orphaned_message_are_completed_and_routed(run, make_app, migrated_database_url):
    """A form created but never queued, and a message stored without its interaction, are in line
    after the restart, each exactly once; a call is left to telephony."""
    first = make_app(migrated_database_url)
    customer = run(first.store.find_or_create_customer("email", "stuck@example.org"))
    stuck = run(first.store.create_interaction(customer.id, "webform", "inbound", "new", subject="Contact us",
                                               payload={"form": "contact", "language": "en",
                                                        "fields": {"email": "stuck@example.org"}}))
    raw, envelope = _mail(9)
    orphan = run(first.mail.store_message(_new_message(parse_message(raw), envelope)))
    call = run(first.store.create_interaction(customer.id, "voice", "inbound", "queued", queue="support"))
    run(first.service.stopService())

    second = make_app(migrated_database_url)
    run(second.switchboard.settled())
    mail = run(second.mail.get_message(orphan.id))
    waiting = [v.interaction for v in second.switchboard.router.waiting()]
    assert stuck.id in waiting and mail.interaction_id in waiting and call.id not in waiting
    assert waiting.count(mail.interaction_id) == 1
    assert run(second.store.get_interaction(stuck.id)).state == "queued"
    assert run(second.store.get_interaction(mail.interaction_id)).state == "queued"


def test_unfinished_calls_are_handed_to_restore_calls_once(run, make_app, migrated_database_url):
    """Calls are not put in line by the rebuild: restore_calls receives their full records and
    the contact each would come back as (in line, from its original start)."""
    app = make_app(migrated_database_url)
    customer = run(app.store.find_or_create_customer("phone", "+14155550100"))
    call = run(app.store.create_interaction(customer.id, "voice", "inbound", "queued", queue="support"))
    ended = run(app.store.create_interaction(customer.id, "voice", "inbound", "completed", queue="support"))
    handed = []

    def restore_calls(interactions, contacts):
        handed.append((list(interactions), dict(contacts)))

    recovery = Recovery(database=app.database, store=app.store, board=app.switchboard, clock=app.clock,
                        resume_mail=mail_resumer(app.mailflow.accept_mail), form_facts=lambda *a: {},
                        restore_calls=restore_calls)
    report = run(recovery.run())
    assert [[i.id for i in batch] for batch, _ in handed] == [[call.id]]
    (records, contacts), = handed
    assert records[0].channel == "voice" and records[0].state == "queued"
    assert list(contacts) == [call.id] and contacts[call.id].resume is not None
    assert contacts[call.id].queue == "support" and app.switchboard.router.waiting() == []
    assert report.calls == 1 and report.waiting == {}


def test_health_says_recovering_and_nothing_else_answers_until_the_rebuild_is_done(run, make_app):
    """While recovering, /health is a 503 saying so and the API a 503 too; then both serve."""
    app = make_app()
    base = "http://%s:%d" % app.http.address
    app.health.recovering = True
    health = run(http_request(reactor, "GET", base + "/health"))
    api = run(http_request(reactor, "GET", base + "/api/openapi.json"))
    assert (health.status, health.json()["status"]) == (503, "recovering")
    assert (api.status, api.json()["status"]) == (503, "recovering")
    app.health.recovering = False
    assert run(http_request(reactor, "GET", base + "/health")).status == 200
    assert run(http_request(reactor, "GET", base + "/api/openapi.json")).status == 200
