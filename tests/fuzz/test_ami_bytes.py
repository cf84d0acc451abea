"""A seeded byte-level fuzz of the AMI client: recorded-looking traffic and garbage in random chunks."""

from __future__ import annotations

import random

import pytest
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from channels.telephony.ami_client import AmiClientProtocol
from channels.telephony.ami_protocol import AmiMessage
from channels.telephony.ami_translate import translate_event

MAX_LINE = 2048
PIECES = [
    b"Event: Newchannel\r\nChannel: PJSIP/alice-0001\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\nCallerIDNum: +14155550100\r\n\r\n",
    b"Event: DialBegin\r\nChannel: PJSIP/alice-0001\r\nDestChannel: PJSIP/bob-0002\r\nDestUniqueid: 1.2\r\n\r\n",
    b"Event: DialEnd\r\nDialStatus: ANSWER\r\nUniqueid: 1.1\r\n\r\n",
    b"Event: BridgeEnter\r\nBridgeUniqueid: b-1\r\nUniqueid: 1.2\r\n\r\n",
    b"Event: Hangup\r\nUniqueid: 1.1\r\nCause: 16\r\nCause-txt: Normal\r\n\r\n",
    b"Event: Hangup\r\nUniqueid: \r\nCause: x\r\n\r\n",
    b"Event: DeviceStateChange\r\nDevice: PJSIP/alice\r\nState: NOT_INUSE\r\n\r\n",
    b"Event: OriginateResponse\r\nActionID: a2\r\nResponse: Success\r\nReason: 4\r\nUniqueid: 9.9\r\n\r\n",
    b"Event: CoreShowChannel\r\nActionID: a3\r\nChannel: PJSIP/x\r\n\r\n",
    b"Event: CoreShowChannelsComplete\r\nActionID: a3\r\nEventList: Complete\r\n\r\n",
    b"Response: Success\r\nActionID: a1\r\nMessage: Authentication accepted\r\n\r\n",
    b"Response: Error\r\nActionID: a2\r\nMessage: nope\r\n\r\n",
    b"Response: Success\r\nActionID: a3\r\nEventList: start\r\n\r\n",
    b"Response: Follows\r\nPrivilege: Command\r\nActionID: a4\r\nline one\r\n\r\nline two\r\n--END COMMAND--\r\n\r\n",
    b"Response: Success\r\nActionID: unknown-id\r\n\r\n",
    b"no colon here\r\n\r\n", b"Key With Space: v\r\n\r\n", b": empty key\r\n\r\n", b"Foo: bar\r\n\r\n",
    b"\r\n", b"\r\n\r\n", b"\r", b"\n", b"\x00", b"\xff\xfe", b"Event: \xe4\xf6\r\n\r\n",
    b"Event: Hangup\r\nUniqueid: " + b"9" * 300 + b"\r\n\r\n", b"x" * 900,
]


@pytest.mark.parametrize("seed", range(30))
def test_random_ami_bytes_never_raise_and_never_buffer_past_the_line_cap(seed):
    """Nothing escapes dataReceived or the translation of an event, and unfinished input stays bounded."""
    rng = random.Random(seed)
    clock = Clock()
    events: list[AmiMessage] = []

    def on_event(message: AmiMessage) -> None:
        assert isinstance(message, AmiMessage) and all(isinstance(k, str) and isinstance(v, str) for k, v in message.pairs)
        events.append(message)
        translate_event(message, clock.seconds())

    ids = iter(f"a{n}" for n in range(1, 1000))
    proto = AmiClientProtocol(clock, ids.__next__, on_event, 5.0, MAX_LINE)
    transport = StringTransport()
    proto.makeConnection(transport)
    outcomes: list = []
    data = b"Asterisk Call Manager/13.0.0\r\n" + b"".join(rng.choice(PIECES) for _ in range(rng.randint(20, 400)))
    for n, start in enumerate(range(0, len(data), step := rng.randint(1, 600))):
        if n % 7 == 0 and not transport.disconnecting:
            action = rng.choice([proto.send_action, proto.send_list_action])
            action("Ping").addBoth(outcomes.append)
        proto.dataReceived(data[start:start + step])
        pending = proto._parser._buffer  # noqa: SLF001 - the bound under test
        assert len(pending) <= MAX_LINE + step or pending.startswith(b"Response: Follows")
        if proto._parser.error is not None:  # noqa: SLF001
            assert transport.disconnecting
        clock.advance(rng.random())
    clock.advance(10)
    proto.connectionLost(Failure(ConnectionDone()))
    assert all(isinstance(o, (AmiMessage, Failure)) or hasattr(o, "events") for o in outcomes)
