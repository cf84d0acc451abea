"""The email flow on SQLite: storing, threading, acknowledgements, loops, bounces, replies."""

from __future__ import annotations

import email
from pathlib import Path

import pytest
from twisted.internet.defer import Deferred

from callcenter.intake.email import humanize_seconds
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
    """A first message creates a customer and a new email interaction, stored already queued (created,
    routed and mail_received in its log, in the write that stores the message: routing it writes no
    state change), announced and acknowledged."""
    receipt = run(harness.flow.accept_mail(mail(), SMTP))
    interaction = run(harness.records.get_interaction(receipt.interaction_id))
    assert (interaction.channel, interaction.state, interaction.queue) == ("email", "queued", "support")
    assert interaction.queued_at == interaction.created_at
    entries = run(harness.records.interaction_events(interaction.id))
    assert [e.kind for e in entries] == ["created", "routed", "mail_received"]
    assert entries[0].details == {"state": "queued"}
    routed = entries[1].details
    assert (routed["queue"], routed["rule"]) == ("support", "default") and routed["skipped"]  # the rules passed over
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


def test_redelivery_stores_nothing_twice(run, harness):
    """The same message delivered again gets a duplicate receipt: one interaction, one acknowledgement."""
    first = run(harness.flow.accept_mail(mail(), SMTP))
    again = run(harness.flow.accept_mail(mail().replace(b"\r\n", b"\n"), SMTP))
    assert again.duplicate and again.interaction_id == first.interaction_id
    assert len(harness.new) == 1 and len(run(harness.mail.outbox())) == 1


def test_crash_after_storing_carries_on_without_duplicate(run, harness):
    """A message stored before a crash but never assigned is processed once when it comes again."""
    from callcenter.intake.email_arrival import new_message
    from channels.email.parsing import parse_message

    stored = run(harness.mail.store_message(new_message(parse_message(mail()), SMTP)))
    receipt = run(harness.flow.accept_mail(mail(), SMTP))
    assert receipt.message_ref == stored.id and receipt.interaction_id is not None
    assert len(harness.new) == 1 and len(run(harness.mail.messages(receipt.interaction_id))) == 2  # in + ack


def test_a_failure_inside_the_write_stores_nothing_and_the_retry_makes_one_interaction(run, database,
                                                                                       shipped_settings):
    """The message, its customer, interaction, log and acknowledgement are one transaction: a
    failure half-way stores none of them, and the retried delivery makes exactly one of each
    (on SQLite and PostgreSQL)."""
    harness = FlowHarness(database, shipped_settings)
    real_route, calls = harness.flow._route, []

    def route_then_crash(facts):
        calls.append(facts)
        if len(calls) == 1:
            raise ConnectionError("server killed mid-way")
        return real_route(facts)

    harness.flow._route = route_then_crash
    with pytest.raises(ConnectionError):
        run(harness.flow.accept_mail(mail(), SMTP))
    assert run(harness.records.find_customer_by_email("ann@customer.example")) is None
    assert run(harness.mail.outbox()) == [] and harness.new == []
    receipt = run(harness.flow.accept_mail(mail(), SMTP))
    again = run(harness.flow.accept_mail(mail(), SMTP))
    assert again.duplicate and again.interaction_id == receipt.interaction_id
    customer = run(harness.records.find_customer_by_email("ann@customer.example"))
    assert [i.id for i in run(harness.records.timeline(customer.id)).items] == [receipt.interaction_id]
    assert len(run(harness.mail.messages(receipt.interaction_id))) == 2   # the message and the acknowledgement
    assert len(harness.new) == 1 and len(run(harness.mail.outbox())) == 1


def test_messages_arriving_together_share_one_commit_and_each_gets_its_own_outcome(run, database, shipped_settings):
    """Forty messages delivered at once (new senders, repeats, a reply) are written in fewer
    transactions than messages, and each gets the outcome it would get alone."""
    from twisted.internet.defer import gatherResults

    harness = FlowHarness(database, shipped_settings)
    writes = []
    real_write = database.write

    async def counting_write(fn, *args):
        writes.append(fn)
        return await real_write(fn, *args)

    database.write = counting_write
    raws = [mail(n, sender=f"c{n % 10}@customer.example", subject=f"q{n}") for n in range(40)]
    receipts = run(gatherResults([Deferred.fromCoroutine(harness.flow.accept_mail(r, SMTP)) for r in raws]))
    database.write = real_write
    assert len({r.interaction_id for r in receipts}) == 40 and not any(r.duplicate for r in receipts)
    assert len(writes) < 40
    per_customer = {}
    for n, receipt in enumerate(receipts):
        per_customer.setdefault(n % 10, set()).add(run(harness.records.get_interaction(receipt.interaction_id)).customer_id)
    assert all(len(ids) == 1 for ids in per_customer.values()) and len({min(v) for v in per_customer.values()}) == 10
    assert len(run(harness.mail.outbox())) == 40


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
def test_automatic_mail_that_threads_nowhere_is_listed_not_routed(run, harness, name):
    """Auto-replies and list mail matching no interaction reach no agent and get no answer: they
    are listed for an administrator with the loop guard's reason."""
    receipt = run(harness.flow.accept_mail((CORPUS / f"{name}.eml").read_bytes(), SMTP))
    assert receipt.interaction_id is None and receipt.flagged
    assert run(harness.mail.outbox()) == [] and harness.new == []
    [listed] = run(harness.flow.listed())
    assert listed.id == receipt.message_ref and listed.review.startswith("automatic mail: ")


