"""The email flow on SQLite: storing, threading, acknowledgements, loops, bounces, replies."""

from __future__ import annotations

import email
from pathlib import Path

import pytest

from callcenter.mailflow import humanize_seconds
from channels.email.sink import MailEnvelope
from tests.email.conftest import FlowHarness

CORPUS = Path(__file__).parent / "corpus"
SMTP = MailEnvelope(mailbox="support", source="smtp", received_at=0.0, mail_from="ann@customer.example",
                    recipients=("support@example.com",))


def mail(n: int = 1, sender: str = "Ann <ann@customer.example>", subject: str = "Printer broken",
         extra: str = "", body: str = "It does not print.") -> bytes:
    """A plain customer message number ``n``."""
    return (f"From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <c{n}@customer.example>\r\nDate: Tue, 17 Nov 2026 10:00:00 +0000\r\n{extra}\r\n{body}\r\n").encode()


def parsed_outbox(harness: FlowHarness, run) -> list[email.message.Message]:
    """Every queued message, parsed."""
    return [email.message_from_bytes(i.raw) for i in run(harness.mail.outbox())]


def test_new_message_makes_a_routed_interaction_and_an_acknowledgement(run, harness):
    """A first message creates a customer and a new email interaction, announced and acknowledged."""
    receipt = run(harness.flow.accept_mail(mail(), SMTP))
    interaction = run(harness.records.get_interaction(receipt.interaction_id))
    assert (interaction.channel, interaction.state, interaction.queue) == ("email", "new", "support")
    assert interaction.payload["mailbox"] == "support" and interaction.subject == "Printer broken"
    customer = run(harness.records.find_customer_by_email("ANN@customer.example"))
    assert customer.id == interaction.customer_id
    [(announced, routing)] = harness.new
    assert announced.id == interaction.id and routing.match.rule == "default" and not routing.queue_closed
    [ack] = parsed_outbox(harness, run)
    ref = f"CC-{interaction.id}"
    assert ack["Subject"] == f"[#{ref}] We received your message"
    assert ack["To"] == "ann@customer.example" and ack["From"] == "support@example.com"
    assert (ack["In-Reply-To"], ack["References"]) == ("<c1@customer.example>", "<c1@customer.example>")
    assert ack["Auto-Submitted"] == "auto-replied" and ack["Message-ID"] == "<t1@cc.example.com>"
    text = ack.get_payload(decode=True).decode()
    assert f"#{ref}" in text and "within 1 day" in text  # the basic tier's promise
    assert harness.wakes == 1
    assert [e.kind for e in run(harness.records.interaction_events(interaction.id))] == ["created", "mail_received"]


def test_redelivery_stores_nothing_twice(run, harness):
    """The same message delivered again gets a duplicate receipt: one interaction, one acknowledgement."""
    first = run(harness.flow.accept_mail(mail(), SMTP))
    again = run(harness.flow.accept_mail(mail().replace(b"\r\n", b"\n"), SMTP))
    assert again.duplicate and again.interaction_id == first.interaction_id
    assert len(harness.new) == 1 and len(run(harness.mail.outbox())) == 1


def test_crash_after_storing_carries_on_without_duplicate(run, harness):
    """A message stored before a crash but never assigned is processed once when it comes again."""
    from callcenter.mailflow import _new_message
    from channels.email.parsing import parse_message

    stored = run(harness.mail.store_message(_new_message(parse_message(mail()), SMTP)))
    receipt = run(harness.flow.accept_mail(mail(), SMTP))
    assert receipt.message_ref == stored.id and receipt.interaction_id is not None
    assert len(harness.new) == 1 and len(run(harness.mail.messages(receipt.interaction_id))) == 2  # in + ack


def test_crash_between_creating_the_interaction_and_attaching_the_message_makes_no_second_one(run, harness):
    """The interaction was created, then the server died before the message was attached to it:
    the redelivered message joins that interaction instead of making another."""
    real_assign = harness.mail.assign
    crashes = []

    async def assign_then_crash(*args, **kwargs):
        if not crashes:
            crashes.append(args)
            raise ConnectionError("server killed mid-way")
        return await real_assign(*args, **kwargs)

    harness.mail.assign = assign_then_crash
    with pytest.raises(ConnectionError):
        run(harness.flow.accept_mail(mail(), SMTP))
    receipt = run(harness.flow.accept_mail(mail(), SMTP))
    customer = run(harness.records.find_customer_by_email("ann@customer.example"))
    timeline = run(harness.records.timeline(customer.id)).items
    assert [i.id for i in timeline] == [receipt.interaction_id]
    assert len(run(harness.mail.messages(receipt.interaction_id))) == 2   # the message and the acknowledgement


