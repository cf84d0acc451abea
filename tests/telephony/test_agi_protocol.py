"""The FastAGI wire protocol: environment, responses, asynchronous HANGUP, errors, quoting."""

from __future__ import annotations

import pytest
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from channels.telephony.agi_protocol import (
    AgiArgumentError,
    AgiDeadChannel,
    AgiHangup,
    AgiInvalidCommand,
    AgiProtocolError,
    AgiResponse,
    AgiSessionProtocol,
    AgiUsageError,
    encode_command,
    parse_response,
    quote_argument,
)
from tests.telephony.logcapture import captured_log
from tests.telephony.transcripts import chunks


class Session:
    """A protocol on a StringTransport recording the environment and hang-ups."""

    def __init__(self, max_line: int = 8192) -> None:
        self.env: list[list[tuple[str, str]]] = []
        self.hangups = 0
        self.proto = AgiSessionProtocol(self.env.append, self._hangup, max_line)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)

    def _hangup(self) -> None:
        self.hangups += 1

    def feed(self, *pieces: bytes) -> None:
        for piece in pieces:
            self.proto.dataReceived(piece)

    def run(self, verb: str, *args: str) -> list:
        out: list = []
        self.proto.command(verb, *args).addBoth(out.append)
        return out


ENV = b"agi_network: yes\nagi_network_script: inbound\nagi_arg_1: support\n\n"


def test_recorded_environment_is_read_in_order():
    """inbound-answered.jsonl's environment lines, fed as recorded, arrive once, in order, values as sent."""
    s = Session()
    env_chunks = chunks("inbound-answered", 2, True)
    s.feed(*env_chunks[: env_chunks.index(b"\n") + 1])
    (env,) = s.env
    assert env[0] == ("agi_network", "yes")
    assert dict(env)["agi_callerid"] == "+8613800138000"
    assert dict(env)["agi_accountcode"] == ""
    assert dict(env)["agi_arg_2"] == "2"


@pytest.mark.parametrize(
    "line,expected",
    [
        ("200 result=1", AgiResponse(1)),
        ("200 result=1 (2)", AgiResponse(1, "2")),
        ("200 result=-1", AgiResponse(-1)),
        ("200 result=0 (timeout) endpos=8000", AgiResponse(0, "timeout", 8000)),
        ("200 result=1 (a (nested) value)", AgiResponse(1, "a (nested) value")),
    ],
)
def test_parse_response(line, expected):
    """200 lines give result, optional data (parentheses included) and endpos."""
    assert parse_response(line) == expected


def test_hangup_line_between_responses_is_a_notice_not_an_answer():
    """inbound-abandoned.jsonl: result=-1, then HANGUP, then the next command's answer still matches it."""
    s = Session()
    s.feed(ENV)
    wait = s.run("EXEC", "Wait", "20")
    s.feed(b"200 result=-1\n")
    get = s.run("GET VARIABLE", "IVR_DIGITS")
    s.feed(b"HANGUP\n", b"200 result=1 (2)\n")
    assert wait == [AgiResponse(-1)] and get == [AgiResponse(1, "2")]
    assert s.hangups == 1 and s.proto.hung_up


def test_error_codes_fail_the_command_with_named_errors():
    """510 and 511 fail with AgiInvalidCommand and AgiDeadChannel; 520 collects its usage lines."""
    s = Session()
    s.feed(ENV)
    first, second, third = s.run("NOOP"), s.run("ANSWER"), s.run("SAY NUMBER", "x")
    s.feed(
        b"510 Invalid or unknown command\n",
        b"511 Command Not Permitted on a dead channel or intercept routine\n",
        b"520-Invalid command syntax.  Proper usage follows:\n Usage: SAY NUMBER <number> <escape digits>\n520 End of proper usage.\n",
    )
    assert first[0].check(AgiInvalidCommand) and first[0].value.code == 510
    assert second[0].check(AgiDeadChannel)
    assert third[0].check(AgiUsageError) and "Usage: SAY NUMBER" in third[0].value.text