def test_automatic_reply_to_our_acknowledgement_joins_its_interaction_quietly(run, harness):
    """An out-of-office answering our acknowledgement joins that interaction, with nobody told
    and nothing sent back."""
    first = run(harness.flow.accept_mail(mail(), SMTP))
    ooo = mail(2, subject="Auto: We received your message",
               extra="Auto-Submitted: auto-replied\r\nIn-Reply-To: <t1@cc.example.com>\r\n")
    receipt = run(harness.flow.accept_mail(ooo, SMTP))
    assert receipt.interaction_id == first.interaction_id
    assert harness.replies == [] and len(harness.new) == 1 and len(run(harness.mail.outbox())) == 1
    event = run(harness.records.interaction_events(first.interaction_id))[-1]
    assert event.kind == "mail_received" and event.details["automatic"].startswith("Auto-Submitted")


def test_mail_from_our_own_address_and_null_sender_get_no_acknowledgement(run, harness):
    """Our own addresses and the SMTP null sender never get an automatic reply, and are listed."""
    run(harness.flow.accept_mail(mail(1, sender="billing@example.com"), SMTP))
    null = MailEnvelope("support", "smtp", 0.0, mail_from="", recipients=("support@example.com",))
    run(harness.flow.accept_mail(mail(2), null))
    assert run(harness.mail.outbox()) == []
    assert len(run(harness.flow.listed())) == 2


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


def test_unparseable_mail_becomes_a_flagged_interaction_with_the_raw_message(run, harness):
    """Garbage reaches a person: an interaction in the mailbox's queue, for an anonymous customer,
    with the raw bytes kept and nothing sent."""
    raw = (CORPUS / "unparseable_garbage.eml").read_bytes()
    receipt = run(harness.flow.accept_mail(raw, SMTP))
    assert receipt.flagged and receipt.interaction_id is not None
    assert run(harness.mail.raw(receipt.message_ref)) == raw
    assert run(harness.mail.get_message(receipt.message_ref)).unparseable
    interaction = run(harness.records.get_interaction(receipt.interaction_id))
    assert interaction.queue == "support" and interaction.payload["unreadable"] is True
    assert run(harness.records.get_customer(interaction.customer_id)).provisional
    assert run(harness.mail.outbox()) == [] and len(harness.new) == 1
    assert run(harness.flow.accept_mail(raw, SMTP)).duplicate


def test_unreadable_mail_goes_to_the_configured_queue(run, sqlite_database, shipped_settings):
    """With an unreadable queue configured, unparseable mail lands there whatever the mailbox."""
    harness = FlowHarness(sqlite_database, shipped_settings, unreadable_queue="billing")
    receipt = run(harness.flow.accept_mail((CORPUS / "unparseable_garbage.eml").read_bytes(), SMTP))
    assert run(harness.records.get_interaction(receipt.interaction_id)).queue == "billing"


def test_a_sender_without_a_usable_address_becomes_an_anonymous_customer(run, harness):
    """An address the record cannot hold: an anonymous provisional customer, a routed
    interaction, no acknowledgement. No From: at all: the envelope sender (MAIL FROM, where
    RFC 3834 sends automatic answers too) is the customer."""
    odd = run(harness.flow.accept_mail(mail(1, sender="Root <user@[127.0.0.1]>"), SMTP))
    first = run(harness.records.get_interaction(odd.interaction_id))
    customer = run(harness.records.get_customer(first.customer_id))
    assert customer.provisional and customer.contact_points == () and customer.display_name == "Root"
    assert first.payload["sender_as_written"] == "user@[127.0.0.1]"
    assert run(harness.mail.outbox()) == [] and len(harness.new) == 1
    none = run(harness.flow.accept_mail(mail(2).replace(b"From: Ann <ann@customer.example>\r\n", b""), SMTP))
    assert none.interaction_id and none.interaction_id != odd.interaction_id and len(harness.new) == 2
    second = run(harness.records.get_interaction(none.interaction_id))
    assert second.payload["sender_source"] == "envelope"
    owner = run(harness.records.get_customer(second.customer_id))
    assert [(p.kind, p.value) for p in owner.contact_points] == [("email", "ann@customer.example")]
    assert [item.recipients for item in run(harness.mail.outbox())] == [("ann@customer.example",)]


