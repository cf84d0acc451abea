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
    board.set_available("bob")                 # room for one more email: the first in line
    assert [i for i, o in board.offers.items() if o["agent"] == "bob"] == [before["support"][0][0]]
    board.end_wrap_up("bob", role["wrapped"], disposition="resolved")
    board.complete(role["held"], "bob")
    run(board.settled())
    assert run(second.store.get_interaction(role["wrapped"])).state == "completed"
    assert run(second.store.get_interaction(role["held"])).state == "wrap_up"


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
