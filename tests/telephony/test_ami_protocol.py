"""The AMI wire format: framing of recorded chunks, repeated keys, malformed input, action encoding."""

from __future__ import annotations

import pytest

from channels.telephony.ami_protocol import (
    AmiFrameParser,
    AmiFramingError,
    AmiHeaderInjection,
    AmiMessage,
    encode_action,
)
from tests.telephony.transcripts import chunks

SCENARIOS = ["setup", "inbound-answered", "inbound-busy-then-answered", "click-to-dial", "device-state", "bad-action"]


def _stream(name: str) -> bytes:
    return b"".join(chunks(name, 1, True))


def _parse_all(data: bytes, pieces: list[bytes] | None = None, banner: bool = False) -> list[AmiMessage]:
    parser = AmiFrameParser(expect_banner=banner)
    out: list[AmiMessage] = []
    for piece in pieces if pieces is not None else [data]:
        out.extend(parser.feed(piece))
    return out


def test_recorded_chunks_give_the_banner_and_every_message():
    """Feeding setup.jsonl chunk by chunk yields the banner, the login response and both events, the ping response."""
    parser = AmiFrameParser()
    messages = [m for piece in chunks("setup", 1, True) for m in parser.feed(piece)]
    assert parser.banner == "Asterisk Call Manager/13.0.0"
    assert [m.name for m in messages] == ["Success", "FullyBooted", "SuccessfulAuth", "Success"]
    assert messages[-1]["Ping"] == "Pong"


@pytest.mark.parametrize("name", SCENARIOS)
def test_split_points_do_not_change_the_result(name):
    """Any chunking (recorded, one byte at a time, all at once) yields the same messages."""
    data = _stream(name)
    whole = _parse_all(data, banner=name == "setup")
    recorded = _parse_all(data, chunks(name, 1, True), banner=name == "setup")
    bytewise = _parse_all(data, [data[i : i + 1] for i in range(len(data))], banner=name == "setup")
    assert whole == recorded == bytewise
    assert len(whole) == data.count(b"\r\n\r\n")


def test_response_split_across_chunks_is_joined():
    """device-state.jsonl's Getvar response arrives in two chunks and is parsed as one message."""
    messages = _parse_all(b"", chunks("device-state", 1, True))
    last = messages[-1]
    assert last.fields == (
        ("Response", "Success"),
        ("ActionID", "dev-3"),
        ("Variable", "DEVICE_STATE(Custom:agent1)"),
        ("Value", "NOT_INUSE"),
    )


def test_repeated_keys_are_kept_in_order():
    """Repeated ChanVariable keys stay in wire order and read back as a dict."""
    (msg,) = _parse_all(b"Event: Hangup\r\nChanVariable: A=1\r\nChanVariable: B=x=y\r\nchannel: C\r\n\r\n")
    assert msg.get_all("ChanVariable") == ["A=1", "B=x=y"]
    assert msg.variables() == {"A": "1", "B": "x=y"}
    assert msg["Channel"] == "C" and msg.is_event and not msg.is_response


def test_legacy_follows_response_keeps_output_with_blank_lines():
    """A Response: Follows message runs to --END COMMAND--, blank lines included, as Output pairs without the trailer."""
    data = b"Response: Follows\r\nPrivilege: Command\r\nActionID: c-1\r\nName: x\n\nline 3\n--END COMMAND--\r\n\r\nEvent: X\r\n\r\n"
    messages = _parse_all(data, [data[:40], data[40:]])
    assert messages[0].action_id == "c-1"
    assert messages[0].get_all("Output") == ["Name: x", "", "line 3"]
    assert messages[1].name == "X"


def test_malformed_message_is_skipped_and_the_next_one_kept():
    """A message with a line that is not Key: Value is dropped with a reason; neighbours survive."""
    parser = AmiFrameParser(expect_banner=False)
    out = parser.feed(b"Event: A\r\n\r\nEvent: B\r\nthis is garbage\r\n\r\nEvent: C\r\n\r\n")
    assert [m.name for m in out] == ["A", "C"]
    (skipped,) = parser.take_skipped()
    assert "garbage" in skipped.reason
    assert parser.take_skipped() == []


def test_message_without_event_or_response_is_skipped():
    """Key: Value lines naming neither an event nor a response are dropped and reported."""
    parser = AmiFrameParser(expect_banner=False)
    assert parser.feed(b"Foo: bar\r\n\r\nResponse: Success\r\n\r\n")[0].name == "Success"
    assert "neither" in parser.take_skipped()[0].reason


def test_over_long_line_cannot_resync_but_keeps_what_was_parsed():
    """A line over the cap sets the framing error; messages before it in the same chunk are returned."""
    parser = AmiFrameParser(max_line=64, expect_banner=False)
    out = parser.feed(b"Event: A\r\n\r\nEvent: B\r\nX: " + b"y" * 100)
    assert [m.name for m in out] == ["A"]
    assert isinstance(parser.error, AmiFramingError)
    assert parser.feed(b"\r\n\r\nEvent: C\r\n\r\n") == []


@pytest.mark.parametrize("opening", [b"Event: Flood\r\n", b"Response: Follows\r\nPrivilege: Command\r\n"])
def test_a_message_that_never_ends_is_a_framing_error_not_a_growing_buffer(opening):
    """Short lines that never end their message (or a legacy Follows output without its
    trailer) stop at the message cap: the messages before are kept, the buffer is dropped."""
    parser = AmiFrameParser(expect_banner=False, max_message=4096)
    assert [m.name for m in parser.feed(b"Event: A\r\n\r\n" + opening)] == ["A"]
    for _ in range(200):
        parser.feed(b"Output: more of the same\r\n")
        if parser.error is not None:
            break
    assert isinstance(parser.error, AmiFramingError) and "message longer than 4096" in str(parser.error)
    assert len(parser._buffer) == 0  # noqa: SLF001 - what the cap protects
    assert parser.feed(b"\r\n\r\nEvent: C\r\n\r\n") == []


def test_encode_action_matches_the_recorded_login():
    """The Login action is written byte for byte as recorded in setup.jsonl."""
    data = encode_action("Login", "login-1", [("Username", "callcenter"), ("Secret", "s3cret")])
    assert data == chunks("setup", 1, False)[0]


@pytest.mark.parametrize(
    "name,value", [("CallerID", "x\r\nAction: Command"), ("CallerID", "a\nb"), ("X\r\nY", "1"), ("Data", "nul\x00"), ("Bad:Name", "v")]
)
def test_encode_action_rejects_injection(name, value):
    """CR, LF, NUL or a colon in a header name, or CR/LF/NUL in a value, raise AmiHeaderInjection."""
    with pytest.raises(AmiHeaderInjection):
        encode_action("Originate", "o-1", [(name, value)])