def test_the_customer_gets_the_from_name_and_the_language_of_the_message(run, harness):
    """A new customer is named after the From: display name; one who writes Chinese gets the
    language zh, so the Mandarin rule routes it and the acknowledgement is in Chinese."""
    raw = mail(1, sender="=?utf-8?b?546L5Lyf?= <wang@customer.example>", subject="=?utf-8?b?5omT5Y2w5py65Z2P5LqG?=",
               body="\u6211\u7684\u6253\u5370\u673a\u574f\u4e86\uff0c\u8bf7\u5e2e\u5fd9\u3002")
    raw = raw.replace(b"\r\n\r\n", b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", 1)
    receipt = run(harness.flow.accept_mail(raw, SMTP))
    interaction = run(harness.records.get_interaction(receipt.interaction_id))
    customer = run(harness.records.get_customer(interaction.customer_id))
    assert (customer.display_name, customer.language) == ("王伟", "zh")
    assert harness.new[0][1].match.rule == "email-mandarin"
    [ack] = parsed_outbox(harness, run)
    assert "我们已收到您的来信" in str(email.header.make_header(email.header.decode_header(ack["Subject"])))
    assert "王伟，您好" in ack.get_payload(decode=True).decode()


def test_a_known_name_and_language_are_kept(run, harness):
    """A customer who already has a name and a language keeps them."""
    customer = run(harness.records.find_or_create_customer("email", "ann@customer.example"))
    run(harness.records.update_customer(customer.id, display_name="Ann Lee", language="en"))
    run(harness.flow.accept_mail(mail(sender="Annie <ann@customer.example>", body="你好你好你好"), SMTP))
    again = run(harness.records.get_customer(customer.id))
    assert (again.display_name, again.language) == ("Ann Lee", "en")


def test_agent_reply_is_threaded_and_queued(run, harness):
    """send_reply answers the latest received message with In-Reply-To, References and the subject
    tag, and sends the agent's text exactly as written (greeting and signature once)."""
    first = run(harness.flow.accept_mail(mail(), SMTP))
    run(harness.flow.accept_mail(mail(2, extra="In-Reply-To: <t1@cc.example.com>\r\nReferences: <c1@customer.example> <t1@cc.example.com>\r\n"), SMTP))
    draft = run(harness.flow.reply_draft(first.interaction_id, "alice", agent_name="Alice"))
    assert draft["body"].startswith("Hello Ann,") and draft["body"].rstrip().endswith("Alice")
    written = draft["body"].replace("\n\n\n", "\n\nPlease restart it.\n\n")
    item = run(harness.flow.send_reply(first.interaction_id, "alice", written, agent_name="Alice"))
    out = email.message_from_bytes(item.raw)
    assert out["Subject"] == f"Re: [#CC-{first.interaction_id}] Printer broken"
    assert out["In-Reply-To"] == "<c2@customer.example>"
    assert out["References"] == "<c1@customer.example> <t1@cc.example.com> <c2@customer.example>"
    assert out["To"] == "ann@customer.example" and "Auto-Submitted" not in out
    body = out.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert body.rstrip("\n") == written.rstrip("\n")
    assert body.count("Hello") == 1 and body.count("Kind regards") == 1
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


def test_a_large_message_is_parsed_in_the_pool_and_a_small_one_inline(run, sqlite_database, shipped_settings):
    """Only a message over INLINE_PARSE_BYTES goes to the parse pool (off the reactor); both are
    stored and routed the same way."""
    from twisted.internet import reactor

    from callcenter.intake.email import INLINE_PARSE_BYTES
    from channels.email.parsepool import ParsePool
    from tests.email.conftest import FlowHarness

    pool, sizes = ParsePool(reactor, max_concurrent=1, mode="thread"), []

    async def parse(raw, limits, envelope_sender):
        sizes.append(len(raw))
        return await pool.parse(raw, limits, envelope_sender)

    pool.start()
    try:
        harness = FlowHarness(sqlite_database, shipped_settings, parse=parse)
        small = run(harness.flow.accept_mail(mail(1), SMTP))
        big_body = ("A long report line.\r\n" * (INLINE_PARSE_BYTES // 20 + 10))
        big = run(harness.flow.accept_mail(mail(2, body=big_body), SMTP))
    finally:
        pool.stop()
    assert len(sizes) == 1 and sizes[0] > INLINE_PARSE_BYTES
    assert small.interaction_id and big.interaction_id and len(harness.new) == 2
    stored = run(harness.mail.messages(big.interaction_id))
    assert "A long report line." in stored[0].body_text and not stored[0].unparseable
