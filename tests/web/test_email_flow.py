"""Email end to end in the real app: SMTP listener -> mail flow -> switchboard -> routing -> record."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
from twisted.internet import threads




@pytest.fixture
def app(make_app, migrated_database_url):
    """The application on the shipped config with always-open queues, started."""
    return make_app(migrated_database_url)


def send(port: int, message: EmailMessage) -> dict:
    """Deliver ``message`` to the listener with smtplib (in a thread); the refused recipients."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.send_message(message)


def smtp_port(app) -> int:
    """The port the SMTP listener bound."""
    return app.smtp.port


def test_email_to_billing_is_stored_routed_and_offered(run, app):
    """A customer's email to billing@ becomes an email interaction in the billing queue, offered to
    an available billing agent; the sender becomes the customer's contact point."""
    app.switchboard.set_available("alice")
    message = EmailMessage()
    message["From"] = "Ana Silva <ana@example.org>"
    message["To"] = "billing@example.com"
    message["Subject"] = "Invoice 4411 charged twice"
    message["Message-ID"] = "<m1@example.org>"
    message.set_content("Hello, my card was charged twice for invoice 4411.")

    async def scenario():
        refused = await threads.deferToThread(send, smtp_port(app), message)
        assert refused == {}
        await app.switchboard.settled()

    run(scenario())
    customer = run(app.store.find_customer_by_email("ana@example.org"))
    (interaction,) = run(app.store.timeline(customer.id)).items
    assert (interaction.channel, interaction.queue, interaction.subject) == ("email", "billing", "Invoice 4411 charged twice")
    assert interaction.state == "offered" and interaction.agent == "alice"
    assert app.switchboard.offers[interaction.id]["agent"] == "alice"


def test_an_email_contact_is_one_write_then_routed_in_order(run, app):
    """A new email is stored already queued in the write that holds the message (``created`` in
    state queued, ``routed``, ``mail_received``); routing it writes no queue step of its own, and
    what the core said at once (``queued``) is logged before the offer it made at once."""
    app.switchboard.set_available("alice")
    message = EmailMessage()
    message["From"] = "Bo Lind <bo@example.org>"
    message["To"] = "billing@example.com"
    message["Subject"] = "Refund for invoice 77"
    message["Message-ID"] = "<order1@example.org>"
    message.set_content("Please refund invoice 77.")

    async def scenario():
        assert await threads.deferToThread(send, smtp_port(app), message) == {}
        await app.switchboard.settled()

    run(scenario())
    customer = run(app.store.find_customer_by_email("bo@example.org"))
    (interaction,) = run(app.store.timeline(customer.id)).items
    entries = run(app.store.interaction_events(interaction.id))
    kinds = [e.kind for e in entries]
    assert kinds[:3] == ["created", "routed", "mail_received"], kinds
    assert entries[0].details["state"] == "queued" and entries[1].details["queue"] == "billing"
    assert [e.details.get("step") for e in entries if e.details.get("step")] == ["offer"], kinds
    assert kinds.index("queued") < next(n for n, e in enumerate(entries) if e.details.get("step") == "offer")
    assert interaction.queued_at is not None and interaction.state == "offered" and interaction.agent == "alice"