def test_socket_closed_fails_pending_commands_and_reports_hangup():
    """Asterisk closing the socket fails pending commands with AgiHangup and reports the hang-up once."""
    s = Session()
    s.feed(ENV)
    pending = s.run("EXEC", "Wait", "2")
    s.proto.connectionLost(Failure(ConnectionDone()))
    assert pending[0].check(AgiHangup) and s.hangups == 1
    with pytest.raises(AgiHangup):
        s.proto.command("NOOP")


def test_our_own_close_is_not_a_hangup():
    """Closing the session from the server side does not report a hang-up."""
    s = Session()
    s.feed(ENV)
    s.proto.close()
    s.proto.connectionLost(Failure(ConnectionDone()))
    assert s.hangups == 0 and s.transport.disconnecting


def test_garbage_answer_fails_the_command_and_closes_cleanly():
    """An unparseable answer fails the pending command with AgiProtocolError and closes the session."""
    s = Session()
    s.feed(ENV)
    pending = s.run("NOOP")
    with captured_log("channels.telephony.fastagi") as lines:
        s.feed(b"garbage here\n")
    assert pending[0].check(AgiProtocolError) and s.transport.disconnecting
    assert lines == ["AGI session closed: unparseable AGI response 'garbage here'"]


def test_malformed_environment_line_is_skipped():
    """An environment line that is not agi_key: value is skipped; the rest of the environment arrives."""
    s = Session()
    s.feed(b"agi_network: yes\nnonsense\nagi_uniqueid: 1.2\n\n")
    assert s.env == [[("agi_network", "yes"), ("agi_uniqueid", "1.2")]]


def test_truncated_over_long_line_closes_cleanly():
    """A line longer than the cap without LF closes the session and fails what was pending."""
    s = Session(max_line=128)
    s.feed(ENV)
    pending = s.run("NOOP")
    s.feed(b"200 result=" + b"1" * 200)
    assert pending[0].check(AgiProtocolError) and s.transport.disconnecting


def test_commands_are_written_as_recorded():
    """SET VARIABLE quotes the endpoint and leaves plain words bare, exactly as in the transcripts."""
    assert encode_command("SET VARIABLE", "CC_AGENT_ENDPOINT", "Local/agent1@agents") == b'SET VARIABLE CC_AGENT_ENDPOINT "Local/agent1@agents"\n'
    assert encode_command("SET VARIABLE", "CC_DIAL_TIMEOUT", "10") == b"SET VARIABLE CC_DIAL_TIMEOUT 10\n"
    assert encode_command("EXEC", "Wait", "20") == b"EXEC Wait 20\n"


@pytest.mark.parametrize("value,quoted", [("", '""'), ('Li "Wei"', '"Li \\"Wei\\""'), ("a\\b", '"a\\\\b"'), ("x y", '"x y"')])
def test_arguments_are_quoted_and_escaped(value, quoted):
    """Empty values, spaces, quotes and backslashes are quoted with backslash escapes."""
    assert quote_argument(value) == quoted


@pytest.mark.parametrize("value", ["+49\nEXEC System rm", "a\rb", "nul\x00"])
def test_injection_in_arguments_is_refused_before_writing(value):
    """CR, LF or NUL in an argument raise AgiArgumentError and nothing is written."""
    s = Session()
    s.feed(ENV)
    with pytest.raises(AgiArgumentError):
        s.proto.command("SET VARIABLE", "CC_CALLER", value)
    assert s.transport.value() == b""


def test_environment_with_too_many_lines_is_closed_without_buffering_more():
    """Past max_env_lines the session closes at once; later bytes are dropped and no environment arrives."""
    s = Session()
    s.proto.max_env_lines = 40
    with captured_log("channels.telephony.fastagi") as lines:
        s.feed(b"".join(b"agi_x%d: y\n" % i for i in range(41)))
        s.feed(b"agi_more: z\n" * 1000, b"\n")
    assert s.env == [] and s.transport.disconnecting
    assert len(s.proto._env) == 40 and s.proto._buffer == b""
    assert lines == ["AGI session closed: AGI environment longer than 40 lines"]


