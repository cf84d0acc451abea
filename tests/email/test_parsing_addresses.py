"""Address parsing per RFC 5322 and RFC 6532, with the breakage real mail has, and the sender fallback."""

from __future__ import annotations

import pytest

from channels.email.headers import Address, parse_addresses, valid_address
from channels.email.parsing import parse_message


@pytest.mark.parametrize(
    "value, expected",
    [
        ("root@localhost", [("", "root@localhost")]),
        ("jang@xyzlinu <jang@xyzlinux12345678.it>", [("jang@xyzlinu", "jang@xyzlinux12345678.it")]),
        ("a@x.com b@x.com", [("", "a@x.com"), ("", "b@x.com")]),
        ('"Doe, Jane" <Jane@Example.com>, k@y', [("Doe, Jane", "jane@example.com"), ("", "k@y")]),
        ("tyra3l@gmail.com (Ferenc Kovacs)", [("Ferenc Kovacs", "tyra3l@gmail.com")]),
        ("Team: a@b.example, c@d.example;", [("", "a@b.example"), ("", "c@d.example")]),
        ("undisclosed-recipients:;", []),
        ("用户 <用户@例子.中国>", [("用户", "用户@例子.中国")]),
        ("=?utf-8?b?5byg5LiJ?= <z@q.cn>", [("张三", "z@q.cn")]),
        ('"=?utf-8?b?5byg5LiJ?=" <z@q.cn>', [("张三", "z@q.cn")]),
        ('"a\\"b" <x@y.example>', [('a"b', "x@y.example")]),
        ("Pete(A wonderful \\) chap) <pete(his account)@silly.test(his host)>", [("Pete", "pete@silly.test")]),
        ("<@route.example,@other.example:user@host.example>", [("", "user@host.example")]),
        ("Name <\"quoted local\"@example.com>", [("Name", '"quoted local"@example.com')]),
        ("Foo Bar", []),
        ("<>", []),
        ("a@@b.example", []),
    ],
)
def test_address_lists(value, expected):
    """Each header value yields the valid mailboxes it holds, in order, with decoded names."""
    found, _problems = parse_addresses([value])
    assert [(a.name, a.address) for a in found] == expected


def test_several_addresses_without_commas_are_reported():
    """Addresses separated by spaces are each taken, and the breakage is named."""
    _found, problems = parse_addresses(["a@x.com b@x.com"])
    assert problems == ["several addresses without commas in 'a@x.com b@x.com'"]


@pytest.mark.parametrize("address", ["root@localhost", "a@b", "用户@例子.中国", "x@[192.0.2.1]", '"a b"@c.example'])
def test_valid_addresses(address):
    """Dotless domains, UTF-8, address literals and quoted local parts are valid."""
    assert valid_address(address)


@pytest.mark.parametrize("address", ["", "a", "@b", "a@", ".a@b", "a..b@c", "a b@c", "a@b..c", "a@b c"])
def test_invalid_addresses(address):
    """Missing parts, bad dots and white space are invalid."""
    assert not valid_address(address)


def _message(headers: str, envelope: str | None = None):
    return parse_message((headers + "\r\n\r\nbody\r\n").encode("utf-8"), envelope_sender=envelope)


def test_display_text_that_looks_like_an_address_loses_to_the_angle_address():
    """From: jang@xyzlinu <jang@xyzlinux12345678.it> is jang@xyzlinux12345678.it."""
    parsed = _message("From: jang@xyzlinu <jang@xyzlinux12345678.it>")
    assert parsed.from_ == Address("jang@xyzlinu", "jang@xyzlinux12345678.it")
    assert parsed.sender_source == "from"


def test_first_valid_from_address_wins():
    """Several From addresses: the first valid one is the sender."""
    parsed = _message("From: not-an-address, b@x.com c@x.com")
    assert parsed.from_.address == "b@x.com" and parsed.sender_source == "from"


def test_no_from_falls_back_to_sender_then_return_path_then_envelope():
    """Without From the sender comes from Sender, then Return-Path, then the envelope, and says so."""
    assert (_message("Sender: S <s@x.example>\r\nReturn-Path: <r@x.example>").from_.address,
            _message("Sender: S <s@x.example>").sender_source) == ("s@x.example", "sender")
    parsed = _message("Return-Path: <r@x.example>\r\nSubject: hi", envelope="e@x.example")
    assert (parsed.from_.address, parsed.sender_source) == ("r@x.example", "return-path")
    parsed = _message("Return-Path: <>\r\nSubject: hi", envelope="e@x.example")
    assert (parsed.from_.address, parsed.sender_source) == ("e@x.example", "envelope")
    parsed = _message("Subject: hi", envelope="")
    assert (parsed.from_, parsed.sender_source) == (None, None)
    assert "no readable From address; the sender is taken from nowhere" in parsed.problems


def test_utf8_local_part_in_from():
    """A raw UTF-8 From (RFC 6532) is read as text, not mojibake."""
    parsed = _message("From: 李四 <李四@例子.公司>")
    assert parsed.from_ == Address("李四", "李四@例子.公司")


def test_stray_line_in_the_header_section_does_not_end_it():
    """A broken line inside the headers is folded, so From and Subject after it are kept."""
    raw = (b"Received: from x\r\nquite Delivered-To: y\r\nFrom: A <a@example.com>\r\nSubject: kept\r\n\r\nbody\r\n")
    parsed = parse_message(raw)
    assert (parsed.from_.address, parsed.subject, parsed.text) == ("a@example.com", "kept", "body")
    assert parsed.raw == raw
    assert any(p.startswith("stray line in the header section folded") for p in parsed.problems)


def test_blank_lines_before_the_headers_are_skipped():
    """A white-space-only first line (a stripped mbox separator) does not make the message unparseable."""
    parsed = parse_message(b"     \r\nFrom: a@example.com\r\nSubject: s\r\n\r\nbody\r\n")
    assert not parsed.unparseable and parsed.from_.address == "a@example.com" and parsed.subject == "s"


@pytest.mark.parametrize(
    "value, expected",
    [("<a@b> <c@d>", ["a@b", "c@d"]), ("abc@def", ["abc@def"]), ("12345.ABC", ["12345.ABC"]),
     ("x@y (comment)", ["x@y"]), ("<a@b", ["a@b"]), ("a@b, c@d", ["a@b", "c@d"]), ("two tokens", []), ("", [])],
)
def test_message_ids_with_and_without_brackets(value, expected):
    """Bracketed ids, and bare ids as mailers that omit the brackets write them."""
    from channels.email.headers import message_ids

    assert message_ids(value) == expected


def test_obsolete_syntax_of_rfc5322_appendix_a6():
    """White space before colons, comments inside addresses, ids and dates (RFC 5322 A.6.3) are read."""
    raw = (b"From  : John Doe <jdoe@machine(comment).  example>\r\nTo    : Mary Smith\r\n__\r\n"
           b"          <mary@example.net>\r\nSubject     : Saying Hello\r\n"
           b"Date  : Fri, 21 Nov 1997 09(comment):   55  :  06 -0600\r\n"
           b"Message-ID  : <1234   @   local(blah)  .machine .example>\r\n\r\nThis is a message just to say hello.\r\n")
    parsed = parse_message(raw)
    assert (parsed.from_, parsed.subject, parsed.message_id) == (
        Address("John Doe", "jdoe@machine.example"), "Saying Hello", "1234@local.machine.example")
    assert [a.address for a in parsed.to] == ["mary@example.net"]
    assert parsed.date.isoformat() == "1997-11-21T09:55:06-06:00"
