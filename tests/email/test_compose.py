"""Composing outgoing mail: threading headers, loop-suppression headers, no header injection."""

from __future__ import annotations

import email
from datetime import datetime, timezone

import pytest

from channels.email.compose import OutgoingMessage, compose, new_message_id

NOW = datetime(2026, 11, 17, 10, 0, tzinfo=timezone.utc)


def test_reply_headers_and_automatic_marks():
    """In-Reply-To, References (parent appended) and the RFC 3834 marks are written; CRLF line ends."""
    raw = compose(OutgoingMessage("support@example.com", ("ann@customer.example",), "Re: [#CC-1] Hi", "Body",
                                  "t1@cc.example.com", NOW, in_reply_to="c2@x", references=("c1@x",),
                                  automatic=True, reference="CC-1"))
    msg = email.message_from_bytes(raw)
    assert (msg["In-Reply-To"], msg["References"]) == ("<c2@x>", "<c1@x> <c2@x>")
    assert (msg["Auto-Submitted"], msg["X-Auto-Response-Suppress"]) == ("auto-replied", "All")
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_line_breaks_in_subject_and_name_cannot_inject_headers():
    """CR/LF in a subject or display name become spaces: no extra header appears."""
    raw = compose(OutgoingMessage("support@example.com", ("ann@customer.example",), "Hi\r\nBcc: evil@x.example",
                                  "Body", "t2@cc.example.com", NOW, from_name="Support\nX-Evil: 1"))
    msg = email.message_from_bytes(raw)
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert msg["Subject"] == "Hi Bcc: evil@x.example"


def test_bad_addresses_and_ids_are_refused():
    """An address with separators or a Message-ID part with spaces raises ValueError."""
    with pytest.raises(ValueError):
        compose(OutgoingMessage("support@example.com", ("a@x, b@y",), "s", "b", "t3@cc", NOW))
    with pytest.raises(ValueError):
        new_message_id("has space", "cc.example.com")
    assert new_message_id("abc", "cc.example.com") == "abc@cc.example.com"


@pytest.mark.parametrize("text", ["Hello José, your café order is ready.\n" * 30, "您好，打印机已经修好了。\n" * 5,
                                  "Привет! " * 40, "a" * 1500 + "\nplain"])
def test_every_reply_is_seven_bit_on_the_wire_and_reads_back_the_same(text):
    """Non-ASCII text and over-long lines go quoted-printable or base64: no byte above 127, no line
    over 998 octets, so no relay needs BODY=8BITMIME; the text decodes back unchanged."""
    raw = compose(OutgoingMessage("support@example.com", ("ann@example.org",), "Re: 打印机", text, "r1@cc.example", NOW))
    assert max(raw) < 128 and max(len(line) for line in raw.split(b"\r\n")) <= 998
    decoded = email.message_from_bytes(raw).get_payload(decode=True).decode("utf-8")
    assert decoded.replace("\r\n", "\n").rstrip("\n") == text.rstrip("\n")


def test_plain_messages_are_written_directly_with_the_email_packages_exact_bytes():
    """The direct writer of plain messages gives byte for byte what the email package gives, and
    leaves every message that needs quoting, encoding or folding to it."""
    import itertools
    from datetime import datetime, timezone

    from channels.email.compose import OutgoingMessage, _compose_generic, _compose_plain

    subjects = ["[#CC-12] We received your message", "=?utf-8?q?a?=", "Ünïcode", "a" * 80, "  spaced   out ", ""]
    texts = ["Hello Ann,\n\nThanks.\nBye\n", "no newline at end", "crlf\r\nlines\r\n", "Ünï", "x" * 1000, "a\rb\x0cc\n"]
    names = ["", "Support Team", "J. Doe", "Ünï"]
    direct = 0
    for subject, text, name, answered, automatic in itertools.product(subjects, texts, names, [None, "c1@x.example"],
                                                                      [True, False]):
        message = OutgoingMessage(from_address="support@example.com", to=("ann@customer.example", "b@c.d"),
                                  subject=subject, text=text, message_id="t1@cc.example.com",
                                  date=datetime(2026, 11, 17, 10, 0, tzinfo=timezone.utc), from_name=name,
                                  in_reply_to=answered, references=("a@b",), automatic=automatic, reference="CC-12")
        written = _compose_plain(message)
        if written is not None:
            direct += 1
            assert written == _compose_generic(message)
    assert 0 < direct < len(subjects) * len(texts) * len(names) * 4