def test_environment_with_too_many_bytes_is_closed_even_mid_line():
    """Past max_env_bytes (complete lines plus the unfinished one) the session closes at once."""
    s = Session()
    s.proto.max_env_bytes = 1000
    s.feed(b"agi_a: " + b"v" * 600 + b"\n")
    assert not s.transport.disconnecting
    s.feed(b"agi_b: " + b"w" * 500)
    assert s.env == [] and s.transport.disconnecting


def test_default_environment_caps_admit_a_real_environment_and_stop_a_stream():
    """A recorded environment fits the defaults; a stream of 300 short agi_ lines does not."""
    real = Session()
    env_chunks = chunks("inbound-answered", 2, True)
    real.feed(*env_chunks[: env_chunks.index(b"\n") + 1])
    assert len(real.env) == 1 and not real.transport.disconnecting
    flood = Session()
    flood.feed(b"agi_x: y\n" * 300)
    assert flood.transport.disconnecting and len(flood.proto._env) == 256


def test_skipped_environment_lines_are_counted_not_each_logged():
    """A thousand malformed environment lines give two log lines: the first one, then the count."""
    s = Session()
    with captured_log("channels.telephony.fastagi") as lines:
        s.feed(b"agi_network: yes\n" + b"nonsense\n" * 200 + b"agi_uniqueid: 1.2\n\n")
    assert s.env == [[("agi_network", "yes"), ("agi_uniqueid", "1.2")]]
    assert lines == ["AGI environment line ignored: 'nonsense' (further ones are only counted)",
                     "AGI environment line: 200 ignored in this session"]


def test_lines_answering_no_command_are_counted_not_each_logged():
    """Unsolicited lines after the environment are logged once and counted when the session ends."""
    s = Session()
    s.feed(ENV)
    with captured_log("channels.telephony.fastagi") as lines:
        s.feed(b"200 result=1\n" * 50, b"520-usage\n" * 50)
        s.proto.connectionLost(Failure(ConnectionDone()))
    assert lines == ["AGI line with no command pending ignored: '200 result=1' (further ones are only counted)",
                     "AGI line with no command pending: 100 ignored in this session"]


def test_endless_usage_text_closes_the_session():
    """A 520- usage answer that never ends is cut off at MAX_USAGE_LINES and the command fails."""
    s = Session()
    s.feed(ENV)
    pending = s.run("NOOP")
    s.feed(b"520-Invalid\n" + b" more usage\n" * 300)
    assert pending[0].check(AgiProtocolError) and s.transport.disconnecting


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_never_raise_and_never_buffer_past_the_caps(seed):
    """A seeded byte-level fuzz of the whole session (environment, answers, HANGUP, garbage in
    random chunks): nothing escapes dataReceived and what is held stays under the caps."""
    import random

    rng = random.Random(seed)
    pieces = [b"agi_x: y\n", b"nonsense\n", b"\n", b"200 result=1\n", b"200 result=x\n", b"510 no\n",
              b"520-usage\n", b"520 End\n", b"HANGUP\n", b"\r\n", b"\x00\xff", b"x" * 700, b"agi_arg_1: \xe4\n"]
    s = Session(max_line=1024)
    s.proto.max_env_lines, s.proto.max_env_bytes = 50, 4096
    data = b"".join(rng.choice(pieces) for _ in range(rng.randint(50, 3000)))
    for start in range(0, len(data), step := rng.randint(1, 700)):
        if not s.transport.disconnecting and s.env and rng.random() < 0.3:
            s.run("NOOP")
        s.feed(data[start:start + step])
        assert len(s.proto._buffer) <= 1024 + step
        assert s.proto._env is None or len(s.proto._env) <= 50
        assert s.proto._usage is None or len(s.proto._usage) <= 257
    s.proto.connectionLost(Failure(ConnectionDone()))
