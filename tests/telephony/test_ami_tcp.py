"""The AMI service over real loopback sockets against a scripted Asterisk replaying the recordings.

The recordings hold no resynchronisation exchange, so the CoreShowChannels/DeviceStateList
answers below are written by hand in the format Asterisk documents for them.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.trial.unittest import TestCase

from channels.telephony.ami_protocol import AmiHeaderInjection, encode_action
from channels.telephony.ami_service import AmiCredentials, AmiService, Backoff
from channels.telephony.callevents import (
    AgentPhonePresence,
    AmiLinkLost,
    BridgeEntered,
    ChannelHungUp,
    ChannelSnapshot,
    OriginateResult,
    ResyncFinished,
    ResyncStarted,
    TelephonyEvent,
)
from channels.telephony.originate import ClickToDial
from tests.telephony.replay import ScriptedAsterisk, Step, steps_for
from tests.telephony.transcripts import chunks

CREDS = AmiCredentials("callcenter", "s3cret")


def _login(action_id: str) -> list[Step]:
    banner, login_answer = chunks("setup", 1, True)[:2]
    expect = encode_action("Login", action_id, [("Username", "callcenter"), ("Secret", "s3cret")])
    return [("send", banner), ("expect", expect), ("send", login_answer.replace(b"login-1", action_id.encode()))]


def _logoff(action_id: str) -> list[Step]:
    goodbye = chunks("logoff", 1, True)[0].replace(b"logoff-1", action_id.encode())
    return [("expect", encode_action("Logoff", action_id)), ("send", goodbye), ("close", b"")]


def _list(action: str, action_id: str, complete: str, items: list[bytes]) -> list[Step]:
    aid = action_id.encode()
    body = b"".join(b"ActionID: " + aid + b"\r\n" + item + b"\r\n" for item in items)
    answer = (
        b"Response: Success\r\nActionID: " + aid + b"\r\nEventList: start\r\nMessage: Will follow\r\n\r\n" + body
        + b"Event: " + complete.encode() + b"\r\nActionID: " + aid + b"\r\nEventList: Complete\r\nListItems: "
        + str(len(items)).encode() + b"\r\n\r\n"
    )
    return [("expect", encode_action(action, action_id)), ("send", answer)]


def _resync(channels_id: str, devices_id: str, channels: list[bytes], devices: list[bytes]) -> list[Step]:
    return _list("CoreShowChannels", channels_id, "CoreShowChannelsComplete", channels) + _list(
        "DeviceStateList", devices_id, "DeviceStateListComplete", devices
    )


def _snapshot(channel: str, uniqueid: str) -> bytes:
    return (
        f"Event: CoreShowChannel\r\nChannel: {channel}\r\nChannelStateDesc: Up\r\nCallerIDNum: +8613800138000\r\n"
        f"Uniqueid: {uniqueid}\r\nLinkedid: 1795371123.0\r\nApplication: Dial\r\nDuration: 00:00:01\r\nBridgeId: b1\r\n"
    ).encode()


class Sink:
    """Collects telephony events; ``until(pred)`` fires once ``pred(events)`` holds."""

    def __init__(self) -> None:
        self.events: list[TelephonyEvent] = []
        self._waiters: list[tuple[Callable[[list[TelephonyEvent]], bool], Deferred]] = []

    def __call__(self, event: TelephonyEvent) -> None:
        self.events.append(event)
        for waiter in list(self._waiters):
            if waiter[0](self.events):
                self._waiters.remove(waiter)
                waiter[1].callback(None)

    def until(self, pred: Callable[[list[TelephonyEvent]], bool]) -> Deferred:
        d: Deferred = Deferred()
        if pred(self.events):
            d.callback(None)
        else:
            self._waiters.append((pred, d))
        return d

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


class AmiOverTcp(TestCase):
    """Each test serves scripts on an ephemeral loopback port and runs the real AmiService."""

    timeout = 10

    async def _start(self, scripts: list[list[Step]], ids: list[str]) -> tuple[AmiService, Sink, ScriptedAsterisk]:
        fake = ScriptedAsterisk(scripts)
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(fake)
        self.addCleanup(port.stopListening)
        sink = Sink()
        service = AmiService(
            TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port),
            CREDS,
            reactor,
            sink,
            iter(ids).__next__,
            jitter=lambda: 0.0,
            backoff=Backoff(initial=0.05, maximum=0.5),
        )
        service.startService()
        self.addCleanup(service.stopService)
        return service, sink, fake

    async def test_disconnect_mid_call_then_reconnect_and_resync(self) -> None:
        """Link lost mid-call (after garbage and a truncated message): reconnect, resync, the call log completes."""
        events = chunks("inbound-answered", 1, True)
        split = next(i for i, c in enumerate(events) if b"Event: BridgeEnter" in c)
        first = _login("login-1") + _resync("sync-1", "sync-2", [], [b"Event: DeviceStateChange\r\nDevice: Custom:agent1\r\nState: NOT_INUSE\r\n"])
        first += [("send", c) for c in events[:3]] + [("send", b"Bogus line without colon\r\n\r\n")]
        first += [("send", c) for c in events[3:split]] + [("send", events[split][:40]), ("close", b"")]
        second = _login("login-2") + _resync(
            "sync-3", "sync-4", [_snapshot("Local/100@customers-00000000;2", "1795371123.1"), _snapshot("Local/agent1@agents-00000001;1", "1795371124.2")], []
        )
        second += [("send", c) for c in events[split:]] + _logoff("bye-1")
        service, sink, fake = await self._start([first, second], ["login-1", "sync-1", "sync-2", "login-2", "sync-3", "sync-4", "bye-1"])
        await sink.until(lambda ev: len([e for e in ev if isinstance(e, ChannelHungUp)]) == 4)
        kinds = [type(e) for e in sink.events]
        lost = kinds.index(AmiLinkLost)
        self.assertEqual(kinds[:3], [ResyncStarted, AgentPhonePresence, ResyncFinished])
        self.assertEqual(kinds[lost + 1 : lost + 5], [ResyncStarted, ChannelSnapshot, ChannelSnapshot, ResyncFinished])
        self.assertEqual(sink.of(ResyncFinished)[1], ResyncFinished(at=sink.of(ResyncFinished)[1].at, channels=2, devices=0))
        self.assertEqual(len(sink.of(OriginateResult)), 1)  # parsed before the garbage and the drop
        self.assertEqual(len(sink.of(BridgeEntered)), 2)  # both after the reconnect, none lost
        await service.stopService()
        self.assertEqual(await fake.peers[1].finished, b"")

    async def test_click_to_dial_and_injection_attempt(self) -> None:
        """The Originate goes out as recorded and returns the correlated result; a CR/LF caller id sends nothing."""
        script = _login("login-1") + _resync("sync-1", "sync-2", [], []) + steps_for("click-to-dial", 1) + _logoff("bye-1")
        service, sink, fake = await self._start([script], ["login-1", "sync-1", "sync-2", "c2d-1", "bye-1"])
        await service.whenReady()
        with self.assertRaises(AmiHeaderInjection):
            await service.click_to_dial(ClickToDial("Local/agent1@agents", "+8613800138000", caller_id="Evil\r\nAction: Command"))
        result = await service.click_to_dial(
            ClickToDial("Local/agent1@agents", "+8613800138000", caller_id="Support <8008>", ring_timeout=15)
        )
        self.assertEqual((result.action_id, result.success, result.reason), ("c2d-1", True, 4))
        self.assertEqual(len(sink.of(OriginateResult)), 1)
        await service.stopService()
        self.assertEqual(await fake.peers[0].finished, b"")

    async def test_refused_login_is_retried(self) -> None:
        """login-failure's answer: the refused login closes the connection and the service retries."""
        refused = [("send", chunks("setup", 1, True)[0]), ("expect", _login("login-bad")[1][1])]
        refused += [("send", chunks("login-failure", 10, True)[0])]
        ok = _login("login-2") + _resync("sync-1", "sync-2", [], []) + _logoff("bye-1")
        service, sink, fake = await self._start([refused, ok], ["login-bad", "login-2", "sync-1", "sync-2", "bye-1"])
        await service.whenReady()
        self.assertEqual(len(fake.peers), 2)
        self.assertEqual(await fake.peers[0].finished, b"")
        await service.stopService()
        self.assertEqual(await fake.peers[1].finished, b"")
