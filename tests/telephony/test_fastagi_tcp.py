"""The FastAGI service over real loopback sockets, driven by the recorded AGI conversations.

These are trial TestCases so that trial spins the reactor; pytest runs them as they are.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol
from twisted.trial.unittest import TestCase

from channels.telephony.callhandling import DialAgent
from channels.telephony.fastagi import FastAgiService, HoldSettings
from tests.telephony.fakes import ScriptedCallHandling
from tests.telephony.replay import ScriptedPeer, Step, steps_for
from tests.telephony.transcripts import agi_connections

RECORDED_HOLD = HoldSettings(music_class=None, wait_slice=20)


class FastAgiOverTcp(TestCase):
    """Each test starts the service on an ephemeral loopback port and plays Asterisk against it."""

    timeout = 10

    async def _start(self, app: ScriptedCallHandling, settings: HoldSettings = HoldSettings()) -> None:
        self.service = FastAgiService(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"), app, reactor, settings)
        port = await self.service.startService()
        self.addCleanup(self.service.stopService)
        self.port = port.getHost().port

    async def _call(self, steps: list[Step]) -> bytes:
        peer = ScriptedPeer(steps)
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port), peer)
        return await peer.finished

    async def test_inbound_call_routed_and_answered(self) -> None:
        """inbound-answered: the server's commands match the recording and it closes the session."""
        app = ScriptedCallHandling([DialAgent("Local/agent1@agents", 10, "1")])
        await self._start(app)
        leftover = await self._call(steps_for("inbound-answered", 2))
        self.assertEqual(leftover, b"")
        self.assertEqual([c.caller_number for c in app.arrived], ["+8613800138000"])

    async def _retry_scenario(self, scenario: str, first: DialAgent, status: str) -> ScriptedCallHandling:
        app = ScriptedCallHandling([first, DialAgent("Local/agent1@agents", 10, first.interaction_id)], retries=[True])
        await self._start(app)
        for conn in agi_connections(scenario):
            self.assertEqual(await self._call(steps_for(scenario, conn)), b"")
        self.assertEqual([(r.interaction_id, r.status) for r in app.dial_results], [(first.interaction_id, status)])
        return app

    async def test_no_answer_then_reoffered(self) -> None:
        """inbound-noanswer-then-answered: NOANSWER, CC_RETRY 1, offered again to agent1."""
        app = await self._retry_scenario("inbound-noanswer-then-answered", DialAgent("Local/agent2@agents", 3, "2"), "NOANSWER")
        self.assertEqual(len(app.arrived), 2)

    async def test_busy_then_answered(self) -> None:
        """inbound-busy-then-answered: BUSY, CC_RETRY 1, offered again to agent1."""
        await self._retry_scenario("inbound-busy-then-answered", DialAgent("Local/agent3@agents", 10, "3"), "BUSY")

    async def test_caller_abandons_while_queued(self) -> None:
        """inbound-abandoned: Wait answers -1, HANGUP follows; the abandon is reported, the socket closed."""
        app = ScriptedCallHandling([Deferred()])
        await self._start(app, RECORDED_HOLD)
        steps = steps_for("inbound-abandoned", 9, last_send=27)  # up to and including "200 result=-1"
        self.assertEqual(steps[-1], ("send", b"200 result=-1\n"))
        await self._call(steps + [("send", b"HANGUP\n")])
        self.assertEqual(len(app.hung_up), 1)
        self.assertEqual(app.hung_up[0][0].uniqueid, "1795371155.17")

    async def test_truncated_environment_is_dropped_quietly(self) -> None:
        """A connection closed halfway through the environment reaches no application method."""
        app = ScriptedCallHandling([])
        await self._start(app)
        half = steps_for("inbound-answered", 2)[:5]
        self.assertEqual(await self._call(half + [("close", b"")]), b"")
        self.assertEqual((app.arrived, app.hung_up), ([], []))

    async def test_garbage_answer_closes_that_session_only(self) -> None:
        """A garbage answer closes its session cleanly; the next call is served normally."""
        app = ScriptedCallHandling([DialAgent("Local/agent1@agents", 10, "1")])
        await self._start(app)
        steps = steps_for("inbound-answered", 2)
        env = steps[: steps.index(("expect", b"GET VARIABLE IVR_DIGITS\n")) + 1]
        await self._call(env + [("send", b"\x00\x01garbage\n")])
        self.assertEqual(app.arrived, [])
        self.assertEqual(await self._call(steps), b"")
        self.assertEqual(len(app.arrived), 1)