def test_reply_threads_by_references_to_our_acknowledgement(run, harness):
    """A reply quoting our Message-ID joins the open interaction and is announced as a reply."""
    first = run(harness.flow.accept_mail(mail(), SMTP))
    reply = mail(2, subject="Re: We received your message", extra="In-Reply-To: <t1@cc.example.com>\r\n")
    second = run(harness.flow.accept_mail(reply, SMTP))
    assert second.interaction_id == first.interaction_id
    assert [i.id for i in harness.replies] == [first.interaction_id] and len(harness.new) == 1
    assert len(run(harness.mail.outbox())) == 1  # no acknowledgement of a reply


def test_subject_tag_threads_only_for_the_same_customer(run, harness):
    """A [#CC-n] tag joins interaction n for its customer; a stranger's gets a new, linked interaction."""
    first = run(harness.flow.accept_mail(mail(), SMTP))
    tag = f"[#CC-{first.interaction_id}]"
    same = run(harness.flow.accept_mail(mail(2, subject=f"more info {tag}"), SMTP))
    assert same.interaction_id == first.interaction_id
    stranger = run(harness.flow.accept_mail(mail(3, sender="eve@other.example", subject=f"Re: {tag}"), SMTP))
    assert stranger.interaction_id != first.interaction_id
    linked = run(harness.records.get_interaction(stranger.interaction_id))
    assert linked.payload["linked_to"] == first.interaction_id


def complete(run, harness, iid: int) -> None:
    """Walk an interaction to completed through the record store."""
    for state in ("queued", "offered", "accepted", "connected", "wrap_up", "completed"):
        run(harness.records.update_interaction_state(iid, state))


def test_reply_to_completed_interaction_reopens_it(run, harness):
    """With the reopen policy a reply puts the completed interaction back in its queue."""
    first = run(harness.flow.accept_mail(mail(), SMTP))
    complete(run, harness, first.interaction_id)
    second = run(harness.flow.accept_mail(mail(2, extra="References: <t1@cc.example.com>\r\n"), SMTP))
    assert second.interaction_id == first.interaction_id
    assert run(harness.records.get_interaction(first.interaction_id)).state == "queued"
    assert harness.new[-1][0].id == first.interaction_id and harness.new[-1][1].reopened


def test_reply_to_closed_interaction_with_new_linked_policy(run, sqlite_database, shipped_settings):
    """With the new-linked policy a reply to a completed interaction starts a new one linked to it."""
    harness = FlowHarness(sqlite_database, shipped_settings, policy="new-linked")
    first = run(harness.flow.accept_mail(mail(), SMTP))
    complete(run, harness, first.interaction_id)
    second = run(harness.flow.accept_mail(mail(2, extra="In-Reply-To: <c1@customer.example>\r\n"), SMTP))
    assert second.interaction_id != first.interaction_id
    assert run(harness.records.get_interaction(second.interaction_id)).payload["linked_to"] == first.interaction_id


@pytest.mark.parametrize("name", ["auto_submitted", "vacation_xautoreply", "mailing_list"])
def test_automatic_mail_gets_no_acknowledgement(run, harness, name):
    """Auto-replies and list mail still become interactions but are never answered automatically."""
    receipt = run(harness.flow.accept_mail((CORPUS / f"{name}.eml").read_bytes(), SMTP))
    assert receipt.interaction_id is not None and run(harness.mail.outbox()) == []
    [event] = [e for e in run(harness.records.interaction_events(receipt.interaction_id)) if e.kind == "mail_received"]
    assert event.details["auto_ack"].startswith("not sent: ")


def test_mail_from_our_own_address_and_null_sender_get_no_acknowledgement(run, harness):
    """Our own addresses and the SMTP null sender never get an automatic reply."""
    run(harness.flow.accept_mail(mail(1, sender="billing@example.com"), SMTP))
    null = MailEnvelope("support", "smtp", 0.0, mail_from="", recipients=("support@example.com",))
    run(harness.flow.accept_mail(mail(2), null))
    assert run(harness.mail.outbox()) == []


def test_per_address_cap_of_ten_acknowledgements(run, harness):
    """An address writing eleven new messages gets ten acknowledgements; the eleventh is held back."""
    for n in range(11):
        run(harness.flow.accept_mail(mail(n, subject=f"question {n}"), SMTP))
    assert len(harness.new) == 11 and len(run(harness.mail.outbox())) == 10
    harness.fake_clock.advance(3 * 3600 + 1)
    run(harness.flow.accept_mail(mail(99, subject="later"), SMTP))
    assert len(run(harness.mail.outbox())) == 11


def test_acknowledgement_promises_the_customer_tier_response_time(run, harness):
    """A platinum customer is promised the platinum response time."""
    customer = run(harness.records.find_or_create_customer("email", "ann@customer.example"))
    run(harness.records.update_customer(customer.id, tier="platinum"))
    run(harness.flow.accept_mail(mail(), SMTP))
    [ack] = parsed_outbox(harness, run)
    assert "within 1 hour" in ack.get_payload(decode=True).decode()


