"""The AMI client protocol over a fake transport and clock, fed the recorded chunks."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.internet.error import ConnectionDone

from channels.telephony.ami_client import (
    AmiActionError,
    AmiActionTimeout,
    AmiClientProtocol,
    AmiConnectionLost,
    AmiListResult,
    AmiLoginFailed,
)
from channels.telephony.ami_protocol import AmiHeaderInjection, AmiMessage
from channels.telephony.originate import ClickToDial
from tests.telephony.logcapture import captured_log
from tests.telephony.transcripts import chunks, sent_to_asterisk

BANNER = b"Asterisk Call Manager/13.0.0\r\n"


class Harness:
    """A protocol on a StringTransport with a fixed ActionID sequence and collected events."""

    def __init__(self, ids: list[str], timeout: float = 10.0, max_line: int = 8192) -> None:
        self.clock = Clock()
        self.events: list[AmiMessage] = []
        self.proto = AmiClientProtocol(self.clock, iter(ids).__next__, self.events.append, timeout, max_line)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)

    def feed(self, pieces: list[bytes]) -> None:
        for piece in pieces:
            self.proto.dataReceived(piece)

    def written(self) -> bytes:
        return self.transport.value()


def _results(d) -> list:
    out: list = []
    d.addBoth(out.append)
    return out


def test_login_and_ping_reproduce_the_recorded_session():
    """Login then Ping write exactly the recorded bytes; responses fire the Deferreds, events go up."""
    h = Harness(["login-1", "ping-1"])
    incoming = chunks("setup", 1, True)
    h.feed(incoming[:1])
    login = _results(h.proto.send_action("Login", [("Username", "callcenter"), ("Secret", "s3cret")]))
    h.feed(incoming[1:2])
    ping = _results(h.proto.send_action("Ping"))
    h.feed(incoming[2:])
    assert h.written() == sent_to_asterisk("setup", 1)
    assert login[0]["Message"] == "Authentication accepted"
    assert ping[0]["Ping"] == "Pong"
    assert [e.name for e in h.events] == ["FullyBooted", "SuccessfulAuth"]
    assert h.proto.banner_received.called


def test_login_failure_is_a_named_error_with_the_message():
    """login-failure.jsonl: Response: Error to Login fails with AmiLoginFailed carrying the Message."""
    h = Harness(["login-bad"])
    h.feed([c for c in chunks("bad-action", 10, True)])
    login = _results(h.proto.send_action("Login", [("Username", "callcenter"), ("Secret", "wrong")]))
    h.feed(chunks("login-failure", 10, True))
    assert h.written() == sent_to_asterisk("login-failure", 10)
    assert isinstance(login[0], Failure) and login[0].check(AmiLoginFailed)
    assert login[0].value.message == "Authentication failed"


def test_unknown_action_and_missing_action_fail_their_own_deferreds():
    """bad-action.jsonl: each Response: Error fails only its own action with AmiActionError."""
    h = Harness(["bad-1"], timeout=5)
    h.feed([BANNER])
    bad = _results(h.proto.send_action("NoSuchAction"))
    h.feed(chunks("bad-action", 1, True))
    assert h.written() == chunks("bad-action", 1, False)[0]
    assert bad[0].check(AmiActionError) and bad[0].value.message.startswith("Invalid/unknown command: NoSuchAction")
    assert [e.name for e in h.events] == ["RequestBadFormat", "RequestBadFormat"]


def test_action_times_out_on_the_injected_clock_and_late_response_is_dropped():
    """No response within the timeout fails with AmiActionTimeout; the late response is not delivered."""
    h = Harness(["ping-1"], timeout=3)
    h.feed([BANNER])
    ping = _results(h.proto.send_action("Ping"))
    h.clock.advance(2.9)
    assert ping == []
    h.clock.advance(0.2)
    assert ping[0].check(AmiActionTimeout)
    h.feed(chunks("setup", 1, True)[2:])
    assert len(ping) == 1 and h.clock.getDelayedCalls() == []


def test_connection_loss_fails_every_pending_action():
    """Dropping the connection fails all pending actions with AmiConnectionLost and cancels timers."""
    h = Harness(["a-1", "a-2"])
    h.feed([BANNER])
    first, second = _results(h.proto.send_action("Ping")), _results(h.proto.send_list_action("CoreShowChannels"))
    h.proto.connectionLost(Failure(ConnectionDone()))
    assert first[0].check(AmiConnectionLost) and second[0].check(AmiConnectionLost)
    assert h.clock.getDelayedCalls() == []
    with pytest.raises(AmiConnectionLost):
        h.proto.send_action("Ping")


def test_injection_in_a_header_raises_and_writes_nothing():
    """A CR/LF in a caller-controlled header raises AmiHeaderInjection before any byte is written."""
    h = Harness(["o-1"])
    h.feed([BANNER])
    with pytest.raises(AmiHeaderInjection):
        h.proto.send_action("Originate", [("CallerID", "Li Wei\r\nAction: Command\r\nCommand: core stop now")])
    assert h.written() == b"" and h.clock.getDelayedCalls() == []


LIST = (
    b"Response: Success\r\nActionID: r-1\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
    b"Event: CoreShowChannel\r\nActionID: r-1\r\nChannel: PJSIP/1001-00000001\r\nChannelStateDesc: Up\r\n"
    b"Uniqueid: 1.1\r\nLinkedid: 1.0\r\nApplication: Dial\r\nDuration: 00:00:07\r\nBridgeId: \r\n\r\n"
    b"Event: Newexten\r\nChannel: X\r\n\r\n"
    b"Event: CoreShowChannelsComplete\r\nActionID: r-1\r\nEventList: Complete\r\nListItems: 1\r\n\r\n"
)


def test_list_action_collects_its_events_until_complete():
    """A list action fires once with its items; unrelated events still reach on_event."""
    h = Harness(["r-1"])
    h.feed([BANNER])
    result = _results(h.proto.send_list_action("CoreShowChannels"))
    h.feed([LIST[:100], LIST[100:]])
    (res,) = result
    assert isinstance(res, AmiListResult)
    assert res.response["Message"] == "Channels will follow"
    assert [m["Channel"] for m in res.items] == ["PJSIP/1001-00000001"]
    assert [e.name for e in h.events] == ["Newexten"]


def test_click_to_dial_originate_is_written_as_recorded_and_correlated():
    """click-to-dial.jsonl: the Originate bytes match; the Deferred fires with the OriginateResponse."""
    h = Harness(["c2d-1"], timeout=30)
    h.feed([BANNER])
    request = ClickToDial("Local/agent1@agents", "+8613800138000", caller_id="Support <8008>", ring_timeout=15)
    result = _results(h.proto.send_action_awaiting_event("Originate", "OriginateResponse", request.headers()))
    h.feed(chunks("click-to-dial", 1, True))
    assert h.written() == sent_to_asterisk("click-to-dial", 1)
    (res,) = result
    assert res.response["Message"] == "Originate successfully queued"
    assert res.events[0]["Response"] == "Success" and res.events[0]["Reason"] == "4"
    assert "OriginateResponse" in [e.name for e in h.events]


def test_over_long_line_closes_the_connection_after_delivering_what_was_parsed():
    """An absurd line closes the transport; messages before it were delivered."""
    h = Harness([], max_line=256)
    with captured_log("channels.telephony.ami") as lines:
        h.feed([BANNER + b"Event: A\r\n\r\nEvent: B\r\nJunk: " + b"x" * 300])
    assert [e.name for e in h.events] == ["A"]
    assert h.transport.disconnecting
    assert lines == ["AMI framing lost (line longer than 256 bytes); closing the connection"]


def test_garbage_between_messages_is_skipped_and_the_link_survives():
    """A malformed message is skipped; the following response still answers its action."""
    h = Harness(["ping-1"])
    h.feed([BANNER])
    ping = _results(h.proto.send_action("Ping"))
    with captured_log("channels.telephony.ami") as lines:
        h.feed([b"\x00\xffnot ami at all\r\n\r\n", chunks("setup", 1, True)[2]])
    assert ping[0]["Ping"] == "Pong"
    assert len(lines) == 1 and lines[0].startswith("AMI input skipped: line without 'Key: Value'")
    assert not h.transport.disconnecting
