"""callcenter-agi: a classic AGI call forwarded to the FastAGI service over loopback."""

from __future__ import annotations

import io
import socket

import pytest
from asterisk.agi import AGI
from twisted.internet import reactor, threads
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.trial.unittest import TestCase

from channels.telephony.callhandling import DialAgent
from channels.telephony.classic_agi import ForwardingError, fastagi_environment, relay
from channels.telephony.fastagi import FastAgiService
from tests.telephony.fakes import ScriptedCallHandling
from tests.telephony.transcripts import load


def _classic_input() -> str:
    """inbound-answered's environment as a classic AGI gets it, then Asterisk's recorded answers
    (and the answer to CC_OUTCOME, which the server of that recording did not set yet)."""
    recorded = [c.data.decode("latin-1") for c in load("inbound-answered") if c.conn == 2 and c.from_asterisk]
    env_end = recorded.index("\n")
    env = [line for line in recorded[:env_end] if not line.startswith(("agi_network", "agi_request", "agi_arg_"))]
    env += ["agi_request: callcenter-agi\n", "agi_arg_1: inbound\n", "agi_arg_2: support\n", "agi_arg_3: 2\n", "\n"]
    return "".join(env + recorded[env_end + 1 :]) + "200 result=1\n"


def test_environment_names_the_script_from_the_first_argument():
    """The first classic argument becomes agi_network_script; the others shift down by one."""
    env = fastagi_environment({"agi_arg_1": "dialresult", "agi_arg_2": "7", "agi_arg_3": "BUSY", "agi_uniqueid": "1.5"}, "h", 4573)
    assert env == (
        b"agi_network: yes\nagi_network_script: dialresult\nagi_request: agi://h:4573/dialresult\n"
        b"agi_uniqueid: 1.5\nagi_arg_1: 7\nagi_arg_2: BUSY\n\n"
    )


def test_environment_without_script_is_refused():
    """Without a first argument there is nothing to forward: ForwardingError."""
    with pytest.raises(ForwardingError):
        fastagi_environment({"agi_uniqueid": "1.5"}, "h", 4573)


class ClassicAgiOverTcp(TestCase):
    """The relay runs in a thread (it blocks, as the real script does) against the real service."""

    timeout = 10

    async def test_classic_call_gets_the_same_commands_as_fastagi(self) -> None:
        """The commands written to stdout are the ones the recorded FastAGI session received."""
        app = ScriptedCallHandling([DialAgent("Local/agent1@agents", 10, "1")])
        service = FastAgiService(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"), app, reactor)
        port = (await service.startService()).getHost().port
        self.addCleanup(service.stopService)
        out = io.StringIO()
        agi = AGI(stdin=io.StringIO(_classic_input()), stdout=out, stderr=io.StringIO())
        env = fastagi_environment(agi.env, "127.0.0.1", port)

        def forward() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as server:
                server.sendall(env)
                relay(server, agi.stdin, agi.stdout)

        await threads.deferToThread(forward)
        expected = "".join(c.data.decode() for c in load("inbound-answered") if c.conn == 2 and not c.from_asterisk)
        expected += "SET VARIABLE CC_OUTCOME dial\n"
        self.assertEqual(out.getvalue(), expected)
        self.assertEqual([(c.queue_hint, c.ivr_digits) for c in app.arrived], [("support", "2")])
