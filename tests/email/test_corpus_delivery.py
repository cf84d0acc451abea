"""Every real message of tests/fixtures/email/corpus delivered over SMTP on loopback, as an MTA would.

The corpus holds real messages from the public test suites of mail-parsing libraries
(SOURCES.md names each file's repository, path and licence), stored with CRLF line endings.
Each is sent byte for byte (a raw socket client: smtplib would rewrite bare CR and LF) to
the real listener. The first test checks what an agent would see from the parse; the
second hands the messages to the real mail flow on SQLite and checks that every message
that is not automatic reaches a person, and that nothing accepted stays invisible.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from twisted.internet import reactor

from callcenter.runtime.clock import Clock
from channels.email.bounces import parse_bounce
from channels.email.loopguard import is_automatic
from channels.email.parsing import ParsedMessage, parse_message
from channels.email.sink import MailEnvelope, MailReceipt
from channels.email.smtplistener import SmtpListenerService
from tests.email.conftest import FlowHarness
from tests.email.test_listener_bytes import deliver_raw

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "email" / "corpus"
FILES = sorted(CORPUS.glob("*.eml"))
ENVELOPE = "mta-envelope@corpus.example"
OWN = ("support@example.com",)
_BASE64_LINE = re.compile(r"(?m)^[A-Za-z0-9+/=]{60,}$")
# Messages whose source has no body text at all (truncated test fixtures); nothing to show.
EMPTY_IN_SOURCE = {
    "mail-error_emails-bad_date_header.eml", "mail-error_emails-bad_date_header2.eml",
    "mail-error_emails-empty_in_reply_to.eml", "mail-error_emails-missing_body.eml",
    "mail-error_emails-must_supply_encoding.eml", "flanker-false-multipart.eml",
}
# What a few messages must be recognized as: the loop guard's reason starts with the value.
AUTOMATIC = {
    "flanker-complaints-yahoo.eml": "an abuse feedback report",
    "flanker-disposition-notification.eml": "a read receipt",
    "flanker-bounce-office365.eml": "Auto-Submitted: auto-replied",
    "mail-multipart_report_emails-report_530.eml": "Auto-Submitted: auto-generated",
    "flanker-bounce-gmail-invalid-address.eml": "empty return path",
    "php-m0015.eml": "mailing list",
}
BOUNCES = {
    "mail-multipart_report_emails-report_530.eml": "200712232303.lBNN3jDq002941@mail12.rrrr.com.au",
    "flanker-bounce-office365.eml": "20171013111011.20866.254C2F3A4D7AA526@ninomail.com",
    "flanker-bounce-gmail-invalid-address.eml": "CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com",
}
NOT_BOUNCES = ("flanker-complaints-yahoo.eml", "flanker-complaints-aol.eml", "flanker-disposition-notification.eml")
LANGUAGES = {
    "mail-multi_charset-japanese_iso_2022.eml": "ja", "mail-multi_charset-ks_c_5601-1987.eml": "ko",
    "flanker-bilingual-simple.eml": "ru", "php-issue149.eml": "he", "mail-plain_emails-basic_email.eml": None,
}


def agent_view_problems(name: str, raw: bytes, parsed: ParsedMessage) -> list[str]:
    """What an agent would find wrong with this message's screen pop (empty when nothing)."""
    if parsed.unparseable:
        return [f"unparseable: {parsed.reason}"]
    found = []
    if parsed.from_ is None:
        found.append("no sender")
    if is_automatic(parsed, OWN) is None:
        if not parsed.text.strip() and not parsed.attachments and name not in EMPTY_IN_SOURCE:
            found.append("nothing to read")
        if len(_BASE64_LINE.findall(parsed.text)) >= 3:
            found.append("base64 shown as the body")
    broken_in_source = "\ufffd".encode() in raw or any("broken sequences replaced" in p for p in parsed.problems)
    if not broken_in_source:
        shown = [parsed.subject, parsed.text, parsed.from_.name if parsed.from_ else ""]
        shown += [a.filename or "" for a in parsed.attachments]
        if any("\ufffd" in text for text in shown):
            found.append("U+FFFD where the source is valid")
    return found


