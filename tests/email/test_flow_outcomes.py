"""What the email flow does with forged bounces, capped acknowledgements, reopened work, odd
Message-IDs and an unreachable relay, on the real record."""

from __future__ import annotations

import socket
from pathlib import Path

from twisted.internet import reactor

from callcenter.runtime.clock import Clock
from callcenter.runtime.health import ChannelStatus, HealthCheck
from channels.email.outbox import OutboxSenderService
from channels.email.relay import RelayConfig, SmtpRelay
from channels.email.sink import MailEnvelope
from tests.email.test_end_to_end import until
from tests.email.test_mailflow import SMTP, complete, mail

CORPUS = Path(__file__).parent / "corpus"
NULL = MailEnvelope("support", "smtp", 0.0, mail_from="", recipients=("support@example.com",))


def dsn_for(original: str, recipient: str) -> bytes:
    """A permanent-failure delivery report about ``original`` sent to ``recipient``."""
    return (CORPUS / "dsn_permanent.eml").read_bytes().replace(b"cc.300.1@support.example", original.encode()) \
        .replace(b"nobody@customer.example", recipient.encode())


def test_a_forged_bounce_naming_a_customer_marks_nothing_and_is_listed(run, harness):
    """A delivery report for a Message-ID we never sent, naming a customer's address, leaves the
    address alone (their next mail is acknowledged) and is listed for an administrator."""
    run(harness.flow.accept_mail(mail(sender="nobody@customer.example"), SMTP))
    forged = run(harness.flow.accept_mail(dsn_for("never-sent@elsewhere.example", "nobody@customer.example"), NULL))
    assert forged.interaction_id is None and forged.flagged
    assert run(harness.mail.bouncing("nobody@customer.example")) is None
    [listed] = run(harness.flow.listed())
    assert listed.id == forged.message_ref and listed.review == "a delivery report for a message we did not send"
    run(harness.flow.accept_mail(mail(2, sender="nobody@customer.example", subject="again"), SMTP))
    assert len(run(harness.mail.outbox())) == 2


def test_a_bounce_marks_only_the_addresses_our_message_went_to(run, harness):
    """A genuine report about our acknowledgement that also names a bystander marks only the
    acknowledgement's recipient."""
    first = run(harness.flow.accept_mail(mail(sender="nobody@customer.example"), SMTP))
    report = dsn_for("t1@cc.example.com", "nobody@customer.example").replace(
        b"Final-Recipient: rfc822; nobody@customer.example",
        b"Final-Recipient: rfc822; nobody@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"Final-Recipient: rfc822; bystander@customer.example", 1)
    receipt = run(harness.flow.accept_mail(report, NULL))
    assert receipt.interaction_id == first.interaction_id
    assert run(harness.mail.bouncing("nobody@customer.example")) is not None
    assert run(harness.mail.bouncing("bystander@customer.example")) is None


def test_a_capped_acknowledgement_is_logged_as_not_sent(run, harness):
    """Past the per-address cap the log says the acknowledgement was not sent, and why."""
    for n in range(11):
        last = run(harness.flow.accept_mail(mail(n, subject=f"question {n}"), SMTP))
    [event] = [e for e in run(harness.records.interaction_events(last.interaction_id)) if e.kind == "mail_received"]
    assert event.details["auto_ack"] == "not sent: the address got 10 automatic replies already"
    first = run(harness.records.interaction_events(1))
    assert [e.details["auto_ack"] for e in first if e.kind == "mail_received"] == ["queued: email_auto_ack"]


def test_a_reopened_interaction_loses_its_old_disposition(run, harness):
    """A customer's reply to completed work puts it back in line without the old disposition,
    which the log keeps."""
    first = run(harness.flow.accept_mail(mail(), SMTP))
    complete(run, harness, first.interaction_id)
    run(harness.records.update_interaction_state(first.interaction_id, "completed", disposition="resolved"))
    run(harness.flow.accept_mail(mail(2, extra="References: <t1@cc.example.com>\r\n"), SMTP))
    again = run(harness.records.get_interaction(first.interaction_id))
    assert (again.state, again.disposition) == ("queued", None)
    step = [e for e in run(harness.records.interaction_events(again.id)) if e.kind == "state"][-1]
    assert step.details["previous_disposition"] == "resolved"


def test_a_message_id_without_angle_brackets_is_kept_and_threads(run, harness):
    """``Message-ID: abc@host`` (no brackets) is stored as the message's id and our acknowledgement
    answers it."""
    raw = mail().replace(b"Message-ID: <c1@customer.example>", b"Message-ID: bare-1@customer.example")
    receipt = run(harness.flow.accept_mail(raw, SMTP))
    assert run(harness.mail.get_message(receipt.message_ref)).message_id == "bare-1@customer.example"
    [ack] = run(harness.mail.outbox())
    assert b"In-Reply-To: <bare-1@customer.example>" in ack.raw


def test_health_shows_the_relay_down_while_it_cannot_be_reached(run, harness):
    """With nothing listening at the relay's address the outbox's attempt fails and /health's
    smtp_relay is down with the error; the item stays queued for a retry."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    relay = SmtpRelay(RelayConfig("127.0.0.1", closed_port, starttls=False, timeout=5))
    sender = OutboxSenderService(Clock(reactor), harness.mail.claim_due, harness.mail.mark_sent,
                                 harness.mail.mark_failed, relay.send, interval=60)
    health = HealthCheck(lambda: _true())
    health.add_channel("smtp_relay", lambda: ChannelStatus(sender.relay_state, sender.relay_detail))

    async def scenario():
        await harness.flow.accept_mail(mail(), SMTP)
        sender.startService()
        await until(lambda: sender.relay_state != "starting")
        await sender.stopService()
        return await health.report()

    overall, report = run(scenario(), timeout=30)
    assert overall == "degraded" and report["channels"]["smtp_relay"]["state"] == "down"
    assert report["channels"]["smtp_relay"]["detail"]
    [item] = run(harness.mail.outbox())
    assert item.state == "pending" and item.attempts == 1


async def _true() -> bool:
    """A database probe that answers."""
    return True