def test_closed_queue_sends_the_closed_hours_template(run, harness):
    """When the queue is closed the closed-hours template answers, and routing is told."""
    harness.open_queues = False
    run(harness.flow.accept_mail(mail(), SMTP))
    [ack] = parsed_outbox(harness, run)
    assert "we are closed right now" in ack["Subject"] and harness.new[0][1].queue_closed


def test_bounce_attaches_to_the_interaction_and_marks_the_address(run, harness):
    """A DSN for our reply joins its interaction and marks the failed address as bouncing."""
    first = run(harness.flow.accept_mail(mail(sender="nobody@customer.example"), SMTP))
    dsn = (CORPUS / "dsn_permanent.eml").read_bytes().replace(b"cc.300.1@support.example", b"t1@cc.example.com")
    receipt = run(harness.flow.accept_mail(dsn, MailEnvelope("support", "smtp", 0.0, mail_from="")))
    assert receipt.interaction_id == first.interaction_id
    assert run(harness.mail.bouncing("nobody@customer.example")).status == "5.1.1"
    kinds = [e.kind for e in run(harness.records.interaction_events(first.interaction_id))]
    assert kinds[-1] == "mail_bounced" and len(harness.new) == 1 and len(run(harness.mail.outbox())) == 1
    run(harness.flow.accept_mail(mail(2, sender="nobody@customer.example", subject="new"), SMTP))
    assert len(run(harness.mail.outbox())) == 1  # no acknowledgement to a bouncing address


def test_unparseable_mail_is_kept_and_flagged(run, harness):
    """Garbage is stored raw and flagged, with no interaction and nothing sent."""
    raw = (CORPUS / "unparseable_garbage.eml").read_bytes()
    receipt = run(harness.flow.accept_mail(raw, SMTP))
    assert receipt.flagged and receipt.interaction_id is None
    assert run(harness.mail.raw(receipt.message_ref)) == raw
    assert run(harness.mail.get_message(receipt.message_ref)).unparseable


def test_agent_reply_is_threaded_and_queued(run, harness):
    """send_reply answers the latest received message with In-Reply-To, References and the subject tag."""
    first = run(harness.flow.accept_mail(mail(), SMTP))
    run(harness.flow.accept_mail(mail(2, extra="In-Reply-To: <t1@cc.example.com>\r\nReferences: <c1@customer.example> <t1@cc.example.com>\r\n"), SMTP))
    item = run(harness.flow.send_reply(first.interaction_id, "alice", "Please restart it.", agent_name="Alice"))
    out = email.message_from_bytes(item.raw)
    assert out["Subject"] == f"Re: [#CC-{first.interaction_id}] Printer broken"
    assert out["In-Reply-To"] == "<c2@customer.example>"
    assert out["References"] == "<c1@customer.example> <t1@cc.example.com> <c2@customer.example>"
    assert out["To"] == "ann@customer.example" and "Auto-Submitted" not in out
    body = out.get_payload(decode=True).decode()
    assert "Please restart it." in body and "Alice" in body
    assert item.recipients == ("ann@customer.example",) and item.envelope_from == "contact@example.com"
    events = run(harness.records.interaction_events(first.interaction_id))
    assert events[-1].kind == "mail_reply_queued" and events[-1].actor == "alice"
    # The customer's answer to the agent's reply threads back by its Message-ID.
    answer = mail(3, extra=f"In-Reply-To: {out['Message-ID']}\r\n")
    assert run(harness.flow.accept_mail(answer, SMTP)).interaction_id == first.interaction_id


def test_reply_from_a_named_template_with_context(run, harness):
    """A template name renders that template with the interaction's fields and the given context."""
    first = run(harness.flow.accept_mail(mail(), SMTP))
    item = run(harness.flow.send_reply(first.interaction_id, "alice", "email_reply", context={"body": "Fixed."}))
    assert "Fixed." in email.message_from_bytes(item.raw).get_payload(decode=True).decode()


def test_humanized_response_times():
    """Tier response times read naturally."""
    assert [humanize_seconds(s) for s in (3600, 14400, 86400, 5400, 30)] == [
        "1 hour", "4 hours", "1 day", "90 minutes", "30 seconds"]


def test_quoted_history_position_is_recorded_for_folding(run, harness):
    """A Gmail-style reply keeps its whole text, with where the quoted history starts."""
    raw = (CORPUS / "gmail_reply.eml").read_bytes()
    receipt = run(harness.flow.accept_mail(raw, SMTP))
    stored = run(harness.mail.get_message(receipt.message_ref))
    cut = stored.details["new_text_length"]
    assert stored.details["quote_marker"] == "attribution"
    assert stored.body_text[cut:].lstrip().startswith("On ") and "wrote:" in stored.body_text[cut:]