class ParsingSink:
    """A sink with the real signature that parses each message as the flow does and keeps it."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, MailEnvelope, ParsedMessage]] = []

    async def __call__(self, raw: bytes, envelope: MailEnvelope) -> MailReceipt:
        """Parse with the envelope sender as last fallback; record; acknowledge."""
        self.received.append((raw, envelope, parse_message(raw, envelope_sender=envelope.mail_from)))
        return MailReceipt(message_ref=len(self.received), interaction_id=None)


def deliver_all(run, in_thread, sink) -> dict[str, tuple]:
    """Deliver every corpus file over SMTP to a listener around ``sink``; the final reply per file."""
    service = SmtpListenerService(reactor, sink, {"support@example.com": "support"}, Clock(reactor), port=0)
    service.startService()

    def send_all():
        return {f.name: deliver_raw(service.port, f.read_bytes(), f"<{ENVELOPE}>".encode())[3] for f in FILES}

    try:
        return run(in_thread(send_all))
    finally:
        run(service.stopService())


def test_the_corpus_is_large_and_documented():
    """At least 100 real messages, each listed in SOURCES.md with its origin, all with CRLF line ends."""
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    assert len(FILES) >= 100
    assert [f.name for f in FILES if f"`{f.name}`" not in sources] == []
    assert [f.name for f in FILES if re.search(rb"(?<!\r)\n", f.read_bytes())] == []


def test_every_message_delivered_over_smtp_reads_well(run, in_thread):
    """Each message is stored byte for byte and shows a sender, a readable body, and its automatic kind."""
    sink = ParsingSink()
    replies = deliver_all(run, in_thread, sink)
    assert {name: reply[0] for name, reply in replies.items() if reply[0] != 250} == {}
    by_name = {}
    for f, (raw, envelope, parsed) in zip(FILES, sink.received):
        assert raw == f.read_bytes(), f.name
        assert envelope.mail_from == ENVELOPE
        by_name[f.name] = parsed
    problems = {name: found for name, parsed in by_name.items()
                if (found := agent_view_problems(name, parsed.raw, parsed))}
    assert problems == {}
    reasons = {name: is_automatic(by_name[name], OWN) or "" for name in AUTOMATIC}
    assert {name: reason for name, reason in reasons.items() if not reason.startswith(AUTOMATIC[name])} == {}
    assert {name: (parse_bounce(by_name[name]) or None) and parse_bounce(by_name[name]).original_message_id
            for name in BOUNCES} == BOUNCES
    assert [name for name in NOT_BOUNCES if parse_bounce(by_name[name]) is not None] == []
    assert {name: by_name[name].language for name in LANGUAGES} == LANGUAGES


def test_every_message_reaches_a_person_or_is_listed(run, in_thread, sqlite_database, shipped_settings):
    """Through the real mail flow: a person's message makes an interaction; an automatic one is listed."""
    harness = FlowHarness(sqlite_database, shipped_settings)
    receipts: list[tuple[bytes, MailReceipt]] = []

    async def sink(raw: bytes, envelope: MailEnvelope) -> MailReceipt:
        receipt = await harness.flow.accept_mail(raw, envelope)
        receipts.append((raw, receipt))
        return receipt

    replies = deliver_all(run, in_thread, sink)
    assert {name: reply[0] for name, reply in replies.items() if reply[0] != 250} == {}
    invisible, unrouted = [], []
    for f, (raw, receipt) in zip(FILES, receipts):
        if receipt.duplicate:
            continue
        if receipt.interaction_id is None and not receipt.flagged:
            invisible.append(f.name)
        parsed = parse_message(raw, envelope_sender=ENVELOPE)
        person = not parsed.unparseable and is_automatic(parsed, OWN, ENVELOPE) is None
        if person and receipt.interaction_id is None:
            unrouted.append(f.name)
    assert (invisible, unrouted) == ([], [])
