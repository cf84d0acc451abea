"""The FastAGI service over real loopback sockets, driven by FastAGI sessions a live Asterisk had.

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
from tests.telephony.transcripts import agi_connections, load


def _script(scenario: str, conn: int) -> str:
    head = b"".join(c.data for c in load(scenario) if c.conn == conn and c.from_asterisk)
    return head.split(b"agi_network_script: ", 1)[1].split(b"\n", 1)[0].decode()


def _conns(scenario: str, script: str) -> list[int]:
    return [c for c in agi_connections(scenario) if _script(scenario, c) == script]


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

    def _decide_soon(self, instruction: DialAgent) -> Deferred:
        # Live, the decision came while the caller already heard music (the record was being
        # written); deciding a moment later reproduces that conversation.
        later: Deferred = Deferred()
        reactor.callLater(0.05, later.callback, instruction)
        return later

    async def test_recorded_answered_call_sessions(self) -> None:
        """calls/answered-agent-hangs-up: inbound (music, then the dial variables), answered and
        hangup requests; the server writes what it wrote live and closes each session."""
        scenario = "calls/answered-agent-hangs-up"
        (inbound,) = _conns(scenario, "inbound")
        app = ScriptedCallHandling([])
        await self._start(app)
        app.decisions.append(self._decide_soon(DialAgent("Local/agent1@agents", 6, "1")))
        self.assertEqual(await self._call(steps_for(scenario, inbound)), b"")
        for script in ("answered", "hangup"):
            (conn,) = _conns(scenario, script)
            self.assertEqual(await self._call(steps_for(scenario, conn)), b"")
        self.assertEqual([a[0] for a in app.answered], ["1"])
        self.assertEqual([g[0] for g in app.gone], [app.arrived[0].uniqueid])

    async def test_recorded_no_answer_is_routed_again(self) -> None:
        """calls/noanswer-then-answered: NOANSWER, CC_RETRY 1, the same call asks again and dials
        the next agent, byte for byte as live."""
        scenario = "calls/noanswer-then-answered"
        first, again = _conns(scenario, "inbound")
        (dialresult,) = _conns(scenario, "dialresult")
        app = ScriptedCallHandling([], retries=[True])
        await self._start(app)
        app.decisions.append(self._decide_soon(DialAgent("Local/agent2@agents", 6, "1")))
        self.assertEqual(await self._call(steps_for(scenario, first)), b"")
        self.assertEqual(await self._call(steps_for(scenario, dialresult)), b"")
        app.decisions.append(DialAgent("Local/agent1@agents", 6, "1"))
        self.assertEqual(await self._call(steps_for(scenario, again)), b"")
        self.assertEqual([(r.interaction_id, r.status) for r in app.dial_results], [("1", "NOANSWER")])
        self.assertEqual(app.arrived[0].uniqueid, app.arrived[1].uniqueid)

    async def test_recorded_abandon_while_holding(self) -> None:
        """calls/abandon-while-holding: music, then Asterisk's HANGUP; the abandon is reported once."""
        scenario = "calls/abandon-while-holding"
        (inbound,) = _conns(scenario, "inbound")
        app = ScriptedCallHandling([Deferred()])
        await self._start(app)
        await self._call(steps_for(scenario, inbound))
        self.assertEqual(len(app.hung_up), 1)

    async def test_truncated_environment_is_dropped_quietly(self) -> None:
        """A connection closed halfway through the environment reaches no application method."""
        app = ScriptedCallHandling([])
        await self._start(app)
        (inbound,) = _conns("calls/answered-agent-hangs-up", "inbound")
        env = steps_for("calls/answered-agent-hangs-up", inbound)[0][1]
        half = [("send", env[: len(env) // 2]), ("close", b"")]
        self.assertEqual(await self._call(half), b"")
        self.assertEqual((app.arrived, app.hung_up), ([], []))

    async def test_garbage_answer_closes_that_session_only(self) -> None:
        """A garbage answer closes its session cleanly; the next call is served normally."""
        scenario = "calls/answered-agent-hangs-up"
        (inbound,) = _conns(scenario, "inbound")
        app = ScriptedCallHandling([])
        await self._start(app)
        steps = steps_for(scenario, inbound)
        env = steps[: steps.index(("expect", b"GET VARIABLE IVR_DIGITS\n")) + 1]
        await self._call(env + [("send", b"\x00\x01garbage\n")])
        self.assertEqual(app.arrived, [])
        app.decisions.append(self._decide_soon(DialAgent("Local/agent1@agents", 6, "1")))
        self.assertEqual(await self._call(steps), b"")
        self.assertEqual(len(app.arrived), 1)
